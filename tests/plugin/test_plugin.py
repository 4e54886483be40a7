"""Loading, unloading and reloading the plugin through QGIS's own plugin machinery (qgis.utils)."""

from __future__ import annotations

import sys

import pytest
import qgis.utils
from qgis.core import QgsApplication, QgsMapLayerType, QgsRasterLayer

pytestmark = pytest.mark.qgis

PLUGIN = "dakd_qgis"


@pytest.fixture
def plugin_modules_restored():
    """Put the plugin's modules back after a test that unloads them (other tests hold references)."""
    saved = {name: module for name, module in sys.modules.items() if name == PLUGIN or name.startswith(PLUGIN + ".")}
    tracked = dict(qgis.utils._plugin_modules)
    yield
    for name in [n for n in sys.modules if n == PLUGIN or n.startswith(PLUGIN + ".")]:
        del sys.modules[name]
    sys.modules.update(saved)
    qgis.utils._plugin_modules.clear()
    qgis.utils._plugin_modules.update(tracked)


def _registry_ids():
    return [provider.id() for provider in QgsApplication.processingRegistry().providers()]


def _start(qgis_iface):
    assert qgis.utils.loadPlugin(PLUGIN)
    assert qgis.utils.startPlugin(PLUGIN), "initGui failed (see the QGIS log)"
    return qgis.utils.plugins[PLUGIN]


def test_class_factory_imports_nothing_heavy(qgis_iface):
    import dakd_qgis

    heavy = ("torch", "rasterio", "fiona", "engine.detect", "engine.modelcard")
    already = {name for name in heavy if name in sys.modules}
    plugin = dakd_qgis.classFactory(qgis_iface)
    assert plugin.iface is qgis_iface
    newly = {name for name in heavy if name in sys.modules} - already
    assert not newly, f"classFactory imported {newly}"


def test_load_unload_reload_leaves_nothing_behind(
    qgis_iface, qgis_new_project, qgis_processing, plugin_modules_restored
):
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("dakd") is None
    plugin = _start(qgis_iface)
    assert "dakd" in _registry_ids()
    assert registry.algorithmById("dakd:detectoilspills") is not None
    assert registry.algorithmById("dakd:finetuneonmylabels") is not None

    menu_calls = qgis_iface.addPluginToRasterMenu.call_args_list
    assert [call.args[0] for call in menu_calls] == ["&DAKD Oil Spill"] * 4
    texts = [call.args[1].text() for call in menu_calls]
    assert texts == ["Detect oil spills…", "Fine-tune on my labels…", "Train DAKD pipeline (advanced)…", "Engine"]
    engine_menu = menu_calls[3].args[1].menu()
    assert [a.text() for a in engine_menu.actions()] == ["Models…", "Settings…", "Check dependencies…"]
    context_call = qgis_iface.addCustomActionForLayerType.call_args
    context_action = context_call.args[0]
    assert context_action.text() == "Segment oil spills"
    assert context_call.args[1:] == ("", QgsMapLayerType.RasterLayer, True)
    toolbar_action = qgis_iface.addRasterToolBarIcon.call_args.args[0]

    assert qgis.utils.unloadPlugin(PLUGIN)
    assert "dakd" not in _registry_ids()
    removed_menu = [call.args[1] for call in qgis_iface.removePluginRasterMenu.call_args_list]
    assert removed_menu == [call.args[1] for call in menu_calls]
    assert qgis_iface.removeCustomActionForLayerType.call_args.args[0] is context_action
    assert qgis_iface.removeRasterToolBarIcon.call_args.args[0] is toolbar_action
    assert plugin.provider is None and not plugin.menu_actions and plugin.context_action is None
    assert PLUGIN not in sys.modules

    # Reload: a fresh start registers everything again (no "already registered" provider left over).
    assert qgis.utils.loadPlugin(PLUGIN)
    assert qgis.utils.startPlugin(PLUGIN)
    assert "dakd" in _registry_ids()
    assert qgis.utils.reloadPlugin(PLUGIN)
    assert _registry_ids().count("dakd") == 1
    assert qgis.utils.unloadPlugin(PLUGIN)
    assert "dakd" not in _registry_ids()


