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

import re

import numpy as np

from extraction.ocr.base import OcrEngine, OcrToken

ZERO_MIN_NATIVE_PX = 12.0  # a figure's ink at least this tall in the image as given (not enlarged)…
ZERO_MIN_WAIST = 0.95  # …whose narrowest middle row is this wide against its bowls reads as 0
WAIST_MIN_CONTRAST = 40  # grey levels between ink and paper in the glyph's crop, else no judgement


def waist_ratio(crop: np.ndarray, whole: bool = False) -> tuple[float, int] | None:
    """(the outline's narrowest width in its middle third / its bowls' width, the ink's height in
    pixels) of the one glyph in a grey crop; None when the crop holds no clear glyph (and, with
    `whole`, when the glyph runs into the crop's left or right side: a glyph cut is not judged)."""
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
    if whole and (x == 0 or x + w == ink.shape[1]):
        return None
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


# A minus sign the recogniser dropped. On a phone photo a figure's minus is a stroke about 1 px tall
# and faint (blur spreads it into the paper): the recogniser reads "−33" as "33" with full
# confidence, and a signed column (本年增/减) has no sum to catch the lost sign. The stroke is
# still on the page, just left of the digits: a short, thin, level piece of ink at the digits' middle
# height, standing alone (no glyph stroke above or below it). A figure read without a sign beside
# such a stroke keeps its reading and gets the signed one as an alternative (`doubt_lost_signs`).
SIGN_SEARCH = 1.2  # how far left of a figure's first digit to look for the stroke (its digits' heights)
SIGN_MIN_WIDTH = 0.25  # a minus is at least this wide…
SIGN_MAX_WIDTH = 1.1  # …and at most this wide (a rule's remnant or a dash leader is longer)…
SIGN_MAX_THICK = 0.3  # …and at most this thick (its digits' heights): level and thin
SIGN_MIDDLE = 0.3  # its centre within this share of the digits' height of their middle
SIGN_MIN_ASPECT = 1.5  # a minus is at least this many times as wide as it is thick (blur thickens a 1 px stroke)
SIGN_MIN_CONTRAST = 20  # grey levels a faint stroke lies below the local paper, at least…
SIGN_EDGE = 0.2  # …and this share of the digits' own contrast (the stroke's blurred edge)…
SIGN_DEPTH = 0.35  # …its darkest pixel at least this share (a photo's 1 px minus: about 0.45)


def _unsigned_figure(text: str) -> bool:
    s = text.strip().replace(",", "")
    return bool(s) and s.isdigit()


def minus_left_of(image: np.ndarray, token: OcrToken, others: list[OcrToken]) -> bool:
    """Whether a lone, short, level stroke lies just left of an unsigned figure's digits (an unread
    minus sign); the boxes of `others` (other tokens) are masked out."""
    import cv2

    gray = np.asarray(image)
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_RGB2GRAY)
    x0, y0, x1, y1 = token.core if token.core is not None else token.bbox
    if token.chars:
        x0 = min(c[0] for c in token.chars)
    h = y1 - y0
    if h < 4:
        return False
    ih, iw = gray.shape[:2]
    # the window: the digits' full height (a glyph's stroke reaches its top or bottom, a minus not)
    wx0, wx1 = max(0, int(x0 - SIGN_SEARCH * h)), max(0, int(x0))
    wy0, wy1 = max(0, int(y0)), min(ih, int(y1) + 1)
    if wx1 - wx0 < 3 or wy1 - wy0 < 4:
        return False
    crop = gray[wy0:wy1, wx0:wx1].astype(np.int16)
    digits = gray[wy0:wy1, max(0, int(x0)) : min(iw, int(x1) + 1)]
    if digits.size == 0:
        return False
    paper = float(np.percentile(np.concatenate([crop.ravel(), digits.ravel()]), 90))
    ink = float(digits.min())
    dark = (crop < paper - max(SIGN_MIN_CONTRAST, SIGN_EDGE * (paper - ink))).astype(np.uint8)
    deep = crop < paper - max(SIGN_MIN_CONTRAST, SIGN_DEPTH * (paper - ink))
    for o in others:
        if o is token:
            continue
        ox0, oy0, ox1, oy1 = o.core if o.core is not None else o.bbox
        a, b = max(0, int(ox0) - wx0), min(wx1 - wx0, int(ox1) + 1 - wx0)
        c, d = max(0, int(oy0) - wy0), min(wy1 - wy0, int(oy1) + 1 - wy0)
        if a < b and c < d:
            dark[c:d, a:b] = 0
    return _level_stroke(dark, deep, (y0 + y1) / 2 - wy0, h)


def _level_stroke(dark: np.ndarray, deep: np.ndarray, mid: float, h: float) -> bool:
    """Whether `dark` (the window left of a figure, as tall as its digits) holds a run of columns
    whose ink is a thin piece near the middle height, level from column to column, with an empty
    column on its left, and somewhere as dark as `deep` (paper's shading and a photo's grain are
    fainter than print): a minus. Columns are judged one by one, not as connected pieces: blur
    joins a faint minus to the first digit's arcs (a 3's, a 5's), which reach the digits' top and
    bottom and so end the run."""
    rows, cols = dark.shape
    thick = max(2.0, SIGN_MAX_THICK * h)
    spans: list[tuple[int, int] | None] = []
    for c in range(cols):
        ys = np.nonzero(dark[:, c])[0]
        if len(ys) == 0:
            spans.append(None)
            continue
        a, b = int(ys[0]), int(ys[-1])
        level = a > 0 and b < rows - 1 and b - a + 1 <= thick and abs((a + b) / 2 - mid) <= SIGN_MIDDLE * h
        spans.append((a, b) if level else (-1, -1))
    c = 1
    while c < cols:
        if spans[c - 1] is not None or spans[c] is None or spans[c] == (-1, -1):
            c += 1
            continue
        lo, hi, e = spans[c][0], spans[c][1], c  # type: ignore[index]
        widths = [hi - lo + 1]  # the stroke's thickness: its columns' median (blur joins its end to a digit)
        while e + 1 < cols and spans[e + 1] not in (None, (-1, -1)):
            a, b = spans[e + 1]  # type: ignore[misc]
            if max(hi, b) - min(lo, a) + 1 > thick:
                break
            lo, hi, e = min(lo, a), max(hi, b), e + 1
            widths.append(b - a + 1)
        wide = SIGN_MIN_WIDTH * h <= e - c + 1 <= SIGN_MAX_WIDTH * h
        # its dark core away from the glyph it runs into (a glyph's blurred fringe is no minus)
        core = e if e + 1 < cols and spans[e + 1] == (-1, -1) else e + 1
        if (
            wide
            and e - c + 1 >= SIGN_MIN_ASPECT * float(np.median(widths))
            and (deep[:, c:core] & (dark[:, c:core] > 0)).any()
        ):
            return True
        c = e + 1
    return False


