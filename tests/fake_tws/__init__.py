"""A wire-level fake TWS / IB Gateway for tests of code that uses the real ib_async client.

``FakeTWS`` listens on 127.0.0.1, speaks the TWS socket protocol (server version 176 by
default) and keeps orders, executions and positions across client reconnects.
``IBDecodeGuard`` turns ib_async's swallowed decode errors into test failures; the pytest
fixtures live in ``tests.fake_tws.fixtures``.
"""

from __future__ import annotations

from tests.fake_tws._history import HistoricalQuery
from tests.fake_tws._session import ReceivedMessage
from tests.fake_tws._state import FakeExecution, FakeOrder, FakePosition
from tests.fake_tws.guard import IBDecodeError, IBDecodeGuard
from tests.fake_tws.server import DEFAULT_SYMBOLS, FakeTWS, known_symbols

__all__ = [
    "DEFAULT_SYMBOLS",
    "FakeExecution",
    "FakeOrder",
    "FakePosition",
    "FakeTWS",
    "HistoricalQuery",
    "IBDecodeError",
    "IBDecodeGuard",
    "ReceivedMessage",
    "known_symbols",
]
