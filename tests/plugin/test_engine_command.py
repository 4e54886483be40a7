"""Running ``dakd`` sub-commands from Processing: how a child's end becomes a result or one sentence."""

from __future__ import annotations

import sys
import textwrap

import pytest

pytestmark = pytest.mark.qgis

#: A child that finishes its work (its ``done`` event: the outputs are written) and then dies while exiting.
_DONE_THEN_DIES = """
    import json, os, signal, sys, time
    print(json.dumps({"event": "stage", "stage": "detect", "total": 1}), flush=True)
    print(json.dumps({"event": "done", "out_dir": "/somewhere"}), flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as after the engine's main() returned
    if sys.argv[1] == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)  # a library crashing at interpreter exit
    time.sleep(30)  # a slow interpreter exit (torch, CUDA), during which the analyst presses Cancel
"""


@pytest.mark.parametrize("ending", ["crash", "cancelled"])
def test_a_child_that_said_done_has_finished_whatever_its_exit(tmp_path, ending):
    """The ``done`` event comes after every output is written: a crash or a Cancel after it is no failure."""
    from dakd_qgis.engine_command import run_engine

    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_DONE_THEN_DIES))
    events = []
    done = run_engine(
        [sys.executable, str(script), ending],
        events.append,
        lambda text: None,
        lambda: ending == "cancelled" and any(event["event"] == "done" for event in events),
        poll_s=0.05,
        grace_s=5.0,
    )
    assert done == {"event": "done", "out_dir": "/somewhere"}


def test_a_command_line_the_engine_refuses_is_the_error_not_an_exit_code(tmp_path):
    """An engine that refuses its command line (an older one without an option) writes one ``dakd: error:``
    line and no ``error`` event: that line is the reason, not "failed (exit code 2); see the log"."""
    from dakd_qgis.engine_command import EngineRunError, engine_command, run_engine
    from dakd_qgis.settings import default_python

    texts = []
    arguments = engine_command(
        default_python(),
        ["detect", str(tmp_path / "scene.tif"), "--out", str(tmp_path / "out"), "--no-such-option", "1"],
    )
    with pytest.raises(EngineRunError) as raised:
        run_engine(arguments, lambda event: None, texts.append, lambda: False, poll_s=0.05)
    message = str(raised.value)
    assert message.startswith("Unrecognized arguments: ") and "no-such-option" in message
    assert "exit code" not in message and "--help" not in message and "\n" not in message
    assert any("no-such-option" in text for text in texts)  # and the log has it too
