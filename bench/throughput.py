"""Reports per second for text-like inputs, single process, end to end from bytes.

    python bench/throughput.py --n 200 --seed 5 [--rounds 3]

Generates synthetic reports (every text flattening, both formats), plus the labeled real
reports, reads them into memory, then times `Pipeline.extract(bytes, name)` (sniff, decode,
ingest, tokenize, label, reconstruct, rules, output model). Goal: ≥ 50 reports/s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from extraction.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from gongkai_datasets.generate import generate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(args.n, folder, seed=args.seed)
        inputs = [(p.read_bytes(), p.name) for p in sorted(folder.iterdir()) if p.is_file()]
    for sub in ("seeds", "real"):
        inputs += [(p.read_bytes(), p.name) for p in sorted((ROOT / "datasets" / sub).glob("*.txt"))]
    pipeline = Pipeline()
    for data, name in inputs[:5]:  # warm up caches (schema, anchor sequences)
        pipeline.extract(data, name)
    rates = []
    per_kind: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        start = time.perf_counter()
        for data, name in inputs:
            t0 = time.perf_counter()
            pipeline.extract(data, name)
            kind = name.rsplit("_", 1)[-1].split(".")[0] if name.startswith("syn") else "real"
            per_kind[kind].append(time.perf_counter() - t0)
        rates.append(len(inputs) / (time.perf_counter() - start))
    text_only = [(d, n) for d, n in inputs if n.endswith((".txt", ".md"))]
    text_rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for data, name in text_only:
            pipeline.extract(data, name)
        text_rates.append(len(text_only) / (time.perf_counter() - start))
    print(f"inputs {len(inputs)}  rounds {args.rounds}")
    print(
        f"text inputs (.txt/.md, {len(text_only)}): median {statistics.median(text_rates):.1f} reports/s  "
        f"(min {min(text_rates):.1f}, max {max(text_rates):.1f})  goal >= 50"
    )
    print(
        f"all inputs incl. html/docx: median {statistics.median(rates):.1f} reports/s  (min {min(rates):.1f}, max {max(rates):.1f})"
    )
    for kind, times in sorted(per_kind.items()):
        print(
            f"  {kind:14s} {1000 * statistics.median(times):6.1f} ms/report (median)  p95 {1000 * sorted(times)[int(0.95 * len(times)) - 1]:6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
