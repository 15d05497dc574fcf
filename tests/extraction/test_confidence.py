"""A cell that was not read as printed is never confident, on every input kind (issue 16).

- a row found without its figures (`missing`), a table not found: low confidence, review, and a
  document-level flag;
- a row of table 二 that printed fewer separate figures than cells: every cell `unverified`;
- a cell the sums filled: a check that holds only through it is `inferred`, not passed;
- a cell in a failed warning: lower confidence, review.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from extraction.document import UNVERIFIED_CONFIDENCE, CellValue, DocumentState, Line, PageInfo
from extraction.ingest.text import split_lines
from extraction.pipeline import Pipeline
from extraction.rules import RulesOptions, RulesStage
from extraction.schema import layout

SEED = Path(__file__).resolve().parents[2] / "datasets" / "seeds" / "000_2c6b076056c5acac.txt"
REVIEW_LEVEL = 0.8  # the pipeline's default review threshold


def _seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def _without_figures(text: str, label: str) -> str:
    """The seed with the figures of the row `label` removed (the label kept, alone on its line)."""
    out = []
    for line in text.splitlines():
        if line.split("\t")[0].strip() == label:
            line = label
        out.append(line)
    return "\n".join(out)


def _not_confident(cell) -> bool:
    """Never trusted: a cell with a doubt flag is in review whatever the threshold, under its doubt cap
    (an `unverified` figure keeps its calibrated probability up to UNVERIFIED_CONFIDENCE); any other
    is below the review level."""
    from extraction.document import doubt_cap
    from extraction.result import needs_review

    cap = doubt_cap(cell.flags)
    if cap < 1.0:
        return cell.confidence <= cap and needs_review(cell.confidence, cell.flags, False, 0.0)
    return cell.confidence < REVIEW_LEVEL


def _assert_unfound(result, cells: list[str]) -> None:
    for cid in cells:
        cell = result.cells[cid]
        assert _not_confident(cell), (cid, cell)
        assert cell.review and cid in result.review, cid


@pytest.fixture(scope="module")
def baseline_pipeline() -> Pipeline:
    from extraction.pipeline import PipelineOptions

    return Pipeline(PipelineOptions(labeler="baseline"))


def test_text_row_without_figures_is_missing_and_in_review(baseline_pipeline):
    text = _without_figures(_seed_text(), "行政规范性文件")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    ids = [f"proactive.normative_documents.{k}" for k in ("issued", "repealed", "in_force")]
    for cid in ids:
        assert "missing" in result.cells[cid].flags
    _assert_unfound(result, ids)
    assert "row_not_read:proactive.normative_documents" in result.flags


SEED_004 = SEED.parent / "004_bff1b9e23c617db0.txt"


def _row_printed_empty(text: str, *labels: str) -> str:
    """`text` as a PDF's text layer prints it: no empty cells (the seed's tab-separated table without
    its empty label cells), and the figures of the rows whose line holds one of `labels` dropped,
    as a blank row's empty cells are: their labels stay, nothing follows them."""
    out = []
    for line in text.splitlines():
        fields = [f for f in line.split("\t") if f.strip()]
        if any(label in line for label in labels):
            fields = [f for f in fields if not f.strip().isdigit()]
        out.append("\t".join(fields))
    return "\n".join(out)


def _reconstructed(text: str) -> DocumentState:
    from extraction.ingest import Ingestor
    from extraction.layout.baseline import BaselineLabeler
    from extraction.metadata import extract_metadata
    from extraction.reconstruct.assemble import Reconstructor
    from extraction.tokenize import tokenize

    doc = Ingestor()(text.encode("utf-8"), "report.txt")
    doc.tokens = tokenize(doc.lines)
    extract_metadata(doc)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    return doc


def test_text_row_printed_empty_that_the_sums_confirm_is_blank():
    """Issue 16: a row of 表三 whose label a text input prints with nothing after it, while its
    columns' 总计 and the balance hold with it empty (a printed figure of every column takes part),
    is a blank row (as a PDF's text layer prints one), not a row whose figures were lost: blank,
    not `missing`, no row_not_read. Before, every such row went to review (72 right cells of
    33,272 txt cells on seed 16)."""
    doc = _reconstructed(_row_printed_empty(SEED_004.read_text(encoding="utf-8"), "1. 属于国家秘密"))
    row = [cid for cid in doc.cells if cid.startswith("applications.denied.state_secret.")]
    assert len(row) == 7
    for cid in row:
        cell = doc.cells[cid]
        assert cell.value is None and "missing" not in cell.flags and "blank" in cell.flags, (cid, cell)
        assert cell.confidence == 1.0
    assert not [f for f in doc.flags if f.startswith("row_not_read:")]
    assert doc.cells["applications.partially_granted.legal_services"].value == 4


def test_text_row_printed_empty_that_the_sums_deny_stays_missing():
    """The same row printing nothing where its figures were not zero (部分公开: 4 and 4): the column
    totals break with it empty, so the figures were lost: missing, its document flag raised."""
    doc = _reconstructed(_row_printed_empty(SEED_004.read_text(encoding="utf-8"), "(二) 部分公开"))
    for cid in (f"applications.partially_granted.{k}" for k in ("natural_person", "legal_services", "total")):
        assert "missing" in doc.cells[cid].flags and doc.cells[cid].confidence <= 0.2, cid
    assert "row_not_read:applications.partially_granted" in doc.flags


def test_text_row_printed_empty_beside_another_unread_row_stays_missing():
    """Two rows printed empty in one column sum, one of them not zero: the sum fails, neither is
    confirmed (a row is confirmed only by a sum whose other cells were all read)."""
    doc = _reconstructed(_row_printed_empty(SEED_004.read_text(encoding="utf-8"), "(二) 部分公开", "1. 属于国家秘密"))
    assert "missing" in doc.cells["applications.denied.state_secret.natural_person"].flags
    assert "row_not_read:applications.denied.state_secret" in doc.flags


def test_every_cell_of_a_glued_run_cut_two_ways_is_ambiguous():
    """Issue 16: 「行政规范性文件1118」 on one line (table 二: no sum decides the cut). Read 1 | 1 | 18
    with 1 | 11 | 8 as the rival, the first cell is 1 in both and was left confident: a silent
    wrong cell where 11 | 1 | 8 was printed (seed 47). A cut is one question for the whole run."""
    text = (
        "二、主动公开政府信息情况 第二十条第(一)项信息内容本年制发件数本年废止件数现行有效件数规章000"
        "行政规范性文件1118第二十条第(五)项信息内容本年处理决定数量行政许可0"
    )
    doc = _reconstructed(text)
    for key in ("issued", "repealed", "in_force"):
        cell = doc.cells[f"proactive.normative_documents.{key}"]
        assert "ambiguous" in cell.flags and cell.alternatives and cell.confidence <= 0.3, (key, cell)
    assert 11 in doc.cells["proactive.normative_documents.issued"].alternatives
    assert "ambiguous" not in doc.cells["proactive.rules.issued"].flags  # 000: one cut only


def test_rows_a_detached_figure_may_belong_to_are_unverified():
    """Issue 16: converter Markdown with four figures detached above table 二 for three rows lacking
    one: ingest places none and leaves those rows at DETACHED_FIGURE_CONFIDENCE. A blank cell of
    such a row carried nothing else, and the calibrator read it as printed (0.9993, out of review:
    5 wrong cells on seed 43); it is now `unverified` (a doubt flag: in review, never confident)."""
    from extraction.ingest import Ingestor
    from extraction.layout.baseline import BaselineLabeler
    from extraction.metadata import extract_metadata
    from extraction.reconstruct.assemble import Reconstructor
    from extraction.tokenize import tokenize
    from tests.extraction.test_ingest_converter_markdown import TABLE_2_2019

    text = TABLE_2_2019.replace("\n0\n\n| 数据1", "\n0\n\n7\n\n| 数据1")
    doc = Ingestor()(text.encode("utf-8"), "report.md")
    doc.tokens = tokenize(doc.lines)
    extract_metadata(doc)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    for cid in ("proactive.rules.made", "proactive.other_services.previous_items", "proactive.rules.published"):
        cell = doc.cells[cid]
        assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, (cid, cell)
    assert "row_unverified:proactive.rules" in doc.flags


