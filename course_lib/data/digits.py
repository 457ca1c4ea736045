"""Datasets for the course.

The default dataset is scikit-learn's digits: 1,797 real 8x8 handwritten digits that ship inside
scikit-learn, so every lesson runs offline. It is split three ways, fixed (seeded and stratified)
and disjoint: train (fit the weights), validation (choose anything: ratios, hyper-parameters,
methods) and test (touched only for the final reported figures). Pixels are normalised with the
training split's mean and standard deviation.

MNIST, Fashion-MNIST and CIFAR-10 are optional: they load from ``data/`` and are downloaded only when
the caller passes ``download=True``.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..core.seeds import shifted
from ..core.validation import check_fraction, check_positive_int

SPLIT_SEED = 0


TEST_FRACTION = 0.25  # 450 of 1,797 images: the same test set as the kit's earlier two-way split


VALIDATION_FRACTION = 0.15  # of the whole dataset: 270 images, carved out of the former training set


@dataclass(frozen=True)
class Split:
    """Normalised images ``x`` (N, 1, 8, 8) float32 and labels ``y`` (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


class DigitsSplits(NamedTuple):
    """The three disjoint splits of the digits."""

    train: Split
    validation: Split
    test: Split


def digits_splits(test_fraction: float = TEST_FRACTION, validation_fraction: float = VALIDATION_FRACTION,
                  seed: int = SPLIT_SEED) -> DigitsSplits:
    """The digits as (train, validation, test) stratified splits, the same on every machine.

    The fractions are of the whole dataset. With the defaults: 1,077 training, 270 validation and
    450 test images. The test split is drawn first, so it does not depend on ``validation_fraction``.
    """
    test_fraction = check_fraction("test_fraction", test_fraction)
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
    if not (0 < test_fraction < 1 and 0 < validation_fraction and test_fraction + validation_fraction < 1):
        raise ValueError(
            "test_fraction and validation_fraction must be > 0 with a sum below 1 (something must be left "
            f"to train on), got test_fraction={test_fraction!r}, validation_fraction={validation_fraction!r}"
        )
    from sklearn.datasets import load_digits  # here, not at the top: scikit-learn (and the SciPy
    from sklearn.model_selection import train_test_split  # it loads) take a second or two to import

    digits = load_digits()
    images = digits.images.astype(np.float32)  # (1797, 8, 8), pixel values 0..16
    x_rest, x_te, y_rest, y_te = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    share = validation_fraction / (1 - test_fraction)  # of what is left after the test split
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_rest, y_rest, test_size=share, random_state=seed, stratify=y_rest
    )
    mean, std = x_tr.mean(), x_tr.std()

    def to_split(x, y):
        x = torch.from_numpy((x - mean) / std).unsqueeze(1)  # (N, 1, 8, 8)
        return Split(x, torch.from_numpy(y).long())

    return DigitsSplits(to_split(x_tr, y_tr), to_split(x_va, y_va), to_split(x_te, y_te))


def make_loader(split: Split, batch_size: int = 64, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader over a split; shuffling uses its own seeded generator (moved by the course-wide
    seed offset, :mod:`course_lib.core.seeds`), so reruns match."""
    check_positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(shifted(seed))
    return DataLoader(
        TensorDataset(split.x, split.y), batch_size=batch_size, shuffle=shuffle, generator=generator
    )


class DigitsLoaders(NamedTuple):
    """Loaders over the three splits: ``train`` shuffles (seeded), the other two do not."""

    train: DataLoader
    validation: DataLoader
    test: DataLoader


def digits_loaders(batch_size: int = 64, seed: int = 0) -> DigitsLoaders:
    """(train_loader, validation_loader, test_loader) for the digits; training shuffles with ``seed``.

    Choose on ``validation``; report final figures on ``test``.
    """
    splits = digits_splits()
    return DigitsLoaders(
        make_loader(splits.train, batch_size, shuffle=True, seed=seed),
        make_loader(splits.validation, batch_size=512),
        make_loader(splits.test, batch_size=512),
    )


def split_by_labels(split: Split, labels) -> Split:
    """The examples of ``split`` whose label is in ``labels`` (labels keep their values)."""
    labels = torch.as_tensor(sorted(set(labels)), dtype=torch.long)
    if labels.numel() == 0:
        raise ValueError("labels must name at least one class, got none")
    keep = torch.isin(split.y, labels)
    if not keep.any():
        raise ValueError(f"no example of the split has a label in {labels.tolist()}")
    return Split(split.x[keep], split.y[keep])
