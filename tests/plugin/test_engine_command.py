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
