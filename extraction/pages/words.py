"""Page-reading primitives: positioned words and ruling segments, splitting and joining words,
visual lines, and one cell's words as a `Field`."""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from extraction.document import BBox, Field, Line
from extraction.pages.tolerances import TOLERANCES as TOL

_CJK_RANGES = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
FIGURE_GUESS_CONFIDENCE = 0.5  # a glyph in a column of numbers read as its digit reading
UNREAD_CONFIDENCE = 0.3  # a blank cell whose slot holds ink OCR did not read, or lies under a seal
_NUMERIC = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$")
# a figure with the remark some reports print in its cell, "5（其中修订4件）": a figure where columns
# are found from the figures' alignment (the cell's text, remark and all, is the field)
_REMARKED = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?[（(][^（()）]{1,24}[）)]$")
# a figure printed with its unit in its cell, "0.01万元", "0件" (read as one word by OCR or a text layer)
_WITH_UNIT = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:万元|元|人次|件|个|项|次|条)$")


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
        text = self.text.replace(" ", "")
        return bool(_NUMERIC.match(text) or _REMARKED.match(text) or _WITH_UNIT.match(text))


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


# A group label's enumerator read together with the first row label beside it: 三、（一）予以公开,
# （四）1.本机关 (the template's merged cells 三、本年度办理结果 and （四）无法提供 stand left of
# their rows, so OCR may join the two).
_GROUP_THEN_ROW = re.compile(
    r"^(?:[一二三四五六七八九十]{1,3}\s*[、.．]\s*(?=[(（]\s*[一二三四五六七八九十\d]{1,3}\s*[)）])"
    r"|[(（]\s*[一二三四五六七八九十]{1,3}\s*[)）]\s*(?=\d{1,2}\s*[、.．]))"
)


def split_group_enumerator(word: Word) -> list[Word]:
    m = _GROUP_THEN_ROW.match(word.text)
    if m is None:
        return [word]
    return split_word(word, lambda i, _ch: i == m.end())


_IDEOGRAPH = re.compile("[\u4e00-\u9fff]")


def char_pitch(words: list[Word]) -> float | None:
    """The median distance between the centres of two consecutive CJK ideographs of these words
    (their character extents): the printed character width. OCR's boxes are the ink's core, so a
    text height (set by the digits) is well under it (17 px for a 25 px pitch on a 200 dpi scan)."""
    pitches = [
        (w.chars[i + 1][0] + w.chars[i + 1][1] - w.chars[i][0] - w.chars[i][1]) / 2
        for w in words
        if w.chars is not None and len(w.chars) == len(w.text)
        for i in range(len(w.text) - 1)
        if _IDEOGRAPH.match(w.text[i]) and _IDEOGRAPH.match(w.text[i + 1])
    ]
    return statistics.median(pitches) if len(pitches) >= TOL.min_pitches else None


_DIGIT_RUN = re.compile(r"\d+")  # a token of digits only: one figure, or several read as one


def split_wide_char_gaps(words: list[Word]) -> list[Word]:
    """Cut an OCR token between two of its characters whose centres stand more than
    `cell_char_gap` printed characters apart (the page's pitch) and `char_gap_jump` times the token's
    other neighbours (their median): two cells' texts that OCR read as one token (a narrow group label's
    （四） and the row label beside it, 四）关不掌: 1.75 pitches from ） to 关). One cell's text stands
    a pitch apart (up to 1.3 with OCR's frame jitter or a bracket's off-centre ink); a label spread
    evenly over its cell stands evenly and stays whole. A text layer's words are cut at far
    narrower gaps already (`words_from_chars`).

    A figure's digits stand half a pitch apart: digits that far apart are the figures of
    neighbouring cells, evenly spaced or not (a phone photo's row with no rules, its 0 | 1 | 0 read
    as one token "010", was one figure 10 in one cell: a silent pair with its row's total, which
    was read alike)."""
    pitch = char_pitch(words)
    if pitch is None:
        return words
    out: list[Word] = []
    for w in words:
        digits = _DIGIT_RUN.fullmatch(w.text) is not None
        if w.chars is None or len(w.chars) != len(w.text) or len(w.text) < (2 if digits else 3):
            out.append(w)
            continue
        steps = {
            i: (w.chars[i][0] + w.chars[i][1] - w.chars[i - 1][0] - w.chars[i - 1][1]) / 2
            for i in range(1, len(w.text))
            if not w.text[i].isspace() and not w.text[i - 1].isspace()
        }
        cuts = {
            i
            for i, d in steps.items()
            if d > TOL.cell_char_gap * pitch
            and (digits or d > TOL.char_gap_jump * statistics.median([o for j, o in steps.items() if j != i] or [d]))
        }
        out.extend(split_word(w, functools.partial(_at, cuts)) if cuts else [w])
    return out


