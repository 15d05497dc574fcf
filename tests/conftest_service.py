"""Fixtures of the service tests: a service on SQLite (always) and PostgreSQL (when
GONGKAI_TEST_POSTGRES_URL is set: scripts/services.sh starts one and prints it)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DATASETS

SEEDS = sorted((DATASETS / "seeds").glob("*.txt"))
REAL = sorted((DATASETS / "real").glob("*.txt"))
SCAN_SEED = DATASETS / "seeds" / "truth" / "001_59838382079b1902.json"
PG_ENV = "GONGKAI_TEST_POSTGRES_URL"
REDIS_ENV = "GONGKAI_TEST_REDIS_URL"


def postgres_schema(url: str, name: str) -> str:
    """A fresh, empty schema `name` and a URL whose connections use it: tests running in parallel
    (pytest-xdist) each get their own schema in the one test database."""
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    from service.settings import Settings

    engine = create_engine(Settings(database_url=url).db_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={name}')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gongkai.db'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (bash scripts/services.sh starts PostgreSQL and prints it)")
    return postgres_schema(url, f"gk_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")


@dataclass
class Api:
    """A TestClient with one token per role (and a second submitter, to test ownership)."""

    client: object
    svc: object
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def get(self, path: str, who: str | None = "admin", **kw):
        return self.client.get(path, headers={**self.headers(who), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, who: str | None = "admin", **kw):
        return self.client.post(path, headers={**self.headers(who), **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, who: str | None = "admin", **kw):
        return self.client.delete(path, headers={**self.headers(who), **kw.pop("headers", {})}, **kw)

    def upload(self, *paths: Path, who: str = "submitter", headers: dict | None = None, names=None):
        files = [("files", ((names or {}).get(p, p.name), p.read_bytes(), "application/octet-stream")) for p in paths]
        return self.post("/v1/documents", who=who, files=files, headers=headers or {})

    def wait(self, doc_id: int, timeout: float = 120.0, who: str = "admin") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            d = self.get(f"/v1/documents/{doc_id}", who=who).json()
            if d["status"] not in ("queued", "processing"):
                return d
            if time.monotonic() > deadline:
                raise AssertionError(f"document {doc_id} still {d['status']} after {timeout}s: {d}")
            time.sleep(0.1)


def make_api(data_dir: Path, db_url: str, immediate: bool, **settings) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.auth import create_token
    from service.core import Service
    from service.settings import Settings

    # a loaded CI machine may OCR a page slowly: do not let the page timeout make a test flaky
    settings.setdefault("ocr_page_timeout_s", 900)
    # a training run a test starts writes its model here, never into the repository's models/
    settings.setdefault("models_dir", data_dir / "models")
    svc = Service(Settings(data_dir=data_dir, database_url=db_url, immediate=immediate, **settings))
    tokens = {}
    with svc.db.session() as s:
        for who, role in [("submitter", "submitter"), ("other", "submitter"), ("reviewer", "reviewer"), ("admin", "admin")]:
            tokens[who] = create_token(s, who, role)[1]  # type: ignore[arg-type]
    with TestClient(create_app(svc, embedded_worker=not immediate)) as client:
        yield Api(client, svc, tokens)
    svc.close()


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    """Jobs run inline (Huey immediate mode): deterministic and fast for the API tests."""
    yield from make_api(tmp_path / "data", db_url, immediate=True)


@pytest.fixture
def live_api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    """The real thing: a SQLite Huey queue and the in-process worker of `gongkai serve`."""
    yield from make_api(tmp_path / "data", db_url, immediate=False)


@pytest.fixture(scope="session")
def scanned_pdf(tmp_path_factory) -> tuple[Path, dict]:
    """A seed's tables rendered as a moderately degraded scan (4 pages), with its truth."""
    from gongkai_datasets.generate import render_labeled

    out = tmp_path_factory.mktemp("scan")
    path = render_labeled(SCAN_SEED, out, kind="scanned_pdf", seed=1, scan_preset="moderate")
    truth = json.loads((out / "truth" / f"{path.stem}.json").read_text(encoding="utf-8"))
    return path, truth


@pytest.fixture(scope="session")
def heavy_scanned_pdf(tmp_path_factory) -> tuple[Path, dict]:
    """The same seed as a heavily degraded scan: cells the reader doubts, so the review queue is never
    empty (a moderate scan read right leaves nothing to review since the cell calibrator)."""
    from gongkai_datasets.generate import render_labeled

    out = tmp_path_factory.mktemp("heavy_scan")
    path = render_labeled(SCAN_SEED, out, kind="scanned_pdf", seed=1, scan_preset="heavy")
    truth = json.loads((out / "truth" / f"{path.stem}.json").read_text(encoding="utf-8"))
    return path, truth
