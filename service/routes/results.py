"""Results: a document's canonical JSON (corrections applied), its cells, checks and labels, and exports
(one report as CSV, XLSX or JSON; many in one sheet)."""

from __future__ import annotations

import asyncio
import io
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from service import exports
from service.auth import Principal
from service.core import Service
from service.db import Document, Upload
from service.downloads import content_disposition, safe_stem
from service.review import ReviewedView, labels
from service.routes.deps import ERRORS, SessionDep, Submitter, require_view, svc_of, visible_document
from service.routes.errors import ApiError
from service.routes.outputs import cell_out
from service.schemas import BatchExportBody, CellOut

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/documents/{doc_id}/result", tags=["results"], summary="The canonical JSON, corrections applied")
def get_result(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> dict[str, Any]:
    return require_view(request, s, visible_document(s, who, doc_id)).result


@router.get("/documents/{doc_id}/cells", tags=["results"], response_model=list[CellOut])
def get_cells(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> list[CellOut]:
    view = require_view(request, s, visible_document(s, who, doc_id))
    return [cell_out(view, cid) for cid in view.result["cells"]]


@router.get("/documents/{doc_id}/checks", tags=["results"])
def get_checks(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> list[dict[str, Any]]:
    return require_view(request, s, visible_document(s, who, doc_id)).result["checks"]


@router.get("/documents/{doc_id}/labels", tags=["results"], summary="Statutory labels of every cell id")
def get_labels(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> dict[str, dict[str, str]]:
    view = require_view(request, s, visible_document(s, who, doc_id))
    rep = view.result["report"]
    return labels(rep["format"], rep.get("variants") or ())


def _export(view: ReviewedView, fmt: str, stem: str) -> Response:
    from extraction.export import to_csv, write_xlsx
    from extraction.result import ExtractionResult

    result = ExtractionResult.model_validate(view.result)
    if fmt == "json":
        return JSONResponse(view.result, headers={"Content-Disposition": content_disposition(stem, "json")})
    if fmt == "csv":
        return Response(
            ("\ufeff" + to_csv(result)).encode("utf-8"),  # BOM: spreadsheet programs read the Chinese labels
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": content_disposition(stem, "csv")},
        )
    buf = io.BytesIO()
    write_xlsx(result, buf)  # type: ignore[arg-type]  # openpyxl saves to a file object as well
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": content_disposition(stem, "xlsx")},
    )


@router.get("/documents/{doc_id}/export/{fmt}", tags=["results"], summary="One report: CSV, XLSX or JSON")
def export_document(
    request: Request, s: SessionDep, who: Submitter, doc_id: int, fmt: Literal["csv", "xlsx", "json"]
) -> Response:
    doc = visible_document(s, who, doc_id)
    # saved under the uploaded file's name (made safe), not document-<id>
    return _export(require_view(request, s, doc), fmt, safe_stem(doc.filename, f"document-{doc_id}"))


@router.post("/exports", tags=["results"], summary="Many reports in one sheet: one row per report, one column per cell")
async def batch_export(request: Request, who: Submitter, body: BatchExportBody) -> Response:
    """Built in a child process (service/exports.py), streamed from a file: the server's own threads
    stay free. At most `max_export_documents` documents; `export_workers` exports at once, then 429."""
    svc = svc_of(request)
    ids = await run_in_threadpool(_export_ids, svc, who, body)
    slots: asyncio.Semaphore = request.app.state.export_slots
    try:
        await asyncio.wait_for(slots.acquire(), svc.settings.export_wait_s)
    except TimeoutError:
        raise ApiError(429, "server_busy", "every exporter is busy; try again shortly", headers={"Retry-After": "5"}) from None
    try:
        path = await run_in_threadpool(exports.produce, svc, ids, body.format)
    finally:
        slots.release()
    return StreamingResponse(
        exports.stream_and_remove(path),
        media_type=exports.MEDIA[body.format],
        headers={"Content-Disposition": f'attachment; filename="reports.{body.format}"'},
    )


def _export_ids(svc: Service, who: Principal, body: BatchExportBody) -> list[int]:
    """The documents of an export, each one the caller may read (someone else's: 404), at most the limit."""
    limit = svc.settings.max_export_documents
    with svc.db.session() as s:
        if body.document_ids is None:
            query = select(Document.id).where(Document.result_id.is_not(None))
            if not who.has("reviewer"):
                query = query.where(Document.id.in_(select(Upload.document_id).where(Upload.token_id == who.token_id)))
            ids = list(s.scalars(query.order_by(Document.id).limit(limit + 1)))
        else:
            ids = list(dict.fromkeys(body.document_ids))  # each document once, in the order asked
        if len(ids) > limit:
            raise ApiError(
                422,
                "too_many_documents",
                f"at most {limit} documents per export; give document_ids in batches",
                {"limit": limit, "asked": len(ids) if body.document_ids is not None else f">{limit}"},
            )
        for i in ids:
            visible_document(s, who, i)
    return ids
