"""The one place where the service meets the training code (`training/`, `extraction/registry.py`,
`extraction.layout.model`), which is developed separately. Nothing here fakes a model: when the
training code or a base model to fine-tune is missing, the run fails with `training_unavailable`.

The interface used is the documented command line, run as a child process (memory of a torch
training run stays out of the worker, and the worker keeps heart-beating):

    gongkai train --version V --fine-tune BASE --labeled TRAIN --labeled-val VAL --models-dir M ...

A run splits the verified documents by document into train, validation and test sets that never
overlap (`split_documents`), states the split in the model card, and then measures the new model
and the model it would replace on the same held-out test documents (`service/training_eval.py`).
The new version lives in the service's models folder (`GONGKAI_MODELS_DIR`, default
`<GONGKAI_DATA_DIR>/models`), never in the source tree; the shipped models (`models/`) stay read-only.

Which model new extractions use: the active `ModelVersion` row, else the registry's active version
(`registry.json` of the models folder, falling back on the shipped `models/registry.json`:
`layout-v3`), run as the `auto` labeler, as `gongkai extract` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import Document, ModelVersion, TrainingRun, utcnow
from service.errors import public_message

# A ModelVersion.labeler names its labeler as PipelineOptions.labeler reads it (extraction.pipeline's
# labeler_spec): "auto:<folder>", the model on OCR'd pages and the baseline elsewhere, as `gongkai
# extract` runs it; "model:<folder>", the model on every document.
AUTO_PREFIX = "auto:"
MODEL_PREFIX = "model:"

if TYPE_CHECKING:
    from service.core import Service
    from service.settings import Settings

log = logging.getLogger("gongkai.training")

BASELINE = ("baseline@1", "baseline")
# A model version is a folder name in the registry: letters, digits, `.`, `_`, `-` (no `/`, no `..`)
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_VERSION_RE = re.compile(VERSION_PATTERN)


def check_version(name: Any, what: str = "version") -> str:
    """`name` if it is a valid model version name, else ValueError (a message safe to show)."""
    if not isinstance(name, str) or not _VERSION_RE.fullmatch(name) or ".." in name:
        shown = repr(name)[:60]
        raise ValueError(
            f"{what} {shown} is not a model version name: letters, digits, '.', '_', '-', at most 100, no '..' "
            "(模型版本名只能包含字母、数字、点、下划线和连字符)"
        )
    return name


EXTENSIONS = {"txt": "txt", "md": "md", "html": "html", "docx": "docx", "pdf": "pdf", "image": "png"}
# a training log line: "epoch 2: loss 0.1234  val anchor F1 0.9876 ..."
EPOCH_LINE = re.compile(r"^epoch (\d+): loss ([0-9.eE+-]+)\s+val anchor F1 ([0-9.eE+-]+)")


class ModelsDirReadOnly(Exception):
    """The service was pointed at the shipped models folder of the source tree, which it never writes."""


@dataclass
class TrainingOutcome:
    version: str | None = None
    labeler: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None


def _training_modules():
    """(registry module, train command) or None when this installation has no training code."""
    try:
        from extraction import registry
        from training.cli import train_cmd  # noqa: F401
        from training.labeled import load_labeled_dir  # noqa: F401
    except ImportError:
        return None
    return registry


def available() -> bool:
    return _training_modules() is not None


def shipped_dir() -> Path:
    from extraction.registry import SHIPPED_DIR

    return SHIPPED_DIR


def writable_models_dir(settings: Settings) -> Path:
    """The service's models folder; refused when it is the shipped one (the source tree)."""
    path = settings.models_path
    if path.resolve() == shipped_dir().resolve() or shipped_dir().resolve() in path.resolve().parents:
        raise ModelsDirReadOnly(
            f"GONGKAI_MODELS_DIR is {path}, the shipped models of the source tree, which the service never "
            "writes: point it under the data directory (the default is <GONGKAI_DATA_DIR>/models)"
        )
    return path


