"""Labeled real reports for fine-tuning and evaluation: a folder of report files, each with its truth
JSON in `truth/<stem>.json` (the spec's cell ids), validated record by record.

Truth record:

    {"report": {"format": "2021" | "2019", "agency": str?, "year": int?, "variants": [str]},
     "cells": {cell_id: number or null, ...}}   # every cell id of the format, nothing else

Errors name the file and the line of the offending record (`truth/x.json:17: unknown cell id ...`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from extraction.schema import layout
from training.data import Example, load_labeled

REPORT_SUFFIXES = {".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


class ReportInfo(BaseModel):
    format: Literal["2021", "2019"]
    agency: str | None = None
    year: int | None = Field(default=None, ge=1990, le=2100)
    variants: list[str] = Field(default_factory=list)


class TruthRecord(BaseModel):
    report: ReportInfo
    cells: dict[str, int | float | None]


class LabeledDataError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _line_of(text: str, needle: str) -> int:
    i = text.find(needle)
    return text.count("\n", 0, i) + 1 if i >= 0 else 1


def validate_truth(path: Path) -> tuple[TruthRecord | None, list[str]]:
    """The parsed record and a list of `path:line: message` errors (empty when valid)."""
    text = path.read_text(encoding="utf-8")
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"{path}:{exc.lineno}: not JSON: {exc.msg}"]
    try:
        rec = TruthRecord.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            key = loc[-1] if loc else ""
            line = _line_of(text, f'"{key}"') if key and not key.isdigit() else 1
            errors.append(f"{path}:{line}: {'.'.join(loc)}: {e['msg']}")
        return None, errors
    errors = []
    try:
        lay = layout(rec.report.format, tuple(rec.report.variants))
    except Exception as exc:
        return None, [f"{path}:{_line_of(text, 'variants')}: report.variants: {exc}"]
    expected = set(lay.cell_ids)
    for cid, value in rec.cells.items():
        if cid not in expected:
            errors.append(
                f"{path}:{_line_of(text, json.dumps(cid))}: unknown cell id {cid!r} for format {rec.report.format}"
            )
            continue
        kind = lay.column_of(cid).kind
        if value is not None and kind != "signed_count" and value < 0:
            errors.append(f"{path}:{_line_of(text, json.dumps(cid))}: {cid}: negative value {value}")
        if value is not None and kind != "amount" and not float(value).is_integer():
            errors.append(f"{path}:{_line_of(text, json.dumps(cid))}: {cid}: a count must be a whole number ({value})")
    missing = sorted(expected - set(rec.cells))
    if missing:
        line = _line_of(text, '"cells"')
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        errors.append(f"{path}:{line}: cells: missing {len(missing)} cell ids of format {rec.report.format}: {shown}")
    return (rec if not errors else None), errors


def find_pairs(folder: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    folder = Path(folder)
    pairs, errors = [], []
    truth_dir = folder / "truth"
    for report in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES):
        truth = truth_dir / f"{report.stem}.json"
        if not truth.is_file():
            errors.append(f"{report}: no truth file {truth}")
            continue
        pairs.append((report, truth))
    for truth in sorted(truth_dir.glob("*.json")) if truth_dir.is_dir() else []:
        if not any(t == truth for _, t in pairs) and not any(truth.stem == r.stem for r, _ in pairs):
            errors.append(f"{truth}: no report file named {truth.stem}.*")
    return pairs, errors


def validate_dir(folder: Path) -> list[str]:
    pairs, errors = find_pairs(folder)
    for _, truth in pairs:
        errors.extend(validate_truth(truth)[1])
    return errors


def load_labeled_dir(folder: Path) -> list[Example]:
    """Every labeled report of `folder`, ingested; raises LabeledDataError listing every problem."""
    errors = validate_dir(folder)
    if errors:
        raise LabeledDataError(errors)
    pairs, _ = find_pairs(folder)
    return [load_labeled(report, truth) for report, truth in pairs]


__all__ = ["LabeledDataError", "TruthRecord", "load_labeled_dir", "validate_dir", "validate_truth"]
