"""Markdown from PDF and OCR converters (issue 15, failure class 3): generic headers, <br> in
cells, remarks, a column's figures detached and printed above the table."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from extraction.ingest import IngestOptions
from extraction.ingest.text import DETACHED_FIGURE_CONFIDENCE, TextBackend
from tests.conftest import ROOT

TABLE_2 = """\
## 二、主动公开政府信息情况

{above}
| 第二十条第（一）项 |  |  |  |
|---|---|---|---|
| 信息内容 | 本年制发件数 | 本年废止件数 | 现行有效件数 |
| 规章 | {rules} | 0 | 45 |
| 行政规范性<br>文件 | {docs} | 2 | 120 |
| 第二十条第（五）项 |  |  |  |
| 信息内容 | 本年处理决定数量 |  |  |
| 行政许可 | 11 |  |  |

- 3 -

| 项目 | 数据2 | 数据3 | 数据4 |
|---|---|---|---|
| 行政处罚 | 7 |  |  |
"""


def _lines(text: str) -> list[list[str]]:
    state = TextBackend.from_text(text, text.encode(), "x.md", IngestOptions(), kind="md")
    return [[f.text for f in line.fields] for line in state.lines]


def _fields(text: str):
    state = TextBackend.from_text(text, text.encode(), "x.md", IngestOptions(), kind="md")
    return {line.fields[0].text: line.fields for line in state.lines if line.delimited}


def test_generic_header_rows_are_no_figures():
    lines = _lines(TABLE_2.format(above="", rules="3", docs="22（其中修订16件）"))
    assert not any("数据2" in cell for line in lines for cell in line)
    assert ["行政许可", "11", "", ""] in lines and ["行政处罚", "7", "", ""] in lines
    for generic in ("| 列1 | 列2 | 列3 |", "| Column 1 | Column 2 |", "| Unnamed: 0 | Unnamed: 1 | Unnamed: 2 |"):
        assert _lines(generic + "\n|---|---|---|\n| 规章 | 1 | 2 |") == [["规章", "1", "2"]], generic
    # a real row with a number in its label is kept
    assert _lines("| 第1项 | 列 |\n| 规章 | 2 |") == [["第1项", "列"], ["规章", "2"]]


def test_a_line_break_in_a_cell_is_a_space():
    fields = _fields("| 行政规范性<br>文件 | 22<br/>（其中修订16件） | 0 &amp; | 45 |")
    assert [f.text for f in fields["行政规范性 文件"]] == ["行政规范性 文件", "22 （其中修订16件）", "0 &", "45"]


def test_detached_figures_go_back_to_the_rows_that_lack_one():
    text = TABLE_2.format(above="22（其中修订16件）\n\n3\n（其中修订1件）\n", rules="", docs="")
    lines = _lines(text)
    assert ["规章", "22(其中修订16件)", "0", "45"] in lines
    assert ["行政规范性 文件", "3(其中修订1件)", "2", "120"] in lines
    assert not any(line in (["3"], ["22(其中修订16件)"]) for line in lines)  # the detached lines are gone


@pytest.mark.parametrize(
    ("above", "rules", "docs"),
    [
        ("22\n", "", ""),  # one figure, two rows lacking one
        ("22\n\n3\n\n5\n", "", ""),  # three figures, two rows
        ("22\n\n3\n", "", "-"),  # 规范性文件 lacks none, 规章 one: two figures for one row
    ],
)
def test_detached_figures_that_do_not_fit_send_the_rows_to_review(above, rules, docs):
    fields = _fields(TABLE_2.format(above=above, rules=rules, docs=docs))
    doubtful = [k for k, row in fields.items() if any(f.confidence < 1.0 for f in row)]
    assert set(doubtful) <= {"规章", "行政规范性 文件"} and doubtful
    for k in doubtful:
        assert all(f.confidence == DETACHED_FIGURE_CONFIDENCE for f in fields[k][1:])
        assert not any(f.text in ("22", "3", "5") for f in fields[k])  # nothing placed by guess


def test_figure_lines_without_a_table_row_lacking_them_are_left_alone():
    text = TABLE_2.format(above="2024\n", rules="3", docs="4")
    lines = _lines(text)
    assert ["2024"] in lines
    assert all(f.confidence == 1.0 for row in _fields(text).values() for f in row)


def _bench():
    spec = importlib.util.spec_from_file_location("synthetic_accuracy", ROOT / "bench" / "synthetic_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_accuracy"] = module
    spec.loader.exec_module(module)
    return module


def test_converter_markdown_reports_are_read_right_or_sent_to_review(tmp_path):
    """Generated converter Markdown (marker, docling and OCR shapes, both formats): every cell right
    or in review, the injected violations flagged and no clean report flagged."""
    from gongkai_datasets.generate import generate

    generate(40, tmp_path, seed=15, violation_rate=0.3, flatteners=("converter_markdown",))
    summary = _bench().evaluate(tmp_path)
    assert summary["reports"] == 40
    assert summary["wrong_not_in_review"] == 0, summary["errors"][:3]
    assert summary["cell_accuracy"] >= 0.995, summary["errors"][:3]
    assert summary["injected_flagged"] == 1.0 and summary["clean_flagged"] == 0
    # a 2021 report printing （六） as one row of blanks reads as the three-row variant (its cells
    # missing, in review): the only metadata miss here, and not the converters' doing
    assert summary["metadata_accuracy"] >= 0.95


def test_empty_cells_of_merged_headers_are_no_blank_figures():
    """Table 四 as pipe rows under merged headers ("| 行政复议 |  |  |  |  | 行政诉讼 |  | …"), its
    one row of figures with blank cells: the headers' empty cells were read as blank figures and
    shifted the row by one, silently."""
    from extraction.pipeline import Pipeline

    header = (
        "| 行政复议 |  |  |  |  | 行政诉讼 |  |  |  |  |  |  |  |  |  |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        "| 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 | 未经复议直接起诉 |  |  |  |  | 复议后起诉 |  |  |  |  |\n"
        "|  |  |  |  |  | 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 | 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 |\n"
    )
    assert _lines(header)[0] == ["行政复议", "行政诉讼"]
    from gongkai_datasets.generate import generate_one

    g = generate_one(10, 15, flattener="converter_markdown", violation_rate=0.3)
    assert "|  |  |  |  |  | 结果维持 |" in g.content
    result = Pipeline().extract(g.content.encode(), "report.md")
    appeals = {cid: v for cid, v in g.truth["cells"].items() if cid.startswith("appeals.")}
    assert None in appeals.values()
    assert {cid: result.cells[cid].value for cid in appeals} == appeals


def test_cells_a_label_covers_are_no_blank_figures():
    """A table 三 row as a pipe row: the label spans three columns, the figures are the last seven.
    With the last figure blank, the label's two empty cells were read as the row's first figures."""
    row = "| 四、结转下年<br>度继续办理 |  |  | 0 | 0 | 0 | 0 | 0 | 0 |  |"
    table = "| a |  |  | b |  |  |  |  |  | c |\n|---|---|---|---|---|---|---|---|---|---|\n" + row
    assert _lines(table)[-1] == ["四、结转下年 度继续办理", "0", "0", "0", "0", "0", "0", ""]
    # a row of table 四 (figures only) and a label-less row keep their cells
    figures = "| 0 | 0 | 0 | 0 | 0 | 0 | 0 |  | 0 | 0 | 0 | 0 | 0 | 0 |  |"
    assert len(_lines(figures)[0]) == 15
    from extraction.pipeline import Pipeline
    from gongkai_datasets.generate import generate_one

    g = generate_one(73, 7, flattener="converter_markdown", violation_rate=0.3)
    assert "| 四、结转下年<br>度继续办理 |  |  | 0 |" in g.content
    result = Pipeline().extract(g.content.encode(), "report.md")
    row = {cid: v for cid, v in g.truth["cells"].items() if cid.startswith("applications.carried_forward.")}
    assert row["applications.carried_forward.total"] is None
    assert {cid: result.cells[cid].value for cid in row} == row


def test_labeled_reports_as_converter_markdown_are_exact():
    """The labeled reports' tables (seeds and real), rendered and written as converters write
    Markdown: every cell right."""
    import json
    import random

    from extraction.pipeline import Pipeline
    from gongkai_datasets.flatten import converter_markdown
    from gongkai_datasets.render import random_agency, render
    from gongkai_datasets.values import ReportValues
    from tests.conftest import labeled_reports

    pipeline = Pipeline()
    for _, truth_path in labeled_reports():
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        report = truth["report"]
        values = ReportValues(report["format"], tuple(report.get("variants", [])), dict(truth["cells"]))
        for k in range(2):
            rng = random.Random(f"labeled-cm:{truth_path.stem}:{k}")
            doc = render(values, report.get("agency") or random_agency(rng), report.get("year") or 2023, rng)
            result = pipeline.extract(converter_markdown(doc, rng).encode(), f"{truth_path.stem}.md")
            wrong = {c: (v, result.cells[c].value) for c, v in truth["cells"].items() if result.cells[c].value != v}
            assert not wrong, (truth_path.stem, k)


def test_a_remark_in_a_cell_of_its_own_is_no_figure():
    """ "| 规章 | 22 | （其中修订16件） | 0 | 45 |": the remark's 16 件 ended the row (0 and 45 lost)."""
    table = "| 信息内容 | 本年制发件数 | 本年废止件数 | 现行有效件数 |\n|---|---|---|---|\n"
    split = table + "| 规章 | 22 | （其中修订16件） | 0 | 45 |\n| 行政规范性文件 | 3 | 0 | 12 |"
    assert _lines(split)[1] == ["规章", "22（其中修订16件）", "0", "45"]  # one cell split in two: joined
    column = (
        "| 信息内容 | 本年制发件数 | 备注 | 本年废止件数 | 现行有效件数 |\n|---|---|---|---|---|\n"
        "| 规章 | 22 | （其中修订16件） | 0 | 45 |\n| 行政规范性文件 | 3 |  | 0 | 12 |"
    )
    assert _lines(column)[1] == ["规章", "22", "", "0", "45"]  # a column of remarks: emptied in place