def registry_default(settings: Settings) -> tuple[str, str]:
    """(version, labeler spec) the registry names active, run as the `auto` labeler (the model on OCR'd
    pages, the baseline elsewhere), as `gongkai extract` does; the baseline if no model resolves."""
    from extraction import registry

    try:
        folder, manifest = registry.resolve(None, settings.models_path, shipped_dir())
    except (registry.ModelNotFound, registry.ModelIntegrityError) as exc:
        log.warning("no active layout model (%s): new extractions use the baseline", exc.message)
        return BASELINE
    return manifest.version, AUTO_PREFIX + str(folder.resolve())


def active_labeler(session: Session, settings: Settings | None = None) -> tuple[str, str]:
    """(model version, labeler spec) for new extractions: the activated version, else the registry's."""
    row = session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
    if row is not None:
        return row.version, row.labeler
    if settings is None:
        from service.settings import Settings

        settings = Settings()
    return registry_default(settings)


def result_version(version: str, labeler: str, payload: dict[str, Any]) -> str:
    """The version a result records: under the `auto` labeler, what labeled this document (the model's
    version on OCR'd pages, `baseline@1` elsewhere: its cells say the same); else the active version."""
    if not labeler.startswith(AUTO_PREFIX):
        return version
    layout = str((payload.get("pipeline") or {}).get("layout") or "")
    return layout.split("@", 1)[1] if layout.startswith("model@") else (layout or version)


def shipped_models() -> list[dict[str, Any]]:
    """The models that ship with gongkai: version, folder, the card's headline figures."""
    return folder_models(shipped_dir())


def folder_models(models_dir: Path) -> list[dict[str, Any]]:
    """The model versions of one registry folder: version, folder, the card's headline figures."""
    from extraction import registry

    out = []
    for version in registry.list_versions(models_dir):
        folder = models_dir / version
        try:
            card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            card = {}
        out.append({"version": version, "folder": folder, "metrics": card_metrics(card)})
    return out


def card_metrics(card: dict[str, Any]) -> dict[str, Any]:
    """The figures of a model card worth showing side by side (no vocabulary, no per-epoch history)."""
    return {k: v for k, v in card.items() if k not in ("vocab", "history")}


def export_labeled(svc: Service, out_dir: Path, document_ids: list[int] | None = None) -> list[int]:
    """Verified documents as labeled data: `<out>/<id>.<ext>` (the original) + `<out>/truth/<id>.json`."""
    from service.review import reviewed_view, truth_record

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(exist_ok=True)
    written: list[int] = []
    with svc.db.session() as s:
        query = select(Document).where(Document.status == "verified")
        if document_ids:
            query = query.where(Document.id.in_(document_ids))
        for doc in s.scalars(query.order_by(Document.id)):
            view = reviewed_view(s, doc, svc.settings.review_threshold)
            if view is None:
                continue
            stem = f"doc-{doc.id:06d}"
            (out_dir / f"{stem}.{EXTENSIONS.get(doc.kind, 'bin')}").write_bytes(svc.store.get(doc.sha256))
            (out_dir / "truth" / f"{stem}.json").write_text(
                json.dumps(truth_record(view), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
            written.append(doc.id)
    return written


def trainable_documents(s: Session, document_ids: list[int] | None) -> list[tuple[int, str]]:
    """(id, sha256) of the verified documents a run would train on."""
    query = select(Document.id, Document.sha256).where(Document.status == "verified")
    if document_ids:
        query = query.where(Document.id.in_(document_ids))
    return [(int(i), str(h)) for i, h in s.execute(query.order_by(Document.id)).all()]


def split_documents(docs: list[tuple[int, str]], holdout_share: float, min_documents: int) -> dict[str, list[int]]:
    """Train / validation / test by document, never overlapping. The order is by a hash of each
    document's sha256 (the same documents always split the same way, unrelated to upload order); the
    test and the validation sets hold `holdout_share` of the documents each, at least one. Fewer than
    `min_documents` documents: ValueError (a split with an empty set would measure nothing)."""
    if len(docs) < max(3, min_documents):
        raise ValueError(f"{len(docs)} verified documents; a training run needs at least {max(3, min_documents)}")
    order = sorted(docs, key=lambda d: hashlib.sha256(f"split:{d[1]}".encode()).hexdigest())
    ids = [d[0] for d in order]
    held = max(1, round(holdout_share * len(ids)))
    test, val, train = ids[:held], ids[held : 2 * held], ids[2 * held :]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def _set_progress(svc: Service, run_id: int, progress: dict[str, Any]) -> None:
    with svc.db.session() as s:
        s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(progress=progress))


def _run_logged(cmd: list[str], timeout_s: float, on_line) -> tuple[int, list[str]]:
    """Run a child, handing each output line to `on_line`; killed after `timeout_s`. (exit code, last lines)"""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    tail: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-19:], line]
            on_line(line)
        code = proc.wait()
    finally:
        timer.cancel()
    return code, tail


