"""Render a `Document` to a digital (text-layer) PDF with reportlab, with the geometry of every value cell.

    from gongkai_datasets.render_pdf import render_pdf
    out = render_pdf(doc, rng)          # RenderedPdf
    out.pdf                             # bytes, A4 pages
    out.boxes["applications.new.total"] # {"page": 3, "bbox": [x0, y0, x1, y1], "text_bbox": [...] or None}

Geometry is in PDF points with a TOP-LEFT origin (y grows downwards), like the output `bbox` of
`shared/spec/canonical-schema.md`. `bbox` is the cell box (the ruled rectangle of the table cell,
whether or not the style draws its rules); `text_bbox` is the box of the printed value text
(font ascent to descent, string width), `None` for a blank cell.

What varies (all drawn from `rng`, so a report renders byte for byte the same for the same state):
fonts (built-in STSong-Light CID font; WenQuanYi Zen Hei / Zen Hei Mono and AR PL UMing from
Debian's fonts-wqy-zenhei / fonts-arphic-uming when installed, else STSong-Light), font sizes,
margins, table rules (full grid, three-line 三线表, horizontal rules only, none), header shading,
column widths, row heights and cell padding, cell alignment, label wrapping inside cells,
tables starting on a fresh page, page breaks inside tables (with or without a repeated header),
page-number footers (`- N -` mostly).
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .render import Document, GCell, Grid, Para

A4 = (595.2756, 841.8898)  # points

# ----------------------------------------------------------------------------- fonts

CID_FONT = "STSong-Light"
# key -> (reportlab name, candidate files, subfont index of the TTC)
FONT_FILES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "wqy_zenhei": (
        "WQYZenHei",
        ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
        0,
    ),
    "wqy_zenhei_mono": (
        "WQYZenHeiMono",
        ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
        1,
    ),
    "ar_pl_uming": (
        "ARPLUMingCN",
        ("/usr/share/fonts/truetype/arphic/uming.ttc", "/usr/share/fonts/arphic-uming/uming.ttc"),
        0,
    ),
}
FONT_KEYS: tuple[str, ...] = ("stsong", "wqy_zenhei", "wqy_zenhei_mono", "ar_pl_uming")
_REGISTERED: dict[str, str] = {}


def font_file(key: str) -> tuple[str, int] | None:
    """(path, subfont index) of a TTF/TTC font key when the file exists here, else None."""
    spec = FONT_FILES.get(key)
    if not spec:
        return None
    for path in spec[1]:
        if Path(path).is_file():
            return path, spec[2]
    return None


def resolve_font(key: str) -> str:
    """The reportlab font name for a font key, registering it on first use.

    A key whose file is missing here (or that fails to load) falls back to STSong-Light.
    """
    if key in _REGISTERED:
        return _REGISTERED[key]
    from reportlab.pdfbase import pdfmetrics

    name = CID_FONT
    found = font_file(key)
    if found:
        from reportlab.pdfbase.ttfonts import TTFont

        try:
            pdfmetrics.registerFont(TTFont(FONT_FILES[key][0], found[0], subfontIndex=found[1]))
            name = FONT_FILES[key][0]
        except Exception:  # a broken or unsupported file: keep the built-in font
            name = CID_FONT
    if name == CID_FONT and CID_FONT not in pdfmetrics.getRegisteredFontNames():
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    _REGISTERED[key] = name
    return name


def available_fonts() -> list[str]:
    """Font keys that render with their own font here (the others fall back to STSong-Light)."""
    return [k for k in FONT_KEYS if k == "stsong" or font_file(k)]


# ----------------------------------------------------------------------------- style


@dataclass
class PdfStyle:
    font: str = "stsong"  # body font key
    heading_font: str = "stsong"  # titles and headings
    table_font: str = "stsong"
    title_size: float = 18.0
    body_size: float = 11.0
    table_size: float = 9.0
    leading: float = 1.5  # body line height / font size
    cell_leading: float = 1.25
    margins: tuple[float, float, float, float] = (72.0, 72.0, 72.0, 72.0)  # left, top, right, bottom
    table_style: str = "grid"  # grid | three_line | horizontal | none
    line_width: float = 0.6
    header_fill: bool = False
    repeat_header: bool = True
    row_min: float = 18.0
    pad_h: float = 3.0
    pad_v: float = 2.5
    value_align: str = "center"  # center | right
    label_align: str = "left"  # left | center
    table_width: float = 1.0  # share of the text width
    table_new_page: float = 0.0  # probability that a table starts on a fresh page
    heading_indent: bool = False
    para_space: float = 0.0  # extra space between paragraphs, in lines
    page_number: str = "dash"  # dash "- N -" | emdash "— N —" | page "第 N 页" | none
    # Set only by the style families (gongkai_datasets.families); the defaults keep the generator's
    # output byte for byte.
    label_chars: tuple[tuple[float, float], ...] | None = None  # width range of each label column, in characters
    value_valign: str = "center"  # top | center | bottom (Word's default is top)
    label_valign: str = "center"
    outer_width: float = 0.0  # bold_outer_frame: the frame's line width (0: 3 x line_width)


TABLE_STYLES = ("grid", "three_line", "horizontal", "none")
# Frames drawn only for the style families, never drawn at random by `random_pdf_style`:
# frame_no_row_rules: outer frame, boxed header rows, one vertical rule between the label columns and
#   the figures, nothing between body rows; outer_header: outer frame and a rule under the header only;
# bold_outer_frame: full grid inside a heavy frame; vertical_only: the cells' vertical rules only.
FAMILY_TABLE_STYLES = ("frame_no_row_rules", "outer_header", "bold_outer_frame", "vertical_only")
ALL_TABLE_STYLES = TABLE_STYLES + FAMILY_TABLE_STYLES
HEADER_KINDS = ("header", "colheader", "section")  # rows boxed as header by frame_no_row_rules


def random_pdf_style(rng: random.Random) -> PdfStyle:
    """A random page style. Font keys are drawn from all of FONT_KEYS whatever is installed (a missing
    font falls back at render time), so the random stream does not depend on the machine."""
    font = rng.choices(FONT_KEYS, weights=[0.4, 0.2, 0.1, 0.3])[0]
    heading_font = rng.choice([font, font, "wqy_zenhei", "stsong"])
    body = rng.choice([10.0, 10.5, 10.5, 11.0, 12.0, 12.0])
    left = rng.uniform(56, 90)
    return PdfStyle(
        font=font,
        heading_font=heading_font,
        table_font=font if rng.random() < 0.7 else rng.choice(FONT_KEYS),
        title_size=rng.choice([15.0, 16.0, 18.0, 20.0, 22.0]),
        body_size=body,
        table_size=rng.choice([7.5, 8.0, 9.0, 9.0, 10.0, 10.5]),
        leading=rng.uniform(1.35, 1.9),
        cell_leading=rng.uniform(1.1, 1.4),
        margins=(
            left,
            rng.uniform(56, 85),
            left + rng.uniform(-6, 6) if rng.random() < 0.6 else rng.uniform(56, 90),
            rng.uniform(60, 90),
        ),
        table_style=rng.choices(TABLE_STYLES, weights=[0.55, 0.2, 0.1, 0.15])[0],
        line_width=rng.choice([0.4, 0.5, 0.75, 1.0]),
        header_fill=rng.random() < 0.15,
        repeat_header=rng.random() < 0.5,
        row_min=rng.uniform(13.0, 26.0),
        pad_h=rng.uniform(1.5, 5.0),
        pad_v=rng.uniform(1.0, 4.0),
        value_align=rng.choices(["center", "right"], weights=[0.8, 0.2])[0],
        label_align=rng.choices(["left", "center"], weights=[0.75, 0.25])[0],
        table_width=rng.choice([1.0, 1.0, rng.uniform(0.88, 1.0)]),
        table_new_page=rng.choice([0.0, 0.0, 0.0, 0.5, 1.0]),
        heading_indent=rng.random() < 0.5,
        para_space=rng.choice([0.0, 0.0, 0.3, 0.5]),
        page_number=rng.choices(["dash", "emdash", "page", "none"], weights=[0.75, 0.1, 0.1, 0.05])[0],
    )


# ----------------------------------------------------------------------------- text measuring


_NO_LINE_START = set("，。、；：？！）》」”’%")
_TOKEN = re.compile(r"[A-Za-z0-9.,@\-:%/_+]+| |.", re.S)


def _width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, font, size)


def wrap_points(text: str, font: str, size: float, width: float, first_indent: float = 0.0) -> list[str]:
    """Wrap `text` to lines no wider than `width` points (the first line `first_indent` narrower).

    CJK text breaks between any two characters, except before closing punctuation; ASCII runs
    (numbers, e-mail addresses) are never split unless one alone is wider than a line.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    toks: list[str] = []  # tokens of the current line
    cur_w = first_indent
    for tok in _TOKEN.findall(text):
        w = stringWidth(tok, font, size)
        if toks and cur_w + w > width + 1e-6 and tok != " ":
            if tok in _NO_LINE_START:
                # closing punctuation never starts a line: carry the last word over with it
                while toks and toks[-1] == " ":
                    toks.pop()
                if len(toks) < 2:  # nothing to carry: let the mark overhang
                    toks.append(tok)
                    cur_w += w
                    continue
                lines.append("".join(toks[:-1]).rstrip())
                toks = [toks[-1]]
                cur_w = stringWidth(toks[0], font, size)
            else:
                lines.append("".join(toks).rstrip())
                toks, cur_w = [], 0.0
        if not toks and tok == " ":
            continue
        if not toks and w > width and len(tok) > 1:  # an ASCII run wider than the line: split it
            for ch in tok:
                cw = stringWidth(ch, font, size)
                if toks and cur_w + cw > width:
                    lines.append("".join(toks))
                    toks, cur_w = [], 0.0
                toks.append(ch)
                cur_w += cw
            continue
        toks.append(tok)
        cur_w += w
    if "".join(toks).strip():
        lines.append("".join(toks).rstrip())
    return lines or [""]


