"""GCP georeferencing: corner tie points after warping, warp vs direct sampling, source windows."""

import numpy as np
import pytest
from rasterio.warp import transform
from rasterio.windows import Window

from engine.io.sentinel1 import open_product
from engine.io.sentinel1.geocode import GCP_CRS, gcps_from_grid, utm_crs_for


def test_gcps_use_gdal_pixel_corner_convention(full_product):
    with open_product(full_product, geometry="radar") as scene:
        grid = scene.annotation.geolocation
        gcps = gcps_from_grid(grid)
    assert len(gcps) == 210
    assert (gcps[0].row, gcps[0].col) == (grid.lines[0] + 0.5, grid.pixels[0] + 0.5)
    assert (gcps[0].x, gcps[0].y) == (grid.longitudes[0], grid.latitudes[0])


def test_utm_zone_choice():
    assert utm_crs_for(15.3, 42.4).to_epsg() == 32633
    assert utm_crs_for(-70.5, -33.0).to_epsg() == 32719
    assert utm_crs_for(179.9, 10.0).to_epsg() == 32660


def lonlat_to_radar(geocoder, lons, lats):
    """Fractional radar (cols, rows) of lon/lat points (pixel-corner convention), through the geocoder's UTM."""
    east, north = transform(GCP_CRS, geocoder.utm_crs, list(lons), list(lats))
    return geocoder.map_to_radar(np.asarray(east), np.asarray(north))


def _utm_pixel_of(scene, lon, lat):
    xs, ys = transform(GCP_CRS, scene.info.crs, [lon], [lat])
    return ~scene.info.transform @ (xs[0], ys[0])


def test_corner_gcps_land_within_one_output_pixel(full_product):
    """Each image corner pixel carries a bright DN; after warping, the brightest UTM pixel is at its GCP."""
    with open_product(full_product) as scene:
        assert scene.info.crs.to_epsg() == 32633 and scene.info.pixel_size_m == (10.0, 10.0)
        height, width = scene.annotation.height, scene.annotation.width
        corners = [
            g
            for g in scene.gcps
            if (g.row - 0.5, g.col - 0.5) in {(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)}
        ]
        assert len(corners) == 4
        for gcp in corners:
            col, row = _utm_pixel_of(scene, gcp.x, gcp.y)
            left, top = max(0, int(col) - 8), max(0, int(row) - 8)
            right, bottom = min(scene.info.width, int(col) + 9), min(scene.info.height, int(row) + 9)
            values, valid = scene.read_sigma0(Window(left, top, right - left, bottom - top))
            assert valid.sum() > 20 and not valid.all()  # the image corner: ground beyond it is nodata
            r, c = np.unravel_index(np.argmax(np.where(valid, values, 0)), values.shape)
            distance_px = np.hypot(left + c + 0.5 - col, top + r + 0.5 - row)
            assert distance_px <= 1.0, (gcp.row, gcp.col, distance_px)


def test_warp_equals_sampling_the_radar_image_at_the_gcp_position(full_product):
    """On the smooth DN patch, warped σ0 = bilinear sample of radar σ0 where the GCP spline maps the pixel."""
    with open_product(full_product) as scene:
        geocoder = scene.geocoder
        lon, lat = geocoder.radar_to_lonlat(np.array([12384.5]), np.array([8384.5]))
        col, row = _utm_pixel_of(scene, lon[0], lat[0])
        window = Window(int(col) - 32, int(row) - 32, 64, 64)
        warped, valid = scene.read_sigma0(window)
        radar, radar_valid = scene.read_radar_sigma0(Window(12000, 8000, 768, 768))
        assert valid.all() and radar_valid.all()
        rows, cols = np.mgrid[0:64, 0:64]
        east, north = scene.info.transform @ (window.col_off + cols.ravel() + 0.5, window.row_off + rows.ravel() + 0.5)
        lons, lats = transform(scene.info.crs, GCP_CRS, list(east), list(north))
        src_cols, src_rows = lonlat_to_radar(geocoder, lons, lats)
    # Pixel-centre coordinates inside the patch array, then bilinear by hand.
    x = src_cols - 0.5 - 12000
    y = src_rows - 0.5 - 8000
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    sampled = (
        radar[y0, x0] * (1 - fx) * (1 - fy)
        + radar[y0, x0 + 1] * fx * (1 - fy)
        + radar[y0 + 1, x0] * (1 - fx) * fy
        + radar[y0 + 1, x0 + 1] * fx * fy
    )
    np.testing.assert_allclose(warped.ravel(), sampled, rtol=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_source_window_covers_every_pixel_of_the_utm_window(full_product, seed):
    rng = np.random.default_rng(seed)
    with open_product(full_product) as scene:
        geocoder = scene.geocoder
        size = int(rng.integers(64, 600))
        col0 = int(rng.integers(4000, scene.info.width - 4000 - size))
        row0 = int(rng.integers(4000, scene.info.height - 4000 - size))
        window = Window(col0, row0, size, size)
        source = geocoder.source_window(window)
        rows, cols = np.mgrid[0:size:7, 0:size:7]
        east, north = scene.info.transform @ (col0 + cols.ravel() + 0.5, row0 + rows.ravel() + 0.5)
        lons, lats = transform(scene.info.crs, GCP_CRS, list(east), list(north))
        src_cols, src_rows = lonlat_to_radar(geocoder, lons, lats)
    assert source is not None
    assert src_cols.min() - 1 >= source.col_off and src_cols.max() + 1 <= source.col_off + source.width
    assert src_rows.min() - 1 >= source.row_off and src_rows.max() + 1 <= source.row_off + source.height
