"""Typed error tree.

`InputError` and its subclasses are the caller's bad input, each with a stable `code`;
`ExtractionDefect` is our own bug. The errors carry their code only: the service maps a code to an
HTTP status (service/routes/errors.py), the command line to an exit status (extraction/cli.py).
"""

from __future__ import annotations


class GongkaiError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, detail: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **({"detail": self.detail} if self.detail else {})}


class ExtractionDefect(GongkaiError):
    """An error in gongkai itself, not in the input."""


class InputError(GongkaiError):
    code = "bad_input"


class EmptyInput(InputError):
    code = "empty_input"


class UnsupportedInput(InputError):
    """Bytes that are no input kind we read (binary junk, an executable, an archive)."""

    code = "unsupported_input"


class UndecodableText(InputError):
    code = "undecodable_text"


class InputTooLarge(InputError):
    code = "input_too_large"


class NotAReport(InputError):
    """Readable, but not a 政府信息公开工作年度报告."""

    code = "not_a_report"


class TablesMissing(InputError):
    """A report whose statutory tables could not be found."""

    code = "tables_missing"


class CorruptInput(InputError):
    """A file of a known kind whose structure is broken (truncated DOCX/PDF, bad ZIP)."""

    code = "corrupt_input"


class EncryptedInput(InputError):
    code = "encrypted_input"


class TimeLimitExceeded(InputError):
    """The document ran past its time budget (`IngestOptions.max_document_seconds`) before any of its
    pages could be read. When some pages were read the result is partial instead: the pages left
    are listed as failed (`time_limit_exceeded: ...`)."""

    code = "time_limit_exceeded"


class OcrUnavailable(GongkaiError):
    """The configured OCR engine cannot run here: its package is not installed, or its model files are
    missing. A set-up problem, not bad input: gongkai never downloads models at run time."""

    code = "ocr_unavailable"


class InputNotFound(InputError):
    code = "input_not_found"

