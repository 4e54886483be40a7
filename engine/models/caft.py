"""The CAFT skip block of SAROSS-Net (DAKD, arXiv 2412.08116, fig. "SAROSS-Net") and its ablation stand-ins.

CAFT ("cross-attention feature transfer") refines a high-resolution feature with a coarser one by
transposed (channel × channel) cross-attention, as in Restormer's MDTA (Zamir et al. 2022)::

    Q = DWConv3×3(Conv1×1(up(F_LR)))          F_LR has 2Ĉ channels, Q has Ĉ
    K = DWConv3×3(Conv1×1(F_HR))              V likewise, a separate path
    A = softmax(τ · norm(Q) norm(K)ᵀ)         Ĉ×Ĉ per head, over the H·W pixels
    out = F_HR + Conv1×1(A V)

Notes:
    From the paper's figure only: the L2 normalisation of Q and K, the learnable temperature τ and the
    split into heads are our additions taken from Restormer (the paper's text was not available).
    With MambaVision-T channels the three rows of CAFT blocks hold 893,920 weights plus 11
    temperatures, the "+0.89M" of the paper's ablation table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize ``x`` to the spatial size of ``like`` (no-op when equal)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _pointwise_then_depthwise(in_chs: int, out_chs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 1), nn.Conv2d(out_chs, out_chs, 3, padding=1, groups=out_chs))


class CAFTBlock(nn.Module):
    """Cross-attention from a low-resolution feature (queries) to a high-resolution one (keys, values).

    Args:
        channels: Ĉ, the channels of ``F_HR`` and of the output.
        low_channels: channels of ``F_LR`` (2Ĉ in SAROSS-Net).
        num_heads: channel groups attended separately; must divide ``channels``.
    """

    def __init__(self, channels: int, low_channels: int, num_heads: int = 1) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"CAFT heads ({num_heads}) must divide the channels ({channels})")
        self.num_heads = num_heads
        self.query = _pointwise_then_depthwise(low_channels, channels)
        self.key = _pointwise_then_depthwise(channels, channels)
        self.value = _pointwise_then_depthwise(channels, channels)
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """``high`` (B, Ĉ, H, W), ``low`` (B, 2Ĉ, h, w) with h ≤ H → (B, Ĉ, H, W)."""
        batch, channels, height, width = high.shape
        query = self.query(resize_to(low, high))
        key = self.key(high)
        value = self.value(high)
        shape = (batch, self.num_heads, channels // self.num_heads, height * width)
        query = F.normalize(query.reshape(shape), dim=-1)
        key = F.normalize(key.reshape(shape), dim=-1)
        attention = (query @ key.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = (attention @ value.reshape(shape)).reshape(batch, channels, height, width)
        return high + self.project(out)


class ConvSkipBlock(nn.Module):
    """The "3×3 conv" ablation of CAFT: concat(F_HR, up(F_LR)) → conv3×3-BN-ReLU to Ĉ channels."""

    def __init__(self, channels: int, low_channels: int, num_heads: int = 1) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + low_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fuse(torch.cat([high, resize_to(low, high)], dim=1))


#: Skip blocks by the ``skip`` option's value (``none`` builds no skip nodes at all).
SKIP_BLOCKS: dict[str, type[nn.Module] | None] = {"caft": CAFTBlock, "conv": ConvSkipBlock, "none": None}
