"""PDF reports: the text layer where it is real, OCR of the rendered page where it is not.

pypdfium2 (PDFium) opens, reads and renders. Page by page, one page in memory at a time:

- **text layer**: the page's characters with their boxes (loose boxes: font ascent to descent)
  and its drawn ruling lines (path objects: stroked segments and rectangle edges, thin filled
  rectangles; form XObjects followed) → `extraction.pages.geometry.layout_page`. Boxes in PDF points,
  top-left origin, in the page's display orientation (crop box and /Rotate applied).
- **real or not**: a page's text layer is used when it has enough characters that are CJK, digits or
  ordinary punctuation and few unmappable glyphs (fonts without a ToUnicode map give garbage); a page
  whose text is only a header over a full-page image is a scan. Other pages are rendered at
  `OcrOptions.dpi` (scaled down to stay under `max_image_pixels`) in colour and read by
  `extraction.ingest.image.ocr_page`: boxes in pixels of that rendering.
- The document is `digital_pdf` when most pages that were read have a real text layer, else
  `scanned_pdf` (a warning names the pages that were read the other way).

Errors: a PDF that needs a password (an empty user password is tried first, so a file with only
an owner password opens) → EncryptedInput; truncated or damaged beyond PDFium's repair →
CorruptInput; no pages → CorruptInput; more than `IngestOptions.max_pages` → InputTooLarge (from the
page count, before any page is loaded).

Limits, checked before PDFium spends memory on them:
- a Flate stream (content, font, object stream) that inflates beyond `max_pdf_stream_bytes`, or
  all of them together beyond 8 times that, → InputTooLarge, from a scan of the raw bytes before
  PDFium opens the file (PDFium inflates a page's whole content when it loads the page);
- a page larger than `MAX_PAGE_PT` a side fails (input_too_large); a page read by OCR whose images
  hold more pixels than `max_megapixels_per_page` fails (input_too_large) before it is rendered
  (PDFium decodes a JBIG2 or JPEG 2000 image whole); pages are rendered at `OcrOptions.dpi`, scaled
  down to stay under the page pixel limit and `OCR_MAX_SIDE` (OCR reads no more than that);
- time: a page past `OcrOptions.page_timeout_s` fails; when `max_document_seconds` runs out the
  pages left fail (time_limit_exceeded).
A page that fails (also a broken page object, a render error) is recorded in `PageInfo.error` and
the other pages are still read (a partial result); when no page can be read the whole input fails,
with the pages' own error when they all failed the same way (InputTooLarge, TimeLimitExceeded),
else CorruptInput.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import re
import zlib
from collections.abc import Iterator

import numpy as np

from extraction.document import BBox, DocumentState, PageBegin, PageItem, PagesRead
from extraction.errors import CorruptInput, EncryptedInput, InputTooLarge
from extraction.ingest.base import IngestBackend, IngestOptions
from extraction.ingest.image import OCR_MAX_SIDE, DocumentClock, all_pages_failed, ocr_options, read_all
from extraction.ocr.base import OcrEngine

MAX_PAGE_CHARS = 100_000  # a page with more characters is read up to this many
MAX_PATH_SEGMENTS = 60_000  # a page with more drawing than this is not searched for ruling lines
MIN_TEXT_CHARS = 20  # fewer real characters than this: the page is read as an image
MAX_PAGE_PT = 14_400 * 4  # a side longer than this (pt) is absurd

_ERR_PASSWORD = 4
_ERR_SECURITY = 5

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """The map p → outer(inner(p)) (PDF matrices [a b c d e f]: x' = a x + c y + e)."""
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


class PageSpace:
    """PDF user space → the page as displayed (crop box, /Rotate), points, top-left origin."""

    def __init__(self, crop: tuple[float, float, float, float], rotation: int) -> None:
        left, bottom, right, top = crop
        self.left, self.bottom, self.right, self.top = left, bottom, right, top
        self.w0, self.h0 = right - left, top - bottom
        self.rotation = rotation % 360
        if self.rotation in (90, 270):
            self.width, self.height = self.h0, self.w0
        else:
            self.width, self.height = self.w0, self.h0

    def point(self, x: float, y: float) -> tuple[float, float]:
        u, v = x - self.left, self.top - y
        r = self.rotation
        if r == 90:
            return self.h0 - v, u
        if r == 180:
            return self.w0 - u, self.h0 - v
        if r == 270:
            return v, self.w0 - u
        return u, v

    def box(self, left: float, bottom: float, right: float, top: float) -> BBox:
        x0, y0 = self.point(left, top)
        x1, y1 = self.point(right, bottom)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


# ---------------------------------------------------------------------------------------------
# Text layer


def text_chars(textpage, space: PageSpace) -> tuple[list[tuple[str, BBox]], int]:
    """The page's characters in content order with their display boxes; and how many of them have
    no Unicode mapping (garbage). Breaks PDFium inferred (its generated spaces and line ends) are
    kept as empty strings, printed spaces as " ", so words break at the first and may hold the second."""
    import pypdfium2.raw as raw

    tp = textpage.raw
    n = min(raw.FPDFText_CountChars(tp), MAX_PAGE_CHARS)
    rect = raw.FS_RECTF()
    out: list[tuple[str, BBox]] = []
    bad = 0
    for i in range(max(0, n)):
        code = raw.FPDFText_GetUnicode(tp, i)
        if raw.FPDFText_IsGenerated(tp, i) == 1:
            out.append(("", (0.0, 0.0, 0.0, 0.0)))  # a break PDFium inferred
            continue
        if raw.FPDFText_HasUnicodeMapError(tp, i) == 1:
            bad += 1
            continue
        try:
            ch = chr(code)
        except (ValueError, OverflowError):
            bad += 1
            continue
        if not ch.strip():
            out.append((" ", (0.0, 0.0, 0.0, 0.0)))
            continue
        if not raw.FPDFText_GetLooseCharBox(tp, i, rect):
            continue
        box = space.box(rect.left, rect.bottom, rect.right, rect.top)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if not (0 <= cx <= space.width and 0 <= cy <= space.height):
            continue  # outside the crop box: not printed
        out.append((ch, box))
    return out, bad


def _is_good_char(ch: str) -> bool:
    o = ord(ch)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return True  # CJK ideographs
    if ch.isascii():
        return ch.isprintable()
    if 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or 0x2000 <= o <= 0x206F:
        return True  # CJK punctuation, full-width forms, general punctuation
    return ch in "×÷±≤≥°′″№"


def text_layer_is_real(chars: list[tuple[str, BBox]], unmapped: int) -> bool:
    """Enough characters, mostly CJK/digits/ordinary punctuation, few unmappable glyphs."""
    real = [c for c, _ in chars if c.strip()]
    if len(real) < MIN_TEXT_CHARS:
        return False
    good = sum(1 for c in real if _is_good_char(c))
    core = sum(1 for c in real if c.isdigit() or 0x4E00 <= ord(c) <= 0x9FFF)
    if unmapped > 0.1 * (len(real) + unmapped):
        return False
    return good >= 0.85 * len(real) and core >= 0.3 * len(real)


def _image_coverage(page, space: PageSpace) -> float:
    """The share of the page covered by its largest image object."""
    import pypdfium2.raw as raw

    best = 0.0
    area = max(1.0, space.width * space.height)
    try:
        for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=2):
            left, bottom, right, top = obj.get_bounds()
            w = min(right, space.right) - max(left, space.left)
            h = min(top, space.top) - max(bottom, space.bottom)
            if w > 0 and h > 0:
                best = max(best, w * h / area)
    except Exception:
        return 0.0
    return best


