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
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import DakdError, OutputError

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
    target = Path(target).expanduser().absolute()
    folder = target.parent
    while not folder.is_dir() and folder.parent != folder:
        folder = folder.parent
    code = _errno_of(error)
    if code is None:
        code = _probe_write(folder)
    if code in _DISK_FULL:
        free_mb = shutil.disk_usage(folder).free / 2**20
        return OutputError(f"the disk is full: writing {target} failed with {free_mb:.0f} MB left in {folder}; free "
                           f"disk space or choose another {option}")
    if code == errno.EFBIG:
        return OutputError(f"writing {target} failed: the file grew past the largest file allowed in {folder} (File "
                           f"too large); choose another {option} or raise the limit (ulimit -f)")
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
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    try:
        yield
    except DakdError:
        raise
    except (OSError, RasterioError, CPLE_BaseError) as error:
        raise write_failure(error, target, option) from error
