"""Readings of a segment's printed values, and the joint choice that satisfies the hard rules.

A *segment* is a run of cells printed together (one table row; the 15 appeals cells) with the
value tokens found for it. Where tokens and cells do not line up one to one — digits glued into
one run ("640020470" for seven cells), blank cells dropped, OCR alternatives — every reading is
enumerated, and a dynamic programme over the segments in printing order picks the combination
that breaks the fewest hard rules and is most plausible, keeping partial column sums as state.
Other combinations that break no more rules are the alternatives: their cells lose confidence.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from extraction.document import Token
from extraction.schema import Constraint
from extraction.schema.model import ColumnKind

Value = int | float | None
MAX_CANDIDATES = 20_000
# Digits before the point of one figure: amounts (万元, glued runs cut at 16) and counts stay far below
# it; a longer run is bad input (a 3,000-digit run once overflowed float() in the solver).
MAX_FIGURE_DIGITS = 16
BEAM = 4_000
STEP_WORK = 60_000  # states × readings expanded per segment, at most
VIOLATION = 1000.0


@dataclass
class Reading:
    values: tuple[Value, ...]
    prior: float  # log-plausibility; 0 is a clean one-token-per-cell reading
    tokens: tuple[int | None, ...]  # token index each cell was read from
    texts: tuple[str, ...]
    flags: frozenset[str] = frozenset()
    corrected: frozenset[int] = frozenset()  # cells read from an OCR alternative, not the first reading


@dataclass
class Segment:
    cells: list[str]
    slots: list[Token]  # number and blank tokens in printing order
    kinds: list[ColumnKind]  # column kind per cell
    readings: list[Reading] = field(default_factory=list)
    found: bool = True  # the segment's label was found
    checks: list = field(default_factory=list)  # hard rules wholly inside the segment (inside_checks)
    grid: list[tuple[float, float]] | None = None  # display-column extent of each cell (aligned text)
    inferred_label: bool = False  # the row's label was placed by printing order, not matched
    # the row's place was not read: no label of it (its figures given it by printing order), or a
    # sub-row label whose group and siblings were not read; its cells are `unverified`
    label_unread: bool = False


def parse_number(text: str, kind: str, unit: str | None = None) -> Value:
    s = text.replace(",", "")
    if sum(ch.isdigit() for ch in s.partition(".")[0]) > MAX_FIGURE_DIGITS:
        return None  # no statutory figure is this long: unreadable (the cell goes to review), not a crash
    try:
        value: int | float = float(s) if "." in s else int(s)
    except ValueError:
        return None
    if unit == "yuan" and kind == "amount":
        value = float(Decimal(s) / 10000)  # exact decimal shift: 3152700.05元 → 315.270005万元
    if isinstance(value, float) and kind != "amount" and value.is_integer():
        value = int(value)
    return value


def _length_prior(pieces: list[str], kinds: Sequence[ColumnKind]) -> float:
    # Glued digits: balanced, short counts are likelier than one long one with singles around
    # it, and 0 is the commonest value of these tables ("110" reads 11|0 sooner than 1|10).
    # Money amounts are long by nature: no length penalty for them.
    lengths = sum(
        (len(p.lstrip("+-").split(".")[0]) - 1) ** 2 for p, k in zip(pieces, kinds, strict=True) if k != "amount"
    )
    zeros = sum(1 for p in pieces if p.lstrip("+-") == "0")
    return -0.15 * lengths + 0.35 * zeros


Check = tuple[int, list[tuple[int, int]]]  # (index of the cell that completes it, [(cell index, ±1)])


_CHECKS_SEEN: dict[tuple, tuple[tuple[Constraint, ...], list[Check]]] = {}


def inside_checks(cells: list[str], hard: list[Constraint]) -> list[Check]:
    """The hard rules lying wholly inside one segment, as index arithmetic for early pruning.

    Looked up by the rules' identities: hashing the rules themselves (frozen dataclasses, field by
    field) cost more than the lookup saves. The entry keeps the rules, so an id is not reused."""
    key = (tuple(cells), tuple(map(id, hard)))
    hit = _CHECKS_SEEN.get(key)
    if hit is not None:
        return hit[1]
    if len(_CHECKS_SEEN) >= 512:
        _CHECKS_SEEN.clear()
    found = _inside_checks(tuple(cells), tuple(hard))
    _CHECKS_SEEN[key] = (tuple(hard), found)
    return found


@functools.lru_cache(maxsize=512)
def _inside_checks(cells: tuple[str, ...], hard: tuple[Constraint, ...]) -> list[Check]:
    pos = {cid: i for i, cid in enumerate(cells)}
    out: list[Check] = []
    for c in hard:
        if all(cid in pos for cid in c.cells):
            terms = [(pos[x], 1) for x in c.left] + [(pos[x], -1) for x in c.right]
            out.append((max(i for i, _ in terms), terms))
    return out


def _total_rule_at_end(checks: list[Check], n: int, kinds: Sequence[ColumnKind], runs: list[Token]) -> bool:
    """The segment's last cell is the sum of all the others (a table 三 row): true when so."""
    if n < 3 or any(k != "count" for k in kinds) or any(t.text[:1] in "+-" or "." in t.text for t in runs):
        return False
    for last, terms in checks:
        if last == n - 1 and sorted(terms) == sorted([(n - 1, 1)] + [(i, -1) for i in range(n - 1)]):
            return True
    return False