def test_bare_column_numbers_above_a_rule_line_are_no_figures():
    """pandas' Markdown of a table read without a header: "|    | 0 | 1 | 2 |" above the rule line."""
    rows = "| 规章 | 3 | 0 | 45 |\n| 行政规范性文件 | 2 | 1 | 7 |"
    assert _lines("|  | 0 | 1 | 2 |\n|---|---|---|---|\n" + rows) == [
        ["规章", "3", "0", "45"],
        ["行政规范性文件", "2", "1", "7"],
    ]
    assert _lines("| 1 | 2 | 3 | 4 |\n|---|---|---|---|\n" + rows)[0] == ["规章", "3", "0", "45"]
    # not above a rule line, or not counting up from 0 or 1: figures
    assert _lines("| 0 | 1 | 2 | 3 |\n" + rows)[0] == ["0", "1", "2", "3"]
    assert _lines("| 2 | 3 | 4 |\n|---|---|---|\n" + rows)[0] == ["2", "3", "4"]


def test_a_lone_number_above_a_table_is_not_taken_for_a_detached_column():
    """A bare page number printed above a table whose one row lacks one figure (a blank cell): it is
    not put into the cell; the row goes to review instead."""
    fields = _fields(TABLE_2.format(above="3\n", rules="", docs="5"))
    assert [f.text for f in fields["规章"]] == ["规章", "", "0", "45"]
    assert all(f.confidence == DETACHED_FIGURE_CONFIDENCE for f in fields["规章"][1:])
    assert all(f.confidence == 1.0 for f in fields["行政规范性 文件"])


