"""Writing a crop into a developed darktable history, keeping every other byte.

:func:`merge_crop_into_darktable` is the inverse of the reader
(:func:`~cropperhead.metadata.darktable.settings.read_darktable_settings`): it appends
steps to the history (:mod:`~cropperhead.metadata.darktable.history`) whose params
(:func:`~cropperhead.metadata.darktable.geometry.crop_to_darktable_params`,
:func:`~cropperhead.metadata.darktable.params.encode_module_params`) make the crop, and
reads the result back before returning it. The file is edited as bytes through the spans
:mod:`cropperhead.metadata.xml_spans` finds; writing the file is the caller's.

:func:`merge_crop_into_darktable` writes a crop into a developed history the way darktable
4.2's own modules hold one: a rotation step in ``ashift`` ("rotate and perspective") v5
with ``rotation`` = the stored-frame angle, no perspective and no automatic crop
(``cropmode`` 0, box 0..1), only when the crop is turned; then a ``crop`` v1 step with the
box as fractions of darktable's display frame (after its orientation: the history's flip,
or the photo's EXIF orientation when that is automatic), ratio 0:0 (freehand). It is the
exact inverse of the reader (round trip tested for all eight orientations, turned crops
included) and darktable-cli renders it as the project's geometry says
(tests/predict/test_darktable_cli.py).

Every other byte stays. The steps are appended after the last ``rdf:li`` of the history,
shaped like that entry (its attributes, order, quoting and indentation; ``multi_name``
empty, ``multi_priority`` 0, the ``blendop`` values of the history's ``flip`` step, which
never blends, else darktable 4.2's default), numbered from ``max(num) + 1``, and
``history_end`` moves past them. Other instances that would still crop or turn the
picture are switched off by appending a copy of their last step with ``enabled`` 0: every
``clipping`` instance, a rotation-only ``ashift`` when the new crop is not turned, and
instances other than the first of ``crop`` and ``ashift``. Nothing is deleted: the old
steps stay in the history, one click away in darktable.

Refused (``ValueError``, nothing changed): a sidecar that is not developed
(:func:`~cropperhead.metadata.darktable.history.is_developed`: darktable would import the
Lightroom sidecar instead), a history with undone steps
(``history_end`` below the number of entries: appending would redo them) or with
non-consecutive numbers, element-form entries, entry fields this writer does not know,
an ``xmp_version`` other than 4 or 5, a custom module order that leaves out ``crop`` or
``ashift``, an active ``ashift`` with a perspective correction or ``clipping`` with a
keystone (it cannot be kept under a new crop, nor dropped without losing it), a box
darktable's crop module would clamp (edges beyond 0.9 / 0.1), and any result that the
reader does not read back as the crop written (1e-4 of the frame, 1e-3 degrees).

Marker: the sidecar gets ``cropperhead:SidecarDigest`` (namespace
:data:`CROPPERHEAD_NS`) on its darktable ``rdf:Description``: the SHA-256 of the file with
that value left empty. :func:`written_by_cropperhead` is True only while the file is
byte for byte what CropperHead wrote: the history's crop is then an earlier prediction.
Any save by darktable re-serialises the file, and from then on its crop is the
photographer's, as for a Lightroom sidecar that an editor saved.

darktable's ``history_current_hash`` is left as it was: darktable recomputes it when the
photo is next edited; until then its lighttable may show the photo as not altered.
"""

from __future__ import annotations

import hashlib
import re
import xml.parsers.expat

import numpy as np

from cropperhead.geometry import Crop, crop_stored_to_display
from cropperhead.metadata.darktable.geometry import check_arguments, crop_to_darktable_params
from cropperhead.metadata.darktable.history import (
    DarktableHistory,
    HistoryEntry,
    is_developed,
    parse_sidecar,
)
from cropperhead.metadata.darktable.layout import (
    CROPPERHEAD_NS,
    MARK_NAME,
    HistoryLayout,
    Item,
    scan_history_layout,
)
from cropperhead.metadata.darktable.params import (
    AshiftParams,
    ClippingParams,
    CropParams,
    encode_module_params,
    encode_params,
)
from cropperhead.metadata.darktable.settings import darktable_orientation, read_darktable_settings
from cropperhead.metadata.types import SkipError
from cropperhead.metadata.xml_spans import Edit, apply_edits, attribute_insertion, start_tag_attrs

