"""Few right cells in review on OCR'd pages, every wrong one still there (issue 16's review share).

Each test is one class of doubt that sent right cells of flatbed scans to review where the page or
the sums already settle the question, and the case the doubt was made for, which must stay doubted.
"""

from __future__ import annotations

from extraction.document import UNVERIFIED_CONFIDENCE, Anchor, CellValue, DocumentState, PageInfo, Token
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
            assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, cid
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


def _doc(values: dict[str, int | None], flagged: dict[str, list[str]] | None = None) -> DocumentState:
    doc = DocumentState(name="x", sha256="0", kind="scanned_pdf", format="2021")
    doc.pages = [PageInfo(number=1, width=1400, height=2000, unit="px")]
    doc.cells = {cid: CellValue(value=v, confidence=1.0, read_confidence=1.0) for cid, v in values.items()}
    for cid, flags in (flagged or {}).items():
        doc.cells[cid].flags.extend(flags)
        doc.cells[cid].confidence = 0.3
    return doc


def _consistent() -> dict[str, int | None]:
    """A 2021 report whose every hard rule holds: 3 applications from natural persons, all granted."""
    values: dict[str, int | None] = dict.fromkeys(layout("2021").cells, 0)
    for row in ("new", "granted", "outcome_total"):
        values[f"applications.{row}.natural_person"] = 3
        values[f"applications.{row}.total"] = 3
    return values


def _reviewed(doc: DocumentState) -> set[str]:
    return _reviewed_with(doc, RulesOptions(fill_from_sums=False))


def _reviewed_with(doc: DocumentState, options: RulesOptions) -> set[str]:
    from extraction.pipeline import Pipeline, PipelineOptions

    RulesStage(options)(doc)
    result = Pipeline(PipelineOptions(labeler="baseline", calibration="none")).result(doc)
    return {cid for cid, c in result.cells.items() if c.review}


COLUMN = [cid for cid in layout("2021").cells if cid.startswith("applications.") and cid.endswith(".research")]


def test_a_failed_column_sum_sends_its_suspect_to_review_not_its_whole_column():
    """A scan's 行政查询 row read 2 in 科研机构 where the report printed 0, an ambiguous reading: the
    row's sum and the 科研机构 column's sum failed, and all 22 cells of the column went to review.
    Every other figure of the column is pinned by its own row's sum, which holds over figures
    read plainly that their own column sums check: the suspect alone is in review."""
    values = _consistent()
    suspect = "applications.denied.administrative_query.research"
    values[suspect] = 2
    reviewed = _reviewed(doc := _doc(values, {suspect: ["ambiguous"]}))
    assert suspect in reviewed
    assert {c.rule for c in doc.checks if c.status == "failed"} >= {
        "applications.outcome_total.research",
        "applications.total.denied.administrative_query",
    }
    assert not reviewed & (set(COLUMN) - {suspect}), sorted(reviewed)
    assert "pinned_by_rule" in doc.cells["applications.granted.research"].flags


def test_a_row_misread_across_its_columns_is_never_pinned_by_its_own_sum():
    """The class a row's sum cannot vouch for: 予以公开's 3 read into 法人或其他组织 instead of 自然人
    (the row adds up, both columns fail). Even beside suspects that could explain the columns (an
    ambiguous row reading the same two columns), the two misplaced figures stay in review: the
    swap alone explains the failures too."""
    values = _consistent()
    values["applications.granted.natural_person"] = 0
    values["applications.granted.commercial"] = 3
    flagged = {f"applications.denied.third_party.{col}": ["ambiguous"] for col in ("natural_person", "commercial")}
    reviewed = _reviewed(_doc(values, flagged))
    assert {"applications.granted.natural_person", "applications.granted.commercial"} <= reviewed
    # without any suspect, any outcome row's two figures changed together explain the failed
    # columns: every one of them stays in review (only the columns' totals, which the balance
    # pins, are spared)
    doc = _doc(values)
    reviewed = _reviewed(doc)
    balance_rows = ("new", "carried_over", "outcome_total", "carried_forward")
    outcome_rows = {
        cid.rsplit(".", 1)[0]
        for cid in COLUMN
        if cid.split(".")[1] not in balance_rows
    }
    for row in outcome_rows:
        assert {f"{row}.natural_person", f"{row}.commercial"} <= reviewed, row
    assert "applications.not_processed.duplicate.natural_person" in reviewed


