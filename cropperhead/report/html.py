"""A self-contained HTML contact sheet of suggested crops.

One card per prediction: a thumbnail of the photo in its display frame (embedded as a
base64 JPEG, made with :func:`cropperhead.scan.photo.load_photo` exactly as the scan
orients it), the suggested crop as a turned rectangle, the photographer's own crop when
a manifest knows the photo, and the IoU between them. The rectangles are an SVG overlay
in coordinates normalised by the display frame, so they stay sharp at any zoom; a tick
marks each crop's top edge. A few lines of inline JavaScript sort the cards by name,
confidence or IoU (``report.html#sort=iou-asc`` opens it sorted, worst first). The page
loads nothing from anywhere: a Content-Security-Policy forbids it, so it works offline
and can be mailed around.

Photos that cannot be decoded still get a card (a grey placeholder of the right shape
with the crops drawn on it) and are listed with their reason at the end; when the
original is missing but the manifest's scanned copy is there, that copy is shown.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from cropperhead import files
from cropperhead.errors import one_line
from cropperhead.geometry import Crop, crop_to_corners
from cropperhead.report.evaluate import EvaluationResult, match
from cropperhead.report.predictions import (
    PredictionRecord,
    ReportError,
    load_samples,
    read_predictions,
    source_key,
)
from cropperhead.report.scores import IOU_THRESHOLD, score
from cropperhead.viz import PRED_RGB, TARGET_RGB

if TYPE_CHECKING:
    from cropperhead.data.manifest import Sample

#: The generator tag in every page written: how an earlier report is recognised.
GENERATOR_TAG = "cropperhead report"
log = logging.getLogger(__name__)

MIN_THUMB, MAX_THUMB = 32, 2048
JPEG_QUALITY = 82
SORTS = {
    "order": "file order",
    "name": "name",
    "iou-asc": "IoU, worst first",
    "iou-desc": "IoU, best first",
    "confidence-asc": "confidence, lowest first",
    "confidence-desc": "confidence, highest first",
}


@dataclass
class Card:
    """What one card of the report shows.

    Attributes:
        index: position of the prediction in the predictions file.
        prediction: the prediction.
        targets: the photographer's crops of this photo with the manifest's W' x H'.
        ious: IoU of the prediction against each target.
        thumbnail: the JPEG bytes, None when no picture could be found.
        thumb_size: pixel size of the thumbnail (or of the placeholder's shape).
        note: why the picture is missing or where it came from, else ``""``.
    """

    index: int
    prediction: PredictionRecord
    targets: list[tuple[Crop, int, int]] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    thumbnail: bytes | None = None
    thumb_size: tuple[int, int] = (4, 3)
    note: str = ""

    @property
    def iou(self) -> float | None:
        """Mean IoU over the photo's samples (virtual copies), None when unknown."""
        return float(np.mean(self.ious)) if self.ious else None


def write_report(
    predictions_jsonl: Path,
    out_html: Path,
    manifest: Path | None = None,
    thumb_size: int = 320,
    overwrite: bool = False,
    overwrite_option: str = "--overwrite",
) -> Path:
    """Write an HTML contact sheet of the suggested crops.

    Args:
        predictions_jsonl: what ``python predict.py`` wrote.
        out_html: the page to write (its folder is created; replaced atomically).
        manifest: ``DATASET_DIR`` or ``DATASET_DIR/manifest.jsonl``; when given, the
            photographer's crops of the photos it knows are drawn too, with the IoU.
        thumb_size: long side of the thumbnails in pixels.
        overwrite: replace an existing ``out_html`` that is not a report of ours.
        overwrite_option: how the user says ``overwrite`` (named in the refusal).

    Returns:
        ``out_html``.

    Raises:
        ReportError: a missing or malformed input (one-line message), a thumb size out
            of range, or an ``out_html`` that is an input or an existing file that is not
            one of our reports (unless ``overwrite``).
    """
    out_html = Path(out_html).expanduser()
    inputs = [Path(predictions_jsonl)]
    if manifest is not None:
        inputs += [Path(manifest), Path(manifest) / "manifest.jsonl"]
    try:
        files.check_output_file(
            out_html,
            what="report",
            is_ours=is_report_file,
            overwrite=overwrite,
            inputs=inputs,
            option=overwrite_option,
        )
    except files.OutputRefusedError as exc:
        raise ReportError(str(exc)) from exc
    if not MIN_THUMB <= int(thumb_size) <= MAX_THUMB:
        raise ReportError(f"thumb size must lie in [{MIN_THUMB}, {MAX_THUMB}], got {thumb_size}")
    predictions = read_predictions(predictions_jsonl)
    samples = load_samples(manifest) if manifest is not None else []
    summary = match(samples, predictions) if samples else None
    by_source: dict[str, list[Sample]] = {}
    for s in samples:
        by_source.setdefault(source_key(s.source), []).append(s)

    cards: list[Card] = []
    not_predicted: list[tuple[str, str]] = []
    shown = [p for p in predictions if p.crop is not None]
    for index, pred in enumerate(predictions):
        if pred.crop is None:
            not_predicted.append((pred.source, pred.reason))
            continue
        card = Card(index, pred)
        for s in by_source.get(source_key(pred.source), []):
            card.targets.append((s.crop, s.width, s.height))
            card.ious.append(score(pred.crop, s.crop, s.width, s.height)[0])
        _add_thumbnail(card, by_source.get(source_key(pred.source), []), int(thumb_size))
        cards.append(card)
        if len(cards) % 50 == 0:
            log.info("report: %d / %d thumbnails", len(cards), len(shown))

    page = render_page(
        cards,
        not_predicted,
        summary,
        title=f"CropperHead: {Path(predictions_jsonl).name}",
        thumb_size=int(thumb_size),
        manifest_given=manifest is not None,
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(out_html, page, errors="backslashreplace")
    return out_html


def is_report_file(path: Path) -> bool:
    """Whether ``path`` is a page :func:`write_report` wrote (its generator tag)."""
    with files.open_regular(path) as handle:
        head = handle.read(4096)
    return GENERATOR_TAG.encode() in head


def _add_thumbnail(card: Card, samples: list[Sample], size: int) -> None:
    """Fill ``card.thumbnail`` from the photo, else the scanned copy, else a note."""
    from cropperhead.metadata.types import SkipError
    from cropperhead.scan.photo import load_photo

    pred = card.prediction
    try:
        picture = load_photo(Path(pred.source), size).image
    except SkipError as exc:
        reason = f"{exc.reason}: {exc.detail}"
    except Exception as exc:  # a decoder's bug must not stop the report
        log.debug("cannot read %s", pred.source, exc_info=True)
        reason = f"unreadable: {type(exc).__name__}: {one_line(exc)}"
    else:
        card.thumbnail, card.thumb_size = _jpeg(picture)
        return
    for s in samples:
        try:
            with Image.open(s.image) as im:
                picture = im.convert("RGB")
            picture.thumbnail((size, size))
        except (OSError, ValueError):
            continue
        card.thumbnail, card.thumb_size = _jpeg(picture)
        card.note = f"shown from the data set's copy ({reason})"
        return
    card.note = reason
    w, h = pred.width, pred.height
    scale = size / max(w, h)
    card.thumb_size = (max(1, round(w * scale)), max(1, round(h * scale)))


def _jpeg(picture: Image.Image) -> tuple[bytes, tuple[int, int]]:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue(), picture.size


# ---------------------------------------------------------------------------- rendering


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*colour)


def _polygon(crop: Crop, width: int, height: int, css_class: str) -> str:
    """SVG for one crop in a 0..1 x 0..1 viewBox: the turned rectangle and its top tick."""
    pts = crop_to_corners(crop, width, height)
    size = np.array([width, height], dtype=np.float64)
    norm = pts / size
    points = " ".join(f"{x:.5f},{y:.5f}" for x, y in norm)
    mid = (pts[0] + pts[1]) / 2
    down = pts[3] - pts[0]
    length = np.linalg.norm(down)
    tip = mid + down / max(length, 1e-9) * min(0.06 * min(width, height), 0.3 * length)
    (x1, y1), (x2, y2) = mid / size, tip / size
    return (
        f'<polygon class="{css_class}" points="{points}"/>'
        f'<line class="{css_class}" x1="{x1:.5f}" y1="{y1:.5f}" x2="{x2:.5f}" y2="{y2:.5f}"/>'
    )


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6f}"


