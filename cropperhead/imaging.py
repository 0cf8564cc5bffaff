"""Decode photos into their stored frame, orient them, resize them, save them.

Lightroom's crop fractions refer to the **stored** frame: the pixels as they lie in the
file, before the EXIF orientation is applied (lightroom-crop.md). So decoding is split in
two steps: :func:`read_stored_image` returns the un-oriented pixels and the full-size
stored frame they show, and :func:`apply_orientation` turns them for display.

API::

    RAW_EXTENSIONS: frozenset[str]    # everything LibRaw reads (.cr2 .cr3 .nef .arw .dng ...)
    IMAGE_EXTENSIONS: frozenset[str]  # .jpg .jpeg .png .tif .tiff .webp (+ .heic .heif when
                                      # the optional pillow-heif package is importable)
    PHOTO_EXTENSIONS: frozenset[str]  # both

    read_stored_image(path, min_long_side) -> StoredImage
    apply_orientation(image, orientation) -> Image      # EXIF 1..8, stored -> display
    resize_long_side(image, size) -> Image              # Lanczos, never enlarges
    load_display_image(path, size, orientation=None) -> DisplayImage
    save_jpeg(image, path, quality=95) -> None          # atomic, 4:4:4

Extensions are matched case-insensitively (``IMG_1.JPG``). Bad input never raises
anything but :class:`~cropperhead.metadata.types.SkipError`: ``unreadable`` for empty,
truncated, corrupt or oversized files (more than :data:`MAX_PIXELS` pixels, the
decompression-bomb guard), ``unsupported`` for extensions outside
:data:`PHOTO_EXTENSIONS` and raws LibRaw does not know. The detail is one line.

How each kind of file is decoded (``StoredImage.decoder``):

- ``pillow-draft``: JPEGs bigger than needed are decoded at 1/2, 1/4 or 1/8 scale by
  libjpeg's DCT scaling (``Image.draft``), the smallest scale whose long side is still
  ``>= min_long_side``.
- ``pillow``: everything else Pillow reads (PNG, TIFF, WebP, small JPEGs), decoded in full,
  then shrunk by an integer factor with ``Image.reduce`` while the long side stays
  ``>= min_long_side``.
- ``pillow-heif``: HEIC/HEIF through pillow-heif (optional). libheif applies the file's
  irot/imir transforms and pillow-heif moves the EXIF orientation to
  ``info["original_orientation"]``; the stored frame is recovered by undoing that
  orientation, assuming (as the HEIF spec asks) that the transforms and EXIF agree.
- ``raw-preview``: the camera's embedded preview (rawpy ``extract_thumb``), used when it
  shows the same frame as the raw (aspect within :data:`PREVIEW_ASPECT_TOLERANCE` of the
  default-crop frame, and closer to it than to the uncropped sensor area) and its long
  side is ``>= min_long_side``. Previews are taken to lie in the file's stored
  orientation, like the raw: checked on the Pixel 7 DNG fixture (orientation 8, its
  510 x 382 preview is landscape like the raw) and on generated DNGs; assumed for the
  camera makers' own formats (embedded JPEGs there carry the orientation as a tag, not
  turned pixels). A preview whose aspect matches the turned frame is rejected, so a
  turned preview can only slip through for square frames or a half turn (orientation 3).
- ``raw-half`` / ``raw-full``: LibRaw ``postprocess(half_size=True, user_flip=0,
  use_camera_wb=True, output_bps=8)`` (full size when half is too small or the raw has no
  colour filter array), then cut to the default-crop frame: LibRaw (0.22) does not apply a
  DNG DefaultCrop when it renders, it only reports it (``sizes.crop_*``).

What Pillow does with orientation, and what this module undoes: Pillow 13 leaves JPEG,
PNG and WebP pixels as stored (the tag is only reported), but a TIFF's ``size`` is already
the turned size when it is opened, and ``load()`` turns its pixels by the Orientation tag
(or XMP ``tiff:Orientation``) and deletes the tag (``TiffImageFile.load_end`` calls
``ImageOps.exif_transpose``). :func:`read_stored_image` notes the orientation Pillow sees
before ``load()`` and, when Pillow consumed it, turns the pixels back; this also works
with older Pillow releases that do not turn TIFFs.

Colour: every result is 8-bit RGB. 16-bit images are scaled (not clipped) to 8 bits,
palette and alpha images are composited over white, CMYK is converted. When the file
carries an ICC profile that is not sRGB and Pillow's ImageCms (LittleCMS) is available,
the pixels are converted to sRGB (perceptual intent); without ImageCms, or when the
profile cannot be used, the pixels are kept as they are. Raw renders are sRGB already;
embedded previews are taken as sRGB. LAB and other exotic modes Pillow cannot convert
are skipped as ``unreadable``.

Threads: Pillow's warnings are caught with ``warnings.catch_warnings``, which is not
thread-safe; decode in worker processes, not threads.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image, UnidentifiedImageError

from cropperhead import files
from cropperhead.geometry.orientation import INVERSE, check_orientation, display_size
from cropperhead.metadata.exif import read_exif_orientation
from cropperhead.metadata.types import UNREADABLE, UNSUPPORTED, SkipError

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS
    ImageCms = None

logger = logging.getLogger(__name__)

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
_HEIF_EXTENSIONS = frozenset({".heic", ".heif"})

#: File extensions decoded with Pillow.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
) | (_HEIF_EXTENSIONS if HEIF_AVAILABLE else frozenset())

#: Every extension :func:`read_stored_image` accepts.
PHOTO_EXTENSIONS: frozenset[str] = RAW_EXTENSIONS | IMAGE_EXTENSIONS

#: Largest picture decoded, in pixels (stored frame; raws: the whole sensor): about
#: 179 MP, Pillow's own hard limit with its default ``Image.MAX_IMAGE_PIXELS`` (its
#: ``DecompressionBombError``, which this module also turns into a skip). Bigger files
#: are skipped as ``unreadable``; Pillow's warning between 89 and 179 MP is silenced.
MAX_PIXELS = 178_956_970

#: Relative aspect difference under which an embedded raw preview counts as showing the
#: raw's default-crop frame.
PREVIEW_ASPECT_TOLERANCE = 0.01
#: The JPEG comment of the images ``cropperhead scan`` writes: proof that one is ours.
SCAN_COMMENT = b"CropperHead scan image"

_PILLOW_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")  # JPEG includes MPO
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: LibRaw ``sizes.flip`` -> EXIF orientation (inverse of LibRaw's "50132467"[exif & 7]).
_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
_REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "I", "F"})
_WHITE = (255, 255, 255)
_heif_registered = False


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


@dataclass(frozen=True)
class DisplayImage:
    """A photo turned to its display frame and resized, as scan and predict use it.

    Attributes:
        image: 8-bit RGB pixels of the **display** frame, long side ``<= size``.
        width: display-frame width W' of the original, full resolution.
        height: display-frame height H' of the original, full resolution.
        orientation: the EXIF orientation 1..8 that was applied.
        decoder: see :attr:`StoredImage.decoder`.
    """

    image: Image.Image
    width: int
    height: int
    orientation: int
    decoder: str


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """Turn stored-frame pixels into the display frame.

    A stored point (x, y) of a W x H image lands where lightroom-crop.md's table (and
    :func:`cropperhead.geometry.points_stored_to_display`) puts it: 6 turns a quarter
    clockwise, 8 a quarter counter-clockwise, 3 a half turn, 2/4/5/7 are mirrored.

    Args:
        image: pixels in the stored frame, any mode.
        orientation: EXIF orientation 1..8.

    Returns:
        The display-frame image (H x W for 5..8); the image itself for orientation 1.

    Raises:
        ValueError: ``orientation`` is not 1..8.
    """
    method = _TRANSPOSE.get(check_orientation(orientation))
    return image if method is None else image.transpose(method)


def resize_long_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the long side is ``size`` pixels, keeping the aspect; never enlarge.

    Args:
        image: any image.
        size: target long side in pixels, >= 1.

    Returns:
        The resized image (Lanczos with ``reducing_gap=3``: a fast integer box reduction
        first when the factor is large, then an exact Lanczos resample), or the image
        itself when its long side is already ``<= size``.

    Raises:
        ValueError: ``size`` is not a positive integer.
    """
    _check_size(size, "size")
    width, height = image.size
    long_side = max(width, height)
    if long_side <= size:
        return image
    scale = size / long_side
    if width >= height:
        new_size = (size, max(1, round(height * scale)))
    else:
        new_size = (max(1, round(width * scale)), size)
    return image.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def read_stored_image(path: Path, min_long_side: int) -> StoredImage:
    """Decode a photo into its stored frame, as cheaply as ``min_long_side`` allows.

    Args:
        path: a file with an extension in :data:`PHOTO_EXTENSIONS` (any case).
        min_long_side: the long side the caller needs; the returned pixels are at least
            this big when the source is (JPEG draft, reduce, raw preview, half-size raw).

    Returns:
        The :class:`StoredImage`.

    Raises:
        SkipError: ``unsupported`` for an unknown extension, a HEIC without pillow-heif or
            a raw LibRaw does not know; ``unreadable`` for a missing, empty, truncated,
            corrupt or oversized file.
        ValueError: ``min_long_side`` is not a positive integer.
    """
    _check_size(min_long_side, "min_long_side")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PHOTO_EXTENSIONS:
        if suffix in _HEIF_EXTENSIONS:
            raise SkipError(UNSUPPORTED, f"{suffix} needs the optional pillow-heif package")
        raise SkipError(UNSUPPORTED, f"unsupported file type {suffix or path.name!r}")
    try:
        size_bytes = files.check_regular(path).st_size
    except files.NotRegularFileError as err:
        raise SkipError(UNREADABLE, f"{err.strerror}: not read") from err
    except OSError as err:
        raise SkipError(UNREADABLE, f"cannot open the file: {_one_line(err)}") from err
    if size_bytes == 0:
        raise SkipError(UNREADABLE, "empty file (0 bytes)")
    if suffix in RAW_EXTENSIONS:
        return _read_raw(path, min_long_side)
    return _read_with_pillow(path, min_long_side)


