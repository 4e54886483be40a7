"""Speckle by physics for generated images (issue 17): structure from diffusion, speckle drawn analytically.

A SAR-JointNet small enough for a CPU learns the mean backscatter and the labels but makes no speckle
at all: its images are smooth, and a segmenter trained on them learns a texture that real tiles never
have. Speckle needs no learning. In an L-look intensity image it is multiplicative and Gamma
distributed with unit mean and shape L, the equivalent number of looks (Sentinel-1 IW GRDH: about
4.4). So in the ``physics`` mode the generator is trained on speckle-filtered tiles (a multilook
average of intensity), the ENL is estimated from the same real tiles, and Gamma speckle with that ENL
is multiplied onto every generated image (:func:`add_speckle_db`). ``learned`` keeps the raw tiles
and whatever speckle the generator makes, for comparison.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.data.synth.sensor import speckle

#: How generated images get their speckle: drawn (``physics``) or from the generator (``learned``, before issue 17).
SPECKLE_MODES = ("physics", "learned")
#: Speckle correlation length drawn onto generated images, px: the simulator's Sentinel-1 GRDH value.
SPECKLE_CORRELATION_PX = 0.6
#: ENL used when the tiles have no homogeneous background to measure it on (IW GRDH, ESA's product spec).
GRDH_ENL = 4.4


def estimate_enl(images_db: np.ndarray, mask: np.ndarray, block: int = 8) -> float | None:
    """Equivalent number of looks: the median of mean² / variance of intensity over ``block``² windows in ``mask``.

    On homogeneous sea, multiplicative Gamma(L) speckle gives mean² / var = L; a speckle-free image
    gives a very large value. None when no window lies wholly inside ``mask`` (N, H, W).
    """
    values = []
    for stored, inside in zip(images_db, mask):  # one image at a time: a float16 tile set is never copied whole
        image = np.asarray(stored, np.float32)
        height, width = (s - s % block for s in image.shape)
        if height == 0 or width == 0:
            continue
        power = np.power(10.0, image[:height, :width] / 10.0).reshape(height // block, block, width // block, block)
        full = inside[:height, :width].reshape(height // block, block, width // block, block).all(axis=(1, 3))
        windows = power.transpose(0, 2, 1, 3)[full].reshape(-1, block * block)
        variance = windows.var(axis=1)
        usable = variance > 0
        values.append(windows.mean(axis=1)[usable] ** 2 / variance[usable])
    joined = np.concatenate(values) if values else np.zeros(0)
    return float(np.median(joined)) if joined.size else None


def despeckle_db(image_db: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """Return a ``size``² multilook average of intensity over valid pixels (nodata neither read nor changed), in dB."""
    power = np.where(valid, np.power(10.0, image_db.astype(np.float32) / 10.0), 0.0)
    weight = ndimage.uniform_filter(valid.astype(np.float32), size=size, mode="reflect")
    mean = ndimage.uniform_filter(power, size=size, mode="reflect") / np.maximum(weight, 1e-6)
    filtered = (10.0 * np.log10(np.maximum(mean, 1e-10))).astype(np.float32)
    return np.where(valid, filtered, image_db).astype(np.float32)


def add_speckle_db(images_db: np.ndarray, enl: float, correlation_px: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply unit-mean Gamma(``enl``) speckle onto images (…, H, W) in dB (one independent field per image)."""
    images = np.asarray(images_db, np.float32)
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.stack(
        [image + 10.0 * np.log10(np.maximum(speckle(image.shape, enl, correlation_px, rng), 1e-10)) for image in flat]
    )
    return out.reshape(images.shape).astype(np.float32)
