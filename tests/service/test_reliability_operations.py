"""Several machines as an operator runs them (issue 19): an API process (`gongkai serve --no-worker`)
and two `gongkai worker` processes on PostgreSQL and Redis, a shared store. Shows, on the real
processes:

- every process says its wiring; `tokens create` says which database it wrote to;
- a worker pointed at another store refuses to start;
- `/v1/metrics` and `gongkai status` list the live workers; jobs name the worker that ran them;
- a document whose original the workers could not see fails `original_missing` after its retries,
  and is retried through the API and succeeds once the store is back;
- `/v1/health` is 503 while Redis is stopped, and the workers log one line per backoff step, no
  traceback; it is ok again once Redis is back;
- a worker SIGKILLed in the middle of a scan: the re-run resumes from the pages already stored.

Needs GONGKAI_TEST_POSTGRES_URL and the `redis-server` program (bash scripts/services.sh)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import conftest_service as fx
from tests import reliability_support as rs
from tests.conftest import ROOT
from tests.conftest_service import PG_ENV, SEEDS, postgres_schema
from tests.reliability_support import Proc, ServiceProcess, WorkerProcess, record, service_env

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary
scanned_pdf = fx.scanned_pdf
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set (bash scripts/services.sh)"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server"),
]


def cli_json(env: dict, *args: str) -> tuple[dict, str]:
    r = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return json.loads(r.stdout), r.stderr


def wait_until(what: str, check, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {timeout}s"
        time.sleep(every)


def test_several_machines_as_an_operator_runs_them(tmp_path: Path, scanned_pdf):
    from sqlalchemy import func, select

    from service.core import Service
    from service.db import Job, PageCheckpoint
    from service.settings import Settings
    from tests.service.test_reliability_faults import RedisServer

    redis = RedisServer(tmp_path / "redis")
    pg = postgres_schema(os.environ[PG_ENV], "gk_operations")
    store = tmp_path / "shared-store"
    wiring = {"DATABASE_URL": pg, "REDIS_URL": redis.url, "GONGKAI_STORE_DIR": str(store)}
    fast = {"lease_seconds": 6, "sweep_seconds": 1, "worker_heartbeat_s": 1, "max_job_retries": 1,
            "retry_backoff_max_s": 1, "requeue_queued_after_s": 5, "queue_backoff_max_s": 4}  # fmt: skip
    env = service_env(tmp_path / "data", **wiring, **fast)
    procs: list[Proc] = []
    svc = None
    try:
        made, said = cli_json(env, "tokens", "create", "--role", "admin", "--name", "ops", "--json")
        assert made["database"].startswith("postgresql+psycopg://gongkai:***@") and "created in database" in said
        h = {"Authorization": f"Bearer {made['token']}"}
        api = ServiceProcess(env, tmp_path / "api.log", no_worker=True)
        procs.append(api)
        api.ready()
        assert f"gongkai serve: database {made['database']}; queue redis {redis.url}" in api.text()
        assert f"store {store}; models " in api.text()
        svc = Service(Settings(database_url=pg, redis_url=redis.url, store_dir=store, **fast))

        # a document uploaded while the workers' machines cannot see the store: original_missing
        text = SEEDS[0].read_text(encoding="utf-8") + "\n\n（附：运维测试 1）\n"
        up = httpx.post(api.url + "/v1/documents", headers=h, files=[("files", ("a.txt", text.encode(), "text/plain"))])
        assert up.status_code == 202, up.text
        doc_id, first_job = up.json()["items"][0]["document_id"], up.json()["items"][0]["job_id"]
        original = svc.store.path(up.json()["items"][0]["sha256"])
        hidden = original.with_name(original.name + ".away")
        original.rename(hidden)
        workers = [WorkerProcess(env, tmp_path / f"worker{i}.log") for i in (1, 2)]
        procs.extend(workers)
        for w in workers:
            w.ready()
            assert f"gongkai worker: database {made['database']}" in w.text()

        # a worker given another store refuses to start, and says why
        t0 = time.monotonic()
        stray = Proc(["worker"], {**env, "GONGKAI_STORE_DIR": str(tmp_path / "not-the-store")}, tmp_path / "stray.log")
        procs.append(stray)
        stray.proc.wait(120)
        refused = stray.proc.returncode == 2 and "refusing to start (store_mismatch)" in stray.text()
        record("store mismatch: a worker on another store refuses to start", 1, int(refused), int(not refused),
               exit_status=stray.proc.returncode, seconds=round(time.monotonic() - t0, 1))  # fmt: skip
        assert refused, stray.text()[-2000:]
        assert not (tmp_path / "not-the-store").exists()

        # live workers: /v1/metrics, /v1/workers, gongkai status
        pids = {w.pid for w in workers}
        def metrics() -> dict | None:
            got = httpx.get(api.url + "/v1/metrics", headers=h).json()
            return got if {w["pid"] for w in got["workers"]} == pids else None

        m = wait_until("both workers in /v1/metrics", metrics, 30)
        assert {w["kind"] for w in m["workers"]} == {"worker"} and m["queue"]["reachable"]
        status, _ = cli_json(env, "status", "--json")
        assert {w["pid"] for w in status["workers"]} == pids and status["health"]["status"] == "ok"

        # the failed document: retried with backoff, failed for good, then retried through the API
        def settled(doc_id: int, states: tuple[str, ...] = ("queued", "processing")):
            def check() -> dict | None:
                got = httpx.get(f"{api.url}/v1/documents/{doc_id}", headers=h).json()
                return got if got["status"] not in states else None

            return check

        doc = wait_until("original_missing", settled(doc_id, ("queued", "processing", "review", "verified")), 120)
        assert doc["error_code"] == "original_missing" and doc["job"]["retries"] == 1, doc
        hidden.rename(original)
        t0 = time.monotonic()
        r = httpx.post(f"{api.url}/v1/documents/{doc_id}/retry", headers=h)
        assert r.status_code == 202, r.text
        doc = wait_until("the retry", settled(doc_id), 120)
        retried = doc["status"] in ("review", "verified") and doc["job"]["id"] == r.json()["job_id"] != first_job
        record("failed document (original_missing) retried through the API", 1, int(retried), int(not retried),
               status=doc["status"], seconds=round(time.monotonic() - t0, 1))  # fmt: skip
        assert retried, doc
        assert int(doc["job"]["worker"].split(":")[1]) in pids, "the job names the worker that ran it"

        # Redis stopped: health says so; each worker logs a line per backoff step, no traceback
        marks = [len(w.text()) for w in workers]
        redis.crash()
        r = httpx.get(api.url + "/v1/health")
        assert r.status_code == 503 and r.json()["status"] == "degraded" and not r.json()["checks"]["queue"]["ok"]
        assert r.json()["checks"]["database"]["ok"] and r.json()["checks"]["store"]["ok"]
        time.sleep(8)
        outage = [w.text()[mark:] for w, mark in zip(workers, marks, strict=True)]
        redis.start()
        for log in outage:
            steps = log.count("queue unreachable")
            assert 1 <= steps <= 5 and "Traceback" not in log, log[-3000:]
        wait_until("health ok again", lambda: httpx.get(api.url + "/v1/health").status_code == 200, 30)
        for w in workers:
            wait_until("a worker back on the queue", lambda w=w: "queue reachable again" in w.text(), 30)

        # a scan, its worker SIGKILLed once pages are stored: the re-run resumes from them
        pdf, _ = scanned_pdf
        up = httpx.post(api.url + "/v1/documents", headers=h, files=[("files", (pdf.name, pdf.read_bytes(), "application/pdf"))])
        scan_job, scan_doc = up.json()["items"][0]["job_id"], up.json()["items"][0]["document_id"]

        def stored() -> tuple[int, str | None] | None:
            with svc.db.session() as s:
                n = s.scalar(select(func.count()).select_from(PageCheckpoint).where(PageCheckpoint.job_id == scan_job))
                job = s.get(Job, scan_job)
                return (n, job.lease_owner) if n >= 2 and job.status == "running" else None

        kept, owner = wait_until("two stored pages of the scan", stored, 900)
        victim = next(w for w in workers if w.pid == int(owner.split(":")[1]))
        victim.kill()
        t0 = time.monotonic()
        replacement = WorkerProcess(env, tmp_path / "worker3.log")
        procs.append(replacement)
        doc = wait_until("the scan's re-run", settled(scan_doc), 900)
        logs = "".join(w.text() for w in [*workers, replacement] if w is not victim)
        resumed = re.search(rf"job {scan_job}: resumes with (\d+) pages", logs)
        reused = re.search(rf"job {scan_job}: (\d+) pages came from checkpoints", logs)
        with svc.db.session() as s:
            job = s.get(Job, scan_job)
            left = s.scalar(select(func.count()).select_from(PageCheckpoint).where(PageCheckpoint.job_id == scan_job))
        ok = (
            doc["status"] in ("review", "verified")
            and job.attempts == 2
            and resumed is not None
            and int(resumed.group(1)) >= kept
            and reused is not None
            and left == 0
        )
        record("worker killed mid-scan: the re-run resumes from its stored pages", 1, int(ok), int(not ok),
               pages=doc["pages"], stored_at_kill=kept, reused=int(reused.group(1)) if reused else 0,
               rerun_seconds=round(time.monotonic() - t0, 1))  # fmt: skip
        assert ok, (doc, job.attempts, resumed, reused, left, logs[-3000:])
    finally:
        for p in procs:
            p.stop()
        if svc is not None:
            svc.close()
        redis.stop()
