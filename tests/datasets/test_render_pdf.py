"""Tests of the page kinds of the generator: digital PDF (render_pdf), scans (scan), and their truth boxes."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

pytest.importorskip("reportlab")
pdfium = pytest.importorskip("pypdfium2")
pytest.importorskip("cv2")

import importlib  # noqa: E402

from PIL import Image  # noqa: E402

from tests.datasets.test_generator import gd  # noqa: E402  (imports gongkai_datasets, installed or not)

rp = importlib.import_module("gongkai_datasets.render_pdf")
sc = importlib.import_module("gongkai_datasets.scan")
_gen = importlib.import_module("gongkai_datasets.generate")
KINDS, PAGE_FLATTENERS, generate_one, main = _gen.KINDS, _gen.PAGE_FLATTENERS, _gen.generate_one, _gen.main


def _norm(s: str) -> str:
    return "".join(s.split())


def _values(doc):
    return [c for b in doc.blocks if isinstance(b, gd.Grid) for c in b.cells if c.role == "value"]


def _text_in(page, box, height):
    x0, y0, x1, y1 = box
    return page.get_textpage().get_text_bounded(x0 + 0.3, height - y1 + 0.3, x1 - 0.3, height - y0 - 0.3)


@pytest.fixture(scope="module")
def digital():
    return generate_one(2, 31, flattener="digital_pdf", fmt="2021")


def test_digital_pdf_has_text_layer(digital):
    g = digital
    assert g.ext == "pdf" and g.content.startswith(b"%PDF")
    doc = pdfium.PdfDocument(g.content)
    assert len(doc) == g.truth["render"]["pages"] >= 2
    text = _norm("".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))))
    assert _norm(g.document.agency) in text
    assert "申请人情况" in text and "行政复议" in text
    printed = [c.text for c in _values(g.document) if c.text]
    for value in printed[:: max(1, len(printed) // 15)]:
        assert _norm(value) in text


def test_truth_boxes(digital):
    t = digital.truth
    assert list(t) == ["report", "cells", "violations", "ambiguous", "notes", "flattener", "boxes", "render"]
    assert list(t["boxes"]) == list(t["cells"])
    w, h = t["render"]["page_size"]
    assert t["render"]["units"] == "pt"
    for b in t["boxes"].values():
        x0, y0, x1, y1 = b["bbox"]
        assert 1 <= b["page"] <= t["render"]["pages"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        if b["text_bbox"]:
            tx0, ty0, tx1, ty1 = b["text_bbox"]
            assert x0 - 0.5 <= tx0 < tx1 <= x1 + 0.5 and y0 - 0.5 <= ty0 < ty1 <= y1 + 0.5
    json.dumps(t, ensure_ascii=False)


@pytest.mark.parametrize("font", rp.FONT_KEYS)
@pytest.mark.parametrize("table_style", rp.TABLE_STYLES)
def test_text_inside_each_box_is_the_printed_value(font, table_style):
    g = generate_one(rp.FONT_KEYS.index(font) + 7 * rp.TABLE_STYLES.index(table_style), 12, flattener="tabs")
    st = rp.random_pdf_style(random.Random(font + table_style))
    st.font = st.table_font = font
    st.table_style = table_style
    out = rp.render_pdf(g.document, random.Random(3), style=st)
    doc = pdfium.PdfDocument(out.pdf)
    h = out.page_size[1]
    cells = _values(g.document)
    assert set(out.boxes) == {c.cell_id for c in cells}
    for c in cells[::3]:
        b = out.boxes[c.cell_id]
        assert _norm(_text_in(doc[b["page"] - 1], b["bbox"], h)) == _norm(c.text), (c.cell_id, font, table_style)


def test_table_page_break_and_repeated_header():
    g = generate_one(0, 4, flattener="tabs", fmt="2021")
    for repeat in (True, False):
        st = rp.PdfStyle(table_size=10.5, row_min=24.0, repeat_header=repeat, table_style="grid")
        out = rp.render_pdf(g.document, random.Random(0), style=st)
        assert out.pages > 1 and "applications" in out.info["split_tables"]
        doc = pdfium.PdfDocument(out.pdf)
        assert len(doc) == out.pages
        pages_with_header = [i for i in range(len(doc)) if "申请人情况" in doc[i].get_textpage().get_text_range()]
        assert len(pages_with_header) == (2 if repeat else 1)
        footer = _norm(doc[1].get_textpage().get_text_range())
        assert "-2-" in footer
        # the rows of table 三 are on more than one page
        pages = {b["page"] for cid, b in out.boxes.items() if cid.startswith("applications.")}
        assert len(pages) >= 2


def test_render_is_deterministic_and_fast():
    import time

    g = generate_one(5, 6, flattener="tabs")
    rp.render_pdf(g.document, random.Random(1))  # fonts registered
    t = time.perf_counter()
    a = rp.render_pdf(g.document, random.Random(1))
    assert time.perf_counter() - t < 2.0  # ~0.05-0.1 s here; generous for a loaded machine
    b = rp.render_pdf(g.document, random.Random(1))
    assert a.pdf == b.pdf and a.boxes == b.boxes
    assert rp.render_pdf(g.document, random.Random(2)).pdf != a.pdf


def test_missing_font_falls_back(monkeypatch):
    monkeypatch.setattr(rp, "_REGISTERED", {})
    monkeypatch.setitem(rp.FONT_FILES, "wqy_zenhei", ("WQYZenHei", ("/nonexistent/wqy.ttc",), 0))
    assert rp.resolve_font("wqy_zenhei") == rp.CID_FONT
    assert rp.resolve_font("no_such_font") == rp.CID_FONT
    g = generate_one(1, 2, flattener="tabs")
    out = rp.render_pdf(g.document, random.Random(0), style=rp.PdfStyle(font="wqy_zenhei", table_font="wqy_zenhei"))
    assert out.info["font_used"] == rp.CID_FONT
    assert _norm(g.document.agency) in _norm(pdfium.PdfDocument(out.pdf)[0].get_textpage().get_text_range())


# ----------------------------------------------------------------------------- scans


@pytest.fixture(scope="module")
def rendered():
    g = generate_one(3, 8, flattener="tabs", fmt="2021")
    return g, rp.render_pdf(g.document, random.Random(4), style=rp.PdfStyle(table_style="grid"))


def _table_page(r) -> int:
    pages = [b["page"] for b in r.boxes.values()]
    return max(set(pages), key=pages.count) - 1  # 0-based page with the most value cells


def test_scan_boxes_follow_the_page(rendered):
    g, r = rendered
    k = _table_page(r)
    params = [sc.ScanParams(dpi=150, rotation=2.5, shift=(12.0, -9.0), perspective=0.01)]
    s = sc.scan_pdf(r.pdf, r.boxes, random.Random(1), pages=[k], params=params)
    import numpy as np

    im = s.pages[0].image.convert("L")
    printed = {c.cell_id: c.text for c in _values(g.document)}
    checked = 0
    for cid, b in s.boxes.items():
        assert b["page"] == 1
        x0, y0, x1, y1 = b["bbox"]
        assert 0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height
        if printed[cid]:
            tb = [int(v) for v in b["text_bbox"]]
            assert np.asarray(im.crop(tb)).min() < 170, cid  # the printed value is inside its moved box
            checked += 1
    assert checked > 20


def test_presets_are_deterministic(rendered):
    _, r = rendered
    k = _table_page(r)
    for preset in ("moderate", "heavy"):
        a = sc.scan_pdf(r.pdf, r.boxes, random.Random(9), preset=preset, pages=[k], stamp_text="测试市人民政府")
        b = sc.scan_pdf(r.pdf, r.boxes, random.Random(9), preset=preset, pages=[k], stamp_text="测试市人民政府")
        assert a.pages[0].data == b.pages[0].data and a.boxes == b.boxes and a.info == b.info
        c = sc.scan_pdf(r.pdf, r.boxes, random.Random(10), preset=preset, pages=[k], stamp_text="测试市人民政府")
        assert c.pages[0].data != a.pages[0].data
    p = sc.document_params(random.Random(0), "moderate", 4)
    assert {x.dpi for x in p} == {200} and all(0.3 <= abs(x.rotation) <= 1.5 for x in p)
    assert sum(x.stamps for x in p) == 1 and {x.jpeg_quality for x in p} == {70}
    for seed in range(20):
        for x in sc.document_params(random.Random(seed), "heavy", 3):
            assert 1.5 <= abs(x.rotation) <= 3.0 and x.dpi in (150, 200)


def test_stamp_is_red(rendered):
    _, r = rendered
    k = _table_page(r)
    params = [sc.ScanParams(dpi=100, stamps=1)]
    s = sc.scan_pdf(r.pdf, r.boxes, random.Random(2), pages=[k], params=params, stamp_text="测试市人民政府办公室")
    (stamp,) = s.info["stamps"]
    import numpy as np

    a = np.asarray(s.pages[0].image.convert("RGB")).astype(int)
    red = (a[:, :, 0] > 150) & (a[:, :, 1] < 120) & (a[:, :, 2] < 120)
    assert red.sum() > 200
    ys, xs = np.nonzero(red)
    cx, cy = stamp["center"]
    assert abs(xs.mean() - cx) < stamp["radius"] and abs(ys.mean() - cy) < stamp["radius"]


def test_scanned_outputs(rendered):
    _, r = rendered
    s = sc.scan_pdf(r.pdf, r.boxes, random.Random(5), preset="moderate", pages=[0, 1])
    pdf = sc.to_pdf(s)
    doc = pdfium.PdfDocument(pdf)
    assert len(doc) == 2
    for i in range(2):
        assert doc[i].get_textpage().count_chars() == 0  # no text layer
        w, h = doc[i].get_size()
        assert abs(w - s.pages[i].image.width * 72 / s.dpi) < 0.01 and abs(h - 842) < 2
    im = doc[0].render(scale=1).to_pil()
    assert im.size[0] > 500
    tif = Image.open(io.BytesIO(sc.to_tiff(s)))
    assert tif.n_frames == 2
    tif.seek(1)
    assert tif.size == s.pages[1].image.size
    # binarised pages: 1-bit TIFF (G4) and PDF
    params = [sc.ScanParams(dpi=100, binarize=True, gray=True, rotation=1.0)] * 2
    b = sc.scan_pdf(r.pdf, r.boxes, random.Random(5), pages=[0, 1], params=params)
    assert b.pages[0].image.mode == "1" and b.pages[0].format == "png"
    assert Image.open(io.BytesIO(sc.to_tiff(b))).n_frames == 2
    assert len(pdfium.PdfDocument(sc.to_pdf(b))) == 2


def test_scanned_pdf_kind_truth():
    g = generate_one(1, 3, flattener="scanned_pdf", scan_preset="moderate")
    t = g.truth
    assert g.ext == "pdf" and t["flattener"] == "scanned_pdf"
    assert t["render"]["preset"] == "moderate" and t["render"]["units"] == "pt"
    doc = pdfium.PdfDocument(g.content)
    assert len(doc) == t["render"]["pages"]
    assert all(doc[i].get_textpage().count_chars() == 0 for i in range(len(doc)))
    w, h = t["render"]["page_size"]
    assert abs(w - 595.3) < 1 and abs(h - 841.9) < 1
    for b in t["boxes"].values():
        x0, y0, x1, y1 = b["bbox"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


@pytest.mark.slow
def test_generate_page_kinds(tmp_path):
    written = gd.generate(3, tmp_path, seed=2, flatteners=PAGE_FLATTENERS)
    exts = {Path(w["input"]).suffix for w in written}
    assert exts == {".pdf", ".tiff"}
    for w in written:
        t = json.loads(Path(w["truth"]).read_text(encoding="utf-8"))
        assert set(t["boxes"]) == set(t["cells"]) and t["render"]["kind"] == w["flattener"]
        if w["input"].endswith(".tiff"):
            assert Image.open(w["input"]).n_frames == t["render"]["pages"]
            assert t["render"]["units"] == "px"
    again = tmp_path / "again"
    gd.generate(3, again, seed=2, flatteners=PAGE_FLATTENERS)
    for w in written:
        assert (again / Path(w["input"]).name).read_bytes() == Path(w["input"]).read_bytes()


def test_cli_kinds(tmp_path):
    assert KINDS["text"] == gd.ALL and not set(PAGE_FLATTENERS) & set(gd.ALL)
    assert main(["--n", "2", "--out", str(tmp_path), "--seed", "1", "--kinds", "pdf"]) == 0
    inputs = sorted(tmp_path.glob("*.pdf"))
    assert len(inputs) == 2
    t = json.loads((tmp_path / "truth" / f"{inputs[0].stem}.json").read_text(encoding="utf-8"))
    assert t["flattener"] == "digital_pdf" and t["boxes"]
