"""Extraction runs in a supervised child process (service/sandbox.py): a crash, a hang, a memory
blow-up or a defect in it fails the job with a typed code, the worker goes on, and the next valid
job succeeds. The child is reused across jobs and replaced after a death; progress crosses the
process boundary; a job whose lease is lost stops its child and writes nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests import reliability_support as rs
from tests.conftest_service import SCAN_SEED, Api, make_api
from tests.reliability_support import activate_chaos, record, report_text

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

db_url = fx.db_url


@pytest.fixture
def sandboxed(tmp_path: Path):
    """Jobs run at upload time (immediate queue) but in a real extraction child, with small limits."""
    gen = make_api(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'g.db'}",
        immediate=True,
        isolation="process",
        max_document_seconds=2,  # the child is killed at 2 × 1.1 + 2 s
        max_worker_memory_mb=600,
    )
    api = next(gen)
    activate_chaos(api.svc)
    yield api
    gen.close()


def run(api: Api, tag: str, directives: str = "") -> tuple[dict, float]:
    t0 = time.monotonic()
    r = api.post("/v1/documents", who="submitter", files=[("files", (f"{tag}.txt", report_text(tag, directives), "text/plain"))])
    assert r.status_code == 202, r.text
    doc = api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()
    return doc, time.monotonic() - t0


def child_pid(api: Api) -> int | None:
    pids = api.svc.extractors.pids()
    return pids[0] if pids else None


def test_child_failures_are_typed_and_the_worker_goes_on(sandboxed: Api):
    api = sandboxed
    cases = [
        ("ok-1", "", "done", None),
        ("ok-2", "", "done", None),
        ("segfault", "@@crash", "failed", "worker_crashed"),
        ("ok-3", "", "done", None),
        ("hang", "@@sleep=60", "failed", "time_limit_exceeded"),
        ("ok-4", "", "done", None),
        ("memory-grows", "@@hog=1200", "failed", "memory_limit_exceeded"),
        ("ok-5", "", "done", None),
        ("one-huge-allocation", "@@bigalloc=4000", "failed", "memory_limit_exceeded"),
        ("ok-6", "", "done", None),
        ("exits", "@@exit", "failed", "worker_crashed"),
        ("defect", "@@raise", "failed", "internal_error"),
        ("ok-7", "", "done", None),
    ]
    rows, pids = [], []
    survived = 0
    for tag, directives, status, code in cases:
        doc, seconds = run(api, tag, directives)
        job = doc["job"]
        pids.append(child_pid(api))
        rows.append((tag, job["status"], job["error_code"], round(seconds, 2), (job["peak_memory_bytes"] or 0) >> 20))
        assert job["status"] == status and job["error_code"] == code, (tag, job)
        if status == "failed":
            assert doc["status"] == "failed" and doc["error_code"] == code  # the code is on the document
        survived += 1
    for row in rows:
        print("{:20s} {:7s} {:22s} {:6.2f}s peak {:4d} MiB".format(*(str(x) if x is None else x for x in row)))
    # reused across good jobs; replaced after every death; a defect (Python exception) keeps it
    assert pids[0] == pids[1]
    assert pids[2] is None or pids[2] != pids[1]
    assert pids[3] != pids[1] and pids[11] == pids[12]
    timings = {r[0]: r[3] for r in rows}
    assert 4.2 <= timings["hang"] < 4.2 + 3, "the time limit stops the child promptly"
    assert timings["memory-grows"] < 10
    peak = max(r[4] for r in rows)
    assert peak <= 600 + 150, f"the watchdog stopped the child near its limit (peak {peak} MiB)"
    starts = sum(p["starts"] for p in api.svc.extractors.stats()["processes"])
    record(
        "extraction child: crash, hang, memory, defect",
        tried=len(cases),
        survived=survived,
        lost=0,
        child_starts=starts,
        hang_s=timings["hang"],
        peak_child_mib=peak,
    )


def test_progress_crosses_the_process_boundary(tmp_path: Path, monkeypatch):
    """A 4-page digital PDF: the child reports each page; the worker writes pages_done as they come."""
    from gongkai_datasets.generate import render_labeled
    from service import sandbox

    pdf = render_labeled(SCAN_SEED, tmp_path / "pdf", kind="digital_pdf", seed=3)
    seen: list[int] = []
    real_call = sandbox.Sandbox.call

    def spy(self, op, request, *, on_message=None, **kw):
        def wrapped(msg):
            seen.append(msg[1])
            on_message(msg)

        return real_call(self, op, request, on_message=wrapped if on_message else None, **kw)

    monkeypatch.setattr(sandbox.Sandbox, "call", spy)
    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True, isolation="process")
    api = next(gen)
    try:
        r = api.upload(pdf)
        assert r.status_code == 202, r.text
        doc = api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()
        assert doc["job"]["status"] == "done", doc
        assert doc["job"]["pages_done"] == doc["job"]["pages_total"] == doc["pages"] >= 2
        assert sorted(set(seen)) == list(range(1, doc["pages"] + 1)), seen
        print(f"pages reported by the child: {seen}; peak {doc['job']['peak_memory_bytes'] >> 20} MiB")
    finally:
        gen.close()


def test_a_job_that_loses_its_lease_stops_its_child(tmp_path: Path):
    from sqlalchemy import func, select, update

    from service.db import Job, Result

    gen = make_api(
        tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True, isolation="process", lease_seconds=0.6
    )
    api = next(gen)
    try:
        activate_chaos(api.svc)
        out: dict = {}
        t = threading.Thread(target=lambda: out.update(doc=run(api, "slow", "@@sleep=30")))
        t0 = time.monotonic()
        t.start()
        deadline = time.monotonic() + 30
        while True:  # wait until the job runs, then take its claim away (another worker took it over)
            with api.svc.db.session() as s:
                job = s.scalar(select(Job).order_by(Job.id.desc()).limit(1))
                if job is not None and job.status == "running":
                    s.execute(update(Job).where(Job.id == job.id).values(attempts=Job.attempts + 1))
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t.join(30)
        seconds = time.monotonic() - t0
        assert not t.is_alive() and seconds < 10, f"the child was stopped when the lease was lost ({seconds:.1f}s)"
        with api.svc.db.session() as s:
            assert s.scalar(select(func.count()).select_from(Result)) == 0  # the stale run wrote nothing
            assert s.get(Job, job.id).status == "running"  # left to its new owner / the sweeper
        print(f"stale run stopped after {seconds:.2f}s")
    finally:
        gen.close()


def test_freed_heap_goes_back_to_the_os_between_jobs():
    """glibc keeps freed heap for reuse; a child holding a scan's 700 MiB of it went over its limit
    when the next job loaded the layout model. `trim_heap` (called by the child after every job)
    gives whole free pages back: here a fragmented 270 MiB of freed blocks."""
    import subprocess
    import sys

    code = """
import sys
sys.path.insert(0, sys.argv[1])
from extraction.memory import trim_heap
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))
blocks = [bytearray(100_000) for _ in range(3000)]  # below glibc's mmap threshold: heap blocks
keep = blocks[::10]  # one in ten stays: the heap cannot just shrink from its top
del blocks
freed = rss()
assert trim_heap()
print(freed, rss())
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).resolve().parents[2])], capture_output=True, text=True, check=True
    )
    freed, trimmed = map(int, out.stdout.split())
    assert freed - trimmed > 150, (freed, trimmed)
