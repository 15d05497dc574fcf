"""Style families: named, documented distributions of table styles, rendered to digital PDFs with exact truth.

    from gongkai_datasets.families import FAMILIES, render_family, render_truth
    r = render_family(3, "frame_no_row_rules", seed=7)      # report 3 of seed 7 in that family
    r.pdf, r.truth, r.renderer                               # PDF bytes, truth dict, "reportlab"
    r = render_truth("datasets/real/truth/real-011.json", "word_libreoffice", seed=7)

Why: real reports print the statutory tables in styles today's generator (`render_pdf`, four frames
drawn at random) never draws, and the reading of those styles is what fails. Each family here is
one region of that style space, wide enough inside (fonts, sizes, alignment, shading, page breaks
with and without a repeated header) that a reader cannot fit one look. `bench/style_families.py`
reports accuracy per family, leave-one-family-out (see its docstring).

The axes (`FamilyStyle`):
- frame: `grid`, `bold_outer_frame`, `frame_no_row_rules` (outer frame, boxed header, one vertical
  rule between the label columns and the figures, nothing between body rows), `outer_header`
  (outer frame and a rule under the header), `horizontal`, `three_line`, `vertical_only`, `none`;
- labels (table 三): `merged` (three label columns: 三、本年度办理结果 stacked one character a line
  beside （三）不予公开 beside 1.属于国家秘密), `indented` (one label column, group labels on rows
  of their own, levels indented with full-width spaces), `group_rows` (one label column, group
  labels on rows of their own spanning the whole table);
- label column width in characters (narrow: labels wrap over 2–4 lines, so one label block is as
  tall as several lines of figures);
- vertical alignment of figures and labels (top: Word's default; centre; bottom);
- proactive (table 二): `one` table or `subtables`, one small table per 第二十条 item with its own
  header (own width, or all as wide as the widest with the unused columns left empty, so rows
  have fewer figures than columns), the item's title as a row or as a caption above it;
- renderer: `reportlab` (like the generator), `libreoffice` (python-docx → LibreOffice Writer →
  PDF) or `chromium` (HTML → headless Chromium → PDF); see `datasets/render_office.py`.

Seen and held out: the four `generator_*` families are today's generator with each of its frames
(`seen=True`: what the shipped model, calibrator and thresholds were tuned on); every other family
is held out (`HELD_OUT_FAMILIES`). `python -m gongkai_datasets.families --list` prints them all.

Truth: the format of `datasets/README.md` (`report`, `cells`, `violations`, `ambiguous`, `notes`,
`flattener` = "digital_pdf") plus `family`, `render` (renderer, frame, labels, proactive layout,
fonts, pages, ...) and, for reportlab only, `boxes` (cell boxes in PDF points; LibreOffice and
Chromium lay the page out themselves, so their boxes are not known).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

from .render import Document, GCell, Grid, Para, random_agency, render

# Label column widths (characters) of table 三 live in render_office, which reads them too
from .render_office import NARROW_LABELS, NORMAL_LABELS, SINGLE_NARROW, SINGLE_NORMAL
from .render_pdf import FONT_KEYS, TABLE_STYLES, random_pdf_style, render_pdf
from .values import ReportValues, random_values

RENDERERS = ("reportlab", "libreoffice", "chromium")
FRAMES = (
    "grid",
    "bold_outer_frame",
    "frame_no_row_rules",
    "outer_header",
    "horizontal",
    "three_line",
    "vertical_only",
    "none",
)
LABEL_LAYOUTS = ("merged", "indented", "group_rows")
PROACTIVE_LAYOUTS = ("one", "subtables")
INDENT = "\u3000"  # one full-width space per indentation level



@dataclass
class FamilyStyle:
    """One draw from a family: everything that decides how the tables look."""

    renderer: str = "reportlab"
    frame: str = "grid"
    labels: str = "merged"
    label_chars: tuple[tuple[float, float], ...] | None = None  # None: the generator's widths
    proactive: str = "one"
    subtable_width: str = "own"  # own | uniform (as wide as the widest, unused columns empty)
    subtable_title: str = "row"  # row | caption
    value_align: str = "center"  # center | right | left
    label_align: str = "left"  # left | center
    value_valign: str = "center"  # top | center | bottom
    label_valign: str = "center"
    header_fill: bool = False
    repeat_header: bool = True
    table_size: float = 9.0
    font: str = "stsong"  # a render_pdf font key (reportlab) or a CSS/Word family name
    line_width: float = 0.6


@dataclass(frozen=True)
class FamilySpec:
    """A named, documented distribution of table styles."""

    name: str
    description: str
    renderer: str  # reportlab | libreoffice | chromium (the one every draw uses)
    sample: Callable[[random.Random], FamilyStyle]
    seen: bool = False  # True only for the generator's own styles (what the shipped model was tuned on)
    failure_class: int | None = None  # the issue-15 failure class the family reproduces


@dataclass
class RenderedFamily:
    pdf: bytes
    truth: dict[str, Any]
    renderer: str
    family: str
    style: FamilyStyle
    document: Document
    pages: int


# ----------------------------------------------------------------------------- shared variation

# Fonts offices use, by renderer. reportlab can only embed TrueType: render_pdf's font keys.
OFFICE_FONTS = (
    "SimSun",
    "宋体",
    "AR PL UMing CN",
    "WenQuanYi Zen Hei",
    "Noto Serif CJK SC",
    "Noto Sans CJK SC",
    "仿宋",
)


def _common(rng: random.Random, renderer: str, **fixed: Any) -> FamilyStyle:
    """The variation every family has: alignment, font and size, shading, repeated headers."""
    st = FamilyStyle(
        renderer=renderer,
        value_align=rng.choices(["center", "right", "left"], weights=[0.6, 0.35, 0.05])[0],
        label_align=rng.choices(["left", "center"], weights=[0.7, 0.3])[0],
        value_valign=rng.choices(["center", "top", "bottom"], weights=[0.6, 0.3, 0.1])[0],
        label_valign=rng.choices(["center", "top"], weights=[0.75, 0.25])[0],
        header_fill=rng.random() < 0.3,
        repeat_header=rng.random() < 0.5,
        table_size=rng.choice([7.5, 8.0, 9.0, 9.0, 10.0, 10.5]),
        font=rng.choice(FONT_KEYS) if renderer == "reportlab" else rng.choice(OFFICE_FONTS),
        line_width=rng.choice([0.4, 0.5, 0.75, 1.0]),
    )
    return replace(st, **fixed)


def _labels(rng: random.Random, weights: Sequence[float] = (0.6, 0.2, 0.2), narrow: float = 0.5) -> dict[str, Any]:
    """A label layout for table 三 and its column widths (narrow: labels wrap over 2-4 lines)."""
    labels = rng.choices(LABEL_LAYOUTS, weights=weights)[0]
    is_narrow = rng.random() < narrow
    if labels == "merged":
        chars = NARROW_LABELS if is_narrow else NORMAL_LABELS
    else:
        chars = SINGLE_NARROW if is_narrow else SINGLE_NORMAL
    return {"labels": labels, "label_chars": chars}


def _frame_no_row_rules(rng: random.Random) -> FamilyStyle:
    # Word-made reports: figures often sit at the top of their (tall) row, labels centred or top
    return _common(
        rng,
        "reportlab",
        frame="frame_no_row_rules",
        labels="merged",
        label_chars=NARROW_LABELS,
        value_valign=rng.choices(["top", "center", "bottom"], weights=[0.45, 0.45, 0.1])[0],
        label_valign=rng.choices(["center", "top"], weights=[0.6, 0.4])[0],
    )


def _frame_family(frame: str, **extra: Any) -> Callable[[random.Random], FamilyStyle]:
    """A family fixed on one frame; the label layout and widths vary inside it."""

    def sample(rng: random.Random) -> FamilyStyle:
        return _common(rng, "reportlab", frame=frame, **_labels(rng), **extra)

    return sample


def _grid_merged_labels(rng: random.Random) -> FamilyStyle:
    return _common(rng, "reportlab", frame="grid", labels="merged", label_chars=NARROW_LABELS)


def _indented(rng: random.Random) -> FamilyStyle:
    frame = rng.choices(["grid", "horizontal", "outer_header", "frame_no_row_rules"], weights=[0.4, 0.2, 0.2, 0.2])[0]
    return _common(rng, "reportlab", frame=frame, **_labels(rng, (0, 1, 0)))


def _group_rows(rng: random.Random) -> FamilyStyle:
    frame = rng.choices(["grid", "three_line", "horizontal"], weights=[0.5, 0.25, 0.25])[0]
    return _common(rng, "reportlab", frame=frame, **_labels(rng, (0, 0, 1)))


def _no_rules_aligned(rng: random.Random) -> FamilyStyle:
    st = _common(rng, "reportlab", frame="none", **_labels(rng))
    return replace(st, value_align=rng.choices(["right", "center"], weights=[0.8, 0.2])[0], header_fill=False)


def _subtables(rng: random.Random) -> dict[str, Any]:
    return {
        "proactive": "subtables",
        "subtable_width": rng.choice(["own", "uniform"]),
        "subtable_title": rng.choices(["row", "caption"], weights=[0.6, 0.4])[0],
    }


def _proactive_subtables(rng: random.Random) -> FamilyStyle:
    frame = rng.choices(["grid", "frame_no_row_rules", "horizontal", "three_line"], weights=[0.4, 0.2, 0.2, 0.2])[0]
    return _common(rng, "reportlab", frame=frame, **_labels(rng, narrow=0.3), **_subtables(rng))


OFFICE_FRAMES = ("grid", "frame_no_row_rules", "horizontal", "three_line", "bold_outer_frame", "outer_header")


def _office(renderer: str) -> Callable[[random.Random], FamilyStyle]:
    def sample(rng: random.Random) -> FamilyStyle:
        frame = rng.choices(OFFICE_FRAMES, weights=[0.35, 0.25, 0.1, 0.1, 0.1, 0.1])[0]
        extra = _subtables(rng) if rng.random() < 0.3 else {}
        st = _common(rng, renderer, frame=frame, **_labels(rng, (0.6, 0.2, 0.2), narrow=0.5), **extra)
        if renderer == "libreoffice":  # Word's default cell alignment is top
            st = replace(st, value_valign=rng.choices(["top", "center"], weights=[0.5, 0.5])[0])
        return st

    return sample


def _generator(table_style: str) -> Callable[[random.Random], FamilyStyle]:
    # today's generator as it is (render_pdf's own random page style), its frame fixed: the "seen" data
    def sample(rng: random.Random) -> FamilyStyle:
        return FamilyStyle(renderer="reportlab", frame=f"generator:{table_style}")

    return sample


_D_VARIATION = " Alignment, font and size, header shading, repeated header vary inside the family."

FAMILIES: dict[str, FamilySpec] = {
    f.name: f
    for f in (
        FamilySpec(
            "frame_no_row_rules",
            "Outer frame, boxed header, one vertical rule between the label columns and the figures, no "
            "rules between body rows. Table 三 has three merged label columns (三、本年度办理结果 one "
            "character a line beside （三）不予公开 beside 1.属于国家秘密) narrow enough that labels wrap "
            "over 2–4 lines, so a label block is as tall as several lines of figures; figures top-, centre- "
            "or bottom-aligned in their row." + _D_VARIATION,
            "reportlab",
            _frame_no_row_rules,
            failure_class=1,
        ),
        FamilySpec(
            "grid_merged_labels",
            "Full grid; table 三 with three narrow merged label columns and the group labels stacked "
            "vertically (one character a line); labels wrap over 2–4 lines." + _D_VARIATION,
            "reportlab",
            _grid_merged_labels,
        ),
        FamilySpec(
            "indented_single_label_column",
            "Table 三 with one label column: group labels (三、本年度办理结果, （三）不予公开, ...) on rows of "
            "their own with empty cells beside them, each level indented with full-width spaces. Frame: "
            "grid, horizontal rules, outer frame + header rule, or frame without row rules." + _D_VARIATION,
            "reportlab",
            _indented,
        ),
        FamilySpec(
            "group_label_rows",
            "Table 三 with one label column; each group label is a row of its own spanning the whole "
            "table, shared by the rows under it; labels not indented. Frame: grid, three-line or "
            "horizontal rules." + _D_VARIATION,
            "reportlab",
            _group_rows,
        ),
        FamilySpec(
            "three_line",
            "三线表: heavy top and bottom rules, a rule under the header; label layouts merged, indented or "
            "group rows; narrow or normal label columns." + _D_VARIATION,
            "reportlab",
            _frame_family("three_line"),
        ),
        FamilySpec(
            "horizontal_only",
            "Horizontal rules only (every cell's top and bottom), no vertical rules; label layouts and "
            "widths vary." + _D_VARIATION,
            "reportlab",
            _frame_family("horizontal"),
        ),
        FamilySpec(
            "vertical_only",
            "Vertical rules only (every cell's left and right edges), no horizontal rule at all; label "
            "layouts and widths vary." + _D_VARIATION,
            "reportlab",
            _frame_family("vertical_only"),
        ),
        FamilySpec(
            "bold_outer_frame",
            "Full grid inside a heavy outer frame (3 x the rule width); label layouts and widths vary." + _D_VARIATION,
            "reportlab",
            _frame_family("bold_outer_frame"),
        ),
        FamilySpec(
            "outer_frame_header_rule",
            "Outer frame plus one rule under the header rows, nothing else; label layouts and widths vary."
            + _D_VARIATION,
            "reportlab",
            _frame_family("outer_header"),
        ),
        FamilySpec(
            "no_rules_aligned",
            "No rules at all; columns kept only by alignment (figures mostly right-aligned), no shading; "
            "label layouts and widths vary." + _D_VARIATION,
            "reportlab",
            _no_rules_aligned,
        ),
        FamilySpec(
            "proactive_subtables",
            "Table 二 printed as one small table per 第二十条 item, each with its own 信息内容 header: own "
            "width, or all as wide as the widest with unused columns left empty (rows such as 行政许可 then "
            "have fewer figures than columns); the item title as the first row or as a caption line above. "
            "Frame: grid, frame without row rules, horizontal, three-line." + _D_VARIATION,
            "reportlab",
            _proactive_subtables,
            failure_class=2,
        ),
        FamilySpec(
            "word_libreoffice",
            "A Word document (python-docx: real merged cells, cell borders per frame, Word's top cell "
            "alignment half the time, header rows marked to repeat or not) converted to PDF by LibreOffice "
            "Writer. Frames: grid, frame without row rules, horizontal, three-line, bold outer frame, outer "
            "frame + header rule; all label layouts; table 二 as sub-tables 30 %; office fonts (宋体/SimSun, "
            "AR PL UMing, WenQuanYi Zen Hei, Noto CJK, 仿宋) as LibreOffice substitutes them.",
            "libreoffice",
            _office("libreoffice"),
        ),
        FamilySpec(
            "html_chromium",
            "An HTML page (table with rowspan/colspan, CSS borders per frame, header rows in <thead> so "
            "Chromium repeats them on a new page, or not) printed to PDF by headless Chromium. Same frames, "
            "label layouts and sub-table share as word_libreoffice; CSS font stacks of office fonts.",
            "chromium",
            _office("chromium"),
        ),
        *(
            FamilySpec(
                f"generator_{ts}",
                f"SEEN. Today's generator unchanged (render_pdf's random page style, three merged label columns, "
                f"table 二 as one table) with its frame fixed to {ts}: the data the shipped model, calibrator and "
                "thresholds were tuned on. A reference, not a held-out family.",
                "reportlab",
                _generator(ts),
                seen=True,
            )
            for ts in TABLE_STYLES
        ),
    )
}
SEEN_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if f.seen)
HELD_OUT_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if not f.seen)


# ----------------------------------------------------------------------------- document transforms


def _label_levels(g: Grid) -> tuple[int, dict[int, list[GCell]], dict[int, GCell]]:
    """Of a merged-label applications grid: the number of label columns, the group cells starting
    on each row (left to right) and each data row's label cell."""
    n_label = min(c.col for c in g.cells if c.role == "value")
    groups: dict[int, list[GCell]] = {}
    labels: dict[int, GCell] = {}
    for c in g.cells:
        if g.row_kinds[c.row] != "data":
            continue
        if c.role == "group":
            groups.setdefault(c.row, []).append(c)
        elif c.role == "label":
            labels[c.row] = c
    for v in groups.values():
        v.sort(key=lambda c: c.col)
    return n_label, groups, labels


