"""One meaning of confidence on every input kind (issue 16).

After reconstruction, every cell of every document (text, Markdown, HTML, DOCX, digital PDF,
scanned PDF, page image) gets as its confidence the calibrated probability that its value is right,
and a review level certified for this calibrator version decides which cells go to review.

Model (`CellCalibrator`), fitted by `training.calibrate`:
- features: the layout calibrator's cell features (`extraction.layout.model.CELL_FEATURES`: the
  reconstruction's confidence and flags, the sums as evidence) with the reconstruction's own
  confidence, plus the evidence issue 16 added (a failed warning, `unverified`/`unread` cells, the
  document-level flags of the cell's row and table) and, on OCR'd pages, the layout model's own
  calibrated probability;
- one logistic regression over those features, their copies per kind group (`text`: txt, md, html,
  docx; `pdf`: a digital PDF's text layer; `ocr`: scanned PDFs and images) and the groups'
  intercepts. So each group has its own slopes where its data says so, while a group with few
  errors (HTML and DOCX have almost none) borrows the shared ones: the L2 penalty pulls the group
  copies to 0. A logistic is smooth and monotone in the evidence, and does not overfit the few
  hundred wrong cells the way a tree would;
- then an isotonic map per kind group, fitted on the logistic's held-out (leave-one-family-out)
  scores: the logistic ranks, the isotonic map makes the number a frequency on data it was not
  fitted on. (Isotonic alone on one score could not combine the evidence; a logistic alone is
  not calibrated in the tail where the review level lies.)

The caps of the rules stage hold after calibration, whatever the stages' order: a cell not read as
printed (`DOUBT_FLAGS`: missing, unread, filled or changed by a rule, unverified) is at most
`RulesOptions.doubt_confidence` (a figure read but `unverified` at most `unverified_confidence`), one
in a failed warning at most `warning_confidence`; beneath its cap a cell keeps its calibrated
probability, and a doubt flag sends it to review whatever the confidence.

A calibrator version is a folder `models/calibration/<version>/` (calibrator.json, card.json,
manifest.json with the sha256 of each file, checked at load by `extraction.registry.verify`);
`registry.json`'s `calibration` key names the active one (`GONGKAI_CALIBRATION` overrides it).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from extraction.calibration.guarantee import Guarantee, statement
from extraction.document import DOUBT_FLAGS, WARNING_CONFIDENCE, DocumentState, doubt_cap

CALIBRATION_SUBDIR = "calibration"
VERSION_PREFIX = "calibration-"
CALIBRATOR_FILE = "calibrator.json"
CARD_FILE = "card.json"
ENV_CALIBRATION = "GONGKAI_CALIBRATION"
# The flag of a cell whose calibrated confidence is below the version's certified review level.
UNCERTAIN = "uncertain"
# Breaks the isotonic map's ties in the logistic's order (review picks the least likely first);
# moves the probability by at most this much.
TIE_BREAK = 1e-3

# input kind (DocumentState.kind) -> kind group
KIND_GROUPS: dict[str, str] = {
    "txt": "text",
    "md": "text",
    "html": "text",
    "docx": "text",
    "pdf": "pdf",
    "digital_pdf": "pdf",
    "scanned_pdf": "ocr",
    "image": "ocr",
}
GROUPS: tuple[str, ...] = ("text", "pdf", "ocr")

# Evidence beyond the layout calibrator's features.
EXTRA_FEATURES = [
    "layout_calibrated",  # the layout model calibrated this cell (OCR'd pages)
    "layout_logit",  # its calibrated probability, as a logit
    "failed_warning",  # the cell is in a failed soft rule
    "unverified",
    "unread",
    "doubt",  # any flag of DOUBT_FLAGS
    "row_flagged",  # its row is row_not_read / row_unverified
    "table_not_found",
    "stray_figures",  # figures printed in its table where no row label precedes them
    "doc_flags",  # log(1 + document-level flags)
    # How hard the document's pages were to read: the share of the figures the recogniser read with
    # doubt (below OCR_DOUBT), 0 without OCR. One kind of input holds flatbed scans (0.2 % of cells
    # wrong) and phone photos (5 %): without it a sure figure of either got the same probability.
    "ocr_doubtful_figures",
]
OCR_DOUBT = 0.9  # a figure the recogniser read below this is read with doubt


# The cell's neighbourhood: a page reading that went wrong somewhere in a row, table or document
# leaves doubt flags on some of its cells and silent errors on others (a figure dropped from a row
# shifts the rest of it; a converter's split row breaks its sums once, then holds by inference).
CONTEXT_FEATURES = ["row_others_flagged", "table_flagged", "doc_flagged", "row_failed", "doc_failed"]
# per-cell columns that say "this cell's reading is in doubt"
FLAG_COLUMNS = (
    "ambiguous",
    "label_inferred",
    "missing",
    "corrected_by_rule",
    "digits_split",
    "inferred_blank",
    "extra_values",
    "incomplete",
    "unverified",
    "unread",
    "failed_warning",
)


def context_features(cids: list[str], x: np.ndarray) -> np.ndarray:
    """CONTEXT_FEATURES per cell, from the cells' own features `x` (columns CELL_FEATURES + EXTRA_FEATURES)."""
    from extraction.layout.model import CELL_FEATURES

    names = [*CELL_FEATURES, *EXTRA_FEATURES]
    out = np.zeros((len(cids), len(CONTEXT_FEATURES)), dtype=np.float64)
    if not cids:
        return out
    flagged = (x[:, [names.index(c) for c in FLAG_COLUMNS]] != 0).any(axis=1)
    failing = x[:, names.index("failed_rule")] != 0
    rows = [cid.rsplit(".", 1)[0] for cid in cids]
    tables = [cid.split(".", 1)[0] for cid in cids]
    row_flag: dict[str, int] = {}
    row_fail: dict[str, int] = {}
    table_flag: dict[str, int] = {}
    for r, t, f, e in zip(rows, tables, flagged, failing, strict=True):
        row_flag[r] = row_flag.get(r, 0) + int(f)
        row_fail[r] = row_fail.get(r, 0) + int(e)
        table_flag[t] = table_flag.get(t, 0) + int(f)
    doc_flag, doc_fail = float(np.log1p(flagged.sum())), float(np.log1p(failing.sum()))
    for i, (r, t) in enumerate(zip(rows, tables, strict=True)):
        out[i] = (
            min(2, row_flag[r] - int(flagged[i])),
            np.log1p(table_flag[t]),
            doc_flag,
            float(row_fail[r] > 0),
            doc_fail,
        )
    return out


