"""OCR engines and page preparation.

Accuracy tests run the real embedded engine (rapidocr's packaged PP-OCR ONNX models, offline) on
pages rendered here and degraded like a scan; they are marked slow. The PaddleOCR engine cannot run
in this environment: its loading code is tested with a fake `paddleocr` module.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from extraction.errors import OcrUnavailable
from extraction.ocr.base import (
    DIGIT_CONFUSIONS,
    OcrOptions,
    OcrToken,
    confusion_alternatives,
    load_engine,
    numeric_like,
)
from extraction.ocr.rapid import combine_alternatives

cv2 = pytest.importorskip("cv2")

# ---------------------------------------------------------------------------------------------
# Digits: look-alikes, confusions, alternatives


def test_numeric_like_and_lookalikes():
    from extraction.ocr.base import as_digits

    assert numeric_like("1O2") and as_digits("1O2") == "102"
    assert numeric_like("I") and as_digits("I") == "1"
    assert numeric_like("3,119") and numeric_like("+17") and numeric_like("0.5")
    assert not numeric_like("予以公开") and not numeric_like("ABC") and not numeric_like("")


def test_confusion_alternatives_only_for_uncertain_numbers():
    assert confusion_alternatives("17", 0.99, 0.95, 3) == []
    alts = confusion_alternatives("17", 0.6, 0.95, 3)
    texts = [t for t, _ in alts]
    assert "77" in texts and "11" in texts and len(alts) <= 3
    assert all(0 < s < 0.6 for _, s in alts)
    assert set(DIGIT_CONFUSIONS) == set("0123456789")
    assert confusion_alternatives("abc", 0.1, 0.95, 3) == []


def test_combine_alternatives_ranks_by_probability():
    chars = list("18")
    options = [[("1", 0.55), ("7", 0.44)], [("8", 0.6), ("0", 0.3), ("6", 0.1)]]
    alts = combine_alternatives(chars, options, [0, 1], 3)
    assert [t for t, _ in alts] == ["78", "10", "70"]
    assert alts[0][1] == pytest.approx(0.44 * 0.6, abs=1e-4)


def _engine_without_models():
    """A RapidOcrEngine shell with a tiny alphabet, for the decoder (no model loaded)."""
    from extraction.ocr.rapid import LOOKALIKE_DIGITS, RapidOcrEngine

    eng = object.__new__(RapidOcrEngine)
    eng.options = OcrOptions()
    eng.chars = ["", *"0123456789", "O", "I", "属", " "]
    eng._digit_groups = [
        np.array([i for i, c in enumerate(eng.chars) if c == d or LOOKALIKE_DIGITS.get(c) == d]) for d in "0123456789"
    ]
    return eng


def test_ctc_decoding_gives_digit_alternatives_and_char_frames():
    eng = _engine_without_models()
    n = len(eng.chars)
    idx = {c: i for i, c in enumerate(eng.chars)}

    def frame(**probs):
        v = np.full(n, 1e-4, np.float32)
        for k, p in probs.items():
            v[idx["" if k == "blank" else k]] = p
        return v / v.sum()

    # "17" where the 7 is unsure (0.6 vs 1: 0.35), then a confident "0" read partly as "O"
    probs = np.stack(
        [
            frame(blank=0.99),
            frame(**{"1": 0.98}),
            frame(blank=0.99),
            frame(**{"7": 0.6, "1": 0.35}),
            frame(blank=0.99),
            frame(**{"0": 0.6, "O": 0.38}),
            frame(blank=0.99),
        ]
    )
    text, conf, frames, scores, alts = eng._decode(probs)
    assert text == "170"
    assert frames == [(1, 1), (3, 3), (5, 5)]
    assert scores[2] > 0.95  # 0 and O both mean zero
    assert conf == pytest.approx(0.63, abs=0.02)  # the weakest digit (7: 0.6 of the renormalised frame)
    assert alts and alts[0][0] == "110"


def test_ctc_decoding_reads_lookalikes_as_digits():
    eng = _engine_without_models()
    n = len(eng.chars)
    probs = np.full((3, n), 1e-4, np.float32)
    probs[0, eng.chars.index("")] = 1
    probs[1, eng.chars.index("I")] = 1
    probs[2, eng.chars.index("")] = 1
    assert eng._decode(probs)[0] == "1"


# ---------------------------------------------------------------------------------------------
# Engines: offline loading, typed errors


def test_rapid_engine_uses_the_packaged_models_offline(monkeypatch):
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    from extraction.ocr import rapid

    models = rapid.packaged_model_dir()
    for name in (rapid.RapidOcrEngine.DET_MODEL, rapid.RapidOcrEngine.REC_MODEL):
        assert (models / name).stat().st_size > 1_000_000
    # no network: any download attempt during loading fails loudly
    import rapidocr.utils.download_file as dl

    calls = []
    monkeypatch.setattr(dl.DownloadFile, "run", classmethod(lambda cls, *a, **k: calls.append(a)))
    engine = rapid.RapidOcrEngine(OcrOptions())
    assert not calls
    assert engine.version.startswith(("3", "rapidocr")) or "PP-OCRv6" in engine.version
    assert len(engine.chars) > 5000


def test_missing_model_file_is_a_clear_error(tmp_path):
    pytest.importorskip("rapidocr")
    from extraction.ocr.rapid import RapidOcrEngine

    with pytest.raises(OcrUnavailable, match="never downloads"):
        RapidOcrEngine(OcrOptions(rec_model_dir=tmp_path / "nope.onnx"))
    with pytest.raises(OcrUnavailable, match="exactly one"):
        RapidOcrEngine(OcrOptions(det_model_dir=tmp_path))


def _paddle_dir(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir()
    (d / "inference.yml").write_text(f"Global:\n  model_name: {name}\n", encoding="utf-8")
    (d / "inference.json").write_text("{}", encoding="utf-8")
    (d / "inference.pdiparams").write_bytes(b"\0" * 16)
    return d


def test_paddle_engine_loads_local_dirs_with_a_fake_module(tmp_path, monkeypatch):
    made: dict = {}

    class FakePaddleOCR:
        def __init__(self, **kwargs):
            made.update(kwargs)

        def predict(self, image):
            assert image.ndim == 3 and image.shape[2] == 3
            return [
                {
                    "rec_texts": ["行政许可", "1O7", ""],
                    "rec_scores": [0.99, 0.62, 0.9],
                    "rec_polys": [
                        np.array([[10, 10], [90, 10], [90, 30], [10, 30]]),
                        np.array([[200, 10], [230, 10], [230, 30], [200, 30]]),
                        np.array([[0, 0], [1, 0], [1, 1], [0, 1]]),
                    ],
                }
            ]

    fake = types.ModuleType("paddleocr")
    fake.PaddleOCR = FakePaddleOCR
    fake.__version__ = "3.7.0"
    monkeypatch.setitem(sys.modules, "paddleocr", fake)
    from extraction.ocr.paddle import PaddleOcrEngine

    det = _paddle_dir(tmp_path, "PP-OCRv5_server_det")
    rec = _paddle_dir(tmp_path, "PP-OCRv5_server_rec")
    engine = PaddleOcrEngine(OcrOptions(engine="paddleocr", det_model_dir=det, rec_model_dir=rec, threads=2))
    assert made["text_detection_model_dir"] == str(det) and made["text_recognition_model_dir"] == str(rec)
    assert made["text_detection_model_name"] == "PP-OCRv5_server_det"  # read from inference.yml
    assert made["use_doc_orientation_classify"] is False and made["use_doc_unwarping"] is False
    assert made["use_textline_orientation"] is False and made["device"] == "cpu" and made["cpu_threads"] == 2
    tokens = engine(np.full((50, 300), 255, np.uint8), 1)
    assert [t.text for t in tokens] == ["行政许可", "107"]
    assert tokens[1].bbox == (200.0, 10.0, 230.0, 30.0) and tokens[1].confidence == pytest.approx(0.62)
    assert tokens[1].alternatives  # a low-confidence number gets the confusion-table readings


def test_paddle_engine_errors(tmp_path, monkeypatch):
    from extraction.ocr.paddle import PaddleOcrEngine

    with pytest.raises(OcrUnavailable, match="local detection model folder"):
        PaddleOcrEngine(OcrOptions(engine="paddleocr"))
    det = _paddle_dir(tmp_path, "det")
    rec = tmp_path / "rec"
    rec.mkdir()
    with pytest.raises(OcrUnavailable, match=r"no inference\.yml"):
        PaddleOcrEngine(OcrOptions(engine="paddleocr", det_model_dir=det, rec_model_dir=rec))
    rec = _paddle_dir(tmp_path, "rec2")
    monkeypatch.setitem(sys.modules, "paddleocr", None)  # not installed
    with pytest.raises(OcrUnavailable, match=r"needs the package|cannot be imported"):
        PaddleOcrEngine(OcrOptions(engine="paddleocr", det_model_dir=det, rec_model_dir=rec))


def test_unknown_engine():
    with pytest.raises(Exception):  # noqa: B017 - pydantic refuses the name before load_engine does
        load_engine(OcrOptions(engine="tesseract"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Page preparation


def _text_page(angle: float = 0.0) -> np.ndarray:
    """A page image of text lines and a ruled box, turned by `angle` degrees (counter-clockwise)."""
    img = np.full((1400, 1000), 255, np.uint8)
    rng = np.random.default_rng(0)
    for row in range(30):
        y = 100 + row * 40
        x = 80
        while x < 900:
            w = int(rng.integers(14, 24))
            cv2.rectangle(img, (x, y), (x + w, y + 18), 0, -1)
            x += w + int(rng.integers(4, 10))
    cv2.rectangle(img, (60, 80), (940, 1320), 0, 2)
    if angle:
        m = cv2.getRotationMatrix2D((500, 700), angle, 1.0)
        img = cv2.warpAffine(img, m, (1000, 1400), borderValue=255)
    return img


@pytest.mark.parametrize("angle", [-3.0, -1.2, 0.6, 2.5, 3.0])
def test_deskew_finds_the_angle_and_maps_boxes_back(angle):
    from extraction.ocr.prep import estimate_skew, prepare

    page = _text_page(angle)
    assert estimate_skew(page) == pytest.approx(-angle, abs=0.1)
    prepared = prepare(page, OcrOptions(denoise=False, normalize_contrast=False))
    assert prepared.angle == pytest.approx(-angle, abs=0.1)
    # a point of the straightened page maps back to the same ink in the original
    straight = _text_page(0.0)
    ys, xs = np.nonzero(straight[100:1300, 80:900] == 0)
    pts = np.stack([xs[::997] + 80, ys[::997] + 100], axis=1)
    back = prepared.to_original(pts).round().astype(int)
    ok = [page[y, x] < 128 for x, y in back if 0 <= x < 1000 and 0 <= y < 1400]
    assert np.mean(ok) > 0.9


def test_red_seal_fades():
    from extraction.ocr.prep import drop_red

    page = _text_page(0.0)
    rgb = np.stack([page] * 3, axis=2)
    cv2.circle(rgb, (500, 700), 150, (220, 40, 40), 12)  # a red seal over the text
    grey = drop_red(rgb)
    assert grey[700, 350 - 2 : 350 + 3].min() > 150  # the seal's ring has faded


def test_ocr_token_contract():
    t = OcrToken("12", ((0, 0), (10, 0), (10, 5), (0, 5)), (0, 0, 10, 5), 0.9)
    assert t.alternatives == [] and t.chars is None and t.core is None


# ---------------------------------------------------------------------------------------------
# Real OCR (slow)


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    return load_engine(OcrOptions())


@pytest.mark.slow
def test_rendered_scanned_table_page_numbers(engine):
    """Every value cell of a dense 三 table page (random busy values), scanned: turned 1.5°, blurred,
    noisy, JPEG q50 — read through prepare + OCR + geometry."""
    import random

    from tests.extraction.test_ingest_pdf import ReportWriter, scan_images

    gd = pytest.importorskip("gongkai_datasets")
    from extraction.ingest.image import ocr_page

    rng = random.Random(5)
    rv = gd.random_values(rng, "2021", profile="large", blank_rate=0.0, yuan_rate=0.0)
    doc = gd.render(rv, "测试区人民政府办公室", 2023, rng, fancy_numbers=False)
    writer = ReportWriter(embedded_font=True)
    for b in doc.blocks:
        writer.grid(b) if hasattr(b, "ncols") else writer.para(b.text)
    pdf = writer.done()
    page = max({p for p, *_ in writer.cells}, key=lambda p: sum(1 for q, *_ in writer.cells if q == p))
    image = np.asarray(scan_images(pdf, angle=1.5, seed=2)[page - 1])
    lines = ocr_page(image, page, OcrOptions(), engine)
    got = [f.text for ln in lines if ln.delimited for f in ln.fields if f.text.isdigit()]
    want = [t for p, _b, t, cid in sorted(writer.cells, key=lambda c: (round(c[1][1]), c[1][0])) if p == page and t]
    import difflib

    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    right = sum(b.size for b in matcher.get_matching_blocks())
    assert len(want) > 150
    assert right >= len(want) - 1, [op for op in matcher.get_opcodes() if op[0] != "equal"]


@pytest.mark.slow
def test_upside_down_page_is_turned(engine):
    from extraction.ingest.image import ocr_page
    from tests.extraction.test_ingest_pdf import scan_images, seed_pdf

    data, _, _ = seed_pdf(embedded_font=True)
    image = np.asarray(scan_images(data, angle=0.0)[1])[::-1, ::-1].copy()
    lines = ocr_page(image, 2, OcrOptions(), engine)
    texts = [" ".join(f.text for f in ln.fields) for ln in lines]
    assert any("本年新收" in t and "53" in t for t in texts)


@pytest.mark.slow
def test_page_on_its_side_is_turned(engine):
    from extraction.ingest.image import ocr_page
    from tests.extraction.test_ingest_pdf import scan_images, seed_pdf

    data, _, _ = seed_pdf(embedded_font=True)
    image = np.ascontiguousarray(np.rot90(np.asarray(scan_images(data, angle=0.0)[1])))
    lines = ocr_page(image, 2, OcrOptions(), engine)
    texts = [" ".join(f.text for f in ln.fields) for ln in lines]
    assert any("本年新收" in t and "53" in t for t in texts)


@pytest.mark.slow
def test_page_timeout_is_enforced(engine):
    import time

    from extraction.ingest.image import ocr_page
    from extraction.ocr.base import OcrTimeout

    page = _text_page(0.0)
    with pytest.raises(OcrTimeout):
        ocr_page(page, 1, OcrOptions(), engine, deadline=time.monotonic() + 0.05)


def test_image_percentiles_match_numpy():
    """The histogram percentiles used on every page equal np.percentile's (linear interpolation)."""
    import numpy as np

    from extraction.ocr.prep import percentiles

    rng = np.random.default_rng(7)
    for trial in range(300):
        image = rng.integers(0, 256, size=tuple(rng.integers(1, 50, size=2))).astype(np.uint8)
        if trial % 4 == 0:
            image[:] = rng.integers(0, 256)  # one grey level only
        qs = (0.0, 0.1, 1.0, 50.0, 90.0, 99.0, 100.0, float(rng.uniform(0, 100)))
        assert np.allclose(percentiles(image[::2, ::3], qs), np.percentile(image[::2, ::3], qs), atol=1e-9)
