"""XMP embedded in image files: real fixtures, generated containers, hostile files."""

from __future__ import annotations

import hashlib
import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from cropperhead.metadata.embedded import (
    EXTENDED_XMP_HEADER,
    JP2_SIGNATURE,
    JP2_XMP_UUID,
    XMP_APP1_HEADER,
    extract_xmp_packets,
    read_embedded_settings,
)
from cropperhead.metadata.types import (
    BAD_METADATA,
    ORIGIN_EMBEDDED,
    UNREADABLE,
    DevelopSettings,
    SkipError,
)
from cropperhead.metadata.xmp import MAX_PACKET_BYTES, read_sidecar, read_xmp_properties

CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def packet(attrs: str, *, padding: int = 0) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{RDF}"><rdf:Description rdf:about=""'
        f' xmlns:crs="{CRS}" xmlns:xmpNote="http://ns.adobe.com/xmp/note/"'
        f' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" {attrs}/></rdf:RDF></x:xmpmeta>'
        + " " * padding
        + '<?xpacket end="w"?>'
    ).encode()


CROPPED = packet(
    'crs:HasSettings="True" crs:HasCrop="True" crs:AlreadyApplied="False" crs:CropLeft="0.1"'
    ' crs:CropTop="0.2" crs:CropRight="0.9" crs:CropBottom="0.8" crs:CropAngle="-2.5"'
    ' tiff:Orientation="6"'
)
CROPPED_CROP = (0.1, 0.2, 0.9, 0.8, -2.5)


def crop_tuple(settings: DevelopSettings) -> tuple[float, ...]:
    c = settings.crop
    return (c.left, c.top, c.right, c.bottom, c.angle)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def plain_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, "JPEG", quality=80)
    return out.getvalue()


def jpeg_with(*segments: bytes) -> bytes:
    data = plain_jpeg()
    return data[:2] + b"".join(segments) + data[2:]


def extended_segments(ext: bytes, chunk: int, guid: bytes | None = None) -> list[bytes]:
    guid = guid or hashlib.md5(ext).hexdigest().upper().encode()
    out = []
    for offset in range(0, len(ext), chunk):
        header = EXTENDED_XMP_HEADER + guid + struct.pack(">II", len(ext), offset)
        out.append(segment(0xE1, header + ext[offset : offset + chunk]))
    return out


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- real files

# file -> (has_settings, has_crop, already_applied, crop, orientation)
EMBEDDED_FIXTURES = {
    "jpeg/JPEG.jpg": (True, True, True, (0, 0.231024, 1, 0.981024, 0), None),
    "jpeg/IMG_8943.jpg": (True, True, True, (0.035316, 0, 0.964684, 1, 1.96311), None),
    "jpeg/IMG_6455.jpg": (
        True,
        True,
        True,
        (0.007501, 0.027004, 0.992499, 0.972996, -1.05998),
        None,
    ),
    "jpeg/IMG_8824.jpg": (True, True, True, (0.359936, 0.228029, 0.782206, 0.650299, 0), None),
    "jpeg/IMG_9516.jpg": (
        True,
        True,
        True,
        (0.010259, 0.036932, 0.989741, 0.963068, -1.46446),
        None,
    ),
    "jpeg/IMG_8751.jpg": (True, True, True, (0.011976, 0.011976, 1, 1, 0), None),
    "jpeg/ladybug.jpg": (True, True, True, (0.190999, 0.266726, 0.779695, 0.929009, 0), None),
    "jpeg/chameleon_lime.jpg": (True, True, True, (0.24308, 0.258841, 0.84172, 0.85748, 0), None),
    "jpeg/canon_eos-1d_mark_iii_via_lightroom.jpg": (
        True,
        True,
        True,
        (0, 0.235849, 0.683962, 0.919811, 0),
        None,
    ),
    "jpeg/wild-1.jpg": (True, False, True, None, None),
    "jpeg/wild-3.jpg": (True, False, True, None, None),
    "sidecar/IMG_5910.jpg": (True, True, True, (0, 0.231776, 0.768224, 1, 0), None),
    "sidecar/testimagedesc1.jpg": (True, True, False, (0.140541, 0, 1, 0.859459, 0), None),
    "tiff/tif-with-iptc-icc-xmp.tif": (
        True,
        True,
        True,
        (0.048831, 0.097662, 0.951169, 1, 0),
        None,
    ),
    "raw/test.dng": (False, False, False, None, 8),
    "raw/canon_eos_6d.dng": (True, False, False, None, None),
    "odd/RESULT-OK_0008.jp2": (False, False, False, None, 1),
}


