"""Diffusion building blocks: the noise schedule, the DDIM sampler and the balancing factor b."""
