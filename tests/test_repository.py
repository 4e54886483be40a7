"""The repository stands on its own (issue 12, item 1): nothing it runs reads the ``../shared`` folder.

The shared data a CI machine keeps beside its checkout is not part of a clone; the tests read copies
in ``tests/data/`` instead. ``.ci/run`` proves it by running the suite with no ``../shared`` beside a
copy of the checkout; this test names the offending file at once, without a CI run.
"""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: A path into the shared folder: ``../shared``, ``shared/data``, ``shared/reference``, or ``"shared"`` as a
#: path part (``Path(...) / "shared"``).
SHARED = re.compile(r"""\.\./shared\b|\bshared/(?:data|reference)\b|/\s*["']shared["']""")


def test_no_code_reads_the_shared_folder():
    sources = [
        path
        for folder in ("engine", "dakd_qgis", "tests", "bench")
        for path in (REPO / folder).rglob("*")
        if path.suffix in (".py", ".sh", ".json", ".toml")
    ]
    sources += [REPO / "Makefile", REPO / "pyproject.toml"]  # .ci/run names ../shared: it proves it is absent
    assert len(sources) > 50
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sources
        if path.is_file() and "__pycache__" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if SHARED.search(line) and path != Path(__file__).resolve()
    ]
    assert found == []


def test_the_copied_test_data_is_in_the_repository():
    assert (REPO / "tests" / "data" / "reference" / "mambavision_state_dict_keys.tsv").is_file()
    product = next((REPO / "tests" / "data" / "sentinel1").glob("*.SAFE"))
    assert (product / "manifest.safe").is_file()
    assert "Apache" in (REPO / "tests" / "data" / "sentinel1" / "NOTICE.md").read_text()


def test_no_gdal_side_file_is_tracked():
    """``resources/sample/sample_scene.tif.aux.xml`` was committed: statistics QGIS wrote when someone opened the
    sample (in its raw int16 units), shipped in the plugin beside the scene every analyst opens first."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()  # fixed arguments, no user input
    assert [name for name in tracked if name.endswith((".aux.xml", ".gfs"))] == []
