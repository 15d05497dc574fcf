"""Row labels of a table without row rules: label words joined into label cells (wrapped labels,
enumerators, stacked group labels), and label cells matched to the lines of figures."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

from extraction.pages.tolerances import TOLERANCES as TOL
from extraction.pages.words import _CJK, Rule, Word, _cluster, group_lines, join_words
from extraction.schema import FORMATS, layout
from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

_FIRST_ENUM = re.compile(r"^\s*(?:[(（]\s*一\s*[)）]|一\s*[、.．]|1\s*[、.．,，]|①)")
_ENUM = re.compile(
    r"^\s*(?:[(（]\s*[一二三四五六七八九十]{1,3}\s*[)）]|[一二三四五六七八九十]{1,3}\s*[、.．]|\d{1,2}\s*[、.．]|[①-⑳])"
)


# the start of an enumerator that a narrow column's wrap broke, alone on its line: "（", "（三"
_BROKEN_ENUM = re.compile(r"^\s*[(（]\s*[一二三四五六七八九十]{0,3}\s*$")
_SECTION = re.compile(r"^\s*第\s*[一二三四五六七八九十百\d]{1,4}\s*条")
_NOT_CORE = re.compile(r"[\s()（）“”\"'·、.．,，:：;；]")


def _core(text: str) -> str:
    """A label's core: its text without enumerator, spaces and punctuation."""
    m = _ENUM.match(text)
    return _NOT_CORE.sub("", text[m.end() :] if m else text)


# Statutory row labels too generic to mark a line as a whole label: they open other labels (其他对外
# 管理服务事项) and head columns (总计). The other short ones are whole labels (规章 over 规范性文件).
GENERIC_LABELS = frozenset({"其他", "总计"})


@cache
def _statutory_labels() -> frozenset[str]:
    """The cores of every statutory row label and its aliases (all formats and variants), of two
    characters or more but GENERIC_LABELS."""
    out: set[str] = set()
    for fmt in FORMATS:
        for variants in ((), (VARIANT_OTHER_SINGLE_ROW,)):
            for table in layout(fmt, variants).tables:
                for row in table.rows:
                    out.update(_core(t) for t in (row.label, *row.aliases))
    return frozenset(c for c in out if len(c) >= 2 and c not in GENERIC_LABELS)


@cache
def _longest_label() -> int:
    """Characters of the longest statutory row label (any alias, enumerator and all; spaces not
    counted): how many lines a label may wrap over in a narrow column."""
    return max(
        len(t.replace(" ", ""))
        for fmt in FORMATS
        for variants in ((), (VARIANT_OTHER_SINGLE_ROW,))
        for table in layout(fmt, variants).tables
        for row in table.rows
        for t in (row.label, *row.aliases)
    )


def _statutory_label(text: str) -> bool:
    """Whether `text` is a whole statutory row label (one of its aliases), enumerator or not."""
    return _core(text) in _statutory_labels()


def _whole_labels(above: str, below: str) -> bool:
    """Whether two lines of a label column are each a whole statutory row label (行政处罚 over
    行政强制): the lower is not the wrap of the upper, which is complete already. A template's
    row labels are known, so this holds whatever room the renderer left on the upper line."""
    return _statutory_label(above) and _statutory_label(below)


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
# a row's own enumerator alone ("3.", "1、"): the template numbers only the row labels, the last
# label column, with arabic figures (groups take 一、 and （一）), so the text right of it on its
# line is that row label's, whatever column start the centred labels' lines make there
_ROW_ENUM_ONLY = re.compile(r"^\s*(?:\d{1,2}\s*[、.．]|[①-⑳])\s*$")


def _merge_words(a: Word, b: Word) -> Word:
    chars = a.chars + b.chars if a.chars is not None and b.chars is not None else None
    sep = "" if _CJK.match(a.text[-1:]) and _CJK.match(b.text[:1]) else " "
    if chars is not None and sep:
        chars = [*a.chars, (a.bbox[2], b.bbox[0]), *b.chars]  # type: ignore[misc]
    box = (min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]), max(a.bbox[2], b.bbox[2]), max(a.bbox[3], b.bbox[3]))
    return Word(a.text + sep + b.text, box, min(a.confidence, b.confidence), [], chars)


def _rule_between(upper: Word, lower: Word, hrules: list[Rule], th: float) -> bool:
    """Whether a horizontal rule runs between two words one above the other, across `lower`: they
    stand in two cells (two rows' bands), whatever their alignment says."""
    slack = TOL.rule_slack * th
    return any(
        upper.bbox[3] - slack <= r.y0 <= lower.bbox[1] + slack
        and min(r.x1, lower.bbox[2]) - max(r.x0, lower.bbox[0]) > 0
        for r in hrules
    )


