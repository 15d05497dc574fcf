from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"

# An operator's wiring in the shell (`eval "$(bash scripts/services.sh)"` exports these) must not leak
# into the tests: each test names its own database, queue and store (GONGKAI_TEST_* select PostgreSQL
# and Redis for the tests that use them).
for _name in ("DATABASE_URL", "REDIS_URL", "GONGKAI_DATABASE_URL", "GONGKAI_REDIS_URL", "GONGKAI_STORE_DIR", "GONGKAI_DATA_DIR"):
    os.environ.pop(_name, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files (tests/golden/) from today's output instead of comparing with them",
    )


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


def pytest_terminal_summary(terminalreporter):
    """Figures tests record for the end of the run: `record_property("summary:<title>", line)` (the
    hostile-input table). Works under pytest-xdist too: the properties travel with the reports."""
    sections: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            for key, value in getattr(rep, "user_properties", ()):
                if isinstance(key, str) and key.startswith("summary:"):
                    sections.setdefault(key[len("summary:") :], []).append(str(value))
    for title, lines in sections.items():
        terminalreporter.write_sep("=", title)
        for line in sorted(lines):
            terminalreporter.write_line(line)
