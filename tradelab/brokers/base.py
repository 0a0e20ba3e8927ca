"""The Broker protocol every broker implements, and the event fan-out they share.

Brokers are asynchronous: they run inside an event loop (Ray Serve's, or ``asyncio.run``), and
tell listeners what happened (bars, order updates, fills, connection changes) by calling them on
that loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from tradelab.brokers.records import (
    AccountSnapshot,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRequest,
)

__all__ = ["Broker", "BrokerEvents", "EventKind", "Listener"]

EventKind = Literal["bar", "order", "fill", "connection"]
#: A listener gets the event kind and its payload: a ``Bar``, a ``BrokerOrder``, a ``Fill``, or
#: for ``"connection"`` a dict ``{"connected": bool, "reason": str}``.
Listener = Callable[[EventKind, Any], None]

_log = logging.getLogger(__name__)


@runtime_checkable
class Broker(Protocol):
    """What the live trader needs from a broker.

    Every method that talks to the broker is a coroutine. ``place_order`` is idempotent on
    ``client_order_id``: a second call with an id the broker already holds returns the existing
    order and sends nothing.
    """

    name: str

    @property
    def connected(self) -> bool:
        """Whether orders can be sent now."""
        ...

    async def connect(self) -> None:
        """Connect (and start the bar streams already subscribed)."""
        ...

    async def disconnect(self) -> None:
        """Disconnect; open orders stay at the broker."""
        ...

    async def has_symbol(self, symbol: str) -> bool:
        """Whether ``symbol`` can be traded here (IB: the contract qualifies)."""
        ...

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Send an order, or return the existing one with the same ``client_order_id``."""
        ...

    async def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel an open order (a terminal order is returned unchanged)."""
        ...

    async def modify_order(
        self,
        client_order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder:
        """Change an open order's quantity or prices."""
        ...

    async def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Every order of this session (or only the open ones), oldest first."""
        ...

    async def positions(self) -> dict[str, BrokerPosition]:
        """Non-zero positions by symbol."""
        ...

    async def account(self) -> AccountSnapshot:
        """Cash, equity and positions now."""
        ...

    async def fills(self) -> list[Fill]:
        """Every fill of this session, oldest first."""
        ...

    async def subscribe_bars(self, symbols: Sequence[str]) -> None:
        """Start streaming bars of ``symbols`` to the listeners (``"bar"`` events)."""
        ...

    async def history(self, symbol: str, count: int | None = None) -> list[Bar]:
        """Recent bars of ``symbol`` (the last ``count``), oldest first: a live strategy's
        warm-up."""
        ...

    def last_price(self, symbol: str) -> float | None:
        """The latest price seen for ``symbol`` (``None`` if none yet)."""
        ...

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` for every event from now on."""
        ...

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        ...


class BrokerEvents:
    """Listener registry: brokers inherit it and call :meth:`emit`.

    A listener that raises is logged and kept: one bad subscriber must not stop fills reaching
    the others (the audit log among them).
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` for every event from now on."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (no error if it was not registered)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, kind: EventKind, payload: Any) -> None:
        """Deliver one event to every listener, in registration order."""
        for listener in tuple(self._listeners):
            try:
                listener(kind, payload)
            except Exception:  # a listener's bug must not break the broker
                _log.exception("broker listener %r failed on a %s event", listener, kind)
