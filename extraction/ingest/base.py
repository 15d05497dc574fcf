"""Ingest stage contract: bytes of one input → `DocumentState` with `lines` (and `pages`).

One backend per input kind; `sniff` recognises the kind from the bytes, not the file name.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

from pydantic import BaseModel, Field

from extraction.document import DocumentState
from extraction.errors import InputTooLarge
from extraction.ingest.hanzi import simplify_document
from extraction.ocr.base import OcrOptions


class IngestOptions(BaseModel):
    """Limits on what an input may cost, each with a safe default: a hostile or broken input ends in
    a typed error (or a partial result) within them. Every size and count is checked from headers or
    declared sizes before the bytes behind them are decoded."""

    max_bytes: int = Field(default=50 * 1024 * 1024, description="Inputs larger than this are refused (InputTooLarge)")
    max_text_bytes: int = Field(
        default=8 * 1024 * 1024,
        description="Text, markdown and HTML inputs larger than this are refused (InputTooLarge): a report's text is well under 1 MB",
    )
    max_text_chars: int = Field(
        default=4_000_000, description="Decoded text longer than this is refused (InputTooLarge)"
    )
    max_fields: int = Field(
        default=500_000,
        description="An input that yields more fields (cells and lines of text) than this is refused (InputTooLarge): "
        "a report has a few thousand; HTML span bombs, tab floods and DOCX cell bombs have millions",
    )
    max_html_depth: int = Field(default=400, description="HTML nesting deeper than this is flattened, not recursed")
    max_docx_uncompressed: int = Field(
        default=200 * 1024 * 1024, description="DOCX whose parts inflate beyond this are refused (zip bomb)"
    )
    max_docx_xml_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="DOCX whose XML parts (word/*.xml) inflate beyond this are refused (InputTooLarge), from the ZIP's "
        "declared sizes before anything is parsed: the parsed tree takes ~10× its XML in memory; a long report's "
        "document.xml is 1-3 MB",
    )
    max_pages: int = Field(
        default=1000,
        description="Documents with more pages (PDF pages, image frames) are refused (InputTooLarge), from the page "
        "count alone before any page is read",
    )
    max_megapixels_per_page: float = Field(
        default=50.0,
        gt=0,
        description="Page images (image frames, and images placed on a PDF page that is read by OCR) with more pixels "
        "than this many million are refused (InputTooLarge; on a PDF page: that page fails), from the header before "
        "any pixel is decoded; PDF pages are rendered at a resolution that keeps them under it. 50 MP holds an A4 "
        "scan at 600 dpi (35 MP)",
    )
    max_pdf_stream_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="A PDF whose content, font or object stream (Flate) inflates beyond this is refused "
        "(InputTooLarge) before PDFium reads it (a Flate bomb; PDFium inflates a page's content whole when it "
        "loads the page). Image streams are bounded by max_megapixels_per_page instead",
    )
    max_document_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Time budget of one document's pages (render, OCR, layout). Pages not read when it runs out are "
        "listed as failed (time_limit_exceeded) and the result is partial; with no page read the input is refused "
        "(TimeLimitExceeded). The per-page limit is ocr.page_timeout_s (a page past it fails, the others are "
        "still read). Both are checked between steps: one call into PDFium or the OCR engine is not interrupted",
    )
    ocr: OcrOptions = Field(default_factory=OcrOptions, description="OCR of pages without a usable text layer")

    def max_page_pixels(self) -> int:
        """The page pixel limit: max_megapixels_per_page, and OCR's own max_image_pixels when lower."""
        return min(int(self.max_megapixels_per_page * 1_000_000), self.ocr.limits.max_image_pixels)


class IngestBackend(ABC):
    """Turns the bytes of one input kind into lines of fields."""

    kind: str = ""

    @abstractmethod
    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        """The whole input read: lines of every page."""

    def open(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        """The input opened for the pipeline: text inputs are read whole; paged inputs (PDF, images)
        leave their pages `pending` for the OCR and page-reading stages."""
        return self(data, name, options)

    @staticmethod
    def new_state(data: bytes, name: str, kind: str) -> DocumentState:
        return DocumentState(name=name, sha256=hashlib.sha256(data).hexdigest(), kind=kind)


def finish_lines(state: DocumentState, options: IngestOptions) -> None:
    """The document's lines are complete: refuse an absurd number of fields, and read a report in
    traditional characters as simplified."""
    fields = sum(len(line.fields) for line in state.lines)
    if fields > options.max_fields:
        raise InputTooLarge(
            f"the input holds {fields:,} cells and lines of text; the limit is {options.max_fields:,} "
            f"(a report has a few thousand)",
            detail={"fields": fields, "limit": options.max_fields},
        )
    simplify_document(state)  # a report in traditional characters is read as simplified
