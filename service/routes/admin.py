"""The service itself: health, load metrics, who the caller is, live workers, and running documents
again (by id, by failure code, every failed one)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from service import operations
from service.auth import Principal
from service.db import Job
from service.operations import Health
from service.routes.deps import ERRORS, Admin, Reviewer, principal, svc_of
from service.routes.errors import ApiError
from service.schemas import Me
from service.workers import WorkerOut, live_workers

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
