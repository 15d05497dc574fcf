"""The deterministic labeler: fuzzy label matching plus an order-keeping alignment.

Every text token is searched for the cores of the format's expected anchors (exact substring,
then fuzzy for typos). A dynamic programme then picks the chain of matches that keeps the
statutory printing order and scores best, so "规章" in the narrative loses to the one under
第二十条第（一）项. The trained layout model fills the same `DocumentState.anchors` slot.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import cache

import numpy as np
from rapidfuzz import fuzz, process

from extraction.document import INFERRED_SCORE, Anchor, DocumentState, Token
from extraction.schema import FORMATS
from extraction.schema.anchors import AnchorSpec, anchor_sequence, enumerator

_ENUM = re.compile(r"^(?:\d{1,2}|[一二三四五六七八九十]{1,2})")


@dataclass
class Candidate:
    token: int
    offset: int
    spec: AnchorSpec
    score: float


@cache
def all_specs() -> tuple[AnchorSpec, ...]:
    return tuple(s for fmt in FORMATS for s in anchor_sequence(fmt))


# Header and row labels that only one format prints.
_FORMAT_MARKS = {
    "2021": ("本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额", "逾期不补正", "缴纳费用"),
    "2019": (
        "本年新制作数量",
        "本年新公开数量",
        "对外公开总数量",
        "上一年项目数量",
        "其他对外管理服务事项",
        "政府集中采购",
        "采购总金额",
    ),
}


def likely_formats(index: LabelIndex) -> tuple[str, ...]:
    """The formats worth aligning: both, unless the text prints marks of one only."""
    joined = "".join(index.keys)
    seen = tuple(fmt for fmt, marks in _FORMAT_MARKS.items() if any(m in joined for m in marks))
    return seen if len(seen) == 1 else FORMATS


@dataclass
class Alignment:
    format: str
    score: float
    anchors: list[Anchor]


def _next_is_value(tokens: list[Token], i: int) -> bool:
    j = i + 1
    return j < len(tokens) and tokens[j].kind in ("number", "blank")


def _labels_before(tokens: list[Token], i: int) -> int:
    """Text fields right before token i on its line (a row label has at most its group labels)."""
    n, j = 0, i - 1
    while j >= 0 and tokens[j].line == tokens[i].line and tokens[j].kind == "text" and n < 3:
        n, j = n + 1, j - 1
    return n


class LabelIndex:
    """Where each label core occurs in a document's text tokens, computed once for all formats."""

    def __init__(
        self, tokens: list[Token], specs: tuple[AnchorSpec, ...], fuzzy_cutoff: float = 80.0, long_cutoff: float = 70.0
    ) -> None:
        self.tokens = tokens
        self.text_idx = [t.index for t in tokens if t.kind == "text" and t.key]
        self.keys = [tokens[i].key for i in self.text_idx]
        starts: list[int] = []
        pos = 0
        for key in self.keys:
            starts.append(pos)
            pos += len(key) + 1
        joined = "\x00".join(self.keys)
        self.exact: dict[str, list[tuple[int, int]]] = {}
        labelled: set[int] = set()
        for spec in specs:
            for core in spec.cores:
                if core in self.exact:
                    continue
                hits: list[tuple[int, int]] = []
                start = joined.find(core)
                while start != -1:
                    k = bisect.bisect_right(starts, start) - 1
                    hits.append((k, start - starts[k]))
                    start = joined.find(core, start + 1)
                self.exact[core] = hits
                if spec.kind in ("row", "section") and not spec.short:
                    labelled.update(k for k, _ in hits)
        # Fuzzy: short text tokens without an exact label match (typos, OCR noise, wrapped labels).
        choices = sorted(
            {s.cores[0] for s in specs if s.kind in ("row", "section", "heading") and len(s.cores[0]) >= 5}
        )
        self.fuzzy: dict[int, list[tuple[str, float]]] = {}
        todo = [(k, _ENUM.sub("", key)) for k, key in enumerate(self.keys) if k not in labelled]
        todo = [(k, key) for k, key in todo if 4 <= len(key) <= 40]
        if not todo or not choices:
            return
        # Typos and OCR noise: whole-string similarity (vectorised).
        # Long labels tolerate more wrong characters (OCR: "上午端转政府信息公开中请数量").
        scores = process.cdist([key for _, key in todo], choices, scorer=fuzz.ratio, score_cutoff=long_cutoff)
        for row, (k, key) in enumerate(todo):
            near = [
                (choices[j], float(scores[row, j]))
                for j in np.flatnonzero(scores[row])
                if scores[row, j] >= fuzzy_cutoff or (len(choices[j]) >= 10 and len(key) >= 10)
            ]
            # A label wrapped over lines: this token is the label's first line (continuation
            # lines are not anchors; a piece shared by two labels decides nothing).
            if len(key) >= 5:
                prefixed = [c for c in choices if c.startswith(key) and (len(key) >= 8 or len(key) >= 0.4 * len(c))]
                if len(prefixed) == 1:
                    near.append((prefixed[0], 90.0))
            if near:
                self.fuzzy[k] = sorted(near, key=lambda h: -h[1])[:3]


