"""Models…, Settings… and Check dependencies… windows."""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = pytest.mark.qgis


def _installed_package(site, name: str, init: str) -> None:
    """Write package ``name`` 1.0 into the site-packages folder ``site`` as pip would: module and metadata."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(init)
    (site / f"{name}-1.0.dist-info").mkdir()
    (site / f"{name}-1.0.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")


def checked_deps_dialog(qgis_parent, wait_for_signal, requirement: str):
    """A Check dependencies window that has checked ``requirement`` alone."""
    from dakd_qgis.deps import parse_requirement
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    dialog.requirements = [parse_requirement(requirement)]
    dialog.refresh()
    assert wait_for_signal(dialog.checked)
    return dialog


def deps_dialog_missing_a_package(qgis_parent, wait_for_signal):
    """A Check dependencies window that has checked and found one package (dakdprobe) to install."""
    dialog = checked_deps_dialog(qgis_parent, wait_for_signal, "dakdprobe>=1")
    assert dialog.install_button.isEnabled()
    return dialog


def test_settings_dialog_saves(qgis_parent, isolated_plugin_settings, tmp_path):
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.settings import PluginSettings

    dialog = SettingsDialog(qgis_parent)
    assert dialog.device.currentText() == "auto"
    dialog.device.setCurrentText("cpu")
    assert dialog.precision.currentText() == "auto"
    dialog.precision.setCurrentText("bf16")
    dialog.cache_folder.setText(str(tmp_path / "other-cache"))
    dialog.accept()
    saved = PluginSettings.load()
    assert saved.device == "cpu" and saved.cache_folder == str(tmp_path / "other-cache")
    assert saved.precision == "bf16"
    dialog.deleteLater()


def test_settings_dialog_shows_which_backend_and_device_detection_uses(
    qgis_parent, isolated_plugin_settings, wait_for_signal
):
    """Issue 14: the backend and device `dakd detect` will use, each with its reason, asked of the engine Python."""
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog

    dialog = SettingsDialog(qgis_parent)
    dialog.device.setCurrentText("cpu")
    assert wait_for_signal(dialog.probed), "the engine did not report"
    text = dialog.runs_on.text()
    assert text.split(" on ")[0] in ("openvino", "onnxruntime", "torch"), text
    assert " on cpu" in text and "requested cpu" in text and "Backend: auto:" in text
    dialog.reject()
    dialog.deleteLater()


@pytest.fixture
def chatty_engine_python(isolated_plugin_settings, tmp_path):
    """An engine Python that prints a stray JSON line that is not an object ("[]") after every program it runs."""
    from dakd_qgis.settings import default_python

    wrapper = tmp_path / "chatty-python"
    wrapper.write_text(f'#!/bin/sh\n"{default_python()}" "$@"\necho "[]"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    isolated_plugin_settings.engine_python = str(wrapper)
    isolated_plugin_settings.save()
    return wrapper


def test_probe_dialogs_read_the_report_past_a_stray_json_line(qgis_parent, chatty_engine_python, wait_for_signal):
    """Trust: a last stdout line that parses as JSON but is no object raised inside the Qt slot, so the
    Settings and Check dependencies windows never showed the engine's report."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog

    settings = SettingsDialog(qgis_parent)
    settings.device.setCurrentText("cpu")
    assert wait_for_signal(settings.probed), "the settings probe did not report"
    assert " on cpu" in settings.runs_on.text(), settings.runs_on.text()
    settings.reject()
    settings.deleteLater()
    deps = DepsDialog(qgis_parent)
    assert wait_for_signal(deps.checked), "the dependency probe did not report"
    assert deps.table.rowCount() == len(deps.requirements), deps.summary.text()
    deps.deleteLater()


