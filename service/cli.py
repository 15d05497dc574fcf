"""`gongkai serve` and the service's admin commands: registered on the main CLI from `COMMANDS`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

COMMANDS: list[click.Command] = []


def _service(migrate: bool = True, check_store: bool = True):
    """The process's Service; a configuration that would split the installation (service/wiring.py)
    ends the command with its reason (exit status 2), never a traceback."""
    from service.core import Service
    from service.wiring import WiringError

    try:
        return Service(migrate=migrate, check_store=check_store)
    except WiringError as exc:
        click.echo(f"gongkai: refusing to start ({exc.code}): {exc}", err=True)
        sys.exit(2)


def _configure_logs(level: str) -> None:
    from service.logs import configure

    try:
        configure(level)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _say_wiring(svc, role: str) -> None:
    from service.wiring import wiring_line

    click.echo(wiring_line(svc.settings, role), err=True)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option("--workers", type=int, default=None, help="In-process worker threads (default: GONGKAI_WORKERS, 1)")
@click.option("--no-worker", is_flag=True, help="Run no in-process worker (run `gongkai worker` elsewhere)")
@click.option("--log-level", default="info", show_default=True)
def serve(host: str, port: int, workers: int | None, no_worker: bool, log_level: str) -> None:
    """Run the web service: API under /v1, review UI under /ui, OpenAPI at /docs.

    Defaults need no services: SQLite database, SQLite job queue, file store, all under
    GONGKAI_DATA_DIR (./gongkai-data), and a worker inside this process. DATABASE_URL (PostgreSQL),
    REDIS_URL and GONGKAI_STORE_DIR (an absolute path, the same store on every machine) switch to
    the multi-machine setup; docs/operations.md lists every variable.
    """
    import uvicorn

    from service.api import create_app

    _configure_logs(log_level)
    svc = _service()
    _say_wiring(svc, "serve")
    if workers:
        svc.settings.workers = workers
    embedded = svc.settings.embedded_worker and not no_worker
    click.echo(
        f"gongkai: serving on http://{host}:{port}/ "
        f"({f'{svc.settings.workers} in-process worker threads' if embedded else 'no in-process worker'})",
        err=True,
    )
    from sqlalchemy import func, select

    from service.db import Token

    with svc.db.session() as s:
        if not s.scalar(select(func.count()).select_from(Token).where(Token.revoked_at.is_(None))):
            if not is_loopback(host):  # an open service with no way in for its owner yet: refused
                svc.close()
                raise click.ClickException(
                    f"no API token exists (none unrevoked), so nobody could use a service on {host}; create one first: "
                    "gongkai tokens create --role admin --name you (or serve on 127.0.0.1)"
                )
            click.echo("gongkai: no API tokens yet; create one: gongkai tokens create --role admin --name you", err=True)
    # uvicorn's access log has method, path and status only: the Authorization header is never logged
    uvicorn.run(create_app(svc, embedded_worker=embedded), host=host, port=port, log_level=log_level)


@click.command()
@click.option("--workers", type=int, default=1, show_default=True, help="Worker threads (or processes)")
@click.option("--worker-type", type=click.Choice(["thread", "process"]), default="thread", show_default=True)
@click.option("--log-level", default="info", show_default=True)
def worker(workers: int, worker_type: str, log_level: str) -> None:
    """Run a job worker (a Huey consumer) against the configured database, queue and store.

    Run any number of these on any number of machines with the same DATABASE_URL (PostgreSQL),
    REDIS_URL, GONGKAI_STORE_DIR (absolute: the shared store, mounted at the same path) and
    GONGKAI_MODELS_DIR. It prints what it is wired to, and refuses to start with a store that is
    not the database's. The OCR of a scanned page already uses every core of the machine (its
    text detection, up to 16 threads): one worker thread per machine suits scans, more threads
    suit text/HTML/DOCX/digital PDFs. A worker killed mid-job loses nothing: its job is re-run
    once its lease expires, from the pages already read. See docs/operations.md.
    """
    from service.jobs import Sweeper, register_tasks, sweep
    from service.workers import Presence, make_consumer

    _configure_logs(log_level)
    svc = register_tasks(_service())
    _say_wiring(svc, "worker")
    if svc.settings.process_isolation and worker_type == "thread":
        svc.extractors.prestart(workers)  # one extraction child per worker thread, importing while we start
    presence = svc.presence = Presence(svc, "worker", workers)
    presence.start()
    sweep(svc)
    sweeper = Sweeper(svc)
    sweeper.start()
    click.echo(f"gongkai: worker on queue {svc.queue_kind} ({workers} {worker_type}s) as {presence.id}", err=True)
    try:
        make_consumer(svc, workers, worker_type).run()
    finally:
        sweeper.stop()
        presence.stop()
        svc.close()  # stops the extraction children


@click.group()
def tokens() -> None:
    """Manage API tokens (only their hashes are stored: a token is shown once)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["submitter", "reviewer", "admin"]), required=True)
