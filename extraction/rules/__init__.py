"""Rules stage: every hard and soft rule of the spec, each as a check with its cells and a message."""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Collection, Iterator

from pydantic import BaseModel, Field

from extraction.document import (
    DOUBT_CONFIDENCE,
    DOUBT_FLAGS,
    UNVERIFIED_CONFIDENCE,
    WARNING_CONFIDENCE,
    CellValue,
    DocumentState,
    Token,
    doubt_cap,
)
from extraction.result import CheckResult
from extraction.rules.explain import (
    FailureGroup,
    Reading,
    explain_failures,
    explains,
    hides_change,
    linear_system,
)
from extraction.schema import Layout, constraints, layout
from extraction.schema.check import check_rules, evaluate, fmt_number
from extraction.schema.rules import Constraint
from extraction.text import normalize


class RulesOptions(BaseModel):
    narrative_checks: bool = Field(default=True, description="Compare figures stated in the narrative with the tables")
    fill_from_sums: bool = Field(
        default=True,
        description="Give an unread cell (blank but doubtful: ink OCR did not read, or a row read without its "
        "figures) the value the hard sums determine; it keeps a low confidence, so review confirms it",
    )
    unread_confidence: float = Field(
        default=0.3,
        description="A blank cell at or below this confidence counts as unread, not as printed blank (the "
        "reconstruction's confidence, before any calibration)",
    )
    filled_confidence: float = Field(default=0.5, description="Confidence of a cell filled from the sums")
    warning_confidence: float = Field(
        default=WARNING_CONFIDENCE,
        description="Highest confidence of a cell in a failed soft rule (a warning): the warning is evidence that "
        "one of its cells may be misread, so they go to review",
    )
    doubtful_blank_confidence: float = Field(
        default=0.8,
        description="A cell read as blank whose reading the reconstruction gave less than this confidence (the "
        "pipeline's review threshold) is unverified: a blank is only the absence of a figure, and where the reading "
        "itself is in doubt nothing confirms the absence (a converter's detached figure column, an OCR'd blank)",
    )
    unplaced_figure_margin: float = Field(
        default=0.5,
        description="How far, in the figure's own heights, a figure may stand above or below a row label's extent "
        "and still be beside that row: a figure no cell took (`blanks_beside_unplaced_figures`), a figure level "
        "with its own row's label and not with an unread neighbour's (`unplaceable_cells`)",
    )
    doubtful_read_confidence: float = Field(
        default=0.8,
        description="On an OCR'd page, a figure read with less than this confidence (the reconstruction's, before any "
        "calibration; the pipeline's review threshold) is unverified: a calibrator may not lift a reading the "
        "recogniser itself doubts out of review",
    )
    sums_vouch_for_doubtful_reads: bool = Field(
        default=True,
        description="A doubtful OCR'd figure that the hard equalities holding with it determine from figures read "
        "plainly and surely (every non-negative solution gives it the value read: `vouched_by_sums`) is not "
        "unverified for its doubt: the sure figures give its value whatever the recogniser thought",
    )
    max_placements: int = Field(
        default=5000,
        description="Most other placements of a printed line's guessed gaps (`inferred_blank`) tried against the "
        "sums (`unplaceable_cells`); a line with more is unverified whole (bounds the work on a hostile input)",
    )
    pin_confidence: float = Field(
        default=0.8,
        description="Lowest confidence (after any calibration; the pipeline's review threshold) of a cell that a "
        "hard rule pins in a failed rule, or that takes part in pinning another (`pinned_cells`)",
    )
    least_explanation_cells: int = Field(
        default=6,
        ge=0,
        le=12,
        description="Most cells of a smallest explanation of a group of failed hard equalities searched for "
        "(`least_explanations`): a figure read plainly that no smallest explanation holds is pinned (not sent to "
        "review for the failure: a report wrong in its source, or a photo with a few misread figures, shows the "
        "cells that explain it, not its whole columns). 0 turns it off. Sets of up to 2 cells are tried one by one, "
        "larger ones found by a mixed-integer programme (`explain.milp_explanations`)",
    )
    least_explanation_slack: int = Field(
        default=1,
        ge=0,
        le=2,
        description="On a document read by OCR, how many cells more than the smallest explanation an explanation of "
        "failed hard equalities may have and still keep its cells in review (`explain.explain_failures`): the "
        "smallest is not always the truth where one glyph is misread alike in several cells (a figure and its "
        "row's total, 42 read 4 in both, hide from the row's sum beside another misreading). A text layer's "
        "figures are as printed: a typo whose total was computed from it (an office's spreadsheet) is itself the "
        "smallest explanation",
    )
    least_explanation_sets: int = Field(
        default=16,
        ge=1,
        description="Most smallest explanations of one group of failures: where more sets are as small, the sums "
        "cannot tell where the errors are and nothing of the group is pinned",
    )
    doubt_confidence: float = Field(
        default=DOUBT_CONFIDENCE,
        description="Highest confidence, after any calibration, of a cell whose value was not read as printed: "
        "not found, filled or changed by the sums (DOUBT_FLAGS other than `unverified` alone)",
    )
    unverified_confidence: float = Field(
        default=UNVERIFIED_CONFIDENCE,
        description="Highest confidence of a figure read but placed or read with no rule to check it (`unverified`): "
        "beneath it the cell keeps its calibrated probability; its flag sends it to review",
    )


# Flags of cells whose value a rule supplied: a check that holds only through them is "inferred".
INFERRED_FLAGS = frozenset({"filled_by_rule", "corrected_by_rule"})


def failing_hard_cells(doc: DocumentState) -> set[str]:
    """The cells of the hard rules that fail (not those that hold only by inference)."""
    return {cid for c in doc.checks if c.status == "failed" and c.severity == "error" for cid in c.cells}


def _read_confidence(cell: CellValue) -> float:
    """The reconstruction's own confidence in a cell, before any calibrator replaced it."""
    return cell.confidence if cell.read_confidence is None else cell.read_confidence


def _token_lines(doc: DocumentState, cell: CellValue) -> set[int]:
    """The lines of the tokens a cell was read from."""
    return {doc.tokens[t].line for t in cell.tokens if 0 <= t < len(doc.tokens)}


def _unverify(cell: CellValue) -> None:
    if "unverified" not in cell.flags:
        cell.flags.append("unverified")


def _hard_equalities(lay: Layout) -> list[Constraint]:
    """The hard rules that are equalities (the statutory sums)."""
    return [c for c in constraints(lay) if c.severity == "error" and c.kind == "eq"]


def _fill(cell: CellValue, value: int | float, confidence: float) -> None:
    """A value the rules supplied to a cell the page did not give one: `filled_by_rule` (review)."""
    cell.value = value
    cell.confidence = confidence
    cell.flags = sorted({*cell.flags, "filled_by_rule"} - {"blank"})


def tables_printing_zeros(doc: DocumentState, lay: Layout, options: RulesOptions) -> set[str]:
    """The tables whose zeros the page prints as figures: some cell of the table read as a 0 from
    the page, none read surely as a printed blank (`doubtful_blank_confidence` or more), and no row label of it read with no figure in its
    row or sub-rows (a report that leaves cells or a row blank may leave another row blank)."""
    zeros: set[str] = set()
    blanks: set[str] = set()
    rows_read: set[str] = set()
    for cid, cv in doc.cells.items():
        if cid not in lay.cells:
            continue
        table = cid.split(".", 1)[0]
        if cv.value is not None and cv.tokens and INFERRED_FLAGS.isdisjoint(cv.flags):
            rows_read.add(cid.rsplit(".", 1)[0])
            if cv.value == 0:
                zeros.add(table)
        elif cv.value is None and "blank" in cv.flags and _read_confidence(cv) >= options.doubtful_blank_confidence:
            blanks.add(table)
    for a in doc.anchors:
        if a.kind == "row" and not any(r == a.key or r.startswith(a.key + ".") for r in rows_read):
            blanks.add(a.key.split(".", 1)[0])
    return zeros - blanks