def test_models_dialog_lists_sets_default_and_deletes(qgis_parent, model_card, isolated_plugin_settings, monkeypatch):
    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs import models_dialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    registered = register_model(model_card, isolated_plugin_settings, validate=False)
    dialog = models_dialog.ModelsDialog(qgis_parent)
    rows = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert "test-model" in rows
    row = rows.index("test-model")
    dialog.table.selectRow(row)
    dialog.set_selected_default()
    assert PluginSettings.load().default_model == str(registered)
    assert dialog.table.item(row, 1).text() == "✔"
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.Yes)
    dialog.table.selectRow(row)
    dialog.delete_selected()
    assert not registered.exists()
    assert PluginSettings.load().default_model == ""
    dialog.deleteLater()


@pytest.mark.parametrize("name", ["x&lt;b&gt;y", "<a href=http:example.org>see here"])
def test_the_delete_question_shows_a_model_name_as_it_is(
    qgis_parent, model_card, isolated_plugin_settings, monkeypatch, name
):
    """Audit: QMessageBox guesses rich text, so a model file name holding markup was rendered (a link, an entity).

    The first name can be imported (only ``<``, ``>`` and path characters are refused); the second is a card
    copied into the models folder by hand.
    """
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QTextDocument
    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs.models_dialog import ModelsDialog

    folder = isolated_plugin_settings.models_dir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(model_card.with_suffix(suffix), folder / f"{name}{suffix}")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.No)
    dialog = ModelsDialog(qgis_parent)
    dialog.table.selectRow([entry.name for entry in dialog.entries].index(name))
    dialog.delete_selected()
    (question,) = asked
    document = QTextDocument()
    document.setHtml(question) if Qt.mightBeRichText(question) else document.setPlainText(question)  # AutoText
    assert document.toPlainText() == f"Delete the model '{name}' and its weights?"
    dialog.deleteLater()


def test_models_dialog_import_shows_the_engines_reason(qgis_parent, model_card, isolated_plugin_settings, tmp_path):
    from dakd_qgis.dialogs.models_dialog import ModelsDialog

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "dakd-model-card", "name": "b"}')
    shutil.copy(model_card.with_suffix(".safetensors"), broken.with_suffix(".safetensors"))
    dialog = ModelsDialog(qgis_parent)
    assert dialog.import_card(broken) is None
    assert dialog.status.toPlainText().startswith("Not imported:")
    assert "invalid model card" in dialog.status.toPlainText()
    dialog.deleteLater()


def test_a_long_import_error_is_shown_whole(qgis_parent, isolated_plugin_settings, tmp_path):
    """Issue 12 item 18: a reason naming a long path wraps inside the window instead of being cut off."""
    from dakd_qgis.dialogs.models_dialog import ModelsDialog

    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    deep.mkdir(parents=True)
    broken = deep / "broken.json"
    broken.write_text("not json")
    dialog = ModelsDialog(qgis_parent)
    dialog.show()
    assert dialog.import_card(broken) is None
    text = dialog.status.toPlainText()
    assert text.startswith("Not imported:") and str(broken) in text
    document = dialog.status.document()
    document.setTextWidth(dialog.status.viewport().width())
    assert document.idealWidth() <= dialog.status.viewport().width() + 1  # wrapped, nothing runs off the side
    assert dialog.status.width() <= dialog.width()
    dialog.deleteLater()


def test_the_bundled_model_cannot_be_offered_for_deletion(qgis_parent, isolated_plugin_settings, monkeypatch):
    """Issue 12 item 18: Delete is not offered for the bundled model (it used to ask, then refuse)."""
    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs.models_dialog import ModelsDialog

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args) or QMessageBox.Yes)
    dialog = ModelsDialog(qgis_parent)
    bundled = [row for row, entry in enumerate(dialog.entries) if entry.bundled]
    assert bundled, "the repository ships a default model"
    assert not dialog.delete_button.isEnabled()  # nothing selected
    dialog.table.selectRow(bundled[0])
    assert not dialog.delete_button.isEnabled() and dialog.inspect_button.isEnabled()
    dialog.delete_selected()
    assert asked == [] and dialog.entries[bundled[0]].card_path.is_file()
    dialog.deleteLater()


