"""Tables without rules (or whose rules do not separate the rows): value columns from the
figures' alignment, rows anchored on the lines of figures, label cells assigned to their rows."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from extraction.document import BBox, Line
from extraction.pages.labels import (
    _ENUM,
    _FIRST_ENUM,
    _SECTION,
    _assign_row_labels,
    _label_beside,
    _label_blocks,
    _LabelBlock,
    _longest_label,
    _merge_words,
    headed_label,
)
from extraction.pages.tolerances import TOLERANCES as TOL
from extraction.pages.words import (
    _NUMERIC,
    Rule,
    Word,
    _blank,
    _cluster,
    _field,
    _text_line,
    as_figure,
    char_pitch,
    group_lines,
)


@dataclass
class _Block:
    top: float
    lines: list[Line]


def _text_blocks(
    words: list[Word],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    hrules: list[Rule] | None = None,
    unread: Callable[[BBox], bool] | None = None,
    vrules: list[Rule] | None = None,
) -> list[_Block]:
    if not words:
        return []
    vlines = _join_wrapped_unlabelled_figures(group_lines(words), th)
    char = char_pitch(words) or th
    blocks: list[_Block] = []
    i = 0
    start = 0  # first line not yet emitted
    while i < len(vlines):
        zone = _zone(vlines, i, th, char)
        if zone is not None:
            j, _rows = zone
            # the first row's wrapped label may start several lines above its numbers (a label
            # wrapped over five lines of a narrow column, its numbers centred on the third, or at
            # the bottom of eight)
            left = min(w.bbox[0] for w in vlines[i] if w.numeric)
            # the row labels' right edge: a line above with a word right of every row label is a
            # header line (信息内容 | 本年处理决定数量, the head over a column of right-aligned figures)
            labels_right = max((w.bbox[2] for ln in vlines[i:j] for w in ln if w.bbox[2] < left), default=None)
            b = i
            while (
                b > start
                and not _too_deep(vlines[b - 1 : i], char)
                and not _section_line(vlines[b - 1])
                and (labels_right is None or not any(w.bbox[0] > labels_right + 0.5 * th for w in vlines[b - 1]))
                and max(w.bbox[2] for w in vlines[b - 1]) < left - 0.3 * th
                and min(w.bbox[1] for w in vlines[b]) - max(w.bbox[3] for w in vlines[b - 1]) < TOL.wrap_gap * th
            ):
                b -= 1
                labels_right = max(labels_right or 0.0, *(w.bbox[2] for w in vlines[b]))
            table = _aligned_table(
                vlines[b:j], page, th, bbox_map, hrules or [], unread, _header_above(vlines, start, b, th), vrules
            )
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


_FIGURE_PIECE = re.compile(r"^[\d,.]+$")


def _join_wrapped_unlabelled_figures(vlines: list[list[Word]], th: float) -> list[list[Word]]:
    """Figures of a row of figures without a label that their narrow cells wrapped ("30" / "6" for
    306; "17" / "4" and "13" / "1" side by side): one figure each. The template has one row without
    a label, table 四's (its 15 figures under two levels of heads), and no row under it, so a line
    of digit pieces right under it, within a wrap's gap, each under one figure of it, holds those
    figures' tails (read as a row of its own, it took the columns: the table's first figures were
    one label and 306 was read as 30)."""
    out: list[list[Word]] = []
    k = 0
    while k < len(vlines):
        if k + 2 < len(vlines):
            straddled = _straddled_figures(vlines[k], vlines[k + 1], vlines[k + 2], th)
            if straddled is not None:
                out.append(sorted(vlines[k + 1] + straddled, key=lambda w: w.bbox[0]))
                k += 3
                continue
        ln = vlines[k]
        nxt = vlines[k + 1] if k + 1 < len(vlines) else None
        k += 1
        tails = _figure_tails(ln, nxt, th) if nxt is not None and len(ln) >= 2 else None
        if tails is None:
            out.append(ln)
            continue
        joined = []
        for w in ln:
            piece = tails.get(id(w))
            if piece is None:
                joined.append(w)
                continue
            box = (min(w.bbox[0], piece.bbox[0]), w.bbox[1], max(w.bbox[2], piece.bbox[2]), piece.bbox[3])
            joined.append(Word(w.text + piece.text, box, min(w.confidence, piece.confidence), [], None))
        out.append(joined)
        k += 1  # the pieces' line is read
    return out


def _straddled_figures(above: list[Word], ln: list[Word], below: list[Word], th: float) -> list[Word] | None:
    """The figures of the row `ln` that their narrow cells wrapped in two lines centred on it,
    one over its other figures and one under them (238 as 23 / 8, a cell of table 四 with
    vertically centred figures), when `above` and `below` hold only such pieces: digits, in
    columns no word of `ln` stands in, each over one piece of `below` within a cell's line spacing
    (`cell_line_gap`), the two one number. Else None. Read apart, the piece above was the row's
    first figure and the one below a line of its own: the row's figures shifted one column."""
    if len(ln) < 2 or not all(w.numeric for w in ln) or len(above) != len(below):
        return None
    top, bottom = min(w.bbox[1] for w in ln), max(w.bbox[3] for w in ln)
    joined: list[Word] = []
    partners: set[int] = set()
    for a in above:
        under = [b for b in below if min(a.bbox[2], b.bbox[2]) > max(a.bbox[0], b.bbox[0])]
        if (
            len(under) != 1
            or id(under[0]) in partners
            or not _FIGURE_PIECE.match(a.text)
            or not _FIGURE_PIECE.match(under[0].text)
            or not _NUMERIC.match(a.text + under[0].text)
            or any(
                min(w.bbox[2], a.bbox[2], under[0].bbox[2]) > max(w.bbox[0], min(a.bbox[0], under[0].bbox[0]))
                for w in ln
            )
            or not -0.2 * th <= under[0].bbox[1] - a.bbox[3] <= TOL.cell_line_gap * th
            or not a.bbox[1] < top < a.bbox[3] + TOL.cell_line_gap * th
            or not under[0].bbox[1] - TOL.cell_line_gap * th < bottom < under[0].bbox[3]
        ):
            return None
        b = under[0]
        partners.add(id(b))
        box = (min(a.bbox[0], b.bbox[0]), a.bbox[1], max(a.bbox[2], b.bbox[2]), b.bbox[3])
        joined.append(Word(a.text + b.text, box, min(a.confidence, b.confidence), [], None))
    return joined


