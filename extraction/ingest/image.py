"""Page images (PNG, JPEG, TIFF incl. multi-page, GIF, BMP): OCR → table geometry → lines.

Every frame of the image is one page. Pixel bombs are refused from the header alone, before any
pixel is decoded (`IngestOptions.max_megapixels_per_page`, `OcrOptions.max_image_pixels`, and
Pillow's own MAX_IMAGE_PIXELS and text-chunk checks turned into typed errors); more frames than
`IngestOptions.max_pages` are refused from the frame count; EXIF orientation is applied; a frame
that fails or runs past the page time limit is recorded in `PageInfo.error` and the other frames
are still read, until the document's time budget (`IngestOptions.max_document_seconds`) runs out.

`ocr_page` is the one routine that reads a page image, shared with the scanned pages of the PDF
backend: `read_page` (seal ink lifted, orientation, deskew, OCR), then ruling lines by morphology,
table geometry (an empty slot with unread ink or under a seal is a low-confidence blank), and boxes
mapped back to the page image's pixels.
"""

from __future__ import annotations

import io
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from extraction.document import BBox, DocumentState, Line, PageBegin, PageInfo, PageItem, PagesRead
from extraction.errors import (
    CorruptInput,
    EncryptedInput,
    GongkaiError,
    InputTooLarge,
    OcrUnavailable,
    TimeLimitExceeded,
)
from extraction.ingest.base import IngestBackend, IngestOptions
from extraction.ocr.base import OcrEngine, OcrOptions, OcrTimeout, OcrToken, load_engine
from extraction.ocr.prep import PreparedPage, paper_and_ink
from extraction.progress import cached_page, report_page, store_page

log = logging.getLogger(__name__)

OCR_MIN_SIDE = 1600  # smaller page images are enlarged to this (longer side) before OCR
OCR_MAX_SIDE = 3600  # larger ones are reduced to this


def ocr_options(options: IngestOptions) -> OcrOptions:
    """The OCR settings of an ingest configuration (IngestOptions.ocr when it has one)."""
    ocr = getattr(options, "ocr", None)
    return ocr if isinstance(ocr, OcrOptions) else OcrOptions()


def tokens_to_words(tokens: list[OcrToken], shrink: float = 1.6):
    """OCR tokens → layout words. The detector's boxes are padded around the ink; the layout wants
    text-height boxes like a text layer's: the token's `core` box when the engine gives one (shrink
    > 1), else the box shrunk around its centre line by `shrink`; narrowed to its characters'
    extents when the engine gives them. shrink=1 keeps the detector's boxes."""
    from extraction.pages.geometry import Word

    words = []
    for t in tokens:
        chars = t.chars if t.chars is not None and len(t.chars) == len(t.text) else None
        x0, y0, x1, y1 = t.core if (t.core is not None and shrink > 1) else t.bbox
        cy, half = (y0 + y1) / 2, (y1 - y0) / (2 * (1.0 if t.core is not None and shrink > 1 else shrink))
        if chars:
            x0, x1 = max(x0, chars[0][0]), min(x1, chars[-1][1])
            if x1 <= x0:
                x0, x1 = t.bbox[0], t.bbox[2]
        words.append(Word(t.text, (x0, cy - half, x1, cy + half), t.confidence, [a for a, _ in t.alternatives], chars))
    return words


def ocr_scale(gray: np.ndarray, options: OcrOptions, stretch: float = 1.0) -> tuple[float, float]:
    """How much to resample a page image (x, y) before it is prepared and read.

    Pixels taller than wide (`stretch`, a fax) are made square first. Then a page far from ~200 dpi
    is brought nearer (its longer side to at least OCR_MIN_SIDE, at most OCR_MAX_SIDE), and a page
    whose text is small in pixels (a photo or a flatbed scan at 110-150 dpi) is enlarged until its
    text is `options.min_text_height_px` tall, at most `options.max_upscale` times and OCR_MAX_SIDE
    long: the denoise filter, the line eraser and the recogniser's crops all lose thin strokes of
    small glyphs."""
    from extraction.ocr.prep import glyph_height

    h, w = gray.shape[:2]
    sx, sy = (1.0 / stretch, 1.0) if stretch < 1.0 else (1.0, stretch)
    side = max(w * sx, h * sy)
    scale = 1.0
    if side < OCR_MIN_SIDE:
        scale = OCR_MIN_SIDE / side
    elif side > OCR_MAX_SIDE:
        scale = OCR_MAX_SIDE / side
    if options.page.min_text_height_px and side <= OCR_MAX_SIDE:
        text = glyph_height(gray) * sy  # in square pixels
        if text * scale < options.page.min_text_height_px:
            scale = min(options.page.min_text_height_px / max(text, 1.0), options.page.max_upscale, OCR_MAX_SIDE / side)
            scale = max(scale, 1.0)
    return round(sx * scale, 4), round(sy * scale, 4)


