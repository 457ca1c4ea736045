"""The small models the lessons prune, and their shipped, hash-checked checkpoints.

All models take digits images (B, 1, 8, 8) and return logits (B, 10).
"""

from torch import nn


class ConvNet(nn.Module):
    """The lessons' main model: three conv -> BatchNorm -> ReLU stages and a two-layer classifier.

    Shapes: (B, 1, 8, 8) -> conv1 (B, 16, 8, 8) -> conv2 (B, 32, 8, 8) -> pool (B, 32, 4, 4)
    -> conv3 (B, 64, 4, 4) -> pool (B, 64, 2, 2) -> flatten (B, 256) -> fc1 (B, 64) -> fc2 (B, 10).
    """

    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.conv1, self.bn1 = nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)
        self.conv2, self.bn2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)
        self.conv3, self.bn3 = nn.Conv2d(c2, c3, 3, padding=1, bias=False), nn.BatchNorm2d(c3)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(c3 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))
        x = self.pool(self.relu(self.bn3(self.conv3(x))))
        return self.fc2(self.relu(self.fc1(self.flatten(x))))


class MLP(nn.Module):
    """A multilayer perceptron on the flattened 8x8 image: 64 -> 128 -> 64 -> 10."""

    def __init__(self, hidden: tuple[int, ...] = (128, 64), num_classes: int = 10):
        super().__init__()
        sizes = (64, *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class BasicBlock(nn.Module):
    """Two 3x3 conv -> BatchNorm stages with a skip connection (a 1x1 conv when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class TinyResNet(nn.Module):
    """A tiny ResNet: a stem, two residual stages (16 then 32 channels), global pooling, a classifier.

    Shapes: (B, 1, 8, 8) -> stem (B, 16, 8, 8) -> layer1 (B, 16, 8, 8) -> layer2 (B, 32, 4, 4)
    -> pool (B, 32, 1, 1) -> fc (B, 10).
    """

    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.flatten(self.pool(x)))