@click.option("--name", required=True, help="Who or what uses the token")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object")
def tokens_create(role: str, name: str, as_json: bool) -> None:
    """Create a token and print it (to stdout, once)."""
    from service.auth import create_token
    from service.wiring import redact_url

    svc = _service()
    database = redact_url(svc.settings.db_url)
    with svc.db.session() as s:
        row, secret = create_token(s, name, role)  # type: ignore[arg-type]
        token_id = row.id
    if as_json:
        click.echo(json.dumps({"id": token_id, "name": name, "role": role, "token": secret, "database": database}))
    else:
        click.echo(secret)
    click.echo(
        f"gongkai: token {token_id} ({role}, {name}) created in database {database}; it is not shown again. "
        f"The API accepts it only if it runs on this same database",
        err=True,
    )


@tokens.command("list")
def tokens_list() -> None:
    from sqlalchemy import select

    from service.db import Token

    svc = _service()
    with svc.db.session() as s:
        for t in s.scalars(select(Token).order_by(Token.id)):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"{t.id}\t{t.role}\t{t.name}\t{t.prefix}…\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    from service.auth import revoke_token

    svc = _service()
    with svc.db.session() as s:
        if not revoke_token(s, token_id):
            click.echo(f"gongkai: no token {token_id}", err=True)
            sys.exit(1)
    click.echo(f"gongkai: token {token_id} revoked", err=True)


