"""Few right cells in review on OCR'd pages, every wrong one still there (issue 16's review share).

Each test is one class of doubt that sent right cells of flatbed scans to review where the page or
the sums already settle the question, and the case the doubt was made for, which must stay doubted.
"""

from __future__ import annotations

from extraction.document import Anchor, CellValue, DocumentState, PageInfo, Token
from extraction.rules import RulesOptions, RulesStage
from extraction.schema import layout

REVIEW_LEVEL = 0.8  # the pipeline's default review threshold
FIGURE_HEIGHT = 16.0


class _Page:
    """A one-page OCR'd document built token by token: row labels and the figures of their cells."""

    def __init__(self, kind: str = "scanned_pdf", unit: str = "px") -> None:
        self.doc = DocumentState(name="x", sha256="0", kind=kind, format="2021")
        self.doc.pages = [PageInfo(number=1, width=1400, height=2000, unit=unit)]  # type: ignore[arg-type]
        self.doc.cells = {cid: CellValue(value=0, confidence=1.0) for cid in layout("2021").cells}

    def token(self, text: str, kind: str, bbox: tuple[float, float, float, float]) -> int:
        index = len(self.doc.tokens)
        self.doc.tokens.append(Token(index=index, kind=kind, text=text, line=index, field=0, page=1, bbox=bbox))  # type: ignore[arg-type]
        return index

    def label(self, row: str, top: float, bottom: float) -> None:
        t = self.token(row, "text", (100.0, top, 300.0, bottom))
        self.doc.anchors.append(Anchor(token=t, offset=0, kind="row", key=row, score=1.0))

    def figures(self, row: str, middle: float, values: list[int] | None = None) -> None:
        """The row's cells read from figures printed with their middle at `middle`."""
        ids = layout("2021").row(row).cell_ids
        for i, cid in enumerate(ids):
            value = values[i] if values else 0
            x = 400.0 + 120 * i
            t = self.token(str(value), "number", (x, middle - FIGURE_HEIGHT / 2, x + 8, middle + FIGURE_HEIGHT / 2))
            self.doc.cells[cid] = CellValue(value=value, confidence=1.0, text=str(value), page=1, tokens=[t])

    def unread(self, row: str) -> None:
        """The row's label was read, its figures were not (OCR missed faint ink)."""
        for cid in layout("2021").row(row).cell_ids:
            self.doc.cells[cid] = CellValue(value=None, confidence=0.2, flags=["incomplete"])
        self.doc.flags.append(f"row_not_read:{row}")


ABOVE, UNREAD, BELOW = (
    "applications.not_processed.reconfirm",
    "applications.other.no_amendment",
    "applications.other.fee_unpaid",
)


def test_figures_level_with_their_own_label_beside_an_unread_row_stay_confident():
    """A flatbed scan (vertical rules only): （1）申请人无正当理由逾期不补正's figures were faint and
    OCR missed them; the rows above and below were read, each figure level with its own label.
    No sum runs across table 三's rows, so the sums cannot say the neighbours' figures are not the
    unread row's, and both neighbours' 14 right cells went to review. The page says it: a figure
    level with its own row's label and not with the unread row's is its own row's."""
    page = _Page()
    page.label(ABOVE, 260, 370)  # a label wrapped over several lines
    page.label(UNREAD, 395, 470)
    page.label(BELOW, 615, 835)
    page.figures(ABOVE, 320, [0, 1, 0, 0, 0, 0, 1])
    page.unread(UNREAD)
    page.figures(BELOW, 730)
    RulesStage(RulesOptions(fill_from_sums=False))(page.doc)
    for row in (ABOVE, BELOW):
        for cid in layout("2021").row(row).cell_ids:
            cell = page.doc.cells[cid]
            assert "unverified" not in cell.flags and cell.confidence > REVIEW_LEVEL, cid


def test_figures_level_with_the_unread_rows_label_stay_doubted():
    """The class the doubt was made for, on a page: the unread row's figures were read into the row
    below (they stand level with the unread row's label, not with their own): unverified."""
    page = _Page()
    page.label(ABOVE, 260, 370)
    page.label(UNREAD, 395, 470)
    page.label(BELOW, 615, 835)
    page.figures(ABOVE, 320)
    page.unread(UNREAD)
    page.figures(BELOW, 430, [0, 5, 0, 0, 0, 1, 6])
    RulesStage(RulesOptions(fill_from_sums=False))(page.doc)
    for cid in layout("2021").row(BELOW).cell_ids:
        cell = page.doc.cells[cid]
        if cell.value:
            assert "unverified" in cell.flags and cell.confidence <= 0.5, cid
    for cid in layout("2021").row(ABOVE).cell_ids:
        assert "unverified" not in page.doc.cells[cid].flags, cid


def test_figures_beside_an_unread_row_whose_label_was_not_read_stay_doubted():
    """Where the unread row's label was not read on the page there is nothing to measure the figures
    against: the neighbours stay unverified, as on a text input."""
    page = _Page()
    page.label(ABOVE, 260, 370)
    page.label(BELOW, 615, 835)
    page.figures(ABOVE, 320, [0, 1, 0, 0, 0, 0, 1])
    page.unread(UNREAD)
    page.figures(BELOW, 730)
    RulesStage(RulesOptions(fill_from_sums=False))(page.doc)
    held = [cid for cid in layout("2021").row(ABOVE).cell_ids if page.doc.cells[cid].value]
    assert held and all("unverified" in page.doc.cells[cid].flags for cid in held)
