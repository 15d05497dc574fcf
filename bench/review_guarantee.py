"""The review guarantee, measured per input kind on held-out data (issue 16).

    python bench/review_guarantee.py --n 10 --seed 16 --families all --jobs 2

What a reviewer relies on is the cells NOT sent to review. For every input kind this bench runs the
whole extraction on data nothing shipped was tuned on and reports, per kind:

- cell accuracy, the share of cells sent to review, the share of wrong cells caught by review;
- the error rate among the cells not sent to review, with its one-sided 95 % upper bound
  (Clopper-Pearson: the exact binomial bound, the certificate of selective prediction with a
  held-out calibration split), and whether it meets the stated guarantee (`--bound`, default
  1/1000: "of the cells not sent to review, at most 1 in 1,000 is wrong, with 95 % confidence");
- the expected calibration error (ECE, 10 equal-width bins) of the cells' confidence read as the
  probability that the value is right.

Data, all held out of everything tuned or trained (the layout model, its calibrator and every
threshold saw only the generator's four reportlab styles and its text flatteners):
- digital PDFs: `--n` reports of each held-out style family of `gongkai_datasets.families`
  (`--families`: `all` or names), plus the 8 labeled real reports rendered in each;
- text, HTML, DOCX: the generator's flatteners on a fresh seed (`--seed`; its styles are the seen
  ones, so this part measures the seen text styles on unseen values and is reported apart);
- the labeled real reports as shipped (`datasets/seeds`, `datasets/real`: text as published).
Scans are left to `bench/style_families.py --kinds scan` (OCR costs ~2 s a page here).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clopper_pearson_upper(errors: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a binomial rate (exact)."""
    if n == 0:
        return 1.0
    if errors >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, errors + 1, n - errors))


def ece(pairs: list[tuple[float, bool]], bins: int = 10) -> float:
    """Expected calibration error of (confidence, right) pairs over equal-width bins."""
    if not pairs:
        return math.nan
    total = len(pairs)
    out = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, r) for c, r in pairs if (lo <= c < hi) or (b == bins - 1 and c == 1.0)]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            acc = sum(1 for _, r in inside if r) / len(inside)
            out += len(inside) / total * abs(conf - acc)
    return out


def _same(a, b) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) < 1e-6
    return a == b


def score(data: bytes, name: str, truth: dict) -> dict:
    """One input through the pipeline: its kind and every cell's (confidence, review, right)."""
    from extraction.errors import GongkaiError

    try:
        result = _pipeline().extract(data, name)
    except GongkaiError as exc:
        return {"name": name, "error": exc.code, "kind": None, "cells": []}
    cells = []
    for cid, want in truth["cells"].items():
        c = result.cells.get(cid)
        if c is None:
            cells.append((0.0, False, False))
            continue
        cells.append((c.confidence, c.review, _same(c.value, want)))
    return {"name": name, "kind": result.source.kind, "cells": cells}


_PIPELINE = None


def _pipeline():
    global _PIPELINE
    if _PIPELINE is None:
        from extraction.pipeline import Pipeline

        _PIPELINE = Pipeline()
    return _PIPELINE


def _family_job(args: tuple[str, str, int]) -> dict:
    family, source, seed = args
    from gongkai_datasets.families import render_family

    src: int | str = int(source[2:]) if source.startswith("i:") else source
    rendered = render_family(src, family, seed=seed)
    row = score(rendered.pdf, f"{family}-{source}.pdf", rendered.truth)
    row["group"] = f"pdf:{family}"
    return row


def _file_job(args: tuple[str, str, str]) -> dict:
    path, truth_path, group = args
    truth = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    row = score(Path(path).read_bytes(), Path(path).name, truth)
    row["group"] = group
    return row


def summarise(rows: list[dict], bound: float) -> dict[str, dict]:
    by: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    for r in rows:
        if r["kind"] is None:
            continue
        key = r["group"].split(":", 1)[0] if r["group"].startswith("pdf:") else r["group"]
        by[f"{key}/{r['kind']}"].extend(r["cells"])
    out = {}
    for key, cells in sorted(by.items()):
        n = len(cells)
        wrong = [c for c in cells if not c[2]]
        kept = [c for c in cells if not c[1]]
        kept_wrong = sum(1 for c in kept if not c[2])
        upper = clopper_pearson_upper(kept_wrong, len(kept))
        out[key] = {
            "cells": n,
            "accuracy": 1 - len(wrong) / n,
            "review_share": sum(1 for c in cells if c[1]) / n,
            "wrong": len(wrong),
            "wrong_caught": (sum(1 for c in wrong if c[1]) / len(wrong)) if wrong else 1.0,
            "not_reviewed": len(kept),
            "wrong_not_reviewed": kept_wrong,
            "error_rate_not_reviewed": kept_wrong / len(kept) if kept else 0.0,
            "upper_95": upper,
            "guarantee_holds": upper <= bound,
            "ece": ece([(c[0], c[2]) for c in cells]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="reports per style family (digital PDFs)")
    ap.add_argument("--text-n", type=int, default=160, help="generated text/HTML/DOCX reports")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--families", default="all")
    ap.add_argument("--bound", type=float, default=1e-3, help="the stated error bound among cells not reviewed")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from gongkai_datasets import generate
    from gongkai_datasets.families import FAMILIES, labeled_truths

    names = [f for f, spec in FAMILIES.items() if not spec.seen] if args.families == "all" else args.families.split(",")
    labeled = [str(p) for p in labeled_truths()]
    family_jobs = [(f, f"i:{i}", args.seed) for f in names for i in range(args.n)]
    family_jobs += [(f, src, args.seed) for f in names for src in labeled]
    file_jobs: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.text_n:
            generate(args.text_n, tmp, seed=args.seed)
            for truth in sorted((Path(tmp) / "truth").glob("*.json")):
                src = next(p for p in Path(tmp).glob(f"{truth.stem}.*") if p.is_file())
                file_jobs.append((str(src), str(truth), "generated"))
        for folder in (ROOT / "datasets" / "seeds", ROOT / "datasets" / "real"):
            for truth in sorted((folder / "truth").glob("*.json")):
                src = next(p for p in folder.glob(f"{truth.stem}.*") if p.is_file())
                file_jobs.append((str(src), str(truth), "labeled_real"))
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            rows = list(pool.map(_family_job, family_jobs, chunksize=4)) + list(pool.map(_file_job, file_jobs, chunksize=8))
        wall = time.perf_counter() - t0
    table = summarise(rows, args.bound)
    print(f"{len(rows)} inputs in {wall:.0f} s; held-out style families: {', '.join(names)}")
    print(
        "| data/kind | cells | accuracy | review share | wrong caught | wrong not reviewed | "
        "error rate not reviewed | 95 % upper bound | ≤ bound | ECE |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for key, s in table.items():
        print(
            f"| {key} | {s['cells']} | {s['accuracy']:.5f} | {s['review_share']:.4f} | {s['wrong_caught']:.4f} | "
            f"{s['wrong_not_reviewed']} | {s['error_rate_not_reviewed']:.6f} | {s['upper_95']:.6f} | "
            f"{'yes' if s['guarantee_holds'] else 'NO'} | {s['ece']:.4f} |"
        )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "review_guarantee.json").write_text(
            json.dumps({"bound": args.bound, "families": names, "summary": table}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
