"""Settings shared by the whole suite. Fixtures live in the conftest of each test folder."""

import os

# QGIS and Qt run headless in tests and CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores in CI: keep torch from oversubscribing when pytest runs beside other work.
os.environ.setdefault("OMP_NUM_THREADS", "2")
