"""The canonical schema (formats, tables, cell ids, rules) as data; read everywhere from here."""

from extraction.schema.model import (
    FORMATS,
    Column,
    FormatKey,
    Layout,
    Row,
    Section,
    Table,
    layout,
    outcome_rows,
    split_cell_id,
)
from extraction.schema.rules import Constraint, constraints, hard_constraints

__all__ = [
    "FORMATS",
    "Column",
    "Constraint",
    "FormatKey",
    "Layout",
    "Row",
    "Section",
    "Table",
    "constraints",
    "hard_constraints",
    "layout",
    "outcome_rows",
    "split_cell_id",
]