# ----------------------------------------------------------------------------- page model


@dataclass
class _Text:
    x: float
    baseline: float
    text: str
    font: str
    size: float
    gray: float = 0.0


@dataclass
class _Line:
    x0: float
    y0: float
    x1: float
    y1: float
    width: float


@dataclass
class _Fill:
    x: float
    y: float
    w: float
    h: float
    gray: float


@dataclass
class _Page:
    texts: list[_Text] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    fills: list[_Fill] = field(default_factory=list)


@dataclass
class RenderedPdf:
    pdf: bytes
    pages: int
    page_size: tuple[float, float]
    boxes: dict[str, dict[str, Any]]  # cell_id -> {"page": n (1-based), "bbox": [...], "text_bbox": [...] | None}
    style: PdfStyle
    info: dict[str, Any]  # JSON-friendly summary for the truth file's "render"


# ----------------------------------------------------------------------------- table measuring


@dataclass
class _CellLayout:
    cell: GCell
    lines: list[str]
    font: str
    size: float
    align: str
    need: float  # height needed for all lines with padding


@dataclass
class _GridLayout:
    grid: Grid
    x: float
    col_x: list[float]  # left edge of each column, plus the right edge of the table
    heights: list[float]
    cells: list[_CellLayout]
    chunks: list[list[int]]  # rows that stay on one page together
    header_rows: list[int]  # repeated on a continuation page
    new_page: bool


