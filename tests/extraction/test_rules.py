"""The rules pass: hard rules with cells and bilingual messages, soft rules as warnings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from extraction.rules import cross_report_checks, evaluate
from extraction.schema import constraints, layout
from gongkai.cli import main
from tests.conftest import DATASETS, load_truth


def test_every_rule_has_cells_and_messages():
    for fmt in ("2021", "2019"):
        lay = layout(fmt)
        values = {cid: 0 for cid in lay.cell_ids}
        checks = evaluate(values, lay)
        assert all(c["passed"] for c in checks)
        assert {c["rule"] for c in checks} >= {c.rule for c in constraints(lay)}
        for c in checks:
            assert c["cells"] and c["message"] and c["message_en"]


def test_real_012_breaks_its_appeals_totals():
    truth = load_truth(DATASETS / "real" / "truth" / "real-012.json")
    lay = layout("2021", tuple(truth["report"]["variants"]))
    failed = sorted(c["rule"] for c in evaluate(truth["cells"], lay) if not c["passed"])
    assert failed == sorted(truth["violations"])
    check = next(c for c in evaluate(truth["cells"], lay) if c["rule"] == "appeals.total.review")
    assert "11" in check["message"] and check["actual"] == 0 and check["expected"] == 11


def test_negative_count_and_fractional_count_fail_values_rule():
    lay = layout("2021")
    values = {cid: 0 for cid in lay.cell_ids}
    values["proactive.penalty.decisions"] = -3
    values["appeals.review.upheld"] = 1.5
    failed = {c["rule"]: c for c in evaluate(values, lay) if not c["passed"]}
    assert failed["proactive.values"]["cells"] == ["proactive.penalty.decisions"]
    assert "appeals.review.upheld" in failed["appeals.values"]["cells"]


def test_2019_change_may_be_negative():
    lay = layout("2019")
    values = {cid: 0 for cid in lay.cell_ids}
    values["proactive.licensing.change"] = -4
    assert all(c["passed"] for c in evaluate(values, lay) if c["rule"] == "proactive.values")


def test_in_force_below_issued_is_a_warning():
    lay = layout("2021")
    values = {cid: 0 for cid in lay.cell_ids}
    values["proactive.rules.issued"] = 3
    check = next(c for c in evaluate(values, lay) if c["rule"] == "proactive.in_force.rules")
    assert check["severity"] == "warning" and not check["passed"]


def _doc(carried_over=0, carried_forward=0, issued=0, repealed=0, in_force=0):
    cells = {}
    for col in ("natural_person", "total"):
        cells[f"applications.carried_over.{col}"] = {"value": carried_over}
        cells[f"applications.carried_forward.{col}"] = {"value": carried_forward}
    cells["proactive.rules.issued"] = {"value": issued}
    cells["proactive.rules.repealed"] = {"value": repealed}
    cells["proactive.rules.in_force"] = {"value": in_force}
    return {"cells": cells}


def test_cross_year_checks():
    last = _doc(carried_forward=5, in_force=10)
    good = cross_report_checks(_doc(carried_over=5, issued=2, repealed=1, in_force=11), last)
    assert good and all(c["passed"] and c["severity"] == "warning" for c in good)
    bad = cross_report_checks(_doc(carried_over=4, issued=2, repealed=1, in_force=12), last)
    assert {c["rule"] for c in bad if not c["passed"]} == {
        "cross_year.carried_over.natural_person",
        "cross_year.carried_over.total",
        "cross_year.in_force.rules",
    }


def test_batch_of_two_years_gets_cross_year_checks(tmp_path):
    # real-012 (2023) and real-013 (2024) are one body's consecutive reports.
    real = DATASETS / "real"
    res = CliRunner().invoke(
        main, ["extract", str(real / "real-012.txt"), str(real / "real-013.txt"), "--out", str(tmp_path), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "real-013.json").read_text(encoding="utf-8"))
    rules = {c["rule"]: c for c in doc["checks"]}
    assert "cross_year.carried_over.total" in rules
    assert "cross_year.in_force.normative_documents" in rules


def test_narrative_check_compares_stated_figures(pipeline):
    # Seed 004's narrative: 受理政府信息公开申请 10 件/53 条; the table counts 53.
    result = pipeline.extract_path(DATASETS / "seeds" / "004_bff1b9e23c617db0.txt")
    narrative = [c for c in result.checks if c.rule.startswith("narrative.")]
    assert narrative and all(c.passed and c.severity == "warning" for c in narrative)


def _cells_from(values: dict) -> dict:
    from extraction.document import CellValue

    return {cid: CellValue(value=v, confidence=1.0, text=str(v)) for cid, v in values.items()}


def test_unread_row_is_solved_from_the_sums():
    from extraction.rules import RulesOptions, fill_from_sums

    truth = load_truth(DATASETS / "real" / "truth" / "real-011.json")
    lay = layout(truth["report"]["format"], tuple(truth["report"].get("variants", ())))
    cells = _cells_from(truth["cells"])
    row = [cid for cid in lay.cell_ids if cid.startswith("applications.granted.")]
    for cid in row:  # the row's label was read on a scan, its figures were not
        cells[cid].value, cells[cid].confidence, cells[cid].flags = None, 0.2, ["missing"]
    filled = fill_from_sums(cells, lay, RulesOptions())
    assert sorted(filled) == sorted(c for c in row if truth["cells"][c])  # the solved 0s stay blank
    for cid in filled:
        assert cells[cid].value == truth["cells"][cid]
        assert cells[cid].confidence == 0.5 and "filled_by_rule" in cells[cid].flags


def test_solved_zero_needs_evidence_of_print_and_disagreeing_sums_leave_the_cell():
    from extraction.rules import RulesOptions, fill_from_sums

    lay = layout("2021")
    values = {cid: 0 for cid in lay.cell_ids}
    cells = _cells_from(values)
    # a row read without figures may be a row left blank: 0 and blank are the same to the sums
    cells["applications.granted.research"].value = None
    cells["applications.granted.research"].confidence = 0.2
    cells["applications.granted.research"].flags = ["missing"]
    assert fill_from_sums(cells, lay, RulesOptions()) == []
    assert cells["applications.granted.research"].value is None
    # a blank slot with unread ink in it (it has a box) is a printed 0
    cells["applications.granted.research"].bbox = (1.0, 2.0, 3.0, 4.0)
    assert fill_from_sums(cells, lay, RulesOptions()) == ["applications.granted.research"]
    assert cells["applications.granted.research"].value == 0
    # the row total and the column total give different values: not filled
    cells = _cells_from(values)
    cells["applications.granted.total"].value = 5
    cells["applications.granted.research"].value = None
    cells["applications.granted.research"].confidence = 0.3
    cells["applications.granted.research"].bbox = (1.0, 2.0, 3.0, 4.0)
    assert fill_from_sums(cells, lay, RulesOptions()) == []


def test_unread_is_judged_on_the_reconstruction_confidence_not_the_calibrated_one():
    """A calibrator may lift an unread blank's confidence (most blanks are printed blanks) or lower
    a printed blank's: the rules stage fills from the sums the cells the reconstruction doubted."""
    from extraction.rules import RulesOptions, fill_from_sums

    lay = layout("2021")
    cells = _cells_from({cid: 0 for cid in lay.cell_ids})
    cells["applications.granted.total"].value = 5
    cells["applications.outcome_total.total"].value = 5
    cells["applications.outcome_total.research"].value = 5
    cells["applications.new.total"].value = 5
    cells["applications.new.research"].value = 5
    doubted = cells["applications.granted.research"]
    doubted.value, doubted.confidence, doubted.read_confidence = None, 0.9, 0.2
    doubted.bbox = (1.0, 2.0, 3.0, 4.0)
    assert fill_from_sums(cells, lay, RulesOptions()) == ["applications.granted.research"]
    assert doubted.value == 5
    doubted.value, doubted.confidence, doubted.read_confidence = None, 0.1, 0.9  # read as a printed blank
    assert fill_from_sums(cells, lay, RulesOptions()) == []
