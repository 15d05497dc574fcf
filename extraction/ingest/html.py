"""HTML reports: decode, parse with lxml, walk the tree once into lines of fields.

- Paragraphs, headings, list items, `<br>`-separated text → one text `Line` each (a line whose
  text holds tabs between words, as a text report pasted into `<p>`s does, is split on the tabs
  into a delimited line). `<pre>` and a page with no block markup at all are read as plain text
  (`split_lines`).
- Each `<tr>` → one delimited `Line`, one `Field` per cell in visual order. A cell's text joins
  its pieces with "" between two CJK characters and " " otherwise. A cell holding only blanks
  (nbsp, full-width space, "—", "-", "/") is an empty field.
- colspan: a cell with text is ONE field whatever its span; an empty cell spanning n columns is n
  empty fields. rowspan: the cell's text is in its first row only; in the following rows its grid
  position is an empty field (n empty fields for an empty spanned cell), so the blanks stay in
  place like a vMerge continuation in DOCX. Leading empty fields of a row (merged label columns)
  are dropped; a row left with no field is skipped.
- Nested tables are flattened inline, in reading order: a row with a cell that holds a table (or a
  cell holding a long multi-paragraph text: a layout table wrapping the page) is not a data row;
  its cells' content (text lines, the nested table's own row lines) is emitted in order.

Parsing feeds libxml2's SAX events straight to a walker (no tree is built): no Python
recursion and no parser depth limit, so 500k nested <div>s read in about a second. Elements deeper
than `max_html_depth` are read as inline text of the block that holds them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from lxml import etree

from extraction.document import DocumentState, Field, Line
from extraction.errors import InputTooLarge
from extraction.ingest.base import IngestBackend, IngestOptions
from extraction.ingest.text import _utf16_guess, decode_text, split_lines

# ---------------------------------------------------------------------------------------------
# Text helpers (shared with the DOCX backend)

_CJK = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WS = re.compile(r"\s+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Tabs between two words on one source line: cell delimiters of a text table pasted into HTML.
_TAB_DELIM = re.compile(r"(?<=\S)[^\S\r\n\t]*\t[^\S\r\n]*(?=\S)")
# A cell holding only one of these is blank. A dash alone is not: it is kept, and the tokenizer reads
# it as a printed 0, as on every other input kind (extraction.tokenize).
BLANK_CELL = frozenset({"", "/", "／", "\\"})
MAX_SPAN = 64  # an empty cell's colspan/gridSpan beyond this is clamped when expanded to blanks


def clean_text(text: str) -> str:
    """Collapse whitespace (nbsp and full-width spaces included); no space between two CJK characters."""
    text = _WS.sub(" ", text.translate(_ZERO_WIDTH)).strip()
    if " " in text:
        text = _CJK_GAP.sub("", text)
    return text


def join_cjk(parts: list[str]) -> str:
    """Join pieces that a line break separated: "" between two CJK characters, " " otherwise."""
    out: list[str] = []
    last = ""
    for part in parts:
        if not part:
            continue
        if last and not (_CJK_CHAR.match(last) and _CJK_CHAR.match(part[0])):
            out.append(" ")
        out.append(part)
        last = part[-1]
    return "".join(out)


def flow_line(raw: str) -> Line | None:
    """One line of running text → a text Line, or a delimited Line when tabs separate words."""
    if "\t" in raw and _TAB_DELIM.search(raw):
        marked = _TAB_DELIM.sub(lambda m: "\x1f" * m.group().count("\t"), raw)
        parts = [clean_text(p) for p in marked.split("\x1f")]
        while parts and not parts[0]:
            parts.pop(0)
        if len(parts) > 1:
            return Line([Field(p) for p in parts], delimited=True)
        raw = parts[0] if parts else ""
    text = clean_text(raw)
    return Line([Field(text)]) if text else None


class SpanBudget:
    """Caps the blank fields a document may create by expanding spans (colspan=1000 × many rows),
    and the fields its table rows may hold in all (`max_fields`: past it, InputTooLarge at once,
    before a span bomb has built millions of fields)."""

    def __init__(self, total: int = 2_000_000, max_fields: int | None = None) -> None:
        self.left = total
        self.exhausted = False
        self.fields_left = max_fields
        self.max_fields = max_fields

    def emit(self, n: int) -> None:
        if self.fields_left is None:
            return
        self.fields_left -= n
        if self.fields_left < 0:
            raise InputTooLarge(
                f"the tables hold more than {self.max_fields:,} cells (a report has a few thousand)",
                detail={"limit": self.max_fields},
            )

    def take(self, n: int) -> int:
        n = max(1, min(n, MAX_SPAN))
        if n <= self.left:
            self.left -= n
            return n
        self.exhausted = True
        return 1


@dataclass(slots=True)
class RowCell:
    """One cell of a table row as the input gives it, or (cont > 0) the continuation of a cell
    merged down from the row above, which stands for `cont` blank fields."""

    lines: list[Line] = field(default_factory=list)
    span: int = 1
    rowspan: int = 1
    has_table: bool = False
    cont: int = 0
    _text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            text = join_cjk([join_cjk([f.text for f in ln.fields]) for ln in self.lines])
            self._text = "" if text in BLANK_CELL else text
        return self._text

    @property
    def blank_fields(self) -> int:
        """How many fields the cell's continuation rows stand for."""
        return 1 if self.text else self.span


