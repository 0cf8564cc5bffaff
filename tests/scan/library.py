"""Build small photo libraries for the scan tests: tiny JPEGs, sidecars, embedded XMP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cropperhead.geometry import Crop, crop_stored_to_display, crop_to_corners, largest_crop
from cropperhead.scan.manifest import manifest_record
from cropperhead.scan.state import new_entry

BLUE = (20, 40, 200)
RED = (230, 20, 20)

#: The stored frame of the generated photos.
W, H = 64, 48
#: A turned crop that fits a 64 x 48 photo, as Lightroom stores it (6 decimals).
TURNED6 = Crop(*(round(v, 6) for v in largest_crop(W, H, 1.25, 4.0, center_px=(30, 26)).as_array()))
#: A plain crop.
PLAIN = Crop(0.1, 0.15, 0.85, 0.9, 0)


def check_label(
    line: dict[str, Any], crop_stored: Crop, width: int, height: int, orientation: int
) -> None:
    """Assert that a manifest line is ``crop_stored`` of a ``width x height`` file, shown."""
    expected = crop_stored_to_display(crop_stored, width, height, orientation)
    dw, dh = (width, height) if orientation < 5 else (height, width)
    assert (line["width"], line["height"]) == (dw, dh)
    got = Crop.from_dict(line["crop"])
    np.testing.assert_allclose(got.as_array(), expected.as_array(), atol=1e-6)
    # Corners poking out by less than the half-pixel slack are clipped into the frame.
    corners = np.clip(crop_to_corners(expected, dw, dh) / [dw, dh], 0, 1)
    np.testing.assert_allclose(line["corners"], corners, atol=1e-6)


def xmp_packet(
    crop: Crop | dict[str, Any] | None = None,
    *,
    has_crop: bool | None = None,
    applied: bool | None = False,
    has_settings: bool | None = None,
    orientation: int | None = None,
    form: str = "attr",
    extra: dict[str, str] | None = None,
) -> bytes:
    """A Lightroom-style XMP packet with crs:Crop* in attribute or element form.

    ``crop`` may be a dict of raw strings (e.g. ``{"CropLeft": "nan"}``) to write bad
    values. ``has_crop`` defaults to True when a crop is given.
    """
    props: dict[str, str] = {}
    if has_settings is not None:
        props["crs:HasSettings"] = str(has_settings)
    if crop is not None:
        if isinstance(crop, Crop):
            values = {
                "CropTop": crop.top,
                "CropLeft": crop.left,
                "CropBottom": crop.bottom,
                "CropRight": crop.right,
                "CropAngle": crop.angle,
            }
            props.update({f"crs:{k}": f"{v:.6f}" for k, v in values.items()})
        else:
            props.update({f"crs:{k}": str(v) for k, v in crop.items()})
        if has_crop is None:
            has_crop = True
    if has_crop is not None:
        props["crs:HasCrop"] = str(has_crop)
    if applied is not None:
        props["crs:AlreadyApplied"] = str(applied)
    if orientation is not None:
        props["tiff:Orientation"] = str(orientation)
    props.update(extra or {})
    ns = (
        'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
        'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    )
    if form == "attr":
        attrs = "\n    ".join(f'{k}="{v}"' for k, v in props.items())
        body = f'  <rdf:Description rdf:about="" {ns}\n    {attrs}/>'
    else:
        children = "\n".join(f"    <{k}>{v}</{k}>" for k, v in props.items())
        body = f'  <rdf:Description rdf:about="" {ns}>\n{children}\n  </rdf:Description>'
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.6-c011">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f"{body}\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def make_photo(
    path: Path,
    size: tuple[int, int] = (64, 48),
    *,
    orientation: int | None = None,
    xmp: bytes | None = None,
    mark: tuple[int, int, int, int] | None = None,
    fmt: str | None = None,
) -> Path:
    """Write a tiny blue photo (stored frame ``size``) with an optional red box ``mark``.

    Args:
        path: where to write it (JPEG or TIFF by extension, or ``fmt``).
        size: stored width and height.
        orientation: EXIF orientation tag to write.
        xmp: XMP packet to embed (JPEG APP1, TIFF tag 700).
        mark: ``(x0, y0, x1, y1)`` of a red box in stored pixels.
        fmt: Pillow format name, when the extension does not say.
    """
    image = Image.new("RGB", size, BLUE)
    if mark is not None:
        image.paste(RED, mark)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    fmt = fmt or ("TIFF" if path.suffix.lower() in (".tif", ".tiff") else "JPEG")
    if fmt == "JPEG":
        kwargs["quality"] = 95
        kwargs["subsampling"] = 0
        if orientation is not None:
            exif = Image.Exif()
            exif[0x0112] = orientation
            kwargs["exif"] = exif
        if xmp is not None:
            kwargs["xmp"] = xmp
    elif fmt == "TIFF":
        info: dict[int, Any] = {}
        if orientation is not None:
            info[0x0112] = orientation
        if xmp is not None:
            info[700] = xmp
        kwargs["tiffinfo"] = info
    image.save(path, format=fmt, **kwargs)
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_source(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Lines grouped by their ``source`` file name."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        grouped.setdefault(Path(line["source"]).name, []).append(line)
    return grouped


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Hash and mtime_ns of every file under ``folder`` (to prove nothing was written)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(folder))] = (digest, path.stat().st_mtime_ns)
    return found


#: The command line with a fault injected (see its docstring).
HOOKED_SCAN = Path(__file__).with_name("hooked_scan.py")


def run_cli(
    *args: str, env: dict[str, str] | None = None, kill_after: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cropperhead.cli`` in a subprocess.

    With ``kill_after``, run it through :data:`HOOKED_SCAN` instead, which sends the
    scanning process SIGKILL right after it journaled that many photos.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    command = [sys.executable, "-m", "cropperhead.cli"]
    if kill_after is not None:
        command = [sys.executable, str(HOOKED_SCAN), "--kill-after", str(kill_after)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def state_entry(i: int) -> dict[str, Any]:
    """A typical state entry: photo ``/photos/2024/p{i}.jpg`` with one sample."""
    line = manifest_record(
        f"images/p{i}_0123456789abcdef.jpg",
        f"/photos/2024/p{i}.jpg",
        6000,
        4000,
        {"left": 0.123456, "top": 0.234567, "right": 0.876543, "bottom": 0.912345, "angle": -1.5},
        [[0.1234567, 0.2345678], [0.8765432, 0.2234567], [0.8865432, 0.9123456], [0.13, 0.92]],
        "xmp-sidecar",
        {},
    )
    entry = new_entry(f"/photos/2024/p{i}.jpg", "photo", key=f"{i:064x}")
    entry["samples"].append(line)
    return entry
