"""Engine progress events as the plugin sees them: parsing ``--progress json`` lines, percentages, endings.

Plain functions without Qt widgets, shared by the Processing algorithms (``feedback``), the
detection task (``QgsTask.setProgress``) and the fine-tune dialog (a child process's stdout). The
event schema is the engine's (``engine.contract.EVENTS``, read through :mod:`dakd_qgis.contract`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .contract import engine_contract
from .translation import tr
from .wording import plugin_wording


def parse_event(line: str) -> dict[str, Any] | None:
    """Return the event of a ``--progress json`` line, or None for a plain text line."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


#: How ``dakd`` starts the one line that says why it stopped (on stderr, with or without ``--progress json``).
ENGINE_ERROR_PREFIX = "dakd: error: "


def engine_error_line(line: str) -> str:
    """Return the message of a ``dakd: error: ...`` line, "" for any other line.

    A mistake in the command line (an option an older engine does not know, a value it refuses) ends in this
    line alone, on stderr, before any ``error`` event can be written: it is the run's one-line reason.
    """
    text = line.strip()
    return text[len(ENGINE_ERROR_PREFIX) :].strip() if text.startswith(ENGINE_ERROR_PREFIX) else ""


def last_json_object(lines: Sequence[str]) -> dict[str, Any] | None:
    """Return the last line that is a JSON object, or None.

    A probe prints its report last, after whatever the engine Python's imports printed; a stray line such as
    ``42`` or ``[]`` also parses as JSON, and reading it as the report raised inside a Qt slot.
    """
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def describe_exit(
    exit_code: int | None,
    crashed: bool,
    stopped_by_user: bool,
    error_message: str = "",
    process: str = "engine process",
) -> str:
    """Say in one plain sentence how a child process ended ("" when it succeeded).

    Args:
        exit_code: the process's exit code (negative: killed by that signal, as ``subprocess`` reports it).
        crashed: True when Qt reports a crash exit (killed by a signal, segfault).
        stopped_by_user: True when the user pressed Cancel.
        error_message: the ``message`` of the last ``error`` event, if the engine sent one (shown in the
            plugin's words, see :func:`dakd_qgis.wording.plugin_wording`).
        process: what to call the process in the sentence ("training process").
    """
    if exit_code == 0 and not crashed:
        return ""
    error_message = plugin_wording(error_message) if error_message else ""
    if stopped_by_user:
        return _capitalised(
            error_message
            or tr("cancelled by the user; the {process} was stopped and wrote no output").format(process=process)
        )
    if error_message:
        return _capitalised(error_message)
    # Qt reports a crash exit, subprocess a negative code, a shell 128+9 for SIGKILL (the OOM killer's signal).
    if crashed or exit_code == 137 or (exit_code is not None and exit_code < 0):
        return tr(
            "The {process} was killed or crashed, most likely because it ran out of memory: close other "
            "programs, or choose a smaller preset or batch size, and try again."
        ).format(process=process)
    if exit_code == engine_contract().value("exit_codes", "cancelled"):
        return tr("The {process} was interrupted.").format(process=process)
    return tr("The {process} failed (exit code {code}); see the log for the reason.").format(
        process=process, code=exit_code
    )


def _capitalised(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def event_percent(event: dict[str, Any]) -> float | None:
    """Percentage of the current stage done, for a ``progress`` or ``stage_end`` event (None if unknown)."""
    total = event.get("total")
    done = event.get("done")
    if event.get("event") not in ("progress", "stage_end") or not total or done is None:
        return None
    return max(0.0, min(100.0, 100.0 * float(done) / float(total)))


def format_eta(seconds: float | None) -> str:
    """``"2 min 05 s left"``-style text; empty when unknown."""
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return tr("{hours} h {minutes} min left").format(hours=seconds // 3600, minutes=f"{seconds % 3600 // 60:02d}")
    if seconds >= 60:
        return tr("{minutes} min {seconds} s left").format(minutes=seconds // 60, seconds=f"{seconds % 60:02d}")
    return tr("{seconds} s left").format(seconds=seconds)