def find_candidates(index: LabelIndex, specs: tuple[AnchorSpec, ...]) -> list[Candidate]:
    tokens, keys, text_idx = index.tokens, index.keys, index.text_idx
    best: dict[tuple[int, int], Candidate] = {}

    def keep(cand: Candidate) -> None:
        prev = best.get((cand.token, cand.spec.index))
        if prev is None or cand.score > prev.score:
            best[(cand.token, cand.spec.index)] = cand

    by_first_core: dict[str, list[AnchorSpec]] = {}
    for spec in specs:
        by_first_core.setdefault(spec.cores[0], []).append(spec)
        for core in spec.cores:
            for k, offset in index.exact.get(core, ()):
                tok = text_idx[k]
                key = keys[k]
                quality = 1.0 if len(core) >= 4 else 0.85
                at_end = offset + len(core) == len(key)
                # A short core ("其他", "总计", "规章") counts only as a whole label: it ends its
                # token, and the token is short or values follow ("其他处理" is not "其他").
                if spec.short and not (at_end and (len(key) <= len(core) + 3 or _next_is_value(tokens, tok))):
                    continue
                # ... and it starts its row: a "其他" after three labels on its line is a column header
                if spec.short and spec.kind == "row" and _labels_before(tokens, tok) >= 3:
                    continue
                # A row label ends its token (values follow); narrative continues after it.
                if spec.kind == "row" and not at_end:
                    quality *= 0.9 if len(key) - offset - len(core) <= 12 else 0.5
                if spec.kind == "row" and at_end and _next_is_value(tokens, tok):
                    quality += 0.1
                keep(Candidate(tok, offset, spec, spec.weight * quality))
    for k, hits in index.fuzzy.items():
        for core, ratio in hits:
            for spec in by_first_core.get(core, ()):
                if spec.kind in ("row", "section", "heading"):
                    keep(Candidate(text_idx[k], len(keys[k]), spec, spec.weight * 0.9 * (ratio / 100.0) ** 2))
    return sorted(best.values(), key=lambda c: (c.token, c.offset, c.spec.index))


def align(tokens: list[Token], fmt: str, index: LabelIndex | None = None) -> Alignment:
    specs = anchor_sequence(fmt)
    index = index or LabelIndex(tokens, specs)
    return align_candidates(tokens, fmt, find_candidates(index, specs))


def align_candidates(tokens: list[Token], fmt: str, cands: list[Candidate]) -> Alignment:
    """The order-keeping dynamic programme over a candidate list: the baseline passes its own
    candidates, the layout model passes rescored ones."""
    specs = anchor_sequence(fmt)
    cands = sorted(cands, key=lambda c: (c.token, c.offset, c.spec.index))
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
    return Alignment(fmt, total, fill_gaps(tokens, specs, anchors))


