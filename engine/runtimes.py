"""Inference backends for a model card: torch, ONNX Runtime and OpenVINO, and the ONNX export they run.

Training and the CUDA path stay in torch (:mod:`engine.detectors.model`). For detection on an analyst's
CPU, the same network runs faster in a dedicated runtime (``bench/detect.py`` measures each one). The
card's network is exported once to ONNX (:func:`export_onnx`, ``dakd model export CARD --onnx``):

* inputs ``x`` (N, 1, T, T) float32, the normalised band, and ``valid`` (N, 1, T, T) bool; the input
  channels (:mod:`engine.models.inputs`) are computed inside the graph as in torch;
* output ``logits`` (N, classes, T, T) float32; the batch size is dynamic;
* two tensors inside the graph are named: ``channels``, what the encoder sees (the input channels of a card
  with ``input_features``), and ``features``, what the head sees. With ``--precision bf16`` OpenVINO runs the
  graph up to ``channels`` and from ``features`` on in f32, and the body between them in bf16
  (:class:`_OpenVinoNet`); the file stays one network for every other runtime;
* the card in ``metadata_props``: ``dakd_card`` (the whole card JSON), ``dakd_weights_sha256`` (which
  weights were exported: a stale file is never used) and the keys Deepness reads (``model_type``,
  ``class_names``, ``resolution`` in cm/px, ``tile_size``, ``tiles_overlap`` in %, ``standardization_*``).

Where the ONNX file is: ``CARD.onnx`` next to the card when it matches the card's weights; otherwise, when
torch is installed, it is exported once into :func:`onnx_cache_dir` (keyed by the weights' hash). Either way the
card's weights file must be there and match the sha256 the card records, as for torch: an export is never run in
place of missing, damaged or replaced weights (:func:`_card_sha`).
``--backend`` picks the runtime: ``auto`` takes the fastest installed for the device (:func:`choose_backend`
says why), so a detection-only install (no torch) runs from the ONNX file (the weights are hashed, not loaded).

Nothing here imports torch unless it exports or runs the torch backend.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.contract import BACKENDS, file_sha256, weights_problem
from engine.detectors.base import DetectorInfo
from engine.errors import DakdError, ModelError, OutputError
from engine.io.atomic import atomic_file, check_replaceable, space_failure
from engine.io.scene import SceneInfo
from engine.modelcard import ModelCard, card_paths, check_card_against_scene, read_card_data

log = logging.getLogger("dakd")

#: The runtimes that run the exported ONNX file.
ONNX_BACKENDS = ("onnxruntime", "openvino")
#: The import name of each backend's package.
_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
#: Fastest first on a CPU: OpenVINO, then ONNX Runtime, then torch eager, as issue 14 measured on an Intel Xeon;
#: on the 2-core AMD development machine, in fp32, the three ran within 10 % of each other (bench/detect.py).
CPU_PREFERENCE = ("openvino", "onnxruntime", "torch")
ONNX_OPSET = 17
#: ``precision`` values of the ONNX backends; ``auto`` is fp32 on both. ONNX Runtime runs fp32 only. OpenVINO with
#: ``bf16`` runs the body of the network (encoder and decoder) in bf16 where the CPU has bf16 units, the input
#: channels and the head in f32. Over the whole graph, bf16 agreed with torch fp32 on only 49-76 % of pixels: the
#: channels are running sums (engine.models.inputs) that bf16's 8-bit mantissa cannot hold. With the cuts it agrees
#: on 99.97 % of simulated tiles' pixels (bench/bf16_inputs.py) but on 99.85 % of the sample scene's (AMD EPYC,
#: 2026-12-07), below the 99.9 % that issue 14 sets for a default, so bf16 is asked for, never chosen by ``auto``.
BF16_SAMPLE_AGREEMENT = 0.9985
RUNTIME_PRECISIONS = ("auto", "fp32", "bf16")
#: The tensors an export names, as (name, module that makes it, module that reads it): the cuts around the body.
CUT_TENSORS = (("channels", "inputs", "encoder"), ("features", "decoder", "head"))
#: Bumped when exports change; a cached export of an older format is made again (2: the cut tensors named).
EXPORT_FORMAT = "2"
DEFAULT_CPU_BATCH = 8


def installed_backends() -> list[str]:
    """Return the backends whose package can be imported here, in :data:`BACKENDS` order (``auto`` excluded)."""
    return [name for name in BACKENDS[1:] if importlib.util.find_spec(_MODULES[name]) is not None]


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _ort_cuda() -> bool:
    """Whether ONNX Runtime here has its CUDA provider (the onnxruntime-gpu build)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@dataclass(frozen=True)
