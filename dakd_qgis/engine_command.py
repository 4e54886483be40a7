"""Running ``dakd`` sub-commands as child processes from Processing algorithms (no event loop there).

Processing runs algorithms in a worker thread without a Qt event loop, so this uses
``subprocess.Popen`` with a reader thread, polling ``feedback.isCanceled()`` between lines. The
fine-tune dialog runs the same command lines through :class:`dakd_qgis.process.ProcessRunner`.
"""

from __future__ import annotations

import queue
import re
import subprocess  # nosec B404
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .contract import engine_contract
from .events import describe_exit, engine_error_line, parse_event
from .paths import engine_subprocess_env
from .translation import tr
from .wording import plugin_wording


def engine_command(python: str, command: Sequence[str]) -> list[str]:
    """Return the argument list that runs ``dakd --progress json <command...>`` with ``python``."""
    return [python, "-m", "engine", "--progress", "json", *command]


def engine_option(flag: str, value: str) -> list[str]:
    """Return ``flag`` and its ``value`` as arguments the engine's parser reads whatever the value starts with.

    argparse takes a value that begins with ``-`` for another option ("expected one argument"): an area of
    interest west of Greenwich (``-9.01,54.12,...``) or a label value ``-1`` (``-1=ignore``) stopped the run.
    Such a value is joined to its flag (``--aoi=-9.01,...``), which argparse reads as the flag's value.
    """
    return [f"{flag}={value}"] if value.startswith("-") else [flag, value]


class EngineRunError(RuntimeError):
    """A ``dakd`` child process failed or was cancelled; the message is one sentence for the user."""


class MissingPackagesError(EngineRunError):
    """The engine Python lacks packages the engine needs; ``packages`` names them (the installer can add them)."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = sorted(set(packages))
        super().__init__(missing_packages_sentence(self.packages))


def missing_packages_sentence(packages: Sequence[str]) -> str:
    """Say which Python packages are missing and where to install them."""
    return tr(
        "the Python packages {names} are missing; install them with DAKD Oil Spill ▸ Engine ▸ Check "
        "dependencies… (Install missing)"
    ).format(names=", ".join(packages))


#: How Python reports a package that is not installed.
_NO_MODULE = re.compile(r"^(?:ModuleNotFoundError|ImportError): No module named '([\w.]+)'")


def _log_details(lines: Sequence[str]) -> None:
    """Put a child's traceback into QGIS's log (the analyst sees one sentence, the details stay for a report)."""
    try:
        from qgis.core import Qgis, QgsMessageLog
    except ImportError:  # pragma: no cover - always there inside QGIS
        return
    QgsMessageLog.logMessage("\n".join(lines), "DAKD Oil Spill", Qgis.Warning)


def run_engine(
    arguments: Sequence[str],
    on_event: Callable[[dict[str, Any]], None],
    on_text: Callable[[str], None],
    is_canceled: Callable[[], bool],
    poll_s: float = 0.2,
    grace_s: float = 10.0,
    process_name: str = "",
) -> dict[str, Any]:
    """Run an engine command to the end, forwarding its events; return its ``done`` event.

    Args:
        arguments: the full argument list (see :func:`engine_command`).
        on_event: called with every JSON event (progress, stage, log...).
        on_text: called with every other output line (warnings), except a Python traceback, which goes to
            QGIS's log instead (the analyst gets the one-sentence error).
        is_canceled: polled every ``poll_s`` seconds; when it turns True the child gets SIGTERM (it stops
            after its current batch).
        poll_s: how often cancellation is checked while the child is quiet.
        grace_s: a cancelled child still running after this many seconds is killed.
        process_name: what error messages call the child ("training process"; default "engine process").

    Raises:
        MissingPackagesError: the engine Python lacks a package (the child could not import it).
        EngineRunError: the child failed (with the engine's one-line error), crashed, or was cancelled, before
            its ``done`` event (after it the outputs are written, so the run has succeeded however the child ends).
    """
    process_name = process_name or tr("engine process")
    contract = engine_contract(arguments[0])
    if contract.blocking:  # another schema: its events and choices cannot be read safely
        raise EngineRunError(contract.problem)
    try:
        # An argument list built by engine_command: no shell, no user string is parsed.
        process = subprocess.Popen(  # nosec B603
            list(arguments),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=engine_subprocess_env(python=arguments[0]),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
    except OSError as error:
        message = tr(
            "cannot start the engine with {python} ({reason}); set the engine Python in DAKD Oil Spill ▸ "
            "Engine ▸ Settings…"
        )
        raise EngineRunError(message.format(python=arguments[0], reason=error.strerror or error)) from error
    with process:  # closes the pipe (no ResourceWarning) and reaps the child
        try:
            return _follow(process, on_event, on_text, is_canceled, poll_s, grace_s, process_name)
        except BaseException:
            if process.poll() is None:  # a bug on our side: do not leave the child running
                process.kill()
            raise


def _follow(
    process: subprocess.Popen,
    on_event: Callable[[dict[str, Any]], None],
    on_text: Callable[[str], None],
    is_canceled: Callable[[], bool],
    poll_s: float,
    grace_s: float,
    process_name: str,
) -> dict[str, Any]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    done: dict[str, Any] = {}
    error_message = ""
    cancelled = False
    finished_reading = False
    traceback_lines: list[str] = []
    missing: list[str] = []
    killer: threading.Timer | None = None
    while not finished_reading:
        if is_canceled() and not cancelled:
            cancelled = True
            process.terminate()
            killer = threading.Timer(grace_s, lambda: process.poll() is None and process.kill())
            killer.start()
        try:
            line = lines.get(timeout=poll_s)
        except queue.Empty:
            continue
        if line is None:
            finished_reading = True
            continue
        event = parse_event(line)
        if event is None:
            if line.startswith("Traceback (most recent call last)") or traceback_lines:
                traceback_lines.append(line)
                match = _NO_MODULE.match(line)
                if match:
                    missing.append(match.group(1).split(".")[0])
            elif line.strip():
                error_message = error_message or engine_error_line(line)  # a refused command line has no event
                on_text(plugin_wording(line))
            continue
        if event["event"] == "done":
            done = event
        elif event["event"] == "error":
            error_message = str(event.get("message", ""))
        elif event["event"] == "log":
            event = dict(event, message=plugin_wording(str(event.get("message", ""))))
        on_event(event)
    exit_code = process.wait()
    reader.join(timeout=1.0)
    if killer is not None:
        killer.cancel()
    if traceback_lines:
        _log_details(traceback_lines)
    if done:
        # The engine says "done" only after every output is written: a Cancel that came too late, or a crash
        # while the interpreter exits, changes nothing the run made.
        return done
    if missing and exit_code != 0 and not error_message:
        raise MissingPackagesError(missing)
    message = describe_exit(exit_code, False, cancelled, error_message, process_name)
    if message:
        raise EngineRunError(message)
    return done
