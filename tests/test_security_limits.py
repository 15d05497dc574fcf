"""Issue 18: what a hostile submitter or a careless reviewer could do, each finding with its test.
The loopback measurements of a real `gongkai serve` (memory, health latency, slow uploads) are in
tests/test_reliability_limits.py."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest_service import Api, make_api
from tests.hostile_pages import bomb_png, tall_pdf

MiB = 2**20


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True)


@pytest.fixture
def boxed_api(tmp_path: Path) -> Iterator[Api]:
    """Page images rendered in a child process, as `gongkai serve` does; a small page cache."""
    yield from make_api(
        tmp_path / "data", f"sqlite:///{tmp_path / 'g.db'}", immediate=True, isolation="process",
        page_cache_bytes=2 * MiB,
    )  # fmt: skip


def plant(api: Api, data: bytes, kind: str, name: str = "planted", status: str = "queued") -> int:
    """A document as if uploaded before the upload checks existed (its extraction not run yet)."""
    from sqlalchemy import select

    from service.db import Document, Token, Upload

    sha = api.svc.store.put(data)
    with api.svc.db.session() as s:
        doc = Document(sha256=sha, filename=name, kind=kind, size=len(data), pages=1, status=status)
        s.add(doc)
        s.flush()
        token_id = s.scalar(select(Token.id).where(Token.name == "submitter"))
        s.add(Upload(document_id=doc.id, token_id=token_id, filename=name))
        s.flush()
        return doc.id


def png_size(content: bytes) -> tuple[int, int]:
    from PIL import Image

    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(content)).size


# --------------------------------------------------------------------------------------------
# 1. page images


def test_page_images_have_a_pixel_cap_and_stay_out_of_the_api_process(boxed_api: Api):
    from service.sandbox import peak_rss_bytes, reset_peak, rss_bytes

    api = boxed_api
    cap = int(api.svc.settings.page_image_max_megapixels * 1e6)
    doc = plant(api, tall_pdf(), "pdf")
    reset_peak(os.getpid())
    before = rss_bytes()
    sizes = []
    for width in (3000, 2999, 2998, 1000, 100):
        r = api.get(f"/v1/documents/{doc}/pages/1/image?width={width}", who="submitter")
        assert r.status_code == 200, r.text
        w, h = png_size(r.content)
        sizes.append((w, h))
        assert w * h <= cap and w <= width, (width, w, h)
    grew = peak_rss_bytes() - before
    assert grew < 200 * MiB, f"the API process grew {grew / MiB:.0f} MiB"
    assert sizes[-1] == (100, 3600)  # small enough: the width asked for
    assert api.svc.__dict__["_renderers"].stats()["processes"], "rendered in a child"
    # the cache lives on disk in the store, bounded in bytes, private files
    from service.pages import cache_for

    cache = cache_for(api.svc)
    files = list(cache.root.rglob("*.png"))
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
    assert cache.size() <= api.svc.settings.page_cache_bytes + max(f.stat().st_size for f in files)


def test_the_page_cache_is_bounded_in_bytes(api: Api, tmp_path: Path):
    from PIL import Image

    from service.pages import cache_for

    buf = io.BytesIO()
    Image.effect_noise((800, 1100), 60).convert("RGB").save(buf, format="PNG")  # noise: PNGs that do not shrink
    doc = plant(api, buf.getvalue(), "image")
    cache = cache_for(api.svc)
    cache.limit = 3 * MiB
    for width in range(1000, 3001, 250):
        assert api.get(f"/v1/documents/{doc}/pages/1/image?width={width}", who="submitter").status_code == 200
    largest = max(f.stat().st_size for f in cache.root.rglob("*.png"))
    assert cache.size() <= cache.limit + largest


def test_a_169_megapixel_png_is_refused_at_upload_and_never_decoded(boxed_api: Api):
    api = boxed_api
    data = bomb_png()
    r = api.post("/v1/documents", who="submitter", files=[("files", ("bomb.png", data, "image/png"))])
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large", r.text
    assert r.json()["error"]["detail"]["limit"] == 50_000_000
    # one stored before this check: its page image is refused from the header, in the child
    doc = plant(api, data, "image")
    r = api.get(f"/v1/documents/{doc}/pages/1/image?width=3000", who="submitter")
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large", r.text


def test_failed_documents_get_no_page_images(api: Api):
    r = api.post("/v1/documents", who="submitter", files=[("files", ("tall.pdf", tall_pdf(), "application/pdf"))])
    doc = r.json()["items"][0]["document_id"]
    assert api.get(f"/v1/documents/{doc}", who="submitter").json()["status"] == "failed"
    r = api.get(f"/v1/documents/{doc}/pages/1/image?width=3000", who="submitter")
    assert r.status_code == 409 and r.json()["error"]["code"] == "document_failed", r.text
