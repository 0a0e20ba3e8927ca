"""Linked orders: brackets (an entry and its exits) and the rules every broker and the engine
apply to a parent and its children.

A *child* (``OrderRequest.parent_id`` set) is an exit of its parent: the same symbol, the
opposite side, and together the children never close more than the parent opens — children
that share an ``oco_group`` count once (the largest of them), since a fill of one reduces the
others. So a child cannot open a position on its own; it only takes back what its entry
brought (the risk manager counts it as risk-reducing).

Example:
    >>> from tradelab.brokers import OrderRequest, bracket
    >>> entry = OrderRequest(client_order_id="e1", symbol="AAA", side="buy", quantity=10,
    ...                      order_type="limit", limit_price=100.0, time_in_force="GTC")
    >>> entry, take_profit, stop_loss = bracket(entry, take_profit=110.0, stop_loss=95.0)
    >>> take_profit.client_order_id, take_profit.side, take_profit.limit_price
    ('e1.tp', 'sell', 110.0)
    >>> stop_loss.order_type, stop_loss.parent_id, stop_loss.oco_group
    ('stop', 'e1', 'e1')
"""

from __future__ import annotations

from collections.abc import Sequence

from tradelab.brokers.records import OrderRequest
from tradelab.errors import OrderError

__all__ = ["bracket", "check_child", "check_group", "exit_capacity_used"]

_TOLERANCE = 1e-9


def _entry_reference(entry: OrderRequest) -> float | None:
    """The price an entry is expected to fill near: its limit, else its stop (market: none)."""
    if entry.limit_price is not None:
        return entry.limit_price
    return entry.stop_price


