"""Fake OCR readings shared by the OCR-stage tests: tokens with boxes, and an engine that reads
given boxes from a script of answers (no model runs)."""

from __future__ import annotations

from collections.abc import Callable

from extraction.ocr.base import OcrEngine, OcrOptions, OcrToken

Box = tuple[float, float, float, float]


def spaced_token(text: str, box: Box, conf: float, core: bool = True) -> OcrToken:
    """A token whose characters share its box evenly, each read at `conf`; `core`: its ink box is
    the box itself (else none is given)."""
    x0, y0, x1, y1 = box
    quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    step = (x1 - x0) / max(1, len(text))
    chars = [(x0 + i * step, x0 + (i + 1) * step) for i in range(len(text))]
    return OcrToken(text, quad, box, conf, [], chars, [conf] * len(text), box if core else None)


class ScriptedRereader(OcrEngine):
    """Reads every box it is given as `answers[k]` (text, confidence) on its k-th call, None reading
    nothing; `calls` counts the calls. `make` builds each token (text, box, confidence)."""

    name = "fake"

    def __init__(self, answers: list[tuple[str, float] | None], make: Callable[[str, Box, float], OcrToken]) -> None:
        super().__init__(OcrOptions())
        self.answers = answers
        self.make = make
        self.calls = 0

    def __call__(self, image, page, *, deadline=None):  # pragma: no cover - not used here
        return []

    def read_boxes(self, image, boxes, page, *, deadline=None):
        answer = self.answers[self.calls]
        self.calls += 1
        return [] if answer is None else [self.make(answer[0], b, answer[1]) for b in boxes]
