"""The forward (noising) process of a DDPM as an object, in the style of diffusers' schedulers.

Training calls :meth:`NoiseSchedule.add_noise`; samplers (``engine.diffusion.ddim``) read the
cumulative products from it. The constructor arguments are the whole configuration: ``config``
returns them as a dict that goes into checkpoints and generated-data manifests as JSON, and
:meth:`NoiseSchedule.from_config` rebuilds the same schedule.

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", eq. 4)::

    beta_t            noise variance added at step t            (betas)
    alpha_t           = 1 - beta_t
    alpha_bar_t       = prod_{s<=t} alpha_s                      (alphas_cumprod)
    x_t               = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps,   eps ~ N(0, I)

Notes:
    The paper (DAKD, arXiv 2412.08116) does not state its schedule, T or sampler. Our default is the
    DDPM one: linear beta from 1e-4 to 0.02 over T = 1000 steps [I]. A cosine schedule (Nichol &
    Dhariwal 2021, eq. 17) is offered as a variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from engine.config import ConfigBase

BETA_SCHEDULES = ("linear", "cosine")


@dataclass(frozen=True)
class ScheduleConfig(ConfigBase):
    """Constructor arguments of :class:`NoiseSchedule`; saved as JSON beside weights."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"


class NoiseSchedule:
    """A DDPM noise schedule: betas, cumulative alphas, and the forward process q(x_t | x_0).

    Args:
        config: the schedule's settings; ``ScheduleConfig()`` gives the DDPM default.

    Raises:
        ValueError: on an unknown ``beta_schedule`` or non-positive ``num_train_timesteps``.
    """

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config or ScheduleConfig()
        steps = self.config.num_train_timesteps
        if steps < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {steps}")
        if self.config.beta_schedule == "linear":
            betas = torch.linspace(self.config.beta_start, self.config.beta_end, steps, dtype=torch.float64)
        elif self.config.beta_schedule == "cosine":
            betas = _cosine_betas(steps)
        else:
            raise ValueError(f"unknown beta_schedule {self.config.beta_schedule!r}; valid: {', '.join(BETA_SCHEDULES)}")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    @property
    def num_train_timesteps(self) -> int:
        """T, the number of steps of the forward process."""
        return self.config.num_train_timesteps

    def config_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-ready dict."""
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NoiseSchedule:
        """Rebuild a schedule from :meth:`config_dict` output."""
        return cls(ScheduleConfig.from_dict(config))

    def alpha_bar(self, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t for each sample, shaped to broadcast over ``like`` (N, C, H, W)."""
        values = self.alphas_cumprod.to(like.device)[timesteps.to(like.device).long()].to(like.dtype)
        return values.reshape(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (DDPM eq. 4)."""
        alpha_bar = self.alpha_bar(timesteps, x0)
        return alpha_bar.sqrt() * x0 + (1.0 - alpha_bar).sqrt() * noise

    def sample_timesteps(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Uniform training timesteps in [0, T)."""
        return torch.randint(0, self.num_train_timesteps, (batch_size,), generator=generator).to(device)


def _cosine_betas(steps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021), eq. 17, with betas clipped at ``max_beta``."""

    def f(t: float) -> float:
        return math.cos((t / steps + offset) / (1 + offset) * math.pi / 2) ** 2

    betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(steps)]
    return torch.tensor(betas, dtype=torch.float64)
