"""Batch exports (`POST /v1/exports`): many reports in one sheet, one row per report, one column per cell.

The sheet is built in a supervised child (`service/sandbox.py`, operation `batch_export`), never in
the API process: re-running the rules of a thousand reviewed documents is seconds of CPU, which in
the server's own threads slowed every other request (health checks to 200-400 ms). The child reads
the documents the API has already checked the caller may read, writes the file into the store's
`exports/` folder, and the API streams it from there and removes it. Formula-like text is written as
text (extraction.export: csv_row, xlsx_append).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.core import Service

BATCH_META = ["document_id", "filename", "sha256", "agency", "year", "format", "status", "model_version"]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def write_batch_export(request: dict[str, Any]) -> dict[str, Any]:
    """{"db_url", "ids", "format", "out", "review_threshold"} → {"rows", "bytes"}: the documents' reviewed
    values written to `out` (ids without a result are left out)."""
    from sqlalchemy import select

    from extraction.export import csv_row, xlsx_append
    from extraction.schema import layout
    from service.api_support import reviewed_view
    from service.db import Database, Document, Result

    svc = SimpleNamespace(settings=SimpleNamespace(review_threshold=request["review_threshold"]))
    db = Database(request["db_url"])
    rows: list[dict[str, Any]] = []
    try:
        with db.session() as s:
            for doc_id in request["ids"]:
                doc = s.get(Document, doc_id)
                view = reviewed_view(svc, s, doc) if doc is not None else None  # type: ignore[arg-type]
                if view is None:
                    continue
                rep = view.result["report"]
                version = s.scalar(select(Result.model_version).where(Result.id == doc.result_id))  # type: ignore[union-attr]
                meta = [doc.id, doc.filename, doc.sha256, rep.get("agency"), rep.get("year"), rep["format"], doc.status, version]  # type: ignore[union-attr]
                cells = {k: c["value"] for k, c in view.result["cells"].items()}
                rows.append({"meta": dict(zip(BATCH_META, meta, strict=True)), "cells": cells})
                s.expunge_all()  # one document's objects at a time
    finally:
        db.dispose()
    # columns: every cell of format 2021, then those only format 2019 (or a variant) has
    columns = list(layout("2021").cell_ids)
    seen = set(columns)
    for r in rows:
        for cid in r["cells"]:
            if cid not in seen:
                seen.add(cid)
                columns.append(cid)
    out = Path(request["out"])
    fmt = request["format"]
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            if fmt == "json":
                body = [{**r["meta"], "cells": r["cells"]} for r in rows]
                fh.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
            else:
                lines = (
                    [r["meta"][k] for k in BATCH_META] + [r["cells"].get(c) for c in columns] for r in rows
                )
                if fmt == "csv":  # with a BOM: spreadsheet programs read the Chinese labels
                    with io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
                        writer = csv.writer(text)
                        writer.writerow(BATCH_META + columns)
                        for line in lines:
                            writer.writerow(csv_row(line))  # an agency or file name like `=HYPERLINK(…)` is text
                else:
                    from openpyxl import Workbook

                    wb = Workbook()
                    ws = wb.active
                    ws.title = "reports"
                    ws.append(BATCH_META + columns)
                    for line in lines:
                        xlsx_append(ws, line)
                    wb.save(fh)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"rows": len(rows), "bytes": out.stat().st_size}


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
    from extraction.errors import GongkaiError

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
            exc = GongkaiError("every exporter is busy; try again shortly")
            exc.code, exc.http_status = "server_busy", 429
            raise exc
        if not outcome.ok:
            exc = GongkaiError(outcome.message, detail=outcome.detail or None)
            exc.code = outcome.code or "internal_error"
            exc.http_status = 503 if exc.code in ("time_limit_exceeded", "memory_limit_exceeded", "worker_crashed") else 500
            raise exc
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
                warm=("service.exports", "extraction.rules", "openpyxl"),
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
