"""Reconstruction stage: labeled tokens → the canonical cells, with confidence and alternatives."""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass

from pydantic import BaseModel, Field

from extraction.document import INFERRED_SCORE, Anchor, CellValue, DocumentState, Token
from extraction.reconstruct.solver import JointSolver, Reading, Segment, dedupe, inside_checks, readings, unary_filter
from extraction.schema import Constraint, Layout, hard_constraints, layout
from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW
from extraction.schema.model import Row


class ReconstructOptions(BaseModel):
    prose_stop_chars: int = Field(
        default=12, description="After a row's first value, a text token longer than this ends the row (prose)"
    )
    ambiguous_confidence: float = Field(
        default=0.3, description="Confidence of a cell whose value differs between readings that satisfy the rules"
    )
    missing_confidence: float = Field(default=0.2, description="Confidence of a cell whose row label was not found")
    max_readings: int = Field(
        default=2000, description="Readings kept per row (the most plausible), bounding the joint solve's work"
    )
    alternatives_budget_s: float = Field(
        default=8.0,
        description="Seconds per document for re-solving the rules to list each ambiguous cell's alternatives; "
        "past it, alternatives are the plausible readings (bounds a badly read scan's reconstruction)",
    )
    inferred_label_confidence: float = Field(
        default=0.7, description="Confidence of a cell whose row label was placed by printing order, not read"
    )
    corrected_confidence: float = Field(
        default=0.75, description="Confidence of a cell whose OCR reading was replaced by an alternative the sums need"
    )
    unverified_confidence: float = Field(
        default=0.5,
        description="Confidence of every cell of a row that printed fewer figures than columns (or glued ones) "
        "where no hard rule checks the placement (table 二): which figure is which cell is a guess",
    )
    unread_blank_confidence: float = Field(
        default=0.6,
        description="Confidence of a cell read as blank on an OCR'd page (an empty cell and a figure OCR missed "
        "look the same there)",
    )


@dataclass
class Span:
    anchor: Anchor | None
    values: list[Token]
    # the values were given the row by printing order alone (a list of labels, then their
    # figures): which row a figure is, nothing printed beside it says
    by_order: bool = False


def _spans(doc: DocumentState, options: ReconstructOptions, strays: list[Span] | None = None) -> dict[str, Span]:
    """Value tokens following each anchor, up to the next anchor (only the last anchor of a token
    owns the values after it). `strays` collects the spans of column and section anchors that hold
    figures: figures no row label precedes."""
    anchors = doc.anchors
    tokens = doc.tokens
    out: dict[str, Span] = {}
    for i, a in enumerate(anchors):
        nxt = anchors[i + 1].token if i + 1 < len(anchors) else len(tokens)
        nxt = _before_next_label(tokens, a.token, nxt)
        values: list[Token] = []
        own: list[Token] = []  # blank cells on the anchor's own line
        if nxt > a.token:
            started = False
            line = tokens[a.token].line
            remark_line: int | None = None  # the line of a figure's remark left open: wrapped over cells
            prev: Token | None = None
            for t in tokens[a.token + 1 : nxt]:
                if t.kind == "text":
                    depth = t.text.count("(") + t.text.count("（") - t.text.count(")") - t.text.count("）")
                    # a remark opens in its figure's own cell ("20（其中修订"), not in a label's
                    # wrapped text ("(区分处理的,")
                    after_figure = (
                        prev is not None and prev.kind == "number" and (prev.line, prev.field) == (t.line, t.field)
                    )
                    if depth > 0 and after_figure:
                        remark_line = t.line
                    elif depth < 0 or t.line != remark_line:
                        remark_line = None
                prev = t
                if t.kind == "number" and t.line == remark_line:
                    continue  # a figure inside a remark ("20（其中修订" / "5" / "件）": 5 is no cell's)
                if t.kind == "text":
                    if started and len(t.key) > options.prose_stop_chars:
                        break
                    if not started:
                        if not own and values and all(v.line == line for v in values):
                            own = values
                        values = []  # blanks before header or label text are that text's cells
                    continue
                if t.kind == "number" and t.narrative:
                    if started:
                        break
                    continue
                values.append(t)
                started = started or t.kind == "number"
            if own and not started:
                values = own  # no figure follows: the row is its own blank cells (not the next line's)
        out[f"{a.kind}:{a.key}"] = Span(a, values)
        if strays is not None and a.kind in ("column", "section") and _numbers(values):
            strays.append(Span(a, values))
    return out


def _before_next_label(tokens: list[Token], own: int, nxt: int) -> int:
    """Where the span of the anchor at token `own` ends, given the next anchor at `nxt`: before
    the empty cells and text that open the next anchor's line ahead of it, when that is another
    line. They are the next row's label columns (a merged group label's covered cells:
    "\\t\\t2.重复申请\\t0…"), not blank figures of this row: taken as its cells, they made a row
    printed with no figure (or one figure short) read as blank cells, confidently."""
    if nxt >= len(tokens) or tokens[nxt].line == tokens[own].line:
        return nxt
    line = tokens[nxt].line
    stop = nxt
    while stop - 1 > own and tokens[stop - 1].line == line and tokens[stop - 1].kind in ("blank", "text"):
        stop -= 1
    return stop


