"""Scanned pages end to end: cell accuracy, review catch rate, seconds per page, peak memory.

    python bench/scan_accuracy.py --n 10 --seed 21 --preset moderate [--kinds scan|pdf]
    python bench/scan_accuracy.py --n 12 --seed 5 --preset phone --rotate 0.3

Presets: the generator's clean/light/moderate/heavy, and the ways real reports arrive: flatbed150,
phone (photographed: keystone, curl, shadow, 110–150 dpi) and fax (1-bit, 204 × 98/196 dpi,
streaks). Prints how many OCR'd pages were flattened as photographs (page quadrilateral and curl,
`extraction.ocr.dewarp`). `--rotate S` turns a share S of the scanned pages by 90°, 180° or 270° (sideways or
upside-down feeds) and reports how many of those page turns the reader undid ("orientation").

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
PRESETS = ["clean", "light", "moderate", "heavy", "flatbed150", "phone", "fax"]
NEW_PRESETS = {"flatbed150", "phone", "fax"}


def scan_set(folder: Path, n: int, seed: int, preset: str, rotate: float, seeds: bool) -> dict[str, list[int]]:
    """Generated reports rendered as digital PDFs, then scanned with `preset` (and `rotate`), written
    as scanned PDFs and TIFF/PNG images in turn. Returns each file's quarter turns per page."""
    import random

    from gongkai_datasets.generate import PAGE_FLATTENERS, generate_one, render_labeled
    from gongkai_datasets.scan import scan_pdf, to_pdf, to_png, to_tiff

    kinds = ("scanned_pdf", "image")
    assert set(kinds) <= set(PAGE_FLATTENERS)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    items = []  # (id, digital pdf, truth, stamp text)
    for i in range(n):
        g = generate_one(i, seed, flattener="digital_pdf")
        items.append((f"syn{seed}_{i:05d}", g.content, g.truth, g.document.agency))
    if seeds:
        tmp = folder / "_digital"
        for truth_path in sorted((ROOT / "datasets" / "seeds" / "truth").glob("*.json")):
            pdf = render_labeled(truth_path, tmp, "digital_pdf", seed=seed)
            t = json.loads((tmp / "truth" / f"{pdf.stem}.json").read_text(encoding="utf-8"))
            items.append((truth_path.stem, pdf.read_bytes(), t, t["report"].get("agency") or ""))
    quarters = {}
    for i, (rid, pdf, truth, agency) in enumerate(items):
        kind = kinds[i % len(kinds)]
        rng = random.Random(f"scan-bench:{seed}:{rid}:{preset}:{rotate}")
        s = scan_pdf(pdf, truth["boxes"], rng, preset=preset, stamp_text=agency, rotate=rotate)
        if kind == "scanned_pdf":
            data, ext = to_pdf(s), "pdf"
        elif len(s.pages) == 1:
            data, ext = to_png(s.pages[0].image, s.dpi), "png"
        else:
            data, ext = to_tiff(s), "tiff"
        name = f"{rid}_{kind}"
        (folder / f"{name}.{ext}").write_bytes(data)
        truth = {**truth, "flattener": kind, "boxes": s.boxes, "render": {**truth.get("render", {}), **s.info}}
        truth["render"]["pages"] = len(s.pages)
        (folder / "truth" / f"{name}.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
        quarters[name] = [p.params.quarter % 4 for p in s.pages]
    return quarters


class OrientationLog:
    """Collects the reader's page turns (`extraction.ingest.image` logs each page's quarter turns)
    per document while a pipeline runs."""

    def __init__(self, pipeline) -> None:
        import logging

        self.pipeline = pipeline
        self.current = ""
        self.turns: dict[str, dict[int, int]] = {}
        self.tries = 0  # turned readings the orientation check ran (extra OCR passes)
        self.flattened = self.pages = 0  # OCR'd pages, and those flattened as photographs (dewarp)
        self.review_cells = self.cells = 0
        log = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                page, quarter = getattr(record, "page", None), getattr(record, "quarter", None)
                if page is not None and quarter is not None:
                    log.turns.setdefault(log.current, {})[int(page)] = int(quarter)
                    log.tries += int(getattr(record, "tries", 0))
                    log.flattened += int(bool(getattr(record, "flattened", False)))
                    log.pages += 1

        logger = logging.getLogger("extraction.ingest.image")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Handler())

    def extract(self, data: bytes, name: str):
        self.current = Path(name).stem
        result = self.pipeline.extract(data, name)
        self.review_cells += sum(1 for c in result.cells.values() if c.review)
        self.cells += len(result.cells)
        return result


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ocr_alone(folder: Path) -> dict[str, float]:
    """Full-page OCR alone, the floor of any reader that OCRs every page, on every page of every scan
    in `folder`, rasterised at the pipeline's OCR dpi (200): gongkai's own engine reading each page
    whole, and the `rapidocr` package's default pipeline (`RapidOCR()`, detection + direction
    classifier + recognition, its packaged models) as a user would run it. Returns pages and seconds
    of OCR per reader; rasterising is not counted, so the comparison favours this side."""
    import logging

    from rapidocr import RapidOCR

    from extraction.ocr.base import OcrOptions, load_engine

    options = OcrOptions()
    readers = {"engine": load_engine(options), "rapidocr": RapidOCR()}
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    pages_of = _bench_module("table_recogniser_compare").page_images
    seconds = dict.fromkeys(readers, 0.0)
    pages = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        for index, image in enumerate(pages_of(path, options), 1):
            for name, reader in readers.items():
                start = time.perf_counter()
                reader(image, index) if name == "engine" else reader(image)
                seconds[name] += time.perf_counter() - start
            pages += 1
    return {"pages": pages, **seconds}


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
    ap.add_argument("--preset", default="moderate", choices=PRESETS)
    ap.add_argument("--rotate", type=float, default=0.0, help="share of pages turned by 90°, 180° or 270°")
    ap.add_argument("--kinds", default="scan", choices=["scan", "pdf"])
    ap.add_argument(
        "--seeds", action=argparse.BooleanOptionalAction, default=True, help="also render the five seed reports"
    )
    ap.add_argument("--show-errors", action="store_true", help="print the reports with wrong cells")
    ap.add_argument(
        "--ocr-alone",
        action="store_true",
        help="then time full-page OCR alone (RapidOCR() and our engine, every page whole, 200 dpi) on the same files",
    )
    args = ap.parse_args(argv)
    own = args.preset in NEW_PRESETS or args.rotate > 0
    if own and args.kinds != "scan":
        ap.error("--preset flatbed150/phone/fax and --rotate are scans (--kinds scan)")
    quarters: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from gongkai_datasets.generate import KINDS

        if own:
            quarters = scan_set(folder, args.n, args.seed, args.preset, args.rotate, args.seeds)
        else:
            generate(args.n, folder, seed=args.seed, flatteners=KINDS[args.kinds], scan_preset=args.preset)
            if args.seeds:
                from gongkai_datasets.generate import render_labeled

                kinds = KINDS[args.kinds]
                for i, truth in enumerate(sorted((ROOT / "datasets" / "seeds" / "truth").glob("*.json"))):
                    render_labeled(truth, folder, kinds[i % len(kinds)], seed=args.seed, scan_preset=args.preset)
        pages = sum(json.loads(p.read_text())["render"]["pages"] for p in (folder / "truth").glob("*.json"))
        from extraction.pipeline import Pipeline

        log = OrientationLog(Pipeline())
        start = time.perf_counter()
        summary = _evaluate()(folder, log)
        elapsed = time.perf_counter() - start
        alone = ocr_alone(folder) if args.ocr_alone and args.kinds == "scan" else None
    wrong = summary["wrong_cells"]
    caught = wrong - summary["wrong_not_in_review"]
    print(
        f"reports {summary['reports']}  pages {pages}  cells {summary['cells']}  wrong {wrong}  "
        f"cell accuracy {summary['cell_accuracy']:.4f}"
    )
    print("  by kind: " + "  ".join(f"{k} {v:.4f}" for k, v in summary["by_flattener"].items()))
    print(f"wrong cells caught by review: {caught}/{wrong} ({(caught / wrong if wrong else 1):.3f})")
    print(
        f"injected violations flagged {summary['injected_flagged']:.3f}; clean reports flagged {summary['clean_flagged']} "
        f"(holding only by inference, unflagged: {summary['clean_inferred']})"
    )
    seeds = [r for r in summary["rows"] if not r["id"].startswith("syn")]
    if seeds:
        print(
            f"  seed reports: {len(seeds)}, cells {sum(r['cells'] for r in seeds)}, "
            f"wrong {sum(r['wrong'] for r in seeds)}"
        )
    print(f"review share: {log.review_cells}/{log.cells} cells ({log.review_cells / max(1, log.cells):.3f})")
    if quarters:
        # the reader turns a page clockwise by (4 - q) % 4 quarters to undo a feed turned by q
        right = total = turned_right = turned = 0
        for name, qs in quarters.items():
            seen = log.turns.get(name, {})
            for page, q in enumerate(qs, 1):
                ok = seen.get(page, 0) == (4 - q) % 4
                total += 1
                right += ok
                turned += q != 0
                turned_right += ok and q != 0
        print(
            f"orientation: {right}/{total} pages right; turned pages {turned_right}/{turned}; "
            f"{log.tries} extra turned OCR readings ({log.tries / max(1, total):.2f} a page)"
        )
    if log.pages:
        print(f"photographed pages flattened (perspective/curl, ocr.dewarp): {log.flattened}/{log.pages}")
    print(f"seconds per page (end to end, incl. engine load once): {elapsed / max(1, pages):.2f}")
    if alone:
        n = max(1, int(alone["pages"]))
        print(
            f"full-page OCR alone on the same {n} pages, same run: RapidOCR() {alone['rapidocr'] / n:.2f} s/page, "
            f"gongkai's engine on whole pages {alone['engine'] / n:.2f} s/page "
            f"(gongkai end to end {elapsed / max(1, pages):.2f} s/page)"
        )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.show_errors:
        # every report with a wrong cell, those with wrong cells outside review first
        for r in sorted((r for r in summary["rows"] if r["wrong"]), key=lambda r: -r.get("wrong_unreviewed", 0)):
            print(
                json.dumps(
                    {k: r.get(k) for k in ("id", "wrong", "wrong_unreviewed", "wrong_cells")}, ensure_ascii=False
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
