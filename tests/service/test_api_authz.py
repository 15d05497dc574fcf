"""Every route has an authorization case, and every case is checked for every role.

`CASES` must name every route of the app: adding a route without a case fails
`test_every_route_has_an_authorization_case`.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from tests.conftest_service import SEEDS, Api, make_api

# who may call it: public, any (any valid token), submitter, owner (submitters: only their own
# documents; someone else's is a 404), reviewer, admin
CASES: dict[tuple[str, str], str] = {
    ("GET", "/v1/health"): "public",
    ("GET", "/v1/me"): "any",
    ("GET", "/v1/metrics"): "admin",
    ("POST", "/v1/documents"): "submitter",
    ("GET", "/v1/documents"): "submitter",
    ("GET", "/v1/documents/{doc_id}"): "owner",
    ("GET", "/v1/documents/{doc_id}/result"): "owner",
    ("GET", "/v1/documents/{doc_id}/cells"): "owner",
    ("GET", "/v1/documents/{doc_id}/checks"): "owner",
    ("GET", "/v1/documents/{doc_id}/labels"): "owner",
    ("GET", "/v1/documents/{doc_id}/original"): "owner",
    ("GET", "/v1/documents/{doc_id}/export/{fmt}"): "owner",
    ("POST", "/v1/exports"): "owner",
    ("GET", "/v1/jobs/{job_id}"): "owner",
    ("GET", "/v1/documents/{doc_id}/pages"): "owner",
    ("GET", "/v1/documents/{doc_id}/pages/{number}/image"): "owner",
    ("GET", "/v1/documents/{doc_id}/cells/{cell_id}/crop"): "owner",
    ("GET", "/v1/review/queue"): "reviewer",
    ("GET", "/v1/documents/{doc_id}/review"): "reviewer",
    ("POST", "/v1/documents/{doc_id}/cells/{cell_id}/accept"): "reviewer",
    ("POST", "/v1/documents/{doc_id}/cells/{cell_id}/correct"): "reviewer",
    ("GET", "/v1/documents/{doc_id}/review/bulk-accept"): "reviewer",
    ("POST", "/v1/documents/{doc_id}/review/bulk-accept"): "reviewer",
    ("POST", "/v1/documents/{doc_id}/review/undo"): "reviewer",
    ("GET", "/v1/documents/{doc_id}/audit"): "reviewer",
    ("GET", "/v1/documents/{doc_id}/labeled"): "reviewer",
    ("POST", "/v1/labeled"): "reviewer",
    ("GET", "/v1/models"): "reviewer",
    ("GET", "/v1/training/dataset"): "admin",
    ("POST", "/v1/training/runs"): "admin",
    ("GET", "/v1/training/runs"): "admin",
    ("GET", "/v1/training/runs/{run_id}"): "admin",
    ("POST", "/v1/models/{version}/activate"): "admin",
    ("POST", "/v1/tokens"): "admin",
    ("GET", "/v1/tokens"): "admin",
    ("DELETE", "/v1/tokens/{token_id}"): "admin",
    ("GET", "/v1/workers"): "admin",
    ("POST", "/v1/retries"): "admin",
    ("POST", "/v1/documents/{doc_id}/retry"): "reviewer",
    # not API: the UI's static files (the data behind them needs a token) and the API's docs
    ("GET", "/"): "public",
    ("MOUNT", "/ui"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/redoc"): "public",
    ("MOUNT", "/docs-assets"): "public",  # Swagger UI and ReDoc assets, served from the package
}
ROLES = [None, "submitter", "other", "reviewer", "admin"]
RANK = {"submitter": 1, "other": 1, "reviewer": 2, "admin": 3}
NEED = {"submitter": 1, "owner": 1, "reviewer": 2, "admin": 3}


def app_routes(app) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    _walk(app.routes, found)
    return found


def _walk(routes, found: set[tuple[str, str]]) -> None:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI >= 0.16x wraps an included router
            _walk(route.original_router.routes, found)
        elif isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        elif isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    gen = make_api(tmp_path_factory.mktemp("authz"), f"sqlite:///{tmp_path_factory.mktemp('db') / 'g.db'}", immediate=True)
    api: Api = next(gen)
    item = api.upload(SEEDS[0]).json()["items"][0]
    from service.db import TrainingRun

    with api.svc.db.session() as s:  # a run to read (starting one needs three verified documents)
        run_row = TrainingRun(params={}, documents=[], created_by="admin")
        s.add(run_row)
        s.flush()
        run = {"id": run_row.id}
    spare = [api.post("/v1/tokens", json={"name": f"spare{i}", "role": "submitter"}).json()["id"] for i in range(5)]
    ids = {
        "doc_id": item["document_id"],
        "job_id": item["job_id"],
        "cell_id": "applications.new.total",
        "number": 1,
        "fmt": "csv",
        "run_id": run["id"],
        "version": "baseline@1",
        "token_id": spare[0],
    }
    yield api, ids
    gen.close()


def call(api: Api, method: str, path: str, ids: dict, who: str | None):
    url = path.format(**ids) if method != "MOUNT" else path + "/"
    if (method, path) == ("MOUNT", "/docs-assets"):
        url = path + "/swagger-ui.css"  # a static folder without an index
    kw: dict = {}
    if (method, path) == ("POST", "/v1/documents"):
        kw["files"] = [("files", ("r.txt", SEEDS[1].read_bytes(), "text/plain"))]  # not the fixture document: ownership must not change
    elif (method, path) == ("POST", "/v1/exports"):
        kw["json"] = {"document_ids": [ids["doc_id"]], "format": "json"}
    elif path.endswith("/bulk-accept") and method == "POST":
        kw["json"] = {"confirm": True}
    elif path.endswith("/correct"):
        kw["json"] = {"value": 0}
    elif (method, path) == ("POST", "/v1/labeled"):
        kw["json"] = {"records": [{"document_id": ids["doc_id"], "cells": {}}]}
    elif path == "/v1/tokens" and method == "POST":
        kw["json"] = {"name": "x", "role": "submitter"}
    elif path == "/v1/training/runs" and method == "POST":
        kw["json"] = {}
    elif (method, path) == ("POST", "/v1/retries"):
        kw["json"] = {"document_ids": [ids["doc_id"]]}  # in review, not failed: skipped, nothing re-run
    headers = api.headers(who)
    return api.client.request("GET" if method == "MOUNT" else method, url, headers=headers, **kw)


def test_every_route_has_an_authorization_case(world):
    api, _ = world
    routes = app_routes(api.client.app)
    missing = routes - set(CASES)
    assert not missing, f"routes without an authorization case in tests/service/test_api_authz.py CASES: {sorted(missing)}"
    assert not set(CASES) - routes, f"cases for routes that no longer exist: {sorted(set(CASES) - routes)}"


@pytest.mark.parametrize("who", ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize(("method", "path"), sorted(CASES), ids=lambda x: str(x))
def test_authorization(world, method: str, path: str, who: str | None):
    api, ids = world
    need = CASES[(method, path)]
    r = call(api, method, path, ids, who)
    code = r.json().get("error", {}).get("code") if r.headers.get("content-type", "").startswith("application/json") and r.status_code >= 400 else None
    if need == "public":
        assert r.status_code < 400, (r.status_code, r.text[:200])
        return
    if who is None:
        assert r.status_code == 401 and code == "unauthenticated", (r.status_code, r.text[:200])
        return
    if need == "any":
        assert r.status_code < 400, (r.status_code, r.text[:200])
        return
    if RANK[who] < NEED[need]:
        assert r.status_code == 403 and code == "forbidden", (r.status_code, r.text[:200])
        return
    if need == "owner" and who == "other":
        assert r.status_code == 404 and code == "not_found", (r.status_code, r.text[:200])
        return
    # allowed: whatever the outcome, it is not an authorization refusal (a text report has no page image)
    assert r.status_code not in (401, 403), (r.status_code, r.text[:200])
    assert not (r.status_code == 404 and code == "not_found"), (r.status_code, r.text[:200])
