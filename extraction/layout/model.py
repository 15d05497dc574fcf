"""The trained layout labeler: a small LayoutLMv3 token classifier over one position per token,
combined with the baseline's candidates, plus calibrated cell confidence.

Model: each token (OCR box / field) becomes one input vector — the mean of its characters'
embeddings (plus a within-token position embedding), its kind, flags, and the baseline's view of it
(see `features.py`) — fed as `inputs_embeds` with its 0–1000 box to a `LayoutLMv3ForTokenClassification`
of a small config, trained from scratch (`training/`), or built on a pretrained checkpoint folder.
Classes: every anchor of the schema (`row:<id>`, `section:…`, `column:…`, `heading:…`, `end:…`),
`value`, `other`.

Labeler (`ModelLabeler`): the baseline's candidates are rescored with the model's probabilities
(`base_weight * baseline score + model_weight * spec weight * p`), tokens the model reads as a row
or section label the baseline did not propose are added, and the baseline's order-keeping
alignment picks the chain. So the model fixes the baseline's misses (garbled OCR labels) and wrong
picks, but cannot break the statutory order.

Confidence (`ModelLabeler.calibrate`, after reconstruction): a logistic model over the cell's
reconstruction confidence, flags, OCR confidence and the model's probability of the row label,
mapped through an isotonic fit on held-out data (scikit-learn at training time; stored as plain
numbers in calibration.json, applied with numpy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from extraction.document import DocumentState
from extraction.layout.baseline import Candidate
from extraction.layout.features import MAX_CHARS as MAX_CHARS
from extraction.layout.features import (
    N_NUMERIC,
    BaselineView,
    CharVocab,
    TokenFeatures,
    align_candidates,
    baseline_view,
    choose,
    label_index,
    label_names,
    token_features,
    window_boxes,
    windows,
)
from extraction.schema.anchors import anchor_sequence

BIGRAM_BUCKETS = 8192
TIE_BREAK = 1e-3
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "tokenizer.json"
CALIBRATION_FILE = "calibration.json"
CARD_FILE = "card.json"


class ModelConfig(BaseModel):
    """The architecture and inference options of a layout model (config.json)."""

    labels: list[str] = Field(description="Class names, in output order")
    vocab_size: int
    hidden: int = Field(default=128, description="Encoder width (LayoutLMv3 needs 4*coordinate+2*shape == hidden)")
    layers: int = 3
    heads: int = 4
    intermediate: int = 384
    coordinate_size: int = 24
    shape_size: int = 16
    dropout: float = 0.1
    max_len: int = Field(default=512, description="Tokens per window at inference")
    stride: int = Field(default=384, description="Window step at inference (overlaps are averaged)")
    pretrained: str | None = Field(default=None, description="Folder of the pretrained encoder it started from")
    base_weight: float = Field(default=0.5, description="Weight of the baseline's candidate score when combining")
    model_weight: float = Field(default=1.0, description="Weight of the model's probability when combining")
    add_threshold: float = Field(
        default=0.4, description="A token the model labels a row/section with at least this probability is a candidate"
    )


def _torch():
    import torch

    return torch


def build_tagger(cfg: ModelConfig, pretrained: Path | None = None):
    """The torch module: token embedder + LayoutLMv3 token classifier (random init, or the encoder of
    a pretrained LayoutLMv3 checkpoint folder)."""
    torch = _torch()
    from torch import nn
    from transformers import LayoutLMv3Config, LayoutLMv3ForTokenClassification

    class LayoutTagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if pretrained is not None:
                encoder = LayoutLMv3ForTokenClassification.from_pretrained(
                    str(pretrained),
                    num_labels=len(cfg.labels),
                    ignore_mismatched_sizes=True,
                    local_files_only=True,
                    visual_embed=False,
                )
                hidden = encoder.config.hidden_size
            else:
                hidden = cfg.hidden
                encoder = LayoutLMv3ForTokenClassification(
                    LayoutLMv3Config(  # type: ignore[call-arg]  # its keyword arguments go through **kwargs
                        vocab_size=4,  # unused: the encoder gets inputs_embeds
                        hidden_size=hidden,
                        num_hidden_layers=cfg.layers,
                        num_attention_heads=cfg.heads,
                        intermediate_size=cfg.intermediate,
                        max_position_embeddings=max(cfg.max_len, 512) + 2,
                        max_2d_position_embeddings=1024,
                        coordinate_size=cfg.coordinate_size,
                        shape_size=cfg.shape_size,
                        has_relative_attention_bias=False,
                        has_spatial_attention_bias=False,
                        visual_embed=False,
                        hidden_dropout_prob=cfg.dropout,
                        attention_probs_dropout_prob=0.0,  # dropout on L×L attention costs a fifth of a CPU step
                        num_labels=len(cfg.labels),
                    )
                )
            n_labels = len(cfg.labels)
            # bags (means) of characters and of hashed character bigrams (the bigrams keep the order)
            self.char_emb = nn.EmbeddingBag(cfg.vocab_size, hidden, mode="mean", padding_idx=0)
            self.bigram_emb = nn.EmbeddingBag(BIGRAM_BUCKETS, hidden, mode="mean", padding_idx=0)
            self.first_emb = nn.Embedding(cfg.vocab_size, hidden, padding_idx=0)
            self.kind_emb = nn.Embedding(3, hidden)
            self.cand_emb = nn.Embedding(n_labels + 1, hidden)
            self.anchor_emb = nn.Embedding(n_labels + 1, hidden)
            self.numeric = nn.Linear(N_NUMERIC, hidden)
            self.norm = nn.LayerNorm(hidden)
            self.encoder = encoder

        def forward(self, chars, kind, cand, anchor, numeric, bbox, mask):
            b, n, c = chars.shape
            flat = chars.reshape(b * n, c)
            big = (flat[:, :-1] * 7919 + flat[:, 1:]) % (BIGRAM_BUCKETS - 1) + 1
            big = big * ((flat[:, :-1] > 0) & (flat[:, 1:] > 0))
            x = (self.char_emb(flat) + self.bigram_emb(big)).reshape(b, n, -1) + self.first_emb(chars[..., 0])
            x = x + self.kind_emb(kind) + self.cand_emb(cand) + self.anchor_emb(anchor) + self.numeric(numeric)
            out = self.encoder(inputs_embeds=self.norm(x), bbox=bbox, attention_mask=mask)
            return out.logits

    torch.manual_seed(0)
    return LayoutTagger()


def batch_windows(items: list[tuple[TokenFeatures, int, int]], device: str = "cpu") -> dict[str, Any]:
    """Pad windows (features, start, end) into one batch of tensors."""
    torch = _torch()
    size = max(end - start for _, start, end in items)
    b = len(items)
    chars = np.zeros((b, size, MAX_CHARS), dtype=np.int64)
    kind = np.zeros((b, size), dtype=np.int64)
    cand = np.zeros((b, size), dtype=np.int64)
    anchor = np.zeros((b, size), dtype=np.int64)
    numeric = np.zeros((b, size, N_NUMERIC), dtype=np.float32)
    bbox = np.zeros((b, size, 4), dtype=np.int64)
    mask = np.zeros((b, size), dtype=np.int64)
    for i, (f, s, e) in enumerate(items):
        n = e - s
        chars[i, :n] = f.chars[s:e]
        kind[i, :n] = f.kind[s:e]
        cand[i, :n] = f.cand[s:e]
        anchor[i, :n] = f.anchor[s:e]
        numeric[i, :n] = f.numeric[s:e]
        bbox[i, :n] = window_boxes(f.x[s:e], f.line[s:e])
        mask[i, :n] = 1
    arrays = {
        "chars": chars,
        "kind": kind,
        "cand": cand,
        "anchor": anchor,
        "numeric": numeric,
        "bbox": bbox,
        "mask": mask,
    }
    return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}


@dataclass
class Calibrator:
    """Cell confidence: logistic score over cell features, then an isotonic map (both fitted on
    held-out data by `training.calibrate`)."""

    features: list[str]
    coef: list[float]
    intercept: float
    iso_x: list[float]
    iso_y: list[float]
    # A calibrated probability below this sends the cell to review (flag "uncertain"), whatever the
    # pipeline's threshold: that threshold is on the reconstruction's own confidence scale, where
    # 0.8 is doubtful; a calibrated 0.95 is a cell wrong one time in twenty. None: no such level
    # (calibrators fitted before it existed).
    review_below: float | None = None

    @classmethod
    def load(cls, path: Path) -> Calibrator:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1) + "\n", encoding="utf-8")

    def score(self, x: np.ndarray) -> np.ndarray:
        z = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # The isotonic map is a step function: many cells tie. A thousandth of the logistic score
        # breaks the ties in its order (review picks the least likely first) and moves the
        # calibrated probability by at most 0.001.
        score = self.score(x)
        return (1.0 - TIE_BREAK) * np.interp(score, self.iso_x, self.iso_y) + TIE_BREAK * score


# The calibrated probability below which a model version sends a cell to review (`gongkai calibrate
# --review-below`): a cell at least 1 % likely to be wrong is worth a look (`docs/model.md` has the
# share of cells it sends and of wrong cells it catches).
REVIEW_BELOW = 0.99

# reconstruction flags that say a cell's placement is a guess (see `CELL_FEATURES`)
PLACEMENT_FLAGS = ("extra_values", "inferred_blank", "ambiguous", "split_digits", "label_inferred", "incomplete")

CELL_FEATURES = [
    "confidence",
    "value_none",
    "ambiguous",
    "label_inferred",
    "missing",
    "corrected_by_rule",
    "digits_split",
    "inferred_blank",
    "extra_values",
    "incomplete",
    "ocr_read",
    "token_confidence",
    "token_alternatives",
    "row_prob",
    "row_margin",
    "model_moved",
    "log_confidence_gap",
    "failed_rule",
    # The sums as evidence. A wrong figure usually breaks both its row's and its column's sum, while
    # the other cells of those rules break one. On text, a failing rule is most often the report's
    # own error (the figures are right); on OCR'd pages it is most often a misread. A cell no hard
    # rule covers (the proactive table) has no cross-check at all.
    "failed_rules",
    "failed_rule_ocr",
    "failed_rules_ocr",
    "unchecked",
    "unchecked_ocr",
    "report_failures_ocr",
    # Whether one figure's misreading explains the failing sums. A cell every failing rule of which is
    # an equality asking the same change of it, where the changed figure is one digit away from the
    # one read (a 6 read as 8, a dropped digit), is most likely that misread; the same change asked
    # by two or more rules (its row's and its column's) all but proves it.
    "repair_one_edit",
    "sole_repair",
    "sole_repair_one_edit",
    # The cell alone fails its table's value check (a negative or fractional count).
    "failed_format",
    # A doubtful placement (a figure dropped from the row, a blank guessed, readings that tie, digits
    # cut, a row found only by its place, a row short of figures) inside a failing sum on an OCR'd
    # page: about one in three of these is wrong, far more than either sign alone says.
    *(f"{flag}_failed_ocr" for flag in PLACEMENT_FLAGS),
]


def _digits(value: float | int | None) -> str | None:
    if value is None:
        return ""
    if not float(value).is_integer():
        return None
    return str(int(value))


def _one_edit(a: str | None, b: str | None) -> bool:
    """`a` and `b` differ by one digit: one replaced, dropped or added."""
    if a is None or b is None or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _repairs(values: dict[str, float | int | None], failing: Any) -> tuple[dict[str, bool], dict[str, int]]:
    """Per cell of the `failing` hard constraints: does one change of that cell alone repair every one
    it is in, by one digit's edit (first map), and how many of them ask it (second map)."""
    asks: dict[str, list[float | None]] = {}
    for con in failing:
        gap = sum(values.get(c) or 0 for c in con.left) - sum(values.get(c) or 0 for c in con.right)
        for cid in con.cells:
            # (an inequality does not say by how much: no single change is asked)
            asks.setdefault(cid, []).append((-gap if cid in con.left else gap) if con.kind == "eq" else None)
    one_edit: dict[str, bool] = {}
    consistent: dict[str, int] = {}
    for cid, changes in asks.items():
        if any(c is None for c in changes) or max(changes) - min(changes) > 1e-6:  # type: ignore[type-var,operator]
            continue
        consistent[cid] = len(changes)
        value = values.get(cid)
        target = (value or 0) + changes[0]  # type: ignore[operator]
        one_edit[cid] = target >= 0 and float(target).is_integer() and _one_edit(_digits(value), str(int(target)))
    return one_edit, consistent


