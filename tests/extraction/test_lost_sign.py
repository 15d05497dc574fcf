"""A minus the recogniser dropped (issue 16): on a phone photo a figure's minus is about 1 px tall
and faint, and "−33" was read "33" with full confidence in a signed column (本年增/减) that no sum
checks. A short level stroke left of an unsigned figure is noticed;
a figure with no such stroke, a stroke that is a glyph's part or a rule, and a figure read with its
sign are left as read. The figure keeps its reading and gets the signed one as its first
alternative; the rules stage unverifies such a figure in a signed column (test_confidence.py)."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import doubt_lost_signs, minus_left_of

cv2 = pytest.importorskip("cv2")

H = 17  # the digits' height on a 150 dpi phone photo


def _figure(text: str = "33", dash: int | None = None, x: int = 60) -> tuple[np.ndarray, OcrToken]:
    """A page crop with `text` printed at x; `dash`: the grey of a 1 px minus left of it (blurred
    as a photo blurs it), None for none."""
    page = np.full((60, 160), 245, np.uint8)
    cv2.putText(page, text, (x, 20 + H), cv2.FONT_HERSHEY_SIMPLEX, H / 22, 120, 2, cv2.LINE_AA)
    if dash is not None:
        cv2.line(page, (x - 13, 20 + H // 2), (x - 5, 20 + H // 2), dash, 1)
    page = cv2.GaussianBlur(page, (3, 3), 0.8)
    ys, xs = np.nonzero(page[:, x - 2 :] < 200)
    x0, x1 = float(xs.min() + x - 2), float(xs.max() + x - 2)
    box = (x0, float(ys.min()), x1, float(ys.max()))
    quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
    tok = OcrToken(text, quad, (x0 - 6, box[1] - 6, x1 + 6, box[3] + 6), 0.998, core=box)
    return page, tok


def test_a_faint_minus_left_of_an_unsigned_figure_sends_it_to_review():
    page, tok = _figure(dash=150)
    assert minus_left_of(page, tok, [tok])
    assert doubt_lost_signs(page, [tok]) == 1
    assert tok.alternatives[0] == ("-33", 0.998)
    assert tok.text == "33" and tok.confidence == 0.998  # the reading is not changed: review decides


def test_a_figure_with_clean_paper_left_of_it_keeps_its_confidence():
    page, tok = _figure()
    assert not minus_left_of(page, tok, [tok])
    assert doubt_lost_signs(page, [tok]) == 0 and tok.alternatives == []


def test_a_figure_read_with_its_sign_is_left_alone():
    page, tok = _figure(dash=150)
    tok.text = "-33"
    assert doubt_lost_signs(page, [tok]) == 0 and tok.alternatives == []


def test_a_glyphs_stroke_or_a_rule_is_no_minus():
    page, tok = _figure()
    cv2.line(page, (50, 20), (50, 20 + H), 120, 2)  # a vertical stroke (a 1 of the figure before)
    assert not minus_left_of(page, tok, [tok])
    page, tok = _figure()
    cv2.line(page, (0, 20 + H // 2), (int(tok.core[0]) - 2, 20 + H // 2), 150, 1)  # a rule's remnant
    assert not minus_left_of(page, tok, [tok])


def test_the_ink_of_another_token_is_not_a_minus():
    page, tok = _figure(dash=150)
    other = OcrToken("7", ((40, 20), (56, 20), (56, 40), (40, 40)), (40.0, 20.0, 56.0, 40.0), 0.99)
    assert not minus_left_of(page, tok, [tok, other])