class BackendChoice:
    """Which backend runs a card, on which device, and why (for the log, the summary and the plugin)."""

    backend: str
    device: str
    reason: str


#: Options only the torch backend has: with ``--backend auto`` they choose torch.
TORCH_ONLY_OPTIONS = ("compile", "scan_backend")


def choose_backend(
    requested: str = "auto", device: str = "auto", exported: bool = True, torch_options: tuple[str, ...] = ()
) -> BackendChoice:
    """Resolve ``--backend`` and ``--device`` to one backend and say why.

    ``auto``: on a GPU (``cuda``/``mps``, or ``auto`` where CUDA is available) torch, which runs there in
    bf16/fp16 autocast; on the CPU the first installed of :data:`CPU_PREFERENCE`, with two exceptions
    that keep torch: torch-only options were given (``torch_options``), or the card has no ONNX export yet
    and is not the bundled default (``exported`` False: an export takes about a minute on 2 cores, so
    ``auto`` does not do it behind the analyst's back; ``dakd model export CARD --onnx`` does).

    Raises:
        DakdError: an unknown backend, a backend that is not installed, or an ONNX backend on a GPU.
    """
    if requested not in BACKENDS:
        raise DakdError(f"unknown --backend {requested!r}; use one of: {', '.join(BACKENDS)}")
    installed = installed_backends()
    if requested != "auto" and requested not in installed:
        extra = "detect" if requested in ONNX_BACKENDS else "train"
        raise DakdError(
            f"--backend {requested} is not installed (pip install '{_MODULES[requested]}', or the "
            f"'{extra}' extra: pip install 'dakd-oilspill[{extra}]'); installed: "
            f"{', '.join(installed) or 'none'}"
        )
    if requested in ONNX_BACKENDS:
        if device.startswith("cuda") and requested == "onnxruntime" and _ort_cuda():
            return BackendChoice(requested, "cuda", "--backend onnxruntime was given (its CUDA provider)")
        if device.startswith(("cuda", "mps")):
            raise DakdError(
                f"--backend {requested} runs on the CPU here; use --backend torch (or auto) for --device {device}"
            )
        return BackendChoice(requested, "cpu", f"--backend {requested} was given")
    if requested == "torch":
        return BackendChoice("torch", device, "--backend torch was given")
    # only auto asks whether the run is on a GPU: with --device auto that imports torch, which a named backend needs not
    if device.startswith(("cuda", "mps")) or (device == "auto" and _cuda_available()):
        if "torch" not in installed:
            raise DakdError("a GPU detection needs torch: install 'detection and fine-tuning', or use --device cpu")
        return BackendChoice("torch", device, "auto: a GPU runs torch (bf16/fp16 autocast)")
    if "torch" in installed and torch_options:
        verb = "applies" if len(torch_options) == 1 else "apply"
        return BackendChoice("torch", "cpu", f"auto: {', '.join(torch_options)} {verb} to torch only")
    if "torch" in installed and not exported and any(n in installed for n in ONNX_BACKENDS):
        faster = " or ".join(n for n in CPU_PREFERENCE if n in installed and n != "torch")
        return BackendChoice(
            "torch",
            "cpu",
            "auto: the card has no ONNX export yet, so torch runs it ('dakd model "
            f"export CARD --onnx' lets the faster {faster} run it)",
        )
    for name in CPU_PREFERENCE:
        if name in installed:
            not_installed = [n for n in CPU_PREFERENCE[: CPU_PREFERENCE.index(name)]]
            missing = f"; {', '.join(not_installed)} not installed" if not_installed else ""
            return BackendChoice(
                name,
                "cpu",
                f"auto: {name} is the fastest installed backend on the CPU "
                f"(order {' > '.join(CPU_PREFERENCE)}, measured on an Intel CPU; "
                f"about equal in fp32 on AMD, docs/benchmarks.md){missing}",
            )
    raise DakdError(
        "no inference backend is installed: install 'detection only' (openvino or onnxruntime) or "
        "'detection and fine-tuning' (torch)"
    )