def test_a_single_misreading_is_never_pinned_and_a_source_error_keeps_the_cells_that_explain_it():
    """A figure misread plainly (no flag) breaks every rule over it: nothing pins it, with or without
    a suspect beside it. A report whose own figures break the balance (every figure read as printed,
    申请 4 where 3 were handled) keeps in review every row the balance's failure could be in (new,
    carried over or carried forward, the figure and its row's total changed together); the handled
    total, which its own column's sum checks, is not one of them."""
    values = _consistent()
    wrong = "applications.granted.research"
    values[wrong] = 5
    for flagged in ({"applications.denied.third_party.research": ["ambiguous"]}, None):
        doc = _doc(values, flagged)
        assert wrong in _reviewed(doc) and "pinned_by_rule" not in doc.cells[wrong].flags

    values = _consistent()
    values["applications.new.natural_person"] = 4  # the source's own inconsistency
    values["applications.new.total"] = 4
    doc = _doc(values)
    reviewed = _reviewed(doc)
    balance = next(c for c in doc.checks if c.rule == "applications.balance.natural_person")
    assert balance.status == "failed"
    for row in ("new", "carried_over", "carried_forward"):
        assert {f"applications.{row}.natural_person", f"applications.{row}.total"} <= reviewed
    assert "applications.outcome_total.natural_person" not in reviewed
    assert "pinned_by_rule" in doc.cells["applications.outcome_total.natural_person"].flags


def test_a_source_error_that_two_cells_alone_explain_sends_those_two_to_review():
    """A report that printed 办理结果总计 2740 for 274 (its row's total made to agree, 2760): both
    columns' sums and both balances fail, and 50 figures of two columns went to review. Only the
    two printed figures explain every failure; every other figure is read plainly and pinned."""
    values = _consistent()
    values["applications.outcome_total.natural_person"] = 30
    values["applications.outcome_total.total"] = 30
    doc = _doc(values)
    reviewed = _reviewed(doc)
    assert reviewed == {"applications.outcome_total.natural_person", "applications.outcome_total.total"}
    assert any(c.status == "failed" for c in doc.checks)  # the report's inconsistency still shows


THREE_MISREAD = (
    "applications.granted.research",
    "applications.denied.state_secret.commercial",
    "applications.unavailable.unclear.legal_services",
)


def test_three_misreadings_that_alone_explain_the_failures_are_what_review_shows():
    """A phone photo misread three figures plainly in three rows and columns of table 三: six sums and
    the balances fail, and every figure of those rows and columns went to review. The three figures
    are the one smallest set that explains every failure (the programme finds sets past two cells):
    they are in review, the other figures of the failed rules are pinned."""
    values = _consistent()
    for cid in THREE_MISREAD:
        values[cid] = 4
    doc = _doc(values)
    reviewed = _reviewed(doc)
    assert set(THREE_MISREAD) <= reviewed
    failing = {cid for c in doc.checks if c.status == "failed" and c.severity == "error" for cid in c.cells}
    assert len(failing) > 20 and len(reviewed & failing) < 10, sorted(reviewed & failing)


def test_failures_no_small_set_explains_keep_every_cell_of_their_rules():
    """Where the smallest explanation needs more cells than searched for (here at most two), nothing
    is spared."""
    values = _consistent()
    for cid in THREE_MISREAD:
        values[cid] = 4
    doc = _doc(values)
    reviewed = _reviewed_with(doc, RulesOptions(fill_from_sums=False, least_explanation_cells=2))
    failing = {cid for c in doc.checks if c.status == "failed" and c.severity == "error" for cid in c.cells}
    assert failing <= reviewed


