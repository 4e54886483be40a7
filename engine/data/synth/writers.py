"""Write a simulated scene: image GeoTIFF, label GeoTIFF, JSON sidecar, quick-look PNG, label polygons.

Files for ``name`` in ``out_dir`` (all written to temporaries and renamed only when every one is
complete, through :mod:`engine.io.atomic`):

- ``<name>_scene.tif``: σ0 VV, UTM, 10 m, DEFLATE-compressed, band description ``Sigma0_VV_db``
  (dB) or ``Sigma0_VV`` (linear) and a matching band unit, so :func:`engine.io.raster.open_raster`
  recognises the units. Encodings (``units``/``dtype``):

  ====== ======= ======================================================= ================
  units  dtype   stored value                                            nodata
  ====== ======= ======================================================= ================
  db     float32 σ0 in dB                                                NaN
  db     int16   round(100·dB), GDAL scale 0.01 / offset 0 (0.01 dB)     -32768
  linear float32 σ0 power                                                0
  ====== ======= ======================================================= ================

- ``<name>_labels.tif``: uint8 OSD ids with the OSD colour table; 255 = nodata/ignore (declared as
  the band's nodata value).
- ``<name>_scene.json``: the sidecar: seed, config, every drawn parameter, class pixel counts,
  encodings and file names; ``dakd simulate --config`` accepts its ``config`` part back.
- ``<name>_quicklook.png``: the scene in dB (2-98 % stretch) beside the same picture with the labels
  overlaid in the OSD colours (white = ignore/nodata).
- ``<name>_labels.gpkg`` (optional): one polygon per connected region of oil, look-alike, ship and
  land, layer ``labels``, fields ``class`` (name from :mod:`engine.classes`), ``class_id``,
  ``area_km2``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import fiona
import numpy as np
import rasterio
from PIL import Image
from rasterio import features
from rasterio.crs import CRS
from shapely.geometry import mapping, shape

from engine.classes import IGNORE_INDEX, LAND, LOOKALIKE, OIL, OSD_CLASSES, SHIP
from engine.data.synth.scene import SimulatedScene
from engine.errors import InputError, OutputError
from engine.io.atomic import Inputs, atomic_file, check_output_files
from engine.preprocess import from_linear
from engine.quicklook import QuicklookCanvas, stretch_db

#: Scale of the Int16 dB encoding (hundredths of dB).
INT16_DB_SCALE = 0.01
INT16_NODATA = -32768
#: Classes written as polygons (sea is the background).
POLYGON_CLASSES = (OIL, LOOKALIKE, SHIP, LAND)
LABELS_LAYER = "labels"
#: Colour of ignore/nodata pixels in quick-looks and RGB labels (the OSD loader reads white as ignore).
IGNORE_RGB = (255, 255, 255)
#: Longest side of the quick-look panels.
QUICKLOOK_PANEL_PX = 1024
ENCODINGS = {("db", "float32"), ("db", "int16"), ("linear", "float32")}


def output_paths(
    out_dir: str | os.PathLike[str], name: str, polygons: bool = False, quicklook: bool = True
) -> dict[str, Path]:
    """Return the files :func:`write_scene` writes (keys: scene, labels, sidecar, quicklook, polygons)."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise InputError(f"--name {name!r} must be a plain file-name prefix (no folders, not starting with '.')")
    folder = Path(out_dir)
    paths = {
        "scene": folder / f"{name}_scene.tif",
        "labels": folder / f"{name}_labels.tif",
        "sidecar": folder / f"{name}_scene.json",
    }
    if quicklook:
        paths["quicklook"] = folder / f"{name}_quicklook.png"
    if polygons:
        paths["polygons"] = folder / f"{name}_labels.gpkg"
    return paths


def check_outputs(paths: dict[str, Path], overwrite: bool, inputs: Inputs = ()) -> None:
    """Fail early (before simulating) if a file exists without ``overwrite``, may not be replaced or cannot be made.

    Args:
        paths: from :func:`output_paths`.
        overwrite: existing files may be replaced.
        inputs: what the run read (``--config``): never replaced (see :func:`engine.io.atomic.check_replaceable`).

    Raises:
        OutputError: naming the first file or folder that is in the way.
    """
    check_output_files(paths.values(), inputs, overwrite, option="--out/--name")


