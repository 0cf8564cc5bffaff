import base64
import io
import re

import pytest
from PIL import Image

from cropperhead.geometry import Crop
from cropperhead.report.html import write_report
from cropperhead.report.predictions import ReportError
from tests.report.conftest import EXPECTED_IOUS, prediction_row, write_jsonl

CARD = re.compile(
    r'<figure class="(card[^"]*)" data-index="(\d+)" data-name="([^"]*)" '
    r'data-iou="([^"]*)" data-confidence="([^"]*)">'
)


def cards(page: str) -> list[tuple[str, int, str, str, str]]:
    return [(c, int(i), n, iou, conf) for c, i, n, iou, conf in CARD.findall(page)]


def thumbnails(page: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(b64)))
        for b64 in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    ]


def test_report_with_manifest(known, tmp_path):
    out = write_report(known["predictions"], tmp_path / "report.html", known["manifest"], 64)
    page = out.read_text()
    found = cards(page)
    assert [i for _, i, *_ in found] == [0, 1, 2, 3]
    assert [n for _, _, n, *_ in found] == ["a.jpg", "b.jpg", "c.jpg", "elsewhere.jpg"]
    ious = [float(v) if v else None for *_, v, _ in found]
    # c.jpg has two virtual copies (IoU 1 and 0): the card shows their mean.
    assert ious[:3] == pytest.approx([EXPECTED_IOUS[0], EXPECTED_IOUS[1], 0.5], abs=1e-5)
    assert ious[3] is None
    assert [float(c) for *_, c in found[:3]] == pytest.approx([0.1, 0.2, 0.3])
    # Originals are not on this machine: the data set's copies are shown, the photo that
    # the manifest does not know gets a placeholder and is listed with its reason.
    assert page.count("shown from the data set") == 3
    assert found[3][0] == "card unreadable"
    assert re.search(r"<li><code>/photos/elsewhere.jpg</code>: unreadable: ", page)
    assert page.count('<polygon class="target"') == 4  # one per manifest sample
    assert page.count('<polygon class="pred"') == 4
    assert "(2 copies)" in page
    assert "mean IoU <b>" in page
    # Self-contained: nothing is loaded from anywhere.
    assert "Content-Security-Policy" in page
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "http://" not in page
    assert "https://" not in page


def test_thumbnails_are_in_the_display_frame(tmp_path):
    # Stored 60 x 40 with EXIF orientation 6: shown 40 wide and 60 high.
    photo = tmp_path / "upright.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (60, 40), (200, 30, 30)).save(photo, exif=exif)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [
            prediction_row(str(photo), 40, 60, Crop(0.1, 0.1, 0.9, 0.9, 2.0), 0.9),
            prediction_row(str(broken), 300, 200, Crop(0, 0, 1, 1)),
            {"source": str(tmp_path / "raw.cr3"), "reason": "unsupported: no decoder"},
        ],
    )
    page = write_report(preds, tmp_path / "r.html", thumb_size=48).read_text()
    (thumb,) = thumbnails(page)
    assert thumb.size == (32, 48)
    assert "width: 32px; height: 48px" in page
    assert "width: 48px; height: 32px" in page  # the placeholder keeps the photo's shape
    assert len(cards(page)) == 2
    assert "not predicted: unsupported: no decoder" in page
    assert "broken.jpg</code>: unreadable: " in page
    assert "<b>3</b> photos" in page
    assert "IoU" not in re.sub(r"<option[^>]*>[^<]*</option>", "", page.split("<main")[1])


def test_report_errors(tmp_path):
    with pytest.raises(ReportError, match="no predictions file"):
        write_report(tmp_path / "none.jsonl", tmp_path / "r.html")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "/a.jpg"}\n')
    with pytest.raises(ReportError, match=r"bad\.jsonl:1: malformed prediction"):
        write_report(bad, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_report_replaces_only_its_own_pages(known, tmp_path):
    from tests.helpers import assert_untouched, plant_user_files

    planted = plant_user_files(tmp_path / "out", ["index.html", "notes.txt"])
    for out in (tmp_path / "out" / "index.html", known["predictions"], known["manifest"]):
        before = out.read_bytes()
        with pytest.raises(ReportError, match="report"):
            write_report(known["predictions"], out, known["manifest"], 64)
        assert out.read_bytes() == before
    assert_untouched(planted)
    page = tmp_path / "out" / "report.html"
    for _ in range(2):
        write_report(known["predictions"], page, known["manifest"], 64)
    write_report(known["predictions"], tmp_path / "out" / "notes.txt", overwrite=True)
    assert "cropperhead report" in (tmp_path / "out" / "notes.txt").read_text()