def split_runs(
    runs: list[Token],
    n: int,
    kinds: Sequence[ColumnKind],
    checks: list[Check],
    limit: int,
    max_violations: int = 0,
    cap: int | None = None,
) -> list[list[str]]:
    """Every way to cut the digit runs into n cells (each run ≥ 1 cell, no leading zeros) that
    breaks at most `max_violations` of the in-segment rules. Depth-first, pruned as cells complete.
    With `cap`, the cells must add up to exactly `cap` (partial sums above it are cut)."""
    if limit <= 0:
        return []
    if sum(ch.isdigit() for t in runs for ch in t.text) > n * MAX_FIGURE_DIGITS:
        return []  # no cutting makes n figures a report can print (an absurd run: the row goes to review)
    if sum(len(t.text) for t in runs) == n and all(t.text.isdigit() for t in runs):
        return _one_digit_cells(runs, n, kinds, checks, max_violations, cap)
    if cap is None and max_violations == 0 and _total_rule_at_end(checks, n, kinds, runs):
        return _split_total_first(runs, n, kinds, limit)
    return _cut_runs(_CutPlan.of(runs, n, kinds, checks, max_violations, cap), limit)


def _split_total_first(runs: list[Token], n: int, kinds: Sequence[ColumnKind], limit: int) -> list[list[str]]:
    """`split_runs` when the last cell is the total of the others (`_total_rule_at_end`): the total
    ends the last run, so read it from the run's tail first, then cut the rest under the bound
    "parts add up to the total" (far fewer branches than cutting blindly)."""
    out: list[list[str]] = []
    tail = runs[-1].text
    for length in range(1, min(8, len(tail) - (1 if len(runs) == 1 else 0)) + 1):
        suffix = tail[-length:]
        if length > 1 and suffix[0] == "0":
            continue
        head = tail[:-length]
        rest = runs[:-1] + ([dataclasses.replace(runs[-1], text=head)] if head else [])
        if not rest:
            continue
        for cut in split_runs(rest, n - 1, kinds[:-1], [], limit - len(out), cap=int(suffix)):
            out.append([*cut, suffix])
        if len(out) >= limit:
            break
    return out


@dataclass
class _CutPlan:
    """What the depth-first cutting of `_cut_runs` looks up: the runs taken apart, the rules by
    the cell that completes them, and the cells a rule determines."""

    n: int
    max_violations: int
    cap: int | None
    bodies: list[tuple[str, str, str]]  # per run: sign, digits before the point, "." + fraction
    digits_left: list[int]  # digits in the runs from this one on (one entry past the end: 0)
    by_last: dict[int, list[list[tuple[int, int]]]]  # the rules' terms, by the cell completing them
    # Cells a rule determines from earlier cells: (its coefficient, the other terms).
    determined: dict[int, tuple[int, list[tuple[int, int]]]]
    max_len: list[int]  # longest piece per cell

    @staticmethod
    def of(
        runs: list[Token],
        n: int,
        kinds: Sequence[ColumnKind],
        checks: list[Check],
        max_violations: int,
        cap: int | None,
    ) -> _CutPlan:
        bodies = []
        for t in runs:
            sign = t.text[0] if t.text[0] in "+-" else ""
            int_part, _, frac = t.text[len(sign) :].partition(".")
            bodies.append((sign, int_part, "." + frac if frac else ""))
        digits_left = [sum(len(b[1]) for b in bodies[i:]) for i in range(len(bodies) + 1)]
        by_last: dict[int, list[list[tuple[int, int]]]] = {}
        for last, terms in checks:
            by_last.setdefault(last, []).append(terms)
        determined: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        for last, terms in checks:
            own = [k for i, k in terms if i == last]
            if len(own) == 1 and kinds[last] == "count" and not any(t.text[:1] == "." for t in runs):
                determined[last] = (own[0], [(i, k) for i, k in terms if i != last])
        # Counts above 99,999,999 do not occur in these tables; amounts may be long.
        max_len = [16 if k == "amount" else 8 for k in kinds]
        return _CutPlan(n, max_violations, cap, bodies, digits_left, by_last, determined, max_len)


def _implied_length(fixed: tuple[int, list[tuple[int, int]]], values: list[float], digits: str, offset: int) -> int:
    """The length of the piece a rule determines (its other cells known): the digits must start
    with the implied value; 0 when they do not (or it is no count), a dead branch."""
    implied = sum(values[i] * k for i, k in fixed[1]) * -fixed[0]
    if implied < 0 or abs(implied - round(implied)) > 1e-9:
        return 0
    want = str(round(implied))
    return len(want) if digits.startswith(want, offset) else 0


def _rules_failed(rules: list[list[tuple[int, int]]], values: list[float]) -> int:
    """How many of the rules (their terms over the cells cut so far) the values break."""
    failed = 0
    for terms in rules:
        total = 0.0
        for i, k in terms:
            total += values[i] * k
        if abs(total) > 1e-6:
            failed += 1
    return failed


