"""The review guarantee, measured per input kind on held-out data (issue 16).

    python bench/review_guarantee.py --n 10 --text-n 200 --scans 1 --seed 16 --jobs 2
    python bench/review_guarantee.py --n 1 --photos 1 --faxes 1 --text-n 0 --seed 7676 --states /tmp/rg7676
        # (run again after a change to the calibrate or rules stage: the OCR is not repeated)

What a reviewer relies on is the cells NOT sent to review. This bench runs the whole extraction
(the default pipeline: the active layout model and cell calibrator, `extraction.calibration`) on
data no part of the calibrator's fit or certification saw and reports, per input kind:

- cell accuracy, the share of cells sent to review, the share of wrong cells caught by review
  (target ≥ 99.5 %), the review-share target (≤ 3 % where accuracy ≥ 99.5 %, else ≤ 2× the share
  of wrong cells);
- the error rate among the cells not sent to review, with its one-sided 95 % upper bound
  (Clopper-Pearson), against the calibrator's certified guarantee (`result.guarantee`: "of the
  cells not sent to review, at most 1 in 1,000 is wrong, with 95 % confidence");
- the expected calibration error (ECE, 10 equal-width bins; target ≤ 0.02) of the confidence read
  as the probability that the value is right.

Data (seeds other than the calibrator's 1601 fit and 1602 certification streams):
- digital PDFs: `--n` reports of each held-out style family of `gongkai_datasets.families`
  (`--families`: `all` = the 13 held-out ones, or names), plus the labeled real reports rendered in each;
- scans, phone photos, faxes: `--scans`, `--photos`, `--faxes` reports of each of those families
  (the moderate flatbed, phone and fax presets of datasets/scan.py; OCR costs ~2-5 s a page here,
  so a few at most); reported as scan/, photo/ and fax/ rows;
- text, Markdown, HTML, DOCX: the generator's flatteners and converter Markdown on `--seed`
  (its styles are the seen ones: unseen values, reported apart); `--images` page images of the
  generator's styles (moderate degradation);
- the labeled real reports as published: the seeds (text), ../shared/dev/reports (real-011..013:
  text layer and the published digital PDFs, truth in ../shared/dev/truth). real-012 is wrong in
  its source: its hard checks must fail (reported on the last line).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import random
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


def truth_violations(truth: dict) -> set[str]:
    """The hard rules the report's TRUTH itself breaks: its printed figures are inconsistent in the
    source (the generator's injected violations, real-012's appeals totals). A correct extraction
    must fail these checks, and a person must see their cells."""
    from extraction.schema import hard_constraints, layout

    broken = set(truth.get("violations") or ())
    rep = truth.get("report") or {}
    try:
        lay = layout(rep.get("format") or "2021", tuple(rep.get("variants") or ()))
    except (KeyError, ValueError):
        return broken
    values = truth["cells"]
    if set(lay.cell_ids) <= set(values):
        broken |= {c.rule for c in hard_constraints(lay) if not c.holds(values)}
    return broken


# why a cell is in review, the first that applies (`review_reason`); SOURCE is part (a) of the
# review share, every other reason part (b)
SOURCE = "source_violation"
REASONS = (
    SOURCE,  # in a failed hard rule that the truth breaks too: the product showing a source error
    "failed_rule",  # in a failed hard rule the truth keeps: the reading broke it
    "ambiguous",  # the sums left a rival reading
    "doubt",  # a DOUBT_FLAGS flag (missing, unread, filled/changed by a rule, unverified): capped confidence
    "warning",  # in a failed soft rule: capped confidence ("warning:source": every cell of that rule read right)
    "uncertain",  # the calibrator's probability is below the certified review level
    "below_threshold",  # below the pipeline's threshold for another reason
    "variant",  # absent: its row read in another variant (（六） as one row or three), the stand-ins in review
)
# the reason of a cell NOT in review that a failed hard rule would have sent there but another rule pins
PINNED = "pinned"
# reconstruction flags that say how a reading was placed (the breakdown of `uncertain`)
PLACEMENT_FLAGS = (
    "split_digits",
    "inferred_blank",
    "extra_values",
    "label_inferred",
    "incomplete",
    "corrected_by_rule",
    "inferred_value",
)


def review_reason(
    cid: str, c, failed_hard: dict[str, set[str]], source_rules: set[str], warned: dict[str, bool]
) -> str:
    """The reason (`REASONS`) that sends a reviewed `cell` (a CellResult) to review; `failed_hard`:
    cell id -> the failed hard rules it is in; `warned`: the cells in a failed soft rule -> whether
    one such rule fails with all its cells read right (`warning:source`: the report's own
    inconsistency, as a narrative count that disagrees with its table). An
    `uncertain` cell is detailed by its placement flags and by whether its document fails a hard
    rule (`uncertain:split_digits`, `uncertain:-,doc_fails`): the calibrator reads both."""
    from extraction.document import DOUBT_FLAGS

    rules = failed_hard.get(cid, set())
    if rules & source_rules:
        return SOURCE
    if rules:
        return "failed_rule"
    flags = set(c.flags)
    if "ambiguous" in flags:
        return "ambiguous"
    if flags & DOUBT_FLAGS:
        return "doubt:" + ",".join(sorted(flags & DOUBT_FLAGS))
    if cid in warned:
        return "warning:source" if warned[cid] else "warning"
    if "uncertain" in flags:
        placed = ",".join(f for f in PLACEMENT_FLAGS if f in flags) or "-"
        return f"uncertain:{placed}" + (",doc_fails" if failed_hard else "")
    return "below_threshold"


# `--states`: where each input is kept as the reconstruction left it (set in each worker)
_STATES: Path | None = None


def _keep_states(folder: Path | None) -> None:
    global _STATES
    _STATES = folder


def score(data: bytes, name: str, truth: dict) -> dict:
    """One input through the pipeline: its kind and every cell's (confidence, review, right, reason,
    cell id), reason being why a reviewed cell is in review (`review_reason`), "" for one not reviewed.
    With `--states`, the document as the reconstruction left it is read from there when an earlier run
    kept it (same input: the name and the bytes' sha256), else kept there: a change to the stages after
    the reconstruction (calibrate, rules) is measured again in seconds, without reading or OCR."""
    import hashlib
    import pickle

    from extraction.document import DocumentState
    from extraction.errors import GongkaiError

    pipe = _pipeline()
    try:
        if _STATES is None:
            result = pipe.extract(data, name)
        else:
            kept = _STATES / f"{hashlib.sha256(name.encode() + hashlib.sha256(data).digest()).hexdigest()[:24]}.pkl"
            if kept.is_file():
                doc = pickle.loads(kept.read_bytes())
            else:
                doc = pipe.process(DocumentState.for_input(data, name), until="reconstruct")
                doc.data = doc.pending = doc.pages_read = None  # (read already: the bytes and page images)
                kept.write_bytes(pickle.dumps(doc))
            result = pipe.run(doc)
    except GongkaiError as exc:
        return {"name": name, "error": exc.code, "kind": None, "cells": []}
    return score_result(result, name, truth)


def score_result(result, name: str, truth: dict) -> dict:
    """`score` of an extraction's result (an ExtractionResult) against its truth."""
    from gongkai_datasets.scoring import absent_cell_reviewed, same_value

    source_rules = truth_violations(truth)
    failed_hard: dict[str, set[str]] = defaultdict(set)
    warned: dict[str, bool] = {}
    right = {
        cid: cid in result.cells and same_value(result.cells[cid].value, want) for cid, want in truth["cells"].items()
    }
    for ch in result.checks:
        if ch.status != "failed":
            continue
        source = all(right.get(cid, False) for cid in ch.cells)
        for cid in ch.cells:
            if ch.severity == "error":
                failed_hard[cid].add(ch.rule)
            else:
                warned[cid] = warned.get(cid, False) or source
    cells = []
    silent: list[dict] = []  # wrong and not in review: the worst defect, listed in --out
    for cid, want in truth["cells"].items():
        c = result.cells.get(cid)
        if c is None:
            if absent_cell_reviewed(cid, result.cells):
                # its row read in another variant (（六） as one row or three), every cell standing
                # in for it in review: wrong, and the reviewer sees it
                cells.append((0.0, True, False, "variant", cid))
                continue
            # not in the output: wrong and never reviewed (the worst case)
            cells.append((0.0, False, False, "", cid))
            silent.append({"cell": cid, "value": None, "truth": want, "confidence": 0.0, "flags": ["absent"]})
            continue
        # a cell kept out of review although in a failed hard rule, another rule pinning it
        # (`extraction.rules.pinned_cells`): counted apart, since it is wrong only if the pin is
        kept = PINNED if "pinned_by_rule" in c.flags else ""
        reason = review_reason(cid, c, failed_hard, source_rules, warned) if c.review else kept
        right = same_value(c.value, want)
        cells.append((c.confidence, c.review, right, reason, cid))
        if not right and not c.review:
            silent.append({"cell": cid, "value": c.value, "truth": want, "confidence": c.confidence, "flags": c.flags})
    failed = sorted(ch.rule for ch in result.checks if ch.status == "failed" and ch.severity == "error")
    g = result.guarantee
    return {
        "name": name,
        "kind": result.source.kind,
        "cells": cells,
        "failed_checks": failed,
        "source_violations": sorted(source_rules),
        "silent": silent,
        "guarantee": g.model_dump() if g else None,
    }


_PIPELINE = None


def _pipeline():
    global _PIPELINE
    if _PIPELINE is None:
        from extraction.pipeline import Pipeline

        _PIPELINE = Pipeline()
    return _PIPELINE


# degraded page kinds of a family report: the group prefix and the datasets.scan preset
DEGRADED = {"scan": "moderate", "photo": "phone", "fax": "fax"}


def _family_job(args: tuple[str, str, int, tuple[str, ...]]) -> list[dict]:
    """A family report as a digital PDF and as each of `degraded` (keys of DEGRADED)."""
    family, source, seed, degraded = args
    from gongkai_datasets.families import render_family

    src: int | str = int(source[2:]) if source.startswith("i:") else source
    rendered = render_family(src, family, seed=seed)
    label = source if source.startswith("i:") else Path(source).stem
    row = score(rendered.pdf, f"{family}-{label}.pdf", rendered.truth)
    row["group"] = f"pdf:{family}"
    rows = [row]
    for kind in degraded:
        from gongkai_datasets.scan import scan_pdf, to_pdf

        rng = random.Random(f"review-guarantee:{family}:{seed}:{label}:{kind}")  # the same from any checkout
        truth = rendered.truth
        pdf = to_pdf(
            scan_pdf(
                rendered.pdf, truth.get("boxes", {}), rng, preset=DEGRADED[kind], stamp_text=truth["report"]["agency"]
            )
        )
        srow = score(pdf, f"{family}-{label}-{kind}.pdf", truth)
        srow["group"] = f"{kind}:{family}"
        rows.append(srow)
    return rows


def _file_job(args: tuple[str, str, str]) -> list[dict]:
    path, truth_path, group = args
    truth = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    row = score(Path(path).read_bytes(), Path(path).name, truth)
    row["group"] = group
    return [row]


def targets(s: dict) -> dict[str, bool]:
    """Issue 16's targets for one data/kind row."""
    wrong_share = 1 - s["accuracy"]
    review_ok = s["review_share"] <= (0.03 if s["accuracy"] >= 0.995 else 2 * wrong_share)
    return {
        "wrong_caught": s["wrong_caught"] >= 0.995,
        "review_share": review_ok,
        "ece": not (s["ece"] > 0.02),
        "bound": s["error_rate_not_reviewed"] <= s["bound"],
    }


def summarise(rows: list[dict], bound: float) -> dict[str, dict]:
    by: dict[str, list[tuple[float, bool, bool, str, str]]] = defaultdict(list)
    reports: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key -> [reports, with source violations]
    for r in rows:
        if r["kind"] is None:
            continue
        prefix, _, rest = r["group"].partition(":")
        families = ("pdf", *DEGRADED)
        key = f"{prefix}/{r['kind']}" if prefix in families else f"{r['group']}/{r['kind']}"
        keys = [key] + ([f"{prefix}:{rest}/{r['kind']}"] if prefix in families else [])
        for k in keys:
            by[k].extend(r["cells"])
            reports[k][0] += 1
            reports[k][1] += bool(r.get("source_violations"))
    out = {}
    for key, cells in sorted(by.items()):
        n = len(cells)
        wrong = [c for c in cells if not c[2]]
        kept = [c for c in cells if not c[1]]
        kept_wrong = sum(1 for c in kept if not c[2])
        upper = clopper_pearson_upper(kept_wrong, len(kept))
        reviewed = [c for c in cells if c[1]]
        source = sum(1 for c in reviewed if c[3] == SOURCE)
        # (b) by reason: [cells, of which right]
        reasons: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in reviewed:
            if c[3] != SOURCE:
                reasons[c[3]][0] += 1
                reasons[c[3]][1] += int(c[2])
        out[key] = {
            "reports": reports[key][0],
            "reports_source_violations": reports[key][1],
            "cells": n,
            "accuracy": 1 - len(wrong) / n,
            "review_share": len(reviewed) / n,
            "review_share_source": source / n,
            "review_share_doubt": (len(reviewed) - source) / n,
            "doubt_reasons": {
                k: {"cells": v[0], "right": v[1]} for k, v in sorted(reasons.items(), key=lambda kv: -kv[1][0])
            },
            "wrong": len(wrong),
            "wrong_caught": (sum(1 for c in wrong if c[1]) / len(wrong)) if wrong else 1.0,
            "not_reviewed": len(kept),
            "wrong_not_reviewed": kept_wrong,
            "pinned": sum(1 for c in kept if c[3] == PINNED),
            "pinned_wrong": sum(1 for c in kept if c[3] == PINNED and not c[2]),
            "error_rate_not_reviewed": kept_wrong / len(kept) if kept else 0.0,
            "bound": bound,
            "upper_95": upper,
            "guarantee_certifiable_here": upper <= bound,
            "ece": ece([(c[0], c[2]) for c in cells]),
        }
        out[key]["targets"] = targets(out[key])
    return out


def real_sources() -> list[tuple[str, str, str]]:
    """(input, truth, group) of the labeled real reports: the seeds, and real-011..013 as published
    (text layer and PDF) from ../shared/dev, else the copies in datasets/real."""
    jobs = []
    seeds = ROOT / "datasets" / "seeds"
    for truth in sorted((seeds / "truth").glob("*.json")):
        src = next(p for p in seeds.glob(f"{truth.stem}.*") if p.is_file())
        jobs.append((str(src), str(truth), "labeled_real"))
    dev = ROOT.parent / "shared" / "dev"
    reports, truths = dev / "reports", dev / "truth"
    if not reports.is_dir():
        reports, truths = ROOT / "datasets" / "real", ROOT / "datasets" / "real" / "truth"
    for truth in sorted(truths.glob("*.json")):
        for src in sorted(reports.glob(f"{truth.stem}.*")):
            if src.suffix in (".txt", ".pdf"):
                jobs.append((str(src), str(truth), "labeled_real"))
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="reports per style family (digital PDFs)")
    ap.add_argument("--scans", type=int, default=0, help="of those, scanned (moderate preset) per family")
    ap.add_argument("--photos", type=int, default=0, help="of those, photographed by phone (phone preset) per family")
    ap.add_argument("--faxes", type=int, default=0, help="of those, faxed (fax preset) per family")
    ap.add_argument("--text-n", type=int, default=160, help="generated text/Markdown/HTML/DOCX reports")
    ap.add_argument("--images", type=int, default=0, help="generated page images (OCR'd; ~30 s each here)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--families", default="all")
    ap.add_argument("--no-labeled-in-families", dest="labeled_in_families", action="store_false")
    ap.add_argument(
        "--bound", type=float, default=None, help="the stated bound (default: the calibrator's guarantee, else 1/1000)"
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--states",
        type=Path,
        help="keep each input as the reconstruction left it in this folder, and read it back from there on a later "
        "run (same inputs): measures a change to the calibrate and rules stages without reading or OCR again "
        "(a change to an earlier stage needs a new folder)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="folder for review_guarantee.json (the summary, and every right cell in review outside (a))",
    )
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from gongkai_datasets import generate_one
    from gongkai_datasets.families import FAMILIES, labeled_truths
    from gongkai_datasets.flatten import ALL, EXTRA

    names = [f for f, spec in FAMILIES.items() if not spec.seen] if args.families == "all" else args.families.split(",")
    counts = {"scan": args.scans, "photo": args.photos, "fax": args.faxes}
    family_jobs = [
        (f, f"i:{i}", args.seed, tuple(k for k, n in counts.items() if i < n)) for f in names for i in range(args.n)
    ]
    if args.labeled_in_families:
        family_jobs += [(f, str(src), args.seed, ()) for f in names for src in labeled_truths()]
    file_jobs: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        flatteners = (*ALL, *EXTRA)
        (Path(tmp) / "truth").mkdir()
        generated = [(i, flatteners[i % len(flatteners)]) for i in range(args.text_n)]
        generated += [(args.text_n + i, "image") for i in range(args.images)]  # page images (OCR, moderate)
        for i, flattener in generated:
            g = generate_one(
                i, args.seed, flattener=flattener, scan_preset="moderate" if flattener == "image" else None
            )
            src = Path(tmp) / f"{g.id}.{g.ext}"
            if isinstance(g.content, bytes):
                src.write_bytes(g.content)
            else:
                src.write_text(g.content, encoding="utf-8")
            truth = Path(tmp) / "truth" / f"{g.id}.json"
            truth.write_text(json.dumps(g.truth, ensure_ascii=False), encoding="utf-8")
            file_jobs.append((str(src), str(truth), "generated"))
        file_jobs += real_sources()
        t0 = time.perf_counter()
        if args.states:
            args.states.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=max(1, args.jobs), initializer=_keep_states, initargs=(args.states,)) as pool:
            rows = [r for rs in pool.map(_family_job, family_jobs, chunksize=2) for r in rs]
            rows += [r for rs in pool.map(_file_job, file_jobs, chunksize=8) for r in rs]
        wall = time.perf_counter() - t0
    guarantees = {json.dumps(r["guarantee"], sort_keys=True) for r in rows if r.get("guarantee")}
    g = json.loads(guarantees.pop()) if len(guarantees) == 1 else None
    bound = args.bound or (g["bound"] if g else 1e-3)
    table = summarise(rows, bound)
    print(f"{len(rows)} inputs in {wall:.0f} s; held-out style families: {', '.join(names)}")
    print(
        f"guarantee: {g['statement'] if g else 'none (no calibrator active)'}"
        + (f" [{g['calibrator']}, review below {g['review_below']:.6f}]" if g else "")
    )
    print(
        "| data/kind | reports (source violations) | cells | accuracy | review share | (a) source errors | "
        "(b) doubt | wrong caught | wrong not reviewed | error rate not reviewed | 95 % upper bound | ECE | "
        "targets missed |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for key, s in table.items():
        missed = ", ".join(k for k, ok in s["targets"].items() if not ok) or "—"
        print(
            f"| {key} | {s['reports']} ({s['reports_source_violations']}) | {s['cells']} | {s['accuracy']:.5f} | "
            f"{s['review_share']:.4f} | {s['review_share_source']:.4f} | {s['review_share_doubt']:.4f} | "
            f"{s['wrong_caught']:.4f} | {s['wrong_not_reviewed']} | {s['error_rate_not_reviewed']:.6f} | "
            f"{s['upper_95']:.6f} | {s['ece']:.4f} | {missed} |"
        )
    rate = inspect.signature(generate_one).parameters["violation_rate"].default
    real = [r for r in rows if r["group"] == "labeled_real" and r["kind"] is not None]
    real_docs = {r["name"].rsplit(".", 1)[0]: bool(r.get("source_violations")) for r in real}
    print(
        f"(a): reviewed cells in a failed hard rule that the report's truth breaks too (a source error shown to a "
        f"person); (b): every other reviewed cell. Source violations: the generator injects them into "
        f"{rate:.0%} of reports (generate_one's violation_rate); {sum(real_docs.values())} of the "
        f"{len(real_docs)} labeled real reports is inconsistent in its source "
        f"({', '.join(k for k, v in sorted(real_docs.items()) if v) or 'none'})."
    )
    print("(b) by reason, cells (of which right):")
    for key, s in table.items():
        if s["doubt_reasons"]:
            parts = [f"{k} {v['cells']} ({v['right']})" for k, v in s["doubt_reasons"].items()]
            print(f"- {key}: {'; '.join(parts)}")
    print("Cells of failed hard rules kept out of review, another hard rule pinning them (of which wrong):")
    for key, s in table.items():
        if s["pinned"]:
            print(f"- {key}: {s['pinned']} ({s['pinned_wrong']})")
    errors = [f"{r['name']} ({r['error']})" for r in rows if r.get("error")]
    if errors:
        print(f"refused: {', '.join(errors)}")
    r12 = [r for r in rows if r["group"] == "labeled_real" and r["name"].startswith("real-012")]
    for r in r12:
        print(
            f"{r['name']}: failed hard checks {r.get('failed_checks') or 'NONE (expected some: the source is wrong)'}"
        )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "review_guarantee.json").write_text(
            json.dumps(
                {
                    "bound": bound,
                    "guarantee": g,
                    "families": names,
                    "summary": table,
                    "wrong_not_reviewed": [
                        {"input": r["name"], "kind": r["kind"], **x} for r in rows for x in r.get("silent", [])
                    ],
                    "doubt_right": [
                        {"input": r["name"], "kind": r["kind"], "cell": c[4], "reason": c[3], "confidence": c[0]}
                        for r in rows
                        for c in r["cells"]
                        if c[1] and c[2] and c[3] != SOURCE
                    ],
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