def single_label_column(g: Grid, mode: str) -> Grid:
    """Table 三 with one label column: group labels (三、本年度办理结果, （三）不予公开, ...) on rows of
    their own above the rows they group. `indented`: the group row has only its label cell (empty
    value cells beside it) and every level is indented; `group_rows`: the group label spans the
    whole row, labels are not indented."""
    n_label, groups, labels = _label_levels(g)
    shift = n_label - 1
    out = Grid(g.key, g.ncols - shift)
    row_map: dict[int, int] = {}
    for r, kind in enumerate(g.row_kinds):
        if kind != "data":
            row_map[r] = out.add_row(kind, g.row_ids[r])
    for c in g.cells:  # header rows: the label-column note collapses to one column
        if g.row_kinds[c.row] == "data":
            continue
        if c.col < n_label:
            col, span = 0, max(1, c.colspan - shift)
        else:
            col, span = c.col - shift, c.colspan
        out.add(row_map[c.row], col, c.text, c.role, c.rowspan, span, c.cell_id)
    for r, kind in enumerate(g.row_kinds):
        if kind != "data":
            continue
        for grp in groups.get(r, []):
            gr = out.add_row("group")
            text = (INDENT * grp.col if mode == "indented" else "") + grp.text
            if mode == "indented":
                out.add(gr, 0, text, "group")
                for col in range(1, out.ncols):
                    out.add(gr, col, "", "blank")
            else:
                out.add(gr, 0, text, "group", colspan=out.ncols)
        nr = out.add_row("data", g.row_ids[r])
        lab = labels[r]
        out.add(nr, 0, (INDENT * lab.col if mode == "indented" else "") + lab.text, "label")
        for c in g.cells:
            if c.row == r and c.role == "value":
                out.add(nr, c.col - shift, c.text, "value", cell_id=c.cell_id)
    return out


