"""The HTTP API (FastAPI), versioned under /v1, and the review UI under /ui."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Header, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extraction.errors import GongkaiError, InputTooLarge
from extraction.schema import split_cell_id
from service import pages as page_images
from service import training_adapter
from service.api_support import refresh_summary, reviewed_view
from service.auth import Principal, Role, authenticate, create_token, revoke_token
from service.core import Service
from service.db import CellReview, Document, IdempotencyKey, Job, ModelVersion, Result, Token, TrainingRun, Upload
from service.review import ReviewedView, coerce_value, labels, truth_record
from service.schemas import (
    AuditEntry,
    BatchExportBody,
    BulkAcceptOutcome,
    CellOut,
    CorrectBody,
    DocumentList,
    DocumentOut,
    ErrorResponse,
    JobOut,
    Me,
    ModelOut,
    ReviewOutcome,
    ReviewState,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TrainingRunCreate,
    TrainingRunOut,
    UploadItem,
    UploadResponse,
)
from service.store import sha256_hex

UI_DIR = Path(__file__).resolve().parent / "ui"
bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer gk_…` (see `gongkai tokens create`)")
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or unknown token"},
    403: {"model": ErrorResponse, "description": "The token's role may not do this"},
}


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, detail: dict | None = None) -> None:
        super().__init__(status, message)
        self.code, self.message, self.extra = code, message, detail


def svc_of(request: Request) -> Service:
    return request.app.state.svc


def get_session(request: Request):
    with svc_of(request).db.session() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if creds is None or not creds.credentials:
        raise ApiError(401, "unauthenticated", "an API token is required (Authorization: Bearer …)")
    with svc_of(request).db.session() as s:
        who = authenticate(s, creds.credentials)
    if who is None:
        raise ApiError(401, "unauthenticated", "the API token is unknown or revoked")
    return who


def require(role: Role):
    def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.has(role):
            raise ApiError(403, "forbidden", f"this needs the {role} role (your token is {who.role})")
        return who

    dependency.__name__ = f"require_{role}"
    return dependency


Submitter = Annotated[Principal, Depends(require("submitter"))]
Reviewer = Annotated[Principal, Depends(require("reviewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def visible_document(s: Session, who: Principal, doc_id: int) -> Document:
    """The document, if `who` may read it: reviewers and admins read all, submitters their own uploads.
    Someone else's document is a 404, not a 403: its existence is not disclosed."""
    doc = s.get(Document, doc_id)
    if doc is not None and not who.has("reviewer"):
        owned = s.scalar(select(Upload.id).where(Upload.document_id == doc_id, Upload.token_id == who.token_id))
        doc = doc if owned else None
    if doc is None:
        raise ApiError(404, "not_found", f"no document {doc_id}")
    return doc


def latest_job(s: Session, doc_id: int) -> Job | None:
    return s.scalar(select(Job).where(Job.document_id == doc_id).order_by(Job.id.desc()).limit(1))


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


def document_out(s: Session, doc: Document, with_job: bool = True) -> DocumentOut:
    version = None
    if doc.result_id is not None:
        version = s.scalar(select(Result.model_version).where(Result.id == doc.result_id))
    out = DocumentOut.model_validate(doc, from_attributes=True)
    out.model_version = version
    if with_job:
        job = latest_job(s, doc.id)
        out.job = job_out(job) if job else None
    return out


def require_view(request: Request, s: Session, doc: Document) -> ReviewedView:
    view = reviewed_view(svc_of(request), s, doc)
    if view is None:
        raise ApiError(409, "not_extracted", f"document {doc.id} has no result yet (status: {doc.status})")
    return view


def cell_out(view: ReviewedView, cid: str) -> CellOut:
    c = view.result["cells"][cid]
    table, row, column = split_cell_id(cid)
    return CellOut(
        cell_id=cid,
        table=table,
        row=row,
        column=column,
        value=c["value"],
        confidence=c["confidence"],
        review=c["review"],
        reviewed=cid in view.reviewed,
        corrected=cid in view.corrected,
        flags=c.get("flags", []),
        failing_rules=view.failing.get(cid, []),
        page=c.get("page"),
        bbox=c.get("bbox"),
        text=c.get("text", ""),
        alternatives=c.get("alternatives", []),
        model=c.get("model", ""),
    )