@pytest.mark.parametrize("name", sorted(EMBEDDED_FIXTURES))
def test_embedded_fixtures_known_answers(shared_fixtures: Path, name: str) -> None:
    has_settings, has_crop, applied, crop, orientation = EMBEDDED_FIXTURES[name]
    path = shared_fixtures / name
    got = read_embedded_settings(path)
    assert got is not None
    assert got.origin == ORIGIN_EMBEDDED
    assert got.source == path
    assert got.has_settings is has_settings
    assert got.has_crop is has_crop
    assert got.already_applied is applied
    assert got.orientation == orientation
    if crop is None:
        assert got.crop is None
    else:
        assert crop_tuple(got) == pytest.approx(crop, abs=1e-9)


def test_dng_packet_is_ifd0_not_a_preview(shared_fixtures: Path) -> None:
    # test.dng also holds JPEG previews with their own (gain map) XMP; IFD0 tag 700 is
    # Lightroom's metadata-only save.
    packets = extract_xmp_packets(shared_fixtures / "raw/test.dng")
    assert len(packets) == 1
    assert b"Lightroom Classic 13.3.1" in packets[0]
    assert b"hdrgm" not in packets[0]


def test_embedded_equals_sidecar(shared_fixtures: Path) -> None:
    (main,) = extract_xmp_packets(shared_fixtures / "sidecar/IMG_5910.jpg")
    sidecar = (shared_fixtures / "sidecar/IMG_5910.xmp").read_bytes()
    assert read_xmp_properties(main) == read_xmp_properties(sidecar)
    a = read_embedded_settings(shared_fixtures / "sidecar/testimagedesc1.jpg")
    b = read_sidecar(shared_fixtures / "sidecar/testimagedesc1.xmp")
    assert (a.has_crop, a.crop, a.already_applied) == (b.has_crop, b.crop, b.already_applied)


def test_embedded_fields(shared_fixtures: Path) -> None:
    got = read_embedded_settings(
        shared_fixtures / "jpeg/canon_eos-1d_mark_iii_via_lightroom.jpg",
        fields=["xmp:CreatorTool", "crs:CropUnit", "crs:Exposure2012"],
    )
    assert got.fields == {"xmp:CreatorTool": "Adobe Photoshop Lightroom", "crs:CropUnit": "0"}
    lime = read_embedded_settings(
        shared_fixtures / "jpeg/chameleon_lime.jpg", fields=["crs:CropConstrainToWarp"]
    )
    assert lime.fields == {"crs:CropConstrainToWarp": "1"}
    with pytest.raises(ValueError, match="'foo'"):
        read_embedded_settings(shared_fixtures / "jpeg/JPEG.jpg", fields=["foo:Bar"])


def test_files_without_xmp(shared_fixtures: Path, tmp_path: Path) -> None:
    assert extract_xmp_packets(shared_fixtures / "lrcat/test_catalog_1.lrcat") == []
    assert read_embedded_settings(shared_fixtures / "lrcat/test_catalog_1.lrcat") is None
    assert read_embedded_settings(write(tmp_path, "plain.jpg", plain_jpeg())) is None
    assert read_embedded_settings(write(tmp_path, "empty.jpg", b"")) is None
    assert read_embedded_settings(write(tmp_path, "x.cr3", b"\x00\x00\x00\x18ftypcrx ")) is None


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SkipError) as info:
        read_embedded_settings(tmp_path / "missing.jpg")
    assert info.value.reason == UNREADABLE
    with pytest.raises(SkipError) as info:
        read_embedded_settings(tmp_path)
    assert info.value.reason == UNREADABLE


