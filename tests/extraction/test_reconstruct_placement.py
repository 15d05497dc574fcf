"""Placement classes found on held-out style families at seed 7310 (issue 15): figures placed in a
row whose label was not read, or read as another row's, are never confident; a figure inside a
remark wrapped over cells is no cell's."""

from __future__ import annotations

import pytest

from extraction.document import Anchor, DocumentState, PageInfo, Token
from extraction.pipeline import Pipeline
from extraction.reconstruct.assemble import Reconstructor
from gongkai_datasets import generate_one


@pytest.fixture(scope="module")
def report() -> str:
    """A 2021 report as tab-separated text whose （六）其他处理 prints three sub-rows."""
    g = generate_one(0, 5, flattener="tabs")
    assert g.truth["report"]["format"] == "2021" and "applications.other.other.total" in g.truth["cells"]
    return g.content


def _other_rows(text: str) -> dict:
    result = Pipeline().extract(text.encode(), "report.txt")
    return {k: c for k, c in result.cells.items() if k.startswith("applications.other.")}


def _replace_group(text: str, lines: str) -> str:
    a, b = text.index("\t（六）其他处理"), text.index("\t（七）总计")
    return text[:a] + lines + text[b:]


def test_a_sub_row_read_without_its_group_and_siblings_is_not_confident(report):
    """（六）其他处理 printed as one row, its label cut after 其他 by a page reader (three_line at seed
    7310): 其他 matched the sub-row 3.其他, and the sums held with the figures there, so they were
    read confidently in a row the page does not print."""
    cells = _other_rows(_replace_group(report, "\t（六）其他\t\t1\t0\t0\t0\t0\t0\t1\n"))
    placed = {k: c for k, c in cells.items() if c.value is not None}
    assert placed and all(c.review and "unverified" in c.flags for c in placed.values()), placed


def test_a_row_of_figures_without_a_label_is_placed_but_not_confident(report):
    """The figures of （六）'s one row with its label unread (indented_single_label_column at seed
    7310: the page reader cut the label into pieces that matched nothing): the line of figures went
    to the next row not found, 1.申请人无正当理由逾期不补正, by printing order alone, confidently."""
    cells = _other_rows(_replace_group(report, "他处理计\t（六）其\t1\t0\t0\t0\t0\t0\t1\n"))
    placed = {k: c for k, c in cells.items() if c.value is not None}
    assert placed and all(c.review for c in placed.values()), placed


def test_a_figure_inside_a_remark_wrapped_over_cells_is_no_cells(report):
    """The cell "20（其中修订5件）" wrapped in a narrow cell of a LibreOffice PDF came out as the pieces
    "20（其中修订" | "5" | "件）": the 5 inside the brackets was read as the row's first figure and
    the 20 dropped as an extra value, silently (word_libreoffice at seed 7310)."""
    start = report.index("行政规范性文件")
    end = report.index("\n", start)
    text = report[:start] + "行政规范性文件\t20（其中修订\t5\t件）\t0\t9" + report[end:]
    result = Pipeline().extract(text.encode(), "report.txt")
    got = {k: result.cells[k].value for k in result.cells if k.startswith("proactive.normative_documents.")}
    assert got == {
        "proactive.normative_documents.issued": 20,
        "proactive.normative_documents.repealed": 0,
        "proactive.normative_documents.in_force": 9,
    }, got


def test_a_labels_wrapped_bracket_is_no_remark_of_the_figures_after_it(report):
    """A browser's wrap of （二）部分公开（区分处理的，只计这一情形，不计其他情形） came out as the
    pieces "（二）部分公开" | "只计这一情形，不计其他情形）" | "（区分处理的，", then the figures
    (html_chromium at seed 9157): the bracket the label leaves open is no figure's remark, and
    the row keeps its figures."""
    start = report.index("部分公开")
    line_start = report.rindex("\n", 0, start) + 1
    end = report.index("\n", start)
    figures = report[line_start:end].split("\t")[-7:]
    row = "\t".join(["", "（二）部分公开", "只计这一情形，不计其他情形）", "（区分处理的，", *figures])
    text = report[:line_start] + row + report[end:]
    result = Pipeline().extract(text.encode(), "report.txt")
    got = [result.cells[f"applications.partially_granted.{c}"].value for c in ("natural_person", "total")]
    assert got == [int(figures[0]), int(figures[-1])], (got, figures)


