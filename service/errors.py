"""Typed error codes the service adds to the extractor's (`extraction.errors`): what happened to a job
whose extraction could not finish normally, and to the service's own storage.

Each is a `GongkaiError`, so a job stores `code` on its document and an upload item carries it. Errors
carry their typed `code` only: the HTTP layer maps codes to statuses (service/routes/errors.py)."""

from __future__ import annotations

import re

from extraction.errors import GongkaiError, InputError
from extraction.errors import TimeLimitExceeded as TimeLimitExceeded  # the extractor's own budget, and the kill


class WorkerCrashed(GongkaiError):
    """The extraction process died (a crash in a native library, killed by a signal)."""

    code = "worker_crashed"


class MemoryLimitExceeded(InputError):
    """The extraction process went over GONGKAI_MAX_WORKER_MEMORY_MB."""

    code = "memory_limit_exceeded"


class StorageError(GongkaiError):
    """The database or the file store failed (full disk, lost connection): transient, retried."""

    code = "storage_error"


class OriginalMissing(GongkaiError):
    """A document's original is gone from the file store (`gongkai doctor` reports it)."""

    code = "original_missing"


class OriginalCorrupt(GongkaiError):
    """A document's original no longer matches its sha256 (`gongkai doctor` reports it)."""

    code = "original_corrupt"


class NoPageImage(GongkaiError):
    """The document has no page images (text, HTML, DOCX) or no such page."""

    code = "no_page_image"


class ServerBusy(GongkaiError):
    """Every child process of a kind (inspection, page rendering, export) is busy, or shutting down."""

    code = "server_busy"


class ChildFailed(GongkaiError):
    """A child process that served an API request (a page render, a batch export) failed: `code` is the
    child's own (`time_limit_exceeded`, `input_too_large`, …); which request it served decides the HTTP
    status (service/routes/errors.py)."""

    def __init__(self, code: str, message: str, detail: dict | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code


class RenderFailed(ChildFailed):
    """A page image could not be rendered: the document's fault (4xx), unless the server is busy."""


class ExportFailed(ChildFailed):
    """A batch export's child failed: a limit (503) or a defect (500), never the caller's input."""


SERVICE_ERRORS: tuple[type[GongkaiError], ...] = (
    WorkerCrashed,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    StorageError,
    OriginalMissing,
    OriginalCorrupt,
    NoPageImage,
    ServerBusy,
)


_PATH_RE = re.compile(r"(?:/[^\s'\":,()\[\]<>]+)+")
MESSAGE_CHARS = 300


def public_message(text: str) -> str:
    """An error as it may be shown to a user and stored on a job or a run: no traceback, no server
    paths (a path → its last part), at most MESSAGE_CHARS characters."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Traceback", "File ", "^", "~")) and not ln.startswith("During ")]
    last = lines[-1] if lines else ""
    last = _PATH_RE.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], last)
    return last[:MESSAGE_CHARS]
