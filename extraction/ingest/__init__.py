"""Ingest stage: recognise the input kind from its bytes and run that kind's backend."""

from __future__ import annotations

import importlib
from pathlib import Path

from extraction.document import DocumentState
from extraction.errors import InputNotFound, InputTooLarge, UnsupportedInput
from extraction.ingest.base import IngestBackend, IngestOptions, finish_lines
from extraction.ingest.sniff import sniff

# kind -> "module:Class"; imported lazily so text inputs never load PDF/OCR libraries.
BACKENDS: dict[str, str] = {
    "txt": "extraction.ingest.text:TextBackend",
    "md": "extraction.ingest.text:MarkdownBackend",
    "html": "extraction.ingest.html:HtmlBackend",
    "docx": "extraction.ingest.docx:DocxBackend",
    "pdf": "extraction.ingest.pdf:PdfBackend",
    "image": "extraction.ingest.image:ImageBackend",
}


def load_backend(kind: str) -> IngestBackend:
    target = BACKENDS.get(kind)
    if target is None:
        raise UnsupportedInput(f"no ingest backend for input kind {kind!r}")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UnsupportedInput(
            f"reading {kind} inputs needs a component that is not installed ({exc.name})",
            detail={"kind": kind},
        ) from None
    return getattr(module, cls_name)()


class Ingestor:
    """Stage 1: bytes or a path → `DocumentState` with lines of fields."""

    name = "ingest"
    version = "1"

    def __init__(self, options: IngestOptions | None = None) -> None:
        self.options = options or IngestOptions()
        self._backends: dict[str, IngestBackend] = {}

    def read_path(self, path: Path) -> tuple[bytes, str]:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise InputNotFound(f"no such file: {path}") from None
        if size > self.options.max_bytes:
            raise InputTooLarge(
                f"the file is {size:,} bytes; the limit is {self.options.max_bytes:,}",
                detail={"bytes": size, "limit": self.options.max_bytes},
            )
        return path.read_bytes(), path.name

    def open(self, data: bytes, name: str) -> DocumentState:
        """The pipeline's ingest stage: the input's kind from its bytes, its limits checked, and its
        backend run. Text inputs come back read (lines); a PDF or image comes back with its pages
        pending, for the OCR and page-reading stages (`extraction.ingest.image.read_pending`)."""
        if len(data) > self.options.max_bytes:
            raise InputTooLarge(
                f"the input is {len(data):,} bytes; the limit is {self.options.max_bytes:,}",
                detail={"bytes": len(data), "limit": self.options.max_bytes},
            )
        kind = sniff(data, name)
        if kind in ("txt", "md", "html") and len(data) > self.options.max_text_bytes:
            raise InputTooLarge(
                f"the {kind} input is {len(data):,} bytes; text inputs are limited to "
                f"{self.options.max_text_bytes:,} bytes (a report's text is well under 1 MB)",
                detail={"bytes": len(data), "limit": self.options.max_text_bytes, "kind": kind},
            )
        backend = self._backends.get(kind)
        if backend is None:
            backend = self._backends[kind] = load_backend(kind)
        state = backend.open(data, name, self.options)
        if state.pending is None:
            finish_lines(state, self.options)
        return state

    def __call__(self, data: bytes, name: str) -> DocumentState:
        """The input read whole: ingest, then OCR and page reading of a paged input's pages (what
        the pipeline's first three stages do)."""
        state = self.open(data, name)
        if state.pending is not None:
            from extraction.ingest.image import read_all  # (PDF and OCR libraries: paged inputs only)

            read_all(state, self.options)
            finish_lines(state, self.options)
        return state


__all__ = ["BACKENDS", "IngestBackend", "IngestOptions", "Ingestor", "sniff"]
