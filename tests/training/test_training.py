"""Training: targets from truth, labeled-data validation, metrics, and the CI smoke run (a tiny
model trained for a few steps, calibrated and round-tripped through the registry)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


def test_labeled_validation_names_file_and_line(tmp_path):
    from training.labeled import LabeledDataError, load_labeled_dir, validate_dir

    seed_truth = sorted((ROOT / "datasets" / "seeds" / "truth").glob("*.json"))[0]
    seed_report = ROOT / "datasets" / "seeds" / f"{seed_truth.stem}.txt"
    (tmp_path / "truth").mkdir()
    (tmp_path / "a.txt").write_bytes(seed_report.read_bytes())
    rec = json.loads(seed_truth.read_text(encoding="utf-8"))
    (tmp_path / "truth" / "a.json").write_text(json.dumps(rec, ensure_ascii=False, indent=1), encoding="utf-8")
    assert validate_dir(tmp_path) == []
    rec["cells"]["applications.new.bogus"] = 3
    rec["cells"]["applications.new.total"] = -1
    del rec["cells"]["proactive.rules.issued"]
    text = json.dumps(rec, ensure_ascii=False, indent=1)
    (tmp_path / "truth" / "a.json").write_text(text, encoding="utf-8")
    (tmp_path / "orphan.txt").write_text("x", encoding="utf-8")
    errors = validate_dir(tmp_path)
    line = text.splitlines().index('  "applications.new.bogus": 3') + 1
    assert any(f"a.json:{line}: unknown cell id" in e for e in errors)
    assert any("negative value" in e for e in errors)
    assert any("missing 1 cell ids" in e and "proactive.rules.issued" in e for e in errors)
    assert any("orphan.txt: no truth file" in e for e in errors)
    (tmp_path / "truth" / "a.json").write_text('{\n  "report": {,\n}', encoding="utf-8")
    with pytest.raises(LabeledDataError, match=r"a.json:2: not JSON"):
        load_labeled_dir(tmp_path)


def test_targets_from_truth_values_fix_a_missed_row():
    """On text a row the baseline misses gets its label from the truth's values (not from the baseline)."""
    from gongkai_datasets.generate import generate_one
    from training.data import Example, ingest_bytes, token_targets
    from training.unseen import dialect

    g = generate_one(3, 77, flatteners=("tabs",), violation_rate=0.0)
    doc = ingest_bytes(dialect(g.content).encode("utf-8"), f"{g.id}.txt")
    r = token_targets(Example(g.id, "tabs", g.truth["report"]["format"], doc, g.truth))
    assert r is not None
    _tokens, labels, base = r
    base_rows = {lab for lab in base.token_labels if lab.startswith("row:")}
    rows = {lab for lab in labels if lab.startswith("row:")}
    assert rows > base_rows  # the truth adds rows the baseline did not find


def test_metrics():
    from training.evaluate import ece
    from training.train import anchor_f1

    f1 = anchor_f1(np.array([0, 2, 3, 1, 5]), np.array([0, 2, 4, 1, -100]))
    assert f1["precision"] == 0.5 and f1["recall"] == 0.5
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.2])
    assert abs(ece(conf, np.array([1, 1, 1, 0, 0.0])) - (0.15 * 4 + 0.2) / 5) < 1e-9


@pytest.mark.slow
def test_tiny_training_round_trips_through_the_registry(tmp_path):
    """CI: `gongkai train --tiny` builds a few text reports, trains a few steps, calibrates and
    registers; an unchanged rerun does not retrain; the model extracts a seed report."""
    from extraction import registry
    from extraction.layout.model import ModelLabeler
    from extraction.pipeline import Pipeline
    from gongkai.cli import main

    runner = CliRunner()
    args = [
        "train",
        "--version",
        "tiny-ci",
        "--tiny",
        "--cache",
        str(tmp_path / "cache"),
        "--models-dir",
        str(tmp_path / "models"),
        "--max-steps",
        "3",
        "--epochs",
        "1",
        "--activate",
    ]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    folder, manifest = registry.resolve(None, tmp_path / "models")
    assert manifest.version == "tiny-ci"
    assert {"config.json", "model.safetensors", "tokenizer.json", "calibration.json", "card.json"} <= set(
        manifest.files
    )
    card = json.loads((folder / "card.json").read_text())
    assert card["data_hash"] and card["date"] and card["history"]
    r2 = runner.invoke(main, args)
    assert r2.exit_code == 0 and "no retraining" in r2.output
    seed = sorted((ROOT / "datasets" / "seeds").glob("*.txt"))[0]
    result = Pipeline(labeler=ModelLabeler(str(folder))).extract_path(seed)
    assert result.pipeline["layout"] == "model@tiny-ci"
    # `gongkai calibrate`: the same weights under a new version, the calibrator fitted again
    r3 = runner.invoke(
        main,
        [
            "calibrate",
            "--version",
            "tiny-ci",
            "--new-version",
            "tiny-ci-cal",
            "--tiny",
            "--cache",
            str(tmp_path / "cache"),
            "--models-dir",
            str(tmp_path / "models"),
        ],
    )
    assert r3.exit_code == 0, r3.output
    folder2, manifest2 = registry.resolve("tiny-ci-cal", tmp_path / "models")
    assert manifest2.files["model.safetensors"] == manifest.files["model.safetensors"]
    card2 = json.loads((folder2 / "card.json").read_text())
    assert card2["version"] == "tiny-ci-cal" and "tiny-ci's weights" in card2["lineage"]
    assert card2["calibration"]["fitted_on"]["splits"] == ["val"]
    assert registry.active_version(tmp_path / "models") == "tiny-ci"
    r4 = runner.invoke(
        main, ["calibrate", "--new-version", "x", "--splits", "test", "--models-dir", str(tmp_path / "models")]
    )
    assert r4.exit_code == 2 and "never train or test" in r4.output


