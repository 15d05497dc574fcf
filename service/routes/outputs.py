"""The response shapes the routes build from database rows and reviewed views."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from extraction.schema import split_cell_id
from service.db import Document, Job, Result
from service.review import ReviewedView
from service.schemas import CellOut, DocumentOut, JobOut, ReviewState


def latest_job(s: Session, doc_id: int) -> Job | None:
    return s.scalar(select(Job).where(Job.document_id == doc_id).order_by(Job.id.desc()).limit(1))


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


def document_out(s: Session, doc: Document, with_job: bool = True) -> DocumentOut:
    version = None
    if doc.result_id is not None:
        version = s.scalar(select(Result.model_version).where(Result.id == doc.result_id))
    out = DocumentOut.model_validate(doc, from_attributes=True)
    out.model_version = version
    if with_job:
        job = latest_job(s, doc.id)
        out.job = job_out(job) if job else None
    return out


def cell_out(view: ReviewedView, cid: str) -> CellOut:
    c = view.result["cells"][cid]
    table, row, column = split_cell_id(cid)
    return CellOut(
        cell_id=cid,
        table=table,
        row=row,
        column=column,
        value=c["value"],
        confidence=c["confidence"],
        review=c["review"],
        reviewed=cid in view.reviewed,
        corrected=cid in view.corrected,
        flags=c.get("flags", []),
        failing_rules=view.failing.get(cid, []),
        page=c.get("page"),
        bbox=c.get("bbox"),
        text=c.get("text", ""),
        alternatives=c.get("alternatives", []),
        model=c.get("model", ""),
    )


def review_state(s: Session, doc: Document, view: ReviewedView) -> ReviewState:
    return ReviewState(
        document_id=doc.id,
        status="verified" if view.verified else "review",
        verified=view.verified,
        open_reviews=len(view.open_reviews),
        failed_rules=view.failed_rules,
        queue=[cell_out(view, cid) for cid in view.open_reviews],
    )
