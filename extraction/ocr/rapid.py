"""The embedded, offline default OCR engine: PP-OCR det + rec ONNX models run with onnxruntime.

The model files are the ones shipped *inside* the `rapidocr` wheel (`rapidocr/models/`:
PP-OCRv6 small detector and recogniser, the PP-OCRv2 mobile angle classifier). This module opens
them directly with onnxruntime and reuses only rapidocr's DB post-processing; rapidocr's own model
resolver (which downloads missing files from a hub) is never called, and while the engine loads,
rapidocr's downloader is replaced by one that raises, so a missing file is a clear `OcrUnavailable`
and never a network fetch.

Pipeline per page (all on the CPU, `OcrOptions.threads` threads):

1. detection on the page scaled to `det_limit_side` (longer side), DB post-processing;
2. crops of the *full-resolution* page, resized to 48 px height, sorted by width and batched up to
   `rec_batch_width` pixels; no angle classifier per crop (it turns upright "90" into "06": page
   orientation is decided once per page instead, see `page_orientation`);
3. CTC decoding that keeps, per character, its probability, its frames (→ its horizontal extent on
   the page) and the runner-up characters; numeric tokens get alternative readings from the
   runner-ups of their uncertain digits (1↔7, 0↔8, 6↔8 …), and Latin look-alikes in digit runs are
   read as digits (O→0, I/l→1, …).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from extraction.errors import OcrUnavailable
from extraction.ocr.base import (
    DIGITS,
    LOOKALIKE_DIGITS,
    OcrEngine,
    OcrOptions,
    OcrTimeout,
    OcrToken,
    RapidOcrOptions,
    as_bgr,
    available_cpus,
    numeric_like,
)

REC_HEIGHT = 48
FRAME_PX = 8  # the recogniser emits one CTC frame per 8 px of its 48-px-high input
LEADING_MINUS_MISREADS = frozenset(".·,_")
MIN_DIGIT_READING = 0.01  # a 1-2 glyph text token keeps its digit reading when this likely
MAX_REC_WIDTH = 48 * 60  # longer crops are squeezed (a text line wider than 60× its height)


def packaged_model_dir() -> Path:
    try:
        import rapidocr
    except ModuleNotFoundError:
        raise OcrUnavailable(
            "the embedded OCR engine needs the 'rapidocr' and 'onnxruntime' packages "
            "(pip install 'rapidocr==3.10.0' onnxruntime)"
        ) from None
    return Path(rapidocr.__file__).resolve().parent / "models"


def _model_file(configured: Path | None, packaged: str, kind: str) -> Path:
    if configured is not None:
        path = Path(configured)
        if path.is_dir():
            found = sorted(path.glob("*.onnx"))
            if len(found) != 1:
                raise OcrUnavailable(
                    f"the {kind} model folder {path} must hold exactly one .onnx file (found {len(found)})"
                )
            path = found[0]
    else:
        path = packaged_model_dir() / packaged
    if not path.is_file() or path.stat().st_size < 100_000:
        raise OcrUnavailable(
            f"the {kind} OCR model {path} is missing or truncated; gongkai never downloads models: reinstall "
            "the rapidocr wheel (it ships the models) or set OcrOptions.det_model_dir/rec_model_dir"
        )
    return path


@contextlib.contextmanager
def _no_download() -> Iterator[None]:
    """While loading, any attempt of rapidocr to fetch a file raises instead."""
    try:
        from rapidocr.utils import download_file
    except Exception:  # pragma: no cover - rapidocr layout changed: nothing to guard
        yield
        return

    def refuse(*_args, **_kwargs):
        raise OcrUnavailable("rapidocr tried to download a model file; gongkai runs offline only")

    original = download_file.DownloadFile.run
    download_file.DownloadFile.run = classmethod(lambda cls, *a, **k: refuse())  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        download_file.DownloadFile.run = original  # type: ignore[method-assign]


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"

    DET_MODEL = "PP-OCRv6_det_small.onnx"
    REC_MODEL = "PP-OCRv6_rec_small.onnx"
    CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

    @property
    def rapid(self) -> RapidOcrOptions:
        """This engine's own options (the defaults when the options name another engine)."""
        own = self.options.engine
        return own if isinstance(own, RapidOcrOptions) else RapidOcrOptions()

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        try:
            import onnxruntime as ort
        except ModuleNotFoundError:
            raise OcrUnavailable(
                "the embedded OCR engine needs 'onnxruntime' (pip install onnxruntime); rapidocr 3.x does not "
                "install it by itself"
            ) from None

        self._ort = ort
        threads = options.schedule.threads or available_cpus()
        with _no_download():
            try:
                import rapidocr
                from rapidocr.ch_ppocr_det.utils import DBPostProcess
            except ModuleNotFoundError as exc:
                raise OcrUnavailable(f"the embedded OCR engine needs the package {exc.name!r}") from None
            det_path = _model_file(options.engine.det_model_dir, self.DET_MODEL, "detection")
            rec_path = _model_file(options.engine.rec_model_dir, self.REC_MODEL, "recognition")
            cls_path = packaged_model_dir() / self.CLS_MODEL
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.enable_cpu_mem_arena = False  # page-sized det inputs vary: do not keep a grown arena
            if options.schedule.pages_in_flight > 1:
                # Pages are read side by side: an idle detector thread must yield its core to the
                # other page's work, not spin waiting for more (spinning cost ~10 % of throughput).
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            providers = ["CPUExecutionProvider"]
            # Recognition runs many small batches: one thread each, `threads` batches at once, keeps
            # every core busy (one batch on several threads left one of two cores idle half the time).
            self.rec_workers = threads
            rec_so = ort.SessionOptions()
            rec_so.intra_op_num_threads = 1 if threads > 1 else threads
            rec_so.inter_op_num_threads = 1
            rec_so.log_severity_level = 3
            rec_so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            rec_so.enable_cpu_mem_arena = False
            try:
                self.det = ort.InferenceSession(str(det_path), sess_options=so, providers=providers)
                self.rec = ort.InferenceSession(str(rec_path), sess_options=rec_so, providers=providers)
                self.cls = (
                    ort.InferenceSession(str(cls_path), sess_options=so, providers=providers)
                    if cls_path.is_file()
                    else None
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise OcrUnavailable(f"the OCR models could not be loaded: {exc}") from None
            meta = self.rec.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise OcrUnavailable(f"the recognition model {rec_path} carries no character list")
            self.chars = ["", *meta["character"].splitlines(), " "]  # CTC blank first, space last
            self._post_cls = DBPostProcess
            self._post_key: tuple[float, float] | None = None
            self._pool: ThreadPoolExecutor | None = None  # recognition threads, started on first use
            self._pool_lock = threading.Lock()
        self.version = f"{getattr(rapidocr, '__version__', '3')}+{det_path.stem}+{rec_path.stem}"
        self._digit_groups = [
            np.array([i for i, c in enumerate(self.chars) if c == d or LOOKALIKE_DIGITS.get(c) == d], np.int64)
            for d in "0123456789"
        ]

    # ----------------------------------------------------------------------------- running

    def _run(self, session, x: np.ndarray, deadline: float | None) -> np.ndarray:
        """session.run with the page deadline enforced inside onnxruntime (RunOptions.terminate)."""
        if deadline is None:
            return session.run(None, {session.get_inputs()[0].name: x})[0]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OcrTimeout("the page's OCR time limit was reached")
        ro = self._ort.RunOptions()
        timer = threading.Timer(remaining, lambda: setattr(ro, "terminate", True))
        timer.daemon = True
        timer.start()
        try:
            return session.run(None, {session.get_inputs()[0].name: x}, ro)[0]
        except Exception:
            if ro.terminate:
                raise OcrTimeout("the page's OCR time limit was reached") from None
            raise
        finally:
            timer.cancel()

    def __call__(self, image: np.ndarray, page: int, *, deadline: float | None = None) -> list[OcrToken]:
        img = as_bgr(image)
        boxes = self.detect(img, deadline)
        return self._read(img, boxes, page, deadline)

    def read_boxes(
        self, image: np.ndarray, boxes: list[tuple[float, float, float, float]], page: int, *, deadline=None
    ) -> list[OcrToken]:
        if not boxes:
            return []
        quads = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for x0, y0, x1, y1 in boxes], np.float32)
        return self._read(as_bgr(image), quads, page, deadline, padded=False)

    def _read(
        self, img: np.ndarray, boxes: np.ndarray, page: int, deadline: float | None, padded: bool = True
    ) -> list[OcrToken]:
        """Recognise the text of each box (N×4×2) of a BGR page."""
        if not len(boxes):
            return []
        crops = [_crop(img, box) for box in boxes]
        results = self.recognize(crops, deadline)
        tokens: list[OcrToken] = []
        for box, crop, res in zip(boxes, crops, results, strict=True):
            if res is None:
                continue
            text, conf, char_frames, char_scores, alts = res
            if not text.strip() or conf < self.options.engine.min_confidence:
                continue
            quad = tuple((float(x), float(y)) for x, y in box)
            xs, ys = box[:, 0], box[:, 1]
            bbox = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            # frames → page x: the crop spans the quad's top edge (near-horizontal after deskew)
            scale = crop.shape[1] / max(1, _rec_width(crop)) * FRAME_PX
            x0 = float(box[0][0])
            dx = (float(box[1][0]) - x0) / max(1.0, crop.shape[1])
            chars = [(x0 + f0 * scale * dx, x0 + (f1 + 1) * scale * dx) for f0, f1 in char_frames]
            tokens.append(
                OcrToken(text, quad, bbox, conf, alts, chars, char_scores, _unclipped(bbox) if padded else bbox)  # type: ignore[arg-type]
            )
        return tokens

    # ----------------------------------------------------------------------------- detection

    def detect(self, img: np.ndarray, deadline: float | None = None) -> np.ndarray:
        """Text boxes (N×4×2, float32, image pixels), top to bottom."""
        import cv2

        h, w = img.shape[:2]
        limit = self.options.engine.det_limit_side
        ratio = min(1.0, limit / max(h, w))
        rh = max(32, round(h * ratio / 32) * 32)
        rw = max(32, round(w * ratio / 32) * 32)
        small = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
        x = (small.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        pred = self._run(self.det, np.ascontiguousarray(x), deadline)
        key = (self.rapid.det_thresh, self.rapid.det_box_thresh)
        if self._post_key != key:
            self.post = self._post_cls(
                thresh=key[0],
                box_thresh=key[1],
                max_candidates=3000,
                unclip_ratio=1.6,
                score_mode="fast",
                use_dilation=True,
            )
            self._post_key = key
        boxes, _scores = self.post(pred, (h, w))
        if not len(boxes):
            return np.zeros((0, 4, 2), np.float32)
        boxes = np.asarray(boxes, dtype=np.float32)
        order = np.lexsort((boxes[:, 0, 0], boxes[:, 0, 1]))
        return boxes[order]

    # ----------------------------------------------------------------------------- recognition

    def recognize(self, crops: list[np.ndarray], deadline: float | None = None) -> list[tuple | None]:
        """Per crop: (text, confidence, per-char (first, last) frame, per-char prob, alternatives)."""
        import cv2

        widths = [_rec_width(c) for c in crops]
        order = np.argsort(widths, kind="stable")
        budget = self.rapid.rec_batch_width
        batches: list[np.ndarray] = []
        i = 0
        while i < len(order):
            # a batch of similar widths: padded width × count within the budget
            j = i + 1
            while j < len(order) and widths[order[j]] * (j - i + 1) <= max(budget, widths[order[j]]):
                j += 1
            batches.append(order[i:j])
            i = j

        def run_batch(idx: np.ndarray) -> list[tuple[int, tuple]]:
            width = max(64, max(widths[k] for k in idx))
            width = int(math.ceil(width / FRAME_PX) * FRAME_PX)
            batch = np.zeros((len(idx), 3, REC_HEIGHT, width), np.float32)
            for b, k in enumerate(idx):
                resized = cv2.resize(crops[k], (widths[k], REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
                batch[b, :, :, : widths[k]] = (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
            preds = self._run(self.rec, batch, deadline)
            read = []
            for b, k in enumerate(idx):
                frames = min(preds.shape[1], math.ceil(widths[k] / (width / preds.shape[1])) + 1)
                read.append((int(k), self._decode(preds[b, :frames])))
            return read

        out: list[tuple | None] = [None] * len(crops)
        if self.rec_workers > 1 and len(batches) > 1:
            # onnxruntime releases the GIL while it runs: the batches run side by side
            with self._pool_lock:  # pages may be read side by side (OcrOptions.pages_in_flight)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.rec_workers, thread_name_prefix="gongkai-rec")
            results = list(self._pool.map(run_batch, batches))
        else:
            results = [run_batch(idx) for idx in batches]
        for read in results:
            for k, res in read:
                out[k] = res
        return out

    def _decode(self, probs: np.ndarray) -> tuple[str, float, list[tuple[int, int]], list[float], list]:
        ids = probs.argmax(axis=1)
        best = probs[np.arange(len(ids)), ids]
        chars: list[str] = []
        frames: list[tuple[int, int]] = []
        scores: list[float] = []
        peak: list[int] = []
        t = 0
        n = len(ids)
        while t < n:
            c = ids[t]
            e = t
            while e + 1 < n and ids[e + 1] == c:
                e += 1
            if c != 0:
                k = t + int(best[t : e + 1].argmax())
                chars.append(self.chars[c] if c < len(self.chars) else "")
                frames.append((t, e))
                scores.append(float(best[k]))
                peak.append(k)
            t = e + 1
        text = "".join(chars)
        if not text:
            return "", 0.0, [], [], []
        numeric = numeric_like(text)
        alts: list[tuple[str, float]] = []
        if numeric:
            text, chars = _as_digits(chars)
            # ".25" is no number a report prints: a minus sign read as a dot (or a speck beside
            # the plain number); the reading is a guess, so it goes to review
            guessed_minus = (
                len(chars) > 1 and chars[0] in LEADING_MINUS_MISREADS and chars[1] in DIGITS and "." not in chars[1:]
            )
            if guessed_minus:
                chars[0] = "-"
            # a digit's probability is that of every glyph read as it (0 = 0 + O + o + 〇 …)
            dists = [self._digit_dist(probs[k]) if c in DIGITS else None for c, k in zip(chars, peak, strict=True)]
            scores = [float(d[int(c)]) if d is not None else s for c, d, s in zip(chars, dists, scores, strict=True)]
            alts = self._alternatives(chars, scores, dists)
            core = [s for c, s in zip(chars, scores, strict=True) if c in DIGITS]
            conf = min(core) if core else float(np.mean(scores))
            if guessed_minus:
                alts = [("".join(chars[1:]), 0.5), *alts][: self.options.engine.max_alternatives]
                conf = min(conf, 0.75)
        else:
            conf = float(np.mean(scores))
            if len(chars) <= 2 and all(c not in DIGITS for c in chars) and chars[0].strip():
                # a lone figure misread as a glyph (0 → 日, 口): its digit reading, for the layout
                # to use where the token stands in a column of numbers
                lone = [self._digit_dist(probs[k]) for k in peak]
                p = float(np.prod([d.max() for d in lone]))
                if p >= MIN_DIGIT_READING:
                    alts = [("".join(str(int(d.argmax())) for d in lone), round(p, 5))]
        # leading/trailing spaces are not characters of the token
        while chars and chars[-1] == " ":
            chars.pop(), frames.pop(), scores.pop()
        while chars and chars[0] == " ":
            chars.pop(0), frames.pop(0), scores.pop(0)
        return "".join(chars), conf, frames, scores, alts

    def _digit_dist(self, frame: np.ndarray) -> np.ndarray:
        """Probability of each digit 0-9 at one CTC frame, look-alike glyphs included."""
        return np.array([float(frame[idx].sum()) for idx in self._digit_groups])

    def _alternatives(
        self, chars: list[str], scores: list[float], dists: list[np.ndarray | None]
    ) -> list[tuple[str, float]]:
        """Other readings of a numeric token from the recogniser's runner-up digits."""
        limit = self.options.engine.max_alternatives
        if not limit:
            return []
        threshold = self.options.engine.alternative_threshold
        options: list[list[tuple[str, float]]] = []
        uncertain: list[int] = []
        for i, (c, s, dist) in enumerate(zip(chars, scores, dists, strict=True)):
            if dist is None or s >= threshold:
                options.append([(c, s)])
                continue
            cands = {c: s}
            for d in np.argsort(dist)[::-1][:3]:
                p = float(dist[d])
                if p >= 0.01 and str(d) != c:
                    cands[str(d)] = p
            options.append(sorted(cands.items(), key=lambda x: -x[1]))
            if len(cands) > 1:
                uncertain.append(i)
        return combine_alternatives(chars, options, uncertain[:4], limit)

    # ----------------------------------------------------------------------------- orientation

    def upside_down(self, image: np.ndarray, boxes: np.ndarray | None = None, sample: int = 24) -> bool | None:
        """Whether the page reads upside down, by the angle classifier's vote over its widest text
        boxes (None when it cannot tell)."""
        if self.cls is None:
            return None
        import cv2

        img = as_bgr(image)
        if boxes is None:
            boxes = self.detect(img)
        if not len(boxes):
            return None
        widths = boxes[:, 1, 0] - boxes[:, 0, 0]
        heights = boxes[:, 3, 1] - boxes[:, 0, 1]
        wide = [i for i in np.argsort(-widths) if widths[i] > 3 * max(1.0, heights[i])][:sample]
        if len(wide) < 3:
            return None
        batch = np.zeros((len(wide), 3, 48, 192), np.float32)
        for b, i in enumerate(wide):
            crop = _crop(img, boxes[i])
            h, w = crop.shape[:2]
            nw = min(192, max(1, math.ceil(48 * w / h)))
            resized = cv2.resize(crop, (nw, 48))
            batch[b, :, :, :nw] = (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
        preds = self.cls.run(None, {self.cls.get_inputs()[0].name: batch})[0]
        votes = preds[:, 1] > 0.9
        if votes.mean() >= 0.7:
            return True
        if votes.mean() <= 0.3:
            return False
        return None


# ----------------------------------------------------------------------------- helpers


def combine_alternatives(
    chars: list[str], options: list[list[tuple[str, float]]], uncertain: list[int], limit: int
) -> list[tuple[str, float]]:
    """Readings other than `chars` built from per-position candidates, best (product of
    probabilities) first; at most two positions changed at once."""
    base = "".join(chars)
    base_p = [opts[0][1] if opts[0][0] == c else 1.0 for c, opts in zip(chars, options, strict=True)]
    cands: dict[str, float] = {}
    for a_i, a in enumerate(uncertain):
        for ca, pa in options[a]:
            if ca == chars[a]:
                continue
            trial = list(chars)
            trial[a] = ca
            score = pa * math.prod(p for i, p in enumerate(base_p) if i != a)
            cands["".join(trial)] = max(cands.get("".join(trial), 0.0), score)
            for b in uncertain[a_i + 1 :]:
                for cb, pb in options[b]:
                    if cb == chars[b]:
                        continue
                    t2 = list(trial)
                    t2[b] = cb
                    s2 = pa * pb * math.prod(p for i, p in enumerate(base_p) if i not in (a, b))
                    cands["".join(t2)] = max(cands.get("".join(t2), 0.0), s2)
    cands.pop(base, None)
    ranked = sorted(cands.items(), key=lambda x: -x[1])
    return [(t, round(s, 5)) for t, s in ranked[:limit] if s > 1e-4]


def _as_digits(chars: list[str]) -> tuple[str, list[str]]:
    out = [LOOKALIKE_DIGITS.get(c, c) for c in chars]
    return "".join(out), out


UNCLIP_RATIO = 1.6


def _unclipped(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The text box before the detector's unclip padding: a w×h box grows by d = r·w·h / (2(w+h))
    on every side (r = UNCLIP_RATIO); solved back from the padded box."""
    x0, y0, x1, y1 = bbox
    wb, hb = x1 - x0, y1 - y0
    s, p = wb + hb, wb * hb
    a, b = 4 + 2 * UNCLIP_RATIO, -(1 + UNCLIP_RATIO) * s
    disc = b * b - 4 * a * (UNCLIP_RATIO / 2) * p
    if disc < 0 or wb <= 0 or hb <= 0:
        return bbox
    d = (-b - math.sqrt(disc)) / (2 * a)
    d = max(0.0, min(d, 0.45 * min(wb, hb)))
    return (x0 + d, y0 + d, x1 - d, y1 - d)


def _rec_width(crop: np.ndarray) -> int:
    h, w = crop.shape[:2]
    return int(min(MAX_REC_WIDTH, max(8, math.ceil(REC_HEIGHT * w / max(1, h)))))


def _crop(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's pixels, straightened when the box is tilted."""
    import cv2

    pts = np.asarray(box, np.float32)
    tilt = abs(float(pts[1][1] - pts[0][1])) + abs(float(pts[3][0] - pts[0][0]))
    h_img, w_img = img.shape[:2]
    if tilt < 1.5:
        x0 = int(max(0, math.floor(pts[:, 0].min())))
        x1 = int(min(w_img, math.ceil(pts[:, 0].max())))
        y0 = int(max(0, math.floor(pts[:, 1].min())))
        y1 = int(min(h_img, math.ceil(pts[:, 1].max())))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            return img[y0:y1, x0:x1]
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(pts, dst)
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