def test_html_row_without_figures_is_missing_and_in_review(baseline_pipeline):
    rows = "".join(
        f"<tr><td>{label}</td>{cells}</tr>"
        for label, cells in [
            ("信息内容", "<td>本年制发件数</td><td>本年废止件数</td><td>现行有效件数</td>"),
            ("规章", "<td>1</td><td>0</td><td>5</td>"),
            ("行政规范性文件", ""),  # the label, its figures not in the table
        ]
    )
    text = _seed_text()
    head, _, _ = text.partition("二、主动公开政府信息情况")
    body = text[text.index("三、收到和处理政府信息公开申请情况") :]
    html = (
        "<html><body><pre>" + head + "</pre><h2>二、主动公开政府信息情况</h2><p>第二十条第（一）项</p>"
        f"<table>{rows}</table><pre>{body}</pre></body></html>"
    )
    result = baseline_pipeline.extract(html.encode("utf-8"), "report.html")
    ids = [f"proactive.normative_documents.{k}" for k in ("issued", "repealed", "in_force")]
    _assert_unfound(result, ids)
    assert result.cells["proactive.rules.in_force"].value == 5


def test_docx_row_without_figures_is_missing_and_in_review(baseline_pipeline):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    text = _without_figures(_seed_text(), "规章")
    for line in text.splitlines():
        d.add_paragraph(line)
    buf = io.BytesIO()
    d.save(buf)
    result = baseline_pipeline.extract(buf.getvalue(), "report.docx")
    _assert_unfound(result, [f"proactive.rules.{k}" for k in ("issued", "repealed", "in_force")])


def _render_pdf_without(table_key: str) -> bytes:
    from gongkai_datasets import generate_one
    from gongkai_datasets.render_pdf import render_pdf

    g = generate_one(3, seed=16, flattener="pdf_text")
    doc = g.document
    doc.blocks = [b for b in doc.blocks if getattr(b, "key", None) != table_key]
    return render_pdf(doc, random.Random(3)).pdf


def test_digital_pdf_whose_table_cannot_be_read_sends_it_to_review(baseline_pipeline):
    pdf = _render_pdf_without("appeals")
    result = baseline_pipeline.extract(pdf, "report.pdf")
    assert result.source.kind == "digital_pdf"
    appeals = [cid for cid in result.cells if cid.startswith("appeals.")]
    assert appeals
    _assert_unfound(result, appeals)
    assert all("missing" in result.cells[cid].flags for cid in appeals)
    assert "table_not_found:appeals" in result.flags


def _ocr_state(text: str, kind: str) -> DocumentState:
    """The lines OCR would give for `text`, on one page of pixels (the pipeline after ingest)."""
    state = DocumentState(name="scan", sha256="0" * 64, kind=kind)
    state.lines = [Line(ln.fields, page=1, delimited=ln.delimited) for ln in split_lines(text)]
    state.pages = [PageInfo(1, 1654.0, 2339.0, "px")]
    return state


@pytest.mark.parametrize("kind", ["scanned_pdf", "image"])
def test_ocr_read_row_without_figures_is_missing_and_in_review(baseline_pipeline, kind):
    state = _ocr_state(_without_figures(_seed_text(), "行政许可"), kind)
    result = baseline_pipeline.run(state)
    _assert_unfound(result, ["proactive.licensing.decisions"])


def test_table_two_row_with_fewer_separate_figures_is_unverified(baseline_pipeline):
    # "40 5" for three cells: 40|blank|5 or 4|0|5? The old reading said 4, 0, 5 at 0.96.
    text = _seed_text().replace("规章\t0\t0\t0", "规章\t40 5")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    ids = [f"proactive.rules.{k}" for k in ("issued", "repealed", "in_force")]
    for cid in ids:
        assert "unverified" in result.cells[cid].flags, result.cells[cid]
    _assert_unfound(result, ids)
    assert "row_unverified:proactive.rules" in result.flags


def test_glued_run_split_in_table_two_is_not_a_separate_figure_guess(baseline_pipeline):
    # a run glued to its label, as one-line flattenings print every row: the reconstruction cuts it by
    # the cuts' length priors and does not flag the row as separate figures placed by a guess. The
    # rules stage still doubts the cells another cut would read otherwise (1205: 1 | 20 | 5 or
    # 12 | 0 | 5; no sum runs over table 二's rows); a run only one cut reads is not doubted
    text = _seed_text().replace("规章\t0\t0\t0", "规章1205")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    cells = {k: result.cells[f"proactive.rules.{k}"] for k in ("issued", "repealed", "in_force")}
    assert all("split_digits" in c.flags for c in cells.values()), cells
    assert "row_unverified:proactive.rules" not in result.flags
    assert all("unverified" in cells[k].flags for k in ("issued", "repealed")), cells
    assert "unverified" not in cells["in_force"].flags
    text = _seed_text().replace("规章\t0\t0\t0", "规章000")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    cells = {k: result.cells[f"proactive.rules.{k}"] for k in ("issued", "repealed", "in_force")}
    assert all("split_digits" in c.flags and "unverified" not in c.flags for c in cells.values()), cells


def _cells(values: dict[str, int | None], unread: set[str]) -> dict[str, CellValue]:
    return {
        cid: CellValue(value=v, confidence=0.3 if cid in unread else 1.0, bbox=(0, 0, 1, 1) if cid in unread else None)
        for cid, v in values.items()
    }


def _zero_values(fmt: str = "2021") -> dict[str, int | None]:
    return dict.fromkeys(layout(fmt).cells, 0)


def test_a_check_that_holds_only_through_a_filled_cell_is_inferred_not_passed():
    # The report breaks the balance: new (2) + carried over (0) ≠ outcomes (1) + carried forward (0)
    # for the natural-person column, and the outcome 予以公开 cell was not read. Filling it from the
    # balance (2) would hide the report's own error.
    values = _zero_values()
    values["applications.new.natural_person"] = 2
    values["applications.new.total"] = 2
    values["applications.granted.natural_person"] = None
    values["applications.granted.total"] = 1
    values["applications.outcome_total.natural_person"] = 1
    values["applications.outcome_total.total"] = 1
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.cells = _cells(values, {"applications.granted.natural_person"})
    RulesStage(RulesOptions()).__call__(doc)
    filled = doc.cells["applications.granted.natural_person"]
    assert "filled_by_rule" in filled.flags and _not_confident(filled)
    by_rule = {c.rule: c for c in doc.checks}
    inferred = [c for c in doc.checks if c.status == "inferred"]
    assert inferred, "a check holding only through the filled cell must say so"
    for c in inferred:
        assert not c.passed and "applications.granted.natural_person" in c.cells
    # the row total still shows the report's inconsistency or the inference: nothing says "passed"
    # for a rule over the filled cell
    for rule, c in by_rule.items():
        if "applications.granted.natural_person" in c.cells and not rule.endswith(".values"):
            assert c.status != "passed", rule


def _rules_over_read_cells(
    values: dict[str, int | None], ocr: bool, edit: Callable[[DocumentState], None]
) -> tuple[DocumentState, set[str]]:
    """The rules stage over `values` read from the page (each cell from a token; `ocr`: an OCR'd
    page, else a text input), after `edit` changed the document; the document and the cells in review."""
    from extraction.pipeline import PipelineOptions

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf" if ocr else "txt", format="2021")
    doc.cells = _cells(values, set())
    for cell in doc.cells.values():
        cell.tokens = [0]
    edit(doc)
    if ocr:
        doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]
    RulesStage(RulesOptions()).__call__(doc)
    result = Pipeline(PipelineOptions(labeler="baseline", calibration="none")).result(doc)
    return doc, {cid for cid, c in result.cells.items() if c.review}


