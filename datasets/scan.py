"""Turn PDF pages into page images like a scanner, with the truth boxes moved along.

    from gongkai_datasets.render_pdf import render_pdf
    from gongkai_datasets.scan import scan_pdf, to_pdf, to_tiff

    r = render_pdf(doc, rng)
    s = scan_pdf(r.pdf, r.boxes, rng, preset="moderate", stamp_text=doc.agency)
    s.pages[0].image                   # PIL image of page 1 (RGB, L, or 1 when binarised)
    s.boxes["applications.new.total"]  # {"page": 3, "bbox": [x0, y0, x1, y1], "text_bbox": ...} in pixels
    to_tiff(s)                          # multi-page TIFF bytes
    to_pdf(s)                           # image-only PDF bytes (no text layer)

Pipeline per page (`degrade`): render with pypdfium2 at `dpi`; a red round official stamp (公章)
over some text (multiply blend, so the text under it stays dark); optional greyscale; one
homography for rotation, a small shift and optional perspective jitter (boxes go through the
same matrix; a box becomes the axis-aligned box of its four moved corners, clipped to the page);
Gaussian blur; contrast loss (paper darker, ink lighter) and uneven illumination (linear gradient
and vignetting); Gaussian noise; salt-and-pepper; JPEG recompression, or adaptive binarisation.

Presets (`PRESETS`): clean, light, moderate (200 dpi, rotation 0.3–1.5°, mild blur/noise, JPEG q70,
one stamp per document), heavy (150/200 dpi, 1.5–3°, perspective jitter, strong blur/noise,
JPEG q40–55, 1–2 stamps, greyscale 40 %, binarised 25 %), and the ways real reports arrive:

- `flatbed150`: an office flatbed at 150 dpi (rotation 0.2–1.2°, mild blur/noise, JPEG q70–85).
- `phone`: a Word-made report photographed by phone: the page lies on a darker desk (3–8 % margin),
  keystone (the far edge narrower) plus corner jitter, page curl (a smooth non-linear warp that
  bends the lines near one edge: `curl`), a soft cast shadow (`shadow`) over uneven light, 110–150
  dpi effective, blur and sometimes motion blur (`motion`), JPEG q55–80.
- `fax`: 204 × 196 dpi ("fine") or 204 × 98 dpi ("standard", `dpi_y`: anisotropic pixels, stored
  with their dpi; the sheet's skew is a turn at square pixels, made before it is sampled), a fixed-threshold 1-bit page (shaded fills drop to white), horizontal streaks
  (`streaks`), lost scan lines (`dropouts`), slight skew, the sending machine's header line.

Curl and the homography are one remap (page → curled page → camera); a truth box becomes the
axis-aligned box of points along its edges moved by both. `scan_pdf(..., rotate=share)` turns that
share of the pages by 90°, 180° or 270° (clockwise, `ScanParams.quarter`) as a sideways or
upside-down feed does; their truth boxes turn with them. Truth values never change.

Everything is drawn from `rng`, so a preset gives the same bytes for the same rng state (and the
older presets the same bytes as before these were added: `rotate` 0 draws nothing).
"""

from __future__ import annotations

import io
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PRESETS: tuple[str, ...] = ("clean", "light", "moderate", "heavy", "flatbed150", "phone", "fax")


@dataclass
class ScanParams:
    dpi: int = 200
    rotation: float = 0.0  # degrees, positive = counter-clockwise
    shift: tuple[float, float] = (0.0, 0.0)  # pixels
    perspective: float = 0.0  # largest corner displacement, share of the page's shorter side
    blur: float = 0.0  # Gaussian sigma in pixels
    noise: float = 0.0  # Gaussian noise sigma, 0-255 scale
    salt_pepper: float = 0.0  # share of pixels set to black or white
    jpeg_quality: int | None = None
    illumination: float = 0.0  # darkening at the worst corner, 0..1
    contrast: float = 0.0  # 0: ink 0 and paper 255; 0.2: ink ~51 and paper ~230
    stamps: int = 0  # stamps on this page
    gray: bool = False
    binarize: bool = False
    # the ways real reports arrive (0 / None: off; the older presets leave them off)
    dpi_y: int | None = None  # vertical dpi when it differs from `dpi` (a standard-mode fax: 98)
    background: float = 0.0  # margin of desk around the photographed page, share of the page's side
    keystone: float = 0.0  # far edge narrower by this share of the width (a camera tilted over the page)
    curl: float = 0.0  # largest bend of a text line by page curl, share of the page height
    shadow: float = 0.0  # darkening of a soft cast shadow, 0..1
    motion: float = 0.0  # motion blur length in pixels
    threshold: int | None = None  # binarise at this fixed level (a fax) instead of adaptively
    streaks: int = 0  # horizontal dark streaks (a dirty fax scan head)
    dropouts: float = 0.0  # share of scan lines partly lost (white)
    header: str = ""  # a fax machine's transmission header line printed at the top
    quarter: int = 0  # quarter turns clockwise of the finished page (a sideways or upside-down feed)

    @property
    def ydpi(self) -> int:
        return self.dpi_y or self.dpi


