import logging
import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.windows import Window

from engine.errors import InputError
from engine.io import open_scene
from engine.io.raster import (
    ASSUMED_PIXEL_SIZE_M,
    WGS84_A_M,
    add_overviews,
    create_output_raster,
    decide_units,
    geographic_pixel_size_m,
    pixel_ground_m,
    write_raster,
)

from .conftest import UTM33, UTM_TRANSFORM, speckled_sea


def read_all(scene):
    return scene.read_sigma0(Window(0, 0, scene.info.width, scene.info.height))


def test_linear_float_is_read_as_is(linear_tif):
    with open_scene(linear_tif) as scene:
        info = scene.info
        assert (info.width, info.height, info.band) == (80, 64, 1)
        assert info.units == "linear" and "median" in info.units_reason
        assert info.pixel_size_m == (10.0, 10.0)
        assert info.crs.to_epsg() == 32633
        values, valid = read_all(scene)
    with rasterio.open(linear_tif) as ds:
        expected = ds.read(1)
    assert valid.all()
    np.testing.assert_array_equal(values, expected)


def test_db_float_is_detected_and_converted(db_tif):
    with open_scene(db_tif) as scene:
        assert scene.info.units == "db"
        values, valid = read_all(scene)
    with rasterio.open(db_tif) as ds:
        expected = 10 ** (ds.read(1) / 10)
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_int16_hundredths_of_db_with_scale_and_nodata(tmp_path):
    db = 10 * np.log10(speckled_sea(40, 50, seed=3))
    raw = np.round(db * 100).astype(np.int16)
    raw[:5] = -32768
    path = write_raster(tmp_path / "i16.tif", raw, UTM33, UTM_TRANSFORM, nodata=-32768, scale=0.01)
    with open_scene(path) as scene:
        assert scene.info.units == "db"
        values, valid = read_all(scene)
    assert not valid[:5].any() and valid[5:].all()
    assert (values[:5] == 0).all()
    np.testing.assert_allclose(values[5:], 10 ** (raw[5:] * 0.01 / 10), rtol=1e-5)


def test_uint16_is_dn_amplitude_and_squared(tmp_path):
    raw = np.arange(1, 41, dtype=np.uint16).reshape(5, 8) * 10
    path = write_raster(tmp_path / "dn.tif", raw, UTM33, UTM_TRANSFORM)
    with open_scene(path) as scene:
        assert scene.info.units == "amplitude"
        values, _ = read_all(scene)
    np.testing.assert_array_equal(values, raw.astype(np.float32) ** 2)


def test_band_unit_metadata_wins_over_statistics(tmp_path):
    # Positive values that statistics would call linear, declared dB by the band unit.
    path = write_raster(tmp_path / "unit.tif", np.full((8, 8), 0.5, np.float32), UTM33, UTM_TRANSFORM, units="dB")
    with open_scene(path) as scene:
        assert scene.info.units == "db"
        assert "band unit" in scene.info.units_reason


def test_explicit_units_override(linear_tif):
    with open_scene(linear_tif, units="intensity") as scene:
        assert scene.info.units == "intensity"
        assert scene.info.units_reason == "given with --units"


def test_multiband_picks_vv_first_and_band_by_name_or_number(tmp_path, caplog):
    data = np.stack([speckled_sea(16, 16, seed=1), speckled_sea(16, 16, seed=2) * 3])
    path = write_raster(tmp_path / "dual.tif", data, UTM33, UTM_TRANSFORM, band_names=["Sigma0_VH", "Sigma0_VV"])
    with caplog.at_level(logging.INFO, logger="dakd"), open_scene(path) as scene:
        assert scene.info.band == 2 and scene.info.band_name == "Sigma0_VV"
    assert "using band 2 (VV)" in caplog.text
    with open_scene(path, band="vh") as scene:
        assert scene.info.band == 1
    with open_scene(path, band=2) as scene:
        assert scene.info.band == 2
    with pytest.raises(InputError, match=r"no band 3; use --band 1..2 \(1=Sigma0_VH, 2=Sigma0_VV\)"):
        open_scene(path, band=3)
    with pytest.raises(InputError, match="no band has that name 'HH'"):
        open_scene(path, band="HH")


