"""The HTTP app: the routers of each resource (service/routes/), the middlewares that guard every request,
the review UI and the API docs."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from service import docs
from service.core import Service
from service.hardening import IdRange, SecurityHeaders, redact_tokens
from service.jobs import register_tasks, start_embedded_worker
from service.routes import admin, documents, errors, models, pages, results, review, training
from service.uploads import BodyLimit, UploadGate, UploadStats

log = logging.getLogger("gongkai.api")
UI_DIR = Path(__file__).resolve().parent / "ui"


class LoopMonitor:
    """How late the event loop wakes up (a blocked loop delays every request): sampled every 50 ms."""

    def __init__(self, period: float = 0.05, keep: int = 2400) -> None:
        self.period = period
        self.samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=keep)  # (when, lag)
        self.max_lag = 0.0
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            now = loop.time()
            lag = max(0.0, now - before - self.period)
            self.samples.append((now, lag))
            self.max_lag = max(self.max_lag, lag)

    def summary(self, window_s: float | None = None) -> dict[str, Any]:
        """Lag figures over the last `window_s` seconds (default: every sample kept, about 2 minutes)."""
        since = asyncio.get_running_loop().time() - window_s if window_s else float("-inf")
        data = sorted(lag for when, lag in self.samples if when >= since)

        def pick(q: float) -> float | None:
            return round(1000 * data[min(len(data) - 1, int(q * len(data)))], 2) if data else None

        return {
            "window_s": window_s,
            "samples": len(data),
            "lag_ms_p50": pick(0.5),
            "lag_ms_p99": pick(0.99),
            "lag_ms_max": round(1000 * data[-1], 2) if data else None,
            "lag_ms_max_since_start": round(1000 * self.max_lag, 2),
        }


def create_app(svc: Service | None = None, embedded_worker: bool = False) -> FastAPI:
    svc = register_tasks(svc or Service())  # the app sends jobs (uploads, retries, training runs)
    monitor = LoopMonitor()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if embedded_worker and not svc.settings.immediate:
            worker = start_embedded_worker(svc, svc.settings.workers)
        monitor.task = asyncio.create_task(monitor.run())
        try:
            yield
        finally:
            monitor.task.cancel()
            if worker is not None:
                consumer, sweeper = worker
                sweeper.stop()
                consumer.stop(graceful=True)
                if svc.presence is not None:
                    svc.presence.stop()

    app = FastAPI(
        title="gongkai",
        version="1",
        summary="Statutory tables of 政府信息公开工作年度报告: upload, extract, review, export, retrain",
        lifespan=lifespan,
        docs_url=None,  # served by service.docs from the package's own assets: no CDN, works offline
        redoc_url=None,
    )
    app.state.svc = svc
    app.state.uploads = UploadStats()
    app.state.loop_monitor = monitor
    app.state.render_slots = asyncio.Semaphore(svc.settings.page_render_workers)
    app.state.export_slots = asyncio.Semaphore(svc.settings.export_workers)

    errors.install(app)

    # a body over its limit is a 413 as it streams in (uploads: the route checks each file as well);
    # uploads beyond max_concurrent_uploads are a 429 before any other work (added last: runs first)
    app.add_middleware(BodyLimit, settings=svc.settings)
    app.add_middleware(UploadGate, settings=svc.settings, stats=app.state.uploads)
    app.add_middleware(IdRange)  # an id no database holds: 404, not a driver's 500
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the 413s and 429s above included
    redact_tokens()  # a token pasted into a URL is not written whole to the access log
    for resource in (admin, documents, results, pages, review, training, models):
        app.include_router(resource.router)
    docs.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app


def openapi_json(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=1)
