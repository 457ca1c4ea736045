"""Rebuild the shipped checkpoints: ``python -m course_lib.pretrain [NAME ...]``.

Each recipe trains a model from a fixed seed on the digits training split and writes
``data/checkpoints/NAME.pt``. The SHA-256 printed for each file must match ``models.CHECKPOINTS``;
on another PyTorch version the bytes may differ, and the command says so.
"""

import argparse
from pathlib import Path

import torch

from . import models
from .analysis.language import window_losses
from .data.digits import digits_loaders
from .data.text import shakespeare_splits
from .models.transformer import CharTransformer
from .train import evaluate, seed_everything, train, train_lm


def _train_digits(model_class, epochs: int, lr: float):
    """Train on the training split only, on one CPU thread (the bytes then do not depend on how many
    cores the machine has; they still may across CPU models and torch versions). Returns the model and
    its test accuracy, the figure the README reports."""
    torch.set_num_threads(1)
    seed_everything(0)
    model = model_class()
    loaders = digits_loaders(seed=0)
    train(model, loaders.train, epochs=epochs, lr=lr, desc=model_class.__name__)
    return model, evaluate(model, loaders.test)


def _train_charlm(steps: int = 2500, lr: float = 2e-3):
    """Lesson 10's character transformer on Tiny Shakespeare's training text, on one CPU thread (two
    threads are faster on an idle machine, but many times slower when another process shares the cores)."""
    torch.set_num_threads(1)
    seed_everything(0)
    model = CharTransformer()
    splits = shakespeare_splits()
    train_lm(model, splits.train, steps=steps, batch_size=16, lr=lr, seed=0, desc="CharTransformer")
    losses = window_losses(model, splits.validation, max_chars=None)  # all the validation text
    return model, float(losses.mean())


# name -> function returning (trained model, its figure of merit; see METRICS)
RECIPES = {
    "charlm": _train_charlm,
    "convnet": lambda: _train_digits(models.ConvNet, epochs=30, lr=2e-3),
    "mlp": lambda: _train_digits(models.MLP, epochs=40, lr=2e-3),
    "tiny_resnet": lambda: _train_digits(models.TinyResNet, epochs=30, lr=2e-3),
}


# how build() reports each recipe's figure of merit: (what it is, format); default test accuracy
METRICS = {"charlm": ("validation loss", "{:.4f} nats/char")}


def build(name: str, directory=models.CHECKPOINT_DIR) -> float:
    """Train recipe ``name``, write ``directory/NAME.pt`` and return the model's test accuracy."""
    model, accuracy = RECIPES[name]()
    path = Path(directory) / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    digest = models.sha256_of(path)
    recorded = models.CHECKPOINTS.get(name, (None, None))[1]
    status = "matches the recorded hash" if digest == recorded else "DIFFERS from models.CHECKPOINTS"
    label, form = METRICS.get(name, ("test accuracy", "{:.2%}"))
    print(f"{name}: {label} {form.format(accuracy)}, {path.stat().st_size / 1024:.0f} KiB, "
          f"sha256 {digest} ({status})")
    return accuracy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild the course's trained checkpoints.")
    parser.add_argument("names", nargs="*", help=f"any of {sorted(RECIPES)}; default: all")
    names = parser.parse_args(argv).names or sorted(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown checkpoint name(s) {unknown}; choose from {sorted(RECIPES)}")
    for name in names:
        build(name)


if __name__ == "__main__":
    main()