def _cut_runs(plan: _CutPlan, limit: int) -> list[list[str]]:
    """The depth-first search of `split_runs` (its general case), at most `limit` cuttings."""
    n, max_violations, cap = plan.n, plan.max_violations, plan.cap
    bodies, digits_left, by_last, determined, max_len = (
        plan.bodies,
        plan.digits_left,
        plan.by_last,
        plan.determined,
        plan.max_len,
    )
    out: list[list[str]] = []
    pieces: list[str] = []
    values: list[float] = []
    broken = [0]  # rules broken on the current path

    acc = [0.0]  # sum of the cells cut so far (for `cap`)
    # With `cap` and no rules, what a branch yields depends on (run, offset, cells cut, sum so far)
    # alone: a branch that yielded nothing is not searched again, and one whose digits cannot
    # reach the cap any more (pieces add up to no more than their digits read as one number) is
    # not searched at all. The same cuttings come out, in the same order.
    bounded = cap is not None and not by_last and not any(b[0] or b[2] for b in bodies)
    floor = cap - 1e-9 if cap is not None else 0.0  # the least sum `bounded` lets through
    dead: set[tuple[int, int, int, float]] = set()
    later_max = [sum(int(b[1]) for b in bodies[i + 1 :]) for i in range(len(bodies))]

    def dfs(run: int, offset: int) -> None:
        if not bounded or run == len(bodies):
            search(run, offset)
            return
        key = (run, offset, len(pieces), acc[0])
        if key in dead or acc[0] + int(bodies[run][1][offset:]) + later_max[run] < floor:
            return
        found = len(out)
        search(run, offset)
        if len(out) == found:
            dead.add(key)

    def search(run: int, offset: int) -> None:
        if len(out) >= limit:
            return
        cell = len(pieces)
        if run == len(bodies):
            if cell == n and (cap is None or abs(acc[0] - cap) < 1e-9):
                out.append(list(pieces))
            return
        sign, digits, frac = bodies[run]
        remaining_here = len(digits) - offset
        cells_left = n - cell
        runs_after = len(bodies) - run - 1
        lengths: range | list[int] = range(1, min(remaining_here, max_len[cell]) + 1)
        fixed = determined.get(cell) if broken[0] >= max_violations else None
        if fixed is not None:
            # The cell closes a rule whose other cells are known: its value is implied; the
            # digits either start with it or this branch is dead.
            fixed_length = _implied_length(fixed, values, digits, offset)
            if not fixed_length:
                return
            lengths = [fixed_length]
        for length in lengths:
            piece = digits[offset : offset + length]
            if length > 1 and piece[0] == "0":
                break
            ends_run = offset + length == len(digits)
            # Cells still to fill must fit the digits still to cut, one cell per run at least.
            if ends_run:
                if cells_left - 1 < runs_after or cells_left - 1 > digits_left[run + 1]:
                    continue
            else:
                if cells_left - 1 < runs_after + 1 or cells_left - 1 > digits_left[run + 1] + remaining_here - length:
                    continue
            text = (sign if offset == 0 else "") + piece + (frac if ends_run else "")
            value = float(text) if frac and ends_run else int(text)
            if cap is not None and acc[0] + value > cap:
                break  # longer pieces only grow
            pieces.append(text)
            values.append(value)
            here = by_last.get(cell)
            failed = _rules_failed(here, values) if here else 0
            if broken[0] + failed <= max_violations:
                broken[0] += failed
                acc[0] += value
                dfs(run + 1, 0) if ends_run else dfs(run, offset + length)
                acc[0] -= value
                broken[0] -= failed
            pieces.pop()
            values.pop()

    dfs(0, 0)
    return out


def _one_digit_cells(
    runs: list[Token], n: int, kinds: Sequence[ColumnKind], checks: list[Check], max_violations: int, cap: int | None
) -> list[list[str]]:
    """`split_runs` when there are as many digits as cells: the one cutting (a digit per cell), if
    it passes what `split_runs` would check (a table 三 row "0000000" was searched for in full)."""
    pieces = [ch for t in runs for ch in t.text]
    values = [int(ch) for ch in pieces]
    if cap is not None:
        ok = abs(sum(values) - cap) < 1e-9
    elif max_violations == 0 and _total_rule_at_end(checks, n, kinds, runs):
        ok = sum(values[:-1]) == values[-1]  # the total path checks the total alone
    else:
        failed = sum(1 for _, terms in checks if abs(sum(values[i] * k for i, k in terms)) > 1e-6)
        ok = failed <= max_violations
    return [pieces] if ok else []


def _gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, a[0] - b[1], b[0] - a[1])


def align_to_grid(cols: list[tuple[float, float]], grid: list[tuple[float, float]]) -> list[int] | None:
    """Column of each value by its display columns `cols` (order kept), or None when a value sits
    no closer to one column than to its neighbour (the layout does not decide)."""
    m, n = len(cols), len(grid)
    dist = [[_gap(col, g) for g in grid] for col in cols]
    inf = float("inf")
    best = [[inf] * n for _ in range(m)]
    back = [[-1] * n for _ in range(m)]
    for c in range(n):
        best[0][c] = dist[0][c]
    for i in range(1, m):
        running, arg = inf, -1
        for c in range(n):
            if c > 0 and best[i - 1][c - 1] < running:
                running, arg = best[i - 1][c - 1], c - 1
            if arg >= 0:
                best[i][c] = running + dist[i][c]
                back[i][c] = arg
    c = min(range(n), key=lambda k: best[m - 1][k])
    if best[m - 1][c] == inf:
        return None
    columns = [0] * m
    for i in range(m - 1, -1, -1):
        columns[i] = c
        c = back[i][c]
    for i, c in enumerate(columns):
        others = [dist[i][k] for k in range(n) if k != c]
        if others and min(others) <= dist[i][c] + 1.0:
            return None
    return columns


