import torch

from engine.diffusion.schedule import NoiseSchedule, ScheduleConfig


def test_linear_schedule_values_and_add_noise() -> None:
    schedule = NoiseSchedule()
    assert schedule.betas[0].item() == 1e-4 and abs(schedule.betas[-1].item() - 0.02) < 1e-12
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    torch.testing.assert_close(schedule.alphas_cumprod, alpha_bar)
    x0 = torch.full((2, 1, 2, 2), 0.5)
    noise = torch.ones_like(x0)
    t = torch.tensor([0, 999])
    out = schedule.add_noise(x0, noise, t)
    expected0 = alpha_bar[0].sqrt() * 0.5 + (1 - alpha_bar[0]).sqrt()
    expected1 = alpha_bar[999].sqrt() * 0.5 + (1 - alpha_bar[999]).sqrt()
    torch.testing.assert_close(out[0], torch.full((1, 2, 2), float(expected0)))
    torch.testing.assert_close(out[1], torch.full((1, 2, 2), float(expected1)))
    assert alpha_bar[999] < 1e-4  # T = 1000 ends at (almost) pure noise


def test_config_roundtrip_and_cosine() -> None:
    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=50, beta_schedule="cosine"))
    again = NoiseSchedule.from_config(schedule.config_dict())
    torch.testing.assert_close(again.alphas_cumprod, schedule.alphas_cumprod)
    assert torch.all(schedule.alphas_cumprod[1:] < schedule.alphas_cumprod[:-1])
