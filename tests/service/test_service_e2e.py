"""End to end over HTTP with the in-process worker of `gongkai serve` (SQLite queue): a scanned PDF
is uploaded, extracted page by page, its flagged cells reviewed and corrected, exported, turned into
labeled data and trained on."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import conftest_service as fx
from tests.conftest import ROOT
from tests.conftest_service import SEEDS, Api, make_api

# the shared fixtures, bound to this module's names so pytest finds them
db_url, scanned_pdf = fx.db_url, fx.scanned_pdf



@pytest.fixture(scope="session")
def base_model(tmp_path_factory) -> tuple[Path, str] | None:
    """A registry holding a tiny layout model to fine-tune (trained with the training code's own CLI:
    `gongkai train --tiny`), or None when this installation has no training code."""
    from service import training_adapter

    if not training_adapter.available():
        return None
    models = tmp_path_factory.mktemp("models")
    cache = tmp_path_factory.mktemp("train-cache")
    subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "train", "--version", "base-tiny", "--tiny", "--models-dir", str(models),
         "--cache", str(cache), "--epochs", "1", "--max-steps", "3", "--no-evaluate"],
        check=True, capture_output=True, cwd=ROOT, timeout=900,
    )  # fmt: skip
    return models, "base-tiny"


@pytest.fixture
def e2e_api(tmp_path: Path, db_url: str, base_model) -> Iterator[Api]:
    """The in-process worker of `gongkai serve` (SQLite queue), with a copy of the tiny model's registry
    (each test's own: an activation writes the registry of its models folder)."""
    import shutil

    extra = {}
    if base_model:
        models = tmp_path / "models"
        shutil.copytree(base_model[0], models)
        extra = {"models_dir": models}
    yield from make_api(tmp_path / "data", db_url, immediate=False, **extra)


def wait_job(api: Api, job_id: int, timeout: float = 300, seen: list | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if seen is not None:
            seen.append((job["status"], job["pages_done"], job["pages_total"]))
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} not finished after {timeout}s: {job}"
        time.sleep(0.2)


@pytest.mark.slow
def test_scanned_pdf_end_to_end(e2e_api: Api, scanned_pdf, base_model):
    api = e2e_api
    path, truth = scanned_pdf
    # 1. upload (the client says nothing useful about the type: it is sniffed)
    r = api.post("/v1/documents", who="submitter", files=[("files", ("scan.bin", path.read_bytes(), "application/octet-stream"))])
    assert r.status_code == 202, r.text
    item = r.json()["items"][0]
    assert item["kind"] == "pdf" and item["pages"] >= 2
    doc_id = item["document_id"]
    # 2. the job runs in the in-process worker; per-page progress is visible while it runs
    seen: list = []
    job = wait_job(api, item["job_id"], seen=seen)
    assert job["status"] == "done", f"{job['error_code']}: {job['error_message']}"
    assert job["pages_total"] == job["pages_done"] == item["pages"] and job["attempts"] == 1
    assert all(done <= (total or 1) for _, done, total in seen)
    doc = api.get(f"/v1/documents/{doc_id}", who="submitter").json()
    # the registry's active model (layout-v3) labels scanned pages, as `gongkai extract`'s `auto` does
    assert doc["kind"] == "pdf" and doc["model_version"] == "layout-v3"
    result = api.get(f"/v1/documents/{doc_id}/result", who="submitter").json()
    assert result["source"]["kind"] == "scanned_pdf" and result["pipeline"]["layout"]
    # 3. flags: the review queue holds the risky cells, riskiest first
    state = api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()
    wrong = {cid for cid, v in truth["cells"].items() if result["cells"][cid]["value"] != v}
    queued = [c["cell_id"] for c in state["queue"]]
    assert wrong <= set(queued), "every wrong cell is in the review queue"
    # a moderate scan read right may leave nothing to review: the reviewer still opens a cell
    opened = queued or [cid for cid, c in result["cells"].items() if c["bbox"]][:3]
    # page images and crops for the reviewer
    pages = api.get(f"/v1/documents/{doc_id}/pages", who="reviewer").json()
    assert len(pages) == item["pages"] and all(p["width"] for p in pages)
    png = api.get(f"/v1/documents/{doc_id}/pages/1/image?width=600", who="reviewer")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).width == 600
    located = next(c for c in opened if result["cells"][c]["bbox"])
    crop = api.get(f"/v1/documents/{doc_id}/cells/{located}/crop", who="reviewer")
    assert crop.status_code == 200 and crop.content[:4] == b"\x89PNG"
    # 4. review: correct a flagged cell via the API (to what the page says), rules re-run
    target = next((c for c in opened if c in wrong), opened[0])
    out = api.post(
        f"/v1/documents/{doc_id}/cells/{target}/correct", who="reviewer", json={"value": truth["cells"][target]}
    ).json()
    assert out["cell"]["value"] == truth["cells"][target] and out["cell"]["reviewed"]
    audit = api.get(f"/v1/documents/{doc_id}/audit", who="reviewer").json()
    assert [(a["cell_id"], a["action"], a["reviewer"]) for a in audit] == [(target, "correct", "reviewer")]
    # the rest of the queue: correct what is wrong, accept what is right; then bulk-accept the others
    for c in api.get(f"/v1/documents/{doc_id}/review", who="reviewer").json()["queue"]:
        cid = c["cell_id"]
        if c["value"] != truth["cells"][cid]:
            api.post(f"/v1/documents/{doc_id}/cells/{cid}/correct", who="reviewer", json={"value": truth["cells"][cid]})
        else:
            api.post(f"/v1/documents/{doc_id}/cells/{cid}/accept", who="reviewer")
    bulk = api.post(f"/v1/documents/{doc_id}/review/bulk-accept", who="reviewer", json={"confirm": True}).json()
    assert bulk["verified"], bulk
    doc = api.get(f"/v1/documents/{doc_id}").json()
    assert doc["status"] == "verified" and doc["open_reviews"] == 0 and doc["failed_rules"] == 0
    # 5. export: the corrections are in it
    csv_text = api.get(f"/v1/documents/{doc_id}/export/csv", who="submitter").content.decode("utf-8-sig")
    row = next(line for line in csv_text.splitlines() if line.startswith(target + ","))
    assert f",{truth['cells'][target]}," in row
    assert api.get(f"/v1/documents/{doc_id}/export/xlsx", who="submitter").content[:2] == b"PK"
    batch = api.post("/v1/exports", who="submitter", json={"format": "json"}).json()
    assert batch[0]["cells"][target] == truth["cells"][target]
    # 6. labeled data: the reviewed document in the truth-JSON format
    labeled = api.get(f"/v1/documents/{doc_id}/labeled", who="reviewer").json()
    assert labeled["format"] == truth["report"]["format"]
    missed = {cid for cid in wrong if labeled["cells"][cid] != truth["cells"][cid]}
    assert not missed & set(queued), "every flagged wrong cell was corrected"
    import zipfile

    zf = zipfile.ZipFile(io.BytesIO(api.get("/v1/training/dataset").content))
    names = zf.namelist()
    assert any(n.endswith(".pdf") for n in names) and any(n.startswith("truth/") for n in names)
    # 7. training run (a job) → metrics → an admin activates the new version → new results carry it.
    #    A run splits the verified documents by document (train / validation / test): two more
    #    reports, verified as extracted, make three
    for seed in SEEDS[:2]:
        assert api.wait(api.upload(seed).json()["items"][0]["document_id"])["status"] == "verified"
    params = {"epochs": 1, "max_steps": 3} | ({"base_version": base_model[1]} if base_model else {})
    run = api.post("/v1/training/runs", json={"params": params}).json()
    job = wait_job(api, run["job_id"], timeout=600)
    run = api.get(f"/v1/training/runs/{run['id']}").json()
    from service import training_adapter

    if not training_adapter.available():
        # the training code is not in this installation: a clear failure, and no model appears
        assert job["status"] == "failed" and run["status"] == "failed", run
        assert run["error_code"] == "training_unavailable" and "training unavailable" in run["error_message"]
        assert not any(m["training_run_id"] for m in api.get("/v1/models", who="reviewer").json())
        pytest.xfail("training unavailable in this installation (service/training_adapter.py)")
    assert job["status"] == "done" and run["status"] == "done", run
    assert run["metrics"] and run["model_version"]
    models = api.get("/v1/models", who="reviewer").json()
    assert run["model_version"] in [m["version"] for m in models]
    act = api.post(f"/v1/models/{run['model_version']}/activate")
    assert act.status_code == 200 and act.json()["active"]
    assert run["metrics"]["comparison"]["against"] == "layout-v3" and run["metrics"]["split"]["test"]
    with api.svc.db.session() as s:
        version, spec = training_adapter.active_labeler(s, api.svc.settings)
    assert version == run["model_version"] and spec.startswith("auto:") and spec.endswith(run["model_version"])
    item2 = api.upload(SEEDS[2]).json()["items"][0]
    doc2 = api.wait(item2["document_id"])
    # a text report: the new model's `auto` labeler leaves it to the baseline, and the result says so
    assert doc2["model_version"] == "baseline@1", {k: doc2.get(k) for k in ("status", "error_code", "error_message")}
    assert api.get(f"/v1/documents/{doc_id}").json()["model_version"] == "layout-v3"  # results keep their version