def test_deps_dialog_probes_the_engine_python(qgis_parent, wait_for_signal):
    """The probe imports every requirement in the engine Python and reports the torch device and why."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked), "the probe did not report"
    assert "no CUDA" in dialog.device_label.text() or "CUDA" in dialog.device_label.text()
    assert dialog.table.rowCount() == len(dialog.requirements)
    statuses = [dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())]
    assert set(statuses) == {"ok"}, statuses
    assert dialog.device_label.text().startswith("cpu")
    assert not dialog.install_button.isEnabled()
    assert "Everything the engine needs is installed" in dialog.summary.text()
    # Which backend runs the model, and why (issue 14): the fastest installed on the CPU.
    assert dialog.backend_label.text().split(" – ")[0] in ("openvino", "onnxruntime", "torch")
    assert "auto:" in dialog.backend_label.text()
    dialog.deleteLater()


def test_deps_dialog_offers_detection_only_without_torch(qgis_parent, wait_for_signal):
    """Detection only: the engine's packages without torch, plus the light runtime; fine-tuning adds torch."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    assert "torch" in [r.name for r in dialog.requirements]
    dialog.set_profile("detect")
    assert wait_for_signal(dialog.checked), "the probe did not report"
    names = [r.name for r in dialog.requirements]
    assert "torch" not in names and "openvino" in names and {"rasterio", "fiona", "shapely"} <= set(names)
    assert dialog.table.rowCount() == len(names)
    assert dialog.profile.currentData() == "detect"
    dialog.deleteLater()


