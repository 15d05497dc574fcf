"""The stages of the extraction pipeline, one class each, with one call contract.

A stage reads and fills the per-document working state (`DocumentState`): `stage(doc)` returns
nothing, and `stage.record(doc)` is the `implementation@version` that the result's `pipeline`
record names for it (the input kind, OCR engine, labeler or calibration actually used; "none"
where the stage had nothing to do). The order they run in is `extraction.pipeline.build_stages`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from extraction.document import DocumentState
from extraction.errors import NotAReport, TablesMissing
from extraction.ingest import IngestOptions, Ingestor
from extraction.ingest.base import finish_lines
from extraction.metadata import extract_metadata
from extraction.reconstruct.assemble import Reconstructor
from extraction.rules import RulesStage as RulesChecker
from extraction.text import normalize
from extraction.tokenize import tokenize

NONE = "none"  # the record of a stage that had nothing to do on a document
_INPUT_FORMAT = {"digital_pdf": "pdf", "scanned_pdf": "pdf"}


class Stage(Protocol):
    """One pipeline stage: `name` is its key in the result's `pipeline` record."""

    name: str
    version: str

    def __call__(self, doc: DocumentState) -> None: ...

    def record(self, doc: DocumentState) -> str: ...


class Labeler(Protocol):
    """A layout labeler (`extraction.layout`): tokens → anchors, format, token labels; it names
    itself in `doc.labeler`."""

    name: str

    def __call__(self, doc: DocumentState) -> None: ...


@runtime_checkable
class Calibrator(Protocol):
    """What calibrates the cells' confidence after reconstruction: `calibrate(doc)` replaces each
    cell's confidence by the probability that it is right (keeping the reconstruction's in
    `read_confidence`) and names itself in `doc.calibration`: the layout model's labelers
    (`ModelLabeler`, `AutoLabeler`) for the cells they scored, and `extraction.calibration.Calibrate`
    for every cell of every input kind."""

    def calibrate(self, doc: DocumentState) -> None: ...


class IngestStage:
    """Bytes (`doc.data`) → input kind, limits, and the lines of a text input; a PDF's or image's
    pages are left pending for OCR and page reading. A state already read passes through."""

    name = "ingest"

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.version = ingestor.version

    def __call__(self, doc: DocumentState) -> None:
        if doc.data is None:
            return  # read before the pipeline ran (`Ingestor.__call__`)
        opened = self.ingestor.open(doc.data, doc.name)
        doc.data = None
        doc.__dict__.update(opened.__dict__)  # the backend's state is the document's from here on

    def record(self, doc: DocumentState) -> str:
        # the input format read (pdf, image, txt, md, html, docx); whether a PDF was scanned is
        # known after page reading, in `source.kind`
        return f"{_INPUT_FORMAT.get(doc.kind, doc.kind)}@{self.version}"


class OcrStage:
    """The pending pages read in printing order: a text-layer page's lines as they are, a page image
    through the OCR engine (`OcrOptions.engine`), up to `pages_in_flight` at once, each with its
    table geometry (read from the page image while it is in memory). Records the engine."""

    name = "ocr"
    version = "1"

    def __init__(self, options: IngestOptions) -> None:
        self.options = options

    def __call__(self, doc: DocumentState) -> None:
        if doc.pending is not None:
            from extraction.ingest.image import read_pending  # (OCR libraries: paged inputs only)

            read_pending(doc, self.options)

    def record(self, doc: DocumentState) -> str:
        return doc.ocr or NONE


class PageReadingStage:
    """The pages of a paged input as one document (`extraction.ingest.image.finish_pending`):
    repeated page headers dropped, the kind (digital or scanned PDF) and page warnings, the error
    when no page could be read; then the field limit and the traditional-character check."""

    name = "pages"
    version = "3"  # 2: a statutory row label printed across two label columns is one label; 3: a grid's
    # boundaries are its rules that cross a whole row or column (not a digit's stem)

    def __init__(self, options: IngestOptions) -> None:
        self.options = options

    def __call__(self, doc: DocumentState) -> None:
        if doc.pending is None:
            return  # a text input (its lines were finished at ingest), or pages read before
        from extraction.ingest.image import finish_pending

        finish_pending(doc)
        finish_lines(doc, self.options)

    def record(self, doc: DocumentState) -> str:
        return f"geometry@{self.version}" if doc.pages else NONE


