"""The class scheme shared by the simulator, the data loaders, the detectors and the outputs.

Ids and colours follow the Oil Spill Detection (OSD) data set of Krestenitis et al. (2019), so that
OSD labels load unchanged and our outputs look like the paper's figures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegClass:
    """One segmentation class: its id in label rasters, a short name and an RGB colour."""

    id: int
    name: str
    rgb: tuple[int, int, int]


SEA = SegClass(0, "sea", (0, 0, 0))
OIL = SegClass(1, "oil", (0, 255, 255))
LOOKALIKE = SegClass(2, "look-alike", (255, 0, 0))
SHIP = SegClass(3, "ship", (153, 76, 0))
LAND = SegClass(4, "land", (0, 153, 0))

#: The five OSD classes, indexed by id.
OSD_CLASSES: tuple[SegClass, ...] = (SEA, OIL, LOOKALIKE, SHIP, LAND)
#: Binary oil / background, as in the SOS data set and the threshold detector.
BINARY_CLASSES: tuple[SegClass, ...] = (SEA, OIL)

#: Label value meaning "not labelled": ignored by losses and metrics.
IGNORE_INDEX = 255
#: Label value meaning "any class but oil": what binary labels (oil / background) and oil-only polygons
#: say about the background. A partial label: the losses maximise the summed probability of the classes
#: it allows (``engine.train.losses``) and the metrics score it as oil against the rest, never as sea.
NOT_OIL_INDEX = 254
#: The two classes of an oil-against-the-rest score (a five-class model folded, or binary labels).
NOT_OIL = SegClass(0, "not oil", (0, 0, 0))
OIL_VS_REST: tuple[SegClass, ...] = (NOT_OIL, OIL)
#: Classes that become polygons in the detection output (sea and land do not).
VECTOR_CLASS_NAMES: tuple[str, ...] = (OIL.name, LOOKALIKE.name, SHIP.name)