@dataclass
class PageReading:
    """A page image read by OCR: the prepared (upright, deskewed) page, the line-erased copy the
    engine read, its tokens (in the prepared page's pixels), the glyph height and, when the page
    carries red seal ink, where the seal lies (original pixels, every SEAL_STEP-th pixel)."""

    prepared: PreparedPage
    clean: np.ndarray
    tokens: list[OcrToken]
    text_height: float
    seal: np.ndarray | None = None
    bilevel: bool = False  # the page image as given was black and white only (a fax)


SEAL_STEP = 4
SEAL_DOUBT_COVER = 0.2  # a figure this much under a seal is doubtful…
UNDER_SEAL_CONFIDENCE = 0.7  # …and goes to review (below the default threshold, 0.8)


def read_page(
    image: np.ndarray,
    page: int,
    options: OcrOptions,
    engine: OcrEngine | None = None,
    deadline: float | None = None,
    stretch: float = 1.0,
) -> PageReading:
    """One page image (uint8 gray or RGB) → prepared, read by OCR (the steps before the geometry).

    `stretch`: the image's pixels are this many times as tall as they are wide (a standard-mode
    fax stores 204 × 98 dpi: 2.08); the page is resampled to square pixels for reading and every
    box still maps back to the image's own pixels."""
    import cv2

    from extraction.ocr.glyphs import (
        check_sure_fax_figures,
        doubt_lost_signs,
        doubt_unreadable_page,
        drop_rule_pieces,
        is_bilevel,
        mark_folios,
        read_fax_again,
        reread_doubtful_figures,
        settle_by_twins,
        settle_like_page_zeros,
        settle_zero_or_eight,
    )
    from extraction.ocr.prep import glyph_height, prepare, split_seal
    from extraction.pages.geometry import erase_lines

    engine = engine or load_engine(options)
    gray, seal = split_seal(image)  # colour: red seals lifted to the paper (red channel); else luminance
    del image
    if seal is not None:
        seal = _seal_areas(seal[::SEAL_STEP, ::SEAL_STEP])
    h, w = gray.shape[:2]
    bilevel = is_bilevel(gray)  # a fax: read again blurred where its figures are in doubt
    sx, sy = ocr_scale(gray, options, stretch)
    if (sx, sy) != (1.0, 1.0):
        interp = cv2.INTER_CUBIC if max(sx, sy) > 1 else cv2.INTER_AREA
        work = cv2.resize(gray, (max(1, round(w * sx)), max(1, round(h * sy))), interpolation=interp)
    else:
        work = gray
    prepared = prepare(work, options)
    if (sx, sy) != (1.0, 1.0):
        prepared.rescale(sx, sy)  # work pixels → the image's own
        prepared.original_size = (w, h)
    del work, gray
    OcrEngine.check_deadline(deadline)
    text_height = glyph_height(prepared.image, prepared.contrast_gain)
    clean = erase_lines(prepared.image, text_height)
    tokens = engine(clean, page, deadline=deadline)
    tries, turns = 0, cast(tuple[int, ...], ())
    if options.page.orientation:
        turns = _turns_to_try(prepared.image, tokens, options)
        if turns:
            tokens, tries = _read_turned(engine, prepared, tokens, turns, text_height, page, options, deadline)
            if prepared.quarter:
                text_height = glyph_height(prepared.image, prepared.contrast_gain)  # on their side: their width
            clean = erase_lines(prepared.image, text_height)
    if options.page.orientation and tokens and 180 not in turns and hasattr(engine, "upside_down"):
        flipped = _maybe_upside_down(engine, prepared, tokens)
        if flipped:
            OcrEngine.check_deadline(deadline)
            prepared.turn(180)
            clean = erase_lines(prepared.image, text_height)
            tokens = engine(clean, page, deadline=deadline)
    if options.page.recover_missed:
        OcrEngine.check_deadline(deadline)

        def under_seal(box: BBox) -> bool:
            return seal is not None and _seal_cover(seal, prepared, box) > 0

        tokens.extend(recover_missed_figures(engine, clean, tokens, text_height, page, deadline, under_seal))
    if bilevel:  # a fax's broken thin strokes: the whole page read again blurred, figure by figure
        read_fax_again(engine, clean, tokens, text_height, page, deadline)
        # a sure figure whose thin strokes the fax lost (a 4 left as its stem: 41 read 11 at 0.999)
        check_sure_fax_figures(engine, clean, tokens, text_height, page, deadline)
    # a doubtful figure read again from the page blurred (a fax's broken zero read as 11) and, on a
    # photo, darkened (a small figure blurred into a grey blob read as "e" or 8)
    reread_doubtful_figures(engine, clean, tokens, text_height, page, deadline, darken=prepared.warp is not None)
    settle_like_page_zeros(clean, tokens, text_height)  # a doubtful glyph shaped like the page's zeros
    if prepared.warp is None:  # a dotted zero read as 8 (not on a photo: blur takes an 8's waist away)
        settle_zero_or_eight(clean, tokens, text_height, sx if prepared.quarter % 2 else sy)
    if bilevel:  # a fax prints one figure as one bitmap: a glyph read weakly is told by its sure twins
        settle_by_twins(clean, tokens, text_height)
    doubt_lost_signs(clean, tokens)  # a faint minus the recogniser dropped (a photo's 1 px dash)
    tokens = drop_rule_pieces(prepared.image, tokens, text_height)  # a row-high piece of rule read as 1
    mark_folios(tokens)  # a page number read with dots (".1.") is no figure
    if not bilevel:  # most lone figures read with doubt: none is sure (a photo's blobs; a fax's are
        doubt_unreadable_page(tokens)  # broken strokes, which its second reading and the sums weigh)
    if seal is not None:
        doubt_under_seal(tokens, seal, prepared)
    log.debug(
        "page %d read turned by %d° (%d turned readings tried)%s",
        page,
        90 * prepared.quarter,
        tries,
        "; photographed page flattened" if prepared.warp is not None else "",
        extra={"page": page, "quarter": prepared.quarter, "tries": tries, "flattened": prepared.warp is not None},
    )
    return PageReading(prepared, clean, tokens, text_height, seal, bilevel)


