"""Bring an audit database written by an earlier tradelab up to the current tables.

``metadata.create_all`` makes missing tables but never changes existing ones. Two changes
since the first schema need more:

* the request columns of linked and trailing orders (``parent_id``, ``oco_group``,
  ``trail_amount``, ``trail_percent`` on ``risk_decisions`` and ``orders``): added as nullable
  columns (``ALTER TABLE ... ADD COLUMN``, portable);
* the ``orders.order_type`` CHECK, which must admit ``trailing_stop``: PostgreSQL replaces the
  constraint; SQLite cannot alter one, so the ``orders`` table is rebuilt with SQLite's
  documented procedure (foreign keys off, create, copy, drop, rename, check, on).

Each step runs only when needed, so opening a current database changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, inspect, text
from sqlalchemy.schema import CreateIndex, CreateTable

from tradelab.audit import _schema as schema
from tradelab.brokers.records import ORDER_TYPES

_log = logging.getLogger(__name__)

_UPGRADED_TABLES = (schema.risk_decisions, schema.orders)
_CHECK_NAME = "ck_orders_order_type"


def upgrade(engine: Engine, write_options: dict[str, bool]) -> list[str]:
    """Upgrade the tables of ``engine``'s database in place; returns what was done."""
    done = _add_columns(engine, write_options)
    newest = ORDER_TYPES[-1]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            sql = connection.execute(text(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
            )).scalar_one()
        if f"'{newest}'" not in sql:
            _rebuild_sqlite_orders(engine)
            done.append("orders: order_type check admits " + ", ".join(ORDER_TYPES))
    elif engine.dialect.name == "postgresql":
        with engine.execution_options(**write_options).begin() as connection:
            definition = connection.execute(text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"
            ), {"name": _CHECK_NAME}).scalar()
            if definition is not None and newest not in definition:
                allowed = ", ".join(f"'{kind}'" for kind in ORDER_TYPES)
                connection.execute(text(f"ALTER TABLE orders DROP CONSTRAINT {_CHECK_NAME}"))
                connection.execute(text(f"ALTER TABLE orders ADD CONSTRAINT {_CHECK_NAME} "
                                        f"CHECK (order_type IN ({allowed}))"))
                done.append("orders: order_type check admits " + ", ".join(ORDER_TYPES))
    for step in done:
        _log.warning("audit log upgraded: %s", step)
    return done


def _add_columns(engine: Engine, write_options: dict[str, bool]) -> list[str]:
    done = []
    with engine.execution_options(**write_options).begin() as connection:
        inspector = inspect(connection)
        for table in _UPGRADED_TABLES:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN "
                                        f"{column.name} {kind}"))
                done.append(f"{table.name}: added column {column.name}")
    return done


def _rebuild_sqlite_orders(engine: Engine) -> None:
    """SQLite's 12-step table change for ``orders`` (https://sqlite.org/lang_altertable.html)."""
    table = schema.orders
    create = str(CreateTable(table).compile(dialect=engine.dialect)).strip()
    create = create.replace("CREATE TABLE orders", "CREATE TABLE orders_new", 1)
    names = ", ".join(column.name for column in table.columns)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys = OFF")
        began = False
        try:
            cursor.execute("BEGIN IMMEDIATE")
            began = True
            cursor.execute(create)
            cursor.execute(f"INSERT INTO orders_new ({names}) SELECT {names} FROM orders")
            cursor.execute("DROP TABLE orders")
            cursor.execute("ALTER TABLE orders_new RENAME TO orders")
            for index in table.indexes:
                cursor.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
            problems = cursor.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise ValueError(f"foreign keys broken by the rebuild: {problems[:3]}")
            cursor.execute("COMMIT")
        except Exception as exc:
            if began:
                cursor.execute("ROLLBACK")
            raise RuntimeError(f"upgrading the orders table failed: {exc}") from exc
        finally:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()
    finally:
        raw.close()
