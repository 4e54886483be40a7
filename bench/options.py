"""Command-line options that several bench scripts share, parsed in one place."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def prob_thresholds(parser: argparse.ArgumentParser, items: Iterable[str], models: Iterable[str]) -> dict[str, float]:
    """``--prob-threshold LABEL=P`` items as ``{label: P}``, as ``dakd detect --prob-threshold`` takes P.

    A malformed item, a P outside 0-1 or a LABEL that names no ``--model`` ends in ``parser.error`` (one line, exit 2),
    never a traceback.
    """
    thresholds: dict[str, float] = {}
    for item in items:
        label, _, value = item.partition("=")
        try:
            threshold = float(value)
        except ValueError:
            threshold = -1.0
        if not label or not 0.0 <= threshold <= 1.0:
            parser.error(f"--prob-threshold {item}: give LABEL=P with P between 0 and 1, e.g. p60=0.6")
        thresholds[label] = threshold
    unknown = sorted(set(thresholds) - set(models))
    if unknown:
        parser.error(f"--prob-threshold names no --model: {', '.join(unknown)}")
    return thresholds


def overlaps(parser: argparse.ArgumentParser, items: Iterable[str], models: Iterable[str]) -> dict[str, int]:
    """``--overlap LABEL=PX`` items as ``{label: PX}``, as ``dakd detect --overlap`` takes PX (0-128 on 256 px tiles).

    A malformed item or a LABEL that names no ``--model`` ends in ``parser.error`` (one line, exit 2).
    """
    chosen: dict[str, int] = {}
    for item in items:
        label, _, value = item.partition("=")
        if not label or not value.isdigit():
            parser.error(f"--overlap {item}: give LABEL=PX with PX a whole number of pixels, e.g. wide=128")
        chosen[label] = int(value)
    unknown = sorted(set(chosen) - set(models))
    if unknown:
        parser.error(f"--overlap names no --model: {', '.join(unknown)}")
    return chosen
