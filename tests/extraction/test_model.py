"""The layout model: features, the combined labeler, registry round trip, the shipped model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from extraction.layout.baseline import BaselineLabeler
from extraction.layout.features import (
    CharVocab,
    baseline_view,
    label_names,
    token_features,
    window_boxes,
    windows,
)
from extraction.metadata import extract_metadata
from extraction.pipeline import LABELERS, Pipeline
from extraction.tokenize import tokenize

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "datasets" / "seeds").glob("*.txt"))


def _doc(path: Path):
    from extraction.ingest import Ingestor

    doc = Ingestor()(path.read_bytes(), path.name)
    doc.tokens = tokenize(doc.lines)
    extract_metadata(doc)
    return doc


def test_label_space_covers_the_schema():
    from extraction.schema import layout

    names = set(label_names())
    assert {"other", "value"} <= names
    for fmt in ("2021", "2019"):
        for table in layout(fmt).tables:
            if table.key == "appeals":
                continue
            for row in table.rows:
                assert f"row:{row.id}" in names


@pytest.mark.parametrize("path", SEEDS[:3], ids=lambda p: p.stem)
def test_alignment_over_baseline_candidates_is_the_baseline(path):
    doc = _doc(path)
    view = baseline_view(doc.tokens, doc.year)
    BaselineLabeler()(doc)
    assert view.chosen == doc.format
    assert [(a.token, a.key) for a in view.alignments[view.chosen].anchors] == [(a.token, a.key) for a in doc.anchors]


def test_features_and_windows():
    doc = _doc(SEEDS[0])
    vocab = CharVocab.build(t.text for t in doc.tokens)
    feats = token_features(doc, vocab, baseline_view(doc.tokens, doc.year))
    n = len(doc.tokens)
    assert feats.chars.shape == (n, 20) and feats.numeric.shape[0] == n
    assert (feats.anchor > 0).sum() >= 30  # the baseline's anchors are inputs
    assert feats.x.min() >= 0 and feats.x.max() <= 1
    box = window_boxes(feats.x[:50], feats.line[:50])
    assert box.min() >= 0 and box.max() <= 1000 and (box[:, 2] >= box[:, 0]).all()
    spans = windows(1000, 512, 384)
    assert spans[0] == (0, 512) and spans[-1][1] == 1000 and all(e - s == 512 for s, e in spans)
    assert windows(10, 512, 384) == [(0, 10)]
    # unknown characters map to [UNK], not to an error
    assert vocab.encode(["龘龘"])[0, 0] == 1


def _tiny_model(tmp_path: Path):
    from extraction.layout.model import LayoutModel, ModelConfig, build_tagger

    vocab = CharVocab.build(t.text for p in SEEDS for t in _doc(p).tokens)
    cfg = ModelConfig(
        labels=list(label_names()),
        vocab_size=vocab.size,
        hidden=32,
        layers=1,
        heads=2,
        intermediate=64,
        coordinate_size=6,
        shape_size=4,
    )
    return LayoutModel(cfg, vocab, build_tagger(cfg), None, version="tiny")


def test_model_labeler_round_trip_through_the_registry(tmp_path, monkeypatch):
    from extraction import registry
    from extraction.layout.model import LayoutModel, ModelLabeler, load_active

    assert LABELERS["model"] == "extraction.layout.model:ModelLabeler"
    model = _tiny_model(tmp_path)
    model.save(tmp_path / "work")
    models = tmp_path / "models"
    registry.register(tmp_path / "work", "tiny-v1", models, activate_it=True)
    folder, manifest = registry.resolve(None, models)
    loaded = LayoutModel.load(folder, manifest.version)
    doc = _doc(SEEDS[1])
    feats = token_features(doc, loaded.vocab, baseline_view(doc.tokens, doc.year))
    np.testing.assert_allclose(loaded.probabilities(feats), model.probabilities(feats), atol=1e-5)
    # through the pipeline: every cell records the model version
    labeler = ModelLabeler(model=loaded)
    result = Pipeline(labeler=labeler).extract_path(SEEDS[1])
    assert result.pipeline["layout"] == "model@tiny-v1"
    # (then the cell calibrator of every kind, which records its version after the model's)
    from extraction.calibration import active_calibration

    assert {c.model for c in result.cells.values()} == {f"model@tiny-v1+{active_calibration()}"}
    # a flipped byte refuses to load
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x10
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    with pytest.raises(registry.ModelIntegrityError):
        load_active(str(folder))


def test_untrained_model_keeps_the_baseline_on_clean_text(tmp_path):
    """With the model's weight at zero the combination is exactly the baseline (sanity of combine)."""
    from extraction.layout.model import ModelLabeler

    model = _tiny_model(tmp_path)
    model.config = model.config.model_copy(update={"model_weight": 0.0, "base_weight": 1.0, "add_threshold": 2.0})
    for path in SEEDS[:2]:
        a, b = _doc(path), _doc(path)
        BaselineLabeler()(a)
        ModelLabeler(model=model)(b)
        assert [(x.token, x.key) for x in a.anchors] == [(x.token, x.key) for x in b.anchors]