def test_geographic_pixel_size_is_metres():
    # 0.0001° pixels at 60°N: east-west ≈ 5.58 m, north-south ≈ 11.13 m (sphere values within 0.5 %).
    size_x, size_y = geographic_pixel_size_m(60.0, 0.0001, 0.0001)
    sphere_m_per_deg = 2 * math.pi * 6371008.8 / 360
    assert size_x == pytest.approx(sphere_m_per_deg * 0.0001 * 0.5, rel=5e-3)
    assert size_y == pytest.approx(sphere_m_per_deg * 0.0001, rel=5e-3)


def test_epsg4326_raster_gets_metre_pixel_size(tmp_path):
    transform = from_origin(10.0, 60.001, 0.0001, 0.0001)
    path = write_raster(tmp_path / "geo.tif", speckled_sea(20, 20), "EPSG:4326", transform)
    with open_scene(path) as scene:
        assert scene.info.is_geographic
        expected = geographic_pixel_size_m(60.0, 0.0001, 0.0001)
        assert scene.info.pixel_size_m == pytest.approx(expected, rel=1e-3)


def turned_grid(crs, size_m, degrees, shear=False):
    """A 20 x 20 px grid of ``size_m`` ground pixels turned by ``degrees`` (or, with ``shear``, rows slanted by it).

    Centred on 500 km E, 6000 km N in UTM 33N, or, in EPSG:4326, on 60° N (its degrees made metres with the
    ellipsoid's radii there, so the pixels are ``size_m`` on the ground).
    """
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    col, row = (
        ((size_m, 0.0), (size_m * s, -size_m * c)) if shear else ((size_m * c, size_m * s), (size_m * s, -size_m * c))
    )
    centre, per_m = ((500000.0, 6000000.0), (1.0, 1.0))
    if crs == "EPSG:4326":
        east_per_deg, north_per_deg = geographic_pixel_size_m(60.0, 1.0, 1.0)
        centre, per_m = (15.0, 60.0), (1 / east_per_deg, 1 / north_per_deg)
    linear = Affine(col[0] * per_m[0], row[0] * per_m[0], 0.0, col[1] * per_m[1], row[1] * per_m[1], 0.0)
    x0, y0 = linear @ (10, 10)
    return Affine.translation(centre[0] - x0, centre[1] - y0) * linear


@pytest.mark.parametrize("crs", [UTM33, "EPSG:4326"])
def test_a_rotated_grid_has_its_ground_pixel_size_and_area(tmp_path, crs):
    """b, d != 0 (a rotated GeoTIFF, the affine fit of a radar-geometry product): steps hypot(a, d), hypot(b, e).

    In EPSG:4326 hypot(a, d) mixed degrees of longitude and latitude: 10 m pixels turned by 10° at 60° N were
    9.89 x 10.44 m (a pixel of 103.2 m², background windows 1 % too wide), by 30° 9.01 x 13.22 m.
    """
    for degrees in (10.0, 30.0):
        transform = turned_grid(crs, 10.0, degrees)
        path = write_raster(tmp_path / f"turned{degrees:g}.tif", speckled_sea(20, 20), crs, transform)
        with open_scene(path) as scene:
            assert scene.info.pixel_size_m == pytest.approx((10.0, 10.0), rel=1e-6)
            assert pixel_ground_m(scene.info.crs, scene.info.transform, 10, 10)[2] == pytest.approx(100.0, rel=1e-6)


@pytest.mark.parametrize("crs", [UTM33, "EPSG:4326"])
def test_a_sheared_grid_has_the_area_of_its_parallelogram(crs):
    # Rows slanted by 30°: both steps 10 m long, the pixel 10 x 10 cos 30° = 86.6 m², not |a*e| or 10 x 10.
    size_x, size_y, area = pixel_ground_m(CRS.from_user_input(crs), turned_grid(crs, 10.0, 30.0, True), 10, 10)
    assert (size_x, size_y) == pytest.approx((10.0, 10.0), rel=1e-6)
    assert area == pytest.approx(100.0 * math.cos(math.radians(30.0)), rel=1e-6)


def mercator_pixel_size_m(lat_deg, size_crs):
    """Ground size of a Web Mercator pixel of ``size_crs`` CRS metres at ``lat_deg`` (its y step is a·dφ/cos φ)."""
    step_deg = math.degrees(size_crs / WGS84_A_M)
    return geographic_pixel_size_m(lat_deg, step_deg, step_deg * math.cos(math.radians(lat_deg)))


