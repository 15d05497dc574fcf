"""What a process is wired to, said out loud, and refused when it cannot be right.

Several processes on several machines share one installation only through what they are told: the
database URL, the queue URL and the file store. A typo there does not fail: it quietly makes a
second installation (an empty SQLite database, its own queue, an empty `./gongkai-data`). So:

- every process prints its wiring at start (`wiring_line`): the database without its password, the
  queue, the store and the models directory;
- with a shared database (PostgreSQL) or a shared queue (Redis), the store must be named, absolute
  (`check_settings`): a relative or defaulted store is a folder of whichever directory the process
  was started in;
- the database records the id of the store it was made with (`ensure_store_id`, at first use); a
  process whose store carries another id, or none, refuses to start: a share that is not mounted, a
  different folder, another installation's store.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:
    from service.db import Database
    from service.settings import Settings

STORE_ID_FILE = "gongkai-store-id"  # at the store's root: the id the database records as `store_id`
STORE_ID_KEY = "store_id"
# a process that lost the first-use race reads the winner's id file: how long it waits for it
STORE_ID_WAIT_S = 5.0


class WiringError(Exception):
    """A configuration that would split the installation: the process refuses to start."""

    code = "misconfigured"


class StoreMismatch(WiringError):
    code = "store_mismatch"


class Wiring(BaseModel):
    """A process's wiring, as `gongkai status --json` and the start line give it."""

    database: str
    queue: str
    store: str
    models_dir: str
    shared: bool


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (user, host, port, database and options kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def models_dir(settings: Settings) -> Path:
    from extraction import registry

    return Path(settings.models_dir or registry.MODELS_DIR).resolve()


def wiring(settings: Settings) -> Wiring:
    if settings.immediate:
        queue = "immediate (jobs run inline)"
    elif settings.redis_url:
        queue = f"redis {redact_url(settings.redis_url)} (queue name {settings.queue_name!r})"
    else:
        queue = f"sqlite {settings.queue_path.resolve()}"
    return Wiring(
        database=redact_url(settings.db_url),
        queue=queue,
        store=str(settings.store_path.resolve()),
        models_dir=str(models_dir(settings)),
        shared=settings.shared,
    )


def wiring_line(settings: Settings, role: str) -> str:
    w = wiring(settings)
    line = f"gongkai {role}: database {w.database}; queue {w.queue}; store {w.store}; models {w.models_dir}"
    if not w.shared:
        line += " (single machine: only processes using this same data folder share work)"
    elif not settings.redis_url and not settings.immediate:
        line += (
            " (PostgreSQL with this machine's SQLite queue: workers elsewhere see a job only when their sweeper "
            "re-sends it, GONGKAI_REQUEUE_QUEUED_AFTER_S later; set REDIS_URL)"
        )
    return line


def check_settings(settings: Settings) -> None:
    """Refuse a shared database or queue with a store that is not named by an absolute path."""
    if not settings.shared or settings.immediate:
        return
    named = {"store_dir", "data_dir"} & settings.model_fields_set
    what = "REDIS_URL" if settings.redis_url else "DATABASE_URL (PostgreSQL)"
    if not named:
        raise WiringError(
            f"{what} is set, so other machines share this installation, but no file store is named: the "
            f"default ./gongkai-data/store would be a folder of wherever this process started. Set "
            f"GONGKAI_STORE_DIR to the absolute path of the shared store (the same one on every machine)"
        )
    source = "GONGKAI_STORE_DIR" if settings.store_dir is not None else "GONGKAI_DATA_DIR"
    given = settings.store_dir if settings.store_dir is not None else settings.data_dir
    if not Path(given).is_absolute():
        raise WiringError(
            f"{what} is set, so other machines share this installation, but {source}={given} is a relative "
            f"path: it depends on the folder each process starts in. Give the shared store's absolute path"
        )


def _read_id_file(store: Path) -> str | None:
    try:
        return (store / STORE_ID_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def _db_store_id(db: Database) -> str | None:
    from service.db import ServiceMeta

    with db.session() as s:
        row = s.get(ServiceMeta, STORE_ID_KEY)
        return row.value if row is not None else None


def _recent_first_use(db: Database) -> bool:
    """The store id was recorded a moment ago: its file may still be on its way."""
    import datetime as dt

    from service.db import ServiceMeta, utcnow

    with db.session() as s:
        row = s.get(ServiceMeta, STORE_ID_KEY)
        return row is not None and utcnow() - row.created_at < dt.timedelta(seconds=2 * STORE_ID_WAIT_S)


def _write_id_file(store: Path, store_id: str) -> None:
    store.mkdir(mode=0o700, parents=True, exist_ok=True)  # made here at first use: private, like the data folder
    tmp = store / f".{STORE_ID_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)  # private, as every file of the store
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(store_id + "\n")
    os.replace(tmp, store / STORE_ID_FILE)


def ensure_store_id(db: Database, store: Path) -> str:
    """The store's id, checked against the database's (recorded at first use). Raises StoreMismatch
    when the store is not the database's. The database row is written before the store's file, so a
    file without a row means another database's store, never a first use in progress."""
    from service.db import ServiceMeta

    store = Path(store)
    recorded = _db_store_id(db)
    found = _read_id_file(store)
    if recorded is None and found is not None:
        recorded = _db_store_id(db)  # a first use elsewhere may have finished between the two reads
        if recorded is None:
            raise StoreMismatch(
                f"the file store {store} belongs to another database (store id {found}); this database has "
                f"none yet. Point GONGKAI_STORE_DIR at this database's store, or DATABASE_URL at that "
                f"store's database (to give this database that store anyway, delete {store / STORE_ID_FILE})"
            )
    if recorded is None:  # first use: claim the store for this database
        new = uuid.uuid4().hex
        try:
            with db.session() as s:
                s.add(ServiceMeta(key=STORE_ID_KEY, value=new))
        except IntegrityError:
            recorded = _db_store_id(db)  # another process won the race: check against its id
        else:
            _write_id_file(store, new)
            return new
    deadline = time.monotonic() + (STORE_ID_WAIT_S if _recent_first_use(db) else 0.0)
    while found is None and time.monotonic() < deadline:  # the winner of a first use writes the file next
        time.sleep(0.1)
        found = _read_id_file(store)
    if found is None:
        state = "does not exist" if not store.exists() else "has no store id"
        raise StoreMismatch(
            f"the file store {store} {state}: it is not the store this database was made with (store id "
            f"{recorded}). Is the shared store mounted here? GONGKAI_STORE_DIR must name the same store on "
            f"every machine"
        )
    if found != recorded:
        raise StoreMismatch(
            f"the file store {store} has store id {found}, but this database was made with store {recorded}: "
            f"a different store. GONGKAI_STORE_DIR must name the same store on every machine"
        )
    return found
