"""Photographed pages flattened before OCR (`extraction.ocr.dewarp`): a keystoned, curled page on a
desk comes out with straight, level table rules and boxes that map back to the photo; a flat page
(a clean scan, a render, a scan turned by a degree) comes out untouched; a shadow is lifted."""

from __future__ import annotations

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from extraction.ocr.base import OcrOptions  # noqa: E402
from extraction.ocr.dewarp import Warp, dewarp, flatten_illumination, illumination  # noqa: E402
from extraction.ocr.prep import prepare  # noqa: E402

# A table rule counts as straight when its centre line keeps within this many pixels of a straight
# line along its whole length: a quarter of the synthetic page's text height (~16 px), far below the
# half-row shift that puts a figure in the wrong row.
STRAIGHT_TOLERANCE_PX = 4.0
LEVEL_TOLERANCE_DEG = 0.3  # …and lies level within this (what the reader's row matching assumes)
MAP_TOLERANCE_PX = 6.0  # a point of the flattened page maps back to the photo within this

W, H = 1000, 1414  # the synthetic page (A4 proportions, ~120 dpi)
TABLE = (100, 420, 900, 1300)  # x0, y0, x1, y1 of its ruled table
ROWS, COLS = 16, 6


def _page() -> np.ndarray:
    """A white page: lines of figures above a ruled table of figures."""
    page = np.full((H, W), 245, np.uint8)
    rng = np.random.default_rng(7)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(8):  # paragraph lines
        text = " ".join(str(rng.integers(10, 99999)) for _ in range(9))
        cv2.putText(page, text, (100, 120 + 36 * i), font, 0.7, 30, 2, cv2.LINE_AA)
    x0, y0, x1, y1 = TABLE
    for r in range(ROWS + 1):
        y = y0 + (y1 - y0) * r // ROWS
        cv2.line(page, (x0, y), (x1, y), 20, 2)
    for c in range(COLS + 1):
        x = x0 + (x1 - x0) * c // COLS
        cv2.line(page, (x, y0), (x, y1), 20, 2)
    for r in range(ROWS):
        for c in range(COLS):
            cx = x0 + (x1 - x0) * c // COLS + 20
            cy = y0 + (y1 - y0) * r // ROWS + 36
            cv2.putText(page, str(rng.integers(0, 9999)), (cx, cy), font, 0.7, 30, 2, cv2.LINE_AA)
    return page


def _bend(x: np.ndarray, amount: float) -> np.ndarray:
    """Page curl: lines bend down towards the right edge (from 55 % of the width), by `amount` px."""
    t = np.clip((x / W - 0.55) / 0.45, 0.0, 1.0)
    return amount * t**2


def _photo(page: np.ndarray, keystone: float, curl: float, turn: float = 0.0, shadow: float = 0.0):
    """The page photographed on a darker desk: far edge narrower by `keystone` of the width, curled
    by `curl` px, turned by `turn` degrees; returns (photo, page→photo homography)."""
    fw, fh = int(W * 1.12), int(H * 1.1)
    mx, my = 0.06 * W, 0.05 * H
    k = keystone * W / 2
    dst = np.float32([[mx + k, my], [mx + W - k, my], [mx + W, my + H], [mx, my + H]])
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    m = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    rot = np.vstack([cv2.getRotationMatrix2D((fw / 2, fh / 2), turn, 1.0), [0, 0, 1]])
    m = rot @ m
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float64)
    inv = np.linalg.inv(m)
    den = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    px = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / den
    py = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / den
    py = py - _bend(px, curl)  # the curled page shows page row y at y + bend(x)
    photo = cv2.remap(
        page,
        px.astype(np.float32),
        py.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=90,
    )
    if shadow:
        light = 1.0 - shadow / (1.0 + np.exp(-(xx - 0.6 * fw) / (0.05 * fw)))
        photo = np.clip(photo * light, 0, 255).astype(np.uint8)
    return photo, m


