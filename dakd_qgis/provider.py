"""The Processing provider "DAKD oil spill" (id ``dakd``).

Its algorithms import the engine only when they run, so the provider (and ``qgis_process``'s
algorithm list) loads even before torch and rasterio are installed; running an algorithm then says
which package is missing.
"""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms.detect import DetectOilSpillsAlgorithm
from .algorithms.finetune import FinetuneAlgorithm, TrainPipelineAlgorithm
from .paths import icon_path
from .translation import tr

PROVIDER_ID = "dakd"


class DakdProvider(QgsProcessingProvider):
    """Holds "Detect oil spills", "Fine-tune on my labels" and "Train DAKD pipeline (advanced)"."""

    def id(self) -> str:  # noqa: D102 - QGIS API
        return PROVIDER_ID

    def name(self) -> str:  # noqa: D102 - QGIS API
        return tr("DAKD oil spill")

    def longName(self) -> str:  # noqa: N802, D102 - QGIS API
        return tr("DAKD oil spill (Sentinel-1 oil-spill detection)")

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("icon"))

    def loadAlgorithms(self) -> None:  # noqa: N802, D102 - QGIS API
        for algorithm in (DetectOilSpillsAlgorithm(), FinetuneAlgorithm(), TrainPipelineAlgorithm()):
            self.addAlgorithm(algorithm)
