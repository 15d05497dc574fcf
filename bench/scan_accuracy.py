"""Scanned pages end to end: cell accuracy, review catch rate, seconds per page, peak memory.

    python bench/scan_accuracy.py --n 10 --seed 21 --preset moderate [--kinds scan|pdf]

Generates synthetic reports rendered to scanned PDFs and page images (or digital PDFs with
--kinds pdf), runs the whole pipeline (render/decode, prep, OCR, geometry, labels, solver,
rules) and prints cell accuracy, the share of wrong cells that review catches (confidence
below the threshold or in a failing rule), seconds per page and the process's peak RSS.
Goals (issue 3): digital ≥ 99.9 %; moderate scans ≥ 99.5 % with ≥ 99 % of wrong cells caught;
≤ 2 s per scanned page on 2 cores; ≤ 2 GiB for a 100-page scan.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _evaluate():
    spec = importlib.util.spec_from_file_location("synthetic_accuracy", ROOT / "bench" / "synthetic_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.evaluate


def main(argv: list[str] | None = None) -> int:
    from gongkai_datasets.generate import generate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--preset", default="moderate", choices=["clean", "light", "moderate", "heavy"])
    ap.add_argument("--kinds", default="scan", choices=["scan", "pdf"])
    ap.add_argument(
        "--seeds", action=argparse.BooleanOptionalAction, default=True, help="also render the five seed reports"
    )
    ap.add_argument("--show-errors", action="store_true", help="print the reports with wrong cells")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from gongkai_datasets.generate import KINDS

        generate(args.n, folder, seed=args.seed, flatteners=KINDS[args.kinds], scan_preset=args.preset)
        if args.seeds:
            from gongkai_datasets.generate import render_labeled

            kinds = KINDS[args.kinds]
            for i, truth in enumerate(sorted((ROOT / "datasets" / "seeds" / "truth").glob("*.json"))):
                render_labeled(truth, folder, kinds[i % len(kinds)], seed=args.seed, scan_preset=args.preset)
        pages = sum(json.loads(p.read_text())["render"]["pages"] for p in (folder / "truth").glob("*.json"))
        start = time.perf_counter()
        summary = _evaluate()(folder)
        elapsed = time.perf_counter() - start
    wrong = summary["wrong_cells"]
    caught = wrong - summary["wrong_not_in_review"]
    print(
        f"reports {summary['reports']}  pages {pages}  cells {summary['cells']}  wrong {wrong}  "
        f"cell accuracy {summary['cell_accuracy']:.4f}"
    )
    print("  by kind: " + "  ".join(f"{k} {v:.4f}" for k, v in summary["by_flattener"].items()))
    print(f"wrong cells caught by review: {caught}/{wrong} ({(caught / wrong if wrong else 1):.3f})")
    print(
        f"injected violations flagged {summary['injected_flagged']:.3f}; clean reports flagged {summary['clean_flagged']}"
    )
    seeds = [r for r in summary["rows"] if not r["id"].startswith("syn")]
    if seeds:
        print(
            f"  seed reports: {len(seeds)}, cells {sum(r['cells'] for r in seeds)}, "
            f"wrong {sum(r['wrong'] for r in seeds)}"
        )
    print(f"seconds per page (end to end, incl. engine load once): {elapsed / max(1, pages):.2f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.show_errors:
        # every report with a wrong cell, those with wrong cells outside review first
        for r in sorted((r for r in summary["rows"] if r["wrong"]), key=lambda r: -r.get("wrong_unreviewed", 0)):
            print(json.dumps({k: r.get(k) for k in ("id", "wrong", "wrong_unreviewed", "wrong_cells")}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
