"""Plain text and markdown: decoding (UTF-8/16/32, GB18030) and splitting into lines of fields."""

from __future__ import annotations

import codecs
import re

from extraction.document import DocumentState, Field, Line
from extraction.errors import EmptyInput, InputTooLarge, UndecodableText, UnsupportedInput
from extraction.ingest.base import IngestBackend, IngestOptions

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MD_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


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


# East Asian Wide and Full-width characters (CJK, Hangul, full-width forms, CJK punctuation).
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)


def display_width(text: str) -> int:
    """Columns a string takes in a monospace layout (CJK and full-width characters take two)."""
    return len(text) + len(_WIDE.findall(text))


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


def split_lines(text: str, max_fields: int | None = None) -> list[Line]:
    """Lines of fields. Tabs and markdown pipes delimit cells; the tabs before a lone value are
    indentation, not cells; a whitespace-only line is one blank cell. More than `max_fields` fields
    in all → InputTooLarge, before the line that passes the limit is split."""
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
                continue
            parts = stripped.strip("|").split("|")
            lines.append(Line([Field(p.strip()) for p in parts], delimited=True))
            continue
        if "\t" in raw:
            parts = [p.strip() for p in raw.split("\t")]
            # A single value indented by tabs ("\t0", one cell per line) has no blank before
            # it; in a row of several cells a leading empty field is a blank cell.
            if sum(1 for p in parts if p) == 1:
                parts = parts[next(i for i, p in enumerate(parts) if p) :]
            lines.append(Line([Field(p) for p in parts], delimited=True))
            continue
        if _ALIGNED.search(raw):
            lines.append(Line(_aligned_fields(raw), delimited=False))
            continue
        lines.append(Line([Field(raw.strip())], delimited=False))
    return lines


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
        state.lines = split_lines(text, max_fields=options.max_fields)
        return state


class MarkdownBackend(TextBackend):
    kind = "md"