def doubt_lost_signs(image: np.ndarray, tokens: list[OcrToken]) -> int:
    """Give each figure read without a sign beside an unread minus (`minus_left_of`) the signed
    reading as its first alternative ("33" → "-33", at the figure's own score): the solver may take
    it where the sums ask for it (the rules stage unverifies every signed figure of a page image:
    `RulesStage.unverify_unchecked_signs`). The reading itself is not changed: a dash is also
    how some reports print a blank, and a faint speck may be no sign at all. Returns how many."""
    marked = 0
    for t in tokens:
        if _unsigned_figure(t.text) and minus_left_of(image, t, tokens):
            signed = "-" + t.text.strip()
            t.alternatives = [(signed, t.confidence), *(a for a in t.alternatives if a[0] != signed)]
            marked += 1
    return marked


# A piece of vertical rule read as "1". A table whose rows are boxes (a shaded header band with a
# dark divider, a grid whose vertical rules are broken between rows) leaves row-high pieces of its
# vertical rules; erasing the rules takes only the long ones, and the recogniser reads a piece as a
# confident "1" (0.995), which the reconstruction then placed as a figure (an html table's header
# divider read as 行政强制's 1 where the page prints 0). A printed 1 stands inside its cell, clear
# of the cell's rules; a rule piece runs from the rule above to the rule below.
RULE_REACH = 1.5  # how far (text heights) up and down from the stroke's middle to look for the rules
RULE_SIDE = 0.5  # a rule is dark this far (text heights) left and right of the stroke, at least
RULE_STROKE = 0.6  # a stroke column is dark over this share of the token's height


def rule_piece(image: np.ndarray, token: OcrToken, text_height: float, paper: float, ink: float) -> bool:
    """Whether a token read as "1" is a piece of vertical rule: a stroke that meets a horizontal rule
    (ink reaching `RULE_SIDE` text heights to both sides) at its top and at its bottom. `image`: the
    page before its rules were erased; `paper`, `ink`: its grey levels."""
    if token.text.strip() != "1":
        return False
    gray = np.asarray(image)
    ih, iw = gray.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in (token.core if token.core is not None else token.bbox))
    side = max(2, round(RULE_SIDE * text_height))
    reach = round(RULE_REACH * text_height)
    if x0 - side < 0 or x1 + side >= iw or y1 <= y0:
        return False
    dark = gray < paper - 0.5 * (paper - ink)
    box = dark[max(0, y0) : min(ih, y1 + 1), x0 : x1 + 1]
    cols = np.nonzero(box.sum(axis=0) >= RULE_STROKE * box.shape[0])[0]
    if len(cols) == 0 or cols[-1] - cols[0] + 1 != len(cols):
        return False  # no stroke, or two (a figure's 1 beside a rule its box reaches over)
    b0, b1 = x0 + int(cols[0]), x0 + int(cols[-1])
    mid = (y0 + y1) // 2

    def meets_rule(step: int) -> bool:
        for y in range(mid, mid + step * reach, step):
            if not 0 <= y < ih:
                return False
            if dark[y, b0 - side : b0].all() and dark[y, b1 + 1 : b1 + 1 + side].all():
                return True  # a horizontal rule through the stroke's end
            if not dark[y, b0 : b1 + 1].any():
                return False  # the stroke ended in paper: a glyph, not a rule piece
        return False

    return meets_rule(-1) and meets_rule(1)


def drop_rule_pieces(image: np.ndarray, tokens: list[OcrToken], text_height: float) -> list[OcrToken]:
    """`tokens` without the vertical rule pieces read as "1" (`rule_piece`)."""
    from extraction.ocr.prep import paper_and_ink

    if not any(t.text.strip() == "1" for t in tokens):
        return tokens
    paper, ink = paper_and_ink(image)
    if paper - ink < 40:
        return tokens
    return [t for t in tokens if not rule_piece(image, t, text_height, paper, ink)]


# A piece of a broken vertical rule read as "1". A fax drops a thin frame line's rows in stretches
# (seed 7171, word_libreoffice fax: the right frame of table 三 inked over a third to a half of its
# height, in pieces of 0.6 text heights with gaps of 1 text height): erasing the rules (strokes of 2
# text heights bridged over 1-px breaks) leaves the pieces, the detector boxes none of them and the
# missed-figure reader reads each as a "1" (0.56-0.64). They stood in the total column of a label's
# continuation lines, made each line a row of its own and the row's label was lost (7 cells). The
# rule is still found whole by the page's rule finder (5-px bridges), and a piece of it is a stroke
# ON the rule: its ink lies within `RULE_ON_STROKE` text heights of the rule's line, with the rule
# running on at least `RULE_ON_REACH` text heights above and below it. A printed 1 stands inside its
# cell, a padding away from the rules beside it (a 1 only close to a rule is left to the layout's
# doubt, `doubt_ones_on_rules`). Only on a bilevel page (`ocr_page` tells it): on a deskewed scan or a
# flattened photo a rule's line is known less exactly than a stroke's width.
RULE_ON_STROKE = 0.12  # a "1" whose ink lies this close (text heights) to a vertical rule's line…
RULE_ON_REACH = 1.0  # …which runs on this far (text heights) above and below it, is a piece of the rule


def drop_ones_on_rules(image: np.ndarray, tokens: list[OcrToken], rules: list, text_height: float) -> list[OcrToken]:
    """`tokens` without those read as "1" whose ink is a piece of a vertical rule of `rules` (see
    above). `image`: the page the tokens were read on; `rules`: its ruling lines (`Rule`, the same
    pixels)."""
    from extraction.ocr.prep import paper_and_ink

    if text_height <= 0 or not any(t.text.strip() == "1" for t in tokens):
        return tokens
    near, reach = RULE_ON_STROKE * text_height, RULE_ON_REACH * text_height
    # one rule's segments (a break the finder did not bridge) joined: x, top, bottom
    vertical: list[list[float]] = []
    for r in sorted((r for r in rules if not r.horizontal), key=lambda r: (r.x0, min(r.y0, r.y1))):
        top, bottom = min(r.y0, r.y1), max(r.y0, r.y1)
        for v in vertical:
            if abs(v[0] - r.x0) <= near and top - v[2] <= reach and v[1] - bottom <= reach:
                v[1], v[2] = min(v[1], top), max(v[2], bottom)
                break
        else:
            vertical.append([r.x0, top, bottom])
    if not vertical:
        return tokens
    paper, ink = paper_and_ink(image)
    if paper - ink < WAIST_MIN_CONTRAST:
        return tokens
    dark = np.asarray(image) < paper - 0.5 * (paper - ink)
    h, w = dark.shape

    def on_rule(t: OcrToken) -> bool:
        x0, y0, x1, y1 = (int(v) for v in (t.core if t.core is not None else t.bbox))
        box = dark[max(0, y0) : min(h, y1 + 1), max(0, x0) : min(w, x1 + 1)]
        cols = np.nonzero(box.any(axis=0))[0]
        if len(cols) == 0:
            return False
        a, b = max(0, x0) + cols[0], max(0, x0) + cols[-1]
        return any(
            top <= y0 - reach and bottom >= y1 + reach and x - near <= a and b <= x + near
            for x, top, bottom in vertical
        )

    return [t for t in tokens if not (t.text.strip() == "1" and on_rule(t))]


