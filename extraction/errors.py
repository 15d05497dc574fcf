"""Typed error tree.

`InputError` and its subclasses are the caller's bad input: each has a stable `code`, an HTTP
status in the 4xx range and a CLI exit code. `ExtractionDefect` is our own bug (HTTP 500).
"""

from __future__ import annotations


class GongkaiError(Exception):
    code = "internal_error"
    http_status = 500
    exit_code = 70  # EX_SOFTWARE

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
    http_status = 422
    exit_code = 65  # EX_DATAERR


class EmptyInput(InputError):
    code = "empty_input"
    exit_code = 66


class UnsupportedInput(InputError):
    """Bytes that are no input kind we read (binary junk, an executable, an archive)."""

    code = "unsupported_input"
    http_status = 415
    exit_code = 67


class UndecodableText(InputError):
    code = "undecodable_text"
    exit_code = 68


class InputTooLarge(InputError):
    code = "input_too_large"
    http_status = 413
    exit_code = 69


class NotAReport(InputError):
    """Readable, but not a 政府信息公开工作年度报告."""

    code = "not_a_report"
    exit_code = 71


class TablesMissing(InputError):
    """A report whose statutory tables could not be found."""

    code = "tables_missing"
    exit_code = 72


class CorruptInput(InputError):
    """A file of a known kind whose structure is broken (truncated DOCX/PDF, bad ZIP)."""

    code = "corrupt_input"
    exit_code = 73


class EncryptedInput(InputError):
    code = "encrypted_input"
    exit_code = 74


class TimeLimitExceeded(InputError):
    """The document ran past its time budget (`IngestOptions.max_document_seconds`) before any of its
    pages could be read. When some pages were read the result is partial instead: the pages left
    are listed as failed (`time_limit_exceeded: ...`)."""

    code = "time_limit_exceeded"
    exit_code = 77


class OcrUnavailable(GongkaiError):
    """The configured OCR engine cannot run here: its package is not installed, or its model files are
    missing. A set-up problem, not bad input: gongkai never downloads models at run time."""

    code = "ocr_unavailable"
    http_status = 503
    exit_code = 78  # EX_CONFIG


class InputNotFound(InputError):
    code = "input_not_found"
    http_status = 404
    exit_code = 75


# Exit codes the CLI documents, by error code.
EXIT_CODES = {
    cls.code: cls.exit_code
    for cls in (
        InputError,
        EmptyInput,
        UnsupportedInput,
        UndecodableText,
        InputTooLarge,
        NotAReport,
        TablesMissing,
        CorruptInput,
        EncryptedInput,
        TimeLimitExceeded,
        InputNotFound,
        OcrUnavailable,
        ExtractionDefect,
    )
}
