"""Durable jobs on Huey. Huey delivers the message; the `jobs` table makes a run safe:

- a worker *claims* a job with a compare-and-set on its row and holds a lease it renews from a heartbeat
  thread; the claim count is the run's fencing token;
- the result is written in the same transaction that marks the job done, and only while the run still
  holds its claim, so a job that two workers end up running (one was presumed dead) is written once;
- a worker killed mid-job stops heart-beating; the sweeper of any live worker re-queues the job once
  its lease has run out. Nothing is lost, nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from extraction import progress
from service.db import Document, Job, Result, TrainingRun, utcnow

if TYPE_CHECKING:
    from service.core import Service

log = logging.getLogger("gongkai.jobs")

_pipelines = threading.local()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim(svc: Service, job_id: int, owner: str) -> int | None:
    """Take the job if it is queued or its last runner's lease ran out. Returns the fencing token."""
    now = utcnow()
    lease = now + dt.timedelta(seconds=svc.settings.lease_seconds)
    with svc.db.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.status in ("done", "failed"):
            return None
        token = job.attempts + 1
        res = s.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.attempts == job.attempts,
                (Job.status == "queued") | ((Job.status == "running") & (Job.lease_until < now)),
            )
            .values(status="running", attempts=token, lease_owner=owner, lease_until=lease, started_at=now)
        )
        if res.rowcount != 1:
            return None
    return token


class Heartbeat(threading.Thread):
    def __init__(self, svc: Service, job_id: int, owner: str, token: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.svc, self.job_id, self.owner, self.token = svc, job_id, owner, token
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        interval = max(0.2, self.svc.settings.lease_seconds / 3)
        while not self.stopped.wait(interval):
            try:
                with self.svc.db.session() as s:
                    res = s.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.attempts == self.token, Job.status == "running")
                        .values(lease_until=utcnow() + dt.timedelta(seconds=self.svc.settings.lease_seconds))
                    )
                    if res.rowcount != 1:
                        self.lost = True
                        return
            except Exception:
                log.exception("heartbeat of job %s failed", self.job_id)

    def stop(self) -> None:
        self.stopped.set()


def _fenced(job_id: int, token: int):
    return (Job.id == job_id) & (Job.attempts == token) & (Job.status == "running")


def run_job(svc: Service, job_id: int) -> None:
    owner = worker_id()
    token = claim(svc, job_id, owner)
    if token is None:
        log.info("job %s: nothing to do (done, failed, or held by a live worker)", job_id)
        return
    heartbeat = Heartbeat(svc, job_id, owner, token)
    heartbeat.start()
    try:
        with svc.db.session() as s:
            kind = s.get(Job, job_id).kind  # type: ignore[union-attr]
        if kind == "extract":
            _extract(svc, job_id, token)
        elif kind == "train":
            _train(svc, job_id, token)
        else:
            _fail(svc, job_id, token, "internal_error", f"unknown job kind {kind!r}")
    except Exception as exc:  # a defect: record it on the job, never leave it running forever
        log.exception("job %s failed", job_id)
        _fail(svc, job_id, token, "internal_error", f"{type(exc).__name__}: {exc}")
    finally:
        heartbeat.stop()


def _fail(svc: Service, job_id: int, token: int, code: str, message: str) -> None:
    with svc.db.session() as s:
        res = s.execute(
            update(Job)
            .where(_fenced(job_id, token))
            .values(status="failed", error_code=code, error_message=message, finished_at=utcnow(), lease_until=None)
        )
        if res.rowcount != 1:
            return
        job = s.get(Job, job_id)
        if job.document_id is not None:  # type: ignore[union-attr]
            s.execute(
                update(Document)
                .where(Document.id == job.document_id)  # type: ignore[union-attr]
                .values(status="failed", error_code=code, error_message=message)
            )
        if job.training_run_id is not None:  # type: ignore[union-attr]
            s.execute(
                update(TrainingRun)
                .where(TrainingRun.id == job.training_run_id)  # type: ignore[union-attr]
                .values(status="failed", error_code=code, error_message=message, finished_at=utcnow())
            )