def fill_gaps(tokens: list[Token], specs: tuple[AnchorSpec, ...], anchors: list[Anchor]) -> list[Anchor]:
    """Rows the matcher missed (a label garbled by OCR, an unknown wording) but the printing order
    pins down: between two found anchors, the expected rows that are missing are given, in order,
    to the unlabelled text tokens there that values follow, when the counts agree.

    A bracketed enumerator OCR kept ("（四）无注提供" for "（四）无法提供") places its group header
    or row even when the words are garbled: it splits the gap, so a group header with a stray figure
    after it is not taken for a row label, and each part is counted on its own."""
    out: list[Anchor] = []
    for a, b in itertools.pairwise(anchors):
        out.append(a)
        out.extend(_fill_gap(tokens, specs[a.spec + 1 : b.spec], a.token + 1, b.token))
    if anchors:
        out.append(anchors[-1])
    return out


def _compatible(printed: tuple[str, int] | None, read: tuple[str, int] | None) -> bool:
    """A label token's enumerator can be the expected one: same kind ("1." is no "三、"); a
    bracketed Chinese numeral must also agree in number (OCR misreads digits far more often). A
    bracketed one before a numbered row is its group's header, which OCR read into the row's line
    ("（四）无2、没有现成信息需要法提供")."""
    if printed is None or read is None:
        return True
    if read[0] == "paren":
        return printed[0] != "paren" or printed[1] == read[1]
    return printed[0] == read[0]


def _fill_gap(
    tokens: list[Token], between: tuple[AnchorSpec, ...], start: int, end: int, lead: Token | None = None
) -> list[Anchor]:
    if not any(s.kind == "row" for s in between):
        return []
    bracketed: dict[tuple[str, int], list[AnchorSpec]] = {}
    for s in between:
        if s.enumerator is not None and s.enumerator[0] == "paren":
            bracketed.setdefault(s.enumerator, []).append(s)
    for t in tokens[start:end]:
        if t.kind != "text":
            continue
        hits = bracketed.get(enumerator(t.text) or ("", 0), [])
        if len(hits) != 1:
            continue
        spec = hits[0]
        at = between.index(spec)
        found: list[Anchor] = []
        following = _next_is_value(tokens, t.index)
        if spec.kind == "row" and following:
            found.append(Anchor(t.index, len(t.key), spec.kind, spec.key, INFERRED_SCORE, spec.index))
        # A group header with figures after it and more words than its own may be the header and
        # its first row's label read as one field ("（四）无法提供 1.本机关不掌握…").
        merged = following and len(t.key) >= max(len(c) for c in spec.cores) + 4
        right_lead = t if spec.kind == "section" and merged else None
        left = _fill_gap(tokens, between[:at], start, t.index, lead)
        right = _fill_gap(tokens, between[at + 1 :], t.index + 1, end, right_lead)
        return left + found + right
    missing = [s for s in between if s.kind == "row"]
    labels = [
        t
        for t in tokens[start:end]
        if t.kind == "text" and len(t.key) >= 2 and _next_is_value(tokens, t.index) and not _numeric_key(t.key)
    ]
    if lead is not None and len(labels) + 1 == len(missing):
        labels.insert(0, lead)
    if len(labels) != len(missing) or not all(
        _compatible(s.enumerator, enumerator(t.text)) for t, s in zip(labels, missing, strict=True)
    ):
        return []
    return [
        Anchor(t.index, len(t.key), s.kind, s.key, INFERRED_SCORE, s.index)
        for t, s in zip(labels, missing, strict=True)
    ]


def _numeric_key(key: str) -> bool:
    return sum(ch.isdigit() for ch in key) * 2 >= len(key)


class BaselineLabeler:
    """Layout stage implementation: label matching + alignment; picks the format that fits best."""

    name = "baseline"
    version = "1"

    def __call__(self, doc: DocumentState) -> None:
        index = LabelIndex(doc.tokens, all_specs())
        alignments = [align(doc.tokens, fmt, index) for fmt in likely_formats(index)]
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
        for anchor in doc.anchors:
            labels[anchor.token] = f"{anchor.kind}:{anchor.key}"
        doc.token_labels = labels


__all__ = ["Alignment", "BaselineLabeler", "align", "find_candidates"]
