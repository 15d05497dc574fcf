"""Page images for the review UI, the child side (`service/sandbox.py`, operation `page_image`, or a
worker thread in `inline` isolation): decode a stored original, render one page (or a cell's crop of it)
and write it as PNG. No database and no `Service` here; service/pages.py plans the request and caches
the file."""

from __future__ import annotations

import io
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extraction.errors import InputTooLarge
from service.errors import NoPageImage

if TYPE_CHECKING:
    from PIL import Image as PILImage

PDF_KINDS = ("digital_pdf", "scanned_pdf", "pdf")


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
