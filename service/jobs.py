"""Durable jobs on Huey. Huey delivers the message; the `jobs` table makes a run safe:

- a worker *claims* a job with a compare-and-set on its row and holds a lease it renews from a heartbeat
  thread; the claim count is the run's fencing token;
- the result is written in the same transaction that marks the job done, and only while the run still
  holds its claim, so a job that two workers end up running (one was presumed dead) is written once;
- a worker killed mid-job stops heart-beating; the sweeper of any live worker re-queues the job once
  its lease has run out. Nothing is lost, nothing is written twice;
- the extraction itself runs in a supervised child process (service/sandbox.py): a crash, a hang or a
  memory blow-up there fails the job with a typed code (`worker_crashed`, `time_limit_exceeded`,
  `memory_limit_exceeded`) and the worker goes on with the next job;
- a transient storage error (the database or the file store failing) puts the job back in the queue,
  up to `max_job_retries` times; the transaction that failed wrote nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Executable

from service.db import Document, Job, ModelVersion, PageCheckpoint, Result, TrainingRun, utcnow
from service.errors import public_message

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

    from service.core import Service

log = logging.getLogger("gongkai.jobs")

# the database or the file store failing: the job is retried, never failed for it (up to max_job_retries)
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, OSError)


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
        res = _changed(
            s,
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
                    res = _changed(
                        s,
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


def _changed(s: Session, stmt: Executable) -> CursorResult[Any]:
    """An UPDATE's result: its `rowcount` says whether the compare-and-set matched."""
    return cast("CursorResult[Any]", s.execute(stmt))


def _job(s: Session, job_id: int) -> Job:
    """The job's row, which this run claimed (or fenced) a moment ago: only a deleted row is missing."""
    job = s.get(Job, job_id)
    if job is None:
        raise RuntimeError(f"job {job_id} is gone")
    return job


def _fenced(job_id: int, token: int) -> ColumnElement[bool]:
    return (Job.id == job_id) & (Job.attempts == token) & (Job.status == "running")


def run_job(svc: Service, job_id: int) -> None:
    from service.logs import context

    with context(job=job_id, worker=worker_id()):
        presence = svc.presence
        if presence is not None:
            presence.job_started(job_id)
        try:
            _run_job(svc, job_id)
        finally:
            if presence is not None:
                presence.job_finished(job_id)


def _run_job(svc: Service, job_id: int) -> None:
    from service.logs import context

    owner = worker_id()
    try:
        token = claim(svc, job_id, owner)
    except TRANSIENT as exc:  # the database is unreachable: the message is gone, the sweeper re-queues the job
        log.warning("job %s: could not be claimed (%s: %s); the sweeper re-queues it", job_id, type(exc).__name__, exc)
        return
    if token is None:
        log.info("job %s: nothing to do (done, failed, or held by a live worker)", job_id)
        return
    heartbeat = Heartbeat(svc, job_id, owner, token)
    heartbeat.start()
    try:
        with svc.db.session() as s:
            job = _job(s, job_id)
            kind, document_id = job.kind, job.document_id
        with context(document=document_id):
            _dispatch(svc, job_id, token, heartbeat, kind)
    finally:
        heartbeat.stop()


