"""The Sentinel-1 scene simulator: physically based sea, oil, look-alikes, ships and land, with labels.

Public API::

    from engine.data.synth import SceneConfig, simulate_scene, write_scene
    from engine.data.synth.tiles import write_tiles

    scene = simulate_scene(SceneConfig(width_px=1024, height_px=1024), seed=7)
    scene.sigma0   # float32 linear σ0, 0 on nodata
    scene.labels   # uint8 OSD ids (0 sea, 1 oil, 2 look-alike, 3 ship, 4 land, 255 ignore/nodata)
    write_scene(scene, "out/", name="sim7")  # GeoTIFFs, JSON sidecar, quick-look (and a GeoPackage)
    write_tiles("tiles/", count=100, fmt="osd", seed=0, config=SceneConfig(width_px=256, height_px=256))

See docs/reference/simulator.md for what is and is not modelled.
"""

from engine.data.synth.cmod5n import cmod5n_sigma0
from engine.data.synth.config import SceneConfig
from engine.data.synth.scene import SimulatedScene, simulate_scene
from engine.data.synth.writers import write_scene

__all__ = ["SceneConfig", "SimulatedScene", "cmod5n_sigma0", "simulate_scene", "write_scene"]
