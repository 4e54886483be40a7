"""Dependency checks and the private installer (a real pip run from a local wheel, no network)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


def test_requirement_versions():
    from dakd_qgis.deps import parse_requirement

    numpy = parse_requirement("numpy>=1.23,<2")
    assert numpy.accepts("1.26.4") and not numpy.accepts("2.0.1") and not numpy.accepts("1.22")
    assert parse_requirement("torch>=2.1").accepts("2.13.0+cpu")
    assert not parse_requirement("attrs>=23").accepts("22.2.0")
    assert parse_requirement("Pillow>=9").import_name == "PIL"
    assert parse_requirement("attrs>=23").import_name == "attr"
    with pytest.raises(ValueError, match="unsupported version clause"):
        parse_requirement("numpy=>1.2")


def test_engine_requirements_are_the_engines_own_list(package_plugin):
    import tomllib

    from dakd_qgis.deps import engine_requirements

    repo = Path(package_plugin.__file__).resolve().parents[1]
    listed = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [r.line for r in engine_requirements()] == listed
    assert {"torch", "rasterio", "fiona", "shapely"} <= {r.name for r in engine_requirements()}


def test_check_requirements_from_metadata():
    from dakd_qgis.deps import check_requirements, missing_requirements, parse_requirement

    statuses = check_requirements()
    assert all(status.ok for status in statuses), [s.describe() for s in statuses if not s.ok]
    extra = check_requirements([parse_requirement("dakd-surely-not-installed>=1"), parse_requirement("numpy>=99")])
    assert [s.describe() for s in extra] == [
        "missing",
        f"{importlib.metadata.version('numpy')} installed, needs numpy>=99",
    ]
    assert [r.name for r in missing_requirements(extra)] == ["dakd-surely-not-installed", "numpy"]


def test_constraints_pin_qgis_numpy_and_gdal():
    from dakd_qgis.deps import constraints_text

    lines = constraints_text().splitlines()
    assert f"numpy=={importlib.metadata.version('numpy')}" in lines
    assert f"GDAL=={importlib.metadata.version('GDAL')}" in lines


def test_pip_installs_into_the_private_folder_only(local_wheels, tmp_path):
    """A real, offline pip run: the package lands in the private folder, numpy is not installed again."""
    from dakd_qgis.deps import parse_requirement, pip_install_command

    wheels = local_wheels
    base = tmp_path / "private"
    command = pip_install_command(
        sys.executable,
        [parse_requirement("dakdprobe>=1")],
        base,
        extra_args=["--no-index", "--find-links", str(wheels)],
    )
    assert command.arguments[:4] == ["-m", "pip", "install", "--user"]
    assert "-c" in command.arguments and Path(command.arguments[command.arguments.index("-c") + 1]).is_file()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONNOUSERSITE"}
    env.update(command.environment)
    done = subprocess.run(
        [command.program, *command.arguments], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    site = command.site_dir
    assert (site / "dakdprobe" / "__init__.py").is_file()
    assert not list(site.glob("numpy*")), "pip installed a second numpy next to QGIS's"
    probe = subprocess.run(
        [sys.executable, "-c", "import dakdprobe, numpy; print(dakdprobe.VALUE, numpy.__file__)"],
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    value, numpy_file = probe.stdout.split()
    assert value == "42" and str(base) not in numpy_file


def other_version_python(folder: Path, version: str = "3.99") -> Path:
    """QGIS's own Python behind a script that, asked its version and user site, answers ``version`` instead."""
    from dakd_qgis.settings import default_python

    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    wrapper = folder / f"python{version}"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = "-I" ] && [ "$2" = "-S" ]; then\n'
        f'  "{default_python()}" "$@" | sed "s/{own}/{version}/"\n  exit 0\nfi\nexec "{default_python()}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def test_an_engine_python_of_another_version_gets_its_own_private_folder(
    tmp_path, monkeypatch, isolated_plugin_settings
):
    """Trust: pip_install_command put a 3.12 engine Python's wheels into the folder named for QGIS's 3.11, and every
    engine child, whatever its Python, had QGIS's version's folder (compiled wheels) on its PYTHONPATH. Now the
    folder is the one of the version the engine Python reports, for the install and for every child it runs."""
    from dakd_qgis import paths
    from dakd_qgis.deps import UnknownPythonVersion, parse_requirement, pip_install_command

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    qgis_site = paths.deps_site_dir()
    qgis_site.mkdir(parents=True)  # what QGIS's own Python installed
    other = str(other_version_python(tmp_path))

    command = pip_install_command(other, [parse_requirement("dakdprobe>=1")])
    base = tmp_path / "profile" / "python3.99"
    assert command.environment == {"PYTHONUSERBASE": str(base)}
    assert command.site_dir == base / qgis_site.relative_to(paths.deps_base_dir()).as_posix().replace(own, "3.99")
    assert (base / "constraints.txt").is_file()

    def front(python):
        return paths.engine_subprocess_env({}, python=python).get("PYTHONPATH", "").split(os.pathsep)

    assert str(qgis_site) not in front(other) and str(command.site_dir) not in front(other)  # not made yet
    command.site_dir.mkdir(parents=True)
    assert str(command.site_dir) in front(other) and str(qgis_site) not in front(other)
    assert str(qgis_site) in front("") and str(command.site_dir) not in front("")
    isolated_plugin_settings.engine_python = other  # what every child of the engine set in Settings… gets
    isolated_plugin_settings.save()
    assert str(command.site_dir) in front(None) and str(qgis_site) not in front(None)
    with pytest.raises(UnknownPythonVersion):
        pip_install_command(str(tmp_path / "no-python"), [])
    assert str(qgis_site) not in front(str(tmp_path / "no-python"))