@click.group()
def db() -> None:
    """Database schema (Alembic migrations shipped inside the package)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from service.migrate import current, upgrade
    from service.settings import Settings
    from service.wiring import WiringError, check_settings, redact_url

    settings = Settings()
    try:
        check_settings(settings)
    except WiringError as exc:
        click.echo(f"gongkai: refusing to start ({exc.code}): {exc}", err=True)
        sys.exit(2)
    settings.ensure_dirs()
    click.echo(f"gongkai db: database {redact_url(settings.db_url)}", err=True)
    upgrade(settings.db_url, revision)
    click.echo(f"gongkai: database at revision {current(settings.db_url)}", err=True)


@click.command()
@click.option("--verify/--no-verify", default=True, show_default=True, help="Recompute every stored file's sha256")
@click.option("--fix", is_flag=True, help="Remove orphan and temporary files older than the grace period")
@click.option("--grace-seconds", type=float, default=3600.0, show_default=True, help="Younger files may be in flight")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
def doctor(verify: bool, fix: bool, grace_seconds: float, as_json: bool) -> None:
    """Check the service: its wiring, database, queue, that the store is the database's (store id),
    training, and the consistency of the file store with the database (orphan files, missing or
    corrupt originals, every stored sha256, jobs and results). Run it on each machine: a worker's
    machine that cannot see the originals shows them missing.

    Exit status 0 when everything is consistent, 1 otherwise.
    """
    from sqlalchemy import text

    from service import training_adapter
    from service.consistency import check
    from service.operations import store_check
    from service.wiring import wiring

    svc = _service(check_store=False)  # a store that is not the database's is reported, not a crash
    ok = True
    out: dict = {"wiring": wiring(svc.settings).model_dump()}
    with svc.db.session() as s:
        s.execute(text("SELECT 1"))
    out["database"] = f"{svc.db.engine.dialect.name} ok"
    reachable, detail = svc.queue_status()
    out["queue"] = f"{svc.queue_kind} ok ({detail})" if reachable else f"{svc.queue_kind} FAILED: {detail}"
    ok = ok and reachable
    store = store_check(svc)
    out["store_check"] = f"ok: {store.detail}" if store.ok else f"FAILED: {store.detail}"
    ok = ok and store.ok
    out["training"] = "available" if training_adapter.available() else "unavailable (no fine-tuning entry point)"
    if not store.ok and fix:
        fix = False  # in another installation's store every file would look like an orphan
        out["fix"] = "refused: the store is not this database's; nothing was removed"
    report = check(svc, verify=verify, fix=fix, grace_s=grace_seconds)
    ok = ok and report.ok
    if as_json:
        click.echo(json.dumps({**out, "store": str(svc.store.root), "consistency": report.to_dict(), "ok": ok}, indent=1))
        svc.close()
        sys.exit(0 if ok else 1)
    w = out["wiring"]
    click.echo(f"wiring: database {w['database']}; queue {w['queue']}; store {w['store']}; models {w['models_dir']}")
    for key in ("database", "queue", "store_check", "training", "fix"):
        if key in out:
            click.echo(f"{'store id' if key == 'store_check' else key}: {out[key]}")
    click.echo(
        f"store: {svc.store.root}: {report.files} files for {report.documents} documents; "
        f"{report.checked} sha256 verified ({report.checked_bytes / 2**20:.1f} MiB) in {report.seconds:.1f}s"
    )
    sections: list[tuple[str, list[Any]]] = [
        ("missing originals", report.missing),
        ("corrupt originals (sha256 mismatch)", report.corrupt),
        ("orphan files (no document)", report.orphans),
        ("stray files", report.stray),
        ("temporary files", report.temporaries),
        ("database", report.database),
        ("warning", report.warnings),
    ]
    for label, items in sections:
        for item in items:
            click.echo(f"{label}: {item}")
    if report.removed:
        click.echo(f"removed {len(report.removed)} orphan/temporary files")
    click.echo("consistency: ok" if report.ok else "consistency: PROBLEMS (see above)")
    svc.close()
    sys.exit(0 if ok else 1)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object")
def status_cmd(as_json: bool) -> None:
    """What the installation is doing: wiring, database/queue/store health, live workers with their
    current jobs, queue depth, jobs by state, failed documents by code.

    Exit status 0 when the database, queue and store are all healthy, 1 otherwise.
    """
    from service.operations import age, status

    svc = _service(check_store=False)
    try:
        st = status(svc)
    finally:
        svc.close()
    ok = st.health.status == "ok"
    if as_json:
        click.echo(st.model_dump_json(indent=1))
        sys.exit(0 if ok else 1)
    w = st.wiring
    click.echo(f"database: {w['database']}\nqueue:    {w['queue']}\nstore:    {w['store']}\nmodels:   {w['models_dir']}")
    for name, check in st.health.checks.items():
        click.echo(f"{name}: {'ok' if check.ok else 'DOWN'}: {check.detail}")
    q = st.queue
    pending = "?" if q.pending_messages is None else q.pending_messages
    click.echo(f"jobs: {q.queued_jobs} queued, {q.running_jobs} running; {pending} queue messages; all: {st.jobs}")
    click.echo(f"live workers: {len(st.workers)}")
    if q.queued_jobs and not st.workers:
        click.echo(
            "  WARNING: jobs are queued and no worker is live on this database: start `gongkai worker` with the "
            "same wiring (compare its start line with the lines above)"
        )
    if q.orphaned_jobs:
        click.echo(f"  {q.orphaned_jobs} running jobs have no live worker: they run again once their lease expires")
    for wk in st.workers:
        jobs = ", ".join(map(str, wk.current_jobs)) or "idle"
        trouble = f"; queue: {wk.queue_error}" if wk.queue_error else ""
        click.echo(
            f"  {wk.id} ({wk.kind}, {wk.threads} threads) up {age(wk.started_at)}, seen {age(wk.last_seen)} ago, "
            f"{wk.jobs_done} jobs done, now: {jobs}{trouble}"
        )
    if st.failed_documents:
        click.echo("failed documents: " + ", ".join(f"{k} {v}" for k, v in sorted(st.failed_documents.items())))
        click.echo("  run them again: gongkai retry --code CODE (or --all-failed, or document ids)")
    sys.exit(0 if ok else 1)


@click.command("retry")
@click.argument("document_ids", nargs=-1, type=int)
@click.option("--code", "error_code", help="Every failed document with this error code (e.g. original_missing)")
@click.option("--all-failed", is_flag=True, help="Every failed document")
@click.option("--model", "model_version", help="Read them with this model version (default: the active one)")
@click.option("--reextract", is_flag=True, help="Also documents in review (a new result; their review starts afresh)")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object")
def retry_cmd(
    document_ids: tuple[int, ...], error_code: str | None, all_failed: bool, model_version: str | None,
    reextract: bool, as_json: bool,
) -> None:
    """Run documents again: by id, by failure code (--code), or every failed one (--all-failed).

    Each selected document gets a new job on the queue; one already waiting for or in a run, or
    verified, is skipped (and said so). Same as POST /v1/retries.
    """
    from pydantic import ValidationError

    from service.jobs import register_tasks
    from service.operations import RetryRequest, UnknownModel, retry

    try:
        req = RetryRequest(
            document_ids=list(document_ids) or None,
            error_code=error_code,
            all_failed=all_failed,
            model_version=model_version,
            reextract=reextract,
        )
    except ValidationError:
        raise click.UsageError("name exactly one of: DOCUMENT_IDS, --code, --all-failed") from None
    svc = register_tasks(_service())  # it sends jobs
    _say_wiring(svc, "retry")
    try:
        outcome = retry(svc, req)
    except UnknownModel as exc:
        click.echo(f"gongkai: {exc}", err=True)
        sys.exit(2)
    finally:
        svc.close()
    if as_json:
        click.echo(outcome.model_dump_json(indent=1))
        return
    for item in outcome.items:
        if item.job_id is not None:
            click.echo(f"document {item.document_id}: queued as job {item.job_id} (was {item.previous_status}"
                       f"{f', {item.previous_error_code}' if item.previous_error_code else ''})")
        else:
            click.echo(f"document {item.document_id}: skipped: {item.skipped}")
    click.echo(f"gongkai: {outcome.queued} queued, {outcome.skipped} skipped", err=True)


@click.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document of the HTTP API."""
    import tempfile

    from service.api import create_app, openapi_json
    from service.core import Service
    from service.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:  # the schema needs no data: a throwaway database
        svc = Service(Settings(immediate=True, data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/o.db", redis_url=None))
        click.echo(openapi_json(create_app(svc)))
        svc.close()


COMMANDS.extend([serve, worker, tokens, db, doctor, status_cmd, retry_cmd, openapi])