# A doubtful figure read again. The recogniser reads a figure whose strokes are broken (a fax's
# fixed threshold drops a Song zero's hairline top and bottom: "0" becomes "()" and is read as
# "11" or "1") with low confidence, and its first reading is all the sums get to choose from. The
# same box read again from the page blurred by a fraction of the text height (the broken strokes
# joined into grey, the kind of image the recogniser was trained on) often reads the figure as
# printed. Every other figure such a second reading finds becomes an alternative of the token, so
# the sums can pick it, and the token is marked doubtful (its confidence capped): the two readings
# of one glyph disagree. Where every second reading agrees on another figure, each more sure of it
# than the first reading was, that figure is taken and the first reading kept as the alternative.
# A figure read the same way again, or only as one of the recogniser's own alternatives, is left
# exactly as it was.
REREAD_BELOW = 0.9  # a figure read with less confidence than this is read again…
REREAD_MAX_CHARS = 3  # …when it is this short (a lone figure, or one a stroke was split off)
REREAD_BLURS = (0.05, 0.1)  # the second readings' blur (Gaussian sigma, in text heights)
REREAD_ALT_FACTOR = 0.9  # a second reading's alternative scores this share of its confidence
REREAD_DISAGREE_CONFIDENCE = 0.5  # a figure whose readings disagree is this sure at most (review)
REREAD_MAX_TOKENS = 240  # at most this many a page are read again (a full table 三, 7 x 26 figures, is)

# A photo's figure read again with its greys darkened. On a phone photo (110-150 dpi, out of focus)
# a small figure's strokes come out as grey spread over a few pixels, and the narrow gaps inside a
# glyph (a mono font's dotted zero: the gap between its dot and its ring) as a lighter grey: the
# recogniser reads such a blob as "e", "a", "è" or 8 (seed 7373, group_label_rows photo in WQY Zen
# Hei Mono, 8 pt: 36 of 116 figures of table 三 read as printed). Blurring more only joins more.
# The same box read from the page with its tone curve bent towards the ink (a grey level's distance
# from the page's ink level, as a share of the paper's, raised to `REREAD_DARKEN_POWER`: the ink and
# the paper stay, the greys between go most of the way to the ink) reads 91 of the 116 as printed.
# That reading is one more second reading (its figure an alternative, the token to review); where
# the first reading was no figure at all ("e": no cell value) its figure is taken, the first kept
# as the alternative, the token to review all the same. Only on photographed pages (`read_page`
# tells them).
REREAD_DARKEN_POWER = 3.0


def _lone_letter(text: str) -> bool:
    """A single Latin letter ("e", "a", "è"): no label's character, on a photo a figure's blob."""
    return len(text) == 1 and text.isalpha() and ord(text) < 0x250


def _doubtful_figure(t: OcrToken, darken: bool = False) -> bool:
    from extraction.ocr.base import numeric_like

    text = t.text.strip()
    if darken and _lone_letter(text):
        return True  # a photo's grey blob read as a letter, however surely (the darkened reading decides)
    if not 0 < len(text) <= REREAD_MAX_CHARS or t.confidence >= REREAD_BELOW:
        return False
    # a figure, or a lone glyph the recogniser also read as a figure (a broken 0 read as "e" or "U")
    return numeric_like(text) or (len(text) <= 2 and any(_figure_reading(a) for a, _p in t.alternatives))


def _figure_reading(text: str) -> str | None:
    """A second reading as a figure the token may take ("11", "-3", "0.64"), else None."""
    from extraction.ocr.base import as_digits, numeric_like

    s = text.strip()
    if not numeric_like(s):
        return None
    s = as_digits(s)
    return s if any(c.isdigit() for c in s) else None


def reread_doubtful_figures(
    engine: OcrEngine,
    image: np.ndarray,
    tokens: list[OcrToken],
    text_height: float,
    page: int,
    deadline: float | None = None,
    darken: bool = False,
) -> int:
    """Read each doubtful figure (`_doubtful_figure`) again from `image` blurred by each of
    `REREAD_BLURS` (see above) and, with `darken` (a photographed page), from `image` darkened
    (`darken_greys`); returns how many tokens got another reading. `engine` must read given boxes
    (`OcrEngine.read_boxes`); one that cannot changes nothing."""
    import cv2

    doubtful = [t for t in tokens if _doubtful_figure(t, darken)][:REREAD_MAX_TOKENS]
    if not doubtful or text_height <= 0:
        return 0
    boxes = [t.bbox for t in doubtful]
    seconds: list[list[tuple[str, float] | None]] = [[] for _ in doubtful]
    images = [cv2.GaussianBlur(image, (0, 0), max(0.5, blur * text_height)) for blur in REREAD_BLURS]
    darkened = darken_greys(image) if darken else None
    if darkened is not None:
        images.append(darkened)
    for second in images:
        read = engine.read_boxes(second, boxes, page, deadline=deadline)
        for k, t in enumerate(doubtful):
            # the engine returns the boxes it read something in, each as given
            r = next((r for r in read if max(abs(a - b) for a, b in zip(r.bbox, t.bbox, strict=True)) < 0.5), None)
            text = _figure_reading(r.text) if r is not None else None
            seconds[k].append((text, float(r.confidence)) if r is not None and text is not None else None)
    changed = 0
    for t, reads in zip(doubtful, seconds, strict=True):
        first = t.text.strip()
        other = [(s, p) for s, p in (r for r in reads if r is not None) if s != first]
        known = {a for a, _p in t.alternatives}
        if not other or (_figure_reading(first) is not None and all(s in known for s, _p in other)):
            # nothing new: the recogniser offered that figure already (the sums have it), and a
            # figure made less sure for it may lose its place to a sum's fill
            continue
        changed += 1
        extra: dict[str, float] = {}
        for s, p in other:
            if s not in known:
                extra[s] = max(extra.get(s, 0.0), round(REREAD_ALT_FACTOR * p, 5))
        alts = sorted(extra.items(), key=lambda a: -a[1]) + list(t.alternatives)
        texts = {s for s, _p in other}
        agreed = len(other) == len(reads) and len(texts) == 1 and all(p > t.confidence for _s, p in other)
        dark = reads[-1] if darkened is not None else None
        if agreed or (dark is not None and _figure_reading(first) is None):
            # every second reading agrees, more surely; or the first read no figure ("e") and the
            # darkened page reads one (a photo's grey blob): it is taken
            taken = other[0][0] if agreed else dark[0]  # type: ignore[index]
            alts = [(first, round(float(t.confidence), 5)), *((a, p) for a, p in alts if a not in (taken, first))]
            t.text = taken
            # the characters' extents and scores were the first reading's
            span = (t.chars[0][0], t.chars[-1][1]) if t.chars else None
            t.chars = [span] if span is not None and len(taken) == 1 else None
            t.char_scores = None
        t.alternatives = alts
        t.confidence = min(float(t.confidence), REREAD_DISAGREE_CONFIDENCE)
    return changed


