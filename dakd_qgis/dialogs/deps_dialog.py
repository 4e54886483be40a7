"""Check dependencies…: what the engine needs, what QGIS's Python has, the device, and the installer.

The table comes from ``probe_engine.py`` run with the engine Python: it imports every requirement
for real (the check at QGIS start only looks at metadata), so a package that is present but broken
shows up here, and it reports the torch device the engine will use and why. "Install missing" runs
pip in a child process (see :mod:`dakd_qgis.deps` for why it cannot touch QGIS's own packages) and
streams its log. Both run asynchronously; QGIS stays usable.

The plugin keeps one window and shows it again, and Settings… may change the engine Python meanwhile: each
check and each install reads the settings when it starts (:meth:`DepsDialog.refresh`), and an install is of
what the Python set now lacks, so it first checks that Python when the table is another's
(:meth:`DepsDialog.install_missing`).
"""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..deps import (
    INSTALL_PROFILES,
    TORCH_CPU_INDEX,
    RequirementStatus,
    UnknownPythonVersion,
    UserSiteRefused,
    detection_only_installed,
    missing_requirements,
    pip_install_command,
    probe_arguments,
    profile_requirements,
    status_from_probe,
)
from ..events import last_json_object
from ..paths import engine_subprocess_env, private_install_dirs
from ..process import ProcessRunner
from ..settings import PluginSettings
from ..translation import tr
from .widgets import add_buttons, make_table


