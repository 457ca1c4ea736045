"""Optional torchvision datasets (MNIST, Fashion-MNIST, CIFAR-10), read from ``data/`` and
downloaded only on request (``download=True`` or ``python -m course_lib.data NAME``); never during a
lesson or a test.
"""

from pathlib import Path

import numpy as np
import torch

from ..core.paths import DATA_DIR
from ..core.validation import check_choice
from .digits import Split

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


def main(argv=None) -> None:
    """``python -m course_lib.data NAME [NAME ...]`` downloads optional datasets into data/."""
    import argparse

    parser = argparse.ArgumentParser(description="Download optional datasets into data/.")
    parser.add_argument("names", nargs="+", choices=sorted(TORCHVISION_DATASETS))
    for name in parser.parse_args(argv).names:
        for train in (True, False):
            split = load_torchvision_dataset(name, train=train, download=True)
            print(f"{name} {'train' if train else 'test'}: {len(split)} images")

