"""A page number read as a figure (issue 16, phone photos): Word-made reports print their folio as
"- 1 -" under the table; blur shrinks the short dashes to dots and the recogniser reads ".1." at
0.998. The page reader drops a folio it recognises ("-1-"), but ".1." passed as the figure 1 and was
placed as the last table row's value (行政强制 1 where the page prints 0, out of review). The OCR
stage reads a number between dashes or dots as the folio it is, and never as a sure figure.

The token boxes are those of a 130 dpi phone photo's page 1 (seed 4242, generator_grid), as read."""

from __future__ import annotations

import pytest

from extraction.ingest.image import tokens_to_words
from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import FOLIO_CONFIDENCE, mark_folios
from extraction.pages.geometry import drop_page_numbers

TH = 31.0  # the page's text height (work pixels)


def _token(text: str, box: tuple[float, float, float, float], conf: float = 0.99) -> OcrToken:
    quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
    return OcrToken(text, quad, box, conf, [], None, None, None)


def _table_bottom() -> list[OcrToken]:
    """The last rows of table 一 (labels and their figures) as the photo was read."""
    return [
        _token("行政许可", (262, 1570, 357, 1605)),
        _token("2649", (743, 1699, 806, 1738), 1.0),
        _token("37", (1001, 1699, 1040, 1738), 1.0),
        _token("6", (1237, 1704, 1258, 1733), 1.0),
        _token("行政处罚", (262, 1700, 357, 1735)),
        _token("行政强制", (262, 1768, 357, 1805)),
        _token("0", (779, 1768, 805, 1802), 0.804),
        _token("0", (1237, 1771, 1256, 1797), 0.905),
        _token("本年处理决定数量", (600, 1500, 900, 1535)),
    ]


def test_a_folio_read_with_dots_is_read_as_the_folio_and_dropped_by_the_page_reader():
    folio = _token(".1.", (721, 2056, 807, 2101), 0.998)
    tokens = [*_table_bottom(), folio]
    assert mark_folios(tokens) == 1
    assert folio.text == "- 1 -" and folio.alternatives[0] == (".1.", 0.998)
    assert folio.confidence <= FOLIO_CONFIDENCE
    kept = drop_page_numbers(tokens_to_words(tokens), TH)
    assert all(w.text.strip() != "- 1 -" for w in kept)
    assert len(kept) == len(tokens) - 1  # nothing else is taken for a folio


@pytest.mark.parametrize("text", [".1.", "-1-", "·12·", "—3—", "一2一", "- 14 -", "..5.."])
def test_a_folio_close_under_the_table_is_never_a_sure_figure(text: str):
    # a seal's ring read as a stroke just above it: the page reader does not take it for a folio
    folio = _token(text, (736, 2031, 806, 2075), 0.998)
    ring = _token("1", (761, 1975, 817, 2030), 0.706)
    tokens = [*_table_bottom(), ring, folio]
    mark_folios(tokens)
    assert folio.confidence <= FOLIO_CONFIDENCE
    assert ring.text == "1" and ring.confidence == 0.706


@pytest.mark.parametrize("text", ["1", "-3", "0.5", "12.", "1.", "-12", "(1)", "（二）", "3.5", "—", "- -"])
def test_figures_and_enumerators_are_left_as_read(text: str):
    t = _token(text, (736, 1700, 806, 1740), 0.99)
    assert mark_folios([t]) == 0
    assert t.text == text and t.confidence == 0.99 and t.alternatives == []
