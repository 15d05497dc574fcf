"""Uploads that try to hurt: oversize bodies (413 while streaming, never held in memory), multipart
abuse (a thousand parts, huge fields and headers, malformed bodies: 4xx, never 5xx), odd file names
(stored under server ids, never used as paths), and backpressure (429 with Retry-After)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests import reliability_support as rs
from tests.conftest_service import SEEDS, make_api
from tests.reliability_support import (
    ServiceProcess,
    file_part,
    multipart_body,
    record,
    report_text,
    service_env,
    stream_request,
    tokens,
    wait_no_children,
)

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary

MiB = 2**20


# --------------------------------------------------------------------------------------------
# A real `gongkai serve`, small limits


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[ServiceProcess, dict[str, str], Path]]:
    from service.core import Service
    from service.settings import Settings

    data = tmp_path_factory.mktemp("uploads-server")
    limits = {"max_upload_bytes": 2 * MiB, "max_request_bytes": 12 * MiB, "max_files_per_upload": 5, "max_concurrent_uploads": 2}
    svc = Service(Settings(data_dir=data, **limits))  # migrates; the tokens are made before the server starts
    toks = tokens(svc, "submitter", "admin")
    svc.close()
    proc = ServiceProcess(service_env(data, **limits), data / "serve.log").ready()
    try:
        yield proc, toks, data
    finally:
        proc.stop()
        assert not wait_no_children(data), "the server's children outlive it"


def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    for p in parts:
        yield f"{len(p):x}\r\n".encode() + p + b"\r\n"
    yield b"0\r\n\r\n"


def spool_files(data: Path) -> list[Path]:
    incoming = data / "store" / "incoming"
    return list(incoming.iterdir()) if incoming.is_dir() else []


def test_oversize_uploads_are_refused_while_streaming(server):
    proc, toks, data = server
    auth = f"Authorization: Bearer {toks['submitter']}\r\n".encode()
    boundary = b"gkbound"
    rss0 = proc.rss()
    rows = []

    # 1. one file of 6 MiB (the limit is 2 MiB), chunked: no Content-Length to refuse it up front; the
    #    request is under the request limit, so it is read to its end, the file's bytes past 2 MiB dropped
    def body(file_mib: int) -> Iterator[bytes]:
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
        block = ("年度报告" * 16384).encode()[: MiB // 4]
        for _ in range(file_mib * 4):
            yield block
        yield b"\r\n--" + boundary + b"--\r\n"

    head = (
        b"POST /v1/documents HTTP/1.1\r\nHost: x\r\n" + auth
        + b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )  # fmt: skip
    t0 = time.monotonic()
    status, _, payload, sent = stream_request(proc.port, head, chunked(body(6)))
    rows.append(("6 MiB file, chunked", status, sent, time.monotonic() - t0, proc.rss()))
    assert status == 413 and b"input_too_large" in payload, payload
    # 2. a body over the request limit (12 MiB), chunked: refused once over, drained a little
    t0 = time.monotonic()
    status, _, payload, sent = stream_request(proc.port, head, chunked(body(200)))
    rows.append(("200 MiB body, chunked", status, sent, time.monotonic() - t0, proc.rss()))
    assert status == 413 and b"input_too_large" in payload, payload
    assert sent < 40 * MiB, "the server stopped reading soon after the limit"
    # 3. a Content-Length over the limit and Expect: 100-continue: refused before a byte is sent
    head3 = (
        b"POST /v1/documents HTTP/1.1\r\nHost: x\r\n" + auth
        + b"Content-Type: multipart/form-data; boundary=" + boundary
        + b"\r\nContent-Length: " + str(500 * MiB).encode() + b"\r\nExpect: 100-continue\r\n\r\n"
    )  # fmt: skip
    t0 = time.monotonic()
    status, _, payload, sent = stream_request(proc.port, head3, iter([b"x" * 65536] * 8000))
    rows.append(("500 MiB Content-Length", status, sent, time.monotonic() - t0, proc.rss()))
    assert status == 413 and sent < MiB, (status, sent)
    for name, st, sent_b, secs, rss in rows:
        print(f"{name:26s} {st}  client sent {sent_b / MiB:7.1f} MiB in {secs:5.2f}s  server RSS {rss / MiB:6.1f} MiB")
    growth = max(r[4] for r in rows) - rss0
    assert growth < 40 * MiB, f"the server's memory grew {growth / MiB:.0f} MiB: a body was held in memory"
    assert not spool_files(data), "a refused upload left its spool file"
    # the server is fine: a valid upload next
    r = httpx.post(
        proc.url + "/v1/documents",
        headers={"Authorization": f"Bearer {toks['submitter']}"},
        files=[("files", ("ok.txt", SEEDS[0].read_bytes(), "text/plain"))],
        timeout=30,
    )
    assert r.status_code == 202, r.text
    record("oversize uploads (413 while streaming)", tried=3, survived=3, lost=0, server_rss_growth_mib=round(growth / MiB, 1))


def test_backpressure_busy_is_429_with_retry_after(server):
    """max_concurrent_uploads=2: two slow uploads hold the slots, a third is told 429 + Retry-After at
    once; the slow ones then complete (202). Nothing accepted is lost."""
    proc, toks, _data = server
    h = {"Authorization": f"Bearer {toks['submitter']}"}
    release = threading.Event()
    results: list[int] = []

    def slow_upload(i: int) -> None:
        content = report_text(f"slow-{i}")
        boundary = b"slowbound"

        def gen():
            yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="s.txt"\r\n\r\n'
            yield content[:1000]
            release.wait(20)
            yield content[1000:] + b"\r\n--" + boundary + b"--\r\n"

        r = httpx.post(
            proc.url + "/v1/documents",
            headers={**h, "Content-Type": "multipart/form-data; boundary=slowbound"},
            content=gen(),
            timeout=60,
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=slow_upload, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while True:  # both slow uploads are being received
        m = httpx.get(proc.url + "/v1/metrics", headers={"Authorization": f"Bearer {toks['admin']}"}).json()
        if m["uploads"]["in_flight"] == 2:
            break
        assert time.monotonic() < deadline, m
        time.sleep(0.05)
    t0 = time.monotonic()
    r = httpx.post(proc.url + "/v1/documents", headers=h, files=[("files", ("x.txt", report_text("third"), "text/plain"))])
    busy_ms = 1000 * (time.monotonic() - t0)
    release.set()
    for t in threads:
        t.join(30)
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "too_busy"
    assert results == [202, 202]
    r = httpx.post(proc.url + "/v1/documents", headers=h, files=[("files", ("x.txt", report_text("third"), "text/plain"))])
    assert r.status_code == 202  # retried after Retry-After: accepted
    print(f"429 answered in {busy_ms:.1f} ms")
    record("backpressure: too many uploads at once", tried=4, survived=4, lost=0, answer_429_ms=round(busy_ms, 1))


# --------------------------------------------------------------------------------------------
# In-process (TestClient): multipart abuse, odd names, a full queue


@pytest.fixture
def small(tmp_path: Path):
    gen = make_api(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'g.db'}",
        immediate=True,
        max_upload_bytes=MiB,
        max_files_per_upload=10,
        max_multipart_parts=100,
        max_field_bytes=4096,
        max_part_header_bytes=8192,
    )
    api = next(gen)
    yield api
    gen.close()


def post_raw(api, body: bytes, content_type: str, who: str = "submitter"):
    return api.client.post(
        "/v1/documents", content=body, headers={**api.headers(who), "Content-Type": content_type}
    )


def test_multipart_abuse_is_4xx_never_5xx(small):
    api = small
    ok_part = file_part(b"ok.txt", SEEDS[0].read_bytes())
    field = (b'Content-Disposition: form-data; name="note"', b"x")
    cases: list[tuple[str, bytes, str, set[int], str | None]] = []

    def add(name, parts, status, code=None, boundary=b"gkb0undary"):
        body, ctype = multipart_body(parts, boundary)
        cases.append((name, body, ctype, status, code))

    add("1,001 small fields", [field] * 1001, {413}, "too_many_parts")
    add("1,001 files", [ok_part] * 1001, {413}, "too_many_files")
    add("11 files (limit 10)", [file_part(f"{i}.txt".encode(), report_text(str(i))) for i in range(11)], {413}, "too_many_files")
    add("a 5 MiB form field", [(b'Content-Disposition: form-data; name="note"', b"x" * (5 * MiB)), ok_part], {413}, "field_too_large")
    add("a 100 KB header line", [(b'Content-Disposition: form-data; name="files"; filename="' + b"a" * 100_000 + b'"', b"x")], {400, 413, 431})
    add("30 headers in a part", [(b"\r\n".join([b"X-H%d: v" % i for i in range(30)] + [ok_part[0]]), b"x")], {400, 431})
    add("a part without Content-Disposition", [(b"Content-Type: text/plain", b"x")], {400}, "bad_multipart")
    add("no file, one field", [field], {422}, "no_files")
    add("a file in another field", [file_part(b"a.txt", b"hello", field=b"other")], {422}, "no_files")
    add("an empty file", [file_part(b"empty.txt", b"")], {422}, "empty_input")
    body, ctype = multipart_body([ok_part])
    cases.append(("no closing boundary", body[: -len(b"--gkboundary7MA4YWxk--\r\n")], ctype, {400}, "bad_multipart"))
    cases.append(("cut in the middle", body[: len(body) // 2], ctype, {400}, "bad_multipart"))
    cases.append(("garbage body", b"\x00\xff" * 5000, ctype, {400}, "bad_multipart"))
    cases.append(("empty body", b"", ctype, {400}, "bad_multipart"))
    cases.append(("no boundary", body, "multipart/form-data", {400}, "bad_multipart"))
    cases.append(("a 300-byte boundary", body, "multipart/form-data; boundary=" + "b" * 300, {400}, "bad_multipart"))
    cases.append(("JSON, not multipart", b'{"files": []}', "application/json", {415}, "unsupported_media_type"))
    cases.append(("no content type", body, "", {415}, "unsupported_media_type"))
    cases.append(("a 3 MiB file (limit 1 MiB)", *multipart_body([file_part(b"big.txt", b"a" * (3 * MiB))]), {413}, "input_too_large"))
    survived, rows = 0, []
    for name, payload, content_type, status, code in cases:
        r = post_raw(api, payload, content_type)
        got = r.json().get("error", {}).get("code") if r.headers.get("content-type", "").startswith("application/json") else None
        rows.append((name, r.status_code, got))
        assert r.status_code in status and r.status_code < 500, (name, r.status_code, r.text[:300])
        if code:
            assert got == code, (name, r.text[:300])
        survived += 1
    for row in rows:
        print("{:36s} {} {}".format(*row))
    r = api.upload(SEEDS[0])
    assert r.status_code == 202  # the service is fine afterwards
    assert not spool_files(api.svc.settings.data_dir), "a refused upload left a spool file"
    record("multipart abuse", tried=len(cases), survived=survived, lost=0)


ODD_NAMES = [
    b"../../etc/passwd",
    b"..\\..\\windows\\system32\\config\\sam",
    b"/etc/shadow",
    b"report\x00.pdf.exe",
    b"\xe2\x80\xaegpj.exe.txt",  # RTL override: shows as "txt.exe.jpg"
    b"CON",
    b"NUL.txt",
    b"aux.txt",
    b"COM1",
    b"a" * 5000 + b".txt",
    "年度报告".encode() * 300 + b".txt",
    b"..",
    b".",
    b"",
    b"   ",
    b"%2e%2e%2fetc%2fpasswd",
    b"report\r\nX-Injected: 1.txt",
    b"\xff\xfe\xfd invalid utf-8.txt",
    b"-rf.txt",
    b"$(reboot).txt",
    b"report.txt\x7f\x1b[31m",
]


def test_odd_filenames_are_display_text_only(small, tmp_path: Path):
    api = small
    store = api.svc.store.root
    survived = 0
    names = []
    for i, raw in enumerate(ODD_NAMES):
        body, ctype = multipart_body([file_part(raw, report_text(f"odd-{i}"))])
        r = post_raw(api, body, ctype)
        assert r.status_code == 202, (raw[:60], r.status_code, r.text[:300])
        item = r.json()["items"][0]
        name = item["filename"]
        names.append(name)
        assert 1 <= len(name) <= 255
        assert not any(c in name for c in "/\\\x00\r\n\x1b\x7f\u202e"), repr(name)
        assert name not in (".", "..")
        doc = api.get(f"/v1/documents/{item['document_id']}").json()
        assert doc["filename"] == name
        assert api.get(f"/v1/documents/{item['document_id']}/original").content == report_text(f"odd-{i}")
        # downloads are named after the file, made safe: no path, no control character, no header injection
        cd = api.get(f"/v1/documents/{item['document_id']}/export/csv").headers["content-disposition"]
        ascii_name = re.fullmatch(r'attachment; filename="([^"\\/\r\n]+)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', cd)
        assert ascii_name, cd
        saved = unquote(ascii_name.group(2))
        assert saved.endswith(".csv") and not any(c in saved for c in '/\\\x00\r\n\x1b\x7f\u202e"')
        assert saved.split(".")[0].upper() not in ("CON", "NUL", "AUX", "PRN", "COM1", "LPT1") and saved != ".csv"
        survived += 1
    # the only files written are the originals under their sha256 (and the database next to them),
    # besides the store's id file (service/wiring.py)
    stored = sorted(p.relative_to(store).parts[0] for p in store.rglob("*") if p.is_file())
    assert set(stored) <= {"sha256", "gongkai-store-id"}, stored
    assert all(len(p.name) == 64 for p in (store / "sha256").rglob("*") if p.is_file())
    assert not (tmp_path / "etc").exists() and not list(tmp_path.rglob("passwd")) and not list(tmp_path.rglob("shadow"))
    print("\n".join(f"{raw[:40]!r:50} -> {n[:60]!r}" for raw, n in zip(ODD_NAMES, names, strict=True)))
    record("odd file names (traversal, NUL, RTL, reserved, long)", tried=len(ODD_NAMES), survived=survived, lost=0)


def test_a_full_queue_is_429_with_retry_after(tmp_path: Path):
    """max_queue_depth=3 and no worker: three uploads are accepted, the fourth is told to come back."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from service.api import create_app
    from service.core import Service
    from service.db import Document, Job
    from service.settings import Settings

    svc = Service(Settings(data_dir=tmp_path / "d", max_queue_depth=3, retry_after_s=17))
    h = {"Authorization": f"Bearer {tokens(svc, 'submitter')['submitter']}"}
    try:
        with TestClient(create_app(svc, embedded_worker=False)) as c:
            codes = []
            for i in range(5):
                time.sleep(0.25)  # past the queue-depth cache
                r = c.post("/v1/documents", headers=h, files=[("files", (f"{i}.txt", report_text(f"q{i}"), "text/plain"))])
                codes.append(r.status_code)
                if r.status_code == 429:
                    assert r.headers["retry-after"] == "17" and r.json()["error"]["code"] == "queue_full"
        assert codes == [202, 202, 202, 429, 429], codes
        with svc.db.session() as s:  # the accepted ones are all there, queued; the refused left nothing
            assert s.scalar(select(func.count()).select_from(Document)) == 3
            assert s.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) == 3
        record("backpressure: queue full", tried=5, survived=5, lost=0)
    finally:
        svc.close()