def _stray_tables(lay: Layout, anchors: list[Anchor], strays: list[Span]) -> set[str]:
    """Tables 二 and 三 with figures printed where no row label precedes them, inside the table
    (between its first and last row label): a figure printed above its label (a top-aligned cell
    beside a centred label), so each row may have taken the next one's figure. Table 四's figures
    follow its column headers by design."""
    out: set[str] = set()
    for table in lay.tables:
        if table.key == "appeals":
            continue
        ids = {row.id for row in table.rows}
        at = [a.token for a in anchors if a.kind == "row" and a.key in ids]
        if at and any(min(at) < s.anchor.token < max(at) for s in strays if s.anchor is not None):
            out.add(table.key)
    return out


def _label_less_rows(rows: list[tuple[Row, Span | None]], tokens: list[Token]) -> None:
    """Rows whose label was not read (a seal or a stain over it, OCR lost it): when a row's own
    line already holds all its figures and each line after it holds one full row of figures,
    while the rows printed next were not found, those lines are those rows, in order (else
    their figures would be taken as extra values of the row above).

    On a page, a figure read left of the row's first figure column is a piece of the label
    columns (a seal's stroke, a fax's speck read as "1"), not a cell: it is left out of its line,
    and a line of such pieces alone is no row. A row found with no figure of its own takes the
    next line when its label stands level with that line on the page or below it (a skewed photo
    puts the label's line after its figures' line; a wrapped label's later line read as the
    label leaves its first line, beside the figures, unmatched)."""
    for i, (row, span) in enumerate(rows):
        if span is None or span.anchor is None or not span.values:
            continue
        width = len(row.columns)
        own_line = tokens[span.anchor.token].line
        by_line: dict[int, list[Token]] = {}
        for t in span.values:
            by_line.setdefault(t.line, []).append(t)
        lines = list(by_line.values())
        if len(lines) < 2 or lines[0][0].line != own_line:
            continue
        if _numbers(lines[0]) < width and _row_cells(lines[0], width) is None:
            continue
        left = _first_column_left(lines[0], width)
        if left is not None:
            lines = [lines[0], *(kept for ln in lines[1:] if (kept := _in_figure_columns(ln, left)))]
        taken = 0
        for j in range(i + 1, len(rows)):
            if taken + 1 >= len(lines) or len(rows[j][0].columns) != width:
                break
            ln = _row_cells(lines[taken + 1], width)
            if ln is None:
                break
            found = rows[j][1]
            if found is not None and not _label_level_or_below(found, ln, tokens):
                break
            rows[j] = (rows[j][0], Span(found.anchor if found is not None else None, ln))
            taken += 1
        if taken:
            rows[i] = (row, Span(span.anchor, lines[0]))


# A figure whose centre lies further left of the row's first figure than this share of the
# figure columns' pitch is in the label columns.
LABEL_COLUMN_MARGIN = 0.5


def _first_column_left(line: list[Token], width: int) -> float | None:
    """The x left of which a token of a later line is in the label columns, from a row's own
    line of `width` cells on a page (its last `width` tokens); None off a page."""
    boxes = [t.bbox for t in line[-width:] if t.bbox is not None and t.page is not None]
    if width < 2 or len(boxes) < 2:
        return None
    centres = sorted((b[0] + b[2]) / 2 for b in boxes)
    pitch = (centres[-1] - centres[0]) / (width - 1)
    return centres[0] - LABEL_COLUMN_MARGIN * pitch


def _in_figure_columns(line: list[Token], left: float) -> list[Token]:
    """The line without the figures read in the label columns; empty when it holds no other."""
    kept = [
        t for t in line if t.bbox is None or t.page is None or (t.bbox[0] + t.bbox[2]) / 2 >= left
    ]
    return kept if _numbers(kept) else []


def _label_level_or_below(span: Span, line: list[Token], tokens: list[Token]) -> bool:
    """A found row with no figure whose label stands on the page level with a line of figures
    printed before it, or below it (the figures beside the first line of a wrapped label whose
    later line was read as the row's label)."""
    if span.anchor is None or _numbers(span.values):
        return False
    label = tokens[span.anchor.token]
    boxes = [t.bbox for t in line if t.bbox is not None and t.page == label.page]
    if label.bbox is None or label.page is None or not boxes or len(boxes) < _numbers(line):
        return False
    return min(b[1] for b in boxes) <= label.bbox[3]  # the label is not wholly above the figures


def _stacked_in_one_cell(pending: list[Span | None], last: Span, tokens: list[Token]) -> bool:
    """Row labels read as one cell of a page, the last of them followed by all their lines of
    figures: a rule between label cells that the page lost (a fax, a light print) merged them, and
    each label's figures are still printed on a line of their own, in the labels' order."""
    if last.anchor is None:
        return False
    own = tokens[last.anchor.token]
    if own.page is None:
        return False
    for span in pending:
        if span is None or span.anchor is None:
            return False
        label = tokens[span.anchor.token]
        if (label.page, label.line, label.field) != (own.page, own.line, own.field):
            return False
    return True