def cell_features(doc: DocumentState) -> tuple[list[str], np.ndarray]:
    """One feature row per cell of `doc.cells` (after reconstruction), in CELL_FEATURES order."""
    probs: np.ndarray | None = getattr(doc, "layout_probs", None)
    moved: set[str] = getattr(doc, "layout_moved", None) or set()
    ids = label_index()
    row_token: dict[str, int] = {}
    for a in doc.anchors:
        row_token.setdefault(f"{a.kind}:{a.key}", a.token)
    ocr_read = float(doc.ocr_read)
    from extraction.schema import hard_constraints, layout
    from extraction.schema.check import evaluate as check_rules

    lay = layout(doc.format or "2021", tuple(doc.variants))
    values = {cid: c.value for cid, c in doc.cells.items()}
    checks = check_rules(values, lay)
    failed = [c for c in checks if not c["passed"] and c["severity"] == "error"]
    bad_format = {cid for c in failed if c["rule"].endswith(".values") for cid in c["cells"]}
    hard = hard_constraints(lay)
    failed_rules = {c["rule"] for c in failed}  # (the checks already evaluated every constraint)
    one_edit, consistent = _repairs(values, [con for con in hard if con.rule in failed_rules])
    failures: dict[str, int] = {}  # failed hard checks per cell
    for c in failed:
        for cid in c["cells"]:
            failures[cid] = failures.get(cid, 0) + 1
    failing = set(failures)
    summed = {cid for c in hard for cid in c.cells}  # (every cell has a format check)
    report_failures = float(np.log1p(len(failed)))
    cids = list(doc.cells)
    x = np.zeros((len(cids), len(CELL_FEATURES)), dtype=np.float64)
    for i, cid in enumerate(cids):
        cv = doc.cells[cid]
        table, rest = cid.split(".", 1)
        row = rest.rsplit(".", 1)[0]
        key = f"row:{table}.{row}"
        if key not in row_token and table == "applications" and row.startswith("other"):
            key = "section:group.other"
        row_p, margin = 1.0, 1.0
        if probs is not None and key in row_token and key in ids:
            p = probs[row_token[key]]
            row_p = float(p[ids[key]])
            margin = row_p - float(np.max(np.delete(p, ids[key])))
        elif probs is not None:
            row_p, margin = 0.0, -1.0
        tok = doc.tokens[cv.tokens[0]] if cv.tokens else None
        flags = set(cv.flags)
        x[i] = (
            cv.confidence,
            float(cv.value is None),
            float("ambiguous" in flags),
            float("label_inferred" in flags),
            float("missing" in flags),
            float("corrected_by_rule" in flags),
            float("split_digits" in flags),
            float("inferred_blank" in flags),
            float("extra_values" in flags),
            float("incomplete" in flags),
            ocr_read,
            tok.confidence if tok is not None else 1.0,
            float(len(tok.alternatives)) if tok is not None else 0.0,
            row_p,
            margin,
            float(key in moved),
            float(np.log(max(1e-4, 1.0 - cv.confidence))),
            float(cid in failing),
            float(min(2, failures.get(cid, 0))),
            float(cid in failing) * ocr_read,
            float(min(2, failures.get(cid, 0))) * ocr_read,
            float(cid not in summed),
            float(cid not in summed) * ocr_read,
            report_failures * ocr_read,
            float(one_edit.get(cid, False)),
            float(consistent.get(cid, 0) >= 2),
            float(one_edit.get(cid, False) and consistent.get(cid, 0) >= 2),
            float(cid in bad_format),
            *(float(flag in flags and cid in failing) * ocr_read for flag in PLACEMENT_FLAGS),
        )
    return cids, x


