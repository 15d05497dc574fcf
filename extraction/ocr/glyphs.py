"""Shape checks on single OCR'd figures, where the recogniser's own readings disagree.

A zero with a dot or bar inside (the mono fonts' "dotted zero") is read as 8 by the recogniser as
soon as the dot touches the ring (a bold face, a fax's fixed threshold): topologically both are a
ring with two holes. What tells them apart in every font is the outline: an 8 pinches in at its
waist, a zero is widest there. `settle_zero_or_eight` reads a lone figure that the recogniser read
as 8, or as a glyph (日, B, θ) with 0 among its readings, as 0 when its outline has no waist, and
keeps the first reading as the alternative so the sums can still pick it. A figure read as another
digit (6, 9: no waist either), or a glyph the recogniser never read as 0 (a lone piece of a label's
character: 息 read as B), is left alone.

Only figures at least `ZERO_MIN_NATIVE_PX` tall in the image as it came are judged, and not on a
page photographed on a desk (the reader calls it only where `PreparedPage.warp` is None): blur
takes an 8's waist away, and on phone photos (110-150 dpi, out of focus, shaken) real 8s 13-15 px
tall came out without one and were read as 0. A photo cropped to its page (no desk to see) is not
told apart from a scan, and is judged.
"""

from __future__ import annotations

import numpy as np

from extraction.ocr.base import OcrToken

ZERO_MIN_NATIVE_PX = 12.0  # a figure's ink at least this tall in the image as given (not enlarged)…
ZERO_MIN_WAIST = 0.95  # …whose narrowest middle row is this wide against its bowls reads as 0
WAIST_MIN_CONTRAST = 40  # grey levels between ink and paper in the glyph's crop, else no judgement


def waist_ratio(crop: np.ndarray) -> tuple[float, int] | None:
    """(the outline's narrowest width in its middle third / its bowls' width, the ink's height in
    pixels) of the one glyph in a grey crop; None when the crop holds no clear glyph."""
    import cv2

    crop = np.asarray(crop)
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if crop.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(crop, (2, 98)))
    if hi - lo < WAIST_MIN_CONTRAST:
        return None
    ink = (crop < (lo + hi) / 2).astype(np.uint8)
    n, labels, stats, _c = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, 4]))
    x, y, w, h = (int(v) for v in stats[k, :4])
    # the glyph is one piece: a figure cut by a lost scan line or a speck is not judged
    ys = np.nonzero(ink.any(axis=1))[0]
    if h < 6 or h < 0.8 * (ys[-1] - ys[0] + 1):
        return None
    shape = labels[y : y + h, x : x + w] == k
    widths = np.zeros(h, np.float64)
    for r in range(h):
        cols = np.nonzero(shape[r])[0]
        if len(cols):
            widths[r] = cols[-1] - cols[0] + 1
    a, b = round(h * 0.35), round(h * 0.65)
    top, bottom = round(h * 0.1), round(h * 0.9)
    waist = widths[a : b + 1].min()
    upper = widths[top:a].max() if a > top else widths.max()
    lower = widths[b + 1 : bottom + 1].max() if bottom > b else widths.max()
    return float(waist / max(1.0, min(upper, lower))), h


def _glyph_crop(image: np.ndarray, token: OcrToken, text_height: float) -> np.ndarray:
    x0, y0, x1, y1 = token.bbox
    if token.chars and len(token.chars) == len(token.text):
        pad = 0.15 * text_height
        x0, x1 = max(x0, token.chars[0][0] - pad), min(x1, token.chars[-1][1] + pad)
    h, w = image.shape[:2]
    return image[max(0, int(y0)) : min(h, int(y1) + 1), max(0, int(x0)) : min(w, int(x1) + 1)]


def settle_zero_or_eight(image: np.ndarray, tokens: list[OcrToken], text_height: float, enlarged: float) -> int:
    """Lone figures read as 8 (or as a glyph also read as 0) whose outline has no waist, read as 0 (in place; see the module doc). `image`: the page the tokens were read
    on; `enlarged`: how much it was enlarged from the image as given (vertically). Returns how many
    tokens changed."""
    changed = 0
    for t in tokens:
        text = t.text.strip()
        readings = {a for a, _p in t.alternatives}
        if len(text) != 1 or (text.isdigit() and text != "8"):
            continue
        # a glyph read as a letter or a character is taken for a figure only when the recogniser
        # itself read it as 0 too (a lone piece of a label's character, 息 read as B, is not)
        if text != "8" and "0" not in readings:
            continue
        found = waist_ratio(_glyph_crop(image, t, text_height))
        if found is None:
            continue
        ratio, height = found
        if height / max(enlarged, 1e-6) < ZERO_MIN_NATIVE_PX or ratio < ZERO_MIN_WAIST:
            continue
        # the first reading stays as the alternative (an 8-like glyph's as 8); the confidence stays
        # the recogniser's: the outline picks between its readings, it adds no certainty
        first = text if text.isdigit() else "8"
        rest = [(a, p) for a, p in t.alternatives if a not in ("0", first)]
        t.alternatives = [(first, round(float(t.confidence), 5)), *rest]
        t.text = "0"
        changed += 1
    return changed