def proactive_subtables(g: Grid, width: str, title: str) -> list[Para | Grid]:
    """Table 二 as one small table per 第二十条 item, each with its own header row.

    `width` own: each sub-table has 信息内容 plus its own value columns; uniform: all are as wide as
    the widest, the unused columns printed empty (a row such as 行政许可 then has fewer figures than
    columns). `title` row: the item title is the sub-table's first row; caption: a line above it.
    """
    blocks: list[Para | Grid] = []
    rows = g.rows()
    parts: list[list[int]] = []
    for r, kind in enumerate(g.row_kinds):
        if kind == "section":
            parts.append([r])
        else:
            parts[-1].append(r)
    widest = max(sum(1 for c in rows[p[1]] if c.col > 0) for p in parts)
    for part in parts:
        sec, head, data = part[0], part[1], part[2:]
        heads = [c for c in rows[head] if c.col > 0]
        n_val = len(heads) if width == "own" else widest
        sub = Grid(g.key, 1 + n_val)
        if title == "caption":
            blocks.append(Para(rows[sec][0].text, "caption"))
        else:
            r = sub.add_row("section")
            sub.add(r, 0, rows[sec][0].text, "section", colspan=1 + n_val)
        r = sub.add_row("colheader")
        sub.add(r, 0, rows[head][0].text, "colheader")
        for i in range(n_val):
            sub.add(r, 1 + i, heads[i].text if i < len(heads) else "", "colheader")
        for dr in data:
            r = sub.add_row("data", g.row_ids[dr])
            sub.add(r, 0, rows[dr][0].text, "label")
            vals = [c for c in rows[dr] if c.col > 0]
            for i in range(n_val):
                if i < len(vals):
                    sub.add(r, 1 + i, vals[i].text, "value", cell_id=vals[i].cell_id)
                else:
                    sub.add(r, 1 + i, "", "blank")
        blocks.append(sub)
    return blocks