# ---------------------------------------------------------------------------------------------
# Ruling lines


def vector_rules(page, space: PageSpace):  # noqa: C901 - one walk over PDFium path objects; each branch is one kind of segment
    """Ruling lines drawn on the page: stroked straight segments, edges of stroked rectangles and
    thin filled rectangles, in display coordinates. Form XObjects are followed."""
    import pypdfium2.raw as raw

    from extraction.pages.geometry import Rule

    rules: list[Rule] = []
    stack: dict[int, Matrix] = {0: _IDENTITY}
    segments = 0
    x, y = ctypes.c_float(), ctypes.c_float()
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    r, g, b, a = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
    for obj in page.get_objects(max_depth=4):
        level = getattr(obj, "level", 0)
        base = stack.get(level, _IDENTITY)
        if obj.type == raw.FPDF_PAGEOBJ_FORM:
            stack[level + 1] = _compose(tuple(obj.get_matrix().get()), base)
            continue
        if obj.type != raw.FPDF_PAGEOBJ_PATH:
            continue
        m = _compose(tuple(obj.get_matrix().get()), base)
        if not raw.FPDFPath_GetDrawMode(obj.raw, fill, stroke):
            continue
        stroked, filled = bool(stroke.value), fill.value != 0
        if stroked and raw.FPDFPageObj_GetStrokeColor(obj.raw, r, g, b, a) and min(r.value, g.value, b.value) > 235:
            stroked = False  # white on white
        if filled and raw.FPDFPageObj_GetFillColor(obj.raw, r, g, b, a) and min(r.value, g.value, b.value) > 235:
            filled = False
        if not (stroked or filled):
            continue
        n = raw.FPDFPath_CountSegments(obj.raw)
        segments += max(0, n)
        if segments > MAX_PATH_SEGMENTS:
            return []
        subpaths: list[list[tuple[float, float]]] = []
        curved = False
        for i in range(max(0, n)):
            seg = raw.FPDFPath_GetPathSegment(obj.raw, i)
            if not raw.FPDFPathSegment_GetPoint(seg, x, y):
                continue
            kind = raw.FPDFPathSegment_GetType(seg)
            px = m[0] * x.value + m[2] * y.value + m[4]
            py = m[1] * x.value + m[3] * y.value + m[5]
            pt = space.point(px, py)
            if kind == raw.FPDF_SEGMENT_MOVETO or not subpaths:
                subpaths.append([pt])
            else:
                if kind == raw.FPDF_SEGMENT_BEZIERTO:
                    curved = True
                subpaths[-1].append(pt)
            if raw.FPDFPathSegment_GetClose(seg) and subpaths[-1][0] != subpaths[-1][-1]:
                subpaths[-1].append(subpaths[-1][0])
        if curved:
            continue
        for pts in subpaths:
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            w, h = max(xs) - min(xs), max(ys) - min(ys)
            if filled and len(pts) >= 4 and min(w, h) <= 2.5 and max(w, h) >= 4:
                # a thin filled rectangle drawn as a line
                if w >= h:
                    yc = (min(ys) + max(ys)) / 2
                    rules.append(Rule(min(xs), yc, max(xs), yc))
                else:
                    xc = (min(xs) + max(xs)) / 2
                    rules.append(Rule(xc, min(ys), xc, max(ys)))
                continue
            if not stroked:
                continue
            for (x0, y0), (x1, y1) in itertools.pairwise(pts):
                if abs(y1 - y0) <= 1.0 and abs(x1 - x0) >= 2:
                    yc = (y0 + y1) / 2
                    rules.append(Rule(min(x0, x1), yc, max(x0, x1), yc))
                elif abs(x1 - x0) <= 1.0 and abs(y1 - y0) >= 2:
                    xc = (x0 + x1) / 2
                    rules.append(Rule(xc, min(y0, y1), xc, max(y0, y1)))
    return rules