def _row_cells(line: list[Token], width: int) -> list[Token] | None:
    """A line's slots as one row of `width` cells, figures among them, or None. Empty cells
    before its first figure beyond the row's width are its label's columns, left empty (a row
    whose label was lost prints "|  | 0 | 0 | … |")."""
    start = 0
    while len(line) - start > width and line[start].kind == "blank":
        start += 1
    cells = line[start:]
    return cells if len(cells) == width and _numbers(cells) else None


def _figures_before_a_lost_label(rows: list[tuple[Row, Span | None]], tokens: list[Token]) -> None:
    """A row whose figures stand on lines after its label's, none beside it, while the next row's
    label was not read: the figures may be the next row's, printed under a label that was lost,
    and this row printed none (a text layer prints a blank row as its label alone). Which of the
    two rows they are, nothing printed says, and sibling rows add up the same: they are placed by
    printing order (unverified). Text inputs only: on a page a line is a band of the page, and a
    figure's position beside the labels is read, not its line."""
    for i, (row, span) in enumerate(rows[:-1]):
        if span is None or span.anchor is None or rows[i + 1][1] is not None:
            continue
        nums = [t for t in span.values if t.kind == "number"]
        if nums and all(t.line != tokens[span.anchor.token].line and t.page is None for t in nums):
            rows[i] = (row, dataclasses.replace(span, by_order=True))


def _numbers(values: list[Token]) -> int:
    return sum(1 for t in values if t.kind == "number")


