"""Reading foreign checkpoints (official MambaVision, timm/torchvision ResNet) from a user's disk.

Our own models are stored as safetensors by :mod:`engine.modelcard`. Foreign ``.pth``/``.pth.tar``
files are pickles, so they are only ever opened with ``torch.load(..., weights_only=True)``, which
refuses anything but tensors and plain containers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict from a checkpoint file without unpickling code.

    Accepts a raw state dict or one nested under ``state_dict`` or ``model`` (the official MambaVision
    and timm training scripts both save that way), and strips DataParallel's ``module.`` prefix.
    ``.safetensors`` files are read with safetensors.

    Raises:
        ModelError: the file is missing, is not a weights-only checkpoint, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found; give the path of a local .pth/.pth.tar/.safetensors file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
            raise ModelError(f"{path}: not a readable .safetensors file ({error}); download it again") from None
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling refusal becomes one clear line
        raise ModelError(
            f"{path}: not a weights-only PyTorch checkpoint ({type(error).__name__}); "
            "re-save it as a plain state dict or a .safetensors file"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ModelError(f"{path}: no tensors found; expected a state dict (optionally under 'state_dict' or 'model')")
    return {key.removeprefix("module."): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}


def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Turn a first-conv weight ``(out, c, k, k)`` trained on ``c`` channels into one for ``in_chans``.

    Each new input channel gets ``sum over the old channels / in_chans``. For a 1-channel SAR input
    that is the sum over RGB: a grey image ``(g, g, g)`` through the RGB filter gives the same response
    as ``g`` through the summed filter, so the pretrained features see what they were trained on.
    """
    if weight.shape[1] == in_chans:
        return weight
    summed = weight.float().sum(dim=1, keepdim=True) / in_chans
    return summed.repeat(1, in_chans, 1, 1).to(weight.dtype)


def load_foreign_state_dict(
    module: nn.Module,
    state_dict: dict[str, torch.Tensor],
    source: str,
    ignore_prefixes: Iterable[str] = (),
    input_conv_key: str | None = None,
) -> None:
    """Load ``state_dict`` into ``module`` strictly, minus keys under ``ignore_prefixes``.

    ``input_conv_key`` names the first conv's weight, which is adapted to the module's input channels
    with :func:`adapt_input_conv` (3-channel ImageNet weights into a 1-channel SAR encoder).

    Raises:
        ModelError: keys or shapes differ; the message names the first few and ``source``.
    """
    ignore = tuple(ignore_prefixes)
    wanted = {k: v for k, v in state_dict.items() if not k.startswith(ignore)}
    own = module.state_dict()
    if input_conv_key is not None and input_conv_key in wanted and input_conv_key in own:
        wanted[input_conv_key] = adapt_input_conv(wanted[input_conv_key], own[input_conv_key].shape[1])
    missing = [k for k in own if k not in wanted]
    unexpected = [k for k in wanted if k not in own]
    mismatched = [k for k in wanted if k in own and tuple(wanted[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        details = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
            if keys
        )
        raise ModelError(f"{source}: checkpoint does not fit this architecture ({details}); check the variant name")
    module.load_state_dict(wanted, strict=True)
