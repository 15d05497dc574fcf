"""The pipeline's stages: one list, run in order by one loop, each recorded; `process(until=)`;
the typed options object (labeler kinds, OCR option groups, JSON round trip); engines cached by
their options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from extraction.document import DocumentState, Field, Line
from extraction.errors import NotAReport
from extraction.pipeline import STAGE_NAMES, Pipeline, PipelineOptions, build_stages, labeler_spec
from extraction.result import CheckResult

ROOT = Path(__file__).resolve().parents[2]
SEED = sorted((ROOT / "datasets" / "seeds").glob("*.txt"))[0]


def test_the_stages_run_in_the_declared_order_and_each_is_recorded():
    pipeline = Pipeline(PipelineOptions(labeler="baseline", calibration="none"))
    assert [s.name for s in pipeline.stages] == list(STAGE_NAMES) == [
        "ingest",
        "ocr",
        "pages",
        "tokenize",
        "metadata",
        "layout",
        "reconstruct",
        "calibrate",
        "rules",
    ]
    result = pipeline.extract_path(SEED)
    assert list(result.pipeline) == list(STAGE_NAMES)
    assert result.pipeline["ingest"] == "txt@1" and result.pipeline["layout"] == "baseline@1"
    assert result.pipeline["ocr"] == "none" and result.pipeline["calibrate"] == "none"
    assert all("@" in v for k, v in result.pipeline.items() if k not in ("ocr", "pages", "calibrate"))
    calibrated = Pipeline(PipelineOptions(labeler="baseline")).extract_path(SEED)  # the active cell calibrator
    assert calibrated.pipeline["calibrate"].startswith("calibrate@calibration-")


def test_process_stops_after_a_named_stage_and_resumes():
    pipeline = Pipeline(PipelineOptions(labeler="baseline"))
    doc = DocumentState.for_input(SEED.read_bytes(), SEED.name)
    pipeline.process(doc, until="reconstruct")
    assert doc.cells and not doc.checks
    assert list(doc.stages) == list(STAGE_NAMES[: STAGE_NAMES.index("reconstruct") + 1])
    pipeline.process(doc)
    assert doc.checks and all(isinstance(c, CheckResult) for c in doc.checks)
    assert pipeline.result(doc).to_json_dict() == pipeline.extract_path(SEED).to_json_dict()
    with pytest.raises(ValueError, match="no stage"):
        pipeline.process(doc, until="label")  # type: ignore[arg-type]


def test_a_document_read_by_the_ingestor_runs_the_remaining_stages():
    pipeline = Pipeline(PipelineOptions(labeler="baseline"))
    read = pipeline.ingest(SEED.read_bytes(), SEED.name)  # ingest, OCR and page reading in one call
    assert pipeline.run(read).to_json_dict() == pipeline.extract_path(SEED).to_json_dict()


def test_the_tables_check_is_the_layout_stage_s():
    pipeline = Pipeline(PipelineOptions(labeler="baseline"))
    letter = "关于召开年度工作会议的通知\n各科室：定于3月5日召开会议，请准时参加。\n".encode()
    doc = DocumentState.for_input(letter, "letter.txt")
    pipeline.process(doc, until="metadata")
    with pytest.raises(NotAReport):
        pipeline.process(doc, until="layout")
    assert "layout" not in doc.stages and "reconstruct" not in doc.stages


def test_calibration_is_a_stage_with_its_own_calibrator():
    seen: list[str] = []

    class Halve:
        def calibrate(self, doc: DocumentState) -> None:
            seen.append(doc.name)
            for cell in doc.cells.values():
                cell.read_confidence, cell.confidence = cell.confidence, cell.confidence / 2
            doc.calibration = "halve@1"

    from extraction.layout.baseline import BaselineLabeler

    plain = Pipeline(PipelineOptions(labeler="baseline", calibration="none")).extract_path(SEED)
    halved = Pipeline(PipelineOptions(labeler="baseline"), labeler=BaselineLabeler(), calibrator=Halve())
    result = halved.extract_path(SEED)
    assert seen == [SEED.name] and result.pipeline["calibrate"] == "halve@1"
    cid = next(iter(plain.cells))
    assert result.cells[cid].confidence <= plain.cells[cid].confidence / 2 + 1e-9


def test_ocr_is_a_stage_that_records_its_engine(monkeypatch):
    from extraction.ingest import Ingestor
    from extraction.ingest import image as image_mod
    from extraction.ocr.base import OcrEngine, OcrOptions

    class Engine(OcrEngine):
        name, version = "fake-ocr", "7"

        def __call__(self, image, page, *, deadline=None):
            return []

    def fake_ocr(img, page, opts, engine=None, deadline=None, stretch=1.0):
        return [Line([Field(f"第{page}页", page=page, bbox=(1.0, 2.0, 3.0, 4.0))], page=page)]

    monkeypatch.setattr(image_mod, "ocr_page", fake_ocr)
    monkeypatch.setattr(image_mod, "load_engine", lambda opts: Engine(OcrOptions()))
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 255, dtype=np.uint8)).save(buf, format="PNG")
    options = PipelineOptions(labeler="baseline")
    doc = Ingestor(options.ingest).open(buf.getvalue(), "page.png")
    assert doc.pending is not None and not doc.lines, "ingest leaves the page for the OCR stage"
    stages = {s.name: s for s in build_stages(options, Ingestor(options.ingest), None, None)}  # type: ignore[arg-type]
    stages["ocr"](doc)
    assert stages["ocr"].record(doc) == "fake-ocr@7" and [ln.text for ln in doc.lines] == ["第1页"]
    stages["pages"](doc)
    assert doc.pending is None and doc.pages[0].unit == "px"


def test_pipeline_options_round_trip_as_json():
    options = PipelineOptions(
        labeler={"kind": "model", "version": "layout-v3"},
        review_threshold=0.7,
        ingest={"max_bytes": 1000, "ocr": {"engine": {"kind": "paddleocr", "det_model_name": "x"}}},
    )
    back = PipelineOptions.model_validate(json.loads(json.dumps(options.model_dump(mode="json"))))
    assert back == options and back.labeler.kind == "model" and back.labeler.version == "layout-v3"
    assert back.ingest.ocr.engine.kind == "paddleocr"


@pytest.mark.parametrize(
    "spec, kind, extra",
    [
        ("auto", "auto", {}),
        ("baseline", "baseline", {}),
        ("model", "model", {}),
        ("model:layout-v3", "model", {"version": "layout-v3"}),
        ("auto:/models/layout-v3", "auto", {"version": "/models/layout-v3"}),
        ("tests.labelers:Mine", "custom", {"target": "tests.labelers:Mine"}),
    ],
)
def test_a_labeler_string_names_a_kind_and_version(spec, kind, extra):
    assert labeler_spec(spec) == {"kind": kind, **extra}
    labeler = PipelineOptions(labeler=spec).labeler
    assert labeler.kind == kind and all(getattr(labeler, k) == v for k, v in extra.items())


def test_ocr_options_are_split_into_groups_and_take_the_flat_names():
    from extraction.ocr.base import OcrOptions

    o = OcrOptions(threads=2, dpi=300, page_timeout_s=30, det_thresh=0.25)
    assert o.schedule.threads == 2 and o.page.dpi == 300 and o.limits.page_timeout_s == 30
    assert o.engine.kind == "rapidocr" and o.engine.det_thresh == 0.25
    assert set(o.model_dump()) == {"engine", "page", "schedule", "limits"}
    assert o.dpi == 300  # read through
    o.pages_in_flight = 1
    assert o.schedule.pages_in_flight == 1
    paddle = OcrOptions(engine="paddleocr", det_model_name="PP-OCRv5_server_det")
    assert paddle.engine.kind == "paddleocr" and paddle.engine.det_model_name == "PP-OCRv5_server_det"


def test_a_cached_engine_keeps_its_own_options(monkeypatch):
    from extraction.ocr import base

    class FakeEngine(base.OcrEngine):
        name, version = "fake", "1"

        def __call__(self, image, page, *, deadline=None):
            return []

    monkeypatch.setattr(base, "_CACHE", {})
    monkeypatch.setitem(base.ENGINES, "rapidocr", f"{__name__}:_Fake")
    globals()["_Fake"] = FakeEngine
    strict = base.OcrOptions(min_confidence=0.9)
    lenient = base.OcrOptions(min_confidence=0.1)
    first = base.load_engine(strict)
    second = base.load_engine(lenient)
    assert first is not second
    assert first.options.engine.min_confidence == 0.9 and second.options.engine.min_confidence == 0.1
    assert base.load_engine(base.OcrOptions(min_confidence=0.9)) is first
    strict.min_confidence = 0.5  # the caller's object, not the engine's
    assert first.options.engine.min_confidence == 0.9


def test_a_state_pickled_before_the_stage_fields_existed_still_runs():
    """training's cache holds ingested states pickled by older code: the fields added since (the
    stage record, pending pages, layout working data) come back with their defaults."""
    import copy
    import pickle

    pipeline = Pipeline(PipelineOptions(labeler="baseline"))
    doc = pipeline.ingest(SEED.read_bytes(), SEED.name)
    old = copy.copy(doc)
    for name in ("stages", "data", "pending", "pages_read", "ocr", "calibration", "layout_probs", "layout_moved"):
        del old.__dict__[name]
    back = pickle.loads(pickle.dumps(old))
    assert back.stages == {} and back.pending is None and back.layout_moved is None
    assert pipeline.run(back).to_json_dict() == pipeline.extract_path(SEED).to_json_dict()
