"""DAKD oil-spill engine: read SAR scenes, detect spills, train SAROSS-Net with DAKD.

The engine never imports QGIS; the plugin in ``dakd_qgis`` imports the engine.
"""

__version__ = "0.1.0"
