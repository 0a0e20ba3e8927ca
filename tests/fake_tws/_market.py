"""Contract and market-data requests of the fake gateway: contract details, historical bars,
real-time bars and price ticks."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from tests.fake_tws import _messages as msg
from tests.fake_tws._history import (
    HistoricalProvider,
    HistoricalQuery,
    bar_rows,
    bar_rule,
    parse_end,
    select_bars,
)
from tests.fake_tws._requests import (
    ContractFields,
    read_contract,
    read_historical_data,
    read_market_data,
)
from tests.fake_tws._session import Session
from tests.fake_tws._state import Instrument
from tests.fake_tws._wire import FieldReader

if TYPE_CHECKING:
    from tests.fake_tws._gateway import Gateway

NO_SECURITY = "No security definition has been found for the request"
HMDS = "Historical Market Data Service error message:"


class MarketDesk:
    """Answers contract and market-data requests for the gateway.

    Args:
        gateway: The owning gateway (for the book and the sessions).
        historical_bars: Bars per symbol (a mapping of DataFrames with open/high/low/close/
            volume indexed by UTC timestamps, windowed and resampled by the fake) or a
            callable that receives a ``HistoricalQuery`` and returns the bars to send as-is.
        historical_request_limit: ``(count, seconds)``: more than ``count`` historical
            requests within ``seconds`` get error 162 (pacing violation), or None.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        historical_bars: HistoricalProvider | None,
        historical_request_limit: tuple[int, float] | None,
    ) -> None:
        self.gateway = gateway
        self.historical_bars = historical_bars
        self.historical_request_limit = historical_request_limit
        self._historical_times: deque[float] = deque()

    def handlers(self) -> dict[int, Callable[[Session, list[str]], object]]:
        """Request handlers by incoming message id."""
        return {
            msg.REQ_CONTRACT_DETAILS: self._contract_details,
            msg.REQ_HISTORICAL_DATA: self._historical_data,
            msg.CANCEL_HISTORICAL_DATA: self._ignore,
            msg.REQ_REAL_TIME_BARS: self._real_time_bars,
            msg.CANCEL_REAL_TIME_BARS: self._cancel_real_time_bars,
            msg.REQ_MKT_DATA: self._market_data,
            msg.CANCEL_MKT_DATA: self._cancel_market_data,
        }

    def _ignore(self, session: Session, fields: list[str]) -> None:
        pass

    def _lookup(self, contract: ContractFields) -> Instrument | None:
        instrument = self.gateway.book.instrument(
            symbol=contract.symbol or contract.local_symbol, con_id=contract.con_id
        )
        if instrument is None:
            return None
        if contract.sec_type not in {"", instrument.sec_type}:
            return None
        if contract.currency not in {"", instrument.currency}:
            return None
        return instrument

    # --- contract details ----------------------------------------------------------------

    def _contract_details(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqContractDetails")
        reader.skip(2)  # 9, version 8
        req_id = reader.integer()
        contract = read_contract(reader)
        reader.skip(3)  # includeExpired, secIdType, secId
        if session.version >= 176:
            reader.skip(1)  # issuerId
        reader.expect_end()
        instrument = self._lookup(contract)
        if instrument is None:
            self.gateway.error_to(session, req_id, 200, NO_SECURITY)
            return
        exchange = contract.exchange or "SMART"
        session.send(msg.contract_details(req_id, instrument, exchange, session.version))
        session.send(msg.contract_details_end(req_id))

    # --- historical bars -----------------------------------------------------------------

    def _paced_out(self) -> bool:
        if self.historical_request_limit is None:
            return False
        count, seconds = self.historical_request_limit
        now = time.monotonic()
        while self._historical_times and now - self._historical_times[0] > seconds:
            self._historical_times.popleft()
        if len(self._historical_times) >= count:
            return True
        self._historical_times.append(now)
        return False

    def _historical_data(self, session: Session, fields: list[str]) -> None:
        request = read_historical_data(fields)
        req_id = request.req_id
        if self._paced_out():
            self.gateway.error_to(
                session, req_id, 162, HMDS + "Historical data request pacing violation"
            )
            return
        instrument = self._lookup(request.contract)
        if instrument is None:
            self.gateway.error_to(session, req_id, 200, NO_SECURITY)
            return
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            query = HistoricalQuery(
                symbol=instrument.symbol,
                end=parse_end(request.end, now),
                duration=request.duration,
                bar_size=request.bar_size,
                what_to_show=request.what_to_show,
                use_rth=request.use_rth,
            )
            kind, _ = bar_rule(request.bar_size)
            frame = self._bars_for(query)
        except ValueError as exc:
            self.gateway.error_to(session, req_id, 162, HMDS + str(exc))
            return
        if frame is None or frame.empty:
            self.gateway.error_to(
                session,
                req_id,
                162,
                HMDS + f"HMDS query returned no data: {instrument.symbol}@SMART "
                f"{request.what_to_show.title()}",
            )
            return
        rows = bar_rows(frame, kind, request.format_date)
        start_text = pd.Timestamp(frame.index[0]).strftime("%Y%m%d %H:%M:%S UTC")
        end_text = query.end.strftime("%Y%m%d %H:%M:%S UTC")
        session.send(msg.historical_data(req_id, start_text, end_text, rows))

    def _bars_for(self, query: HistoricalQuery) -> pd.DataFrame | None:
        provider = self.historical_bars
        if provider is None:
            return None
        if isinstance(provider, Mapping):
            frame = provider.get(query.symbol)
            return None if frame is None else select_bars(frame, query)
        return provider(query)

    # --- real-time bars and ticks --------------------------------------------------------

    def _real_time_bars(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqRealTimeBars")
        reader.skip(2)  # 50, version 3
        req_id = reader.integer()
        contract = read_contract(reader)
        reader.skip(4)  # barSize, whatToShow, useRTH, realTimeBarsOptions
        reader.expect_end()
        instrument = self._lookup(contract)
        if instrument is None:
            self.gateway.error_to(session, req_id, 200, NO_SECURITY)
            return
        session.realtime_bars[req_id] = instrument.symbol

    def _cancel_real_time_bars(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "cancelRealTimeBars")
        reader.skip(2)
        session.realtime_bars.pop(reader.integer(), None)
        reader.expect_end()

    def push_realtime_bar(
        self,
        symbol: str,
        epoch_seconds: int,
        values: tuple[float, float, float, float, float, float, int],
    ) -> int:
        """Send one 5-second bar to every subscriber of ``symbol``; returns how many."""
        delivered = 0
        for session in self.gateway.ready_sessions():
            for req_id, subscribed in session.realtime_bars.items():
                if subscribed == symbol:
                    session.send(msg.real_time_bar(req_id, epoch_seconds, *values))
                    delivered += 1
        return delivered

    def realtime_subscribers(self, symbol: str | None = None) -> int:
        """Number of live reqRealTimeBars subscriptions (for ``symbol`` when given)."""
        return sum(
            1
            for session in self.gateway.ready_sessions()
            for subscribed in session.realtime_bars.values()
            if symbol is None or subscribed == symbol
        )

    def _market_data(self, session: Session, fields: list[str]) -> None:
        req_id, contract, snapshot = read_market_data(fields)
        instrument = self._lookup(contract)
        if instrument is None:
            self.gateway.error_to(session, req_id, 200, NO_SECURITY)
            return
        session.send(msg.market_data_type(req_id, 1))
        price = self.gateway.book.prices.get(instrument.symbol)
        if price is not None:
            session.send(msg.tick_price(req_id, 1, round(price - 0.01, 4), 100))
            session.send(msg.tick_price(req_id, 2, round(price + 0.01, 4), 100))
            session.send(msg.tick_price(req_id, 4, price, 100))
        if snapshot:
            session.send(msg.tick_snapshot_end(req_id))
        else:
            session.market_data[req_id] = instrument.symbol

    def _cancel_market_data(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "cancelMktData")
        reader.skip(2)
        session.market_data.pop(reader.integer(), None)
        reader.expect_end()

    def publish_price(self, symbol: str, price: float) -> None:
        """Push a last-price tick to streaming market-data subscribers of ``symbol``."""
        for session in self.gateway.ready_sessions():
            for req_id, subscribed in session.market_data.items():
                if subscribed == symbol:
                    session.send(msg.tick_price(req_id, 4, price, 100))