def write_scene(
    scene: SimulatedScene,
    out_dir: str | os.PathLike[str],
    name: str = "sim",
    units: str = "db",
    dtype: str = "float32",
    polygons: bool = False,
    quicklook: bool = True,
    overwrite: bool = False,
    command: str | None = None,
) -> dict[str, Path]:
    """Write the scene's files into ``out_dir`` (created if missing); returns their paths.

    Args:
        scene: from :func:`engine.data.synth.simulate_scene`.
        out_dir: output folder.
        name: file-name prefix.
        units: ``db`` or ``linear``.
        dtype: ``float32``, or ``int16`` (dB only; hundredths of dB, the compact form of the sample).
        polygons: also write the label polygons GeoPackage.
        quicklook: also write the quick-look PNG.
        overwrite: replace existing files of the same names.
        command: the command line that made the scene, recorded in the sidecar.

    Raises:
        InputError: a bad encoding or name.
        OutputError: a file exists without ``overwrite``, or the folder cannot be written.
    """
    if (units, dtype) not in ENCODINGS:
        raise InputError(
            f"--units {units} with --dtype {dtype} is not supported; use db/float32, db/int16 or linear/float32"
        )
    paths = output_paths(out_dir, name, polygons, quicklook)
    check_outputs(paths, overwrite)
    stale = earlier_extras(paths["sidecar"], output_paths(out_dir, name, True, True), paths) if overwrite else []
    with contextlib.ExitStack() as stack:
        tmp = {key: stack.enter_context(atomic_file(path, overwrite=True)) for key, path in paths.items()}
        encoding = _write_image(scene, tmp["scene"], units, dtype)
        _write_labels(scene, tmp["labels"])
        if quicklook:
            write_quicklook(scene, tmp["quicklook"])
        polygon_count = _write_polygons(scene, tmp["polygons"]) if polygons else None
        sidecar = sidecar_dict(scene, {k: p.name for k, p in paths.items()}, encoding, command)
        if polygon_count is not None:
            sidecar["files"]["polygon_count"] = polygon_count
        tmp["sidecar"].write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    for path in stale:  # after the new scene is complete: a failed run keeps the earlier one whole
        path.unlink(missing_ok=True)
    return paths


def earlier_extras(sidecar: Path, possible: dict[str, Path], writing: dict[str, Path]) -> list[Path]:
    """Files an earlier ``dakd simulate`` wrote under this name that this run will not replace.

    Without them gone, ``--overwrite`` left the earlier scene's polygons or quick-look beside the new scene,
    describing another scene. Only files the earlier sidecar lists are returned: we wrote those.
    """
    try:
        listed = json.loads(sidecar.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return []
    names = {value for value in listed.values() if isinstance(value, str)} if isinstance(listed, dict) else set()
    return [path for key, path in possible.items() if key not in writing and path.name in names and path.is_file()]


def sidecar_dict(
    scene: SimulatedScene, files: dict[str, Any], encoding: dict[str, Any], command: str | None
) -> dict[str, Any]:
    """Build the JSON sidecar: how to reproduce the scene and what is in it."""
    return {
        "generator": "dakd simulate (engine.data.synth)",
        "simulated": True,
        "command": command,
        "seed": scene.seed,
        "crs": f"EPSG:{scene.crs_epsg}",
        "transform": list(scene.transform)[:6],
        "width_px": int(scene.sigma0.shape[1]),
        "height_px": int(scene.sigma0.shape[0]),
        "image_encoding": encoding,
        "label_ids": {c.name: c.id for c in OSD_CLASSES} | {"ignore": IGNORE_INDEX},
        "files": dict(files),
        "config": scene.config.to_dict(),
        "scene": scene.params,
    }


def _profile(scene: SimulatedScene, dtype: str, nodata: float | None) -> dict[str, Any]:
    height, width = scene.sigma0.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": dtype,
        "crs": CRS.from_epsg(scene.crs_epsg),
        "transform": scene.transform,
        "compress": "deflate",
        "nodata": nodata,
    }
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def _write_image(scene: SimulatedScene, path: Path, units: str, dtype: str) -> dict[str, Any]:
    """Write σ0 in the chosen encoding; returns the encoding facts for the sidecar."""
    valid = scene.valid
    if units == "linear":
        data, nodata, scale, unit, band_name = (
            np.where(valid, scene.sigma0, 0.0).astype(np.float32),
            0.0,
            1.0,
            "linear",
            "Sigma0_VV",
        )
        predictor = 3
    else:
        db = from_linear(scene.sigma0, "db")
        band_name, unit = "Sigma0_VV_db", "dB"
        if dtype == "int16":
            hundredths = np.clip(np.rint(db / INT16_DB_SCALE), INT16_NODATA + 1, 32767)
            data = np.where(valid, hundredths, INT16_NODATA).astype(np.int16)
            nodata, scale, predictor = float(INT16_NODATA), INT16_DB_SCALE, 2
        else:
            data = np.where(valid, db, np.nan).astype(np.float32)
            nodata, scale, predictor = float("nan"), 1.0, 3
    profile = _profile(scene, dtype, nodata)
    profile["predictor"] = predictor
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, band_name)
        dst.set_band_unit(1, unit)
        if scale != 1.0:
            dst.scales = (scale,)
            dst.offsets = (0.0,)
        dst.update_tags(
            DAKD_SIMULATED="yes",
            DAKD_SEED=str(scene.seed),
            UNITS=units,
            POLARISATION="VV",
            SIMULATOR_VERSION=str(scene.params.get("simulator_version")),
        )
    return {
        "units": units,
        "dtype": dtype,
        "scale": scale,
        "offset": 0.0,
        "nodata": None if np.isnan(nodata) else nodata,
        "nodata_is_nan": bool(np.isnan(nodata)),
        "band_description": band_name,
    }