__all__ = [
    "CROPPERHEAD_NS",
    "DEFAULT_BLENDOP",
    "merge_crop_into_darktable",
    "written_by_cropperhead",
]

#: darktable 4.2's blend params of a module that does not blend (blendop_version 11).
DEFAULT_BLENDOP = ("11", "gz14eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfNoAAE8gGQg=")
_XMP_VERSIONS = (4, 5)
#: How closely the written history must read back as the crop written.
_READ_BACK_EDGE = 1e-4
_READ_BACK_ANGLE_DEG = 1e-3
_MARK_PREFIX = "cropperhead"
_MARK_RE = re.compile(rb"""\scropperhead:SidecarDigest\s*=\s*(["'])([0-9a-f]*)\1""")


def written_by_cropperhead(packet: bytes) -> bool:
    """True while a darktable sidecar is byte for byte what CropperHead last wrote.

    The marker ``cropperhead:SidecarDigest`` holds the SHA-256 of the file with the
    marker's value left empty; any other program saving the file breaks it.
    """
    if isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    if not isinstance(packet, bytes):
        return False
    marks = list(_MARK_RE.finditer(packet))
    if len(marks) != 1:
        return False
    mark = marks[0]
    blank = packet[: mark.start(2)] + packet[mark.end(2) :]
    return hashlib.sha256(blank).hexdigest().encode("ascii") == mark.group(2)


def _entry_text(data: bytes, template: Item, values: dict[str, str]) -> bytes:
    """``template``'s ``rdf:li`` with its darktable attribute values replaced."""
    missing = sorted(set(template.attrs) - set(values))
    if missing:
        raise ValueError(f"history entry field darktable:{missing[0]} is not known here")
    text = bytearray(data[template.start : template.end])
    for name, (a, b) in sorted(template.attrs.items(), key=lambda kv: -kv[1][0]):
        text[a - template.start : b - template.start] = values[name].encode("utf-8")
    return bytes(text)


def _raw_values(data: bytes, item: Item) -> dict[str, str]:
    return {name: data[a:b].decode("utf-8") for name, (a, b) in item.attrs.items()}


def _same_crop(got: Crop | None, want: Crop) -> bool:
    if got is None:
        return want.is_full_frame(tol=_READ_BACK_EDGE)
    edges = np.abs(got.as_array()[:4] - want.as_array()[:4]).max()
    return bool(edges <= _READ_BACK_EDGE and abs(got.angle - want.angle) <= _READ_BACK_ANGLE_DEG)


# --------------------------------------------------------------------------- merging


def merge_crop_into_darktable(
    packet: bytes,
    crop: Crop,
    image_size: tuple[float, float],
    orientation: int | None,
) -> bytes:
    """Append a crop (and a rotation) to a developed darktable history (module docstring).

    Args:
        packet: the darktable sidecar's bytes (UTF-8).
        crop: the crop in the **stored** frame, Lightroom's form (as for
            :func:`cropperhead.metadata.xmp.merge_crop_into_xmp`).
        image_size: the photo's stored ``(width, height)`` in pixels.
        orientation: the photo's EXIF orientation, used where darktable's orientation is
            automatic; None when unknown.

    Returns:
        The new sidecar bytes: every byte of ``packet`` kept, the steps inserted after the
        last history entry, ``history_end`` moved past them, the marker set.

    Raises:
        TypeError: ``crop`` is not a :class:`Crop`.
        ValueError: the sidecar cannot be edited safely or the crop cannot be expressed
            (one line saying why; see the module docstring's list).
    """
    data, history, attributes, shown_orientation = _developed_history(
        packet, crop, image_size, orientation
    )
    count, end = _check_history(history, attributes)
    if shown_orientation is None:
        raise ValueError(
            "darktable orients the photo automatically and its EXIF orientation is unknown"
        )
    width, height = float(image_size[0]), float(image_size[1])
    shown = crop_stored_to_display(crop, width, height, shown_orientation)
    ashift, box = crop_to_darktable_params(shown, (width, height), shown_orientation)
    if box.cx > 0.9 or box.cy > 0.9 or box.cw < 0.1 or box.ch < 0.1:
        raise ValueError(
            f"darktable's crop module would clamp the box {box.cx:.4f}, {box.cy:.4f}, "
            f"{box.cw:.4f}, {box.ch:.4f} (edges beyond 0.9 / 0.1)"
        )
    switch_off = _instances_to_switch_off(history, turned=ashift is not None)
    layout = _editable_layout(data, count)
    steps = _new_steps(data, layout, history, switch_off, (ashift, box))
    edits = _step_edits(data, layout, steps, end)
    merged = _set_mark(apply_edits(data, edits))
    _check_written(merged, shown, (width, height), orientation)
    return merged


