"""Batch exports (`POST /v1/exports`): many reports in one sheet, one row per report, one column per cell.

The sheet is built (service/export_sheet.py) in a supervised child (`service/sandbox.py`, operation `batch_export`), never in
the API process: re-running the rules of a thousand reviewed documents is seconds of CPU, which in
the server's own threads slowed every other request (health checks to 200-400 ms). The child reads
the documents the API has already checked the caller may read, writes the file into the store's
`exports/` folder, and the API streams it from there and removes it. Formula-like text is written as
text (extraction.export: csv_row, xlsx_append).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from service.errors import ExportFailed, ServerBusy
from service.export_sheet import write_batch_export

if TYPE_CHECKING:
    from service.core import Service

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_dir(svc: Service) -> Path:
    """`<store>/exports/`, without files older than twice an export's time limit (left by a server that
    stopped between building an export and sending it)."""
    import contextlib
    import time

    folder = svc.store.root / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stale = time.time() - 2 * svc.settings.export_timeout_s
    for f in folder.iterdir():
        with contextlib.suppress(OSError):
            if f.stat().st_mtime < stale:
                f.unlink()
    return folder


def produce(svc: Service, ids: list[int], fmt: str) -> Path:
    """The export file (blocking: call it from a thread); the caller streams it and removes it."""
    st = svc.settings
    fd, name = tempfile.mkstemp(dir=export_dir(svc), prefix="export-", suffix=f".{fmt}")
    os.close(fd)
    request = {
        "db_url": st.db_url, "ids": ids, "format": fmt, "out": name, "review_threshold": st.review_threshold,
    }  # fmt: skip
    try:
        if not st.process_isolation:
            write_batch_export(request)
            return Path(name)
        from service.sandbox import PoolClosed

        try:
            with exporters(svc).lease(timeout=st.export_wait_s) as box:
                outcome = box.call("batch_export", request, time_limit=st.export_timeout_s)
        except (TimeoutError, PoolClosed):
            outcome = None
        if outcome is None or outcome.aborted:
            raise ServerBusy("every exporter is busy; try again shortly")
        if not outcome.ok:
            raise ExportFailed(outcome.code or "internal_error", outcome.message, outcome.detail or None)
        return Path(name)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def exporters(svc: Service):
    """Children that build batch exports (CPU-heavy: the rules re-run per document) off the API process."""
    from service.sandbox import Sandbox, SandboxPool

    st = svc.settings
    return svc._pool(
        "_exporters",
        lambda: SandboxPool(
            lambda: Sandbox(
                "export",
                memory_limit=st.max_worker_memory_mb * 2**20,
                max_jobs=st.child_max_jobs * 10,
                warm=("service.export_sheet", "extraction.rules", "openpyxl"),
                nice=st.extraction_nice,
            ),
            max_size=st.export_workers,
        ),
    )


def stream_and_remove(path: Path, chunk: int = 256 * 1024):
    """The file's bytes in chunks; the file is removed once opened (its descriptor keeps it readable)."""
    fh = open(path, "rb")  # noqa: SIM115  # closed by the generator
    path.unlink(missing_ok=True)

    def chunks():
        try:
            while block := fh.read(chunk):
                yield block
        finally:
            fh.close()

    return chunks()