def _label_cols(g: Grid) -> int:
    """Number of label columns: the columns left of the first value column."""
    return min((c.col for c in g.cells if c.role == "value"), default=1)


def _col_widths(g: Grid, total: float, size: float, st: PdfStyle, rng: random.Random) -> list[float]:
    pad = 2 * st.pad_h
    if st.label_chars is not None and g.key == "applications":
        n_label = _label_cols(g)
        spans = [st.label_chars[min(i, len(st.label_chars) - 1)] for i in range(n_label)]
        fixed = [size * rng.uniform(lo, hi) + pad for lo, hi in spans]
        n_val = g.ncols - n_label
        room = total - sum(fixed)
        min_val = n_val * (size * 2.6 + pad)
        if room < min_val:
            scale = (total - min_val) / sum(fixed)
            fixed = [w * scale for w in fixed]
            room = min_val
        weights = [rng.uniform(0.9, 1.1) for _ in range(n_val)]
        return fixed + [room * w / sum(weights) for w in weights]
    if g.key == "applications" and g.ncols == 10:
        fixed = [
            size * rng.uniform(1.2, 2.6) + pad,
            size * rng.uniform(3.0, 6.0) + pad,
            size * rng.uniform(6.0, 11.0) + pad,
        ]
        # the value columns keep at least 4 digits' room
        room = total - sum(fixed)
        min_val = 7 * (size * 2.6 + pad)
        if room < min_val:
            scale = (total - min_val) / sum(fixed)
            fixed = [w * scale for w in fixed]
            room = min_val
        weights = [rng.uniform(0.9, 1.1) for _ in range(7)]
        return fixed + [room * w / sum(weights) for w in weights]
    if g.key == "proactive" and g.ncols >= 2:  # also the per-item sub-tables of a family
        first = total * rng.uniform(0.26, 0.42)
        weights = [rng.uniform(0.85, 1.15) for _ in range(g.ncols - 1)]
        return [first] + [(total - first) * w / sum(weights) for w in weights]
    weights = [rng.uniform(0.9, 1.1) for _ in range(g.ncols)]
    return [total * w / sum(weights) for w in weights]


