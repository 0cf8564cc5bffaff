"""cropperhead.imaging: stored-frame decoding, orientation, resizing, saving.

Every picture is generated here (tmp_path) except the real files read through the
``shared_fixtures`` fixture.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropperhead import imaging
from cropperhead.geometry import ORIENTATIONS, display_size, points_stored_to_display
from cropperhead.imaging import (
    IMAGE_EXTENSIONS,
    PHOTO_EXTENSIONS,
    RAW_EXTENSIONS,
    apply_orientation,
    decode,
    pixels,
    raw,
    read_stored_image,
    resize_long_side,
    save_jpeg,
)
from cropperhead.metadata.types import UNREADABLE, UNSUPPORTED, SkipError
from cropperhead.scan.photo import load_photo
from tests.helpers import bayer_dng_tags

# A 64 x 48 stored frame with a red block near the top-left corner and a green block
# near the top-right corner: together they pin down all eight orientations.
W, H = 64, 48
RED_BOX = (4, 4, 14, 14)  # x0, y0, x1, y1 (pixel edges)
GREEN_BOX = (46, 4, 60, 12)
RED, GREEN = (255, 0, 0), (0, 255, 0)


def marked_image(width: int = W, height: int = H) -> Image.Image:
    pixels = np.zeros((height, width, 3), np.uint8)
    for (x0, y0, x1, y1), colour in ((RED_BOX, RED), (GREEN_BOX, GREEN)):
        pixels[y0:y1, x0:x1] = colour
    return Image.fromarray(pixels)


def box_centre(box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def centroid(image: Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    """Centre (x, y), in pixel-edge coordinates, of the pixels close to ``colour``."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    mask = np.abs(rgb - np.array(colour)).max(axis=2) < 100
    ys, xs = np.nonzero(mask)
    assert xs.size, f"no {colour} pixels found"
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


def exif_with(orientation: int | None) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def assert_stored_marks(image: Image.Image, width: int = W, height: int = H) -> None:
    sx, sy = image.width / width, image.height / height
    scale = np.array([sx, sy])
    np.testing.assert_allclose(centroid(image, RED), box_centre(RED_BOX) * scale, atol=1.0)
    np.testing.assert_allclose(centroid(image, GREEN), box_centre(GREEN_BOX) * scale, atol=1.0)


def assert_display_marks(image: Image.Image, orientation: int) -> None:
    dw, dh = display_size(W, H, orientation)
    assert image.size == (dw, dh)
    for box, colour in ((RED_BOX, RED), (GREEN_BOX, GREEN)):
        expected = points_stored_to_display(box_centre(box), W, H, orientation)
        np.testing.assert_allclose(centroid(image, colour), expected, atol=1.0)


# --------------------------------------------------------------------- extensions


def test_extension_sets_are_lower_case_with_dot_and_consistent() -> None:
    for ext in PHOTO_EXTENSIONS:
        assert ext.startswith(".")
        assert ext == ext.lower()
    assert PHOTO_EXTENSIONS == RAW_EXTENSIONS | IMAGE_EXTENSIONS
    assert not RAW_EXTENSIONS & IMAGE_EXTENSIONS
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"} <= IMAGE_EXTENSIONS
    assert {
        ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
        ".pef", ".dng", ".srw", ".3fr", ".iiq", ".erf", ".mef", ".mos", ".mrw", ".rwl",
        ".kdc", ".dcr", ".x3f",
    } <= RAW_EXTENSIONS  # fmt: skip
    assert ({".heic", ".heif"} <= IMAGE_EXTENSIONS) == imaging.HEIF_AVAILABLE


# --------------------------------------------------------------------- apply_orientation


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_apply_orientation_moves_every_pixel_like_the_geometry_table(orientation: int) -> None:
    width, height = 7, 5
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    coded = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)  # R=x, G=y
    shown = np.asarray(apply_orientation(Image.fromarray(coded), orientation))
    assert (shown.shape[1], shown.shape[0]) == display_size(width, height, orientation)
    centres = np.stack([xs + 0.5, ys + 0.5], axis=-1).reshape(-1, 2)
    landed = points_stored_to_display(centres, width, height, orientation)
    for (x, y), (dx, dy) in zip(centres - 0.5, np.floor(landed).astype(int), strict=True):
        assert tuple(shown[dy, dx, :2]) == (x, y)


