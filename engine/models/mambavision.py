"""MambaVision (Hatamizadeh & Kautz, CVPR 2025) as a multi-scale segmentation encoder, written here.

This is our own implementation, written from the published architecture facts (see the project's
reference notes); NVIDIA's code is under a non-commercial licence and none of it is used. Parameter
names and shapes equal those of the official ``mambavision`` 1.2.0 classifiers, so an official
checkpoint on a user's disk loads with ``strict=True`` minus the classifier head.

Layout (output stride in brackets)::

    patch_embed.conv_down   conv3x3 s2 + BN + ReLU, conv3x3 s2 + BN + ReLU           (4)
    levels.0, levels.1      residual ConvBlocks (conv-BN-GELU(tanh)-conv-BN)         (4, 8)
    levels.2, levels.3      pre-norm blocks over windows: first half MambaVisionMixer,
                            second half self-attention; MLP ratio 4                  (16, 32)
    levels.i.downsample     conv3x3 s2, no norm, doubles the channels
    norm                    BatchNorm2d on the stride-32 map

The encoder returns the four stage maps *before* each downsample, at strides 4/8/16/32 with
``C, 2C, 4C, 8C`` channels (``out_channels``), like the official segmentation backbone.

Notes:
    Quirks reproduced on purpose, because pretrained weights depend on them:

    - The mixer adds ``dt_proj.bias`` twice: once inside ``dt_proj`` and again as the scan's
      ``delta_bias``, so Δ = softplus(W·dt + 2b).
    - The mixer's depthwise conv1d layers are bias-free, non-causal ('same' padding), one per half.
    - Only the x half goes through the scan; the z half is conv1d + SiLU and then concatenated,
      ungated, before ``out_proj``.
    - The stem BatchNorms use eps 1e-4; the ConvBlock BatchNorms and LayerNorms use 1e-5.
    - Windows zero-pad the bottom/right edges without masking, as the official model does.
      With ``window_size=None`` (our default) each window is the whole stage map, so there is no
      padding at all; the official ``(8, 8, 14, 7)`` reproduces ImageNet-224 behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ConfigBase
from engine.models.checkpoint import load_foreign_state_dict, read_state_dict
from engine.models.scan import get_scan

#: Windows of the official ImageNet models (the 8s of stages 1-2 are unused).
OFFICIAL_WINDOW_SIZE = (8, 8, 14, 7)
WindowSize = tuple[int, int]


@dataclass(frozen=True)
class MambaVisionConfig(ConfigBase):
    """Hyper-parameters of one MambaVision encoder.

    Attributes:
        dim: channels at stride 4 (C); later stages have 2C, 4C, 8C.
        in_dim: channels of the stem's stride-2 conv.
        depths: blocks per stage.
        num_heads: attention heads per stage (only stages 3-4 use them).
        window_size: per-stage window side in tokens, or None for one window covering the whole
            stage map (derived from the input size at run time; ``[8, 8, 16, 8]`` at 256²).
        mlp_ratio: MLP hidden width / dim in stages 3-4.
        layer_scale: initial value of the per-channel residual scales ``gamma_1/2`` in stages 3-4,
            or None for none (only the B variant has them).
        drop_path_rate: stochastic depth, rising linearly over all blocks to this value.
        in_chans: input channels (1 for a single SAR band, 3 for official checkpoints).
        d_state: SSM state size per channel.
        scan_backend: one of :data:`engine.models.scan.SCAN_BACKENDS`.
    """

    dim: int
    in_dim: int
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    window_size: tuple[int, int, int, int] | None = None
    mlp_ratio: float = 4.0
    layer_scale: float | None = None
    drop_path_rate: float = 0.0
    in_chans: int = 1
    d_state: int = 8
    scan_backend: str = "auto"

    @property
    def out_channels(self) -> tuple[int, int, int, int]:
        """Channels of the four stage maps."""
        return (self.dim, 2 * self.dim, 4 * self.dim, 8 * self.dim)


_HEADS = (2, 4, 8, 16)

#: Official variants (depths, dims, heads as in mambavision 1.2.0) plus our small CPU variant ``XS``.
MAMBAVISION_VARIANTS: dict[str, MambaVisionConfig] = {
    "T": MambaVisionConfig(dim=80, in_dim=32, depths=(1, 3, 8, 4), num_heads=_HEADS),
    "T2": MambaVisionConfig(dim=80, in_dim=32, depths=(1, 3, 11, 4), num_heads=_HEADS),
    "S": MambaVisionConfig(dim=96, in_dim=64, depths=(3, 3, 7, 5), num_heads=_HEADS),
    "B": MambaVisionConfig(dim=128, in_dim=64, depths=(3, 3, 10, 5), num_heads=_HEADS, layer_scale=1e-5),
    # Ours: a quarter of T's compute for CPU detection; same block types and quirks.
    "XS": MambaVisionConfig(dim=32, in_dim=16, depths=(1, 2, 4, 2), num_heads=(1, 2, 4, 8)),
}


def mambavision_config(variant: str, **overrides: Any) -> MambaVisionConfig:
    """Return the config of ``variant`` with ``overrides``; unknown names raise a KeyError listing valid ones."""
    try:
        base = MAMBAVISION_VARIANTS[variant]
    except KeyError:
        raise KeyError(f"unknown MambaVision variant {variant!r}; valid: {', '.join(MAMBAVISION_VARIANTS)}") from None
    for key in ("depths", "num_heads", "window_size"):
        if overrides.get(key) is not None:
            overrides[key] = tuple(overrides[key])
    return replace(base, **overrides)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop the residual branch per sample while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class PatchEmbed(nn.Module):
    """The stem: two stride-2 3×3 convs to stride 4 (``conv_down.{0,1,3,4}`` in checkpoints)."""

    def __init__(self, in_chans: int, in_dim: int, dim: int) -> None:
        super().__init__()
        self.conv_down = nn.Sequential(
            nn.Conv2d(in_chans, in_dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4),
            nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.conv_down(x)


class ConvBlock(nn.Module):
    """Residual conv block of stages 1-2: conv3x3-BN-GELU(tanh)-conv3x3-BN, plus the input."""

    def __init__(self, dim: int, drop_path: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(dim, eps=1e-5)
        self.act1 = nn.GELU(approximate="tanh")
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(dim, eps=1e-5)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        branch = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        return x + self.drop_path(branch)


class MambaVisionMixer(nn.Module):
    """The MambaVision token mixer: a split x/z path where only x goes through the selective scan.

    Follows the MambaVision paper (sec. 3.2) with the official model's details: ``in_proj`` maps d→d
    (no bias), the halves get bias-free depthwise 'same' conv1d + SiLU, ``x_proj`` gives
    ``(dt, B, C)``, and ``dt_proj.bias`` is applied twice (see the module Notes).
    """

    def __init__(self, d_model: int, d_state: int = 8, d_conv: int = 3, scan_backend: str = "auto") -> None:
        super().__init__()
        self.d_inner = d_model  # expand = 1
        self.d_half = d_model // 2
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        # Own parameters first: the official state dict lists A_log and D before the sub-modules.
        a_init = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_half, 1)
        self.A_log = nn.Parameter(torch.log(a_init))
        self.D = nn.Parameter(torch.ones(self.d_half))
        self.in_proj = nn.Linear(d_model, self.d_inner, bias=False)
        self.x_proj = nn.Linear(self.d_half, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_half, bias=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.conv1d_x = nn.Conv1d(self.d_half, self.d_half, d_conv, groups=self.d_half, padding="same", bias=False)
        self.conv1d_z = nn.Conv1d(self.d_half, self.d_half, d_conv, groups=self.d_half, padding="same", bias=False)
        self._init_dt_proj()

    def _init_dt_proj(self, dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        """Mamba's Δ initialisation (Gu & Dao 2023, sec. 3.6): softplus(bias) log-uniform in [dt_min, dt_max].

        The bias is halved because the forward pass adds it twice.
        """
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_half) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        inverse_softplus = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inverse_softplus / 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mix ``(batch, length, d_model)`` tokens; the scan runs causally along ``length``."""
        xz = self.in_proj(tokens).transpose(1, 2)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d_x(x))
        z = F.silu(self.conv1d_z(z))
        dt, b_proj, c_proj = torch.split(
            self.x_proj(x.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        dt = self.dt_proj(dt).transpose(1, 2)  # includes the bias once...
        scan = get_scan(self.scan_backend)
        # return_last_state is off, so the scan returns y alone.
        y = cast(
            torch.Tensor,
            scan(
                x,
                dt,
                -torch.exp(self.A_log.float()),
                b_proj.transpose(1, 2).contiguous(),
                c_proj.transpose(1, 2).contiguous(),
                self.D.float(),
                z=None,
                delta_bias=self.dt_proj.bias.float(),
                delta_softplus=True,
            ),
        )  # ...and here a second time
        return self.out_proj(torch.cat([y.to(z.dtype), z], dim=1).transpose(1, 2))


class Attention(nn.Module):
    """Multi-head self-attention over a window's tokens (qkv bias, no position bias)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # noqa: D102
        batch, length, dim = tokens.shape
        qkv = self.qkv(tokens).reshape(batch, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    """Two-layer MLP with exact GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc2(self.act(self.fc1(x)))


class TokenBlock(nn.Module):
    """Pre-norm block of stages 3-4: ``x + mixer(norm1(x))`` then ``x + mlp(norm2(x))``, optionally layer-scaled."""

    def __init__(
        self, dim: int, mixer: nn.Module, mlp_ratio: float, drop_path: float, layer_scale: float | None
    ) -> None:
        super().__init__()
        self.gamma_1: nn.Parameter | None
        self.gamma_2: nn.Parameter | None
        if layer_scale is not None:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(layer_scale)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(layer_scale)))
        else:
            self.gamma_1 = self.gamma_2 = None
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.mixer = mixer
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # noqa: D102
        mixed = self.mixer(self.norm1(tokens))
        tokens = tokens + self.drop_path(mixed if self.gamma_1 is None else self.gamma_1 * mixed)
        fed = self.mlp(self.norm2(tokens))
        return tokens + self.drop_path(fed if self.gamma_2 is None else self.gamma_2 * fed)