# --------------------------------------------------------------------------------------------
# Uploads


def count_pages(kind: str, data: bytes) -> int | None:
    """Pages of a PDF or frames of an image, read from the structure only (nothing rendered)."""
    if kind == "pdf":
        from extraction.ingest.pdf import open_pdf

        pdf = open_pdf(data)  # typed errors: corrupt, encrypted
        try:
            return len(pdf)
        finally:
            pdf.close()
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        from extraction.errors import CorruptInput

        try:
            with Image.open(io.BytesIO(data)) as im:
                return getattr(im, "n_frames", 1) or 1
        except (UnidentifiedImageError, OSError) as exc:
            raise CorruptInput(f"the image cannot be decoded: {exc}") from None
    return None


def _accept_file(svc: Service, s: Session, who: Principal, name: str, data: bytes) -> tuple[UploadItem, int | None]:
    from extraction.ingest.sniff import sniff

    settings = svc.settings
    if len(data) > settings.max_upload_bytes:
        raise InputTooLarge(
            f"the file is over the limit of {settings.max_upload_bytes:,} bytes",
            detail={"limit": settings.max_upload_bytes},
        )
    kind = sniff(data, name)  # from the bytes; the client's Content-Type is never trusted
    pages = count_pages(kind, data)
    if pages is not None and pages > settings.max_pages:
        raise InputTooLarge(
            f"the document has {pages} pages; the limit is {settings.max_pages}",
            detail={"pages": pages, "limit": settings.max_pages},
        )
    digest = svc.store.put(data)  # before the row: a document row always has its original
    doc = s.scalar(select(Document).where(Document.sha256 == digest))
    new_job: int | None = None
    duplicate = doc is not None
    if doc is None:
        try:
            with s.begin_nested():
                doc = Document(sha256=digest, filename=name, kind=kind, size=len(data), pages=pages, status="queued")
                s.add(doc)
                s.flush()
                job = Job(kind="extract", document_id=doc.id, pages_total=pages)
                s.add(job)
                s.flush()
                new_job = job.id
        except IntegrityError:  # the same bytes uploaded concurrently: the other request made the document
            doc = s.scalar(select(Document).where(Document.sha256 == digest))
            duplicate, new_job = True, None
    assert doc is not None
    if not s.scalar(select(Upload.id).where(Upload.document_id == doc.id, Upload.token_id == who.token_id)):
        try:
            with s.begin_nested():
                s.add(Upload(document_id=doc.id, token_id=who.token_id, filename=name))
                s.flush()
        except IntegrityError:
            pass
    job = latest_job(s, doc.id)
    item = UploadItem(
        filename=name,
        document_id=doc.id,
        sha256=digest,
        kind=kind,
        pages=pages,
        status=doc.status,
        job_id=job.id if job else None,
        duplicate=duplicate,
    )
    return item, new_job


router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/health", tags=["service"], summary="Liveness and the configured backends")
def health(request: Request) -> dict[str, Any]:
    svc = svc_of(request)
    with svc.db.session() as s:
        s.execute(select(1))
    return {
        "status": "ok",
        "database": svc.db.engine.dialect.name,
        "queue": svc.queue_kind,
        "training_available": training_adapter.available(),
    }


@router.get("/me", tags=["service"], response_model=Me)
def me(who: Annotated[Principal, Depends(principal)]) -> Me:
    return Me(id=who.token_id, name=who.name, role=who.role)