def _dispatch(svc: Service, job_id: int, token: int, heartbeat: Heartbeat, kind: str) -> None:
    log.info("job %s: %s, run %s", job_id, kind, token)
    try:
        if kind == "extract":
            _extract(svc, job_id, token, heartbeat)
        elif kind == "train":
            _train(svc, job_id, token)
        else:
            _fail(svc, job_id, token, "internal_error", f"unknown job kind {kind!r}")
    except TRANSIENT as exc:  # the transaction that failed wrote nothing: run the job again later
        log.warning("job %s: storage error (%s: %s); it is retried", job_id, type(exc).__name__, exc)
        _retry_later(svc, job_id, token, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a defect: record it on the job, never leave it running forever
        log.exception("job %s failed", job_id)
        _fail(svc, job_id, token, "internal_error", f"{type(exc).__name__}: {exc}")


def _retry_later(
    svc: Service, job_id: int, token: int, message: str, code: str = "storage_error", peak: int | None = None
) -> None:
    """Back to the queue after a transient failure (with a growing delay), or failed with `code` once
    it has been retried `max_job_retries` times: a storage error, or a code of `retry_transient_codes`
    (an original the worker's machine cannot see). If even this write fails, the lease runs out and the
    sweeper re-queues the job: either way it is not lost."""
    try:
        with svc.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.attempts != token or job.status != "running":
                return
            retries = job.retries
            document_id = job.document_id
        if retries >= svc.settings.max_job_retries:
            what = "storage kept failing" if code == "storage_error" else "the failure persisted"
            _fail(svc, job_id, token, code, f"{what} ({retries} retries): {message}", peak)
            return
        with svc.db.session() as s:
            res = _changed(
                s,
                update(Job)
                .where(_fenced(job_id, token))
                .values(
                    status="queued",
                    lease_owner=None,
                    lease_until=None,
                    enqueued_at=utcnow(),
                    retries=Job.retries + 1,
                    pages_done=0,
                    error_code=code,
                    error_message=message,
                )
            )
            if res.rowcount != 1:
                return
            if document_id is not None:
                s.execute(update(Document).where(Document.id == document_id).values(status="queued"))
        delay = min(svc.settings.retry_backoff_max_s, 2.0**retries)
        log.warning("job %s: %s (%s); re-run %s of %s in %.0f s", job_id, code, message, retries + 1,
                    svc.settings.max_job_retries, delay)
        svc.enqueue(job_id, delay=delay)
    except Exception:
        log.exception("job %s: could not be put back in the queue; the sweeper will", job_id)


def _fail(svc: Service, job_id: int, token: int, code: str, message: str, peak: int | None = None) -> None:
    if code == "internal_error":  # a defect's text: the log has it whole; the job keeps no paths or traceback
        message = public_message(message)
    with svc.db.session() as s:
        res = _changed(
            s,
            update(Job)
            .where(_fenced(job_id, token))
            .values(
                status="failed",
                error_code=code,
                error_message=message,
                finished_at=utcnow(),
                lease_until=None,
                peak_memory_bytes=peak,
            )
        )
        if res.rowcount != 1:
            return
        s.execute(delete(PageCheckpoint).where(PageCheckpoint.job_id == job_id))
        job = _job(s, job_id)
        log.warning("job %s: failed: %s: %s", job_id, code, message)
        if job.document_id is not None:
            s.execute(
                update(Document)
                .where(Document.id == job.document_id)
                .values(status="failed", error_code=code, error_message=message)
            )
        if job.training_run_id is not None:
            s.execute(
                update(TrainingRun)
                .where(TrainingRun.id == job.training_run_id)
                .values(status="failed", error_code=code, error_message=message, finished_at=utcnow())
            )


def hard_time_limit(budget: float) -> float:
    """When the extraction child is killed: past the extractor's own budget, with room to finish."""
    return budget * 1.1 + min(15.0, budget)


def _run_extraction(svc: Service, request: dict, page_done, heartbeat: Heartbeat, checkpoint=None):
    """(ok, value or (code, message), peak resident bytes): in the supervised child, or inline."""
    from extraction.errors import GongkaiError
    from service import extract_task

    if not svc.settings.process_isolation:
        try:
            value = extract_task.extract(request, on_page=page_done, on_checkpoint=checkpoint)
        except GongkaiError as exc:
            return False, (exc.code, exc.message), None
        except MemoryError:
            return False, ("memory_limit_exceeded", "the extraction ran out of memory"), None
        return True, value, None
    from service.sandbox import PoolClosed

    try:
        with svc.extractors.lease() as box:
            outcome = box.call(
                "extract",
                request,
                # the extractor keeps its own time budget (max_document_seconds: pages left unread, a typed
                # error); the kill is for what it cannot interrupt (a native call that never returns)
                time_limit=hard_time_limit(svc.settings.max_document_seconds),
                on_message=lambda msg: (
                    page_done(msg[1])
                    if msg[0] == "page"
                    else checkpoint(msg[1], msg[2])
                    if msg[0] == "checkpoint" and checkpoint is not None
                    else None
                ),
                should_abort=lambda: heartbeat.lost,
            )
    except PoolClosed:  # shutting down: the job is left to its lease (a sweeper runs it again)
        return None, None, None
    if outcome.aborted:
        return None, None, outcome.peak_rss
    log.info(
        "extraction: %s in %.2fs, child %s peak %.0f MiB",
        "ok" if outcome.ok else outcome.code, outcome.seconds, outcome.child_pid, outcome.peak_rss / 2**20,
    )
    if outcome.ok:
        return True, outcome.value, outcome.peak_rss
    return False, (outcome.code, outcome.message), outcome.peak_rss


def _extract(svc: Service, job_id: int, token: int, heartbeat: Heartbeat) -> None:
    from service import training_adapter
    from service.review import apply_reviews
    from service.uploads import clean_report

    with svc.db.session() as s:
        job = _job(s, job_id)
        doc = s.get(Document, job.document_id)
        if doc is None:  # documents are never deleted while they have jobs
            raise RuntimeError(f"job {job_id}: document {job.document_id} is gone")
        document_id = doc.id
        sha, name, pages = doc.sha256, doc.filename, doc.pages
        s.execute(update(Document).where(Document.id == document_id).values(status="processing"))
        s.execute(update(Job).where(_fenced(job_id, token)).values(pages_done=0, pages_total=pages or 1))
        version, labeler = _labeler_for(s, job.model_version, svc.settings)
        # the extractor's options, whole, the labeler and its model version among them: the child
        # validates them back (service/extract_task.py)
        options = svc.settings.pipeline_options(labeler).model_dump(mode="json")
        fingerprint = checkpoint_fingerprint(options)
        known = {
            page: data
            for page, data in s.execute(
                select(PageCheckpoint.page, PageCheckpoint.data).where(
                    PageCheckpoint.job_id == job_id, PageCheckpoint.fingerprint == fingerprint
                )
            ).all()
        }
    if known:
        log.info("job %s: resumes with %d pages read by its earlier run", job_id, len(known))
    done: set[int] = set()

    def page_done(number: int) -> None:
        done.add(number)
        with svc.db.session() as s:
            s.execute(update(Job).where(_fenced(job_id, token)).values(pages_done=len(done)))

    def checkpoint(number: int, lines: list) -> None:
        if number in known:
            return
        with svc.db.session() as s:
            if s.scalar(select(Job.id).where(_fenced(job_id, token))) is None:
                return  # the run lost its claim: its pages are not this job's any more
            s.add(PageCheckpoint(job_id=job_id, document_id=document_id, page=number, fingerprint=fingerprint, data=lines))
        known[number] = lines

    request = {
        "path": str(svc.store.path(sha)),
        "sha256": sha,
        "name": name,
        "labeler": labeler,
        "options": options,
        "checkpoints": dict(known),
    }
    ok, value, peak = _run_extraction(svc, request, page_done, heartbeat, checkpoint)
    if ok is None:
        log.warning("job %s: stopped (its claim was lost, or the worker is shutting down); not written", job_id)
        return
    if not ok:  # bad input, or the child crashed / ran out of time or memory: final, on the document
        code, message = value
        if code in svc.settings.retry_transient_codes:  # the installation's fault (a store not mounted here)
            _retry_later(svc, job_id, token, message, code=code, peak=peak)
            return
        _fail(svc, job_id, token, code, message, peak)
        return
    payload, page_info = clean_report(value["payload"]), value["page_info"]  # no bidi/zero-width in the agency
    if value.get("pages_reused"):
        log.info("job %s: %d pages came from checkpoints", job_id, value["pages_reused"])
    version = training_adapter.result_version(version, labeler, payload)
    view = apply_reviews(payload, [], svc.settings.review_threshold)
    with svc.db.session() as s:
        res = _changed(
            s,
            update(Job)
            .where(_fenced(job_id, token))
            .values(
                status="done",
                finished_at=utcnow(),
                pages_done=len(page_info) or 1,
                lease_until=None,
                error_code=None,
                error_message=None,
                peak_memory_bytes=peak,
            )
        )
        if res.rowcount != 1:
            log.warning("job %s: lost its claim while running; its result is discarded", job_id)
            s.rollback()
            return
        s.execute(delete(PageCheckpoint).where(PageCheckpoint.job_id == job_id))  # the result holds it all now
        row = Result(document_id=document_id, job_id=job_id, model_version=version, data=payload, page_info=page_info)
        s.add(row)
        s.flush()
        report = payload["report"]
        s.execute(
            update(Document)
            .where(Document.id == document_id)
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


def checkpoint_fingerprint(options: dict[str, Any]) -> str:
    """What a page's reading depends on: the ingest options (`PipelineOptions` as JSON) but the
    document's time budget. The labeler, the review threshold and the stages after reading act on the
    pages once read, so a re-run with another model reuses them."""
    import hashlib
    import json

    reading = {k: v for k, v in options["ingest"].items() if k != "max_document_seconds"}
    return hashlib.sha256(json.dumps(reading, sort_keys=True, default=str).encode()).hexdigest()


def _labeler_for(s, model_version: str | None, settings=None) -> tuple[str, str]:
    """(version, labeler) of a job: the version an operator's re-run asked for, else the active one."""
    from service import training_adapter

    if model_version:
        if model_version == training_adapter.BASELINE[0]:
            return training_adapter.BASELINE
        row = s.scalar(select(ModelVersion).where(ModelVersion.version == model_version))
        if row is not None:
            return row.version, row.labeler
        log.warning("model version %s is gone; the active one is used", model_version)
    return training_adapter.active_labeler(s, settings)


def _train(svc: Service, job_id: int, token: int) -> None:
    from service import training_adapter

    with svc.db.session() as s:
        run_id = _job(s, job_id).training_run_id
        if run_id is None:
            raise RuntimeError(f"job {job_id}: a training job without its run")
        s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(status="running"))
    outcome = training_adapter.run_training(svc, run_id)
    with svc.db.session() as s:
        if outcome.error_code:
            res = _changed(
                s,
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
        res = _changed(s, update(Job).where(_fenced(job_id, token)).values(status="done", finished_at=utcnow()))
        if res.rowcount != 1:
            s.rollback()
            return
        training_adapter.record_model(s, run_id, outcome)
        s.execute(
            update(TrainingRun)
            .where(TrainingRun.id == run_id)
            .values(status="done", metrics=outcome.metrics, model_version=outcome.version, finished_at=utcnow())
        )


def sweep(svc: Service, requeue_queued_after: float | None = None) -> list[int]:
    """Re-queue jobs whose worker died (lease ran out) and queued jobs whose message went missing (a
    queue restarted without persistence, an enqueue that failed after its commit). Compare-and-set per
    job, so several sweepers on several machines re-queue a job once."""
    after = svc.settings.requeue_queued_after_s if requeue_queued_after is None else requeue_queued_after
    now = utcnow()
    requeued: list[int] = []
    with svc.db.session() as s:
        stale = s.execute(
            select(Job.id, Job.attempts).where(Job.status == "running", Job.lease_until < now)
        ).all()
        lost = s.execute(
            select(Job.id, Job.enqueued_at)
            .where(Job.status == "queued", Job.enqueued_at < now - dt.timedelta(seconds=after))
            .order_by(Job.enqueued_at, Job.id)
        ).all()
        queued = s.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0
    if lost and not svc.settings.immediate:
        # a long queue keeps its messages: only as many as are missing are sent again (the oldest);
        # a message a worker has just taken, for a job not yet claimed, costs at most a duplicate
        pending = svc.pending_messages()
        missing = 0 if pending is None else max(0, queued - pending)
        lost = lost[:missing]
    for job_id, attempts in stale:
        with svc.db.session() as s:
            res = _changed(
                s,
                update(Job)
                .where(Job.id == job_id, Job.attempts == attempts, Job.status == "running", Job.lease_until < now)
                .values(status="queued", lease_owner=None, enqueued_at=now, requeues=Job.requeues + 1, pages_done=0)
            )
            ok = res.rowcount == 1
            if ok:  # the document waits for the re-run (its pages read so far are kept: page checkpoints)
                doc_id = s.scalar(select(Job.document_id).where(Job.id == job_id))
                if doc_id is not None:
                    s.execute(
                        update(Document).where(Document.id == doc_id, Document.status == "processing").values(status="queued")
                    )
        if ok:
            log.warning("job %s: its worker stopped (lease expired); re-queued", job_id)
            svc.enqueue(job_id)
            requeued.append(job_id)
    for job_id, enqueued_at in lost:
        with svc.db.session() as s:
            res = _changed(
                s,
                update(Job)
                .where(Job.id == job_id, Job.status == "queued", Job.enqueued_at == enqueued_at)
                .values(enqueued_at=now, requeues=Job.requeues + 1)
            )
            ok = res.rowcount == 1
        if ok:
            log.warning("job %s: queued for %.0fs and its queue message is missing; sent again", job_id, after)
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


def register_tasks(svc: Service) -> Service:
    """The job task on the service's queue: what runs jobs (the worker, `gongkai serve`) and what sends
    them (the app, `gongkai retry`) register it once, before the first job is sent or taken."""
    if svc.run_job_task is None:

        @svc.huey.task(name="gongkai.run_job", retries=0)
        def run_job_task(job_id: int) -> None:
            run_job(svc, job_id)

        svc.run_job_task = run_job_task
    return svc


def start_embedded_worker(svc: Service, workers: int = 1):
    """A Huey consumer inside this process (gongkai serve): worker threads, no signal handlers."""
    from service.workers import Presence, make_consumer

    consumer = make_consumer(svc, workers, embedded=True)
    if svc.settings.process_isolation:
        svc.extractors.prestart(workers)  # the extraction children import the pipeline while we wait
    presence = svc.presence = Presence(svc, "embedded", workers)
    presence.start()
    consumer.start()
    sweep(svc)  # jobs orphaned by a previous run of this process
    sweeper = Sweeper(svc)
    sweeper.start()
    return consumer, sweeper
