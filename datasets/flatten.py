"""Flatteners: turn a rendered `Document` into the text (or bytes) an input file would hold.

Each flattener is `fn(doc, rng) -> str | bytes` and is deterministic for a given `rng` state.
`FLATTENERS` maps the name to the function and its properties; `ALL` is the default mix, `EXTRA`
the styles kept out of it (asked for by name):

- `ext`: the file extension the generator writes.
- `positional`: whether a blank cell keeps its position in the output (tab fields, pipe cells,
  aligned columns, HTML/Word cells). Where it does not (pdf_text, one_line), the value generator
  only blanks whole rows, so the truth stays recoverable from the text.
- `fancy_numbers`: whether cells may be printed "3,119" or "22（其中修订16件）" (off for one_line,
  where every number is glued to the next).
"""

from __future__ import annotations

import html as html_lib
import io
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .render import Document, GCell, Grid, Para

# ----------------------------------------------------------------------------- helpers


def dwidth(s: str) -> int:
    """Display width: CJK and full-width characters count 2."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in s)


_NO_LINE_START = set("，。、；：？！）》」”’%")
_TOKEN = re.compile(r"[A-Za-z0-9.@\-:%/_+]+| |.", re.S)


def wrap(text: str, width: int, first_indent: int = 0) -> list[str]:
    """Hard-wrap at `width` display units; ASCII runs (numbers, e-mail) are never split."""
    lines: list[str] = []
    cur = ""
    cur_w = first_indent
    for tok in _TOKEN.findall(text):
        w = dwidth(tok)
        if cur and cur_w + w > width and tok != " " and tok not in _NO_LINE_START:
            lines.append(cur.rstrip())
            cur, cur_w = "", 0
            if tok == " ":
                continue
        cur += tok
        cur_w += w
    if cur.strip():
        lines.append(cur.rstrip())
    return lines or [""]


def _page_marker(rng: random.Random, n: int, style: str) -> str:
    return {"dash": f"- {n} -", "emdash": f"— {n} —", "page": f"第 {n} 页", "of": f"第{n}页"}[style]


# ----------------------------------------------------------------------------- grid -> fields


def grid_fields(g: Grid, r: int, matrix: list, expand: bool) -> list[tuple[str, str]]:
    """The fields of grid row r as (text, kind): kind is origin role, 'hcover', 'vcover' or 'empty'."""
    out: list[tuple[str, str]] = []
    for c in range(g.ncols):
        cell, how = matrix[r][c]
        if how == "origin":
            out.append((cell.text, cell.role))
        elif how == "hcover":
            if expand:
                out.append(("", "hcover"))
        else:
            out.append(("", how))
    return out


def _tab_rows(g: Grid, rng: random.Random) -> list[str]:
    expand = rng.random() < (0.6 if g.key == "proactive" else 0.35)
    trailing = rng.random() < 0.5
    matrix = g.matrix()
    lines: list[str] = []
    for r in range(g.nrows):
        fields = grid_fields(g, r, matrix, expand)
        kinds = [k for _, k in fields]
        texts = [t for t, _ in fields]
        # Trailing covered/empty fields are sometimes dropped (seed 000: "行政处罚\t0").
        if rng.random() < 0.15:
            while len(kinds) > 1 and kinds[-1] in ("hcover", "vcover", "empty"):
                kinds.pop()
                texts.pop()
        # Merged-label artifact: leading covered fields move behind the label ("3. 其他\t\t0...").
        if g.row_kinds[r] == "data" and kinds[0] == "vcover" and rng.random() < 0.06:
            lead = 0
            while kinds[lead] == "vcover":
                lead += 1
            texts = [texts[lead]] + [""] * lead + texts[lead + 1 :]
        line = "\t".join(texts)
        if trailing and g.row_kinds[r] in ("data", "header") and rng.random() < 0.8:
            line += "\t"
        lines.append(line)
        if g.key == "proactive" and rng.random() < 0.03:
            lines.append("")
    return lines


def _narrative_text(p: Para, indent: str = "") -> str:
    return indent + p.text if p.role == "body" and indent else p.text


# ----------------------------------------------------------------------------- tabs / spaces


def tabs(doc: Document, rng: random.Random) -> str:
    """Tab-separated table rows (like a Word table pasted as text: seeds 000/002/004)."""
    sep = rng.choice(["\n\n", "\n\n", "\n"])
    lead = "\n\n" if rng.random() < 0.4 else ""
    indent = "　" if rng.random() < 0.15 else ""
    parts: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Grid):
            parts.append("\n".join(_tab_rows(b, rng)))
        else:
            parts.append(_narrative_text(b, indent))
    return lead + sep.join(parts) + ("\n" if rng.random() < 0.5 else "")


def _aligned_rows(g: Grid, rng: random.Random) -> list[str]:
    matrix = g.matrix()
    gap = rng.randint(2, 4)
    widths = [2] * g.ncols
    for c in g.cells:
        if c.colspan == 1:
            widths[c.col] = max(widths[c.col], dwidth(c.text))
    starts = [0]
    for w in widths[:-1]:
        starts.append(starts[-1] + w + gap)
    lines: list[str] = []
    for r in range(g.nrows):
        line = ""
        for c in range(g.ncols):
            cell, how = matrix[r][c]
            if how != "origin" or not cell.text:
                continue
            text = cell.text
            x = starts[c]
            if cell.role == "value" and cell.colspan == 1:
                x = starts[c] + widths[c] - dwidth(text)  # right-aligned numbers
            cur = dwidth(line)
            if cur > x - 1 and line:
                x = cur + 1
            line += " " * (x - cur) + text
        lines.append(line.rstrip())
    return lines


def spaces(doc: Document, rng: random.Random) -> str:
    """Like `tabs` but cells are separated by runs of spaces, columns aligned (pdftotext -layout)."""
    sep = rng.choice(["\n\n", "\n"])
    parts: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Grid):
            parts.append("\n".join(_aligned_rows(b, rng)))
        else:
            parts.append(("    " if b.role == "body" and rng.random() < 0.5 else "") + b.text)
    return sep.join(parts) + "\n"


# ----------------------------------------------------------------------------- one cell per line


def _split_header(text: str, rng: random.Random, sep: str) -> str:
    t = text.replace(" ", "")
    if len(t) == 4 and rng.random() < 0.5:
        return t[:2] + sep + t[2:]
    return text


def one_per_line(doc: Document, rng: random.Random) -> str:
    """One cell per line: tab-indented with blank lines between rows (seed 001) or bare lines
    separated by blank lines (seed 003, with a spacer block of whitespace-only lines)."""
    if rng.random() < 0.5:
        return _opl_tabbed(doc, rng)
    return _opl_bare(doc, rng)


def _opl_tabbed(doc: Document, rng: random.Random) -> str:
    out: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Para):
            out.append(b.text)
            if rng.random() < 0.7:
                out.append("")
            continue
        matrix = b.matrix()
        out.append("")
        for r in range(b.nrows):
            for c in range(b.ncols):
                cell, how = matrix[r][c]
                if how == "origin":
                    text = cell.text
                    if cell.role == "header":
                        text = _split_header(text, rng, rng.choice(["\n", "\n\n"]))
                    out.append("\t" + text)
                elif how == "vcover" or (how == "empty" and b.row_kinds[r] != "data"):
                    out.append("\t")
            out.append("")
        if rng.random() < 0.5:
            out.extend(["\t", "\t", ""])
        out.append("")
    return "\n".join(out) + "\n"


def _opl_bare(doc: Document, rng: random.Random) -> str:
    out: list[str] = []
    spacer_done = rng.random() < 0.6
    split_results = rng.random() < 0.5
    for b in doc.blocks:
        if isinstance(b, Para):
            pad = {"heading": "    ", "subheading": "  ", "body": "  "}.get(b.role, "") if rng.random() < 0.5 else ""
            out.append(pad + b.text)
            continue
        for r, row in enumerate(b.rows()):
            for cell in row:
                if cell.role == "value":
                    out.append(cell.text or rng.choice([" ", "\t"]))
                elif cell.text:
                    if cell.role == "group" and split_results and "、" in cell.text:
                        head, rest = cell.text.split("、", 1)
                        out.extend([head + "、", rest])
                    else:
                        out.append(cell.text)
            if not spacer_done and b.row_kinds[r] == "data" and b.key == "applications" and rng.random() < 0.3:
                out.extend([" "] * rng.randint(8, 16))
                spacer_done = True
    return "\n\n".join(out) + "\n"


# ----------------------------------------------------------------------------- markdown


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "｜").replace("\n", " ") for c in cells) + " |"


def _md_table(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    return [_md_row(rows[0]), "| " + " | ".join(["---"] * n) + " |"] + [_md_row(r) for r in rows[1:]]


def markdown(doc: Document, rng: random.Random) -> str:
    """Pipe tables (like PDF-to-Markdown converters), with page breaks that split a row across two
    tables and, sometimes, a part of table 三 whose row labels are printed as a list of lines before
    the rows of numbers."""
    page = [rng.randint(1, 3)]
    marker = rng.choice(["dash", "page", "dash", "of"])
    out: list[str] = []
    heading_marks = rng.random() < 0.6

    def page_break() -> None:
        page[0] += 1
        out.extend(["", _page_marker(rng, page[0], marker), ""])

    for b in doc.blocks:
        if isinstance(b, Para):
            if b.role == "title" and heading_marks:
                out.append("# " + b.text)
            elif b.role == "heading" and heading_marks:
                out.append("## " + b.text)
            elif b.role == "subheading" and heading_marks:
                out.append("### " + b.text)
            else:
                out.append(b.text)
            out.append("")
            if rng.random() < 0.04:
                page_break()
            continue
        matrix = b.matrix()
        grid_rows = [[(cell.text if how == "origin" else "") for cell, how in matrix[r]] for r in range(b.nrows)]
        data = [r for r in range(b.nrows) if b.row_kinds[r] == "data"]
        split_at = rng.choice(data) if data and rng.random() < 0.45 else None
        detached: tuple[int, int] | None = None
        if b.key == "applications" and rng.random() < 0.35:
            i = rng.randint(0, len(data) - 6)
            j = rng.randint(i + 3, min(len(data), i + 14))
            detached = (data[i], data[j - 1])
            if split_at is not None and detached[0] <= split_at <= detached[1] + 1:
                split_at = None
        label_cols = (
            [c for c in range(b.ncols) if any(matrix[r][c][0] and matrix[r][c][0].role != "value" for r in data)]
            if data
            else []
        )
        part: list[list[str]] = []
        r = 0
        while r < b.nrows:
            if detached and r == detached[0]:
                out.extend(_md_table(part))
                part = []
                page_break()
                for rr in range(detached[0], detached[1] + 1):
                    label = " ".join(t for c, t in enumerate(grid_rows[rr]) if c in label_cols and t)
                    out.append(label)
                out.append("")
                nums = [
                    [t for c, t in enumerate(grid_rows[rr]) if c not in label_cols]
                    for rr in range(detached[0], detached[1] + 1)
                ]
                out.extend(_md_table(nums))
                out.append("")
                r = detached[1] + 1
                continue
            row = grid_rows[r]
            if r == split_at:
                first = [t if c in label_cols else "" for c, t in enumerate(row)]
                rest = ["" if c in label_cols else t for c, t in enumerate(row)]
                part.append(first)
                out.extend(_md_table(part))
                page_break()
                part = [rest]
            else:
                part.append(row)
            r += 1
        out.extend(_md_table(part))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- converter markdown

# Generic column headers that converters write when a table's own header is not a single row.
_GENERIC_HEADERS = ("数据{}", "列{}", "Column {}", "Col{}", "Unnamed: {}", "字段{}")


def _remark(text: str, rng: random.Random) -> str:
    """A figure with the remark some reports print in the cell: "22（其中修订16件）"."""
    if not text.isdigit() or int(text) < 2:
        return text
    k = rng.randint(1, int(text) - 1)
    return rng.choice([f"{text}（其中修订{k}件）", f"{text}(其中修订{k}件)", f"{text}（含修订{k}件）"])


def _br_wrap(text: str, width: int) -> str:
    """A cell's text as marker writes a cell of several printed lines: joined by <br>."""
    if len(text) <= width:
        return text
    return "<br>".join(text[i : i + width] for i in range(0, len(text), width))


