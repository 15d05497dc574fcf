"""Faults with real worker processes (`gongkai worker`): SIGKILL at random stages (50 randomised runs
per queue backend), the queue backend restarted with 50 jobs queued, and a storage error at the final
commit. Every job ends done exactly once; nothing is written in part; `gongkai doctor` finds the
store consistent (no orphan file, every sha256 verified)."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import reliability_support as rs
from tests.conftest import ROOT
from tests.reliability_support import (
    WorkerProcess,
    activate_chaos,
    free_port,
    record,
    report_text,
    rng,
    service_env,
    tokens,
    wait_jobs,
    wait_no_children,
)

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

HAVE_REDIS = shutil.which("redis-server") is not None
BACKENDS = ["sqlite", pytest.param("redis", marks=pytest.mark.skipif(not HAVE_REDIS, reason="no redis-server"))]
FAST = {"lease_seconds": 1.0, "sweep_seconds": 0.25, "requeue_queued_after_s": 2.0}


class RedisServer:
    """A private redis-server (no persistence: a restart loses every queued message)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def crash(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Cluster:
    """The test's own Service (uploads through its app, reads the database) and worker processes."""

    def __init__(self, tmp: Path, backend: str, **settings) -> None:
        from fastapi.testclient import TestClient

        from service.api import create_app
        from service.core import Service
        from service.settings import Settings

        self.tmp, self.data = tmp, tmp / "data"
        self.redis = RedisServer(tmp) if backend == "redis" else None
        extra = {"redis_url": self.redis.url} if self.redis else {}
        self.settings = {**FAST, **settings, **extra}
        self.svc = Service(Settings(data_dir=self.data, **self.settings))
        activate_chaos(self.svc)
        self.token = tokens(self.svc, "submitter")["submitter"]
        self.client = TestClient(create_app(self.svc, embedded_worker=False))
        self.env = service_env(self.data, **self.settings)
        self.workers: list[WorkerProcess] = []
        self.started = 0

    def start_worker(self, wait: bool = True) -> WorkerProcess:
        self.started += 1
        w = WorkerProcess(self.env, self.tmp / f"worker{self.started}.log")
        self.workers.append(w)
        return w.ready() if wait else w

    def upload(self, tag: str, directives: str = "") -> dict:
        r = self.client.post(
            "/v1/documents",
            headers={"Authorization": f"Bearer {self.token}"},
            files=[("files", (f"{tag}.txt", report_text(tag, directives), "text/plain"))],
        )
        assert r.status_code == 202, r.text
        return r.json()["items"][0]

    def alive(self) -> None:
        assert any(w.alive() for w in self.workers), "no worker left"

    def close(self) -> list[int]:
        for w in self.workers:
            w.stop()
        self.client.close()
        self.svc.close()
        leaked = wait_no_children(self.data)
        if self.redis:
            self.redis.stop()
        return leaked


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator:
    made: list[Cluster] = []

    def make(backend: str, **settings) -> Cluster:
        c = Cluster(tmp_path / backend, backend, **settings)
        made.append(c)
        return c

    yield make
    for c in made:
        assert not c.close(), "extraction children outlived their killed workers"


def exactly_once(svc) -> dict:
    """Every job done with one result, every document one result: the figures, and `lost`."""
    from sqlalchemy import func, select

    from service.db import Document, Job, Result

    with svc.db.session() as s:
        jobs = s.scalars(select(Job).order_by(Job.id)).all()
        per_job = dict(s.execute(select(Result.job_id, func.count()).group_by(Result.job_id)).all())
        per_doc = dict(s.execute(select(Result.document_id, func.count()).group_by(Result.document_id)).all())
        docs = s.scalars(select(Document)).all()
    not_done = [(j.id, j.status, j.error_code) for j in jobs if j.status != "done"]
    twice = [j for j, n in per_job.items() if n != 1] + [d for d, n in per_doc.items() if n != 1]
    missing = [j.id for j in jobs if j.id not in per_job] + [d.id for d in docs if d.id not in per_doc]
    return {
        "jobs": len(jobs),
        "not_done": not_done,
        "written_twice": twice,
        "without_result": missing,
        "lost": len({x[0] for x in not_done} | set(missing)) + len(twice),
        "attempts": collections.Counter(j.attempts for j in jobs),
        "requeues": sum(j.requeues for j in jobs),
    }


STAGES = ["queued", "claimed", "extracting", "done"]


def job_stage(svc, job_id: int) -> tuple[str, int | None]:
    """(stage, pid of the worker holding it): queued, claimed (running, no page yet), extracting (the
    child is past its first page), done (committed; the lease owner is still recorded)."""
    from service.db import Job

    with svc.db.session() as s:
        job = s.get(Job, job_id)
        status, owner, pages = job.status, job.lease_owner, job.pages_done
    pid = int(owner.split(":")[1]) if owner else None
    if status == "running":
        return ("extracting" if pages else "claimed"), pid
    return status, pid


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_a_worker_at_a_random_stage_50_times(cluster_factory, backend: str):
    """50 runs: a job is uploaded, a stage is drawn (queued, claimed, extracting, done), and when the
    job reaches it (or a moment after) the worker holding it is SIGKILLed (a random one if none does);
    a replacement starts. In the end every job is done, each written exactly once."""
    runs = 50
    c = cluster_factory(backend)
    r = rng()
    for _ in range(3):
        c.start_worker(wait=False)
    for w in c.workers:
        w.ready()
    stages: collections.Counter = collections.Counter()
    t_start = time.monotonic()
    for run in range(runs):
        deadline = time.monotonic() + 60
        while not any(w.alive() and "worker on queue" in w.text() for w in c.workers):
            assert time.monotonic() < deadline, "workers do not come back"
            time.sleep(0.05)
        target = r.choice(STAGES)
        item = c.upload(f"{backend}-kill-{run}", f"@@sleep={r.uniform(0.2, 0.6):.2f}")
        deadline = time.monotonic() + 8
        while STAGES.index(job_stage(c.svc, item["job_id"])[0]) < STAGES.index(target):
            if time.monotonic() > deadline:
                break  # no live worker took it in time: kill one all the same
            time.sleep(0.01)
        if target == "extracting":
            time.sleep(r.uniform(0.0, 0.2))
        stage, pid = job_stage(c.svc, item["job_id"])
        live = [w for w in c.workers if w.alive()]
        victim = next((w for w in live if w.pid == pid), None) or r.choice(live)
        stages[stage] += 1
        victim.kill()
        c.workers.remove(victim)
        c.start_worker(wait=False)  # a replacement joins (while the others go on)
    kill_seconds = time.monotonic() - t_start
    wait_jobs(c.svc, timeout=300, alive=c.alive)
    total_seconds = time.monotonic() - t_start
    figures = exactly_once(c.svc)
    print(f"{backend}: {runs} SIGKILLs by stage {dict(stages)}; {kill_seconds:.0f}s killing, {total_seconds:.0f}s in all")
    print(f"attempts per job {dict(figures['attempts'])}, requeues {figures['requeues']}")
    assert figures["jobs"] == runs
    assert not figures["not_done"] and not figures["written_twice"] and not figures["without_result"], figures
    record(
        f"SIGKILL a worker at a random stage ({backend})",
        tried=runs,
        survived=runs - figures["lost"],
        lost=figures["lost"],
        stages=dict(stages),
        requeues=figures["requeues"],
        seconds=round(total_seconds, 1),
    )


def test_a_worker_stopped_mid_job_leaves_it_to_run_again(cluster_factory):
    """SIGTERM (a deploy restarting the worker) while a job extracts: the job is not failed, its
    extraction child stops with the worker, and another worker runs it once its lease runs out."""
    from service.db import Job

    c = cluster_factory("sqlite")
    first = c.start_worker()
    item = c.upload("term", "@@sleep=3")
    deadline = time.monotonic() + 60
    while job_stage(c.svc, item["job_id"])[0] != "extracting":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job_stage(c.svc, item["job_id"])[1] == first.pid
    first.stop()
    assert first.proc.returncode is not None
    with c.svc.db.session() as s:
        job = s.get(Job, item["job_id"])
        assert job.status == "running" and job.error_code is None, (job.status, job.error_code)
    c.start_worker()
    wait_jobs(c.svc, timeout=60, alive=c.alive)
    figures = exactly_once(c.svc)
    assert figures["lost"] == 0 and figures["attempts"] == {2: 1}, figures
    record("worker stopped (SIGTERM) mid-job", tried=1, survived=1, lost=figures["lost"])


@pytest.mark.slow
def test_sqlite_queue_50_jobs_survive_the_workers_restarting(cluster_factory):
    """The SQLite queue is a file: 50 jobs queued with no worker; a worker takes some and is killed;
    the queue file is reopened by fresh workers; all 50 complete, once each."""
    c = cluster_factory("sqlite")
    items = [c.upload(f"sq-{i}", "@@sleep=0.05") for i in range(50)]
    assert c.svc.pending_messages() == 50
    w = c.start_worker()
    from sqlalchemy import func, select

    from service.db import Job

    deadline = time.monotonic() + 120
    while True:
        with c.svc.db.session() as s:
            done = s.scalar(select(func.count()).select_from(Job).where(Job.status == "done"))
        if done >= 10:
            break
        assert time.monotonic() < deadline and w.alive()
        time.sleep(0.05)
    w.kill()
    c.workers.remove(w)
    t0 = time.monotonic()
    c.start_worker()
    c.start_worker()
    wait_jobs(c.svc, timeout=300, alive=c.alive)
    figures = exactly_once(c.svc)
    assert figures["jobs"] == len(items) and figures["lost"] == 0, figures
    print(f"killed after {done} done; the rest in {time.monotonic() - t0:.1f}s; requeues {figures['requeues']}")
    record(
        "queue restarted with 50 jobs (sqlite)",
        tried=50,
        survived=50 - figures["lost"],
        lost=figures["lost"],
        requeues=figures["requeues"],
        seconds_after_restart=round(time.monotonic() - t0, 1),
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_REDIS, reason="no redis-server")
def test_redis_restarted_with_50_jobs_queued(cluster_factory):
    """Redis without persistence is restarted while 50 jobs wait in it (and 5 uploads arrive while it
    is down): the messages are gone, the database still has the jobs; the workers reconnect and the
    sweeper sends the lost messages again. All 55 complete, once each."""
    c = cluster_factory("redis")
    w = c.start_worker()
    items = [c.upload(f"rd-{i}", "@@sleep=0.1") for i in range(50)]
    from sqlalchemy import func, select

    from service.db import Job

    deadline = time.monotonic() + 120
    while True:
        with c.svc.db.session() as s:
            done = s.scalar(select(func.count()).select_from(Job).where(Job.status == "done"))
        if done >= 5:
            break
        assert time.monotonic() < deadline and w.alive()
        time.sleep(0.05)
    assert c.redis is not None
    c.redis.crash()
    lost_messages = 50 - done
    items += [c.upload(f"rd-down-{i}") for i in range(5)]  # accepted while the queue is down: 202 all the same
    time.sleep(1.0)
    c.redis.start()  # empty
    t0 = time.monotonic()
    wait_jobs(c.svc, timeout=300, alive=c.alive)
    figures = exactly_once(c.svc)
    assert w.alive(), "the worker survived the queue going away"
    assert figures["jobs"] == len(items) == 55 and figures["lost"] == 0, figures
    print(f"redis restarted with ~{lost_messages} jobs queued; all done {time.monotonic() - t0:.1f}s later; "
          f"requeues {figures['requeues']}")  # fmt: skip
    record(
        "queue restarted with 50 jobs (redis)",
        tried=55,
        survived=55 - figures["lost"],
        lost=figures["lost"],
        lost_messages=lost_messages + 5,
        requeues=figures["requeues"],
        seconds_after_restart=round(time.monotonic() - t0, 1),
    )


# --------------------------------------------------------------------------------------------
# Storage errors at the final commit; gongkai doctor


def doctor(data: Path, *args: str) -> tuple[int, dict]:
    env = service_env(data)
    proc = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "doctor", "--json", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return proc.returncode, json.loads(proc.stdout)


def fail_commits(svc, times: int, inserting: type):
    """Make the next `times` commits of a transaction that inserts a `inserting` row fail, as a full
    disk or a lost connection would at COMMIT."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    left = {"n": times}

    def after_flush(session, _ctx) -> None:
        if any(isinstance(o, inserting) for o in session.new):
            session.info["inserting"] = True

    def before_commit(session) -> None:
        if left["n"] > 0 and session.info.pop("inserting", False):
            left["n"] -= 1
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))

    event.listen(svc.db.sessions, "after_flush", after_flush)
    event.listen(svc.db.sessions, "before_commit", before_commit)

    def undo() -> None:
        event.remove(svc.db.sessions, "after_flush", after_flush)
        event.remove(svc.db.sessions, "before_commit", before_commit)

    return undo


def test_storage_error_at_the_final_commit(tmp_path: Path):
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from service.api import create_app
    from service.core import Service
    from service.db import Document, Job, Result
    from service.jobs import run_job
    from service.settings import Settings

    data = tmp_path / "data"
    svc = Service(Settings(data_dir=data, isolation="inline", max_job_retries=2))
    h = {"Authorization": f"Bearer {tokens(svc, 'submitter')['submitter']}"}
    try:
        with TestClient(create_app(svc, embedded_worker=False)) as c:
            items = [
                c.post("/v1/documents", headers=h, files=[("files", (f"{i}.txt", report_text(f"sf{i}"), "text/plain"))]).json()["items"][0]
                for i in range(2)
            ]

            def state(item) -> tuple:
                with svc.db.session() as s:
                    job, doc = s.get(Job, item["job_id"]), s.get(Document, item["document_id"])
                    n = s.scalar(select(func.count()).select_from(Result).where(Result.job_id == job.id))
                    return job.status, job.retries, job.error_code, doc.status, doc.result_id, n

            # 1. the commit of the result fails once: nothing written, the job back in the queue; then done
            undo = fail_commits(svc, 1, Result)
            run_job(svc, items[0]["job_id"])
            undo()
            assert state(items[0]) == ("queued", 1, "storage_error", "queued", None, 0)
            assert svc.store.get(items[0]["sha256"])  # the original is kept, intact
            code, rep = doctor(data)
            assert code == 0 and rep["consistency"]["ok"], rep
            run_job(svc, items[0]["job_id"])
            assert state(items[0])[0] == "done" and state(items[0])[5] == 1

            # 2. it keeps failing: retried max_job_retries times, then failed with storage_error, still nothing written
            undo = fail_commits(svc, 10, Result)
            for _ in range(3):
                run_job(svc, items[1]["job_id"])
            undo()
            st = state(items[1])
            assert st[0] == "failed" and st[2] == "storage_error" and st[4] is None and st[5] == 0, st

            # 3. the file store fails at upload (disk full): refused with storage_error, nothing kept
            real_put = svc.store.put_file

            def full_disk(tmp, digest):
                raise OSError(28, "No space left on device")

            svc.store.put_file = full_disk  # type: ignore[method-assign]
            r = c.post("/v1/documents", headers=h, files=[("files", ("d.txt", report_text("disk"), "text/plain"))])
            svc.store.put_file = real_put  # type: ignore[method-assign]
            assert r.status_code == 507 and r.json()["error"]["code"] == "storage_error", r.text
            # 4. the database fails at the upload's commit, after its file was stored: the file is removed
            undo = fail_commits(svc, 1, Document)
            r = c.post("/v1/documents", headers=h, files=[("files", ("e.txt", report_text("db"), "text/plain"))])
            undo()
            assert r.status_code == 507 and r.json()["error"]["code"] == "storage_error", r.text
            with svc.db.session() as s:
                assert s.scalar(select(func.count()).select_from(Document)) == 2
        code, rep = doctor(data)
        cons = rep["consistency"]
        assert code == 0 and cons["ok"] and not cons["orphans"] and not cons["temporaries"], rep
        assert cons["checked"] == cons["documents"] == 2 and not cons["corrupt"] and not cons["missing"]
        print(f"doctor: {cons['files']} files, {cons['checked']} sha256 verified, no orphan, no partial row")

        # the doctor sees damage: an orphan file, a flipped byte in an original; --fix removes the orphan only
        orphan = svc.store.put(b"bytes no document points to")
        victim = svc.store.path(items[0]["sha256"])
        damaged = bytearray(victim.read_bytes())
        damaged[10] ^= 0x01
        victim.write_bytes(bytes(damaged))
        code, rep = doctor(data, "--grace-seconds", "0")
        cons = rep["consistency"]
        assert code == 1 and cons["orphans"] == [str(svc.store.path(orphan))]
        assert [x["document_id"] for x in cons["corrupt"]] == [items[0]["document_id"]]
        code, rep = doctor(data, "--grace-seconds", "0", "--fix")
        assert rep["consistency"]["removed"] == [str(svc.store.path(orphan))] and code == 1  # the corrupt one stays
        record("storage error at the final commit", tried=4, survived=4, lost=0, doctor_checked=2)
    finally:
        svc.close()


def test_a_queue_that_refuses_messages_loses_nothing(tmp_path: Path):
    """The queue is down when an upload commits: the upload is still 202 (its rows are committed) and
    the sweeper sends the job's message once the queue is back."""
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.core import Service
    from service.db import Job
    from service.jobs import register_tasks, sweep
    from service.settings import Settings

    svc = register_tasks(Service(Settings(data_dir=tmp_path / "d", requeue_queued_after_s=0.01)))
    h = {"Authorization": f"Bearer {tokens(svc, 'submitter')['submitter']}"}
    try:
        real = svc.run_job_task

        def down(*a, **k):
            raise ConnectionError("queue unreachable")

        svc.run_job_task = down  # type: ignore[assignment]
        with TestClient(create_app(svc, embedded_worker=False)) as c:
            r = c.post("/v1/documents", headers=h, files=[("files", ("a.txt", report_text("down"), "text/plain"))])
        assert r.status_code == 202
        assert svc.pending_messages() == 0
        svc.run_job_task = real  # type: ignore[assignment]
        time.sleep(0.05)
        assert sweep(svc) == [r.json()["items"][0]["job_id"]]
        assert svc.pending_messages() == 1
        assert sweep(svc) == []  # the message is there now: not sent twice
        with svc.db.session() as s:
            assert s.get(Job, r.json()["items"][0]["job_id"]).status == "queued"
    finally:
        svc.close()


def test_doctor_without_problems_exits_0(tmp_path: Path):
    from service.core import Service
    from service.settings import Settings

    Service(Settings(data_dir=tmp_path / "d")).close()
    code, rep = doctor(tmp_path / "d")
    assert code == 0 and rep["ok"] and rep["consistency"]["documents"] == 0
