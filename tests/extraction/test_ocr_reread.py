"""A doubtful figure read again from the page blurred (issue 15, faxes): a fax's fixed threshold
drops a Song zero's hairline top and bottom, and the recogniser reads what is left ("()") as "11",
"01" or "1" with low confidence, the sums having nothing else to choose from. The figure's box is
read again from the page blurred by a fraction of the text height; another figure read there
becomes an alternative and the token goes to review; where every second reading agrees, more
surely, it is taken. A figure read confidently, or read the same way again, is left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrOptions, OcrToken
from extraction.ocr.glyphs import REREAD_BLURS, REREAD_DISAGREE_CONFIDENCE, reread_doubtful_figures
from tests.extraction.ocr_fakes import ScriptedRereader, spaced_token

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"
TH = 22.0  # the page's text height (a fine-mode fax resampled to square pixels)


def _token(text: str, box: tuple[float, float, float, float], conf: float) -> OcrToken:
    return spaced_token(text, box, conf, core=False)


def _Rereader(answers: list[tuple[str, float] | None]) -> ScriptedRereader:
    return ScriptedRereader(answers, _token)


def _page() -> np.ndarray:
    page = np.full((80, 120), 255, np.uint8)
    cv2.ellipse(page, (60, 40), (6, 10), 0, 100, 260, 0, 2)  # a zero's two sides, its hairlines lost
    cv2.ellipse(page, (60, 40), (6, 10), 0, -80, 80, 0, 2)
    return page


BOX = (48.0, 26.0, 72.0, 54.0)


def test_a_second_reading_becomes_an_alternative_and_sends_the_figure_to_review():
    t = _token("11", BOX, 0.73)
    engine = _Rereader([("11", 0.6), ("0", 0.81)])
    assert reread_doubtful_figures(engine, _page(), [t], TH, 1) == 1
    assert engine.calls == len(REREAD_BLURS)
    assert t.text == "11"  # one second reading only: the first stays
    assert t.alternatives[0][0] == "0"
    assert t.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_second_readings_that_agree_more_surely_are_taken():
    t = _token("11", BOX, 0.6)
    engine = _Rereader([("0", 0.8), ("O", 0.9)])  # a look-alike letter is the same figure
    reread_doubtful_figures(engine, _page(), [t], TH, 1)
    assert t.text == "0"
    assert t.alternatives[0] == ("11", 0.6)
    assert t.chars == [(BOX[0], BOX[2])]  # one character now, over the first reading's extent
    assert t.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_figure_read_the_same_again_or_read_as_no_figure_is_left_as_it_was():
    same = _token("0", BOX, 0.7)
    reread_doubtful_figures(_Rereader([("0", 0.9), None]), _page(), [same], TH, 1)
    assert (same.text, same.confidence, same.alternatives) == ("0", 0.7, [])
    noise = _token("0", BOX, 0.7)
    reread_doubtful_figures(_Rereader([("口", 0.9), ("", 0.9)]), _page(), [noise], TH, 1)
    assert (noise.text, noise.confidence, noise.alternatives) == ("0", 0.7, [])


def test_a_confident_figure_or_a_label_is_not_read_again():
    engine = _Rereader([("0", 0.99), ("0", 0.99)])
    sure = _token("11", BOX, 0.97)
    label = _token("行政许可", (0.0, 0.0, 40.0, 20.0), 0.5)
    assert reread_doubtful_figures(engine, _page(), [sure, label], TH, 1) == 0
    assert engine.calls == 0
    assert sure.text == "11" and label.text == "行政许可"


def test_a_broken_fax_zero_gets_zero_as_an_alternative():
    """A crop of a standard-mode fax (204 x 98 dpi, read at square pixels) of a Song-set zero whose
    hairlines the fax lost: read as "01" (or "11"), never as 0, from the page as it is."""
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from extraction.ocr.base import load_engine

    engine = load_engine(OcrOptions())
    page = cv2.imread(str(DATA / "fax_broken_zero.png"), cv2.IMREAD_GRAYSCALE)
    (t,) = engine.read_boxes(page, [(51.0, 34.0, 76.0, 57.0)], 1)
    assert t.text != "0" and "0" not in [a for a, _p in t.alternatives]
    assert t.confidence < 0.9
    reread_doubtful_figures(engine, page, [t], TH, 1)
    assert t.text == "0" or "0" in [a for a, _p in t.alternatives]
    assert t.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_lone_glyph_also_read_as_a_figure_is_read_again():
    """A broken zero read as a letter ("e", the recogniser's digit reading 0 kept as its
    alternative) is read again like a figure; a label's character without a digit reading is not."""
    glyph = _token("e", BOX, 0.43)
    glyph.alternatives = [("0", 0.39)]
    char = _token("息", (80.0, 26.0, 104.0, 54.0), 0.6)
    engine = _Rereader([("0", 0.7), ("0", 0.8)])
    assert reread_doubtful_figures(engine, _page(), [glyph, char], TH, 1) == 1
    assert glyph.text == "0" and glyph.alternatives[0] == ("e", 0.43)
    assert char.text == "息" and char.alternatives == []


def test_a_second_reading_the_recogniser_already_offered_changes_nothing():
    t = _token("5", BOX, 0.7)
    t.alternatives = [("3", 0.12)]
    reread_doubtful_figures(_Rereader([("3", 0.8), ("5", 0.9)]), _page(), [t], TH, 1)
    assert (t.text, t.confidence, t.alternatives) == ("5", 0.7, [("3", 0.12)])