def _converter_grid_rows(g: Grid, tool: str, rng: random.Random, remarks: bool) -> list[list[str]]:
    """The grid's rows of cells as a converter writes them: marker leaves covered cells empty and
    joins a cell's lines with <br>; docling repeats a merged cell's text in every cell it covers;
    OCR table recognisers leave covered cells empty."""
    matrix = g.matrix()
    width = rng.randint(5, 9)
    rows: list[list[str]] = []
    for r in range(g.nrows):
        row: list[str] = []
        for cell, how in matrix[r]:
            if cell is None:
                row.append("")
                continue
            text = cell.text
            if cell.role == "value" and remarks and (cell.cell_id or "").endswith((".issued", ".made")):
                text = _remark(text, rng)
            if how != "origin" and tool != "docling":
                row.append("")
                continue
            if tool == "marker" and cell.role != "value":
                text = _br_wrap(text, width)
            elif tool == "marker" and "（" in text and rng.random() < 0.5:
                text = text.replace("（", "<br>（", 1)
            row.append(text)
        rows.append(row)
    return rows


def _generic_header(n: int, rng: random.Random) -> list[str]:
    pattern = rng.choice(_GENERIC_HEADERS)
    first = rng.choice(["", "项目", pattern])
    start = 0 if pattern.startswith("Unnamed") else 1
    if pattern.startswith("Unnamed") and first == "":
        pattern = "{}"  # pandas with no header row: the columns are numbered 0, 1, 2 …
    cells = [pattern.format(start + i) for i in range(n)]
    if first != pattern:
        cells[0] = first
    return cells