def _write_labels(scene: SimulatedScene, path: Path) -> None:
    profile = _profile(scene, "uint8", float(IGNORE_INDEX))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene.labels, 1)
        dst.set_band_description(1, "osd_class")
        colormap = {c.id: c.rgb + (255,) for c in OSD_CLASSES}
        colormap[IGNORE_INDEX] = IGNORE_RGB + (255,)
        dst.write_colormap(1, colormap)
        dst.update_tags(
            DAKD_SIMULATED="yes",
            **{f"CLASS_{c.id}": c.name for c in OSD_CLASSES},
            **{f"CLASS_{IGNORE_INDEX}": "ignore"},
        )


def label_rgb(labels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 picture of OSD ids in the OSD colours; ignore/unknown ids are white."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:] = IGNORE_RGB
    for seg_class in OSD_CLASSES:
        palette[seg_class.id] = seg_class.rgb
    return palette[labels]


def write_quicklook(scene: SimulatedScene, path: Path, max_px: int = QUICKLOOK_PANEL_PX) -> tuple[int, int]:
    """Scene (dB, 2-98 % stretch) and labels-over-scene side by side; returns the PNG size."""
    height, width = scene.sigma0.shape
    canvas = QuicklookCanvas(height, width, max_px)
    canvas.add(0, 0, scene.sigma0, scene.valid)
    stretched, finite = stretch_db(canvas.background())
    grey = (stretched * 255).astype(np.uint8)
    grey[~finite] = 0
    f = canvas.factor
    labels = scene.labels[f // 2 :: f, f // 2 :: f][: grey.shape[0], : grey.shape[1]]
    labels = np.pad(labels, ((0, grey.shape[0] - labels.shape[0]), (0, grey.shape[1] - labels.shape[1])), mode="edge")
    grey_rgb = np.repeat(grey[..., None], 3, axis=2)
    overlay = grey_rgb.copy()
    coloured = labels != 0
    overlay[coloured] = (0.35 * grey_rgb[coloured] + 0.65 * label_rgb(labels)[coloured]).astype(np.uint8)
    gap = np.full((grey.shape[0], 8, 3), 255, dtype=np.uint8)
    picture = np.concatenate([grey_rgb, gap, overlay], axis=1)
    Image.fromarray(picture, "RGB").save(path, format="PNG", optimize=True)
    return picture.shape[1], picture.shape[0]


def label_polygons(scene: SimulatedScene) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(GeoJSON-like geometry in the scene CRS, properties) for each connected non-sea region."""
    mask = np.isin(scene.labels, [c.id for c in POLYGON_CLASSES])
    names = {c.id: c.name for c in POLYGON_CLASSES}
    records = []
    for geometry, value in features.shapes(scene.labels, mask=mask, connectivity=8, transform=scene.transform):
        class_id = int(value)
        # The outline in UTM metres: its area is the pixels' |a*e - b*d| for any grid, north-up or not. (A fallback
        # of |a*e| per polygon, taken where a <= 0, gave a whole slick the area of one pixel.)
        area_km2 = shape(geometry).area / 1e6
        records.append((geometry, {"class": names[class_id], "class_id": class_id, "area_km2": round(area_km2, 6)}))
    return records


def _write_polygons(scene: SimulatedScene, path: Path) -> int:
    schema = {"geometry": "Polygon", "properties": {"class": "str:16", "class_id": "int", "area_km2": "float"}}
    records = label_polygons(scene)
    try:
        with fiona.open(
            path, "w", driver="GPKG", layer=LABELS_LAYER, schema=schema, crs_wkt=CRS.from_epsg(scene.crs_epsg).to_wkt()
        ) as sink:
            sink.writerecords({"geometry": mapping(shape(g)), "properties": p} for g, p in records)
    except fiona.errors.FionaError as error:  # pragma: no cover - disk full and the like
        raise OutputError(f"cannot write {path.name}: {error}") from error
    return len(records)
