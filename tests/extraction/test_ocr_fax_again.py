"""A fax read a second time, blurred (issue 15, faxes in thin fonts): a fax's fixed threshold breaks
a Song face's hairlines, "0" prints as "()" and the recogniser reads it "11" or "01", some with
confidence ("30" read "10" at 0.94: a silent error once the sums agree). Re-reading only the boxes
it doubted leaves those. A bilevel page with doubtful figures is read again whole, blurred by a
tenth of the text height, and the two readings are merged figure by figure: agreement changes
nothing; disagreement keeps a figure read (blur also turns a mono 0 into 8), gives it the other
reading as its alternative and sends it to review, and replaces a glyph read as no figure; a
figure only the second reading found is added for review; labels stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrEngine, OcrOptions, OcrToken, numeric_like
from extraction.ocr.glyphs import (
    REREAD_DISAGREE_CONFIDENCE,
    SECOND_READ_MIN_DOUBTFUL,
    is_bilevel,
    merge_second_reading,
    read_fax_again,
)
from tests.extraction.ocr_fakes import spaced_token as _token

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"


class _Second(OcrEngine):
    """Reads the whole page as `tokens` (the second reading); counts the calls."""

    name = "fake"

    def __init__(self, tokens: list[OcrToken]) -> None:
        super().__init__(OcrOptions())
        self.tokens = tokens
        self.calls = 0

    def __call__(self, image, page, *, deadline=None):
        self.calls += 1
        return self.tokens


def test_readings_that_disagree_keep_the_figure_read_and_go_to_review():
    # blur also closes a mono zero's dot into an 8's waist (20 read 28): a figure read stays read
    first = [_token("11", (10, 10, 30, 30), 0.93), _token("10", (60, 10, 84, 30), 0.94)]
    second = [_token("0", (11, 10, 29, 30), 0.99), _token("30", (60, 10, 85, 30), 0.6)]
    assert merge_second_reading(first, second) == 2
    ones, ten = first
    assert ones.text == "11" and ones.alternatives[0] == ("0", 0.99)
    assert ten.text == "10" and ten.alternatives[0] == ("30", 0.6)
    assert ones.confidence <= REREAD_DISAGREE_CONFIDENCE and ten.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_glyph_read_as_no_figure_takes_the_surer_figure():
    broken = _token("(", (10, 10, 30, 30), 0.71)
    assert merge_second_reading([broken], [_token("0", (10, 10, 30, 30), 0.9)]) == 1
    assert broken.text == "0" and broken.alternatives[0] == ("(", 0.71)
    assert broken.confidence <= REREAD_DISAGREE_CONFIDENCE


def test_readings_that_agree_and_labels_are_left_as_read():
    first = [_token("0", (10, 10, 30, 30), 0.7), _token("规章", (100, 10, 140, 30), 0.95)]
    second = [_token("0", (10, 10, 30, 30), 0.99), _token("12", (100, 10, 140, 30), 0.9)]
    assert merge_second_reading(first, second) == 0
    assert [(t.text, t.confidence, t.alternatives) for t in first] == [("0", 0.7, []), ("规章", 0.95, [])]


def test_a_sure_first_reading_a_part_of_a_figure_and_a_label_character_stand():
    # blur closes a 5's gap (read 3 at 0.99); "40" read inside "340"; 日 (its runner-up 8) is a label's
    five = _token("5", (10, 10, 30, 30), 0.99)
    whole = _token("340", (60, 10, 100, 30), 0.6)
    day = _token("日", (150, 10, 170, 30), 0.46)
    day.alternatives = [("8", 0.2)]
    second = [
        _token("3", (10, 10, 30, 30), 0.995),
        _token("40", (73, 10, 100, 30), 0.9),
        _token("8", (150, 10, 170, 30), 0.9),
    ]
    tokens = [five, whole, day]
    assert merge_second_reading(tokens, second) == 0
    assert [(t.text, t.confidence) for t in tokens] == [("5", 0.99), ("340", 0.6), ("日", 0.46)]


def test_a_figure_only_the_second_reading_found_is_added_for_review():
    first = [_token("0", (10, 10, 30, 30), 0.99)]
    second = [
        _token("1", (200, 10, 210, 30), 0.99),
        _token("一", (300, 10, 330, 30), 0.99),
        _token("7", (400, 10, 410, 30), 0.6),  # a speck read unsurely
        _token("2.", (500, 10, 520, 30), 0.99),  # an enumerator is a label's
    ]
    assert merge_second_reading(first, second) == 1
    assert [t.text for t in first] == ["0", "1"]
    assert first[1].confidence <= REREAD_DISAGREE_CONFIDENCE


def test_a_page_with_few_doubtful_figures_is_not_read_again():
    tokens = [_token("0", (10 + 40 * k, 10, 30 + 40 * k, 30), 0.99 if k else 0.5) for k in range(8)]
    engine = _Second([])
    assert read_fax_again(engine, np.full((50, 400), 255, np.uint8), tokens, 20.0, 1) == 0
    assert engine.calls == 0 and SECOND_READ_MIN_DOUBTFUL > 1


def test_only_a_black_and_white_page_is_bilevel():
    fax = cv2.imread(str(DATA / "fax_song_rows.png"), cv2.IMREAD_GRAYSCALE)
    assert is_bilevel(fax)
    rng = np.random.default_rng(1)
    scan = np.clip(rng.normal(235, 6, fax.shape), 0, 255).astype(np.uint8)
    scan[fax < 128] = 40
    assert not is_bilevel(scan)
    assert not is_bilevel(np.full((40, 40), 255, np.uint8))  # no ink at all


# the rows of 本年新收 … of a standard-mode fax set in Song (seed 4242, family three_line), as printed
PRINTED = [
    ["1", "0", "1", "0", "0", "30", "32"],
    ["0"] * 7,
    ["1", "0", "0", "0", "0", "10", "11"],
    ["0"] * 7,
    ["0"] * 7,
]


def _as_printed(tokens: list[OcrToken]) -> tuple[int, int, list[str]]:
    """How many figures read as printed, how many more have the printed figure among their
    alternatives (for the sums), and the figures read wrong with confidence (≥ 0.8)."""
    figures = sorted((t for t in tokens if numeric_like(t.text)), key=lambda t: t.bbox[1])
    rows: list[list[OcrToken]] = []
    for t in figures:
        if rows and abs(t.bbox[1] - rows[-1][0].bbox[1]) < 40:
            rows[-1].append(t)
        else:
            rows.append([t])
    assert len(rows) == len(PRINTED)
    right, offered, sure_wrong = 0, 0, []
    for row, printed in zip(rows, PRINTED, strict=True):
        for t in row:
            col = min(6, max(0, round((t.bbox[0] - 128) / 219)))
            if t.text == printed[col]:
                right += 1
            elif printed[col] in [a for a, _p in t.alternatives]:
                offered += 1
            if t.text != printed[col] and t.confidence >= 0.8:
                sure_wrong.append(t.text)
    return right, offered, sure_wrong


def test_a_fax_in_song_reads_no_figure_wrong_surely():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from extraction.ingest.image import read_page

    page = cv2.imread(str(DATA / "fax_song_rows.png"), cv2.IMREAD_GRAYSCALE)
    right, offered, sure_wrong = _as_printed(read_page(page, 1, OcrOptions()).tokens)
    # read once: 28 of 35 as printed, 4 more among the alternatives, "30" read "10" at 0.94
    assert right + offered >= 32
    assert sure_wrong == []
