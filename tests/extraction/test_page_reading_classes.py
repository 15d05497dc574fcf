"""Classes of page-reading error found on the held-out style families (issue 15), each pinned on the
words and rules of one rendered page band (`tests/golden/page_words/*.json`: the text layer's words
with their character extents, and the drawn rules, as `extraction.ingest.pdf` reads them). The
bands come from renders that nothing was tuned on; each test names the class, not the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extraction.document import Field, Line
from extraction.pages.geometry import Rule, Word, drop_repeated_headers, layout_page
from extraction.pages.words import FIGURE_GUESS_CONFIDENCE

WORDS = Path(__file__).resolve().parents[1] / "golden" / "page_words"


def _rows(name: str) -> list[list[str]]:
    data = json.loads((WORDS / name).read_text(encoding="utf-8"))
    words = [
        Word(t, tuple(box), 1.0, [], [tuple(c) for c in chars] if chars else None) for t, box, chars in data["words"]
    ]
    rules = [Rule(*r) for r in data["rules"]]
    return [[f.text for f in ln.fields] for ln in layout_page(words, rules, 1) if ln.delimited]


def _row(rows: list[list[str]], label: str) -> list[str]:
    hits = [r for r in rows if any(label in f for f in r)]
    assert len(hits) == 1, f"{label}: {hits} in {rows}"
    return hits[0]


@pytest.mark.parametrize(
    "name",
    ["html_chromium_enumerator_apart.json", "html_chromium_centred_labels.json"],
    ids=["three_line", "outer_header"],
)
def test_an_enumerator_printed_apart_from_its_label_is_one_label(name: str):
    """A browser prints "1." and "属于国家秘密" as two glyph runs a space apart, in a column of centred
    labels whose wrapped lines start at many x: they are one row label, and the figures beside
    "1." belong to it (they were read as a block of text, the rows shifted or lost)."""
    rows = _rows(name)
    secret = _row(rows, "属于国家秘密")
    assert any(f.replace(" ", "").startswith("1.属于国家秘密") for f in secret), secret
    assert all(f.strip() for f in secret[-7:]), secret  # its seven figures
    other = _row(rows, "其他法律行政法规禁止公开")
    assert other[0].replace(" ", "").startswith("2.其他法律行政法规禁止公开"), other


def test_an_enumerator_below_short_last_lines_is_not_a_stacked_group_label():
    """Short pieces in one column (申请 / 2. / 请: the last line of one label, the next row's
    enumerator, its label's last line) are not a group label printed down a column: 2. joins its
    label 重复申请 and keeps its figures."""
    rows = _rows("word_libreoffice_enumerator_mid_column.json")
    row = _row(rows, "重复申")
    assert row[0].replace(" ", "") == "2.重复申请", row
    assert len(row) == 8, row


def test_a_group_label_printed_down_its_column_does_not_continue_the_row_label_above():
    """三 / 、 / 本 / 年 / 度 … printed one character a line under 二、上年结转政府信息公开申请数量
    (left-aligned in the same merged column) is the group label of the rows below, not the end of
    the row label above it."""
    rows = _rows("word_libreoffice_stacked_group_under_label.json")
    carried = _row(rows, "上年结转")
    assert carried[0] == "二、上年结转政府信息公开申请数量", carried
    granted = _row(rows, "予以公开")
    assert granted[0] == "三、本年度办理结果", granted


def test_a_sub_tables_last_column_filled_by_its_first_row_only_is_kept():
    """第二十条第(一)项 as its own small table: 规章 0 0 0 over 行政规范性文件 0 0 (its 现行有效件数
    blank). The last column has one figure, on a row that fills every other column: it is a column
    of the table, not a stray figure."""
    rows = _rows("word_libreoffice_subtable_last_column.json")
    assert _row(rows, "规章") == ["规章", "0", "0", "0"]
    assert _row(rows, "行政规范性文件") == ["行政规范性文件", "0", "0", ""]


def test_a_one_row_table_places_its_figures_under_their_column_heads():
    """Table 四 as one row of figures under a three-line header, three of its 15 cells blank: the
    12 figures stand under their own column heads and the blanks stay in place (read left to
    right, every figure after the first blank moved one column left)."""
    rows = _rows("three_line_table4_blank_cells.json")
    figures = [r for r in rows if r and all(f in ("0", "") for f in r)]
    assert figures == [["0", "0", "0", "0", "", "0", "0", "", "0", "0", "0", "0", "0", "0", ""]], rows


def test_a_figure_wrapped_in_its_narrow_grid_cell_is_one_figure():
    """LibreOffice wraps a figure too wide for its cell: 1,093 as "1,09" over "3", 3336 as "333"
    over "6", while the row's other figures stand one a cell. Each is one figure of its row (the
    two lines were taken for two rows' figures and the grid was read as a table without rules)."""
    rows = _rows("word_libreoffice_wrapped_figures.json")
    new = _row(rows, "本年新收")
    assert new[-7:] == ["1134", "0", "1,109", "1,093", "0", "0", "3336"], new


def test_a_group_label_goes_to_the_first_row_whose_label_starts_beside_it():
    """（三）不予公开 printed over two lines beside 1.属于国家秘密, whose figures stand on the row's
    bottom line (below the group label's middle): the group label belongs to that row, not to the
    （二） row above."""
    rows = _rows("outer_header_group_label_bottom_figures.json")
    assert _row(rows, "属于国家秘密")[:2] == ["(三)不予公开", "1.属于国家秘密"]
    assert _row(rows, "部分公开")[0].startswith("(二)部分公开")


def _line(page: int, *texts: str) -> Line:
    return Line([Field(t, page=page) for t in texts], page=page, delimited=len(texts) > 1)


def _header(page: int) -> list[Line]:
    # a header whose wrapped cells the page reader read as text lines and rows mixed
    return [
        _line(page, "申请人情况"),
        _line(page, "（本列数据的勾稽关"),
        _line(page, "系为：第一项加第二", "法人或其他组织"),
        _line(page, "项之和，等于第三项"),
        _line(page, "加第四项之和）", "商业企业科研机构社会公益组织", "其他"),
        _line(page, "构"),
    ]


def test_a_repeated_header_of_text_lines_and_rows_opening_a_page_is_dropped():
    """Table 三 continued on the next page repeats its header; read as text lines and rows mixed,
    its 其他 was taken for a row of its own. The page's first lines before its first row of
    figures, matching the lines before the table's first row, are the repeat and go."""
    lines = [
        _line(2, "三、收到和处理政府信息公开申请情况"),
        *_header(2),
        _line(2, "一、本年新收政府信息公开申请数量", "5", "0", "0", "0", "0", "0", "5"),
        _line(2, "5.要求行政机关确认或重新出具已获取信息", "0", "0", "0", "0", "0", "0", "0"),
        _line(3, "- 3 -"),
        *_header(3),
        _line(3, "（六）其他处理", "1", "0", "0", "0", "0", "0", "1"),
    ]
    kept = drop_repeated_headers(lines)
    page3 = [ln.fields[0].text for ln in kept if ln.page == 3]
    assert page3 == ["- 3 -", "（六）其他处理"], page3
    assert [ln.fields[0].text for ln in kept if ln.page == 2] == [ln.fields[0].text for ln in lines if ln.page == 2]


def test_a_sub_table_heading_over_the_same_heads_is_not_a_repeated_header():
    """第二十条第（六）项 opening a page over the same heads as （五）'s sub-table is a table of its own."""
    lines = [
        _line(1, "第二十条第（五）项"),
        _line(1, "信息内容", "本年处理决定数量"),
        _line(1, "行政许可", "12"),
        _line(2, "第二十条第（六）项"),
        _line(2, "信息内容", "本年处理决定数量"),
        _line(2, "行政处罚", "3"),
    ]
    assert len(drop_repeated_headers(lines)) == len(lines)


def test_a_row_labels_short_last_line_is_not_the_top_of_the_group_label_below():
    """二、上年结转政府信息公开申请 / 数量, then 三 / 、 / 本 / 年 … printed down the same column: 数量
    ends the row label above (it stands under it, and no row starts beside it); 三 starts the
    group label (（一）予以公开 starts beside it)."""
    rows = _rows("word_libreoffice_short_tail_over_group.json")
    assert _row(rows, "上年结转")[0] == "二、上年结转政府信息公开申请数量"
    assert _row(rows, "予以公开")[:2] == ["三、本年度办理结果", "（一）予以公开"]


def test_a_group_labels_centred_last_line_is_not_a_first_line_indent_wrap():
    """（四）/ 无法提 / 供 printed centred in its column beside 1. and 2.: 供 stands left of the row
    label 2.没有现成信息需要另行制作, where a first-line-indent wrap would start, but it is centred
    under the group label above it, which takes it (the group label lost its last character and
    the row label gained it)."""
    rows = _rows("horizontal_only_group_tail_not_indent_wrap.json")
    assert _row(rows, "本机关不掌握")[:2] == ["（四）无法提供", "1.本机关不掌握相关政府信息"]
    assert _row(rows, "没有现成信息")[0] == "2.没有现成信息需要另行制作"


def test_a_frame_with_a_header_rule_only_places_a_one_row_tables_figures_under_their_heads():
    """Table 四 in an outer frame with one header rule and no column rules: its one row of figures
    stands in one grid cell (3 0 1 _ 4 _ 0 1 0 1 _ _ 0 0 _, four blank cells). The rules do not
    separate the columns, so the row is read by alignment under the 15 column heads and the blanks
    stay in place (read as one cell, the 10 figures filled the first 10 columns)."""
    rows = _rows("outer_header_table4_one_cell_row.json")
    figures = [r for r in rows if r and all(f.isdigit() or f == "" for f in r)]
    assert figures == [["3", "0", "1", "", "4", "", "0", "1", "0", "1", "", "", "0", "0", ""]], rows


def test_a_frame_with_a_header_rule_only_parts_a_rows_label_from_its_figure():
    """第二十条第(八)项 as a one-row sub-table in an outer frame with a header rule: 行政事业性收费 and
    its figure 819.93 (a line higher: the label centred, the figure at the top) stand in one grid
    cell. A label and a figure a column apart are two columns' words: the row is label | figure
    (read as one cell it was "819.93 行政事业性收费", and the amount was lost)."""
    rows = _rows("outer_header_subtable_label_and_figure_one_cell.json")
    assert _row(rows, "行政事业性收费") == ["行政事业性收费", "819.93"]


def test_a_stacked_group_labels_lines_interleaved_with_a_wrapped_row_label_count_once():
    """三、/本/年/度/办/理/结 printed one character a line beside （二）部分公开（区分处理的，只计这一情
    形，不计其他情形） wrapped over five lines, on another line pitch: the two labels' lines
    interleave, ten lines of the page between two rows of figures, five of either label. The
    table goes on through them (counted as lines of the page they ended it: （二）部分公 was left
    as a text line and the row took the group label's tail as its label)."""
    rows = _rows("outer_header_stacked_group_interleaves_wrapped_label.json")
    assert _row(rows, "部分公开")[0] == "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"
    assert _row(rows, "予")[0] == "三、本年度办理结果"


def test_a_labels_last_character_printed_a_little_apart_at_the_next_columns_start_stays_in_it():
    """（一）予以公开 spanning two label columns: the browser prints 开 as a glyph run of its own,
    0.24 text heights after 公, where the next label column's rows (1.属于国家秘密 …) start. Two
    label columns' texts stand at least two cells' padding apart; 开 is the label's last character
    (taken for a label of its own, it cost the row its figures' columns)."""
    rows = _rows("html_chromium_last_char_at_next_column.json")
    assert _row(rows, "予以公") == ["( 一 )予以公开", "21", "0", "0", "0", "0", "0", "21"]


def test_one_figure_sub_tables_without_rules_keep_their_headings_and_heads_out_of_the_rows():
    """第二十条 (五), (六), (八) as small tables without rules, one column of figures each,
    right-aligned and a little below their labels: each sub-table's heading and its header line
    信息内容 | 本年处理决定数量 (the head well left of the right-aligned figures, so it looked like
    a label) are not a wrapped row label. A heading ends the table above; a line with a word right
    of every row label is a header (信息内容 was joined to 行政许可, and 971945 / 596 went to the
    wrong rows, silently)."""
    rows = _rows("no_rules_one_figure_subtables.json")
    assert _row(rows, "行政许可") == ["行政许可", "92"]
    assert _row(rows, "行政处罚") == ["行政处罚", "971945"]
    assert _row(rows, "行政强制") == ["行政强制", "596"]
    assert _row(rows, "行政事业性收费") == ["行政事业性收费", "0"]


def test_a_figure_with_a_remark_stands_in_its_column():
    """第二十条第(一)项 with horizontal rules only: 规章 5（其中修订4件） 2 21 over 行政规范性文件 12 _ 91
    (本年废止件数 blank). The figure printed with its remark is a figure of its column, so the
    columns are found from both rows and the blank stays in place (without it the first column
    had one figure, and 12 was read as the 本年废止件数 of the row)."""
    rows = _rows("horizontal_rules_figure_with_remark_and_blank.json")
    assert _row(rows, "规章") == ["规章", "5（其中修订4件）", "2", "21"]
    assert _row(rows, "行政规范性文件") == ["行政规范性文件", "12", "", "91"]


def test_a_one_row_table_whose_first_column_is_blank_keeps_the_blank():
    """Table 四 under a three-line header with its first cell (行政复议 结果维持) blank: no row label
    stands left of the figures, so the head over the blank first column is a column's head too
    (taken for the label column's, the row was read as 14 columns and every figure after the
    first blank moved)."""
    rows = _rows("three_line_table4_first_column_blank.json")
    figures = [r for r in rows if r and all(f.isdigit() or f == "" for f in r)]
    assert figures == [["", "0", "0", "0", "", "", "0", "0", "", "0", "1", "0", "", "0", "1"]], rows


def test_a_label_under_a_short_label_line_with_room_left_is_not_its_wrap():
    """规章 0 0 0 over 行政规范性文件 printed with no figures (a row left blank), left-aligned in one
    column: 规章's line ended with room for several more characters, and a line wraps only when
    full, so 行政规范性文件 is a label of its own (joined as 规章行政规范性文件 the figures were lost
    to both rows, half of them silently)."""
    rows = _rows("three_line_blank_row_under_short_label.json")
    assert _row(rows, "规章") == ["规章", "0", "0", "0"]
    assert not any("规章行政" in f for r in rows for f in r), rows


def test_a_one_row_table_with_one_figure_keeps_its_blank_column():
    """第二十条第（九）项 as a one-row table with column rules only: 政府集中采购 | 0 | (采购总金额 left
    blank). A label and one figure a column apart on a line are a table row, and the header's two
    heads over it give its two columns (read as a text line split at its gap, the 0 went to
    采购总金额)."""
    rows = _rows("vertical_only_one_row_subtable_last_blank.json")
    assert _row(rows, "政府集中采购") == ["政府集中采购", "0", ""]


def test_a_row_label_close_beside_a_group_label_starts_its_own_column():
    """（五）不 / 予处理 beside 1、信访 / 举报投诉 / 类申请, the two label columns' texts 0.33 text
    heights apart: 举报投诉 starts where 1、信访 starts, right under it, so it continues that
    column's label, not the group label's line beside it (joined, the group label was cut and the
    row label became 1、信访予处理举报投诉类申请)."""
    rows = _rows("horizontal_only_group_label_close_to_row_label.json")
    assert _row(rows, "信访")[:2] == ["(五) 不予处理", "1、信访举报投诉类申请"]


def test_a_figures_unit_stays_with_it_when_the_row_is_read_by_alignment():
    """第二十条第(九)项 where the column rule between 采购项目数量 and 采购总金额 is drawn in the
    header only: 532 and 57000.28 元 share one body cell, so the row is read by alignment, and 元
    (printed just after 57000.28, right of its column) is that figure's unit (left as a text line,
    the amount in 元 was read as 万元, silently)."""
    rows = _rows("word_libreoffice_figure_and_unit_in_a_merged_cell.json")
    assert _row(rows, "政府集中采购") == ["政府集中采购", "532", "57000.28 元"]


def test_a_group_labels_line_beside_a_centred_row_labels_line_stays_apart():
    """（六）/ 其他处 / 理 beside 1、申请人无正 / 当理由逾期不补 / 正、行政机关不 …, centred in a narrow
    column whose lines start at several x (no column start to cut at): 其他处 and 当理由逾期不补
    stand a column's gap apart, each under a line of its own label, so they are two labels'
    pieces (joined, the group label lost 其他处 and the rows of （五） and （六） were mixed)."""
    rows = _rows("no_rules_centred_row_label_beside_group_label.json")
    assert _row(rows, "申请人无正")[:2] == [
        "（六）其他处理",
        "1、申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
    ]
    assert _row(rows, "信访")[:2] == ["（五）不 予处理", "1、信访举报投诉类申请"]


def test_column_rules_place_a_blank_cell_of_a_row_read_alone():
    """Table 三 with column rules and no row rules, continued on a new page: its first row there
    (5.要求行政机关确认或重新出具已获取信息, 自然人 blank) stands alone above the group-label line
    （六）其他处理, so its six figures alone cannot show seven columns. The column rules can: each
    span between them right of the labels holds one column, and the empty span is the blank
    cell (read from the figures, every figure moved one column left)."""
    rows = _rows("vertical_only_continued_row_first_column_blank.json")
    assert _row(rows, "确认或重新") == ["5.要求行政机关确认或重新出具已获取信息", "", "0", "0", "0", "0", "0", "0"]


def test_a_sub_tables_first_column_filled_by_one_row_only_is_kept():
    """第二十条第(一)项 (2019 form) without rules: 规章 0 0 0 over 规范性文件 _ 0 47. The first column
    has one figure, on a row that fills every other column: it is a column of the table (dropped,
    0 and 47 were read as the first two columns, silently)."""
    rows = _rows("no_rules_subtable_first_column_blank.json")
    assert _row(rows, "规范性文件") == ["规范性文件", "", "0", "47"]


@pytest.mark.parametrize(
    "name",
    ["word_libreoffice_blank_row_under_same_width_label.json", "three_line_blank_row_under_same_width_label.json"],
    ids=["word_libreoffice", "three_line"],
)
def test_a_complete_statutory_label_under_another_starts_its_own_row(name: str):
    """行政处罚 with its figure 0 over 行政强制 left blank (no row rule between them), the two labels
    the same width: the line under it is no wrap, as each is a whole statutory row label (read as
    one wrapped label 「行政处罚行政强制」, the blank row vanished out of review). "行 政强制" (a
    stray space) is the same label."""
    data = json.loads((WORDS / name).read_text(encoding="utf-8"))
    words = [Word(t, tuple(box), 1.0, [], [tuple(c) for c in ch] if ch else None) for t, box, ch in data["words"]]
    lines = [[f.text for f in ln.fields] for ln in layout_page(words, [Rule(*r) for r in data["rules"]], 1)]
    assert _row(lines, "行政处罚") == ["行政处罚", "0"], lines
    coercion = _row(lines, "强制")  # its own line, its figure blank (or not printed)
    assert coercion[0].replace(" ", "") == "行政强制" and not any(f.strip() for f in coercion[1:]), lines


def test_a_group_labels_tail_after_a_page_break_is_no_wrap_of_the_row_beside_it():
    """（五）不予处理 cut by a page break: its tail 予处 / 理 opens the next page left of 4. 无正当理由
    / 大量反复申请. The tail is no first-line-indent wrap of the row label (its own next line starts
    at the column, right of the tail): 4.'s label is 无正当理由大量反复申请 with its figures, and
    the 5. row keeps its own (read as 「4. 无正当理由予处理」, 大量反复申请 went to the 5. row)."""
    rows = _rows("word_libreoffice_group_tail_after_page_break.json")
    fourth = _row(rows, "4. 无正当理由")
    assert fourth[-8].replace(" ", "") == "4.无正当理由大量反复申请", fourth
    assert fourth[-7:] == ["0", "0", "1", "0", "5", "0", "6"], fourth
    fifth = _row(rows, "5. 要求行政机关")
    assert fifth[0].startswith("5.") and fifth[-7:] == ["0", "0", "3", "0", "10", "0", "13"], fifth


def test_wrapped_labels_read_by_ocr_keep_their_lines_together():
    """On a scan, OCR's boxes are the ink only, tighter than a PDF glyph box: the lines of one
    wrapped label (1.本机关不掌 / 握相关政府信 / 息, 2.没有现成信息 / 需要另行制作) stand 1.3 text
    heights apart. Each label keeps its lines and its figures (read as separate labels, every
    row's tail went to the row below and 需要另行制作 lost its figures)."""
    rows = _rows("word_libreoffice_scan_wrapped_labels_tight_boxes.json")
    assert _row(rows, "不掌")[-8].replace(" ", "") == "1.本机关不掌握相关政府信息", rows
    creation = _row(rows, "没有现成信息")
    assert creation[0] == "2.没有现成信息需要另行制作" and creation[1:] == ["0"] * 7, rows
    assert _row(rows, "补正后")[0] == "3.补正后申请内容仍不明确", rows


def test_enumerators_read_apart_from_their_labels_one_over_the_other_are_no_label_column():
    """OCR's character frames are narrower than the glyphs, so "1." and "属于国家秘密" of one token
    stand further apart than printed, and are cut at the space. With "2." right below "1.", the two
    enumerators looked like a label column of their own: the texts of both rows were joined into
    one label and 2.'s row lost its label (its figures went to no statutory row)."""
    rows = _rows("word_libreoffice_scan_enumerators_apart_in_a_column.json")
    assert _row(rows, "属于国家秘密")[-8].replace(" ", "") == "1.属于国家秘密", rows
    other = _row(rows, "其他法律行政")
    assert other[0].replace(" ", "") == "2.其他法律行政法规禁止公开" and other[1:] == ["0"] * 7, rows


def test_a_label_wrapped_over_more_lines_than_usual_in_a_narrow_column_stays_in_the_table():
    """（二）部分公开（区分处理的，只计这一情形，不计其他情形） four characters a line covers eight
    lines, and the group label （三）不予公开 two more, between two rows of figures: nine lines of
    label text, more than a label column of usual width ever holds. The table went on past them
    (it was cut there: the label's tail and the group label became text lines, the rows below a
    table of their own)."""
    rows = _rows("word_libreoffice_scan_label_over_nine_lines_of_a_narrow_column.json")
    part = _row(rows, "部分公开")
    assert part[0].replace(" ", "") == "(二)部分公开(区分处理的，只计这一情形，不计其他情形)", rows
    assert part[1:] == ["0"] * 7, rows


def test_the_last_rows_label_wrapped_below_its_figures_at_a_page_end_stays_its_label():
    """The page's last row: 1.属 beside its figures, 于国家秘 / 密 under them (a narrow column, the
    figures top-aligned). Those lines, OCR's tight boxes leaving a wrap's gap wider than a text
    layer's, are the end of its label, not text after the table."""
    rows = _rows("word_libreoffice_scan_label_over_nine_lines_of_a_narrow_column.json")
    assert _row(rows, "1.属")[0] == "1.属于国家秘密", rows


def test_a_first_line_indent_wrap_under_a_short_first_line_of_a_narrow_column_is_one_label():
    """2.重 (indented, two characters after its enumerator: the column is four wide) over 复申请:
    the first line runs to the column's right edge, so the next line, starting left of it, is its
    wrap (OCR's character frames, shorter than the glyphs, made 2.重 look too short to be full;
    复申请 was taken for the group label of the next row)."""
    rows = _rows("word_libreoffice_scan_indent_wrap_under_a_short_first_line.json")
    assert _row(rows, "重")[0] == "2.重复申请", rows
    assert _row(rows, "要求")[0] == "3.要求提供公开出版物", rows


def test_wrapped_label_lines_of_short_ocr_boxes_a_line_pitch_apart_are_one_label():
    """OCR's boxes of CJK characters are the ink's core, shorter than the digits' that set the text
    height, so 1、申请人无正当理由 / 逾期不补正、行政机关不再 / 处理其政府信息公开申请 printed at
    1.5 line spacing leave gaps a little over `wrap_gap` text heights. Measured as if the boxes
    were a text height tall, they are one label's lines (the last two were a label of no row)."""
    rows = _rows("word_libreoffice_scan_wrap_gap_of_short_cjk_boxes.json")
    row = _row(rows, "申请人无正当理由")
    assert row[-8] == "1、申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", rows
    assert row[-7:] == ["0"] * 7, rows


def test_a_figure_printed_with_its_unit_in_its_cell_counts_as_a_figure_of_its_row():
    """第二十条第(九)项 as one row: 政府集中采购 | 13 | 0.01万元, the label bottom-aligned a little
    below its top-aligned figures. 0.01万元 (figure and unit one word) was no figure, so the line
    held one figure and a word and was read as text: the figures lost their label."""
    rows = _rows("outer_header_scan_figure_with_its_unit_in_a_one_row_table.json")
    assert _row(rows, "政府集中采购") == ["政府集中采购", "13", "0.01万元"], rows


def test_a_group_enumerator_read_with_the_row_enumerator_beside_it_is_split():
    """OCR reads （四） of the group label （四）/无法/提供 and 1.本机 of the row label beside it as one
    word, "（四）1.本机": the group label's pieces and the row label's were then joined wrongly and
    the row label lost its wrapped lines (关不掌 / 握相关 / 政府信 / 息 became a label of no row)."""
    rows = _rows("outer_header_scan_group_enumerator_read_with_the_row_enumerator.json")
    row = _row(rows, "本机关")
    assert row[:2] == ["（四）无法提供", "1.本机关不掌握相关政府信息"] and row[2:] == ["0"] * 7, rows


def test_the_last_row_a_page_break_cuts_has_its_figures_at_its_top_whatever_the_alignment():
    """Cells centred vertically, but the page's last row runs into the page break: its figures
    stand beside the first line of its five-line label 1. 申请人无正当 / 理由逾期不补正、/ … / 请.
    The label is that row's whole (it was cut after its first line to fit the centred alignment
    and the other four lines became text after the table)."""
    rows = _rows("word_libreoffice_scan_last_row_cut_by_the_page_break.json")
    row = _row(rows, "申请人无正当")
    assert row[-8].replace(" ", "") == "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", rows
    assert row[-7:] == ["0"] * 7, rows


def test_a_one_touching_a_vertical_rule_over_its_height_is_doubtful():
    """Table 四's last cell under a seal on a grey scan: its 0 unread, the table's right frame line
    beside it read as "1" (0.88), which came out as a confident wrong figure. A 1 touching a
    vertical rule that runs over its height may be the rule: capped at the figure-guess confidence
    (a printed 1 stands a cell's padding away from the rule; the other figures keep theirs)."""
    data = json.loads((WORDS / "outer_header_scan_one_on_the_frame_under_a_seal.json").read_text(encoding="utf-8"))
    words = [Word(t, tuple(box), 0.99, [], [tuple(c) for c in chars] if chars else None) for t, box, chars in data["words"]]
    rules = [Rule(*r) for r in data["rules"]]
    fields = [f for ln in layout_page(words, rules, 1) if ln.delimited for f in ln.fields]
    ones = [f for f in fields if f.text == "1"]
    assert ones and all(f.confidence <= FIGURE_GUESS_CONFIDENCE for f in ones), fields
    assert all(f.confidence == 0.99 for f in fields if f.text == "0"), fields


def test_a_blank_column_under_its_head_is_kept_where_right_aligned_figures_stand_off_their_heads():
    """第二十条第(一)项 with right-aligned figures under centred heads: 规章's 本年废止件数 was not read
    (OCR missed its 0), so that column holds one figure, read without full confidence (0.8). The
    header shows it: four heads over the label and three figure columns. The first figure
    column's head stands left of its figures (it was not counted as a head, the header was
    dropped, and with it the column: 行政规范性文件's 0 went to no cell)."""
    data = json.loads((WORDS / "outer_header_scan_right_aligned_figures_left_of_first_head.json").read_text(encoding="utf-8"))
    words = [
        Word(t, tuple(box), 0.8 if t == "0" else 1.0, [], [tuple(c) for c in chars] if chars else None)
        for t, box, chars in data["words"]
    ]
    rows = [[f.text for f in ln.fields] for ln in layout_page(words, [Rule(*r) for r in data["rules"]], 1) if ln.delimited]
    assert _row(rows, "规章") == ["规章", "0", "", "0"], rows
    assert _row(rows, "行政规范性文件") == ["行政规范性文件", "0", "0", "0"], rows


def test_row_enumerators_printed_apart_at_a_centred_columns_start_are_their_labels_heads():
    """LibreOffice prints a centred row label's enumerator as a glyph run of its own, 0.8 text
    heights before its text (3. 危及“三 / 安全一稳定”), and the centred labels' short last lines
    (秘密, 公开, 信息) make a column start right where the texts after 1., 3. … 8. begin. The
    template numbers only row labels (the last label column) with arabic enumerators, so "3." is
    the head of the label right of it, never a column of its own: read apart, 3.–8. were a column
    of labels and their texts one label, and six rows lost their figures (to review)."""
    rows = _rows("word_libreoffice_row_enumerators_apart_at_a_centred_column_start.json")
    assert _row(rows, "属于国家秘密")[-8:] == ["1. 属于国家秘密", *["0"] * 7], rows
    assert _row(rows, "危及")[-8:] == ["3. 危及“三安全一稳定”", *["0"] * 7], rows
    assert _row(rows, "保护第三方")[-8:] == ["4. 保护第三方合法权益", "1", *["0"] * 5, "1"], rows
    assert _row(rows, "查询事项")[-8:] == ["8. 属于行政查询事项", "2", *["0"] * 5, "2"], rows
    assert _row(rows, "没有现成信息")[-8:] == ["2. 没有现成信息需要另行制作", *["0"] * 7], rows


def test_a_group_label_and_the_row_label_beside_it_read_as_one_ocr_token_are_cut_apart():
    """A narrow group-label column (（四）/ 无法 / 提供, two characters a line) beside the row label
    1. 本机 / 关不掌 / 握相关 / 政府信 / 息: OCR reads the two cells' pieces on a line as one token
    without a space, 四）关不掌, whose ） and 关 stand 1.75 character pitches apart (one cell's text
    stands a pitch apart). Cut there, each label keeps its lines (joined, the group label and the
    row label were mixed, 「1. 本机四）关不掌无法提供」, and the row's figures went to no statutory row)."""
    rows = _rows("frame_no_row_rules_scan_group_and_row_label_read_as_one_token.json")
    row = _row(rows, "本机关")
    assert row[:2] == ["（四）无法提供", "1. 本机关不掌握相关政府信息"], rows
    assert row[2:] == ["5", "0", "0", "0", "2", "0", "7"], rows
    assert _row(rows, "没有现成")[0].replace(" ", "") == "2.没有现成信息需要另行制作", rows


def test_a_last_label_wrapped_over_eleven_lines_of_a_narrow_column_at_a_page_end_stays_whole():
    """The page's last row, 1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请 three
    characters a line (11 lines, its figures top-aligned beside the first), beside （六）/ 其他 /
    处理. How many lines a statutory label may take below its figures is counted in characters of
    the column's width, and on a scan a character is a pitch of 1.5 text heights wide (OCR's boxes
    of the digits set the text height): counted in text heights the column held 4 characters a
    line, the label 10 lines, and its last line 申请 was left as text after the table."""
    rows = _rows("frame_no_row_rules_scan_last_label_over_eleven_lines_at_a_page_end.json")
    row = _row(rows, "申请人无正当理由")
    assert row[:2] == ["（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"], rows
    assert row[2:] == ["0"] * 7, rows
    assert len(rows) == 1, rows


def test_an_ocr_tokens_evenly_spread_or_jittered_characters_stay_one_word():
    """The cut of `split_wide_char_gaps` needs a blank both wider than a character pitch and far
    wider than the token's others: a label spread evenly over its cell (规 … 章, two pitches a
    character) and OCR's uneven frames in one cell (开出版物) stay one word."""
    from extraction.pages.words import split_wide_char_gaps

    def token(text: str, centres: list[float], y: float) -> Word:
        return Word(text, (centres[0] - 3, y, centres[-1] + 3, y + 17), 0.9, [], [(c - 3, c + 3) for c in centres])

    pitch = [token("政府信息公开", [100 + 25 * k for k in range(6)], 100 + 30 * n) for n in range(3)]
    spread = token("规范文件", [100, 150, 200, 250], 200)
    jitter = token("开出版物", [219, 238.5, 264.5, 283.5], 230)
    joined = token("四）关不掌", [253, 272, 316.5, 342, 367], 260)
    out = [w.text for w in split_wide_char_gaps([*pitch, spread, jitter, joined])]
    assert out[3:] == ["规范文件", "开出版物", "四）", "关不掌"], out


def test_an_ocr_token_of_digits_a_pitch_or_more_apart_is_the_figures_of_several_cells():
    """A phone photo of a row with no rules: the detector boxed three cells' figures 0 | 1 | 0 as one
    text, read "010", evenly spread (three pitches a digit). It was one figure 10 in one cell, and
    its row's total, read "010" the same way, was 10 too: the row's sum held over two wrong cells
    (review_guarantee seed 9191, no_rules_aligned photo). A figure's own digits stand about half a
    pitch apart, so digits that far apart are cut however evenly they stand; a figure's own stay
    whole, and a label spread evenly still needs the jump."""
    from extraction.pages.words import split_wide_char_gaps

    def token(text: str, centres: list[float], y: float) -> Word:
        return Word(text, (centres[0] - 3, y, centres[-1] + 3, y + 17), 0.9, [], [(c - 3, c + 3) for c in centres])

    pitch = [token("政府信息公开", [100 + 25 * k for k in range(6)], 100 + 30 * n) for n in range(3)]
    spread = token("010", [500, 574, 654], 200)
    pair = token("00", [1036, 1110], 230)
    figure = token("1452", [300, 312, 324, 336], 260)
    label = token("规范文件", [100, 150, 200, 250], 290)
    out = [w.text for w in split_wide_char_gaps([*pitch, spread, pair, figure, label])]
    assert out[3:] == ["0", "1", "0", "0", "0", "1452", "规范文件"], out


def test_a_figure_whose_remark_its_cell_wrapped_is_one_figure():
    """第二十条第(一)项 in an outer frame with a header rule: 行政规范性文件's 本年制发件数 printed
    with its remark, 15（其中修订 7 / 件）, wrapped over two lines of its cell. The open piece, the
    7 after it and the closing 件） under them are one figure of its row (apart, 15（其中修订 was no
    figure, and the row read 0 | 90 into its first two columns: 0 | 9 | 0 for 15 | 0 | 90)."""
    rows = _rows("word_libreoffice_figure_with_its_remark_wrapped_in_its_cell.json")
    assert _row(rows, "行政规范性文件") == ["行政规范性文件", "15（其中修订7件）", "0", "90"], rows
    assert _row(rows, "规章") == ["规章", "0", "0", "0"], rows


def test_a_figure_whose_remark_closes_on_its_line_in_pieces_a_space_apart_is_one_figure():
    """第二十条第(一)项 in a frame without row rules: 规章's 本年制发件数 printed 6（其中修订 3 件）
    on one line, LibreOffice spacing the Latin digit in the CJK text. The three pieces are one
    figure of its row (apart, 6（其中修订 was no figure and the row lost its first two figures,
    6 and 0, to review)."""
    rows = _rows("word_libreoffice_figure_with_its_remark_spaced_on_one_line.json")
    assert _row(rows, "规章") == ["规章", "6（其中修订3件）", "0", "6"], rows
    assert _row(rows, "行政规范性文件") == ["行政规范性文件", "0", "0", "0"], rows


def test_a_figure_of_the_unlabelled_row_wrapped_around_its_line_is_one_figure():
    """Table 四 with its figures centred in their cells: 行政复议's 总计 238 is too wide for its
    cell and wraps as 23 / 8, the 23 a line above the row's other figures and the 8 a line below.
    The two are one figure in its column (read apart, 23 was the row's first figure, every figure
    of 行政复议 one column off, and 8 a line of its own)."""
    rows = _rows("word_libreoffice_table4_figure_wrapped_around_its_rows_line.json")
    figures = [r for r in rows if r and r[0] == "105"]
    assert len(figures) == 1 and figures[0][:6] == ["105", "33", "49", "51", "238", "14"], rows
    assert len(figures[0]) == 15 and rows[-1] == figures[0], rows


def test_a_group_enumerator_alone_level_with_the_first_rows_figures_is_no_row_label():
    """三、本年度办理结果 printed down its narrow column on a scan, OCR reading only its "三、": that
    line stands level with the top-aligned figures of （一）予以公开, whose label is centred a line
    lower beside it. No statutory row label is an enumerator alone: 三、 heads the label beside it
    (it took the row's figures, and 予以公开 became a blank row: 7 cells lost to review)."""
    rows = _rows("outer_header_scan_group_enumerator_alone_level_with_first_rows_figures.json")
    granted = _row(rows, "予以公开")
    assert granted == ["三、", "(一)予以公开", *["0"] * 7], rows
    assert not any(r[0] == "三、" and len(r) > 2 and r[1] != "(一)予以公开" for r in rows), rows
    assert _row(rows, "部分公开")[-7:] == ["0"] * 7, rows
    assert _row(rows, "上年结转")[-7:] == ["0"] * 7, rows


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("word_libreoffice_table4_figure_wrapped_in_an_unruled_row.json", ["306", "76", "276", "154", "812"]),
        ("word_libreoffice_table4_two_figures_wrapped_in_an_unruled_row.json", ["174", "131", "138", "97", "540"]),
        ("word_libreoffice_table4_thousands_figure_wrapped_in_an_unruled_row.json", ["205", "279", "528", "133", "1,145"]),
    ],
    ids=["one", "two", "thousands"],
)
def test_a_figure_of_the_unlabelled_row_wrapped_in_its_cell_is_one_figure(name: str, first: list[str]):
    """Table 四 in a frame with column rules in its header only: its first figure, 306, is too wide
    for its cell and wraps as 30 / 6 (right-aligned), the 6 a line of its own under it (or 174 and
    131 centred, 17 / 4 and 13 / 1 side by side; 1,145 as 1,1 / 45, its piece no figure). The
    template's one row without a label is table 四's, with no row under it: the pieces are the tails.
    (Read as a row, it left one column with figures on two rows: the row's first five figures were
    read as one label and 306 as 30.)"""
    rows = _rows(name)
    figures = [r for r in rows if r and r[0][:2] == first[0][:2]]
    assert len(figures) == 1 and len(figures[0]) == 15 and figures[0][:5] == first, rows
    assert rows[-1] == figures[0], rows  # no row of tails under it


