"""The review and retraining loop as reviewers and admins use it (issue 17): corrections checked
against the cell's statutory type, bulk accept that is confirmed and never accepts a blank, undo of
every review action, refusals at upload, offline API docs, download names, the model that is active
for the service and the CLI alike, and the activation gate of a trained candidate."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests.conftest import ROOT
from tests.conftest_service import REAL, SEEDS, Api, make_api

db_url = fx.db_url
REAL_012 = next(p for p in REAL if p.name.startswith("real-012"))
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def api(tmp_path: Path, db_url: str):
    yield from make_api(tmp_path / "data", db_url, immediate=True)


def extracted(api: Api, path: Path, name: str | None = None) -> int:
    r = api.upload(path, names={path: name} if name else None)
    assert r.status_code == 202, r.text
    doc_id = r.json()["items"][0]["document_id"]
    api.wait(doc_id)
    return doc_id


def audit(api: Api, doc_id: int) -> list[dict]:
    return api.get(f"/v1/documents/{doc_id}/audit", who="reviewer").json()


def value_of(api: Api, doc_id: int, cid: str):
    return api.get(f"/v1/documents/{doc_id}/result").json()["cells"][cid]["value"]


# --------------------------------------------------------------------------------------------
# corrections


INVALID = [
    ("negative", "applications.new.natural_person", "-3", "negative"),
    ("fractional_count", "applications.new.natural_person", "1.5", "not_whole"),
    ("not_a_number", "applications.new.natural_person", "abc", "not_a_number"),
    ("too_large", "applications.new.natural_person", "1e12", "too_large"),
    ("empty", "applications.new.natural_person", "", "empty"),
    ("spaces", "applications.new.natural_person", "   ", "empty"),
    ("not_finite", "applications.new.natural_person", "NaN", "not_finite"),
    ("infinite_number", "applications.new.natural_person", "Infinity", "not_finite"),
    ("boolean", "applications.new.natural_person", True, "wrong_type"),
    ("list", "applications.new.natural_person", [1], "wrong_type"),
    ("too_long", "applications.new.natural_person", "1" * 65, "too_long"),
    ("negative_amount", "proactive.fees.amount", "-0.5", "negative"),
    ("amount_too_precise", "proactive.fees.amount", "1.234567", "too_precise"),
    ("fractional_json_number", "appeals.review.upheld", 2.5, "not_whole"),
]


@pytest.mark.parametrize(("case", "cid", "raw", "reason"), INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_correction_is_refused_in_chinese_and_nothing_is_stored(api: Api, case, cid, raw, reason):
    doc_id = extracted(api, SEEDS[0])
    before = api.get(f"/v1/documents/{doc_id}/result").json()
    queue_before = api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()["open_reviews"]
    r = api.post(f"/v1/documents/{doc_id}/cells/{cid}/correct", who="reviewer", json={"value": raw})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "bad_value" and err["detail"]["reason"] == reason, err
    assert CJK.search(err["message"]), f"the message is in Chinese: {err['message']}"
    assert err["message_en"] and not CJK.search(err["message_en"].replace("万元", ""))
    # nothing stored: no audit row, the value, the queue and the document as they were
    assert audit(api, doc_id) == []
    after = api.get(f"/v1/documents/{doc_id}/result").json()
    assert after["cells"][cid] == before["cells"][cid]
    assert api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()["open_reviews"] == queue_before


def test_valid_corrections_take_the_cell_type(api: Api):
    doc_id = extracted(api, SEEDS[0])
    cases = [
        ("applications.new.natural_person", "１２", 12),  # full-width digits
        ("applications.new.natural_person", "1,234", 1234),
        ("applications.new.natural_person", "7.0", 7),
        ("proactive.fees.amount", "12.5", 12.5),
        ("proactive.fees.amount", "0.0001", 0.0001),
        ("proactive.fees.amount", 3, 3),
        ("appeals.review.upheld", "-", None),  # the report leaves it blank
        ("appeals.review.upheld", None, None),
    ]
    for cid, raw, want in cases:
        r = api.post(f"/v1/documents/{doc_id}/cells/{cid}/correct", who="reviewer", json={"value": raw})
        assert r.status_code == 200, (raw, r.text)
        assert r.json()["cell"]["value"] == want and value_of(api, doc_id, cid) == want


def test_the_values_module_alone():
    from service.values import CellValueError, validate_cell_value

    assert validate_cell_value("2019", (), "proactive.licensing.change", "-4") == -4  # 本年增/减 may be negative
    with pytest.raises(CellValueError) as exc:
        validate_cell_value("2021", (), "nope.x.y", 1)
    assert exc.value.reason == "unknown_cell"
    # one policy for every way a value enters: '' is a slip (refused), '-' or null a blank cell
    with pytest.raises(CellValueError) as exc:
        validate_cell_value("2021", (), "applications.new.total", "")
    assert exc.value.reason == "empty"
    assert validate_cell_value("2021", (), "applications.new.total", "-") is None


def test_labeled_import_uses_the_same_checks(api: Api):
    doc_id = extracted(api, SEEDS[0])
    r = api.post(
        "/v1/labeled",
        who="reviewer",
        json={"records": [{"document_id": doc_id, "cells": {"applications.new.natural_person": "1.5"}}]},
    ).json()
    rec = r["records"][0]
    assert rec["status"] == "rejected" and rec["error"]["code"] == "bad_value"
    assert rec["error"]["detail"]["cells"][0]["reason"] == "not_whole"
    assert audit(api, doc_id) == []
    # '' is refused on import as on a correction; '-' is a blank cell
    cid = "applications.new.natural_person"
    r = api.post("/v1/labeled", who="reviewer", json={"records": [{"document_id": doc_id, "cells": {cid: ""}}]}).json()
    assert r["records"][0]["error"]["detail"]["cells"][0]["reason"] == "empty"
    r = api.post("/v1/labeled", who="reviewer", json={"records": [{"document_id": doc_id, "cells": {cid: "-"}}]}).json()
    assert r["records"][0]["status"] == "imported" and value_of(api, doc_id, cid) is None


# --------------------------------------------------------------------------------------------
# bulk accept and undo


def blank_doc(api: Api, tmp_path: Path) -> tuple[int, list[str]]:
    """A report whose 规章 row leaves a cell blank (a blank the rules cannot see: table 二 has no sums)."""
    text = SEEDS[0].read_text(encoding="utf-8")
    assert "规章\t0\t0\t0" in text
    path = tmp_path / "blank.txt"
    path.write_text(text.replace("规章\t0\t0\t0", "规章\t0\t\t0", 1), encoding="utf-8")
    doc_id = extracted(api, path)
    pre = api.get(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer").json()
    assert pre["skipped_blank"] == ["proactive.rules.repealed"], pre["skipped_blank"]
    return doc_id, pre["skipped_blank"]


def test_bulk_accept_is_confirmed_never_accepts_a_blank_and_is_undone_whole(api: Api, tmp_path: Path):
    doc_id, blanks = blank_doc(api, tmp_path)
    before = api.get(f"/v1/documents/{doc_id}").json()
    pre = api.get(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer").json()
    assert pre["cells"] == len(pre["cell_ids"]) > 0
    assert not set(pre["cell_ids"]) & set(pre["skipped_blank"])
    result = api.get(f"/v1/documents/{doc_id}/result").json()
    assert all(result["cells"][c]["value"] is None for c in pre["skipped_blank"])
    assert all(result["cells"][c]["value"] is not None for c in pre["cell_ids"])
    # 1. not confirmed: refused, with the preview to show; nothing stored
    r = api.post(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": False})
    assert r.status_code == 422 and r.json()["error"]["code"] == "confirmation_required"
    assert CJK.search(r.json()["error"]["message"]) and r.json()["error"]["detail"]["preview"]["cells"] == pre["cells"]
    assert api.post(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer").status_code == 422  # no body
    # 2. confirmed against a preview that no longer holds: refused
    r = api.post(
        f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": True, "expected_cells": pre["cells"] + 1}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "preview_stale"
    assert audit(api, doc_id) == []
    # 3. confirmed: the cells with a value are accepted, no blank one
    r = api.post(
        f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": True, "expected_cells": pre["cells"]}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == pre["cells"] and out["batch"]
    rows = audit(api, doc_id)
    assert {a["cell_id"] for a in rows} == set(pre["cell_ids"]) and {a["batch"] for a in rows} == {out["batch"]}
    cells = {c["cell_id"]: c for c in api.get(f"/v1/documents/{doc_id}/cells").json()}
    assert not any(cells[c]["reviewed"] for c in blanks)
    # 4. undo any row of the batch: the whole bulk accept is reversed, and audited
    u = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer", json={"action_id": rows[3]["id"]})
    assert u.status_code == 200, u.text
    assert sorted(u.json()["undone"]) == sorted(a["id"] for a in rows)
    cells = {c["cell_id"]: c for c in api.get(f"/v1/documents/{doc_id}/cells").json()}
    assert not any(cells[c]["reviewed"] for c in pre["cell_ids"])
    after = api.get(f"/v1/documents/{doc_id}").json()
    assert (after["status"], after["open_reviews"], after["failed_rules"]) == (
        before["status"],
        before["open_reviews"],
        before["failed_rules"],
    )
    trail = audit(api, doc_id)
    assert all(a["undone"] for a in trail if a["action"] == "bulk_accept")
    assert sum(1 for a in trail if a["action"] == "undo") == len(rows)
    # an undone batch cannot be undone again; an undo cannot be undone
    again = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer", json={"action_id": rows[0]["id"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_undone"
    undo_row = next(a for a in trail if a["action"] == "undo")
    r = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer", json={"action_id": undo_row["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_undoable"


def test_undo_reverses_a_correction_and_an_accept(api: Api):
    doc_id = extracted(api, REAL_012)
    cid = "appeals.review.upheld"
    original = value_of(api, doc_id, cid)
    failed_before = api.get(f"/v1/documents/{doc_id}").json()["failed_rules"]
    assert api.post(f"/v1/documents/{doc_id}/cells/{cid}/correct", who="reviewer", json={"value": 999}).status_code == 200
    assert value_of(api, doc_id, cid) == 999
    other = "appeals.review.total"
    assert api.post(f"/v1/documents/{doc_id}/cells/{other}/accept", who="reviewer").status_code == 200
    # default: the reviewer's last action (the accept), then the one before (the correction)
    u1 = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer").json()
    assert u1["cells"] == [other]
    u2 = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer", json={}).json()
    assert u2["cells"] == [cid]
    assert value_of(api, doc_id, cid) == original
    assert api.get(f"/v1/documents/{doc_id}").json()["failed_rules"] == failed_before
    cells = {c["cell_id"]: c for c in api.get(f"/v1/documents/{doc_id}/cells").json()}
    assert not cells[cid]["reviewed"] and not cells[cid]["corrected"] and not cells[other]["reviewed"]
    trail = audit(api, doc_id)
    undo_of_correct = next(a for a in trail if a["action"] == "undo" and a["cell_id"] == cid)
    assert (undo_of_correct["old_value"], undo_of_correct["new_value"]) == (999, original)
    r = api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer")
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_undo"
    assert api.post(f"/v1/documents/{doc_id}/review/undo", who="reviewer", json={"action_id": 10**6}).status_code == 404


# --------------------------------------------------------------------------------------------
# uploads, docs, downloads


def test_random_bytes_are_refused_at_upload_with_415(api: Api):
    junk = os.urandom(200 * 1024)
    r = api.post("/v1/documents", who="submitter", files=[("files", ("report.txt", junk, "text/plain"))])
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_input"
    assert api.get("/v1/documents").json()["total"] == 0
    # beside a good file: the good one is accepted, the junk has its error
    r = api.post(
        "/v1/documents",
        who="submitter",
        files=[("files", ("junk.bin", junk[:5000], "application/octet-stream")), ("files", ("a.txt", SEEDS[0].read_bytes(), "text/plain"))],
    )
    assert r.status_code == 202
    items = r.json()["items"]
    assert items[0]["error"]["code"] == "unsupported_input" and items[1]["document_id"]


def test_api_docs_work_offline(api: Api):
    for path in ("/docs", "/redoc"):
        r = api.client.get(path)
        assert r.status_code == 200
        html = r.text
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), f"an external URL in {path}"
        for asset in re.findall(r"""(?:src|href)=["']?(/docs-assets/[^"' >]+)""", html):
            got = api.client.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset
    assert "swagger-ui-bundle.js" in api.client.get("/docs").text


def test_downloads_are_named_after_the_source_file(api: Api):
    from urllib.parse import unquote

    doc_id = extracted(api, SEEDS[0], name="卫东区2023年报告.txt")
    for fmt in ("csv", "xlsx", "json"):
        cd = api.get(f"/v1/documents/{doc_id}/export/{fmt}").headers["content-disposition"]
        assert cd.startswith("attachment;")
        star = re.search(r"filename\*=UTF-8''(\S+)", cd).group(1)
        assert unquote(star) == f"卫东区2023年报告.{fmt}"
        assert re.search(r'filename="([ -~]+)"', cd).group(1) == f"___2023___.{fmt}"
    cd = api.get(f"/v1/documents/{doc_id}/original").headers["content-disposition"]
    assert unquote(re.search(r"filename\*=UTF-8''(\S+)", cd).group(1)) == "卫东区2023年报告.txt"


def test_download_names_are_made_safe():
    from service.downloads import content_disposition, safe_stem

    assert safe_stem("../../etc/passwd.txt", "d") == "passwd"
    assert safe_stem("C:\\Users\\x\\报告.pdf", "d") == "报告"
    assert safe_stem('a"b;c\r\nd.pdf', "d") == "a_b_cd"
    assert safe_stem("...", "document-1") == "document-1" and safe_stem(None, "document-1") == "document-1"
    assert len(safe_stem("长" * 500 + ".txt", "d")) == 120
    assert safe_stem("CON.txt", "d") == "_CON" and safe_stem("com1", "d") == "_com1"  # Windows device names
    assert safe_stem("\u202egpj.exe.txt", "d") == "gpj.exe"  # a right-to-left override is dropped
    cd = content_disposition('x"y', "csv")
    assert "\r" not in cd and "\n" not in cd


# --------------------------------------------------------------------------------------------
# the CLI's summary


def test_extract_prints_a_summary_per_input(tmp_path: Path):
    from click.testing import CliRunner

    from gongkai.cli import main

    junk = tmp_path / "junk.txt"
    junk.write_bytes(os.urandom(4000))
    r = CliRunner().invoke(main, ["extract", str(REAL_012), str(SEEDS[0]), str(junk), "--out", str(tmp_path / "out")])
    text = r.output
    assert "real-012.txt: 10 cells to review; 2 failed checks: appeals.total.review" in text, text
    assert f"{SEEDS[0].name}: 0 cells to review; all checks pass" in text
    assert "junk.txt: unsupported_input" in text
    assert "extracted 2 of 3 inputs" in text


# --------------------------------------------------------------------------------------------
# models: one registry, trained models in the data directory, the activation gate


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_service_and_cli_agree_on_the_active_model(api: Api, tmp_path: Path):
    from extraction import registry
    from service import training_adapter

    models = {m["version"]: m for m in api.get("/v1/models", who="reviewer").json()}
    shipped = registry.active_version(registry.SHIPPED_DIR)
    assert shipped == "layout-v3"
    assert models[shipped]["active"] and models[shipped]["shipped"] and not models["baseline@1"]["active"]
    assert models[shipped]["metrics"], "the card's figures, to compare side by side"
    with api.svc.db.session() as s:
        version, spec = training_adapter.active_labeler(s, api.svc.settings)
    # the CLI's `auto` labeler: the same model, in the same way (the model on OCR'd pages only)
    assert version == shipped and spec == "auto:" + str((registry.SHIPPED_DIR / shipped).resolve())
    # a text report: labeled by the baseline under `auto`, and the result says so, as the CLI's cells do
    doc_id = extracted(api, SEEDS[0])
    assert api.get(f"/v1/documents/{doc_id}").json()["model_version"] == "baseline@1"
    assert api.get(f"/v1/documents/{doc_id}/result").json()["pipeline"]["layout"] == "baseline@1"


def test_activation_writes_the_data_directory_never_the_source_tree(api: Api):
    from extraction import registry

    status = git_status()
    shipped_registry = (registry.SHIPPED_DIR / "registry.json").read_bytes()
    r = api.post("/v1/models/baseline@1/activate")
    assert r.status_code == 200
    assert [m["version"] for m in api.get("/v1/models").json() if m["active"]] == ["baseline@1"]
    r = api.post("/v1/models/layout-v3/activate")
    assert r.status_code == 200 and r.json()["active"] and r.json()["shipped"]
    data_registry = api.svc.settings.models_path / "registry.json"
    assert data_registry.is_file() and '"layout-v3"' in data_registry.read_text()
    # a CLI pointed at the service's models folder resolves the same version (the shipped folder)
    folder, manifest = registry.resolve(None, api.svc.settings.models_path, registry.SHIPPED_DIR)
    assert manifest.version == "layout-v3" and folder == registry.SHIPPED_DIR / "layout-v3"
    assert (registry.SHIPPED_DIR / "registry.json").read_bytes() == shipped_registry
    assert git_status() == status


def test_the_service_refuses_to_write_into_the_shipped_models(tmp_path: Path, db_url: str):
    from extraction import registry

    gen = make_api(tmp_path / "data", db_url, immediate=True, models_dir=registry.SHIPPED_DIR)
    api = next(gen)
    try:
        r = api.post("/v1/models/layout-v3/activate")
        assert r.status_code == 409 and r.json()["error"]["code"] == "models_dir_read_only"
    finally:
        gen.close()


def record_candidate(api: Api, version: str, verdict: str, against: str, wrong=(5, 3)) -> None:
    from extraction import registry
    from service import training_adapter
    from service.training_adapter import TrainingOutcome

    folder = api.svc.settings.models_path / version
    if not folder.exists():
        registry.register(registry.SHIPPED_DIR / "layout-v3", version, api.svc.settings.models_path)
    comparison = {
        "verdict": verdict,
        "against": against,
        "documents": [1, 2],
        "candidate": {"cells": 400, "wrong": wrong[0]},
        "active": {"cells": 400, "wrong": wrong[1]},
    }
    with api.svc.db.session() as s:
        training_adapter.record_model(
            s,
            1,
            TrainingOutcome(version=version, labeler="auto:" + str(folder), metrics={"comparison": comparison}),
        )


def test_a_candidate_worse_than_the_active_model_is_refused_activation(api: Api):
    record_candidate(api, "cand-worse", "worse", "layout-v3")
    r = api.post("/v1/models/cand-worse/activate")
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "candidate_worse" and CJK.search(err["message"]) and "force" in err["message_en"]
    assert err["detail"]["candidate_wrong"] == 5 and err["detail"]["active_wrong"] == 3
    assert [m["version"] for m in api.get("/v1/models").json() if m["active"]] == ["layout-v3"]
    # a comparison made against another model than the active one is stale
    record_candidate(api, "cand-stale", "better", "layout-v1", wrong=(1, 3))
    r = api.post("/v1/models/cand-stale/activate")
    assert r.status_code == 409 and r.json()["error"]["code"] == "comparison_stale"
    # a better one activates; forcing activates a worse one
    record_candidate(api, "cand-better", "better", "layout-v3", wrong=(1, 3))
    assert api.post("/v1/models/cand-better/activate").status_code == 200
    r = api.post("/v1/models/cand-worse/activate?force=true")
    assert r.status_code == 200 and r.json()["active"]


def test_training_needs_documents_it_can_split(api: Api):
    from service.training_adapter import split_documents

    docs = [(i, f"{i:064x}") for i in range(1, 11)]
    split = split_documents(docs, 0.2, 3)
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(1, 11))
    assert not set(split["train"]) & set(split["val"]) and not set(split["train"]) & set(split["test"])
    assert not set(split["val"]) & set(split["test"])
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (6, 2, 2)
    assert split_documents(list(reversed(docs)), 0.2, 3) == split  # by the documents, not their order
    assert [len(v) for v in split_documents(docs[:3], 0.2, 3).values()] == [1, 1, 1]
    with pytest.raises(ValueError):
        split_documents(docs[:2], 0.2, 3)
    # through the API: refused at once, in Chinese, with the counts
    from service import training_adapter

    if not training_adapter.available():
        pytest.skip("no training code in this installation")
    r = api.post("/v1/training/runs", json={"params": {"epochs": 1}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_few_documents"
    assert CJK.search(r.json()["error"]["message"]) and r.json()["error"]["detail"] == {"documents": 0, "needed": 3}


@pytest.mark.slow
def test_a_training_run_splits_by_document_compares_and_leaves_the_checkout_alone(tmp_path: Path, db_url: str):
    """A real run (the training code's own command, a tiny base model): split by document, progress per
    epoch, the comparison with the active model on the held-out documents, activation; the source
    checkout is unchanged after it all."""
    import sys

    from service import training_adapter

    if not training_adapter.available():
        pytest.skip("no training code in this installation")
    status = git_status()
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "train", "--version", "base-tiny", "--tiny", "--models-dir",
         str(data / "models"), "--cache", str(tmp_path / "cache"), "--epochs", "1", "--max-steps", "3", "--no-evaluate"],
        check=True, capture_output=True, cwd=ROOT, timeout=900,
    )  # fmt: skip
    gen = make_api(data, db_url, immediate=True)
    api = next(gen)
    try:
        ids = [extracted(api, p) for p in (SEEDS[0], SEEDS[2], SEEDS[4])]
        assert all(api.get(f"/v1/documents/{i}").json()["status"] == "verified" for i in ids)
        r = api.post("/v1/training/runs", json={"params": {"epochs": 2, "max_steps": 4, "base_version": "base-tiny"}})
        assert r.status_code == 202, r.text
        run = api.get(f"/v1/training/runs/{r.json()['id']}").json()
        assert run["status"] == "done", run
        split = run["metrics"]["split"]
        assert sorted(split["train"] + split["val"] + split["test"]) == sorted(ids)
        assert [len(split[k]) for k in ("train", "val", "test")] == [1, 1, 1]
        assert run["metrics"]["data"]["train_reports"] == 1 and run["metrics"]["data"]["val_reports"] == 1  # no overlap
        card = (data / "models" / run["model_version"] / "card.json").read_text(encoding="utf-8")
        assert '"by": "document"' in card
        progress = run["progress"]
        assert progress["stage"] == "done" and progress["epochs"] == 2 and progress["epoch"] >= 1
        assert progress["loss"] is not None and progress["elapsed_s"] > 0
        comparison = run["metrics"]["comparison"]
        assert comparison["against"] == "layout-v3" and comparison["documents"] == split["test"]
        assert comparison["verdict"] in ("better", "equal", "worse") and comparison["candidate"]["cells"] > 0
        models = {m["version"]: m for m in api.get("/v1/models").json()}
        assert run["model_version"] in models and models["layout-v3"]["active"]
        r = api.post(f"/v1/models/{run['model_version']}/activate")
        if comparison["verdict"] == "worse":
            assert r.status_code == 409 and r.json()["error"]["code"] == "candidate_worse"
        else:
            assert r.status_code == 200 and r.json()["active"], r.text
            assert run["model_version"] in (data / "models" / "registry.json").read_text()
    finally:
        gen.close()
    assert git_status() == status, "a training run and an activation wrote into the source checkout"