def kind_group(kind: str) -> str:
    return KIND_GROUPS.get(kind, "text")


def base_feature_names() -> list[str]:
    from extraction.layout.model import CELL_FEATURES

    return [*CELL_FEATURES, *EXTRA_FEATURES, *CONTEXT_FEATURES]


def feature_names() -> list[str]:
    """Columns of the logistic: group intercepts, shared features, then each group's copy."""
    base = base_feature_names()
    return [f"group:{g}" for g in GROUPS] + base + [f"{g}:{f}" for g in GROUPS for f in base]


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def ocr_doubtful_figures(doc: DocumentState) -> float:
    """The share of the figures read by OCR that the recogniser read below `OCR_DOUBT` (0 where no
    page was OCR'd)."""
    ocr_pages = {p.number for p in doc.pages if p.unit == "px"}
    if not ocr_pages:
        return 0.0
    figures = [t.confidence for t in doc.tokens if t.kind == "number" and t.page in ocr_pages]
    if not figures:
        return 0.0
    return float(np.mean(np.asarray(figures) < OCR_DOUBT))


def cell_matrix(doc: DocumentState) -> tuple[list[str], np.ndarray]:
    """One row of base features per cell of `doc.cells` (after reconstruction; after the layout
    model's calibration where it ran), in `base_feature_names()` order."""
    from extraction.layout.model import CELL_FEATURES, cell_features
    from extraction.schema import constraints, layout

    cids, x = cell_features(doc)
    conf_col = CELL_FEATURES.index("confidence")
    gap_col = CELL_FEATURES.index("log_confidence_gap")
    lay = layout(doc.format or "2021", tuple(doc.variants))
    values = {cid: c.value for cid, c in doc.cells.items()}
    # (only the soft rules: the hard ones cell_features has evaluated)
    warned = {cid for c in constraints(lay) if c.severity == "warning" and not c.holds(values) for cid in c.cells}
    rows_flagged = {f.split(":", 1)[1] for f in doc.flags if f.startswith(("row_not_read:", "row_unverified:"))}
    tables_missing = {f.split(":", 1)[1] for f in doc.flags if f.startswith("table_not_found:")}
    stray = {f.split(":", 1)[1] for f in doc.flags if f.startswith("stray_figures:")}
    doc_flags = float(np.log1p(len(doc.flags)))
    doubtful = ocr_doubtful_figures(doc)
    extra = np.zeros((len(cids), len(EXTRA_FEATURES)), dtype=np.float64)
    for i, cid in enumerate(cids):
        cv = doc.cells[cid]
        table, rest = cid.split(".", 1)
        row = f"{table}.{rest.rsplit('.', 1)[0]}"
        calibrated = cv.read_confidence is not None
        if calibrated:  # the features read the reconstruction's own confidence, on every kind alike
            x[i, conf_col] = cv.read_confidence
            x[i, gap_col] = float(np.log(max(1e-4, 1.0 - cv.read_confidence)))  # type: ignore[operator]
        flags = set(cv.flags)
        extra[i] = (
            float(calibrated),
            _logit(cv.confidence) if calibrated else 0.0,
            float(cid in warned),
            float("unverified" in flags),
            float("unread" in flags),
            float(bool(DOUBT_FLAGS.intersection(flags))),
            float(row in rows_flagged),
            float(table in tables_missing),
            float(table in stray),
            doc_flags,
            doubtful,
        )
    x = np.hstack([x, extra])
    return cids, np.hstack([x, context_features(cids, x)])