# ---------------------------------------------------------------------------------------------
# Backend


def open_pdf(data: bytes):
    """A PdfDocument, or a typed error: EncryptedInput, CorruptInput."""
    import pypdfium2 as pdfium

    last = None
    for password in (None, ""):
        try:
            return pdfium.PdfDocument(data, password=password)
        except pdfium.PdfiumError as exc:
            last = exc
            code = getattr(exc, "err_code", None)
            if code not in (_ERR_PASSWORD, _ERR_SECURITY):
                break
    code = getattr(last, "err_code", None)
    if code == _ERR_PASSWORD:
        raise EncryptedInput("the PDF is encrypted and needs a password to open") from None
    if code == _ERR_SECURITY:
        raise EncryptedInput("the PDF uses an unsupported security handler") from None
    if code == 0:  # PDFium refuses a document without a usable page tree and reports no error
        raise CorruptInput("the PDF has no pages (its page tree is empty or unusable)") from None
    raise CorruptInput(f"the PDF is damaged or truncated and cannot be opened ({last})") from None


_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_IMAGE_DICT = re.compile(rb"/Subtype\s*/Image\b")
_SCAN_IN = 1 << 16
_SCAN_OUT = 1 << 20


def check_streams(data: bytes, limit: int, total_limit: int | None = None) -> None:
    """Refuse a Flate bomb before PDFium reads the file: every stream that starts with a zlib header
    (a FlateDecode stream that is not encrypted) is inflated here, in pieces and without keeping the
    output, up to `limit` bytes, and all of them together up to `total_limit` (8 × `limit`). Image
    streams are skipped: their pixels are checked from their dimensions before a page is rendered."""
    total_limit = total_limit if total_limit is not None else 8 * limit
    view = memoryview(data)
    total = 0
    for m in _STREAM.finditer(data):
        start = m.end()
        if start + 2 > len(data):
            break
        b0, b1 = data[start], data[start + 1]
        if b0 & 0x0F != 8 or b0 >> 4 > 7 or ((b0 << 8) | b1) % 31:
            continue  # not a zlib stream (another filter, encrypted, or raw data)
        head = data.rfind(b" obj", max(0, m.start() - 4096), m.start())
        if _IMAGE_DICT.search(data, head if head >= 0 else max(0, m.start() - 4096), m.start()):
            continue
        d = zlib.decompressobj()
        size, pos = 0, start
        try:
            out = d.decompress(view[pos : pos + _SCAN_IN], _SCAN_OUT)
            while True:
                size += len(out)
                if size > limit or total + size > total_limit:
                    raise InputTooLarge(
                        f"a stream of the PDF inflates beyond {min(limit, total_limit - total):,} bytes "
                        f"(a Flate bomb; streams are limited to {limit:,} bytes each, {total_limit:,} in all)",
                        detail={"offset": start, "limit": limit, "total_limit": total_limit},
                    )
                if d.eof:
                    break
                if d.unconsumed_tail:
                    out = d.decompress(d.unconsumed_tail, _SCAN_OUT)
                    continue
                pos += _SCAN_IN
                if pos >= len(data):
                    break
                out = d.decompress(view[pos : pos + _SCAN_IN], _SCAN_OUT)
        except zlib.error:
            pass  # damaged data: PDFium decides what to do with it
        total += size


