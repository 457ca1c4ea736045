"""Argument checks shared by the library, so every bad input gets the same kind of clear message:
the argument's name, the value given and what is allowed."""

import math
from numbers import Real

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_fraction(name: str, value, *, allow_one: bool = True) -> float:
    """Return ``value`` as a float if it lies in [0, 1] (or [0, 1) when ``allow_one`` is False)."""
    upper = "1]" if allow_one else "1)"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number in [0, {upper}, got {value!r}")
    value = float(value)
    if math.isnan(value) or value < 0 or value > 1 or (value == 1 and not allow_one):
        raise ValueError(f"{name} must be in [0, {upper}, got {value!r}")
    return value


def check_positive_int(name: str, value) -> int:
    """Return ``value`` if it is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_int_in_range(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int with ``low <= value`` (and ``value <= high`` when given)."""
    allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
    in_range = isinstance(value, int) and low <= value and (high is None or value <= high)
    if isinstance(value, bool) or not in_range:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_choice(name: str, value, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value


def check_positive_number(name: str, value) -> float:
    """Return ``value`` as a float if it is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
