"""Shared pieces of the reliability tests (tests/test_reliability_*.py) and of bench/reliability.py.

- `record(case, tried, survived, lost, **figures)`: prints a case's figures; when
  GONGKAI_RELIABILITY_REPORT names a file, appends them to it as a JSON line (bench/reliability.py
  collects the lines into its table).
- `ChaosLabeler`: a labeler that obeys directives written in the document (`@@sleep=0.4`,
  `@@crash`, `@@hog=2000`, `@@exit`, `@@raise`) and then labels like the baseline; activated as a
  model version (`activate_chaos`), so real workers run it in their real extraction children.
- `ServiceProcess` / `WorkerProcess`: `gongkai serve` / `gongkai worker` as real processes.
- `/proc` helpers: resident memory of a process tree, leaked children.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.conftest_service import SEEDS

CHAOS_LABELER = "tests.reliability_support:ChaosLabeler"
REPORT_ENV = "GONGKAI_RELIABILITY_REPORT"


_SINK: list = []  # the running test's record_property (set by the reliability_summary fixture)
SUMMARY = "summary:reliability: case | tried | survived | lost | figures"


def record(case: str, tried: int, survived: int, lost: int, **figures: Any) -> dict[str, Any]:
    """One row of the reliability table: `tried` cases, `survived` (ended as they must), `lost`
    (accepted work that vanished or was done twice; a protection that did not hold). Printed, shown
    in the run's summary (tests/conftest.py), and appended to $GONGKAI_RELIABILITY_REPORT."""
    row = {"case": case, "tried": tried, "survived": survived, "lost": lost, **figures}
    print(f"\nRELIABILITY {json.dumps(row, ensure_ascii=False, default=str)}", flush=True)
    if _SINK:
        rest = ", ".join(f"{k}={v}" for k, v in figures.items())
        _SINK[-1](SUMMARY, f"{case:58s} | {tried:5d} | {survived:8d} | {lost:4d} | {rest}")
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return row


@pytest.fixture(autouse=True)
def reliability_summary(record_property):
    """Bound in each reliability test module: the rows it records go to the end-of-run summary."""
    _SINK.append(record_property)
    yield
    _SINK.remove(record_property)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


# --------------------------------------------------------------------------------------------
# Documents and the chaos labeler


def report_text(tag: str, directives: str = "", seed: int = 0) -> bytes:
    """A valid report (a seed's text) made unique by `tag` (uploads dedupe by sha256), with directives."""
    text = SEEDS[seed % len(SEEDS)].read_text(encoding="utf-8")
    return (text + f"\n\n（附：批次编号 {tag}）\n" + (f"\n{directives}\n" if directives else "")).encode()