def zeros_for_doubtful_blanks(doc: DocumentState, zeros_printed: Collection[str], options: RulesOptions) -> list[str]:
    """On an OCR'd page, in a table that prints its zeros (`tables_printing_zeros`), a cell the page
    reader left blank with doubt is a 0 it did not read: a gap placed among a row's figures
    (`inferred_blank`), or a blank slot read below `doubtful_blank_confidence`. 0 and blank are the
    same to every sum, so no check changes; the cell is `filled_by_rule` (review), as any value the
    rules supplied. Returns the cells given 0."""
    out = []
    for cid, cv in doc.cells.items():
        if cv.value is not None or cid.split(".", 1)[0] not in zeros_printed:
            continue
        if "inferred_blank" in cv.flags or ("blank" in cv.flags and _read_confidence(cv) < options.doubtful_blank_confidence):
            _fill(cv, 0, min(cv.confidence, options.filled_confidence))
            out.append(cid)
    return out


def fill_from_sums(
    cells: dict[str, CellValue], lay: Layout, options: RulesOptions, zeros_printed: Collection[str] = ()
) -> list[str]:
    """Solve the hard equalities for cells OCR left unread; returns the cells filled.

    A cell is solved when every equality that holds it with no other unknown gives the same value,
    and that value fits the cell (a non-negative integer count, a non-negative amount). An equality
    whose unknowns all stand on one side, none of them signed, and must add up to 0 solves each of
    them as 0 (figures that cannot be negative: a whole row lost among read rows whose column
    sums hold). A solved 0 is written only where there is evidence of print: a blank slot with
    unread ink in it, or a table of `zeros_printed` (tables whose page prints its zeros as figures,
    `tables_printing_zeros`, given for OCR'd pages, where a row's figures may be lost); elsewhere a
    row read without any figures may be a row the report left blank, and 0 and blank are the same
    to the sums, so such a cell stays blank (and in review). Filling repeats until nothing more is
    determined (a whole unread row is solved column by column, then its total)."""
    hard = _hard_equalities(lay)
    unknown = {
        cid
        for cid, cv in cells.items()
        if cv.value is None
        and _read_confidence(cv) <= options.unread_confidence
        and cid in lay.cells
    }
    filled: list[str] = []
    while unknown:
        solved: dict[str, set[float]] = {}
        for c in hard:
            open_cells = [x for x in c.cells if x in unknown]
            if not open_cells:
                continue
            left = sum(cells[k].value or 0 for k in c.left if k not in open_cells and k in cells)
            right = sum(cells[k].value or 0 for k in c.right if k not in open_cells and k in cells)
            if len(open_cells) == 1:
                x = open_cells[0]
                solved.setdefault(x, set()).add(round(right - left if x in c.left else left - right, 6))
                continue
            on_left = [x in c.left for x in open_cells]
            if any(on_left) != all(on_left) or any(lay.cells[x].kind == "signed_count" for x in open_cells):
                continue
            if abs(right - left) < 1e-6:  # unknowns that cannot be negative adding up to 0: each is 0
                for x in open_cells:
                    solved.setdefault(x, set()).add(0.0)
        progress = False
        for x, candidates in solved.items():
            unknown.discard(x)
            progress = True
            if len(candidates) != 1:
                continue  # the sums disagree: other cells are wrong, leave it to review
            value = candidates.pop()
            kind = lay.cells[x].kind
            if kind == "amount":
                if value < 0:
                    continue
            elif not float(value).is_integer() or (value < 0 and kind != "signed_count"):
                continue
            cv = cells[x]
            if value == 0 and cv.bbox is None and x.split(".", 1)[0] not in zeros_printed:
                continue
            _fill(cv, int(value) if kind != "amount" else value, options.filled_confidence)
            filled.append(x)
        if not progress:
            break
    return filled


_NARRATIVE = [
    # (rule id, pattern on normalised narrative text, cell the figure should equal, zh, en)
    (
        "narrative.applications.new",
        re.compile(r"(?:共|全年|累计)?(?:受理|收到|新收)[^。；;]{0,12}?政府信息公开申请\s*(\d+)\s*[件条]"),
        ("applications.new.total",),
        "正文所述受理申请数与表三「本年新收」总计不一致",
        "The narrative's number of applications received differs from table 3's 'new' total",
    ),
    (
        "narrative.normative_documents.issued",
        re.compile(r"新增\s*(\d+)\s*[个件](?:行政)?规范性文件"),
        ("proactive.normative_documents.issued",),
        "正文所述新增规范性文件数与表二不一致",
        "The narrative's number of new normative documents differs from table 2",
    ),
]


def narrative_checks(doc: DocumentState, values: dict[str, int | float | None]) -> list[CheckResult]:
    """Soft rule: figures stated in the narrative agree with the tables (warnings)."""
    first_table_line = min((doc.tokens[a.token].line for a in doc.anchors), default=0)
    prose = normalize("\n".join(line.text for line in doc.lines[:first_table_line]))
    checks: list[CheckResult] = []
    for rule, pattern, cells, zh, en in _NARRATIVE:
        found = [int(m.group(1)) for m in pattern.finditer(prose)]
        if not found or any(c not in values for c in cells):
            continue
        table_value = sum(values.get(c) or 0 for c in cells)
        # "10 件/53 条": either figure may be the one the table counts.
        passed = table_value in found or _pair_match(prose, table_value)
        checks.append(
            CheckResult.model_construct(
                rule=rule,
                severity="warning",
                passed=passed,
                status="passed" if passed else "failed",
                cells=list(cells),
                message=zh + ("" if passed else f"（正文 {found[0]}，表中 {fmt_number(table_value)}）"),
                message_en=en + ("" if passed else f" (narrative {found[0]}, table {fmt_number(table_value)})"),
                expected=float(found[0]),
                actual=float(table_value),
            )
        )
    return checks


def _pair_match(prose: str, value: float) -> bool:
    return any(value in (int(m.group(1)), int(m.group(2))) for m in re.finditer(r"(\d+)\s*件\s*/\s*(\d+)\s*条", prose))


def cross_report_checks(current: dict, previous: dict) -> list[dict]:
    """Soft rules across two reports of one body: last year's carried-forward and documents in force.
    Works on the results' JSON (`ExtractionResult.to_json_dict()`) and gives checks as JSON."""
    checks: list[dict] = []
    cur, prev = current["cells"], previous["cells"]
    for cid, cell in cur.items():
        if not cid.startswith("applications.carried_over."):
            continue
        col = cid.rsplit(".", 1)[1]
        pid = f"applications.carried_forward.{col}"
        if pid not in prev:
            continue
        a, b = cell.get("value") or 0, (prev[pid].get("value") or 0)
        checks.append(
            {
                "rule": f"cross_year.carried_over.{col}",
                "severity": "warning",
                "passed": a == b,
                "status": "passed" if a == b else "failed",
                "cells": [cid],
                "message": f"本年「上年结转」应等于上一年度报告的「结转下年度继续办理」（本年 {fmt_number(a)}，上年 {fmt_number(b)}）",
                "message_en": f"This year's carried-over ({fmt_number(a)}) should equal last year's carried-forward ({fmt_number(b)})",
            }
        )
    for row in ("rules", "normative_documents"):
        ids = {k: f"proactive.{row}.{k}" for k in ("issued", "repealed", "in_force")}
        if not all(i in cur for i in ids.values()) or ids["in_force"] not in prev:
            continue
        expected = (
            (prev[ids["in_force"]].get("value") or 0)
            + (cur[ids["issued"]].get("value") or 0)
            - (cur[ids["repealed"]].get("value") or 0)
        )
        actual = cur[ids["in_force"]].get("value") or 0
        checks.append(
            {
                "rule": f"cross_year.in_force.{row}",
                "severity": "warning",
                "passed": actual == expected,
                "status": "passed" if actual == expected else "failed",
                "cells": list(ids.values()),
                "message": f"现行有效件数应等于上年现行有效加本年制发减本年废止（应为 {fmt_number(expected)}，表中 {fmt_number(actual)}）",
                "message_en": f"In force should equal last year's in force + issued − repealed ({fmt_number(expected)}, printed {fmt_number(actual)})",
            }
        )
    return checks


