"""`python -m service.training_eval TEST_DIR CANDIDATE ACTIVE`: cell accuracy of two labelers (labeler
specs as in `ModelVersion.labeler`) on the same labeled documents, one JSON line on stdout. Run as a
child process by `service.training_adapter.compare_on` (torch and both models stay out of the worker)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def labeler_for(spec: str):
    from extraction.pipeline import load_labeler

    return load_labeler(spec)


def main(argv: list[str]) -> int:
    from training.evaluate import compare
    from training.labeled import load_labeled_dir

    test_dir, candidate, active = Path(argv[0]), argv[1], argv[2]
    examples = load_labeled_dir(test_dir)
    res = compare(examples, {"candidate": labeler_for(candidate), "active": labeler_for(active)}, log=lambda *_: None)
    keep = ("reports", "cells", "wrong", "cell_accuracy", "errors", "by_input")
    print(json.dumps({name: {k: r["summary"][k] for k in keep} for name, r in res.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