Piece = tuple[str, Token | None]  # a cell's text and the token it was read from (None: no token)


def _make(pieces: Sequence[Piece], kinds: Sequence[ColumnKind], prior: float, flags: set[str]) -> Reading:
    values = tuple(
        parse_number(p, kind, tok.unit if tok is not None else None) if p else None
        for (p, tok), kind in zip(pieces, kinds, strict=True)
    )
    return Reading(
        values,
        prior,
        tuple(tok.index if tok is not None else None for _, tok in pieces),
        tuple(p for p, _ in pieces),
        frozenset(flags),
    )


def readings(seg: Segment) -> list[Reading]:
    n = len(seg.cells)
    runs = [t for t in seg.slots if t.kind == "number"]
    if not runs:
        return [_valueless_reading(seg)]
    out: list[Reading] = []
    if len(runs) == n:
        out.append(_make([(t.text, t) for t in runs], seg.kinds, 0.0, _stray_order_flags(runs)))
    elif len(runs) > n:
        out.extend(_extra_value_readings(seg, runs))
    else:
        out.extend(_missing_value_readings(seg, runs))
    if not out:  # too few values to place: keep them in order, the rest unread (sent to review)
        pieces: list[Piece] = [(t.text, t) for t in runs[:n]]
        pieces += [("", None)] * (n - min(n, len(runs)))
        out.append(_make(pieces, seg.kinds, -10.0, {"incomplete"}))
    # A printed sign ("+17") belongs in a signed column (2019's 本年增/减) only.
    out = [
        r
        for r in out
        if all(not t or t[0] not in "+-" or k == "signed_count" for t, k in zip(r.texts, seg.kinds, strict=True))
    ] or out
    return out + _alternative_readings(out, runs, seg.kinds)


def _stray_order_flags(runs: list[Token]) -> set[str]:
    """A row's figures, as many as its cells, taken from more than one printed line of a page and not
    left to right: one of them is a stray from the line below or above (a seal's stroke read "1"
    under the row), so the printing order that placed them says nothing (a photo's 行政规范性文件
    16 | ⊘ | 87, its 0 and the 8 under a seal: 16 | 7 | 1 went out at 0.998). Unverified."""
    if not _boxed(runs) or len({t.line for t in runs}) < 2:
        return set()
    xs = [(box[0] + box[2]) / 2 for t in runs if (box := t.bbox) is not None]
    return {"unverified"} if any(b <= a for a, b in itertools.pairwise(xs)) else set()


def _valueless_reading(seg: Segment) -> Reading:
    """The reading of a segment that prints no figure: every cell empty."""
    n = len(seg.cells)
    blanks = sum(1 for t in seg.slots if t.kind == "blank")
    # blank tokens are kept: an OCR'd blank carries the page's doubt (ink or a seal in its slot)
    if len(seg.slots) == n:
        return _make([("", t) for t in seg.slots], seg.kinds, 0.0, {"blank"} if blanks else {"missing"})
    # more (or fewer) empty slots than cells: which slot is which cell is unknown, but a
    # doubtful slot (ink OCR did not read, a seal) makes the whole row doubtful
    doubt = any(t.kind == "blank" and t.confidence < 1.0 for t in seg.slots)
    flags = ({"blank"} if blanks else {"missing"}) | ({"unread"} if doubt else set())
    return _make([("", None)] * n, seg.kinds, 0.0, flags)


def _extra_value_readings(seg: Segment, runs: list[Token]) -> list[Reading]:
    """More figures than cells: which of them to drop."""
    n = len(seg.cells)
    out: list[Reading] = []
    if len(runs) - n <= 2 and len(runs) <= 24 and _boxed(runs):
        # On a page, a stray mark read as a figure (a seal's stroke, a speck) can sit anywhere in
        # the row: every choice of the figures to drop, ranked by how well the rest fill the columns.
        for drop in itertools.combinations(range(len(runs)), len(runs) - n):
            pieces = [(t.text, t) for i, t in enumerate(runs) if i not in drop]
            out.append(_make(pieces, seg.kinds, -2.0 - _placement_penalty(pieces, ordered=False), {"extra_values"}))
    else:
        out.append(_make([(t.text, t) for t in runs[:n]], seg.kinds, -2.0, {"extra_values"}))
        out.append(_make([(t.text, t) for t in runs[-n:]], seg.kinds, -2.5, {"extra_values"}))
    return out