@dataclass
class ScannedPage:
    image: Image.Image
    data: bytes  # the encoded page: JPEG, or PNG when not JPEG-recompressed
    format: str  # "jpeg" | "png"
    params: ScanParams
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    pages: list[ScannedPage]
    boxes: dict[str, dict[str, Any]]  # cell_id -> {"page": n, "bbox": [...], "text_bbox": [...] | None}, pixels
    dpi: int
    preset: str
    info: dict[str, Any]  # JSON-friendly: preset, dpi, per-page rotation, stamps, ...


# ----------------------------------------------------------------------------- parameters


def _sign(rng: random.Random) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def document_params(rng: random.Random, preset: str, n_pages: int) -> list[ScanParams]:
    """Per-page scan parameters of a document for a preset (the dpi, colour and binarisation are
    chosen once per document; rotation, blur, noise... per page)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {PRESETS}")
    if preset == "clean":
        return [ScanParams(dpi=200) for _ in range(n_pages)]
    if preset in ("flatbed150", "phone", "fax"):
        return _real_world_params(rng, preset, n_pages)
    if preset == "light":
        dpi = rng.choice([200, 300])
        gray, binarize = rng.random() < 0.2, False
    elif preset == "moderate":
        dpi = 200
        gray, binarize = rng.random() < 0.15, False
    else:
        dpi = rng.choice([150, 200])
        gray = rng.random() < 0.4
        binarize = rng.random() < 0.25
    stamps = [0] * n_pages
    n_stamps = {"light": 0, "moderate": 1, "heavy": rng.choice([1, 1, 2])}[preset]
    for i in range(n_stamps):  # on different pages while there are pages left
        free = [k for k in range(n_pages) if stamps[k] == 0] or list(range(n_pages))
        stamps[rng.choice(free) if i else rng.randrange(n_pages)] += 1
    out = []
    for i in range(n_pages):
        if preset == "light":
            p = ScanParams(
                dpi=dpi,
                rotation=_sign(rng) * rng.uniform(0.0, 0.6),
                shift=(rng.uniform(-5, 5), rng.uniform(-5, 5)),
                blur=rng.uniform(0.2, 0.5),
                noise=rng.uniform(1.0, 4.0),
                jpeg_quality=rng.randint(82, 92),
                illumination=rng.uniform(0.0, 0.06),
                contrast=rng.uniform(0.0, 0.06),
            )
        elif preset == "moderate":
            p = ScanParams(
                dpi=dpi,
                rotation=_sign(rng) * rng.uniform(0.3, 1.5),
                shift=(rng.uniform(-15, 15), rng.uniform(-15, 15)),
                blur=rng.uniform(0.4, 0.9),
                noise=rng.uniform(3.0, 8.0),
                salt_pepper=rng.uniform(0.0, 0.0005),
                jpeg_quality=70,
                illumination=rng.uniform(0.04, 0.15),
                contrast=rng.uniform(0.04, 0.14),
            )
        else:
            p = ScanParams(
                dpi=dpi,
                rotation=_sign(rng) * rng.uniform(1.5, 3.0),
                shift=(rng.uniform(-30, 30), rng.uniform(-30, 30)),
                perspective=rng.uniform(0.004, 0.015) if rng.random() < 0.6 else 0.0,
                blur=rng.uniform(0.9, 1.6),
                noise=rng.uniform(8.0, 16.0),
                salt_pepper=rng.uniform(0.001, 0.004),
                jpeg_quality=rng.randint(40, 55),
                illumination=rng.uniform(0.15, 0.35),
                contrast=rng.uniform(0.12, 0.28),
            )
        p.stamps = stamps[i]
        p.gray = gray
        p.binarize = binarize
        if binarize:
            p.jpeg_quality = None
        out.append(p)
    return out


def _real_world_params(rng: random.Random, preset: str, n_pages: int) -> list[ScanParams]:
    """Per-page parameters of the flatbed150, phone and fax presets (see the module doc)."""
    out = []
    if preset == "flatbed150":
        gray = rng.random() < 0.3
        stamp_page = rng.randrange(n_pages) if n_pages else -1
        for i in range(n_pages):
            out.append(
                ScanParams(
                    dpi=150,
                    rotation=_sign(rng) * rng.uniform(0.2, 1.2),
                    shift=(rng.uniform(-12, 12), rng.uniform(-12, 12)),
                    blur=rng.uniform(0.3, 0.7),
                    noise=rng.uniform(2.0, 6.0),
                    salt_pepper=rng.uniform(0.0, 0.0003),
                    jpeg_quality=rng.randint(70, 85),
                    illumination=rng.uniform(0.03, 0.12),
                    contrast=rng.uniform(0.03, 0.12),
                    stamps=int(i == stamp_page),
                    gray=gray,
                )
            )
        return out
    if preset == "phone":
        dpi = rng.randint(110, 150)
        stamp_page = rng.randrange(n_pages) if n_pages else -1
        for i in range(n_pages):
            out.append(
                ScanParams(
                    dpi=dpi,
                    rotation=_sign(rng) * rng.uniform(0.3, 2.5),
                    shift=(rng.uniform(-0.01, 0.01) * dpi * 8, rng.uniform(-0.01, 0.01) * dpi * 11),
                    perspective=rng.uniform(0.004, 0.012),
                    background=rng.uniform(0.03, 0.08),
                    keystone=rng.uniform(0.02, 0.07),
                    curl=rng.uniform(0.003, 0.012),
                    shadow=rng.uniform(0.15, 0.4) if rng.random() < 0.7 else 0.0,
                    # "effective" dpi: the camera's optics are already in the downscaled pixels
                    blur=rng.uniform(0.3, 0.7),
                    motion=rng.uniform(1.0, 2.5) if rng.random() < 0.3 else 0.0,
                    noise=rng.uniform(3.0, 9.0),
                    jpeg_quality=rng.randint(55, 80),
                    illumination=rng.uniform(0.1, 0.3),
                    contrast=rng.uniform(0.06, 0.18),
                    stamps=int(i == stamp_page),
                )
            )
        return out
    # fax: 1-bit, fine (204 × 196) or standard (204 × 98) resolution
    dpi_y = 196 if rng.random() < 0.6 else 98
    number = "".join(str(rng.randrange(10)) for _ in range(8))
    when = f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}"
    for i in range(n_pages):
        out.append(
            ScanParams(
                dpi=204,
                dpi_y=dpi_y,
                rotation=_sign(rng) * rng.uniform(0.2, 1.5),
                shift=(rng.uniform(-10, 10), rng.uniform(-6, 6)),
                blur=rng.uniform(0.3, 0.6),
                noise=rng.uniform(3.0, 8.0),
                contrast=rng.uniform(0.03, 0.1),
                illumination=rng.uniform(0.0, 0.06),
                gray=True,
                binarize=True,
                threshold=rng.randint(170, 200),
                streaks=rng.randint(0, 4),
                dropouts=rng.uniform(0.0, 0.006),
                header=f"{when}  FROM:0{number}  P.{i + 1}/{n_pages}",
            )
        )
    return out


# ----------------------------------------------------------------------------- rendering


def render_pages(pdf: bytes, dpi: int = 200, pages: Sequence[int] | None = None) -> list[Image.Image]:
    """Render PDF pages (0-based indices, all by default) to RGB PIL images at `dpi`."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        idx = range(len(doc)) if pages is None else pages
        out = []
        for i in idx:
            page = doc[i]
            out.append(page.render(scale=dpi / 72.0).to_pil().convert("RGB"))
            page.close()
        return out
    finally:
        doc.close()