def test_web_mercator_pixel_size_is_measured_on_the_ground(tmp_path):
    # EPSG:3857 metres are 1/cos φ ground metres: 20 m pixels at 60°N are 10 m ones, which UTM pixels stay exactly.
    north = WGS84_A_M * math.log(math.tan(math.radians(45 + 60 / 2)))
    path = write_raster(tmp_path / "merc.tif", speckled_sea(20, 20), "EPSG:3857", from_origin(1.5e6, north, 20, 20))
    with open_scene(path) as scene:
        assert scene.info.pixel_size_m == pytest.approx(mercator_pixel_size_m(60.0, 20.0), rel=1e-3)
        assert scene.info.pixel_size_m == pytest.approx((10.0, 10.0), rel=0.01)


def test_projected_raster_outside_its_projection_keeps_its_own_pixel_size(tmp_path):
    # The centre cannot be taken to longitude/latitude: the ground check is skipped, not a traceback.
    crs = "+proj=ortho +lat_0=0 +lon_0=0 +ellps=WGS84 +units=m +no_defs"
    path = write_raster(tmp_path / "far.tif", speckled_sea(20, 20), crs, from_origin(1e8, 0, 10, 10))
    with open_scene(path) as scene:
        assert scene.info.pixel_size_m == (10.0, 10.0)


def test_no_crs_warns_and_assumes_pixel_size(tmp_path, caplog):
    path = write_raster(tmp_path / "plain.tif", speckled_sea(10, 10))
    with caplog.at_level(logging.WARNING, logger="dakd"), open_scene(path) as scene:
        assert scene.info.crs is None
        assert scene.info.pixel_size_m == (ASSUMED_PIXEL_SIZE_M, ASSUMED_PIXEL_SIZE_M)
    assert "no CRS: outputs are in pixel coordinates" in caplog.text
    with open_scene(path, pixel_size_m=20.0) as scene:
        assert scene.info.pixel_size_m == (20.0, 20.0)


def test_a_geotransform_without_crs_is_not_the_scenes_transform(tmp_path):
    """SceneInfo promises the identity without a CRS: a turned geotransform was kept and nothing placed by it."""
    path = write_raster(tmp_path / "plain.tif", speckled_sea(10, 10), None, turned_grid(UTM33, 10.0, 10.0))
    with open_scene(path) as scene:
        assert scene.info.crs is None and scene.info.transform.is_identity
        assert scene.info.pixel_size_m == (ASSUMED_PIXEL_SIZE_M, ASSUMED_PIXEL_SIZE_M)


def test_gcp_only_raster_warns_how_to_get_map_coordinates(tmp_path, caplog):
    """Not every GCP-only raster is a Sentinel-1 measurement TIFF: the warning names gdalwarp first."""
    path = write_raster(tmp_path / "gcps.tif", speckled_sea(10, 10))
    with rasterio.open(path, "r+") as dataset:
        corners = [(0, 0), (0, 10), (10, 0), (10, 10)]
        dataset.gcps = ([GroundControlPoint(r, c, 15 + c * 1e-4, 60 - r * 1e-4) for r, c in corners], "EPSG:4326")
    with caplog.at_level(logging.WARNING, logger="dakd"), open_scene(path) as scene:
        assert scene.info.crs is None and scene.info.pixel_size_m == (ASSUMED_PIXEL_SIZE_M, ASSUMED_PIXEL_SIZE_M)
    assert "has GCPs only (for map coordinates warp it with gdalwarp" in caplog.text
    assert "outputs are in pixel coordinates" in caplog.text


LOCAL_CS = 'LOCAL_CS["arbitrary",UNIT["metre",1]]'


