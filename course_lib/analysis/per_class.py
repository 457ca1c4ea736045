"""Per-class accuracy: what a compressed model forgets is not spread evenly over the classes.

Hooker et al. (arXiv 2019, "What Do Compressed Deep Neural Networks Forget?") found that pruned
models with the same top-line accuracy as their dense parents lose a small subset of classes and
examples disproportionately. The overall accuracy hides this; a per-class table shows it.

    correct, _ = per_example(model, test_loader)   # the loader must not shuffle
    accuracy, counts = per_class_accuracy(correct, test_split.y)
"""

import torch


def per_class_accuracy(correct, labels, num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy of each class and its number of examples: ``(accuracy (C,) float64, counts (C,) int64)``.

    ``correct``: bool or 0/1 vector, one entry per example; ``labels``: integer class ids >= 0 of the
    same examples in the same order; ``num_classes`` defaults to ``max(labels) + 1``. A class with no
    example has accuracy NaN (there is nothing to measure), not 0.
    """
    correct, labels = torch.as_tensor(correct), torch.as_tensor(labels)
    if correct.dim() != 1 or labels.dim() != 1 or len(correct) != len(labels):
        raise ValueError(
            "correct and labels must be 1-D vectors of the same length (one entry per example), got "
            f"shapes {tuple(correct.shape)} and {tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError("correct and labels must hold at least one example, got empty vectors")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.min() < 0:
        raise ValueError(
            f"labels must be integer class ids >= 0, got dtype {labels.dtype}, min {labels.min()}"
        )
    if correct.dtype != torch.bool and not ((correct == 0) | (correct == 1)).all():
        raise ValueError("correct must hold only 0/1 or True/False per example")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= int(labels.max()):
        raise ValueError(
            f"num_classes must be an integer above the largest label {int(labels.max())}, got {num_classes!r}"
        )
    counts = torch.bincount(labels, minlength=num_classes)  # (C,)
    hits = torch.bincount(labels, weights=correct.to(torch.float64), minlength=num_classes)  # (C,)
    accuracy = torch.where(counts > 0, hits / counts.clamp_min(1), torch.full_like(hits, float("nan")))
    return accuracy, counts
