"""PDF and image ingest: text layer and OCR pages, table geometry, typed errors, partial success.

The PDFs are made here with reportlab (the built-in STSong-Light CID font for text-layer tests; an
embedded TrueType CJK font, when the machine has one, for pages that are rendered and OCRed).
Seed 004's tables are drawn as the statutory grids (merged cells and all) from its truth.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("reportlab")
pdfium = pytest.importorskip("pypdfium2")
pytest.importorskip("cv2")

from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.pdfbase import pdfmetrics  # noqa: E402
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402

from extraction.document import Field, Line  # noqa: E402
from extraction.errors import CorruptInput, EncryptedInput, InputTooLarge  # noqa: E402
from extraction.ingest.base import IngestOptions  # noqa: E402
from extraction.ingest.pdf import PageSpace, PdfBackend, render_page, text_layer_is_real  # noqa: E402
from extraction.pages.geometry import Rule, Word, drop_repeated_headers, layout_page, words_from_chars  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt"
SEED_TRUTH = ROOT / "datasets" / "seeds" / "truth" / "004_bff1b9e23c617db0.json"

# ---------------------------------------------------------------------------------------------
# A small report renderer (reportlab): paragraphs and ruled grids with merged cells

_FONTS: dict[str, str] = {}
_TTF = (
    ("WQYZenHei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    ("ARPLUMing", "/usr/share/fonts/truetype/arphic/uming.ttc"),
)


def font(embedded: bool = False) -> str:
    """STSong-Light (always there, not embedded) or, for pages that will be rendered, an embedded
    TrueType CJK font when the machine has one."""
    key = "ttf" if embedded else "cid"
    if key in _FONTS:
        return _FONTS[key]
    name = "STSong-Light"
    if embedded:
        from reportlab.pdfbase.ttfonts import TTFont

        for ttf_name, path in _TTF:
            if os.path.exists(path):
                try:
                    pdfmetrics.registerFont(TTFont(ttf_name, path, subfontIndex=0))
                    name = ttf_name
                    break
                except Exception:
                    continue
    if name == "STSong-Light":
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    _FONTS[key] = name
    return name


def _wrap(text: str, width: float, fnt: str, size: float) -> list[str]:
    lines, cur = [], ""
    for ch in text:
        if cur and pdfmetrics.stringWidth(cur + ch, fnt, size) > width:
            lines.append(cur)
            cur = ch
        else:
            cur += ch
    return [*lines, cur] if cur else lines or [""]


COLUMNS = {"proactive": [165, 117, 117, 116], "applications": [58, 62, 150] + [35] * 7, "appeals": [34.3] * 15}


class ReportWriter:
    """Paragraphs and grids (gongkai_datasets.Grid: cells with row/col spans) on A4 pages."""

    def __init__(self, embedded_font: bool = False, margin: float = 50, rules: bool = True) -> None:
        self.buf = io.BytesIO()
        self.c = canvas.Canvas(self.buf, pagesize=A4)
        self.font = font(embedded_font)
        self.W, self.H = A4
        self.m = margin
        self.y = self.H - margin
        self.rules = rules
        self.pages = 1
        self.cells: list[tuple[int, tuple[float, float, float, float], str, str | None]] = []

    def new_page(self) -> None:
        self.c.showPage()
        self.pages += 1
        self.y = self.H - self.m

    def para(self, text: str, size: float = 10.5) -> None:
        for ln in _wrap(text, self.W - 2 * self.m, self.font, size):
            if self.y - size * 1.6 < self.m:
                self.new_page()
            self.c.setFont(self.font, size)
            self.c.drawString(self.m, self.y - size, ln)
            self.y -= size * 1.6
        self.y -= size * 0.4

    def grid(self, g, size: float = 8.5) -> None:
        widths = COLUMNS.get(g.key) or [(self.W - 2 * self.m) / g.ncols] * g.ncols
        k = (self.W - 2 * self.m) / sum(widths)
        xs = [self.m]
        for w in widths:
            xs.append(xs[-1] + w * k)
        lead, pad = size * 1.35, 3
        rows = g.rows()
        heights = []
        for cells in rows:
            h = lead + 2 * pad
            for c in cells:
                if c.rowspan == 1:
                    h = max(
                        h,
                        len(_wrap(c.text, xs[c.col + c.colspan] - xs[c.col] - 2 * pad, self.font, size)) * lead
                        + 2 * pad,
                    )
            heights.append(h)
        for c in g.cells:
            if c.rowspan > 1:
                need = len(_wrap(c.text, xs[c.col + c.colspan] - xs[c.col] - 2 * pad, self.font, size)) * lead + 2 * pad
                have = sum(heights[c.row : c.row + c.rowspan])
                for r in range(c.row, c.row + c.rowspan):
                    heights[r] += max(0.0, need - have) / c.rowspan
        r = 0
        while r < len(rows):
            e = k2 = r
            while k2 <= e:  # rows tied together by row spans stay on one page
                e = max([e] + [k2 + c.rowspan - 1 for c in g.cells if c.row == k2])
                k2 += 1
            if self.y - sum(heights[r : e + 1]) < self.m and self.y < self.H - self.m - 1:
                self.new_page()
            ys = [self.y]
            for h in heights[r : e + 1]:
                ys.append(ys[-1] - h)
            for c in g.cells:
                if not r <= c.row <= e:
                    continue
                x0, x1 = xs[c.col], xs[c.col + c.colspan]
                yt, yb = ys[c.row - r], ys[c.row - r + c.rowspan]
                if self.rules:
                    self.c.setLineWidth(0.6)
                    self.c.rect(x0, yb, x1 - x0, yt - yb)
                if c.role == "value":
                    self.cells.append((self.pages, (x0, self.H - yt, x1, self.H - yb), c.text, c.cell_id))
                lines = _wrap(c.text, x1 - x0 - 2 * pad, self.font, size) if c.text else []
                top = (yt + yb) / 2 + len(lines) * lead / 2
                self.c.setFont(self.font, size)
                for i, ln in enumerate(lines):
                    base = top - (i + 1) * lead + (lead - size) / 2 + size * 0.15
                    if c.role == "value":
                        self.c.drawCentredString((x0 + x1) / 2, base, ln)
                    else:
                        self.c.drawString(x0 + pad, base, ln)
            self.y = ys[-1]
            r = e + 1
        self.y -= 10

    def done(self) -> bytes:
        self.c.showPage()
        self.c.save()
        return self.buf.getvalue()


def seed_document(blank: tuple[str, ...] = ()):
    """Seed 004: its narrative paragraphs, its tables drawn as the statutory grids from its truth
    (cells listed in `blank` printed empty)."""
    gd = pytest.importorskip("gongkai_datasets")
    truth = json.loads(SEED_TRUTH.read_text(encoding="utf-8"))
    rep = truth["report"]
    cells = dict(truth["cells"])
    for cid in blank:
        cells[cid] = None
    rv = gd.ReportValues(rep["format"], tuple(rep.get("variants", ())), cells)
    doc = gd.render(rv, rep["agency"], rep["year"], random.Random(3), fancy_numbers=False)
    grids = {b.key: b for b in doc.blocks if isinstance(b, gd.Grid)}
    blocks = []
    heads = {"二、": "proactive", "三、": "applications", "四、": "appeals"}
    for raw in SEED.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or "\t" in raw:
            continue
        text = raw.strip()
        blocks.append(gd.Para(text))
        for head, key in heads.items():
            if text.startswith(head) and text.endswith("情况") and key in grids:
                blocks.append(grids.pop(key))
    return blocks, cells


def render_blocks(blocks, writer: ReportWriter) -> bytes:
    for b in blocks:
        if hasattr(b, "ncols"):
            writer.grid(b)
        else:
            writer.para(b.text)
    return writer.done()


def seed_pdf(**kw) -> tuple[bytes, dict, ReportWriter]:
    blank = kw.pop("blank", ())
    blocks, cells = seed_document(blank)
    w = ReportWriter(**kw)
    return render_blocks(blocks, w), cells, w


def scan_images(pdf: bytes, dpi: int = 200, angle: float = 1.0, seed: int = 0) -> list:
    """The PDF's pages as a scanner gives them: turned, blurred, noisy, JPEG-compressed (grey PIL images)."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    doc = pdfium.PdfDocument(pdf)
    out = []
    for i in range(len(doc)):
        img = doc[i].render(scale=dpi / 72).to_pil().convert("L")
        img = img.rotate(angle, resample=Image.BICUBIC, fillcolor=255).filter(ImageFilter.GaussianBlur(0.8))
        a = np.clip(np.asarray(img, np.float32) + rng.normal(0, 8, (img.height, img.width)), 0, 255)
        buf = io.BytesIO()
        Image.fromarray(a.astype(np.uint8)).save(buf, "JPEG", quality=60)
        out.append(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    return out


def images_pdf(images, dpi: int = 200) -> bytes:
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return buf.getvalue()


def check_cells(result, truth_cells: dict) -> dict:
    return {
        cid: (v, result.cells[cid].value if cid in result.cells else "missing")
        for cid, v in truth_cells.items()
        if cid not in result.cells or result.cells[cid].value != v
    }


# ---------------------------------------------------------------------------------------------
# Digital PDFs


def test_seed_digital_pdf_every_cell(pipeline):
    data, cells, _ = seed_pdf()
    result = pipeline.extract(data, "seed004.pdf")
    assert result.source.kind == "digital_pdf"
    assert result.source.pages == 3
    assert check_cells(result, cells) == {}
    assert not result.review
    cell = result.cells["applications.new.legal_services"]
    assert cell.value == 53 and cell.page == 2 and cell.bbox is not None
    x0, y0, x1, y1 = cell.bbox
    assert 0 < x0 < x1 < 595 and 0 < y0 < y1 < 842  # PDF points, top-left origin


def test_table_rows_are_delimited_lines_with_geometry():
    data, _, writer = seed_pdf()
    state = PdfBackend()(data, "seed004.pdf", IngestOptions())
    assert [p.unit for p in state.pages] == ["pt"] * 3 and not any(p.error for p in state.pages)
    rows = {ln.fields[0].text: ln for ln in state.lines if ln.delimited}
    row = rows["一、本年新收政府信息公开申请数量"]
    assert [f.text for f in row.fields] == ["一、本年新收政府信息公开申请数量", "0", "0", "0", "0", "53", "0", "53"]
    assert all(f.page == 2 and f.bbox and f.confidence == 1.0 for f in row.fields)
    # merged label cells: the group label opens its first row, the following rows start at their own label
    assert [f.text for f in rows["（三）不予公开"].fields[:2]] == ["（三）不予公开", "1.属于国家秘密"]
    assert rows["2.其他法律行政法规禁止公开"].fields[1].text == "0"
    # a value's box is inside the cell the writer drew
    box = next(b for p, b, t, cid in writer.cells if cid == "applications.new.legal_services")
    fx0, fy0, fx1, fy1 = row.fields[5].bbox
    assert box[0] <= fx0 < fx1 <= box[2] and box[1] <= fy0 < fy1 <= box[3]
    # narrative text: one field per line
    assert any(not ln.delimited and ln.fields[0].text.startswith("一、总体情况") for ln in state.lines)


def test_blank_cells_survive(pipeline):
    blank = ("applications.new.natural_person", "applications.granted.research", "appeals.review.upheld")
    data, cells, _ = seed_pdf(blank=blank)
    result = pipeline.extract(data, "blanks.pdf")
    assert check_cells(result, cells) == {}
    assert all(result.cells[cid].value is None for cid in blank)


def test_unruled_table_keeps_blank_cells(pipeline):
    data, cells, _ = seed_pdf(
        rules=False, blank=("applications.new.research", "applications.not_processed.duplicate.total")
    )
    result = pipeline.extract(data, "unruled.pdf")
    assert check_cells(result, cells) == {}


def test_rotated_page_reads_in_display_orientation():
    """A page with /Rotate 90 whose text is drawn turned, so that it reads upright on screen."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(842, 595))  # reportlab stores a portrait MediaBox + /Rotate 90
    c.setPageRotation(90)
    c.setFont(font(), 12)
    for text, x_display, y_display in (
        ("行政许可", 60, 500),
        ("17", 300, 500),
        ("政府信息公开工作年度报告用于检验文字层的旋转页面", 60, 550),
    ):
        c.saveState()
        # display (X, Y) of user point (x, y) under /Rotate 90: X = y, Y = x
        c.translate(y_display, x_display)
        c.rotate(90)
        c.setFont(font(), 12)
        c.drawString(0, 0, text)
        c.restoreState()
    c.showPage()
    c.save()
    data = buf.getvalue()
    page = pdfium.PdfDocument(data)[0]
    assert page.get_rotation() == 90
    state = PdfBackend()(data, "rot.pdf", IngestOptions())
    info = state.pages[0]
    assert info.unit == "pt" and (round(info.width), round(info.height)) == (842, 595)  # landscape on screen
    texts = [" | ".join(f.text for f in ln.fields) for ln in state.lines]
    assert texts[0] == "行政许可 | 17"
    assert texts[1].startswith("政府信息公开")
    label = state.lines[0].fields[0].bbox
    assert abs(label[0] - 60) < 3 and label[1] < 500 < label[3] + 3


def test_generated_digital_pdfs_of_every_table_style(pipeline):
    """The synthetic generator's digital PDFs: full grids, three-line tables, horizontal rules only,
    no rules; wrapped labels, merged cells, page breaks inside tables, repeated headers."""
    gen = pytest.importorskip("gongkai_datasets.generate")
    styles = set()
    for i in range(10):
        g = gen.generate_one(i, 7, flattener="digital_pdf")
        styles.add(g.truth["render"]["table_style"])
        result = pipeline.extract(g.content, f"{g.id}.pdf")
        assert check_cells(result, g.truth["cells"]) == {}, g.id
    assert len(styles) >= 3


# ---------------------------------------------------------------------------------------------
# Errors and partial success


def test_encrypted_pdf():
    from reportlab.lib import pdfencrypt

    def make(user: str) -> bytes:
        buf = io.BytesIO()
        enc = pdfencrypt.StandardEncryption(user, ownerPassword="owner", canPrint=1)
        c = canvas.Canvas(buf, pagesize=A4, encrypt=enc)
        c.setFont(font(), 12)
        for i in range(4):
            c.drawString(60, 700 - 20 * i, "政府信息公开工作年度报告政府信息公开申请情况")
        c.showPage()
        c.save()
        return buf.getvalue()

    with pytest.raises(EncryptedInput):
        PdfBackend()(make("secret"), "locked.pdf", IngestOptions())
    # an owner password only (empty user password): opens
    state = PdfBackend()(make(""), "owner-only.pdf", IngestOptions())
    assert state.kind == "digital_pdf" and "年度报告" in state.lines[0].fields[0].text


def test_encrypted_pdf_exit_code(pipeline):
    from reportlab.lib import pdfencrypt

    from extraction.cli import exit_code

    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=pdfencrypt.StandardEncryption("pw", canPrint=0))
    c.drawString(50, 50, "x")
    c.save()
    with pytest.raises(EncryptedInput) as err:
        pipeline.extract(buf.getvalue(), "locked.pdf")
    assert err.value.code == "encrypted_input" and exit_code(err.value) == 74


@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6, 0.9])
def test_truncated_pdf(keep):
    data, _, _ = seed_pdf()
    with pytest.raises(CorruptInput):
        PdfBackend()(data[: int(len(data) * keep)], "cut.pdf", IngestOptions())


def _minimal_pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_without_pages():
    data = _minimal_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    with pytest.raises(CorruptInput):
        PdfBackend()(data, "empty.pdf", IngestOptions())


def test_too_many_pages():
    data, _, _ = seed_pdf()
    with pytest.raises(InputTooLarge):
        PdfBackend()(data, "x.pdf", IngestOptions(max_pages=2))


def test_broken_page_gives_partial_result(pipeline):
    data, _, _ = seed_pdf()
    # page 1's page object is made an array (same length, so the xref stays valid): PDFium cannot load it
    pages = [m for m in re.finditer(rb"\n\d+ 0 obj\n<<(.*?)endobj", data, re.S) if b"/Type /Page\n" in m.group(1)]
    i = pages[0].start(1) - 2  # the "<<" that opens the page dictionary
    broken = data[:i] + b"[[" + data[i + 2 :]
    state = PdfBackend()(broken, "broken.pdf", IngestOptions())
    errors = {p.number: p.error for p in state.pages}
    assert errors[1] and errors[1].startswith("page_error") and errors[2] is None and errors[3] is None
    assert any("could not be read: 1" in w for w in state.warnings)
    result = pipeline.extract(broken, "broken.pdf")
    assert result.source.failed_pages == [1]
    assert result.cells["applications.new.total"].value == 53  # the tables on page 2 were read


def test_absurd_page_is_rendered_capped():
    data = _minimal_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>",
        ]
    )
    page = pdfium.PdfDocument(data)[0]
    space = PageSpace(page.get_cropbox(), page.get_rotation())
    image = render_page(page, space, dpi=200, max_pixels=4_000_000)
    assert image.shape[0] * image.shape[1] <= 4_000_000 and image.shape[0] > 1000


def test_image_pixel_bomb():
    from extraction.ingest.image import ImageBackend

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(InputTooLarge):
        ImageBackend()(png, "bomb.png", IngestOptions())


def test_damaged_image():
    from extraction.ingest.image import ImageBackend

    with pytest.raises(CorruptInput):
        ImageBackend()(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "bad.png", IngestOptions())


def test_garbage_text_layer_is_not_real():
    good = [(c, (0, 0, 1, 1)) for c in "政府信息公开工作年度报告本年新收申请数量 53 0 12"]
    assert text_layer_is_real(good, 0)
    garbage = [(c, (0, 0, 1, 1)) for c in "ÃÂ¿½ÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçè"]
    assert not text_layer_is_real(garbage, 0)
    assert not text_layer_is_real(good[:5], 0)  # a page number or a header only
    assert not text_layer_is_real(good, unmapped=40)  # fonts without a ToUnicode map


# ---------------------------------------------------------------------------------------------
# Geometry (no PDF)


def _w(text: str, x0: float, y0: float, x1: float, y1: float, chars: bool = True) -> Word:
    step = (x1 - x0) / max(1, len(text))
    ext = [(x0 + i * step, x0 + (i + 1) * step) for i in range(len(text))] if chars else None
    return Word(text, (x0, y0, x1, y1), 1.0, [], ext)


def _figure_words(rows: list[tuple[float, list[str]]], x0: float = 200.0, th: float = 10.0) -> list[Word]:
    """The figures of unruled table rows (top y, one figure per column; "" prints nothing):
    columns 40 apart from x0, each figure six wide."""
    return [_w(v, x0 + 40 * k, y, x0 + 6 + 40 * k, y + th) for y, vals in rows for k, v in enumerate(vals) if v]


def _grid_rules(xs: list[float], ys: list[float]) -> list[Rule]:
    return [Rule(xs[0], y, xs[-1], y) for y in ys] + [Rule(x, ys[0], x, ys[-1]) for x in xs]


def test_geometry_grid_rows_blanks_and_merged_cells():
    xs, ys = [0, 100, 140, 180, 220], [0, 20, 40, 60]
    rules = _grid_rules(xs, ys)
    words = [
        _w("信息内容", 5, 5, 60, 15),
        _w("规章", 5, 25, 30, 35),
        _w("1", 115, 25, 120, 35),
        _w("7", 195, 25, 200, 35),  # the middle column is blank
        _w("行政规范性文件", 5, 45, 80, 55),
        _w("2", 115, 45, 120, 55),
        _w("0", 155, 45, 160, 55),
        _w("18", 190, 45, 200, 55),
    ]
    lines = layout_page(words, rules, 1)
    assert [[f.text for f in ln.fields] for ln in lines] == [
        ["信息内容", "", "", ""],
        ["规章", "1", "", "7"],
        ["行政规范性文件", "2", "0", "18"],
    ]
    assert all(ln.delimited and ln.page == 1 for ln in lines)


def test_geometry_splits_a_row_whose_rule_was_not_found():
    # two printed rows inside one grid row (the rule between them lost): every figure cell holds
    # one figure per line, so the row is read as two; a wrapped label beside one figure is not
    xs, ys = [0, 100, 140, 180], [0, 20, 60, 100]
    words = [
        _w("信息内容", 5, 5, 60, 15),
        _w("行政处罚", 5, 27, 60, 37),
        _w("1762", 110, 24, 130, 34),
        _w("4", 160, 24, 165, 34),
        _w("行政强制", 5, 47, 60, 57),
        _w("52", 110, 44, 120, 54),
        _w("0", 160, 44, 165, 54),
        _w("（二）部分公开（区分处理的，", 5, 64, 95, 74),
        _w("只计这一情形）", 5, 82, 60, 92),
        _w("3", 115, 73, 120, 83),
        _w("0", 160, 73, 165, 83),
    ]
    lines = layout_page(words, _grid_rules(xs, ys), 1)
    assert [[f.text for f in ln.fields] for ln in lines] == [
        ["信息内容", "", ""],
        ["行政处罚", "1762", "4"],
        ["行政强制", "52", "0"],
        ["（二）部分公开（区分处理的，只计这一情形）", "3", "0"],
    ]


def test_geometry_frame_without_row_rules_is_read_by_alignment():
    # issue 15, class 1: an outer frame, a boxed header and one vertical rule between the labels
    # and the figures; no rule between body rows, labels wrapped over two lines beside figures
    # centred on them. The grid's one body "cell" per column holds figures of several rows: the
    # rows come from alignment, not from the rules.
    xs, ys = [0, 100, 300], [0, 20, 200]
    rules = [Rule(0, y, 300, y) for y in ys] + [Rule(x, 0, x, 200) for x in xs]
    rules += [Rule(x, 0, x, 20) for x in (140, 180, 220, 260)]  # the header is boxed
    words = [
        _w("信息内容", 5, 5, 60, 15),
        _w("本年新收", 105, 5, 135, 15),
        _w("（一）予以公开", 5, 25, 80, 35),
        *_figure_words([(25, ["12", "0", "3", "1", "16"])], x0=110.0),
        _w("（二）部分公开（区分处", 5, 45, 95, 55),
        _w("理的，只计这一情形）", 5, 58, 90, 68),
        *_figure_words([(51, ["2", "1", "0", "0", "3"])], x0=110.0),
        _w("（三）不予公开", 5, 75, 80, 85),
        *_figure_words([(75, ["0", "0", "0", "1", "1"])], x0=110.0),
    ]
    lines = layout_page(words, rules, 1)
    rows = [[f.text for f in ln.fields if f.text] for ln in lines if any(ch.isdigit() for ch in ln.text)]
    assert rows == [
        ["（一）予以公开", "12", "0", "3", "1", "16"],
        ["（二）部分公开（区分处理的，只计这一情形）", "2", "1", "0", "0", "3"],
        ["（三）不予公开", "0", "0", "0", "1", "1"],
    ]


def test_geometry_unruled_labels_the_wrap_rule_joins_are_matched_to_their_own_figures():
    # table 二 in a three-line table: labels at the top of their cells, figures a little lower (at
    # the cells' bottom). Nothing marks where 行政规范性文件 starts (no enumerator, a tight gap), so
    # the wrap rule joins the two labels; the order-keeping match cuts them, one per line of figures
    words = [
        _w("信息内容", 120, 604, 152, 613),
        _w("本年制发件数", 232, 604, 280, 613),
        _w("规章", 70, 621, 86, 630),
        _w("行政规范性文件", 70, 637, 126, 646),
        _w("第二十条第（五）项", 70, 654, 142, 663),
    ]
    words += _figure_words([(624, ["0", "0", "13"]), (641, ["1", "0", "22"])], x0=255.0, th=8.0)
    rows = [[f.text for f in ln.fields] for ln in layout_page(words, [], 1) if any(c.isdigit() for c in ln.text)]
    assert rows[:2] == [["规章", "0", "0", "13"], ["行政规范性文件", "1", "0", "22"]]


def test_geometry_cuts_a_box_that_spans_two_cells():
    xs, ys = [0, 100, 140, 180, 220], [0, 20]
    words = [_w("标签", 5, 5, 30, 15), _w("1234 5", 105, 5, 197, 15)]  # OCR read two cells as one box
    words[1].chars = [(105, 112), (112, 119), (119, 126), (126, 133), (133, 190), (190, 197)]
    lines = layout_page(words, _grid_rules(xs, ys), 1)
    assert [f.text for f in lines[0].fields] == ["标签", "1234", "", "5"]


def test_geometry_unruled_wrapped_labels_and_groups():
    words = [
        # group label (two lines, centred on its three rows) and wrapped row labels
        _w("（三）不予", 0, 40, 50, 50),
        _w("公开", 0, 52, 20, 62),
        _w("1.属于国家秘密", 60, 20, 140, 30),
        _w("2.其他法律行政", 60, 40, 140, 50),
        _w("法规禁止公开", 60, 52, 130, 62),
        _w("3.危及稳定", 60, 74, 130, 84),
    ]
    words += _figure_words([(20, ["0", "1", "1"]), (46, ["2", "", "2"]), (74, ["0", "0", "0"])])
    lines = layout_page(words, [], 1)
    rows = [[f.text for f in ln.fields] for ln in lines]
    assert rows == [
        ["（三）不予公开", "1.属于国家秘密", "0", "1", "1"],
        ["2.其他法律行政法规禁止公开", "2", "", "2"],
        ["3.危及稳定", "0", "0", "0"],
    ]


def test_geometry_unruled_two_labels_joined_by_a_lost_enumerator_are_split():
    # "4." of the second label lost under a seal: its lines continue the label above; the joined
    # block spans both rows' figures and each line goes to the nearer row. A group label beside
    # the rows (left of the row labels) stays whole.
    words = [
        _w("（五）不予", 0, 20, 50, 30),
        _w("处理", 0, 33, 20, 43),
        _w("1.信访举报投诉类", 60, 14, 150, 24),
        _w("申请", 90, 30, 110, 40),
        _w("3.要求提供公开出", 60, 52, 150, 62),
        _w("版物", 90, 69, 110, 79),
        _w("表正当理由大量", 65, 91, 145, 101),
        _w("反复申请", 80, 111, 130, 121),
    ]
    words += _figure_words([(y, ["0", "2", "2"]) for y in (22, 65, 106)])
    rows = [[f.text for f in ln.fields] for ln in layout_page(words, [], 1)]
    assert rows == [
        ["（五）不予处理", "1.信访举报投诉类申请", "0", "2", "2"],
        ["3.要求提供公开出版物", "0", "2", "2"],
        ["表正当理由大量反复申请", "0", "2", "2"],
    ]


def test_geometry_unruled_centred_labels_with_a_stray_space_stay_whole():
    # centred labels that print a stray space at the same place ("2. 其他法 律行政法规",
    # "4. 保护第 三方合法权") and lone last characters near the cell's middle ("益", "息"): that x
    # is not a label column, so each label line is one piece
    words = [
        _w("1.", 60, 10, 70, 20),
        _w("属于国家秘密", 80, 10, 150, 20),
        _w("2.", 60, 40, 70, 50),
        _w("其他法", 80, 40, 101, 50),
        _w("律行政法规", 113, 39, 163, 49),  # a pixel higher: sorted first
        _w("禁止公开", 91, 54, 131, 64),
        _w("4.", 60, 80, 70, 90),
        _w("保护第", 80, 80, 101, 90),
        _w("三方合法权", 113, 79, 163, 89),
        _w("益", 109, 94, 117, 104),
        _w("6.", 60, 120, 70, 130),
        _w("属于四类过程性信", 80, 120, 163, 130),
        _w("息", 109, 134, 117, 144),
    ]
    words += _figure_words([(y, ["0", "3"]) for y in (10, 47, 87, 127)], x0=220)
    rows = [[f.text for f in ln.fields] for ln in layout_page(words, [], 1)]
    assert rows == [
        ["1. 属于国家秘密", "0", "3"],
        ["2. 其他法律行政法规禁止公开", "0", "3"],
        ["4. 保护第三方合法权益", "0", "3"],
        ["6. 属于四类过程性信息", "0", "3"],
    ]


def test_repeated_header_after_page_break_is_dropped():
    def row(page, *texts):
        return Line([Field(t) for t in texts], page=page, delimited=True)

    lines = [
        row(1, "申请人情况", "总计"),
        row(1, "一、本年新收", "1", "1"),
        row(1, "3.其他", "0", "0"),
        Line([Field("- 1 -")], page=1),
        row(2, "申请人情况", "总计"),
        row(2, "（七）总计", "1", "1"),
    ]
    kept = [ln.fields[0].text for ln in drop_repeated_headers(lines)]
    assert kept == ["申请人情况", "一、本年新收", "3.其他", "- 1 -", "（七）总计"]


def test_words_keep_printed_spaces_and_break_at_inferred_ones():
    chars = [(c, (i * 10.0, 0.0, i * 10.0 + 9, 10.0)) for i, c in enumerate("予以公")]
    chars += [(" ", (0.0, 0.0, 0.0, 0.0)), ("开", (33.0, 0.0, 42.0, 10.0)), ("", (0, 0, 0, 0))]
    chars += [("1", (80.0, 0.0, 85.0, 10.0))]
    words = words_from_chars(chars)
    assert [w.text for w in words] == ["予以公 开", "1"]


# ---------------------------------------------------------------------------------------------
# Scanned PDFs and images: real OCR (slow)


@pytest.mark.slow
def test_scanned_seed_pdf_every_cell(pipeline):
    data, cells, _ = seed_pdf(embedded_font=True)
    scanned = images_pdf(scan_images(data, angle=1.2))
    result = pipeline.extract(scanned, "seed004-scan.pdf")
    assert result.source.kind == "scanned_pdf"
    assert check_cells(result, cells) == {}
    cell = result.cells["applications.new.legal_services"]
    assert cell.page == 2 and cell.bbox and cell.bbox[2] > 595  # image pixels at 200 dpi, not points
    assert 0.5 < cell.confidence <= 1.0


@pytest.mark.slow
def test_multipage_tiff_with_exif_rotation(pipeline):
    from PIL import Image

    data, cells, _ = seed_pdf(embedded_font=True)
    pages = scan_images(data, angle=-0.8, seed=3)
    # page 2 stored turned by 90 degrees with an EXIF orientation tag would need JPEG; TIFF pages
    # are stored upright here and page 3 upside down (found by the angle classifier)
    pages[2] = pages[2].rotate(180)
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    result = pipeline.extract(buf.getvalue(), "seed004.tiff")
    assert result.source.kind == "image" and result.source.pages == 3
    assert check_cells(result, cells) == {}
    # EXIF orientation of a one-page JPEG
    page2 = pages[1].rotate(90, expand=True)  # stored turned; the tag says "rotate 270 to view"
    exif = Image.Exif()
    exif[0x0112] = 6
    jbuf = io.BytesIO()
    page2.save(jbuf, "JPEG", quality=90, exif=exif)
    from extraction.ingest.image import ImageBackend

    state = ImageBackend()(jbuf.getvalue(), "p2.jpg", IngestOptions())
    texts = [" ".join(f.text for f in ln.fields) for ln in state.lines]
    assert any(re.search(r"本年新收.*53", t) for t in texts)


@pytest.mark.slow
def test_generated_scans_read_every_value_cell():
    """The synthetic generator's scanned PDFs (moderate preset: a red seal, 0.3-1.5° turn, blur,
    noise, JPEG): the number the ingest puts in each value cell's box (OCR + table geometry) is the
    truth. (End to end, the label matcher downstream still has to cope with OCR'd labels.)"""
    from extraction.ingest import Ingestor

    gen = pytest.importorskip("gongkai_datasets.generate")
    total = right = 0
    misses = []
    for i in range(3):
        g = gen.generate_one(i, 11, flattener="scanned_pdf", scan_preset="moderate")
        state = Ingestor()(g.content, f"{g.id}.pdf")
        fields = [f for ln in state.lines if ln.delimited for f in ln.fields if f.text and f.bbox]
        # the generator's boxes of a scanned PDF are in PDF points; ours in pixels of the 200 dpi page
        scale = state.pages[0].width / g.truth["render"]["page_size"][0]
        for cid, box in g.truth["boxes"].items():
            value = g.truth["cells"].get(cid)
            if not isinstance(value, int) or box.get("text_bbox") is None:
                continue
            x0, y0, x1, y1 = (v * scale for v in box["bbox"])
            inside = [
                f.text
                for f in fields
                if f.page == box["page"]
                and x0 <= (f.bbox[0] + f.bbox[2]) / 2 <= x1
                and y0 <= (f.bbox[1] + f.bbox[3]) / 2 <= y1
            ]
            total += 1
            if "".join(inside).replace(",", "").replace(" ", "") == str(value):
                right += 1
            else:
                misses.append((g.id, cid, value, inside))
    assert total > 400
    assert right >= 0.95 * total, misses[:10]  # measured: 577 of 596 (96.8 %)


def test_pages_read_side_by_side_come_out_in_page_order(monkeypatch):
    """OCR of two pages at once (OcrOptions.pages_in_flight) gives what reading them one by one
    gives: the same lines in page order, a failed page listed alone, progress in page order."""
    import extraction.ingest.image as image_ingest
    from extraction.ocr.base import OcrOptions
    from extraction.progress import page_done

    data, _, _ = seed_pdf(embedded_font=True)
    scanned = images_pdf(scan_images(data, angle=0.0))
    real_ocr_page = image_ingest.ocr_page

    def ocr_page(image, page, *args, **kwargs):
        if page == 2:
            raise RuntimeError("a defect while reading page 2")
        return real_ocr_page(image, page, *args, **kwargs)

    monkeypatch.setattr(image_ingest, "ocr_page", ocr_page)
    outcomes = []
    for depth in (1, 2):
        reported: list[int] = []
        token = page_done.set(reported.append)
        try:
            opts = IngestOptions(ocr=OcrOptions(pages_in_flight=depth))
            state = PdfBackend()(scanned, "scan.pdf", opts)
        finally:
            page_done.reset(token)
        lines = [(ln.page, ln.text) for ln in state.lines]
        errors = {p.number: p.error for p in state.pages}
        outcomes.append((lines, errors, reported))
    (lines, errors, reported), threaded = outcomes
    assert threaded == outcomes[0]
    assert reported == [1, 2, 3] and errors[1] is None and errors[3] is None
    assert errors[2] and "a defect while reading page 2" in errors[2]
    assert [p for p, _ in lines] == sorted(p for p, _ in lines) and {p for p, _ in lines} == {1, 3}
