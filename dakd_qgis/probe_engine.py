"""Report what the engine Python can import and which torch device it would use (Check dependencies…).

Run by the plugin as ``python probe_engine.py DEVICE NAME=MODULE ...`` with the engine's environment
(see ``dakd_qgis.paths.engine_subprocess_env``); prints one JSON object. Standard library only, so
it runs even when everything else is missing. Importing each package for real catches what
metadata cannot: a torch wheel for another CPU, a missing system library, a numpy ABI mismatch.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def probe(device: str, pairs: list[str]) -> dict:
    """Import each ``NAME=MODULE``, then ask ``engine.device.select_device(device)`` for the device and why."""
    packages = []
    for pair in pairs:
        name, _, module = pair.partition("=")
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        try:
            importlib.import_module(module or name)
            error = ""
        except Exception as failure:  # noqa: BLE001 - every failure is a finding to report
            error = _one_line(failure)
        packages.append({"name": name, "version": version, "error": error})
    try:
        if importlib.util.find_spec("torch") is None and device in ("auto", "cpu"):
            device_report = {"name": "cpu", "reason": "torch is not installed (detection only): the CPU"}
        else:
            from engine.device import select_device

            choice = select_device(device)
            device_report = {"name": choice.name, "reason": choice.reason}
    except Exception as failure:  # noqa: BLE001
        device_report = {"error": _one_line(failure)}
    try:  # the backend dakd detect --backend auto runs the model with, and why (engine.runtimes)
        from engine.runtimes import choose_backend

        backend = choose_backend("auto", device)
        backend_report = {"name": backend.backend, "reason": backend.reason}
    except Exception as failure:  # noqa: BLE001
        backend_report = {"error": _one_line(failure)}
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "packages": packages,
        "device": device_report,
        "backend": backend_report,
    }


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1] if len(sys.argv) > 1 else "auto", sys.argv[2:])))