def test_init_processing_alone_registers_the_provider_once(qgis_iface, qgis_processing, plugin_modules_restored):
    """What qgis_process does: classFactory + initProcessing only; a second call does not re-register."""
    assert QgsApplication.processingRegistry().providerById("dakd") is None
    assert qgis.utils.loadPlugin(PLUGIN)
    assert qgis.utils.startProcessingPlugin(PLUGIN)
    plugin = qgis.utils.plugins[PLUGIN]
    plugin.initProcessing()
    assert _registry_ids().count("dakd") == 1
    assert qgis.utils.unloadPlugin(PLUGIN)
    assert "dakd" not in _registry_ids()


def test_duplicate_provider_is_not_kept(qgis_iface, qgis_processing, plugin_modules_restored):
    """addProvider fails for a duplicate id and deletes the object; the plugin must not hold on to it."""
    from dakd_qgis.plugin import DakdPlugin
    from dakd_qgis.provider import DakdProvider

    registry = QgsApplication.processingRegistry()
    first = DakdProvider() if registry.providerById("dakd") is None else None
    if first is not None:
        assert registry.addProvider(first)
    try:
        plugin = DakdPlugin(qgis_iface)
        plugin.initProcessing()
        assert plugin.provider is None
        plugin.unload()  # must not touch the other copy's provider
        assert registry.providerById("dakd") is not None
    finally:
        if first is not None:
            registry.removeProvider(first)


def test_context_action_on_non_raster_warns(qgis_iface, qgis_new_project):
    from dakd_qgis.plugin import DakdPlugin

    plugin = DakdPlugin(qgis_iface)
    qgis_iface._active_layer_id = None
    plugin.segment_active_layer()
    warnings = qgis_iface.messageBar().get_messages(1)
    assert any("Select a SAR raster layer" in text for text in warnings)


def test_dependency_check_offers_install_when_something_is_missing(qgis_iface, monkeypatch):
    from dakd_qgis import deps
    from dakd_qgis.plugin import DakdPlugin

    missing = deps.parse_requirement("dakd-surely-not-installed>=1")
    monkeypatch.setattr(deps, "engine_requirements", lambda: [missing])
    bar = qgis_iface.messageBar()
    bar.clearWidgets()  # earlier tests' messages (the bar is shared by the session)
    DakdPlugin(qgis_iface).check_dependencies_on_start()
    (item,) = bar.items()
    assert "dakd-surely-not-installed" in item.text()
    bar.clearWidgets()


def test_raster_layer_type_constant_matches(qgis_iface, sar_scene):
    from dakd_qgis import compat

    layer = QgsRasterLayer(str(sar_scene), "scene")
    assert layer.type() == compat.RASTER_LAYER_TYPE


def test_menu_windows_open_once_and_close_on_unload(qgis_iface, qgis_new_project):
    import os

    from dakd_qgis.plugin import DakdPlugin

    plugin = DakdPlugin(qgis_iface)
    finetune = plugin.open_finetune_dialog()
    assert plugin.open_finetune_dialog() is finetune  # one window, raised again
    models, settings, deps = plugin.open_models_dialog(), plugin.open_settings_dialog(), plugin.open_deps_dialog()
    assert all(window.isVisible() for window in (finetune, models, settings, deps))
    assert deps.runner.is_running()  # the dependency probe starts at once, in the background
    probe_pid = deps.runner.pid()
    plugin.unload()
    assert not plugin.windows
    assert all(not window.isVisible() for window in (finetune, models, settings))
    with pytest.raises(ProcessLookupError):  # the probe was stopped, not left running behind QGIS
        os.kill(probe_pid, 0)
