"""The stated review guarantee of a calibrator version, in words (the shape, `Guarantee`, is public: `extraction.result`)."""

from __future__ import annotations

from extraction.result import Guarantee


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