def darken_greys(image: np.ndarray) -> np.ndarray | None:
    """`image` (grey) with its tone curve bent towards the ink: a level's distance from the page's
    ink level, as a share of the paper's, raised to `REREAD_DARKEN_POWER` (ink and paper stay, the
    greys between go most of the way to the ink). None where the page has no contrast to bend."""
    from extraction.ocr.prep import paper_and_ink

    gray = np.asarray(image)
    if gray.ndim != 2:
        return None
    paper, ink = paper_and_ink(gray)
    if paper - ink < WAIST_MIN_CONTRAST:
        return None
    levels = np.clip((np.arange(256, dtype=np.float64) - ink) / (paper - ink), 0.0, 1.0)
    lut = np.clip(np.round(ink + (paper - ink) * levels**REREAD_DARKEN_POWER), 0, 255).astype(np.uint8)
    return lut[gray]


# A broken zero told by the page's own zeros. On a fax, where a Song zero's hairlines drop out, the
# same zero prints as "()" all over a page, and the recogniser reads each piece of it differently
# ("U", "(", "D", "1", "11") while it still reads the better-kept ones as 0 with full confidence.
# Those confident zeros show what a zero looks like on this page, in this font, through this fax: a
# doubtful glyph of their size that is as like them as they are like one another (and more like
# them than like any other figure the page reads confidently) is given 0: as its alternative when
# it was read as a figure (the sums pick), as its reading when it was read as no figure at all (a
# lone "U" in a table is no cell value); either way it goes to review. The bar is the page's own:
# a low quantile of its confident zeros' likeness to their mean.
LIKE_ZERO_MIN_TEMPLATES = 5  # confident zeros a page needs before its zeros are a measure
LIKE_ZERO_TEMPLATE_CONF = 0.97  # a zero (or another figure) read this surely shows its shape
LIKE_ZERO_QUANTILE = 10  # a glyph as like the zeros as this percentile of the zeros themselves…
LIKE_ZERO_SIZE = (0.75, 1.3)  # …whose ink box is this share of the zeros' (width and height)
LIKE_ZERO_GRID = 16  # glyphs compared as this many pixels square, blurred


def _ink_box(dark: np.ndarray, token: OcrToken, text_height: float) -> np.ndarray | None:
    """The ink of a token's glyph (bool, cut to its ink), inside its core box widened a little."""
    x0, y0, x1, y1 = token.core if token.core is not None else token.bbox
    pad = 0.1 * text_height
    h, w = dark.shape
    box = dark[max(0, int(y0 - pad)) : min(h, int(y1 + pad) + 1), max(0, int(x0 - pad)) : min(w, int(x1 + pad) + 1)]
    ys, xs = np.nonzero(box.any(axis=1))[0], np.nonzero(box.any(axis=0))[0]
    if len(ys) < 3 or len(xs) < 2:
        return None
    return box[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]