# --------------------------------------------------------------------------- JPEG


def test_generated_jpeg_main_packet(tmp_path: Path) -> None:
    exif = segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    path = write(tmp_path, "a.jpg", jpeg_with(exif, segment(0xE1, XMP_APP1_HEADER + CROPPED)))
    assert extract_xmp_packets(path) == [CROPPED]
    got = read_embedded_settings(path)
    assert crop_tuple(got) == pytest.approx(CROPPED_CROP)
    assert got.orientation == 6
    assert Image.open(path).size == (16, 12)  # still a valid JPEG


def _extended_jpeg(ext: bytes, main_attrs: str, *, chunk: int = 700, shuffle: bool = True):
    guid = hashlib.md5(ext).hexdigest().upper()
    main = packet(f'xmpNote:HasExtendedXMP="{guid}" {main_attrs}')
    chunks = extended_segments(ext, chunk)
    if shuffle:
        chunks = chunks[1::2] + chunks[::2]
    decoy_ext = packet('crs:HasCrop="True" crs:CropLeft="0.5"')
    decoy = extended_segments(decoy_ext, 300, guid=b"0" * 32)
    return main, chunks, decoy


def test_extended_xmp_reassembled(tmp_path: Path) -> None:
    # Large local corrections push the crop out of the main packet, as Photoshop does.
    ext = packet(
        'crs:HasCrop="True" crs:CropLeft="0.1" crs:CropTop="0.2" crs:CropRight="0.9"'
        ' crs:CropBottom="0.8" crs:CropAngle="-2.5" crs:HasSettings="False"',
        padding=5000,
    )
    main, chunks, decoy = _extended_jpeg(ext, 'crs:HasSettings="True" tiff:Orientation="3"')
    data = jpeg_with(segment(0xE1, XMP_APP1_HEADER + main), *decoy[:1], *chunks, *decoy[1:])
    path = write(tmp_path, "ext.jpg", data)
    packets = extract_xmp_packets(path)
    assert packets == [main, ext]
    got = read_embedded_settings(path)
    assert got.has_crop
    assert crop_tuple(got) == pytest.approx(CROPPED_CROP)
    assert got.orientation == 3
    assert got.has_settings  # HasCrop True wins; the main packet's HasSettings too
    # extension chunks may come before the main packet
    data = jpeg_with(*chunks, segment(0xE1, XMP_APP1_HEADER + main))
    assert extract_xmp_packets(write(tmp_path, "ext2.jpg", data)) == [main, ext]


def test_extended_xmp_main_wins(tmp_path: Path) -> None:
    ext = packet('crs:HasCrop="True" crs:CropLeft="0.3" crs:CropTop="0.4"')
    main, chunks, _ = _extended_jpeg(ext, 'crs:CropLeft="0.2"')
    path = write(tmp_path, "e.jpg", jpeg_with(segment(0xE1, XMP_APP1_HEADER + main), *chunks))
    assert crop_tuple(read_embedded_settings(path))[:2] == (0.2, 0.4)


