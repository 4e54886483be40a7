"""The "Segment oil spills" right-click action: detection in a ``QgsTask``, results as styled layers.

The task runs ``dakd detect`` (``engine.detect.run_detection``, as the Processing algorithm does) in
a child process from QGIS's task manager thread, so QGIS stays responsive. A message-bar widget shows
the progress and a Cancel button (the task manager's own cancel is easy to miss). When the task
ends, on the main thread, the results are added to the project in a layer group and the message
bar says what was found and on which device.
"""

from __future__ import annotations

import html
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsMessageLog, QgsProject, QgsRasterLayer, QgsTask
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import QProgressBar, QPushButton

from . import compat
from .detection import DetectOutcome, DetectRequest, make_request, progress_reporter, run_detect, summary_sentence
from .engine_command import EngineRunError, MissingPackagesError
from .layer_sources import InputProblem, raster_file
from .layers import add_detection_layers
from .settings import PluginSettings
from .translation import tr

LOG_TAG = "DAKD Oil Spill"


class DetectTask(QgsTask):
    """Runs one detection in the background; ``outcome`` or ``error`` is set when ``run`` returns.

    A cancelled run ends as a completed task with ``cancelled`` set: QGIS would announce a task that
    returns False as failed, and a cancel is not a failure.
    """

    def __init__(
        self,
        description: str,
        request: DetectRequest,
        python: str,
        on_finished: Callable[[DetectTask, bool], None] | None = None,
    ) -> None:
        super().__init__(description, compat.TASK_CAN_CANCEL)
        self.request = request
        self.python = python
        self.on_finished = on_finished
        self.outcome: DetectOutcome | None = None
        self.error = ""
        self.cancelled = False
        self.missing_packages: list[str] = []
        self.stage = ""
        self.log: list[str] = []
        #: The engine's warnings (a CRS it ignored, areas from an assumed pixel size): they qualify the results.
        self.warnings: list[str] = []

    def run(self) -> bool:
        """Run ``dakd detect`` in a child process (task thread); never raises (QGIS would only log it)."""
        sink = progress_reporter(self.setProgress, self._set_stage, self._engine_log)
        try:
            self.outcome = run_detect(self.request, self.python, sink, self.log.append, self.isCanceled)
            return True
        except MissingPackagesError as error:
            self.error, self.missing_packages = str(error), error.packages
        except EngineRunError as error:
            self.error = str(error)
        except Exception as error:  # noqa: BLE001 - a bug: one line for the user, the traceback in the log
            QgsMessageLog.logMessage(traceback.format_exc(), LOG_TAG, compat.MESSAGE_CRITICAL)
            self.error = tr("Internal error ({kind}: {error}); details in the log, please report it.").format(
                kind=type(error).__name__, error=error
            )
        if self.isCanceled():
            self.cancelled = True
            return True
        return False

    def _set_stage(self, text: str) -> None:
        self.stage = text

    def _engine_log(self, level: str, message: str) -> None:
        """Keep an engine log line for QGIS's log; a warning also for the result's message, which must name it."""
        self.log.append(message)
        if level == "warning":
            self.warnings.append(message)

    def finished(self, ok: bool) -> None:
        """Hand the outcome to the caller (main thread)."""
        if self.on_finished is not None:
            self.on_finished(self, ok)