def _shape(ink: np.ndarray, side: float) -> np.ndarray | None:
    """A glyph's ink centred on a square of `side` (or its own size), as a unit vector."""
    import cv2

    h, w = ink.shape
    s = int(max(side, h, w))
    canvas = np.zeros((s, s), np.float32)
    canvas[(s - h) // 2 : (s - h) // 2 + h, (s - w) // 2 : (s - w) // 2 + w] = ink
    v = cv2.GaussianBlur(
        cv2.resize(canvas, (LIKE_ZERO_GRID, LIKE_ZERO_GRID), interpolation=cv2.INTER_AREA), (0, 0), 1.0
    )
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def settle_like_page_zeros(image: np.ndarray, tokens: list[OcrToken], text_height: float) -> int:
    """Doubtful glyphs shaped like the page's confident zeros get 0 (see above). Returns how many."""
    from extraction.ocr.base import numeric_like
    from extraction.ocr.prep import paper_and_ink

    paper, ink_level = paper_and_ink(image)
    if paper - ink_level < WAIST_MIN_CONTRAST:
        return 0
    dark = np.asarray(image) < paper - 0.5 * (paper - ink_level)
    inks = {id(t): _ink_box(dark, t, text_height) for t in tokens if len(t.text.strip()) <= REREAD_MAX_CHARS}
    sure = [
        (t.text.strip(), ink)
        for t in tokens
        if len(t.text.strip()) == 1
        and t.text.strip().isdigit()
        and t.confidence >= LIKE_ZERO_TEMPLATE_CONF
        and (ink := inks.get(id(t))) is not None
    ]
    zeros = [ink for d, ink in sure if d == "0"]
    if len(zeros) < LIKE_ZERO_MIN_TEMPLATES:
        return 0
    zh = float(np.median([z.shape[0] for z in zeros]))
    zw = float(np.median([z.shape[1] for z in zeros]))
    means: dict[str, np.ndarray] = {}
    for digit in {d for d, _ink in sure}:
        shapes = [s for d, ink in sure if d == digit and (s := _shape(ink, zh)) is not None]
        if len(shapes) >= (LIKE_ZERO_MIN_TEMPLATES if digit == "0" else 2):
            m = np.mean(shapes, axis=0)
            means[digit] = m / max(float(np.linalg.norm(m)), 1e-9)
    if "0" not in means:
        return 0
    own = [float((s * means["0"]).sum()) for z in zeros if (s := _shape(z, zh)) is not None]
    bar = float(np.percentile(own, LIKE_ZERO_QUANTILE))
    lo, hi = LIKE_ZERO_SIZE
    changed = 0
    for t in tokens:
        text = t.text.strip()
        ink = inks.get(id(t))
        if ink is None or text == "0" or t.confidence >= REREAD_BELOW or len(text) > 2:
            continue
        figure = numeric_like(text)
        if not figure and any(not (c.isascii() or c in "（）") for c in text):
            continue  # a Chinese character (a label's piece) is no broken figure
        if figure and any(a == "0" for a, _p in t.alternatives):
            continue  # the recogniser offered 0 already: nothing new for the sums
        if not (lo * zh <= ink.shape[0] <= hi * zh and lo * zw <= ink.shape[1] <= hi * zw):
            continue
        s = _shape(ink, zh)
        if s is None:
            continue
        likeness = {d: float((s * m).sum()) for d, m in means.items()}
        if likeness["0"] < bar or any(v >= likeness["0"] for d, v in likeness.items() if d != "0"):
            continue
        conf = round(float(t.confidence), 5)
        rest = [(a, p) for a, p in t.alternatives if a != "0"]
        if figure:
            t.alternatives = [("0", conf), *rest]
        else:
            t.alternatives = [(text, conf), *rest]
            t.text = "0"
            span = (t.chars[0][0], t.chars[-1][1]) if t.chars else None
            t.chars = [span] if span is not None else None
            t.char_scores = None
        t.confidence = min(float(t.confidence), REREAD_DISAGREE_CONFIDENCE)
        changed += 1
    return changed


# A page number read as a figure. Word-made reports print their folio as "- 1 -" or "— 1 —" under the
# table; on a phone photo blur shrinks the short dashes to dots and the recogniser reads ".1." at
# 0.998. The page reader drops a folio it recognises ("-1-", 第1页), not one read with dots, and
# placed it as the last table row's figure (行政强制's 1 where the page prints 0, out of review).
# A number flanked by dashes or dots on both sides is never a cell as printed: its dots are read as
# the dashes they stand for, so the page reader can tell it for a folio, and its confidence is capped
# (review) in case it is placed all the same (a folio close under the table, or beside a seal's ink).
_FOLIO_MARKS = "-—–－~.·•。、_一"
_FOLIO = re.compile(rf"^[{_FOLIO_MARKS}]{{1,3}}\s*(\d{{1,4}})\s*[{_FOLIO_MARKS}]{{1,3}}$")
FOLIO_CONFIDENCE = REREAD_DISAGREE_CONFIDENCE  # a folio-shaped reading is this sure at most as a figure


def mark_folios(tokens: list[OcrToken]) -> int:
    """Tokens read as a number between dashes or dots ("-1-", ".1.", "·2·", "一3一": a page number)
    are written as "- N -" (the form the page reader drops as a folio), their reading kept as the
    alternative, their confidence capped at `FOLIO_CONFIDENCE`. Returns how many."""
    changed = 0
    for t in tokens:
        text = t.text.strip()
        m = _FOLIO.match(text)
        if m is None:
            continue
        folio = f"- {m.group(1)} -"
        if text != folio:
            t.alternatives = [(text, round(float(t.confidence), 5)), *(a for a in t.alternatives if a[0] != text)]
            t.text = folio
            t.chars = None  # the characters' extents were the first reading's
            t.char_scores = None
        t.confidence = min(float(t.confidence), FOLIO_CONFIDENCE)
        changed += 1
    return changed


# A fax read a second time, blurred. A fax's fixed threshold breaks a thin (Song, Light) face's
# hairlines: "0" prints as "()" and "30" as "3()"; a "1" whose serif came off is a speck the
# detector does not box. Re-reading doubtful boxes (`reread_doubtful_figures`) helps only the
# figures the first reading boxed and doubted; the figures it read wrong with confidence ("()" read
# "11" at 0.93, "18" for a 0) and those it never boxed stay as they were. The whole page read again,
# blurred by a tenth of the text height (the broken strokes joined into grey, the kind of image the
# recogniser was trained on), reads those far better (a standard-mode fax in Song: 9 of 10 such
# figures of a table page read as printed). The two readings are merged figure by figure (a box of
# the same extent): where they agree, or the first reading was sure (blur also closes a 5's gap into
# a 3), nothing changes; where they disagree, a figure the first reading read stays its reading
# (blur also closes a mono zero's dot into an 8: 20 read 28) with the other as its alternative for
# the sums, and goes to review; a glyph it read as no figure ("(", "e") takes the surer figure; a
# figure only the second reading found, surely, is added for review. Labels are the first reading's. Only a bilevel page (a fax, `is_bilevel`) with doubtful
# figures is read twice: scans and photos are grey, and blur only takes from them.
BILEVEL_EXTREMES = 0.9  # a page image whose pixels are this share pure black or white is bilevel…
BILEVEL_LEVEL = 8  # …within this many grey levels (a fax rendered from a PDF keeps a few greys at edges)
SECOND_READ_MIN_DOUBTFUL = 3  # a bilevel page is read again when this many of its figures are doubtful…
SECOND_READ_BLUR = 0.1  # …blurred by this share of the text height (Gaussian sigma)
SECOND_READ_MATCH = 0.6  # two boxes each this much inside the other hold the same text
SECOND_READ_KEEP = 0.95  # a first reading this sure stands (blur closes a 5's gap: read 3 at 0.99)
SECOND_READ_NEW = 0.9  # a figure only the second reading found is added when read this surely, digits only


def is_bilevel(gray: np.ndarray) -> bool:
    """Whether a grey page image is black and white only (a fax, a 1-bit scan)."""
    g = np.asarray(gray)
    if g.ndim == 3:
        g = g[..., 1]
    sample = g[::4, ::4]
    if sample.size == 0:
        return False
    extremes = (sample <= BILEVEL_LEVEL) | (sample >= 255 - BILEVEL_LEVEL)
    return bool(extremes.mean() >= BILEVEL_EXTREMES) and bool((sample <= BILEVEL_LEVEL).any())


def _covered(inner: tuple[float, float, float, float], outer: tuple[float, float, float, float]) -> float:
    """The share of `inner`'s area inside `outer`."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = max(1e-6, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return max(0.0, w) * max(0.0, h) / area


def merge_second_reading(tokens: list[OcrToken], second: list[OcrToken]) -> int:
    """Merge a second reading of the same page into `tokens` (in place), figure by figure (see
    above). Returns how many tokens changed or were added."""
    from extraction.ocr.base import numeric_like

    changed = 0
    added: list[OcrToken] = []
    for s in second:
        reading = _figure_reading(s.text) if numeric_like(s.text.strip()) else None
        if reading is None:
            continue
        box = s.core if s.core is not None else s.bbox
        over = [
            t
            for t in tokens
            if min(_covered(box, t.core or t.bbox), _covered(t.core or t.bbox, box)) >= SECOND_READ_MATCH
        ]
        if not over:
            if (
                reading.isdigit()
                and s.confidence >= SECOND_READ_NEW
                and not any(_covered(box, t.bbox) > 0 for t in tokens)
            ):
                # a figure the first reading never boxed (a Song 1 whose serif the fax lost)
                s.text = reading
                s.confidence = min(float(s.confidence), REREAD_DISAGREE_CONFIDENCE)
                added.append(s)
            continue
        if len(over) != 1:
            continue  # two first readings under one box: a merge of figures is left to the first
        t = over[0]
        first = t.text.strip()
        if not numeric_like(first) and (len(first) > 2 or any(not (c.isascii() or c in "（）") for c in first)):
            continue  # a label's character (日 beside 8) is the first reading's; a broken "()" is not
        if reading == first or t.confidence >= SECOND_READ_KEEP:
            continue
        if len(reading) != len(first) and (reading in first or first in reading):
            continue  # a digit more or less at an end ("40" read inside "340"): the boxes were cut apart
        # a figure the first reading read stays its reading (blur also closes a mono zero's dot into an
        # 8's waist: 20 read 28, 5078 read 5878); a glyph it read as no figure ("(", "e") is replaced
        take = s.confidence > t.confidence and _figure_reading(first) is None
        sure, p = (reading, float(s.confidence)) if take else (first, float(t.confidence))
        other, q = (first, float(t.confidence)) if sure == reading else (reading, float(s.confidence))
        alts = [(other, round(q, 5)), *((a, r) for a, r in t.alternatives if a not in (sure, other))]
        if sure != first:
            t.text = sure
            span = (t.chars[0][0], t.chars[-1][1]) if t.chars else None
            t.chars = [span] if span is not None and len(sure) == 1 else None
            t.char_scores = None
        t.alternatives = alts
        t.confidence = min(p, REREAD_DISAGREE_CONFIDENCE)
        changed += 1
    tokens.extend(added)
    return changed + len(added)


def read_fax_again(
    engine: OcrEngine,
    image: np.ndarray,
    tokens: list[OcrToken],
    text_height: float,
    page: int,
    deadline: float | None = None,
) -> int:
    """Read a bilevel page (`image`: as the first reading read it) again blurred and merge the
    readings (`merge_second_reading`), when it has `SECOND_READ_MIN_DOUBTFUL` doubtful figures or
    more; returns how many tokens changed or were added. The caller tells a bilevel page."""
    import cv2

    if text_height <= 0 or sum(1 for t in tokens if _doubtful_figure(t)) < SECOND_READ_MIN_DOUBTFUL:
        return 0
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.5, SECOND_READ_BLUR * text_height))
    return merge_second_reading(tokens, engine(blurred, page, deadline=deadline))


# A sure figure of a fax checked blurred. A fax's fixed threshold can take a glyph's thin strokes
# away and leave a stroke that is a figure of its own: a Times 4 keeps its stem and loses its
# diagonal and bar, and "41" prints as a speck beside "11", which the recogniser reads "11" at 0.999
# (every character at 0.999: no score of its own tells, and the ink left is a 1's). Neither the
# second reading of the page (`read_fax_again`: only on a page with doubtful figures, and a sure
# first reading stands there) nor the re-reading of doubtful boxes looks at it, and where no hard
# sum runs over its cell (table 二's rows: only "in force >= issued") it passed at 0.998 (seed 7373,
# three_line fax). The same box read blurred by a tenth of the text height joins what is left of the
# lost strokes into grey and reads "41". So on a bilevel page every figure read surely is read once
# more in its own box, blurred (the recogniser only, no detection), and where that reading is
# another figure it becomes the token's alternative; the first reading and its confidence stay.
# The sums then weigh the two readings like any of the recogniser's own: where a hard rule tells
# them apart the one it needs is taken (and a change goes to review, `corrected_by_rule`); where no
# hard rule does, the cell has a rival reading (`ambiguous`) and goes to review, shown both. Blur
# is no sure witness either: it closes a 5's gap into a 3 and a mono zero's dot into an 8. On 16
# faxes (seeds 7373 and 9494, four held-out families) the readings disagreed on 112 sure figures:
# the first was right 107 times, the blurred one twice (both a 4 left as its stem, 41 read 11),
# neither 3 times (a point read as a comma: the digits are compared, not the marks). So the
# disagreement is left to the sums, not made a doubt of every figure (capping them all sent 26 more
# cells of seed 7373's eight faxes to review for the one caught), and the commonest false rival is
# refuted by the glyph itself: where the blurred reading differs only by 8s where the first read 0s
# and each such glyph's sharp outline has no waist (`waist_ratio`, the test `settle_zero_or_eight`
# uses), the blur closed a dotted zero and no alternative is added (seed 5151's group_label_rows
# faxes, mono zeros: 69 such rivals, one wrong cell and 16 more cells in review without it).
SURE_CHECK_BLUR = SECOND_READ_BLUR  # the check's blur (Gaussian sigma, in text heights)
SURE_CHECK_MAX_TOKENS = 400  # at most this many figures a page are checked (a page of noise is not)
SURE_CHECK_ZERO_HALF_WIDTH = 0.45  # a glyph judged for a waist: this many text heights each side of its centre


def _figure_digits(text: str) -> str:
    """A figure's digits and sign: what two readings of it must share to read the same figure (a
    point read as a comma, "0.00" as "0,00", says nothing about its digits)."""
    return "".join(c for c in text if c.isdigit() or c == "-")


def _zeros_closed_by_blur(image: np.ndarray, token: OcrToken, first: str, other: str, text_height: float) -> bool:
    """Whether the blurred reading `other` differs from the first, `first` (both as `_figure_digits`),
    only where the first read 0 and the blurred one 8, and each such glyph's outline on the sharp
    page has no waist (`waist_ratio`, as `settle_zero_or_eight` tells a dotted zero from an 8): the
    blur closed a mono zero's dot into an 8's waist, and the figure as printed is the first
    reading's. A glyph that cannot be judged (no clear outline, no character extents) is not."""
    if len(first) != len(other) or not token.chars:
        return False
    diffs = [i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a != b]
    if not diffs or any((first[i], other[i]) != ("0", "8") for i in diffs):
        return False
    places = [k for k, c in enumerate(token.text) if c.isdigit() or c == "-"]
    if len(places) != len(first) or len(token.chars) != len(token.text):
        return False
    x0, y0, x1, y1 = token.bbox
    h, w = image.shape[:2]
    half = SURE_CHECK_ZERO_HALF_WIDTH * text_height
    for i in diffs:
        c0, c1 = token.chars[places[i]]
        mid = (c0 + c1) / 2
        a, b = max(x0, mid - half), min(x1, mid + half)
        crop = image[max(0, int(y0)) : min(h, int(y1) + 1), max(0, int(a)) : min(w, int(b) + 1)]
        found = waist_ratio(crop, whole=True)
        if found is None or found[0] < ZERO_MIN_WAIST:
            return False
    return True