class DepsDialog(QDialog):
    """Requirements table, device line, and a pip installer with its log.

    Signals:
        checked(): the requirements table and device line were refreshed.
        installed(bool): pip finished (True on success).
    """

    checked = pyqtSignal()
    installed = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("DAKD Oil Spill – Check dependencies"))
        self.resize(720, 560)
        settings = PluginSettings.load()  # read again by each check and install: Settings… may change them
        remembered = settings.install_profile
        #: Nothing installed from here yet: the first check picks the profile (:meth:`_pick_profile`).
        self.pick_profile = not remembered
        self.requirements = profile_requirements(remembered or "train")
        self.install_profile = ""
        self.statuses: list[RequirementStatus] = []
        #: The engine Python the last check was run in: :attr:`statuses` are its packages.
        self.probed_python = ""
        self.probe_output: list[str] = []
        self.runner = ProcessRunner(self)
        self.runner.line_received.connect(self._on_line)
        self.runner.finished.connect(self._on_finished)
        self.mode = ""
        #: What pip was asked to install, while it runs and until the check after it reports (empty if it failed):
        #: pip leaves a package that is present as it is ("Requirement already satisfied"), so one that fails to
        #: import was logged as installed and offered again, and the check after it must say so.
        self.pip_installed: list[str] = []

        layout = QVBoxLayout(self)
        self.table = make_table(self, (tr("Package"), tr("Needed"), tr("Installed"), tr("Status")))
        layout.addWidget(self.table)

        info = QFormLayout()
        self.profile = QComboBox(self)
        self.profile.addItem(tr("Detection and fine-tuning (adds torch: hundreds of MB, GBs with CUDA)"), "train")
        self.profile.addItem(tr("Detection only (OpenVINO runs the model: tens of MB, no torch)"), "detect")
        self.profile.setToolTip(
            tr(
                "Detection runs the model's ONNX export with a light runtime; fine-tuning, and "
                "detection on a GPU, need torch."
            )
        )
        self.profile.setCurrentIndex(self.profile.findData(remembered or "train"))
        self.profile.currentIndexChanged.connect(lambda _index: self.set_profile(self.profile.currentData()))
        info.addRow(tr("Install"), self.profile)
        self.device_label = QLabel(self)
        self.device_label.setWordWrap(True)
        info.addRow(tr("Device"), self.device_label)
        self.backend_label = QLabel(self)
        self.backend_label.setWordWrap(True)
        info.addRow(tr("Runs the model"), self.backend_label)
        self.python_label = QLabel(settings.python_executable(), self)
        info.addRow(tr("Engine Python"), self.python_label)
        #: The private folder of the engine Python checked (one per Python version): set by each check.
        self.folder_label = QLabel(self)
        self.folder_label.setWordWrap(True)
        info.addRow(tr("Private folder"), self.folder_label)
        self.torch_build = QComboBox(self)
        self.torch_build.addItem(tr("CPU only (a much smaller download)"), TORCH_CPU_INDEX)
        self.torch_build.addItem(tr("Default from PyPI (with CUDA on Linux and Windows; several GB)"), "")
        info.addRow(tr("torch build"), self.torch_build)
        layout.addLayout(info)

        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setPlaceholderText(tr("The installer's log appears here."))
        layout.addWidget(self.log)

        self.recheck_button, self.install_button = add_buttons(
            self,
            layout,
            [(tr("Check again"), self.refresh), (tr("Install missing"), lambda: self.install_missing())],
            help_page=("install", "the-qgis-plugin"),
        )
        self.refresh()

    def set_profile(self, profile: str) -> None:
        """Check (and install) for ``detect`` (detection only) or ``train`` (detection and fine-tuning)."""
        if profile not in INSTALL_PROFILES:
            return
        self.pick_profile = False  # the analyst's choice
        if self.profile.currentData() != profile:
            self.profile.setCurrentIndex(self.profile.findData(profile))  # calls back here
            return
        self.requirements = profile_requirements(profile)
        self.refresh()

    def refresh(self) -> None:
        """Start the probe in the engine Python; the table fills when it reports.

        While a check or an install runs, a profile change is checked when it ends (:meth:`_on_finished`): the
        report of one profile was once read against the other's list, and torch, which works, was shown as
        failing to import, with Install missing offering a download of several GB. So is an engine Python changed
        in Settings… meanwhile: the settings are read when each check starts, not once when the window was made.
        """
        if self.runner.is_running():
            return
        settings = PluginSettings.load()  # now: the engine Python may have been changed in Settings… since
        self.mode = "probe"
        self.probed_requirements = self.requirements
        self.probed_python = settings.python_executable()
        self.probe_output = []
        self.install_button.setEnabled(False)
        self.recheck_button.setEnabled(False)
        self.python_label.setText(self.probed_python)
        dirs = private_install_dirs(self.probed_python)  # its own version's: a 3.12 engine never sees 3.11 wheels
        self.folder_label.setText(str(dirs[1]) if dirs is not None else "–")
        self.summary.setText(tr("Checking the engine's packages (importing torch takes a few seconds)…"))
        arguments = probe_arguments(self.probed_python, self.requirements, settings.device)
        self.runner.start(arguments[0], arguments[1:], engine_subprocess_env(python=self.probed_python))

    def install_missing(self, extra_args: list[str] | None = None) -> None:
        """Run pip for the missing requirements (``extra_args`` e.g. for an offline wheel folder).

        In the engine Python set now; when that is not the one the table is of (changed in Settings… since the
        check), nothing is installed and that Python is checked instead: pip once ran in the Python the window
        was opened with, for what that one lacked.
        """
        missing = missing_requirements(self.statuses)
        if not missing or self.runner.is_running():
            return
        python = PluginSettings.load().python_executable()
        if python != self.probed_python:
            self.log.appendPlainText(
                tr(
                    "Nothing was installed: the engine Python is now {python} (Settings…), not the one checked; "
                    "checking it first."
                ).format(python=python)
            )
            self.refresh()
            return
        torch_index_url = self.torch_build.currentData() or ""
        try:
            command = pip_install_command(python, missing, torch_index_url=torch_index_url, extra_args=extra_args or [])
        except OSError as error:  # the private folder cannot be written: one line here, not a traceback
            self.log.appendPlainText(
                tr(
                    "Nothing was installed: cannot write {path} ({reason}); check that the QGIS profile folder "
                    "can be written and has free space."
                ).format(path=error.filename or self.folder_label.text(), reason=error.strerror or error)
            )
            return
        except UserSiteRefused:  # pip refuses --user there; its own packages are the analyst's to change
            own_pip = [_quoted(python), "-m", "pip", "install"]
            if torch_index_url and "torch" in {requirement.name.lower() for requirement in missing}:
                own_pip += ["--extra-index-url", torch_index_url]
            own_pip += [_quoted(requirement.line) for requirement in missing]
            self.log.appendPlainText(
                tr(
                    "Nothing was installed: {python} is a virtual environment without system site-packages, where "
                    "pip cannot install into the plugin's private folder; install the packages into it with its own "
                    "pip ({command}), or make it again with python -m venv --system-site-packages."
                ).format(python=python, command=" ".join(own_pip))
            )
            return
        except UnknownPythonVersion:  # which private folder is its own depends on its version
            self.log.appendPlainText(
                tr(
                    "Nothing was installed: cannot run {python} to ask its Python version; check the engine Python "
                    "in DAKD Oil Spill ▸ Engine ▸ Settings…"
                ).format(python=python)
            )
            return
        environment = engine_subprocess_env(python=python)
        environment.update(command.environment)
        environment.pop("PYTHONNOUSERSITE", None)
        self.mode = "install"
        self.install_profile = self.profile.currentData()
        self.pip_installed = [requirement.name for requirement in missing]
        self.log.appendPlainText(f"$ {command.program} {' '.join(command.arguments)}")
        self.install_button.setEnabled(False)
        self.recheck_button.setEnabled(False)
        self.summary.setText(tr("Installing… this can take several minutes for torch."))
        self.runner.start(command.program, command.arguments, environment)

    def _on_line(self, line: str, stream: str) -> None:
        if self.mode == "probe" and stream == "stdout":
            self.probe_output.append(line)
        else:
            self.log.appendPlainText(line)

    def _on_finished(self, exit_code: int, crashed: bool) -> None:
        mode, self.mode = self.mode, ""
        self.recheck_button.setEnabled(True)
        if mode == "probe":
            changed = self.probed_requirements != self.requirements  # the profile changed while this check ran...
            if changed or PluginSettings.load().python_executable() != self.probed_python:  # ...or the engine Python
                self.refresh()
                return
            self._show_probe(exit_code)
            return
        ok = exit_code == 0 and not crashed
        self.log.appendPlainText(
            tr("Installation finished.")
            if ok
            else self.runner.start_error or tr("pip failed (exit code {code}); see above.").format(code=exit_code)
        )
        if not ok:
            self.pip_installed = []
        else:  # the window opens on it next time (after a restart, torch of a "Detection only" install is no news)
            PluginSettings.load().set_install_profile(self.install_profile)
        self.installed.emit(ok)
        self.refresh()

    def _show_probe(self, exit_code: int) -> None:
        attempted, self.pip_installed = self.pip_installed, []
        report = last_json_object(self.probe_output)
        if report is None:  # the reason says where to set the engine Python
            reason = self.runner.start_error or tr(
                "the engine Python exited with code {code}; check it in DAKD Oil Spill ▸ Engine ▸ Settings…"
            ).format(code=exit_code)
            self.summary.setText(tr("Cannot run the engine Python: {reason}").format(reason=reason))
            self.statuses = []
            self.table.setRowCount(0)
            self.checked.emit()
            return
        self._pick_profile(report)
        self.statuses = status_from_probe(self.requirements, report)
        self.table.setRowCount(len(self.statuses))
        for row, status in enumerate(self.statuses):
            cells = (
                status.requirement.name,
                status.requirement.line,
                status.installed_version or "–",
                status.describe(),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 3:
                    item.setForeground(QColor("#1a7f37" if status.ok else "#b42318"))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        missing = missing_requirements(self.statuses)
        self.install_button.setEnabled(bool(missing))
        names = ", ".join(r.name for r in missing)
        self.summary.setText(
            tr("Everything the engine needs is installed.")
            if not missing
            else tr(
                "Missing or unusable: {names}. Install missing puts them in the private folder; "
                "QGIS's own packages are not changed."
            ).format(names=names)
        )
        left = [requirement.name for requirement in missing if requirement.name in attempted]
        if left:  # pip keeps what is present: a package that fails to import was offered again, to no end
            self.summary.setText(
                tr(
                    "pip finished, but {names} still cannot be used: pip leaves a package that is installed as it "
                    "is, so Install missing cannot repair it. The Status column says what fails."
                ).format(names=", ".join(left))
            )
        device = report.get("device", {})
        self.device_label.setText(
            f"{device['name']} – {device['reason']}"
            if "name" in device
            else tr("unknown ({reason})").format(reason=device.get("error", tr("not reported")))
        )
        backend = report.get("backend", {})
        self.backend_label.setText(
            f"{backend['name']} – {backend['reason']}"
            if "name" in backend
            else tr("unknown ({reason})").format(reason=backend.get("error", tr("not reported")))
        )
        self.python_label.setText(f"{report.get('executable')} (Python {report.get('python')})")
        self.checked.emit()

    def _pick_profile(self, report: dict) -> None:
        """On the first check, when nothing was installed from here: "Detection only" if that is what is installed.

        The check is of "Detection and fine-tuning", which lists every package "Detection only" does, so the same
        report fills the table of either. After a "Detection only" install torch was shown missing, in red, as if
        the install had failed.
        """
        if not self.pick_profile:
            return
        self.pick_profile = False
        if detection_only_installed(status_from_probe(self.requirements, report)):
            self.profile.blockSignals(True)  # no second check: this report holds the answer
            self.profile.setCurrentIndex(self.profile.findData("detect"))
            self.profile.blockSignals(False)
            self.requirements = profile_requirements("detect")

    def shutdown(self) -> None:
        """Stop a running check or install now (plugin unload)."""
        self.runner.stop_and_wait(1000)


def _quoted(argument: str) -> str:
    """``argument`` as typed in a terminal: in double quotes when it holds a space or ``<``, ``>``, ``|``, ``&``."""
    return f'"{argument}"' if any(char in argument for char in " <>|&") else argument
