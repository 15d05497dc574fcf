"""Service settings: environment variables (GONGKAI_*, plus DATABASE_URL / REDIS_URL) with embedded defaults.

With nothing set, everything lives under `GONGKAI_DATA_DIR` (default `./gongkai-data`): a SQLite
database, a SQLite Huey queue and the content-addressed file store, so `gongkai serve` runs on a
fresh machine with no services. DATABASE_URL (PostgreSQL) and REDIS_URL switch to the
multi-machine setup without any code change.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    models_dir: Path | None = Field(
        default=None, description="Model registry folder for training runs (default: the registry's own, models/)"
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
    def store_path(self) -> Path:
        return self.store_dir or self.data_dir / "store"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_path.mkdir(parents=True, exist_ok=True)