class TokenizeStage:
    """Lines → tokens: text, numbers (as printed), blanks, with their places."""

    name = "tokenize"
    version = "1"

    def __call__(self, doc: DocumentState) -> None:
        doc.tokens = tokenize(doc.lines)

    def record(self, doc: DocumentState) -> str:
        return f"{self.name}@{self.version}"


class MetadataStage:
    """The publishing body and the year reported on, from the text."""

    name = "metadata"
    version = "1"

    def __call__(self, doc: DocumentState) -> None:
        extract_metadata(doc)

    def record(self, doc: DocumentState) -> str:
        return f"{self.name}@{self.version}"


class LayoutStage:
    """The labeler finds the statutory anchors (row labels, columns, headings); a document where
    fewer than `min_rows` row labels are found holds no tables: `NotAReport` when its text is not
    a disclosure report at all, else `TablesMissing`."""

    name = "layout"
    version = "1"

    def __init__(self, labeler: Labeler, min_rows: int) -> None:
        self.labeler, self.min_rows = labeler, min_rows

    def __call__(self, doc: DocumentState) -> None:
        self.labeler(doc)
        self.require_tables(doc)

    def require_tables(self, doc: DocumentState) -> None:
        rows_found = sum(1 for a in doc.anchors if a.kind == "row")
        if rows_found >= self.min_rows:
            return
        text = normalize(" ".join(t.text for t in doc.tokens if t.kind == "text")[:200_000])
        if "信息公开" not in text or not any(w in text for w in ("报告", "年报")):
            # a login page or a column index that mentions 信息公开 is not a report either
            raise NotAReport("the input is not a government information-disclosure annual report")
        raise TablesMissing(
            f"the report's statutory tables were not found ({rows_found} row labels recognised)",
            detail={"rows_found": rows_found},
        )

    def record(self, doc: DocumentState) -> str:
        return doc.labeler


class ReconstructStage:
    """Anchors and value tokens → cells (the jointly solved readings of each table)."""

    name = "reconstruct"

    def __init__(self, reconstructor: Reconstructor) -> None:
        self.reconstructor = reconstructor
        self.version = reconstructor.version

    def __call__(self, doc: DocumentState) -> None:
        self.reconstructor(doc)

    def record(self, doc: DocumentState) -> str:
        return f"{self.reconstructor.name}@{self.version}"


class CalibrateStage:
    """The cells' confidence calibrated: first by the labeler's own calibration where it scored the
    cells (the layout model on OCR'd pages: `model`), then by the cell calibrator of every input kind
    (`cells`: `extraction.calibration.Calibrate`, the registry's active version), which sets the
    probability that each cell is right and its certified review level. Without either, the
    reconstruction's confidence stands (recorded as "none")."""

    name = "calibrate"
    version = "2"

    def __init__(self, model: Calibrator | None, cells: Calibrator | None) -> None:
        self.model = model
        self.cells = cells

    def __call__(self, doc: DocumentState) -> None:
        if self.model is not None:
            self.model.calibrate(doc)
        if self.cells is not None:
            self.cells.calibrate(doc)

    def record(self, doc: DocumentState) -> str:
        return doc.calibration or NONE


class RulesStage:
    """The schema's hard rules and warnings checked on the cells (`extraction.rules`)."""

    name = "rules"

    def __init__(self, checker: RulesChecker) -> None:
        self.checker = checker
        self.version = checker.version

    def __call__(self, doc: DocumentState) -> None:
        self.checker(doc)

    def record(self, doc: DocumentState) -> str:
        return f"{self.checker.name}@{self.version}"


__all__ = [
    "CalibrateStage",
    "Calibrator",
    "IngestStage",
    "Labeler",
    "LayoutStage",
    "MetadataStage",
    "OcrStage",
    "PageReadingStage",
    "ReconstructStage",
    "RulesStage",
    "Stage",
    "TokenizeStage",
]
