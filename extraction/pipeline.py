"""The extraction pipeline: its stages, declared once in `build_stages` and run in order by one loop.

    ingest → ocr → pages → tokenize → metadata → layout → reconstruct → calibrate → rules

(`extraction.stages` holds one class per stage.) `Pipeline(options).extract(data, name)` returns
the spec's output document (`ExtractionResult`), whose `pipeline` record names each stage's
implementation and version (input kind, OCR engine, labeler, calibration). `process(doc,
until=...)` stops after a named stage: training, evaluation and the latency measure run the same
stages on cached documents, never a copy of their order.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator

from extraction.document import DocumentState
from extraction.ingest import IngestOptions, Ingestor
from extraction.reconstruct.assemble import ReconstructOptions, Reconstructor
from extraction.result import CellResult, ExtractionResult, Guarantee, ReportMeta, SourceMeta, needs_review
from extraction.rules import RulesOptions, failing_hard_cells
from extraction.rules import RulesStage as RulesChecker
from extraction.stages import (
    CalibrateStage,
    Calibrator,
    IngestStage,
    Labeler,
    LayoutStage,
    MetadataStage,
    OcrStage,
    PageReadingStage,
    ReconstructStage,
    RulesStage,
    Stage,
    TokenizeStage,
)

StageName = Literal["ingest", "ocr", "pages", "tokenize", "metadata", "layout", "reconstruct", "calibrate", "rules"]
STAGE_NAMES: tuple[StageName, ...] = (
    "ingest",
    "ocr",
    "pages",
    "tokenize",
    "metadata",
    "layout",
    "reconstruct",
    "calibrate",
    "rules",
)


class AutoLabelerOptions(BaseModel):
    """The layout model on OCR'd documents, where it measures better; the baseline elsewhere."""

    kind: Literal["auto"] = "auto"
    version: str | None = Field(
        default=None, description="The model's registry version or folder (default: the registry's active one)"
    )


class BaselineLabelerOptions(BaseModel):
    """Deterministic label matching."""

    kind: Literal["baseline"] = "baseline"


class ModelLabelerOptions(BaseModel):
    """The layout model on every document."""

    kind: Literal["model"] = "model"
    version: str | None = Field(
        default=None, description="The model's registry version or folder (default: the registry's active one)"
    )


class CustomLabelerOptions(BaseModel):
    """Another labeler, by import path."""

    kind: Literal["custom"] = "custom"
    target: str = Field(description="'module:Class' of a labeler (called with no arguments)")


LabelerOptions = Annotated[
    AutoLabelerOptions | BaselineLabelerOptions | ModelLabelerOptions | CustomLabelerOptions,
    Field(discriminator="kind"),
]


def labeler_spec(spec: str) -> dict[str, str | None]:
    """A labeler written as a string, as the CLI's --labeler and older options take it: 'auto',
    'baseline', 'model', 'auto:<version or folder>', 'model:<version or folder>', or 'module:Class'."""
    if spec in ("auto", "baseline", "model"):
        return {"kind": spec}
    for kind in ("auto", "model"):
        if spec.startswith(kind + ":"):
            return {"kind": kind, "version": spec[len(kind) + 1 :] or None}
    return {"kind": "custom", "target": spec}


class PipelineOptions(BaseModel):
    """Every stage's options, passed whole (and as JSON: `model_dump()` / `model_validate()`)."""

    ingest: IngestOptions = Field(
        default_factory=IngestOptions, description="Limits and parsing of inputs; `ingest.ocr`: the OCR stage's"
    )
    labeler: LabelerOptions = Field(
        default_factory=AutoLabelerOptions,
        description="Layout labeler, by kind: 'auto' (the layout model on OCR'd documents, where it measures "
        "better; the baseline elsewhere), 'baseline' (deterministic label matching), 'model' (the layout model "
        "always), each model kind with the model `version`; or 'custom' with a 'module:Class' `target`. A "
        "string is read as `labeler_spec` reads it",
    )
    reconstruct: ReconstructOptions = Field(default_factory=ReconstructOptions)
    rules: RulesOptions = Field(default_factory=RulesOptions)
    review_threshold: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Cells below this confidence, or in a failed hard rule, go to review"
    )
    min_rows_found: int = Field(
        default=4, description="Fewer statutory row labels than this: the input holds no tables (TablesMissing)"
    )
    calibration: str = Field(
        default="active",
        description="The cell calibrator of every input kind (extraction.calibration): 'active' (the registry's "
        "active version, none if no version is active), a version name or folder, or 'none' (the reconstruction's "
        "confidence, or the layout model's, stands; no guarantee is stated)",
    )

    @field_validator("labeler", mode="before")
    @classmethod
    def _labeler_string(cls, value: Any) -> Any:
        return labeler_spec(value) if isinstance(value, str) else value


LABELERS = {
    "auto": "extraction.layout.auto:AutoLabeler",
    "baseline": "extraction.layout.baseline:BaselineLabeler",
    "model": "extraction.layout.model:ModelLabeler",
}


