"""The HTTP layer's errors: `ApiError` (an answer with a status and a typed code), the HTTP status of each
typed error code (the library's errors carry their `code` only), and the app's exception handlers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from extraction.errors import GongkaiError, InputError
from service.errors import ChildFailed, ExportFailed, RenderFailed


class ApiError(HTTPException):
    """An error answer: `{"error": {"code", "message", "detail"?}}` with `status` (and `headers`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: dict | None = None,
        headers: dict[str, str] | None = None,
        message_en: str | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.code, self.message, self.extra = code, message, detail
        self.message_en = message_en  # beside a Chinese message: the same in English


ECHO_CHARS = 200  # what an error repeats of a request's own content


def bounded_errors(errors: Sequence[Any], keep: int = 20) -> list[dict[str, Any]]:
    """Validation errors with what the client sent cut to ECHO_CHARS (and at most `keep` of them)."""
    out = []
    for err in list(errors)[:keep]:
        err = {k: v for k, v in dict(err).items() if k not in ("ctx", "url")}
        if "input" in err:
            text = err["input"] if isinstance(err["input"], str) else repr(err["input"])
            if len(text) > ECHO_CHARS or not isinstance(err["input"], str | int | float | bool | type(None)):
                err["input"] = text[: ECHO_CHARS - 1] + "…" if len(text) > ECHO_CHARS else text
        err["msg"] = str(err.get("msg", ""))[:ECHO_CHARS]
        out.append(err)
    return out


# The HTTP status of each typed error code (extraction.errors, service/errors.py, extraction.registry).
STATUS: dict[str, int] = {
    "internal_error": 500,
    "bad_input": 422,
    "empty_input": 422,
    "unsupported_input": 415,
    "undecodable_text": 422,
    "input_too_large": 413,
    "not_a_report": 422,
    "tables_missing": 422,
    "corrupt_input": 422,
    "encrypted_input": 422,
    "time_limit_exceeded": 422,
    "ocr_unavailable": 503,
    "input_not_found": 404,
    "worker_crashed": 500,
    "memory_limit_exceeded": 422,
    "storage_error": 507,
    "original_missing": 500,
    "original_corrupt": 500,
    "no_page_image": 404,
    "server_busy": 429,
}
# a page render's child failed: the page's fault (422) unless it is missing or too large
RENDER_STATUS = {"no_page_image": 404, "input_too_large": 413}
# a batch export's child failed: over a limit (the server's, not the caller's: 503), else a defect (500)
EXPORT_LIMITS = ("time_limit_exceeded", "memory_limit_exceeded", "worker_crashed")


def status_for_code(code: str, default: int = 422) -> int:
    """The HTTP status of an error code (an upload item's, a child's): `default` for a code not listed."""
    return STATUS.get(code, default)


def http_status(exc: GongkaiError) -> int:
    """The HTTP status of a typed error: by its code, and for a child's failure by what the child served."""
    if isinstance(exc, ExportFailed):
        return 503 if exc.code in EXPORT_LIMITS else 500
    if isinstance(exc, RenderFailed):
        return RENDER_STATUS.get(exc.code, 422)
    if isinstance(exc, ChildFailed):
        return status_for_code(exc.code)
    return STATUS.get(exc.code, 422 if isinstance(exc, InputError) else 500)


def install(app: FastAPI) -> None:
    """The app's answers for ApiError, a request that fails validation, and a typed error."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.message_en:
            body["message_en"] = exc.message_en
        if exc.extra:
            body["detail"] = exc.extra
        return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, but what the client sent is never echoed back whole (a 10 MB field)
        return JSONResponse({"detail": bounded_errors(exc.errors())}, status_code=422)

    @app.exception_handler(GongkaiError)
    async def gongkai_error(_request: Request, exc: GongkaiError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=http_status(exc))
