"""A long-lived extraction worker for the hostile-input tests: one process, one Pipeline, jobs in a row.

    python -m tests.hostile_worker            # reads one JSON job per line on stdin

A job is {"path": ..., "name": ...}; for each the worker answers one line on stdout,
`@@result {"outcome": ..., "seconds": ..., "peak_mib": ..., "detail": ...}`, where outcome is
"ok" (a result, every page read), "partial" (a result with failed pages), the error code of a
typed error, or "crash:<Type>" for any other exception (a defect). It calls the Pipeline the way
the service's worker does (service/jobs.py `_extract`): `ingest(data, name)`, then `run(state)`,
after the service's size check on the stored file (`Ingestor.read_path`).

`peak_mib` is the job's own peak resident memory: the kernel's high-water mark (VmHWM) is reset
before each job (/proc/self/clear_refs) and read after it, so a job is measured alone even though
the process lives on, like a service worker.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

MARK = "@@result "


def peak_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            m = re.search(r"VmHWM:\s+(\d+)\s*kB", f.read())
        if m:
            return int(m.group(1)) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_job(pipeline, path: Path, name: str) -> tuple[str, str]:
    from extraction.errors import GongkaiError

    try:
        data, _ = pipeline.ingest.read_path(path)
        state = pipeline.ingest(data, name)
        del data
        result = pipeline.run(state)
    except GongkaiError as exc:
        return exc.code, exc.message[:300]
    except Exception as exc:  # a defect: the hostile test reports it
        return f"crash:{type(exc).__name__}", f"{exc}"[:300]
    failed = result.source.failed_pages
    if failed:
        return "partial", f"failed pages {failed}; {result.warnings[:2]}"[:300]
    values = sum(1 for c in result.cells.values() if c.value is not None)
    return "ok", f"{values} cells with a value; kind {result.source.kind}"


def main() -> int:
    # the service's pipeline: default limits (IngestOptions), baseline labeler
    from extraction.pipeline import Pipeline

    pipeline = Pipeline()
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not mix with the answers
    print(MARK + json.dumps({"ready": True, "pid": os.getpid()}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        reset_peak()
        t0 = time.monotonic()
        outcome, detail = run_job(pipeline, Path(job["path"]), job.get("name") or Path(job["path"]).name)
        seconds = time.monotonic() - t0
        answer = {"outcome": outcome, "seconds": round(seconds, 3), "peak_mib": round(peak_mib(), 1), "detail": detail}
        print(MARK + json.dumps(answer, ensure_ascii=False), file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