def bracket(
    entry: OrderRequest,
    take_profit: float,
    stop_loss: float,
    *,
    take_profit_id: str | None = None,
    stop_loss_id: str | None = None,
    oco_group: str | None = None,
    reference: float | None = None,
) -> tuple[OrderRequest, OrderRequest, OrderRequest]:
    """An entry with a take-profit limit and a stop-loss stop: the exits are the opposite
    side, the entry's quantity, GTC, children of the entry (``parent_id``) and one OCO group.

    For a buy entry ``stop_loss < reference < take_profit``, for a sell entry the reverse,
    where the reference is the entry's limit (or stop) price, else ``reference`` (the live
    engine gives the last price for a market entry); without either, the exits only need to be
    on the right sides of each other.

    Args:
        entry: The entry order (no ``parent_id`` and no ``oco_group`` of its own).
        take_profit: Limit price of the profit-taking exit.
        stop_loss: Stop price of the loss-limiting exit.
        take_profit_id: Client order id of the take-profit (default ``"<entry id>.tp"``).
        stop_loss_id: Client order id of the stop-loss (default ``"<entry id>.sl"``).
        oco_group: The exits' group (default: the entry's client order id).
        reference: The price to check the exits against when the entry has no limit or stop
            price (a market or trailing entry), e.g. the last price.

    Returns:
        ``(entry, take_profit_order, stop_loss_order)``.

    Raises:
        OrderError: An exit price on the wrong side (the message names the field and the
            value), or ids that do not fit.
    """
    if entry.parent_id is not None or entry.oco_group is not None:
        raise OrderError(f"bracket entry {entry.client_order_id!r} has parent_id/oco_group set; "
                         "an entry of a bracket is a plain order")
    buy = entry.side == "buy"
    prices = {}
    for name, value in (("take_profit", take_profit), ("stop_loss", stop_loss)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or \
                value == float("inf"):
            raise OrderError(f"bracket field {name!r}: got {value!r}; give a finite price > 0")
        prices[name] = float(value)
    own = _entry_reference(entry)
    reference = own if own is not None else reference
    low, high = ("stop_loss", "take_profit") if buy else ("take_profit", "stop_loss")
    where = f" the entry at {reference:g}" if reference is not None else " each other"
    if reference is not None:
        for name, above in ((high, True), (low, False)):
            wrong = prices[name] <= reference if above else prices[name] >= reference
            if wrong:
                raise OrderError(
                    f"bracket field {name!r}: got {prices[name]:g}; for a {entry.side} entry at "
                    f"{reference:g} the take-profit must be {'above' if buy else 'below'} it and "
                    f"the stop-loss {'below' if buy else 'above'} it. Nothing was sent")
    if prices[low] >= prices[high]:
        raise OrderError(
            f"bracket field 'take_profit': got {prices['take_profit']:g} with stop_loss "
            f"{prices['stop_loss']:g}; for a {entry.side} entry the take-profit must be "
            f"{'above' if buy else 'below'} the stop-loss (and{where}). Nothing was sent")
    base = entry.client_order_id
    ids = {"take_profit": take_profit_id or f"{base}.tp", "stop_loss": stop_loss_id or f"{base}.sl"}
    exit_side = "sell" if buy else "buy"
    common = {"symbol": entry.symbol, "side": exit_side, "quantity": entry.quantity,
              "time_in_force": "GTC", "extended_hours": entry.extended_hours,
              "parent_id": base, "oco_group": oco_group or base}
    try:
        profit = OrderRequest(client_order_id=ids["take_profit"], order_type="limit",
                              limit_price=prices["take_profit"], **common)
        loss = OrderRequest(client_order_id=ids["stop_loss"], order_type="stop",
                            stop_price=prices["stop_loss"], **common)
    except OrderError as exc:
        raise OrderError(f"bracket of {base!r}: {exc} (entry ids longer than 61 characters "
                         "need take_profit_id and stop_loss_id)") from exc
    if len({base, profit.client_order_id, loss.client_order_id}) != 3:
        raise OrderError(f"bracket of {base!r}: the entry and its exits need three different "
                         "client order ids")
    return entry, profit, loss


def exit_capacity_used(children: Sequence[OrderRequest]) -> float:
    """Shares the children can close at most: children of one OCO group count once (the
    largest), the others add up."""
    groups: dict[str, float] = {}
    total = 0.0
    for child in children:
        if child.oco_group is None:
            total += child.quantity
        else:
            groups[child.oco_group] = max(groups.get(child.oco_group, 0.0), child.quantity)
    return total + sum(groups.values())


def check_child(parent: OrderRequest, child: OrderRequest,
                siblings: Sequence[OrderRequest] = ()) -> None:
    """Refuse a child that could do more than close what its parent opens.

    Args:
        parent: The parent's request.
        child: The new child (``child.parent_id == parent.client_order_id``).
        siblings: The parent's other children already placed (still open or filled).

    Raises:
        OrderError: Another symbol, the same side, or more shares than the parent leaves to
            close (the message says which).
    """
    name = child.client_order_id
    if child.parent_id != parent.client_order_id:
        raise OrderError(f"order {name!r} names parent {child.parent_id!r}, not "
                         f"{parent.client_order_id!r}")
    if child.symbol != parent.symbol:
        raise OrderError(f"order field 'symbol': child {name!r} trades {child.symbol}, its parent "
                         f"{parent.client_order_id!r} {parent.symbol}; a child exits its parent's "
                         "position, in the same symbol")
    if child.side == parent.side:
        raise OrderError(f"order field 'side': child {name!r} is a {child.side} like its parent "
                         f"{parent.client_order_id!r}; a child is an exit, on the opposite side")
    used = exit_capacity_used([*siblings, child])
    if used > parent.quantity + _TOLERANCE:
        raise OrderError(
            f"order field 'quantity': the children of {parent.client_order_id!r} could close "
            f"{used:g} shares, more than the {parent.quantity:g} it opens; give them one "
            f"oco_group or smaller quantities")


def check_group(requests: Sequence[OrderRequest]) -> tuple[OrderRequest, list[OrderRequest]]:
    """Check a parent and its children sent together: the first is the parent, every other
    names it in ``parent_id``; ids are distinct.

    Returns:
        ``(parent, children)``.

    Raises:
        OrderError: The group is empty, its first order has a parent, an id repeats, or a
            child breaks :func:`check_child`.
    """
    if not requests:
        raise OrderError("a linked group needs a parent and at least one child; got nothing")
    parent, *children = requests
    if parent.parent_id is not None:
        raise OrderError(f"the first order of a group is its parent; {parent.client_order_id!r} "
                         f"names parent {parent.parent_id!r}")
    if not children:
        raise OrderError(f"group of {parent.client_order_id!r} has no children; send a single "
                         "order on its own")
    ids = [r.client_order_id for r in requests]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise OrderError(f"client_order_id(s) {', '.join(map(repr, repeated))} appear twice in "
                         "one group")
    for index, child in enumerate(children):
        check_child(parent, child, children[:index])
    return parent, list(children)

