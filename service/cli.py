"""`gongkai serve` and the service's admin commands: registered on the main CLI from `COMMANDS`."""

from __future__ import annotations

import json
import logging
import sys

import click

COMMANDS: list[click.Command] = []


def _service(migrate: bool = True):
    from service.core import Service

    return Service(migrate=migrate)


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
    GONGKAI_DATA_DIR (./gongkai-data), and a worker inside this process. DATABASE_URL (PostgreSQL)
    and REDIS_URL switch to the multi-machine setup.
    """
    import uvicorn

    from service.api import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = _service()
    if workers:
        svc.settings.workers = workers
    embedded = svc.settings.embedded_worker and not no_worker
    click.echo(
        f"gongkai: serving on http://{host}:{port}/ (database {svc.db.engine.dialect.name}, queue {svc.queue_kind}, "
        f"{'in-process worker' if embedded else 'no in-process worker'}); data in {svc.settings.data_dir}",
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
    """Run a job worker (a Huey consumer) against the configured database and queue.

    Run any number of these on any number of machines with the same DATABASE_URL and REDIS_URL.
    A worker killed mid-job loses nothing: its job is re-run once its lease expires.
    """
    from huey.consumer import Consumer

    from service.jobs import Sweeper, sweep

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = _service()
    if svc.settings.process_isolation and worker_type == "thread":
        svc.extractors.prestart(workers)  # one extraction child per worker thread, importing while we start
    sweep(svc)
    sweeper = Sweeper(svc)
    sweeper.start()
    click.echo(f"gongkai: worker on queue {svc.queue_kind} ({workers} {worker_type}s)", err=True)
    try:
        Consumer(svc.huey, workers=workers, worker_type=worker_type, periodic=False, max_delay=1.0).run()
    finally:
        sweeper.stop()
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

    svc = _service()
    with svc.db.session() as s:
        row, secret = create_token(s, name, role)  # type: ignore[arg-type]
        token_id = row.id
    if as_json:
        click.echo(json.dumps({"id": token_id, "name": name, "role": role, "token": secret}))
    else:
        click.echo(secret)
        click.echo(f"gongkai: token {token_id} ({role}, {name}) created; it is not shown again", err=True)


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

    settings = Settings()
    settings.ensure_dirs()
    upgrade(settings.db_url, revision)
    click.echo(f"gongkai: database at revision {current(settings.db_url)}", err=True)


@click.command()
@click.option("--verify/--no-verify", default=True, show_default=True, help="Recompute every stored file's sha256")
@click.option("--fix", is_flag=True, help="Remove orphan and temporary files older than the grace period")
@click.option("--grace-seconds", type=float, default=3600.0, show_default=True, help="Younger files may be in flight")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
def doctor(verify: bool, fix: bool, grace_seconds: float, as_json: bool) -> None:
    """Check the service: database, queue, training, and the consistency of the file store with the
    database (orphan files, missing or corrupt originals, every stored sha256, jobs and results).

    Exit status 0 when everything is consistent, 1 otherwise.
    """
    from sqlalchemy import text

    from service import training_adapter
    from service.consistency import check

    svc = _service()
    ok = True
    out: dict = {}
    with svc.db.session() as s:
        s.execute(text("SELECT 1"))
    out["database"] = f"{svc.db.engine.dialect.name} ok"
    try:
        out["queue"] = f"{svc.queue_kind} ok ({svc.huey.storage.queue_size()} pending)"
    except Exception as exc:
        ok = False
        out["queue"] = f"{svc.queue_kind} FAILED: {exc}"
    out["training"] = "available" if training_adapter.available() else "unavailable (no fine-tuning entry point)"
    report = check(svc, verify=verify, fix=fix, grace_s=grace_seconds)
    ok = ok and report.ok
    if as_json:
        click.echo(json.dumps({**out, "store": str(svc.store.root), "consistency": report.to_dict(), "ok": ok}, indent=1))
        svc.close()
        sys.exit(0 if ok else 1)
    for key in ("database", "queue", "training"):
        click.echo(f"{key}: {out[key]}")
    click.echo(
        f"store: {svc.store.root}: {report.files} files for {report.documents} documents; "
        f"{report.checked} sha256 verified ({report.checked_bytes / 2**20:.1f} MiB) in {report.seconds:.1f}s"
    )
    for label, items in [
        ("missing originals", report.missing),
        ("corrupt originals (sha256 mismatch)", report.corrupt),
        ("orphan files (no document)", report.orphans),
        ("stray files", report.stray),
        ("temporary files", report.temporaries),
        ("database", report.database),
        ("warning", report.warnings),
    ]:
        for item in items:
            click.echo(f"{label}: {item}")
    if report.removed:
        click.echo(f"removed {len(report.removed)} orphan/temporary files")
    click.echo("consistency: ok" if report.ok else "consistency: PROBLEMS (see above)")
    svc.close()
    sys.exit(0 if ok else 1)


@click.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document of the HTTP API."""
    import tempfile

    from service.api import create_app, openapi_json
    from service.core import Service
    from service.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:  # the schema needs no data: a throwaway database
        svc = Service(Settings(immediate=True, data_dir=tmp, database_url=f"sqlite:///{tmp}/o.db", redis_url=None))
        click.echo(openapi_json(create_app(svc)))
        svc.close()


COMMANDS.extend([serve, worker, tokens, db, doctor, openapi])
