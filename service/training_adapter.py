"""The one place where the service meets the training code (`training/`, `extraction/registry.py`,
`extraction.layout.model`), which is developed separately. Nothing here fakes a model: when the
training code or a base model to fine-tune is missing, the run fails with `training_unavailable`.

The interface used is the documented command line, run as a child process (memory of a torch
training run stays out of the worker, and the worker keeps heart-beating):

    gongkai train --version V --fine-tune BASE --labeled DIR --models-dir M --epochs N ...

with DIR the verified documents as labeled data (report files + truth/<stem>.json). The new
version is registered in the model registry (`models/`, or GONGKAI_MODELS_DIR); its card.json holds
the metrics. Results of a version are produced by `extraction.layout.model.ModelLabeler(version)`.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import Document, ModelVersion, TrainingRun, utcnow
from service.extract_task import MODEL_PREFIX  # a ModelVersion.labeler of a registry version: "model:<its folder>"

if TYPE_CHECKING:
    from service.core import Service

log = logging.getLogger("gongkai.training")

BASELINE = ("baseline@1", "baseline")
# A model version is a folder name in the registry: letters, digits, `.`, `_`, `-` (no `/`, no `..`)
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_VERSION_RE = re.compile(VERSION_PATTERN)
_PATH_RE = re.compile(r"(?:/[^\s'\":,()\[\]<>]+)+")
MESSAGE_CHARS = 300


def check_version(name: Any, what: str = "version") -> str:
    """`name` if it is a valid model version name, else ValueError (a message safe to show)."""
    if not isinstance(name, str) or not _VERSION_RE.fullmatch(name) or ".." in name:
        shown = repr(name)[:60]
        raise ValueError(
            f"{what} {shown} is not a model version name: letters, digits, '.', '_', '-', at most 100, no '..' "
            "(模型版本名只能包含字母、数字、点、下划线和连字符)"
        )
    return name


def public_message(text: str) -> str:
    """An error for a training run's record: no traceback, no server paths (a path → its last part)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Traceback", "File ", "^", "~")) and not ln.startswith("During ")]
    last = lines[-1] if lines else ""
    last = _PATH_RE.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], last)
    return last[:MESSAGE_CHARS]
EXTENSIONS = {"txt": "txt", "md": "md", "html": "html", "docx": "docx", "pdf": "pdf", "image": "png"}


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


def make_labeler(labeler: str):
    """A labeler object for a ModelVersion.labeler spec, or None for a named/`module:Class` spec (the
    extraction child builds its own: service/extract_task.py)."""
    from service.extract_task import make_labeler as build

    return build(labeler)


def active_labeler(session: Session) -> tuple[str, str]:
    """(model version, PipelineOptions.labeler) for new extractions: the activated version, else baseline."""
    row = session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
    return (row.version, row.labeler) if row is not None else BASELINE


