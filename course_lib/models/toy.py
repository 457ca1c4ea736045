"""Small models built on the fly (no checkpoint): lesson 01's 12-weight network, lesson 09's tabular MLP."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """3 inputs -> 3 tanh units -> 1 output: 12 prunable weights (9 + 3); biases are not pruned.

    Shapes: x (B, 3) -> hidden (B, 3) -> output (B, 1).
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)  # not shifted: lesson 01's exact search is about one fixed network
        self.hidden = nn.Linear(3, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


def tabular_mlp(in_features: int, hidden=(64, 32), classes: int = 2, seed: int = 0) -> nn.Sequential:
    """An MLP (B, in_features) -> (B, classes) with ReLUs between Linear layers, seeded."""
    sizes = (in_features, *hidden, classes)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