def doubt_under_seal(tokens: list[OcrToken], seal: np.ndarray, prepared: PreparedPage) -> None:
    """A figure read through a seal may have lost or gained a stroke (a 7 in the ring, a 1 from the
    star): its confidence is capped so that review looks at it beside the page."""
    from extraction.ocr.base import numeric_like

    for t in tokens:
        if numeric_like(t.text) and _seal_cover(seal, prepared, t.bbox) > SEAL_DOUBT_COVER:
            t.confidence = min(t.confidence, UNDER_SEAL_CONFIDENCE)


def missed_glyph_boxes(clean: np.ndarray, tokens: list[OcrToken], text_height: float) -> list[BBox]:
    """Boxes of glyph-sized ink that no detected text box covers, neighbours joined into one box.

    Text detectors miss lone small figures ("0" in a row of zeros, a single digit at the end of a
    long table row); their ink is still on the page."""
    import cv2

    th = text_height
    paper, ink = paper_and_ink(clean)
    if paper - ink < 40:
        return []
    bw = (clean < paper - 0.5 * (paper - ink)).astype(np.uint8)
    pad = 0.2 * th
    h, w = bw.shape
    for t in tokens:
        x0, y0, x1, y1 = t.bbox
        bw[max(0, int(y0 - pad)) : min(h, int(y1 + pad) + 1), max(0, int(x0 - pad)) : min(w, int(x1 + pad) + 1)] = 0
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(bw, connectivity=8)
    # a missed figure stands among the page's text, not in its margins (a scan's dark edges and
    # corners leave glyph-sized specks there)
    if tokens:
        ax0 = min(t.bbox[0] for t in tokens) - 2 * th
        ax1 = max(t.bbox[2] for t in tokens) + 2 * th
        ay0 = min(t.bbox[1] for t in tokens) - 3 * th
        ay1 = max(t.bbox[3] for t in tokens) + 3 * th
    else:
        ax0, ay0, ax1, ay1 = 0.0, 0.0, float(w), float(h)
    glyphs = [
        (float(x), float(y), float(x + ww), float(y + hh))
        for x, y, ww, hh, area in stats[1:n]
        # a table's figures may be half the body text's height; a thin "1" has little ink
        if 0.3 * th <= hh <= 1.5 * th
        and ww <= 1.5 * th
        and area >= max(8.0, 0.015 * th * th)
        and x > 0
        and y > 0
        and x + ww < w
        and y + hh < h
        and ax0 <= x
        and x + ww <= ax1
        and ay0 <= y
        and y + hh <= ay1
    ]
    glyphs.sort()
    groups: list[list[float]] = []
    for x0, y0, x1, y1 in glyphs:
        for g in groups:
            overlap = min(g[3], y1) - max(g[1], y0)
            if overlap >= 0.5 * min(g[3] - g[1], y1 - y0) and -0.1 * th <= x0 - g[2] <= 0.35 * th:
                g[0], g[1], g[2], g[3] = min(g[0], x0), min(g[1], y0), max(g[2], x1), max(g[3], y1)
                break
        else:
            groups.append([x0, y0, x1, y1])
    m = 0.25 * th
    return [
        (max(0.0, x0 - m), max(0.0, y0 - m), min(float(w), x1 + m), min(float(h), y1 + m))
        for x0, y0, x1, y1 in groups
        if x1 - x0 <= 6 * th
    ][:MAX_RECOVERED]


MAX_RECOVERED = 200  # a page with more uncovered glyphs is noise, not missed figures
RECOVERED_CONFIDENCE_FACTOR = 0.9  # a figure read without the detector's box is a little less sure


def recover_missed_figures(
    engine: OcrEngine,
    clean: np.ndarray,
    tokens: list[OcrToken],
    text_height: float,
    page: int,
    deadline: float | None,
    skip: Callable[[BBox], bool] | None = None,
) -> list[OcrToken]:
    """Read the figures the detector missed (see `missed_glyph_boxes`); only numbers are kept (a
    stray piece of a character or a rule reads as noise and is dropped). `skip(box)`: boxes not to
    read (what is left of a lifted seal's strokes reads as 1s)."""
    from extraction.ocr.base import numeric_like

    boxes = [b for b in missed_glyph_boxes(clean, tokens, text_height) if skip is None or not skip(b)]
    found = engine.read_boxes(clean, boxes, page, deadline=deadline) if boxes else []
    out = []
    for t in found:
        if numeric_like(t.text) and any(c.isdigit() for c in t.text) and t.confidence >= 0.5:
            t.confidence *= RECOVERED_CONFIDENCE_FACTOR
            out.append(t)
    return out


