"""``dakd model info PATH`` and ``dakd model list [DIR ...]``: what a model card says, and which cards exist."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any, TypeGuard

from engine.cli.options import add_out_option, add_report_out_option, report_to_out
from engine.contract import weights_problem  # the one rule every backend runs a card by
from engine.detectors import BUNDLED_MODELS_DIR  # searched by ``dakd model list``, then $DAKD_MODELS_DIR
from engine.progress import Progress

log = logging.getLogger("dakd")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd model`` with its ``info`` and ``list`` sub-commands."""
    parser = subparsers.add_parser(
        "model",
        help="inspect and export model cards (info, list, export)",
        description="Inspect SAROSS-Net model cards (.json + .safetensors).",
    )
    commands = parser.add_subparsers(dest="model_command", metavar="{info,list,export}")
    commands.required = True
    info = commands.add_parser("info", help="print a model card", description="Print what a model card says.")
    info.add_argument("path", help="the model's .json card or .safetensors weights")
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    add_report_out_option(info, "the card's description")
    info.set_defaults(func=run_info)
    export = commands.add_parser(
        "export",
        help="export a model card's network (ONNX)",
        description="Write the card's network as ONNX (dynamic batch; the card in the "
        "file's metadata) next to the card, for --backend onnxruntime or "
        "openvino and for a detection-only install without torch.",
    )
    export.add_argument("path", help="the model's .json card or .safetensors weights")
    export.add_argument("--onnx", action="store_true", required=True, help="export to ONNX (the only format)")
    add_out_option(
        export, "FILE", "the ONNX file (default: CARD.onnx next to it; an earlier dakd export there is refreshed)"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out FILE, or a CARD.onnx dakd did not write"
    )
    export.set_defaults(func=run_export)
    listing = commands.add_parser(
        "list",
        help="list model cards in folders",
        description="List model cards in the bundled models folder and $DAKD_MODELS_DIR, or in the folders given.",
    )
    listing.add_argument("folders", nargs="*", help="folders to search (default: bundled + $DAKD_MODELS_DIR)")
    add_report_out_option(listing, "the list")
    listing.set_defaults(func=run_list)


def _parameter_count(weights: Path) -> int | None:
    """Count weights from the safetensors header without loading tensors; None when the file is missing.

    Read as numpy: only shapes are needed, and a "Detection only" install (OpenVINO, no torch) shows cards too.

    Raises:
        ModelError: the file is not a readable safetensors file (cut short, or not weights at all).
    """
    if not weights.is_file():
        return None
    from safetensors import safe_open

    from engine.errors import ModelError

    total = 0
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            for key in handle.keys():
                if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
                    shape = handle.get_slice(key).get_shape()
                    count = 1
                    for size in shape:
                        count *= size
                    total += count
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(
            f"{weights}: not a readable safetensors file ({error}); copy the model's .safetensors file again, beside "
            "its card"
        ) from None
    return total


def _card_dict(path: str) -> tuple[dict[str, Any], Path]:
    from engine.modelcard import ModelCard, card_paths, read_card_data

    raw, source = read_card_data(path)
    card = ModelCard.from_json_dict(raw, source)  # validates, raises ModelError with a clear line
    weights, card_file = card_paths(path)
    data = card.to_json_dict(weights.name, "")
    data["weights"] = raw.get("weights") or data["weights"]
    data["weights_problem"] = weights_problem(card_file, raw)
    return data, weights


def run_info(args: argparse.Namespace, progress: Progress) -> int:
    """Print a card as text (or JSON with ``--json``), or write that to ``--out FILE``."""
    from engine.modelcard import card_paths

    with report_to_out(args, [args.path, *card_paths(args.path)]):
        return _print_info(args)


