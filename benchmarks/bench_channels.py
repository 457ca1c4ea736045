"""Channel pruning: MAC reduction against measured CPU latency speedup.

A CIFAR-sized (3x32x32) VGG-style conv net (untrained: the weights do not change the time) is pruned
uniformly by ``course_lib.structured.prune_channels`` at channel ratios 0.25 / 0.5 / 0.75, and each
copy is timed at batch 1 and batch 64. The efficiency column is latency speedup / MAC speedup:
1.0 would mean the CPU turns every MAC saved into time saved.
"""

import torch
from torch import nn

from course_lib.analysis import speedups

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


def speedup_rows(model: nn.Module, example: torch.Tensor, threads: int) -> list[str]:
    """Markdown table rows of ``speedups`` measured with ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = speedups(model, example, RATIOS, BATCH_SIZES, rounds=5, repeats=5)
    finally:
        torch.set_num_threads(previous)
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


def run() -> str:
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