def test_a_row_ocr_lost_whole_among_rows_printing_zeros_is_filled_with_zeros_in_review():
    """Phone photos and faxes of tables of small figures: the page reader lost whole rows of 0s
    (seeds 7474 and 7676: 235 of the photos' and faxes' wrong cells were zeros left missing). Where
    the read rows' column sums hold, a lost row's figures add up to 0 and cannot be negative: each is
    0, filled from the sums (in review, as every value the sums supplied). Only on an OCR'd page of a
    table that prints its zeros: from a text layer, or where a row label was read with no figure
    beside it (a report that leaves a row blank), the lost row stays blank."""
    from extraction.document import Anchor, Token

    lost = [cid for cid in layout("2021").cells if cid.startswith("applications.denied.third_party.")]

    def run(ocr: bool, blank_row_read: bool = False) -> tuple[DocumentState, set[str]]:
        values = _zero_values()
        for cid in ("new", "granted", "outcome_total"):
            values[f"applications.{cid}.natural_person"] = values[f"applications.{cid}.total"] = 3

        def lose_the_row(doc: DocumentState) -> None:
            doc.tokens = [Token(index=0, kind="text", text="4.保护第三方合法权益", line=0, field=0)]
            for cid in lost:
                doc.cells[cid] = CellValue(value=None, confidence=0.2, flags=["missing"])
            if blank_row_read:
                doc.anchors = [Anchor(token=0, offset=0, kind="row", key="applications.denied.third_party", score=1.0)]

        return _rules_over_read_cells(values, ocr, lose_the_row)

    doc, reviewed = run(ocr=True)
    for cid in lost:
        cell = doc.cells[cid]
        assert cell.value == 0 and "filled_by_rule" in cell.flags and _not_confident(cell), (cid, cell)
    assert set(lost) <= reviewed
    for ocr, blank_row_read in ((False, False), (True, True)):
        doc, reviewed = run(ocr, blank_row_read)
        assert all(doc.cells[cid].value is None for cid in lost), (ocr, blank_row_read)
        assert set(lost) <= reviewed


def test_a_gap_the_page_reader_left_in_a_table_that_prints_its_zeros_is_a_lost_zero_in_review():
    """A fax's row read with fewer figures than cells: the gaps were placed (`inferred_blank`) and
    the cells came out blank where the page printed 0 (seeds 7474/7676: 70 such cells). 0 and blank
    are the same to the sums; in a table of an OCR'd page that prints its zeros the gap is a 0 it
    lost, given for review. A table with a blank read surely, or a text input, keeps its blanks."""
    gap, sure_blank = "applications.granted.research", "applications.denied.state_secret.research"

    def run(ocr: bool, with_sure_blank: bool = False) -> tuple[DocumentState, set[str]]:
        def leave_blanks(doc: DocumentState) -> None:
            doc.cells[gap] = CellValue(value=None, confidence=0.5, flags=["ambiguous", "inferred_blank"])
            if with_sure_blank:
                doc.cells[sure_blank] = CellValue(value=None, confidence=1.0, flags=["blank"])

        return _rules_over_read_cells(_zero_values(), ocr, leave_blanks)

    doc, reviewed = run(ocr=True)
    cell = doc.cells[gap]
    assert cell.value == 0 and "filled_by_rule" in cell.flags and _not_confident(cell) and gap in reviewed
    for ocr, with_sure_blank in ((False, False), (True, True)):
        doc, reviewed = run(ocr, with_sure_blank)
        assert doc.cells[gap].value is None and gap in reviewed, (ocr, with_sure_blank)


def test_a_failed_warning_lowers_its_cells_confidence(baseline_pipeline):
    # 规章: issued 698, in force 88 — in force is usually not below issued (the soft rule)
    text = _seed_text().replace("规章\t0\t0\t0", "规章\t698\t0\t88")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    failed = [c for c in result.checks if c.severity == "warning" and c.status == "failed"]
    assert any("proactive.rules.in_force" in c.cells for c in failed)
    for cid in ("proactive.rules.issued", "proactive.rules.in_force"):
        cell = result.cells[cid]
        assert "failed_warning" in cell.flags and cell.review, cell


def test_the_calibrated_model_never_lifts_a_doubtful_cell_above_review():
    """After calibration (which replaces the confidence), the rules stage caps every cell not read
    as printed below the review level."""
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    values = _zero_values()
    doc.cells = {cid: CellValue(value=v, confidence=0.999) for cid, v in values.items()}
    doc.cells["applications.new.total"].flags = ["missing"]
    doc.cells["applications.new.total"].value = None
    doc.cells["appeals.review.total"].flags = ["corrected_by_rule"]
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert _not_confident(doc.cells["applications.new.total"])
    assert _not_confident(doc.cells["appeals.review.total"])


def test_figures_printed_above_their_labels_send_the_table_to_review(baseline_pipeline):
    # a top-aligned figure beside a centred label comes out before its label: each row would take
    # the next one's figure (行政处罚 ← 7), silently in table 二 where no sum checks it
    text = _seed_text()
    assert "行政处罚\t0\n行政强制\t0" in text
    text = text.replace("行政处罚\t0\n行政强制\t0", "5\n行政处罚\n7\n行政强制")
    result = baseline_pipeline.extract(text.encode("utf-8"), "report.txt")
    assert "stray_figures:proactive" in result.flags
    for cid in ("proactive.penalty.decisions", "proactive.coercion.decisions"):
        assert result.cells[cid].review, result.cells[cid]


# ---------------------------------------------------------------------------------------------
# With the cell calibrator of every input kind (extraction.calibration, the active version): the
# default pipeline. No cell not found is above the version's certified review level, on any kind.


@pytest.fixture(scope="module")
def calibrated_pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture(scope="module")
def review_level() -> float:
    from extraction.calibration import load_calibrator

    level = load_calibrator().review_below
    assert level is not None and level >= REVIEW_LEVEL
    return level


def _assert_missing_below(result, cells: list[str], level: float) -> None:
    assert cells
    for cid in cells:
        cell = result.cells[cid]
        assert "missing" in cell.flags, (cid, cell)
        assert "+calibration-" in cell.model, cell.model  # the calibrator set its confidence
        assert cell.confidence < level and cell.confidence <= RulesOptions().doubt_confidence, (cid, cell)
        assert cell.review and cid in result.review, cid
    assert result.guarantee is not None and result.guarantee.review_below == level


def _html_without_figures() -> bytes:
    text = _without_figures(_seed_text(), "行政规范性文件")
    body = "".join(
        "<tr>" + "".join(f"<td>{f}</td>" for f in line.split("\t")) + "</tr>" if "\t" in line else f"<p>{line}</p>"
        for line in text.splitlines()
    )
    return f"<html><body><table>{body}</table></body></html>".encode()


def _docx_without_figures() -> bytes:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    for line in _without_figures(_seed_text(), "行政规范性文件").splitlines():
        d.add_paragraph(line)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


NORMATIVE = [f"proactive.normative_documents.{k}" for k in ("issued", "repealed", "in_force")]


@pytest.mark.parametrize("kind", ["txt", "md", "html", "docx"])
def test_calibrated_missing_cells_stay_below_the_review_level_on_text_kinds(calibrated_pipeline, review_level, kind):
    text = _without_figures(_seed_text(), "行政规范性文件")
    data = {
        "txt": lambda: text.encode("utf-8"),
        "md": lambda: text.encode("utf-8"),
        "html": _html_without_figures,
        "docx": _docx_without_figures,
    }[kind]()
    result = calibrated_pipeline.extract(data, f"report.{kind}")
    assert result.source.kind == kind
    _assert_missing_below(result, NORMATIVE, review_level)


def test_calibrated_digital_pdf_whose_table_cannot_be_read(calibrated_pipeline, review_level):
    result = calibrated_pipeline.extract(_render_pdf_without("appeals"), "report.pdf")
    assert result.source.kind == "digital_pdf"
    assert "table_not_found:appeals" in result.flags
    _assert_missing_below(result, [cid for cid in result.cells if cid.startswith("appeals.")], review_level)


@pytest.mark.parametrize("kind", ["scanned_pdf", "image"])
def test_calibrated_missing_cells_stay_below_the_review_level_on_ocr_kinds(calibrated_pipeline, review_level, kind):
    result = calibrated_pipeline.run(_ocr_state(_without_figures(_seed_text(), "行政许可"), kind))
    _assert_missing_below(result, ["proactive.licensing.decisions"], review_level)