# Reading flags of a figure whose cell the reconstruction chose by a guess, and flags that put a row's
# reading in doubt (an OCR'd row with one of these beside a guess sends the guess to review too).
GUESS_FLAGS = frozenset({"split_digits", "inferred_blank", "extra_values"})
ROW_DOUBT_FLAGS = DOUBT_FLAGS | {"ambiguous", "uncertain"}


def guessed_blanks(doc: DocumentState) -> set[str]:
    """Cells an OCR'd page left blank in a row whose figures were fewer than its cells and were placed
    around the gaps (`inferred_blank`): the sums count them as 0, which nothing printed confirms."""
    if not doc.ocr_read:
        return set()
    return {cid for cid, c in doc.cells.items() if c.value is None and "inferred_blank" in c.flags}


class _SumsAccept:
    """Whether every hard rule over the cells a reading changes, that holds on `values`, holds on them
    changed too. The rules that hold over a set of cells are found once per set: a line's gaps or a
    run's cuts are tried many ways over the same cells."""

    def __init__(self, values: dict[str, int | float | None], hard: list[Constraint]) -> None:
        self.values, self.hard = values, hard
        self._holding: dict[frozenset[str], tuple[list[Constraint], dict[str, int | float | None]]] = {}

    def __call__(self, other: dict[str, int | float | None]) -> bool:
        key = frozenset(other)
        found = self._holding.get(key)
        if found is None:
            rules = [c for c in self.hard if not key.isdisjoint(c.cells) and c.holds(self.values)]
            # only the cells those rules read: the whole document's values need not be copied per reading
            found = self._holding[key] = (rules, {cid: self.values.get(cid) for c in rules for cid in c.cells})
        rules, read = found
        changed = {**read, **other}
        return all(c.holds(changed) for c in rules)


def unplaceable_cells(
    doc: DocumentState,
    lay: Layout,
    max_placements: int = RulesOptions.model_fields["max_placements"].default,
    margin: float = RulesOptions.model_fields["unplaced_figure_margin"].default,
    doubtful_level: float = RulesOptions.model_fields["doubtful_read_confidence"].default,
) -> set[str]:
    """Cells whose value another reading of the same printed figures gives differently while every
    hard rule that holds still holds: the sums cannot tell which reading the page printed, so a
    rule that holds does not vouch for these cells. Three such readings, on every input kind:
    - a row whose figures were fewer than its cells and placed around guessed gaps
      (`inferred_blank`): the same figures in the same order with the gaps elsewhere (a blank
      and a 0 are the same to every sum, so a gap among zeros is never placed by the sums), and
      on an OCR'd page also without one of its figures read with doubt (below `doubtful_level`:
      a seal's stroke or a speck read as a figure shifts every figure after it by a cell);
    - a glued run of digits cut into cells (`split_digits`): the same digits cut elsewhere (a one-line
      text's 行政规范性文件 "1309" cut 1 | 30 | 9 where the report printed 13 | 0 | 9: no sum runs
      over table 二's rows);
    - a row printed next to a row the page reading did not find (`row_not_read:`): its figures
      taken by the neighbour (the unread row's figures read into the next row down, whose own
      cells have no sum across rows), unless the page prints its figures level with its own label
      and not with the unread row's (`margin`: in the figure's heights).
    A line whose gaps, or a run whose cuts, could go more than `max_placements` ways is unverified whole."""
    # A rule that holds through a cell the sums filled or changed vouches for nothing: the fill was
    # computed from this very placement (a row's figures read into the row above, the unread row
    # filled from the totals, and every total held).
    supplied = {cid for cid, c in doc.cells.items() if INFERRED_FLAGS.intersection(c.flags)}
    hard = [c for c in constraints(lay) if c.severity == "error" and supplied.isdisjoint(c.cells)]
    values = {cid: c.value for cid, c in doc.cells.items()}
    sums_accept = _SumsAccept(values, hard)
    out: set[str] = set()
    for other, cells in (
        *_gaps_elsewhere(doc, lay, values, max_placements, out, doubtful_level if doc.ocr_read else None),
        *_digits_cut_elsewhere(doc, lay, values, max_placements, out),
        *_taken_from_unread_neighbours(doc, lay, values, margin),
    ):
        if other is None:  # too many readings to try: unverified whole
            out |= cells
            continue
        differ = {cid for cid in cells if other[cid] != values[cid]}
        if differ - out and sums_accept(other):
            out |= differ
    return out


def _gaps_elsewhere(
    doc: DocumentState,
    lay: Layout,
    values: Reading,
    max_placements: int,
    done: set[str],
    doubtful_level: float | None = None,
) -> Iterator[tuple[Reading | None, set[str]]]:
    """Each other placement of a printed line's guessed gaps, with the line's cells. A line: the rows
    of a table whose cells were all placed around guessed gaps, joined where their figures came from
    one text line (a text layer that printed three schema rows as one run of figures). With a
    `doubtful_level`, also each placement of the line's figures less one read below it (that figure
    no figure of the row: one gap more)."""
    units: list[tuple[list[str], set[int]]] = []
    for table in lay.tables:
        for row in table.rows:
            ids = [cid for cid in row.cell_ids if cid in doc.cells]
            if not ids or not all("inferred_blank" in doc.cells[cid].flags for cid in ids):
                continue
            lines = {doc.tokens[t].line for cid in ids for t in doc.cells[cid].tokens if t < len(doc.tokens)}
            if units and units[-1][0][0].split(".", 1)[0] == table.key and lines & units[-1][1]:
                units[-1][0].extend(ids)
                units[-1][1].update(lines)
            else:
                units.append((ids, lines))
    for ids, _ in units:
        figures = [cid for cid in ids if values[cid] is not None]
        drops: list[str | None] = [None]
        if doubtful_level is not None:
            drops += [cid for cid in figures if _read_confidence(doc.cells[cid]) < doubtful_level]
        for drop in drops:
            printed = [values[cid] for cid in figures if cid != drop]
            blanks = len(ids) - len(printed)
            if not 0 < blanks < len(ids):
                continue
            if math.comb(len(ids), blanks) > max_placements:
                yield None, set(ids)
                break
            for gaps in itertools.combinations(range(len(ids)), blanks):
                if done.issuperset(ids):  # every cell of the line is unverified already (read lazily)
                    break
                it = iter(printed)
                yield {cid: None if i in gaps else next(it) for i, cid in enumerate(ids)}, set(ids)


