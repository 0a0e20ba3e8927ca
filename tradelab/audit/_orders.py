"""The ``orders`` and ``order_events`` tables inside one write transaction: insert, merge, refuse.

An order reaches the log two ways, in either sequence: the submission (request, decision, the
broker's answer) and the broker's stream of order updates (a broker may announce a new order to
its listeners before ``place_order`` returns). Whichever comes first inserts the row; the other
merges into it. Stale updates never move an order backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from tradelab.audit import _rows as rows
from tradelab.audit import _schema as schema
from tradelab.brokers.records import BrokerOrder, OrderStatus
from tradelab.errors import DuplicateOrderError, OrderError

_log = logging.getLogger(__name__)

# Columns whose change is worth an event; times alone are not.
_EVENT_COLUMNS = frozenset(
    {
        "status",
        "filled_quantity",
        "average_fill_price",
        "broker_order_id",
        "reason",
        "quantity",
        "limit_price",
        "stop_price",
        "order_type",
        "time_in_force",
        "parent_id",
        "oco_group",
        "trail_amount",
        "trail_percent",
    }
)


def stored_order(connection: Connection, client_order_id: str) -> Mapping[str, Any] | None:
    """The ``orders`` row of an id, locked for this transaction where the database can."""
    query = (
        select(schema.orders)
        .where(schema.orders.c.client_order_id == client_order_id)
        .with_for_update()
    )
    return connection.execute(query).mappings().first()


def submitted_before(connection: Connection, client_order_id: str) -> bool:
    """Whether an accepted submission of this id is already recorded."""
    decisions = schema.risk_decisions
    query = (
        select(decisions.c.id)
        .where(decisions.c.client_order_id == client_order_id, decisions.c.accepted.is_(True))
        .limit(1)
    )
    return connection.execute(query).first() is not None


def insert_order(
    connection: Connection, order: BrokerOrder, *, kind: str, source: str, recorded_at: str
) -> None:
    """A new ``orders`` row and its first event."""
    row = rows.order_columns(order)
    row.update(source=source, recorded_at=recorded_at)
    connection.execute(schema.orders.insert().values(**row))
    connection.execute(
        schema.order_events.insert().values(**rows.event_columns(order, kind, recorded_at))
    )


def merge_order(
    connection: Connection,
    stored: Mapping[str, Any],
    order: BrokerOrder,
    *,
    kind: str,
    recorded_at: str,
    source: str | None = None,
) -> bool:
    """Bring a stored order up to ``order``; whether an event was appended.

    The row takes every field of ``order`` unless ``order`` is stale (an open status after a
    terminal one, or fewer shares filled). An event is appended when a field other than the
    times changed, or always for ``kind="submitted"``. ``source`` replaces the row's source.

    Raises:
        OrderError: The stored order has another symbol or side (an id reused for another
            order).
    """
    new = rows.order_columns(order)
    coid = order.client_order_id
    if (stored["symbol"], stored["side"]) != (new["symbol"], new["side"]):
        raise OrderError(
            f"order {coid!r} is logged as {stored['side']} {stored['symbol']}, the new record "
            f"says {new['side']} {new['symbol']}; a client_order_id must never be reused "
            "for another order"
        )
    stale = is_stale(stored, new)
    if stale:
        _log.warning(
            "audit log: kept order %s at %s (%s filled); ignored the older state %s (%s filled)",
            coid,
            stored["status"],
            stored["filled_quantity"],
            new["status"],
            new["filled_quantity"],
        )
    changes = {} if stale else {k: v for k, v in new.items() if stored[k] != v}
    if source is not None and stored["source"] != source:
        changes["source"] = source
    if changes:
        connection.execute(
            update(schema.orders).where(schema.orders.c.client_order_id == coid).values(**changes)
        )
    if kind != "submitted" and not _EVENT_COLUMNS.intersection(changes):
        return False
    connection.execute(
        schema.order_events.insert().values(**rows.event_columns(order, kind, recorded_at))
    )
    return True


def is_stale(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """An open status after a terminal one, or fewer shares filled than already stored."""
    was_terminal = OrderStatus(stored["status"]).is_terminal
    now_terminal = OrderStatus(new["status"]).is_terminal
    return (was_terminal and not now_terminal) or new["filled_quantity"] < stored["filled_quantity"]


def duplicate_error(client_order_id: str) -> DuplicateOrderError:
    """The error for a second accepted submission of one id."""
    return DuplicateOrderError(
        f"order {client_order_id!r} was already submitted and is in the audit log; an accepted "
        "order is recorded once, and nothing of this submission was written. Give each new "
        "order its own client_order_id (AuditLog.has_order tells beforehand); the broker "
        "returns the existing order for a repeated id."
    )