def test_a_one_figure_row_is_no_row_of_the_table_under_the_next_header():
    """第二十条第（八）项 as a one-row sub-table, 行政事业性收费 | 0, its figure right-aligned at the
    far right, then the section heading and table 三's header (申请人情况 / 自然人 … 总计) over its
    rows of figures. Label-only lines between two rows stand left of both rows' figures; these
    reach over table 三's figures: they are a header, and the fee row a table of its own (read as
    one table, the fee row took table 三's seven columns and its 0 fell in none)."""
    rows = _rows("vertical_only_one_figure_row_above_the_next_tables_header.json")
    assert _row(rows, "行政事业性收费") == ["行政事业性收费", "0"], rows
    assert _row(rows, "本年新收")[-7:] == ["0"] * 7, rows


def test_heads_right_of_the_label_columns_ruled_border_are_value_columns():
    """第二十条第（九）项 as a one-row sub-table, 政府集中采购 | 0 | (blank), its figure right-aligned
    under the centred head 采购项目数量. Counted from the 0, that head stood left of the value
    columns and the blank column under 采购总金额 was lost (the 0 went to 采购总金额). The horizontal
    rules, drawn one segment a cell, break at the label column's right border: heads right of it
    are value columns'."""
    rows = _rows("horizontal_only_one_row_one_figure_right_aligned_blank_last.json")
    assert _row(rows, "政府集中采购") == ["政府集中采购", "0", ""], rows


