"""Training the layout model: from scratch on synthetic reports, from a pretrained checkpoint
folder, or fine-tuning an existing version on labeled reports.

Deterministic (seeded torch/numpy/python, one CPU thread by default), early stopping on the
validation anchor F1, the best checkpoint kept, resumable (`<out>/ckpt/last.pt`), and a data hash:
when the training data and options are those of the model already in `<out>`, nothing is retrained.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from extraction.layout.features import CharVocab, TokenFeatures, baseline_view, label_index, label_names, token_features
from extraction.layout.model import CARD_FILE, LayoutModel, ModelConfig, build_tagger
from training.data import IGNORE, Example, token_targets


class TrainOptions(BaseModel):
    out: Path = Field(description="Output folder: the model files, card.json and ckpt/")
    epochs: int = Field(default=12, ge=1)
    batch: int = Field(default=8, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = 0.01
    train_len: int = Field(default=256, description="Tokens per training window (random crops keep steps cheap)")
    patience: int = Field(default=3, description="Epochs without a better validation F1 before stopping")
    seed: int = 0
    threads: int = Field(default=1, description="torch CPU threads")
    max_minutes: float = Field(
        default=50.0, description="Wall-clock budget; training stops after the epoch that passes it"
    )
    max_steps: int | None = Field(default=None, description="Stop after this many optimizer steps (CI smoke runs)")
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    intermediate: int = 384
    baseline_dropout: float = Field(
        default=0.15,
        description="Share of tokens whose baseline features are hidden in training (learn to read labels)",
    )
    char_noise: float = Field(
        default=0.03, description="Share of characters replaced at random in training (OCR-like noise)"
    )
    pretrained: Path | None = Field(
        default=None, description="A pretrained LayoutLMv3 checkpoint folder for the encoder"
    )
    base_model: Path | None = Field(default=None, description="A model folder to fine-tune (its vocabulary is kept)")
    force: bool = Field(default=False, description="Retrain even when the data hash is unchanged")
    targets_cache: Path | None = Field(default=None, description="Folder caching each example's token targets")


@dataclass
class Prepared:
    id: str
    flattener: str
    feats: TokenFeatures
    target: np.ndarray  # class id per token, -100 ignored


TARGETS_VERSION = "3"  # bump when token_targets or baseline_view change: invalidates the cache


def _targets(ex: Example, cache: Path | None):
    """(labels, baseline state, baseline view) of an example, or None; cached per example id."""
    path = cache / f"{ex.id}.{TARGETS_VERSION}.pkl" if cache is not None else None
    if path is not None and path.is_file():
        return pickle.loads(path.read_bytes())
    r = token_targets(ex)
    value = None
    if r is not None:
        _toks, labels, base = r
        base.lines = []  # not needed for features: keeps the cache small
        value = (labels, base, baseline_view(base.tokens, base.year))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def prepare(
    examples: list[Example], vocab: CharVocab | None = None, cache: Path | None = None
) -> tuple[list[Prepared], CharVocab, int]:
    """Targets and features of each example (an example that cannot be labeled is skipped); builds the
    vocabulary from the examples' text when none is given. Returns (prepared, vocab, skipped).
    `cache`: a folder keeping each synthetic example's targets (they do not depend on the vocabulary)."""
    labeled = []
    skipped = 0
    for ex in examples:
        r = _targets(ex, cache)
        if r is None:
            skipped += 1
            continue
        labeled.append((ex, *r))
    if vocab is None:
        vocab = CharVocab.build(t.text for _, _, base, _ in labeled for t in base.tokens if t.kind == "text")
    ids = label_index()
    out = []
    for ex, labels, base, view in labeled:
        feats = token_features(base, vocab, view)
        target = np.array([-100 if lab == IGNORE else ids.get(lab, 0) for lab in labels], dtype=np.int64)
        out.append(Prepared(ex.id, ex.flattener, feats, target))
    return out, vocab, skipped