def test_apply_orientation_rejects_bad_codes() -> None:
    with pytest.raises(ValueError, match="9"):
        apply_orientation(marked_image(), 9)
    with pytest.raises(ValueError, match="got 0"):
        apply_orientation(marked_image(), 0)


# --------------------------------------------------------------------- resize_long_side


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [((600, 400), 300, (300, 200)), ((400, 600), 300, (200, 300)), ((1001, 10), 100, (100, 1))],
)
def test_resize_long_side_sets_the_long_side(size, target, expected) -> None:
    assert resize_long_side(Image.new("RGB", size), target).size == expected


def test_resize_long_side_never_enlarges() -> None:
    small = Image.new("RGB", (30, 20))
    assert resize_long_side(small, 512) is small
    assert resize_long_side(small, 30) is small


def test_resize_long_side_is_smooth_and_accurate() -> None:
    ramp = np.tile(np.linspace(0, 255, 2000), (1000, 1))
    image = Image.fromarray(np.stack([ramp] * 3, axis=-1).astype(np.uint8))
    small = np.asarray(resize_long_side(image, 200)).astype(float)
    expected = np.linspace(0, 255, 2000).reshape(200, 10).mean(axis=1)
    np.testing.assert_allclose(small[50, 2:-2, 0], expected[2:-2], atol=1.5)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_resize_long_side_rejects_bad_sizes(bad) -> None:
    with pytest.raises(ValueError, match="size"):
        resize_long_side(Image.new("RGB", (10, 10)), bad)


# --------------------------------------------------------------------- stored frame


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".jpg", {"quality": 95}),
        (".tif", {}),
        (".tiff", {"compression": "tiff_lzw"}),  # the libtiff decode path
        (".png", {}),
        (".webp", {"lossless": True}),
    ],
)
def test_read_stored_image_returns_unturned_pixels(
    tmp_path: Path, suffix: str, options: dict, orientation: int
) -> None:
    path = tmp_path / f"photo{suffix}"
    marked_image().save(path, exif=exif_with(orientation), **options)
    stored = read_stored_image(path, min_long_side=64)
    assert (stored.width, stored.height) == (W, H)
    assert stored.exif_orientation == orientation
    assert stored.image.mode == "RGB"
    assert stored.image.size == (W, H)
    assert_stored_marks(stored.image)
    shown = load_photo(path, size=64)
    assert shown.orientation == orientation
    assert (shown.width, shown.height) == display_size(W, H, orientation)
    assert_display_marks(shown.image, orientation)


def test_tiff_turned_by_xmp_orientation_only_is_turned_back(tmp_path: Path) -> None:
    # Pillow 13 also applies an XMP tiff:Orientation when the TIFF has no tag 274.
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    path = tmp_path / "xmp.tif"
    marked_image().save(path, tiffinfo={700: xmp})
    stored = read_stored_image(path, min_long_side=64)
    assert (stored.width, stored.height) == (W, H)
    assert stored.exif_orientation is None  # EXIF/TIFF tag only; XMP is the scan's business
    assert_stored_marks(stored.image)


def test_files_without_orientation_report_none_and_display_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    marked_image().save(path, quality=95)
    assert read_stored_image(path, 64).exif_orientation is None
    shown = load_photo(path, 64)
    assert shown.orientation == 1
    assert_display_marks(shown.image, 1)


def test_load_photo_uses_the_orientation_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "o6.jpg"
    marked_image().save(path, exif=exif_with(6), quality=95)
    shown = load_photo(path, 64, orientation=8)  # e.g. the catalog says 8
    assert shown.orientation == 8
    assert (shown.width, shown.height) == (H, W)
    assert_display_marks(shown.image, 8)
    with pytest.raises(ValueError, match="orientation"):
        load_photo(path, 64, orientation=10)


def test_upper_case_extensions_are_read(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.JPG"
    marked_image().save(path, format="JPEG", quality=95)
    assert read_stored_image(path, 16).width == W


# --------------------------------------------------------------------- cheap decoding


def noise_jpeg(path: Path, width: int, height: int, orientation: int | None = None) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90, exif=exif_with(orientation))


