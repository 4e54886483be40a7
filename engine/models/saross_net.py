"""SAROSS-Net (DAKD, arXiv 2412.08116 §3): a multi-scale encoder, a nested CAFT decoder and a class head.

Decoder layout (rows by stride; ``X[i][0]`` is the encoder map of row ``i``)::

    stride 4   X00 ── CAFT01 ── CAFT02 ── CAFT03 ─┐
    stride 8   X10 ── CAFT11 ── CAFT12 ─┐         CD0 → head → ×4 → logits
    stride 16  X20 ── CAFT21 ─┐         CD1 ─────┘
    stride 32  X30 ── CD3 ────CD2 ─────┘

    CAFT(i, j) = CAFT(high = X[i][j-1], low = X[i+1][j-1])      (UNet++-style nesting)
    CD3 = ConvDecoder(X30);  CDi = ConvDecoder(concat(last CAFT of row i, CD(i+1) resized to row i))

Each CD is conv3×3-BN-ReLU twice, and its output is resized (×2) to the row above. CD0 stays at
stride 4; the 1×1 head gives class logits that are bilinearly resized to the input size (the same as
resizing the features first, since both are linear, and 16× cheaper).

Notes:
    Our reading of the paper's figure (its text was not available): the last CAFT of a row takes
    ``X[i+1][j-1]`` as its low-resolution input like the others, and the conv-decoder output from
    below is concatenated with it. This reading gives exactly the paper's "+0.89M" for CAFT with
    MambaVision-T. ``skip="none"`` drops the CAFT nodes (the CDs see the encoder maps directly);
    ``skip="conv"`` replaces each CAFT by a 3×3 conv on ``concat(high, up(low))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from engine.config import ConfigBase
from engine.models.caft import SKIP_BLOCKS, resize_to
from engine.models.inputs import InputFeatures, parse_feature
from engine.models.mambavision import MAMBAVISION_VARIANTS, MambaVisionEncoder, build_mambavision
from engine.models.resnet import RESNET_VARIANTS, ResNetEncoder, build_resnet

ENCODERS = ("mambavision", "resnet")


@dataclass(frozen=True)
class SarossNetConfig(ConfigBase):
    """Everything needed to rebuild a SAROSS-Net; stored in model cards as ``build``.

    Attributes:
        encoder: ``mambavision`` or ``resnet`` (the paper's encoder ablation).
        variant: encoder variant: ``T``, ``T2``, ``S``, ``B``, ``XS`` or ``resnet18/34/50``.
        num_classes: 5 for the OSD classes, 2 for oil/background.
        skip: ``caft`` (the paper), ``conv`` or ``none`` (the skip ablation).
        in_chans: input bands the encoder sees (1: one SAR polarisation); with ``input_features`` it is
            their number.
        caft_heads: CAFT heads for the rows at strides 4, 8, 16.
        encoder_options: extra encoder config (``window_size``, ``scan_backend``, ``drop_path_rate``...).
        input_features: channels computed inside the network from the one normalised dB band
            (:mod:`engine.models.inputs`, e.g. ``("db", "contrast:31", "lcn:101")``); empty: the band
            goes to the encoder as it is (every card written before these existed).
        input_bright_guard: bright-target guard of the background channels, in local standard deviations.
    """

    encoder: str = "mambavision"
    variant: str = "T"
    num_classes: int = 5
    skip: str = "caft"
    in_chans: int = 1
    caft_heads: tuple[int, int, int] = (1, 2, 4)
    encoder_options: dict[str, Any] = field(default_factory=dict)
    input_features: tuple[str, ...] = ()
    input_bright_guard: float = 3.0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise KeyError(f"unknown encoder {self.encoder!r}; valid: {', '.join(ENCODERS)}")
        if self.skip not in SKIP_BLOCKS:
            raise KeyError(f"unknown skip {self.skip!r}; valid: {', '.join(SKIP_BLOCKS)}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        object.__setattr__(self, "caft_heads", tuple(self.caft_heads))
        object.__setattr__(self, "input_features", tuple(self.input_features))
        for name in self.input_features:
            parse_feature(name)
        if self.input_features:  # the encoder sees the computed channels, never the raw band
            object.__setattr__(self, "in_chans", len(self.input_features))

    @property
    def input_bands(self) -> int:
        """Bands the network takes (the encoder's ``in_chans``, or 1 when it computes its own channels)."""
        return 1 if self.input_features else self.in_chans


def build_encoder(config: SarossNetConfig) -> MambaVisionEncoder | ResNetEncoder:
    """Build the encoder a config asks for; it exposes ``out_channels`` and returns maps at strides 4-32."""
    if config.encoder == "resnet":
        return build_resnet(config.variant, in_chans=config.in_chans, **config.encoder_options)
    return build_mambavision(config.variant, in_chans=config.in_chans, **config.encoder_options)


class ConvDecoderBlock(nn.Sequential):
    """conv3×3-BN-ReLU twice (a "CD" box of the paper's figure)."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__(
            nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
        )


class NestedDecoder(nn.Module):
    """The nested CAFT decoder, sized from the encoder's declared ``out_channels``.

    Args:
        channels: the encoder's four map channels, each double the previous.
        skip: ``caft``, ``conv`` or ``none``.
        caft_heads: heads of the skip blocks at strides 4, 8, 16.

    Attributes:
        out_channels: channels of the stride-4 output (half the encoder's first map).
    """

    def __init__(self, channels: tuple[int, ...], skip: str = "caft", caft_heads: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        block = SKIP_BLOCKS[skip]
        self.skip_nodes = nn.ModuleDict()
        if block is not None:
            for row in range(3):
                for column in range(1, 4 - row):
                    self.skip_nodes[f"{row}_{column}"] = block(channels[row], channels[row + 1], caft_heads[row])
        self.out_channels = max(channels[0] // 2, 16)
        self.conv_decoders = nn.ModuleList(
            [
                ConvDecoderBlock(2 * channels[0], self.out_channels),
                ConvDecoderBlock(2 * channels[1], channels[0]),
                ConvDecoderBlock(2 * channels[2], channels[1]),
                ConvDecoderBlock(channels[3], channels[2]),
            ]
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Four encoder maps (strides 4-32) → the stride-4 decoder map."""
        grid = {(row, 0): feature for row, feature in enumerate(features)}
        last_in_row = {row: features[row] for row in range(4)}
        if len(self.skip_nodes):
            for column in range(1, 4):
                for row in range(4 - column):
                    node = self.skip_nodes[f"{row}_{column}"]
                    grid[row, column] = node(grid[row, column - 1], grid[row + 1, column - 1])
                    last_in_row[row] = grid[row, column]
        decoded = self.conv_decoders[3](features[3])
        for row in (2, 1, 0):
            decoded = self.conv_decoders[row](torch.cat([last_in_row[row], resize_to(decoded, last_in_row[row])], 1))
        return decoded


class SarossNet(nn.Module):
    """[input channels →] encoder → nested decoder → 1×1 head; logits ``(B, num_classes, H, W)``.

    The input is ``(B, config.input_bands, H, W)`` normalised as the model card says, with an optional
    validity mask ``valid`` of the same shape (False on nodata). Invalid pixels are set to 0 (the
    normalised mean) before anything sees them: the one nodata rule of training and detection. A model
    with ``input_features`` computes its channels from the band itself (:mod:`engine.models.inputs`).
    Any H, W works; maps are resized between rows, so odd sizes (e.g. 300×200) need no padding.
    """

    def __init__(self, config: SarossNetConfig) -> None:
        super().__init__()
        self.config = config
        self.inputs = InputFeatures(config.input_features, config.input_bright_guard) if config.input_features else None
        self.encoder = build_encoder(config)
        self.decoder = NestedDecoder(tuple(self.encoder.out_channels), config.skip, config.caft_heads)
        self.head = nn.Conv2d(self.decoder.out_channels, config.num_classes, 1)

    def encoder_input(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Return what the encoder sees: the computed channels, or the band with nodata set to 0."""
        if self.inputs is not None:
            return self.inputs(x, valid)
        return x if valid is None else x * valid.to(x.dtype)

    def encode(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Return the encoder's four maps (strides 4-32) for an input as :meth:`forward` takes it."""
        return self.encoder(self.encoder_input(x, valid))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:  # noqa: D102
        logits = self.head(self.decoder(self.encode(x, valid)))
        return resize_to(logits, x)

    def set_scan_backend(self, name: str) -> None:
        """Switch the encoder's selective-scan backend (MambaVision only; a no-op for ResNet)."""
        if isinstance(self.encoder, MambaVisionEncoder):
            self.encoder.set_scan_backend(name)


#: Named SAROSS-Net variants: each is only a set of config values (see :class:`SarossNetConfig`).
MODEL_VARIANTS: dict[str, dict[str, Any]] = {
    **{f"saross_net_{name.lower()}": {"encoder": "mambavision", "variant": name} for name in MAMBAVISION_VARIANTS},
    **{f"saross_net_{name}": {"encoder": "resnet", "variant": name} for name in RESNET_VARIANTS},
}


def model_config(name: str, **overrides: Any) -> SarossNetConfig:
    """Return the config of a named variant with overrides; unknown names raise a KeyError listing them."""
    try:
        base = MODEL_VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid models: {', '.join(MODEL_VARIANTS)}") from None
    return replace(SarossNetConfig(**base), **overrides)


def create_model(name: str = "saross_net_t", **overrides: Any) -> SarossNet:
    """Build a named SAROSS-Net variant, e.g. ``create_model("saross_net_xs", num_classes=2)``."""
    return SarossNet(model_config(name, **overrides))


def build_saross_net(config: SarossNetConfig | dict[str, Any]) -> SarossNet:
    """Build from a config or its dict form (a model card's ``build`` entry)."""
    return SarossNet(config if isinstance(config, SarossNetConfig) else SarossNetConfig.from_dict(config))
