"""Opening the audit database: the engine, SQLite's pragmas and transactions, portable upserts."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, create_engine, event, insert, update
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from tradelab.audit._schema import metadata
from tradelab.audit._upgrade import upgrade
from tradelab.audit.config import AuditConfig, mask_url, sqlite_file
from tradelab.errors import AuditError

_log = logging.getLogger(__name__)

WRITE_OPTION = "tradelab_audit_write"
"""Execution option marking a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""


def open_engine(config: AuditConfig) -> tuple[Engine, URL]:
    """Create the engine, the SQLite file's directory and the tables.

    Raises:
        AuditError: The directory, the database or its driver cannot be opened; the message
            names the (password-masked) URL.
    """
    url = config.resolved_url()
    shown = mask_url(url)
    path = sqlite_file(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(
                f"audit log {shown}: cannot create the directory {str(path.parent)!r} "
                f"({exc.strerror or exc}). Give AuditConfig.url a writable path, or fix the "
                "permissions (a file of that name is in the way?)."
            ) from exc
    try:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False},
                pool_size=8,
                max_overflow=8,
            )
            _install_sqlite_hooks(engine, config)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise AuditError(
            f"audit log {shown}: no database driver for this URL ({exc}). Install the driver "
            "(PostgreSQL: `pip install psycopg[binary]` and a 'postgresql+psycopg://' URL)."
        ) from exc
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        raise AuditError(f"audit log {shown}: cannot create the engine ({exc}).") from exc
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
            metadata.create_all(connection)
        upgrade(engine, {WRITE_OPTION: True})
    except (SQLAlchemyError, RuntimeError) as exc:
        engine.dispose()
        where = f"the file {str(path)!r}" if path is not None else "the database"
        raise AuditError(
            f"audit log {shown}: cannot open {where} and create its tables "
            f"({db_reason(exc)}). Check that it is reachable and writable (path, permissions, "
            "disk space, credentials), or give another AuditConfig.url."
        ) from exc
    return engine, url


def _install_sqlite_hooks(engine: Engine, config: AuditConfig) -> None:
    """WAL, the configured ``synchronous``, ``busy_timeout`` and foreign keys on every connection;
    transactions begun by us (``BEGIN IMMEDIATE`` for writes, so two writers never deadlock on a
    lock upgrade, which ``busy_timeout`` cannot resolve in WAL mode)."""
    busy_ms = int(config.busy_timeout * 1000)
    synchronous = config.sqlite_synchronous

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not emit BEGIN/COMMIT itself
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                _log.warning("audit log: SQLite refused WAL mode (journal_mode is %s)", mode)
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def upsert(
    connection: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> None:
    """Insert ``values`` or, when a row with the same ``keys`` exists, overwrite it."""
    dialect = connection.dialect.name
    changes = {name: value for name, value in values.items() if name not in keys}
    if dialect in ("sqlite", "postgresql"):
        statement = _dialect_insert(dialect, table).values(**values)
        connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
        return
    where = [table.c[key] == values[key] for key in keys]
    if connection.execute(update(table).where(*where).values(**changes)).rowcount == 0:
        connection.execute(insert(table).values(**values))


def insert_new(connection: Connection, table: Table, values: Mapping[str, Any], key: str) -> bool:
    """Insert ``values`` unless a row with the same unique ``key`` exists; whether it was new."""
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        statement = _dialect_insert(dialect, table).values(**values)
        result = connection.execute(statement.on_conflict_do_nothing(index_elements=[key]))
        return result.rowcount == 1
    exists = connection.execute(
        table.select().with_only_columns(table.c[key]).where(table.c[key] == values[key])
    ).first()
    if exists is not None:
        return False
    connection.execute(insert(table).values(**values))
    return True


def _dialect_insert(dialect: str, table: Table) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    return postgresql_insert(table)


def db_reason(exc: SQLAlchemyError) -> str:
    """The database's own words, without SQLAlchemy's statement dump."""
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).splitlines()[0]