def check_sure_fax_figures(
    engine: OcrEngine,
    image: np.ndarray,
    tokens: list[OcrToken],
    text_height: float,
    page: int,
    deadline: float | None = None,
) -> int:
    """Read each figure of a bilevel page read surely (at least `REREAD_BELOW`) again in its own box
    from `image` blurred by `SURE_CHECK_BLUR` text heights (see above); a figure read otherwise gets
    that reading as its first alternative (its reading and confidence stay). Returns how many. The
    caller tells a bilevel page; `engine` must read given boxes (one that cannot changes nothing)."""
    import cv2

    from extraction.ocr.base import numeric_like

    sure = [
        t
        for t in tokens
        if t.confidence >= REREAD_BELOW and numeric_like(t.text.strip()) and _figure_reading(t.text) is not None
    ][:SURE_CHECK_MAX_TOKENS]
    if not sure or text_height <= 0:
        return 0
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.5, SURE_CHECK_BLUR * text_height))
    boxes = [t.bbox for t in sure]
    read = engine.read_boxes(blurred, boxes, page, deadline=deadline)
    changed = 0
    for t in sure:
        # the engine returns the boxes it read something in, each as given
        r = next((r for r in read if max(abs(a - b) for a, b in zip(r.bbox, t.bbox, strict=True)) < 0.5), None)
        reading = _figure_reading(r.text) if r is not None and numeric_like(r.text.strip()) else None
        if r is None or reading is None:
            continue
        first, other = _figure_digits(_figure_reading(t.text) or t.text), _figure_digits(reading)
        if other == first:
            continue
        if len(other) != len(first) and (other in first or first in other):
            continue  # a digit more or less at an end: blur joined a neighbour's ink or cut the box
        if _zeros_closed_by_blur(image, t, first, other, text_height):
            continue  # a mono zero's dot closed into an 8's waist by the blur: the sharp outline is a 0's
        rest = [(a, p) for a, p in t.alternatives if a != reading]
        t.alternatives = [(reading, round(float(r.confidence), 5)), *rest]
        changed += 1
    return changed