class Segmentation:
    """One right-click run: its task, its message-bar widget, and adding the results when done."""

    def __init__(
        self,
        iface: Any,
        layer: QgsRasterLayer,
        task: DetectTask,
        on_done: Callable[[Segmentation], None] | None = None,
        offer_installer: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.iface = iface
        self.layer_name = layer.name()
        self.task = task
        self.on_done = on_done
        self.offer_installer = offer_installer
        self.group: Any = None
        self.message = ""
        #: "running", then "done", "cancelled" or "failed" (QGIS deletes the task itself when it ends).
        self.state = "running"
        task.on_finished = self._finished
        bar = iface.messageBar()
        running = tr("Segmenting oil spills in {layer}…").format(layer=self.layer_name)
        self.widget = bar.createMessage(LOG_TAG, bar_text(running))
        self.progress_bar = QProgressBar(self.widget)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setMaximumWidth(200)
        self.cancel_button = QPushButton(tr("Cancel"), self.widget)
        self.cancel_button.setObjectName("dakd_cancel_segmentation")
        self.cancel_button.clicked.connect(self.cancel)
        self.widget.layout().addWidget(self.progress_bar)
        self.widget.layout().addWidget(self.cancel_button)
        bar.pushWidget(self.widget, compat.MESSAGE_INFO)
        task.progressChanged.connect(self._show_progress)

    def _show_progress(self, value: float) -> None:
        if self.state == "running" and _exists(self.progress_bar):
            self.progress_bar.setValue(int(value))

    def cancel(self) -> None:
        """Stop the task (it ends within one batch; nothing is written)."""
        if self.state != "running":
            return
        if _exists(self.cancel_button):
            self.cancel_button.setEnabled(False)
        self.task.cancel()

    def _finished(self, task: DetectTask, ok: bool) -> None:
        bar = self.iface.messageBar()
        if _exists(self.widget):
            bar.popWidget(self.widget)
        QgsMessageLog.logMessage(
            tr("Segment oil spills in {layer}:").format(layer=self.layer_name) + "\n" + "\n".join(task.log),
            LOG_TAG,
            compat.MESSAGE_WARNING if task.warnings else compat.MESSAGE_INFO,
        )
        if not ok or task.cancelled:
            release_run_dir(Path(task.request.out_dir))
        if task.cancelled or (not ok and task.isCanceled()):
            self.state = "cancelled"
            self.message = tr("{layer}: cancelled, nothing was written").format(layer=self.layer_name)
            bar.pushMessage(LOG_TAG, bar_text(self.message), compat.MESSAGE_INFO, 5)
        else:
            if ok and task.outcome is not None:
                try:
                    self.group = add_detection_layers(task.outcome.out_dir, self.layer_name, QgsProject.instance())
                except ValueError as error:
                    ok, task.error = (
                        False,
                        tr("the results in {folder} cannot be shown: {reason}").format(
                            folder=task.outcome.out_dir, reason=error
                        ),
                    )
            if ok and task.outcome is not None:
                self.message = f"{self.layer_name}: {summary_sentence(task.outcome)}"
                if task.warnings:  # e.g. "no CRS: sizes in km assume 10 m pixels": the numbers above depend on it
                    self.message += " – " + tr("warnings: {warnings}").format(warnings="; ".join(task.warnings))
                announce_result(bar, self.message, task.outcome.report_path, warned=bool(task.warnings))
                self.state = "done"
            elif task.missing_packages and self.offer_installer is not None:
                self.state = "failed"
                self.message = f"{self.layer_name}: {task.error}"
                self.offer_installer(task.missing_packages)
            else:
                self.state = "failed"
                self.message = tr("{layer}: {error} (log: View ▸ Panels ▸ Log Messages)").format(
                    layer=self.layer_name, error=task.error or tr("detection failed")
                )
                bar.pushMessage(LOG_TAG, bar_text(self.message), compat.MESSAGE_CRITICAL, 0)
        if self.on_done is not None:
            self.on_done(self)


def _exists(widget: Any) -> bool:
    """Whether ``widget`` is still there: the analyst may close the running message, and QGIS deletes it.

    Its progress bar and Cancel button go with it, and each progress tick then raised "wrapped C/C++ object has
    been deleted" from the slot: QGIS's Python error window, again and again while the run went on.
    """
    return widget is not None and not sip.isdeleted(widget)


def bar_text(text: str) -> str:
    """Return ``text`` for QGIS's message bar, which shows its messages as HTML.

    Layer and file names, engine errors (which name files) and model names come from outside: a file named
    ``a<a href=...>b.tif`` showed as a link, and ``x&lt;b&gt;`` as another name. Escaped, every one reads as written.
    """
    return html.escape(text, quote=False)


def open_report(path: Path) -> bool:
    """Open a run's ``report.html`` in the system browser (it is self-contained, so no server is needed)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def announce_result(bar: Any, message: str, report_path: Path | None, warned: bool = False) -> None:
    """Say what a run found in the message bar, with an "Open report" button when the run wrote a report.

    A run the engine warned about (``warned``) is shown as a warning, not a plain success: its message names them.
    """
    level = compat.MESSAGE_WARNING if warned else compat.MESSAGE_SUCCESS
    if report_path is None:
        bar.pushMessage(LOG_TAG, bar_text(message), level, 15)
        return
    item = bar.createMessage(LOG_TAG, bar_text(message))
    button = QPushButton(tr("Open report"), item)
    button.setObjectName("dakd_open_report")
    button.setToolTip(str(report_path))
    button.clicked.connect(lambda _checked=False: open_report(report_path))
    item.layout().addWidget(button)
    bar.pushWidget(item, level, 30)


def run_output_dir(settings: PluginSettings, layer_name: str) -> Path:
    """Reserve a new, empty folder under the cache's ``runs`` folder, e.g. ``runs/S1A_scene-20250101-101500``.

    The folder is made here, not named only: two runs started within the same second, or on two layers with
    the same name (several SNAP ``Sigma0_VV_db`` exports), used to get the same name, and the later one
    replaced the earlier one's results while its layers were in the project. The engine writes into an empty
    folder without ``--overwrite``; :func:`release_run_dir` removes it again if the run leaves it empty.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", layer_name).strip("._") or "layer"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = settings.runs_dir()
    runs.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        candidate = runs / (f"{safe}-{stamp}" if suffix == 1 else f"{safe}-{stamp}-{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            suffix += 1
            continue
        return candidate


def release_run_dir(folder: Path) -> None:
    """Remove a folder :func:`run_output_dir` reserved if the run left it empty (failed, cancelled, refused)."""
    try:
        folder.rmdir()  # only an empty folder: whatever is in it stays
    except OSError:
        pass


def start_segmentation(
    iface: Any,
    layer: QgsRasterLayer,
    settings: PluginSettings | None = None,
    on_done: Callable[[Segmentation], None] | None = None,
    task_manager: Any = None,
    offer_installer: Callable[[list[str]], None] | None = None,
) -> Segmentation | None:
    """Start "Segment oil spills" on ``layer`` with the plugin settings; None (and a message) if it cannot start.

    Args:
        iface: the QGIS interface (message bar).
        layer: a raster layer backed by a file.
        settings: plugin settings (loaded when None).
        on_done: called with the :class:`Segmentation` when it has finished (success, failure or cancel).
        task_manager: where to queue the task; ``False`` creates it without starting it (tests run it
            themselves); None uses QGIS's task manager.
        offer_installer: called with the missing package names when the engine Python lacks some (the
            plugin shows the message with its Install… button); None shows the error alone.
    """
    settings = settings or PluginSettings.load()
    try:
        source = raster_file(layer)
        out_dir = run_output_dir(settings, layer.name())
    except (InputProblem, OSError) as error:
        reason = str(error)[:1].upper() + str(error)[1:]
        iface.messageBar().pushMessage(LOG_TAG, bar_text(reason), compat.MESSAGE_CRITICAL, 0)
        return None
    try:
        request = make_request(source, out_dir, settings, overwrite=False)  # a new folder: nothing to replace
    except InputProblem as error:
        release_run_dir(out_dir)
        reason = str(error)[:1].upper() + str(error)[1:]
        iface.messageBar().pushMessage(LOG_TAG, bar_text(reason), compat.MESSAGE_CRITICAL, 0)
        return None
    for warning in request.warnings:
        sentence = warning[:1].upper() + warning[1:] + "."
        iface.messageBar().pushMessage(LOG_TAG, bar_text(sentence), compat.MESSAGE_WARNING, 15)
    task = DetectTask(
        tr("Segment oil spills in {layer}").format(layer=layer.name()), request, settings.python_executable()
    )
    segmentation = Segmentation(iface, layer, task, on_done, offer_installer)
    if task_manager is not False:
        (task_manager or QgsApplication.taskManager()).addTask(task)
    return segmentation