def _stacked_singles(words: list[Word], th: float, hrules: list[Rule] | None = None) -> set[int]:
    """ids of short words (one or two characters) stacked one a line, three or more in a column
    (三、本年度办理结果 printed down a narrow column: "三、" / "本年" / "度办" / "理结" / "果"): a
    group label's pieces, never part of a label beside or above them.

    A group label is one cell: no rule runs between its pieces. Short words that horizontal rules
    part are in cells of their own rows (the centred last lines "”" / "益" / "信息" / "息" of wrapped
    row labels, one a row, each row boxed by rules): the column is cut at each rule."""

    def wrapped_tail(w: Word) -> bool:
        # a row label's short last line ("数量" under "二、上年结转政府信息公开申请"), unless a
        # row starts beside it (then it is a group label's top piece, 三 beside （一）予以公开)
        under = any(
            len(o.text.strip()) > 2
            and abs(o.bbox[0] - w.bbox[0]) < 0.5 * th
            and 0 < w.cy - o.cy < TOL.stack_pitch * max(th, w.height)
            for o in words
        )
        beside = any(
            o.bbox[0] > w.cx and _ENUM.match(o.text) and min(o.bbox[3], w.bbox[3]) > max(o.bbox[1], w.bbox[1])
            for o in words
        )
        return under and not beside

    short = [w for w in words if len(w.text.strip()) <= 2 and not wrapped_tail(w)]
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
        # a group label's enumerator is its top piece: the column is cut above each enumerator,
        # so a row label's short last line above 三、/本/年/… is not part of it, and 申请 / 2. /
        # 请 (a short last line, the next row's enumerator, its label's last line) is no group
        chain.sort(key=lambda k: short[k].cy)
        pieces: list[list[int]] = [[]]
        for k in chain:
            if pieces[-1] and (
                _ENUM_ONLY.match(short[k].text) or _rule_between(short[pieces[-1][-1]], short[k], hrules or [], th)
            ):
                pieces.append([])
            pieces[-1].append(k)
        for piece in pieces:
            if len(piece) >= 3:
                out.update(id(short[k]) for k in piece)
    return out


def _column_neighbour(w: Word, words: list[Word], th: float) -> bool:
    """Whether a line of a label starts at w's x just above or below it (w continues, or is
    continued by, a label of that column)."""
    return any(
        o is not w
        and abs(o.bbox[0] - w.bbox[0]) < 0.5 * th
        and (0 <= w.bbox[1] - o.bbox[3] < TOL.wrap_gap * th or 0 <= o.bbox[1] - w.bbox[3] < TOL.wrap_gap * th)
        for o in words
    )


def _two_stacks(cur: Word, w: Word, words: list[Word], th: float) -> bool:
    """Whether `cur` and `w` (side by side on one line) each continue a label of their own
    column: a line right above or below `cur` stays left of `w`, and one right above or below `w`
    stays right of `cur` (其他处 under （六）, 当理由逾期不补 under 1、申请人无正: a group label
    and a centred row label, whose column starts vary). Enumerators alone on their line over one
    another are no such column."""

    def near(a: Word, o: Word) -> bool:
        vertical = 0 <= a.bbox[1] - o.bbox[3] < TOL.wrap_gap * th or 0 <= o.bbox[1] - a.bbox[3] < TOL.wrap_gap * th
        return o is not a and vertical and min(o.bbox[2], a.bbox[2]) > max(o.bbox[0], a.bbox[0])

    # enumerators one over the other ("1." over "2.", each before its label's text, the OCR's
    # character frames leaving a space between them wider than the print's) are no label column
    # of their own: an enumerator's column goes on in text (（六） / 其他处 / 理) when it is one
    enumerators = _ENUM_ONLY.match(cur.text) is not None
    left = any(
        near(cur, o) and o.bbox[2] < w.bbox[0] and not (enumerators and _ENUM_ONLY.match(o.text)) for o in words
    )
    right = any(near(w, o) and o.bbox[0] > cur.bbox[2] for o in words)
    return left and right


