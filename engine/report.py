"""``report.html``: a one-page alert an analyst can read, print or forward without QGIS.

Operational services deliver each possible spill with its context (where, how large, how sure, the
wind, a possible source). The report puts a run's outputs in that form: the quick-look with numbered
polygons, a table of them, the scene, time, model and detector, and the caveats that decide how far
to trust it (what the model was trained on, whether land was masked, how the wind was estimated).

It is one self-contained HTML file: the quick-look is inlined as base64, there is no script, font or
style sheet to fetch, so it opens offline and survives being mailed. The print style fits A4: the
header and the image on the first page, the table (at most :data:`MAX_ROWS` rows) on the second.
It is written to a temporary name and renamed (:func:`engine.io.atomic.atomic_file`).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.io.atomic import atomic_file

#: Rows in the table at most (two A4 pages); the GeoPackage holds every polygon.
MAX_ROWS = 40
_STYLE = """
@page { size: A4; margin: 12mm; }
body { font: 10pt/1.35 sans-serif; color: #111; max-width: 190mm; margin: 0 auto; }
h1 { font-size: 15pt; margin: 0 0 2mm; } h2 { font-size: 11.5pt; margin: 4mm 0 1.5mm; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 1px 4px; text-align: left; vertical-align: top; }
th { background: #eee; } tr { page-break-inside: avoid; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0 4mm; margin: 0; }
dt { font-weight: bold; } dd { margin: 0; }
img { max-width: 100%; max-height: 125mm; display: block; margin: 2mm auto; border: 1px solid #888; }
.caveats li { margin-bottom: 1mm; } .muted { color: #555; }
.table-page { page-break-before: always; }
@media screen { .table-page { page-break-before: auto; } }
"""


def _e(value: Any) -> str:
    """Escaped text of a value; an em dash for missing values."""
    return "—" if value is None or value == "" else html.escape(str(value))


def _number(value: Any, digits: int) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def wind_text(props: dict[str, Any]) -> str:
    """``6.2 m/s`` (direction known), ``4.1–7.9 m/s`` (range over directions) or ``—``, with the flag."""
    speed, low, high = props.get("wind_speed_ms"), props.get("wind_speed_min_ms"), props.get("wind_speed_max_ms")
    if speed is not None:
        text = f"{speed:.1f} m/s"
    elif low is not None and high is not None:
        text = f"{low:.1f}–{high:.1f} m/s"
    else:
        return "—"
    flag = props.get("wind_flag")
    return html.escape(text + (f" ({flag})" if flag else ""))


def source_text(props: dict[str, Any]) -> str:
    """``ship #7, 1.2 km at 245°`` or ``—``."""
    if props.get("source_id") is None:
        return "—"
    return (
        f"ship #{int(props['source_id'])}, {_number(props.get('source_distance_km'), 2)} km at "
        f"{_number(props.get('source_bearing_deg'), 0)}°"
    )


def _rows(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Oil and look-alikes, then the ships named as a source; at most :data:`MAX_ROWS`, and how many were left out."""
    order: dict[str | None, int] = {"oil": 0, "look-alike": 1, "ship": 2}
    shown = [p for p in records if p.get("class") in ("oil", "look-alike") or p.get("near_spill_id") is not None]
    shown.sort(key=lambda p: (order.get(p.get("class"), 3), p.get("id", 0)))
    return shown[:MAX_ROWS], len(records) - min(len(shown), MAX_ROWS)


def _table(records: Sequence[dict[str, Any]]) -> str:
    rows, left_out = _rows(records)
    if not rows:
        return "<p>No oil or look-alike polygon above the size limits.</p>" + (
            f"<p class='muted'>{left_out} ship polygon(s) are in spills.gpkg.</p>" if left_out else ""
        )
    head = (
        "<tr><th>#</th><th>Class</th><th>Conf.</th><th>Area km²</th><th>Length km</th><th>Wind</th>"
        "<th>Possible source</th><th>Centroid lat, lon</th></tr>"
    )
    body = []
    for p in rows:
        centroid = "—" if p.get("centroid_lat") is None else f"{p['centroid_lat']:.4f}, {p['centroid_lon']:.4f}"
        body.append(
            f"<tr><td>{_e(p.get('id'))}</td><td>{_e(p.get('class'))}</td><td>{_e(p.get('confidence'))}</td>"
            f"<td>{_number(p.get('area_km2'), 3)}</td><td>{_number(p.get('length_km'), 2)}</td>"
            f"<td>{wind_text(p)}</td><td>{source_text(p)}</td><td>{centroid}</td></tr>"
        )
    more = (
        f"<p class='muted'>{left_out} more polygon(s) (ships, or rows beyond {MAX_ROWS}) are in spills.gpkg.</p>"
        if left_out
        else ""
    )
    return f"<table>{head}{''.join(body)}</table>{more}"


def _facts(summary: dict[str, Any]) -> str:
    scene = summary.get("input") or {}
    metadata = scene.get("metadata") or {}
    detector = summary.get("detector") or {}
    sensor = " ".join(str(metadata[k]) for k in ("platform", "mode", "product_type", "polarisation") if metadata.get(k))
    model = detector.get("model_id")
    facts = [
        ("Scene", scene.get("scene_id")),
        ("Acquired (UTC)", metadata.get("acquisition_start") or "not in the input's metadata"),
        ("Sensor", sensor or None),
        (
            "Size",
            f"{scene.get('width')} x {scene.get('height')} px, {scene.get('crs') or 'no CRS'}, pixel "
            f"{' x '.join(f'{v:g}' for v in scene.get('pixel_size_m') or [])} m",
        ),
        (
            "Detector",
            f"{detector.get('name')}"
            + (f" (model {model})" if model and detector.get("name") == "model" else "")
            + f" on {detector.get('device')}",
        ),
        ("Ships", detector.get("ships") or "none (this detector finds no ships)"),
        ("Run", f"{summary.get('run_time')}, engine {summary.get('engine_version')}"),
        ("Input", scene.get("path")),
    ]
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"


def _land_mask_text(summary: dict[str, Any]) -> str:
    """Say what masked land in this run, from the summary's ``land_mask`` record when there is one."""
    record = summary.get("land_mask")
    if isinstance(record, dict) and record.get("used") is False:
        reason = f" ({record['reason']})" if record.get("reason") else ""
        return f"No land mask was used{reason}: coasts, inland water and flooded land can come out as oil."
    if isinstance(record, dict) and record:
        return "Land mask: " + "; ".join(f"{k} {v}" for k, v in record.items() if v not in (None, "", True))
    if record:
        return f"Land mask: {record}"
    given = (summary.get("parameters") or {}).get("land_mask")
    if given:
        return f"Land mask: {given}."
    return "No land mask was used: coasts, inland water and flooded land can come out as oil."


def caveats(summary: dict[str, Any]) -> list[str]:
    """Return the sentences that decide how far to trust this run (plain text; the report escapes them)."""
    detector = summary.get("detector") or {}
    notes = []
    if detector.get("name") == "model":
        if detector.get("default_model"):
            notes.append(
                "The bundled model was trained on simulated Sentinel-1 scenes only; its results on real "
                "scenes are not validated (documentation: 'The model and its honest limits')."
            )
        else:
            notes.append(
                f"Model '{detector.get('model_id')}': its card lists the data it was trained on; judge "
                "its results by that."
            )
    else:
        notes.append(
            "The threshold detector (SNAP's rule) calls every dark patch oil: low-wind areas, natural films "
            "and rain cells come out as oil too; it finds no ships, so no source is searched."
        )
    notes.append(_land_mask_text(summary))
    wind = summary.get("wind") or {}
    notes.append(
        f"Wind: {wind.get('method') or 'not estimated'}. It is an estimate from the image itself "
        "(CMOD5.N), not a measurement."
    )
    sources = summary.get("sources") or {}
    if sources.get("method"):
        notes.append(f"Possible source: {sources['method']}; a ship near a slick is not proof that it discharged.")
    notes.append(
        "Confidence A = oil very likely, B = oil possible (CleanSeaNet's classes); every detection needs an "
        "analyst's check before it is reported."
    )
    return notes


def render_report(summary: dict[str, Any], records: Sequence[dict[str, Any]], quicklook_png: bytes | None) -> str:
    """Build the report's HTML from the run summary, the polygons' attributes and the quick-look PNG (None: none)."""
    scene = (summary.get("input") or {}).get("scene_id") or "scene"
    counts = summary.get("counts") or {}
    areas = summary.get("areas_km2") or {}
    found = (
        ", ".join(
            f"{n} {name} ({areas.get(name, 0.0):.2f} km²)" if name != "ship" else f"{n} {name}"
            for name, n in counts.items()
        )
        or "nothing"
    )
    image = (
        f"<img alt='Quick-look with numbered polygons' src='data:image/png;base64,"
        f"{base64.b64encode(quicklook_png).decode('ascii')}'>"
        if quicklook_png
        else "<p class='muted'>No quick-look image.</p>"
    )
    warnings = summary.get("warnings") or []
    warning_list = (
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>" if warnings else ""
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Oil spill report: {_e(scene)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Possible oil spills: {_e(scene)}</h1><p>Found: {_e(found)}.</p>{_facts(summary)}{image}"
        "<h2>Caveats</h2><ul class='caveats'>" + "".join(f"<li>{_e(c)}</li>" for c in caveats(summary)) + "</ul>"
        f"<div class='table-page'><h2>Polygons</h2>{_table(records)}{warning_list}"
        "<p class='muted'>Numbers are the polygons' id in spills.gpkg. Wind: one speed when the direction is known "
        "(--wind-dir), else the range over all directions. Source bearing: from the slick's end to the ship, "
        "degrees from north.</p></div></body></html>\n"
    )


def write_report(
    path: str | os.PathLike[str],
    summary: dict[str, Any],
    records: Sequence[dict[str, Any]],
    quicklook_path: str | os.PathLike[str] | None,
) -> Path:
    """Write ``report.html`` (see the module notes); returns its path.

    Args:
        path: the file to write (normally ``report.html`` inside the atomic output folder).
        summary: the run summary (``summary.json``'s content).
        records: the polygons' attributes, as written to ``spills.gpkg``.
        quicklook_path: the quick-look PNG to inline, or None.
    """
    png = Path(quicklook_path).read_bytes() if quicklook_path is not None and Path(quicklook_path).is_file() else None
    text = render_report(summary, records, png)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
