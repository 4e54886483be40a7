"""Finding and reading a Sentinel-1 product as downloaded: a ``.SAFE`` folder, its manifest, or the ``.zip``.

A zipped product is read in place: XML members through :mod:`zipfile` (only the central directory
and the requested members are read) and the measurement TIFF through GDAL's ``/vsizip/``, which
seeks inside the archive. Nothing is unpacked to disk.

The manifest (``manifest.safe``) says what the product is (type, mode, platform, orbit, times, IPF
version) and where each polarisation's files are. Products the engine cannot use are refused here,
with the reason, before any pixel is read.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from engine.errors import InputError
from engine.io.sentinel1.annotation import ET, local_name, parse_xml

MANIFEST = "manifest.safe"

#: Acquisition modes whose GRD products the engine processes. EW (40 m, 5 sub-swaths, HH/HV over
#: sea ice), WV (vignettes) and SM are not handled: the detectors are trained on IW 10 m scenes.
SUPPORTED_MODES = ("IW",)

_WHY_NOT = {
    "SLC": "it is a Single Look Complex (SLC) product in slant range; download the GRD product of the "
    "same acquisition (product type GRD, e.g. S1A_IW_GRDH_...)",
    "OCN": "it is a Level-2 Ocean (OCN) product with wind/wave/current fields, no backscatter image; "
    "download the IW GRD product of the same acquisition",
    "RAW": "it is a Level-0 RAW product (unfocused echoes); download the IW GRD product of the same acquisition",
}

_POLARISATION_IN_NAME = re.compile(r"-(vv|vh|hh|hv)-")
_PRODUCT_NAME = re.compile(
    r"^(S1[A-D])_([A-Z0-9]{2})_([A-Z]{3})([A-Z_])_(\d)S([SDHV])([A-Z_])_"
    r"(\d{8}T\d{6})_(\d{8}T\d{6})_(\d{6})_([0-9A-F]{6})_([0-9A-F]{4})"
)


@dataclass(frozen=True)
class PolarisationFiles:
    """Paths (relative to the product root) of one polarisation's measurement and annotations."""

    polarisation: str
    measurement: str | None = None
    annotation: str | None = None
    calibration: str | None = None
    noise: str | None = None


@dataclass(frozen=True)
class ManifestInfo:
    """What ``manifest.safe`` says about the product."""

    product_type: str
    mode: str
    platform: str  # e.g. "Sentinel-1B"
    mission: str  # e.g. "S1B"
    polarisations: tuple[str, ...]
    start_time: str
    stop_time: str
    absolute_orbit: int | None
    relative_orbit: int | None
    pass_direction: str
    ipf_version: str  # e.g. "003.40"; "" when absent
    timeliness: str
    footprint_lonlat: tuple[tuple[float, float], ...]
    files: dict[str, PolarisationFiles] = field(default_factory=dict)

    @property
    def ipf(self) -> float:
        """The IPF version as a number (3.4 for "003.40"); 0.0 when the manifest does not say."""
        try:
            return float(self.ipf_version)
        except ValueError:
            return 0.0


