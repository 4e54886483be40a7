"""The ``dakd`` command line.

Each sub-command lives in its own module under ``engine.cli`` and exposes ``register(subparsers)``,
which adds its parser(s) and sets ``func(args, progress) -> int``. This module owns what all commands
share: the ``--progress`` front ends, logging, cancellation by signal, and turning errors into one
line and an exit code (an analyst never sees a traceback unless they pass ``--debug``). The options
every command spells the same way (``--out``, ``--device``, ``--overwrite`` of a report) are defined
once, in :mod:`engine.cli.options`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import math
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from engine import __version__
from engine.errors import Cancelled, DakdError
from engine.io.raster import quiet_libtiff
from engine.progress import Progress, ProgressSink, json_lines_sink, tqdm_sink

log = logging.getLogger("dakd")

#: Sub-command modules, in the order their commands appear in ``dakd --help``.
COMMAND_MODULES = (
    "engine.cli.detect",
    "engine.cli.simulate",
    "engine.cli.model",
    "engine.cli.train",
    "engine.cli.calibrate",
    "engine.cli.describe",
)


class _JsonLogHandler(logging.Handler):
    """Forwards log records as ``log`` events so the plugin can show them."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.log(record.levelname.lower(), record.getMessage())


class OneLineErrorParser(argparse.ArgumentParser):
    """A parser whose mistakes end in one ``dakd: error:`` line (exit 2), like every other bad input.

    argparse's own ``error()`` prints the whole usage block first (a dozen lines for ``dakd detect``),
    which buries the one line that says what was wrong. ``--help`` still prints the full usage.
    ``add_subparsers`` creates sub-command parsers of the parent's class, so this covers every command.
    """

    commands: Any = None  # the sub-commands action, once add_subparsers made it

    def add_subparsers(self, **kwargs: Any) -> Any:  # noqa: D102 - argparse's, remembering the action
        self.commands = super().add_subparsers(**kwargs)
        return self.commands

    def command_parser(self, args: argparse.Namespace) -> OneLineErrorParser:
        """Return the parser of the (sub-)sub-command that ``args`` chose, e.g. ``dakd model info``'s."""
        chosen = None if self.commands is None else self.commands.choices.get(getattr(args, self.commands.dest, None))
        return chosen.command_parser(args) if isinstance(chosen, OneLineErrorParser) else self

    def parse_args(  # type: ignore[override]  # one signature for argparse's three overloads
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> argparse.Namespace:
        """Parse as argparse does, but name the sub-command's help for an unknown option given to it."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # argparse blames the top-level parser: "see dakd --help" for a mistake in `dakd detect`
            self.command_parser(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        """Print ``dakd: error: <message> (see <prog> --help)`` on stderr and exit 2."""
        first_line = message.splitlines()[0] if message else "bad command line"
        self.exit(2, f"dakd: error: {first_line} (see {self.prog} --help)\n")


def bounded(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    *,
    above: bool = False,
    below: bool = False,
) -> Callable[[str], Any]:
    """Return an argparse ``type`` that reads a number and checks its range: one line for a careless value.

    ``--lr -1`` crashed deep in the optimiser and ``--batch-size -1`` reached the model card; checked
    here, the mistake is refused before anything is read or written, as ``dakd: error: argument
    --lr: must be above 0, got -1``. Floats must be finite (``inf`` and ``nan`` are refused).

    Args:
        kind: ``int`` or ``float``.
        low: smallest allowed value (None: no lower bound).
        high: largest allowed value (None: no upper bound).
        above: the value must exceed ``low`` (not equal it).
        below: the value must stay under ``high`` (not equal it).
    """
    limits = []
    if low is not None:
        limits.append(f"{'above' if above else 'at least'} {low:g}")
    if high is not None:
        limits.append(f"{'below' if below else 'at most'} {high:g}")
    wanted = ("a whole number" if kind is int else "a number") + (", " + " and ".join(limits) if limits else "")

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if (
            not math.isfinite(value)
            or (low is not None and (value <= low if above else value < low))
            or (high is not None and (value >= high if below else value > high))
        ):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


#: The common ranges: counts of steps, batches, tiles...; sizes that may be 0; rates and scales above 0.
POSITIVE_INT = bounded(int, 1)
NON_NEGATIVE_INT = bounded(int, 0)
POSITIVE_FLOAT = bounded(float, 0, above=True)


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``dakd`` parser with every available sub-command."""
    parser = OneLineErrorParser(
        prog="dakd", description="Detect oil spills in Sentinel-1 SAR scenes and fine-tune the detector (DAKD)."
    )
    parser.add_argument("--version", action="version", version=f"dakd {__version__}")
    parser.add_argument(
        "--progress",
        choices=("bar", "json", "none"),
        default="bar",
        help="progress on stderr as a bar (default), JSON lines on stdout for tools, or nothing",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


class _CancelOnSignal:
    """SIGTERM and the first Ctrl-C request a clean stop at the next batch; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _CancelOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.requested.set()
        log.warning("stopping after the current batch (press Ctrl-C again to abort at once)")


class _StderrHandler(logging.StreamHandler):
    """Write each record to ``sys.stderr`` as it is when the record comes, not as it was when ``main`` ran.

    The handler outlives ``main`` (the engine's logger is module-wide): bound to the stream of the moment, it wrote
    to a closed one after a caller (a test's capture, a tool that swaps ``sys.stderr``) had moved on.

    Args:
        around_bars: write through ``tqdm.write`` (``--progress bar``): a line written while a bar was drawn was
            glued to the bar's text, and the bar went on over the line.
    """

    def __init__(self, around_bars: bool = False) -> None:
        super().__init__()
        self.around_bars = around_bars

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns one; sys.stderr is read at each write
        pass

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record on stderr; around the bars, ``tqdm.write`` lifts them, writes the line, redraws them."""
        if not self.around_bars:
            super().emit(record)
            return
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # noqa: BLE001 - logging's own rule: a failed log line must not end the run
            self.handleError(record)


def _log_python_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """Say a library's Python warning as one debug line of the engine's log.

    Python printed them as two lines with a line of the library's source (rasterio's NotGeoreferencedWarning for a
    PNG label raster the same size as its scene, numpy's cast warnings) above the engine's own one-line messages;
    the engine says what matters to the analyst itself, and ``--debug`` still shows these.
    """
    log.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def _configure_logging(args: argparse.Namespace, progress: Progress) -> None:
    warnings.showwarning = _log_python_warning
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    log.setLevel(level)
    log.handlers.clear()
    log.propagate = False
    if args.progress == "json":
        log.addHandler(_JsonLogHandler(progress))
    else:
        handler = _StderrHandler(around_bars=args.progress == "bar")
        handler.setFormatter(logging.Formatter("dakd: %(message)s"))
        log.addHandler(handler)


def _front_end(mode: str) -> ProgressSink:
    """Return the sink of a ``--progress`` mode: JSON lines, or tqdm bars (only then is tqdm imported), or none.

    Training and generation say their warnings and notes with :meth:`Progress.log` ("this set fails the
    consistency gate", "no fine-tuned step beat the --init model"), not with the logger. JSON lines carry them
    as ``log`` events; the bars ignored them and ``none`` had no sink, so at a terminal they were never seen.
    Here they go to the engine's logger, which writes them on stderr as ``dakd: ...`` like every other warning
    (``--quiet`` keeping only warnings). In JSON mode the logger's records become ``log`` events instead
    (:class:`_JsonLogHandler`), so each line is said once in every mode; the logger's level filters the events
    said with :meth:`Progress.log` there too, so ``--quiet`` keeps only warnings in every mode.
    """
    if mode == "json":
        lines = json_lines_sink()

        def json_sink(event: dict[str, Any]) -> None:
            if event["event"] != "log" or log.isEnabledFor(_log_level(event)):
                lines(event)

        return json_sink
    bars = tqdm_sink() if mode == "bar" else None

    def sink(event: dict[str, Any]) -> None:
        if event["event"] == "log":
            log.log(_log_level(event), "%s", event["message"])
        elif bars is not None:
            bars(event)

    return sink


def _log_level(event: dict[str, Any]) -> int:
    """Return the logging level of a ``log`` event (an unknown level counts as a warning: it is said)."""
    level = logging.getLevelName(str(event["level"]).upper())
    return level if isinstance(level, int) else logging.WARNING


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dakd``; returns the process exit code (0 ok, 2 bad input, 130 cancelled, 1 bug)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with _CancelOnSignal() as cancel:
        progress = Progress(_front_end(args.progress), cancel.requested.is_set)
        _configure_logging(args, progress)
        if not args.debug:  # a failed GeoTIFF write is said in one line; --debug keeps libtiff's own lines too
            quiet_libtiff()
        try:
            return int(args.func(args, progress) or 0)
        except KeyboardInterrupt:
            return _fail(args, Cancelled())
        except BrokenPipeError:
            # `dakd ... | head` closed our stdout: not an error worth a message.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush at exit
            return 0
        except DakdError as error:
            return _fail(args, error)
        except PermissionError as error:
            return _fail(args, _permission_error(error))
        except MemoryError:
            return _fail(args, DakdError("out of memory: use a smaller --batch-size or close other programs"), 1)
        except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
            if args.debug:
                raise
            message = f"internal error ({type(error).__name__}: {error}); rerun with --debug and report it"
            return _fail(args, DakdError(message), 1)


def _permission_error(error: PermissionError) -> DakdError:
    """Say a path the analyst may not read or write in one line (exit 2), not as an internal error to report.

    A file in a colleague's private folder, or an output under one, fails in the first ``Path.exists()`` that
    touches it, wherever that is (a model card, a scene, ``--out``); that is the system's refusal, not a bug.
    """
    path = error.filename if error.filename is not None else "a file or folder"
    return DakdError(
        f"{path}: permission denied; ask for access to it (and its folder), or choose a path you can read and write"
    )


def _fail(args: argparse.Namespace, error: DakdError, exit_code: int | None = None) -> int:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if args.progress == "json":
        print(json.dumps({"event": "error", "kind": type(error).__name__, "message": message}), flush=True)
    print(f"dakd: error: {message}", file=sys.stderr)
    return error.exit_code if exit_code is None else exit_code


if __name__ == "__main__":
    sys.exit(main())
