"""The audit log's tables (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Times are ISO-8601 UTC text of one fixed width (``2024-01-02T15:30:00.000000+00:00``): exact to
the microsecond, timezone-aware on read, sortable as text, and the same in every database (SQLite
has no timezone-aware type). Numbers are ``DOUBLE PRECISION``/``REAL``, so floats round-trip
exactly.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from tradelab.brokers.records import ORDER_TYPES, TIMES_IN_FORCE, OrderStatus

TIME = String(32)
"""Column type of a timestamp (ISO-8601 UTC text, fixed width)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


_STATUSES = tuple(status.value for status in OrderStatus)
_SIDES = ("buy", "sell")


def _link_columns() -> tuple[Column, ...]:
    """The request columns of linked and trailing orders (added in schema version 2): a
    child's parent, its OCO group, a trailing stop's distance. New columns each call (a
    column belongs to one table)."""
    return (
        Column("parent_id", String(64)),
        Column("oco_group", String(64)),
        Column("trail_amount", Double),
        Column("trail_percent", Double),
    )


risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded_at", TIME, nullable=False),
    Column("client_order_id", String(64), nullable=False, index=True),
    Column("symbol", String(20), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("limit_price", Double),
    Column("stop_price", Double),
    Column("time_in_force", String(8), nullable=False),
    Column("extended_hours", Boolean, nullable=False, server_default="0"),
    *_link_columns(),
    Column("approved", Boolean, nullable=False),
    Column("rule", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("trading_state", String(16)),
    Column("accepted", Boolean, nullable=False),
    Column("action", String(8), nullable=False, server_default="submit"),
    CheckConstraint(_one_of("action", ("submit", "modify")), name="action"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("broker_order_id", Text, nullable=False),
    Column("symbol", String(20), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("limit_price", Double),
    Column("stop_price", Double),
    Column("time_in_force", String(8), nullable=False),
    Column("extended_hours", Boolean, nullable=False, server_default="0"),
    *_link_columns(),
    Column("status", String(20), nullable=False, index=True),
    Column("filled_quantity", Double, nullable=False),
    Column("average_fill_price", Double),
    Column("created_at", TIME, nullable=False),
    Column("updated_at", TIME, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("recorded_at", TIME, nullable=False),
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("filled_quantity >= 0", name="filled_quantity"),
    CheckConstraint(_one_of("side", _SIDES), name="side"),
    CheckConstraint(_one_of("order_type", ORDER_TYPES), name="order_type"),
    CheckConstraint(_one_of("time_in_force", TIMES_IN_FORCE), name="time_in_force"),
    CheckConstraint(_one_of("status", _STATUSES), name="status"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "client_order_id",
        String(64),
        ForeignKey("orders.client_order_id"),
        nullable=False,
        index=True,
    ),
    Column("recorded_at", TIME, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("limit_price", Double),
    Column("stop_price", Double),
    Column("filled_quantity", Double, nullable=False),
    Column("average_fill_price", Double),
    Column("broker_order_id", Text, nullable=False),
    Column("updated_at", TIME, nullable=False),
    Column("reason", Text, nullable=False),
    CheckConstraint(_one_of("kind", ("submitted", "update", "discovered")), name="kind"),
    CheckConstraint(_one_of("status", _STATUSES), name="status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fill_id", Text, nullable=False, unique=True),
    Column("client_order_id", Text, nullable=False, index=True),
    Column("broker_order_id", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("price", Double, nullable=False),
    Column("commission", Double, nullable=False),
    Column("timestamp", TIME, nullable=False, index=True),
    Column("recorded_at", TIME, nullable=False),
    CheckConstraint(_one_of("side", _SIDES), name="side"),
)

state_changes = Table(
    "state_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", TIME),
    Column("recorded_at", TIME, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    Column("reason", Text, nullable=False),
    CheckConstraint(_one_of("kind", ("state_change", "daily_reset")), name="kind"),
)

daily_summaries = Table(
    "daily_summaries",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("equity", Double, nullable=False),
    Column("cash", Double, nullable=False),
    Column("realized_pnl", Double, nullable=False),
    Column("commissions", Double, nullable=False),
    Column("positions", Text, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("fills", Integer, nullable=False),
    Column("rejections", Integer, nullable=False),
    Column("trades", Integer, nullable=False, server_default="0"),
    Column("wins", Integer, nullable=False, server_default="0"),
    Column("day_pnl", Double),
    Column("snapshot_at", TIME, nullable=False),
    Column("recorded_at", TIME, nullable=False),
)

trader_values = Table(
    "trader_values",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", TIME, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded_at", TIME, nullable=False, index=True),
    Column("level", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", Text, nullable=False),
    Column("message", Text, nullable=False),
    CheckConstraint(_one_of("level", ("info", "warning", "critical")), name="level"),
)

limit_changes = Table(
    "limit_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded_at", TIME, nullable=False),
    Column("operator", Text, nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

TABLES = (
    risk_decisions,
    orders,
    order_events,
    fills,
    state_changes,
    daily_summaries,
    trader_values,
    alerts,
    limit_changes,
)
"""Every table, in the order :meth:`AuditLog.counts` reports them."""
