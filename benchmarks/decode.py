"""Micro-benchmark of the cheap decode paths in ``cropperhead.imaging``.

    python benchmarks/decode.py [--files 3] [--repeat 3] [--size 512]

Generates, in a temporary folder, 24-megapixel (6000 x 4000) test files: JPEGs
(noise on a gradient) and Bayer DNGs that carry a full-size embedded JPEG preview, as
Canon and Adobe write them. Then it times, on the same files and in the same run:

- JPEG: ``Image.draft`` (libjpeg DCT scaling) + Lanczos resize, as the scan's ``load_photo``
  does, against a full decode + the same resize;
- RAW: the embedded-preview path (``read_stored_image`` picks it) + resize, against
  LibRaw's half-size render (``postprocess(half_size=True)``) + resize;
- the real DNGs in ../shared/fixtures/raw when present (small files).

Each number is the median over files x repeats, in milliseconds per photo.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image

from cropperhead.imaging import read_stored_image, resize_long_side
from cropperhead.scan.photo import load_photo

WIDTH, HEIGHT = 6000, 4000
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "raw"


def synthetic_rgb(seed: int) -> np.ndarray:
    """A 6000 x 4000 gradient with noise: compresses like a real photo, not like pure noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = np.stack([xs / WIDTH * 255, ys / HEIGHT * 255, (xs + ys) / (WIDTH + HEIGHT) * 255], -1)
    noise = rng.normal(0, 12, (HEIGHT, WIDTH, 1)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_dng(path: Path, rgb: np.ndarray) -> None:
    """A 16-bit RGGB DNG of ``rgb`` (IFD0) with ``rgb`` as a quality-90 JPEG preview (IFD1).

    Uses pidng's IFD classes; its SubIFD tag does not work under Python 3, so the preview
    is chained as IFD1 (LibRaw finds previews there as well).
    """
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion
    from pidng.dng import DNG, Tag, dngIFD, dngTag

    raw = np.empty((HEIGHT, WIDTH), "<u2")
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    raw *= 200
    preview = io.BytesIO()
    Image.fromarray(rgb).save(preview, format="JPEG", quality=90)
    dng = DNG()
    dng.ImageDataStrips = [raw.tobytes(), preview.getvalue()]
    raw_offsets, preview_offsets = dngTag(Tag.TileOffsets, [0]), dngTag(Tag.StripOffsets, [0])
    raw_ifd, preview_ifd = dngIFD(), dngIFD()
    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    raw_ifd.tags = [
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.ImageWidth, [WIDTH]),
        dngTag(Tag.ImageLength, [HEIGHT]),
        dngTag(Tag.TileWidth, [WIDTH]),
        dngTag(Tag.TileLength, [HEIGHT]),
        raw_offsets,
        dngTag(Tag.TileByteCounts, [len(dng.ImageDataStrips[0])]),
        dngTag(Tag.Compression, [1]),
        dngTag(Tag.PhotometricInterpretation, [32803]),
        dngTag(Tag.SamplesPerPixel, [1]),
        dngTag(Tag.BitsPerSample, [16]),
        dngTag(Tag.CFARepeatPatternDim, [2, 2]),
        dngTag(Tag.CFAPattern, CFAPattern.RGGB),
        dngTag(Tag.BlackLevel, [0]),
        dngTag(Tag.WhiteLevel, [65535]),
        dngTag(Tag.Orientation, [1]),
        dngTag(Tag.Make, "CropperHead"),
        dngTag(Tag.Model, "Benchmark"),
        dngTag(Tag.DNGVersion, DNGVersion.V1_4),
        dngTag(Tag.DNGBackwardVersion, DNGVersion.V1_2),
        dngTag(Tag.ColorMatrix1, identity),
        dngTag(Tag.CalibrationIlluminant1, [CalibrationIlluminant.D65]),
        dngTag(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
    ]
    preview_ifd.tags = [
        dngTag(Tag.NewSubfileType, [1]),
        dngTag(Tag.ImageWidth, [WIDTH]),
        dngTag(Tag.ImageLength, [HEIGHT]),
        dngTag(Tag.BitsPerSample, [8, 8, 8]),
        dngTag(Tag.Compression, [7]),
        dngTag(Tag.PhotometricInterpretation, [6]),
        dngTag(Tag.SamplesPerPixel, [3]),
        preview_offsets,
        dngTag(Tag.RowsPerStrip, [HEIGHT]),
        dngTag(Tag.StripByteCounts, [len(dng.ImageDataStrips[1])]),
    ]
    dng.IFDs = [raw_ifd, preview_ifd]
    buf = bytearray(dng.dataLen())
    raw_offsets.setValue([dng.StripOffsets[0]])
    preview_offsets.setValue([dng.StripOffsets[1]])
    raw_ifd.NextIFDOffset = 8 + raw_ifd.dataLen()
    dng.setBuffer(buf)
    dng.write()
    path.write_bytes(bytes(buf))


def jpeg_full_decode(path: Path, size: int) -> Image.Image:
    with Image.open(path) as image:
        return resize_long_side(image.convert("RGB"), size)


def jpeg_draft(path: Path, size: int) -> Image.Image:
    return load_photo(path, size).image


def raw_preview(path: Path, size: int) -> Image.Image:
    stored = read_stored_image(path, size)
    if stored.decoder != "raw-preview":
        raise RuntimeError(f"{path.name}: expected the preview path, got {stored.decoder}")
    return resize_long_side(stored.image, size)


def raw_half(path: Path, size: int) -> Image.Image:
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(half_size=True, user_flip=0, use_camera_wb=True, output_bps=8)
    return resize_long_side(Image.fromarray(rgb), size)


def median_ms(
    decode: Callable[[Path, int], Image.Image], paths: list[Path], size: int, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        for path in paths:
            start = time.perf_counter()
            decode(path, size)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def compare(label: str, fast, slow, paths: list[Path], size: int, repeat: int) -> None:
    for path in paths:  # warm up the page cache and the libraries
        fast(path, size)
        slow(path, size)
    fast_ms = median_ms(fast, paths, size, repeat)
    slow_ms = median_ms(slow, paths, size, repeat)
    print(
        f"{label:<34} {fast.__name__:<12} {fast_ms:8.1f} ms   {slow.__name__:<16} "
        f"{slow_ms:8.1f} ms   x{slow_ms / fast_ms:5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3, help="generated files per kind")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the files")
    parser.add_argument("--size", type=int, default=512, help="long side asked for")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cropperhead-bench-") as tmp:
        folder = Path(tmp)
        jpegs, dngs = [], []
        for seed in range(args.files):
            rgb = synthetic_rgb(seed)
            jpegs.append(folder / f"photo{seed}.jpg")
            Image.fromarray(rgb).save(jpegs[-1], quality=90)
            dngs.append(folder / f"photo{seed}.dng")
            write_dng(dngs[-1], rgb)
        print(f"{args.files} files per kind, {WIDTH}x{HEIGHT}, long side {args.size}, ")
        print(f"median ms per photo over {args.repeat} passes\n")
        label = "JPEG 24 MP"
        compare(label, jpeg_draft, jpeg_full_decode, jpegs, args.size, args.repeat)
        label = "DNG 24 MP, full-size JPEG preview"
        compare(label, raw_preview, raw_half, dngs, args.size, args.repeat)
        real = FIXTURES / "canon_eos_6d.dng"
        if real.is_file():
            label = "canon_eos_6d.dng (1224x816, linear)"
            compare(label, raw_preview, raw_half, [real], args.size, args.repeat * 3)


if __name__ == "__main__":
    main()
