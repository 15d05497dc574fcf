"""Photographed pages flattened before OCR: the page's quadrilateral (keystone), page curl, shadow.

`dewarp(gray)` returns a `Warp` (or None when nothing is confidently found): the map from every
pixel of the flattened page back to the photo's pixel, kept on a coarse grid, applied with one
`cv2.remap` and used to report every box found on the flattened page in the photo's pixels.

- **Page quadrilateral.** A photographed page lies on a darker desk. On a downscaled copy each
  side of the frame is scanned inward for the step up from desk to paper (a cast shadow's soft edge
  is no step; on a page that fills the frame, text is met first, a step down); a line is fitted
  through each side's points by RANSAC (a curled corner bends the ends), the corners are where the
  lines cross, and a homography maps the page onto an upright rectangle (the desk is cropped
  away). Used only when all four sides are found along most of their length, the corners are near
  square, the page fills a plausible share of the frame and the paper is clearly brighter than the
  desk along the outline (`PAGE_*`). A scan or a render whose page fills the image has no desk:
  nothing is done.
- **Curl and leftover perspective.** Text lines, horizontal rules and vertical rules of the
  (rectified) page should be straight. Their centre lines are sampled, and a smooth displacement
  field (piecewise-linear in x and y, penalised for roughness) is fitted to them by least squares,
  each line free in its own offset; samples far off the fit are dropped and the fit repeated. The
  field's rigid part (tilt: the deskew's job) is left out. It is used only when its non-rigid part
  moves some line by at least `CURL_MIN_TEXT_HEIGHTS` text heights and the fit explains the lines'
  bends (`CURL_MIN_EXPLAINED`), from enough lines (`CURL_MIN_LINES`). A page not seen on a desk
  (a scan, a fax, a render; or a photo cropped to the page) is not looked at for curl unless
  `CURL_NEEDS_PAGE` is turned off, and then on higher bars (`*_NO_PAGE`). A flat page: nothing is
  done.
- **Shadow and uneven light** (`flatten_illumination`): the paper's brightness is estimated on a
  coarse scale (grey closing removes the text, a wide median removes shaded cells), and the page
  is divided by it when it varies by more than `SHADOW_MIN_RANGE` grey levels.

Only OpenCV (opencv-python-headless) and numpy. No learned model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEWARP_ANALYSIS_SIDE = 1200  # longer side of the downscaled copy the page and its lines are found on
GRID_STEP = 8  # full-resolution pixels between the nodes of a Warp's coarse map

# page quadrilateral
PAGE_MIN_EDGE_STEP = 20  # grey levels across 4 analysed pixels: a desk→paper step (a shadow's edge is softer)
PAGE_MAX_MARGIN = 0.3  # the page's edge is looked for within this share of the frame from each side
PAGE_EDGE_TOL_PX = 2.0  # an edge point within this many analysed pixels of a side's line is on it…
PAGE_MIN_EDGE_SHARE = 0.5  # …and at least this share of a side's scan lines must be
PAGE_RANSAC_TRIES = 200  # random pairs of edge points tried per side
PAGE_MIN_CONTRAST = 30  # the paper just inside the outline is this many grey levels brighter than the desk
PAGE_MIN_AREA_SHARE = 0.3  # the page covers at least this share of the photo…
PAGE_MAX_AREA_SHARE = 0.97  # …and at most this: more, and no desk shows (a scan, a render)
PAGE_MIN_CORNER_DEG = 70.0  # every corner of the quadrilateral is at least this square…
PAGE_MAX_CORNER_DEG = 110.0  # …and at most this

# curl / line straightening
CURL_MIN_TEXT_HEIGHTS = 0.3  # the field must move some line by this many text heights to be used…
CURL_MIN_EXPLAINED = 0.3  # …and explain this share of what a tilt leaves of the lines' bends (squared)
CURL_NEEDS_PAGE = True  # curl is looked for only on a page seen on a desk (a photo): scans cost nothing
CURL_MIN_EXPLAINED_NO_PAGE = 0.75  # on a page not seen on a desk (a scan, a fax), stricter…
CURL_MIN_TEXT_HEIGHTS_NO_PAGE = 0.3  # …on both counts
CURL_MIN_LINES = 8  # lines needed for a field
CURL_KNOTS = (9, 5)  # knots of the piecewise-linear field along the page's width and height
CURL_SMOOTH = 0.1  # roughness penalty (second differences between knots), per sample
CURL_RIDGE = 0.01  # small pull of every knot to 0 (fixes what no line constrains)
CURL_OUTLIER_PX = 3.0  # samples this many robust sigmas off the first fit are dropped…
CURL_MIN_LINE_FIT = 0.8  # …and whole lines with fewer than this share of their samples left
CURL_MAX_SHIFT_TEXT_HEIGHTS = 3.0  # a field moving lines further than this is a misfit: not used

# shadow / uneven illumination
SHADOW_MIN_RANGE = 24  # the paper's brightness must vary by this many grey levels to be flattened
SHADOW_ANALYSIS_SIDE = 400  # the paper's brightness is estimated on a copy this long
SHADOW_PAPER_PERCENTILE = 95  # the flattened paper takes the brightness of its lit part


@dataclass
class Warp:
    """A map from output pixels (the flattened page) to source pixels (the photo), sampled on a
    coarse grid laid out like `cv2.resize`'s pixel centres, so that resizing the grid to the
    output's size interpolates it exactly (the outer half step is held constant)."""

    map_x: np.ndarray  # (gh, gw) float32: source x at each node
    map_y: np.ndarray
    size: tuple[int, int]  # output (width, height)

    @staticmethod
    def node_positions(size: tuple[int, int], step: float = GRID_STEP) -> tuple[np.ndarray, np.ndarray]:
        """Output pixel coordinates (x of each column, y of each row) of the grid's nodes."""
        w, h = size
        gw, gh = max(2, math.ceil(w / step)), max(2, math.ceil(h / step))
        return (np.arange(gw) + 0.5) * (w / gw) - 0.5, (np.arange(gh) + 0.5) * (h / gh) - 0.5

    def points(self, pts: np.ndarray) -> np.ndarray:
        """Output pixels (n × 2) → source pixels (bilinear on the grid, as `apply` samples it)."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        gh, gw = self.map_x.shape
        w, h = self.size
        u = np.clip((pts[:, 0] + 0.5) * gw / w - 0.5, 0, gw - 1)
        v = np.clip((pts[:, 1] + 0.5) * gh / h - 0.5, 0, gh - 1)
        i0, j0 = np.minimum(v.astype(int), gh - 2), np.minimum(u.astype(int), gw - 2)
        fv, fu = v - i0, u - j0

        def sample(m: np.ndarray) -> np.ndarray:
            m = m.astype(np.float64)
            top = m[i0, j0] * (1 - fu) + m[i0, j0 + 1] * fu
            bottom = m[i0 + 1, j0] * (1 - fu) + m[i0 + 1, j0 + 1] * fu
            return top * (1 - fv) + bottom * fv

        return np.stack([sample(self.map_x), sample(self.map_y)], axis=1)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The source image resampled onto the output (pixels outside the source: the paper's white)."""
        import cv2

        w, h = self.size
        fx = cv2.resize(self.map_x, (w, h), interpolation=cv2.INTER_LINEAR)
        fy = cv2.resize(self.map_y, (w, h), interpolation=cv2.INTER_LINEAR)
        m1, m2 = cv2.convertMaps(fx, fy, cv2.CV_16SC2)
        del fx, fy
        fill = 255 if image.ndim == 2 else (255,) * image.shape[2]
        return cv2.remap(image, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


@dataclass
class DewarpReport:
    """What `dewarp` found (for logs and tests)."""

    page: bool = False  # the page's quadrilateral was found and rectified
    curl_px: float = 0.0  # largest non-rigid displacement of the field used (full-resolution pixels)
    explained: float = 0.0  # share of the lines' bends (beyond a tilt) the field explains
    lines: int = 0  # lines the field was fitted to


# ----------------------------------------------------------------------------- page quadrilateral


def _line_through(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point, unit direction) of the total-least-squares line through points."""
    c = points.mean(axis=0)
    _u, _s, vt = np.linalg.svd(points - c, full_matrices=False)
    return c, vt[0]


def _cross(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    a = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
    if abs(np.linalg.det(a)) < 1e-6:
        return None
    t = np.linalg.solve(a, p2 - p1)
    return p1 + t[0] * d1


def _edge_points(blur: np.ndarray, step: int) -> np.ndarray:
    """Where the paper starts along every `step`-th row, scanning in from the left edge: the first
    clear change of brightness must be a rise (desk → paper); a drop (paper → ink: a scan whose
    page fills the frame) or no change gives no point. Returns (row, x) pairs."""
    h, w = blur.shape[:2]
    reach = max(8, int(w * PAGE_MAX_MARGIN))
    rows = np.arange(0, h, step)
    band = blur[rows, :reach].astype(np.int16)
    rise = band[:, 4:] - band[:, :-4]  # the change across 4 pixels, centred at x + 2
    strong = np.abs(rise) >= PAGE_MIN_EDGE_STEP
    has = strong.any(axis=1)
    first = np.argmax(strong, axis=1)
    up = rise[np.arange(len(rows)), first] > 0
    ok = has & up
    # the steepest point of that rise (within the next few pixels)
    xs = []
    for r, f in zip(rows[ok], first[ok], strict=True):
        seg = rise[r // step, f : f + 6]
        xs.append(f + int(np.argmax(seg)) + 2)
    return np.stack([rows[ok].astype(np.float64), np.asarray(xs, np.float64)], axis=1) if xs else np.zeros((0, 2))


def _robust_line(points: np.ndarray, tol: float, rng: np.random.Generator) -> tuple[np.ndarray, float] | None:
    """x = a + b·t through (t, x) points by RANSAC, refined on its inliers: ((a, b), inlier share)."""
    n = len(points)
    if n < 10:
        return None
    t, x = points[:, 0], points[:, 1]
    best, best_in = None, None
    for _ in range(PAGE_RANSAC_TRIES):
        i, j = rng.choice(n, 2, replace=False)
        if t[i] == t[j]:
            continue
        b = (x[j] - x[i]) / (t[j] - t[i])
        a = x[i] - b * t[i]
        inl = np.abs(x - (a + b * t)) <= tol
        if best_in is None or inl.sum() > best_in.sum():
            best, best_in = (a, b), inl
    if best is None or best_in is None or best_in.sum() < 10:
        return None
    b, a = np.polyfit(t[best_in], x[best_in], 1)
    return np.array([a, b]), float(best_in.mean())


def find_page(small: np.ndarray) -> np.ndarray | None:
    """The page's corners (4 × 2, top-left, top-right, bottom-right, bottom-left, in `small`'s
    pixels) when a page clearly lies on a darker desk (see the module doc), else None.

    Each side of the frame is scanned inward for the step up from desk to paper (a cast shadow's
    soft edge is no step; text is a step down first); a line is fitted through each side's points
    by RANSAC (a curled corner bends the ends), and the corners are where the lines cross."""
    import cv2

    h, w = small.shape[:2]
    blur = cv2.GaussianBlur(small, (5, 5), 0)
    step = max(2, max(h, w) // 300)
    rng = np.random.default_rng(0)
    sides = []  # (a, b) for x = a + b·y (left, right) or y = a + b·x (top, bottom), in small's pixels
    for turn in ("left", "top", "right", "bottom"):
        view = {"left": blur, "top": blur.T, "right": blur[:, ::-1], "bottom": blur.T[:, ::-1]}[turn]
        pts = _edge_points(np.ascontiguousarray(view), step)
        fit = _robust_line(pts, PAGE_EDGE_TOL_PX, rng)
        if fit is None or fit[1] < PAGE_MIN_EDGE_SHARE:
            return None
        (a, b), _share = fit
        if turn in ("right", "bottom"):  # measured from the far edge
            extent = w if turn == "right" else h
            a, b = extent - 1 - a, -b
        sides.append((a, b))
    (la, lb), (ta, tb), (ra, rb), (ba, bb) = sides

    def meet(xa: float, xb: float, ya: float, yb: float) -> np.ndarray:
        # x = xa + xb·y and y = ya + yb·x
        y = (ya + yb * xa) / (1 - yb * xb)
        return np.array([xa + xb * y, y])

    quad = np.array([meet(la, lb, ta, tb), meet(ra, rb, ta, tb), meet(ra, rb, ba, bb), meet(la, lb, ba, bb)])
    if not np.all(np.isfinite(quad)):
        return None
    area = cv2.contourArea(quad.astype(np.float32))
    if not (PAGE_MIN_AREA_SHARE * w * h <= area <= PAGE_MAX_AREA_SHARE * w * h):
        return None
    if not cv2.isContourConvex(quad.astype(np.float32)):
        return None
    for i in range(4):
        v1, v2 = quad[i - 1] - quad[i], quad[(i + 1) % 4] - quad[i]
        cos = float(np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-9))
        if not (PAGE_MIN_CORNER_DEG <= math.degrees(math.acos(np.clip(cos, -1, 1))) <= PAGE_MAX_CORNER_DEG):
            return None
    # the paper just inside the outline is clearly brighter than the desk just outside it
    inner, outer = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    centre = quad.mean(axis=0)
    band = max(3.0, 0.02 * min(h, w))
    for shrink, canvas in ((-band, inner), (band, outer)):
        poly = centre + (quad - centre) * (1 + shrink / max(1.0, float(np.linalg.norm(quad - centre, axis=1).mean())))
        cv2.polylines(canvas, [np.round(poly).astype(np.int32)], True, 255, thickness=max(2, round(band / 2)))
    inside, outside = blur[inner > 0], blur[outer > 0]
    if not len(inside) or not len(outside) or np.median(inside) - np.median(outside) < PAGE_MIN_CONTRAST:
        return None
    return quad


def _page_homography(quad: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The homography from an upright rectangle onto the page's quadrilateral, and the rectangle's
    size: as wide as the quadrilateral's wider end and as tall as its taller side (the far, narrower
    end is stretched to the near one)."""
    import cv2

    tl, tr, br, bl = quad
    w = round(float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = round(float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    rect = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    return np.asarray(cv2.getPerspectiveTransform(rect, quad.astype(np.float32)), dtype=np.float64), (w, h)


def _apply_h(m: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    den = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    return (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / den, (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / den


# ----------------------------------------------------------------------------- lines and the field


def _text_height(bw: np.ndarray) -> float:
    import cv2

    _n, _l, stats, _c = cv2.connectedComponentsWithStats(bw, connectivity=8)
    hh, ww, area = stats[1:, 3], stats[1:, 2], stats[1:, 4]
    keep = (area >= 6) & (hh >= 3) & (hh <= 40) & (ww <= 60)
    if keep.sum() < 20:
        return 0.0
    return float(np.percentile(hh[keep], 80))


def _centre_lines(mask: np.ndarray, min_len: float, max_thick: float, step: int) -> list[np.ndarray]:
    """Horizontal strokes of a binary mask (components at least `min_len` long): their centre line
    sampled every `step` columns, as (x, y) arrays; columns where a stroke is thicker than
    `max_thick` (it touches something) are left out."""
    import cv2

    n, labels, stats, _c = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, ww, hh, _a = stats[k]
        if ww < min_len:
            continue
        sub = labels[y : y + hh, x : x + ww] == k
        cols = np.arange(0, ww, step)
        part = sub[:, cols]
        has = part.any(axis=0)
        if has.sum() < 3:
            continue
        top = np.argmax(part, axis=0)
        bottom = hh - 1 - np.argmax(part[::-1], axis=0)
        ok = has & (bottom - top + 1 <= max_thick)
        if ok.sum() < max(3, 0.5 * len(cols)):
            continue
        out.append(np.stack([x + cols[ok], y + (top[ok] + bottom[ok]) / 2.0], axis=1).astype(np.float64))
    return out


def _strokes(bw: np.ndarray, th: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lines that should run straight across the page, as sampled centre lines: (horizontal ones
    as (x, y): rules and text lines; vertical ones as (y, x): rules)."""
    import cv2

    rule_len = max(9, round(2.0 * th))
    hrules = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (rule_len, 1)))
    vrules = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, rule_len)))
    rules = cv2.dilate(cv2.bitwise_or(hrules, vrules), np.ones((3, 3), np.uint8))
    text = cv2.bitwise_and(bw, cv2.bitwise_not(rules))
    join = max(3, round(0.8 * th))
    step = max(2, round(th / 3))
    rows = cv2.morphologyEx(text, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (join, 1)))
    horizontal = _centre_lines(hrules, 4 * th, max(3.0, 0.4 * th), step)
    horizontal += _centre_lines(rows, 4 * th, 1.6 * th, step)
    vertical = _centre_lines(np.ascontiguousarray(vrules.T), 4 * th, max(3.0, 0.4 * th), step)
    return horizontal, vertical


def _hats(t: np.ndarray, knots: int) -> np.ndarray:
    """Piecewise-linear (hat) basis on [0, 1] with `knots` evenly spaced knots: (len(t), knots)."""
    pos = np.clip(t, 0.0, 1.0) * (knots - 1)
    left = np.minimum(pos.astype(int), knots - 2)
    frac = pos - left
    out = np.zeros((len(t), knots))
    out[np.arange(len(t)), left] = 1.0 - frac
    out[np.arange(len(t)), left + 1] = frac
    return out


def _design(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    ku, kv = CURL_KNOTS
    bu, bv = _hats(u, ku), _hats(v, kv)
    return (bu[:, :, None] * bv[:, None, :]).reshape(len(u), ku * kv)


def _roughness() -> np.ndarray:
    """Second differences between neighbouring knots along both axes (rows of a penalty matrix)."""
    ku, kv = CURL_KNOTS
    rows = []
    for i in range(ku):
        for j in range(kv):
            if 0 < i < ku - 1:
                r = np.zeros((ku, kv))
                r[i - 1, j], r[i, j], r[i + 1, j] = 1, -2, 1
                rows.append(r.ravel())
            if 0 < j < kv - 1:
                r = np.zeros((ku, kv))
                r[i, j - 1], r[i, j], r[i, j + 1] = 1, -2, 1
                rows.append(r.ravel())
    return np.array(rows)


@dataclass
class Field:
    """A displacement across the lines (along y for horizontal lines), as knot values over the
    page's (u, v) = (x / width, y / height), its rigid part removed."""

    knots: np.ndarray  # (ku * kv,)
    shift: float  # largest displacement over the lines' extent, pixels of the analysed page
    explained: float
    lines: int

    def at(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The field at (u, v): bilinear between the knots (what the hat basis is), without
        building the basis for every point."""
        ku, kv = CURL_KNOTS
        grid = self.knots.reshape(ku, kv)
        pu = np.clip(np.ravel(u), 0.0, 1.0) * (ku - 1)
        pv = np.clip(np.ravel(v), 0.0, 1.0) * (kv - 1)
        i, j = np.minimum(pu.astype(int), ku - 2), np.minimum(pv.astype(int), kv - 2)
        fu, fv = pu - i, pv - j
        return (grid[i, j] * (1 - fu) + grid[i + 1, j] * fu) * (1 - fv) + (
            grid[i, j + 1] * (1 - fu) + grid[i + 1, j + 1] * fu
        ) * fv


def fit_field(lines: list[np.ndarray], width: float, height: float) -> Field | None:
    """The smooth displacement (see the module doc) that makes `lines` ((x, y) samples, each line
    at its own offset) straight along x, in a `width` × `height` page; None with too few lines."""
    lines = [ln for ln in lines if len(ln) >= 3]
    if len(lines) < CURL_MIN_LINES:
        return None
    xy = np.concatenate(lines)
    sizes = np.array([len(ln) for ln in lines])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    seg = np.repeat(np.arange(len(lines)), sizes)  # samples of a line are contiguous
    u, v, y = xy[:, 0] / width, xy[:, 1] / height, xy[:, 1]
    a = _design(u, v)
    keep = np.ones(len(y), bool)
    rough = _roughness()
    pen = np.einsum("ri,rj->ij", rough, rough)

    def line_means(values: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Each line's mean of `values` over its kept samples (k: 1 kept, 0 dropped), per sample."""
        weights = k if values.ndim == 1 else k[:, None]
        cnt = np.maximum(np.add.reduceat(k, starts), 1)
        means = np.add.reduceat(values * weights, starts, axis=0)
        means = means / (cnt if values.ndim == 1 else cnt[:, None])
        return means[seg]

    knots = np.zeros(a.shape[1])
    for _round in range(2):
        k = keep.astype(np.float64)
        ac, yc = a - line_means(a, k), y - line_means(y, k)
        n = max(1.0, k.sum())
        # (einsum, not BLAS: these products are small, and BLAS threads stall on a busy machine)
        lhs = (
            np.einsum("ni,nj->ij", ac * k[:, None], ac)
            + CURL_SMOOTH * n / len(rough) * pen
            + CURL_RIDGE * n / a.shape[1] * np.eye(a.shape[1])
        )
        knots = np.linalg.solve(lhs, np.einsum("ni,n->i", ac * k[:, None], yc))
        resid = yc - np.einsum("ni,i->n", ac, knots)
        sigma = 1.4826 * float(np.median(np.abs(resid[keep]))) + 0.5
        keep = np.abs(resid) <= CURL_OUTLIER_PX * sigma
        # a line that runs across the others (a fax's streak, a stroke through a word, a signature
        # line) is dropped whole: its share of kept samples is low
        kept_share = np.add.reduceat(keep.astype(np.float64), starts) / sizes
        keep &= (kept_share >= CURL_MIN_LINE_FIT)[seg]
    k = keep.astype(np.float64)
    fitted = np.einsum("ni,i->n", a, knots)
    yc = y - line_means(y, k)
    # how much of the lines' bends the field explains beyond a tilt (a flat page: noise, ~0)
    uc = u - line_means(u, k)
    slope = float(np.sum(uc * yc * k) / max(np.sum(uc * uc * k), 1e-12))
    before = float(np.sum((yc - slope * uc) ** 2 * k))
    after = float(np.sum((yc - (fitted - line_means(fitted, k))) ** 2 * k))
    explained = max(0.0, 1.0 - after / before) if before > 0 else 0.0
    # the rigid part (a tilt: deskew's job) is taken out: the plane a + b u that fits the field
    # best over the lines' samples
    plane = np.stack([np.ones(len(u)), u], axis=1)[keep]
    coef, *_ = np.linalg.lstsq(plane, fitted[keep], rcond=None)
    ku, kv = CURL_KNOTS
    ug = np.repeat(np.linspace(0, 1, ku), kv)
    knots = knots - (coef[0] + coef[1] * ug)
    shift_at = np.einsum("ni,i->n", a[keep], knots)
    shift = float(np.max(np.abs(shift_at - np.median(shift_at)))) if keep.any() else 0.0
    return Field(knots, shift, explained, len(lines))


# ----------------------------------------------------------------------------- the warp


def dewarp(gray: np.ndarray) -> tuple[Warp | None, DewarpReport]:
    """The warp that flattens a photographed page (see the module doc), or None when the page is
    neither seen on a desk nor confidently curled or keystoned."""
    import cv2

    report = DewarpReport()
    h, w = gray.shape[:2]
    scale = min(1.0, DEWARP_ANALYSIS_SIDE / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else gray
    sx, sy = sw / w, sh / h  # full → small
    quad = find_page(small)
    homography = None
    if quad is not None:
        homography, (pw, ph) = _page_homography(quad)
        page = cv2.warpPerspective(
            small, homography, (pw, ph), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        report.page = True
    else:
        page, (pw, ph) = small, (sw, sh)
    if homography is None and CURL_NEEDS_PAGE:
        return None, report
    bw = cv2.adaptiveThreshold(
        cv2.GaussianBlur(page, (3, 3), 0), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )
    th = _text_height(bw)
    fields: list[Field | None] = [None, None]
    if th > 0:
        horizontal, vertical = _strokes(bw, th)
        fy = fit_field(horizontal, pw, ph)
        # vertical lines: the same fit with the axes swapped (x ↔ y)
        fx = fit_field(vertical, ph, pw)
        for i, f in enumerate((fy, fx)):
            if f is None:
                continue
            # without a desk around it the page is probably a scan: only a clear bend is taken
            explained, least = (
                (CURL_MIN_EXPLAINED, CURL_MIN_TEXT_HEIGHTS)
                if homography is not None
                else (CURL_MIN_EXPLAINED_NO_PAGE, CURL_MIN_TEXT_HEIGHTS_NO_PAGE)
            )
            if f.explained >= explained and least * th <= f.shift <= CURL_MAX_SHIFT_TEXT_HEIGHTS * th:
                fields[i] = f
                report.curl_px = max(report.curl_px, f.shift / min(sx, sy))
                report.explained = max(report.explained, f.explained)
                report.lines += f.lines
    if homography is None and fields == [None, None]:
        return None, report
    # output: the rectified page at full resolution
    ow, oh = round(pw / sx), round(ph / sy)
    nx, ny = Warp.node_positions((ow, oh))
    gx, gy = np.meshgrid(nx, ny)
    px, py = gx * sx, gy * sy  # analysed page's pixels
    fy, fx = fields
    if fy is not None:
        py = py + fy.at(px / pw, py / ph).reshape(px.shape)
    if fx is not None:
        px = px + fx.at(py / ph, px / pw).reshape(px.shape)
    if homography is not None:
        px, py = _apply_h(homography, px, py)
    return Warp((px / sx).astype(np.float32), (py / sy).astype(np.float32), (ow, oh)), report


# ----------------------------------------------------------------------------- illumination


def illumination(gray: np.ndarray) -> np.ndarray | None:
    """The paper's brightness across the page, at SHADOW_ANALYSIS_SIDE (uint8), or None when it
    varies less than SHADOW_MIN_RANGE grey levels (nothing to flatten)."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, SHADOW_ANALYSIS_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    k = max(5, round(max(small.shape) / 40) | 1)  # wider than a glyph at this size
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.medianBlur(paper, 2 * k + 1 if 2 * k + 1 <= 255 else 255)  # shaded cells and rules go
    paper = cv2.GaussianBlur(paper, (0, 0), k)
    lo, hi = np.percentile(paper, (2, 98))
    if hi - lo < SHADOW_MIN_RANGE:
        return None
    return paper


def flatten_illumination(gray: np.ndarray) -> np.ndarray:
    """The page divided by its paper's brightness (`illumination`), the lit paper's level kept; the
    page itself when its light is even."""
    import cv2

    paper = illumination(gray)
    if paper is None:
        return gray
    target = float(np.percentile(paper, SHADOW_PAPER_PERCENTILE))
    h, w = gray.shape[:2]
    field = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(field, 1), scale=target)
