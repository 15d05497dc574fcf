"""The default labeler: the layout model where it measures better, the baseline elsewhere.

Measured on the held-out test split (the active model's `card.json`): on OCR'd pages (scanned
PDFs, page images) the model leaves fewer wrong cells than the baseline; on text layers, text,
HTML and DOCX both are equal. So a document with OCR'd pages gets the model (and its calibrated
cell confidence); any other gets the baseline, and never loads torch.

The baseline runs first in either case: a document in which it finds too few statutory rows is
no report (the pipeline raises `TablesMissing`), and the model is not loaded for it.
"""

from __future__ import annotations

from extraction.document import DocumentState
from extraction.layout.baseline import BaselineLabeler


class AutoLabeler:
    """Layout stage: `ModelLabeler` (loaded on first use) for OCR'd documents, else `BaselineLabeler`.

    `version`: the model's registry version or folder (default: the active version).
    `min_rows`: baseline row labels below which a document is left to the baseline (no report)."""

    name = "auto"

    def __init__(self, version: str | None = None, min_rows: int = 4, calibration: str | bool = True) -> None:
        self.baseline = BaselineLabeler()
        self.model_version = version
        self.min_rows = min_rows
        self._model = None  # ModelLabeler, loaded on the first OCR'd report
        # the cell calibrator of every kind (extraction.calibration): True the active version, a
        # version name, False none (the training data of a calibrator is read without one)
        self.calibration = calibration
        self._calibrate = None

    @property
    def version(self) -> str:
        return f"{self.baseline.version}+{self._model.version if self._model else self.model_version or 'active'}"

    def model_labeler(self):
        if self._model is None:
            from extraction.layout.model import ModelLabeler

            self._model = ModelLabeler(self.model_version)
        return self._model

    def __call__(self, doc: DocumentState) -> None:
        self.baseline(doc)
        ocr_read = any(p.unit == "px" for p in doc.pages)
        if ocr_read and sum(1 for a in doc.anchors if a.kind == "row") >= self.min_rows:
            self.model_labeler()(doc)

    def after_reconstruct(self, doc: DocumentState) -> None:
        """The model's calibrated confidence for the documents the model labeled, then the cell
        calibrator of every input kind (until the pipeline runs it as a stage of its own)."""
        if doc.labeler.startswith("model@"):
            self.model_labeler().calibrate(doc)
        stage = self.cell_calibrate()
        if stage is not None:
            stage(doc)

    def cell_calibrate(self):
        """The `extraction.calibration.Calibrate` stage, loaded on first use (None: calibration off
        or no version active)."""
        if self._calibrate is None and self.calibration is not False:
            from extraction.calibration import Calibrate, active_calibrate

            self._calibrate = Calibrate(self.calibration) if isinstance(self.calibration, str) else active_calibrate()
            if self._calibrate is None:
                self.calibration = False  # none active: do not look again for every document
        return self._calibrate


__all__ = ["AutoLabeler"]
