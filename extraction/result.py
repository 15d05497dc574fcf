"""Public output shapes (pydantic): the spec's output document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from extraction.document import DOUBT_FLAGS

SCHEMA_NAME = "gov-disclosure-report"


class CellResult(BaseModel):
    value: int | float | None = Field(description="The cell's value; null when the report leaves it blank")
    confidence: float = Field(ge=0.0, le=1.0, description="Probability that value is right")
    page: int | None = Field(default=None, description="1-based page where the cell was read")
    bbox: list[float] | None = Field(default=None, description="x0, y0, x1, y1 on that page, top-left origin")
    text: str = Field(default="", description="The text the value was read from")
    flags: list[str] = Field(
        default_factory=list,
        description="e.g. split_digits, corrected_by_rule, ambiguous, uncertain (the calibrated confidence is "
        "below the model version's review level)",
    )
    alternatives: list[int | float | None] = Field(
        default_factory=list, description="Other values that also satisfy the hard rules"
    )
    review: bool = Field(default=False, description="Sent to human review")
    model: str = Field(default="", description="Labeler/model version that produced the cell")


CheckStatus = Literal["passed", "failed", "inferred"]


class CheckResult(BaseModel):
    rule: str
    severity: Literal["error", "warning"]
    passed: bool = Field(description="The rule holds on the values as read (false when it failed or holds only by inference)")
    status: CheckStatus = Field(
        default="passed",
        description="passed; failed (the values break the rule: a misread or an error in the report itself); "
        "inferred (it holds only through a cell the sums filled or changed: it cannot say the report is "
        "consistent, and that cell is in review)",
    )
    cells: list[str]
    message: str = Field(description="中文说明")
    message_en: str = ""
    expected: float | None = None
    actual: float | None = None


class ReportMeta(BaseModel):
    agency: str | None
    year: int | None
    format: Literal["2021", "2019"]
    variants: list[str] = Field(default_factory=list)


class SourceMeta(BaseModel):
    name: str
    sha256: str
    kind: str
    pages: int | None = None
    failed_pages: list[int] = Field(default_factory=list)


class Guarantee(BaseModel):
    """What a reviewer may rely on: among the cells NOT sent to review, the share that is wrong is at
    most `bound`, with probability `confidence` over the certification data (Learn-then-Test)."""

    statement: str = Field(description="The guarantee in plain words")
    statement_zh: str = Field(default="", description="The same, in Chinese")
    bound: float = Field(gt=0.0, lt=1.0, description="Largest error rate among cells not sent to review")
    confidence: float = Field(gt=0.0, lt=1.0, description="Probability with which the bound holds")
    review_below: float = Field(
        ge=0.0,
        le=1.0,
        description="The certified review level: a cell whose calibrated confidence is below it goes to review",
    )
    calibrator: str = Field(description="The calibrator version it was certified for")
    method: str = Field(description="How the level was certified")
    certified_on: str = Field(default="", description="The held-out data it was certified on")
    cells: int = Field(default=0, description="Certification cells")
    not_reviewed: int = Field(default=0, description="Certification cells not sent to review at this level")
    wrong_not_reviewed: int = Field(default=0, description="Of those, wrong")
    upper_95: float | None = Field(
        default=None, description="Exact one-sided upper bound of that error rate (Clopper-Pearson)"
    )


class ExtractionResult(BaseModel):
    schema_: str = Field(default=SCHEMA_NAME, alias="schema")
    report: ReportMeta
    source: SourceMeta
    cells: dict[str, CellResult]
    checks: list[CheckResult]
    review: list[str] = Field(default_factory=list, description="Cell ids sent to human review, riskiest first")
    warnings: list[str] = Field(default_factory=list)
    flags: list[str] = Field(
        default_factory=list,
        description="Document-level: table_not_found:<table> (none of its rows was found), row_not_read:<row id> "
        "(a row found without its figures), row_unverified:<row id> (its figures read, but "
        "which cell each belongs to no sum can check: fewer or more figures than cells, a glued run cut, figures "
        "that may be a neighbouring row's, a row placed by printing order with its label not read), pages_failed; every cell concerned is in review",
    )
    pipeline: dict[str, str] = Field(default_factory=dict, description="Stage name -> implementation@version")
    guarantee: Guarantee | None = Field(
        default=None,
        description="The review guarantee certified for the calibrator version that set the cells' confidence "
        "(named in each cell's `model`, `…+calibration-vN`, and in `pipeline.calibrate`); null when no calibrator ran",
    )

    model_config = {"populate_by_name": True}

    def to_json_dict(self) -> dict:
        return self.model_dump(by_alias=True, mode="json")

    @property
    def failed_checks(self) -> list[CheckResult]:
        """Checks the values break (not those that hold only by inference)."""
        return [c for c in self.checks if c.status == "failed"]

    @property
    def values(self) -> dict[str, int | float | None]:
        return {k: c.value for k, c in self.cells.items()}


def needs_review(confidence: float, flags: Iterable[str], in_failed_rule: bool, threshold: float) -> bool:
    """Whether a cell goes to review: its confidence is below the threshold, a hard rule it is in
    fails, the sums left it a rival reading (`ambiguous`: the reviewer is shown both), it was not
    read as printed (`DOUBT_FLAGS`: missing, filled or changed by a rule, unverified…), or a
    calibrated model version found it below its review level (`uncertain`). `ambiguous` and the
    doubt flags hold whatever the confidence: a calibrated model may find such cells mostly right,
    but which reading is printed is for a person to see. A cell that another hard rule pins
    (`pinned_by_rule`: `extraction.rules.pinned_cells`) is not reviewed for a failed rule: the
    rule's suspects are."""
    flags = set(flags)
    failed = in_failed_rule and "pinned_by_rule" not in flags
    doubt = "ambiguous" in flags or "uncertain" in flags or not DOUBT_FLAGS.isdisjoint(flags)
    return confidence < threshold or failed or doubt
