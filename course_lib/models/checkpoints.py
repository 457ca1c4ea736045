"""The shipped checkpoints: where they live, their recorded SHA-256, and loading with
``torch.load(..., weights_only=True)`` after the hash check. A missing or altered file raises an
error naming the rebuild command, ``python -m course_lib.pretrain NAME``.
"""

import hashlib
from pathlib import Path

import torch
from torch import nn

from ..core.paths import DATA_DIR
from ..core.validation import check_choice
from .convnets import MLP, ConvNet, TinyResNet
from .transformer import CharTransformer

CHECKPOINT_DIR = DATA_DIR / "checkpoints"


REBUILD_COMMAND = "python -m course_lib.pretrain"


# Each shipped checkpoint: name -> (the architecture it fits, SHA-256 of the file written by
# `python -m course_lib.pretrain NAME`). Later lessons register their own checkpoints here.
CHECKPOINTS: dict[str, tuple[type[nn.Module], str]] = {
    "charlm": (CharTransformer, "27c04e81128608f2a7ee6c74273acdddaa53122f0be955d0dd36314890c79d3a"),
    "convnet": (ConvNet, "4c79c8097b9d29c2210d5855bacbfc1acd8bd829492aa81b568f394011bbf0b5"),
    "mlp": (MLP, "dd7447e7ee233b29a1d68d138ad6f6354999a2d8f54a8f408201b70267937aac"),
    "tiny_resnet": (TinyResNet, "f90178a7ff037530c9029f52d14dba646d9502fe50d994781a684c83060a6738"),
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def checkpoint_path(name: str) -> Path:
    check_choice("name", name, CHECKPOINTS)
    return CHECKPOINT_DIR / f"{name}.pt"


def load_state_dict(name: str, path=None) -> dict:
    """Read a checkpoint's state_dict after verifying its SHA-256; ``weights_only=True`` always."""
    path = Path(path) if path is not None else checkpoint_path(name)
    expected = CHECKPOINTS[name][1]
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {name!r} is missing ({path}). Rebuild it with: {REBUILD_COMMAND} {name}"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(
            f"checkpoint {name!r} at {path} has SHA-256 {actual}, expected {expected}: the file was "
            f"altered or is from another version. Rebuild it with: {REBUILD_COMMAND} {name}"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def load_pretrained(name: str, path=None) -> nn.Module:
    """A trained model from ``data/checkpoints/``, in eval mode; ``name`` is a key of ``CHECKPOINTS``."""
    state = load_state_dict(name, path)
    model = CHECKPOINTS[name][0]()
    model.load_state_dict(state)
    return model.eval()
