import pytest
import torch

from engine.diffusion.ddim import DDIMConfig, DDIMSampler, sample
from engine.diffusion.schedule import NoiseSchedule


def test_timesteps() -> None:
    schedule = NoiseSchedule()
    trailing = DDIMSampler(schedule, DDIMConfig(num_inference_steps=5))
    assert trailing.timesteps.tolist() == [999, 799, 599, 399, 199]
    leading = DDIMSampler(schedule, DDIMConfig(num_inference_steps=5, timestep_spacing="leading"))
    assert leading.timesteps.tolist() == [800, 600, 400, 200, 0]
    with pytest.raises(ValueError, match="num_inference_steps"):
        trailing.set_timesteps(0)


def test_perfect_x0_predictor_recovers_x0_exactly() -> None:
    schedule = NoiseSchedule()
    target_x = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    target_y = torch.full((1, 2, 4, 4), 0.3)
    sampler = DDIMSampler(schedule, DDIMConfig(num_inference_steps=10))
    seen = []
    result = sample(
        lambda states, t: [target_x, target_y],
        sampler,
        [torch.randn(1, 1, 4, 4), torch.randn(1, 2, 4, 4)],
        on_step=lambda i, n: seen.append((i, n)),
    )
    torch.testing.assert_close(result[0], target_x)
    torch.testing.assert_close(result[1], target_y)
    assert seen[-1] == (10, 10)


def test_step_matches_ddim_equation() -> None:
    schedule = NoiseSchedule()
    sampler = DDIMSampler(schedule, DDIMConfig(num_inference_steps=4))
    x_t = torch.tensor([0.7])
    x0 = torch.tensor([0.2])
    a_t = schedule.alphas_cumprod[999].item()
    a_prev = schedule.alphas_cumprod[749].item()
    eps = (0.7 - a_t**0.5 * 0.2) / (1 - a_t) ** 0.5
    expected = a_prev**0.5 * 0.2 + (1 - a_prev) ** 0.5 * eps
    assert abs(sampler.step(x0, 999, x_t).item() - expected) < 1e-6