def _developed_history(
    packet: bytes, crop: Crop, image_size: tuple[float, float], orientation: int | None
) -> tuple[bytes, DarktableHistory, dict[str, str], int | None]:
    """The sidecar's bytes, history, attributes and the orientation darktable shows.

    Raises:
        TypeError: a ``crop`` or ``packet`` of the wrong type.
        ValueError: bad arguments, an unreadable history, or a photo darktable has not
            developed.
    """
    if not isinstance(crop, Crop):
        raise TypeError(f"crop must be a Crop, got {crop!r}")
    check_arguments(image_size, orientation, "ignore")
    if not isinstance(packet, (bytes, bytearray)):
        raise TypeError(f"a darktable sidecar must be bytes, got {type(packet).__name__}")
    data = bytes(packet)
    try:
        history, attributes = parse_sidecar(data)
        shown_orientation = darktable_orientation(data, orientation)
    except SkipError as exc:
        raise ValueError(f"darktable history cannot be edited: {exc.detail}") from exc
    if history is None or not is_developed(data):
        raise ValueError(
            "darktable has not developed this photo yet (no applied history): it imports the "
            "Lightroom sidecar instead"
        )
    return data, history, attributes, shown_orientation


def _check_history(history: DarktableHistory, attributes: dict[str, str]) -> tuple[int, int]:
    """``(entries, history_end)`` of a history this writer can append to, else ``ValueError``."""
    version = attributes.get("xmp_version", "").strip()
    if not version.isdigit() or int(version) not in _XMP_VERSIONS:
        raise ValueError(f"darktable:xmp_version {version or 'absent'} is not edited (4 or 5)")
    count = len(history.entries)
    if sorted(e.num for e in history.entries) != list(range(count)):
        raise ValueError("darktable history entries are not numbered 0..n-1; not edited")
    end = history.history_end if history.history_end is not None else count
    if end < count:
        raise ValueError(
            f"darktable history has {count - end} undone step(s) above history_end; "
            "appending would redo them (compress or discard them in darktable first)"
        )
    if history.iop_order_list:
        listed = {op for op, _instance in history.iop_order_list}
        absent = [op for op in ("ashift", "crop") if op not in listed]
        if absent:
            raise ValueError(f"darktable's custom module order has no {', '.join(absent)}")
    return count, end


def _instances_to_switch_off(history: DarktableHistory, *, turned: bool) -> list[HistoryEntry]:
    """The active instances that would still crop or turn the picture under the new steps.

    Raises:
        ValueError: an active perspective correction (it can be neither kept nor dropped),
            or a first ashift of an unknown version.
    """
    active = history.active()
    first_ashift = active.get(("ashift", 0))
    if first_ashift is not None:
        params = first_ashift.decode()
        if not isinstance(params, AshiftParams):
            raise ValueError(f"darktable ashift v{first_ashift.modversion} is not a known version")
        if params.has_perspective:
            raise ValueError(
                "darktable's rotate and perspective module corrects the perspective: a new "
                "crop can neither keep nor drop it"
            )
    for (op, _priority), entry in active.items():
        params = entry.decode() if op == "clipping" else None
        if isinstance(params, ClippingParams) and params.keystone_applied:
            raise ValueError(
                "darktable's crop and rotate module corrects the perspective (keystone): a "
                "new crop can neither keep nor drop it"
            )
    switch_off = [
        e
        for (op, priority), e in active.items()
        if op == "clipping" or (op in ("crop", "ashift") and priority != 0)
    ]
    if not turned and first_ashift is not None:
        switch_off.append(first_ashift)
    return switch_off


def _editable_layout(data: bytes, count: int) -> HistoryLayout:
    """The byte layout of a history of ``count`` attribute-form entries, else ``ValueError``."""
    try:
        layout = scan_history_layout(data)
    except (xml.parsers.expat.ExpatError, ValueError) as exc:
        raise ValueError(f"darktable sidecar cannot be edited safely: {exc}") from exc
    if len(layout.items) != count or layout.desc is None or layout.history_end is None:
        raise ValueError("darktable history has a layout this writer does not edit")
    if any(item.foreign for item in layout.items):
        raise ValueError("darktable history entries in element form are not edited")
    return layout


