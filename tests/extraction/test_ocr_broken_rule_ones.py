"""A piece of a broken vertical rule read as "1" (issue 15, faxes): a fax inks a thin frame line
in stretches; erasing the rules leaves the pieces, and the missed-figure reader reads them as 1s
(0.56-0.64) in the total column of a label's continuation lines, which made each line a row and
lost the row (seed 7171, word_libreoffice fax: 7 cells). The page's rule finder still finds the
line, and a piece of it is a stroke ON the line, with the line running on above and below: it is
dropped. A printed 1 a cell's padding away from a rule, or on a rule that ends beside it, stays.

The stored input is the line-erased page (a crop of table 三's right frame beside (六)其他处理 1.)
with the tokens and vertical rules as `ocr_page` had them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from extraction.ocr.base import OcrToken
from extraction.ocr.glyphs import drop_ones_on_rules
from extraction.pages.geometry import Rule

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).parent / "data"


def _token(text: str, bbox, core=None, conf: float = 0.99) -> OcrToken:
    x0, y0, x1, y1 = bbox
    return OcrToken(
        text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), tuple(bbox), conf, [], None, None, core and tuple(core)
    )


def _load() -> tuple[np.ndarray, list[OcrToken], list[Rule], float]:
    image = cv2.imread(str(DATA / "fax_broken_frame_ones.png"), cv2.IMREAD_GRAYSCALE)
    meta = json.loads((DATA / "fax_broken_frame_ones.json").read_text(encoding="utf-8"))
    tokens = [_token(t["text"], t["bbox"], t["core"], t["confidence"]) for t in meta["tokens"]]
    rules = [Rule(*r) for r in meta["rules"]]
    return image, tokens, rules, meta["text_height"]


def test_pieces_of_a_broken_frame_read_as_ones_are_dropped():
    image, tokens, rules, th = _load()
    assert sum(1 for t in tokens if t.text == "1") == 4 and len(rules) == 2  # the frame found in two segments
    kept = drop_ones_on_rules(image, tokens, rules, th)
    assert [t.text for t in kept] == ["0", "0"]


def test_a_printed_one_beside_a_rule_or_on_a_rule_ending_there_stays():
    th = 25.0
    page = np.full((300, 200), 255, np.uint8)
    page[:, 150] = 0  # a frame line down the whole page
    page[100:120, 138:141] = 0  # a printed 1, a cell's padding left of it
    beside = _token("1", (134, 96, 144, 124))
    page[0:118, 60] = 0  # a header divider ending at the 1's middle…
    page[100:120, 59:62] = 0  # …and a 1 printed under its end
    under = _token("1", (55, 96, 66, 124))
    kept = drop_ones_on_rules(page, [beside, under], [Rule(150.0, 0.0, 150.0, 300.0), Rule(60.0, 0.0, 60.0, 118.0)], th)
    assert kept == [beside, under]
    # the same 1 on the frame's line itself is a piece of it
    page[200:220, 149:152] = 0
    piece = _token("1", (145, 196, 155, 224))
    assert drop_ones_on_rules(page, [beside, piece], [Rule(150.0, 0.0, 150.0, 300.0)], th) == [beside]
