"""Reading the pending pages of a PDF or image: the work of the OCR and page-reading stages.

Ingest opens a paged input and leaves its pages `pending` (`extraction.document.PendingPages`): a
walk over the pages in printing order that yields each page's text-layer lines or its image. The
OCR stage (`read_pending`) drives that walk through a `PageQueue`: page images go to the OCR engine,
up to `OcrOptions.pages_in_flight` at once, and each page's table geometry is read with its OCR
(it needs the page image, which is not kept). The page-reading stage (`finish_pending`) then
works on the whole document: repeated page headers dropped, the input kind's summary (kind,
warnings, the error when no page could be read), the field limit and the traditional-character
check (`finish_lines`, which text inputs get at ingest).
"""

from __future__ import annotations

from extraction.document import DocumentState, PagesRead
from extraction.errors import InputTooLarge
from extraction.ingest.base import IngestOptions
from extraction.ingest.hanzi import simplify_document
from extraction.ocr.base import OcrEngine, load_engine


def read_pending(state: DocumentState, options: IngestOptions) -> PagesRead:
    """Read the pending pages in printing order; OCR where a page needs it. Returns (and records on
    the state) which pages OCR read; the engine's name@version goes to `state.ocr`."""
    from extraction.ingest.image import DocumentClock, PageQueue, ocr_options

    pending = state.pending
    read = PagesRead()
    if pending is None:
        return read
    opts = ocr_options(options)
    clock = getattr(pending, "clock", None) or DocumentClock(options)
    queue = PageQueue(state, opts, clock)
    engine: OcrEngine | None = None
    try:
        for item in pending.pages(queue.begin):
            if item.error is not None:
                queue.add_failed(item.info, item.error)
            elif item.image is not None:
                if engine is None:
                    try:
                        engine = load_engine(opts)
                    except Exception as exc:  # one bad page must not sink the document
                        queue.add_failed(item.info, exc)
                        continue
                    state.ocr = engine.label
                queue.add_ocr(item.info, item.image, engine, item.deadline, item.stretch)
                del item
            else:
                queue.add_lines(item.info, item.lines or [])
    finally:
        queue.finish()
    read.ocr_pages, read.unavailable = queue.ocr_pages, queue.unavailable
    state.pages_read = read
    return read


def finish_pending(state: DocumentState) -> None:
    """Page reading over the whole document once its pages are read: repeated page headers
    dropped, then the input kind's summary (see the module doc)."""
    from extraction.pages.geometry import drop_repeated_headers

    pending = state.pending
    if pending is None:
        return
    state.lines = drop_repeated_headers(state.lines)
    read = state.pages_read or PagesRead()
    state.pending = state.pages_read = None
    pending.finish(state, read)


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


def read_all(state: DocumentState, options: IngestOptions) -> DocumentState:
    """OCR and page reading in one call, for the pending pages of a state that a backend opened
    (`finish_lines` is the caller's: `Ingestor` runs it)."""
    if state.pending is not None:
        read_pending(state, options)
        finish_pending(state)
    return state