def _mineru_td(c: GCell, remarks: bool, rng: random.Random) -> str:
    span = (f' rowspan="{c.rowspan}"' if c.rowspan > 1 else "") + (f' colspan="{c.colspan}"' if c.colspan > 1 else "")
    text = c.text
    if c.role == "value" and remarks and (c.cell_id or "").endswith((".issued", ".made")):
        text = _remark(text, rng)
    return f"<td{span}>{html_lib.escape(text)}</td>"


def converter_markdown(doc: Document, rng: random.Random) -> str:
    """Markdown as PDF-to-Markdown and OCR-to-Markdown converters write a report (marker, MinerU,
    docling, OCR table recognisers):

    - MinerU: each table as HTML on one line (`<table>` with rowspan/colspan) between Markdown
      paragraphs (gongkai reads such a file as HTML);
    - pipe tables whose header row is the table's first row, `<br>` for a cell's line breaks
      (marker), merged cells' text repeated over the cells they cover (docling);
    - generic headers (数据1 … 数据N, 列1 …, Column 1 …, pandas' Unnamed: 0 … or bare 0 1 2 …) put above a table
      whose own header spans several rows, and again above each part of a table split at a page;
    - figures with remarks, "22（其中修订16件）";
    - a column's figures detached from the table and printed as lines above it (the converter
      took a tall column of figures with remarks for text), their cells left empty: the first
      value column of table 二, where its cells are a column's own (not merged across).
    """
    tool = rng.choice(["marker", "docling", "ocr", "mineru"])
    remarks = rng.random() < 0.6
    detach = rng.random() < 0.5
    generic = tool == "ocr" or rng.random() < 0.25
    heading_marks = rng.random() < 0.7
    marker = rng.choice(["dash", "page", "of"])
    page = [rng.randint(1, 3)]
    out: list[str] = []

    def table(rows: list[list[str]], header: list[str] | None) -> None:
        n = max(len(r) for r in rows)
        rows = [r + [""] * (n - len(r)) for r in rows]
        if header is None:
            header, rows = rows[0], rows[1:]
        out.append(_md_row(header))
        out.append("|" + "|".join(rng.choice(["---", ":---", "---:", "-----"]) for _ in range(n)) + "|")
        out.extend(_md_row(r) for r in rows)

    for b in doc.blocks:
        if isinstance(b, Para):
            if b.role == "junk":
                continue
            prefix = {"title": "# ", "heading": "## ", "subheading": "### "}.get(b.role, "") if heading_marks else ""
            out.extend([prefix + b.text, ""])
            continue
        if tool == "mineru":  # MinerU: a table as HTML on one line, merged cells as spans
            cells = "".join("<tr>" + "".join(_mineru_td(c, remarks, rng) for c in row) + "</tr>" for row in b.rows())
            out.extend([f"<html><body><table>{cells}</table></body></html>", ""])
            continue
        rows = _converter_grid_rows(b, tool, rng, remarks)
        if detach and b.key == "proactive":
            # The first value column's figures, printed above the table; their cells left empty
            # (the column's header stays in the table, or goes with the figures).
            matrix = b.matrix()
            figures: list[str] = []
            for r in range(b.nrows):
                cell, how = matrix[r][1]
                if b.row_kinds[r] == "data" and cell is not None and how == "origin" and cell.colspan == 1:
                    figures.extend([rows[r][1]] if rows[r][1] else [])
                    rows[r][1] = ""
            if rng.random() < 0.4:
                out.extend([rows[1][1].replace("<br>", ""), ""])
                rows[1][1] = ""
            for f in figures:
                text = f.replace("<br>", rng.choice(["", "\n"]))
                out.extend([text, ""])
        parts: list[list[list[str]]] = [rows]
        data = [r for r in range(b.nrows) if b.row_kinds[r] == "data"]
        if len(data) > 4 and rng.random() < 0.5:  # split at a page
            cut = rng.choice(data[2:])
            parts = [rows[:cut], rows[cut:]]
        for k, part in enumerate(parts):
            if k:
                page[0] += 1
                out.extend(["", _page_marker(rng, page[0], marker), ""])
            header = _generic_header(len(part[0]), rng) if generic else None
            if header is None and k and tool != "ocr" and rng.random() < 0.5:
                part = [rows[0], *part]  # the header row repeated on the next page
            if header is None and k:
                header = [""] * len(part[0]) if rng.random() < 0.5 else None
            table(part, header)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- pdf text