def _seal_areas(ink: np.ndarray) -> np.ndarray:
    """Seal ink (bool) → the areas the seals cover: each blob of ink filled to its convex hull
    (a seal's ring, star and characters hide the figures between them too)."""
    import cv2

    mask = cv2.dilate(ink.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    for contour in contours:
        if cv2.contourArea(contour) >= 100:  # specks of red noise are no seal
            cv2.fillConvexPoly(filled, cv2.convexHull(contour), 1)
    return filled.astype(bool)


MAX_STRETCH = 4.0  # a stated resolution more uneven than this is a broken header, not a fax


def pixel_stretch(dpi) -> float:
    """How many times taller than wide an image's pixels are, from its stated (x, y) resolution
    (a standard-mode fax: 204 × 98 dpi → 2.08); 1 when it states none or a square one."""
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return 1.0
    if x <= 0 or y <= 0 or abs(x - y) / max(x, y) < 0.05:
        return 1.0
    ratio = x / y
    return ratio if 1.0 / MAX_STRETCH <= ratio <= MAX_STRETCH else 1.0


BLANK_CONTRAST = 24  # a page image whose pixels all lie within this many levels holds no ink


def is_blank(image: np.ndarray) -> bool:
    return image.size == 0 or int(image.max()) - int(image.min()) < BLANK_CONTRAST


def ocr_page(
    image: np.ndarray,
    page: int,
    options: OcrOptions,
    engine: OcrEngine | None = None,
    deadline: float | None = None,
    stretch: float = 1.0,
) -> list[Line]:
    """One page image (uint8 gray or RGB) → its Lines, boxes in the image's pixels (`stretch`:
    see `read_page`)."""
    from extraction.ocr.glyphs import drop_ones_on_rules
    from extraction.pages.geometry import layout_page, rules_from_image

    if is_blank(image):
        return []  # no ink anywhere: nothing to read (a blank or uniformly filled page costs no OCR)
    reading = read_page(image, page, options, engine, deadline, stretch)
    del image
    prepared, tokens = reading.prepared, reading.tokens
    # ruling lines: strokes inside a detected text box (一, ——) are glyphs, not rules
    rules = rules_from_image(prepared.image, tokens_to_words(tokens, shrink=1.0), reading.text_height)
    if reading.bilevel:  # a "1" that is a piece of a broken vertical rule (a fax's thin frame line, inked in stretches)
        tokens = drop_ones_on_rules(reading.clean, tokens, rules, reading.text_height)
    probe = _unread_probe(reading)
    unread: list[BBox] = []

    def unread_slot(box: BBox) -> bool:
        if probe(box):
            unread.append(box)
            return True
        return False

    lines = layout_page(tokens_to_words(tokens), rules, page, bbox_map=_bbox_mapper(prepared), unread=unread_slot)
    if options.page.recover_missed and unread:
        read_unread_slots(engine or load_engine(options), reading, lines, unread, page, deadline)
    return lines


# A figure read in an empty table slot's own box (`read_unread_slots`) is below the review level:
# the detector did not see it, and the rules stage leaves it in review unless the sums determine it
SLOT_READ_CONFIDENCE = 0.5
SLOT_READ_MIN_CONFIDENCE = 0.5  # the recogniser's least confidence in such a figure
SLOT_MATCH_PX = 4.0  # a reading's box this close to a slot (summed over its sides) is that slot's
_SLOT_FIGURE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def read_unread_slots(
    engine: OcrEngine, reading: PageReading, lines: list[Line], slots: list[BBox], page: int, deadline: float | None
) -> int:
    """Read each empty table slot that holds ink OCR did not read (`_unread_probe`) in its own box:
    a figure read there (digits only, at `SLOT_READ_MIN_CONFIDENCE` or more) fills the slot's blank
    field at `SLOT_READ_CONFIDENCE`. A light table font's figures in a thin row, half the body
    text's height, escape the detector and `recover_missed_figures` (set for body text), while
    the recogniser reads them in their slots (grid_merged_labels scan, seed 7171: 8 of table 四's
    11 missed figures). Returns how many slots were filled."""
    from extraction.pages.words import UNREAD_CONFIDENCE

    mapper = _bbox_mapper(reading.prepared)
    blanks = {
        f.bbox: f
        for ln in lines
        for f in ln.fields
        if not f.text and f.bbox is not None and f.confidence == UNREAD_CONFIDENCE
    }
    found = engine.read_boxes(reading.clean, slots, page, deadline=deadline)
    filled = 0
    for t in found:
        if t.confidence < SLOT_READ_MIN_CONFIDENCE or not _SLOT_FIGURE.match(t.text.strip()):
            continue
        distance, slot = min((sum(abs(u - v) for u, v in zip(b, t.bbox, strict=True)), b) for b in slots)
        field = blanks.get(tuple(round(v, 2) for v in mapper(slot)))  # the box `words._blank` gave it
        if field is None or distance > SLOT_MATCH_PX:
            continue
        field.text, field.confidence = t.text.strip(), SLOT_READ_CONFIDENCE
        filled += 1
    return filled


# The least ink (dark pixels, in squared text heights) that makes an empty slot doubtful: a thin "1"
# of a light table font (仿宋 at 9 pt on a 200 dpi scan: ~35 dark pixels at a text height of 33)
# has far less than a CJK character; 0.06 missed it, and a row of such figures OCR did not read
# came out blank at 1.0
UNREAD_MIN_INK = 0.025


def _unread_probe(reading: PageReading) -> Callable[[BBox], bool]:
    """Whether an empty table slot (a box in the prepared page) may hold a figure OCR did not read:
    ink in it (a faint or broken digit), or a seal over it. Such a blank goes to review."""
    img, th = reading.clean, reading.text_height
    paper, ink = paper_and_ink(img, ink_percentile=1)
    dark = paper - 0.45 * max(paper - ink, 40.0)
    min_ink = max(12.0, UNREAD_MIN_INK * th * th)
    seal, prepared = reading.seal, reading.prepared

    def probe(box: BBox) -> bool:
        h, w = img.shape[:2]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(box[2]) + 1), min(h, int(box[3]) + 1)
        if x1 <= x0 or y1 <= y0:
            return False
        if int((img[y0:y1, x0:x1] < dark).sum()) >= min_ink:
            return True
        return seal is not None and _seal_cover(seal, prepared, box) > 0.3

    return probe