class Reconstructor:
    """Stage: anchors and value tokens → segments → jointly solved readings → cells."""

    name = "reconstruct"
    version = "4"  # 2: up to `MAX_SUBSTITUTIONS` OCR alternatives read at once in one row's reading; 3: figures
    # read in the label columns leave a label-less row's line, and a found row with no figure takes the line level with it;
    # 4: or the line above it (a wrapped label read from its second line), and labels read as one cell share their lines

    def __init__(self, options: ReconstructOptions | None = None) -> None:
        self.options = options or ReconstructOptions()

    def __call__(self, doc: DocumentState) -> None:
        strays: list[Span] = []
        spans = _spans(doc, self.options, strays)
        variants: list[str] = list(doc.variants)
        if doc.format == "2021":
            group = spans.get("section:group.other")
            subrows = [spans.get(f"row:applications.other.{k}") for k in ("no_amendment", "fee_unpaid", "other")]
            # （六）其他处理 printed as one row: its figures beside the group label and none under
            # sub-rows, or no sub-row label in the text at all (a row printed without figures is
            # then that one row, missing, not three sub-rows). Not on an OCR'd page: OCR that
            # lost the sub-rows' labels (a fax) is no evidence they were not printed, and the
            # statutory template prints three sub-rows, so they stay, missing and in review.
            one_row = _numbers(group.values) and not any(s and _numbers(s.values) for s in subrows) if group else False
            if group and (one_row or (not any(subrows) and not doc.ocr_read)):
                variants.append(VARIANT_OTHER_SINGLE_ROW)
                spans["row:applications.other"] = group
                # its figures are that row's, not figures printed where no row label precedes them
                strays = [s for s in strays if s.anchor is not group.anchor]
            # A sub-row read with neither its group label nor all its siblings: which of the one
            # row and the three sub-rows is printed was not read (a page reader that cut
            # （六）其他处理 after 其他 had it match 3.其他, and the sums hold either way).
            lone_subrows = group is None and any(subrows) and not all(subrows)
        else:
            lone_subrows = False
        doc.variants = sorted(set(variants))
        lay = layout(doc.format or "2021", tuple(doc.variants))
        stray_tables = _stray_tables(lay, doc.anchors, strays)
        segments = self._segments(lay, spans, doc.tokens)
        if lone_subrows:
            for seg in segments:
                if seg.cells and seg.cells[0].startswith("applications.other."):
                    seg.label_unread = True
        hard = list(hard_constraints(lay))
        for seg in segments:
            seg.checks = inside_checks(seg.cells, hard)
            seg.readings = readings(seg)
            _soft_priors(seg)
            dedupe(seg)
            unary_filter(seg)
            if len(seg.readings) > self.options.max_readings:
                # a long run of glued digits on a badly read row: keep the most plausible cuts
                seg.readings = sorted(seg.readings, key=lambda r: -r.prior)[: self.options.max_readings]
        solver = JointSolver(segments, hard)
        solution = solver.solve()
        constrained = {cid for c in hard for cid in c.cells}
        doc.cells = {}
        # Re-solving for each ambiguous segment's alternatives costs a whole solve each; a badly
        # read scan can have dozens of them, so past the budget the alternatives come from the
        # readings' plausibility alone (the cells are still flagged, never silently chosen).
        budget_end = time.monotonic() + self.options.alternatives_budget_s
        found_alternatives: list[list[Reading]] = []
        for k, seg in enumerate(segments):
            chosen = seg.readings[solution.choice[k]]
            alternatives: list[Reading] = []
            if len(seg.readings) > 1:
                if any(cid in constrained for cid in seg.cells) and time.monotonic() < budget_end:
                    banned: set[int] = {solution.choice[k]}
                    for _ in range(6):
                        alt = solver.solve(banned={k: banned})
                        ri = alt.choice[k]
                        if ri in banned or alt.violations > solution.violations:
                            break
                        banned.add(ri)
                        # Two or more OCR alternatives read at once that the sums do not prefer
                        # are no rival of the readings as first read.
                        if len(seg.readings[ri].corrected - chosen.corrected) < 2:
                            alternatives.append(seg.readings[ri])
                        if len(alternatives) == 3:  # a few alternatives are enough to flag the cells
                            break
                else:
                    alternatives = [r for r in seg.readings if r is not chosen and r.prior >= chosen.prior - 1.0]
            alternatives = [r for r in alternatives if not _moves_printed_blank(doc, chosen, r)]
            found_alternatives.append(alternatives)
        blank_rows = _blank_rows_by_sums(doc, segments, solution.choice, found_alternatives, hard, stray_tables)
        for k, seg in enumerate(segments):
            chosen = seg.readings[solution.choice[k]]
            if k in blank_rows:
                chosen = dataclasses.replace(chosen, flags=(chosen.flags - {"missing"}) | {"blank"})
            stray = any(cid.split(".", 1)[0] in stray_tables for cid in seg.cells)
            self._emit(doc, seg, chosen, found_alternatives[k], constrained, stray)
        doc.flags = document_flags(lay, segments, doc.cells) + [f"stray_figures:{t}" for t in sorted(stray_tables)]

    def _segments(self, lay: Layout, spans: dict[str, Span], doc_tokens: list[Token]) -> list[Segment]:
        segments: list[Segment] = []
        for table in lay.tables:
            if table.key == "appeals":
                values: list[Token] = []
                for key, part in spans.items():
                    if part.anchor is not None and (
                        key == "heading:appeals" or (part.anchor.kind == "column" and _is_appeals(key))
                    ):
                        values.extend(part.values)
                cells = table.cell_ids
                kinds = [lay.cells[c].kind for c in cells]
                seg = Segment(cells, values, kinds, found="heading:appeals" in spans or bool(values))
                seg.grid = _grid_from_headers(
                    doc_tokens, spans.get("heading:appeals"), values, _APPEAL_HEADERS, len(cells)
                )
                segments.append(seg)
                continue
            rows: list[tuple[Row, Span | None]] = []
            for row in table.rows:
                span = spans.get(f"row:{row.id}")
                rows.append((row, span))
            # Detached row labels: labels printed as a list, then their rows of numbers, each row
            # on a line of its own (a converter's table of figures below its labels). Not figures
            # on the last label's own line: those are its row's (with another row's after them,
            # its label lost, or a stray), while the labels before it printed none (a text layer
            # prints a blank row as its label alone), unless the labels were read in one cell of
            # a page (`_stacked_in_one_cell`). Rows whose figures share a line are placed by
            # printing order alone, and siblings' sums do not tell them apart: unverified.
            pending: list[int] = []
            for i, (row, span) in enumerate(rows):
                if span is None:
                    continue
                n = _numbers(span.values)
                width = len(row.columns)
                if n == 0:
                    pending.append(i)
                    continue
                nums = [t for t in span.values if t.kind == "number"]
                if (
                    pending
                    and n == (len(pending) + 1) * width
                    and all(len(rows[p][0].columns) == width for p in pending)
                    and not (
                        span.anchor is not None
                        and nums[0].line == doc_tokens[span.anchor.token].line
                        and not _stacked_in_one_cell([rows[p][1] for p in pending], span, doc_tokens)
                    )
                ):
                    chunks = [nums[j * width : (j + 1) * width] for j in range(len(pending) + 1)]
                    own_lines = len({c[0].line for c in chunks}) == len(chunks) and all(
                        len({t.line for t in c}) == 1 for c in chunks
                    )
                    for p, chunk in zip([*pending, i], chunks, strict=True):
                        row_p, span_p = rows[p]
                        rows[p] = (row_p, Span(span_p.anchor if span_p else None, chunk, by_order=not own_lines))
                pending = []
            _label_less_rows(rows, doc_tokens)
            _figures_before_a_lost_label(rows, doc_tokens)
            table_segments = []
            for row, span in rows:
                kinds = [c.kind for c in row.columns]
                if span is None:
                    table_segments.append(Segment(row.cell_ids, [], kinds, found=False))
                else:
                    seg = Segment(row.cell_ids, span.values, kinds)
                    seg.inferred_label = span.anchor is not None and span.anchor.score <= INFERRED_SCORE
                    # no anchor: a line of figures `_label_less_rows` gave the next row not found, by
                    # printing order alone (which of the rows it is, the sums may not tell: （六）'s
                    # one row read as its first sub-row added up the same)
                    seg.label_unread = span.anchor is None or span.by_order
                    table_segments.append(seg)
            _grids_from_rows(table_segments)
            segments.extend(table_segments)
        return segments

    def _emit(
        self,
        doc: DocumentState,
        seg: Segment,
        chosen: Reading,
        alternatives: list[Reading],
        constrained: set[str],
        stray: bool = False,
    ) -> None:
        opts = self.options
        ocr_read = doc.ocr_read
        mates = _run_mates(seg, chosen, alternatives)
        # figures of the row's table stood where no row label preceded them: with no hard rule
        # over the row, its figure may be another row's
        unverified = (
            _unverified_placement(seg, chosen, constrained)
            or (stray and not any(cid in constrained for cid in seg.cells))
            or _doubted_by_ingest(doc, seg)
            or seg.label_unread
            or _figures_left_out(doc, seg, chosen)
            or _another_lines_figures_left_out(doc, seg, chosen)
            or _cell_lost_from_delimited_row(doc, seg, chosen)
            or _end_blank_may_be_next_labels(doc, seg, chosen)
        )
        # the sums chose this guessed placement over a more plausible reading of the row
        overruled = any(r.prior > chosen.prior for r in seg.readings)
        for i, cid in enumerate(seg.cells):
            tok_index = chosen.tokens[i]
            tok = doc.tokens[tok_index] if tok_index is not None else None
            flags = set(chosen.flags)
            if overruled and flags & GUESSED_PLACEMENT:
                flags.add(SUMS_CHOSE)
            confidence = tok.confidence if tok is not None else 1.0
            alts = sorted({_key(r.values[i]) for r in alternatives if r.values[i] != chosen.values[i]}, key=str)
            if not alts and i in mates:
                alts = sorted({_key(v) for v in mates[i]}, key=str)
            if not seg.found:
                confidence = opts.missing_confidence
                flags.add("missing")
            elif seg.inferred_label:
                # The row's label was not read, only its place in the printing order.
                confidence = min(confidence, opts.inferred_label_confidence)
                flags.add("label_inferred")
            elif alts:
                confidence = min(confidence, opts.ambiguous_confidence)
                flags.add("ambiguous")
            elif flags & {"incomplete", "unread", "missing"}:
                # A row found without its figures, on any input kind: the figures were not read (a
                # seal, faint ink, a table drawn in a way the page reader missed), never "blank".
                confidence = min(confidence, opts.missing_confidence)
            elif unverified:
                confidence = min(confidence, opts.unverified_confidence)
                flags.add("unverified")
            elif i in chosen.corrected:
                # The sums chose another OCR reading than the engine's first: reviewed.
                confidence = min(confidence, opts.corrected_confidence)
                flags.add("corrected_by_rule")
            elif ocr_read and chosen.values[i] is None:
                # On a scan, an empty cell and a figure OCR missed (a faint 0, one under a stamp) look alike.
                confidence = min(confidence, opts.unread_blank_confidence)
            elif flags & {"split_digits", "inferred_blank", "extra_values"}:
                confidence *= 0.96
            if tok is not None and tok_index is not None and tok.kind == "number" and doc.token_labels:
                doc.token_labels[tok_index] = "value"
            doc.cells[cid] = CellValue(
                value=chosen.values[i],
                confidence=round(max(0.0, min(1.0, confidence)), 4),
                text=chosen.texts[i],
                page=tok.page if tok else None,
                bbox=tok.bbox if tok else None,
                tokens=[tok_index] if tok_index is not None else [],
                flags=sorted(flags - {"blank"}) if chosen.values[i] is not None else sorted(flags),
                alternatives=[_unkey(a) for a in alts],
                source=doc.labeler,
            )