def test_big_jpegs_are_drafted_to_the_smallest_scale_that_is_big_enough(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    noise_jpeg(path, 3000, 2000, orientation=6)
    stored = read_stored_image(path, min_long_side=300)
    assert stored.decoder == "pillow-draft"
    assert (stored.width, stored.height) == (3000, 2000)
    assert stored.image.size == (375, 250)  # 1/8 scale; long side still >= 300
    shown = load_photo(path, 300)
    assert shown.image.size == (200, 300)
    assert (shown.width, shown.height) == (2000, 3000)
    assert read_stored_image(path, min_long_side=1000).image.size == (1500, 1000)  # 1/2


def test_small_jpegs_are_decoded_in_full(tmp_path: Path) -> None:
    path = tmp_path / "small.jpg"
    noise_jpeg(path, 500, 300)
    stored = read_stored_image(path, min_long_side=300)
    assert stored.decoder == "pillow"
    assert stored.image.size == (500, 300)


def test_other_formats_are_reduced_but_stay_big_enough(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 600), (10, 20, 30)).save(path)
    stored = read_stored_image(path, min_long_side=240)
    assert (stored.width, stored.height) == (1000, 600)
    assert stored.image.size == (250, 150)  # reduce(4)
    assert stored.image.getpixel((100, 100)) == (10, 20, 30)


# --------------------------------------------------------------------- colour modes


def write_png(path: Path, pixels: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    write_png(path, np.full((8, 10), 32896, np.uint16), colour_type=0)  # 128 * 257
    image = read_stored_image(path, 8).image
    assert image.mode == "RGB"
    assert image.getpixel((3, 3)) == (128, 128, 128)


def test_16_bit_rgb_png_keeps_its_colours(tmp_path: Path) -> None:
    path = tmp_path / "rgb16.png"
    pixels = np.zeros((8, 10, 3), np.uint16)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 65535, 257 * 100, 0
    write_png(path, pixels, colour_type=2)
    assert read_stored_image(path, 8).image.getpixel((3, 3)) == (255, 100, 0)


def test_alpha_and_palette_images_are_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:5] = (255, 0, 0, 255)  # opaque red on top, transparent below
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    image = read_stored_image(tmp_path / "rgba.png", 8).image
    assert image.getpixel((2, 2)) == RED
    assert image.getpixel((2, 8)) == (255, 255, 255)

    palette = Image.fromarray(rgba).convert("RGB").quantize(2)
    palette.save(tmp_path / "palette.png", transparency=palette.getpixel((2, 8)))
    image = read_stored_image(tmp_path / "palette.png", 8).image
    assert image.getpixel((2, 2)) == RED
    assert image.getpixel((2, 8)) == (255, 255, 255)

    Image.new("LA", (6, 6), (0, 0)).save(tmp_path / "la.png")
    assert read_stored_image(tmp_path / "la.png", 8).image.getpixel((1, 1)) == (255, 255, 255)


def test_grey_and_cmyk_jpegs_become_rgb(tmp_path: Path) -> None:
    Image.new("L", (16, 16), 200).save(tmp_path / "grey.jpg", quality=95)
    assert read_stored_image(tmp_path / "grey.jpg", 8).image.getpixel((5, 5)) == (200,) * 3
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    r, g, b = read_stored_image(tmp_path / "cmyk.jpg", 8).image.getpixel((5, 5))
    assert r > 200
    assert g < 60
    assert b < 60


@pytest.mark.skipif(pixels.ImageCms is None, reason="Pillow built without LittleCMS")
def test_icc_profiles_are_converted_to_srgb(shared_fixtures: Path, tmp_path: Path) -> None:
    from PIL import ImageCms

    source = shared_fixtures / "jpeg" / "ladybug.jpg"  # Adobe RGB (1998)
    with Image.open(source) as original:
        icc = original.info["icc_profile"]
    # A saturated green in Adobe RGB lies outside sRGB: it must change.
    path = tmp_path / "adobe.jpg"
    Image.new("RGB", (16, 16), (40, 200, 40)).save(path, quality=100, icc_profile=icc)
    got = np.asarray(read_stored_image(path, 8).image).astype(int)[5, 5]
    with Image.open(path) as decoded:
        expected = ImageCms.profileToProfile(
            decoded, ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB")
        )
        assert expected is not None
        want = np.asarray(expected).astype(int)[5, 5]
        kept = np.asarray(decoded).astype(int)[5, 5]
    np.testing.assert_allclose(got, want, atol=2)
    assert np.abs(got - kept).max() > 10

    stored = read_stored_image(source, 64)
    assert (stored.width, stored.height) == (720, 540)
    assert stored.image.mode == "RGB"


