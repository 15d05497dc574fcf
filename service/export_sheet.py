"""A batch export's file, the child side (`service/sandbox.py`, operation `batch_export`, or the API's
thread in `inline` isolation): the documents' reviewed values read from the database and written as
one sheet, one row per report, one column per cell. No `Service` here: service/exports.py plans it."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

BATCH_META = ["document_id", "filename", "sha256", "agency", "year", "format", "status", "model_version"]
def write_batch_export(request: dict[str, Any]) -> dict[str, Any]:
    """{"db_url", "ids", "format", "out", "review_threshold"} → {"rows", "bytes"}: the documents' reviewed
    values written to `out` (ids without a result are left out)."""
    from sqlalchemy import select

    from extraction.export import csv_row, xlsx_append
    from extraction.schema import layout
    from service.db import Database, Document, Result
    from service.review import reviewed_view

    db = Database(request["db_url"])
    rows: list[dict[str, Any]] = []
    try:
        with db.session() as s:
            for doc_id in request["ids"]:
                doc = s.get(Document, doc_id)
                view = reviewed_view(s, doc, request["review_threshold"]) if doc is not None else None
                if doc is None or view is None:
                    continue
                rep = view.result["report"]
                version = s.scalar(select(Result.model_version).where(Result.id == doc.result_id))
                meta = [doc.id, doc.filename, doc.sha256, rep.get("agency"), rep.get("year"), rep["format"], doc.status, version]
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