def test_a_group_enumerator_the_wrap_broke_starts_a_label_of_its_own():
    """Three merged label columns in LibreOffice: the group label （三）不予公开 stands in the row
    labels' column (under （二）部分公开（区分处理的，只 / 计这一情形，不计 / 其他情形）), wrapped as
    （三 / ）不 / 予 / 公开. "（三" alone is an enumerator the wrap broke, as "（" alone is: it starts a
    label, not the last line of the one above (joined, 部分公开's label ran on into （三）不予公开, and
    the row matched no statutory label: 7 cells to review)."""
    rows = _rows("word_libreoffice_group_enumerator_broken_by_the_wrap.json")
    part = _row(rows, "部分公开")
    assert part == ["（二）部分公开（区分处理的，只计这一情形，不计其他情形）", *["0"] * 7], rows
    secret = _row(rows, "属于国家秘密")
    assert secret[0].replace(" ", "") == "（三）不予公开" and secret[1:] == ["1.属于国家秘密", *["0"] * 7], rows


def test_centred_last_lines_of_wrapped_labels_one_a_ruled_row_are_no_stacked_group_label():
    """Table 三's sub-rows in a narrow label column, each row boxed by horizontal rules (frame
    `horizontal`, figures centred): 3.危及“三安全一稳定 / ”, 4.保护第三方合法权 / 益, 5.属于三类内部
    事务 / 信息, 6.属于四类过程性信 / 息. The centred short last lines stand one over the other, a row
    pitch apart, like a group label printed down its column; but a rule parts each from the next,
    and a group label is one cell that no rule crosses. Each is its row label's last line (read as
    a stacked group label, the rows kept only the tails as labels and the first lines went to
    row 1 as group labels: 35 cells to review, proactive_subtables labeled 003 seed 6161)."""
    rows = _rows("proactive_subtables_wrapped_labels_centred_in_ruled_rows.json")
    assert [r[0].replace(" ", "") for r in rows] == [
        "1.属于国家秘密",
        "2.其他法律行政法规禁止公开",
        '3.危及"三安全一稳定"',
        "4.保护第三方合法权益",
        "5.属于三类内部事务信息",
        "6.属于四类过程性信息",
        "7.属于行政执法案卷",
        "8.属于行政查询事项",
    ], rows
    assert all(r[1:] == ["0"] * 7 for r in rows), rows


