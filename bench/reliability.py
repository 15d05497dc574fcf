"""Reliability and security (issue 6): runs every reliability case and prints the table
`case | tried | survived | lost`. Lost must be 0.

    python bench/reliability.py              # everything, one test at a time (about 10 minutes)
    python bench/reliability.py --quick      # without the slow cases (SIGKILL ×50, queue restarts, 500 documents, corpus)
    python bench/reliability.py -k load      # a pytest -k selection

The cases are the tests themselves, so CI and this script run the same thing:

- tests/test_reliability_*.py: each test records its row (`tests/reliability_support.record`):
  extraction child crash/hang/memory/defect, oversize and abusive uploads, odd file names,
  backpressure, SIGKILL of workers at random stages (SQLite and Redis queues), queue backend restarts
  with 50 jobs, storage errors at the final commit + `gongkai doctor`, 100 concurrent uploads,
  memory over 500 documents, the hostile corpus through the service, model integrity, labeled
  imports; several machines as an operator runs them (PostgreSQL + Redis, an API and two workers:
  a worker on another store refuses to start, a failed document retried through the API, a worker
  killed mid-scan whose re-run resumes from its stored pages);
- tests/extraction/test_hostile_inputs.py (the corpus through the extraction pipeline), tests/service/test_api_authz.py
  (every route × every role: nothing readable without a token, a reviewer cannot train or activate)
  and the registry's flipped-byte tests: one row each, from their pass/fail outcomes.

`tried` counts what was attempted (inputs, runs, uploads, requests); `survived` what ended as it
must (a typed error or a result in time, the worker alive, a 202 or a 429 with Retry-After, a
protection that held); `lost` counts accepted work that vanished or was written twice, and every
protection that did not hold. A test that fails is a row of its own with lost ≥ 1.
Environment: GONGKAI_TEST_POSTGRES_URL / GONGKAI_TEST_REDIS_URL as for the tests (the Redis cases
need only the `redis-server` program); GONGKAI_RELIABILITY_SEED repeats a randomised run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ["tests/service/test_reliability_sandbox.py", "tests/service/test_reliability_uploads.py",
             "tests/service/test_reliability_faults.py", "tests/service/test_reliability_load.py",
             "tests/service/test_reliability_hostile_service.py", "tests/service/test_reliability_security.py",
             "tests/service/test_reliability_operations.py", "tests/service/test_reliability_limits.py"]  # fmt: skip
OUTCOME_ONLY = {
    "tests/extraction/test_hostile_inputs.py": "hostile inputs through the extraction worker (pipeline)",
    "tests/service/test_api_authz.py::test_authorization": "no route without a token; roles (reviewer cannot train/activate)",
    "tests/extraction/test_registry.py::test_manifest_round_trip_and_flipped_byte": "model registry: a flipped byte refuses to load",
    "tests/extraction/test_registry.py::test_missing_file_and_tampered_manifest": "model registry: missing file, tampered manifest",
}
# issue 18 (security and resource limits), a row per finding: node-id prefixes (their files are run whole)
OUTCOME_BY_PREFIX = {
    "tests/service/test_security_limits.py::test_page_images": "18.1 page images: pixel cap, rendered in a child, disk cache",
    "tests/service/test_security_limits.py::test_the_page_cache": "18.1 page images: the disk cache is bounded in bytes",
    "tests/service/test_security_limits.py::test_a_169_megapixel": "18.1 a 169 MP PNG: refused at upload, never decoded",
    "tests/service/test_security_limits.py::test_failed_documents": "18.1 failed documents: no page images",
    "tests/service/test_security_limits.py::test_a_cell_crop": "18.1 cell crops: the same child and cache",
    "tests/service/test_security_limits.py::test_corrections_refuse": "18.2 corrections: inf/nan/1e400/negative refused",
    "tests/service/test_security_limits.py::test_labeled_imports_use": "18.2 labeled imports: the same validator",
    "tests/service/test_security_limits.py::test_the_validator": "18.2 the validator: signed counts, amounts, blanks",
    "tests/service/test_security_limits.py::test_a_non_finite": "18.2 a NaN stored before the validator: exports still 200",
    "tests/service/test_security_limits.py::test_batch_exports": "18.3 batch exports and id lists bounded",
    "tests/service/test_security_limits.py::test_exports_write": "18.4 exports: formulas written as text (CSV, XLSX)",
    "tests/service/test_security_limits.py::test_csv_safe": "18.4 CSV cells: the OWASP rule",
    "tests/service/test_security_limits.py::test_the_same_bytes": "18.6 dedupe never crosses ownership",
    "tests/service/test_security_limits.py::test_ids_beyond": "18.7 ids beyond the database: 404/422, never 500",
    "tests/service/test_security_limits.py::test_training_version": "18.8 training version names validated",
    "tests/service/test_security_limits.py::test_training_errors": "18.8 training errors: no traceback, no path",
    "tests/extraction/test_absurd_figures.py": "18.9 a 3,000-digit glued run: its row to review",
    "tests/service/test_security_limits.py::test_a_huge_field": "18.10 a 10 MB field is not echoed",
    "tests/service/test_security_limits.py::test_the_ui_sends": "18.10 UI: CSP, no framing, nosniff, sessionStorage",
    "tests/service/test_security_limits.py::test_tokens_in_urls": "18.10 tokens redacted from the access log",
    "tests/service/test_security_limits.py::test_agency_text": "18.10 agency text: bidi and zero-width removed",
    "tests/service/test_security_limits.py::test_database_and_store": "18.10 database and store files created 600",
    "tests/service/test_security_limits.py::test_serve_refuses": "18.10 serve refuses a public host without tokens",
}


def run_tests(args: argparse.Namespace, report: Path, junit: Path) -> int:
    files = sorted({p.split("::")[0] for p in OUTCOME_BY_PREFIX})
    targets = [t for t in RECORDING + list(OUTCOME_ONLY) + files if (ROOT / t.split("::")[0]).exists()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *targets]
    cmd += ["-n", str(args.jobs)] if args.jobs > 1 else ["-p", "no:xdist"]
    if args.quick:
        cmd += ["-m", "not slow"]
    if args.k:
        cmd += ["-k", args.k]
    env = {**os.environ, "GONGKAI_RELIABILITY_REPORT": str(report)}
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env, stdout=None if args.verbose else subprocess.DEVNULL)


def outcomes(junit: Path) -> list[tuple[str, str]]:
    """(test node id, passed / failed / skipped) from the JUnit XML."""
    out = []
    if not junit.exists():
        return out
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        name = case.get("name", "")
        state = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            state = "failed"
        elif case.find("skipped") is not None:
            state = "skipped"
        out.append((f"{module}::{name}", state))
    return out


def table(rows: list[dict]) -> str:
    head = ["case", "tried", "survived", "lost", "figures"]
    body = []
    for r in rows:
        figures = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("case", "tried", "survived", "lost"))
        body.append([r["case"], str(r["tried"]), str(r["survived"]), str(r["lost"]), figures])
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head[:4], widths, strict=True)) + " | figures"]
    lines.append("-+-".join("-" * w for w in widths) + "-+--------")
    for b in body:
        lines.append(" | ".join(b[i].ljust(widths[i]) if i == 0 else b[i].rjust(widths[i]) for i in range(4)) + " | " + b[4])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the tests marked slow")
    ap.add_argument("-k", help="a pytest -k expression")
    ap.add_argument("--jobs", type=int, default=1, help="pytest-xdist workers (1: one test at a time, timings clean)")
    ap.add_argument("--verbose", action="store_true", help="show pytest's output")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gongkai-reliability-") as tmp:
        report, junit = Path(tmp) / "rows.jsonl", Path(tmp) / "junit.xml"
        t0 = time.monotonic()
        code = run_tests(args, report, junit)
        seconds = time.monotonic() - t0
        rows = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()] if report.exists() else []
        results = outcomes(junit)
    # the outcome-only suites: one row each
    groups: dict[str, list[str]] = defaultdict(list)
    for node, state in results:
        for prefix, label in {**OUTCOME_ONLY, **OUTCOME_BY_PREFIX}.items():
            if node.startswith(prefix) or node.split("[")[0] == prefix:
                groups[label].append(state)
    for label, states in groups.items():
        ran = [s for s in states if s != "skipped"]
        rows.append({"case": label, "tried": len(ran), "survived": ran.count("passed"), "lost": ran.count("failed")})
    # a failing recording test may not have written its row: it gets one
    for node, state in results:
        if state == "failed" and node.split("::")[0] in RECORDING:
            rows.append({"case": f"FAILED {node}", "tried": 1, "survived": 0, "lost": 1})
    skipped = [node for node, state in results if state == "skipped" and node.split("::")[0] in RECORDING]
    print()
    print(table(rows))
    tried = sum(r["tried"] for r in rows)
    lost = sum(r["lost"] for r in rows)
    print(f"\n{len(rows)} cases, {tried} tried, {sum(r['survived'] for r in rows)} survived, lost {lost} "
          f"({len(results)} tests in {seconds:.0f}s; pytest exit status {code})")  # fmt: skip
    if skipped:
        print("skipped: " + ", ".join(skipped))
    return 0 if lost == 0 and code == 0 and rows else 1


if __name__ == "__main__":
    sys.exit(main())
