"""The files behind QGIS layers: the engine must read what the analyst sees, or the layer is refused in one line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from qgis.core import QgsGeometry, QgsRasterLayer, QgsRectangle, QgsVectorLayer, QgsVectorLayerUtils

pytestmark = pytest.mark.qgis

SENTINEL1 = Path(__file__).resolve().parents[1] / "data" / "sentinel1"


def _raster(source: str, name: str = "my scene") -> QgsRasterLayer:
    layer = QgsRasterLayer(source, name, "gdal")
    assert layer.isValid(), source
    return layer


def _refusal(layer: QgsRasterLayer) -> str:
    from dakd_qgis.layer_sources import InputProblem, raster_file

    with pytest.raises(InputProblem) as raised:
        raster_file(layer)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def sentinel1_zip(tmp_path) -> tuple[Path, str]:
    """The shipped Sentinel-1 product zipped as downloaded: ``(zip, .SAFE folder name)``."""
    safe = next(SENTINEL1.glob("*.SAFE"))
    archive = tmp_path / f"{safe.stem}.zip"
    with zipfile.ZipFile(archive, "w") as sink:
        for path in sorted(safe.rglob("*")):
            sink.write(path, path.relative_to(safe.parent).as_posix())
    return archive, safe.name


def test_a_plain_raster_is_its_own_file(sar_scene):
    from dakd_qgis.layer_sources import raster_file

    assert raster_file(_raster(str(sar_scene))) == str(sar_scene)


def test_a_raster_inside_a_zip_is_refused_not_read_as_the_zip(zipped_scene):
    """Trust: QGIS decodes ``/vsizip/a.zip/scene.tif`` to ``a.zip``, and the engine was handed the whole zip."""
    message = _refusal(_raster(zipped_scene))
    assert message.startswith("layer 'my scene' is read from inside an archive or through a GDAL driver")
    assert "extract it, or export it to GeoTIFF" in message


def test_a_sentinel1_measurement_inside_the_zip_is_not_the_whole_product(sentinel1_zip):
    """Trust: the analyst chose one measurement TIFF; the product zip ran as the calibrated product instead."""
    archive, safe = sentinel1_zip
    with zipfile.ZipFile(archive) as product:
        tiff = next(name for name in product.namelist() if name.endswith(".tiff"))
    assert f"{safe}/measurement/" in tiff
    message = _refusal(_raster(f"/vsizip/{archive}/{tiff}", "vh measurement"))
    assert "layer 'vh measurement' is read from inside an archive" in message


def test_the_manifest_of_a_zipped_product_is_the_product(sentinel1_zip):
    """The one member passed on: a product's own manifest stands for the product, which the engine reads from the
    zip as it reads an unzipped manifest.safe layer."""
    from dakd_qgis.layer_sources import raster_file

    archive, safe = sentinel1_zip
    assert raster_file(_raster(f"/vsizip/{archive}/{safe}/manifest.safe")) == str(archive)
    nested = archive.with_name("downloads.zip")  # the product one folder down: the engine reads no product there
    with zipfile.ZipFile(archive) as product, zipfile.ZipFile(nested, "w") as sink:
        for name in product.namelist():
            sink.writestr(f"downloads/{name}", product.read(name))
    assert "read from inside an archive" in _refusal(_raster(f"/vsizip/{nested}/downloads/{safe}/manifest.safe"))


def _dual_polarisation_product(folder: Path) -> Path:
    """The shipped 1SDV product with its VH files too, listed first as Copernicus does: VV reads DN 1000, VH DN 100.

    The shipped copy keeps the VV files only; the VH ones are the VV XML with the polarisation renamed, and both
    measurements are sparse TIFFs with one 512-pixel patch of their DN at the top left.
    """
    import re
    import shutil
    import warnings

    import numpy as np
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import Window

    safe = Path(shutil.copytree(next(SENTINEL1.glob("*.SAFE")), folder / next(SENTINEL1.glob("*.SAFE")).name))
    vv_stem = next((safe / "measurement").glob("*.tiff")).stem
    vh_stem = vv_stem.replace("-vv-", "-vh-")[: -len("001")] + "002"
    for xml in list(safe.glob(f"annotation/**/*{vv_stem}.xml")):
        text = xml.read_text(encoding="utf-8").replace(
            "<polarisation>VV</polarisation>", "<polarisation>VH</polarisation>"
        )
        xml.with_name(xml.name.replace(vv_stem, vh_stem)).write_text(text, encoding="utf-8")
    for stem, dn in ((vv_stem, 1000), (vh_stem, 100)):
        profile = dict(driver="GTiff", width=26102, height=16705, count=1, dtype="uint16", tiled=True, SPARSE_OK="TRUE")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # like real GRD TIFFs: no geotransform
            with rasterio.open(safe / "measurement" / f"{stem}.tiff", "w", **profile) as measurement:
                measurement.write(np.full((512, 512), dn, np.uint16), 1, window=Window(0, 0, 512, 512))
    manifest = safe / "manifest.safe"
    text = manifest.read_text(encoding="utf-8")
    vv_objects = re.findall(r"    <dataObject ID=\"[a-z]*s1biwgrdvv[^\"]*\".*?</dataObject>\n", text, flags=re.S)
    vh_objects = "".join(
        item.replace("grdvv", "grdvh").replace('001"', '002"').replace(vv_stem, vh_stem) for item in vv_objects
    )
    manifest.write_text(
        text.replace("<dataObjectSection>\n", "<dataObjectSection>\n" + vh_objects, 1), encoding="utf-8"
    )
    return safe


def test_the_band_chosen_on_a_sentinel1_product_layer_is_the_polarisation_the_engine_reads(tmp_path):
    """Trust: QGIS lists a 1SDV product's bands as GDAL does (band 1 VH, band 2 VV), the engine counted the
    manifest's polarisations (1 = VV): "Band 1" ran on VV. The plugin now passes the band's polarisation."""
    from osgeo import gdal

    from dakd_qgis.layer_sources import engine_band
    from engine.io import open_scene

    safe = _dual_polarisation_product(tmp_path)
    for source in (str(safe / "manifest.safe"), str(safe)):
        layer = _raster(source)
        product = gdal.Open(source)  # what the layer's GDAL provider reads, band for band (QGIS warps it to show it)
        shown = {band: int(product.GetRasterBand(band).ReadAsArray(0, 0, 1, 1)[0, 0]) for band in (1, 2)}
        assert layer.bandCount() == 2 and shown == {1: 100, 2: 1000}, shown  # VH first
        assert (engine_band(layer, 1), engine_band(layer, 2), engine_band(layer, None)) == ("VH", "VV", None)
    scene = open_scene(str(safe), band=engine_band(_raster(str(safe)), 1), geometry="radar")
    try:
        assert scene.info.metadata["polarisation"] == "VH"  # the band QGIS shows first; "--band 1" read VV
    finally:
        scene.close()
    assert engine_band(_raster(str(next(SENTINEL1.glob("*.SAFE")) / "manifest.safe")), 1) == "VV"


def test_a_sub_dataset_of_a_gdal_driver_is_refused(tmp_path):
    """Trust: ``SENTINEL1_CALIB:…`` went to the engine verbatim ("no such file"); ``GPKG:a.gpkg:vh`` went as the
    GeoPackage, whose first raster table is another one."""
    from osgeo import gdal, osr

    crs = osr.SpatialReference()
    crs.ImportFromEPSG(32633)
    container = tmp_path / "polarisations.gpkg"
    for table in ("vv", "vh"):
        sample = gdal.GetDriverByName("MEM").Create("", 16, 16, 1, gdal.GDT_Float32)
        sample.SetGeoTransform((500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0))
        sample.SetProjection(crs.ExportToWkt())
        options = [f"RASTER_TABLE={table}"] + (["APPEND_SUBDATASET=YES"] if table == "vh" else [])
        assert gdal.Translate(str(container), sample, format="GPKG", creationOptions=options) is not None
    manifest = next(SENTINEL1.glob("*.SAFE")) / "manifest.safe"
    for source in (f"GPKG:{container}:vh", f"SENTINEL1_CALIB:UNCALIB:{manifest}:IW_VV:AMPLITUDE"):
        assert "layer 'band' is read from inside an archive or through a GDAL driver" in _refusal(
            _raster(source, "band")
        )


def test_a_raster_whose_file_is_gone_says_so(scene_writer, tmp_path):
    layer = _raster(str(scene_writer(tmp_path / "moved.tif")))
    (tmp_path / "moved.tif").unlink()
    assert layer.isValid()  # QGIS keeps the layer
    message = _refusal(layer)
    assert f"the file {tmp_path / 'moved.tif'} of layer 'my scene' no longer exists" in message


def test_an_archived_raster_is_still_offered_for_training(zipped_scene):
    """Listed, so that choosing it says why it cannot be used; left out, it would vanish without a word."""
    from dakd_qgis.layer_sources import could_be_sar_scene

    assert could_be_sar_scene(_raster(zipped_scene))


def _polygons(path: str, layer: str | None = None) -> list[dict]:
    import fiona

    with fiona.open(path, layer=layer) as source:
        return [dict(feature["properties"]) for feature in source]


def _write_polygons(path: Path, driver: str, labels: list[str]) -> Path:
    import fiona
    from shapely.geometry import box, mapping

    schema = {"geometry": "Polygon", "properties": {"label": "str"}}
    layer = {"layer": "labels"} if driver == "GPKG" else {}
    with fiona.open(path, "w", driver=driver, schema=schema, crs="EPSG:32633", **layer) as sink:
        for index, label in enumerate(labels):
            x = 500000.0 + index * 1000.0
            sink.write({"geometry": mapping(box(x, 5999000.0, x + 500.0, 5999500.0)), "properties": {"label": label}})
    return path


def _draw(layer: QgsVectorLayer, label: str, x: float = 503000.0) -> None:
    """Add a polygon as QGIS's digitizing does (default values filled in), without saving it."""
    assert layer.isEditable() or layer.startEditing()
    geometry = QgsGeometry.fromRect(QgsRectangle(x, 5998000.0, x + 500.0, 5998500.0))
    feature = QgsVectorLayerUtils.createFeature(layer, geometry, {layer.fields().indexOf("label"): label})
    assert layer.addFeature(feature)


