"""Workers an operator can see, and a queue outage that does not flood the logs.

- `Presence`: a worker process (`gongkai worker`, or the worker inside `gongkai serve`) records
  itself in the `workers` table and heart-beats there every `worker_heartbeat_s`: its host and pid,
  the jobs it runs now, how many it finished, and whether it can reach the queue. `/v1/metrics` and
  `gongkai status` list the workers heard from within `worker_stale_after_s`.
- `make_consumer` builds a Huey consumer whose worker threads and scheduler back off while the queue
  (Redis) is unreachable (`service.queueing.QueueBackoff`): one log line per backoff step (1 s, 2 s,
  4 s … up to `queue_backoff_max_s`) instead of a traceback a second, and one line when the queue is
  back (every thread waiting then tries again at once).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from huey.consumer import Consumer, Scheduler, Worker
from pydantic import BaseModel
from sqlalchemy import delete, select, update

from service.db import WorkerRow, utcnow
from service.queueing import QueueBackoff

if TYPE_CHECKING:
    from service.core import Service

log = logging.getLogger("gongkai.workers")
FORGET_AFTER_S = 7 * 24 * 3600.0  # a worker not seen for a week is forgotten (its row deleted)


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    kind: str
    threads: int
    queue: str
    store: str
    started_at: dt.datetime
    last_seen: dt.datetime
    current_jobs: list[int]
    jobs_done: int
    queue_error: str | None


class Presence:
    """This process's row in the `workers` table, kept fresh by a heartbeat thread."""

    def __init__(self, svc: Service, kind: str, threads: int) -> None:
        from service.wiring import wiring

        self.svc, self.kind, self.threads = svc, kind, threads
        self.id = process_id()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._current: set[int] = set()
        self._done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.queue_label = wiring(svc.settings).queue[:300]

    def start(self) -> None:
        self._beat(first=True)
        with contextlib.suppress(Exception):  # rows of workers gone long ago: the table stays small
            forget = utcnow() - dt.timedelta(seconds=FORGET_AFTER_S)
            with self.svc.db.session() as s:
                s.execute(delete(WorkerRow).where(WorkerRow.last_seen < forget))
        self._thread = threading.Thread(target=self._run, daemon=True, name="gongkai-presence")
        self._thread.start()

    def _mine(self) -> bool:
        """A `--worker-type process` consumer runs jobs in forked children: only the process that
        registered writes the row (the children's jobs are not listed as current)."""
        return os.getpid() == self._pid

    def job_started(self, job_id: int) -> None:
        if not self._mine():
            return
        with self._lock:
            self._current.add(job_id)
        self._beat_soon()

    def job_finished(self, job_id: int) -> None:
        if not self._mine():
            return
        with self._lock:
            self._current.discard(job_id)
            self._done += 1
        self._beat_soon()

    def _beat_soon(self) -> None:
        with contextlib.suppress(Exception):  # the heartbeat thread tries again; a job never fails for it
            self._beat()

    def _run(self) -> None:
        while not self._stop.wait(self.svc.settings.worker_heartbeat_s):
            try:
                self._beat()
            except Exception as exc:
                log.warning("worker heartbeat failed (%s: %s)", type(exc).__name__, exc)

    def _beat(self, first: bool = False) -> None:
        with self._lock:
            current, done = sorted(self._current), self._done
        backoff = getattr(self.svc, "queue_backoff", None)
        values: dict[str, Any] = {
            "last_seen": utcnow(),
            "current_jobs": current,
            "jobs_done": done,
            "queue_error": backoff.error if backoff is not None else None,
            "stopped_at": None,
        }
        with self.svc.db.session() as s:
            if first:
                row = s.get(WorkerRow, self.id)
                if row is None:
                    row = WorkerRow(id=self.id)
                    s.add(row)
                host, _, pid = self.id.rpartition(":")
                row.host, row.pid, row.kind, row.threads = host, int(pid), self.kind, self.threads
                row.queue, row.store = self.queue_label, str(self.svc.store.root)[:500]
                row.started_at = utcnow()
                for key, value in values.items():
                    setattr(row, key, value)
            else:
                s.execute(update(WorkerRow).where(WorkerRow.id == self.id).values(**values))

    def stop(self) -> None:
        self._stop.set()
        try:
            with self.svc.db.session() as s:
                s.execute(
                    update(WorkerRow).where(WorkerRow.id == self.id).values(stopped_at=utcnow(), current_jobs=[])
                )
        except Exception:
            log.warning("could not record that worker %s stopped", self.id)