# reading flags that say the row's figures were placed by a guess, not one figure per printed cell
GUESSED_PLACEMENT = frozenset({"split_digits", "inferred_blank", "extra_values", "incomplete"})
# The flag of a guessed placement that the sums chose over a more plausible reading of its row: the
# sums are its only evidence (`extraction.rules.RulesStage.unverify_guesses_held_by_unread`).
SUMS_CHOSE = "chosen_by_sums"


def _run_mates(seg: Segment, chosen: Reading, alternatives: list[Reading]) -> dict[int, list]:
    """Cells cut from the same glued digit run as a cell the sums or the priors left a rival value
    (`ambiguous`), whose own value the rival readings kept by chance: cell index -> the values other
    cuttings of the run give it. "行政规范性文件1118" read 1 | 1 | 18 with 1 | 11 | 8 as rival: the
    first cell is 1 in both, yet 11 | 1 | 8 (the printed one) cuts it 11. Which cut is right is
    one question for the whole run: all its cells are in doubt."""
    if "split_digits" not in chosen.flags:
        return {}
    n = len(seg.cells)
    rival = [any(r.values[i] != chosen.values[i] for r in alternatives) for i in range(n)]
    runs = {chosen.tokens[i] for i in range(n) if rival[i] and chosen.tokens[i] is not None}
    out: dict[int, list] = {}
    for i in range(n):
        if rival[i] or chosen.tokens[i] not in runs:
            continue
        others = sorted(
            (r for r in seg.readings if r.tokens[i] == chosen.tokens[i] and r.values[i] != chosen.values[i]),
            key=lambda r: -r.prior,
        )
        values = list(dict.fromkeys(r.values[i] for r in others))[:3]
        if values:
            out[i] = values
    return out