def _figure_tails(ln: list[Word], nxt: list[Word], th: float) -> dict[int, Word] | None:
    """{id of a figure of `ln`: the piece of `nxt` that is its wrapped tail}, when `ln` is figures
    only and every word of `nxt` is such a piece (digits, within a wrap's gap under one figure of
    `ln` alone, the two one number); else None."""
    if not all(w.numeric or _FIGURE_PIECE.match(w.text) for w in ln):  # ("1,1" / "45": 1,145)
        return None
    bottom = max(w.bbox[3] for w in ln)
    tails: dict[int, Word] = {}
    for piece in nxt:
        above = [w for w in ln if min(w.bbox[2], piece.bbox[2]) - max(w.bbox[0], piece.bbox[0]) > 0]
        if (
            not _FIGURE_PIECE.match(piece.text)
            or not -0.2 * th <= piece.bbox[1] - bottom <= TOL.wrap_gap * th
            or len(above) != 1
            or id(above[0]) in tails
            or not _FIGURE_PIECE.match(above[0].text)
            or not _NUMERIC.match(above[0].text + piece.text)
        ):
            return None
        tails[id(above[0])] = piece
    return tails


def _header_above(vlines: list[list[Word]], start: int, b: int, th: float) -> list[Word]:
    """The words of the lines just above a table (its header, if it has one): text lines not yet
    read into another table, each close under the one above."""
    out: list[Word] = []
    k = b
    while k > start and b - k < TOL.header_lines and not _figure_row(vlines[k - 1]):
        if k < b and min(w.bbox[1] for w in vlines[k]) - max(w.bbox[3] for w in vlines[k - 1]) > TOL.header_gap * th:
            break
        k -= 1
        out.extend(vlines[k])
    return out


