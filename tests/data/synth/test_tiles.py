import json

import numpy as np
import pytest
from PIL import Image

from engine.classes import OIL, OSD_CLASSES
from engine.data.datasets import load_dataset
from engine.data.synth import SceneConfig, simulate_scene
from engine.data.synth.tiles import TILE_DEFAULTS, tile_image_db, tile_seed, write_tiles
from engine.data.tiles import byte_to_db
from engine.errors import Cancelled, InputError, OutputError
from engine.progress import Progress

CONFIG = SceneConfig(spills=(1, 2), land_probability=0.5, **TILE_DEFAULTS)


@pytest.fixture(scope="module")
def osd_tiles(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiles") / "osd"
    manifest = write_tiles(out, 3, "osd", 7, CONFIG)
    return out, manifest


def test_osd_layout_and_encoding(osd_tiles):
    out, manifest = osd_tiles
    ids = [f"sim_{i:05d}" for i in range(3)]
    assert sorted(p.stem for p in (out / "images").iterdir()) == ids
    assert sorted(p.name for p in (out / "labels").iterdir()) == [f"{i}.png" for i in ids]
    assert sorted(p.name for p in (out / "labels_1D").iterdir()) == [f"{i}.png" for i in ids]
    assert json.loads((out / "dataset.json").read_text()) == json.loads(json.dumps(manifest))
    # Tile 1 is the scene of tile_seed(7, 1), encoded as documented.
    scene = simulate_scene(CONFIG, tile_seed(7, 1))
    assert manifest["tiles"][1]["seed"] == tile_seed(7, 1)
    with Image.open(out / "images" / "sim_00001.jpg") as image:
        assert image.mode == "RGB" and image.size == (256, 256)
        grey = np.asarray(image)[..., 0]
    decoded = byte_to_db(grey, (-35.0, 5.0))
    expected = np.clip(tile_image_db(scene), -35.0, 5.0)
    assert float(np.mean(np.abs(decoded - expected))) < 0.5  # 0.16 dB per grey level, JPEG q95
    with Image.open(out / "labels_1D" / "sim_00001.png") as ids_png:
        np.testing.assert_array_equal(np.asarray(ids_png), scene.labels)
    with Image.open(out / "labels" / "sim_00001.png") as rgb_png:
        rgb = np.asarray(rgb_png)
    for seg_class in OSD_CLASSES:
        mask = scene.labels == seg_class.id
        assert np.all(rgb[mask] == seg_class.rgb)


def test_training_loaders_read_the_osd_tiles(osd_tiles):
    out, manifest = osd_tiles
    tiles = load_dataset("osd", out, split=None)
    assert len(tiles) == 3
    expected = [simulate_scene(CONFIG, t["seed"]).labels for t in manifest["tiles"]]
    loaded = {scene_id: labels for scene_id, labels in zip(tiles.scene_ids, tiles.labels)}
    for tile, labels in zip(manifest["tiles"], expected):
        np.testing.assert_array_equal(loaded[tile["id"]], labels)


def test_sos_layout_masks_and_loader(tmp_path):
    out = tmp_path / "sos"
    manifest = write_tiles(out, 2, "sos", 3, CONFIG, median_px=3)
    assert sorted(p.name for p in (out / "sat").iterdir()) == ["sim_00000_sat.jpg", "sim_00001_sat.jpg"]
    assert sorted(p.name for p in (out / "gt").iterdir()) == ["sim_00000_mask.png", "sim_00001_mask.png"]
    assert manifest["image_encoding"]["median_px"] == 3
    for index, tile in enumerate(manifest["tiles"]):
        labels = simulate_scene(CONFIG, tile["seed"]).labels
        with Image.open(out / "gt" / f"sim_{index:05d}_mask.png") as mask_png:
            mask = np.asarray(mask_png)
        assert set(np.unique(mask).tolist()) <= {0, 255}
        np.testing.assert_array_equal(mask == 255, labels == OIL.id)
    tiles = load_dataset("sos", out, split=None)
    assert len(tiles) == 2 and set(np.unique(tiles.labels).tolist()) <= {0, 1}


def test_same_seed_same_bytes(tmp_path):
    first = write_tiles(tmp_path / "a", 2, "sos", 11, CONFIG)
    second = write_tiles(tmp_path / "b", 2, "sos", 11, CONFIG)
    assert first == second
    for name in ("sat/sim_00001_sat.jpg", "gt/sim_00001_mask.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_tile_seeds_differ_and_fit_json():
    seeds = {tile_seed(0, i) for i in range(1000)} | {tile_seed(1, i) for i in range(1000)}
    assert len(seeds) == 2000 and max(seeds) < 2**53


def test_refuses_existing_folder_and_leaves_nothing_on_cancel(tmp_path):
    out = tmp_path / "osd"
    write_tiles(out, 1, "osd", 0, CONFIG)
    with pytest.raises(OutputError, match="--overwrite"):
        write_tiles(out, 1, "osd", 0, CONFIG)
    calls = {"n": 0}

    def cancel_after_one() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        write_tiles(tmp_path / "new", 5, "osd", 0, CONFIG, progress=Progress(cancel=cancel_after_one))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osd"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "coco"}, "--format"),
        ({"count": 0}, "--count"),
        ({"db_range": (5.0, -35.0)}, "--db-range"),
        ({"median_px": 40}, "--median-px"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    arguments = {"out_dir": tmp_path / "x", "count": 1, "fmt": "osd", "seed": 0, "config": CONFIG, **kwargs}
    with pytest.raises(InputError, match=message):
        write_tiles(**arguments)
    assert not (tmp_path / "x").exists()
