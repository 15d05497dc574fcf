"""Page images of stored originals for the review UI: whole pages and cell crops (PNG).

Nothing is decoded or rendered in the API process (a hostile page once took it from 0.6 to 6.7 GB):

- `render_to_file` (service/page_render.py) runs in a supervised child (`service/sandbox.py`, operation `page_image`), under
  the extraction children's memory and time limits. A rendered page never has more than
  `page_image_max_megapixels` pixels (a tall or huge page is rendered narrower than asked), and an
  image frame over the extractor's `max_megapixels_per_page` is refused from its header, before a
  pixel is decoded (`input_too_large`).
- The PNG is written to a disk cache in the store (`<store>/pages/`), bounded in bytes
  (`page_cache_bytes`, least recently used removed first); the API streams it from there.
- Documents whose extraction failed get no page images (`document_failed`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import RenderFailed, ServerBusy
from service.page_render import render_to_file

if TYPE_CHECKING:
    from service.core import Service

CHUNK = 256 * 1024


# --------------------------------------------------------------------------------------------
# API side: the disk cache and the call into a renderer child


class PageCache:
    """Rendered PNGs under `<store>/pages/<sha256[:2]>/<key>.png`, at most `limit` bytes in all; the least
    recently used go first (a hit touches its file)."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        self._lock = threading.Lock()

    def path(self, sha256: str, parts: dict[str, Any]) -> Path:
        key = hashlib.sha256(json.dumps([sha256, parts], sort_keys=True).encode()).hexdigest()
        return self.root / sha256[:2] / f"{key}.png"

    def hit(self, path: Path) -> bool:
        try:
            os.utime(path)
        except OSError:
            return False
        return True

    def prune(self, keep: Path | None = None) -> int:
        """Remove the least recently used files until the cache is within its limit; bytes removed."""
        with self._lock:
            files: list[tuple[float, int, Path]] = []
            for sub in self.root.iterdir() if self.root.is_dir() else ():
                for f in sub.iterdir() if sub.is_dir() else ():
                    with contextlib.suppress(OSError):
                        st = f.stat()
                        files.append((st.st_mtime, st.st_size, f))
            total = sum(size for _, size, _ in files)
            removed = 0
            for _, size, f in sorted(files):
                if total <= self.limit:
                    break
                if f == keep:
                    continue
                with contextlib.suppress(OSError):
                    f.unlink()
                    total -= size
                    removed += size
            return removed

    def size(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*.png")) if self.root.is_dir() else 0


def cache_for(svc: Service) -> PageCache:
    cache = svc.__dict__.get("_page_cache")
    if cache is None:
        root = svc.store.root / "pages"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        cache = svc.__dict__["_page_cache"] = PageCache(root, svc.settings.page_cache_bytes)
    return cache


def plan(
    svc: Service, sha256: str, kind: str, number: int, width: int, crop_box: dict | None = None
) -> tuple[Path, dict[str, Any]]:
    """(cache path, render request) of a page (or of a cell's crop) at `width`."""
    st = svc.settings
    max_pixels = int(st.page_image_max_megapixels * 1_000_000)
    out = cache_for(svc).path(
        sha256, {"kind": kind, "number": number, "width": width, "max": max_pixels, "crop": crop_box}
    )
    request = {
        "path": str(svc.store.path(sha256)),
        "sha256": sha256,
        "kind": kind,
        "number": number,
        "width": width,
        "max_pixels": max_pixels,
        "max_source_pixels": int(st.ingest_options().max_megapixels_per_page * 1_000_000),
        "out": str(out),
        "crop": crop_box,
    }
    return out, request


def produce(svc: Service, request: dict[str, Any]) -> Path:
    """Render a planned request into the cache (blocking: call it from a thread), then keep the cache
    within its bytes. Typed errors: no_page_image, input_too_large, corrupt_input, server_busy,
    time_limit_exceeded, memory_limit_exceeded, …"""
    out = Path(request["out"])
    if not svc.settings.process_isolation:
        render_to_file(request)
    else:
        _render_in_child(svc, request)
    cache_for(svc).prune(keep=out)
    return out


def lookup(
    svc: Service, sha256: str, kind: str, number: int, width: int, crop_box: dict | None = None
) -> tuple[Path, dict[str, Any], bool]:
    """(cache path, render request, whether it is cached): file system work and imports, so from a thread."""
    out, request = plan(svc, sha256, kind, number, width, crop_box)
    return out, request, cache_for(svc).hit(out)


def page_png(svc: Service, sha256: str, kind: str, number: int, width: int, crop_box: dict | None = None) -> Path:
    """The cached PNG, rendered first when it is not cached (blocking)."""
    out, request, hit = lookup(svc, sha256, kind, number, width, crop_box)
    return out if hit else produce(svc, request)


def _render_in_child(svc: Service, request: dict[str, Any]) -> None:
    from service.sandbox import PoolClosed

    st = svc.settings
    try:
        with renderers(svc).lease(timeout=st.page_render_wait_s) as box:
            outcome = box.call("page_image", request, time_limit=st.page_render_timeout_s)
    except (TimeoutError, PoolClosed):
        raise ServerBusy("every page renderer is busy; try again shortly") from None
    if outcome.ok:
        return
    if outcome.aborted:
        raise ServerBusy("the server is shutting down; try again shortly")
    if outcome.code == "worker_crashed":  # the page crashed the renderer: the document's fault
        raise RenderFailed("corrupt_input", "the page crashed the renderer")
    raise RenderFailed(outcome.code or "internal_error", outcome.message, outcome.detail or None)


def renderers(svc: Service):
    """Children that render page images (PDFium and image decoders never run in the API process)."""
    from service.sandbox import Sandbox, SandboxPool

    st = svc.settings
    return svc._pool(
        "_renderers",
        lambda: SandboxPool(
            lambda: Sandbox(
                "page-render",
                memory_limit=st.max_worker_memory_mb * 2**20,
                max_jobs=st.child_max_jobs * 10,
                warm=("extraction.ingest.pdf", "PIL.Image"),
                nice=st.extraction_nice,
            ),
            max_size=st.page_render_workers,
        ),
    )


def stream(path: Path):
    """The file's bytes in chunks, from a descriptor opened now (a later prune cannot cut it short)."""
    fh = open(path, "rb")  # noqa: SIM115  # closed by the generator

    def chunks():
        try:
            while block := fh.read(CHUNK):
                yield block
        finally:
            fh.close()

    return chunks()