def family_document(doc: Document, fs: FamilyStyle) -> Document:
    """The family's version of `doc`: table 三's label columns and table 二's layout rearranged
    (cell texts, values and cell ids unchanged, so the truth is the same)."""
    blocks: list[Para | Grid] = []
    for b in doc.blocks:
        if isinstance(b, Grid) and b.key == "applications" and fs.labels != "merged":
            blocks.append(single_label_column(b, fs.labels))
        elif isinstance(b, Grid) and b.key == "proactive" and fs.proactive == "subtables":
            blocks.extend(proactive_subtables(b, fs.subtable_width, fs.subtable_title))
        else:
            blocks.append(b)
    return replace(doc, blocks=blocks)


# ----------------------------------------------------------------------------- rendering


def _reportlab(doc: Document, fs: FamilyStyle, rng: random.Random) -> tuple[bytes, int, dict[str, Any], dict[str, Any]]:
    base = random_pdf_style(rng)
    if fs.frame.startswith("generator:"):
        r = render_pdf(doc, rng, style=replace(base, table_style=fs.frame.split(":", 1)[1]))
        return r.pdf, r.pages, r.boxes, r.info
    pst = replace(
        base,
        table_font=fs.font,
        table_style=fs.frame,
        table_size=fs.table_size,
        header_fill=fs.header_fill,
        repeat_header=fs.repeat_header,
        value_align=fs.value_align,
        label_align=fs.label_align,
        value_valign=fs.value_valign,
        label_valign=fs.label_valign,
        line_width=fs.line_width,
        label_chars=fs.label_chars,
        # sub-tables each on a fresh page would spread table 二 over five pages
        table_new_page=0.0 if fs.proactive == "subtables" else base.table_new_page,
    )
    r = render_pdf(doc, rng, style=pst)
    return r.pdf, r.pages, r.boxes, r.info