# A page whose figures cannot be read. A phone photo of small bold figures (5-6 px tall as taken)
# leaves each one a blob: the recogniser reads most of them with doubt (0 or 8, 0.3-0.8) and some
# of the same blobs, by chance, as a sure 8 (0.95-0.995); where the sums happen to hold over those
# (8 = 8 + 0 + 0), the sure 8s passed out of review (seed 6061, outer_frame_header_rule: three
# totals printed 0). A sure reading among a page of doubtful ones of the same figures is no surer
# than they are: on a page where most lone figures are read with doubt, no figure is sure. Not on a
# fax (read_page calls it on grey pages only): a fax's doubt is its broken strokes, read again whole
# (`read_fax_again`), and capping every figure there cost a table row its place (seed 6061,
# group_label_rows fax: 25 -> 31 wrong, all in review).
PAGE_DOUBT_MIN_FIGURES = 10  # a page with at least this many lone figures…
PAGE_DOUBT_SHARE = 0.5  # …more than this share of them read below the review level…
PAGE_DOUBT_BELOW = 0.8  # …(this confidence: the pipeline's review threshold)…
PAGE_DOUBT_CONFIDENCE = REREAD_DISAGREE_CONFIDENCE  # …has every figure capped at this (review)


def doubt_unreadable_page(tokens: list[OcrToken]) -> int:
    """On a page where most lone figures are read with doubt (see above), every figure's confidence
    is capped at `PAGE_DOUBT_CONFIDENCE`; returns how many were capped."""
    from extraction.ocr.base import numeric_like

    lone = [t for t in tokens if len(t.text.strip()) == 1 and t.text.strip().isdigit()]
    if len(lone) < PAGE_DOUBT_MIN_FIGURES:
        return 0
    if sum(1 for t in lone if t.confidence < PAGE_DOUBT_BELOW) <= PAGE_DOUBT_SHARE * len(lone):
        return 0
    capped = 0
    for t in tokens:
        if numeric_like(t.text.strip()) and t.confidence > PAGE_DOUBT_CONFIDENCE:
            t.confidence = PAGE_DOUBT_CONFIDENCE
            capped += 1
    return capped


# A fax's figure told by its twins. A fax prints one font's figure through one fixed threshold into
# nearly the same bitmap wherever it stands on the page, and the recogniser, reading each copy on its
# own, reads the same bitmap differently: a mono font's dotted zero, its dot run into the ring (two
# holes, no waist), was read 日 (at up to 0.99), 0, 8, 6 or θ, mostly at 0.3-0.7 (seed 7171,
# proactive_subtables fax: 87 of table 三's 150 lone figures read 日, 41 read 0; 80 % of the cells in
# review, 26 wrong). One copy's readings are weak evidence; the copies the recogniser read surely are
# strong evidence for every copy of the same bitmap. So on a bilevel page, each figure read surely
# (`TWIN_SURE`, a lone figure or each character of a short one) at least `TWIN_MIN_SURE` times shows
# its shapes (`_shape`), and the page's own spread measures likeness: a glyph is a twin of a figure
# when its likeness to its `TWIN_NEIGHBOURS` nearest sure copies is at least the `TWIN_QUANTILE`
# percentile of the sure copies' own (each to its nearest others), and its ink box is of their size.
# A token each of whose characters is a twin of exactly one figure is read as those figures when the
# recogniser read it so itself (its first reading or an alternative), or when it read a lone glyph as
# no figure at all (日, θ, •: no cell value); its first reading is kept as the alternative and it
# takes the sure copies' confidence (their median, at most `TWIN_MAX_CONFIDENCE`): the bitmap was
# read surely elsewhere on the page. A glyph that is no twin, or a twin of two figures, or a token
# read surely (`TWIN_SURE`), or read as figures the twins do not give and never as theirs, is left as
# read. A figure whose sure copies are not alike (their percentile below `TWIN_MIN_LIKENESS`: read
# surely over two shapes) measures nothing. Not on grey pages: a scan's or a photo's copies of one
# figure differ in grey and blur, and there likeness does not tell a figure from its neighbour.
TWIN_SURE = 0.9  # a figure read this surely shows its shape (the recogniser's own, after the checks)
TWIN_MIN_SURE = 5  # a figure needs this many sure copies on the page before it is a measure
TWIN_NEIGHBOURS = 3  # a glyph's likeness to a figure: the mean of its likeness to its nearest sure copies…
TWIN_QUANTILE = 10  # …at least this percentile of the sure copies' own (to their nearest others)…
TWIN_SIZE = (0.8, 1.25)  # …and its ink box this share of theirs (height and width): a twin
TWIN_MIN_LIKENESS = 0.9  # a figure whose sure copies are less alike than this (at the percentile) measures nothing
TWIN_MAX_CONFIDENCE = 0.95  # a twin's confidence: its figure's sure copies' median, at most this
TWIN_MAX_CHARS = REREAD_MAX_CHARS  # tokens of at most this many characters are judged glyph by glyph
TWIN_MIN_PIECE = 0.5  # a piece of a token's ink with fewer dark pixels than this many text heights is a speck


