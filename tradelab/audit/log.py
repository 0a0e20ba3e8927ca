"""AuditLog: every order, fill, risk decision and trading-state change of live trading, durably."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tradelab.audit import _orders
from tradelab.audit import _rows as rows
from tradelab.audit import _schema as schema
from tradelab.audit._engine import WRITE_OPTION, db_reason, insert_new, open_engine, upsert
from tradelab.audit._operations import OperationsRecords
from tradelab.audit.config import AuditConfig, mask_url
from tradelab.brokers.records import AccountSnapshot, BrokerOrder, Fill, OrderStatus, utc_now
from tradelab.errors import AuditError, OrderError
from tradelab.risk.decisions import RiskEvent
from tradelab.risk.state import TradingState

if TYPE_CHECKING:
    from tradelab.live.outcome import SubmitOutcome

__all__ = ["AuditLog"]

_T = TypeVar("_T")

_OPEN_STATUSES = tuple(status.value for status in OrderStatus if not status.is_terminal)
_STATE_KINDS = ("state_change", "daily_reset")
_MAX_KEY = 200


class AuditLog(OperationsRecords):
    """The live trader's audit database: written before the API answers, read after a restart.

    Every write is one transaction committed before the method returns, so whatever the caller
    acknowledges afterwards is on disk (SQLite ``synchronous=FULL`` by default, see
    :class:`AuditConfig`). A write that fails raises :class:`~tradelab.errors.AuditError` and
    leaves nothing of its record behind. Thread-safe: one instance may be shared by the trading
    loop and a Backtrader strategy thread; each call takes its own pooled connection, and SQLite
    writers are serialized in-process and by ``BEGIN IMMEDIATE`` across processes.

    Tables: ``risk_decisions`` (every submission, approved or denied), ``orders`` (one row per
    accepted order, its latest state), ``order_events`` (each change of an order), ``fills``
    (unique ``fill_id``), ``state_changes`` (trading-state changes and new days),
    ``daily_summaries`` (one row per day) and ``trader_values`` (JSON key/value state).

    Duplicates: an accepted order is in the log exactly once. A second accepted submission of a
    ``client_order_id`` raises :class:`~tradelab.errors.DuplicateOrderError` and writes nothing
    (not even its decision); ask :meth:`has_order` before placing. The broker's update stream
    and the submission may reach the log in either order: whichever is first inserts the order,
    the other merges into it. A re-delivered fill is ignored; an order update that changes
    nothing adds no event; a stale one never moves an order backwards.

    Lists come oldest first; ``limit`` keeps the most recent rows. Times are timezone-aware UTC.

    Args:
        config: Where the database is; ``None`` for the embedded SQLite file
            ``<data_root>/live/audit.db``.

    Raises:
        AuditError: The database cannot be opened or its tables created.

    Example:
        >>> import tempfile
        >>> from tradelab.brokers import BrokerOrder, OrderRequest
        >>> from tradelab.live.outcome import SubmitOutcome
        >>> from tradelab.risk import RiskDecision
        >>> folder = tempfile.mkdtemp()
        >>> log = AuditLog(AuditConfig(url=f"sqlite:///{folder}/audit.db"))
        >>> request = OrderRequest(client_order_id="c-1", symbol="AAA", side="buy", quantity=10)
        >>> order = BrokerOrder(request=request, broker_order_id="P1")
        >>> approved = RiskDecision(approved=True, reason="within limits", rule="")
        >>> log.record_submission(SubmitOutcome(request=request, decision=approved, order=order))
        >>> log.order("c-1") == order, log.counts()["risk_decisions"]
        (True, 1)
        >>> log.close()
    """

    def __init__(self, config: AuditConfig | None = None) -> None:
        self._config = config if config is not None else AuditConfig()
        self._engine, url = open_engine(self._config)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._url = mask_url(url)
        # SQLite has one writer at a time: queue this process's writers here instead of in
        # SQLite's busy handler (which polls). Other databases lock rows themselves.
        sqlite = self._engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock() if sqlite else contextlib.nullcontext()
        self._closed = False

    def __repr__(self) -> str:
        return f"AuditLog(url={self._url!r}{', closed' if self._closed else ''})"

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return self._url

    @property
    def config(self) -> AuditConfig:
        """The configuration this log was opened with."""
        return self._config

    def close(self) -> None:
        """Close every pooled connection. Further calls raise :class:`AuditError`."""
        self._closed = True
        self._engine.dispose()

    # ------------------------------------------------------------------ writes
    def record_submission(
        self,
        outcome: SubmitOutcome,
        *,
        state: TradingState | str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record one order submission, approved or denied, in one transaction.

        Writes a ``risk_decisions`` row and, when ``outcome.order`` is set, the order's
        ``orders`` row and a ``submitted`` event: never a decision without its order. If the
        broker's update stream delivered the order first (see :meth:`record_order_update`), the
        submission adopts that row: it keeps the newer state and takes ``outcome.source``.

        Args:
            outcome: The request, the risk decision and the broker's order (``None`` if denied).
            state: The trading state the decision was taken in, if known.
            at: When it was recorded (default: now, UTC).

        Raises:
            DuplicateOrderError: An accepted submission with this ``client_order_id`` is
                already recorded; nothing was written (not even the decision).
            OrderError: ``outcome.order`` belongs to another request than ``outcome.request``,
                or the log holds another symbol or side under this id.
            AuditError: The database refused the write; nothing was written.
        """
        request, order = outcome.request, outcome.order
        if order is not None and order.client_order_id != request.client_order_id:
            raise OrderError(
                f"the outcome's order is {order.client_order_id!r} but its request is "
                f"{request.client_order_id!r}; record each submission with its own order"
            )
        recorded_at = self._now(at)
        decision_row = rows.request_columns(request)
        decision_row.update(
            recorded_at=recorded_at,
            approved=bool(outcome.decision.approved),
            rule=outcome.decision.rule,
            reason=outcome.decision.reason,
            source=outcome.source,
            trading_state=None if state is None else _state(state).value,
            accepted=order is not None,
        )

        def write(connection: Connection) -> None:
            stored = None
            if order is not None:
                if _orders.submitted_before(connection, order.client_order_id):
                    raise _orders.duplicate_error(order.client_order_id)
                stored = _orders.stored_order(connection, order.client_order_id)
            connection.execute(schema.risk_decisions.insert().values(**decision_row))
            if order is None:
                return
            if stored is None:
                _orders.insert_order(
                    connection,
                    order,
                    kind="submitted",
                    source=outcome.source,
                    recorded_at=recorded_at,
                )
            else:
                _orders.merge_order(
                    connection,
                    stored,
                    order,
                    kind="submitted",
                    recorded_at=recorded_at,
                    source=outcome.source,
                )

        self._transact("record a submission", write)

    def record_order_update(self, order: BrokerOrder, *, at: datetime | None = None) -> bool:
        """Store an order's latest state and append an event when something changed.

        The ``orders`` row becomes ``order`` (so :meth:`order` returns it). An event is appended
        when the status, filled quantity, average price, broker id, reason, quantity, type or
        prices changed; a repeated update adds none. A stale update (an open status for an order
        already terminal, or fewer shares filled than stored) changes nothing and is logged as a
        warning. An order the log does not hold yet (the broker announced it before the
        submission was recorded, or it was placed outside the trader) is inserted with a
        ``discovered`` event and source ``"broker"``.

        Returns:
            Whether an event was appended.

        Raises:
            OrderError: The log holds another symbol or side under this ``client_order_id``.
            AuditError: The database refused the write; nothing was written.
        """
        recorded_at = self._now(at)
        rows.order_columns(order)  # refuse naive times before opening a transaction

        def write(connection: Connection) -> bool:
            stored = _orders.stored_order(connection, order.client_order_id)
            if stored is None:
                _orders.insert_order(
                    connection, order, kind="discovered", source="broker", recorded_at=recorded_at
                )
                return True
            return _orders.merge_order(
                connection, stored, order, kind="update", recorded_at=recorded_at
            )

        return self._transact("record an order update", write)

    def record_fill(self, fill: Fill, *, at: datetime | None = None) -> bool:
        """Record an execution once; a ``fill_id`` already logged is ignored.

        Brokers re-deliver executions after a reconnect, so a repeat is expected, not an error.

        Returns:
            ``True`` if the fill was new, ``False`` if its ``fill_id`` was already logged.

        Raises:
            AuditError: The database refused the write; nothing was written.
        """
        row = rows.fill_columns(fill, self._now(at))
        with self._write("record a fill") as connection:
            return insert_new(connection, schema.fills, row, "fill_id")

    def record_state_change(
        self,
        state: TradingState | str,
        *,
        reason: str,
        rule: str = "",
        timestamp: datetime | None = None,
        kind: str = "state_change",
        at: datetime | None = None,
    ) -> None:
        """Record that the trading state changed (or, with ``kind="daily_reset"``, a new day).

        Args:
            state: The state after the change.
            reason: Why, in words with the numbers.
            rule: The rule behind it (``"daily_loss_limit"``, ``"max_drawdown"``, ``"manual"``).
            timestamp: When it happened (the risk manager's time), if known.
            kind: ``"state_change"`` or ``"daily_reset"``.
            at: When it was recorded (default: now).
        """
        row = self._state_row(state, reason, rule, timestamp, kind, self._now(at))
        with self._write("record a state change") as connection:
            connection.execute(schema.state_changes.insert().values(**row))

    def record_risk_events(self, events: Iterable[RiskEvent], *, at: datetime | None = None) -> int:
        """Record a risk manager's state changes and new days, in one transaction.

        ``order_check`` events are skipped: :meth:`record_submission` holds them with the order.
        The log is append-only: pass each event once (e.g. the new tail of
        ``RiskManager.events``).

        Returns:
            How many events were written.
        """
        recorded_at = self._now(at)
        batch = [
            self._state_row(e.state, e.reason, e.rule, e.timestamp, e.kind, recorded_at)
            for e in events
            if e.kind in _STATE_KINDS
        ]
        if batch:
            with self._write("record risk events") as connection:
                connection.execute(schema.state_changes.insert(), batch)
        return len(batch)

    def record_daily_summary(
        self,
        day: date,
        account: AccountSnapshot,
        *,
        orders: int,
        fills: int,
        rejections: int,
        trades: int = 0,
        wins: int = 0,
        day_pnl: float | None = None,
        at: datetime | None = None,
    ) -> None:
        """Store the summary of one trading day; a second call for the same day replaces it.

        Args:
            day: The trading day.
            account: The account at the end of the day (equity, cash, realized P&L,
                commissions, positions).
            orders: Orders accepted that day.
            fills: Executions that day.
            rejections: Orders denied by risk or rejected by the broker that day.
            trades: Round trips (or partial closes) completed that day.
            wins: Of those, how many made money.
            day_pnl: Equity change from the previous close.
            at: When it was recorded (default: now).
        """
        counts = {"orders": orders, "fills": fills, "rejections": rejections, "trades": trades,
                  "wins": wins}
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a count >= 0, got {value!r}")
        row = rows.summary_columns(day, account, counts, self._now(at))
        row["day_pnl"] = None if day_pnl is None else float(day_pnl)
        with self._write("record a daily summary") as connection:
            upsert(connection, schema.daily_summaries, row, ["day"])

    def set_value(self, key: str, value: Any, *, at: datetime | None = None) -> None:
        """Store a JSON value under ``key`` (e.g. the paper stream's last replayed bar time as an
        ISO string), replacing any previous one."""
        _check_key(key)
        try:
            text = json.dumps(value, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"value for key {key!r} cannot be stored as JSON ({exc}); give str, int, "
                "finite float, bool, None, or lists/dicts of them (times as ISO strings)"
            ) from None
        row = {"key": key, "value": text, "updated_at": self._now(at)}
        with self._write("store a value") as connection:
            upsert(connection, schema.trader_values, row, ["key"])

    # ------------------------------------------------------------------ reads
    def get_value(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""
        _check_key(key)
        query = select(schema.trader_values.c.value).where(schema.trader_values.c.key == key)
        with self._read("read a value") as connection:
            text = connection.execute(query).scalar_one_or_none()
        return default if text is None else json.loads(text)

    def has_order(self, client_order_id: str) -> bool:
        """Whether the log holds an order with this id (submitted, or announced by the broker)."""
        query = select(schema.orders.c.id).where(schema.orders.c.client_order_id == client_order_id)
        with self._read("look up an order") as connection:
            return connection.execute(query).first() is not None

    def order(self, client_order_id: str) -> BrokerOrder | None:
        """The latest state of an order, or ``None`` when the log does not hold it."""
        query = select(schema.orders).where(schema.orders.c.client_order_id == client_order_id)
        with self._read("read an order") as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else rows.order_from_row(row)

    def orders(self, *, open_only: bool = False, limit: int | None = None) -> list[BrokerOrder]:
        """Orders in the order they were accepted, rebuilt with their requests.

        Args:
            open_only: Only orders that are not filled, cancelled or rejected.
            limit: Only the most recent ``limit`` orders.
        """
        query = select(schema.orders)
        if open_only:
            query = query.where(schema.orders.c.status.in_(_OPEN_STATUSES))
        return [rows.order_from_row(row) for row in self._select(query, schema.orders, limit)]

    def fills(
        self, *, since: datetime | None = None, client_order_id: str | None = None
    ) -> list[Fill]:
        """Fills by execution time; ``since`` keeps those at or after it."""
        query = select(schema.fills)
        if since is not None:
            query = query.where(schema.fills.c.timestamp >= rows.time_text(since, "since"))
        if client_order_id is not None:
            query = query.where(schema.fills.c.client_order_id == client_order_id)
        query = query.order_by(schema.fills.c.timestamp, schema.fills.c.id)
        with self._read("read fills") as connection:
            return [rows.fill_from_row(row) for row in connection.execute(query).mappings()]

    def decisions(
        self,
        *,
        limit: int | None = None,
        approved: bool | None = None,
        client_order_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Risk decisions of submissions as dicts (``approved`` filters on the decision)."""
        query = select(schema.risk_decisions)
        if approved is not None:
            query = query.where(schema.risk_decisions.c.approved == bool(approved))
        if client_order_id is not None:
            query = query.where(schema.risk_decisions.c.client_order_id == client_order_id)
        return [rows.plain_row(row) for row in self._select(query, schema.risk_decisions, limit)]

    def order_events(self, client_order_id: str) -> list[dict[str, Any]]:
        """Every recorded change of one order, oldest first."""
        query = select(schema.order_events).where(
            schema.order_events.c.client_order_id == client_order_id
        )
        return [rows.plain_row(row) for row in self._select(query, schema.order_events, None)]

    def state_changes(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Trading-state changes and new days; the last one holds the current state."""
        query = select(schema.state_changes)
        return [rows.plain_row(row) for row in self._select(query, schema.state_changes, limit)]

    def daily_summaries(self) -> list[dict[str, Any]]:
        """One dict per trading day, by day."""
        query = select(schema.daily_summaries).order_by(schema.daily_summaries.c.day)
        with self._read("read daily summaries") as connection:
            return [rows.plain_row(row) for row in connection.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self._read("count rows") as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in schema.TABLES
            }

    # ------------------------------------------------------------------ helpers
    def _now(self, at: datetime | None) -> str:
        return rows.time_text(utc_now() if at is None else at, "at")

    def _state_row(
        self,
        state: TradingState | str,
        reason: str,
        rule: str,
        timestamp: datetime | None,
        kind: str,
        recorded_at: str,
    ) -> dict[str, Any]:
        if kind not in _STATE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(_STATE_KINDS)}, got {kind!r}")
        return {
            "timestamp": None if timestamp is None else rows.time_text(timestamp, "timestamp"),
            "recorded_at": recorded_at,
            "kind": kind,
            "state": _state(state).value,
            "rule": rule,
            "reason": reason,
        }

    def _select(self, query: Any, table: Table, limit: int | None) -> list[Any]:
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
            newest = query.order_by(table.c.id.desc()).limit(limit).subquery()
            query = select(newest).order_by(newest.c.id)
        else:
            query = query.order_by(table.c.id)
        with self._read(f"read {table.name}") as connection:
            return list(connection.execute(query).mappings())

    def _transact(self, action: str, body: Callable[[Connection], _T], *, retry: bool = True) -> _T:
        """Run ``body`` in one write transaction. A uniqueness conflict is retried once: another
        writer inserted the same order between our read and our insert (possible on PostgreSQL,
        where rows are locked rather than the database); the retry sees its row."""
        try:
            with self._write(action) as connection:
                return body(connection)
        except AuditError as exc:
            if retry and isinstance(exc.__cause__, IntegrityError):
                return self._transact(action, body, retry=False)
            raise

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        """One committed write transaction; database failures become :class:`AuditError`."""
        self._check_open()
        with self._write_lock:
            try:
                with self._writer.begin() as connection:
                    yield connection
            except SQLAlchemyError as exc:
                raise self._write_error(action, exc) from exc

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise AuditError(
                f"audit log {self._url}: could not {action} ({db_reason(exc)}). Check that "
                "the database is reachable and readable."
            ) from exc

    def _write_error(self, action: str, exc: SQLAlchemyError) -> AuditError:
        if isinstance(exc, IntegrityError):
            return AuditError(
                f"audit log {self._url}: could not {action}: the database refused the record "
                f"({db_reason(exc)}); the transaction was rolled back and nothing of it was "
                "written. The record breaks a rule of the log (a negative quantity, an unknown "
                "side or status, a duplicate id): fix the record, not the database."
            )
        return AuditError(
            f"audit log {self._url}: could not {action} ({db_reason(exc)}); the transaction was "
            "rolled back and nothing of it was written. Check that the database is reachable "
            "and writable (disk space, permissions, a process holding a lock), then retry."
        )

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError(
                f"audit log {self._url} is closed; open a new AuditLog to read or write it."
            )


def _state(value: TradingState | str) -> TradingState:
    try:
        return TradingState(value)
    except ValueError:
        raise ValueError(
            f"trading state must be one of {', '.join(TradingState)}, got {value!r}"
        ) from None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise ValueError(
            f"key must be a non-empty string of at most {_MAX_KEY} characters, got {key!r}"
        )
