from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelError
from engine.models import create_model
from engine.train.fid import (
    InceptionV3,
    check_inception_weights,
    frechet_distance,
    generation_scores,
    inception_extractor,
    kernel_inception_distance,
    sar_encoder_extractor,
)


def test_fid_of_gaussians_matches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (4000, 3))
    fake = rng.normal(0, 1, (4000, 3)) * 2 + 1
    # |mu|^2 = 3; Tr(I + 4I - 2*2I) = 3  -> 6
    assert frechet_distance(real, fake) == pytest.approx(6.0, rel=0.05)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    kid_same, _ = kernel_inception_distance(real[:200], real[200:400])
    kid_far, _ = kernel_inception_distance(real[:200], fake[:200])
    assert abs(kid_same) < kid_far / 10


def test_sar_encoder_scores_are_named_as_such() -> None:
    model = create_model("saross_net_xs", num_classes=2)
    extractor = sar_encoder_extractor(model, lambda x: (x + 20) / 4)
    rng = np.random.default_rng(0)
    result = generation_scores(rng.normal(-20, 2, (6, 32, 32)), rng.normal(-10, 2, (6, 32, 32)), extractor)
    assert set(result) >= {"SAR-FID", "SAR-KID", "feature_extractor"}
    assert "not comparable" in result["feature_extractor"] and result["SAR-FID"] > 0


def test_inception_weights_from_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = InceptionV3(fid_variant=True)
    state = dict(net.state_dict(), **{"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    torch.save(state, tmp_path / "pt_inception.pth")
    extractor = inception_extractor(tmp_path / "pt_inception.pth", (-35.0, 5.0))
    features = extractor.features(np.full((2, 40, 40), -20.0, np.float32))
    assert features.shape == (2, 2048) and extractor.metric_prefix == ""
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="not Inception-v3 weights"):
        inception_extractor(tmp_path / "other.pth", (-35.0, 5.0))


def test_unusable_inception_weights_are_refused_in_one_line_naming_the_file(tmp_path: Path) -> None:
    """A cut-short .safetensors was an internal error (SafetensorError); check_inception_weights refuses as the
    extractor does, so a fine-tune can refuse the file before it trains, not at its last step."""
    truncated = tmp_path / "inception.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    refusals = {
        truncated: "not a readable .safetensors file",
        tmp_path / "missing.pth": "checkpoint not found",
        tmp_path / "other.pth": "not Inception-v3 weights",
    }
    for path, message in refusals.items():
        with pytest.raises(ModelError, match=message) as refused:
            check_inception_weights(path)
        assert str(refused.value).startswith(f"{path}: ") and "\n" not in str(refused.value)
    check_inception_weights(None)  # not given: SAR-FID, nothing to check
