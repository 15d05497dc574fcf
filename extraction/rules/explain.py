"""The smallest explanations of failed hard sums: which cells' values, changed alone, make every failed
equality hold while every equality that holds still holds.

A reading that broke the sums usually misread few figures; a report wrong in its source printed few
wrong figures. The smallest sets of cells that explain the failures are where a person must look;
a figure read plainly that no smallest explanation holds is not what broke the sums (the rules stage
pins it, `extraction.rules.outside_least_explanations`).

Failures are explained group by group (`failure_groups`): failed equalities that share no cell and
that no holding equality ties are independent (a misread 二 amount and a misread 三 figure), so each
group's smallest explanations are searched apart and a photo with one misreading in each of three
tables is explained by three cells. With a `slack`, explanations that many cells larger than the
smallest (and no smaller one inside them) count too: one glyph misread alike in a figure and its
row's total hides from the row's sum, so on OCR'd pages the smallest is not always the truth.

Search, per group:
- sizes 1 and 2 by trying every set (`exhaustive_explanations`): exact, and what almost every report
  wrong in its source needs;
- larger sizes by a mixed-integer programme (`milp_explanations`, HiGHS through scipy): the fewest
  cells with a change, each change bounded; every smallest set is enumerated by cutting off the
  ones found, and each found set is verified exactly (`explains`), so a solver's tolerance can only
  give up (nothing pinned), never invent an explanation.
Nothing is pinned in a group whose failures need more than `max_cells` cells, have more than
`max_solutions` explanations (the sums cannot tell where the errors are), or where the solver gives
up.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from extraction.schema.rules import Constraint

Reading = dict[str, int | float | None]

# HiGHS's own limits per programme: past either, the group's failures are left unexplained (nothing
# pinned). The node limit keeps the answer the same on every machine; the time limits bound a
# hostile input (a document whose programmes together run past MILP_DOCUMENT_S gets no more: the
# rest of its failures are left unexplained, which only keeps cells in review).
MILP_NODE_LIMIT = 200
MILP_TIME_LIMIT_S = 5.0
MILP_DOCUMENT_S = 15.0
# A change the solver gives a cell below this is no change (its support is then verified exactly)
NO_CHANGE = 1e-6


@dataclass(frozen=True)
class FailureGroup:
    """Failed hard equalities that share cells, and the smallest sets of cells that explain them all
    (`explanations`: None when none of at most the searched size was found, or too many)."""

    rules: tuple[Constraint, ...]
    explanations: tuple[frozenset[str], ...] | None


def explains(
    free: set[str], fix: list[Constraint], keep: list[Constraint], values: Reading, tolerance: float = 1e-6
) -> bool:
    """Whether changing only the cells `free` can make every rule of `fix` hold while every rule of
    `keep` (over a free cell) still holds: the least-squares change of the free cells, checked
    exactly. A rule of `fix` over no free cell cannot be made to hold."""
    if any(free.isdisjoint(c.cells) for c in fix):
        return False
    rules = fix + [c for c in keep if not free.isdisjoint(c.cells)]
    cols = sorted(free)
    at = {cid: j for j, cid in enumerate(cols)}
    a, r = linear_system(rules, at, values)
    delta = np.linalg.lstsq(a, -r, rcond=None)[0]
    return bool(np.all(np.abs(a @ delta + r) < tolerance))


def hides_change(cells: set[str], holding: Sequence[Constraint]) -> bool:
    """Whether the `cells` can change together (not all by 0) while every equality of `holding` over
    them still holds, every other cell kept: their misreadings could hide from the sums that hold
    (a figure and its row's total misread alike keep the row's sum)."""
    rules = [c for c in holding if not cells.isdisjoint(c.cells)]
    at = {cid: j for j, cid in enumerate(sorted(cells))}
    if not rules:
        return bool(at)
    a, _ = linear_system(rules, at, {})
    return int(np.linalg.matrix_rank(a)) < len(at)


def linear_system(rules: list[Constraint], at: dict[str, int], values: Reading) -> tuple[np.ndarray, np.ndarray]:
    """Each rule as a row `a · change + residual = 0` over the cells `at` (column per cell): `a` the
    coefficients of those cells, `residual` the rule's left side less its right side on `values`."""
    a = np.zeros((len(rules), len(at)))
    r = np.zeros(len(rules))
    for i, c in enumerate(rules):
        for sign, side in ((1.0, c.left), (-1.0, c.right)):
            for cid in side:
                r[i] += sign * (values.get(cid) or 0)
                if cid in at:
                    a[i, at[cid]] += sign
    return a, r


