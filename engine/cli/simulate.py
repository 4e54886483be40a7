"""``dakd simulate`` and ``dakd simulate-tiles``: simulated Sentinel-1 scenes and tile data sets with labels.

Scene parameters come from, in increasing priority: the defaults of
:class:`engine.data.synth.SceneConfig`, a ``--config`` JSON file (a dict of its fields, or a scene
sidecar, whose ``config`` part is used), the dedicated options (``--wind``, ``--spills``...), and
``--set KEY=VALUE`` for any other field.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from engine.cli import bounded
from engine.cli.options import add_out_option, checked_db_range
from engine.errors import InputError
from engine.progress import Progress

#: Dedicated options -> SceneConfig fields; a single value N of a range option means (N, N).
_RANGE_OPTIONS = {
    "spills": "spills",
    "wind": "wind_speed_ms",
    "damping": "damping_db",
    "ships": "ships",
    "land_fraction": "land_fraction",
    "incidence": "incidence_deg",
}
_SCALAR_OPTIONS = {
    "land_probability": "land_probability",
    "orbit": "orbit_direction",
    "nodata_probability": "nodata_probability",
}


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _add_scene_options(parser: argparse.ArgumentParser, default_size: tuple[int, int]) -> None:
    parser.add_argument(
        "--size",
        nargs=2,
        type=int,
        metavar=("W", "H"),
        default=None,
        help=f"size in pixels, 10 m each (default: from --config, else {default_size[0]} {default_size[1]})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed; same seed, same pixels (default 0)"
    )
    parser.add_argument(
        "--config",
        metavar="JSON",
        default=None,
        help="scene parameters: a JSON dict of SceneConfig fields, or a *_scene.json sidecar",
    )
    parser.add_argument("--spills", nargs="+", type=int, metavar="N", help="number of oil spills: N or MIN MAX")
    parser.add_argument(
        "--wind",
        nargs="+",
        type=float,
        metavar="MS",
        help="scene-mean wind speed in m/s: V or MIN MAX (default 3.5 11)",
    )
    parser.add_argument(
        "--damping", nargs="+", type=float, metavar="DB", help="oil damping in dB: D or MIN MAX (default 3 10)"
    )
    parser.add_argument("--ships", nargs="+", type=int, metavar="N", help="free ships: N or MIN MAX (default 0 4)")
    parser.add_argument("--land-probability", type=float, metavar="P", help="chance of a coast (default 0.35)")
    parser.add_argument(
        "--land-fraction", nargs="+", type=float, metavar="F", help="land share if a coast: F or MIN MAX"
    )
    parser.add_argument(
        "--incidence",
        nargs=2,
        type=float,
        metavar=("NEAR", "FAR"),
        help="stretch this incidence range (deg) across the scene instead of the real IW geometry",
    )
    parser.add_argument(
        "--orbit", choices=("ascending", "descending", "random"), help="orbit direction (default random)"
    )
    parser.add_argument("--nodata-probability", type=float, metavar="P", help="chance of a nodata border wedge")
    parser.add_argument(
        "--set",
        dest="overrides",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any SceneConfig field, value in JSON (e.g. --set rain_cells=[1,1]); repeatable",
    )


def register(subparsers: Any) -> None:
    """Add ``simulate`` and ``simulate-tiles`` to the ``dakd`` parser."""
    simulate = subparsers.add_parser(
        "simulate",
        help="simulate a Sentinel-1 scene with oil spills and exact labels",
        description="Simulate a Sentinel-1 IW GRDH VV scene (CMOD5.N sea, oil, look-alikes, ships, land, speckle, "
        "thermal noise) and write <name>_scene.tif, <name>_labels.tif (OSD ids), <name>_scene.json "
        "(every parameter; reproducible from --seed) and <name>_quicklook.png into --out DIR.",
    )
    _add_scene_options(simulate, (1024, 1024))
    add_out_option(simulate, "DIR", "output folder (created if missing)", required=True)
    simulate.add_argument("--name", default="sim", help="file-name prefix (default sim)")
    simulate.add_argument("--units", choices=("db", "linear"), default="db", help="image units (default db)")
    simulate.add_argument(
        "--dtype",
        choices=("float32", "int16"),
        default="float32",
        help="image data type; int16 stores hundredths of dB (dB only, about half the size)",
    )
    simulate.add_argument("--polygons", action="store_true", help="also write <name>_labels.gpkg (class polygons)")
    simulate.add_argument("--no-quicklook", action="store_true", help="do not write the quick-look PNG")
    simulate.add_argument("--overwrite", action="store_true", help="replace existing files of the same names")
    simulate.set_defaults(func=run_simulate)

    tiles = subparsers.add_parser(
        "simulate-tiles",
        help="simulate a tile data set in the OSD or SOS layout",
        description="Simulate --count tiles (each its own scene) and write them as an OSD (images/, labels/, "
        "labels_1D/) or SOS (sat/, gt/) data set with dataset.json into a new --out DIR.",
    )
    _add_scene_options(tiles, (256, 256))
    tiles.add_argument("--count", type=int, required=True, metavar="N", help="number of tiles")
    tiles.add_argument("--format", choices=("osd", "sos"), required=True, help="folder layout")
    add_out_option(tiles, "DIR", "data-set folder to create", required=True)
    tiles.add_argument(
        "--db-range",
        nargs=2,
        type=bounded(float),  # finite: --db-range -35 inf wrote black images and a dataset.json with Infinity
        metavar=("LOW", "HIGH"),
        default=None,
        help="dB mapped to 0..255 in the 8-bit images (default -35 5)",
    )
    tiles.add_argument(
        "--median-px",
        type=int,
        default=0,
        metavar="K",
        help="median filter of K x K pixels before 8-bit mapping (OSD used 7; default 0 = none)",
    )
    tiles.add_argument("--overwrite", action="store_true", help="replace an existing data-set folder")
    tiles.set_defaults(func=run_simulate_tiles)


def scene_config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """Build the :class:`SceneConfig` from ``base``, ``--config``, the dedicated options and ``--set`` (validated).

    All values are merged first and validated once (so ``--set wind_limits_ms=...`` can widen the
    limits for ``--wind``); an invalid value is reported under the option that set it.
    """
    from engine.data.synth import SceneConfig

    values: dict[str, Any] = dict(base or {})
    origin: dict[str, str] = {}
    if args.config:
        from_file = _read_config_file(Path(args.config))
        values.update(from_file)
        origin.update({key: f"--config {args.config}" for key in from_file})
    changes: list[tuple[str, str, Any]] = []
    if args.size is not None:
        changes += [("--size", "width_px", args.size[0]), ("--size", "height_px", args.size[1])]
    for option, field_name in {**_RANGE_OPTIONS, **_SCALAR_OPTIONS}.items():
        value = getattr(args, option)
        if value is not None:
            value = _as_range(value, option) if option in _RANGE_OPTIONS else value
            changes.append(("--" + option.replace("_", "-"), field_name, value))
    changes += [(f"--set {key}", key, value) for key, value in args.overrides]
    for flag, field_name, value in changes:
        values[field_name] = value
        origin[field_name] = flag
    try:
        return SceneConfig.from_dict(values, source="scene parameters")
    except InputError as error:
        message = str(error)
        for field_name, flag in origin.items():
            prefixes = (f"scene parameters: {field_name} ", f"scene parameters: unknown key(s) {field_name}")
            for prefix in prefixes:
                if message.startswith(prefix):
                    raise InputError(flag + message[len("scene parameters") :]) from None
        raise


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(f"--config {path}: file not found") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"--config {path}: not a readable JSON file ({error})") from error
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # a scene sidecar
    if not isinstance(data, dict):
        raise InputError(f"--config {path}: expected a JSON object of scene parameters")
    return data


def _as_range(values: list[float] | list[int], option: str) -> list[Any]:
    if len(values) == 1:
        return [values[0], values[0]]
    if len(values) == 2:
        return list(values)
    raise InputError(f"--{option.replace('_', '-')} takes one value or MIN MAX, got {len(values)} values")


def _command_line(args: argparse.Namespace, command: str) -> str:
    """Rebuild a ``dakd`` command that reproduces the run (the effective options, in canonical order)."""
    parts = ["dakd", command, "--seed", str(args.seed)]
    if args.size is not None:
        parts += ["--size", str(args.size[0]), str(args.size[1])]
    if args.config:
        parts += ["--config", args.config]
    for option in (*_RANGE_OPTIONS, *_SCALAR_OPTIONS):
        value = getattr(args, option)
        if value is not None:
            flag = "--" + option.replace("_", "-")
            parts += [flag, *(str(v) for v in (value if isinstance(value, list) else [value]))]
    for key, value in args.overrides:
        parts += ["--set", f"{key}={json.dumps(value)}"]
    return " ".join(shlex.quote(p) for p in parts)


def run_simulate(args: argparse.Namespace, progress: Progress) -> int:
    """Simulate one scene and write its files; print what was written."""
    from engine.data.synth import simulate_scene
    from engine.data.synth.writers import check_outputs, output_paths, write_scene

    config = scene_config_from_args(args)
    check_outputs(
        output_paths(args.out, args.name, args.polygons, not args.no_quicklook), args.overwrite, [args.config]
    )
    scene = simulate_scene(config, args.seed, progress)
    command = (
        _command_line(args, "simulate")
        + f" --out {shlex.quote(args.out)} --name {shlex.quote(args.name)}"
        + f" --units {args.units} --dtype {args.dtype}"
        + (" --polygons" if args.polygons else "")
    )
    written = write_scene(
        scene,
        args.out,
        args.name,
        args.units,
        args.dtype,
        args.polygons,
        not args.no_quicklook,
        args.overwrite,
        command,
    )
    counts = scene.params["class_pixels"]
    total = max(1, scene.labels.size)
    if args.progress == "json":
        progress.emit(
            {
                "event": "done",
                "outputs": {k: str(p) for k, p in written.items()},
                "seed": args.seed,
                "class_pixels": counts,
            }
        )
    else:
        shares = ", ".join(f"{name} {100.0 * n / total:.1f}%" for name, n in counts.items())
        print(f"simulated {config.width_px}x{config.height_px} scene, seed {args.seed}: {shares}")
        for path in written.values():
            print(f"  {path}")
    return 0


def run_simulate_tiles(args: argparse.Namespace, progress: Progress) -> int:
    """Simulate a tile data set in the OSD or SOS layout."""
    from engine.data.osd import DEFAULT_DB_RANGE
    from engine.data.synth.tiles import SIMULATED_TILES, TILE_DEFAULTS, write_tiles
    from engine.io.atomic import check_output_dir

    config = scene_config_from_args(args, TILE_DEFAULTS)
    check_output_dir(args.out, args.overwrite, [args.config], SIMULATED_TILES)
    db_range = checked_db_range(args.db_range) if args.db_range else DEFAULT_DB_RANGE
    manifest = write_tiles(
        args.out,
        args.count,
        args.format,
        args.seed,
        config,
        db_range,
        args.median_px,
        args.overwrite,
        progress,
        [args.config],
    )
    if args.progress == "json":
        progress.emit({"event": "done", "out_dir": args.out, "count": manifest["count"], "format": args.format})
    else:
        print(
            f"wrote {manifest['count']} simulated {args.format.upper()} tiles of "
            f"{config.width_px}x{config.height_px} px to {args.out}"
        )
    return 0
