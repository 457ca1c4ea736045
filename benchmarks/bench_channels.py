"""Channel pruning: MAC reduction against measured CPU latency speedup, and the networks industry runs.

1. A CIFAR-sized (3x32x32) VGG-style conv net (untrained: the weights do not change the time) is
   pruned uniformly by ``course_lib.structured.prune_channels`` at channel ratios 0.25 / 0.5 / 0.75,
   and each copy is timed at batch 1 and batch 64. The efficiency column is latency speedup / MAC
   speedup: 1.0 would mean the CPU turns every MAC saved into time saved.
2. Removal time: the kit's ``prune_channels`` against Torch-Pruning's ``BasePruner`` on ResNet-18,
   ResNet-50 and MobileNetV2, in alternating turns, each side on its own copy of the model.
3. Twelve torchvision architectures at 30% per group: MACs left by the kit and by Torch-Pruning.
4. ``analysis.count_macs`` against ``torch.utils.flop_counter`` on fourteen architectures.
5. How much of ViT-B/16's and Swin-T's weight matrices the kit's masks cover.
"""

import copy
import statistics
import time
import warnings
from contextlib import contextmanager

import torch
import torch_pruning as tp
import torchvision
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from course_lib import core, models, structured
from course_lib.analysis import count_macs, speedups
from course_lib.analysis.libraries import output_layers