@pytest.mark.slow
def test_training_resumes_from_its_last_checkpoint(tmp_path):
    from training.data import SPLITS_TINY, build, load, split_paths
    from training.train import TrainOptions, train

    cache = tmp_path / "cache"
    build({"train": SPLITS_TINY["train"]}, cache)
    examples = [load(p) for p in split_paths("train", cache, SPLITS_TINY)][:6]
    opts = TrainOptions(out=tmp_path / "run", epochs=1, max_steps=2, hidden=32, layers=1, heads=2, intermediate=64)
    logs: list[str] = []
    card = train(opts, examples, examples[:2], "data-1", log=logs.append)
    assert card["history"] and (tmp_path / "run" / "ckpt" / "last.pt").is_file()
    (tmp_path / "run" / "card.json").unlink()  # as if the run had died after its last epoch
    logs.clear()
    card2 = train(opts, examples, examples[:2], "data-1", log=logs.append)
    assert any("resumed at epoch 1" in line for line in logs)
    assert card2["history"] == card["history"]


def test_calibration_data_replays_its_cached_documents_through_the_current_rules(tmp_path, monkeypatch):
    """The calibrator's data cache is keyed by the split's parameters, not the code: a rules change
    measured on rows the old rules made would be no measure at all. Each document is kept as the
    reconstruction left it, and `replay` runs the later stages again: the same rows on the same
    code, the new caps on new rules."""
    from extraction.rules import RulesStage
    from training.calibrate_data import build, replay

    docs = build("t", 3, 0, 2, cache=tmp_path, jobs=1, log=lambda *_: None)
    assert len(docs) == 2 and all(d.state is not None and d.error is None for d in docs)
    again = replay(docs)
    for a, b in zip(docs, again, strict=True):
        assert a.cells == b.cells and a.doc == b.doc
        for name in ("base", "cap", "forced", "right"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(d.cap.max() > 0.1 for d in docs)

    def doubt_all(self, doc):
        for cell in doc.cells.values():
            cell.confidence = min(cell.confidence, 0.1)

    monkeypatch.setattr(RulesStage, "doubt", doubt_all)
    assert all(d.cap.max() <= 0.1 for d in replay(docs))


def test_calibrate_fit_never_overwrites_a_version_by_accident(tmp_path):
    """`python -m training.calibrate fit` with a version that exists (the default name was the shipped
    calibration-v1) stops before collecting anything; `--force` replaces it."""
    from training.calibrate import main

    (tmp_path / "calibration" / "calibration-v1").mkdir(parents=True)
    with pytest.raises(SystemExit, match="exists"):
        main(["fit", "--version", "calibration-v1", "--models", str(tmp_path), "--cache", str(tmp_path / "c")])
    assert not (tmp_path / "c").exists()


def test_calibration_rows_say_how_their_input_was_made():
    """A scanned PDF is a flatbed scan, a phone photo or a fax, with error rates 30 times apart: the
    card reports each (`source`), also for documents cached before the field existed."""
    from extraction.calibration import base_feature_names
    from training.calibrate_data import DocCells, source_of, stack

    def doc(name: str, unit: str, source: str = "") -> DocCells:
        k = len(base_feature_names())
        one = np.ones(1)
        return DocCells(name, unit, "scanned_pdf", "ocr", np.zeros((1, k)), one, one > 1, one > 0, ["c"], source=source)

    assert source_of(doc("x-s1-0-photo.pdf", "ocr:three_line")) == "photo"
    assert source_of(doc("x-s1-0-fax.pdf", "ocr:three_line")) == "fax"
    assert source_of(doc("x-s1-0-scan.pdf", "ocr:three_line")) == "scan"
    assert source_of(doc("x-s1-0.pdf", "pdf:three_line")) == "pdf"
    assert source_of(doc("g.md", "text:markdown")) == "markdown"
    assert source_of(doc("anything.pdf", "ocr:three_line", "photo")) == "photo"
    assert stack([doc("a.pdf", "pdf:x", "pdf"), doc("b-s1-0-fax.pdf", "ocr:x")])["source"].tolist() == ["pdf", "fax"]


def test_calibration_data_never_counts_a_pinned_cell_as_forced_to_review():
    """The certification counts the cells `forced` to review as caught whatever their confidence. A
    figure of a failed sum that another holding sum pins carries `failed_rule` too, but the product
    does not review it (`needs_review`): counted forced, a wrong pinned cell was caught for the
    certificate and silent in the product. A generated report with a source error in its
    balance (48 pinned cells)."""
    from extraction.document import DocumentState
    from extraction.pipeline import Pipeline
    from gongkai_datasets import generate_one
    from training.calibrate_data import finish

    g = generate_one(13, 5, flattener="tabs")
    data = g.content if isinstance(g.content, bytes) else g.content.encode("utf-8")
    name = f"{g.id}.{g.ext}"
    rows = finish(DocumentState.for_input(data, name), name, g.truth["cells"], "text:tabs")
    product = Pipeline().run(DocumentState.for_input(data, name))
    pinned = {cid for cid, c in product.cells.items() if "pinned_by_rule" in c.flags}
    assert pinned and all("failed_rule" in product.cells[cid].flags for cid in pinned)
    for cid, forced in zip(rows.cells, rows.forced, strict=True):
        cell = product.cells[cid]
        if cid in pinned:
            assert not forced, cid
        if forced:
            assert cell.review, cid