@pytest.mark.parametrize("fill", [True, False])
def test_a_row_sum_that_holds_only_through_a_blank_ocr_left_unread_is_not_confident(fill):
    """On a scan OCR missed a faint figure; the row's other figures were placed around the gap
    (`inferred_blank`) and the row still adds up, with the gap counted as 0 (or filled from the sums).
    The sum cannot vouch for where the figures went: the check holds by inference and the row's
    placed figures go to review (a shifted total once passed at confidence 1.0)."""
    from extraction.schema import constraints

    check = next(
        c
        for c in constraints(layout("2021"))
        if c.kind == "eq" and len(c.left) == 1 and len(c.right) >= 3 and c.left[0].startswith("appeals.")
    )
    values = _zero_values()
    c_total, c_first, c_gap = check.left[0], check.right[0], check.right[1]
    values[c_first] = 1
    values[c_total] = 1
    values[c_gap] = None
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=1000, height=1400, unit="px")]
    doc.cells = _cells(values, {c_gap})
    for cid in (c_total, *check.right):
        doc.cells[cid].flags.append("inferred_blank")
    RulesStage(RulesOptions(fill_from_sums=fill)).__call__(doc)
    holds = next(c for c in doc.checks if c.rule == check.rule)
    assert holds.status == "inferred" and not holds.passed
    for cid in (c_total, c_first):
        assert "unverified" in doc.cells[cid].flags and _not_confident(doc.cells[cid]), cid
    assert _not_confident(doc.cells[c_gap])
    # the same row read from a text layer (no OCR): its placement is not doubted this way
    text_doc = DocumentState(name="x", sha256="0", kind="pdf", format="2021")
    text_doc.cells = _cells(values, set())
    for cid in (c_total, *check.right):
        text_doc.cells[cid].flags.append("inferred_blank")
    RulesStage(RulesOptions(fill_from_sums=fill)).__call__(text_doc)
    assert "unverified" not in text_doc.cells[c_total].flags


def test_a_guess_beside_a_doubtful_cell_of_its_row_on_an_ocr_page_is_not_confident():
    """A fax's glued 43 | 6 read as "40" and split 4 | 0 (`split_digits`): the row's other cells were
    in review, the split ones passed at 0.998. On an OCR'd page a guessed placement shares its row's
    reading: a row mate in doubt sends the guess to review; from a text layer it does not."""
    values = _zero_values()
    row = "applications.unavailable.not_held"
    for kind, unit in (("scanned_pdf", "px"), ("pdf", "pt")):
        doc = DocumentState(name="x", sha256="0", kind=kind, format="2021")
        doc.pages = [PageInfo(number=1, width=1000, height=1400, unit=unit)]
        doc.cells = _cells(values, set())
        doc.cells[f"{row}.natural_person"].flags.append("split_digits")
        doc.cells[f"{row}.research"].flags.append("split_digits")
        doc.cells[f"{row}.commercial"].flags.append("ambiguous")
        doc.cells["applications.granted.natural_person"].flags.append("split_digits")  # another row: untouched
        RulesStage(RulesOptions()).__call__(doc)
        guessed = [doc.cells[f"{row}.natural_person"], doc.cells[f"{row}.research"]]
        if unit == "px":
            assert all("unverified" in c.flags and _not_confident(c) for c in guessed)
        else:
            assert not any("unverified" in c.flags for c in guessed)
        other = doc.cells["applications.granted.natural_person"]
        assert "unverified" not in other.flags and other.confidence == 1.0


def test_other_processing_printed_as_one_row_without_figures_keeps_its_own_cells():
    """（六）其他处理 printed as one row with no figures and no sub-row labels (the single-row variant):
    read as three missing sub-rows before, so the report's own seven cells were absent from the output
    (none of them in review); now that one row. Its column totals hold with it empty (a PDF's text
    printing a blank row), so it is blank, confirmed by the sums (issue 16), not missing."""
    from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW
    from gongkai_datasets import generate_one

    g = generate_one(22, 23, flattener="pdf_text")
    assert VARIANT_OTHER_SINGLE_ROW in g.truth["report"]["variants"]
    result = Pipeline().extract(g.content.encode("utf-8"), "report.txt")
    assert VARIANT_OTHER_SINGLE_ROW in result.report.variants
    other = {cid: c for cid, c in result.cells.items() if cid.startswith("applications.other.")}
    assert set(other) == {cid for cid in g.truth["cells"] if cid.startswith("applications.other.")}
    assert all(c.value is None and "blank" in c.flags and "missing" not in c.flags for c in other.values())
    assert "row_not_read:applications.other" not in result.flags


def _on_one_line(doc: DocumentState, cids: list[str], line: int) -> None:
    """Give the figures of `cids` tokens on text line `line` (one printed run of figures)."""
    from extraction.document import Token

    for cid in cids:
        cell = doc.cells[cid]
        if cell.value is None:
            continue
        doc.tokens.append(Token(index=len(doc.tokens), kind="number", text=str(cell.value), line=line, field=0))
        cell.tokens = [len(doc.tokens) - 1]


def test_a_gap_placed_among_zeros_is_never_vouched_for_by_the_sums():
    """A digital PDF printed the appeals' review and direct-litigation rows as one run "0 0 0 0 0 0
    0 0 0" over ten cells; the gap was guessed under 直接起诉·纠正 where the page left 行政复议·其他
    blank. A blank and a 0 are the same to every sum, so the rows' sums held and the misplaced gap
    passed at 0.9997: every cell another placement of the same figures would change is unverified."""
    layout_2021 = layout("2021")
    review = layout_2021.row("appeals.review").cell_ids
    direct = layout_2021.row("appeals.litigation_direct").cell_ids
    for kind, unit in (("digital_pdf", "pt"), ("md", None)):
        values = _zero_values()
        values["appeals.litigation_direct.corrected"] = None
        doc = DocumentState(name="x", sha256="0", kind=kind, format="2021")
        if unit:
            doc.pages = [PageInfo(number=1, width=600, height=800, unit=unit)]
        doc.cells = _cells(values, set())
        for cid in review + direct:
            doc.cells[cid].flags.append("inferred_blank")
        _on_one_line(doc, review + direct, 7)
        RulesStage(RulesOptions()).__call__(doc)
        assert all(c.passed for c in doc.checks if c.severity == "error"), kind
        for cid in review + direct:
            assert "unverified" in doc.cells[cid].flags and doc.cells[cid].confidence <= UNVERIFIED_CONFIDENCE, (kind, cid)
        other = doc.cells["appeals.litigation_after_review.corrected"]  # another line: untouched
        assert "unverified" not in other.flags and other.confidence == 1.0


def test_a_gap_placed_after_a_doubtful_figure_that_may_be_no_figure_is_not_confident():
    """A scan of table 四 printed 0 0 0 0 0 | 0 0 1 0 1 | 0 0 0 0 0, a seal over two of its 0s; a
    stroke of the seal above the row was read as a figure "1" at 0.5 and taken as the row's first.
    Its 14 figures were placed around one guessed gap, every figure after the stroke a cell to the
    right: 直接起诉's 1 | 0 under 其他结果 | 尚未审结 became 0 | 1, and its total still held, at 1.0
    (review_guarantee seed 5151, indented_single_label_column scan). Without the doubtful figure
    the same figures fit with the gaps elsewhere and every rule that holds still holds: the cells
    that reading changes are unverified."""
    lay = layout("2021")
    ids = [
        cid
        for row in ("review", "litigation_direct", "litigation_after_review")
        for cid in lay.row(f"appeals.{row}").cell_ids
    ]
    read = [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, None, 0, 0, 0, 0]
    values = _zero_values()
    values.update(zip(ids, read, strict=True))
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]
    doc.cells = _cells(values, set())
    for cid in ids:
        doc.cells[cid].flags.append("inferred_blank")
    stroke = doc.cells["appeals.review.upheld"]
    stroke.confidence = stroke.read_confidence = 0.5
    _on_one_line(doc, ids, 9)
    RulesStage(RulesOptions()).__call__(doc)
    assert next(c for c in doc.checks if c.rule == "appeals.total.litigation_direct").passed
    for cid in ("appeals.litigation_direct.other", "appeals.litigation_direct.pending"):
        cell = doc.cells[cid]
        assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, (cid, cell.flags)


