"""Parsing engine events and explaining how a child process ended."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.qgis


def test_parse_event():
    from dakd_qgis.events import parse_event

    assert parse_event('{"event": "progress", "done": 3, "total": 10}\n') == {
        "event": "progress",
        "done": 3,
        "total": 10,
    }
    assert parse_event("dakd: warning: something") is None
    assert parse_event("{not json") is None
    assert parse_event('{"no_event": 1}') is None


def test_event_percent_and_eta():
    from dakd_qgis.events import event_percent, format_eta

    assert event_percent({"event": "progress", "done": 3, "total": 12}) == 25.0
    assert event_percent({"event": "progress", "done": 3, "total": None}) is None
    assert event_percent({"event": "log"}) is None
    assert format_eta(None) == "" and format_eta(42.4) == "42 s left"
    assert format_eta(125) == "2 min 05 s left" and format_eta(3720) == "1 h 02 min left"


def test_describe_exit():
    from dakd_qgis.events import describe_exit

    assert describe_exit(0, False, False) == ""
    assert describe_exit(2, False, False, "labels.gpkg: no polygons") == "Labels.gpkg: no polygons"
    assert "out of memory" in describe_exit(-9, False, False, process="training process")
    assert "out of memory" in describe_exit(9, True, False)
    assert describe_exit(130, False, True, "cancelled by the user; no output was written").startswith("Cancelled")
    assert "exit code 1" in describe_exit(1, False, False)


def test_last_json_object_skips_stray_json_that_is_not_an_object():
    """A probe's report is its last JSON object; a later ``42`` or ``[]`` printed by an import is not the report."""
    from dakd_qgis.events import last_json_object

    assert last_json_object(['{"device": {"name": "cpu"}}', "[]", "42", "null", "plain text"]) == {
        "device": {"name": "cpu"}
    }
    assert last_json_object(['{"a": 1}', '{"b": 2}']) == {"b": 2}
    assert last_json_object(["[1, 2]", '"text"', ""]) is None