def _moves_printed_blank(doc: DocumentState, chosen: Reading, rival: Reading) -> bool:
    """Whether `rival` differs from `chosen` only by where an empty cell stands among zeros, and
    `chosen` reads every empty cell where the input printed one (a blank slot: an empty cell of a
    page's table with no ink in it, or of a delimited text row) while `rival` guessed its gaps
    (`inferred_blank`). A blank and a 0 are the same to every sum, so the sums tie such readings;
    the rival contradicts the printed cell and is no rival (a scan's row 0 0 _ 0 0 0 0 had its 0s
    flagged ambiguous against a gap guessed at either end). Whether the empty slot is a figure
    the reader missed is its own doubt (an OCR'd blank is unverified by the rules stage)."""
    if "blank" not in chosen.flags or "inferred_blank" not in rival.flags:
        return False
    if any((a or 0) != (b or 0) for a, b in zip(chosen.values, rival.values, strict=True)):
        return False
    for value, t in zip(chosen.values, chosen.tokens, strict=True):
        if value is None and (t is None or doc.tokens[t].kind != "blank" or doc.tokens[t].confidence < 1.0):
            return False
    return True


def _figures_left_out(doc: DocumentState, seg: Segment, chosen: Reading) -> bool:
    """A row of a text input (no page, no OCR) read with printed figures left out (more figures
    than cells, `extra_values`) where which ones are left out changes the row: the figures left
    out may be the row's own and those kept another row's (a line of 14 figures after a label
    printed with none, the next row's label lost: the sums, or a source error they break, picked
    7 of them). Without positions nothing says which figures are the row's, whatever the sums
    hold. A cell repeated over merged columns (a converter's "| 行政处罚 | 3 | 3 | 3 |") reads the
    same whichever copy is kept: no doubt."""
    if "extra_values" not in chosen.flags or doc.pages or doc.ocr_read:
        return False
    figures = [i for i, t in enumerate(seg.slots) if t.kind == "number"]
    if any(t.kind == "blank" for t in seg.slots[figures[0] : figures[-1]]):
        return True  # an empty cell printed among the figures: the reading, of figures only, lost it
    runs = [seg.slots[i].text for i in figures]
    n = len(seg.cells)
    return len({tuple(runs[s : s + n]) for s in range(len(runs) - n + 1)}) > 1


def _another_lines_figures_left_out(doc: DocumentState, seg: Segment, chosen: Reading) -> bool:
    """A row of a page read with printed figures left out (`extra_values`) where a printed line of
    two or more figures was left out whole: the page reader gave the row another row's line of
    figures too, and which line is the row's its position did not say (a table with no rules,
    its figures level with the first line of a label wrapped over two: 不予公开's 2. row's 57 … 60
    went with 3.'s 17 … 17, and 3. kept 57 … 60 at 0.999 while 2. came out missing). A stray
    figure from another line (a seal's stroke) or a line of text with numbers (a fax's banner) is
    no such line: the row keeps its confidence."""
    if "extra_values" not in chosen.flags or not (doc.pages or doc.ocr_read):
        return False
    kept = {t for t in chosen.tokens if t is not None}
    lines: dict[int, list[Token]] = {}
    for t in seg.slots:
        if t.kind == "number":
            lines.setdefault(t.line, []).append(t)
    if len(lines) < 2:
        return False
    # a line of figure cells (each its own field), not a line of text with numbers in it (a fax's
    # banner "2024-06-18 … 0582800934 … 5" under the row: one field)
    return any(
        len({t.field for t in toks}) >= 2 and kept.isdisjoint(t.index for t in toks) for toks in lines.values()
    )


def _cell_lost_from_delimited_row(doc: DocumentState, seg: Segment, chosen: Reading) -> bool:
    """A row of a delimited text (each figure in a cell of its own: tabs, pipes, table cells),
    read with a blank cell it does not print (`inferred_blank`) before its last figure. Such a
    text prints a blank cell as an empty one: a cell missing inside the row was lost, and
    whether it held a figure (a 0 the sums cannot miss) or nothing, and which cell it was where
    zeros surround it, is a guess. A row that only stops early (its trailing empty cells
    dropped, as pasting a table does) is read as printed."""
    if "inferred_blank" not in chosen.flags or doc.pages or doc.ocr_read:
        return False
    nums = [t for t in seg.slots if t.kind == "number"]
    if len(nums) < 2 or any(t.col is not None for t in nums) or len({(t.line, t.field) for t in nums}) < len(nums):
        return False  # figures sharing a field (a text layer's row: a blank cell prints as nothing) or aligned
    last = max(i for i, t in enumerate(chosen.tokens) if t is not None)
    return any(chosen.tokens[i] is None for i in range(last))


def _end_blank_may_be_next_labels(doc: DocumentState, seg: Segment, chosen: Reading) -> bool:
    """A row of a text printed one cell a line (each figure and each empty cell on a line of its
    own), read with blank cells at its end taken from a run of empty lines longer than they are:
    the run goes on to the next row's label, whose merged label columns print as empty lines too.
    Which of those empty lines are the row's own cells, and so whether a figure of the row was
    lost, nothing printed says (a row printing six figures took the next row's empty label line
    as its blank 总计, at 0.999). With as many empty lines as blank cells the same holds where the
    table prints merged label cells as empty lines (the row's own label opens with them): the
    next label may be one whose covered cells are a single empty line (the last row of a group,
    before the next group's label, took that line as its blank 总计)."""
    if "blank" not in chosen.flags or doc.pages or doc.ocr_read or len(seg.slots) < len(seg.cells):
        return False
    if len({t.line for t in seg.slots}) < len(seg.slots):
        return False  # cells sharing a line: a delimited row, read where it prints
    figures = [i for i, t in enumerate(seg.slots) if t.kind == "number"]
    if not figures or chosen.values[-1] is not None:
        return False
    run = len(seg.slots) - 1 - figures[-1]  # empty lines after the row's last figure
    ending = 0  # blank cells the reading ends with
    for v in reversed(chosen.values):
        if v is not None:
            break
        ending += 1
    return run > ending or (run == ending > 0 and _label_opens_with_empty_lines(doc, seg))