def test_a_gap_the_sums_place_is_not_doubted():
    """The same guess where the column sums tell the gap's place: 予以公开 printed "5 3 0 0 0 8" over
    seven cells, the gap under 商业企业 (moving it moves the 3 or the 5 into another column, whose
    sum breaks). The placement is verified; nothing is unverified."""
    values = _zero_values()
    for row in ("new", "granted", "outcome_total"):
        values[f"applications.{row}.natural_person"] = 5
        values[f"applications.{row}.research"] = 3
        values[f"applications.{row}.total"] = 8
    values["applications.granted.commercial"] = None
    row = layout("2021").row("applications.granted").cell_ids
    doc = DocumentState(name="x", sha256="0", kind="digital_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=600, height=800, unit="pt")]
    doc.cells = _cells(values, set())
    for cid in row:
        doc.cells[cid].flags.append("inferred_blank")
    _on_one_line(doc, row, 3)
    RulesStage(RulesOptions()).__call__(doc)
    assert all(c.passed for c in doc.checks if c.severity == "error")
    assert not any("unverified" in doc.cells[cid].flags for cid in row)
    assert all(doc.cells[cid].confidence == 1.0 for cid in row)
    # a line whose gaps could go more ways than the rules stage tries is unverified whole
    for cid in row:
        doc.cells[cid].confidence = 1.0
    RulesStage(RulesOptions(max_placements=6)).__call__(doc)  # 7 places for the one gap
    assert all("unverified" in doc.cells[cid].flags and doc.cells[cid].confidence <= UNVERIFIED_CONFIDENCE for cid in row)


def test_figures_beside_a_row_not_read_that_no_sum_places_are_not_confident():
    """A three-line digital PDF: 行政许可's row was not found (its cells `missing`), and its figures
    4 | 380 | 426 were read into the next row, 其他对外管理服务事项, which the report left blank. No sum
    runs across table 二's rows, so nothing told them apart and they passed at 0.9998: figures next to
    a row not read that would fit it as well are unverified. Where a sum does place them (the
    outcome total beside an unread 结转下年度), they are not doubted."""
    values = _zero_values("2019")
    licensing = layout("2019").row("proactive.licensing").cell_ids
    other = layout("2019").row("proactive.other_services").cell_ids
    for cid in licensing:
        values[cid] = None
    for cid, v in zip(other, (4, 380, 426), strict=True):
        values[cid] = v
    doc = DocumentState(name="x", sha256="0", kind="digital_pdf", format="2019")
    doc.cells = _cells(values, set())
    for cid in licensing:
        doc.cells[cid].flags.append("missing")
    doc.flags.append("row_not_read:proactive.licensing")
    RulesStage(RulesOptions()).__call__(doc)
    for cid in other:
        assert "unverified" in doc.cells[cid].flags and doc.cells[cid].confidence <= UNVERIFIED_CONFIDENCE, cid
    penalty = doc.cells["proactive.penalty.decisions"]  # not beside the unread row
    assert "unverified" not in penalty.flags and penalty.confidence == 1.0

    values = _zero_values()
    for row in ("new", "granted", "outcome_total"):
        values[f"applications.{row}.natural_person"] = 2
        values[f"applications.{row}.total"] = 2
    forward = layout("2021").row("applications.carried_forward").cell_ids
    for cid in forward:
        values[cid] = None
    doc = DocumentState(name="x", sha256="0", kind="digital_pdf", format="2021")
    doc.cells = _cells(values, set())
    for cid in forward:
        doc.cells[cid].flags.append("missing")
    doc.flags.append("row_not_read:applications.carried_forward")
    RulesStage(RulesOptions()).__call__(doc)
    outcome = layout("2021").row("applications.outcome_total").cell_ids
    assert not any("unverified" in doc.cells[cid].flags for cid in outcome)


def test_a_blank_read_with_doubt_is_never_confident_whatever_the_calibrator_says():
    """Converter Markdown printed table 二's figures detached above the table; the ingest could not
    place them and left the rows' cells at 0.5 (review). The calibrator, fitted where blanks read
    surely are nearly always right, lifted the blank 本年制发件数 to 0.9993 (the report's 0 was
    dropped). A blank whose reading was in doubt is unverified; a blank read surely is not."""
    values = _zero_values()
    doubtful, sure = "proactive.normative_documents.issued", "proactive.rules.issued"
    values[doubtful] = values[sure] = None
    doc = DocumentState(name="x", sha256="0", kind="md", format="2021")
    doc.cells = _cells(values, set())
    for cid, read in ((doubtful, 0.5), (sure, 1.0)):
        doc.cells[cid].read_confidence = read  # the reconstruction's confidence
        doc.cells[cid].confidence = 0.9993  # the calibrator's
        doc.cells[cid].flags.append("blank")
    RulesStage(RulesOptions()).__call__(doc)
    assert "unverified" in doc.cells[doubtful].flags and doc.cells[doubtful].confidence <= UNVERIFIED_CONFIDENCE
    assert "unverified" not in doc.cells[sure].flags and doc.cells[sure].confidence == 0.9993


def test_a_glued_run_that_no_sum_cuts_is_not_confident():
    """A one-line text printed 行政规范性文件 "1309" glued; the reconstruction cut it 1 | 30 | 9, the
    report printed 13 | 0 | 9. No sum runs over table 二's rows, so the cut passed at 0.9993: the
    cells another cut of the same digits would change are unverified. A run only one cut reads
    ("000") is not doubted."""
    from extraction.document import Token

    values = _zero_values()
    doc = DocumentState(name="x", sha256="0", kind="txt", format="2021")
    doc.cells = _cells(values, set())
    for row, run, pieces in (("normative_documents", "1309", ("1", "30", "9")), ("rules", "000", ("0", "0", "0"))):
        doc.tokens.append(Token(index=len(doc.tokens), kind="number", text=run, line=0, field=0, glued=True))
        for col, piece in zip(("issued", "repealed", "in_force"), pieces, strict=True):
            cell = doc.cells[f"proactive.{row}.{col}"]
            cell.value, cell.text, cell.tokens = int(piece), piece, [len(doc.tokens) - 1]
            cell.flags.append("split_digits")
    RulesStage(RulesOptions()).__call__(doc)
    for col in ("issued", "repealed"):  # 13 | 0 | 9 reads them otherwise
        cell = doc.cells[f"proactive.normative_documents.{col}"]
        assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, col
    assert "unverified" not in doc.cells["proactive.normative_documents.in_force"].flags
    assert not any("unverified" in doc.cells[f"proactive.rules.{c}"].flags for c in ("issued", "repealed", "in_force"))


def test_sub_rows_of_other_processing_that_ocr_did_not_read_stay_missing_not_a_single_row():
    """A fax whose OCR read （六）其他处理 but none of its three sub-rows' labels was read as the
    single-row variant: the report's 21 sub-row cells were absent from the output, in no review and
    under no flag. OCR that lost the labels is no evidence they were not printed: on an OCR'd page
    the statutory template's three sub-rows stay, missing and in review. From a text layer the
    absence of their labels is evidence, and the one row stays (the test above)."""
    from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW
    from gongkai_datasets import generate_one

    g = generate_one(22, 23, flattener="pdf_text")  # prints （六）其他处理 as one row, no figures
    pipeline = Pipeline()
    doc = pipeline.process(DocumentState.for_input(g.content.encode("utf-8"), "report.txt"), until="layout")
    doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]  # as if OCR had read it
    result = pipeline.run(doc)
    assert VARIANT_OTHER_SINGLE_ROW not in result.report.variants
    sub_rows = {cid: c for cid, c in result.cells.items() if cid.startswith("applications.other.")}
    assert {cid.rsplit(".", 1)[0] for cid in sub_rows} == {
        f"applications.other.{k}" for k in ("no_amendment", "fee_unpaid", "other")
    }
    assert all(c.review and c.value is None and "missing" in c.flags for c in sub_rows.values())


