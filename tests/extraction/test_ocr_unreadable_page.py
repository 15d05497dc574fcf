"""A page whose figures cannot be read (issue 16, phone photos): small bold figures photographed at
110 dpi are blobs; the recogniser reads most with doubt (0 or 8 at 0.3-0.8) and some of the same
blobs as a sure 8 (0.948, 0.995). Where the sums held over those (8 = 8 + 0 + 0), three totals
printed 0 passed as 8 at 1.0, out of review. On a page where most lone figures are read with doubt,
no figure is sure. The readings below are a photo's (seed 6061, outer_frame_header_rule, page 2)
and a flatbed scan's (seed 6061, frame_no_row_rules, page 2), in their order on the page."""

from __future__ import annotations

from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import PAGE_DOUBT_CONFIDENCE, PAGE_DOUBT_MIN_FIGURES, doubt_unreadable_page

PHOTO = [
    ("8", 0.768), ("0", 0.818), ("8", 0.5), ("8", 0.479), ("8", 0.5), ("8", 0.673), ("0", 0.5), ("8", 0.794),
    ("8", 0.5), ("0", 0.655), ("0", 0.91), ("0", 0.35), ("8", 0.948), ("8", 0.862), ("0", 0.827), ("0", 0.642),
    ("0", 0.433), ("0", 0.5), ("0", 0.617), ("0", 0.705), ("8", 0.777), ("0", 0.782), ("0", 0.455), ("8", 0.34),
]  # fmt: skip
SCAN = [("1", 1.0), ("0", 1.0), ("0", 1.0), ("0", 0.62), ("2", 1.0), ("0", 0.99)] * 4


def _tokens(readings: list[tuple[str, float]]) -> list[OcrToken]:
    out = []
    for k, (text, conf) in enumerate(readings):
        box = (100.0 * (k % 7), 40.0 * (k // 7), 100.0 * (k % 7) + 12, 40.0 * (k // 7) + 18)
        quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
        out.append(OcrToken(text, quad, box, conf))
    return out


def test_on_a_page_of_doubtful_blobs_no_figure_is_sure():
    tokens = _tokens([*PHOTO, ("2820", 0.99), ("行政复议", 0.99)])
    assert doubt_unreadable_page(tokens) > 0
    figures = [t for t in tokens if t.text != "行政复议"]
    assert all(t.confidence <= PAGE_DOUBT_CONFIDENCE for t in figures)  # the sure 8s (0.948) too
    assert tokens[-1].confidence == 0.99  # a label is not a figure
    assert [t.text for t in tokens[: len(PHOTO)]] == [text for text, _p in PHOTO]  # readings unchanged


def test_a_readable_page_and_a_page_of_few_figures_are_left_as_read():
    scan = _tokens(SCAN)
    assert doubt_unreadable_page(scan) == 0
    assert [t.confidence for t in scan] == [p for _t, p in SCAN]
    few = _tokens(PHOTO[: PAGE_DOUBT_MIN_FIGURES - 1])
    assert doubt_unreadable_page(few) == 0
    assert [t.confidence for t in few] == [p for _t, p in PHOTO[: PAGE_DOUBT_MIN_FIGURES - 1]]
