"""The JSON-lines sink the QGIS plugin reads: what it throttles and what it never drops."""

import io
import json
import time

import pytest

from engine.progress import json_lines_sink


def _events(stream: io.StringIO) -> list[tuple[str, object]]:
    return [(e["event"], e.get("done")) for e in map(json.loads, stream.getvalue().splitlines())]


def test_first_and_last_steps_of_each_stage_are_written_the_rest_throttled() -> None:
    stream = io.StringIO()
    sink = json_lines_sink(stream, min_interval_s=3600)  # nothing passes the throttle by time
    for stage in ("a", "b"):
        sink({"event": "stage", "stage": stage})
        sink({"event": "log", "level": "info", "message": "x"})  # a log does not use up the first step
        for done in range(1, 5):
            sink({"event": "progress", "stage": stage, "done": done, "total": 4})
        sink({"event": "stage_end", "stage": stage})
    one_stage = [("stage", None), ("log", None), ("progress", 1), ("progress", 4), ("stage_end", None)]
    assert _events(stream) == one_stage * 2


def test_without_throttle_every_event_is_written() -> None:
    stream = io.StringIO()
    sink = json_lines_sink(stream, min_interval_s=0)
    for done in range(1, 4):
        sink({"event": "progress", "stage": "a", "done": done, "total": 10})
    assert [done for _, done in _events(stream)] == [1, 2, 3]


def test_first_step_is_written_on_a_machine_up_for_less_than_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    # The monotonic clock counts from boot on Linux: 5 s after boot it reads about 5.0, less than the
    # interval. "Never written" must not be a clock value that such a machine could show.
    clock = iter([5.0, 5.1, 5.2, 5.3, 5.4, 5.5])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    sink = json_lines_sink(stream, min_interval_s=3600)
    sink({"event": "progress", "stage": "a", "done": 1, "total": 4})  # before any stage event too
    sink({"event": "progress", "stage": "a", "done": 2, "total": 4})
    sink({"event": "stage", "stage": "b"})
    sink({"event": "progress", "stage": "b", "done": 1, "total": 4})
    sink({"event": "progress", "stage": "b", "done": 2, "total": 4})
    assert _events(stream) == [("progress", 1), ("stage", None), ("progress", 1)]