@dataclass
class _PdfStyle:
    width: int  # narrative line width (display units)
    w3: int  # width of a level-3 label (chars)
    w2: int  # width of a label spanning two columns (chars)
    nums_own_line: float  # probability that a 3+-line label puts its numbers on their own line
    results_mode: str  # vertical | vertical2 | line | share
    footer: str
    footer_every: tuple[int, int]


def _pdf_style(rng: random.Random) -> _PdfStyle:
    w3 = rng.randint(12, 16)
    return _PdfStyle(
        width=rng.randint(54, 60),
        w3=w3,
        w2=w3 + rng.randint(3, 6),
        nums_own_line=rng.choice([0.0, 0.5, 1.0]),
        results_mode=rng.choices(["vertical", "vertical2", "line", "share"], weights=[0.35, 0.3, 0.2, 0.15])[0],
        footer=rng.choices(["dash", "emdash", "page"], weights=[0.85, 0.08, 0.07])[0],
        footer_every=(rng.randint(26, 32), rng.randint(34, 42)),
    )


def _chunks(text: str, width: int) -> list[str]:
    """Cut a label into lines of `width` chars; a line never starts with closing punctuation."""
    out: list[str] = []
    i = 0
    while i < len(text):
        j = min(len(text), i + width)
        while j < len(text) and text[j] in _NO_LINE_START:
            j += 1
        out.append(text[i:j])
        i = j
    return out or [""]


