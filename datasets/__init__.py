"""Synthetic and real labeled data for gongkai (imported as `gongkai_datasets`).

- `values`: random, rule-consistent cell values (`random_values`, `inject_violation`).
- `render`: the document model of a report (`render` -> `Document` of `Para` and `Grid`).
- `flatten`: flatteners turning a document into input text/bytes (`FLATTENERS`, `ALL`).
- `generate`: `generate(n, out_dir, seed, ...)` writes inputs and truth; CLI `main()`.
- `families`: table-style families (`FAMILIES`, `render_family`) rendered by reportlab, LibreOffice
  (`render_office`, from python-docx) or headless Chromium (from HTML), for leave-one-family-out benches.
- `scoring`: the benches' comparison of a result with its truth (`same_value`; a row read in another
  variant than the truth's, `absent_cell_reviewed`).

Real labeled inputs live next to this file: `seeds/` and `real/` (each with `truth/`).
"""

from pathlib import Path

from .flatten import ALL, FLATTENERS, TEXT_FLATTENERS, flatten
from .generate import generate, generate_one, main, truth_record
from .render import Document, GCell, Grid, Para, random_agency, render
from .values import ReportValues, failing_rules, inject_violation, random_values

DATA_DIR = Path(__file__).resolve().parent
SEEDS_DIR = DATA_DIR / "seeds"
REAL_DIR = DATA_DIR / "real"

__all__ = [
    "ALL",
    "DATA_DIR",
    "FLATTENERS",
    "REAL_DIR",
    "SEEDS_DIR",
    "TEXT_FLATTENERS",
    "Document",
    "GCell",
    "Grid",
    "Para",
    "ReportValues",
    "failing_rules",
    "flatten",
    "generate",
    "generate_one",
    "inject_violation",
    "main",
    "random_agency",
    "random_values",
    "render",
    "truth_record",
]
