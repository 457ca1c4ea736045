"""Datasets with their splits: the offline digits, Tiny Shakespeare, tabular and synthetic data, and the
optional torchvision sets."""

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
    split_by_labels,
)
from .synthetic import (  # noqa: F401
    tiny_regression_data,
)
from .tabular import (  # noqa: F401
    TABULAR,
    tabular_splits,
)
from .text import (  # noqa: F401
    CALIBRATION_SEED,
    TEXT_PATH,
    TEXT_SHA256,
    TEXT_VALIDATION_FRACTION,
    CharVocab,
    TextSplits,
    calibration_windows,
    load_text,
    random_windows,
    sequential_windows,
    shakespeare_splits,
    split_text,
    text_generator,
)
from .vision import (  # noqa: F401
    TORCHVISION_DATASETS,
    DatasetDownloadError,
    load_torchvision_dataset,
    main,
    source_files,
)

__all__ = [
    "CALIBRATION_SEED",
    "CharVocab",
    "DatasetDownloadError",
    "DigitsLoaders",
    "DigitsSplits",
    "SPLIT_SEED",
    "Split",
    "TABULAR",
    "TEST_FRACTION",
    "TEXT_PATH",
    "TEXT_SHA256",
    "TEXT_VALIDATION_FRACTION",
    "TORCHVISION_DATASETS",
    "TextSplits",
    "VALIDATION_FRACTION",
    "calibration_windows",
    "digits_loaders",
    "digits_splits",
    "load_text",
    "load_torchvision_dataset",
    "main",
    "make_loader",
    "random_windows",
    "sequential_windows",
    "shakespeare_splits",
    "source_files",
    "split_by_labels",
    "split_text",
    "tabular_splits",
    "text_generator",
    "tiny_regression_data",
]
