"""Typed view of the canonical schema built from the data in `formats.py`.

`layout(format, variants)` gives the concrete tables, rows and cell ids a report of that format
prints; the rules (`extraction.schema.rules`) and every stage read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from extraction.schema import formats as F

FormatKey = Literal["2021", "2019"]
ColumnKind = Literal["count", "signed_count", "amount"]
FORMATS: tuple[FormatKey, ...] = ("2021", "2019")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    aliases: tuple[str, ...]
    kind: ColumnKind = "count"


@dataclass(frozen=True)
class Row:
    table: str
    key: str
    label: str
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]
    group: str | None = None  # printed parent heading (table 三) or 第二十条 section (table 二)

    @property
    def cell_ids(self) -> list[str]:
        return [f"{self.table}.{self.key}.{c.key}" for c in self.columns]

    @property
    def id(self) -> str:
        return f"{self.table}.{self.key}"


@dataclass(frozen=True)
class Section:
    """A printed heading inside a table that carries no values (第二十条第（一）项, （三）不予公开)."""

    table: str
    key: str
    label: str
    aliases: tuple[str, ...]
    header: tuple[Column, ...] = ()


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    title_aliases: tuple[str, ...]
    rows: tuple[Row, ...]
    sections: tuple[Section, ...] = ()

    @property
    def cell_ids(self) -> list[str]:
        return [cid for r in self.rows for cid in r.cell_ids]


@dataclass(frozen=True)
class Layout:
    """The tables of one format as a report prints them (after its variants)."""

    format: FormatKey
    variants: tuple[str, ...]
    tables: tuple[Table, ...]
    cells: dict[str, Column] = field(default_factory=dict, compare=False, hash=False)

    @property
    def cell_ids(self) -> list[str]:
        return [cid for t in self.tables for cid in t.cell_ids]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def row(self, row_id: str) -> Row:
        table, key = row_id.split(".", 1)
        return next(r for r in self.table(table).rows if r.key == key)

    def column_of(self, cell_id: str) -> Column:
        return self.cells[cell_id]


def split_cell_id(cell_id: str) -> tuple[str, str, str]:
    """Split `table.row.column` at the first and last dot (a row key may hold a dot)."""
    table, rest = cell_id.split(".", 1)
    row, column = rest.rsplit(".", 1)
    return table, row, column


def _columns(spec: list[tuple]) -> tuple[Column, ...]:
    out = []
    for item in spec:
        key, label, aliases = item[0], item[1], item[2]
        kind: ColumnKind = item[3] if len(item) > 3 else "count"
        out.append(Column(key, label, tuple(aliases), kind))
    return tuple(out)


def _proactive(fmt: FormatKey) -> Table:
    spec = F.PROACTIVE_2021 if fmt == "2021" else F.PROACTIVE_2019
    rows: list[Row] = []
    sections: list[Section] = []
    for i, (section_label, header, row_specs) in enumerate(spec):
        columns = _columns(header)
        section_key = f"article20.{i}"
        sections.append(Section("proactive", section_key, section_label, (section_label,), columns))
        for key, label, aliases in row_specs:
            rows.append(Row("proactive", key, label, tuple(aliases), columns, section_key))
    title, aliases = F.SECTION_HEADINGS["proactive"]
    return Table("proactive", title, tuple(aliases), tuple(rows), tuple(sections))


def _applications(fmt: FormatKey, single_other_row: bool) -> Table:
    columns = _columns(F.APPLICANT_COLUMNS)
    rows: list[Row] = []
    for key, label, aliases, group, formats in F.APPLICATION_ROWS:
        if key == "other":
            include = fmt == "2019" or single_other_row
        elif key.startswith("other."):
            include = fmt in formats and not single_other_row
        else:
            include = fmt in formats
        if include:
            rows.append(Row("applications", key, label, tuple(aliases), columns, group))
    sections = tuple(
        Section("applications", key, label, tuple(aliases))
        for key, (label, aliases) in F.APPLICATION_GROUPS.items()
        if not (key == "other" and (fmt == "2019" or single_other_row))
    )
    title, aliases = F.SECTION_HEADINGS["applications"]
    return Table("applications", title, tuple(aliases), tuple(rows), sections)


def _appeals() -> Table:
    columns = _columns(F.APPEALS_COLUMNS)
    rows = tuple(Row("appeals", key, label, tuple(aliases), columns) for key, label, aliases in F.APPEALS_ROWS)
    title, aliases = F.SECTION_HEADINGS["appeals"]
    return Table("appeals", title, tuple(aliases), rows)


@cache
def layout(fmt: FormatKey, variants: tuple[str, ...] = ()) -> Layout:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    single_other = fmt == "2021" and F.VARIANT_OTHER_SINGLE_ROW in variants
    tables = (_proactive(fmt), _applications(fmt, single_other), _appeals())
    cells = {cid: col for t in tables for r in t.rows for cid, col in zip(r.cell_ids, r.columns, strict=True)}
    return Layout(fmt, tuple(sorted(set(variants))), tables, cells)


def outcome_rows(table: Table) -> list[Row]:
    """Rows summed by hard rule 3: granted through other.*, not the totals themselves."""
    return [r for r in table.rows if r.group in F.OUTCOME_GROUPS and r.key != "outcome_total"]