def load_display_image(path: Path, size: int, orientation: int | None = None) -> DisplayImage:
    """Decode a photo, turn it to its display frame and resize its long side to ``size``.

    Args:
        path: the photo (see :func:`read_stored_image`).
        size: long side of the returned image (never enlarged).
        orientation: EXIF orientation 1..8 to apply (the scan's choice: catalog, XMP,
            EXIF); None uses the file's own EXIF orientation, 1 when it has none.

    Returns:
        The :class:`DisplayImage`; its ``width`` x ``height`` is the display-frame size
        W' x H' of the full-resolution original.

    Raises:
        SkipError: as :func:`read_stored_image`.
        ValueError: ``size`` or ``orientation`` is invalid.
    """
    _check_size(size, "size")
    if orientation is not None:
        check_orientation(orientation)
    stored = read_stored_image(path, min_long_side=size)
    used = orientation if orientation is not None else (stored.exif_orientation or 1)
    return display_from_stored(stored, size, used)


def display_from_stored(stored: StoredImage, size: int, orientation: int) -> DisplayImage:
    """Turn a decoded stored frame to its display frame and resize its long side to ``size``.

    Args:
        stored: from :func:`read_stored_image`.
        size: long side of the returned image (never enlarged).
        orientation: EXIF orientation 1..8 to apply.

    Returns:
        The :class:`DisplayImage` (``width`` x ``height``: display size of the original).
    """
    check_orientation(orientation)
    image = apply_orientation(resize_long_side(stored.image, size), orientation)
    width, height = display_size(stored.width, stored.height, orientation)
    return DisplayImage(image, int(width), int(height), orientation, stored.decoder)