def _values_for_index(index: int, family: str, seed: int) -> tuple[ReportValues, str, int, random.Random]:
    from .generate import FORMAT_WEIGHTS, YEARS

    rng = random.Random(f"gongkai-families:{family}:{seed}:{index}")
    fmt = rng.choices(list(FORMAT_WEIGHTS), weights=list(FORMAT_WEIGHTS.values()))[0]
    variants = (VARIANT_OTHER_SINGLE_ROW,) if fmt == "2021" and rng.random() < 0.15 else ()
    year = rng.randint(*YEARS[fmt])
    agency = random_agency(rng)
    rv = random_values(rng, fmt, variants, blank_rate=0.12, positional_blanks=True, violation_rate=0.2)
    return rv, agency, year, rng


def _truth(rv: ReportValues, doc: Document, family: str, fs: FamilyStyle) -> dict[str, Any]:
    from .generate import truth_record

    t = truth_record(rv, doc, "digital_pdf")
    t["notes"] = t["notes"].replace("digital_pdf", f"digital_pdf, family {family} ({fs.renderer})", 1)
    t["family"] = family
    return t


def _prepare(rv: ReportValues, agency: str, year: int, family: str, rng: random.Random) -> tuple[Document, FamilyStyle]:
    spec = family_spec(family)
    doc = render(rv, agency, year, rng)
    fs = spec.sample(rng)
    return family_document(doc, fs), fs


