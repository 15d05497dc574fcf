"""Flat exports of extraction results: one row per cell (CSV, XLSX)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from extraction.result import ExtractionResult
from extraction.schema import layout, split_cell_id

FLAT_COLUMNS = ["cell", "table", "row", "column", "label", "value", "confidence", "review", "flags", "page", "text"]
# Text a spreadsheet program would run as a formula (OWASP "CSV injection"): an agency name or a file
# name from a submitter starting with one of these is written as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A CSV cell: text starting like a formula gets a leading apostrophe (shown as text, not run)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(row: list) -> list:
    return ["" if v is None else csv_safe(v) for v in row]


def xlsx_append(ws, row: list) -> None:
    """Append a row to an openpyxl sheet with every text cell typed as text: openpyxl would store a
    string starting with `=` as a live formula."""
    ws.append(row)
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.data_type == "f":
            cell.data_type = "s"


def _labels(result: ExtractionResult) -> dict[str, tuple[str, str, str]]:
    lay = layout(result.report.format, tuple(result.report.variants))
    out: dict[str, tuple[str, str, str]] = {}
    for table in lay.tables:
        for row in table.rows:
            for cid, col in zip(row.cell_ids, row.columns, strict=True):
                out[cid] = (table.title, row.label, col.label)
    return out


def flat_rows(result: ExtractionResult) -> list[list]:
    labels = _labels(result)
    rows = []
    for cid, cell in result.cells.items():
        table, row, column = split_cell_id(cid)
        t_label, r_label, c_label = labels.get(cid, ("", "", ""))
        rows.append(
            [
                cid,
                table,
                row,
                column,
                f"{t_label} / {r_label} / {c_label}",
                cell.value,
                cell.confidence,
                cell.review,
                ";".join(cell.flags),
                cell.page,
                cell.text,
            ]
        )
    return rows


def to_csv(result: ExtractionResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(FLAT_COLUMNS)
    for row in flat_rows(result):
        writer.writerow(csv_row(row))
    return buf.getvalue()


def write_csv(result: ExtractionResult, path: Path) -> None:
    # UTF-8 with BOM so spreadsheet programs read the Chinese labels correctly.
    path.write_text(to_csv(result), encoding="utf-8-sig")


def write_xlsx(result: ExtractionResult, path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "cells"
    ws.append(FLAT_COLUMNS)
    for row in flat_rows(result):
        xlsx_append(ws, row)
    checks = wb.create_sheet("checks")
    checks.append(["rule", "severity", "passed", "cells", "message", "message_en"])
    for c in result.checks:
        xlsx_append(checks, [c.rule, c.severity, c.passed, " ".join(c.cells), c.message, c.message_en])
    meta = wb.create_sheet("report")
    for key, value in [
        ("agency", result.report.agency),
        ("year", result.report.year),
        ("format", result.report.format),
        ("variants", ", ".join(result.report.variants)),
        ("source", result.source.name),
        ("sha256", result.source.sha256),
    ]:
        xlsx_append(meta, [key, value])
    wb.save(path)