def save_jpeg(
    image: Image.Image, path: Path, quality: int = 95, comment: bytes | None = None
) -> None:
    """Write ``image`` as a baseline JPEG atomically (:func:`cropperhead.files.atomic_open`).

    No EXIF is written, so viewers show the pixels as they are. Chroma is not
    subsampled (4:4:4) to keep thin edges sharp at training resolution.

    Args:
        image: the picture; converted to RGB unless it is RGB or L.
        path: destination; its folder must exist. An existing file is replaced.
        quality: JPEG quality, 90..100.
        comment: a JPEG comment (COM segment) to write, e.g. :data:`SCAN_COMMENT`.

    Raises:
        ValueError: ``quality`` outside 90..100.
        OSError: the file cannot be written (the temporary file is removed).
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 90 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in 90..100, got {quality!r}")
    picture = image if image.mode in ("RGB", "L") else _to_rgb(image, None)
    extra = {"comment": comment} if comment else {}
    with files.atomic_open(path, "wb") as handle:
        picture.save(handle, format="JPEG", quality=quality, subsampling=0, **extra)


def is_scan_image(path: Path) -> bool:
    """Whether ``path`` is a JPEG that ``cropperhead scan`` wrote (its :data:`SCAN_COMMENT`)."""
    try:
        with files.open_regular(path) as handle, Image.open(handle, formats=("JPEG",)) as im:
            return im.info.get("comment") == SCAN_COMMENT
    except Exception:  # noqa: BLE001 - anything unreadable is not provably ours
        return False


def jpeg_is_complete(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts and ends like a whole JPEG.

    Cheap (two small reads): a JPEG cut short by a crash, a full disk or a copy that
    stopped has no end-of-image marker.
    """
    try:
        with files.open_regular(path) as handle:
            head = handle.read(3)
            size = os.fstat(handle.fileno()).st_size
            if size < 4 or head != b"\xff\xd8\xff":
                return False
            handle.seek(size - 2)
            return handle.read(2) == b"\xff\xd9"
    except OSError:
        return False