# ----------------------------------------------------------------------------- the stamp


def _stamp_font(size: int) -> ImageFont.FreeTypeFont | None:
    from .render_pdf import font_file

    for key in ("wqy_zenhei", "ar_pl_uming"):
        found = font_file(key)
        if found:
            try:
                return ImageFont.truetype(found[0], size, index=found[1])
            except OSError:
                continue
    return None


def make_stamp(radius: int, text: str, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    """Alpha mask (float32, 0..1, square of side 2*radius+4) of a round official stamp: a ring, a
    five-pointed star and `text` along the upper arc, with uneven ink."""
    side = 2 * radius + 4
    c = side / 2
    im = Image.new("L", (side, side), 0)
    d = ImageDraw.Draw(im)
    ring = max(2, int(radius * rng.uniform(0.045, 0.075)))
    d.ellipse([c - radius, c - radius, c + radius, c + radius], outline=255, width=ring)
    star_r = radius * rng.uniform(0.24, 0.32)
    pts = []
    for k in range(10):
        rr = star_r if k % 2 == 0 else star_r * 0.38
        a = math.radians(90 + k * 36)
        pts.append((c + rr * math.cos(a), c - rr * math.sin(a)))
    d.polygon(pts, fill=255)
    chars = [ch for ch in text if not ch.isspace()][:24]
    size = int(radius * (0.30 if len(chars) <= 12 else 0.24))
    font = _stamp_font(size) if chars else None
    if font is not None:
        arc = min(260.0, max(120.0, len(chars) * 19.0))
        rr = radius - ring - size * 0.62
        for i, ch in enumerate(chars):
            theta = 90 + arc / 2 - (arc * i / max(1, len(chars) - 1))
            glyph = Image.new("L", (size * 2, size * 2), 0)
            ImageDraw.Draw(glyph).text((size, size), ch, fill=255, font=font, anchor="mm")
            glyph = glyph.rotate(theta - 90, resample=Image.Resampling.BILINEAR)
            x = c + rr * math.cos(math.radians(theta))
            y = c - rr * math.sin(math.radians(theta))
            im.paste(255, (int(x - size), int(y - size)), glyph)
    else:
        inner = radius * 0.8
        d.ellipse([c - inner, c - inner, c + inner, c + inner], outline=255, width=max(1, ring // 2))
    im = im.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BILINEAR)
    mask = np.asarray(im, dtype=np.float32) / 255.0
    # uneven ink: a smooth random field, plus a few pale patches
    import cv2

    coarse = nprng.random((8, 8), dtype=np.float32)
    smooth = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    mask *= np.clip(0.45 + 0.7 * smooth, 0.0, 1.0)
    return mask


def _blend_stamp(arr: np.ndarray, mask: np.ndarray, cx: int, cy: int, color: tuple[int, int, int]) -> None:
    """Multiply-blend a stamp mask centred at (cx, cy) into arr (H x W x 3 uint8), in place."""
    h, w = arr.shape[:2]
    s = mask.shape[0]
    x0, y0 = cx - s // 2, cy - s // 2
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    m = mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0, None]
    col = np.asarray(color, dtype=np.float32) / 255.0
    region = arr[ay0:ay1, ax0:ax1].astype(np.float32)
    region *= 1.0 - m * (1.0 - col)
    arr[ay0:ay1, ax0:ax1] = np.clip(region, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- geometry


def _homography(w: int, h: int, p: ScanParams, rng: random.Random) -> np.ndarray | None:
    if not (p.rotation or p.perspective or p.shift[0] or p.shift[1]):
        return None
    import cv2

    # The sheet turns on the glass, before it is sampled: a fax's pixels are r times as tall as they
    # are wide (204 × 98 dpi), so the turn is made at square pixels (S⁻¹, R, S). Turned in the stored
    # pixels instead, the page came out sheared (its columns leaning against its rows), which no
    # feed does and no deskew can undo.
    r = p.ydpi / p.dpi
    rot = cv2.getRotationMatrix2D((w / 2, h / (2 * r)), p.rotation, 1.0)
    square = np.diag([1.0, r, 1.0])
    m = square @ np.vstack([rot, [0.0, 0.0, 1.0]]) @ np.linalg.inv(square)
    m[0, 2] += p.shift[0]
    m[1, 2] += p.shift[1]
    if p.perspective:
        d = p.perspective * min(w, h)
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + np.float32([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)])
        m = cv2.getPerspectiveTransform(src, dst).astype(np.float64) @ m
    return m


def _scene_homography(w: int, h: int, p: ScanParams, rng: random.Random) -> np.ndarray:
    """A photographed page: the page shrunk into the frame with a desk margin around it, its far
    edge narrower (keystone), its corners jittered, turned by the small rotation and shifted."""
    import cv2

    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    mx, my = p.background * w, p.background * h
    k = p.keystone * (w - 2 * mx) / 2
    top_far = rng.random() < 0.5  # the camera leans from the bottom or from the top
    dst = np.float32([[mx, my], [w - mx, my], [w - mx, h - my], [mx, h - my]])
    if top_far:
        dst[0, 0] += k
        dst[1, 0] -= k
    else:
        dst[3, 0] += k
        dst[2, 0] -= k
    d = p.perspective * min(w, h)
    dst += np.float32([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)])
    m = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    rot = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), p.rotation, 1.0), [0.0, 0.0, 1.0]])
    rot[0, 2] += p.shift[0]
    rot[1, 2] += p.shift[1]
    return rot @ m


