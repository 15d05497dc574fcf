"""Page images for the review UI: a document's pages, a page as PNG, a cell's crop (service/pages.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from service import pages as page_images
from service.auth import Principal
from service.core import Service
from service.db import Document, Result
from service.routes.deps import ERRORS, SessionDep, Submitter, require_view_of, svc_of, visible_document
from service.routes.errors import ApiError

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/documents/{doc_id}/pages", tags=["pages"], summary="Pages with their size in the bbox unit")
def list_pages(s: SessionDep, who: Submitter, doc_id: int) -> list[dict[str, Any]]:
    doc = visible_document(s, who, doc_id)
    if doc.result_id is None:
        return []
    return s.scalar(select(Result.page_info).where(Result.id == doc.result_id)) or []


def _page_source(svc: Service, who: Principal, doc_id: int) -> tuple[Document, Result | None, str]:
    """(document, its result, the kind its pages are rendered as), if `who` may see its page images."""
    with svc.db.session() as s:
        doc = visible_document(s, who, doc_id)
        if doc.status == "failed":  # a document the extractor refused is not rendered either
            raise ApiError(409, "document_failed", f"document {doc_id} failed ({doc.error_code}): no page images")
        result = s.get(Result, doc.result_id) if doc.result_id else None
        kind = result.data["source"]["kind"] if result else doc.kind
        return doc, result, kind


async def _rendered(request: Request, sha256: str, kind: str, number: int, width: int, crop: dict | None = None):
    """The PNG's path in the page cache, rendered in a child first when it is not there. At most
    `page_render_workers` renders wait in threads; more requests wait here (async), then a 429."""
    svc = svc_of(request)
    out, job, hit = await run_in_threadpool(page_images.lookup, svc, sha256, kind, number, width, crop)
    if hit:
        return out
    slots: asyncio.Semaphore = request.app.state.render_slots
    try:
        await asyncio.wait_for(slots.acquire(), svc.settings.page_render_wait_s)
    except TimeoutError:
        raise ApiError(429, "server_busy", "every page renderer is busy; try again shortly", headers={"Retry-After": "1"}) from None
    try:
        return await run_in_threadpool(page_images.produce, svc, job)
    finally:
        slots.release()


def _png(path: Path, headers: dict[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(page_images.stream(path), media_type="image/png", headers=headers)


@router.get(
    "/documents/{doc_id}/pages/{number}/image",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def page_image(
    request: Request,
    who: Submitter,
    doc_id: int,
    number: int,
    width: Annotated[int, Query(ge=100, le=3000)] = 1000,
) -> Response:
    """The page `width` pixels wide, narrower when that would be over `page_image_max_megapixels`."""
    doc, _, kind = await run_in_threadpool(_page_source, svc_of(request), who, doc_id)
    path = await _rendered(request, doc.sha256, kind, number, width)
    return _png(path, {"Cache-Control": "private, max-age=3600"})


def _crop_source(svc: Service, who: Principal, doc_id: int, cell_id: str) -> tuple[Document, str, int, dict]:
    doc, result, kind = _page_source(svc, who, doc_id)
    with svc.db.session() as s:
        view = require_view_of(svc, s, doc)
    cell = view.result["cells"].get(cell_id)
    if cell is None:
        raise ApiError(404, "not_found", f"no cell {cell_id}")
    if not cell.get("page") or not cell.get("bbox"):
        raise ApiError(404, "no_page_image", f"cell {cell_id} has no position on a page (a text input?)")
    info = next((p for p in ((result.page_info if result else None) or []) if p["number"] == cell["page"]), None)
    if info is None or not info.get("width"):
        raise ApiError(404, "no_page_image", f"page {cell['page']} has no size")
    return doc, kind, cell["page"], {"bbox": cell["bbox"], "page_width": info["width"]}


@router.get(
    "/documents/{doc_id}/cells/{cell_id}/crop",
    tags=["pages"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="The cell's region of its page, box drawn",
)
async def cell_crop(request: Request, who: Submitter, doc_id: int, cell_id: str) -> Response:
    doc, kind, page, box = await run_in_threadpool(_crop_source, svc_of(request), who, doc_id, cell_id)
    return _png(await _rendered(request, doc.sha256, kind, page, CROP_PAGE_WIDTH, box))


CROP_PAGE_WIDTH = 1600  # crops are cut from the page rendered this wide