# --- export ---------------------------------------------------------------------------------------------------


def onnx_metadata(card: ModelCard, card_data: dict[str, Any]) -> dict[str, str]:
    """Return the ``metadata_props`` written into an exported ONNX file (strings; Deepness reads JSON values)."""
    spec = card.input_spec
    pixel_cm = (card.pixel_size_m or 10.0) * 100
    return {
        "dakd_card": json.dumps(card_data),
        "dakd_weights_sha256": str((card_data.get("weights") or {}).get("sha256", "")),
        "dakd_export_format": EXPORT_FORMAT,
        "dakd_inputs": json.dumps(
            {
                "x": "normalised band (N,1,T,T) float32 (engine.preprocess.normalise_sigma0)",
                "valid": "validity (N,1,T,T) bool",
            }
        ),
        "dakd_output": "logits (N,classes,T,T) float32; softmax gives the class probabilities",
        "model_type": json.dumps("Segmentor"),
        "class_names": json.dumps({str(c.id): c.name for c in card.classes}),
        "resolution": json.dumps(pixel_cm),
        "tile_size": json.dumps(spec.tile_size),
        "tiles_size": json.dumps(spec.tile_size),  # Deepness' documented spelling
        "tiles_overlap": json.dumps(round(100 * card.overlap_px / spec.tile_size)),
        "standardization_mean": json.dumps([spec.mean]),
        "standardization_std": json.dumps([spec.std]),
    }


def onnx_path_for(card_path: str | Path) -> Path:
    """``CARD.onnx`` next to the card's ``.json``."""
    return card_paths(card_path)[1].with_suffix(".onnx")


def cache_root() -> Path:
    """Return the engine's cache folder: ``$DAKD_CACHE_DIR``, else ``$XDG_CACHE_HOME/dakd`` or ``~/.cache/dakd``."""
    return Path(
        os.environ.get("DAKD_CACHE_DIR")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dakd")
    )


def onnx_cache_dir() -> Path:
    """Where exports of cards without a matching ``CARD.onnx`` go (``CACHE/onnx``, :func:`cache_root`)."""
    return cache_root() / "onnx"


def openvino_cache_dir() -> Path | None:
    """Where OpenVINO keeps compiled networks (``CACHE/openvino``); None when that folder cannot be written.

    Compiling the bundled model takes about 3 s on 2 cores at every run; from the cache it loads in under 1 s
    (one run each, AMD EPYC, 2026-12-07). OpenVINO keys its blobs on the network, the device and the settings,
    so a new export or precision compiles again. A cache that cannot be written only costs that time.
    """
    folder = cache_root() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


#: The most bytes each of the engine's caches keeps (the ONNX exports, OpenVINO's compiled networks). A model is
#: exported once per weights and tile size (about 15 MB) and compiled once per precision (13-30 MB), so an analyst
#: who fine-tunes and imports models would fill the disk without end; the least recently used files go first, and
#: removing one that is still wanted costs an export or a compile (seconds) at its next run.
CACHE_LIMIT_BYTES = 512 * 1024**2


def prune_cache(
    folder: Path | None, suffix: str, since: float | None = None, limit_bytes: int | None = None
) -> list[Path]:
    """Remove the least recently used ``*suffix`` files of a cache folder beyond ``limit_bytes``; return them.

    Only the cache's own kind of file goes (``.onnx`` exports, OpenVINO's ``.blob`` networks): anything else in the
    folder is left, as are files used or written since ``since`` (``time.time()``; this run needs them) and files
    that cannot be removed. "Used" is the later of the access and modification times.
    """
    limit = CACHE_LIMIT_BYTES if limit_bytes is None else limit_bytes
    if folder is None or not folder.is_dir():
        return []
    entries = []
    for path in folder.glob(f"*{suffix}"):
        try:
            status = path.stat()
        except OSError:
            continue
        if path.is_file():
            entries.append((max(status.st_atime, status.st_mtime), status.st_size, path))
    removed, kept_bytes = [], 0
    for used, size, path in sorted(entries, reverse=True):  # the most recently used first
        kept_bytes += size
        if kept_bytes <= limit or (since is not None and used >= since):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        kept_bytes -= size
        removed.append(path)
    if removed:
        log.info(
            "removed %d least recently used file(s) from %s (the cache keeps %d MB)", len(removed), folder, limit >> 20
        )
    return removed


