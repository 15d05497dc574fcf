"""Per-page progress of a running extraction.

The caller (the service's worker) sets a callback for its own context; each ingest backend reports
every page it is done with, read or failed. Without a callback, reporting costs nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

log = logging.getLogger(__name__)

page_done: ContextVar[Callable[[int], None] | None] = ContextVar("gongkai_page_done", default=None)


def report_page(number: int) -> None:
    callback = page_done.get()
    if callback is None:
        return
    try:
        callback(number)
    except Exception:  # progress is best effort: never fail a page for it
        log.exception("page progress callback failed")
