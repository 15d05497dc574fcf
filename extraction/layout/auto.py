"""The default labeler: the layout model where it measures better, the baseline elsewhere.

Measured on the held-out test split (the active model's `card.json`): on OCR'd pages (scanned
PDFs, page images) the model leaves fewer wrong cells than the baseline; on text layers, text,
HTML and DOCX both are equal. So a document with OCR'd pages gets the model (and its calibrated
cell confidence); any other gets the baseline, and never loads torch.

The baseline runs first in either case: a document in which it finds too few statutory rows is
no report (the pipeline raises `TablesMissing`), and the model is not loaded for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from extraction.document import DocumentState
from extraction.layout.baseline import BaselineLabeler

if TYPE_CHECKING:
    from extraction.layout.model import ModelLabeler


class AutoLabeler:
    """Layout stage: `ModelLabeler` (loaded on first use) for OCR'd documents, else `BaselineLabeler`.

    `version`: the model's registry version or folder (default: the active version).
    `min_rows`: baseline row labels below which a document is left to the baseline (no report)."""

    name = "auto"

    def __init__(self, version: str | None = None, min_rows: int = 4) -> None:
        self.baseline = BaselineLabeler()
        self.model_version = version
        self.min_rows = min_rows
        self._model: ModelLabeler | None = None  # loaded on the first OCR'd report

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
        ocr_read = doc.ocr_read
        if ocr_read and sum(1 for a in doc.anchors if a.kind == "row") >= self.min_rows:
            self.model_labeler()(doc)

    def calibrate(self, doc: DocumentState) -> None:
        """The model's calibrated confidence, for the documents the model labeled (the pipeline's
        calibrate stage calls it)."""
        if doc.labeler.startswith("model@"):
            self.model_labeler().calibrate(doc)


__all__ = ["AutoLabeler"]
