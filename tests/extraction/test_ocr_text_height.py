"""The text height of a page whose grey levels were stretched (issue 15, phone photos): a photo
with faint ink and shaded header rows is stretched about 2x before OCR (`stretch_contrast`), and
the paper's grain, stretched with it, passed glyph_height's fixed ink offset as hundreds of
glyph-sized specks: the 80th percentile of component heights fell from 19 px to 8.6 px, and the
line eraser, scaled by the text height, cut every glyph of the page apart (seed 7373,
group_label_rows photo: the whole of table 二 read as "二、司公", "I-++1-1", "11", ...). The offset is
the page's own as it came (scaled by the stretch's gain), so a stretch changes no text height."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrOptions
from extraction.ocr.prep import contrast_gain, glyph_height, prepare, stretch_contrast

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"
GAIN = 2.056  # the stretch's gain on the whole page this crop comes from
TEXT_PX = 11.0  # its table text's height at this scale (19 px on the page read, scaled by 0.58)


def _crop() -> np.ndarray:
    """Shaded header rows of that photo's table 二, flattened and stretched, at the scale
    glyph_height measures a page of its size (its longer side to ANALYSIS_SIDE)."""
    return cv2.imread(str(DATA / "photo_shaded_rows_stretched.jpg"), cv2.IMREAD_GRAYSCALE)


def test_the_stretched_grain_is_not_taken_for_text():
    crop = _crop()
    assert glyph_height(crop) < 0.7 * TEXT_PX  # the fixed offset: the grain's specks
    assert glyph_height(crop, GAIN) == pytest.approx(TEXT_PX, rel=0.15)


def test_a_stretch_changes_no_text_height():
    # the crop taken back to its contrast before the stretch measures as it does stretched
    crop = _crop().astype(np.float32)
    faded = np.clip(255.0 - (255.0 - crop) / GAIN, 0, 255).astype(np.uint8)
    gain, _paper = contrast_gain(faded)
    assert gain > 1.5
    assert glyph_height(stretch_contrast(faded), gain) == pytest.approx(glyph_height(faded), rel=0.15)


def test_prepare_records_the_gain_and_a_page_left_alone_has_none():
    crop = _crop()
    faded = np.clip(255.0 - (255.0 - crop.astype(np.float32)) / GAIN, 0, 255).astype(np.uint8)
    page = prepare(faded, OcrOptions())
    assert page.contrast_gain > 1.5
    black_white = np.full((200, 300), 255, np.uint8)
    black_white[50:70, 40:200] = 0
    assert prepare(black_white, OcrOptions()).contrast_gain == 1.0  # measured as before
