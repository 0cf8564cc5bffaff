"""The labelling rules: what one metadata source means for one sample, and its label.

:func:`decide` applies the outcome rules of :mod:`cropperhead.scan` (no develop
settings, an export, no crop) to what the deciding source says; :func:`label_display`
checks the crop left over against the decoded frame and turns it into the display-frame
label that manifest.jsonl records (docs/interfaces.md). Both are pure, so that the
rules can be tested without a photo, and they are kept apart from the decoding and
file writing of :mod:`cropperhead.scan.photo`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cropperhead.geometry import (
    MIRRORED,
    Crop,
    corners_stored_to_display,
    crop_is_inside,
    crop_stored_to_display,
    crop_to_corners,
    display_size,
)
from cropperhead.metadata.types import (
    ALREADY_APPLIED,
    INVALID_CROP,
    NO_METADATA,
    UNCROPPED,
    DevelopSettings,
    SkipError,
)

#: Slack of the "crop inside the photo" check, in pixels of the full-resolution frame
#: (absorbs the six-decimal rounding of XMP).
INSIDE_TOLERANCE_PX = 0.5


@dataclass(frozen=True)
class Decision:
    """What one metadata source means for one sample.

    Either ``skip`` (reason, detail) is set, or ``crop`` is the label to check and
    convert (``frame`` says stored or display).
    """

    skip: tuple[str, str] | None = None
    crop: Crop | None = None
    frame: str = "stored"


def decide(settings: DevelopSettings, include_uncropped: bool) -> Decision:
    """Apply the outcome rules (no-metadata, already applied, uncropped) to settings.

    Args:
        settings: what the deciding metadata source says.
        include_uncropped: reviewed photos without a crop become full-frame samples.

    Returns:
        A skip, or a crop still to be checked against the decoded frame.
    """
    where = _describe(settings)
    if not settings.has_settings:
        return Decision(skip=(NO_METADATA, f"no develop settings in {where}"))
    if settings.already_applied:
        what = "its crop is" if settings.has_crop else "its develop settings are"
        return Decision(
            skip=(
                ALREADY_APPLIED,
                f"{where} says AlreadyApplied: an exported picture, {what} already in the pixels",
            )
        )
    crop = settings.crop if settings.has_crop else None
    if crop is None or crop.is_full_frame(tol=1e-6):
        if include_uncropped:
            return Decision(crop=Crop.full_frame(), frame="display")
        why = "no crop" if crop is None else "a full-frame crop with no angle"
        return Decision(skip=(UNCROPPED, f"{where} has develop settings but {why}"))
    return Decision(crop=crop, frame=settings.crop_frame)


def _describe(settings: DevelopSettings) -> str:
    name = settings.source.name if settings.source is not None else "the photo"
    if settings.copy_name:
        return f"{settings.origin} {name} (virtual copy {settings.copy_name!r})"
    return f"{settings.origin} {name}"


def label_display(
    decision: Decision, width_px: int, height_px: int, orientation: int
) -> tuple[Crop, np.ndarray]:
    """Check a decided crop against the full-resolution frame and move it to display.

    Args:
        decision: a decision with a crop (not a skip).
        width_px: full-resolution *stored* width W.
        height_px: full-resolution stored height H.
        orientation: EXIF orientation 1..8 of the display frame.

    Returns:
        ``(crop, corners)``: the display-frame crop and its ``[4, 2]`` corners
        normalised by the display size (TL, TR, BR, BL).

    Raises:
        SkipError: ``invalid-crop`` when the crop is not a rectangle inside the photo
            (half a pixel of slack).
    """
    crop = decision.crop
    if crop is None:
        raise ValueError("decision has no crop")
    dw, dh = display_size(width_px, height_px, orientation)
    if decision.frame == "display":
        if not crop_is_inside(crop, dw, dh, INSIDE_TOLERANCE_PX):
            raise SkipError(INVALID_CROP, _outside(crop, dw, dh, "display"))
        shown = crop
    else:
        if not crop_is_inside(crop, width_px, height_px, INSIDE_TOLERANCE_PX):
            raise SkipError(INVALID_CROP, _outside(crop, width_px, height_px, "stored"))
        try:
            shown = crop_stored_to_display(crop, width_px, height_px, orientation)
        except ValueError:
            # A turned crop whose corner pokes out by less than the slack: clip it in.
            pts = corners_stored_to_display(
                crop_to_corners(crop, width_px, height_px), width_px, height_px, orientation
            )
            pts = np.clip(pts, 0, [dw, dh])
            angle = -crop.angle if orientation in MIRRORED else crop.angle
            shown = Crop(pts[0, 0] / dw, pts[0, 1] / dh, pts[2, 0] / dw, pts[2, 1] / dh, angle)
    corners = np.clip(crop_to_corners(shown, dw, dh) / [dw, dh], 0.0, 1.0)
    return shown, corners


def _outside(crop: Crop, w: float, h: float, frame: str) -> str:
    return f"crop {crop.to_dict()} is not a rectangle inside the {w:g} x {h:g} {frame} frame"