@dataclass
class Curl:
    """Page curl, a smooth monotone warp of the page: x' = x - squeeze(x), y' = y + bend(x) * (a + b y / h).

    The lift grows towards one side edge (`side` +1: the right one) from `start` (share of the
    width), so text lines there bend and crowd; a gentle bow spans the page. Invertible in closed
    form along y and by table along x, so one remap draws it and boxes move with it exactly."""

    w: int
    h: int
    amount: float  # largest bend, pixels
    side: int
    start: float
    bow: float  # pixels
    a: float
    b: float
    squeeze: float  # largest horizontal crowding, pixels

    @classmethod
    def draw(cls, w: int, h: int, share: float, rng: random.Random) -> Curl:
        amount = share * h
        b = rng.uniform(-0.6, 0.6)
        return cls(
            w,
            h,
            amount,
            1 if rng.random() < 0.5 else -1,
            rng.uniform(0.5, 0.75),
            rng.uniform(-0.3, 0.3) * amount,
            1.0 - b / 2,
            b,
            rng.uniform(0.2, 0.6) * amount,
        )

    def _t(self, x: np.ndarray) -> np.ndarray:
        u = x / self.w if self.side > 0 else 1.0 - x / self.w
        return np.clip((u - self.start) / (1.0 - self.start), 0.0, 1.0)

    def bend(self, x: np.ndarray) -> np.ndarray:
        return self.amount * self._t(x) ** 2 + self.bow * np.sin(np.pi * np.clip(x / self.w, 0, 1))

    def fwd_x(self, x: np.ndarray) -> np.ndarray:
        return x - self.side * self.squeeze * self._t(x) ** 3

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.fwd_x(x), y + self.bend(x) * (self.a + self.b * y / self.h)

    def inverse(self, x2: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = np.linspace(-0.1 * self.w, 1.1 * self.w, 4 * self.w + 1)
        x = np.interp(x2, self.fwd_x(grid), grid)  # fwd_x is increasing (squeeze << w)
        g = self.bend(x)
        return x, (y2 - g * self.a) / (1.0 + g * self.b / self.h)


def _edge_points(box: Sequence[float], n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = box
    t = np.linspace(0.0, 1.0, n)
    xs = np.concatenate([x0 + (x1 - x0) * t, x0 + (x1 - x0) * t, np.full(n, x0), np.full(n, x1)])
    ys = np.concatenate([np.full(n, y0), np.full(n, y1), y0 + (y1 - y0) * t, y0 + (y1 - y0) * t])
    return xs, ys


def move_box(box: Sequence[float], curl: Curl | None, m: np.ndarray | None, w: int, h: int) -> list[float]:
    """Axis-aligned box of points along the edges of `box` moved by the curl, then the homography m."""
    if curl is None:
        return transform_box(box, m, w, h)
    xs, ys = curl.forward(*_edge_points(box))
    if m is not None:
        pts = np.stack([xs, ys, np.ones_like(xs)], axis=1) @ m.T
        xs, ys = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
    return [
        round(float(np.clip(xs.min(), 0, w)), 1),
        round(float(np.clip(ys.min(), 0, h)), 1),
        round(float(np.clip(xs.max(), 0, w)), 1),
        round(float(np.clip(ys.max(), 0, h)), 1),
    ]


def turn_box(box: Sequence[float], quarter: int, w: int, h: int) -> list[float]:
    """A box of a w × h page after the page is turned clockwise by `quarter` quarter turns."""
    x0, y0, x1, y1 = box
    k = quarter % 4
    if k == 1:
        return [h - y1, x0, h - y0, x1]
    if k == 2:
        return [w - x1, h - y1, w - x0, h - y0]
    if k == 3:
        return [y0, w - x1, y1, w - x0]
    return [x0, y0, x1, y1]


def transform_box(box: Sequence[float], m: np.ndarray | None, w: int, h: int) -> list[float]:
    """Axis-aligned box of the four corners of `box` moved by the homography m, clipped to w x h."""
    x0, y0, x1, y1 = box
    if m is None:
        xs, ys = np.array([x0, x1]), np.array([y0, y1])
    else:
        pts = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x1, y1, 1.0], [x0, y1, 1.0]]) @ m.T
        xs, ys = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
    return [
        round(float(np.clip(xs.min(), 0, w)), 1),
        round(float(np.clip(ys.min(), 0, h)), 1),
        round(float(np.clip(xs.max(), 0, w)), 1),
        round(float(np.clip(ys.max(), 0, h)), 1),
    ]


