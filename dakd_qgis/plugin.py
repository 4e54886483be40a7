"""The plugin object QGIS drives: menu, toolbar button, layer context action and Processing provider.

Everything added in :meth:`DakdPlugin.initGui` is removed in :meth:`DakdPlugin.unload`, so the
Plugin Reloader and disabling/enabling the plugin leave QGIS as it was. Heavy work never runs
here: detection runs in a ``QgsTask`` (:mod:`dakd_qgis.tasks`), training in a child process
(:mod:`dakd_qgis.dialogs.finetune_dialog`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import QgsApplication, QgsMessageLog, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMenu, QPushButton

from . import compat
from .paths import icon_path
from .provider import DakdProvider
from .translation import install_translator, remove_translator, tr

MENU_NAME = "&DAKD Oil Spill"
LOG_TAG = "DAKD Oil Spill"
DETECT_ALGORITHM_ID = "dakd:detectoilspills"
TRAIN_ALGORITHM_ID = "dakd:traindakdpipeline"


class DakdPlugin:
    """Adds the DAKD Oil Spill menu, toolbar button, raster context action and Processing provider."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.translator = install_translator()
        self.provider: DakdProvider | None = None
        self.menu_actions: list[QAction] = []
        self.toolbar_actions: list[QAction] = []
        self.context_action: QAction | None = None
        self.engine_menu: QMenu | None = None
        self.windows: dict[str, Any] = {}
        self.segmentations: list[Any] = []

    # -- Processing ---------------------------------------------------------------------------

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API name
        """Register the Processing provider (also called alone by ``qgis_process``)."""
        if self.provider is not None:
            return
        provider = DakdProvider()
        # addProvider fails on a duplicate id and then deletes the object: never keep it in that case.
        if QgsApplication.processingRegistry().addProvider(provider):
            self.provider = provider
        else:
            QgsMessageLog.logMessage(
                tr(
                    "the Processing provider 'dakd' is already registered (is the plugin "
                    "installed twice?); its algorithms come from the other copy"
                ),
                LOG_TAG,
                compat.MESSAGE_WARNING,
            )

    # -- GUI ----------------------------------------------------------------------------------

    def initGui(self) -> None:  # noqa: N802 - QGIS API name
        """Add the menu, the toolbar button, the layer context action and the provider."""
        self.initProcessing()
        window = self.iface.mainWindow()
        detect = self._action("detect", tr("Detect oil spills…"), self.open_detect_dialog)
        finetune = self._action("finetune", tr("Fine-tune on my labels…"), self.open_finetune_dialog)
        train = self._action("train", tr("Train DAKD pipeline (advanced)…"), self.open_train_dialog)
        self.engine_menu = QMenu(tr("Engine"), window)
        self.engine_menu.setIcon(QIcon(icon_path("engine")))
        self.engine_menu.addAction(self._action("models", tr("Models…"), self.open_models_dialog))
        self.engine_menu.addAction(self._action("settings", tr("Settings…"), self.open_settings_dialog))
        self.engine_menu.addAction(self._action("deps", tr("Check dependencies…"), self.open_deps_dialog))
        for action in (detect, finetune, train, self.engine_menu.menuAction()):
            self.iface.addPluginToRasterMenu(MENU_NAME, action)
            self.menu_actions.append(action)
        self.iface.addRasterToolBarIcon(detect)
        self.toolbar_actions.append(detect)

        self.context_action = QAction(QIcon(icon_path("icon")), tr("Segment oil spills"), window)
        self.context_action.setObjectName("dakd_segment_oil_spills")
        self.context_action.triggered.connect(self.segment_active_layer)
        self.iface.addCustomActionForLayerType(self.context_action, "", compat.RASTER_LAYER_TYPE, True)

        QTimer.singleShot(0, self.check_dependencies_on_start)
        QTimer.singleShot(0, self.check_engine_contract)

    def unload(self) -> None:
        """Remove everything ``initGui`` added, stop running work and close the plugin's windows."""
        for segmentation in list(self.segmentations):
            segmentation.cancel()
        self.segmentations.clear()
        for window in self.windows.values():
            if hasattr(window, "shutdown"):
                window.shutdown()
            window.close()
            window.deleteLater()
        self.windows.clear()
        if self.context_action is not None:
            self.iface.removeCustomActionForLayerType(self.context_action)
            self.context_action.deleteLater()
            self.context_action = None
        for action in self.toolbar_actions:
            self.iface.removeRasterToolBarIcon(action)
        for action in self.menu_actions:
            self.iface.removePluginRasterMenu(MENU_NAME, action)
        for action in self.menu_actions + (self.engine_menu.actions() if self.engine_menu else []):
            action.deleteLater()
        if self.engine_menu is not None:
            self.engine_menu.deleteLater()
            self.engine_menu = None
        self.menu_actions.clear()
        self.toolbar_actions.clear()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        remove_translator(self.translator)
        self.translator = None

    def _action(self, icon: str, text: str, slot: Callable[[], Any]) -> QAction:
        action = QAction(QIcon(icon_path(icon)), text, self.iface.mainWindow())
        action.setObjectName(f"dakd_{icon}")
        action.triggered.connect(slot)
        return action

    # -- Actions ------------------------------------------------------------------------------

    def open_detect_dialog(self) -> None:
        """Open the Processing dialog of "Detect oil spills", with the current raster layer as input.

        Before the engine's packages are installed it offers the installer instead.
        """
        import processing

        if self.offer_installer_if_missing():
            return
        layer = self.iface.activeLayer()
        inputs = {"INPUT": layer.id()} if isinstance(layer, QgsRasterLayer) else {}
        processing.execAlgorithmDialog(DETECT_ALGORITHM_ID, inputs)

    def open_train_dialog(self) -> None:
        """Open the Processing dialog of the full DAKD training pipeline on a labelled data set folder."""
        import processing

        processing.execAlgorithmDialog(TRAIN_ALGORITHM_ID, {})

    def segment_active_layer(self) -> None:
        """Run the "Segment oil spills" context action: detect on the layer selected in the Layers panel."""
        layer = self.iface.activeLayer()
        if not isinstance(layer, QgsRasterLayer):
            self.iface.messageBar().pushMessage(
                LOG_TAG, tr("Select a SAR raster layer first."), compat.MESSAGE_WARNING, 5
            )
            return
        self.segment_layer(layer)

    def _segmentation_done(self, segmentation: Any) -> None:
        """Forget an ended run; one cancelled by :meth:`unload` (a plugin reload) ends after the list was emptied."""
        if segmentation in self.segmentations:
            self.segmentations.remove(segmentation)

    def segment_layer(self, layer: QgsRasterLayer) -> Any:
        """Start a background detection on ``layer``; return its controller (None if it could not start)."""
        from .tasks import start_segmentation

        if self.offer_installer_if_missing():
            return None
        segmentation = start_segmentation(
            self.iface, layer, on_done=self._segmentation_done, offer_installer=self.offer_installer
        )
        if segmentation is not None:
            self.segmentations.append(segmentation)
        return segmentation

    def open_finetune_dialog(self) -> Any:
        """Show the "Fine-tune on my labels" window (one at a time)."""
        from .dialogs.finetune_dialog import FinetuneDialog

        return self._show_window("finetune", lambda: FinetuneDialog(self.iface, self.iface.mainWindow()))

    def open_models_dialog(self) -> Any:
        """Show the Models… window."""
        from .dialogs.models_dialog import ModelsDialog

        return self._show_window("models", lambda: ModelsDialog(self.iface.mainWindow()))

    def open_settings_dialog(self) -> Any:
        """Show the Settings… window."""
        from .dialogs.settings_dialog import SettingsDialog

        return self._show_window("settings", lambda: SettingsDialog(self.iface.mainWindow()))

    def open_deps_dialog(self) -> Any:
        """Show the Check dependencies… window."""
        from .dialogs.deps_dialog import DepsDialog

        return self._show_window("deps", lambda: DepsDialog(self.iface.mainWindow()))

    def _show_window(self, key: str, make: Callable[[], Any]) -> Any:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = make()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def check_dependencies_on_start(self) -> None:
        """Offer to install the engine's requirements if any is missing (metadata check only: fast).

        Skipped when another engine Python is set in Settings: QGIS cannot see its packages, and
        Check dependencies… probes it directly.
        """
        self.offer_installer_if_missing()

    def check_engine_contract(self) -> bool:
        """Say in one line when the engine speaks another contract schema than this plugin reads; True if so.

        A contract that cannot be read at all (e.g. the engine Python lacks packages) only goes to the log:
        the dependency check and the runs themselves say what to do about it.
        """
        from .contract import engine_contract
        from .settings import PluginSettings
        from .tasks import bar_text

        contract = engine_contract(PluginSettings.load().engine_python)
        if contract.blocking:
            self.iface.messageBar().pushMessage(LOG_TAG, bar_text(contract.problem), compat.MESSAGE_WARNING, 0)
        elif contract.problem:
            QgsMessageLog.logMessage(contract.problem, LOG_TAG, compat.MESSAGE_WARNING)
        return contract.blocking

    def offer_installer_if_missing(self) -> bool:
        """Offer the installer if the engine's packages are missing (see :meth:`offer_installer`); True if so."""
        from .deps import missing_package_names
        from .settings import PluginSettings

        missing = missing_package_names(PluginSettings.load().engine_python)
        if missing:
            self.offer_installer(missing)
        return bool(missing)

    def offer_installer(self, packages: list[str]) -> None:
        """Say which packages are missing in the message bar, with an Install… button that opens the installer."""
        bar = self.iface.messageBar()
        message = bar.createMessage(
            LOG_TAG,
            tr("Missing Python packages: {names}. Detection and training need them.").format(names=", ".join(packages)),
        )
        button = QPushButton(tr("Install…"), message)
        button.setObjectName("dakd_install_dependencies")
        button.clicked.connect(self.open_deps_dialog)
        message.layout().addWidget(button)
        bar.pushWidget(message, compat.MESSAGE_WARNING)
