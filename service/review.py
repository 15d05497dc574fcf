"""The reviewed state of a document: the extraction result with the reviewers' corrections applied and
the statutory rules re-run on the corrected values. Pure functions over JSON (no database)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from extraction.result import needs_review
from extraction.rules import evaluate
from extraction.schema import layout


@dataclass
class ReviewAction:
    cell_id: str
    action: str  # accept | correct | bulk_accept | import
    new_value: Any = None
    reviewer: str = ""


@dataclass
class ReviewedView:
    result: dict[str, Any]  # the canonical document, corrected
    reviewed: set[str] = field(default_factory=set)
    corrected: set[str] = field(default_factory=set)
    failing: dict[str, list[str]] = field(default_factory=dict)  # cell -> failing error rules

    @property
    def open_reviews(self) -> list[str]:
        return self.result["review"]

    @property
    def verified(self) -> bool:
        return not self.result["review"]

    @property
    def failed_rules(self) -> int:
        return sum(1 for c in self.result["checks"] if not c["passed"] and c["severity"] == "error")


def labels(fmt: str, variants: Iterable[str]) -> dict[str, dict[str, str]]:
    lay = layout(fmt, tuple(variants))  # type: ignore[arg-type]
    out: dict[str, dict[str, str]] = {}
    for table in lay.tables:
        for row in table.rows:
            for cid, col in zip(row.cell_ids, row.columns, strict=True):
                out[cid] = {"table": table.title, "row": row.label, "column": col.label}
    return out


def apply_reviews(data: dict[str, Any], actions: Iterable[ReviewAction], threshold: float) -> ReviewedView:
    result = {**data, "cells": {cid: dict(c) for cid, c in data["cells"].items()}}
    reviewed: set[str] = set()
    corrected: dict[str, str] = {}
    for a in actions:
        if a.cell_id not in result["cells"]:
            continue
        if isinstance(a.new_value, float) and not math.isfinite(a.new_value):
            continue  # stored before values were validated (issue 18): ignored, so the cell is reviewed again
        reviewed.add(a.cell_id)
        if a.action in ("correct", "import"):  # import: a labeled value brought in by POST /v1/labeled
            result["cells"][a.cell_id]["value"] = a.new_value
            corrected[a.cell_id] = a.reviewer
    report = result["report"]
    values = {cid: c["value"] for cid, c in result["cells"].items()}
    # Re-run the in-table rules on the corrected values; narrative and cross-year checks stay as extracted.
    table_checks = evaluate(values, layout(report["format"], tuple(report.get("variants") or ())))
    rerun = {c["rule"] for c in table_checks}
    checks = table_checks + [c for c in data.get("checks", []) if c["rule"] not in rerun]
    failing: dict[str, list[str]] = {}
    for c in checks:
        if not c["passed"] and c["severity"] == "error":
            for cid in c["cells"]:
                failing.setdefault(cid, []).append(c["rule"])
    for cid, cell in result["cells"].items():
        flags = [f for f in cell.get("flags", []) if f not in ("failed_rule", "reviewed", "corrected")]
        if cid in failing:
            flags.append("failed_rule")
        if cid in reviewed:
            flags.append("reviewed")
        if cid in corrected:
            flags.append("corrected")
            cell["model"] = f"review:{corrected[cid]}"
            cell["alternatives"] = []
        if cid in reviewed:
            cell["confidence"] = 1.0  # a person read it off the page
        cell["flags"] = flags
        cell["review"] = cid not in reviewed and needs_review(cell["confidence"], flags, cid in failing, threshold)
    result["checks"] = checks
    result["review"] = sorted(
        (cid for cid, c in result["cells"].items() if c["review"]),
        key=lambda cid: (cid not in failing, result["cells"][cid]["confidence"], cid),
    )
    return ReviewedView(result, reviewed, set(corrected), failing)


# Every way a value enters (POST …/correct, POST /labeled) goes through `coerce_value`.
MAX_VALUE_CHARS = 64  # a typed value longer than this is no figure (and is not echoed back whole)
MAX_VALUE_DIGITS = 12  # digits before the point: no statutory count or amount (万元) comes near it
AMOUNT_DECIMALS = 6  # places after the point of an amount (元 → 万元 gives up to six)
ECHO_CHARS = 40  # what an error message repeats of the value it refuses


class BadValue(ValueError):
    """A value refused for a cell: `reason` is its typed code, the message Chinese with English beside."""

    def __init__(self, reason: str, zh: str, en: str, raw: Any) -> None:
        self.reason = reason
        self.message = f"{zh} ({en}): {echo(raw)}"
        super().__init__(self.message)

    def to_detail(self, cell_id: str) -> dict[str, str]:
        return {"cell_id": cell_id, "reason": self.reason, "message": self.message}


def echo(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 1] + "…"


def coerce_value(fmt: str, variants: Iterable[str], cell_id: str, raw: Any) -> int | float | None:
    """A reviewer's input → the cell's value type (counts are integers, amounts decimals, blank is null).

    Refused (`BadValue`, a ValueError): anything but a number, a numeric string or null/blank; strings
    over MAX_VALUE_CHARS; NaN and ±Infinity (also as text or as 1e400); more than MAX_VALUE_DIGITS
    digits before the point; a negative value but in a signed column (本年增/减); a count that is not
    whole; an amount with more than AMOUNT_DECIMALS places. KeyError: not a cell of the format."""
    from decimal import Decimal, InvalidOperation

    lay = layout(fmt, tuple(variants))  # type: ignore[arg-type]
    if cell_id not in lay.cells:
        raise KeyError(cell_id)
    kind = lay.cells[cell_id].kind
    if isinstance(raw, str) and len(raw) > MAX_VALUE_CHARS:
        raise BadValue("too_long", f"数值过长（超过 {MAX_VALUE_CHARS} 个字符）", f"over {MAX_VALUE_CHARS} characters", raw)
    if raw is None or (isinstance(raw, str) and raw.strip() in ("", "-", "—", "null")):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise BadValue("wrong_type", "数值应为数字或空", "a cell value is a number or null", raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise BadValue("not_finite", "数值必须是有限数", "not a finite number", raw)
    text = str(raw).strip().replace(",", "").replace("，", "")
    try:
        number = Decimal(text)  # a float's shortest repr: 0.1 is 0.1, not its binary expansion
    except (InvalidOperation, ValueError):
        raise BadValue("not_a_number", "不是数字", "not a number", raw) from None
    if not number.is_finite():
        raise BadValue("not_finite", "数值必须是有限数", "not a finite number", raw)
    if number.adjusted() >= MAX_VALUE_DIGITS:
        raise BadValue(
            "out_of_range", f"数值超出范围（整数部分超过 {MAX_VALUE_DIGITS} 位）", f"over {MAX_VALUE_DIGITS} digits", raw
        )
    if number < 0 and kind != "signed_count":
        raise BadValue("negative", "件数或金额不能为负数", "a count or amount is not negative", raw)
    whole = number == number.to_integral_value()
    if kind == "amount":
        if not whole and -number.normalize().as_tuple().exponent > AMOUNT_DECIMALS:  # type: ignore[operator]
            raise BadValue(
                "too_precise", f"金额最多 {AMOUNT_DECIMALS} 位小数", f"an amount has at most {AMOUNT_DECIMALS} decimals", raw
            )
        return int(number) if whole else float(number)
    if not whole:
        raise BadValue("not_whole", f"{cell_id} 是件数，应为整数", f"{cell_id} is a count: a whole number", raw)
    return int(number)


def truth_record(view: ReviewedView) -> dict[str, Any]:
    """The labeled-data (truth JSON) form of a reviewed document, as in datasets/*/truth/."""
    report = view.result["report"]
    return {
        "report": {
            "agency": report.get("agency"),
            "year": report.get("year"),
            "format": report["format"],
            **({"variants": report["variants"]} if report.get("variants") else {}),
        },
        "format": report["format"],
        "cells": {cid: c["value"] for cid, c in view.result["cells"].items()},
    }