def _seal_cover(seal: np.ndarray, prepared: PreparedPage, box: BBox) -> float:
    """The share of a box (prepared page pixels) that seals cover (`PageReading.seal`)."""
    ox0, oy0, ox1, oy1 = (int(v) // SEAL_STEP for v in prepared.bbox_to_original(box))
    covered = seal[oy0 : oy1 + 1, ox0 : ox1 + 1]
    return float(covered.mean()) if covered.size else 0.0


def _cjk(text: str) -> int:
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")


def _reading_quality(tokens: list[OcrToken]) -> float:
    """Confident Chinese read in words: what an upright page gives and a turned one does not."""
    return sum(t.confidence * _cjk(t.text) for t in tokens if _cjk(t.text) >= 3)


def _reads_poorly(tokens: list[OcrToken]) -> bool:
    """Most Chinese characters came out alone or in pairs: the page is probably not upright."""
    total = sum(_cjk(t.text) for t in tokens)
    return total >= 20 and sum(_cjk(t.text) for t in tokens if _cjk(t.text) >= 3) < 0.5 * total


def _turns_to_try(image: np.ndarray, tokens: list[OcrToken], options: OcrOptions) -> tuple[int, ...]:
    """Which turns (clockwise, from the page as read) may read better, most likely first.

    On its side a page reads as scattered pieces: most of its glyphs lie outside every text read
    (`unread_glyph_share`), or its boxes stand upright. Upside down it reads as many short, unsure
    pieces of Chinese (`_reads_poorly`) over most of its glyphs. (Deciding from the pixels alone was
    dropped: the digit columns of a dense table line up like text turned by 90°.)"""
    from extraction.ocr.prep import unread_glyph_share

    if (
        _mostly_vertical(tokens)
        or unread_glyph_share(image, [t.bbox for t in tokens]) > options.page.orientation_unread_share
    ):
        return (90, 270)
    if _reads_poorly(tokens) or _unsure(tokens):
        return (180,)
    return ()


UNSURE_CONFIDENCE = 0.85  # median confidence of a page's words below which it may be upside down


def _unsure(tokens: list[OcrToken]) -> bool:
    """The page's Chinese words (3+ characters) were read with low confidence: upside down, the
    recogniser still reads strings of characters, but unsure ones."""
    scores = [t.confidence for t in tokens if _cjk(t.text) >= 3]
    return len(scores) >= 3 and float(np.median(scores)) < UNSURE_CONFIDENCE


def _read_turned(
    engine: OcrEngine,
    prepared: PreparedPage,
    tokens: list[OcrToken],
    turns: tuple[int, ...],
    text_height: float,
    page: int,
    options: OcrOptions,
    deadline: float | None,
) -> tuple[list[OcrToken], int]:
    """Read the page turned by each of `turns` and keep the reading with the most confident Chinese
    in words (`_reading_quality`); a turn wins only by `options.orientation_margin` over the page as
    first read. (Every turn is read: the wrong side of a page on its side reads a little Chinese
    too, so no early stop is safe.) Leaves `prepared` turned to the winner; returns its tokens and
    how many turned readings ran."""
    from extraction.pages.geometry import erase_lines

    first = _reading_quality(tokens)
    best, best_quality, best_at, at, tries = tokens, first, 0, 0, 0
    for turn in turns:
        OcrEngine.check_deadline(deadline)
        prepared.turn((turn - at) % 360)
        at = turn
        candidate = engine(erase_lines(prepared.image, text_height), page, deadline=deadline)
        tries += 1
        quality = _reading_quality(candidate)
        if quality >= options.page.orientation_margin * max(first, 1.0) and quality > best_quality:
            best, best_quality, best_at = candidate, quality, turn
    prepared.turn((best_at - at) % 360)  # to the best reading's orientation
    return best, tries


def _mostly_vertical(tokens: list[OcrToken]) -> bool:
    tall = sum(1 for t in tokens if (t.bbox[3] - t.bbox[1]) > 2.5 * (t.bbox[2] - t.bbox[0]))
    wide = sum(1 for t in tokens if (t.bbox[2] - t.bbox[0]) > 2.5 * (t.bbox[3] - t.bbox[1]))
    return tall >= 5 and tall > 2 * wide


def _maybe_upside_down(engine, prepared, tokens: list[OcrToken]) -> bool:
    """Ask the angle classifier only when the reading looks poor (cheap on upright pages)."""
    scores = [t.confidence for t in tokens if len(t.text) >= 4]
    if scores and float(np.median(scores)) > 0.85:
        return False
    boxes = np.array([t.quad for t in tokens], np.float32)
    return bool(engine.upside_down(prepared.image, boxes))


def _bbox_mapper(prepared):
    def mapper(box):
        return prepared.bbox_to_original(box)

    return mapper


def page_failure(exc: Exception, timeout_s: float, clock: DocumentClock | None = None) -> str:
    """`PageInfo.error` for a page that failed: the document goes on without it."""
    if isinstance(exc, OcrTimeout):
        if clock is not None and clock.expired():
            return clock.failure()
        return f"{TimeLimitExceeded.code}: the page took longer than {timeout_s:g} s"
    if isinstance(exc, GongkaiError):
        return f"{exc.code}: {exc.message}"
    return f"page_error: {type(exc).__name__}: {exc}"


class DocumentClock:
    """The document's time budget (`IngestOptions.max_document_seconds`), started when its backend
    starts. A page's deadline is its own limit or the end of the budget, whichever comes first."""

    def __init__(self, options: IngestOptions) -> None:
        self.limit = options.max_document_seconds
        self.end = time.monotonic() + self.limit

    def page_deadline(self, page_timeout_s: float) -> float:
        return min(time.monotonic() + page_timeout_s, self.end)

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def failure(self) -> str:
        return (
            f"{TimeLimitExceeded.code}: the document's time budget ({self.limit:g} s) ran out before this page was read"
        )


_PAGE_ERRORS = {cls.code: cls for cls in (InputTooLarge, TimeLimitExceeded, EncryptedInput)}


def all_pages_failed(pages: list[PageInfo], what: str) -> GongkaiError:
    """The error for a document none of whose pages could be read: the pages' own kind of error
    when they all failed the same way (too large, out of time), else CorruptInput."""
    errors = [p.error or "" for p in pages]
    codes = {e.split(":", 1)[0] for e in errors}
    first = errors[0] if errors else ""
    detail = {"pages": {p.number: p.error for p in pages[:20]}}
    if len(codes) == 1 and (cls := _PAGE_ERRORS.get(next(iter(codes)))) is not None:
        return cls(f"no page of the {what} could be read ({first.split(': ', 1)[-1]})", detail=detail)
    return CorruptInput(f"no page of the {what} could be read (page 1: {first})", detail=detail)


class PageQueue:
    """The pages of a document in printing order, with the OCR of up to `depth` of them running at once.

    A page's OCR keeps both cores busy only part of the time (its image preparation, geometry and
    text decoding are single-threaded), so the next page is loaded and its OCR started while the
    previous one finishes. Results are taken in page order: the document's lines, the failures and
    the progress reports come out exactly as when the pages are read one by one (`depth` 1, no
    thread). At most `depth` page images are in memory.
    """

    def __init__(self, state: DocumentState, opts: OcrOptions, clock: DocumentClock) -> None:
        self.state, self.opts, self.clock = state, opts, clock
        self.depth = max(1, opts.schedule.pages_in_flight)
        self.unavailable: OcrUnavailable | None = None
        self.ocr_pages: list[int] = []
        self._entries: list[tuple[PageInfo, object]] = []  # (page, lines | Future | None for failed)
        self._pool: ThreadPoolExecutor | None = None

    def begin(self, number: int) -> tuple[PageInfo, float] | None:
        """Page `number` joins the document: its record and deadline, or None when the document's
        time budget has run out (the page is recorded as failed)."""
        info = PageInfo(number)
        self.state.pages.append(info)
        if self.clock.expired():
            info.error = self.clock.failure()
            self.add_failed(info)
            return None
        return info, self.clock.page_deadline(self.opts.limits.page_timeout_s)

    def add_lines(self, info: PageInfo, lines: list[Line]) -> None:
        self._entries.append((info, lines))
        self._drain(self.depth)

    def add_failed(self, info: PageInfo, exc: Exception | None = None) -> None:
        if exc is not None:
            self._fail(info, exc)
        self._entries.append((info, None))
        self._drain(self.depth)

    def add_ocr(
        self, info: PageInfo, image: np.ndarray, engine: OcrEngine, deadline: float, stretch: float = 1.0
    ) -> None:
        cached = cached_page(info.number)  # a page read by an earlier run of the same job
        if cached is not None:
            self._entries.append((info, cached))
            self.ocr_pages.append(info.number)
            self._drain(self.depth)
            return
        if self.depth == 1:
            try:
                lines = ocr_page(image, info.number, self.opts, engine, deadline, stretch)
                store_page(info.number, lines)
                self._entries.append((info, lines))
                self.ocr_pages.append(info.number)
            except Exception as exc:  # one bad page must not sink the document
                self._fail(info, exc)
                self._entries.append((info, None))
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.depth, thread_name_prefix="gongkai-page")
            future = self._pool.submit(ocr_page, image, info.number, self.opts, engine, deadline, stretch)
            self._entries.append((info, future))
        self._drain(self.depth)

    def finish(self) -> None:
        """Wait for every page still being read (also when the caller failed: no thread outlives it)."""
        try:
            self._drain(1)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _fail(self, info: PageInfo, exc: Exception) -> None:
        if isinstance(exc, OcrUnavailable):
            self.unavailable = exc
        info.error = page_failure(exc, self.opts.limits.page_timeout_s, self.clock)

    def _drain(self, room: int) -> None:
        """Take finished pages off the front; wait for the oldest while `room` or more are queued."""
        from concurrent.futures import Future

        while self._entries:
            info, item = self._entries[0]
            if isinstance(item, Future):
                if not item.done() and len(self._entries) < room:
                    return
                try:
                    item = item.result()
                    store_page(info.number, item)
                    self.ocr_pages.append(info.number)
                except Exception as exc:  # one bad page must not sink the document
                    self._fail(info, exc)
                    item = None
            self._entries.pop(0)
            if item is not None:
                self.state.lines.extend(item)  # type: ignore[arg-type]
            report_page(info.number)