def test_deps_dialog_checks_the_profile_chosen_while_a_check_ran(qgis_parent, wait_for_signal):
    """Trust: switching profile while a check ran read one profile's report against the other's list, so torch,
    which works, showed as "fails to import: not checked" and Install missing offered several GB."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    dialog = DepsDialog(qgis_parent)  # its check for "Detection and fine-tuning" starts at once
    assert wait_for_signal(dialog.checked)
    dialog.set_profile("detect")  # starts a check of "Detection only" (no torch in its list)...
    assert dialog.runner.is_running()
    dialog.set_profile("train")  # ...and back, while it runs
    reports = wait_for_signal(dialog.checked)
    assert reports and dialog.profile.currentData() == "train"
    statuses = {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}
    assert statuses.get("torch") == "ok" and set(statuses.values()) == {"ok"}, statuses
    assert not dialog.install_button.isEnabled()
    dialog.deleteLater()


@pytest.mark.slow
def test_deps_dialog_installs_a_missing_package_privately(
    qgis_parent, local_wheels, tmp_path, monkeypatch, wait_for_signal
):
    """Offline: a missing requirement is installed from a local wheel into the private folder, then found."""
    from dakd_qgis import paths
    from dakd_qgis.deps import parse_requirement
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    dialog.requirements = [parse_requirement("dakdprobe>=1"), parse_requirement("numpy>=1.23")]
    dialog.refresh()
    assert wait_for_signal(dialog.checked)
    assert [dialog.table.item(r, 3).text() for r in range(2)] == ["missing", "ok"]
    assert dialog.install_button.isEnabled()
    dialog.install_missing(["--no-index", "--find-links", str(local_wheels)])
    assert wait_for_signal(dialog.installed, 300) == [(True,)], dialog.log.toPlainText()
    assert wait_for_signal(dialog.checked)
    assert [dialog.table.item(r, 3).text() for r in range(2)] == ["ok", "ok"]
    site = paths.deps_site_dir()
    assert str(site).startswith(str(tmp_path / "profile")) and (site / "dakdprobe").is_dir()
    assert not list(site.glob("numpy*"))
    assert "--user" in dialog.log.toPlainText()
    dialog.deleteLater()


def test_a_package_pip_leaves_as_it_is_is_not_reported_installed(qgis_parent, tmp_path, monkeypatch, wait_for_signal):
    """Audit: a package that is present but fails to import (a missing system library, a half-written install) was
    offered by Install missing; pip said "Requirement already satisfied", the log "Installation finished.", and the
    window offered the same install again. Now it says pip cannot repair it."""
    from dakd_qgis import paths

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    site = paths.deps_site_dir()
    _installed_package(site, "dakdbroken", "raise ImportError('libfoo.so.1: cannot open shared object file')\n")
    dialog = checked_deps_dialog(qgis_parent, wait_for_signal, "dakdbroken>=1")
    assert dialog.table.item(0, 3).text().startswith("fails to import: ImportError: libfoo.so.1")
    dialog.install_missing(["--no-index"])
    assert wait_for_signal(dialog.installed, 300) == [(True,)], dialog.log.toPlainText()
    assert wait_for_signal(dialog.checked)
    assert "Requirement already satisfied" in dialog.log.toPlainText()
    assert dialog.summary.text().startswith("pip finished, but dakdbroken still cannot be used"), dialog.summary.text()
    dialog.refresh()  # checked again: the usual summary
    assert wait_for_signal(dialog.checked)
    assert dialog.summary.text().startswith("Missing or unusable: dakdbroken."), dialog.summary.text()
    dialog.deleteLater()


def test_install_missing_into_a_folder_that_cannot_be_written_is_one_line(
    qgis_parent, tmp_path, monkeypatch, wait_for_signal
):
    """Install missing wrote pip's constraints file into the profile's private folder unguarded: where the folder
    cannot be made (here a file stands in its place) the button raised NotADirectoryError. Now the log says so
    in one line, and nothing runs."""
    from dakd_qgis import paths

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    (tmp_path / "profile").write_text("a file where the plugin's folder should be")
    dialog = deps_dialog_missing_a_package(qgis_parent, wait_for_signal)
    dialog.install_button.click()
    lines = dialog.log.toPlainText().splitlines()
    assert lines == [
        f"Nothing was installed: cannot write {paths.deps_base_dir()} (Not a directory); check that the QGIS "
        "profile folder can be written and has free space."
    ], lines
    assert not dialog.runner.is_running() and dialog.install_button.isEnabled()
    assert (tmp_path / "profile").read_text() == "a file where the plugin's folder should be"
    dialog.deleteLater()


def test_the_settings_window_shown_again_shows_and_keeps_the_default_chosen_meanwhile(
    qgis_parent, model_card, isolated_plugin_settings
):
    """Audit: the plugin keeps one Settings window; shown again, it listed the models of its first showing, and
    OK put back the default model it read then."""
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    dialog = SettingsDialog(qgis_parent)
    dialog.show()
    dialog.reject()  # closed; the plugin shows this same window next time
    registered = register_model(model_card, PluginSettings.load(), "new-default", make_default=True, validate=False)
    dialog.show()
    assert dialog.default_model.currentData() == str(registered)
    dialog.accept()
    assert PluginSettings.load().default_model == str(registered)
    dialog.deleteLater()


def test_settings_ok_writes_only_what_was_changed_in_the_window(qgis_parent, model_card, isolated_plugin_settings):
    """Open while a fine-tune registers its model as the default: OK with another device keeps that default."""
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    dialog = SettingsDialog(qgis_parent)
    dialog.show()
    registered = register_model(model_card, PluginSettings.load(), "trained", make_default=True, validate=False)
    dialog.device.setCurrentText("cpu")
    dialog.accept()
    saved = PluginSettings.load()
    assert (saved.device, saved.default_model) == ("cpu", str(registered))
    dialog.deleteLater()


def test_settings_ok_keeps_a_default_model_that_is_not_in_the_list(qgis_parent, isolated_plugin_settings, tmp_path):
    """A default card outside the model list (moved, deleted) is shown as it is, not changed by OK unasked."""
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.settings import PluginSettings

    isolated_plugin_settings.set_default_model(str(tmp_path / "elsewhere.json"))
    dialog = SettingsDialog(qgis_parent)
    assert "elsewhere.json" in dialog.default_model.currentText()
    dialog.accept()
    assert PluginSettings.load().default_model == str(tmp_path / "elsewhere.json")
    dialog.deleteLater()


def test_models_window_shown_again_lists_the_models_registered_since(qgis_parent, model_card, isolated_plugin_settings):
    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    dialog = ModelsDialog(qgis_parent)
    dialog.show()
    dialog.close()
    register_model(model_card, PluginSettings.load(), "trained-since", make_default=True, validate=False)
    dialog.show()
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert rows.get("trained-since") == "✔", rows
    dialog.deleteLater()


def test_a_models_button_on_the_list_of_a_cache_folder_moved_since_reads_the_list_again(
    qgis_parent, model_card, isolated_plugin_settings, tmp_path, monkeypatch
):
    """Audit: with the cache folder moved in Settings… (its own window), Delete on the open list's model said it
    "is not a registered model", and Set as default made the old folder's model the default."""
    import dataclasses

    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    old = register_model(model_card, isolated_plugin_settings, "in-old-folder", validate=False)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.Yes)
    dialog = ModelsDialog(qgis_parent)
    moved = tmp_path / "moved-cache"
    for action in (dialog.set_selected_default, dialog.delete_selected):
        dataclasses.replace(PluginSettings.load(), cache_folder=isolated_plugin_settings.cache_folder).save()
        dialog.refresh()
        dialog.table.selectRow([entry.name for entry in dialog.entries].index("in-old-folder"))
        dataclasses.replace(PluginSettings.load(), cache_folder=str(moved)).save()  # in Settings…, meanwhile
        action()
        status = dialog.status.toPlainText()
        assert "changed in Settings" in status and str(moved / "models") in status, status
        assert "in-old-folder" not in [entry.name for entry in dialog.entries]  # the list is the new folder's
    assert asked == [] and old.exists() and PluginSettings.load().default_model == ""
    dialog.deleteLater()


