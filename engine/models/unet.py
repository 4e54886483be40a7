"""A DDPM-style UNet, split into encoder and decoder so two of them can be coupled (SAR-JointNet).

Layout (Ho et al. 2020, appendix B, simplified to one skip per level)::

    stem conv3x3 -> [level i: n res blocks (+ self-attention) -> skip_i -> downsample] -> mid
    mid -> [level i (deepest first): upsample -> concat skip_i -> n res blocks (+ attention)] -> head

:meth:`UNet.encode` returns the skips and the mid feature; :meth:`UNet.decode` takes them back.
SAR-JointNet adds the other branch's features (through zero convs) between the two calls. With
``time_embedding=False`` the same net is a plain segmentation UNet (used in tests as a small,
fast segmenter).

Notes:
    The input height and width must be multiples of ``2 ** (len(channel_mults) - 1)``; the error
    says which padded size to use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ConfigBase


@dataclass(frozen=True)
class UNetConfig(ConfigBase):
    """Width, depth and attention of a UNet; variants are instances of this, not subclasses.

    ``channel_mults`` gives each level's width as a multiple of ``base_channels``; attention runs at
    the levels listed in ``attention_levels`` (0 = full resolution) and in the middle block.
    """

    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (3,)
    dropout: float = 0.0
    time_embedding: bool = True
    norm_groups: int = 32


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017, as used by DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the timestep embedding added in between (DDPM)."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int | None, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Linear(embed_dim, out_channels) if embed_dim else None
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:  # noqa: D102
        h = self.conv1(F.silu(self.norm1(x)))
        if self.embed is not None and temb is not None:
            h = h + self.embed(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class SelfAttention(nn.Module):
    """Single-head spatial self-attention with a residual (DDPM's attention block)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        batch, channels, height, width = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(batch, 3, channels, height * width).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(batch, channels, height, width))


class Level(nn.Module):
    """Res blocks (each optionally followed by attention) at one resolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        count: int,
        embed_dim: int | None,
        attention: bool,
        dropout: float,
        groups: int,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ResBlock(in_channels if i == 0 else out_channels, out_channels, embed_dim, dropout, groups)
            for i in range(count)
        )
        self.attentions = nn.ModuleList(
            SelfAttention(out_channels, groups) if attention else nn.Identity() for _ in range(count)
        )

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:  # noqa: D102
        for block, attention in zip(self.blocks, self.attentions):
            x = attention(block(x, temb))
        return x


class UNet(nn.Module):
    """A UNet with an optional timestep embedding; see the module docstring for the layout.

    Args:
        config: widths, depth and attention.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.base_channels * m for m in config.channel_mults]
        groups = config.norm_groups
        embed_dim = 4 * config.base_channels if config.time_embedding else None
        self.time_mlp = (
            nn.Sequential(nn.Linear(config.base_channels, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
            if embed_dim
            else None
        )
        self.stem = nn.Conv2d(config.in_channels, widths[0], 3, padding=1)
        self.down_levels = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = widths[0]
        for index, width in enumerate(widths):
            attention = index in config.attention_levels
            self.down_levels.append(
                Level(previous, width, config.num_res_blocks, embed_dim, attention, config.dropout, groups)
            )
            last = index == len(widths) - 1
            self.downsamples.append(nn.Identity() if last else nn.Conv2d(width, width, 3, stride=2, padding=1))
            previous = width
        self.mid_block1 = ResBlock(previous, previous, embed_dim, config.dropout, groups)
        self.mid_attention = SelfAttention(previous, groups)
        self.mid_block2 = ResBlock(previous, previous, embed_dim, config.dropout, groups)
        self.up_levels = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        below = previous
        for index in reversed(range(len(widths))):
            width = widths[index]
            last = index == len(widths) - 1
            self.upsamples.append(nn.Identity() if last else nn.Conv2d(below, below, 3, padding=1))
            attention = index in config.attention_levels
            self.up_levels.append(
                Level(below + width, width, config.num_res_blocks, embed_dim, attention, config.dropout, groups)
            )
            below = width
        self.head = nn.Sequential(
            _norm(widths[0], groups), nn.SiLU(), nn.Conv2d(widths[0], config.out_channels, 3, padding=1)
        )

    @property
    def skip_channels(self) -> list[int]:
        """Channels of each skip returned by :meth:`encode`, from full resolution down."""
        return [self.config.base_channels * m for m in self.config.channel_mults]

    @property
    def mid_channels(self) -> int:
        """Channels of the mid feature."""
        return self.skip_channels[-1]

    @property
    def stem_channels(self) -> int:
        """Channels right after the stem conv (where another branch's input may be added)."""
        return self.skip_channels[0]

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** (len(self.config.channel_mults) - 1)

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Raise ValueError naming the padded size when H or W is not a multiple of :attr:`size_multiple`."""
        multiple = self.size_multiple
        height, width = x.shape[-2:]
        if height % multiple or width % multiple:
            new_h = -(-height // multiple) * multiple
            new_w = -(-width // multiple) * multiple
            raise ValueError(f"UNet input {height}x{width} is not a multiple of {multiple}; pad it to {new_h}x{new_w}")

    def embed_time(self, timesteps: torch.Tensor | None) -> torch.Tensor | None:
        """Return the timestep embedding, or None for a net without one."""
        if self.time_mlp is None or timesteps is None:
            return None
        return self.time_mlp(timestep_embedding(timesteps, self.config.base_channels))

    def encode(
        self, x: torch.Tensor, temb: torch.Tensor | None, stem_extra: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Stem, encoder levels and mid block; ``stem_extra`` is added right after the stem conv."""
        self.check_input_shape(x)
        h = self.stem(x)
        if stem_extra is not None:
            h = h + stem_extra
        skips = []
        for level, downsample in zip(self.down_levels, self.downsamples):
            h = level(h, temb)
            skips.append(h)
            h = downsample(h)
        h = self.mid_block2(self.mid_attention(self.mid_block1(h, temb)), temb)
        return skips, h

    def decode(self, skips: list[torch.Tensor], mid: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
        """Run the decoder levels and head, from the (possibly modified) skips and mid feature."""
        h = mid
        for level, upsample, skip in zip(self.up_levels, self.upsamples, reversed(skips)):
            if not isinstance(upsample, nn.Identity):
                h = upsample(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
            h = level(torch.cat([h, skip], dim=1), temb)
        return self.head(h)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor | None = None) -> torch.Tensor:
        """(N, in, H, W) -> (N, out, H, W)."""
        temb = self.embed_time(timesteps)
        skips, mid = self.encode(x, temb)
        return self.decode(skips, mid, temb)