def _digits_cut_elsewhere(
    doc: DocumentState, lay: Layout, values: Reading, max_placements: int, done: set[str]
) -> Iterator[tuple[Reading | None, set[str]]]:
    """Each other cut of a glued run of digits into the cells it was cut into: the same digits in
    order, no piece but "0" starting with 0."""
    runs: dict[int, list[str]] = {}
    for cid in lay.cell_ids:
        cell = doc.cells.get(cid)
        if cell is not None and "split_digits" in cell.flags and len(cell.tokens) == 1:
            runs.setdefault(cell.tokens[0], []).append(cid)
    for t, ids in runs.items():
        digits = "".join(doc.cells[cid].text or "" for cid in ids)
        if len(ids) < 2 or not digits.isdigit() or t >= len(doc.tokens) or doc.tokens[t].text != digits:
            continue
        if math.comb(len(digits) - 1, len(ids) - 1) > max_placements:
            yield None, set(ids)
            continue
        for cuts in itertools.combinations(range(1, len(digits)), len(ids) - 1):
            if done.issuperset(ids):  # every cell of the run is unverified already (read lazily)
                break
            pieces = [digits[a:b] for a, b in zip((0, *cuts), (*cuts, len(digits)), strict=True)]
            if not any(len(p) > 1 and p[0] == "0" for p in pieces):
                yield {cid: int(p) for cid, p in zip(ids, pieces, strict=True)}, set(ids)


def _row_label_spans(doc: DocumentState) -> dict[str, tuple[int, float, float]]:
    """Row id -> (page, top, bottom) of its label as a page printed it, for the rows whose label was
    read on a page (one span a row: the row read twice, or on two pages, has none)."""
    spans: dict[str, tuple[int, float, float]] = {}
    twice: set[str] = set()
    for a in doc.anchors:
        if a.kind != "row" or a.token >= len(doc.tokens):
            continue
        t = doc.tokens[a.token]
        if t.page is None or t.bbox is None:
            continue
        if a.key in spans:
            twice.add(a.key)
        spans[a.key] = (t.page, t.bbox[1], t.bbox[3])
    return {k: v for k, v in spans.items() if k not in twice}


def _level_with(figure: tuple[float, float, float, float], top: float, bottom: float, margin: float) -> bool:
    """Whether a figure's middle (its box) stands within a label's vertical extent, `margin` of the
    figure's own height above or below it."""
    pad = margin * (figure[3] - figure[1])
    middle = (figure[1] + figure[3]) / 2
    return top - pad <= middle <= bottom + pad


def _level_with_own_label(
    doc: DocumentState,
    cids: set[str],
    own: str,
    unread: str,
    spans: dict[str, tuple[int, float, float]],
    margin: float,
) -> bool:
    """Every figure of `cids` stands level with its own row's label (`own`) and not with the label
    of the unread row beside it: the page itself says the figures are their own row's. Both labels
    must have been read on the figures' page; `margin` is in the figure's own heights."""
    if own not in spans or unread not in spans:
        return False
    page, top, bottom = spans[own]
    upage, utop, ubottom = spans[unread]
    if page != upage:
        return False
    for cid in cids:
        cell = doc.cells[cid]
        if len(cell.tokens) != 1 or cell.tokens[0] >= len(doc.tokens):
            return False
        t = doc.tokens[cell.tokens[0]]
        if t.page != page or t.bbox is None:
            return False
        if not _level_with(t.bbox, top, bottom, margin) or _level_with(t.bbox, utop, ubottom, margin):
            return False
    return True


def _taken_from_unread_neighbours(
    doc: DocumentState, lay: Layout, values: Reading, margin: float = 0.5
) -> Iterator[tuple[Reading | None, set[str]]]:
    """For each row next to a row the page reading did not find, with the same columns: its figures
    given to the unread row (and its own cells blank), with the row's cells that hold a figure.
    Not where a page prints every one of those figures level with the row's own label and not with
    the unread row's (both labels read there; `margin` in the figure's heights): the figures' place
    on the page tells the rows apart where the sums cannot (a scan's row with its figures read
    beside a row whose faint figures OCR missed)."""
    unread = {f.split(":", 1)[1] for f in doc.flags if f.startswith("row_not_read:")}
    spans = _row_label_spans(doc) if unread and doc.pages else {}
    for table in lay.tables:
        for i, row in enumerate(table.rows):
            if row.id not in unread:
                continue
            for j in (i - 1, i + 1):
                if not 0 <= j < len(table.rows) or table.rows[j].id in unread:
                    continue
                mate = table.rows[j]
                if [c.key for c in mate.columns] != [c.key for c in row.columns]:
                    continue
                pairs = [(a, b) for a, b in zip(mate.cell_ids, row.cell_ids, strict=True) if a in doc.cells]
                held = {a for a, _ in pairs if values[a] is not None}
                if held and not _level_with_own_label(doc, held, mate.id, row.id, spans, margin):
                    moved: Reading = {a: None for a, _ in pairs}
                    moved.update({b: values[a] for a, b in pairs})
                    yield moved, held


def blanks_beside_unplaced_figures(doc: DocumentState, margin: float) -> set[str]:
    """Blank cells of the rows beside which a page prints a figure that no cell took. The page reader
    left the figure out of its row (it put the row's label elsewhere: 信息内容 and 行政事业性收费 read
    as one label, and the amount "0" under its column head was taken as an extra figure of a row
    of table 三 and dropped), so the blank the row was given may be that figure. Rows of a page
    only: the figure stands right of the label, level with it (`margin` of the figure's height)."""
    if not doc.pages:
        return set()
    used = {t for c in doc.cells.values() for t in c.tokens}
    labels = [(a.key, doc.tokens[a.token]) for a in doc.anchors if a.kind == "row" and a.token < len(doc.tokens)]
    rows: set[str] = set()
    for i, t in enumerate(doc.tokens):
        if t.kind != "number" or i in used or t.page is None or t.bbox is None:
            continue
        for key, label in labels:
            box = label.bbox
            if label.page == t.page and box is not None and box[2] <= t.bbox[0] and _level_with(t.bbox, box[1], box[3], margin):
                rows.add(key)
    return {cid for cid, c in doc.cells.items() if c.value is None and cid.rsplit(".", 1)[0] in rows}


def cells_beside_unplaced_lines(doc: DocumentState, level: float) -> list[CellValue]:
    """The cells placed from the nearest lines above and below a line of two or more figures read
    at `level` or surer that no cell took, where the line stands inside one table on one page:
    both neighbours' cells lie in one table, all three lines on one page, and two or more of the
    line's sure figures stand under figures of those cells (a fax's header line between a table's
    pages, or a sentence's telephone number, is no row of it). A figure printed with a counting
    unit is prose, not a row."""
    placed: dict[int, list[tuple[str, CellValue]]] = {}  # line -> the cells read from it
    for cid, cell in doc.cells.items():
        for line in _token_lines(doc, cell):
            placed.setdefault(line, []).append((cid, cell))
    figures: dict[int, list[Token]] = {}
    for t in doc.tokens:
        if t.kind == "number" and not t.narrative:
            figures.setdefault(t.line, []).append(t)
    ordered = sorted(placed)
    out: list[CellValue] = []
    for line, toks in figures.items():
        sure = [t for t in toks if t.confidence >= level and t.bbox is not None]
        if line in placed or len(sure) < 2:  # (a line no cell was read from: none of its tokens placed)
            continue
        k = bisect.bisect_left(ordered, line)
        if k == 0 or k == len(ordered):
            continue
        beside = placed[ordered[k - 1]] + placed[ordered[k]]
        if len({cid.split(".", 1)[0] for cid, _ in beside}) != 1:
            continue
        their = [doc.tokens[i] for _, c in beside for i in c.tokens if 0 <= i < len(doc.tokens)]
        if any(t.page != sure[0].page for t in their + sure):
            continue
        spans = [(t.bbox[0], t.bbox[2]) for t in their if t.bbox is not None]
        mine = [(t.bbox[0], t.bbox[2]) for t in sure if t.bbox is not None]
        under = sum(1 for x0, x1 in mine if any(a < x1 and x0 < b for a, b in spans))
        if under >= 2:
            out.extend(c for _, c in beside)
    return out