def test_import_asks_before_replacing_a_registered_name(
    qgis_parent, model_card, isolated_plugin_settings, tmp_path, monkeypatch
):
    """Audit: Import… of a card whose name is registered replaced that model, the default one included."""
    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    default = register_model(model_card, isolated_plugin_settings, "shared", make_default=True, validate=False)
    kept = default.read_bytes()
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    card = incoming / "shared.json"  # the same model under another description: a card the engine accepts
    data = json.loads(model_card.read_text())
    data["description"] = "imported from a colleague"
    card.write_text(json.dumps(data))
    shutil.copy(model_card.with_suffix(".safetensors"), card.with_suffix(".safetensors"))
    asked, answers = [], [QMessageBox.No, QMessageBox.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2]) or answers.pop(0))
    dialog = ModelsDialog(qgis_parent)
    assert dialog.import_card(card) is None  # No: nothing replaced
    assert asked and "'shared' is already registered" in asked[0] and "default model" in asked[0]
    assert (
        dialog.status.toPlainText().startswith("Not imported:") and "already registered" in dialog.status.toPlainText()
    )
    assert default.read_bytes() == kept and PluginSettings.load().default_model == str(default)
    assert dialog.import_card(card) == default  # Yes: replaced, and detection uses the imported model
    assert json.loads(default.read_text())["description"] == "imported from a colleague"
    assert PluginSettings.load().default_model == str(default)
    dialog.deleteLater()


@pytest.fixture
def engine_python_without_torch(isolated_plugin_settings, tmp_path):
    """An engine Python as a "Detection only" install leaves it: every package but torch."""
    from dakd_qgis.settings import default_python

    stub = tmp_path / "no-torch" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    wrapper = tmp_path / "python-without-torch"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{stub.parent}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{default_python()}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    isolated_plugin_settings.engine_python = str(wrapper)
    isolated_plugin_settings.save()
    return wrapper


def _statuses(dialog) -> dict[str, str]:
    return {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}