def _glyph_inks(dark: np.ndarray, token: OcrToken, text_height: float) -> list[np.ndarray] | None:
    """The ink of each character of a short token (`TWIN_MAX_CHARS`), each cut to its ink: the
    token's ink (its box, as tall as its core box widened a little) split at its empty columns;
    None where that does not give one piece of ink per character (touching or broken glyphs)."""
    text = token.text.strip()
    if not 0 < len(text) <= TWIN_MAX_CHARS:
        return None
    core = token.core if token.core is not None else token.bbox
    pad = 0.1 * text_height
    h, w = dark.shape
    x0, x1 = max(0, int(token.bbox[0])), min(w, int(token.bbox[2]) + 1)
    y0, y1 = max(0, int(core[1] - pad)), min(h, int(core[3] + pad) + 1)
    box = dark[y0:y1, x0:x1]
    if box.size == 0:
        return None
    cols = box.sum(axis=0)
    pieces: list[tuple[int, int]] = []
    start = None
    for c, n in enumerate([*cols.tolist(), 0]):
        if n and start is None:
            start = c
        elif not n and start is not None:
            if int(cols[start:c].sum()) >= TWIN_MIN_PIECE * text_height:
                pieces.append((start, c))  # a speck of noise is no glyph
            start = None
    if len(pieces) != len(text):
        return None
    inks = []
    for a, b in pieces:
        part = box[:, a:b]
        ys = np.nonzero(part.any(axis=1))[0]
        if len(ys) < 3 or b - a < 2 or ys[0] == 0 or ys[-1] == len(part) - 1:
            return None  # too small, or running out of the box (a rule, a neighbour's ink)
        inks.append(part[ys[0] : ys[-1] + 1])
    return inks


def _sure_figures(
    glyphs: dict[int, list[np.ndarray]], tokens: list[OcrToken]
) -> dict[str, tuple[np.ndarray, float, float, float, float]]:
    """Each figure the tokens read surely `TWIN_MIN_SURE` times or more, as (its sure copies' shapes,
    one a row; the likeness bar their own spread sets; their ink's median height and width; the
    confidence a twin takes), where those copies are alike (`TWIN_MIN_LIKENESS`)."""
    sure: dict[str, list[np.ndarray]] = {}
    sure_conf: dict[str, list[float]] = {}
    for t in tokens:
        text = t.text.strip()
        if id(t) in glyphs and text.isdigit() and t.confidence >= TWIN_SURE:
            for d, ink in zip(text, glyphs[id(t)], strict=True):
                sure.setdefault(d, []).append(ink)
                sure_conf.setdefault(d, []).append(float(t.confidence))
    figures = {}
    for d, inks in sure.items():
        if len(inks) < TWIN_MIN_SURE:
            continue
        fh = float(np.median([i.shape[0] for i in inks]))
        fw = float(np.median([i.shape[1] for i in inks]))
        shapes = np.array([s.ravel() for i in inks if (s := _shape(i, fh)) is not None])
        if len(shapes) <= TWIN_NEIGHBOURS:
            continue
        like = shapes @ shapes.T
        np.fill_diagonal(like, -1.0)  # each copy measured against the others
        own = np.sort(like, axis=1)[:, ::-1][:, :TWIN_NEIGHBOURS].mean(axis=1)
        bar = float(np.percentile(own, TWIN_QUANTILE))
        if bar < TWIN_MIN_LIKENESS:
            continue  # the sure copies are not one shape: read surely over two glyphs
        figures[d] = (shapes, bar, fh, fw, min(float(np.median(sure_conf[d])), TWIN_MAX_CONFIDENCE))
    return figures


def settle_by_twins(image: np.ndarray, tokens: list[OcrToken], text_height: float) -> int:
    """Short tokens of a bilevel page whose glyphs are twins of the page's sure copies of figures are
    read as those figures, with their confidence (see above). `image`: the page the tokens were read
    on. Returns how many tokens changed."""
    from extraction.ocr.base import numeric_like
    from extraction.ocr.prep import paper_and_ink

    paper, ink_level = paper_and_ink(image)
    if paper - ink_level < WAIST_MIN_CONTRAST or text_height <= 0:
        return 0
    dark = np.asarray(image) < paper - 0.5 * (paper - ink_level)
    glyphs = {id(t): g for t in tokens if (g := _glyph_inks(dark, t, text_height)) is not None}
    figures = _sure_figures(glyphs, tokens)
    if not figures:
        return 0
    lo, hi = TWIN_SIZE

    def twin(ink: np.ndarray) -> tuple[str, float] | None:
        found = []
        for d, (shapes, bar, fh, fw, conf) in figures.items():
            if not (lo * fh <= ink.shape[0] <= hi * fh and lo * fw <= ink.shape[1] <= hi * fw):
                continue
            s = _shape(ink, fh)
            if s is not None and float(np.sort(shapes @ s.ravel())[::-1][:TWIN_NEIGHBOURS].mean()) >= bar:
                found.append((d, conf))
        return found[0] if len(found) == 1 else None  # like no figure's copies, or like two: untold

    changed = 0
    for t in tokens:
        text = t.text.strip()
        if id(t) not in glyphs or (t.confidence >= TWIN_SURE and numeric_like(text)):
            continue
        told = [twin(ink) for ink in glyphs[id(t)]]
        if any(x is None for x in told):
            continue
        reading = "".join(x[0] for x in told if x is not None)
        conf = min(x[1] for x in told if x is not None)
        readings = {a.strip() for a, _p in t.alternatives}
        if reading != text and reading not in readings and (numeric_like(text) or len(text) > 1):
            continue  # read as other figures, never as these: the twins do not outvote the recogniser
        if reading == text and t.confidence >= conf:
            continue
        if reading != text:
            rest = [(a, p) for a, p in t.alternatives if a.strip() not in (reading, text)]
            t.alternatives = [(text, round(float(t.confidence), 5)), *rest]
            if len(reading) != len(text):
                t.chars = None
            t.text = reading
            t.char_scores = None
            t.confidence = conf  # the first reading's score was for another reading
        else:
            t.confidence = max(float(t.confidence), conf)
        changed += 1
    return changed
