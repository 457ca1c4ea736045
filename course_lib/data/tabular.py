"""Tabular data, offline: scikit-learn's bundled datasets (lesson 09 prunes an MLP on one of them)."""

import numpy as np
import torch

from ..core.validation import check_choice
from .digits import SPLIT_SEED, TEST_FRACTION, Split

TABULAR = {"breast_cancer": "load_breast_cancer", "wine": "load_wine"}  # name -> scikit-learn's loader


def tabular_splits(name: str = "breast_cancer", test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED):
    """(train, test) splits of a scikit-learn tabular dataset: x (N, F) float32 standardised with the
    training split's per-feature mean and std, y (N,) int64. Stratified and seeded."""
    check_choice("name", name, TABULAR)
    from sklearn import datasets  # imported when used: scikit-learn is slow to import
    from sklearn.model_selection import train_test_split

    bunch = getattr(datasets, TABULAR[name])()
    x_tr, x_te, y_tr, y_te = train_test_split(
        bunch.data.astype(np.float32), bunch.target, test_size=test_fraction, random_state=seed,
        stratify=bunch.target,
    )
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)

    def to_split(x, y):
        return Split(torch.from_numpy((x - mean) / std), torch.from_numpy(y).long())

    return to_split(x_tr, y_tr), to_split(x_te, y_te)