@pytest.mark.parametrize("problem", ["missing-chunk", "no-extension", "length-mismatch", "past"])
def test_broken_extended_xmp(tmp_path: Path, problem: str) -> None:
    ext = packet('crs:HasCrop="True" crs:CropLeft="0.3"', padding=3000)
    main, chunks, _ = _extended_jpeg(ext, "", shuffle=False)
    if problem == "missing-chunk":
        chunks = chunks[:1] + chunks[2:]
    elif problem == "no-extension":
        chunks = []
    elif problem == "length-mismatch":
        chunks[1] = chunks[1].replace(struct.pack(">I", len(ext)), struct.pack(">I", len(ext) + 1))
    else:  # a chunk claims an offset beyond the full length
        chunks[-1] = chunks[-1].replace(struct.pack(">I", len(ext)), struct.pack(">I", 100), 1)
    path = write(tmp_path, "b.jpg", jpeg_with(segment(0xE1, XMP_APP1_HEADER + main), *chunks))
    with pytest.raises(SkipError) as info:
        read_embedded_settings(path)
    assert info.value.reason == BAD_METADATA
    assert "Extended XMP" in info.value.detail


def test_extended_xmp_oversized_claim(tmp_path: Path) -> None:
    header = EXTENDED_XMP_HEADER + b"A" * 32 + struct.pack(">II", MAX_PACKET_BYTES + 1, 0)
    path = write(tmp_path, "big.jpg", jpeg_with(segment(0xE1, header + b"x" * 100)))
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(path)
    assert info.value.reason == BAD_METADATA


def test_app1_length_lies_past_the_end(tmp_path: Path) -> None:
    good = segment(0xE1, XMP_APP1_HEADER + CROPPED)
    lying = good[:2] + struct.pack(">H", 65000) + good[4:]
    data = plain_jpeg()
    path = write(tmp_path, "lie.jpg", data[:2] + lying)  # nothing after the packet
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(path)
    assert info.value.reason == BAD_METADATA
    assert "65000" in info.value.detail


def test_app1_length_too_short(tmp_path: Path) -> None:
    good = segment(0xE1, XMP_APP1_HEADER + CROPPED)
    short = good[:2] + struct.pack(">H", 200) + good[4:]
    path = write(tmp_path, "short.jpg", jpeg_with(short))
    with pytest.raises(SkipError) as info:
        read_embedded_settings(path)
    assert info.value.reason == BAD_METADATA


def test_segment_length_below_two(tmp_path: Path) -> None:
    path = write(tmp_path, "zero.jpg", b"\xff\xd8\xff\xe1\x00\x01" + b"\x00" * 50)
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(path)
    assert info.value.reason == BAD_METADATA


def test_jpeg_truncated_after_metadata_keeps_packet(tmp_path: Path) -> None:
    data = jpeg_with(segment(0xE1, XMP_APP1_HEADER + CROPPED))
    sos = data.index(b"\xff\xda")
    for cut in (sos, sos + 5, len(data) - 2):
        path = write(tmp_path, f"cut{cut}.jpg", data[:cut])
        assert extract_xmp_packets(path) == [CROPPED]
    cut_in_packet = data.index(b"crs:CropLeft")
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(write(tmp_path, "cutxmp.jpg", data[:cut_in_packet]))
    assert info.value.reason == BAD_METADATA


def test_jpeg_fill_bytes_and_stray_bytes(tmp_path: Path) -> None:
    app1 = segment(0xE1, XMP_APP1_HEADER + CROPPED)
    data = plain_jpeg()
    path = write(tmp_path, "fill.jpg", data[:2] + b"\xff\xff" + app1[1:] + b"\x00\x00" + data[2:])
    assert extract_xmp_packets(path) == [CROPPED]


def test_many_tiny_segments_are_capped(tmp_path: Path) -> None:
    body = segment(0xFE, b"") * 70_000
    path = write(tmp_path, "many.jpg", b"\xff\xd8" + body + b"\xff\xd9")
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(path)
    assert info.value.reason == BAD_METADATA


# --------------------------------------------------------------------------- TIFF