def _is_layout_row(cells: list[RowCell]) -> bool:
    real = [c for c in cells if not c.cont]
    limit = 80 if len(real) == 1 else 200
    for c in real:
        if c.has_table:
            return True
        if len(c.lines) >= 2 and sum(len(ln.text) for ln in c.lines) > limit:
            return True
    return False


def row_lines(cells: list[RowCell], budget: SpanBudget) -> list[Line]:
    """A table row → one delimited Line (leading merged-cell positions dropped), or, for a layout row, the
    cells' content lines in reading order."""
    if not cells:
        return []
    if _is_layout_row(cells):
        out: list[Line] = []
        for c in cells:
            out.extend(c.lines)
        return out
    fields: list[Field] = []
    for c in cells:
        if c.cont:
            # Positions covered by a merged cell from an earlier row: at the start of a row they
            # are the merged label columns (dropped); inside it they hold a column's place.
            if not fields:
                continue
            n = c.cont
        elif c.text:
            fields.append(Field(c.text))
            continue
        else:
            n = c.span  # a real empty cell is a blank, at the start of a row too
        fields.extend(Field("") for _ in range(budget.take(n)))
    budget.emit(len(fields))
    if not any(f.text for f in fields):
        return []  # an empty spacer row says nothing
    return [Line(fields, delimited=True)]


# ---------------------------------------------------------------------------------------------
# Decoding

