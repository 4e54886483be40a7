"""The plugin's model registry: the bundled model card plus the cards in the cache's ``models`` folder.

A model card is a JSON file with a safetensors weights file beside it (see ``engine.modelcard``), and
maybe its ONNX export ``NAME.onnx`` (``dakd model export --onnx``), which a "Detection only" install
(no torch, so no export of its own) needs to run it. "Registering" a model (after fine-tuning, or
Import… in the Models dialog) copies these files into the registry folder, so the card keeps working
if the training output is moved or deleted, and optionally makes it the default model for detection.

A registered name is never taken over unasked: :func:`register_model` refuses a name in use
(:class:`ModelNameTaken`) unless told ``replace=True``, and even then never replaces the default model's
files unless the new model becomes the default too. :func:`free_model_name` proposes ``NAME-2``, ``NAME-3``….
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess  # nosec B404
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contract import engine_contract
from .events import engine_error_line
from .layer_sources import InputProblem
from .paths import engine_subprocess_env, partial_beside, resources_dir
from .settings import PluginSettings
from .translation import tr
from .wording import plugin_wording

BUNDLED_CARD_NAME = "default.json"


class ModelRegistryError(ValueError):
    """A model card cannot be imported or deleted; the message says why and what to do."""


class ModelNameTaken(ModelRegistryError):
    """A model of this name is registered already; it is replaced only when the caller asks (``replace=True``).

    Attributes:
        name: the registry name.
        card: the registered card of that name.
        is_default: whether it is the default model for detection (then only a new default may replace it).
    """

    def __init__(self, name: str, card: Path, is_default: bool) -> None:
        message = tr("a model named '{name}' is already registered; choose another name, or delete it in Models… first")
        super().__init__(message.format(name=name))
        self.name, self.card, self.is_default = name, card, is_default


@dataclass(frozen=True)
class ModelEntry:
    """One model card the user can pick."""

    card_path: Path
    name: str
    bundled: bool
    metadata: dict[str, Any]

    def describe(self) -> str:
        """Short text for lists: architecture, classes and validation score when the card has them."""
        meta = self.metadata
        build = meta.get("build") if isinstance(meta.get("build"), dict) else {}
        parts = [" ".join(str(v) for v in (meta.get("architecture", tr("model")), build.get("variant")) if v)]
        if isinstance(meta.get("classes"), list):
            parts.append("/".join(_class_names(meta)))
        miou = _find_miou(meta.get("metrics"))
        if miou is not None:
            parts.append(tr("validation mIoU {value} %").format(value=f"{miou:.1f}"))
        return ", ".join(parts)


def _class_names(metadata: dict[str, Any]) -> tuple[str, ...]:
    """Return the class names a card's metadata lists, in order (empty when it lists none)."""
    classes = metadata.get("classes")
    if not isinstance(classes, list):
        return ()
    return tuple(str(entry.get("name")) if isinstance(entry, dict) else str(entry) for entry in classes)


def _find_miou(metrics: Any) -> float | None:
    """Find the validation mIoU in a card's free-form metrics (``{"miou": x}`` or ``{"val": {"miou": x}}``)."""
    if not isinstance(metrics, dict):
        return None
    for candidate in (metrics, metrics.get("val"), metrics.get("validation")):
        if isinstance(candidate, dict) and isinstance(candidate.get("miou"), (int, float)):
            return float(candidate["miou"])
    return None


def bundled_model_path() -> Path | None:
    """Return the model card shipped with the plugin, if this build has one."""
    card = resources_dir() / "models" / BUNDLED_CARD_NAME
    return card if card.is_file() else None


def default_model_path(settings: PluginSettings) -> Path | None:
    """Return the default model card: the one chosen in Settings if it still exists, else the bundled one."""
    if settings.default_model and Path(settings.default_model).is_file():
        return Path(settings.default_model)
    return bundled_model_path()


