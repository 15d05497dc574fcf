"""Evaluation and calibration of the layout model on cached or labeled examples.

- `run_example`: one cached example (ingested) through the pipeline's remaining stages (tokenize →
  metadata → layout with the given labeler → reconstruct → [calibrate] → rules), returning the
  cells, the review set and the truth comparison.
- `compare`: cell accuracy of several labelers per flattening and per input kind (text / pdf / scan).
- `fit_calibrator`: logistic regression over `CELL_FEATURES` + isotonic map (scikit-learn), fitted on
  held-out examples run with the model labeler.
- `calibration_report`: expected calibration error and the review-load curve (share of cells sent
  to review against the share of wrong cells caught), cells in a failed hard rule always sent first.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from extraction.document import DocumentState
from extraction.errors import GongkaiError
from extraction.layout.model import CELL_FEATURES, REVIEW_BELOW, Calibrator, ModelLabeler, cell_features
from extraction.pipeline import Pipeline
from training.data import STAGE_TIMEOUT_S, Example, _same, time_limit

INPUT_KINDS = {"digital_pdf": "pdf", "scanned_pdf": "scan", "image": "scan"}


def input_kind(flattener: str) -> str:
    return INPUT_KINDS.get(flattener, "text")


@dataclass
class CellOutcome:
    report: str
    flattener: str
    cells: int
    wrong: list[str]
    confidence: dict[str, float] = field(default_factory=dict)
    correct: dict[str, bool] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    features: np.ndarray | None = None
    seconds: float = 0.0
    error: str | None = None


def run_example(ex: Example, labeler: Any, calibrate: bool = True, features: bool = False) -> CellOutcome:
    """Extract one cached example with `labeler`; compare with its truth."""
    doc: DocumentState = copy.deepcopy(ex.doc)
    truth = ex.truth["cells"]
    pipeline = Pipeline(labeler=labeler)
    t0 = time.perf_counter()
    try:
        pipeline.process(doc, until="layout")  # a document without tables raises here
        with time_limit(STAGE_TIMEOUT_S):
            pipeline.process(doc, until="reconstruct")
        feats = cell_features(doc)[1] if features else None
        pipeline.process(doc, skip=() if calibrate else ("calibrate",))
    except (GongkaiError, TimeoutError) as exc:
        code = exc.code if isinstance(exc, GongkaiError) else "timeout"
        return CellOutcome(ex.id, ex.flattener, len(truth), list(truth), error=code, seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    correct = {cid: cid in doc.cells and _same(doc.cells[cid].value, v) for cid, v in truth.items()}
    # cells the extraction gives that the truth does not have (another format): wrong as well
    for cid in doc.cells:
        correct.setdefault(cid, False)
    failing = {cid for c in doc.checks if c.status == "failed" and c.severity == "error" for cid in c.cells}
    return CellOutcome(
        ex.id,
        ex.flattener,
        len(truth),
        [cid for cid, ok in correct.items() if not ok and cid in truth],
        {cid: c.confidence for cid, c in doc.cells.items()},
        {cid: correct[cid] for cid in doc.cells},
        failing,
        feats,
        seconds,
    )


def summarize(outcomes: list[CellOutcome]) -> dict[str, Any]:
    cells = sum(o.cells for o in outcomes)
    wrong = sum(len(o.wrong) for o in outcomes)
    by: dict[str, dict[str, list[int]]] = {
        "flattener": defaultdict(lambda: [0, 0]),
        "input": defaultdict(lambda: [0, 0]),
    }
    for o in outcomes:
        for key, name in (("flattener", o.flattener), ("input", input_kind(o.flattener))):
            by[key][name][0] += o.cells
            by[key][name][1] += len(o.wrong)
    return {
        "reports": len(outcomes),
        "cells": cells,
        "wrong": wrong,
        "cell_accuracy": 1 - wrong / cells if cells else 0.0,
        "errors": sum(1 for o in outcomes if o.error),
        "by_flattener": {
            k: {"cells": c, "wrong": w, "accuracy": 1 - w / c} for k, (c, w) in sorted(by["flattener"].items())
        },
        "by_input": {k: {"cells": c, "wrong": w, "accuracy": 1 - w / c} for k, (c, w) in sorted(by["input"].items())},
        "seconds_per_report": sum(o.seconds for o in outcomes) / len(outcomes) if outcomes else 0.0,
    }


def compare(examples: list[Example], labelers: dict[str, Any], log=print) -> dict[str, Any]:
    """Cell accuracy of each labeler on the examples (with the model's calibration applied)."""
    out: dict[str, Any] = {}
    for name, labeler in labelers.items():
        outcomes = [run_example(ex, labeler) for ex in examples]
        out[name] = {"summary": summarize(outcomes), "outcomes": outcomes}
        s = out[name]["summary"]
        log(f"{name}: {s['cell_accuracy']:.5f} ({s['wrong']} wrong of {s['cells']})")
    return out


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += abs(correct[m].mean() - conf[m].mean()) * m.sum()
    return float(total / len(conf)) if len(conf) else 0.0


def calibration_report(
    outcomes: list[CellOutcome], budgets=(0.01, 0.02, 0.03, 0.05, 0.1), review_below: float | None = None
) -> dict[str, Any]:
    """ECE and the review-load curves; with `review_below` (a calibrated version's review level) also
    what that level sends and catches, alone and with the cells of failed hard rules."""
    conf, correct, forced = [], [], []
    for o in outcomes:
        if o.error:
            continue
        for cid, c in o.confidence.items():
            conf.append(c)
            correct.append(o.correct[cid])
            forced.append(cid in o.failing)
    conf_a = np.array(conf)
    correct_a = np.array(correct, dtype=float)
    forced_a = np.array(forced)
    n, n_wrong = len(conf_a), int((1 - correct_a).sum())
    # review order: failed hard rules first, then by confidence
    order = np.lexsort((conf_a, ~forced_a))
    caught = np.cumsum(1 - correct_a[order])
    curve = {}
    for b in budgets:
        k = int(np.floor(b * n))
        curve[f"{b:.2f}"] = float(caught[k - 1] / n_wrong) if k and n_wrong else 1.0
    need = int(np.searchsorted(caught, 0.99 * n_wrong) + 1) if n_wrong else 0
    # the same curve ordered by confidence alone (the calibrated confidence already weighs a failed rule)
    caught_conf = np.cumsum(1 - correct_a[np.argsort(conf_a, kind="stable")])
    curve_conf = {}
    for b in budgets:
        k = int(np.floor(b * n))
        curve_conf[f"{b:.2f}"] = float(caught_conf[k - 1] / n_wrong) if k and n_wrong else 1.0
    need_conf = int(np.searchsorted(caught_conf, 0.99 * n_wrong) + 1) if n_wrong else 0
    report: dict[str, Any] = {
        "failed_rule_cells": float(forced_a.mean()) if n else 0.0,
        "wrong_caught_by_confidence_alone": curve_conf,
        "budget_for_99pct_wrong_by_confidence": need_conf / n if n else 0.0,
        "cells": n,
        "wrong": n_wrong,
        "ece": ece(conf_a, correct_a),
        "wrong_caught_at_budget": curve,
        "budget_for_99pct_wrong": need / n if n else 0.0,
        "threshold_0.8": {
            "sent": float(((conf_a < 0.8) | forced_a).mean()) if n else 0.0,
            "caught": float((((conf_a < 0.8) | forced_a) & (correct_a == 0)).sum() / n_wrong) if n_wrong else 1.0,
        },
    }
    if review_below is not None:
        below = conf_a < review_below
        sent = below | (conf_a < 0.8) | forced_a
        report["review_below"] = {
            "level": review_below,
            "sent_by_confidence": float(below.mean()) if n else 0.0,
            "caught_by_confidence": float((below & (correct_a == 0)).sum() / n_wrong) if n_wrong else 1.0,
            "sent": float(sent.mean()) if n else 0.0,
            "caught": float((sent & (correct_a == 0)).sum() / n_wrong) if n_wrong else 1.0,
        }
    return report


def fit_calibrator(
    examples: list[Example], labeler: ModelLabeler, log=print, review_below: float | None = REVIEW_BELOW
) -> tuple[Calibrator, dict[str, Any]]:
    """Fit the cell-confidence calibrator on held-out examples (run with the model labeler)."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    xs, ys, groups = [], [], []
    for ex in examples:
        o = run_example(ex, labeler, calibrate=False, features=True)
        if o.error or o.features is None:
            continue
        xs.append(o.features)
        ys.extend(o.correct[cid] for cid in o.confidence)
        groups.extend([len(xs)] * len(o.confidence))
    x = np.concatenate(xs)
    y = np.array(ys, dtype=int)
    log(f"calibration data: {len(y)} cells, {int((1 - y).sum())} wrong")
    logistic = LogisticRegression(C=1.0, max_iter=5000)
    # Isotonic on out-of-fold scores, so the map is not fitted to scores of the same cells; the folds
    # hold whole reports (a report's cells share its OCR and its failing sums).
    folds = min(5, int((1 - y).sum()), len(xs)) if (1 - y).sum() >= 2 else 0
    if folds >= 2:
        cv = GroupKFold(folds)
        scores = cross_val_predict(logistic, x, y, cv=cv, groups=groups, method="predict_proba")[:, 1]
    else:
        scores = np.full(len(y), 0.5)
    logistic.fit(x, y) if len(set(y)) > 1 else None
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
    cal = Calibrator(
        features=list(CELL_FEATURES),
        coef=[float(c) for c in (logistic.coef_[0] if hasattr(logistic, "coef_") else np.zeros(x.shape[1]))],
        intercept=float(logistic.intercept_[0]) if hasattr(logistic, "intercept_") else 0.0,
        iso_x=[float(v) for v in iso.X_thresholds_],
        iso_y=[float(v) for v in iso.y_thresholds_],
        review_below=review_below,
    )
    return cal, {"cells": len(y), "wrong": int((1 - y).sum()), "reports": len(xs)}
