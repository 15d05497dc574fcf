"""The HTTP API on SQLite and PostgreSQL: uploads, results, exports, review, tokens, migrations."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests.conftest_service import REAL, SEEDS, Api, make_api

# the shared fixtures, bound to this module's names so pytest finds them
api, db_url, live_api = fx.api, fx.db_url, fx.live_api

REAL_012 = next(p for p in REAL if p.stem == "real-012")  # wrong in its source: two appeals rules fail


def upload_one(api: Api, path: Path, who: str = "submitter") -> dict:
    r = api.upload(path, who=who)
    assert r.status_code == 202, r.text
    return r.json()["items"][0]


def test_upload_extracts_and_returns_the_canonical_json(api: Api):
    item = upload_one(api, SEEDS[0])
    assert item["kind"] == "txt" and item["duplicate"] is False and item["job_id"]
    doc = api.wait(item["document_id"], who="submitter")
    assert doc["status"] in ("review", "verified") and doc["model_version"] == "baseline@1"
    assert doc["job"]["status"] == "done" and doc["job"]["pages_done"] == doc["job"]["pages_total"] == 1
    result = api.get(f"/v1/documents/{item['document_id']}/result", who="submitter").json()
    assert result["schema"] == "gov-disclosure-report" and len(result["cells"]) == 200
    truth = json.loads((SEEDS[0].parent / "truth" / f"{SEEDS[0].stem}.json").read_text(encoding="utf-8"))
    assert {k: c["value"] for k, c in result["cells"].items()} == truth["cells"]
    cells = api.get(f"/v1/documents/{item['document_id']}/cells", who="submitter").json()
    assert len(cells) == 200 and all(0 <= c["confidence"] <= 1 for c in cells)
    checks = api.get(f"/v1/documents/{item['document_id']}/checks", who="submitter").json()
    assert checks and all(c["passed"] for c in checks if c["severity"] == "error")
    job = api.get(f"/v1/jobs/{item['job_id']}", who="submitter").json()
    assert job["status"] == "done" and job["attempts"] == 1


def test_type_is_sniffed_from_the_bytes_not_the_client(api: Api):
    r = api.post(
        "/v1/documents",
        who="submitter",
        files=[("files", ("report.pdf", SEEDS[1].read_bytes(), "application/pdf"))],
    )
    assert r.status_code == 202 and r.json()["items"][0]["kind"] == "txt"
    r = api.post("/v1/documents", who="submitter", files=[("files", ("report.txt", b"\x7fELF\x02\x01\x01" + b"\0" * 64, "text/plain"))])
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_input"
    r = api.post("/v1/documents", who="submitter", files=[("files", ("empty.txt", b"", "text/plain"))])
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_input"
    r = api.post("/v1/documents", who="submitter", files=[("files", ("x.pdf", b"%PDF-1.7\n garbage", "application/pdf"))])
    assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_input"


def test_a_bad_file_in_a_batch_keeps_the_good_ones(api: Api):
    r = api.post(
        "/v1/documents",
        who="submitter",
        files=[
            ("files", ("a.txt", SEEDS[0].read_bytes(), "text/plain")),
            ("files", ("junk.bin", b"MZ\x90\x00" * 10, "text/plain")),
            ("files", ("b.txt", SEEDS[1].read_bytes(), "text/plain")),
        ],
    )
    assert r.status_code == 202
    items = r.json()["items"]
    assert [i["error"]["code"] if i["error"] else "ok" for i in items] == ["ok", "unsupported_input", "ok"]
    listed = api.get("/v1/documents", who="submitter").json()
    assert listed["total"] == 2


def test_a_failing_report_is_failed_with_its_code(api: Api):
    r = api.post("/v1/documents", who="submitter", files=[("files", ("n.txt", "今天天气很好。\n" * 50, "text/plain"))])
    doc = api.wait(r.json()["items"][0]["document_id"], who="submitter")
    assert doc["status"] == "failed" and doc["error_code"] == "not_a_report"
    assert doc["job"]["status"] == "failed"
    assert api.get(f"/v1/documents/{doc['id']}/result", who="submitter").status_code == 409


def test_same_bytes_twice_are_one_document(api: Api):
    first = upload_one(api, SEEDS[0])
    again = upload_one(api, SEEDS[0])
    assert again["document_id"] == first["document_id"] and again["duplicate"] is True
    assert again["job_id"] == first["job_id"]
    # another submitter sending the same bytes gets a document of their own (tests/service/test_security_limits.py:
    # nothing of the first one's is readable); the original is stored once
    assert api.get(f"/v1/documents/{first['document_id']}", who="other").status_code == 404
    theirs = upload_one(api, SEEDS[0], who="other")
    assert theirs["document_id"] != first["document_id"] and theirs["duplicate"] is False
    assert api.get(f"/v1/documents/{first['document_id']}", who="other").status_code == 404
    assert api.get("/v1/documents", who="reviewer").json()["total"] == 2
    assert len(list(api.svc.store.digests())) == 1


def test_idempotency_key(api: Api):
    key = {"Idempotency-Key": "upload-42"}
    r1 = api.upload(SEEDS[2], headers=key)
    r2 = api.upload(SEEDS[2], headers=key)
    assert r1.status_code == r2.status_code == 202
    assert r1.json() == r2.json() and r2.headers.get("Idempotent-Replayed") == "true"
    r3 = api.upload(SEEDS[3], headers=key)
    assert r3.status_code == 422 and r3.json()["error"]["code"] == "idempotency_key_reused"
    # keys belong to a token: another token may use the same key for its own request
    assert api.upload(SEEDS[3], headers=key, who="other").status_code == 202


def test_size_and_page_limits(tmp_path: Path, db_url: str):
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for _ in range(3):
        c.drawString(100, 700, "page")
        c.showPage()
    c.save()
    pdf = tmp_path / "three.pdf"
    pdf.write_bytes(buf.getvalue())
    gen = make_api(tmp_path / "d", db_url, immediate=True, max_upload_bytes=4000, max_pages=2)
    small = next(gen)
    try:
        r = small.upload(SEEDS[0])
        assert SEEDS[0].stat().st_size > 4000
        assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large"
        r = small.upload(pdf)
        assert r.status_code == 413 and "pages" in r.json()["error"]["message"]
    finally:
        gen.close()


def test_exports_and_batch_export(api: Api):
    ids = [upload_one(api, p)["document_id"] for p in SEEDS[:3]]
    for i in ids:
        api.wait(i)
    r = api.get(f"/v1/documents/{ids[0]}/export/csv", who="submitter")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["cell", "table", "row"] and len(rows) == 201
    r = api.get(f"/v1/documents/{ids[0]}/export/xlsx", who="submitter")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(r.content))
    assert wb["cells"].max_row == 201
    assert api.get(f"/v1/documents/{ids[0]}/export/json", who="submitter").json()["schema"] == "gov-disclosure-report"
    # batch: one row per report, one column per cell
    r = api.post("/v1/exports", who="submitter", json={"document_ids": ids, "format": "csv"})
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(table) == 4 and "applications.new.total" in table[0] and len(table[0]) >= 8 + 200
    col = table[0].index("applications.new.total")
    for row, doc_id in zip(table[1:], ids, strict=True):
        result = api.get(f"/v1/documents/{doc_id}/result").json()
        assert row[0] == str(doc_id)
        assert row[col] == str(result["cells"]["applications.new.total"]["value"])
    r = api.post("/v1/exports", who="submitter", json={"format": "xlsx"})
    ws = load_workbook(io.BytesIO(r.content))["reports"]
    assert ws.max_row == 4
    r = api.post("/v1/exports", who="submitter", json={"document_ids": ids[:1], "format": "json"})
    assert len(r.json()) == 1 and len(r.json()[0]["cells"]) == 200
    # someone else's document is not exported
    assert api.post("/v1/exports", who="other", json={"document_ids": ids[:1]}).status_code == 404


def test_review_corrects_reruns_rules_and_verifies(api: Api):
    doc_id = upload_one(api, REAL_012)["document_id"]
    doc = api.wait(doc_id)
    assert doc["status"] == "review" and doc["failed_rules"] == 2
    state = api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()
    queue = state["queue"]
    assert queue and queue[0]["failing_rules"], "failing rules come first"
    firsts = [bool(c["failing_rules"]) for c in queue]
    assert firsts == sorted(firsts, reverse=True)
    # across documents too
    assert api.get("/v1/review/queue", who="reviewer").json()[0]["document_id"] == doc_id

    # correct a cell so that one failing rule passes: the rules re-run at once
    cell = next(c for c in queue if c["cell_id"].endswith(".total") and "appeals.total.review" in c["failing_rules"])
    result = api.get(f"/v1/documents/{doc_id}/result").json()
    parts = [f"appeals.review.{k}" for k in ("upheld", "corrected", "other", "pending")]
    right = sum(result["cells"][p]["value"] or 0 for p in parts)
    r = api.post(f"/v1/documents/{doc_id}/cells/{cell['cell_id']}/correct", who="reviewer", json={"value": str(right)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["cell"]["value"] == right and out["cell"]["corrected"] and "corrected" in out["cell"]["flags"]
    assert "appeals.total.review" not in out["failed_rules"] and len(out["failed_rules"]) == 1
    assert api.get(f"/v1/documents/{doc_id}").json()["failed_rules"] == 1
    audit = api.get(f"/v1/documents/{doc_id}/audit", who="reviewer").json()
    assert audit[-1]["action"] == "correct" and audit[-1]["reviewer"] == "reviewer"
    assert audit[-1]["old_value"] == cell["value"] and audit[-1]["new_value"] == right and audit[-1]["at"]
    # canonical result and exports carry the correction
    result = api.get(f"/v1/documents/{doc_id}/result", who="submitter").json()
    assert result["cells"][cell["cell_id"]]["value"] == right
    assert result["cells"][cell["cell_id"]]["model"] == "review:reviewer"

    # bad values are refused clearly and change nothing
    bad = api.post(f"/v1/documents/{doc_id}/cells/{cell['cell_id']}/correct", who="reviewer", json={"value": "1.5"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_value"
    assert api.post(f"/v1/documents/{doc_id}/cells/nope.x.y/accept", who="reviewer").status_code == 404
    assert len(api.get(f"/v1/documents/{doc_id}/audit", who="reviewer").json()) == 1

    # bulk-accept accepts the cells that pass every rule; the rest stay open
    r = api.post(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": True}).json()
    assert r["accepted"] > 0 and not r["verified"] and r["open_reviews"] > 0
    # accept what is left (the report is wrong in its source): verified
    left = api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()["queue"]
    for c in left:
        out = api.post(f"/v1/documents/{doc_id}/cells/{c['cell_id']}/accept", who="reviewer").json()
    assert out["verified"] and out["next_cell"] is None
    assert api.get(f"/v1/documents/{doc_id}").json()["status"] == "verified"
    truth = api.get(f"/v1/documents/{doc_id}/labeled", who="reviewer").json()
    assert truth["format"] == "2021" and truth["cells"][cell["cell_id"]] == right
    assert len(truth["cells"]) == len(result["cells"]) and truth["report"]["variants"] == result["report"]["variants"]


def test_a_correction_that_breaks_a_rule_sends_cells_back_to_review(api: Api):
    doc_id = upload_one(api, SEEDS[4])["document_id"]
    api.wait(doc_id)
    api.post(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": True})
    assert api.get(f"/v1/documents/{doc_id}").json()["status"] == "verified"
    result = api.get(f"/v1/documents/{doc_id}/result").json()
    old = result["cells"]["applications.new.natural_person"]["value"]
    out = api.post(
        f"/v1/documents/{doc_id}/cells/applications.new.natural_person/correct",
        who="reviewer",
        json={"value": old + 1},
    ).json()
    assert "applications.total.new" in out["failed_rules"]
    # the corrected cell itself is reviewed; the row's total (reviewed by bulk accept) is reviewed too
    assert out["cell"]["reviewed"]
    assert api.get(f"/v1/documents/{doc_id}").json()["failed_rules"] >= 1


def test_reviewers_saving_cells_of_one_document_at_once_keep_its_summary_true(api: Api):
    """Each save recomputes the document's summary; concurrent saves must not write a stale one."""
    from concurrent.futures import ThreadPoolExecutor

    doc_id = upload_one(api, REAL_012)["document_id"]
    api.wait(doc_id)
    cells = list(api.get(f"/v1/documents/{doc_id}/result").json()["cells"])[:24]

    def accept(cid: str) -> int:
        return api.post(f"/v1/documents/{doc_id}/cells/{cid}/accept", who="reviewer").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(accept, cells)) == {200}
    state = api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()
    doc = api.get(f"/v1/documents/{doc_id}").json()
    assert doc["open_reviews"] == state["open_reviews"] and doc["status"] == state["status"]
    audit = api.get(f"/v1/documents/{doc_id}/audit", who="reviewer").json()
    assert sorted(a["cell_id"] for a in audit) == sorted(cells)


