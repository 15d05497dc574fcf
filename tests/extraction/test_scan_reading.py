"""What a scanned page needs beyond plain OCR: rules erased without garbling text, seals lifted,
sparse pages not blown into grain, lone figures the detector misses, doubtful blanks to review,
misread glyphs in columns of numbers, and short labels that only count at the start of a row."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.document import Field, Line
from extraction.ingest.image import missed_glyph_boxes
from extraction.ocr.base import OcrToken
from extraction.ocr.prep import split_seal, stretch_contrast
from extraction.pages.geometry import UNREAD_CONFIDENCE, Word, as_figure, erase_lines, layout_page
from extraction.tokenize import tokenize

cv2 = pytest.importorskip("cv2")


def _paper(h: int = 400, w: int = 900) -> np.ndarray:
    return np.full((h, w), 235, np.uint8)


def test_erasing_rules_keeps_a_row_of_aligned_strokes():
    """Characters whose horizontal strokes line up (本年新…) are not a rule: only a long stroke is."""
    page = _paper()
    for k in range(8):  # eight "characters" 20 px wide, 4 px apart, a stroke at the same height
        x = 100 + k * 24
        cv2.line(page, (x, 150), (x + 19, 150), 20, 2)
        cv2.line(page, (x + 10, 140), (x + 10, 165), 20, 2)
    cv2.line(page, (50, 300), (850, 300), 20, 2)  # a real table rule
    clean = erase_lines(page, text_height=21.0)
    assert clean[150, 100:290].min() < 100  # the glyph strokes are still there
    assert clean[300, 60:840].min() > 200  # the rule is gone


def test_seal_ink_is_lifted_and_a_figure_under_it_stays():
    rgb = np.stack([_paper()] * 3, axis=2)
    cv2.putText(rgb, "7", (400, 220), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (15, 15, 15), 5)
    ink = np.full_like(rgb, 255)
    cv2.circle(ink, (420, 200), 80, (215, 60, 60), 10)
    cv2.circle(ink, (420, 200), 30, (205, 50, 55), -1)  # a solid star-like blob over the figure
    stamped = np.minimum(rgb, ink)  # seal ink over print: the print stays as dark as it was
    grey, seal = split_seal(stamped)
    assert seal is not None and seal[200, 340]  # the ring is seal ink
    assert grey[200, 340] > 200  # ... lifted to the paper
    figure = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) < 100
    assert (grey[figure] < 100).mean() > 0.9  # the black figure under the seal is kept


def test_a_plain_page_has_no_seal():
    rgb = np.stack([_paper()] * 3, axis=2)
    grey, seal = split_seal(rgb)
    assert seal is None and grey.shape == (400, 900)


def test_contrast_stretch_does_not_turn_a_sparse_page_into_grain():
    rng = np.random.default_rng(0)
    page = np.clip(rng.normal(232, 6, (600, 800)), 0, 255).astype(np.uint8)  # noisy paper
    cv2.putText(page, "12", (380, 300), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 60, 1)  # very little ink
    out = stretch_contrast(page)
    paper = out[50:250, 50:250].astype(float)
    assert paper.std() <= 2.6 * page[50:250, 50:250].astype(float).std()  # the gain is capped
    assert paper.mean() > 200  # the paper stays light


def test_a_faded_page_is_stretched():
    page = np.full((300, 300), 190, np.uint8)
    cv2.putText(page, "8", (100, 200), cv2.FONT_HERSHEY_SIMPLEX, 3, 120, 6)
    out = stretch_contrast(page)
    assert out[:50, :50].mean() > 240 and out.min() <= 90  # grey paper → white, grey ink darker


def _token(text: str, box: tuple[float, float, float, float], conf: float = 0.99) -> OcrToken:
    x0, y0, x1, y1 = box
    return OcrToken(text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), box, conf)


def test_missed_glyphs_are_found_outside_detected_boxes():
    page = _paper()
    for y in (60, 320):  # lines of text the detector found (a page has some)
        cv2.rectangle(page, (50, y), (850, y + 14), 20, -1)
    cv2.putText(page, "0", (600, 210), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 20, 2)  # missed by the "detector"
    cv2.putText(page, "45", (200, 210), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 20, 2)  # detected
    page[100, 100] = 0  # a speck
    found = [_token("45", (195, 190, 235, 215)), _token("正文", (45, 55, 855, 79)), _token("正文", (45, 315, 855, 339))]
    boxes = missed_glyph_boxes(page, found, text_height=21.0)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert x0 < 605 < x1 and y0 < 200 < y1


def test_a_glyph_in_a_column_of_numbers_takes_its_digit_reading():
    word = Word("日", (0, 0, 10, 10), 0.55, ["0"])
    fig = as_figure(word)
    assert fig is not None and fig.text == "0" and fig.confidence <= 0.5
    assert as_figure(Word("日", (0, 0, 10, 10), 0.97, ["0"])) is None  # read with confidence: a character
    assert as_figure(Word("12", (0, 0, 10, 10), 0.5, ["17"])) is None  # already a number


def _row(y: float, label: str, values: list[str | None], th: float = 20.0) -> list[Word]:
    words = [Word(label, (50, y, 50 + th * len(label), y + th))]
    for k, v in enumerate(values):
        if v is not None:
            x = 400 + k * 120
            words.append(Word(v, (x, y, x + 12 * len(v), y + th)))
    return words


def test_an_empty_slot_with_ink_is_a_doubtful_blank():
    words = (
        _row(100, "规章", ["4", "0", "8"])
        + _row(140, "行政规范性文件", ["13", None, "62"])
        + _row(180, "行政许可", ["5", "7", "9"])
    )
    probe_calls: list[tuple] = []

    def unread(box):
        probe_calls.append(box)
        return box[0] < 526 < box[2]  # ink in the middle column's slot (its figures stand at x ≈ 526)

    lines = layout_page(words, [], 1, unread=unread)
    row = next(ln for ln in lines if ln.fields[0].text == "行政规范性文件")
    assert [f.text for f in row.fields] == ["行政规范性文件", "13", "", "62"]
    assert row.fields[2].confidence == UNREAD_CONFIDENCE and row.fields[2].bbox is not None
    assert probe_calls
    plain = layout_page(words, [], 1)
    assert next(ln for ln in plain if ln.fields[0].text == "行政规范性文件").fields[2].confidence == 1.0


def test_a_doubtful_blank_token_keeps_its_confidence():
    lines = [
        Line([Field("三、收到和处理政府信息公开申请情况")]),
        Line(
            [Field("一、本年新收政府信息公开申请数量"), *(Field(v) for v in ["1", "0", "0", "0", "0", "0", "1"])],
            delimited=True,
        ),
    ]
    lines[1].fields[2] = Field("", bbox=(1, 1, 2, 2), confidence=UNREAD_CONFIDENCE)
    tokens = tokenize(lines)
    blank = next(t for t in tokens if t.kind == "blank")
    assert blank.confidence == UNREAD_CONFIDENCE and blank.bbox == (1, 1, 2, 2)


def test_short_label_in_a_column_header_is_not_a_row():
    from extraction.layout.baseline import _labels_before

    lines = [
        Line([Field(t) for t in ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "")], delimited=True),
        Line([Field("（三）其他"), Field("0"), Field("1")], delimited=True),
    ]
    tokens = tokenize(lines)
    header_other = next(t for t in tokens if t.text == "其他" and t.line == 0)
    row_other = next(t for t in tokens if t.text.endswith("其他") and t.line == 1)
    assert _labels_before(tokens, header_other.index) >= 3
    assert _labels_before(tokens, row_other.index) == 0


def test_a_page_number_in_the_margin_is_not_a_value():
    from extraction.pages.geometry import drop_page_numbers

    words = _row(100, "规章", ["4", "0", "8"]) + _row(140, "行政规范性文件", ["13", "0", "62"])
    words += _row(180, "行政许可", ["5", "7", "9"])
    folio = Word("2", (345, 900, 357, 920))  # "- 2 -" read without its dashes, centred at the foot
    kept = drop_page_numbers([*words, folio], 20.0)
    assert folio not in kept and len(kept) == len(words)
    last_value = Word("2", (345, 215, 357, 235))  # a figure right under the table is kept
    assert last_value in drop_page_numbers([*words, last_value], 20.0)


def test_a_group_enumerator_read_with_the_first_row_label_is_cut_off():
    from extraction.pages.geometry import split_group_enumerator

    text = "三、（一）予以公开"
    word = Word(text, (0, 0, 180, 20), chars=[(20.0 * i, 20.0 * i + 18) for i in range(len(text))])
    pieces = split_group_enumerator(word)
    assert [p.text for p in pieces] == ["三、", "（一）予以公开"]
    assert pieces[1].bbox[0] == 40.0
    assert split_group_enumerator(Word("（一）予以公开", (0, 0, 140, 20))) == [Word("（一）予以公开", (0, 0, 140, 20))]


def test_a_wrapped_label_takes_the_numbers_centred_below_its_first_line():
    words = _row(100, "1.属于国家秘密", ["0", "0", "0"])
    words += [Word("4.保护第三方合法权", (50, 150, 230, 170)), Word("益", (50, 175, 70, 195))]
    words += [Word(v, (400 + k * 120, 166, 412 + k * 120, 186)) for k, v in enumerate(["3", "0", "3"])]
    words += _row(230, "5.属于三类内部事务信息", ["1", "0", "1"])
    lines = layout_page(words, [], 1)
    row = next(ln for ln in lines if ln.fields[0].text.startswith("4."))
    assert [f.text for f in row.fields[1:]] == ["3", "0", "3"]
    assert not any(ln.fields[0].text == "3" for ln in lines)  # no row of numbers without its label


def test_a_figure_under_a_seal_goes_to_review():
    from extraction.ingest.image import SEAL_STEP, UNDER_SEAL_CONFIDENCE, doubt_under_seal
    from extraction.ocr.prep import PreparedPage

    prepared = PreparedPage(np.zeros((400, 400), np.uint8), np.eye(2, 3), original_size=(400, 400))
    seal = np.zeros((400 // SEAL_STEP, 400 // SEAL_STEP), bool)
    seal[20:60, 20:60] = True  # pixels 80–240 of the page
    quad = ((100, 100), (140, 100), (140, 120), (100, 120))
    under = OcrToken("2143477", quad, (100.0, 100.0, 140.0, 120.0), 0.98)
    clear = OcrToken("12", quad, (300.0, 300.0, 330.0, 320.0), 0.98)
    words = OcrToken("本年处理决定数量", quad, (100.0, 130.0, 200.0, 150.0), 0.98)
    doubt_under_seal([under, clear, words], seal, prepared)
    assert under.confidence == UNDER_SEAL_CONFIDENCE
    assert clear.confidence == 0.98 and words.confidence == 0.98


def test_a_row_without_figures_and_one_doubtful_slot_is_doubtful_throughout():
    from extraction.pages.geometry import _spread_doubt

    row = Line([Field("行政许可"), Field("", confidence=1.0), Field("", confidence=UNREAD_CONFIDENCE, bbox=(1, 1, 2, 2))])
    _spread_doubt(row)
    assert [f.confidence for f in row.fields[1:]] == [UNREAD_CONFIDENCE, UNREAD_CONFIDENCE]
    assert row.fields[1].bbox is None  # no ink of its own: no evidence of a printed 0
    with_figure = Line([Field("行政处罚"), Field("3281"), Field(""), Field("", confidence=UNREAD_CONFIDENCE)])
    _spread_doubt(with_figure)
    assert with_figure.fields[2].confidence == 1.0


def test_a_blank_row_keeps_its_own_doubtful_cells_not_the_next_lines():
    from extraction.document import Anchor, DocumentState
    from extraction.reconstruct.assemble import ReconstructOptions, _spans

    lines = [
        Line([Field("行政许可"), *(Field("", confidence=UNREAD_CONFIDENCE) for _ in range(2))], delimited=True),
        Line([Field("第二十条第（六）项"), Field(""), Field("")], delimited=True),
        Line([Field("行政处罚"), Field("7")], delimited=True),
    ]
    doc = DocumentState(name="x", sha256="", kind="image", lines=lines)
    doc.tokens = tokenize(lines)
    first = next(t.index for t in doc.tokens if t.text == "行政许可")
    last = next(t.index for t in doc.tokens if t.text == "行政处罚")
    doc.anchors = [Anchor(first, 0, "row", "proactive.licensing", 1.0), Anchor(last, 0, "row", "proactive.penalty", 1.0)]
    span = _spans(doc, ReconstructOptions())["row:proactive.licensing"]
    assert [t.confidence for t in span.values] == [UNREAD_CONFIDENCE, UNREAD_CONFIDENCE]
