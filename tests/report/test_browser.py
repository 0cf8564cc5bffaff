"""The report in a real headless browser (Chromium): scripts run, sorting works, it renders."""

import re

import numpy as np
import pytest
from PIL import Image

from cropperhead.report.html import write_report
from tests.report.browser import dump_dom, find_browser, page_url, screenshot

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="no headless browser installed (apt-get install -y chromium, or set "
    "CROPPERHEAD_BROWSER)",
)


def card_order(dom: str) -> list[int]:
    return [int(i) for i in re.findall(r'<figure class="card[^"]*" data-index="(\d+)"', dom)]


@pytest.fixture
def page(known, tmp_path):
    return write_report(known["predictions"], tmp_path / "report.html", known["manifest"], 96)


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        # IoUs: a 1/3, b 1/sqrt(2), c 0.5 (mean of its two copies), elsewhere unknown (last).
        ("iou-desc", [1, 2, 0, 3]),
        ("iou-asc", [0, 2, 1, 3]),
        ("confidence-desc", [2, 1, 0, 3]),
        ("name", [0, 1, 2, 3]),
    ],
)
def test_sorting_in_the_browser(page, sort, order):
    dom = dump_dom(page_url(page, f"sort={sort}"))
    assert f'data-sorted-by="{sort}"' in dom  # the script ran
    assert card_order(dom) == order


def test_file_order_without_a_hash_and_a_screenshot(page, tmp_path):
    dom = dump_dom(page_url(page))
    assert 'data-sorted-by="order"' in dom
    assert card_order(dom) == [0, 1, 2, 3]
    png = screenshot(page_url(page, "sort=iou-asc"), tmp_path / "shot.png", 800, 600)
    with Image.open(png) as im:
        assert im.size == (800, 600)
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    # The suggestion's red outline and the photographer's green one are on screen.
    red = np.all(np.abs(pixels.astype(int) - (255, 65, 54)) < 40, axis=1)
    green = np.all(np.abs(pixels.astype(int) - (46, 204, 64)) < 40, axis=1)
    assert red.sum() > 100
    assert green.sum() > 100