def _char_spaced(text: str, rng: random.Random) -> list[str]:
    """A narrow header cell as pypdf reads it: '结 果' / '维持', '商 业 企' / '业'."""
    t = text.replace(" ", "")
    mode = rng.choice(["whole", "split", "spaced", "spaced"]) if len(t) >= 4 else rng.choice(["whole", "spaced"])
    if mode == "whole":
        return [text]
    if len(t) <= 2:
        return [" ".join(t)]
    cut = rng.choice([2, 3]) if len(t) > 4 else 2
    cut = min(cut, len(t) - 1) if len(t) > 1 else 1
    head, tail = t[:cut], t[cut:]
    if mode == "spaced":
        head = " ".join(head)
    return [head, tail] if tail else [head]


def _emit_tokens(lines: list[str], tokens: list[list[str]], rng: random.Random, glue: float) -> None:
    for pieces in tokens:
        for i, piece in enumerate(pieces):
            if i == 0 and lines and rng.random() < glue:
                lines[-1] = lines[-1] + rng.choice(["", " "]) + piece
            else:
                lines.append(piece)


def _pdf_proactive(g: Grid, rng: random.Random) -> list[str]:
    out = []
    for row in g.rows():
        texts = [c.text for c in row if c.text]
        out.append(" ".join(texts))
    return out


def _pdf_app_header(g: Grid, rng: random.Random) -> list[str]:
    out: list[str] = []
    header_cells = [c for r in range(g.nrows) if g.row_kinds[r] == "header" for c in g.row_cells(r)]
    tokens: list[list[str]] = []
    for c in header_cells:
        if not c.text:
            continue
        if c.role == "note":
            cut = rng.randint(18, 24)
            tokens.append([c.text[:cut], c.text[cut:]] if rng.random() < 0.8 else [c.text])
        elif c.text in ("申请人情况", "法人或其他组织", "自然人", "总计"):
            tokens.append([c.text])
        else:
            tokens.append(_char_spaced(c.text, rng))
    _emit_tokens(out, tokens, rng, glue=0.15)
    return out


