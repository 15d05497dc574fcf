"""Ruled tables: crossing rules → a grid of (merged) cells → one `Line` per grid row."""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from extraction.document import BBox, Field, Line
from extraction.pages.labels import _assign_row_labels, _label_blocks, _statutory_label
from extraction.pages.rules import _merge_rules
from extraction.pages.tolerances import TOLERANCES as TOL
from extraction.pages.words import _NUMERIC, Rule, Word, _blank, _cluster, _field, as_figure, split_word


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
            g = _grid(ch, cv, snap, text_height)
            if g is not None:
                grids.append(g)
    grids.sort(key=lambda g: g.ys[0])
    return grids


def _with_frame(bounds: list[float], low: float, high: float, snap: float) -> list[float]:
    """Boundaries plus the table's outer frame on either side where it is not drawn."""
    out = list(bounds)
    if out[0] - low > 2 * snap:
        out.insert(0, low)
    if high - out[-1] > 2 * snap:
        out.append(high)
    return out


def _spans_at(bounds: list[float], rules: list[Rule], snap: float, horizontal: bool) -> list[list[tuple[float, float]]]:
    """Per boundary: the spans that its drawn rules cover (x spans for horizontal rules)."""
    spans: list[list[tuple[float, float]]] = [[] for _ in bounds]
    for r in rules:
        pos = r.y0 if horizontal else r.x0
        k = min(range(len(bounds)), key=lambda k: abs(bounds[k] - pos))
        if abs(bounds[k] - pos) <= snap:
            spans[k].append((r.x0, r.x1) if horizontal else (r.y0, r.y1))
    return spans


def _covered(spans: list[tuple[float, float]], a: float, b: float) -> bool:
    """Whether rules cover at least half of [a, b]."""
    got = sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans)
    return got >= 0.5 * (b - a)


def _merged_cells(
    xs: list[float], ys: list[float], hspans: list[list[tuple[float, float]]], vspans: list[list[tuple[float, float]]]
) -> Grid:
    """Positions that no drawn rule separates are one merged cell (union-find)."""
    nr, nc = len(ys) - 1, len(xs) - 1
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
            if not _covered(vspans[c + 1], ys[r], ys[r + 1]):
                union(r * nc + c, r * nc + c + 1)
    for r in range(nr - 1):
        for c in range(nc):
            if not _covered(hspans[r + 1], xs[c], xs[c + 1]):
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


def _crossing(rules: list[Rule], across: list[Rule], snap: float, th: float, horizontal: bool) -> list[Rule]:
    """The rules of the boundaries that some rule of theirs draws across a whole row of the grid
    (a whole column, for horizontal rules): from one rule of the other direction to the next. A
    digit's stem or a zero's side stands on a row rule as a short vertical "rule" (a scan of a
    tightly padded Word table: 26 px strokes in 40 px rows); the zeros of one column put one at
    the same x in every row, and each covers more than half its row, so they cut the figures'
    cells into columns that are no column. A real boundary's rule, broken as it may be, crosses a
    whole row somewhere."""
    if len(across) < 2:
        return rules
    stops = _cluster([r.x0 if horizontal else r.y0 for r in across], snap)
    reach = TOL.crossing_slack * th

    def crosses(r: Rule) -> bool:
        a, b = (r.x0, r.x1) if horizontal else (r.y0, r.y1)
        inside = [s for s in stops if a - reach <= s <= b + reach]
        return len(inside) >= 2

    groups: list[list[Rule]] = []
    for r in sorted(rules, key=lambda r: r.y0 if horizontal else r.x0):
        pos = r.y0 if horizontal else r.x0
        if groups and pos - (groups[-1][-1].y0 if horizontal else groups[-1][-1].x0) <= snap:
            groups[-1].append(r)
        else:
            groups.append([r])
    kept = [r for g in groups if any(crosses(r) for r in g) for r in g]
    return kept if len(kept) >= 2 else rules