def check_page_images(page, max_pixels: int) -> None:
    """A page's images (form XObjects followed) whose declared pixels exceed `max_pixels` → InputTooLarge,
    from their dictionaries: nothing is decoded."""
    import pypdfium2.raw as raw

    for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        try:
            w, h = obj.get_px_size()
        except Exception:
            continue
        if w * h > max_pixels:
            raise InputTooLarge(
                f"an image on the page is {w:,}×{h:,} pixels; the limit is {max_pixels:,} pixels (pixel bomb?)",
                detail={"width": w, "height": h, "limit": max_pixels},
            )


def render_page(page, space: PageSpace, dpi: int, max_pixels: int, max_side: int | None = None) -> np.ndarray:
    """The page rendered (RGB, uint8) at `dpi`, scaled down to stay under `max_pixels` (and, when given,
    `max_side` pixels on its longer side)."""
    scale = dpi / 72.0
    pixels = space.width * scale * space.height * scale
    if pixels > max_pixels:
        scale *= math.sqrt(max_pixels / pixels)
    if max_side is not None and max(space.width, space.height) * scale > max_side:
        scale = max_side / max(space.width, space.height)
    bitmap = page.render(scale=scale, may_draw_forms=True, rev_byteorder=True)
    try:
        arr = np.array(bitmap.to_numpy(), copy=True)
    finally:
        bitmap.close()
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = np.ascontiguousarray(arr[:, :, :3])
    return arr


