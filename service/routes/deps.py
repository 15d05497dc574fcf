"""What the routes depend on (FastAPI dependencies): the service, a database session, the caller's token
and role, and the documents the caller may read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, Role, authenticate
from service.core import Service
from service.db import Document, Upload
from service.review import ReviewedView, reviewed_view
from service.routes.errors import ApiError
from service.schemas import ErrorResponse

bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer gk_…` (see `gongkai tokens create`)")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or unknown token"},
    403: {"model": ErrorResponse, "description": "The token's role may not do this"},
}


def svc_of(request: Request) -> Service:
    return request.app.state.svc


def get_session(request: Request) -> Iterator[Session]:
    with svc_of(request).db.session() as s:
        yield s


# scope="function": the transaction commits before the response is sent, so a client that reads
# right after a write (the review UI reloads the document and its result at once) sees the write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _authenticate(svc: Service, secret: str) -> Principal | None:
    with svc.db.session() as s:
        who = authenticate(s, secret)
    if who is not None:
        svc.token_cache.put(secret, who)
    return who


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if creds is None or not creds.credentials:
        raise ApiError(401, "unauthenticated", "an API token is required (Authorization: Bearer …)")
    svc = svc_of(request)
    who = svc.token_cache.get(creds.credentials) or await run_in_threadpool(_authenticate, svc, creds.credentials)
    if who is None:
        raise ApiError(401, "unauthenticated", "the API token is unknown or revoked")
    return who


def require(role: Role):
    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.has(role):
            raise ApiError(403, "forbidden", f"this needs the {role} role (your token is {who.role})")
        return who

    dependency.__name__ = f"require_{role}"
    return dependency


Submitter = Annotated[Principal, Depends(require("submitter"))]
Reviewer = Annotated[Principal, Depends(require("reviewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def visible_document(s: Session, who: Principal, doc_id: int) -> Document:
    """The document, if `who` may read it: reviewers and admins read all, submitters their own uploads.
    Someone else's document is a 404, not a 403: its existence is not disclosed."""
    doc = s.get(Document, doc_id)
    if doc is not None and not who.has("reviewer"):
        owned = s.scalar(select(Upload.id).where(Upload.document_id == doc_id, Upload.token_id == who.token_id))
        doc = doc if owned else None
    if doc is None:
        raise ApiError(404, "not_found", f"no document {doc_id}")
    return doc


def require_view(request: Request, s: Session, doc: Document) -> ReviewedView:
    return require_view_of(svc_of(request), s, doc)


def require_view_of(svc: Service, s: Session, doc: Document) -> ReviewedView:
    view = reviewed_view(s, doc, svc.settings.review_threshold)
    if view is None:
        raise ApiError(409, "not_extracted", f"document {doc.id} has no result yet (status: {doc.status})")
    return view
