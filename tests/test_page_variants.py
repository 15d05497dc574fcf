"""Page-image and cell variants of real reports (issue 15, classes 4-6): zeros printed as dashes or
with their unit, sideways and upside-down pages, fax resolution, low-dpi photos, shaded headers."""

from __future__ import annotations

import re

import pytest

from extraction.document import Field, Line
from extraction.layout.tokenize import OCR_DASH_ZERO_CONFIDENCE, tokenize
from tests.test_generator import gd  # noqa: F401  (imports gongkai_datasets, installed or not)


def _kinds(fields: list[str], delimited: bool = True, confidence: float = 1.0):
    line = Line([Field(f, confidence=confidence) for f in fields], delimited=delimited)
    return [(t.kind, t.text) for t in tokenize([line])], tokenize([line])


@pytest.mark.parametrize("dash", ["-", "—", "－", "–", "――", "——"])
def test_a_dash_in_a_figure_cell_is_zero(dash):
    kinds, toks = _kinds(["规章", dash, "3", dash])
    assert kinds == [("text", "规章"), ("number", "0"), ("number", "3"), ("number", "0")]
    assert all(t.confidence == 1.0 for t in toks)  # from a text layer a printed dash is sure


def test_a_dash_read_by_ocr_goes_to_review():
    _, toks = _kinds(["规章", "-", "3"], confidence=0.97)
    zero, three = toks[1], toks[2]
    assert zero.text == "0" and zero.confidence == OCR_DASH_ZERO_CONFIDENCE < 0.8
    assert three.confidence == 0.97


def test_a_dash_is_not_a_minus_sign():
    kinds, _ = _kinds(["行政许可", "- 5", "-6"])
    assert kinds == [("text", "行政许可"), ("number", "0"), ("number", "5"), ("number", "-6")]
    # prose keeps its separators and page numbers
    assert _kinds(["——"], delimited=False)[0] == [("blank", "")]
    assert tokenize([Line([Field("- 3 -")])]) == []


@pytest.mark.parametrize("cell", ["0件", "0 件", "12条", "3 个"])
def test_a_count_with_its_unit_in_a_cell_is_a_figure(cell):
    _, toks = _kinds(["规章", cell])
    (num,) = [t for t in toks if t.kind == "number"]
    assert num.text == re.sub(r"\D", "", cell) and not num.narrative
    # in prose it stays a mention
    (prose,) = [t for t in tokenize([Line([Field(f"全年受理申请{cell}，均已答复")])]) if t.kind == "number"]
    assert prose.narrative


def test_report_with_dash_and_unit_zeros_reads_exact():
    """A tab-delimited report whose zero cells print "-", "—", "－" or "0件" reads as printed zeros."""
    from gongkai_datasets.generate import generate_one

    from extraction.pipeline import Pipeline

    g = generate_one(3, 77, flatteners=("tabs",), violation_rate=0.0, blank_rate=0.0)
    marks = ["-", "—", "－", "0件", "0 件"]
    out, k = [], 0
    for line in g.content.splitlines():
        if "\t" in line and re.search(r"\t0(\t|$)", line):
            parts = line.split("\t")
            for i in range(1, len(parts)):
                if parts[i] == "0":
                    parts[i] = marks[k % len(marks)]
                    k += 1
            line = "\t".join(parts)
        out.append(line)
    assert k > 30
    result = Pipeline().extract("\n".join(out).encode("utf-8"), "dashes.txt")
    wrong = {c: (v, result.cells[c].value) for c, v in g.truth["cells"].items() if result.cells[c].value != v}
    assert not wrong
