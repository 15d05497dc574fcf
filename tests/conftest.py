from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"


def labeled_reports() -> list[tuple[Path, Path]]:
    """(input, truth) pairs of the real labeled reports shipped in datasets/ (seeds and real)."""
    pairs = []
    for folder in (DATASETS / "seeds", DATASETS / "real"):
        for truth in sorted((folder / "truth").glob("*.json")):
            inputs = [p for p in folder.glob(f"{truth.stem}.*") if p.is_file()]
            assert inputs, f"no input for {truth}"
            pairs.append((inputs[0], truth))
    return pairs


def load_truth(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pipeline():
    from extraction.pipeline import Pipeline

    return Pipeline()