# ---------------------------------------------------------------------------------------------
# Pending pages (`extraction.document.PendingPages`): the work of the OCR and page-reading stages.
# Ingest opens a PDF or image and leaves its pages pending; the OCR stage (`read_pending`) walks
# them in printing order through a `PageQueue`: a text-layer page's lines pass through, a page
# image goes to the OCR engine, up to `OcrOptions.pages_in_flight` at once, with its table geometry
# read while the image is in memory (it is not kept). The page-reading stage (`finish_pending`)
# then works on the whole document: repeated page headers dropped, the input kind's summary (kind,
# warnings, the error when no page could be read).


def read_pending(state: DocumentState, options: IngestOptions) -> PagesRead:
    """Read the pending pages in printing order; OCR where a page needs it. Returns (and records on
    the state) which pages OCR read; the engine's name@version goes to `state.ocr`."""
    pending = state.pending
    read = PagesRead()
    if pending is None:
        return read
    opts = ocr_options(options)
    clock = getattr(pending, "clock", None) or DocumentClock(options)  # started when the input was opened
    queue = PageQueue(state, opts, clock)
    engine: OcrEngine | None = None
    try:
        for item in pending.pages(queue.begin):
            if item.error is not None:
                queue.add_failed(item.info, item.error)
            elif item.image is not None:
                if engine is None:
                    try:
                        engine = load_engine(opts)
                    except Exception as exc:  # one bad page must not sink the document
                        queue.add_failed(item.info, exc)
                        del item  # (its image: one page in memory while the next one is rendered)
                        continue
                    state.ocr = engine.label if isinstance(engine, OcrEngine) else type(engine).__name__
                queue.add_ocr(item.info, item.image, engine, item.deadline, item.stretch)
                del item
            else:
                queue.add_lines(item.info, item.lines or [])
    finally:
        queue.finish()
    read.ocr_pages, read.unavailable = queue.ocr_pages, queue.unavailable
    state.pages_read = read
    return read


