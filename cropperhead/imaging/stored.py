"""What a decode accepts and returns: the photo extensions, the pixel limit, StoredImage.

The extension sets are lower case with the dot; a file's extension is matched in any
case (``IMG_1.JPG``). A picture of more than :data:`MAX_PIXELS` pixels is refused
(:func:`check_pixels`, the decompression-bomb guard).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from PIL import Image

from cropperhead.metadata.types import UNREADABLE, SkipError

#: File extensions (lower case, with the dot) handed to LibRaw. Sigma's ``.x3f`` is listed
#: so that such files are reported as ``unsupported`` (rawpy's LibRaw is built without
#: Foveon support) instead of being silently ignored.
RAW_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".cs1", ".dc2",
        ".dcr", ".dcs", ".dng", ".drf", ".eip", ".erf", ".fff", ".gpr", ".iiq", ".k25",
        ".kdc", ".mdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef",
        ".ptx", ".pxn", ".qtk", ".raf", ".raw", ".rdc", ".rw2", ".rwl", ".rwz", ".sr2",
        ".srf", ".srw", ".sti", ".x3f",
    }
)  # fmt: skip

#: Whether the optional pillow-heif plugin is installed (HEIC/HEIF support).
HEIF_AVAILABLE: bool = importlib.util.find_spec("pillow_heif") is not None
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})

#: File extensions decoded with Pillow.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
) | (HEIF_EXTENSIONS if HEIF_AVAILABLE else frozenset())

#: Every extension :func:`~cropperhead.imaging.read_stored_image` accepts.
PHOTO_EXTENSIONS: frozenset[str] = RAW_EXTENSIONS | IMAGE_EXTENSIONS

#: Largest picture decoded, in pixels (stored frame; raws: the whole sensor): about
#: 179 MP, Pillow's own hard limit with its default ``Image.MAX_IMAGE_PIXELS`` (its
#: ``DecompressionBombError``, which the Pillow decoder also turns into a skip). Bigger files
#: are skipped as ``unreadable``; Pillow's warning between 89 and 179 MP is silenced.
MAX_PIXELS = 178_956_970


@dataclass(frozen=True)
class StoredImage:
    """A photo's pixels in its stored frame, with the full-resolution size they show.

    Attributes:
        image: 8-bit RGB pixels of the **stored** frame (no orientation applied),
            downscaled cheaply so that the long side is still ``>= min_long_side`` when
            the source is that big; its aspect is that of ``width x height``.
        width: full-resolution stored width of the frame crop fractions refer to (RAW: the
            frame a raw developer renders, the DNG default crop area).
        height: full-resolution stored height of that frame.
        exif_orientation: EXIF orientation 1..8 recorded by the file (LibRaw's for raws,
            pillow-heif's for HEIC), or None when the file records none.
        decoder: how the pixels were obtained: ``pillow``, ``pillow-draft``,
            ``pillow-heif``, ``raw-preview``, ``raw-half`` or ``raw-full``.
    """

    image: Image.Image
    width: int
    height: int
    exif_orientation: int | None
    decoder: str


def check_size(value: int, name: str) -> None:
    """Raise ``ValueError`` (naming ``name``) unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_pixels(width: int, height: int) -> None:
    """Raise ``SkipError(UNREADABLE)`` for a picture of more than :data:`MAX_PIXELS` pixels."""
    if width * height > MAX_PIXELS:
        raise SkipError(
            UNREADABLE,
            f"{width}x{height} is {width * height / 1e6:.0f} MP, over the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit (decompression-bomb guard)",
        )
