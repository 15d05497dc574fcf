"""An upload's files, once received (service/uploads.py): each identified, stored and given a document and
its extraction job, under the request's Idempotency-Key. Runs in a thread, off the event loop."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extraction.errors import CorruptInput, GongkaiError
from service.auth import Principal
from service.core import Service
from service.db import Document, IdempotencyKey, Job, Upload
from service.errors import ChildFailed, ServerBusy, StorageError
from service.jobs import TRANSIENT
from service.routes.errors import ApiError, status_for_code
from service.routes.outputs import latest_job
from service.schemas import ErrorBody, UploadItem, UploadResponse
from service.text_probe import refuse_non_text
from service.uploads import Received

log = logging.getLogger("gongkai.api")


def identify(svc: Service, rf: Received) -> tuple[str, int | None]:
    """(kind, pages) of a received file. Text kinds are told from the first bytes here; a PDF, an image
    or a ZIP (DOCX) is opened in an inspection child (PDFium and image decoders never run in the
    server), which also counts the pages from the structure, nothing rendered."""
    from extraction.errors import EmptyInput
    from extraction.ingest.sniff import sniff

    if rf.size == 0:
        raise EmptyInput("the input is empty (0 bytes)")
    if not rf.head.startswith(b"PK"):
        kind = sniff(rf.head, rf.name)
        if kind not in ("pdf", "image"):
            assert rf.path is not None
            refuse_non_text(rf.path, rf.size)  # random bytes sniff as txt: 415 here, not a failed job later
            return kind, None
    megapixels = svc.settings.ingest_options().max_megapixels_per_page
    request = {"path": str(rf.path), "name": rf.name, "max_pages": svc.settings.max_pages, "max_pixels": int(megapixels * 1e6)}
    if not svc.settings.process_isolation:
        from service import extract_task

        got = extract_task.inspect(request)
        return got["kind"], got["pages"]
    limit = svc.settings.inspect_timeout_s
    try:
        with svc.inspectors.lease(timeout=limit) as box:
            outcome = box.call("inspect", request, time_limit=limit)
    except TimeoutError:
        raise ServerBusy("every inspection process is busy; try again shortly") from None
    if outcome.ok:
        return outcome.value["kind"], outcome.value["pages"]
    if outcome.aborted:
        raise ServerBusy("the server is shutting down; try again shortly")
    if outcome.code == "worker_crashed":  # the file crashed the reader: it is the file's fault
        raise CorruptInput("the file crashed the document reader", detail={"reader": outcome.message})
    raise ChildFailed(outcome.code or "internal_error", outcome.message, outcome.detail or None)


def _accept_file(svc: Service, s: Session, who: Principal, rf: Received) -> tuple[UploadItem, int | None]:
    kind, pages = identify(svc, rf)
    digest = rf.sha256
    assert rf.path is not None
    created = svc.store.put_file(rf.path, digest)  # before the row: a document row always has its original
    try:
        with svc.db.writing():
            new_job, doc, job, duplicate = _insert_document(s, who, rf, kind, pages)
    except BaseException:
        s.rollback()
        if created:
            _forget_original(svc, digest)
        raise
    item = UploadItem(
        filename=rf.name,
        document_id=doc.id,
        sha256=digest,
        kind=kind,
        pages=pages,
        status=doc.status,
        job_id=job.id if job else None,
        duplicate=duplicate,
    )
    return item, new_job


def _own_document(s: Session, who: Principal, digest: str) -> Document | None:
    """The document with these bytes that `who` may dedupe onto: for a submitter one they uploaded
    themselves (dedupe never crosses ownership: another's file name and corrections stay theirs), for a
    reviewer or an admin, who read every document anyway, the first one."""
    query = select(Document).where(Document.sha256 == digest)
    if not who.has("reviewer"):
        query = query.where(Document.id.in_(select(Upload.document_id).where(Upload.token_id == who.token_id)))
    return s.scalar(query.order_by(Document.id).limit(1))


def _insert_document(
    s: Session, who: Principal, rf: Received, kind: str, pages: int | None
) -> tuple[int | None, Document, Job | None, bool]:
    """(new job id or None, document, its latest job, duplicate): one transaction, committed. The same
    bytes from another submitter make a document of its own (its own job); the original is shared."""
    digest = rf.sha256
    new_job: int | None = None
    job: Job | None = None
    doc = _own_document(s, who, digest)
    if doc is None:  # new bytes for this submitter (the common case): document, job and upload in one transaction
        doc = Document(
            sha256=digest, owner_token_id=who.token_id, filename=rf.name, kind=kind, size=rf.size, pages=pages,
            status="queued",
        )  # fmt: skip
        s.add(doc)
        try:
            s.flush()
        except IntegrityError:  # the same bytes uploaded concurrently by the same token: the other request made it
            s.rollback()
            doc = _own_document(s, who, digest)
        else:
            job = Job(kind="extract", document_id=doc.id, pages_total=pages)
            s.add_all([job, Upload(document_id=doc.id, token_id=who.token_id, filename=rf.name)])
            s.flush()
            new_job = job.id
    assert doc is not None
    duplicate = new_job is None
    if duplicate:
        if not s.scalar(select(Upload.id).where(Upload.document_id == doc.id, Upload.token_id == who.token_id)):
            try:
                with s.begin_nested():
                    s.add(Upload(document_id=doc.id, token_id=who.token_id, filename=rf.name))
                    s.flush()
            except IntegrityError:
                pass
        job = latest_job(s, doc.id)
    s.commit()
    return new_job, doc, job, duplicate


def _forget_original(svc: Service, digest: str) -> None:
    """The upload failed after its file was stored: remove the file unless a document (another request
    with the same bytes) uses it. If the database cannot say, the file stays: `gongkai doctor` lists it
    as an orphan and `gongkai doctor --fix` removes it."""
    try:
        with svc.db.session() as s:
            used = s.scalar(select(Document.id).where(Document.sha256 == digest))
        if used is None:
            svc.store.path(digest).unlink(missing_ok=True)
    except Exception:
        log.warning("upload of %s failed and its file could not be checked; left for `gongkai doctor --fix`", digest)


def store_upload(
    svc: Service, who: Principal, received: list[Received], idempotency_key: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers): idempotency, then each file identified, stored, a document and its job.
    Runs in a thread."""
    fingerprint = hashlib.sha256(
        b"".join(
            rf.name.encode() + b"\0" + (rf.sha256 or f"refused:{rf.size}").encode() + b"\0" for rf in received
        )
    ).hexdigest()
    if idempotency_key:
        replay = _claim_key(svc, who, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    items = _accept_all(svc, who, received)
    accepted = [i for i in items if i.error is None]
    if accepted:
        status = 202
    elif len(items) == 1:
        status = status_for_code(items[0].error.code)  # type: ignore[union-attr]
    else:
        status = 422
    body = UploadResponse(items=items).model_dump(mode="json")
    if not accepted and len(items) == 1:
        body = {"error": items[0].error.model_dump(), **body}  # type: ignore[union-attr]
    if idempotency_key:
        with svc.db.session() as s:
            row = _key_row(s, who, idempotency_key)
            row.status_code, row.response = status, body  # type: ignore[union-attr]
    return status, body, {}


def _key_row(s: Session, who: Principal, key: str) -> IdempotencyKey | None:
    return s.scalar(select(IdempotencyKey).where(IdempotencyKey.token_id == who.token_id, IdempotencyKey.key == key))


def _claim_key(
    svc: Service, who: Principal, key: str, fingerprint: str
) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """The stored answer of an earlier request with this Idempotency-Key, or None once the key is
    claimed for this one. The same key for another request is a 422; one still running, a 409."""
    with svc.db.session() as s:
        row = _key_row(s, who, key)
        if row is None:
            try:
                with s.begin_nested():
                    s.add(IdempotencyKey(token_id=who.token_id, key=key, fingerprint=fingerprint))
                    s.flush()
            except IntegrityError:
                row = _key_row(s, who, key)
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
    if row.status_code is None:
        raise ApiError(409, "request_in_progress", "a request with this Idempotency-Key is still running")
    return row.status_code, row.response, {"Idempotent-Replayed": "true"}


def _accept_all(svc: Service, who: Principal, received: list[Received]) -> list[UploadItem]:
    """Each file's item: accepted (a document and its job, committed) or its typed error. The new jobs
    are sent after their commit, even when a later file fails (a failed send: the sweeper resends)."""
    items: list[UploadItem] = []
    new_jobs: list[int] = []
    try:
        for rf in received:
            if rf.error is not None:
                items.append(UploadItem(filename=rf.name, error=ErrorBody.model_validate(rf.error.to_dict())))
                continue
            try:
                with svc.db.session() as s:
                    item, job_id = _accept_file(svc, s, who, rf)
                items.append(item)
                if job_id is not None:
                    new_jobs.append(job_id)
            except GongkaiError as exc:
                items.append(UploadItem(filename=rf.name, error=ErrorBody.model_validate(exc.to_dict())))
            except TRANSIENT as exc:  # the database or the disk failed: nothing of this file was kept
                log.exception("upload of %r: storage error", rf.name)
                err = StorageError(f"the file could not be stored ({type(exc).__name__}); try again")
                items.append(UploadItem(filename=rf.name, error=ErrorBody.model_validate(err.to_dict())))
    finally:
        for job_id in new_jobs:  # after commit: a worker must find the row (a failed send: the sweeper resends)
            svc.enqueue(job_id)
    return items
