"""The digit-run solver: glued cells are cut by the statutory sums, ambiguity is reported."""

from __future__ import annotations

from pathlib import Path

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


def test_ocr_alternative_chosen_by_the_sums_is_flagged():
    from extraction.document import DocumentState
    from extraction.document import Field as F
    from extraction.layout.baseline import BaselineLabeler
    from extraction.reconstruct.assemble import Reconstructor

    text = (Path(__file__).resolve().parents[1] / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt").read_text()
    doc = DocumentState(name="x", sha256="", kind="txt")
    from extraction.ingest.text import split_lines

    doc.lines = split_lines(text)
    # OCR misread 53 as 58 in 本年新收 · 法律服务机构, with 53 as its second reading.
    for line in doc.lines:
        if line.fields and line.fields[0].text.startswith("一、本年新收"):
            k = next(i for i, f in enumerate(line.fields) if f.text == "53")  # legal_services, before total
            line.fields[k] = F("58", confidence=0.6, alternatives=["53"])
            break
    doc.tokens = tokenize(doc.lines)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    cell = doc.cells["applications.new.legal_services"]
    assert cell.value == 53
    assert "corrected_by_rule" in cell.flags
    assert cell.confidence <= 0.75
    assert doc.cells["applications.new.total"].value == 53
    assert "corrected_by_rule" not in doc.cells["applications.new.total"].flags
