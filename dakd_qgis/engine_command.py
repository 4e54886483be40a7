"""Running ``dakd`` sub-commands as child processes from Processing algorithms (no event loop there).

Processing runs algorithms in a worker thread without a Qt event loop, so this uses
``subprocess.Popen`` with a reader thread, polling ``feedback.isCanceled()`` between lines. The
fine-tune dialog runs the same command lines through :class:`dakd_qgis.process.ProcessRunner`.
"""

from __future__ import annotations

import queue
import subprocess  # nosec B404
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .events import describe_exit, parse_event
from .paths import engine_subprocess_env


def engine_command(python: str, command: Sequence[str]) -> list[str]:
    """Return the argument list that runs ``dakd --progress json <command...>`` with ``python``."""
    return [python, "-m", "engine", "--progress", "json", *command]


class EngineRunError(RuntimeError):
    """A ``dakd`` child process failed or was cancelled; the message is one sentence for the user."""


def run_engine(arguments: Sequence[str], on_event: Callable[[dict[str, Any]], None],
               on_text: Callable[[str], None], is_canceled: Callable[[], bool],
               poll_s: float = 0.2, grace_s: float = 10.0, process_name: str = "engine process") -> dict[str, Any]:
    """Run an engine command to the end, forwarding its events; return its ``done`` event.

    Args:
        arguments: the full argument list (see :func:`engine_command`).
        on_event: called with every JSON event (progress, stage, log...).
        on_text: called with every other output line (stderr, warnings).
        is_canceled: polled every ``poll_s`` seconds; when it turns True the child gets SIGTERM (it stops
            after its current batch).
        poll_s: how often cancellation is checked while the child is quiet.
        grace_s: a cancelled child still running after this many seconds is killed.
        process_name: what error messages call the child ("training process").

    Raises:
        EngineRunError: the child failed (with the engine's one-line error), crashed, or was cancelled.
    """
    try:
        # An argument list built by engine_command: no shell, no user string is parsed.
        process = subprocess.Popen(  # nosec B603
            list(arguments), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=engine_subprocess_env(),
            text=True, encoding="utf-8", errors="replace", bufsize=1)
    except OSError as error:
        raise EngineRunError(f"cannot start the engine with {arguments[0]} ({error.strerror or error}); set the "
                             "engine Python in DAKD Oil Spill > Engine > Settings…") from error
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
    while not finished_reading:
        if is_canceled() and not cancelled:
            cancelled = True
            process.terminate()
            threading.Timer(grace_s, lambda: process.poll() is None and process.kill()).start()
        try:
            line = lines.get(timeout=poll_s)
        except queue.Empty:
            continue
        if line is None:
            finished_reading = True
            continue
        event = parse_event(line)
        if event is None:
            if line.strip():
                on_text(line)
            continue
        if event["event"] == "done":
            done = event
        elif event["event"] == "error":
            error_message = str(event.get("message", ""))
        on_event(event)
    exit_code = process.wait()
    reader.join(timeout=1.0)
    message = describe_exit(exit_code, False, cancelled, error_message, process_name)
    if message:
        raise EngineRunError(message)
    return done
