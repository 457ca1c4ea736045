"""Tiny Shakespeare, offline: the character-level text that lesson 10's language model reads.

The text ships gzip-compressed in ``data/tinyshakespeare.txt.gz`` and is checked against the SHA-256 of
the uncompressed file before use. Its vocabulary is the sorted set of its characters (65 of them), one
token per character. The split is by position, never at random: the first 90% of the characters is
the training text, the last 10% the held-out validation text, so validation is unseen prose (a random
split would put near-copies of every validation window in training).

Training batches are (B, T) windows at random starting positions drawn from a seeded generator; the
target of each window is the same window shifted one character to the right.
"""

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.paths import DATA_DIR
from ..core.seeds import shifted
from ..core.validation import check_fraction, check_positive_int

TEXT_PATH = DATA_DIR / "tinyshakespeare.txt.gz"


TEXT_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # uncompressed


TEXT_VALIDATION_FRACTION = 0.1  # the last 10% of the text, by position


def load_text(path=None) -> str:
    """The whole Tiny Shakespeare text (1,115,394 characters), after checking its SHA-256."""
    path = TEXT_PATH if path is None else Path(path)
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the Tiny Shakespeare text is missing ({path}); it ships with the kit: restore it from the "
            "repository (see data/README.md for its source)"
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != TEXT_SHA256:
        raise ValueError(f"{path} decompresses to text with SHA-256 {digest}, expected {TEXT_SHA256}: "
                         "the file was altered; restore it from the repository")
    return raw.decode("utf-8")


@dataclass(frozen=True)
class CharVocab:
    """One token per character: ``chars[i]`` is token i (sorted, so the ids are stable)."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> torch.Tensor:
        """``text`` as a LongTensor of token ids (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"text contains characters outside the vocabulary: {unknown!r}; "
                             f"allowed are the {len(self)} characters {self.chars!r}")
        return torch.tensor([self._index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        """Token ids (a 1-D tensor or a list of ints) back to text."""
        ids = torch.as_tensor(ids)
        if ids.dim() != 1 or ids.is_floating_point():
            raise ValueError(f"ids must be a 1-D sequence of integer token ids, got shape {tuple(ids.shape)} "
                             f"dtype {ids.dtype}")
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self) - 1}], got values in "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return "".join(self.chars[i] for i in ids.tolist())


@dataclass(frozen=True)
class TextSplits:
    """Token ids of the training text (first 90%) and the validation text (last 10%)."""

    train: torch.Tensor
    validation: torch.Tensor
    vocab: CharVocab


def split_text(text: str, validation_fraction: float = TEXT_VALIDATION_FRACTION) -> TextSplits:
    """Encode ``text`` and split it by position: the last ``validation_fraction`` is validation."""
    check_fraction("validation_fraction", validation_fraction, allow_one=False)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = len(ids) - round(validation_fraction * len(ids))
    return TextSplits(train=ids[:cut], validation=ids[cut:], vocab=vocab)


@functools.lru_cache(maxsize=1)
def shakespeare_splits() -> TextSplits:
    """Tiny Shakespeare split 90% / 10% by position (cached: the tensors must not be modified)."""
    return split_text(load_text())


def text_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` moved by the course-wide offset (``COURSE_SEED_OFFSET``)."""
    return torch.Generator().manual_seed(shifted(seed))


def _check_tokens(tokens: torch.Tensor, context: int) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 1 or tokens.dtype != torch.long:
        raise ValueError(f"tokens must be a 1-D LongTensor of token ids, got {type(tokens).__name__} "
                         f"{getattr(tokens, 'shape', '')}")
    check_positive_int("context", context)
    if len(tokens) <= context:
        raise ValueError(f"context must be < len(tokens) = {len(tokens)}, got {context}")


def random_windows(tokens: torch.Tensor, batch_size: int, context: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` windows of ``context`` tokens at random positions: inputs and next-token targets,
    both (B, T)."""
    _check_tokens(tokens, context)
    check_positive_int("batch_size", batch_size)
    starts = torch.randint(len(tokens) - context, (batch_size,), generator=generator)  # (B,)
    index = starts[:, None] + torch.arange(context)  # (B, T)
    return tokens[index], tokens[index + 1]


CALIBRATION_SEED = 1234  # the seed of the calibration windows post-training pruning reads


def calibration_windows(tokens: torch.Tensor, context: int, n_windows: int = 64,
                        seed: int = CALIBRATION_SEED) -> torch.Tensor:
    """``n_windows`` random windows (n_windows, context) of ``tokens`` (pass the *training* text)."""
    return random_windows(tokens, n_windows, context, text_generator(seed))[0]


def sequential_windows(tokens: torch.Tensor, context: int,
                       max_chars: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive non-overlapping windows from the start of ``tokens``: inputs and targets (N, T).

    Covers ``max_chars`` predicted characters (rounded down to whole windows; all of ``tokens`` when
    None). Deterministic: the same windows for every model, which makes comparisons paired."""
    _check_tokens(tokens, context)
    available = (len(tokens) - 1) // context
    if max_chars is not None:
        check_positive_int("max_chars", max_chars)
        if max_chars < context:
            raise ValueError(f"max_chars must be at least one window (context={context}), got {max_chars}")
        available = min(available, max_chars // context)
    index = torch.arange(available * context).view(available, context)  # (N, T)
    return tokens[index], tokens[index + 1]
