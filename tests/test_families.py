"""Tests of the style families (gongkai_datasets.families): every family renders a report whose text
layer holds the statutory labels and whose truth is exact."""

from __future__ import annotations

import importlib
import random

import pytest

pytest.importorskip("reportlab")
pdfium = pytest.importorskip("pypdfium2")

from tests.test_generator import gd  # noqa: E402  (imports gongkai_datasets, installed or not)

fam = importlib.import_module("gongkai_datasets.families")
_values_mod = importlib.import_module("gongkai_datasets.values")
schema = importlib.import_module("extraction.schema")

# Printed in every report whatever the style (no brackets, enumerators or typos inside them).
STATUTORY = ("规章", "行政许可", "行政处罚", "申请人情况", "总计", "予以公开", "属于国家秘密", "行政复议", "行政诉讼")
REPORTLAB = [n for n, f in fam.FAMILIES.items() if f.renderer == "reportlab"]


def _norm(s: str) -> str:
    return "".join(s.split())


def _text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return _norm("".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))))
    finally:
        doc.close()


def _check_truth(r) -> None:
    t = r.truth
    lay = schema.layout(t["report"]["format"], tuple(t["report"].get("variants", [])))
    assert list(t["cells"]) == list(lay.cell_ids)
    assert t["violations"] == _values_mod.failing_rules(lay, t["cells"])
    assert t["flattener"] == "digital_pdf" and t["family"] == r.family
    assert t["notes"].startswith(f"digital_pdf, family {r.family} ({r.renderer})")
    assert t["render"]["pages"] == r.pages >= 2
    printed = {c.cell_id: c.text for b in r.document.blocks if isinstance(b, gd.Grid) for c in b.cells if c.cell_id}
    assert set(printed) == set(t["cells"])  # every cell printed exactly once, whatever the layout


def _check_text(r) -> None:
    text = _text(r.pdf)
    for label in STATUTORY:
        assert label in text, (r.family, label)
    printed = [
        c.text for b in r.document.blocks if isinstance(b, gd.Grid) for c in b.cells if c.role == "value" and c.text
    ]
    for value in printed[:: max(1, len(printed) // 12)]:
        assert _norm(value) in text, (r.family, value)


def _text_in(page, box, height):
    x0, y0, x1, y1 = box
    return page.get_textpage().get_text_bounded(x0 + 0.3, height - y1 + 0.3, x1 - 0.3, height - y0 - 0.3)


@pytest.mark.parametrize("family", REPORTLAB)
def test_reportlab_family_renders_exact_truth(family):
    for i in range(3):
        r = fam.render_family(i, family, seed=5)
        assert r.renderer == "reportlab" and r.pdf.startswith(b"%PDF")
        _check_truth(r)
        _check_text(r)
        # each value box holds exactly its printed value
        doc = pdfium.PdfDocument(r.pdf)
        h = r.truth["render"]["page_size"][1]
        printed = {c.cell_id: c.text for b in r.document.blocks if isinstance(b, gd.Grid) for c in b.cells if c.cell_id}
        assert list(r.truth["boxes"]) == list(r.truth["cells"])
        for cid in list(printed)[::4]:
            b = r.truth["boxes"][cid]
            assert _norm(_text_in(doc[b["page"] - 1], b["bbox"], h)) == _norm(printed[cid]), (family, cid)


@pytest.mark.parametrize("family", REPORTLAB)
def test_labeled_reports_render_in_every_family(family):
    truths = fam.labeled_truths()
    assert len(truths) == 8
    for path in truths[::3]:
        r = fam.render_truth(path, family, seed=1)
        _check_truth(r)
        _check_text(r)


def test_render_is_deterministic():
    a = fam.render_family(4, "frame_no_row_rules", seed=9)
    b = fam.render_family(4, "frame_no_row_rules", seed=9)
    assert a.pdf == b.pdf and a.truth == b.truth


def test_frame_no_row_rules_shape():
    """Class 1: merged narrow label columns, group label one character a line, labels on 2-4 lines."""
    r = fam.render_family(0, "frame_no_row_rules", seed=2)
    assert r.style.frame == "frame_no_row_rules" and r.style.labels == "merged"
    g = r.document.grid("applications")
    assert g.ncols == 10  # three label columns
    top_group = next(c for c in g.cells if c.role == "group" and c.col == 0)
    assert top_group.rowspan > 10 and "本年度办理结果" in top_group.text
    pdf = r.pdf
    text = pdfium.PdfDocument(pdf)
    lines = "\n".join(text[i].get_textpage().get_text_range() for i in range(len(text)))
    # 本年度办理结果 is stacked: its characters are on lines of their own
    assert any(line.strip() in ("本", "年", "度") for line in lines.splitlines())


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown style family"):
        fam.render_family(0, "no_such_family")


def test_family_styles_vary_inside_a_family():
    spec = fam.FAMILIES["frame_no_row_rules"]
    styles = [spec.sample(random.Random(i)) for i in range(40)]
    assert {s.value_align for s in styles} >= {"center", "right"}
    assert {s.value_valign for s in styles} >= {"top", "center"}
    assert {s.header_fill for s in styles} == {True, False}
    assert {s.repeat_header for s in styles} == {True, False}
    assert len({s.font for s in styles}) >= 3 and len({s.table_size for s in styles}) >= 3
