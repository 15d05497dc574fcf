"""Protections at the edge of the HTTP service (issue 18), as ASGI middleware and a log filter:

- `IdRange`: an id in a path beyond what the database can hold (≥ 2^31, PostgreSQL's integer) is a
  404, never a 500 from the driver (`OverflowError`, `integer out of range`);
- `SecurityHeaders`: nosniff and no framing on every answer; on the review UI a Content-Security-Policy
  with no inline script, `frame-ancestors 'none'` and no referrer;
- `redact_tokens`: a token that reached a URL (a pasted link) is never written whole to the access log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MAX_DB_ID = 2**31 - 1  # the largest id every supported database holds (PostgreSQL INTEGER); ids are smaller
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
COMMON_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
UI_HEADERS = [
    (b"content-security-policy", UI_CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
TOKEN_RE = re.compile(r"gk_[A-Za-z0-9_\-]{4,}")


class IdRange:
    """A path segment of digits under /v1/ over MAX_DB_ID is answered 404 `not_found` before routing."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            for part in scope["path"].split("/"):
                if part.isdigit() and (len(part) > 10 or int(part) > MAX_DB_ID):
                    await _send_json(send, 404, {"error": {"code": "not_found", "message": f"no such id: {part[:24]}"}})
                    return
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = COMMON_HEADERS + (UI_HEADERS if path == "/" or path.startswith("/ui") else [])

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_json(send, status: int, payload: dict) -> None:
    import json

    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def redact(text: str) -> str:
    return TOKEN_RE.sub(lambda m: m.group(0)[:6] + "…(redacted)", text)


class TokenRedactor(logging.Filter):
    """Rewrites a record's message and arguments with every `gk_…` token cut to its first characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def redact_tokens(*loggers: str) -> None:
    """Install the redactor on the access and error loggers (once each)."""
    for name in loggers or ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())
