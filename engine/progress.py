"""Progress reporting and cancellation for long operations.

One mechanism serves three front ends: a tqdm bar on the command line, JSON-lines events that the
QGIS plugin reads from a ``dakd`` subprocess, and a Python callback for in-process callers (the
Processing algorithm, the layer context action). Work loops call :meth:`Stage.advance` once per
batch; that is also where cancellation is checked, so a run stops within one batch.

Event schema (one JSON object per line with ``--progress json``; the kinds, their fields and the schema's
version are defined in :data:`engine.contract.EVENTS`, which the plugin reads)::

    {"event": "stage", "stage": "detect", "total": 120}
    {"event": "progress", "stage": "detect", "done": 12, "total": 120, "eta_s": 31.0, ...metrics}
    {"event": "log", "level": "warning", "message": "..."}
    {"event": "done", ...summary}      (written by the CLI at the end)
    {"event": "error", "message": "..."}  (written by the CLI on failure)

Extra keyword metrics given to ``advance`` (``loss``, ``metric``, ``step``...) are passed through.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from engine.errors import Cancelled

ProgressSink = Callable[[dict[str, Any]], None]
CancelCheck = Callable[[], bool]


class Progress:
    """Hands out stages, forwards their events to a sink and checks for cancellation.

    Args:
        sink: receives every event dict; ``None`` discards them.
        cancel: returns True when the user asked to stop; checked on every ``advance``.
    """

    def __init__(self, sink: ProgressSink | None = None, cancel: CancelCheck | None = None) -> None:
        self.sink = sink
        self.cancel = cancel

    def emit(self, event: dict[str, Any]) -> None:
        """Send one event to the sink, if any."""
        if self.sink is not None:
            self.sink(event)

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel is not None and self.cancel():
            raise Cancelled()

    def stage(self, name: str, total: int | None = None) -> Stage:
        """Start a named stage of ``total`` steps (None when unknown)."""
        self.check_cancelled()
        return Stage(self, name, total)

    def log(self, level: str, message: str) -> None:
        """Forward a log line as an event: the plugin shows it in its log, ``dakd`` on stderr (any --progress)."""
        self.emit({"event": "log", "level": level, "message": message})


class Stage:
    """A counted step of a long operation; a context manager that closes its bar on exit."""

    def __init__(self, progress: Progress, name: str, total: int | None) -> None:
        self.progress = progress
        self.name = name
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        progress.emit({"event": "stage", "stage": name, "total": total})

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.emit({"event": "stage_end", "stage": self.name, "done": self.done, "total": self.total})

    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the mean rate so far."""
        if not self.total or self.done <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return max(0.0, elapsed / self.done * (self.total - self.done))

    def advance(self, n: int = 1, /, **metrics: Any) -> None:
        """Count ``n`` more steps done, report them, and stop here if the user cancelled.

        ``n`` is positional-only, so that no metric name can take its place.
        """
        self.done += n
        eta = self.eta_s()
        event: dict[str, Any] = {
            "event": "progress",
            "stage": self.name,
            "done": self.done,
            "total": self.total,
            "eta_s": None if eta is None else round(eta, 1),
        }
        event.update(metrics)
        self.progress.emit(event)
        self.progress.check_cancelled()


def json_lines_sink(stream: IO[str] | None = None, min_interval_s: float = 0.2) -> ProgressSink:
    """Write events as JSON lines, throttling ``progress`` events to one per ``min_interval_s``.

    Stage boundaries, logs, the first and the last step of a stage are always written, so a reader
    never misses the start or the end of a stage (only progress events count for the throttle).
    Without ``stream``, each line goes to the ``sys.stdout`` of the moment: the CLI's log handler keeps this sink
    after ``main`` returns, and a later log line failed on the stream of that call, closed by then.
    """
    # None = no step written yet in this stage. Not 0.0: the monotonic clock may start near 0 (a machine up for
    # less than min_interval_s), and a first step would then look recent and be dropped.
    last_progress: dict[str, float | None] = {"t": None}
    lock = threading.RLock()  # re-entrant: the CLI signal handler logs (an event) while a write may hold it

    def sink(event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event["event"] == "stage":
            last_progress["t"] = None  # the new stage's first step is always shown
        elif event["event"] == "progress":
            is_last = event.get("total") is not None and event.get("done") == event.get("total")
            last = last_progress["t"]
            if not is_last and last is not None and now - last < min_interval_s:
                return
            last_progress["t"] = now
        with lock:
            out = stream if stream is not None else sys.stdout
            out.write(json.dumps(event, default=str) + "\n")
            out.flush()

    return sink


def tqdm_sink(stream: IO[str] | None = None) -> ProgressSink:
    """Draw one tqdm bar per stage on stderr."""
    from tqdm import tqdm

    bars: dict[str | None, Any] = {}
    out = stream if stream is not None else sys.stderr

    def sink(event: dict[str, Any]) -> None:
        kind = event["event"]
        stage = event.get("stage")
        if kind == "stage":
            bars[stage] = tqdm(total=event.get("total"), desc=stage, file=out, leave=True, dynamic_ncols=True)
        elif kind == "progress" and stage in bars:
            bar = bars[stage]
            bar.update(event["done"] - bar.n)
            shown = {k: v for k, v in event.items() if k in ("loss", "metric", "lr") and v is not None}
            if shown:
                bar.set_postfix(shown, refresh=False)
        elif kind == "stage_end" and stage in bars:
            bars.pop(stage).close()

    return sink
