"""Selective-scan backends for the MambaVision mixer, all with ``selective_scan_fn``'s signature.

The selective scan of Mamba (Gu & Dao 2023, eq. 2 and Algorithm 2) is, per batch ``b``, channel ``d``
and state ``n``, the linear recurrence over the sequence position ``t``::

    Δ_t   = softplus(delta_t + delta_bias)            (if delta_softplus)
    h_t   = exp(Δ_t · A) · h_{t-1} + Δ_t · B_t · u_t    (h_0 = 0)
    y_t   = <h_t, C_t> + D · u_t
    y_t  *= silu(z_t)                                  (if z is given)

Shapes follow mamba_ssm: ``u`` and ``delta`` are ``(b, d, l)``, ``A`` is ``(d, n)``, ``B`` and ``C`` are
``(b, n, l)``, ``D`` is ``(d,)``, ``z`` is ``(b, d, l)``, ``delta_bias`` is ``(d,)``. All backends return
``y`` in the dtype of ``u`` (and ``(y, last_state)`` with ``return_last_state=True``), and compute in
float32 internally, as mamba_ssm's reference does.

Backends:

- ``reference``: the sequential loop over ``l``; exact; the CPU default (on CPU it is as fast as the
  parallel scan for window-sized sequences).
- ``parallel``: a pure-torch Blelloch scan with a hand-written backward (itself a reversed scan), so
  autograd keeps only ``exp(ΔA)`` and the states; ``log2(l)`` kernel launches per sweep instead of
  ``l``. Used on CUDA when neither fused kernel can be imported, and on other GPUs.
- ``mamba_ssm``: the fused CUDA kernel from ``mamba_ssm`` when it can be imported (CUDA machines only).
- ``triton``: our fused Triton kernel (:mod:`engine.models.scan_triton`; forward and backward kernels that
  never build the ``(b, d, l, n)`` tensors), when ``triton`` can be imported; CUDA tensors only, or CPU
  tensors when ``TRITON_INTERPRET=1`` was set before the first use (the tests run it that way). Checked
  only through Triton's CPU interpreter and by compiling it for sm_90 without a GPU; not yet run or timed
  on a GPU.
- ``none``: skips the recurrence (``h_t = Δ_t B_t u_t``); wrong numbers, used only by ``bench/model.py``
  to measure the "no-scan floor".
- ``auto``: on CUDA tensors ``mamba_ssm`` if importable, else ``parallel``; ``parallel`` on other GPUs;
  ``reference`` on the CPU. ``triton`` is opt-in until it has been run on a GPU.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
from collections.abc import Callable
from types import ModuleType

import torch
import torch.nn.functional as F

ScanFn = Callable[..., torch.Tensor | tuple[torch.Tensor, torch.Tensor]]


def _discretize(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation shared by the backends: returns ``(Δ, exp(ΔA), ΔBu)``.

    ``exp(ΔA)`` and ``ΔBu`` are ``(b, d, l, n)``, the layout the scans run on (``l`` before ``n`` so that
    stepping along ``l`` keeps ``n`` contiguous).
    """
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    decay = torch.exp(delta.unsqueeze(-1) * A.float()[:, None, :])
    drive = (delta * u.float()).unsqueeze(-1) * B.float().transpose(1, 2).unsqueeze(1)
    return delta, decay, drive