def test_the_cli_registry_follows_gongkai_models_dir_and_falls_back_on_the_shipped_one(tmp_path: Path, monkeypatch):
    """`gongkai extract`'s auto labeler resolves the active model with no folder given: GONGKAI_MODELS_DIR
    when set (the service's folder), falling back on the shipped models; unset, the shipped one."""
    from extraction import registry

    shipped_registry = (registry.SHIPPED_DIR / "registry.json").read_bytes()
    assert registry.resolve(None)[1].version == "layout-v3"  # nothing set: the shipped model
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    folder, manifest = registry.resolve(None)  # no registry.json there yet: the shipped one decides
    assert manifest.version == "layout-v3" and folder == registry.SHIPPED_DIR / "layout-v3"
    registry.register(registry.SHIPPED_DIR / "layout-v3", "trained-x", models)
    registry.activate("trained-x")  # what the service's activation writes
    assert registry.resolve(None)[0] == models / "trained-x"
    assert "trained-x" in registry.list_versions() and "layout-v3" in registry.list_versions()
    registry.activate("layout-v3")  # a shipped version named active in the service's folder
    assert registry.resolve(None)[0] == registry.SHIPPED_DIR / "layout-v3"
    assert (registry.SHIPPED_DIR / "registry.json").read_bytes() == shipped_registry