def _grid(hs: list[Rule], vs: list[Rule], snap: float, th: float) -> Grid | None:
    vs = _crossing(vs, hs, snap, th, horizontal=False)
    hs = _crossing(hs, vs, snap, th, horizontal=True)
    xs = _cluster([v.x0 for v in vs], snap)
    ys = _cluster([h.y0 for h in hs], snap)
    # the table's outer frame even where a side is not drawn
    xs = _with_frame(xs, min(min(h.x0 for h in hs), xs[0]), max(max(h.x1 for h in hs), xs[-1]), snap)
    ys = _with_frame(ys, min(min(v.y0 for v in vs), ys[0]), max(max(v.y1 for v in vs), ys[-1]), snap)
    nr, nc = len(ys) - 1, len(xs) - 1
    if nr < 1 or nc < 1 or nr * nc > 40_000:
        return None
    return _merged_cells(xs, ys, _spans_at(ys, hs, snap, True), _spans_at(xs, vs, snap, False))


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


def _stacked_labels(g: Grid, r: int, content: list[list[Word]], th: float) -> list[float] | None:
    """A grid row whose label cell holds two or more whole statutory row labels one under the
    other (行政处罚 over 行政强制, the second row left blank): rows whose rule between them was
    not drawn (a Word table's body without row rules). Returns the y-centres of those labels, or
    None for an ordinary row (one label, however wrapped)."""
    nc = len(g.xs) - 1
    cells = {g.owner[r][c] for c in range(nc)}
    if any(g.cells[k][0] != r or g.cells[k][2] != r for k in cells):
        return None  # merged across rows: leave it to the merged-cell logic
    texts = [[w for w in content[k] if not w.numeric] for k in cells]
    texts = [t for t in texts if t]
    if len(texts) != 1 or len({round(w.cy / th) for w in texts[0]}) < 2:
        return None
    blocks = _label_blocks(texts[0], th, [])
    if len(blocks) < 2 or not all(_statutory_label(b.text(th)) for b in blocks):
        return None
    if any(sum(1 for w in content[k] if w.numeric) > len(blocks) for k in cells):
        return None
    return sorted(b.centre for b in blocks)


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
            by_band[k][min(range(len(bands)), key=lambda i: abs(w.cy - bands[i]))].append(w)
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


def _figures_side_by_side(words: list[Word], th: float) -> bool:
    """A cell holding a figure a column's gap right of another word on its line (a figure or a row
    label): the words of several columns (no rule was drawn between them: an outer frame and a
    header rule only), where a table cell holds one figure or one label. (A figure printed with a
    thin space, "1 234", has its pieces far closer.)"""
    return any(
        w.numeric and o is not w and abs(o.cy - w.cy) < th and w.bbox[0] - o.bbox[2] >= TOL.column_gap * th
        for w in words
        for o in words
    )


