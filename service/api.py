"""The HTTP API (FastAPI), versioned under /v1, and the review UI under /ui."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from extraction.errors import GongkaiError
from extraction.schema import split_cell_id
from service import exports, training_adapter
from service import pages as page_images
from service.api_support import ApiError, bounded_errors, reviewed_view, summarize_reviews
from service.auth import Principal, Role, authenticate, create_token, revoke_token
from service.core import Service
from service.db import CellReview, Document, IdempotencyKey, Job, Result, Token, Upload
from service.downloads import content_disposition, safe_stem
from service.errors import SERVICE_ERRORS, StorageError
from service.hardening import MAX_DB_ID, IdRange, SecurityHeaders, redact_tokens
from service.operations import Health
from service.review import ReviewedView, labels, truth_record
from service.schemas import (
    AuditEntry,
    BatchExportBody,
    CellOut,
    CorrectBody,
    DocumentList,
    DocumentOut,
    ErrorBody,
    ErrorResponse,
    JobOut,
    LabeledImport,
    LabeledImportOutcome,
    LabeledRecord,
    LabeledRecordOutcome,
    Me,
    ReviewOutcome,
    ReviewState,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UploadItem,
    UploadResponse,
)
from service.text_probe import refuse_non_text
from service.uploads import (
    BodyLimit,
    MultipartReceiver,
    Received,
    UploadGate,
    UploadStats,
    drain,
    multipart_boundary,
)
from service.values import CellValueError, validate_cell_value

log = logging.getLogger("gongkai.api")
UI_DIR = Path(__file__).resolve().parent / "ui"
bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer gk_…` (see `gongkai tokens create`)")
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or unknown token"},
    403: {"model": ErrorResponse, "description": "The token's role may not do this"},
}


def svc_of(request: Request) -> Service:
    return request.app.state.svc


def get_session(request: Request):
    with svc_of(request).db.session() as s:
        yield s


# scope="function": the transaction commits before the response is sent, so a client that reads
# right after a write (the review UI reloads the document and its result at once) sees the write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _authenticate(svc: Service, secret: str) -> Principal | None:
    with svc.db.session() as s:
        who = authenticate(s, secret)
    if who is not None:
        svc.token_cache.put(secret, who)
    return who


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if creds is None or not creds.credentials:
        raise ApiError(401, "unauthenticated", "an API token is required (Authorization: Bearer …)")
    svc = svc_of(request)
    who = svc.token_cache.get(creds.credentials) or await run_in_threadpool(_authenticate, svc, creds.credentials)
    if who is None:
        raise ApiError(401, "unauthenticated", "the API token is unknown or revoked")
    return who


def require(role: Role):
    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
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
    return require_view_of(svc_of(request), s, doc)


def require_view_of(svc: Service, s: Session, doc: Document) -> ReviewedView:
    view = reviewed_view(svc, s, doc)
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


def typed_error(code: str, message: str, detail: dict | None = None) -> GongkaiError:
    exc = GongkaiError(message, detail=detail)
    exc.code = code
    exc.http_status = _error_status(code)
    return exc


def identify(svc: Service, rf: Received) -> tuple[str, int | None]:
    """(kind, pages) of a received file. Text kinds are told from the first bytes here; a PDF, an image
    or a ZIP (DOCX) is opened in an inspection child (PDFium and image decoders never run in the
    server), which also counts the pages from the structure, nothing rendered."""
    from extraction.errors import EmptyInput
    from extraction.ingest.sniff import sniff

    if rf.size == 0:
        raise EmptyInput("the input is empty (0 bytes)")
    if not rf.head.startswith(b"PK"):
        kind = sniff(rf.head, rf.name)
        if kind not in ("pdf", "image"):
            assert rf.path is not None
            refuse_non_text(rf.path, rf.size)  # random bytes sniff as txt: 415 here, not a failed job later
            return kind, None
    from extraction.ingest.base import IngestOptions

    megapixels = svc.settings.max_megapixels_per_page or IngestOptions().max_megapixels_per_page
    request = {"path": str(rf.path), "name": rf.name, "max_pages": svc.settings.max_pages, "max_pixels": int(megapixels * 1e6)}
    if not svc.settings.process_isolation:
        from service import extract_task

        got = extract_task.inspect(request)
        return got["kind"], got["pages"]
    limit = svc.settings.inspect_timeout_s
    try:
        with svc.inspectors.lease(timeout=limit) as box:
            outcome = box.call("inspect", request, time_limit=limit)
    except TimeoutError:
        raise typed_error("server_busy", "every inspection process is busy; try again shortly") from None
    if outcome.ok:
        return outcome.value["kind"], outcome.value["pages"]
    if outcome.aborted:
        raise typed_error("server_busy", "the server is shutting down; try again shortly")
    if outcome.code == "worker_crashed":  # the file crashed the reader: it is the file's fault
        raise typed_error("corrupt_input", "the file crashed the document reader", {"reader": outcome.message})
    raise typed_error(outcome.code or "internal_error", outcome.message, outcome.detail or None)


def _accept_file(svc: Service, s: Session, who: Principal, rf: Received) -> tuple[UploadItem, int | None]:
    kind, pages = identify(svc, rf)
    digest = rf.sha256
    assert rf.path is not None
    created = svc.store.put_file(rf.path, digest)  # before the row: a document row always has its original
    try:
        with svc.db.writing():
            new_job, doc, job, duplicate = _insert_document(s, who, rf, kind, pages)
    except BaseException:
        s.rollback()
        if created:
            _forget_original(svc, digest)
        raise
    item = UploadItem(
        filename=rf.name,
        document_id=doc.id,
        sha256=digest,
        kind=kind,
        pages=pages,
        status=doc.status,
        job_id=job.id if job else None,
        duplicate=duplicate,
    )
    return item, new_job


def _own_document(s: Session, who: Principal, digest: str) -> Document | None:
    """The document with these bytes that `who` may dedupe onto: for a submitter one they uploaded
    themselves (dedupe never crosses ownership: another's file name and corrections stay theirs), for a
    reviewer or an admin, who read every document anyway, the first one."""
    query = select(Document).where(Document.sha256 == digest)
    if not who.has("reviewer"):
        query = query.where(Document.id.in_(select(Upload.document_id).where(Upload.token_id == who.token_id)))
    return s.scalar(query.order_by(Document.id).limit(1))


def _insert_document(s: Session, who: Principal, rf: Received, kind: str, pages: int | None):
    """(new job id or None, document, its latest job, duplicate): one transaction, committed. The same
    bytes from another submitter make a document of its own (its own job); the original is shared."""
    digest = rf.sha256
    new_job: int | None = None
    doc = _own_document(s, who, digest)
    if doc is None:  # new bytes for this submitter (the common case): document, job and upload in one transaction
        doc = Document(
            sha256=digest, owner_token_id=who.token_id, filename=rf.name, kind=kind, size=rf.size, pages=pages,
            status="queued",
        )  # fmt: skip
        s.add(doc)
        try:
            s.flush()
        except IntegrityError:  # the same bytes uploaded concurrently by the same token: the other request made it
            s.rollback()
            doc = _own_document(s, who, digest)
        else:
            job = Job(kind="extract", document_id=doc.id, pages_total=pages)
            s.add_all([job, Upload(document_id=doc.id, token_id=who.token_id, filename=rf.name)])
            s.flush()
            new_job = job.id
    assert doc is not None
    duplicate = new_job is None
    if duplicate:
        if not s.scalar(select(Upload.id).where(Upload.document_id == doc.id, Upload.token_id == who.token_id)):
            try:
                with s.begin_nested():
                    s.add(Upload(document_id=doc.id, token_id=who.token_id, filename=rf.name))
                    s.flush()
            except IntegrityError:
                pass
        job = latest_job(s, doc.id)
    s.commit()
    return new_job, doc, job, duplicate


def _forget_original(svc: Service, digest: str) -> None:
    """The upload failed after its file was stored: remove the file unless a document (another request
    with the same bytes) uses it. If the database cannot say, the file stays: `gongkai doctor` lists it
    as an orphan and `gongkai doctor --fix` removes it."""
    try:
        with svc.db.session() as s:
            used = s.scalar(select(Document.id).where(Document.sha256 == digest))
        if used is None:
            svc.store.path(digest).unlink(missing_ok=True)
    except Exception:
        log.warning("upload of %s failed and its file could not be checked; left for `gongkai doctor --fix`", digest)


def _store_upload(
    svc: Service, who: Principal, received: list[Received], idempotency_key: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Idempotency, then each file: identified, stored, a document and its job. Runs in a thread."""
    from service.jobs import TRANSIENT

    fingerprint = hashlib.sha256(
        b"".join(
            rf.name.encode() + b"\0" + (rf.sha256 or f"refused:{rf.size}").encode() + b"\0" for rf in received
        )
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
            return row.status_code, row.response, {"Idempotent-Replayed": "true"}
    items: list[UploadItem] = []
    new_jobs: list[int] = []
    try:
        for rf in received:
            if rf.error is not None:
                items.append(UploadItem(filename=rf.name, error=rf.error.to_dict()))  # type: ignore[union-attr]
                continue
            try:
                with svc.db.session() as s:
                    item, job_id = _accept_file(svc, s, who, rf)
                items.append(item)
                if job_id is not None:
                    new_jobs.append(job_id)
            except GongkaiError as exc:
                items.append(UploadItem(filename=rf.name, error=exc.to_dict()))  # type: ignore[arg-type]
            except TRANSIENT as exc:  # the database or the disk failed: nothing of this file was kept
                log.exception("upload of %r: storage error", rf.name)
                err = StorageError(f"the file could not be stored ({type(exc).__name__}); try again")
                items.append(UploadItem(filename=rf.name, error=err.to_dict()))  # type: ignore[arg-type]
    finally:
        for job_id in new_jobs:  # after commit: a worker must find the row (a failed send: the sweeper resends)
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
    return status, body, {}


router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get(
    "/health",
    tags=["service"],
    summary="The database, the queue and the store, each; 503 while one of them is down",
    response_model=Health,
    responses={503: {"model": Health, "description": "degraded: a check failed (see `checks`)"}},
)
def health(request: Request) -> JSONResponse:
    from service.operations import health as check_health

    report = check_health(svc_of(request))
    return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)


@router.get("/metrics", tags=["service"], summary="Load figures: uploads, jobs, queue, live workers, event-loop lag, memory (admin)")
async def metrics(
    request: Request,
    who: Admin,
    window: Annotated[float | None, Query(gt=0, le=120, description="Event-loop figures over the last N s")] = None,
) -> dict[str, Any]:
    from dataclasses import asdict

    from service.sandbox import peak_rss_bytes, rss_bytes

    svc = svc_of(request)

    def jobs() -> dict[str, int]:
        with svc.db.session() as s:
            return {k: int(v) for k, v in s.execute(select(Job.status, func.count()).group_by(Job.status)).all()}

    pools = {}
    for name in ("extractors", "inspectors", "renderers", "exporters"):
        pool = svc.__dict__.get(f"_{name}")
        if pool is not None:
            pools[name] = pool.stats()
    from service.operations import queue_state
    from service.workers import live_workers

    return {
        "uploads": asdict(request.app.state.uploads),
        "jobs": await run_in_threadpool(jobs),
        "queue": (await run_in_threadpool(queue_state, svc)).model_dump(),
        "workers": [w.model_dump(mode="json") for w in await run_in_threadpool(live_workers, svc)],
        "event_loop": request.app.state.loop_monitor.summary(window),
        "process": {"pid": os.getpid(), "rss_bytes": rss_bytes(), "peak_rss_bytes": peak_rss_bytes()},
        "children": pools,
    }


@router.get("/me", tags=["service"], response_model=Me)
def me(who: Annotated[Principal, Depends(principal)]) -> Me:
    return Me(id=who.token_id, name=who.name, role=who.role)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more report files",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/documents",
    tags=["documents"],
    status_code=202,
    response_model=UploadResponse,
    summary="Upload one or many report files (multipart field `files`)",
    openapi_extra=UPLOAD_BODY,
    responses={
        400: {"model": ErrorResponse, "description": "A malformed multipart body"},
        409: {"model": ErrorResponse, "description": "A request with this Idempotency-Key is still running"},
        413: {"model": ErrorResponse, "description": "A file, a field, the parts or the body over its limit"},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse, "description": "Busy or the queue is full: retry after `Retry-After` seconds"},
    },
)
async def upload(
    request: Request,
    who: Submitter,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    """The body is parsed as it arrives (service/uploads.py): each file is spooled to disk and hashed
    chunk by chunk, limits are checked as bytes arrive. What is accepted is durable (file fsynced,
    rows committed) before the 202; what is refused leaves nothing behind."""
    svc = svc_of(request)
    stats: UploadStats = request.app.state.uploads  # in_flight is counted by UploadGate, before this runs
    try:
        boundary = multipart_boundary(request.headers.get("content-type"))
    except ApiError as exc:
        raise await _refused(request, exc, started=False) from None
    receiver = MultipartReceiver(svc.settings, svc.store, boundary)
    try:
        queued = await run_in_threadpool(svc.queued_jobs)
        if queued >= svc.settings.max_queue_depth:
            stats.rejected_queue_full += 1
            full = ApiError(
                429,
                "queue_full",
                f"{queued} documents are waiting for extraction; retry later",
                detail={"queued": queued, "limit": svc.settings.max_queue_depth},
                headers={"Retry-After": str(svc.settings.retry_after_s)},
            )
            raise await _refused(request, full, started=False)
        body_done = False
        try:
            while not body_done:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                body_done = not message.get("more_body", False)
                if message.get("body"):
                    await receiver.feed(message["body"])
            received = await receiver.finish()
        except ApiError as exc:
            receiver.discard()
            if body_done:
                raise
            raise await _refused(request, exc, started=True) from None
        if not received:
            raise ApiError(422, "no_files", "the request has no file in the multipart field `files`")
        status, body, headers = await run_in_threadpool(_store_upload, svc, who, received, idempotency_key)
        stats.accepted += sum(1 for i in body["items"] if not i.get("error"))
        return JSONResponse(body, status_code=status, headers=headers)
    finally:
        if receiver.has_files():
            await run_in_threadpool(receiver.discard)  # spool files not moved into the store


async def _refused(request: Request, exc: ApiError, started: bool) -> ApiError:
    """Drain what is left of a refused upload's body (bounded) so the client reads the answer; a client
    that waits for `100 Continue` has sent nothing and is answered at once."""
    if not started and b"100-continue" in request.headers.get("expect", "").encode().lower():
        return exc
    if not await drain(request.receive, 8 * 1024 * 1024):
        exc.headers = {**(exc.headers or {}), "Connection": "close"}
    return exc


def _error_status(code: str) -> int:
    from extraction import errors

    for obj in [*vars(errors).values(), *SERVICE_ERRORS]:
        if isinstance(obj, type) and issubclass(obj, GongkaiError) and obj.code == code:
            return obj.http_status
    return {"server_busy": 429}.get(code, 422)


@router.get("/documents", tags=["documents"], response_model=DocumentList)
def list_documents(
    s: SessionDep,
    who: Submitter,
    status: Annotated[str | None, Query(description="queued, processing, review, verified, failed")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
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
    ext = training_adapter.EXTENSIONS.get(doc.kind, "bin")
    return Response(
        svc_of(request).store.get(doc.sha256),
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(safe_stem(doc.filename, f"document-{doc.id}"), ext)},
    )


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


def _page_source(svc: Service, who: Principal, doc_id: int) -> tuple[Document, Result | None, str]:
    """(document, its result, the kind its pages are rendered as), if `who` may see its page images."""
    with svc.db.session() as s:
        doc = visible_document(s, who, doc_id)
        if doc.status == "failed":  # a document the extractor refused is not rendered either
            raise ApiError(409, "document_failed", f"document {doc_id} failed ({doc.error_code}): no page images")
        result = s.get(Result, doc.result_id) if doc.result_id else None
        kind = result.data["source"]["kind"] if result else doc.kind
        return doc, result, kind


async def _rendered(request: Request, sha256: str, kind: str, number: int, width: int, crop: dict | None = None):
    """The PNG's path in the page cache, rendered in a child first when it is not there. At most
    `page_render_workers` renders wait in threads; more requests wait here (async), then a 429."""
    svc = svc_of(request)
    out, job, hit = await run_in_threadpool(page_images.lookup, svc, sha256, kind, number, width, crop)
    if hit:
        return out
    slots: asyncio.Semaphore = request.app.state.render_slots
    try:
        await asyncio.wait_for(slots.acquire(), svc.settings.page_render_wait_s)
    except TimeoutError:
        raise ApiError(429, "server_busy", "every page renderer is busy; try again shortly", headers={"Retry-After": "1"}) from None
    try:
        return await run_in_threadpool(page_images.produce, svc, job)
    finally:
        slots.release()


def _png(path: Path, headers: dict[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(page_images.stream(path), media_type="image/png", headers=headers)


@router.get(
    "/documents/{doc_id}/pages/{number}/image",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def page_image(
    request: Request,
    who: Submitter,
    doc_id: int,
    number: int,
    width: Annotated[int, Query(ge=100, le=3000)] = 1000,
) -> Response:
    """The page `width` pixels wide, narrower when that would be over `page_image_max_megapixels`."""
    doc, _, kind = await run_in_threadpool(_page_source, svc_of(request), who, doc_id)
    path = await _rendered(request, doc.sha256, kind, number, width)
    return _png(path, {"Cache-Control": "private, max-age=3600"})


def _crop_source(svc: Service, who: Principal, doc_id: int, cell_id: str) -> tuple[Document, str, int, dict]:
    doc, result, kind = _page_source(svc, who, doc_id)
    with svc.db.session() as s:
        view = require_view_of(svc, s, doc)
    cell = view.result["cells"].get(cell_id)
    if cell is None:
        raise ApiError(404, "not_found", f"no cell {cell_id}")
    if not cell.get("page") or not cell.get("bbox"):
        raise ApiError(404, "no_page_image", f"cell {cell_id} has no position on a page (a text input?)")
    info = next((p for p in ((result.page_info if result else None) or []) if p["number"] == cell["page"]), None)
    if info is None or not info.get("width"):
        raise ApiError(404, "no_page_image", f"page {cell['page']} has no size")
    return doc, kind, cell["page"], {"bbox": cell["bbox"], "page_width": info["width"]}


@router.get(
    "/documents/{doc_id}/cells/{cell_id}/crop",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="The cell's region of its page, box drawn",
)
async def cell_crop(request: Request, who: Submitter, doc_id: int, cell_id: str) -> Response:
    doc, kind, page, box = await run_in_threadpool(_crop_source, svc_of(request), who, doc_id, cell_id)
    return _png(await _rendered(request, doc.sha256, kind, page, CROP_PAGE_WIDTH, box))


CROP_PAGE_WIDTH = 1600  # crops are cut from the page rendered this wide


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
    request: Request,
    s: Session,
    who: Principal,
    doc: Document,
    cell_id: str,
    action: str,
    new: Any = None,
    comment: str | None = None,
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
            comment=comment or None,
        )
    )
    s.flush()
    # re-run the rules on the corrected values (apply_reviews), then refresh the document's summary
    view = summarize_reviews(svc_of(request), s, doc)
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
    try:  # the cell's statutory type (service/values.py, the one validator): nothing invalid is stored
        value = validate_cell_value(rep["format"], rep.get("variants") or (), cell_id, body.value)
    except CellValueError as exc:
        if exc.reason == "unknown_cell":
            raise ApiError(404, "not_found", f"no cell {cell_id} in document {doc_id}") from None
        raise ApiError(422, "bad_value", exc.message, exc.to_detail(), message_en=exc.message_en) from None
    return _record(request, s, who, doc, cell_id, "correct", value, comment=body.comment)


@router.get("/documents/{doc_id}/audit", tags=["review"], response_model=list[AuditEntry])
def audit(s: SessionDep, who: Reviewer, doc_id: int) -> list[AuditEntry]:
    visible_document(s, who, doc_id)
    rows = list(s.scalars(select(CellReview).where(CellReview.document_id == doc_id).order_by(CellReview.id)))
    undone = {r.undoes for r in rows if r.action == "undo"}
    return [AuditEntry.model_validate(r, from_attributes=True).model_copy(update={"undone": r.id in undone}) for r in rows]


# --------------------------------------------------------------------------------------------
# Labeled data, training, models


@router.get("/documents/{doc_id}/labeled", tags=["training"], summary="The reviewed document as truth JSON")
def labeled(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> dict[str, Any]:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    if not view.verified:
        raise ApiError(409, "not_verified", f"document {doc_id} still has {len(view.open_reviews)} cells to review")
    return truth_record(view)


@router.post(
    "/labeled",
    tags=["training"],
    response_model=LabeledImportOutcome,
    summary="Import labeled values (truth JSON) for extracted documents; each record is validated on its own",
)
def import_labeled(request: Request, s: SessionDep, who: Reviewer, body: LabeledImport) -> LabeledImportOutcome:
    """Each record names an extracted document (`document_id` or `sha256`) and gives values for some or
    all of its cells (`cells`, as in `GET /documents/{id}/labeled`). A record is checked whole (the
    document exists and has a result, its format matches, every cell id is one of the document's,
    every value has the cell's type) and imported in its own savepoint: a bad record is rejected
    with its code and changes nothing; the others are imported, recorded in the audit trail as
    `import` by the importing reviewer, and the rules re-run."""
    svc = svc_of(request)
    outcomes: list[LabeledRecordOutcome] = []
    for index, raw in enumerate(body.records):
        try:
            with s.begin_nested():
                outcomes.append(_import_record(svc, s, who, index, raw))
        except ApiError as exc:
            outcomes.append(
                LabeledRecordOutcome(
                    index=index,
                    status="rejected",
                    document_id=raw.get("document_id")
                    if isinstance(raw, dict) and isinstance(raw.get("document_id"), int)
                    else None,
                    error=ErrorBody(code=exc.code, message=exc.message, detail=exc.extra),
                )
            )
    imported = sum(1 for o in outcomes if o.status == "imported")
    return LabeledImportOutcome(imported=imported, rejected=len(outcomes) - imported, records=outcomes)


def _import_record(svc: Service, s: Session, who: Principal, index: int, raw: Any) -> LabeledRecordOutcome:
    from pydantic import ValidationError

    try:
        rec = LabeledRecord.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": ".".join(str(x) for x in e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]
        raise ApiError(422, "invalid_record", f"record {index} is not a labeled record", {"errors": errors}) from None
    if (rec.document_id is None) == (rec.sha256 is None):
        raise ApiError(422, "invalid_record", f"record {index}: give the document's id or its sha256 (one of them)")
    if rec.document_id is not None:
        doc = s.get(Document, rec.document_id)
    else:
        docs = list(s.scalars(select(Document).where(Document.sha256 == rec.sha256).limit(2)))
        if len(docs) > 1:  # submitters each have their own document of these bytes
            raise ApiError(
                409, "ambiguous_document", f"record {index}: several documents have this sha256; give document_id"
            )
        doc = docs[0] if docs else None
    if doc is None:
        raise ApiError(404, "not_found", f"record {index}: no such document")
    view = reviewed_view(svc, s, doc)
    if view is None:
        raise ApiError(409, "not_extracted", f"record {index}: document {doc.id} has no result yet ({doc.status})")
    rep = view.result["report"]
    fmt = rec.format or (rec.report or {}).get("format")
    if fmt is not None and str(fmt) != rep["format"]:
        raise ApiError(
            422, "format_mismatch", f"record {index}: format {fmt}, but document {doc.id} is format {rep['format']}"
        )
    unknown = sorted(cid for cid in rec.cells if cid not in view.result["cells"])
    if unknown:
        raise ApiError(
            422,
            "unknown_cell",
            f"record {index}: {len(unknown)} cell ids are not cells of document {doc.id} (format {rep['format']})",
            {"cells": unknown[:20]},
        )
    values: dict[str, Any] = {}
    bad: list[dict[str, str]] = []
    for cid, raw_value in rec.cells.items():
        try:  # the one validator of every value that enters, as a reviewer's correction (service/values.py)
            values[cid] = validate_cell_value(rep["format"], rep.get("variants") or (), cid, raw_value)
        except CellValueError as exc:
            bad.append(exc.to_detail())
    if bad:
        raise ApiError(422, "bad_value", f"record {index}: {len(bad)} values are not valid", {"cells": bad[:20]})
    changed = 0
    for cid, value in values.items():
        old = view.result["cells"][cid]["value"]
        changed += old != value
        s.add(
            CellReview(
                document_id=doc.id,
                result_id=doc.result_id,
                cell_id=cid,
                action="import",
                old_value=old,
                new_value=value,
                reviewer_token_id=who.token_id,
                reviewer=who.name,
            )
        )
    s.flush()
    view = summarize_reviews(svc, s, doc)
    return LabeledRecordOutcome(
        index=index, status="imported", document_id=doc.id, cells=len(values), changed=changed, verified=view.verified
    )


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
def delete_token(request: Request, s: SessionDep, who: Admin, token_id: int) -> Response:
    if not revoke_token(s, token_id):
        raise ApiError(404, "not_found", f"no token {token_id}")
    svc_of(request).token_cache.evict(token_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------
# App


class LoopMonitor:
    """How late the event loop wakes up (a blocked loop delays every request): sampled every 50 ms."""

    def __init__(self, period: float = 0.05, keep: int = 2400) -> None:
        self.period = period
        self.samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=keep)  # (when, lag)
        self.max_lag = 0.0
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            now = loop.time()
            lag = max(0.0, now - before - self.period)
            self.samples.append((now, lag))
            self.max_lag = max(self.max_lag, lag)

    def summary(self, window_s: float | None = None) -> dict[str, Any]:
        """Lag figures over the last `window_s` seconds (default: every sample kept, about 2 minutes)."""
        since = asyncio.get_running_loop().time() - window_s if window_s else float("-inf")
        data = sorted(lag for when, lag in self.samples if when >= since)

        def pick(q: float) -> float | None:
            return round(1000 * data[min(len(data) - 1, int(q * len(data)))], 2) if data else None

        return {
            "window_s": window_s,
            "samples": len(data),
            "lag_ms_p50": pick(0.5),
            "lag_ms_p99": pick(0.99),
            "lag_ms_max": round(1000 * data[-1], 2) if data else None,
            "lag_ms_max_since_start": round(1000 * self.max_lag, 2),
        }


def create_app(svc: Service | None = None, embedded_worker: bool = False) -> FastAPI:
    svc = svc or Service()
    monitor = LoopMonitor()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if embedded_worker and not svc.settings.immediate:
            from service.jobs import start_embedded_worker

            worker = start_embedded_worker(svc, svc.settings.workers)
        monitor.task = asyncio.create_task(monitor.run())
        try:
            yield
        finally:
            monitor.task.cancel()
            if worker is not None:
                consumer, sweeper = worker
                sweeper.stop()
                consumer.stop(graceful=True)
                if svc.presence is not None:
                    svc.presence.stop()

    app = FastAPI(
        title="gongkai",
        version="1",
        summary="Statutory tables of 政府信息公开工作年度报告: upload, extract, review, export, retrain",
        lifespan=lifespan,
        docs_url=None,  # served by service.docs from the package's own assets: no CDN, works offline
        redoc_url=None,
    )
    app.state.svc = svc
    app.state.uploads = UploadStats()
    app.state.loop_monitor = monitor
    app.state.render_slots = asyncio.Semaphore(svc.settings.page_render_workers)
    app.state.export_slots = asyncio.Semaphore(svc.settings.export_workers)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.message_en:
            body["message_en"] = exc.message_en
        if exc.extra:
            body["detail"] = exc.extra
        return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, but what the client sent is never echoed back whole (a 10 MB field)
        return JSONResponse({"detail": bounded_errors(exc.errors())}, status_code=422)

    @app.exception_handler(GongkaiError)
    async def gongkai_error(_request: Request, exc: GongkaiError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    # a body over its limit is a 413 as it streams in (uploads: the route checks each file as well);
    # uploads beyond max_concurrent_uploads are a 429 before any other work (added last: runs first)
    app.add_middleware(BodyLimit, settings=svc.settings)
    app.add_middleware(UploadGate, settings=svc.settings, stats=app.state.uploads)
    app.add_middleware(IdRange)  # an id no database holds: 404, not a driver's 500
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the 413s and 429s above included
    redact_tokens()  # a token pasted into a URL is not written whole to the access log
    app.include_router(router)
    from service.ops_api import router as ops_router  # operators' routes (imports this module's helpers)

    app.include_router(ops_router)
    from service import docs, review_routes, training_routes

    app.include_router(review_routes.router)
    app.include_router(training_routes.router)
    docs.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app


def openapi_json(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=1)
