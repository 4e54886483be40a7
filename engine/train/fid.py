"""Generation quality: FID and KID between real and generated SAR images.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to features of real and
generated images::

    FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

KID (Bińkowski et al. 2018) is the unbiased MMD² with the cubic polynomial kernel
``k(x, y) = (x·y / d + 1)^3``, averaged over random subsets (it is unbiased for small sets,
unlike FID).

Feature extractors:
    - ``inception``: Inception-v3 pool features (2048-d), the published FID's network. Its weights
      cannot be downloaded here, so they are read from a file the user has
      (``--inception-weights PATH``: the pytorch-fid ``pt_inception-2015-12-05`` file or torchvision's
      ``inception_v3_google`` file), with ``torch.load(weights_only=True)``.
    - ``sar-encoder``: without that file, the trained SAROSS-Net's encoder (last stage, global
      average pooled). Scores from it are named ``SAR-FID``/``SAR-KID`` everywhere; they rank
      generators on the same data but are **not** comparable with published FID values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.tiles import db_to_diffusion
from engine.errors import ModelError


@dataclass(frozen=True)
class FeatureExtractor:
    """A named feature function over dB images (N, H, W) -> (N, D) float64."""

    name: str
    metric_prefix: str
    features: Callable[[np.ndarray], np.ndarray]


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two (N, D) feature sets (Heusel et al. 2017, eq. 6)."""
    from scipy import linalg

    mu_r, mu_f = real.mean(axis=0), fake.mean(axis=0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    cov_r, cov_f = np.atleast_2d(cov_r), np.atleast_2d(cov_f)
    covmean, _ = linalg.sqrtm(cov_r @ cov_f, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as pytorch-fid does
        offset = np.eye(cov_r.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov_r + offset) @ (cov_f + offset))
    covmean = covmean.real
    return float(np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r) + np.trace(cov_f) - 2.0 * np.trace(covmean))


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 10, subset_size: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID mean and std over random subsets (Bińkowski et al. 2018, unbiased MMD², cubic kernel)."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 real and 2 generated images")
    dim = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        mmd = (
            (k_xx.sum() - np.trace(k_xx)) / (size * (size - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
            - 2 * k_xy.mean()
        )
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def generation_scores(real_db: np.ndarray, fake_db: np.ndarray, extractor: FeatureExtractor) -> dict[str, Any]:
    """FID and KID of generated vs real dB images, keyed with the extractor's prefix (``FID`` or ``SAR-FID``)."""
    real = extractor.features(real_db)
    fake = extractor.features(fake_db)
    kid_mean, kid_std = kernel_inception_distance(real, fake)
    prefix = extractor.metric_prefix
    return {
        f"{prefix}FID": frechet_distance(real, fake),
        f"{prefix}KID": kid_mean,
        f"{prefix}KID_std": kid_std,
        "feature_extractor": extractor.name,
        "real_images": len(real_db),
        "generated_images": len(fake_db),
    }


def score_generated_set(
    real_db: np.ndarray,
    generated: Any,
    model: nn.Module,
    spec: Any,
    inception_weights: str | Path | None = None,
    max_images: int = 2000,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """FID/KID of a generated data set against real dB tiles, with Inception or the segmenter's encoder.

    Uses at most ``max_images`` random images of each side. Generated pairs made at a crop size
    smaller than the real tiles are compared with random real crops of the same size, so image size
    does not count as a difference.

    Args:
        real_db: (N, H, W) real images in dB.
        generated: a :class:`~engine.data.generated.GeneratedSet`.
        model: the trained segmenter (its encoder is the SAR feature extractor).
        spec: the model's InputSpec (normalisation for the SAR extractor, dB range for Inception).
        inception_weights: Inception-v3 weights file; None uses the SAR encoder.
        max_images: cap per side.
        seed: picks the images.
        device: where features are computed.
    """
    from engine.data.samples import random_crop
    from engine.data.tiles import clip_standardise_db

    count = min(len(real_db), len(generated), max_images)
    if count < 2:
        return {"note": "too few images for FID/KID"}
    rng = np.random.default_rng(seed)
    fake = np.stack([generated.image_db(int(i)) for i in rng.choice(len(generated), count, replace=False)])
    real = real_db[rng.choice(len(real_db), count, replace=False)].astype(np.float32)
    if real.shape[-1] > fake.shape[-1]:
        real = np.stack([random_crop(image, [], fake.shape[-1], rng)[0] for image in real])
    if inception_weights:
        extractor = inception_extractor(inception_weights, spec.db_range, device)
    else:
        extractor = sar_encoder_extractor(model, lambda x: clip_standardise_db(x, spec), device)
    return generation_scores(real, fake, extractor)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int) -> np.ndarray:
    outputs = [fn(images[i : i + batch_size]).double().cpu().numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, 1))


def sar_encoder_extractor(
    model: nn.Module,
    normalise: Callable[[np.ndarray], np.ndarray],
    device: torch.device | str = "cpu",
    batch_size: int = 16,
) -> FeatureExtractor:
    """Features from a trained segmenter's encoder: its deepest stage, global average pooled.

    ``model.encode(x)`` (SAROSS-Net: its input channels, then the encoder) or else ``model.encoder(x)``
    must return the list of stage features; ``normalise`` maps dB images to the model's input.
    """
    encode = cast(Callable[[torch.Tensor], list[torch.Tensor]], getattr(model, "encode", None) or model.encoder)

    @torch.no_grad()
    def features(images_db: np.ndarray) -> np.ndarray:
        model.to(device).eval()
        batch = torch.from_numpy(normalise(images_db.astype(np.float32))[:, None]).to(device)
        return _batched(lambda x: encode(x)[-1].float().mean(dim=(2, 3)), batch, batch_size)

    return FeatureExtractor(
        "SAROSS-Net encoder features (SAR-FID, not comparable with Inception FID)", "SAR-", features
    )


def check_inception_weights(weights_path: str | Path | None) -> None:
    """Refuse an ``--inception-weights`` file that cannot be used up front, as :func:`inception_extractor` would.

    FID is a fine-tune's last step: a missing or wrong file was refused there, after the whole training, and
    no model card was written. Loading it once more at the end costs seconds.

    Raises:
        ModelError: the file is missing, unreadable or not Inception-v3 weights.
    """
    if weights_path:
        inception_extractor(weights_path, (-35.0, 5.0))


def inception_extractor(
    weights_path: str | Path, db_range: tuple[float, float], device: torch.device | str = "cpu", batch_size: int = 16
) -> FeatureExtractor:
    """Inception-v3 pool features from a local weights file (see the module docstring)."""
    from engine.models.checkpoint import read_state_dict

    state = read_state_dict(weights_path)
    fc = state.get("fc.weight")
    fid_variant = fc is not None and fc.shape[0] == 1008
    net = InceptionV3(fid_variant=fid_variant)
    body = {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "fc."))}
    try:
        net.load_state_dict(body, strict=True)
    except RuntimeError as error:
        raise ModelError(
            f"{weights_path}: not Inception-v3 weights ({str(error).splitlines()[0]}); give the "
            "pt_inception-2015-12-05 or inception_v3_google .pth file"
        ) from None
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    @torch.no_grad()
    def features(images_db: np.ndarray) -> np.ndarray:
        net.to(device).eval()
        unit = (torch.from_numpy(db_to_diffusion(images_db, db_range))[:, None] + 1.0) / 2.0

        def run(x: torch.Tensor) -> torch.Tensor:
            x = F.interpolate(x.to(device).repeat(1, 3, 1, 1), size=(299, 299), mode="bilinear", align_corners=False)
            x = 2.0 * x - 1.0 if fid_variant else (x - mean.to(x.device)) / std.to(x.device)
            return net(x)

        return _batched(run, unit, batch_size)

    return FeatureExtractor(f"Inception-v3 pool3 ({Path(weights_path).name})", "", features)