@router.post(
    "/documents",
    tags=["documents"],
    status_code=202,
    response_model=UploadResponse,
    summary="Upload one or many report files (multipart field `files`)",
    responses={
        409: {"model": ErrorResponse, "description": "A request with this Idempotency-Key is still running"},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
def upload(
    request: Request,
    who: Submitter,
    files: Annotated[list[UploadFile], File(description="One or more report files")],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    svc = svc_of(request)
    if len(files) > svc.settings.max_files_per_upload:
        raise ApiError(413, "too_many_files", f"at most {svc.settings.max_files_per_upload} files per request")
    limit = svc.settings.max_upload_bytes
    # read at most limit+1 bytes per file: enough to know it is too large, never the whole of a huge one
    received = [(f.filename or "upload", f.file.read(limit + 1)) for f in files]
    fingerprint = hashlib.sha256(
        b"".join(n.encode() + b"\0" + sha256_hex(d).encode() + b"\0" for n, d in received)
    ).hexdigest()
    if idempotency_key:
        with svc.db.session() as s:
            row = s.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.token_id == who.token_id, IdempotencyKey.key == idempotency_key
                )
            )
            if row is None:
                try:
                    with s.begin_nested():
                        s.add(IdempotencyKey(token_id=who.token_id, key=idempotency_key, fingerprint=fingerprint))
                        s.flush()
                except IntegrityError:
                    row = s.scalar(
                        select(IdempotencyKey).where(
                            IdempotencyKey.token_id == who.token_id, IdempotencyKey.key == idempotency_key
                        )
                    )
        if row is not None:
            if row.fingerprint != fingerprint:
                raise ApiError(
                    422, "idempotency_key_reused", "this Idempotency-Key was used for a different request"
                )
            if row.status_code is None:
                raise ApiError(409, "request_in_progress", "a request with this Idempotency-Key is still running")
            return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})
    items: list[UploadItem] = []
    new_jobs: list[int] = []
    try:
        for name, data in received:
            try:
                with svc.db.session() as s:
                    item, job_id = _accept_file(svc, s, who, name, data)
                items.append(item)
                if job_id is not None:
                    new_jobs.append(job_id)
            except GongkaiError as exc:
                items.append(UploadItem(filename=name, error=exc.to_dict()))  # type: ignore[arg-type]
    finally:
        for job_id in new_jobs:  # after commit: a worker must find the row
            svc.enqueue(job_id)
    accepted = [i for i in items if i.error is None]
    if accepted:
        status = 202
    elif len(items) == 1:
        status = _error_status(items[0].error.code)  # type: ignore[union-attr]
    else:
        status = 422
    body = UploadResponse(items=items).model_dump(mode="json")
    if not accepted and len(items) == 1:
        body = {"error": items[0].error.model_dump(), **body}  # type: ignore[union-attr]
    if idempotency_key:
        with svc.db.session() as s:
            row = s.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.token_id == who.token_id, IdempotencyKey.key == idempotency_key
                )
            )
            row.status_code, row.response = status, body  # type: ignore[union-attr]
    return JSONResponse(body, status_code=status)


def _error_status(code: str) -> int:
    from extraction import errors

    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, GongkaiError) and obj.code == code:
            return obj.http_status
    return 422


