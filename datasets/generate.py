"""Generate synthetic reports with their truth.

    python -m gongkai_datasets.generate --n 300 --out DIR --seed 7

writes `DIR/<id>.<ext>` (txt, md, html or docx, by flattener) and `DIR/truth/<id>.json` in the
truth format of `shared/dev/truth/*.json`:

    {"report": {"agency", "year", "format", "variants"}, "cells": {cell_id: value or null},
     "violations": [failing hard rule ids], "ambiguous": {}, "notes": "<flattener>, ...",
     "flattener": "<name>"}

Every report is a pure function of (seed, index) and the options, so a fixed seed gives the same
files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

from .flatten import ALL, FLATTENERS, glued_alternatives
from .render import Document, random_agency, render
from .values import ReportValues, random_values

YEARS = {"2021": (2021, 2025), "2019": (2019, 2020)}
FORMAT_WEIGHTS = {"2021": 0.75, "2019": 0.25}


@dataclass
class Generated:
    id: str
    ext: str
    content: str | bytes
    truth: dict[str, Any]
    values: ReportValues
    document: Document


def truth_record(rv: ReportValues, doc: Document, flattener: str) -> dict[str, Any]:
    lay = rv.layout
    notes = [flattener, *rv.injected, *rv.notes, *doc.notes]
    if rv.soft_broken:
        notes.append("soft rule broken: " + " ".join(rv.soft_broken))
    return {
        "report": {"agency": doc.agency, "year": doc.year, "format": rv.format, "variants": list(rv.variants)},
        "cells": {cid: rv.cells[cid] for cid in lay.cell_ids},
        "violations": rv.violations(),
        "ambiguous": glued_alternatives(doc) if flattener == "one_line" else {},
        "notes": ", ".join(notes),
        "flattener": flattener,
    }


def generate_one(
    index: int,
    seed: int = 0,
    *,
    formats: Sequence[str] = ("2021", "2019"),
    flatteners: Sequence[str] = ALL,
    violation_rate: float = 0.2,
    blank_rate: float = 0.12,
    single_row_rate: float = 0.15,
    fmt: str | None = None,
    flattener: str | None = None,
    variants: Sequence[str] | None = None,
    violation_kind: str | None = None,
) -> Generated:
    """Generate report number `index` of the stream `seed` in memory (no files)."""
    rng = random.Random(f"gongkai-datasets:{seed}:{index}")
    if flattener is None:
        offset = random.Random(f"gongkai-datasets:{seed}").randrange(len(flatteners))
        flattener = flatteners[(index + offset) % len(flatteners)]
    fl = FLATTENERS[flattener]
    if fmt is None:
        fmts = list(formats)
        fmt = rng.choices(fmts, weights=[FORMAT_WEIGHTS.get(f, 0.5) for f in fmts])[0]
    if variants is None:
        variants = (VARIANT_OTHER_SINGLE_ROW,) if fmt == "2021" and rng.random() < single_row_rate else ()
    year = rng.randint(*YEARS[fmt])
    agency = random_agency(rng)
    rv = random_values(
        rng,
        fmt,
        tuple(variants),
        blank_rate=blank_rate,
        positional_blanks=fl.positional,
        violation_rate=violation_rate,
        violation_kind=violation_kind,
    )
    doc = render(rv, agency, year, rng, fancy_numbers=fl.fancy_numbers)
    content = fl.fn(doc, rng)
    rid = f"syn{seed}_{index:05d}_{flattener}"
    return Generated(rid, fl.ext, content, truth_record(rv, doc, flattener), rv, doc)


def generate(
    n: int,
    out_dir: str | Path,
    seed: int = 0,
    formats: Sequence[str] = ("2021", "2019"),
    flatteners: Sequence[str] = ALL,
    violation_rate: float = 0.2,
    blank_rate: float = 0.12,
    single_row_rate: float = 0.15,
    start: int = 0,
) -> list[dict[str, str]]:
    """Write n reports (indices start..start+n-1) to out_dir and their truth to out_dir/truth.

    Returns one {"id", "input", "truth", "flattener", "format"} per report.
    """
    unknown = [f for f in flatteners if f not in FLATTENERS]
    if unknown:
        raise ValueError(f"unknown flatteners {unknown}; known: {list(FLATTENERS)}")
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    written: list[dict[str, str]] = []
    for i in range(start, start + n):
        g = generate_one(
            i,
            seed,
            formats=formats,
            flatteners=tuple(flatteners),
            violation_rate=violation_rate,
            blank_rate=blank_rate,
            single_row_rate=single_row_rate,
        )
        path = out / f"{g.id}.{g.ext}"
        if isinstance(g.content, bytes):
            path.write_bytes(g.content)
        else:
            path.write_text(g.content, encoding="utf-8")
        tpath = out / "truth" / f"{g.id}.json"
        tpath.write_text(json.dumps(g.truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(
            {
                "id": g.id,
                "input": str(path),
                "truth": str(tpath),
                "flattener": g.truth["flattener"],
                "format": g.truth["report"]["format"],
            }
        )
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gongkai_datasets.generate",
        description="Generate synthetic 政府信息公开工作年度报告 with truth.",
    )
    ap.add_argument("--n", type=int, default=300, help="number of reports")
    ap.add_argument("--out", required=True, help="output folder (truth goes to OUT/truth)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="index of the first report")
    ap.add_argument("--formats", default="2021,2019", help="comma-separated: 2021,2019")
    ap.add_argument("--flatteners", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--violation-rate", type=float, default=0.2)
    ap.add_argument("--blank-rate", type=float, default=0.12)
    ap.add_argument(
        "--single-row-rate", type=float, default=0.15, help="share of 2021 reports printing （六） as one row"
    )
    args = ap.parse_args(argv)
    written = generate(
        args.n,
        args.out,
        seed=args.seed,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        flatteners=tuple(f.strip() for f in args.flatteners.split(",") if f.strip()),
        violation_rate=args.violation_rate,
        blank_rate=args.blank_rate,
        single_row_rate=args.single_row_rate,
        start=args.start,
    )
    print(f"wrote {len(written)} reports to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
