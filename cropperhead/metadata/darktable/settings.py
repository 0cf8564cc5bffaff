"""A darktable sidecar's crop as the project's crop record (the darktable reader).

:func:`read_darktable_settings` reads the history
(:mod:`~cropperhead.metadata.darktable.history`), decides which of its modules make the
crop and whether this reader can follow them (:func:`plan_stages`), and has
:mod:`~cropperhead.metadata.darktable.geometry` compose them into a
:class:`~cropperhead.geometry.Crop`. :func:`darktable_orientation` is the orientation
darktable shows the photo with, which the writer needs too.

Which modules count: the active instance of ``crop``, ``clipping`` and ``ashift`` (a
neutral ashift does not), and darktable's ``flip``. A params version this reader does not
know is skipped with a logged warning; when the skipped entry was the only crop-bearing
module, ``SkipError(UNSUPPORTED, ...)``. Several active instances of one of these
modules are UNSUPPORTED.

Perspective: ashift lens shift / shear / aspect and clipping keystone cannot be
expressed by a crop record. ``perspective="ignore"`` (default) keeps the rotation and the
crop box and drops the perspective (the box is taken relative to the unwarped, only
rotated image), logging it at INFO; ``perspective="skip"`` raises
``SkipError(UNSUPPORTED, ...)`` instead.

Modules that change the frame before a crop module in ways a crop record cannot follow
(``enlargecanvas``, ``rotatepixels``, ``scalepixels``) make the crop UNSUPPORTED; the
small scale change of lens correction is ignored.

Flags
-----
``has_settings``: the sidecar has a darktable history with at least one entry.
``has_crop``: an active crop-bearing module (crop, clipping, ashift) gives a crop that
is not the full frame with angle 0 (within 1e-6). ``orientation``: darktable's own
orientation when an active ``flip`` entry sets one (EXIF code), 1 when the flip module
is switched off in the history, else None (automatic). ``fields``: ``darktable:NAME``
values of the ``rdf:Description`` (attributes or simple elements) when asked; other
prefixes (e.g. ``crs:``) are ignored silently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cropperhead.geometry import Crop
from cropperhead.metadata.darktable.geometry import Perspective, Plan, check_arguments, compose
from cropperhead.metadata.darktable.history import DarktableHistory, HistoryEntry, parse_sidecar
from cropperhead.metadata.darktable.params import (
    AshiftParams,
    ClippingParams,
    FlipParams,
    ModuleParams,
)
from cropperhead.metadata.types import ORIGIN_DARKTABLE, UNSUPPORTED, DevelopSettings, SkipError

# The package's name, as before it was split: log lines show it ("WARNING
# cropperhead.metadata.darktable: ...") and a user's logging configuration names it.
logger = logging.getLogger("cropperhead.metadata.darktable")

__all__ = [
    "CROP_MODULES",
    "FRAME_CHANGERS",
    "darktable_orientation",
    "plan_stages",
    "read_darktable_settings",
]

#: Modules whose active state makes a crop.
CROP_MODULES = ("ashift", "clipping", "crop")
#: Modules that change the frame in ways a crop record cannot follow.
FRAME_CHANGERS = ("enlargecanvas", "rotatepixels", "scalepixels")


def read_darktable_settings(
    packet: bytes,
    fields: Sequence[str] = (),
    source: Path | None = None,
    *,
    image_size: tuple[float, float] | None = None,
    orientation: int | None = None,
    perspective: Perspective = "ignore",
) -> DevelopSettings:
    """Read a darktable sidecar's crop as the project's crop record.

    Args:
        packet: the sidecar's bytes.
        fields: ``darktable:NAME`` values of the ``rdf:Description`` to copy into
            ``fields`` (other prefixes are ignored).
        source: the sidecar's path, recorded in the result.
        image_size: the photo's ``(width, height)`` in the stored frame; needed for
            turned crops.
        orientation: the photo's EXIF orientation 1..8, used where darktable's
            orientation is automatic; needed when the crop passes through it.
        perspective: ``"ignore"`` keeps crop and angle of a perspective-corrected
            picture, ``"skip"`` refuses it (UNSUPPORTED).

    Returns:
        The settings, ``origin=ORIGIN_DARKTABLE``; ``crop_frame`` is ``"display"`` (after
        darktable's orientation) or ``"stored"`` (ashift alone).

    Raises:
        SkipError: BAD_METADATA (unsafe or malformed XML, broken history entries or
            params), UNSUPPORTED (unknown params versions, perspective with
            ``perspective="skip"``, a missing size or orientation the crop needs, turns
            beyond 45 degrees), INVALID_CROP (a crop outside the photo).
        ValueError: bad ``image_size``, ``orientation`` or ``perspective``.
    """
    check_arguments(image_size, orientation, perspective)
    if isinstance(fields, str):
        raise TypeError(f"fields must be a sequence of names, not the string {fields!r}")
    history, attributes = parse_sidecar(packet)
    wanted = {}
    for name in fields:
        if not isinstance(name, str):
            raise TypeError(f"field name must be a string, got {name!r}")
        prefix, _, local = name.partition(":")
        if prefix == "darktable" and local in attributes:
            wanted[name] = attributes[local]
    if history is None or not history.entries:
        return DevelopSettings(origin=ORIGIN_DARKTABLE, has_settings=False, fields=wanted,
                               source=source)  # fmt: skip
    plan = plan_stages(history, perspective)
    user_orientation = plan.flip_exif
    crop: Crop | None = None
    frame: Literal["stored", "display"] = "display"
    if any(name != "flip" for name, _ in plan.stages):
        crop, frame = compose(plan, image_size, orientation)
        if crop.is_full_frame():
            crop = None
    return DevelopSettings(
        origin=ORIGIN_DARKTABLE,
        has_settings=True,
        has_crop=crop is not None,
        crop=crop,
        crop_frame=frame,
        orientation=user_orientation,
        fields=wanted,
        source=source,
    )


def darktable_orientation(packet: bytes, orientation: int | None) -> int | None:
    """The EXIF orientation darktable shows the photo with: its flip step, else ``orientation``.

    Args:
        packet: the darktable sidecar.
        orientation: the photo's EXIF orientation (darktable's "automatic"), or None.

    Returns:
        The orientation, or None when it is automatic and ``orientation`` is None.

    Raises:
        SkipError: the history cannot be read (see :func:`read_darktable_settings`).
    """
    history, _attributes = parse_sidecar(packet)
    if history is None or not history.entries:
        return orientation
    plan = plan_stages(history, "ignore")
    if not plan.flip_known:
        raise SkipError(UNSUPPORTED, "darktable flip step of an unknown version")
    return plan.flip_exif if plan.flip_exif is not None else orientation


# --------------------------------------------------------------------------- plan


def plan_stages(history: DarktableHistory, perspective: Perspective) -> Plan:
    """What the history's active crop-bearing modules do, checked (see the module docstring).

    Raises:
        SkipError: UNSUPPORTED for several active instances of a module, only unknown
            params versions, a perspective with ``perspective="skip"``, or a frame
            change before a crop module; BAD_METADATA for broken params.
    """
    active = history.active()
    decoded, skipped = _decode_active(active)
    flip_exif, flip_known = _flip_orientation(history.instances(), decoded, skipped)
    crop_ops = _crop_modules(decoded, skipped)
    _check_perspective(decoded, crop_ops, perspective)
    order = history.pipe_order()
    _check_frame_changers(active, crop_ops, order)
    stages: list[tuple[str, ModuleParams | None]] = []
    for op in order:
        if op == "flip":
            stages.append(("flip", None))
        elif op in crop_ops:
            stages.append((op, decoded[op]))
    return Plan(stages=stages, flip_exif=flip_exif, flip_known=flip_known)


def _decode_active(
    active: dict[tuple[str, int], HistoryEntry],
) -> tuple[dict[str, ModuleParams], list[str]]:
    """The params of the active crop modules and flip, and the ``op vN`` of unknown ones."""
    decoded: dict[str, ModuleParams] = {}
    skipped: list[str] = []
    for op in (*CROP_MODULES, "flip"):
        entries = [e for (name, _mp), e in active.items() if name == op]
        if len(entries) > 1:
            raise SkipError(UNSUPPORTED, f"{len(entries)} active instances of darktable {op}")
        if not entries:
            continue
        entry = entries[0]
        params = entry.decode()
        if params is None:
            logger.warning(
                "darktable %s v%d (history entry %d) is not a known version; skipped",
                op, entry.modversion, entry.num,
            )  # fmt: skip
            skipped.append(f"{op} v{entry.modversion}")
            continue
        decoded[op] = params
    return decoded, skipped


def _flip_orientation(
    instances: dict[tuple[str, int], HistoryEntry],
    decoded: dict[str, ModuleParams],
    skipped: list[str],
) -> tuple[int | None, bool]:
    """Darktable's own orientation (None: automatic), and whether its flip step was read.

    The flip's last entry decides; switched off means no orientation at all.
    """
    flip_entries = [e for (name, _mp), e in instances.items() if name == "flip"]
    if flip_entries and not flip_entries[-1].enabled:
        return 1, True
    if "flip" in decoded:
        flip = decoded["flip"]
        return (flip.exif if isinstance(flip, FlipParams) else None), True
    if any(s.startswith("flip ") for s in skipped):
        return None, False
    return None, True


def _crop_modules(decoded: dict[str, ModuleParams], skipped: list[str]) -> list[str]:
    """The decoded crop-bearing modules that change the picture (a neutral ashift does not)."""
    crop_ops = [op for op in CROP_MODULES if op in decoded]
    if isinstance(decoded.get("ashift"), AshiftParams) and decoded["ashift"].is_neutral:
        crop_ops.remove("ashift")
    skipped_crops = [s for s in skipped if not s.startswith("flip ")]
    if skipped_crops and not crop_ops:
        raise SkipError(
            UNSUPPORTED, f"darktable {', '.join(skipped_crops)} is not a supported params version"
        )
    if skipped_crops:
        logger.warning("composing the darktable crop without %s", ", ".join(skipped_crops))
    return crop_ops


def _check_perspective(
    decoded: dict[str, ModuleParams], crop_ops: list[str], perspective: Perspective
) -> None:
    """Drop a perspective correction with a note, or refuse it (``perspective="skip"``)."""
    for op in crop_ops:
        params = decoded[op]
        warped = (isinstance(params, AshiftParams) and params.has_perspective) or (
            isinstance(params, ClippingParams) and params.keystone_applied
        )
        if warped:
            what = "lens shift/shear/aspect" if op == "ashift" else "keystone"
            if perspective == "skip":
                raise SkipError(UNSUPPORTED, f"darktable {op} {what} correction (perspective)")
            logger.info("darktable %s %s correction ignored: crop and angle kept", op, what)


def _check_frame_changers(
    active: dict[tuple[str, int], HistoryEntry], crop_ops: list[str], order: list[str]
) -> None:
    """Refuse a module that changes the frame before a crop module (module docstring)."""
    changers = [op for (op, _mp) in active if op in FRAME_CHANGERS]
    for changer in changers:
        later = [op for op in crop_ops if order.index(op) > order.index(changer)]
        if later:
            raise SkipError(
                UNSUPPORTED, f"darktable {changer} changes the frame before {', '.join(later)}"
            )