def test_calibrator_maps_features_to_probabilities(tmp_path):
    from extraction.layout.model import CELL_FEATURES, Calibrator, ModelLabeler
    from extraction.reconstruct.assemble import Reconstructor

    model = _tiny_model(tmp_path)
    k = len(CELL_FEATURES)
    model.calibrator = Calibrator(list(CELL_FEATURES), [4.0] + [0.0] * (k - 1), -2.0, [0.0, 0.5, 1.0], [0.1, 0.5, 0.99])
    model.save(tmp_path / "m")
    labeler = ModelLabeler(model=model)
    doc = _doc(SEEDS[0])
    labeler(doc)
    Reconstructor()(doc)
    before = copy.deepcopy({c: v.confidence for c, v in doc.cells.items()})
    labeler.calibrate(doc)
    assert all(0.0 <= v.confidence <= 1.0 for v in doc.cells.values())
    assert any(doc.cells[c].confidence != before[c] for c in before)
    # the reconstruction's own confidence is kept for the rules stage (what counts as unread)
    assert all(doc.cells[c].read_confidence == before[c] for c in before)
    # a calibrator fitted on fewer features (an older version's) reads only the ones it names
    model.calibrator = Calibrator(["confidence", "failed_rule"], [4.0, -1.0], -2.0, [0.0, 0.5, 1.0], [0.1, 0.5, 0.99])
    labeler.calibrate(doc)
    assert all(0.0 <= v.confidence <= 1.0 for v in doc.cells.values())
    assert not any("uncertain" in v.flags for v in doc.cells.values())
    # a version's review level: below it a cell is flagged, and goes to review whatever the threshold
    from extraction.result import needs_review

    model.calibrator.review_below = 0.9
    labeler.calibrate(doc)
    flagged = {c for c, v in doc.cells.items() if "uncertain" in v.flags}
    assert flagged == {c for c, v in doc.cells.items() if v.confidence < 0.9} and flagged
    cid = next(iter(flagged))
    assert needs_review(doc.cells[cid].confidence, doc.cells[cid].flags, False, threshold=0.0)


def test_cell_features_name_the_one_misread_figure_the_sums_point_at():
    """A 63 read as 68 breaks its row's total and its column's total by 5: the one cell where both
    failing sums ask the same change, one digit away, is the misread one; its neighbours in those
    sums are not flagged. A negative count fails the format check on its own."""
    from extraction.layout.model import CELL_FEATURES, cell_features
    from extraction.reconstruct.assemble import Reconstructor

    doc = _doc(ROOT / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt")  # (the others print few figures)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    counted = [
        cid
        for cid, c in doc.cells.items()
        if cid.startswith(("applications.granted.", "applications.new."))
        and not cid.endswith(".total")
        and (c.value or 0) >= 1
    ]
    assert counted, "the seed has a figure in a row its row total and column total both sum"
    misread = counted[0]
    row_total_id = misread.rsplit(".", 1)[0] + ".total"
    value = doc.cells[misread].value
    wrong = value + 1 if value % 10 != 9 else value - 1  # one digit edited
    doc.cells[misread].value = wrong
    cids, x = cell_features(doc)
    f = {name: x[:, i] for i, name in enumerate(CELL_FEATURES)}
    at = {cid: i for i, cid in enumerate(cids)}
    i = at[misread]
    assert f["failed_rules"][i] == 2 and f["repair_one_edit"][i] == 1 and f["sole_repair_one_edit"][i] == 1
    row_total = at[row_total_id]
    assert f["failed_rule"][row_total] == 1 and f["sole_repair"][row_total] == 0
    assert f["failed_format"].sum() == 0
    doc.cells[misread].value = -value
    cids, x = cell_features(doc)
    assert x[at[misread], CELL_FEATURES.index("failed_format")] == 1


@pytest.mark.slow
def test_shipped_model_loads_and_extracts():
    from extraction.pipeline import model_pipeline

    pipe = model_pipeline()
    for path in SEEDS[:2]:
        result = pipe.extract_path(path)
        assert result.pipeline["layout"].startswith("model@")
        assert all(0.0 <= c.confidence <= 1.0 for c in result.cells.values())


@pytest.mark.slow
def test_auto_labeler_uses_the_model_on_ocr_pages_only(tmp_path):
    """`auto` (the default): the shipped model, with calibrated confidence, where the pages were
    OCR'd; the baseline on text, and no model for a document that holds no tables."""
    from extraction.document import PageInfo
    from extraction.layout.auto import AutoLabeler
    from extraction.reconstruct.assemble import Reconstructor

    assert Pipeline().options.labeler.kind == "auto"
    labeler = AutoLabeler()
    text = _doc(SEEDS[0])
    labeler(text)
    assert text.labeler.startswith("baseline@") and labeler._model is None

    scanned = _doc(SEEDS[0])
    scanned.pages = [PageInfo(number=1, width=1240.0, height=1754.0, unit="px")]
    letter = tmp_path / "letter.txt"
    letter.write_text("关于召开年度工作会议的通知\n各科室：定于3月5日召开会议，请准时参加。\n", encoding="utf-8")
    prose = _doc(letter)
    prose.pages = list(scanned.pages)
    labeler(prose)
    assert prose.labeler.startswith("baseline@") and labeler._model is None

    labeler(scanned)
    assert scanned.labeler.startswith("model@")
    Reconstructor()(scanned)
    calibrated = []
    model = labeler.model_labeler()
    model.calibrate = lambda doc: calibrated.append(doc)  # type: ignore[method-assign]
    labeler.calibrate(text)
    labeler.calibrate(scanned)
    assert calibrated == [scanned]


def test_ambiguous_cells_go_to_review_whatever_their_confidence():
    from extraction.result import needs_review

    assert needs_review(0.99, ["ambiguous"], False, 0.8)
    assert not needs_review(0.99, ["extra_values"], False, 0.8)
    assert needs_review(0.99, [], True, 0.8) and needs_review(0.5, [], False, 0.8)