def test_deps_dialog_opens_on_detection_only_when_that_is_installed(
    qgis_parent, engine_python_without_torch, wait_for_signal
):
    """Audit: after a "Detection only" install (and a restart) the window opened on "Detection and fine-tuning"
    and showed torch missing, in red, as if the install had failed."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog
    from dakd_qgis.settings import PluginSettings

    dialog = DepsDialog(qgis_parent)  # nothing remembered: the first check picks
    assert wait_for_signal(dialog.checked)
    statuses = _statuses(dialog)
    assert dialog.profile.currentData() == "detect" and "torch" not in statuses, statuses
    assert set(statuses.values()) == {"ok"} and not dialog.install_button.isEnabled(), statuses
    assert "Everything the engine needs is installed" in dialog.summary.text()
    assert not dialog.runner.is_running()  # picked from the same report, no second check
    dialog.deleteLater()
    PluginSettings.load().set_install_profile("train")  # what the analyst installed last: shown as it is
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    assert dialog.profile.currentData() == "train" and _statuses(dialog)["torch"] == "missing"
    dialog.deleteLater()


def test_deps_dialog_remembers_the_profile_it_installed(qgis_parent, tmp_path, monkeypatch, wait_for_signal):
    """A successful install remembers its profile; the window opens on it next time, torch or not."""
    from dakd_qgis import paths
    from dakd_qgis.deps import parse_requirement
    from dakd_qgis.dialogs.deps_dialog import DepsDialog
    from dakd_qgis.settings import PluginSettings

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    site = paths.deps_site_dir()
    _installed_package(site, "dakdpresent", "raise ImportError('libfoo.so.1: cannot open')\n")
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    assert dialog.profile.currentData() == "train"  # torch is there: not a "Detection only" install
    dialog.set_profile("detect")
    assert wait_for_signal(dialog.checked)
    dialog.requirements = [parse_requirement("dakdpresent>=1")]
    dialog.refresh()
    assert wait_for_signal(dialog.checked)
    assert PluginSettings.load().install_profile == ""
    dialog.install_missing(["--no-index"])  # pip: "Requirement already satisfied", exit code 0
    assert wait_for_signal(dialog.installed, 300) == [(True,)], dialog.log.toPlainText()
    assert wait_for_signal(dialog.checked)
    assert PluginSettings.load().install_profile == "detect"
    dialog.deleteLater()
    dialog = DepsDialog(qgis_parent)
    assert dialog.profile.currentData() == "detect" and "torch" not in [r.name for r in dialog.requirements]
    assert wait_for_signal(dialog.checked)
    dialog.deleteLater()


def test_a_wrong_engine_python_is_named_once_with_one_advice(qgis_parent, isolated_plugin_settings, wait_for_signal):
    """Audit: "…check the engine Python in DAKD Oil Spill ▸ Engine ▸ Settings…. Set it in Settings…." """
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    isolated_plugin_settings.engine_python = "/nonexistent/python3"
    isolated_plugin_settings.save()
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    text = dialog.summary.text()
    assert text.startswith("Cannot run the engine Python: could not start /nonexistent/python3"), text
    assert text.count("Settings") == 1 and text.endswith("Engine ▸ Settings…"), text
    dialog.deleteLater()


def _set_engine_python(path: str) -> None:
    """What OK in Settings… does when only the engine Python was changed there."""
    from dakd_qgis.settings import PluginSettings

    stored = PluginSettings.load()
    stored.engine_python = path
    stored.save()


@pytest.fixture
def recording_engine_python(tmp_path):
    """Another engine Python (QGIS's own behind a script) that writes what it is asked to run into a log."""
    from dakd_qgis.settings import default_python

    log = tmp_path / "engine-python.log"
    wrapper = tmp_path / "recording-python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{default_python()}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper, log


def test_deps_dialog_checks_the_engine_python_set_since_it_opened(
    qgis_parent, isolated_plugin_settings, recording_engine_python, wait_for_signal
):
    """Review: the window read the settings once, when made (and the plugin keeps it and shows it again), so after
    the engine Python was changed in Settings… Check again still probed the old one and called its packages the
    engine's."""
    from dakd_qgis.dialogs.deps_dialog import DepsDialog
    from dakd_qgis.settings import default_python

    wrapper, log = recording_engine_python
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    assert not log.exists()
    _set_engine_python(str(wrapper))
    dialog.recheck_button.click()
    assert dialog.python_label.text() == str(wrapper)  # named while it is checked
    assert wait_for_signal(dialog.checked)
    assert "probe_engine.py" in log.read_text()
    assert set(_statuses(dialog).values()) == {"ok"}
    _set_engine_python("/nonexistent/python3")
    dialog.recheck_button.click()
    assert wait_for_signal(dialog.checked)
    text = dialog.summary.text()
    assert text.startswith("Cannot run the engine Python: could not start /nonexistent/python3"), text
    assert dialog.python_label.text() == "/nonexistent/python3" != default_python()
    _set_engine_python("")  # QGIS's own again...
    dialog.recheck_button.click()
    assert dialog.runner.is_running() and dialog.python_label.text() == default_python()
    _set_engine_python(str(wrapper))  # ...and the other one while that check runs: its report is not shown
    probes = log.read_text().count("probe_engine.py")
    assert len(wait_for_signal(dialog.checked)) == 1
    assert log.read_text().count("probe_engine.py") == probes + 1 and dialog.probed_python == str(wrapper)
    assert set(_statuses(dialog).values()) == {"ok"}
    dialog.deleteLater()


def test_install_missing_never_runs_pip_in_a_python_that_was_not_checked(
    qgis_parent, isolated_plugin_settings, recording_engine_python, tmp_path, monkeypatch, wait_for_signal
):
    """Review: Install missing ran pip in the engine Python the window was opened with, for what that Python lacked,
    after Settings… had set another. Now it checks the Python set now first; the install after that check runs
    in it."""
    from dakd_qgis import paths

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    wrapper, log = recording_engine_python
    dialog = deps_dialog_missing_a_package(qgis_parent, wait_for_signal)
    _set_engine_python(str(wrapper))
    installed = []
    dialog.installed.connect(lambda ok: installed.append(ok))
    dialog.install_button.click()  # the table is the old Python's: check the new one first, install nothing
    assert dialog.runner.is_running() and dialog.mode == "probe"
    assert "Nothing was installed" in dialog.log.toPlainText() and str(wrapper) in dialog.log.toPlainText()
    assert wait_for_signal(dialog.checked)
    assert installed == [] and "-m pip" not in log.read_text() and "probe_engine.py" in log.read_text()
    assert _statuses(dialog) == {"dakdprobe": "missing"}
    dialog.install_missing(["--no-index"])  # checked: pip runs in the engine Python set now
    assert wait_for_signal(dialog.installed, 300) == [(False,)], dialog.log.toPlainText()
    assert "-m pip install" in log.read_text()
    assert wait_for_signal(dialog.checked)
    dialog.deleteLater()


@pytest.fixture
def other_version_python(tmp_path):
    """QGIS's own Python behind a script that, asked its version and user site (``-I -S``), says 3.99 instead."""
    import sys

    from dakd_qgis.settings import default_python

    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    wrapper = tmp_path / "python3.99"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = "-I" ] && [ "$2" = "-S" ]; then\n'
        f'  "{default_python()}" "$@" | sed "s/{own}/3.99/"\n  exit 0\nfi\nexec "{default_python()}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def test_an_engine_python_of_another_version_is_not_given_qgiss_private_folder(
    qgis_parent, isolated_plugin_settings, other_version_python, tmp_path, monkeypatch, wait_for_signal
):
    """Trust: the folder named for QGIS's Python version was put on the path of an engine Python of another version
    (its compiled wheels then fail to import, or crash), and Install missing filled it with that other version's
    wheels. Check dependencies… now checks, and installs into, the folder of the engine Python's own version."""
    from dakd_qgis import paths

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    qgis_site = paths.deps_site_dir()  # what QGIS's own Python installed
    _installed_package(qgis_site, "dakdbuilt", "")
    dialog = checked_deps_dialog(qgis_parent, wait_for_signal, "dakdbuilt>=1")
    assert _statuses(dialog) == {"dakdbuilt": "ok"} and dialog.folder_label.text() == str(qgis_site)
    _set_engine_python(str(other_version_python))
    dialog.recheck_button.click()
    assert wait_for_signal(dialog.checked)
    assert _statuses(dialog) == {"dakdbuilt": "missing"}
    assert dialog.folder_label.text().startswith(str(tmp_path / "profile" / "python3.99")), dialog.folder_label.text()
    other_version_python.write_text("#!/bin/sh\nexit 1\n")  # broken since: which folder is its own is unknown
    dialog.install_button.click()
    assert dialog.log.toPlainText().splitlines() == [
        f"Nothing was installed: cannot run {other_version_python} to ask its Python version; check the engine "
        "Python in DAKD Oil Spill ▸ Engine ▸ Settings…"
    ]
    assert not dialog.runner.is_running() and not (tmp_path / "profile" / "python3.99").exists()
    dialog.deleteLater()