@pytest.mark.parametrize(("crs", "kind"), [(LOCAL_CS, "an engineering coordinate system"), ("EPSG:4978", "geocentric")])
def test_a_crs_without_map_plane_is_read_as_no_crs_with_a_warning(tmp_path, caplog, crs, kind):
    """GDAL's LOCAL_CS for geokeys it cannot decode and geocentric EPSG:4978 have no unit factor or lon/lat."""
    path = write_raster(tmp_path / "odd.tif", speckled_sea(10, 10), crs, UTM_TRANSFORM)
    with caplog.at_level(logging.WARNING, logger="dakd"), open_scene(path) as scene:
        assert scene.info.crs is None and scene.info.transform.is_identity  # pixel coordinates, as the warning says
        assert scene.info.pixel_size_m == (ASSUMED_PIXEL_SIZE_M, ASSUMED_PIXEL_SIZE_M)
        assert kind in scene.info.metadata["pixel_size_warning"]
    assert f"{kind}" in caplog.text and "which is ignored: outputs are in pixel coordinates" in caplog.text
    assert "gdal_edit.py -a_srs" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dakd"):
        scene = open_scene(path, pixel_size_m=20.0, land_mask="auto")  # the default land mask must not fail
    try:
        assert scene.info.pixel_size_m == (20.0, 20.0)
        assert scene.info.metadata["land_mask"]["used"] is False
        assert "no coordinate system" in scene.info.metadata["land_mask"]["reason"]
    finally:
        scene.close()
    assert "which is ignored" in caplog.text  # the size is given, the CRS is still dropped: say so


def test_nodata_nan_inf_and_zero_borders_are_invalid(tmp_path):
    values = speckled_sea(10, 12)
    values[0, :] = 0.0  # zero border
    values[1, 1] = np.nan
    values[2, 2] = np.inf
    values[3, 3] = -9999
    path = write_raster(tmp_path / "nd.tif", values, UTM33, UTM_TRANSFORM, nodata=-9999)
    with open_scene(path) as scene:
        sigma0, valid = read_all(scene)
    invalid = {(1, 1), (2, 2), (3, 3)} | {(0, c) for c in range(12)}
    assert {tuple(p) for p in np.argwhere(~valid)} == invalid
    assert np.isfinite(sigma0).all() and (sigma0[~valid] == 0).all()


def test_zero_db_is_a_valid_value(tmp_path):
    db = np.full((6, 6), -20.0, np.float32)
    db[2, 2] = 0.0
    path = write_raster(tmp_path / "zero_db.tif", db, UTM33, UTM_TRANSFORM)
    with open_scene(path) as scene:
        sigma0, valid = read_all(scene)
    assert valid.all() and sigma0[2, 2] == pytest.approx(1.0)


def test_negative_values_with_declared_linear_units_fail(db_tif):
    with open_scene(db_tif, units="linear") as scene:
        with pytest.raises(InputError, match=r"has negative values .* but --units linear was given; .*use --units db"):
            read_all(scene)