def _pdf_app_rows(g: Grid, ps: _PdfStyle, rng: random.Random) -> list[str]:
    out: list[str] = _pdf_app_header(g, rng)
    pending_prefix = ""  # group text to put before the next label (share / straddle modes)
    straddle_rest = ""
    for r in range(g.nrows):
        if g.row_kinds[r] != "data":
            continue
        cells = g.row_cells(r)
        label_cell = next(c for c in cells if c.role == "label")
        values = " ".join(c.text for c in cells if c.role == "value" and c.text)
        prefix = ""
        if straddle_rest:
            prefix, straddle_rest = straddle_rest + " ", ""
        for grp in (c for c in cells if c.role == "group"):
            if grp.col == 0:  # 三、本年度办理结果
                mode = ps.results_mode
                if mode == "vertical":
                    out.extend(list(grp.text.replace(" ", "")))
                elif mode == "vertical2":
                    t = grp.text.replace(" ", "")
                    k = t.index("、") + 1 if "、" in t else 1
                    out.extend([t[:k], *list(t[k:])])
                elif mode == "line":
                    out.append(grp.text)
                else:
                    pending_prefix += grp.text + " "
            else:
                mode = rng.choices(["line", "split2", "share", "straddle"], weights=[0.35, 0.25, 0.25, 0.15])[0]
                t = grp.text
                if mode == "line":
                    out.append(t)
                elif mode == "split2":
                    cut = rng.randint(3, max(3, len(t) - 2))
                    out.extend([t[:cut], t[cut:]])
                elif mode == "share" or grp.rowspan < 2:
                    pending_prefix += t + " "
                else:
                    cut = rng.randint(3, max(3, len(t) - 2))
                    pending_prefix += t[:cut] + " "
                    straddle_rest = t[cut:]
        width = ps.w3 if label_cell.colspan == 1 else (ps.w2 if label_cell.colspan == 2 else 24)
        label = label_cell.text
        head = pending_prefix + prefix
        pending_prefix = ""
        parts = _chunks(label, width)
        if len(parts) > 1 and rng.random() < 0.3:  # pypdf sometimes keeps a space at the wrap point
            parts[0] = parts[0][:-2] + " " + parts[0][-2:] if len(parts[0]) > 3 else parts[0]
        parts[0] = head + parts[0]
        if not values:
            out.extend(parts)
        elif len(parts) >= 3 and rng.random() < ps.nums_own_line:
            out.extend(parts)
            out.append(values)
        else:
            out.extend(parts[:-1])
            out.append(parts[-1] + " " + values)
    return out


def _pdf_appeals(g: Grid, rng: random.Random) -> list[str]:
    out: list[str] = []
    rows = g.rows()
    top = [c.text for c in rows[0]]
    if rng.random() < 0.7:
        out.append(" ".join(top))
    else:
        out.extend(top)
    tokens: list[list[str]] = []
    for r in (1, 2):
        for c in rows[r]:
            if c.colspan > 1:  # 未经复议直接起诉 / 复议后起诉
                tokens.append([c.text])
            elif c.text.replace(" ", "") == "总计":
                tokens.append([rng.choice(["总计", "总 计"])])
            else:
                tokens.append(_char_spaced(c.text, rng))
    one_line_tail = rng.random() < 0.3
    if one_line_tail:
        tail = tokens[-5:]
        tokens = tokens[:-5]
    _emit_tokens(out, tokens, rng, glue=0.2)
    if one_line_tail:
        out.append(" ".join(" ".join(p) for p in tail))
    values = [c.text for c in rows[3] if c.text]
    out.append(" ".join(values))
    return out


def pdf_text(doc: Document, rng: random.Random) -> str:
    """Text as pypdf extracts it from a PDF report (like shared/dev/reports): hard-wrapped narrative,
    'label n n n' table rows, wrapped labels, vertical group labels, header soup, page footers."""
    ps = _pdf_style(rng)
    lines: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Para):
            if b.role in ("body",):
                lines.extend(wrap(b.text, ps.width, first_indent=4))
            elif b.role == "junk":
                continue
            else:
                lines.extend(wrap(b.text, ps.width))
        elif b.key == "proactive":
            lines.extend(_pdf_proactive(b, rng))
        elif b.key == "applications":
            lines.extend(_pdf_app_rows(b, ps, rng))
        else:
            lines.extend(_pdf_appeals(b, rng))
    # Page footers every ~35 lines, also inside tables.
    out: list[str] = []
    page = 1
    if rng.random() < 0.5:
        out.append(_page_marker(rng, page, ps.footer))
        page += 1
    nxt = rng.randint(*ps.footer_every)
    for i, line in enumerate(lines):
        out.append(line)
        if i + 1 == nxt and i + 1 < len(lines):
            out.append(_page_marker(rng, page, ps.footer))
            page += 1
            nxt += rng.randint(*ps.footer_every)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- one line


def one_line(doc: Document, rng: random.Random) -> str:
    """The whole report on ONE line: labels and numbers glued without separators."""
    para_sep = rng.choice(["", "", " "])
    parts: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Para):
            parts.append(b.text)
        else:
            parts.append("".join(c.text for row in b.rows() for c in row))
    return para_sep.join(parts).replace("\n", "").replace("\r", "") + ("\n" if rng.random() < 0.5 else "")