def _measure_grid(g: Grid, st: PdfStyle, x0: float, text_w: float, rng: random.Random) -> _GridLayout:
    font = resolve_font(st.table_font)
    head_font = resolve_font(st.heading_font) if rng.random() < 0.3 else font
    size = st.table_size
    total = text_w * st.table_width
    widths = _col_widths(g, total, size, st, rng)
    x = x0 + (text_w - total) / 2 if rng.random() < 0.7 else x0
    col_x = [x]
    for w in widths:
        col_x.append(col_x[-1] + w)
    lead = size * st.cell_leading
    heights = [max(st.row_min, lead + 2 * st.pad_v)] * g.nrows
    cells: list[_CellLayout] = []
    for c in g.cells:
        inner = col_x[c.col + c.colspan] - col_x[c.col] - 2 * st.pad_h
        f, s = font, size
        if c.role == "value":
            align = st.value_align
            while s > 5.0 and c.text and _width(c.text, f, s) > inner:
                s -= 0.5
        elif c.role == "label":
            align = st.label_align
        elif c.role in ("header", "colheader", "section"):
            f = head_font
            align = "center" if c.role != "section" or rng.random() < 0.5 else "left"
        else:  # group, note
            align = "center" if c.role == "group" or rng.random() < 0.5 else "left"
        lines = wrap_points(c.text, f, s, max(inner, s)) if c.text else []
        need = max(1, len(lines)) * s * st.cell_leading + 2 * st.pad_v
        cells.append(_CellLayout(c, lines, f, s, align, need))
    for cl in cells:
        if cl.cell.rowspan == 1:
            heights[cl.cell.row] = max(heights[cl.cell.row], cl.need)
    for cl in sorted((c for c in cells if c.cell.rowspan > 1), key=lambda c: c.cell.rowspan):
        rows = range(cl.cell.row, cl.cell.row + cl.cell.rowspan)
        deficit = cl.need - sum(heights[r] for r in rows)
        if deficit > 0:
            for r in rows:
                heights[r] += deficit / cl.cell.rowspan
    # a page may break only between two data rows (or before a new section after data)
    chunks: list[list[int]] = []
    for r, kind in enumerate(g.row_kinds):
        # "group": a group label on a row of its own (families), kept with the rows under it
        breakable = r > 0 and kind in ("data", "section", "group") and g.row_kinds[r - 1] == "data"
        if breakable or not chunks:
            chunks.append([r])
        else:
            chunks[-1].append(r)
    header_rows = [r for r, k in enumerate(g.row_kinds) if k == "header"]
    new_page = rng.random() < st.table_new_page
    return _GridLayout(g, x, col_x, heights, cells, chunks, header_rows, new_page)


