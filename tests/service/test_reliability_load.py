"""Load on a real `gongkai serve` (uvicorn, in-process worker, SQLite) on loopback: 100 concurrent
uploads while a scanned PDF is being extracted (all accepted or told 429 with Retry-After, none lost,
p95 accept latency ≤ 500 ms, the event loop never blocked), and the server's memory over 500
documents (growth ≤ 10 %). Bounded: every wait has a deadline; the server is stopped at the end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import conftest_service as fx
from tests import reliability_support as rs
from tests.reliability_support import (
    ServiceProcess,
    percentile,
    raw_get,
    raw_send,
    raw_upload,
    record,
    report_text,
    service_env,
    tokens,
    wait_no_children,
)

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

scanned_pdf = fx.scanned_pdf
MiB = 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[ServiceProcess, dict[str, str], Path]]:
    from service.core import Service
    from service.settings import Settings

    data = tmp_path_factory.mktemp("load-server")
    svc = Service(Settings(data_dir=data))
    toks = tokens(svc, "submitter", "admin")
    svc.close()
    proc = ServiceProcess(service_env(data), data / "serve.log").ready()
    try:
        yield proc, toks, data
    finally:
        proc.stop()
        assert not wait_no_children(data), "the server's extraction children outlive it"


def wait_done(url: str, admin: dict, ids: list[int], timeout: float) -> dict[str, int]:
    """Until every document is out of queued/processing; returns the count per final status."""
    deadline = time.monotonic() + timeout
    pending = set(ids)
    final: dict[int, str] = {}
    with httpx.Client(base_url=url, headers=admin, timeout=30) as c:
        while pending:
            listing = c.get("/v1/documents", params={"limit": 1000}).json()["items"]
            for d in listing:
                if d["id"] in pending and d["status"] not in ("queued", "processing"):
                    final[d["id"]] = d["status"]
                    pending.discard(d["id"])
            if pending:
                assert time.monotonic() < deadline, f"{len(pending)} documents not done after {timeout}s"
                time.sleep(0.5)
    out: dict[str, int] = {}
    for status in final.values():
        out[status] = out.get(status, 0) + 1
    return out


# Latency is measured with the machine to itself (scripts/test.sh runs `load` tests after the
# parallel suite): another test's work on the same two cores is not the load this test describes.
@pytest.mark.load
def test_100_concurrent_uploads_while_extracting(server, scanned_pdf):
    proc, toks, _data = server
    sub = {"Authorization": f"Bearer {toks['submitter']}"}
    admin = {"Authorization": f"Bearer {toks['admin']}"}
    pdf, _ = scanned_pdf
    # extraction under way: a 4-page scan being OCR'd in the worker's child
    r = httpx.post(proc.url + "/v1/documents", headers=sub, files=[("files", (pdf.name, pdf.read_bytes(), "application/pdf"))], timeout=60)
    assert r.status_code == 202, r.text
    scan_job = r.json()["items"][0]["job_id"]
    deadline = time.monotonic() + 60
    while httpx.get(proc.url + f"/v1/jobs/{scan_job}", headers=admin).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # the event loop while the scan is extracted, nothing else going on: it must not notice
    time.sleep(3.0)
    quiet = httpx.get(proc.url + "/v1/metrics", params={"window": 2.5}, headers=admin).json()["event_loop"]

    n = 100
    latencies: list[float] = []  # of the 202s
    refused: list[float] = []  # of the 429s
    retry_after: list[str] = []
    other: list[int] = []
    accepted: dict[int, int] = {}
    probe: list[float] = []
    stop = asyncio.Event()
    token = toks["submitter"]
    requests = [raw_upload(proc.port, token, [(f"r{i}.txt", report_text(f"load-{i}"))]) for i in range(n)]

    async def one(i: int) -> None:
        for _attempt in range(30):
            status, headers, body, dt = await raw_send(proc.port, requests[i])
            if status == 202:
                latencies.append(dt)
                accepted[i] = json.loads(body)["items"][0]["document_id"]
                return
            if status == 429:
                refused.append(dt)
                retry_after.append(headers.get("retry-after", ""))
                await asyncio.sleep(min(2.0, float(headers.get("retry-after") or 1)))
                continue
            other.append(status)
            return

    async def health() -> None:
        while not stop.is_set():
            probe.append((await raw_send(proc.port, raw_get(proc.port, "/v1/health")))[3])
            await asyncio.sleep(0.05)

    async def main() -> float:
        prober = asyncio.create_task(health())
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout=180)
        wall = time.monotonic() - t0
        stop.set()
        await prober
        return wall

    wall = asyncio.run(main())
    metrics = httpx.get(proc.url + "/v1/metrics", params={"window": wall}, headers=admin).json()
    still_extracting = httpx.get(proc.url + f"/v1/jobs/{scan_job}", headers=admin).json()["status"] == "running"
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    hp95, hmax = percentile(probe, 0.95), max(probe)
    lag = metrics["event_loop"]
    print(
        f"{n} concurrent uploads in {wall:.1f}s: {len(accepted)} accepted, {len(refused)} answers 429 "
        f"(Retry-After {sorted(set(retry_after))}), other {other}\n"
        f"accept latency p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms, max {1000 * max(latencies):.0f} ms; "
        f"429 latency p95 {1000 * percentile(refused, 0.95):.0f} ms\n"
        f"/v1/health during the burst: p95 {1000 * hp95:.0f} ms, max {1000 * hmax:.0f} ms ({len(probe)} probes); "
        f"event-loop lag during the burst: max {lag['lag_ms_max']} ms, p99 {lag['lag_ms_p99']} ms; "
        f"while extracting alone: max {quiet['lag_ms_max']} ms, p99 {quiet['lag_ms_p99']} ms; "
        f"scan still extracting at the end: {still_extracting}"
    )
    assert not other, other
    assert all(ra.isdigit() for ra in retry_after), "every 429 says when to come back"
    assert len(accepted) == n, "every upload was accepted in the end (after its 429s)"
    # none lost: every accepted document exists and its job completes
    ids = list(accepted.values())
    assert len(set(ids)) == n
    statuses = wait_done(proc.url, admin, [*ids], timeout=300)
    assert sum(statuses.values()) == n and statuses.get("failed", 0) == 0, statuses
    assert p95 <= 0.5, f"p95 accept latency {p95:.3f}s"
    assert quiet["lag_ms_max"] <= 50, f"extraction blocks the event loop: {quiet}"
    assert hp95 <= 0.25, f"small requests wait during the burst: p95 {hp95:.3f}s"
    record(
        "100 concurrent uploads during extraction",
        tried=n,
        survived=len(accepted),
        lost=n - sum(statuses.values()),
        p95_accept_ms=round(1000 * p95),
        answers_429=len(refused),
        health_p95_ms=round(1000 * hp95),
        loop_lag_max_ms_extracting=quiet["lag_ms_max"],
        loop_lag_max_ms_burst=lag["lag_ms_max"],
    )


@pytest.mark.slow
def test_memory_growth_over_500_documents(server):
    proc, toks, _data = server
    sub = {"Authorization": f"Bearer {toks['submitter']}"}
    admin = {"Authorization": f"Bearer {toks['admin']}"}
    total, batch = 500, 10
    series: list[tuple[int, float, float]] = []
    ids: list[int] = []
    t0 = time.monotonic()
    with httpx.Client(base_url=proc.url, timeout=60) as c:
        for start in range(0, total, batch):
            files = [("files", (f"m{i}.txt", report_text(f"mem-{i}"), "text/plain")) for i in range(start, start + batch)]
            for _ in range(60):
                r = c.post("/v1/documents", headers=sub, files=files)
                if r.status_code != 429:
                    break
                time.sleep(float(r.headers.get("retry-after", 1)))
            assert r.status_code == 202, r.text
            ids += [i["document_id"] for i in r.json()["items"]]
            done = start + batch
            if done % 50 == 0:
                wait_done(proc.url, admin, ids, timeout=300)  # processed, not just queued
                children = c.get("/v1/metrics", headers=admin).json()["children"]
                child = children.get("extractors", {}).get("rss_bytes", 0)
                series.append((done, proc.rss() / MiB, child / MiB))
    wall = time.monotonic() - t0
    assert len(set(ids)) == total
    base = series[0][1]  # after the first 50: imports, caches, pools warm
    peak = max(s[1] for s in series)
    growth = (series[-1][1] - base) / base
    print("documents  server RSS MiB  extraction child RSS MiB")
    for done, rss, child in series:
        print(f"{done:9d}  {rss:13.1f}  {child:24.1f}")
    print(f"{total} documents in {wall:.0f}s ({total / wall:.1f}/s); server RSS growth after warm-up {100 * growth:+.1f} %")
    assert growth <= 0.10, f"server memory grew {100 * growth:.1f} % over {total} documents"
    record(
        "memory over 500 documents",
        tried=total,
        survived=total,
        lost=0,
        server_rss_mib_start=round(base, 1),
        server_rss_mib_end=round(series[-1][1], 1),
        server_rss_mib_peak=round(peak, 1),
        growth_pct=round(100 * growth, 1),
    )