def tiff_with_xmp(xmp: bytes, order: str = "<", *, big: bool = False, gap: int = 0) -> bytes:
    """A TIFF header and IFD0 (width, height, XMLPacket); ``gap`` bytes before the XMP."""
    mark = b"II" if order == "<" else b"MM"
    if big:  # BigTIFF: 8-byte counts and offsets, 20-byte entries
        header = mark + struct.pack(order + "HHHQ", 43, 8, 0, 16)
        count_fmt, word, inline = "Q", "Q", 8
    else:
        header = mark + struct.pack(order + "HI", 42, 8)
        count_fmt, word, inline = "H", "I", 4

    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack(order + "HH" + word, tag, kind, count) + value.ljust(inline, b"\0")

    ifd_size = struct.calcsize(order + count_fmt) + 3 * (4 + 2 * inline) + inline
    xmp_offset = len(header) + ifd_size + gap
    ifd = (
        struct.pack(order + count_fmt, 3)
        + entry(256, 3, 1, struct.pack(order + "H", 1))
        + entry(257, 3, 1, struct.pack(order + "H", 1))
        + entry(700, 1, len(xmp), struct.pack(order + word, xmp_offset))
        + struct.pack(order + word, 0)
    )
    assert len(ifd) == ifd_size
    return header + ifd + b"\0" * gap + xmp


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True])
def test_generated_tiff(tmp_path: Path, order: str, big: bool) -> None:
    path = write(tmp_path, "a.tif", tiff_with_xmp(CROPPED + b"\x00", order, big=big))
    assert extract_xmp_packets(path) == [CROPPED + b"\x00"]
    assert crop_tuple(read_embedded_settings(path)) == pytest.approx(CROPPED_CROP)


def test_pillow_tiff_with_xmp_tag(tmp_path: Path) -> None:
    path = tmp_path / "pil.tif"
    Image.new("RGB", (4, 3)).save(path, tiffinfo={700: CROPPED})
    assert crop_tuple(read_embedded_settings(path)) == pytest.approx(CROPPED_CROP)


def test_tiff_without_xmp(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    Image.new("RGB", (4, 3)).save(path)
    assert extract_xmp_packets(path) == []


@pytest.mark.parametrize(
    ("patch", "word"),
    [
        (lambda d: d[:4] + struct.pack("<I", 10**9) + d[8:], "IFD0"),
        (lambda d: d[:8] + struct.pack("<H", 60000) + d[10:], "entries"),
        (lambda d: d[: -len(CROPPED) // 2], "XMLPacket"),
        (lambda d: d[:8], "IFD0"),
    ],
)
def test_hostile_tiff(tmp_path: Path, patch, word: str) -> None:
    path = write(tmp_path, "bad.tif", patch(tiff_with_xmp(CROPPED)))
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(path)
    assert info.value.reason == BAD_METADATA
    assert word in info.value.detail


def test_tiff_huge_xmp_count(tmp_path: Path) -> None:
    data = bytearray(tiff_with_xmp(CROPPED))
    entry = data.index(struct.pack("<HH", 700, 1))
    data[entry + 4 : entry + 8] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(write(tmp_path, "huge.tif", bytes(data)))
    assert info.value.reason == BAD_METADATA


def test_large_sparse_raw_is_not_read_into_memory(tmp_path: Path) -> None:
    gap = 60 * 1024 * 1024
    path = tmp_path / "big.dng"
    head = tiff_with_xmp(CROPPED, gap=gap)[: -len(CROPPED) - gap]
    with open(path, "wb") as handle:
        handle.write(head)
        handle.seek(len(head) + gap)  # sparse: nothing written in between
        handle.write(CROPPED)
    tracemalloc.start()
    try:
        packets = extract_xmp_packets(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert packets == [CROPPED]
    assert peak < 2 * 1024 * 1024


# --------------------------------------------------------------------------- PNG, WebP, JP2


@pytest.mark.parametrize("compressed", [False, True])
def test_png_itxt(tmp_path: Path, compressed: bool) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    info.add_itxt("XML:com.adobe.xmp", CROPPED.decode(), zip=compressed)
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 3)).save(path, pnginfo=info)
    assert extract_xmp_packets(path) == [CROPPED]
    assert crop_tuple(read_embedded_settings(path)) == pytest.approx(CROPPED_CROP)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def test_png_zlib_bomb_refused(tmp_path: Path) -> None:
    bomb = zlib.compress(b" " * (MAX_PACKET_BYTES + 1024), 9)
    itxt = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"iTXt", itxt) + _png_chunk(b"IEND", b"")
    with pytest.raises(SkipError) as info:
        extract_xmp_packets(write(tmp_path, "bomb.png", data))
    assert info.value.reason == BAD_METADATA


def test_png_without_xmp_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 3)).save(path)
    assert extract_xmp_packets(path) == []
    data = path.read_bytes()
    with pytest.raises(SkipError):
        extract_xmp_packets(write(tmp_path, "cut.png", data[:-20]))