def _join_label_words(words: list[Word], th: float, hrules: list[Rule] | None = None) -> list[Word]:
    """Pieces of one label on one line: an enumerator and its text ("(一) 予以公开"), or a label
    with a stray space ("4.保 护第三方", up to about a full-width space); never across the start
    of a label column (an x where three or more lines start), unless the two pieces make a whole
    statutory row label that neither is alone.

    Column starts count only the lines' first pieces, and not one-character ones: a centred
    label's lone last character ("益", "息") sits near the cell's middle, as does the second piece
    of a centred label split by a space ("2.其他法 律行政法规"), and that x is not a column."""
    lines = group_lines(words)
    firsts = [ln[0].bbox[0] for ln in lines if ln[0].bbox[2] - ln[0].bbox[0] >= 1.5 * th]
    starts = [c for c in _cluster(firsts, 0.4 * th) if sum(1 for x in firsts if abs(x - c) <= 0.4 * th) >= 3]
    stacked = _stacked_singles(words, th, hrules)
    out: list[Word] = []
    for ln in lines:
        cur = ln[0]
        for w in ln[1:]:
            gap = w.bbox[0] - cur.bbox[2]
            # a new label column starts at w: w stands at a column start, past a gap, and is a
            # label there (an enumerator, or a line of a label of that column above or below it)
            # unless the gap is wider than one label's last character printed apart
            at_column = (
                gap > 0.15 * th
                and any(abs(w.bbox[0] - c) <= 0.4 * th for c in starts)
                and (gap > TOL.column_text_gap * th or _ENUM.match(w.text) or _column_neighbour(w, words, th))
            ) or (gap > 0.15 * th and (id(cur) in stacked or id(w) in stacked))
            at_column = at_column or (gap > TOL.column_text_gap * th and _two_stacks(cur, w, words, th))
            enum_next = bool(_ENUM.match(w.text))
            # an enumerator and its text a space apart are one label even where other lines of
            # centred labels start (a browser prints "1." and "属于国家秘密" as two glyph runs)
            enum_space = (
                _ENUM_ONLY.match(cur.text)
                and (
                    gap < TOL.enumerator_gap * th
                    or (_ROW_ENUM_ONLY.match(cur.text) is not None and gap < TOL.row_enumerator_gap * th)
                )
                and id(cur) not in stacked
                and id(w) not in stacked
            )
            # a statutory row label printed across two label columns ("(六)其他 | 处理"): the
            # template knows it whole, and neither piece is a row label alone
            statutory_whole = (
                gap < TOL.statutory_split_gap * th
                and _statutory_label(cur.text + w.text)
                and not _statutory_label(cur.text)
                and not _statutory_label(w.text)
            )
            if not enum_next and (
                (_ENUM_ONLY.match(cur.text) and gap < 1.5 * th and not at_column)
                or enum_space
                or statutory_whole
                or (not at_column and gap < TOL.space_gap * th)
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
    joined = _join_label_words(words, th, hrules)
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
    stacked = _stacked_singles(joined, th, hrules)
    # words beside which, on their line, an enumerated label starts: a row starts at their line
    row_beside = {
        id(w)
        for w in joined
        if any(
            o.bbox[0] >= w.bbox[2]
            and _ENUM.match(o.text)
            and min(o.bbox[3], w.bbox[3]) - max(o.bbox[1], w.bbox[1]) > 0.5 * th
            for o in joined
        )
    }
    for w in sorted(joined, key=lambda w: (w.cy, w.bbox[0])):
        best = None
        indented: _LabelBlock | None = None  # a block w continues only as a first-line-indent wrap
        for b in blocks[::-1][:12]:
            last = max(b.words, key=lambda x: x.bbox[3])
            local = max(th, min(w.height, last.height))
            # the gap between the lines as if their boxes were a text height tall: OCR's boxes
            # of CJK characters (the ink's core) are shorter than the digits' that set th
            gap = min(w.bbox[1] - last.bbox[3], w.cy - last.cy - local)
            if not (-0.4 * local <= gap <= TOL.wrap_gap * local):
                continue
            # a wrapped label with a first-line indent ("  2.其他法律行政法规禁" / "止公开"): the
            # next line starts a little left of the first, under a line that ran full
            # (the line above ran full: long enough, or, in a column a few characters wide, as far
            # right as w's line runs: "2.重" over "复申请", OCR's frames shorter than the glyphs)
            indent_wrap = (
                b.x0 - TOL.first_line_indent * th <= w.bbox[0] < b.x0 - 0.8 * th
                and (last.bbox[2] - last.bbox[0] >= TOL.full_line * th or last.bbox[2] >= w.bbox[2])
                and id(w) not in left_of_label
                and id(w) not in stacked
                and not _next_line_beside(b, last, w, joined, th)
            )
            # a short last line within the line above ("4．保护第三方合法" / "权益"): centred on a
            # slightly different axis (a full-width stop, a trailing space) is still centred
            contained = w.bbox[0] >= last.bbox[0] - 0.3 * th and w.bbox[2] <= last.bbox[2] + 0.3 * th
            direct = (
                abs(w.bbox[0] - b.x0) < 0.8 * th
                or abs(w.cx - (b.x0 + b.x1) / 2) < 0.8 * th
                or abs(w.bbox[2] - b.x1) < 0.8 * th
                or (contained and id(w) not in stacked)
            )
            aligned = direct or indent_wrap
            overlap = min(b.x1, w.bbox[2]) - max(b.x0, w.bbox[0])
            if not aligned or (overlap < 0.5 * min(b.x1 - b.x0, w.bbox[2] - w.bbox[0]) and not indent_wrap):
                continue
            if _ENUM.match(w.text) or _SECTION.match(w.text) or _BROKEN_ENUM.match(w.text):
                continue  # ("（" or "（三" alone: an enumerator "（三）" the wrap broke over two lines)
            if _had_room([x for x in b.words if x.bbox[1] < last.cy < x.bbox[3]], w, th):
                continue  # the line above ended with room for w's first characters: not a wrap
            if _whole_labels(b.text(th), w.text):
                continue  # two whole statutory row labels, one a line: two rows (one left blank)
            if id(w) in stacked and id(w) in row_beside and id(last) not in stacked:
                continue  # a group label printed down its column, beside its first row, under a row label
            mine = own_anchor(w.bbox[1], w.bbox[3])
            theirs = own_anchor(last.bbox[1], last.bbox[3])
            down_column = id(w) in stacked and id(last) in stacked  # a group label one piece a line
            if mine is not None and theirs is not None and mine != theirs and not down_column:
                continue
            if _rule_between(last, w, hrules, th):
                continue
            if not direct:
                # an indent wrap only if no block nearby takes w as aligned under it (开, the
                # centred last line of （三）/不予公 beside it, is not a wrap of 1.属于国家秘密)
                indented = indented or b
                continue
            best = b
            break
        best = best or indented
        if best is None:
            blocks.append(_LabelBlock([w]))
        else:
            best.words.append(w)
    return blocks


def _next_line_beside(b: _LabelBlock, last: Word, w: Word, words: list[Word], th: float) -> bool:
    """Whether the block's own next line starts at its column, right of `w` (4. 无正当理由 /
    大量反复申请, with 予处 / 理 left of it: the tail of a group label a page break cut): then `w`
    is no first-line-indent wrap of the block, whose wrap would run over the column's start."""
    return any(
        o is not w
        and abs(o.bbox[0] - b.x0) < 0.8 * th
        and o.bbox[0] >= w.bbox[2] - 0.2 * th
        and -0.4 * th <= o.bbox[1] - last.bbox[3] <= TOL.wrap_gap * max(th, o.height)
        for o in words
    )


def _had_room(line: list[Word], w: Word, th: float) -> bool:
    """Whether the label line `line` (its words) ended with room to spare for the start of `w`,
    which stands under it in the same column and reaches further right: a line wraps only when
    full, so `w` is then a label of its own (规章 over 行政规范性文件, a row left blank).
    `wrap_room` characters of room are needed (a line-break rule may carry one character down with
    a bracket or stop)."""
    char = (w.chars[0][1] - w.chars[0][0]) if w.chars else max(th, w.height)
    return max(x.bbox[2] for x in line) + TOL.wrap_room * max(char, 0.5 * th) <= w.bbox[2]


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
    out = [
        k
        for k, b in enumerate(blocks)
        if b.words and not _label_beside(k, blocks, th) and headed_label(k, blocks, th) is None
    ]
    return sorted(out, key=lambda k: blocks[k].top)


def headed_label(k: int, blocks: list[_LabelBlock], th: float) -> int | None:
    """The label block that block k heads when it is an enumerator alone ("三、", "（三）"): the
    nearest label starting right of it on its line or the next. No statutory row label is an
    enumerator without text, so such a block is no row label (a group label printed down its
    column whose characters OCR did not read: "三、" level with the top-aligned figures of
    （一）予以公开, centred a line lower beside it)."""
    b = blocks[k]
    if not _ENUM_ONLY.match(b.text(th)):
        return None
    beside = [
        j
        for j, o in enumerate(blocks)
        if j != k
        and o.words
        and o.x0 >= b.x1 - 0.3 * th
        and o.top - b.bottom <= TOL.wrap_gap * th
        and b.top - o.bottom <= TOL.wrap_gap * th
    ]
    return min(beside, key=lambda j: (abs(blocks[j].top - b.top), blocks[j].x0)) if beside else None


_Unit = tuple[int, list[Word]]  # one line of a row-label block: (block index, its words)
_Step = tuple[int, int, int | None]  # label lines [i, i2) and the anchor they take (None: none)


def _match_labels(units: list[_Unit], anchors: list[dict], th: float, valign: str) -> tuple[float, list[_Step]] | None:
    """The best order-keeping match of label cells (runs of lines inside one block) to anchors
    for one vertical alignment, by dynamic programme: its cost and steps, or None."""
    costs = TOL
    n, m = len(units), len(anchors)
    tops = [min(w.bbox[1] for w in u[1]) for u in units]
    bottoms = [max(w.bbox[3] for w in u[1]) for u in units]

    def misfit(i: int, i2: int, j: int) -> float:
        t, b = tops[i], max(bottoms[i:i2])
        point = t + 0.5 * th if valign == "top" else b - 0.5 * th if valign == "bottom" else (t + b) / 2
        off = abs(anchors[j]["y"] - point)
        if j == m - 1 and i2 == n:
            # the table's last row, its label the last lines: a row that a page break cuts has
            # its figures at the top of the part on this page, whatever the cells' alignment
            off = min(off, abs(anchors[j]["y"] - (t + 0.5 * th)))
        # (a figure's line sits a little off the label's: another font, another baseline)
        return max(0.0, off - costs.baseline_slack * th) / th

    inf = float("inf")
    # cost[i][j]: the best cost having placed the first i lines and the first j anchors
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int, int | None] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0

    def relax(i: int, j: int, total: float, step: tuple[int, int, int | None]) -> None:
        if total < cost[i][j]:
            cost[i][j] = total
            back[i][j] = step

    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i][j]
            if c == inf:
                continue
            if j < m:
                relax(i, j + 1, c + costs.figures_without_label, (i, j, None))
            if i == n:
                continue
            # a label cell: lines i..i2-1, inside one block (a cut costs split_label)
            base = c + (costs.split_label if i > 0 and units[i - 1][0] == units[i][0] else 0.0)
            for i2 in range(i + 1, n + 1):
                if units[i2 - 1][0] != units[i][0]:
                    break
                relax(i2, j, base + costs.label_without_figures, (i, j, -1))
                if j < m and (f := misfit(i, i2, j)) <= costs.max_misfit:
                    relax(i2, j + 1, base + f * f, (i, j, j))
    if cost[n][m] == inf:
        return None
    path: list[_Step] = []
    i, j = n, m
    while (i, j) != (0, 0):
        step = back[i][j]
        assert step is not None
        pi, pj, matched = step
        if matched is not None:
            path.append((pi, i, matched))
        i, j = pi, pj
    return cost[n][m], path[::-1]


