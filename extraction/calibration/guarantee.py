"""The stated review guarantee of a calibrator version (light: pydantic only, imported by `result`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


def statement(bound: float, confidence: float) -> tuple[str, str]:
    """The guarantee in words: 'at most 1 in 1,000 … with 95 % confidence'."""
    one_in = round(1 / bound)
    pct = f"{confidence * 100:g}"
    en = (
        f"Of the cells not sent to review, at most 1 in {one_in:,} is wrong, with {pct} % confidence "
        "(certified on held-out documents)."
    )
    zh = f"未送人工复核的单元格中，错误率不超过 {one_in:,} 分之一（置信度 {pct}%，在留出文档上认证）。"
    return en, zh


__all__ = ["Guarantee", "statement"]