RATIOS = (0.25, 0.5, 0.75)
BATCH_SIZES = (1, 64)
# VGG-11's layout at half width for 32x32 inputs: numbers are conv output channels, "M" a 2x2 max pool.
VGG_LAYOUT = (32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M")


class SmallVGG(nn.Module):
    """VGG-style: 3x3 conv -> BatchNorm -> ReLU stages and max pools, then a linear classifier.

    Shapes: (B, 3, 32, 32) -> features (B, 256, 1, 1) -> flatten (B, 256) -> classifier (B, 10).
    """

    def __init__(self, layout=VGG_LAYOUT, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(channels, item, 3, padding=1, bias=False),
                    nn.BatchNorm2d(item),
                    nn.ReLU(),
                ]
                channels = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


@contextmanager
def torch_threads(threads: int):
    """Run the body with ``threads`` torch threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def speedup_rows(model: nn.Module, example: torch.Tensor, threads: int) -> list[str]:
    """Markdown table rows of ``speedups`` measured with ``threads`` torch threads."""
    with torch_threads(threads):
        rows = speedups(model, example, RATIOS, BATCH_SIZES, rounds=5, repeats=5)
    lines = []
    for row in rows:
        cells = [str(threads), f"{row['ratio']:.0%}", f"{row['mac_speedup']:.2f}x"]
        for b in BATCH_SIZES:
            median, fastest = (row["latency_speedup"][stat][b] for stat in ("median", "min"))
            cells += [
                f"{median:.2f}x / {fastest:.2f}x",
                f"{median / row['mac_speedup']:.2f} / {fastest / row['mac_speedup']:.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def speed_section() -> str:
    """Section 1: MACs against measured latency on the small VGG."""
    torch.manual_seed(0)
    model = SmallVGG().eval()
    example = torch.zeros(1, 3, 32, 32)
    lines = [
        "## Channel pruning: MACs vs measured latency",
        "",
        "`course_lib.structured.prune_channels` removes the same fraction of channels from every conv of "
        "a half-width VGG-11 on 3x32x32 inputs (untrained, 38.6M MACs per image); the dense model and "
        "its pruned copies are timed on the CPU in alternating turns (5 turns of 5 runs each), with "
        "one torch thread and with all of them. Speedups are dense / pruned, given as median / fastest "
        "run (on a busy shared machine the fastest run is the steadier figure); efficiency = latency "
        "speedup / MAC speedup (references: 0.55-0.85, e.g. 2.0x MACs -> 1.1-1.7x latency on GPU, "
        "Torch-Pruning's ResNet-50 3.85x -> 2.19x). On a loaded machine the median swings with "
        "whatever else runs (median efficiencies far above 1 are such bursts hitting the dense model's "
        "turns); compare the fastest-run figures.",
        "",
        "| threads | channels removed | MAC speedup | latency speedup b=1 | efficiency b=1 "
        "| latency speedup b=64 | efficiency b=64 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for threads in sorted({1, torch.get_num_threads()}):
        lines += speedup_rows(model, example, threads)
    return "\n".join(lines) + "\n"


RATIO = 0.3
SIZE = 224  # the setting: ImageNet-sized inputs, one image
REMOVAL_MODELS = ("resnet18", "resnet50", "mobilenet_v2")


def torch_pruning_prune(model: nn.Module, example: torch.Tensor, ignored: list[nn.Module]) -> nn.Module:
    """Torch-Pruning's ``BasePruner`` at ``RATIO`` per group with its L1 magnitude importance, in place."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notices about unwrapped parameters (layer scales)
        pruner = tp.pruner.BasePruner(model, example, importance=tp.importance.MagnitudeImportance(p=1),
                                      pruning_ratio=RATIO, ignored_layers=ignored)
        pruner.step()
    return model


def _copy_with(model: nn.Module, layers: list[nn.Module]) -> tuple[nn.Module, list[nn.Module]]:
    """A deep copy of ``model`` and the copies of ``layers`` in it."""
    memo: dict = {}
    copied = copy.deepcopy(model, memo)
    return copied, [memo[id(layer)] for layer in layers]


def removal_rows(name: str, rounds: int = 5) -> str:
    """One table row: time to remove 30% of the channels, kit vs Torch-Pruning, alternating turns."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    example = torch.randn(1, 3, SIZE, SIZE)
    ignored = output_layers(model, example)  # the classifier: both sides keep it
    times: dict[str, list[tuple[float, float]]] = {"kit": [], "tp": []}  # (wall, CPU) seconds
    for turn in range(rounds + 1):  # the first turn warms up and is not counted
        ours, (theirs, theirs_ignored) = copy.deepcopy(model), _copy_with(model, ignored)
        sides = {"kit": (structured.prune_channels, (ours, RATIO, example)),
                 "tp": (torch_pruning_prune, (theirs, example, theirs_ignored))}
        for side, (prune, args) in sides.items():
            wall, cpu = time.perf_counter(), time.process_time()
            prune(*args)
            if turn:
                times[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    (kit_wall, kit_cpu), (tp_wall, tp_cpu) = (
        [statistics.median(t[i] for t in times[side]) for i in (0, 1)] for side in ("kit", "tp"))
    return (f"| {name} | {kit_cpu:.2f} s | {tp_cpu:.2f} s | **{kit_cpu / tp_cpu:.2f}** "
            f"| {kit_wall:.2f} s | {tp_wall:.2f} s | {kit_wall / tp_wall:.2f} |")


def removal_section() -> str:
    with torch_threads(1):
        rows = [removal_rows(name) for name in REMOVAL_MODELS]
    return "\n".join([
        "## Channel removal time: the kit vs Torch-Pruning",
        "",
        f"Time to remove {RATIO:.0%} of every group's channels from a torchvision model (random "
        f"weights) traced on one {SIZE}x{SIZE} image, one torch thread, median of 5 alternating "
        "turns after one warm-up turn, as CPU time of the process (`time.process_time`: steady on a "
        "shared machine) and as wall-clock time (which also counts waiting for a busy CPU). Each side "
        "prunes its own deep copy: the kit's `structured.prune_channels` (trace with one forward pass, "
        "L1 scores, a smaller copy) and Torch-Pruning's `BasePruner` with `MagnitudeImportance(p=1)` "
        "(dependency graph with one forward pass, pruning in place). Both leave the classifier alone.",
        "",
        "| model | kit CPU | Torch-Pruning CPU | kit / TP (CPU) | kit wall | Torch-Pruning wall "
        "| kit / TP (wall) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]) + "\n"


def zoo_row(name: str) -> str:
    """One table row: MACs left after 30% per group, the kit and Torch-Pruning, with times."""
    torch.manual_seed(0)
    model = models.industry_model(name).eval()
    example = torch.randn(1, 3, SIZE, SIZE)
    dense = count_macs(model, (3, SIZE, SIZE))
    start = time.perf_counter()
    ours = count_macs(structured.prune_channels(model, RATIO, example), (3, SIZE, SIZE)) / dense
    kit_time = time.perf_counter() - start
    theirs_model, ignored = _copy_with(model, output_layers(model, example))
    start = time.perf_counter()
    try:
        theirs = count_macs(torch_pruning_prune(theirs_model, example, ignored), (3, SIZE, SIZE)) / dense
        tp_cell = f"{theirs:.3f} | {ours / theirs - 1:+.1%} | {time.perf_counter() - start:.1f} s"
    except Exception as err:  # noqa: BLE001 (the report says how it failed)
        tp_cell = f"fails: `{type(err).__name__}` | - | -"
    return f"| {name} | {dense / 1e6:,.0f}M | {ours:.3f} | {tp_cell} | {kit_time:.1f} s |"


def zoo_section() -> str:
    with torch_threads(1):
        rows = [zoo_row(name) for name in models.INDUSTRY_CNNS]
    return "\n".join([
        "## Twelve architectures industry runs: MACs after removing 30% of each group's channels",
        "",
        f"torchvision models with random weights (`models.industry_model`), one {SIZE}x{SIZE} image, "
        "one torch thread. MACs left / dense MACs for the kit's `prune_channels` and Torch-Pruning's "
        "`BasePruner` (L1 magnitude, classifier ignored); the difference is the kit's relative to "
        "Torch-Pruning's, the times include counting the MACs. The two round differently: the kit "
        "removes round(0.3 C) channels of a group of C, Torch-Pruning keeps int(0.7 C), and in a "
        "grouped conv keeps a multiple of the groups (ResNeXt-50's 32 groups of 4: the kit removes "
        "1 of each group's 4, Torch-Pruning 2).",
        "",
        "| model | dense MACs | kit | Torch-Pruning | kit vs TP | TP time | kit time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]) + "\n"


def reference_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """``torch.utils.flop_counter`` on the composite attention path (math SDPA, no fast path)."""
    with sdpa_kernel(SDPBackend.MATH), torch.enable_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, *shape, device=next(model.parameters()).device))
    return counter.get_total_flops() // 2


def mac_count_section() -> str:
    rows = []
    for name in models.INDUSTRY_CNNS + models.INDUSTRY_TRANSFORMERS:
        model = models.industry_model(name, "meta")
        ours, theirs = count_macs(model, (3, SIZE, SIZE)), reference_macs(model, (3, SIZE, SIZE))
        rows.append(f"| {name} | {ours:,} | {theirs:,} | {ours - theirs:+,} |")
    return "\n".join([
        "## MAC counts: `analysis.count_macs` vs `torch.utils.flop_counter`",
        "",
        f"One {SIZE}x{SIZE} image; models on the meta device (shapes only). The reference runs "
        "`FlopCounterMode` with attention on its composite path (math `scaled_dot_product_attention`, "
        "no `nn.MultiheadAttention` fast path), where attention is matrix products the counter "
        "knows; by default on a CPU it counts 0 for `F.scaled_dot_product_attention` "
        "(pytorch/pytorch#195460), which `count_macs` adds.",
        "",
        "| model | count_macs | flop_counter / 2 | difference |",
        "| --- | --- | --- | --- |",
        *rows,
    ]) + "\n"


def mask_coverage_section() -> str:
    rows = []
    for name in models.INDUSTRY_TRANSFORMERS:
        model = models.industry_model(name, "meta")
        matrices = {n: p.numel() for n, p in model.named_parameters() if p.ndim >= 2}
        covered = core.prunable_weights(model)
        left = sorted({n.rsplit(".", 1)[-1] for n in matrices if n not in covered})
        rows.append(f"| {name} | {sum(p.numel() for p in covered.values()) / 1e6:.2f}M "
                    f"| {sum(matrices.values()) / 1e6:.2f}M | {', '.join(left)} |")
    return "\n".join([
        "## Masks on vision transformers: which weight matrices they cover",
        "",
        "`core.prunable_weights` (what `pruning.global_magnitude_masks` prunes) against every parameter "
        "with two or more dims. `nn.MultiheadAttention`'s packed input projection is covered; left out "
        "are parameters no input is multiplied by (added to the tokens or to the attention logits).",
        "",
        "| model | covered | all matrices | left out |",
        "| --- | --- | --- | --- |",
        *rows,
    ]) + "\n"


def run() -> str:
    return "\n".join([speed_section(), removal_section(), zoo_section(), mac_count_section(),
                      mask_coverage_section()])