def _missing_value_readings(seg: Segment, runs: list[Token]) -> list[Reading]:
    """Fewer figures than cells: blank cells printed or dropped, or digits glued together."""
    n = len(seg.cells)
    out: list[Reading] = []
    printed = _printed_cells(seg.slots, n)
    if printed is not None:
        # Every cell printed as a cell of its own (an empty one for a blank): the one reading. The
        # other readings (a blank moved among zeros, a figure cut in two) contradict the printed
        # cells, and only made the sums' ties flag the row as ambiguous.
        return [_make([(t.text, t) if t.kind == "number" else ("", t) for t in printed], seg.kinds, 0.0, {"blank"})]
    # Blanks printed as empty cells: keep their positions, trimming padding at the ends.
    slots = list(seg.slots)
    while len(slots) > n and slots[-1].kind == "blank":
        slots.pop()
    while len(slots) > n and slots[0].kind == "blank":
        slots.pop(0)
    if len(slots) == n:
        out.append(_make([(t.text, t) if t.kind == "number" else ("", t) for t in slots], seg.kinds, 0.0, {"blank"}))
    # Space-aligned text: the columns the values stand in say which cells are blank.
    aligned = False
    if seg.grid:
        cols = [t.col for t in runs if t.col is not None]
        columns = align_to_grid(cols, seg.grid) if len(cols) == len(runs) else None
        if columns is not None:
            placed: list[Piece] = [("", None)] * n
            for t, c in zip(runs, columns, strict=True):
                placed[c] = (t.text, t)
            out.append(_make(placed, seg.kinds, 0.5, {"aligned_blank"}))
            aligned = True
    # Glued digit runs: cut them into the missing cells, pruned by the segment's own rules.
    cuttings = split_runs(runs, n, seg.kinds, seg.checks, MAX_CANDIDATES)
    # The report itself may break its sums: then the cuttings that break the fewest.
    for budget in range(1, len(seg.checks) + 1):
        if cuttings:
            break
        cuttings = split_runs(runs, n, seg.kinds, seg.checks, 2_000, max_violations=budget)
    for cutting in cuttings:
        owned = _assign_owners(cutting, runs)
        out.append(_make(owned, seg.kinds, -0.5 + _length_prior(cutting, seg.kinds), {"split_digits"}))
    # Blank cells dropped by the flattening: choose where the missing cells were. On a page
    # (scan or PDF) the figures' positions say where the gaps are; the sums only break ties.
    # Not where the columns placed every figure, each clearly in one column (`align_to_grid`): a
    # gap guessed elsewhere contradicts the layout (it only tied with it on rows of zeros).
    missing = n - len(runs)
    if missing <= 3 and not aligned:
        glued = any(t.glued for t in runs)
        for nulls in itertools.combinations(range(n), missing):
            it = iter(runs)
            pieces: list[Piece] = [("", None) if i in nulls else ((t := next(it)).text, t) for i in range(n)]
            prior = -1.5 * missing - _placement_penalty(pieces, ordered=True)
            if glued:
                # Figures printed with no separator may be one figure or several: these readings
                # keep each run whole, so they pay the same length prior as the cuttings do (a
                # glued "+18231338" is 本年增 +1823 and 1338, not one change of 18 million).
                whole = [(p, k) for (p, _), k in zip(pieces, seg.kinds, strict=True) if p]
                prior += -2.0 + _length_prior([p for p, _ in whole], [k for _, k in whole])
            out.append(_make(pieces, seg.kinds, prior, {"inferred_blank"}))
    return out


def _printed_cells(slots: list[Token], n: int) -> list[Token] | None:
    """The n printed cells of a row of a text input (text, Markdown, HTML, DOCX: no page, no OCR)
    that prints its blank cells as empty cells or blank marks (a delimited row: tabs, pipes, `<td>`,
    Word cells; "/", "无"), or None. Where each figure and each blank stands is then printed, not
    guessed. The row's slots may hold empty cells around it that are not its own (a label column
    left empty, the next row's label cells): the n cells are the one run of n consecutive slots
    that holds every figure, when only one does (empty slots at both ends leave it open: None), of
    the figures' line when they stand on one (a table row). Pages are left out: a page reader's empty cell may be a figure it missed."""
    if len(slots) < n or not any(t.kind == "blank" for t in slots):
        return None
    if not all(t.bbox is None and t.page is None and t.confidence >= 1.0 and not t.alternatives for t in slots):
        return None
    if len({t.line for t in slots if t.kind == "number"}) == 1:
        # the figures stand on one line (a table row): the row's cells are that line's
        line = next(t.line for t in slots if t.kind == "number")
        slots = [t for t in slots if t.line == line]
        if len(slots) < n:
            return None
    figures = [i for i, t in enumerate(slots) if t.kind == "number"]
    if not figures:
        return None
    first, last = figures[0], figures[-1]
    starts = [a for a in range(len(slots) - n + 1) if a <= first and last < a + n]
    if len(starts) != 1:
        return None
    window = slots[starts[0] : starts[0] + n]
    return window if any(t.kind == "blank" for t in window) else None


# OCR alternatives read at once in one reading of a segment: a photo's row with two or three
# figures misread (a mono font's zeros read 8 over a page) is put right only by taking them together.
MAX_SUBSTITUTIONS = 3
MULTI_SUBSTITUTION_READINGS = 256  # readings with two or more alternatives, per segment at most