def pipeline_for(svc: Service, labeler: str):
    """One Pipeline per worker thread and labeler (labelers may hold a model; threads must not share one)."""
    from extraction.ingest import IngestOptions
    from extraction.pipeline import Pipeline, PipelineOptions

    cache = getattr(_pipelines, "cache", None)
    if cache is None:
        cache = _pipelines.cache = {}
    if labeler not in cache:
        ingest = IngestOptions(max_bytes=svc.settings.max_upload_bytes, max_pages=svc.settings.max_pages)
        if svc.settings.ocr_page_timeout_s:
            ingest.ocr.page_timeout_s = svc.settings.ocr_page_timeout_s
        options = PipelineOptions(labeler=labeler, review_threshold=svc.settings.review_threshold, ingest=ingest)
        from service.training_adapter import make_labeler

        cache[labeler] = Pipeline(options, labeler=make_labeler(labeler))
    return cache[labeler]


def _extract(svc: Service, job_id: int, token: int) -> None:
    from extraction.errors import GongkaiError
    from service import training_adapter
    from service.review import apply_reviews

    with svc.db.session() as s:
        job = s.get(Job, job_id)
        doc = s.get(Document, job.document_id)  # type: ignore[union-attr]
        sha, name, pages = doc.sha256, doc.filename, doc.pages  # type: ignore[union-attr]
        s.execute(update(Document).where(Document.id == doc.id).values(status="processing"))  # type: ignore[union-attr]
        s.execute(update(Job).where(_fenced(job_id, token)).values(pages_done=0, pages_total=pages or 1))
        version, labeler = training_adapter.active_labeler(s)
    data = svc.store.get(sha)
    done: set[int] = set()

    def page_done(number: int) -> None:
        done.add(number)
        with svc.db.session() as s:
            s.execute(update(Job).where(_fenced(job_id, token)).values(pages_done=len(done)))

    pipeline = pipeline_for(svc, labeler)
    ctx_token = progress.page_done.set(page_done)
    try:
        state = pipeline.ingest(data, name)
        result = pipeline.run(state)
    except GongkaiError as exc:  # bad input (or OCR missing): a clear, final error on the document
        _fail(svc, job_id, token, exc.code, exc.message)
        return
    finally:
        progress.page_done.reset(ctx_token)
    page_info = [
        {"number": p.number, "width": p.width, "height": p.height, "unit": p.unit, "error": p.error}
        for p in state.pages
    ]
    payload = result.to_json_dict()
    view = apply_reviews(payload, [], svc.settings.review_threshold)
    with svc.db.session() as s:
        res = s.execute(
            update(Job)
            .where(_fenced(job_id, token))
            .values(status="done", finished_at=utcnow(), pages_done=len(page_info) or 1, lease_until=None)
        )
        if res.rowcount != 1:
            log.warning("job %s: lost its claim while running; its result is discarded", job_id)
            s.rollback()
            return
        row = Result(
            document_id=job.document_id,  # type: ignore[union-attr]
            job_id=job_id,
            model_version=version,
            data=payload,
            page_info=page_info,
        )
        s.add(row)
        s.flush()
        report = payload["report"]
        s.execute(
            update(Document)
            .where(Document.id == job.document_id)  # type: ignore[union-attr]
            .values(
                status="verified" if view.verified else "review",
                result_id=row.id,
                pages=len(page_info) or None,
                open_reviews=len(view.open_reviews),
                failed_rules=view.failed_rules,
                agency=report.get("agency"),
                year=report.get("year"),
                format=report.get("format"),
                error_code=None,
                error_message=None,
            )
        )


