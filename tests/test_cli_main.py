import subprocess
import sys

import pytest

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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["detect"], "dakd: error: the following arguments are required: INPUT, --out (see dakd detect --help)"),
        (
            ["detect", "scene.tif", "--out", "out", "--bogus"],  # the sub-command's help, not the top level's
            "dakd: error: unrecognized arguments: --bogus (see dakd detect --help)",
        ),
        (
            ["model", "info", "m.json", "--bogus", "x"],
            "dakd: error: unrecognized arguments: --bogus x (see dakd model info --help)",
        ),
        (
            ["detect", "scene.tif", "--out", "out", "--overlap", "abc"],
            "dakd: error: argument --overlap: invalid int value: 'abc' (see dakd detect --help)",
        ),
        (
            ["detect", "scene.tif", "--out", "out", "--method", "magic"],
            "dakd: error: argument --method: invalid choice",
        ),
        (["finetune", "--lr"], "dakd: error: argument --lr: expected one argument (see dakd finetune --help)"),
        (["model", "info"], "dakd: error: the following arguments are required: path (see dakd model info --help)"),
        (["no-such-command"], "dakd: error: argument COMMAND: invalid choice: 'no-such-command'"),
    ],
)
def test_command_line_mistakes_are_one_line(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--progress", "none", *argv])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(expected), captured.err
    assert list(tmp_path.iterdir()) == []


def test_help_keeps_the_full_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["detect", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dakd detect") and "--overlap PX" in out and out.count("\n") > 20


def test_engine_logs_after_main_go_to_the_current_stderr(capsys, monkeypatch):
    """The log handler ``main`` installs outlives it: it wrote to the stream of that call, closed by then."""
    import io
    import logging

    assert main(["describe"]) == 0  # a command installs the handler, under this test's captured stderr
    capsys.readouterr()
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("dakd").warning("a warning after main returned")
    assert later.getvalue() == "dakd: a warning after main returned\n"
