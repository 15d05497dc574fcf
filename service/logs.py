"""Structured log lines: every line a worker writes while it runs a job names the job and its
document (`job=12 document=7`), so the lines of one document can be found across machines.

`GONGKAI_LOG_FORMAT=text` (default): `time LEVEL logger: message key=value …`;
`GONGKAI_LOG_FORMAT=json`: one JSON object a line, the same fields.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

# what the current thread works on; a job's worker thread sets it for the job's duration
_context: ContextVar[dict[str, Any] | None] = ContextVar("gongkai_log_context", default=None)
FIELDS = ("job", "document", "worker")


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Fields added to every log line written inside the block (by this thread)."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        record.gk_fields = {**ctx, **getattr(record, "gk", {})}
        return True


def _kv(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' ="\n')) else text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "gk_fields", None) or {}
        if fields:
            extra = " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
            head, sep, rest = line.partition("\n")  # a traceback stays below the line
            line = f"{head} {extra}{sep}{rest}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "host": _HOST,
        }
        out.update(getattr(record, "gk_fields", None) or {})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


_HOST = socket.gethostname()


def configure(level: str = "info", fmt: str | None = None) -> None:
    """The root logger of a service process (serve, worker): one handler on stderr."""
    from service.settings import Settings

    fmt = fmt or os.environ.get("GONGKAI_LOG_FORMAT") or Settings.model_fields["log_format"].default
    if fmt not in ("text", "json"):
        raise ValueError(f"GONGKAI_LOG_FORMAT={fmt!r}: it is 'text' or 'json'")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