# --------------------------------------------------------------------------- Pillow


def _read_with_pillow(path: Path, min_long_side: int) -> StoredImage:
    Image.init()  # register every plugin, so that ``formats`` names only known ones
    formats = _PILLOW_FORMATS
    if path.suffix.lower() in _HEIF_EXTENSIONS:
        try:
            _register_heif()
        except Exception as err:  # installed but broken (a missing libheif, ...)
            raise SkipError(UNSUPPORTED, f"pillow-heif does not load: {_one_line(err)}") from err
        formats = ("HEIF",)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # bomb warnings, "Corrupt EXIF data", ...
            try:
                with Image.open(path, formats=formats) as opened:
                    return _decode_pillow(opened, path, min_long_side)
            finally:
                for warning in caught:
                    logger.debug("%s: Pillow warned: %s", path, warning.message)
    except SkipError:
        raise
    except Image.DecompressionBombError as err:
        raise SkipError(UNREADABLE, f"too many pixels: {_one_line(err)}") from err
    except UnidentifiedImageError as err:
        kinds = "/".join(f.lower() for f in formats)
        raise SkipError(UNREADABLE, f"not a {kinds} image that Pillow can identify") from err
    except Exception as err:  # Pillow raises many types on corrupt data; none may escape
        logger.debug("Pillow failed on %s", path, exc_info=True)
        raise SkipError(UNREADABLE, f"cannot decode: {_one_line(err)}") from err


def _decode_pillow(opened: Image.Image, path: Path, min_long_side: int) -> StoredImage:
    # Pillow >= 13 reports a TIFF's turned size here; only the decoded pixels are trusted.
    open_w, open_h = opened.size
    _check_pixels(open_w, open_h)
    if opened.format == "HEIF":
        return _decode_heif(opened, path, min_long_side)
    before = _pillow_orientation(opened)
    scale = 1
    if opened.format in ("JPEG", "MPO"):
        request = _draft_request(open_w, open_h, min_long_side)
        drafted = opened.draft("RGB", request) if request is not None else None
        if drafted is not None:
            scale = round(open_w / drafted[1][2])
    opened.load()
    image: Image.Image = opened
    if before in _TRANSPOSE and _pillow_orientation(opened) != before:
        # Pillow turned the pixels itself (TiffImagePlugin.load_end); turn them back.
        logger.debug("undoing orientation %d that Pillow applied to %s", before, path)
        image = apply_orientation(opened, INVERSE[before])
    width, height = _full_size(image.size, (open_w, open_h), scale)
    _check_tiff_size(opened, width, height)
    decoder = "pillow-draft" if scale > 1 else "pillow"
    image = _to_rgb(_reduce(image, min_long_side), opened.info.get("icc_profile"))
    if image is opened:
        image = opened.copy()  # the file is closed on return
    return StoredImage(image, width, height, read_exif_orientation(path), decoder)


