"""OCR engine contract: a page image → positioned text tokens with confidences and alternatives.

An engine is loaded once (models are expensive) and called per page:
`engine(image, page) -> list[OcrToken]`, boxes in the pixel coordinates of the image it was given.
Page preparation (deskew, orientation) happens before, in `extraction.ocr.prep`; table geometry
after, in `extraction.pages.geometry`.

Engines are chosen by `OcrOptions.engine.kind` (each engine's own options beside it) and built with
`load_engine(options)`, which caches one engine per configuration (`engine_key`). Nothing here downloads anything: the default engine (`rapidocr`) runs the
PP-OCR ONNX models shipped inside the rapidocr wheel; `paddleocr` runs from local model folders.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from extraction.document import BBox
from extraction.errors import OcrUnavailable

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass
class OcrToken:
    """One recognised piece of text (a detected text box).

    `quad` is the box as the detector found it (top-left, top-right, bottom-right, bottom-left) and
    `bbox` its axis-aligned hull (x0, y0, x1, y1), both in pixels of the image the engine was given.
    `alternatives` are other readings of the whole text with their scores, best first (for numeric
    tokens: the likely digit confusions). `chars`, when the engine can tell, holds each character's
    horizontal extent (x0, x1) in image pixels, so the layout can cut a box that spans two cells;
    `core` the text's own box (detectors pad their boxes around the ink).
    """

    text: str
    quad: Quad
    bbox: BBox
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    chars: list[tuple[float, float]] | None = None
    char_scores: list[float] | None = None
    core: BBox | None = None  # the text's own box (the detector's padding removed), when the engine knows it


class OcrTimeout(Exception):
    """An OCR call ran past its deadline (the page is recorded as failed, the document goes on)."""


class _EngineOptions(BaseModel):
    """What every OCR engine reads: its models and how it turns their output into tokens."""

    det_model_dir: Path | None = Field(
        default=None,
        description="paddleocr: folder of the text detection model (inference.yml + inference.json/.pdiparams "
        "or inference.onnx). rapidocr: an ONNX file or folder to use instead of the packaged detector",
    )
    rec_model_dir: Path | None = Field(
        default=None,
        description="paddleocr: folder of the text recognition model. rapidocr: an ONNX file or folder to use "
        "instead of the packaged recogniser (it must carry its character list in its metadata)",
    )
    det_limit_side: int = Field(
        default=1280,
        ge=320,
        le=4096,
        description="The detector sees the page scaled so that its longer side is at most this many pixels "
        "(recognition always reads crops of the full-resolution page). 1280 reads every digit of dense A4 "
        "table pages at 150-200 dpi; 960 starts to miss lone digits",
    )
    min_confidence: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Recognised texts scoring below this are dropped as noise"
    )
    alternative_threshold: float = Field(
        default=0.95,
        ge=0.0,
        le=1.0,
        description="A character of a numeric token read with less probability than this gets alternative "
        "readings (the recogniser's runner-up characters)",
    )
    max_alternatives: int = Field(default=3, ge=0, le=10, description="At most this many alternatives per token")


class RapidOcrOptions(_EngineOptions):
    """The embedded engine: PP-OCR ONNX models shipped in the rapidocr wheel (works offline)."""

    kind: Literal["rapidocr"] = "rapidocr"
    rec_batch_width: int = Field(
        default=2400,
        ge=64,
        description="Recognition batches hold text crops of similar width up to this many pixels "
        "(at 48 px height) in total",
    )
    det_thresh: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Detector: a pixel is text when its probability exceeds this"
    )
    det_box_thresh: float = Field(
        default=0.3,
        gt=0.0,
        lt=1.0,
        description="Detector: a box is kept when its mean probability exceeds this (lower finds faint lone "
        "digits on noisy scans; 0.3 finds every digit of heavy synthetic scans, 0.5 misses some)",
    )


class PaddleOcrOptions(_EngineOptions):
    """PaddleOCR (optional extra) from local model folders, see docs/paddleocr.md."""

    kind: Literal["paddleocr"] = "paddleocr"
    det_model_name: str | None = Field(
        default=None,
        description="paddleocr: the model name of det_model_dir (e.g. 'PP-OCRv5_server_det'); "
        "default: read from the folder's inference.yml",
    )
    rec_model_name: str | None = Field(
        default=None,
        description="paddleocr: the model name of rec_model_dir (e.g. 'PP-OCRv5_server_rec'); "
        "default: read from the folder's inference.yml",
    )


OcrEngineOptions = Annotated[RapidOcrOptions | PaddleOcrOptions, Field(discriminator="kind")]


class PagePrepOptions(BaseModel):
    """How a page image is prepared before OCR (and how a scanned PDF page is rendered)."""

    dpi: int = Field(default=200, ge=72, le=600, description="Resolution at which scanned PDF pages are rendered")
    normalize_contrast: bool = Field(
        default=True, description="Stretch a faded page's grey levels to the full range before OCR"
    )
    flatten_photos: bool = Field(
        default=True,
        description="Flatten a page photographed on a desk (its outline found): perspective, curl and shadow "
        "undone before OCR (extraction/ocr/dewarp.py); scans, faxes and renders are left as they are",
    )
    deskew: bool = Field(default=True, description="Estimate and undo page skew (up to max_skew_deg) before OCR")
    max_skew_deg: float = Field(default=5.0, ge=0.0, le=15.0, description="Largest skew angle searched, in degrees")
    min_text_height_px: float = Field(
        default=18.0,
        ge=0.0,
        le=64.0,
        description="A page image whose text (glyph height) is smaller than this many pixels is enlarged "
        "before OCR (a photo or a 110-150 dpi scan; the 200 dpi scans that read at 99.7 % have table text "
        "19-20 px tall). 0 turns it off",
    )
    max_upscale: float = Field(
        default=2.5, ge=1.0, le=4.0, description="The most a page image is enlarged for min_text_height_px"
    )
    orientation: bool = Field(
        default=True, description="Detect pages turned by 90/180/270 degrees and read them upright"
    )
    orientation_unread_share: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="A page where more than this share of its glyphs lie outside every text OCR read is "
        "suspected to lie on its side and is also read turned by 90° and by 270° (an upright page reads "
        "over 90 % of its glyphs, one on its side about a third)",
    )
    orientation_margin: float = Field(
        default=2.0,
        ge=1.0,
        description="A turned reading replaces the first one only when it reads at least this many times as "
        "much confident Chinese in words (3+ characters): the right turn reads 20-50x more than a wrong one",
    )
    recover_missed: bool = Field(
        default=True,
        description="Read glyph-sized ink that the text detector left uncovered (lone small figures) "
        "and keep what reads as a number",
    )
    binarize: bool = Field(default=False, description="Binarise the page (adaptive threshold) before OCR")
    denoise: bool = Field(
        default=True,
        description="Median-filter (3×3) speckle noise before OCR: on noisy scans the detector otherwise misses "
        "lone digits (20 of 35 found on a heavy synthetic scan without it, 35 with it)",
    )


class OcrScheduleOptions(BaseModel):
    """How OCR shares the machine."""

    threads: int = Field(
        default=0, ge=0, le=256, description="CPU threads for the OCR engine (0: all cores of the machine)"
    )
    pages_in_flight: int = Field(
        default=2,
        ge=1,
        le=8,
        description="Pages whose OCR runs at once: the next page is read while the previous one finishes "
        "(its single-threaded steps leave a core idle). 1 reads one page at a time; each more holds one "
        "more page image in memory",
    )


class OcrLimits(BaseModel):
    """What one page may cost: past these a page fails (or an image is refused); the document goes on."""

    page_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="A page whose rendering + OCR + layout takes longer is abandoned: it is listed in "
        "PageInfo.error and the other pages are still read",
    )
    max_image_pixels: int = Field(
        default=60_000_000,
        ge=1_000_000,
        description="Images (and rendered pages) with more pixels are refused as a pixel bomb (InputTooLarge); "
        "rendered PDF pages are scaled down to stay under it",
    )


_GROUPS: dict[str, tuple[str, ...]] = {
    "engine": (*RapidOcrOptions.model_fields, *PaddleOcrOptions.model_fields),
    "page": tuple(PagePrepOptions.model_fields),
    "schedule": tuple(OcrScheduleOptions.model_fields),
    "limits": tuple(OcrLimits.model_fields),
}
# flat name (the options as they were before the split, still accepted and readable) -> its group
_FLAT: dict[str, str] = {name: group for group, names in _GROUPS.items() for name in names if name != "kind"}
# an engine's own option read on options that name the other engine: its default
_ENGINE_DEFAULTS: dict[str, Any] = {
    name: f.default for model in (PaddleOcrOptions, RapidOcrOptions) for name, f in model.model_fields.items()
}


class OcrOptions(BaseModel):
    """How pages without a usable text layer (scans, images) are read: the engine (`engine.kind`
    picks it; each engine's own options beside it), page preparation, scheduling and limits.

    The flat names of before the split (`OcrOptions(threads=2, dpi=300, engine="paddleocr")`,
    `options.page_timeout_s`) are still accepted and read through to their group."""

    engine: OcrEngineOptions = Field(
        default_factory=RapidOcrOptions,
        description="OCR engine and its options: kind 'rapidocr' (embedded PP-OCR ONNX models shipped in the "
        "rapidocr wheel; works offline) or 'paddleocr' (optional extra; needs local model folders, see "
        "docs/paddleocr.md)",
    )
    page: PagePrepOptions = Field(default_factory=PagePrepOptions)
    schedule: OcrScheduleOptions = Field(default_factory=OcrScheduleOptions)
    limits: OcrLimits = Field(default_factory=OcrLimits)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Flat names go to their group; `engine="paddleocr"` names the engine's kind."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        engine = data.get("engine")
        if isinstance(engine, str):
            data["engine"] = {"kind": engine}
        for name in [k for k in data if k in _FLAT]:
            group = _FLAT[name]
            target = data.get(group)
            if isinstance(target, BaseModel):
                target = target.model_dump()
            target = dict(target or {})
            if group == "engine":
                target.setdefault("kind", "rapidocr")
            target[name] = data.pop(name)
            data[group] = target
        return data

    def __getattr__(self, name: str) -> Any:
        # the flat names of before the split, read through to their group
        group = _FLAT.get(name)
        if group is None:
            return super().__getattr__(name)  # type: ignore[misc]
        return getattr(getattr(self, group), name, _ENGINE_DEFAULTS.get(name))

    def __setattr__(self, name: str, value: Any) -> None:
        group = _FLAT.get(name)
        if group is None:
            super().__setattr__(name, value)
        else:
            setattr(getattr(self, group), name, value)


class OcrEngine(ABC):
    """A page image (H×W RGB or H×W gray, uint8) → tokens in that image's pixel coordinates."""

    name: str = ""
    version: str = ""

    def __init__(self, options: OcrOptions) -> None:
        self.options = options

    @abstractmethod
    def __call__(self, image: np.ndarray, page: int, *, deadline: float | None = None) -> list[OcrToken]:
        """Read one page. `deadline` (time.monotonic()) makes a long page raise OcrTimeout."""

    def read_boxes(
        self, image: np.ndarray, boxes: list[tuple[float, float, float, float]], page: int, *, deadline=None
    ) -> list[OcrToken]:
        """Recognise the text inside given boxes (x0, y0, x1, y1) of a page, skipping detection;
        engines that cannot return []."""
        return []

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @staticmethod
    def check_deadline(deadline: float | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise OcrTimeout("the page's OCR time limit was reached")


def as_bgr(image: np.ndarray) -> np.ndarray:
    """The image as 3-channel BGR (what PP-OCR models were trained on)."""
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the host's core count)."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 16))


# ---------------------------------------------------------------------------------------------
# Digits: look-alike glyphs and the usual confusions of printed digits

# Latin and CJK look-alikes read as digits inside a digit run (1O0 → 100, I2 → 12).
LOOKALIKE_DIGITS = {
    "O": "0",
    "o": "0",
    "D": "0",
    "Q": "0",
    "〇": "0",
    "I": "1",
    "l": "1",
    "|": "1",
    "i": "1",
    "!": "1",
    "Z": "2",
    "z": "2",
    "S": "5",
    "s": "5",
    "B": "8",
    "b": "6",
    "G": "6",
    "g": "9",
    "q": "9",
}
DIGITS = frozenset("0123456789")

# Printed digits an OCR engine confuses, most frequent first. Used for the alternatives of
# low-confidence numeric tokens when an engine cannot give per-character probabilities
# (the embedded engine uses its recogniser's own runner-up digits instead).
DIGIT_CONFUSIONS: dict[str, str] = {
    "0": "86",
    "1": "74",
    "2": "7",
    "3": "85",
    "4": "1",
    "5": "63",
    "6": "85",
    "7": "1",
    "8": "036",
    "9": "0",
}


def numeric_like(text: str) -> bool:
    """A token that reads as a number: digits (some maybe look-alike letters), separators, sign."""
    core = text.strip().replace(",", "").replace(".", "").replace(" ", "").lstrip("+-")
    if not core or len(core) > 16:
        return False
    digits = sum(c in DIGITS for c in core)
    look = sum(c in LOOKALIKE_DIGITS for c in core)
    if digits + look != len(core):
        return False
    return digits > 0 or (len(core) == 1 and core in "OoIl|")


def as_digits(text: str) -> str:
    return "".join(LOOKALIKE_DIGITS.get(c, c) for c in text)


def confusion_alternatives(text: str, confidence: float, threshold: float, limit: int) -> list[tuple[str, float]]:
    """Other readings of a low-confidence numeric token by the confusion table: one digit changed
    at a time, scored below the reading itself."""
    if confidence >= threshold or not limit or not text.isdigit():
        return []
    out: list[tuple[str, float]] = []
    for rank in range(3):
        for i, c in enumerate(text):
            subs = DIGIT_CONFUSIONS.get(c, "")
            if rank < len(subs):
                alt = text[:i] + subs[rank] + text[i + 1 :]
                if alt != text and (len(alt) == 1 or alt[0] != "0"):
                    out.append((alt, round((1 - confidence) / (2 + rank), 5)))
            if len(out) >= limit:
                return out
    return out


ENGINES: dict[str, str] = {
    "rapidocr": "extraction.ocr.rapid:RapidOcrEngine",
    "paddleocr": "extraction.ocr.paddle:PaddleOcrEngine",
}

_CACHE: dict[str, OcrEngine] = {}
_CACHE_LOCK = threading.Lock()


def engine_key(options: OcrOptions) -> str:
    """What an engine is built from and reads: its own options (models, thresholds, batches) and the
    scheduling (threads, pages in flight). Two callers whose options differ there get two engines."""
    return options.engine.model_dump_json() + options.schedule.model_dump_json()


def load_engine(options: OcrOptions | None = None) -> OcrEngine:
    """The engine `options` names, loaded once per configuration (`engine_key`) and reused. The
    cached engine keeps the options it was built with: a caller never changes another's."""
    import importlib

    options = options or OcrOptions()
    key = engine_key(options)
    with _CACHE_LOCK:
        engine = _CACHE.get(key)
        if engine is None:
            target = ENGINES.get(options.engine.kind)
            if target is None:
                raise OcrUnavailable(
                    f"unknown OCR engine {options.engine.kind!r}; choose one of {', '.join(ENGINES)}"
                )
            module_name, cls_name = target.split(":")
            engine = getattr(importlib.import_module(module_name), cls_name)(options.model_copy(deep=True))
            _CACHE[key] = engine
    return engine
