"""Datasets with their splits: the offline digits, optional torchvision sets."""

from .digits import (  # noqa: F401
    SPLIT_SEED,
    TEST_FRACTION,
    VALIDATION_FRACTION,
    DigitsLoaders,
    DigitsSplits,
    Split,
    digits_loaders,
    digits_splits,
    make_loader,
)
from .text import (  # noqa: F401
    TEXT_PATH,
    TEXT_SHA256,
    TEXT_VALIDATION_FRACTION,
    CharVocab,
    TextSplits,
    load_text,
    random_windows,
    sequential_windows,
    shakespeare_splits,
    split_text,
    text_generator,
)
from .vision import (  # noqa: F401
    TORCHVISION_DATASETS,
    load_torchvision_dataset,
    main,
)

__all__ = [
    "CharVocab",
    "DigitsLoaders",
    "DigitsSplits",
    "SPLIT_SEED",
    "Split",
    "TEST_FRACTION",
    "TEXT_PATH",
    "TEXT_SHA256",
    "TEXT_VALIDATION_FRACTION",
    "TORCHVISION_DATASETS",
    "TextSplits",
    "VALIDATION_FRACTION",
    "digits_loaders",
    "digits_splits",
    "load_text",
    "load_torchvision_dataset",
    "main",
    "make_loader",
    "random_windows",
    "sequential_windows",
    "shakespeare_splits",
    "split_text",
    "text_generator",
]
