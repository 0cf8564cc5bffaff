"""scan_library over small generated libraries: labels, images, precedence, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropperhead.geometry import (
    Crop,
    points_stored_to_display,
)
from cropperhead.scan import scan_library
from cropperhead.scan.manifest import MANIFEST_KEYS
from tests.scan.library import (
    PLAIN,
    TURNED6,
    H,
    W,
    by_source,
    check_label,
    make_photo,
    read_lines,
    snapshot,
    xmp_packet,
)


def scan(root, out, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return scan_library([root], out, **kw)


def outputs(out):
    return by_source(read_lines(out / "manifest.jsonl")), by_source(
        read_lines(out / "skipped.jsonl")
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_eight_orientations_label_and_pixels(tmp_path, orientation):
    lib, out = tmp_path / "lib", tmp_path / "out"
    mark = (4, 4, 16, 16)  # red box around stored (10, 10)
    make_photo(lib / "IMG_1.jpg", orientation=orientation, mark=mark)
    (lib / "IMG_1.xmp").write_bytes(xmp_packet(TURNED6))
    summary = scan(lib, out)
    assert summary.samples_by_origin == {"xmp-sidecar": 1}
    (line,) = read_lines(out / "manifest.jsonl")
    assert tuple(line) == MANIFEST_KEYS
    assert line["source"] == str((lib / "IMG_1.jpg").resolve())
    assert line["origin"] == "xmp-sidecar"
    assert line["extra"] == {}
    check_label(line, TURNED6, W, H, orientation)

    image = Image.open(out / line["image"])
    assert image.format == "JPEG"
    assert image.size == (line["width"], line["height"])  # 64 px long side: not enlarged
    pixels = np.asarray(image.convert("RGB")).astype(int)
    ((x, y),) = points_stored_to_display(np.array([[10.0, 10.0]]), W, H, orientation)
    r, g, b = pixels[int(y), int(x)]
    assert (r > 150, b < 120) == (True, True), (orientation, (x, y), (r, g, b))
    # And the opposite corner stays blue.
    ((x2, y2),) = points_stored_to_display(np.array([[W - 6.0, H - 6.0]]), W, H, orientation)
    r2, _, b2 = pixels[int(y2), int(x2)]
    assert b2 > 150
    assert r2 < 100


@pytest.mark.parametrize("form", ["attr", "elem"])
def test_sidecar_forms_and_embedded_and_tiff(tmp_path, form):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "side.jpg")
    (lib / "side.xmp").write_bytes(xmp_packet(PLAIN, form=form))
    make_photo(lib / "emb.jpg", xmp=xmp_packet(TURNED6, form=form))
    make_photo(lib / "emb.tif", xmp=xmp_packet(PLAIN, form=form))
    make_photo(lib / "full.jpg.xmp.jpg")  # a photo whose name merely contains ".xmp"
    make_photo(lib / "named.jpg")
    (lib / "named.jpg.xmp").write_bytes(xmp_packet(PLAIN, form=form))
    scan(lib, out)
    samples, skipped = outputs(out)
    assert samples["side.jpg"][0]["origin"] == "xmp-sidecar"
    check_label(samples["side.jpg"][0], PLAIN, W, H, 1)
    assert samples["emb.jpg"][0]["origin"] == "xmp-embedded"
    check_label(samples["emb.jpg"][0], TURNED6, W, H, 1)
    assert samples["emb.tif"][0]["origin"] == "xmp-embedded"
    check_label(samples["emb.tif"][0], PLAIN, W, H, 1)
    assert samples["named.jpg"][0]["origin"] == "xmp-sidecar"
    assert skipped["full.jpg.xmp.jpg"][0]["reason"] == "no-metadata"


def test_precedence_sidecar_over_embedded(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    # 1: both have crops: the sidecar wins.
    make_photo(lib / "both.jpg", xmp=xmp_packet(TURNED6))
    (lib / "both.xmp").write_bytes(xmp_packet(PLAIN))
    # 2: the sidecar has no develop settings (metadata only): the embedded crop decides.
    make_photo(lib / "meta.jpg", xmp=xmp_packet(PLAIN))
    (lib / "meta.xmp").write_bytes(xmp_packet(None, applied=None, extra={"xmp:Rating": "3"}))
    # 3: the sidecar is malformed: bad-metadata, no silent fall-through.
    make_photo(lib / "broken.jpg", xmp=xmp_packet(PLAIN))
    (lib / "broken.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF><unclosed></x:xmpmeta>")
    # 4: IMG.xmp is read before IMG.jpg.xmp.
    make_photo(lib / "two.jpg")
    (lib / "two.xmp").write_bytes(xmp_packet(PLAIN))
    (lib / "two.jpg.xmp").write_bytes(xmp_packet(TURNED6))
    scan(lib, out)
    samples, skipped = outputs(out)
    assert samples["both.jpg"][0]["origin"] == "xmp-sidecar"
    check_label(samples["both.jpg"][0], PLAIN, W, H, 1)
    assert samples["meta.jpg"][0]["origin"] == "xmp-embedded"
    assert skipped["broken.jpg"][0]["reason"] == "bad-metadata"
    assert "broken.jpg" not in samples
    check_label(samples["two.jpg"][0], PLAIN, W, H, 1)


def test_orientation_rule_xmp_then_exif(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    # The sidecar's tiff:Orientation beats EXIF.
    make_photo(lib / "a.jpg", orientation=1)
    (lib / "a.xmp").write_bytes(xmp_packet(TURNED6, orientation=6))
    # A sidecar without tiff:Orientation: the embedded XMP's, then EXIF.
    make_photo(lib / "b.jpg", orientation=1, xmp=xmp_packet(None, orientation=3, applied=None))
    (lib / "b.xmp").write_bytes(xmp_packet(TURNED6))
    make_photo(lib / "c.jpg", orientation=8)
    (lib / "c.xmp").write_bytes(xmp_packet(TURNED6))
    scan(lib, out)
    samples, _ = outputs(out)
    check_label(samples["a.jpg"][0], TURNED6, W, H, 6)
    check_label(samples["b.jpg"][0], TURNED6, W, H, 3)
    check_label(samples["c.jpg"][0], TURNED6, W, H, 8)
    assert Image.open(out / samples["a.jpg"][0]["image"]).size == (48, 64)


def test_images_are_resized_never_enlarged(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "big.jpg", size=(300, 150), orientation=6)
    (lib / "big.xmp").write_bytes(xmp_packet(PLAIN))
    make_photo(lib / "small.jpg", size=(40, 30))
    (lib / "small.xmp").write_bytes(xmp_packet(PLAIN))
    scan(lib, out, size=64)
    samples, _ = outputs(out)
    big = samples["big.jpg"][0]
    assert (big["width"], big["height"]) == (150, 300)
    assert Image.open(out / big["image"]).size == (32, 64)
    assert Image.open(out / samples["small.jpg"][0]["image"]).size == (40, 30)


def test_outcomes_and_bad_input(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    good = make_photo(lib / "good.jpg")
    (lib / "good.xmp").write_bytes(xmp_packet(PLAIN))
    make_photo(lib / "plain.jpg")
    make_photo(lib / "export.jpg", xmp=xmp_packet(PLAIN, applied=True))
    make_photo(lib / "reviewed.jpg", xmp=xmp_packet(None, has_crop=False, has_settings=True))
    make_photo(lib / "fullframe.jpg", xmp=xmp_packet(Crop.full_frame()))
    make_photo(lib / "nan.jpg", xmp=xmp_packet({"CropLeft": "nan", "CropRight": "0.9"}))
    make_photo(lib / "range.jpg", xmp=xmp_packet({"CropLeft": "0.1", "CropRight": "1.5"}))
    # The full frame turned by 10 degrees: in range, but no rectangle inside the photo.
    make_photo(lib / "outside.jpg", xmp=xmp_packet(Crop(0, 0, 1, 1, 10)))
    data = good.read_bytes()
    (lib / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (lib / "truncated.xmp").write_bytes(xmp_packet(PLAIN))
    (lib / "empty.jpg").write_bytes(b"")
    (lib / "empty.xmp").write_bytes(xmp_packet(PLAIN))
    make_photo(lib / "malformed.jpg")
    (lib / "malformed.xmp").write_bytes(b"<?xml version='1.0'?><x:xmpmeta")
    make_photo(lib / "bomb.jpg")
    (lib / "bomb.xmp").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&c;</x:xmpmeta>'
    )
    make_photo(lib / "lonely.xmp.jpg")
    (lib / "ghost.xmp").write_bytes(xmp_packet(PLAIN))
    (lib / "scan.jp2").write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n")
    summary = scan(lib, out)
    samples, skipped = outputs(out)
    assert list(samples) == ["good.jpg"]
    reasons = {name: [r["reason"] for r in records] for name, records in skipped.items()}
    assert reasons == {
        "plain.jpg": ["no-metadata"],
        "export.jpg": ["crop-already-applied"],
        "reviewed.jpg": ["uncropped"],
        "fullframe.jpg": ["uncropped"],
        "nan.jpg": ["invalid-crop"],
        "range.jpg": ["invalid-crop"],
        "outside.jpg": ["invalid-crop"],
        "truncated.jpg": ["unreadable"],
        "empty.jpg": ["unreadable"],
        "malformed.jpg": ["bad-metadata"],
        "bomb.jpg": ["bad-metadata"],
        "lonely.xmp.jpg": ["no-metadata"],
        "ghost.xmp": ["missing-file"],
        "scan.jp2": ["unsupported"],
    }
    for records in skipped.values():
        assert all(set(r) == {"source", "reason", "detail"} and r["detail"] for r in records)
    assert summary.samples == 1
    assert summary.skipped == 14
    # Nothing was decoded for photos the metadata already ruled out.
    assert summary.decoded == 4  # good, outside, truncated, empty


def test_include_uncropped(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(
        lib / "reviewed.jpg", orientation=6, xmp=xmp_packet(None, has_crop=False, has_settings=True)
    )
    make_photo(lib / "fullframe.jpg", xmp=xmp_packet(Crop.full_frame()))
    make_photo(lib / "export.jpg", xmp=xmp_packet(None, has_crop=False, applied=True))
    make_photo(lib / "nothing.jpg")
    scan(lib, out, include_uncropped=True)
    samples, skipped = outputs(out)
    full = {"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0, "angle": 0.0}
    assert samples["reviewed.jpg"][0]["crop"] == full
    assert (samples["reviewed.jpg"][0]["width"], samples["reviewed.jpg"][0]["height"]) == (48, 64)
    assert samples["reviewed.jpg"][0]["corners"] == [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert samples["fullframe.jpg"][0]["crop"] == full
    assert skipped["export.jpg"][0]["reason"] == "crop-already-applied"
    assert skipped["nothing.jpg"][0]["reason"] == "no-metadata"


def test_fields_go_to_extra(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    extra = {"crs:Exposure2012": "+0.35", "crs:Temperature": "5200"}
    make_photo(lib / "a.jpg")
    (lib / "a.xmp").write_bytes(xmp_packet(PLAIN, extra=extra))
    make_photo(lib / "b.jpg", xmp=xmp_packet(PLAIN))
    scan(lib, out, fields=["crs:Exposure2012", "crs:Vibrance"])
    samples, _ = outputs(out)
    assert samples["a.jpg"][0]["extra"] == {"crs:Exposure2012": "+0.35"}
    assert samples["b.jpg"][0]["extra"] == {}


def test_sources_are_never_written(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "a.jpg", orientation=6)
    (lib / "a.xmp").write_bytes(xmp_packet(PLAIN))
    make_photo(lib / "sub" / "b.jpg", xmp=xmp_packet(TURNED6))
    make_photo(lib / "c.jpg")
    (lib / "bad.jpg").write_bytes(b"\xff\xd8junk")
    before = snapshot(lib)
    scan(lib, out, include_uncropped=True)
    scan(lib, out, prune=True)
    assert snapshot(lib) == before
    assert sorted(p.name for p in lib.rglob("*")) == sorted(
        ["a.jpg", "a.xmp", "sub", "b.jpg", "c.jpg", "bad.jpg"]
    )


def test_output_folder_inside_the_source_is_not_scanned(tmp_path):
    lib = tmp_path / "lib"
    make_photo(lib / "a.jpg", xmp=xmp_packet(PLAIN))
    scan(lib, lib / "dataset")
    summary = scan(lib, lib / "dataset")
    assert summary.samples == 1
    assert summary.skipped == 0
    assert summary.unchanged == 1
    assert summary.new == 0


def test_dng_with_embedded_xmp(tmp_path):
    pidng = pytest.importorskip("pidng.core")
    from pidng.defs import CFAPattern, DNGVersion, PhotometricInterpretation

    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    tags = pidng.DNGTags()
    T = pidng.Tag
    for tag, value in [
        (T.ImageWidth, W),
        (T.ImageLength, H),
        (T.TileWidth, W),
        (T.TileLength, H),
        (T.Orientation, 6),
        (T.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (T.SamplesPerPixel, 1),
        (T.BitsPerSample, 16),
        (T.CFARepeatPatternDim, [2, 2]),
        (T.CFAPattern, CFAPattern.RGGB),
        (T.BlackLevel, 0),
        (T.WhiteLevel, 4095),
        (T.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]),
        (T.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (T.DNGVersion, DNGVersion.V1_4),
        (T.DNGBackwardVersion, DNGVersion.V1_2),
        (T.Make, "CropperHead"),
        (T.Model, "Test"),
        (T.XMP_Metadata, list(xmp_packet(TURNED6))),
    ]:
        tags.set(tag, value)
    converter = pidng.RAW2DNG()
    converter.options(tags, path="", compress=False)
    converter.convert(np.full((H, W), 1000, dtype=np.uint16), filename=str(lib / "IMG_0001"))
    scan(lib, out)
    samples, skipped = outputs(out)
    assert not skipped, skipped
    line = samples["IMG_0001.dng"][0]
    assert line["origin"] == "xmp-embedded"
    check_label(line, TURNED6, W, H, 6)
    assert Image.open(out / line["image"]).size == (H, W)


def test_a_file_name_that_is_not_utf8(tmp_path):
    # Photos copied from old Windows or Mac disks can carry Latin-1 names; Python sees
    # them as str with lone surrogates. The scan keeps them, writes valid UTF-8 JSON
    # (the odd byte as a \udcXX escape) and reads its own files back to the same path.
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "tmp.jpg", (W, H), xmp=xmp_packet(PLAIN))
    (lib / "side.xmp").write_bytes(xmp_packet(TURNED6))
    name = os.fsdecode(b"caf\xe9")
    os.rename(lib / "tmp.jpg", lib / f"{name}.jpg")
    os.rename(lib / "side.xmp", lib / f"{name}.xmp")
    summary = scan_library([lib], out, workers=1, progress=False)
    assert summary.samples_by_origin == {"xmp-sidecar": 1}
    raw = (out / "manifest.jsonl").read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    assert b"caf\\udce9.jpg" in raw
    (line,) = read_lines(out / "manifest.jsonl")
    assert line["source"] == str(lib.resolve() / f"{name}.jpg")
    assert Path(line["source"]).is_file()
    check_label(line, TURNED6, W, H, 1)  # the sidecar beside it was found and read
    assert (out / line["image"]).is_file()
    again = scan_library([lib], out, workers=1, progress=False)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
