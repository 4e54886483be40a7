"""Atomic outputs: write beside the target under a hidden name, rename into place when complete.

A cancelled, failed or killed run must never leave a half-written output where the analyst (or
QGIS) will look for it. Every writer in the engine therefore writes into a hidden temporary sibling
(``.<name>.tmp-XXXX``) in the same directory as the final path, so the final step is a single
``rename`` on the same file system, and removes the temporary on any exception, including
``KeyboardInterrupt`` and :class:`~engine.errors.Cancelled`.

Use :func:`atomic_output_dir` for a run that writes several files into ``--out DIR`` and
:func:`atomic_file` for a single file (a model card, a GeoTIFF). Both check up front that the target
can be written, so a read-only location fails in a second with a one-line :class:`OutputError`
instead of after an hour of work, and both name a disk that filled up during the block
(:func:`space_failure`) instead of letting an ``OSError`` reach the user as an internal error.

Replacing (``--overwrite``) follows one rule, :func:`check_replaceable`: a folder is replaced only
when it is an earlier output of the same command (an :class:`EngineFolder` recognises it), and never
when it is, or holds, an input of the run, the current folder, a home folder or a file-system root;
a file is never replaced when it is an input or lies inside an input folder. A training run's work
folder (checkpoints that ``--resume`` continues) is used only as :func:`check_work_folder` allows.

Notes:
    A process killed with SIGKILL (a cancel that outlived the plugin's grace period, the system out of
    memory) cannot clean up: its hidden ``.tmp-`` sibling stays behind, but the final path is never
    touched. An output folder's temporary holds an owner file (:data:`OWNER_FILE`: process id and
    machine), so the next :func:`atomic_output_dir` into the same folder removes the temporaries of
    processes of this machine that no longer exist (:func:`remove_orphaned_temporaries`); those of a
    live process, of another machine (a shared drive) and of older engines (no owner file) stay. The
    temporary names match ``*.tmp-*`` in ``.gitignore``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from engine.errors import DakdError, OutputError

#: Marker in the names of temporaries, so they are easy to recognise (and ignore in git).
TMP_MARK = ".tmp-"

#: The file in an output folder's temporary that names the process writing it (its id and machine), so that a
#: later run can tell a killed run's temporary from one still being written (:func:`remove_orphaned_temporaries`).
#: Removed before the temporary becomes the output; its name holds :data:`TMP_MARK`, which
#: :meth:`EngineFolder.foreign_entry` accepts.
OWNER_FILE = f".owner{TMP_MARK}dakd"

#: What :func:`tempfile.mkdtemp` puts after the prefix: ``old-123`` (an output being replaced) never matches.
_MKDTEMP_NAME = re.compile(r"[a-z0-9_]+")
_OWNER_BYTES = 4096

log = logging.getLogger("dakd")

#: What open atomic blocks remove again if they fail: the missing parent folders each created, and each output
#: folder's temporary with the folder it becomes. A full disk's message is judged while they still exist but read
#: once they are gone, so it names neither (:func:`_failure_code`): the analyst would look for a folder not there.
_CREATED: set[Path] = set()
_OPEN_OUTPUTS: dict[Path, Path] = {}


def _describe_os_error(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _ensure_parent(parent: Path, target: Path) -> list[Path]:
    """Create ``parent`` (and missing ancestors); return the directories created, deepest last."""
    created: list[Path] = []
    missing = parent
    while not missing.exists():
        created.append(missing)
        if missing.parent == missing:
            break
        missing = missing.parent
    if missing.exists() and not missing.is_dir():
        raise OutputError(f"cannot write {target}: {missing} is a file, not a directory; choose another output path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create output folder {parent} ({_describe_os_error(error)}); choose a writable output path"
        ) from error
    return list(reversed(created))


def _remove_created(created: list[Path]) -> None:
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


#: Files GDAL, QGIS and SQLite add beside an output once it is opened or shown (statistics, external
#: overviews, GeoPackage journals): a folder holding them beside the engine's own files is still the engine's.
SIDECAR_SUFFIXES = (".aux.xml", ".ovr", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class EngineFolder:
    """How to recognise a folder that one dakd command wrote, so that ``--overwrite`` replaces nothing else.

    ``--overwrite`` exists to re-run a command into the folder an earlier run of it wrote. A folder
    holding anything the command does not write (the input, a user's notes, a whole home folder) is
    not that folder, and replacing it would delete files dakd never made.

    Attributes:
        what: what the folder is, for messages (``"detection output"``).
        names: every file the command writes there, as paths relative to the folder in which ``*``,
            ``?`` and ``[...]`` match within one name (``images/*.jpg``). Sidecars of these
            (:data:`SIDECAR_SUFFIXES`) and the engine's own temporaries (:data:`TMP_MARK`) are accepted too.
        marker: a file every run of the command leaves (``summary.json``), which the folder must hold;
            None for a folder written bit by bit (a resumable work folder), recognised by its names alone.
    """

    what: str
    names: tuple[str, ...]
    marker: str | None = None

    def foreign_entry(self, folder: Path) -> str | None:
        """Return why ``folder`` is not one this command wrote (the first foreign entry), or None if it is."""
        if self.marker is not None and not (folder / self.marker).is_file():
            return f"has no {self.marker}"
        patterns = [tuple(name.split("/")) for name in self.names]
        for root, dirs, files in os.walk(folder):  # does not follow links: a linked folder is one foreign entry
            base = Path(root).relative_to(folder).parts
            for name in sorted(dirs):
                entry = (*base, name)
                if (Path(root) / name).is_symlink() or not any(_is_folder_of(entry, p) for p in patterns):
                    return f"holds {'/'.join(entry)}/"
            for name in sorted(files):
                entry = (*base, name)
                if TMP_MARK not in name and not any(_is_file_of(entry, p) for p in patterns):
                    return f"holds {'/'.join(entry)}"
        return None


def _is_folder_of(entry: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether ``entry`` is a folder on the way to the files of ``pattern``."""
    return len(entry) < len(pattern) and all(fnmatchcase(e, p) for e, p in zip(entry, pattern))


def _is_file_of(entry: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether ``entry`` is a file of ``pattern`` or a sidecar of one."""
    return (
        len(entry) == len(pattern)
        and all(fnmatchcase(e, p) for e, p in zip(entry[:-1], pattern[:-1]))
        and any(fnmatchcase(entry[-1], pattern[-1] + suffix) for suffix in ("", *SIDECAR_SUFFIXES))
    )


#: The paths a run reads (scenes, label files, models...); ``None`` and empty entries are skipped.
Inputs = Iterable[str | os.PathLike[str] | None]


def real_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` absolute with ``~`` and every link resolved, as far as they resolve.

    ``Path.resolve()`` raises ``RuntimeError`` on a symbolic-link loop (Python before 3.13): an input that is one
    gave "internal error (RuntimeError: Symlink loop …)" where the run should have gone on to say it finds no file.
    """
    return Path(os.path.realpath(Path(path).expanduser().absolute()))


def _protected_reason(real: Path) -> str | None:
    """Why replacing the folder ``real`` (resolved) would take far more than an output with it, or None."""
    if real.parent == real:
        return "it is the root of a file system"
    if real.parent.parent == real.parent:
        return "it is a top-level folder of the file system"
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no $HOME and no account entry: no home folder to protect
        home = None
    if home is not None and (real == home or real in home.parents or real.parent == home.parent):
        return "it is a home folder or holds one"
    try:
        cwd: Path | None = Path.cwd().resolve()
    except OSError:  # the current folder was deleted
        cwd = None
    if cwd is not None and (real == cwd or real in cwd.parents):
        return "it is the current folder or holds it"
    return None


def check_replaceable(
    target: str | os.PathLike[str], inputs: Inputs = (), kind: EngineFolder | None = None, option: str = "--out"
) -> None:
    """Refuse, in one line, to replace an existing ``target`` when that could delete files dakd did not write.

    The one rule behind every ``--overwrite`` (and every output that replaces an older one): an
    existing target may be replaced only when it cannot take anyone's data with it. A target that
    does not exist passes. An existing one is refused when it

    * is neither a file nor a folder (a device such as ``/dev/null``, a pipe, a socket: a link is followed);
    * is a file-system root or a folder in it, a home folder (or holds one), or the current folder (or holds it);
    * is one of the run's ``inputs``, holds one, or (a file) lies inside an input folder;
    * is a non-empty folder that ``kind`` does not recognise as written by the same command (with no
      ``kind``, no non-empty folder is ever replaced).

    Args:
        target: the file or folder the run would replace.
        inputs: what the run reads.
        kind: how to recognise a folder this command wrote.
        option: the option that chose ``target``, named in the advice.

    Raises:
        OutputError: the refusal, naming the target, the reason and what to do.
    """
    path = Path(target).expanduser().absolute()
    if not path.exists():
        return
    real = path.resolve()
    refuse = f"will not replace {path}"
    advice = f"choose another {option}"
    if not (path.is_file() or path.is_dir()):  # replaced by a rename, /dev/null would become a file (as root)
        raise OutputError(f"{refuse}: it is a device, pipe or socket, not a file; {advice}")
    if path.is_dir():
        reason = _protected_reason(real)
        if reason:
            raise OutputError(f"{refuse}: {reason}; {advice} (a new folder for the outputs)")
    for given in inputs:
        if not given:
            continue
        source = real_path(given)
        if real == source:
            raise OutputError(f"{refuse}: it is an input of this run; {advice}")
        if real in source.parents:
            raise OutputError(f"{refuse}: it holds the input {given}; {advice}")
        if source in real.parents and source.is_dir() and not path.is_dir():  # a folder is judged by its kind
            raise OutputError(f"{refuse}: it lies inside the input {given}; {advice}")
    if path.is_dir() and any(path.iterdir()):
        if kind is None:
            raise OutputError(
                f"{refuse}: it is not empty and dakd cannot tell that it wrote it; move your files out "
                f"of it or {advice}"
            )
        foreign = kind.foreign_entry(path)
        if foreign:
            raise OutputError(
                f"{refuse}: only a {kind.what} written by dakd may be replaced, and it {foreign}; move "
                f"your files out of it or {advice}"
            )


def check_output_files(
    targets: Iterable[str | os.PathLike[str]], inputs: Inputs = (), overwrite: bool = False, option: str = "--out"
) -> None:
    """Refuse, before any work, output files a command may not write: the one rule of every ``--out`` FILE.

    A folder is refused first (it would fail only once the work is done), then an input of the run (or a
    file inside an input folder), even with ``overwrite``: "pass --overwrite" would not help there. Then any
    other existing file is refused without ``overwrite``.

    Raises:
        OutputError: the refusal, naming the file and what to do.
    """
    paths = [Path(target).expanduser() for target in targets]
    for path in paths:
        if path.is_dir():
            raise OutputError(f"{path} is a folder, not a file; choose another {option}")
        check_replaceable(path, inputs, option=option)
    for path in paths:
        if path.exists() and not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite or choose another {option}")
        check_output_folder(path, option)


def check_output_folder(target: str | os.PathLike[str], option: str = "--out") -> None:
    """Refuse, before any work, an output whose folder cannot be written (the folder may not exist yet).

    The folder was tried only when the output was written: ``dakd evaluate --out FILE`` in a read-only folder
    evaluated for minutes, wrote its ``--json`` file, then failed with half its outputs written. The nearest
    existing folder is judged, as the missing ones below it would be created there.

    Raises:
        OutputError: a file stands where a folder should be, or the folder cannot be written.
    """
    path = Path(target).expanduser().absolute()
    folder = path.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is a file, not a folder; choose another {option}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable; choose another {option}")


def check_output_dir(
    out_dir: str | os.PathLike[str],
    overwrite: bool,
    inputs: Inputs = (),
    kind: EngineFolder | None = None,
    option: str = "--out",
) -> Path:
    """Refuse an output directory that cannot be used, before any work is done.

    Args:
        out_dir: the directory the run will create (or replace).
        overwrite: allow replacing an existing, non-empty directory that ``kind`` recognises.
        inputs: what the run reads; a folder holding one of them is never replaced.
        kind: how to recognise an output folder of this command (see :func:`check_replaceable`).
        option: the option that chose ``out_dir``, named in messages.

    Returns:
        The directory as an absolute :class:`~pathlib.Path`.

    Raises:
        OutputError: it is a file, it exists and is not empty without ``overwrite``, it may not be
            replaced (:func:`check_replaceable`), or its parent cannot be written.
    """
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {target} exists and is a file, not a directory; choose another {option}")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputError(
            f"output directory {target} already exists and is not empty; pass --overwrite or choose another {option}"
        )
    check_replaceable(target, inputs, kind, option)  # an empty folder too: never the current folder or an input
    check_output_folder(target, option)
    return target


def remove_engine_folder(
    folder: str | os.PathLike[str], kind: EngineFolder, inputs: Inputs = (), option: str = "--out"
) -> None:
    """Delete an earlier run's ``folder`` so a run can start afresh in it, after :func:`check_replaceable`.

    For folders written in place rather than through :func:`atomic_output_dir` (a resumable work
    folder, which a later run continues): ``--overwrite`` empties them with the same rule.
    """
    path = Path(folder).expanduser().absolute()
    check_replaceable(path, inputs, kind, option)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_work_folder(
    folder: str | os.PathLike[str],
    kind: EngineFolder,
    resume: bool,
    overwrite: bool,
    inputs: Inputs = (),
    option: str = "--work-dir",
) -> Path:
    """Refuse, before any work, a work folder that a training run may not keep its checkpoints in.

    A work folder is written bit by bit and continued by a later run (``--resume``), so it is not
    replaced in one rename like an output. A run that starts afresh in an existing, non-empty folder
    would replace an interrupted run's checkpoint, or leave an earlier run's best weights there for a
    later ``--resume`` to take as its own: it is refused unless ``resume`` (continue that run) or
    ``overwrite`` (start again: allowed only for a folder ``kind`` recognises, see
    :func:`check_replaceable`, and emptied by :func:`clear_work_folder` once the run's data are checked).
    ``resume`` too needs a folder ``kind`` recognises: one holding anything else (the analyst's files, a
    data set, a ``dakd generate`` output that a fine-tune would regenerate in place) holds no run to continue.

    Returns:
        The folder as a :class:`~pathlib.Path`.

    Raises:
        OutputError: the refusal, naming the folder and what to do.
    """
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"work folder {path} is a file, not a folder; choose another {option}")
    if not path.exists():
        return path
    if resume:
        foreign = kind.foreign_entry(path)
        if foreign:
            raise OutputError(
                f"work folder {path} is not a {kind.what} written by dakd (it {foreign}), so --resume has no run "
                f"to continue there; move your files out of it or choose another {option}"
            )
        return path
    if overwrite:
        check_replaceable(path, inputs, kind, option)
    elif any(path.iterdir()):
        foreign = kind.foreign_entry(path)
        if foreign:
            raise OutputError(
                f"work folder {path} is not empty and not a {kind.what} written by dakd (it {foreign}); move "
                f"your files out of it or choose another {option}"
            )
        raise OutputError(
            f"work folder {path} exists from an earlier run; pass --resume to continue it or --overwrite to start again"
        )
    return path


def clear_work_folder(
    folder: str | os.PathLike[str],
    kind: EngineFolder,
    resume: bool,
    overwrite: bool,
    inputs: Inputs = (),
    option: str = "--work-dir",
) -> None:
    """Start afresh in an earlier run's work folder: delete it when ``overwrite`` is given without ``resume``.

    Call it after :func:`check_work_folder` and the run's own checks of its data and options, so that a
    refused run leaves the folder as it was; no checkpoint of the earlier run (a ``best.pt``) survives.
    """
    if overwrite and not resume and Path(folder).expanduser().exists():
        remove_engine_folder(folder, kind, inputs, option)


def _machine() -> dict[str, str | None]:
    """Return what tells this machine's processes apart from those of others that share a folder.

    The host name alone does not: two machines (or containers) may both be called ``localhost``, and a process id
    of one means nothing on the other. Linux's boot id tells machines (and boots) apart, its process-id namespace
    containers of one machine; where they cannot be read, both are None.
    """

    def read(reader: Callable[[], str]) -> str | None:
        try:
            return reader().strip()
        except OSError:
            return None

    return {
        "host": socket.gethostname(),
        "boot": read(lambda: Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii")),
        "pid_namespace": read(lambda: os.readlink("/proc/self/ns/pid")),
    }


def _mark_owner(tmp: Path) -> None:
    """Write :data:`OWNER_FILE` into the output folder's temporary ``tmp``: this process and machine."""
    with contextlib.suppress(OSError):  # unmarked, the temporary is only kept if the run is killed
        (tmp / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), **_machine()}), encoding="utf-8")


def _read_owner(folder: Path) -> tuple[int, dict[str, str | None]] | None:
    """Return the process id and machine of ``folder``'s :data:`OWNER_FILE`, or None without a valid one."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # no link, no wait on a pipe
    try:
        handle = os.open(folder / OWNER_FILE, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return None
        owner = json.loads(os.read(handle, _OWNER_BYTES).decode("utf-8"))
    except (OSError, ValueError):  # unreadable, cut short by a kill while written, not JSON
        return None
    finally:
        os.close(handle)
    if not isinstance(owner, dict):
        return None
    pid = owner.get("pid")
    machine = {key: owner.get(key) for key in ("host", "boot", "pid_namespace")}
    if type(pid) is not int or pid <= 0 or not isinstance(machine["host"], str):
        return None
    if not all(value is None or isinstance(value, str) for value in machine.values()):
        return None
    return pid, machine


def _process_is_gone(pid: int) -> bool:
    """Whether no process ``pid`` exists on this machine; False whenever that is not certain."""
    if os.name == "nt" or pid == os.getpid():  # Windows' os.kill(pid, 0) would end the process, not probe it
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # PermissionError: it exists, run by another user
        return False
    return False


def _space_taken(folder: Path) -> int:
    """Return the bytes the files under ``folder`` take on the disk, without following any link."""
    total = 0
    for root, dirs, files in os.walk(folder):  # does not follow links
        for name in (*files, *dirs):
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                blocks = getattr(info, "st_blocks", None)
                total += info.st_size if blocks is None else blocks * 512
    return total


def orphaned_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Return the temporaries of :func:`atomic_output_dir` for ``target`` whose process was killed.

    Only real folders (no link) named ``.<name>.tmp-XXXX`` as :func:`tempfile.mkdtemp` names them beside
    ``target``, holding a valid :data:`OWNER_FILE` of this machine whose process no longer exists. Kept: a
    temporary of a live process (or one whose state cannot be told), of another machine sharing the folder,
    and one without an owner file, which an older engine wrote: it could still be writing (a long
    polygonize adds no file for many minutes), so neither its age nor anything else says it was killed.
    """
    target = Path(target).expanduser().absolute()
    prefix = f".{target.name}{TMP_MARK}"
    try:
        with os.scandir(target.parent) as scan:
            entries = [e for e in scan if e.name.startswith(prefix) and _MKDTEMP_NAME.fullmatch(e.name[len(prefix) :])]
    except OSError:
        return []
    here = _machine()
    orphans = []
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        owner = _read_owner(Path(entry.path))
        if owner is not None and owner[1] == here and _process_is_gone(owner[0]):
            orphans.append(Path(entry.path))
    return sorted(orphans)


def remove_orphaned_temporaries(target: str | os.PathLike[str]) -> int:
    """Remove :func:`orphaned_temporaries` of ``target``, logging once what and how much was freed; return the bytes.

    A run killed mid-write (the plugin's cancel outliving its grace period, SIGKILL, the system out of memory)
    cannot remove its temporary, which may hold gigabytes of probability raster and would stay beside the
    analyst's output for good: the next run into the same folder removes it. A failure to remove one is
    logged and the run goes on.
    """
    freed, removed = 0, []
    for path in orphaned_temporaries(target):
        size = _space_taken(path)
        try:
            shutil.rmtree(path)  # removes links inside, never what they point to
        except OSError as error:
            if path.exists() or path.is_symlink():
                log.warning("could not remove %s, left by a killed dakd run (%s)", path, _describe_os_error(error))
                continue
        freed += size
        removed.append(path.name)
    if removed:
        log.info(
            "removed %s from %s, left by %s, freeing %.1f MB",
            ", ".join(removed),
            Path(target).expanduser().absolute().parent,
            "a killed dakd run" if len(removed) == 1 else "killed dakd runs",
            freed / 2**20,
        )
    return freed


@contextlib.contextmanager
def atomic_output_dir(
    out_dir: str | os.PathLike[str],
    overwrite: bool = False,
    inputs: Inputs = (),
    kind: EngineFolder | None = None,
    option: str = "--out",
) -> Iterator[Path]:
    """Yield a hidden temporary directory that becomes ``out_dir`` when the block completes.

    Everything written into the yielded directory appears at ``out_dir`` in one rename at the end.
    On any exception (an error, ``Cancelled``, Ctrl-C) the temporary is deleted, missing parent
    folders created for it are removed again, and a previous ``out_dir`` is left untouched; a write that
    failed on a full disk is raised as :func:`space_failure`'s one-line :class:`OutputError`. The temporary
    holds :data:`OWNER_FILE` until the rename, and temporaries of ``out_dir`` that killed runs on this machine
    left behind are removed first (:func:`remove_orphaned_temporaries`).

    Args:
        out_dir: final directory.
        overwrite: replace an existing non-empty ``out_dir`` (only once the new one is complete, and
            only one that ``kind`` recognises: see :func:`check_replaceable`; checked again at the end).
        inputs: what the run reads; a folder holding one is never replaced.
        kind: how to recognise an earlier output folder of the same command.
        option: the option that chose ``out_dir``, named in messages.

    Yields:
        The temporary directory to write into (a sibling of ``out_dir``).

    Raises:
        OutputError: the target cannot be used (see :func:`check_output_dir`) or written.

    Example:
        >>> with atomic_output_dir("results/run1", overwrite=True, kind=DETECTION_OUTPUT) as tmp:  # doctest: +SKIP
        ...     (tmp / "summary.json").write_text("{}")
    """
    inputs = [i for i in inputs if i]  # read twice: up front and before the replacement
    target = check_output_dir(out_dir, overwrite, inputs, kind, option)
    created = _ensure_parent(target.parent, target)
    remove_orphaned_temporaries(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}", dir=target.parent))
    except OSError as error:
        _remove_created(created)
        raise OutputError(
            f"cannot write to output folder {target.parent} ({_describe_os_error(error)}); choose another --out"
        ) from error
    _mark_owner(tmp)
    _CREATED.update(created)
    _OPEN_OUTPUTS[tmp] = target
    try:
        yield tmp
        _replace_dir(tmp, target, overwrite, inputs, kind, option)
    except BaseException as error:
        full = space_failure(error, target, option)  # judged while the partial output still takes its space
        _remove(tmp)
        _remove_created(created)
        if full is not None:
            raise full from error
        raise
    finally:
        _OPEN_OUTPUTS.pop(tmp, None)
        _CREATED.difference_update(created)


def _replace_dir(
    tmp: Path, target: Path, overwrite: bool, inputs: Inputs, kind: EngineFolder | None, option: str
) -> None:
    (tmp / OWNER_FILE).unlink(missing_ok=True)  # the run's, not the output's
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the result normal permissions
    old: Path | None = None
    if target.exists():
        if any(target.iterdir()) and not overwrite:  # appeared while we were working
            raise OutputError(
                f"output directory {target} appeared during the run; pass --overwrite or choose another {option}"
            )
        check_replaceable(target, inputs, kind, option)  # again: files may have been put there during the run
        old = target.with_name(f".{target.name}{TMP_MARK}old-{os.getpid()}")
        _remove(old)
        try:
            os.rename(target, old)
        except OSError as error:
            raise OutputError(
                f"cannot replace {target} ({_describe_os_error(error)}); close programs using it"
            ) from error
    try:
        os.rename(tmp, target)
    except OSError as error:
        if old is not None:
            os.rename(old, target)
        raise OutputError(f"cannot move the results into {target} ({_describe_os_error(error)})") from error
    if old is not None:
        _remove(old)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str], overwrite: bool = True, inputs: Inputs = (), option: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` when the block completes.

    The temporary keeps ``path``'s suffix (``.tif``, ``.json``...) so drivers that choose a format
    from the extension (GDAL, fiona) still work. On any exception it is removed and ``path`` is left
    as it was; a write that failed on a full disk is raised as :func:`space_failure`'s one-line
    :class:`OutputError`.

    Args:
        path: final file.
        overwrite: replace an existing file; when False an existing file raises ``OutputError``.
        inputs: what the run reads: an existing ``path`` that is one of them, or lies inside an input
            folder, is never replaced (see :func:`check_replaceable`).
        option: the option that chose ``path`` (``--work-dir`` for a checkpoint), named in every refusal's advice
            ("choose another --out"): the analyst knows the option, not which "path" or "file name" is meant.

    Yields:
        The temporary file path (not yet created).

    Raises:
        OutputError: ``path`` exists without ``overwrite``, may not be replaced, or its folder cannot be written.
    """
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise OutputError(f"output {target} is a directory, not a file; choose another {option}")
    check_replaceable(target, inputs, option=option)  # first: "pass --overwrite" would not help there
    if target.exists() and not overwrite:
        raise OutputError(f"output file {target} already exists; pass --overwrite or choose another {option}")
    created = _ensure_parent(target.parent, target)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.stem}{TMP_MARK}", suffix=target.suffix, dir=target.parent)
    except OSError as error:
        _remove_created(created)
        raise OutputError(
            f"cannot write to folder {target.parent} ({_describe_os_error(error)}); choose another {option}"
        ) from error
    os.close(handle)
    tmp = Path(name)
    tmp.unlink()  # writers (GDAL, fiona) want to create the file themselves
    _CREATED.update(created)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"nothing was written for {target}")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as error:
        # Judged while the partial output still takes its space, and only by a block whose file was begun: of
        # nested blocks (a card's weights, then its JSON) the innermost begun one is the file that failed.
        full = space_failure(error, target, option) if tmp.exists() else None
        _remove(tmp)
        _remove_created(created)
        if full is not None:
            raise full from error
        raise
    finally:
        _CREATED.difference_update(created)


#: What the probe of :func:`write_failure` writes: a disk (or file-size limit) with less room than this is full.
WRITE_PROBE_BYTES = 1 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _errno_of(error: BaseException) -> int | None:
    """Return the system error number of ``error`` or of the errors it was raised from, if one has it."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


def _probe_write(folder: Path) -> int | None:
    """Write, sync and delete :data:`WRITE_PROBE_BYTES` in ``folder``; the errno it fails with, or None."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=f".probe{TMP_MARK}") as handle:
            handle.write(os.urandom(WRITE_PROBE_BYTES))  # random: a compressing file system must store it all
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        return error.errno
    return None


def _failure_code(error: BaseException, target: str | os.PathLike[str]) -> tuple[Path, Path, int | None]:
    """Return the target as the analyst knows it, the nearest folder of it that outlives the failure, and the errno.

    A file inside an open output folder's temporary is named by its place in the output folder, and the folder is
    the nearest existing one that no open atomic block created (:data:`_CREATED`): both are removed before the
    message is read. It is on the same disk, so the space left there is the failed write's. The errno is the
    error's own, or, for an error that carries none (GDAL's "Write failed"), that of a probe write in the folder.
    """
    target = Path(target).expanduser().absolute()
    temporary = next((folder for folder in target.parents if folder in _OPEN_OUTPUTS), None)
    if temporary is not None:
        target = _OPEN_OUTPUTS[temporary] / target.relative_to(temporary)
    folder = target.parent
    while (not folder.is_dir() or folder in _CREATED) and folder.parent != folder:
        folder = folder.parent
    code = _errno_of(error)
    if code is None:
        code = _probe_write(folder)
    return target, folder, code


def _space_error(code: int | None, target: Path, folder: Path, option: str) -> OutputError | None:
    """Return the one-line error of a full disk or a file-size limit (``code``), or None for any other failure."""
    if code in _DISK_FULL:
        free_mb = shutil.disk_usage(folder).free / 2**20
        return OutputError(
            f"the disk is full: writing {target} failed with {free_mb:.0f} MB left in {folder}; free "
            f"disk space or choose another {option}"
        )
    if code == errno.EFBIG:
        return OutputError(
            f"writing {target} failed: the file grew past the largest file allowed in {folder} (File "
            f"too large); choose another {option} or raise the limit (ulimit -f)"
        )
    return None


def _write_errors() -> tuple[type[BaseException], ...]:
    """Return the errors a failed write raises: ``OSError`` and rasterio's and GDAL's (imported when first needed)."""
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    return OSError, RasterioError, CPLE_BaseError


def space_failure(error: BaseException, target: str | os.PathLike[str], option: str) -> OutputError | None:
    """Return :func:`write_failure`'s error when ``error`` is a write that ran out of space, else None.

    What :func:`atomic_file` and :func:`atomic_output_dir` ask of every error in their block: a full disk
    (or a file-size limit) mid-write is the user's to fix, so it is named in one line with the folder and
    the space left, not shown as an internal error. Only that is translated: the block also reads inputs,
    whose errors keep their own message, so an error without the disk's error number counts only when a
    probe write in the folder fails the same way. Errors the engine already explains, ``Cancelled`` and
    Ctrl-C give None.
    """
    if isinstance(error, DakdError) or not isinstance(error, _write_errors()):
        return None
    target, folder, code = _failure_code(error, target)
    return _space_error(code, target, folder, option)


def write_failure(error: BaseException, target: str | os.PathLike[str], option: str) -> OutputError:
    """Return the one-line :class:`OutputError` for a write to ``target`` that failed with ``error``.

    A full disk is named as such, with the folder and the space left; other failures give the system's
    (or GDAL's) reason. GDAL reports a full disk only as "Write failed" or "TIFFAppendToStrip: Write
    error" without the system's error number, so when ``error`` carries none, a small probe write in the
    same folder finds out: call this while the partial output still takes its space (inside the
    :func:`atomic_file` / :func:`atomic_output_dir` block; :func:`output_write_errors` does).

    Args:
        error: what the write raised (``OSError``, a rasterio/GDAL error...).
        target: the output being written (file or folder), named in the message.
        option: the option that chose it (``--out``), for the advice.
    """
    target, folder, code = _failure_code(error, target)
    space = _space_error(code, target, folder, option)
    if space is not None:
        return space
    if code is not None:
        reason = os.strerror(code)
    elif isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    else:
        from engine.io.raster import error_text

        reason = error_text(error)
    return OutputError(f"writing {target} failed ({reason}); free disk space or choose another {option}")


@contextlib.contextmanager
def output_write_errors(target: str | os.PathLike[str], option: str = "--out") -> Iterator[None]:
    """Turn a failed write inside the block into the one :class:`OutputError` of :func:`write_failure`.

    Put it inside the atomic block (``with atomic_file(path) as tmp, output_write_errors(path):``) so the
    error is judged before the temporary is removed. Errors the engine already explains (any
    :class:`~engine.errors.DakdError`, ``Cancelled`` included) pass through unchanged; so do programming
    errors (only ``OSError`` and rasterio/GDAL errors count as write failures).
    """
    try:
        yield
    except DakdError:
        raise
    except _write_errors() as error:
        raise write_failure(error, target, option) from error