def test_window_outside_the_scene_is_a_bug(linear_tif):
    with open_scene(linear_tif) as scene, pytest.raises(ValueError, match="outside"):
        scene.read_sigma0(Window(70, 0, 20, 10))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file; check the path"),
        (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        (lambda p: p.write_text("not a raster at all"), "not a raster GDAL can read"),
    ],
)
def test_unusable_files_are_refused(tmp_path, make, message):
    path = tmp_path / "input.tif"
    make(path)
    with pytest.raises(InputError) as error:
        open_scene(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_truncated_tiff_is_refused(tmp_path):
    good = write_raster(tmp_path / "good.tif", speckled_sea(300, 300), UTM33, UTM_TRANSFORM)
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        open_scene(truncated)


def test_rgb_picture_is_refused_unless_a_band_is_chosen(tmp_path, caplog):
    rgb = np.random.default_rng(0).integers(0, 255, (3, 20, 20), dtype=np.uint8)
    path = tmp_path / "photo.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=3, dtype="uint8", photometric="RGB") as ds:
        ds.write(rgb)
    with pytest.raises(InputError, match="8-bit RGB picture, not radar backscatter; .*or pass --band 1"):
        open_scene(path)
    with caplog.at_level(logging.WARNING, logger="dakd"), open_scene(path, band=1) as scene:
        assert scene.info.units == "db-8bit"
    assert "RGB picture; using band 1" in caplog.text


def test_uint8_is_an_8bit_picture_read_as_db_and_its_zero_is_valid(tmp_path):
    """A display export (uint8, no scale) is σ0 linear in dB over an unknown span, read as -35..5 dB like the
    data-set loaders; its 0 is the darkest grey (saturated oil), not nodata, unless the file says so."""
    raw = np.array([[0, 51, 255], [128, 0, 200]], dtype=np.uint8)
    path = write_raster(tmp_path / "picture.tif", raw, UTM33, UTM_TRANSFORM)
    with open_scene(path) as scene:
        assert scene.info.units == "db-8bit" and "8-bit picture" in scene.info.units_reason
        values, valid = read_all(scene)
    assert valid.all()
    np.testing.assert_allclose(10 * np.log10(values), -35.0 + raw / 255.0 * 40.0, atol=1e-4)
    with open_scene(write_raster(tmp_path / "bordered.tif", raw, UTM33, UTM_TRANSFORM, nodata=0)) as scene:
        assert not read_all(scene)[1][raw == 0].any()
    float_db = write_raster(tmp_path / "float.tif", np.full((4, 4), -18.0, np.float32), UTM33, UTM_TRANSFORM)
    with pytest.raises(InputError, match=r"float.tif: values from -18 to -18 are not an 8-bit picture .*--units db"):
        open_scene(float_db, units="db-8bit")  # a careless --units db-8bit on a float dB file: one line
    with pytest.raises(InputError, match=r"picture.tif: uint8 values without a scale cannot be dB .*--units db-8bit"):
        open_scene(path, units="db")  # and the reverse mistake
    labels = write_raster(tmp_path / "labels.tif", raw, UTM33, UTM_TRANSFORM)
    with rasterio.open(labels, "r+") as dataset:
        dataset.write_colormap(1, {0: (0, 0, 0, 255), 1: (0, 255, 255, 255)})
    with pytest.raises(InputError, match=r"labels.tif: band 1 has a colour table, as a class map .*give the SAR scene"):
        open_scene(labels)  # a label raster given as the scene is not taken for a picture
    declared = write_raster(tmp_path / "declared.tif", raw, UTM33, UTM_TRANSFORM, units="dB")
    with open_scene(declared) as scene:  # dB in the metadata, but uint8 without a scale: a picture of dB
        assert scene.info.units == "db-8bit"


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "complex_int16"])
def test_complex_slc_data_is_refused_not_cut_to_its_real_part(tmp_path, dtype):
    path = tmp_path / "slc.tif"
    if dtype == "complex_int16":  # GDAL's CInt16 (no numpy dtype): an SLC measurement as distributed
        with rasterio.open(
            path, "w", driver="GTiff", width=20, height=20, count=1, dtype=dtype, crs=UTM33, transform=UTM_TRANSFORM
        ):
            pass
    else:
        field = speckled_sea(20, 20) + 1j * speckled_sea(20, 20, seed=1)
        write_raster(path, field.astype(dtype), UTM33, UTM_TRANSFORM)
    with pytest.raises(InputError) as error:
        open_scene(path)
    assert str(error.value) == (
        f"{path}: band 1 holds complex values ({dtype}), as in SLC data; detect it to "
        "intensity first (|z|², e.g. SNAP Calibrate to σ0) or use the GRD product"
    )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"nodata": "abc"}, "--reader-option nodata=abc: not a number; give one, e.g. nodata=0 or nodata=nan"),
        ({"nodata": True}, "--reader-option nodata=True: not a number"),
        ({"pixel_size_m": 0}, "--reader-option pixel_size_m=0: must be a positive number, e.g. pixel_size_m=10"),
        ({"pixel_size_m": "nan"}, "--reader-option pixel_size_m=nan: must be a positive number"),
        ({"pixel_size_m": -10}, "--reader-option pixel_size_m=-10: must be a positive number"),
        ({"pixel_size_m": "inf"}, "--reader-option pixel_size_m=inf: must be a positive number"),
        ({"pixel_size_m": "ten"}, "--reader-option pixel_size_m=ten: not a number"),
        ({"pixel_size_m": 1e300}, "--reader-option pixel_size_m=1e+300: at most 1000 m"),  # was taken as it came
        ({"nodta": 0}, "--reader-option nodta: not an option for rasters; use nodata=VALUE or pixel_size_m=VALUE"),
    ],
)
def test_bad_reader_options_are_one_line_errors(linear_tif, options, message):
    with pytest.raises(InputError) as error:
        open_scene(linear_tif, **options)
    assert str(error.value).startswith(message)


