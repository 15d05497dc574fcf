"""Training data for the layout model: synthetic reports ingested once (scans OCR'd for real) and
cached on disk, and per-token targets that do not merely copy the baseline.

A cached example is the `DocumentState` right after ingest (lines, pages: the expensive part for
scans) plus the truth record, pickled under `<cache>/docs/<id>.pkl`; `Pipeline.run` accepts such a
state, so evaluation re-runs any labeler on it without OCR.

Targets (`token_targets`): the baseline's anchors where the baseline's cells of that row are all
right (verified against truth); for rows it gets wrong on page kinds, the row label found from the
truth's cell boxes (the text left of the row's cells in the row's band) — so the model learns
exactly where the baseline fails. A text report with a wrong row and no geometry to correct it is
left out (its true label token is unknown).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import pickle
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extraction.document import DocumentState, Token
from extraction.pipeline import Pipeline, PipelineOptions
from extraction.schema import layout
from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW
from extraction.schema.model import split_cell_id

DEFAULT_CACHE = Path(os.environ.get("GONGKAI_MODEL_DATA", "/tmp/gk_model_data"))
IGNORE = ""  # target of a token the loss skips

# (kind of inputs, generator seed, number of reports): text = every text flattening, pdf = digital
# PDFs, scan = scanned PDFs and page images with a random light/moderate/heavy degradation.
Part = tuple[str, int, int]
SPLITS: dict[str, list[Part]] = {
    "train": [("text", 101, 240), ("pdf", 102, 48), ("scan", 103, 72)],
    "val": [("text", 201, 64), ("pdf", 202, 16), ("scan", 203, 16)],
    "test": [("text", 301, 160), ("pdf", 302, 24), ("scan", 303, 40)],
    # more held-out reports for fitting the cell-confidence calibrator (`gongkai calibrate`): the
    # validation split alone holds about 80 wrong cells, too few to weigh OCR'd pages' rule failures
    "calibration": [("text", 401, 48), ("pdf", 402, 8), ("scan", 403, 20)],
    # OCR'd pages hold most wrong cells: more scans weigh their features (`--splits val,calibration,calibration_scans`)
    "calibration_scans": [("scan", 404, 30)],
}
# A tiny set for CI (no scans: OCR is slow).
SPLITS_TINY: dict[str, list[Part]] = {"train": [("text", 901, 16)], "val": [("text", 902, 8)]}


@dataclass
class Example:
    id: str
    flattener: str
    format: str
    doc: DocumentState  # after ingest, before tokenize
    truth: dict[str, Any]
    labeled: bool = False  # a labeled report (not generated): its headers are not verified


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) < 1e-6
    return a == b


def ingest_bytes(data: bytes, name: str, ocr_threads: int = 0) -> DocumentState:
    from extraction.ingest import IngestOptions, Ingestor
    from extraction.ocr.base import OcrOptions

    return Ingestor(IngestOptions(ocr=OcrOptions(schedule={"threads": ocr_threads})))(data, name)


def build_part(
    kind: str,
    seed: int,
    n: int,
    cache: Path = DEFAULT_CACHE,
    start: int = 0,
    reverse: bool = False,
    ocr_threads: int = 0,
) -> list[Path]:
    """Generate, ingest and pickle reports start..start+n-1 of stream `seed` (kept when cached)."""
    from gongkai_datasets.generate import KINDS, generate_one

    out = cache / "docs"
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    order = range(start, start + n)
    for i in reversed(order) if reverse else order:
        g = generate_one(i, seed, flatteners=KINDS[kind])
        path = out / f"{g.id}.pkl"
        paths.append(path)
        if path.exists():
            continue
        data = g.content if isinstance(g.content, bytes) else g.content.encode("utf-8")
        try:
            doc = ingest_bytes(data, f"{g.id}.{g.ext}", ocr_threads)
        except Exception as exc:
            print(f"skip {g.id}: {exc}")
            paths.pop()
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps({"doc": doc, "truth": g.truth}, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)
    return paths


def split_paths(split: str, cache: Path = DEFAULT_CACHE, splits: dict[str, list[Part]] | None = None) -> list[Path]:
    from gongkai_datasets.generate import KINDS

    out: list[Path] = []
    for kind, seed, n in (splits or SPLITS)[split]:
        flatteners = KINDS[kind]
        for i in range(n):
            # the id generate_one gives report i of the stream (same rule as generate_one)
            import random

            offset = random.Random(f"gongkai-datasets:{seed}").randrange(len(flatteners))
            p = cache / "docs" / f"syn{seed}_{i:05d}_{flatteners[(i + offset) % len(flatteners)]}.pkl"
            if p.exists():
                out.append(p)
    return out


def build(splits: dict[str, list[Part]], cache: Path = DEFAULT_CACHE, only: Iterable[str] | None = None) -> None:
    for name, parts in splits.items():
        if only is not None and name not in only:
            continue
        for kind, seed, n in parts:
            build_part(kind, seed, n, cache)


def load(path: Path) -> Example:
    rec = pickle.loads(path.read_bytes())
    truth = rec["truth"]
    return Example(path.stem, truth.get("flattener", "?"), truth["report"]["format"], rec["doc"], truth)


def load_labeled(report: Path, truth_path: Path) -> Example:
    """A labeled real report (its file and truth JSON) as an example."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    doc = ingest_bytes(report.read_bytes(), report.name)
    return Example(report.stem, truth.get("flattener", doc.kind), truth["report"]["format"], doc, truth, True)


