"""Help: the Processing algorithms' ``helpUrl`` and the windows' Help buttons open the matching documentation page.

The address points at the built site (``make docs``: ``build/site``; ``help/`` inside the plugin zip) when there is
one, else at the page's Markdown source; either way the file must exist and hold the heading the address names.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from qgis.core import QgsApplication

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


def _slug(heading: str) -> str:
    """GitHub-style anchor of a Markdown heading (the site uses the same, pymdownx.slugs)."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.lstrip("#").strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def assert_opens_a_real_page(url: str, anchor: str) -> None:
    """The URL is a local file that exists and, when it is the built site, holds the anchor."""
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    page = Path(unquote(parsed.path))
    assert page.is_file(), url
    text = page.read_text(encoding="utf-8")
    if page.suffix == ".html":
        assert parsed.fragment == anchor and f'id="{anchor}"' in text, url
    else:  # the Markdown source of a checkout without a built site
        assert anchor in {_slug(line) for line in text.splitlines() if line.startswith("#")}, url


@pytest.mark.parametrize(
    "name, anchor",
    [
        ("detectoilspills", "detect-oil-spills-processing"),
        ("finetuneonmylabels", "fine-tune-on-my-labels"),
        ("traindakdpipeline", "fine-tune-on-my-labels"),
    ],
)
def test_every_algorithm_opens_its_section(dakd_provider, name, anchor):
    algorithm = QgsApplication.processingRegistry().algorithmById(f"dakd:{name}")
    assert algorithm is not None, name
    assert_opens_a_real_page(algorithm.helpUrl(), anchor)


def test_every_window_has_a_help_button_to_its_section(
    qgis_parent, qgis_iface, qgis_new_project, isolated_plugin_settings
):
    from qgis.PyQt.QtWidgets import QPushButton

    from dakd_qgis.dialogs.deps_dialog import DepsDialog
    from dakd_qgis.dialogs.finetune_dialog import FinetuneDialog
    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.process import ProcessRunner

    windows = [
        (SettingsDialog(qgis_parent), "models-settings-check-dependencies"),
        (ModelsDialog(qgis_parent), "models-settings-check-dependencies"),
        (DepsDialog(qgis_parent), "the-qgis-plugin"),
        (FinetuneDialog(qgis_iface), "fine-tune-on-my-labels"),
    ]
    for window, anchor in windows:
        helps = [b for b in window.findChildren(QPushButton) if b.text() == "Help"]
        assert len(helps) == 1, type(window).__name__
        assert_opens_a_real_page(helps[0].property("help_url"), anchor)
        for runner in window.findChildren(ProcessRunner):  # the engine probes some windows start
            runner.stop_and_wait()
        window.deleteLater()


def _paths_module_in(plugin_dir: Path):
    """Load ``paths.py`` as it lies in another plugin folder (a packaged plugin, a checkout without a site)."""
    spec = importlib.util.spec_from_file_location(f"dakd_paths_{plugin_dir.parent.name}", plugin_dir / "paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_checkout_without_a_built_site_opens_the_markdown_page_and_then_the_home_page(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "dakd_qgis").mkdir(parents=True)
    shutil.copy2(REPO / "dakd_qgis" / "paths.py", checkout / "dakd_qgis" / "paths.py")
    shutil.copy2(REPO / "metadata.txt", checkout / "metadata.txt")
    shutil.copytree(REPO / "docs" / "user-guide", checkout / "docs" / "user-guide")
    paths = _paths_module_in(checkout / "dakd_qgis")
    assert paths.help_site_dir() is None
    assert_opens_a_real_page(
        paths.help_url("user-guide/qgis", "detect-oil-spills-processing"), "detect-oil-spills-processing"
    )
    assert paths.help_url("no-such-page") == paths.metadata_value("homepage") != ""


def test_the_packaged_plugin_opens_its_own_copy_of_the_site(package_plugin, tmp_path):
    site = tmp_path / "site"
    (site / "user-guide").mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    (site / "user-guide" / "qgis.html").write_text('<h2 id="detect-oil-spills-processing">Detect</h2>')
    plugin = package_plugin.build_plugin_dir(REPO, tmp_path / "plugins", vendor_engine=False, site=site)
    paths = _paths_module_in(plugin)
    assert paths.help_site_dir() == plugin / "help"
    url = paths.help_url("user-guide/qgis", "detect-oil-spills-processing")
    assert url.startswith((plugin / "help").as_uri())
    assert_opens_a_real_page(url, "detect-oil-spills-processing")


def test_packaging_without_a_built_site_says_to_run_make_docs(package_plugin, tmp_path):
    with pytest.raises(SystemExit, match="make docs"):
        package_plugin.build_plugin_dir(REPO, tmp_path / "plugins", vendor_engine=False, site=tmp_path / "nothing")
