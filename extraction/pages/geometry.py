"""Table geometry from positioned words: a page's words (text layer or OCR) and ruling lines →
`Line`s in reading order, one delimited `Line` per table row with one `Field` per cell.

Coordinates are top-left origin, in one unit per page (PDF points or image pixels); tolerances
scale with the page's median text height, so the same code serves both.

1. **Ruling lines** come from the PDF's drawn paths (`extraction.ingest.pdf`) or, on scans, from
   `rules_from_image` (OpenCV morphology: long thin horizontal/vertical strokes, minus strokes that
   lie inside a recognised word, such as 一 or ——). Collinear pieces are merged; rules that cross
   form a table when it has at least two rules each way.
2. **Grid**: the distinct x of the vertical rules and y of the horizontal rules cut the table into
   positions; two neighbouring positions are one (merged) cell where no rule separates them, so
   rowspan/colspan headers and label groups come out as merged cells.
3. **Words → cells**: a word that crosses a vertical rule is cut there (character extents from the
   text layer or the OCR's CTC frames), so digits of two cells never glue; each word goes to the cell
   holding its centre; a cell's words are ordered in lines and joined ("" between CJK characters).
4. **Rows** are emitted like the HTML backend does: a cell with text is ONE field whatever its
   span; an empty cell spanning n columns is n blank fields; the rows a merged cell covers below its
   first hold a blank field in its place; blank fields left of a row's label (merged label columns)
   are dropped, blank fields of value-only rows kept.
5. **Without rules**, lines whose numbers line up in columns over several lines form an aligned
   table: each line becomes label + one field per column (blank where the line has no number there).
   Other text lines with wide gaps are split at the gaps; the rest are plain text lines.
"""

from __future__ import annotations

import itertools
import re
import statistics
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from extraction.document import BBox, Field, Line
from extraction.ocr.prep import paper_and_ink
from extraction.pages.tolerances import TOLERANCES as TOL

_CJK_RANGES = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
FIGURE_GUESS_CONFIDENCE = 0.5  # a glyph in a column of numbers read as its digit reading
UNREAD_CONFIDENCE = 0.3  # a blank cell whose slot holds ink OCR did not read, or lies under a seal
_NUMERIC = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$")


