"""An empty table slot that holds ink OCR did not read is a doubtful blank, not a sure one
(`extraction.ingest.image._unread_probe`). The stored crop is table 四's row of figures from a
flatbed scan of a grid_merged_labels render (seed 7171), as the OCR stage cleaned it: a light table
font whose 1s and 0s the detector missed. Read as sure blanks (1.0) they went to review only because
the row's sums failed; a row of such 0s would have passed every sum as blanks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from extraction.ingest.image import PageReading, _unread_probe

CROP = Path(__file__).parent / "data" / "scan_light_figures_row.png"
TEXT_HEIGHT = 33.1  # the page's glyph height (its CJK text), twice its table figures' height
# the figures' boxes in the crop (x0, x1): 1 0 0 0 1 1
FIGURES = [(27, 32), (106, 117), (191, 202), (276, 287), (359, 364), (442, 448)]


def _page() -> np.ndarray:
    """The crop above a line of body text in black, as on the page (the probe measures the page's
    ink from its darkest pixels)."""
    row = np.asarray(Image.open(CROP).convert("L"))
    page = np.full((row.shape[0] + 60, row.shape[1]), 250, np.uint8)
    page[: row.shape[0]] = row
    page[row.shape[0] + 25 : row.shape[0] + 55, 10:400] = 40
    return page


def test_a_slot_holding_a_light_thin_figure_ocr_missed_is_doubtful():
    page = _page()
    probe = _unread_probe(PageReading(prepared=None, clean=page, tokens=[], text_height=TEXT_HEIGHT))  # type: ignore[arg-type]
    h = Image.open(CROP).height
    assert [probe((x0 - 12, 0, x1 + 12, h)) for x0, x1 in FIGURES] == [True] * len(FIGURES)
    # the paper between two figures' cells holds no ink: a sure blank
    assert not probe((70, 0, 100, h))