def _alternative_readings(out: list[Reading], runs: list[Token], kinds: Sequence[ColumnKind]) -> list[Reading]:
    """The readings with single-cell tokens read as one of their OCR alternatives instead: one
    alternative in every reading, two or more (up to `MAX_SUBSTITUTIONS`, each costing 1 of prior) in
    the most plausible readings first, `MULTI_SUBSTITUTION_READINGS` of them at most."""
    by_index = {x.index: x for x in runs}

    def options(r: Reading) -> list[list[tuple[int, str, Value]]]:
        found: list[list[tuple[int, str, Value]]] = []
        for i, index in enumerate(r.tokens):
            t = by_index.get(index) if index is not None else None
            if t is None or not t.alternatives or r.texts[i] != t.text:
                continue
            cell: list[tuple[int, str, Value]] = [
                (i, alt, v) for alt in t.alternatives if (v := parse_number(alt, kinds[i], t.unit)) is not None
            ]
            if cell := [o for o in cell if o[2] != r.values[i]]:
                found.append(cell)
        return found

    def substituted(r: Reading, subs: Sequence[tuple[int, str, Value]]) -> Reading:
        values, texts = list(r.values), list(r.texts)
        for i, alt, v in subs:
            values[i], texts[i] = v, alt
        corrected = r.corrected | {i for i, _, _ in subs}
        return Reading(tuple(values), r.prior - float(len(subs)), r.tokens, tuple(texts), r.flags, corrected)

    per_reading = [(r, options(r)) for r in out]
    alt_out = [substituted(r, [o]) for r, opts in per_reading for cell in opts for o in cell]
    budget = MULTI_SUBSTITUTION_READINGS
    for r, opts in sorted(per_reading, key=lambda ro: -ro[0].prior):
        for k in range(2, min(MAX_SUBSTITUTIONS, len(opts)) + 1):
            for cells in itertools.combinations(opts, k):
                for subs in itertools.product(*cells):
                    if budget == 0:
                        return alt_out
                    alt_out.append(substituted(r, subs))
                    budget -= 1
    return alt_out


PLACEMENT_WEIGHT = 8.0  # prior per column pitch of misfit: one figure a column off costs ≈ 2–4


def _boxed(tokens: list[Token]) -> bool:
    """Tokens with boxes on one page: their x positions can say which column each stands in."""
    return len(tokens) >= 3 and all(t.bbox is not None for t in tokens) and len({t.page for t in tokens}) == 1


def _placement_penalty(pieces: Sequence[Piece], ordered: bool) -> float:
    """How badly the placed figures fit columns of even pitch at their cells (0 without positions).

    The x-centres are fitted linearly against the cell indices; the residual, in column pitches,
    is near 0 when each figure stands in its own column and grows when a gap is put in the wrong
    place. Tables with unequal column widths fit less tightly, but every candidate of a row
    shares that, so the ranking holds. Figures out of left-to-right order get the full penalty
    (a stray picked up from another line), unless `ordered` says the row's own figures are not
    in order either (then position says nothing, and no candidate is penalised).
    """
    placed = [(i, tok) for i, (_, tok) in enumerate(pieces) if tok is not None]
    if not _boxed([tok for _, tok in placed]):
        return 0.0
    centres = [(i, (box[0] + box[2]) / 2) for i, tok in placed if (box := tok.bbox) is not None]  # all (_boxed)
    idx = np.array([i for i, _ in centres], dtype=float)
    xs = np.array([x for _, x in centres])
    if np.any(np.diff(xs) <= 0):
        return 0.0 if ordered else PLACEMENT_WEIGHT
    slope, intercept = np.polyfit(idx, xs, 1)
    misfit = float(np.sqrt(np.mean((xs - (intercept + slope * idx)) ** 2)) / slope)
    return PLACEMENT_WEIGHT * min(misfit, 1.0)


def _assign_owners(cutting: list[str], runs: list[Token]) -> list[Piece]:
    """Which run each cut piece came from (pieces are in run order)."""
    out: list[Piece] = []
    k = 0
    consumed = 0
    for piece in cutting:
        out.append((piece, runs[k]))
        consumed += len(piece.lstrip("+-").split(".")[0])
        if consumed >= len(runs[k].text.lstrip("+-").split(".")[0]):
            k, consumed = k + 1, 0
    return out


@dataclass
class Solution:
    choice: list[int]  # reading index per segment
    violations: int
    prior: float


