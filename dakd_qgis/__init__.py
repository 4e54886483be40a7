"""DAKD Oil Spill: a QGIS plugin that finds oil spills in Sentinel-1 SAR scenes.

QGIS imports this package for every enabled plugin when it starts, so nothing heavy is imported
here or in :mod:`dakd_qgis.plugin`. The engine (torch, rasterio...) never loads into QGIS at all:
detection and training run as ``python -m engine`` child processes.
"""


def classFactory(iface):  # noqa: N802 - the name QGIS looks for
    """Create the plugin object QGIS drives (``initGui``/``initProcessing``/``unload``)."""
    from .plugin import DakdPlugin

    return DakdPlugin(iface)
