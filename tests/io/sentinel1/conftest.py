"""Sentinel-1 GRD test products: the real metadata in ``tests/data/sentinel1`` plus generated DN.

``build_product`` copies the real ``manifest.safe`` and annotation XML (calibration, noise, RFI) of
S1B_IW_GRDH_1SDV_20211223T051122_..._5371 (see ``tests/data/sentinel1/NOTICE.md``) and writes a new
measurement TIFF beside them:

* ``full`` products keep the real XML unchanged and the real size (26102 x 16705). The TIFF is
  tiled and *sparse*: only the DN patches the tests choose are written; every other tile reads as
  DN 0 (nodata), so the file is small and fast to write.
* ``crop`` products (for end-to-end CLI runs that write a whole output) are the top-left
  2613 x 2006 pixels. Changed, and only this: ``numberOfSamples`` = 2613 and ``numberOfLines`` =
  2006 in the product annotation, and the geolocation grid keeps the 6 points with line <= 2005
  and pixel <= 2612 (its ``count`` attribute updated), because GCPs outside the image would make
  the UTM grid cover ground the raster does not. Calibration and noise XML are unchanged (vectors
  past the image edge are legal and unused).

Variants edit the copied text only where named: ``product_type`` / ``mode`` (manifest), ``ipf``
(the IPF ``version`` attributes in the manifest) and ``legacy_noise`` (the noise XML rewritten in the
IPF < 2.9 layout: ``noiseRangeVector``/``noiseRangeLut`` renamed to ``noiseVector``/``noiseLut``,
the azimuth vectors removed).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

SAFE_NAME = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
REAL_SAFE = Path(__file__).resolve().parents[2] / "data" / "sentinel1" / SAFE_NAME
STEM = "s1b-iw-grd-vv-20211223t051122-20211223t051147-030148-039993-001"
FULL_SHAPE = (16705, 26102)  # lines, pixels
CROP_SHAPE = (2006, 2613)


@dataclass(frozen=True)
class Patch:
    """DN written at (row, col) of the measurement."""

    row: int
    col: int
    dn: np.ndarray


def _smooth_field(rows: int, cols: int) -> np.ndarray:
    r, c = np.mgrid[0:rows, 0:cols]
    return (800 + 400 * np.sin(c / 37.0) * np.cos(r / 53.0)).astype(np.uint16)


def standard_patches() -> dict[str, Patch]:
    """The DN the full test product carries, by name (tests read the same dict)."""
    rng = np.random.default_rng(7)
    height, width = FULL_SHAPE
    patches = {
        # Line 1000 lies between calibration vectors at 668 and 1336, pixel 1234 between 1200 and 1240.
        "calibration": Patch(900, 1150, rng.integers(1, 3000, (500, 200), dtype=np.uint16)),
        # The IW1/IW2 azimuth-noise block boundary is between samples 8889 and 8890.
        "swath_edge": Patch(5000, 8850, rng.integers(1, 3000, (100, 100), dtype=np.uint16)),
        # A smooth field in mid-scene for warp checks.
        "smooth": Patch(8000, 12000, _smooth_field(768, 768)),
        # Low-valued "border noise" at the left edge: DN 0, then DN 5, then sea at DN 1500.
        "left_border": Patch(
            3000,
            0,
            np.concatenate([np.zeros((64, 40)), np.full((64, 80), 5), np.full((64, 480), 1500)], axis=1).astype(
                np.uint16
            ),
        ),
    }
    for name, (row, col) in {
        "corner_ul": (0, 0),
        "corner_ur": (0, width - 64),
        "corner_ll": (height - 64, 0),
        "corner_lr": (height - 64, width - 64),
    }.items():
        dn = np.full((64, 64), 300, dtype=np.uint16)
        dn[0 if row == 0 else -1, 0 if col == 0 else -1] = 4000  # the corner pixel itself is bright
        patches[name] = Patch(row, col, dn)
    return patches


def _copy_metadata(dest: Path) -> Path:
    if not REAL_SAFE.is_dir():
        raise FileNotFoundError(f"test data missing: {REAL_SAFE} (kept in the repository)")
    safe = dest / SAFE_NAME
    for source in REAL_SAFE.rglob("*"):
        if source.is_file() and source.suffix != ".tiff":
            target = safe / source.relative_to(REAL_SAFE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (safe / "measurement").mkdir(parents=True, exist_ok=True)
    return safe


def _edit(path: Path, edit) -> None:  # noqa: ANN001 - a str -> str function
    path.write_text(edit(path.read_text()))


def _legacy_noise(text: str) -> str:
    text = re.sub(r"<noiseAzimuthVectorList.*?</noiseAzimuthVectorList>", "", text, flags=re.S)
    for new, old in (
        ("noiseRangeVectorList", "noiseVectorList"),
        ("noiseRangeVector", "noiseVector"),
        ("noiseRangeLut", "noiseLut"),
    ):
        text = text.replace(f"<{new}", f"<{old}").replace(f"</{new}>", f"</{old}>")
    return text


def _crop_annotation(text: str, shape: tuple[int, int]) -> str:
    lines, samples = shape
    text = re.sub(r"<numberOfSamples>\d+</numberOfSamples>", f"<numberOfSamples>{samples}</numberOfSamples>", text)
    text = re.sub(r"<numberOfLines>\d+</numberOfLines>", f"<numberOfLines>{lines}</numberOfLines>", text)
    points = re.findall(r"<geolocationGridPoint>.*?</geolocationGridPoint>", text, flags=re.S)
    kept = [
        p
        for p in points
        if int(re.search(r"<line>(\d+)</line>", p).group(1)) < lines
        and int(re.search(r"<pixel>(\d+)</pixel>", p).group(1)) < samples
    ]
    block = "".join(kept)
    return re.sub(
        r'<geolocationGridPointList count="\d+">.*</geolocationGridPointList>',
        f'<geolocationGridPointList count="{len(kept)}">{block}</geolocationGridPointList>',
        text,
        flags=re.S,
    )


def build_product(
    dest: Path,
    patches: list[Patch],
    *,
    shape: tuple[int, int] = FULL_SHAPE,
    product_type: str = "GRD",
    mode: str = "IW",
    ipf: str | None = None,
    legacy_noise: bool = False,
) -> Path:
    """Write a test product folder under ``dest``; returns the ``.SAFE`` path (see the module docstring)."""
    safe = _copy_metadata(dest)
    manifest = safe / "manifest.safe"
    _edit(
        manifest,
        lambda t: t.replace("<s1sarl1:productType>GRD<", f"<s1sarl1:productType>{product_type}<").replace(
            "<s1sarl1:mode>IW<", f"<s1sarl1:mode>{mode}<"
        ),
    )
    if ipf is not None:
        _edit(
            manifest,
            lambda t: t.replace('name="Sentinel-1 IPF" version="003.40"', f'name="Sentinel-1 IPF" version="{ipf}"'),
        )
    if legacy_noise:
        _edit(safe / "annotation" / "calibration" / f"noise-{STEM}.xml", _legacy_noise)
    if shape != FULL_SHAPE:
        _edit(safe / "annotation" / f"{STEM}.xml", lambda t: _crop_annotation(t, shape))
    profile = dict(
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=1,
        dtype="uint16",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        SPARSE_OK="TRUE",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # like real GRD TIFFs: no geotransform
        with rasterio.open(safe / "measurement" / f"{STEM}.tiff", "w", **profile) as dst:
            for patch in patches:
                dst.write(patch.dn, 1, window=Window(patch.col, patch.row, patch.dn.shape[1], patch.dn.shape[0]))
    return safe


def zip_product(safe: Path, zip_path: Path) -> Path:
    """Zip a product folder the way the Copernicus hubs do (``<name>.SAFE/...`` at the top level)."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(safe.rglob("*")):
            if file.is_file():
                archive.write(file, f"{safe.name}/{file.relative_to(safe).as_posix()}")
    return zip_path


