"""Ruling lines: found on a page image by morphology (scans), and collinear pieces merged."""

from __future__ import annotations

import statistics

import numpy as np

from extraction.ocr.prep import paper_and_ink
from extraction.pages.words import Rule, Word


def line_masks(gray: np.ndarray, text_height: float, *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the horizontal and vertical ruling strokes of a page image (dark ink on light
    paper). `strict` asks for long strokes (4 / 2 text heights) bridged over 1-px breaks only: real
    rules, safe to erase before OCR (a 5-px bridge joins the aligned strokes of a row of characters
    such as 本年新 into one "rule" and erasing it garbles the label); otherwise (2.0 / 1.1, 5-px
    bridges) short rule pieces of one-line rows are found too."""
    import cv2

    bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 12)
    out = []
    for horizontal in (True, False):
        factor = (4.0 if horizontal else 2.0) if strict else (2.0 if horizontal else 1.1)
        length = int(max(12, text_height * factor))
        reach = 2 if strict else 5
        bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (reach, 1) if horizontal else (1, reach))
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if horizontal else (1, length))
        mask = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, bridge)
        out.append(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel))
    return out[0], out[1]


def erase_lines(gray: np.ndarray, text_height: float) -> np.ndarray:
    """The page with its ruling lines painted over in the paper's colour, so the detector finds a
    lone digit next to a rule and the recogniser does not read the rule as 1 or |."""
    import cv2

    mh, mv = line_masks(gray, text_height, strict=True)
    mask = cv2.dilate(cv2.bitwise_or(mh, mv), cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    if not mask.any():
        return gray
    paper = np.uint8(np.percentile(gray[:: max(1, gray.shape[0] // 300), :: max(1, gray.shape[1] // 300)], 90))
    clean = gray.copy()
    clean[mask > 0] = paper
    return clean


def rules_from_image(gray: np.ndarray, words: list[Word] | None = None, text_height: float | None = None) -> list[Rule]:
    """Ruling lines of a page image (uint8 gray, dark ink on light paper) by morphology."""
    import cv2

    h, w = gray.shape[:2]
    if h < 20 or w < 20:
        return []
    th = text_height or max(8.0, min(h, w) / 80)
    rules: list[Rule] = []
    thick = max(3, int(th * 0.35))
    paper, ink = paper_and_ink(gray, ink_percentile=1)
    dark = (paper + ink) / 2  # a rule is printed in ink; a faded seal's arc is not
    for horizontal, mask in zip((True, False), line_masks(gray, th), strict=True):
        length = int(max(12, th * (2.0 if horizontal else 1.1)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, n):
            x, y, ww, hh, _area = stats[i]
            if (ww >= length if horizontal else hh >= length) and paper - ink > 40:
                # darkness of the stroke's core (the darkest pixel across it, per step along it):
                # a thin rule's anti-aliased edges would make its mean look faded
                box = labels[y : y + hh, x : x + ww] == i
                core = np.where(box, gray[y : y + hh, x : x + ww], 255).min(axis=0 if horizontal else 1)
                if float(np.median(core)) > dark:
                    continue
            if horizontal:
                if ww < length or hh > thick * 3:
                    continue
                rules.append(Rule(float(x), y + hh / 2.0, float(x + ww), y + hh / 2.0))
            else:
                if hh < length or ww > thick * 3:
                    continue
                rules.append(Rule(x + ww / 2.0, float(y), x + ww / 2.0, float(y + hh)))
    if words:
        rules = [r for r in rules if not _inside_word(r, words)]
    return rules


def _inside_word(rule: Rule, words: list[Word]) -> bool:
    """A stroke that lies mostly inside one word's box is part of a glyph (一, ——, 丨), not a rule."""
    length = max(abs(rule.x1 - rule.x0), abs(rule.y1 - rule.y0))
    for w in words:
        x0, y0, x1, y1 = w.bbox
        if rule.horizontal:
            if not (y0 < rule.y0 < y1):
                continue
            inside = min(rule.x1, x1) - max(rule.x0, x0)
        else:
            if not (x0 < rule.x0 < x1):
                continue
            inside = min(rule.y1, y1) - max(rule.y0, y0)
        if inside > 0.6 * length:
            return True
    return False


def _merge_rules(rules: list[Rule], snap: float, join: float) -> tuple[list[Rule], list[Rule]]:
    """Horizontal and vertical rules, collinear pieces merged."""
    hs = sorted(
        (Rule(min(r.x0, r.x1), (r.y0 + r.y1) / 2, max(r.x0, r.x1), (r.y0 + r.y1) / 2) for r in rules if r.horizontal),
        key=lambda r: (r.y0, r.x0),
    )
    vs = sorted(
        (
            Rule((r.x0 + r.x1) / 2, min(r.y0, r.y1), (r.x0 + r.x1) / 2, max(r.y0, r.y1))
            for r in rules
            if not r.horizontal
        ),
        key=lambda r: (r.x0, r.y0),
    )

    def merge(items: list[Rule], horizontal: bool) -> list[Rule]:
        # group by position (y for horizontal), then join overlapping/near spans
        out: list[Rule] = []
        groups: list[list[Rule]] = []
        for r in items:
            pos = r.y0 if horizontal else r.x0
            if groups and abs(pos - statistics.fmean(g.y0 if horizontal else g.x0 for g in groups[-1])) <= snap:
                groups[-1].append(r)
            else:
                groups.append([r])
        for g in groups:
            pos = statistics.fmean(r.y0 if horizontal else r.x0 for r in g)
            spans = sorted((r.x0, r.x1) if horizontal else (r.y0, r.y1) for r in g)
            a, b = spans[0]
            for s, e in spans[1:]:
                if s <= b + join:
                    b = max(b, e)
                else:
                    out.append(Rule(a, pos, b, pos) if horizontal else Rule(pos, a, pos, b))
                    a, b = s, e
            out.append(Rule(a, pos, b, pos) if horizontal else Rule(pos, a, pos, b))
        return out

    return merge(hs, True), merge(vs, False)