def _train(svc: Service, job_id: int, token: int) -> None:
    from service import training_adapter

    with svc.db.session() as s:
        job = s.get(Job, job_id)
        run_id = job.training_run_id  # type: ignore[union-attr]
        s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(status="running"))
    outcome = training_adapter.run_training(svc, run_id)
    with svc.db.session() as s:
        if outcome.error_code:
            res = s.execute(
                update(Job)
                .where(_fenced(job_id, token))
                .values(
                    status="failed",
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                    finished_at=utcnow(),
                )
            )
            if res.rowcount == 1:
                s.execute(
                    update(TrainingRun)
                    .where(TrainingRun.id == run_id)
                    .values(
                        status="failed",
                        error_code=outcome.error_code,
                        error_message=outcome.error_message,
                        metrics=outcome.metrics,
                        finished_at=utcnow(),
                    )
                )
            return
        res = s.execute(update(Job).where(_fenced(job_id, token)).values(status="done", finished_at=utcnow()))
        if res.rowcount != 1:
            s.rollback()
            return
        training_adapter.record_model(s, run_id, outcome)
        s.execute(
            update(TrainingRun)
            .where(TrainingRun.id == run_id)
            .values(status="done", metrics=outcome.metrics, model_version=outcome.version, finished_at=utcnow())
        )


def sweep(svc: Service, requeue_queued_after: float = 600.0) -> list[int]:
    """Re-queue jobs whose worker died (lease ran out) and queued jobs whose message went missing.
    Compare-and-set per job, so several sweepers on several machines re-queue a job once."""
    now = utcnow()
    requeued: list[int] = []
    with svc.db.session() as s:
        stale = s.execute(
            select(Job.id, Job.attempts).where(Job.status == "running", Job.lease_until < now)
        ).all()
        lost = s.execute(
            select(Job.id, Job.enqueued_at).where(
                Job.status == "queued", Job.enqueued_at < now - dt.timedelta(seconds=requeue_queued_after)
            )
        ).all()
    for job_id, attempts in stale:
        with svc.db.session() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.attempts == attempts, Job.status == "running", Job.lease_until < now)
                .values(status="queued", lease_owner=None, enqueued_at=now, requeues=Job.requeues + 1)
            )
            ok = res.rowcount == 1
        if ok:
            log.warning("job %s: its worker stopped (lease expired); re-queued", job_id)
            svc.enqueue(job_id)
            requeued.append(job_id)
    for job_id, enqueued_at in lost:
        with svc.db.session() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued", Job.enqueued_at == enqueued_at)
                .values(enqueued_at=now, requeues=Job.requeues + 1)
            )
            ok = res.rowcount == 1
        if ok:
            svc.enqueue(job_id)
            requeued.append(job_id)
    return requeued


class Sweeper(threading.Thread):
    def __init__(self, svc: Service) -> None:
        super().__init__(daemon=True, name="gongkai-sweeper")
        self.svc = svc
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.svc.settings.sweep_seconds):
            try:
                sweep(self.svc)
            except Exception:
                log.exception("sweep failed")

    def stop(self) -> None:
        self.stopped.set()


def register_tasks(svc: Service):
    @svc.huey.task(name="gongkai.run_job", retries=0)
    def run_job_task(job_id: int) -> None:
        run_job(svc, job_id)

    return run_job_task


def start_embedded_worker(svc: Service, workers: int = 1):
    """A Huey consumer inside this process (gongkai serve): worker threads, no signal handlers."""
    from huey.consumer import Consumer

    class EmbeddedConsumer(Consumer):
        def _set_signal_handlers(self) -> None:  # not the main thread: the web server owns the signals
            pass

    consumer = EmbeddedConsumer(
        svc.huey, workers=workers, worker_type="thread", periodic=False, check_worker_health=False, max_delay=1.0
    )
    consumer.start()
    sweep(svc)  # jobs orphaned by a previous run of this process
    sweeper = Sweeper(svc)
    sweeper.start()
    return consumer, sweeper
