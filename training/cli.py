"""`gongkai train`, `gongkai evaluate`, `gongkai latency`: registered on the main CLI from `COMMANDS`."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click

DEFAULT_CACHE = "/tmp/gk_model_data"


# Options that `train` and `calibrate` share.
_no_build_option = click.option(
    "--no-build", is_flag=True, help="Use only what the cache holds (no generation, no OCR)"
)
_models_dir_option = click.option(
    "--models-dir", type=click.Path(path_type=Path), default=None, help="Registry folder (default: models/)"
)
_evaluate_option = click.option(
    "--evaluate/--no-evaluate",
    "run_eval",
    default=True,
    help="Measure baseline vs model on the test split into the card",
)
_activate_option = click.option("--activate", is_flag=True, help="Make the new version the active one")
_review_below_option = click.option(
    "--review-below",
    type=click.FloatRange(0.0, 1.0),
    default=0.99,
    show_default=True,
    help="Calibrated confidence below which the version sends a cell to review (flag 'uncertain')",
)


def _examples(split: str, cache: Path, tiny: bool):
    from training.data import SPLITS, SPLITS_TINY, load, split_paths

    paths = split_paths(split, cache, SPLITS_TINY if tiny else SPLITS)
    return paths, [load(p) for p in paths]


@click.command("train")
@click.option("--version", "version", required=True, help="Registry version to create, e.g. layout-v2")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Folder of cached ingested synthetic reports (built on first use)",
)
@_models_dir_option
@click.option("--tiny", is_flag=True, help="A few text reports and steps: the CI smoke run")
@_no_build_option
@click.option(
    "--fine-tune", "fine_tune", default=None, help="Fine-tune this registry version instead of training from scratch"
)
@click.option(
    "--labeled",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Folder of labeled reports (report files + truth/<stem>.json) to fine-tune on",
)
@click.option(
    "--labeled-val",
    "labeled_val",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Labeled reports held out for validation (other documents than --labeled); without it the best "
    "epoch is chosen on the training reports themselves",
)
@click.option(
    "--card-extra",
    "card_extra",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A JSON object merged into the model card (e.g. the service's document split)",
)
@click.option(
    "--pretrained",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="A pretrained LayoutLMv3 checkpoint folder for the encoder",
)
@click.option("--epochs", type=int, default=12, show_default=True)
@click.option("--max-minutes", type=float, default=50.0, show_default=True)
@click.option(
    "--patience", type=int, default=3, show_default=True, help="Epochs without a better validation F1 before stopping"
)
@click.option("--max-steps", type=int, default=None)
@click.option("--lr", type=float, default=None, help="Learning rate (default 2e-3; 5e-4 when fine-tuning)")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
@_review_below_option
@_evaluate_option
@_activate_option
@click.option("--force", is_flag=True, help="Retrain even when the data hash is unchanged")
def train_cmd(
    version,
    cache,
    models_dir,
    tiny,
    no_build,
    fine_tune,
    labeled,
    labeled_val,
    card_extra,
    pretrained,
    epochs,
    max_minutes,
    max_steps,
    patience,
    lr,
    threads,
    review_below,
    run_eval,
    activate,
    force,
) -> None:
    """Train a layout model (synthetic data, or fine-tune on labeled reports), calibrate, register."""
    import torch

    from extraction import registry
    from training.data import SPLITS, SPLITS_TINY, build, data_hash
    from training.labeled import load_labeled_dir
    from training.train import TrainOptions, train

    torch.set_num_threads(threads)
    models = models_dir or registry.MODELS_DIR
    work = cache / "runs" / version
    base_dir = None
    if fine_tune:
        base_dir, _ = registry.resolve(fine_tune, models)
    if labeled is not None:
        if base_dir is None:
            raise click.UsageError("--labeled needs --fine-tune VERSION")
        train_ex = load_labeled_dir(labeled)
        # held-out documents when given; else too few to hold some out: the best epoch on the same ones
        val_ex = load_labeled_dir(labeled_val) if labeled_val is not None else train_ex
        dhash = data_hash(
            [*labeled.glob("*.*"), *labeled.glob("truth/*.json")]
            + ([*labeled_val.glob("*.*"), *labeled_val.glob("truth/*.json")] if labeled_val is not None else [])
        )
    else:
        if not no_build:
            build(SPLITS_TINY if tiny else SPLITS, cache, only=("train", "val"))
        train_paths, train_ex = _examples("train", cache, tiny)
        val_paths, val_ex = _examples("val", cache, tiny)
        dhash = data_hash(train_paths + val_paths)
    opts = TrainOptions(
        out=work,
        epochs=epochs,
        max_minutes=max_minutes,
        max_steps=max_steps,
        patience=patience,
        threads=threads,
        force=force,
        base_model=base_dir,
        pretrained=pretrained,
        lr=lr or (5e-4 if base_dir else 2e-3),
        targets_cache=None if labeled is not None else cache / "targets",
        **({"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64, "train_len": 128} if tiny else {}),
    )
    dest = models / version
    if dest.is_dir() and not force:
        card = json.loads((dest / "card.json").read_text(encoding="utf-8"))
        import hashlib

        from training.train import options_hash

        if card.get("data_hash") == hashlib.sha256(f"{dhash}:{options_hash(opts)}".encode()).hexdigest():
            click.echo(f"{version}: unchanged training data and options: no retraining")
            return
        raise click.UsageError(f"{dest} exists already (another data hash): choose another --version or --force")
    card = train(opts, train_ex, val_ex, dhash, log=click.echo)
    if labeled is not None and base_dir is not None and (base_dir / "calibration.json").is_file():
        # a handful of labeled reports the model has just seen cannot calibrate it: keep the base's
        shutil.copy2(base_dir / "calibration.json", work / "calibration.json")
        card["calibration"] = {"from": str(base_dir.name)}
        (work / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    else:
        _calibrate_and_card(work, version, val_ex, card, tiny, cache, run_eval, review_below=review_below)
    if card_extra is not None:
        card.update(json.loads(card_extra.read_text(encoding="utf-8")))
        (work / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if dest.is_dir() and force:
        shutil.rmtree(dest)
    registry.register(work, version, models, activate_it=activate)
    click.echo(f"registered {version} in {models}" + (" (active)" if activate else ""))


def _calibrate_and_card(
    work: Path,
    version: str,
    val_ex,
    card: dict,
    tiny: bool,
    cache: Path,
    run_eval: bool,
    fitted_on_splits: list[str] | None = None,
    review_below: float | None = None,
) -> None:
    from extraction.layout.baseline import BaselineLabeler
    from extraction.layout.model import LayoutModel, ModelLabeler
    from training.evaluate import calibration_report, compare, fit_calibrator

    model = LayoutModel.load(work, version)
    labeler = ModelLabeler(model=model)
    cal, info = fit_calibrator(val_ex, labeler, log=click.echo, review_below=review_below)
    model.calibrator = cal
    model.save(work)
    card["calibration"] = {
        "fitted_on": {**info, "splits": fitted_on_splits or ["val"]},
        "features": list(cal.features),
        "method": "logistic regression + isotonic (scikit-learn)",
        "review_below": review_below,
    }
    if run_eval and not tiny:
        _, test_ex = _examples("test", cache, tiny)
        if test_ex:
            res = compare(test_ex, {"baseline": BaselineLabeler(), "model": labeler}, log=click.echo)
            card["test"] = {
                "reports": len(test_ex),
                "baseline": res["baseline"]["summary"],
                "model": res["model"]["summary"],
                "calibration": calibration_report(res["model"]["outcomes"], review_below=review_below),
                "baseline_review": calibration_report(res["baseline"]["outcomes"]),
            }
    (work / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


@click.command("calibrate")
@click.option("--version", "version", default=None, help="Registry version whose weights to keep (default: active)")
@click.option("--new-version", "new_version", required=True, help="Registry version to create, e.g. layout-v2")
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True)
@click.option(
    "--splits",
    default="val,calibration",
    show_default=True,
    help="Held-out cached splits to fit on (never the test split; built first unless --no-build)",
)
@_no_build_option
@click.option("--tiny", is_flag=True, help="The tiny splits of `train --tiny` (the CI smoke run; no test figures)")
@_review_below_option
@_models_dir_option
@_evaluate_option
@_activate_option
def calibrate_cmd(
    version, new_version, cache, splits, no_build, tiny, review_below, models_dir, run_eval, activate
) -> None:
    """Refit a version's cell-confidence calibrator (same weights) on held-out splits; register it anew.

    The weights are unchanged, so the new version's card keeps the training record and adds the
    lineage; its calibration and test figures are measured again."""
    import datetime

    import torch

    from extraction import registry
    from training.data import SPLITS, SPLITS_TINY, build

    torch.set_num_threads(1)
    chosen = SPLITS_TINY if tiny else SPLITS
    names = [n.strip() for n in splits.split(",") if n.strip()]
    if tiny:
        names = [n for n in names if n in SPLITS_TINY] or ["val"]
    held_out = [n for n in chosen if n not in ("train", "test")]
    if not names or any(n not in held_out for n in names):
        raise click.UsageError(f"--splits: held-out splits among {', '.join(held_out)} (never train or test)")
    models = models_dir or registry.MODELS_DIR
    source, manifest = registry.resolve(version, models)
    if (models / new_version).exists():
        raise click.UsageError(f"{models / new_version} exists already: choose another --new-version")
    if not no_build:
        build(chosen, cache, only=names)
    examples = [ex for name in names for ex in _examples(name, cache, tiny)[1]]
    if not examples:
        raise click.UsageError("no cached examples in those splits (drop --no-build to build them)")
    work = cache / "runs" / new_version
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for f in source.iterdir():
        if f.is_file() and f.name != "manifest.json":
            shutil.copy2(f, work / f.name)
    card = json.loads((work / "card.json").read_text(encoding="utf-8"))
    card.pop("test", None)
    card["lineage"] = (
        f"{card.get('lineage', '')} {new_version}: {manifest.version}'s weights (model.safetensors sha256 "
        f"{manifest.files['model.safetensors'][:16]}…), calibrator refitted on {', '.join(names)}."
    ).strip()
    card["version"] = new_version
    card["date"] = datetime.date.today().isoformat()
    _calibrate_and_card(
        work, new_version, examples, card, tiny, cache, run_eval, fitted_on_splits=names, review_below=review_below
    )
    registry.register(work, new_version, models, activate_it=activate)
    click.echo(f"registered {new_version} in {models}" + (" (active)" if activate else ""))


def _print_summary(name: str, s: dict) -> None:
    click.echo(
        f"{name:10s} cell accuracy {s['cell_accuracy']:.5f}  ({s['wrong']} wrong of {s['cells']}, "
        f"{s['errors']} reports failed)"
    )
    for key in ("by_input", "by_flattener"):
        click.echo("  " + key + ": " + "  ".join(f"{k} {v['accuracy']:.5f}" for k, v in s[key].items()))


@click.command("evaluate")
@click.option("--version", "version", default=None, help="Registry version or model folder (default: active)")
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True)
@click.option("--split", default="test", show_default=True, help="Cached split to evaluate")
@click.option(
    "--labeled",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Evaluate on a folder of labeled reports instead of a cached split",
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write the full numbers here")
def evaluate_cmd(version, cache, split, labeled, json_out) -> None:
    """Cell accuracy (baseline vs model, per input kind and flattening), label F1, calibration."""
    import numpy as np
    import torch

    from extraction.layout.baseline import BaselineLabeler
    from extraction.layout.model import ModelLabeler
    from training.data import SPLITS, load, split_paths
    from training.evaluate import calibration_report, compare
    from training.labeled import load_labeled_dir
    from training.train import anchor_f1, predict, prepare

    torch.set_num_threads(1)
    examples = load_labeled_dir(labeled) if labeled else [load(p) for p in split_paths(split, cache, SPLITS)]
    if not examples:
        raise click.UsageError("no examples to evaluate (build the cache with `gongkai train` first)")
    labeler = ModelLabeler(version)
    res = compare(examples, {"baseline": BaselineLabeler(), "model": labeler}, log=lambda *_: None)
    for name in ("baseline", "model"):
        _print_summary(name, res[name]["summary"])
    items, _, _ = prepare(examples, labeler.model.vocab)
    preds = predict(labeler.model, items)
    f1 = anchor_f1(np.concatenate(preds), np.concatenate([it.target for it in items]))
    click.echo(
        f"label F1 (anchor tokens, model alone): {f1['f1']:.4f}  (precision {f1['precision']:.4f}, "
        f"recall {f1['recall']:.4f})"
    )
    calibrator = labeler.model.calibrator
    cal = calibration_report(res["model"]["outcomes"], review_below=calibrator.review_below if calibrator else None)
    click.echo(
        f"ECE {cal['ece']:.4f}; wrong cells caught at review budget: "
        + "  ".join(f"{k}: {v:.3f}" for k, v in cal["wrong_caught_at_budget"].items())
        + f"; budget for 99 %: {cal['budget_for_99pct_wrong']:.4f}"
    )
    click.echo(
        "by confidence alone: "
        + "  ".join(f"{k}: {v:.3f}" for k, v in cal["wrong_caught_by_confidence_alone"].items())
        + f"; budget for 99 %: {cal['budget_for_99pct_wrong_by_confidence']:.4f}"
    )
    if "review_below" in cal:
        r = cal["review_below"]
        click.echo(
            f"review level {r['level']}: sends {r['sent_by_confidence']:.4f} of cells, catches "
            f"{r['caught_by_confidence']:.4f} of wrong ones (with failed rules: {r['sent']:.4f}, {r['caught']:.4f})"
        )
    if json_out:
        out = {name: res[name]["summary"] for name in res}
        out.update(label_f1=f1, calibration=cal, baseline_review=calibration_report(res["baseline"]["outcomes"]))
        json_out.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


@click.command("latency")
@click.option("--version", "version", default=None, help="Registry version or model folder (default: active)")
@click.option("--cache", type=click.Path(path_type=Path), default=DEFAULT_CACHE, show_default=True)
@click.option("--n", type=int, default=30, show_default=True, help="Reports to time")
def latency_cmd(version, cache, n) -> None:
    """Seconds the model labeler adds per page and per report over the baseline labeler."""
    from training.latency import measure

    r = measure(version, cache, n)
    click.echo(json.dumps(r, indent=1))


COMMANDS: list[click.Command] = [train_cmd, calibrate_cmd, evaluate_cmd, latency_cmd]

__all__ = ["COMMANDS", "time"]
