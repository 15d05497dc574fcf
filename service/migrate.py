"""Run the packaged Alembic migrations programmatically (works from an installed wheel: no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK = 0x67_6F6E_676B  # advisory lock id: two processes starting at once must not both migrate


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from service.db import make_engine

    cfg = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # a batch migration re-creates tables others reference: keys are checked after it
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # before any BEGIN: a no-op inside one
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    if broken:
                        raise RuntimeError(f"the migration left rows whose foreign keys fail: {broken[:10]}")
            finally:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
                    conn.commit()
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from service.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
