"""Render a `Document` the way offices make their PDFs: a Word file (python-docx) converted by
LibreOffice Writer, or an HTML page printed by headless Chromium.

    from gongkai_datasets.render_office import convert, available
    pdfs = convert([(doc, family_style, rng), ...], "libreoffice")   # one soffice process for all
    pdfs = convert([(doc, family_style, rng)], "chromium")

Both draw the tables of the document model with real merged cells; the frame of a
`families.FamilyStyle` becomes per-cell borders (`cell_edges`), the same rules reportlab draws
(`render_pdf.draw_grid`). Line wrapping and page breaks are the engine's own: that is the point
(a reader must not depend on reportlab's text placement). Cell boxes are therefore not known.

Binaries: `soffice` (Debian `libreoffice-writer-nogui`) and `chromium`. `available(renderer)` says
whether one is installed; `convert` raises `RendererUnavailable` when it is not and
`RendererFailed` when a conversion fails or runs past its timeout. Each LibreOffice process gets a
profile of its own (`-env:UserInstallation`), each Chromium one a `--user-data-dir` of its own, so
several processes can convert side by side.
"""

from __future__ import annotations

import html as html_lib
import io
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .render import Document, GCell, Grid, Para

if TYPE_CHECKING:
    from .families import FamilyStyle

# Label column widths (characters) of table 三, per label column (families.py chooses among them).
NARROW_LABELS: tuple[tuple[float, float], ...] = ((1.0, 1.35), (2.2, 3.6), (3.6, 5.6))
NORMAL_LABELS: tuple[tuple[float, float], ...] = ((1.2, 2.6), (3.0, 6.0), (6.0, 11.0))
SINGLE_NARROW: tuple[tuple[float, float], ...] = ((4.5, 7.0),)
SINGLE_NORMAL: tuple[tuple[float, float], ...] = ((9.0, 15.0),)

SOFFICE_TIMEOUT_S = 60.0  # per call, plus SOFFICE_PER_FILE_S per document
SOFFICE_PER_FILE_S = 8.0
CHROMIUM_TIMEOUT_S = 60.0  # per page printed
BINARIES = {"libreoffice": ("soffice", "libreoffice"), "chromium": ("chromium", "chromium-browser", "google-chrome")}
HEADER_KINDS = ("header", "colheader", "section")
HEADER_ROLES = ("header", "colheader", "section", "note")


class RendererUnavailable(RuntimeError):
    """The renderer's binary is not installed here."""


class RendererFailed(RuntimeError):
    """A conversion failed or ran past its timeout."""


def binary(renderer: str) -> str | None:
    """Path of the renderer's binary, or None when not installed."""
    for name in BINARIES.get(renderer, ()):
        found = shutil.which(name)
        if found:
            return found
    return None


def available(renderer: str) -> bool:
    return binary(renderer) is not None


def require(renderer: str) -> str:
    found = binary(renderer)
    if not found:
        need = {"libreoffice": "Debian libreoffice-writer-nogui (soffice)", "chromium": "Debian chromium"}
        raise RendererUnavailable(f"{renderer}: {need.get(renderer, renderer)} is not installed")
    return found


# ----------------------------------------------------------------------------- frames as cell borders


def _n_label(g: Grid) -> int:
    return min((c.col for c in g.cells if c.role == "value"), default=1)


def cell_edges(g: Grid, c: GCell, frame: str, lw: float) -> dict[str, float]:
    """Width in points of each edge (top, bottom, left, right) of cell `c` that the frame draws (0: none).

    Shared edges are decided the same way from both sides where the frame is symmetric; where it is
    not (a boxed header over an unruled body) the drawn side wins, as in Word and CSS.
    """
    last_row = c.row + c.rowspan - 1
    at = {
        "top": c.row == 0,
        "bottom": last_row == g.nrows - 1,
        "left": c.col == 0,
        "right": c.col + c.colspan == g.ncols,
    }
    header_like = all(g.row_kinds[r] in HEADER_KINDS for r in range(c.row, last_row + 1))
    nxt = g.row_kinds[last_row + 1] if last_row + 1 < g.nrows else None
    under_header = g.row_kinds[last_row] in HEADER_KINDS and nxt is not None and nxt not in HEADER_KINDS
    e = dict.fromkeys(("top", "bottom", "left", "right"), 0.0)
    if frame == "grid":
        e = dict.fromkeys(e, lw)
    elif frame == "bold_outer_frame":
        e = {k: lw * 3 if at[k] else lw for k in e}
    elif frame == "horizontal":
        e.update(top=lw, bottom=lw)
    elif frame == "vertical_only":
        e.update(left=lw, right=lw)
    elif frame in ("frame_no_row_rules", "outer_header"):
        e = {k: lw if at[k] else 0.0 for k in e}
        if frame == "frame_no_row_rules":
            if header_like:
                e = dict.fromkeys(e, lw)
            n = _n_label(g)
            if c.col == n:
                e["left"] = lw
            if c.col + c.colspan == n:
                e["right"] = lw
        elif under_header:
            e["bottom"] = lw
    elif frame == "three_line":
        if at["top"]:
            e["top"] = lw * 2
        if at["bottom"]:
            e["bottom"] = lw * 2
        if under_header or (nxt == "section" and g.row_kinds[last_row] not in HEADER_KINDS):
            e["bottom"] = lw
    return e