def failure_groups(failed: list[Constraint], holding: Sequence[Constraint] = ()) -> list[tuple[Constraint, ...]]:
    """The failed equalities in groups that nothing ties together: two are in one group when they
    share a cell, or when an equality that holds has a cell of each (a change that makes up for one
    there touches the other: a misread 申请 in 自然人 and its row's total fail two balances that the
    row's sum ties)."""
    parent = list(range(len(failed)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, c in enumerate(failed):
        for cid in c.cells:
            if cid in owner:
                parent[root(i)] = root(owner[cid])
            else:
                owner[cid] = i
    for c in holding:
        tied = [owner[cid] for cid in c.cells if cid in owner]
        for i in tied[1:]:
            parent[root(i)] = root(tied[0])
    groups: dict[int, list[Constraint]] = {}
    for i, c in enumerate(failed):
        groups.setdefault(root(i), []).append(c)
    return [tuple(g) for g in groups.values()]


def exhaustive_explanations(
    failing: list[str],
    near: list[str],
    fix: list[Constraint],
    keep: list[Constraint],
    values: Reading,
    max_cells: int,
    slack: int = 0,
) -> tuple[list[frozenset[str]], bool]:
    """Every set of at most `max_cells` cells that explains `fix` with at most `slack` cells more than
    the smallest and no smaller explanation inside it, by trying every set: the failing cells (each
    set touches every failed rule) with near ones (cells of holding rules over a failing cell, making
    up there for the change). Also whether that is every such set (the smallest plus the slack fits
    in `max_cells`)."""
    found: list[frozenset[str]] = []
    limit = max_cells
    for size in range(1, max_cells + 1):
        if size > limit:
            break
        for k in range(size, 0, -1):  # k failing cells and size - k near ones
            for first in itertools.combinations(failing, k):
                if any(set(first).isdisjoint(c.cells) for c in fix):
                    continue
                for rest in itertools.combinations(near, size - k):
                    free = frozenset(first + rest)
                    if any(f <= free for f in found):
                        continue
                    if explains(set(free), fix, keep, values):
                        found.append(free)
        if found and limit == max_cells:
            limit = min(max_cells, size + slack)
    least = min((len(f) for f in found), default=None)
    return sorted(found, key=sorted), least is not None and least + slack <= max_cells


def _fewest_changed(
    cells: list[str],
    fix: list[Constraint],
    keep: list[Constraint],
    values: Reading,
    cut: list[frozenset[str]],
    most: int,
    seconds: float = MILP_TIME_LIMIT_S,
) -> frozenset[str] | None:
    """The cells changed by a solution that changes the fewest of `cells`, at most `most` of them
    (none of the sets in `cut` all changed together); the empty set when there is none (no
    explanation is empty: a failed rule needs a change), None when the solver gave up."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(cells)
    at = {cid: j for j, cid in enumerate(cells)}
    a, r = linear_system(list(fix) + list(keep), at, values)
    # bound of a change: no smallest explanation of sums of ±1 moves a cell further than the failures
    # add up to, many times over (a larger one only makes the programme's tolerances coarser)
    bound = 10.0 * (float(np.abs(r).sum()) + 1.0)
    # columns: the changes, then one 0/1 per cell (changed or not)
    eq = np.hstack([a, np.zeros((len(r), n))])
    link = np.vstack([np.hstack([np.eye(n), -bound * np.eye(n)]), np.hstack([-np.eye(n), -bound * np.eye(n)])])
    # at most `most` changed: the programme proves "none that small" long before it finds a larger one
    rows = [
        LinearConstraint(eq, -r, -r),
        LinearConstraint(link, -np.inf, 0.0),
        LinearConstraint(np.concatenate([np.zeros(n), np.ones(n)])[None, :], -np.inf, most),
    ]
    for s in cut:
        row = np.zeros(2 * n)
        row[[n + at[cid] for cid in s]] = 1.0
        rows.append(LinearConstraint(row[None, :], -np.inf, len(s) - 1))
    res = milp(
        np.concatenate([np.zeros(n), np.ones(n)]),
        constraints=rows,
        integrality=np.concatenate([np.zeros(n), np.ones(n)]),
        bounds=Bounds(
            np.concatenate([np.full(n, -bound), np.zeros(n)]), np.concatenate([np.full(n, bound), np.ones(n)])
        ),
        options={"node_limit": MILP_NODE_LIMIT, "time_limit": seconds},
    )
    if res.status == 2:  # infeasible: no other explanation
        return frozenset()
    if res.status != 0 or res.x is None:
        return None
    return frozenset(cid for j, cid in enumerate(cells) if res.x[n + j] > 0.5 or abs(res.x[j]) > NO_CHANGE)


def milp_explanations(
    cells: list[str],
    fix: list[Constraint],
    keep: list[Constraint],
    values: Reading,
    max_cells: int,
    max_solutions: int,
    slack: int = 0,
    found: list[frozenset[str]] | None = None,
    deadline: float | None = None,
) -> list[frozenset[str]] | None:
    """Every set of `cells` that explains `fix` (`explains`) with at most `slack` cells more than the
    smallest and no smaller explanation inside it, enumerated by the programme (`_fewest_changed`:
    fewest first, each found set and its supersets cut off before the next search), after the sets
    `found` already. None when the smallest needs more than `max_cells` cells, more than
    `max_solutions` sets are found, a set the solver found does not explain the failures exactly, or
    the solver gave up."""
    found = list(found or [])
    least = min((len(f) for f in found), default=None)
    while True:
        most = least + slack if least is not None else max_cells
        left = MILP_TIME_LIMIT_S if deadline is None else min(MILP_TIME_LIMIT_S, deadline - time.monotonic())
        if left <= 0:
            return None
        s = _fewest_changed(cells, fix, keep, values, found, most, left)
        if s is not None and not s:
            return found or None
        if s is None or not explains(set(s), list(fix), keep, values):
            return None
        if len(s) > most:  # (the solver's tolerance let a larger set through)
            return found or None
        if len(found) >= max_solutions:
            return None
        found.append(s)
        if least is None:  # (fewest first: the first set found is a smallest)
            least = len(s)


def explain_failures(
    failed: list[Constraint],
    holding: list[Constraint],
    values: Reading,
    max_cells: int,
    max_solutions: int,
    slack: int = 0,
    exhaustive_cells: int = 2,
) -> list[FailureGroup]:
    """The explanations of each group of `failed` equalities (`failure_groups`), the equalities
    `holding` kept: every explanation with at most `slack` cells more than the smallest (which has at
    most `max_cells`), no smaller explanation inside it. The smallest sets of at most
    `exhaustive_cells` are tried one by one, larger ones and the slack found by `milp_explanations`.

    Why a slack: the smallest explanation is not always the truth. A photo lost the 2 of 42 in a
    row's figure and in its total: the row's sum held, only the columns' sums said so, and a third
    misreading elsewhere made a two-cell explanation in another row the smallest; the two 4s were
    pinned, wrong. With one cell of slack, that 42 in any row is an explanation, and nothing of the
    columns is pinned."""
    known = set(values)
    deadline = time.monotonic() + MILP_DOCUMENT_S
    out = []
    for rules in failure_groups(failed, holding):
        failing = sorted({cid for c in rules for cid in c.cells if cid in known})
        # near: cells of the holding rules over a failing cell (none fails in another group)
        near = sorted(
            {cid for c in holding if not set(failing).isdisjoint(c.cells) for cid in c.cells if cid in known}
            - set(failing)
        )
        cells = failing + near
        keep = [c for c in holding if not set(cells).isdisjoint(c.cells)]
        tried, complete = exhaustive_explanations(
            failing, near, list(rules), holding, values, min(exhaustive_cells, max_cells), slack
        )
        sets: list[frozenset[str]] | None = tried
        if tried and not complete:  # the slack past what was tried
            sets = milp_explanations(cells, list(rules), keep, values, max_cells, max_solutions, slack, tried, deadline)
        elif not tried and max_cells > exhaustive_cells:
            sets = milp_explanations(cells, list(rules), keep, values, max_cells, max_solutions, slack, None, deadline)
        if sets is not None and len(sets) > max_solutions:
            sets = None
        out.append(FailureGroup(rules, tuple(sets) if sets else None))
    return out


__all__ = [
    "FailureGroup",
    "explain_failures",
    "explains",
    "failure_groups",
    "hides_change",
    "linear_system",
    "milp_explanations",
]
