"""Page images of stored originals for the review UI: whole pages and cell crops (PNG).

Nothing is decoded or rendered in the API process (a hostile page once took it from 0.6 to 6.7 GB):

- `render_to_file` runs in a supervised child (`service/sandbox.py`, operation `page_image`), under
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
import io
import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extraction.errors import GongkaiError, InputTooLarge

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from service.core import Service

PDF_KINDS = ("digital_pdf", "scanned_pdf", "pdf")
CHUNK = 256 * 1024


class NoPageImage(GongkaiError):
    """The document has no page images (text, HTML, DOCX) or no such page."""

    code = "no_page_image"
    http_status = 404


# --------------------------------------------------------------------------------------------
# Child side (or a worker thread in `inline` isolation): decode, render, write


def render_to_file(request: dict[str, Any]) -> dict[str, Any]:
    """{"path", "sha256", "kind", "number", "width", "max_pixels", "max_source_pixels", "out", "crop"?}
    → {"width", "height", "bytes"}: page `number` rendered `width` pixels wide (narrower when it would
    be over `max_pixels`), cropped to `crop` = {"bbox", "page_width"} when given, written as PNG to `out`."""
    from service.extract_task import read_original

    data = read_original(request["path"], request["sha256"])
    img = render(
        request["kind"], data, int(request["number"]), int(request["width"]),
        int(request["max_pixels"]), int(request["max_source_pixels"]),
    )  # fmt: skip
    del data
    if request.get("crop"):
        img = crop(img, request["crop"]["bbox"], float(request["crop"]["page_width"]))
    out = Path(request["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")  # 0600; renamed whole: never half a PNG
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG", optimize=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"width": img.width, "height": img.height, "bytes": out.stat().st_size}


def fit(width: int, aspect: float, max_pixels: int) -> tuple[int, int]:
    """(width, height) of an image `aspect` = height/width times as tall as wide, `width` pixels
    wide or narrower so that it holds at most `max_pixels` pixels."""
    height = width * aspect
    if width * height > max_pixels:
        width = max(1, int(math.sqrt(max_pixels / aspect)))
        height = width * aspect
    return width, max(1, round(height))


def render(kind: str, data: bytes, number: int, width: int, max_pixels: int, max_source_pixels: int) -> PILImage.Image:
    """Page `number` (1-based) as an RGB image about `width` pixels wide (the whole page, as extracted)."""
    if kind in PDF_KINDS:
        return _render_pdf(data, number, width, max_pixels)
    if kind == "image":
        return _render_image(data, number, width, max_pixels, max_source_pixels)
    raise NoPageImage(f"a {kind} document has no page images")


def _render_pdf(data: bytes, number: int, width: int, max_pixels: int) -> PILImage.Image:
    from extraction.ingest.pdf import PageSpace, open_pdf

    pdf = open_pdf(data)
    try:
        if not 1 <= number <= len(pdf):
            raise NoPageImage(f"the document has no page {number}")
        page = pdf[number - 1]
        try:
            # the same page space as the extractor: crop box, page rotation applied
            space = PageSpace(page.get_cropbox(), page.get_rotation())
            if space.width <= 0 or space.height <= 0:
                raise NoPageImage(f"page {number} has no area")
            w, _ = fit(width, space.height / space.width, max_pixels)
            bitmap = page.render(scale=w / space.width, may_draw_forms=True)
            try:
                return bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        pdf.close()


def _render_image(data: bytes, number: int, width: int, max_pixels: int, max_source_pixels: int) -> PILImage.Image:
    from PIL import Image, ImageOps, UnidentifiedImageError

    from extraction.errors import CorruptInput

    try:
        im = Image.open(io.BytesIO(data))
        frames = getattr(im, "n_frames", 1) or 1
        if not 1 <= number <= frames:
            raise NoPageImage(f"the image has no frame {number}")
        im.seek(number - 1)
        if im.width * im.height > max_source_pixels:  # from the header: nothing decoded yet
            raise InputTooLarge(
                f"the image is {im.width:,}×{im.height:,} pixels; the limit is {max_source_pixels:,}",
                detail={"width": im.width, "height": im.height, "limit": max_source_pixels},
            )
        w, h = fit(width, im.height / im.width, max_pixels)
        im.draft("RGB", (w, h))  # JPEG: decode at a reduced scale when that is enough
        frame = ImageOps.exif_transpose(im) if number == 1 else im.copy()
        frame = frame.convert("RGB")
        w, h = fit(width, frame.height / frame.width, max_pixels)  # exif may have turned it
        return frame.resize((w, h), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptInput(f"the image cannot be decoded: {exc}") from None


def crop(page_img: PILImage.Image, bbox: list[float], page_width: float, context: float = 1.5) -> PILImage.Image:
    """The cell's box (in the page's extraction units, `page_width` wide) with some context around it."""
    from PIL import ImageDraw

    f = page_img.width / page_width
    x0, y0, x1, y1 = (v * f for v in bbox)
    h = max(y1 - y0, 8.0)
    pad_y, pad_x = h * context, max(h * context * 3, (x1 - x0) * 0.5)
    box = (
        max(0, int(x0 - pad_x)),
        max(0, int(y0 - pad_y)),
        min(page_img.width, int(x1 + pad_x) + 1),
        min(page_img.height, int(y1 + pad_y) + 1),
    )
    out = page_img.crop(box).copy()
    ImageDraw.Draw(out).rectangle((x0 - box[0], y0 - box[1], x1 - box[0], y1 - box[1]), outline=(220, 30, 30), width=2)
    return out


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
    from extraction.ingest.base import IngestOptions

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
        "max_source_pixels": int((st.max_megapixels_per_page or IngestOptions().max_megapixels_per_page) * 1_000_000),
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
        raise _typed("server_busy", 429, "every page renderer is busy; try again shortly") from None
    if outcome.ok:
        return
    if outcome.aborted:
        raise _typed("server_busy", 429, "the server is shutting down; try again shortly")
    if outcome.code == "worker_crashed":  # the page crashed the renderer: the document's fault
        raise _typed("corrupt_input", 422, "the page crashed the renderer")
    status = {"no_page_image": 404, "input_too_large": 413}.get(outcome.code or "", 422)
    raise _typed(outcome.code or "internal_error", status, outcome.message, outcome.detail or None)


def _typed(code: str, status: int, message: str, detail: dict | None = None) -> GongkaiError:
    exc = GongkaiError(message, detail=detail)
    exc.code, exc.http_status = code, status
    return exc


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
