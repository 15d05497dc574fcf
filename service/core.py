"""The service's shared objects: settings, database, file store, queue. One per process."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from service.db import Database
from service.queueing import QueueBackoff, make_huey
from service.settings import Settings
from service.store import FileStore

if TYPE_CHECKING:
    from huey.api import TaskWrapper

log = logging.getLogger("gongkai.service")

class WorkerPresence(Protocol):
    """What a job tells the worker process it runs in (service.workers.Presence)."""

    def job_started(self, job_id: int) -> None: ...

    def job_finished(self, job_id: int) -> None: ...

    def stop(self) -> None: ...


class Service:
    def __init__(self, settings: Settings | None = None, migrate: bool = True, check_store: bool = True) -> None:
        """Raises `wiring.WiringError` for a configuration that would split the installation, and
        `wiring.StoreMismatch` for a store that is not the database's (unless `check_store` is off:
        `gongkai doctor` reports it instead, in `store_error`)."""
        from service import wiring

        self.settings = settings or Settings()
        wiring.check_settings(self.settings)
        self.settings.ensure_dirs()
        if migrate:
            from service.migrate import upgrade

            upgrade(self.settings.db_url)
        self.db = Database(self.settings.db_url)
        self.store = FileStore(self.settings.store_path)
        self.store_id: str | None = None
        self.store_error: str | None = None
        try:
            self.store_id = wiring.ensure_store_id(self.db, self.store.root)
        except wiring.StoreMismatch as exc:
            if check_store:
                self.db.dispose()
                raise
            self.store_error = str(exc)
        self.huey = make_huey(self.settings)
        # the job task is registered by what runs or sends jobs (`service.jobs.register_tasks`: the app,
        # the worker, the CLI's retry), not here: the queue knows no job code
        self.run_job_task: TaskWrapper | None = None
        self._pool_lock = threading.Lock()
        self._queued_lock = threading.Lock()
        self._enqueue_lock = threading.Lock() if self.queue_kind == "sqlite" else contextlib.nullcontext()
        from service.auth import TokenCache

        self.token_cache = TokenCache(self.settings.auth_cache_seconds)

    presence: WorkerPresence | None = None  # of a process that runs a worker (service.workers.Presence)

    @cached_property
    def queue_backoff(self):
        """This process's view of the queue's reachability (service/workers.py)."""
        return QueueBackoff(self.settings.queue_backoff_max_s)

    def queue_status(self) -> tuple[bool, str]:
        """(reachable, what was seen): the queue answers a size request."""
        try:
            pending = self.huey.storage.queue_size()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"{pending} messages pending"

    @cached_property
    def queue_kind(self) -> str:
        return "immediate" if self.settings.immediate else ("redis" if self.settings.redis_url else "sqlite")

    def enqueue(self, job_id: int, delay: float | None = None) -> bool:
        """Send the job's message. The job's row is committed first, so a message that cannot be sent
        (the queue is down) loses nothing: the sweeper sends it again (`requeue_queued_after_s`)."""
        task = self.run_job_task
        if task is None:
            raise RuntimeError("no job task on this service's queue: call service.jobs.register_tasks(svc) first")
        try:
            with self._enqueue_lock:  # SQLite queue: this process's writers queue here, not in SQLite's retry sleeps
                if delay and not self.settings.immediate:
                    task.schedule(args=(job_id,), delay=delay)
                else:
                    task(job_id)
            return True
        except Exception as exc:
            if self.settings.immediate:
                raise
            # one line, no traceback: while the queue is down every upload would print one
            log.warning("job %s: could not be queued (%s); the sweeper will queue it again", job_id,
                        f"{type(exc).__name__}: {exc}")
            return False

    def pending_messages(self) -> int | None:
        """Messages waiting in the queue (and scheduled retries), None when the queue cannot be read."""
        try:
            return self.huey.storage.queue_size() + self.huey.storage.schedule_size()
        except Exception:
            return None

    def queued_jobs(self, max_age: float = 0.2) -> int:
        """Jobs waiting for a worker (from the database; cached for `max_age` seconds under load)."""
        from sqlalchemy import func, select

        from service.db import Job

        now = time.monotonic()
        cached = self._queued_cache
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        if cached is not None and not self._queued_lock.acquire(blocking=False):
            return cached[1]  # another thread is counting: its figure will do
        elif cached is None:
            self._queued_lock.acquire()
        try:
            with self.db.session() as s:
                n = s.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0
            self._queued_cache = (time.monotonic(), n)
            return n
        finally:
            self._queued_lock.release()

    _queued_cache: tuple[float, int] | None = None

    def _pool(self, attr: str, make):
        with self._pool_lock:
            pool = self.__dict__.get(attr)
            if pool is None:
                pool = self.__dict__[attr] = make()
            return pool

    @property
    def extractors(self):
        """Supervised extraction children, one per worker thread at work (service/sandbox.py)."""
        from service.sandbox import Sandbox, SandboxPool

        st = self.settings
        return self._pool(
            "_extractors",
            lambda: SandboxPool(
                lambda: Sandbox(
                    "extraction",
                    memory_limit=st.max_worker_memory_mb * 2**20,
                    max_jobs=st.child_max_jobs,
                    warm=("extraction.pipeline",),
                    nice=st.extraction_nice,
                )
            ),
        )

    @property
    def inspectors(self):
        """Children that identify uploads (kind, pages) for the API: PDFium never runs in the server."""
        from service.sandbox import Sandbox, SandboxPool

        st = self.settings
        return self._pool(
            "_inspectors",
            lambda: SandboxPool(
                lambda: Sandbox(
                    "inspection",
                    memory_limit=st.max_worker_memory_mb * 2**20,
                    max_jobs=st.child_max_jobs * 10,
                    warm=("extraction.ingest.pdf", "PIL.Image"),
                ),
                max_size=st.inspect_workers,
            ),
        )

    def close(self) -> None:
        for attr in ("_extractors", "_inspectors", "_renderers", "_exporters"):
            pool = self.__dict__.pop(attr, None)
            if pool is not None:
                pool.close()
        self.db.dispose()
