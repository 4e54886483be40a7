import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy import ndimage

from engine.detectors.base import InputSpec
from engine.errors import Cancelled, DakdError
from engine.io import open_scene
from engine.io.raster import write_raster
from engine.progress import Progress
from engine.tiling import (
    FLUSH_ROWS,
    StreamingStitcher,
    TileGrid,
    blend_window,
    plan_grid,
    read_tile_batches,
    stitch_scene,
)

LINEAR = InputSpec(units="linear")


def open_array(tmp_path, values, nodata=None):
    path = write_raster(
        tmp_path / "scene.tif",
        values.astype(np.float32),
        "EPSG:32633",
        from_origin(500000, 6000000, 10, 10),
        nodata=nodata,
    )
    return open_scene(path, units="linear")


class RowCollector:
    """An in-memory sink that also checks the streaming contract (ordered, non-overlapping bands)."""

    def __init__(self, n_classes, height, width):
        self.probabilities = np.full((n_classes, height, width), np.nan, np.float32)
        self.valid = np.zeros((height, width), bool)
        self.next_row = 0
        self.band_heights = []

    def __call__(self, row0, probabilities, valid):
        assert row0 == self.next_row
        rows = slice(row0, row0 + valid.shape[0])
        self.probabilities[:, rows] = probabilities
        self.valid[rows] = valid
        self.next_row = rows.stop
        self.band_heights.append(valid.shape[0])


def run(scene, predict, grid, n_classes=2, batch_size=4, progress=None):
    sink = RowCollector(n_classes, scene.info.height, scene.info.width)
    stats = stitch_scene(scene, predict, grid, n_classes, LINEAR, batch_size, sink, progress)
    assert sink.next_row == scene.info.height
    return sink, stats


def test_grid_counts_and_cores_partition_the_scene():
    grid = TileGrid(height=500, width=700, tile_size=256, overlap_px=64)
    assert grid.stride == 192 and grid.shape == (3, 4) and len(grid) == 12
    owned = np.zeros((500, 700), int)
    for tile in grid.tiles():
        r0, r1, c0, c1 = tile.core
        owned[r0:r1, c0:c1] += 1
        w = tile.window
        assert w.col_off >= 0 and w.row_off >= 0 and w.col_off + w.width <= 700 and w.row_off + w.height <= 500
        (top, bottom), (left, right) = tile.pad
        assert top + w.height + bottom == 256 and left + w.width + right == 256
        # every owned pixel is at least overlap/2 from the tile edge
        assert r0 - tile.y0 >= 32 and tile.y0 + 256 - r1 >= 32
    assert (owned == 1).all()
    first = grid.tile(0, 0)
    assert (first.y0, first.x0) == (-32, -32) and first.pad[0][0] == 32


def test_tiny_scene_is_one_padded_tile():
    grid = TileGrid(height=7, width=10)
    assert len(grid) == 1
    tile = grid.tile(0, 0)
    assert (tile.window.width, tile.window.height) == (10, 7)
    assert tile.pad == ((32, 217), (32, 214))


def test_bad_overlap_is_refused():
    with pytest.raises(DakdError, match="--overlap must be between 0 and 255"):
        TileGrid(height=10, width=10, tile_size=256, overlap_px=256)


def test_blend_window_is_a_partition_of_unity_with_a_zero_context_margin():
    window = blend_window(64, 24, context_px=4)[32]  # a middle row: the 1-D profile
    assert window.shape == (64,)
    assert (window[:4] == 0).all() and (window[-4:] == 0).all()
    assert window[24:40].min() == 1.0
    stride = 64 - 24
    overlap = window[stride:] + window[:24]  # right edge of one tile + left edge of the next
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)
    np.testing.assert_allclose(window, window[::-1])
    assert (np.diff(window[:24]) >= 0).all()  # smooth, monotonic ramp
    assert blend_window(16, 0).min() == 1.0