def _page_rows_state(stray_in_label_column: bool) -> DocumentState:
    """A photographed page of 三、 whose labels 1.属于国家秘密 and 2.其他法律… a seal hid (only "2.其"
    read), a seal stroke read as "1" in the label columns beside the first lost row, and the
    label 3.危及"三安全一稳定" read a little below its figures (skew), so on the line after them."""
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=2, width=1200, height=1700, unit="px")]
    tokens: list[Token] = []

    def text(s: str, line: int, box: tuple[float, float, float, float]) -> int:
        tokens.append(Token(len(tokens), "text", s, line, 0, page=2, bbox=box, confidence=0.95, key=s))
        return len(tokens) - 1

    def figures(values: list[int], line: int, top: float) -> None:
        for k, v in enumerate(values):
            x = 700 + 95 * k
            tokens.append(Token(len(tokens), "number", str(v), line, 1 + k, page=2, bbox=(x, top, x + 6, top + 17)))

    partial = text("(二)部分公开", 0, (390, 970, 630, 990))
    figures([1, 0, 0, 0, 0, 0, 1], 0, 975)
    if stray_in_label_column:
        tokens.append(Token(len(tokens), "number", "1", 1, 0, page=2, bbox=(472, 1040, 477, 1080), confidence=0.5))
    figures([2, 0, 0, 0, 0, 0, 2], 1, 1055)
    text("2.其", 2, (516, 1111, 543, 1125))
    figures([3, 0, 0, 0, 0, 0, 3], 2, 1112)
    figures([4, 0, 0, 0, 0, 0, 4], 3, 1193)
    security = text("3.危及三安全一稳定", 4, (515, 1195, 634, 1210))
    third = text("4.保护第三方合法权益", 5, (513, 1251, 626, 1292))
    figures([5, 0, 0, 0, 0, 0, 5], 5, 1252)
    doc.tokens = tokens
    doc.anchors = [
        Anchor(partial, 0, "row", "applications.partially_granted", 1.0),
        Anchor(security, 0, "row", "applications.denied.security_stability", 1.0),
        Anchor(third, 0, "row", "applications.denied.third_party", 1.0),
    ]
    return doc


@pytest.mark.parametrize("stray_in_label_column", [False, True])
def test_rows_whose_labels_a_seal_hid_take_their_lines_of_figures_in_order(stray_in_label_column):
    """Rows under a seal keep their lines of figures in printing order, a seal's stroke read as a
    figure in the label columns is no cell, and a row whose label stands level with a line of
    figures takes it; the rows placed without a label read are never confident. Before, the stray
    "1" broke the lines' count, and all three rows came out missing (their figures extra values of
    部分公开)."""
    doc = _page_rows_state(stray_in_label_column)
    Reconstructor()(doc)
    first = {
        row: doc.cells[f"applications.{row}.natural_person"].value
        for row in ("partially_granted", "denied.state_secret", "denied.prohibited_by_law", "denied.security_stability")
    }
    assert first == {
        "partially_granted": 1,
        "denied.state_secret": 2,
        "denied.prohibited_by_law": 3,
        "denied.security_stability": 4,
    }
    assert doc.cells["applications.denied.third_party.total"].value == 5
    for row in ("denied.state_secret", "denied.prohibited_by_law"):
        cell = doc.cells[f"applications.{row}.total"]
        assert "unverified" in cell.flags and cell.confidence <= 0.5, (row, cell)