def design(base: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The logistic's input: group one-hots, the base features, and their copy per group."""
    onehot = np.stack([(groups == g).astype(np.float64) for g in GROUPS], axis=1)
    return np.hstack([onehot, base] + [base * onehot[:, [k]] for k in range(len(GROUPS))])


class CellCalibrator(BaseModel):
    """A fitted calibrator (calibrator.json): standardised logistic, then isotonic per kind group."""

    version: str
    features: list[str] = Field(description="Base feature names, in column order")
    mean: list[float]
    scale: list[float]
    coef: list[float] = Field(description="One per column of `design` (group one-hots, base, group copies)")
    intercept: float
    iso: dict[str, tuple[list[float], list[float]]] = Field(description="Kind group -> isotonic map (x, y)")
    review_below: float | None = Field(default=None, description="Certified review level (None: not certified)")
    guarantee: Guarantee | None = None

    def score(self, base: np.ndarray, groups: np.ndarray) -> np.ndarray:
        z = (design(base, groups) - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))

    def predict(self, base: np.ndarray, groups: np.ndarray) -> np.ndarray:
        s = self.score(base, groups)
        out = s.copy()
        for g, (xs, ys) in self.iso.items():
            m = groups == g
            if m.any():
                out[m] = np.interp(s[m], xs, ys)
        return (1.0 - TIE_BREAK) * out + TIE_BREAK * s

    def columns(self) -> list[int]:
        """Columns of `cell_matrix` this calibrator reads (one fitted before features were added reads its own)."""
        names = base_feature_names()
        return [names.index(f) for f in self.features]


class Calibrate:
    """The calibration stage: `__call__(doc)` after reconstruction (and after the layout model's own
    calibration on OCR'd pages), before the rules stage. Sets every cell's confidence to the
    calibrated probability that it is right (the reconstruction's kept in `read_confidence`), keeps
    the rules' caps, flags cells below the certified review level `uncertain` (so they go to review
    in the CLI and the service alike), and records the version in each cell's `source` (`model`)."""

    name = "calibrate"

    def __init__(self, version: str | None = None, calibrator: CellCalibrator | None = None) -> None:
        self.calibrator = calibrator or load_calibrator(version)
        self.version = self.calibrator.version

    def __call__(self, doc: DocumentState) -> None:
        self.calibrate(doc)

    def guarantee(self) -> Guarantee | None:
        """This version's certified guarantee (None: not certified)."""
        return self.calibrator.guarantee

    def calibrate(self, doc: DocumentState) -> None:
        if not doc.cells:
            return
        # after the layout model's own calibration where it labeled: both are named
        me = f"{self.name}@{self.version}"
        doc.calibration = f"{doc.calibration}+{me}" if doc.calibration else me
        cal = self.calibrator
        cids, base = cell_matrix(doc)
        warned_col = base_feature_names().index("failed_warning")
        groups = np.full(len(cids), kind_group(doc.kind))
        conf = cal.predict(base[:, cal.columns()], groups)
        tag = f"+{self.version}"
        for i, cid in enumerate(cids):
            cell = doc.cells[cid]
            if cell.read_confidence is None:
                cell.read_confidence = cell.confidence
            c = float(conf[i])
            c = min(c, doubt_cap(cell.flags))  # a cell not read as printed is never confident
            if base[i, warned_col]:
                c = min(c, WARNING_CONFIDENCE)
            cell.confidence = round(c, 6)  # 6 places keep the tie-breaking order
            if UNCERTAIN in cell.flags:  # the layout model's own level gives way to this version's
                cell.flags.remove(UNCERTAIN)
            if cal.review_below is not None and cell.confidence < cal.review_below:
                cell.flags.append(UNCERTAIN)
            if not cell.source.endswith(tag):
                cell.source += tag


