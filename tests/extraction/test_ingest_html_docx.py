"""HTML and DOCX ingest: tables to delimited lines, spans, blanks, encodings, hostile inputs."""

from __future__ import annotations

import io
import time
import zipfile

import docx
import pytest

from extraction.errors import CorruptInput, InputTooLarge
from extraction.ingest import Ingestor
from extraction.ingest.base import IngestOptions
from extraction.ingest.docx import DocxBackend
from extraction.ingest.html import HtmlBackend
from extraction.ingest.sniff import sniff
from extraction.ingest.text import split_lines

OPTS = IngestOptions()


def html_rows(html: str | bytes, **opts) -> list[tuple[bool, list[str]]]:
    data = html.encode("utf-8") if isinstance(html, str) else html
    state = HtmlBackend()(data, "report.html", IngestOptions(**opts))
    assert state.kind == "html"
    return [(line.delimited, [f.text for f in line.fields]) for line in state.lines]


def docx_rows(data: bytes) -> list[tuple[bool, list[str]]]:
    state = DocxBackend()(data, "report.docx", OPTS)
    assert state.kind == "docx"
    return [(line.delimited, [f.text for f in line.fields]) for line in state.lines]


def save(document) -> bytes:
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


APPLICATIONS_TABLE = """<html><head><meta charset="utf-8"><title>标题</title>
<style>td {border: 1px}</style><script>var x = "<td>9</td>";</script></head><body>
<nav>首页 &gt; 政务公开</nav>
<p>三、收到和处理政府信息公开申请情况</p>
<table border="1">
 <tr><td colspan="3" rowspan="3">&nbsp;</td><td colspan="7">申请人情况</td></tr>
 <tr><td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td><td rowspan="2">总计</td></tr>
 <tr><td>商业<br>企业</td><td>科研机构</td><td>社会公益组织</td><td>法律服务机构</td><td>其他</td></tr>
 <tr><td colspan="3">一、本年新收政府信息公开申请数量</td>
     <td>5</td><td>0</td><td>&#160;</td><td>—</td><td>/</td><td>-</td><td>5</td></tr>
 <tr><td rowspan="3">三、本年度办理结果</td><td colspan="2">（一）予以公开</td>
     <td>3</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>3</td></tr>
 <tr><td rowspan="2">（三）不予公开</td><td>1.属于国家秘密</td>
     <td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>
 <tr><td>2.其他法律行政法规禁止公开</td>
     <td>1</td><td colspan="2"></td><td>0</td><td>0</td><td>0</td><td>1</td></tr>
</table>
<p>四、政府信息公开行政复议、行政诉讼情况</p>
</body></html>"""


