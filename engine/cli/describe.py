"""``dakd describe``: print the contract between the engine and its front ends (:mod:`engine.contract`).

The QGIS plugin runs ``dakd describe --json`` with an engine Python it does not ship, to offer that
engine's choices and to check the schema version; it may do so on every start, so this command
imports nothing heavy (no torch, no model).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.options import add_report_out_option, report_to_out
from engine.progress import Progress


def register(subparsers: Any) -> None:
    """Add ``describe`` to the ``dakd`` parser."""
    parser = subparsers.add_parser(
        "describe",
        help="print what the engine offers: devices, methods, presets, classes, event schema",
        description="Print the engine's contract with its front ends: the choices of its options, class names and "
        "label rules, defaults, exit codes and the --progress json event schema, with its version.",
    )
    parser.add_argument("--json", action="store_true", help="print the contract as JSON (for tools)")
    add_report_out_option(parser, "the contract as JSON")
    parser.set_defaults(func=run_describe)


def engine_description() -> dict[str, Any]:
    """Return the contract with the engine's version (what ``dakd describe --json`` prints)."""
    from engine import __version__
    from engine.contract import describe

    return {"engine_version": __version__, **describe()}


def run_describe(args: argparse.Namespace, progress: Progress) -> int:
    """Print the contract (JSON with ``--json``, else a short summary), or write its JSON to ``--out``."""
    description = engine_description()
    with report_to_out(args):
        print(json.dumps(description, indent=2) if args.json or args.out else _summary(description), flush=True)
    return 0


def _summary(description: dict[str, Any]) -> str:
    """Return the contract in a few lines for a person (``--json`` gives all of it)."""
    labels = description["labels"]
    rows = [
        f"dakd {description['engine_version']}, contract schema version {description['schema_version']}",
        f"devices: {', '.join(description['devices'])}",
        f"methods: {', '.join(description['methods'])}; backends: {', '.join(description['backends'])}",
        f"classes: {', '.join(c['name'] for c in description['classes'])} (also: not-oil, ignore)",
        f"label aliases: {', '.join(f'{k}={v}' for k, v in labels['aliases'].items())}",
        f"presets: {', '.join(description['presets']['names'])}",
        f"progress events: {', '.join(description['events'])}",
    ]
    return "\n".join(rows)