def read_card(card_path: Path) -> dict[str, Any]:
    """Read the card's JSON metadata (no weights are loaded)."""
    try:
        data = json.loads(Path(card_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelRegistryError(
            tr("{path} is not a readable model card (JSON): {reason}").format(path=card_path, reason=error)
        ) from error
    if not isinstance(data, dict):
        raise ModelRegistryError(tr("{path} is not a model card: expected a JSON object").format(path=card_path))
    return data


def weights_path(card_path: Path) -> Path:
    """Return the weights file the engine loads for a card: ``NAME.safetensors`` beside ``NAME.json``.

    The card's ``weights.file`` is not read: it keeps the name the weights had when trained (the bundled
    card says ``model.safetensors``), and the engine ignores it (``engine.modelcard.card_paths``). Following
    it copied, checked or deleted another model's weights, and refused cards the engine loads.
    """
    return Path(card_path).with_suffix(".safetensors")


def onnx_export_path(card_path: Path) -> Path:
    """Return the ONNX export the engine looks for first: ``NAME.onnx`` beside ``NAME.json``.

    The engine uses it only when it was exported from the card's weights (it reads the weights' hash the
    export records), else it exports into its own cache where torch is installed.
    """
    return Path(card_path).with_suffix(".onnx")


def card_classes(card_path: Path) -> tuple[str, ...]:
    """Return the class names a card lists, in order: the bands of the probability raster its model writes.

    Empty when the card cannot be read or lists no classes (the engine then says what is wrong with it).
    """
    try:
        return _class_names(read_card(card_path))
    except ModelRegistryError:
        return ()


def is_model_card(metadata: dict[str, Any], settings: PluginSettings) -> bool:
    """Tell whether ``metadata`` (a JSON object, :func:`read_card`) is a DAKD model card.

    The registry folder may hold other JSON files (an analyst's own): only a card holds the ``format`` the
    engine requires (its contract's ``model_card_format``), and nothing else is listed, deleted or replaced. An
    engine older than that contract entry is answered by the plugin's own engine copy.
    """
    wanted = engine_contract(settings.engine_python).model_card_format or engine_contract().model_card_format
    return bool(wanted) and metadata.get("format") == wanted


def _holds_model_card(path: Path, settings: PluginSettings) -> bool:
    """Tell whether the file ``path`` is a readable DAKD model card (:func:`is_model_card`)."""
    try:
        return is_model_card(read_card(path), settings)
    except ModelRegistryError:
        return False


def list_models(settings: PluginSettings) -> list[ModelEntry]:
    """List the bundled card first, then the registered ones by name.

    Unreadable cards, and JSON files in the registry folder that are not model cards, are skipped.
    """
    entries = []
    bundled = bundled_model_path()
    if bundled is not None:
        entries.append(ModelEntry(bundled, tr("default (bundled)"), True, read_card(bundled)))
    for card in sorted(settings.models_dir(create=False).glob("*.json")):
        try:
            metadata = read_card(card)
        except ModelRegistryError:
            continue
        if is_model_card(metadata, settings):
            entries.append(ModelEntry(card, card.stem, False, metadata))
    return entries


def registered_card(settings: PluginSettings, name: str) -> Path | None:
    """Return the registered card of ``name`` if the name is in use (its card, weights or ONNX export exist), else None.

    A left-over ``NAME.onnx`` counts: registering ``NAME`` would replace or remove it, so it is done only when asked.
    """
    card = settings.models_dir(create=False) / f"{name}.json"
    in_use = (card, weights_path(card), onnx_export_path(card))
    return card if any(path.exists() for path in in_use) else None


def free_model_name(settings: PluginSettings, wanted: str, taken: Callable[[str], bool] | None = None) -> str:
    """Return ``wanted`` if no registered model has it (nor ``taken(name)`` says so), else ``wanted-2``, ``-3``, etc."""
    name, number = wanted, 1
    while registered_card(settings, name) is not None or (taken is not None and taken(name)):
        number += 1
        name = f"{wanted}-{number}"
    return name


def is_default_model(card_path: Path) -> bool:
    """Tell whether ``card_path`` is the default model for detection as stored now (not as a copy read earlier)."""
    default = PluginSettings.load().default_model
    return bool(default) and Path(default).resolve() == Path(card_path).resolve()


def validate_card(card_path: Path, python: str) -> None:
    """Check a card the way detection reads it (``dakd model info``): readable, and weights that match it.

    Runs in an engine child process like detection (see :mod:`dakd_qgis.detection`); takes a few
    seconds because the engine imports torch.

    Raises:
        ModelRegistryError: with the engine's one-line reason.
    """
    arguments = [python, "-m", "engine", "model", "info", str(card_path), "--json"]
    try:
        done = subprocess.run(
            arguments,
            capture_output=True,
            text=True,  # nosec B603
            encoding="utf-8",  # what the engine child writes (PYTHONIOENCODING), whatever the Windows code page
            errors="replace",
            env=engine_subprocess_env(python=python),
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelRegistryError(
            tr("cannot run the engine to check {path}: {reason}").format(path=card_path, reason=error)
        ) from error
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if engine_error_line(line)]
        reason = (errors or lines or [tr("exit code {code}").format(code=done.returncode)])[-1]
        raise ModelRegistryError(plugin_wording(reason))
    try:
        problem = json.loads(done.stdout).get("weights_problem")  # the engine's own rule (detection refuses them)
    except (ValueError, AttributeError):
        problem = None  # an engine older than the field: the file check below
    if problem:
        raise ModelRegistryError(plugin_wording(str(problem)))
    missing = missing_weights(card_path)
    if missing:
        raise ModelRegistryError(missing)


def missing_weights(card_path: Path) -> str | None:
    """Return why ``card_path`` cannot run because its weights file is not beside it, or None when it is there."""
    if weights_path(card_path).is_file():
        return None
    return tr("{path}: its weights file {weights} is missing; keep the .json and .safetensors files together").format(
        path=card_path, weights=weights_path(card_path).name
    )


def register_model(
    card_path: Path,
    settings: PluginSettings,
    name: str | None = None,
    make_default: bool = False,
    validate: bool = True,
    replace: bool = False,
) -> Path:
    """Copy a model card, its weights and its ONNX export (if it has one) into the registry; return the card's path.

    Args:
        card_path: the card to register (e.g. the output of ``dakd finetune``).
        settings: gives the registry folder: read them when registering (``PluginSettings.load()``), not
            before a long run; with ``make_default`` only their default model is written.
        name: registry name (file stem); defaults to the card's stem.
        make_default: also make it the default model for detection.
        validate: check the card with the engine first (skip only for a card the engine just wrote).
        replace: replace a registered model of the same name (the analyst agreed). The default model is
            replaced only when this one becomes the default too (``make_default``).

    Raises:
        ModelNameTaken: the name is registered and ``replace`` is not set.
        ModelRegistryError: the card is not valid, the name cannot be a file name, the name's ``.json`` in the
            registry folder is not a model card (an analyst's own file: never replaced), or the copy failed.

    Notes:
        Every file is written under a partial name of its own first; only when all are complete are they
        renamed into place, the card last, so a failed copy changes nothing and a half-copied model never
        shows up in the list. A replaced model's ONNX export goes with it when the new model has none
        (it was exported from the old weights).
    """
    card_path = Path(card_path)
    if validate:
        validate_card(card_path, settings.python_executable())
    elif missing_weights(card_path):
        raise ModelRegistryError(str(missing_weights(card_path)))
    stem = name or card_path.stem
    if not stem or any(char in stem for char in '/\\:*?"<>|'):
        raise ModelRegistryError(
            tr("'{name}' cannot be a model name: use letters, digits, '-' and '_'").format(name=stem)
        )
    try:
        target_card = settings.models_dir() / f"{stem}.json"
    except InputProblem as error:
        raise ModelRegistryError(str(error)) from error
    existing = registered_card(settings, stem)
    if existing is not None and existing.is_file() and not _holds_model_card(existing, settings):
        raise ModelRegistryError(
            tr("{path} is not a model card, and it is not replaced; give the model another name").format(path=existing)
        )
    if existing is not None:
        is_default = is_default_model(existing)
        if not replace:
            raise ModelNameTaken(stem, existing, is_default)
        if is_default and not make_default:
            raise ModelRegistryError(
                tr(
                    "'{name}' is the default model for detection: it is replaced only by a model that becomes the "
                    "default too"
                ).format(name=stem)
            )
    if card_path.resolve() != target_card.resolve():
        _copy_model(card_path, target_card)
    if make_default:
        settings.set_default_model(str(target_card))
    return target_card


def _copy_model(card_path: Path, target_card: Path) -> None:
    """Copy the card, its weights and its ONNX export (if any) to ``target_card``'s names, all or none of them."""
    metadata = read_card(card_path)
    target_weights = weights_path(target_card)
    metadata["weights"] = dict(metadata.get("weights") or {}, file=target_weights.name)
    sources = {target_weights: weights_path(card_path)}
    if onnx_export_path(card_path).is_file():
        sources[onnx_export_path(target_card)] = onnx_export_path(card_path)
    partials: dict[Path, Path] = {}  # target -> our own mkstemp name beside it, never a user's file
    try:
        for target in (*sources, target_card):
            if target.is_dir():  # found now, not when half the files are in place
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        for target, source in sources.items():
            partials[target] = partial_beside(target)
            shutil.copyfile(source, partials[target])
        partials[target_card] = partial_beside(target_card)
        partials[target_card].write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        # all complete: into place, the card last (a dict keeps its order)
        stale_onnx = onnx_export_path(target_card)
        if stale_onnx not in partials:  # the replaced model's export, from its weights: it would only warn
            stale_onnx.unlink(missing_ok=True)
        for target, partial in partials.items():
            partial.replace(target)
    except OSError as error:  # disk full, no permission: say so, and leave no half-copied files
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise ModelRegistryError(
            tr("cannot copy {name} into {folder} ({reason}); free disk space or check the folder").format(
                name=card_path.name, folder=target_card.parent, reason=error.strerror or error
            )
        ) from error


def delete_model(card_path: Path, settings: PluginSettings) -> None:
    """Delete a registered card and the files registering it copied (never the bundled one).

    The default model is reset if it was this one.

    Raises:
        ModelRegistryError: the card is not a registered one (or not a model card at all), or a file cannot be
            deleted.
    """
    card_path = Path(card_path)
    if card_path.resolve().parent != settings.models_dir(create=False).resolve():
        raise ModelRegistryError(
            tr("{path} is not a registered model (the bundled model cannot be deleted)").format(path=card_path)
        )
    if not _holds_model_card(card_path, settings):  # another JSON file in the folder: not the plugin's to delete
        raise ModelRegistryError(tr("{path} is not a model card; it is left as it is").format(path=card_path))
    try:
        card_path.unlink(missing_ok=True)  # first: a model whose other files cannot go is no longer listed
        for copied in (weights_path(card_path), onnx_export_path(card_path)):
            copied.unlink(missing_ok=True)
    except OSError as error:  # a registry on a read-only share, a file in use: say so, not a traceback
        raise ModelRegistryError(
            tr("cannot delete {name} from {folder} ({reason}); check that the folder can be written").format(
                name=card_path.stem, folder=card_path.parent, reason=error.strerror or error
            )
        ) from error
    if is_default_model(card_path):
        settings.set_default_model("")