def _full_size(decoded: tuple[int, int], opened: tuple[int, int], scale: int) -> tuple[int, int]:
    """Full-resolution stored size, from pixels decoded at 1/scale of the opened size."""
    if scale == 1:
        return decoded
    for width, height in (opened, opened[::-1]):
        if decoded == (-(-width // scale), -(-height // scale)):
            return width, height
    raise SkipError(
        UNREADABLE, f"decoded {decoded[0]}x{decoded[1]} does not fit {opened[0]}x{opened[1]}"
    )


def _decode_heif(opened: Image.Image, path: Path, min_long_side: int) -> StoredImage:
    original = opened.info.get("original_orientation")
    opened.load()
    image: Image.Image = opened
    if original in _TRANSPOSE:
        image = apply_orientation(opened, INVERSE[original])
    width, height = image.size
    image = _to_rgb(_reduce(image, min_long_side), opened.info.get("icc_profile"))
    if image is opened:
        image = opened.copy()
    if original in _TRANSPOSE:
        orientation: int | None = original
    else:  # pillow-heif reports None both for "1" and for "absent"; its EXIF says which
        orientation = 1 if _pillow_orientation(opened) is not None else None
    return StoredImage(image, width, height, orientation, "pillow-heif")


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _pillow_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not stop the decode
        logger.debug("unreadable EXIF block", exc_info=True)
        return None
    return value if isinstance(value, int) else None


def _check_tiff_size(opened: Image.Image, width: int, height: int) -> None:
    """Refuse a TIFF whose stored size disagrees with its tags (orientation mix-up)."""
    tags = getattr(opened, "tag_v2", None)
    if opened.format != "TIFF" or tags is None:
        return
    tagged = (tags.get(256), tags.get(257))
    if tagged != (width, height):
        raise SkipError(
            UNREADABLE,
            f"TIFF size {width}x{height} after orientation handling does not match its "
            f"tags {tagged[0]}x{tagged[1]}",
        )


def _draft_request(width: int, height: int, min_long_side: int) -> tuple[int, int] | None:
    """The size to ask ``Image.draft`` for, so that the long side stays >= min_long_side."""
    long_side = max(width, height)
    if long_side < 2 * min_long_side:
        return None
    scale = min_long_side / long_side
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _reduce(image: Image.Image, min_long_side: int) -> Image.Image:
    factor = max(image.size) // min_long_side
    if factor < 2 or image.mode not in _REDUCIBLE_MODES:
        return image
    return image.reduce(factor)


def _to_rgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """8-bit RGB: deep images scaled, alpha over white, ICC profiles converted to sRGB."""
    image = _to_8bit(image)
    if image.mode in ("P", "PA", "1"):
        image = image.convert("RGBA" if image.mode != "1" else "L")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc_profile:
        converted = _icc_to_srgb(image, icc_profile)
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        if mode == "I" and values.max(initial=0) <= 255:  # 8-bit data in 32-bit ints
            return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
        return Image.fromarray(np.round(np.clip(values, 0, 65535) / 257).astype(np.uint8))
    if mode == "F":
        values = np.asarray(image).astype(np.float64)
        if values.max(initial=0) <= 1.0:
            values = values * 255
        return Image.fromarray(np.round(np.clip(values, 0, 255)).astype(np.uint8))
    return image


def _icc_to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    if ImageCms is None:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "srgb" in ImageCms.getProfileDescription(source).lower() and image.mode == "RGB":
            return None  # already sRGB
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except Exception as err:  # a broken or mismatched profile: keep the pixels
        logger.debug("ICC profile not applied: %s", _one_line(err))
        return None


# --------------------------------------------------------------------------- RAW


def _read_raw(path: Path, min_long_side: int) -> StoredImage:
    try:
        with rawpy.imread(str(path)) as raw:
            return _decode_raw(raw, path, min_long_side)
    except SkipError:
        raise
    except rawpy.LibRawFileUnsupportedError as err:
        version = ".".join(map(str, rawpy.libraw_version))
        if path.suffix.lower() == ".dng":  # LibRaw reads every valid DNG: this one is broken
            raise SkipError(UNREADABLE, f"LibRaw {version} cannot parse this DNG") from err
        raise SkipError(
            UNSUPPORTED,
            f"LibRaw {version} does not recognise this file (a camera newer than LibRaw, "
            "or a damaged file)",
        ) from err
    except Exception as err:  # LibRaw I/O and data errors, MemoryError, ...
        logger.debug("LibRaw failed on %s", path, exc_info=True)
        raise SkipError(UNREADABLE, f"cannot decode raw: {_one_line(err)}") from err


def _decode_raw(raw: rawpy.RawPy, path: Path, min_long_side: int) -> StoredImage:
    sizes = raw.sizes
    _check_pixels(sizes.raw_width, sizes.raw_height)
    if sizes.width <= 0 or sizes.height <= 0:
        raise SkipError(UNREADABLE, f"LibRaw reports an empty image {sizes.width}x{sizes.height}")
    left, top, crop_w, crop_h = _raw_frame(sizes)
    frame_w, frame_h = _stretched(crop_w, crop_h, sizes.pixel_aspect)
    visible_w, visible_h = _stretched(sizes.width, sizes.height, sizes.pixel_aspect)
    orientation = _raw_orientation(sizes.flip, path)
    needed = min(min_long_side, max(frame_w, frame_h))

    preview = _raw_preview(raw, (frame_w, frame_h), (visible_w, visible_h), needed, path)
    if preview is not None:
        return StoredImage(preview, frame_w, frame_h, orientation, "raw-preview")

    params = {"user_flip": 0, "use_camera_wb": True, "output_bps": 8}
    rgb = raw.postprocess(half_size=True, **params)
    decoder = "raw-half" if rgb.shape[1] * 4 < sizes.width * 3 else "raw-full"
    image = _cut_frame(rgb, sizes, (left, top, crop_w, crop_h))
    if max(image.size) < needed and decoder == "raw-half":
        rgb = raw.postprocess(**params)
        decoder = "raw-full"
        image = _cut_frame(rgb, sizes, (left, top, crop_w, crop_h))
    return StoredImage(_reduce(image, min_long_side), frame_w, frame_h, orientation, decoder)


def _raw_frame(sizes: rawpy._rawpy.ImageSizes) -> tuple[int, int, int, int]:
    """The default-crop frame (left, top, width, height) inside LibRaw's visible area."""
    crop_w, crop_h = sizes.crop_width, sizes.crop_height
    if crop_w > 0 and crop_h > 0:
        # raw_inset_crops[0] is in raw coordinates, the render starts at the margins.
        left = sizes.crop_left_margin - sizes.left_margin
        top = sizes.crop_top_margin - sizes.top_margin
        inside = left >= 0 and top >= 0 and left + crop_w <= sizes.width
        inside = inside and top + crop_h <= sizes.height
        # LibRaw's own sanity rule (adjust_to_raw_inset_crop, maxcrop 0.55).
        if inside and crop_w >= 0.55 * sizes.width and crop_h >= 0.55 * sizes.height:
            return left, top, crop_w, crop_h
        logger.debug("ignoring implausible raw crop %s", sizes)
    return 0, 0, sizes.width, sizes.height


def _stretched(width: int, height: int, pixel_aspect: float) -> tuple[int, int]:
    """Size after LibRaw's non-square-pixel stretch (it widens or heightens, never shrinks)."""
    if pixel_aspect > 1.0001:
        return round(width * pixel_aspect), height
    if 0 < pixel_aspect < 0.9999:
        return width, round(height / pixel_aspect)
    return width, height


def _raw_orientation(flip: int, path: Path) -> int | None:
    exif = read_exif_orientation(path)
    libraw = _LIBRAW_FLIP_TO_EXIF.get(flip)
    if libraw is None or (flip == 0 and exif is None):
        return exif
    if exif is not None and exif != libraw:
        logger.debug("%s: LibRaw orientation %d overrides EXIF %d", path, libraw, exif)
    return libraw


def _cut_frame(
    rgb: np.ndarray, sizes: rawpy._rawpy.ImageSizes, frame: tuple[int, int, int, int]
) -> Image.Image:
    """Cut the frame out of a render of the visible area (any scale, even anisotropic)."""
    out_h, out_w = rgb.shape[:2]
    left, top, width, height = frame
    sx, sy = out_w / sizes.width, out_h / sizes.height
    x0, y0 = round(left * sx), round(top * sy)
    x1 = min(out_w, max(x0 + 1, round((left + width) * sx)))
    y1 = min(out_h, max(y0 + 1, round((top + height) * sy)))
    return Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1, :3]))


