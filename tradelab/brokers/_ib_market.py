"""Market data of the IB broker: contract lookups, real-time bars, daily history, last prices,
and the account views built from ib_async's cached positions, portfolio and account values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from ib_async import IB, Contract, RealTimeBarList, Stock

from tradelab.brokers._ib_connection import event_handler
from tradelab.brokers._ib_pacing import RequestPacer
from tradelab.brokers.records import Bar, BrokerPosition
from tradelab.errors import BrokerError, OrderError

__all__ = ["IBMarketData", "account_values", "portfolio_marks", "position_view"]

_log = logging.getLogger("tradelab.brokers.ib")


def as_utc(moment: datetime | date) -> datetime:
    """A timezone-aware UTC datetime; a date (a daily bar) becomes midnight UTC of that day."""
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def number(value: Any) -> float | None:
    """A float, or ``None`` for text and IB's unset marker (the largest float)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if abs(result) < 1e300 else None


def duration_for(count: int | None) -> str:
    """An IB duration covering ``count`` daily bars, weekends and holidays included.

    Example:
        >>> duration_for(20), duration_for(400), duration_for(None)
        ('38 D', '2 Y', '1 Y')
    """
    if count is None:
        return "1 Y"
    days = count * 7 // 5 + 10
    return f"{days} D" if days <= 365 else f"{-(-days // 365)} Y"


# ---------------------------------------------------------------------- account views
def portfolio_marks(ib: IB, account: str) -> dict[str, float]:
    """IB's latest mark per held stock (from the account-updates portfolio)."""
    marks = {}
    for item in ib.portfolio(account):
        price = number(item.marketPrice)
        if item.contract.secType == "STK" and price and price > 0:
            marks[item.contract.symbol] = price
    return marks


def position_view(ib: IB, account: str, prices: Mapping[str, float]) -> dict[str, BrokerPosition]:
    """Non-zero stock positions, marked at ``prices`` (live bars), else IB's mark, else cost."""
    marks = portfolio_marks(ib, account)
    view = {}
    for position in ib.positions(account):
        quantity = float(position.position)
        if position.contract.secType != "STK" or not quantity:
            continue
        symbol = position.contract.symbol
        price = prices.get(symbol) or marks.get(symbol) or position.avgCost
        view[symbol] = BrokerPosition(
            symbol=symbol,
            quantity=quantity,
            average_cost=float(position.avgCost),
            market_price=float(price),
        )
    return view


def account_values(ib: IB, account: str) -> dict[str, float]:
    """Numeric account values by tag (the ``BASE`` currency row where IB sends several)."""
    values: dict[str, float] = {}
    for item in ib.accountValues(account):
        value = number(item.value)
        if item.modelCode or value is None:
            continue
        if item.tag not in values or item.currency == "BASE":
            values[item.tag] = value
    return values


