"""A fax's sure figures checked blurred (a silent error of seed 7373's three_line fax): a
fax's fixed threshold took a Times 4's diagonal and bar away and left its stem, so table 二's
行政规范性文件 in force, printed 41, read "11" at 0.999, every character at 0.999. No hard sum runs
over that cell and it passed at 0.998. The same box read again blurred by a tenth of the text
height reads "41": on a bilevel page every figure read surely is read once more in its own box,
blurred, and a figure read otherwise keeps its reading and gets the other as its alternative. The
sums weigh the two: where a hard rule tells them apart it takes the one it needs; where none does,
the cell has a rival reading (`ambiguous`) and goes to review. Figures read the same again (a point
read as a comma included), a digit more or less at an end, doubtful figures and labels are left as
they were.

`fax_sure_41.png` is the row 规章 (0 0 0) / 行政规范性文件 (8 0 41) of that fax page as the
recogniser read it (line-erased, resampled to square pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrEngine, OcrOptions
from extraction.ocr.glyphs import check_sure_fax_figures
from tests.extraction.ocr_fakes import spaced_token as _token

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"
TEXT_HEIGHT = 29.24  # the page's glyph height


class _Boxes(OcrEngine):
    """Reads every given box as the text `reads` gives for its left edge; counts the boxes."""

    name = "fake"

    def __init__(self, reads: dict[float, tuple[str, float]]) -> None:
        super().__init__(OcrOptions())
        self.reads = reads
        self.boxes = 0

    def __call__(self, image, page, *, deadline=None):
        return []

    def read_boxes(self, image, boxes, page, *, deadline=None):
        self.boxes += len(boxes)
        return [_token(self.reads[b[0]][0], b, self.reads[b[0]][1]) for b in boxes if b[0] in self.reads]


def test_a_sure_figure_read_otherwise_blurred_keeps_its_reading_and_gets_the_other():
    eleven = _token("11", (571, 77, 604, 110), 0.999)
    eleven.alternatives = [("17", 0.001)]
    engine = _Boxes({571: ("41", 0.95)})
    assert check_sure_fax_figures(engine, np.full((130, 640), 255, np.uint8), [eleven], TEXT_HEIGHT, 1) == 1
    # the sums weigh the two readings; where none can, the cell has a rival reading and goes to review
    assert eleven.text == "11" and eleven.alternatives == [("41", 0.95), ("17", 0.001)]
    assert eleven.confidence == 0.999


def test_agreement_a_digit_more_or_less_doubtful_figures_and_labels_are_left_alone():
    same = _token("1,234", (10, 10, 60, 30), 0.99)  # read "1234" blurred: the same figure
    point = _token("0.00", (60, 10, 90, 30), 0.99)  # read "0,00": a point read as a comma, the same digits
    cut = _token("40", (100, 10, 130, 30), 0.99)  # read "340": blur joined a neighbour's ink
    gone = _token("7", (200, 10, 215, 30), 0.99)  # blur read no figure: no evidence either way
    doubtful = _token("3", (300, 10, 315, 30), 0.6)  # not sure: the doubtful figures' re-reading is its
    label = _token("规章", (400, 10, 440, 30), 0.99)
    engine = _Boxes(
        {10: ("1234", 0.9), 60: ("0,00", 0.99), 100: ("340", 0.9), 200: ("一", 0.9), 300: ("8", 0.99), 400: ("12", 0.9)}
    )
    tokens = [same, point, cut, gone, doubtful, label]
    before = [(t.text, t.confidence, list(t.alternatives)) for t in tokens]
    assert check_sure_fax_figures(engine, np.full((50, 500), 255, np.uint8), tokens, 20.0, 1) == 0
    assert [(t.text, t.confidence, t.alternatives) for t in tokens] == before
    assert engine.boxes == 4  # only the sure figures are read again


def test_the_fax_row_41_read_11_goes_to_review_and_its_sure_neighbours_stay():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from extraction.ocr.base import load_engine

    crop = cv2.imread(str(DATA / "fax_sure_41.png"), cv2.IMREAD_GRAYSCALE)
    engine = load_engine(OcrOptions())
    # the first reading's boxes (the detector's, on the page) and what it read in them
    first = [
        ("0", (37, 19, 61, 46)),
        ("0", (311, 17, 333, 46)),
        ("0", (575, 17, 599, 46)),
        ("8", (37, 79, 60, 108)),
        ("0", (311, 79, 333, 108)),
        ("11", (571, 77, 604, 110)),
    ]
    read = engine.read_boxes(crop, [box for _t, box in first], 1)
    assert [t.text for t in read] == [t for t, _box in first]  # read as the page was: 41 as a sure "11"
    assert min(t.confidence for t in read) > 0.95
    before = [(t.text, t.confidence, list(t.alternatives)) for t in read]
    assert check_sure_fax_figures(engine, crop, read, TEXT_HEIGHT, 1) == 1
    eleven = read[-1]
    assert eleven.text == "11" and eleven.alternatives[0][0] == "41"
    assert [(t.text, t.confidence, t.alternatives) for t in read[:-1]] == before[:-1]


def test_the_sums_weigh_the_blurred_reading_and_review_gets_it_where_no_hard_rule_can():
    from extraction.document import DocumentState
    from extraction.document import Field as F
    from extraction.ingest.text import split_lines
    from extraction.layout.baseline import BaselineLabeler
    from extraction.reconstruct.assemble import Reconstructor
    from extraction.result import needs_review
    from extraction.tokenize import tokenize

    text = (Path(__file__).resolve().parents[2] / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt").read_text()
    doc = DocumentState(name="x", sha256="", kind="txt")
    doc.lines = split_lines(text)
    for line in doc.lines:
        if not line.fields:
            continue
        if line.fields[0].text == "行政规范性文件":
            # in force, printed 18, read surely as 10 (a fax's lost stroke); read 18 blurred
            k = next(i for i, f in enumerate(line.fields) if f.text == "18")
            line.fields[k] = F("10", confidence=0.999, alternatives=["18"])
        elif line.fields[0].text.startswith("一、本年新收"):
            # 法律服务机构, printed 53 and read so surely; blur closed its 3 into an 8
            k = next(i for i, f in enumerate(line.fields) if f.text == "53")
            line.fields[k] = F("53", confidence=0.999, alternatives=["58"])
    doc.tokens = tokenize(doc.lines)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    in_force = doc.cells["proactive.normative_documents.in_force"]
    assert in_force.value == 10 and "ambiguous" in in_force.flags and 18 in in_force.alternatives
    assert needs_review(in_force.confidence, in_force.flags, False, 0.8)  # no hard rule tells 10 from 18
    legal = doc.cells["applications.new.legal_services"]
    assert legal.value == 53 and "ambiguous" not in legal.flags and legal.confidence > 0.8  # the sums tell


def test_a_zero_the_blur_closed_into_an_eight_is_no_rival_reading():
    # a mono zero's dot touches its ring once blurred: read "8", and "10" read "18"; the sharp
    # outline has no waist (a zero's), so the blurred 8 is no evidence. A glyph with a waist is.
    page = np.full((60, 300), 255, np.uint8)
    cv2.ellipse(page, (30, 30), (6, 12), 0, 0, 360, 0, 2)  # "0": a ring, widest at its middle
    cv2.line(page, (115, 18), (115, 42), 0, 2)  # "10": a stroke and a ring
    cv2.ellipse(page, (131, 30), (6, 12), 0, 0, 360, 0, 2)
    cv2.circle(page, (230, 24), 5, 0, 2)  # "8": two bowls, a waist between them
    cv2.circle(page, (230, 37), 6, 0, 2)
    zero = _token("0", (18, 12, 42, 48), 0.99)
    ten = _token("10", (105, 12, 142, 48), 0.99)
    eight = _token("0", (218, 12, 242, 48), 0.99)  # a sure 0 whose outline is an 8's
    engine = _Boxes({18: ("8", 0.9), 105: ("18", 0.9), 218: ("8", 0.9)})
    assert check_sure_fax_figures(engine, page, [zero, ten, eight], 26.0, 1) == 1
    assert zero.alternatives == [] and ten.alternatives == []
    assert eight.text == "0" and eight.alternatives == [("8", 0.9)]