class Downsample(nn.Module):
    """conv3x3 stride 2 without norm, doubling the channels (``reduction.0`` in checkpoints)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, stride=2, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.reduction(x)


def window_partition(x: torch.Tensor, window: WindowSize) -> torch.Tensor:
    """``(B, C, H, W)`` with H, W multiples of the window → ``(B·windows, wh·ww, C)`` tokens, row-major."""
    batch, channels, height, width = x.shape
    wh, ww = window
    x = x.view(batch, channels, height // wh, wh, width // ww, ww)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, wh * ww, channels)


def window_reverse(tokens: torch.Tensor, window: WindowSize, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition` back to ``(B, C, height, width)``."""
    wh, ww = window
    channels = tokens.shape[-1]
    x = tokens.view(-1, height // wh, width // ww, wh, ww, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, channels, height, width)


class MambaVisionStage(nn.Module):
    """One level: its blocks, then (not applied here) the downsample to the next level."""

    def __init__(self, config: MambaVisionConfig, index: int, drop_paths: list[float]) -> None:
        super().__init__()
        dim = config.dim * 2**index
        self.uses_windows = index >= 2
        depth = config.depths[index]
        if not self.uses_windows:
            blocks: list[nn.Module] = [ConvBlock(dim, drop_paths[i]) for i in range(depth)]
        else:
            blocks = []
            for i in range(depth):
                # The first half (rounded up) mixes with the SSM, the rest with attention.
                mixer = (
                    MambaVisionMixer(dim, d_state=config.d_state, scan_backend=config.scan_backend)
                    if i < (depth + 1) // 2
                    else Attention(dim, config.num_heads[index])
                )
                blocks.append(TokenBlock(dim, mixer, config.mlp_ratio, drop_paths[i], config.layer_scale))
        self.blocks = nn.ModuleList(blocks)
        self.downsample = Downsample(dim) if index < 3 else None

    def forward(self, x: torch.Tensor, window: WindowSize | None = None) -> torch.Tensor:
        """Run the blocks on ``(B, C, H, W)``; windowed stages need ``window`` (rows, cols) in tokens."""
        if not self.uses_windows:
            for block in self.blocks:
                x = block(x)
            return x
        if window is None:
            raise ValueError("windowed stages need a window size")
        height, width = x.shape[-2:]
        pad_bottom = (window[0] - height % window[0]) % window[0]
        pad_right = (window[1] - width % window[1]) % window[1]
        if pad_bottom or pad_right:
            x = F.pad(x, (0, pad_right, 0, pad_bottom))
        tokens = window_partition(x, window)
        for block in self.blocks:
            tokens = block(tokens)
        x = window_reverse(tokens, window, height + pad_bottom, width + pad_right)
        return x[:, :, :height, :width].contiguous()


def stage_map_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Map sizes at strides 4, 8, 16, 32 for an input of ``height × width`` (each conv s2 p1 rounds up)."""
    sizes = []
    for _ in range(2):
        height, width = (height + 1) // 2, (width + 1) // 2
    for _ in range(4):
        sizes.append((height, width))
        height, width = (height + 1) // 2, (width + 1) // 2
    return sizes


def stage_windows(config: MambaVisionConfig, height: int, width: int) -> list[WindowSize | None]:
    """Window (rows, cols) of each stage for an input size; None for the conv stages.

    With ``config.window_size`` None, a window covers the whole stage map (global attention and one
    scan per map, no padding): 16×16 and 8×8 at 256², 19×13 and 10×7 at 300×200.
    """
    windows: list[WindowSize | None] = []
    for index, size in enumerate(stage_map_sizes(height, width)):
        if index < 2:
            windows.append(None)
        elif config.window_size is None:
            windows.append(size)
        else:
            side = config.window_size[index]
            windows.append((side, side))
    return windows


class MambaVisionEncoder(nn.Module):
    """MambaVision returning the stage maps at strides 4, 8, 16 and 32.

    Args:
        config: a :class:`MambaVisionConfig` (see :data:`MAMBAVISION_VARIANTS`).

    Attributes:
        out_channels: channels of the four returned maps.
        reductions: their strides.
        feature_info: timm-style ``{"num_chs", "reduction", "module"}`` per map.
    """

    def __init__(self, config: MambaVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config.in_chans, config.in_dim, config.dim)
        total = sum(config.depths)
        rates = [config.drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        starts = [sum(config.depths[:i]) for i in range(4)]
        self.levels = nn.ModuleList(
            MambaVisionStage(config, i, rates[starts[i] : starts[i] + config.depths[i]]) for i in range(4)
        )
        self.norm = nn.BatchNorm2d(config.out_channels[3], eps=1e-5)
        self.out_channels = config.out_channels
        self.reductions = (4, 8, 16, 32)
        self.feature_info = [
            {"num_chs": c, "reduction": r, "module": f"levels.{i}"}
            for i, (c, r) in enumerate(zip(self.out_channels, self.reductions))
        ]
        self.apply(_init_weights)

    def set_scan_backend(self, name: str) -> None:
        """Switch every mixer to scan backend ``name`` (validated)."""
        get_scan(name)
        for module in self.modules():
            if isinstance(module, MambaVisionMixer):
                module.scan_backend = name

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, in_chans, H, W)`` → four maps ``(B, C·2^i, ⌈H/2^(i+2)⌉, ⌈W/2^(i+2)⌉)``; any H, W ≥ 1."""
        windows = stage_windows(self.config, x.shape[-2], x.shape[-1])
        x = self.patch_embed(x)
        features = []
        for level, window in zip(cast("Iterable[MambaVisionStage]", self.levels), windows):
            x = level(x, window)
            features.append(x)
            if level.downsample is not None:
                x = level.downsample(x)
        features[-1] = self.norm(features[-1])
        return features

    def load_checkpoint(self, path: str | Path) -> None:
        """Load an official MambaVision classifier checkpoint (``.pth.tar``) from disk, strictly, minus the head.

        3-channel stem weights are summed over RGB for a 1-channel encoder. Raises ``ModelError`` when
        the file does not fit (wrong variant, not weights-only).
        """
        load_foreign_state_dict(
            self,
            read_state_dict(path),
            str(path),
            ignore_prefixes=("head.",),
            input_conv_key="patch_embed.conv_down.0.weight",
        )


def _init_weights(module: nn.Module) -> None:
    """Truncated-normal linear weights (std 0.02) and zero biases, as for ViTs; the mixer's Δ init is kept."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, MambaVisionMixer):
        module._init_dt_proj()


def build_mambavision(variant: str = "T", **overrides: Any) -> MambaVisionEncoder:
    """Build a MambaVision encoder by variant name (``T``, ``T2``, ``S``, ``B``, ``XS``) with config overrides."""
    return MambaVisionEncoder(mambavision_config(variant, **overrides))


__all__ = [
    "MAMBAVISION_VARIANTS",
    "OFFICIAL_WINDOW_SIZE",
    "MambaVisionConfig",
    "MambaVisionEncoder",
    "build_mambavision",
    "mambavision_config",
    "stage_windows",
]
