"""The digit-run solver: glued cells are cut by the statutory sums, ambiguity is reported."""

from __future__ import annotations

from extraction.ingest.text import split_lines
from extraction.layout.tokenize import tokenize
from extraction.reconstruct.solver import Segment, inside_checks, readings, split_runs
from extraction.schema import hard_constraints, layout


def _tokens(text: str):
    return [t for t in tokenize(split_lines(text)) if t.kind == "number"]


def test_row_total_cuts_a_glued_row():
    lay = layout("2021")
    row = lay.row("applications.new")
    checks = inside_checks(row.cell_ids, list(hard_constraints(lay)))
    cuts = split_runs(_tokens("640020470"), 7, ["count"] * 7, checks, 1000)
    assert cuts == [["64", "0", "0", "2", "0", "4", "70"]]


def test_no_leading_zeros():
    cuts = split_runs(_tokens("1005"), 3, ["count"] * 3, [], 1000)
    assert cuts == [["10", "0", "5"]]


def test_signed_change_2019():
    toks = _tokens("行政许可20+1737")
    seg = Segment(["a", "b", "c"], toks, ["count", "signed_count", "count"])
    found = readings(seg)
    assert max(found, key=lambda r: r.prior).values == (20, 17, 37)
    assert all(r.values[0] == 20 for r in found)


def test_decimal_amount_kept_whole():
    toks = _tokens("行政事业性收费7730.28")
    seg = Segment(["proactive.fees.amount"], toks, ["amount"])
    assert [r.values for r in readings(seg)] == [(7730.28,)]


def test_enumerator_split_from_glued_run():
    toks = tokenize(split_lines("1.属于国家秘密00000002.其他法律行政法规禁止公开"))
    assert [t.text for t in toks if t.kind == "number"] == ["0000000"]
    assert any(t.kind == "text" and t.text.startswith("2.") for t in toks)


def test_yuan_converted_to_wan():
    toks = _tokens("行政事业性收费 75394432.52元")
    seg = Segment(["proactive.fees.amount"], toks, ["amount"])
    assert abs(readings(seg)[0].values[0] - 7539.443252) < 1e-9


def test_remark_after_value_dropped():
    toks = _tokens("行政规范性文件\t22（其中修订16件）\t0\t30")
    assert [t.text for t in toks] == ["22", "0", "30"]
