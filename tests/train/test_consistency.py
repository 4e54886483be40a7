"""The consistency gate of generated pairs (issue 17): agreement, class mapping, and a planted inconsistent set."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engine.classes import IGNORE_INDEX, OSD_CLASSES
from engine.data.generated import GeneratedWriter, open_generated
from engine.data.tiles import TileSet
from engine.detectors.base import InputSpec
from engine.train.consistency import GateConfig, gate_generated, judge_classes, pair_agreement

SPEC = InputSpec(units="db", db_range=(-35.0, 5.0), mean=-20.0, std=5.0, tile_size=64)


class DarkIsOil(torch.nn.Module):
    """A judge that knows one thing: a pixel 4 dB below the tile's median is oil (class 1), the rest sea."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # so the gate can find the judge's device

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        median = image.flatten(1).median(dim=1).values.view(-1, 1, 1, 1)
        oil = (image < median - 4.0 / SPEC.std).float() * self.scale
        logits = torch.zeros(image.shape[0], len(OSD_CLASSES), *image.shape[-2:])
        logits[:, 1:2] = 2 * oil - 1
        return logits


JUDGE_CARD = SimpleNamespace(classes=OSD_CLASSES, input_spec=SPEC, name="dark-is-oil")


def sea(rng: np.random.Generator, size: int = 64, enl: float = 4.4) -> np.ndarray:
    """Homogeneous sea at -20 dB with Gamma(enl) speckle, in dB."""
    return (-20.0 + 10 * np.log10(rng.gamma(enl, 1 / enl, (size, size)))).astype(np.float32)


def test_pair_agreement_looks_at_the_foreground() -> None:
    label = np.zeros((32, 32), np.int64)
    label[8:16, 8:24] = 1
    assert pair_agreement(label, label, 5) == 1.0
    assert pair_agreement(np.zeros_like(label), label, 5) == 0.0  # oil in the label, none in the image
    half = label.copy()
    half[8:12] = 0
    assert pair_agreement(half, label, 5) == pytest.approx(0.5)
    assert pair_agreement(np.zeros_like(label), np.zeros_like(label), 5) == 1.0  # sea only, seen as sea


def test_judge_classes_map_by_name_and_fold_to_not_oil() -> None:
    from engine.classes import OIL_VS_REST

    assert judge_classes(OSD_CLASSES, OSD_CLASSES).tolist() == [0, 1, 2, 3, 4]
    assert judge_classes(OSD_CLASSES, OIL_VS_REST).tolist() == [0, 1, 0, 0, 0]


def write_set(folder: Path, images: list[np.ndarray], labels: list[np.ndarray]) -> Path:
    writer = GeneratedWriter(folder)
    soft = np.stack([np.eye(len(OSD_CLASSES), dtype=np.float32)[label].transpose(2, 0, 1) for label in labels])
    writer.add(np.stack(images), soft)
    writer.finish(OSD_CLASSES, {"db_range": [-35.0, 5.0]})
    return folder


def slick(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A sea tile with a dark 8 dB slick and its label."""
    image, label = sea(rng), np.zeros((64, 64), np.int64)
    row = int(rng.integers(4, 40))
    image[row : row + 12, 8:56] -= 8.0
    label[row : row + 12, 8:56] = 1
    return image, label


def real_tiles(rng: np.random.Generator, count: int = 6) -> TileSet:
    pairs = [slick(rng) for _ in range(count)]
    images = np.stack([p[0] for p in pairs]).astype(np.float16)
    labels = np.stack([p[1] for p in pairs]).astype(np.uint8)
    labels[:, :2] = IGNORE_INDEX
    return TileSet(images, np.ones(images.shape, bool), labels, [f"s{i}" for i in range(count)], OSD_CLASSES)


def test_the_gate_drops_planted_inconsistent_pairs_and_keeps_the_rest(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    good = [slick(rng) for _ in range(6)]
    bad = []
    for _ in range(4):  # an oil label where the image is plain sea: the failure the outside review found
        image, label = sea(rng), np.zeros((64, 64), np.int64)
        label[20:40, 20:40] = 1
        bad.append((image, label))
    pairs = good[:3] + bad[:2] + good[3:] + bad[2:]
    generated = open_generated(write_set(tmp_path / "gen", [p[0] for p in pairs], [p[1] for p in pairs]))
    result = gate_generated(generated, real_tiles(rng), DarkIsOil(), JUDGE_CARD, GateConfig())
    assert result.passed, result.reason
    assert result.keep.tolist() == [0, 1, 2, 5, 6, 7]
    assert result.scores["dropped"] == 4 and result.scores["judge"] == "dark-is-oil"
    assert result.scores["judge_oil_iou_real"] > 70 and result.scores["judge_oil_iou_kept"] > 70
    assert result.scores["judge_oil_iou_generated"] < result.scores["judge_oil_iou_kept"]
    assert result.scores["real"]["sea"]["enl"] == pytest.approx(4.4, rel=0.25)
    assert result.scores["real"]["oil"]["contrast_db"] == pytest.approx(-8.0, abs=1.0)
    kept = generated.subset(result.keep)
    assert len(kept) == 6 and np.array_equal(kept.image_db(3), generated.image_db(5))


def test_a_wholly_inconsistent_set_fails_and_keeps_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images, labels = [], []
    for _ in range(5):
        label = np.zeros((64, 64), np.int64)
        label[10:30, 10:50] = 1
        images.append(sea(rng))
        labels.append(label)
    generated = open_generated(write_set(tmp_path / "gen", images, labels))
    result = gate_generated(generated, real_tiles(rng), DarkIsOil(), JUDGE_CARD, GateConfig())
    assert not result.passed and result.keep.size == 0
    assert "only 0 of 5 generated pairs agree" in result.reason
    assert result.scores["passed"] is False


def test_a_set_with_far_too_little_of_a_class_fails_though_each_pair_agrees(tmp_path: Path) -> None:
    """Issue 17: pairs the judge agrees with, but four times too little oil, taught "everything is sea"."""
    rng = np.random.default_rng(3)
    images, labels = [], []
    for _ in range(6):  # real slicks are 12 x 48 px (about 15 % of a tile); these 4 x 24 px (2.3 %)
        image, label = sea(rng, enl=50.0), np.zeros((64, 64), np.int64)  # little speckle: the judge sees the slick
        image[30:34, 20:44] -= 8.0
        label[30:34, 20:44] = 1
        images.append(image)
        labels.append(label)
    generated = open_generated(write_set(tmp_path / "gen", images, labels))
    real = real_tiles(rng)
    result = gate_generated(generated, real, DarkIsOil(), JUDGE_CARD, GateConfig())
    assert result.scores["kept"] == 6 and result.scores["judge_oil_iou_kept"] > 70  # every pair agrees
    assert not result.passed and result.keep.size == 0
    assert result.reason.startswith("the kept pairs label 2.3% of their pixels oil, against 1")
    assert result.scores["kept_class_share"]["oil"] == pytest.approx(96 / 4096, rel=0.01)
    unchecked = gate_generated(generated, real, DarkIsOil(), JUDGE_CARD, GateConfig(max_share_ratio=0))
    assert unchecked.passed and unchecked.keep.size == 6