# The flag of a cell in a failed hard rule that another hard rule pins (`pinned_cells`): it is not
# sent to review for that failure (`extraction.result.needs_review`).
PINNED = "pinned_by_rule"
# Flags that say a cell was not read plainly as printed: such a cell neither is pinned nor pins another.
UNPLAIN_FLAGS = DOUBT_FLAGS | GUESS_FLAGS | {"ambiguous", "uncertain", "label_inferred", "failed_warning"}


def vouched_by_sums(doc: DocumentState, lay: Layout, doubtful: set[str], level: float) -> set[str]:
    """The cells of `doubtful` that the holding hard equalities (passed, or holding by inference)
    determine from sure readings (a cell of `doubtful` is never taken as sure, whatever it was read at): with the sure cells fixed at their readings and every other cell
    free, each non-negative solution (figures of signed columns may be negative) gives the cell the
    value it was read with. Sure: read plainly (no UNPLAIN_FLAGS: not guessed, filled, ambiguous or
    in a failed warning) with the reconstruction's confidence at least `level`. So a
    lone doubtful cell of a holding equality is its sure cells' sum; two doubtful figures of one
    equality are determined only where other equalities pin them (a seal over a row's last two
    columns: each column's total, read surely, pins its doubtful 0s, and then the row's total),
    or where their sum is 0 (non-negative figures adding up to 0 are all 0). Two doubtful figures
    that can make up for each other (0 | 3 for 3 | 0) are not determined, and a figure the sums
    chose among readings is not plain: neither is vouched for."""
    equalities = {c.rule: c for c in _hard_equalities(lay)}

    def sure(cid: str) -> bool:
        c = doc.cells.get(cid)
        return (
            cid not in doubtful
            and c is not None
            and not UNPLAIN_FLAGS.intersection(c.flags)
            and _read_confidence(c) >= level
        )

    unknown = {cid for cid in doubtful if cid in doc.cells and not UNPLAIN_FLAGS.intersection(doc.cells[cid].flags)}
    usable = [
        eq
        for check in doc.checks
        if (eq := equalities.get(check.rule)) is not None
        and check.status in ("passed", "inferred")
        and unknown.intersection(eq.cells)
    ]
    # every cell of those equalities that is not sure may take any value: a guessed, ambiguous, filled
    # or corrected one too (it is no evidence, and vouched for by nothing here), so an equality with
    # one, or one that holds only through a value the sums supplied ("inferred"), is still of use: a
    # sure 0 total of non-negative figures makes each of them 0, whatever the others' flags
    variables = sorted({cid for eq in usable for cid in eq.cells if not sure(cid)})
    if not unknown.intersection(variables):
        return set()
    return _determined(doc, lay, usable, variables) & unknown