def glued_alternatives(doc: Document) -> dict[str, list[int]]:
    """For one_line: table 二 rows whose glued digits split into the row's cells in several ways.

    Returns {cell_id: sorted candidate values} for the cells of such rows (the truth is among them).
    Rows of tables 三 and 四 are left out: their sums decide the split.
    """
    out: dict[str, list[int]] = {}
    g = doc.grid("proactive")
    for r in range(g.nrows):
        vals = [c for c in g.row_cells(r) if c.role == "value" and c.text]
        if len(vals) < 2:
            continue
        s = "".join(c.text for c in vals)
        if not s.isdigit():
            continue
        splits = _digit_splits(s, len(vals))
        if len(splits) > 1:
            for i, c in enumerate(vals):
                out[c.cell_id or ""] = sorted({sp[i] for sp in splits})
    return out


def _digit_splits(s: str, k: int, limit: int = 400) -> list[tuple[int, ...]]:
    res: list[tuple[int, ...]] = []

    def rec(i: int, acc: tuple[int, ...]) -> None:
        if len(res) >= limit:
            return
        if len(acc) == k - 1:
            t = s[i:]
            if t and (t == "0" or t[0] != "0"):
                res.append((*acc, int(t)))
            return
        for j in range(i + 1, len(s) - (k - len(acc) - 1) + 1):
            t = s[i:j]
            if t != "0" and t[0] == "0":
                break
            rec(j, (*acc, int(t)))

    rec(0, ())
    return res


# ----------------------------------------------------------------------------- html


def _td(c: GCell, tag: str, rng: random.Random, wrap_p: bool) -> str:
    attrs = ""
    if c.rowspan > 1:
        attrs += f' rowspan="{c.rowspan}"'
    if c.colspan > 1:
        attrs += f' colspan="{c.colspan}"'
    text = html_lib.escape(c.text) if c.text else "&nbsp;"
    if wrap_p:
        align = "center" if c.role != "label" else "left"
        text = f'<p style="text-align:{align};"><span style="font-size:12px;font-family:宋体;">{text}</span></p>'
    return f'<{tag}{attrs} style="border:1px solid #000;padding:2px;">{text}</{tag}>'