def _card_sha(card_path: str | Path) -> tuple[dict[str, Any], str]:
    """Return a card's JSON and the sha256 of its weights file, which must be there and match what the card records.

    Exports are found by this hash, so it is the file's: a missing, damaged or replaced weights file is refused as
    torch refuses it (:func:`~engine.contract.weights_problem`), whatever backend runs the card, instead of running an
    export (beside the card, shipped with the plugin, or in the cache) of other weights.

    Raises:
        ModelError: the card cannot be read, or its weights are missing or do not match it.
    """
    data, _ = read_card_data(card_path)
    weights, card_file = card_paths(card_path)
    problem = weights_problem(card_file, data)
    if problem:
        raise ModelError(problem)
    sha = str((data.get("weights") or {}).get("sha256") or "")  # read_card_data has checked it is an object
    if not sha:  # a card read from its weights' header, or one that records no hash: the file's own
        sha = file_sha256(weights)
        data.setdefault("weights", {})["sha256"] = sha
    return data, sha


def export_onnx(
    card_path: str | Path,
    out: str | Path | None = None,
    batch_size: int = 2,
    overwrite: bool = True,
    option: str = "--out",
) -> Path:
    """Export a card's network to ONNX with the card in its metadata (needs torch); returns the file.

    Args:
        card_path: the card (``.json`` or ``.safetensors``).
        out: the ONNX file (default ``CARD.onnx`` next to the card). Written atomically.
        batch_size: the batch of the example input (the exported batch dimension is dynamic).
        overwrite: replace an existing ``out`` (the export cache re-exports over a stale file; ``dakd model
            export --out`` passes its ``--overwrite``). The card's own files are never replaced.
        option: what chose ``out``, named in a full disk's advice ("choose another ..."): the export cache is not
            the analyst's ``--out``.

    Raises:
        ModelError: the card cannot be loaded or exported.
        OutputError: ``out`` is one of the card's files, or exists without ``overwrite`` (before any work); the
            disk filled up (or a file-size limit was reached) while it was written.
    """
    import warnings

    import onnx
    import torch

    from engine.modelcard import load_model

    target = Path(out).expanduser() if out else onnx_path_for(card_path)
    inputs = [card_path, *card_paths(card_path)]
    check_replaceable(target, inputs)  # first: over the card itself, "pass --overwrite" would not help
    # atomic_file refuses an existing file without overwrite on entry: before the card is loaded and traced
    with atomic_file(target, overwrite, inputs, option) as temporary:
        model, card = load_model(card_path, device="cpu")
        data, _ = _card_sha(card_path)
        if hasattr(model, "set_scan_backend"):
            model.set_scan_backend("reference")  # plain tensor ops, traced into the graph
        tile = card.input_spec.tile_size
        x = torch.zeros(batch_size, 1, tile, tile)
        valid = torch.ones(batch_size, 1, tile, tile, dtype=torch.bool)
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes (fixed per tile)
            try:
                torch.onnx.export(
                    model,
                    (x, valid),
                    str(temporary),
                    input_names=["x", "valid"],
                    output_names=["logits"],
                    dynamic_axes={"x": {0: "batch"}, "valid": {0: "batch"}, "logits": {0: "batch"}},
                    opset_version=ONNX_OPSET,
                    dynamo=False,
                )
            except Exception as error:  # noqa: BLE001 - the exporter raises many types
                full = space_failure(error, target, option)  # the disk, not the model: said as every writer says it
                if full is not None:
                    raise full from error
                raise ModelError(f"{card_path}: cannot export to ONNX ({type(error).__name__}: {error})") from error
        proto = onnx.load(str(temporary))
        metadata = onnx_metadata(card, data)
        named = [name for name, made_by, read_by in CUT_TENSORS if name_tensor(proto.graph, name, made_by, read_by)]
        metadata["dakd_cut_tensors"] = json.dumps(named)
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "dakd"
        onnx.save(proto, str(temporary))
    log.info("exported %s to %s in %.1f s", card.name, target, time.monotonic() - started)
    return target