def _short(text: str, y: float, x: float = 100.0) -> Word:
    return Word(text, (x, y, x + 10.0, y + 10.0), 1.0, [], None)


def test_a_stack_of_short_words_is_cut_at_the_rules_between_them():
    """Short words stacked one a line in a column are a group label's pieces (三、 / 本年 / 度办 /
    理结 / 果), unless horizontal rules part them: then each stands in a row's cell of its own."""
    from extraction.pages.labels import _stacked_singles

    stack = [_short(t, 100.0 + 15.0 * k) for k, t in enumerate(["本年", "度办", "理结", "果"])]
    assert _stacked_singles(stack, 10.0) == {id(w) for w in stack}
    rules = [Rule(80.0, 112.5, 140.0, 112.5), Rule(80.0, 142.5, 140.0, 142.5)]  # under 本年 and 理结
    assert _stacked_singles(stack, 10.0, rules) == set()
    # a rule beside the stack, not across it, parts nothing
    aside = [Rule(150.0, 112.5, 200.0, 112.5), Rule(150.0, 142.5, 200.0, 142.5)]
    assert _stacked_singles(stack, 10.0, aside) == {id(w) for w in stack}


def test_a_short_whole_label_over_the_next_rows_label_is_no_wrap():
    """html_chromium seed 6565 report i:50 (three-line table, no rule between rows): 规章 2 | 2 | 16
    over 规范性文件 printed with blank cells were joined into one label "规章规范性文件", matched as
    行政规范性文件: its three figures went out there at 0.999 and 规章 came out missing. 规章 is a
    whole statutory label however short; only 其他 and 总计 are too generic to say so."""
    from extraction.pages.labels import _whole_labels

    assert _whole_labels("规章", "规范性文件")
    assert _whole_labels("规章", "行政规范性文件")
    assert not _whole_labels("其他", "对外管理服务事项")
    assert not _whole_labels("总计", "行政许可")