def test_install_missing_for_a_venv_without_system_site_packages_is_one_line_naming_the_fix(
    qgis_parent, isolated_plugin_settings, tmp_path, monkeypatch, wait_for_signal
):
    """pip refuses ``--user`` in a venv made without --system-site-packages ("User site-packages are not visible in
    this virtualenv"): Install missing ran it there anyway, and the log ended in pip's error and "pip failed (exit
    code 1)", naming no way out. Now nothing runs and nothing is written, and one line names the fix; the venv's
    own packages are the analyst's to change."""
    import subprocess
    import sys

    from dakd_qgis import paths
    from dakd_qgis.deps import parse_requirement
    from dakd_qgis.dialogs.deps_dialog import DepsDialog

    monkeypatch.setattr(paths, "profile_data_dir", lambda: tmp_path / "profile")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    files = sorted(venv.rglob("*"))
    _set_engine_python(python)
    dialog = DepsDialog(qgis_parent)
    assert wait_for_signal(dialog.checked)
    dialog.requirements = [parse_requirement("dakdprobe>=1"), parse_requirement("numpy>=1.23,<2")]
    dialog.refresh()
    assert wait_for_signal(dialog.checked)
    assert _statuses(dialog) == {"dakdprobe": "missing", "numpy": "missing"}
    dialog.install_button.click()
    assert dialog.log.toPlainText().splitlines() == [
        f"Nothing was installed: {python} is a virtual environment without system site-packages, where pip cannot "
        "install into the plugin's private folder; install the packages into it with its own pip "
        f'({python} -m pip install "dakdprobe>=1" "numpy>=1.23,<2"), or make it again with python -m venv '
        "--system-site-packages."
    ], dialog.log.toPlainText()
    assert not dialog.runner.is_running() and dialog.install_button.isEnabled()
    assert not (tmp_path / "profile").exists() and sorted(venv.rglob("*")) == files
    dialog.deleteLater()


