"""The documentation: the site builds as ``make docs`` builds it (offline, ``--strict``), the README stays a landing
page whose links resolve, and the citation carries the engine's version."""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404 - a fixed argument list
import sys
from pathlib import Path

import pytest
import yaml

import engine

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    "index",
    "install",
    "user-guide/qgis",
    "user-guide/command-line",
    "user-guide/sentinel-1",
    "user-guide/fine-tuning",
    "reference/detection",
    "reference/outputs",
    "reference/simulator",
    "reference/saross-net",
    "reference/dakd",
    "model",
    "benchmarks",
    "architecture",
    "development",
    "api",
    "changelog",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by the same command as ``make docs`` (only the output folder differs)."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],  # nosec B603
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_the_site_builds_strictly_with_every_page_picture_and_the_api(site):
    for page in PAGES:
        assert (site / f"{page}.html").is_file(), page
    pictures = sorted(p.name for p in (REPO / "resources" / "readme").glob("*.png"))
    assert pictures and all((site / "images" / name).is_file() for name in pictures)
    api = (site / "api.html").read_text(encoding="utf-8")
    assert "run_detection" in api and "DetectParams" in api  # generated from the engine's docstrings
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f"DAKD Oil Spill {engine.__version__}" in index  # the version comes from engine.__version__
    assert "fonts.googleapis" not in index  # offline: the plugin opens it from file://


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings (the site's slugs are the same, pymdownx.slugs)."""
    anchors = set()
    fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            text = re.sub(r"`([^`]*)`", r"\1", line.lstrip("#").strip()).lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_the_readme_is_a_landing_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 20_000
    for must in ("make demo", "make test", "simulated", "not met"):  # the honest limits stay on the first screen
        assert must in readme, must
    links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", readme)
    assert any(target.startswith("docs/") for target, _ in links)
    for target, anchor in links:
        if target.startswith("http"):
            continue
        path = REPO / target
        assert path.exists(), target
        if anchor:
            assert anchor in _anchors(path.read_text(encoding="utf-8")), f"{target}#{anchor}"


def test_the_python_examples_parse_and_are_formatted_as_the_code_is(tmp_path):
    """A copied example that does not parse fails the analyst at once; ruff format keeps them in the code's style."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    blocks = [
        (page, code)
        for page in pages
        for code in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    ]
    assert len(blocks) >= 4  # the README's, the command-line guide's, the detection and simulator references'
    for index, (page, code) in enumerate(blocks):
        compile(code, str(page), "exec")
        (tmp_path / f"{page.stem.replace('-', '_')}_{index}.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--config", str(REPO / "pyproject.toml"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # nosec B603 - a fixed argument list
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_citation_names_the_paper_and_the_engines_version():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert str(citation["version"]) == engine.__version__
    assert citation["authors"] and citation["title"]
    paper = citation["preferred-citation"]
    assert "2412.08116" in paper["url"] and paper["authors"]


def test_the_changelog_has_the_current_version():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(engine.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.MULTILINE)


def test_the_readme_goals_table_is_what_the_evaluation_bench_printed():
    """Issue 13: the README's evaluation table is produced by bench/evaluate_default.py, from the results it names."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = re.search(r"--from-results (bench/results/default_model[\w.-]*\.json)((?: --show [\w.-]+)*)", readme)
    assert named, "the README says how its evaluation table is printed: bench/evaluate_default.py --from-results"
    command = [sys.executable, str(REPO / "bench" / "evaluate_default.py"), "--from-results", str(REPO / named[1])]
    printed = subprocess.run(
        [*command, *named[2].split()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    table = printed.split("Goals (issue 13)\n", 1)[1].strip().splitlines()
    assert len(table) == 8 and "\n".join(table) in readme, "\n".join(table)