# ---------------------------------------------------------------------- market data
class IBMarketData:
    """Contracts, bar streams, history and prices for the IB broker.

    Args:
        ib: The broker's ib_async client.
        pacer: The message pacer every request waits on.
        history_pacer: The historical-data pacer.
        timeout: Seconds to wait for one answer.
        emit: The broker's event fan-out (``"bar"`` events).
        require_socket: Raises :class:`BrokerError` when no request can be sent now.
    """

    def __init__(
        self,
        ib: IB,
        *,
        pacer: RequestPacer,
        history_pacer: RequestPacer,
        timeout: float,
        emit: Callable[[str, Any], None],
        require_socket: Callable[[str], None],
    ) -> None:
        self._ib = ib
        self._pacer = pacer
        self._history_pacer = history_pacer
        self._timeout = timeout
        self._emit = emit
        self._require_socket = require_socket
        self._lookup_lock = asyncio.Lock()
        self._contracts: dict[str, Contract | None] = {}
        self.symbols: list[str] = []  # bar subscriptions, kept across reconnects
        self._streams: dict[str, RealTimeBarList] = {}
        self._bar_times: dict[str, datetime] = {}
        self.prices: dict[str, float] = {}  # latest real-time bar close
        self._closes: dict[str, float] = {}  # latest historical close

    # ------------------------------------------------------------------ contracts
    async def contract(self, symbol: str) -> Contract:
        """The qualified US stock (SMART, USD), looked up once per symbol.

        Raises:
            OrderError: IB does not know it (or it is ambiguous).
            BrokerError: Not connected, or no answer in time.
        """
        if symbol not in self._contracts:
            async with self._lookup_lock:  # one lookup per symbol, however many callers
                if symbol not in self._contracts:
                    self._contracts[symbol] = await self._qualify(symbol)
        contract = self._contracts[symbol]
        if contract is None:
            raise OrderError(
                f"unknown symbol {symbol!r}: IB has no single US stock of that name (SMART, USD)"
            )
        return contract

    async def _qualify(self, symbol: str) -> Contract | None:
        self._require_socket(f"look up {symbol!r}")
        await self._pacer.acquire()
        try:
            result = await asyncio.wait_for(
                self._ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD")), self._timeout
            )
        except TimeoutError as exc:
            raise BrokerError(
                f"IB did not answer the lookup of {symbol!r} within {self._timeout} s"
            ) from exc
        except ConnectionError as exc:
            raise BrokerError(f"the connection to IB closed while looking up {symbol!r}") from exc
        found = result[0] if result else None
        return found if isinstance(found, Contract) else None

    # ------------------------------------------------------------------ bars
    async def subscribe(self, symbols: Sequence[str], *, live: bool) -> None:
        """Add bar subscriptions; start them now when ``live``."""
        for symbol in symbols:
            if symbol not in self.symbols:
                if live:
                    await self._start(symbol)
                self.symbols.append(symbol)

    async def _start(self, symbol: str) -> None:
        contract = await self.contract(symbol)
        await self._pacer.acquire()
        self._streams[symbol] = self._ib.reqRealTimeBars(contract, 5, "TRADES", False)

    async def resubscribe(self, *, restart: bool = False) -> None:
        """Start every subscribed stream not running (``restart``: cancel and restart all,
        after IB's error 1101 "data lost")."""
        if restart:
            for bars in list(self._streams.values()):
                await self._pacer.acquire()
                self._ib.cancelRealTimeBars(bars)
            self._streams.clear()
        for symbol in self.symbols:
            if symbol not in self._streams:
                await self._start(symbol)

    def forget_streams(self) -> None:
        """Drop the streams (they die with the connection)."""
        self._streams.clear()

    @event_handler
    def on_bar_update(self, bars: Any, has_new_bar: bool) -> None:
        """ib_async's ``barUpdateEvent``: emit each new 5-second bar once, as a ``Bar``."""
        symbol = getattr(getattr(bars, "contract", None), "symbol", "")
        if not has_new_bar or not bars or self._streams.get(symbol) is not bars:
            return
        raw = bars[-1]
        stamp = as_utc(raw.time)
        latest = self._bar_times.get(symbol)
        if latest is not None and stamp <= latest:
            return
        self._bar_times[symbol] = stamp
        bar = Bar(
            symbol=symbol,
            timestamp=stamp,
            open=float(raw.open_),
            high=float(raw.high),
            low=float(raw.low),
            close=float(raw.close),
            volume=float(raw.volume),
        )
        self.prices[symbol] = bar.close
        self._emit("bar", bar)

    # ------------------------------------------------------------------ history, prices
    async def history(self, symbol: str, count: int | None) -> list[Bar]:
        """The last ``count`` daily bars (TRADES, regular hours), oldest first."""
        if count is not None and count < 1:
            return []
        contract = await self.contract(symbol)
        self._require_socket(f"download the history of {symbol!r}")
        await self._history_pacer.acquire()
        await self._pacer.acquire()
        raw = await self._ib.reqHistoricalDataAsync(
            contract, "", duration_for(count), "1 day", "TRADES", True, 1, timeout=self._timeout
        )
        if not raw:
            _log.warning("IB sent no daily bars of %s (see the IB error logged above)", symbol)
        bars = [
            Bar(
                symbol=symbol,
                timestamp=as_utc(b.date),
                open=float(b.open),
                high=float(b.high),
                low=float(b.low),
                close=float(b.close),
                volume=float(b.volume),
            )
            for b in raw
        ]
        if bars:
            self._closes[symbol] = bars[-1].close
        return bars if count is None else bars[-count:]

    def last_price(self, symbol: str, marks: Mapping[str, float]) -> float | None:
        """The latest bar close, else IB's mark in ``marks``, else the latest daily close."""
        price = self.prices.get(symbol)
        if price is None:
            price = marks.get(symbol)
        return price if price is not None else self._closes.get(symbol)