def family_spec(family: str) -> FamilySpec:
    if family not in FAMILIES:
        raise ValueError(f"unknown style family {family!r}; known: {list(FAMILIES)}")
    return FAMILIES[family]


def _finish(
    rv: ReportValues, doc: Document, fs: FamilyStyle, family: str, rng: random.Random, pdf: bytes | None = None
) -> RenderedFamily:
    truth = _truth(rv, doc, family, fs)
    info: dict[str, Any] = {"family": family, **asdict(fs)}
    if fs.renderer == "reportlab":
        pdf, pages, boxes, rinfo = _reportlab(doc, fs, rng)
        truth["boxes"] = {cid: boxes[cid] for cid in rv.layout.cell_ids if cid in boxes}
        info.update({k: v for k, v in rinfo.items() if k not in info})
    else:
        if pdf is None:
            raise ValueError(f"renderer {fs.renderer} needs the converted PDF")
        pages = _count_pages(pdf)
        info["pages"] = pages
    info["kind"] = "digital_pdf"
    truth["render"] = info
    return RenderedFamily(pdf, truth, fs.renderer, family, fs, doc, pages)


def _count_pages(pdf: bytes) -> int:
    import pypdfium2

    doc = pypdfium2.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def _source(
    source: ReportValues | int | dict[str, Any] | str | Path, family: str, rng: random.Random | None, seed: int
) -> tuple[ReportValues, str, int, random.Random]:
    if isinstance(source, int):
        rv, agency, year, r = _values_for_index(source, family, seed)
        return rv, agency, year, rng or r
    if isinstance(source, ReportValues):
        r = rng or random.Random(f"gongkai-families:{family}:{seed}:values")
        return source, random_agency(r), 2023, r
    t = json.loads(Path(source).read_text(encoding="utf-8")) if isinstance(source, str | Path) else source
    report = t["report"]
    rv = ReportValues(report["format"], tuple(report.get("variants", [])), dict(t["cells"]))
    stem = Path(source).stem if isinstance(source, str | Path) else report.get("agency", "")
    r = rng or random.Random(f"gongkai-families:labeled:{family}:{seed}:{stem}")
    return rv, report.get("agency") or random_agency(r), report.get("year") or 2023, r


