"""A fused selective scan written in Triton: the ``triton`` backend of :mod:`engine.models.scan`.

Same signature and results as ``selective_scan_fn`` (see :mod:`engine.models.scan` for the recurrence
and the shapes). The point of this kernel is memory traffic: the other pure backends build the
``(b, d, l, n)`` tensors ``exp(ΔA)`` and ``ΔBu`` in global memory, which is what keeps the parallel scan
about 1.3-1.7x above the no-scan floor on GPUs (the project's MambaVision reference notes, §6). Here one
program owns a block of channels of one sequence and does, chunk by chunk along ``l``, all of:
``Δ = softplus(delta + bias)``, ``exp(ΔA)``, ``ΔBu``, the recurrence (``tl.associative_scan`` inside the
chunk, a carried state between chunks), the read-out ``<h, C>``, ``+ D u`` and the ``silu(z)`` gate.
Only ``(b, d, l)`` and ``(b, n, l)`` tensors (and small per-chunk states) touch global memory.

Backward: a fused kernel, not autograd through a recompute. When gradients are needed, the forward saves
the state at the start of every chunk, ``(b, d, l / BLOCK_L, n)`` in float32 (``n / BLOCK_L`` of the size
of ``u`` in float32, 1/8 for ``n = 8``). The backward walks the chunks in reverse order; in each it
recomputes the chunk's states from the saved start state (forward scan), then runs the adjoint recurrence
``λ_t = C_t g_t + exp(Δ_{t+1} A) λ_{t+1}`` as a reverse ``tl.associative_scan`` with ``λ`` carried into the
previous chunk, and turns ``λ`` into all the gradients in registers. This keeps the backward's memory at
the inputs plus the chunk states, like mamba_ssm's CUDA kernel, instead of the ``(b, d, l, n)`` tensors
that autograd through the recurrence (or a checkpointed recompute in torch) would hold.

Notes:
    - **Nothing here has run on a GPU.** The kernels' logic was checked only on the CPU, through Triton's
      interpreter (``TRITON_INTERPRET=1``), against the sequential reference, and the kernels were compiled
      to an sm_90 cubin with Triton's bundled ptxas, without a GPU (``tests/models/test_scan_triton.py``).
      Compiled-GPU results and speed are not measured; the CUDA tests in ``tests/models/test_scan.py`` and
      ``test_scan_triton.py`` cover the results where a GPU exists. Block sizes and warps are a heuristic
      (:func:`block_sizes`, :data:`NUM_WARPS`), not tuned. Only Triton 3.9 was used.
    - ``exp(ΔA) h_{t-1}`` is needed for the gradients of ``Δ`` and ``A``; it is taken as ``h_t - ΔBu_t``
      (no shifted read of the states, no division by ``exp(ΔA)``, which can underflow to 0).
    - The reverse scan needs ``exp(Δ_{t+1} A)`` at position ``t``: the kernel re-reads ``delta`` one position
      ahead, masked by ``t + 1 < l``; every load is masked by ``l``, ``d`` and ``n``. (accelerated-scan 0.3.1
      read past its buffer with a mask of ``t > 0`` only; see mambavision.md §6.)
    - ``reverse=True`` of ``tl.associative_scan`` means flip, scan with the same ``combine_fn``, flip back:
      Triton's own scan test expects exactly that for a linear recurrence (``test_core.py``,
      ``linear_recurrence``), and its interpreter implements it so.
    - The gradients of ``B`` and ``C`` are sums over channels, which span several programs: each program
      writes its partial sum to a ``(b, d / BLOCK_D, n, l)`` float32 buffer, summed in torch afterwards.
      Deterministic, unlike atomics, at the cost of these two transient buffers (each twice the size of
      ``u`` in float32 for ``n = 8``, ``BLOCK_D = 4``).
    - Inputs of dtype float32, bfloat16 and float16 are read as they are and computed in float32; other
      dtypes (e.g. float64) are converted to float32 first. ``y`` has ``u``'s dtype, ``last_state`` is
      float32, as in the reference backend. Only ``B`` and ``C`` of shape ``(b, n, l)`` are supported
      (mamba_ssm's grouped ``(b, g, n, l)`` and constant ``(d, n)`` forms are not).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

#: True when Triton runs its kernels through the CPU interpreter (``TRITON_INTERPRET=1`` set before this
#: module was imported): then CPU tensors are accepted, which is how the tests check the kernels.
INTERPRETED: bool = (
    bool(triton.knobs.runtime.interpret)
    if hasattr(triton, "knobs")  # older Triton: no knobs
    else os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")
)

#: Largest state size accepted (the 3-D register tile grows with it; MambaVision uses 8).
MAX_STATE = 256

_NATIVE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# BLOCK_D * BLOCK_N * BLOCK_L target and warps per program. Not tuned on a GPU; chosen from ptxas's register
# counts for sm_90 (compiled here without a GPU, Triton 3.9, bf16 inputs, n = 8): 99 registers forward and 154
# backward, no spills, with 2048 elements and 8 warps (4 warps: 168 and 255).
_TILE_ELEMENTS = 2048
NUM_WARPS = 8


@triton.jit
def _affine_combine(decay_left, value_left, decay_right, value_right):
    """Compose ``h -> a_l h + x_l`` then ``h -> a_r h + x_r`` (the left one earlier in scan order)."""
    return decay_left * decay_right, decay_right * value_left + value_right


@triton.jit
def _step_size(delta_ptr, offsets, mask, bias, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """``Δ = softplus(delta + bias)`` in float32, and ``dΔ/d(delta)``; both 0 where ``mask`` is False."""
    raw = tl.load(delta_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        raw = raw + bias[:, None]
    if SOFTPLUS:
        # torch's softplus (threshold 20): x above it; exp clamped so the unused branch stays finite.
        step = tl.where(raw <= 20.0, tl.log(1.0 + tl.exp(tl.minimum(raw, 20.0))), raw)
        slope = tl.sigmoid(raw)
    else:
        step = raw
        slope = tl.full(raw.shape, 1.0, tl.float32)
    return tl.where(mask, step, 0.0), tl.where(mask, slope, 0.0)


@triton.jit
def _chunk(
    u_ptr,
    delta_ptr,
    B_ptr,
    C_ptr,
    A,
    bias,
    start_state,
    position,
    dl_rows,
    nl_rows,
    channel_mask,
    state_mask,
    seqlen,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
):
    """Load one chunk (positions ``position``) and run its recurrence from ``start_state``.

    Returns ``u``, ``Δ``, ``dΔ/d(delta)``, ``B``, ``C`` (float32, 0 where masked), the masks, ``ΔBu`` and the
    states ``(BLOCK_D, BLOCK_N, BLOCK_L)``: the inclusive scan of ``(exp(ΔA), ΔBu)`` along ``l``.
    """
    position_mask = position < seqlen
    dl_mask = channel_mask[:, None] & position_mask[None, :]
    nl_mask = state_mask[:, None] & position_mask[None, :]
    u = tl.load(u_ptr + dl_rows + position[None, :], mask=dl_mask, other=0.0).to(tl.float32)
    step, step_slope = _step_size(delta_ptr, dl_rows + position[None, :], dl_mask, bias, HAS_BIAS, SOFTPLUS)
    B = tl.load(B_ptr + nl_rows + position[None, :], mask=nl_mask, other=0.0).to(tl.float32)
    C = tl.load(C_ptr + nl_rows + position[None, :], mask=nl_mask, other=0.0).to(tl.float32)
    # Masked entries give decay 1 and drive 0 (step 0, B 0): the identity, so the state carries through.
    decay = tl.exp(step[:, None, :] * A[:, :, None])
    drive = (step * u)[:, None, :] * B[None, :, :]
    decay_prefix, states = tl.associative_scan((decay, drive), axis=2, combine_fn=_affine_combine)
    states = states + decay_prefix * start_state[:, :, None]
    return u, step, step_slope, B, C, dl_mask, nl_mask, drive, states


@triton.jit
def _channel_parameters(
    A_ptr,
    D_ptr,
    bias_ptr,
    channel,
    state_idx,
    dstate,
    channel_mask,
    dn_mask,
    HAS_D: tl.constexpr,
    HAS_BIAS: tl.constexpr,
):
    """Load ``A`` ``(BLOCK_D, BLOCK_N)``, ``delta_bias`` and ``D`` ``(BLOCK_D,)`` in float32 (0 where absent)."""
    A = tl.load(A_ptr + channel[:, None] * dstate + state_idx[None, :], mask=dn_mask, other=0.0).to(tl.float32)
    bias = tl.zeros(channel.shape, tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + channel, mask=channel_mask, other=0.0).to(tl.float32)
    skip = tl.zeros(channel.shape, tl.float32)
    if HAS_D:
        skip = tl.load(D_ptr + channel, mask=channel_mask, other=0.0).to(tl.float32)
    return A, bias, skip


@triton.jit
def _block_indices(batch, channel_block, dim, seqlen, dstate, n_chunks, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """Compute the channels and states of a program, their masks, and its row offsets into the tensors."""
    channel = channel_block * BLOCK_D + tl.arange(0, BLOCK_D)
    state_idx = tl.arange(0, BLOCK_N)
    channel_mask = channel < dim
    state_mask = state_idx < dstate
    dn_mask = channel_mask[:, None] & state_mask[None, :]
    dl_rows = (batch * dim + channel[:, None]) * seqlen  # (BLOCK_D, 1) into (b, d, l)
    nl_rows = (batch * dstate + state_idx[:, None]) * seqlen  # (BLOCK_N, 1) into (b, n, l)
    dn_offsets = (batch * dim + channel[:, None]) * dstate + state_idx[None, :]  # into (b, d, n)
    chunk_rows = (batch * dim + channel[:, None]) * n_chunks * dstate + state_idx[None, :]  # (b, d, c, n) at c = 0
    return channel, state_idx, channel_mask, state_mask, dn_mask, dl_rows, nl_rows, dn_offsets, chunk_rows


@triton.jit
def _scan_forward_kernel(
    u_ptr,
    delta_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    y_ptr,
    chunk_state_ptr,
    last_state_ptr,
    dim,
    seqlen,
    dstate,
    n_chunks,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    SAVE_CHUNK_STATES: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    """One program: sequence ``program_id(0)``, channels ``program_id(1) * BLOCK_D + [0, BLOCK_D)``."""
    batch = tl.program_id(0).to(tl.int64)
    channel, state_idx, channel_mask, state_mask, dn_mask, dl_rows, nl_rows, dn_offsets, chunk_rows = _block_indices(
        batch, tl.program_id(1), dim, seqlen, dstate, n_chunks, BLOCK_D, BLOCK_N
    )
    A, bias, skip = _channel_parameters(
        A_ptr, D_ptr, bias_ptr, channel, state_idx, dstate, channel_mask, dn_mask, HAS_D, HAS_BIAS
    )
    position_in_chunk = tl.arange(0, BLOCK_L)

    state = tl.zeros((BLOCK_D, BLOCK_N), tl.float32)
    for chunk in range(n_chunks):
        position = chunk * BLOCK_L + position_in_chunk
        if SAVE_CHUNK_STATES:  # the state before this chunk, for the backward
            tl.store(chunk_state_ptr + chunk_rows + chunk * dstate, state, mask=dn_mask)
        u, _, _, _, C, dl_mask, _, _, states = _chunk(
            u_ptr,
            delta_ptr,
            B_ptr,
            C_ptr,
            A,
            bias,
            state,
            position,
            dl_rows,
            nl_rows,
            channel_mask,
            state_mask,
            seqlen,
            HAS_BIAS,
            SOFTPLUS,
        )
        out = tl.sum(states * C[None, :, :], axis=1)
        if HAS_D:
            out += skip[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + dl_rows + position[None, :], mask=dl_mask, other=0.0).to(tl.float32)
            out = out * z * tl.sigmoid(z)
        tl.store(y_ptr + dl_rows + position[None, :], out, mask=dl_mask)
        state = tl.sum(tl.where(position_in_chunk[None, None, :] == BLOCK_L - 1, states, 0.0), axis=2)
    tl.store(last_state_ptr + dn_offsets, state, mask=dn_mask)


@triton.jit
def _scan_backward_kernel(
    u_ptr,
    delta_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    chunk_state_ptr,
    grad_y_ptr,
    grad_last_ptr,
    grad_u_ptr,
    grad_delta_ptr,
    grad_z_ptr,
    grad_A_part_ptr,
    grad_B_part_ptr,
    grad_C_part_ptr,
    grad_D_part_ptr,
    grad_bias_part_ptr,
    dim,
    seqlen,
    dstate,
    n_chunks,
    n_channel_blocks,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    HAS_GRAD_Y: tl.constexpr,
    HAS_GRAD_LAST: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    """Reverse pass over the chunks of one (sequence, channel block); see the module docstring."""
    batch = tl.program_id(0).to(tl.int64)
    channel_block = tl.program_id(1)
    channel, state_idx, channel_mask, state_mask, dn_mask, dl_rows, nl_rows, dn_offsets, chunk_rows = _block_indices(
        batch, channel_block, dim, seqlen, dstate, n_chunks, BLOCK_D, BLOCK_N
    )
    A, bias, skip = _channel_parameters(
        A_ptr, D_ptr, bias_ptr, channel, state_idx, dstate, channel_mask, dn_mask, HAS_D, HAS_BIAS
    )
    position_in_chunk = tl.arange(0, BLOCK_L)
    part_rows = ((batch * n_channel_blocks + channel_block) * dstate + state_idx[:, None]) * seqlen  # (b, D/BD, n, l)

    # λ at the first position of the chunk after the current one; a gradient on the last state enters as λ_l,
    # which reaches λ_{l-1} with factor 1 because exp(Δ_l A) is masked to exp(0).
    adjoint = tl.zeros((BLOCK_D, BLOCK_N), tl.float32)
    if HAS_GRAD_LAST:
        adjoint = tl.load(grad_last_ptr + dn_offsets, mask=dn_mask, other=0.0).to(tl.float32)
    grad_A = tl.zeros((BLOCK_D, BLOCK_N), tl.float32)
    grad_skip = tl.zeros((BLOCK_D,), tl.float32)
    grad_bias = tl.zeros((BLOCK_D,), tl.float32)

    for reverse_chunk in range(n_chunks):
        chunk = n_chunks - 1 - reverse_chunk
        position = chunk * BLOCK_L + position_in_chunk
        dl_offsets = dl_rows + position[None, :]
        # Recompute this chunk's states from the saved start state.
        start_state = tl.load(chunk_state_ptr + chunk_rows + chunk * dstate, mask=dn_mask, other=0.0)
        u, step, step_slope, B, C, dl_mask, nl_mask, drive, states = _chunk(
            u_ptr,
            delta_ptr,
            B_ptr,
            C_ptr,
            A,
            bias,
            start_state,
            position,
            dl_rows,
            nl_rows,
            channel_mask,
            state_mask,
            seqlen,
            HAS_BIAS,
            SOFTPLUS,
        )

        grad_out = tl.zeros((BLOCK_D, BLOCK_L), tl.float32)
        if HAS_GRAD_Y:
            grad_out = tl.load(grad_y_ptr + dl_offsets, mask=dl_mask, other=0.0).to(tl.float32)
        if HAS_Z:  # y = out * silu(z): d/dz silu(z) = s (1 + z (1 - s)), s = sigmoid(z)
            z = tl.load(z_ptr + dl_offsets, mask=dl_mask, other=0.0).to(tl.float32)
            gate_sigmoid = tl.sigmoid(z)
            out = tl.sum(states * C[None, :, :], axis=1)
            if HAS_D:
                out += skip[:, None] * u
            grad_z = grad_out * out * gate_sigmoid * (1.0 + z * (1.0 - gate_sigmoid))
            tl.store(grad_z_ptr + dl_offsets, grad_z, mask=dl_mask)
            grad_out = grad_out * z * gate_sigmoid
        grad_u = tl.zeros((BLOCK_D, BLOCK_L), tl.float32)
        if HAS_D:
            grad_skip += tl.sum(grad_out * u, axis=1)
            grad_u = grad_out * skip[:, None]
        tl.store(
            grad_C_part_ptr + part_rows + position[None, :], tl.sum(grad_out[:, None, :] * states, axis=0), mask=nl_mask
        )

        # Adjoint recurrence λ_t = C_t g_t + exp(Δ_{t+1} A) λ_{t+1}, as a reverse scan with λ carried in.
        next_mask = channel_mask[:, None] & (position[None, :] + 1 < seqlen)
        next_step, _ = _step_size(delta_ptr, dl_offsets + 1, next_mask, bias, HAS_BIAS, SOFTPLUS)
        next_decay = tl.exp(next_step[:, None, :] * A[:, :, None])
        decay_suffix, adjoints = tl.associative_scan(
            (next_decay, grad_out[:, None, :] * C[None, :, :]), axis=2, combine_fn=_affine_combine, reverse=True
        )
        adjoints = adjoints + decay_suffix * adjoint[:, :, None]
        adjoint = tl.sum(tl.where(position_in_chunk[None, None, :] == 0, adjoints, 0.0), axis=2)

        # h_t = exp(ΔA) h_{t-1} + ΔBu: λ flows to Δ through both terms, to A through the first, to u and B
        # through the second. exp(ΔA) h_{t-1} = h_t - ΔBu.
        carried = states - drive
        grad_step = tl.sum(adjoints * (carried * A[:, :, None] + u[:, None, :] * B[None, :, :]), axis=1)
        grad_u += step * tl.sum(adjoints * B[None, :, :], axis=1)
        tl.store(grad_u_ptr + dl_offsets, grad_u, mask=dl_mask)
        tl.store(
            grad_B_part_ptr + part_rows + position[None, :],
            tl.sum(adjoints * (step * u)[:, None, :], axis=0),
            mask=nl_mask,
        )
        grad_A += tl.sum(adjoints * carried * step[:, None, :], axis=2)
        grad_delta = grad_step * step_slope  # step_slope is 0 where masked
        grad_bias += tl.sum(grad_delta, axis=1)
        tl.store(grad_delta_ptr + dl_offsets, grad_delta, mask=dl_mask)

    part_offsets = batch * dim + channel
    tl.store(grad_A_part_ptr + dn_offsets, grad_A, mask=dn_mask)
    if HAS_D:
        tl.store(grad_D_part_ptr + part_offsets, grad_skip, mask=channel_mask)
    if HAS_BIAS:
        tl.store(grad_bias_part_ptr + part_offsets, grad_bias, mask=channel_mask)


def block_sizes(dim: int, seqlen: int, dstate: int) -> tuple[int, int, int]:
    """``(BLOCK_D, BLOCK_N, BLOCK_L)``: chunks of up to 64 positions and about 2048 elements per 3-D tile.

    Notes:
        A heuristic, not tuned on a GPU. ``BLOCK_L`` is at least 16 so that the scan axis is never tiny.
    """
    block_n = triton.next_power_of_2(dstate)
    block_l = min(max(triton.next_power_of_2(seqlen), 16), 64)
    block_d = max(1, min(triton.next_power_of_2(dim), _TILE_ELEMENTS // (block_n * block_l)))
    return block_d, block_n, block_l


def _prepare(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Contiguous, in a dtype the kernels read (float32/bfloat16/float16 as given, anything else as float32)."""
    if tensor is None:
        return None
    if tensor.dtype not in _NATIVE_DTYPES:
        tensor = tensor.float()
    return tensor.contiguous()