def finish_pending(state: DocumentState) -> None:
    """Page reading over the whole document once its pages are read: repeated page headers
    dropped, then the input kind's summary (see the module doc)."""
    from extraction.pages.geometry import drop_repeated_headers

    pending = state.pending
    if pending is None:
        return
    state.lines = drop_repeated_headers(state.lines)
    read = state.pages_read or PagesRead()
    state.pending = state.pages_read = None
    pending.finish(state, read)


def read_all(state: DocumentState, options: IngestOptions) -> DocumentState:
    """OCR and page reading in one call, for the pending pages of a state that a backend opened
    (`finish_lines` is the caller's: `Ingestor` runs it). What a backend's `__call__` returns."""
    if state.pending is not None:
        read_pending(state, options)
        finish_pending(state)
    return state


class ImagePages:
    """Pages given as (page number, loader) pairs, in printing order: `loader()` returns the page
    image (or raises), or (image, stretch) for an image whose pixels are not square (`read_page`)."""

    def __init__(
        self, pages: Iterable[tuple[int, Callable[[], Any]]], options: IngestOptions, unit: str = "px"
    ) -> None:
        self.source, self.unit = pages, unit
        self.clock = DocumentClock(options)
        self.what = "image"

    def pages(self, begin: PageBegin) -> Iterator[PageItem]:
        for number, loader in self.source:
            started = begin(number)
            if started is None:
                continue
            info, deadline = started
            try:
                loaded = loader()
                image, stretch = loaded if isinstance(loaded, tuple) else (loaded, 1.0)
                info.height, info.width = float(image.shape[0]), float(image.shape[1])
                info.unit = self.unit  # type: ignore[assignment]
            except Exception as exc:  # one bad page must not sink the document
                yield PageItem(info, deadline, error=exc)
                continue
            yield PageItem(info, deadline, image=image, stretch=stretch)
            del image, loaded

    def finish(self, state: DocumentState, read: PagesRead) -> None:
        if read.unavailable is not None and all(p.error for p in state.pages):
            raise read.unavailable
        if state.pages and all(p.error for p in state.pages):
            raise all_pages_failed(state.pages, self.what)
        failed = [p.number for p in state.pages if p.error]
        if failed:
            state.warnings.append(f"pages that could not be read: {', '.join(map(str, failed))}")