def test_each_models_action_replaces_the_status_line(qgis_parent, model_card, isolated_plugin_settings, monkeypatch):
    """Audit: "Imported X." stayed under the list after X was made the default, and after X was deleted."""
    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.dialogs.models_dialog import ModelsDialog

    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.Yes)
    dialog = ModelsDialog(qgis_parent)
    assert dialog.import_card(model_card) is not None
    assert dialog.status.toPlainText() == f"Imported {model_card.name}."
    row = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())].index("test-model")
    dialog.table.selectRow(row)
    dialog.set_selected_default()
    assert dialog.status.toPlainText() == "test-model is now the default model for detection."
    dialog.table.selectRow(row)
    dialog.delete_selected()
    assert dialog.status.toPlainText().startswith("Deleted test-model."), dialog.status.toPlainText()
    assert "Imported" not in dialog.status.toPlainText()
    dialog.deleteLater()


def test_a_card_whose_weights_are_missing_is_not_made_the_default(
    qgis_parent, model_card, isolated_plugin_settings, monkeypatch
):
    """Audit: "Set as default" on a card whose .safetensors was moved away said it was now the default, and every
    detection then failed on it; the Models window now says why not and keeps the default as it was."""
    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.models import register_model, weights_path
    from dakd_qgis.settings import PluginSettings

    registered = register_model(model_card, isolated_plugin_settings, validate=False)
    weights_path(registered).unlink()
    dialog = ModelsDialog(qgis_parent)
    row = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())].index("test-model")
    dialog.table.selectRow(row)
    dialog.set_selected_default()
    text = dialog.status.toPlainText()
    expected = f"Not set as default: {registered}: its weights file test-model.safetensors is missing"
    assert text.startswith(expected), text
    assert PluginSettings.load().default_model == ""
    dialog.deleteLater()