def test_srgb_profiles_leave_pixels_alone(tmp_path: Path) -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "srgb.png"
    Image.new("RGB", (8, 8), (40, 200, 40)).save(path, icc_profile=srgb)
    assert read_stored_image(path, 8).image.getpixel((1, 1)) == (40, 200, 40)


# --------------------------------------------------------------------- bad input


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds (almost) no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)


def skip_of(path: Path, min_long_side: int = 64) -> SkipError:
    with pytest.raises(SkipError) as caught:
        read_stored_image(path, min_long_side)
    assert "\n" not in caught.value.detail
    assert caught.value.detail
    return caught.value


def test_bad_files_are_skipped_with_one_line_reasons(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    noise_jpeg(good, 400, 300)
    data = good.read_bytes()

    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    assert skip_of(tmp_path / "truncated.jpg").reason == UNREADABLE

    (tmp_path / "empty.jpg").write_bytes(b"")
    error = skip_of(tmp_path / "empty.jpg")
    assert error.reason == UNREADABLE
    assert "0 bytes" in error.detail

    (tmp_path / "notes.jpg").write_text("not a photo\n")
    assert skip_of(tmp_path / "notes.jpg").reason == UNREADABLE

    (tmp_path / "notes.tif").write_bytes(b"II*\0" + b"\xff" * 40)
    assert skip_of(tmp_path / "notes.tif").reason == UNREADABLE

    (tmp_path / "photo.xyz").write_bytes(data)
    error = skip_of(tmp_path / "photo.xyz")
    assert error.reason == UNSUPPORTED
    assert ".xyz" in error.detail

    assert skip_of(tmp_path / "missing.jpg").reason == UNREADABLE

    good.with_suffix(".png").write_bytes(data)  # content wins over the extension
    assert read_stored_image(good.with_suffix(".png"), 64).width == 400


def test_decompression_bombs_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(20000, 10000))  # 200 MP declared in 100 bytes
    error = skip_of(path)
    assert error.reason == UNREADABLE
    assert "pixels" in error.detail


def test_bad_min_long_side_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_long_side"):
        read_stored_image(tmp_path / "x.jpg", 0)


def test_heic_without_plugin_is_unsupported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(decode, "PHOTO_EXTENSIONS", RAW_EXTENSIONS | {".jpg"})
    (tmp_path / "a.heic").write_bytes(b"\0\0\0\x18ftypheic")
    error = skip_of(tmp_path / "a.heic")
    assert error.reason == UNSUPPORTED
    assert "pillow-heif" in error.detail


# --------------------------------------------------------------------- RAW


# A 3 x 3 identity colour matrix as DNG rationals (numerator, denominator).
IDENTITY_MATRIX = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]


