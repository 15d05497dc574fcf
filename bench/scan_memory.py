"""A long scanned PDF end to end: peak memory, its growth over the document, seconds per page.

    python bench/scan_memory.py --pages 100 --seed 31 [--preset moderate]

Builds a `--pages`-page scanned PDF (no text layer) from the pages of synthetic scanned reports,
then extracts it in a fresh child process (so the generator's own memory is not counted) while a
sampler reads the child's RSS every 0.2 s. Prints the child's peak RSS, the peak in the first and
last quarter of the run (pages stream one at a time, so the two should match: growth means
something keeps page images), seconds per page and the pages read or failed.
Goal (issue 3): ≤ 2 GiB peak for a 100-page scan on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_scan(pages: int, seed: int, preset: str, folder: Path) -> Path:
    """A `pages`-page scanned PDF made of the pages of synthetic scanned reports, in turn."""
    import pypdfium2 as pdfium

    from gongkai_datasets.generate import generate

    sources: list[Path] = []
    n = 0
    batch = 0
    while n < pages and batch < 50:  # reports have 3-5 pages: a few are enough
        out = folder / f"src{batch}"
        generate(4, out, seed=seed + batch, flatteners=("scanned_pdf",), scan_preset=preset)
        for pdf_path in sorted(out.glob("*.pdf")):
            sources.append(pdf_path)
            n += len(pdfium.PdfDocument(str(pdf_path)))
        batch += 1
    merged = pdfium.PdfDocument.new()
    k = 0
    while len(merged) < pages:
        src = pdfium.PdfDocument(str(sources[k % len(sources)]))
        take = min(len(src), pages - len(merged))
        merged.import_pages(src, list(range(take)))
        src.close()
        k += 1
    target = folder / f"scan_{pages}p.pdf"
    merged.save(str(target))
    merged.close()
    return target


CHILD = """
import json, resource, sys, time
from pathlib import Path
from extraction.pipeline import Pipeline, PipelineOptions
from extraction.errors import GongkaiError
path = Path(sys.argv[1])
options = PipelineOptions()
options.ingest.ocr.pages_in_flight = int(sys.argv[2])
t0 = time.perf_counter()
try:
    result = Pipeline(options).extract(path.read_bytes(), path.name)
    summary = {"pages": result.source.pages, "failed_pages": result.source.failed_pages, "cells": len(result.cells)}
except GongkaiError as exc:
    summary = {"error": exc.code, "message": exc.message}
summary["seconds"] = time.perf_counter() - t0
summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(summary))
"""


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20
    except (OSError, ValueError, IndexError):
        return None


def run_child(pdf: Path, pages_in_flight: int = 2) -> tuple[dict, list[tuple[float, float]]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(pdf), str(pages_in_flight)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    samples: list[tuple[float, float]] = []
    start = time.monotonic()

    def sample() -> None:
        while proc.poll() is None:
            rss = _rss_mib(proc.pid)
            if rss is not None:
                samples.append((time.monotonic() - start, rss))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the extraction child failed (exit {proc.returncode})")
    return json.loads(lines[-1]), samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--preset", default="moderate", choices=["clean", "light", "moderate", "heavy"])
    ap.add_argument(
        "--pages-in-flight", type=int, default=2, help="pages OCR'd at once (the CLI's 2; the service's children: 1)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pdf = build_scan(args.pages, args.seed, args.preset, Path(tmp))
        size = pdf.stat().st_size
        summary, samples = run_child(pdf, args.pages_in_flight)
    if "error" in summary:
        print(f"extraction refused the document: {summary['error']}: {summary['message']}")
        return 1
    quarter = max(1, len(samples) // 4)
    first = max((r for _, r in samples[:quarter]), default=0.0)
    last = max((r for _, r in samples[-quarter:]), default=0.0)
    pages = summary["pages"] or args.pages
    print(
        f"scanned PDF: {args.pages} pages, {size / 2**20:.1f} MiB, preset {args.preset}, "
        f"{args.pages_in_flight} page(s) in flight; "
        f"read {pages - len(summary['failed_pages'])}, failed {len(summary['failed_pages'])}"
    )
    print(f"peak RSS {summary['peak_rss_mib']:.0f} MiB (goal ≤ 2048)")
    print(f"peak RSS in the first quarter {first:.0f} MiB, in the last quarter {last:.0f} MiB")
    print(f"seconds per page {summary['seconds'] / pages:.2f} (whole document {summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