class ChaosLabeler:
    """The baseline labeler, after doing what the document's `@@` directives say (tests only)."""

    name = "chaos"
    version = "1"

    def __init__(self) -> None:
        from extraction.layout.baseline import BaselineLabeler

        self.base = BaselineLabeler()

    def __call__(self, doc) -> None:
        from extraction import progress

        progress.report_page(1)  # a text input reports no pages: say "past ingest" (the SIGKILL test's stage)
        text = "\n".join(line.text for line in doc.lines[-20:])
        hog: list[bytearray] = []
        for word in text.split():
            if not word.startswith("@@"):
                continue
            name, _, arg = word[2:].partition("=")
            if name == "sleep":
                time.sleep(float(arg))
            elif name == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif name == "exit":
                os._exit(3)
            elif name == "raise":
                raise RuntimeError("chaos: a defect in a labeler")
            elif name == "hog":  # grow resident memory by `arg` MiB, 16 MiB at a time (touched pages)
                for _ in range(int(arg) // 16):
                    hog.append(bytearray(16 * 2**20))
                    time.sleep(0.005)
            elif name == "bigalloc":  # one huge allocation at once (RLIMIT_DATA makes it a MemoryError)
                hog.append(bytearray(int(arg) * 2**20))
        self.base(doc)
        doc.labeler = f"{self.name}@{self.version}"


def activate_chaos(svc) -> None:
    """Make new extractions use ChaosLabeler (a model version, as a trained model would be)."""
    from sqlalchemy import update

    from service.db import ModelVersion

    with svc.db.session() as s:
        s.execute(update(ModelVersion).values(active=False))
        s.add(ModelVersion(version="chaos@1", labeler=CHAOS_LABELER, metrics={}, active=True))


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_") or k.startswith("GONGKAI_TEST_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({"GONGKAI_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "GONGKAI_OCR_PAGE_TIMEOUT_S": "900"})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for key, value in settings.items():
        env[key if key.isupper() else f"GONGKAI_{key.upper()}"] = str(value)
    return env


class Proc:
    """A `gongkai` command run as a real process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gongkai.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if not self.alive():
                raise AssertionError(f"{self.args[0]} exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.args[0]}: no {needle!r} after {timeout}s:\n{self.text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing runs on the way out."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tree_rss(self) -> int:
        from service.sandbox import tree_rss_bytes

        return tree_rss_bytes(self.pid) if self.alive() else 0

    def rss(self) -> int:
        from service.sandbox import rss_bytes

        return rss_bytes(self.pid) if self.alive() else 0


class WorkerProcess(Proc):
    def __init__(self, env: dict[str, str], log: Path, threads: int = 1) -> None:
        super().__init__(["worker", "--workers", str(threads)], env, log)

    def ready(self, timeout: float = 90.0) -> WorkerProcess:
        self.wait_for("gongkai: worker on queue", timeout)
        return self


class ServiceProcess(Proc):
    def __init__(self, env: dict[str, str], log: Path, port: int | None = None, no_worker: bool = False) -> None:
        self.port = port or free_port()
        args = ["serve", "--port", str(self.port), "--log-level", "warning"]
        super().__init__(args + (["--no-worker"] if no_worker else []), env, log)
        self.url = f"http://127.0.0.1:{self.port}"

    def ready(self, timeout: float = 90.0) -> ServiceProcess:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"gongkai serve exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gongkai serve not up after {timeout}s:\n{self.text()[-3000:]}")
            time.sleep(0.2)


def sandbox_children(data_dir: Path) -> list[int]:
    """Live extraction/inspection children whose service uses `data_dir` (to find leaks)."""
    needle = f"GONGKAI_DATA_DIR={data_dir}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"service.sandbox import child_main" not in fh.read():
                    continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != b"Z":
            found.append(int(entry))
    return found


def wait_no_children(data_dir: Path, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = sandbox_children(data_dir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def tokens(svc, *roles: str) -> dict[str, str]:
    from service.auth import create_token

    out = {}
    with svc.db.session() as s:
        for role in roles:
            out[role] = create_token(s, role, role)[1]  # type: ignore[arg-type]
    return out


def wait_jobs(svc, timeout: float, alive=None) -> None:
    """Until no job is queued or running (`alive()` may assert the workers still run)."""
    from sqlalchemy import func, select

    from service.db import Job

    deadline = time.monotonic() + timeout
    while True:
        with svc.db.session() as s:
            pending = s.scalar(select(func.count()).select_from(Job).where(Job.status.in_(["queued", "running"])))
        if not pending:
            return
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} jobs still pending after {timeout}s")
        time.sleep(0.2)


def multipart_body(parts: list[tuple[bytes, bytes]], boundary: bytes = b"gkboundary7MA4YWxk") -> tuple[bytes, str]:
    """A raw multipart body from (headers, content) pairs, and its Content-Type (for abuse tests)."""
    chunks = []
    for headers, content in parts:
        chunks.append(b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n")
    chunks.append(b"--" + boundary + b"--\r\n")
    return b"".join(chunks), f"multipart/form-data; boundary={boundary.decode()}"


def file_part(name: bytes, content: bytes, field: bytes = b"files") -> tuple[bytes, bytes]:
    return (b'Content-Disposition: form-data; name="' + field + b'"; filename="' + name + b'"', content)


def rng(seed: int | None = None) -> random.Random:
    seed = int(os.environ.get("GONGKAI_RELIABILITY_SEED", seed if seed is not None else time.time_ns() % 10**6))
    print(f"random seed {seed} (GONGKAI_RELIABILITY_SEED={seed} repeats this run)")
    return random.Random(seed)


# --------------------------------------------------------------------------------------------
# A lean HTTP/1.1 client for load: requests are encoded before the clock starts, so the latency
# measured is the server's (an httpx client under 100-way concurrency spends more time than the server)


def raw_upload(port: int, token: str, files: list[tuple[str, bytes]]) -> bytes:
    """The bytes of a complete `POST /v1/documents` request (multipart, Content-Length)."""
    boundary = os.urandom(12).hex().encode()
    body = b"".join(
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\n' + content + b"\r\n"
        for name, content in files
    ) + b"--" + boundary + b"--\r\n"  # fmt: skip
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


def raw_get(port: int, path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n".encode()


async def raw_send(port: int, request: bytes, timeout: float = 60.0) -> tuple[int, dict[str, str], bytes, float]:
    """(status, headers, body, seconds from the first byte sent to the whole answer read)."""
    import asyncio

    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        t0 = time.monotonic()
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), timeout)
        return int(lines[0].split()[1]), headers, body, time.monotonic() - t0
    finally:
        writer.close()


def stream_request(port: int, head: bytes, body, timeout: float = 60.0) -> tuple[int, dict, bytes, int]:
    """Send a request whose body is an iterator of chunks, as a careful client does: wait for
    `100 Continue` when asking for it, and stop sending as soon as the server answers (a 413 before
    the end). Returns (status, headers, body, bytes of the body sent)."""
    import select

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = 0
    try:
        sock.sendall(head)
        if b"expect: 100-continue" in head.lower():
            select.select([sock], [], [], 2.0)
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            if b"\r\n\r\n" in data:
                top, _, rest = data.partition(b"\r\n\r\n")
                if top.startswith(b"HTTP/1.1 100"):
                    data = rest
                    continue
                length = 0
                for line in top.decode("latin-1").lower().split("\r\n"):
                    if line.startswith("content-length:"):
                        length = int(line.split(":")[1])
                if len(rest) >= length:
                    break
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
            if time.monotonic() > deadline:
                raise TimeoutError("no answer")
    finally:
        sock.close()
    head_text, _, payload = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, payload, sent


def form_filename(name: str) -> bytes:
    """A file name as browsers and httpx put it in a multipart header (HTML5 form encoding)."""
    out = []
    for ch in name:
        if ch == '"':
            out.append("%22")
        elif ord(ch) < 0x20 and ch != "\x1b":
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out).encode("utf-8")


def stream_file_upload(port: int, token: str, path: Path, name: str, chunk: int = 1024 * 1024):
    """`POST /v1/documents` of one file, streamed from disk with its Content-Length (never read whole)."""
    boundary = os.urandom(12).hex().encode()
    pre = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + form_filename(name)
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )  # fmt: skip
    post = b"\r\n--" + boundary + b"--\r\n"
    length = len(pre) + path.stat().st_size + len(post)
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    def body():
        yield pre
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                yield block
        yield post

    return stream_request(port, head, body(), timeout=120)
