"""ONNX export and the ONNX Runtime / OpenVINO backends (issue 14): equivalence with torch fp32, choice, pipeline.

The equivalence tests run the bundled default model through every installed backend on the sample scene and
on a simulated scene: the class raster must agree with torch fp32 on at least 99.9 % of valid pixels, and the
polygons of each class must lie within one pixel of torch's. Backends that are not installed skip, saying so.
"""

import importlib.util
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.cli import main
from engine.detect import DetectParams, run_detection
from engine.detectors import DEFAULT_MODEL_CARD
from engine.errors import Cancelled, DakdError
from engine.progress import Progress
from engine.runtimes import (
    BF16_SAMPLE_AGREEMENT,
    CPU_PREFERENCE,
    CUT_TENSORS,
    EXPORT_FORMAT,
    choose_backend,
    export_onnx,
    find_onnx,
    installed_backends,
    onnx_path_for,
    openvino_cache_dir,
    prune_cache,
    read_onnx_metadata,
)
from engine.tiling import prefetch_batches

from .conftest import can_mount_tmpfs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "sample" / "sample_scene.tif"
HAS = {name: importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime", "openvino")}
needs_onnx = pytest.mark.skipif(not HAS["onnx"], reason="the onnx package is not installed (pip install onnx)")
BACKENDS = [
    pytest.param(
        "onnxruntime", None, marks=pytest.mark.skipif(not HAS["onnxruntime"], reason="onnxruntime is not installed")
    ),
    pytest.param("openvino", None, marks=pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")),
]
#: Agreement of the class raster with torch fp32, and polygon distance in pixels (issue 14).
MIN_AGREEMENT = 0.999
MAX_POLYGON_PX = 1.0


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """A copy of the bundled default card with its ONNX export next to it."""
    folder = tmp_path_factory.mktemp("card")
    if not DEFAULT_MODEL_CARD.is_file():
        pytest.skip("no bundled default model")
    for suffix in (".json", ".safetensors"):
        shutil.copy(DEFAULT_MODEL_CARD.with_suffix(suffix), folder / f"default{suffix}")
    if HAS["onnx"]:
        export_onnx(folder / "default.json")
    return folder / "default.json"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simulated")
    assert (
        main(
            [
                "--progress",
                "none",
                "simulate",
                "--size",
                "768",
                "640",
                "--seed",
                "7",
                "--spills",
                "2",
                "--ships",
                "3",
                "--out",
                str(folder),
                "--name",
                "sim",
                "--no-quicklook",
            ]
        )
        == 0
    )
    return folder / "sim_scene.tif"


_torch_runs: dict = {}


def _detect(scene, card, out, backend, precision=None):
    options = {"backend": backend} if backend else {}
    if precision:
        options["precision"] = precision
    return run_detection(
        DetectParams(str(scene), str(out), method="model", model_path=str(card), device="cpu", detector_options=options)
    )


def _torch_run(scene, card, tmp_path_factory):
    if scene not in _torch_runs:
        _torch_runs[scene] = _detect(scene, card, tmp_path_factory.mktemp("torch") / "out", "torch", "fp32")
    return _torch_runs[scene]


def _classes(result):
    with rasterio.open(result.classes_path) as dataset:
        return dataset.read(1)


def _polygons(result):
    import fiona
    from shapely.geometry import shape
    from shapely.ops import unary_union

    by_class: dict = {}
    with fiona.open(result.spills_path) as layer:
        for feature in layer:
            by_class.setdefault(feature["properties"]["class"], []).append(shape(feature["geometry"]))
    return {name: unary_union(shapes) for name, shapes in by_class.items()}


@needs_onnx
def test_export_has_dynamic_batch_and_the_card(card):
    path = onnx_path_for(card)
    assert path == card.with_suffix(".onnx") and path.is_file()
    metadata = read_onnx_metadata(path)
    data = json.loads(card.read_text())
    assert json.loads(metadata["dakd_card"])["name"] == data["name"]
    assert metadata["dakd_weights_sha256"] == data["weights"]["sha256"]
    assert json.loads(metadata["class_names"]) == {str(c["id"]): c["name"] for c in data["classes"]}
    assert json.loads(metadata["tile_size"]) == data["input"]["tile_size"]
    assert metadata["dakd_export_format"] == EXPORT_FORMAT
    assert json.loads(metadata["dakd_cut_tensors"]) == [name for name, _, _ in CUT_TENSORS]
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    readers = {name: [n.name for n in graph.node if name in n.input] for name, _, _ in CUT_TENSORS}
    assert readers["channels"] and all(r.startswith("/encoder/") for r in readers["channels"])
    assert readers["features"] and all(r.startswith("/head/") for r in readers["features"])
    assert find_onnx(card, export=False)[0] == path
    if HAS["onnxruntime"]:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["x", "valid"]
        assert session.get_inputs()[0].shape[0] == "batch"
        tile = data["input"]["tile_size"]
        for batch in (1, 3):
            x = np.zeros((batch, 1, tile, tile), np.float32)
            logits = session.run(None, {"x": x, "valid": np.ones_like(x, dtype=bool)})[0]
            assert logits.shape == (batch, len(data["classes"]), tile, tile)


@needs_onnx
def test_the_default_export_and_the_cache_are_refreshed_over_stale_files(card, tmp_path, monkeypatch, capsys):
    """A dakd export as ``CARD.onnx`` and the export cache are the engine's to refresh; any other file is not."""
    import onnx

    for suffix in (".json", ".safetensors"):
        shutil.copy(card.with_suffix(suffix), tmp_path / f"m{suffix}")
    copy, beside = tmp_path / "m.json", tmp_path / "m.onnx"
    proto = onnx.load(str(card.with_suffix(".onnx")))  # an earlier export, from other weights
    for entry in proto.metadata_props:
        if entry.key == "dakd_weights_sha256":
            entry.value = "0" * 64
    onnx.save(proto, str(beside))
    assert main(["--progress", "none", "model", "export", str(copy), "--onnx"]) == 0
    assert "wrote" in capsys.readouterr().out and find_onnx(copy, export=False)[0] == beside
    mine = onnx.helper.make_model(  # the analyst's own network, named like the card: not dakd's to replace
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])],
            "mine",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
    )
    onnx.save(mine, str(beside))
    kept = beside.read_bytes()
    assert main(["--progress", "none", "model", "export", str(copy), "--onnx"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [
        f"dakd: error: will not replace {beside}: dakd did not export it; pass --overwrite to replace it, "
        "or --out FILE to write the export elsewhere"
    ]
    assert beside.read_bytes() == kept and len(list(tmp_path.iterdir())) == 3  # kept, and no partial export
    assert main(["--progress", "none", "model", "export", str(copy), "--onnx", "--overwrite"]) == 0
    assert "wrote" in capsys.readouterr().out and find_onnx(copy, export=False)[0] == beside
    beside.unlink()
    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    stale = tmp_path / "cache" / "onnx" / f"{json.loads(copy.read_text())['weights']['sha256'][:32]}-256px.onnx"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    assert find_onnx(copy) == (stale, f"exported once into the cache ({stale})")
    assert read_onnx_metadata(stale)["dakd_weights_sha256"] == json.loads(copy.read_text())["weights"]["sha256"]
    assert find_onnx(copy) == (stale, f"the export cache ({stale})")
    proto = onnx.load(str(stale))  # an export of an older format (no cut tensors) in the cache is made again
    for entry in proto.metadata_props:
        if entry.key == "dakd_export_format":
            entry.value = "1"
    onnx.save(proto, str(stale))
    assert find_onnx(copy) == (stale, f"exported once into the cache ({stale})")
    assert read_onnx_metadata(stale)["dakd_export_format"] == EXPORT_FORMAT
    # the same weights with other tiles: an export fixes the tile size, so the first card's export does not fit
    data = json.loads(copy.read_text())
    data["input"]["tile_size"] = 128
    copy.write_text(json.dumps(data))
    other, _ = find_onnx(copy)
    assert other != stale and read_onnx_metadata(other)["tile_size"] == "128"


@needs_onnx
def test_a_damaged_card_onnx_is_named_as_damaged_not_as_an_export_of_other_weights(card, tmp_path, monkeypatch):
    """A ``CARD.onnx`` cut short (or not ONNX) was "exported from other weights or for other tiles": not what it is,
    and no hint how to replace it (``dakd model export`` keeps a file it cannot read as its own without
    ``--overwrite``). It is ignored with its own warning; the cache's export runs."""
    import onnx

    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    monkeypatch.setattr(logging.getLogger("dakd"), "handlers", [handler])  # only this test's, whatever ran before
    for suffix in (".json", ".safetensors"):
        shutil.copy(card.with_suffix(suffix), tmp_path / f"m{suffix}")
    copy, beside = tmp_path / "m.json", tmp_path / "m.onnx"
    cached = tmp_path / "cache" / "onnx" / f"{json.loads(copy.read_text())['weights']['sha256'][:32]}-256px.onnx"
    cached.parent.mkdir(parents=True)
    shutil.copy(onnx_path_for(card), cached)
    export = onnx_path_for(card).read_bytes()
    proto = onnx.load(str(onnx_path_for(card)))  # a readable export of other weights keeps its warning
    for entry in proto.metadata_props:
        if entry.key == "dakd_weights_sha256":
            entry.value = "0" * 64
    damaged = (
        f"{beside} is not a readable ONNX file (damaged, cut short or not ONNX); not using it (to export it again: "
        f"dakd model export {copy} --onnx --overwrite)"
    )
    for content, warning in [
        (export[: len(export) // 2], damaged),
        (b"not an onnx file", damaged),
        (
            proto.SerializeToString(),
            f"{beside} was exported from other weights or for other tiles than the card's; not using it",
        ),
    ]:
        beside.write_bytes(content)
        warnings.clear()
        assert find_onnx(copy, export=False) == (cached, f"the export cache ({cached})")
        assert warnings == [warning]
        assert beside.read_bytes() == content  # ignored, never replaced or removed


@needs_onnx
def test_loading_a_card_beside_a_damaged_card_onnx_warns_once(card, tmp_path, monkeypatch):
    """The backend choice (``has_onnx``) and the loader each looked for the export, and both said that
    ``CARD.onnx`` was damaged."""
    from engine.detectors import select_detector

    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    monkeypatch.setattr(logging.getLogger("dakd"), "handlers", [handler])
    for suffix in (".json", ".safetensors"):
        shutil.copy(card.with_suffix(suffix), tmp_path / f"m{suffix}")
    copy = tmp_path / "m.json"
    cached = tmp_path / "cache" / "onnx" / f"{json.loads(copy.read_text())['weights']['sha256'][:32]}-256px.onnx"
    cached.parent.mkdir(parents=True)
    shutil.copy(onnx_path_for(card), cached)
    (tmp_path / "m.onnx").write_bytes(b"not an onnx file")
    backend = next(name for name in ("onnxruntime", "openvino") if HAS[name])
    detector, _ = select_detector("model", str(copy), "cpu", ships="off", backend=backend)
    assert [w for w in warnings if "m.onnx" in w] == [
        f"{tmp_path / 'm.onnx'} is not a readable ONNX file (damaged, cut short or not ONNX); not using it "
        f"(to export it again: dakd model export {copy} --onnx --overwrite)"
    ]


@needs_onnx
@pytest.mark.slow
@pytest.mark.parametrize("backend, precision", BACKENDS)
@pytest.mark.parametrize("which", ["sample", "simulated"])
def test_backend_gives_torch_fp32_classes_and_polygons(
    which, backend, precision, card, simulated, tmp_path, tmp_path_factory
):
    scene = SAMPLE if which == "sample" else simulated
    reference = _torch_run(scene, card, tmp_path_factory)
    result = _detect(scene, card, tmp_path / "out", backend, precision)
    detector = result.summary["detector"]
    assert detector["backend"] == backend and detector["onnx"].endswith("default.onnx")
    expected, got = _classes(reference), _classes(result)
    valid = expected != 255
    assert np.array_equal(valid, got != 255)
    agreement = float((expected[valid] == got[valid]).mean())
    assert agreement >= MIN_AGREEMENT, f"{backend} {detector['precision']}: {agreement:.5%} of pixels agree"
    pixel_m = result.summary["input"]["pixel_size_m"][0]
    ours, theirs = _polygons(result), _polygons(reference)
    assert set(ours) == set(theirs)
    for name in ours:
        distance = ours[name].hausdorff_distance(theirs[name]) / pixel_m
        assert distance <= MAX_POLYGON_PX, f"{name}: polygons {distance:.1f} px apart"
    # auto is fp32 on both: OpenVINO's bf16 is asked for (test_openvino_bf16_runs_the_body_only_in_bf16)
    assert detector["precision"] == "fp32"


@pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")
def test_openvino_keeps_compiled_networks_in_the_cache_and_runs_without_one(card, tmp_path, monkeypatch):
    """Issue 14: compiling the model took about 3 s at every detection; the next run loads it from CACHE/openvino.

    A cache folder that cannot be written (here a file stands where it should be) only costs the compile time.
    """
    from engine.runtimes import _OpenVinoNet

    onnx_file = onnx_path_for(card)
    x = np.zeros((2, 1, 256, 256), np.float32)
    valid = np.ones_like(x, dtype=bool)
    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    assert _OpenVinoNet(onnx_file, "auto")(x, valid).shape == (2, 5, 256, 256)
    assert openvino_cache_dir() == tmp_path / "cache" / "openvino"
    assert list(openvino_cache_dir().glob("*.blob")), "nothing compiled into the cache"
    (tmp_path / "taken").write_text("a file, not a folder")
    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "taken"))
    assert openvino_cache_dir() is None
    assert _OpenVinoNet(onnx_file, "auto")(x, valid).shape == (2, 5, 256, 256)
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def _aged(path: Path, size: int, age_s: float) -> Path:
    path.write_bytes(b"\0" * size)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_the_cache_removes_its_least_recently_used_files_beyond_its_limit_and_nothing_else(tmp_path):
    """Each model is exported and compiled once (15-30 MB each) and the caches grew without end (issue 14)."""
    old, older = _aged(tmp_path / "b.blob", 400, 200), _aged(tmp_path / "a.blob", 400, 300)
    recent = _aged(tmp_path / "c.blob", 400, 100)
    theirs = _aged(tmp_path / "notes.txt", 10_000, 1_000)  # not the cache's kind of file
    assert prune_cache(tmp_path, ".blob", limit_bytes=900) == [older]
    assert recent.exists() and old.exists() and theirs.exists()
    assert prune_cache(tmp_path, ".blob", since=time.time() - 250, limit_bytes=10) == []  # both used this run
    assert prune_cache(tmp_path, ".blob", limit_bytes=10) == [recent, old]
    assert theirs.exists() and prune_cache(tmp_path / "missing", ".blob") == []


@pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")
def test_openvino_makes_room_in_its_cache_for_what_it_compiles(card, tmp_path, monkeypatch):
    from engine import runtimes

    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    stale = _aged(openvino_cache_dir() / "12345.blob", 1_000, 3_600)
    monkeypatch.setattr(runtimes, "CACHE_LIMIT_BYTES", 1)
    x = np.zeros((1, 1, 256, 256), np.float32)
    assert runtimes._OpenVinoNet(onnx_path_for(card), "auto")(x, np.ones_like(x, dtype=bool)).shape[1] == 5
    assert not stale.exists(), "a network compiled earlier was kept beyond the limit"
    assert list(openvino_cache_dir().glob("*.blob")), "the network this run compiled was removed"


@pytest.mark.skipif(not HAS["openvino"] or not HAS["onnxruntime"], reason="openvino or onnxruntime is missing")
def test_half_precision_is_refused_where_it_does_not_run(card, tmp_path):
    with pytest.raises(DakdError, match="precision fp16 applies to --backend torch only, not openvino"):
        _detect(SAMPLE, card, tmp_path / "out", "openvino", "fp16")
    with pytest.raises(DakdError, match="--precision bf16 runs with --backend openvino"):
        _detect(SAMPLE, card, tmp_path / "out", "onnxruntime", "bf16")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def card_without_weights(tmp_path):
    """The bundled default card's JSON alone: its weights are missing, so it can neither be exported nor loaded."""
    if not DEFAULT_MODEL_CARD.is_file():
        pytest.skip("no bundled default model")
    card = tmp_path / "models" / "lonely.json"
    card.parent.mkdir()
    card.write_text(DEFAULT_MODEL_CARD.read_text())
    return card


BOTH = pytest.mark.skipif(not HAS["openvino"] or not HAS["onnxruntime"], reason="openvino or onnxruntime is missing")
OPENVINO = pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")


@pytest.mark.parametrize(
    "backend, options, message",
    [
        pytest.param("onnxruntime", {"precision": "bf16"}, "--precision bf16 runs with --backend openvino", marks=BOTH),
        pytest.param("openvino", {"precision": "fp16"}, "precision fp16 applies to --backend torch", marks=OPENVINO),
        pytest.param("openvino", {"compile": True}, "compile applies to --backend torch only", marks=OPENVINO),
        pytest.param(
            "openvino",
            {"compile": True, "precision": "fp16"},
            "compile, precision fp16 apply to --backend torch only, not openvino",
            marks=OPENVINO,
        ),
        pytest.param("openvino", {"precision": "fp64"}, "--precision fp64 is not available with", marks=OPENVINO),
        pytest.param("openvino", {"batch_size": 0}, "--batch-size must be at least 1, got 0", marks=OPENVINO),
    ],
)
def test_onnx_backend_options_are_refused_before_the_scene_and_the_export(
    tmp_path, card_without_weights, backend, options, message
):
    """They were judged once the scene had opened; bf16 on ONNX Runtime, a precision or a batch size once the ONNX
    file was found, after an export where there was none (onnxruntime bf16 on the sample scene: 12.3 s, an export
    of 9.3 s, instead of 0.8 s). The scene and the card's weights are missing here: nothing else can be refused."""
    params = DetectParams(
        str(tmp_path / "nope.tif"),
        str(tmp_path / "out"),
        model_path=str(card_without_weights),
        detector_options={"backend": backend, **options},
    )
    with pytest.raises(DakdError, match=f"^{message}"):
        run_detection(params)
    assert not (tmp_path / "out").exists()


def test_a_backend_that_is_not_installed_is_refused_before_the_scene(tmp_path, card_without_weights, monkeypatch):
    monkeypatch.setattr("engine.runtimes.installed_backends", lambda: ["torch"])
    params = DetectParams(
        str(tmp_path / "nope.tif"),
        str(tmp_path / "out"),
        model_path=str(card_without_weights),
        detector_options={"backend": "openvino"},
    )
    with pytest.raises(DakdError, match="^--backend openvino is not installed"):
        run_detection(params)


@OPENVINO
def test_load_runtime_detector_judges_its_options_before_the_onnx_file(card_without_weights):
    """The card's weights are missing (no export can be found or made): the options are refused first."""
    from engine.runtimes import BackendChoice, load_runtime_detector

    choice = BackendChoice("openvino", "cpu", "--backend openvino was given")
    with pytest.raises(DakdError, match="^--precision fp64 is not available with --backend openvino"):
        load_runtime_detector(card_without_weights, choice, precision="fp64")
    with pytest.raises(DakdError, match="^--batch-size must be at least 1, got 0"):
        load_runtime_detector(card_without_weights, choice, batch_size=0)


def _bf16_units() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@needs_onnx
@pytest.mark.slow
@pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")
@pytest.mark.parametrize("which", ["sample", "simulated"])
def test_openvino_bf16_runs_the_body_only_in_bf16(which, card, simulated, tmp_path, tmp_path_factory):
    """``--precision bf16``: encoder and decoder in bf16, the input channels and the head in f32 (``CUT_TENSORS``).

    Over the whole graph bf16 agreed on 49-76 % of pixels; with the cuts, the sample scene agrees on 99.85 %
    (``BF16_SAMPLE_AGREEMENT``, below the 99.9 % a default needs, hence opt-in). On a CPU without bf16 units
    OpenVINO runs f32 and the summary says so.
    """
    scene = SAMPLE if which == "sample" else simulated
    reference = _torch_run(scene, card, tmp_path_factory)
    result = _detect(scene, card, tmp_path / "out", "openvino", "bf16")
    detector = result.summary["detector"]
    expected, got = _classes(reference), _classes(result)
    valid = expected != 255
    agreement = float((expected[valid] == got[valid]).mean())
    if not _bf16_units():
        assert detector["precision"] == "fp32" and "no bf16 units" in detector["precision_reason"]
        assert agreement >= MIN_AGREEMENT
        return
    assert detector["precision"] == "bf16" and "head in f32" in detector["precision_reason"]
    assert agreement >= BF16_SAMPLE_AGREEMENT - 0.0005, f"bf16: {agreement:.5%} of pixels agree"
    assert agreement < 1.0, "bf16 gave torch fp32's classes exactly: did it run in bf16?"


@needs_onnx
@pytest.mark.skipif(not HAS["openvino"], reason="openvino is not installed")
def test_bf16_needs_an_export_with_the_cut_tensors(card, tmp_path):
    """An export made before the cut tensors were named runs in fp32 as before and is refused bf16 in one line."""
    import onnx

    from engine.runtimes import _OpenVinoNet

    proto = onnx.load(str(onnx_path_for(card)))
    for node in proto.graph.node:
        for names in (node.input, node.output):
            for index, name in enumerate(names):
                if name == "channels":
                    names[index] = "/inputs/Concat_12_output_0"
    old = tmp_path / "old.onnx"
    onnx.save(proto, str(old))
    x = np.zeros((1, 1, 256, 256), np.float32)
    assert _OpenVinoNet(old, "auto")(x, np.ones_like(x, dtype=bool)).shape == (1, 5, 256, 256)
    with pytest.raises(DakdError, match="re-export it with 'dakd model export CARD --onnx'"):
        _OpenVinoNet(old, "bf16")


def test_auto_picks_the_fastest_installed_backend_and_says_why(monkeypatch):
    monkeypatch.setattr("engine.runtimes._cuda_available", lambda: False)
    for installed in (["torch", "onnxruntime", "openvino"], ["torch", "onnxruntime"], ["openvino"], ["torch"]):
        monkeypatch.setattr("engine.runtimes.installed_backends", lambda installed=installed: installed)
        choice = choose_backend("auto", "auto")
        assert choice.backend == next(n for n in CPU_PREFERENCE if n in installed) and choice.device == "cpu"
        assert choice.reason.startswith("auto: ") and "fastest installed" in choice.reason
    monkeypatch.setattr("engine.runtimes.installed_backends", lambda: ["torch", "onnxruntime", "openvino"])
    assert choose_backend("auto", "cuda").backend == "torch"
    assert choose_backend("auto", "cpu", torch_options=("compile",)).reason == "auto: compile applies to torch only"
    two = choose_backend("auto", "cpu", torch_options=("compile", "precision fp16"))
    assert two.backend == "torch" and two.reason == "auto: compile, precision fp16 apply to torch only"
    not_exported = choose_backend("auto", "cpu", exported=False)
    assert not_exported.backend == "torch" and "dakd model export" in not_exported.reason
    assert choose_backend("onnxruntime", "cpu").reason == "--backend onnxruntime was given"
    with pytest.raises(DakdError, match="runs on the CPU here"):
        choose_backend("openvino", "cuda")
    monkeypatch.setattr("engine.runtimes.installed_backends", lambda: ["torch"])
    with pytest.raises(DakdError, match="--backend openvino is not installed"):
        choose_backend("openvino", "cpu")
    monkeypatch.setattr("engine.runtimes.installed_backends", lambda: [])
    with pytest.raises(DakdError, match="no inference backend is installed"):
        choose_backend("auto", "cpu")


def test_installed_backends_lists_what_imports():
    assert set(installed_backends()) <= {"torch", "onnxruntime", "openvino"}
    assert "torch" in installed_backends()


@needs_onnx
@pytest.mark.parametrize(
    "backend",
    [b for b in ("onnxruntime", "openvino", "openvino:bf16") if HAS[b.split(":")[0]]]
    or [pytest.param("onnxruntime", marks=pytest.mark.skip(reason="no ONNX runtime installed"))],
)
def test_a_cancelled_run_leaves_nothing_whatever_the_backend(backend, card, tmp_path):
    """Cancelled mid-run, on any backend and precision (bf16 runs in three compiled parts), nothing is left."""
    backend, _, precision = backend.partition(":")
    checks = []

    def cancel():  # the 21st check cancels: some tiles have been through the network by then
        checks.append(1)
        return len(checks) > 20

    progress = Progress(cancel=cancel)
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        run_detection(
            DetectParams(
                str(SAMPLE),
                str(out),
                method="model",
                model_path=str(card),
                device="cpu",
                detector_options={"backend": backend, "precision": precision or None},
            ),
            progress,
        )
    assert not out.exists() and list(tmp_path.iterdir()) == []


@needs_onnx
def test_cli_export_and_detect_with_a_backend(card, tmp_path, capsys):
    target = tmp_path / "copy.onnx"
    assert main(["--progress", "none", "model", "export", str(card), "--onnx", "--out", str(target)]) == 0
    assert "dynamic batch" in capsys.readouterr().out and target.is_file()
    backend = next((b for b in ("openvino", "onnxruntime") if HAS[b]), None)
    if backend is None:
        pytest.skip("no ONNX runtime installed")
    out = tmp_path / "out"
    assert (
        main(
            ["--progress", "none", "detect", str(SAMPLE), "--model", str(card), "--backend", backend, "--out", str(out)]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["backend"] == backend
    assert summary["detector"]["backend_reason"] == f"--backend {backend} was given"
    stages = {k for k in summary["timings_s"] if k.startswith("detect_")}
    assert stages >= {"detect_read_s", "detect_network_s", "detect_stitch_s", "detect_write_s", "detect_wait_s"}


@needs_onnx
@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_an_export_onto_a_full_disk_names_the_disk_in_one_line_and_leaves_nothing(card, tmp_path):
    """The exporter's OSError ("No space left on device") was said as "cannot export to ONNX", blaming the model."""
    disk = tmp_path / "disk"
    disk.mkdir()
    target = disk / "models" / "default.onnx"  # models/ is made by the export, and removed with it
    export = shlex.join(
        [
            sys.executable,
            "-m",
            "engine",
            "--progress",
            "none",
            "model",
            "export",
            str(card),
            "--onnx",
            "--out",
            str(target),
        ]
    )
    script = f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(disk))} && {{ {export}; echo rc=$?; ls -A {disk}; }}"
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.stdout.split() == ["rc=2"], done.stderr[-2000:]  # and nothing left on the disk
    assert done.stderr.splitlines() == [
        f"dakd: error: the disk is full: writing {target} failed with 0 MB left in {disk}; free disk space or choose "
        "another --out"
    ]


@needs_onnx
@pytest.mark.skipif(not HAS["onnxruntime"] and not HAS["openvino"], reason="no ONNX runtime installed")
@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_an_export_cache_on_a_full_disk_is_named_as_the_cache_and_auto_runs_torch(card, tmp_path):
    """``auto`` exporting the default card into a cache on a full disk said "choose another --out": not the cache."""
    default = tmp_path / "models" / "default.json"  # the bundled default card, without an export beside it
    default.parent.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(card.with_suffix(suffix), default.with_suffix(suffix))
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    code = (
        "import sys, pathlib, engine.detectors\n"
        f"engine.detectors.DEFAULT_MODEL_CARD = pathlib.Path({str(default)!r})\n"
        "from engine.cli import main\n"
        f"sys.exit(main(['--progress', 'none', '-q', 'detect', {str(SAMPLE)!r}, '--out', {str(out)!r}]))"
    )
    detect = shlex.join([sys.executable, "-c", code])
    mount = f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(disk))}"
    script = f"{mount} && {{ {detect} >/dev/null; echo rc=$?; ls -A {disk}/onnx; }}"  # stdout: the run's summary
    env = {**os.environ, "DAKD_CACHE_DIR": str(disk)}
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )
    assert done.stdout.split() == ["rc=0"], done.stderr[-2000:]  # detected, and no partial export in the cache
    cache, sha = disk / "onnx", json.loads(card.read_text())["weights"]["sha256"]
    why = (
        f"cannot write the export cache {cache} (the disk is full: writing {cache / f'{sha[:32]}-256px.onnx'} failed "
        f"with 0 MB left in {cache}; free disk space or choose another cache folder); set DAKD_CACHE_DIR to a "
        "writable folder (in QGIS: Settings…, Cache folder), or use --backend torch"
    )
    backend = "openvino" if HAS["openvino"] else "onnxruntime"
    reason = f"auto: {backend} needs an ONNX export, and {why}"
    assert done.stderr.splitlines() == [f"dakd: {reason}; running the model with torch"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["backend"] == "torch" and summary["detector"]["backend_reason"] == reason


@needs_onnx
@pytest.mark.skipif(not HAS["onnxruntime"] and not HAS["openvino"], reason="no ONNX runtime installed")
def test_an_export_cache_that_cannot_be_written_is_named_and_auto_runs_torch(card, tmp_path, monkeypatch, capsys):
    """A cache folder that cannot be made (a file stands there, a drive is gone) was reported as a failed --out."""
    lone = tmp_path / "lone"
    lone.mkdir()
    for suffix in (".json", ".safetensors"):  # no ONNX file beside it: it must be exported into the cache
        shutil.copy(card.with_suffix(suffix), lone / f"mine{suffix}")
    (tmp_path / "taken").write_text("a file, not a folder")
    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "taken"))
    backend = "openvino" if HAS["openvino"] else "onnxruntime"
    args = ["--progress", "none", "detect", str(SAMPLE), "--model", str(lone / "mine.json")]
    assert main([*args, "--backend", backend, "--out", str(tmp_path / "asked")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "export cache" in error and "DAKD_CACHE_DIR" in error and "--out" not in error
    assert not (tmp_path / "asked").exists()
    if onnx_path_for(DEFAULT_MODEL_CARD).is_file():
        return  # a packaged default model: its export ships beside it and needs no cache
    # auto runs the bundled model on an ONNX backend, exporting it into the cache first: torch runs it instead
    assert main(["--progress", "none", "detect", str(SAMPLE), "--out", str(tmp_path / "auto")]) == 0
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert summary["detector"]["backend"] == "torch" and "export cache" in summary["detector"]["backend_reason"]
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def _damaged_cards(card, folder):
    """Copies of ``card`` with its export beside it and in the cache, each with missing, damaged or other weights.

    "replaced" holds other weights under the same card (each float tensor halved): a valid file that the card's
    sha256 does not describe, as when an analyst copies new weights over a model's and keeps its card.
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    weights = card.with_suffix(".safetensors")
    with safe_open(str(weights), framework="numpy") as handle:
        header = handle.metadata()
    cards = {}
    for case in ("missing", "damaged", "replaced"):
        (folder / case).mkdir()
        copy = folder / case / "m.json"
        shutil.copy(card, copy)
        shutil.copy(onnx_path_for(card), onnx_path_for(copy))
        if case == "damaged":
            copy.with_suffix(".safetensors").write_bytes(weights.read_bytes()[:-1000])
        elif case == "replaced":
            other = {key: v / 2 if v.dtype.kind == "f" else v for key, v in load_file(str(weights)).items()}
            save_file(other, str(copy.with_suffix(".safetensors")), metadata=header)
        cards[case] = copy
    cache = folder / "cache" / "onnx" / f"{json.loads(card.read_text())['weights']['sha256'][:32]}-256px.onnx"
    cache.parent.mkdir(parents=True)
    shutil.copy(onnx_path_for(card), cache)  # the card's export, where find_onnx looks after CARD.onnx
    return cards


def _weights_refusal(copy):
    if not copy.with_suffix(".safetensors").exists():
        return f"{copy}: weights file m.safetensors is missing; keep both files together"
    return (
        f"{copy.with_suffix('.safetensors')}: weights do not match the card's sha256 (corrupt or from another model); "
        "copy the model's files again"
    )


@needs_onnx
@pytest.mark.skipif(not HAS["onnxruntime"] and not HAS["openvino"], reason="no ONNX runtime installed")
def test_an_export_never_runs_in_place_of_missing_damaged_or_other_weights(card, tmp_path, monkeypatch, capsys):
    """The ONNX backends ran a card's export (beside it or cached) whatever its weights file held, or without one:
    damaged weights never surfaced, and new weights copied under the same card ran the export of the old ones.
    Now every backend refuses them in one line, as torch did, and ``auto`` falls back from a default card."""
    from engine.detectors import select_detector
    from engine.detectors.threshold import ThresholdDetector

    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    cards = _damaged_cards(card, tmp_path)
    backends = ["auto", *[name for name in installed_backends()]]
    for case, copy in cards.items():
        for backend in backends:
            for beside in (True, False):
                if not beside:
                    onnx_path_for(copy).unlink(missing_ok=True)  # the cached export then
                out = tmp_path / "out"
                args = ["detect", str(SAMPLE), "--method", "model", "--model", str(copy), "--backend", backend]
                assert main(["--progress", "none", "-q", *args, "--out", str(out)]) == 2, (case, backend, beside)
                captured = capsys.readouterr()
                assert captured.err.strip().splitlines() == [f"dakd: error: {_weights_refusal(copy)}"], case
                assert not out.exists()
        monkeypatch.setattr("engine.detectors.DEFAULT_MODEL_CARD", copy)  # auto falls back, saying why
        detector, choice = select_detector("auto", None, "cpu")
        assert isinstance(detector, ThresholdDetector), case
        assert choice.reason == (
            f"the bundled default model could not be loaded ({_weights_refusal(copy)}); using the threshold detector"
        )
        assert capsys.readouterr().err.strip().splitlines() == [f"dakd: {choice.reason}"]  # the warning says why
    code = (  # a detection-only install, with the export beside the card
        "import sys; sys.modules['torch'] = None\n"
        "from engine.cli import main\n"
        f"sys.exit(main(['--progress', 'none', '-q', 'detect', {str(SAMPLE)!r}, '--model', {str(cards['replaced'])!r}, "
        f"'--out', {str(tmp_path / 'out')!r}]))"
    )
    shutil.copy(onnx_path_for(card), onnx_path_for(cards["replaced"]))
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        f"dakd: error: {_weights_refusal(cards['replaced'])}"
    ], run.stderr[-2000:]


@needs_onnx
def test_damaged_weights_are_refused_before_a_backend_is_chosen(card, tmp_path, monkeypatch, capsys):
    """The backend choice took damaged weights for a card without an export and said so ("backend: torch ... the
    card has no ONNX export yet") above the refusal: the analyst read two reasons, one of them wrong."""
    monkeypatch.setenv("DAKD_CACHE_DIR", str(tmp_path / "cache"))
    copy = _damaged_cards(card, tmp_path)["damaged"]
    out = tmp_path / "out"
    assert main(["--progress", "none", "detect", str(SAMPLE), "--model", str(copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "backend:" not in err and "no ONNX export" not in err, err
    assert err.strip().splitlines()[-1] == f"dakd: error: {_weights_refusal(copy)}"
    assert not out.exists()


@needs_onnx
@pytest.mark.skipif(not HAS["onnxruntime"] and not HAS["openvino"], reason="no ONNX runtime installed")
def test_detection_runs_without_torch(card, tmp_path):
    """A detection-only install: torch cannot be imported, the card's ONNX export runs it."""
    out = tmp_path / "out"
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from engine.cli import main\n"
        f"code = main(['--progress', 'none', 'detect', {str(SAMPLE)!r}, '--model', {str(card)!r}, "
        f"'--out', {str(out)!r}])\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "sys.exit(code)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["backend"] in ("openvino", "onnxruntime")
    assert "fastest installed" in summary["detector"]["backend_reason"]


def test_prefetch_reads_ahead_boundedly_and_passes_errors_on():
    produced = []

    def batches(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise ValueError("bad tile")
            produced.append(i)
            yield i

    times: dict = {}
    consumer = prefetch_batches(batches(10), depth=2, times=times)
    assert next(consumer) == 0
    time.sleep(0.3)
    assert len(produced) <= 4  # the one consumed, two queued, one waiting to be queued
    assert list(consumer) == list(range(1, 10)) and times["read_s"] >= 0 and times["wait_s"] >= 0
    with pytest.raises(ValueError, match="bad tile"):
        list(prefetch_batches(batches(10, fail_at=3)))
    before = threading.active_count()
    consumer = prefetch_batches(batches(1000), depth=2)
    next(consumer)
    consumer.close()  # the caller stops early: the reader is stopped and joined
    assert threading.active_count() == before
