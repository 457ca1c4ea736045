"""Datasets for the course.

The default dataset is scikit-learn's digits: 1,797 real 8x8 handwritten digits that ship inside
scikit-learn, so every lesson runs offline. The split is fixed (seeded and stratified), and pixels
are normalised with the training split's mean and standard deviation.

MNIST, Fashion-MNIST and CIFAR-10 are optional: they load from ``data/`` and are downloaded only when
the caller passes ``download=True``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from .validation import check_choice, check_fraction, check_positive_int

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
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
    """A DataLoader over a split; shuffling uses its own seeded generator, so reruns match."""
    check_positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(seed)
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


# Optional torchvision datasets: name -> (torchvision class name, folder it keeps under data/)
TORCHVISION_DATASETS = {
    "mnist": ("MNIST", "MNIST"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
}


def load_torchvision_dataset(name: str, train: bool = True, root=None, download: bool = False):
    """Load MNIST, Fashion-MNIST or CIFAR-10 from ``root`` (default ``data/``) as tensors.

    Nothing is downloaded unless ``download=True``. When the files are absent the error says which
    call fetches them. Images are returned as a float tensor scaled to [0, 1], shape (N, C, H, W).
    """
    import torchvision
    import torchvision.transforms.functional as TF

    check_choice("name", name, TORCHVISION_DATASETS)
    class_name, folder = TORCHVISION_DATASETS[name]
    root = Path(root) if root is not None else DATA_DIR
    dataset_class = getattr(torchvision.datasets, class_name)
    try:
        dataset = dataset_class(root=str(root), train=train, download=download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{class_name} was not found under {root / folder}. Fetch it once (about 30-170 MB) with "
            f"course_lib.data.load_torchvision_dataset({name!r}, download=True) "
            f"or from a shell: python -m course_lib.data {name}"
        ) from err
    data = dataset.data
    if isinstance(data, np.ndarray):  # CIFAR-10 keeps (N, H, W, C) uint8 numpy arrays
        x = torch.from_numpy(data).permute(0, 3, 1, 2)
    else:  # MNIST-style: (N, H, W) uint8 tensor
        x = data.unsqueeze(1)
    x = TF.convert_image_dtype(x, torch.float32)
    y = torch.as_tensor(dataset.targets, dtype=torch.long)
    return Split(x, y)


def _main(argv=None) -> None:
    """``python -m course_lib.data NAME [NAME ...]`` downloads optional datasets into data/."""
    import argparse

    parser = argparse.ArgumentParser(description="Download optional datasets into data/.")
    parser.add_argument("names", nargs="+", choices=sorted(TORCHVISION_DATASETS))
    for name in parser.parse_args(argv).names:
        for train in (True, False):
            split = load_torchvision_dataset(name, train=train, download=True)
            print(f"{name} {'train' if train else 'test'}: {len(split)} images")


if __name__ == "__main__":
    _main()
