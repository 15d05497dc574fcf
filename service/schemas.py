"""Public request/response shapes of the HTTP API (pydantic)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from service.auth import Role


class ErrorBody(BaseModel):
    code: str
    message: str
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
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


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


COMMENT_MAX_CHARS = 2000  # a reviewer's note on a correction


class CorrectBody(BaseModel):
    # any JSON value: the one validator (service.review.coerce_value) refuses a wrong type with its code
    value: Any = Field(
        json_schema_extra={"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]},
        description="The value read off the page; null or '' for a blank cell. Finite, at most 12 digits before "
        "the point, not negative (but in 本年增/减), whole for counts, at most 6 decimals for amounts; refused "
        "with `bad_value` and `detail.reason` (not_a_number, not_finite, out_of_range, negative, not_whole, "
        "too_precise, too_long, wrong_type)"
    )
    comment: str | None = Field(default=None, max_length=COMMENT_MAX_CHARS, description="Kept in the audit trail")


class ReviewOutcome(BaseModel):
    cell: CellOut
    verified: bool
    open_reviews: int
    failed_rules: list[str]
    next_cell: str | None


class BulkAcceptOutcome(BaseModel):
    accepted: int
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


MAX_ID = 2**31 - 1  # service.hardening.MAX_DB_ID: the largest id every supported database holds
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_LIST_IDS = 100_000  # any list of ids in a request (a setting may allow fewer: max_export_documents)


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
    created_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ModelOut(BaseModel):
    version: str
    labeler: str
    metrics: dict[str, Any]
    training_run_id: int | None
    active: bool
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
