"""The extraction pipeline: ingest → ocr → layout → reconstruct → rules, each stage replaceable.

`Pipeline(options).extract(data, name)` returns the spec's output document (`ExtractionResult`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from extraction.document import DocumentState
from extraction.errors import NotAReport, TablesMissing
from extraction.ingest import IngestOptions, Ingestor
from extraction.layout.tokenize import normalize, tokenize
from extraction.metadata import extract_metadata
from extraction.reconstruct.assemble import ReconstructOptions, Reconstructor
from extraction.result import CellResult, CheckResult, ExtractionResult, ReportMeta, SourceMeta, needs_review
from extraction.rules import RulesOptions, RulesStage


class Stage(Protocol):
    """One pipeline stage: reads and fills the per-document working state."""

    name: str
    version: str

    def __call__(self, doc: DocumentState) -> None: ...


class PipelineOptions(BaseModel):
    ingest: IngestOptions = Field(default_factory=IngestOptions, description="Limits and parsing of inputs")
    labeler: str = Field(
        default="auto",
        description="Layout labeler: 'auto' (the layout model on OCR'd documents, where it measures better; the "
        "baseline elsewhere), 'baseline' (deterministic label matching), 'model' (the layout model always) or "
        "'module:Class' of another labeler",
    )
    reconstruct: ReconstructOptions = Field(default_factory=ReconstructOptions)
    rules: RulesOptions = Field(default_factory=RulesOptions)
    review_threshold: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Cells below this confidence, or in a failed hard rule, go to review"
    )
    min_rows_found: int = Field(
        default=4, description="Fewer statutory row labels than this: the input holds no tables (TablesMissing)"
    )


LABELERS = {
    "auto": "extraction.layout.auto:AutoLabeler",
    "baseline": "extraction.layout.baseline:BaselineLabeler",
    "model": "extraction.layout.model:ModelLabeler",
}


def load_labeler(spec: str) -> Stage:
    target = LABELERS.get(spec, spec)
    module_name, _, cls_name = target.partition(":")
    if not cls_name:
        raise ValueError(f"labeler {spec!r} is neither a known name ({', '.join(LABELERS)}) nor 'module:Class'")
    return getattr(importlib.import_module(module_name), cls_name)()


class Pipeline:
    def __init__(self, options: PipelineOptions | None = None, labeler: Stage | None = None) -> None:
        self.options = options or PipelineOptions()
        self.ingest = Ingestor(self.options.ingest)
        self.labeler = labeler or load_labeler(self.options.labeler)
        self.reconstruct = Reconstructor(self.options.reconstruct)
        self.rules = RulesStage(self.options.rules)

    def extract_path(self, path: str | Path) -> ExtractionResult:
        data, name = self.ingest.read_path(Path(path))
        return self.extract(data, name)

    def extract(self, data: bytes, name: str) -> ExtractionResult:
        doc = self.ingest(data, name)
        return self.run(doc)

    def run(self, doc: DocumentState) -> ExtractionResult:
        doc.tokens = tokenize(doc.lines)
        extract_metadata(doc)
        self.labeler(doc)
        rows_found = sum(1 for a in doc.anchors if a.kind == "row")
        if rows_found < self.options.min_rows_found:
            text = normalize(" ".join(t.text for t in doc.tokens if t.kind == "text")[:200_000])
            if "信息公开" not in text or not any(w in text for w in ("报告", "年报")):
                # a login page or a column index that mentions 信息公开 is not a report either
                raise NotAReport("the input is not a government information-disclosure annual report")
            raise TablesMissing(
                f"the report's statutory tables were not found ({rows_found} row labels recognised)",
                detail={"rows_found": rows_found},
            )
        self.reconstruct(doc)
        # a labeler that scores cells (the layout model) calibrates their confidence here
        after = getattr(self.labeler, "after_reconstruct", None)
        if after is not None:
            after(doc)
        self.rules(doc)
        return self.result(doc)

    def result(self, doc: DocumentState) -> ExtractionResult:
        threshold = self.options.review_threshold
        failing = {cid for c in doc.checks if c["status"] == "failed" and c["severity"] == "error" for cid in c["cells"]}
        cells: dict[str, CellResult] = {}
        for cid, cv in doc.cells.items():
            review = needs_review(cv.confidence, cv.flags, cid in failing, threshold)
            # Built from our own validated state: construct without re-validating 200 cells.
            cells[cid] = CellResult.model_construct(
                value=cv.value,
                confidence=cv.confidence,
                page=cv.page,
                bbox=list(cv.bbox) if cv.bbox else None,
                text=cv.text,
                flags=cv.flags + (["failed_rule"] if cid in failing else []),
                alternatives=cv.alternatives,
                review=review,
                model=cv.source,
            )
        review_ids = sorted(
            (cid for cid, c in cells.items() if c.review), key=lambda cid: (cid not in failing, cells[cid].confidence)
        )
        pages = len(doc.pages) or None
        return ExtractionResult(
            report=ReportMeta(agency=doc.agency, year=doc.year, format=doc.format or "2021", variants=doc.variants),
            source=SourceMeta(
                name=doc.name,
                sha256=doc.sha256,
                kind=doc.kind,
                pages=pages,
                failed_pages=[p.number for p in doc.pages if p.error],
            ),
            cells=cells,
            checks=[CheckResult.model_construct(**c) for c in doc.checks],
            review=review_ids,
            warnings=doc.warnings,
            flags=doc.flags + (["pages_failed"] if any(p.error for p in doc.pages) else []),
            pipeline={
                "ingest": f"{doc.kind}@{self.ingest.version}",
                "layout": doc.labeler,
                "reconstruct": f"{self.reconstruct.name}@{self.reconstruct.version}",
                "rules": f"{self.rules.name}@{self.rules.version}",
            },
        )


def extract_file(path: str | Path, options: PipelineOptions | None = None) -> ExtractionResult:
    return Pipeline(options).extract_path(path)