def test_a_blank_beside_a_figure_that_no_cell_took_is_not_confident():
    """A digital PDF (no_rules_aligned) printed 行政事业性收费 … 0 with the figure right-aligned a line
    low; the page reader joined the label to the head 信息内容 above it, the 0 became an extra figure
    of a table-三 row and was dropped, and the fee amount came out blank at 0.9993. A figure on the
    page, level with a row's label and right of it, that no cell took, may be that row's blank."""
    from extraction.document import Anchor, Token

    doc = DocumentState(name="x", sha256="0", kind="pdf", format="2021")
    doc.pages = [PageInfo(number=2, width=595, height=842, unit="pt")]
    doc.tokens = [
        Token(0, "text", "信息内容行政事业性收费", 0, 0, page=2, bbox=(130.0, 275.6, 193.0, 303.3)),
        Token(1, "number", "0", 1, 0, page=2, bbox=(494.9, 298.5, 500.3, 307.5)),  # taken by no cell
        Token(2, "text", "行政处罚", 2, 0, page=2, bbox=(130.0, 200.0, 170.0, 210.0)),
        Token(3, "number", "0", 2, 1, page=2, bbox=(494.9, 200.0, 500.3, 210.0)),
    ]
    doc.anchors = [Anchor(0, 0, "row", "proactive.fees", 1.0), Anchor(2, 0, "row", "proactive.penalty", 1.0)]
    doc.cells = _cells(_zero_values(), set())
    doc.cells["proactive.fees.amount"] = CellValue(value=None, confidence=1.0, flags=["blank"])
    doc.cells["proactive.penalty.decisions"] = CellValue(value=0, confidence=1.0, tokens=[3])
    doc.cells["proactive.coercion.decisions"] = CellValue(value=None, confidence=1.0, flags=["blank"])
    RulesStage(RulesOptions()).__call__(doc)
    fee = doc.cells["proactive.fees.amount"]
    assert "unverified" in fee.flags and _not_confident(fee)
    assert "unverified" not in doc.cells["proactive.coercion.decisions"].flags  # no stray figure beside it


def _signed_cell_state(alternatives: list[str], value: int = 33, kind: str = "scanned_pdf") -> DocumentState:
    """A 2019-format state whose 其他对外管理服务事项「本年增/减」 was read as `value` from one token
    with `alternatives` (a phone photo's faint minus: `extraction.ocr.glyphs.doubt_lost_signs`)."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind=kind, format="2019")
    if kind == "scanned_pdf":
        doc.pages = [PageInfo(number=1, width=1000, height=1400, unit="px")]
    doc.tokens = [
        Token(0, "number", str(value), line=0, field=0, page=1, bbox=(930, 1680, 970, 1712), alternatives=alternatives)
    ]
    doc.cells = {cid: CellValue(value=v, confidence=0.999) for cid, v in _zero_values("2019").items()}
    cell = doc.cells["proactive.other_services.change"]
    cell.value, cell.text, cell.tokens = value, str(value), [0]
    return doc


def test_a_signed_figure_read_beside_an_unread_minus_is_unverified():
    # a phone photo's 1 px minus left of "33": −33 read as 33 (no sum runs over 本年增/减)
    doc = _signed_cell_state(["-33"])
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    cell = doc.cells["proactive.other_services.change"]
    assert "unverified" in cell.flags and _not_confident(cell)


@pytest.mark.parametrize(
    ("alternatives", "value"),
    [
        ([], 38),  # a photo's faint minus the stroke search missed: −38 read 38 at 0.998 (seed 8383)
        (["38"], 33),  # another digit, no sign seen
        ([], -11),  # a minus read: a piece of rule left of the figure reads as one too
    ],
)
def test_every_signed_figure_read_from_a_page_image_is_unverified(alternatives, value):
    doc = _signed_cell_state(alternatives, value)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    cell = doc.cells["proactive.other_services.change"]
    assert "unverified" in cell.flags and _not_confident(cell)


@pytest.mark.parametrize(("alternatives", "value"), [(["-33"], 33), ([], 0)])
def test_a_signed_figure_of_a_text_layer_or_a_zero_keeps_its_confidence(alternatives, value):
    doc = _signed_cell_state(alternatives, value, "text" if value else "scanned_pdf")
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    cell = doc.cells["proactive.other_services.change"]
    assert "unverified" not in cell.flags and cell.confidence > REVIEW_LEVEL


def _row_state(issued: int, repealed: int, in_force: int, ocr: bool = True) -> DocumentState:
    """A 2021-format state whose 规章 row was read issued | repealed | in force, the first two with
    doubt (0.47, a fax's broken zero read "1") and calibrated to 0.998 (every other cell 0)."""
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf" if ocr else "text", format="2021")
    if ocr:
        doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]
    doc.cells = {cid: CellValue(value=v, confidence=0.999) for cid, v in _zero_values("2021").items()}
    for key, value, read in (("issued", issued, 0.47), ("repealed", repealed, 0.47), ("in_force", in_force, 0.998)):
        cell = doc.cells[f"proactive.rules.{key}"]
        cell.value, cell.confidence, cell.read_confidence = value, 0.998, read
    return doc


def test_a_doubtful_figure_in_a_row_where_a_rule_failed_is_unverified():
    # 1 | 1 | 0 read from 0 | 0 | 0: issued 1 > in force 0 fails the warning; repealed is not in it
    doc = _row_state(1, 1, 0)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert any(c.status == "failed" and "proactive.rules.issued" in c.cells for c in doc.checks)
    repealed = doc.cells["proactive.rules.repealed"]
    assert "unverified" in repealed.flags and _not_confident(repealed)


def test_a_doubtful_figure_where_no_rule_fails_is_unverified_too():
    # no rule fails in the row (in force 5 ≥ issued 0): a phone photo's 规章 printed 6 | 0 | 30 was
    # read 0 | 3 | 0 at 0.43–0.64, every rule held, and a calibrator lifted all three to 0.998
    doc = _row_state(0, 1, 5)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    repealed = doc.cells["proactive.rules.repealed"]
    assert "unverified" in repealed.flags and _not_confident(repealed)
    in_force = doc.cells["proactive.rules.in_force"]  # read surely: left as the calibrator rates it
    assert "unverified" not in in_force.flags and in_force.confidence > REVIEW_LEVEL


def test_a_text_layers_figure_keeps_its_confidence():
    # a text layer's figures carry no recogniser's doubt: the rule is for OCR'd pages
    doc = _row_state(1, 1, 0, ocr=False)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    repealed = doc.cells["proactive.rules.repealed"]
    assert "unverified" not in repealed.flags and repealed.confidence > REVIEW_LEVEL


def _applications_state(doubtful: dict[str, int]) -> DocumentState:
    """A 2021-format scan whose 本年新收 row was read natural persons 2, total 2 (every other cell
    0, read surely), the cells of `doubtful` read with doubt (0.47) and calibrated to 0.998."""
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]
    doc.cells = {cid: CellValue(value=v, confidence=0.999) for cid, v in _zero_values("2021").items()}
    doc.cells["applications.new.natural_person"].value = 2
    doc.cells["applications.new.total"].value = 2
    for cid, value in doubtful.items():
        cell = doc.cells[cid]
        cell.value, cell.confidence, cell.read_confidence = value, 0.998, 0.47
    return doc


def test_a_doubtful_figure_that_a_holding_sum_of_sure_readings_determines_stays_verified():
    # new 2 ≠ outcomes 0 for natural persons: a rule down that column fails. 「本年新收」's commercial 0,
    # read at 0.47, is the one doubtful cell of the row's total (2 = 2 + 0 + …, every other figure
    # read surely) and of its own column's rule: those sure figures give it 0 whatever the recogniser thought
    doc = _applications_state({"applications.new.commercial": 0})
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert any(c.status == "failed" and "applications.new.natural_person" in c.cells for c in doc.checks)
    doubtful = doc.cells["applications.new.commercial"]
    assert "unverified" not in doubtful.flags and doubtful.confidence > REVIEW_LEVEL
    # the same figure with the option off: unverified for its doubt alone (rules version 4)
    doc = _applications_state({"applications.new.commercial": 0})
    RulesStage(RulesOptions(fill_from_sums=False, sums_vouch_for_doubtful_reads=False))(doc)
    assert "unverified" in doc.cells["applications.new.commercial"].flags


