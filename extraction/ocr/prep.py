"""Page preparation for OCR only: colour, deskew, orientation, denoise, contrast.

`prepare(image, options)` returns a `PreparedPage`: the upright, deskewed page image the OCR
engine reads, and the affine map from its pixels back to the original page image, so every box
found on the prepared page is reported in the original image's pixel coordinates.

- Colour: a page with red ink (official seals, red headings) is read in its red channel, where a
  seal stamped over a figure fades instead of hiding it (`drop_red`); other pages in luminance.
- Skew: the angle (within ±max_skew_deg) that makes the row profile of glyph bottoms sharpest
  (glyph-sized connected components of a locally binarised, downscaled page: specks, seals, pictures
  and ruling lines drop out by size), searched coarse-to-fine; ±3° is found to within ~0.05°. A page
  of drawings falls back to the profile of all ink.
- Quarter turns (90/270°): glyph centres of vertical text line up along x far more sharply than
  along y. Conservative (tables line up both ways); the reader adds a second check (text boxes
  standing upright, `extraction.ingest.image.ocr_page`). Upside-down pages (180°) need the reader
  too: `PreparedPage.turn(180)` when the angle classifier says so (`RapidOcrEngine.upside_down`).
- Denoise (median 3×3) and contrast stretch (1st-99th percentile) help the detector find lone
  digits on noisy, faded scans; binarisation is optional and off by default.

Only OpenCV (opencv-python-headless) and numpy are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from extraction.document import BBox
from extraction.ocr.base import OcrOptions
from extraction.ocr.dewarp import DewarpReport, Warp

ANALYSIS_SIDE = 1200  # longer side of the downscaled page used to estimate orientation and skew


def _identity() -> np.ndarray:
    return np.array([[1, 0, 0], [0, 1, 0]], np.float64)


@dataclass
class PreparedPage:
    """The page the OCR engine reads, and the way back to the original image's pixels: a prepared
    pixel goes through `matrix` (turns, deskew), then `warp` (a photographed page's perspective and
    curl undone, `extraction.ocr.dewarp`; None for a flat page), then `outer` (the resampling
    before preparation, `rescale`)."""

    image: np.ndarray  # upright, deskewed page (uint8, gray or RGB)
    matrix: np.ndarray  # 2×3 affine: prepared-image pixel → flattened-page pixel (original when no warp)
    angle: float = 0.0  # the page was turned by this many degrees counter-clockwise to straighten it
    quarter: int = 0  # quarter turns (clockwise) applied to make the page upright
    original_size: tuple[int, int] = (0, 0)  # (width, height) of the original image
    warp: Warp | None = None  # flattened-page pixel → photo pixel (a non-affine map), if any
    outer: np.ndarray = field(default_factory=_identity)  # 2×3 affine applied last
    contrast_gain: float = 1.0  # how much `stretch_contrast` multiplied the page's grey differences

    def to_original(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        pts = pts @ self.matrix[:, :2].T + self.matrix[:, 2]
        if self.warp is not None:
            pts = self.warp.points(pts)
        return pts @ self.outer[:, :2].T + self.outer[:, 2]

    def rescale(self, sx: float, sy: float) -> None:
        """The page was prepared from the original image resampled by (sx, sy): map back to it."""
        self.outer = self.outer / np.array([[sx], [sy]])

    def bbox_to_original(self, bbox: BBox) -> BBox:
        x0, y0, x1, y1 = bbox
        if self.warp is None:
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        else:  # a curved map: points along the edges too
            t = np.linspace(0.0, 1.0, 5)
            xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            corners = np.concatenate(
                [
                    np.stack([xs, np.full(5, y0)], 1),
                    np.stack([xs, np.full(5, y1)], 1),
                    np.stack([np.full(5, x0), ys], 1),
                    np.stack([np.full(5, x1), ys], 1),
                ]
            )
        pts = self.to_original(corners)
        w, h = self.original_size
        return (
            float(np.clip(pts[:, 0].min(), 0, w)),
            float(np.clip(pts[:, 1].min(), 0, h)),
            float(np.clip(pts[:, 0].max(), 0, w)),
            float(np.clip(pts[:, 1].max(), 0, h)),
        )

    def turn(self, degrees: int) -> None:
        """Turn the prepared image further by 90/180/270° clockwise (keeps the map to the original)."""
        k = (degrees // 90) % 4
        if not k:
            return
        h, w = self.image.shape[:2]
        self.image = np.ascontiguousarray(np.rot90(self.image, -k))
        # new pixel (x, y) → old pixel, for a clockwise turn by k quarters
        back = {1: [[0, 1, 0], [-1, 0, h - 1]], 2: [[-1, 0, w - 1], [0, -1, h - 1]], 3: [[0, -1, w - 1], [1, 0, 0]]}
        m = np.array(back[k], np.float64)
        self.matrix = _compose(self.matrix, m)
        self.quarter = (self.quarter + k) % 4


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for 2×3 affine maps."""
    a = np.vstack([outer, [0, 0, 1]])
    b = np.vstack([inner, [0, 0, 1]])
    return (a @ b)[:2]


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _ink(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Binary ink mask of a downscaled copy of the page, and the downscale factor."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:  # light text on a dark page, or a failed threshold: invert
        ink = 1 - ink
    return ink, scale


def _sharpness(xs: np.ndarray, ys: np.ndarray, angle: float, size: int) -> float:
    """Sum of squared row counts of the ink rotated by `angle` degrees."""
    t = math.radians(angle)
    rows = (ys * math.cos(t) - xs * math.sin(t)).astype(np.int64)
    rows -= rows.min()
    counts = np.bincount(rows, minlength=1)
    return float(np.dot(counts, counts))


def _glyph_points(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bottom-centre points of glyph-sized connected components of a downscaled, locally
    binarised page: specks, stamps, pictures and ruling lines drop out by size."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    bw = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    _n, _labels, stats, _c = cv2.connectedComponentsWithStats(bw, connectivity=8)
    ww, hh, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    keep = (area >= 6) & (hh >= 3) & (hh <= 40) & (ww <= 60)
    xs = (stats[1:, 0] + ww / 2.0)[keep].astype(np.float64)
    ys = (stats[1:, 1] + hh)[keep].astype(np.float64)
    return xs, ys


def unread_glyph_share(gray: np.ndarray, boxes: list[BBox]) -> float:
    """The share of the page's glyph-sized ink components (`_glyph_points`) lying outside every box
    (OCR text boxes, page pixels). A page read upright leaves a few lone specks; one on its side,
    where the detector and recogniser find only scattered pieces, leaves most of its text."""
    xs, ys = _glyph_points(gray)
    if not len(xs):
        return 0.0
    h, w = gray.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(h, w))
    xs, ys = xs / scale, ys / scale  # glyph bottom centres, page pixels
    inside = np.zeros(len(xs), bool)
    for x0, y0, x1, y1 in boxes:
        pad = 0.25 * (y1 - y0)
        inside |= (xs >= x0) & (xs <= x1) & (ys >= y0 - pad) & (ys <= y1 + pad)
    return float(1.0 - inside.mean())


GLYPH_INK_OFFSET = 15  # a glyph's pixel lies this many grey levels below its neighbourhood's mean


def glyph_height(gray: np.ndarray, gain: float = 1.0) -> float:
    """The height of a line of text in pixels (the 80th percentile of glyph-sized components).

    `gain`: how much the page's grey differences were stretched (`PreparedPage.contrast_gain`): the
    ink offset is the page's own, measured as it came. A fixed offset on a stretched page lets the
    paper's grain through as glyph-sized specks (a phone photo with faint ink and shaded header
    rows, stretched 2x: hundreds of 3-5 px specks put the 80th percentile at 8.6 px for 19 px
    text, and the line eraser, scaled by it, cut every glyph apart: seed 7373 group_label_rows,
    the whole of table 二 lost)."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    offset = GLYPH_INK_OFFSET * max(1.0, gain)
    bw = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, offset)
    _n, _l, stats, _c = cv2.connectedComponentsWithStats(bw, connectivity=8)
    hh, ww, area = stats[1:, 3], stats[1:, 2], stats[1:, 4]
    keep = (area >= 6) & (hh >= 3) & (hh <= 40) & (ww <= 60)
    if keep.sum() < 20:
        return max(8.0, min(h, w) / 80)
    return float(np.percentile(hh[keep], 80)) / scale


def _search(xs: np.ndarray, ys: np.ndarray, max_deg: float) -> tuple[float, float, float]:
    """(best angle, its sharpness, sharpness at 0°) of the points' row profile."""
    xs = xs - xs.mean()
    base = best_score = _sharpness(xs, ys, 0.0, 0)
    best = 0.0
    step = 0.2
    for a in np.arange(-max_deg, max_deg + 1e-9, step):
        s = _sharpness(xs, ys, float(a), 0)
        if s > best_score:
            best, best_score = float(a), s
    for fine in (0.05, 0.01):
        for a in np.arange(best - step, best + step + 1e-9, fine):
            s = _sharpness(xs, ys, float(a), 0)
            if s > best_score:
                best, best_score = float(a), s
        step = fine
    return best, best_score, base


def estimate_skew(gray: np.ndarray, max_deg: float = 5.0) -> float:
    """The counter-clockwise turn (degrees) that straightens the page's lines; 0 when unsure.
    (Content printed turned clockwise by 2° gives +2.)

    The row profile of glyph bottoms is sharpest when the text lines are level; with too few
    glyphs (a page of drawings) the ink pixels themselves are used."""
    xs, ys = _glyph_points(gray)
    if len(xs) < 30:
        ink, _scale = _ink(gray)
        ys, xs = np.nonzero(ink)
        if len(xs) < 200:
            return 0.0
        if len(xs) > 400_000:
            pick = np.random.default_rng(0).choice(len(xs), 400_000, replace=False)
            xs, ys = xs[pick], ys[pick]
        xs, ys = xs.astype(np.float64), ys.astype(np.float64)
    best, best_score, base = _search(xs, ys, max_deg)
    if best_score < base * 1.02:  # no clear improvement over upright: leave the page alone
        return 0.0
    return best


def rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by `angle` degrees counter-clockwise about its centre (same size, white
    fill), and the 2×3 map from the rotated image's pixels back to the input's."""
    import cv2

    h, w = image.shape[:2]
    centre = (w / 2.0, h / 2.0)
    fwd = cv2.getRotationMatrix2D(centre, angle, 1.0)
    fill = 255 if image.ndim == 2 else (255,) * image.shape[2]
    out = cv2.warpAffine(image, fwd, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    back = cv2.invertAffineTransform(fwd)
    return out, back


def percentiles(image: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.percentile (linear interpolation) of an image's pixels; for 8-bit pixels from their
    histogram, the same values without sorting a million pixels (this runs several times a page)."""
    if image.dtype != np.uint8:
        return [float(v) for v in np.percentile(image, qs)]
    counts = np.cumsum(np.bincount(image.ravel(), minlength=256))
    n = int(counts[-1])
    out = []
    for q in qs:
        h = (n - 1) * q / 100.0
        k = int(np.floor(h))
        lo = int(np.searchsorted(counts, k, side="right"))  # the k-th smallest pixel (0-based)
        hi = int(np.searchsorted(counts, min(k + 1, n - 1), side="right"))
        out.append(lo + (h - k) * (hi - lo))
    return out


def paper_and_ink(gray: np.ndarray, ink_percentile: float = 0.1) -> tuple[float, float]:
    """The paper's grey level (90th percentile) and the ink's (a low percentile) of a page, from a
    fine sample: a sparse page (one short table row of thin figures) has far less than 1 % ink,
    so a coarse sample or a 1st percentile lands in the paper's noise."""
    step = max(1, min(gray.shape[:2]) // 800)
    paper, ink = percentiles(gray[::step, ::step], (90, ink_percentile))
    return float(paper), float(ink)


MAX_STRETCH_GAIN = 2.5


def contrast_gain(image: np.ndarray) -> tuple[float, float]:
    """(gain, paper level) of `stretch_contrast` for a page: gain 1.0 where it leaves the page alone."""
    step = max(1, min(image.shape[:2]) // 800)
    lo, hi = percentiles(image[::step, ::step], (0.1, 99))
    if hi - lo < 8 or (lo < 8 and hi > 247):
        return 1.0, hi
    return min(MAX_STRETCH_GAIN, 255.0 / (hi - lo)), hi  # paper (hi) → white, ink towards black


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """Map a faded scan's ink and paper levels (grey ink on grey paper) towards black and white.

    The ink level is a low percentile (0.1 %) of a fine sample: a sparse page (a short table in
    thin strokes) has far less than 1 % ink, and a 1st percentile would fall in the paper's noise
    and blow it up into grain. The gain is capped for the same reason."""
    gain, hi = contrast_gain(image)
    if gain == 1.0:
        return image
    lut = np.clip(255.0 - (hi - np.arange(256, dtype=np.float32)) * gain, 0, 255).astype(np.uint8)
    return lut[image]


def split_seal(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A colour page as grey, and where red seal ink lies (None when the page carries none).

    With red ink on the page (official seals, red headings) the grey is the red channel, so a seal
    stamped over a figure fades instead of hiding it; seal ink is still light grey there (~190-215
    on 240 paper) and reads as strokes over the figures, so clearly red, light pixels are lifted to
    the paper's level. A figure printed under the seal stays dark (its red channel is low) and is
    kept. Other pages: plain luminance. Input RGB (or grey, returned as is)."""
    if image.ndim == 2:
        return image, None
    rgb = image[:, :, :3]
    step = max(1, rgb.shape[0] // 500)
    sample = rgb[::step, ::step].astype(np.int16)
    red = (sample[:, :, 0] - np.maximum(sample[:, :, 1], sample[:, :, 2])) > 60
    if red.mean() <= 0.0005:
        return to_gray(rgb), None
    out = np.ascontiguousarray(rgb[:, :, 0])
    r = rgb[:, :, 0].astype(np.int16)
    seal = ((r - np.maximum(rgb[:, :, 1], rgb[:, :, 2])) > 30) & (r > 150)
    if seal.any():
        out[seal] = np.uint8(np.percentile(sample[:, :, 0], 90))
    return out, seal


def drop_red(image: np.ndarray) -> np.ndarray:
    """`split_seal`'s grey page."""
    return split_seal(image)[0]


def _deskew(page: PreparedPage, max_deg: float) -> None:
    angle = estimate_skew(page.image, max_deg)
    if abs(angle) >= 0.08:
        rotated, back = rotate(page.image, angle)
        page.image = rotated
        page.matrix = _compose(page.matrix, back)
        page.angle += angle


# light is evened out only on a page seen on a desk (a photo): a scan's mild gradient is left as the
# benches measured it (on moderate scans 4 pages of 29 would change)
SHADOW_NEEDS_PAGE = True


def flatten_photo(page: PreparedPage) -> DewarpReport:
    """A photographed page's perspective and curl undone and its shadow lifted
    (`extraction.ocr.dewarp`); a page not seen on a desk (a scan, a fax, a render) is left exactly
    as it is. Runs before any other step (the page's `matrix` is still the identity)."""
    from extraction.ocr.dewarp import dewarp, flatten_illumination

    warp, report = dewarp(page.image)
    if warp is not None:
        page.image = warp.apply(page.image)
        page.warp = warp
    if report.page or not SHADOW_NEEDS_PAGE:
        page.image = flatten_illumination(page.image)
    return report


def prepare(image: np.ndarray, options: OcrOptions | None = None) -> PreparedPage:
    """Orientation (quarter turns), deskew, denoise/binarise for OCR; see the module doc."""
    import cv2

    options = options or OcrOptions()
    h, w = image.shape[:2]
    page = PreparedPage(image, np.array([[1, 0, 0], [0, 1, 0]], np.float64), original_size=(w, h))
    if image.ndim == 3:
        image = drop_red(image)
        page.image = image
    if options.page.flatten_photos:
        flatten_photo(page)
    if options.page.deskew and options.page.max_skew_deg > 0:
        _deskew(page, options.page.max_skew_deg)
    if options.page.denoise:
        page.image = cv2.medianBlur(page.image, 3)
    if options.page.normalize_contrast:
        page.contrast_gain = contrast_gain(page.image)[0]
        page.image = stretch_contrast(page.image)
    if options.page.binarize:
        g = to_gray(page.image)
        page.image = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 15)
    return page
