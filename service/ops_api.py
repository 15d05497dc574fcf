"""HTTP routes for operators: live workers, and running documents again (service/operations.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from service import operations
from service.api import ERRORS, Admin, Reviewer, svc_of
from service.api_support import ApiError
from service.workers import WorkerOut, live_workers

router = APIRouter(prefix="/v1", responses=ERRORS)


class WorkersOut(BaseModel):
    workers: list[WorkerOut] = Field(description="Workers heard from within GONGKAI_WORKER_STALE_AFTER_S")
    queue: operations.QueueState


class DocumentRetry(BaseModel):
    model_version: str | None = Field(default=None, max_length=100, description="Default: the active model")
    reextract: bool = Field(default=False, description="Also a document in review (a new result, a fresh review)")


@router.get("/workers", tags=["service"], response_model=WorkersOut, summary="Live workers and the queue (admin)")
async def workers(request: Request, who: Admin) -> WorkersOut:
    svc = svc_of(request)
    found = await run_in_threadpool(live_workers, svc)
    return WorkersOut(workers=found, queue=await run_in_threadpool(operations.queue_state, svc))


def _retry(request: Request, req: operations.RetryRequest) -> operations.RetryOutcome:
    try:
        return operations.retry(svc_of(request), req)
    except operations.UnknownModel as exc:
        raise ApiError(422, exc.code, str(exc)) from None


@router.post(
    "/retries",
    tags=["jobs"],
    response_model=operations.RetryOutcome,
    summary="Run documents again: by id, by failure code, or every failed one; optionally with another model (admin)",
)
async def retry_documents(request: Request, who: Admin, body: operations.RetryRequest) -> operations.RetryOutcome:
    return await run_in_threadpool(_retry, request, body)


@router.post(
    "/documents/{doc_id}/retry",
    tags=["jobs"],
    status_code=202,
    response_model=operations.RetryItem,
    summary="Run one failed document again (or, with reextract, one in review)",
    responses={409: {"description": "The document is waiting for or in a run, or verified"}},
)
async def retry_document(
    request: Request, who: Reviewer, doc_id: int, body: Annotated[DocumentRetry | None, Body()] = None
) -> operations.RetryItem:
    body = body or DocumentRetry()
    req = operations.RetryRequest(document_ids=[doc_id], model_version=body.model_version, reextract=body.reextract)
    item = (await run_in_threadpool(_retry, request, req)).items[0]
    if item.previous_status is None:
        raise ApiError(404, "not_found", f"no document {doc_id}")
    if item.skipped:
        raise ApiError(409, "not_retriable", f"document {doc_id} was not queued: {item.skipped}")
    return item
