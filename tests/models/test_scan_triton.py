"""The fused Triton scan (engine/models/scan_triton.py) against the sequential reference.

Without a GPU the kernels run through Triton's CPU interpreter. ``TRITON_INTERPRET=1`` must be set before
triton is imported and must not leak into the other tests, so the comparisons run in one subprocess
(this file executed as a script), which prints the errors as JSON; the tests here check them. Then the
kernels are compiled for an H100 (sm_90) without running them, which needs no GPU. The CUDA tests at the
end run the compiled kernels and are skipped without a GPU.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # relative to max(1, the largest reference value), as in test_scan.py
HALF_TOLERANCE = 2e-2  # bfloat16/float16 outputs and gradients: a couple of rounding steps of an 8-bit mantissa
GRAD_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

needs_triton = pytest.mark.skipif(
    importlib.util.find_spec("triton") is None,
    reason="triton is not installed (pip install triton); the triton scan is untested",
)

# name -> options of _compare: sizes, which optional inputs, dtypes, layout, forced block sizes.
CASES = {
    "l1": {"length": 1},
    "l2": {"length": 2},
    "l7": {"length": 7},
    "l16": {"length": 16},
    "l37": {"length": 37},
    "l100_two_chunks": {"length": 100, "channels": 3, "state": 2},
    "plain_no_options": {"length": 13, "use_d": False, "use_z": False, "use_bias": False, "softplus": False},
    "d_and_bias_without_softplus": {"length": 11, "use_z": False, "softplus": False},
    "z_without_d": {"length": 10, "use_d": False},
    "small_blocks_carries_and_masks": {"length": 13, "channels": 5, "blocks": (2, 4, 4)},
    "state16": {"length": 20, "channels": 3, "state": 16},
    "non_contiguous": {"length": 9, "non_contiguous": True},
    "bf16_like_autocast": {"length": 12, "half": torch.bfloat16},
    "fp16_like_autocast": {"length": 12, "half": torch.float16},
    "float64_u": {"length": 6, "double_u": True},
}


def _inputs(batch, channels, state, length, half=None, non_contiguous=False, double_u=False, seed=0):
    """Leaf tensors u, delta, A, B, C, D, z, delta_bias; ``half`` makes the activations half precision."""
    generator = torch.Generator().manual_seed(seed)

    def activation(*shape):
        if non_contiguous:  # (b, l, x) storage seen as (b, x, l), as a transposed projection would be
            tensor = torch.randn(shape[0], shape[2], shape[1], generator=generator).transpose(1, 2)
        else:
            tensor = torch.randn(*shape, generator=generator)
        if half is not None:
            tensor = tensor.to(half)
        return tensor.requires_grad_()

    u, delta, z = (activation(batch, channels, length) for _ in range(3))
    if double_u:
        u = u.detach().double().requires_grad_()
    A = (-torch.rand(channels, state, generator=generator) * 2 - 0.1).requires_grad_()
    B, C = activation(batch, state, length), activation(batch, state, length)
    D = torch.randn(channels, generator=generator).requires_grad_()
    bias = torch.randn(channels, generator=generator).requires_grad_()
    return u, delta, A, B, C, D, z, bias


def _run(scan, inputs, use_d, use_z, use_bias, softplus, **options):
    """Output, last state and the gradients of a weighted loss on both (None for unused inputs)."""
    u, delta, A, B, C, D, z, bias = inputs
    y, last = scan(
        u,
        delta,
        A,
        B,
        C,
        D if use_d else None,
        z=z if use_z else None,
        delta_bias=bias if use_bias else None,
        delta_softplus=softplus,
        return_last_state=True,
        **options,
    )
    weights = torch.cos(torch.arange(y.numel(), dtype=torch.float32, device=y.device)).view_as(y)
    last_weights = torch.linspace(-1.0, 2.0, last.numel(), device=y.device).view_as(last)
    loss = (y.float() * weights).sum() + (last * last_weights).sum()
    used = [True, True, True, True, True, use_d, use_z, use_bias]
    wanted = [t for t, keep in zip(inputs, used) if keep]
    grads = iter(torch.autograd.grad(loss, wanted))
    return y, last, [next(grads) if keep else None for keep in used]


def _error(actual, expected):
    return ((actual.double() - expected.double()).abs().max() / max(1.0, expected.double().abs().max().item())).item()


def _compare(
    length,
    channels=5,
    state=3,
    batch=2,
    use_d=True,
    use_z=True,
    use_bias=True,
    softplus=True,
    half=None,
    non_contiguous=False,
    double_u=False,
    blocks=None,
):
    """Errors of the triton backend against the reference, plus dtype checks, for one case."""
    from engine.models.scan import get_scan, selective_scan_reference

    inputs = _inputs(batch, channels, state, length, half, non_contiguous, double_u)
    flags = {"use_d": use_d, "use_z": use_z, "use_bias": use_bias, "softplus": softplus}
    y_ref, last_ref, grads_ref = _run(selective_scan_reference, inputs, **flags)
    options = {"blocks": blocks} if blocks else {}
    y, last, grads = _run(get_scan("triton"), inputs, **flags, **options)
    errors = {"y": _error(y, y_ref), "last_state": _error(last, last_ref)}
    dtypes_match = y.dtype == y_ref.dtype == inputs[0].dtype and last.dtype == last_ref.dtype
    for name, grad, grad_ref, leaf in zip(GRAD_NAMES, grads, grads_ref, inputs):
        if grad_ref is not None:
            errors[f"grad_{name}"] = _error(grad, grad_ref)
            dtypes_match = dtypes_match and grad.dtype == grad_ref.dtype == leaf.dtype
    return {"errors": errors, "dtypes_match": dtypes_match}


def _compare_model():
    """SAROSS-Net-XS on a 64² tile, triton scan against reference scan: logits, parameter gradients, bf16 autocast."""
    from engine.models import create_model

    torch.manual_seed(0)
    model = create_model("saross_net_xs", encoder_options={"scan_backend": "reference"}).eval()
    tile = torch.randn(1, 1, 64, 64)

    def logits_and_grads(backend):
        model.set_scan_backend(backend)
        model.zero_grad()
        logits = model(tile)
        (logits * torch.cos(torch.arange(logits.numel(), dtype=torch.float32)).view_as(logits)).sum().backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            autocast_logits = model(tile)
        return logits.detach(), grads, autocast_logits

    expected, expected_grads, expected_bf16 = logits_and_grads("reference")
    actual, grads, actual_bf16 = logits_and_grads("triton")
    mixer_grads = [name for name in expected_grads if ".mixer." in name]
    errors = {
        "logits": _error(actual, expected),
        "parameter_grads": max(_error(grads[name], expected_grads[name]) for name in expected_grads),
        "bf16_autocast_logits": _error(actual_bf16, expected_bf16),
    }
    dtypes_match = actual.dtype == expected.dtype and actual_bf16.dtype == expected_bf16.dtype
    return {"errors": errors, "dtypes_match": dtypes_match, "mixer_parameters_with_grads": len(mixer_grads)}


def main():
    """Subprocess entry: run every case through the interpreter and print the results as one JSON line."""
    from engine.models import scan

    if not scan._triton_module().INTERPRETED:
        raise SystemExit("TRITON_INTERPRET=1 must be set before triton is imported")
    results = {name: _compare(**case) for name, case in CASES.items()}
    results["saross_net_xs"] = _compare_model()
    results["available_backends"] = scan.available_backends()
    print(json.dumps(results))


@pytest.fixture(scope="module")
def interpreted():
    """Results of running this file under TRITON_INTERPRET=1 in a subprocess (the variable stays there)."""
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": python_path}
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@needs_triton
@pytest.mark.parametrize("case", list(CASES))
def test_interpreted_triton_scan_matches_reference(interpreted, case):
    result = interpreted[case]
    tolerance = HALF_TOLERANCE if CASES[case].get("half") else TOLERANCE
    assert result["dtypes_match"]
    expected_keys = {"y", "last_state", "grad_u", "grad_delta", "grad_A", "grad_B", "grad_C"}
    assert expected_keys <= set(result["errors"])
    bad = {name: error for name, error in result["errors"].items() if not error <= tolerance}
    assert not bad, f"errors above {tolerance}: {bad}"


@needs_triton
def test_interpreted_triton_scan_in_saross_net_xs(interpreted):
    result = interpreted["saross_net_xs"]
    assert result["dtypes_match"]
    assert result["mixer_parameters_with_grads"] > 0  # the scan is on the gradient path of the mixers
    assert result["errors"]["logits"] <= TOLERANCE
    assert result["errors"]["parameter_grads"] <= TOLERANCE
    assert result["errors"]["bf16_autocast_logits"] <= HALF_TOLERANCE
    assert "triton" in interpreted["available_backends"]


@needs_triton
@pytest.mark.skipif(
    torch.cuda.is_available() or bool(os.environ.get("TRITON_INTERPRET")),
    reason="checks the CPU-only behaviour without the interpreter",
)
def test_triton_backend_refuses_cpu_tensors_without_interpreter():
    from engine.models.scan import available_backends, get_scan

    assert "triton" not in available_backends()
    u, delta, A, B, C, D, z, bias = (t.detach() for t in _inputs(1, 2, 2, 3))
    with pytest.raises(RuntimeError, match="CUDA"):
        get_scan("triton")(u, delta, A, B, C)
    assert torch.equal(get_scan("auto")(u, delta, A, B, C), get_scan("reference")(u, delta, A, B, C))


# Pointer arguments that hold activations (u's dtype family); the rest (A, D, bias, states, partial sums) are fp32.
ACTIVATION_POINTERS = {
    "u_ptr",
    "delta_ptr",
    "B_ptr",
    "C_ptr",
    "z_ptr",
    "y_ptr",
    "grad_y_ptr",
    "grad_u_ptr",
    "grad_delta_ptr",
    "grad_z_ptr",
}
INT_ARGUMENTS = {"dim", "seqlen", "dstate", "n_chunks", "n_channel_blocks"}


@needs_triton
@pytest.mark.skipif(bool(os.environ.get("TRITON_INTERPRET")), reason="compiles the kernels, not interpreted")
@pytest.mark.parametrize("kernel", ["_scan_forward_kernel", "_scan_backward_kernel"])
@pytest.mark.parametrize(
    ("activation_type", "shape", "with_options"),
    [
        ("*bf16", (160, 256, 8), True),  # MambaVision-T stage 3 under bf16 autocast
        ("*fp32", (5, 7, 3), False),  # no D, z, bias or softplus
    ],
)
def test_kernels_compile_for_an_h100_without_a_gpu(kernel, activation_type, shape, with_options, tmp_path, monkeypatch):
    # The interpreter runs the kernels as numpy code and misses what only the compiler rejects (types of loop-carried
    # values, layouts of the 3-D scans). Triton compiles to a cubin for sm_90 with its bundled ptxas, no GPU needed.
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from engine.models import scan_triton

    function = getattr(scan_triton, kernel)
    block_d, block_n, block_l = scan_triton.block_sizes(*shape)
    constexprs = {
        "HAS_D": with_options,
        "HAS_Z": with_options,
        "HAS_BIAS": with_options,
        "SOFTPLUS": with_options,
        "BLOCK_D": block_d,
        "BLOCK_N": block_n,
        "BLOCK_L": block_l,
    }
    if kernel == "_scan_backward_kernel":
        constexprs.update(HAS_GRAD_Y=True, HAS_GRAD_LAST=not with_options)
    else:
        constexprs.update(SAVE_CHUNK_STATES=with_options)
    signature = {
        name: "constexpr"
        if name in constexprs
        else "i32"
        if name in INT_ARGUMENTS
        else activation_type
        if name in ACTIVATION_POINTERS
        else "*fp32"
        for name in function.arg_names
    }
    compiled = triton.compile(
        ASTSource(fn=function, signature=signature, constexprs=constexprs),
        target=GPUTarget("cuda", 90, 32),
        options={"num_warps": scan_triton.NUM_WARPS},
    )
    assert len(compiled.asm["cubin"]) > 0


@needs_triton
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (compiled Triton kernels)")
@pytest.mark.parametrize(
    ("batch", "channels", "state", "length", "half"),
    [
        (3, 71, 16, 300, None),  # 5 chunks, a partial last chunk and a partial channel block (BLOCK_D = 2)
        (64, 40, 8, 64, None),  # many sequences (accelerated-scan's out-of-bounds read showed at batch >= 24)
        (4, 160, 8, 256, torch.bfloat16),  # MambaVision-T stage 3 under bf16 autocast
    ],
)
def test_compiled_triton_scan_matches_reference_on_cuda(batch, channels, state, length, half):
    from engine.models.scan import get_scan, selective_scan_reference

    inputs = [t.detach().cuda().requires_grad_() for t in _inputs(batch, channels, state, length, half)]
    flags = {"use_d": True, "use_z": True, "use_bias": True, "softplus": True}

    def run(scan):
        y, last, grads = _run(scan, inputs, **flags)
        return [y, last, *grads]

    tolerance = HALF_TOLERANCE if half else TOLERANCE
    for name, actual, expected in zip(
        ("y", "last_state", *GRAD_NAMES), run(get_scan("triton")), run(selective_scan_reference)
    ):
        assert actual.dtype == expected.dtype, name
        assert _error(actual, expected) <= tolerance, name


if __name__ == "__main__":
    main()
