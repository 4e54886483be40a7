"""The plugin takes the engine's choices from its contract, and says so in one line when the schema differs."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import engine.contract as engine_contract_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_contracts():
    """Each test reads the contracts again (they are cached per engine)."""
    from dakd_qgis.contract import forget_contracts

    forget_contracts()
    yield
    forget_contracts()


def fake_engine_python(folder: Path, description: dict | None, exit_code: int = 0) -> Path:
    """An "engine Python" that answers ``-m engine describe --json`` with ``description`` (the other side)."""
    python = folder / "other-engine-python"
    text = json.dumps(description) if description is not None else ""
    python.write_text(f"#!/bin/sh\ncat <<'EOF'\n{text}\nEOF\nexit {exit_code}\n", encoding="utf-8")
    python.chmod(0o755)
    return python


def engine_python_wrapper(folder: Path) -> Path:
    """Another engine Python that really is one: this interpreter, started through a script."""
    python = folder / "engine-python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return python


def test_the_plugin_reads_its_own_engine_copy_without_importing_the_engine():
    from dakd_qgis.contract import READ_SCHEMA_VERSION, engine_contract

    contract = engine_contract("")
    assert contract.data == json.loads(json.dumps(engine_contract_module.describe()))
    assert not contract.problem and READ_SCHEMA_VERSION == engine_contract_module.SCHEMA_VERSION
    assert "dakd_qgis._bundled_engine_contract" not in sys.modules  # loaded as a file, not kept as a module


def test_another_engine_python_is_asked_with_dakd_describe(tmp_path):
    from dakd_qgis.contract import engine_contract

    contract = engine_contract(str(engine_python_wrapper(tmp_path)))
    assert not contract.problem
    assert contract.devices == engine_contract_module.DEVICES and contract.data["engine_version"]
    assert engine_contract(str(engine_python_wrapper(tmp_path))) is contract  # asked once per engine


def test_another_schema_version_is_said_in_one_line_and_runs_refuse(tmp_path, isolated_plugin_settings):
    from dakd_qgis.contract import engine_contract
    from dakd_qgis.detection import DetectRequest, run_detect
    from dakd_qgis.engine_command import EngineRunError
    from dakd_qgis.finetune import FinetuneRequest, problems

    python = fake_engine_python(tmp_path, {"schema_version": 99, "devices": ["auto", "tpu"]})
    contract = engine_contract(str(python))
    assert contract.blocking and "schema version 99" in contract.problem and "\n" not in contract.problem
    assert contract.devices == engine_contract_module.DEVICES  # the plugin's own engine copy's choices meanwhile
    with pytest.raises(EngineRunError, match="schema version 99"):
        run_detect(
            DetectRequest("scene.tif", str(tmp_path / "out")),
            str(python),
            lambda e: None,
            lambda t: None,
            lambda: False,
        )
    isolated_plugin_settings.engine_python = str(python)
    isolated_plugin_settings.save()
    assert any("schema version 99" in problem for problem in problems(FinetuneRequest(output="m", dataset=".")))


def test_the_message_bar_names_the_schema_mismatch(qgis_iface, tmp_path, isolated_plugin_settings):
    from dakd_qgis.plugin import DakdPlugin

    isolated_plugin_settings.engine_python = str(fake_engine_python(tmp_path, {"schema_version": 2}))
    isolated_plugin_settings.save()
    bar = qgis_iface.messageBar()
    before = len(bar.get_messages(1))
    assert DakdPlugin(qgis_iface).check_engine_contract()
    warnings = bar.get_messages(1)[before:]
    assert len(warnings) == 1 and "schema version 2" in warnings[0] and "Settings" in warnings[0]


def test_an_engine_that_cannot_describe_itself_is_not_a_crash(qgis_iface, tmp_path, isolated_plugin_settings):
    from dakd_qgis.contract import engine_contract
    from dakd_qgis.plugin import DakdPlugin

    python = fake_engine_python(tmp_path, None, exit_code=1)
    contract = engine_contract(str(python))
    assert not contract.blocking and "cannot describe itself" in contract.problem
    assert contract.presets == engine_contract_module.PRESETS
    isolated_plugin_settings.engine_python = str(python)
    isolated_plugin_settings.save()
    bar = qgis_iface.messageBar()
    before = len(bar.get_messages(1))
    assert not DakdPlugin(qgis_iface).check_engine_contract() and len(bar.get_messages(1)) == before


def test_processing_choices_come_from_the_contract(dakd_provider):
    from qgis.core import QgsApplication

    detect = QgsApplication.processingRegistry().algorithmById("dakd:detectoilspills")
    assert detect.parameterDefinition("DEVICE").options() == list(engine_contract_module.DEVICES)  # mps included
    assert len(detect.parameterDefinition("METHOD").options()) == len(engine_contract_module.METHODS)
    assert detect.parameterDefinition("UNITS").options() == ["auto", *engine_contract_module.UNITS]
    overlap = detect.parameterDefinition("OVERLAP_PX")
    assert (overlap.defaultValue(), overlap.maximum()) == (
        engine_contract_module.DEFAULT_OVERLAP_PX,
        engine_contract_module.MAX_OVERLAP_PX,
    )
    assert detect.parameterDefinition("MIN_AREA_KM2").defaultValue() == engine_contract_module.DEFAULT_MIN_AREA_KM2
    assert detect.parameterDefinition("LAND_BUFFER_M").defaultValue() == engine_contract_module.DEFAULT_LAND_BUFFER_M
    train = QgsApplication.processingRegistry().algorithmById("dakd:traindakdpipeline")
    assert len(train.parameterDefinition("PRESET").options()) == len(engine_contract_module.PRESETS)
    assert train.parameterDefinition("DEVICE").options() == list(engine_contract_module.DEVICES)
    assert train.parameterDefinition("DATASET_FORMAT").options() == [
        name.upper() for name in engine_contract_module.DATA_FORMATS if name != "scenes"
    ]


def test_window_choices_come_from_the_contract(isolated_plugin_settings):
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.finetune import background_labels, label_targets, preset_for_device, preset_labels

    dialog = SettingsDialog()
    try:
        assert [dialog.device.itemText(i) for i in range(dialog.device.count())] == list(engine_contract_module.DEVICES)
    finally:
        dialog.close()
    assert tuple(preset_labels()) == engine_contract_module.PRESETS
    assert tuple(background_labels()) == engine_contract_module.BACKGROUNDS
    assert label_targets() == engine_contract_module.LABEL_TARGETS
    assert [preset_for_device(d) for d in ("cuda:0", "cuda", "cpu", "mps", "")] == [
        engine_contract_module.GPU_PRESET,
        engine_contract_module.GPU_PRESET,
        *[engine_contract_module.CPU_PRESET] * 3,
    ]
    isolated_plugin_settings.device = "mps"
    isolated_plugin_settings.save()
    assert type(isolated_plugin_settings).load().device == "mps"  # the plugin's list used to lack it


def _literal_values(tree: ast.AST) -> list:
    values = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Dict, ast.Set)):
            try:
                values.append(ast.literal_eval(node))
            except ValueError:
                continue
    return values


def test_the_plugin_holds_no_copy_of_a_contract_constant():
    """No tuple, list or dict literal in the plugin equals a choice list or a rule table of the engine's contract."""
    constants = [
        value
        for name, value in vars(engine_contract_module).items()
        if name.isupper() and isinstance(value, (tuple, dict)) and len(value) > 1
    ]
    comparable = [set(value) if isinstance(value, tuple) else value for value in constants]
    copies = []
    for path in sorted((REPO / "dakd_qgis").rglob("*.py")):
        for value in _literal_values(ast.parse(path.read_text(encoding="utf-8"))):
            probe = (
                set(value)
                if isinstance(value, (tuple, list, set)) and all(isinstance(v, (str, int)) for v in value)
                else value
            )
            if any(probe == constant for constant in comparable):
                copies.append(f"{path.relative_to(REPO)}: {value!r}")
    assert not copies, copies


def test_the_installed_plugin_reads_the_contract_of_the_engine_it_ships(package_plugin, tmp_path):
    """The zip's plugin reads ``lib/engine/contract.py`` as a file; the engine package is never imported."""
    import subprocess  # nosec B404 - a fixed argument list

    plugin = package_plugin.build_plugin_dir(REPO, tmp_path)
    (plugin / "lib" / "engine" / "contract.py").write_text(
        (REPO / "engine" / "contract.py").read_text(encoding="utf-8").replace('"mps")', '"mps", "shipped")', 1),
        encoding="utf-8",
    )  # mark the shipped copy, to tell it from the source tree's
    code = (
        "import sys; sys.modules['engine'] = None\n"
        "from dakd_qgis.contract import engine_contract\n"
        "contract = engine_contract('')\n"
        "print(contract.devices[-1], contract.problem or 'ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )  # nosec B603
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["shipped", "ok"]