def test_tokens_cli_and_api(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from gongkai.cli import main
    from service.api import create_app
    from service.core import Service
    from service.settings import Settings

    data = tmp_path / "data"
    monkeypatch.setenv("GONGKAI_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    r = CliRunner().invoke(main, ["tokens", "create", "--role", "admin", "--name", "ops"])
    assert r.exit_code == 0, r.output
    admin = r.stdout.strip().splitlines()[0]
    assert admin.startswith("gk_")
    r = CliRunner().invoke(main, ["tokens", "list"])
    assert "ops" in r.output and admin not in r.output
    # only the hash is stored
    assert admin.encode() not in (data / "gongkai.db").read_bytes()
    svc = Service(Settings(data_dir=data, immediate=True))
    with TestClient(create_app(svc)) as c:
        h = {"Authorization": f"Bearer {admin}"}
        assert c.get("/v1/me", headers=h).json()["role"] == "admin"
        made = c.post("/v1/tokens", headers=h, json={"name": "bob", "role": "reviewer"}).json()
        hb = {"Authorization": f"Bearer {made['token']}"}
        assert c.get("/v1/me", headers=hb).json() == {"id": made["id"], "name": "bob", "role": "reviewer"}
        assert "token" not in c.get("/v1/tokens", headers=h).json()[0]
        assert c.delete(f"/v1/tokens/{made['id']}", headers=h).status_code == 204
        assert c.get("/v1/me", headers=hb).status_code == 401
        assert c.get("/v1/me", headers={"Authorization": "Bearer gk_wrong"}).status_code == 401
    r = CliRunner().invoke(main, ["tokens", "revoke", "1"])
    assert r.exit_code == 0


def test_migrations_ship_inside_the_package(tmp_path: Path, db_url: str):
    import service
    from service.migrate import MIGRATIONS, current, upgrade

    assert MIGRATIONS.is_relative_to(Path(service.__file__).parent)
    assert (MIGRATIONS / "env.py").exists() and (MIGRATIONS / "script.py.mako").exists()
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    from alembic.script import ScriptDirectory

    from service.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config(db_url)).get_heads()
    assert len(heads) == 1 and current(db_url) == heads[0]  # one line of migrations, all applied
    # the migrations make exactly the tables the models describe (no drift between the two)
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.db import Base, make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert not [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"], diff


def test_store_is_content_addressed(tmp_path: Path):
    from service.store import FileStore, sha256_hex

    store = FileStore(tmp_path)
    digest = store.put(b"hello")
    assert digest == sha256_hex(b"hello") and store.put(b"hello") == digest
    assert store.path(digest).relative_to(tmp_path).parts[:3] == ("sha256", digest[:2], digest[2:4])
    assert store.get(digest) == b"hello"
    store.path(digest).write_bytes(b"tampered")
    with pytest.raises(OSError):
        store.get(digest)


def test_openapi_documents_versioned_routes(api: Api):
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert all(p.startswith("/v1/") for p in paths)
    assert "/v1/documents" in paths and "/v1/training/runs" in paths
    assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])
    assert api.client.get("/docs").status_code == 200


