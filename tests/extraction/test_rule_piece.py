"""A row-high piece of vertical rule read as "1" (issue 16): a table of boxed rows (a shaded header
band with a dark divider, a grid whose vertical rules break between rows) leaves pieces of rule
that erasing the long rules does not take; the recogniser read one as a confident "1", placed as a
figure where the page printed 0, out of review. A piece that meets a horizontal rule at both ends is
dropped; a printed 1 clear of its cell's rules, or standing on paper, is kept."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import drop_rule_pieces

cv2 = pytest.importorskip("cv2")

TH = 27.0  # the page's text height (a 150 dpi phone photo)


def _token(text: str, box: tuple[float, float, float, float]) -> OcrToken:
    x0, y0, x1, y1 = box
    quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return OcrToken(text, quad, (x0 - 5, y0 - 5, x1 + 5, y1 + 5), 0.995, core=box)


def _rows(page: np.ndarray, tops: tuple[int, ...]) -> None:
    for y in tops:
        cv2.rectangle(page, (0, y), (page.shape[1] - 1, y + 3), 40, -1)  # a horizontal rule, 4 px


def test_a_row_high_piece_of_rule_read_as_1_is_dropped():
    page = np.full((140, 300), 235, np.uint8)
    _rows(page, (40, 76))
    cv2.rectangle(page, (150, 44), (156, 75), 40, -1)  # the divider between the rules, 7 px wide
    piece = _token("1", (149, 46, 158, 73))
    other = _token("0", (220, 48, 234, 70))
    assert drop_rule_pieces(page, [piece, other], TH) == [other]


def test_a_printed_1_inside_its_cell_is_kept():
    page = np.full((160, 300), 235, np.uint8)
    _rows(page, (30, 100))
    cv2.putText(page, "1", (150, 78), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 40, 2, cv2.LINE_AA)
    ys, xs = np.nonzero(page[34:100] < 120)
    one = _token("1", (float(xs.min()), float(ys.min() + 34), float(xs.max()), float(ys.max() + 34)))
    assert drop_rule_pieces(page, [one], TH) == [one]


def test_a_1_on_paper_and_a_rule_piece_meeting_one_rule_are_kept():
    page = np.full((140, 300), 235, np.uint8)
    cv2.rectangle(page, (150, 44), (156, 75), 40, -1)  # a bar with paper above and below
    bar = _token("1", (149, 46, 158, 73))
    assert drop_rule_pieces(page, [bar], TH) == [bar]
    _rows(page, (40,))  # a rule above only: a figure's 1 may touch a cramped cell's top rule
    assert drop_rule_pieces(page, [bar], TH) == [bar]


def test_a_printed_1_whose_box_reaches_over_a_rule_piece_is_kept():
    page = np.full((140, 300), 235, np.uint8)
    _rows(page, (40, 76))
    cv2.rectangle(page, (150, 44), (155, 75), 40, -1)  # the cell's divider
    cv2.line(page, (166, 50), (166, 70), 40, 3)  # the figure's 1, clear of the rules
    one = _token("1", (148, 48, 170, 72))
    assert drop_rule_pieces(page, [one], TH) == [one]