def test_a_row_given_another_rows_line_of_figures_is_unverified():
    """no_rules_aligned seed 6565 report i:2 (no rules, figures level with a wrapped label's first
    line): 不予公开's 2. row's figures 57 … 60 went with 3.'s line 17 … 17 into one row, which kept
    57 … 60 at 0.999 (extra_values) while 2. came out missing. A whole line of figures left out
    sends the row to review; every wrong cell is in review."""
    from extraction.pipeline import Pipeline
    from tests.datasets.test_generator import gd  # noqa: F401  (imports gongkai_datasets)

    families = pytest.importorskip("gongkai_datasets.families")
    r = families.render_family(2, "no_rules_aligned", seed=6565)
    result = Pipeline().extract(r.pdf, "x.pdf")
    wrong = [cid for cid, v in r.truth["cells"].items() if cid not in result.cells or result.cells[cid].value != v]
    assert wrong and all(cid in result.cells and result.cells[cid].review for cid in wrong if cid in result.cells)
    row = "applications.denied.security_stability"
    assert all(c.review for cid, c in result.cells.items() if cid.startswith(row + "."))


def test_a_line_of_text_with_numbers_left_out_is_no_other_rows_line():
    """A fax's banner ("2024-06-18 … 0582800934 … 5", one field) read under a row of 7 zeros joined
    its figures: leaving the banner's numbers out is no other row's line of figures, and the row
    stays confident (seed 7676 three_line fax: 14 right cells had gone to review). Another line of
    figure cells left out whole still doubts the row."""
    from extraction.document import DocumentState, PageInfo, Token
    from extraction.reconstruct.assemble import _another_lines_figures_left_out
    from extraction.reconstruct.solver import Segment, readings

    def tok(i: int, text: str, line: int, field: int) -> Token:
        return Token(i, "number", text, line, field, 1, (100.0 + 50 * i, 10.0, 120.0 + 50 * i, 30.0), 1.0)  # type: ignore[arg-type]

    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=1400, height=2000, unit="px")]  # type: ignore[arg-type]
    cells = [f"c{k}" for k in range(3)]
    own = [tok(k, "0", 57, k + 1) for k in range(3)]
    banner = [tok(3 + k, t, 58, 0) for k, t in enumerate(("202406", "18", "5"))]
    cells_line = [tok(3 + k, t, 58, k + 1) for k, t in enumerate(("57", "0", "60"))]
    for other, doubted in ((banner, False), (cells_line, True)):
        doc.tokens = own + other
        seg = Segment(cells, own + other, ["count"] * 3)
        chosen = next(r for r in readings(seg) if set(r.tokens) == {0, 1, 2})
        assert "extra_values" in chosen.flags
        assert _another_lines_figures_left_out(doc, seg, chosen) is doubted


