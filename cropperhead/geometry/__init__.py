"""Crop geometry: the one place that knows what a crop is.

``crop``: the record, corners, output size, inside check, largest crop.
``orientation``: stored frame <-> display frame for the eight EXIF orientations.
``metrics``: exact float64 IoU of turned crops, boundary displacement, angle error.
``boxes``: batched, differentiable torch versions for training (imports torch lazily:
import ``cropperhead.geometry.boxes`` yourself).
"""

from cropperhead.geometry.crop import (
    MAX_ANGLE_DEG,
    Crop,
    CropFrame,
    corners_to_crop,
    crop_is_inside,
    crop_output_size_px,
    crop_to_corners,
    crop_to_frame,
    frame_to_crop,
    largest_crop,
)
from cropperhead.geometry.metrics import angle_error_deg, boundary_displacement_error, rotated_iou
from cropperhead.geometry.orientation import (
    MIRRORED,
    ORIENTATIONS,
    check_orientation,
    corners_stored_to_display,
    crop_display_to_stored,
    crop_stored_to_display,
    display_size,
    points_display_to_stored,
    points_stored_to_display,
)

__all__ = [
    "MAX_ANGLE_DEG",
    "MIRRORED",
    "ORIENTATIONS",
    "Crop",
    "CropFrame",
    "angle_error_deg",
    "boundary_displacement_error",
    "check_orientation",
    "corners_stored_to_display",
    "corners_to_crop",
    "crop_display_to_stored",
    "crop_is_inside",
    "crop_output_size_px",
    "crop_stored_to_display",
    "crop_to_corners",
    "crop_to_frame",
    "display_size",
    "frame_to_crop",
    "largest_crop",
    "points_display_to_stored",
    "points_stored_to_display",
    "rotated_iou",
]