def test_converter_markdown_flattener():
    """The flattener: deterministic, every printed figure in the text, kept out of the default mix
    (a seed keeps its reports), asked for by name."""
    import json

    import gongkai_datasets as gd
    from gongkai_datasets.flatten import EXTRA

    assert "converter_markdown" in EXTRA and "converter_markdown" not in gd.ALL
    assert "converter_markdown" in gd.FLATTENERS
    for fmt in ("2021", "2019"):
        for i in range(4):
            g = gd.generate_one(i, 21, fmt=fmt, flattener="converter_markdown")
            assert g.content == gd.generate_one(i, 21, fmt=fmt, flattener="converter_markdown").content
            assert g.ext == "md" and g.truth["flattener"] == "converter_markdown"
            text = g.content.replace("<br>", "").replace("\n", "")
            for grid in (b for b in g.document.blocks if isinstance(b, gd.Grid)):
                for c in grid.cells:
                    if c.role == "value" and c.text:
                        assert c.text in text, (c.cell_id, c.text)
            json.dumps(g.truth, ensure_ascii=False)


TABLE_2_2019 = """\
## 二、主动公开政府信息情况

0

4（其中修订2件）

0

| 数据1 | 数据2 | 数据3 | 数据4 |
|:---|-----|-----|:---|
| 信息内容 | 本年新制作数量 | 本年新公开数量 | 对外公开总数量 |
| 规章 |  | 0 | 0 |
| 规范性文件 |  | 4 | 203 |
| 信息内容 | 上一年项目数量 | 本年增/减 | 处理决定数量 |
| 行政许可 |  |  |  |
| 其他对外管理服务事项 |  | 0 | 0 |
"""