@pytest.mark.parametrize("driver, name", [("ESRI Shapefile", "labels.shp"), ("GeoJSON", "labels.geojson")])
def test_unsaved_polygons_are_in_the_file_the_engine_reads(tmp_path, driver, name):
    """Trust: a polygon drawn but not saved was left out (the file on disk went to the engine as it was saved)."""
    from dakd_qgis.layer_sources import vector_file

    path = _write_polygons(tmp_path / name, driver, ["slick"])
    layer = QgsVectorLayer(str(path), "my labels", "ogr")
    assert vector_file(layer, tmp_path / "copy") == (str(path), "")  # saved: the file itself
    _draw(layer, "ship")
    copy, copy_layer = vector_file(layer, tmp_path / "copy")
    assert copy != str(path) and sorted(row["label"] for row in _polygons(copy, copy_layer)) == ["ship", "slick"]
    assert [row["label"] for row in _polygons(str(path))] == ["slick"]  # the analyst's file is left as it is
    assert layer.commitChanges()
    assert vector_file(layer, tmp_path / "copy") == (str(path), "")


def test_polygons_all_drawn_since_the_last_save_are_trained_on(tmp_path):
    """Trust: a GeoPackage whose polygons were all unsaved failed with "the label file has no polygons" though the
    analyst saw them; a copy written with QGIS's fid ("Autogenerate" until saved) was refused by GDAL."""
    from dakd_qgis.layer_sources import vector_file

    path = _write_polygons(tmp_path / "labels.gpkg", "GPKG", [])
    layer = QgsVectorLayer(f"{path}|layername=labels", "my labels", "ogr")
    for index, label in enumerate(("slick", "slick", "ship")):
        _draw(layer, label, x=500000.0 + index * 1000.0)
    copy, copy_layer = vector_file(layer, tmp_path / "copy")
    assert sorted(row["label"] for row in _polygons(copy, copy_layer)) == ["ship", "slick", "slick"]
    assert _polygons(str(path), "labels") == []


