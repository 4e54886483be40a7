"""The documentation: the site builds as ``make docs`` builds it (offline, ``--strict``), the README stays a landing
page whose links resolve, and the citation carries the engine's version."""

from __future__ import annotations

import argparse
import os
import re
import subprocess  # nosec B404 - a fixed argument list
import sys
from pathlib import Path

import pytest
import yaml

import engine
from engine.cli import build_parser

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


#: Words the docs write where an analyst fills in a command or a value (not an option of its own).
PLACEHOLDERS = {"…", "...", "COMMAND", "CMD"}
_PROMPT = r"(?:\$\s+)?(?:\.venv/bin/)?(?:dakd|python3? -m engine)\s"


def _documented_commands() -> list[tuple[str, str]]:
    """Every ``dakd …`` command line README.md and docs/ tell a reader to type: (page, command).

    Lines of code (fenced or indented) that start with ``dakd`` (or ``.venv/bin/dakd``, ``python -m engine``), with
    continued lines joined and comments cut, and inline code that starts with it (a table's ``\\|`` read as ``|``).
    """
    commands = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        name = str(page.relative_to(REPO))
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():
            if re.match(rf"\s*{_PROMPT}", line):
                commands.append((name, re.split(r"\s#", line)[0].strip()))
        for span in re.findall(rf"`({_PROMPT}[^`]+)`", text):
            commands.append((name, span.replace("\\|", "|")))
    return commands


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {name: action for action in parser._actions for name in action.option_strings}


def _is_placeholder(word: str) -> bool:
    """``N``, ``DIR``, ``CARD.json``, ``…``: what the reader fills in, not a literal value."""
    return word in PLACEHOLDERS or not re.search(r"[a-z]", word)


def test_every_documented_dakd_command_names_commands_options_and_choices_that_exist():
    """A copied command whose option was renamed or never existed fails the analyst with a usage error."""
    parser = build_parser()
    top = _options(parser)
    commands = _documented_commands()
    assert len(commands) >= 40, commands  # the extraction still finds the quick starts and the guides' commands
    wrong = []
    for page, command in commands:
        words = command.replace("[", " ").replace("]", " ").split()
        words = words[3:] if words[0].startswith("python") else words[1:]  # after "dakd" or "python -m engine"
        while words and words[0] in top:  # --progress json, --debug, -q before the command
            if top[words.pop(0)].nargs != 0:  # an option with a value (store_true and --help take none)
                words = words[1:]
        if not words or words[0] in PLACEHOLDERS:
            continue
        names = words.pop(0).split("|")  # "detect|finetune": either
        for name in names:
            sub = _subcommands(parser).get(name)
            if sub is None:
                wrong.append(f"{page}: {command!r}: no command {name!r}")
                continue
            if _subcommands(sub) and words and not _is_placeholder(words[0]):
                sub = _subcommands(sub).get(words[0])
                if sub is None:
                    wrong.append(f"{page}: {command!r}: no command {name} {words[0]!r}")
                    continue
            known = {**top, **_options(sub)}
            for index, word in enumerate(words):
                option = re.match(r"--?[A-Za-z][\w-]*", word)
                if option is None or option.group() != word.split("=")[0]:
                    continue
                action = known.get(option.group())
                if action is None:
                    wrong.append(f"{page}: {command!r}: dakd {name} has no option {option.group()}")
                elif action.choices and index + 1 < len(words) and not words[index + 1].startswith("-"):
                    values = [v for v in words[index + 1].split("|") if not _is_placeholder(v)]
                    bad = [v for v in values if v not in action.choices]
                    if bad:
                        wrong.append(f"{page}: {command!r}: {option.group()} takes no {bad} (choices {action.choices})")
    assert not wrong, "\n".join(wrong)


def test_the_fine_tuning_guide_names_every_dakd_finetune_option():
    """Its table is headed "All `dakd finetune` options": an option added to the command belongs in it."""
    guide = (REPO / "docs" / "user-guide" / "fine-tuning.md").read_text(encoding="utf-8")
    finetune = _subcommands(build_parser())["finetune"]
    missing = [
        action.option_strings[0]
        for action in finetune._actions
        if action.option_strings != ["-h", "--help"]
        and not any(re.search(rf"(?<![\w-]){o}(?![\w-])", guide) for o in action.option_strings)
    ]
    assert not missing, f"docs/user-guide/fine-tuning.md does not name {missing}"