def _rules(image: np.ndarray, vertical: bool = False) -> list[np.ndarray]:
    """Centre lines of the long rules of a page, as (along, across) samples per rule."""
    img = image.T if vertical else image
    bw = (img < 128).astype(np.uint8)
    bw = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 1)))
    n, labels, stats, _c = cv2.connectedComponentsWithStats(bw, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, ww, hh, _a = stats[k]
        if ww < 0.5 * (TABLE[2] - TABLE[0]) * (image.shape[1] / W if not vertical else image.shape[0] / H):
            continue
        sub = labels[y : y + hh, x : x + ww] == k
        cols = np.arange(5, ww - 5, 4)
        ys = np.array([np.nonzero(sub[:, c])[0].mean() for c in cols if sub[:, c].any()])
        xs = np.array([c for c in cols if sub[:, c].any()])
        out.append(np.stack([x + xs, y + ys], axis=1))
    return out


def _bend_and_tilt(rule: np.ndarray) -> tuple[float, float]:
    """(largest distance of a rule's centre line from its straight-line fit, its tilt in degrees)."""
    b, a = np.polyfit(rule[:, 0], rule[:, 1], 1)
    return float(np.max(np.abs(rule[:, 1] - (a + b * rule[:, 0])))), math.degrees(math.atan(b))


def _straightness(image: np.ndarray) -> tuple[float, float, int, int]:
    """(worst bend, worst tilt, horizontal rules found, vertical rules found) of a page's table."""
    bends, tilts = [], []
    hr, vr = _rules(image), _rules(image, vertical=True)
    for rule in hr + vr:
        bend, tilt = _bend_and_tilt(rule)
        bends.append(bend)
        tilts.append(abs(tilt))
    return max(bends, default=0.0), max(tilts, default=0.0), len(hr), len(vr)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return _page()


def test_a_keystoned_curled_photo_comes_out_with_straight_level_rules(page):
    photo, _m = _photo(page, keystone=0.06, curl=22.0, turn=1.2)
    before = _straightness(photo)
    assert before[0] > 2 * STRAIGHT_TOLERANCE_PX or before[1] > 2 * LEVEL_TOLERANCE_DEG  # it is bent
    prepared = prepare(photo, OcrOptions())
    assert prepared.warp is not None
    bend, tilt, horizontal, vertical = _straightness(prepared.image)
    assert horizontal == ROWS + 1 and vertical == COLS + 1  # every rule whole: none broken by a bend
    assert bend <= STRAIGHT_TOLERANCE_PX
    assert tilt <= LEVEL_TOLERANCE_DEG


def test_the_flattened_page_maps_back_to_the_photo(page):
    photo, m = _photo(page, keystone=0.05, curl=18.0)
    prepared = prepare(photo, OcrOptions())
    # the table's corners, found on the flattened page, land on the photo's table corners
    hr, vr = _rules(prepared.image), _rules(prepared.image, vertical=True)
    top, bottom = min(hr, key=lambda r: r[:, 1].mean()), max(hr, key=lambda r: r[:, 1].mean())
    left, right = min(vr, key=lambda r: r[:, 1].mean()), max(vr, key=lambda r: r[:, 1].mean())
    found = np.array(
        [
            [left[:, 1].mean(), top[:, 1].mean()],
            [right[:, 1].mean(), top[:, 1].mean()],
            [right[:, 1].mean(), bottom[:, 1].mean()],
            [left[:, 1].mean(), bottom[:, 1].mean()],
        ]
    )
    x0, y0, x1, y1 = TABLE
    truth_page = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    truth_page[:, 1] += _bend(truth_page[:, 0], 18.0)
    pts = np.hstack([truth_page, np.ones((4, 1))]) @ m.T
    truth = pts[:, :2] / pts[:, 2:]
    back = prepared.to_original(found)
    assert np.abs(back - truth).max() <= MAP_TOLERANCE_PX
    # a box: the bounds of its edges mapped back
    box = prepared.bbox_to_original((found[0, 0], found[0, 1], found[2, 0], found[2, 1]))
    bounds = (*truth.min(axis=0), *truth.max(axis=0))
    assert np.abs(np.array(box) - np.array(bounds)).max() <= MAP_TOLERANCE_PX


@pytest.mark.parametrize(("turn", "streak"), [(0.0, False), (1.5, False), (2.5, True)])
def test_a_flat_page_is_left_exactly_as_it_is(page, turn, streak):
    """A render or a flatbed scan (no desk, straight lines; turned a little: the deskew's job), or a
    skewed fax with a level streak across it (a line at odds with the others is no curl)."""
    image = page
    if turn:
        rot = cv2.getRotationMatrix2D((W / 2, H / 2), turn, 1.0)
        image = cv2.warpAffine(page, rot, (W, H), borderValue=245)
    if streak:
        image = np.where(image < 160, 0, 255).astype(np.uint8)
        cv2.line(image, (300, 700), (950, 700), 0, 2)
        cv2.line(image, (50, 1330), (900, 1330), 0, 3)
    warp, report = dewarp(image)
    assert warp is None and not report.page and report.curl_px == 0
    assert flatten_illumination(image) is image
    prepared = prepare(image, OcrOptions())
    assert prepared.warp is None and prepared.image.shape == image.shape


def test_a_page_filling_the_frame_of_a_flat_scan_is_not_taken_for_a_desk(page):
    """Dark scanner-lid edges along two sides of a flatbed scan are no desk around a page."""
    image = page.copy()
    image[:, :12] = 40
    image[:15, :] = 40
    warp, report = dewarp(image)
    assert warp is None and not report.page


def test_a_cast_shadow_is_lifted_and_even_light_is_left_alone(page):
    photo, _m = _photo(page, keystone=0.0, curl=0.0, shadow=0.4)
    lit = flatten_illumination(photo[60:-60, 60:-60])  # the page only
    paper = cv2.resize(lit, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    dark = cv2.resize(photo[60:-60, 60:-60], None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    # the paper's brightness, left half against right half (the shadow falls on the right)
    assert (
        abs(float(np.median(paper[:, : paper.shape[1] // 2])) - float(np.median(paper[:, paper.shape[1] // 2 :]))) < 12
    )
    assert float(np.median(dark[:, : dark.shape[1] // 2])) - float(np.median(dark[:, dark.shape[1] // 2 :])) > 60
    assert illumination(page) is None


def test_warp_points_follow_the_remap():
    """`Warp.points` samples the coarse map exactly as `Warp.apply` resamples the image."""
    size = (300, 200)
    nx, ny = Warp.node_positions(size)
    gx, gy = np.meshgrid(nx, ny)
    warp = Warp((gx * 0.9 + 0.001 * gy**2 + 5).astype(np.float32), (gy * 1.1 + 3).astype(np.float32), size)
    src = np.tile(np.arange(400, dtype=np.float64)[None, :], (300, 1)) % 251
    out = warp.apply(src.astype(np.float32))
    pts = np.array([[10.0, 10.0], [150.0, 100.0], [290.0, 190.0]])
    back = warp.points(pts)
    for (x, y), (bx, by) in zip(pts, back, strict=True):
        assert abs(out[int(y), int(x)] - src[round(by), round(bx)]) <= 1.5


def test_a_scan_with_uneven_light_is_prepared_exactly_as_before(page, monkeypatch):
    """No desk around the page: light is evened out only on photos (`prep.SHADOW_NEEDS_PAGE`), so a
    flatbed scan with a gradient reads exactly as it did before photos were flattened."""

    ramp = np.linspace(1.0, 0.7, W, dtype=np.float32)[None, :]
    scan = np.clip(page * ramp, 0, 255).astype(np.uint8)
    assert illumination(scan) is not None  # the light does vary
    flattened = prepare(scan, OcrOptions())
    options = OcrOptions()
    options.page.flatten_photos = False
    before = prepare(scan, options)
    assert flattened.warp is None and np.array_equal(flattened.image, before.image)