def _header_columns(
    header: list[Word], cols: list[float], x: Callable[[Word], float], figures: list[Word], limit: float, th: float
) -> list[float]:
    """Value columns that the header shows and no figure fills (a one-row table 四 with blank
    cells: 12 figures under 15 column heads). The header's leaf words (no other header word below
    them, over the figures) stand one over each column; when every figure column has its own leaf,
    the leaves left over are blank columns, placed where the figures of a column would stand."""
    if limit > float("-inf") and len(cols) >= 2:
        # the first value column's head may stand left of its figures (right-aligned figures under
        # a centred head): heads count from half a column pitch left of the first figure column
        limit = min(limit, cols[0] - 0.5 * min(b - a for a, b in itertools.pairwise(cols)))
        inside = [w for w in header if x(w) >= limit and not w.numeric]
    else:
        inside = [w for w in header if w.cx >= limit and not w.numeric]
    heads: list[Word] = []  # a heading's pieces a space apart are one (第二十条第( | 一 | )项)
    for ln in group_lines(inside):
        line = [ln[0]]
        for w in ln[1:]:
            if w.bbox[0] - line[-1].bbox[2] < TOL.head_gap * th:
                line[-1] = _merge_words(line[-1], w)
            else:
                line.append(w)
        heads.extend(line)
    leaves = [
        w
        for w in heads
        if not any(
            o is not w and o.cy > w.cy + 0.5 * th and min(o.bbox[2], w.bbox[2]) > max(o.bbox[0], w.bbox[0])
            for o in heads
        )
    ]
    if len(leaves) <= len(cols):
        return []
    centres = _cluster([w.cx for w in leaves], 1.2 * th)
    if len(centres) <= len(cols):
        return []
    reach = 0.5 * min(b - a for a, b in itertools.pairwise(centres))
    offset = statistics.median(x(w) - w.cx for w in figures)  # the column key beside a figure's centre
    col_cx = [statistics.median(w.cx for w in figures if abs(x(w) - c) <= 1.2 * th) for c in cols]
    taken: set[int] = set()
    shifts = []
    for cx in col_cx:
        k = min(range(len(centres)), key=lambda k: abs(centres[k] - cx))
        if abs(centres[k] - cx) > reach or k in taken:
            return []  # a figure column under no head of its own: the header is not one row of heads
        taken.add(k)
        shifts.append(cx - centres[k])
    # a blank column's figures stand off its head's centre as the other columns' do (right-aligned)
    shift = statistics.median(shifts)
    return [c + shift + offset for k, c in enumerate(centres) if k not in taken]


def _label_border(
    hrules: list[Rule], vlines: list[list[Word]], heads: list[Word], limit: float, th: float
) -> float | None:
    """The right border of the row-label column where the horizontal rules are drawn one segment a
    cell: a break of the segments between the row labels' right edge and the first figures. Heads
    right of it are value columns' (a one-row sub-table 政府集中采购 | 0 | _ with right-aligned
    figures: 采购项目数量 stands left of its 0, and counted from the 0 the blank column under
    采购总金额 was lost)."""
    labels_right = max((w.bbox[2] for ln in vlines for w in ln if w.cx < limit), default=None)
    if labels_right is None or not heads:
        return None
    top = min(w.bbox[1] for w in heads) - th
    bottom = max(w.bbox[3] for ln in vlines for w in ln) + th
    ends = [x for r in hrules if top <= r.y0 <= bottom for x in (r.x0, r.x1)]
    breaks = [x for x in ends if labels_right - 0.3 * th <= x <= limit]
    return min(breaks) if breaks else None


def _ruled_columns(
    vrules: list[Rule],
    vlines: list[list[Word]],
    numeric: list[list[Word]],
    cols: list[float],
    x: Callable[[Word], float],
    limit: float,
    th: float,
) -> list[float]:
    """Value columns that the vertical rules show and no figure fills (a table with column rules
    but no row rules, continued on a page whose first rows leave a column blank): the spans
    between the rules right of the row labels, each holding one figure column; a span with none
    is a blank column. [] when the rules do not part the figure columns one a span."""
    ys = [w.cy for ln in numeric for w in ln if w.numeric]
    top, bottom = min(ys), max(ys)
    labels_right = max((w.bbox[2] for ln in vlines for w in ln if w.cx < limit), default=None)
    if labels_right is None:
        return []
    xs = _cluster([r.x0 for r in vrules if r.y0 <= bottom and r.y1 >= top], 0.3 * th)
    bounds = [b for b in xs if b >= labels_right]
    if len(bounds) < 2:
        return []
    figures = [w for ln in numeric for w in ln if w.numeric]
    offset = statistics.median(x(w) - w.cx for w in figures)
    col_cx = []
    for c in cols:  # (a blank column the header gave has no figures: its key less the offset)
        mine = [w.cx for w in figures if abs(x(w) - c) <= 1.2 * th]
        col_cx.append(statistics.median(mine) if mine else c - offset)
    spans = list(itertools.pairwise(bounds))
    taken: set[int] = set()
    for cx in col_cx:
        k = next((k for k, (a, b) in enumerate(spans) if a < cx < b), None)
        if k is None or k in taken:
            return []
        taken.add(k)
    return [(a + b) / 2 + offset for k, (a, b) in enumerate(spans) if k not in taken]


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


