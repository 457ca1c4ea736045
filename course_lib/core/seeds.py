"""The course-wide seed shift: one documented hook that moves every seed at once.

``make claims`` reruns each lesson with ``COURSE_SEED_OFFSET=K`` so that a claim which only held for
one lucky seed fails loudly. Every seed in the kit goes through :func:`shifted`: the training seeds
(:func:`course_lib.train.seed_everything`) and the loaders' shuffling generators. The data splits
themselves stay fixed, so the test set is the same in every run.
"""

import os

SEED_OFFSET_VARIABLE = "COURSE_SEED_OFFSET"


def seed_offset() -> int:
    """The shift K read from ``COURSE_SEED_OFFSET`` (0 when unset)."""
    raw = os.environ.get(SEED_OFFSET_VARIABLE, "0").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"{SEED_OFFSET_VARIABLE} must be an integer seed shift, got {raw!r}"
        ) from None


def shifted(seed: int) -> int:
    """``seed`` moved by the course-wide offset: what the kit actually seeds with."""
    return seed + 1000 * seed_offset()
