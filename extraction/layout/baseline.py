"""The deterministic labeler: fuzzy label matching plus an order-keeping alignment.

Every text token is searched for the cores of the format's expected anchors (exact substring,
then fuzzy for typos). A dynamic programme then picks the chain of matches that keeps the
statutory printing order and scores best, so "规章" in the narrative loses to the one under
第二十条第（一）项. The trained layout model fills the same `DocumentState.anchors` slot.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from extraction.document import Anchor, DocumentState, Token
from extraction.layout.anchors import AnchorSpec, anchor_sequence
from extraction.schema import FORMATS

_ENUM = re.compile(r"^(?:\d{1,2}|[一二三四五六七八九十]{1,2})")


@dataclass
class Candidate:
    token: int
    offset: int
    spec: AnchorSpec
    score: float


@dataclass
class Alignment:
    format: str
    score: float
    anchors: list[Anchor]


def _next_is_value(tokens: list[Token], i: int) -> bool:
    j = i + 1
    return j < len(tokens) and tokens[j].kind in ("number", "blank")


def find_candidates(tokens: list[Token], specs: tuple[AnchorSpec, ...], fuzzy_cutoff: float = 80.0) -> list[Candidate]:
    text_idx = [t.index for t in tokens if t.kind == "text" and t.key]
    if not text_idx:
        return []
    keys = [tokens[i].key for i in text_idx]
    starts: list[int] = []
    pos = 0
    for k in keys:
        starts.append(pos)
        pos += len(k) + 1
    joined = "\x00".join(keys)
    best: dict[tuple[int, int], Candidate] = {}
    matched_tokens: set[int] = set()
    for spec in specs:
        for core in spec.cores:
            start = joined.find(core)
            while start != -1:
                k = bisect.bisect_right(starts, start) - 1
                tok = text_idx[k]
                offset = start - starts[k]
                key = keys[k]
                quality = 1.0 if len(core) >= 4 else 0.85
                at_end = offset + len(core) == len(key)
                # A short core ("其他", "总计", "规章") counts only as a whole label: it ends its
                # token, and the token is short or values follow ("其他处理" is not "其他").
                if spec.short and not (at_end and (len(key) <= len(core) + 3 or _next_is_value(tokens, tok))):
                    quality = 0.0
                if quality > 0:
                    # A row label ends its token (values follow); narrative continues after it.
                    if spec.kind == "row" and not at_end:
                        tail = len(key) - offset - len(core)
                        quality *= 0.9 if tail <= 12 else 0.5
                    if spec.kind == "row" and _next_is_value(tokens, tok) and at_end:
                        quality += 0.1
                    cand = Candidate(tok, offset, spec, spec.weight * quality)
                    prev = best.get((tok, spec.index))
                    if prev is None or cand.score > prev.score:
                        best[(tok, spec.index)] = cand
                    if spec.kind in ("row", "section"):
                        matched_tokens.add(tok)
                start = joined.find(core, start + 1)
    # Fuzzy: short text tokens without an exact label match (typos, OCR noise, wrapped labels).
    fuzzy_specs = [s for s in specs if s.kind in ("row", "section", "heading") and len(s.cores[0]) >= 5]
    choices = [s.cores[0] for s in fuzzy_specs]
    for k, tok in enumerate(text_idx):
        key = _ENUM.sub("", keys[k])
        if tok in matched_tokens or not (4 <= len(key) <= 40):
            continue
        for _, ratio, j in process.extract(key, choices, scorer=fuzz.WRatio, score_cutoff=fuzzy_cutoff, limit=3):
            spec = fuzzy_specs[j]
            if len(key) < 0.5 * len(spec.cores[0]) and len(key) < 6:
                continue
            score = spec.weight * 0.9 * (ratio / 100.0) ** 2
            prev = best.get((tok, spec.index))
            if prev is None or score > prev.score:
                best[(tok, spec.index)] = Candidate(tok, len(key), spec, score)
    return sorted(best.values(), key=lambda c: (c.token, c.offset, c.spec.index))


def align(tokens: list[Token], fmt: str) -> Alignment:
    specs = anchor_sequence(fmt)
    cands = find_candidates(tokens, specs)
    if not cands:
        return Alignment(fmt, 0.0, [])
    # Text characters before each token: the gap penalty grows with prose between anchors.
    cum = np.zeros(len(tokens) + 1)
    for t in tokens:
        cum[t.index + 1] = cum[t.index] + (len(t.key) if t.kind == "text" else 0)
    n = len(cands)
    pos = np.array([c.token * 10_000 + c.offset for c in cands])
    spec_idx = np.array([c.spec.index for c in cands])
    chars = np.array([cum[c.token] for c in cands])
    scores = np.array([c.score for c in cands])
    best = np.zeros(n)
    back = np.full(n, -1)
    for j in range(n):
        best[j] = scores[j]
        if j:
            ok = (pos[:j] < pos[j]) & (spec_idx[:j] < spec_idx[j])
            if ok.any():
                gap = np.maximum(chars[j] - chars[:j], 0)
                val = np.where(ok, best[:j] - 0.15 * np.log1p(gap / 80.0), -np.inf)
                i = int(np.argmax(val))
                if val[i] > 0:
                    best[j] += val[i]
                    back[j] = i
    j = int(np.argmax(best))
    total = float(best[j])
    chain: list[int] = []
    while j != -1:
        chain.append(j)
        j = int(back[j])
    chain.reverse()
    anchors = [
        Anchor(
            cands[i].token,
            cands[i].offset,
            cands[i].spec.kind,
            cands[i].spec.key,
            float(cands[i].score),
            cands[i].spec.index,
        )
        for i in chain
    ]
    return Alignment(fmt, total, anchors)


class BaselineLabeler:
    """Layout stage implementation: label matching + alignment; picks the format that fits best."""

    name = "baseline"
    version = "1"

    def __call__(self, doc: DocumentState) -> None:
        alignments = [align(doc.tokens, fmt) for fmt in FORMATS]
        if doc.year is not None:
            for a in alignments:
                # The year decides between formats only when the tables are equally convincing.
                if (a.format == "2019") == (doc.year <= 2020):
                    a.score += 0.5
        chosen = max(alignments, key=lambda a: a.score)
        doc.format = chosen.format
        doc.anchors = chosen.anchors
        doc.labeler = f"{self.name}@{self.version}"
        labels = ["other"] * len(doc.tokens)
        for a in doc.anchors:
            labels[a.token] = f"{a.kind}:{a.key}"
        doc.token_labels = labels


def chain_quality(anchors: list[Anchor]) -> float:
    """Share of rows found (for a not-a-report decision)."""
    rows = sum(1 for a in anchors if a.kind == "row")
    return rows / 38.0 if rows else 0.0


__all__ = ["Alignment", "BaselineLabeler", "align", "chain_quality", "find_candidates"]
