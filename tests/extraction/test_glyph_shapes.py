"""A dotted zero (mono fonts print 0 with a dot inside) read as 8: the outline, widest at its middle,
reads it as 0; a real 8 (pinched at its waist), another digit, or a figure too small in the image
as given to keep its waist are left as read (issue 15: faxes of reports set in a mono font)."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.ocr.base import OcrEngine, OcrOptions, OcrToken
from extraction.ocr.glyphs import ZERO_MIN_NATIVE_PX, settle_zero_or_eight, waist_ratio

cv2 = pytest.importorskip("cv2")

H = 22  # a figure's height in pixels (a fine-mode fax of a 10.5 pt figure: ~16-22 px)


def _dotted_zero(page: np.ndarray, x: int, y: int, h: int = H) -> None:
    """A bold ring with a dot that touches it (a fax's fixed threshold): two holes, like an 8."""
    w = round(0.6 * h)
    cv2.ellipse(page, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 0, max(2, h // 7))
    cv2.ellipse(page, (x + w // 2, y + h // 2), (max(1, w // 4), max(2, h // 4)), 0, 0, 360, 0, -1)


def _eight(page: np.ndarray, x: int, y: int, h: int = H) -> None:
    """Two stacked bowls, pinched where they meet."""
    w = round(0.6 * h)
    t = max(2, h // 7)
    cv2.ellipse(page, (x + w // 2, y + h // 4), (round(0.42 * w), h // 4), 0, 0, 360, 0, t)
    cv2.ellipse(page, (x + w // 2, y + 3 * h // 4), (w // 2, h // 4), 0, 0, 360, 0, t)


def _token(text: str, x: int, y: int, alts: list[tuple[str, float]], h: int = H, conf: float = 0.6) -> OcrToken:
    w = round(0.6 * h)
    box = (x - 6.0, y - 6.0, x + w + 6.0, y + h + 6.0)
    quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
    return OcrToken(text, quad, box, conf, alts, [(float(x), float(x + w))], [conf])


def _page() -> np.ndarray:
    return np.full((120, 400), 245, np.uint8)


def test_the_outline_tells_a_zero_from_an_eight():
    page = _page()
    _dotted_zero(page, 40, 40)
    _eight(page, 140, 40)
    cv2.ellipse(page, (247, 51), (6, 11), 0, 0, 360, 0, 3)  # a plain zero
    zero = waist_ratio(page[30:75, 30:70])
    eight = waist_ratio(page[30:75, 130:170])
    plain = waist_ratio(page[30:75, 230:270])
    assert zero is not None and eight is not None and plain is not None
    assert zero[0] >= 0.95 and plain[0] >= 0.95
    assert eight[0] < 0.85
    assert zero[1] >= H - 2  # the ink's height


def test_a_dotted_zero_read_as_eight_is_read_as_zero():
    page = _page()
    _dotted_zero(page, 40, 40)
    _eight(page, 140, 40)
    _dotted_zero(page, 240, 40)
    _dotted_zero(page, 320, 40)
    _dotted_zero(page, 200, 90, 14)  # (a glyph as shapeless as a zero: a piece of a label's 息)
    tokens = [
        _token("8", 40, 40, [("0", 0.3)]),  # a dotted zero, read as 8 with 0 as runner-up
        _token("8", 140, 40, [("0", 0.3)]),  # a real 8
        _token("日", 240, 40, [("0", 0.4)]),  # a dotted zero read as a glyph, and as 0
        _token("6", 320, 40, [("0", 0.3)]),  # read as another digit: not this check's business
        _token("B", 200, 90, [("8", 0.5)], h=14),  # a glyph never read as 0: not taken for a figure
    ]
    assert settle_zero_or_eight(page, tokens, text_height=H, enlarged=1.0) == 2
    assert [t.text for t in tokens] == ["0", "8", "0", "6", "B"]
    # the first reading stays as the alternative for the sums, and the confidence is the recogniser's
    assert tokens[0].alternatives[0][0] == "8" and tokens[0].confidence == 0.6
    assert tokens[2].alternatives[0][0] == "8"
    assert tokens[1].alternatives == [("0", 0.3)]


def test_a_figure_enlarged_from_a_few_pixels_is_not_judged():
    """A phone photo's 9-px figure enlarged before reading has lost its waist: no judgement."""
    page = _page()
    _dotted_zero(page, 40, 40)
    tokens = [_token("8", 40, 40, [("0", 0.3)])]
    enlarged = H / (ZERO_MIN_NATIVE_PX - 3)
    assert settle_zero_or_eight(page, tokens, text_height=H, enlarged=enlarged) == 0
    assert tokens[0].text == "8"


class _BlobReader(OcrEngine):
    """Reads every glyph-sized blob of the page as 8 (0 the runner-up): a recogniser that has never
    seen a dotted zero."""

    name = "blobs"

    def __call__(self, image, page, *, deadline=None):
        ink = (np.asarray(image) < 128).astype(np.uint8)
        if ink.ndim == 3:
            ink = ink[:, :, 0]
        n, _l, stats, _c = cv2.connectedComponentsWithStats(ink, connectivity=8)
        out = []
        for x, y, w, h, _a in stats[1:n]:
            if 20 <= h <= 60:  # whole figures (a dot clear of its ring is no figure)
                box = (float(x - 4), float(y - 4), float(x + w + 4), float(y + h + 4))
                quad = ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))
                out.append(OcrToken("8", quad, box, 0.6, [("0", 0.35)], [(float(x), float(x + w))], [0.6]))
        return out


def test_reading_a_fax_page_settles_its_dotted_zeros():
    """Through `read_page` (what every scanned page goes through): the dotted zeros of a page
    come out as 0, its 8s as 8."""
    from extraction.ingest.image import read_page

    page = np.full((1700, 1200), 255, np.uint8)
    for row in range(12):
        for col in range(6):
            x, y = 150 + col * 160, 150 + row * 120
            (_eight if (row + col) % 5 == 0 else _dotted_zero)(page, x, y, 26)
    page = np.where(page < 128, 0, 255).astype(np.uint8)  # a fax: one fixed threshold
    options = OcrOptions()
    options.page.recover_missed = False
    options.page.orientation = False
    reading = read_page(page, 1, options, engine=_BlobReader(options))
    texts = sorted(t.text for t in reading.tokens)
    eights = sum(1 for row in range(12) for col in range(6) if (row + col) % 5 == 0)
    assert texts.count("8") == eights
    assert texts.count("0") == 72 - eights


def test_a_photographed_page_keeps_its_readings(monkeypatch):
    """On a page photographed on a desk (flattened: `PreparedPage.warp` set) the outline is not
    judged: blur takes a real 8's waist away (phone photos: 8s read as 0)."""
    from extraction.ingest.image import read_page
    from extraction.ocr import prep

    real = prep.prepare

    def photographed(image, options=None):
        page = real(image, options)
        page.warp = object()  # what flatten_photo leaves on a page it found on a desk
        return page

    monkeypatch.setattr(prep, "prepare", photographed)
    page = np.full((1700, 1200), 255, np.uint8)
    for row in range(12):
        for col in range(6):
            _dotted_zero(page, 150 + col * 160, 150 + row * 120, 26)
    options = OcrOptions()
    options.page.recover_missed = False
    options.page.orientation = False
    reading = read_page(page, 1, options, engine=_BlobReader(options))
    assert reading.prepared.warp is not None
    assert {t.text for t in reading.tokens} == {"8"}