def _new_steps(
    data: bytes,
    layout: HistoryLayout,
    history: DarktableHistory,
    switch_off: list[HistoryEntry],
    params: tuple[AshiftParams | None, CropParams],
) -> list[bytes]:
    """The ``rdf:li`` texts to append: the switched-off copies, then ashift and crop."""
    template = layout.items[-1]
    flips = [e for e in history.entries if e.operation == "flip"]
    blend = DEFAULT_BLENDOP
    if flips:
        raw = _raw_values(data, layout.items[flips[-1].index])
        if "blendop_version" in raw and "blendop_params" in raw:
            blend = (raw["blendop_version"], raw["blendop_params"])
    steps: list[bytes] = []
    num = len(history.entries)
    for entry in sorted(switch_off, key=lambda e: e.num):
        values = _raw_values(data, layout.items[entry.index]) | {"num": str(num), "enabled": "0"}
        steps.append(_entry_text(data, layout.items[entry.index], values))
        num += 1
    for step in params:
        if step is None:
            continue
        operation, modversion, blob = encode_module_params(step)
        values = {
            "num": str(num),
            "operation": operation,
            "enabled": "1",
            "modversion": str(modversion),
            "params": encode_params(blob),
            "multi_name": "",
            "multi_name_hand_edited": "0",
            "multi_priority": "0",
            "blendop_version": blend[0],
            "blendop_params": blend[1],
        }
        steps.append(_entry_text(data, template, values))
        num += 1
    return steps


def _step_edits(data: bytes, layout: HistoryLayout, steps: list[bytes], end: int) -> list[Edit]:
    """The splices: the steps after the last entry, ``history_end`` past them, the marker."""
    template = layout.items[-1]
    count = len(layout.items)
    before = layout.items[-2].end if count > 1 else layout.seq_tag_end
    gap = data[before : template.start]
    separator = gap if gap and not gap.strip() else b" "
    edits: list[Edit] = [(template.end, template.end, b"".join(separator + s for s in steps))]
    edits.append((*layout.history_end, str(end + len(steps)).encode()))
    if not layout.desc_has_mark:
        edits.append(_mark_insertion(data, layout))
    return edits


def _mark_insertion(data: bytes, layout: HistoryLayout) -> Edit:
    """The edit that adds an empty marker (and its namespace) to the history's description."""
    desc_start, desc_tag_end = layout.desc
    if layout.desc_scope.get(_MARK_PREFIX, CROPPERHEAD_NS) != CROPPERHEAD_NS:
        raise ValueError(f"prefix {_MARK_PREFIX!r} is bound to another namespace; not edited")
    spans = start_tag_attrs(data, desc_start, desc_tag_end).values()
    position, sep, quote = attribute_insertion(data, desc_start, desc_tag_end, spans)
    mark = f"{_MARK_PREFIX}:{MARK_NAME}={quote}{quote}"
    if layout.desc_scope.get(_MARK_PREFIX) != CROPPERHEAD_NS:
        mark = f"xmlns:{_MARK_PREFIX}={quote}{CROPPERHEAD_NS}{quote}{sep}{mark}"
    return position, position, (sep + mark).encode()


def _set_mark(data: bytes) -> bytes:
    marks = list(_MARK_RE.finditer(data))
    if len(marks) != 1:
        raise ValueError("the sidecar names cropperhead:SidecarDigest more than once; not edited")
    mark = marks[0]
    blank = data[: mark.start(2)] + data[mark.end(2) :]
    digest = hashlib.sha256(blank).hexdigest().encode("ascii")
    return data[: mark.start(2)] + digest + data[mark.end(2) :]


def _check_written(
    merged: bytes, want: Crop, image_size: tuple[float, float], orientation: int | None
) -> None:
    """The new history must read back as the crop written (never write what it is not)."""
    try:
        settings = read_darktable_settings(merged, image_size=image_size, orientation=orientation)
    except SkipError as exc:
        raise ValueError(f"the edited darktable history would not read back: {exc.detail}") from exc
    if settings.crop is not None and settings.crop_frame != "display":
        raise ValueError("the edited darktable history crops before its orientation; not edited")
    if not _same_crop(settings.crop, want):
        got = settings.crop.to_dict() if settings.crop is not None else "no crop"
        raise ValueError(f"the edited darktable history would read back as {got}; not edited")
