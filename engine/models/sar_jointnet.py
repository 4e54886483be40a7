"""SAR-JointNet: joint diffusion of a SAR image and its segmentation label (DAKD, arXiv 2412.08116).

Two UNets, SAR-Net (input x_t, the noisy image) and Label-Net (input y'_t, the noisy scaled
one-hot label), are joined by zero-initialised 1x1 convolutions, as in JointNet (Apple
``ml-jointnet``) and the paper's figure:

- each noisy input also enters the other net's stem (``sar_to_label_stem``, ``label_to_sar_stem``);
- each encoder skip and the mid feature of one net go through a zero conv and are added to the
  matching skip / mid feature that the other net's decoder reads (``to_label``, ``to_sar``).

Because every coupling conv starts at zero, at step 0 each net computes exactly what it would
alone; the coupling is learned. Both nets predict x_0: SAR-Net returns the clean image (MSE loss),
Label-Net returns class logits (cross-entropy loss). The clean label estimate in the diffused space
is ``b * (2 * softmax(logits) - 1)`` [I], which the DDIM sampler uses for its step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from engine.config import ConfigBase
from engine.models.unet import UNet, UNetConfig


@dataclass(frozen=True)
class JointNetConfig(ConfigBase):
    """Size of both UNets (they share widths) and the number of label classes."""

    num_classes: int = 5
    image_channels: int = 1
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (3,)
    dropout: float = 0.0
    norm_groups: int = 32

    def unet(self, in_channels: int, out_channels: int) -> UNetConfig:
        """Return the UNet config of one branch."""
        return UNetConfig(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=self.base_channels,
            channel_mults=self.channel_mults,
            num_res_blocks=self.num_res_blocks,
            attention_levels=self.attention_levels,
            dropout=self.dropout,
            time_embedding=True,
            norm_groups=self.norm_groups,
        )


#: Named sizes; ``tiny`` is for CPU tests and toy runs.
JOINTNET_VARIANTS: dict[str, dict[str, Any]] = {
    "tiny": {
        "base_channels": 8,
        "channel_mults": (1, 2, 2),
        "num_res_blocks": 1,
        "attention_levels": (),
        "norm_groups": 4,
    },
    "small": {
        "base_channels": 32,
        "channel_mults": (1, 2, 2, 4),
        "num_res_blocks": 1,
        "attention_levels": (3,),
        "norm_groups": 8,
    },
    "base": {
        "base_channels": 64,
        "channel_mults": (1, 2, 2, 4),
        "num_res_blocks": 2,
        "attention_levels": (3,),
        "norm_groups": 32,
    },
}


def jointnet_config(variant: str, **overrides: Any) -> JointNetConfig:
    """Config of a named variant with overrides; an unknown name lists the valid ones."""
    if variant not in JOINTNET_VARIANTS:
        raise KeyError(f"unknown SAR-JointNet variant {variant!r}; valid: {', '.join(JOINTNET_VARIANTS)}")
    return JointNetConfig(**dict(JOINTNET_VARIANTS[variant], **overrides))


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """Return a 1x1 conv with zero weight and bias (ControlNet / JointNet): contributes nothing until trained."""
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(cast(torch.Tensor, conv.bias))  # bias=True above, so never None
    return conv


class SARJointNet(nn.Module):
    """Two coupled UNets predicting the clean image and the label logits from (x_t, y'_t, t).

    Args:
        config: widths, depth and number of classes.
    """

    def __init__(self, config: JointNetConfig) -> None:
        super().__init__()
        self.config = config
        self.sar_net = UNet(config.unet(config.image_channels, config.image_channels))
        self.label_net = UNet(config.unet(config.num_classes, config.num_classes))
        stem = self.sar_net.stem_channels
        self.label_to_sar_stem = zero_conv(config.num_classes, stem)
        self.sar_to_label_stem = zero_conv(config.image_channels, stem)
        feature_channels = [*self.sar_net.skip_channels, self.sar_net.mid_channels]
        self.to_sar = nn.ModuleList(zero_conv(c, c) for c in feature_channels)
        self.to_label = nn.ModuleList(zero_conv(c, c) for c in feature_channels)

    def forward(
        self, noisy_image: torch.Tensor, noisy_label: torch.Tensor, timesteps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (x_0 estimate of the image, label logits), both at the input size."""
        temb_sar = self.sar_net.embed_time(timesteps)
        temb_label = self.label_net.embed_time(timesteps)
        sar_skips, sar_mid = self.sar_net.encode(noisy_image, temb_sar, self.label_to_sar_stem(noisy_label))
        label_skips, label_mid = self.label_net.encode(noisy_label, temb_label, self.sar_to_label_stem(noisy_image))
        sar_features = [*sar_skips, sar_mid]
        label_features = [*label_skips, label_mid]
        sar_in = [own + conv(other) for own, conv, other in zip(sar_features, self.to_sar, label_features)]
        label_in = [own + conv(other) for own, conv, other in zip(label_features, self.to_label, sar_features)]
        image_x0 = self.sar_net.decode(sar_in[:-1], sar_in[-1], temb_sar)
        label_logits = self.label_net.decode(label_in[:-1], label_in[-1], temb_label)
        return image_x0, label_logits


def label_x0_from_logits(logits: torch.Tensor, balance: float, temperature: float = 1.0) -> torch.Tensor:
    """Return the clean label in the diffused space, ``b * (2 * softmax(logits / T) - 1)`` [I]."""
    return balance * (2.0 * torch.softmax(logits.float() / temperature, dim=1) - 1.0)