# ----------------------------------------------------------------------------- the renderer


class _Renderer:
    def __init__(self, doc: Document, st: PdfStyle, rng: random.Random):
        self.doc, self.st, self.rng = doc, st, rng
        self.W, self.H = A4
        left, top, right, bottom = st.margins
        self.x0, self.top, self.text_w = left, top, self.W - left - right
        self.bottom = self.H - bottom
        self.pages: list[_Page] = [_Page()]
        self.y = self.top
        self.boxes: dict[str, dict[str, Any]] = {}
        self.split_tables: list[str] = []
        self.repeated_headers: list[str] = []
        self.asc: dict[tuple[str, float], tuple[float, float]] = {}

    # -- helpers
    @property
    def page(self) -> _Page:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append(_Page())
        self.y = self.top

    def page_empty(self) -> bool:
        return self.y <= self.top + 1e-6

    def ascent(self, font: str, size: float) -> tuple[float, float]:
        key = (font, size)
        if key not in self.asc:
            from reportlab.pdfbase.pdfmetrics import getAscentDescent

            self.asc[key] = getAscentDescent(font, size)
        return self.asc[key]

    def baseline(self, line_top: float, line_h: float, font: str, size: float) -> float:
        a, d = self.ascent(font, size)
        return line_top + line_h / 2 + (a + d) / 2

    # -- paragraphs
    def para_format(self, p: Para) -> tuple[str, float, str, float, float, float]:
        """font, size, align, first indent, space before, space after"""
        st = self.st
        body, head = resolve_font(st.font), resolve_font(st.heading_font)
        if p.role in ("title", "agency"):
            return head, st.title_size, "center", 0.0, 0.0, st.title_size * 0.6
        if p.role == "meta":
            return body, st.body_size - 1.5, "center", 0.0, 0.0, st.body_size * 0.5
        if p.role == "junk":
            return body, st.body_size - 2, "left", 0.0, 0.0, st.body_size * 0.3
        if p.role == "heading":
            return head, st.body_size + 0.5, "left", 2 * st.body_size if st.heading_indent else 0.0, 4.0, 2.0
        if p.role == "subheading":
            return head if st.heading_indent else body, st.body_size, "left", 2 * st.body_size, 0.0, 0.0
        return body, st.body_size, "left", 2 * st.body_size, 0.0, st.para_space * st.body_size

    def para_lines(self, p: Para) -> tuple[list[str], str, float, str, float, float, float]:
        font, size, align, indent, before, after = self.para_format(p)
        lines = wrap_points(p.text, font, size, self.text_w, indent)
        return lines, font, size, align, indent, before, after

    def place_para(self, p: Para, keep_with: float = 0.0) -> None:
        lines, font, size, align, indent, before, after = self.para_lines(p)
        lead = size * (self.st.leading if p.role in ("body", "subheading") else max(1.3, self.st.leading * 0.9))
        if not self.page_empty():
            self.y += before
        if keep_with and not self.page_empty() and self.y + lead * len(lines) + keep_with > self.bottom:
            self.new_page()
        gray = 0.35 if p.role in ("junk", "meta") else 0.0
        for i, line in enumerate(lines):
            if self.y + lead > self.bottom and not self.page_empty():
                self.new_page()
            w = _width(line, font, size)
            x = self.x0 + ((self.text_w - w) / 2 if align == "center" else (indent if i == 0 else 0.0))
            self.page.texts.append(_Text(x, self.baseline(self.y, lead, font, size), line, font, size, gray))
            self.y += lead
        self.y += after

    def min_height(self, block: Para | _GridLayout) -> float:
        """Height the block needs on the page that holds the heading before it."""
        if isinstance(block, _GridLayout):
            return sum(block.heights[r] for r in block.chunks[0]) + 6
        lines, _font, size, *_ = self.para_lines(block)
        return min(2, len(lines)) * size * self.st.leading

    # -- tables
    def place_grid(self, gl: _GridLayout) -> None:
        g, st = gl.grid, self.st
        self.y += 6
        if gl.new_page and not self.page_empty():
            self.new_page()
        # segments: (page index, [(row, y)]) -- one per page the table is on
        segments: list[tuple[int, list[tuple[int, float]]]] = []
        seg: list[tuple[int, float]] = []
        data_on_page = False

        def break_page() -> None:
            nonlocal seg, data_on_page
            if seg:
                segments.append((len(self.pages) - 1, seg))
            self.new_page()
            seg, data_on_page = [], False
            if segments and st.repeat_header and gl.header_rows:
                for r in gl.header_rows:
                    seg.append((r, self.y))
                    self.y += gl.heights[r]
                if g.key not in self.repeated_headers:
                    self.repeated_headers.append(g.key)

        for chunk in gl.chunks:
            ch = sum(gl.heights[r] for r in chunk)
            if self.y + ch > self.bottom and (data_on_page or (not seg and not self.page_empty())):
                break_page()
            for r in chunk:
                if self.y + gl.heights[r] > self.bottom and data_on_page:
                    break_page()  # a chunk taller than a page
                seg.append((r, self.y))
                self.y += gl.heights[r]
                data_on_page = True
        segments.append((len(self.pages) - 1, seg))
        if len(segments) > 1:
            self.split_tables.append(g.key)
        self.y += 8
        self.draw_grid(gl, segments)

    def draw_grid(self, gl: _GridLayout, segments: list[tuple[int, list[tuple[int, float]]]]) -> None:  # noqa: C901 - one pass drawing every rule style a family asks for
        g, st = gl.grid, self.st
        lw = st.line_width
        lead_of = {id(cl): cl.size * st.cell_leading for cl in gl.cells}
        for cl in gl.cells:
            c = cl.cell
            x0, x1 = gl.col_x[c.col], gl.col_x[c.col + c.colspan]
            span = set(range(c.row, c.row + c.rowspan))
            pieces = []  # (page, y_top, y_bottom, complete)
            for page_i, rows in segments:
                mine = [(r, y) for r, y in rows if r in span]
                if mine:
                    y_top = mine[0][1]
                    y_bot = mine[-1][1] + gl.heights[mine[-1][0]]
                    pieces.append((page_i, y_top, y_bot, len(mine) == c.rowspan))
            lead = lead_of[id(cl)]
            header_like = all(g.row_kinds[r] in HEADER_KINDS for r in span)
            valign = {"value": st.value_valign, "label": st.label_valign, "group": st.label_valign}.get(
                c.role, "center"
            )
            if c.cell_id:
                page_i, y_top, y_bot, _ = pieces[0]
                self.boxes[c.cell_id] = {
                    "page": page_i + 1,
                    "bbox": [round(x0, 2), round(y_top, 2), round(x1, 2), round(y_bot, 2)],
                    "text_bbox": None,
                }
            for page_i, y_top, y_bot, _complete in pieces:
                page = self.pages[page_i]
                if st.header_fill and c.role in ("header", "colheader", "section", "note"):
                    page.fills.append(_Fill(x0, y_top, x1 - x0, y_bot - y_top, 0.88))
                boxed = st.table_style in ("grid", "bold_outer_frame") or (
                    st.table_style == "frame_no_row_rules" and header_like
                )
                if boxed:
                    page.lines.extend(
                        [
                            _Line(x0, y_top, x1, y_top, lw),
                            _Line(x0, y_bot, x1, y_bot, lw),
                            _Line(x0, y_top, x0, y_bot, lw),
                            _Line(x1, y_top, x1, y_bot, lw),
                        ]
                    )
                elif st.table_style == "horizontal":
                    page.lines.extend([_Line(x0, y_top, x1, y_top, lw), _Line(x0, y_bot, x1, y_bot, lw)])
                elif st.table_style == "vertical_only":
                    page.lines.extend([_Line(x0, y_top, x0, y_bot, lw), _Line(x1, y_top, x1, y_bot, lw)])
            # text: centred in a complete piece; a cell split over pages flows its lines top-down
            todo = list(cl.lines)
            partial = [p for p in pieces if not p[3]]
            complete = [p for p in pieces if p[3]]
            placements: list[tuple[int, float, list[str]]] = []  # page, first line top, lines
            for page_i, y_top, y_bot, _ in complete:
                if valign == "top":
                    first_top = y_top + st.pad_v
                elif valign == "bottom":
                    first_top = y_bot - st.pad_v - lead * len(todo)
                else:
                    first_top = (y_top + y_bot) / 2 - lead * len(todo) / 2
                placements.append((page_i, first_top, todo))
            for k, (page_i, y_top, y_bot, _) in enumerate(partial):
                room = max(0, int((y_bot - y_top - 2 * st.pad_v) // lead))
                take = todo if k == len(partial) - 1 else todo[:room]
                todo = todo[len(take) :]
                if take:
                    placements.append((page_i, y_top + st.pad_v, take))
            for page_i, top, lines in placements:
                page = self.pages[page_i]
                x_lo, x_hi = x0 + st.pad_h, x1 - st.pad_h
                text_box: list[float] | None = None
                for i, line in enumerate(lines):
                    w = _width(line, cl.font, cl.size)
                    if cl.align == "center":
                        x = (x_lo + x_hi - w) / 2
                    elif cl.align == "right":
                        x = x_hi - w
                    else:
                        x = x_lo
                    base = self.baseline(top + i * lead, lead, cl.font, cl.size)
                    page.texts.append(_Text(x, base, line, cl.font, cl.size))
                    a, d = self.ascent(cl.font, cl.size)
                    tb = [x, base - a, x + w, base - d]
                    text_box = (
                        tb
                        if text_box is None
                        else [min(text_box[0], tb[0]), text_box[1], max(text_box[2], tb[2]), tb[3]]
                    )
                if c.cell_id and text_box:
                    self.boxes[c.cell_id]["text_bbox"] = [round(v, 2) for v in text_box]
        if st.table_style == "three_line":
            head_kinds = ("header", "colheader")
            for page_i, rows in segments:
                page = self.pages[page_i]
                xa, xb = gl.col_x[0], gl.col_x[-1]
                top = rows[0][1]
                bot = rows[-1][1] + gl.heights[rows[-1][0]]
                page.lines.append(_Line(xa, top, xb, top, lw * 2))
                page.lines.append(_Line(xa, bot, xb, bot, lw * 2))
                for i, (r, y) in enumerate(rows[:-1]):
                    nxt = rows[i + 1][0]
                    under_header = g.row_kinds[r] in head_kinds and g.row_kinds[nxt] not in head_kinds
                    if under_header or g.row_kinds[nxt] == "section":
                        page.lines.append(_Line(xa, y + gl.heights[r], xb, y + gl.heights[r], lw))
        elif st.table_style in ("frame_no_row_rules", "outer_header", "bold_outer_frame"):
            frame_w = (st.outer_width or lw * 3) if st.table_style == "bold_outer_frame" else lw
            value_x = gl.col_x[_label_cols(g)]
            for page_i, rows in segments:
                page = self.pages[page_i]
                xa, xb = gl.col_x[0], gl.col_x[-1]
                top = rows[0][1]
                bot = rows[-1][1] + gl.heights[rows[-1][0]]
                page.lines.extend(
                    [
                        _Line(xa, top, xb, top, frame_w),
                        _Line(xa, bot, xb, bot, frame_w),
                        _Line(xa, top, xa, bot, frame_w),
                        _Line(xb, top, xb, bot, frame_w),
                    ]
                )
                if st.table_style == "frame_no_row_rules" and xa < value_x < xb:
                    # the label/figure rule runs down the body rows (header rows are boxed cell by cell)
                    run_top: float | None = None
                    for r, y in [*rows, (-1, bot)]:
                        body = r >= 0 and g.row_kinds[r] not in HEADER_KINDS
                        if body and run_top is None:
                            run_top = y
                        elif not body and run_top is not None:
                            page.lines.append(_Line(value_x, run_top, value_x, y, lw))
                            run_top = None
                if st.table_style == "outer_header":
                    for i, (r, y) in enumerate(rows[:-1]):
                        nxt = rows[i + 1][0]
                        if g.row_kinds[r] in HEADER_KINDS and g.row_kinds[nxt] not in HEADER_KINDS:
                            page.lines.append(_Line(xa, y + gl.heights[r], xb, y + gl.heights[r], lw))

    # -- document
    def run(self) -> None:
        blocks: list[Para | _GridLayout] = [
            _measure_grid(b, self.st, self.x0, self.text_w, self.rng) if isinstance(b, Grid) else b
            for b in self.doc.blocks
        ]
        for i, b in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if isinstance(b, _GridLayout):
                self.place_grid(b)
            elif b.role == "heading" and nxt is not None:
                if isinstance(nxt, _GridLayout) and nxt.new_page and not self.page_empty():
                    self.new_page()
                    nxt.new_page = False
                self.place_para(b, keep_with=self.min_height(nxt))
            elif b.role == "subheading" and nxt is not None:
                self.place_para(b, keep_with=self.min_height(nxt))
            else:
                self.place_para(b)

    def footer(self, n: int) -> str | None:
        return {"dash": f"- {n} -", "emdash": f"— {n} —", "page": f"第 {n} 页", "none": None}[self.st.page_number]

    def to_pdf(self) -> bytes:
        from reportlab.pdfgen import canvas

        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
        c.setTitle(f"{self.doc.agency}{self.doc.year}年政府信息公开工作年度报告")
        H = self.H
        foot_font = resolve_font(self.st.font)
        for n, page in enumerate(self.pages, 1):
            for f in page.fills:
                c.setFillGray(f.gray)
                c.rect(f.x, H - f.y - f.h, f.w, f.h, stroke=0, fill=1)
            c.setStrokeGray(0.0)
            for ln in page.lines:
                c.setLineWidth(ln.width)
                c.line(ln.x0, H - ln.y0, ln.x1, H - ln.y1)
            cur: tuple[str, float, float] | None = None
            for t in page.texts:
                if cur != (t.font, t.size, t.gray):
                    cur = (t.font, t.size, t.gray)
                    c.setFont(t.font, t.size)
                    c.setFillGray(t.gray)
                c.drawString(t.x, H - t.baseline, t.text)
            label = self.footer(n)
            if label:
                size = self.st.body_size - 1
                c.setFont(foot_font, size)
                c.setFillGray(0.0)
                w = _width(label, foot_font, size)
                c.drawString((self.W - w) / 2, H - (self.bottom + (H - self.bottom) * 0.45), label)
            c.showPage()
        c.save()
        return buf.getvalue()


def render_pdf(doc: Document, rng: random.Random | None = None, style: PdfStyle | None = None) -> RenderedPdf:
    """Render `doc` to an A4 PDF with a text layer; deterministic for the state of `rng`.

    `style` overrides the random page style (`random_pdf_style(rng)` otherwise); `rng` still drives
    column widths and the other per-table choices.
    """
    rng = rng if rng is not None else random.Random(0)
    st = style if style is not None else random_pdf_style(rng)
    r = _Renderer(doc, st, rng)
    r.run()
    pdf = r.to_pdf()
    info = {
        "font": st.font,
        "font_used": resolve_font(st.font),
        "heading_font": st.heading_font,
        "table_font": st.table_font,
        "table_font_used": resolve_font(st.table_font),
        "body_size": st.body_size,
        "table_size": st.table_size,
        "table_style": st.table_style,
        "repeat_header": st.repeat_header,
        "page_number": st.page_number,
        "pages": len(r.pages),
        "split_tables": r.split_tables,
        "repeated_headers": r.repeated_headers,
        "page_size": [round(A4[0], 2), round(A4[1], 2)],
        "units": "pt",
    }
    return RenderedPdf(pdf, len(r.pages), A4, r.boxes, st, info)


def style_dict(st: PdfStyle) -> dict[str, Any]:
    return asdict(st)
