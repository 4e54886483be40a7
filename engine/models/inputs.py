"""Input channels that carry the sea background: what an analyst reads when calling a slick oil.

An analyst reads a slick as *darker than the sea around it*. A network fed only normalised dB must
learn that comparison itself, and it then also learns the absolute level of the training scenes:
their wind, noise floor, incidence angle and calibration. On a scene with other conditions, or on
an 8-bit export over an unknown dB range, the absolute level moves and the model's oil moves with
it. These channels give the network the comparison directly, computed inside the network from the
one normalised dB band it receives, so that training, detection, evaluation and any external
caller compute them the same way (there is no second implementation to drift):

========================  ===========================================================================
``db``                    the normalised dB band itself (``(clip(dB) - mean) / std``, the card's spec)
``contrast:K``            dB minus the local background: the mean over a ``K`` × ``K`` window of the
                          valid pixels, bright targets (ships, platforms: more than ``bright_guard``
                          local standard deviations above a first mean) left out in a second pass,
                          as the threshold detector does (:mod:`engine.detectors.threshold`).
                          Invariant to a dB offset.
``lcn:K``                 ``contrast:K`` divided by the local standard deviation over the same window
                          (local contrast normalisation): also invariant to a dB gain, i.e. to the
                          unknown span of an 8-bit export.
========================  ===========================================================================

Windows are in pixels of the model's training pixel size (10 m for the bundled model: ``contrast:31``
is 310 m, ``contrast:101`` about 1 km). Nodata pixels (``valid`` False) are left out of every mean and
set to 0 in every channel. Means are running sums (cumulative sums), so the cost per pixel does not
depend on the window; everything is plain tensor arithmetic, so the channels export to ONNX.

Notes:
    The channels are computed per tile. In a scene, a window reaching past the tile edge sees only
    the tile's part of it; the tiling overlap and blending (``engine.tiling``) hide the difference, as
    for the network's own receptive field.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Feature kinds; ``db`` takes no window, the others need one (``kind:K`` with an odd K ≥ 3).
FEATURE_KINDS = ("db", "contrast", "lcn")
#: Channels of a new model unless asked otherwise: the band, the contrast to the sea over about 300 m and
#: 1 km, and the gain-free contrast over 1 km (windows at 10 m pixels).
DEFAULT_INPUT_FEATURES = ("db", "contrast:31", "contrast:101", "lcn:101")
#: Local variance floor in normalised units² (a std of 0.03 units, about 0.15 dB): flat areas such as
#: saturated 8-bit pixels do not blow up ``lcn`` or the bright-target test.
LCN_VARIANCE_FLOOR = 1e-3
#: ``lcn`` values are clipped to ± this many local standard deviations.
LCN_CLIP = 8.0


def parse_feature(name: str) -> tuple[str, int]:
    """Split ``"contrast:31"`` into ``("contrast", 31)``; ``"db"`` gives ``("db", 0)``.

    Raises:
        ValueError: an unknown kind, a missing or even window, or a window on ``db``.
    """
    kind, _, window = name.partition(":")
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown input feature {name!r}; kinds: {', '.join(FEATURE_KINDS)} (e.g. contrast:31)")
    if kind == "db":
        if window:
            raise ValueError(f"input feature {name!r}: 'db' takes no window")
        return kind, 0
    if not window.isdigit() or int(window) < 3 or int(window) % 2 == 0:
        raise ValueError(f"input feature {name!r}: give an odd window of at least 3 px, e.g. {kind}:31")
    return kind, int(window)


def box_sum(values: torch.Tensor, size: int) -> torch.Tensor:
    """Sum over a centred ``size`` × ``size`` window at every pixel of ``(B, C, H, W)``, zeros outside.

    Two cumulative sums over a zero-padded copy: ``S[j + size] - S[j]`` along each axis.
    """
    radius = size // 2
    padded = F.pad(values, (radius + 1, radius, radius + 1, radius))
    rows = padded.cumsum(-1)
    rows = rows[..., size:] - rows[..., :-size]
    cols = rows.cumsum(-2)
    return cols[..., size:, :] - cols[..., :-size, :]


def window_moments(
    x: torch.Tensor, weights: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted mean, variance (floored) and weight count of ``x`` in each ``size`` window."""
    counts = box_sum(weights, size)
    mean = box_sum(x * weights, size) / counts.clamp_min(1.0)
    square = box_sum(x * x * weights, size) / counts.clamp_min(1.0)
    return mean, (square - mean * mean).clamp_min(0.0) + LCN_VARIANCE_FLOOR, counts


def local_background(
    x: torch.Tensor, valid: torch.Tensor, size: int, bright_guard: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, variance and count of the valid, non-bright pixels in each window.

    A first pass over the valid pixels flags bright targets, more than ``bright_guard`` local standard
    deviations above the mean (relative to the local spread, so the rule does not change with a dB
    gain); the second pass leaves them out. Counts are 0 where a window holds no usable pixel.
    """
    mean, variance, _ = window_moments(x, valid, size)
    weights = valid * (x <= mean + bright_guard * variance.sqrt()).to(x.dtype)
    return window_moments(x, weights, size)


class InputFeatures(nn.Module):
    """Turns the normalised dB band ``(B, 1, H, W)`` into the model's input channels ``(B, K, H, W)``.

    Args:
        features: channel names (see the module table), e.g. ``("db", "contrast:31", "lcn:101")``.
        bright_guard: pixels more than this many local standard deviations above a first background
            mean are left out of the background.
    """

    def __init__(self, features: tuple[str, ...], bright_guard: float = 3.0) -> None:
        super().__init__()
        if not features:
            raise ValueError("give at least one input feature, e.g. ('db',)")
        self.features = tuple(features)
        self.parsed = [parse_feature(name) for name in self.features]
        self.bright_guard = float(bright_guard)

    @property
    def out_channels(self) -> int:
        """Channels the encoder receives."""
        return len(self.features)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:  # noqa: D102
        if x.shape[1] != 1:
            raise ValueError(f"input features need one normalised dB band (B, 1, H, W), got {tuple(x.shape)}")
        x = x.float()
        mask = torch.ones_like(x) if valid is None else valid.to(x.dtype).reshape(x.shape)
        x = x * mask
        backgrounds: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        channels = []
        for kind, size in self.parsed:
            if kind == "db":
                channels.append(x)
                continue
            if size not in backgrounds:
                backgrounds[size] = local_background(x, mask, size, self.bright_guard)
            mean, variance, counts = backgrounds[size]
            contrast = (x - mean) * mask * (counts > 0).to(x.dtype)
            if kind == "lcn":
                contrast = (contrast / variance.sqrt()).clamp(-LCN_CLIP, LCN_CLIP)
            channels.append(contrast)
        return torch.cat(channels, dim=1)

    def extra_repr(self) -> str:  # noqa: D102
        return f"features={self.features}, bright_guard={self.bright_guard}"
