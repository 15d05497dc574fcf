"""Token features for the layout model: one input position per token (an OCR box, a field), never
one per character.

Each token gives
- its characters (≤ `MAX_CHARS`, digits of a number token collapsed to `0`: the model reads the
  shape of a number, not its value) as ids of a small char vocabulary (`CharVocab`, a
  `tokenizers` word-level model over single characters, built from the domain and shipped with
  the model); the model averages their embeddings;
- its kind (text / number / blank) and a few flags (glued, narrative, unit, OCR confidence…);
- what the deterministic baseline makes of it: the best label candidate at the token and its
  score, and the label of the baseline's chosen alignment (so the model learns where to trust it);
- a box on the 0–1000 grid: x from the page geometry when the input has it, else from the
  character offset in the line (pseudo-box); y from the line's rank inside the window, so the same
  model serves flattened text and pages.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from extraction.document import DocumentState, Token
from extraction.layout.baseline import (
    Alignment,
    Candidate,
    LabelIndex,
    align_candidates,
    all_specs,
    find_candidates,
    likely_formats,
)
from extraction.schema.anchors import anchor_sequence
from extraction.text import normalize

MAX_CHARS = 20
PAD, UNK = "[PAD]", "[UNK]"
KIND_IDS = {"text": 0, "number": 1, "blank": 2}
N_NUMERIC = 10
_DIGIT = re.compile(r"\d")


@cache
def label_names() -> tuple[str, ...]:
    """The model's classes: other, value, then every anchor the formats print (kind:key)."""
    names = {f"{s.kind}:{s.key}" for s in all_specs()}
    return ("other", "value", *sorted(names))


@cache
def label_index() -> dict[str, int]:
    return {name: i for i, name in enumerate(label_names())}


def token_text(t: Token) -> str:
    if t.kind == "blank":
        return ""
    if t.kind == "number":
        return _DIGIT.sub("0", t.text)[:MAX_CHARS]
    return t.text[:MAX_CHARS]


class CharVocab:
    """Single characters → ids with a `tokenizers` word-level model (saved as tokenizer.json)."""

    def __init__(self, tokenizer) -> None:  # tokenizers.Tokenizer
        self.tokenizer = tokenizer
        self.size = tokenizer.get_vocab_size()

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> CharVocab:
        from extraction.schema import formats as F

        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        # The statutory wording always belongs to the vocabulary, whatever the training text.
        domain = [F.SECTION_HEADINGS, F.APPLICATION_ROWS, F.APPLICATION_GROUPS, F.APPLICANT_COLUMNS, F.APPEALS_COLUMNS]
        for obj in domain:
            counts.update({ch: min_count for ch in normalize(repr(obj))})
        chars = sorted(ch for ch, n in counts.items() if n >= min_count and not ch.isspace())
        chars += [ch for ch in "0123456789abcdefghijklmnopqrstuvwxyz.%-+()" if ch not in chars]
        return cls.from_chars(chars)

    @classmethod
    def from_chars(cls, chars: list[str]) -> CharVocab:
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers

        vocab = {PAD: 0, UNK: 1}
        for ch in chars:
            vocab.setdefault(ch, len(vocab))
        tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        return cls(tok)

    @classmethod
    def load(cls, path: Path) -> CharVocab:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), MAX_CHARS), dtype=np.int64)
        for i, enc in enumerate(self.tokenizer.encode_batch(texts)):
            ids = enc.ids[:MAX_CHARS]
            out[i, : len(ids)] = ids
        return out


@dataclass
class BaselineView:
    """The baseline's reading of a document: label index, candidates and alignment per format."""

    index: LabelIndex
    candidates: dict[str, list[Candidate]]
    alignments: dict[str, Alignment]
    chosen: str


def choose(alignments: dict[str, Alignment], year: int | None) -> str:
    """The baseline's choice of format: best alignment, the year breaking near-ties."""
    scored = {}
    for fmt, a in alignments.items():
        bonus = 0.5 if year is not None and (fmt == "2019") == (year <= 2020) else 0.0
        scored[fmt] = a.score + bonus
    return max(alignments, key=lambda f: scored[f])


def baseline_view(tokens: list[Token], year: int | None) -> BaselineView:
    index = LabelIndex(tokens, all_specs())
    cands = {fmt: find_candidates(index, anchor_sequence(fmt)) for fmt in likely_formats(index)}
    alignments = {fmt: align_candidates(tokens, fmt, c) for fmt, c in cands.items()}
    return BaselineView(index, cands, alignments, choose(alignments, year))