def _finish(
    states: torch.Tensor,
    u: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    return_last_state: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Read the output out of the states ``(b, d, l, n)``: ``y = <h, C> + D u``, gated by ``silu(z)``."""
    with torch.autocast(states.device.type, enabled=False):  # keep the read-out in float32 under autocast
        y = torch.einsum("bdln,bnl->bdl", states, C.float())
    if D is not None:
        y = y + u.float() * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(u.dtype)
    if return_last_state:
        return y, states[:, :, -1]
    return y


def selective_scan_reference(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence sequentially, one step per position: the exact reference for the other backends."""
    _, decay, drive = _discretize(u, delta, A, B, delta_bias, delta_softplus)
    state = torch.zeros_like(drive[:, :, 0])
    states = []
    for step in range(drive.shape[2]):
        state = decay[:, :, step] * state + drive[:, :, step]
        states.append(state)
    return _finish(torch.stack(states, dim=2), u, C, D, z, return_last_state)


def _blelloch_scan_(decay: torch.Tensor, values: torch.Tensor) -> None:
    """In place: ``values[..., t, :] <- decay[..., t, :] * values[..., t-1, :] + values[..., t, :]`` along dim -2.

    Blelloch (1990) work-efficient inclusive scan for the associative operator
    ``(a1, x1) ∘ (a2, x2) = (a1 a2, a2 x1 + x2)``. The length along dim -2 must be a power of two.
    ``decay`` is overwritten with partial products.

    Notes:
        Up-sweep: at stride ``s`` the last element of every block of ``2s`` absorbs the block's first
        half, so afterwards position ``p`` holds the aggregate of ``(p - lowbit(p+1), p]`` (a Fenwick tree).
        Down-sweep: at stride ``s`` (coarse to fine) each position ``p`` with ``p + 1`` an odd multiple
        of ``s`` (and ``p >= 2s``... i.e. not in the first block) completes its prefix from the finished
        prefix at ``p - s``. Only the values are needed there, so ``decay`` is not updated.
    """
    length = values.shape[-2]
    lead = values.shape[:-2]
    channels = values.shape[-1]
    stride = 1
    while stride < length:
        a_view = decay.view(*lead, length // (2 * stride), 2 * stride, channels)
        x_view = values.view(*lead, length // (2 * stride), 2 * stride, channels)
        x_view[..., 2 * stride - 1, :] += a_view[..., 2 * stride - 1, :] * x_view[..., stride - 1, :]
        a_view[..., 2 * stride - 1, :] *= a_view[..., stride - 1, :]
        stride *= 2
    stride = length // 4
    while stride >= 1:
        a_view = decay.view(*lead, length // (2 * stride), 2 * stride, channels)
        x_view = values.view(*lead, length // (2 * stride), 2 * stride, channels)
        x_view[..., 1:, stride - 1, :] += a_view[..., 1:, stride - 1, :] * x_view[..., :-1, 2 * stride - 1, :]
        stride //= 2


def _linear_scan_pow2(decay: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Out-of-place inclusive scan along dim -2, padding the length up to a power of two."""
    length = values.shape[-2]
    padded = 1 << max(0, math.ceil(math.log2(length)))
    pad = padded - length
    # Identity elements (a=1, x=0) appended after the sequence leave every real prefix unchanged.
    decay_work = F.pad(decay, (0, 0, 0, pad), value=1.0) if pad else decay.clone()
    values_work = F.pad(values, (0, 0, 0, pad)) if pad else values.clone()
    _blelloch_scan_(decay_work, values_work)
    return values_work[..., :length, :]


class _LinearScan(torch.autograd.Function):
    """``h_t = a_t h_{t-1} + x_t`` along dim -2 with a parallel forward and a parallel backward.

    Backward (reverse-mode of a linear recurrence): ``g_t = dL/dh_t + a_{t+1} g_{t+1}`` is the same scan
    run backwards in time; then ``dL/dx_t = g_t`` and ``dL/da_t = g_t h_{t-1}``.
    """

    @staticmethod
    def forward(ctx, decay: torch.Tensor, values: torch.Tensor) -> torch.Tensor:  # noqa: D102
        states = _linear_scan_pow2(decay, values)
        ctx.save_for_backward(decay, states)
        return states

    @staticmethod
    def backward(ctx, grad_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        decay, states = ctx.saved_tensors
        next_decay = F.pad(decay[..., 1:, :], (0, 0, 0, 1), value=0.0)
        grad_values = _linear_scan_pow2(next_decay.flip(-2), grad_states.flip(-2).contiguous()).flip(-2)
        previous_states = F.pad(states[..., :-1, :], (0, 0, 1, 0))
        return grad_values * previous_states, grad_values


def selective_scan_parallel(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence as a Blelloch parallel scan (pure torch, any device), same results as the loop."""
    _, decay, drive = _discretize(u, delta, A, B, delta_bias, delta_softplus)
    states = _LinearScan.apply(decay.contiguous(), drive.contiguous())
    return _finish(states, u, C, D, z, return_last_state)


def selective_scan_none(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Do the element-wise work of a scan without the recurrence: the "no-scan floor" for benchmarks.

    Notes:
        The output is not a selective scan; never use it for predictions.
    """
    _, _, drive = _discretize(u, delta, A, B, delta_bias, delta_softplus)
    return _finish(drive, u, C, D, z, return_last_state)


@functools.lru_cache(maxsize=1)
def _mamba_ssm_fn() -> ScanFn | None:
    """``mamba_ssm``'s fused CUDA scan, or None when the package (or its CUDA extension) is missing."""
    try:
        module = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    except Exception:  # noqa: BLE001 - a broken mamba_ssm install must only disable this backend
        return None
    return getattr(module, "selective_scan_fn", None)


def selective_scan_mamba_ssm(u: torch.Tensor, *args, **kwargs) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """mamba_ssm's fused CUDA kernel (CUDA tensors only); raises RuntimeError if it is not installed."""
    scan = _mamba_ssm_fn()
    if scan is None:
        raise RuntimeError("scan backend 'mamba_ssm' needs the mamba-ssm package (CUDA only); use 'auto'")
    return scan(u, *args, **kwargs)


@functools.lru_cache(maxsize=1)
def _triton_module() -> ModuleType | None:
    """:mod:`engine.models.scan_triton`, imported on first use; None when ``triton`` cannot be imported.

    Notes:
        Triton decides at import time whether its kernels run compiled or in the CPU interpreter
        (``TRITON_INTERPRET``), so the environment variable must be set before this first call.
    """
    try:
        return importlib.import_module("engine.models.scan_triton")
    except Exception:  # noqa: BLE001 - a missing or broken triton install must only disable this backend
        return None


def _triton_runs_on(device: torch.device) -> bool:
    """Whether the ``triton`` backend can run on tensors of ``device`` here."""
    module = _triton_module()
    return module is not None and (device.type == "cuda" or (device.type == "cpu" and module.INTERPRETED))


def selective_scan_triton(u: torch.Tensor, *args, **kwargs) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Our fused Triton kernel (CUDA tensors; CPU only in interpreter mode); RuntimeError without triton."""
    module = _triton_module()
    if module is None:
        raise RuntimeError(
            "scan backend 'triton' needs the triton package (pip install triton; NVIDIA or AMD GPUs); use 'auto'"
        )
    return module.selective_scan_fn(u, *args, **kwargs)


def selective_scan_auto(u: torch.Tensor, *args, **kwargs) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Pick per call: mamba_ssm on CUDA when importable, else the parallel scan on GPUs, the loop on CPU.

    Notes:
        ``triton`` is not chosen automatically: its kernels have been checked only through Triton's CPU
        interpreter and a compile for sm_90, never run on a GPU. Select it with ``--scan-backend triton``
        (or ``set_scan_backend("triton")``) and run ``tests/models/test_scan_triton.py`` on the GPU first.
    """
    if u.device.type == "cpu":
        return selective_scan_reference(u, *args, **kwargs)
    if u.is_cuda and _mamba_ssm_fn() is not None:
        return selective_scan_mamba_ssm(u, *args, **kwargs)
    return selective_scan_parallel(u, *args, **kwargs)


#: Every backend by name, as accepted by :func:`get_scan` and the ``scan_backend`` model option.
SCAN_BACKENDS: dict[str, ScanFn] = {
    "auto": selective_scan_auto,
    "reference": selective_scan_reference,
    "parallel": selective_scan_parallel,
    "mamba_ssm": selective_scan_mamba_ssm,
    "triton": selective_scan_triton,
    "none": selective_scan_none,
}


def get_scan(name: str) -> ScanFn:
    """Return the scan function called ``name``; unknown names raise a KeyError listing the valid ones."""
    try:
        return SCAN_BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown scan backend {name!r}; valid backends: {', '.join(SCAN_BACKENDS)}") from None


def _triton_available() -> bool:
    """Whether the ``triton`` backend can run here; does not import triton where there is nothing to run it on."""
    if torch.cuda.is_available():
        return _triton_runs_on(torch.device("cuda"))
    return bool(os.environ.get("TRITON_INTERPRET")) and _triton_runs_on(torch.device("cpu"))


def available_backends() -> list[str]:
    """Backends that can run on this machine.

    ``mamba_ssm`` only when it imports; ``triton`` only when it imports and there is a CUDA device (or Triton
    runs in interpreter mode, for tests).
    """
    unavailable = set()
    if _mamba_ssm_fn() is None:
        unavailable.add("mamba_ssm")
    if not _triton_available():
        unavailable.add("triton")
    return [name for name in SCAN_BACKENDS if name not in unavailable]
