"""Model versions (the baseline, the shipped models, those trained here; activating one) and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from service import training_adapter
from service.auth import create_token, revoke_token
from service.db import ModelVersion, Token
from service.routes.deps import ERRORS, Admin, Reviewer, SessionDep, svc_of
from service.routes.errors import ApiError
from service.schemas import ModelOut, TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/v1")


@router.get("/models", tags=["training"], response_model=list[ModelOut], summary="Model versions side by side; the active one")
def list_models(request: Request, s: SessionDep, who: Reviewer) -> list[ModelOut]:
    """The baseline, the models that ship with gongkai (read-only) and those this service trained. The
    active one is what new extractions use: an activated version, else the registry's (as `gongkai
    extract` uses it)."""
    active_version, _ = training_adapter.active_labeler(s, svc_of(request).settings)
    rows = {r.version: r for r in s.scalars(select(ModelVersion).order_by(ModelVersion.id))}
    out: list[ModelOut] = []
    version, labeler = training_adapter.BASELINE
    out.append(ModelOut(version=version, labeler=labeler, metrics={}, training_run_id=None, active=False))
    for shipped in training_adapter.shipped_models():
        out.append(
            ModelOut(
                version=shipped["version"],
                labeler=training_adapter.AUTO_PREFIX + str(shipped["folder"]),
                metrics=shipped["metrics"],
                training_run_id=None,
                active=False,
                shipped=True,
            )
        )
    listed = {m.version for m in out}
    for folder in training_adapter.folder_models(svc_of(request).settings.models_path):  # `gongkai train --models-dir`
        if folder["version"] not in listed and folder["version"] not in rows:
            out.append(
                ModelOut(
                    version=folder["version"],
                    labeler=training_adapter.AUTO_PREFIX + str(folder["folder"]),
                    metrics=folder["metrics"],
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


@router.post("/models/{version}/activate", tags=["training"], response_model=ModelOut)
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


@router.post("/tokens", tags=["tokens"], responses=ERRORS, status_code=201, response_model=TokenCreated)
def new_token(s: SessionDep, who: Admin, body: TokenCreate) -> TokenCreated:
    row, secret = create_token(s, body.name, body.role)
    return TokenCreated(**TokenOut.model_validate(row, from_attributes=True).model_dump(), token=secret)


@router.get("/tokens", tags=["tokens"], responses=ERRORS, response_model=list[TokenOut])
def list_tokens(s: SessionDep, who: Admin) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True) for t in s.scalars(select(Token).order_by(Token.id))]


@router.delete("/tokens/{token_id}", tags=["tokens"], responses=ERRORS, status_code=204)
def delete_token(request: Request, s: SessionDep, who: Admin, token_id: int) -> Response:
    if not revoke_token(s, token_id):
        raise ApiError(404, "not_found", f"no token {token_id}")
    svc_of(request).token_cache.evict(token_id)
    return Response(status_code=204)
