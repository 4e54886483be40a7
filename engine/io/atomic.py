"""Atomic outputs: write beside the target under a hidden name, rename into place when complete.

A cancelled, failed or killed run must never leave a half-written output where the analyst (or
QGIS) will look for it. Every writer in the engine therefore writes into a hidden temporary sibling
(``.<name>.tmp-XXXX``) in the same directory as the final path, so the final step is a single
``rename`` on the same file system, and removes the temporary on any exception, including
``KeyboardInterrupt`` and :class:`~engine.errors.Cancelled`.

Use :func:`atomic_output_dir` for a run that writes several files into ``--out DIR`` and
:func:`atomic_file` for a single file (a model card, a GeoTIFF). Both check up front that the target
can be written, so a read-only location fails in a second with a one-line :class:`OutputError`
instead of after an hour of work.

Notes:
    A process killed with SIGKILL cannot clean up; its hidden ``.tmp-`` sibling stays behind, but
    the final path is never touched. The temporary names match ``*.tmp-*`` in ``.gitignore``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import OutputError

#: Marker in the names of temporaries, so they are easy to recognise (and ignore in git).
TMP_MARK = ".tmp-"


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


def check_output_dir(out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    """Refuse an output directory that cannot be used, before any work is done.

    Args:
        out_dir: the directory the run will create (or replace).
        overwrite: allow replacing an existing, non-empty directory.

    Returns:
        The directory as an absolute :class:`~pathlib.Path`.

    Raises:
        OutputError: it is a file, it exists and is not empty without ``overwrite``, or its parent
            cannot be written.
    """
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {target} exists and is a file, not a directory; choose another --out")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputError(f"output directory {target} already exists and is not empty; pass --overwrite or choose "
                          "another --out")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {target}: {parent} is a file, not a directory; choose another --out")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable; choose another --out")
    return target


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary directory that becomes ``out_dir`` when the block completes.

    Everything written into the yielded directory appears at ``out_dir`` in one rename at the end.
    On any exception (an error, ``Cancelled``, Ctrl-C) the temporary is deleted, missing parent
    folders created for it are removed again, and a previous ``out_dir`` is left untouched.

    Args:
        out_dir: final directory.
        overwrite: replace an existing non-empty ``out_dir`` (only once the new one is complete).

    Yields:
        The temporary directory to write into (a sibling of ``out_dir``).

    Raises:
        OutputError: the target cannot be used (see :func:`check_output_dir`) or written.

    Example:
        >>> with atomic_output_dir("results/run1", overwrite=True) as tmp:  # doctest: +SKIP
        ...     (tmp / "summary.json").write_text("{}")
    """
    target = check_output_dir(out_dir, overwrite)
    created = _ensure_parent(target.parent, target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}", dir=target.parent))
    except OSError as error:
        _remove_created(created)
        raise OutputError(
            f"cannot write to output folder {target.parent} ({_describe_os_error(error)}); choose another --out"
        ) from error
    try:
        yield tmp
        _replace_dir(tmp, target, overwrite)
    except BaseException:
        _remove(tmp)
        _remove_created(created)
        raise


def _replace_dir(tmp: Path, target: Path, overwrite: bool) -> None:
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the result normal permissions
    old: Path | None = None
    if target.exists():
        if any(target.iterdir()) and not overwrite:  # appeared while we were working
            raise OutputError(f"output directory {target} appeared during the run; pass --overwrite or choose "
                              "another --out")
        old = target.with_name(f".{target.name}{TMP_MARK}old-{os.getpid()}")
        _remove(old)
        try:
            os.rename(target, old)
        except OSError as error:
            raise OutputError(f"cannot replace {target} ({_describe_os_error(error)}); close programs using it"
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
def atomic_file(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` when the block completes.

    The temporary keeps ``path``'s suffix (``.tif``, ``.json``...) so drivers that choose a format
    from the extension (GDAL, fiona) still work. On any exception it is removed and ``path`` is left
    as it was.

    Args:
        path: final file.
        overwrite: replace an existing file; when False an existing file raises ``OutputError``.

    Yields:
        The temporary file path (not yet created).

    Raises:
        OutputError: ``path`` exists without ``overwrite``, or its folder cannot be written.
    """
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise OutputError(f"output {target} is a directory, not a file; choose another file name")
    if target.exists() and not overwrite:
        raise OutputError(f"output file {target} already exists; pass --overwrite or choose another name")
    created = _ensure_parent(target.parent, target)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.stem}{TMP_MARK}", suffix=target.suffix, dir=target.parent)
    except OSError as error:
        _remove_created(created)
        raise OutputError(f"cannot write to folder {target.parent} ({_describe_os_error(error)}); choose another "
                          "path") from error
    os.close(handle)
    tmp = Path(name)
    tmp.unlink()  # writers (GDAL, fiona) want to create the file themselves
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"nothing was written for {target}")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        _remove_created(created)
        raise