def _print_info(args: argparse.Namespace) -> int:
    data, weights = _card_dict(args.path)
    data["parameters"] = _parameter_count(weights)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    inputs, tiling, build = data["input"], data["tiling"], data["build"]
    params = data["parameters"]
    lines = [
        f"model:         {data['name']}  ({data['architecture']} {data['variant']})",
        f"encoder:       {build.get('encoder')} {build.get('variant')}, skip={build.get('skip')}"
        + (f", {params / 1e6:.2f}M parameters" if params else ", weights file missing"),
        "classes:       " + ", ".join(f"{c['id']} {c['name']} {tuple(c['rgb'])}" for c in data["classes"]),
        f"input:         band {inputs['band']}, {inputs['calibration']}, pixel {inputs['pixel_size_m']} m "
        f"(x{inputs['pixel_size_tolerance']} tolerance)",
        f"normalisation: units {inputs['units']}, dB range {inputs['db_range']}, mean {inputs['mean']}, "
        f"std {inputs['std']}; nodata set to 0",
        "channels:      "
        + ", ".join(build.get("input_features") or ["db (the normalised band only)"])
        + (
            " (computed inside the network from the normalised band; engine.models.inputs)"
            if build.get("input_features")
            else ""
        ),
        f"tiling:        {inputs['tile_size']} px tiles, overlap {tiling['overlap_px']} px, "
        f"context {tiling['context_px']} px",
        f"training:      {_training_line(data['training'])}",
        f"metrics:       {_metrics_line(data['metrics'], [c['name'] for c in data['classes']])}",
        f"written by:    engine {data['engine_version']} on {data['created']}",
        f"weights:       {weights} (sha256 {data['weights'].get('sha256') or 'not recorded'})",
    ]
    if data.get("description"):
        lines.insert(1, f"description:   {data['description']}")
    recipe = _object(_object(data.get("training")).get("recipe"))
    if recipe:
        lines.insert(-2, f"recipe:        {recipe.get('how', '')}; {recipe.get('finetune', '')}".rstrip("; "))
        for stage in ("continue", "widen"):  # later stages, each from the one before (make default-model)
            if recipe.get(stage):
                lines.insert(-2, f"then:          {recipe[stage]}")
    if data["weights_problem"]:  # the card reads fine, but detection would refuse it
        lines.append(f"will not run:  {data['weights_problem']}")
    print("\n".join(lines))
    if data.get("training") or data.get("metrics"):
        print("(everything recorded, including the data and every setting: dakd model info --json CARD)")
    return 0


def run_export(args: argparse.Namespace, progress: Progress) -> int:
    """Export the card's network to ONNX and print where it went.

    A file given with ``--out`` is replaced only with ``--overwrite`` (it may be anything), and never when it
    is one of the card's own files; for ``CARD.onnx`` next to the card see :func:`_may_replace_beside`.
    The export cannot stop half-way, so a Ctrl-C during it is answered once the file is written: the run says
    the file is kept and succeeds (it used to end "cancelled; no output was written", exit 130, over the file).
    """
    from engine.errors import Cancelled
    from engine.runtimes import export_onnx

    overwrite = args.overwrite or (not args.out and _may_replace_beside(args.path))
    with progress.stage("export", total=1) as stage:
        path = export_onnx(args.path, args.out, overwrite=overwrite)
        try:
            stage.advance()
        except Cancelled:  # asked during the export, which cannot stop: it is written, and said so, not denied
            log.warning("the export had finished when the stop was asked for; %s is kept", path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; dynamic batch, the card in its metadata)")
    return 0


def _may_replace_beside(card: str) -> bool:
    """Whether an existing ``CARD.onnx`` may be replaced without ``--overwrite``: only when dakd exported it.

    A new export refreshes an earlier one (older weights, an older export format) as a matter of course, but a
    file of the analyst's that happens to be named ``CARD.onnx`` is theirs: refused, in one line, before any work.

    Raises:
        OutputError: ``CARD.onnx`` is a file without the dakd export stamp.
    """
    from engine.errors import OutputError
    from engine.runtimes import _onnx_stamp, onnx_path_for  # the stamp find_onnx trusts an export by

    beside = onnx_path_for(card)
    if not beside.is_file():
        return False  # nothing to replace (a folder there is refused by the export itself)
    if _onnx_stamp(beside)[0]:
        return True
    raise OutputError(
        f"will not replace {beside}: dakd did not export it; pass --overwrite to replace it, or --out FILE to write "
        "the export elsewhere"
    )


