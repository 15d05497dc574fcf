"""Labeled data and training: a reviewed document as truth JSON, importing labeled values, the verified
documents as a dataset, and training runs (split by document, measured on the held-out test set)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import training_adapter
from service.auth import Principal
from service.core import Service
from service.db import CellReview, Document, Job, TrainingRun
from service.review import reviewed_view, summarize_reviews, truth_record
from service.routes.deps import ERRORS, Admin, Reviewer, SessionDep, require_view, svc_of, visible_document
from service.routes.errors import ApiError
from service.schemas import (
    ErrorBody,
    LabeledImport,
    LabeledImportOutcome,
    LabeledRecord,
    LabeledRecordOutcome,
    TrainingRunCreate,
    TrainingRunOut,
)
from service.values import CellValueError, validate_cell_value

router = APIRouter(prefix="/v1", tags=["training"])


@router.get("/documents/{doc_id}/labeled", responses=ERRORS, summary="The reviewed document as truth JSON")
def labeled(request: Request, s: SessionDep, who: Reviewer, doc_id: int) -> dict[str, Any]:
    doc = visible_document(s, who, doc_id)
    view = require_view(request, s, doc)
    if not view.verified:
        raise ApiError(409, "not_verified", f"document {doc_id} still has {len(view.open_reviews)} cells to review")
    return truth_record(view)


@router.post(
    "/labeled",
    responses=ERRORS,
    response_model=LabeledImportOutcome,
    summary="Import labeled values (truth JSON) for extracted documents; each record is validated on its own",
)
def import_labeled(request: Request, s: SessionDep, who: Reviewer, body: LabeledImport) -> LabeledImportOutcome:
    """Each record names an extracted document (`document_id` or `sha256`) and gives values for some or
    all of its cells (`cells`, as in `GET /documents/{id}/labeled`). A record is checked whole (the
    document exists and has a result, its format matches, every cell id is one of the document's,
    every value has the cell's type) and imported in its own savepoint: a bad record is rejected
    with its code and changes nothing; the others are imported, recorded in the audit trail as
    `import` by the importing reviewer, and the rules re-run."""
    svc = svc_of(request)
    outcomes: list[LabeledRecordOutcome] = []
    for index, raw in enumerate(body.records):
        try:
            with s.begin_nested():
                outcomes.append(_import_record(svc, s, who, index, raw))
        except ApiError as exc:
            outcomes.append(
                LabeledRecordOutcome(
                    index=index,
                    status="rejected",
                    document_id=raw.get("document_id")
                    if isinstance(raw, dict) and isinstance(raw.get("document_id"), int)
                    else None,
                    error=ErrorBody(code=exc.code, message=exc.message, detail=exc.extra),
                )
            )
    imported = sum(1 for o in outcomes if o.status == "imported")
    return LabeledImportOutcome(imported=imported, rejected=len(outcomes) - imported, records=outcomes)


def _import_record(svc: Service, s: Session, who: Principal, index: int, raw: Any) -> LabeledRecordOutcome:
    from pydantic import ValidationError

    try:
        rec = LabeledRecord.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": ".".join(str(x) for x in e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]
        raise ApiError(422, "invalid_record", f"record {index} is not a labeled record", {"errors": errors}) from None
    if (rec.document_id is None) == (rec.sha256 is None):
        raise ApiError(422, "invalid_record", f"record {index}: give the document's id or its sha256 (one of them)")
    if rec.document_id is not None:
        doc = s.get(Document, rec.document_id)
    else:
        docs = list(s.scalars(select(Document).where(Document.sha256 == rec.sha256).limit(2)))
        if len(docs) > 1:  # submitters each have their own document of these bytes
            raise ApiError(
                409, "ambiguous_document", f"record {index}: several documents have this sha256; give document_id"
            )
        doc = docs[0] if docs else None
    if doc is None:
        raise ApiError(404, "not_found", f"record {index}: no such document")
    view = reviewed_view(s, doc, svc.settings.review_threshold)
    if view is None:
        raise ApiError(409, "not_extracted", f"record {index}: document {doc.id} has no result yet ({doc.status})")
    rep = view.result["report"]
    fmt = rec.format or (rec.report or {}).get("format")
    if fmt is not None and str(fmt) != rep["format"]:
        raise ApiError(
            422, "format_mismatch", f"record {index}: format {fmt}, but document {doc.id} is format {rep['format']}"
        )
    unknown = sorted(cid for cid in rec.cells if cid not in view.result["cells"])
    if unknown:
        raise ApiError(
            422,
            "unknown_cell",
            f"record {index}: {len(unknown)} cell ids are not cells of document {doc.id} (format {rep['format']})",
            {"cells": unknown[:20]},
        )
    values: dict[str, Any] = {}
    bad: list[dict[str, str]] = []
    for cid, raw_value in rec.cells.items():
        try:  # the one validator of every value that enters, as a reviewer's correction (service/values.py)
            values[cid] = validate_cell_value(rep["format"], rep.get("variants") or (), cid, raw_value)
        except CellValueError as exc:
            bad.append(exc.to_detail())
    if bad:
        raise ApiError(422, "bad_value", f"record {index}: {len(bad)} values are not valid", {"cells": bad[:20]})
    changed = 0
    for cid, value in values.items():
        old = view.result["cells"][cid]["value"]
        changed += old != value
        s.add(
            CellReview(
                document_id=doc.id,
                result_id=doc.result_id,
                cell_id=cid,
                action="import",
                old_value=old,
                new_value=value,
                reviewer_token_id=who.token_id,
                reviewer=who.name,
            )
        )
    s.flush()
    view = summarize_reviews(s, doc, svc.settings.review_threshold)
    return LabeledRecordOutcome(
        index=index, status="imported", document_id=doc.id, cells=len(values), changed=changed, verified=view.verified
    )


@router.get(
    "/training/dataset",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
    summary="Every verified document as labeled data (originals + truth/*.json), zipped",
)
def training_dataset(request: Request, who: Admin) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        training_adapter.export_labeled(svc_of(request), Path(tmp))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(tmp).as_posix())
    return Response(
        buf.getvalue(), media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="labeled.zip"'}
    )


@router.post("/training/runs", status_code=202, response_model=TrainingRunOut)
def start_training(request: Request, s: SessionDep, who: Admin, body: TrainingRunCreate) -> TrainingRunOut:
    """A training job on the verified documents (or `document_ids`), split by document into train,
    validation and test sets; refused at once when there are too few documents to split."""
    settings = svc_of(request).settings
    for key in ("version", "base_version"):  # a folder name in the model registry: never a path
        if body.params.get(key) is not None:
            try:
                training_adapter.check_version(body.params[key], key)
            except ValueError as exc:
                raise ApiError(422, "invalid_version", str(exc), {"pattern": training_adapter.VERSION_PATTERN}) from None
    if training_adapter.available():
        docs = training_adapter.trainable_documents(s, body.document_ids or None)
        need = settings.training_min_documents
        if len(docs) < need:
            raise ApiError(
                422,
                "too_few_documents",
                f"只有 {len(docs)} 份已核验的文档；训练至少需要 {need} 份（训练、验证、测试各至少一份，互不重叠）",
                {"documents": len(docs), "needed": need},
                message_en=f"{len(docs)} verified documents; a training run needs at least {need} "
                "(train, validation and test, at least one each, never overlapping)",
            )
        try:
            training_adapter.writable_models_dir(settings)
        except training_adapter.ModelsDirReadOnly as exc:
            raise ApiError(409, "models_dir_read_only", str(exc)) from None
    run = TrainingRun(params=body.params, documents=body.document_ids or [], created_by=who.name)
    s.add(run)
    s.flush()
    job = Job(kind="train", training_run_id=run.id)
    s.add(job)
    s.flush()
    run.job_id = job.id
    s.commit()
    svc_of(request).enqueue(job.id)
    s.refresh(run)
    return TrainingRunOut.model_validate(run, from_attributes=True)


@router.get("/training/runs", response_model=list[TrainingRunOut])
def list_training_runs(s: SessionDep, who: Admin) -> list[TrainingRunOut]:
    runs = s.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()))
    return [TrainingRunOut.model_validate(r, from_attributes=True) for r in runs]


@router.get("/training/runs/{run_id}", response_model=TrainingRunOut)
def get_training_run(s: SessionDep, who: Admin, run_id: int) -> TrainingRunOut:
    run = s.get(TrainingRun, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no training run {run_id}")
    return TrainingRunOut.model_validate(run, from_attributes=True)
