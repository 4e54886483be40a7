"""``dakd describe``: the contract as JSON, on stdout or in a file, without importing torch."""

import json
import subprocess
import sys

from engine.cli import main
from engine.contract import SCHEMA_VERSION, describe


def test_describe_json_prints_the_contract(capsys):
    assert main(["describe", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["schema_version"] == SCHEMA_VERSION
    assert {key: value for key, value in printed.items() if key != "engine_version"} == json.loads(
        json.dumps(describe())
    )


def test_describe_without_json_is_a_short_summary(capsys):
    assert main(["describe"]) == 0
    text = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}" in text and "mps" in text and len(text.splitlines()) < 12


def test_describe_out_writes_the_file_and_refuses_to_replace_it(tmp_path, capsys):
    out = tmp_path / "contract.json"
    assert main(["describe", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    assert capsys.readouterr().out == ""
    assert main(["describe", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["describe", "--out", str(out), "--overwrite"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["contract.json"]  # no temporary left behind


def test_describe_does_not_import_torch():
    """The plugin may run it on every start: it must stay fast."""
    code = (
        "import sys\nfrom engine.cli import main\nassert main(['describe', '--json']) == 0\n"
        "assert 'torch' not in sys.modules, 'dakd describe imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
