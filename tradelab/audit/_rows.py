"""Records to table rows and back: times as fixed-width ISO-8601 UTC text, exact floats."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from tradelab.brokers.records import AccountSnapshot, BrokerOrder, Fill, OrderRequest, OrderStatus

TIME_FIELDS = frozenset({"recorded_at", "created_at", "updated_at", "timestamp", "snapshot_at"})


def time_text(value: datetime, what: str) -> str:
    """``value`` as ISO-8601 UTC text with microseconds; naive datetimes are refused."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be a timezone-aware datetime, got {value!r}; "
            "use e.g. datetime.now(UTC) (naive times are ambiguous in an audit log)"
        )
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def text_time(value: str | None) -> datetime | None:
    """The timezone-aware UTC datetime of a stored time (``None`` stays ``None``)."""
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def day_text(day: date) -> str:
    """A calendar day as ``YYYY-MM-DD``; a datetime is refused (say which day you mean)."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"day must be a datetime.date, got {day!r}")
    return day.isoformat()


def request_columns(request: OrderRequest) -> dict[str, Any]:
    """The columns shared by decisions, orders and events that describe the request."""
    return {
        "client_order_id": request.client_order_id,
        "symbol": request.symbol,
        "side": request.side,
        "quantity": request.quantity,
        "order_type": request.order_type,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
        "time_in_force": request.time_in_force,
        "extended_hours": bool(request.extended_hours),
        "parent_id": request.parent_id,
        "oco_group": request.oco_group,
        "trail_amount": request.trail_amount,
        "trail_percent": request.trail_percent,
    }


def order_columns(order: BrokerOrder) -> dict[str, Any]:
    """Every column of ``orders`` that a :class:`BrokerOrder` snapshot determines."""
    row = request_columns(order.request)
    row.update(
        broker_order_id=order.broker_order_id,
        status=OrderStatus(order.status).value,
        filled_quantity=float(order.filled_quantity),
        average_fill_price=(
            None if order.average_fill_price is None else float(order.average_fill_price)
        ),
        created_at=time_text(order.created_at, "BrokerOrder.created_at"),
        updated_at=time_text(order.updated_at, "BrokerOrder.updated_at"),
        reason=order.reason,
    )
    return row


def event_columns(order: BrokerOrder, kind: str, recorded_at: str) -> dict[str, Any]:
    """One ``order_events`` row: the order's state at this moment."""
    return {
        "client_order_id": order.client_order_id,
        "recorded_at": recorded_at,
        "kind": kind,
        "status": OrderStatus(order.status).value,
        "quantity": order.request.quantity,
        "limit_price": order.request.limit_price,
        "stop_price": order.request.stop_price,
        "filled_quantity": float(order.filled_quantity),
        "average_fill_price": (
            None if order.average_fill_price is None else float(order.average_fill_price)
        ),
        "broker_order_id": order.broker_order_id,
        "updated_at": time_text(order.updated_at, "BrokerOrder.updated_at"),
        "reason": order.reason,
    }


def order_from_row(row: Mapping[str, Any]) -> BrokerOrder:
    """Rebuild the :class:`BrokerOrder` (with its :class:`OrderRequest`) of an ``orders`` row."""
    request = OrderRequest(
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        quantity=row["quantity"],
        order_type=row["order_type"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        time_in_force=row["time_in_force"],
        extended_hours=bool(row["extended_hours"]),
        trail_amount=row.get("trail_amount"),
        trail_percent=row.get("trail_percent"),
        parent_id=row.get("parent_id"),
        oco_group=row.get("oco_group"),
    )
    return BrokerOrder(
        request=request,
        broker_order_id=row["broker_order_id"],
        status=OrderStatus(row["status"]),
        filled_quantity=row["filled_quantity"],
        average_fill_price=row["average_fill_price"],
        created_at=text_time(row["created_at"]),
        updated_at=text_time(row["updated_at"]),
        reason=row["reason"],
    )


def fill_columns(fill: Fill, recorded_at: str) -> dict[str, Any]:
    """One ``fills`` row."""
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "broker_order_id": fill.broker_order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": float(fill.quantity),
        "price": float(fill.price),
        "commission": float(fill.commission),
        "timestamp": time_text(fill.timestamp, "Fill.timestamp"),
        "recorded_at": recorded_at,
    }


def fill_from_row(row: Mapping[str, Any]) -> Fill:
    """Rebuild the :class:`Fill` of a ``fills`` row."""
    return Fill(
        fill_id=row["fill_id"],
        client_order_id=row["client_order_id"],
        broker_order_id=row["broker_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        quantity=row["quantity"],
        price=row["price"],
        commission=row["commission"],
        timestamp=text_time(row["timestamp"]),
    )


def summary_columns(
    day: date, account: AccountSnapshot, counts: Mapping[str, int], recorded_at: str
) -> dict[str, Any]:
    """One ``daily_summaries`` row."""
    return {
        "day": day_text(day),
        "account_id": account.account_id,
        "equity": float(account.equity),
        "cash": float(account.cash),
        "realized_pnl": float(account.realized_pnl),
        "commissions": float(account.commissions),
        "positions": json.dumps(
            {symbol: position.to_dict() for symbol, position in account.positions.items()},
            sort_keys=True,
        ),
        **counts,
        "snapshot_at": time_text(account.timestamp, "AccountSnapshot.timestamp"),
        "recorded_at": recorded_at,
    }


def plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as a dict with times as UTC datetimes, booleans as ``bool`` and JSON decoded."""
    data = dict(row)
    for key in TIME_FIELDS.intersection(data):
        data[key] = text_time(data[key])
    for key in ("approved", "accepted"):
        if key in data:
            data[key] = bool(data[key])
    if "day" in data:
        data["day"] = date.fromisoformat(data["day"])
    if "positions" in data:
        data["positions"] = json.loads(data["positions"])
    return data
