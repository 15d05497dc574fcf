"""Database helpers shared by the routes and the jobs: the reviewed view of a document, its summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import CellReview, Document, Result
from service.review import ReviewAction, ReviewedView, apply_reviews

if TYPE_CHECKING:
    from service.core import Service


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


def reviewed_view(svc: Service, s: Session, doc: Document) -> ReviewedView | None:
    if doc.result_id is None:
        return None
    result = s.get(Result, doc.result_id)
    if result is None:
        return None
    rows = list(s.scalars(select(CellReview).where(CellReview.result_id == result.id).order_by(CellReview.id)))
    return apply_reviews(result.data, live_actions(rows), svc.settings.review_threshold)


def live_actions(rows: list[CellReview]) -> list[ReviewAction]:
    """The audit rows that are in effect, in order: neither an undo nor undone by one."""
    undone = {r.undoes for r in rows if r.action == "undo"}
    return [
        ReviewAction(r.cell_id, r.action, r.new_value, r.reviewer)
        for r in rows
        if r.action != "undo" and r.id not in undone
    ]


def summarize_reviews(svc: Service, s: Session, doc: Document) -> ReviewedView:
    """After review rows were added: the document's reviewed view, its summary columns refreshed.

    The document row is locked first (PostgreSQL; SQLite serialises writers anyway), so two reviewers
    saving cells of one document at once cannot each write a summary that misses the other's cell.
    """
    # FOR NO KEY UPDATE: it waits for another reviewer's summary, not for the key-share locks that
    # inserting review rows (foreign key to the document) takes, so it cannot deadlock with them
    s.execute(select(Document.id).where(Document.id == doc.id).with_for_update(key_share=True))
    view = reviewed_view(svc, s, doc)
    if view is None:  # the result was there when the review rows were added, in this transaction
        raise RuntimeError(f"document {doc.id} lost its result while being reviewed")
    refresh_summary(s, doc, view)
    return view


def refresh_summary(s: Session, doc: Document, view: ReviewedView) -> None:
    s.execute(
        update(Document)
        .where(Document.id == doc.id)
        .values(
            open_reviews=len(view.open_reviews),
            failed_rules=view.failed_rules,
            status="verified" if view.verified else "review",
        )
    )