def _card_html(card: Card, thumb_size: int) -> str:
    pred = card.prediction
    crop = pred.crop if pred.crop is not None else Crop.full_frame()
    name = Path(pred.source).name or pred.source
    tw, th = card.thumb_size
    fit = thumb_size / max(tw, th)
    box_w, box_h = round(tw * fit), round(th * fit)
    shapes = "".join(_polygon(c, w, h, "target") for c, w, h in card.targets)
    shapes += _polygon(crop, pred.width, pred.height, "pred")
    if card.thumbnail is not None:
        b64 = base64.b64encode(card.thumbnail).decode("ascii")
        picture = f'<img src="data:image/jpeg;base64,{b64}" alt="{html.escape(name)}">'
    else:
        picture = '<div class="missing">no picture</div>'
    facts = []
    if card.ious:
        copies = f" ({len(card.ious)} copies)" if len(card.ious) > 1 else ""
        good = " good" if card.iou is not None and card.iou > IOU_THRESHOLD else ""
        facts.append(f'<span class="iou{good}">IoU {card.iou:.3f}{copies}</span>')
    if pred.confidence is not None:
        facts.append(f'<span class="conf">conf {pred.confidence:.2f}</span>')
    facts.append(f'<span class="angle">{crop.angle:+.1f}&deg;</span>')
    note = f'<div class="note">{html.escape(card.note)}</div>' if card.note else ""
    classes = "card" + ("" if card.thumbnail is not None else " unreadable")
    return (
        f'<figure class="{classes}" data-index="{card.index}" '
        f'data-name="{html.escape(name.lower())}" data-iou="{_number(card.iou)}" '
        f'data-confidence="{_number(pred.confidence)}">'
        f'<div class="frame"><div class="thumb" style="width: {box_w}px; height: {box_h}px">'
        f'{picture}<svg viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">'
        f"{shapes}</svg></div></div><figcaption>"
        f'<div class="name" title="{html.escape(pred.source)}">{html.escape(name)}</div>'
        f'<div class="facts">{" ".join(facts)}</div>{note}</figcaption></figure>'
    )


