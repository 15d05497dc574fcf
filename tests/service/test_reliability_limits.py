"""Issue 18, measured on a real `gongkai serve` over loopback: the server's memory while hostile pages
are asked for at every width and while a 20,000-id export is asked for, the health check's latency
meanwhile, and slow uploads that once held every upload slot. Each finding's own test is in
tests/service/test_security_limits.py; the rows here go to `bench/reliability.py`."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import reliability_support as rs
from tests.conftest_service import SEEDS
from tests.hostile_pages import bomb_png, tall_pdf
from tests.reliability_support import ServiceProcess, raw_upload, record, service_env, tokens, wait_no_children

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

GiB = 2**30
MiB = 2**20
SETTINGS = {"upload_rate_grace_s": 2, "upload_min_bytes_per_s": 4096, "max_concurrent_uploads": 16}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[ServiceProcess, dict[str, str], object]]:
    from service.core import Service
    from service.settings import Settings

    data = tmp_path_factory.mktemp("limits-server")
    svc = Service(Settings(data_dir=data, **SETTINGS))  # migrates; tokens and planted documents before the server
    toks = tokens(svc, "submitter", "admin")
    proc = ServiceProcess(service_env(data, **SETTINGS), data / "serve.log", no_worker=True).ready()
    try:
        yield proc, toks, svc
    finally:
        proc.stop()
        svc.close()
        assert not wait_no_children(data), "the server's children outlive it"


HEALTH_POLLER = """
import json, sys, time, httpx
url, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
import os
lat, fails = [], 0
with httpx.Client(base_url=url, timeout=10) as client:
    client.get("/v1/health")  # the connection is made: what follows times the server
    while not os.path.exists(stop):
        t0 = time.monotonic()
        try:
            ok = client.get("/v1/health").status_code == 200
        except httpx.HTTPError:
            ok = False
        lat.append(time.monotonic() - t0)
        fails += not ok
        time.sleep(0.05)
