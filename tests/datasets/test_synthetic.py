"""A small version of the synthetic benchmark (bench/synthetic_accuracy.py): every text
flattening, both formats, injected violations."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("synthetic_accuracy", ROOT / "bench" / "synthetic_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_accuracy"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    from gongkai_datasets.generate import generate

    folder = tmp_path_factory.mktemp("synthetic")
    generate(80, folder, seed=2024, violation_rate=0.3)
    return _bench().evaluate(folder)


def test_cell_accuracy(summary):
    assert summary["reports"] == 80
    assert summary["cell_accuracy"] >= 0.999, summary["errors"][:3]


def test_wrong_cells_go_to_review(summary):
    assert summary["wrong_not_in_review"] <= max(1, summary["wrong_cells"] // 10)


def test_injected_violations_flagged_and_clean_reports_not(summary):
    assert summary["injected"] >= 10
    assert summary["injected_flagged"] == 1.0
    assert summary["clean_flagged"] == 0


def test_metadata(summary):
    assert summary["metadata_accuracy"] == 1.0
    assert summary["year_accuracy"] == 1.0
    assert summary["agency_accuracy"] >= 0.95
