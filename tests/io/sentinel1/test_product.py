import zipfile

import pytest

from engine.errors import InputError
from engine.io.sentinel1 import has_sentinel1_manifest, open_product
from engine.io.sentinel1.product import ProductLocation, parse_manifest


def test_manifest_facts(shared_safe, kit):
    manifest = parse_manifest((shared_safe / "manifest.safe").read_bytes(), "manifest", kit.SAFE_NAME[:-5])
    assert (manifest.product_type, manifest.mode, manifest.platform, manifest.mission) == (
        "GRD",
        "IW",
        "Sentinel-1B",
        "S1B",
    )
    assert manifest.polarisations == ("VV", "VH")
    assert (manifest.start_time, manifest.stop_time) == ("2021-12-23T05:11:22.594441", "2021-12-23T05:11:47.593146")
    assert (manifest.absolute_orbit, manifest.relative_orbit, manifest.pass_direction) == (30148, 22, "DESCENDING")
    assert manifest.ipf_version == "003.40" and manifest.ipf == pytest.approx(3.4)
    assert manifest.files["VV"].measurement == f"./measurement/{kit.STEM}.tiff"
    assert manifest.files["VV"].noise == f"./annotation/calibration/noise-{kit.STEM}.xml"
    assert len(manifest.footprint_lonlat) == 4 and manifest.footprint_lonlat[0] == (14.925448, 40.876698)


def test_accepted_path_forms(full_product, full_product_zip, tmp_path):
    assert has_sentinel1_manifest(full_product)
    assert has_sentinel1_manifest(full_product / "manifest.safe")
    assert has_sentinel1_manifest(full_product_zip)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "not a product")
    assert not has_sentinel1_manifest(other_zip)
    assert not has_sentinel1_manifest(tmp_path / "missing.SAFE")
    assert not has_sentinel1_manifest(full_product / "measurement")
    for path in (full_product, full_product / "manifest.safe", full_product_zip):
        with open_product(path) as scene:
            assert scene.info.scene_id == "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"


def test_zip_is_read_in_place(full_product_zip, kit):
    location = ProductLocation(full_product_zip)
    try:
        path = location.gdal_path(f"./measurement/{kit.STEM}.tiff")
        assert path == f"/vsizip/{full_product_zip.resolve().as_posix()}/{kit.SAFE_NAME}/measurement/{kit.STEM}.tiff"
        assert location.read_bytes("manifest.safe").startswith(b"<?xml")
    finally:
        location.close()
    assert list(full_product_zip.parent.iterdir()) == [full_product_zip]  # nothing unpacked beside it


@pytest.mark.parametrize(
    ("product_type", "mode", "reason"),
    [
        ("SLC", "IW", "Single Look Complex"),
        ("OCN", "IW", "Level-2 Ocean"),
        ("RAW", "IW", "Level-0 RAW"),
        ("GRD", "EW", "Extra Wide"),
        ("GRD", "WV", "Wave mode"),
    ],
)
def test_wrong_product_types_are_refused_with_the_reason(tmp_path, kit, product_type, mode, reason):
    safe = kit.build_product(tmp_path, [], product_type=product_type, mode=mode)
    with pytest.raises(InputError, match=reason) as info:
        open_product(safe)
    message = str(info.value)
    assert "\n" not in message and str(safe) in message
    assert "GRD" in message  # says what to use instead


def test_missing_polarisation_files_and_bands(shared_safe):
    # The shared product's manifest lists VH, but its VH files were not kept (see NOTICE.md).
    with pytest.raises(InputError, match=r"lists VH but names no VH files .*pass --pol VV"):
        open_product(shared_safe, pol="VH")
    with pytest.raises(InputError, match=r"has no HH band \(it has: VV\)"):
        open_product(shared_safe, pol="hh")
    with pytest.raises(InputError, match="band 3 does not exist"):
        open_product(shared_safe, pol=3)


def test_the_shared_stub_opens_and_is_all_nodata(shared_safe):
    from rasterio.windows import Window

    with open_product(shared_safe, pol=1, geometry="radar") as scene:  # band 1 = VV
        assert scene.info.band_name == "VV"
        values, valid = scene.read_sigma0(Window(1000, 1000, 64, 64))
    assert not valid.any() and not values.any()


def test_not_a_product(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_product(tmp_path / "missing.zip")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="has no manifest.safe"):
        open_product(tmp_path / "folder")
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("x/readme.txt", "")
    with pytest.raises(InputError, match="no manifest.safe at its top level"):
        open_product(empty_zip)
    text = tmp_path / "scene.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="not a Sentinel-1 product"):
        open_product(text)


def test_a_zip_cut_off_mid_download_is_named_as_such(full_product_zip, tmp_path):
    """Not "not a Sentinel-1 product": the analyst has the right product, only a broken copy of it."""
    cut = tmp_path / full_product_zip.name
    cut.write_bytes(full_product_zip.read_bytes()[: full_product_zip.stat().st_size // 2])
    assert not zipfile.is_zipfile(cut)  # the zip's directory sits at its end
    with pytest.raises(InputError) as raised:
        open_product(cut)
    message = str(raised.value)
    assert message == f"{cut}: is not a complete zip archive (an interrupted download?); download it again"


def test_incomplete_download_is_reported(tmp_path, kit):
    safe = kit.build_product(tmp_path, [])
    (safe / "annotation" / "calibration" / f"calibration-{kit.STEM}.xml").unlink()
    with pytest.raises(InputError, match="calibration file .* is missing"):
        open_product(safe)