def test_a_statutory_label_printed_across_the_group_and_row_label_columns_is_one_label():
    """（六）其他处理 printed as one row in a table with no rules, its cell spanning the group-label
    and row-label columns: the print puts "(六)其他" in the group column and "处理" at the row
    labels' start, a space apart. Read as two labels, "(六)其他" joined the group label above and
    the row came out missing (real-013 rendered with no rules). Together they are a whole
    statutory row label that neither piece is; a group label beside its first row's label stays
    apart."""
    from extraction.pages.labels import _join_label_words

    th = 7.5
    lines = [  # (group-column piece and its right edge, or None; row-label piece; top), as printed
        (("(五)不", 138.0), "1.信访举报投诉类申请", 484.0),
        (("予处理", 138.0), "2.重复申请", 510.0),
        (None, "3.要求提供公开出版物", 531.0),
        (None, "4.无正当理由大量反复申请", 554.0),
        (None, "5.要求行政机关确认或重新出具已获取信息", 586.0),
        (("(六)其他", 145.0), "处理", 617.0),
        (("(七)总计", 145.0), None, 637.0),
    ]
    words = []
    for group, label, top in lines:
        if group is not None:
            words.append(Word(group[0], (115.0, top, group[1], top + th)))
        if label is not None:
            x0 = 149.0 if label == "处理" else 147.0
            words.append(Word(label, (x0, top, x0 + 7.5 * min(6, len(label)), top + th)))
    texts = {w.text for w in _join_label_words(words, th)}
    assert "(六)其他处理" in texts, texts
    assert {"(五)不", "1.信访举报投诉类申请", "予处理", "2.重复申请"} <= texts, texts


