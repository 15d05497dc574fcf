"""DOCX reports: body paragraphs and tables in document order, via python-docx's parsed XML.

- The ZIP is checked before anything is inflated: a member list whose declared sizes add up to
  more than `max_docx_uncompressed` (or whose XML parts add up to more than `max_docx_xml_bytes`:
  the parsed tree takes about ten times its XML), or a member compressed more than 200:1 beyond
  10 MB, is a zip bomb (InputTooLarge). zipfile never inflates a member past its declared size, so the check
  bounds the memory python-docx can use. A damaged ZIP, a missing word/document.xml or broken XML
  is CorruptInput.
- A paragraph → text Lines (one per `w:br` line; tabs between words make it a delimited line, as
  in a text report). A table row → one delimited Line, one Field per `w:tc`, i.e. per visual cell:
  a cell spanning columns (`gridSpan`) is one field (an empty one stands for `gridSpan` blanks);
  the continuation of a vertically merged cell (`vMerge` without "restart") is an empty field,
  so the merged text is in the first row only. Leading empty fields are dropped (a merged label
  column continuing down becomes nothing), inner and trailing ones kept. Working on `w:tc`
  elements is the same as deduplicating python-docx's repeated `cell._tc` objects.
- Cell text joins the cell's paragraphs with "" between CJK characters and " " otherwise.
- Nested tables are flattened inline in reading order, like the HTML backend: a row with a cell
  that holds a table is emitted as its cells' content lines (text lines and the nested rows).
- Content controls (`w:sdt`) and custom XML wrappers are read through; an `altChunk` holding HTML
  is read with the HTML backend.

python-docx parses with its own lxml parser (`resolve_entities=False`, no network); this module
parses no XML itself.
"""

from __future__ import annotations

import io
import itertools
import zipfile
import zlib

from lxml import etree

from extraction.document import DocumentState, Field, Line
from extraction.errors import CorruptInput, EmptyInput, InputTooLarge, UnsupportedInput
from extraction.ingest.base import IngestBackend, IngestOptions
from extraction.ingest.html import RowCell, SpanBudget, clean_text, flow_line, row_lines

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _q(local: str) -> str:
    return f"{{{_W}}}{local}"


_P, _TBL, _TR, _TC = _q("p"), _q("tbl"), _q("tr"), _q("tc")
_T, _TAB, _BR, _CR, _NBH = _q("t"), _q("tab"), _q("br"), _q("cr"), _q("noBreakHyphen")
_TCPR, _GRIDSPAN, _VMERGE, _TRPR, _GRIDBEFORE = _q("tcPr"), _q("gridSpan"), _q("vMerge"), _q("trPr"), _q("gridBefore")
_VAL = _q("val")
_ALTCHUNK = _q("altChunk")
# Elements that only wrap block content: read through them.
_WRAPPERS = {_q("sdt"), _q("sdtContent"), _q("customXml"), _q("ins"), _q("moveTo"), _q("smartTag")}
# The pieces of a paragraph's text, in order. Text boxes are read once (mc:Fallback repeats them);
# deleted or moved-away runs are not text.
_RUN_PIECES = etree.XPath(
    ".//w:r[not(ancestor::mc:Fallback) and not(ancestor::w:del) and not(ancestor::w:moveFrom)]"
    "/*[self::w:t or self::w:tab or self::w:br or self::w:cr or self::w:noBreakHyphen]",
    namespaces={"w": _W, "mc": _MC},
)
_ALL_TEXT = etree.XPath(".//w:t/text()", namespaces={"w": _W})

_MAX_MEMBERS = 10_000
_BOMB_RATIO = 200
_BOMB_MIN_SIZE = 10 * 1024 * 1024
_MAX_TABLE_NESTING = 32


