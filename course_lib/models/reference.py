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


# The networks industry deploys, as the kit's channel-pruning tests and benchmarks meet them: twelve
# convolutional networks (depthwise, grouped, concatenating, channels-last) and two vision
# transformers, by torchvision's constructor names.
INDUSTRY_CNNS = (
    "vgg11_bn", "resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf",
    "shufflenet_v2_x0_5", "resnext50_32x4d", "densenet121", "googlenet", "squeezenet1_0", "convnext_tiny",
)  # fmt: skip
INDUSTRY_TRANSFORMERS = ("vit_b_16", "swin_t")


def industry_model(name: str, device: str = "cpu") -> nn.Module:
    """One of ``INDUSTRY_CNNS`` or ``INDUSTRY_TRANSFORMERS`` from torchvision, randomly initialised
    (nothing is downloaded), on ``device`` (``"meta"``: shapes only). GoogLeNet comes without its
    auxiliary heads, which only training runs."""
    if name not in INDUSTRY_CNNS + INDUSTRY_TRANSFORMERS:
        raise ValueError(f"name must be one of {INDUSTRY_CNNS + INDUSTRY_TRANSFORMERS}, got {name!r}")
    extra = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    build = getattr(torchvision.models, name)
    try:
        with torch.device(device):
            return build(weights=None, **extra)
    except NotImplementedError:  # RegNet reads tensor values while it builds: none on "meta"
        return build(weights=None, **extra).to(device)


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


# The lecture's table of landmark networks before -> after pruning (parameters). AlexNet's row is
# Han et al. 2015 (above). GoogLeNet's and ResNet-50's rows are the figures the lecture attributes to
# Song Han's PhD thesis, "Efficient Methods and Hardware for Deep Learning" (Stanford, 2017); the kit
# quotes them as the lecture gives them (we could not check the thesis's own table). "reduction" is the
# factor as the lecture states it: its ResNet-50 row says 3.4x, which is 25.6M / 7.47M (torchvision's
# count), while its rounded "26M" / 7.47M would be 3.5x.
LECTURE_TABLE = {
    "AlexNet": {"before": 61e6, "after": 6.7e6, "reduction": 9,
                "source": "Han et al. 2015 (NeurIPS), Table 4"},
    "GoogLeNet": {"before": 7e6, "after": 2.0e6, "reduction": 3.5,
                  "source": "lecture, attributed to Han's PhD thesis (2017)"},
    "ResNet-50": {"before": 26e6, "after": 7.47e6, "reduction": 3.4,
                  "source": "lecture, attributed to Han's PhD thesis (2017)"},
}


def weight_shares(model: nn.Module) -> dict[str, float]:
    """Fractions of ``model``'s parameters in conv weights (``"conv"``), fully connected weights
    (``"fc"``, nn.Linear) and everything else (``"other"``: biases, BatchNorm); they sum to 1.

    Works on meta-device models (counts shapes only)."""
    total = sum(p.numel() for p in model.parameters())
    if total == 0:
        raise ValueError(f"model has no parameters: {type(model).__name__}")
    conv = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    fc = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    return {"conv": conv / total, "fc": fc / total, "other": (total - conv - fc) / total}


def han2015_kept_by_kind() -> dict[str, float]:
    """The fraction of AlexNet's conv weights and of its fully connected weights that Han et al.'s
    per-layer ratios keep (each layer weighted by its size): ``{"conv": ..., "fc": ...}``."""
    weights = list(prunable_weights(landmark_model("AlexNet")).items())  # conv1..conv5, fc6..fc8
    kept = {"conv": 0.0, "fc": 0.0}
    count = {"conv": 0, "fc": 0}
    for (_, w), fraction in zip(weights, HAN2015_ALEXNET_KEPT.values()):
        kind = "conv" if w.dim() == 4 else "fc"
        kept[kind] += fraction * w.numel()
        count[kind] += w.numel()
    return {kind: kept[kind] / count[kind] for kind in kept}


def predicted_compression(model: nn.Module, conv_kept: float, fc_kept: float) -> float:
    """before / after when every conv weight keeps ``conv_kept`` and every fully connected weight
    ``fc_kept`` of its weights (biases and BatchNorm kept in full): 1 / (share_conv * conv_kept +
    share_fc * fc_kept + share_other)."""
    check_fraction("conv_kept", conv_kept)
    check_fraction("fc_kept", fc_kept)
    shares = weight_shares(model)
    kept = shares["conv"] * conv_kept + shares["fc"] * fc_kept + shares["other"]
    if kept == 0:
        raise ValueError(
            "conv_kept and fc_kept are both 0 and the model has no other parameters: nothing is kept"
        )
    return 1.0 / kept