def data_hash(paths: Iterable[Path]) -> str:
    """sha256 over the cached examples' names and bytes: unchanged data → the same hash."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# --- targets -------------------------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the block after `seconds` (main thread only; no-op elsewhere): a
    pathological document must not stall a whole training or evaluation run."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def _raise(signum, frame):
        raise TimeoutError(f"over {seconds:.0f}s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


STAGE_TIMEOUT_S = 20.0


def baseline_pipeline() -> Pipeline:
    """The pipeline with the baseline labeler and no "tables present?" check (min_rows_found 0): a
    training document is labeled and reconstructed whatever the baseline finds in it."""
    return Pipeline(PipelineOptions(labeler="baseline", min_rows_found=0))


def baseline_run(doc: DocumentState) -> DocumentState:
    """A copy of an ingested state through the pipeline's stages up to reconstruction (tokenize,
    metadata, the baseline labeler, reconstruct)."""
    d = copy.deepcopy(doc)
    pipeline = baseline_pipeline()
    pipeline.process(d, until="layout")
    try:
        with time_limit(STAGE_TIMEOUT_S):
            pipeline.process(d, until="reconstruct")
    except Exception:
        d.cells = {}
    return d


def _row_anchor_label(row_id: str, fmt: str) -> str:
    return "section:group.other" if fmt == "2021" and row_id == "applications.other" else f"row:{row_id}"


def _page_scale(doc: DocumentState, truth: dict[str, Any]) -> dict[int, float]:
    size = truth.get("render", {}).get("page_size")
    if not size:
        return {}
    return {p.number: size[0] / p.width for p in doc.pages if p.width}


def geometric_row_labels(tokens: list[Token], doc: DocumentState, truth: dict[str, Any]) -> dict[str, int]:
    """Row id → index of the token that prints its label, from the truth's cell boxes: the row's
    value tokens are those whose centre lies in one of its cells; its label is the nearest text
    token before the first of them (the reconstructor reads a row's values after its label)."""
    boxes = truth.get("boxes") or {}
    scale = _page_scale(doc, truth)
    rows: dict[str, list[dict]] = {}
    for cid, b in boxes.items():
        table, row, _col = split_cell_id(cid)
        rows.setdefault(f"{table}.{row}", []).append(b)
    centres: dict[int, list[tuple[int, float, float]]] = {}
    for t in tokens:
        if t.kind != "text" and t.bbox is not None and t.page in scale:
            k = scale[t.page]
            centres.setdefault(t.page, []).append(
                (t.index, (t.bbox[0] + t.bbox[2]) / 2 * k, (t.bbox[1] + t.bbox[3]) / 2 * k)
            )
    out: dict[str, int] = {}
    for row_id, cells in rows.items():
        first = None
        for c in cells:
            x0, y0, x1, y1 = c["bbox"]
            for i, x, y in centres.get(c["page"], ()):
                if x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 and (first is None or i < first):
                    first = i
        if first is None:
            continue
        j = first - 1
        while j >= 0 and not (tokens[j].kind == "text" and len(tokens[j].key) >= 2):
            j -= 1
        if j >= 0:
            out[row_id] = j
    return out


def _as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def value_row_labels(
    tokens: list[Token], labels: list[str], truth_cells: dict[str, Any], lay, fmt: str, rows: list[str]
) -> dict[str, int]:
    """Row id → label token for text inputs, from the truth's values: after the previous row's
    label, the first run of number tokens equal to the row's printed (non-blank) values; its label
    is the nearest text token before the run (as on pages: the text just before the values)."""
    order = [r.id for t in lay.tables if t.key != "appeals" for r in t.rows]
    known = {lab: i for i, lab in enumerate(labels) if lab.startswith(("row:", "section:group.other"))}
    wrong = set(rows)
    out: dict[str, int] = {}
    prev = -1
    for pos, row_id in enumerate(order):
        label = _row_anchor_label(row_id, fmt)
        if row_id not in wrong:
            prev = known.get(label, prev)
            continue
        values = [truth_cells.get(c) for c in lay.row(row_id).cell_ids]
        printed = [float(v) for v in values if v is not None]
        later = [
            known[_row_anchor_label(r, fmt)]
            for r in order[pos + 1 :]
            if r not in wrong and _row_anchor_label(r, fmt) in known
        ]
        stop = later[0] if later else len(tokens)
        if not printed:
            continue
        for k in range(prev + 1, stop):
            if tokens[k].kind != "number":
                continue
            nums: list[float] = []
            m = k
            while m < len(tokens) and len(nums) < len(printed) and tokens[m].kind != "text":
                if tokens[m].kind == "number":
                    v = _as_number(tokens[m].text)
                    if v is None:
                        break
                    nums.append(v)
                m += 1
            if nums != printed:
                continue
            j = k - 1
            while j > prev and not (tokens[j].kind == "text" and len(tokens[j].key) >= 2):
                j -= 1
            if j > prev:
                out[row_id] = j
                prev = j
                break
    return out


def token_targets(ex: Example) -> tuple[list[Token], list[str], DocumentState] | None:
    """(tokens, target label per token, the baseline's run) or None when the example cannot be
    labeled with confidence."""
    base = baseline_run(ex.doc)
    tokens = base.tokens
    labels = list(base.token_labels) if base.token_labels else ["other"] * len(tokens)
    truth_cells = ex.truth["cells"]
    fmt = ex.truth["report"]["format"]
    variants = tuple(ex.truth["report"].get("variants", []))
    lay = layout(fmt, variants)  # type: ignore[arg-type]
    if base.format != fmt:
        wrong_rows = [r.id for t in lay.tables if t.key != "appeals" for r in t.rows]
    else:
        wrong_rows = [
            r.id
            for t in lay.tables
            if t.key != "appeals"
            for r in t.rows
            if any(cid not in base.cells or not _same(base.cells[cid].value, truth_cells[cid]) for cid in r.cell_ids)
        ]
    if ex.labeled:
        # A labeled report may print headers the baseline does not know (that is why it is
        # labeled); the truth does not locate them: unverified text is unknown, not "other".
        labels = [IGNORE if lab == "other" and t.kind == "text" else lab for lab, t in zip(labels, tokens, strict=True)]
    if not wrong_rows:
        return tokens, labels, base
    if ex.truth.get("boxes"):
        geo = geometric_row_labels(tokens, ex.doc, ex.truth)
    else:
        geo = value_row_labels(tokens, labels, truth_cells, lay, fmt, wrong_rows)
        # The baseline missed rows here, so it may have missed headers too, which the truth does
        # not locate: the unverified text tokens are not "other", they are unknown.
        labels = [IGNORE if lab == "other" and t.kind == "text" else lab for lab, t in zip(labels, tokens, strict=True)]
    for row_id in wrong_rows:
        if row_id not in geo:
            return None
        target = _row_anchor_label(row_id, fmt)
        for i, lab in enumerate(labels):
            if lab == target:
                labels[i] = "other"
        labels[geo[row_id]] = target
    if VARIANT_OTHER_SINGLE_ROW in variants:
        pass  # the group label is the row: handled by _row_anchor_label
    return tokens, labels, base


def iter_examples(paths: Iterable[Path]) -> Iterator[Example]:
    for p in paths:
        yield load(p)


if __name__ == "__main__":  # python -m training.data [split ...]: build the cache
    import sys

    import torch

    torch.set_num_threads(1)
    build(SPLITS, only=sys.argv[1:] or None)
