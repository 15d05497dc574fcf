"""Page images of stored originals for the review UI: whole pages and cell crops (PNG)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = 200_000_000

_CACHE: OrderedDict[tuple[str, int, int], Image.Image] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 16


class NoPageImage(Exception):
    """The document has no page images (text, HTML, DOCX) or no such page."""


def render(sha: str, kind: str, data: bytes, number: int, width: int) -> Image.Image:
    """Page `number` (1-based) as an RGB image `width` pixels wide (the whole page, as extracted)."""
    key = (sha, number, width)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    if kind in ("digital_pdf", "scanned_pdf", "pdf"):
        img = _render_pdf(data, number, width)
    elif kind == "image":
        img = _render_image(data, number, width)
    else:
        raise NoPageImage(f"a {kind} document has no page images")
    with _LOCK:
        _CACHE[key] = img
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return img


def _render_pdf(data: bytes, number: int, width: int) -> Image.Image:
    from extraction.ingest.pdf import PageSpace, open_pdf

    pdf = open_pdf(data)
    try:
        if not 1 <= number <= len(pdf):
            raise NoPageImage(f"the document has no page {number}")
        page = pdf[number - 1]
        try:
            # the same page space as the extractor: crop box, page rotation applied
            space = PageSpace(page.get_cropbox(), page.get_rotation())
            scale = width / space.width
            bitmap = page.render(scale=scale, may_draw_forms=True)
            try:
                return bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        pdf.close()


def _render_image(data: bytes, number: int, width: int) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    frames = getattr(im, "n_frames", 1) or 1
    if not 1 <= number <= frames:
        raise NoPageImage(f"the image has no frame {number}")
    im.seek(number - 1)
    frame = ImageOps.exif_transpose(im) if number == 1 else im.copy()
    frame = frame.convert("RGB")
    height = max(1, round(frame.height * width / frame.width))
    return frame.resize((width, height), Image.Resampling.LANCZOS)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def crop(page_img: Image.Image, bbox: list[float], page_width: float, context: float = 1.5) -> Image.Image:
    """The cell's box (in the page's extraction units, `page_width` wide) with some context around it."""
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
    from PIL import ImageDraw

    ImageDraw.Draw(out).rectangle((x0 - box[0], y0 - box[1], x1 - box[0], y1 - box[1]), outline=(220, 30, 30), width=2)
    return out