class LayoutModel:
    """A loaded model version: config, vocabulary, torch module and calibrator."""

    def __init__(
        self,
        config: ModelConfig,
        vocab: CharVocab,
        tagger: Any,
        calibrator: Calibrator | None = None,
        version: str = "dev",
        device: str = "cpu",
    ) -> None:
        self.config = config
        self.vocab = vocab
        self.tagger = tagger
        self.calibrator = calibrator
        self.version = version
        self.device = device
        if list(config.labels) != list(label_names()):
            raise ValueError("the model's classes do not match this schema's anchors: retrain the model")

    @classmethod
    def load(cls, folder: Path, version: str | None = None, device: str | None = None) -> LayoutModel:
        """Load a model folder (verify it with `extraction.registry` first)."""
        from safetensors.torch import load_file

        torch = _torch()
        folder = Path(folder)
        config = ModelConfig.model_validate_json((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        vocab = CharVocab.load(folder / VOCAB_FILE)
        tagger = build_tagger(config.model_copy(update={"pretrained": None}))
        tagger.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        tagger.to(device).eval()
        cal = folder / CALIBRATION_FILE
        calibrator = Calibrator.load(cal) if cal.is_file() else None
        return cls(config, vocab, tagger, calibrator, version or folder.name, device)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        saved = self.config.model_copy(update={"pretrained": None})  # the weights now hold everything
        (folder / CONFIG_FILE).write_text(saved.model_dump_json(indent=1) + "\n", encoding="utf-8")
        self.vocab.save(folder / VOCAB_FILE)
        state = {k: v.detach().cpu().contiguous() for k, v in self.tagger.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        if self.calibrator is not None:
            self.calibrator.save(folder / CALIBRATION_FILE)

    def probabilities(self, feats: TokenFeatures) -> np.ndarray:
        """Class probabilities per token [n, classes]; overlapping windows averaged."""
        torch = _torch()
        n = len(feats)
        out = np.zeros((n, len(self.config.labels)), dtype=np.float32)
        if n == 0:
            return out
        count = np.zeros(n, dtype=np.float32)
        spans = windows(n, self.config.max_len, self.config.stride)
        self.tagger.eval()
        with torch.inference_mode():
            for k in range(0, len(spans), 8):
                chunk = spans[k : k + 8]
                batch = batch_windows([(feats, s, e) for s, e in chunk], self.device)
                probs = torch.softmax(self.tagger(**batch).float(), -1).cpu().numpy()
                for i, (s, e) in enumerate(chunk):
                    out[s:e] += probs[i, : e - s]
                    count[s:e] += 1
        return out / count[:, None]


_LOADED: dict[str, LayoutModel] = {}


def load_active(version: str | None = None) -> LayoutModel:
    """The verified model of `version` (default: the registry's active one), loaded once per process."""
    from extraction.registry import resolve

    folder, manifest = resolve(version)
    key = f"{folder.resolve()}:{manifest.sha256}"
    if key not in _LOADED:
        _LOADED[key] = LayoutModel.load(folder, manifest.version)
    return _LOADED[key]


def combine(doc: DocumentState, view: BaselineView, probs: np.ndarray, cfg: ModelConfig) -> tuple[str, list]:
    """Rescore the baseline's candidates with the model, add the model's own row/section
    candidates, align per format; returns (format, anchors)."""
    ids = label_index()
    tokens = doc.tokens
    alignments = {}
    for fmt, cands in view.candidates.items():
        new: list[Candidate] = []
        seen: set[tuple[int, int]] = set()
        for c in cands:
            if c.spec.kind in ("row", "section"):
                p = float(probs[c.token, ids[f"{c.spec.kind}:{c.spec.key}"]])
                score = cfg.base_weight * c.score + cfg.model_weight * c.spec.weight * p
            else:
                score = (cfg.base_weight + cfg.model_weight) * c.score
            new.append(Candidate(c.token, c.offset, c.spec, score))
            seen.add((c.token, c.spec.index))
        specs = [s for s in anchor_sequence(fmt) if s.kind in ("row", "section")]
        cols = np.array([ids[f"{s.kind}:{s.key}"] for s in specs])
        sub = probs[:, cols]
        for t, j in zip(*np.nonzero(sub >= cfg.add_threshold), strict=True):
            spec = specs[j]
            tok = tokens[t]
            if tok.kind == "text" and (int(t), spec.index) not in seen:
                new.append(Candidate(int(t), len(tok.key), spec, cfg.model_weight * spec.weight * float(sub[t, j])))
        alignments[fmt] = align_candidates(tokens, fmt, new)
    fmt = choose(alignments, doc.year)
    return fmt, alignments[fmt].anchors


class ModelLabeler:
    """Layout stage: the baseline's candidates rescored and completed by the trained model.

    `version`: a registry version or a model folder (default: the active version). Also records
    the per-token probabilities on the document (`doc.layout_probs`) for `calibrate`.
    """

    name = "model"

    def __init__(self, version: str | None = None, model: LayoutModel | None = None) -> None:
        self.model = model or load_active(version)
        self.version = self.model.version

    def __call__(self, doc: DocumentState) -> None:
        view = baseline_view(doc.tokens, doc.year)
        feats = token_features(doc, self.model.vocab, view)
        probs = self.model.probabilities(feats)
        fmt, anchors = combine(doc, view, probs, self.model.config)
        base = {(a.kind, a.key): a.token for a in view.alignments[view.chosen].anchors}
        doc.format = fmt
        doc.anchors = anchors
        doc.labeler = f"{self.name}@{self.version}"
        labels = ["other"] * len(doc.tokens)
        for a in anchors:
            labels[a.token] = f"{a.kind}:{a.key}"
        doc.token_labels = labels
        # working data for calibrate(): not part of the persisted state
        doc.layout_probs = probs
        doc.layout_moved = {f"{a.kind}:{a.key}" for a in anchors if base.get((a.kind, a.key)) != a.token}

    def calibrate(self, doc: DocumentState) -> None:
        """After reconstruction: replace each cell's confidence by the calibrated probability that
        it is right (no-op for a model without calibration)."""
        if self.model.calibrator is None or not doc.cells:
            return
        cids, x = cell_features(doc)
        # a calibrator fitted before features were added reads only the ones it knows
        conf = self.model.calibrator(x[:, [CELL_FEATURES.index(f) for f in self.model.calibrator.features]])
        below = self.model.calibrator.review_below
        for cid, c in zip(cids, conf, strict=True):
            cell = doc.cells[cid]
            cell.read_confidence = cell.confidence
            cell.confidence = round(float(c), 6)
            if below is not None and cell.confidence < below and "uncertain" not in cell.flags:
                cell.flags.append("uncertain")  # 6 places keep the tie-breaking order
        doc.calibration = f"{self.name}@{self.version}"


__all__ = [
    "CELL_FEATURES",
    "Calibrator",
    "LayoutModel",
    "ModelConfig",
    "ModelLabeler",
    "build_tagger",
    "cell_features",
    "combine",
    "load_active",
]
