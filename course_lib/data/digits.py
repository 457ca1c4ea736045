"""Datasets for the course.

The default dataset is scikit-learn's digits: 1,797 real 8x8 handwritten digits that ship inside
scikit-learn, so every lesson runs offline. The split is fixed (seeded and stratified), and pixels
are normalised with the training split's mean and standard deviation.

MNIST, Fashion-MNIST and CIFAR-10 are optional: they load from ``data/`` and are downloaded only when
the caller passes ``download=True``.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from ..core.seeds import shifted
from ..core.validation import check_fraction, check_positive_int

SPLIT_SEED = 0


TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Split:
    """Normalised images ``x`` (N, 1, 8, 8) float32 and labels ``y`` (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def digits_splits(test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> tuple[Split, Split]:
    """The digits dataset as a (train, test) pair of stratified splits.

    With the defaults: 1,347 training and 450 test images, the same on every machine.
    """
    test_fraction = check_fraction("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    digits = load_digits()
    images = digits.images.astype(np.float32)  # (1797, 8, 8), pixel values 0..16
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    mean, std = x_tr.mean(), x_tr.std()

    def to_split(x, y):
        x = torch.from_numpy((x - mean) / std).unsqueeze(1)  # (N, 1, 8, 8)
        return Split(x, torch.from_numpy(y).long())

    return to_split(x_tr, y_tr), to_split(x_te, y_te)


def make_loader(split: Split, batch_size: int = 64, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader over a split; shuffling uses its own seeded generator (moved by the course-wide
    seed offset, :mod:`course_lib.core.seeds`), so reruns match."""
    check_positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(shifted(seed))
    return DataLoader(
        TensorDataset(split.x, split.y), batch_size=batch_size, shuffle=shuffle, generator=generator
    )


def digits_loaders(batch_size: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader) for the digits; the training loader shuffles with ``seed``."""
    train, test = digits_splits()
    return (
        make_loader(train, batch_size, shuffle=True, seed=seed),
        make_loader(test, batch_size=512),
    )
