"""A small ResNet feature encoder (He et al. 2016) for the ``encoder=resnet`` ablation of SAROSS-Net.

Written here because timm and torchvision cannot be imported beside this project's torch build.
Parameter names follow torchvision's ``resnet18/34/50`` (which timm's ResNets share: ``conv1``, ``bn1``,
``layer{1-4}.{i}.conv{1-3}/bn{1-3}/downsample.{0,1}``), so a local timm or torchvision ResNet checkpoint
loads with :meth:`ResNetEncoder.load_checkpoint` (its ``fc.*`` classifier is dropped). Nothing is
downloaded: the encoder starts random unless given such a file.

Notes:
    Bottleneck blocks stride in the 3×3 conv ("ResNet v1.5"), as torchvision and timm do.
    The encoder returns ``layer1..layer4`` at strides 4, 8, 16, 32, the same strides as MambaVision, so
    the decoder is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import ConfigBase
from engine.models.checkpoint import load_foreign_state_dict, read_state_dict


@dataclass(frozen=True)
class ResNetConfig(ConfigBase):
    """Depth and block type of a ResNet; ``in_chans`` 1 for a single SAR band."""

    block: str
    layers: tuple[int, int, int, int]
    in_chans: int = 1

    @property
    def out_channels(self) -> tuple[int, int, int, int]:
        """Channels of layer1..layer4."""
        expansion = 4 if self.block == "bottleneck" else 1
        return (64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion)


RESNET_VARIANTS: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig("basic", (2, 2, 2, 2)),
    "resnet34": ResNetConfig("basic", (3, 4, 6, 3)),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3)),
}


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_chs: int, chs: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, chs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(chs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(chs, chs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(chs)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 ×4 with a residual (ResNet-50)."""

    expansion = 4

    def __init__(self, in_chs: int, chs: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, chs, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(chs)
        self.conv2 = nn.Conv2d(chs, chs, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(chs)
        self.conv3 = nn.Conv2d(chs, chs * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(chs * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + shortcut)


class ResNetEncoder(nn.Module):
    """ResNet returning ``layer1..layer4`` (strides 4, 8, 16, 32) with torchvision/timm parameter names.

    Attributes:
        out_channels: channels of the four maps (64..512 for 18/34, 256..2048 for 50).
        reductions: their strides.
        feature_info: timm-style ``{"num_chs", "reduction", "module"}`` per map.
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        block = Bottleneck if config.block == "bottleneck" else BasicBlock
        self.conv1 = nn.Conv2d(config.in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_chs = 64
        for index, count in enumerate(config.layers):
            chs = 64 * 2**index
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_chs != chs * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(in_chs, chs * block.expansion, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(chs * block.expansion),
                )
            blocks = [block(in_chs, chs, stride, downsample)]
            in_chs = chs * block.expansion
            blocks += [block(in_chs, chs, 1, None) for _ in range(count - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        self.out_channels = config.out_channels
        self.reductions = (4, 8, 16, 32)
        self.feature_info = [
            {"num_chs": c, "reduction": r, "module": f"layer{i + 1}"}
            for i, (c, r) in enumerate(zip(self.out_channels, self.reductions))
        ]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, in_chans, H, W)`` → four maps at strides 4, 8, 16, 32."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for index in range(4):
            x = getattr(self, f"layer{index + 1}")(x)
            features.append(x)
        return features

    def load_checkpoint(self, path: str | Path) -> None:
        """Load a local timm/torchvision ResNet checkpoint strictly, minus ``fc`` (RGB ``conv1`` summed for 1 band)."""
        load_foreign_state_dict(
            self, read_state_dict(path), str(path), ignore_prefixes=("fc.",), input_conv_key="conv1.weight"
        )


def build_resnet(variant: str = "resnet34", **overrides: Any) -> ResNetEncoder:
    """Build ``resnet18``, ``resnet34`` or ``resnet50``; unknown names raise a KeyError listing valid ones."""
    try:
        base = RESNET_VARIANTS[variant]
    except KeyError:
        raise KeyError(f"unknown ResNet variant {variant!r}; valid: {', '.join(RESNET_VARIANTS)}") from None
    return ResNetEncoder(ResNetConfig(base.block, base.layers, **overrides))
