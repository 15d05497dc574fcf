"""Security at the service's edges: a model file with a flipped byte is never activated nor loaded
(a typed error, the worker goes on); labeled-data imports are validated record by record (a bad
record changes nothing, the good ones are imported and audited); request bodies are bounded.

Also relied on (not repeated here): every route × every role, no route readable without a token, a
reviewer can neither train nor activate models (tests/service/test_api_authz.py); the registry's own
byte-for-byte checks (tests/extraction/test_registry.py); odd and traversal file names
(tests/service/test_reliability_uploads.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import reliability_support as rs
from tests.conftest import ROOT
from tests.conftest_service import REAL, SEEDS, Api, make_api
from tests.reliability_support import record

reliability_summary = rs.reliability_summary  # autouse: the rows go to the run's summary


@pytest.fixture
def api(tmp_path: Path):
    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True, isolation="process")
    yield next(gen)
    gen.close()


def flip_a_byte(path: Path, at: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_model_with_a_flipped_byte_is_never_loaded(api: Api, tmp_path: Path):
    from extraction import registry
    from service import training_adapter
    from service.training_adapter import TrainingOutcome

    models = tmp_path / "models"
    folder = registry.register(ROOT / "models" / "layout-v3", "v-good", models)
    tampered = registry.register(ROOT / "models" / "layout-v3", "v-tampered", models)
    with api.svc.db.session() as s:
        for version, f in [("v-good", folder), ("v-tampered", tampered)]:
            training_adapter.record_model(
                s, 0, TrainingOutcome(version=version, labeler=training_adapter.MODEL_PREFIX + str(f), metrics={})
            )
    flip_a_byte(tampered / "model.safetensors")
    # 1. activation checks every file's sha256: refused, nothing changes
    r = api.post("/v1/models/v-tampered/activate")
    assert r.status_code == 409 and r.json()["error"]["code"] == "model_integrity", r.text
    assert "model.safetensors" in r.json()["error"]["message"]
    assert not any(m["active"] for m in api.get("/v1/models").json() if m["version"] == "v-tampered")
    # 2. a good model activates and extracts with it
    assert api.post("/v1/models/v-good/activate").status_code == 200
    r = api.upload(SEEDS[0])
    doc = api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()
    assert doc["job"]["status"] == "done" and doc["model_version"] == "v-good"
    # 3. the active model's file is damaged on disk afterwards: the next extraction refuses to load it
    #    (a typed error on the document), the worker goes on
    api.svc.extractors.recycle()  # a fresh child: the model is verified when it loads
    flip_a_byte(folder / "model.safetensors")
    r = api.upload(SEEDS[1])
    doc = api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()
    assert doc["status"] == "failed" and doc["error_code"] == "model_integrity", doc
    # back to the baseline: extraction works again on the same worker
    assert api.post("/v1/models/baseline@1/activate").status_code == 200
    r = api.upload(SEEDS[2])
    assert api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()["job"]["status"] == "done"
    record("model file with a flipped byte", tried=2, survived=2, lost=0)


def extracted(api: Api, path: Path) -> dict:
    r = api.upload(path, who="submitter")
    assert r.status_code == 202, r.text
    return api.get(f"/v1/documents/{r.json()['items'][0]['document_id']}").json()


def test_labeled_imports_are_validated_record_by_record(tmp_path: Path):
    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True)
    api = next(gen)
    try:
        real = next(p for p in REAL if p.stem == "real-012")  # two appeals rules fail: cells to review
        doc = extracted(api, real)
        other = extracted(api, SEEDS[0])
        failed = api.post(
            "/v1/documents", who="submitter", files=[("files", ("n.txt", "今天天气很好。\n" * 50, "text/plain"))]
        ).json()["items"][0]
        cells = api.get(f"/v1/documents/{doc['id']}/cells").json()
        counts = [c for c in cells if c["table"] and isinstance(c["value"], int) and not c["cell_id"].endswith(".change")]
        a, b = counts[0]["cell_id"], counts[1]["cell_id"]
        fmt = api.get(f"/v1/documents/{doc['id']}/result").json()["report"]["format"]
        other_fmt = "2019" if fmt == "2021" else "2021"
        records = [
            {"document_id": doc["id"], "cells": {a: counts[0]["value"] + 1, b: str(counts[1]["value"])}},  # imported
            {"sha256": other["sha256"], "report": {"format": None}, "cells": {}},  # imported (nothing to change)
            {"document_id": 99999, "cells": {a: 1}},  # not_found
            {"document_id": doc["id"], "cells": {"no.such.cell": 1}},  # unknown_cell
            {"document_id": doc["id"], "cells": {a: "twelve"}},  # bad_value
            {"document_id": doc["id"], "cells": {a: -3}},  # bad_value: a count is not negative
            {"document_id": doc["id"], "cells": {a: 1.5}},  # bad_value: a count is whole
            {"document_id": doc["id"], "format": other_fmt, "cells": {a: 1}},  # format_mismatch
            {"document_id": doc["id"], "cells": {a: True}},  # invalid_record: a boolean is no value
            {"document_id": doc["id"], "sha256": doc["sha256"], "cells": {a: 1}},  # invalid_record: both
            {"document_id": doc["id"], "cells": {a: 1}, "owner": "x"},  # invalid_record: unknown field
            {"cells": {a: 1}},  # invalid_record: which document?
            {"document_id": failed["document_id"], "cells": {a: 1}},  # not_extracted
            "not an object",  # invalid_record
            {"document_id": doc["id"], "cells": {a: 1, "no.such.cell": 2}},  # unknown_cell: nothing of it kept
        ]
        audit_before = len(api.get(f"/v1/documents/{doc['id']}/audit", who="reviewer").json())
        r = api.post("/v1/labeled", who="reviewer", json={"records": records})
        assert r.status_code == 200, r.text
        out = r.json()
        got = [(o["status"], (o.get("error") or {}).get("code")) for o in out["records"]]
        assert got == [
            ("imported", None),
            ("imported", None),
            ("rejected", "not_found"),
            ("rejected", "unknown_cell"),
            ("rejected", "bad_value"),
            ("rejected", "bad_value"),
            ("rejected", "bad_value"),
            ("rejected", "format_mismatch"),
            ("rejected", "invalid_record"),
            ("rejected", "invalid_record"),
            ("rejected", "invalid_record"),
            ("rejected", "invalid_record"),
            ("rejected", "not_extracted"),
            ("rejected", "invalid_record"),
            ("rejected", "unknown_cell"),
        ], got
        assert out["imported"] == 2 and out["rejected"] == 13
        assert out["records"][0]["cells"] == 2 and out["records"][0]["changed"] == 1
        audit = api.get(f"/v1/documents/{doc['id']}/audit", who="reviewer").json()
        assert len(audit) == audit_before + 2 and {e["action"] for e in audit[-2:]} == {"import"}
        assert {e["reviewer"] for e in audit[-2:]} == {"reviewer"}
        after = {c["cell_id"]: c for c in api.get(f"/v1/documents/{doc['id']}/cells").json()}
        assert after[a]["value"] == counts[0]["value"] + 1 and after[a]["corrected"] and after[a]["reviewed"]
        assert after[b]["value"] == counts[1]["value"] and after[b]["reviewed"]  # "123" → 123, confirmed
        # a whole truth record (as GET /labeled gives it) labels every cell: the document is verified
        truth = {cid: c["value"] for cid, c in after.items()}
        r = api.post("/v1/labeled", who="reviewer", json={"records": [{"document_id": doc["id"], "report": {"format": fmt}, "cells": truth}]})
        assert r.json()["records"][0]["verified"] is True
        labeled = api.get(f"/v1/documents/{doc['id']}/labeled", who="reviewer").json()
        r = api.post("/v1/labeled", who="reviewer", json={"records": [{"document_id": doc["id"], **labeled}]})
        assert r.json()["imported"] == 1 and r.json()["records"][0]["changed"] == 0  # the round trip
        # bounds: too many records, a body over max_body_bytes, a submitter
        assert api.post("/v1/labeled", who="reviewer", json={"records": [{"cells": {}}] * 1001}).status_code == 422
        big = b'{"records": [{"document_id": 1, "cells": {"x": "' + b"9" * (17 * 2**20) + b'"}}]}'
        r = api.post("/v1/labeled", who="reviewer", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert api.post("/v1/labeled", who="submitter", json={"records": records[:1]}).status_code == 403
        record("labeled-data import, per record", tried=len(records) + 3, survived=len(records) + 3, lost=0)
    finally:
        gen.close()


def test_request_bodies_are_bounded_everywhere(tmp_path: Path):
    """JSON routes read their body whole: over max_body_bytes (here 64 KiB) it is a 413, chunked or not."""
    gen = make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True, max_body_bytes=65536)
    api = next(gen)
    try:
        big = b'{"document_ids": [' + b"1," * 40000 + b'1], "format": "json"}'
        r = api.post("/v1/exports", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks():
            for i in range(0, len(big), 4096):
                yield big[i : i + 4096]

        r = api.post("/v1/exports", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        r = api.post("/v1/exports", json={"document_ids": [], "format": "json"})
        assert r.status_code == 200
        r = api.upload(SEEDS[0])  # uploads have their own, larger limits
        assert r.status_code == 202
    finally:
        gen.close()
