"""The lecture's landmark networks and the per-layer pruning ratios Han et al. (2015) reported.

The architectures come from torchvision's constructors, built on PyTorch's "meta" device: shapes and
parameter counts without allocating or downloading any weights.
"""

import torch
import torchvision
from torch import nn

from ..core.modules import prunable_weights
from ..core.validation import check_fraction

# Han et al., "Learning both Weights and Connections for Efficient Neural Networks", NeurIPS 2015,
# Table 4: the fraction of AlexNet's weights kept in each layer after pruning.
HAN2015_ALEXNET_KEPT = {
    "conv1": 0.84, "conv2": 0.38, "conv3": 0.35, "conv4": 0.37, "conv5": 0.37,
    "fc6": 0.09, "fc7": 0.09, "fc8": 0.25,
}


_CONSTRUCTORS = {
    "AlexNet": lambda: torchvision.models.alexnet(),
    "GoogLeNet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False),
    "ResNet-50": lambda: torchvision.models.resnet50(),
}


def landmark_model(name: str) -> nn.Module:
    """AlexNet, GoogLeNet (without its auxiliary heads) or ResNet-50 on the meta device, no weights."""
    if name not in _CONSTRUCTORS:
        raise ValueError(f"name must be one of {sorted(_CONSTRUCTORS)}, got {name!r}")
    with torch.device("meta"):
        return _CONSTRUCTORS[name]()


def kept_parameters(weight_counts: list[int], kept_fractions: list[float]) -> int:
    """Weights left when layer i keeps ``kept_fractions[i]`` of its ``weight_counts[i]`` weights."""
    if len(weight_counts) != len(kept_fractions):
        raise ValueError(
            f"weight_counts and kept_fractions must have the same length, got "
            f"{len(weight_counts)} and {len(kept_fractions)}"
        )
    fractions = [check_fraction(f"kept_fractions[{i}]", f) for i, f in enumerate(kept_fractions)]
    return sum(round(count * f) for count, f in zip(weight_counts, fractions))


def han2015_alexnet_after_pruning() -> tuple[int, int]:
    """(parameters before, parameters after) for torchvision's AlexNet pruned with Han et al.'s
    per-layer kept fractions; biases are kept in full."""
    model = landmark_model("AlexNet")
    weights = list(prunable_weights(model).values())  # conv1..conv5, fc6..fc8, in order
    counts = [w.numel() for w in weights]
    total = sum(p.numel() for p in model.parameters())
    biases = total - sum(counts)
    return total, kept_parameters(counts, list(HAN2015_ALEXNET_KEPT.values())) + biases