def _label_opens_with_empty_lines(doc: DocumentState, seg: Segment) -> bool:
    """Whether the lines of the row's label (the text lines right above its first cell) have an
    empty line right above them: a text printed one cell a line writes a merged label column's
    covered cell so."""
    first = min(t.line for t in seg.slots)
    kinds: dict[int, set[str]] = {}
    for t in doc.tokens:
        if t.line < first:
            kinds.setdefault(t.line, set()).add(t.kind)
    k = first - 1
    while k >= 0 and kinds.get(k) == {"text"}:
        k -= 1
    return 0 <= k < first - 1 and kinds.get(k) == {"blank"}


def _doubted_by_ingest(doc: DocumentState, seg: Segment) -> bool:
    """A row of a text input (no page, no OCR) whose cells ingest read with doubt: converter
    Markdown's figures detached above table 二 that the rows could not take unambiguously leave
    the rows lacking a figure at `DETACHED_FIGURE_CONFIDENCE` (extraction.ingest.text). Which of
    its cells a detached figure belongs in is a guess, and only a flag keeps the calibrator from
    reading the row as printed (it lifted such blanks to 0.9993, out of review)."""
    # (a token with OCR alternatives is an OCR reading, doubted by its engine: not this)
    return not doc.pages and not doc.ocr_read and any(t.confidence < 1.0 and not t.alternatives for t in seg.slots)


def _blank_rows_by_sums(
    doc: DocumentState,
    segments: list[Segment],
    choice: list[int],
    alternatives: list[list[Reading]],
    hard: list[Constraint],
    stray_tables: set[str],
) -> set[int]:
    """Segments (rows) of a text input whose label was read and printed no figure at all, that the
    statutory sums confirm blank: every cell of the row is in a hard rule that holds with the row
    empty and that a printed figure of another row takes part in (its column's 总计, the balance).
    A text layer drops empty cells (a PDF's text, a report on one line), so such a row is how a
    blank row prints: were any of its figures lost, its column would not add up. Not on a page
    (an empty row there may be ink the reader missed), not in a table whose figures were misplaced
    (figures with no label before them, a row with more figures than cells, rows given figures by
    printing order: a lost row's zeros may sit there), not when a cell of another row in the same rules was not read or has a rival reading
    (glued digits the sums cut one way only are read)."""
    if doc.pages or doc.ocr_read:
        return set()
    values: dict[str, float | int | None] = {}
    printed: set[str] = set()  # cells read from a printed figure
    unsure: set[str] = set()  # cells of rows not read as printed
    misplaced: set[str] = set(stray_tables)
    for seg, ri, alts in zip(segments, choice, alternatives, strict=True):
        r = seg.readings[ri]
        for cid, v, tok in zip(seg.cells, r.values, r.tokens, strict=True):
            values[cid] = v
            if tok is not None and v is not None:
                printed.add(cid)
        rival = any(a.values != r.values for a in alts)  # the sums left it another reading (ambiguous)
        if not seg.found or seg.inferred_label or rival or r.flags & {"missing", "incomplete", "unread"}:
            unsure.update(seg.cells)
        if r.flags & {"extra_values", "inferred_blank"} or seg.label_unread:
            # (figures given a row by printing order: a row's figures may have moved to another)
            misplaced.update(cid.split(".", 1)[0] for cid in seg.cells)
    candidates = {
        k
        for k, (seg, ri) in enumerate(zip(segments, choice, strict=True))
        if seg.found
        and not seg.inferred_label
        and not seg.slots
        and seg.readings[ri].flags == {"missing"}
        and not any(cid.split(".", 1)[0] in misplaced for cid in seg.cells)
    }
    empty = {cid for k in candidates for cid in segments[k].cells}

    def confirms(c: Constraint) -> bool:
        """The rule holds with every candidate row empty, a printed figure takes part, every other
        cell was read, and the empty cells are all on one side (counts are ≥ 0: on one side of a sum
        that holds, each is 0; on both sides they could cancel)."""
        sides = {cid in c.left for cid in c.cells if cid in empty}
        others = [cid for cid in c.cells if cid not in empty]
        return (
            c.kind == "eq"  # (a "≥" rule that holds does not say the row is 0)
            and len(sides) == 1
            and c.holds(values)
            and any(cid in printed for cid in others)
            and not any(cid in unsure for cid in others)
        )

    confirmed = {cid for c in hard if confirms(c) for cid in c.cells if cid in empty}
    return {k for k in candidates if all(cid in confirmed for cid in segments[k].cells)}


