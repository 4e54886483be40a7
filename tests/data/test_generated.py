from pathlib import Path

import numpy as np
import pytest

from engine.classes import OSD_CLASSES
from engine.data.generated import GeneratedWriter, open_generated, sample_grid_png
from engine.errors import InputError


def test_roundtrip_float16_soft_labels_sum_to_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 16, 16))
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.normal(-20, 3, (3, 16, 16))
    writer = GeneratedWriter(tmp_path)
    writer.add(images, soft)
    writer.finish(OSD_CLASSES, {"db_range": [-35, 5], "balance": 0.5})
    stored = np.load(tmp_path / "soft_labels" / "000001.npy")
    assert stored.dtype == np.float16 and stored.shape == (5, 16, 16)
    assert np.abs(stored.astype(np.float32).sum(axis=0) - 1).max() < 5e-3
    data = open_generated(tmp_path)
    assert len(data) == 3 and data.num_classes == 5 and data.manifest["balance"] == 0.5
    np.testing.assert_allclose(data.soft_label(2).sum(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(data.image_db(0), images[0], atol=0.02)
    sample_grid_png(tmp_path / "grid.png", images, soft, OSD_CLASSES, (-35, 5), columns=2)
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_open_rejects_other_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no dataset.json"):
        open_generated(tmp_path)
    (tmp_path / "dataset.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not a generated-pairs data set"):
        open_generated(tmp_path)


def _written_set(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    writer = GeneratedWriter(folder)
    writer.add(rng.normal(-20, 3, (2, 16, 16)), np.full((2, 5, 16, 16), 0.2))
    writer.finish(OSD_CLASSES, {"db_range": [-35, 5], "balance": 0.5})
    return folder


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("[]", r"not a generated-pairs data set \(format None\)"),
        ('{"format": "dakd-generated-pairs", "count": "2", "classes": [{}]}', "damaged manifest"),
        ('{"format": "dakd-generated-pairs", "count": 2, "classes": null}', "damaged manifest"),
    ],
)
def test_a_damaged_manifest_is_refused_in_one_line(tmp_path: Path, manifest: str, message: str) -> None:
    """A hand-edited or foreign dataset.json: before, an AttributeError or ValueError reached the user."""
    folder = _written_set(tmp_path / "pairs")
    (folder / "dataset.json").write_text(manifest)
    with pytest.raises(InputError, match=message) as refused:
        open_generated(folder)
    assert str(refused.value).startswith(f"{folder / 'dataset.json'}: ")


def test_a_damaged_pair_is_refused_by_name_when_it_is_read(tmp_path: Path) -> None:
    """A truncated .npy (a copy cut short) stopped a training run with an internal error."""
    folder = _written_set(tmp_path / "pairs")
    image = folder / "images" / "000001.npy"
    image.write_bytes(image.read_bytes()[:50])
    pairs = open_generated(folder)
    assert pairs.image_db(0).shape == (16, 16)
    with pytest.raises(InputError, match=f"^{image}: cannot read this generated pair .*; regenerate the data set$"):
        pairs.image_db(1)
