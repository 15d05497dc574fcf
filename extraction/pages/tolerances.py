"""The named tolerances of page reading, in one documented object.

Lengths are in text heights (the page's median word height), so one set serves PDF points and
image pixels alike; costs are in squared text heights of misfit. `TOLERANCES` is what the
modules of `extraction.pages` read; change a value here, never inline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageTolerances:
    # words
    touching: float = 0.05  # glyphs this close belong to one word, whatever break PDFium generated
    # wrapped row labels in tables without row rules
    space_gap: float = 1.8  # the widest stray space inside one label on one line
    # the widest gap between two lines of one wrapped label (1.5 line spacing; an OCR box is the
    # ink only, tighter than a PDF glyph box, so the same print leaves a wider gap: 1.3 text heights)
    wrap_gap: float = 1.5
    max_label_lines: int = 8  # the most lines one wrapped row label covers (a narrow label column)
    # the lines of the last row's label below its figures (more where the label column is so
    # narrow that a statutory label takes more); each within `wrap_gap` of the line above
    trailing_label_lines: int = 2
    first_line_indent: float = 4.0  # the widest first-line indent of a wrapped label
    wrap_room: float = 2.0  # characters of room left on a label line: the next line is a label of its own
    full_line: float = 2.0  # the narrowest label line that a wrap continues under a first-line indent
    # the narrowest gap between the texts of two label columns (twice a cell's padding); a label's
    # last character a browser prints a little apart, at the next column's start, is closer
    column_text_gap: float = 0.35
    enumerator_gap: float = 0.5  # the widest space between an enumerator ("1.") and its label's text
    # the widest gap between two pieces of one line that make a whole statutory row label together,
    # neither one alone, read as one label across a label column's start: （六）其他处理 as one row,
    # printed across the group and row-label columns as "(六)其他 | 处理"
    statutory_split_gap: float = 1.0
    # the same for a row's arabic enumerator, which heads the label right of it even where centred
    # labels' lines start there (LibreOffice prints "3." 0.8 text heights before 危及“三)
    row_enumerator_gap: float = 1.5
    # a horizontal rule this near (or into) a word's top or bottom edge still runs between it and
    # the line beside: the two stand in two rows' cells
    rule_slack: float = 0.2
    stack_pitch: float = 2.5  # the widest line pitch of a label printed one character a line
    # an OCR token's characters (`words.split_wide_char_gaps`): two neighbours whose centres stand
    # more than `cell_char_gap` character pitches apart and `char_gap_jump` times the token's other
    # neighbours (their median) are two cells' texts OCR read as one token (one cell's text stands
    # a pitch apart, 1.3 at most with OCR's frame jitter)
    cell_char_gap: float = 1.6
    char_gap_jump: float = 1.5
    min_pitches: int = 8  # the fewest ideograph pairs that measure a page's character pitch
    # a grid's boundary is drawn where one of its rules runs from one rule across to the next
    # (`grid._crossing`), its ends within this of them: a rule's pixel ends fall short of a crossing
    # rule's centre line by half its width and a scan's blur (the grid's snap and a half)
    crossing_slack: float = 0.45
    # figures
    column_gap: float = 1.0  # two figures on one line of one grid cell this far apart: two columns' figures
    labelled_figure_gap: float = 3.0  # a label and one figure this far apart on a line: a table row
    unit_gap: float = 0.5  # the widest gap between a figure and its unit (57000.28 元) on one line
    rule_one_gap: float = 0.3  # a 1 this close to a vertical rule over its height may be the rule: doubtful
    wrap_fill: float = 0.6  # a figure wrapped in its cell fills at least this share of the cell's width
    # the widest gap between the two lines of a figure its narrow cell wrapped, centred on its row
    # (238 as 23 / 8, one line above the row's other figures and one below): the line spacing of a
    # cell, far under the row pitch of a table
    cell_line_gap: float = 0.6
    # a table's header above its figures (`aligned._header_columns`)
    header_lines: int = 6  # the most lines of a header read for its column heads
    header_gap: float = 2.0  # the widest gap between two lines of one header
    head_gap: float = 0.5  # the widest gap between two pieces of one column head on a line
    # a header repeated on the next page (`geometry.drop_repeated_headers`)
    max_header_run: int = 12  # the most lines of one table header
    min_header_key: int = 12  # the fewest characters of a header taken as repeated
    # matching row labels to lines of figures (`labels._assign_row_labels`)
    label_without_figures: float = 1.5  # a row label left with no figures: a blank row, or a stray line
    figures_without_label: float = 6.0  # a line of figures that no label takes
    split_label: float = 2.5  # cutting a label cell that the wrap rule joined (two rows' labels)
    max_misfit: float = 1.6  # between a figure line and where the cell's vertical alignment puts it
    baseline_slack: float = 0.3  # a figure's line a little off the label's (another font, another baseline)


TOLERANCES = PageTolerances()
