"""Review: the queue of cells to review across documents, a document's review state, accept or correct a
cell (the rules re-run on the corrected values), bulk accept (previewed, confirmed, never a blank cell),
undo of any review action, and the audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import Principal
from service.db import CellReview, Document
from service.review import ReviewedView, reviewed_view, summarize_reviews
from service.routes.deps import ERRORS, Reviewer, SessionDep, require_view, svc_of, visible_document
from service.routes.errors import ApiError
from service.routes.outputs import cell_out, review_state
from service.schemas import (
    AuditEntry,
    BulkAcceptBody,
    BulkAcceptOutcome,
    BulkAcceptPreview,
    CorrectBody,
    ReviewOutcome,
    ReviewState,
    UndoBody,
    UndoOutcome,
)
from service.values import CellValueError, validate_cell_value

router = APIRouter(prefix="/v1", tags=["review"])


@router.get("/review/queue", responses=ERRORS, summary="Cells to review across documents, riskiest first")
def review_queue(
    request: Request, s: SessionDep, who: Reviewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    svc = svc_of(request)
    items: list[tuple[tuple, dict[str, Any]]] = []
    for doc in s.scalars(select(Document).where(Document.status == "review").order_by(Document.id)):
        view = reviewed_view(s, doc, svc.settings.review_threshold)
        if view is None:
            continue
        for cid in view.open_reviews:
            cell = cell_out(view, cid)
            items.append(((not cell.failing_rules, cell.confidence, doc.id), {"document_id": doc.id, **cell.model_dump()}))
    items.sort(key=lambda x: x[0])
    return [i for _, i in items[:limit]]


@router.get("/documents/{doc_id}/review", responses=ERRORS, response_model=ReviewState)
def document_review(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> ReviewState:
    doc = visible_document(s, who, doc_id)
    return review_state(s, doc, require_view(request, s, doc))


def _record(
    request: Request,
    s: Session,
    who: Principal,
    doc: Document,
    cell_id: str,
    action: str,
    new: Any = None,
    comment: str | None = None,
) -> ReviewOutcome:
    view = require_view(request, s, doc)
    if cell_id not in view.result["cells"]:
        raise ApiError(404, "not_found", f"no cell {cell_id} in document {doc.id}")
    old = view.result["cells"][cell_id]["value"]
    s.add(
        CellReview(
            document_id=doc.id,
            result_id=doc.result_id,
            cell_id=cell_id,
            action=action,
            old_value=old,
            new_value=new if action == "correct" else old,
            reviewer_token_id=who.token_id,
            reviewer=who.name,
            comment=comment or None,
        )
    )
    s.flush()
    # re-run the rules on the corrected values (apply_reviews), then refresh the document's summary
    view = summarize_reviews(s, doc, svc_of(request).settings.review_threshold)
    return ReviewOutcome(
        cell=cell_out(view, cell_id),
        verified=view.verified,
        open_reviews=len(view.open_reviews),
        failed_rules=[c["rule"] for c in view.result["checks"] if not c["passed"] and c["severity"] == "error"],
        next_cell=view.open_reviews[0] if view.open_reviews else None,
    )


@router.post("/documents/{doc_id}/cells/{cell_id}/accept", responses=ERRORS, response_model=ReviewOutcome)
def accept_cell(request: Request, s: SessionDep, who: Reviewer, doc_id: int, cell_id: str) -> ReviewOutcome:
    return _record(request, s, who, visible_document(s, who, doc_id), cell_id, "accept")


@router.post("/documents/{doc_id}/cells/{cell_id}/correct", responses=ERRORS, response_model=ReviewOutcome)
def correct_cell(
    request: Request, s: SessionDep, who: Reviewer, doc_id: int, cell_id: str, body: CorrectBody
) -> ReviewOutcome:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    rep = view.result["report"]
    try:  # the cell's statutory type (service/values.py, the one validator): nothing invalid is stored
        value = validate_cell_value(rep["format"], rep.get("variants") or (), cell_id, body.value)
    except CellValueError as exc:
        if exc.reason == "unknown_cell":
            raise ApiError(404, "not_found", f"no cell {cell_id} in document {doc_id}") from None
        raise ApiError(422, "bad_value", exc.message, exc.to_detail(), message_en=exc.message_en) from None
    return _record(request, s, who, doc, cell_id, "correct", value, comment=body.comment)


@router.get("/documents/{doc_id}/audit", responses=ERRORS, response_model=list[AuditEntry])
def audit(s: SessionDep, who: Reviewer, doc_id: int) -> list[AuditEntry]:
    visible_document(s, who, doc_id)
    rows = list(s.scalars(select(CellReview).where(CellReview.document_id == doc_id).order_by(CellReview.id)))
    undone = {r.undoes for r in rows if r.action == "undo"}
    return [AuditEntry.model_validate(r, from_attributes=True).model_copy(update={"undone": r.id in undone}) for r in rows]


def bulk_choice(doc: Document, view: ReviewedView) -> BulkAcceptPreview:
    """Unreviewed cells that hold a value and are in no failing check. A blank cell is never accepted in
    bulk: an empty reading is how a missed 0 or a seal over a figure looks."""
    in_failing = {cid for c in view.result["checks"] if not c["passed"] for cid in c["cells"]}
    chosen, blank, failing = [], [], []
    for cid, cell in view.result["cells"].items():
        if cid in view.reviewed:
            continue
        if cid in in_failing:
            failing.append(cid)
        elif cell["value"] is None:
            blank.append(cid)
        else:
            chosen.append(cid)
    queued = set(view.open_reviews)
    return BulkAcceptPreview(
        document_id=doc.id,
        cells=len(chosen),
        cell_ids=chosen,
        queued=sum(1 for c in chosen if c in queued),
        skipped_blank=blank,
        skipped_failing=failing,
    )


@router.get(
    "/documents/{doc_id}/review/bulk-accept",
    response_model=BulkAcceptPreview,
    summary="What a bulk accept would accept (and skip): show it to the reviewer before confirming",
)
def bulk_accept_preview(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> BulkAcceptPreview:
    doc = visible_document(s, who, doc_id)
    return bulk_choice(doc, require_view(request, s, doc))


@router.post(
    "/documents/{doc_id}/review/bulk-accept",
    response_model=BulkAcceptOutcome,
    summary="Accept every unreviewed cell that holds a value and passes every rule (confirmed; undoable)",
)
def bulk_accept(request: Request, s: SessionDep, who: Reviewer, doc_id: int, body: BulkAcceptBody) -> BulkAcceptOutcome:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    preview = bulk_choice(doc, view)
    if not body.confirm:
        raise ApiError(
            422,
            "confirmation_required",
            f"批量接受需要确认：将接受 {preview.cells} 个单元格",
            {"preview": preview.model_dump()},
            message_en=f"bulk accept needs confirmation: it would accept {preview.cells} cells",
        )
    if body.expected_cells is not None and body.expected_cells != preview.cells:
        raise ApiError(
            409,
            "preview_stale",
            f"文档已变化：现在将接受 {preview.cells} 个单元格，而不是 {body.expected_cells} 个；请重新确认",
            {"preview": preview.model_dump()},
            message_en=f"the document changed: it would now accept {preview.cells} cells, not {body.expected_cells}",
        )
    batch = uuid.uuid4().hex if preview.cell_ids else None
    for cid in preview.cell_ids:
        value = view.result["cells"][cid]["value"]
        s.add(
            CellReview(
                document_id=doc.id,
                result_id=doc.result_id,
                cell_id=cid,
                action="bulk_accept",
                old_value=value,
                new_value=value,
                reviewer_token_id=who.token_id,
                reviewer=who.name,
                batch=batch,
            )
        )
    s.flush()
    view = summarize_reviews(s, doc, svc_of(request).settings.review_threshold)
    return BulkAcceptOutcome(
        accepted=len(preview.cell_ids), batch=batch, verified=view.verified, open_reviews=len(view.open_reviews)
    )


@router.post(
    "/documents/{doc_id}/review/undo",
    response_model=UndoOutcome,
    summary="Reverse a review action (a bulk accept: its whole batch); recorded in the audit trail",
)
def undo(request: Request, s: SessionDep, who: Reviewer, doc_id: int, body: UndoBody | None = None) -> UndoOutcome:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    rows = list(
        s.scalars(select(CellReview).where(CellReview.result_id == doc.result_id).order_by(CellReview.id))
    )
    undone = {r.undoes for r in rows if r.action == "undo"}
    live = [r for r in rows if r.action != "undo" and r.id not in undone]
    action_id = body.action_id if body else None
    if action_id is None:
        mine = [r for r in live if r.reviewer_token_id == who.token_id]
        if not mine:
            raise ApiError(
                409, "nothing_to_undo", "没有可撤销的审核操作", message_en="you have no review action to undo"
            )
        target = mine[-1]
    else:
        found = next((r for r in rows if r.id == action_id), None)
        if found is None:
            raise ApiError(404, "not_found", f"文档 {doc_id} 没有审核记录 {action_id}", message_en=f"no audit row {action_id}")
        if found.action == "undo":
            raise ApiError(409, "not_undoable", "撤销操作本身不能撤销", message_en="an undo cannot be undone")
        if found.id in undone:
            raise ApiError(409, "already_undone", f"审核记录 {action_id} 已撤销", message_en=f"audit row {action_id} is undone already")
        target = found
    group = [r for r in live if r.batch == target.batch] if target.batch else [target]
    for r in group:
        current = view.result["cells"].get(r.cell_id, {}).get("value")
        s.add(
            CellReview(
                document_id=doc.id,
                result_id=doc.result_id,
                cell_id=r.cell_id,
                action="undo",
                old_value=current,
                new_value=None,  # filled below: the value once the row is reversed
                reviewer_token_id=who.token_id,
                reviewer=who.name,
                batch=r.batch,
                undoes=r.id,
            )
        )
    s.flush()
    view = summarize_reviews(s, doc, svc_of(request).settings.review_threshold)
    for r in s.scalars(select(CellReview).where(CellReview.undoes.in_([g.id for g in group]))):
        r.new_value = view.result["cells"].get(r.cell_id, {}).get("value")
    return UndoOutcome(
        undone=[r.id for r in group],
        cells=sorted({r.cell_id for r in group}),
        verified=view.verified,
        open_reviews=len(view.open_reviews),
    )