def read_pages(state: DocumentState, pages, options: IngestOptions, unit: str = "px") -> None:
    """Run `ocr_page` over (page number, loader) pairs (`ImagePages`), at most `ocr.pages_in_flight`
    page images in memory at a time (`PageQueue`), recording failures per page."""
    state.pending = ImagePages(pages, options, unit)
    try:
        read = read_pending(state, options)
    finally:
        state.pending = state.pages_read = None
    if read.unavailable is not None and all(p.error for p in state.pages):
        raise read.unavailable


class ImageBackend(IngestBackend):
    kind = "image"

    def __call__(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        return read_all(self.open(data, name, options), options)

    def open(self, data: bytes, name: str, options: IngestOptions) -> DocumentState:
        """The image checked (size, frames) from its header; its frames are left pending."""
        from PIL import Image, ImageOps, UnidentifiedImageError

        max_pixels = options.max_page_pixels()
        state = self.new_state(data, name, "image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data))
                frames = getattr(im, "n_frames", 1) or 1
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputTooLarge(f"the image is a pixel bomb: {exc}") from None
        except UnidentifiedImageError:
            raise CorruptInput("the image cannot be decoded (unknown or damaged image data)") from None
        except ValueError as exc:  # e.g. a text chunk past Pillow's MAX_TEXT_CHUNK (a decompression bomb)
            if "too large" in str(exc).lower():
                raise InputTooLarge(f"the image holds a decompression bomb: {exc}") from None
            raise CorruptInput(f"the image cannot be decoded: {exc}") from None
        except Exception as exc:  # OSError, SyntaxError, struct.error, EOFError… from a damaged header
            raise CorruptInput(f"the image cannot be decoded: {type(exc).__name__}: {exc}") from None
        if frames > options.max_pages:
            raise InputTooLarge(
                f"the image has {frames} frames; the limit is {options.max_pages}",
                detail={"pages": frames, "limit": options.max_pages},
            )
        w, h = im.size
        if w * h > max_pixels:
            raise InputTooLarge(
                f"the image is {w}×{h} pixels; the limit is {max_pixels:,} pixels per page (pixel bomb?)",
                detail={"pixels": w * h, "limit": max_pixels},
            )
        if w < 16 or h < 16:
            raise CorruptInput(f"the image is only {w}×{h} pixels: no page to read")

        def loader(index: int):
            def load() -> tuple[np.ndarray, float]:
                try:
                    im.seek(index)
                    fw, fh = im.size
                    if fw * fh > max_pixels:
                        raise InputTooLarge(f"frame {index + 1} is {fw}×{fh} pixels (pixel bomb?)")
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", Image.DecompressionBombWarning)
                        frame = ImageOps.exif_transpose(im) if index == 0 else im.copy()
                    if frame.mode not in ("L", "RGB"):
                        if frame.mode in ("RGBA", "LA", "P", "PA"):
                            frame = frame.convert("RGBA")
                            background = Image.new("RGBA", frame.size, (255, 255, 255, 255))
                            frame = Image.alpha_composite(background, frame).convert("RGB")
                        elif frame.mode in ("1", "I", "I;16", "F"):
                            frame = frame.convert("L")
                        else:  # CMYK, YCbCr, LAB, HSV
                            frame = frame.convert("RGB")
                    return np.asarray(frame), pixel_stretch(im.info.get("dpi"))
                except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                    raise InputTooLarge(f"frame {index + 1} is a pixel bomb: {exc}") from None
                except ValueError as exc:
                    if "too large" in str(exc).lower():
                        raise InputTooLarge(f"frame {index + 1} holds a decompression bomb: {exc}") from None
                    raise CorruptInput(f"frame {index + 1} cannot be decoded: {exc}") from None
                except (OSError, SyntaxError, EOFError) as exc:
                    raise CorruptInput(f"frame {index + 1} cannot be decoded: {exc}") from None

            return load

        state.pending = ImagePages(((i + 1, loader(i)) for i in range(frames)), options, unit="px")
        return state
