import subprocess
import sys

from engine.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert "dakd" in capsys.readouterr().out


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "usage: dakd" in done.stdout