def name_tensor(graph: Any, name: str, made_by: str, read_by: str) -> bool:
    """Rename the one tensor that module ``made_by`` computes and module ``read_by`` reads to ``name``.

    torch names exported nodes by module path (``/encoder/...``), so the tensor is the output of a computing node
    of ``made_by`` that a node of ``read_by`` reads. Returns False, renaming nothing, when there is not exactly one,
    e.g. ``channels`` for a card without ``input_features``.
    """
    produced = {
        tensor
        for node in graph.node
        if node.name.startswith(f"/{made_by}/") and node.op_type != "Constant"
        for tensor in node.output
    }
    found = {tensor for node in graph.node if node.name.startswith(f"/{read_by}/") for tensor in node.input}
    found &= produced
    if len(found) != 1:
        return False
    tensor = found.pop()
    for node in graph.node:
        for names in (node.input, node.output):
            for index, old in enumerate(names):
                if old == tensor:
                    names[index] = name
    return True


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """Return the ``metadata_props`` of an ONNX file (read with the ``onnx`` package, else ONNX Runtime or OpenVINO)."""
    if importlib.util.find_spec("onnx") is not None:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(session.get_modelmeta().custom_metadata_map)
    import openvino  # a "Detection only" install: OpenVINO keeps an ONNX file's metadata_props under "framework"

    info = openvino.Core().read_model(str(path)).get_rt_info()
    framework = info["framework"] if "framework" in info else {}
    return {key: value.astype(str) for key, value in framework.items()}


def has_onnx(card_path: str | Path) -> bool:
    """Whether an ONNX export of the card's weights exists (next to the card or in the cache).

    Raises:
        ModelError: the card cannot be read, or its weights are missing or do not match it (:func:`_card_sha`): a
            card that cannot run at all, which the backend choice must not log as one merely without an export.
    """
    _card_sha(card_path)
    try:
        find_onnx(card_path, export=False, warn=False)  # an unusable CARD.onnx is named once, by the loader's lookup
    except (ModelError, OSError):
        return False
    return True


