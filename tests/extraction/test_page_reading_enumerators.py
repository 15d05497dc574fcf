"""Digital-PDF page-reading classes found on held-out style families at seed 4242 (issue 15), each
pinned on one rendered page band (`tests/golden/page_words/*.json`, as in
test_page_reading_classes.py)."""

from __future__ import annotations

from tests.extraction.test_page_reading_classes import _rows


def test_enumerators_printed_apart_one_under_another_are_no_label_column():
    """A browser prints "1." and "属于国家秘密" as two glyph runs a space apart (0.56 of a text
    height), and "2.", "3." … stand in a column under "1.": that column numbers the labels right of
    it, it is no label column of its own. Read as one, 属于国家秘密 joined the group label
    （三）不予公开 above it, and the row 部分公开's figures went to 属于国家秘密, silently, the rows
    under it shifted down by one."""
    rows = _rows("html_chromium_enumerator_column_under_group_row.json")
    partial = next(r for r in rows if any("部分公开" in f for f in r))
    assert not any("不予公开" in f for f in partial), partial
    assert partial[-7:] == ["0", "4", "0", "0", "0", "1", "5"], partial
    secret = next(r for r in rows if any("属于国家秘密" in f for f in r))
    assert secret[0].replace(" ", "") == "1.属于国家秘密", secret
    assert secret[-7:] == ["0"] * 7, secret
    assert not any("不予公开" in f for f in secret), secret


def test_a_figure_printed_with_its_unit_is_a_figure():
    """采购总金额 printed with its unit in its cell ("214800.05元") in a sub-table read by alignment
    (an outer frame and header rules only): the row's line held one figure and one word, so it was
    no row of figures, and 政府集中采购 lost both its cells (to review)."""
    rows = _rows("outer_header_figure_with_unit.json")
    row = next(r for r in rows if any("政府集中采购" in f for f in r))
    assert row == ["政府集中采购", "12", "214800.05元"], row
    assert ["行政事业性收费", "30", "0"] in rows
