"""Training runs and model versions: start a run (split by document, compared with the active model),
follow its progress, list the models side by side, activate one (a worse candidate is refused unless
forced). Included by `service.api.create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from service import training_adapter
from service.api import Admin, Reviewer, SessionDep, svc_of
from service.api_support import ApiError
from service.db import Job, ModelVersion, TrainingRun
from service.schemas import ModelOut, TrainingRunCreate, TrainingRunOut

router = APIRouter(prefix="/v1", tags=["training"])


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


@router.get("/models", response_model=list[ModelOut], summary="Model versions side by side; the active one")
def list_models(request: Request, s: SessionDep, who: Reviewer) -> list[ModelOut]:
    """The baseline, the models that ship with gongkai (read-only) and those this service trained. The
    active one is what new extractions use: an activated version, else the registry's (as `gongkai
    extract` uses it)."""
    active_version, _ = training_adapter.active_labeler(s, svc_of(request).settings)
    rows = {r.version: r for r in s.scalars(select(ModelVersion).order_by(ModelVersion.id))}
    out: list[ModelOut] = []
    version, labeler = training_adapter.BASELINE
    out.append(ModelOut(version=version, labeler=labeler, metrics={}, training_run_id=None, active=False))
    for m in training_adapter.shipped_models():
        out.append(
            ModelOut(
                version=m["version"],
                labeler=training_adapter.AUTO_PREFIX + str(m["folder"]),
                metrics=m["metrics"],
                training_run_id=None,
                active=False,
                shipped=True,
            )
        )
    listed = {m.version for m in out}
    for m in training_adapter.folder_models(svc_of(request).settings.models_path):  # e.g. `gongkai train --models-dir`
        if m["version"] not in listed and m["version"] not in rows:
            out.append(
                ModelOut(
                    version=m["version"],
                    labeler=training_adapter.AUTO_PREFIX + str(m["folder"]),
                    metrics=m["metrics"],
                    training_run_id=None,
                    active=False,
                )
            )
    listed = {m.version for m in out}
    for i, m in enumerate(out):  # a shipped version or the baseline activated here has a row too
        row = rows.get(m.version)
        if row is not None:
            out[i] = m.model_copy(update={"created_at": row.created_at, "activated_at": row.activated_at})
    out += [ModelOut.model_validate(r, from_attributes=True) for v, r in rows.items() if v not in listed]
    return [m.model_copy(update={"active": m.version == active_version}) for m in out]


@router.post("/models/{version}/activate", response_model=ModelOut)
def activate_model(
    request: Request,
    s: SessionDep,
    who: Admin,
    version: str,
    force: Annotated[bool, Query(description="Activate even a candidate measured worse than the active model")] = False,
) -> ModelOut:
    from extraction.registry import ModelIntegrityError, ModelNotFound

    try:
        row = training_adapter.activate(s, svc_of(request).settings, version, force=force)
    except training_adapter.ActivationRefused as exc:
        raise ApiError(409, exc.code, exc.message, exc.detail, message_en=exc.message_en) from None
    except ModelIntegrityError as exc:  # a flipped byte, a missing file: it is not loaded, nor activated
        raise ApiError(409, "model_integrity", f"model {version} fails its integrity check: {exc.message}") from None
    except ModelNotFound as exc:
        raise ApiError(404, "not_found", exc.message) from None
    except training_adapter.ModelsDirReadOnly as exc:
        raise ApiError(409, "models_dir_read_only", str(exc)) from None
    if row is None:
        raise ApiError(404, "not_found", f"no model version {version}")
    s.flush()
    out = ModelOut.model_validate(row, from_attributes=True)
    return out.model_copy(update={"shipped": version in {m["version"] for m in training_adapter.shipped_models()}})
