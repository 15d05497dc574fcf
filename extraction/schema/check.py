"""The in-table rules checked on a table's values (hard rules 1–5 and the in-table soft rule).

Below the stages that use it: the rules stage (`extraction.rules`), the layout model's cell
features (`extraction.layout.model`) and the review service, which checks a corrected report again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from extraction.result import CheckResult
from extraction.schema import Layout, constraints


def _check(**fields: Any) -> CheckResult:
    # built from the schema's own constraints: constructed without validating, so the figures keep
    # their types (the result's JSON is the same as when checks were dicts)
    return CheckResult.model_construct(**fields)


def fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def check_rules(
    values: dict[str, int | float | None], lay: Layout, inferred: Collection[str] = frozenset()
) -> list[CheckResult]:
    """Checks of the in-table rules (hard rules 1–5 and the in-table soft rule). `inferred`: cells
    whose value a rule supplied; a rule that holds with one of them among its cells holds only by
    inference (status "inferred", not passed): it cannot vouch for the report."""
    checks: list[CheckResult] = []
    for c in constraints(lay):
        lhs = sum(values.get(x) or 0 for x in c.left)
        rhs = sum(values.get(x) or 0 for x in c.right)
        holds = c.holds(values)
        status = "failed" if not holds else "inferred" if any(x in inferred for x in c.cells) else "passed"
        passed = status == "passed"
        msg_zh, msg_en = c.message_zh, c.message_en
        if status == "inferred":
            msg_zh += "（仅在按规则补全的单元格下成立，待核对）"
            msg_en += " (holds only through a cell the sums supplied; to be checked)"
        if not holds:
            msg_zh += (
                f"（表中为 {fmt_number(lhs)}，按规则应为 {fmt_number(rhs)}）"
                if c.kind == "eq"
                else f"（{fmt_number(lhs)} < {fmt_number(rhs)}）"
            )
            msg_en += (
                f" (printed {fmt_number(lhs)}, rule gives {fmt_number(rhs)})" if c.kind == "eq" else f" ({fmt_number(lhs)} < {fmt_number(rhs)})"
            )
        checks.append(
            _check(
                rule=c.rule,
                severity=c.severity,
                passed=passed,
                status=status,
                cells=list(c.cells),
                message=msg_zh,
                message_en=msg_en,
                expected=float(rhs),
                actual=float(lhs),
            )
        )
    # Rule 5: counts are non-negative integers (format 2019's change may be negative); amounts non-negative.
    for table in lay.tables:
        bad: list[str] = []
        for cid in table.cell_ids:
            v = values.get(cid)
            if v is None:
                continue
            kind = lay.cells[cid].kind
            if kind == "amount":
                ok = v >= 0
            elif kind == "signed_count":
                ok = float(v).is_integer()
            else:
                ok = v >= 0 and float(v).is_integer()
            if not ok:
                bad.append(cid)
        checks.append(
            _check(
                rule=f"{table.key}.values",
                severity="error",
                passed=not bad,
                status="failed" if bad else "passed",
                cells=bad or table.cell_ids,
                message="各项数量应为非负整数，金额应为非负数" + (f"（不符合：{'、'.join(bad)}）" if bad else ""),
                message_en="Counts must be non-negative integers and amounts non-negative"
                + (f" (failing: {', '.join(bad)})" if bad else ""),
            )
        )
    return checks


def evaluate(
    values: dict[str, int | float | None], lay: Layout, inferred: Collection[str] = frozenset()
) -> list[dict[str, Any]]:
    """`check_rules` as JSON (the keys each check sets), for code that works on results' JSON."""
    return [c.model_dump(exclude_unset=True) for c in check_rules(values, lay, inferred)]


__all__ = ["check_rules", "evaluate"]
