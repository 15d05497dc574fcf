"""Receiving uploads without trusting them: the multipart body is parsed as it streams in, each file
is written to the store's spool folder and hashed chunk by chunk, and every limit is checked as the
bytes arrive, so an oversize file is a 413 without ever being held in memory (nor written past its
limit), and multipart abuse (a thousand parts, huge fields or headers, a malformed body) is a 4xx.

Client file names are display text only: cleaned (last path component, no control or bidi
characters, at most 255 characters) and never part of a path; originals live under their sha256.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from extraction.errors import GongkaiError
from service.routes.errors import ApiError

if TYPE_CHECKING:
    from service.settings import Settings
    from service.store import FileStore

HEAD_BYTES = 64 * 1024  # what the API looks at to tell the kind (service/routes/intake.py: sniff)
FLUSH_BYTES = 1024 * 1024  # spool writes are batched and done off the event loop
NAME_LIMIT = 255
_FILENAME_STAR = re.compile(rb"filename\*\s*=\s*([^;]+)", re.I)
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, bidi/zero-width, unpaired…


def clean_text(text: str, limit: int = 300) -> str:
    """Display text from a document (an agency name) as file names are cleaned: NFC, no control,
    bidi-override or zero-width characters, runs of spaces as one, at most `limit` characters."""
    text = " ".join(unicodedata.normalize("NFC", text).split())  # tabs, odd spaces → one space
    return "".join(ch for ch in text if unicodedata.category(ch) not in _UNSAFE_CATEGORIES).strip()[:limit]


def clean_report(payload: dict[str, Any]) -> dict[str, Any]:
    """The extraction payload with its report's text fields (agency, …) cleaned for display."""
    report = payload.get("report")
    if isinstance(report, dict):
        payload["report"] = {k: clean_text(v) if isinstance(v, str) else v for k, v in report.items()}
    return payload


def clean_filename(raw: str | bytes | None) -> str:
    """A client's file name as safe display text: `../../etc/passwd` → `passwd`, no NUL or control
    characters, no right-to-left override, at most 255 characters (the extension kept)."""
    if raw is None:
        return "upload"
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch if unicodedata.category(ch) not in _UNSAFE_CATEGORIES else "" for ch in name)
    name = " ".join(name.split())  # tabs, odd spaces → one space
    name = name.strip(" .")
    if len(name) > NAME_LIMIT:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            name = stem[: NAME_LIMIT - len(ext) - 1] + "." + ext
        else:
            name = name[:NAME_LIMIT]
    return name or "upload"


@dataclass
class Received:
    """One file of an upload, fully received (or refused while it streamed in)."""

    name: str
    path: Path | None
    size: int
    sha256: str
    head: bytes
    error: GongkaiError | None = None  # refused as it arrived (too large)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_bytes: int = 0
    field_name: str = ""
    filename: str | bytes | None = None
    is_file: bool = False
    size: int = 0
    fd: int | None = None
    path: Path | None = None
    sha: Any = None
    head: bytearray = field(default_factory=bytearray)
    value: bytearray = field(default_factory=bytearray)
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    too_large: bool = False
    done: bool = False


def multipart_boundary(content_type: str | None) -> bytes:
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "uploads are multipart/form-data (field `files`)")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "bad_multipart", "the multipart body has no (or a malformed) boundary")
    return boundary