def _run_pip(command) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONNOUSERSITE"}
    env.update(command.environment)
    return subprocess.run(
        [command.program, *command.arguments], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _distribution_python() -> Path:
    """The distribution's Python that QGIS's venv was made from; skips unless it is marked externally managed."""
    import sysconfig

    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / f"python{own}"
    if sys.prefix == sys.base_prefix or not base.is_file():
        pytest.skip("needs QGIS's Python to be a venv over another interpreter")
    if not (Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").is_file():
        pytest.skip("needs a distribution's Python marked externally managed (PEP 668), as Debian 12's")
    return base


def test_pins_and_pep668_are_those_of_the_engine_python_pip_runs_in(local_wheels, tmp_path):
    """Trust: with QGIS in a venv and the distribution's own Python (PEP 668, its own numpy) set as engine Python,
    Install missing pinned QGIS's numpy (pip then wanted it in the private folder: a second numpy, or no such version
    offline) and left out --break-system-packages, judged from QGIS's venv: pip refused to install anything. Both
    are now asked of the Python pip runs in."""
    from dakd_qgis.deps import constraints_text, externally_managed, parse_requirement, pip_install_command

    base = _distribution_python()
    asked = subprocess.run(
        [str(base), "-c", "import importlib.metadata as m; print(m.version('numpy'), m.version('GDAL'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    numpy_version, gdal_version = asked.stdout.split()
    assert constraints_text(str(base)).splitlines()[1:] == [f"numpy=={numpy_version}", f"GDAL=={gdal_version}"]
    assert externally_managed(str(base)) and not externally_managed()  # QGIS's venv is not
    offline = ["--no-index", "--find-links", str(local_wheels)]
    command = pip_install_command(
        str(base), [parse_requirement("dakdprobe>=1")], tmp_path / "private", extra_args=offline
    )
    assert "--break-system-packages" in command.arguments
    done = _run_pip(command)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (command.site_dir / "dakdprobe" / "__init__.py").is_file()
    assert not list(command.site_dir.glob("numpy*")), "pip installed a second numpy next to the engine Python's"


def test_a_venv_without_system_site_packages_gets_no_pins_and_no_user_install(local_wheels, tmp_path):
    """pip refuses ``--user`` in a venv without system site-packages ("User site-packages are not visible in this
    virtualenv"); Install missing ran it anyway, after pinning QGIS's numpy, which that venv does not have. Now
    nothing is pinned for it, and nothing runs or is written: the dialog names the fix in one line."""
    from dakd_qgis.deps import (
        UserSiteRefused,
        constraints_text,
        externally_managed,
        parse_requirement,
        pip_install_command,
    )

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True, timeout=120)
    python = str(tmp_path / "venv" / "bin" / "python")
    pip_home = Path(importlib.metadata.distribution("pip").locate_file(""))  # the venv's pip, were it installed
    refused = subprocess.run(
        [python, "-m", "pip", "install", "--user", "--dry-run", "--no-index", "--find-links", str(local_wheels)]
        + ["dakdprobe"],
        env={**os.environ, "PYTHONPATH": str(pip_home), "PYTHONUSERBASE": str(tmp_path / "userbase")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "User site-packages are not visible in this virtualenv" in refused.stderr
    assert constraints_text(python).splitlines()[1:] == []  # neither numpy nor GDAL there
    assert not externally_managed(python)
    with pytest.raises(UserSiteRefused):
        pip_install_command(python, [parse_requirement("dakdprobe>=1")], tmp_path / "private")
    assert not (tmp_path / "private").exists() and not (tmp_path / "userbase").exists()


def test_install_profiles_detection_only_and_with_fine_tuning():
    """Detection only = the engine without torch plus OpenVINO (the 'detect' extra); fine-tuning adds torch."""
    from dakd_qgis.deps import INSTALL_PROFILES, engine_requirements, profile_requirements

    assert set(INSTALL_PROFILES) == {"detect", "train"}
    detect = [r.name for r in profile_requirements("detect")]
    train = [r.name for r in profile_requirements("train")]
    assert "torch" not in detect and "openvino" in detect and {"rasterio", "fiona", "shapely"} <= set(detect)
    assert set(train) == set(detect) | {"torch"}
    assert {r.name for r in engine_requirements()} <= set(train)
    with pytest.raises(ValueError, match="unknown install profile"):
        profile_requirements("everything")


@pytest.fixture
def absent_packages(monkeypatch) -> set[str]:
    """Names the dependency check reports as missing (add to the set), whatever is installed; the rest is real."""
    from dakd_qgis import deps

    real_check = deps.check_requirement
    absent: set[str] = set()

    def check(requirement, search_path=None, versions=None):
        if requirement.name in absent:
            return deps.RequirementStatus(requirement, None, False, "missing")
        return real_check(requirement, search_path, versions)

    monkeypatch.setattr(deps, "check_requirement", check)
    return absent


def test_a_detection_only_install_is_not_called_missing_torch(absent_packages):
    """After "Detection only" (no torch: OpenVINO runs the model) detection must not be refused for want of torch.

    The engine detects with any one inference runtime (torch, or the ``detect`` extra's OpenVINO); only when
    none is there does detection need one installed.
    """
    from dakd_qgis import deps

    absent = absent_packages
    assert deps.missing_package_names() == []
    absent.add("torch")  # what the installer's "Detection only" leaves out
    assert deps.missing_package_names() == []
    absent.clear()
    absent.add("openvino")  # pip install dakd-oilspill without the detect extra: torch runs the model
    assert deps.missing_package_names() == []
    absent.update({"torch", "rasterio"})  # no runtime at all, and a package detection always needs
    assert set(deps.missing_package_names()) == {"torch", "openvino", "rasterio"}


def test_packages_detection_runs_without_do_not_stop_it(absent_packages, sar_scene, tmp_path):
    """Trust: without roaring-landmask (a 100 MB wheel), matplotlib or tqdm, detection was refused ("the Python
    packages ... are missing") though the engine detects without them. Checked against a real engine run with
    the three imports blocked, on the bundled model with ``--land-mask auto``."""
    import subprocess
    import sys

    from dakd_qgis import deps

    blocked = {"roaring-landmask", "matplotlib", "tqdm"}
    absent_packages.update(blocked)
    assert deps.missing_package_names() == []
    assert set(deps.NOT_NEEDED_TO_DETECT) == blocked
    imports = ("roaring_landmask", "matplotlib", "tqdm")
    script = (
        f"import sys; sys.modules.update(dict.fromkeys({imports!r})); from engine.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-c", script, "--progress", "json", "detect", str(sar_scene), "--out", str(out)]
        + ["--land-mask", "auto"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    land_mask = json.loads((out / "summary.json").read_text())["land_mask"]
    assert (out / "spills.gpkg").is_file() and not land_mask["used"] and "not installed" in land_mask["reason"]


def test_a_detection_only_install_is_told_from_a_failed_one():
    """Check dependencies… opens on "Detection only" when that is what is installed: all but torch usable."""
    from dakd_qgis.deps import RequirementStatus, detection_only_installed, profile_requirements

    def statuses(unusable: set[str]) -> list[RequirementStatus]:
        return [
            RequirementStatus(req, None, req.name not in unusable, "missing" if req.name in unusable else "")
            for req in profile_requirements("train")
        ]

    assert detection_only_installed(statuses({"torch"}))
    assert not detection_only_installed(statuses(set()))  # torch is there: "Detection and fine-tuning"
    assert not detection_only_installed(statuses({"torch", "rasterio"}))  # detection cannot run either
    assert not detection_only_installed(statuses({"rasterio"}))
    assert not detection_only_installed([])