class JointSolver:
    """Dynamic programme over the segments in printing order; the state is the partial sums of
    the rules still open. Set up once per document, solved again for each alternative asked.

    Which rules are open after each segment does not depend on the readings chosen, so a state is
    a fixed-order vector of those partial sums, and a whole step (every state × every reading) is
    computed at once with numpy: a badly read scan with dozens of many-reading segments took tens
    of seconds as per-state Python dictionaries."""

    def __init__(self, segments: list[Segment], hard: list[Constraint]) -> None:
        self.segments = segments
        seg_of_cell = {cid: k for k, s in enumerate(segments) for cid in s.cells}
        relevant = [c for c in hard if any(cid in seg_of_cell for cid in c.cells)]
        first_seg = [min(seg_of_cell[cid] for cid in c.cells if cid in seg_of_cell) for c in relevant]
        last_seg = [max(seg_of_cell[cid] for cid in c.cells if cid in seg_of_cell) for c in relevant]
        # Per segment: [(constraint index, [(cell index, ±1)], closes here)]
        touching: list[list[tuple[int, list[tuple[int, int]], bool]]] = [[] for _ in segments]
        for ci, c in enumerate(relevant):
            per_seg: dict[int, list[tuple[int, int]]] = {}
            for sign, side in ((1, c.left), (-1, c.right)):
                for cid in side:
                    k = seg_of_cell.get(cid)
                    if k is not None:
                        per_seg.setdefault(k, []).append((segments[k].cells.index(cid), sign))
            for k, terms in per_seg.items():
                touching[k].append((ci, terms, last_seg[ci] == k))
        # The open rules after each segment, in rule order, and per segment the arrays of a step:
        # where each new partial sum comes from in the previous state (-1: a rule opened here), the
        # rules closing here, and each reading's amounts for both.
        open_after = [
            [ci for ci in range(len(relevant)) if first_seg[ci] <= k < last_seg[ci]] for k in range(len(segments))
        ]
        self.steps: list[_Step] = []
        previous: list[int] = []
        for k, seg in enumerate(segments):
            where = {ci: j for j, ci in enumerate(previous)}
            closing = [ci for ci in previous if last_seg[ci] == k]
            closing += [ci for ci, _, closes in touching[k] if closes and ci not in where]
            open_pos = {ci: j for j, ci in enumerate(open_after[k])}
            close_pos = {ci: j for j, ci in enumerate(closing)}
            amounts_open: list[tuple[float, ...]] = []
            amounts_close: list[tuple[float, ...]] = []
            each: Sequence[Reading | None] = seg.readings or [None]
            for r in each:  # each reading's contribution to each rule it touches
                row_open = [0.0] * len(open_pos)
                row_close = [0.0] * len(close_pos)
                if r is not None:
                    for ci, terms, _ in touching[k]:
                        amount = float(sum((r.values[i] or 0) * sg for i, sg in terms))
                        if ci in open_pos:
                            row_open[open_pos[ci]] = amount
                        else:
                            row_close[close_pos[ci]] = amount
                amounts_open.append(tuple(row_open))
                amounts_close.append(tuple(row_close))
            self.steps.append(
                _Step(
                    [where.get(ci, -1) for ci in open_after[k]],
                    [where.get(ci, -1) for ci in closing],
                    amounts_open,
                    amounts_close,
                    [float(r.prior) for r in seg.readings] or [0.0],
                )
            )
            previous = open_after[k]

    def solve(self, banned: dict[int, set[int]] | None = None) -> Solution:
        """Best reading per segment (fewest violated rules, then plausibility).

        Ties go as a dictionary of states filled in order would settle them: the earliest
        candidate wins, and states keep the order in which they first appeared.

        A step with few states × readings (most of them: one reading per clean row) is computed
        in plain Python, a large one with numpy; both settle every tie the same way, so the
        solution does not depend on which ran (numpy's per-call cost dominated the small steps)."""
        banned = banned or {}
        state: _States = _ListStates.start()
        back: list[tuple[list[int] | np.ndarray, list[int] | np.ndarray]] = []  # per step: parent state, reading
        parents: list[int] | np.ndarray
        chosen: list[int] | np.ndarray
        for k, seg in enumerate(self.segments):
            step = self.steps[k]
            skip = banned.get(k, ())
            options = [ri for ri in range(len(seg.readings)) if ri not in skip] or [0]
            if len(state) <= SMALL_STATES and len(state) * len(options) <= SMALL_STEP:
                state, parents, chosen = _step_python(state.as_lists(), step, options)
            else:
                state, parents, chosen = _step_numpy(state.as_arrays(), step, np.array(options, dtype=np.int64))
            back.append((parents, chosen))
        score, viol = state.score, state.viol
        best = end = min(range(len(score)), key=lambda i: (int(viol[i]), -float(score[i]), i))
        choice: list[int] = []
        for parents, readings_chosen in reversed(back):
            choice.append(int(readings_chosen[best]))
            best = int(parents[best])
        choice.reverse()
        return Solution(choice, int(viol[end]), float(score[end]))


SMALL_STATES = 50  # at most this many states (below the numpy path's pruning limit, which is >= 50) ...
SMALL_STEP = 400  # ... and states × readings: the step runs in plain Python


@dataclass
class _ListStates:
    """The programme's states after a small step: per state its open partial sums (a tuple),
    score and violations, as Python lists."""

    sums: list[tuple[float, ...]]
    score: list[float]
    viol: list[int]

    @staticmethod
    def start() -> _ListStates:
        return _ListStates([()], [0.0], [0])

    def __len__(self) -> int:
        return len(self.score)

    def as_lists(self) -> _ListStates:
        return self

    def as_arrays(self) -> _ArrayStates:
        width = len(self.sums[0]) if self.sums else 0
        sums = np.array(self.sums, dtype=float).reshape(len(self.sums), width)
        return _ArrayStates(sums, np.array(self.score, dtype=float), np.array(self.viol, dtype=np.int64))


@dataclass
class _ArrayStates:
    """The same states after a large step, as numpy arrays."""

    sums: np.ndarray  # states × open rules
    score: np.ndarray
    viol: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def as_lists(self) -> _ListStates:
        return _ListStates([tuple(row) for row in self.sums.tolist()], self.score.tolist(), self.viol.tolist())

    def as_arrays(self) -> _ArrayStates:
        return self


_States = _ListStates | _ArrayStates  # whichever the last step made


def _step_python(state: _ListStates, step: _Step, options: list[int]) -> tuple[_ListStates, list[int], list[int]]:
    """One step of the programme in plain Python (see `_step_numpy`, whose results it equals)."""
    src_open, src_close = step.source_open, step.source_close
    amounts_open, amounts_close, priors = step.amounts_open, step.amounts_close, step.priors
    best: dict[tuple[float, ...], list] = {}  # new sums → [violations, score, parent, reading], by first appearance
    for si, (sums, score, viol) in enumerate(zip(state.sums, state.score, state.viol, strict=True)):
        padded = (*sums, 0.0)  # index -1: a rule opened here
        base_open = [padded[j] for j in src_open]
        base_close = [padded[j] for j in src_close]
        for ri in options:
            new = tuple([b + a + 0.0 for b, a in zip(base_open, amounts_open[ri], strict=True)])
            v = viol
            for b, a in zip(base_close, amounts_close[ri], strict=True):
                if abs(b + a) > 1e-6:
                    v += 1
            sc = score + priors[ri]
            cur = best.get(new)
            if cur is None:
                best[new] = [v, sc, si, ri]
            elif v < cur[0] or (v == cur[0] and sc > cur[1]):
                cur[0], cur[1], cur[2], cur[3] = v, sc, si, ri
    winners = list(best.items())
    new_state = _ListStates([w[0] for w in winners], [w[1][1] for w in winners], [w[1][0] for w in winners])
    return new_state, [w[1][2] for w in winners], [w[1][3] for w in winners]