@pytest.fixture(scope="session")
def shared_safe() -> Path:
    """The real product folder in tests/data/sentinel1 (read it only; stub measurement)."""
    if not REAL_SAFE.is_dir():
        pytest.fail(f"test data missing: {REAL_SAFE}")
    return REAL_SAFE


@pytest.fixture(scope="session")
def full_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real XML, full size, sparse measurement with :func:`standard_patches`."""
    return build_product(tmp_path_factory.mktemp("full"), list(standard_patches().values()))


@pytest.fixture(scope="session")
def full_product_zip(full_product: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full test product zipped."""
    return zip_product(full_product, tmp_path_factory.mktemp("zip") / f"{SAFE_NAME[:-5]}.zip")


@pytest.fixture(scope="session")
def legacy_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full product rewritten as an IPF 2.84 product (range-only noise vectors, border noise)."""
    return build_product(
        tmp_path_factory.mktemp("legacy"), list(standard_patches().values()), ipf="002.84", legacy_noise=True
    )


@pytest.fixture(scope="session")
def crop_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2613 x 2006 crop with a smooth sea everywhere and a dark 'slick' (for end-to-end runs)."""
    rows, cols = CROP_SHAPE
    dn = _smooth_field(rows, cols)
    dn[:, :30] = 0  # no-data border as in real products
    dn[900:1000, 1200:1500] = 60  # a dark elongated patch
    return build_product(tmp_path_factory.mktemp("crop"), [Patch(0, 0, dn)], shape=CROP_SHAPE)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers and constants of this conftest, for tests (test modules cannot import conftest)."""
    return SimpleNamespace(
        SAFE_NAME=SAFE_NAME,
        STEM=STEM,
        FULL_SHAPE=FULL_SHAPE,
        CROP_SHAPE=CROP_SHAPE,
        Patch=Patch,
        build_product=build_product,
        zip_product=zip_product,
        standard_patches=standard_patches,
        legacy_noise=_legacy_noise,
        smooth_field=_smooth_field,
    )
