"""DDIM sampling (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models") for x0-predicting nets.

The sampler is an object with the diffusers-style API: :meth:`DDIMSampler.set_timesteps` once,
then :meth:`DDIMSampler.step` per step. :func:`sample` is the loop; it holds no math of its own, so
the same loop drives one image or the joint (image, label) state of SAR-JointNet.

Notation (DDIM paper, eq. 12 and 16)::

    x0_pred      the network's estimate of x_0 (our nets predict x_0, not eps)
    eps_pred     = (x_t - sqrt(alpha_bar_t) * x0_pred) / sqrt(1 - alpha_bar_t)
    sigma_t      = eta * sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_prev)
    x_prev       = sqrt(alpha_bar_prev) * x0_pred + sqrt(1 - alpha_bar_prev - sigma_t^2) * eps_pred + sigma_t * z

``eta = 0`` is deterministic DDIM; ``eta = 1`` is the DDPM ancestral sampler on the chosen sub-sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.config import ConfigBase
from engine.diffusion.schedule import NoiseSchedule

TIMESTEP_SPACINGS = ("linspace", "trailing", "leading")


@dataclass(frozen=True)
class DDIMConfig(ConfigBase):
    """Sampler settings: number of steps, stochasticity and how steps are spaced over [0, T).

    Every spacing but ``leading`` starts at t = T-1 (pure noise), which an x0-predicting net needs to see
    at the first step (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps Are
    Flawed", table 2). ``linspace`` (the default) also *ends* at t = 0, so the image returned is the
    estimate made from an almost clean state. ``trailing`` ends at t = T/n - 1: with the 10 steps of
    the CPU preset the image returned was the estimate made at t = 99 (image SNR 0.62), and the generated
    pairs lost most of their oil-sea contrast (issue 17; docs/reference/dakd.md). ``leading`` is the
    original DDIM spacing. A card written with another spacing keeps it.
    """

    num_inference_steps: int = 50
    eta: float = 0.0
    timestep_spacing: str = "linspace"


class DDIMSampler:
    """Reverse process of DDIM over a sub-sequence of the schedule's timesteps.

    Args:
        schedule: the noise schedule the model was trained with.
        config: number of steps, eta and spacing.

    Raises:
        ValueError: when the number of steps is outside [1, T] or the spacing is unknown.
    """

    def __init__(self, schedule: NoiseSchedule, config: DDIMConfig | None = None) -> None:
        self.schedule = schedule
        self.config = config or DDIMConfig()
        self.timesteps = torch.zeros(0, dtype=torch.long)
        self.set_timesteps(self.config.num_inference_steps)

    def set_timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """Choose the descending timesteps for ``num_inference_steps`` steps and return them."""
        total = self.schedule.num_train_timesteps
        if not 1 <= num_inference_steps <= total:
            raise ValueError(f"num_inference_steps must be in [1, {total}], got {num_inference_steps}")
        if self.config.timestep_spacing == "linspace":  # T-1 ... 0, both ends (one step: T-1 only)
            steps = torch.linspace(total - 1, 0, num_inference_steps).round().long()
        elif self.config.timestep_spacing == "trailing":
            steps = torch.round(torch.arange(total, 0, -total / num_inference_steps)).long() - 1
        elif self.config.timestep_spacing == "leading":
            ratio = total // num_inference_steps
            steps = torch.arange(num_inference_steps - 1, -1, -1, dtype=torch.long) * ratio
        else:
            raise ValueError(
                f"unknown timestep_spacing {self.config.timestep_spacing!r}; valid: {', '.join(TIMESTEP_SPACINGS)}"
            )
        self.timesteps = steps
        return steps

    def previous_timestep(self, timestep: int) -> int:
        """Return the next timestep in the descending sequence, or -1 after the last one (alpha_bar = 1)."""
        index = int((self.timesteps == timestep).nonzero()[0, 0])
        return int(self.timesteps[index + 1]) if index + 1 < len(self.timesteps) else -1

    def step(
        self, x0_pred: torch.Tensor, timestep: int, sample: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One reverse step x_t -> x_{t_prev} given the model's x_0 estimate (DDIM eq. 12)."""
        alphas = self.schedule.alphas_cumprod
        # 1. alpha_bar at t and at the previous (less noisy) step; alpha_bar = 1 past the end.
        prev_t = self.previous_timestep(timestep)
        alpha_bar = float(alphas[timestep])
        alpha_bar_prev = float(alphas[prev_t]) if prev_t >= 0 else 1.0
        # 2. the noise implied by x_t and x0_pred.
        eps_pred = (sample - alpha_bar**0.5 * x0_pred) / (1.0 - alpha_bar) ** 0.5
        # 3. sigma_t (eq. 16), zero for eta = 0.
        variance = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_prev)
        sigma = self.config.eta * max(variance, 0.0) ** 0.5
        # 4. direction pointing to x_t, then x_prev.
        direction = max(1.0 - alpha_bar_prev - sigma**2, 0.0) ** 0.5 * eps_pred
        prev_sample = alpha_bar_prev**0.5 * x0_pred + direction
        # 5. fresh noise for eta > 0.
        if sigma > 0:
            noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype).to(sample.device)
            prev_sample = prev_sample + sigma * noise
        return prev_sample


DenoiseFn = Callable[[Sequence[torch.Tensor], torch.Tensor], Sequence[torch.Tensor]]


def sample(
    denoise: DenoiseFn,
    sampler: DDIMSampler,
    initial_noise: Sequence[torch.Tensor],
    generator: torch.Generator | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """Run the reverse process on one or several jointly denoised states.

    Args:
        denoise: maps the current states and a (N,) timestep tensor to x_0 estimates, one per state.
        sampler: a sampler whose timesteps are set.
        initial_noise: x_T for each state (standard normal).
        generator: random source for eta > 0.
        on_step: called with (step index, number of steps) after each step (progress, cancel).

    Returns:
        The final x_0 estimates of the last step, one per state.
    """
    states = list(initial_noise)
    batch = states[0].shape[0]
    estimates: list[torch.Tensor] = states
    total = len(sampler.timesteps)
    for index, timestep in enumerate(sampler.timesteps.tolist()):
        t = torch.full((batch,), timestep, dtype=torch.long, device=states[0].device)
        estimates = list(denoise(states, t))
        states = [sampler.step(x0, timestep, state, generator) for x0, state in zip(estimates, states)]
        if on_step is not None:
            on_step(index + 1, total)
    return estimates
