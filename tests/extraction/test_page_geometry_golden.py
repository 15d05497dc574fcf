"""Golden page geometry: what the page reader makes of rendered pages in the held-out style families
(issue 15). Each case is a digital PDF rendered deterministically (reportlab) in one family; the
reader's Lines (page, delimited, field texts) must equal the stored golden file.

A change in the page reader that moves a cell shows here as a diff of rows, not only as a cell
count in the bench. Regenerate, after checking the diff is an improvement, with the explicit flag:

    .venv/bin/python -m pytest tests/extraction/test_page_geometry_golden.py --regen-golden
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "page_geometry"

# (family, report index, seed): table styles the layout model and every tuned threshold never saw
CASES = [
    ("frame_no_row_rules", 0, 5),
    ("three_line", 0, 5),
    ("no_rules_aligned", 6, 5),
    ("indented_single_label_column", 1, 5),
    ("outer_frame_header_rule", 0, 5),
    ("proactive_subtables", 5, 5),
]


def _lines(family: str, index: int, seed: int) -> list[list]:
    from extraction.ingest import IngestOptions, Ingestor
    from gongkai_datasets.families import render_family

    pdf = render_family(index, family, seed=seed).pdf
    state = Ingestor(IngestOptions())(pdf, f"{family}.pdf")
    return [[ln.page, ln.delimited, [f.text for f in ln.fields]] for ln in state.lines]


@pytest.mark.parametrize(("family", "index", "seed"), CASES, ids=[f"{f}-{i}" for f, i, _ in CASES])
def test_page_geometry_matches_golden(family: str, index: int, seed: int, request: pytest.FixtureRequest):
    got = _lines(family, index, seed)
    path = GOLDEN / f"{family}_{seed}_{index}.json"
    if request.config.getoption("--regen-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in got)  # one Line a line: diffs read as rows
        path.write_text(f"[\n{rows}\n]\n", encoding="utf-8")
        pytest.skip(f"regenerated {path.name}")
    assert path.exists(), f"no golden file {path.name}: run with --regen-golden once"
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want
