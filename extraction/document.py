"""Per-document working state (dataclasses) passed from stage to stage.

ingest fills `lines` (and `pages`); the layout stage fills `tokens` and `anchors`; reconstruct
fills `cells`; rules fills `checks`. The public, persisted shapes are the pydantic models in
`extraction.result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BBox = tuple[float, float, float, float]


@dataclass
class Field:
    """One piece of text as the input gives it: a table cell, a tab-separated field, a line."""

    text: str
    page: int | None = None
    bbox: BBox | None = None
    confidence: float = 1.0  # OCR confidence of the text (1.0 for text-layer inputs)
    alternatives: list[str] = field(default_factory=list)  # OCR's other readings of this text
    col: tuple[float, float] | None = None  # display columns in a space-aligned (monospace) line


@dataclass
class Line:
    """A line of the input. `delimited` says the fields are real cell boundaries (tabs, HTML or
    DOCX cells, markdown pipes), so an empty field is a blank cell."""

    fields: list[Field]
    page: int | None = None
    delimited: bool = False

    @property
    def text(self) -> str:
        return "\t".join(f.text for f in self.fields)


@dataclass
class PageInfo:
    number: int  # 1-based
    width: float | None = None
    height: float | None = None
    unit: Literal["pt", "px"] | None = None
    error: str | None = None  # a page that failed (partial success)


TokenKind = Literal["text", "number", "blank"]


@dataclass
class Token:
    index: int
    kind: TokenKind
    text: str  # normalised text (NFKC); for numbers the digits as printed, sign and decimal kept
    line: int
    field: int
    page: int | None = None
    bbox: BBox | None = None
    confidence: float = 1.0
    alternatives: list[str] = field(default_factory=list)
    glued: bool = False  # a number run with no separator from the neighbouring number/text
    col: tuple[float, float] | None = None  # display columns, for space-aligned text
    unit: Literal["yuan", "wan"] | None = None  # a money unit printed right after the number
    narrative: bool = False  # a number printed with a counting unit (10件, 53条): prose, not a cell
    key: str = ""  # text tokens: match key (punctuation and spaces removed)


AnchorKind = Literal["heading", "section", "column", "row", "end"]


@dataclass
class Anchor:
    """A labeled place in the token stream: a statutory row label, a column header, a heading."""

    token: int
    offset: int  # character offset of the match inside the token's key
    kind: AnchorKind
    key: str  # row id (`applications.granted`), section key, column key or heading key
    score: float
    spec: int = -1  # index in the format's expected anchor sequence


@dataclass
class CellValue:
    value: int | float | None
    confidence: float
    text: str = ""
    page: int | None = None
    bbox: BBox | None = None
    tokens: list[int] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    alternatives: list[int | float | None] = field(default_factory=list)
    source: str = ""  # which stage/model produced it
    # The reconstruction's own confidence, kept when a calibrator replaces `confidence`: the rules
    # stage reads "unread" (a blank OCR doubted) on this scale, not on the calibrated one.
    read_confidence: float | None = None


@dataclass
class DocumentState:
    name: str
    sha256: str
    kind: str  # txt, md, html, docx, digital_pdf, scanned_pdf, image
    lines: list[Line] = field(default_factory=list)
    pages: list[PageInfo] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    token_labels: list[str] = field(default_factory=list)  # per token: row:<id>, column:<key>, value, other…
    format: str | None = None
    variants: list[str] = field(default_factory=list)
    agency: str | None = None
    year: int | None = None
    cells: dict[str, CellValue] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # document-level: table_not_found:<key>, row_not_read:<id> …
    labeler: str = ""  # name@version of the labeler that produced the anchors