def column_widths(g: Grid, fs: FamilyStyle, total: float, rng: random.Random) -> list[float]:
    """Column widths in points: label columns from the family's width in characters, the rest shared."""
    size = fs.table_size
    pad = 6.0
    n_label = _n_label(g)
    if g.key == "applications":
        chars = fs.label_chars or (NORMAL_LABELS if n_label == 3 else SINGLE_NORMAL)
        spans = [chars[min(i, len(chars) - 1)] for i in range(n_label)]
        fixed = [size * rng.uniform(lo, hi) + pad for lo, hi in spans]
    elif g.key == "proactive":
        fixed = [total * rng.uniform(0.26, 0.42)]
    else:
        fixed = []
    n_val = g.ncols - len(fixed)
    room = max(total - sum(fixed), n_val * (size * 3 + pad))
    weights = [rng.uniform(0.9, 1.1) for _ in range(n_val)]
    widths = fixed + [room * w / sum(weights) for w in weights]
    scale = total / sum(widths)
    return [w * scale for w in widths]


def _align(c: GCell, fs: FamilyStyle) -> tuple[str, str]:
    if c.role == "value":
        return fs.value_align, fs.value_valign
    if c.role == "label":
        return fs.label_align, fs.label_valign
    if c.role == "group":
        return "center" if fs.labels == "merged" else "left", fs.label_valign
    return "center", "center"


# ----------------------------------------------------------------------------- Word (python-docx)


