"""The class scheme shared by the simulator, the data loaders, the detectors and the outputs.

Ids and colours follow the Oil Spill Detection (OSD) data set of Krestenitis et al. (2019), so that
OSD labels load unchanged and our outputs look like the paper's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.contract import (
    CLASS_NAMES,
    CLASS_RGB,
    IGNORE_INDEX,
    NOT_OIL_INDEX,
    THRESHOLD_CLASS_NAMES,
    VECTOR_CLASS_NAMES,
)


@dataclass(frozen=True)
class SegClass:
    """One segmentation class: its id in label rasters, a short name and an RGB colour."""

    id: int
    name: str
    rgb: tuple[int, int, int]


#: The five OSD classes, indexed by id (names and colours: :mod:`engine.contract`).
OSD_CLASSES: tuple[SegClass, ...] = tuple(
    SegClass(class_id, name, rgb) for class_id, (name, rgb) in enumerate(zip(CLASS_NAMES, CLASS_RGB))
)
SEA, OIL, LOOKALIKE, SHIP, LAND = OSD_CLASSES
#: Binary oil / background, as in the SOS data set and the threshold detector (names: :mod:`engine.contract`).
BINARY_CLASSES: tuple[SegClass, ...] = tuple(OSD_CLASSES[CLASS_NAMES.index(name)] for name in THRESHOLD_CLASS_NAMES)

# IGNORE_INDEX, the label value meaning "not labelled", is ignored by losses and metrics.
# NOT_OIL_INDEX, "any class but oil", is what binary labels (oil / background) and oil-only polygons
# say about the background. A partial label: the losses maximise the summed probability of the classes
# it allows (``engine.train.losses``) and the metrics score it as oil against the rest, never as sea.

#: The two classes of an oil-against-the-rest score (a five-class model folded, or binary labels).
NOT_OIL = SegClass(0, "not oil", (0, 0, 0))
OIL_VS_REST: tuple[SegClass, ...] = (NOT_OIL, OIL)

__all__ = [
    "BINARY_CLASSES",
    "IGNORE_INDEX",
    "LAND",
    "LOOKALIKE",
    "NOT_OIL",
    "NOT_OIL_INDEX",
    "OIL",
    "OIL_VS_REST",
    "OSD_CLASSES",
    "SEA",
    "SHIP",
    "VECTOR_CLASS_NAMES",
    "SegClass",
]
