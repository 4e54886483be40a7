import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data.generated import open_generated
from engine.errors import InputError, ModelError
from engine.models.sar_jointnet import jointnet_config
from engine.train.jointnet import (
    GenerateConfig,
    JointTask,
    JointTrainConfig,
    compute_balance,
    generate_pairs,
    load_jointnet,
    save_jointnet,
    train_jointnet,
)
from engine.train.loop import LoopConfig

from .conftest import make_tiles


def test_b_is_computed_from_the_training_tiles_as_documented(tiles) -> None:
    diffusion = 2 * (np.clip(tiles.images_db.astype(np.float64), -35, 5) + 35) / 40 - 1
    assert compute_balance(tiles, (-35.0, 5.0)) == pytest.approx(np.sqrt(np.mean(diffusion**2)), rel=1e-6)


def test_signed_label_is_scaled_by_b(tiles) -> None:
    task = JointTask(tiles, JointTrainConfig(model=jointnet_config("tiny")), balance=0.5, seed=0)
    signed = task.signed_label(torch.tensor([[[1, 255]]]))
    torch.testing.assert_close(signed[0, :, 0, 0], torch.tensor([-0.5, 0.5, -0.5, -0.5, -0.5]))
    torch.testing.assert_close(signed[0, :, 0, 1], torch.full((5,), 0.5 * (2 / 5 - 1)))


def test_tiles_with_too_little_valid_area_are_refused_with_the_fix(tiles) -> None:
    """Audit: one scene with nodata over a quarter of it stopped `dakd finetune --aug-ratio 1` with "train
    SAR-JointNet: no training samples", naming neither why nor what to do."""
    holed = replace(tiles, valid=tiles.valid.copy())
    holed.valid[:, :20] = False  # 31 % nodata in every tile
    with pytest.raises(InputError, match=r"none of the 6 training tiles is at least 90% valid .* --aug-ratio 0"):
        JointTask(holed, JointTrainConfig(model=jointnet_config("tiny")), balance=0.5, seed=0)
    holed.valid[0] = True  # one tile is enough
    assert len(JointTask(holed, JointTrainConfig(model=jointnet_config("tiny")), balance=0.5, seed=0).tiles) == 1


def test_train_save_load_generate(tmp_path: Path) -> None:
    tiles = make_tiles(4, size=32)
    config = JointTrainConfig(model=jointnet_config("tiny"), speckle="learned")
    trained, result = train_jointnet(tiles, config, LoopConfig(max_steps=24, batch_size=4, lr=3e-3, ema_decay=0.9))
    assert trained.balance == pytest.approx(compute_balance(tiles, (-35.0, 5.0)))
    assert trained.metadata["crop_px"] is None and trained.metadata["steps"] == 24  # what the bench reports
    losses = [loss for _, loss in result.loss_history]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    weights = save_jointnet(tmp_path / "joint", trained)
    again = load_jointnet(weights)
    x, y, t = torch.randn(1, 1, 32, 32), torch.randn(1, 5, 32, 32), torch.tensor([500])
    torch.testing.assert_close(again.model(x, y, t)[0], trained.model(x, y, t)[0])
    out = tmp_path / "generated"
    manifest = generate_pairs(again, GenerateConfig(count=3, steps=4, batch_size=2, tile_px=32, device="cpu"), out)
    assert manifest["count"] == 3 and manifest["balance"] == pytest.approx(trained.balance)
    assert manifest["sampler"]["num_inference_steps"] == 4
    data = open_generated(out)
    raw = np.stack([np.load(out / "soft_labels" / f"{i:06d}.npy") for i in range(3)])
    assert raw.dtype == np.float16 and raw.shape == (3, 5, 32, 32)
    np.testing.assert_allclose(raw.astype(np.float32).sum(axis=1), 1.0, atol=5e-3)
    assert data.image_db(0).shape == (32, 32) and -35 <= data.image_db(0).min() and data.image_db(0).max() <= 5
    assert (out / "samples.png").is_file() and json.loads((out / "dataset.json").read_text())["format"]


