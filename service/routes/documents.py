"""Documents: upload (one or many files), list, read one, its original bytes, and its jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from service import training_adapter
from service.db import Document, Job, Upload
from service.downloads import content_disposition, safe_stem
from service.hardening import MAX_DB_ID
from service.routes.deps import ERRORS, SessionDep, Submitter, svc_of, visible_document
from service.routes.errors import ApiError
from service.routes.intake import store_upload
from service.routes.outputs import document_out, job_out
from service.schemas import DocumentList, DocumentOut, ErrorResponse, JobOut, UploadResponse
from service.uploads import MultipartReceiver, UploadStats, drain, multipart_boundary

router = APIRouter(prefix="/v1", responses=ERRORS)


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
        status, body, headers = await run_in_threadpool(store_upload, svc, who, received, idempotency_key)
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


@router.get("/documents/{doc_id}/original", tags=["documents"], summary="The uploaded bytes")
def get_original(request: Request, s: SessionDep, who: Submitter, doc_id: int) -> Response:
    doc = visible_document(s, who, doc_id)
    ext = training_adapter.EXTENSIONS.get(doc.kind, "bin")
    return Response(
        svc_of(request).store.get(doc.sha256),
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(safe_stem(doc.filename, f"document-{doc.id}"), ext)},
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