_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)""", re.I)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "ms936", "euc_cn", "hz"}
_WESTERN = {"latin_1", "iso8859_1", "cp1252", "ascii"}  # often a wrong default: detect instead


def declared_charset(data: bytes) -> str | None:
    """The encoding an HTML head declares (<meta charset>, http-equiv content-type, <?xml?>)."""
    head = data[:16384]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    name = m.group(1).decode("ascii", "ignore").lower()
    try:
        codec = codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        return None
    if codec in _GB_FAMILY or name in ("gb_2312-80", "x-gbk", "csgb2312", "chinese"):
        return "gb18030"
    if codec.startswith(("utf_16", "utf_32")):  # impossible in ASCII-compatible bytes: HTML says UTF-8
        return "utf-8"
    if codec in _WESTERN:
        return None
    return codec


def decode_html(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return decode_text(data)  # a byte-order mark wins over any declaration
    if _utf16_guess(data):
        return decode_text(data)
    enc = declared_charset(data)
    if enc:
        if enc == "gb18030" and not data.isascii():
            # Pages that say gb2312 but are UTF-8 are common; GBK text is practically never valid UTF-8.
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            pass
        except LookupError:
            enc = None
        if enc:
            text = data.decode(enc, errors="replace")
            if text.count("\ufffd") <= max(2, len(text) // 1000):
                return text
    return decode_text(data)


# ---------------------------------------------------------------------------------------------
# Walking the document: libxml2's HTML parser feeds SAX events to `_Walker` (no tree is built,
# no Python recursion, no libxml2 depth limit).

_JUNK = frozenset({"head", "script", "style", "noscript", "nav", "template", "iframe", "object", "embed"})
_JUNK2 = frozenset({"svg", "math", "canvas", "select", "button", "title", "meta", "link", "option"})
_SKIP = _JUNK | _JUNK2
_BLOCK = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog"}
    | {"dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3"}
    | {"h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "ol", "p"}
    | {"section", "summary", "table", "tbody", "tfoot", "thead", "tr", "td", "th", "ul", "colgroup"}
)
_PRE = frozenset({"pre", "xmp", "plaintext", "listing", "textarea"})
_MAX_ROWSPAN = 256
_MAX_GRID_WORK = 5_000_000
_SPAN_DIGITS = re.compile(r"\s*(\d{1,6})")


def _span(value: str | None, cap: int, zero: int) -> int:
    """A colspan/rowspan attribute: digits only, clamped to [1, cap]; 0 means `zero`."""
    if not value:
        return 1
    m = _SPAN_DIGITS.match(value)
    if not m:
        return 1
    n = int(m.group(1))
    return zero if n == 0 else min(n, cap)


class _Flow:
    """Where running text goes: the document, or one table cell."""

    __slots__ = ("buf", "has_table", "lines")

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.buf: list[str] = []
        self.has_table = False

    def flush(self) -> None:
        if self.buf:
            line = flow_line("".join(self.buf))
            self.buf.clear()
            if line is not None:
                self.lines.append(line)


class _Table:
    __slots__ = ("budget", "cell", "cell_depth", "depth", "parent", "pending", "row", "row_depth", "work")

    def __init__(self, parent: _Flow, depth: int, budget: SpanBudget) -> None:
        self.parent = parent
        self.depth = depth
        self.budget = budget
        self.row: list[RowCell] | None = None
        self.row_depth = -1
        self.cell: RowCell | None = None
        self.cell_depth = -1
        self.pending: list[list[int]] = []  # [start column, span, rows left, blank fields]
        self.work = 0

    def end_row(self) -> None:
        if self.row is None:
            return
        cells = self._place(self.row)
        self.row = None
        self.row_depth = -1
        lines = row_lines(cells, self.budget)
        if lines:
            self.parent.flush()
            self.parent.lines.extend(lines)
            self.parent.has_table = True  # a cell holding a table with content is a layout cell

    def _place(self, cells: list[RowCell]) -> list[RowCell]:
        """Interleave the continuations of cells spanning down from earlier rows (rowspan)."""
        pending = self.pending
        if not pending and all(c.rowspan == 1 for c in cells):
            return cells
        self.work += len(pending) + len(cells)
        out: list[RowCell] = []
        keep: list[list[int]] = []
        col = 0
        i = 0
        for c in cells:
            while i < len(pending) and pending[i][0] <= col:
                p = pending[i]
                i += 1
                out.append(RowCell(span=p[1], cont=p[3]))
                col = max(col, p[0] + p[1])
                if p[2] > 1:
                    p[2] -= 1
                    keep.append(p)
            out.append(c)
            if c.rowspan > 1 and self.work < _MAX_GRID_WORK:
                keep.append([col, c.span, c.rowspan - 1, c.blank_fields])
            col += c.span
        for p in pending[i:]:
            out.append(RowCell(span=p[1], cont=p[3]))
            if p[2] > 1:
                p[2] -= 1
                keep.append(p)
        keep.sort(key=lambda p: p[0])
        self.pending = keep
        return out


class _Walker:
    """lxml parser target: SAX events → lines."""

    def __init__(self, max_depth: int, max_fields: int | None = None) -> None:
        self.max_depth = max(1, max_depth)
        self.budget = SpanBudget(max_fields=max_fields)
        self.doc = _Flow()
        self.flow = self.doc
        self.flows = [self.doc]
        self.tables: list[_Table] = []
        self.depth = 0
        self.skip_depth = 0  # > 0: inside a junk element opened at this depth
        self.pre_depth = 0  # > 0: inside a <pre> opened at this depth
        self.pre_buf: list[str] = []
        self.blocks = 0
        self.raw: list[str] = []  # all text, for a page with no block markup

    def start(self, tag: str, attrib) -> None:
        self.depth += 1
        depth = self.depth
        if self.skip_depth:
            return
        if tag in _SKIP:
            self.skip_depth = depth
            return
        if depth > self.max_depth:
            return
        if self.pre_depth:
            if tag == "br":
                self.pre_buf.append("\n")
            return
        if tag in _BLOCK:
            self.flow.flush()
            if tag != "body" and tag != "html":
                self.blocks += 1
            if tag == "table":
                self.tables.append(_Table(self.flow, depth, self.budget))
            elif tag == "tr":
                t = self.tables[-1] if self.tables else None
                if t is not None and t.cell is None:
                    t.end_row()
                    t.row = []
                    t.row_depth = depth
            elif tag == "td" or tag == "th":
                t = self.tables[-1] if self.tables else None
                if t is not None and t.cell is None:
                    if t.row is None:  # a cell straight in <table>: an implicit row
                        t.row = []
                    t.cell = RowCell(
                        span=_span(attrib.get("colspan"), 1000, 1),
                        rowspan=_span(attrib.get("rowspan"), _MAX_ROWSPAN, _MAX_ROWSPAN),  # 0: to the end
                    )
                    t.cell_depth = depth
                    self.flow = _Flow()
                    self.flows.append(self.flow)
        elif tag == "br":
            self.flow.flush()
            self.blocks += 1
        elif tag in _PRE:
            self.flow.flush()
            self.blocks += 1
            self.pre_depth = depth

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth -= 1
        if self.skip_depth:
            if depth == self.skip_depth:
                self.skip_depth = 0
            return
        if depth > self.max_depth:
            return
        if self.pre_depth:
            if depth == self.pre_depth:
                self.pre_depth = 0
                self.flow.lines.extend(split_lines("".join(self.pre_buf)))
                self.pre_buf.clear()
            return
        if tag in _BLOCK:
            tables = self.tables
            if tables:
                t = tables[-1]
                if t.cell is not None and t.cell_depth == depth:
                    flow = self.flow
                    flow.flush()
                    cell = t.cell
                    cell.lines = flow.lines
                    cell.has_table = flow.has_table
                    assert t.row is not None  # a cell is open only inside a row
                    t.row.append(cell)
                    t.cell = None
                    t.cell_depth = -1
                    self.flows.pop()
                    self.flow = self.flows[-1]
                elif t.row_depth == depth and t.cell is None:
                    t.end_row()
                elif t.depth == depth:
                    tables.pop()
                    if t.cell is not None:  # cannot happen with well-nested events; be safe
                        self.flows.pop()
                        self.flow = self.flows[-1]
                    t.end_row()
            self.flow.flush()

    def data(self, text: str) -> None:
        if self.skip_depth:
            return
        self.raw.append(text)
        if self.pre_depth:
            self.pre_buf.append(text)
        else:
            self.flow.buf.append(text)

    def close(self) -> list[Line]:
        while self.tables:  # unterminated tables (truncated page)
            t = self.tables.pop()
            if t.cell is not None:
                self.flow.flush()
                t.cell.lines = self.flow.lines
                t.cell.has_table = self.flow.has_table
                assert t.row is not None  # a cell is open only inside a row
                t.row.append(t.cell)
                t.cell = None
                self.flows.pop()
                self.flow = self.flows[-1]
            t.end_row()
        if self.pre_buf:  # an unterminated <pre>
            self.flow.lines.extend(split_lines("".join(self.pre_buf)))
            self.pre_buf.clear()
            self.pre_depth = 0
        self.doc.flush()
        if self.blocks == 0:
            # A text report with an HTML wrapper: its line breaks and tabs are its structure.
            raw = "".join(self.raw)
            if "\n" in raw.strip():
                return split_lines(raw)
        return self.doc.lines


def html_lines(text: str, options: IngestOptions, warnings: list[str] | None = None) -> list[Line]:
    """The lines of an HTML document (decoded text)."""
    walker = _Walker(options.max_html_depth, options.max_fields)
    parser = etree.HTMLParser(
        target=walker,
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        huge_tree=True,
        default_doctype=False,
    )
    try:
        lines = etree.fromstring(text.encode("utf-8", errors="replace"), parser)
    except etree.XMLSyntaxError:  # nothing parseable at all
        lines = walker.close()
    if walker.budget.exhausted and warnings is not None:
        warnings.append("the HTML tables span too many blank cells; wide spans were read as one blank")
    return lines or []


class HtmlBackend(IngestBackend):
    kind = "html"

    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        text = decode_html(data)
        if len(text) > options.max_text_chars:
            raise InputTooLarge(
                f"the text has {len(text):,} characters; the limit is {options.max_text_chars:,}",
                detail={"chars": len(text), "limit": options.max_text_chars},
            )
        text = text.lstrip("\ufeff").replace("\x00", "")
        state = self.new_state(data, name, self.kind)
        state.lines = html_lines(text, options, state.warnings)
        return state