_GRID_XS = [100.0, 400.0, 500.0, 600.0, 700.0]
_GRID_YS = [100.0, 140.0, 180.0, 220.0]
_GRID_LABELS = ["1.属于国家秘密", "2.其他法律行政法规禁止公开", "3.危及“三安全一稳定”"]


def _grid_word(text: str, x0: float, y: float, confidence: float = 1.0, pitch: float = 9.0) -> Word:
    chars = [(x0 + pitch * i, x0 + pitch * (i + 1)) for i in range(len(text))]
    return Word(text, (x0, y, x0 + pitch * len(text), y + 18), confidence, [], chars)


def _ruled_rows(figures: list[list[str]], extra_rules: list[Rule]) -> list[list[str]]:
    """A ruled table of three statutory rows and three figure columns, 40-unit rows of 18-unit text."""
    words = []
    for r, (label, row) in enumerate(zip(_GRID_LABELS, figures, strict=True)):
        words.append(_grid_word(label, 110.0, _GRID_YS[r] + 11, pitch=18.0))
        words.extend(_grid_word(text, _GRID_XS[c + 1] + 20, _GRID_YS[r] + 11) for c, text in enumerate(row))
    rules = [Rule(_GRID_XS[0], y, _GRID_XS[-1], y) for y in _GRID_YS]
    rules += [Rule(x, _GRID_YS[0], x, _GRID_YS[-1]) for x in _GRID_XS]
    return [[f.text for f in ln.fields] for ln in layout_page(words, rules + extra_rules, 1)]


def test_figure_strokes_standing_on_row_rules_are_no_column_boundary():
    """A scan of a tightly padded Word table: a zero's side or a digit's stem, 26 px tall in 40 px
    rows, stands on the row rule above it and is found as a short vertical rule; the zeros of one
    column put one at the same x in every row, each over half its row. They cut 3246 | 339 | 0 into
    columns that are no column (a whole applications table came out shifted: 51 wrong cells). A
    boundary's rule crosses a whole row somewhere; a stroke never does."""
    figures = [["3246", "0", "12"], ["0", "0", "0"], ["7", "0", "7"]]
    strokes = [Rule(529.0, y + 1, 529.0, y + 27) for y in _GRID_YS[:-1]]
    assert _ruled_rows(figures, strokes) == [[label, *row] for label, row in zip(_GRID_LABELS, figures, strict=True)]