def _preview_covers_frame(
    preview_size: tuple[int, int],
    frame_size: tuple[int, int],
    visible_size: tuple[int, int],
    tolerance: float = PREVIEW_ASPECT_TOLERANCE,
) -> bool:
    """Whether a preview of ``preview_size`` shows the raw's default-crop frame.

    Args:
        preview_size: the preview's (width, height) as stored.
        frame_size: the default-crop frame (width, height), stored orientation.
        visible_size: LibRaw's whole visible area (width, height), stored orientation.
        tolerance: largest relative aspect difference accepted.

    Returns:
        True when the aspects agree within ``tolerance`` and the preview is not closer
        to the uncropped area than to the frame. A preview stored turned (aspect of
        the transposed frame) fails unless the frame is nearly square.
    """
    (pw, ph), (fw, fh), (vw, vh) = preview_size, frame_size, visible_size
    if min(pw, ph, fw, fh, vw, vh) <= 0:
        return False
    aspect = pw / ph
    off_frame = abs(aspect / (fw / fh) - 1)
    if off_frame > tolerance:
        return False
    return (vw, vh) == (fw, fh) or off_frame <= abs(aspect / (vw / vh) - 1)


def _raw_preview(
    raw: rawpy.RawPy,
    frame_size: tuple[int, int],
    visible_size: tuple[int, int],
    needed: int,
    path: Path,
) -> Image.Image | None:
    """The embedded preview as RGB when it shows the frame and is big enough, else None."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError) as err:
        logger.debug("%s: no usable preview (%s)", path, type(err).__name__)
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opened = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
            size = opened.size
        elif thumb.format == rawpy.ThumbFormat.BITMAP:
            opened = None
            size = (thumb.data.shape[1], thumb.data.shape[0])
        else:
            return None
        if not _preview_covers_frame(size, frame_size, visible_size):
            logger.debug("%s: preview %s does not show frame %s", path, size, frame_size)
            return None
        if max(size) < needed:
            return None
        if opened is None:
            pixels = np.asarray(thumb.data)
            if pixels.dtype == np.uint16:
                pixels = (pixels >> 8).astype(np.uint8)
            if pixels.ndim == 3 and pixels.shape[2] == 1:
                pixels = pixels[:, :, 0]
            image = Image.fromarray(np.ascontiguousarray(pixels))
        else:
            request = _draft_request(size[0], size[1], needed)
            if request is not None:
                opened.draft("RGB", request)
            opened.load()
            image = opened
        return _to_rgb(_reduce(image, needed), None)
    except Exception as err:  # a broken preview: fall back to the raw data
        logger.debug("%s: preview not decodable: %s", path, _one_line(err))
        return None


# --------------------------------------------------------------------------- helpers


def _check_size(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise SkipError(
            UNREADABLE,
            f"{width}x{height} is {width * height / 1e6:.0f} MP, over the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit (decompression-bomb guard)",
        )


def _one_line(err: BaseException) -> str:
    message = err.args[0] if len(err.args) == 1 else str(err)
    if isinstance(message, bytes):  # rawpy passes LibRaw's C strings through
        message = message.decode("utf-8", "replace")
    text = " ".join(str(message).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
