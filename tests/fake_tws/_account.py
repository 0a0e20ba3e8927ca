"""Positions and account requests of the fake gateway: reqPositions, reqAccountUpdates,
reqAccountUpdatesMulti, reqAccountSummary, and the pushes that follow fills."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tests.fake_tws import _messages as msg
from tests.fake_tws._session import Session
from tests.fake_tws._state import Book, Instrument
from tests.fake_tws._wire import FieldReader

if TYPE_CHECKING:
    from tests.fake_tws._gateway import Gateway

_SUMMARY_TAGS = {
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "GrossPositionValue",
    "InitMarginReq",
    "MaintMarginReq",
    "AvailableFunds",
    "ExcessLiquidity",
}


class AccountDesk:
    """Answers position and account requests for the gateway and pushes updates.

    Args:
        gateway: The owning gateway (for the book and the sessions).
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def handlers(self) -> dict[int, Callable[[Session, list[str]], object]]:
        """Request handlers by incoming message id."""
        return {
            msg.REQ_POSITIONS: self._positions,
            msg.CANCEL_POSITIONS: self._cancel_positions,
            msg.REQ_ACCOUNT_UPDATES: self._account_updates,
            msg.REQ_ACCOUNT_UPDATES_MULTI: self._account_updates_multi,
            msg.CANCEL_ACCOUNT_UPDATES_MULTI: self._ignore,
            msg.REQ_ACCOUNT_SUMMARY: self._account_summary,
            msg.CANCEL_ACCOUNT_SUMMARY: self._ignore,
        }

    @property
    def book(self) -> Book:
        """The gateway's server-side state."""
        return self.gateway.book

    def _ignore(self, session: Session, fields: list[str]) -> None:
        pass

    def _positions(self, session: Session, fields: list[str]) -> None:
        session.positions_subscribed = True
        for pos in self.book.position_views():
            instrument = self.book.instruments[pos.symbol]
            session.send(msg.position(self.book.account, instrument, pos.quantity, pos.avg_cost))
        session.send(msg.position_end())

    def _cancel_positions(self, session: Session, fields: list[str]) -> None:
        session.positions_subscribed = False

    def _account_value_rows(self) -> list[tuple[str, str, str]]:
        rows = [("AccountCode", self.book.account, ""), ("AccountType", "INDIVIDUAL", "")]
        for tag, value in self.book.account_values().items():
            rows.append((tag, f"{value:.2f}", "USD"))
        return rows

    def _send_portfolio(self, session: Session, symbol: str) -> None:
        quantity, avg_cost = self.book.positions.get(symbol, (0.0, 0.0))
        session.send(
            msg.portfolio_value(
                self.book.instruments[symbol],
                quantity,
                self.book.mark(symbol),
                avg_cost,
                0.0,
                self.book.account,
            )
        )

    def _send_account(self, session: Session, symbols: Sequence[str] | None = None) -> None:
        """Account values, portfolio rows (all open positions, or just ``symbols``), time."""
        for tag, value, currency in self._account_value_rows():
            session.send(msg.account_value(tag, value, currency, self.book.account))
        if symbols is None:
            symbols = [pos.symbol for pos in self.book.position_views()]
        for symbol in symbols:
            self._send_portfolio(session, symbol)
        session.send(msg.account_time(datetime.now(UTC).strftime("%H:%M")))

    def _account_updates(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqAccountUpdates")
        reader.skip(2)  # 6, version 2
        subscribe = reader.flag()
        reader.skip(1)  # account code
        reader.expect_end()
        session.account_updates = subscribe
        if subscribe:
            self._send_account(session)
            session.send(msg.account_download_end(self.book.account))

    def _account_updates_multi(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqAccountUpdatesMulti")
        reader.skip(2)  # 76, version 1
        req_id = reader.integer()
        reader.skip(1)  # account
        model_code = reader.text()
        reader.skip(1)  # ledgerAndNLV
        reader.expect_end()
        for tag, value, currency in self._account_value_rows():
            session.send(
                msg.account_update_multi(
                    req_id, self.book.account, model_code, tag, value, currency
                )
            )
        session.send(msg.account_update_multi_end(req_id))

    def _account_summary(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqAccountSummary")
        reader.skip(2)  # 62, version 1
        req_id = reader.integer()
        reader.skip(1)  # group
        tags = set(reader.text().split(","))
        reader.expect_end()
        account = self.book.account
        if "AccountType" in tags:
            session.send(msg.account_summary(req_id, account, "AccountType", "INDIVIDUAL", ""))
        for tag, value in self.book.account_values().items():
            if tag in tags and tag in _SUMMARY_TAGS:
                session.send(msg.account_summary(req_id, account, tag, f"{value:.2f}", "USD"))
        session.send(msg.account_summary_end(req_id))

    def publish_position(self, instrument: Instrument) -> None:
        """Push one position to reqPositions subscribers and the account to account
        subscribers, after a fill or ``set_position``."""
        quantity, avg_cost = self.book.positions.get(instrument.symbol, (0.0, 0.0))
        for session in self.gateway.ready_sessions():
            if session.positions_subscribed:
                session.send(msg.position(self.book.account, instrument, quantity, avg_cost))
            if session.account_updates:
                self._send_account(session, [instrument.symbol])
