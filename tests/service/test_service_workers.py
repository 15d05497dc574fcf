"""Two worker processes sharing Redis (RedisHuey) and PostgreSQL on loopback: 50 uploads, none lost,
none run twice; a worker SIGKILLed in the middle of a job loses nothing (the job is re-run once).

Needs GONGKAI_TEST_POSTGRES_URL and GONGKAI_TEST_REDIS_URL (bash scripts/services.sh prints them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests.conftest import ROOT
from tests.conftest_service import PG_ENV, REDIS_ENV, SEEDS, postgres_schema

scanned_pdf = fx.scanned_pdf  # the shared fixture, bound to this module's name so pytest finds it
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV)),
        reason=f"{PG_ENV} and {REDIS_ENV} are not set (bash scripts/services.sh starts both and prints them)",
    ),
]
N = 50


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gongkai.cli", "worker", "--workers", "1"],
        env=env,
        cwd=ROOT,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def test_two_workers_50_uploads_and_a_sigkill(tmp_path: Path, scanned_pdf):
    import redis
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from service.api import create_app
    from service.auth import create_token
    from service.core import Service
    from service.db import Job, Result
    from service.settings import Settings

    pg, rurl = postgres_schema(os.environ[PG_ENV], "gk_workers"), os.environ[REDIS_ENV]
    redis.Redis.from_url(rurl).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "REDIS_URL": rurl,
        "GONGKAI_DATA_DIR": str(tmp_path / "data"),  # the file store: one folder both workers see
        "GONGKAI_LEASE_SECONDS": "6",
        "GONGKAI_SWEEP_SECONDS": "1",
        "GONGKAI_OCR_PAGE_TIMEOUT_S": "900",
        "PYTHONUNBUFFERED": "1",
    }
    settings = Settings(data_dir=tmp_path / "data", database_url=pg, redis_url=rurl, lease_seconds=6, sweep_seconds=1)
    svc = Service(settings)
    with svc.db.session() as s:
        token = create_token(s, "load", "submitter")[1]
    h = {"Authorization": f"Bearer {token}"}
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    workers = [start_worker(env, logs[0]), start_worker(env, logs[1])]
    try:
        with TestClient(create_app(svc)) as c:

            def wait_all(timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while True:
                    with svc.db.session() as s:
                        pending = s.scalar(
                            select(func.count()).select_from(Job).where(Job.status.in_(["queued", "running"]))
                        )
                    if not pending:
                        return
                    assert time.monotonic() < deadline, f"{pending} jobs still pending"
                    assert all(w.poll() is None for w in workers), "a worker died"
                    time.sleep(0.3)

            for i, log in enumerate(logs[:2]):  # both workers listening before the first upload
                deadline = time.monotonic() + 60
                while "gongkai: worker on queue" not in log.read_text():
                    assert time.monotonic() < deadline and workers[i].poll() is None, log.read_text()
                    time.sleep(0.2)
            # 50 uploads, shared by the two workers
            ids = []
            for i in range(N):
                text = SEEDS[i % len(SEEDS)].read_text(encoding="utf-8") + f"\n\n（附：上传批次编号 {i}）\n"
                r = c.post("/v1/documents", headers=h, files=[("files", (f"r{i}.txt", text.encode(), "text/plain"))])
                assert r.status_code == 202 and not r.json()["items"][0]["duplicate"]
                ids.append(r.json()["items"][0]["document_id"])
            assert len(set(ids)) == N
            wait_all(900)
            # huey logs "executed in" after the task has committed its job, so the last lines may
            # trail the database by a moment: read the logs until the count settles
            deadline = time.monotonic() + 15
            shares = [log.read_text().count("executed in") for log in logs[:2]]
            while sum(shares) < N and time.monotonic() < deadline:
                time.sleep(0.2)
                shares = [log.read_text().count("executed in") for log in logs[:2]]
            assert sum(shares) == N and all(shares), f"both workers take a share: {shares}"

            # a long job (a scanned PDF, OCR page by page) is SIGKILLed in the middle, once a page is done
            pdf, _ = scanned_pdf
            slow = c.post("/v1/documents", headers=h, files=[("files", (pdf.name, pdf.read_bytes(), "application/pdf"))])
            slow_job = slow.json()["items"][0]["job_id"]
            deadline = time.monotonic() + 600
            while True:
                with svc.db.session() as s:
                    job = s.get(Job, slow_job)
                    owner, done = job.lease_owner, job.pages_done
                if job.status == "running" and owner and done >= 1:
                    break
                assert time.monotonic() < deadline, f"the scanned PDF job never got going: {job.status}"
                time.sleep(0.1)
            victim = next(w for w in workers if w.pid == int(owner.split(":")[1]))
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            workers.remove(victim)
            workers.append(start_worker(env, logs[2]))  # a replacement joins; the survivor may take the job first
            wait_all(900)
        with svc.db.session() as s:
            jobs = s.scalars(select(Job).order_by(Job.id)).all()
            results = s.scalars(select(Result)).all()
            assert len(jobs) == N + 1 and all(j.status == "done" for j in jobs), [(j.id, j.status, j.error_message) for j in jobs if j.status != "done"]
            assert len(results) == N + 1 and len({r.job_id for r in results}) == N + 1
            assert len({r.document_id for r in results}) == N + 1
            killed = next(j for j in jobs if j.id == slow_job)
            assert killed.attempts == 2 and killed.requeues == 1, "re-run exactly once after the kill"
            assert all(j.attempts == 1 for j in jobs if j.id != slow_job), "no job ran twice"
        assert sum(log.read_text().count("re-queued") for log in logs) == 1
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        svc.close()