def _summary_html(
    cards: list[Card],
    not_predicted: list[tuple[str, str]],
    summary: EvaluationResult | None,
    manifest_given: bool,
) -> str:
    items = [_count(len(cards) + len(not_predicted), "photo")]
    unreadable = sum(1 for c in cards if c.thumbnail is None)
    if unreadable:
        items.append(f'{_count(unreadable, "photo")} <a href="#problems">not readable here</a>')
    if not_predicted:
        items.append(f'{_count(len(not_predicted), "photo")} <a href="#problems">not predicted</a>')
    if summary is not None and summary.comparisons:
        m, u, f = summary.model, summary.usual_crop, summary.full_frame
        copies = (
            f" ({summary.matched_samples} crops)"
            if summary.matched_samples != summary.matched_photos
            else ""
        )
        items.append(f"<b>{summary.matched_photos}</b> with your crop{copies}")
        items.append(
            f"mean IoU <b>{m.iou_mean:.3f}</b> "
            f"(your usual crop {u.iou_mean:.3f}, full frame {f.iou_mean:.3f})"
        )
        items.append(f"IoU &gt; {IOU_THRESHOLD:g}: <b>{100 * m.iou_above:.0f}%</b>")
    elif manifest_given:
        items.append("none of them is in the manifest")
    confidences = [c.prediction.confidence for c in cards if c.prediction.confidence is not None]
    if confidences:
        items.append(f"mean confidence <b>{np.mean(confidences):.2f}</b>")
    return " &middot; ".join(items)


def _count(n: int, noun: str) -> str:
    return f"<b>{n}</b> {noun}{'' if n == 1 else 's'}"


def render_page(
    cards: list[Card],
    not_predicted: list[tuple[str, str]],
    summary: EvaluationResult | None,
    title: str = "CropperHead report",
    thumb_size: int = 320,
    manifest_given: bool = False,
) -> str:
    """The report page as one HTML string (no external resources).

    Args:
        cards: one per prediction with a crop, in file order.
        not_predicted: ``(source, reason)`` of photos the predictor skipped.
        summary: the evaluation against the manifest, None without one.
        title: the page title.
        thumb_size: card width in CSS pixels.
        manifest_given: whether a manifest was given (says so when nothing matched).

    Returns:
        The page.
    """
    options = "".join(f'<option value="{k}">{html.escape(v)}</option>' for k, v in SORTS.items())
    problems = ""
    skipped = [(c.prediction.source, c.note) for c in cards if c.thumbnail is None]
    skipped += [(s, f"not predicted: {r}") for s, r in not_predicted]
    if skipped:
        rows = "".join(
            f"<li><code>{html.escape(s)}</code>: {html.escape(r)}</li>" for s, r in skipped
        )
        problems = (
            f'<section id="problems"><h2>Photos that could not be shown ({len(skipped)})</h2>'
            f"<ul>{rows}</ul></section>"
        )
    legend = (
        '<span class="key pred"></span> suggested crop'
        + (' <span class="key target"></span> your crop' if manifest_given else "")
        + " &middot; the tick marks the top edge"
    )
    body = "".join(_card_html(c, thumb_size) for c in cards)
    return _PAGE.format(
        generator=f'<meta name="generator" content="{GENERATOR_TAG}">',
        title=html.escape(title),
        pred=_rgb(PRED_RGB),
        target=_rgb(TARGET_RGB),
        thumb=thumb_size,
        summary=_summary_html(cards, not_predicted, summary, manifest_given),
        legend=legend,
        options=options,
        cards=body,
        problems=problems,
        script=_SCRIPT,
    )


