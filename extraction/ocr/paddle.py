"""Optional OCR engine: PaddleOCR (PP-OCR models run by PaddlePaddle) from local model folders.

Not installed with gongkai: `paddleocr` + `paddlepaddle` (~1.5 GB) downgrade numpy and replace
opencv-python-headless with opencv-contrib in the environment they are installed into, so they
belong in an environment of their own (see docs/paddleocr.md). The package is imported only when
this engine is chosen (`OcrOptions(engine="paddleocr", det_model_dir=..., rec_model_dir=...)`).

It never downloads: both model folders must be given and complete (`inference.yml` plus
`inference.json`/`inference.pdmodel` + `inference.pdiparams`, or `inference.onnx`), the document
orientation, unwarping and text-line orientation models are switched off (they would be
fetched), and PaddleX's model-hoster check is disabled. A missing package or folder is a clear
`OcrUnavailable`, raised when the engine is built.

PaddleOCR gives one score per text line, not per character: alternatives of low-confidence
numeric tokens come from the confusion table (`extraction.ocr.base.DIGIT_CONFUSIONS`).
"""

from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path

import numpy as np

from extraction.errors import OcrUnavailable
from extraction.ocr.base import (
    OcrEngine,
    OcrOptions,
    OcrTimeout,
    OcrToken,
    PaddleOcrOptions,
    as_bgr,
    as_digits,
    available_cpus,
    confusion_alternatives,
    numeric_like,
)

_MODEL_NAME = re.compile(r"^\s*model_name\s*:\s*['\"]?([\w.\-]+)", re.M)
INSTALL_HINT = (
    "install it in an environment of its own: pip install paddlepaddle paddleocr (see docs/paddleocr.md), "
    "or use the embedded default engine 'rapidocr'"
)


def check_model_dir(path: Path | None, kind: str) -> Path:
    """A complete local PaddleOCR model folder, or OcrUnavailable saying what is missing."""
    if path is None:
        raise OcrUnavailable(
            f"the paddleocr engine needs a local {kind} model folder (OcrOptions.{kind[:3]}_model_dir); "
            "gongkai never downloads models: see docs/paddleocr.md"
        )
    path = Path(path).expanduser()
    if not path.is_dir():
        raise OcrUnavailable(f"the {kind} model folder {path} does not exist")
    if not (path / "inference.yml").is_file():
        raise OcrUnavailable(f"the {kind} model folder {path} has no inference.yml")
    has_paddle = (path / "inference.pdiparams").is_file() and any(
        (path / name).is_file() for name in ("inference.json", "inference.pdmodel")
    )
    if not has_paddle and not (path / "inference.onnx").is_file():
        raise OcrUnavailable(
            f"the {kind} model folder {path} holds no model (inference.json/.pdmodel + inference.pdiparams, "
            "or inference.onnx)"
        )
    return path


def model_name(path: Path, configured: str | None) -> str | None:
    """The model's name: as configured, else the one its inference.yml declares."""
    if configured:
        return configured
    try:
        m = _MODEL_NAME.search((path / "inference.yml").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return m.group(1) if m else None


class PaddleOcrEngine(OcrEngine):
    name = "paddleocr"

    @property
    def paddle(self) -> PaddleOcrOptions:
        """This engine's own options (the defaults when the options name another engine)."""
        own = self.options.engine
        return own if isinstance(own, PaddleOcrOptions) else PaddleOcrOptions()

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        det_dir = check_model_dir(options.engine.det_model_dir, "detection")
        rec_dir = check_model_dir(options.engine.rec_model_dir, "recognition")
        # PaddleX probes model hosters at import unless told not to: gongkai runs offline.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        try:
            paddleocr = importlib.import_module("paddleocr")
        except ModuleNotFoundError as exc:
            raise OcrUnavailable(f"the paddleocr engine needs the package {exc.name!r}: {INSTALL_HINT}") from None
        except ImportError as exc:
            raise OcrUnavailable(f"paddleocr cannot be imported ({exc}): {INSTALL_HINT}") from None
        kwargs = {
            "text_detection_model_name": model_name(det_dir, self.paddle.det_model_name),
            "text_detection_model_dir": str(det_dir),
            "text_recognition_model_name": model_name(rec_dir, self.paddle.rec_model_name),
            "text_recognition_model_dir": str(rec_dir),
            "use_doc_orientation_classify": False,
            "use_doc_unwarping": False,
            "use_textline_orientation": False,
            "text_det_limit_side_len": options.engine.det_limit_side,
            "text_det_limit_type": "max",
            "device": "cpu",
            "cpu_threads": options.schedule.threads or available_cpus(),
        }
        try:
            self._ocr = paddleocr.PaddleOCR(**kwargs)
        except Exception as exc:  # paddle raises many kinds: a model it cannot load is a set-up problem
            raise OcrUnavailable(f"PaddleOCR could not load the models in {det_dir} and {rec_dir}: {exc}") from None
        self.version = f"{getattr(paddleocr, '__version__', '3')}+{kwargs['text_detection_model_name']}+" + str(
            kwargs["text_recognition_model_name"]
        )

    def __call__(self, image: np.ndarray, page: int, *, deadline: float | None = None) -> list[OcrToken]:
        self.check_deadline(deadline)
        results = self._ocr.predict(as_bgr(image))
        if deadline is not None and time.monotonic() > deadline:
            raise OcrTimeout("the page's OCR time limit was reached")
        tokens: list[OcrToken] = []
        for res in results or []:
            data = _result_dict(res)
            texts = list(data.get("rec_texts") or [])
            scores = list(data.get("rec_scores") or [])
            polys = data.get("rec_polys")
            if polys is None:
                polys = data.get("dt_polys")
            polys = list(polys) if polys is not None else []
            for text, score, poly in zip(texts, scores, polys, strict=False):
                text = str(text)
                score = float(score)
                if not text.strip() or score < self.options.engine.min_confidence:
                    continue
                pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
                if len(pts) != 4:
                    x0, y0 = pts.min(axis=0)
                    x1, y1 = pts.max(axis=0)
                    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
                quad = tuple((float(x), float(y)) for x, y in pts)
                bbox = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
                alternatives: list[tuple[str, float]] = []
                if numeric_like(text):
                    text = as_digits(text)
                    alternatives = confusion_alternatives(
                        text, score, self.options.engine.alternative_threshold, self.options.engine.max_alternatives
                    )
                tokens.append(OcrToken(text, quad, bbox, score, alternatives))  # type: ignore[arg-type]
        return tokens


def _result_dict(res) -> dict:
    """The fields of one PaddleOCR 3.x result (a dict subclass; older builds nest them in .json)."""
    if isinstance(res, dict) and "rec_texts" in res:
        return res
    payload = getattr(res, "json", None)
    if isinstance(payload, dict):
        return payload.get("res", payload)
    return dict(res) if isinstance(res, dict) else {}
