"""Every labeled real report (the five seeds, three PDF-text reports) extracts with every cell right."""

from __future__ import annotations

import pytest

from tests.conftest import labeled_reports, load_truth

PAIRS = labeled_reports()


def test_all_labeled_reports_present():
    assert len(PAIRS) >= 8


@pytest.mark.parametrize("source,truth_path", PAIRS, ids=[p[0].stem for p in PAIRS])
def test_labeled_report_cells(pipeline, source, truth_path):
    truth = load_truth(truth_path)
    result = pipeline.extract_path(source)
    assert result.report.format == truth["report"]["format"]
    assert result.report.agency == truth["report"]["agency"]
    assert result.report.year == truth["report"]["year"]
    assert sorted(result.report.variants) == sorted(truth["report"].get("variants", []))
    assert set(result.cells) == set(truth["cells"])
    wrong = {cid: (v, result.cells[cid].value) for cid, v in truth["cells"].items() if result.cells[cid].value != v}
    assert not wrong
    failed = sorted(c.rule for c in result.checks if not c.passed and c.severity == "error")
    assert failed == sorted(truth.get("violations", []))