def render_family(
    source: ReportValues | int | dict[str, Any] | str | Path,
    family: str,
    rng: random.Random | None = None,
    *,
    seed: int = 0,
) -> RenderedFamily:
    """Render one report in a style family.

    `source`: an index (report `index` of stream `seed`: values, agency and year drawn like the
    generator's, a pure function of (family, seed, index)), `ReportValues`, or a truth dict / truth
    JSON path (the labeled seeds and real reports: their cells rendered in the family). `rng`
    overrides the random stream (style and narrative). LibreOffice / Chromium families need their
    binary (`render_office.require`), else `RendererUnavailable`.
    """
    return render_family_many([source], family, seed=seed, rngs=[rng] if rng else None)[0]


def render_truth(truth: dict[str, Any] | str | Path, family: str, rng: random.Random | None = None, *, seed: int = 0):
    """A labeled report's cells (its truth dict or JSON path) rendered in a family."""
    return render_family(truth, family, rng, seed=seed)


def render_family_many(
    sources: Sequence[ReportValues | int | dict[str, Any] | str | Path],
    family: str,
    *,
    seed: int = 0,
    rngs: Sequence[random.Random | None] | None = None,
) -> list[RenderedFamily]:
    """Render several reports in one family; LibreOffice converts them in one process (start-up once)."""
    spec = family_spec(family)
    prepared = []
    for i, src in enumerate(sources):
        rv, agency, year, rng = _source(src, family, rngs[i] if rngs else None, seed)
        doc, fs = _prepare(rv, agency, year, family, rng)
        prepared.append((rv, doc, fs, rng))
    if spec.renderer == "reportlab":
        return [_finish(rv, doc, fs, family, rng) for rv, doc, fs, rng in prepared]
    from . import render_office

    pdfs = render_office.convert([(doc, fs, rng) for _, doc, fs, rng in prepared], spec.renderer)
    return [_finish(rv, doc, fs, family, rng, pdf) for (rv, doc, fs, rng), pdf in zip(prepared, pdfs, strict=True)]


