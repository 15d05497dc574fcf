"""Lines of fields → a flat stream of text, number and blank tokens.

The token stream is the layout stage's input, the same for every input kind: a labeler (the
deterministic baseline or the trained model) assigns each token its role.

Zeros printed another way are zeros: a cell holding only a dash ("-", "—", "－", "–", "―", "——")
is the number 0, not a blank (a blank cell prints nothing and is `null`; canonical schema), and a
cell holding a count with its unit ("0件", "3 条") is that count, not a prose mention. A dash is
never a minus sign unless it touches the digits ("- 3" is 0 and 3; "-3" is -3). A dash read by OCR
may be a speck or a piece of a rule, so its 0 is capped at `OCR_DASH_ZERO_CONFIDENCE`, below the
review threshold: a reviewer sees it beside the page; from a text layer it is sure.
"""

from __future__ import annotations

import functools
import re

from extraction.document import Field, Line, Token
from extraction.text import display_width, is_footer, match_key, normalize

_FOOTER_INLINE = re.compile(r"(?<![\d.])[-—–－]\s+\d{1,4}\s+[-—–－](?![\d])")
# A number with an optional sign, thousands separators and decimals.
_NUMBER = re.compile(r"[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# An enumerator glued to the number run before it ("00000002.其他法律…" → "0000000" + "2.其他…").
_ENUMERATOR_AFTER = re.compile(r"[.．、](?=\s*[^\d\s.．、,，)）])")
# A field opening with one digit glued to a sub-row's label ("1属于国家秘密", "3危及“三安全一稳定”"):
# the enumerator with its dot lost (a small dot is the first thing a photo's blur or OCR drops). A
# figure never stands glued before a row's label; one before anything else ("6万元", "4次") is a
# figure. An OCR'd field may keep a space for the dot ("1 信访举报…"); in text a space can part a
# wrapped figure from the next row's label, so there the digit stays a figure.
_DOTLESS_ENUMERATOR = re.compile(r"[1-9](\s?)(\S{2})")


@functools.cache
def _sub_row_openings() -> frozenset[str]:
    """The first two characters of every statutory sub-row label numbered 1., 2., … (all formats)."""
    from extraction.schema import FORMATS, layout
    from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

    enumerator = re.compile(r"^\s*\d{1,2}\s*[、.．]\s*")
    out = set()
    for fmt in FORMATS:
        for variants in ((), (VARIANT_OTHER_SINGLE_ROW,)):
            for table in layout(fmt, variants).tables:
                for row in table.rows:
                    for text in (row.label, *row.aliases):
                        if m := enumerator.match(text):
                            out.add(text[m.end() :].replace(" ", "")[:2])
    return frozenset(out)


def _dotless_enumerator(text: str, ocr: bool) -> bool:
    """Whether `text` opens with a sub-row's enumerator that lost its dot (see _DOTLESS_ENUMERATOR)."""
    m = _DOTLESS_ENUMERATOR.match(text)
    return m is not None and (ocr or not m.group(1)) and m.group(2) in _sub_row_openings()


# A parenthesised remark after a value: "22（其中修订16件）" is 22.
_REMARK = re.compile(r"(?<=\d)\s*[（(][^（）()]*\d[^（）()]*[）)]")
_BLANK_MARKS = {"/", "／", "\\", "无", "\u3000", "空"}
# A dash alone in a figure cell: the report prints its zeros that way (after NFKC "－" is "-").
_ZERO_MARK = re.compile(r"[-—–―‐‒−]{1,3}")
OCR_DASH_ZERO_CONFIDENCE = 0.75  # below the default review threshold (0.8); see the module doc
# A whole cell that is a count with its unit ("0件", "12 条"): a figure, not prose.
_CELL_COUNT = re.compile(r"^\d[\d,]*\s*[件条个项次份]$")
# Units that make a number prose ("10 件", "53 条"), not a table cell.
_COUNT_UNITS = set("件条个项次人名家份篇期场天日月年号届%％倍批类") | {"余", "多"}

def _token(tokens: list[Token], kind: str, text: str, line_no: int, field_no: int, fld: Field, **extra) -> Token:
    """A token of the field `fld`, appended to `tokens` (position, page, box and OCR data kept)."""
    token = Token(
        len(tokens),
        kind,  # type: ignore[arg-type]
        text,
        line_no,
        field_no,
        fld.page,
        fld.bbox,
        fld.confidence,
        list(fld.alternatives) if kind == "number" else [],
        **extra,
    )
    tokens.append(token)
    return token


def tokenize(lines: list[Line]) -> list[Token]:
    tokens: list[Token] = []
    for line_no, line in enumerate(lines):
        if len(line.fields) == 1 and is_footer(normalize(line.fields[0].text)):
            continue
        for field_no, fld in enumerate(line.fields):
            text = normalize(fld.text)
            stripped = text.strip()
            if line.delimited and (not stripped or stripped in _BLANK_MARKS):
                _token(tokens, "blank", "", line_no, field_no, fld)
                continue
            if not stripped:
                continue
            first = len(tokens)
            _split_field(stripped, line_no, field_no, fld, tokens, cell=line.delimited)
            if fld.col is not None:
                _place_columns(stripped, fld.col, tokens[first:])
    return tokens


def _place_columns(text: str, col: tuple[float, float], tokens: list[Token]) -> None:
    """Display columns of each token of a space-aligned field (for placing blank cells)."""
    cursor = 0
    for t in tokens:
        i = text.find(t.text, cursor) if t.kind != "blank" else -1
        if i < 0:
            t.col = col
            continue
        start = col[0] + display_width(text[:i])
        t.col = (start, start + display_width(t.text))
        cursor = i + len(t.text)


_DIGIT = re.compile(r"\d")
_ENUM_START = re.compile(
    r"(?<=\s)(?=(?:\d{1,2}\s*[.、]|\([一二三四五六七八九十]{1,2}\)|[一二三四五六七八九十]{1,2}、)\s*[\u4e00-\u9fff])"
)


def _dash_zero(tokens: list[Token], line_no: int, field_no: int, fld: Field) -> None:
    """A dash printed for a zero: the number 0 (doubted when OCR read it)."""
    token = _token(tokens, "number", "0", line_no, field_no, fld)
    token.alternatives = []
    if fld.confidence < 1.0:  # read by OCR (a text layer's fields have confidence 1.0)
        token.confidence = min(token.confidence, OCR_DASH_ZERO_CONFIDENCE)


def _split_field(  # noqa: C901 - the hot path of every input: fast paths first, then one scan of the field
    text: str, line_no: int, field_no: int, fld, tokens: list[Token], cell: bool = False
) -> None:
    """`cell`: the field is a table cell of its own (a delimited line)."""
    # Fast paths: most fields are a bare label or a bare number.
    if text.isdigit():
        _token(tokens, "number", text, line_no, field_no, fld)
        return
    if _DIGIT.search(text) is None:
        if text in _BLANK_MARKS or (not cell and _ZERO_MARK.fullmatch(text)):
            # a dash alone on a line of prose is a separator, not a figure
            _token(tokens, "blank", "", line_no, field_no, fld)
            return
        if _ZERO_MARK.fullmatch(text):
            _dash_zero(tokens, line_no, field_no, fld)
            return
        for part in _ENUM_START.split(text) if " " in text else (text,):
            part = part.strip()
            if part:
                _token(tokens, "text", part, line_no, field_no, fld, key=match_key(part))
        return
    text = _FOOTER_INLINE.sub(" ", text)
    text = _REMARK.sub("", text)
    pos = 0
    pieces: list[tuple[str, str, bool]] = []  # (kind, text, glued)
    for m in _NUMBER.finditer(text):
        start, end = m.start(), m.end()
        num = m.group()
        # A sign is a sign only before a digit that does not continue a word ("A-1") or date.
        if num[0] in "+-−" and start > 0 and text[start - 1].isascii() and text[start - 1].isalpha():
            num = num[1:]
            start += 1
        # Enumerator glued to the run: the last digit belongs to the label that follows.
        if end < len(text) and _ENUMERATOR_AFTER.match(text, end) and "." not in num:
            if len(num.lstrip("+-−")) >= 2:
                num, end = num[:-1], end - 1
            else:
                # The whole run is the enumerator: it stays text.
                continue
        if start == 0 and _dotless_enumerator(text, fld.confidence < 1.0):
            continue  # "1属于国家秘密": a sub-row's enumerator whose dot OCR lost, not a figure
        if start > pos:
            pieces.append(("text", text[pos:start], False))
        glued = (start > 0 and not text[start - 1].isspace()) or (end < len(text) and not text[end].isspace())
        pieces.append(("number", num, glued))
        pos = end
    if pos < len(text):
        pieces.append(("text", text[pos:], False))
    # Two labels in one text piece ("公开 2. 其他法律…", "(四) 无法提供 1. 本机关…"): split before
    # an enumerator that follows a space, so each label is its own token.
    split: list[tuple[str, str, bool]] = []
    for kind, piece, glued in pieces:
        if kind == "text" and " " in piece:
            split.extend(("text", part, False) for part in _ENUM_START.split(piece))
        else:
            split.append((kind, piece, glued))
    pieces = split
    for i, (kind, piece, glued) in enumerate(pieces):
        if kind == "text":
            piece = piece.strip()
            if not piece:
                continue
            if piece in _BLANK_MARKS:
                _token(tokens, "blank", "", line_no, field_no, fld)
                continue
            if _ZERO_MARK.fullmatch(piece):
                _dash_zero(tokens, line_no, field_no, fld)
                continue
            _token(tokens, "text", piece, line_no, field_no, fld, key=match_key(piece))
            continue
        follower = pieces[i + 1][1] if i + 1 < len(pieces) and pieces[i + 1][0] == "text" else ""
        token = _token(tokens, "number", piece.replace(",", "").replace("−", "-"), line_no, field_no, fld, glued=glued)
        head = follower.lstrip()[:2]
        if head.startswith("万元"):
            token.unit = "wan"
        elif head.startswith("元"):
            token.unit = "yuan"
        elif head[:1] in _COUNT_UNITS and not (cell and _CELL_COUNT.match(text)):
            token.narrative = True
