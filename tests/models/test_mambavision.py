import enum
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from engine.errors import ModelError
from engine.models import scan
from engine.models.mambavision import (
    MambaVisionMixer,
    build_mambavision,
    mambavision_config,
    stage_windows,
)

# The official parameter list kept in the repository (tests/data/reference, see its README.md).
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"
OFFICIAL_PACKAGES = ("mambavision==1.2.0", "timm==1.0.15")  # timm 1.0.15 is the wheel's own pin
STAGE_HOOK_NAMES = ("stride 4", "stride 8", "stride 16", "stride 32")


def _official_keys(variant):
    rows = [
        line.rstrip("\n").split("\t")
        for line in (REFERENCE_DIR / "mambavision_state_dict_keys.tsv").open()
        if not line.startswith("#")
    ]
    wanted = f"mamba_vision_{variant}"
    return [(key, shape) for name, key, shape in rows if name == wanted and not key.startswith("head.")]


def _our_keys(module):
    return [(key, "x".join(str(s) for s in tensor.shape) or "scalar") for key, tensor in module.state_dict().items()]


def _random_state(module, seed=1):
    """Random values for every float tensor (BN statistics too), so no path is hidden by zeros or ones."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in module.state_dict().items():
        if not tensor.dtype.is_floating_point:
            state[key] = tensor
        elif key.endswith("running_var"):
            state[key] = torch.rand(tensor.shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.1
    return state


@pytest.mark.parametrize("variant", ["T", "T2", "S", "B"])
def test_parameter_names_and_shapes_equal_the_official_classifier(variant):
    encoder = build_mambavision(variant, in_chans=3)
    assert _our_keys(encoder) == _official_keys(variant)


def test_t_parameter_count_matches_official_readme():
    encoder = build_mambavision("T", in_chans=3)
    head = 640 * 1000 + 1000
    assert sum(p.numel() for p in encoder.parameters()) + head == 31_794_248  # 31.8M in the official README


@pytest.mark.parametrize("variant", ["T", "XS"])  # every variant runs inside SAROSS-Net in test_saross_net.py
@pytest.mark.parametrize("size", [(256, 256), (300, 200)])
def test_encoder_gives_declared_multiscale_features(variant, size):
    encoder = build_mambavision(variant, scan_backend="reference").eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 1, *size))
    assert len(features) == len(encoder.feature_info) == 4
    for feature, info in zip(features, encoder.feature_info):
        reduction = info["reduction"]
        expected = (1, info["num_chs"], -(-size[0] // reduction), -(-size[1] // reduction))
        assert tuple(feature.shape) == expected
        assert torch.isfinite(feature).all()
    assert [info["num_chs"] for info in encoder.feature_info] == list(encoder.out_channels)


def test_windows_are_global_and_derived_from_the_input_size():
    config = mambavision_config("T")
    assert stage_windows(config, 256, 256) == [None, None, (16, 16), (8, 8)]  # the [8, 8, 16, 8] of the notes
    assert stage_windows(config, 300, 200) == [None, None, (19, 13), (10, 7)]
    official = mambavision_config("T", window_size=(8, 8, 14, 7))
    assert stage_windows(official, 256, 256) == [None, None, (14, 14), (7, 7)]


def test_mixer_applies_dt_bias_twice_and_scans_only_the_x_half(monkeypatch):
    captured = {}

    def capture(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, **kwargs):
        captured.update(u=u, delta=delta, z=z, delta_bias=delta_bias, softplus=delta_softplus)
        return scan.selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus)

    monkeypatch.setitem(scan.SCAN_BACKENDS, "capture", capture)
    mixer = MambaVisionMixer(32, scan_backend="capture")
    with torch.no_grad():
        mixer.dt_proj.bias.fill_(0.7)
        tokens = torch.randn(2, 10, 32)
        mixer(tokens)
        x = torch.nn.functional.silu(mixer.conv1d_x(mixer.in_proj(tokens).transpose(1, 2)[:, :16]))
        dt = mixer.x_proj(x.transpose(1, 2))[..., : mixer.dt_rank]
        with_bias_once = mixer.dt_proj(dt).transpose(1, 2)
    assert captured["z"] is None and captured["softplus"]
    assert captured["u"].shape == (2, 16, 10)  # only the x half (d/2 channels) is scanned
    assert torch.allclose(captured["delta"], with_bias_once)  # dt_proj already added the bias once...
    assert torch.equal(captured["delta_bias"], mixer.dt_proj.bias)  # ...and the scan adds it again
    assert mixer.conv1d_x.bias is None and mixer.conv1d_z.bias is None
    assert mixer.conv1d_x.padding == "same"


def test_official_checkpoint_loads_strictly_minus_head_into_a_sar_encoder(tmp_path):
    official = build_mambavision("T", in_chans=3)
    state = _random_state(official)
    state_with_head = {f"module.{k}": v for k, v in state.items()}
    state_with_head.update({"module.head.weight": torch.zeros(1000, 640), "module.head.bias": torch.zeros(1000)})
    checkpoint = tmp_path / "mambavision_tiny_1k.pth.tar"
    torch.save({"state_dict": state_with_head, "epoch": 300}, checkpoint)
    sar = build_mambavision("T", in_chans=1)
    sar.load_checkpoint(checkpoint)
    stem = state["patch_embed.conv_down.0.weight"]
    assert torch.allclose(sar.patch_embed.conv_down[0].weight, stem.sum(dim=1, keepdim=True))
    official.load_state_dict(state)
    official.eval(), sar.eval()
    grey = torch.randn(1, 1, 64, 64)
    with torch.no_grad():  # a grey RGB image through the RGB stem equals the band through the summed stem
        for rgb_map, sar_map in zip(official(grey.repeat(1, 3, 1, 1)), sar(grey)):
            assert torch.allclose(rgb_map, sar_map, atol=1e-4)


def test_checkpoint_of_another_variant_or_with_code_is_refused(tmp_path):
    wrong = tmp_path / "small.pth"
    torch.save({"model": build_mambavision("XS", in_chans=3).state_dict()}, wrong)
    with pytest.raises(ModelError, match="does not fit"):
        build_mambavision("T").load_checkpoint(wrong)
    pickled = tmp_path / "evil.pth"
    torch.save({"model": types.SimpleNamespace(x=1)}, pickled)  # not weights-only: must not be unpickled
    with pytest.raises(ModelError, match="weights-only"):
        build_mambavision("T").load_checkpoint(pickled)
    with pytest.raises(ModelError, match="not found"):
        build_mambavision("T").load_checkpoint(tmp_path / "missing.pth")


# --- Equivalence with the official package (mambavision 1.2.0) -------------------------------------


def _torchvision_stand_in():
    """The names timm 1.0.15 touches from torchvision while being imported, and nothing else.

    Found by tracing ``import timm`` and ``import mambavision``: ``ops.misc.FrozenBatchNorm2d``,
    ``transforms.ToTensor`` (subclassed), ``transforms.functional.InterpolationMode`` (enum members
    read at import), ten ``datasets`` classes and two ``models.feature_extraction`` functions. Building
    and running a MambaVision model calls none of them, so they refuse to be used.
    """

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision is a test stand-in here")

    def unavailable(*args, **kwargs):
        raise RuntimeError("torchvision is a test stand-in here")

    def module(name, **attributes):
        new = types.ModuleType(name)
        new.__path__ = []
        new.__dict__.update(attributes)
        return new

    functional = module(
        "torchvision.transforms.functional",
        InterpolationMode=enum.Enum(
            "InterpolationMode",
            [(n, n.lower()) for n in ("NEAREST", "BILINEAR", "BICUBIC", "BOX", "HAMMING", "LANCZOS")],
        ),
    )
    transforms = module("torchvision.transforms", ToTensor=Unavailable, functional=functional)
    misc = module("torchvision.ops.misc", FrozenBatchNorm2d=Unavailable)
    ops = module("torchvision.ops", misc=misc)
    datasets = module(
        "torchvision.datasets",
        **{
            n: Unavailable
            for n in (
                "CIFAR10",
                "CIFAR100",
                "MNIST",
                "KMNIST",
                "FashionMNIST",
                "ImageFolder",
                "Places365",
                "INaturalist",
                "QMNIST",
                "ImageNet",
            )
        },
    )
    feature_extraction = module(
        "torchvision.models.feature_extraction", create_feature_extractor=unavailable, get_graph_node_names=unavailable
    )
    models = module("torchvision.models", feature_extraction=feature_extraction)
    root = module(
        "torchvision", transforms=transforms, ops=ops, datasets=datasets, models=models, __version__="0.0-stand-in"
    )
    return {m.__name__: m for m in (root, transforms, functional, ops, misc, datasets, models, feature_extraction)}


def _mamba_ssm_stand_in():
    """``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` served by our reference scan."""
    names = ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface")
    modules = {name: types.ModuleType(name) for name in names}
    modules["mamba_ssm.ops.selective_scan_interface"].selective_scan_fn = scan.selective_scan_reference
    return modules


def _install_official(target):
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        *OFFICIAL_PACKAGES,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{type(error).__name__}: {error}"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["pip failed"])[-1]
    return None


@pytest.fixture(scope="module")
def official_mamba_vision(request, tmp_path_factory):
    """The official ``mambavision.models.mamba_vision`` module, installed --no-deps into the pytest cache.

    torchvision cannot be imported beside this torch build and mamba_ssm needs CUDA, so both are
    replaced, only for this import, by the stand-ins above; everything imported here is removed again.
    """
    cache = getattr(request.config, "cache", None)
    target = Path(cache.mkdir("official-mambavision-1.2.0")) if cache else tmp_path_factory.mktemp("official")
    if not (target / "mambavision" / "models" / "mamba_vision.py").is_file():
        problem = _install_official(target)
        if problem:
            pytest.skip(f"cannot install {' '.join(OFFICIAL_PACKAGES)} from PyPI ({problem})")
    prefixes = ("torchvision", "timm", "mambavision", "mamba_ssm")
    stand_ins = {**_torchvision_stand_in(), **_mamba_ssm_stand_in()}
    saved = {name: module for name, module in sys.modules.items() if name.startswith(prefixes)}
    sys.modules.update(stand_ins)
    sys.path.insert(0, str(target))
    try:
        yield importlib.import_module("mambavision.models.mamba_vision")
    finally:
        sys.path.remove(str(target))
        for name in [name for name in sys.modules if name.startswith(prefixes)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _stage_maps(model, x):
    """The four stage maps before each downsample (the last stage has none), via forward hooks."""
    maps = {}
    hooks = []
    for index, level in enumerate(model.levels):
        if level.downsample is not None:
            hooks.append(
                level.downsample.register_forward_pre_hook(
                    lambda module, args, index=index: maps.__setitem__(index, args[0])
                )
            )
        else:
            hooks.append(
                level.register_forward_hook(lambda module, args, output, index=index: maps.__setitem__(index, output))
            )
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return [maps[i] for i in range(4)]


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")  # timm's own import warnings
@pytest.mark.parametrize(
    ("size", "window_size"),
    [
        ((96, 64), (8, 8, 4, 2)),  # stage 3: 6×4 padded to 8×4, 2 windows; stage 4: 3×2 padded to 4×2, 2 windows
        ((128, 128), None),  # ours derives global windows (8×8, 4×4); the official model gets them explicitly
    ],
)
def test_stage_maps_equal_the_official_implementation(official_mamba_vision, size, window_size):
    official_windows = window_size or (8, 8, -(-size[0] // 16), -(-size[0] // 32))
    official = official_mamba_vision.mamba_vision_T(window_size=list(official_windows)).eval()
    ours = build_mambavision("T", in_chans=3, window_size=window_size, scan_backend="reference").eval()
    state = _random_state(ours, seed=3)
    ours.load_state_dict(state)
    result = official.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["head.bias", "head.weight"] and not result.unexpected_keys
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4))
    for name, theirs, mine in zip(STAGE_HOOK_NAMES, _stage_maps(official, x), _stage_maps(ours, x)):
        assert theirs.shape == mine.shape, name
        assert (theirs - mine).abs().max() <= 1e-4, name
