"""Scoring an extraction against its truth, shared by the benches.

A report may print a row in another variant than its truth's (（六）其他处理 as one row or as its
three sub-rows, `report.variants` in the canonical schema): the truth's cells are then absent from
the result, which holds the same figures under the other variant's ids. Such an absent cell is
wrong, but it is not silent when every cell standing in for it is in review: the reviewer sees
that row and corrects it. An absent cell with no stand-in is wrong and never reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def same_value(a: Any, b: Any) -> bool:
    """Two cell values are the same figure (floats to 1e-6; blank is None)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(a - b) < 1e-6
    return a == b


def stand_ins(cell_id: str, cells: Mapping[str, Any]) -> list[str]:
    """The ids of `cells` that stand for `cell_id` in another variant of its row: same table, same
    column, a row that is the truth row's parent or one of its sub-rows
    (`applications.other.total` ↔ `applications.other.no_amendment.total`)."""
    table, *row, column = cell_id.split(".")
    if not row:
        return []
    out = []
    for other in cells:
        o_table, *o_row, o_column = other.split(".")
        if o_table != table or o_column != column or not o_row or o_row == row:
            continue
        shorter, longer = sorted((row, o_row), key=len)
        if longer[: len(shorter)] == shorter:
            out.append(other)
    return out


def absent_cell_reviewed(cell_id: str, cells: Mapping[str, Any]) -> bool:
    """Whether an absent truth cell is in review through its stand-ins (objects with `.review`)."""
    found = stand_ins(cell_id, cells)
    return bool(found) and all(cells[c].review for c in found)
