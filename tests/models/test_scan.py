import math

import pytest
import torch
import torch.nn.functional as F

from engine.models import scan
from engine.models.scan import SCAN_BACKENDS, available_backends, get_scan, selective_scan_reference

# Every backend that computes the real scan and can run here; each is checked against the reference.
EXACT_BACKENDS = [name for name in available_backends() if name not in ("reference", "none")]


def _inputs(batch=2, channels=5, state=3, length=7, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator).requires_grad_()

    u, delta, z = rand(batch, channels, length), rand(batch, channels, length), rand(batch, channels, length)
    A = (-torch.rand(channels, state, generator=generator) * 2 - 0.1).requires_grad_()
    B, C = rand(batch, state, length), rand(batch, state, length)
    D, bias = rand(channels), rand(channels)
    return u, delta, A, B, C, D, z, bias


def _run(fn, inputs, cuda=False):
    u, delta, A, B, C, D, z, bias = inputs
    if cuda:
        u, delta, A, B, C, D, z, bias = (t.detach().cuda().requires_grad_() for t in inputs)
    y = fn(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True)
    weights = torch.cos(torch.arange(y.numel(), dtype=torch.float32, device=y.device)).view_as(y)
    grads = torch.autograd.grad((y * weights).sum(), (u, delta, A, B, C, D, z, bias))
    return y.cpu(), [g.cpu() for g in grads]


def test_reference_matches_hand_computed_recurrence():
    # One channel, one state, no softplus: h1 = 1*1*2 = 2, h2 = e^{-1}*2 + 1*1*3, y = h (C = 1).
    u = torch.tensor([[[2.0, 3.0]]])
    delta = torch.ones(1, 1, 2)
    A = torch.tensor([[-1.0]])
    B = torch.ones(1, 1, 2)
    C = torch.ones(1, 1, 2)
    y = selective_scan_reference(u, delta, A, B, C)
    assert torch.allclose(y, torch.tensor([[[2.0, 2.0 * math.exp(-1) + 3.0]]]))
    # D adds D*u; z gates by silu(z); delta_bias shifts delta before softplus.
    D, z, bias = torch.tensor([0.5]), torch.full((1, 1, 2), 2.0), torch.tensor([0.3])
    y_full = selective_scan_reference(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True)
    step = F.softplus(torch.tensor(1.3)).item()
    h1 = step * 2.0
    h2 = math.exp(-step) * h1 + step * 3.0
    expected = (torch.tensor([h1, h2]) + 0.5 * torch.tensor([2.0, 3.0])) * F.silu(torch.tensor(2.0))
    assert torch.allclose(y_full[0, 0], expected, atol=1e-6)


@pytest.mark.parametrize("backend", EXACT_BACKENDS)
@pytest.mark.parametrize("length", [1, 2, 7, 49, 64])
def test_backend_matches_reference_values_and_gradients(backend, length):
    inputs = _inputs(length=length)
    cuda = backend == "mamba_ssm" or (backend == "triton" and torch.cuda.is_available())  # compiled kernels
    expected_y, expected_grads = _run(selective_scan_reference, inputs)
    y, grads = _run(get_scan(backend), inputs, cuda=cuda)
    assert (y - expected_y).abs().max() <= 1e-4
    for name, grad, expected in zip(("u", "delta", "A", "B", "C", "D", "z", "delta_bias"), grads, expected_grads):
        assert (grad - expected).abs().max() <= 1e-4 * max(1.0, expected.abs().max().item()), name


def test_mamba_ssm_backend_reported_only_when_importable():
    if scan._mamba_ssm_fn() is None:
        assert "mamba_ssm" not in available_backends()
        with pytest.raises(RuntimeError, match="mamba-ssm"):
            get_scan("mamba_ssm")(*_inputs()[:5])
    else:  # pragma: no cover - CUDA machines with mamba_ssm only
        assert "mamba_ssm" in available_backends()


@pytest.mark.parametrize("backend", ["reference", "parallel"])
def test_return_last_state_and_dtype(backend):
    u, delta, A, B, C, D, z, bias = (t.detach() for t in _inputs(length=9))
    y, last = get_scan(backend)(
        u.double(), delta, A, B, C, D, delta_bias=bias, delta_softplus=True, return_last_state=True
    )
    assert y.dtype == torch.float64 and y.shape == u.shape
    assert last.shape == (2, 5, 3)
    _, reference_last = selective_scan_reference(
        u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True, return_last_state=True
    )
    assert torch.allclose(last, reference_last, atol=1e-5)


def test_auto_uses_the_reference_loop_on_cpu():
    inputs = [t.detach() for t in _inputs(length=12)]
    assert torch.equal(get_scan("auto")(*inputs[:6], z=inputs[6]), selective_scan_reference(*inputs[:6], z=inputs[6]))


def test_none_backend_is_not_a_scan():
    inputs = [t.detach() for t in _inputs(length=12)]
    assert not torch.allclose(get_scan("none")(*inputs[:6]), selective_scan_reference(*inputs[:6]))


def test_unknown_backend_lists_valid_names():
    with pytest.raises(KeyError) as error:
        get_scan("fast")
    assert all(name in str(error.value) for name in SCAN_BACKENDS)
