"""Page reading: a page's positioned words and ruling lines → its table rows, as `Line`s.

One code path for both page kinds: a digital PDF's text layer (`extraction.ingest.pdf`) and an OCR'd
page image (`extraction.ingest.image`) differ only in where the words and rules come from; how a
table is read from them — grids from the rules, rows and columns from alignment where the rules do
not separate them, wrapped labels matched to their figures — is `geometry.layout_page` for both.

Page reading is not labeling: it knows nothing of which statutory row a label is (that is
`extraction.layout`), only of cells, lines and alignment.

Modules: `words` (positioned words and rules, lines, fields), `rules` (ruling lines of a page
image), `grid` (ruled tables), `aligned` (tables read by alignment), `labels` (row-label cells and
their match to the lines of figures), `geometry` (a page: `layout_page`; across pages:
`drop_repeated_headers`), `tolerances` (the named tolerances).
"""