def to_docx(doc: Document, fs: FamilyStyle, rng: random.Random, new_page_for: frozenset[str] = frozenset()) -> bytes:
    """A Word document of `doc` with the family's table style (borders per cell, merged cells).
    `new_page_for`: keys of tables that start a page (with the paragraph just before them)."""
    import docx as python_docx
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn
    from docx.shared import Pt

    d = python_docx.Document()
    sec = d.sections[0]
    sec.page_width, sec.page_height = Pt(595.3), Pt(841.9)
    margin = rng.uniform(54, 90)
    sec.left_margin = sec.right_margin = Pt(margin)
    sec.top_margin = sec.bottom_margin = Pt(rng.uniform(54, 80))
    total = 595.3 - 2 * margin
    normal = d.styles["Normal"]
    normal.font.name = fs.font
    normal.font.size = Pt(rng.choice([10.5, 11.0, 12.0]))
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), fs.font)
    # Chinese text: LibreOffice then keeps closing brackets off the start of a line, as Word does
    normal.element.get_or_add_rPr().append(parse_xml(f'<w:lang {nsdecls("w")} w:eastAsia="zh-CN"/>'))
    h_align = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER, "right": WD_ALIGN_PARAGRAPH.RIGHT}
    v_align = {
        "top": WD_CELL_VERTICAL_ALIGNMENT.TOP,
        "center": WD_CELL_VERTICAL_ALIGNMENT.CENTER,
        "bottom": WD_CELL_VERTICAL_ALIGNMENT.BOTTOM,
    }
    last_para = None  # the paragraph just added, when the last block was one
    for b in doc.blocks:
        if isinstance(b, Para):
            if b.role == "junk":
                continue
            p = last_para = d.add_paragraph()
            run = p.add_run(b.text)
            if b.role in ("title", "agency"):
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                run.bold = True
                run.font.size = Pt(rng.choice([16, 18, 22]))
            elif b.role in ("heading", "caption"):
                run.bold = b.role == "heading"
            else:
                p.paragraph_format.first_line_indent = Pt(2 * 11)
            continue
        if b.key in new_page_for:
            if last_para is not None:
                last_para.paragraph_format.page_break_before = True
            else:
                d.add_page_break()
        last_para = None
        widths = column_widths(b, fs, total, rng)
        t = d.add_table(rows=b.nrows, cols=b.ncols)
        t.autofit = False
        for i, w in enumerate(widths):
            t.columns[i].width = Pt(w)
            for row in t.rows:
                row.cells[i].width = Pt(w)
        for r, kind in enumerate(b.row_kinds):
            if kind == "header" and fs.repeat_header:
                t.rows[r]._tr.get_or_add_trPr().append(parse_xml(f"<w:tblHeader {nsdecls('w')}/>"))
        for r in range(b.nrows):
            # LibreOffice leaves a ghost of a row split over a page break: rows never split
            t.rows[r]._tr.get_or_add_trPr().append(parse_xml(f"<w:cantSplit {nsdecls('w')}/>"))
        for c in b.cells:
            cell = t.cell(c.row, c.col)
            if c.rowspan > 1 or c.colspan > 1:
                cell = cell.merge(t.cell(c.row + c.rowspan - 1, c.col + c.colspan - 1))
            ha, va = _align(c, fs)
            para = cell.paragraphs[0]
            para.alignment = h_align[ha]
            para.paragraph_format.space_after = Pt(0)
            if c.text:
                run = para.add_run(c.text)
                run.font.size = Pt(fs.table_size)
            cell.vertical_alignment = v_align[va]
        tcs = _grid_tcs(t)
        for c in b.cells:
            edges = cell_edges(b, c, fs.frame, fs.line_width)
            xml = "".join(
                f'<w:{k} w:val="single" w:sz="{max(2, round(v * 8))}" w:space="0" w:color="000000"/>'
                if v
                else f'<w:{k} w:val="nil"/>'
                for k, v in edges.items()
            )
            # every piece of a vertically merged cell carries the borders (LibreOffice draws each piece)
            for r in range(c.row, c.row + c.rowspan):
                tc_pr = tcs[(r, c.col)].get_or_add_tcPr()
                _insert_tcpr(tc_pr, parse_xml(f"<w:tcBorders {nsdecls('w')}>{xml}</w:tcBorders>"))
                if fs.header_fill and c.role in HEADER_ROLES:
                    shd = f'<w:shd {nsdecls("w")} w:val="clear" w:color="auto" w:fill="D9D9D9"/>'
                    _insert_tcpr(tc_pr, parse_xml(shd))
        d.add_paragraph()
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


# tcPr children in schema order: an element goes before the first present one that follows it
_TCPR_ORDER = ("tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar", "textDirection")
_TCPR_ORDER += ("tcFitText", "vAlign", "hideMark")


def _insert_tcpr(tc_pr: Any, el: Any) -> None:
    from docx.oxml.ns import qn

    tag = el.tag.rsplit("}", 1)[1]
    later = {qn(f"w:{t}") for t in _TCPR_ORDER[_TCPR_ORDER.index(tag) + 1 :]}
    for child in tc_pr:
        if child.tag in later:
            child.addprevious(el)
            return
    tc_pr.append(el)


def _grid_tcs(t: Any) -> dict[tuple[int, int], Any]:
    """(row, grid column) -> the <w:tc> starting there, continuation pieces of vertical merges included."""
    from docx.oxml.ns import qn

    out = {}
    for r, row in enumerate(t.rows):
        col = 0
        for tc in row._tr.findall(qn("w:tc")):
            out[(r, col)] = tc
            pr = tc.tcPr
            span = pr.find(qn("w:gridSpan")) if pr is not None else None
            col += int(span.get(qn("w:val"))) if span is not None else 1
    return out


# ----------------------------------------------------------------------------- HTML


CSS_FONTS = {
    "SimSun": '"SimSun", "AR PL UMing CN", serif',
    "宋体": '"宋体", "Noto Serif CJK SC", serif',
    "仿宋": '"仿宋", "FangSong", "AR PL UMing CN", serif',
}


