"""The hostile corpus (tests/hostile_corpus.py) through the service: every file is uploaded to a real
`gongkai serve` (streamed, never read whole) and extracted by a real `gongkai worker` (its extraction
child under the service's limits). Each case ends in one of its expected outcomes (a typed error code
at upload or on the document, or a result: "ok", "partial") within its time limit; the worker
survives; the next valid job on it succeeds; the worker's memory (worker + extraction child) stays
≤ 1.5 GiB throughout, sampled every 50 ms."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests import reliability_support as rs
from tests.reliability_support import (
    ServiceProcess,
    WorkerProcess,
    record,
    service_env,
    stream_file_upload,
    tokens,
    wait_no_children,
)

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

PEAK_LIMIT = 1536 * 2**20
MARGIN_S = 5.0  # the queue's pick-up (SQLite queue polling) and a child restart after a crash


class TreeSampler(threading.Thread):
    """Peak resident memory of a process and its descendants, every 50 ms."""

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.worker.tree_rss())


def outcome_of(client: httpx.Client, doc_id: int, deadline: float) -> tuple[str, dict]:
    while True:
        doc = client.get(f"/v1/documents/{doc_id}").json()
        if doc["status"] not in ("queued", "processing"):
            break
        if time.monotonic() > deadline:
            return "timeout", doc
        time.sleep(0.05)
    if doc["status"] == "failed":
        return doc["error_code"], doc
    result = client.get(f"/v1/documents/{doc_id}/result").json()
    return ("partial" if result["source"].get("failed_pages") else "ok"), doc


@pytest.mark.slow
def test_hostile_corpus_through_a_real_worker(tmp_path: Path):
    from service.core import Service
    from service.settings import Settings
    from tests.hostile_corpus import build_corpus, valid_report

    cases = build_corpus(tmp_path / "corpus")
    valid_text = valid_report(tmp_path / "corpus").read_bytes()
    data = tmp_path / "data"
    svc = Service(Settings(data_dir=data))
    toks = tokens(svc, "submitter", "admin")
    svc.close()
    env = service_env(data)
    server = ServiceProcess(env, tmp_path / "serve.log", no_worker=True).ready()
    worker = WorkerProcess(env, tmp_path / "worker.log").ready()
    sampler = TreeSampler(worker)
    sampler.start()
    rows, failures = [], []
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {toks['admin']}"}, timeout=60) as c:
            for i, case in enumerate(cases):
                t0 = time.monotonic()
                status, _, body, _sent = stream_file_upload(server.port, toks["submitter"], case.path, case.path.name)
                answer = json.loads(body)
                item = answer["items"][0] if answer.get("items") else {}
                if status != 202:
                    outcome, where, peak = (item.get("error") or answer["error"])["code"], "upload", 0
                else:
                    outcome, doc = outcome_of(c, item["document_id"], t0 + case.time_limit_s + MARGIN_S + 10)
                    where, peak = "worker", doc["job"]["peak_memory_bytes"] or 0
                seconds = time.monotonic() - t0
                # the worker lives on, and reads a valid report next (unique bytes: no dedupe)
                nxt = c.post(
                    "/v1/documents",
                    headers={"Authorization": f"Bearer {toks['submitter']}"},
                    files=[("files", ("valid.txt", valid_text + f"\n（核对 {i}）\n".encode(), "text/plain"))],
                )
                after, _ = outcome_of(c, nxt.json()["items"][0]["document_id"], time.monotonic() + 60)
                ok = (
                    outcome in case.expect
                    and seconds <= case.time_limit_s + MARGIN_S
                    and worker.alive()
                    and after == "ok"
                    and status < 500
                )
                rows.append((case.name, where, outcome, round(seconds, 2), case.time_limit_s, peak >> 20, after, ok))
                if not ok:
                    failures.append(rows[-1] + (sorted(case.expect), answer if status != 202 else None))
    finally:
        sampler.stopped.set()
        worker.stop()
        server.stop()
    print(f"\n{'case':34s} {'where':7s} {'outcome':22s} {'s':>6s} {'limit':>5s} {'MiB':>5s} next")
    for name, where, outcome, seconds, limit, peak, after, ok in rows:
        print(f"{name:34s} {where:7s} {outcome:22s} {seconds:6.2f} {limit:5.0f} {peak:5d} {after}{'' if ok else '  <-- FAIL'}")
    print(f"peak worker memory (worker + extraction child, sampled): {sampler.peak / 2**20:.0f} MiB")
    assert not wait_no_children(data)
    assert not failures, failures
    assert sampler.peak <= PEAK_LIMIT, f"worker peak {sampler.peak / 2**20:.0f} MiB"
    record(
        "hostile inputs through the service",
        tried=len(cases),
        survived=sum(1 for r in rows if r[-1]),
        lost=0,
        at_upload=sum(1 for r in rows if r[1] == "upload"),
        peak_worker_mib=round(sampler.peak / 2**20),
    )