def _labelled_figure(ln: list[Word]) -> bool:
    """A line that is a label and one figure a column apart, the figure last: a row of a one-row
    table (政府集中采购 | 0, its 采购总金额 blank)."""
    return (
        len(ln) >= 2
        and ln[-1].numeric
        and _count_numeric(ln) == 1
        and ln[-1].bbox[0] - ln[-2].bbox[2] >= TOL.labelled_figure_gap * ln[-1].height
    )


def _figure_row(ln: list[Word]) -> bool:
    return _count_numeric(ln) >= 2 or _lone_figure(ln) or _labelled_figure(ln)


_UNIT = ("元", "万元", "件", "个", "项", "次", "人次", "%")


def _unit_line(ln: list[Word], above: list[Word], th: float) -> bool:
    """A line of units only (元), each right under a figure of the line above: a figure's unit
    that its narrow cell wrapped ("57000.28" / "元"), not a line of its own."""
    return bool(ln) and all(
        w.text.strip() in _UNIT
        and any(
            f.numeric
            and min(f.bbox[2], w.bbox[2]) - max(f.bbox[0], w.bbox[0]) > 0
            and 0 <= w.bbox[1] - f.bbox[3] < TOL.wrap_gap * th
            for f in above
        )
        for w in ln
    )


def _section_line(ln: list[Word]) -> bool:
    """A sub-table's heading (第二十条第（六）项) on a line of its own."""
    return bool(_SECTION.match(ln[0].text)) and not any(w.numeric for w in ln)


def _stack_depth(lines: list[list[Word]], cap: int | None = None) -> int:
    """How many of these lines one label cell could cover: the most lines holding a word under any
    one word (a stacked group label printed one character a line beside a wrapped row label
    interleaves its lines with the label's: 10 lines of the page, 5 of either label). At most
    twice `cap` (default `max_label_lines`) lines are read."""
    if len(lines) > 2 * (cap or TOL.max_label_lines):
        return len(lines)
    return max(
        sum(1 for ln in lines if any(min(o.bbox[2], w.bbox[2]) > max(o.bbox[0], w.bbox[0]) for o in ln))
        for ln in lines
        for w in ln
    )


def _label_lines(lines: list[list[Word]], char: float) -> int:
    """How many lines the longest statutory row label takes in a label column as wide as the
    widest label word of these lines, `char` (the page's character pitch, `words.char_pitch`)
    wide a character: on a scan that is well over a text height, which OCR's ink boxes of the
    digits set (3 characters a line read as 4 allowed a 10-line label 8 lines below its figures)."""
    widest = max((w.bbox[2] - w.bbox[0] for ln in lines for w in ln if not w.numeric), default=0.0)
    return math.ceil(_longest_label() / max(1, round(widest / char)))


def _label_run_cap(lines: list[list[Word]], char: float) -> int:
    """The most lines a run of label-only lines between two rows of figures (or above the first)
    may cover: `max_label_lines`, or, in a label column so narrow that a statutory label wraps
    over more lines, twice the lines the longest statutory label takes at the run's widest line
    (the end of one row's label, a group label and the start of the next: （二）部分公开（区分处理
    的，只计这一情形，不计其他情形） four characters a line is eight lines)."""
    return max(TOL.max_label_lines, 2 * _label_lines(lines, char))


def _too_deep(lines: list[list[Word]], char: float) -> bool:
    cap = _label_run_cap(lines, char)
    return _stack_depth(lines, cap) > cap