def test_the_inprocess_worker_runs_jobs(live_api: Api):
    """Not immediate mode: the SQLite Huey queue and the worker thread of `gongkai serve`."""
    ids = [upload_one(live_api, p)["document_id"] for p in SEEDS]
    docs = [live_api.wait(i, timeout=60) for i in ids]
    assert all(d["job"]["status"] == "done" and d["job"]["attempts"] == 1 for d in docs)


def test_sweeper_requeues_a_job_whose_worker_died(api: Api):
    """A job left `running` by a dead worker (lease run out) is re-run once; its stale runner cannot write."""
    import datetime as dt

    from sqlalchemy import update

    from service.db import Document, Job, utcnow
    from service.jobs import claim, sweep

    item = upload_one(api, SEEDS[0])
    svc = api.svc
    with svc.db.session() as s:  # pretend the job was claimed by a worker that then died
        s.execute(update(Job).where(Job.id == item["job_id"]).values(status="queued", attempts=0))
        s.execute(update(Document).where(Document.id == item["document_id"]).values(status="queued", result_id=None))
        from sqlalchemy import delete

        from service.db import Result

        s.execute(delete(Result))
    token = claim(svc, item["job_id"], "dead-worker")
    assert token == 1
    assert claim(svc, item["job_id"], "other") is None  # held: nobody else takes it
    with svc.db.session() as s:
        s.execute(update(Job).where(Job.id == item["job_id"]).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    assert sweep(svc) == [item["job_id"]]  # immediate mode: re-run inline
    with svc.db.session() as s:
        job = s.get(Job, item["job_id"])
        assert job.status == "done" and job.attempts == 2 and job.requeues == 1
    assert sweep(svc) == []