class ProductLocation:
    """Where a product's files are: a folder on disk, or a folder inside a zip archive.

    Args:
        path: what the user gave (folder, ``manifest.safe`` or ``.zip``).
    """

    def __init__(self, path: str | Path) -> None:
        self.user_path = str(path)
        given = Path(path).expanduser()
        if not given.exists():
            raise InputError(f"{path}: no such file or folder")
        self.zip_path: Path | None = None
        self._zip: zipfile.ZipFile | None = None
        if given.is_dir():
            if not (given / MANIFEST).is_file():
                raise InputError(f"{path}: folder has no {MANIFEST}; give a Sentinel-1 .SAFE folder or its .zip")
            self.root = given.resolve()
            self.inner = ""
        elif given.name.lower() == MANIFEST:
            self.root = given.resolve().parent
            self.inner = ""
        elif zipfile.is_zipfile(given):
            self.zip_path = given.resolve()
            self._zip = zipfile.ZipFile(self.zip_path)
            self.inner = _manifest_folder_in_zip(self._zip, path)
            self.root = self.zip_path
        elif given.suffix.lower() == ".zip":  # a zip's directory sits at its end: a cut-off download has none
            raise InputError(f"{path}: is not a complete zip archive (an interrupted download?); download it again")
        else:
            raise InputError(f"{path}: not a Sentinel-1 product (expected a .SAFE folder, its {MANIFEST} or the .zip)")

    @property
    def name(self) -> str:
        """The product name (folder name without ``.SAFE``), used as the scene id."""
        folder = PurePosixPath(self.inner).name if self.zip_path is not None else self.root.name
        if not folder and self.zip_path is not None:
            folder = self.zip_path.stem
        return folder[:-5] if folder.upper().endswith(".SAFE") else folder

    def member(self, relative: str) -> str:
        """Return the archive member name (zip) for a manifest-relative path such as ``./annotation/x.xml``."""
        clean = _clean_relative(relative)
        if ".." in PurePosixPath(clean).parts or clean.startswith("/"):
            raise InputError(f"{self.user_path}: the manifest points outside the product ({relative}); refusing it")
        return f"{self.inner}/{clean}" if self.inner else clean

    def exists(self, relative: str) -> bool:
        """Tell whether the file named in the manifest is really there."""
        if self._zip is not None:
            try:
                self._zip.getinfo(self.member(relative))
            except KeyError:
                return False
            return True
        return (self.root / self.member(relative)).is_file()

    def read_bytes(self, relative: str) -> bytes:
        """Read one product file (from the folder or, in place, from the zip)."""
        try:
            if self._zip is not None:
                return self._zip.read(self.member(relative))
            return (self.root / self.member(relative)).read_bytes()
        except (KeyError, FileNotFoundError):
            raise InputError(
                f"{self.user_path}: {_clean_relative(relative)} is missing; the download is incomplete, "
                "download the product again"
            ) from None
        except (OSError, zipfile.BadZipFile) as error:
            raise InputError(f"{self.user_path}: cannot read {_clean_relative(relative)} ({error})") from None

    def gdal_path(self, relative: str) -> str:
        """Return the path GDAL/rasterio opens for a product file (``/vsizip/`` inside archives)."""
        if self.zip_path is not None:
            return f"/vsizip/{self.zip_path.as_posix()}/{self.member(relative)}"
        return (self.root / self.member(relative)).as_posix()

    def close(self) -> None:
        """Close the zip archive, if any."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def _clean_relative(relative: str) -> str:
    """``./annotation/x.xml`` -> ``annotation/x.xml`` (manifest hrefs start with ``./``)."""
    return relative[2:] if relative.startswith("./") else relative


def _manifest_folder_in_zip(archive: zipfile.ZipFile, user_path: str | Path) -> str:
    manifests = [name for name in archive.namelist() if PurePosixPath(name).name.lower() == MANIFEST]
    shallow = [name for name in manifests if len(PurePosixPath(name).parts) <= 2]
    if not shallow:
        raise InputError(
            f"{user_path}: the zip has no {MANIFEST} at its top level; it is not a Sentinel-1 product "
            "zip as downloaded from the Copernicus hubs"
        )
    if len(shallow) > 1:
        raise InputError(f"{user_path}: the zip holds {len(shallow)} products; give one product per zip")
    return str(PurePosixPath(shallow[0]).parent).strip(".")


def has_sentinel1_manifest(path: str | Path) -> bool:
    """Tell whether ``path`` looks like a Sentinel-1 product: a ``.SAFE`` folder, its manifest, or its zip.

    Cheap and never raises: it only looks for ``manifest.safe`` (in a zip, in the central directory).
    """
    try:
        given = Path(path).expanduser()
        if given.is_dir():
            return (given / MANIFEST).is_file()
        if given.name.lower() == MANIFEST:
            return given.is_file()
        if given.suffix.lower() == ".zip" and zipfile.is_zipfile(given):
            with zipfile.ZipFile(given) as archive:
                return any(
                    PurePosixPath(name).name.lower() == MANIFEST and len(PurePosixPath(name).parts) <= 2
                    for name in archive.namelist()
                )
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return False


def _first(root: ET.Element, name: str, **attrs: str) -> str:
    for node in root.iter():
        if local_name(node.tag) == name and all(node.get(k) == v for k, v in attrs.items()):
            return (node.text or "").strip()
    return ""


def _all(root: ET.Element, name: str) -> list[str]:
    return [(node.text or "").strip() for node in root.iter() if local_name(node.tag) == name]


def _ipf_version(root: ET.Element) -> str:
    for node in root.iter():
        if local_name(node.tag) == "software" and "IPF" in node.get("name", "").upper():
            return node.get("version", "")
    return ""


def _polarisation_of(href: str) -> str | None:
    # s1b-iw-grd-vv-2021...-001.tiff, calibration-s1b-iw-grd-vv-2021...-001.xml -> VV
    found = _POLARISATION_IN_NAME.search(PurePosixPath(href).name.lower())
    return found.group(1).upper() if found else None


def _files_by_polarisation(root: ET.Element) -> dict[str, PolarisationFiles]:
    roles = {
        "s1Level1MeasurementSchema": "measurement",
        "s1Level1ProductSchema": "annotation",
        "s1Level1CalibrationSchema": "calibration",
        "s1Level1NoiseSchema": "noise",
    }
    found: dict[str, dict[str, str]] = {}
    for node in root.iter():
        rep_id = node.get("repID", "")
        if local_name(node.tag) != "dataObject" or rep_id not in roles:
            continue
        href = next((loc.get("href") for loc in node.iter() if local_name(loc.tag) == "fileLocation"), None)
        pol = _polarisation_of(href) if href else None
        if href and pol:
            found.setdefault(pol, {})[roles[rep_id]] = href
    return {pol: PolarisationFiles(pol, **paths) for pol, paths in found.items()}


def parse_manifest(data: bytes, name: str, product_name: str = "") -> ManifestInfo:
    """Read the product facts and the per-polarisation file list from ``manifest.safe``."""
    root = parse_xml(data, name)
    if local_name(root.tag) != "XFDU":
        raise InputError(f"{name}: not a SAFE manifest (root <{local_name(root.tag)}>)")
    named = _PRODUCT_NAME.match(product_name)
    product_type = _first(root, "productType") or (named.group(3) if named else "")
    family, number = _first(root, "familyName"), _first(root, "number")
    mission = (named.group(1) if named else "") or ("S1" + number if number else "")
    footprint = []
    coordinates = _first(root, "coordinates")
    for pair in coordinates.split():
        lat, _, lon = pair.partition(",")
        try:
            footprint.append((float(lon), float(lat)))
        except ValueError:
            break

    def _int(text: str) -> int | None:
        return int(text) if text.strip().isdigit() else None

    return ManifestInfo(
        product_type=product_type.upper(),
        mode=(_first(root, "mode") or (named.group(2) if named else "")).upper(),
        platform=f"{family.title() if family else 'Sentinel-1'}{number}",
        mission=mission,
        polarisations=tuple(pol.upper() for pol in _all(root, "transmitterReceiverPolarisation")),
        start_time=_first(root, "startTime"),
        stop_time=_first(root, "stopTime"),
        absolute_orbit=_int(_first(root, "orbitNumber", type="start")),
        relative_orbit=_int(_first(root, "relativeOrbitNumber", type="start")),
        pass_direction=_first(root, "pass").upper(),
        ipf_version=_ipf_version(root),
        timeliness=_first(root, "productTimelinessCategory"),
        footprint_lonlat=tuple(footprint),
        files=_files_by_polarisation(root),
    )


def check_supported(manifest: ManifestInfo, path: str) -> None:
    """Refuse products the engine cannot calibrate, saying why and what to download instead."""
    kind = manifest.product_type
    if kind in _WHY_NOT:
        raise InputError(f"{path}: not usable, {_WHY_NOT[kind]}")
    if kind != "GRD":
        raise InputError(
            f"{path}: product type {kind or 'unknown'} is not handled; only Sentinel-1 IW GRD products "
            "are (GRDH, as downloaded from the Copernicus hubs)"
        )
    if manifest.mode not in SUPPORTED_MODES:
        why = {
            "EW": "Extra Wide (EW, 40 m) GRD products are not handled: the detectors are trained on IW 10 m "
            "scenes; use an IW GRDH product",
            "WV": "Wave mode (WV) products are small vignettes, not handled; use an IW GRDH product",
            "SM": "Stripmap (SM) GRD products are not handled; use an IW GRDH product",
        }
        default = f"mode {manifest.mode or 'unknown'} is not handled; use an IW GRDH product"
        raise InputError(f"{path}: {why.get(manifest.mode, default)}")


def choose_polarisation(manifest: ManifestInfo, location: ProductLocation, pol: str) -> PolarisationFiles:
    """Return the files of the requested polarisation, checked to be present in the product."""
    wanted = pol.upper()
    available = sorted(manifest.files)
    if wanted not in manifest.files:
        listed = ", ".join(available) or "none"
        if wanted in manifest.polarisations:
            hint = f"pass --pol {available[0]}" if available else "download the product again"
            raise InputError(
                f"{location.user_path}: the manifest lists {wanted} but names no {wanted} files "
                f"(incomplete product?); {hint}"
            )
        raise InputError(
            f"{location.user_path}: the product has no {wanted} band (it has: {listed}); "
            f"pass --pol {available[0] if available else 'VV'}"
        )
    files = manifest.files[wanted]
    for role in ("measurement", "annotation", "calibration", "noise"):
        relative = getattr(files, role)
        if relative is None:
            raise InputError(
                f"{location.user_path}: the manifest lists no {role} file for {wanted}; the product is incomplete"
            )
        if not location.exists(relative):
            others = [
                p
                for p in available
                if p != wanted
                and all(
                    getattr(manifest.files[p], r) and location.exists(getattr(manifest.files[p], r))
                    for r in ("measurement", "annotation", "calibration", "noise")
                )
            ]
            hint = f"pass --pol {others[0]}" if others else "download the product again"
            raise InputError(
                f"{location.user_path}: the {wanted} {role} file {_clean_relative(relative)} is missing "
                f"(incomplete download?); {hint}"
            )
    return files