@dataclass
class Word:
    """A positioned piece of text: one word of a text layer or one OCR token."""

    text: str
    bbox: BBox
    confidence: float = 1.0
    alternatives: list[str] = field(default_factory=list)
    chars: list[tuple[float, float]] | None = None  # per-character horizontal extent, when known

    @property
    def cx(self) -> float:
        return (self.bbox[0] + self.bbox[2]) / 2

    @property
    def cy(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def numeric(self) -> bool:
        return bool(_NUMERIC.match(self.text.replace(" ", "")))


def as_figure(word: Word) -> Word | None:
    """A short text token that OCR also read as a number (0 → 日): that reading, to be reviewed."""
    if word.numeric or word.confidence >= 0.9 or not word.alternatives or not _NUMERIC.match(word.alternatives[0]):
        return None
    return Word(word.alternatives[0], word.bbox, min(word.confidence, FIGURE_GUESS_CONFIDENCE), [], None)


@dataclass
class Rule:
    """A ruling segment: horizontal when y0 == y1, vertical when x0 == x1."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def horizontal(self) -> bool:
        return abs(self.y1 - self.y0) <= abs(self.x1 - self.x0)


# ---------------------------------------------------------------------------------------------
# Words


def split_word(word: Word, cut: Callable[[int, str], bool]) -> list[Word]:
    """Cut a word before every character i where cut(i, char) is true (spaces are dropped).
    Needs character extents; without them the word is returned whole."""
    if word.chars is None or len(word.chars) != len(word.text):
        return [word]
    pieces: list[list[int]] = [[]]
    for i, ch in enumerate(word.text):
        if ch.isspace():
            if pieces[-1]:
                pieces.append([])
            continue
        if pieces[-1] and cut(i, ch):
            pieces.append([])
        pieces[-1].append(i)
    pieces = [p for p in pieces if p]
    if len(pieces) <= 1 and (not pieces or len(pieces[0]) == len(word.text)):
        return [word]
    out: list[Word] = []
    for p in pieces:
        text = "".join(word.text[i] for i in p)
        x0 = min(word.chars[i][0] for i in p)
        x1 = max(word.chars[i][1] for i in p)
        alts: list[str] = []
        for alt in word.alternatives:  # an alternative of the same shape splits the same way
            if len(alt) == len(word.text):
                piece = "".join(alt[i] for i in p)
                if piece != text and piece not in alts:
                    alts.append(piece)
        out.append(Word(text, (x0, word.bbox[1], x1, word.bbox[3]), word.confidence, alts, [word.chars[i] for i in p]))
    return out


def _cut_at_spaces(word: Word) -> list[Word]:
    """Cut a word at the spaces that separate two numbers or leave a wide gap; other spaces (a
    label with a stray space) stay inside the word."""
    if word.chars is None or len(word.chars) != len(word.text):
        return [word]
    text = word.text
    h = max(1e-6, word.height)
    keep: set[int] = set()  # indices of spaces that stay
    for m in re.finditer(r" +", text):
        left = text[: m.start()].split(" ")[-1]
        right = text[m.end() :].split(" ")[0]
        gap = word.chars[m.end()][0] - word.chars[m.start() - 1][1] if m.start() and m.end() < len(text) else 0
        numbers = bool(_NUMERIC.match(left)) and bool(_NUMERIC.match(right))
        if not numbers and gap <= 1.0 * h:
            keep.update(range(m.start(), m.end()))
    if len(keep) == text.count(" "):
        return [word]
    marked = "".join("\x00" if i in keep else c for i, c in enumerate(text))
    tmp = Word(marked, word.bbox, word.confidence, word.alternatives, word.chars)
    return [
        Word(p.text.replace("\x00", " "), p.bbox, p.confidence, p.alternatives, p.chars)
        for p in split_word(tmp, lambda _i, _c: False)
    ]


# A group label's enumerator read together with the first row label beside it: 三、（一）予以公开
# (the template's merged cell 三、本年度办理结果 stands left of its rows, so OCR may join the two).
_GROUP_THEN_ROW = re.compile(
    r"^[一二三四五六七八九十]{1,3}\s*[、.．]\s*(?=[(（]\s*[一二三四五六七八九十\d]{1,3}\s*[)）])"
)


def split_group_enumerator(word: Word) -> list[Word]:
    m = _GROUP_THEN_ROW.match(word.text)
    if m is None:
        return [word]
    return split_word(word, lambda i, _ch: i == m.end())


def split_on_spaces(words: list[Word]) -> list[Word]:
    out: list[Word] = []
    for w in words:
        t = w.text.strip()
        if not t:
            continue
        if t != w.text and w.chars is not None and len(w.chars) == len(w.text):
            lead = len(w.text) - len(w.text.lstrip())
            chars = w.chars[lead : lead + len(t)]
            w = Word(t, (chars[0][0], w.bbox[1], chars[-1][1], w.bbox[3]), w.confidence, w.alternatives, chars)
        out.extend(_cut_at_spaces(w) if " " in t else [w])
    return out


def words_from_chars(chars: list[tuple[str, BBox]], *, gap: float = 0.35, max_chars: int = 200_000) -> list[Word]:
    """Text-layer characters (in content order) → words. A new word starts at a break the PDF
    reader inferred (an empty string: PDFium's generated spaces and line ends), at a jump to another
    line, or after a horizontal gap wider than `gap` × the character height; a space printed in the
    text (" ") stays in the word when the next character follows within 1.2 heights."""
    words: list[Word] = []
    cur: list[tuple[str, BBox]] = []

    def flush() -> None:
        if cur:
            text = "".join(c for c, _ in cur)
            x0 = min(b[0] for c, b in cur if c != " ")
            y0 = min(b[1] for c, b in cur if c != " ")
            x1 = max(b[2] for c, b in cur if c != " ")
            y1 = max(b[3] for c, b in cur if c != " ")
            words.append(Word(text, (x0, y0, x1, y1), 1.0, [], [(b[0], b[2]) for _, b in cur]))
            cur.clear()

    space = False
    broke = False  # PDFium generated a break: a new word unless the next glyph touches this one
    for ch, box in chars[:max_chars]:
        if not ch:
            broke = bool(cur)
            space = False
            continue
        if ch.isspace():
            space = bool(cur)
            continue
        if cur:
            _, last = cur[-1]
            h = max(1e-6, min(box[3] - box[1], last[3] - last[1]))
            overlap = min(box[3], last[3]) - max(box[1], last[1])
            same_line = overlap >= 0.5 * h
            gap_x = box[0] - last[2]
            # (a browser's PDF places each glyph run apart, and PDFium breaks between touching
            # glyphs of one word: "予" | "以公" | "开")
            if (
                not same_line
                or gap_x > (1.2 if space else gap) * h
                or gap_x < -0.5 * h
                or (broke and not space and abs(gap_x) > TOL.touching * h)
            ):
                flush()
            elif space:
                cur.append((" ", (last[2], last[1], box[0], last[3])))
        space = broke = False
        cur.append((ch, box))
    flush()
    return words




def _median_height(words: list[Word]) -> float:
    hs = [w.height for w in words if w.height > 0]
    return statistics.median(hs) if hs else 10.0


# ---------------------------------------------------------------------------------------------
# Rules


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


@dataclass
class Grid:
    """A ruled table: boundaries, which boundaries are drawn, and the merged cells."""

    xs: list[float]
    ys: list[float]
    owner: list[list[int]]  # per position (row, col): the merged cell's index
    cells: list[tuple[int, int, int, int]]  # (row0, col0, row1, col1) inclusive, per merged cell

    @property
    def bbox(self) -> BBox:
        return (self.xs[0], self.ys[0], self.xs[-1], self.ys[-1])


def _cluster(values: list[float], tol: float) -> list[float]:
    values = sorted(values)
    out: list[list[float]] = []
    for v in values:
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [statistics.fmean(g) for g in out]


def find_grids(rules: list[Rule], text_height: float) -> list[Grid]:
    """Ruled tables: groups of crossing rules with at least two rules each way."""
    snap = max(1.0, 0.3 * text_height)
    hs, vs = _merge_rules(rules, snap, join=0.6 * text_height)
    min_len = 1.0 * text_height
    hs = [r for r in hs if r.x1 - r.x0 >= min_len]
    vs = [r for r in vs if r.y1 - r.y0 >= 0.8 * text_height]
    if len(hs) < 2 or len(vs) < 2:
        return []
    # connected components of crossing rules
    n = len(hs) + len(vs)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    tol = snap * 1.5
    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            if h.x0 - tol <= v.x0 <= h.x1 + tol and v.y0 - tol <= h.y0 <= v.y1 + tol:
                ra, rb = find(i), find(len(hs) + j)
                if ra != rb:
                    parent[ra] = rb
    comps: dict[int, tuple[list[Rule], list[Rule]]] = {}
    for i, h in enumerate(hs):
        comps.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        comps.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    grids = []
    for ch, cv in comps.values():
        if len(ch) >= 2 and len(cv) >= 2:
            g = _grid(ch, cv, snap)
            if g is not None:
                grids.append(g)
    grids.sort(key=lambda g: g.ys[0])
    return grids


def _grid(hs: list[Rule], vs: list[Rule], snap: float) -> Grid | None:
    xs = _cluster([v.x0 for v in vs], snap)
    ys = _cluster([h.y0 for h in hs], snap)
    # the table's outer frame even where a side is not drawn
    left = min(min(h.x0 for h in hs), xs[0])
    right = max(max(h.x1 for h in hs), xs[-1])
    top = min(min(v.y0 for v in vs), ys[0])
    bottom = max(max(v.y1 for v in vs), ys[-1])
    if xs[0] - left > 2 * snap:
        xs.insert(0, left)
    if right - xs[-1] > 2 * snap:
        xs.append(right)
    if ys[0] - top > 2 * snap:
        ys.insert(0, top)
    if bottom - ys[-1] > 2 * snap:
        ys.append(bottom)
    nr, nc = len(ys) - 1, len(xs) - 1
    if nr < 1 or nc < 1 or nr * nc > 40_000:
        return None

    def covered(spans: list[tuple[float, float]], a: float, b: float) -> bool:
        need = b - a
        got = 0.0
        for s, e in spans:
            got += max(0.0, min(e, b) - max(s, a))
        return got >= 0.5 * need

    vspans: list[list[tuple[float, float]]] = [[] for _ in xs]
    for v in vs:
        j = min(range(len(xs)), key=lambda k: abs(xs[k] - v.x0))
        if abs(xs[j] - v.x0) <= snap:
            vspans[j].append((v.y0, v.y1))
    hspans: list[list[tuple[float, float]]] = [[] for _ in ys]
    for h in hs:
        i = min(range(len(ys)), key=lambda k: abs(ys[k] - h.y0))
        if abs(ys[i] - h.y0) <= snap:
            hspans[i].append((h.x0, h.x1))
    parent = list(range(nr * nc))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in range(nr):
        for c in range(nc - 1):
            if not covered(vspans[c + 1], ys[r], ys[r + 1]):
                union(r * nc + c, r * nc + c + 1)
    for r in range(nr - 1):
        for c in range(nc):
            if not covered(hspans[r + 1], xs[c], xs[c + 1]):
                union(r * nc + c, (r + 1) * nc + c)
    index: dict[int, int] = {}
    cells: list[list[int]] = []
    owner = [[0] * nc for _ in range(nr)]
    for r in range(nr):
        for c in range(nc):
            root = find(r * nc + c)
            if root not in index:
                index[root] = len(cells)
                cells.append([r, c, r, c])
            k = index[root]
            owner[r][c] = k
            cell = cells[k]
            cell[0], cell[1] = min(cell[0], r), min(cell[1], c)
            cell[2], cell[3] = max(cell[2], r), max(cell[3], c)
    return Grid(xs, ys, owner, [tuple(c) for c in cells])  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Text lines


def group_lines(words: list[Word]) -> list[list[Word]]:
    """Words → visual lines (top to bottom), each sorted left to right. A word joins a line when
    it overlaps the line's vertical band by half its height (robust to a slight residual skew:
    the band follows the line's last word)."""
    lines: list[list[Word]] = []
    bands: list[tuple[float, float]] = []
    for w in sorted(words, key=lambda w: (w.cy, w.bbox[0])):
        best, best_overlap = -1, 0.0
        for k in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            top, bottom = bands[k]
            overlap = min(bottom, w.bbox[3]) - max(top, w.bbox[1])
            need = 0.5 * min(w.height, bottom - top)
            if overlap >= need and overlap > best_overlap:
                best, best_overlap = k, overlap
        if best < 0:
            lines.append([w])
            bands.append((w.bbox[1], w.bbox[3]))
        else:
            lines[best].append(w)
            top, bottom = bands[best]
            bands[best] = ((top + w.bbox[1]) / 2, (bottom + w.bbox[3]) / 2)
    for ln in lines:
        ln.sort(key=lambda w: w.bbox[0])
    lines.sort(key=lambda ln: min(w.bbox[1] for w in ln))
    return lines


def join_words(words: list[Word], text_height: float) -> str:
    """One visual line's words as text: no space between CJK characters, one space otherwise."""
    out = ""
    last: Word | None = None
    for w in words:
        if last is not None:
            gap = w.bbox[0] - last.bbox[2]
            a, b = out[-1:], w.text[:1]
            if (not (_CJK.match(a) and _CJK.match(b)) and gap > 0.15 * text_height) or (
                not (_CJK.match(a) or _CJK.match(b)) and gap > 0.05 * text_height
            ):
                out += " "
        out += w.text
        last = w
    return out


def _hull(words: list[Word]) -> BBox:
    return (
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    )


def _field(words: list[Word], page: int, text_height: float, bbox_map: Callable[[BBox], BBox] | None) -> Field:
    if not words:
        return Field("", page=page)
    lines = group_lines(words)
    parts = [join_words(ln, text_height) for ln in lines]
    text = ""
    for part in parts:
        if text and not (_CJK.match(text[-1]) and _CJK.match(part[:1])):
            text += " "
        text += part
    box = _hull(words)
    if bbox_map is not None:
        box = bbox_map(box)
    conf = min(w.confidence for w in words)
    alts: list[str] = []
    if len(words) == 1:
        alts = list(words[0].alternatives)
    else:
        for i, w in enumerate(words):
            for alt in w.alternatives:
                ws = [*words[:i], Word(alt, w.bbox), *words[i + 1 :]]
                t = "".join(x.text for x in ws) if all(x.numeric for x in ws) else " ".join(x.text for x in ws)
                if t != text and t not in alts:
                    alts.append(t)
        alts = alts[:3]
    return Field(text, page=page, bbox=tuple(round(v, 2) for v in box), confidence=round(conf, 4), alternatives=alts)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Page layout


@dataclass
class _Block:
    top: float
    lines: list[Line]


def layout_page(
    words: list[Word],
    rules: list[Rule],
    page: int,
    *,
    bbox_map: Callable[[BBox], BBox] | None = None,
    unread: Callable[[BBox], bool] | None = None,
) -> list[Line]:
    """A page's words and ruling lines → its Lines in reading order (see the module doc).
    `bbox_map` maps boxes to the page coordinates reported in the Fields (e.g. undoing a deskew);
    `unread(box)` says whether an empty table slot may hold a figure that was not read (OCR pages:
    ink or a seal in it): such a blank cell gets UNREAD_CONFIDENCE, so it goes to review."""
    words = split_on_spaces([w for w in words if w.text.strip()])
    words = [piece for w in words for piece in split_group_enumerator(w)]
    if not words:
        return []
    th = _median_height(words)
    words = drop_page_numbers(words, th)
    grids = find_grids(rules, th) if rules else []
    blocks: list[_Block] = []
    rest = words
    for g in grids:
        x0, y0, x1, y1 = g.bbox
        inside, outside = [], []
        for w in rest:
            (inside if x0 <= w.cx <= x1 and y0 <= w.cy <= y1 else outside).append(w)
        rest = outside
        if not inside:
            continue
        lines = _grid_lines(g, inside, page, th, bbox_map, unread)
        if lines is None:
            # the rules drawn do not separate the rows (a frame with no row rules): the words
            # are read as a table without rules, by alignment (the rules stay evidence there)
            rest.extend(inside)
            continue
        if lines:
            blocks.append(_Block(y0, lines))
    hrules = [r for r in rules if r.horizontal] if rules else []
    blocks.extend(_text_blocks(rest, page, th, bbox_map, hrules, unread))
    blocks.sort(key=lambda b: b.top)
    out: list[Line] = []
    for b in blocks:
        out.extend(b.lines)
    for ln in out:
        _spread_doubt(ln)
    return out


def _spread_doubt(line: Line) -> None:
    """A table row that shows no figure but has one doubtful empty slot (unread ink, a seal): the
    figure may stand in any of its slots (a seal's strokes add spurious columns), so every empty
    slot of the row is doubtful."""
    blanks = [f for f in line.fields if not f.text]
    if not blanks or any(_NUMERIC.match(f.text.replace(" ", "")) for f in line.fields if f.text):
        return
    if not any(f.confidence <= UNREAD_CONFIDENCE for f in blanks):
        return
    for f in blanks:  # (no box: without ink of its own, the slot is no evidence of a printed 0)
        f.confidence = min(f.confidence, UNREAD_CONFIDENCE)


_PAGE_NUMBER = re.compile(
    r"^[-—–－~]*\s*(?:\d{1,4}|第\s*\d{1,4}\s*页(?:\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*/\s*\d{1,4})\s*[-—–－~]*$"
)


def drop_page_numbers(words: list[Word], th: float) -> list[Word]:
    """A page number (2, - 2 -, 第2页) printed alone in the page's top or bottom margin is not a
    table value, even when OCR drops its dashes. It is alone on its line, stands clear of the
    text above or below it, and sits near the horizontal centre or a side edge of the text."""
    if len(words) < 8:
        return words
    left = min(w.bbox[0] for w in words)
    right = max(w.bbox[2] for w in words)
    width = max(1.0, right - left)
    drop: set[int] = set()
    for edge in ("bottom", "top"):
        ordered = sorted(range(len(words)), key=lambda i: -words[i].cy if edge == "bottom" else words[i].cy)
        i = ordered[0]
        w = words[i]
        if not _PAGE_NUMBER.match(w.text.strip()):
            continue
        same_line = [o for k, o in enumerate(words) if k != i and abs(o.cy - w.cy) < 0.6 * max(th, w.height)]
        if same_line:
            continue
        nxt = words[ordered[1]]
        gap = (w.bbox[1] - nxt.bbox[3]) if edge == "bottom" else (nxt.bbox[1] - w.bbox[3])
        if gap < 1.5 * th:
            continue
        centred = abs(w.cx - (left + right) / 2) < 0.12 * width
        at_side = w.bbox[0] - left < 0.05 * width or right - w.bbox[2] < 0.05 * width
        if centred or at_side:
            drop.add(i)
    return [w for k, w in enumerate(words) if k not in drop] if drop else words


def _blank(
    page: int, slot: BBox, bbox_map: Callable[[BBox], BBox] | None, unread: Callable[[BBox], bool] | None
) -> Field:
    """An empty cell; one whose slot may hold an unread figure keeps its box and a low confidence."""
    if unread is None or not unread(slot):
        return Field("", page=page)
    box = bbox_map(slot) if bbox_map is not None else slot
    return Field("", page=page, bbox=tuple(round(v, 2) for v in box), confidence=UNREAD_CONFIDENCE)  # type: ignore[arg-type]


def _numeric_columns(g: Grid, content: list[list[Word]]) -> set[int]:
    """Grid columns whose filled single cells mostly hold numbers."""
    stats: dict[int, list[int]] = {}
    for k, ws in enumerate(content):
        _r0, c0, _r1, c1 = g.cells[k]
        if ws and c0 == c1:
            n = stats.setdefault(c0, [0, 0])
            n[0] += all(w.numeric for w in ws)
            n[1] += 1
    return {c for c, (num, total) in stats.items() if num >= 2 and num >= 0.6 * total}


def _stacked_rows(g: Grid, r: int, content: list[list[Word]], th: float) -> list[float] | None:
    """A grid row whose every figure cell holds one figure per printed line, the same lines across
    the row: rows whose rule between them was not found (a faint or skewed print). Returns the
    y-centres of those lines, or None for an ordinary row (a wrapped label beside single figures)."""
    nc = len(g.xs) - 1
    cells = {g.owner[r][c] for c in range(nc)}
    figure_cells = []
    for k in cells:
        r0, _c0, r1, _c1 = g.cells[k]
        if r0 != r or r1 != r:
            return None  # merged across rows: leave it to the merged-cell logic
        nums = [w for w in content[k] if w.numeric]
        if nums:
            figure_cells.append(sorted(w.cy for w in nums))
    if len(figure_cells) < 2:
        return None
    count = len(figure_cells[0])
    if count < 2 or any(len(cys) != count for cys in figure_cells):
        return None
    for cys in figure_cells:  # each cell: its figures on separate lines
        if any(b - a < 0.8 * th for a, b in itertools.pairwise(cys)):
            return None
    centres = [float(np.median([cys[i] for cys in figure_cells])) for i in range(count)]
    for cys in figure_cells:  # and the same lines across the row
        if any(abs(y - c) > 0.6 * th for y, c in zip(cys, centres, strict=True)):
            return None
    return centres


def _split_row(
    g: Grid,
    r: int,
    bands: list[float],
    content: list[list[Word]],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
) -> list[Line]:
    """One Line per printed line of a stacked grid row: a figure goes to the nearest line; a label
    cell's wrapped labels are matched to the lines as in an unruled table (`_assign_row_labels`:
    a label's figures may stand at its top, middle or bottom), the rest to the nearest line."""
    nc = len(g.xs) - 1
    by_band: dict[int, list[list[Word]]] = {}  # per cell of the row: its words on each line
    for k in {g.owner[r][c] for c in range(nc)}:
        by_band[k] = [[] for _ in bands]
        rest = content[k]
        text = [w for w in content[k] if not w.numeric]
        if text and len({round(w.cy / th) for w in text}) > 1:
            blocks = _label_blocks(text, th, [], bands)
            anchors: list[dict] = [{"y": y, "row": None} for y in bands]
            _assign_row_labels(blocks, anchors, th)
            placed: set[int] = set()
            for i, a in enumerate(anchors):
                if a["row"] is not None:
                    by_band[k][i].extend(blocks[a["row"]].words)
                    placed.update(id(w) for w in blocks[a["row"]].words)
            rest = [w for w in content[k] if id(w) not in placed]
        for w in rest:
            by_band[k][min(range(len(bands)), key=lambda i, w=w: abs(w.cy - bands[i]))].append(w)
    out: list[Line] = []
    for j in range(len(bands)):
        fields: list[Field] = []
        c = 0
        while c < nc:
            k = g.owner[r][c]
            _r0, _c0, _r1, c1 = g.cells[k]
            span = c1 - c + 1
            ws = by_band[k][j]
            if ws:
                fields.append(_field(ws, page, th, bbox_map))
            else:
                fields.extend(Field("", page=page) for _ in range(span))
            c += span
        while fields and not fields[0].text:  # blanks left of the label
            fields.pop(0)
        if any(f.text for f in fields):
            out.append(Line(fields, page=page, delimited=True))
    return out


def _stacked_figures(words: list[Word], th: float) -> bool:
    """A cell holding figures on two or more separate lines: figures of several rows (no rule was
    drawn between them), where a table cell holds one figure."""
    ys = sorted(w.cy for w in words if w.numeric)
    return any(b - a >= 0.8 * th for a, b in itertools.pairwise(ys))


def _grid_lines(
    g: Grid,
    words: list[Word],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    unread: Callable[[BBox], bool] | None = None,
) -> list[Line] | None:
    """The grid's rows as Lines; None when its rules do not separate the rows (`_stacked_figures`)."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    cut_tol = 0.1 * th
    content: list[list[Word]] = [[] for _ in g.cells]
    for w in words:
        row = min(max(bisect_right(g.ys, w.cy) - 1, 0), nr - 1)

        # cut the word where it crosses a drawn vertical boundary of its row
        def crosses(i: int, _ch: str, w: Word = w, row: int = row) -> bool:
            assert w.chars is not None
            prev_c = (w.chars[i - 1][0] + w.chars[i - 1][1]) / 2 if i else w.chars[i][0]
            here = (w.chars[i][0] + w.chars[i][1]) / 2
            for j in range(1, nc):
                xb = g.xs[j]
                if prev_c < xb - cut_tol and here > xb + cut_tol and g.owner[row][j - 1] != g.owner[row][j]:
                    return True
            return False

        pieces = split_word(w, crosses) if w.chars and w.bbox[0] < w.bbox[2] else [w]
        for p in pieces:
            col = min(max(bisect_right(g.xs, p.cx) - 1, 0), nc - 1)
            content[g.owner[row][col]].append(p)
    # a glyph standing in a column of numbers is a misread figure (0 → 日)
    numeric_cols = _numeric_columns(g, content)
    numeric_rows: dict[int, int] = {}
    for k, ws in enumerate(content):
        if ws and all(w.numeric for w in ws):
            numeric_rows[g.cells[k][0]] = numeric_rows.get(g.cells[k][0], 0) + 1
    for k, ws in enumerate(content):
        if len(ws) == 1 and g.cells[k][1] in numeric_cols and numeric_rows.get(g.cells[k][0], 0) >= 1:
            ws[0] = as_figure(ws[0]) or ws[0]
    fields_of = [_field(ws, page, th, bbox_map) if ws else None for ws in content]
    lines: list[Line] = []
    for r in range(nr):
        bands = _stacked_rows(g, r, content, th)
        if bands is not None:
            lines.extend(_split_row(g, r, bands, content, page, th, bbox_map))
            continue
        if any(_stacked_figures(content[g.owner[r][c]], th) for c in range(nc)):
            return None  # figures of several rows in one cell: the grid is not the table's rows
        fields: list[Field] = []
        kinds: list[str] = []  # text | number | blank
        c = 0
        while c < nc:
            k = g.owner[r][c]
            r0, c0, _r1, c1 = g.cells[k]
            span = c1 - c + 1
            f = fields_of[k]
            if r0 == r and c0 == c:
                if f is not None and f.text:
                    fields.append(f)
                    kinds.append("number" if _NUMERIC.match(f.text.replace(" ", "")) else "text")
                else:
                    m = 0.25 * th  # inside the cell's rules
                    for cc in range(c, c + span):
                        slot = (g.xs[cc] + m, g.ys[r] + m, g.xs[cc + 1] - m, g.ys[r + 1] - m)
                        fields.append(_blank(page, slot, bbox_map, unread))
                    kinds.extend(["blank"] * span)
            elif c0 == c:  # covered by a cell merged down from an earlier row
                n = 1 if (f is not None and f.text) else span
                fields.extend(Field("", page=page) for _ in range(n))
                kinds.extend(["blank"] * n)
            c += span
        if not any(f.text for f in fields):
            continue
        if "text" in kinds:  # blanks left of the row's label are merged label columns
            first = kinds.index("text")
            lead = 0
            while lead < first and kinds[lead] == "blank":
                lead += 1
            fields = fields[lead:]
        lines.append(Line(fields, page=page, delimited=True))
    return lines


def _text_blocks(
    words: list[Word],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    hrules: list[Rule] | None = None,
    unread: Callable[[BBox], bool] | None = None,
) -> list[_Block]:
    if not words:
        return []
    vlines = group_lines(words)
    blocks: list[_Block] = []
    i = 0
    start = 0  # first line not yet emitted
    while i < len(vlines):
        zone = _zone(vlines, i, th)
        if zone is not None:
            j, _rows = zone
            # the first row's wrapped label may start several lines above its numbers (a label
            # wrapped over five lines of a narrow column, its numbers centred on the third, or at
            # the bottom of eight)
            left = min(w.bbox[0] for w in vlines[i] if w.numeric)
            b = i
            while (
                b > start
                and i - b < TOL.max_label_lines
                and max(w.bbox[2] for w in vlines[b - 1]) < left - 0.3 * th
                and min(w.bbox[1] for w in vlines[b]) - max(w.bbox[3] for w in vlines[b - 1]) < TOL.wrap_gap * th
            ):
                b -= 1
            table = _aligned_table(vlines[b:j], page, th, bbox_map, hrules or [], unread)
            if table is not None:
                del blocks[len(blocks) - (i - b) :]
                top = min(w.bbox[1] for ln in vlines[b:j] for w in ln)
                blocks.append(_Block(top, table))
                i = start = j
                continue
        ln = vlines[i]
        blocks.append(_Block(min(w.bbox[1] for w in ln), [_text_line(ln, page, th, bbox_map)]))
        i += 1
    return blocks




def _count_numeric(ln: list[Word]) -> int:
    return sum(1 for w in ln if w.numeric)


def _column_key(figures: list[Word], th: float) -> Callable[[Word], float]:
    """Where figures line up in an unruled table: their centres, left or right edges (right-aligned
    figures of different widths have centres a column apart) — whichever makes the fewest columns."""
    keys: list[Callable[[Word], float]] = [lambda w: w.cx, lambda w: w.bbox[2], lambda w: w.bbox[0]]
    return min(keys, key=lambda key: len(_cluster([key(w) for w in figures], 1.2 * th)))


def _lone_figure(ln: list[Word]) -> bool:
    """A line that is one figure and nothing else: a row of a one-column table (行政许可 | 1948)
    whose figure stands above or below its label (a top- or bottom-aligned cell)."""
    return len(ln) == 1 and ln[0].numeric


def _figure_row(ln: list[Word]) -> bool:
    return _count_numeric(ln) >= 2 or _lone_figure(ln)


def _zone(vlines: list[list[Word]], i: int, th: float) -> tuple[int, int] | None:
    """An unruled table starting at line i: numeric rows (2+ numbers), with up to eight lines of
    label text between two of them (wrapped labels, group labels), none reaching the numbers.
    Returns (end line, numeric rows) or None."""
    if not _figure_row(vlines[i]):
        return None
    numeric_rows = 1
    left_of_numbers = min(w.bbox[0] for w in vlines[i] if w.numeric)
    end = i + 1
    k = i + 1
    while k < len(vlines):
        if _figure_row(vlines[k]):
            numeric_rows += 1
            left_of_numbers = min(left_of_numbers, *(w.bbox[0] for w in vlines[k] if w.numeric))
            k += 1
            end = k
            continue
        # label-only lines are part of the table when a numeric row follows soon
        m = k
        while m < len(vlines) and m - k < TOL.max_label_lines and not _figure_row(vlines[m]):
            if max(w.bbox[2] for w in vlines[m]) > left_of_numbers - 0.3 * th:
                break
            m += 1
        if m < len(vlines) and m > k and _figure_row(vlines[m]):
            k = m
            continue
        # trailing wrapped-label lines of the last row (they end before the numbers)
        while end < len(vlines) and end - k < 2 and _count_numeric(vlines[end]) == 0:
            ln = vlines[end]
            if max(w.bbox[2] for w in ln) > left_of_numbers - 0.3 * th:
                break
            gap = min(w.bbox[1] for w in ln) - max(w.bbox[3] for w in vlines[end - 1])
            if gap > 0.8 * th:
                break
            end += 1
        break
    return (end, numeric_rows)


def _text_line(ln: list[Word], page: int, th: float, bbox_map: Callable[[BBox], BBox] | None) -> Line:
    """A visual line: one field, or fields split at gaps wider than 2.5 text heights."""
    groups: list[list[Word]] = [[ln[0]]]
    for w in ln[1:]:
        if w.bbox[0] - groups[-1][-1].bbox[2] > 2.5 * th:
            groups.append([w])
        else:
            groups[-1].append(w)
    fields = [_field(g, page, th, bbox_map) for g in groups]
    return Line(fields, page=page, delimited=len(fields) > 1)


_FIRST_ENUM = re.compile(r"^\s*(?:[(（]\s*一\s*[)）]|一\s*[、.．]|1\s*[、.．,，]|①)")
_ENUM = re.compile(
    r"^\s*(?:[(（]\s*[一二三四五六七八九十]{1,3}\s*[)）]|[一二三四五六七八九十]{1,3}\s*[、.．]|\d{1,2}\s*[、.．]|[①-⑳])"
)


_SECTION = re.compile(r"^\s*第\s*[一二三四五六七八九十百\d]{1,4}\s*条")


@dataclass
class _LabelBlock:
    words: list[Word]

    @property
    def x0(self) -> float:
        return min(w.bbox[0] for w in self.words)

    @property
    def x1(self) -> float:
        return max(w.bbox[2] for w in self.words)

    @property
    def top(self) -> float:
        return min(w.bbox[1] for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bbox[3] for w in self.words)

    @property
    def centre(self) -> float:
        return (self.top + self.bottom) / 2

    def text(self, th: float) -> str:
        return " ".join(join_words(ln, th) for ln in group_lines(self.words))


_ENUM_ONLY = re.compile(
    r"^\s*(?:[(（]\s*[一二三四五六七八九十]{1,3}\s*[)）]|[一二三四五六七八九十]{1,3}\s*[、.．]|\d{1,2}\s*[、.．]|[①-⑳])\s*$"
)


def _merge_words(a: Word, b: Word) -> Word:
    chars = a.chars + b.chars if a.chars is not None and b.chars is not None else None
    sep = "" if _CJK.match(a.text[-1:]) and _CJK.match(b.text[:1]) else " "
    if chars is not None and sep:
        chars = [*a.chars, (a.bbox[2], b.bbox[0]), *b.chars]  # type: ignore[misc]
    box = (min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]), max(a.bbox[2], b.bbox[2]), max(a.bbox[3], b.bbox[3]))
    return Word(a.text + sep + b.text, box, min(a.confidence, b.confidence), [], chars)


def _stacked_singles(words: list[Word], th: float) -> set[int]:
    """ids of short words (one or two characters) stacked one a line, three or more in a column
    (三、本年度办理结果 printed down a narrow column: "三、" / "本年" / "度办" / "理结" / "果"): a
    group label's pieces, never part of a label beside or above them."""
    short = [w for w in words if len(w.text.strip()) <= 2]
    near: dict[int, list[int]] = {i: [] for i in range(len(short))}
    for i, w in enumerate(short):
        for j in range(i + 1, len(short)):
            o = short[j]
            aligned = abs(o.cx - w.cx) < 0.5 * th or abs(o.bbox[0] - w.bbox[0]) < 0.5 * th
            if aligned and 0 < abs(o.cy - w.cy) < TOL.stack_pitch * max(th, w.height):
                near[i].append(j)
                near[j].append(i)
    out: set[int] = set()
    seen: set[int] = set()
    for i in range(len(short)):
        if i in seen:
            continue
        chain, todo = [], [i]
        seen.add(i)
        while todo:
            k = todo.pop()
            chain.append(k)
            for j in near[k]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        if len(chain) >= 3:
            out.update(id(short[k]) for k in chain)
    return out


def _join_label_words(words: list[Word], th: float) -> list[Word]:
    """Pieces of one label on one line: an enumerator and its text ("(一) 予以公开"), or a label
    with a stray space ("4.保 护第三方", up to about a full-width space); never across the start
    of a label column (an x where three or more lines start).

    Column starts count only the lines' first pieces, and not one-character ones: a centred
    label's lone last character ("益", "息") sits near the cell's middle, as does the second piece
    of a centred label split by a space ("2.其他法 律行政法规"), and that x is not a column."""
    lines = group_lines(words)
    firsts = [ln[0].bbox[0] for ln in lines if ln[0].bbox[2] - ln[0].bbox[0] >= 1.5 * th]
    starts = [c for c in _cluster(firsts, 0.4 * th) if sum(1 for x in firsts if abs(x - c) <= 0.4 * th) >= 3]
    stacked = _stacked_singles(words, th)
    out: list[Word] = []
    for ln in lines:
        cur = ln[0]
        for w in ln[1:]:
            gap = w.bbox[0] - cur.bbox[2]
            at_column = (gap > 0.15 * th and any(abs(w.bbox[0] - c) <= 0.4 * th for c in starts)) or (
                gap > 0.15 * th and (id(cur) in stacked or id(w) in stacked)
            )
            enum_next = bool(_ENUM.match(w.text))
            if not enum_next and (
                (_ENUM_ONLY.match(cur.text) and gap < 1.5 * th and not at_column) or (not at_column and gap < TOL.space_gap * th)
            ):
                cur = _merge_words(cur, w)
            else:
                out.append(cur)
                cur = w
        out.append(cur)
    return out


def _label_blocks(
    words: list[Word], th: float, hrules: list[Rule], anchor_ys: list[float] | None = None
) -> list[_LabelBlock]:
    """Label words → cells: a fragment continues the cell above it when it is the next line,
    aligned with it (left, centre or right), starts with no enumerator, no rule separates them, and
    they do not each sit on a line of numbers of their own (two one-line rows)."""
    ys = sorted(anchor_ys or [])
    inner = 0.2 * th

    def own_anchor(top: float, bottom: float) -> float | None:
        k = bisect_right(ys, top + inner)
        return ys[k] if k < len(ys) and ys[k] < bottom - inner else None

    blocks: list[_LabelBlock] = []
    joined = _join_label_words(words, th)
    # words with another label to their right on their line: in a group-label column, never the
    # continuation of a row label (the row label is the rightmost)
    left_of_label = {
        id(w)
        for w in joined
        if any(
            o is not w and o.bbox[0] >= w.bbox[2] and min(o.bbox[3], w.bbox[3]) - max(o.bbox[1], w.bbox[1]) > 0.5 * th
            for o in joined
        )
    }
    stacked = _stacked_singles(joined, th)
    for w in sorted(joined, key=lambda w: (w.cy, w.bbox[0])):
        best = None
        for b in blocks[::-1][:12]:
            last = max(b.words, key=lambda x: x.bbox[3])
            gap = w.bbox[1] - last.bbox[3]
            local = max(th, min(w.height, last.height))
            if not (-0.4 * local <= gap <= TOL.wrap_gap * local):
                continue
            # a wrapped label with a first-line indent ("  2.其他法律行政法规禁" / "止公开"): the
            # next line starts a little left of the first, under a line that ran full
            indent_wrap = (
                b.x0 - TOL.first_line_indent * th <= w.bbox[0] < b.x0 - 0.8 * th
                and last.bbox[2] - last.bbox[0] >= TOL.full_line * th
                and id(w) not in left_of_label
                and id(w) not in stacked
            )
            # a short last line within the line above ("4．保护第三方合法" / "权益"): centred on a
            # slightly different axis (a full-width stop, a trailing space) is still centred
            contained = w.bbox[0] >= last.bbox[0] - 0.3 * th and w.bbox[2] <= last.bbox[2] + 0.3 * th
            aligned = (
                abs(w.bbox[0] - b.x0) < 0.8 * th
                or abs(w.cx - (b.x0 + b.x1) / 2) < 0.8 * th
                or abs(w.bbox[2] - b.x1) < 0.8 * th
                or indent_wrap
                or (contained and id(w) not in stacked)
            )
            overlap = min(b.x1, w.bbox[2]) - max(b.x0, w.bbox[0])
            if not aligned or (overlap < 0.5 * min(b.x1 - b.x0, w.bbox[2] - w.bbox[0]) and not indent_wrap):
                continue
            if _ENUM.match(w.text) or _SECTION.match(w.text) or w.text.strip() in ("(", "（"):
                continue  # (a bracket alone: an enumerator "（三）" the wrap broke over two lines)
            mine = own_anchor(w.bbox[1], w.bbox[3])
            theirs = own_anchor(last.bbox[1], last.bbox[3])
            if mine is not None and theirs is not None and mine != theirs:
                continue
            if any(
                last.bbox[3] - 0.2 * th <= r.y0 <= w.bbox[1] + 0.2 * th
                and min(r.x1, w.bbox[2]) - max(r.x0, w.bbox[0]) > 0
                for r in hrules
            ):
                continue
            best = b
            break
        if best is None:
            blocks.append(_LabelBlock([w]))
        else:
            best.words.append(w)
    return blocks


_VALIGN = ("top", "centre", "bottom")


def _label_beside(k: int, blocks: list[_LabelBlock], th: float) -> bool:
    """Whether another label block stands to the right of block k at its height."""
    b = blocks[k]
    return any(
        j != k and o.words and o.x0 >= b.x1 - 0.3 * th and min(o.bottom, b.bottom) - max(o.top, b.top) > 0.3 * th
        for j, o in enumerate(blocks)
    )


def _row_label_blocks(blocks: list[_LabelBlock], th: float) -> list[int]:
    """The blocks that are row labels: no other label block stands to their right at their height
    (a group label — 三、本年度办理结果 stacked one character a line, （三）不予公开 — has the
    rows' own labels beside it)."""
    out = [k for k, b in enumerate(blocks) if b.words and not _label_beside(k, blocks, th)]
    return sorted(out, key=lambda k: blocks[k].top)


def _assign_row_labels(blocks: list[_LabelBlock], anchors: list[dict], th: float) -> set[int]:
    """Row-label cells → lines of figures, in one order-keeping match (a dynamic programme).

    In a table without row rules, a row's label may wrap over several lines while its figures
    stand on one line: at the label's top, middle or bottom (the cells' vertical alignment, the
    same all through a table). So each label cell is matched with the line of figures that its
    alignment puts it next to, and the alignment that fits the whole table best is the one used.
    A label cell the wrap rule joined across two rows (no enumerator or gap marked the second's
    start) may be cut at a line between them, at a cost. Sets each anchor's "row"; returns the
    blocks used (a cut adds blocks)."""
    costs = TOL
    first_y, last_y = anchors[0]["y"], anchors[-1]["y"]
    reach = costs.max_misfit * th
    rows = [
        k
        for k in _row_label_blocks(blocks, th)
        if blocks[k].bottom + reach >= first_y
        and blocks[k].top - reach <= last_y
        and not _SECTION.match(blocks[k].text(th))  # 第二十条第（五）项: a sub-table's heading
    ]
    # units: the lines of the row-label blocks, top to bottom, with the block each belongs to
    units: list[tuple[int, list[Word]]] = [(k, ln) for k in rows for ln in group_lines(blocks[k].words)]
    n, m = len(units), len(anchors)
    if n == 0:
        return set()

    def top(i: int) -> float:
        return min(w.bbox[1] for w in units[i][1])

    def bottom(i: int) -> float:
        return max(w.bbox[3] for w in units[i][1])

    def misfit(i: int, i2: int, j: int, valign: str) -> float:
        t, b = top(i), max(bottom(x) for x in range(i, i2))
        point = t + 0.5 * th if valign == "top" else b - 0.5 * th if valign == "bottom" else (t + b) / 2
        # (a figure's line sits a little off the label's: another font, another baseline)
        return max(0.0, abs(anchors[j]["y"] - point) - costs.baseline_slack * th) / th

    best: tuple[float, list[tuple[int, int, int | None]]] | None = None
    inf = float("inf")
    for valign in _VALIGN:
        # cost[i][j]: the best cost having placed the first i lines and the first j anchors
        cost = [[inf] * (m + 1) for _ in range(n + 1)]
        back: list[list[tuple[int, int, int | None] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
        cost[0][0] = 0.0
        for i in range(n + 1):
            for j in range(m + 1):
                c = cost[i][j]
                if c == inf:
                    continue
                if j < m and c + costs.figures_without_label < cost[i][j + 1]:
                    cost[i][j + 1] = c + costs.figures_without_label
                    back[i][j + 1] = (i, j, None)
                if i == n:
                    continue
                # a label cell: lines i..i2-1, inside one block (a cut costs split_label)
                start_cut = costs.split_label if i > 0 and units[i - 1][0] == units[i][0] else 0.0
                for i2 in range(i + 1, n + 1):
                    if units[i2 - 1][0] != units[i][0]:
                        break
                    base = c + start_cut
                    if base + costs.label_without_figures < cost[i2][j]:
                        cost[i2][j] = base + costs.label_without_figures
                        back[i2][j] = (i, j, -1)
                    if j < m:
                        f = misfit(i, i2, j, valign)
                        if f <= costs.max_misfit:
                            total = base + f * f
                            if total < cost[i2][j + 1]:
                                cost[i2][j + 1] = total
                                back[i2][j + 1] = (i, j, j)
        if cost[n][m] == inf:
            continue
        path: list[tuple[int, int, int | None]] = []
        i, j = n, m
        while (i, j) != (0, 0):
            step = back[i][j]
            assert step is not None
            pi, pj, matched = step
            if matched is not None:
                path.append((pi, i, matched))
            i, j = pi, pj
        if best is None or cost[n][m] < best[0] - 1e-9:
            best = (cost[n][m], path[::-1])
    assigned: set[int] = set()
    if best is None:
        return assigned
    kept: set[int] = set()  # the first piece of each block keeps the block
    for i, i2, matched in best[1]:
        k = units[i][0]
        words = [w for x in range(i, i2) for w in units[x][1]]
        if k not in kept:
            kept.add(k)
            blocks[k].words = words
            target = k
        else:
            blocks.append(_LabelBlock(words))
            target = len(blocks) - 1
        if matched is not None and matched >= 0:
            anchors[matched]["row"] = target
            assigned.add(target)
    return assigned


def _aligned_table(
    vlines: list[list[Word]],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    hrules: list[Rule],
    unread: Callable[[BBox], bool] | None = None,
) -> list[Line] | None:
    """An unruled (or only horizontally ruled) table: value columns from the numbers' alignment,
    rows anchored on the lines of numbers, label cells assigned to their row (wrapped labels) or,
    for group labels spanning several rows, to the first row of their group."""
    numeric = [ln for ln in vlines if _figure_row(ln)]
    x = _column_key([w for ln in numeric for w in ln if w.numeric], th)
    cols = _cluster([x(w) for ln in numeric for w in ln if w.numeric], 1.2 * th)
    one_column = all(_lone_figure(ln) for ln in numeric)
    if one_column:
        # lone figures: a one-column table only when they stand in one column, beside label text
        if len(cols) != 1 or not any(w.cx < cols[0] - 3 * th for ln in vlines for w in ln if not w.numeric):
            return None
    elif len(numeric) > 1:
        # a column needs two rows of numbers (keeping one that a single row fills was measured:
        # it fixed a column whose other figure sat under a seal, and cost more cells elsewhere)
        support = [sum(1 for ln in numeric if any(w.numeric and abs(x(w) - c) <= 1.2 * th for w in ln)) for c in cols]
        kept = [c for c, n in zip(cols, support, strict=True) if n >= 2]
        # ... except a column inside the table, well clear of the others, whose one figure is
        # read with confidence: its other rows' figures are hidden (a seal over them)
        inner = [
            c
            for c, n in zip(cols, support, strict=True)
            if n == 1
            and len(kept) >= 2
            and kept[0] < c < kept[-1]
            and all(abs(c - o) >= 3 * th for o in kept)
            and all(w.confidence >= 0.9 for ln in numeric for w in ln if w.numeric and abs(x(w) - c) <= 1.2 * th)
        ]
        cols = sorted(kept + inner)
    if len(cols) < (1 if one_column else 2):
        return None
    first_x = min(w.bbox[0] for ln in numeric for w in ln if w.numeric and abs(x(w) - cols[0]) <= 1.2 * th)
    limit = first_x - 0.3 * th
    # anchors: one per line of numbers
    anchors: list[dict] = []
    label_words: list[Word] = []
    stray: list[Word] = []
    for ln in vlines:
        values = [w for w in ln if w.cx >= limit]
        labels = [w for w in ln if w.cx < limit]
        label_words.extend(labels)
        if sum(1 for w in values if w.numeric) >= 2 or (values and ln in numeric):
            values = [as_figure(w) or w for w in values]
            slots: list[list[Word]] = [[] for _ in cols]
            for w in values:
                k = min(range(len(cols)), key=lambda k, w=w: abs(cols[k] - x(w)))
                if abs(cols[k] - x(w)) <= 1.5 * th:
                    slots[k].append(w)
                else:
                    stray.append(w)
            y = statistics.median(w.cy for w in values)
            anchors.append({"y": y, "slots": slots, "labels": [], "row": None})
        else:
            stray.extend(values)
    if not anchors:
        return None
    # an empty slot's box: its column's typical number width, within the gap to the neighbours
    col_half = []
    col_x = []  # an empty slot's centre: its column's figures' median centre
    for k, c in enumerate(cols):
        widths = [w.bbox[2] - w.bbox[0] for a in anchors for w in a["slots"][k]]
        col_x.append(statistics.median(w.cx for a in anchors for w in a["slots"][k]) if widths else c)
        half = max(0.6 * th, 0.6 * statistics.median(widths)) if widths else 0.8 * th
        gaps = [abs(c - o) for o in cols if o != c]
        col_half.append(min(half, 0.4 * min(gaps)) if gaps else half)
    blocks = _label_blocks(label_words, th, hrules, [a["y"] for a in anchors])
    first_y, last_y = anchors[0]["y"], anchors[-1]["y"]
    pad = 0.35 * th
    assigned = _assign_row_labels(blocks, anchors, th)
    row_x0 = [blocks[a["row"]].x0 for a in anchors if a["row"] is not None]
    # a label in the row-label column with no numbers beside it: an enumerated one is a row of
    # blank cells; another is a piece of the label above it that the line spacing cut off
    rest = sorted((k for k in range(len(blocks)) if k not in assigned), key=lambda k: blocks[k].top)
    merged: set[int] = set()
    for k in rest:
        b = blocks[k]
        if b.bottom < first_y - pad or b.top > last_y + pad:
            continue  # header or text around the table
        if any(b.top - pad <= a["y"] <= b.bottom + pad for a in anchors):
            continue  # beside numbers: a group label
        if _SECTION.match(b.text(th)):
            continue  # 第二十条第（五）项: a section heading inside the table
        if _ENUM.match(b.text(th)):
            if any(abs(b.x0 - x) <= 0.8 * th for x in row_x0):
                # a wrapped label whose numbers sit just below it (centred on a cell of two or
                # three lines) takes that row of numbers when no label has; else a blank row
                below = [a for a in anchors if a["row"] is None and b.bottom - pad < a["y"] <= b.bottom + 1.2 * th]
                if below:
                    min(below, key=lambda a: a["y"])["row"] = k
                else:
                    anchors.append({"y": b.centre, "slots": [[] for _ in cols], "labels": [], "row": k})
                assigned.add(k)
            continue
        above = [
            j
            for j in range(len(blocks))
            if j != k
            and j not in merged
            and blocks[j].bottom <= b.top + 0.3 * th
            and b.top - blocks[j].bottom <= 1.2 * max(th, min(b.bottom - b.top, blocks[j].bottom - blocks[j].top))
            and min(blocks[j].x1, b.x1) - max(blocks[j].x0, b.x0) >= 0.5 * min(blocks[j].x1 - blocks[j].x0, b.x1 - b.x0)
        ]
        if above:
            j = max(above, key=lambda j: blocks[j].bottom)
            blocks[j].words.extend(b.words)
            b.words = []
            merged.add(k)
            assigned.add(k)
    anchors.sort(key=lambda a: a["y"])
    groups = [k for k in range(len(blocks)) if k not in assigned]
    outside: list[int] = []
    for k in sorted(groups, key=lambda k: -blocks[k].x0):
        g = blocks[k]
        if g.bottom < first_y - pad or g.top > last_y + pad:
            outside.append(k)
            continue

        def next_label(a: dict, g: _LabelBlock = g) -> str:
            right = [blocks[j] for j in [*a["labels"], a["row"]] if j is not None and blocks[j].x0 > g.x0 + 0.5 * th]
            return min(right, key=lambda b: b.x0).text(th) if right else ""

        firsts = [a for a in anchors if a["y"] <= g.centre + 0.5 * th and _FIRST_ENUM.match(next_label(a))]
        below = [a for a in anchors if a["y"] > g.bottom]
        if not _label_beside(k, blocks, th) and not any(g.top - pad <= a["y"] <= g.bottom + pad for a in anchors) and below:
            # a group label on a line of its own ("（四）无法提供" above its rows, indented less):
            # the rows under it are its group
            target = min(below, key=lambda a: a["y"])
        elif firsts:
            target = max(firsts, key=lambda a: a["y"])
        else:
            target = min(anchors, key=lambda a: abs(a["y"] - g.top))
        target["labels"].append(k)
    out: list[Line] = []
    header = [w for k in outside for w in blocks[k].words if blocks[k].bottom < first_y]
    footer = [w for k in outside for w in blocks[k].words if blocks[k].bottom >= first_y]
    for ln in group_lines(header):
        out.append(_text_line(ln, page, th, bbox_map))
    for a in anchors:
        labels = sorted(a["labels"], key=lambda k: blocks[k].x0)
        if a["row"] is not None:
            labels.append(a["row"])
        fields = [_field(blocks[k].words, page, th, bbox_map) for k in labels]
        for k, s in enumerate(a["slots"]):
            if s:
                fields.append(_field(s, page, th, bbox_map))
            else:
                half = col_half[k]
                fields.append(
                    _blank(
                        page, (col_x[k] - half, a["y"] - 0.45 * th, col_x[k] + half, a["y"] + 0.45 * th), bbox_map, unread
                    )
                )
        if any(f.text for f in fields):
            out.append(Line(fields, page=page, delimited=True))
    for ln in group_lines(footer + stray):
        out.append(_text_line(ln, page, th, bbox_map))
    return out


# ---------------------------------------------------------------------------------------------
# Across pages


def _header_key(line: Line) -> str:
    return re.sub(r"[\s\W_]+", "", "".join(f.text for f in line.fields))


def drop_repeated_headers(lines: list[Line]) -> list[Line]:
    """A table continued on the next page often repeats its header rows there; the repeat is
    dropped, so the continued rows follow the rows before the page break directly. A header run is
    the table rows before the first row with a number; it is dropped when it opens a page and
    (nearly) equals a header run seen before."""
    from rapidfuzz import fuzz

    seen: list[str] = []
    out: list[Line] = []
    i = 0
    n = len(lines)
    first_table_on_page: set[int] = set()
    pages_seen: set[int | None] = set()
    for k, ln in enumerate(lines):
        if ln.delimited and ln.page not in pages_seen:
            first_table_on_page.add(k)
            pages_seen.add(ln.page)
        elif not ln.delimited and not _is_furniture(ln):
            pages_seen.add(ln.page)
    while i < n:
        ln = lines[i]
        if not ln.delimited:
            out.append(ln)
            i += 1
            continue
        j = i
        while j < n and lines[j].delimited and lines[j].page == ln.page and not _has_number(lines[j]):
            j += 1
        if j > i and j < n and lines[j].delimited:
            key = "|".join(_header_key(x) for x in lines[i:j])
            if i in first_table_on_page and any(fuzz.ratio(key, s) >= 90 for s in seen):
                i = j  # the repeated header of a continued table
                continue
            if key:
                seen.append(key)
        out.extend(lines[i : max(j, i + 1)])
        i = max(j, i + 1)
    return out


def _has_number(line: Line) -> bool:
    return any(_NUMERIC.match(f.text.replace(" ", "")) for f in line.fields if f.text)


_FURNITURE = re.compile(r"^\s*(?:[-—–－]\s*\d{1,4}\s*[-—–－]|第\s*\d{1,4}\s*页.*|\d{1,4}\s*/\s*\d{1,4}|\d{1,4})\s*$")


def _is_furniture(line: Line) -> bool:
    """Page numbers and running heads printed above a continued table."""
    text = "".join(f.text for f in line.fields)
    return bool(_FURNITURE.match(text)) or len(text) <= 2
