"""Ingest stage contract: bytes of one input → `DocumentState` with `lines` (and `pages`).

One backend per input kind; `sniff` recognises the kind from the bytes, not the file name.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

from pydantic import BaseModel, Field

from extraction.document import DocumentState
from extraction.ocr.base import OcrOptions


class IngestOptions(BaseModel):
    max_bytes: int = Field(default=50 * 1024 * 1024, description="Inputs larger than this are refused (InputTooLarge)")
    max_text_bytes: int = Field(
        default=8 * 1024 * 1024,
        description="Text, markdown and HTML inputs larger than this are refused (InputTooLarge): a report's text is well under 1 MB",
    )
    max_text_chars: int = Field(
        default=4_000_000, description="Decoded text longer than this is refused (InputTooLarge)"
    )
    max_html_depth: int = Field(default=400, description="HTML nesting deeper than this is flattened, not recursed")
    max_docx_uncompressed: int = Field(
        default=200 * 1024 * 1024, description="DOCX whose parts inflate beyond this are refused (zip bomb)"
    )
    max_pages: int = Field(default=1000, description="Documents with more pages are refused")
    ocr: OcrOptions = Field(default_factory=OcrOptions, description="OCR of pages without a usable text layer")


class IngestBackend(ABC):
    """Turns the bytes of one input kind into lines of fields."""

    kind: str = ""

    @abstractmethod
    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState: ...

    @staticmethod
    def new_state(data: bytes, name: str, kind: str) -> DocumentState:
        return DocumentState(name=name, sha256=hashlib.sha256(data).hexdigest(), kind=kind)
