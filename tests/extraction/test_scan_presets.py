"""The scan presets of the ways real reports arrive (flatbed150, phone, fax) and sideways/upside-down
pages (`scan_pdf(..., rotate=share)`): their truth boxes follow the page, their values never change."""

from __future__ import annotations

import importlib
import io
import random

import numpy as np
import pytest

pytest.importorskip("reportlab")
pdfium = pytest.importorskip("pypdfium2")
pytest.importorskip("cv2")

from PIL import Image  # noqa: E402

from tests.datasets.test_generator import gd  # noqa: E402  (imports gongkai_datasets, installed or not)

sc = importlib.import_module("gongkai_datasets.scan")
generate_one = importlib.import_module("gongkai_datasets.generate").generate_one


@pytest.fixture(scope="module")
def report():
    g = generate_one(4, 17, flattener="digital_pdf", fmt="2021")
    pages = [b["page"] for b in g.truth["boxes"].values()]
    table_page = max(set(pages), key=pages.count) - 1
    return g, table_page


def _printed(g) -> dict[str, str]:
    return {
        c.cell_id: c.text for b in g.document.blocks if isinstance(b, gd.Grid) for c in b.cells if c.role == "value"
    }


def _ink_in_text_boxes(s, g) -> int:
    """How many printed values have ink inside their moved text box (asserted for every one)."""
    printed = _printed(g)
    checked = 0
    for cid, b in s.boxes.items():
        im = np.asarray(s.pages[b["page"] - 1].image.convert("L"))
        h, w = im.shape
        x0, y0, x1, y1 = b["bbox"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, cid
        if printed.get(cid):
            tx0, ty0, tx1, ty1 = (int(v) for v in b["text_bbox"])
            box = im[ty0 : ty1 + 1, tx0 : tx1 + 1].astype(int)
            assert box.min() < np.median(box) - 20, cid  # the printed value lies in its box
            checked += 1
    return checked


@pytest.mark.parametrize("preset", ["flatbed150", "phone", "fax"])
def test_real_world_presets_move_the_boxes_with_the_page(report, preset):
    g, k = report
    s = sc.scan_pdf(
        g.content, g.truth["boxes"], random.Random(3), preset=preset, pages=[k], stamp_text="测试市人民政府"
    )
    assert _ink_in_text_boxes(s, g) > 20
    p = s.pages[0].params
    if preset == "phone":
        assert 110 <= p.dpi <= 150 and p.curl > 0 and p.background > 0 and p.jpeg_quality
        assert "curl" in s.pages[0].info
        # the desk shows around the page: the corners are darker than the paper
        im = np.asarray(s.pages[0].image.convert("L"))
        assert im[:5, :5].mean() < 170 and np.median(im) > 180
    elif preset == "fax":
        assert s.pages[0].image.mode == "1" and p.dpi == 204 and p.ydpi in (98, 196)
    else:
        assert p.dpi == 150


def test_presets_are_deterministic_and_rotate_zero_draws_nothing(report):
    g, k = report
    for preset in ("phone", "fax", "flatbed150"):
        a = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(9), preset=preset, pages=[k])
        b = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(9), preset=preset, pages=[k])
        assert a.pages[0].data == b.pages[0].data and a.boxes == b.boxes
    r1, r2 = random.Random(4), random.Random(4)
    a = sc.scan_pdf(g.content, g.truth["boxes"], r1, preset="moderate", pages=[k])
    b = sc.scan_pdf(g.content, g.truth["boxes"], r2, preset="moderate", pages=[k], rotate=0.0)
    assert a.pages[0].data == b.pages[0].data and r1.random() == r2.random()


def test_fax_standard_resolution_keeps_the_page_shape(report):
    g, k = report
    p = sc.ScanParams(dpi=204, dpi_y=98, gray=True, binarize=True, threshold=180, header="2024-01-02 FROM:01 P.1/1")
    s = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(1), pages=[k], params=[p])
    im = s.pages[0].image
    assert abs(im.height / im.width - (842 * 98) / (595 * 204)) < 0.01  # half the scan lines
    doc = pdfium.PdfDocument(sc.to_pdf(s))
    w, h = doc[0].get_size()
    assert abs(w - 595.3) < 1 and abs(h - 841.9) < 1  # the PDF page is A4 again
    tif = Image.open(io.BytesIO(sc.to_tiff(s)))
    assert tuple(round(float(v)) for v in tif.info["dpi"]) == (204, 98)
    assert _ink_in_text_boxes(s, g) > 20


@pytest.mark.parametrize("dpi_y", [98, 196, 204])
def test_a_skewed_fax_page_is_turned_not_sheared(dpi_y):
    """A sheet fed askew turns on the glass before the fax samples it at 204 × dpi_y: back at square
    pixels the page is turned (rows and columns stay at right angles, as deskew assumes), not
    sheared as a turn made in the stored, non-square pixels would leave it."""
    p = sc.ScanParams(dpi=204, dpi_y=dpi_y, rotation=1.4, shift=(3.0, -2.0))
    m = sc._homography(1687, round(2339 * dpi_y / 204), p, random.Random(0))
    square = np.diag([1.0, dpi_y / 204])
    turn = np.linalg.inv(square) @ m[:2, :2] @ square  # at square pixels
    assert np.allclose(turn @ turn.T, np.eye(2), atol=1e-9)
    assert abs(np.degrees(np.arctan2(turn[1, 0], turn[0, 0])) + 1.4) < 1e-6  # counter-clockwise 1.4°
    assert np.allclose(m[2], [0.0, 0.0, 1.0])  # no perspective


@pytest.mark.parametrize("quarter", [1, 2, 3])
def test_turned_pages_turn_their_boxes(report, quarter):
    g, k = report
    for base in (sc.ScanParams(dpi=120, rotation=0.8), sc.ScanParams(dpi=204, dpi_y=98, gray=True)):
        p = sc.ScanParams(**{**base.__dict__, "quarter": quarter})
        upright = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(2), pages=[k], params=[base])
        s = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(2), pages=[k], params=[p])
        w, h = upright.pages[0].image.size
        if base.dpi_y is None:
            assert s.pages[0].image.size == ((h, w) if quarter % 2 else (w, h))
        else:  # a fax is sampled after the turn: still 204 across, 98 down
            assert s.pages[0].info["quarter"] == quarter
        assert _ink_in_text_boxes(s, g) > 20


def test_rotate_share_turns_some_pages_and_keeps_the_values(report):
    g, _ = report
    s = sc.scan_pdf(g.content, g.truth["boxes"], random.Random(6), preset="flatbed150", rotate=1.0)
    assert all(q in (1, 2, 3) for q in s.info["quarter"])
    assert set(s.boxes) == set(g.truth["boxes"])  # every cell keeps its truth box; values are the truth's
