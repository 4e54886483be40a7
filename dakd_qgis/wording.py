"""The plugin's words for the engine's messages: parameter names instead of command-line flags.

The engine speaks to people at a terminal ("pass --band 1", "use --device auto", "press Ctrl-C
again"). Every engine message the plugin shows (errors, warnings, the log) goes through
:func:`plugin_wording`, which names the plugin's own parameter instead: "set “Band” to 1". This is the
one place that knows which flag is which parameter; a flag that has no parameter in the plugin is
called an engine setting.
"""

from __future__ import annotations

import functools
import re

from .contract import engine_contract
from .translation import tr

_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


@functools.lru_cache(maxsize=1)
def _set_flag_pattern() -> re.Pattern[str]:
    """Match "use --device auto", "pass --band" and the alternative in "use --device auto or --device cpu".

    A value after a flag is a number, a placeholder ("RASTER"), a ``KEY=VALUE`` or one of the engine's
    device, precision and data-format words (from its contract).
    """
    contract = engine_contract()
    words = sorted(
        {*contract.devices, *contract.values("precisions"), *contract.values("data_formats")}, key=len, reverse=True
    )
    value = r"(?:[0-9][^\s,;)]*|[A-Z][A-Z_|]*(?:=[A-Z_]+)?|[\w.-]+=[\w.-]+|" + "|".join(map(re.escape, words)) + ")"
    return re.compile(rf"\b(?:pass|use|set|give|try|(or))\s+--([a-z][a-z0-9-]*)(?:\s+({value})(?=[\s,;.)]|$))?")


def flag_labels() -> dict[str, str]:
    """Map each engine flag (without ``--``) to the label of the plugin parameter that sets it."""
    return {
        "band": tr("Band"),
        "pol": tr("Band"),  # a Sentinel-1 product's polarisation: the plugin passes "Band" as one
        "units": tr("Input units"),
        "model": tr("Model card"),
        "method": tr("Method"),
        "device": tr("Device"),
        "overlap": tr("Tile overlap"),
        "min-area-km2": tr("Minimum area"),
        "prob-threshold": tr("Probability threshold"),
        "batch-size": tr("Batch size"),
        "land-mask": tr("Land mask"),
        "land-buffer-m": tr("Shoreline buffer"),
        "aoi": tr("Area of interest"),
        "wind-dir": tr("Wind direction"),
        "out": tr("output"),
        "output": tr("Model card"),
        "name": tr("New model name"),
        "scene": tr("SAR rasters"),
        "labels": tr("Label polygons"),
        "layer": tr("Label polygons"),
        "class-field": tr("Class field"),
        "class-map": tr("Value mapping"),
        "dataset": tr("Data-set folder"),
        "data-format": tr("Data-set format"),
        "val-share": tr("Validation share"),
        "preset": tr("Preset"),
        "steps": tr("SAROSS-Net steps"),
        "segmenter-steps": tr("SAROSS-Net steps"),
        "jointnet-steps": tr("SAR-JointNet steps"),
        "aug-ratio": tr("Augmentation ratio"),
        "balance": tr("Balancing factor b"),
        "init": tr("Base model"),
    }


def _phrases() -> list[tuple[re.Pattern[str], str]]:
    """Whole phrases of the command line that mean something else in QGIS."""
    return [
        (re.compile(r"\s*\(press Ctrl-C again to abort at once\)"), ""),
        (
            re.compile(r"rerun with --debug and report it"),
            tr("please report it with the log (View ▸ Panels ▸ Log Messages)"),
        ),
        (re.compile(r"^dakd: (?:error: )?"), ""),
        # The end of a refused command line: the plugin built it, so the engine's help is no help to the analyst.
        (re.compile(r"\s*\(see dakd [\w -]*--help\)"), ""),
    ]


def _label(flag: str, labels: dict[str, str]) -> str:
    label = labels.get(flag)
    if label is None:
        return tr("the engine setting “{flag}”").format(flag=flag)
    return tr("“{label}”").format(label=label)


def plugin_wording(message: str) -> str:
    """Rewrite an engine message in the plugin's words: its parameter labels instead of flags.

    Examples: ``"check --band"`` -> ``"check “Band”"``, ``"pass --band 1"`` -> ``"set “Band” to 1"``,
    ``"use --device auto"`` -> ``"set “Device” to auto"``.
    """
    labels = flag_labels()
    for pattern, replacement in _phrases():
        message = pattern.sub(replacement, message)

    def set_flag(match: re.Match[str]) -> str:
        alternative, flag, value = match.groups()
        label = _label(flag, labels)
        if alternative and not value:
            return f"{alternative} {label}"
        words = (tr("set {parameter} to {value}") if value else tr("set {parameter}")).format(
            parameter=label, value=value
        )
        return f"{alternative} {words}" if alternative else words

    message = _set_flag_pattern().sub(set_flag, message)
    return _FLAG.sub(lambda match: _label(match.group(1), labels), message)
