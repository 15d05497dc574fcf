"""A broken zero told by the page's own zeros (issue 15, faxes): where a fax drops a Song zero's
hairlines, the page prints "()" for 0 everywhere; the recogniser reads the better-kept ones as 0
and the rest as "U", "(", "1" or "11". A doubtful glyph of the zeros' size, as like them as they
are like one another, gets 0: its reading when it was read as no figure, its alternative when it
was read as one; either way it goes to review. A narrow 1, a label's character, a glyph unlike the
zeros, or a page with too few confident zeros to measure by, is left as read."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import LIKE_ZERO_MIN_TEMPLATES, REREAD_DISAGREE_CONFIDENCE, settle_like_page_zeros

cv2 = pytest.importorskip("cv2")

TH = 22.0
H, W = 12, 10  # a zero's ink on a resampled standard-mode fax


def _broken_zero(page: np.ndarray, x: int, y: int, cut: int = 40) -> None:
    """A Song zero, thick sides, whose hairline top and bottom the fax lost over `cut` degrees."""
    cx, cy = x + W // 2, y + H // 2
    cv2.ellipse(page, (cx, cy), (W // 2, H // 2), 0, 90 + cut, 270 - cut, 0, 2)
    cv2.ellipse(page, (cx, cy), (W // 2, H // 2), 0, -90 + cut, 90 - cut, 0, 2)


def _token(text: str, x: int, y: int, conf: float, w: int = W) -> OcrToken:
    core = (x - 1.0, y - 1.0, x + w + 1.0, y + H + 1.0)
    box = (core[0] - 5, core[1] - 5, core[2] + 5, core[3] + 5)
    quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
    return OcrToken(text, quad, box, conf, [], [(core[0], core[2])] * len(text), [conf] * len(text), core)


def _page(zeros: int = 8) -> tuple[np.ndarray, list[OcrToken]]:
    page = np.full((200, 60 + 40 * zeros), 255, np.uint8)
    tokens = []
    rng = np.random.default_rng(5)
    for k in range(zeros):  # a row of zeros read surely, each a little worn (a fax drops pixels)
        x = 40 + 40 * k
        _broken_zero(page, x, 30, cut=int(rng.integers(0, 55)))  # worn as much as any zero on a fax
        tokens.append(_token("0", x, 30, 0.99))
    return page, tokens


def test_a_broken_zero_read_as_a_letter_is_read_as_zero_for_review():
    page, tokens = _page()
    _broken_zero(page, 40, 100, cut=45)
    u = _token("U", 40, 100, 0.44)
    assert settle_like_page_zeros(page, [*tokens, u], TH) == 1
    assert u.text == "0" and u.alternatives[0] == ("U", 0.44)
    assert u.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_broken_zero_read_as_a_figure_gets_zero_as_its_alternative():
    page, tokens = _page()
    _broken_zero(page, 80, 100, cut=45)
    ones = _token("11", 80, 100, 0.7)
    settle_like_page_zeros(page, [*tokens, ones], TH)
    assert ones.text == "11"
    assert ones.alternatives[0] == ("0", 0.7)
    assert ones.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_narrow_one_a_label_or_a_glyph_unlike_the_zeros_is_left_as_read():
    page, tokens = _page()
    cv2.line(page, (44, 100), (44, 100 + H - 1), 0, 2)  # a printed 1: a zero's height, a third its width
    one = _token("1", 43, 100, 0.6, w=3)
    cv2.rectangle(page, (120, 100), (120 + W - 1, 100 + H - 1), 0, -1)  # a blot of a zero's size
    blot = _token("U", 120, 100, 0.4)
    cv2.putText(page, "X", (200, 112), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
    label = _token("息", 200, 100, 0.5)
    before = [(t.text, t.confidence, list(t.alternatives)) for t in (one, blot, label)]
    assert settle_like_page_zeros(page, [*tokens, one, blot, label], TH) == 0
    assert [(t.text, t.confidence, t.alternatives) for t in (one, blot, label)] == before


def test_too_few_sure_zeros_measure_nothing():
    page, tokens = _page(zeros=LIKE_ZERO_MIN_TEMPLATES - 1)
    _broken_zero(page, 40, 100, cut=45)
    u = _token("U", 40, 100, 0.44)
    assert settle_like_page_zeros(page, [*tokens, u], TH) == 0
    assert u.text == "U"
