"""Options every ``dakd`` command spells the same way: ``--device``, ``--out`` (and ``--overwrite``).

One definition each, so a script or the plugin that learned one command knows them all:

- ``--device`` takes the devices of :data:`engine.contract.DEVICES` or ``cuda:N``, checked when the
  command line is read, with the same one-line error in every command;
- ``--out`` names what a command writes; commands that said ``--output``/``-o`` keep those as aliases;
- commands that print a report (``info``, ``model info``, ``evaluate``...) take ``--out FILE`` to write
  what they would print there instead, atomically, refusing to replace a file without ``--overwrite``.

``tests/cli/test_vocabulary.py`` walks every sub-command and holds them to this.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

from engine.contract import DEVICES
from engine.errors import InputError

_CUDA_INDEX = re.compile(r"cuda:\d+")


def checked_db_range(values: tuple[float, float] | list[float]) -> tuple[float, float]:
    """Return ``--db-range LOW HIGH`` as a pair, refusing LOW not below HIGH (argparse's ``bounded`` refuses inf/nan).

    Raises:
        InputError: LOW is not below HIGH.
    """
    low, high = float(values[0]), float(values[1])
    if not low < high:
        raise InputError(f"--db-range {low:g} {high:g}: LOW must be below HIGH")
    return low, high


def device_name(text: str) -> str:
    """Return ``--device``'s value if it names a device; an argparse error (one line) lists the valid ones.

    Only the spelling is checked here: whether the device exists is :func:`engine.device.select_device`'s
    question, asked when the command runs.
    """
    value = text.strip().lower()
    if value in DEVICES or _CUDA_INDEX.fullmatch(value):
        return value
    raise argparse.ArgumentTypeError(f"{text!r} is not a device; use one of {', '.join(DEVICES)} or cuda:N")


device_name.__name__ = "device"  # argparse names the type in some messages


def add_device_option(parser: argparse.ArgumentParser, default: str = "auto", help: str | None = None) -> None:
    """Add ``--device`` (the same values and check in every command)."""
    parser.add_argument(
        "--device",
        type=device_name,
        default=default,
        metavar="|".join((*DEVICES, "cuda:N")),
        help=help or "auto (CUDA, then Apple MPS, then the CPU; the default), cpu, cuda, cuda:N, mps",
    )


def add_out_option(
    parser: argparse.ArgumentParser,
    metavar: str,
    help: str,
    *,
    required: bool = False,
    output_alias: bool = False,
    default: str | None = None,
) -> None:
    """Add ``--out`` (also ``--output`` and ``-o`` for the commands that were first spelled that way)."""
    names = ("--out", "--output", "-o") if output_alias else ("--out",)
    parser.add_argument(*names, dest="out", required=required, default=default, metavar=metavar, help=help)


def add_report_out_option(
    parser: argparse.ArgumentParser, what: str = "the report", replaces: str = "--out FILE"
) -> None:
    """Add ``--out FILE`` and ``--overwrite`` to a command that prints a report (see :func:`report_to_out`).

    ``replaces`` names, in ``--overwrite``'s help, every file it lets the command replace.
    """
    add_out_option(
        parser, "FILE", f"write {what} to FILE instead of printing it (refused if FILE exists, unless --overwrite)"
    )
    parser.add_argument("--overwrite", action="store_true", help=f"replace an existing {replaces}")


@contextlib.contextmanager
def report_to_out(args: argparse.Namespace, inputs: list[str | Path | None] | None = None) -> Iterator[None]:
    """Print as usual, or with ``--out FILE`` write what the block prints to FILE (atomically) instead.

    The target is checked before the block runs, so a refusal (an existing FILE without ``--overwrite``,
    one of the command's inputs) costs no work. ``--progress json`` events still go to the real stdout:
    their sink took hold of it before this redirects ``print``.
    """
    out = getattr(args, "out", None)
    if not out:
        yield
        return
    from engine.io.atomic import atomic_file, check_output_files

    given = [path for path in inputs or [] if path is not None]
    check_output_files([out], given, args.overwrite)  # and its folder, before any work
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        yield
    with atomic_file(Path(out).expanduser(), overwrite=args.overwrite, inputs=given) as partial:
        partial.write_text(printed.getvalue(), encoding="utf-8")
