"""Operating the service (issue 19): wiring said and checked at start, the store id, retries by route
and CLI, workers visible, health per backend, a queue outage that backs off, structured logs, page
checkpoints. SQLite and no services needed (tests/service/test_reliability_operations.py runs the real
several-process setup on PostgreSQL and Redis)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests import conftest_service as fx
from tests.conftest_service import SEEDS, Api, make_api
from tests.reliability_support import free_port

api, db_url, live_api = fx.api, fx.db_url, fx.live_api


def cli(*args: str, env: dict | None = None):
    from gongkai.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


# --------------------------------------------------------------------------------------------
# Wiring


def test_redact_url_hides_only_the_password():
    from service.wiring import redact_url

    assert redact_url("postgresql+psycopg://gk:s3cr%40t@db.lan:5433/gongkai?sslmode=require") == (
        "postgresql+psycopg://gk:***@db.lan:5433/gongkai?sslmode=require"
    )
    assert redact_url("redis://:pw@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert redact_url("sqlite:////srv/g/gongkai.db") == "sqlite:////srv/g/gongkai.db"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "no file store is named"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0", "GONGKAI_STORE_DIR": "rel/store"}, "relative path"),
        ({"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x", "GONGKAI_DATA_DIR": "gongkai-data"}, "relative path"),
    ],
)
def test_a_shared_database_or_queue_with_a_defaulted_or_relative_store_refuses_to_start(tmp_path, monkeypatch, env, needle):
    monkeypatch.chdir(tmp_path)
    for command in (["worker"], ["serve"], ["tokens", "create", "--role", "admin", "--name", "x"]):
        r = cli(*command, env=env)
        assert r.exit_code == 2, r.output
        assert "refusing to start (misconfigured)" in r.output and needle in r.output
    assert not (tmp_path / "gongkai-data").exists(), "nothing made in the folder the process started in"


def test_the_database_records_its_store_and_refuses_another(tmp_path: Path):
    from service.core import Service
    from service.settings import Settings
    from service.wiring import STORE_ID_FILE, StoreMismatch

    db = f"sqlite:///{tmp_path / 'g.db'}"
    first = Service(Settings(data_dir=tmp_path / "a", database_url=db, immediate=True))
    store_id = first.store_id
    assert store_id and (tmp_path / "a" / "store" / STORE_ID_FILE).read_text().strip() == store_id
    first.close()
    again = Service(Settings(data_dir=tmp_path / "a", database_url=db, immediate=True))
    assert again.store_id == store_id  # the same store: fine
    again.close()
    # the same database with another folder as its store (an unmounted share): refused, nothing made
    with pytest.raises(StoreMismatch, match="does not exist"):
        Service(Settings(data_dir=tmp_path / "b", database_url=db, store_dir=tmp_path / "b" / "store", immediate=True))
    assert not (tmp_path / "b" / "store").exists()
    (tmp_path / "c").mkdir()  # an empty folder where the share should be
    with pytest.raises(StoreMismatch, match="has no store id"):
        Service(Settings(data_dir=tmp_path / "b", database_url=db, store_dir=tmp_path / "c", immediate=True))
    # another installation's store with this database; and this store with a new database
    other = Service(Settings(data_dir=tmp_path / "o", database_url=f"sqlite:///{tmp_path / 'o.db'}", immediate=True))
    other.close()
    with pytest.raises(StoreMismatch, match="has store id"):
        Service(Settings(data_dir=tmp_path / "b", database_url=db, store_dir=tmp_path / "o" / "store", immediate=True))
    with pytest.raises(StoreMismatch, match="belongs to another database"):
        Service(Settings(data_dir=tmp_path / "n", store_dir=tmp_path / "a" / "store", immediate=True))


def test_worker_and_doctor_say_the_wiring_and_refuse_or_report_a_foreign_store(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = {"GONGKAI_DATA_DIR": str(tmp_path / "data"), "GONGKAI_MODELS_DIR": str(tmp_path / "models")}
    r = cli("tokens", "create", "--role", "admin", "--name", "ops", env=base)
    assert r.exit_code == 0
    assert f"created in database sqlite:///{tmp_path / 'data' / 'gongkai.db'}" in r.output
    r = cli("doctor", "--json", env=base)
    rep = json.loads(r.stdout)
    assert r.exit_code == 0 and rep["ok"] and rep["store_check"].startswith("ok")
    assert rep["wiring"]["store"] == str(tmp_path / "data" / "store")
    assert rep["wiring"]["models_dir"] == str(tmp_path / "models")
    elsewhere = {**base, "GONGKAI_STORE_DIR": str(tmp_path / "elsewhere")}
    (tmp_path / "elsewhere" / "sha256").mkdir(parents=True)
    stray = tmp_path / "elsewhere" / "sha256" / ("0" * 64)
    stray.write_bytes(b"someone else's original")
    r = cli("worker", env=elsewhere)
    assert r.exit_code == 2 and "refusing to start (store_mismatch)" in r.output and "has no store id" in r.output
    r = cli("doctor", "--fix", "--grace-seconds", "0", env=elsewhere)
    assert r.exit_code == 1 and "store id: FAILED" in r.output and "refused" in r.output
    assert stray.exists(), "doctor --fix removes nothing from a store that is not the database's"
    r = cli("status", env=base)
    assert r.exit_code == 0, r.output
    assert f"store:    {tmp_path / 'data' / 'store'}" in r.output and "live workers: 0" in r.output
    assert "WARNING" not in r.output
    from service.core import Service
    from service.db import Document, Job
    from service.settings import Settings

    svc = Service(Settings(data_dir=tmp_path / "data"))  # a job waits; no worker runs on this database
    with svc.db.session() as s:
        doc = Document(sha256="1" * 64, filename="x.txt", kind="txt", size=1)
        s.add(doc)
        s.flush()
        s.add(Job(kind="extract", document_id=doc.id, status="queued"))
    svc.close()
    r = cli("status", env=base)
    assert "jobs: 1 queued" in r.output and "WARNING: jobs are queued and no worker is live" in r.output


def test_services_sh_prints_the_variables_the_service_reads():
    text = (Path(__file__).resolve().parents[2] / "scripts" / "services.sh").read_text()
    for name in ("DATABASE_URL", "REDIS_URL", "GONGKAI_STORE_DIR", "GONGKAI_TEST_POSTGRES_URL", "GONGKAI_TEST_REDIS_URL"):
        assert f"export {name}=" in text
    assert "_EXAMPLE" not in text
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "grep '^export GONGKAI_TEST_'" in ci  # CI's tests never run against the operator's wiring


# --------------------------------------------------------------------------------------------
# Retries


def _lose_original(api: Api, doc_id: int) -> Path:
    from service.db import Document

    with api.svc.db.session() as s:
        sha = s.get(Document, doc_id).sha256
    path = api.svc.store.path(sha)
    hidden = path.with_name(path.name + ".away")
    path.rename(hidden)
    return hidden


def test_original_missing_is_retried_with_backoff_then_failed_then_retried_by_the_api(api: Api):
    from service.db import Document, Job

    item = api.upload(SEEDS[0]).json()["items"][0]
    doc_id = item["document_id"]
    assert api.wait(doc_id)["status"] in ("review", "verified")
    with api.svc.db.session() as s:  # as if its first run had crashed
        s.execute(update(Document).where(Document.id == doc_id).values(status="failed", error_code="worker_crashed"))
    hidden = _lose_original(api, doc_id)  # and the worker's machine could not see the store
    r = api.post(f"/v1/documents/{doc_id}/retry", who="reviewer")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    doc = api.get(f"/v1/documents/{doc_id}").json()
    assert doc["status"] == "failed" and doc["error_code"] == "original_missing"
    with api.svc.db.session() as s:
        job = s.get(Job, job_id)
        assert job.retries == api.svc.settings.max_job_retries, "a transient failure is re-run before it is final"
        assert "retries" in job.error_message
    # the share is back: the operator retries what failed for that reason, and it succeeds
    hidden.rename(hidden.with_name(hidden.name.removesuffix(".away")))
    r = api.post("/v1/retries", json={"error_code": "original_missing"})
    assert r.status_code == 200 and r.json()["queued"] == 1, r.text
    doc = api.get(f"/v1/documents/{doc_id}").json()
    assert doc["status"] in ("review", "verified") and doc["error_code"] is None
    assert doc["job"]["id"] == r.json()["items"][0]["job_id"] and doc["job"]["status"] == "done"


def test_retry_selections_and_refusals(api: Api):
    from service.db import Document

    ids = [api.upload(p).json()["items"][0]["document_id"] for p in SEEDS[:3]]
    for i in ids:
        api.wait(i)
    with api.svc.db.session() as s:
        s.execute(update(Document).where(Document.id == ids[0]).values(status="failed", error_code="worker_crashed"))
        s.execute(update(Document).where(Document.id == ids[1]).values(status="failed", error_code="time_limit_exceeded"))
        s.execute(update(Document).where(Document.id == ids[2]).values(status="verified"))
    r = api.post("/v1/retries", json={"error_code": "worker_crashed"}).json()
    assert r["queued"] == 1 and r["items"][0]["document_id"] == ids[0] and r["items"][0]["previous_error_code"] == "worker_crashed"
    r = api.post("/v1/retries", json={"all_failed": True}).json()
    assert [i["document_id"] for i in r["items"]] == [ids[1]] and r["queued"] == 1
    r = api.post("/v1/retries", json={"document_ids": [ids[2], 999]}).json()
    assert r["queued"] == 0 and [i["skipped"] for i in r["items"]] == ["verified: its reviewed values are final", "no such document"]
    r = api.post(f"/v1/documents/{ids[0]}/retry", who="reviewer")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_retriable"  # done again: in review or verified
    assert api.post("/v1/documents/999/retry", who="reviewer").status_code == 404
    r = api.post("/v1/retries", json={"all_failed": True, "error_code": "x"})
    assert r.status_code == 422
    r = api.post("/v1/retries", json={"document_ids": [ids[0]], "reextract": True, "model_version": "nope@9"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_model"
    # a newer model: the re-run records which version it asked for and uses it
    with api.svc.db.session() as s:
        s.execute(update(Document).where(Document.id == ids[0]).values(status="failed", error_code="worker_crashed"))
    r = api.post(f"/v1/documents/{ids[0]}/retry", who="reviewer", json={"model_version": "baseline@1"})
    assert r.status_code == 202
    job = api.get(f"/v1/jobs/{r.json()['job_id']}").json()
    assert job["model_version"] == "baseline@1" and job["status"] == "done"


def test_retry_cli(tmp_path: Path):
    env = {"GONGKAI_DATA_DIR": str(tmp_path / "data"), "GONGKAI_IMMEDIATE": "true"}
    from service.core import Service
    from service.db import Document, Job
    from service.settings import Settings

    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'gongkai.db'}", immediate=True)
    api = next(gen)
    doc_id = api.upload(SEEDS[0]).json()["items"][0]["document_id"]
    api.wait(doc_id)
    gen.close()
    svc = Service(Settings(data_dir=tmp_path / "data", immediate=True))
    with svc.db.session() as s:
        s.execute(update(Document).values(status="failed", error_code="worker_crashed"))
    svc.close()
    r = cli("retry", env=env)
    assert r.exit_code == 2 and "exactly one" in r.output
    r = cli("retry", "--code", "worker_crashed", "--json", env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["queued"] == 1 and out["items"][0]["document_id"] == doc_id
    r = cli("retry", str(doc_id), env=env)
    assert "skipped: not failed (in review)" in r.output or "skipped: verified" in r.output
    svc = Service(Settings(data_dir=tmp_path / "data", immediate=True))
    with svc.db.session() as s:
        assert s.get(Document, doc_id).status in ("review", "verified")
        assert len(s.scalars(select(Job).where(Job.document_id == doc_id)).all()) == 2
    svc.close()


# --------------------------------------------------------------------------------------------
# Workers, health, the queue


def test_metrics_and_status_list_the_live_workers_and_jobs_name_their_worker(live_api: Api):
    r = live_api.get("/v1/metrics").json()
    assert [w["kind"] for w in r["workers"]] == ["embedded"] and r["workers"][0]["pid"] > 0
    assert r["queue"]["reachable"] and r["queue"]["queued_jobs"] == 0
    item = live_api.upload(SEEDS[0]).json()["items"][0]
    live_api.wait(item["document_id"])
    job = live_api.get(f"/v1/jobs/{item['job_id']}").json()
    worker = r["workers"][0]["id"]
    assert job["worker"].startswith(worker + ":"), (job["worker"], worker)  # host:pid:thread
    w = live_api.get("/v1/workers").json()["workers"][0]
    assert w["jobs_done"] >= 1 and w["current_jobs"] == []


def test_a_requeued_job_shows_its_document_waiting_not_stale_progress(api: Api):
    from service.db import Document, Job, utcnow
    from service.jobs import sweep

    item = api.upload(SEEDS[0]).json()["items"][0]
    api.wait(item["document_id"])
    import datetime as dt

    with api.svc.db.session() as s:  # as if its worker died mid-way through page 3
        s.execute(
            update(Job)
            .where(Job.id == item["job_id"])
            .values(status="running", lease_owner="gone:1:1", lease_until=utcnow() - dt.timedelta(seconds=5), pages_done=3)
        )
        s.execute(update(Document).where(Document.id == item["document_id"]).values(status="processing"))
    q = api.get("/v1/workers").json()["queue"]
    assert q["running_jobs"] == 1 and q["orphaned_jobs"] == 1, q  # its worker is not among the live ones
    sent: list[int] = []
    api.svc.enqueue = lambda job_id, delay=None: sent.append(job_id)  # the message only: no inline re-run
    assert sweep(api.svc) == [item["job_id"]] and sent == [item["job_id"]]
    doc = api.get(f"/v1/documents/{item['document_id']}").json()
    assert doc["status"] == "queued" and doc["job"]["status"] == "queued"
    assert doc["job"]["pages_done"] == 0 and doc["job"]["requeues"] == 1 and doc["job"]["worker"] is None
    assert doc["job"]["waiting"].startswith("re-run: its worker stopped")


def test_health_is_not_ok_while_the_queue_is_down(tmp_path: Path):
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=False, redis_url=down)
    api = next(gen)
    try:
        r = api.get("/v1/health", who=None)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "degraded" and body["checks"]["database"]["ok"] and body["checks"]["store"]["ok"]
        assert not body["checks"]["queue"]["ok"] and body["checks"]["queue"]["kind"] == "redis"
        m = api.get("/v1/metrics").json()
        assert m["queue"]["reachable"] is False and m["queue"]["pending_messages"] is None
    finally:
        gen.close()


def test_a_queue_outage_logs_one_line_per_backoff_step_not_a_traceback_a_second(tmp_path: Path, caplog):
    from service.core import Service
    from service.settings import Settings
    from service.workers import make_consumer

    down = f"redis://127.0.0.1:{free_port()}/0"
    svc = Service(Settings(data_dir=tmp_path / "d", redis_url=down, queue_backoff_max_s=4, isolation="inline"))
    consumer = make_consumer(svc, workers=2, embedded=True)
    caplog.set_level(logging.INFO)
    consumer.start()
    time.sleep(5.5)  # tries at 0, 1, 3 s (steps 1 s, 2 s, 4 s); huey would have logged ~10 tracebacks
    consumer.stop(graceful=True)
    svc.close()
    lines = [r for r in caplog.records if "queue unreachable" in r.getMessage()]
    assert 2 <= len(lines) <= 4, [r.getMessage() for r in lines]
    assert not [r for r in caplog.records if r.exc_info], "no traceback while the queue is down"
    assert [r.getMessage().rsplit("next try in ", 1)[1] for r in lines][:3] == ["1 s", "2 s", "4 s"][: len(lines)]
    assert svc.queue_backoff.error and "Error" in svc.queue_backoff.error


# --------------------------------------------------------------------------------------------
# Logs


def test_log_lines_name_the_job_and_the_document(api: Api):
    from service.logs import ContextFilter, JsonFormatter, TextFormatter, context

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        item = api.upload(SEEDS[1]).json()["items"][0]
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    mine = [r for r in records if r.name == "gongkai.jobs"]
    assert mine and all(r.gk_fields["job"] == item["job_id"] for r in mine)
    assert any(r.gk_fields.get("document") == item["document_id"] for r in mine)
    with context(job=7, document=3):
        rec = logging.LogRecord("gongkai.jobs", logging.WARNING, __file__, 1, "it %s", ("broke",), None)
        ContextFilter().filter(rec)
    assert TextFormatter().format(rec).endswith("gongkai.jobs: it broke job=7 document=3")
    assert json.loads(JsonFormatter().format(rec))["job"] == 7
    r = cli("worker", env={"GONGKAI_LOG_FORMAT": "xml"})
    assert r.exit_code == 2 and "'text' or 'json'" in r.output


# --------------------------------------------------------------------------------------------
# Page checkpoints


@pytest.mark.parametrize("depth", [1, 2])
def test_pages_in_the_cache_are_not_read_again_and_new_pages_are_kept(monkeypatch, depth: int):
    import numpy as np

    from extraction import progress
    from extraction.document import DocumentState, Field, Line
    from extraction.ingest import IngestOptions
    from extraction.ingest import image as image_mod
    from extraction.ocr.base import OcrOptions
    from service.extract_task import Checkpoints, lines_from_json, lines_to_json

    read: list[int] = []

    def fake_ocr(img, page, opts, engine=None, deadline=None, stretch=1.0):
        read.append(page)
        return [Line([Field(f"page {page}", page=page, bbox=(1.0, 2.0, 3.0, 4.0), alternatives=["x"])], page=page)]

    monkeypatch.setattr(image_mod, "ocr_page", fake_ocr)
    monkeypatch.setattr(image_mod, "load_engine", lambda opts: object())
    earlier = lines_to_json(fake_ocr(None, 1, None))
    read.clear()
    kept: dict[int, list] = {}
    cache = Checkpoints({1: earlier}, lambda n, data: kept.__setitem__(n, data))
    state = DocumentState(name="x", sha256="0" * 64, kind="image")
    pages = [(n, lambda: np.zeros((8, 8), dtype=np.uint8)) for n in (1, 2, 3)]
    token = progress.page_cache.set(cache)
    try:
        image_mod.read_pages(state, pages, IngestOptions(ocr=OcrOptions(pages_in_flight=depth)))
    finally:
        progress.page_cache.reset(token)
    assert read == [2, 3], "page 1 came from its checkpoint"
    assert sorted(kept) == [2, 3] and cache.reused == 1
    assert [ln.text for ln in state.lines] == ["page 1", "page 2", "page 3"]
    back = lines_from_json(kept[2])
    assert back[0].fields[0].bbox == (1.0, 2.0, 3.0, 4.0) and back[0].page == 2
