"""Helpers shared by the Processing algorithms."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.qgis


def test_an_engine_message_becomes_one_sentence():
    """Audit: a message ending on the menu item "Settings…" got a full stop after the ellipsis ("Settings….")."""
    from dakd_qgis.algorithms.common import sentence

    assert sentence("cannot read x.tif") == "Cannot read x.tif."
    assert sentence("done!") == "Done!"
    assert sentence("") == "The run failed."
    advice = "cannot start the engine with /opt/py (No such file); set the engine Python in DAKD Oil Spill ▸ Settings…"
    assert sentence(advice) == "C" + advice[1:]