def _unverified_placement(seg: Segment, chosen: Reading, constrained: set[str]) -> bool:
    """A row that printed separate figures, fewer or more than its cells, placed with no hard rule
    over it and no column positions to go by (table 二 of a flattened text): which figure is in
    which cell is a guess, and no calibration can know it (the synthetic flatteners never print
    such a row; real reports do). Glued digit runs are not this: there the cuts' length priors
    decide, and they measure right."""
    if not chosen.flags & GUESSED_PLACEMENT or len(seg.readings) < 2:
        return False
    if any(cid in constrained for cid in seg.cells):
        return False
    runs = [t for t in seg.slots if t.kind == "number"]
    return not any(t.glued for t in runs)


def document_flags(lay: Layout, segments: list[Segment], cells: dict[str, CellValue]) -> list[str]:
    """Document-level flags: a statutory table none of whose rows was found, and rows found
    without (all) their figures. Their cells are in review; these say why, in one place."""
    flags: list[str] = []
    found = {cid for seg in segments if seg.found for cid in seg.cells}
    for table in lay.tables:
        # not found: no row label, or labels (a heading) with not one figure or blank cell read
        if all(cid not in found or "missing" in cells[cid].flags for cid in table.cell_ids if cid in cells):
            flags.append(f"table_not_found:{table.key}")
            continue
        for row in table.rows:
            row_flags = {f for cid in row.cell_ids if cid in cells for f in cells[cid].flags}
            if row_flags & {"missing", "incomplete", "unread"} and any(cid in found for cid in row.cell_ids):
                flags.append(f"row_not_read:{row.id}")
            elif "unverified" in row_flags:
                flags.append(f"row_unverified:{row.id}")
    return flags


_APPEAL_HEADERS = {"结果维持", "结果纠正", "其他结果", "尚未审结", "总计"}


def _numbers_with_columns(seg: Segment) -> list[tuple[Token, tuple[float, float]]] | None:
    """The segment's figures with their display columns, or None unless every figure has them."""
    nums = [t for t in seg.slots if t.kind == "number"]
    placed = [(t, t.col) for t in nums if t.col is not None]
    return placed if nums and len(placed) == len(nums) else None


def _grids_from_rows(segments: list[Segment]) -> None:
    """Column extents of space-aligned rows, learned from the rows that print every cell, given
    to the rows of the same width that print fewer values than cells.

    Only rows printed on a line of their own count, as samples and as takers: where several rows
    share a line (one-line text, a flattened page) a figure's display column says where it stands
    on that line, not under which head. Extents that overlap or run out of order are no grid."""
    numbers = {id(seg): _numbers_with_columns(seg) for seg in segments}
    lines_of: dict[int, set[int]] = {}  # line -> the segments with figures on it
    for seg in segments:
        for t, _ in numbers[id(seg)] or []:
            lines_of.setdefault(t.line, set()).add(id(seg))

    def on_own_line(seg: Segment) -> bool:
        nums = numbers[id(seg)]
        if nums is None or len({t.line for t, _ in nums}) != 1:
            return False
        return lines_of[nums[0][0].line] == {id(seg)}

    extents: dict[int, list[list[float]]] = {}
    for seg in segments:
        nums = numbers[id(seg)]
        if nums is None or len(nums) != len(seg.cells) or not on_own_line(seg):
            continue
        ext = extents.setdefault(len(seg.cells), [[float("inf"), float("-inf")] for _ in seg.cells])
        for e, (_, col) in zip(ext, nums, strict=True):
            e[0], e[1] = min(e[0], col[0]), max(e[1], col[1])
    for seg in segments:
        nums = numbers[id(seg)]
        learned = extents.get(len(seg.cells))
        if nums is None or len(nums) >= len(seg.cells) or learned is None or not on_own_line(seg):
            continue
        if all(a[1] < b[0] for a, b in itertools.pairwise(learned)):
            seg.grid = [(lo, hi) for lo, hi in learned]


def _grid_from_headers(
    tokens: list[Token], heading: Span | None, values: list[Token], labels: set[str], n: int
) -> list[tuple[float, float]] | None:
    """Column extents from the header cells printed above a single value row (table 四)."""
    nums = [t for t in values if t.kind == "number"]
    if heading is None or heading.anchor is None or not nums or len(nums) >= n or any(t.col is None for t in nums):
        return None
    headers = [
        t.col
        for t in tokens[heading.anchor.token + 1 : nums[0].index]
        if t.kind == "text" and t.col is not None and t.key in labels
    ]
    if len(headers) != n:
        return None
    return sorted(headers, key=lambda col: col[0])


def _key(v):
    return "null" if v is None else v


def _unkey(v):
    return None if v == "null" else v


def _is_appeals(key: str) -> bool:
    return key.split(":", 1)[1] in {
        "review",
        "litigation",
        "upheld",
        "corrected",
        "other",
        "pending",
        "total",
        "litigation_direct",
        "litigation_after_review",
    }


def _soft_priors(seg: Segment) -> None:
    """Plausibility from the soft rules, for segments no hard rule constrains (table 二)."""
    names = [c.rsplit(".", 1)[1] for c in seg.cells]
    if "in_force" in names and "issued" in names and len(seg.readings) > 1:
        fi, ii = names.index("in_force"), names.index("issued")
        for r in seg.readings:
            a, b = r.values[fi], r.values[ii]
            if a is not None and b is not None and a < b:
                r.prior -= 1.5