def run_training(svc: Service, run_id: int) -> TrainingOutcome:
    """Train a run; its outcome's message never carries a traceback or a server path (logged instead)."""
    try:
        return _run_training(svc, run_id)
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        return TrainingOutcome(
            error_code="training_failed", error_message=f"{type(exc).__name__}: {public_message(str(exc))}"
        )


class _Refused(Exception):
    """A training run that cannot start: its typed code and message for the run's record."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Plan:
    models_dir: Path
    split: dict[str, list[int]]
    base: str  # the version fine-tuned
    base_folder: Path
    version: str  # the version trained


def _plan(svc: Service, run_id: int, registry: Any, params: dict[str, Any], docs: list[tuple[int, str]],
          active_version: str) -> _Plan:  # fmt: skip
    """Where the model goes, the documents' split, the base model and the new version; `_Refused` when
    the run cannot start."""
    try:
        models_dir = writable_models_dir(svc.settings)
    except ModelsDirReadOnly as exc:
        raise _Refused("models_dir_read_only", str(exc)) from None
    try:
        for key in ("version", "base_version"):  # checked when the run was created; a run stored before is checked here
            if params.get(key) is not None:
                check_version(params[key], key)
    except ValueError as exc:
        raise _Refused("invalid_version", str(exc)) from None
    try:
        split = split_documents(docs, svc.settings.training_holdout_share, svc.settings.training_min_documents)
    except ValueError as exc:
        raise _Refused("too_few_documents", str(exc)) from None
    base = params.get("base_version") or (active_version if active_version != BASELINE[0] else None)
    try:
        base_folder, _ = registry.resolve(base, models_dir, shipped_dir())
    except (registry.ModelNotFound, registry.ModelIntegrityError) as exc:
        raise _Refused(
            "training_unavailable",
            f"training unavailable: no base model version to fine-tune ({public_message(exc.message)}; "
            "train one with `gongkai train --version ...`, or pass params.base_version)",
        ) from None
    base = base or base_folder.name
    try:
        version = check_version(params.get("version") or f"{base}-ft{run_id}-{utcnow():%Y%m%d%H%M%S}")
    except ValueError as exc:
        raise _Refused("invalid_version", str(exc)) from None
    if (models_dir / version).resolve().parent != models_dir.resolve():
        raise _Refused("invalid_version", f"version {version!r} is outside the registry")
    return _Plan(models_dir, split, base, base_folder, version)


def _run_training(svc: Service, run_id: int) -> TrainingOutcome:
    registry = _training_modules()
    with svc.db.session() as s:
        run = s.get(TrainingRun, run_id)
        if run is None:
            raise RuntimeError(f"training run {run_id} is gone")
        params, doc_ids = dict(run.params or {}), list(run.documents or [])
        active_version, active_spec = active_labeler(s, svc.settings)
        docs = trainable_documents(s, doc_ids or None)
    if registry is None:
        return TrainingOutcome(
            error_code="training_unavailable",
            error_message="training unavailable: this installation has no training code (training.cli, "
            "training.labeled, extraction.registry); no model was trained",
        )
    try:
        plan = _plan(svc, run_id, registry, params, docs, active_version)
    except _Refused as exc:
        return TrainingOutcome(error_code=exc.code, error_message=exc.message)
    models_dir, split, base, base_folder, version = (
        plan.models_dir, plan.split, plan.base, plan.base_folder, plan.version,
    )  # fmt: skip
    epochs = int(params.get("epochs", 3))
    metrics: dict[str, Any] = {"base_version": base, "split": split}
    started = time.monotonic()
    progress: dict[str, Any] = {"stage": "exporting", "epoch": 0, "epochs": epochs, "elapsed_s": 0.0}
    _set_progress(svc, run_id, progress)
    with tempfile.TemporaryDirectory(prefix="gongkai-train-") as tmp:
        dirs = {name: Path(tmp) / name for name in split}
        for name, ids in split.items():
            export_labeled(svc, dirs[name], ids)
        with svc.db.session() as s:
            s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(documents=[i for ids in split.values() for i in ids]))
        card_extra = Path(tmp) / "card-extra.json"
        card_extra.write_text(
            json.dumps({"split": {"by": "document", **split}, "trained_by": "gongkai serve", "run": run_id}),
            encoding="utf-8",
        )
        cmd = [
            sys.executable, "-m", "gongkai.cli", "train",
            "--version", version,
            "--fine-tune", str(base_folder),
            "--labeled", str(dirs["train"]),
            "--labeled-val", str(dirs["val"]),
            "--card-extra", str(card_extra),
            "--models-dir", str(models_dir),
            "--cache", str(Path(tmp) / "cache"),
            "--epochs", str(epochs),
            "--max-minutes", str(float(params.get("max_minutes", 20))),
            "--no-evaluate",
        ]  # fmt: skip
        if params.get("max_steps"):
            cmd += ["--max-steps", str(int(params["max_steps"]))]
        log.info("training run %s: %s", run_id, " ".join(cmd))
        progress.update(stage="training")
        _set_progress(svc, run_id, progress)

        def on_line(line: str) -> None:
            m = EPOCH_LINE.match(line)
            if not m:
                return
            epoch = int(m.group(1))
            elapsed = time.monotonic() - started
            progress.update(
                epoch=epoch,
                loss=float(m.group(2)),
                val_f1=float(m.group(3)),
                elapsed_s=round(elapsed, 1),
                eta_s=round(elapsed / epoch * max(0, epochs - epoch), 1),
            )
            _set_progress(svc, run_id, progress)

        code, tail = _run_logged(cmd, float(params.get("timeout_s", 7200)), on_line)
        if code != 0:  # the output goes to the log; the run's record gets its last message (no traceback, no paths)
            output = "\n".join(tail)
            log.warning("training run %s: gongkai train exited %s:\n%s", run_id, code, output)
            _set_progress(svc, run_id, {**progress, "stage": "failed"})
            return TrainingOutcome(
                metrics=metrics,
                error_code="training_failed",
                error_message=f"gongkai train exited {code}: {public_message(output)}",
            )
        card_path = models_dir / version / "card.json"
        if not card_path.is_file():
            return TrainingOutcome(
                metrics=metrics, error_code="training_failed", error_message=f"no model card for version {version}"
            )
        progress.update(stage="comparing", elapsed_s=round(time.monotonic() - started, 1), eta_s=None)
        _set_progress(svc, run_id, progress)
        candidate = AUTO_PREFIX + str((models_dir / version).resolve())
        comparison = compare_on(dirs["test"], candidate, active_spec, float(params.get("timeout_s", 7200)))
    comparison.update(documents=split["test"], against=active_version, candidate_version=version)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    metrics.update(card_metrics(card))
    metrics["comparison"] = comparison
    progress.update(stage="done", elapsed_s=round(time.monotonic() - started, 1), eta_s=0)
    _set_progress(svc, run_id, progress)
    # the folder, not the bare name: workers load exactly this version whatever their default registry
    return TrainingOutcome(version=version, labeler=candidate, metrics=metrics)


def compare_on(test_dir: Path, candidate: str, active: str, timeout_s: float) -> dict[str, Any]:
    """The candidate and the active model on the same held-out documents (a child process: torch and
    the models stay out of the worker). {"candidate": summary, "active": summary, "verdict"}."""
    cmd = [sys.executable, "-m", "service.training_eval", str(test_dir), candidate, active]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        log.warning("comparison of %s failed:\n%s", candidate, proc.stderr or proc.stdout)
        return {"verdict": "unknown", "error": public_message(proc.stderr or proc.stdout or "")}
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    cand, act = got["candidate"], got["active"]
    verdict = "better" if cand["wrong"] < act["wrong"] else "worse" if cand["wrong"] > act["wrong"] else "equal"
    return {"candidate": cand, "active": act, "verdict": verdict}


def record_model(session: Session, run_id: int, outcome: TrainingOutcome) -> None:
    existing = session.scalar(select(ModelVersion).where(ModelVersion.version == outcome.version))
    if existing is None:
        session.add(
            ModelVersion(
                version=outcome.version, labeler=outcome.labeler, metrics=outcome.metrics, training_run_id=run_id
            )
        )


class ActivationRefused(Exception):
    def __init__(self, code: str, message: str, message_en: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message_en)
        self.code, self.message, self.message_en, self.detail = code, message, message_en, detail or {}


def activation_gate(row: ModelVersion, active_version: str) -> None:
    """Refuse (ActivationRefused) a trained candidate that measured worse than the model it was compared
    with on the held-out documents, or whose comparison was against a model no longer active."""
    comparison = (row.metrics or {}).get("comparison")
    if not comparison:
        return  # not made by a training run of this service (registered by hand): nothing measured
    against = comparison.get("against")
    cand, act = comparison.get("candidate") or {}, comparison.get("active") or {}
    figures = {
        "against": against,
        "documents": comparison.get("documents"),
        "candidate_wrong": cand.get("wrong"),
        "active_wrong": act.get("wrong"),
        "cells": cand.get("cells"),
    }
    if comparison.get("verdict") == "worse":
        raise ActivationRefused(
            "candidate_worse",
            f"{row.version} 在留出的 {len(comparison.get('documents') or [])} 份文档上错 {cand.get('wrong')} 个单元格，"
            f"比当前模型 {against}（错 {act.get('wrong')} 个）差，未启用；确需启用请加 force=true",
            f"{row.version} gets {cand.get('wrong')} cells wrong on the held-out documents, {against} gets "
            f"{act.get('wrong')}: not activated (force=true to activate anyway)",
            figures,
        )
    if comparison.get("verdict") == "unknown":
        raise ActivationRefused(
            "comparison_failed",
            f"{row.version} 与当前模型的比较没有完成（{comparison.get('error')}），未启用；确需启用请加 force=true",
            f"the comparison of {row.version} with the active model failed: not activated (force=true to override)",
            figures,
        )
    if against != active_version:
        raise ActivationRefused(
            "comparison_stale",
            f"{row.version} 是与 {against} 比较的，但当前启用的是 {active_version}；请重新训练比较，或加 force=true",
            f"{row.version} was compared with {against}, but {active_version} is active now: train again, or "
            "force=true",
            figures,
        )


def activate(session: Session, settings: Settings, version: str, force: bool = False) -> ModelVersion | None:
    """Make `version` the model of new extractions: a trained version (a row), a shipped one or the
    baseline. The row is marked active and the service's registry.json names it, so a `gongkai
    extract` pointed at the same GONGKAI_MODELS_DIR uses it too. Never writes the shipped folder."""
    from extraction import registry

    row = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    # a version in the service's models folder not made by a run (`gongkai train --models-dir`), or shipped
    shipped = {m["version"]: m for m in [*folder_models(settings.models_path), *shipped_models()]}
    if row is None and version == BASELINE[0]:
        row = ModelVersion(version=version, labeler=BASELINE[1], metrics={}, training_run_id=None)
        session.add(row)
    elif row is None and version in shipped:
        folder = shipped[version]["folder"]
        row = ModelVersion(
            version=version,
            labeler=AUTO_PREFIX + str(folder.resolve()),
            metrics=shipped[version]["metrics"],
            training_run_id=None,
        )
        session.add(row)
    if row is None:
        return None
    current, _ = active_labeler(session, settings)
    if not force and row.version != current:
        activation_gate(row, current)
    spec = row.labeler
    if spec.startswith((MODEL_PREFIX, AUTO_PREFIX)):
        folder = Path(spec.split(":", 1)[1])
        registry.verify(folder)  # every file byte for byte (ModelIntegrityError)
        models_dir = writable_models_dir(settings)
        name = folder.name if folder.parent.resolve() in (models_dir.resolve(), shipped_dir().resolve()) else str(folder)
        registry.activate(name, models_dir, shipped_dir())
    session.flush()
    session.execute(update(ModelVersion).where(ModelVersion.id != row.id).values(active=False))
    row.active = True
    row.activated_at = utcnow()
    return row