def _at(cuts: set[int], i: int, _ch: str) -> bool:
    return i in cuts


# a figure whose remark its cell wrapped: "15（其中修订" (+ "7") over "件）"
_OPEN_REMARK = re.compile(r"^[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?[（(][^（()）]{0,24}$")
_REMARK_TAIL = re.compile(r"^[^（()）]{0,24}[）)]$")


def join_wrapped_remarks(words: list[Word], th: float) -> list[Word]:
    """A figure printed with its remark, the remark wrapped in the figure's cell (15（其中修订 7 /
    件）), is one word, as on one line (`_REMARKED`): the open piece, the pieces right after it on
    its line (within `unit_gap`), and the closing piece right under them (within `wrap_gap`, its
    centre over their extent), or the piece of its line that closes it. Read apart, the open
    piece was no figure and the row lost it."""
    taken: set[int] = set()
    out: list[Word] = []
    for w in sorted(words, key=lambda w: (w.cy, w.bbox[0])):
        if id(w) in taken or not _OPEN_REMARK.match(w.text.replace(" ", "")):
            continue
        parts = [w]
        while True:  # the pieces right after it on its line
            last = parts[-1]
            nxt = [
                o
                for o in words
                if id(o) not in taken
                and o not in parts
                and 0 <= o.bbox[0] - last.bbox[2] < TOL.unit_gap * th
                and min(o.bbox[3], last.bbox[3]) - max(o.bbox[1], last.bbox[1]) > 0.5 * min(o.height, last.height)
            ]
            if not nxt:
                break
            parts.append(min(nxt, key=lambda o: o.bbox[0]))
        closed = next(
            (
                k
                for k in range(1, len(parts))
                if _REMARKED.match("".join(p.text for p in parts[: k + 1]).replace(" ", ""))
            ),
            None,
        )
        if closed is not None:
            # the remark closes on its line, its pieces a space apart (LibreOffice spaces a digit
            # in CJK text: 6（其中修订 | 3 | 件）)
            parts = parts[: closed + 1]
        else:
            x0, x1 = parts[0].bbox[0], parts[-1].bbox[2]
            bottom = max(p.bbox[3] for p in parts)
            tails = [
                o
                for o in words
                if id(o) not in taken
                and o not in parts
                and _REMARK_TAIL.match(o.text.replace(" ", ""))
                and -0.2 * th <= o.bbox[1] - bottom < TOL.wrap_gap * th
                and x0 <= o.cx <= x1
            ]
            if not tails:
                continue
            parts.append(min(tails, key=lambda o: o.bbox[1]))
        taken.update(id(p) for p in parts)
        box = (
            min(p.bbox[0] for p in parts),
            min(p.bbox[1] for p in parts),
            max(p.bbox[2] for p in parts),
            max(p.bbox[3] for p in parts),
        )
        text = "".join(p.text for p in parts)
        out.append(Word(text, box, min(p.confidence for p in parts), [], None))
    if not taken:
        return words
    return [w for w in words if id(w) not in taken] + out


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


def _cluster(values: list[float], tol: float) -> list[float]:
    values = sorted(values)
    out: list[list[float]] = []
    for v in values:
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [statistics.fmean(g) for g in out]


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


def _blank(
    page: int, slot: BBox, bbox_map: Callable[[BBox], BBox] | None, unread: Callable[[BBox], bool] | None
) -> Field:
    """An empty cell; one whose slot may hold an unread figure keeps its box and a low confidence."""
    if unread is None or not unread(slot):
        return Field("", page=page)
    box = bbox_map(slot) if bbox_map is not None else slot
    return Field("", page=page, bbox=tuple(round(v, 2) for v in box), confidence=UNREAD_CONFIDENCE)  # type: ignore[arg-type]


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