def load_labeler(spec: LabelerOptions | str) -> Labeler:
    """The labeler the options name (a string as `labeler_spec` reads it)."""
    if isinstance(spec, str):
        spec = TypeAdapter(LabelerOptions).validate_python(labeler_spec(spec))
    if isinstance(spec, CustomLabelerOptions):
        module_name, _, cls_name = spec.target.partition(":")
        if not cls_name:
            raise ValueError(
                f"labeler {spec.target!r} is neither a known name ({', '.join(LABELERS)}) nor 'module:Class'"
            )
        custom: Labeler = getattr(importlib.import_module(module_name), cls_name)()
        return custom
    module_name, _, cls_name = LABELERS[spec.kind].partition(":")
    factory = getattr(importlib.import_module(module_name), cls_name)
    if isinstance(spec, AutoLabelerOptions | ModelLabelerOptions):
        labeler: Labeler = factory(spec.version)
        return labeler
    baseline: Labeler = factory()
    return baseline


def load_cell_calibrator(spec: str) -> Calibrator | None:
    """The cell calibrator `PipelineOptions.calibration` names (None: 'none', or no version active)."""
    from extraction.calibration import Calibrate, active_calibrate

    if spec == "none":
        return None
    return active_calibrate() if spec == "active" else Calibrate(spec)


def build_stages(
    options: PipelineOptions, ingestor: Ingestor, labeler: Labeler, calibrator: Calibrator | None
) -> list[Stage]:
    """The stages, in the order they run: the one place that order is written."""
    return [
        IngestStage(ingestor),
        OcrStage(options.ingest),
        PageReadingStage(options.ingest),
        TokenizeStage(),
        MetadataStage(),
        LayoutStage(labeler, options.min_rows_found),
        ReconstructStage(Reconstructor(options.reconstruct)),
        CalibrateStage(labeler if isinstance(labeler, Calibrator) else None, calibrator),
        RulesStage(RulesChecker(options.rules)),
    ]


class Pipeline:
    """`labeler`: a labeler object instead of `options.labeler`'s; `calibrator`: the cell calibrator of
    every input kind (default: the one `options.calibration` names), run after the labeler's own
    calibration where the labeler is a `Calibrator`."""

    def __init__(
        self,
        options: PipelineOptions | None = None,
        labeler: Labeler | None = None,
        calibrator: Calibrator | None = None,
    ) -> None:
        self.options = options or PipelineOptions()
        self.ingest = Ingestor(self.options.ingest)  # also reads a whole input: `pipeline.ingest(data, name)`
        self.labeler = labeler or load_labeler(self.options.labeler)
        if calibrator is None:
            calibrator = load_cell_calibrator(self.options.calibration)
        self.stages = build_stages(self.options, self.ingest, self.labeler, calibrator)
        assert tuple(s.name for s in self.stages) == STAGE_NAMES

    def stage(self, name: StageName) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def extract_path(self, path: str | Path) -> ExtractionResult:
        data, name = self.ingest.read_path(Path(path))
        return self.extract(data, name)

    def extract(self, data: bytes, name: str) -> ExtractionResult:
        return self.run(DocumentState.for_input(data, name))

    def run(self, doc: DocumentState) -> ExtractionResult:
        """Every stage the document has not been through, then the result."""
        return self.result(self.process(doc))

    def process(
        self, doc: DocumentState, until: StageName | None = None, skip: Collection[StageName] = ()
    ) -> DocumentState:
        """Run the stages the document has not been through yet (`doc.stages`), in order, stopping
        after `until`; the stages in `skip` are passed over (not run, not recorded)."""
        if until is not None and until not in STAGE_NAMES:
            raise ValueError(f"no stage {until!r}; the stages are {', '.join(STAGE_NAMES)}")
        for stage in self.stages:
            if stage.name not in doc.stages and stage.name not in skip:
                stage(doc)
                doc.stages[stage.name] = stage.record(doc)
            if stage.name == until:
                break
        return doc

    def result(self, doc: DocumentState) -> ExtractionResult:
        threshold = self.options.review_threshold
        failing = failing_hard_cells(doc)
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
            checks=list(doc.checks),
            review=review_ids,
            warnings=doc.warnings,
            flags=doc.flags + (["pages_failed"] if any(p.error for p in doc.pages) else []),
            pipeline=dict(doc.stages),
            guarantee=self.guarantee(doc),
        )

    def guarantee(self, doc: DocumentState) -> Guarantee | None:
        """The certified guarantee of the cell calibrator that set this document's confidence (None
        when none did: no calibrator, or a custom one that certifies nothing)."""
        stage = self.stage("calibrate")
        assert isinstance(stage, CalibrateStage)
        cells = stage.cells
        me = f"{getattr(cells, 'name', '')}@{getattr(cells, 'version', '')}"
        certified = getattr(cells, "guarantee", None)
        if callable(certified) and me in doc.calibration.split("+"):
            found: Guarantee | None = certified()
            return found
        return None


def extract_file(path: str | Path, options: PipelineOptions | None = None) -> ExtractionResult:
    return Pipeline(options).extract_path(path)


def model_pipeline(version: str | None = None, options: PipelineOptions | None = None) -> Pipeline:
    """A Pipeline with the model labeler (of `version`, default the active one) and its calibrated
    cell confidence."""
    options = options or PipelineOptions()
    return Pipeline(options.model_copy(update={"labeler": ModelLabelerOptions(version=version)}))
