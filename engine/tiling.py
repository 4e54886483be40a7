"""Tile grid, batching, blending and the streaming stitcher.

A scene is cut into square tiles that overlap by ``overlap_px``; each tile is read, normalised,
batched, run through a detector, weighted by a smooth :func:`blend_window` and accumulated into a
buffer a few hundred rows tall. As soon as no later tile can touch a band of rows, that band is
normalised and handed to a sink (the GeoTIFF writers), then dropped. Peak memory is therefore a
few tile rows of the scene width, whatever the scene height.

Grid layout (per axis, ``T = tile_size``, ``O = overlap_px``, stride ``S = T - O``)::

    tile i covers [i·S - O//2, i·S - O//2 + T)     for i in 0 .. ceil(n / S) - 1
    its core      [i·S, min((i+1)·S, n))            (the cores partition the scene)

Starting the grid at ``-O//2`` puts every scene pixel at least ``O//2`` from the edge of the tile
that owns it, at the scene border as much as at an interior seam. Parts of a tile outside the
scene are filled by reflection (and marked invalid), so every tile has the same size.

Notes:
    The stitcher requires tiles in row-major order (what :meth:`TileGrid.tiles` yields); it
    flushes rows when the first tile of a new tile row arrives.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rasterio.windows import Window

from engine.contract import DEFAULT_OVERLAP_PX, TILE_SIZE_PX
from engine.detectors.base import InputSpec
from engine.errors import DakdError, InputError
from engine.io.scene import Scene
from engine.preprocess import normalise_sigma0
from engine.progress import Progress

#: Default tile size and overlap in pixels (SAROSS-Net is trained on 256² tiles).
DEFAULT_TILE_SIZE = TILE_SIZE_PX  # the name callers of this module know
#: Pixels of smooth ramp kept between two tiles' context margins when the overlap is raised for a detector.
MIN_RAMP_PX = 8
#: Output rows are flushed in bands of this height (the GeoTIFF block height, so blocks are written once).
FLUSH_ROWS = 256
#: Batches the reader thread may read ahead of the network (:func:`prefetch_batches`): enough to hide a slow
#: read, few enough that memory stays a few batches, whatever the scene size.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`TileGrid`: where it lies, what to read, how to pad it, which pixels it owns.

    Attributes:
        row, col: position in the tile grid.
        y0, x0: top-left corner in scene pixels (negative on the first row/column).
        size: side length in pixels.
        window: the part of the tile inside the scene (what is read).
        pad: ``((top, bottom), (left, right))`` pixels filled by reflection.
        core: ``(row_start, row_stop, col_start, col_stop)`` scene pixels this tile owns.
    """

    row: int
    col: int
    y0: int
    x0: int
    size: int
    window: Window
    pad: tuple[tuple[int, int], tuple[int, int]]
    core: tuple[int, int, int, int]


