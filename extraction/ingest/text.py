"""Plain text and markdown: decoding (UTF-8/16/32, GB18030) and splitting into lines of fields."""

from __future__ import annotations

import codecs
import functools
import html as html_lib
import re
import unicodedata

from extraction.document import DocumentState, Field, Line
from extraction.errors import EmptyInput, InputTooLarge, UndecodableText, UnsupportedInput
from extraction.ingest.base import IngestBackend, IngestOptions
from extraction.text import display_width

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MD_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MD_BREAK = re.compile(r"<br\s*/?>", re.I)


def _utf16_guess(data: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes on alternating positions (ASCII), or CJK-heavy pairs."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0)
    odd_nul = sample[1::2].count(0)
    half = len(sample) / 2
    if odd_nul > 0.2 * half and even_nul < 0.05 * half:
        return "utf-16-le"
    if even_nul > 0.2 * half and odd_nul < 0.05 * half:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> str:
    """Decode bytes of a text input; raises UndecodableText / UnsupportedInput when it is not text.

    Besides the encodings: NUL padding at the end (a short write on the server) is dropped; NULs
    scattered through otherwise clean UTF-8/GB18030 text are dropped; Big5 text (which also decodes
    as GB18030, into nonsense) is told apart by how common its characters are in each reading."""
    if not data.strip():
        raise EmptyInput("the input is empty")
    data = _strip_nul_padding(data)
    if not data.strip():
        raise EmptyInput("the input holds only NUL bytes")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as exc:
                raise UndecodableText(f"text with a {enc} byte-order mark does not decode: {exc.reason}") from None
    candidates = ["utf-8"]
    guess16 = _utf16_guess(data)
    if guess16:
        candidates.insert(0, guess16)
    candidates.append("gb18030")
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            if enc == "gb18030":
                text = _big5_instead(data, text)
            return text
    if guess16 is None and b"\x00" in data:
        # NUL bytes scattered through text (a broken converter): read the text around them
        cleaned = data.replace(b"\x00", b"")
        if len(cleaned) >= 0.9 * len(data):
            for enc in ("utf-8", "gb18030"):
                try:
                    text = cleaned.decode(enc)
                except UnicodeDecodeError:
                    continue
                if _looks_like_text(text):
                    return text
    try:  # last resort: statistical detection
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        if best is not None and best.encoding:
            text = data.decode(best.encoding, errors="strict")
            if _looks_like_text(text):
                return text
    except (UnicodeDecodeError, LookupError):
        pass
    if _CONTROL.search(data[:4096].decode("latin-1")):
        raise UnsupportedInput("the input is binary data, not text or a document gongkai reads")
    raise UndecodableText("the text is in no encoding gongkai recognises (tried UTF-8, UTF-16, GB18030)")


MIN_NUL_PADDING = 16


def _strip_nul_padding(data: bytes) -> bytes:
    """Text followed by a run of NUL bytes: the run is dropped (one NUL is kept to end UTF-16 text
    on an even length)."""
    if not data.endswith(b"\x00" * MIN_NUL_PADDING):
        return data
    stripped = data.rstrip(b"\x00")
    if len(stripped) % 2 and (stripped[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or _utf16_guess(stripped)):
        stripped += b"\x00"
    return stripped


def _common_share(text: str, codec: str, low: int, high: int) -> float:
    """The share of the text's CJK characters that are common ones in `codec` (lead byte in [low, high]:
    GB2312 level 1 is 0xB0-0xD7, Big5's frequent characters 0xA4-0xC6)."""
    hanzi = [ch for ch in text[:20_000] if "\u4e00" <= ch <= "\u9fff"]
    if not hanzi:
        return 0.0
    common = 0
    for ch in hanzi:
        try:
            lead = ch.encode(codec)[0]
        except UnicodeEncodeError:
            continue
        common += low <= lead <= high
    return common / len(hanzi)


def _big5_instead(data: bytes, text: str) -> str:
    """GB18030 decodes Big5 bytes without error, into rare characters: prefer Big5 when its reading
    is made of common characters and the GB18030 one is not."""
    gb = _common_share(text, "gb2312", 0xB0, 0xD7)
    if gb >= 0.8:
        return text
    try:
        big5 = data.decode("cp950")
    except UnicodeDecodeError:
        return text
    if _looks_like_text(big5) and _common_share(big5, "cp950", 0xA4, 0xC6) >= max(0.8, gb + 0.2):
        return big5
    return text


def _looks_like_text(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = len(_CONTROL.findall(sample)) + sample.count("\ufffd")
    return bad <= max(2, len(sample) // 200)


_ALIGNED = re.compile(r"\S(?: {2,}|\u3000+)\S")
_ALIGNED_PART = re.compile(r"[^ \u3000]+(?: [^ \u3000]+)*")


def _aligned_fields(raw: str) -> list[Field]:
    """A space-aligned line (pdftotext -layout, fixed-width exports): cells are separated by two
    or more spaces, and each keeps its display columns so blank cells can be placed later."""
    out = []
    width, done = 0, 0
    for m in _ALIGNED_PART.finditer(raw):
        width += display_width(raw[done : m.start()])
        own = display_width(m.group())
        out.append(Field(m.group(), col=(width, width + own)))
        width, done = width + own, m.end()
    return out


def _fields_in(raw: str, stripped: str) -> int:
    """How many fields `split_lines` makes of one line, counted without making them."""
    if stripped.startswith("|") and stripped.count("|") >= 2:
        return stripped.strip("|").count("|") + 1
    if "\t" in raw:
        if "\t" in stripped:
            return raw.count("\t") + 1
        return raw[raw.index(stripped[0]) :].count("\t") + 1  # a lone value: the tabs before it are indentation
    if _ALIGNED.search(raw):
        return len(_ALIGNED_PART.findall(raw))
    return 1


def split_lines(
    text: str,
    max_fields: int | None = None,
    pipe_rows: list[int] | None = None,
    header_rows: list[int] | None = None,
    tab_rows: list[int] | None = None,
) -> list[Line]:
    """Lines of fields. Tabs and markdown pipes delimit cells; the tabs before a lone value are
    indentation, not cells; a whitespace-only line is one blank cell; a line break inside a pipe
    cell (`<br>`, as converters write a cell of several printed lines) is a space. More than
    `max_fields` fields in all → InputTooLarge, before the line that passes the limit is split.
    `pipe_rows`, when given, receives the index of each line that is a markdown table row, and
    `header_rows` that of each such row a rule line (`|---|`) follows: a table's header row, and
    `tab_rows` that of each line of two or more tab-separated fields."""
    lines: list[Line] = []
    total = 0
    for raw in re.split(r"\r\n|\r|\n|\u2028|\u2029", text):
        if raw == "":
            continue
        stripped = raw.strip()
        if max_fields is not None:
            total += _fields_in(raw, stripped) if stripped else 1
            if total > max_fields:
                raise InputTooLarge(
                    f"the text splits into more than {max_fields:,} cells and lines (a report has a few thousand)",
                    detail={"limit": max_fields},
                )
        if not stripped:
            lines.append(Line([Field("")], delimited=True))
            continue
        if stripped.startswith("|") and stripped.count("|") >= 2:
            if _MD_RULE.match(stripped):
                if header_rows is not None and pipe_rows and pipe_rows[-1] == len(lines) - 1:
                    header_rows.append(len(lines) - 1)
                continue
            parts = stripped.strip("|").split("|")
            if "<" in stripped or "&" in stripped:
                parts = [html_lib.unescape(_MD_BREAK.sub(" ", p)) for p in parts]
            if pipe_rows is not None:
                pipe_rows.append(len(lines))
            lines.append(Line([Field(p.strip()) for p in parts], delimited=True))
            continue
        if "\t" in raw:
            parts = [p.strip() for p in raw.split("\t")]
            # A single value indented by tabs ("\t0", one cell per line) has no blank before
            # it; in a row of several cells a leading empty field is a blank cell.
            if sum(1 for p in parts if p) == 1:
                parts = parts[next(i for i, p in enumerate(parts) if p) :]
            if tab_rows is not None and len(parts) > 1:
                tab_rows.append(len(lines))
            lines.append(Line([Field(p) for p in parts], delimited=True))
            continue
        if _ALIGNED.search(raw):
            lines.append(Line(_aligned_fields(raw), delimited=False))
            continue
        lines.append(Line([Field(raw.strip())], delimited=False))
    return lines


# ----------------------------------------------------------------------------- converter Markdown

# A generic column header that PDF/OCR-to-Markdown converters write when a table's own header
# spans several rows: its number numbers the column, it is no figure ("数据1", "列 2", "Column 3",
# pandas' "Unnamed: 4").
_GENERIC_HEADER = re.compile(r"^(?:数据|列|栏|字段|column|col|field|unnamed:?)\s*[#_]?\s*\d{1,3}$", re.I)
_GENERIC_FIRST = {"", "项目", "指标", "名称", "内容", "序号", "类别", "index", "#"}
# A figure on a line of its own (a column of figures a converter detached from its table and
# printed above it), with its unit or a parenthesised remark ("22（其中修订16件）"), and a remark
# on a line of its own (the cell's second printed line).
_FIGURE_LINE = re.compile(r"^[+\-]?\d[\d,]*(?:\.\d+)?\s*(?:万元|元)?\s*(?:[(][^()]*[)])?$")
_REMARK_LINE = re.compile(r"^[(][^()]*\d[^()]*[)]$")
_NUMERIC_CELL = re.compile(r"^[+\-]?\d[\d,]*(?:\.\d+)?")
_PRINTED_BLANK = {"-", "—", "–", "－", "/", "／", "——", "--", "无", "空"}
_LABEL_DROP = re.compile(r"[\s\u3000:：,，.。、()（）]+")
# Headers that only one format prints in table 二 (which sets how many figures a row has).
_PROACTIVE_MARKS = {
    "2021": ("本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额"),
    "2019": ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "采购总金额"),
}

DETACHED_FIGURE_CONFIDENCE = 0.5
"""Confidence given to the cells of the table 二 rows that figures printed above the table may
belong to, when the count and the statutory rows do not place them unambiguously: below the
pipeline's review threshold (0.8), so those cells go to review instead of being read silently."""


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _generic_header_row(line: Line, header: bool = False) -> bool:
    """A row of generic column headers ("| 项目 | 数据1 | … | 数据6 |"): every cell generic. Above a
    table's rule line, also the bare column numbers pandas writes ("|    |   0 |   1 |   2 |"):
    three or more, counting up by one from 0 or 1 (no statutory row of figures does)."""
    cells = [_nfkc(f.text) for f in line.fields]
    numbered = sum(1 for c in cells if _GENERIC_HEADER.match(c))
    if numbered >= 2 and all(c.lower() in _GENERIC_FIRST or _GENERIC_HEADER.match(c) for c in cells):
        return True
    if not header:
        return False
    numbers = cells[1:] if cells and cells[0].lower() in _GENERIC_FIRST else cells
    if len(numbers) < 3 or not all(c.isdigit() and len(c) <= 3 for c in numbers):
        return False
    first = int(numbers[0])
    return first in (0, 1) and [int(c) for c in numbers] == list(range(first, first + len(numbers)))


@functools.cache
def _column_header_keys() -> tuple[frozenset[str], tuple[str, ...]]:
    """The match keys of the statutory column headers (short ones whole, long ones as parts)."""
    from extraction.schema import FORMATS
    from extraction.schema.anchors import anchor_sequence

    cores = {core for fmt in FORMATS for spec in anchor_sequence(fmt) if spec.kind == "column" for core in spec.cores}
    return frozenset(cores), tuple(c for c in cores if len(c) >= 6)


def _column_header_row(line: Line) -> bool:
    """A pipe row of statutory column headers only ("| 行政复议 |  |  |  |  | 行政诉讼 |  | …"): the
    empty cells a merged header leaves are no blank figures (they were read as blank values of
    the table's single row of figures, shifting it)."""
    from extraction.text import match_key, normalize

    whole, parts = _column_header_keys()
    texts = [f.text.strip() for f in line.fields]
    if all(texts) or not any(texts):
        return False
    for t in texts:
        if not t:
            continue
        key = match_key(normalize(t))
        if key not in whole and not any(p in key for p in parts):
            return False
    return True


def _pipe_blocks(pipe_rows: list[int]) -> list[list[int]]:
    """Runs of contiguous pipe rows: one table each (a converter pads its rows to one width)."""
    blocks: list[list[int]] = []
    for k in pipe_rows:
        if blocks and blocks[-1][-1] == k - 1:
            blocks[-1].append(k)
        else:
            blocks.append([k])
    return blocks


def _join_remark_cells(lines: list[Line], pipe_rows: list[int]) -> None:
    """A remark a converter put in a cell of its own, after the figure it belongs to ("| 22 |
    （其中修订16件） | 0 |"): its number is no figure (read as one, it ended the row). It joins its
    figure's cell where that gives the row its table's width (the converter split one cell), else
    it is emptied in place (a column of remarks)."""
    for block in _pipe_blocks(pipe_rows):
        widths: dict[int, int] = {}
        for k in block:
            n = len(lines[k].fields)
            widths[n] = widths.get(n, 0) + 1
        for k in block:
            _join_remarks(lines[k].fields, widths)


def _join_remarks(fields: list[Field], widths: dict[int, int]) -> None:
    remarks = [
        c
        for c in range(1, len(fields))
        if _REMARK_LINE.match(_nfkc(fields[c].text)) and _NUMERIC_CELL.fullmatch(_nfkc(fields[c - 1].text))
    ]
    if not remarks:
        return
    others = [n for n in widths if n != len(fields)]
    if others and len(fields) - len(remarks) == max(others, key=lambda n: widths[n]):
        for c in reversed(remarks):
            fields[c - 1].text += fields[c].text
            del fields[c]
    else:
        for c in remarks:
            fields[c].text = ""


@functools.cache
def _applications_width() -> int:
    """Figures in a row of table 三 (the same in every format)."""
    from extraction.schema import FORMATS, layout

    (width,) = {len(r.columns) for fmt in FORMATS for r in layout(fmt).table("applications").rows}
    return width


def _drop_label_cover_cells(lines: list[Line], pipe_rows: list[int]) -> None:
    """Table 三 as a pipe table prints a row's label over three columns and its figures in the last
    seven: the empty cells between a label and the figures are the label's merged cells, not blank
    figures (with the row's last figure blank they were read as the row's first figures)."""
    width = _applications_width()
    for block in _pipe_blocks(pipe_rows):
        # the table's width: the one most of its rows wide enough to print labels have (a
        # converter pads its rows to it), not the widest row's (a row that prints another row's
        # figures too left every row unread); the block may hold a table of figures only too
        counts: dict[int, int] = {}
        for k in block:
            if len(lines[k].fields) >= width + 2:
                counts[len(lines[k].fields)] = counts.get(len(lines[k].fields), 0) + 1
        if not counts:
            continue
        n = max(counts, key=lambda w: (counts[w], w))
        for k in block:
            cells = [_nfkc(f.text) for f in lines[k].fields]
            if len(cells) != n:
                continue
            values = cells[n - width :]
            if not any(_NUMERIC_CELL.match(t) for t in values) or any(
                t and t not in _PRINTED_BLANK and not _NUMERIC_CELL.fullmatch(t.replace(",", "")) for t in values
            ):
                continue
            head = cells[: n - width]
            if any(_NUMERIC_CELL.fullmatch(t.replace(",", "")) for t in head):
                continue  # figures before the last seven: not a table 三 row as printed
            label = max((c for c, t in enumerate(head) if t and t not in _PRINTED_BLANK), default=None)
            if label is None or label + 1 >= n - width or any(head[label + 1 :]):
                continue
            del lines[k].fields[label + 1 : n - width]


# A table 三 row of a tab-separated table whose full rows differ in length, printing fewer figures
# than cells: which cell its figures leave empty the fields cannot say (review, as
# DETACHED_FIGURE_CONFIDENCE does)
RAGGED_ROW_CONFIDENCE = 0.5
LABEL_ENUMERATOR_CHARS = 3  # key characters an enumerator adds before a row label ("5.", "（三）", "四、")


@functools.cache
def _applications_label_keys() -> frozenset[str]:
    """The match keys of table 三's statutory row labels, every format."""
    from extraction.schema import FORMATS, layout

    return frozenset(
        alias for fmt in FORMATS for row in layout(fmt).table("applications").rows for alias in row.aliases
    )


def _applications_row_label(cells: list[str], first_figure: int) -> int | None:
    """The index of the last label cell before `first_figure`, when it is a table 三 row label
    (an enumerator such as "5." or "（三）" before it allowed) and every cell after it up to the
    figures is empty; else None."""
    label = max((c for c in range(first_figure) if cells[c] and cells[c] not in _PRINTED_BLANK), default=None)
    if label is None or any(cells[label + 1 : first_figure]):
        return None
    key = _LABEL_DROP.sub("", cells[label])
    if not any(
        key.endswith(alias) and len(key) - len(alias) <= LABEL_ENUMERATOR_CHARS for alias in _applications_label_keys()
    ):
        return None
    return label


def drop_tab_label_cover_cells(lines: list[Line], tab_rows: list[int]) -> None:
    """Table 三 copied out of a Word table as tab-separated text prints each row's merged label
    cells as empty fields, before its label or after it ("5.属于三类内部事务信息\t\t\t0\t…"), and
    some rows end in an empty padding field. A cell is a field, so the figures stand at the same
    field indices in every row of the table: the index where the rows that print all seven figures
    start them. A row printing fewer figures is read at those indices: the empty fields between its
    label and them are its label's merged cells, and those after the seventh are padding. (Trimmed
    as padding from its end instead, a row of six 0s and a blank 总计 printed with no padding field
    was read with its blank first, at 0.999: generated tabs at seed 2024.) Where the full rows
    themselves differ in length, some padded and some not, a short row's fields are doubted
    (`RAGGED_ROW_CONFIDENCE`): its empty last field may be padding after a lost figure."""
    width = _applications_width()
    for block in _pipe_blocks(tab_rows):
        rows: dict[int, tuple[list[str], list[int]]] = {}
        starts: dict[int, int] = {}
        for k in block:
            cells = [_nfkc(f.text) for f in lines[k].fields]
            figures = [c for c, t in enumerate(cells) if _NUMERIC_CELL.fullmatch(t.replace(",", ""))]
            if not figures or _applications_row_label(cells, figures[0]) is None:
                continue
            rows[k] = (cells, figures)
            if figures == list(range(figures[0], figures[0] + width)):
                starts[figures[0]] = starts.get(figures[0], 0) + 1
        if not starts:
            continue
        start = max(starts, key=lambda s: starts[s])
        if starts[start] < 2 or starts[start] * 2 <= sum(starts.values()):
            continue  # too few full rows, or they disagree: no column index to trust
        # full rows of different lengths (some end in padding fields, some not): a short row's
        # empty last field may be padding after a lost figure as well as its blank last cell
        ragged = len({len(cells) for cells, figures in rows.values() if len(figures) == width}) > 1
        for k, (cells, figures) in rows.items():
            if len(figures) >= width:
                continue
            if ragged:
                label = _applications_row_label(cells, figures[0])
                for f in lines[k].fields[(label or 0) + 1 :]:
                    f.confidence = min(f.confidence, RAGGED_ROW_CONFIDENCE)
            if figures[0] < start or len(cells) < start + width:
                continue  # a row that stops before the seventh column: which cell it dropped is a guess
            label = _applications_row_label(cells, start)
            if label is None or any(cells[start + width :]):
                continue
            values = cells[start : start + width]
            if any(t and t not in _PRINTED_BLANK and not _NUMERIC_CELL.fullmatch(t.replace(",", "")) for t in values):
                continue
            fields = lines[k].fields
            lines[k].fields = fields[: label + 1] + fields[start : start + width]


@functools.cache
def _proactive_widths() -> dict[str, dict[str, int]]:
    """Table 二's statutory row labels (match keys) → figures the row has, per format."""
    from extraction.schema import FORMATS, layout

    out: dict[str, dict[str, int]] = {}
    for fmt in FORMATS:
        for row in layout(fmt).table("proactive").rows:
            for alias in row.aliases:
                out.setdefault(_LABEL_DROP.sub("", _nfkc(alias)), {})[fmt] = len(row.columns)
    return out


def _row_width(label: str, fmt: str | None) -> int | None:
    """How many figures the table 二 row with this label has (None: no such row, or the format,
    which decides it, is not known)."""
    key = _LABEL_DROP.sub("", _nfkc(label))
    if not key:
        return None
    for alias, widths in _proactive_widths().items():
        if key == alias or (key.endswith(alias) and len(key) <= len(alias) + 2):
            if len(set(widths.values())) == 1:
                return next(iter(widths.values()))
            return widths.get(fmt) if fmt else None
    return None


def repair_converter_tables(
    lines: list[Line], pipe_rows: list[int], header_rows: list[int] | None = None
) -> list[Line]:
    """Markdown as PDF- and OCR-to-Markdown converters write it, read as the report printed it.

    - A row of generic column headers (数据1 … 数据6, 列1 …, Column 1 …, and above a table's rule
      line bare column numbers 0 1 2 …) is dropped: its numbers number the columns, they are no
      figures (they were read as the previous row's values).
    - Figures printed on lines of their own right above a pipe table (a column the converter
      detached, "22（其中修订16件）" and its remark kept with it) are put back into the empty cells
      of the table 二 rows that lack a figure, in order, when the statutory rows make that
      unambiguous: two or more figures, as many as rows lacking one, each lacking exactly one (a
      row of two or more cells printing none is a blank row, not one of them). Otherwise the figures stay out and the cells of those rows get DETACHED_FIGURE_CONFIDENCE
      (review).
    """
    pipe = set(pipe_rows)
    headers = set(header_rows or ())
    drop = {i for i, line in enumerate(lines) if line.delimited and _generic_header_row(line, i in headers)}
    for k in pipe_rows:
        if k not in drop and _column_header_row(lines[k]):
            lines[k].fields = [f for f in lines[k].fields if f.text.strip()]
    _drop_label_cover_cells(lines, pipe_rows)
    _join_remark_cells(lines, pipe_rows)
    _attach_detached_labels(lines, pipe_rows, headers, drop)
    flat = _LABEL_DROP.sub("", _nfkc("".join(f.text for k in pipe_rows for f in lines[k].fields)))
    seen = [fmt for fmt, marks in _PROACTIVE_MARKS.items() if any(m in flat for m in marks)]
    fmt = seen[0] if len(seen) == 1 else None
    i = 0
    while i < len(lines):
        figures, j = _figure_run(lines, i)
        if not figures or j not in pipe:
            i = max(j, i + 1)
            continue
        _place_figures(lines, figures, list(range(i, j)), _table_region(lines, j, pipe, drop), fmt, drop)
        i = j
    return [line for k, line in enumerate(lines) if k not in drop]


@functools.cache
def _row_label_cores() -> tuple[frozenset[str], tuple[str, ...]]:
    """The match keys of every statutory row label (short ones, ≤ 3 characters, and long ones)."""
    from extraction.schema import FORMATS
    from extraction.schema.anchors import anchor_sequence

    cores = {core for fmt in FORMATS for spec in anchor_sequence(fmt) if spec.kind == "row" for core in spec.cores}
    return frozenset(c for c in cores if len(c) <= 3), tuple(c for c in cores if len(c) > 3)


def _statutory_row_label(text: str) -> bool:
    """A line that names a statutory row ("2.其他法律行政法规禁止公开", "（三）不予公开 1.属于国家秘密"):
    it holds a row label's key, or ends with a short one (其他, 总计, 规章)."""
    from extraction.text import is_footer, match_key, normalize

    if not text or is_footer(text) or _FIGURE_LINE.match(text):
        return False
    key = match_key(normalize(text))
    short, long = _row_label_cores()
    return any(key.endswith(c) for c in short) or any(c in key for c in long)


def _figures_only(line: Line) -> bool:
    """A pipe row with no label: every cell a figure (a remark kept with it), a printed blank or empty."""
    return all(not t or t in _PRINTED_BLANK or _FIGURE_LINE.match(t) for t in (_nfkc(f.text) for f in line.fields))


def _tables(pipe_rows: list[int], headers: set[int]) -> list[list[int]]:
    """Pipe tables: runs of contiguous pipe rows, a new one at each header row (the row a rule
    line follows: blank lines are dropped, so two tables printed one after the other touch)."""
    out: list[list[int]] = []
    for block in _pipe_blocks(pipe_rows):
        for k in block:
            if not out or k == block[0] or k in headers:
                out.append([k])
            else:
                out[-1].append(k)
    return out


def _attach_detached_labels(lines: list[Line], pipe_rows: list[int], headers: set[int], drop: set[int]) -> None:
    """Row labels a converter printed as a list of lines right before a pipe table of the rows'
    figures (a part of table 三 whose label cells came out as text): each label goes back in front
    of its row, in order, when the lines right before the table are exactly as many statutory row
    labels as the table has rows and no row prints a label. Left apart, a row with a blank cell
    lost its place (its figures were read as too few for the label they followed)."""
    for block in _tables(pipe_rows, headers):
        rows = [k for k in block if k not in drop]
        if len(rows) < 2 or not all(_figures_only(lines[k]) for k in rows):
            continue
        if not any(_NUMERIC_CELL.match(_nfkc(f.text)) for k in rows for f in lines[k].fields):
            continue
        labels: list[int] = []
        k = block[0] - 1
        while k >= 0 and not lines[k].delimited and len(lines[k].fields) == 1:
            if not _statutory_row_label(_nfkc(lines[k].fields[0].text)):
                break
            labels.append(k)
            k -= 1
        if len(labels) != len(rows):
            continue  # not one label a row: which label a row has is a guess, left to the reading
        for label, row in zip(reversed(labels), rows, strict=True):
            lines[row].fields.insert(0, Field(lines[label].fields[0].text.strip()))
        drop.update(labels)


def _figure_run(lines: list[Line], start: int) -> tuple[list[str], int]:
    """The figures printed one per line from `start` (a remark line joins the figure before it),
    and the index of the line after them."""
    figures: list[str] = []
    j = start
    while j < len(lines) and not lines[j].delimited and len(lines[j].fields) == 1:
        t = _nfkc(lines[j].fields[0].text)
        if _FIGURE_LINE.match(t):
            figures.append(t)
        elif figures and _REMARK_LINE.match(t):
            figures[-1] += t
        else:
            break
        j += 1
    return figures, j


def _table_region(lines: list[Line], start: int, pipe: set[int], drop: set[int]) -> list[int]:
    """The pipe rows of the table starting at `start`, also past page footers and generic header
    rows between its parts (a table split at a page)."""
    from extraction.text import is_footer

    region: list[int] = []
    k = start
    while k < len(lines):
        if k in pipe:
            if k not in drop:
                region.append(k)
        elif not (len(lines[k].fields) == 1 and is_footer(_nfkc(lines[k].fields[0].text))):
            break
        k += 1
    return region


def _place_figures(
    lines: list[Line], figures: list[str], figure_lines: list[int], region: list[int], fmt: str | None, drop: set[int]
) -> None:
    # (line, its empty value cells, figures it lacks, figures it prints)
    lacking: list[tuple[int, list[int], int | None, int]] = []
    merged: set[int] = set()  # columns the last header row shows merged with the one before (docling)
    for k in region:
        cells = [_nfkc(f.text) for f in lines[k].fields]
        at = next((c for c, t in enumerate(cells) if t and not _NUMERIC_CELL.match(t)), None)
        if at is None:
            continue
        width = _row_width(cells[at], fmt)
        if width is None and _row_width(cells[at], "2021") is None and _row_width(cells[at], "2019") is None:
            if len({t for t in cells if t}) >= 2:  # a header row: docling repeats a merged header
                merged = {c for c in range(1, len(cells)) if cells[c] and cells[c] == cells[c - 1]}
            continue  # not a row of table 二
        values = [
            c
            for c in range(at + 1, len(cells))
            if cells[c] != cells[at]  # docling repeats a merged label ...
            and not (c in merged and cells[c] and cells[c] == cells[c - 1])  # ... and a merged figure
        ]
        printed = sum(1 for c in values if cells[c] in _PRINTED_BLANK or _NUMERIC_CELL.match(cells[c]))
        empty = [c for c in values if not cells[c]]
        if width is None or printed < width:
            lacking.append((k, empty, None if width is None else width - printed, printed))
    if not lacking:
        return  # no row lacks a figure: the lines are no detached column
    # A row of two or more cells that prints none is a blank row: one detached column cannot have
    # emptied it (it takes one figure of a row). The others must take the figures.
    takers = [r for r in lacking if not (r[3] == 0 and r[2] is not None and r[2] >= 2)]
    for rows in (lacking, takers):
        # One lone figure is too little evidence of a detached column (a bare page number prints so).
        if len(figures) >= 2 and len(rows) == len(figures) and all(n == 1 and empty for _, empty, n, _ in rows):
            for (k, empty, _, _), figure in zip(rows, figures, strict=True):
                lines[k].fields[empty[0]].text = figure
            drop.update(figure_lines)
            return
    for k, _, _, _ in lacking:
        row = lines[k].fields
        at = next(c for c, f in enumerate(row) if _nfkc(f.text) and not _NUMERIC_CELL.match(_nfkc(f.text)))
        for f in row[at + 1 :]:
            f.confidence = min(f.confidence, DETACHED_FIGURE_CONFIDENCE)


class TextBackend(IngestBackend):
    kind = "txt"

    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        text = decode_text(data)
        if not text.strip():  # only Unicode spaces (full-width, no-break)
            raise EmptyInput("the input holds only white space")
        return self.from_text(text, data, name, options, kind=self.kind)

    @staticmethod
    def from_text(text: str, data: bytes, name: str, options: IngestOptions, kind: str = "txt") -> DocumentState:
        if len(text) > options.max_text_chars:
            raise InputTooLarge(
                f"the text has {len(text):,} characters; the limit is {options.max_text_chars:,}",
                detail={"chars": len(text), "limit": options.max_text_chars},
            )
        state = IngestBackend.new_state(data, name, kind)
        pipe_rows: list[int] = []
        header_rows: list[int] = []
        tab_rows: list[int] = []
        lines = split_lines(
            text, max_fields=options.max_fields, pipe_rows=pipe_rows, header_rows=header_rows, tab_rows=tab_rows
        )
        drop_tab_label_cover_cells(lines, tab_rows)
        state.lines = repair_converter_tables(lines, pipe_rows, header_rows)
        return state


class MarkdownBackend(TextBackend):
    kind = "md"
