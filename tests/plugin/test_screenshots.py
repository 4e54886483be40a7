"""Screenshots for the README and the documentation, taken offscreen: a detection result on the map, and the
fine-tune window.

Run as tests they write into a temporary folder and check the pictures are not blank. To refresh the
pictures in ``resources/readme`` (the documentation site serves the same files as ``images/``)::

    DAKD_SCREENSHOTS_DIR=resources/readme QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest \\
        tests/plugin/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (
    QgsContrastEnhancement,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "sample_scene.tif"


def output_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DAKD_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def distinct_colours(path: Path) -> int:
    image = QImage(str(path)).convertToFormat(QImage.Format_RGB32)
    pixels = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint32)
    return len(np.unique(pixels[:: max(1, pixels.size // 20000)]))


def save_small(image: QImage, path: Path) -> Path:
    """Save as a palette PNG (256 colours): a fraction of the size, fine for README pictures."""
    assert image.convertToFormat(QImage.Format_Indexed8).save(str(path))
    return path


def render_map(layers: list, path: Path, size_px: int = 720) -> Path:
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(layers[-1].extent())
    settings.setOutputSize(QSize(size_px, size_px))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return save_small(job.renderedImage(), path)


@pytest.mark.skipif(not SAMPLE.exists(), reason="the sample scene is not in resources/sample")
def test_detection_result_screenshot(qgis_iface, qgis_new_project, tmp_path):
    from dakd_qgis.tasks import start_segmentation

    scene = QgsRasterLayer(str(SAMPLE), "sample_scene (simulated S1 VV, dB)")
    assert scene.isValid()
    scene.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum)
    QgsProject.instance().addMapLayer(scene)
    segmentation = start_segmentation(qgis_iface, scene, task_manager=False)
    ok = segmentation.task.run()
    segmentation.task.finished(ok)
    assert ok, segmentation.task.error
    result_layers = [node.layer() for node in segmentation.group.findLayers() if node.isVisible()]
    path = render_map([*result_layers, scene], output_dir(tmp_path) / "detection-result.png")
    assert QImage(str(path)).size() == QSize(720, 720)
    assert distinct_colours(path) > 50


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DAKD_SCREENSHOTS_DIR"),
    reason="README picture only; test_finetune_dialog.py runs the same training",
)
def test_finetune_window_screenshot(qgis_iface, qgis_new_project, labelled_scenes, tmp_path, wait_until):
    from qgis.core import QgsVectorLayer

    from dakd_qgis.dialogs.finetune_dialog import FinetuneDialog

    scenes, labels = labelled_scenes
    layers = [QgsRasterLayer(str(path), path.stem) for path in scenes]
    label_layer = QgsVectorLayer(f"{labels}|layername=labels", "my labels", "ogr")
    QgsProject.instance().addMapLayers([*layers, label_layer])
    from dakd_qgis.dialogs.finetune_dialog import MAX_SIZE

    dialog = FinetuneDialog(qgis_iface)
    dialog.resize(*MAX_SIZE)  # the offscreen screen is 800 x 600; picture the window as on a laptop
    dialog.set_scene_layers(layers)
    dialog.labels_combo.setLayer(label_layer)
    dialog.set_class("slick", "oil")  # not a class name: it starts as ignore
    dialog.base_model.setCurrentIndex(dialog.base_model.findData(""))  # from scratch, to show every DAKD stage
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.device.setCurrentText("cpu")
    dialog.val_share.setValue(0.5)
    dialog.model_name.setText("slicks-2025")
    finished = []
    dialog.run_finished.connect(finished.append)
    dialog.show()
    assert dialog.start(), dialog.status.text()
    assert wait_until(lambda: finished, 900)
    assert finished == [True], dialog.status.text()
    path = output_dir(tmp_path) / "finetune-dialog.png"
    save_small(dialog.grab().toImage(), path)
    assert distinct_colours(path) > 50
    dialog.shutdown()
    dialog.close()
    dialog.deleteLater()