def test_a_vector_layer_inside_a_zip_is_copied_not_read_as_the_zip(tmp_path):
    from dakd_qgis.layer_sources import ogr_file, vector_file

    path = _write_polygons(tmp_path / "labels.geojson", "GeoJSON", ["slick", "ship"])
    archive = tmp_path / "labels.zip"
    with zipfile.ZipFile(archive, "w") as sink:
        sink.write(path, "labels.geojson")
    layer = QgsVectorLayer(f"/vsizip/{archive}/labels.geojson", "zipped labels", "ogr")
    assert layer.isValid() and ogr_file(layer) == ""
    copy, copy_layer = vector_file(layer, tmp_path / "copy")
    assert sorted(row["label"] for row in _polygons(copy, copy_layer)) == ["ship", "slick"]


def test_a_geopackage_layer_named_by_its_number_reaches_the_engine_by_its_name(tmp_path):
    """QGIS names a GeoPackage layer ``file.gpkg|layerid=1`` as often as ``|layername=``; only the name was passed,
    so the engine read the file's first layer (an area of interest before the labels) as the labels."""
    import fiona
    from shapely.geometry import box, mapping

    from dakd_qgis.layer_sources import vector_file

    path = tmp_path / "work.gpkg"
    schema = {"geometry": "Polygon", "properties": {"label": "str"}}
    for name, label in (("aoi", "area"), ("labels", "slick")):
        with fiona.open(path, "w", driver="GPKG", schema=schema, crs="EPSG:32633", layer=name) as sink:
            sink.write({"geometry": mapping(box(500000, 5999000, 500500, 5999500)), "properties": {"label": label}})
    layer = QgsVectorLayer(f"{path}|layerid=1", "labels", "ogr")
    assert layer.isValid() and [f["label"] for f in layer.getFeatures()] == ["slick"]
    assert vector_file(layer, tmp_path / "copy") == (str(path), "labels")