def test_doubtful_figures_that_could_make_up_for_each_other_are_unverified():
    # 本年新收 printed natural persons 2 | commercial 0 and carried forward the same, read 0 | 2 with
    # doubt in both rows: every sum still holds (2 = 0 + 2; 0 + 0 = 0 + 0; 2 + 0 = 0 + 2), but each
    # holds through two doubtful figures, each of which could make up for the other's misreading
    doubtful = {
        "applications.new.natural_person": 0,
        "applications.new.commercial": 2,
        "applications.carried_forward.natural_person": 0,
        "applications.carried_forward.commercial": 2,
    }
    doc = _applications_state(doubtful)
    doc.cells["applications.carried_forward.total"].value = 2
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert not [c.rule for c in doc.checks if c.status == "failed" and c.severity == "error"]
    for cid in doubtful:
        cell = doc.cells[cid]
        assert "unverified" in cell.flags and _not_confident(cell), cid


def test_doubtful_figures_that_the_sums_of_sure_readings_determine_together_stay_verified():
    # a seal over the last two columns of two rows of （三）不予公开: their 其他组织 and 总计 0s read
    # with doubt (0.47). Each row's total holds through two doubtful figures, but the 其他组织
    # column's outcome total, read surely, is 0: non-negative figures adding up to 0 are all 0, and
    # then each row's total is 0 too (seed 4141 scans: 60 right cells unverified so, 8 of them here)
    rows = ("third_party", "internal_affairs")
    doubtful = {f"applications.denied.{r}.{c}": 0 for r in rows for c in ("other_org", "total")}
    doc = _applications_state(doubtful)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    for cid in doubtful:
        cell = doc.cells[cid]
        assert "unverified" not in cell.flags and cell.confidence > REVIEW_LEVEL, (cid, cell.flags)
    # the column's outcome total doubtful too: the balance (new + carried over = outcomes + carried
    # forward, each read surely 0 in that column) still gives it 0, and so the rest
    doubtful["applications.outcome_total.other_org"] = 0
    doubtful["applications.outcome_total.total"] = 0
    doc = _applications_state(doubtful)
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert not any("unverified" in doc.cells[cid].flags for cid in doubtful)
    # one rule fewer to pin them (a guess in the column's balance takes it out): 1 | 0 under a
    # doubtful outcome total 1 adds up as well as 0 | 0 under 0, and nothing is vouched for
    doc = _applications_state(doubtful)
    doc.cells["applications.new.other_org"].flags.append("split_digits")
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert all("unverified" in doc.cells[cid].flags for cid in doubtful), {
        cid: doc.cells[cid].flags for cid in doubtful
    }


def test_a_doubtful_figure_whose_sums_hold_only_beside_a_guess_is_unverified():
    # the row total's other figures include one placed by a guess (a glued run split), and the
    # column's rule runs through a figure filled by the sums: neither is a sure reading, and each
    # could make up for another value of the doubtful figure (the column's balance is 3 = 0 + 3 with
    # the filled 3, or 3 = 3 + 0; only a sure 0 total of non-negative figures would settle it)
    doc = _applications_state({"applications.new.commercial": 0})
    doc.cells["applications.new.natural_person"].flags.append("split_digits")
    doc.cells["applications.carried_over.commercial"].flags.append("filled_by_rule")
    for row in ("carried_over", "outcome_total", "granted"):
        for col in ("commercial", "total"):
            doc.cells[f"applications.{row}.{col}"].value = 3
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert "unverified" in doc.cells["applications.new.commercial"].flags


def test_figures_beside_a_row_not_read_are_not_vouched_for_by_totals_the_sums_filled_from_them():
    """A LibreOffice PDF: （二）部分公开 was not read, and 予以公开 took its zeros where the report
    printed 1 | 1. The unread row was then filled from the outcome totals (`filled_by_rule`), so
    every total held and the wrong zeros passed at 0.9993. A rule that holds through a cell the
    sums filled was computed from the placement itself: it is no evidence that the figures beside
    the unread row are their own row's."""
    values = _zero_values()
    for row in ("new", "outcome_total"):
        values[f"applications.{row}.natural_person"] = 1
        values[f"applications.{row}.total"] = 1
    partial = layout("2021").row("applications.partially_granted").cell_ids
    doc = DocumentState(name="x", sha256="0", kind="digital_pdf", format="2021")
    doc.cells = _cells(values, set())
    for cid in partial:
        doc.cells[cid].flags.append("missing")
        doc.cells[cid].value = None
    for col in ("natural_person", "total"):  # what the sums filled in
        cell = doc.cells[f"applications.partially_granted.{col}"]
        cell.value = 1
        cell.flags.append("filled_by_rule")
    doc.flags.append("row_not_read:applications.partially_granted")
    RulesStage(RulesOptions(fill_from_sums=False)).__call__(doc)
    for col in ("natural_person", "total"):
        cell = doc.cells[f"applications.granted.{col}"]
        assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, col


def test_a_cell_not_read_as_printed_goes_to_review_whatever_the_threshold():
    """Issue 16: a doubt flag (missing, filled or changed by a rule, unverified…) sends its cell to
    review by itself. A figure read but `unverified` keeps its calibrated probability under
    `UNVERIFIED_CONFIDENCE` (a photo's doubtful figures are mostly right: a fixed 0.5 was an ECE of
    0.03-0.05 on photos), so it is the flag, not a threshold below that ceiling, that keeps it out of
    the trusted cells. A cell not found, or filled or changed by a rule, stays low."""
    from extraction.document import DOUBT_CONFIDENCE, DOUBT_FLAGS, doubt_cap
    from extraction.result import needs_review

    for flag in sorted(DOUBT_FLAGS):
        assert needs_review(UNVERIFIED_CONFIDENCE, [flag], False, 0.5), flag
        assert needs_review(UNVERIFIED_CONFIDENCE, [flag, "pinned_by_rule"], True, 0.0), flag
        assert doubt_cap([flag]) == (UNVERIFIED_CONFIDENCE if flag == "unverified" else DOUBT_CONFIDENCE) < 0.99
    assert doubt_cap(["unverified", "missing"]) == doubt_cap(["corrected_by_rule"]) == DOUBT_CONFIDENCE < REVIEW_LEVEL
    assert doubt_cap(["label_inferred"]) == 1.0
    assert not needs_review(UNVERIFIED_CONFIDENCE, ["label_inferred"], False, 0.5)


@pytest.mark.parametrize("kind", ["scanned_pdf", "pdf"])
def test_a_sure_figure_whose_sums_hold_only_through_supplied_values_is_unverified_on_a_page_image(kind):
    """A fax read 予以公开 14 | … | 14 as 1.1 | … | 11 (the sums chose 11 for 1.1) and lost
    本机关不掌握's figures (6 | … | 6); the sums filled those with 9, and every check held, by
    inference. The filled 9s went to review, but the 11 in the total column, read at 0.99, did
    not: its row holds only through the chosen 11 and its column only through a filled 9, so no
    sum checked it. A figure that holding equalities of sure figures determine (新收's total) is
    vouched for. A text layer's figures are as printed: nothing is doubted there."""
    values = _zero_values()
    for row, v in (("new", 20), ("outcome_total", 20), ("granted", 11)):
        values[f"applications.{row}.natural_person"] = v
        values[f"applications.{row}.total"] = v
    values["applications.unavailable.not_held.natural_person"] = None
    values["applications.unavailable.not_held.total"] = None
    doc = DocumentState(name="x", sha256="0", kind=kind, format="2021")
    if kind == "scanned_pdf":
        doc.pages = [PageInfo(number=1, width=1654, height=2339, unit="px")]
    lost = {"applications.unavailable.not_held.natural_person", "applications.unavailable.not_held.total"}
    doc.cells = _cells(values, lost)
    doc.cells["applications.granted.natural_person"].flags = ["corrected_by_rule"]
    doc.cells["applications.granted.natural_person"].confidence = 0.5
    doc.cells["applications.granted.total"].confidence = 0.99
    RulesStage(RulesOptions())(doc)
    assert doc.cells["applications.unavailable.not_held.total"].value == 9
    assert all(c.status != "failed" for c in doc.checks if c.severity == "error")
    total = doc.cells["applications.granted.total"]
    assert ("unverified" in total.flags) == (kind == "scanned_pdf"), total
    assert "unverified" not in doc.cells["applications.new.total"].flags


