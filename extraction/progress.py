"""Per-page progress of a running extraction, and its page checkpoints.

The caller (the service's worker) sets a callback for its own context; each ingest backend reports
every page it is done with, read or failed. Without a callback, reporting costs nothing.

A caller may also set a `PageCache`: a page's OCR output (its lines) is handed to it once read, and
a page the cache already holds is not OCR'd again (the service keeps them per job: a job re-run
after its worker died resumes from the pages already read)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

log = logging.getLogger(__name__)

page_done: ContextVar[Callable[[int], None] | None] = ContextVar("gongkai_page_done", default=None)


class PageCache(Protocol):
    def get(self, number: int) -> list[Any] | None: ...  # the page's lines, read before

    def put(self, number: int, lines: list[Any]) -> None: ...  # a page just read by OCR


page_cache: ContextVar[PageCache | None] = ContextVar("gongkai_page_cache", default=None)


def cached_page(number: int) -> list[Any] | None:
    cache = page_cache.get()
    if cache is None:
        return None
    try:
        return cache.get(number)
    except Exception:  # a checkpoint that cannot be read: the page is read again
        log.exception("page checkpoint %s could not be read", number)
        return None


def store_page(number: int, lines: list[Any]) -> None:
    cache = page_cache.get()
    if cache is None:
        return
    try:
        cache.put(number, lines)
    except Exception:  # checkpoints are best effort: never fail a page for one
        log.exception("page checkpoint %s could not be kept", number)


def report_page(number: int) -> None:
    callback = page_done.get()
    if callback is None:
        return
    try:
        callback(number)
    except Exception:  # progress is best effort: never fail a page for it
        log.exception("page progress callback failed")