def test_a_figure_and_its_rows_total_misread_alike_are_never_pinned():
    """A phone photo lost the 2 of 42 in 危及安全稳定's 自然人 figure and in its row's total: the
    row's sum held, only the two columns' sums said so, and a misread 2 in 行政执法案卷's row made
    {that row's figure, its total} the smallest explanation of every failure. Pinned outside it, the
    two 4s were silent errors. The true misreadings are one cell more than the smallest explanation:
    with the slack of one cell (the default) they, and that misreading in any row, stay in review."""
    values = _consistent()
    hidden = ("applications.denied.security_stability.natural_person", "applications.denied.security_stability.total")
    for cid in hidden:
        values[cid] = 4
    values["applications.denied.enforcement_file.natural_person"] = 2
    assert set(hidden) <= _reviewed(_doc(values))
    without_slack = _reviewed_with(_doc(values), RulesOptions(fill_from_sums=False, least_explanation_slack=0))
    assert not set(hidden) & without_slack  # the class: without the slack both are pinned


def test_a_figure_and_its_rows_total_misread_alike_beside_suspects_are_never_pinned():
    """A phone photo read 行政执法案卷's 7 | total 7 as 1 | 1 (its one applicant, the same glyph
    misread twice): the row's sum held, and 部分公开's figure and total, read ambiguous, could make up
    for every failed column alone. Each 1 was pinned by its row's sum (`pinned_cells`), wrong and out
    of review. The two can change together and keep the row's sum: no pin."""
    values = _consistent()
    for row in ("new", "outcome_total"):
        for col in ("natural_person", "total"):
            values[f"applications.{row}.{col}"] = 10  # the page prints 7 more, in 行政执法案卷
    hidden = ("applications.denied.enforcement_file.natural_person", "applications.denied.enforcement_file.total")
    for cid in hidden:
        values[cid] = 1  # printed 7
    suspects = ("applications.partially_granted.natural_person", "applications.partially_granted.total")
    values[suspects[0]] = 2
    doc = _doc(values, {cid: ["ambiguous"] for cid in suspects})
    reviewed = _reviewed(doc)
    assert set(suspects) <= reviewed
    assert set(hidden) <= reviewed and not any("pinned_by_rule" in doc.cells[cid].flags for cid in hidden)


def test_failures_in_groups_that_nothing_ties_are_explained_apart():
    """A misread figure in table 三 and another in table 四's 行政复议: no sum ties the two
    failures. Each is its own smallest explanation: both in review, the other figures of their failed
    rules in table 三 pinned (table 四's one sum is explained by any of its cells: all five stay),
    although no set of one cell explains both failures."""
    from extraction.rules import least_explanations

    values = _consistent()
    values["applications.granted.research"] = 5
    review_cells = [cid for cid in layout("2021").cells if cid.startswith("appeals.review.")]
    values[review_cells[0]] = 7
    doc = _doc(values)
    reviewed = _reviewed(doc)
    assert {"applications.granted.research", review_cells[0]} <= reviewed
    groups = least_explanations(doc, layout("2021"))
    assert groups is not None and len(groups) == 2
    assert all(g.explanations is not None and len(g.explanations[0]) == 1 for g in groups)
    failing = {cid for c in doc.checks if c.status == "failed" and c.severity == "error" for cid in c.cells}
    assert {cid for cid in reviewed & failing if cid.startswith("applications.")} == {"applications.granted.research"}
    assert {cid for cid in failing if cid.startswith("appeals.")} <= reviewed