def labeled_truths() -> list[Path]:
    """The 8 labeled real reports' truth files (5 seeds, 3 real PDFs)."""
    here = Path(__file__).resolve().parent
    return sorted((here / "seeds" / "truth").glob("*.json")) + sorted((here / "real" / "truth").glob("*.json"))


__all__ = [
    "FAMILIES",
    "FRAMES",
    "HELD_OUT_FAMILIES",
    "LABEL_LAYOUTS",
    "PROACTIVE_LAYOUTS",
    "RENDERERS",
    "SEEN_FAMILIES",
    "FamilySpec",
    "FamilyStyle",
    "RenderedFamily",
    "family_document",
    "labeled_truths",
    "render_family",
    "render_family_many",
    "render_truth",
    "write_family",
]


def write_family(
    family: str, n: int, out_dir: str | Path, seed: int = 0, *, start: int = 0, labeled: bool = False
) -> list[Path]:
    """Write reports start..start+n-1 of a family (and the 8 labeled reports with `labeled`) as
    `out_dir/<id>.pdf` + `out_dir/truth/<id>.json`; ids `fam-<family>-<seed>-<index>` or
    `fam-<family>-<seed>-<labeled stem>`. Returns the PDFs written."""
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    sources: list[Any] = list(range(start, start + n)) + (labeled_truths() if labeled else [])
    written = []
    for src, r in zip(sources, render_family_many(sources, family, seed=seed), strict=True):
        rid = f"fam-{family}-{seed}-{src:05d}" if isinstance(src, int) else f"fam-{family}-{seed}-{Path(src).stem}"
        (out / f"{rid}.pdf").write_bytes(r.pdf)
        text = json.dumps(r.truth, ensure_ascii=False, indent=1) + "\n"
        (out / "truth" / f"{rid}.json").write_text(text, encoding="utf-8")
        written.append(out / f"{rid}.pdf")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m gongkai_datasets.families", description="Render reports in table-style families."
    )
    ap.add_argument("--families", default="", help=f"comma-separated (default all): {','.join(FAMILIES)}")
    ap.add_argument("--n", type=int, default=20, help="reports per family")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--labeled", action="store_true", help="also the 8 labeled reports in every family")
    ap.add_argument("--out", required=True, help="folder: OUT/<family>/<id>.pdf and OUT/<family>/truth/<id>.json")
    ap.add_argument("--list", action="store_true", help="print the families and their descriptions, then exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, spec in FAMILIES.items():
            print(f"{name} [{spec.renderer}{', seen' if spec.seen else ''}]: {spec.description}")
        return 0
    names = [f.strip() for f in args.families.split(",") if f.strip()] or list(FAMILIES)
    for name in names:
        family_spec(name)
    for name in names:
        written = write_family(name, args.n, Path(args.out) / name, args.seed, start=args.start, labeled=args.labeled)
        print(f"{name}: {len(written)} reports in {Path(args.out) / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