def test_a_blank_row_does_not_stop_detached_figures_going_back():
    """Issue 16: a row of table 二 printing none of its three figures is a blank row, not a row a
    detached column's figure belongs to (it would lack three). Counted among the rows lacking a
    figure, it left three figures for four rows: none placed, and the calibrator lifted the rows'
    blank cells out of review (seed 43: five wrong cells not reviewed)."""
    lines = _lines(TABLE_2_2019)
    assert ["规章", "0", "0", "0"] in lines
    assert ["规范性文件", "4(其中修订2件)", "4", "203"] in lines
    assert ["其他对外管理服务事项", "0", "0", "0"] in lines
    assert ["行政许可", "", "", ""] in lines
    assert all(f.confidence == 1.0 for row in _fields(TABLE_2_2019).values() for f in row)


DETACHED_LABELS = """\
|  | （三）不予公开 | 1.属于国家秘密 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |

第7页

{labels}
| 0 | 0 |  | 0 | 0 | 0 | 0 |
| --- | --- | --- | --- | --- | --- | --- |
| 0 | 0 | 0 | 0 | 0 | 0 | 0 |
|  | 0 | 0 |  | 0 | 0 | 0 |
|  | （四）无法提供 | 1.本机关不掌握相关政府信息 | 5 | 0 | 0 | 0 | 0 | 0 | 5 |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
|  |  | 2.没有现成信息需要另行制作 | 1 | 0 |  | 0 | 0 | 0 | 1 |
"""


def test_a_list_of_row_labels_before_a_table_of_figures_goes_back_to_its_rows():
    """Issue 15 class 3: a part of table 三 whose labels a converter printed as a list of lines
    before a pipe table of the rows' figures, some cells blank. Read apart, the rows with a blank
    cell lost their labels and 42 cells came out missing (seed 83, report 39)."""
    labels = "2.其他法律行政法规禁止公开\n3.危及“三安全一稳定”\n8.属于行政查询事项\n"
    lines = _lines(DETACHED_LABELS.format(labels=labels))
    assert ["2.其他法律行政法规禁止公开", "0", "0", "", "0", "0", "0", "0"] in lines
    assert ["3.危及“三安全一稳定”", "0", "0", "0", "0", "0", "0", "0"] in lines
    assert ["8.属于行政查询事项", "", "0", "0", "", "0", "0", "0"] in lines
    assert ["2.其他法律行政法规禁止公开"] not in lines
    # the next table (its own header row) keeps its labels and is not taken for label-less rows
    assert ["", "", "2.没有现成信息需要另行制作", "1", "0", "", "0", "0", "0", "1"] in lines


@pytest.mark.parametrize(
    "labels",
    [
        "3.危及“三安全一稳定”\n8.属于行政查询事项\n",  # two labels, three rows: which row lacks one is a guess
        "本年度情况如下\n说明文字\n另一段说明\n",  # lines that name no statutory row
    ],
)
def test_lines_that_are_not_one_row_label_a_row_stay_apart(labels):
    lines = _lines(DETACHED_LABELS.format(labels=labels))
    assert ["0", "0", "0", "0", "0", "0", "0"] in lines
    assert [labels.splitlines()[-1]] in lines


def test_a_generated_markdown_report_with_detached_labels_and_blank_cells_is_exact():
    from extraction.pipeline import Pipeline
    from gongkai_datasets.generate import generate_one

    g = generate_one(39, 83, flattener="markdown")
    assert "\n8.属于行政查询事项\n" in g.content
    result = Pipeline().extract(g.content.encode(), "report.md")
    wrong = {cid for cid, v in g.truth["cells"].items() if cid not in result.cells or result.cells[cid].value != v}
    assert not wrong
