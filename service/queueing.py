"""The job queue: Huey on SQLite (one machine) or Redis (several), and how a worker process rides out a
queue it cannot reach (`QueueBackoff`: one log line per backoff step, not a traceback a second)."""

from __future__ import annotations

import logging
import math
import threading
import time

from huey import Huey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from service.settings import Settings

log = logging.getLogger("gongkai.workers")


class QueueStorage(SqliteStorage):
    """The SQLite queue with `synchronous=NORMAL` (WAL): safe from corruption and from a crash of any
    process; a power cut may lose the last messages, which the sweeper sends again from the database
    (a job's row is committed, fsynced, before its message). Saves an fsync per upload."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey on one machine, RedisHuey across machines: the same tasks, the same code."""
    if settings.immediate:
        return SqliteHuey(settings.queue_name, immediate=True, results=False, filename=":memory:")
    if settings.redis_url:
        from redis import ConnectionPool

        # bounded waits: an unreachable Redis host (not one refusing at once) must not hang /v1/health
        # or a worker; the socket timeout stays above the 1 s blocking read of an idle worker
        pool = ConnectionPool.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.queue_timeout_s,
            socket_timeout=max(settings.queue_timeout_s, 2.0),
        )
        return RedisHuey(settings.queue_name, connection_pool=pool, results=False)
    return SqliteHuey(settings.queue_name, filename=str(settings.queue_path), results=False, storage_class=QueueStorage)


class QueueBackoff:
    """The queue's reachability as this process's consumer threads see it. Each thread backs off on
    its own (1 s, 2 s, 4 s … up to `max_s`); the process logs one line per backoff step, however many
    threads fail, and one line when the queue is back, which also wakes every waiting thread."""

    def __init__(self, max_s: float) -> None:
        self.max_s = max_s
        self.max_step = max(0, math.ceil(math.log2(max_s))) if max_s > 1 else 0
        self._lock = threading.Lock()
        self.error: str | None = None
        self._down_since: float | None = None
        self._logged_step = -1
        self._back = threading.Event()

    def failed(self, exc: BaseException, step: int) -> float:
        """A thread at backoff `step` failed to reach the queue: how long it waits before trying again."""
        delay = min(self.max_s, 2.0**step)
        with self._lock:
            self.error = f"{type(exc).__name__}: {exc}"[:500]
            if self._down_since is None:
                self._down_since = time.monotonic()
                self._back.clear()
            if step > self._logged_step:
                self._logged_step = step
                log.warning("queue unreachable (%s); next try in %.0f s", self.error, delay)
        return delay

    def next_step(self, step: int) -> int:
        return min(step + 1, self.max_step)

    def wait(self, stop_flag, delay: float) -> None:
        """Sleep `delay` seconds, less when the consumer stops or another thread finds the queue back."""
        deadline = time.monotonic() + delay
        while not self._back.is_set() and not stop_flag.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop_flag.wait(min(0.25, left))

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            log.warning("queue reachable again after %.0f s", time.monotonic() - self._down_since)
            self._down_since, self.error, self._logged_step = None, None, -1
            self._back.set()