def test_doubtful_zeros_under_a_sure_zero_total_are_vouched_for_beside_guessed_cells():
    """A phone photo of an all-zero table 三 printed in 8 pt: its zeros read at 0.5, a gap guessed
    (`inferred_blank`) and a row ambiguous in each column, while each column's 办理结果总计 0 was
    read surely. Every figure of the table went to review: each column's sum held only "by inference"
    through its guessed cell and had cells not read plainly, so it vouched for nothing, and the rows'
    sums over doubtful figures alone determine none. Non-negative figures that add up to a sure 0
    are each 0 whatever the others' flags: the doubtful zeros are vouched for (not unverified: the
    calibrator may lift them); the guessed and ambiguous cells stay in review."""
    values = dict.fromkeys(layout("2021").cells, 0)
    balance_rows = ("new", "carried_over", "outcome_total", "carried_forward")
    outcome = [
        cid for cid in layout("2021").cells if cid.startswith("applications.") and cid.split(".")[1] not in balance_rows
    ]
    columns = sorted({cid.rsplit(".", 1)[1] for cid in outcome})
    guessed = {next(c for c in outcome if c.endswith("." + col)) for col in columns}
    ambiguous = {[c for c in outcome if c.endswith("." + col)][1] for col in columns}
    doc = _doc(values, {**{c: ["inferred_blank"] for c in guessed}, **{c: ["ambiguous"] for c in ambiguous}})
    doubtful = set(outcome) - guessed - ambiguous
    for cid in doubtful:
        doc.cells[cid].read_confidence = doc.cells[cid].confidence = 0.5
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    unverified = {cid for cid in outcome if "unverified" in doc.cells[cid].flags}
    assert not unverified & doubtful, sorted(unverified & doubtful)
    assert _reviewed(doc) >= guessed | ambiguous
    # the class the doubt is for stays: doubtful figures that can make up for one another (予以公开
    # 3 | 部分公开 0 read for 0 | 3, their rows' totals doubtful too), a guessed cell beside them
    doc = _doc(_consistent(), {"applications.denied.state_secret.natural_person": ["inferred_blank"]})
    trading = [f"applications.{row}.{col}" for row in ("granted", "partially_granted") for col in ("natural_person", "total")]
    for cid in trading:
        doc.cells[cid].read_confidence = doc.cells[cid].confidence = 0.5
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert all("unverified" in doc.cells[cid].flags for cid in trading)


def test_pinned_cells_return_to_review_once_their_rules_suspects_are_reviewed():
    """The service's reviewed view (`service.review.apply_reviews`): a reviewer accepts the suspect
    as printed (the report's own figure), the rule still fails, and no suspect is left to explain
    it: the pinned cells go back to review, so the report is not verified unseen."""
    import json

    from extraction.pipeline import Pipeline, PipelineOptions
    from service.review import ReviewAction, apply_reviews

    values = _consistent()
    suspect = "applications.denied.administrative_query.research"
    values[suspect] = 2
    doc = _doc(values, {suspect: ["ambiguous"]})
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    data = json.loads(Pipeline(PipelineOptions(labeler="baseline", calibration="none")).result(doc).model_dump_json())
    view = apply_reviews(data, [], REVIEW_LEVEL)
    assert suspect in view.open_reviews and "applications.granted.research" not in view.open_reviews
    view = apply_reviews(data, [ReviewAction(suspect, "accept")], REVIEW_LEVEL)
    assert "applications.granted.research" in view.open_reviews and not view.verified
    view = apply_reviews(data, [ReviewAction(suspect, "correct", 0)], REVIEW_LEVEL)
    assert "applications.granted.research" not in view.open_reviews


def test_a_gap_guessed_among_zeros_is_no_rival_to_an_empty_cell_the_page_printed():
    """A scan's row 0 0 _ 0 0 0 0: the page reader found the third cell empty, with no ink in it.
    Readings that guess the gap elsewhere among the zeros tie with it on every sum (a blank and a
    0 are the same to them), and flagged the row's six 0s ambiguous: 75 right cells in review on
    26 scans. They contradict the printed empty cell: no rival. A guess that moves a figure, or an
    empty slot with ink in it (a figure OCR may have missed), stays a rival."""
    from extraction.reconstruct.assemble import _moves_printed_blank
    from extraction.reconstruct.solver import Reading

    page = _Page()
    zero = [page.token("0", "number", (400.0 + 120 * i, 100, 408.0 + 120 * i, 116)) for i in range(6)]
    empty = page.token("", "blank", (640.0, 100, 648, 116))
    chosen = Reading(
        values=(0, 0, None, 0, 0, 0, 0),
        prior=0.0,
        tokens=(zero[0], zero[1], empty, zero[2], zero[3], zero[4], zero[5]),
        texts=("0", "0", "", "0", "0", "0", "0"),
        flags=frozenset({"blank"}),
    )
    guess = Reading(
        values=(0, 0, 0, 0, 0, 0, None),
        prior=-3.1,
        tokens=(*zero, None),
        texts=("0",) * 6 + ("",),
        flags=frozenset({"inferred_blank"}),
    )
    assert _moves_printed_blank(page.doc, chosen, guess)
    moved = Reading(
        values=(0, 0, 1, 0, 0, 0, None), prior=-3.1, tokens=guess.tokens, texts=guess.texts, flags=guess.flags
    )
    assert not _moves_printed_blank(page.doc, chosen, moved)
    page.doc.tokens[empty].confidence = 0.3  # ink in the empty slot
    assert not _moves_printed_blank(page.doc, chosen, guess)


