"""The JSON-lines sink the QGIS plugin reads: what it throttles and what it never drops."""

import io
import json

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