def test_webp(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    Image.new("RGB", (4, 3)).save(path, "WEBP", xmp=CROPPED)
    assert extract_xmp_packets(path) == [CROPPED]
    assert crop_tuple(read_embedded_settings(path)) == pytest.approx(CROPPED_CROP)
    plain = tmp_path / "plain.webp"
    Image.new("RGB", (4, 3)).save(plain, "WEBP")
    assert extract_xmp_packets(plain) == []


def jp2_with(xmp: bytes) -> bytes:
    ftyp = b"ftypjp2 \x00\x00\x00\x00jp2 "
    uuid = b"uuid" + JP2_XMP_UUID + xmp
    boxes = struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(uuid) + 4) + uuid
    return JP2_SIGNATURE + boxes


def test_jp2_uuid_box(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jp2", jp2_with(CROPPED))
    assert extract_xmp_packets(path) == [CROPPED]
    with pytest.raises(SkipError):
        extract_xmp_packets(write(tmp_path, "cut.jp2", jp2_with(CROPPED)[:-10]))


# --------------------------------------------------------------------------- robustness


def _containers() -> dict[str, bytes]:
    ext = packet('crs:HasCrop="True" crs:CropLeft="0.3"', padding=1500)
    main, chunks, _ = _extended_jpeg(ext, 'crs:HasSettings="True"')
    png = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", CROPPED.decode(), zip=True)
    Image.new("RGB", (4, 3)).save(png, "PNG", pnginfo=info)
    webp = io.BytesIO()
    Image.new("RGB", (4, 3)).save(webp, "WEBP", xmp=CROPPED)
    return {
        "jpg": jpeg_with(segment(0xE1, XMP_APP1_HEADER + main), *chunks),
        "tif": tiff_with_xmp(CROPPED, ">"),
        "btf": tiff_with_xmp(CROPPED, "<", big=True),
        "png": png.getvalue(),
        "webp": webp.getvalue(),
        "jp2": jp2_with(CROPPED),
    }


CONTAINERS = _containers()


def _read_or_skip(path: Path) -> None:
    """Only three outcomes are allowed: settings, None, or a one-line SkipError."""
    try:
        got: DevelopSettings | SkipError | None = read_embedded_settings(path)
    except SkipError as exc:
        got = exc
    if isinstance(got, SkipError):
        assert got.reason == BAD_METADATA
        assert "\n" not in got.detail
    else:
        assert got is None or isinstance(got, DevelopSettings)


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_every_truncation_is_handled(tmp_path: Path, kind: str) -> None:
    data = CONTAINERS[kind]
    path = tmp_path / f"t.{kind}"
    for cut in range(0, len(data), max(1, len(data) // 300)):
        path.write_bytes(data[:cut])
        _read_or_skip(path)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(CONTAINERS)),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_corrupted_headers_are_handled(tmp_path: Path, kind: str, edits) -> None:
    data = bytearray(CONTAINERS[kind])
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path / f"c.{kind}"
    path.write_bytes(bytes(data))
    _read_or_skip(path)