# ----------------------------------------------------------------------------- degradation


def _illumination(h: int, w: int, strength: float, rng: random.Random) -> np.ndarray:
    import cv2

    gh, gw = 32, max(8, int(32 * w / h))
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    yy /= gh - 1
    xx /= gw - 1
    a = rng.uniform(0, 2 * math.pi)
    lin = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a)
    lin = (lin - lin.min()) / max(1e-6, float(lin.max() - lin.min()))
    cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
    rad = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    rad = rad / max(1e-6, float(rad.max()))
    mix = rng.uniform(0.2, 0.8)
    dark = mix * lin + (1 - mix) * rad**2
    field_small = 1.0 - strength * dark / max(1e-6, float(dark.max()))
    return cv2.resize(field_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def degrade(  # noqa: C901 - the scan defects applied in the order a scanner makes them, each optional
    img: Image.Image,
    params: ScanParams,
    rng: random.Random,
    boxes: dict[str, list[float]] | None = None,
    stamp_text: str = "",
    extra_boxes: dict[str, list[float]] | None = None,
) -> tuple[Image.Image, dict[str, list[float]], dict[str, Any], bytes, str]:
    """Degrade one rendered page like a scan.

    `boxes` are pixel boxes of `img` (top-left origin); returns (image, moved boxes, info, encoded
    bytes, "jpeg" | "png"). `extra_boxes` move along the same way (returned among the moved boxes)
    but draw no stamp. Deterministic for the state of `rng`.
    """
    import cv2

    nprng = np.random.default_rng(rng.getrandbits(64))
    arr = np.array(img.convert("RGB"))
    h, w = arr.shape[:2]
    boxes = boxes or {}
    info: dict[str, Any] = {"rotation": round(params.rotation, 3), "stamps": []}

    # 1. stamps (ink on the paper): centred on a value cell or on some other ink
    for _ in range(params.stamps):
        radius = int(params.dpi / 25.4 * rng.uniform(17, 22))
        if boxes and rng.random() < 0.5:
            bx = boxes[rng.choice(sorted(boxes))]
            cx, cy = int((bx[0] + bx[2]) / 2), int((bx[1] + bx[3]) / 2)
        else:
            dark = np.argwhere(arr[::8, ::8, 0] < 128)
            if len(dark):
                py, px = dark[rng.randrange(len(dark))] * 8
                cx, cy = int(px), int(py)
            else:
                cx, cy = rng.randint(radius, w - radius), rng.randint(radius, h - radius)
        cx += rng.randint(-radius // 3, radius // 3)
        cy += rng.randint(-radius // 3, radius // 3)
        color = (rng.randint(190, 235), rng.randint(15, 60), rng.randint(20, 60))
        mask = make_stamp(radius, stamp_text, rng, nprng) * rng.uniform(0.75, 0.95)
        _blend_stamp(arr, mask, cx, cy, color)
        covered = sorted(
            cid
            for cid, b in boxes.items()
            if (max(b[0], min(cx, b[2])) - cx) ** 2 + (max(b[1], min(cy, b[3])) - cy) ** 2 <= radius**2
        )
        info["stamps"].append({"center": [cx, cy], "radius": radius, "cells": covered})

    if params.header:
        _print_header(arr, params)

    if params.gray or params.binarize:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)

    # 2. geometry: one homography for rotation, shift and perspective (and, for a photographed
    # page, the curl and the desk around it: one remap)
    every = {**boxes, **(extra_boxes or {})}
    curl: Curl | None = None
    if params.background or params.keystone or params.curl:
        m = _scene_homography(w, h, params, rng)
        curl = Curl.draw(w, h, params.curl, rng) if params.curl else None
        desk = rng.randint(70, 150)
        tint = (desk, int(desk * rng.uniform(0.8, 0.95)), int(desk * rng.uniform(0.6, 0.85)))
        border = tint if arr.ndim == 3 else desk
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        pts = np.stack([xx.ravel(), yy.ravel(), np.ones(h * w, np.float32)], axis=1) @ np.linalg.inv(m).T.astype(
            np.float32
        )
        del xx, yy
        cx, cy = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
        del pts
        if curl is not None:
            cx, cy = curl.inverse(cx, cy)
        arr = cv2.remap(
            arr,
            cx.reshape(h, w).astype(np.float32),
            cy.reshape(h, w).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )
        del cx, cy
    else:
        m = _homography(w, h, params, rng)
        if m is not None:
            border = (255, 255, 255) if arr.ndim == 3 else 255
            arr = cv2.warpPerspective(
                arr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
            )
    moved = {cid: move_box(b, curl, m, w, h) for cid, b in every.items()}
    info["matrix"] = None if m is None else m.tolist()  # page pixels -> scan pixels (3 x 3 homography)
    if curl is not None:
        info["curl"] = {k: round(float(v), 3) for k, v in asdict(curl).items()}

    # 3. optics
    if params.blur > 0:
        arr = cv2.GaussianBlur(arr, (0, 0), params.blur)
    if params.motion > 0:
        arr = _motion_blur(arr, params.motion, rng)

    # 4. tone: contrast loss, uneven illumination, sensor noise
    if params.contrast or params.illumination or params.noise:
        # out = (arr * (hi - lo) / 255 + lo) * light + noise, as one gain and one offset per pixel
        lo = 255.0 * params.contrast * rng.uniform(0.8, 1.2)
        hi = 255.0 * (1.0 - params.contrast * rng.uniform(0.2, 0.5))
        light = _illumination(h, w, params.illumination, rng) if params.illumination else None
        if params.shadow:
            shade = _shadow(h, w, params.shadow, rng)
            light = shade if light is None else light * shade
        gain = np.float32((hi - lo) / 255.0) * (light if light is not None else np.float32(1.0))
        offset = np.float32(lo) * (light if light is not None else np.ones((h, w), np.float32))
        if params.noise:
            offset = offset + nprng.standard_normal((h, w), dtype=np.float32) * np.float32(params.noise)
        gain = np.broadcast_to(gain, (h, w))
        buf = np.empty((h, w), np.float32)
        channels = [arr] if arr.ndim == 2 else [np.ascontiguousarray(arr[:, :, c]) for c in range(3)]
        done = []
        for ch in channels:
            np.multiply(ch, gain, out=buf)
            np.add(buf, offset, out=buf)
            np.clip(buf, 0, 255, out=buf)
            done.append(buf.astype(np.uint8))
        arr = done[0] if arr.ndim == 2 else np.dstack(done)
    if params.salt_pepper:
        k = int(params.salt_pepper * h * w)
        ys = nprng.integers(0, h, k)
        xs = nprng.integers(0, w, k)
        arr[ys[: k // 2], xs[: k // 2]] = 0
        arr[ys[k // 2 :], xs[k // 2 :]] = 255

    # 5. output
    dpi = (params.dpi, params.ydpi)
    buf = io.BytesIO()
    if params.binarize:
        if params.threshold is not None:  # a fax: one fixed level (a grey fill drops to white)
            arr = np.where(arr < params.threshold, 0, 255).astype(np.uint8)
        else:
            block = int(params.dpi * 0.2) | 1
            arr = cv2.adaptiveThreshold(arr, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
        if params.streaks or params.dropouts:
            _fax_lines(arr, params, rng)
    if params.quarter % 4:
        arr = np.ascontiguousarray(np.rot90(arr, -(params.quarter % 4)))
        moved = {cid: turn_box(b, params.quarter, w, h) for cid, b in moved.items()}
        info["quarter"] = params.quarter % 4
    if params.binarize:
        out = Image.fromarray(arr).convert("1")
        out.save(buf, "PNG", dpi=dpi, optimize=False)
        fmt = "png"
    else:
        out = Image.fromarray(arr)
        if params.jpeg_quality:
            out.save(buf, "JPEG", quality=params.jpeg_quality, dpi=dpi)
            out = Image.open(io.BytesIO(buf.getvalue()))
            out.load()
            fmt = "jpeg"
        else:
            out.save(buf, "PNG", dpi=dpi, compress_level=3)
            fmt = "png"
    return out, moved, info, buf.getvalue(), fmt


def _print_header(arr: np.ndarray, p: ScanParams) -> None:
    """The sending fax machine's line (date, number, page) along the top of the page."""
    size = max(8, int(p.dpi * 0.09))
    font = _stamp_font(size)
    if font is None:
        return
    im = Image.fromarray(arr)
    ImageDraw.Draw(im).text((int(p.dpi * 0.35), int(p.dpi * 0.12)), p.header, fill=(0, 0, 0), font=font)
    arr[:] = np.asarray(im)


def _motion_blur(arr: np.ndarray, length: float, rng: random.Random) -> np.ndarray:
    import cv2

    n = max(3, round(length) | 1)
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return cv2.filter2D(arr, -1, k / max(1e-6, float(k.sum())))


def _shadow(h: int, w: int, strength: float, rng: random.Random) -> np.ndarray:
    """A soft cast shadow (the phone or a hand between the lamp and the page): a half-plane with a
    blurred edge through a random point, darkening by `strength` at its darkest."""
    gh, gw = 64, max(16, int(64 * w / h))
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    px, py = rng.uniform(0.2, 0.8) * gw, rng.uniform(0.2, 0.8) * gh
    d = (xx - px) * math.cos(a) + (yy - py) * math.sin(a)
    soft = rng.uniform(0.03, 0.12) * max(gh, gw)
    inside = 1.0 / (1.0 + np.exp(-d / soft))
    import cv2

    small = (1.0 - strength * inside).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _fax_lines(arr: np.ndarray, p: ScanParams, rng: random.Random) -> None:
    """Fax transmission faults on a 1-bit page (0/255), in place: dark horizontal streaks along part
    of the width, and scan lines lost (white) over a stretch."""
    h, w = arr.shape[:2]
    for _ in range(p.streaks):
        y = rng.randrange(h)
        x0 = rng.randrange(w // 2)
        x1 = rng.randrange(x0 + w // 4, w + 1)
        arr[y : y + rng.choice([1, 1, 2]), x0:x1] = 0
    for _ in range(int(p.dropouts * h)):
        y = rng.randrange(h)
        x0 = rng.randrange(w)
        arr[y, x0 : x0 + rng.randint(w // 20, w // 3)] = 255


def scan_pdf(
    pdf: bytes,
    boxes: dict[str, dict[str, Any]] | None,
    rng: random.Random,
    preset: str = "moderate",
    stamp_text: str = "",
    pages: Sequence[int] | None = None,
    params: Sequence[ScanParams] | None = None,
    rotate: float = 0.0,
) -> Scan:
    """Scan the pages of a PDF (0-based `pages`, all by default) with a preset.

    `boxes` are the truth boxes of `render_pdf` (1-based page, PDF points, top-left origin); the
    result's boxes are in pixels of the degraded page images, with pages renumbered 1.. over the
    scanned pages. `params` (one per page) overrides the preset. `rotate`: the share of pages fed
    sideways or upside down (each turned by 90°, 180° or 270°, `ScanParams.quarter`); 0 draws
    nothing from `rng`.
    """
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    n = len(doc)
    doc.close()
    idx = list(range(n)) if pages is None else list(pages)
    plist = list(params) if params is not None else document_params(rng, preset, len(idx))
    if rotate > 0:
        for p in plist:
            if rng.random() < rotate:
                p.quarter = rng.choice([1, 2, 3])
    boxes = boxes or {}
    out_pages: list[ScannedPage] = []
    out_boxes: dict[str, dict[str, Any]] = {}
    page_info = []
    for k, (pi, p) in enumerate(zip(idx, plist, strict=True)):
        img = render_pages(pdf, p.dpi, [pi])[0]
        s = p.dpi / 72.0
        mine = {cid: b for cid, b in boxes.items() if b["page"] == pi + 1}
        px = {cid: _scale_box(b["bbox"], s, s) for cid, b in mine.items()}
        tx = {_TEXT + cid: _scale_box(b["text_bbox"], s, s) for cid, b in mine.items() if b.get("text_bbox")}
        how = p
        if p.ydpi != p.dpi:
            # anisotropic pixels (a standard-mode fax): a page fed sideways is turned before it is
            # sampled, so the stored image keeps the machine's (horizontal, vertical) resolution
            if p.quarter % 4:
                w0, h0 = img.size
                img = Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(img), -(p.quarter % 4))))
                px = {c: turn_box(b, p.quarter, w0, h0) for c, b in px.items()}
                tx = {c: turn_box(b, p.quarter, w0, h0) for c, b in tx.items()}
                how = replace(p, quarter=0)
            r = p.ydpi / p.dpi
            img = img.resize((img.width, max(1, round(img.height * r))), Image.Resampling.BOX)
            px = {c: _scale_box(b, 1.0, r) for c, b in px.items()}
            tx = {c: _scale_box(b, 1.0, r) for c, b in tx.items()}
        im, moved, info, data, fmt = degrade(img, how, rng, px, stamp_text, extra_boxes=tx)
        if how is not p:
            info["quarter"] = p.quarter % 4
        for cid, b in moved.items():
            if not cid.startswith(_TEXT):
                out_boxes[cid] = {"page": k + 1, "bbox": b, "text_bbox": None}
        for cid, b in moved.items():
            if cid.startswith(_TEXT):
                out_boxes[cid[len(_TEXT) :]]["text_bbox"] = b
        info["params"] = asdict(p)
        page_info.append(info)
        out_pages.append(ScannedPage(im, data, fmt, p, info))
    dpi = plist[0].dpi if plist else 200
    summary = {
        "preset": preset if params is None else "custom",
        "dpi": dpi,
        "rotation": [pg["rotation"] for pg in page_info],
        **({"quarter": [pg.get("quarter", 0) for pg in page_info]} if any(p.quarter % 4 for p in plist) else {}),
        **({"dpi_y": plist[0].ydpi} if plist and plist[0].ydpi != dpi else {}),
        "gray": bool(plist and plist[0].gray),
        "binarized": bool(plist and plist[0].binarize),
        "jpeg_quality": plist[0].jpeg_quality if plist else None,
        "stamps": [{"page": i + 1, **st} for i, pg in enumerate(page_info) for st in pg["stamps"]],
        "units": "px",
    }
    return Scan(out_pages, out_boxes, dpi, summary["preset"], summary)


_TEXT = "\x00text:"  # key prefix of the printed-text boxes moved along with the cell boxes


def _scale_box(box: Sequence[float], sx: float, sy: float) -> list[float]:
    return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]


def page_dpi(page: ScannedPage) -> tuple[int, int]:
    """(horizontal, vertical) dpi of a scanned page as stored."""
    return page.params.dpi, page.params.ydpi


# ----------------------------------------------------------------------------- containers


def _images(scan_or_images: Scan | Sequence[Image.Image]) -> list[Image.Image]:
    if isinstance(scan_or_images, Scan):
        return [p.image for p in scan_or_images.pages]
    return list(scan_or_images)


def to_tiff(scan_or_images: Scan | Sequence[Image.Image], dpi: int | None = None) -> bytes:
    """A multi-page TIFF: JPEG-compressed colour/grey pages, CCITT G4 for binarised ones."""
    ims = _images(scan_or_images)
    xy: tuple[int, int]
    if dpi is not None:
        xy = (dpi, dpi)
    elif isinstance(scan_or_images, Scan) and scan_or_images.pages:
        xy = page_dpi(scan_or_images.pages[0])  # a document's pages share their resolution
    else:
        xy = (200, 200)
    quality = 75
    if isinstance(scan_or_images, Scan) and scan_or_images.pages and scan_or_images.pages[0].params.jpeg_quality:
        quality = max(75, scan_or_images.pages[0].params.jpeg_quality)
    if all(im.mode == "1" for im in ims):
        ims = [im.copy() for im in ims]  # fresh objects: an earlier save's encoderinfo breaks libtiff
        kw: dict[str, Any] = {"compression": "group4"}
    else:
        ims = [im.copy() if im.mode in ("RGB", "L") else im.convert("L") for im in ims]
        kw = {"compression": "jpeg", "quality": quality}
    buf = io.BytesIO()
    ims[0].save(buf, "TIFF", save_all=True, append_images=ims[1:], dpi=xy, **kw)
    return buf.getvalue()


def to_pdf(scan_or_images: Scan | Sequence[Image.Image], dpi: int | None = None) -> bytes:
    """An image-only PDF (no text layer), one page per image at its scan size (pixels * 72 / dpi).

    Pages of a `Scan` that are JPEG go in as they are (DCTDecode, no re-encoding); others are
    Flate-compressed samples (1-bit for binarised pages).
    """
    if isinstance(scan_or_images, Scan):
        items = [
            (p.image, p.data if p.format == "jpeg" else None, (dpi, dpi) if dpi else page_dpi(p))
            for p in scan_or_images.pages
        ]
    else:
        items = [(im, None, (dpi or 200, dpi or 200)) for im in scan_or_images]
    objs: list[bytes] = []  # object n+1 at objs[n]

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"")  # pages, filled below
    kids = []
    for im, jpeg, (xdpi, ydpi) in items:
        mode = im.mode
        if jpeg is not None:
            data, filt = jpeg, b"/DCTDecode"
            cs, bpc = (b"/DeviceGray" if mode == "L" else b"/DeviceRGB"), 8
        elif mode == "1":
            data, filt, cs, bpc = zlib.compress(im.tobytes(), 6), b"/FlateDecode", b"/DeviceGray", 1
        else:
            im = im.convert("L" if mode in ("L", "LA", "I", "F") else "RGB")
            cs = b"/DeviceGray" if im.mode == "L" else b"/DeviceRGB"
            data, filt, bpc = zlib.compress(im.tobytes(), 6), b"/FlateDecode", 8
        w, h = im.size
        img_id = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent %d "
            b"/Filter %s /Length %d >>\nstream\n" % (w, h, cs, bpc, filt, len(data)) + data + b"\nendstream"
        )
        pw, ph = w * 72.0 / xdpi, h * 72.0 / ydpi
        content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (pw, ph)
        c_id = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        page_id = add(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Resources << /XObject << /Im0 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (pw, ph, img_id, c_id)
        )
        kids.append(page_id)
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def to_png(image: Image.Image, dpi: int = 200) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(dpi, dpi))
    return buf.getvalue()