class PdfBackend(IngestBackend):
    kind = "pdf"

    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        return read_all(self.open(data, name, options), options)

    def open(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        """The PDF checked and opened (streams, page count); its pages are left pending."""
        clock = DocumentClock(options)
        if options.max_pdf_stream_bytes:
            check_streams(data, options.max_pdf_stream_bytes)
        pdf = open_pdf(data)
        try:
            n = len(pdf)
            if n <= 0:
                raise CorruptInput("the PDF has no pages")
            if n > options.max_pages:
                raise InputTooLarge(
                    f"the PDF has {n} pages; the limit is {options.max_pages}",
                    detail={"pages": n, "limit": options.max_pages},
                )
        except BaseException:
            pdf.close()
            raise
        state = self.new_state(data, name, "digital_pdf")
        state.pending = PdfPages(pdf, n, options, clock)
        return state


class PdfPages:
    """The pages of an open PDF, in printing order: each page's text layer read into lines (with its
    table geometry) when it has a real one, else the page rendered for OCR. Rendering stays on the
    thread that walks the pages (PDFium is not thread-safe); the PDF is closed when the walk ends."""

    def __init__(self, pdf, n: int, options: IngestOptions, clock: DocumentClock) -> None:
        self.pdf, self.n, self.options, self.clock = pdf, n, options, clock
        self.text_pages: list[int] = []
        self.empty_pages: list[int] = []

    def pages(self, begin: PageBegin) -> Iterator[PageItem]:
        import pypdfium2.raw as pdfium_raw

        from extraction.pages.geometry import layout_page, words_from_chars

        opts = ocr_options(self.options)
        max_pixels = self.options.max_page_pixels()
        pdf = self.pdf
        try:
            for index in range(self.n):
                number = index + 1
                started = begin(number)
                if started is None:
                    continue
                info, deadline = started
                page = textpage = None
                image = None
                try:
                    page = pdf[index]
                    left, bottom, right, top = page.get_cropbox()
                    space = PageSpace((left, bottom, right, top), page.get_rotation())
                    if not (space.width >= 1 and space.height >= 1):
                        raise CorruptInput(f"the page size {space.width:.0f}×{space.height:.0f} pt is empty")
                    if not (space.width <= MAX_PAGE_PT and space.height <= MAX_PAGE_PT):
                        raise InputTooLarge(
                            f"the page size {space.width:.0f}×{space.height:.0f} pt is absurd (limit {MAX_PAGE_PT} pt a side)"
                        )
                    textpage = page.get_textpage()
                    chars, unmapped = text_chars(textpage, space)
                    real = text_layer_is_real(chars, unmapped)
                    if real and _image_coverage(page, space) > 0.6:
                        # a scan with a thin text header/footer, or an invisible OCR layer of doubtful quality
                        visible = sum(1 for c, _ in chars if c.strip())
                        real = visible >= 200
                    if real:
                        info.width, info.height, info.unit = space.width, space.height, "pt"
                        words = words_from_chars(chars)
                        OcrEngine.check_deadline(deadline)
                        rules = vector_rules(page, space)
                        OcrEngine.check_deadline(deadline)
                        lines = layout_page(words, rules, number)
                        self.text_pages.append(number)
                        yield PageItem(info, deadline, lines=lines)
                    elif not pdfium_raw.FPDFPage_CountObjects(page.raw) and not pdfium_raw.FPDFPage_GetAnnotCount(
                        page.raw
                    ):
                        info.width, info.height, info.unit = space.width, space.height, "pt"
                        self.empty_pages.append(number)  # nothing drawn on it: nothing to render or read
                        yield PageItem(info, deadline, lines=[])
                    else:
                        textpage.close()
                        textpage = None
                        check_page_images(page, max_pixels)
                        OcrEngine.check_deadline(deadline)
                        image = render_page(page, space, opts.page.dpi, max_pixels, max_side=OCR_MAX_SIDE)
                        page.close()
                        page = None
                        info.height, info.width = float(image.shape[0]), float(image.shape[1])
                        info.unit = "px"
                except Exception as exc:  # one bad page must not sink the document
                    yield PageItem(info, deadline, error=exc)
                    continue
                finally:
                    if textpage is not None:
                        textpage.close()
                    if page is not None:
                        page.close()
                if image is not None:
                    yield PageItem(info, deadline, image=image)
                    del image
        finally:
            pdf.close()

    def finish(self, state: DocumentState, read: PagesRead) -> None:
        ocr_pages, text_pages, empty_pages = read.ocr_pages, self.text_pages, self.empty_pages
        failed = [p for p in state.pages if p.error]
        if len(failed) == len(state.pages):
            if read.unavailable is not None:
                raise read.unavailable
            raise all_pages_failed(state.pages, "PDF")
        if len(ocr_pages) > len(text_pages):
            state.kind = "scanned_pdf"
            if text_pages:
                state.warnings.append(f"pages read from the text layer: {_ranges(text_pages)}")
        elif ocr_pages:
            state.warnings.append(f"pages read by OCR: {_ranges(ocr_pages)}")
        if failed:
            state.warnings.append(f"pages that could not be read: {', '.join(str(p.number) for p in failed)}")
        if empty_pages:
            state.warnings.append(f"pages with nothing on them: {_ranges(empty_pages)}")


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for k in numbers:
        if out and "-" not in out[-1] and int(out[-1]) == k - 1:
            out[-1] = f"{out[-1]}-{k}"
        elif out and "-" in out[-1] and int(out[-1].split("-")[1]) == k - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{k}"
        else:
            out.append(str(k))
    return ", ".join(out)


__all__ = [
    "PageSpace",
    "PdfBackend",
    "PdfPages",
    "check_page_images",
    "check_streams",
    "open_pdf",
    "render_page",
    "text_chars",
    "vector_rules",
]
