"""The consistency check behind `gongkai doctor`: the file store against the database, every stored
checksum, and the invariants the jobs keep (a result only for a finished job, one per job; a
document in review has its result; every document has a job).

    report = check(svc)            # verify every stored sha256
    report = check(svc, fix=True)  # also remove orphan and temporary files older than the grace period

An orphan is a stored file no document points to (an upload whose database write failed after its
file was stored; never a file a document uses). Files younger than `grace_s` are left alone: an
upload in flight stores its file a moment before its row is committed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from service.db import Document, Job, Result, utcnow
from service.store import file_sha256, is_digest

if TYPE_CHECKING:
    from service.core import Service


@dataclass
class Report:
    documents: int = 0
    files: int = 0
    checked: int = 0  # stored files whose sha256 was recomputed
    checked_bytes: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)  # a document without its original
    corrupt: list[dict[str, Any]] = field(default_factory=list)  # an original that no longer matches its sha256
    orphans: list[str] = field(default_factory=list)  # a stored file no document points to
    stray: list[str] = field(default_factory=list)  # a file in the store that is not named by a sha256
    temporaries: list[str] = field(default_factory=list)  # spool / half-written files past the grace period
    database: list[str] = field(default_factory=list)  # broken invariants between documents, jobs, results
    warnings: list[str] = field(default_factory=list)  # not broken, but worth a look (stuck leases)
    removed: list[str] = field(default_factory=list)  # what --fix removed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        leftover = set(self.orphans + self.stray + self.temporaries) - set(self.removed)
        return not (self.missing or self.corrupt or self.database or leftover)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check(svc: Service, verify: bool = True, fix: bool = False, grace_s: float = 3600.0) -> Report:
    started = time.monotonic()
    report = Report()
    now = time.time()

    def old_enough(path: Path) -> bool:
        try:
            return now - path.stat().st_mtime >= grace_s
        except OSError:
            return False

    with svc.db.session() as s:
        documents = dict(s.execute(select(Document.sha256, Document.id)).all())
        report.documents = len(documents)
        _database_invariants(svc, s, report)
    seen = _check_files(svc, documents, report, verify, old_enough)
    for sha, doc_id in sorted(documents.items(), key=lambda kv: kv[1]):
        if sha not in seen:
            report.missing.append({"document_id": doc_id, "sha256": sha, "path": str(svc.store.path(sha))})
    for path in svc.store.temporaries():
        if old_enough(path):
            report.temporaries.append(str(path))
    if fix:
        for p in report.orphans + report.temporaries:
            try:
                Path(p).unlink()
                report.removed.append(p)
            except OSError:
                pass
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _check_files(
    svc: Service, documents: dict[str, int], report: Report, verify: bool, old_enough: Callable[[Path], bool]
) -> set[str]:
    """The store's files against the documents (stray, orphan, corrupt ones into `report`); the digests
    found in the store."""
    seen: set[str] = set()
    for name, path in svc.store.digests():
        if name.startswith(".tmp-"):
            continue  # temporaries, checked apart
        report.files += 1
        if not is_digest(name) or path != svc.store.path(name):
            report.stray.append(str(path))
            continue
        seen.add(name)
        if name not in documents:
            if old_enough(path):
                report.orphans.append(str(path))
            continue
        if verify:
            report.checked += 1
            report.checked_bytes += path.stat().st_size
            if file_sha256(path) != name:
                report.corrupt.append({"document_id": documents[name], "sha256": name, "path": str(path)})
    return seen


def _database_invariants(svc: Service, s, report: Report) -> None:
    def ids(query) -> list[int]:
        return [row[0] for row in s.execute(query.limit(50)).all()]

    bad = ids(select(Result.id).join(Job, Job.id == Result.job_id).where(Job.status != "done"))
    if bad:
        report.database.append(f"results of jobs that are not done: {bad}")
    bad = ids(
        select(Job.id)
        .outerjoin(Result, Result.job_id == Job.id)
        .where(Job.kind == "extract", Job.status == "done", Result.id.is_(None))
    )
    if bad:
        report.database.append(f"extraction jobs done without a result: {bad}")
    bad = ids(
        select(Document.id)
        .outerjoin(Result, Result.id == Document.result_id)
        .where(Document.result_id.is_not(None), (Result.id.is_(None)) | (Result.document_id != Document.id))
    )
    if bad:
        report.database.append(f"documents pointing to a missing or foreign result: {bad}")
    bad = ids(select(Document.id).where(Document.status.in_(["review", "verified"]), Document.result_id.is_(None)))
    if bad:
        report.database.append(f"documents in review/verified without a result: {bad}")
    has_job = select(Job.document_id).where(Job.document_id.is_not(None))
    bad = ids(select(Document.id).where(Document.id.not_in(has_job)))
    if bad:
        report.database.append(f"documents without a job: {bad}")
    per_job = (
        select(Result.job_id).group_by(Result.job_id).having(func.count() > 1)
    )
    bad = ids(per_job)
    if bad:
        report.database.append(f"jobs with more than one result: {bad}")
    stuck = utcnow() - dt.timedelta(seconds=10 * svc.settings.lease_seconds)
    bad = ids(select(Job.id).where(Job.status == "running", Job.lease_until < stuck))
    if bad:
        report.warnings.append(f"running jobs whose lease ran out long ago (is a worker running?): {bad}")
