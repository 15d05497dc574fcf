"""Per-document working state (dataclasses) passed from stage to stage.

The stages (`extraction.pipeline.STAGES`) fill it in order: ingest takes `data` and fills `lines`
for text inputs, or leaves the pages of a PDF or image `pending`; OCR reads the pending pages and
page reading finishes them into `lines` (and `pages`); tokenize fills `tokens`; metadata `agency`
and `year`; layout `anchors`, `format` and `token_labels`; reconstruct `cells`; calibrate their
confidence; rules `checks`. The public, persisted shapes are the pydantic models in
`extraction.result`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from extraction.result import CheckResult

BBox = tuple[float, float, float, float]


@dataclass
class Field:
    """One piece of text as the input gives it: a table cell, a tab-separated field, a line."""

    text: str
    page: int | None = None
    bbox: BBox | None = None
    confidence: float = 1.0  # OCR confidence of the text (1.0 for text-layer inputs)
    alternatives: list[str] = dataclasses.field(default_factory=list)  # OCR's other readings of this text
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
    alternatives: list[str] = dataclasses.field(default_factory=list)
    glued: bool = False  # a number run with no separator from the neighbouring number/text
    col: tuple[float, float] | None = None  # display columns, for space-aligned text
    unit: Literal["yuan", "wan"] | None = None  # a money unit printed right after the number
    narrative: bool = False  # a number printed with a counting unit (10件, 53条): prose, not a cell
    key: str = ""  # text tokens: match key (punctuation and spaces removed)


AnchorKind = Literal["heading", "section", "column", "row", "end"]


# The score of an anchor the labeler placed by inference (its label not matched on the page, its
# place implied by its neighbours): reconstruction treats the cells under it as less sure.
INFERRED_SCORE = 0.3

# A cell with one of these flags was not read as printed (not found, filled or changed by the sums,
# placed with no rule to check it): whatever a calibrator says, it is never confident, and it goes to
# review by its flag (`extraction.result.needs_review`), whatever the review threshold. The caps are
# the rules stage's defaults (RulesOptions), here so that the calibrate stage, which runs before the
# rules, applies the same ones.
DOUBT_FLAGS = frozenset({"missing", "incomplete", "unread", "filled_by_rule", "corrected_by_rule", "unverified"})
DOUBT_CONFIDENCE = 0.5  # highest confidence of a cell with a DOUBT_FLAGS flag other than `unverified` alone
# A figure read, but whose reading or place no rule could check (`unverified` and no other doubt
# flag), keeps its calibrated probability up to this ceiling; its flag, not a level, sends it to
# review. A fixed 0.5 lied: a phone photo's doubtful figures are right 65-95 % of the time by their
# evidence (an ECE of 0.03-0.05 on photos from that cap alone).
UNVERIFIED_CONFIDENCE = 0.9
WARNING_CONFIDENCE = 0.6  # highest confidence of a cell in a failed soft rule (a warning)


def doubt_cap(
    flags: Iterable[str], doubt: float = DOUBT_CONFIDENCE, unverified: float = UNVERIFIED_CONFIDENCE
) -> float:
    """The highest confidence a cell with these flags may have (1.0: no cap)."""
    found = DOUBT_FLAGS.intersection(flags)
    if not found:
        return 1.0
    return min(doubt, unverified) if found != {"unverified"} else unverified


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
    tokens: list[int] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)
    alternatives: list[int | float | None] = dataclasses.field(default_factory=list)
    source: str = ""  # which stage/model produced it
    # The reconstruction's own confidence, kept when a calibrator replaces `confidence`: the rules
    # stage reads "unread" (a blank OCR doubted) on this scale, not on the calibrated one.
    read_confidence: float | None = None


@dataclass
class PageItem:
    """One page of a paged input as ingest opened it, for the OCR stage: its lines when it was read
    from a text layer (`lines`), its image when it needs OCR (`image`, pixels; `stretch` for pixels
    that are not square), or the error it failed with (`error`)."""

    info: PageInfo
    deadline: float
    lines: list[Line] | None = None
    image: Any = None  # numpy uint8 array (gray or RGB)
    stretch: float = 1.0
    error: Exception | None = None


# begin(page number) -> (the page's record, its deadline), or None when the document's time budget
# ran out (the page is recorded as failed)
PageBegin = Callable[[int], "tuple[PageInfo, float] | None"]


@dataclass
class PagesRead:
    """What the OCR stage did with a document's pending pages."""

    ocr_pages: list[int] = dataclasses.field(default_factory=list)  # read by OCR, in order
    unavailable: Exception | None = None  # the OCR engine could not be loaded (OcrUnavailable)


class PendingPages(Protocol):
    """The pages of a PDF or image that ingest opened but did not read: the OCR stage walks them in
    printing order (`pages`, one page image in memory at a time), page reading ends with `finish`
    (the input kind's summary: the document's kind, warnings, and the error when no page was read)."""

    def pages(self, begin: PageBegin) -> Iterator[PageItem]: ...

    def finish(self, state: DocumentState, read: PagesRead) -> None: ...


@dataclass
class DocumentState:
    name: str
    sha256: str
    kind: str  # txt, md, html, docx, digital_pdf, scanned_pdf, image
    lines: list[Line] = dataclasses.field(default_factory=list)
    pages: list[PageInfo] = dataclasses.field(default_factory=list)
    tokens: list[Token] = dataclasses.field(default_factory=list)
    anchors: list[Anchor] = dataclasses.field(default_factory=list)
    token_labels: list[str] = dataclasses.field(default_factory=list)  # per token: row:<id>, column:<key>, value, other…
    format: str | None = None
    variants: list[str] = dataclasses.field(default_factory=list)
    agency: str | None = None
    year: int | None = None
    cells: dict[str, CellValue] = dataclasses.field(default_factory=dict)
    checks: list[CheckResult] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)  # document-level: table_not_found:<key>, row_not_read:<id> …
    labeler: str = ""  # name@version of the labeler that produced the anchors
    stages: dict[str, str] = dataclasses.field(default_factory=dict)  # stage name -> implementation@version, as run
    # Between the stages (defaults are class attributes: states pickled before these existed still load)
    data: bytes | None = None  # the input's bytes, until ingest has read them
    pending: PendingPages | None = None  # pages ingest opened and the OCR / page reading stages read
    pages_read: PagesRead | None = None  # what the OCR stage did with the pending pages
    ocr: str = ""  # name@version of the OCR engine that read pages ("" when none did)
    calibration: str = ""  # name@version of what calibrated the cells' confidence ("" when nothing did)
    layout_probs: Any = None  # the layout model's per-token probabilities (numpy), for its calibration
    layout_moved: set[str] | None = None  # anchors the layout model moved away from the baseline's

    @property
    def ocr_read(self) -> bool:
        """Some page was read by OCR (pixel coordinates): its blanks and placements are less sure."""
        return any(p.unit == "px" for p in self.pages)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a state pickled (training's cache) before a field existed gets that field's default
        for f in fields(self):
            if f.name not in state:
                state[f.name] = f.default_factory() if f.default_factory is not MISSING else f.default
        self.__dict__.update(state)

    @classmethod
    def for_input(cls, data: bytes, name: str) -> DocumentState:
        """A state holding only the input, for the pipeline's first stage (ingest)."""
        import hashlib

        return cls(name=name, sha256=hashlib.sha256(data).hexdigest(), kind="", data=data)