def html(doc: Document, rng: random.Random) -> bytes:
    """A full government-site HTML page with the tables as <table> with rowspan/colspan."""
    title = next((b.text for b in doc.blocks if isinstance(b, Para) and b.role == "title"), doc.agency)
    agency_line = next((b.text for b in doc.blocks if isinstance(b, Para) and b.role == "agency"), "")
    page_title = f"{agency_line}{title}" if agency_line else title
    wrap_p = rng.random() < 0.6
    th_header = rng.random() < 0.3
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="{charset}">',
        f"<title>{html_lib.escape(page_title)}_{html_lib.escape(doc.agency)}</title>",
        "</head>",
        "<body>",
        '<div class="header"><a href="/">首页</a> | <a href="/zwgk/">政务公开</a> | <a href="/login">登录</a>| <a href="/reg">注册</a></div>',
        '<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; 政府信息公开年报</div>',
        '<div class="article">',
    ]
    for b in doc.blocks:
        if isinstance(b, Para):
            t = html_lib.escape(b.text)
            if b.role in ("agency", "title"):
                out.append(
                    f'<h1 style="text-align:center;">{t}</h1>'
                    if rng.random() < 0.7
                    else f'<p style="text-align:center;"><strong>{t}</strong></p>'
                )
            elif b.role == "junk":
                continue
            elif b.role == "meta":
                out.append(f'<div class="info">{t}</div>')
            elif b.role == "heading":
                out.append(
                    f"<h3>{t}</h3>" if rng.random() < 0.5 else f'<p style="text-indent:2em;"><strong>{t}</strong></p>'
                )
            else:
                out.append(f'<p style="text-indent:2em;">{t}</p>')
            continue
        out.append('<table border="1" cellspacing="0" cellpadding="0" width="100%" style="border-collapse:collapse;">')
        out.append("<tbody>")
        for r, row in enumerate(b.rows()):
            tag = "th" if th_header and b.row_kinds[r] == "header" else "td"
            out.append("<tr>" + "".join(_td(c, tag, rng, wrap_p) for c in row) + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
    out += [
        "</div>",
        f'<div class="footer">主办：{html_lib.escape(doc.agency)} 网站标识码：{rng.randint(1000000000, 9999999999)} ICP备{rng.randint(10000000, 99999999)}号</div>',
        "</body>",
        "</html>",
    ]
    charset = "utf-8" if rng.random() < 0.85 else "gb2312"
    text = "\n".join(out).replace("{charset}", charset)
    return text.encode("utf-8" if charset == "utf-8" else "gb18030")


# ----------------------------------------------------------------------------- docx


def _fixed_zip(data: bytes, when: tuple[int, int, int, int, int, int]) -> bytes:
    """Re-zip with fixed member timestamps so the bytes are deterministic."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=when)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, src.read(info.filename))
    return buf.getvalue()


_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _tbl_xml(g: Grid) -> str:
    """WordprocessingML of a grid: gridSpan for column spans, vMerge restart/continue for row spans."""
    col_w = 9000 // g.ncols
    matrix = g.matrix()
    rows = []
    for r in range(g.nrows):
        tcs = []
        c = 0
        while c < g.ncols:
            cell, how = matrix[r][c]
            if cell is None:
                tcs.append(f'<w:tc><w:tcPr><w:tcW w:w="{col_w}" w:type="dxa"/></w:tcPr><w:p/></w:tc>')
                c += 1
                continue
            span = cell.colspan
            pr = f'<w:tcW w:w="{col_w * span}" w:type="dxa"/>'
            if span > 1:
                pr += f'<w:gridSpan w:val="{span}"/>'
            if cell.rowspan > 1:
                pr += '<w:vMerge w:val="restart"/>' if how == "origin" else "<w:vMerge/>"
            text = html_lib.escape(cell.text, quote=False) if how == "origin" and cell.text else ""
            para = f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>' if text else "<w:p/>"
            tcs.append(f"<w:tc><w:tcPr>{pr}</w:tcPr>{para}</w:tc>")
            c += span
        rows.append("<w:tr>" + "".join(tcs) + "</w:tr>")
    grid = "".join(f'<w:gridCol w:w="{col_w}"/>' for _ in range(g.ncols))
    return (
        f'<w:tbl xmlns:w="{_W_NS}"><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/>'
        f'<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" w:lastColumn="0" w:noHBand="0" w:noVBand="1"/>'
        f"</w:tblPr><w:tblGrid>{grid}</w:tblGrid>{''.join(rows)}</w:tbl>"
    )


def docx(doc: Document, rng: random.Random) -> bytes:
    """A real Word file: narrative paragraphs and the tables with merged cells (python-docx)."""
    import docx as python_docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml
    from docx.oxml.ns import qn

    d = python_docx.Document()
    body = d.element.body
    when = datetime(doc.year + 1, rng.randint(1, 3), rng.randint(1, 28), 9, 0, 0)
    cp = d.core_properties
    cp.author = doc.agency
    cp.last_modified_by = doc.agency
    cp.created = when
    cp.modified = when
    cp.revision = 1
    cp.title = ""
    for b in doc.blocks:
        if isinstance(b, Para):
            if b.role == "junk":
                continue
            p = d.add_paragraph()
            run = p.add_run(b.text)
            if b.role in ("title", "agency", "heading"):
                run.bold = True
            if b.role in ("title", "agency"):
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            continue
        body.find(qn("w:sectPr")).addprevious(parse_xml(_tbl_xml(b)))
        if rng.random() < 0.3:
            d.add_paragraph()
    buf = io.BytesIO()
    d.save(buf)
    return _fixed_zip(buf.getvalue(), (when.year, when.month, when.day, 9, 0, 0))


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Flattener:
    name: str
    fn: Callable[[Document, random.Random], str | bytes]
    ext: str
    positional: bool
    fancy_numbers: bool = True


FLATTENERS: dict[str, Flattener] = {
    f.name: f
    for f in (
        Flattener("tabs", tabs, "txt", True),
        Flattener("spaces", spaces, "txt", True),
        Flattener("one_per_line", one_per_line, "txt", True),
        Flattener("markdown", markdown, "md", True),
        Flattener("converter_markdown", converter_markdown, "md", True),
        Flattener("pdf_text", pdf_text, "txt", False),
        Flattener("one_line", one_line, "txt", False, fancy_numbers=False),
        Flattener("html", html, "html", True),
        Flattener("docx", docx, "docx", True),
    )
}
# Styles one asks for by name (`flatteners=EXTRA`, `--flatteners converter_markdown`), kept out of
# ALL, the default mix: adding one to ALL would give every seed other reports (the layout model's
# data splits, the benches' baselines).
EXTRA: tuple[str, ...] = ("converter_markdown",)
ALL: tuple[str, ...] = tuple(n for n in FLATTENERS if n not in EXTRA)
TEXT_FLATTENERS: tuple[str, ...] = tuple(n for n in ALL if FLATTENERS[n].ext in ("txt", "md"))


def flatten(name: str, doc: Document, rng: random.Random) -> str | bytes:
    return FLATTENERS[name].fn(doc, rng)