def _cell_contents(g: Grid, words: list[Word], th: float) -> list[list[Word]]:
    """Each merged cell's words; a word that crosses a drawn vertical boundary of its row is cut there."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    cut_tol = 0.1 * th
    content: list[list[Word]] = [[] for _ in g.cells]
    for w in words:
        row = min(max(bisect_right(g.ys, w.cy) - 1, 0), nr - 1)

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
    return content


def _read_misread_figures(g: Grid, content: list[list[Word]]) -> None:
    """A glyph standing alone in a column of numbers, on a row with figures, is a misread figure
    (0 → 日): its figure reading replaces it."""
    numeric_cols = _numeric_columns(g, content)
    numeric_rows: dict[int, int] = {}
    for k, ws in enumerate(content):
        if ws and all(w.numeric for w in ws):
            numeric_rows[g.cells[k][0]] = numeric_rows.get(g.cells[k][0], 0) + 1
    for k, ws in enumerate(content):
        if len(ws) == 1 and g.cells[k][1] in numeric_cols and numeric_rows.get(g.cells[k][0], 0) >= 1:
            ws[0] = as_figure(ws[0]) or ws[0]


def _grid_row(
    g: Grid,
    r: int,
    fields_of: list[Field | None],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    unread: Callable[[BBox], bool] | None,
) -> Line | None:
    """Grid row r as a Line (see the module doc of `geometry`, step 4), or None when it is empty."""
    nc = len(g.xs) - 1
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
        return None
    if "text" in kinds:  # blanks left of the row's label are merged label columns
        first = kinds.index("text")
        lead = 0
        while lead < first and kinds[lead] == "blank":
            lead += 1
        fields = fields[lead:]
    return Line(fields, page=page, delimited=True)


_FIGURE_PIECE = re.compile(r"^[\d,.]+$")


def _wrapped_figure(g: Grid, k: int, words: list[Word], th: float) -> Word | None:
    """A figure that its narrow cell wrapped over two lines ("1,09" / "3", "333" / "6"): two
    pieces of digits on consecutive lines that make one number together and would fill the cell
    on one line (a line wraps only when full). Returns the whole figure, or None."""
    if len(words) != 2:
        return None
    a, b = sorted(words, key=lambda w: w.cy)
    if not (_FIGURE_PIECE.match(a.text) and _FIGURE_PIECE.match(b.text)) or not _NUMERIC.match(a.text + b.text):
        return None
    if not (0.8 * th <= b.cy - a.cy <= TOL.wrap_gap * th + max(a.height, b.height)):
        return None
    _r0, c0, _r1, c1 = g.cells[k]
    width = (a.bbox[2] - a.bbox[0]) + (b.bbox[2] - b.bbox[0])
    if width < TOL.wrap_fill * (g.xs[c1 + 1] - g.xs[c0]):
        return None
    box = (min(a.bbox[0], b.bbox[0]), a.bbox[1], max(a.bbox[2], b.bbox[2]), b.bbox[3])
    return Word(a.text + b.text, box, min(a.confidence, b.confidence), [], None)


def _join_wrapped_figures(g: Grid, content: list[list[Word]], th: float) -> None:
    """Join each figure its cell wrapped, on grid rows whose other figures stand one a cell (two
    rows' figures in one cell, a rule missing between them, are `_stacked_rows`' case)."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    for r in range(nr):
        cells = [k for k in dict.fromkeys(g.owner[r][c] for c in range(nc)) if g.cells[k][0] == g.cells[k][2] == r]
        wrapped = {k: w for k in cells if (w := _wrapped_figure(g, k, content[k], th)) is not None}
        if not wrapped:
            continue
        singles = [k for k in cells if k not in wrapped and len(content[k]) == 1 and content[k][0].numeric]
        several = [k for k in cells if k not in wrapped and sum(1 for w in content[k] if w.numeric) > 1]
        if singles and not several:
            for k, w in wrapped.items():
                content[k] = [w]


def _grid_lines(
    g: Grid,
    words: list[Word],
    page: int,
    th: float,
    bbox_map: Callable[[BBox], BBox] | None,
    unread: Callable[[BBox], bool] | None = None,
) -> list[Line] | None:
    """The grid's rows as Lines; None when its rules do not separate the rows (`_stacked_figures`)
    or the columns (`_figures_side_by_side`): the table is read by alignment, its rules as evidence."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    content = _cell_contents(g, words, th)
    _join_wrapped_figures(g, content, th)
    _read_misread_figures(g, content)
    fields_of = [_field(ws, page, th, bbox_map) if ws else None for ws in content]
    lines: list[Line] = []
    for r in range(nr):
        bands = _stacked_rows(g, r, content, th) or _stacked_labels(g, r, content, th)
        if bands is not None:
            lines.extend(_split_row(g, r, bands, content, page, th, bbox_map))
            continue
        if any(_stacked_figures(content[g.owner[r][c]], th) for c in range(nc)):
            return None  # figures of several rows in one cell: the grid is not the table's rows
        if any(_figures_side_by_side(content[g.owner[r][c]], th) for c in range(nc)):
            return None  # several columns' words in one cell: nor its columns
        line = _grid_row(g, r, fields_of, page, th, bbox_map, unread)
        if line is not None:
            lines.append(line)
    return lines
