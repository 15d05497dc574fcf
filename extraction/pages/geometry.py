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

import re
from collections.abc import Callable

from extraction.document import BBox, Line
from extraction.pages.aligned import _Block, _text_blocks
from extraction.pages.grid import _grid_lines, find_grids
from extraction.pages.labels import _SECTION
from extraction.pages.rules import erase_lines, rules_from_image
from extraction.pages.tolerances import TOLERANCES as TOL
from extraction.pages.words import (
    _NUMERIC,
    FIGURE_GUESS_CONFIDENCE,
    UNREAD_CONFIDENCE,
    Rule,
    Word,
    _median_height,
    as_figure,
    join_wrapped_remarks,
    split_group_enumerator,
    split_on_spaces,
    split_wide_char_gaps,
    words_from_chars,
)


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
    words = [piece for w in split_wide_char_gaps(words) for piece in split_group_enumerator(w)]
    if not words:
        return []
    th = _median_height(words)
    words = drop_page_numbers(join_wrapped_remarks(words, th), th)
    if rules:
        words = doubt_ones_on_rules(words, [r for r in rules if not r.horizontal], th)
    grids = find_grids(rules, th) if rules else []
    blocks: list[_Block] = []
    rest = words
    for g in grids:
        x0, y0, x1, y1 = g.bbox
        inside: list[Word] = []
        outside: list[Word] = []
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
    vrules = [r for r in rules if not r.horizontal] if rules else []
    blocks.extend(_text_blocks(rest, page, th, bbox_map, hrules, unread, vrules))
    blocks.sort(key=lambda b: b.top)
    out: list[Line] = []
    for b in blocks:
        out.extend(b.lines)
    for ln in out:
        _spread_doubt(ln)
    return out


def doubt_ones_on_rules(words: list[Word], vrules: list[Rule], th: float) -> list[Word]:
    """A "1" touching a vertical rule that runs over its whole height may be a piece of the rule
    read as a figure (a frame line where a seal's strokes kept OCR's rule-piece check from seeing
    it; the figure under the seal unread): its confidence is capped, so it goes to review. A
    printed 1 stands a cell's padding away from the rules beside it."""
    out = []
    for w in words:
        if w.text.strip() == "1" and any(
            r.y0 <= w.bbox[1]
            and r.y1 >= w.bbox[3]
            and w.bbox[0] - TOL.rule_one_gap * th <= r.x0 <= w.bbox[2] + TOL.rule_one_gap * th
            for r in vrules
        ):
            w = Word(w.text, w.bbox, min(w.confidence, FIGURE_GUESS_CONFIDENCE), w.alternatives, w.chars)
        out.append(w)
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


__all__ = [  # the names the ingest paths and tests import from here
    "UNREAD_CONFIDENCE",
    "Rule",
    "Word",
    "as_figure",
    "drop_page_numbers",
    "drop_repeated_headers",
    "erase_lines",
    "layout_page",
    "rules_from_image",
    "split_group_enumerator",
    "words_from_chars",
]


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
    return _drop_page_top_headers(out)


def _header_block(lines: list[Line], end: int) -> int:
    """The start of the lines before lines[end] on its page that hold no figure and are not page
    furniture (at most `max_header_run` of them): a table's header, its text lines and rows alike."""
    k = end
    while (
        k > 0
        and end - k < TOL.max_header_run
        and lines[k - 1].page == lines[end].page
        and not _has_number(lines[k - 1])
        and not _is_page_number(lines[k - 1])
    ):
        k -= 1
    return k


def _drop_page_top_headers(lines: list[Line]) -> list[Line]:
    """A repeated header that opens a page as text lines and rows mixed (a header cell wrapped
    over lines that the page reader did not read as one row): the page's first lines before its
    first row of figures, when they hold a row and match the tail of the lines before an earlier
    table's first row of figures, are dropped (their 其他 was read as a row of its own)."""
    from rapidfuzz import fuzz

    def key(block: list[Line]) -> str:
        return "|".join(_header_key(x) for x in block)

    firsts = [
        j
        for j, ln in enumerate(lines)
        if ln.delimited and _has_number(ln) and not (j and lines[j - 1].delimited and _has_number(lines[j - 1]))
    ]
    drop: set[int] = set()
    for n, j in enumerate(firsts):
        start = _header_block(lines, j)
        on_page = [k for k in range(start) if lines[k].page == lines[j].page and not _is_page_number(lines[k])]
        block = lines[start:j]
        if (
            on_page
            or not any(x.delimited for x in block)
            or not any(lines[k].page != lines[j].page for k in range(start))
        ):
            continue  # not the first lines of a continued page, or no row among them
        mine = key(block)
        if len(mine) < TOL.min_header_key or any(_SECTION.match(f.text) for x in block for f in x.fields):
            continue  # (第二十条第（六）项 over the same heads as （五）'s: a sub-table, not a repeat)
        for e in firsts[:n]:
            theirs = key(lines[_header_block(lines, e) : e])
            if len(theirs) >= len(mine) and fuzz.ratio(mine, theirs[-len(mine) :]) >= 90:
                drop.update(range(start, j))
                break
    return [ln for k, ln in enumerate(lines) if k not in drop] if drop else lines


def _has_number(line: Line) -> bool:
    return any(_NUMERIC.match(f.text.replace(" ", "")) for f in line.fields if f.text)


_FURNITURE = re.compile(r"^\s*(?:[-—–－]\s*\d{1,4}\s*[-—–－]|第\s*\d{1,4}\s*页.*|\d{1,4}\s*/\s*\d{1,4}|\d{1,4})\s*$")


def _is_furniture(line: Line) -> bool:
    """Page numbers and running heads printed above a continued table."""
    text = "".join(f.text for f in line.fields)
    return bool(_FURNITURE.match(text)) or len(text) <= 2


def _is_page_number(line: Line) -> bool:
    return bool(_FURNITURE.match("".join(f.text for f in line.fields)))
