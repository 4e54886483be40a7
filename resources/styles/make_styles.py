"""Regenerate the QML styles in this folder with QGIS itself (run after changing classes or colours).

    QT_QPA_PLATFORM=offscreen .venv/bin/python resources/styles/make_styles.py

Colours come from ``engine.classes`` (the OSD scheme), so the map matches the paper's figures and
the engine's quick-look PNG. QGIS 3.22 writes the files, so every later QGIS reads them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsPalettedRasterRenderer,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from engine.classes import LAND, LOOKALIKE, OIL, OSD_CLASSES, SHIP  # noqa: E402
from engine.vectorize import PROB_SCALE  # noqa: E402


def spills_style(path: Path) -> None:
    """Polygons by ``class``: OSD outline colours, a light fill, labels "<class> <area> km²"."""
    layer = QgsVectorLayer("MultiPolygon?crs=EPSG:4326&field=class:string(16)&field=area_km2:double", "s", "memory")
    categories = []
    for seg_class in (OIL, LOOKALIKE, SHIP):
        red, green, blue = seg_class.rgb
        symbol = QgsFillSymbol.createSimple({
            "color": f"{red},{green},{blue},70", "outline_color": f"{red},{green},{blue},255",
            "outline_width": "0.6", "outline_width_unit": "MM"})
        categories.append(QgsRendererCategory(seg_class.name, symbol, seg_class.name))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class", categories))
    labels = QgsPalLayerSettings()
    labels.fieldName = "\"class\" || ' ' || format_number(\"area_km2\", 2) || ' km²'"
    labels.isExpression = True
    text = QgsTextFormat()
    text.setSize(9)
    text.setColor(QColor("white"))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setColor(QColor(0, 0, 0, 200))
    buffer.setSize(0.8)
    text.setBuffer(buffer)
    labels.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(labels))
    layer.setLabelsEnabled(True)
    _save(layer, path)


def probability_style(raster: Path, path: Path) -> None:
    """Oil probability as a ramp from transparent (below 0.5) to opaque red, so the scene shows through.

    The engine writes ``probability.tif`` as bytes, one band per class, value = p x 250 (``PROB_SCALE``);
    oil is band 2 in every class scheme (id 1). The plugin re-points the band by its name when loading.
    The legend reads 0 to 1 (probabilities), not the stored 0 to 250.
    """
    layer = QgsRasterLayer(str(raster), "p")
    top = float(PROB_SCALE)
    ramp = QgsColorRampShader(0.0, top)
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    ramp.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(0.0, QColor(255, 255, 0, 0), "0"),
        QgsColorRampShader.ColorRampItem(0.5 * top, QColor(255, 200, 0, 0), "0.5"),
        QgsColorRampShader.ColorRampItem(0.75 * top, QColor(255, 120, 0, 140), "0.75"),
        QgsColorRampShader.ColorRampItem(top, QColor(220, 0, 0, 220), "1"),
    ])
    legend = QgsColorRampLegendNodeSettings()
    legend.setUseContinuousLegend(True)
    legend.setMinimumLabel("0")
    legend.setMaximumLabel("1")
    ramp.setLegendSettings(legend)
    shader = QgsRasterShader(0.0, top)
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), OIL.id + 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(top)
    layer.setRenderer(renderer)
    _save(layer, path)


def classes_style(raster: Path, path: Path) -> None:
    """Class raster with the OSD palette; sea is transparent so only findings and land show."""
    layer = QgsRasterLayer(str(raster), "c")
    palette = []
    for seg_class in OSD_CLASSES:
        colour = QColor(*seg_class.rgb)
        if seg_class.id == 0:
            colour.setAlpha(0)
        elif seg_class is LAND:
            colour.setAlpha(120)
        palette.append(QgsPalettedRasterRenderer.Class(seg_class.id, colour, seg_class.name))
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, palette))
    _save(layer, path)


def _save(layer: QgsVectorLayer | QgsRasterLayer, path: Path) -> None:
    message, ok = layer.saveNamedStyle(str(path))
    if not ok:
        raise SystemExit(f"cannot write {path}: {message}")
    print(f"wrote {path}")


def main() -> None:
    """Write spills.qml, probability.qml and classes.qml beside this script."""
    import numpy as np
    from osgeo import gdal

    app = QgsApplication([], False)
    app.initQgis()
    with tempfile.TemporaryDirectory() as tmp:
        probability_tif = Path(tmp) / "p.tif"
        classes_tif = Path(tmp) / "c.tif"
        for tif, bands in ((probability_tif, 2), (classes_tif, 1)):
            dataset = gdal.GetDriverByName("GTiff").Create(str(tif), 4, 4, bands, gdal.GDT_Byte)
            dataset.SetGeoTransform((0.0, 1.0, 0.0, 4.0, 0.0, -1.0))
            for band in range(1, bands + 1):
                dataset.GetRasterBand(band).WriteArray((np.arange(16, dtype="uint8") % 5).reshape(4, 4))
            dataset = None
        spills_style(HERE / "spills.qml")
        probability_style(probability_tif, HERE / "probability.qml")
        classes_style(classes_tif, HERE / "classes.qml")
    app.exitQgis()


if __name__ == "__main__":
    main()
