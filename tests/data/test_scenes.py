from pathlib import Path

import numpy as np
import pytest

from engine.classes import IGNORE_INDEX
from engine.data.scenes import LabelledScene, LabelSpec, load_labelled_scenes, parse_class_map
from engine.errors import InputError

from .conftest import pixel_box, write_polygons, write_scene


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_scene(tmp_path / "scene.tif", size=128, nodata_cols=8)


def test_polygons_in_another_crs_are_reprojected(scene: Path, tmp_path: Path) -> None:
    labels = write_polygons(
        tmp_path / "labels.gpkg", [(pixel_box(20, 40, 60, 100), "oil"), (pixel_box(100, 100, 110, 110), "unsure")]
    )
    spec = LabelSpec(class_field="class", class_map={"unsure": "ignore"})
    tiles = load_labelled_scenes(
        [LabelledScene(str(scene), label_vector=str(labels), units="linear")], spec, db_floor=-35.0, tile_px=64
    )
    assert len(tiles) == 4
    mosaic = np.zeros((128, 128), np.uint8)
    for (row, col), tile in zip(tiles.origins, tiles.labels):
        mosaic[row : row + 64, col : col + 64] = tile
    assert (mosaic[21:59, 41:99] == 1).all()  # interior of the oil polygon (edges may shift half a pixel)
    assert (mosaic[101:109, 101:109] == IGNORE_INDEX).all()  # "unsure" mapped to ignore
    assert (mosaic[:, :8] == IGNORE_INDEX).all()  # nodata columns
    assert mosaic[80, 30] == 0  # background is sea
    image = tiles.images_db[0].astype(np.float32)
    assert abs(image[40, 20] - (-20)) < 3 and image[30, 50] < -27


def test_label_errors(scene: Path, tmp_path: Path) -> None:
    spec = LabelSpec()
    unknown = write_polygons(tmp_path / "unknown.gpkg", [(pixel_box(0, 0, 10, 10), "tanker")])
    with pytest.raises(InputError, match="unknown class values tanker.*--class-map"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(unknown))], spec, -35.0, 64)
    blank_items = [(pixel_box(0, 0, 10, 10), "oil"), (pixel_box(20, 20, 30, 30), None)]  # one class left empty
    blank = write_polygons(tmp_path / "blank.gpkg", blank_items)
    with pytest.raises(InputError, match=r"values \(no value\) in field 'class'.*--class-map =ignore for polygons"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(blank))], spec, -35.0, 64)
    ignored = LabelSpec(class_map=parse_class_map(["=ignore"]))  # what the plugin passes for "(no value)"
    assert load_labelled_scenes([LabelledScene(str(scene), label_vector=str(blank))], ignored, -35.0, 64)
    far = write_polygons(tmp_path / "far.gpkg", [(pixel_box(5000, 5000, 5010, 5010), "oil")])
    with pytest.raises(InputError, match="no label polygon lies inside"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(far))], spec, -35.0, 64)
    empty = write_polygons(tmp_path / "empty.gpkg", [])
    with pytest.raises(InputError, match="has no polygons"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(empty))], spec, -35.0, 64)
    wrong_field = write_polygons(tmp_path / "field.gpkg", [(pixel_box(0, 0, 10, 10), "oil")], field="kind")
    with pytest.raises(InputError, match="no field 'class'.*--class-field"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(wrong_field))], spec, -35.0, 64)
    with pytest.raises(InputError, match="VALUE=CLASS"):
        parse_class_map(["oil"])


