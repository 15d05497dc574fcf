"""Public request/response shapes of the HTTP API (pydantic)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr, computed_field

from service.auth import Role


class ErrorBody(BaseModel):
    code: str
    message: str
    message_en: str | None = Field(default=None, description="Beside a Chinese message: the same in English")
    detail: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class UploadItem(BaseModel):
    filename: str
    document_id: int | None = None
    sha256: str | None = None
    kind: str | None = Field(default=None, description="Sniffed from the bytes")
    pages: int | None = None
    status: str | None = None
    job_id: int | None = None
    duplicate: bool = Field(
        default=False,
        description="You uploaded the same bytes before: the same document. Another submitter's upload of the "
        "same bytes is a document of its own (nothing of theirs is shared)",
    )
    error: ErrorBody | None = None


class UploadResponse(BaseModel):
    items: list[UploadItem]


class JobOut(BaseModel):
    id: int
    kind: str
    status: str
    attempts: int
    requeues: int
    retries: int = Field(default=0, description="Re-runs after transient storage errors")
    pages_done: int
    pages_total: int | None
    document_id: int | None
    training_run_id: int | None
    error_code: str | None
    error_message: str | None
    peak_memory_bytes: int | None = Field(default=None, description="Peak resident memory of the extraction process")
    worker: str | None = Field(
        default=None,
        validation_alias="lease_owner",
        description="The worker (host:pid:thread) that runs or last ran the job; null while it waits for one",
    )
    model_version: str | None = Field(
        default=None, description="The model version a re-run asked for (null: the active one at run time)"
    )
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def waiting(self) -> str | None:
        """Why a queued job waits: a first run, or a re-run (its worker stopped, a transient failure)."""
        if self.status != "queued":
            return None
        if self.retries and self.error_code:
            return f"re-run after {self.error_code} (retry {self.retries}): {self.error_message or ''}".strip()
        if self.requeues:
            return f"re-run: its worker stopped or its queue message was lost (re-queued {self.requeues}×)"
        return "waiting for a worker"


class DocumentOut(BaseModel):
    id: int
    filename: str
    sha256: str
    kind: str
    size: int
    pages: int | None
    status: str = Field(description="queued, processing, review, verified or failed")
    error_code: str | None
    error_message: str | None
    agency: str | None
    year: int | None
    format: str | None
    open_reviews: int = Field(description="Cells still waiting for review")
    failed_rules: int = Field(description="Hard rules failing on the current values")
    model_version: str | None = None
    job: JobOut | None = None
    created_at: dt.datetime


class DocumentList(BaseModel):
    items: list[DocumentOut]
    total: int


class CellOut(BaseModel):
    cell_id: str
    table: str
    row: str
    column: str
    value: int | float | None
    confidence: float
    review: bool
    reviewed: bool
    corrected: bool
    flags: list[str]
    failing_rules: list[str]
    page: int | None
    bbox: list[float] | None
    text: str
    alternatives: list[int | float | None]
    model: str


class ReviewState(BaseModel):
    document_id: int
    status: str
    verified: bool
    open_reviews: int
    failed_rules: int
    queue: list[CellOut] = Field(description="Cells to review, failing rules first, then lowest confidence")


MAX_ID = 2**31 - 1  # service.hardening.MAX_DB_ID: the largest id every supported database holds
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_LIST_IDS = 100_000  # any list of ids in a request (a setting may allow fewer: max_export_documents)


COMMENT_MAX_CHARS = 2000  # a reviewer's note on a correction


class CorrectBody(BaseModel):
    # any JSON value: the one validator (service.values.validate_cell_value) refuses a wrong type with its reason
    value: Any = Field(
        json_schema_extra={"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]},
        description="The value read off the page (a number, or text such as '1,234'); null or '-' for a cell the "
        "report leaves blank ('' is refused: `empty`). Finite, at most 100,000,000, not negative (but in 本年增/减), "
        "whole for counts, at most 4 decimals for amounts (万元), at most 64 characters as text; refused (422 "
        "`bad_value`) with `detail.reason` (empty, wrong_type, too_long, not_a_number, not_finite, too_large, "
        "negative, not_whole, too_precise) and the reason in Chinese and English",
    )
    comment: str | None = Field(default=None, max_length=COMMENT_MAX_CHARS, description="Kept in the audit trail")


class ReviewOutcome(BaseModel):
    cell: CellOut
    verified: bool
    open_reviews: int
    failed_rules: list[str]
    next_cell: str | None


class BulkAcceptPreview(BaseModel):
    """What a bulk accept would do, for the reviewer to confirm: it accepts only cells that hold a value
    and are in no failing check; blank cells are never accepted in bulk (a blank may be a 0 misread)."""

    document_id: int
    cells: int = Field(description="Cells it would accept")
    cell_ids: list[str]
    queued: int = Field(description="Of them, cells in the review queue")
    skipped_blank: list[str] = Field(description="Unreviewed blank cells: review them one by one")
    skipped_failing: list[str] = Field(description="Unreviewed cells in a failing check")


class BulkAcceptBody(BaseModel):
    confirm: bool = Field(description="Must be true: the reviewer saw the preview (GET) and confirmed it")
    expected_cells: int | None = Field(
        default=None, ge=0, description="The preview's `cells`: refused (409) if the document changed since"
    )


class BulkAcceptOutcome(BaseModel):
    accepted: int
    batch: str | None = Field(default=None, description="Undo it with POST .../review/undo {\"action_id\": any of its rows}")
    verified: bool
    open_reviews: int


class UndoBody(BaseModel):
    action_id: DbId | None = Field(
        default=None, description="The audit row to reverse (a bulk accept: the whole batch); default: your last action"
    )


class UndoOutcome(BaseModel):
    undone: list[int] = Field(description="Audit rows reversed")
    cells: list[str]
    verified: bool
    open_reviews: int


class AuditEntry(BaseModel):
    id: int
    cell_id: str
    action: str
    old_value: Any
    new_value: Any
    reviewer: str
    comment: str | None = None
    at: dt.datetime
    batch: str | None = None
    undoes: int | None = Field(default=None, description="An undo row: the row it reversed")
    undone: bool = Field(default=False, description="Reversed by a later undo")


class BatchExportBody(BaseModel):
    document_ids: list[DbId] | None = Field(
        default=None,
        max_length=MAX_LIST_IDS,
        description="Default: every extracted document you can read. At most `max_export_documents` (1000) "
        "different documents: more is refused (too_many_documents)",
    )
    format: Literal["csv", "xlsx", "json"] = "csv"


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored")


class TrainingRunCreate(BaseModel):
    document_ids: list[DbId] | None = Field(
        default=None, max_length=MAX_LIST_IDS, description="Default: every verified document"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the trainer (epochs, …)")


class TrainingRunOut(BaseModel):
    id: int
    status: str
    params: dict[str, Any]
    documents: list[Any]
    metrics: dict[str, Any]
    model_version: str | None
    error_code: str | None
    error_message: str | None
    job_id: int | None
    progress: dict[str, Any] | None = Field(
        default=None, description="While it trains: stage, epoch, epochs, loss, val_f1, elapsed_s, eta_s"
    )
    created_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ModelOut(BaseModel):
    version: str
    labeler: str
    metrics: dict[str, Any]
    training_run_id: int | None
    active: bool
    shipped: bool = Field(default=False, description="Ships with gongkai (read-only); else trained by this service")
    created_at: dt.datetime | None = None
    activated_at: dt.datetime | None = None


class Me(BaseModel):
    id: int
    name: str
    role: str


class LabeledRecord(BaseModel):
    """One labeled report for an existing document: the truth JSON of `GET /documents/{id}/labeled`
    (`report`, `cells`), plus which document it labels (`document_id` or `sha256`)."""

    model_config = {"extra": "forbid"}
    document_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    format: Literal["2021", "2019"] | None = None
    report: dict[str, Any] | None = Field(default=None, description="As in the truth JSON; its `format` is checked")
    cells: dict[str, StrictInt | StrictFloat | StrictStr | None] = Field(
        description="Cell id → value (null for a blank cell); cells not listed keep their value", max_length=2000
    )


class LabeledImport(BaseModel):
    records: list[Any] = Field(
        min_length=1, max_length=1000, description="LabeledRecord objects; each is validated and imported on its own"
    )


class LabeledRecordOutcome(BaseModel):
    index: int
    status: Literal["imported", "rejected"]
    document_id: int | None = None
    cells: int = Field(default=0, description="Cells the record labeled")
    changed: int = Field(default=0, description="Cells whose value the record changed")
    verified: bool | None = None
    error: ErrorBody | None = None


class LabeledImportOutcome(BaseModel):
    imported: int
    rejected: int
    records: list[LabeledRecordOutcome]