def _step_numpy(state: _ArrayStates, lists: _Step, options: np.ndarray) -> tuple[_ArrayStates, np.ndarray, np.ndarray]:
    step = lists.arrays()
    sums, score, viol = state.sums, state.score, state.viol
    limit = max(50, STEP_WORK // len(options))
    order = np.arange(len(score))
    if len(score) > limit:  # many states × many readings: keep the best states (bounded time)
        order = np.lexsort((-score, viol))[:limit]
    sums, score, viol = sums[order], score[order], viol[order]
    padded = np.hstack([sums, np.zeros((len(sums), 1))])  # column -1: a rule opened here
    n_states, n_options = len(score), len(options)
    new_sums = padded[:, step.source_open][:, None, :] + step.amounts_open[options][None, :, :]
    closed = padded[:, step.source_close][:, None, :] + step.amounts_close[options][None, :, :]
    cand_viol = (viol[:, None] + (np.abs(closed) > 1e-6).sum(axis=2)).ravel()
    cand_score = (score[:, None] + step.priors[options][None, :]).ravel()
    new_sums = new_sums.reshape(n_states * n_options, -1) + 0.0  # -0.0 and 0.0 are one state
    group = _row_groups(new_sums)
    candidate = np.arange(len(cand_score))
    ranked = np.lexsort((candidate, -cand_score, cand_viol, group))
    first_of_group = np.ones(len(ranked), dtype=bool)
    first_of_group[1:] = group[ranked][1:] != group[ranked][:-1]
    winners = ranked[first_of_group]  # one per group, in group order
    _, first_seen = np.unique(group, return_index=True)
    winners = winners[np.argsort(first_seen, kind="stable")]  # groups in order of appearance
    if len(winners) > BEAM:
        winners = winners[np.lexsort((-cand_score[winners], cand_viol[winners]))[:BEAM]]
    parents = order[winners // n_options]
    new_state = _ArrayStates(new_sums[winners], cand_score[winners], cand_viol[winners])
    return new_state, parents, options[winners % n_options]


def _row_groups(rows: np.ndarray) -> np.ndarray:
    """A group number per row, equal for equal rows (sorting plain columns: far faster than
    `np.unique(axis=0)`, which sorts the rows as structured records)."""
    if rows.shape[1] == 0:
        return np.zeros(len(rows), dtype=np.int64)
    order = np.lexsort(rows.T[::-1])
    ranked = rows[order]
    starts = np.ones(len(rows), dtype=bool)
    starts[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    group = np.empty(len(rows), dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    return group


@dataclass
class _Step:
    """One segment's step of the programme (see `JointSolver.__init__`): Python lists, which the
    small steps use, and the same as numpy arrays for the large ones (made on first use)."""

    def __init__(
        self,
        source_open: list[int],
        source_close: list[int],
        amounts_open: list[tuple[float, ...]],
        amounts_close: list[tuple[float, ...]],
        priors: list[float],
    ) -> None:
        self.source_open = source_open  # per open rule after the step: its column in the previous state, or -1
        self.source_close = source_close  # per rule closing at the step: its column in the previous state, or -1
        self.amounts_open = amounts_open  # per reading: its amount for each open rule
        self.amounts_close = amounts_close  # per reading: its amount for each closing rule
        self.priors = priors  # per reading
        self._arrays: _StepArrays | None = None

    def arrays(self) -> _StepArrays:
        if self._arrays is None:
            rows = len(self.amounts_open)
            self._arrays = _StepArrays(
                np.array(self.source_open, dtype=np.int64),
                np.array(self.source_close, dtype=np.int64),
                np.array(self.amounts_open, dtype=float).reshape(rows, len(self.source_open)),
                np.array(self.amounts_close, dtype=float).reshape(rows, len(self.source_close)),
                np.array(self.priors, dtype=float),
            )
        return self._arrays


@dataclass
class _StepArrays:
    source_open: np.ndarray
    source_close: np.ndarray
    amounts_open: np.ndarray  # readings × open rules
    amounts_close: np.ndarray  # readings × closing rules
    priors: np.ndarray


def unary_filter(seg: Segment) -> None:
    """Keep the readings that satisfy the rules lying wholly inside the segment, if any do."""
    if not seg.checks or len(seg.readings) <= 1:
        return
    good = [
        r
        for r in seg.readings
        if all(abs(sum((r.values[i] or 0) * k for i, k in terms)) < 1e-6 for _, terms in seg.checks)
    ]
    if good:
        seg.readings = good


def dedupe(seg: Segment) -> None:
    seen: dict[tuple, Reading] = {}
    for r in seg.readings:
        old = seen.get(r.values)
        if old is None or r.prior > old.prior:
            seen[r.values] = r
    seg.readings = sorted(seen.values(), key=lambda r: -r.prior)