def find_onnx(card_path: str | Path, export: bool = True, warn: bool = True) -> tuple[Path, str]:
    """Return a card's ONNX file and where it came from; export it into the cache when needed and possible.

    ``warn``: log why a ``CARD.onnx`` beside the card is not used (damaged, or of other weights or tiles).

    Raises:
        ModelError: the card's weights are missing or do not match it (:func:`_card_sha`), or no ONNX file matches
            them and torch is not installed to export one.
        ExportCacheError: the export cache cannot be written.
    """
    data, sha = _card_sha(card_path)
    tile = str(data["input"]["tile_size"])  # read_card_data has checked the card
    beside = onnx_path_for(card_path)
    if beside.is_file():
        stamp = _onnx_stamp(beside)
        if stamp[0] == sha and stamp[2] == tile:
            return beside, f"{beside.name} next to the card"
        if warn and stamp == _UNREADABLE_STAMP:  # not an export of other weights: cut short, or not ONNX at all
            log.warning(
                "%s is not a readable ONNX file (damaged, cut short or not ONNX); not using it (to export it again: "
                "dakd model export %s --onnx --overwrite)",
                beside,
                card_paths(card_path)[1],
            )
        elif warn:
            log.warning("%s was exported from other weights or for other tiles than the card's; not using it", beside)
    # Keyed on the weights and the tile size: an export has the tile's size fixed (only the batch is dynamic), and a
    # copy of a card with other tiles ran the first one's export, which OpenVINO refused mid-run.
    cached = onnx_cache_dir() / f"{sha[:32]}-{tile}px.onnx"
    if cached.is_file() and _onnx_stamp(cached) == (sha, EXPORT_FORMAT, tile):  # an older format is exported again
        try:
            os.utime(cached)  # used now: the cache removes the least recently used exports first
        except OSError:
            pass
        return cached, f"the export cache ({cached})"
    if not export or importlib.util.find_spec("torch") is None:
        raise ModelError(
            f"{card_path}: no ONNX export of this model ({beside.name} next to the card); run 'dakd "
            f"model export {card_path} --onnx' where torch is installed, or use --backend torch"
        )
    log.info("exporting %s to ONNX once (cached in %s)", card_paths(card_path)[1].name, cached.parent)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        exported = export_onnx(card_path, cached, option="cache folder")  # a full disk here is not --out's
        prune_cache(cached.parent, ".onnx", since=os.stat(exported).st_mtime)
        return exported, f"exported once into the cache ({cached})"
    except (OSError, OutputError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ExportCacheError(
            f"cannot write the export cache {cached.parent} ({reason}); set DAKD_CACHE_DIR to a writable folder "
            "(in QGIS: Settings…, Cache folder), or use --backend torch"
        ) from error


class ExportCacheError(ModelError):
    """The ONNX export cache cannot be written: the run is not at fault, and torch can run the card instead."""


#: :func:`_onnx_stamp` of a file that cannot be read as ONNX (a readable one has at least an export format).
_UNREADABLE_STAMP = ("", "", "")


def _onnx_stamp(path: Path) -> tuple[str, str, str]:
    """Return the weights hash, export format (``"1"`` before it was recorded) and tile size of an ONNX file.

    A file that cannot be read as ONNX gives :data:`_UNREADABLE_STAMP`.
    """
    try:
        metadata = read_onnx_metadata(path)
    except Exception:  # noqa: BLE001 - an unreadable file is not ours
        return _UNREADABLE_STAMP
    return (
        metadata.get("dakd_weights_sha256", ""),
        metadata.get("dakd_export_format", "1"),
        metadata.get("tile_size", ""),
    )


# --- runtimes ---------------------------------------------------------------------------------------------------


def check_runtime_options(backend: str, precision: str | None = None, batch_size: int | None = None) -> None:
    """Refuse a precision or batch size that ``backend`` (``onnxruntime`` or ``openvino``) cannot run.

    Judged before the card's ONNX file is found, exported (a minute on 2 cores) or compiled (seconds):
    :func:`load_runtime_detector` asks first, and ``engine.detectors`` before the scene opens.

    Raises:
        DakdError: a precision the backend does not have (ONNX Runtime runs fp32 only), or a batch size below 1.
    """
    if precision is not None and precision not in RUNTIME_PRECISIONS:
        raise DakdError(
            f"--precision {precision} is not available with --backend {backend}; use {' or '.join(RUNTIME_PRECISIONS)}"
        )
    if backend == "onnxruntime" and precision == "bf16":
        raise DakdError("--precision bf16 runs with --backend openvino (ONNX Runtime runs fp32); or use fp32")
    if batch_size is not None and int(batch_size) < 1:
        raise DakdError(f"--batch-size must be at least 1, got {batch_size}")


class _OnnxRuntimeNet:
    """ONNX Runtime, fp32: ``CPUExecutionProvider``, or ``CUDAExecutionProvider`` on ``cuda``."""

    def __init__(self, path: Path, precision: str, device: str = "cpu") -> None:
        import onnxruntime

        check_runtime_options("onnxruntime", precision)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = _threads()
        if threads:
            options.intra_op_num_threads = threads
        providers = (["CUDAExecutionProvider"] if device.startswith("cuda") else []) + ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.precision = "fp32"
        self.precision_reason = "ONNX Runtime runs fp32"
        self.version = onnxruntime.__version__

    def __call__(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"x": x, "valid": valid})[0]