def _page_state(lines: list[tuple[list[tuple[str, tuple[float, float, float, float], str | None]], list[int] | None, float]]):
    """A page of 三、 from `lines`: per line, its label tokens (text, box, the row they are the
    anchor of or None) all in one field, and its figures (7, from x 700, at `top`) or None."""
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=2, width=1200, height=1700, unit="px")]
    tokens: list[Token] = []
    anchors: list[Anchor] = []
    for n, (labels, figures, top) in enumerate(lines):
        for text, box, row in labels:
            tokens.append(Token(len(tokens), "text", text, n, 0, page=2, bbox=box, confidence=0.95, key=text))
            if row is not None:
                anchors.append(Anchor(len(tokens) - 1, 0, "row", f"applications.{row}", 1.0))
        for k, v in enumerate(figures or []):
            x = 700 + 95 * k
            tokens.append(Token(len(tokens), "number", str(v), n, 1 + k, page=2, bbox=(x, top, x + 6, top + 17)))
    doc.tokens, doc.anchors = tokens, anchors
    return doc


def _first_figures(doc: DocumentState, rows: list[str]) -> dict[str, object]:
    return {row: doc.cells[f"applications.{row}.natural_person"].value for row in rows}


def test_row_labels_read_as_one_cell_keep_their_lines_of_figures_in_order():
    """A fax lost the rule between 2.其他法律… and 3.危及"三安全一稳定": both labels were read as one
    cell, on the line of the first row's figures, with the second row's figures on the next
    line. The first label took none and came out missing, the second took both lines."""
    stacked = (461.0, 1121.0, 715.0, 1277.0)
    doc = _page_state(
        [
            ([("1、属于国家秘密", (464, 1075, 660, 1096), "denied.state_secret")], [1, 0, 0, 0, 0, 0, 1], 1080),
            (
                [
                    ("2、其他法律行政法规禁止公开", stacked, "denied.prohibited_by_law"),
                    ("3、危及三安全一稳定", stacked, "denied.security_stability"),
                ],
                [2, 0, 0, 0, 0, 0, 2],
                1127,
            ),
            ([], [3, 0, 0, 0, 0, 0, 3], 1215),
            ([("4、保护第三方合法权益", (460, 1298, 712, 1365), "denied.third_party")], [4, 0, 0, 0, 0, 0, 4], 1300),
        ]
    )
    Reconstructor()(doc)
    rows = ["denied.state_secret", "denied.prohibited_by_law", "denied.security_stability", "denied.third_party"]
    assert _first_figures(doc, rows) == dict(zip(rows, [1, 2, 3, 4], strict=True))


def test_a_wrapped_labels_later_line_read_as_the_label_leaves_it_the_figures_beside_its_first():
    """（六）其他处理's 2.申请人逾期未按收费通知要求缴纳费用… wraps over five lines; OCR read its first
    line apart (unmatched, beside the row's figures) and matched the rest below the group label.
    The row took no figure and came out missing, its figures extra values of the row above."""
    doc = _page_state(
        [
            (
                [("1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", (455, 313, 591, 471), "other.no_amendment")],
                [1, 0, 0, 0, 0, 0, 1],
                316,
            ),
            ([("2.申请人逾期", (454, 490, 589, 506), None)], [2, 0, 0, 0, 0, 0, 2], 491),
            ([("(六)其他处理", (315, 506, 416, 554), None)], None, 0),
            (
                [
                    ("要求缴纳费用、行政机关不再处理其政府信息公开申请", (458, 547, 589, 680), "other.fee_unpaid"),
                    ("3.其他", (451, 710, 512, 731), "other.other"),
                ],
                [3, 0, 0, 0, 0, 0, 3],
                695,
            ),
        ]
    )
    Reconstructor()(doc)
    rows = ["other.no_amendment", "other.fee_unpaid", "other.other"]
    assert _first_figures(doc, rows) == dict(zip(rows, [1, 2, 3], strict=True))
