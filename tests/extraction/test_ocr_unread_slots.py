"""Empty table slots that hold ink OCR did not read are read in their own box (issue 15, scans):
a light table font's figures in a thin row, half the body text's height, escape the detector, and
the recogniser reads them in their slots. A figure read there fills the blank at a confidence below
the review level; anything else read there (a mark, a letter, an unsure reading) leaves the
doubtful blank as it was."""

from __future__ import annotations

import numpy as np

from extraction.document import Field, Line
from extraction.ingest.image import SLOT_READ_CONFIDENCE, PageReading, read_unread_slots
from extraction.ocr.prep import prepare
from extraction.pages.words import UNREAD_CONFIDENCE
from tests.extraction.ocr_fakes import ScriptedRereader, spaced_token

SLOTS = [(10.0, 10.0, 40.0, 30.0), (50.0, 10.0, 80.0, 30.0), (90.0, 10.0, 120.0, 30.0), (130.0, 10.0, 160.0, 30.0)]


class _SlotReader(ScriptedRereader):
    """Reads the k-th box it is given as `answers[k]` (one call)."""

    def read_boxes(self, image, boxes, page, *, deadline=None):
        self.calls += 1
        return [self.make(a[0], b, a[1]) for a, b in zip(self.answers, boxes, strict=True) if a is not None]


def test_a_figure_read_in_an_unread_slot_fills_its_blank_below_the_review_level():
    page = np.full((60, 200), 250, np.uint8)
    reading = PageReading(prepared=prepare(page), clean=page, tokens=[], text_height=20.0)
    row = [Field("0", bbox=(170.0, 10.0, 190.0, 30.0))]
    row += [Field("", page=1, bbox=box, confidence=UNREAD_CONFIDENCE) for box in SLOTS]
    lines = [Line(row, delimited=True)]
    engine = _SlotReader([("1", 0.98), ("。", 0.79), ("0", 0.42), ("12", 0.9)], spaced_token)
    assert read_unread_slots(engine, reading, lines, SLOTS, 1, None) == 2
    got = [(f.text, f.confidence) for f in lines[0].fields[1:]]
    assert got == [
        ("1", SLOT_READ_CONFIDENCE),
        ("", UNREAD_CONFIDENCE),  # no figure: a doubtful blank still
        ("", UNREAD_CONFIDENCE),  # a figure read unsurely: the same
        ("12", SLOT_READ_CONFIDENCE),
    ]
    assert SLOT_READ_CONFIDENCE < 0.8  # the review level: such a figure is never sure by itself