def anchor_f1(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Micro precision/recall/F1 over anchor classes (not other/value) at token level."""
    keep = target >= 0
    pred, target = pred[keep], target[keep]
    is_anchor_t = target >= 2
    is_anchor_p = pred >= 2
    tp = int(np.sum(is_anchor_t & (pred == target)))
    fp = int(np.sum(is_anchor_p & (pred != target)))
    fn = int(np.sum(is_anchor_t & (pred != target)))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def predict(model: LayoutModel, items: list[Prepared]) -> list[np.ndarray]:
    return [model.probabilities(it.feats).argmax(-1) for it in items]


def options_hash(opts: TrainOptions) -> str:
    keep = opts.model_dump(mode="json", exclude={"out", "force", "max_minutes", "threads", "targets_cache"})
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _augment(batch: dict, rng: np.random.Generator, opts: TrainOptions, vocab_size: int) -> None:
    import torch

    if opts.baseline_dropout > 0:
        shape = batch["cand"].shape
        drop = torch.from_numpy(rng.random(shape) < opts.baseline_dropout)
        # whole windows too: the model must also read labels the baseline did not see at all
        drop |= torch.from_numpy(rng.random((shape[0], 1)) < opts.baseline_dropout / 2)
        batch["cand"][drop] = 0
        batch["anchor"][drop] = 0
        batch["numeric"][..., 7][drop] = 0.0
        batch["numeric"][..., 8][drop] = 0.0
    if opts.char_noise > 0:
        chars = batch["chars"]
        noise = torch.from_numpy(rng.random(chars.shape) < opts.char_noise) & (chars > 0)
        chars[noise] = torch.from_numpy(rng.integers(2, vocab_size, size=int(noise.sum())))


def train(
    opts: TrainOptions,
    train_examples: list[Example],
    val_examples: list[Example],
    data_id: str,
    log=print,
) -> dict:
    """Train and write the model folder `opts.out`; returns the card (also written as card.json)."""
    import torch
    from safetensors.torch import load_file, save_file

    from extraction.layout.model import batch_windows

    out = Path(opts.out)
    card_path = out / CARD_FILE
    run_hash = hashlib.sha256(f"{data_id}:{options_hash(opts)}".encode()).hexdigest()
    if card_path.is_file() and not opts.force:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("data_hash") == run_hash:
            log(f"unchanged training data and options ({run_hash[:12]}): no retraining")
            return card
    torch.set_num_threads(opts.threads)
    _seed_all(opts.seed)
    t0 = time.perf_counter()
    base: LayoutModel | None = LayoutModel.load(opts.base_model, device="cpu") if opts.base_model else None
    train_items, vocab, skipped = prepare(train_examples, base.vocab if base else None, opts.targets_cache)
    val_items, _, val_skipped = prepare(val_examples, vocab, opts.targets_cache)
    log(
        f"prepared {len(train_items)} train / {len(val_items)} val reports ({skipped}+{val_skipped} unlabeled) "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    if base is not None:
        cfg = base.config
        tagger = base.tagger
    else:
        cfg = ModelConfig(
            labels=list(label_names()),
            vocab_size=vocab.size,
            hidden=opts.hidden,
            layers=opts.layers,
            heads=opts.heads,
            intermediate=opts.intermediate,
            coordinate_size=opts.hidden * 3 // 16,
            shape_size=opts.hidden // 8,
            pretrained=str(opts.pretrained) if opts.pretrained else None,
        )
        tagger = build_tagger(cfg, opts.pretrained)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tagger.to(device)
    model = LayoutModel(cfg, vocab, tagger, None, version=out.name, device=device)
    optim = torch.optim.AdamW(tagger.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    ckpt = out / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    state = {"epoch": 0, "step": 0, "best_f1": -1.0, "best_epoch": -1, "bad_epochs": 0, "history": []}
    last = ckpt / "last.pt"
    if last.is_file():
        saved = torch.load(last, weights_only=False)
        if saved.get("run_hash") == run_hash:
            tagger.load_state_dict(saved["model"])
            optim.load_state_dict(saved["optim"])
            state = saved["state"]
            log(f"resumed at epoch {state['epoch']} (best F1 {state['best_f1']:.4f})")
    # training windows: crops of train_len tokens, half overlapping
    from extraction.layout.features import windows

    spans = [
        (i, s, e)
        for i, it in enumerate(train_items)
        for s, e in windows(len(it.feats), opts.train_len, opts.train_len // 2)
    ]
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    stop = False
    while state["epoch"] < opts.epochs and not stop:
        epoch = state["epoch"]
        rng = np.random.default_rng(opts.seed * 1000 + epoch)
        order = rng.permutation(len(spans))
        tagger.train()
        total, n_batches = 0.0, 0
        for k in range(0, len(order), opts.batch):
            chunk = [spans[j] for j in order[k : k + opts.batch]]
            batch = batch_windows([(train_items[i].feats, s, e) for i, s, e in chunk])
            _augment(batch, rng, opts, vocab.size)
            size = batch["mask"].shape[1]
            target = torch.full((len(chunk), size), -100, dtype=torch.long)
            for b, (i, s, e) in enumerate(chunk):
                target[b, : e - s] = torch.from_numpy(train_items[i].target[s:e])
            batch = {key: v.to(device) for key, v in batch.items()}
            logits = tagger(**batch)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), target.to(device).reshape(-1))
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), 1.0)
            optim.step()
            total += loss.item()
            n_batches += 1
            state["step"] += 1
            if opts.max_steps is not None and state["step"] >= opts.max_steps:
                stop = True
                break
        preds = predict(model, val_items)
        f1 = (
            anchor_f1(np.concatenate(preds), np.concatenate([it.target for it in val_items]))
            if val_items
            else {"f1": 0.0}
        )
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss": total / max(n_batches, 1), **f1})
        log(
            f"epoch {epoch + 1}: loss {total / max(n_batches, 1):.4f}  val anchor F1 {f1['f1']:.4f}  "
            f"({time.perf_counter() - t0:.0f}s)"
        )
        if f1["f1"] > state["best_f1"]:
            state.update(best_f1=f1["f1"], best_epoch=epoch + 1, bad_epochs=0)
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in tagger.state_dict().items()},
                str(ckpt / "best.safetensors"),
            )
        else:
            state["bad_epochs"] += 1
            if state["bad_epochs"] >= opts.patience:
                log(f"early stop: no better F1 for {opts.patience} epochs")
                stop = True
        torch.save(
            {"run_hash": run_hash, "model": tagger.state_dict(), "optim": optim.state_dict(), "state": state}, last
        )
        if (time.perf_counter() - t0) / 60 > opts.max_minutes:
            log("time budget reached")
            stop = True
    tagger.load_state_dict(load_file(str(ckpt / "best.safetensors")))
    tagger.to("cpu")
    model.device = "cpu"
    model.save(out)
    card = {
        "version": out.name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "data_hash": run_hash,
        "data": {
            "id": data_id,
            "train_reports": len(train_items),
            "val_reports": len(val_items),
            "unlabeled_skipped": skipped + val_skipped,
            "train_by_input": _count(train_items),
        },
        "options": opts.model_dump(mode="json", exclude={"out", "force"}),
        "parameters": int(sum(p.numel() for p in tagger.parameters())),
        "best_epoch": state["best_epoch"],
        "val_anchor_f1": state["best_f1"],
        "history": state["history"],
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return card


def _count(items: list[Prepared]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it.flattener] = out.get(it.flattener, 0) + 1
    return dict(sorted(out.items()))
