"""What the model labeler adds to extraction time, per report and per page (for `gongkai latency`
and `bench/model_latency.py`)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from extraction.layout.baseline import BaselineLabeler
from extraction.layout.model import ModelLabeler
from extraction.pipeline import Pipeline, PipelineOptions
from training.data import DEFAULT_CACHE, load, split_paths


def _label_seconds(labeler: Any, docs: list, repeat: int = 1) -> list[float]:
    """Seconds of the layout and calibrate stages (not the reconstruction between them), best of
    `repeat`, per document (each a state through the metadata stage)."""
    pipeline = Pipeline(PipelineOptions(min_rows_found=0), labeler=labeler)
    out = []
    for d in docs:
        best = float("inf")
        for _ in range(repeat):
            doc = copy.deepcopy(d)
            t0 = time.perf_counter()
            pipeline.process(doc, until="layout")
            t1 = time.perf_counter()
            pipeline.process(doc, until="reconstruct")
            t2 = time.perf_counter()
            pipeline.process(doc, until="calibrate")
            best = min(best, (t1 - t0) + (time.perf_counter() - t2))
        out.append(best)
    return out


def measure(version: str | None = None, cache: Path = DEFAULT_CACHE, n: int = 30, split: str = "test") -> dict:
    """Median and mean seconds of the layout stage, baseline vs model (+ calibration), on n cached
    page-kind reports (scans and digital PDFs: they have pages) and the extra seconds per page."""
    import torch

    torch.set_num_threads(1)
    page_kinds = ("_digital_pdf", "_scanned_pdf", "_image")
    paths = [p for p in split_paths(split, Path(cache)) if p.stem.endswith(page_kinds)][:n]
    docs = []
    pages = 0
    through_metadata = Pipeline(PipelineOptions(labeler="baseline"))
    for p in paths:
        ex = load(p)
        d = copy.deepcopy(ex.doc)
        through_metadata.process(d, until="metadata")
        docs.append(d)
        pages += max(len(d.pages), 1)
    model = ModelLabeler(version)
    _label_seconds(model, docs[:2])  # warm-up (first torch call)
    base = _label_seconds(BaselineLabeler(), docs, repeat=2)
    mod = _label_seconds(model, docs, repeat=2)
    extra = sum(mod) - sum(base)
    return {
        "reports": len(docs),
        "pages": pages,
        "tokens_per_report": sum(len(d.tokens) for d in docs) / max(len(docs), 1),
        "baseline_s_per_report": sum(base) / max(len(docs), 1),
        "model_s_per_report": sum(mod) / max(len(docs), 1),
        "added_s_per_page": extra / max(pages, 1),
        "threads": 1,
        "model": model.version,
    }