def test_plan_grid_raises_overlap_for_context_and_refuses_what_does_not_fit():
    grid = plan_grid(1000, 1000, 256, 64, context_px=40)
    assert grid.overlap_px == 2 * 40 + 8 and grid.context_px == 40
    assert plan_grid(1000, 1000, 256, 64, context_px=10).overlap_px == 64
    with pytest.raises(DakdError, match="does not fit in 256-pixel tiles"):
        plan_grid(1000, 1000, 256, 64, context_px=130)


def test_plan_grid_refuses_an_overlap_of_more_than_half_the_tile():
    assert plan_grid(1000, 1000, 256, 128).overlap_px == 128
    with pytest.raises(DakdError) as error:
        plan_grid(1000, 1000, 256, 255)  # stride 1: ~65 000 times the work, ran for ever
    assert str(error.value) == (
        "--overlap 255 px is more than half the 256-pixel tile (tiles would advance 1 px at a time); use 0 to 128 px"
    )
    with pytest.raises(DakdError, match="--overlap 300 px is more than half the 256-pixel tile; use 0 to 128 px"):
        plan_grid(1000, 1000, 256, 300)


def test_constant_detector_gives_a_constant_map(tmp_path):
    rng = np.random.default_rng(1)
    scene = open_array(tmp_path, rng.uniform(0.01, 1.0, (300, 420)))

    def constant(tiles, valid):
        out = np.empty((tiles.shape[0], 2) + tiles.shape[2:], np.float32)
        out[:, 0], out[:, 1] = 0.3, 0.7
        return out

    sink, stats = run(scene, constant, plan_grid(300, 420))
    assert sink.valid.all()
    np.testing.assert_allclose(sink.probabilities[0], 0.3, atol=1e-6)
    np.testing.assert_allclose(sink.probabilities[1], 0.7, atol=1e-6)
    assert stats.tiles_total == 6 and stats.tiles_skipped == 0