open(out, "w").write(json.dumps({"latencies": lat, "failures": fails}))
"""


class Health:
    """GET /v1/health every 50 ms from a process of its own (this one's GIL must not time the server),
    and the server's resident memory sampled meanwhile."""

    def __init__(self, proc: ServiceProcess) -> None:
        import tempfile

        self.proc = proc
        self.dir = Path(tempfile.mkdtemp(prefix="gongkai-health-"))
        self.latencies: list[float] = []
        self.rss: list[int] = []
        self.failures = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.rss.append(self.proc.rss())
            time.sleep(0.05)

    def __enter__(self) -> Health:
        import subprocess
        import sys

        self.poller = subprocess.Popen(
            [sys.executable, "-c", HEALTH_POLLER, self.proc.url, str(self.dir / "out.json"), str(self.dir / "stop")]
        )
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        import json
        import shutil

        (self.dir / "stop").touch()
        self.poller.wait(30)
        self._stop.set()
        self.sampler.join(5)
        got = json.loads((self.dir / "out.json").read_text())
        self.latencies, self.failures = got["latencies"], got["failures"]
        shutil.rmtree(self.dir, ignore_errors=True)

    def figures(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {
            "health_checks": len(lat),
            "health_ms_p50": round(1000 * rs.percentile(lat, 0.5), 1),
            "health_ms_p99": round(1000 * rs.percentile(lat, 0.99), 1),
            "health_ms_max": round(1000 * lat[-1], 1) if lat else None,
            "server_rss_mb_max": round(max(self.rss or [0]) / MiB),
        }


def plant(svc, data: bytes, kind: str, owner: str = "submitter") -> int:
    """A document stored before the upload checks existed (queued: no worker runs here)."""
    from sqlalchemy import select as sql_select

    from service.db import Document, Token, Upload

    sha = svc.store.put(data)
    with svc.db.session() as s:
        token_id = s.scalar(sql_select(Token.id).where(Token.name == owner))
        doc = Document(sha256=sha, owner_token_id=token_id, filename=kind, kind=kind, size=len(data), pages=1)
        s.add(doc)
        s.flush()
        s.add(Upload(document_id=doc.id, token_id=token_id, filename=kind))
        s.flush()
        return doc.id


def test_hostile_pages_at_every_width_keep_the_server_small(server):
    from service.sandbox import peak_rss_bytes

    proc, toks, svc = server
    tall, bomb = plant(svc, tall_pdf(), "pdf"), plant(svc, bomb_png(), "image")
    widths = sorted({*range(100, 3001, 100), 2999, 2998})
    answers: dict[int, int] = {}
    with Health(proc) as health, httpx.Client(base_url=proc.url, timeout=120) as client:
        auth = {"Authorization": f"Bearer {toks['submitter']}"}
        for width in widths:
            for doc in (tall, bomb):
                r = client.get(f"/v1/documents/{doc}/pages/1/image?width={width}", headers=auth)
                answers[r.status_code] = answers.get(r.status_code, 0) + 1
                assert r.status_code == (200 if doc == tall else 413), (doc, width, r.text[:200])
        # four at once, as the probe did
        together: list[int] = []

        def one() -> None:
            together.append(client.get(f"/v1/documents/{bomb}/pages/1/image?width=3000", headers=auth).status_code)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for code in together:
            answers[code] = answers.get(code, 0) + 1
    peak = peak_rss_bytes(proc.pid)
    figures = health.figures()
    held = peak < GiB and health.failures == 0 and answers.get(413) == len(widths) + 4
    record(
        "18.1 page images of a 400×14,400 pt page and a 169 MP PNG at every width",
        tried=2 * len(widths) + 4, survived=sum(answers.values()) if held else 0, lost=0 if held else 1,
        server_peak_rss_mb=round(peak / MiB), **figures, answers=answers,
    )  # fmt: skip
    assert peak < GiB, f"the server peaked at {peak / MiB:.0f} MiB"
    assert figures["health_ms_p99"] < 100, figures


def plant_extracted(svc, path: Path, owner: str = "submitter") -> int:
    """A document extracted here (the server runs no worker), its result stored as a job would."""
    from sqlalchemy import select as sql_select

    from extraction.pipeline import Pipeline, PipelineOptions
    from service.db import Document, Job, Result, Token, Upload

    data = path.read_bytes()
    pipeline = Pipeline(PipelineOptions())
    payload = pipeline.run(pipeline.ingest(data, path.name)).to_json_dict()
    sha = svc.store.put(data)
    with svc.db.session() as s:
        token_id = s.scalar(sql_select(Token.id).where(Token.name == owner))
        doc = Document(sha256=sha, owner_token_id=token_id, filename=path.name, kind="txt", size=len(data), status="review")
        s.add(doc)
        s.flush()
        job = Job(kind="extract", document_id=doc.id, status="done")
        s.add_all([job, Upload(document_id=doc.id, token_id=token_id, filename=path.name)])
        s.flush()
        result = Result(document_id=doc.id, job_id=job.id, model_version="baseline@1", data=payload, page_info=[])
        s.add(result)
        s.flush()
        doc.result_id = result.id
        return doc.id


def test_a_20000_id_export_is_refused_or_deduplicated(server):
    from service.sandbox import peak_rss_bytes

    proc, toks, svc = server
    doc = plant_extracted(svc, SEEDS[0])
    auth = {"Authorization": f"Bearer {toks['admin']}"}
    with Health(proc) as health, httpx.Client(base_url=proc.url, timeout=300) as client:
        t0 = time.monotonic()
        codes = []
        for _ in range(10):  # 20,000 different ids: refused before any work
            r = client.post("/v1/exports", headers=auth, json={"document_ids": list(range(1, 20_001)), "format": "csv"})
            codes.append(r.json()["error"]["code"])
        refused_s = time.monotonic() - t0
        t0 = time.monotonic()
        rows = []
        for fmt in ("json", "csv", "xlsx"):  # one document 20,000 times (the 71 s): once
            r = client.post("/v1/exports", headers=auth, json={"document_ids": [doc] * 20_000, "format": fmt})
            rows.append((r.status_code, len(r.json()) if fmt == "json" else len(r.content) > 0))
        deduplicated_s = time.monotonic() - t0
        time.sleep(0.5)
    figures = health.figures()
    peak = peak_rss_bytes(proc.pid)
    ok = codes == ["too_many_documents"] * 10 and rows == [(200, 1), (200, True), (200, True)] and peak < GiB
    record("18.3 batch export of 20,000 ids (×10) and of one id 20,000 times (×3)", tried=13, survived=13 if ok else 0,
           lost=0 if ok else 1, refused_s=round(refused_s, 2), deduplicated_s=round(deduplicated_s, 2),
           server_peak_rss_mb=round(peak / MiB), **figures)  # fmt: skip
    assert ok, (codes, rows, peak)
    assert figures["health_ms_p99"] < 100, figures


def trickle(port: int, token: str, stop: threading.Event, out: list, seconds: float = 30.0) -> None:
    """An authenticated upload that sends its body one byte a second, until the server answers."""
    boundary = "slowboundary1234"
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    try:
        sock.sendall(head + f"--{boundary}\r\n".encode())
        while time.monotonic() - t0 < seconds and not stop.is_set():
            if select.select([sock], [], [], 1.0)[0]:
                data = sock.recv(4096)
                out.append((data.split(b" ", 2)[1].decode() if data else "closed", time.monotonic() - t0))
                return
            try:
                sock.sendall(b"x")
            except OSError:
                out.append(("reset", time.monotonic() - t0))
                return
        out.append(("none", time.monotonic() - t0))
    finally:
        sock.close()


def test_slow_uploads_do_not_lock_others_out(server):
    proc, toks, _ = server
    stop = threading.Event()
    outcomes: list = []
    slow = [threading.Thread(target=trickle, args=(proc.port, toks["submitter"], stop, outcomes)) for _ in range(16)]
    with Health(proc) as health:
        for t in slow:
            t.start()
        time.sleep(1.5)  # every slot taken by a trickling upload
        normal = []
        for seed in SEEDS[:3]:
            with socket.create_connection(("127.0.0.1", proc.port), timeout=30) as sock:
                sock.sendall(raw_upload(proc.port, toks["admin"], [(seed.name, seed.read_bytes())]))
                answer = b""
                while b"\r\n\r\n" not in answer:
                    answer += sock.recv(65536)
                normal.append(int(answer.split(b" ", 2)[1]))
        for t in slow:
            t.join(40)
        stop.set()
    figures = health.figures()
    slow_codes = sorted({code for code, _ in outcomes})
    slowest = max(s for _, s in outcomes)
    ok = normal == [202, 202, 202] and slow_codes == ["408"] and slowest < 10
    record("18.5 16 uploads at 1 byte/s, then normal uploads", tried=19, survived=19 if ok else 0, lost=0 if ok else 1,
           normal=normal, slow_answers=slow_codes, slow_refused_within_s=round(slowest, 1), **figures)  # fmt: skip
    assert normal == [202, 202, 202], normal
    assert slow_codes == ["408"] and slowest < 10, outcomes


def test_a_1000_document_export_is_built_off_the_server(server):
    """At the limit (max_export_documents): the rules of 1,000 reviewed documents re-run in an export
    child; the server's threads stay free (health checks), its memory flat."""
    import hashlib

    from sqlalchemy import select as sql_select

    from extraction.pipeline import Pipeline, PipelineOptions
    from service.db import Document, Job, Result, Token, Upload
    from service.sandbox import peak_rss_bytes

    proc, toks, svc = server
    pipeline = Pipeline(PipelineOptions())
    payload = pipeline.run(pipeline.ingest(SEEDS[1].read_bytes(), "b.txt")).to_json_dict()
    with svc.db.session() as s:
        owner = s.scalar(sql_select(Token.id).where(Token.name == "submitter"))
        existing = s.scalar(sql_select(__import__("sqlalchemy").func.count()).select_from(Document).where(Document.result_id.is_not(None)))
        for i in range(1000 - existing):
            sha = hashlib.sha256(f"export-{i}".encode()).hexdigest()
            doc = Document(sha256=sha, owner_token_id=owner, filename=f"=cmd|{i}.txt", kind="txt", size=1, status="review")
            s.add(doc)
            s.flush()
            job = Job(kind="extract", document_id=doc.id, status="done")
            s.add_all([job, Upload(document_id=doc.id, token_id=owner, filename=doc.filename)])
            s.flush()
            result = Result(document_id=doc.id, job_id=job.id, model_version="baseline@1", data=payload, page_info=[])
            s.add(result)
            s.flush()
            doc.result_id = result.id
    auth = {"Authorization": f"Bearer {toks['admin']}"}
    seconds, sizes = {}, {}
    with Health(proc) as health, httpx.Client(base_url=proc.url, timeout=600) as client:
        for fmt in ("csv", "xlsx", "json"):
            t0 = time.monotonic()
            r = client.post("/v1/exports", headers=auth, json={"format": fmt})
            seconds[fmt] = round(time.monotonic() - t0, 1)
            assert r.status_code == 200, r.text[:300]
            sizes[fmt] = len(r.content)
            if fmt == "json":
                assert len(r.json()) == 1000
            if fmt == "csv":
                assert "'=cmd|0.txt" in r.content.decode("utf-8-sig")
    figures = health.figures()
    peak = peak_rss_bytes(proc.pid)
    ok = peak < GiB and health.failures == 0
    record("18.3 an export of 1,000 documents (csv, xlsx, json), built in a child", tried=3, survived=3 if ok else 0,
           lost=0 if ok else 1, seconds=seconds, kib={k: v // 1024 for k, v in sizes.items()},
           server_peak_rss_mb=round(peak / MiB), **figures)  # fmt: skip
    assert ok, peak
    assert figures["health_ms_p99"] < 100, figures