def write_dng(
    path: Path,
    width: int = 64,
    height: int = 48,
    orientation: int = 1,
    crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """A Bayer DNG written with pidng, with a bright block at raw (4..12, 4..12)."""
    from pidng.core import RAW2DNG
    from pidng.dng import Tag

    raw = np.full((height, width), 4000, np.uint16)
    raw[4:12, 4:12] = 60000
    tags = bayer_dng_tags(width, height, orientation)
    if crop is not None:
        tags.set(Tag.DefaultCropOrigin, list(crop[:2]))
        tags.set(Tag.DefaultCropSize, list(crop[2:]))
    writer = RAW2DNG()
    writer.options(tags, path=str(path.parent), compress=False)
    return Path(writer.convert(raw, filename=path.stem))


def write_dng_with_preview(
    path: Path,
    preview: Image.Image,
    orientation: int = 1,
    crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """A flat grey 64 x 48 Bayer DNG (IFD0) with ``preview`` as a JPEG in IFD1.

    Built from pidng's IFD classes: pidng 4.0.9's SubIFD tag is broken under Python 3
    (``dngTag.setValue`` adds bytes to a str), so the preview is chained as IFD1 instead
    of IFD0-with-SubIFDs; LibRaw finds it either way.
    """
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion
    from pidng.dng import DNG, Tag, dngIFD, dngTag

    raw = np.full((48, 64), 4000, "<u2")
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=95)
    dng = DNG()
    dng.ImageDataStrips = [raw.tobytes(), buffer.getvalue()]
    raw_offsets, preview_offsets = dngTag(Tag.TileOffsets, [0]), dngTag(Tag.StripOffsets, [0])
    raw_ifd, preview_ifd = dngIFD(), dngIFD()
    raw_ifd.tags = [
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.ImageWidth, [64]),
        dngTag(Tag.ImageLength, [48]),
        dngTag(Tag.TileWidth, [64]),
        dngTag(Tag.TileLength, [48]),
        raw_offsets,
        dngTag(Tag.TileByteCounts, [len(dng.ImageDataStrips[0])]),
        dngTag(Tag.Compression, [1]),
        dngTag(Tag.PhotometricInterpretation, [32803]),  # colour filter array
        dngTag(Tag.SamplesPerPixel, [1]),
        dngTag(Tag.BitsPerSample, [16]),
        dngTag(Tag.CFARepeatPatternDim, [2, 2]),
        dngTag(Tag.CFAPattern, CFAPattern.RGGB),
        dngTag(Tag.BlackLevel, [0]),
        dngTag(Tag.WhiteLevel, [65535]),
        dngTag(Tag.Orientation, [orientation]),
        dngTag(Tag.Make, "CropperHead"),
        dngTag(Tag.Model, "Test"),
        dngTag(Tag.DNGVersion, DNGVersion.V1_4),
        dngTag(Tag.DNGBackwardVersion, DNGVersion.V1_2),
        dngTag(Tag.ColorMatrix1, IDENTITY_MATRIX),
        dngTag(Tag.CalibrationIlluminant1, [CalibrationIlluminant.D65]),
        dngTag(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
    ]
    if crop is not None:
        raw_ifd.tags.append(dngTag(Tag.DefaultCropOrigin, list(crop[:2])))
        raw_ifd.tags.append(dngTag(Tag.DefaultCropSize, list(crop[2:])))
    preview_ifd.tags = [
        dngTag(Tag.NewSubfileType, [1]),  # reduced-resolution image
        dngTag(Tag.ImageWidth, [preview.width]),
        dngTag(Tag.ImageLength, [preview.height]),
        dngTag(Tag.BitsPerSample, [8, 8, 8]),
        dngTag(Tag.Compression, [7]),  # JPEG
        dngTag(Tag.PhotometricInterpretation, [6]),  # YCbCr
        dngTag(Tag.SamplesPerPixel, [3]),
        preview_offsets,
        dngTag(Tag.RowsPerStrip, [preview.height]),
        dngTag(Tag.StripByteCounts, [len(dng.ImageDataStrips[1])]),
    ]
    dng.IFDs = [raw_ifd, preview_ifd]
    buf = bytearray(dng.dataLen())  # also places the image data
    raw_offsets.setValue([dng.StripOffsets[0]])
    preview_offsets.setValue([dng.StripOffsets[1]])
    raw_ifd.NextIFDOffset = 8 + raw_ifd.dataLen()
    dng.setBuffer(buf)
    dng.write()
    path.write_bytes(bytes(buf))
    return path


def bright_centre_fraction(image: Image.Image) -> np.ndarray:
    grey = np.asarray(image.convert("L")).astype(float)
    ys, xs = np.nonzero(grey > (grey.max() + grey.min()) / 2)
    return np.array([(xs.mean() + 0.5) / image.width, (ys.mean() + 0.5) / image.height])


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_dng_orientation_comes_from_libraw_and_pixels_stay_stored(
    tmp_path: Path, orientation: int
) -> None:
    path = write_dng(tmp_path / f"o{orientation}.dng", orientation=orientation)
    stored = read_stored_image(path, min_long_side=32)
    assert stored.exif_orientation == orientation
    assert (stored.width, stored.height) == (64, 48)
    assert stored.decoder == "raw-half"
    assert stored.image.size == (32, 24)
    np.testing.assert_allclose(bright_centre_fraction(stored.image), (8 / 64, 8 / 48), atol=0.04)
    shown = load_photo(path, size=32)
    assert (shown.width, shown.height) == display_size(64, 48, orientation)
    expected = points_stored_to_display(np.array([8.0, 8.0]), 64, 48, orientation)
    dw, dh = display_size(64, 48, orientation)
    np.testing.assert_allclose(bright_centre_fraction(shown.image), expected / (dw, dh), atol=0.04)


def test_dng_default_crop_is_the_frame(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "crop.dng", crop=(2, 4, 60, 40))
    stored = read_stored_image(path, min_long_side=16)
    assert (stored.width, stored.height) == (60, 40)
    assert stored.image.size == (30, 20)
    # raw (8, 8) is (6, 4) in the frame
    np.testing.assert_allclose(bright_centre_fraction(stored.image), (6 / 60, 4 / 40), atol=0.04)
    full = read_stored_image(path, min_long_side=60)  # half size is too small
    assert full.decoder == "raw-full"
    assert full.image.size == (60, 40)
    np.testing.assert_allclose(bright_centre_fraction(full.image), (6 / 60, 4 / 40), atol=0.03)


@pytest.mark.parametrize("orientation", [1, 6, 8, 3])
def test_raw_preview_is_used_as_the_stored_frame(tmp_path: Path, orientation: int) -> None:
    path = write_dng_with_preview(tmp_path / "p.dng", marked_image(), orientation)
    stored = read_stored_image(path, min_long_side=64)
    assert stored.decoder == "raw-preview"
    assert (stored.width, stored.height) == (64, 48)
    assert stored.exif_orientation == orientation
    assert_stored_marks(stored.image)  # the preview's pixels, not turned
    assert_display_marks(load_photo(path, 64).image, orientation)


def test_raw_preview_that_is_too_small_falls_back_to_the_raw(tmp_path: Path) -> None:
    path = write_dng_with_preview(tmp_path / "p.dng", marked_image().resize((32, 24)))
    assert read_stored_image(path, min_long_side=24).decoder == "raw-preview"
    stored = read_stored_image(path, min_long_side=48)
    assert stored.decoder == "raw-full"  # half size (32) is too small as well
    assert stored.image.size == (64, 48)


def test_raw_preview_of_another_frame_is_not_used(tmp_path: Path) -> None:
    turned = write_dng_with_preview(tmp_path / "turned.dng", marked_image(48, 64))
    assert read_stored_image(turned, min_long_side=32).decoder == "raw-half"
    uncropped = write_dng_with_preview(
        tmp_path / "uncropped.dng", marked_image(), crop=(2, 4, 60, 40)
    )
    stored = read_stored_image(uncropped, min_long_side=30)
    assert stored.decoder == "raw-half"
    assert (stored.width, stored.height) == (60, 40)
    cropped = write_dng_with_preview(
        tmp_path / "cropped.dng", marked_image(60, 40), crop=(2, 4, 60, 40)
    )
    assert read_stored_image(cropped, min_long_side=30).decoder == "raw-preview"


def test_broken_raws_are_skipped(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "whole.dng")
    data = path.read_bytes()
    (tmp_path / "cut.dng").write_bytes(data[:300])
    assert skip_of(tmp_path / "cut.dng").reason == UNREADABLE
    (tmp_path / "notes.nef").write_text("not a raw file at all\n")
    assert skip_of(tmp_path / "notes.nef").reason in (UNREADABLE, UNSUPPORTED)
    (tmp_path / "junk.cr3").write_bytes(b"\0\0\0\x18ftypcrx " + bytes(range(256)) * 64)
    assert skip_of(tmp_path / "junk.cr3").reason in (UNREADABLE, UNSUPPORTED)


def test_pixel_dng_fixture_is_its_default_crop(shared_fixtures: Path) -> None:
    path = shared_fixtures / "raw" / "test.dng"
    stored = read_stored_image(path, min_long_side=128)
    assert (stored.width, stored.height) == (494, 366)
    assert stored.exif_orientation == 8
    # Its 510 x 382 preview shows the whole raster, not the 494 x 366 default crop.
    assert stored.decoder == "raw-half"
    assert abs(stored.image.width / stored.image.height - 494 / 366) < 0.01
    shown = load_photo(path, size=128)
    assert (shown.width, shown.height) == (366, 494)
    assert shown.image.size == (95, 128)


def test_adobe_dng_fixture_uses_its_preview(shared_fixtures: Path) -> None:
    path = shared_fixtures / "raw" / "canon_eos_6d.dng"
    preview = read_stored_image(path, min_long_side=512)
    assert preview.decoder == "raw-preview"
    assert (preview.width, preview.height) == (1224, 816)
    assert preview.exif_orientation == 1
    assert max(preview.image.size) >= 512
    rendered = read_stored_image(path, min_long_side=1100)  # preview (1024) too small
    assert rendered.decoder == "raw-full"
    assert rendered.image.size == (1224, 816)
    # Same frame, same orientation: the two pictures agree.
    a = np.asarray(preview.image.convert("L").resize((96, 64))).astype(float)
    b = np.asarray(rendered.image.convert("L").resize((96, 64))).astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


@pytest.mark.parametrize(
    ("preview", "frame", "visible", "ok"),
    [
        ((1024, 683), (1224, 816), (1224, 816), True),
        ((1620, 1080), (6000, 4000), (6048, 4032), True),  # same 3:2 aspect
        ((510, 382), (494, 366), (510, 382), False),  # shows the uncropped raster
        ((683, 1024), (1224, 816), (1224, 816), False),  # stored turned
        ((1600, 900), (6000, 4000), (6000, 4000), False),  # 16:9 crop of a 3:2 sensor
        ((0, 10), (10, 10), (10, 10), False),
    ],
)
def test_preview_frame_check(preview, frame, visible, ok) -> None:
    assert raw._preview_covers_frame(preview, frame, visible) is ok


# --------------------------------------------------------------------- real files


def test_real_jpegs_and_tiff(shared_fixtures: Path) -> None:
    portrait = read_stored_image(shared_fixtures / "jpeg" / "wild-3.jpg", 256)
    assert (portrait.width, portrait.height) == (816, 1224)
    assert portrait.exif_orientation is None
    assert portrait.decoder == "pillow-draft"
    assert portrait.image.size == (204, 306)
    tiff = read_stored_image(shared_fixtures / "tiff" / "tif-with-iptc-icc-xmp.tif", 16)
    assert (tiff.width, tiff.height, tiff.exif_orientation) == (35, 23, 1)
    shown = load_photo(shared_fixtures / "jpeg" / "IMG_8943.jpg", 128)
    assert (shown.width, shown.height, shown.orientation) == (495, 743, 1)
    assert shown.image.size == (85, 128)


# --------------------------------------------------------------------- HEIC (optional)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_heic_stored_frame(tmp_path: Path, orientation: int) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    path = tmp_path / "photo.heic"
    # pillow-heif writes the pixels it is given as the *displayed* picture, with
    # irot/imir transforms that match the EXIF orientation (as phones do).
    shown_pixels = apply_orientation(marked_image(), orientation)
    shown_pixels.save(path, exif=exif_with(orientation), quality=95)
    stored = read_stored_image(path, 64)
    assert stored.decoder == "pillow-heif"
    assert (stored.width, stored.height) == (W, H)
    assert stored.exif_orientation == orientation
    assert_stored_marks(stored.image)
    assert_display_marks(load_photo(path, 64).image, orientation)


# --------------------------------------------------------------------- save_jpeg


def test_save_jpeg_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "out.jpg"
    path.write_bytes(b"old")
    save_jpeg(Image.new("RGBA", (40, 30), (10, 200, 30, 255)), path)
    with Image.open(path) as written:
        assert written.format == "JPEG"
        assert written.size == (40, 30)
        assert written.mode == "RGB"
        assert np.abs(np.asarray(written).astype(int)[5, 5] - (10, 200, 30)).max() <= 3
        assert 0x0112 not in written.getexif()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


def test_save_jpeg_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save_jpeg(Image.new("RGB", (4, 4)), tmp_path / "missing" / "out.jpg")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("quality", [89, 101, 95.0])
def test_save_jpeg_rejects_low_quality(tmp_path: Path, quality) -> None:
    with pytest.raises(ValueError, match="quality"):
        save_jpeg(Image.new("RGB", (4, 4)), tmp_path / "x.jpg", quality=quality)
