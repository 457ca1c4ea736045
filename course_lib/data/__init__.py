"""Datasets with their splits: the offline digits, optional torchvision sets."""

from .digits import (  # noqa: F401
    SPLIT_SEED,
    TEST_FRACTION,
    Split,
    digits_loaders,
    digits_splits,
    make_loader,
)
from .vision import (  # noqa: F401
    TORCHVISION_DATASETS,
    load_torchvision_dataset,
    main,
)

__all__ = [
    "SPLIT_SEED",
    "Split",
    "TEST_FRACTION",
    "TORCHVISION_DATASETS",
    "digits_loaders",
    "digits_splits",
    "load_torchvision_dataset",
    "main",
    "make_loader",
]
