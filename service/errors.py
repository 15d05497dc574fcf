"""Typed error codes the service adds to the extractor's (`extraction.errors`): what happened to a job
whose extraction could not finish normally, and to the service's own storage.

Each is a `GongkaiError`, so a job stores `code` on its document and an upload item carries it."""

from __future__ import annotations

import re

from extraction.errors import GongkaiError, InputError
from extraction.errors import TimeLimitExceeded as TimeLimitExceeded  # the extractor's own budget, and the kill


class WorkerCrashed(GongkaiError):
    """The extraction process died (a crash in a native library, killed by a signal)."""

    code = "worker_crashed"
    http_status = 500


class MemoryLimitExceeded(InputError):
    """The extraction process went over GONGKAI_MAX_WORKER_MEMORY_MB."""

    code = "memory_limit_exceeded"
    http_status = 422


class StorageError(GongkaiError):
    """The database or the file store failed (full disk, lost connection): transient, retried."""

    code = "storage_error"
    http_status = 507


class OriginalMissing(GongkaiError):
    """A document's original is gone from the file store (`gongkai doctor` reports it)."""

    code = "original_missing"
    http_status = 500


class OriginalCorrupt(GongkaiError):
    """A document's original no longer matches its sha256 (`gongkai doctor` reports it)."""

    code = "original_corrupt"
    http_status = 500


SERVICE_ERRORS: tuple[type[GongkaiError], ...] = (
    WorkerCrashed,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    StorageError,
    OriginalMissing,
    OriginalCorrupt,
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