@pytest.mark.parametrize(("dropped", "confidence"), [("10", 0.99), ("1", 0.5)])
def test_figures_of_a_line_whose_sure_figure_the_sums_dropped_are_unverified(dropped, confidence):
    """A phone photo's 行政复议 row printed 0 0 0 0 10 (its total broke the row: the report's own
    error) and a speck beside it was read as a figure: six figures for five cells. The sums
    dropped the 10, the row held, and its cells went out at 0.999 with the report's error gone.
    A figure read surely and dropped makes the line's placement the sums' choice: unverified. A
    speck read with doubt is dropped without a word."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=3, width=1654, height=2339, unit="px")]
    doc.cells = _cells(_zero_values(), set())
    review = [f"appeals.review.{k}" for k in ("corrected", "upheld", "other", "pending", "total")]
    doc.tokens = [
        Token(i, "number", "0", 0, i, page=3, bbox=(100.0 * i, 500.0, 100.0 * i + 8, 518.0), confidence=0.999)
        for i in range(len(review))
    ]
    doc.tokens.append(Token(5, "number", dropped, 0, 5, page=3, bbox=(560.0, 500.0, 575.0, 518.0), confidence=confidence))
    for i, cid in enumerate(review):
        doc.cells[cid] = CellValue(value=0, confidence=0.999, text="0", tokens=[i], flags=["extra_values"])
    RulesStage(RulesOptions())(doc)
    unverified = ["unverified" in doc.cells[cid].flags for cid in review]
    assert all(unverified) if confidence >= 0.8 else not any(unverified), unverified


@pytest.mark.parametrize("page_offers_six", [True, False])
def test_a_figure_no_sum_checks_is_unverified_where_its_page_offered_its_digit_as_a_second_reading(page_offers_six):
    """A phone photo read 行政处罚's 处理决定数量 0 as 6 at 0.997 (table 二: no sum checks it), on a
    page whose doubtful 0s the recogniser offered 6 for: it confuses the two there. A page whose
    figures never offered 6 as a second reading leaves the sure 6 as read."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=2, width=1654, height=2339, unit="px")]
    doc.cells = _cells(_zero_values(), set())
    doc.tokens = [
        Token(0, "number", "6", 0, 1, page=2, bbox=(1316.8, 417.0, 1321.4, 431.7), confidence=0.997),
        Token(1, "number", "0", 1, 1, page=2, bbox=(1319.9, 474.4, 1324.8, 489.9), confidence=0.896,
              alternatives=["6"] if page_offers_six else []),
    ]
    doc.cells["proactive.penalty.decisions"] = CellValue(value=6, confidence=0.997, text="6", tokens=[0])
    doc.cells["proactive.coercion.decisions"] = CellValue(value=0, confidence=0.896, text="0", tokens=[1])
    RulesStage(RulesOptions())(doc)
    assert ("unverified" in doc.cells["proactive.penalty.decisions"].flags) == page_offers_six


def test_a_figure_no_sum_checks_read_with_a_rival_reading_is_unverified():
    """A scan's 8 in 行政规范性文件's 本年制发件数 that the zero check read as 0 (no waist in its
    outline), keeping 8 as the alternative for the sums: table 二 has no sum to pick by, and the 0
    went out of review at 0.986. Its page offered no other second reading."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=2, width=1654, height=2339, unit="px")]
    doc.cells = _cells(_zero_values(), set())
    doc.tokens = [Token(0, "number", "0", 0, 1, page=2, bbox=(880.0, 600.0, 886.0, 618.0), confidence=1.0, alternatives=["8"])]
    doc.cells["proactive.normative_documents.issued"] = CellValue(value=0, confidence=1.0, text="0", tokens=[0])
    RulesStage(RulesOptions())(doc)
    assert "unverified" in doc.cells["proactive.normative_documents.issued"].flags


@pytest.mark.parametrize("unplaced_confidence", [0.999, 0.4])
def test_figures_of_the_lines_beside_a_line_of_sure_figures_no_cell_took_are_unverified(unplaced_confidence):
    """A scan read 5.要求…确认's label on the line of 1.申请人无正当理由…'s first label line: that
    row took row 5's figures and its own line of figures went unplaced; row 5, left with none, was
    filled by the sums, and the misplaced row held its own row sum at 0.985. A line of sure figures
    no cell took inside a table makes the rows read from the lines beside it doubtful. A line of
    doubtful readings (specks, a seal's strokes) says nothing about whose line is whose."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=4, width=1654, height=2339, unit="px")]
    doc.cells = _cells(_zero_values(), set())
    columns = ("natural_person", "commercial", "research", "public_welfare", "legal_services", "other_org", "total")
    rows = {0: "applications.not_processed.excessive", 1: "applications.other.no_amendment", 3: "applications.other.unpaid"}
    for line in range(4):
        for j in range(len(columns)):
            confidence = unplaced_confidence if line == 2 else 0.999
            box = (770.0 + 100 * j, 500.0 + 40 * line, 778.0 + 100 * j, 518.0 + 40 * line)
            doc.tokens.append(Token(len(doc.tokens), "number", "0", line, j + 1, page=4, bbox=box, confidence=confidence))
            if line in rows:
                cid = f"{rows[line]}.{columns[j]}"
                doc.cells[cid] = CellValue(value=0, confidence=0.999, text="0", tokens=[len(doc.tokens) - 1])
    RulesStage(RulesOptions())(doc)
    beside = [f"{rows[line]}.{c}" for line in (1, 3) for c in columns]
    unverified = ["unverified" in doc.cells[cid].flags for cid in beside]
    assert all(unverified) if unplaced_confidence >= 0.8 else not any(unverified), unverified
    assert not any("unverified" in doc.cells[f"{rows[0]}.{c}"].flags for c in columns)


def test_a_row_whose_line_lost_a_sure_figure_is_unverified_whole():
    """A scan's piece of rule, read as 1 on the line above 行政复议's figures, took the row's first
    cell, and the row's own first figure, a 0 read at 0.9, was dropped from the figures' line. The
    sums held with the 1 in the row's total column, and the 1 went out at 0.999: the cells from the
    line above are of the row whose line lost a sure figure, so they are unverified too."""
    from extraction.document import Token

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=3, width=1654, height=2339, unit="px")]
    doc.cells = _cells(_zero_values(), set())
    review = [f"appeals.review.{k}" for k in ("upheld", "corrected", "other", "pending", "total")]
    doc.tokens = [Token(0, "number", "1", 0, 0, page=3, bbox=(204.0, 512.0, 210.0, 551.0), confidence=0.847)]
    for i in range(len(review)):
        box = (224.0 + 80 * i, 554.0, 230.0 + 80 * i, 578.0)
        doc.tokens.append(Token(i + 1, "number", "0", 1, i, page=3, bbox=box, confidence=0.9 if i == 0 else 1.0))
    doc.cells["appeals.review.upheld"] = CellValue(value=1, confidence=0.999, text="1", tokens=[0], flags=["extra_values"])
    for i, cid in enumerate(review[1:], start=2):
        doc.cells[cid] = CellValue(value=0, confidence=0.999, text="0", tokens=[i], flags=["extra_values"])
    RulesStage(RulesOptions())(doc)
    assert "unverified" in doc.cells["appeals.review.upheld"].flags
