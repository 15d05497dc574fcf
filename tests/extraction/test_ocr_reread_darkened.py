"""A photo's figure read again with its greys darkened (issue 15, phone photos): a mono font's
dotted zero, 8 pt on a 110-150 dpi photo, comes out as a grey blob (its dot joined to its ring by
blur, the gaps between a lighter grey) that the recogniser reads as "e", "a", "è" or 8. The same box
read from the page with its tone curve bent towards the ink reads it as 0 (seed 7373,
group_label_rows photo, table 三: 36 of 116 figures as printed, 91 of 116 darkened). A glyph read as
no figure (no cell value at all) takes the darkened reading's figure; a figure keeps its reading
and gets the other as an alternative for the sums; both go to review. Only photographed pages are
read darkened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrOptions, OcrToken
from extraction.ocr.glyphs import (
    REREAD_BLURS,
    REREAD_DISAGREE_CONFIDENCE,
    darken_greys,
    reread_doubtful_figures,
)
from tests.extraction.ocr_fakes import ScriptedRereader

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"
TH = 18.9  # the photo's text height as read (flattened, 200 dpi frame)
# three zeros of 保护第三方's row, WQY Zen Hei Mono 8 pt, read "e" at 0.93, "e" at 0.91, "e" at 0.48
ZERO_BOXES = [(21.0, 21.0, 42.0, 43.0), (169.0, 22.0, 183.0, 42.0), (311.0, 21.0, 330.0, 43.0)]


def _token(text: str, box: tuple[float, float, float, float], conf: float) -> OcrToken:
    x0, y0, x1, y1 = box
    quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return OcrToken(text, quad, box, conf, [], [(x0, x1)] * len(text), [conf] * len(text))


def _Rereader(answers: list[tuple[str, float] | None]) -> ScriptedRereader:
    return ScriptedRereader(answers, _token)


def _page() -> np.ndarray:
    page = np.full((60, 60), 230, np.uint8)
    cv2.ellipse(page, (30, 30), (6, 10), 0, 0, 360, 40, 2)
    return page


BOX = (20.0, 16.0, 40.0, 44.0)


def test_darkening_keeps_ink_and_paper_and_takes_greys_towards_the_ink():
    page = np.full((100, 400), 230, np.uint8)  # paper, with a patch of ink and two of grey
    page[10:40, 10:40], page[10:40, 110:140], page[10:40, 210:240] = 40, 135, 200
    dark = darken_greys(page)
    assert dark is not None
    ink, mid, light, paper = (int(dark[20, x]) for x in (20, 120, 220, 320))
    assert ink <= 45 and paper >= 225
    assert mid < 70  # half-way grey: an eighth of the way from the ink
    assert light < 165
    assert darken_greys(np.full((40, 40), 200, np.uint8)) is None  # no contrast to bend


def test_a_letter_read_where_the_darkened_page_reads_a_figure_takes_it_for_review():
    t = _token("e", BOX, 0.93)  # however sure: a lone letter in a photo's table is a blob
    engine = _Rereader([("8", 0.6), None, ("0", 0.7)])
    assert reread_doubtful_figures(engine, _page(), [t], TH, 1, darken=True) == 1
    assert engine.calls == len(REREAD_BLURS) + 1
    assert t.text == "0"
    assert t.alternatives[0] == ("e", 0.93) and "8" in [a for a, _p in t.alternatives]
    assert t.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_figure_keeps_its_reading_and_gets_the_darkened_one_as_its_alternative():
    t = _token("8", BOX, 0.6)
    reread_doubtful_figures(_Rereader([("8", 0.7), ("8", 0.6), ("0", 0.8)]), _page(), [t], TH, 1, darken=True)
    assert t.text == "8" and t.alternatives[0][0] == "0"
    assert t.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_without_darkening_a_sure_letter_is_not_read_again():
    t = _token("e", BOX, 0.93)
    engine = _Rereader([("0", 0.9), ("0", 0.9)])
    assert reread_doubtful_figures(engine, _page(), [t], TH, 1) == 0
    assert engine.calls == 0 and t.text == "e"


def test_a_photos_mono_zeros_read_as_letters_are_read_as_zero():
    """A crop of the flattened, line-erased photo (seed 7373 group_label_rows, table 三)."""
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from extraction.ocr.base import load_engine

    engine = load_engine(OcrOptions())
    page = cv2.imread(str(DATA / "photo_mono_zeros.png"), cv2.IMREAD_GRAYSCALE)
    tokens = engine.read_boxes(page, ZERO_BOXES, 1)
    assert len(tokens) == 3 and not any(t.text == "0" for t in tokens)
    first = [(t.text, t.confidence, list(t.alternatives)) for t in tokens]
    reread_doubtful_figures(engine, page, tokens, TH, 1)  # blurred only: no figure for the sure letters
    assert sum(t.text == "0" for t in tokens) == 0
    tokens = engine.read_boxes(page, ZERO_BOXES, 1)
    reread_doubtful_figures(engine, page, tokens, TH, 1, darken=True)
    assert [t.text for t in tokens] == ["0", "0", "0"]
    for t, (text, _conf, _alts) in zip(tokens, first, strict=True):
        assert t.alternatives[0][0] == text and t.confidence <= REREAD_DISAGREE_CONFIDENCE