_SCRIPT = """
(function () {
  var grid = document.getElementById("cards");
  var select = document.getElementById("sort");
  function value(card, field) {
    var v = card.getAttribute("data-" + field);
    return v === "" || v === null ? null : parseFloat(v);
  }
  function sortBy(how) {
    if (!(how in SORTS)) how = "order";
    var parts = how.split("-"), field = parts[0], sign = parts[1] === "desc" ? -1 : 1;
    var cards = Array.prototype.slice.call(grid.children);
    cards.sort(function (a, b) {
      var order = value(a, "index") - value(b, "index");
      if (field === "order") return order;
      if (field === "name") {
        return a.dataset.name < b.dataset.name ? -1 : a.dataset.name > b.dataset.name ? 1 : order;
      }
      var x = value(a, field), y = value(b, field);
      if (x === null || y === null) return x === y ? order : x === null ? 1 : -1;
      return x === y ? order : sign * (x - y);
    });
    cards.forEach(function (card) { grid.appendChild(card); });
    grid.setAttribute("data-sorted-by", how);
    select.value = how;
  }
  var SORTS = {};
  Array.prototype.forEach.call(select.options, function (o) { SORTS[o.value] = true; });
  select.addEventListener("change", function () {
    sortBy(select.value);
    history.replaceState(null, "", "#sort=" + select.value);
  });
  var m = /sort=([a-z-]+)/.exec(location.hash);
  sortBy(m ? m[1] : "order");
  window.cropperheadSort = sortBy;
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
{generator}
<title>{title}</title>
<style>
body {{ margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #181818; color: #ddd; }}
header {{ position: sticky; top: 0; z-index: 1; padding: 10px 16px; background: #222;
  border-bottom: 1px solid #333; }}
h1 {{ margin: 0 0 4px; font-size: 17px; font-weight: 600; }}
h2 {{ font-size: 15px; }}
a {{ color: #8cf; }}
.summary b {{ color: #fff; }}
.bar {{ margin-top: 6px; display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }}
.key {{ display: inline-block; width: 18px; height: 0; vertical-align: middle;
  border-top: 3px solid; }}
.key.pred {{ border-color: {pred}; }}
.key.target {{ border-color: {target}; }}
#cards {{ display: flex; flex-wrap: wrap; gap: 12px; padding: 16px; align-items: flex-start; }}
.card {{ margin: 0; width: {thumb}px; background: #262626; border-radius: 4px;
  overflow: hidden; }}
.frame {{ width: {thumb}px; height: {thumb}px; display: flex; align-items: center;
  justify-content: center; background: #1f1f1f; }}
.thumb {{ position: relative; background: #444; }}
.thumb img, .thumb svg, .missing {{ position: absolute; inset: 0; width: 100%;
  height: 100%; }}
.missing {{ display: flex; align-items: center; justify-content: center; color: #999; }}
svg polygon, svg line {{ fill: none; stroke-width: 2.5; vector-effect: non-scaling-stroke; }}
svg .pred {{ stroke: {pred}; }}
svg .target {{ stroke: {target}; stroke-dasharray: 6 3; }}
figcaption {{ padding: 6px 8px; }}
.name {{ font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.facts {{ display: flex; gap: 10px; flex-wrap: wrap; color: #bbb; font-size: 13px;
  white-space: nowrap; }}
.facts .iou.good {{ color: rgb(120, 220, 130); }}
.note {{ color: #e99; font-size: 12px; }}
#problems {{ padding: 0 16px 24px; }}
#problems code {{ color: #fff; }}
</style></head>
<body>
<header><h1>{title}</h1>
<div class="summary">{summary}</div>
<div class="bar"><label>sort by <select id="sort">{options}</select></label>
<span>{legend}</span></div></header>
<main id="cards">{cards}</main>
{problems}
<script>{script}</script>
</body></html>
"""