class BasicConv2d(nn.Sequential):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU, as in Inception-v3."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.add_module("relu", nn.ReLU(inplace=True))


def _pool(x: torch.Tensor, fid_variant: bool) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=not fid_variant)


class InceptionA(nn.Module):
    """35×35 block (Szegedy et al. 2016, fig. 5)."""

    def __init__(self, in_channels: int, pool_features: int, fid_variant: bool) -> None:
        super().__init__()
        self.fid_variant = fid_variant
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_pool(x, self.fid_variant)),
            ],
            1,
        )


class InceptionB(nn.Module):
    """35→17 reduction block."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            1,
        )


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (fig. 6)."""

    def __init__(self, in_channels: int, channels_7x7: int, fid_variant: bool) -> None:
        super().__init__()
        c7 = channels_7x7
        self.fid_variant = fid_variant
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d7 = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d7 = layer(d7)
        return torch.cat([self.branch1x1(x), b7, d7, self.branch_pool(_pool(x, self.fid_variant))], 1)


class InceptionD(nn.Module):
    """17→8 reduction block."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b7 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8×8 block with expanded filter banks (fig. 7); ``max_pool`` is the FID network's last block."""

    def __init__(self, in_channels: int, fid_variant: bool, max_pool: bool = False) -> None:
        super().__init__()
        self.fid_variant = fid_variant
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b3 = self.branch3x3_1(x)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _pool(x, self.fid_variant)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(d3),
                self.branch3x3dbl_3b(d3),
                self.branch_pool(pooled),
            ],
            1,
        )


class InceptionV3(nn.Module):
    """Inception-v3 (Szegedy et al. 2016) up to the 2048-d average pool, with torchvision's parameter names.

    ``fid_variant`` reproduces the TF graph the published FID uses (pytorch-fid): average pools
    exclude padding and the last block max-pools.
    """

    def __init__(self, fid_variant: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, 32, fid_variant)
        self.Mixed_5c = InceptionA(256, 64, fid_variant)
        self.Mixed_5d = InceptionA(288, 64, fid_variant)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, fid_variant)
        self.Mixed_6c = InceptionC(768, 160, fid_variant)
        self.Mixed_6d = InceptionC(768, 160, fid_variant)
        self.Mixed_6e = InceptionC(768, 192, fid_variant)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, fid_variant)
        self.Mixed_7c = InceptionE(2048, fid_variant, max_pool=fid_variant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 299, 299) normalised -> (N, 2048) pool features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
