import fiona
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, box, shape

from engine.io.vector import SPILL_FIELDS, SPILLS_LAYER, write_polygons


def record(i):
    props = {name: None for name in SPILL_FIELDS}
    props.update(id=i, **{"class": "oil"}, area_km2=0.5)
    return box(i, 0, i + 1, 1), props


def test_empty_result_is_a_valid_geopackage_with_the_layer(tmp_path):
    path = tmp_path / "spills.gpkg"
    assert write_polygons(path, [], CRS.from_epsg(32633)) == 0
    assert fiona.listlayers(path) == [SPILLS_LAYER]
    with fiona.open(path, layer=SPILLS_LAYER) as layer:
        assert len(layer) == 0
        assert layer.crs.to_epsg() == 32633
        assert list(layer.schema["properties"]) == list(SPILL_FIELDS)
        assert layer.schema["geometry"] == "MultiPolygon"


def test_records_stream_in_chunks_as_multipolygons(tmp_path):
    path = tmp_path / "spills.gpkg"
    geometries = (record(i) for i in range(1, 1203))  # more than two write chunks
    assert write_polygons(path, geometries, None) == 1202
    with fiona.open(path, layer=SPILLS_LAYER) as layer:
        features = list(layer)
    assert len(features) == 1202
    first = features[0]
    assert first.geometry.type == "MultiPolygon"
    assert shape(first.geometry).equals(MultiPolygon([box(1, 0, 2, 1)]))
    assert first.properties["class"] == "oil" and first.properties["area_km2"] == 0.5