def test_html_table_spans_and_blanks():
    rows = html_rows(APPLICATIONS_TABLE)
    assert rows == [
        (False, ["三、收到和处理政府信息公开申请情况"]),
        # the empty corner (colspan 3): real empty cells are blanks, at the start of a row too;
        # in the rows it covers by rowspan, its positions are leading merged cells: dropped
        (True, ["", "", "", "申请人情况"]),
        # a label spanning 5 columns is one field
        (True, ["自然人", "法人或其他组织", "总计"]),
        # rowspan: 总计 is not repeated; its place in the row below is a trailing blank
        (True, ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", ""]),
        # nbsp and / are blanks; inner blank cells are kept; a dash is kept (the tokenizer's printed 0)
        (True, ["一、本年新收政府信息公开申请数量", "5", "0", "", "—", "", "-", "5"]),
        (True, ["三、本年度办理结果", "（一）予以公开", "3", "0", "0", "0", "0", "0", "3"]),
        (True, ["（三）不予公开", "1.属于国家秘密", "0", "0", "0", "0", "0", "0", "0"]),
        # the group labels span down: leading in this row, dropped; an empty colspan=2 cell after
        # the first text is two blanks
        (True, ["2.其他法律行政法规禁止公开", "1", "", "", "0", "0", "0", "1"]),
        (False, ["四、政府信息公开行政复议、行政诉讼情况"]),
    ]


def _seed_after_proactive() -> tuple[str, str]:
    """The first seed report from table 三 on, as preformatted text (the tables the HTML leaves out)."""
    from tests.conftest import DATASETS

    text = (DATASETS / "seeds" / "000_2c6b076056c5acac.txt").read_text(encoding="utf-8")
    head = text[: text.index("二、主动公开政府信息情况")]
    tail = text[text.index("三、收到和处理政府信息公开申请情况") :]
    return "<pre>" + head + "</pre>", "<pre>" + tail + "</pre>"


def test_a_dash_in_an_html_or_docx_cell_is_a_printed_zero_as_in_text(pipeline):
    # one meaning of a dash on every input kind: the tokenizer reads a dash alone in a figure cell as 0
    head, tail = _seed_after_proactive()
    html = (
        "<html><body>" + head + "<h2>二、主动公开政府信息情况</h2><table>"
        "<tr><td>信息内容</td><td>本年制发件数</td><td>本年废止件数</td><td>现行有效件数</td></tr>"
        "<tr><td>规章</td><td>2</td><td>—</td><td>9</td></tr>"
        "<tr><td>行政规范性文件</td><td>-</td><td>/</td><td>4</td></tr></table>"
        + tail
        + "</body></html>"
    )
    result = pipeline.extract(html.encode("utf-8"), "report.html")
    assert result.cells["proactive.rules.repealed"].value == 0
    assert result.cells["proactive.normative_documents.issued"].value == 0
    assert result.cells["proactive.normative_documents.repealed"].value is None  # "/" is a blank cell


def test_html_rowspan_inside_a_row_is_a_blank_not_a_repeat():
    rows = html_rows(
        "<table><tr><td>行政许可</td><td rowspan=2>7</td><td>1</td></tr><tr><td>行政处罚</td><td>2</td></tr></table>"
    )
    assert rows == [(True, ["行政许可", "7", "1"]), (True, ["行政处罚", "", "2"])]


def test_html_nested_inline_tags_and_line_breaks():
    rows = html_rows(
        "<html><body><div><h2>某某局2023年政府信息公开<br>工作年度报告</h2>"
        "<p>本年度<b>共</b>收到申请<span style='color:red'>5</span>件。<br>第二行</p>"
        "<table><tr>"
        "<td><p class=MsoNormal><span>本年</span><b>新收</b></p><p>政府信息公开\n   申请数量</p></td>"
        "<td><span lang=EN-US>1</span><span>2</span><o:p></o:p></td>"
        "<td>Item<br>A</td><td><p>（单位：</p><p>万元）</p></td>"
        "</tr></table></div></body></html>"
    )
    assert rows == [
        (False, ["某某局2023年政府信息公开"]),
        (False, ["工作年度报告"]),
        (False, ["本年度共收到申请5件。"]),
        (False, ["第二行"]),
        (True, ["本年新收政府信息公开申请数量", "12", "Item A", "（单位：万元）"]),
    ]


def test_html_nested_table_flattened_inline_in_reading_order():
    rows = html_rows(
        "<table><tr><td>"
        "<p>一、总体情况</p><p>本年度我局认真贯彻落实《条例》，主动公开政府信息，依法办理政府信息公开申请。</p>"
        "<table border=1><tr><td>规章</td><td>0</td><td>&nbsp;</td><td>3</td></tr></table>"
        "<p>五、存在的主要问题及改进情况</p>"
        "</td></tr></table>"
    )
    assert rows == [
        (False, ["一、总体情况"]),
        (False, ["本年度我局认真贯彻落实《条例》，主动公开政府信息，依法办理政府信息公开申请。"]),
        (True, ["规章", "0", "", "3"]),
        (False, ["五、存在的主要问题及改进情况"]),
    ]


def test_html_gbk_declared():
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
        "<body><p>政府信息公开工作年度报告</p><table><tr><td>行政许可</td><td>12</td></tr></table></body></html>"
    )
    assert html_rows(page.encode("gbk")) == [
        (False, ["政府信息公开工作年度报告"]),
        (True, ["行政许可", "12"]),
    ]
    meta5 = '<!DOCTYPE html><html><head><meta charset="GBK"></head><body><p>主动公开政府信息情况</p></body></html>'
    assert html_rows(meta5.encode("gb18030")) == [(False, ["主动公开政府信息情况"])]
    # a page that says gb2312 but is UTF-8 (a common CMS mistake)
    assert html_rows(page.encode("utf-8"))[0] == (False, ["政府信息公开工作年度报告"])