def _training_line(training: dict[str, Any] | None) -> str:
    """One line an analyst can read: what data, which preset, how long; the rest is in ``--json``."""
    if not training:
        return "not recorded"
    parts = [f"{training.get('pipeline', '?')} pipeline", f"preset {training.get('preset', '?')}"]
    data = _object(training.get("data"))
    train = _object(data.get("train"))
    if train:
        parts.append(
            f"{train.get('tiles', '?')} tiles from {train.get('scenes', '?')} scenes ({data.get('format', '?')})"
        )
    aug_ratio = _object(training.get("segmenter")).get("aug_ratio")
    if _is_number(aug_ratio):
        parts.append(f"generated pairs {aug_ratio:g}x")
    if training.get("steps"):
        parts.append(f"{training['steps']} steps")
    if training.get("device"):
        parts.append(f"on {training['device']}")
    if _is_number(training.get("wall_time_s")) and training["wall_time_s"]:
        parts.append(f"{training['wall_time_s'] / 60:.0f} min")
    return ", ".join(parts)


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else empty: ``training`` and ``metrics`` are free-form, hand-editable."""
    return value if isinstance(value, dict) else {}


def _is_number(value: Any) -> TypeGuard[float]:
    """Whether a free-form card value can be formatted as a number (``true`` is JSON's boolean, not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metrics_line(metrics: dict[str, Any] | None, class_names: list[str]) -> str:
    """MIoU and per-class IoU of each scored split (validation, test...), when the card has them."""
    recorded = (metrics or {}).get("class_names")
    names = recorded if isinstance(recorded, list) and recorded else class_names
    splits = []
    for split, scores in (metrics or {}).items():
        miou = _object(scores).get("miou")
        if not _is_number(miou):
            continue
        text = f"{split} mIoU {miou:.1f} %" if miou > 1 else f"{split} mIoU {miou:g}"
        ious = scores.get("iou") if isinstance(scores.get("iou"), list) else []
        per_class = ", ".join(f"{name} {iou:.1f}" for name, iou in zip(names, ious) if _is_number(iou))
        splits.append(text + (f" (IoU: {per_class})" if per_class else ""))
    return "; ".join(splits) or "not recorded"


def run_list(args: argparse.Namespace, progress: Progress) -> int:
    """Print one line per readable card found (or write the lines to ``--out FILE``).

    The folders searched are inputs whatever chose them: ``--out`` never replaces a card in one of them.
    """
    folders = _list_folders(args.folders)
    with report_to_out(args, list(folders)):
        return _print_list(folders)


def _list_folders(given: list[str]) -> list[Path]:
    """Return the folders ``dakd model list`` searches: those given (each a folder), else bundled + $DAKD_MODELS_DIR.

    A mistyped folder, or one the analyst may not read, would otherwise read as "no model cards found" with
    exit 0, which a script takes for an empty folder.

    Raises:
        InputError: a folder given does not exist, is a file, or cannot be read.
    """
    from engine.errors import InputError

    for folder in given:
        path = Path(folder).expanduser()
        if not path.exists():
            raise InputError(f"{folder}: no such folder; give a folder that holds model cards")
        if not path.is_dir():
            raise InputError(f"{folder} is a file, not a folder; give its folder, or 'dakd model info {folder}'")
        if not os.access(path, os.R_OK | os.X_OK):  # glob finds nothing in it, and says so without an error
            raise InputError(f"{folder}: permission denied; ask for access to the folder, or copy its cards elsewhere")
    if given:
        return [Path(folder).expanduser() for folder in given]
    registered = os.environ.get("DAKD_MODELS_DIR")
    return [BUNDLED_MODELS_DIR, *([Path(registered)] if registered else [])]


def _print_list(folders: list[Path]) -> int:
    """Print one line per readable card found; unreadable ones are listed with the reason, and the listing goes on.

    A card whose weights detection would refuse (missing, damaged or replaced: :func:`weights_problem`) ends its
    line with the reason, so the list does not offer as ready a model that cannot run. Its weights are hashed
    (well under a second for the shipped model).
    """
    from engine.errors import ModelError
    from engine.modelcard import ModelCard, read_card_data

    found = 0
    for folder in folders:
        for card_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                raw, source = read_card_data(card_path)
                card = ModelCard.from_json_dict(raw, source)
            except ModelError as error:
                print(f"{card_path}  (unreadable: {error})")
                continue
            classes = "/".join(c.name for c in card.classes)
            problem = weights_problem(card_path, raw)
            print(
                f"{card_path}  {card.name}  {card.build.get('encoder')} {card.build.get('variant')}  {classes}"
                + (f"  (will not run: {problem})" if problem else "")
            )
            found += 1
    if not found:
        print("no model cards found in " + ", ".join(str(f) for f in folders))
    return 0
