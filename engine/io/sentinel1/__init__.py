"""Sentinel-1 GRD products read directly: ``.SAFE`` folder, ``manifest.safe`` or the downloaded ``.zip``.

``open_product(path, pol="VV", geometry="utm")`` returns a :class:`~engine.io.scene.Scene` whose
windows are σ0 (linear), calibrated with the product's sigmaNought LUT, thermal noise removed, border
noise and DN 0 masked, and georeferenced from the product's GCPs (warped to UTM at 10 m, or kept in
the radar grid). ``engine.io.open_scene`` dispatches here when ``engine.io.is_sentinel1_path(path)``.

Modules: ``product`` (manifest, zip, product checks), ``annotation`` (XML), ``calibrate`` (LUT
interpolation, noise, border noise), ``geocode`` (GCP spline, UTM grid, warping), ``scene`` (the Scene).
"""

from engine.io.sentinel1.product import has_sentinel1_manifest
from engine.io.sentinel1.scene import GEOMETRIES, ProductOptions, Sentinel1Scene, open_product

__all__ = ["GEOMETRIES", "ProductOptions", "Sentinel1Scene", "has_sentinel1_manifest", "open_product"]