def _check_inputs(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> None:
    """Raise ValueError/RuntimeError for shapes or devices the kernels do not handle."""
    if u.device.type != "cuda" and not INTERPRETED:
        raise RuntimeError(
            f"scan backend 'triton' needs CUDA tensors (got {u.device.type}; TRITON_INTERPRET=1 "
            "runs it on the CPU for tests only); use scan backend 'auto'"
        )
    batch, dim, seqlen = u.shape
    dstate = A.shape[-1]
    expected = {
        "delta": (delta, (batch, dim, seqlen)),
        "A": (A, (dim, dstate)),
        "B": (B, (batch, dstate, seqlen)),
        "C": (C, (batch, dstate, seqlen)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"scan backend 'triton': {name} has shape {tuple(tensor.shape)}, expected {shape} "
                "((b, n, l) B and C only)"
            )
    if not 1 <= dstate <= MAX_STATE:
        raise ValueError(f"scan backend 'triton': state size {dstate} is outside 1..{MAX_STATE}")


class _SelectiveScanTriton(torch.autograd.Function):
    """Autograd wrapper: fused forward kernel, fused reverse-chunk backward kernel."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, blocks, save_chunk_states):  # noqa: D102
        ctx.set_materialize_grads(False)
        batch, dim, seqlen = u.shape
        dstate = A.shape[1]
        block_d, block_n, block_l = blocks or block_sizes(dim, seqlen, dstate)
        n_chunks = triton.cdiv(seqlen, block_l)
        y = torch.empty_like(u)
        chunk_states = torch.empty(
            batch, dim, n_chunks if save_chunk_states else 0, dstate, device=u.device, dtype=torch.float32
        )
        last_state = torch.empty(batch, dim, dstate, device=u.device, dtype=torch.float32)
        grid = (batch, triton.cdiv(dim, block_d))
        if batch * dim > 0:  # an empty grid is not launched (all outputs are empty then)
            _scan_forward_kernel[grid](
                u,
                delta,
                A,
                B,
                C,
                u if D is None else D,
                u if z is None else z,
                u if delta_bias is None else delta_bias,
                y,
                chunk_states,
                last_state,
                dim,
                seqlen,
                dstate,
                n_chunks,
                HAS_D=D is not None,
                HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None,
                SOFTPLUS=delta_softplus,
                SAVE_CHUNK_STATES=save_chunk_states,
                BLOCK_D=block_d,
                BLOCK_N=block_n,
                BLOCK_L=block_l,
                num_warps=NUM_WARPS,
            )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chunk_states)
        ctx.delta_softplus = delta_softplus
        ctx.blocks = (block_d, block_n, block_l)
        ctx.mark_non_differentiable(chunk_states)
        return y, last_state

    @staticmethod
    def backward(ctx, grad_y, grad_last_state):  # noqa: D102
        u, delta, A, B, C, D, z, delta_bias, chunk_states = ctx.saved_tensors
        if grad_y is None and grad_last_state is None:
            return (None,) * 11
        batch, dim, seqlen = u.shape
        dstate = A.shape[1]
        block_d, block_n, block_l = ctx.blocks
        n_chunks = triton.cdiv(seqlen, block_l)
        if chunk_states.shape[2] != n_chunks:
            raise RuntimeError("scan backend 'triton': backward of a forward that ran without gradients enabled")
        n_channel_blocks = triton.cdiv(dim, block_d)
        grad_y = None if grad_y is None else grad_y.contiguous()
        grad_last_state = None if grad_last_state is None else grad_last_state.contiguous()
        grad_u = torch.empty_like(u)
        grad_delta = torch.empty_like(delta)
        grad_z = None if z is None else torch.empty_like(z)
        float_options = {"device": u.device, "dtype": torch.float32}
        grad_A_part = torch.empty(batch, dim, dstate, **float_options)
        grad_B_part = torch.empty(batch, n_channel_blocks, dstate, seqlen, **float_options)
        grad_C_part = torch.empty(batch, n_channel_blocks, dstate, seqlen, **float_options)
        grad_D_part = None if D is None else torch.empty(batch, dim, **float_options)
        grad_bias_part = None if delta_bias is None else torch.empty(batch, dim, **float_options)
        if batch * dim > 0:
            _scan_backward_kernel[(batch, n_channel_blocks)](
                u,
                delta,
                A,
                B,
                C,
                u if D is None else D,
                u if z is None else z,
                u if delta_bias is None else delta_bias,
                chunk_states,
                u if grad_y is None else grad_y,
                u if grad_last_state is None else grad_last_state,
                grad_u,
                grad_delta,
                u if grad_z is None else grad_z,
                grad_A_part,
                grad_B_part,
                grad_C_part,
                grad_A_part if grad_D_part is None else grad_D_part,
                grad_A_part if grad_bias_part is None else grad_bias_part,
                dim,
                seqlen,
                dstate,
                n_chunks,
                n_channel_blocks,
                HAS_D=D is not None,
                HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None,
                SOFTPLUS=ctx.delta_softplus,
                HAS_GRAD_Y=grad_y is not None,
                HAS_GRAD_LAST=grad_last_state is not None,
                BLOCK_D=block_d,
                BLOCK_N=block_n,
                BLOCK_L=block_l,
                num_warps=NUM_WARPS,
            )
        return (
            grad_u,
            grad_delta,
            grad_A_part.sum(0).to(A.dtype),
            grad_B_part.sum(1).to(B.dtype),
            grad_C_part.sum(1).to(C.dtype),
            None if D is None else grad_D_part.sum(0).to(D.dtype),
            grad_z,
            None if delta_bias is None else grad_bias_part.sum(0).to(delta_bias.dtype),
            None,
            None,
            None,
        )


def selective_scan_fn(
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
    *,
    blocks: tuple[int, int, int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Fused selective scan (forward and backward kernels in Triton); shapes as in :mod:`engine.models.scan`.

    Args:
        u: ``(b, d, l)`` input.
        delta: ``(b, d, l)`` step sizes before the bias and softplus.
        A: ``(d, n)`` state matrix (negative for a decaying state).
        B: ``(b, n, l)`` input projection.
        C: ``(b, n, l)`` output projection.
        D: ``(d,)`` skip weight, or None.
        z: ``(b, d, l)`` gate (the output is multiplied by ``silu(z)``), or None.
        delta_bias: ``(d,)`` added to ``delta``, or None.
        delta_softplus: apply softplus to ``delta + delta_bias``.
        return_last_state: also return the state after the last position.
        blocks: ``(BLOCK_D, BLOCK_N, BLOCK_L)`` powers of two overriding :func:`block_sizes` (tests use small
            ones to exercise the chunk carries and the masks on short sequences); ``BLOCK_N >= n``.

    Returns:
        ``y`` in ``u``'s dtype, or ``(y, last_state)`` with ``last_state`` ``(b, d, n)`` float32.

    Raises:
        RuntimeError: for CPU tensors unless Triton runs in interpreter mode.
        ValueError: for shapes the kernels do not handle (grouped or constant B/C, n above 256).
    """
    _check_inputs(u, delta, A, B, C)
    if blocks is not None and blocks[1] < A.shape[-1]:
        raise ValueError(f"scan backend 'triton': BLOCK_N {blocks[1]} is below the state size {A.shape[-1]}")
    prepared = [_prepare(t) for t in (u, delta, A, B, C, D, z, delta_bias)]
    # Inference (no grad) skips writing the per-chunk states, which only the backward reads.
    needs_backward = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in prepared)
    y, last_state = _SelectiveScanTriton.apply(*prepared, bool(delta_softplus), blocks, needs_backward)
    y = y.to(u.dtype)
    return (y, last_state) if return_last_state else y
