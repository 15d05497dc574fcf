"""The service's shared objects: settings, database, file store, queue. One per process."""

from __future__ import annotations

from functools import cached_property

from huey import Huey, RedisHuey, SqliteHuey

from service.db import Database
from service.settings import Settings
from service.store import FileStore


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey on one machine, RedisHuey across machines: the same tasks, the same code."""
    if settings.immediate:
        return SqliteHuey(settings.queue_name, immediate=True, results=False, filename=":memory:")
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, results=False)
    return SqliteHuey(settings.queue_name, filename=str(settings.queue_path), results=False)


class Service:
    def __init__(self, settings: Settings | None = None, migrate: bool = True) -> None:
        self.settings = settings or Settings()
        self.settings.ensure_dirs()
        if migrate:
            from service.migrate import upgrade

            upgrade(self.settings.db_url)
        self.db = Database(self.settings.db_url)
        self.store = FileStore(self.settings.store_path)
        self.huey = make_huey(self.settings)
        from service.jobs import register_tasks

        self.run_job_task = register_tasks(self)

    @cached_property
    def queue_kind(self) -> str:
        return "immediate" if self.settings.immediate else ("redis" if self.settings.redis_url else "sqlite")

    def enqueue(self, job_id: int) -> None:
        self.run_job_task(job_id)

    def close(self) -> None:
        self.db.dispose()