def _over_figures(run: list[list[Word]], row: list[Word], th: float) -> bool:
    """Whether a line of a run of label-only lines reaches over the figures of the row under it:
    a label stands left of every figure, so such lines are the next table's header (信息内容 |
    本年收费金额 | 行政事业性收费 0, its figure right-aligned far right, then 申请人情况 / 自然人 … over
    table 三's figures: the two tables were read as one, and the fee took no column)."""
    left = min(w.bbox[0] for w in row if w.numeric)
    return any(max(w.bbox[2] for w in ln) > left - 0.3 * th for ln in run)


def _zone(vlines: list[list[Word]], i: int, th: float, char: float) -> tuple[int, int] | None:
    """An unruled table starting at line i: numeric rows (2+ numbers), with up to eight lines of
    label text between two of them (wrapped labels, group labels; more in a narrow label column,
    `_label_run_cap`), none reaching the numbers.
    `char`: the page's character pitch (`words.char_pitch`, else th).
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
        while m < len(vlines) and not _too_deep(vlines[k : m + 1], char) and not _figure_row(vlines[m]):
            if _unit_line(vlines[m], vlines[m - 1], th):
                m += 1
                continue
            if max(w.bbox[2] for w in vlines[m]) > left_of_numbers - 0.3 * th or _section_line(vlines[m]):
                break  # (第二十条第（六）项: the next sub-table, with its own header and columns)
            m += 1
        if m < len(vlines) and m > k and _figure_row(vlines[m]) and not _over_figures(vlines[k:m], vlines[m], th):
            k = m
            continue
        # trailing wrapped-label lines of the last row (they end before the numbers)
        # (as many as the longest label's lines but its first where the label column is narrow;
        # the gap is a wrap's, OCR's tight boxes leaving wider gaps than a text layer's)
        while (
            end < len(vlines)
            and end - k < max(TOL.trailing_label_lines, _label_lines(vlines[k - 1 : end + 1], char) - 1)
            and _count_numeric(vlines[end]) == 0
        ):
            ln = vlines[end]
            if _unit_line(ln, vlines[end - 1], th):
                end += 1
                continue
            if max(w.bbox[2] for w in ln) > left_of_numbers - 0.3 * th or _section_line(ln):
                break
            gap = min(w.bbox[1] for w in ln) - max(w.bbox[3] for w in vlines[end - 1])
            if gap > TOL.wrap_gap * th:
                break
            end += 1
        break
    return (end, numeric_rows)


def _value_columns(
    vlines: list[list[Word]], numeric: list[list[Word]], th: float
) -> tuple[Callable[[Word], float], list[float], bool] | None:
    """The value columns of an unruled table from its figures' alignment: the column key, the
    columns, and whether it is a one-column table; None when the figures make no table."""
    x = _column_key([w for ln in numeric for w in ln if w.numeric], th)
    cols = _cluster([x(w) for ln in numeric for w in ln if w.numeric], 1.2 * th)
    one_column = all(_count_numeric(ln) == 1 for ln in numeric)
    if one_column:
        # lone figures: a one-column table only when they stand in one column, beside label text
        if len(cols) != 1 or not any(w.cx < cols[0] - 3 * th for ln in vlines for w in ln if not w.numeric):
            return None
    elif len(numeric) > 1:
        # a column needs two rows of numbers (keeping one that a single row fills was measured:
        # it fixed a column whose other figure sat under a seal, and cost more cells elsewhere)
        def rows_in(c: float) -> list[list[Word]]:
            return [ln for ln in numeric if any(w.numeric and abs(x(w) - c) <= 1.2 * th for w in ln)]

        kept = [c for c in cols if len(rows_in(c)) >= 2]

        # ... except a column inside the table, well clear of the others, whose one figure is
        # read with confidence: its other rows' figures are hidden (a seal over them)
        # ... or right or left of them, on a row that fills every other column: a short sub-table whose
        # last column only its first row fills (规章 0 0 0 over 行政规范性文件 0 0), or its first (规范性文件 _ 0 47)
        def lone_column(c: float) -> bool:
            mine = rows_in(c)
            if len(mine) != 1 or len(kept) < 2 or any(abs(c - o) < 3 * th for o in kept):
                return False
            full = all(any(w.numeric and abs(x(w) - o) <= 1.2 * th for w in mine[0]) for o in kept)
            return (kept[0] < c < kept[-1] or ((c > kept[-1] or c < kept[0]) and full)) and all(
                w.confidence >= 0.9 for w in mine[0] if w.numeric and abs(x(w) - c) <= 1.2 * th
            )

        cols = sorted(kept + [c for c in cols if lone_column(c)])
    if len(cols) < (1 if one_column else 2):
        return None
    return x, cols, one_column


def _anchors(
    vlines: list[list[Word]],
    numeric: list[list[Word]],
    cols: list[float],
    x: Callable[[Word], float],
    limit: float,
    th: float,
) -> tuple[list[dict], list[Word], list[Word]]:
    """One anchor per line of figures (its y and its figures in column slots), the label words
    (left of the figures) and the stray words (right of the limit, in no column)."""
    anchors: list[dict] = []
    label_words: list[Word] = []
    stray: list[Word] = []
    for ln in vlines:
        values = [w for w in ln if w.cx >= limit]
        label_words.extend(w for w in ln if w.cx < limit)
        if not (sum(1 for w in values if w.numeric) >= 2 or (values and ln in numeric)):
            stray.extend(values)
            continue
        values = [as_figure(w) or w for w in values]
        slots: list[list[Word]] = [[] for _ in cols]
        prev: tuple[Word, int] | None = None  # the last figure placed and its slot
        for w in sorted(values, key=lambda w: w.bbox[0]):
            if prev is not None and w.text.strip() in _UNIT and w.bbox[0] - prev[0].bbox[2] < TOL.unit_gap * th:
                slots[prev[1]].append(w)  # its unit (57000.28 元): the figure's cell, wherever its column
                continue
            k = min(range(len(cols)), key=lambda k: abs(cols[k] - x(w)))
            if abs(cols[k] - x(w)) <= 1.5 * th:
                slots[k].append(w)
                prev = (w, k) if w.numeric else None
            else:
                stray.append(w)
                prev = None
        anchors.append({"y": statistics.median(w.cy for w in values), "slots": slots, "labels": [], "row": None})
    return anchors, label_words, stray


def _slot_boxes(cols: list[float], anchors: list[dict], th: float) -> tuple[list[float], list[float]]:
    """An empty slot's centre (its column's figures' median centre) and half width (its column's
    typical figure width, within the gap to the neighbours), per column."""
    col_half = []
    col_x = []
    for k, c in enumerate(cols):
        widths = [w.bbox[2] - w.bbox[0] for a in anchors for w in a["slots"][k]]
        col_x.append(statistics.median(w.cx for a in anchors for w in a["slots"][k]) if widths else c)
        half = max(0.6 * th, 0.6 * statistics.median(widths)) if widths else 0.8 * th
        gaps = [abs(c - o) for o in cols if o != c]
        col_half.append(min(half, 0.4 * min(gaps)) if gaps else half)
    return col_x, col_half


def _place_unmatched_labels(
    blocks: list[_LabelBlock], anchors: list[dict], assigned: set[int], ncols: int, th: float
) -> None:
    """A label in the row-label column with no figures beside it: an enumerated one is a row of
    blank cells; another is a piece of the label above it that the line spacing cut off."""
    first_y, last_y = anchors[0]["y"], anchors[-1]["y"]
    pad = 0.35 * th
    row_x0 = [blocks[a["row"]].x0 for a in anchors if a["row"] is not None]
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
                    anchors.append({"y": b.centre, "slots": [[] for _ in range(ncols)], "labels": [], "row": k})
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


def _place_group_labels(
    blocks: list[_LabelBlock], anchors: list[dict], assigned: set[int], first_y: float, last_y: float, th: float
) -> list[int]:
    """The label blocks left (group labels) go to the first row of their group; returns the
    blocks outside the table (its header, text around it)."""
    pad = 0.35 * th
    outside: list[int] = []
    groups = [k for k in range(len(blocks)) if k not in assigned]
    for k in sorted(groups, key=lambda k: -blocks[k].x0):
        g = blocks[k]
        if g.bottom < first_y - pad or g.top > last_y + pad:
            outside.append(k)
            continue

        def next_label(a: dict, g: _LabelBlock = g) -> _LabelBlock | None:
            right = [blocks[j] for j in [*a["labels"], a["row"]] if j is not None and blocks[j].x0 > g.x0 + 0.5 * th]
            return min(right, key=lambda b: b.x0) if right else None

        def first_row_top(a: dict) -> float | None:
            b = next_label(a)
            return b.top if b is not None and _FIRST_ENUM.match(b.text(th)) else None

        # the last first row (1., （一）) whose label starts at or above its middle: a group
        # label stands beside its rows (the label's top, not the figures' line, which may be
        # the row's bottom line, below a short group label's middle)
        firsts = [a for a in anchors if (top := first_row_top(a)) is not None and top <= g.centre + 0.5 * th]
        below = [a for a in anchors if a["y"] > g.bottom]
        headed = headed_label(k, blocks, th)
        heads_row = [a for a in anchors if headed is not None and a["row"] == headed]
        if heads_row:
            target = heads_row[0]  # an enumerator alone: the row whose label it heads
        elif (
            not _label_beside(k, blocks, th)
            and not any(g.top - pad <= a["y"] <= g.bottom + pad for a in anchors)
            and below
        ):
            # a group label on a line of its own ("（四）无法提供" above its rows, indented less):
            # the rows under it are its group
            target = min(below, key=lambda a: a["y"])
        elif firsts:
            target = max(firsts, key=lambda a: a["y"])
        else:
            target = min(anchors, key=lambda a: abs(a["y"] - g.top))
        target["labels"].append(k)
    return outside


def _aligned_table(
    vlines: list[list[Word]],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    hrules: list[Rule],
    unread: Callable[[BBox], bool] | None = None,
    heads: list[Word] | None = None,
    vrules: list[Rule] | None = None,
) -> list[Line] | None:
    """An unruled (or only horizontally ruled) table: value columns from the numbers' alignment
    (and the column heads in `heads`, the lines above), rows anchored on the lines of numbers,
    label cells assigned to their row (wrapped labels) or, for group labels spanning several
    rows, to the first row of their group."""
    numeric = [ln for ln in vlines if _figure_row(ln)]
    found = _value_columns(vlines, numeric, th)
    if found is None:
        return None
    x, cols, _one_column = found
    first_x = min(w.bbox[0] for ln in numeric for w in ln if w.numeric and abs(x(w) - cols[0]) <= 1.2 * th)
    limit = first_x - 0.3 * th
    if heads:
        figures = [w for ln in numeric for w in ln if w.numeric and any(abs(x(w) - c) <= 1.2 * th for c in cols)]
        # a table without row labels (table 四: one row of figures under its heads) may leave its
        # first columns blank: every head is a column's, even left of the first figure
        labelled = any(w.cx < limit for ln in vlines for w in ln)
        head_limit = limit if labelled else float("-inf")
        if labelled:
            border = _label_border(hrules, vlines, heads, limit, th)
            head_limit = min(head_limit, border) if border is not None else head_limit
        cols = sorted(cols + _header_columns(heads, cols, x, figures, head_limit, th))
    if vrules:
        cols = sorted(cols + _ruled_columns(vrules, vlines, numeric, cols, x, limit, th))
    anchors, label_words, stray = _anchors(vlines, numeric, cols, x, limit, th)
    if not anchors:
        return None
    for w in list(stray):  # a wrapped unit (元) joins the figure right above it
        if w.text.strip() not in _UNIT:
            continue
        for a in anchors:
            slot = next((s for s in a["slots"] for f in s if _unit_line([w], [f], th)), None)
            if slot is not None:
                slot.append(w)
                stray.remove(w)
                break
    col_x, col_half = _slot_boxes(cols, anchors, th)
    blocks = _label_blocks(label_words, th, hrules, [a["y"] for a in anchors])
    first_y, last_y = anchors[0]["y"], anchors[-1]["y"]
    assigned = _assign_row_labels(blocks, anchors, th)
    _place_unmatched_labels(blocks, anchors, assigned, len(cols), th)
    anchors.sort(key=lambda a: a["y"])
    outside = _place_group_labels(blocks, anchors, assigned, first_y, last_y, th)
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
                continue
            slot = (col_x[k] - col_half[k], a["y"] - 0.45 * th, col_x[k] + col_half[k], a["y"] + 0.45 * th)
            fields.append(_blank(page, slot, bbox_map, unread))
        if any(f.text for f in fields):
            out.append(Line(fields, page=page, delimited=True))
    for ln in group_lines(footer + stray):
        out.append(_text_line(ln, page, th, bbox_map))
    return out