@router.get("/documents", tags=["documents"], response_model=DocumentList)
def list_documents(
    s: SessionDep,
    who: Submitter,
    status: Annotated[str | None, Query(description="queued, processing, review, verified, failed")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentList:
    query = select(Document)
    if not who.has("reviewer"):
        query = query.where(Document.id.in_(select(Upload.document_id).where(Upload.token_id == who.token_id)))
    if status:
        query = query.where(Document.status == status)
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    docs = s.scalars(query.order_by(Document.id.desc()).limit(limit).offset(offset)).all()
    return DocumentList(items=[document_out(s, d) for d in docs], total=total)


@router.get("/documents/{doc_id}", tags=["documents"], response_model=DocumentOut)
def get_document(s: SessionDep, who: Submitter, doc_id: int) -> DocumentOut:
    return document_out(s, visible_document(s, who, doc_id))


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


@router.get("/documents/{doc_id}/original", tags=["documents"], summary="The uploaded bytes")
def get_original(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> Response:
    doc = visible_document(s, who, doc_id)
    return Response(svc_of(request).store.get(doc.sha256), media_type="application/octet-stream")


def _export(view: ReviewedView, fmt: str, stem: str) -> Response:
    from extraction.export import to_csv, write_xlsx
    from extraction.result import ExtractionResult

    result = ExtractionResult.model_validate(view.result)
    if fmt == "json":
        return JSONResponse(view.result, headers={"Content-Disposition": f'attachment; filename="{stem}.json"'})
    if fmt == "csv":
        return Response(
            ("\ufeff" + to_csv(result)).encode("utf-8"),  # BOM: spreadsheet programs read the Chinese labels
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    buf = io.BytesIO()
    write_xlsx(result, buf)  # type: ignore[arg-type]  # openpyxl saves to a file object as well
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
    )


@router.get("/documents/{doc_id}/export/{fmt}", tags=["results"], summary="One report: CSV, XLSX or JSON")
def export_document(
    request: Request, s: SessionDep, who: Submitter, doc_id: int, fmt: Literal["csv", "xlsx", "json"]
) -> Response:
    view = require_view(request, s, visible_document(s, who, doc_id))
    return _export(view, fmt, f"document-{doc_id}")


BATCH_META = ["document_id", "filename", "sha256", "agency", "year", "format", "status", "model_version"]


@router.post("/exports", tags=["results"], summary="Many reports in one sheet: one row per report, one column per cell")
def batch_export(request: Request, s: SessionDep, who: Submitter, body: BatchExportBody) -> Response:
    from extraction.schema import layout

    svc = svc_of(request)
    if body.document_ids is None:
        query = select(Document).where(Document.result_id.is_not(None))
        if not who.has("reviewer"):
            query = query.where(Document.id.in_(select(Upload.document_id).where(Upload.token_id == who.token_id)))
        docs = list(s.scalars(query.order_by(Document.id)))
    else:
        docs = [visible_document(s, who, i) for i in body.document_ids]
    rows: list[dict[str, Any]] = []
    for doc in docs:
        view = reviewed_view(svc, s, doc)
        if view is None:
            continue
        rep = view.result["report"]
        version = s.scalar(select(Result.model_version).where(Result.id == doc.result_id))
        meta = [doc.id, doc.filename, doc.sha256, rep.get("agency"), rep.get("year"), rep["format"], doc.status, version]
        rows.append({"meta": dict(zip(BATCH_META, meta, strict=True)), "cells": {k: c["value"] for k, c in view.result["cells"].items()}})
    # columns: every cell of format 2021, then those only format 2019 (or a variant) has
    columns = list(layout("2021").cell_ids)
    seen = set(columns)
    for r in rows:
        for cid in r["cells"]:
            if cid not in seen:
                seen.add(cid)
                columns.append(cid)
    if body.format == "json":
        return JSONResponse([{**r["meta"], "cells": r["cells"]} for r in rows])
    table = [BATCH_META + columns] + [
        [r["meta"][k] for k in BATCH_META] + [r["cells"].get(c) for c in columns] for r in rows
    ]
    if body.format == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        for line in table:
            writer.writerow(["" if v is None else v for v in line])
        return Response(
            ("\ufeff" + buf.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="reports.csv"'},
        )
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "reports"
    for line in table:
        ws.append(line)
    out = io.BytesIO()
    wb.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="reports.xlsx"'},
    )


@router.get("/jobs/{job_id}", tags=["jobs"], response_model=JobOut, summary="A job's status and per-page progress")
def get_job(s: SessionDep, who: Submitter, job_id: int) -> JobOut:
    job = s.get(Job, job_id)
    if job is not None and job.document_id is not None:
        visible_document(s, who, job.document_id)
    elif job is not None and not who.has("admin"):
        job = None
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return job_out(job)


# --------------------------------------------------------------------------------------------
# Page images


@router.get("/documents/{doc_id}/pages", tags=["pages"], summary="Pages with their size in the bbox unit")
def list_pages(s: SessionDep, who: Submitter, doc_id: int) -> list[dict[str, Any]]:
    doc = visible_document(s, who, doc_id)
    if doc.result_id is None:
        return []
    return s.scalar(select(Result.page_info).where(Result.id == doc.result_id)) or []


def _page_image(request: Request, s: Session, doc: Document, number: int, width: int):
    svc = svc_of(request)
    result = s.get(Result, doc.result_id) if doc.result_id else None
    kind = result.data["source"]["kind"] if result else doc.kind
    try:
        return page_images.render(doc.sha256, kind, svc.store.get(doc.sha256), number, width), result
    except page_images.NoPageImage as exc:
        raise ApiError(404, "no_page_image", str(exc)) from None


@router.get(
    "/documents/{doc_id}/pages/{number}/image",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def page_image(
    request: Request,
    s: SessionDep,
    who: Submitter,
    doc_id: int,
    number: int,
    width: Annotated[int, Query(ge=100, le=3000)] = 1000,
) -> Response:
    doc = visible_document(s, who, doc_id)
    img, _ = _page_image(request, s, doc, number, width)
    return Response(page_images.png(img), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get(
    "/documents/{doc_id}/cells/{cell_id}/crop",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="The cell's region of its page, box drawn",
)
def cell_crop(request: Request, s: SessionDep, who: Submitter, doc_id: int, cell_id: str) -> Response:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    cell = view.result["cells"].get(cell_id)
    if cell is None:
        raise ApiError(404, "not_found", f"no cell {cell_id}")
    if not cell.get("page") or not cell.get("bbox"):
        raise ApiError(404, "no_page_image", f"cell {cell_id} has no position on a page (a text input?)")
    info = next((p for p in (s.get(Result, doc.result_id).page_info or []) if p["number"] == cell["page"]), None)  # type: ignore[union-attr]
    if info is None or not info.get("width"):
        raise ApiError(404, "no_page_image", f"page {cell['page']} has no size")
    img, _ = _page_image(request, s, doc, cell["page"], 1600)
    return Response(page_images.png(page_images.crop(img, cell["bbox"], info["width"])), media_type="image/png")


# --------------------------------------------------------------------------------------------
# Review


def _review_state(s: Session, doc: Document, view: ReviewedView) -> ReviewState:
    return ReviewState(
        document_id=doc.id,
        status="verified" if view.verified else "review",
        verified=view.verified,
        open_reviews=len(view.open_reviews),
        failed_rules=view.failed_rules,
        queue=[cell_out(view, cid) for cid in view.open_reviews],
    )


@router.get("/review/queue", tags=["review"], summary="Cells to review across documents, riskiest first")
def review_queue(
    request: Request, s: SessionDep, who: Reviewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    svc = svc_of(request)
    items: list[tuple[tuple, dict[str, Any]]] = []
    for doc in s.scalars(select(Document).where(Document.status == "review").order_by(Document.id)):
        view = reviewed_view(svc, s, doc)
        if view is None:
            continue
        for cid in view.open_reviews:
            cell = cell_out(view, cid)
            items.append(((not cell.failing_rules, cell.confidence, doc.id), {"document_id": doc.id, **cell.model_dump()}))
    items.sort(key=lambda x: x[0])
    return [i for _, i in items[:limit]]


@router.get("/documents/{doc_id}/review", tags=["review"], response_model=ReviewState)
def document_review(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> ReviewState:
    doc = visible_document(s, who, doc_id)
    return _review_state(s, doc, require_view(request, s, doc))


def _record(
    request: Request, s: Session, who: Principal, doc: Document, cell_id: str, action: str, new: Any = None
) -> ReviewOutcome:
    view = require_view(request, s, doc)
    if cell_id not in view.result["cells"]:
        raise ApiError(404, "not_found", f"no cell {cell_id} in document {doc.id}")
    old = view.result["cells"][cell_id]["value"]
    s.add(
        CellReview(
            document_id=doc.id,
            result_id=doc.result_id,
            cell_id=cell_id,
            action=action,
            old_value=old,
            new_value=new if action == "correct" else old,
            reviewer_token_id=who.token_id,
            reviewer=who.name,
        )
    )
    s.flush()
    # re-run the rules on the corrected values (apply_reviews), then refresh the document's summary
    view = require_view(request, s, doc)
    refresh_summary(s, doc, view)
    return ReviewOutcome(
        cell=cell_out(view, cell_id),
        verified=view.verified,
        open_reviews=len(view.open_reviews),
        failed_rules=[c["rule"] for c in view.result["checks"] if not c["passed"] and c["severity"] == "error"],
        next_cell=view.open_reviews[0] if view.open_reviews else None,
    )


@router.post("/documents/{doc_id}/cells/{cell_id}/accept", tags=["review"], response_model=ReviewOutcome)
def accept_cell(request: Request, s: SessionDep, who: Reviewer, doc_id: int, cell_id: str) -> ReviewOutcome:
    return _record(request, s, who, visible_document(s, who, doc_id), cell_id, "accept")


@router.post("/documents/{doc_id}/cells/{cell_id}/correct", tags=["review"], response_model=ReviewOutcome)
def correct_cell(
    request: Request, s: SessionDep, who: Reviewer, doc_id: int, cell_id: str, body: CorrectBody
) -> ReviewOutcome:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    rep = view.result["report"]
    try:
        value = coerce_value(rep["format"], rep.get("variants") or (), cell_id, body.value)
    except KeyError:
        raise ApiError(404, "not_found", f"no cell {cell_id} in document {doc_id}") from None
    except ValueError as exc:
        raise ApiError(422, "bad_value", str(exc)) from None
    return _record(request, s, who, doc, cell_id, "correct", value)


@router.post(
    "/documents/{doc_id}/review/bulk-accept",
    tags=["review"],
    response_model=BulkAcceptOutcome,
    summary="Accept every unreviewed cell that passes every rule",
)
def bulk_accept(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> BulkAcceptOutcome:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    in_failing = {cid for c in view.result["checks"] if not c["passed"] for cid in c["cells"]}
    chosen = [cid for cid in view.result["cells"] if cid not in view.reviewed and cid not in in_failing]
    for cid in chosen:
        value = view.result["cells"][cid]["value"]
        s.add(
            CellReview(
                document_id=doc.id,
                result_id=doc.result_id,
                cell_id=cid,
                action="bulk_accept",
                old_value=value,
                new_value=value,
                reviewer_token_id=who.token_id,
                reviewer=who.name,
            )
        )
    s.flush()
    view = require_view(request, s, doc)
    refresh_summary(s, doc, view)
    return BulkAcceptOutcome(accepted=len(chosen), verified=view.verified, open_reviews=len(view.open_reviews))


@router.get("/documents/{doc_id}/audit", tags=["review"], response_model=list[AuditEntry])
def audit(s: SessionDep, who: Reviewer, doc_id: int) -> list[AuditEntry]:
    visible_document(s, who, doc_id)
    rows = s.scalars(select(CellReview).where(CellReview.document_id == doc_id).order_by(CellReview.id))
    return [AuditEntry.model_validate(r, from_attributes=True) for r in rows]


# --------------------------------------------------------------------------------------------
# Labeled data, training, models


@router.get("/documents/{doc_id}/labeled", tags=["training"], summary="The reviewed document as truth JSON")
def labeled(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> dict[str, Any]:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    if not view.verified:
        raise ApiError(409, "not_verified", f"document {doc_id} still has {len(view.open_reviews)} cells to review")
    return truth_record(view)


@router.get(
    "/training/dataset",
    tags=["training"],
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    summary="Every verified document as labeled data (originals + truth/*.json), zipped",
)
def training_dataset(request: Request, who: Admin) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        training_adapter.export_labeled(svc_of(request), Path(tmp))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(tmp).as_posix())
    return Response(
        buf.getvalue(), media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="labeled.zip"'}
    )


@router.post("/training/runs", tags=["training"], status_code=202, response_model=TrainingRunOut)
def start_training(request: Request, s: SessionDep, who: Admin, body: TrainingRunCreate) -> TrainingRunOut:
    run = TrainingRun(params=body.params, documents=body.document_ids or [], created_by=who.name)
    s.add(run)
    s.flush()
    job = Job(kind="train", training_run_id=run.id)
    s.add(job)
    s.flush()
    run.job_id = job.id
    s.commit()
    svc_of(request).enqueue(job.id)
    s.refresh(run)
    return TrainingRunOut.model_validate(run, from_attributes=True)


@router.get("/training/runs", tags=["training"], response_model=list[TrainingRunOut])
def list_training_runs(s: SessionDep, who: Admin) -> list[TrainingRunOut]:
    runs = s.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()))
    return [TrainingRunOut.model_validate(r, from_attributes=True) for r in runs]


@router.get("/training/runs/{run_id}", tags=["training"], response_model=TrainingRunOut)
def get_training_run(s: SessionDep, who: Admin, run_id: int) -> TrainingRunOut:
    run = s.get(TrainingRun, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no training run {run_id}")
    return TrainingRunOut.model_validate(run, from_attributes=True)


@router.get("/models", tags=["training"], response_model=list[ModelOut], summary="Model versions; the active one")
def list_models(s: SessionDep, who: Reviewer) -> list[ModelOut]:
    rows = list(s.scalars(select(ModelVersion).order_by(ModelVersion.id)))
    version, labeler = training_adapter.BASELINE
    baseline = ModelOut(
        version=version, labeler=labeler, metrics={}, training_run_id=None, active=not any(r.active for r in rows)
    )
    return [baseline] + [ModelOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/models/{version}/activate", tags=["training"], response_model=ModelOut)
def activate_model(s: SessionDep, who: Admin, version: str) -> ModelOut:
    if version == training_adapter.BASELINE[0]:
        for row in s.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))):
            row.active = False
        return ModelOut(version=version, labeler=training_adapter.BASELINE[1], metrics={}, training_run_id=None, active=True)
    row = training_adapter.activate(s, version)
    if row is None:
        raise ApiError(404, "not_found", f"no model version {version}")
    s.flush()
    return ModelOut.model_validate(row, from_attributes=True)


# --------------------------------------------------------------------------------------------
# Tokens


@router.post("/tokens", tags=["tokens"], status_code=201, response_model=TokenCreated)
def new_token(s: SessionDep, who: Admin, body: TokenCreate) -> TokenCreated:
    row, secret = create_token(s, body.name, body.role)
    return TokenCreated(**TokenOut.model_validate(row, from_attributes=True).model_dump(), token=secret)


@router.get("/tokens", tags=["tokens"], response_model=list[TokenOut])
def list_tokens(s: SessionDep, who: Admin) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True) for t in s.scalars(select(Token).order_by(Token.id))]


@router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204)
def delete_token(s: SessionDep, who: Admin, token_id: int) -> Response:
    if not revoke_token(s, token_id):
        raise ApiError(404, "not_found", f"no token {token_id}")
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------
# App


def create_app(svc: Service | None = None, embedded_worker: bool = False) -> FastAPI:
    svc = svc or Service()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if embedded_worker and not svc.settings.immediate:
            from service.jobs import start_embedded_worker

            worker = start_embedded_worker(svc, svc.settings.workers)
        try:
            yield
        finally:
            if worker is not None:
                consumer, sweeper = worker
                sweeper.stop()
                consumer.stop(graceful=True)

    app = FastAPI(
        title="gongkai",
        version="1",
        summary="Statutory tables of 政府信息公开工作年度报告: upload, extract, review, export, retrain",
        lifespan=lifespan,
    )
    app.state.svc = svc

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.extra:
            body["detail"] = exc.extra
        return JSONResponse({"error": body}, status_code=exc.status_code)

    @app.exception_handler(GongkaiError)
    async def gongkai_error(_request: Request, exc: GongkaiError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.middleware("http")
    async def refuse_oversized_bodies(request: Request, call_next):
        # The multipart body is parsed (and spooled) before a route runs: refuse what can only be too
        # large from its Content-Length, before reading it. Each file is checked again in the route.
        limit = svc.settings.max_upload_bytes * svc.settings.max_files_per_upload + 1024 * 1024
        length = request.headers.get("content-length")
        if request.method == "POST" and length and length.isdigit() and int(length) > limit:
            return JSONResponse(
                {"error": {"code": "input_too_large", "message": f"the request body is over {limit:,} bytes"}},
                status_code=413,
            )
        return await call_next(request)

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app


def openapi_json(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=1)
