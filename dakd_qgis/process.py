"""Running engine programs (``dakd finetune``, pip) as child processes without freezing QGIS.

Training runs in its own process so that a crash or an out-of-memory kill cannot take QGIS down.
:class:`ProcessRunner` wraps ``QProcess``: signals per output line and a clean stop. Parsing the
lines is :mod:`dakd_qgis.events`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from qgis.PyQt.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from .translation import tr


class ProcessRunner(QObject):
    """A ``QProcess`` that reports whole output lines and can be stopped cleanly.

    Signals:
        line_received(str, str): one decoded line and its stream, ``"stdout"`` or ``"stderr"``.
        finished(int, bool): exit code and whether the process crashed or was killed. A program that
            cannot start finishes with -1 and :attr:`start_error` says why.
    """

    line_received = pyqtSignal(str, str)
    finished = pyqtSignal(int, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.stop_requested = False
        self.start_error = ""
        self._buffers = {"stdout": b"", "stderr": b""}

    def start(
        self,
        program: str,
        arguments: Sequence[str],
        environment: Mapping[str, str] | None = None,
        working_dir: str | None = None,
    ) -> None:
        """Start ``program`` with an argument list (never through a shell).

        ``environment`` is the full environment of the child (e.g. from
        :func:`dakd_qgis.paths.engine_subprocess_env`); None keeps QGIS's own.
        """
        if self.is_running():
            raise RuntimeError("a process is already running")
        self.stop_requested = False
        self.start_error = ""
        self._buffers = {"stdout": b"", "stderr": b""}
        process = QProcess(self)
        if environment is not None:
            qt_environment = QProcessEnvironment()
            for key, value in environment.items():
                qt_environment.insert(key, value)
            process.setProcessEnvironment(qt_environment)
        if working_dir:
            process.setWorkingDirectory(working_dir)
        process.readyReadStandardOutput.connect(lambda: self._read("stdout"))
        process.readyReadStandardError.connect(lambda: self._read("stderr"))
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        process.start(program, list(arguments))

    def is_running(self) -> bool:
        """Tell whether the child process runs."""
        return self.process is not None and self.process.state() != QProcess.NotRunning

    def pid(self) -> int:
        """Return the child's process id (0 when not running)."""
        return int(self.process.processId()) if self.process is not None else 0

    def stop(self, grace_ms: int = 5000) -> None:
        """Ask the child to stop (SIGTERM: ``dakd`` stops after the current batch), kill it after ``grace_ms``.

        Notes:
            On Windows a console program cannot receive a polite terminate, so it is killed at once.
        """
        if not self.is_running():
            return
        self.stop_requested = True
        process = self.process
        if os.name == "nt":
            process.kill()
            return
        process.terminate()
        # The timer belongs to the process, so it dies with it and never fires on a deleted process.
        killer = QTimer(process)
        killer.setSingleShot(True)
        killer.timeout.connect(process.kill)
        killer.start(grace_ms)

    def stop_and_wait(self, timeout_ms: int = 3000) -> None:
        """Stop the child now and wait for it (closing QGIS or unloading the plugin: no timer will fire later)."""
        if not self.is_running():
            return
        self.stop_requested = True
        self.process.terminate()
        if not self.process.waitForFinished(timeout_ms):
            self.process.kill()
            self.process.waitForFinished(timeout_ms)

    def _read(self, stream: str) -> None:
        process = self.process
        if process is None:
            return
        try:
            chunk = process.readAllStandardOutput() if stream == "stdout" else process.readAllStandardError()
        except RuntimeError:  # the window (and its QProcess) was deleted while output was still queued
            return
        data = self._buffers[stream] + bytes(chunk)
        *lines, rest = data.split(b"\n")
        self._buffers[stream] = rest
        for raw in lines:
            self.line_received.emit(raw.decode("utf-8", errors="replace").rstrip("\r"), stream)

    def _flush(self) -> None:
        for stream in ("stdout", "stderr"):
            self._read(stream)
            rest, self._buffers[stream] = self._buffers[stream], b""
            if rest.strip():
                self.line_received.emit(rest.decode("utf-8", errors="replace").rstrip("\r"), stream)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._flush()
        self.finished.emit(int(exit_code), exit_status == QProcess.CrashExit)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.FailedToStart and self.process is not None:
            self.start_error = tr(
                "could not start {program} ({reason}): check the engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…"
            ).format(program=self.process.program(), reason=self.process.errorString())
            self.line_received.emit(self.start_error, "stderr")
            self.finished.emit(-1, False)
