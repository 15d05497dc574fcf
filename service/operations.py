"""What an operator asks of a running installation: is it healthy (database, queue and store, each),
which workers are live, and "run these documents again" (`gongkai retry`, `POST /v1/retries`).

Shapes are pydantic models shared by the HTTP routes (service/routes/admin.py) and the CLI."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select

from service.db import Document, Job, ModelVersion
from service.workers import WorkerOut

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.core import Service

log = logging.getLogger("gongkai.operations")


# --------------------------------------------------------------------------------------------
# Health


class Check(BaseModel):
    ok: bool
    kind: str
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="ok only when the database, the queue and the store all are")
    checks: dict[str, Check] = Field(description="database, queue, store: each with its own state")
    database: str = Field(description="The database kind (sqlite, postgresql)")
    queue: str = Field(description="The queue kind (sqlite, redis, immediate)")
    training_available: bool


def health(svc: Service) -> Health:
    from sqlalchemy import text

    from service import training_adapter

    checks: dict[str, Check] = {}
    kind = svc.db.engine.dialect.name
    try:
        with svc.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = Check(ok=True, kind=kind, detail="reachable")
    except Exception as exc:
        checks["database"] = Check(ok=False, kind=kind, detail=f"{type(exc).__name__}: {exc}"[:300])
    if svc.settings.immediate:
        checks["queue"] = Check(ok=True, kind=svc.queue_kind, detail="jobs run inline")
    else:
        ok, detail = svc.queue_status()
        checks["queue"] = Check(ok=ok, kind=svc.queue_kind, detail=detail[:300])
    checks["store"] = store_check(svc)
    return Health(
        status="ok" if all(c.ok for c in checks.values()) else "degraded",
        checks=checks,
        database=kind,
        queue=svc.queue_kind,
        training_available=training_adapter.available(),
    )


def store_check(svc: Service) -> Check:
    from service.wiring import STORE_ID_FILE, _read_id_file

    root = svc.store.root
    if svc.store_error:
        return Check(ok=False, kind="files", detail=svc.store_error)
    if not root.is_dir():
        return Check(ok=False, kind="files", detail=f"{root} is not there (the shared store is not mounted?)")
    found = _read_id_file(root)
    if found != svc.store_id:
        return Check(
            ok=False, kind="files", detail=f"{root / STORE_ID_FILE} says {found}, the database {svc.store_id}"
        )
    return Check(ok=True, kind="files", detail=f"{root} (store id {found})")


# --------------------------------------------------------------------------------------------
# Workers and queue depth


class QueueState(BaseModel):
    kind: str
    reachable: bool
    detail: str
    pending_messages: int | None = Field(description="Messages waiting in the queue (and scheduled re-runs)")
    queued_jobs: int = Field(description="Jobs waiting for a worker, from the database")
    running_jobs: int
    orphaned_jobs: int = Field(
        default=0,
        description="Running jobs whose worker is not live (killed): each is run again once its lease runs out",
    )


class Status(BaseModel):
    wiring: dict[str, str | bool]
    health: Health
    queue: QueueState
    workers: list[WorkerOut] = Field(description="Live workers")
    jobs: dict[str, int]
    failed_documents: dict[str, int] = Field(description="Failed documents by error code")


def queue_state(svc: Service) -> QueueState:
    from service.workers import live_workers

    reachable, detail = (True, "inline") if svc.settings.immediate else svc.queue_status()
    with svc.db.session() as s:
        counts = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        owners = s.scalars(select(Job.lease_owner).where(Job.status == "running")).all()
    live = {w.id for w in live_workers(svc)}
    orphaned = sum(1 for o in owners if not o or o.rsplit(":", 1)[0] not in live)
    return QueueState(
        orphaned_jobs=orphaned,
        kind=svc.queue_kind,
        reachable=reachable,
        detail=detail[:300],
        pending_messages=svc.pending_messages() if reachable else None,
        queued_jobs=int(counts.get("queued", 0)),
        running_jobs=int(counts.get("running", 0)),
    )


def status(svc: Service) -> Status:
    from service.wiring import wiring
    from service.workers import live_workers

    with svc.db.session() as s:
        jobs = {k: int(v) for k, v in s.execute(select(Job.status, func.count()).group_by(Job.status)).all()}
        failed = {
            (k or "unknown"): int(v)
            for k, v in s.execute(
                select(Document.error_code, func.count()).where(Document.status == "failed").group_by(Document.error_code)
            ).all()
        }
    return Status(
        wiring=wiring(svc.settings).model_dump(),
        health=health(svc),
        queue=queue_state(svc),
        workers=live_workers(svc),
        jobs=jobs,
        failed_documents=failed,
    )


# --------------------------------------------------------------------------------------------
# Retries


class RetryRequest(BaseModel):
    """Which documents to run again. Exactly one selection: `document_ids`, `error_code`, or `all_failed`."""

    document_ids: list[int] | None = Field(default=None, max_length=10_000, description="These documents")
    error_code: str | None = Field(default=None, max_length=50, description="Every failed document with this code")
    all_failed: bool = Field(default=False, description="Every failed document")
    model_version: str | None = Field(
        default=None, max_length=100, description="Read them with this model version (default: the active one)"
    )
    reextract: bool = Field(
        default=False,
        description="Also documents in review (not only failed ones): a new result, whose review starts afresh "
        "(the old result and its review trail stay). Verified documents are never re-read",
    )

    @model_validator(mode="after")
    def _one_selection(self) -> RetryRequest:
        chosen = [self.document_ids is not None, self.error_code is not None, self.all_failed]
        if sum(chosen) != 1:
            raise ValueError("name exactly one of: document_ids, error_code, all_failed")
        return self


class RetryItem(BaseModel):
    document_id: int
    job_id: int | None = Field(description="The new job (null: skipped)")
    previous_status: str | None
    previous_error_code: str | None = None
    skipped: str | None = Field(default=None, description="Why the document was not queued")


class RetryOutcome(BaseModel):
    queued: int
    skipped: int
    items: list[RetryItem]


class UnknownModel(ValueError):
    code = "unknown_model"


def _check_model(s: Session, version: str | None) -> None:
    from service import training_adapter

    if version is None or version == training_adapter.BASELINE[0]:
        return
    if s.scalar(select(ModelVersion.id).where(ModelVersion.version == version)) is None:
        known = [training_adapter.BASELINE[0], *s.scalars(select(ModelVersion.version).order_by(ModelVersion.id))]
        raise UnknownModel(f"no model version {version!r}; known: {', '.join(known)}")


def retry(svc: Service, req: RetryRequest) -> RetryOutcome:
    """Queue a new extraction job for each selected document. A document already waiting for or in a
    run is skipped, as is a verified one; one in review only with `reextract`."""
    items: list[RetryItem] = []
    new_jobs: list[int] = []
    with svc.db.writing(), svc.db.session() as s:
        _check_model(s, req.model_version)
        query = select(Document).with_for_update()  # two operators retrying at once: one new job each document
        if req.document_ids is not None:
            query = query.where(Document.id.in_(req.document_ids))
        else:
            query = query.where(Document.status == "failed")
            if req.error_code is not None:
                query = query.where(Document.error_code == req.error_code)
        docs = {d.id: d for d in s.scalars(query.order_by(Document.id))}
        wanted = req.document_ids if req.document_ids is not None else list(docs)
        for doc_id in dict.fromkeys(wanted):
            doc = docs.get(doc_id)
            if doc is None:
                items.append(RetryItem(document_id=doc_id, job_id=None, previous_status=None, skipped="no such document"))
                continue
            item = RetryItem(
                document_id=doc.id, job_id=None, previous_status=doc.status, previous_error_code=doc.error_code
            )
            active = s.scalar(
                select(Job.id).where(Job.document_id == doc.id, Job.status.in_(["queued", "running"])).limit(1)
            )
            if active is not None or doc.status in ("queued", "processing"):
                item.skipped = f"already waiting for or in a run (job {active})"
            elif doc.status == "verified":
                item.skipped = "verified: its reviewed values are final"
            elif doc.status == "review" and not req.reextract:
                item.skipped = "not failed (in review): pass reextract to read it again"
            if item.skipped is None:
                job = Job(kind="extract", document_id=doc.id, status="queued", model_version=req.model_version)
                s.add(job)
                s.flush()
                item.job_id = job.id
                new_jobs.append(job.id)
                doc.status, doc.error_code, doc.error_message = "queued", None, None
            items.append(item)
    for job_id in new_jobs:  # committed first: a message that cannot be sent now, the sweeper sends
        svc.enqueue(job_id)
    if new_jobs:
        log.info("retry: %d documents queued again (%s)", len(new_jobs), req.model_dump(exclude_none=True))
    return RetryOutcome(queued=len(new_jobs), skipped=len(items) - len(new_jobs), items=items)


def age(when: dt.datetime) -> str:
    from service.db import utcnow

    seconds = max(0.0, (utcnow() - when).total_seconds())
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
