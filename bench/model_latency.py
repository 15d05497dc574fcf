"""What the trained layout model adds to extraction time (issue 4: ≤ 0.3 s per page).

    python bench/model_latency.py [--version layout-v2] [--n 30] [--cache /tmp/gk_model_data]

Times the layout stage with the baseline labeler and with the model labeler (features, the
model's forward pass over windows of tokens, the combined alignment, plus the confidence
calibration after reconstruction) on cached page-kind reports (digital PDFs and scans of the test
split, ingested once by `gongkai train`), one CPU thread, best of two runs per report, and prints
the extra seconds per page. Same as `gongkai latency`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from training.latency import measure

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--version", default=None)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gk_model_data"))
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.version, args.cache, args.n), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