def test_a_placement_the_sums_chose_through_a_row_not_read_is_not_confident():
    """A flatbed scan: 不予公开（一）'s row read one stray figure too many; its own 1 0 0 0 0 0 1 was
    the more plausible reading, but the sums chose 1 0 0 0 0 1 2, because the row 申请人无正当理由逾期
    不补正 was not read and its other_org 1 was missing from the column: the column held with the
    misplaced 1, and both wrong cells passed at 0.998. A placement the sums chose over a more
    plausible one (`chosen_by_sums`), in a rule that holds only through a cell not read, is
    unverified; a guessed placement the sums did not overrule, or one whose rules read every cell,
    is not."""
    values = _consistent()
    row = "applications.denied.state_secret"
    unread = "applications.other.no_amendment"
    for col, v in (("natural_person", 1), ("other_org", 1), ("total", 2)):
        values[f"{row}.{col}"] = v
    for col, v in (("natural_person", 4), ("other_org", 1), ("total", 5)):
        values[f"applications.outcome_total.{col}"] = v
    values["applications.new.natural_person"] = values["applications.new.total"] = 4
    values["applications.new.other_org"] = 1
    values["applications.new.total"] = 5
    for cid in layout("2021").row(unread).cell_ids:
        values[cid] = None
    doc = _doc(values)
    for cid in layout("2021").row(unread).cell_ids:
        doc.cells[cid].flags.append("missing")
        doc.cells[cid].confidence = 0.2
    for cid in layout("2021").row(row).cell_ids:
        doc.cells[cid].flags += ["extra_values", "chosen_by_sums"]
    doc.cells["applications.granted.research"].flags.append("extra_values")  # not overruled by the sums
    RulesStage(RulesOptions(fill_from_sums=False))(doc)
    assert all(c.status != "failed" for c in doc.checks if c.severity == "error"), [
        c.rule for c in doc.checks if c.status == "failed"
    ]
    for col in ("other_org", "total"):
        cell = doc.cells[f"{row}.{col}"]
        assert "unverified" in cell.flags and cell.confidence <= UNVERIFIED_CONFIDENCE, col
    assert "unverified" not in doc.cells["applications.granted.research"].flags


def test_figures_dropped_to_fit_a_line_whose_sums_still_fail_are_unverified():
    """A fax's table 四 is one printed line of 15 figures. Its header's pieces were read as figures
    and two of its own were taken for rules, so the line had too many figures and the sums chose
    which to drop (`extra_values`): 行政复议 still failed (19 + 4 + 3 for 0), and 行政诉讼's two rows
    held over five wrong cells at 0.999 (review_guarantee seed 9191, group_label_rows). Where a drop
    leaves a sum of its line broken, every figure placed from that line is unverified; a line whose
    drop left every sum holding, or a text layer, is not doubted this way."""
    appeals = [cid for cid in layout("2021").cells if cid.startswith("appeals.")]

    def state(review_upheld: int, unit: str = "px") -> DocumentState:
        doc = _doc(_consistent())
        doc.pages[0].unit = unit  # type: ignore[assignment]
        for i, cid in enumerate(appeals):
            doc.tokens.append(Token(index=i, kind="number", text="0", line=7, field=i, page=1, bbox=(400.0 + 60 * i, 900, 408.0 + 60 * i, 915)))
            doc.cells[cid].tokens = [i]
            doc.cells[cid].flags.append("extra_values")
        doc.cells["appeals.review.upheld"].value = review_upheld
        return doc

    broken = state(19)
    RulesStage()(broken)
    assert any(c.status == "failed" and "appeals.review.upheld" in c.cells for c in broken.checks)
    assert all("unverified" in broken.cells[cid].flags for cid in appeals)
    assert not any("unverified" in c.flags for cid, c in broken.cells.items() if not cid.startswith("appeals."))
    for doc in (state(0), state(19, unit="pt")):
        RulesStage()(doc)
        assert not any("unverified" in doc.cells[cid].flags for cid in appeals if cid != "appeals.review.upheld")