# ------------------------------------------------------------------------------------ registry


def calibration_dirs() -> list[Path]:
    """Where calibrator versions live: the models folder's `calibration/`, then the shipped one's."""
    from extraction import registry

    dirs = [registry.MODELS_DIR / CALIBRATION_SUBDIR, registry.SHIPPED_DIR / CALIBRATION_SUBDIR]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def active_calibration() -> str | None:
    """GONGKAI_CALIBRATION, else the models folder's registry.json `calibration`, else the shipped one's."""
    from extraction import registry

    env = os.environ.get(ENV_CALIBRATION)
    if env:
        return env
    for d in (registry.MODELS_DIR, registry.SHIPPED_DIR):
        name = registry.active_calibration_in(d)
        if name:
            return name
    return None


def resolve_calibration(version: str | None = None) -> Path:
    """The verified folder of a calibrator version (a name or a folder path; default the active one)."""
    from extraction import registry

    version = version or active_calibration()
    if not version:
        raise registry.ModelNotFound("no calibrator version is active (registry.json 'calibration')")
    folder = Path(version)
    if not (folder / CALIBRATOR_FILE).is_file():
        found = [d / version for d in calibration_dirs() if (d / version / CALIBRATOR_FILE).is_file()]
        if not found:
            raise registry.ModelNotFound(f"calibrator version {version!r} not found in {calibration_dirs()}")
        folder = found[0]
    registry.verify(folder)  # sha256 of every file, or ModelIntegrityError
    return folder


@lru_cache(maxsize=8)
def _load(folder: str, mtime: float) -> CellCalibrator:
    return CellCalibrator.model_validate_json((Path(folder) / CALIBRATOR_FILE).read_text(encoding="utf-8"))


def load_calibrator(version: str | None = None) -> CellCalibrator:
    """The verified calibrator of `version` (default the active one), loaded once per process."""
    folder = resolve_calibration(version)
    return _load(str(folder), (folder / CALIBRATOR_FILE).stat().st_mtime)


def active_calibrate() -> Calibrate | None:
    """The stage for the active calibrator, or None where no version is active."""
    return Calibrate() if active_calibration() else None


@lru_cache(maxsize=16)
def guarantee_of(version: str) -> Guarantee | None:
    """The certified guarantee of a calibrator version (None: unknown version or not certified)."""
    for ref in (version, active_calibration()):  # by name, else the active one (GONGKAI_CALIBRATION may be a path)
        try:
            cal = load_calibrator(ref)
        except Exception:  # a result read back long after its version went: no guarantee to state
            continue
        if cal.version == version:
            return cal.guarantee
    return None


def save_version(cal: CellCalibrator, card: dict, models_dir: Path) -> Path:
    """Write `models_dir/calibration/<version>/` (calibrator.json, card.json, manifest.json)."""
    from extraction.registry import write_manifest

    if not cal.version.startswith(VERSION_PREFIX):  # the tag in each cell's model names it (result.guarantee)
        raise ValueError(f"a calibrator version is named {VERSION_PREFIX}<name>, not {cal.version!r}")
    folder = Path(models_dir) / CALIBRATION_SUBDIR / cal.version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CALIBRATOR_FILE).write_text(cal.model_dump_json(indent=1) + "\n", encoding="utf-8")
    (folder / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    write_manifest(folder, cal.version, kind="calibration")
    return folder


__all__ = [
    "GROUPS",
    "KIND_GROUPS",
    "Calibrate",
    "CellCalibrator",
    "Guarantee",
    "active_calibrate",
    "active_calibration",
    "cell_matrix",
    "design",
    "feature_names",
    "guarantee_of",
    "kind_group",
    "load_calibrator",
    "resolve_calibration",
    "save_version",
    "statement",
]
