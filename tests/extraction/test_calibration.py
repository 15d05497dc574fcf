"""The cell calibrator of every input kind (issue 16): its stage, registry version, guarantee, fitting."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from extraction.calibration import (
    GROUPS,
    UNCERTAIN,
    Calibrate,
    CellCalibrator,
    Guarantee,
    base_feature_names,
    design,
    kind_group,
    load_calibrator,
    resolve_calibration,
    save_version,
    statement,
)
from extraction.document import CellValue, DocumentState
from extraction.registry import ModelIntegrityError
from extraction.result import ExtractionResult
from extraction.rules import RulesOptions
from extraction.schema import layout

ROOT = Path(__file__).resolve().parents[2]


def _constant(p: float, version: str = "calibration-test", review_below: float | None = 0.99) -> CellCalibrator:
    """A calibrator that says `p` for every cell (a zero logistic, an isotonic map to p)."""
    k = len(base_feature_names())
    n = len(GROUPS) * (k + 1) + k
    return CellCalibrator(
        version=version,
        features=base_feature_names(),
        mean=[0.0] * n,
        scale=[1.0] * n,
        coef=[0.0] * n,
        intercept=0.0,
        iso={g: ([0.0, 1.0], [p, p]) for g in GROUPS},
        review_below=review_below,
        guarantee=Guarantee(
            statement=statement(1e-3, 0.95)[0],
            bound=1e-3,
            confidence=0.95,
            review_below=review_below or 0.0,
            calibrator=version,
            method="test",
        ),
    )


def _doc(kind: str) -> DocumentState:
    doc = DocumentState(name="x", sha256="0", kind=kind, format="2021")
    doc.cells = {cid: CellValue(value=0, confidence=0.7, source="baseline@1") for cid in layout("2021").cells}
    return doc


@pytest.mark.parametrize("kind", ["txt", "md", "html", "docx", "digital_pdf", "scanned_pdf", "image"])
def test_every_kind_gets_the_calibrated_probability_and_the_caps_hold(kind):
    doc = _doc(kind)
    doc.cells["applications.new.total"].flags = ["missing"]
    doc.cells["applications.new.total"].value = None
    doc.cells["proactive.rules.issued"].flags = ["unverified"]
    Calibrate(calibrator=_constant(0.9995))(doc)
    cell = doc.cells["appeals.review.total"]
    assert cell.confidence == pytest.approx(0.9995, abs=1e-3)
    assert cell.read_confidence == 0.7  # the reconstruction's own, for the rules stage
    assert cell.source == "baseline@1+calibration-test"
    caps = RulesOptions()
    for cid, cap in (("applications.new.total", caps.doubt_confidence), ("proactive.rules.issued", caps.unverified_confidence)):
        assert doc.cells[cid].confidence <= cap
        assert UNCERTAIN in doc.cells[cid].flags  # below the review level: review, in CLI and service alike
    # an unverified figure keeps its calibrated probability under its ceiling, a missing cell stays low
    assert doc.cells["proactive.rules.issued"].confidence == caps.unverified_confidence > caps.doubt_confidence
    assert UNCERTAIN not in cell.flags


def test_a_cell_below_the_versions_review_level_is_flagged_and_a_stale_flag_goes():
    doc = _doc("txt")
    doc.cells["appeals.review.total"].flags = [UNCERTAIN]  # the layout model's own level said so
    Calibrate(calibrator=_constant(0.995, review_below=0.99))(doc)
    assert UNCERTAIN not in doc.cells["appeals.review.total"].flags
    Calibrate(calibrator=_constant(0.98, review_below=0.99))(doc)
    assert UNCERTAIN in doc.cells["appeals.review.total"].flags
    assert doc.cells["appeals.review.total"].source.count("+calibration-test") == 1


def test_a_failed_warning_is_capped_by_the_calibrator_too():
    doc = _doc("digital_pdf")
    doc.cells["proactive.rules.issued"].value = 698  # in force 0 < issued 698: the soft rule fails
    Calibrate(calibrator=_constant(0.9999))(doc)
    assert doc.cells["proactive.rules.issued"].confidence <= RulesOptions().warning_confidence


def test_kind_groups():
    assert [kind_group(k) for k in ("txt", "md", "html", "docx", "digital_pdf", "scanned_pdf", "image")] == [
        "text",
        "text",
        "text",
        "text",
        "pdf",
        "ocr",
        "ocr",
    ]
    base = np.ones((2, 3))
    x = design(base, np.array(["pdf", "ocr"]))
    assert x.shape == (2, 3 + 3 + 3 * 3)
    assert x[0, :3].tolist() == [0, 1, 0] and x[0, 6:9].sum() == 0 and x[0, 9:12].sum() == 3


def test_a_version_is_sha256_checked_and_named(tmp_path):
    cal = _constant(0.99)
    folder = save_version(cal, {"version": cal.version}, tmp_path)
    assert folder == tmp_path / "calibration" / "calibration-test"
    assert json.loads((folder / "manifest.json").read_text())["kind"] == "calibration"
    assert resolve_calibration(str(folder)) == folder
    assert load_calibrator(str(folder)).review_below == 0.99
    text = (folder / "calibrator.json").read_text()
    (folder / "calibrator.json").write_text(text.replace('"intercept": 0.0', '"intercept": 9.0'))
    with pytest.raises(ModelIntegrityError):
        resolve_calibration(str(folder))
    with pytest.raises(ValueError):
        save_version(_constant(0.99, version="v9"), {}, tmp_path)


def test_the_shipped_calibrator_is_registered_verified_and_certified():
    from extraction.calibration import active_calibration

    version = active_calibration()
    assert version and version.startswith("calibration-")
    folder = resolve_calibration(version)
    cal = load_calibrator(version)
    g = cal.guarantee
    assert g is not None and g.bound == 1e-3 and g.confidence == 0.95
    assert cal.review_below == g.review_below >= 0.8
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["guarantee"]["statement"] == g.statement
    assert "1 in 1,000" in g.statement


def test_the_result_states_the_guarantee_of_the_version_that_calibrated_it():
    """The calibrate stage names the version (pipeline record, each cell's model) and the result states
    that version's certified guarantee, whatever the labeler; with no calibrator, no guarantee."""
    from extraction.calibration import active_calibration
    from extraction.pipeline import Pipeline, PipelineOptions

    version = active_calibration()
    data = sorted((ROOT / "datasets" / "seeds").glob("*.txt"))[0].read_bytes()
    for labeler in ("auto", "baseline"):
        r = Pipeline(PipelineOptions(labeler=labeler)).extract(data, "seed.txt")
        assert r.guarantee is not None and r.guarantee.calibrator == version
        assert r.pipeline["calibrate"] == f"calibrate@{version}"
        assert all(c.model.endswith("+" + version) for c in r.cells.values())
        again = ExtractionResult.model_validate(r.to_json_dict())
        assert again.guarantee == r.guarantee
    old = Pipeline(PipelineOptions(calibration="none")).extract(data, "seed.txt")
    assert old.guarantee is None and old.pipeline["calibrate"] == "none"  # not calibrated: no guarantee claimed


def test_certify_picks_a_level_whose_kept_cells_meet_the_bound():
    pytest.importorskip("mapie")
    from training.calibrate import certify, measure

    rng = random.Random(0)
    conf = np.array([rng.random() ** 0.002 for _ in range(60_000)])  # mostly near 1
    right = np.array([rng.random() < c for c in conf])
    c = certify(conf, right, 1e-3, 0.95)
    assert c["level"] is not None
    m = measure(conf, np.zeros(len(conf), bool), right, c["level"])
    assert m["error_rate_not_reviewed"] <= 1e-3
    # a forced review is reviewed at every level
    forced = np.zeros(len(conf), bool)
    forced[:10] = True
    assert measure(conf, forced, right, 0.0)["review_share"] == pytest.approx(10 / len(conf), abs=1e-5)
    # of the certified levels, the lowest that catches 99.5 % of the wrong cells, else the most catching
    assert c["lowest_certified"] <= c["level"] <= c["highest_certified"]
    caught = m["wrong_caught"]
    assert caught >= 0.995 or c["chosen_for"].startswith("the most wrong cells caught")
    assert c["review_share_at_level"] <= 0.03 or c["level"] == c["lowest_certified"]
    assert c["wrong_caught_at_level"] == pytest.approx(caught, abs=1e-4)


def test_fit_on_a_tiny_split_learns_the_flags(tmp_path):
    from training.calibrate import make_calibrator

    names = base_feature_names()
    rng = np.random.default_rng(0)
    n = 4000
    base = np.zeros((n, len(names)))
    base[:, names.index("confidence")] = 1.0
    doubt = rng.random(n) < 0.1
    base[doubt, names.index("digits_split")] = 1.0
    right = ~(doubt & (rng.random(n) < 0.5))
    groups = np.array(rng.choice(list(GROUPS), n))
    cal = make_calibrator("calibration-tiny", base, groups, right)
    p = cal.predict(base, groups)
    assert p[doubt].mean() < 0.7 < 0.95 < p[~doubt].mean()
    Path(tmp_path)  # (nothing written)


def test_gongkai_extract_states_the_guarantee_in_its_summary_and_result(tmp_path):
    from click.testing import CliRunner

    from extraction.calibration import active_calibration
    from gongkai.cli import main
    from tests.conftest import labeled_reports

    seed = labeled_reports()[0][0]
    res = CliRunner().invoke(main, ["extract", str(seed), "--out", str(tmp_path)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cal = load_calibrator()
    assert f"guarantee: {cal.guarantee.statement}" in res.output
    assert f"review below {cal.review_below:.4f}" in res.output
    doc = json.loads((tmp_path / f"{seed.stem}.json").read_text(encoding="utf-8"))
    assert doc["guarantee"]["calibrator"] == active_calibration()
    assert doc["guarantee"]["review_below"] == cal.review_below
    assert all(c["model"].endswith(f"+{active_calibration()}") for c in doc["cells"].values())


def test_certify_takes_the_highest_level_that_costs_no_more_review_than_the_lowest_enough():
    """Calibrated confidences bunch (capped cells at ≤ 0.6, the rest near 1): where every wrong cell
    is capped, every certified level from 0.8 up to the bunch catches them all at the same review
    share. The lowest of them would trust, out of the split, a cell calibrated at 0.85; the level is
    the highest that sends no more of the split to review."""
    pytest.importorskip("mapie")
    from training.calibrate import certify

    rng = random.Random(1)
    n = 60_000
    high = np.array([rng.random() < 0.98 for _ in range(n)])
    conf = np.where(high, 1.0 - np.array([rng.random() * 2e-4 for _ in range(n)]), 0.5)
    right = high | np.array([rng.random() < 0.5 for _ in range(n)])  # every wrong cell capped
    c = certify(conf, right, 1e-3, 0.95)
    assert c["wrong_caught_at_level"] == 1.0 and c["lowest_certified"] <= 0.81
    assert c["level"] > 0.999  # not 0.8: a 0.85 cell out of the split goes to review
    assert c["review_share_at_level"] == pytest.approx(float((conf < 0.8).mean()), abs=1e-5)


def test_certify_budgets_the_review_its_level_adds_not_the_forced_review():
    """Phone photos and faxes in the certification split: their failed sums and doubtful readings go
    to review whatever the confidence (a tenth of the split here). The 3 % budget is for what the
    level itself sends to review; counted with the forced cells, no level kept to it and the lowest
    certified one (0.8) was taken, trusting cells at 0.85."""
    pytest.importorskip("mapie")
    from training.calibrate import certify

    rng = random.Random(2)
    n = 60_000
    forced = np.array([rng.random() < 0.10 for _ in range(n)])
    high = np.array([rng.random() < 0.98 for _ in range(n)])
    conf = np.where(high, 1.0 - np.array([rng.random() * 2e-4 for _ in range(n)]), 0.85)
    right = high | np.array([rng.random() < 0.5 for _ in range(n)]) | forced
    right &= ~(forced & np.array([rng.random() < 0.3 for _ in range(n)]))  # forced cells: many wrong
    trust = np.where(forced, 0.0, conf)
    blind = certify(trust, right, 1e-3, 0.95)
    assert blind["level"] == blind["lowest_certified"]  # the old budget: nothing within it
    c = certify(trust, right, 1e-3, 0.95, forced=forced)
    assert c["level"] > 0.85 and c["wrong_caught_at_level"] == 1.0
