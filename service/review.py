"""The reviewed state of a document: the extraction result with the reviewers' corrections applied and
the statutory rules re-run on the corrected values (`apply_reviews`, pure functions over JSON), and the
queries that read it from the database and keep a document's summary columns in step with it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from extraction.result import needs_review
from extraction.rules import evaluate
from extraction.schema import layout
from service.db import CellReview, Document, Result


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
    lay = layout(fmt, tuple(variants))
    out: dict[str, dict[str, str]] = {}
    for table in lay.tables:
        # the printed heading a row sits under: （三）不予公开 for its numbered rows, 第二十条第（一）项 …
        groups = {sec.key: sec.label for sec in table.sections}
        for row in table.rows:
            group = groups.get(row.group or "", "")
            for cid, col in zip(row.cell_ids, row.columns, strict=True):
                out[cid] = {"table": table.title, "group": group, "row": row.label, "column": col.label}
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
    # A failed rule whose every cell is reviewed or pinned (`pinned_by_rule`) has no suspect left to
    # explain it: its pinned cells go back to review, so a report is never verified with a failed
    # rule whose cells no person looked at.
    pinned = {cid for cid, c in result["cells"].items() if "pinned_by_rule" in c.get("flags", [])}
    unpinned = {
        cid
        for c in checks
        if not c["passed"] and c["severity"] == "error" and set(c["cells"]) <= reviewed | pinned
        for cid in c["cells"]
    }
    for cid, cell in result["cells"].items():
        drop = ("failed_rule", "reviewed", "corrected") + (("pinned_by_rule",) if cid in unpinned else ())
        flags = [f for f in cell.get("flags", []) if f not in drop]
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


# --------------------------------------------------------------------------------------------
# The reviewed view of a stored document


def reviewed_view(s: Session, doc: Document, threshold: float) -> ReviewedView | None:
    """The document's result with its live review actions applied; None before it has a result."""
    if doc.result_id is None:
        return None
    result = s.get(Result, doc.result_id)
    if result is None:
        return None
    rows = list(s.scalars(select(CellReview).where(CellReview.result_id == result.id).order_by(CellReview.id)))
    return apply_reviews(result.data, live_actions(rows), threshold)


def live_actions(rows: list[CellReview]) -> list[ReviewAction]:
    """The audit rows that are in effect, in order: neither an undo nor undone by one."""
    undone = {r.undoes for r in rows if r.action == "undo"}
    return [
        ReviewAction(r.cell_id, r.action, r.new_value, r.reviewer)
        for r in rows
        if r.action != "undo" and r.id not in undone
    ]


def summarize_reviews(s: Session, doc: Document, threshold: float) -> ReviewedView:
    """After review rows were added: the document's reviewed view, its summary columns refreshed.

    The document row is locked first (PostgreSQL; SQLite serialises writers anyway), so two reviewers
    saving cells of one document at once cannot each write a summary that misses the other's cell.
    """
    # FOR NO KEY UPDATE: it waits for another reviewer's summary, not for the key-share locks that
    # inserting review rows (foreign key to the document) takes, so it cannot deadlock with them
    s.execute(select(Document.id).where(Document.id == doc.id).with_for_update(key_share=True))
    view = reviewed_view(s, doc, threshold)
    if view is None:  # the result was there when the review rows were added, in this transaction
        raise RuntimeError(f"document {doc.id} lost its result while being reviewed")
    refresh_summary(s, doc, view)
    return view


def refresh_summary(s: Session, doc: Document, view: ReviewedView) -> None:
    s.execute(
        update(Document)
        .where(Document.id == doc.id)
        .values(
            open_reviews=len(view.open_reviews),
            failed_rules=view.failed_rules,
            status="verified" if view.verified else "review",
        )
    )