def export_labeled(svc: Service, out_dir: Path, document_ids: list[int] | None = None) -> list[int]:
    """Verified documents as labeled data: `<out>/<id>.<ext>` (the original) + `<out>/truth/<id>.json`."""
    from service.api_support import reviewed_view

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(exist_ok=True)
    written: list[int] = []
    with svc.db.session() as s:
        query = select(Document).where(Document.status == "verified")
        if document_ids:
            query = query.where(Document.id.in_(document_ids))
        for doc in s.scalars(query.order_by(Document.id)):
            view = reviewed_view(svc, s, doc)
            if view is None:
                continue
            from service.review import truth_record

            stem = f"doc-{doc.id:06d}"
            (out_dir / f"{stem}.{EXTENSIONS.get(doc.kind, 'bin')}").write_bytes(svc.store.get(doc.sha256))
            (out_dir / "truth" / f"{stem}.json").write_text(
                json.dumps(truth_record(view), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
            written.append(doc.id)
    return written


def run_training(svc: Service, run_id: int) -> TrainingOutcome:
    """Train a run; its outcome's message never carries a traceback or a server path (logged instead)."""
    try:
        return _run_training(svc, run_id)
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        return TrainingOutcome(
            error_code="training_failed", error_message=f"{type(exc).__name__}: {public_message(str(exc))}"
        )


def _run_training(svc: Service, run_id: int) -> TrainingOutcome:
    registry = _training_modules()
    with svc.db.session() as s:
        run = s.get(TrainingRun, run_id)
        params, doc_ids = dict(run.params or {}), list(run.documents or [])  # type: ignore[union-attr]
        active_version, _ = active_labeler(s)
    if registry is None:
        return TrainingOutcome(
            error_code="training_unavailable",
            error_message="training unavailable: this installation has no training code (training.cli, "
            "training.labeled, extraction.registry); no model was trained",
        )
    models_dir = Path(svc.settings.models_dir or registry.MODELS_DIR)
    for key in ("version", "base_version"):  # checked when the run was created; a run stored before is checked here
        if params.get(key) is not None:
            try:
                check_version(params[key], key)
            except ValueError as exc:
                return TrainingOutcome(error_code="invalid_version", error_message=str(exc))
    base = params.get("base_version") or (
        active_version if active_version != BASELINE[0] else registry.active_version(models_dir)
    )
    if not base or base not in registry.list_versions(models_dir):
        return TrainingOutcome(
            error_code="training_unavailable",
            error_message="training unavailable: no base model version to fine-tune in the model registry "
            "(train one with `gongkai train --version ...`, or pass params.base_version)",
        )
    try:
        version = check_version(params.get("version") or f"{base}-ft{run_id}-{utcnow():%Y%m%d%H%M%S}")
    except ValueError as exc:
        return TrainingOutcome(error_code="invalid_version", error_message=str(exc))
    if (models_dir / version).resolve().parent != models_dir.resolve():
        return TrainingOutcome(error_code="invalid_version", error_message=f"version {version!r} is outside the registry")
    with tempfile.TemporaryDirectory(prefix="gongkai-train-") as tmp:
        data_dir = Path(tmp) / "labeled"
        written = export_labeled(svc, data_dir, doc_ids or None)
        with svc.db.session() as s:
            s.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(documents=written))
        if not written:
            return TrainingOutcome(
                error_code="no_labeled_data", error_message="no verified documents to train on: review some first"
            )
        cmd = [
            sys.executable, "-m", "extraction.cli", "train",
            "--version", version,
            "--fine-tune", base,
            "--labeled", str(data_dir),
            "--models-dir", str(models_dir),
            "--cache", str(Path(tmp) / "cache"),
            "--epochs", str(int(params.get("epochs", 3))),
            "--max-minutes", str(float(params.get("max_minutes", 20))),
            "--no-evaluate",
        ]  # fmt: skip
        if params.get("max_steps"):
            cmd += ["--max-steps", str(int(params["max_steps"]))]
        log.info("training run %s: %s", run_id, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=float(params.get("timeout_s", 7200)))
    if proc.returncode != 0:  # the whole output goes to the log; the run's record gets its last message
        log.warning("training run %s: gongkai train exited %s:\n%s", run_id, proc.returncode, proc.stderr or proc.stdout)
        return TrainingOutcome(
            error_code="training_failed",
            error_message=f"gongkai train exited {proc.returncode}: {public_message(proc.stderr or proc.stdout or '')}",
        )
    card_path = models_dir / version / "card.json"
    if not card_path.is_file():
        return TrainingOutcome(error_code="training_failed", error_message=f"no model card for version {version}")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    metrics = {k: v for k, v in card.items() if k not in ("vocab",)}
    metrics["base_version"] = base
    metrics["documents"] = written
    # the folder, not the bare name: workers load exactly this version whatever their default registry
    return TrainingOutcome(version=version, labeler=MODEL_PREFIX + str((models_dir / version).resolve()), metrics=metrics)


def record_model(session: Session, run_id: int, outcome: TrainingOutcome) -> None:
    existing = session.scalar(select(ModelVersion).where(ModelVersion.version == outcome.version))
    if existing is None:
        session.add(
            ModelVersion(
                version=outcome.version, labeler=outcome.labeler, metrics=outcome.metrics, training_run_id=run_id
            )
        )


def activate(session: Session, version: str) -> ModelVersion | None:
    row = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if row is None:
        return None
    registry = _training_modules()
    if registry is not None and row.labeler.startswith(MODEL_PREFIX):
        folder = Path(row.labeler[len(MODEL_PREFIX) :])
        registry.activate(folder.name, folder.parent)  # verifies the files byte for byte; the CLI follows it
    session.execute(update(ModelVersion).where(ModelVersion.id != row.id).values(active=False))
    row.active = True
    row.activated_at = utcnow()
    return row