def _assign_row_labels(blocks: list[_LabelBlock], anchors: list[dict], th: float) -> set[int]:
    """Row-label cells → lines of figures, in one order-keeping match (a dynamic programme).

    In a table without row rules, a row's label may wrap over several lines while its figures
    stand on one line: at the label's top, middle or bottom (the cells' vertical alignment, the
    same all through a table). So each label cell is matched with the line of figures that its
    alignment puts it next to, and the alignment that fits the whole table best is the one used.
    A label cell the wrap rule joined across two rows (no enumerator or gap marked the second's
    start) may be cut at a line between them, at a cost. Sets each anchor's "row"; returns the
    blocks used (a cut adds blocks)."""
    first_y, last_y = anchors[0]["y"], anchors[-1]["y"]
    reach = TOL.max_misfit * th
    rows = [
        k
        for k in _row_label_blocks(blocks, th)
        if blocks[k].bottom + reach >= first_y
        and blocks[k].top - reach <= last_y
        and not _SECTION.match(blocks[k].text(th))  # 第二十条第（五）项: a sub-table's heading
    ]
    # units: the lines of the row-label blocks, top to bottom, with the block each belongs to
    units: list[_Unit] = [(k, ln) for k in rows for ln in group_lines(blocks[k].words)]
    if not units:
        return set()
    best: tuple[float, list[_Step]] | None = None
    for valign in _VALIGN:
        found = _match_labels(units, anchors, th, valign)
        if found is not None and (best is None or found[0] < best[0] - 1e-9):
            best = found
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