def live_workers(svc: Service) -> list[WorkerOut]:
    """Workers heard from within `worker_stale_after_s` and not stopped, oldest first."""
    since = utcnow() - dt.timedelta(seconds=svc.settings.worker_stale_after_s)
    with svc.db.session() as s:
        rows = s.scalars(
            select(WorkerRow)
            .where(WorkerRow.last_seen >= since, WorkerRow.stopped_at.is_(None))
            .order_by(WorkerRow.started_at, WorkerRow.id)
        ).all()
        return [WorkerOut.model_validate(r, from_attributes=True) for r in rows]


class PatientWorker(Worker):
    """Huey's worker thread, with the process's queue backoff instead of a traceback a second."""

    backoff_state: QueueBackoff
    _queue_step = 0

    def loop(self, now=None):
        try:
            task = self.huey.dequeue()
        except Exception as exc:
            delay = self.backoff_state.failed(exc, self._queue_step)
            self._queue_step = self.backoff_state.next_step(self._queue_step)
            self.backoff_state.wait(self.stop_flag, delay)
            return
        self._queue_step = 0
        self.backoff_state.succeeded()
        if task is not None:
            self.delay = self.default_delay
            self.task_count += 1
            try:
                self.huey.execute(task, now)
            except Exception:
                self._logger.exception("Unhandled error during execution of task %s.", task.id)
        elif not self.huey.storage.blocking:
            self.sleep()


class PatientScheduler(Scheduler):
    """Huey's scheduler (delayed re-runs), quiet and backing off while the queue is down."""

    backoff_state: QueueBackoff
    _queue_step = 0
    _next_loop: float  # Huey's Scheduler sets it

    def loop(self, now=None):
        current = self._next_loop
        self._next_loop += self.interval
        if self._next_loop < time.monotonic():  # as Huey's: skip a stalled iteration
            self._next_loop = time.monotonic()
            return
        try:
            tasks = self.huey.read_schedule(now)
        except Exception as exc:
            delay = self.backoff_state.failed(exc, self._queue_step)
            self._queue_step = self.backoff_state.next_step(self._queue_step)
            self.backoff_state.wait(self.stop_flag, delay)
            self._next_loop = time.monotonic()
            return
        self._queue_step = 0
        self.backoff_state.succeeded()
        for task in tasks:
            try:
                self.huey.enqueue(task)
            except Exception as exc:  # lost here, the sweeper sends the job's message again
                log.warning("a delayed re-run could not be queued (%s: %s); the sweeper will", type(exc).__name__, exc)
        self.sleep_for_interval(current, self.interval)


def make_consumer(svc: Service, workers: int, worker_type: str = "thread", embedded: bool = False) -> Consumer:
    backoff = svc.queue_backoff

    class GongkaiConsumer(Consumer):
        def _create_worker(self):
            worker = super()._create_worker()
            worker.backoff_state = backoff
            return worker

        def _create_scheduler(self):
            scheduler = super()._create_scheduler()
            scheduler.backoff_state = backoff
            return scheduler

        def _set_signal_handlers(self) -> None:
            if not embedded:  # inside `gongkai serve`: the web server owns the signals
                super()._set_signal_handlers()

    GongkaiConsumer.worker_class = PatientWorker
    GongkaiConsumer.scheduler_class = PatientScheduler
    return GongkaiConsumer(
        svc.huey,
        workers=workers,
        worker_type=worker_type,
        periodic=False,
        check_worker_health=not embedded,
        max_delay=1.0,
    )
