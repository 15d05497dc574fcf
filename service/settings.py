"""Service settings: environment variables (GONGKAI_*, plus DATABASE_URL / REDIS_URL) with embedded defaults.

With nothing set, everything lives under `GONGKAI_DATA_DIR` (default `./gongkai-data`): a SQLite
database, a SQLite Huey queue and the content-addressed file store, so `gongkai serve` runs on a
fresh machine with no services. DATABASE_URL (PostgreSQL) and REDIS_URL switch to the
multi-machine setup without any code change; then GONGKAI_STORE_DIR must name the shared store by
an absolute path (service/wiring.py). docs/operations.md lists every variable.
"""

from __future__ import annotations

import contextlib
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from extraction.ingest import IngestOptions
    from extraction.pipeline import PipelineOptions


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGKAI_", extra="ignore")

    data_dir: Path = Field(default=Path("gongkai-data"), description="Embedded database, queue and file store")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GONGKAI_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; default sqlite:///<data_dir>/gongkai.db. postgresql://… uses psycopg 3",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GONGKAI_REDIS_URL", "REDIS_URL"),
        description="Redis URL for the job queue (RedisHuey); default: a SQLite queue in data_dir (SqliteHuey)",
    )
    store_dir: Path | None = Field(default=None, description="Content-addressed originals; default <data_dir>/store")
    queue_name: str = Field(default="gongkai", description="Huey queue name (Redis key prefix)")
    immediate: bool = Field(default=False, description="Run jobs inline at enqueue time (unit tests only)")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1, description="Per-file upload limit")
    max_files_per_upload: int = Field(default=100, ge=1)
    max_pages: int = Field(default=300, ge=1, description="PDFs/images with more pages are refused at upload")
    # multipart abuse: limits of the streaming upload parser (a request over them is a 4xx, never a 5xx)
    max_multipart_parts: int = Field(
        default=200, ge=1, description="Parts of any kind in one upload request (files and fields)"
    )
    max_request_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="The whole body of one upload request (several files); a larger Content-Length is refused unread",
    )
    max_field_bytes: int = Field(default=64 * 1024, ge=1, description="A multipart form field that is not a file")
    max_part_header_bytes: int = Field(default=16 * 1024, ge=256, description="The headers of one multipart part")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="The body of any request other than an upload (JSON)"
    )
    # backpressure: what is refused is told 429 with Retry-After; what is accepted is never lost
    max_concurrent_uploads: int = Field(default=16, ge=1, description="Upload requests being received at once")
    max_queue_depth: int = Field(
        default=1000, ge=1, description="Queued extraction jobs; beyond it uploads are refused (429) until it drains"
    )
    retry_after_s: int = Field(default=30, ge=1, description="Retry-After of a 429 for a full queue")
    # slow uploads: a client that trickles its body must not hold an upload slot (max_concurrent_uploads)
    upload_min_bytes_per_s: int = Field(
        default=1024,
        ge=1,
        description="An upload body arriving slower than this on average (after upload_rate_grace_s) is refused "
        "(408 upload_too_slow); when every upload slot is taken, the slowest such upload gives its slot up at once",
    )
    upload_rate_grace_s: float = Field(
        default=10.0, gt=0, description="Seconds an upload body may take before its average rate is checked"
    )
    upload_idle_timeout_s: float = Field(
        default=30.0, gt=0, description="An upload body that sends nothing for this long is refused (408)"
    )
    # page images for the review UI: rendered in a supervised child, cached on disk (service/pages.py)
    page_image_max_megapixels: float = Field(
        default=16.0,
        gt=0,
        description="Pixels of a rendered page image, in millions: a page that would be larger at the asked "
        "width is rendered narrower (an A4 page 3,000 pixels wide is 12.7 MP)",
    )
    page_render_workers: int = Field(default=1, ge=1, description="Child processes that render page images")
    page_render_timeout_s: float = Field(default=30.0, gt=0, description="Time to render one page image")
    page_render_wait_s: float = Field(
        default=10.0, gt=0, description="Time a page image request waits for a free renderer before a 429"
    )
    page_cache_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Rendered page images kept on disk in the store (pages/), least recently used removed first",
    )
    max_export_documents: int = Field(
        default=1000, ge=1, description="Documents in one batch export (`document_ids`, or every readable one)"
    )
    export_workers: int = Field(default=1, ge=1, description="Child processes that build batch exports")
    export_timeout_s: float = Field(default=600.0, gt=0, description="Time to build one batch export")
    export_wait_s: float = Field(
        default=30.0, gt=0, description="Time a batch export waits for a free exporter before a 429"
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, description="A known token is trusted this long without the database (0: never cached)"
    )
    # extraction limits: every job runs in a supervised child process (see service/sandbox.py)
    isolation: Literal["auto", "process", "inline"] = Field(
        default="auto",
        description="Where extractions run: 'process' (a supervised child, reused across jobs), 'inline' (in the "
        "worker thread; unit tests), 'auto' (inline in immediate mode, else process)",
    )
    max_document_seconds: float = Field(
        default=1200.0,
        gt=0,
        description="Time budget of one extraction (the extractor leaves pages unread past it: a partial result "
        "or time_limit_exceeded); a child still running 10 % + up to 15 s later is killed (time_limit_exceeded)",
    )
    max_page_seconds: float | None = Field(
        default=None, gt=0, description="Time for one page (rendering + OCR); default: the extractor's (120 s)"
    )
    max_megapixels_per_page: float | None = Field(
        default=None, gt=0, description="Pixels of one page image, in millions; default: the extractor's"
    )
    max_worker_memory_mb: int = Field(
        default=1280, ge=64, description="Resident memory of an extraction child; it is killed beyond it"
    )
    child_max_jobs: int = Field(default=500, ge=1, description="An extraction child is replaced after this many jobs")
    extraction_nice: int = Field(
        default=10, ge=0, le=19, description="CPU niceness of extraction children: the API answers first"
    )
    inspect_timeout_s: float = Field(
        default=30.0, gt=0, description="Time to identify an uploaded PDF/image and count its pages (in a child)"
    )
    inspect_workers: int = Field(default=2, ge=1, description="Child processes that inspect uploads")
    max_job_retries: int = Field(
        default=3, ge=0, description="Re-runs of a job after a transient storage error (database, file store)"
    )
    requeue_queued_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A job queued this long whose queue message is gone (the queue lost it) is queued again",
    )
    review_threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="Cells below it go to review")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="A running job whose worker stopped heart-beating this long is re-run"
    )
    sweep_seconds: float = Field(default=10.0, gt=0, description="How often a worker looks for orphaned jobs")
    workers: int = Field(default=1, ge=1, description="Worker threads of `gongkai serve`'s in-process worker")
    embedded_worker: bool = Field(default=True, description="`gongkai serve` also runs a worker in-process")
    ocr_page_timeout_s: float | None = Field(
        default=None, gt=0, description="Abandon a page whose OCR takes longer (default: the extractor's, 120 s)"
    )
    ocr_pages_in_flight: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Pages of one document OCR'd at once in an extraction child. One: a 4-page scan peaks at "
        "650 MiB against 1.1 GiB with two, which left no room under the child's memory limit for the layout "
        "model; the service reads documents side by side (`workers`) instead",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Folder of the models training runs make, and of the registry.json an activation writes "
        "(default <data_dir>/models; the shipped models/ of the source tree is never written)",
    )
    training_min_documents: int = Field(
        default=3, ge=3, description="Verified documents a training run needs: one each for train, validation, test"
    )
    training_holdout_share: float = Field(
        default=0.2,
        gt=0,
        lt=0.5,
        description="Share of the documents held out for validation, and the same again for the test (at least one each)",
    )
    # operations (docs/operations.md): retries an operator can count on, workers one can see
    retry_transient_codes: list[str] = Field(
        default=["original_missing"],
        description="Job failures that are the installation's fault, not the document's (a store not mounted on "
        "the worker's machine): the job is re-run with a growing delay, up to max_job_retries times, before it "
        "fails for good",
    )
    retry_backoff_max_s: float = Field(
        default=60.0, gt=0, description="The longest delay before a job is re-run after a transient failure"
    )
    worker_heartbeat_s: float = Field(
        default=5.0, gt=0, description="How often a worker process records that it is alive (the workers table)"
    )
    worker_stale_after_s: float = Field(
        default=30.0, gt=0, description="A worker not heard from this long is not listed as live"
    )
    queue_timeout_s: float = Field(
        default=5.0, gt=0, description="Connecting to (and each reply from) Redis: an unreachable host fails this fast"
    )
    queue_backoff_max_s: float = Field(
        default=10.0, gt=0, description="A worker that cannot reach the queue tries again after 1 s, 2 s, … up to this"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines: key=value text, or one JSON object a line (for a log collector)"
    )

    @cached_property
    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'gongkai.db').resolve()}"
        # psycopg 3 is the driver we install; plain postgresql:// would mean psycopg2.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def shared(self) -> bool:
        """Other machines may share this installation: a PostgreSQL database or a Redis queue."""
        return bool(self.redis_url) or not self.db_url.startswith("sqlite")

    @property
    def process_isolation(self) -> bool:
        """Extractions run in a supervised child process (not inline in the worker thread)."""
        return self.isolation == "process" or (self.isolation == "auto" and not self.immediate)

    @property
    def upload_request_limit(self) -> int:
        """The largest upload request body: max_request_bytes, and never less than one file at its limit."""
        return max(self.max_request_bytes, self.max_upload_bytes + 1024 * 1024)

    @property
    def store_path(self) -> Path:
        return self.store_dir or self.data_dir / "store"

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    def pipeline_options(self, labeler: str = "auto") -> PipelineOptions:
        """The extractor's options from these settings: the one place a setting becomes an extraction
        option (the ingest limits through `ingest_options`). A job sends them whole
        (`model_dump(mode="json")`) to the extraction child, which validates them back
        (service/extract_task.py). `labeler` is `PipelineOptions.labeler`."""
        from extraction.pipeline import PipelineOptions

        return PipelineOptions(labeler=labeler, review_threshold=self.review_threshold, ingest=self.ingest_options())

    def ingest_options(self) -> IngestOptions:
        """The ingest limits of `pipeline_options` (the API checks uploads and renders pages with them
        without importing the pipeline)."""
        from extraction.ingest import IngestOptions

        ocr: dict[str, Any] = {"pages_in_flight": self.ocr_pages_in_flight}
        page_seconds = self.max_page_seconds or self.ocr_page_timeout_s  # a page's render + OCR (+ layout)
        if page_seconds is not None:
            ocr["page_timeout_s"] = page_seconds
        given: dict[str, Any] = {
            "max_bytes": self.max_upload_bytes,
            "max_pages": self.max_pages,
            "max_document_seconds": self.max_document_seconds,
            "ocr": ocr,
        }
        if self.max_megapixels_per_page is not None:
            given["max_megapixels_per_page"] = self.max_megapixels_per_page
        options = IngestOptions.model_validate(given)
        dropped = _dropped(given, options, "ingest.")
        if dropped:  # pydantic ignores unknown fields: a setting must never vanish on its way
            raise RuntimeError(f"settings name extraction options that do not exist: {', '.join(dropped)}")
        return options

    def ensure_dirs(self) -> None:
        """The data folder, where this process keeps an SQLite database or queue (made 0700 when made here),
        and the embedded databases, created 0600 before SQLite opens them (SQLite gives its -wal and -shm
        files the database file's mode). The store is made at its first use only (service/wiring.py, also
        0700): a missing shared store is an error, not a new folder."""
        if (self.db_url.startswith("sqlite") or not self.redis_url) and not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = [self.queue_path] if not self.redis_url and not self.immediate else []
        if self.db_url.startswith("sqlite:///") and ":memory:" not in self.db_url:
            files.append(Path(self.db_url[len("sqlite:///") :]))
        for path in files:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _dropped(given: dict[str, Any], options: Any, prefix: str = "") -> list[str]:
    """The values of `given` (nested names) that the validated options do not read back as given."""
    out: list[str] = []
    for key, value in given.items():
        got = getattr(options, key, _MISSING)
        if isinstance(value, dict) and got is not _MISSING:
            out += _dropped(value, got, f"{prefix}{key}.")
        elif got != value:
            out.append(prefix + key)
    return out


_MISSING = object()
