"""The benches' scoring of a row read in another variant than its truth's."""

from __future__ import annotations

from types import SimpleNamespace

from gongkai_datasets.scoring import absent_cell_reviewed, same_value, stand_ins


def _cells(review: bool) -> dict:
    rows = ("no_amendment", "fee_unpaid", "other")
    return {
        f"applications.other.{r}.{c}": SimpleNamespace(review=review) for r in rows for c in ("total", "commercial")
    }


def test_a_one_row_truth_cell_stands_in_the_three_sub_rows_read():
    cells = _cells(review=True)
    assert sorted(stand_ins("applications.other.total", cells)) == [
        "applications.other.fee_unpaid.total",
        "applications.other.no_amendment.total",
        "applications.other.other.total",
    ]
    assert absent_cell_reviewed("applications.other.total", cells)
    assert not absent_cell_reviewed("applications.other.total", _cells(review=False))


def test_a_sub_row_truth_cell_stands_in_the_one_row_read_and_nothing_else_does():
    cells = {
        "applications.other.total": SimpleNamespace(review=True),
        "applications.total.total": SimpleNamespace(review=True),
    }
    assert stand_ins("applications.other.no_amendment.total", cells) == ["applications.other.total"]
    assert stand_ins("applications.granted.total", cells) == []
    assert not absent_cell_reviewed("applications.granted.total", cells)


def test_same_value():
    assert same_value(1, 1.0) and same_value(None, None) and not same_value(0, None)