def test_reader_options_given_as_text_are_numbers(tmp_path):
    values = speckled_sea(20, 20)
    values[:5] = -9999.0
    path = write_raster(tmp_path / "nodata.tif", values, UTM33, UTM_TRANSFORM)
    with open_scene(path, nodata="-9999", pixel_size_m="12.5") as scene:
        _, valid = read_all(scene)
        assert scene.info.nodata == -9999.0 and scene.info.pixel_size_m == (12.5, 12.5)
    assert not valid[:5].any() and valid[5:].all()
    with open_scene(path, nodata="nan") as scene:
        assert math.isnan(scene.info.nodata)


def test_decide_units_rules():
    assert decide_units(np.array([-20.0, -15.0, -18.0]), "float32", False, None)[0] == "db"
    assert decide_units(np.array([0.01, 0.05, 0.2]), "float32", False, None)[0] == "linear"
    assert decide_units(np.array([40.0, 80.0, 120.0]), "float32", False, None)[0] == "amplitude"
    assert decide_units(np.array([4e3, 1e4, 2e4]), "float32", False, None)[0] == "intensity"
    assert decide_units(np.array([40, 80]), "uint16", False, None)[0] == "amplitude"
    assert decide_units(np.array([40, 80]), "uint8", False, None)[0] == "db-8bit"
    assert decide_units(np.array([40, 80]), "uint8", True, None)[0] == "amplitude"  # a scale says what it is
    assert decide_units(np.array([]), "float32", False, None)[0] == "linear"
    assert decide_units(np.array([0.1]), "float32", False, ("db", "band unit is 'db'"))[0] == "db"


def test_output_raster_is_tiled_compressed_with_overviews(tmp_path, linear_tif):
    with open_scene(linear_tif) as scene:
        info = scene.info
    big = info.__class__(**{**info.__dict__, "width": 600, "height": 520})
    path = tmp_path / "out.tif"
    dataset = create_output_raster(path, big, 2, "uint8", 255, ["sea", "oil"])
    dataset.write(np.full((2, 520, 600), 7, np.uint8))
    dataset.close()
    assert add_overviews(path, "average") == [2]
    with rasterio.open(path) as ds:
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression.value == "DEFLATE"
        assert ds.descriptions == ("sea", "oil") and ds.nodata == 255
        assert ds.overviews(1) == [2]
        assert ds.crs == info.crs


@pytest.mark.parametrize("transform", [None, UTM_TRANSFORM], ids=["no-geotransform", "geotransform-without-crs"])
def test_output_raster_without_crs_has_no_geotransform(tmp_path, transform):
    """Without a CRS the polygons are at x = column, y = -row, where QGIS puts a raster without a geotransform.

    An identity geotransform put the maps upside down beside the polygons (y = +row), and a geotransform of the
    input's (without a CRS) put them kilometres away.
    """
    with open_scene(write_raster(tmp_path / "in.tif", speckled_sea(10, 12), None, transform)) as scene:
        info = scene.info
    dataset = create_output_raster(tmp_path / "out.tif", info, 1, "uint8", 255)
    dataset.write(np.zeros((1, 10, 12), np.uint8))
    dataset.close()
    with pytest.warns(NotGeoreferencedWarning, match="no geotransform"), rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.crs is None and (ds.width, ds.height) == (12, 10)


_WRITE_PAST_THE_LIMIT = """
import resource, sys
import numpy as np
from engine.io.raster import quiet_libtiff, write_raster

resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))  # writes past it fail (EFBIG) as on a full disk
if sys.argv[2] == "quiet":
    assert quiet_libtiff()
try:
    write_raster(sys.argv[1], np.random.default_rng(0).random((600, 600), dtype=np.float32))
except Exception as error:
    print(type(error).__name__)
"""


@pytest.mark.parametrize("quiet", ["quiet", "as installed"])
def test_a_failed_geotiff_write_prints_nothing_of_libtiffs_own_once_quiet(tmp_path, quiet):
    """libtiff printed "_tiffWriteProc: File too large." (or "No space left on device.") on stderr above the
    engine's one-line error: GDAL's own write procedure reports through libtiff's process-wide handler."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _WRITE_PAST_THE_LIMIT, str(tmp_path / "big.tif"), quiet],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["RasterioIOError"], done.stderr  # the write failed and rasterio says so
    if quiet == "quiet":
        assert done.stderr == ""
    else:  # what the analyst saw, so the test above tests something
        assert "_tiffWriteProc: File too large." in done.stderr
