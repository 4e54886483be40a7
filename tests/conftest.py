"""Settings and helpers shared by the whole suite. Fixtures live in the conftest of each test folder."""

import os
import shutil
import subprocess

# QGIS and Qt run headless in tests and CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores in CI: keep torch from oversubscribing when pytest runs beside other work.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def can_mount_tmpfs() -> bool:
    """Whether ``unshare -Urm`` lets a test mount a small tmpfs: a real disk that fills up, in its own namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True, check=False
    )
    return probe.returncode == 0


def pytest_configure(config):
    """ONNX exports made by a test run (engine.runtimes) go to a folder of the run's own, removed at the end."""
    if "DAKD_CACHE_DIR" not in os.environ:
        import tempfile

        folder = tempfile.mkdtemp(prefix="dakd-test-cache-")
        os.environ["DAKD_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