def check_zip(data: bytes, options: IngestOptions) -> None:
    """Refuse zip bombs and broken archives before python-docx inflates anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptInput(f"the DOCX file is damaged (not a readable ZIP archive: {exc})") from None
    if len(infos) > _MAX_MEMBERS:
        raise InputTooLarge(
            f"the DOCX archive has {len(infos):,} parts; the limit is {_MAX_MEMBERS:,}",
            detail={"parts": len(infos), "limit": _MAX_MEMBERS},
        )
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > _BOMB_MIN_SIZE and info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
            raise InputTooLarge(
                f"the DOCX part {info.filename!r} inflates from {info.compress_size:,} to {info.file_size:,} bytes "
                f"(a zip bomb)",
                detail={"part": info.filename, "compressed": info.compress_size, "uncompressed": info.file_size},
            )
    xml = sum(info.file_size for info in infos if info.filename.lower().endswith((".xml", ".rels")))
    xml_limit = options.max_docx_xml_bytes
    if xml > xml_limit:
        raise InputTooLarge(
            f"the DOCX's XML parts inflate to {xml:,} bytes; the limit is {xml_limit:,} (a long report's text is "
            f"1-3 MB of XML)",
            detail={"xml": xml, "limit": xml_limit},
        )
    if total > options.max_docx_uncompressed:
        raise InputTooLarge(
            f"the DOCX parts inflate to {total:,} bytes; the limit is {options.max_docx_uncompressed:,}",
            detail={"uncompressed": total, "limit": options.max_docx_uncompressed},
        )
    if not any(info.filename == "word/document.xml" for info in infos):
        raise CorruptInput("the DOCX file has no word/document.xml part (damaged or not a Word document)")


def _open(data: bytes):
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        return docx.Document(io.BytesIO(data))
    except etree.XMLSyntaxError as exc:
        raise CorruptInput(f"the DOCX file is damaged (broken XML: {exc})") from None
    except ValueError as exc:
        if "not a Word file" in str(exc):
            raise UnsupportedInput(f"the DOCX package is not a Word document ({exc})") from None
        raise CorruptInput(f"the DOCX file is damaged ({exc})") from None
    except NotImplementedError as exc:
        raise CorruptInput(f"the DOCX file uses a ZIP feature that cannot be read ({exc})") from None
    except (PackageNotFoundError, zipfile.BadZipFile, zlib.error, KeyError, EOFError, OSError) as exc:
        raise CorruptInput(f"the DOCX file is damaged ({type(exc).__name__}: {exc})") from None


def _int(value: str | None, low: int = 1, cap: int = 1000) -> int:
    """An integer attribute (gridSpan, gridBefore), clamped to [low, cap]; junk reads as `low`."""
    try:
        n = int(value) if value is not None else low
    except ValueError:
        return low
    return max(low, min(n, cap))


def _through_wrappers(parent, tags: tuple[str, ...]):
    """Children of `parent` with one of `tags`, in order, read through content-control /
    custom-XML wrappers."""
    stack = [iter(parent)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        if child.tag in tags:
            yield child
        elif child.tag in _WRAPPERS:
            stack.append(iter(child))


def _blocks(parent):
    """The w:p and w:tbl (and w:altChunk) elements of a body or cell, in order."""
    return _through_wrappers(parent, (_P, _TBL, _ALTCHUNK))


def _children(parent, tag: str):
    """Children `tag` of `parent` (table rows, cells)."""
    return _through_wrappers(parent, (tag,))


def paragraph_text(p) -> str:
    parts: list[str] = []
    for el in _RUN_PIECES(p):
        tag = el.tag
        if tag == _T:
            if el.text:
                parts.append(el.text)
        elif tag == _TAB:
            parts.append("\t")
        elif tag == _NBH:
            parts.append("-")
        else:  # w:br, w:cr
            parts.append("\n")
    return "".join(parts)


class _Reader:
    def __init__(self, document, options: IngestOptions, warnings: list[str]) -> None:
        self.document = document
        self.options = options
        self.warnings = warnings
        self.budget = SpanBudget(max_fields=options.max_fields)

    def flow(self, parent, depth: int = 0) -> tuple[list[Line], bool]:
        """Lines of a body or cell, and whether it holds a table."""
        lines: list[Line] = []
        has_table = False
        for block in _blocks(parent):
            if block.tag == _P:
                for segment in paragraph_text(block).split("\n"):
                    line = flow_line(segment)
                    if line is not None:
                        lines.append(line)
            elif block.tag == _TBL:
                if depth >= _MAX_TABLE_NESTING:
                    text = clean_text(" ".join(_ALL_TEXT(block)))
                    nested = [Line([Field(text)])] if text else []
                else:
                    nested = self.table(block, depth + 1)
                has_table = has_table or bool(nested)
                lines.extend(nested)
            else:
                lines.extend(self.alt_chunk(block))
        return lines, has_table

    def table(self, tbl, depth: int) -> list[Line]:
        out: list[Line] = []
        origin_blanks: dict[int, int] = {}  # grid column of a vMerge restart → its blank-field count
        for tr in _children(tbl, _TR):
            cells: list[RowCell] = []
            trpr = tr.find(_TRPR)
            before = trpr.find(_GRIDBEFORE) if trpr is not None else None
            col = _int(before.get(_VAL), low=0) if before is not None else 0
            for tc in _children(tr, _TC):
                tcpr = tc.find(_TCPR)
                span, vmerge = 1, None
                if tcpr is not None:
                    gs = tcpr.find(_GRIDSPAN)
                    if gs is not None:
                        span = _int(gs.get(_VAL))
                    vm = tcpr.find(_VMERGE)
                    if vm is not None:
                        vmerge = vm.get(_VAL) or "continue"
                if vmerge == "continue":
                    cells.append(RowCell(span=span, cont=origin_blanks.get(col, 1)))
                else:
                    lines, has_table = self.flow(tc, depth)
                    cell = RowCell(lines=lines, span=span, has_table=has_table)
                    if vmerge is not None:
                        origin_blanks[col] = cell.blank_fields
                    cells.append(cell)
                col += span
            out.extend(row_lines(cells, self.budget))
        return out

    def alt_chunk(self, el) -> list[Line]:
        """An imported chunk (altChunk): HTML is read with the HTML backend; other kinds are skipped."""
        rid = el.get(f"{{{_R}}}id")
        try:
            part = self.document.part.related_parts[rid]
            content_type = part.content_type
            blob = part.blob
        except (KeyError, AttributeError):
            return []
        if "html" not in content_type:
            self.warnings.append(f"an imported {content_type} chunk of the DOCX was not read")
            return []
        from extraction.ingest.html import decode_html, html_lines

        try:
            return html_lines(decode_html(blob), self.options, self.warnings)
        except Exception as exc:  # the chunk is a part of the document, not the document
            self.warnings.append(f"an imported HTML chunk of the DOCX could not be read: {exc}")
            return []


class DocxBackend(IngestBackend):
    kind = "docx"

    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        check_zip(data, options)
        document = _open(data)
        state = self.new_state(data, name, self.kind)
        body = document.element.body
        if body is None:
            raise CorruptInput("the DOCX document has no body")
        limit = options.max_fields
        # cells and paragraphs, counted in the parsed tree before any is read (cheap: no text)
        elements = sum(1 for _ in itertools.islice(body.iter(_TC, _P), limit + 1))
        if elements > limit:
            raise InputTooLarge(
                f"the DOCX holds more than {limit:,} paragraphs and table cells (a report has a few thousand)",
                detail={"limit": limit},
            )
        state.lines, _ = _Reader(document, options, state.warnings).flow(body)
        if not any(f.text for line in state.lines for f in line.fields):
            raise EmptyInput("the DOCX document holds no text (pictures in a DOCX are not read)")
        return state


__all__ = ["DocxBackend", "check_zip", "paragraph_text"]