def to_html(doc: Document, fs: FamilyStyle, rng: random.Random) -> str:
    """An HTML page of `doc` for printing: tables with rowspan/colspan and per-cell CSS borders."""
    margin = rng.uniform(15, 28)
    total = 595.3 - 2 * margin * 72 / 25.4
    font = CSS_FONTS.get(fs.font, f'"{fs.font}", serif')
    body_size = rng.choice([10.5, 11.0, 12.0])
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html_lib.escape(doc.agency)}</title>",
        "<style>",
        f"@page {{ size: A4; margin: {margin:.1f}mm; }}",
        f"body {{ font-family: {font}; font-size: {body_size}pt; line-height: {rng.uniform(1.4, 1.8):.2f}; }}",
        "p { margin: 0.2em 0; } p.body { text-indent: 2em; } h1 { text-align: center; font-size: 18pt; }",
        "table { border-collapse: collapse; table-layout: fixed; margin: 0.5em 0; }",
        f"td, th {{ font-size: {fs.table_size}pt; font-weight: normal; padding: {rng.uniform(1, 4):.1f}px "
        f"{rng.uniform(2, 5):.1f}px; line-height: 1.25; word-break: break-all; border: none; }}",
        "tr { page-break-inside: avoid; }",
        "</style></head><body>",
    ]
    for b in doc.blocks:
        if isinstance(b, Para):
            t = html_lib.escape(b.text)
            if b.role == "junk":
                continue
            if b.role in ("title", "agency"):
                out.append(f"<h1>{t}</h1>")
            elif b.role == "heading":
                out.append(f"<p><b>{t}</b></p>")
            elif b.role in ("meta", "caption"):
                out.append(f"<p>{t}</p>")
            else:
                out.append(f'<p class="body">{t}</p>')
            continue
        widths = column_widths(b, fs, total, rng)
        out.append(f'<table style="width: {sum(widths):.1f}pt">')
        out.append("<colgroup>" + "".join(f'<col style="width: {w:.1f}pt">' for w in widths) + "</colgroup>")
        rows = b.rows()
        head = [r for r, k in enumerate(b.row_kinds) if k == "header"] if fs.repeat_header else []
        for part, idx in (("thead", head), ("tbody", [r for r in range(b.nrows) if r not in head])):
            if not idx:
                continue
            out.append(f"<{part}>")
            for r in idx:
                out.append("<tr>" + "".join(_td(b, c, fs) for c in rows[r]) + "</tr>")
            out.append(f"</{part}>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def _td(g: Grid, c: GCell, fs: FamilyStyle) -> str:
    ha, va = _align(c, fs)
    va = {"center": "middle"}.get(va, va)
    edges = cell_edges(g, c, fs.frame, fs.line_width)
    style = [f"text-align: {ha}", f"vertical-align: {va}"]
    style += [f"border-{k}: {v:.2f}pt solid #000" for k, v in edges.items() if v]
    if fs.header_fill and c.role in HEADER_ROLES:
        style.append("background: #d9d9d9")
    attrs = (f' rowspan="{c.rowspan}"' if c.rowspan > 1 else "") + (f' colspan="{c.colspan}"' if c.colspan > 1 else "")
    text = html_lib.escape(c.text) if c.text else ""
    return f'<td{attrs} style="{"; ".join(style)}">{text}</td>'


# ----------------------------------------------------------------------------- conversion


def _run(cmd: list[str], timeout: float, what: str, env: dict[str, str] | None = None) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RendererFailed(f"{what}: no result after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode("utf-8", "replace")[-400:]
        raise RendererFailed(f"{what}: exit status {proc.returncode}: {tail}")


def convert(items: Sequence[tuple[Document, FamilyStyle, random.Random]], renderer: str) -> list[bytes]:
    """PDF bytes of each (document, family style, rng), rendered by `renderer` (libreoffice | chromium)."""
    exe = require(renderer)
    if not items:
        return []
    with tempfile.TemporaryDirectory(prefix=f"gongkai-{renderer}-") as tmp:
        folder = Path(tmp)
        out = folder / "out"
        out.mkdir()
        env = {**os.environ, "HOME": str(folder)}
        if renderer == "libreoffice":
            states = [rng.getstate() for _, _, rng in items]
            pdfs = _soffice(exe, folder, env, [(doc, fs, rng, frozenset()) for doc, fs, rng in items], "d")
            # LibreOffice can print a table's first heading row at a page's foot and drop the rest
            # of the table (rows that may not split beside tall merged label cells): the PDF
            # holds no figure of it. An office would see the table gone and start it on a page of
            # its own; so do we, with the same draws, and fail if it stays lost.
            lost = {
                i: gone
                for i, ((doc, _, _), pdf) in enumerate(zip(items, pdfs, strict=True))
                if (gone := lost_tables(doc, pdf))
            }
            if lost:
                again = []
                for i, gone in lost.items():
                    doc, fs, rng = items[i]
                    rng.setstate(states[i])
                    again.append((doc, fs, rng, frozenset(gone)))
                for i, pdf in zip(lost, _soffice(exe, folder, env, again, "r"), strict=True):
                    if gone := lost_tables(items[i][0], pdf):
                        raise RendererFailed(f"LibreOffice lost table(s) {', '.join(gone)} of document {i}")
                    pdfs[i] = pdf
            return pdfs
        if renderer == "chromium":
            pdfs = []
            for i, (doc, fs, rng) in enumerate(items):
                src = folder / f"d{i:04d}.html"
                src.write_text(to_html(doc, fs, rng), encoding="utf-8")
                dst = out / f"d{i:04d}.pdf"
                cmd = [
                    exe,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-pdf-header-footer",
                    f"--user-data-dir={folder / 'chrome'}",
                    f"--print-to-pdf={dst}",
                    src.as_uri(),
                ]
                _run(cmd, CHROMIUM_TIMEOUT_S, "Chromium", env)
                pdfs.append(_read_pdf(dst, "Chromium"))
            return pdfs
    raise ValueError(f"unknown renderer {renderer!r}; known: {list(BINARIES)}")


def _soffice(
    exe: str,
    folder: Path,
    env: dict[str, str],
    items: Sequence[tuple[Document, FamilyStyle, random.Random, frozenset[str]]],
    tag: str,
) -> list[bytes]:
    """Each (document, style, rng, tables that start a page) as a Word file converted by one
    LibreOffice process."""
    out = folder / f"out-{tag}"
    out.mkdir()
    names = []
    for i, (doc, fs, rng, new_page_for) in enumerate(items):
        path = folder / f"{tag}{i:04d}.docx"
        path.write_bytes(to_docx(doc, fs, rng, new_page_for))
        names.append(path)
    cmd = [
        exe,
        f"-env:UserInstallation={(folder / 'profile').as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "pdf:writer_pdf_Export",
        "--outdir",
        str(out),
        *map(str, names),
    ]
    _run(cmd, SOFFICE_TIMEOUT_S + SOFFICE_PER_FILE_S * len(items), "LibreOffice", env)
    return [_read_pdf(out / f"{p.stem}.pdf", "LibreOffice") for p in names]


# A table counts as lost when its PDF's text misses more of its label cells than this share (and
# more than LOST_LABELS_MIN): a label wrapped in a narrow cell can come out of the text layer
# interleaved with its neighbour's lines, so one or two always "miss".
LOST_LABEL_SHARE = 0.25
LOST_LABELS_MIN = 3


def lost_tables(doc: Document, pdf: bytes) -> list[str]:
    """The keys of `doc`'s tables whose label cells the rendered PDF's text layer does not hold."""
    import pypdfium2 as pdfium

    pages = pdfium.PdfDocument(pdf)
    try:
        text = "".join(pages[i].get_textpage().get_text_range() for i in range(len(pages)))
    finally:
        pages.close()
    flat = re.sub(r"\s+", "", text)
    out = []
    for b in doc.blocks:
        if not isinstance(b, Grid):
            continue
        labels = [t for c in b.cells if c.role != "value" and len(t := re.sub(r"\s+", "", c.text)) >= 2]
        missing = sum(1 for t in labels if t not in flat)
        if missing > max(LOST_LABELS_MIN, LOST_LABEL_SHARE * len(labels)):
            out.append(b.key)
    return out


def _read_pdf(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise RendererFailed(f"{what} wrote no PDF for {path.stem}")
    data = path.read_bytes()
    if not data.startswith(b"%PDF"):
        raise RendererFailed(f"{what} wrote something that is not a PDF for {path.stem}")
    return data


def write_source(doc: Document, fs: FamilyStyle, rng: random.Random, path: str | Path) -> Path:
    """Write the intermediate file (.docx or .html) for inspection."""
    p = Path(path)
    if fs.renderer == "libreoffice":
        p.write_bytes(to_docx(doc, fs, rng))
    else:
        p.write_text(to_html(doc, fs, rng), encoding="utf-8")
    return p