def _determined(doc: DocumentState, lay: Layout, equalities: list[Constraint], variables: list[str]) -> set[str]:
    """The `variables` whose value every solution of `equalities` (the other cells fixed at their
    values; counts and amounts non-negative) gives as read: the least and the greatest value a
    linear programme finds for each coincide with the reading (`SUMS_DETERMINE_TOLERANCE`)."""
    import numpy as np
    from scipy.optimize import linprog

    index = {cid: k for k, cid in enumerate(variables)}
    values: Reading = {cid: doc.cells[cid].value for eq in equalities for cid in eq.cells}
    read = np.array([float(values[cid] or 0) for cid in variables])
    # a · x = a · read − residual: the variables at x, every other cell at its reading
    a_eq, residual = linear_system(equalities, index, values)
    b_eq = a_eq @ read - residual
    bounds = [
        (None, None) if (spec := lay.cells.get(cid)) is not None and spec.kind == "signed_count" else (0, None)
        for cid in variables
    ]
    out: set[str] = set()
    for k, cid in enumerate(variables):
        objective = np.zeros(len(variables))
        objective[k] = 1.0
        for direction in (1.0, -1.0):
            res = linprog(direction * objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            # unbounded (a signed figure), infeasible (against the passed checks) or another value:
            # not determined, and the other end need not be solved
            if res.status != 0 or abs(direction * res.fun - read[k]) > SUMS_DETERMINE_TOLERANCE:
                break
        else:
            out.add(cid)
    return out


# How close the least and greatest value the sums allow a doubtful figure must be to its reading for
# the sums to determine it (amounts are in 万元 with up to four decimals)
SUMS_DETERMINE_TOLERANCE = 1e-6


def pinned_cells(
    doc: DocumentState, lay: Layout, confidence: float = RulesOptions.model_fields["pin_confidence"].default
) -> set[str]:
    """Cells of failed hard rules whose value another hard rule pins, so that the failure is not
    theirs to answer for. A failed column sum sent every figure of its column to review (a scan's
    misread 26 in 行政查询 put the 21 other figures of the 科研机构 column there). Suspects: the
    cells of failed hard rules not read plainly (a flag of `UNPLAIN_FLAGS`: in doubt, placed by a
    guess, ambiguous, below the review level). A cell of a failed rule is pinned when:
    - it was read plainly (its confidence at least `confidence`);
    - every failed hard rule it is in has a suspect, and changing the suspects alone can make
      every failed equality with a suspect hold while the equalities that hold still hold (the
      failures have an explanation that needs no plainly read cell to be wrong);
    - an equality of the hard rules passed with it (not by inference: no cell the sums supplied)
      whose every other cell was read plainly and is in a failed rule too or checked by another
      equality that passed, and the plainly read cells of that equality that are in failed rules (the cell itself, and
      any beside it) cannot by themselves explain the failures they are in with that equality
      still holding (a row's figures swapped or shifted between columns: the row's sum holds,
      its columns fail; that one misreading stays in review).
    - no change of those plainly read cells in failed rules keeps every equality that holds over
      them holding (`explain.hides_change`): a figure and its row's total misread alike (7 read 1 in
      both, the row's one applicant) keep the row's sum, and the suspects, free to take any value,
      make up for them in the failed columns; a photo's two 1s were pinned, wrong.
    A single misreading is never pinned (every rule over it fails); a misread cell is pinned only
    where two or more misreadings compensate one another exactly beside the suspects' own."""
    hard = [c for c in constraints(lay) if c.severity == "error"]
    status = {c.rule: c.status for c in doc.checks}
    failing = failing_hard_cells(doc)
    if not failing:
        return set()
    failed = [c for c in hard if c.kind == "eq" and status.get(c.rule) == "failed"]
    holding = [c for c in hard if c.kind == "eq" and status.get(c.rule) in ("passed", "inferred")]
    passed = [c for c in holding if status.get(c.rule) == "passed"]
    plain = {
        cid for cid, c in doc.cells.items() if not UNPLAIN_FLAGS.intersection(c.flags) and c.confidence >= confidence
    }
    suspects = failing - plain
    failed_rules = {f.rule for f in failed}
    # a failed check with no suspect (every figure read as printed: a report inconsistent in its
    # source), or one that is no equality (a negative count): its cells stay in review
    unexplained = {
        cid
        for c in doc.checks
        if c.status == "failed" and c.severity == "error"
        and (suspects.isdisjoint(c.cells) or c.rule not in failed_rules)
        for cid in c.cells
    }
    candidates = (failing & plain) - unexplained
    if not candidates:
        return set()
    values: Reading = {cid: c.value for cid, c in doc.cells.items()}
    if not explains(suspects, [c for c in failed if not suspects.isdisjoint(c.cells)], holding, values):
        return set()
    checked: dict[str, int] = {}  # cell -> the equalities that passed over it
    for c in passed:
        for cid in c.cells:
            checked[cid] = checked.get(cid, 0) + 1

    def pins(c: Constraint, cid: str) -> bool:
        if cid not in c.cells or not all(
            o in plain and (o in failing or checked.get(o, 0) >= 2) for o in c.cells if o != cid
        ):
            return False
        mates = {o for o in c.cells if o in failing}
        fix = [f for f in failed if not mates.isdisjoint(f.cells)]
        return not explains(mates, fix, holding, values) and not hides_change(mates, holding)

    return {cid for cid in candidates if any(pins(c, cid) for c in passed)}


def least_explanations(
    doc: DocumentState, lay: Layout, options: RulesOptions | None = None
) -> list[FailureGroup] | None:
    """The failed hard equalities in groups that a cell or a holding equality ties, each with every
    smallest set of cells (at most `options.least_explanation_cells`) whose values alone can change so
    that every failed equality of the group holds while every equality that holds still holds
    (`explain.explains`: any real change, not only non-negative whole figures, so more sets explain
    and fewer cells are spared; `explain.explain_failures`), and on a document read by OCR those
    `options.least_explanation_slack` cells larger. None when some failed hard rule is no equality.

    One misreading, or one figure printed wrong in the report, is such a set by itself; a column's sum
    failing alone is explained by any of its rows' figure and total changed together, so every
    row of the column is in one of the sets."""
    opts = options or RulesOptions()
    hard = {c.rule: c for c in constraints(lay) if c.severity == "error"}
    failed_checks = [c for c in doc.checks if c.status == "failed" and c.severity == "error"]
    failed = [hard[c.rule] for c in failed_checks if c.rule in hard]
    if not failed or len(failed) < len(failed_checks) or any(c.kind != "eq" for c in failed):
        return None
    status = {c.rule: c.status for c in doc.checks}
    holding = [c for c in hard.values() if c.kind == "eq" and status.get(c.rule) in ("passed", "inferred")]
    values: Reading = {cid: c.value for cid, c in doc.cells.items()}
    slack = opts.least_explanation_slack if doc.ocr_read else 0
    return explain_failures(failed, holding, values, opts.least_explanation_cells, opts.least_explanation_sets, slack)


def outside_least_explanations(doc: DocumentState, lay: Layout, options: RulesOptions | None = None) -> set[str]:
    """Cells of failed hard rules, read plainly (no UNPLAIN_FLAGS, confidence at least
    `options.pin_confidence`), that no smallest explanation of their group of failures holds
    (`least_explanations`): the report is wrong elsewhere, not in them. A report whose own figures
    break a sum (outcome_total 2740 printed for 274, with its row's total made to agree) sent the 50
    figures of two columns to review; the two cells that explain every failed rule are the ones to
    look at. A phone photo with a few misread figures in each of two tables sent 83 figures to
    review; the five that explain the failures are the ones to look at. Nothing is spared in a group
    whose failures no small enough set explains, or where the failures are not equalities."""
    opts = options or RulesOptions()
    groups = least_explanations(doc, lay, opts)
    if groups is None:
        return set()
    out: set[str] = set()
    for group in groups:
        if group.explanations is None:
            continue
        explaining = set().union(*group.explanations)
        failing = {cid for c in group.rules for cid in c.cells}
        out |= {
            cid
            for cid in failing - explaining
            if (c := doc.cells.get(cid)) is not None
            and not UNPLAIN_FLAGS.intersection(c.flags)
            and c.confidence >= opts.pin_confidence
        }
    return out


class RulesStage:
    name = "rules"
    version = "15"  # 2: unverifies the placements the sums cannot tell apart and blanks read with doubt; 3: lost
    # signs, doubtful figures beside failed rules, blanks beside a figure no cell took; 4: every doubtful
    # OCR'd figure, pins; 5: a lone doubtful figure that a holding equality of sure readings determines;
    # 6: doubtful figures that the holding equalities of sure readings determine together; 7: figures that no
    # smallest explanation of the failed sums holds are pinned; 8: explanations per group of failures that nothing
    # ties, past two cells by a mixed-integer programme, with one cell of slack; no pin where the cells could change
    # together unseen (a figure and its row's total misread alike); doubtful figures vouched for through
    # equalities with guessed or filled cells (a sure 0 total of non-negative figures); every signed figure read
    # from a page image is unverified; 9: an `unverified` figure keeps its calibrated probability up to
    # `unverified_confidence` (0.9; review by its flag), not a fixed 0.5; figures dropped to fit a line whose
    # sums still fail are unverified on OCR'd pages; 10: unread cells an equality makes add up to 0 are each 0, and
    # on OCR'd pages a table that prints its zeros is evidence of print for a filled 0 (a row lost whole), and its
    # doubtful blanks (gaps placed among a row's figures, blanks read with doubt) are 0s the page reader lost
    # 11: on OCR'd pages, figures of an equality that holds only through a supplied value are unverified unless
    # other equalities determine them from sure readings; 12: a line whose sure figure the reconstruction dropped is
    # unverified on OCR'd pages (the sums chose the drop)
    # 13: on OCR'd pages, a figure no sum checks is unverified where a digit of it is a second reading on its page
    # 14: or where its own reading has a rival of the same length; 15: on OCR'd pages, the figures of the lines
    # next to a table's line of sure figures that no cell took are unverified, and v12 unverifies the rows placed
    # from a line whose sure figure was dropped whole

    def __init__(self, options: RulesOptions | None = None) -> None:
        self.options = options or RulesOptions()

    def __call__(self, doc: DocumentState) -> None:
        lay = layout(doc.format or "2021", tuple(doc.variants))
        guessed = guessed_blanks(doc)  # before the sums fill any of them
        if self.options.fill_from_sums:
            zeros = tables_printing_zeros(doc, lay, self.options) if doc.ocr_read else set()
            fill_from_sums(doc.cells, lay, self.options, zeros)
            zeros_for_doubtful_blanks(doc, zeros, self.options)
        values = {cid: c.value for cid, c in doc.cells.items()}
        inferred = {cid for cid, c in doc.cells.items() if INFERRED_FLAGS.intersection(c.flags)}
        doc.checks = check_rules(values, lay, inferred | guessed)
        if self.options.narrative_checks:
            doc.checks.extend(narrative_checks(doc, values))
        self.unverify_guessed_rows(doc, guessed)
        self.unverify_guesses_held_by_unread(doc)
        self.unverify_guesses_beside_doubt(doc)
        self.unverify_unplaceable(doc, lay)
        self.unverify_doubtful_blanks(doc)
        self.unverify_beside_unplaced_figures(doc)
        self.unverify_unchecked_signs(doc, lay)
        self.unverify_unchecked_confusable_figures(doc, lay)
        self.unverify_drops_a_failure_contradicts(doc)
        self.unverify_sure_figures_dropped(doc)
        self.unverify_beside_unplaced_lines(doc)
        self.unverify_doubtful_reads(doc, lay)
        self.unverify_held_by_supplied_values(doc, lay)
        self.doubt(doc)
        self.pin(doc, lay)

    def unverify_beside_unplaced_figures(self, doc: DocumentState) -> None:
        """Blank cells of a row beside which the page prints a figure no cell took are unverified
        (`blanks_beside_unplaced_figures`)."""
        for cid in blanks_beside_unplaced_figures(doc, self.options.unplaced_figure_margin):
            _unverify(doc.cells[cid])

    def unverify_doubtful_reads(self, doc: DocumentState, lay: Layout) -> None:
        """On an OCR'd page, a figure the reconstruction read with doubt (its own confidence below
        `doubtful_read_confidence`: the recogniser's, or a cap a page or OCR check put on it) is
        unverified, whatever a calibrator makes of it. The calibrator was fitted where such readings
        were mostly right; on pages unlike those it lifted wrong ones out of review: a fax's zeros
        broken into two strokes read "1" (1 | 1 | 0 in 规章's row, read at 0.47, calibrated to
        0.998), and a phone photo's 规章 printed 6 | 0 | 30 read 0 | 3 | 0 at 0.43–0.64, where no
        rule failed to say so. A rule that holds is no help where the sums picked among readings, or
        where two doubtful readings can make up for each other: only hard equalities that hold and
        determine this figure from cells read plainly and surely vouch for it (`vouched_by_sums`):
        the figure is then what the sure ones give."""
        if not doc.ocr_read:
            return
        level = self.options.doubtful_read_confidence
        doubtful = {cid for cid, c in doc.cells.items() if c.value is not None and _read_confidence(c) < level}
        vouched = vouched_by_sums(doc, lay, doubtful, level) if self.options.sums_vouch_for_doubtful_reads else set()
        for cid in doubtful - vouched:
            _unverify(doc.cells[cid])

    def unverify_held_by_supplied_values(self, doc: DocumentState, lay: Layout) -> None:
        """On an OCR'd page, a figure of a hard equality that holds only through a value the rules
        supplied (`inferred`: a cell the sums filled, or an OCR reading they chose) is unverified
        unless other holding equalities determine it from plainly and surely read cells
        (`vouched_by_sums`, the figure itself taken as unknown, the others as read). The supplied value is whatever
        makes the equality hold, so it takes up any misread of the equality's other figures: a
        fax's 14 read 11 in a row's total beside a lost figure of the total column, the lost one
        filled with 4 for 1, held its column by inference and went out of review at 0.986 while
        the filled 4 was reviewed; correcting the 4 would not have shown the 11. A text layer's
        figures are as printed: its fills take up no misread."""
        if not doc.ocr_read:
            return
        suspects = {
            cid
            for check in doc.checks
            if check.status == "inferred"
            and check.severity == "error"
            and any("filled_by_rule" in doc.cells[x].flags for x in check.cells if x in doc.cells)
            for cid in check.cells
            if (cell := doc.cells.get(cid)) is not None
            and cell.value is not None
            and not UNPLAIN_FLAGS.intersection(cell.flags)
        }
        level = self.options.doubtful_read_confidence
        # each on its own, the others at their readings: a row of 0s the sums filled makes every
        # column hold by inference, and its figures' rows, read surely, still determine each of them
        for cid in sorted(suspects):
            if not vouched_by_sums(doc, lay, {cid}, level):
                _unverify(doc.cells[cid])

    def unverify_unchecked_signs(self, doc: DocumentState, lay: Layout) -> None:
        """On an OCR'd page, a figure other than 0 in a signed column (本年增/减) is unverified: no
        sum runs over a signed column, and a page image loses a minus (a phone photo's or a fax's
        1 px stroke) or gains one (a piece of rule left of the figure). Looking for an unread
        minus (`extraction.ocr.glyphs.doubt_lost_signs`, which gives the solver the signed reading)
        missed faint ones: −38 and −11 read 38 and 11 passed at 0.998 on a photo and a fax (seed
        8383), the only wrong cells of 26 that no rule or doubt sent to review. A text layer's
        signs are as printed."""
        if not doc.ocr_read:
            return
        for cid, cell in doc.cells.items():
            spec = lay.cells.get(cid)
            if spec is not None and spec.kind == "signed_count" and isinstance(cell.value, int | float) and cell.value:
                _unverify(cell)

    def unverify_unchecked_confusable_figures(self, doc: DocumentState, lay: Layout) -> None:
        """On an OCR'd page, a figure that no hard equality checks (table 二's) is unverified when
        one of its digits is, elsewhere on the same page, the recogniser's second reading of a
        figure (an alternative of the same length differing at that digit): the recogniser
        confuses that digit with another on this page, and no sum would notice its sure reading
        of it. Phone photos read 0 as 6 or 8 at 0.98-0.997 where the page's doubtful 0s offered 6
        or 8 as their alternative, and 63.3 as 63.8; those cells went out of review. A figure whose
        own reading came with a rival of the same length is unverified too (a scan's 8 that the zero
        check read as 0, keeping 8 as the alternative the sums would pick by: table 二 has none, and
        the 0 went out at 0.986). A digit the page's figures never offered as a second reading
        leaves a figure without a rival as it was."""
        if not doc.ocr_read:
            return
        seconds: dict[int, set[str]] = {}  # page -> digits offered as a figure's second reading
        for t in doc.tokens:
            if t.kind != "number" or t.page is None:
                continue
            for alt in t.alternatives:
                if len(alt) == len(t.text):
                    seconds.setdefault(t.page, set()).update(
                        b for a, b in zip(t.text, alt, strict=True) if a != b and b.isdigit()
                    )
        summed = {cid for c in _hard_equalities(lay) for cid in c.cells}
        for cid, cell in doc.cells.items():
            if cid in summed or cell.value is None or not cell.tokens:
                continue
            tok = doc.tokens[cell.tokens[0]] if 0 <= cell.tokens[0] < len(doc.tokens) else None
            if tok is None or tok.page is None:
                continue
            rival = any(len(alt) == len(tok.text) and alt != tok.text for alt in tok.alternatives)
            if rival or any(ch in seconds.get(tok.page, ()) for ch in tok.text if ch.isdigit()):
                _unverify(cell)

    def unverify_drops_a_failure_contradicts(self, doc: DocumentState) -> None:
        """On an OCR'd page, where a line printed more figures than its cells (`extra_values`: the
        reconstruction dropped some, the sums choosing which) and a hard rule over that line's cells
        still fails, every figure placed from that line is unverified. The drop the sums chose left
        a sum broken, so the line was misread (a header's pieces read as figures, a figure taken
        for a rule), and the sums that hold over the rest of it vouch for nothing: they held over
        the wrong figures. A fax's table 四 row, its header's "19" and "3" read as figures and two
        of its own taken for rules: 行政复议 failed, and 行政诉讼's two rows held over five wrong
        cells at 0.999 (review_guarantee seed 9191, group_label_rows)."""
        if not doc.ocr_read:
            return
        failing = failing_hard_cells(doc)
        dropped = {cid: c for cid, c in doc.cells.items() if "extra_values" in c.flags and c.tokens}
        broken = {line for cid, c in dropped.items() if cid in failing for line in _token_lines(doc, c)}
        for c in dropped.values():
            if not broken.isdisjoint(_token_lines(doc, c)):
                _unverify(c)

    def unverify_sure_figures_dropped(self, doc: DocumentState) -> None:
        """On an OCR'd page, where the reconstruction dropped a figure the recogniser read surely
        (at least `doubtful_read_confidence`) from a line that printed more figures than its cells
        (`extra_values`), every figure placed from that line is unverified. Which figure to drop
        the sums chose, so the sums that then hold over the line vouch for nothing: a phone photo's
        行政复议 row printed a total of 10 over four 0s (the report's own error) with a speck
        read as a figure beside them; the sums dropped the 10, and the row's cells held at 0.999,
        the report's inconsistency gone. A speck or a piece of rule read with doubt is dropped
        without a word. The rows placed from such a line are unverified whole."""
        if not doc.ocr_read:
            return
        level = self.options.doubtful_read_confidence
        placed = {t for c in doc.cells.values() for t in c.tokens}
        dropped = {cid: c for cid, c in doc.cells.items() if "extra_values" in c.flags and c.tokens}
        lines = {line for c in dropped.values() for line in _token_lines(doc, c)}
        sure_drops = {
            t.line
            for t in doc.tokens
            if t.line in lines and t.kind == "number" and t.index not in placed and t.confidence >= level
        }
        # the rows placed from such a line, whole: a row's figure may come from a line beside it (a
        # scan's piece of rule read as 1 on the line above 行政复议's figures took its first cell,
        # and the row's own first figure, a sure 0, was dropped)
        rows = {cid.rsplit(".", 1)[0] for cid, c in dropped.items() if not sure_drops.isdisjoint(_token_lines(doc, c))}
        for cid, c in dropped.items():
            if cid.rsplit(".", 1)[0] in rows:
                _unverify(c)

    def unverify_beside_unplaced_lines(self, doc: DocumentState) -> None:
        """On an OCR'd page, where a table prints a line of surely read figures that no cell took
        (`cells_beside_unplaced_lines`), the figures placed from the lines of that table next to it,
        above and below, are unverified: which of the lines is whose row the reconstruction
        decided, and a whole row can take its neighbour's line. A scan's label of 5.要求…确认
        was read on the line of 1.申请人无正当理由…'s first label line; that row took row 5's
        figures, its own line went unplaced, and row 5, left with none, was filled by the sums;
        the misplaced row held its own row sum and went out at 0.985."""
        if not doc.ocr_read:
            return
        for cell in cells_beside_unplaced_lines(doc, self.options.doubtful_read_confidence):
            _unverify(cell)

    def unverify_doubtful_blanks(self, doc: DocumentState) -> None:
        """A blank read with doubt (the reconstruction's confidence below `doubtful_blank_confidence`)
        is unverified, whatever a calibrator makes of it: blanks are nearly always right where the
        reading was sure, and a calibrator fitted on those lifted a Markdown blank the ingest had put
        at 0.5 (its row's figures printed detached above the table) to 0.9993; the page had dropped a 0."""
        for cell in doc.cells.values():
            if cell.value is not None or DOUBT_FLAGS.intersection(cell.flags):
                continue
            if _read_confidence(cell) < self.options.doubtful_blank_confidence:
                cell.flags.append("unverified")

    def unverify_unplaceable(self, doc: DocumentState, lay: Layout) -> None:
        """Cells that another reading of the same printed figures would give differently, with every
        hard rule that holds holding still (`unplaceable_cells`), are unverified: the rules that hold
        cannot vouch for them (a digital PDF's row "0 0 0 0" over five cells, its gap guessed under
        the wrong heading, passed at 0.9997)."""
        for cid in unplaceable_cells(
            doc,
            lay,
            self.options.max_placements,
            self.options.unplaced_figure_margin,
            self.options.doubtful_read_confidence,
        ):
            _unverify(doc.cells[cid])

    def unverify_guesses_beside_doubt(self, doc: DocumentState) -> None:
        """On an OCR'd page, figures placed by a guess (a glued run split, blanks or extra figures
        placed) share their row's reading: where another cell of the row is already in doubt (not
        read as printed, ambiguous, below the calibrator's level, or in a failed hard rule), the
        reading is doubtful and so is the guess (a fax's 43 | 6 read as "40", split 4 | 0, passed at 0.998)."""
        if not doc.ocr_read:
            return
        failing = failing_hard_cells(doc)
        doubtful_rows = {
            cid.rsplit(".", 1)[0]
            for cid, c in doc.cells.items()
            if ROW_DOUBT_FLAGS.intersection(c.flags) or cid in failing
        }
        for cid, cell in doc.cells.items():
            if cid.rsplit(".", 1)[0] not in doubtful_rows or not GUESS_FLAGS.intersection(cell.flags):
                continue
            if not ROW_DOUBT_FLAGS.intersection(cell.flags):
                cell.flags.append("unverified")

    def unverify_guesses_held_by_unread(self, doc: DocumentState) -> None:
        """A figure placed by a guess that the sums chose over a more plausible reading of its row
        (`chosen_by_sums`: a glued run split, extra figures dropped, gaps placed), in a hard rule
        that holds only through a cell not read (missing, incomplete, unread: counted as 0; or
        filled by the sums), is unverified: the sums chose that placement against the unread
        cell's unknown figure (a scan's 不予公开 row read one stray figure too many, and the sums kept
        the 1 | 2 that a row not read beside it made add up, over the row's own 0 | 1: both passed
        at 0.998)."""
        unread = {
            cid
            for cid, c in doc.cells.items()
            if (c.value is None and {"missing", "incomplete", "unread"}.intersection(c.flags))
            or INFERRED_FLAGS.intersection(c.flags)
        }
        if not unread:
            return
        for check in doc.checks:
            if check.severity != "error" or check.status == "failed" or unread.isdisjoint(check.cells):
                continue
            for cid in check.cells:
                cell = doc.cells.get(cid)
                if cell is not None and cid not in unread and "chosen_by_sums" in cell.flags:
                    _unverify(cell)

    def unverify_guessed_rows(self, doc: DocumentState, guessed: set[str]) -> None:
        """A sum that holds only by counting a cell OCR left unread as 0, in a row whose figures were
        placed around that gap, cannot vouch for where the figures went (a faint figure missed shifts
        the rest, and the shifted row can still add up): the row's placed figures in that check are
        unverified, and the check holds by inference."""
        if not guessed:
            return
        for check in doc.checks:
            if check.status != "inferred" or not guessed.intersection(check.cells):
                continue
            for cid in check.cells:
                cell = doc.cells.get(cid)
                if cell is None or cid in guessed or "inferred_blank" not in cell.flags:
                    continue
                if "unverified" not in cell.flags:
                    cell.flags.append("unverified")

    def pin(self, doc: DocumentState, lay: Layout) -> None:
        """Cells of failed hard rules that another hard rule pins (`pinned_cells`), or that no smallest
        explanation of the failures holds (`outside_least_explanations`), are flagged `PINNED`: review
        shows the failure's suspects, not every figure of its column."""
        opts = self.options
        pinned = pinned_cells(doc, lay, opts.pin_confidence)
        if opts.least_explanation_cells:
            pinned |= outside_least_explanations(doc, lay, opts)
        for cid in pinned:
            cell = doc.cells[cid]
            if PINNED not in cell.flags:
                cell.flags.append(PINNED)

    def doubt(self, doc: DocumentState) -> None:
        """The evidence against cells that no confidence may hide: a failed warning lowers its
        cells' confidence, and a cell not read as printed (DOUBT_FLAGS) is never confident."""
        opts = self.options
        warned = {cid for c in doc.checks if c.severity == "warning" and c.status == "failed" for cid in c.cells}
        for cid, cell in doc.cells.items():
            if cid in warned:
                cell.confidence = min(cell.confidence, opts.warning_confidence)
                if "failed_warning" not in cell.flags:
                    cell.flags.append("failed_warning")
            cell.confidence = min(cell.confidence, doubt_cap(cell.flags, opts.doubt_confidence, opts.unverified_confidence))


__all__ = [
    "DOUBT_FLAGS",
    "INFERRED_FLAGS",
    "PINNED",
    "RulesOptions",
    "RulesStage",
    "check_rules",
    "cross_report_checks",
    "evaluate",
    "failing_hard_cells",
    "fill_from_sums",
    "least_explanations",
    "narrative_checks",
    "outside_least_explanations",
    "pinned_cells",
    "tables_printing_zeros",
    "unplaceable_cells",
    "zeros_for_doubtful_blanks",
]