@dataclass(frozen=True)
class TileGrid:
    """The tiles covering a ``height`` × ``width`` scene (see the module notes for the layout).

    Build it with :func:`plan_grid`, which also honours a detector's context.
    """

    height: int
    width: int
    tile_size: int = DEFAULT_TILE_SIZE
    overlap_px: int = DEFAULT_OVERLAP_PX
    context_px: int = 0

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise InputError(f"cannot tile a scene of {self.width}×{self.height} pixels")
        if self.tile_size <= 0 or not 0 <= self.overlap_px < self.tile_size:
            raise InputError(
                f"--overlap must be between 0 and {self.tile_size - 1} pixels for {self.tile_size}-pixel "
                f"tiles, got {self.overlap_px}"
            )

    @property
    def stride(self) -> int:
        """Distance between tile origins."""
        return self.tile_size - self.overlap_px

    @property
    def shape(self) -> tuple[int, int]:
        """Number of tile rows and columns: ``ceil(height / stride)``, ``ceil(width / stride)``."""
        return math.ceil(self.height / self.stride), math.ceil(self.width / self.stride)

    def __len__(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def tile(self, row: int, col: int) -> Tile:
        """Return the tile at grid position (``row``, ``col``)."""
        y0 = row * self.stride - self.overlap_px // 2
        x0 = col * self.stride - self.overlap_px // 2
        top, left = max(0, y0), max(0, x0)
        bottom, right = min(self.height, y0 + self.tile_size), min(self.width, x0 + self.tile_size)
        pad = ((top - y0, y0 + self.tile_size - bottom), (left - x0, x0 + self.tile_size - right))
        core = (
            row * self.stride,
            min((row + 1) * self.stride, self.height),
            col * self.stride,
            min((col + 1) * self.stride, self.width),
        )
        return Tile(row, col, y0, x0, self.tile_size, Window(left, top, right - left, bottom - top), pad, core)

    def tiles(self) -> Iterator[Tile]:
        """All tiles in row-major order (the order the stitcher needs)."""
        rows, cols = self.shape
        for row in range(rows):
            for col in range(cols):
                yield self.tile(row, col)


def plan_grid(
    height: int,
    width: int,
    tile_size: int = DEFAULT_TILE_SIZE,
    overlap_px: int = DEFAULT_OVERLAP_PX,
    context_px: int = 0,
) -> TileGrid:
    """Choose a grid that keeps a detector's context out of the blended result.

    A detector whose output at a pixel depends on data up to ``context_px`` away is wrong within
    ``context_px`` of a tile edge. The overlap is raised to ``2·context_px + MIN_RAMP_PX`` when it is
    smaller, so the blend window can give those margins zero weight and still ramp smoothly.

    The overlap asked for may be at most half the tile: beyond that every pixel is predicted by more than
    two tiles per axis, which costs ``(tile / (tile - overlap))²`` times the work for no better seams
    (``--overlap 255`` on 256-pixel tiles advanced one pixel at a time: about 65 000 times the work).

    Raises:
        DakdError: ``overlap_px`` is more than half the tile, or the needed overlap does not fit in the tile
            (the detector must declare larger tiles).
    """
    if overlap_px > tile_size // 2:
        stride = tile_size - overlap_px
        why = f" (tiles would advance {stride} px at a time)" if stride > 0 else ""
        raise DakdError(
            f"--overlap {overlap_px} px is more than half the {tile_size}-pixel tile{why}; use 0 to {tile_size // 2} px"
        )
    needed = 2 * context_px + MIN_RAMP_PX if context_px > 0 else 0
    overlap = max(overlap_px, needed)
    if overlap >= tile_size:
        raise DakdError(
            f"a detector context of {context_px} px needs an overlap of {overlap} px, which does not fit "
            f"in {tile_size}-pixel tiles; use a smaller background window"
        )
    return TileGrid(height, width, tile_size, overlap, context_px)


def blend_window(tile_size: int, overlap_px: int, context_px: int = 0) -> np.ndarray:
    """Return the 2-D weight each tile's prediction gets when overlapping tiles are blended.

    Per axis, the weight is 0 on the outer ``context_px`` pixels (where the detector lacked
    context), rises as ``sin²`` across the rest of the overlap band, and is 1 in the middle. Two
    neighbours' ramps are mirror images, so in the overlap ``sin² + cos² = 1``: the weights form a
    partition of unity, and a constant prediction stays exactly constant across seams. The 2-D
    window is the outer product of the 1-D one.

    Args:
        tile_size: side of the square tile.
        overlap_px: overlap between neighbouring tiles.
        context_px: zero-weight margin; must satisfy ``2·context_px < overlap_px`` unless both are 0.

    Returns:
        float32 array ``(tile_size, tile_size)`` with values in [0, 1].
    """
    ramp_px = overlap_px - 2 * context_px
    if overlap_px == 0:
        edge = np.ones(0, dtype=np.float64)
    elif ramp_px <= 0:
        raise ValueError(f"overlap {overlap_px} px leaves no ramp beside a {context_px} px context margin")
    else:
        position = (np.arange(overlap_px) + 0.5 - context_px) / ramp_px
        edge = np.sin(np.pi / 2 * np.clip(position, 0.0, 1.0)) ** 2
    line = np.ones(tile_size, dtype=np.float64)
    line[: len(edge)] = edge
    line[tile_size - len(edge) :] = np.minimum(line[tile_size - len(edge) :], edge[::-1])
    return np.outer(line, line).astype(np.float32)


def read_tile(scene: Scene, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    """Read a tile as linear σ0 and validity, padding outside the scene by reflection (padding is invalid)."""
    values, valid = scene.read_sigma0(tile.window)
    if any(p for pair in tile.pad for p in pair):
        values = np.pad(values, tile.pad, mode="reflect")
        valid = np.pad(valid, tile.pad, mode="constant", constant_values=False)
    return values, valid


@dataclass
class Batch:
    """Tiles ready for a detector: ``values`` (N, 1, T, T) normalised float32, ``valid`` bool of the same shape."""

    tiles: list[Tile]
    values: np.ndarray
    valid: np.ndarray


CoreHook = Callable[[Tile, np.ndarray, np.ndarray], None]


def read_tile_batches(
    scene: Scene,
    grid: TileGrid,
    spec: InputSpec,
    batch_size: int,
    on_core: CoreHook | None = None,
    skipped: list[Tile] | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> Iterator[Batch]:
    """Read, normalise and batch the grid's tiles in row-major order, skipping all-nodata tiles.

    Args:
        scene: the scene to read.
        grid: the tile grid.
        spec: how the detector wants its input.
        batch_size: tiles per batch (the last batch may be smaller).
        on_core: called with ``(tile, sigma0_core, valid_core)`` for the pixels each tile owns, for
            statistics or a quick-look that must see every pixel exactly once.
        skipped: if given, skipped (all-nodata) tiles are appended to it.
        check_cancelled: called before each tile is read (raises to stop): a long run of empty
            tiles yields no batch, so checking between batches alone would not stop it.

    Yields:
        :class:`Batch` objects.
    """
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    pending: list[tuple[Tile, np.ndarray, np.ndarray]] = []
    for tile in grid.tiles():
        if check_cancelled is not None:
            check_cancelled()
        values, valid = read_tile(scene, tile)
        if on_core is not None:
            rows, cols = _core_slices(tile)
            on_core(tile, values[rows, cols], valid[rows, cols])
        if not valid.any():
            if skipped is not None:
                skipped.append(tile)
            continue
        pending.append((tile, normalise_sigma0(values, valid, spec), valid))
        if len(pending) == batch_size:
            yield _make_batch(pending)
            pending = []
    if pending:
        yield _make_batch(pending)


_DONE = object()


def _put_unless_stopped(slots: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` in the bounded queue, waiting for room unless ``stop`` is set; returns whether it went in."""
    while not stop.is_set():
        try:
            slots.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetch_batches(
    batches: Iterator[Batch], depth: int = PREFETCH_BATCHES, times: dict[str, float] | None = None
) -> Iterator[Batch]:
    """Run ``batches`` (reading and normalising tiles) in a reader thread, ``depth`` batches ahead of the caller.

    The queue is bounded, so the reader never holds more than ``depth + 1`` batches, and reading and
    decoding overlap the network (GDAL, numpy and the runtimes release the GIL). An exception in the
    reader (a read error, a cancel) is raised in the caller; when the caller stops early (an error, a
    cancel) the reader is stopped and joined before this generator returns.

    Args:
        batches: the batch iterator (:func:`read_tile_batches`), consumed in the thread.
        depth: batches read ahead.
        times: if given, ``read_s`` (seconds the reader spent reading and normalising) and ``wait_s``
            (seconds the caller waited for a batch) are added to it.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    read_s = 0.0

    def put(item: Any) -> bool:
        return _put_unless_stopped(slots, item, stop)

    def reader() -> None:
        nonlocal read_s
        try:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                finally:
                    read_s += time.perf_counter() - started
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, which raises it
            put(error)

    thread = threading.Thread(target=reader, name="dakd-tile-reader", daemon=True)
    thread.start()
    wait_s = 0.0
    try:
        while True:
            started = time.perf_counter()
            item = slots.get()
            wait_s += time.perf_counter() - started
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        if times is not None:
            times["read_s"] = times.get("read_s", 0.0) + read_s
            times["wait_s"] = times.get("wait_s", 0.0) + wait_s


def _make_batch(pending: list[tuple[Tile, np.ndarray, np.ndarray]]) -> Batch:
    return Batch(
        [p[0] for p in pending], np.stack([p[1] for p in pending])[:, None], np.stack([p[2] for p in pending])[:, None]
    )


def _core_slices(tile: Tile) -> tuple[slice, slice]:
    """Slices of the tile array covering its core."""
    row_start, row_stop, col_start, col_stop = tile.core
    return slice(row_start - tile.y0, row_stop - tile.y0), slice(col_start - tile.x0, col_stop - tile.x0)


#: Receives finished rows: ``(row_start, probabilities (C, h, W) float32, valid (h, W) bool)``.
RowSink = Callable[[int, np.ndarray, np.ndarray], None]


class StreamingStitcher:
    """Blends overlapping tile predictions and hands finished row bands to a sink.

    Holds ``tile_size + FLUSH_ROWS`` rows of the scene width per class (plus weights and validity),
    never the whole scene. Rows are passed to ``sink`` in bands of ``flush_rows`` (the last one may
    be shorter), top to bottom, each exactly once. Pixels no tile covered with a valid prediction
    (skipped tiles) and pixels the scene marks invalid come out with ``valid == False`` and
    probability 0.

    Args:
        grid: the tile grid the tiles come from.
        n_classes: number of probability channels.
        sink: receives finished rows.
        flush_rows: height of the bands handed to ``sink``.
    """

    def __init__(self, grid: TileGrid, n_classes: int, sink: RowSink, flush_rows: int = FLUSH_ROWS) -> None:
        self.grid = grid
        self.n_classes = n_classes
        self.sink = sink
        self.flush_rows = flush_rows
        self.window = blend_window(grid.tile_size, grid.overlap_px, grid.context_px)
        height = grid.tile_size + flush_rows
        self._acc = np.zeros((n_classes, height, grid.width), dtype=np.float32)
        self._weight = np.zeros((height, grid.width), dtype=np.float32)
        self._valid = np.zeros((height, grid.width), dtype=bool)
        self._top = 0  # scene row of buffer row 0; everything above is already written
        self._filled = 0  # buffer rows that may hold data
        self._row = 0

    @property
    def buffer_rows(self) -> int:
        """Rows of the scene width held in memory (``tile_size + flush_rows``, whatever the scene height)."""
        return self._weight.shape[0]

    def add(self, tile: Tile, probabilities: np.ndarray, valid: np.ndarray) -> None:
        """Accumulate one tile's ``(C, T, T)`` probabilities; ``valid`` is its ``(T, T)`` validity."""
        if tile.row < self._row:
            raise ValueError("tiles must arrive in row-major order")
        if tile.row > self._row:
            self._row = tile.row
            self._flush_until(max(0, tile.y0))
        window = tile.window
        rows = slice(window.row_off - self._top, window.row_off + window.height - self._top)
        cols = slice(window.col_off, window.col_off + window.width)
        in_rows = slice(window.row_off - tile.y0, window.row_off - tile.y0 + window.height)
        in_cols = slice(window.col_off - tile.x0, window.col_off - tile.x0 + window.width)
        weight = self.window[in_rows, in_cols]
        self._acc[:, rows, cols] += probabilities[:, in_rows, in_cols] * weight
        self._weight[rows, cols] += weight
        core_rows, core_cols = _core_slices(tile)
        row_start, row_stop, col_start, col_stop = tile.core
        self._valid[row_start - self._top : row_stop - self._top, col_start:col_stop] = valid[core_rows, core_cols]
        self._filled = max(self._filled, rows.stop)

    def close(self) -> None:
        """Write all remaining rows; call once after the last tile."""
        self._flush_until(self.grid.height, final=True)

    def _flush_until(self, scene_row: int, final: bool = False) -> None:
        """Write finished rows above ``scene_row``, in whole bands unless ``final``."""
        while True:
            remaining = scene_row - self._top
            band = min(self.flush_rows, remaining) if final else self.flush_rows
            if band <= 0 or remaining < band:
                return
            weight = self._weight[:band]
            valid = self._valid[:band] & (weight > 0)
            probabilities = np.zeros((self.n_classes, band, self.grid.width), dtype=np.float32)
            np.divide(self._acc[:, :band], weight, out=probabilities, where=valid)
            self.sink(self._top, probabilities, valid)
            self._shift(band)

    def _shift(self, rows: int) -> None:
        live = max(0, self._filled - rows)
        for buffer in (self._acc[:], self._weight[None], self._valid[None]):
            buffer[:, :live] = buffer[:, rows : rows + live]
            buffer[:, live:] = 0
        self._top += rows
        self._filled = live


class WriteBehind:
    """Hands finished row bands to ``sink`` in a writer thread, at most ``depth`` bands behind the stitcher.

    Encoding and writing the output rasters (GDAL compresses, numpy classifies; both release the GIL)
    then overlap the detector's work on the next tiles instead of following it: on a full IW scene with
    the threshold detector, writing was a quarter of the run. The queue is bounded, so memory grows by
    at most ``depth`` bands. An error in the writer (a full disk, a cancel) is raised in the caller at the
    next band or at :meth:`close`.

    Args:
        sink: the row sink to call in the thread (the bands it gets are not used again by the caller).
        depth: bands waiting at most.
        times: if given, ``write_wait_s`` (seconds the caller waited for a free slot) is added to it.
    """

    def __init__(self, sink: RowSink, depth: int = 1, times: dict[str, float] | None = None) -> None:
        self._sink = sink
        self._times = times
        self._slots: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="dakd-row-writer", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        while True:
            item = self._slots.get()
            if item is _DONE or self._stop.is_set():
                return
            try:
                self._sink(*item)
            except BaseException as error:  # noqa: BLE001 - raised in the caller
                self._error = error
                self._stop.set()
                return

    def __call__(self, row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        """Queue one band (waits while ``depth`` bands are queued); raises the writer's error if it had one."""
        started = time.perf_counter()
        _put_unless_stopped(self._slots, (row0, probabilities, valid), self._stop)
        if self._times is not None:
            self._times["write_wait_s"] = self._times.get("write_wait_s", 0.0) + time.perf_counter() - started
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait until every band is written; raises the writer's error if it had one."""
        _put_unless_stopped(self._slots, _DONE, self._stop)  # stopped: the writer failed and has returned
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the writer without writing what is still queued (the caller is failing or cancelled)."""
        self._stop.set()
        while True:  # unblock the writer if it waits for a band
            try:
                self._slots.put_nowait(_DONE)
                break
            except queue.Full:
                try:
                    self._slots.get_nowait()
                except queue.Empty:
                    pass
        self._thread.join()


Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class StitchStats:
    """What happened during :func:`stitch_scene` (for the run summary)."""

    tiles_total: int
    tiles_skipped: int
    batches: int
    #: Seconds per stage: ``read_s`` (reader thread: reading, decoding, normalising), ``network_s`` (the
    #: detector's predict), ``stitch_s`` (blending), ``write_s`` (the sink: classes and rasters; in the writer
    #: thread), ``wait_s`` (the network waiting for the reader: 0 when reading keeps up), ``write_wait_s``
    #: (the stitcher waiting for the writer: 0 when writing keeps up).
    times: dict[str, float] = field(default_factory=dict)


def stitch_scene(
    scene: Scene,
    predict: Predict,
    grid: TileGrid,
    n_classes: int,
    spec: InputSpec,
    batch_size: int,
    sink: RowSink,
    progress: Progress | None = None,
    on_core: CoreHook | None = None,
    stage_name: str = "detect",
    prefetch: bool = True,
) -> StitchStats:
    """Run ``predict`` over a scene tile by tile and stream the blended probabilities to ``sink``.

    Args:
        scene: the scene.
        predict: ``(tiles (N,1,T,T), valid (N,1,T,T)) -> probabilities (N,C,T,T)``, e.g. a detector's ``predict``.
        grid: from :func:`plan_grid`.
        n_classes: ``C``.
        spec: the detector's input spec (normalisation).
        batch_size: tiles per ``predict`` call.
        sink: receives finished row bands (see :class:`StreamingStitcher`).
        progress: reports one step per tile; checks for cancellation before each tile is read.
        on_core: see :func:`read_tile_batches`.
        stage_name: name of the progress stage.
        prefetch: read tiles in a reader thread ahead of the network (:func:`prefetch_batches`) and write the
            finished rows in a writer thread behind it (:class:`WriteBehind`); False does both in this thread.

    Raises:
        Cancelled: the user cancelled (between tiles).
    """
    progress = progress or Progress()
    times = {"read_s": 0.0, "wait_s": 0.0, "network_s": 0.0, "stitch_s": 0.0, "write_s": 0.0, "write_wait_s": 0.0}

    def timed_sink(row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        started = time.perf_counter()
        sink(row0, probabilities, valid)
        times["write_s"] += time.perf_counter() - started

    writer = WriteBehind(timed_sink, times=times) if prefetch else None
    try:
        stats = _stitch(
            scene,
            predict,
            grid,
            n_classes,
            spec,
            batch_size,
            writer or timed_sink,
            progress,
            on_core,
            stage_name,
            prefetch,
            times,
        )
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return StitchStats(*stats, {k: round(v, 3) for k, v in times.items()})


def _stitch(
    scene: Scene,
    predict: Predict,
    grid: TileGrid,
    n_classes: int,
    spec: InputSpec,
    batch_size: int,
    sink: RowSink,
    progress: Progress,
    on_core: CoreHook | None,
    stage_name: str,
    prefetch: bool,
    times: dict[str, float],
) -> tuple[int, int, int]:
    """Run the loop of :func:`stitch_scene` (read, predict, blend); returns (tiles, tiles skipped, batches)."""
    stitcher = StreamingStitcher(grid, n_classes, sink)
    # blending alone: without the bands' writing, or behind a writer thread, the wait to hand them over
    handoff = "write_wait_s" if prefetch else "write_s"
    skipped: list[Tile] = []
    batches = 0
    counted = 0
    reads = read_tile_batches(
        scene, grid, spec, batch_size, on_core=on_core, skipped=skipped, check_cancelled=progress.check_cancelled
    )
    with progress.stage(stage_name, total=len(grid)) as stage:
        for batch in prefetch_batches(reads, times=times) if prefetch else reads:
            started = time.perf_counter()
            probabilities = np.asarray(predict(batch.values, batch.valid), dtype=np.float32)
            times["network_s"] += time.perf_counter() - started
            started = time.perf_counter()
            write_before = times[handoff]
            expected = (len(batch.tiles), n_classes, grid.tile_size, grid.tile_size)
            if probabilities.shape != expected:
                raise DakdError(
                    f"the detector returned probabilities of shape {probabilities.shape}, expected {expected}"
                )
            for tile, tile_probabilities, tile_valid in zip(batch.tiles, probabilities, batch.valid[:, 0]):
                stitcher.add(tile, tile_probabilities, tile_valid)
            times["stitch_s"] += time.perf_counter() - started - (times[handoff] - write_before)
            batches += 1
            done = batch.tiles[-1].row * grid.shape[1] + batch.tiles[-1].col + 1
            stage.advance(done - counted)
            counted = done
        if counted < len(grid):
            stage.advance(len(grid) - counted)
    stitcher.close()
    return len(grid), len(skipped), batches
