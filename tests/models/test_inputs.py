import numpy as np
import pytest
import torch
from scipy import ndimage

from engine.models import create_model
from engine.models.inputs import DEFAULT_INPUT_FEATURES, InputFeatures, box_sum, parse_feature


def test_box_sum_equals_a_direct_window_sum_with_zeros_outside() -> None:
    values = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 1, 23, 17)).astype(np.float32))
    expected = ndimage.uniform_filter(values.numpy().astype(np.float64), size=(1, 1, 7, 7), mode="constant") * 49
    np.testing.assert_allclose(box_sum(values, 7).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize(
    "name, parsed", [("db", ("db", 0)), ("contrast:31", ("contrast", 31)), ("lcn:101", ("lcn", 101))]
)
def test_feature_names_parse(name: str, parsed: tuple[str, int]) -> None:
    assert parse_feature(name) == parsed


@pytest.mark.parametrize("name", ["contrast", "contrast:30", "contrast:1", "db:3", "blur:5"])
def test_bad_feature_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        parse_feature(name)


def _sea_with_slick() -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(1)
    image = rng.normal(0.0, 0.3, size=(64, 64)).astype(np.float32)
    slick = np.zeros((64, 64), bool)
    slick[28:36, 10:54] = True
    image[slick] -= 1.0
    return torch.from_numpy(image)[None, None], slick


def test_contrast_is_dark_on_the_slick_and_ignores_a_db_offset() -> None:
    x, slick = _sea_with_slick()
    features = InputFeatures(("contrast:15",))
    contrast = features(x)[0, 0].numpy()
    assert contrast[slick].mean() < -0.5 < contrast[~slick].mean() + 0.5
    np.testing.assert_allclose(features(x + 3.0)[0, 0].numpy(), contrast, atol=1e-4)


def test_lcn_ignores_a_db_gain_and_offset() -> None:
    x, _ = _sea_with_slick()
    features = InputFeatures(("lcn:15",))
    plain = features(x)[0, 0].numpy()
    scaled = features(1.7 * x - 2.0)[0, 0].numpy()
    # Equal up to the variance floor, which matters little next to a local std of about 0.3-0.5.
    assert np.abs(scaled - plain).mean() < 0.05


def test_a_bright_target_does_not_darken_the_sea_around_it() -> None:
    x = torch.zeros(1, 1, 41, 41)
    x[0, 0, 20, 20] = 20.0  # a ship: far above the guard
    contrast = InputFeatures(("contrast:11",))(x)[0, 0]
    assert torch.allclose(contrast[18:23, 15:26][contrast[18:23, 15:26] < 1.0], torch.zeros(1), atol=1e-5)


def test_nodata_is_zero_and_left_out_of_the_background() -> None:
    x = torch.ones(1, 1, 32, 32)
    valid = torch.ones_like(x, dtype=torch.bool)
    valid[..., :, :8] = False
    x[~valid] = -50.0  # whatever nodata holds must not matter
    out = InputFeatures(("db", "contrast:9", "lcn:9"))(x, valid)[0]
    assert torch.all(out[:, :, :8] == 0)
    assert torch.allclose(out[1:, :, 8:], torch.zeros_like(out[1:, :, 8:]), atol=1e-5)


def test_a_model_with_input_features_takes_one_band_and_a_valid_mask() -> None:
    model = create_model("saross_net_xs", num_classes=5, input_features=DEFAULT_INPUT_FEATURES).eval()
    assert model.config.in_chans == len(DEFAULT_INPUT_FEATURES) and model.config.input_bands == 1
    x = torch.randn(2, 1, 64, 64)
    valid = torch.ones_like(x, dtype=torch.bool)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x, valid), atol=1e-5)
        valid[:, :, :16] = False
        changed = model(x * 0 + torch.where(valid, x, torch.full_like(x, 9.0)), valid)
        assert torch.allclose(changed, model(x, valid), atol=1e-5)  # nodata values never reach the network


def test_models_without_input_features_keep_their_single_band() -> None:
    model = create_model("saross_net_xs", num_classes=2).eval()
    assert model.inputs is None and model.config.input_bands == 1 and model.config.in_chans == 1
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (1, 2, 32, 32)
