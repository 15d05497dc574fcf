"""The smallest explanations of failed sums (`extraction.rules.explain`): the mixed-integer programme
finds what trying every set finds, groups are what nothing ties together, and the search gives up
(pins nothing) rather than guess."""

from __future__ import annotations

import random

from extraction.rules.explain import (
    exhaustive_explanations,
    explain_failures,
    explains,
    failure_groups,
    milp_explanations,
)
from extraction.schema import constraints, layout

LAYOUT = layout("2021")
HARD = [c for c in constraints(LAYOUT) if c.severity == "error" and c.kind == "eq"]


def _consistent(rng: random.Random) -> dict[str, int | float | None]:
    """Table 三 filled with small counts that every hard equality holds on (rows of outcomes, their
    totals, the balance), every other cell 0."""
    values: dict[str, int | float | None] = dict.fromkeys(LAYOUT.cells, 0)
    cols = ("natural_person", "commercial", "research", "public_welfare", "legal_services", "other_org")
    balance = ("new", "carried_over", "outcome_total", "carried_forward")
    outcome_rows = sorted(
        {cid.rsplit(".", 1)[0] for cid in LAYOUT.cells if cid.startswith("applications.")}
        - {f"applications.{r}" for r in balance}
    )
    for col in cols:
        for row in rng.sample(outcome_rows, 3):
            values[f"{row}.{col}"] = rng.randint(1, 9)
        total = sum(values[f"{row}.{col}"] or 0 for row in outcome_rows)
        values[f"applications.outcome_total.{col}"] = total
        values[f"applications.new.{col}"] = total
    for row in [*outcome_rows, *(f"applications.{r}" for r in balance)]:
        values[f"{row}.total"] = sum(values[f"{row}.{col}"] or 0 for col in cols)
    assert all(c.holds(values) for c in HARD if c.rule.startswith("applications."))
    return values


def _split(values):
    failed = [c for c in HARD if not c.holds(values)]
    holding = [c for c in HARD if c.holds(values)]
    return failed, holding


def test_the_programme_finds_the_smallest_sets_that_trying_every_set_finds():
    """Random tables with one to three misread figures: the programme's smallest explanations are
    exactly the smallest sets of at most three cells that explain the failures."""
    rng = random.Random(7)
    cells = [cid for cid in LAYOUT.cells if cid.startswith("applications.")]
    compared = 0
    for _ in range(12):
        values = _consistent(rng)
        for cid in rng.sample(cells, rng.randint(1, 3)):
            values[cid] = (values[cid] or 0) + rng.choice([-3, 2, 5, 7])
        failed, holding = _split(values)
        for rules in failure_groups(failed, holding):
            failing = sorted({cid for c in rules for cid in c.cells})
            near = sorted({cid for c in holding if not set(failing).isdisjoint(c.cells) for cid in c.cells} - set(failing))
            tried, _ = exhaustive_explanations(failing, near, list(rules), holding, values, 3)
            if not tried:
                continue
            keep = [c for c in holding if not set(failing + near).isdisjoint(c.cells)]
            found = milp_explanations(failing + near, list(rules), keep, values, 3, 64)
            assert found is not None and set(found) == set(tried), (sorted(map(sorted, found or [])), tried)
            assert all(explains(set(s), list(rules), holding, values) for s in found)
            compared += 1
    assert compared >= 8


def test_failures_a_holding_sum_ties_are_one_group_and_untied_ones_are_apart():
    values = _consistent(random.Random(3))
    values["applications.new.natural_person"] = (values["applications.new.natural_person"] or 0) + 4
    values["applications.new.total"] = (values["applications.new.total"] or 0) + 4
    values["appeals.review.upheld"] = 5  # table 四: no sum ties it to table 三
    failed, holding = _split(values)
    groups = failure_groups(failed, holding)
    # the two balances (natural persons, total) share no cell: 本年新收's row sum ties them
    assert sorted(len(g) for g in groups) == [1, 2]
    explained = explain_failures(failed, holding, values, max_cells=6, max_solutions=16, slack=0)
    apps = next(g for g in explained if len(g.rules) == 2)
    assert apps.explanations is not None
    assert frozenset({"applications.new.natural_person", "applications.new.total"}) in apps.explanations


def test_too_many_smallest_explanations_pin_nothing():
    """A failure every row explains as well (a column's sum and its total column's, off by the same
    amount): more smallest sets than allowed, so the group has no explanation to pin by."""
    values = _consistent(random.Random(5))
    values["applications.outcome_total.research"] = (values["applications.outcome_total.research"] or 0) + 2
    values["applications.outcome_total.total"] = (values["applications.outcome_total.total"] or 0) + 2
    values["applications.new.research"] = (values["applications.new.research"] or 0) + 2
    values["applications.new.total"] = (values["applications.new.total"] or 0) + 2
    failed, holding = _split(values)
    few = explain_failures(failed, holding, values, max_cells=6, max_solutions=2, slack=0)
    assert all(g.explanations is None for g in few)
    many = explain_failures(failed, holding, values, max_cells=6, max_solutions=64, slack=0)
    assert all(g.explanations is not None and len(g.explanations) > 2 for g in many)
