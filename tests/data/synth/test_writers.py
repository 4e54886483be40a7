import json

import fiona
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window

from engine.classes import IGNORE_INDEX, OIL, OSD_CLASSES
from engine.data.synth import SceneConfig, simulate_scene
from engine.data.synth.writers import label_rgb, write_scene
from engine.errors import InputError, OutputError
from engine.io.raster import open_raster
from engine.preprocess import from_linear


def _read_all(path):
    with open_raster(path) as scene:
        info = scene.info
        values, valid = scene.read_sigma0(Window(0, 0, info.width, info.height))
    return info, values, valid


@pytest.mark.parametrize(
    ("units", "dtype", "tolerance_db"), [("db", "float32", 1e-4), ("db", "int16", 0.006), ("linear", "float32", 1e-4)]
)
def test_image_round_trips_through_the_engine_reader(busy_scene, tmp_path, units, dtype, tolerance_db):
    paths = write_scene(busy_scene, tmp_path, "t", units=units, dtype=dtype)
    info, values, valid = _read_all(paths["scene"])
    assert info.units == ("db" if units == "db" else "linear")
    assert info.crs.to_epsg() == busy_scene.crs_epsg and info.transform == busy_scene.transform
    assert info.pixel_size_m == (10.0, 10.0)
    np.testing.assert_array_equal(valid, busy_scene.valid)
    error = np.abs(from_linear(values[valid], "db") - from_linear(busy_scene.sigma0, "db")[busy_scene.valid])
    assert float(error.max()) < tolerance_db


def test_labels_raster_and_sidecar(busy_scene, tmp_path):
    paths = write_scene(busy_scene, tmp_path, "t", dtype="int16", command="dakd simulate ...")
    with rasterio.open(paths["labels"]) as labels:
        np.testing.assert_array_equal(labels.read(1), busy_scene.labels)
        assert labels.nodata == IGNORE_INDEX
        assert labels.colormap(1)[OIL.id][:3] == OIL.rgb
    sidecar = json.loads(paths["sidecar"].read_text())
    assert sidecar["seed"] == 5 and sidecar["simulated"] is True and sidecar["command"] == "dakd simulate ..."
    assert sidecar["label_ids"] == {"sea": 0, "oil": 1, "look-alike": 2, "ship": 3, "land": 4, "ignore": 255}
    assert sidecar["image_encoding"] == {
        "units": "db",
        "dtype": "int16",
        "scale": 0.01,
        "offset": 0.0,
        "nodata": -32768.0,
        "nodata_is_nan": False,
        "band_description": "Sigma0_VV_db",
    }
    assert sidecar["scene"]["class_pixels"] == busy_scene.params["class_pixels"]
    # The sidecar's config reproduces the scene.
    config = SceneConfig.from_dict(sidecar["config"])
    assert config == busy_scene.config
    again = simulate_scene(config, sidecar["seed"])
    assert again.sigma0.tobytes() == busy_scene.sigma0.tobytes()


def test_quicklook_shows_scene_and_labels(busy_scene, tmp_path):
    paths = write_scene(busy_scene, tmp_path, "t")
    with Image.open(paths["quicklook"]) as picture:
        assert picture.size == (2 * 384 + 8, 384)
        pixels = np.asarray(picture.convert("RGB"))
    right = pixels[:, 392:]
    # Land is drawn green-tinted on the right panel, not on the left.
    land = busy_scene.labels == 4
    assert right[land][:, 1].mean() > right[land][:, 0].mean() + 30
    assert np.all(pixels[:, :384, 0] == pixels[:, :384, 1])


def test_polygons_have_class_names(busy_scene, tmp_path):
    paths = write_scene(busy_scene, tmp_path, "t", polygons=True)
    with fiona.open(paths["polygons"], layer="labels") as layer:
        records = list(layer)
        assert layer.crs_wkt
    names = {r["properties"]["class"] for r in records}
    assert names == {"oil", "look-alike", "ship", "land"} <= {c.name for c in OSD_CLASSES}
    oil_km2 = sum(r["properties"]["area_km2"] for r in records if r["properties"]["class"] == "oil")
    assert oil_km2 == pytest.approx(np.sum(busy_scene.labels == OIL.id) * 100 / 1e6, rel=1e-6)


def test_existing_files_need_overwrite_and_stay_untouched(busy_scene, tmp_path):
    paths = write_scene(busy_scene, tmp_path, "t")
    before = paths["scene"].read_bytes()
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        write_scene(busy_scene, tmp_path, "t", units="linear")
    assert paths["scene"].read_bytes() == before
    write_scene(busy_scene, tmp_path, "t", units="linear", overwrite=True)
    assert paths["scene"].read_bytes() != before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_overwrite_removes_the_earlier_runs_extras_and_nothing_else(busy_scene, tmp_path):
    """--overwrite without --polygons left the earlier scene's polygons and quick-look beside the new scene."""
    earlier = write_scene(busy_scene, tmp_path, "t", polygons=True, quicklook=True)
    mine = tmp_path / "t_notes.gpkg"
    mine.write_text("the analyst's own file")
    paths = write_scene(busy_scene, tmp_path, "t", units="linear", quicklook=False, overwrite=True)
    assert not earlier["polygons"].exists() and not earlier["quicklook"].exists()
    assert mine.read_text() == "the analyst's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(p.name for p in paths.values()), mine.name])
    # a file of that name that no sidecar lists is not ours: kept
    (tmp_path / "t_quicklook.png").write_text("not from dakd")
    write_scene(busy_scene, tmp_path, "t", quicklook=False, overwrite=True)
    assert (tmp_path / "t_quicklook.png").read_text() == "not from dakd"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"units": "linear", "dtype": "int16"}, "not supported"), ({"name": "../x"}, "plain file-name prefix")],
)
def test_bad_encoding_or_name(busy_scene, tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        write_scene(busy_scene, tmp_path, **{"name": "t", **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_label_rgb_palette():
    rgb = label_rgb(np.array([[0, 1, 2, 3, 4, 255]], np.uint8))
    assert [tuple(v) for v in rgb[0]] == [c.rgb for c in OSD_CLASSES] + [(255, 255, 255)]


def test_label_polygon_areas_are_ground_areas_on_a_turned_grid(busy_scene):
    """Audit: on a grid that is not north up (a <= 0), every label polygon got the area of one pixel."""
    from dataclasses import replace

    from affine import Affine

    from engine.data.synth.writers import label_polygons

    north_up = {round(p["area_km2"], 4) for _, p in label_polygons(busy_scene)}
    size = busy_scene.transform.a
    turned = replace(busy_scene, transform=Affine.rotation(120) @ Affine.scale(size, -size))
    assert {round(p["area_km2"], 4) for _, p in label_polygons(turned)} == north_up