def test_points_or_lines_are_refused_and_skipped_beside_polygons(
    scene: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A point burns one pixel and the background the rest: spills under it would be trained as sea."""
    from shapely.geometry import LineString, Point

    from .conftest import SCENE_ORIGIN

    x0, y0 = SCENE_ORIGIN
    point, line = Point(x0 + 705, y0 - 405), LineString([(x0 + 405, y0 - 205), (x0 + 995, y0 - 595)])
    points = write_polygons(tmp_path / "points.gpkg", [(point, "oil")], geometry_type="Point")
    with pytest.raises(InputError, match=r"points.gpkg: holds Point geometries; label polygons are needed"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(points))], LabelSpec(), -35.0, 64)
    lines = write_polygons(tmp_path / "lines.gpkg", [(line, "oil"), (point, "oil")], geometry_type="Unknown")
    with pytest.raises(InputError, match=r"lines.gpkg: holds LineString, Point geometries; label polygons"):
        load_labelled_scenes([LabelledScene(str(scene), label_vector=str(lines))], LabelSpec(), -35.0, 64)
    mixed_items = [(pixel_box(20, 40, 60, 100), "oil"), (point, "ship"), (line, "look-alike")]
    mixed = write_polygons(tmp_path / "mixed.gpkg", mixed_items, geometry_type="Unknown")
    tiles = load_labelled_scenes(
        [LabelledScene(str(scene), label_vector=str(mixed), units="linear")], LabelSpec(), -35.0, 64
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{mixed}: 2 of 3 label features are not polygons (LineString, Point) and are skipped; "
        "only polygons label areas"
    ]
    counts = tiles.class_pixel_counts()
    assert counts["ship"] == 0 and counts["look-alike"] == 0 and counts["oil"] > 30 * 50  # the polygon alone


def test_label_raster(scene: Path, tmp_path: Path) -> None:
    import rasterio

    with rasterio.open(scene) as source:
        profile = dict(source.profile, dtype="uint8", nodata=None)
    ids = np.zeros((128, 128), np.uint8)
    ids[20:60, 40:100] = 1
    ids[0:4, 0:4] = 9
    with rasterio.open(tmp_path / "labels.tif", "w", **profile) as sink:
        sink.write(ids, 1)
    with pytest.raises(InputError, match=r"label values \[9\]"):
        load_labelled_scenes(
            [LabelledScene(str(scene), label_raster=str(tmp_path / "labels.tif"))], LabelSpec(), -35.0, 64
        )
    ids[0:4, 0:4] = IGNORE_INDEX
    with rasterio.open(tmp_path / "labels.tif", "w", **profile) as sink:
        sink.write(ids, 1)
    tiles = load_labelled_scenes(
        [LabelledScene(str(scene), label_raster=str(tmp_path / "labels.tif"))], LabelSpec(), -35.0, 64
    )
    assert tiles.labels[0][30, 50] == 1 and tiles.class_pixel_counts()["oil"] == 40 * 60


def test_label_raster_on_another_grid_is_warped(scene: Path, tmp_path: Path) -> None:
    """Labels at half the resolution (one label pixel = 2x2 scene pixels) land on the scene's grid."""
    import rasterio
    from rasterio.transform import Affine

    with rasterio.open(scene) as source:
        profile = dict(
            source.profile,
            dtype="uint8",
            nodata=None,
            width=64,
            height=64,
            transform=source.transform * Affine.scale(2),
        )
    ids = np.zeros((64, 64), np.uint8)
    ids[10:30, 20:50] = 1  # scene rows 20-60, columns 40-100
    with rasterio.open(tmp_path / "coarse.tif", "w", **profile) as sink:
        sink.write(ids, 1)
    tiles = load_labelled_scenes(
        [LabelledScene(str(scene), label_raster=str(tmp_path / "coarse.tif"))], LabelSpec(), -35.0, 64
    )
    mosaic = np.zeros((128, 128), np.uint8)
    for (row, col), tile in zip(tiles.origins, tiles.labels):
        mosaic[row : row + 64, col : col + 64] = tile
    assert (mosaic[20:60, 40:100] == 1).all() and mosaic[10, 30] == 0 and mosaic[70, 110] == 0
    assert tiles.class_pixel_counts()["oil"] == 40 * 60


def test_labels_are_read_without_deprecated_calls(scene: Path, tmp_path: Path) -> None:
    """rasterio's window helpers multiply transforms with ``*``, which affine warns against: label polygons and a
    label raster on another grid said "PendingDeprecationWarning: Use `@` matmul..." at every window, wherever Python
    shows warnings (``-W default``, a test run). The engine computes the windows' transforms with ``@``."""
    import warnings

    import rasterio
    from affine import Affine

    polygons = write_polygons(tmp_path / "labels.gpkg", [(pixel_box(20, 40, 60, 100), "oil")])
    with rasterio.open(scene) as source:
        profile = dict(source.profile, dtype="uint8", nodata=None, width=64, height=64)
        profile["transform"] = source.transform @ Affine.scale(2)
    ids = np.zeros((64, 64), np.uint8)
    ids[10:30, 20:50] = 1  # scene rows 20-60, columns 40-100, as the polygon
    with rasterio.open(tmp_path / "coarse.tif", "w", **profile) as sink:
        sink.write(ids, 1)
    for labels in (dict(label_vector=str(polygons)), dict(label_raster=str(tmp_path / "coarse.tif"))):
        with warnings.catch_warnings():
            warnings.simplefilter("error", PendingDeprecationWarning)
            tiles = load_labelled_scenes([LabelledScene(str(scene), units="linear", **labels)], LabelSpec(), -35.0, 64)
        mosaic = mosaic_of(tiles)
        assert (mosaic[21:59, 41:99] == 1).all() and mosaic[10, 30] == 0 and mosaic[70, 110] == 0


def mosaic_of(tiles, size: int = 128) -> np.ndarray:
    mosaic = np.full((size, size), IGNORE_INDEX, np.uint8)
    for (row, col), tile in zip(tiles.origins, tiles.labels):
        mosaic[row : row + tile.shape[0], col : col + tile.shape[1]] = tile
    return mosaic


def test_oil_only_polygons_with_background_not_oil(scene: Path, tmp_path: Path) -> None:
    """Outside the oil polygons the labels say only "not oil"; so does a polygon of class "background"."""
    from engine.classes import NOT_OIL_INDEX

    labels = write_polygons(
        tmp_path / "oil.gpkg",
        [
            (pixel_box(20, 40, 60, 100), "oil"),
            (pixel_box(90, 90, 100, 100), "background"),
            (pixel_box(100, 20, 110, 30), "look-alike"),
        ],
    )
    scenes = [LabelledScene(str(scene), label_vector=str(labels), units="linear")]
    tiles = load_labelled_scenes(scenes, LabelSpec(background="not-oil"), db_floor=-35.0, tile_px=64)
    mosaic = mosaic_of(tiles)
    assert (mosaic[21:59, 41:99] == 1).all()
    assert mosaic[80, 30] == NOT_OIL_INDEX and mosaic[95, 95] == NOT_OIL_INDEX
    assert (mosaic[101:109, 21:29] == 2).all()  # other classes outlined stay exact
    assert (mosaic[:, :8] == IGNORE_INDEX).all()  # nodata stays ignored
    assert not (mosaic == 0).any()  # nothing is called sea
    assert tiles.class_pixel_counts()["not oil"] > 0
    # with the default background the same polygons say sea, as before
    assert mosaic_of(load_labelled_scenes(scenes, LabelSpec(), db_floor=-35.0, tile_px=64))[80, 30] == 0


def test_binary_label_raster_with_background_not_oil(scene: Path, tmp_path: Path) -> None:
    import rasterio

    from engine.classes import NOT_OIL_INDEX

    with rasterio.open(scene) as source:
        profile = dict(source.profile, dtype="uint8", nodata=None)
    mask = np.zeros((128, 128), np.uint8)
    mask[20:60, 40:100] = 1
    with rasterio.open(tmp_path / "mask.tif", "w", **profile) as sink:
        sink.write(mask, 1)
    scenes = [LabelledScene(str(scene), label_raster=str(tmp_path / "mask.tif"))]
    mosaic = mosaic_of(load_labelled_scenes(scenes, LabelSpec(background="not-oil"), -35.0, 64))
    assert (mosaic[20:60, 40:100] == 1).all()
    assert mosaic[80, 30] == NOT_OIL_INDEX and not (mosaic == 0).any()


def write_layer(path: Path, layer: str, items: list[tuple[object, object]], kind: str = "str") -> Path:
    """Add a layer of (UTM geometry, class value) items to a GeoPackage (``kind``: the class field's type)."""
    import fiona
    from shapely.geometry import mapping

    from .conftest import SCENE_CRS

    geometry = "Polygon" if items and items[0][0] is not None else "None"
    schema = {"geometry": geometry, "properties": {"class": kind}}
    with fiona.open(path, "w", driver="GPKG", crs=SCENE_CRS, schema=schema, layer=layer) as sink:
        for shape, value in items:
            sink.write({"geometry": mapping(shape) if shape is not None else None, "properties": {"class": value}})
    return path


def test_geopackage_with_several_layers_needs_the_layer_named(scene: Path, tmp_path: Path) -> None:
    """fiona reads the first layer when none is named: an area-of-interest layer before the labels was trained on."""
    path = tmp_path / "project.gpkg"
    write_layer(path, "aoi", [(pixel_box(0, 0, 128, 128), "sea")])
    write_layer(path, "labels", [(pixel_box(20, 40, 60, 100), "oil")])

    def oil_pixels(layer: str | None) -> int:
        scenes = [LabelledScene(str(scene), label_vector=str(path), layer=layer, units="linear")]
        return load_labelled_scenes(scenes, LabelSpec(), -35.0, 64).class_pixel_counts()["oil"]

    with pytest.raises(InputError, match=r"project.gpkg: holds 2 layers \(aoi, labels\); pass --layer NAME"):
        oil_pixels(None)
    with pytest.raises(InputError, match=r"project.gpkg: no layer 'spills' \(layers: aoi, labels\); pass --layer"):
        oil_pixels("spills")
    assert oil_pixels("labels") > 30 * 50
    styled = tmp_path / "styled.gpkg"  # one polygon layer beside a table without geometries (QGIS's layer_styles)
    write_layer(styled, "labels", [(pixel_box(20, 40, 60, 100), "oil")])
    write_layer(styled, "layer_styles", [(None, "style")])
    scenes = [LabelledScene(str(scene), label_vector=str(styled), units="linear")]
    assert load_labelled_scenes(scenes, LabelSpec(), -35.0, 64).class_pixel_counts()["oil"] > 30 * 50


def test_class_ids_stored_as_decimal_numbers(scene: Path, tmp_path: Path) -> None:
    """A "Real" class field holds 1.0 for oil: it is class id 1, and ``--class-map 7=...`` maps 7.0."""
    path = write_layer(
        tmp_path / "ids.gpkg", "ids", [(pixel_box(20, 40, 60, 100), 1.0), (pixel_box(100, 20, 110, 30), 7.0)], "float"
    )
    spec = LabelSpec(class_map={"7": "look-alike"})
    mosaic = mosaic_of(load_labelled_scenes([LabelledScene(str(scene), label_vector=str(path))], spec, -35.0, 64))
    assert (mosaic[21:59, 41:99] == 1).all() and (mosaic[101:109, 21:29] == 2).all()


def write_label_raster(scene: Path, path: Path, ids: np.ndarray, scale: int = 1, **profile: object) -> Path:
    """Write ``ids`` as a label raster on the scene's grid, or on one ``scale`` times coarser."""
    import rasterio
    from affine import Affine

    with rasterio.open(scene) as source:
        settings = dict(source.profile, dtype=ids.dtype.name, nodata=None, width=ids.shape[1], height=ids.shape[0])
        settings["transform"] = source.transform @ Affine.scale(scale)
    settings.update(profile)
    with rasterio.open(path, "w", **settings) as sink:
        sink.write(ids, 1)
    return path


def test_label_raster_nodata_of_any_type(scene: Path, tmp_path: Path) -> None:
    """A 16-bit label raster with nodata -9999 on another grid failed the warp ("internal error"), and NaN
    nodata in a float raster was refused as the value -9223372036854775808: both are ignore."""
    coarse = np.zeros((64, 64), np.int16)
    coarse[10:30, 20:50] = 1
    coarse[:, :4] = -9999
    wide = write_label_raster(scene, tmp_path / "int16.tif", coarse, scale=2, nodata=-9999)
    fine = np.zeros((128, 128), np.float32)
    fine[20:60, 40:100] = 1
    fine[:, :8] = np.nan
    floats = write_label_raster(scene, tmp_path / "float.tif", fine, nodata=float("nan"))
    for path in (wide, floats):
        mosaic = mosaic_of(
            load_labelled_scenes([LabelledScene(str(scene), label_raster=str(path))], LabelSpec(), -35.0, 64)
        )
        assert (mosaic[20:60, 40:100] == 1).all() and mosaic[80, 30] == 0 and (mosaic[:, :8] == IGNORE_INDEX).all()


def test_a_label_raster_of_fractions_is_refused_not_cut_to_class_ids(scene: Path, tmp_path: Path) -> None:
    """A float raster holding 0.5 or 1.5 (a probability map, a resampled mask) was cut to 0 and 1 without a word."""
    fractions = np.zeros((128, 128), np.float32)
    fractions[20:60, 40:100] = 1.5
    path = write_label_raster(scene, tmp_path / "fractions.tif", fractions)
    with pytest.raises(InputError, match=r"fractions.tif: holds values that are not whole numbers \(e.g. 1.5\)"):
        load_labelled_scenes([LabelledScene(str(scene), label_raster=str(path))], LabelSpec(), -35.0, 64)


def test_label_raster_of_0_and_255_is_refused_or_mapped(scene: Path, tmp_path: Path) -> None:
    """255 means ignore: a 0/255 oil mask read as all sea with the oil left out, and trained without a word."""
    from engine.classes import NOT_OIL_INDEX

    mask = np.zeros((128, 128), np.uint8)
    mask[20:60, 40:100] = 255
    path = write_label_raster(scene, tmp_path / "mask.tif", mask)
    scenes = [LabelledScene(str(scene), label_raster=str(path))]
    with pytest.raises(
        InputError, match=r"mask.tif: holds only 0 and 255.*--class-map 255=oil.*--class-map 255=ignore"
    ):
        load_labelled_scenes(scenes, LabelSpec(background="not-oil"), -35.0, 64)
    oil = mosaic_of(load_labelled_scenes(scenes, LabelSpec(class_map={"255": "oil"}, background="not-oil"), -35.0, 64))
    assert (oil[20:60, 40:100] == 1).all() and oil[80, 30] == NOT_OIL_INDEX
    ignored = mosaic_of(load_labelled_scenes(scenes, LabelSpec(class_map={"255": "ignore"}), -35.0, 64))
    assert (ignored[20:60, 40:100] == IGNORE_INDEX).all() and ignored[80, 30] == 0
    mask[mask == 255] = 7  # another value: mapped with --class-map too, or refused naming the fix
    other = [LabelledScene(str(scene), label_raster=str(write_label_raster(scene, tmp_path / "seven.tif", mask)))]
    with pytest.raises(InputError, match=r"seven.tif: label values \[7\].*--class-map VALUE=CLASS"):
        load_labelled_scenes(other, LabelSpec(), -35.0, 64)
    assert load_labelled_scenes(other, LabelSpec(class_map={"7": "oil"}), -35.0, 64).class_pixel_counts()["oil"] == 2400
    with pytest.raises(InputError, match=r"--class-map 7=tanker: no such class"):
        load_labelled_scenes(other, LabelSpec(class_map={"7": "tanker"}), -35.0, 64)


def test_label_raster_outside_the_scene_is_refused(scene: Path, tmp_path: Path) -> None:
    import rasterio
    from affine import Affine

    with rasterio.open(scene) as source:
        far = source.transform @ Affine.translation(10000, 0)
    path = write_label_raster(scene, tmp_path / "far.tif", np.ones((64, 64), np.uint8), transform=far)
    with pytest.raises(InputError, match=r"far.tif: the label raster does not overlap .*scene.tif; check"):
        load_labelled_scenes([LabelledScene(str(scene), label_raster=str(path))], LabelSpec(), -35.0, 64)
