"""The spec's consistency rules as data: each rule expands to concrete constraints over cell ids.

Hard rules are linear equalities `sum(left) == sum(right)`; the reconstruction solver uses the
same objects to choose between readings, and the rules pass checks them. Soft rules are
inequalities and cross-report relations; they warn and never decide alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from extraction.schema.model import Layout, outcome_rows

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Constraint:
    """`sum(left) == sum(right)` (kind "eq") or `sum(left) >= sum(right)` (kind "ge")."""

    rule: str  # stable id, e.g. "applications.total.new"
    severity: Severity
    kind: Literal["eq", "ge"]
    left: tuple[str, ...]
    right: tuple[str, ...]
    message_zh: str
    message_en: str

    @property
    def cells(self) -> tuple[str, ...]:
        return self.left + self.right

    def holds(self, values: dict[str, float | int | None]) -> bool:
        lhs = sum(values.get(c) or 0 for c in self.left)
        rhs = sum(values.get(c) or 0 for c in self.right)
        if self.kind == "eq":
            return abs(lhs - rhs) < 1e-6
        return lhs >= rhs - 1e-6


APPLICANTS = ("natural_person", "commercial", "research", "public_welfare", "legal_services", "other_org")
APPEAL_PARTS = ("upheld", "corrected", "other", "pending")


@cache
def constraints(lay: Layout) -> tuple[Constraint, ...]:
    out: list[Constraint] = []
    apps = lay.table("applications")
    columns = [c.key for c in apps.rows[0].columns]
    # Rule 1: every row's total is the sum of its six applicant columns.
    for row in apps.rows:
        out.append(
            Constraint(
                f"applications.total.{row.key}",
                "error",
                "eq",
                (f"applications.{row.key}.total",),
                tuple(f"applications.{row.key}.{c}" for c in APPLICANTS),
                f"「{row.label}」一行的总计应等于自然人与各类法人或其他组织之和",
                f"Row '{row.key}': total must equal the sum of the six applicant columns",
            )
        )
    # Rule 2: new + carried over == outcome total + carried forward, per column.
    for col in columns:
        out.append(
            Constraint(
                f"applications.balance.{col}",
                "error",
                "eq",
                (f"applications.new.{col}", f"applications.carried_over.{col}"),
                (f"applications.outcome_total.{col}", f"applications.carried_forward.{col}"),
                f"「{col}」列：第一项加第二项之和应等于第三项加第四项之和",
                f"Column '{col}': new + carried over must equal outcome total + carried forward",
            )
        )
    # Rule 3: outcome total is the sum of every outcome row.
    outcomes = outcome_rows(apps)
    for col in columns:
        out.append(
            Constraint(
                f"applications.outcome_total.{col}",
                "error",
                "eq",
                (f"applications.outcome_total.{col}",),
                tuple(f"applications.{r.key}.{col}" for r in outcomes),
                f"「{col}」列：（七）总计应等于（一）至（六）各项办理结果之和",
                f"Column '{col}': (7) total must equal the sum of outcome rows (1) to (6)",
            )
        )
    # Rule 4: each appeals row's total is upheld + corrected + other + pending.
    for row in lay.table("appeals").rows:
        out.append(
            Constraint(
                f"appeals.total.{row.key}",
                "error",
                "eq",
                (f"appeals.{row.key}.total",),
                tuple(f"appeals.{row.key}.{p}" for p in APPEAL_PARTS),
                f"「{row.label}」的总计应等于结果维持、结果纠正、其他结果与尚未审结之和",
                f"Appeals '{row.key}': total must equal upheld + corrected + other + pending",
            )
        )
    # Soft: documents in force are at least those issued this year (format 2021).
    if lay.format == "2021":
        for row in lay.table("proactive").rows:
            keys = {c.key for c in row.columns}
            if {"issued", "in_force"} <= keys:
                out.append(
                    Constraint(
                        f"proactive.in_force.{row.key}",
                        "warning",
                        "ge",
                        (f"proactive.{row.key}.in_force",),
                        (f"proactive.{row.key}.issued",),
                        f"「{row.label}」现行有效件数通常不少于本年制发件数",
                        f"'{row.key}': documents in force are usually at least those issued this year",
                    )
                )
    return tuple(out)


def hard_constraints(lay: Layout) -> tuple[Constraint, ...]:
    return tuple(c for c in constraints(lay) if c.severity == "error")
