"""Files and folders the analyst may not read or write: one line naming the path and exit 2, never an internal error.

Modes bind no one under root, so each command runs as the unprivileged user ``nobody`` when the tests run as root
(as in the detect tests' read-only folder), and as the test's own user otherwise.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

from .conftest import dakd_command

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "resources" / "models" / "default.json"


def _drop_to_nobody() -> None:
    os.setgid(65534)
    os.setuid(65534)


def run_unprivileged(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run ``dakd --progress none ARGV`` in ``folder`` as a user the modes there apply to."""
    drop = _drop_to_nobody if os.geteuid() == 0 else None
    env = {**os.environ, "HOME": str(folder), "OMP_NUM_THREADS": "1"}
    if drop is not None:
        probe = subprocess.run(
            [sys.executable, "-c", "import engine.cli"], cwd=folder, preexec_fn=drop, capture_output=True, env=env
        )
        if probe.returncode != 0:
            pytest.skip("the checkout is not readable by the unprivileged user 'nobody'")
    return subprocess.run(
        [*dakd_command(), "--progress", "none", *argv],
        cwd=folder,
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def locked(world_readable_dir):
    """A folder nobody but root may enter (mode 000), holding a copy of the bundled card; opened again afterwards."""
    folder = world_readable_dir / "locked"
    folder.mkdir()
    (folder / "card.json").write_bytes(MODEL.read_bytes())
    folder.chmod(0o000)
    yield folder
    folder.chmod(0o755)


def assert_one_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"dakd: error: {expected}"], done.stderr


def test_a_path_in_a_folder_the_analyst_may_not_enter_is_one_line_not_an_internal_error(locked):
    """`Path.exists()` raises PermissionError there: it was "internal error (PermissionError ...); report it"."""
    advice = "permission denied; ask for access to it (and its folder), or choose a path you can read and write"
    done = run_unprivileged(locked.parent, "model", "info", "locked/card.json")
    assert_one_line(done, f"locked/card.json: {advice}")
    done = run_unprivileged(locked.parent, "simulate", "--size", "32", "32", "--out", "locked/sim")
    assert_one_line(done, f"locked/sim/sim_scene.tif: {advice}")
    locked.chmod(0o755)
    assert sorted(p.name for p in locked.iterdir()) == ["card.json"]


def test_model_list_refuses_a_folder_it_may_not_read(locked):
    """It said "no model cards found in locked" with exit 0: glob finds nothing in a folder it cannot read."""
    done = run_unprivileged(locked.parent, "model", "list", "locked")
    assert done.stdout == ""
    assert_one_line(done, "locked: permission denied; ask for access to the folder, or copy its cards elsewhere")


def test_calibrate_says_a_product_it_may_not_read_is_one_not_that_it_is_no_product(world_readable_dir):
    """An unreadable .SAFE folder was "not a Sentinel-1 product", which sends the analyst to download it again."""
    safe = world_readable_dir / "S1A_IW_GRDH_1SDV.SAFE"
    safe.mkdir()
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>")
    safe.chmod(0o000)
    try:
        done = run_unprivileged(world_readable_dir, "calibrate", safe.name, "--out", "sigma0.tif")
    finally:
        safe.chmod(0o755)
    assert_one_line(done, f"{safe.name}: permission denied; ask for access to the product, or copy it elsewhere")
    assert sorted(p.name for p in world_readable_dir.iterdir()) == [safe.name]


def test_evaluate_refuses_a_read_only_out_folder_before_it_evaluates_or_writes_json(world_readable_dir):
    """The folder of --out was tried only after the evaluation, when --json had been written: half the outputs."""
    assert main(["--progress", "none", "simulate", "--size", "256", "256", "--out", str(world_readable_dir)]) == 0
    for path in world_readable_dir.iterdir():
        path.chmod(0o644)
    read_only, results = world_readable_dir / "read-only", world_readable_dir / "results"
    read_only.mkdir(mode=0o555)
    results.mkdir(mode=0o777)
    results.chmod(0o777)
    data = ["--scene", "sim_scene.tif", "--label-raster", "sim_labels.tif", "--device", "cpu"]
    try:
        done = run_unprivileged(
            world_readable_dir, "evaluate", str(MODEL), *data, "--out", "read-only/metrics.txt", "--json",
            "results/metrics.json",
        )  # fmt: skip
    finally:
        read_only.chmod(0o755)
    assert_one_line(
        done,
        f"cannot write {read_only / 'metrics.txt'}: folder {read_only} is not writable; choose another --out",
    )
    assert list(results.iterdir()) == [] and list(read_only.iterdir()) == []