class MultipartReceiver:
    """Feed it the body chunk by chunk (`await feed(chunk)`), then `await finish()`."""

    def __init__(self, settings: Settings, store: FileStore, boundary: bytes) -> None:
        self.settings = settings
        self.store = store
        self.parts: list[_Part] = []
        self.current: _Part | None = None
        self._field = bytearray()
        self._value = bytearray()
        self.error: ApiError | None = None
        self.ended = False
        self.files = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            max_header_count=16,
            max_header_size=min(settings.max_part_header_bytes, 64 * 1024),
        )

    # parser callbacks (synchronous; they only record and check: I/O happens in feed())

    def _fail(self, status: int, code: str, message: str) -> None:
        if self.error is None:
            self.error = ApiError(status, code, message)
        raise self.error

    def _part_begin(self) -> None:
        if len(self.parts) >= self.settings.max_multipart_parts:
            self._fail(413, "too_many_parts", f"at most {self.settings.max_multipart_parts} parts per request")
        self.current = _Part()
        self.parts.append(self.current)

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._count_header(end - start)

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        part = self.current
        assert part is not None
        part.header_bytes += n
        if part.header_bytes > self.settings.max_part_header_bytes:
            self._fail(431, "part_headers_too_large", f"a part's headers are over {self.settings.max_part_header_bytes:,} bytes")

    def _header_end(self) -> None:
        assert self.current is not None
        self.current.headers[bytes(self._field).strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        part = self.current
        assert part is not None
        disposition = part.headers.get(b"content-disposition", b"")
        kind, params = parse_options_header(disposition)
        if kind != b"form-data":
            self._fail(400, "bad_multipart", "a part has no `Content-Disposition: form-data` header")
        part.field_name = params.get(b"name", b"").decode("utf-8", errors="replace")
        star = _FILENAME_STAR.search(disposition)
        if star:  # RFC 5987: filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf
            raw = star.group(1).strip().strip(b'"').decode("latin-1")
            charset, _, encoded = raw.partition("''")
            try:
                part.filename = urllib.parse.unquote(encoded or raw, encoding=charset or "utf-8", errors="replace")
            except LookupError:
                part.filename = urllib.parse.unquote(encoded or raw, errors="replace")
        elif b"filename" in params:
            part.filename = params[b"filename"]
        part.is_file = part.field_name == "files" and part.filename is not None
        if part.is_file:
            self.files += 1
            if self.files > self.settings.max_files_per_upload:
                self._fail(413, "too_many_files", f"at most {self.settings.max_files_per_upload} files per request")
            part.sha = hashlib.sha256()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        assert part is not None
        n = end - start
        part.size += n
        if not part.is_file:
            if part.size > self.settings.max_field_bytes:
                self._fail(413, "field_too_large", f"a form field is over {self.settings.max_field_bytes:,} bytes")
            part.value += data[start:end]
            return
        if part.too_large:
            return
        if part.size > self.settings.max_upload_bytes:
            part.too_large = True  # refused: nothing more is kept; the rest of the part is read and dropped
            part.pending.clear()
            part.pending_bytes = 0
            return
        chunk = bytes(data[start:end])
        part.sha.update(chunk)
        if len(part.head) < HEAD_BYTES:
            part.head += chunk[: HEAD_BYTES - len(part.head)]
        part.pending.append(chunk)
        part.pending_bytes += n

    def _part_end(self) -> None:
        if self.current is not None:
            self.current.done = True
        self.current = None

    def _end(self) -> None:
        self.ended = True

    # streaming

    async def feed(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        try:
            self.parser.write(chunk)
        except ApiError:
            raise
        except MultipartParseError as exc:
            raise ApiError(400, "bad_multipart", f"the multipart body is malformed: {exc}") from None
        for part in self.parts:
            if part.is_file and (part.pending_bytes >= FLUSH_BYTES or (part.done and part.pending)):
                await self._flush(part)
            if part.too_large and part.path is not None:
                await run_in_threadpool(self._drop, part)

    async def _flush(self, part: _Part) -> None:
        data, part.pending, part.pending_bytes = b"".join(part.pending), [], 0
        if not data:
            return
        await run_in_threadpool(self._write, part, data)

    def _write(self, part: _Part, data: bytes) -> None:
        if part.fd is None:
            part.fd, part.path = self.store.new_incoming()
        _write_all(part.fd, data)

    def _drop(self, part: _Part) -> None:
        if part.fd is not None:
            os.close(part.fd)
            part.fd = None
        if part.path is not None:
            part.path.unlink(missing_ok=True)
            part.path = None

    async def finish(self) -> list[Received]:
        try:
            self.parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, "bad_multipart", f"the multipart body is malformed: {exc}") from None
        if not self.ended:
            raise ApiError(400, "bad_multipart", "the multipart body ended before its closing boundary")
        for part in self.parts:
            if part.is_file and part.pending:
                await self._flush(part)
        return await run_in_threadpool(self._close_files)

    def _close_files(self) -> list[Received]:
        from extraction.errors import InputTooLarge

        out: list[Received] = []
        for part in self.parts:
            if not part.is_file:
                continue
            name = clean_filename(part.filename)
            if part.too_large:
                self._drop(part)
                err = InputTooLarge(
                    f"the file is over the limit of {self.settings.max_upload_bytes:,} bytes",
                    detail={"limit": self.settings.max_upload_bytes},
                )
                out.append(Received(name, None, part.size, "", b"", err))
                continue
            if part.fd is None and part.size == 0:
                out.append(Received(name, None, 0, part.sha.hexdigest(), b""))
                continue
            if part.fd is None:  # a small file: its bytes were written at its end
                part.fd, part.path = self.store.new_incoming()
            os.fsync(part.fd)  # the original is durable before a document row points to it
            os.close(part.fd)
            part.fd = None
            out.append(Received(name, part.path, part.size, part.sha.hexdigest(), bytes(part.head)))
        return out

    def has_files(self) -> bool:
        """Whether a spool file of this request may still exist (then `discard` has work to do)."""
        return any(part.fd is not None or (part.path is not None and part.path.exists()) for part in self.parts)

    def discard(self) -> None:
        """Remove every spool file of this request (refused, failed or disconnected)."""
        for part in self.parts:
            with contextlib.suppress(OSError):
                self._drop(part)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


async def drain(receive, limit: int, seconds: float = 5.0) -> bool:
    """Read and drop what is left of a refused request's body (at most `limit` bytes / `seconds`), so
    the client reads our 4xx instead of a reset connection. True if the body was read to its end."""
    deadline = time.monotonic() + seconds
    seen = 0
    while seen <= limit and time.monotonic() < deadline:
        message = await receive()
        if message["type"] != "http.request":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


class BodyLimit:
    """ASGI middleware: a request body over its limit is a 413, counted as it arrives (a chunked body
    has no Content-Length to check up front). Uploads get `upload_request_limit`, anything else
    `max_body_bytes` (JSON is parsed whole, so it must be small)."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit_for(self, scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/documents":
            return self.settings.upload_request_limit
        return self.settings.max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        code = "input_too_large" if limit == self.settings.upload_request_limit else "request_too_large"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _send_413(send, code, limit)
            return
        seen, tripped = 0, False

        async def limited_receive():
            nonlocal seen, tripped
            message = await receive()
            if message["type"] == "http.request" and not tripped:
                seen += len(message.get("body", b""))
                if seen > limit:
                    tripped = True  # once: what is left may then be drained
                    raise ApiError(413, code, f"the request body is over {limit:,} bytes")
            return message

        await self.app(scope, limited_receive, send)


EVICT_AFTER_S = 1.0  # an upload younger than this is never judged slow when a newcomer needs its slot


@dataclass
class _Flight:
    """One upload request being received: when it started, what has arrived, whether it was stopped."""

    started: float
    received: int = 0
    evicted: asyncio.Event = field(default_factory=asyncio.Event)
    refused: bool = False  # its body was refused as too slow (408): the slot is already given back
    released: bool = False
    complete: bool = False  # its whole body arrived: it is being stored, never stopped as slow

    def rate(self, now: float) -> float:
        return self.received / max(now - self.started, 1e-6)


class UploadGate:
    """ASGI middleware: at most `max_concurrent_uploads` upload requests at once; one more is answered
    429 with Retry-After before any other work (no authentication, no parsing), and its small body is
    drained so the client reads the answer. Counted here for the whole request, body included.

    Slow clients cannot hold the slots: a body that sends nothing for `upload_idle_timeout_s`, or arrives
    slower than `upload_min_bytes_per_s` once `upload_rate_grace_s` have passed, is refused (408
    `upload_too_slow`, connection closed); and when every slot is taken, the slowest upload below that
    rate (older than EVICT_AFTER_S) is stopped at once and its slot goes to the newcomer."""

    def __init__(self, app, settings: Settings, stats: UploadStats) -> None:
        self.app = app
        self.settings = settings
        self.stats = stats
        self.flights: list[_Flight] = []

    def _evict_one(self) -> bool:
        now = time.monotonic()
        floor = self.settings.upload_min_bytes_per_s
        slow = [
            f for f in self.flights
            if not f.released and not f.complete and now - f.started >= EVICT_AFTER_S and f.rate(now) < floor
        ]  # fmt: skip
        if not slow:
            return False
        victim = min(slow, key=lambda f: f.rate(now))
        self._release(victim)
        victim.evicted.set()
        self.stats.evicted_slow += 1
        return True

    def _release(self, flight: _Flight) -> None:
        if not flight.released:
            flight.released = True
            self.stats.in_flight -= 1

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != "/v1/documents":
            await self.app(scope, receive, send)
            return
        if self.stats.in_flight >= self.settings.max_concurrent_uploads and not self._evict_one():
            self.stats.rejected_busy += 1
            headers = dict(scope.get("headers") or [])
            drained = b"100-continue" in headers.get(b"expect", b"").lower() or await drain(receive, 1024 * 1024, 1.0)
            await _send_json(
                send,
                429,
                {"error": {"code": "too_busy", "message": "too many uploads at once; retry shortly"}},
                [(b"retry-after", b"1")] + ([] if drained else [(b"connection", b"close")]),
            )
            return
        flight = _Flight(time.monotonic())
        self.flights.append(flight)
        self.stats.in_flight += 1
        try:
            await self.app(scope, self._guarded(flight, receive), send)
        finally:
            self.flights.remove(flight)
            self._release(flight)

    def _guarded(self, flight: _Flight, receive):
        st = self.settings

        def too_slow(why: str) -> ApiError:
            flight.refused = True
            self._release(flight)  # the slot is free now, before the answer is even sent
            self.stats.rejected_slow += 1
            return ApiError(408, "upload_too_slow", why, headers={"Connection": "close"})

        async def guarded_receive():
            if flight.refused or flight.evicted.is_set():
                return {"type": "http.disconnect"}  # nothing more is read from it (a drain stops at once)
            recv = asyncio.ensure_future(receive())
            stop = asyncio.ensure_future(flight.evicted.wait())
            try:
                done, _ = await asyncio.wait(
                    {recv, stop}, timeout=st.upload_idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stop.cancel()
            if recv not in done:
                recv.cancel()
                if flight.evicted.is_set():
                    flight.refused = True
                    self.stats.rejected_slow += 1
                    raise ApiError(
                        408,
                        "upload_too_slow",
                        f"the upload arrived slower than {st.upload_min_bytes_per_s:,} bytes/s while every upload "
                        "slot was taken; it was stopped for another",
                        headers={"Connection": "close"},
                    )
                raise too_slow(f"the upload sent nothing for {st.upload_idle_timeout_s:g} s")
            message = recv.result()
            if message["type"] == "http.request":
                flight.received += len(message.get("body", b""))
                flight.complete = not message.get("more_body", False)
                now = time.monotonic()
                if (
                    message.get("more_body", False)
                    and now - flight.started > st.upload_rate_grace_s
                    and flight.rate(now) < st.upload_min_bytes_per_s
                ):
                    raise too_slow(
                        f"the upload arrives at {flight.rate(now):,.0f} bytes/s; the minimum is "
                        f"{st.upload_min_bytes_per_s:,} bytes/s"
                    )
            return message

        return guarded_receive


async def _send_json(send, status: int, payload: dict, extra: list[tuple[bytes, bytes]]) -> None:
    import json

    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_413(send, code: str, limit: int) -> None:
    """Refused from its Content-Length, before a byte of the body is read; the connection is closed."""
    message = f"the request body is over {limit:,} bytes"
    await _send_json(send, 413, {"error": {"code": code, "message": message}}, [(b"connection", b"close")])


@dataclass
class UploadStats:
    """Counters of the upload route (one event loop: plain integers are safe)."""

    in_flight: int = 0
    accepted: int = 0
    rejected_busy: int = 0
    rejected_queue_full: int = 0
    rejected_slow: int = 0  # bodies refused as too slow or idle (408 upload_too_slow)
    evicted_slow: int = 0  # of them, stopped to give their slot to a newcomer
