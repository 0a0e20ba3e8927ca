"""Brokers: the :class:`Broker` protocol, the embedded :class:`PaperBroker`, and ``IBBroker``.

Only :mod:`tradelab.brokers.ib` (and ``ib_history``) import ``ib_async``; ``IBBroker`` is loaded
from it on first use, so the paper path never needs it.

Example:
    >>> from tradelab.brokers import OrderRequest
    >>> OrderRequest(client_order_id="c-1", symbol="AAA", side="sell", quantity=5).order_type
    'market'
"""

from __future__ import annotations

from typing import Any

from tradelab.brokers.base import Broker, BrokerEvents, EventKind, Listener
from tradelab.brokers.ib_config import IB_PORTS, IBConfig
from tradelab.brokers.linked import bracket
from tradelab.brokers.paper import PaperBroker, PaperBrokerConfig, StreamConsumer
from tradelab.brokers.records import (
    ORDER_TYPES,
    TIMES_IN_FORCE,
    AccountSnapshot,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderStatus,
)
from tradelab.brokers.replay import bars_from_frames, replay_bars, synthetic_bars

__all__ = [
    "IB_PORTS",
    "ORDER_TYPES",
    "TIMES_IN_FORCE",
    "AccountSnapshot",
    "Bar",
    "Broker",
    "BrokerEvents",
    "BrokerOrder",
    "BrokerPosition",
    "EventKind",
    "Fill",
    "IBBroker",
    "IBConfig",
    "Listener",
    "OrderRequest",
    "OrderStatus",
    "PaperBroker",
    "PaperBrokerConfig",
    "StreamConsumer",
    "bars_from_frames",
    "bracket",
    "replay_bars",
    "synthetic_bars",
]

_LAZY = {"IBBroker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tradelab.brokers import ib

        return getattr(ib, name)
    raise AttributeError(f"module 'tradelab.brokers' has no attribute {name!r}")