def test_physics_speckle_learns_filtered_tiles_and_draws_speckle_with_their_enl(tmp_path: Path) -> None:
    """Issue 17: the generator learns despeckled tiles; its images get Gamma speckle with the tiles' own ENL."""
    tiles = make_tiles(6, size=64)
    config = JointTrainConfig(model=jointnet_config("tiny"))
    assert config.speckle == "physics"
    trained, _ = train_jointnet(tiles, config, LoopConfig(max_steps=4, batch_size=2, lr=3e-3))
    speckle = trained.metadata["speckle"]
    assert speckle["mode"] == "physics" and speckle["enl_estimated"]
    assert speckle["enl"] == pytest.approx(4.4, rel=0.2)  # measured on the sea of the tiles
    again = load_jointnet(save_jointnet(tmp_path / "joint", trained))
    assert again.metadata["speckle"] == speckle
    out = tmp_path / "generated"
    manifest = generate_pairs(again, GenerateConfig(count=4, steps=3, batch_size=2, tile_px=64, device="cpu"), out)
    assert manifest["speckle"] == speckle
    # the same generator and seed without drawn speckle: the ratio of the two is the drawn speckle itself
    unspeckled = replace(again, metadata={**again.metadata, "speckle": {"mode": "learned"}})
    generate_pairs(unspeckled, GenerateConfig(count=4, steps=3, batch_size=2, tile_px=64, device="cpu"), tmp_path / "u")
    with_speckle, without = open_generated(out), open_generated(tmp_path / "u")
    ratio = np.stack([10 ** ((with_speckle.image_db(i) - without.image_db(i)) / 10) for i in range(4)])
    assert ratio.mean() == pytest.approx(1.0, rel=0.05)
    assert ratio.mean() ** 2 / ratio.var() == pytest.approx(speckle["enl"], rel=0.2)
    plain = JointTrainConfig(model=jointnet_config("tiny"), speckle="learned", enl=3.0)
    assert train_jointnet(tiles, plain, LoopConfig(max_steps=1, batch_size=2))[0].metadata["speckle"] == {
        "mode": "learned"
    }
    with pytest.raises(ValueError, match="speckle mode"):
        JointTrainConfig(speckle="made-up")


def test_given_balance_and_bad_files(tmp_path: Path) -> None:
    tiles = make_tiles(2, size=32)
    trained, _ = train_jointnet(
        tiles, JointTrainConfig(model=jointnet_config("tiny"), balance=1.0), LoopConfig(max_steps=1, batch_size=2)
    )
    assert trained.balance == 1.0 and not trained.metadata["balance_computed"]
    with pytest.raises(ModelError, match="not found"):
        load_jointnet(tmp_path / "missing.safetensors")


def _sidecar(edit):  # noqa: ANN001, ANN202 - a dict -> JSON-value function
    """An edit of the sidecar's text that changes its JSON object with ``edit``."""
    return lambda text: json.dumps(edit(json.loads(text)))


#: Damaged SAR-JointNet files, each with what the one-line refusal says: before, each was an internal error.
DAMAGED_JOINTNETS = {
    "truncated weights": ("weights", lambda data: data[:1000], "not readable SAR-JointNet weights"),
    "broken JSON": ("sidecar", lambda text: text[:10], "cannot read the SAR-JointNet sidecar"),
    "JSON array": ("sidecar", lambda text: "[]", "not a SAR-JointNet sidecar; give the weights"),
    "classes as strings": (
        "sidecar",
        _sidecar(lambda meta: {**meta, "classes": ["oil"]}),
        "not a SAR-JointNet sidecar this engine can read",
    ),
    "no schedule": (
        "sidecar",
        _sidecar(lambda meta: {k: v for k, v in meta.items() if k != "schedule"}),
        r"can read \(no 'schedule' entry\)",
    ),
    "three-value dB range": (
        "sidecar",
        _sidecar(lambda meta: {**meta, "db_range": [1, 2, 3]}),
        "not a SAR-JointNet sidecar this engine can read",
    ),
    "a size as text": (
        "sidecar",
        _sidecar(lambda meta: {**meta, "model": {**meta["model"], "base_channels": "x"}}),
        "not a SAR-JointNet sidecar this engine can read",
    ),
}


@pytest.mark.parametrize("damage", DAMAGED_JOINTNETS)
def test_a_damaged_jointnet_is_refused_in_one_line_naming_the_file(tmp_path: Path, damage: str) -> None:
    trained, _ = train_jointnet(
        make_tiles(2, size=32), JointTrainConfig(model=jointnet_config("tiny")), LoopConfig(max_steps=1, batch_size=2)
    )
    weights = save_jointnet(tmp_path / "joint", trained)
    sidecar = weights.with_suffix(".json")
    which, edit, message = DAMAGED_JOINTNETS[damage]
    if which == "weights":
        weights.write_bytes(edit(weights.read_bytes()))
    else:
        sidecar.write_text(edit(sidecar.read_text()))
    with pytest.raises(ModelError, match=message) as refused:
        load_jointnet(weights)
    assert str(refused.value).startswith(f"{weights if which == 'weights' else sidecar}: ")
    assert "\n" not in str(refused.value)