class _OpenVinoNet:
    """OpenVINO on the CPU: the body in bf16 where that is chosen (``precision``), everything else in f32.

    With bf16, the export is cut at its ``channels`` and ``features`` tensors into three compiled networks (input
    channels f32, encoder and decoder bf16, head f32) run one after the other; the file stays one network
    (:data:`RUNTIME_PRECISIONS` says why the cuts). Otherwise the whole graph runs in f32.
    """

    def __init__(self, path: Path, precision: str, device: str = "cpu") -> None:
        import openvino

        self.core = openvino.Core()
        self.version = openvino.__version__.split("-")[0]
        model = self.core.read_model(str(path))
        started = time.time()
        bf16_units = "BF16" in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        cuttable = all(_find_output(model, name) is not None for name, _, _ in CUT_TENSORS)
        if precision == "bf16" and not cuttable:
            raise DakdError(
                f"{path.name} lacks the tensors to run the body in bf16 between (an older export, or a model without "
                "input channels): re-export it with 'dakd model export CARD --onnx', or use --precision fp32"
            )
        if precision != "bf16" or not bf16_units:
            self.parts = [self._compile(model, "f32")]
            self.precision = "fp32"
            self.precision_reason = {
                "fp32": "--precision fp32 was given",
                "auto": "auto: fp32 (--precision bf16 is faster where the CPU has bf16 units, but agrees with fp32 on "
                f"{BF16_SAMPLE_AGREEMENT * 100:.2f} % of the sample scene's pixels, below 99.9 %)",
                "bf16": "--precision bf16 was given, but the CPU has no bf16 units: OpenVINO ran f32",
            }[precision]
        else:
            (channels, _, _), (features, _, _) = CUT_TENSORS
            self.parts = [
                self._compile(_part(self.core.read_model(str(path)), [], [channels]), "f32"),
                self._compile(_part(self.core.read_model(str(path)), [channels], [features]), "bf16"),
                self._compile(_part(model, [features], []), "f32"),
            ]
            self.precision = "bf16"
            self.precision_reason = (
                "--precision bf16 was given: the encoder and decoder run in bf16, the input channels and the head in "
                "f32"
            )
        prune_cache(openvino_cache_dir(), ".blob", since=started)  # what this run compiled or loaded stays

    def _compile(self, model: Any, precision: str) -> tuple[Any, Any, set[str]]:
        """Compile ``model``; return it with its request and the names of its inputs."""
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        threads = _threads()
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        cache = openvino_cache_dir()
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        compiled = self.core.compile_model(model, "CPU", config)
        names = {name for port in compiled.inputs for name in port.get_names()}
        return compiled, compiled.create_infer_request(), names

    def __call__(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        tensors = {"x": x, "valid": valid}
        for compiled, request, names in self.parts:
            result = request.infer({name: value for name, value in tensors.items() if name in names})
            for port in compiled.outputs:
                tensors[port.get_any_name()] = np.asarray(result[port])
        return np.asarray(result[self.parts[-1][0].output(0)])


def _find_output(model: Any, name: str) -> Any:
    """Return the output (of any node) of an OpenVINO model that carries the tensor ``name``; None when none does."""
    for node in model.get_ordered_ops():
        for output in node.outputs():
            if name in output.get_names():
                return output
    return None


def _part(model: Any, inputs: list[str], outputs: list[str]) -> Any:
    """Return the part of a read export from the tensors ``inputs`` to ``outputs`` (none: the model's results).

    ``inputs`` become parameters; the model's own parameters stay (parts read the tile's shape from ``x``).
    ``model`` is rewired, so read one per part.
    """
    import openvino

    parameters = []
    for name in inputs:
        cut = _find_output(model, name)
        parameter = openvino.opset13.parameter(cut.get_partial_shape(), openvino.Type.f32, name=name)
        parameter.output(0).set_names({name})
        for target in list(cut.get_target_inputs()):
            target.replace_source_output(parameter.output(0))
        parameters.append(parameter)
    results = [_find_output(model, name) for name in outputs] if outputs else model.get_results()
    return openvino.Model(results, [*parameters, *model.get_parameters()], "part")


def _threads() -> int | None:
    """``OMP_NUM_THREADS`` when set (the tests and CI cap it), else the runtime's own choice (every core)."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 1 in float32."""
    logits = logits.astype(np.float32, copy=False)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class RuntimeDetector:
    """A card's network run by ONNX Runtime or OpenVINO behind the detector interface (see ``ModelDetector``)."""

    def __init__(
        self,
        card: ModelCard,
        backend: BackendChoice,
        onnx_path: Path,
        onnx_source: str,
        precision: str = "auto",
        batch_size: int | None = None,
        model_path: str = "",
        requested_device: str = "auto",
    ) -> None:
        check_runtime_options(backend.backend, precision, batch_size)
        self.card = card
        self.classes = card.classes
        self.input_spec = card.input_spec
        self.context_px = card.context_px
        self.backend = backend
        self.model_path = model_path
        self.onnx_path = onnx_path
        self.onnx_source = onnx_source
        self.requested_device = requested_device
        runner = _OnnxRuntimeNet if backend.backend == "onnxruntime" else _OpenVinoNet
        self.net = runner(onnx_path, precision, backend.device)
        self.batch_size = self.default_batch_size = batch_size or DEFAULT_CPU_BATCH
        self.stats = {"tiles": 0, "forward_s": 0.0}

    def prepare(self, scene: SceneInfo) -> None:
        """Refuse scenes the model was not trained for (band, calibration, pixel size)."""
        check_card_against_scene(self.card, scene)

    def predict(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, classes, H, W)`` float32 for normalised tiles ``(N, 1, H, W)``."""
        started = time.perf_counter()
        if tiles.ndim != 4 or tiles.shape[1] != 1:
            raise ModelError(f"model {self.card.name!r} expects tiles (N, 1, H, W); got {tuple(tiles.shape)}")
        x = np.ascontiguousarray(tiles, dtype=np.float32)
        mask = np.ascontiguousarray(np.broadcast_to(valid, tiles.shape), dtype=bool)
        parts = [
            softmax(self.net(x[i : i + self.batch_size], mask[i : i + self.batch_size]))
            for i in range(0, len(x), self.batch_size)
        ]
        self.stats["tiles"] += len(x)
        self.stats["forward_s"] += time.perf_counter() - started
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def describe(self) -> DetectorInfo:
        """Model id, backend, device and why, precision and batch size for the run summary."""
        extra: dict[str, Any] = {
            "model_path": self.model_path,
            "architecture": self.card.architecture,
            "variant": self.card.variant,
            "backend": self.backend.backend,
            "backend_reason": self.backend.reason,
            "backend_version": self.net.version,
            "onnx": str(self.onnx_path),
            "onnx_source": self.onnx_source,
            "precision": self.net.precision,
            "precision_reason": self.net.precision_reason,
            "batch_size": self.batch_size,
            "classes": [c.name for c in self.classes],
            "input_features": list(self.card.build.get("input_features") or ["db"]),
            "tiles": self.stats["tiles"],
            "forward_s": round(self.stats["forward_s"], 3),
            "engine_version_of_card": self.card.engine_version,
        }
        device_reason = (
            f"requested {self.requested_device}"
            if self.requested_device != "auto"
            else f"auto: no GPU in use, {self.backend.backend} runs on the CPU"
        )
        return DetectorInfo(
            name="model", model_id=self.card.name, device=self.backend.device, device_reason=device_reason, extra=extra
        )


def load_runtime_detector(
    model_path: str | Path,
    backend: BackendChoice,
    precision: str | None = None,
    batch_size: int | None = None,
    device: str = "auto",
) -> RuntimeDetector:
    """Build a :class:`RuntimeDetector` for a card (finding or exporting its ONNX file).

    The precision and batch size are judged first (:func:`check_runtime_options`), before the export and the compile.
    """
    check_runtime_options(backend.backend, precision, batch_size)
    data, source = read_card_data(model_path)
    card = ModelCard.from_json_dict(data, source)
    onnx_path, onnx_source = find_onnx(model_path)
    detector = RuntimeDetector(
        card,
        backend,
        onnx_path,
        onnx_source,
        precision or "auto",
        int(batch_size) if batch_size else None,
        str(model_path),
        device,
    )
    log.info(
        "model %s on %s with %s %s (%s): %s",
        card.name,
        backend.device,
        backend.backend,
        detector.net.version,
        detector.net.precision,
        backend.reason,
    )
    return detector


__all__ = [
    "BACKENDS",
    "BackendChoice",
    "ExportCacheError",
    "RuntimeDetector",
    "check_runtime_options",
    "choose_backend",
    "export_onnx",
    "find_onnx",
    "installed_backends",
    "load_runtime_detector",
    "onnx_path_for",
    "read_onnx_metadata",
]
