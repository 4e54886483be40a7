import numpy as np
import pytest
import torch

from engine.diffusion.balance import balance_factor
from engine.diffusion.schedule import NoiseSchedule


def label_to_signed(one_hot: np.ndarray) -> np.ndarray:
    """JointNet's signed form of a one-hot label, in [-1, 1]."""
    return 2.0 * one_hot - 1.0


def snr(schedule: NoiseSchedule, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) of a unit-power signal."""
    alpha_bar = schedule.alphas_cumprod[timesteps.long()]
    return alpha_bar / (1.0 - alpha_bar)


def test_b_is_the_rms_of_valid_pixels() -> None:
    images = [np.array([[0.5, -0.5], [0.25, 9.0]]), np.array([[-1.0, 0.0]])]
    valid = [np.array([[True, True], [True, False]]), np.array([[True, True]])]
    values = np.array([0.5, -0.5, 0.25, -1.0, 0.0])
    assert balance_factor(images, valid) == pytest.approx(np.sqrt(np.mean(values**2)))
    assert balance_factor(images, valid, stat="std") == pytest.approx(values.std())
    with pytest.raises(ValueError, match="unknown balance"):
        balance_factor(images, stat="max")


def test_b_matches_label_snr_to_image_snr() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(-0.9, 0.1, (64, 64))
    b = balance_factor([image])
    one_hot = np.eye(5)[rng.integers(0, 5, (64, 64))]
    label = b * label_to_signed(one_hot)
    schedule = NoiseSchedule()
    t = torch.tensor([100, 500])
    ratio = snr(schedule, t).numpy()
    np.testing.assert_allclose(ratio * np.mean(label**2), ratio * np.mean(image**2), rtol=1e-9)


def test_unscaled_label_has_unit_power() -> None:
    assert np.mean(label_to_signed(np.eye(5)) ** 2) == 1.0
