import pytest
import torch

from engine.diffusion.ddim import DDIMConfig, DDIMSampler, sample
from engine.diffusion.schedule import NoiseSchedule


def test_timesteps() -> None:
    schedule = NoiseSchedule()
    trailing = DDIMSampler(schedule, DDIMConfig(num_inference_steps=5, timestep_spacing="trailing"))
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
    sampler = DDIMSampler(schedule, DDIMConfig(num_inference_steps=4, timestep_spacing="trailing"))
    x_t = torch.tensor([0.7])
    x0 = torch.tensor([0.2])
    a_t = schedule.alphas_cumprod[999].item()
    a_prev = schedule.alphas_cumprod[749].item()
    eps = (0.7 - a_t**0.5 * 0.2) / (1 - a_t) ** 0.5
    expected = a_prev**0.5 * 0.2 + (1 - a_prev) ** 0.5 * eps
    assert abs(sampler.step(x0, 999, x_t).item() - expected) < 1e-6


@pytest.mark.parametrize("steps", [2, 6, 10, 50])
def test_default_sampling_starts_from_pure_noise_and_ends_at_t0(steps: int) -> None:
    """Issue 17: the image returned is the estimate made at t = 0, not at t = T/n - 1 (t = 99 for 10 steps)."""
    sampler = DDIMSampler(NoiseSchedule(), DDIMConfig(num_inference_steps=steps))
    timesteps = sampler.timesteps.tolist()
    assert timesteps[0] == 999 and timesteps[-1] == 0
    assert len(timesteps) == len(set(timesteps)) == steps
    assert timesteps == sorted(timesteps, reverse=True)
    assert DDIMSampler(NoiseSchedule(), DDIMConfig(num_inference_steps=1)).timesteps.tolist() == [999]


def test_last_denoise_call_sees_t0_and_its_estimate_is_returned() -> None:
    sampler = DDIMSampler(NoiseSchedule(), DDIMConfig(num_inference_steps=10))
    calls = []

    def denoise(states, t):
        calls.append(int(t[0]))
        return [torch.full_like(states[0], float(t[0]))]  # an estimate that names its timestep

    result = sample(denoise, sampler, [torch.randn(1, 1, 2, 2)])
    assert calls[-1] == 0 and calls[0] == 999
    assert torch.all(result[0] == 0.0)


def test_linspace_step_to_t0_lands_on_the_estimate_for_eta_0_and_1() -> None:
    """From t = 0 the next level is alpha_bar = 1: the sample equals the x0 estimate (no noise added)."""
    schedule = NoiseSchedule()
    for eta in (0.0, 1.0):
        sampler = DDIMSampler(schedule, DDIMConfig(num_inference_steps=3, eta=eta))
        x0 = torch.tensor([0.25])
        assert sampler.step(x0, 0, torch.tensor([0.3])).item() == pytest.approx(0.25)