@dataclass
class TokenFeatures:
    """Per-token arrays for one document (numpy; the model batches windows of them)."""

    chars: np.ndarray  # [n, MAX_CHARS] int64
    kind: np.ndarray  # [n] int64
    cand: np.ndarray  # [n] int64: 1 + label id of the best baseline candidate, 0 none
    anchor: np.ndarray  # [n] int64: 1 + label id of the baseline's chosen anchor, 0 none
    numeric: np.ndarray  # [n, N_NUMERIC] float32
    x: np.ndarray  # [n, 2] float32 in 0..1
    line: np.ndarray  # [n] int64: line rank in the document

    def __len__(self) -> int:
        return len(self.kind)


def _x_extent(doc: DocumentState, tokens: list[Token]) -> np.ndarray:
    """x0, x1 of each token in 0..1: from its box when the page is known, else its place in the line."""
    widths = {p.number: p.width for p in doc.pages if p.width}
    x = np.zeros((len(tokens), 2), dtype=np.float32)
    line_len: dict[int, int] = {}
    for t in tokens:
        line_len[t.line] = line_len.get(t.line, 0) + max(len(t.text), 1) + 1
    offset: dict[int, int] = {}
    for t in tokens:
        n = max(len(t.text), 1) + 1
        start = offset.get(t.line, 0)
        offset[t.line] = start + n
        if t.bbox is not None and t.page in widths:
            w = widths[t.page]
            x[t.index] = (min(max(t.bbox[0] / w, 0.0), 1.0), min(max(t.bbox[2] / w, 0.0), 1.0))
        elif t.col is not None:
            x[t.index] = (min(t.col[0] / 160.0, 1.0), min(t.col[1] / 160.0, 1.0))
        else:
            total = line_len[t.line]
            x[t.index] = (start / total, (start + n - 1) / total)
    return x


def token_features(doc: DocumentState, vocab: CharVocab, view: BaselineView) -> TokenFeatures:
    tokens = doc.tokens
    n = len(tokens)
    ids = label_index()
    cand = np.zeros(n, dtype=np.int64)
    cand_score = np.zeros(n, dtype=np.float32)
    fuzzy = np.zeros(n, dtype=np.float32)
    for cands in view.candidates.values():
        for c in cands:
            if c.score > cand_score[c.token]:
                cand_score[c.token] = c.score
                cand[c.token] = 1 + ids[f"{c.spec.kind}:{c.spec.key}"]
    for k in view.index.fuzzy:
        fuzzy[view.index.text_idx[k]] = 1.0
    anchor = np.zeros(n, dtype=np.int64)
    for a in view.alignments[view.chosen].anchors:
        anchor[a.token] = 1 + ids[f"{a.kind}:{a.key}"]
    numeric = np.zeros((n, N_NUMERIC), dtype=np.float32)
    prev_line = -1
    for t in tokens:
        numeric[t.index] = (
            float(t.glued),
            float(t.narrative),
            float(t.unit is not None),
            t.confidence,
            math.log1p(len(t.key or t.text)) / 4.0,
            float(t.line != prev_line),
            float(t.bbox is not None),
            cand_score[t.index],
            fuzzy[t.index],
            float(bool(t.key) and t.key[:1].isdigit()),
        )
        prev_line = t.line
    lines = np.array([t.line for t in tokens], dtype=np.int64)
    _, rank = np.unique(lines, return_inverse=True) if n else (None, lines)
    return TokenFeatures(
        chars=vocab.encode([token_text(t) for t in tokens]),
        kind=np.array([KIND_IDS[t.kind] for t in tokens], dtype=np.int64),
        cand=cand,
        anchor=anchor,
        numeric=numeric,
        x=_x_extent(doc, tokens),
        line=np.asarray(rank, dtype=np.int64),
    )


def window_boxes(x: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Boxes on the 0–1000 grid for one window: y from the line rank inside the window."""
    lo = int(line.min()) if len(line) else 0
    span = int(line.max()) - lo + 1 if len(line) else 1
    y0 = (line - lo) * 1000.0 / span
    y1 = y0 + 1000.0 / span
    box = np.stack([x[:, 0] * 1000.0, y0, x[:, 1] * 1000.0, y1], axis=1)
    return np.clip(np.rint(box), 0, 1000).astype(np.int64)


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Overlapping windows covering 0..n (a document shorter than `size` is one window)."""
    if n <= size:
        return [(0, n)]
    out = []
    start = 0
    while True:
        end = min(start + size, n)
        out.append((end - size, end) if end - start < size else (start, end))
        if end == n:
            return out
        start += stride


__all__ = [
    "BaselineView",
    "CharVocab",
    "TokenFeatures",
    "align_candidates",
    "baseline_view",
    "choose",
    "label_names",
    "token_features",
    "window_boxes",
    "windows",
]
