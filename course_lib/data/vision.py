"""Optional torchvision datasets (MNIST, Fashion-MNIST, CIFAR-10), read from ``data/`` and
downloaded only on request (``download=True`` or ``python -m course_lib.data NAME``); never during a
lesson or a test.

Offline, or where a firewall blocks the datasets' servers, a download fails with
``DatasetDownloadError``: it names the cause, the files and where to copy them, because copying them
by hand is then the only way in (the same command then checks and unpacks them without a network).
"""

import sys
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


class DatasetDownloadError(ConnectionError):
    """A requested download failed; the message says why and how to get the files in by hand."""


def _dataset_class(name: str):
    import torchvision

    check_choice("name", name, TORCHVISION_DATASETS)
    return getattr(torchvision.datasets, TORCHVISION_DATASETS[name][0])


def source_files(name: str, root=None) -> tuple[list[str], Path]:
    """Where ``name``'s files come from and where a copy made by hand goes: (download URLs, folder).

    MNIST-style sets keep their ``.gz`` files in ``<root>/<Class>/raw/``; CIFAR-10 its archive in
    ``<root>/``. Read from torchvision's own dataset class, so the list follows its version.
    """
    dataset_class = _dataset_class(name)
    root = Path(root) if root is not None else DATA_DIR
    if hasattr(dataset_class, "resources"):  # MNIST, Fashion-MNIST: files on a list of mirrors
        urls = [f"{dataset_class.mirrors[0]}{filename}" for filename, _ in dataset_class.resources]
        return urls, root / dataset_class.__name__ / "raw"
    return [dataset_class.url], root  # CIFAR-10: one archive


def _by_hand(name: str, root) -> str:
    """The instructions for fetching ``name`` on another machine and copying it here."""
    urls, folder = source_files(name, root)
    listed = "\n".join(f"    {url}" for url in urls)
    return (
        f"To install it by hand, download on any machine with a network\n{listed}\n"
        f"copy {'them' if len(urls) > 1 else 'it'} into {folder}/ and run "
        f"`python -m course_lib.data {name}` here again: it checks the files' MD5 sums and unpacks them "
        f"without the network. (Or copy a whole data/ folder where this command already worked.)"
    )


def load_torchvision_dataset(name: str, train: bool = True, root=None, download: bool = False):
    """Load MNIST, Fashion-MNIST or CIFAR-10 from ``root`` (default ``data/``) as tensors.

    Nothing is downloaded unless ``download=True``. When the files are absent the error says which
    call fetches them and where to copy them by hand; when a download fails, ``DatasetDownloadError``
    says why. Images are returned as a float tensor scaled to [0, 1], shape (N, C, H, W).
    """
    import torchvision.transforms.functional as TF

    dataset_class = _dataset_class(name)
    class_name, folder = TORCHVISION_DATASETS[name]
    root = Path(root) if root is not None else DATA_DIR
    if download:
        _download(name, root)
    try:
        dataset = dataset_class(root=str(root), train=train, download=False)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{class_name} was not found under {root / folder}. Fetch it once (about 30-170 MB; needs "
            f"the network) with course_lib.data.load_torchvision_dataset({name!r}, download=True) "
            f"or from a shell: python -m course_lib.data {name}\n{_by_hand(name, root)}"
        ) from err
    data = dataset.data
    if isinstance(data, np.ndarray):  # CIFAR-10 keeps (N, H, W, C) uint8 numpy arrays
        x = torch.from_numpy(data).permute(0, 3, 1, 2)
    else:  # MNIST-style: (N, H, W) uint8 tensor
        x = data.unsqueeze(1)
    x = TF.convert_image_dtype(x, torch.float32)
    y = torch.as_tensor(dataset.targets, dtype=torch.long)
    return Split(x, y)


def _download(name: str, root: Path) -> None:
    """Fetch ``name`` into ``root`` unless its verified files are there; a failure says what to do."""
    dataset_class = _dataset_class(name)
    try:  # torchvision skips files already present with the right MD5 sum
        dataset_class(root=str(root), train=True, download=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; torchvision wraps some in RuntimeError
        cause = " ".join(str(err).split())[:400] or type(err).__name__
        raise DatasetDownloadError(
            f"Downloading {dataset_class.__name__} into {root} failed: {cause}\n"
            f"This machine may be offline, or a proxy or firewall blocks the server (behind a proxy, set "
            f"HTTPS_PROXY and try again).\n{_by_hand(name, root)}"
        ) from err


def main(argv=None) -> None:
    """``python -m course_lib.data NAME [NAME ...]`` downloads optional datasets into data/."""
    import argparse

    parser = argparse.ArgumentParser(description="Download optional datasets into data/.")
    parser.add_argument("names", nargs="+", choices=sorted(TORCHVISION_DATASETS))
    parser.add_argument("--root", type=Path, default=DATA_DIR, help="where to keep them (default: data/)")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            for train in (True, False):
                split = load_torchvision_dataset(name, train=train, root=args.root, download=True)
                print(f"{name} {'train' if train else 'test'}: {len(split)} images")
        except DatasetDownloadError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
