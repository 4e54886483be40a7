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