def test_html_pre_and_text_report_saved_as_html():
    text = "政府信息公开工作年度报告\n规章\t0\t0\t0\n\t\t2.其他法律行政法规禁止公开\t1\t0\n"
    page = "<html><head><title>报告</title></head><body>\n" + text + "</body></html>"
    expected = [(ln.delimited, [f.text for f in ln.fields]) for ln in split_lines(text)]
    assert html_rows(page) == expected
    assert html_rows("<html><body><p>标题</p><pre>" + text + "</pre></body></html>") == [
        (False, ["标题"]),
        *expected,
    ]


def test_sniff_html_saved_with_txt_name():
    page = APPLICATIONS_TABLE.encode("utf-8")
    assert sniff(page, "report.txt") == "html"
    state = Ingestor()(page, "report.txt")
    assert state.kind == "html"
    assert any(line.delimited and line.fields[0].text == "（三）不予公开" for line in state.lines)


def test_html_deep_nesting_is_fast_and_flat():
    n = 200_000
    page = "<html><body><p>前言</p>" + "<div>" * n + "深处" + "</div>" * n + "<p>结尾</p>"
    page += "<table><tr><td>规章</td><td>1</td></tr></table></body></html>"
    start = time.perf_counter()
    rows = html_rows(page)
    assert time.perf_counter() - start < 5
    assert rows == [(False, ["前言"]), (False, ["深处"]), (False, ["结尾"]), (True, ["规章", "1"])]
    # unclosed nested tables deeper than max_html_depth: no recursion, the text survives
    page = "<html><body>" + "<table><tr><td>x" * 20_000 + "<p>末尾</p></body></html>"
    rows = html_rows(page, max_html_depth=60)
    assert rows and rows[-1][1][-1].endswith("末尾")


def test_html_utf16_and_hostile_spans():
    page = "<html><body><table><tr><td>行政处罚</td><td>4</td></tr></table></body></html>"
    assert html_rows("\ufeff".encode("utf-16-le") + page.encode("utf-16-le")) == [(True, ["行政处罚", "4"])]
    # an empty nested table does not make a data row a layout row; absurd spans are clamped
    rows = html_rows(
        "<table><tr><td>规章</td><td><table></table>1</td><td colspan=99999></td><td rowspan=0>2</td></tr>"
        "<tr><td>行政许可</td><td>3</td><td>4</td></tr></table>"
    )
    assert rows[0][1][:2] == ["规章", "1"] and rows[0][1][-1] == "2" and len(rows[0][1]) <= 3 + 64
    assert rows[1] == (True, ["行政许可", "3", "4", ""])


def test_html_word_export_page_reads_every_paragraph_and_row():
    # (its speed is measured by bench/throughput.py, not here: a timed test fails on a loaded machine)
    parts = ["<html><head><meta charset=utf-8></head><body><div class=WordSection1>"]
    for i in range(60):
        parts.append(
            f"<p class=MsoNormal style='text-indent:32pt'><span style='font-family:仿宋'>第{i}段正文，"
            "依法做好政府信息公开工作。</span><span lang=EN-US><o:p></o:p></span></p>"
        )
    parts.append("<table border=1>")
    for r in range(40):
        cells = "".join(
            f"<td width=50 style='border:solid'><p class=MsoNormal align=center><span lang=EN-US>{c}"
            "<o:p></o:p></span></p></td>"
            for c in range(9)
        )
        parts.append(f"<tr><td><p><span>第{r}行</span></p></td>{cells}</tr>")
    parts.append("</table></div></body></html>")
    data = "\n".join(parts).encode("utf-8")
    state = HtmlBackend()(data, "page.html", OPTS)
    assert len(state.lines) == 100


# ---------------------------------------------------------------------------------------------
# DOCX


def merged_docx() -> bytes:
    d = docx.Document()
    d.add_paragraph("某某局2023年政府信息公开工作年度报告")
    d.add_paragraph("规章\t0\t0\t0")
    t = d.add_table(rows=4, cols=5)
    for r in range(4):
        for c in range(5):
            t.cell(r, c).text = f"{r}{c}"
    t.cell(0, 0).merge(t.cell(0, 1)).text = "三、本年度办理结果"  # horizontal
    t.cell(1, 0).merge(t.cell(3, 0)).text = "（三）不予公开"  # vertical, leading
    label = t.cell(1, 1)
    label.text = "1.属于"
    label.add_paragraph("国家秘密")
    t.cell(2, 2).merge(t.cell(3, 2)).text = "9"  # vertical, inside the row
    t.cell(2, 3).text = "—"
    t.cell(3, 3).text = ""
    d.add_paragraph("四、政府信息公开行政复议、行政诉讼情况")
    return save(d)