def test_translation_equivariant_detector_matches_whole_image_away_from_the_border(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.uniform(0.01, 1.0, (450, 530)).astype(np.float32)
    scene = open_array(tmp_path, image)
    kernel = rng.uniform(0, 1, (9, 9))
    kernel /= kernel.sum()
    context = 4

    def convolve(tiles, valid):
        conv = np.stack([ndimage.convolve(t[0], kernel, mode="reflect") for t in tiles])
        return np.stack([conv, 1 - conv], axis=1)

    grid = plan_grid(450, 530, tile_size=128, overlap_px=32, context_px=context)
    sink, _ = run(scene, convolve, grid, batch_size=3)
    whole = ndimage.convolve(image, kernel, mode="reflect")
    inner = (slice(context, -context), slice(context, -context))
    np.testing.assert_allclose(sink.probabilities[0][inner], whole[inner], atol=2e-6)
    assert len(grid) > 9  # many seams were crossed


def test_nodata_stays_nodata_and_empty_tiles_are_skipped(tmp_path):
    image = np.random.default_rng(3).uniform(0.01, 1.0, (400, 400)).astype(np.float32)
    image[:, 200:] = -1  # right half nodata
    image[50, 60] = np.nan
    scene = open_array(tmp_path, image, nodata=-1)
    calls = []

    def ones(tiles, valid):
        calls.append(tiles.shape[0])
        out = np.zeros((tiles.shape[0], 2) + tiles.shape[2:], np.float32)
        out[:, 1] = 1
        return out

    grid = plan_grid(400, 400)
    sink, stats = run(scene, ones, grid)
    expected_valid = np.ones((400, 400), bool)
    expected_valid[:, 200:] = False
    expected_valid[50, 60] = False
    np.testing.assert_array_equal(sink.valid, expected_valid)
    assert (sink.probabilities[:, ~expected_valid] == 0).all()
    assert (sink.probabilities[1][expected_valid] == 1).all()
    # tile columns whose whole extent lies in the nodata half are never given to the detector
    skipped = [t for t in grid.tiles() if t.window.col_off >= 200]
    assert stats.tiles_skipped == len(skipped) > 0
    assert sum(calls) == len(grid) - len(skipped)


def test_rows_stream_in_bands_with_a_fixed_buffer(tmp_path):
    scene = open_array(tmp_path, np.full((1500, 40), 0.5))
    grid = plan_grid(1500, 40)
    sink, _ = run(scene, lambda t, v: np.concatenate([1 - t, t], axis=1), grid)
    assert sink.band_heights[:-1] == [FLUSH_ROWS] * (len(sink.band_heights) - 1)
    stitcher = StreamingStitcher(grid, 2, lambda *a: None)
    assert stitcher.buffer_rows == 256 + FLUSH_ROWS  # independent of the scene height


def test_batches_hold_normalised_tiles(tmp_path):
    scene = open_array(tmp_path, np.full((300, 300), 0.1))
    batches = list(read_tile_batches(scene, plan_grid(300, 300), InputSpec(units="db", mean=-10.0, std=2.0), 3))
    assert [len(b.tiles) for b in batches] == [3, 1]
    first = batches[0]
    assert first.values.shape == (3, 1, 256, 256) and first.valid.dtype == bool
    np.testing.assert_allclose(first.values[first.valid], 0.0, atol=1e-5)  # -10 dB normalised with mean -10
    assert not first.valid[0, 0, :32].any()  # reflection padding is marked invalid


def test_cancel_stops_after_the_current_batch(tmp_path):
    scene = open_array(tmp_path, np.full((600, 600), 0.1))
    seen = []

    def predict(tiles, valid):
        seen.append(len(tiles))
        return np.concatenate([1 - tiles, tiles], axis=1)

    progress = Progress(cancel=lambda: len(seen) >= 1)
    with pytest.raises(Cancelled):
        run(scene, predict, plan_grid(600, 600), batch_size=2, progress=progress)
    assert seen == [2]


def test_write_behind_writes_every_band_in_order_and_raises_the_writers_error() -> None:
    import threading
    import time

    from engine.tiling import WriteBehind

    written: list[tuple[int, str]] = []

    def sink(row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        time.sleep(0.002)
        written.append((row0, threading.current_thread().name))

    times: dict[str, float] = {}
    writer = WriteBehind(sink, depth=1, times=times)
    for row0 in range(0, 2560, 256):
        writer(row0, np.zeros((2, 256, 8), np.float32), np.ones((256, 8), bool))
    writer.close()
    assert [row0 for row0, _ in written] == list(range(0, 2560, 256))
    assert {name for _, name in written} == {"dakd-row-writer"} and times["write_wait_s"] >= 0

    def failing(row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        if row0 >= 512:
            raise OSError("No space left on device")

    writer = WriteBehind(failing)
    with pytest.raises(OSError, match="No space"):
        for row0 in range(0, 256 * 100, 256):  # the error reaches the caller at a later band...
            writer(row0, np.zeros((1, 1, 1), np.float32), np.ones((1, 1), bool))
    writer.abort()
    writer = WriteBehind(failing)
    writer(512, np.zeros((1, 1, 1), np.float32), np.ones((1, 1), bool))
    with pytest.raises(OSError):  # ...or at close
        writer.close()


def test_write_behind_abort_returns_while_the_writer_is_busy() -> None:
    import threading

    from engine.tiling import WriteBehind

    release = threading.Event()
    calls = []

    def slow(row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        calls.append(row0)
        release.wait(5)

    writer = WriteBehind(slow, depth=1)
    for row0 in (0, 256):  # the first is being written, the second waits in the queue
        writer(row0, np.zeros((1, 1, 1), np.float32), np.ones((1, 1), bool))
    threading.Timer(0.2, release.set).start()
    writer.abort()
    assert calls == [0]  # what was still queued is dropped: the run is failing anyway
