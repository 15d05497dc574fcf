"""Generate synthetic reports with their truth.

    python -m gongkai_datasets.generate --n 300 --out DIR --seed 7

writes `DIR/<id>.<ext>` (txt, md, html or docx, by flattener) and `DIR/truth/<id>.json` in the
truth format of `shared/dev/truth/*.json`:

    {"report": {"agency", "year", "format", "variants"}, "cells": {cell_id: value or null},
     "violations": [failing hard rule ids], "ambiguous": {}, "notes": "<flattener>, ...",
     "flattener": "<name>"}

Every report is a pure function of (seed, index) and the options, so a fixed seed gives the same
files byte for byte.

Page kinds (`PAGE_FLATTENERS`, not in the default `ALL`; `--kinds pdf|scan|all`): `digital_pdf`
(.pdf with a text layer), `scanned_pdf` (.pdf of page images, no text layer) and `image` (.tiff,
multi-page; .jpg/.png for a one-page report). Their truth adds `"boxes": {cell_id: {"page",
"bbox", "text_bbox"}}` (PDF points for .pdf, pixels for images; top-left origin) and `"render"`.
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

from .flatten import ALL, FLATTENERS, Flattener, glued_alternatives
from .render import Document, random_agency, render
from .values import ReportValues, random_values

YEARS = {"2021": (2021, 2025), "2019": (2019, 2020)}
FORMAT_WEIGHTS = {"2021": 0.75, "2019": 0.25}

# Page kinds: rendered pages with geometry. Kept out of ALL so that the defaults stay text-only.
PAGE_FLATTENERS: tuple[str, ...] = ("digital_pdf", "scanned_pdf", "image")
KINDS: dict[str, tuple[str, ...]] = {
    "text": ALL,
    "pdf": ("digital_pdf",),
    "scan": ("scanned_pdf", "image"),
    "all": ALL + PAGE_FLATTENERS,
}
SCAN_PRESET_WEIGHTS = {"light": 0.15, "moderate": 0.6, "heavy": 0.25}
# positional (blank cells keep their place) and fancy numbers, like html/docx
_PAGE_PROPS = {name: Flattener(name, lambda doc, rng: b"", "pdf", True) for name in PAGE_FLATTENERS}


def _flattener(name: str) -> Flattener:
    if name in FLATTENERS:
        return FLATTENERS[name]
    if name in _PAGE_PROPS:
        return _PAGE_PROPS[name]
    raise ValueError(f"unknown flattener {name!r}; known: {list(FLATTENERS) + list(PAGE_FLATTENERS)}")


def page_content(
    name: str, doc: Document, rng: random.Random, scan_preset: str | None = None
) -> tuple[bytes, str, dict[str, dict[str, Any]], dict[str, Any]]:
    """Render a page kind: (content, ext, boxes, render info).

    Boxes map each value cell id to {"page" (1-based), "bbox" (cell box), "text_bbox" (printed
    text, None when blank)}: PDF points for .pdf content, pixels of the page image otherwise; the
    origin is the page's top-left corner.
    """
    from .render_pdf import render_pdf

    rendered = render_pdf(doc, rng)
    info: dict[str, Any] = {"kind": name, **rendered.info}
    if name == "digital_pdf":
        return rendered.pdf, "pdf", rendered.boxes, info
    from .scan import scan_pdf, to_pdf, to_tiff

    if scan_preset is None:
        scan_preset = rng.choices(list(SCAN_PRESET_WEIGHTS), weights=list(SCAN_PRESET_WEIGHTS.values()))[0]
    scan = scan_pdf(rendered.pdf, rendered.boxes, rng, preset=scan_preset, stamp_text=doc.agency)
    info.update({k: v for k, v in scan.info.items() if k != "units"})
    if name == "scanned_pdf":
        # boxes in points of the scanned PDF page (its page is the image at scan.dpi)
        k = 72.0 / scan.dpi
        boxes = {
            cid: {
                "page": b["page"],
                "bbox": [round(v * k, 2) for v in b["bbox"]],
                "text_bbox": [round(v * k, 2) for v in b["text_bbox"]] if b["text_bbox"] else None,
            }
            for cid, b in scan.boxes.items()
        }
        first = scan.pages[0].image
        info["page_size"] = [round(first.width * k, 2), round(first.height * k, 2)]
        return to_pdf(scan), "pdf", boxes, info
    if name == "image":
        first = scan.pages[0]
        info.update({"units": "px", "page_size": [first.image.width, first.image.height]})
        if len(scan.pages) == 1:
            return first.data, "jpg" if first.format == "jpeg" else "png", scan.boxes, info
        return to_tiff(scan), "tiff", scan.boxes, info
    raise ValueError(f"unknown page kind {name!r}")


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
    scan_preset: str | None = None,
) -> Generated:
    """Generate report number `index` of the stream `seed` in memory (no files).

    A page kind (`PAGE_FLATTENERS`) adds "boxes" and "render" to the truth; `scan_preset` fixes
    the scan degradation of scanned_pdf/image (random light/moderate/heavy otherwise).
    """
    rng = random.Random(f"gongkai-datasets:{seed}:{index}")
    if flattener is None:
        offset = random.Random(f"gongkai-datasets:{seed}").randrange(len(flatteners))
        flattener = flatteners[(index + offset) % len(flatteners)]
    fl = _flattener(flattener)
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
    rid = f"syn{seed}_{index:05d}_{flattener}"
    if flattener in PAGE_FLATTENERS:
        content, ext, boxes, info = page_content(flattener, doc, rng, scan_preset)
        truth = truth_record(rv, doc, flattener)
        truth["boxes"] = {cid: boxes[cid] for cid in rv.layout.cell_ids if cid in boxes}
        truth["render"] = info
        return Generated(rid, ext, content, truth, rv, doc)
    content = fl.fn(doc, rng)
    return Generated(rid, fl.ext, content, truth_record(rv, doc, flattener), rv, doc)


def render_labeled(
    truth_path: str | Path, out_dir: str | Path, kind: str, seed: int = 0, scan_preset: str | None = None
) -> Path:
    """Render a labeled report's tables (its truth JSON: the seeds, real reports) as a page kind
    (digital_pdf, scanned_pdf, image) with synthetic narrative around them; writes the file and
    `out_dir/truth/<id>.json` (its cells, plus the boxes and render info). Returns the file."""
    truth_path = Path(truth_path)
    if kind not in PAGE_FLATTENERS:
        raise ValueError(f"unknown page kind {kind!r}; known: {PAGE_FLATTENERS}")
    t = json.loads(truth_path.read_text(encoding="utf-8"))
    report = t["report"]
    rv = ReportValues(report["format"], tuple(report.get("variants", [])), dict(t["cells"]))
    rng = random.Random(f"gongkai-datasets:labeled:{seed}:{truth_path.stem}:{kind}")
    doc = render(rv, report.get("agency") or random_agency(rng), report.get("year") or 2023, rng)
    content, ext, boxes, info = page_content(kind, doc, rng, scan_preset)
    truth = truth_record(rv, doc, kind)
    truth["boxes"] = {cid: boxes[cid] for cid in rv.layout.cell_ids if cid in boxes}
    truth["render"] = info
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rid = f"{truth_path.stem}_{kind}"
    path = out / f"{rid}.{ext}"
    path.write_bytes(content)
    (out / "truth" / f"{rid}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


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
    scan_preset: str | None = None,
) -> list[dict[str, str]]:
    """Write n reports (indices start..start+n-1) to out_dir and their truth to out_dir/truth.

    Returns one {"id", "input", "truth", "flattener", "format"} per report.
    """
    unknown = [f for f in flatteners if f not in FLATTENERS and f not in PAGE_FLATTENERS]
    if unknown:
        raise ValueError(f"unknown flatteners {unknown}; known: {list(FLATTENERS) + list(PAGE_FLATTENERS)}")
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
            scan_preset=scan_preset,
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
    ap.add_argument(
        "--kinds",
        choices=list(KINDS),
        default="text",
        help="text: the text flatteners (default); pdf: digital_pdf; scan: scanned_pdf and image; all: every one",
    )
    ap.add_argument(
        "--flatteners",
        default=None,
        help=f"comma-separated subset of {','.join(ALL + PAGE_FLATTENERS)} (overrides --kinds)",
    )
    ap.add_argument(
        "--scan-preset", choices=["light", "moderate", "heavy", "clean"], default=None, help="default: a random mix"
    )
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
        flatteners=tuple(f.strip() for f in args.flatteners.split(",") if f.strip())
        if args.flatteners
        else KINDS[args.kinds],
        violation_rate=args.violation_rate,
        blank_rate=args.blank_rate,
        single_row_rate=args.single_row_rate,
        start=args.start,
        scan_preset=args.scan_preset,
    )
    print(f"wrote {len(written)} reports to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