def test_docx_merged_cells():
    assert docx_rows(merged_docx()) == [
        (False, ["某某局2023年政府信息公开工作年度报告"]),
        (True, ["规章", "0", "0", "0"]),
        # gridSpan: one field, not repeated
        (True, ["三、本年度办理结果", "02", "03", "04"]),
        # paragraphs of a cell joined with "" between CJK characters
        (True, ["（三）不予公开", "1.属于国家秘密", "12", "13", "14"]),
        # the vMerge continuation of the leading label is dropped; "—" is kept (the tokenizer's 0)
        (True, ["21", "9", "—", "24"]),
        # the vMerge continuation of "9" is an empty field in place; inner blank kept
        (True, ["31", "", "", "34"]),
        (False, ["四、政府信息公开行政复议、行政诉讼情况"]),
    ]
    state = Ingestor()(merged_docx(), "report.bin")
    assert state.kind == "docx"


def test_docx_nested_table_inline_and_mixed_join():
    d = docx.Document()
    outer = d.add_table(rows=1, cols=1)
    cell = outer.cell(0, 0)
    cell.text = "一、总体情况"
    inner = cell.add_table(rows=1, cols=3)
    for i, text in enumerate(["行政许可", "12", ""]):
        inner.cell(0, i).text = text
    cell.add_paragraph("五、存在的主要问题")
    t = d.add_table(rows=1, cols=2)
    t.cell(0, 0).text = "Item"
    t.cell(0, 0).add_paragraph("A")
    t.cell(0, 1).text = "7"
    assert docx_rows(save(d)) == [
        (False, ["一、总体情况"]),
        (True, ["行政许可", "12", ""]),
        (False, ["五、存在的主要问题"]),
        (True, ["Item A", "7"]),
    ]


def test_docx_truncated_is_corrupt():
    data = merged_docx()
    with pytest.raises(CorruptInput):
        DocxBackend()(data[: len(data) // 2], "cut.docx", OPTS)
    with pytest.raises(CorruptInput):
        Ingestor()(data[: len(data) // 2], "cut.docx")


def test_docx_without_document_part_is_corrupt():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/other.xml", "<x/>")
    with pytest.raises(CorruptInput):
        DocxBackend()(buf.getvalue(), "x.docx", OPTS)


def test_docx_broken_xml_is_corrupt():
    src = zipfile.ZipFile(io.BytesIO(merged_docx()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "word/document.xml":
                body = body[: len(body) // 2]
            zf.writestr(info.filename, body)
    with pytest.raises(CorruptInput):
        DocxBackend()(buf.getvalue(), "x.docx", OPTS)


def add_zeros(data: bytes, megabytes: int) -> bytes:
    """A valid DOCX plus one member of `megabytes` MB of zeros, written in chunks."""
    buf = io.BytesIO(data)
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("word/media/zeros.bin", "w") as f,
    ):
        for _ in range(megabytes):
            f.write(chunk)
    return buf.getvalue()


def test_docx_zip_bomb_is_refused_before_inflating():
    bomb = add_zeros(merged_docx(), 300)  # 300 MB of zeros in about 1.4 MB
    assert len(bomb) < 3 * 1024 * 1024
    with pytest.raises(InputTooLarge, match="zip bomb"):
        DocxBackend()(bomb, "bomb.docx", OPTS)
    with pytest.raises(InputTooLarge):
        Ingestor()(bomb, "bomb.docx")
    # under the total limit, but an absurd compression ratio
    with pytest.raises(InputTooLarge, match="zip bomb"):
        DocxBackend()(add_zeros(merged_docx(), 40), "bomb.docx", OPTS)


def test_docx_total_uncompressed_limit():
    data = merged_docx()
    with pytest.raises(InputTooLarge, match="inflate to"):
        DocxBackend()(data, "big.docx", IngestOptions(max_docx_uncompressed=20_000))
