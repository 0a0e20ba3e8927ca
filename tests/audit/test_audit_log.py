"""The live-trading audit log on real SQLite files (WAL), with real broker and risk records."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from tradelab.audit import AuditConfig, AuditLog, default_audit_url
from tradelab.audit import _schema as schema
from tradelab.brokers import (
    AccountSnapshot,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    PaperBrokerConfig,
)
from tradelab.brokers.replay import synthetic_bars
from tradelab.errors import AuditError, ConfigError, DuplicateOrderError, OrderError
from tradelab.live.outcome import SubmitOutcome
from tradelab.risk import PortfolioSnapshot, RiskConfig, RiskDecision, RiskManager, TradingState

T0 = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=UTC)
APPROVED = RiskDecision(approved=True, reason="within limits", rule="")
DENIED = RiskDecision(
    approved=False,
    reason="position AAA would be 31.2% of equity, above max_concentration 25.0%",
    rule="max_concentration",
)


def _request(coid: str = "c-1", **changes: object) -> OrderRequest:
    fields: dict[str, object] = {
        "client_order_id": coid,
        "symbol": "AAA",
        "side": "buy",
        "quantity": 10,
        "order_type": "limit",
        "limit_price": 99.1,
    }
    fields.update(changes)
    return OrderRequest(**fields)


def _order(request: OrderRequest, **changes: object) -> BrokerOrder:
    fields: dict[str, object] = {
        "request": request,
        "broker_order_id": "P1",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return BrokerOrder(**fields)


def _accepted(coid: str = "c-1", source: str = "api") -> SubmitOutcome:
    request = _request(coid)
    return SubmitOutcome(request=request, decision=APPROVED, order=_order(request), source=source)


def _denied(coid: str = "c-9") -> SubmitOutcome:
    return SubmitOutcome(request=_request(coid), decision=DENIED, order=None)


def _fill(fill_id: str = "P1.1", **changes: object) -> Fill:
    fields: dict[str, object] = {
        "fill_id": fill_id,
        "client_order_id": "c-1",
        "broker_order_id": "P1",
        "symbol": "AAA",
        "side": "buy",
        "quantity": 4.0,
        "price": 0.1 + 0.2,  # 0.30000000000000004: must come back bit for bit
        "commission": 1.0000000000000002,
        "timestamp": T0 + timedelta(minutes=1),
    }
    fields.update(changes)
    return Fill(**fields)


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'live' / 'audit.db'}"


@pytest.fixture
def log(tmp_path: Path):
    audit = AuditLog(AuditConfig(url=_url(tmp_path)))
    yield audit
    audit.close()


# ---------------------------------------------------------------- submissions
def test_accepted_submission_writes_one_decision_one_order_and_one_event(log: AuditLog) -> None:
    outcome = _accepted()
    log.record_submission(outcome, state=TradingState.ACTIVE, at=T0)

    counts = log.counts()
    assert (counts["risk_decisions"], counts["orders"], counts["order_events"]) == (1, 1, 1)
    (decision,) = log.decisions()
    assert decision["client_order_id"] == "c-1"
    assert decision["approved"] is True and decision["accepted"] is True
    assert decision["limit_price"] == 99.1 and decision["order_type"] == "limit"
    assert decision["trading_state"] == "ACTIVE" and decision["source"] == "api"
    assert decision["recorded_at"] == T0
    assert log.order("c-1") == outcome.order
    assert log.has_order("c-1")
    (event,) = log.order_events("c-1")
    assert event["kind"] == "submitted" and event["status"] == "Submitted"


def test_denied_submission_writes_only_the_decision(log: AuditLog) -> None:
    log.record_submission(_denied("c-9"), state="HALTED")

    counts = log.counts()
    assert (counts["risk_decisions"], counts["orders"], counts["order_events"]) == (1, 0, 0)
    (decision,) = log.decisions(approved=False)
    assert decision["rule"] == "max_concentration"
    assert decision["reason"] == DENIED.reason
    assert decision["accepted"] is False and decision["trading_state"] == "HALTED"
    assert not log.has_order("c-9") and log.order("c-9") is None


def test_same_id_accepted_twice_raises_duplicate_and_keeps_only_the_first(log: AuditLog) -> None:
    first = _accepted("c-1", source="api")
    log.record_submission(first, at=T0)
    second = replace(first, source="strategy:sma", order=replace(first.order, broker_order_id="P7"))

    with pytest.raises(DuplicateOrderError, match="'c-1' was already submitted.*nothing"):
        log.record_submission(second, at=T0 + timedelta(seconds=1))

    counts = log.counts()
    assert (counts["risk_decisions"], counts["orders"], counts["order_events"]) == (1, 1, 1)
    (decision,) = log.decisions()
    assert decision["source"] == "api" and decision["recorded_at"] == T0
    assert log.order("c-1") == first.order


def test_denied_resubmission_of_a_logged_id_is_recorded_as_a_decision(log: AuditLog) -> None:
    log.record_submission(_accepted("c-1"))
    log.record_submission(_denied("c-1"))

    assert [d["approved"] for d in log.decisions(client_order_id="c-1")] == [True, False]
    assert log.counts()["orders"] == 1


def test_outcome_whose_order_belongs_to_another_request_is_refused(log: AuditLog) -> None:
    bad = SubmitOutcome(request=_request("c-1"), decision=APPROVED, order=_order(_request("c-2")))

    with pytest.raises(OrderError, match="'c-2' but its request is 'c-1'"):
        log.record_submission(bad)
    assert sum(log.counts().values()) == 0


def test_failure_mid_transaction_leaves_no_partial_record(log: AuditLog) -> None:
    request = _request("c-1")
    # The decision row is valid; the order row breaks the CHECK filled_quantity >= 0.
    broken = SubmitOutcome(
        request=request, decision=APPROVED, order=_order(request, filled_quantity=-1.0)
    )

    with pytest.raises(AuditError, match="refused the record.*filled_quantity.*nothing"):
        log.record_submission(broken)

    assert sum(log.counts().values()) == 0
    log.record_submission(_accepted("c-1"))  # the id is still free
    assert log.counts()["orders"] == 1


# ---------------------------------------------------------------- order updates
def test_order_updates_round_trip_to_the_last_state(log: AuditLog) -> None:
    outcome = _accepted()
    log.record_submission(outcome, at=T0)
    partial = outcome.order.evolve(
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=4.0,
        average_fill_price=0.1 + 0.2,
        broker_order_id="P1",
        updated_at=T0 + timedelta(seconds=5),
    )
    filled = partial.evolve(
        status=OrderStatus.FILLED,
        filled_quantity=10.0,
        average_fill_price=98.97123456789012,
        updated_at=T0 + timedelta(seconds=9, microseconds=1),
    )

    assert log.record_order_update(partial) is True
    assert log.record_order_update(filled) is True

    assert log.order("c-1") == filled
    assert log.orders() == [filled]
    assert log.orders(open_only=True) == []
    events = log.order_events("c-1")
    assert [e["status"] for e in events] == ["Submitted", "PartiallyFilled", "Filled"]
    assert [e["kind"] for e in events] == ["submitted", "update", "update"]
    assert events[-1]["average_fill_price"] == 98.97123456789012


def test_repeated_order_update_appends_no_event(log: AuditLog) -> None:
    outcome = _accepted()
    log.record_submission(outcome)
    cancelled = outcome.order.evolve(status=OrderStatus.CANCELLED, reason="cancelled on request")

    assert log.record_order_update(cancelled) is True
    assert log.record_order_update(cancelled) is False
    later = replace(cancelled, updated_at=cancelled.updated_at + timedelta(seconds=1))
    assert log.record_order_update(later) is False

    assert len(log.order_events("c-1")) == 2
    assert log.order("c-1") == later


def test_stale_update_never_moves_a_terminal_order_back(log: AuditLog) -> None:
    outcome = _accepted()
    log.record_submission(outcome)
    filled = outcome.order.evolve(
        status=OrderStatus.FILLED, filled_quantity=10.0, average_fill_price=99.0
    )
    log.record_order_update(filled)

    assert log.record_order_update(outcome.order) is False  # the old "Submitted" snapshot

    assert log.order("c-1") == filled
    assert len(log.order_events("c-1")) == 2


def test_update_for_another_symbol_under_a_logged_id_is_refused(log: AuditLog) -> None:
    log.record_submission(_accepted("c-1"))
    other = _order(_request("c-1", symbol="BBB"))

    with pytest.raises(OrderError, match="logged as buy AAA.*buy BBB"):
        log.record_order_update(other)
    assert log.order("c-1").symbol == "AAA"


def test_broker_update_before_submission_is_adopted_by_the_submission(log: AuditLog) -> None:
    outcome = _accepted("c-1", source="strategy:sma")
    early = outcome.order.evolve(status=OrderStatus.FILLED, filled_quantity=10.0)

    assert log.record_order_update(early) is True  # the stream was faster than the API
    assert log.has_order("c-1")
    log.record_submission(outcome)

    counts = log.counts()
    assert (counts["risk_decisions"], counts["orders"]) == (1, 1)
    assert log.order("c-1") == early  # the newer state is kept
    assert [e["kind"] for e in log.order_events("c-1")] == ["discovered", "submitted"]
    with pytest.raises(DuplicateOrderError):
        log.record_submission(outcome)


# ---------------------------------------------------------------- fills
def test_duplicate_fill_ids_are_ignored(log: AuditLog) -> None:
    assert log.record_fill(_fill("P1.1")) is True
    assert log.record_fill(_fill("P1.1")) is False
    assert log.record_fill(_fill("P1.1", quantity=6.0)) is False  # a re-delivery never rewrites
    assert log.record_fill(_fill("P1.2", quantity=6.0)) is True

    assert [f.fill_id for f in log.fills()] == ["P1.1", "P1.2"]
    assert log.fills()[0].quantity == 4.0


def test_orders_and_fills_read_back_equal_with_utc_aware_times(log: AuditLog) -> None:
    new_york = timezone(timedelta(hours=-5))
    request = _request("c-1", order_type="stop_limit", limit_price=101.25, stop_price=100.75)
    order = _order(
        request,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=1.0 / 3.0,
        average_fill_price=100.99999999999999,
        created_at=datetime(2024, 3, 1, 9, 30, 0, 1, tzinfo=new_york),
        updated_at=datetime(2024, 3, 1, 9, 31, 0, 999999, tzinfo=new_york),
        reason="",
    )
    fills = [_fill("P1.1"), _fill("P1.2", timestamp=T0 + timedelta(minutes=2), quantity=1e-9)]
    log.record_submission(SubmitOutcome(request=request, decision=APPROVED, order=order))
    for fill in fills:
        log.record_fill(fill)

    (stored,) = log.orders()
    assert stored == order
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at == datetime(2024, 3, 1, 14, 30, 0, 1, tzinfo=UTC)
    assert log.fills() == fills
    assert all(f.timestamp.tzinfo is not None for f in log.fills())
    assert log.fills(since=T0 + timedelta(minutes=2)) == fills[1:]


def test_naive_timestamp_is_refused_before_anything_is_written(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        log.record_fill(_fill(timestamp=datetime(2024, 3, 1, 14, 30)))
    assert log.counts()["fills"] == 0


# ---------------------------------------------------------------- risk events, summaries, values
def test_risk_manager_state_changes_are_recorded_and_order_checks_skipped(log: AuditLog) -> None:
    manager = RiskManager(RiskConfig(max_concentration=0.25))
    portfolio = PortfolioSnapshot(equity=100_000.0, cash=100_000.0, positions={}, timestamp=T0)
    manager.start_day(portfolio)
    manager.halt("operator pressed stop", timestamp=T0 + timedelta(minutes=5))

    written = log.record_risk_events(manager.events)
    log.record_state_change(TradingState.ACTIVE, reason="resumed by operator", rule="manual")

    changes = log.state_changes()
    assert written == 2 and len(changes) == 3
    assert [c["kind"] for c in changes] == ["daily_reset", "state_change", "state_change"]
    assert changes[1]["state"] == "HALTED" and changes[1]["rule"] == "manual"
    assert changes[1]["timestamp"] == T0 + timedelta(minutes=5)
    assert log.state_changes(limit=1)[0]["state"] == "ACTIVE"


def test_daily_summary_is_one_row_per_day_and_replaced_on_rewrite(log: AuditLog) -> None:
    position = BrokerPosition(symbol="AAA", quantity=10.0, average_cost=99.0, market_price=101.5)
    account = AccountSnapshot(
        account_id="PAPER",
        cash=99_010.0,
        equity=100_025.0,
        positions={"AAA": position},
        realized_pnl=12.5,
        commissions=1.0000000000000002,
        timestamp=T0,
    )
    day = date(2024, 3, 1)
    log.record_daily_summary(day, account, orders=3, fills=4, rejections=1)
    log.record_daily_summary(
        day, replace(account, equity=100_030.0), orders=3, fills=5, rejections=1
    )
    log.record_daily_summary(date(2024, 3, 4), account, orders=0, fills=0, rejections=0)

    first, second = log.daily_summaries()
    assert first["day"] == day and first["equity"] == 100_030.0 and first["fills"] == 5
    assert first["commissions"] == 1.0000000000000002
    assert first["positions"]["AAA"]["market_price"] == 101.5
    assert second["day"] == date(2024, 3, 4)
    with pytest.raises(ValueError, match="rejections must be a count"):
        log.record_daily_summary(day, account, orders=0, fills=0, rejections=-1)


def test_values_round_trip_as_json_and_are_replaced(log: AuditLog) -> None:
    log.set_value("paper.last_bar", "2024-03-01T21:00:00+00:00")
    log.set_value("paper.last_bar", "2024-03-04T21:00:00+00:00")
    log.set_value("risk", {"state": "HALTED", "peak_equity": 100_000.1})

    assert log.get_value("paper.last_bar") == "2024-03-04T21:00:00+00:00"
    assert log.get_value("risk") == {"state": "HALTED", "peak_equity": 100_000.1}
    assert log.get_value("missing", default=0) == 0
    assert log.counts()["trader_values"] == 2
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        log.set_value("when", T0)


def test_decisions_limit_keeps_the_most_recent_in_order(log: AuditLog) -> None:
    for number in range(5):
        log.record_submission(_denied(f"d-{number}"))

    assert [d["client_order_id"] for d in log.decisions(limit=2)] == ["d-3", "d-4"]


# ---------------------------------------------------------------- database
def test_sqlite_database_is_in_wal_mode_with_full_sync(tmp_path: Path, log: AuditLog) -> None:
    log.record_submission(_accepted())
    with sqlite3.connect(tmp_path / "live" / "audit.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with log._engine.connect() as connection:  # the log's own pooled connection
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_concurrent_submissions_from_8_threads_land_exactly_once(log: AuditLog) -> None:
    threads, per_thread = 8, 50
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            start.wait()
            for number in range(per_thread):
                coid = f"t{worker}-{number}"
                if number % 5 == 4:
                    log.record_submission(_denied(coid))
                else:
                    outcome = _accepted(coid)
                    log.record_submission(outcome)
                    log.record_fill(_fill(f"{coid}.1", client_order_id=coid))
                    log.record_fill(_fill(f"{coid}.1", client_order_id=coid))  # re-delivered
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=submit, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    accepted = threads * per_thread * 4 // 5
    counts = log.counts()
    assert counts["risk_decisions"] == threads * per_thread
    assert counts["orders"] == counts["order_events"] == counts["fills"] == accepted
    assert len({o.client_order_id for o in log.orders()}) == accepted


def test_two_logs_on_one_file_write_concurrently_without_lock_errors(tmp_path: Path) -> None:
    # Two AuditLog instances share no in-process lock, as two processes would not.
    logs = [AuditLog(AuditConfig(url=_url(tmp_path))) for _ in range(2)]
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        log = logs[worker % 2]
        try:
            for number in range(25):
                outcome = _accepted(f"w{worker}-{number}")
                log.record_submission(outcome)
                filled = outcome.order.evolve(status=OrderStatus.FILLED, filled_quantity=10.0)
                log.record_order_update(filled)
                log.orders(limit=5)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=submit, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    try:
        assert errors == []
        counts = logs[1].counts()
        assert (counts["orders"], counts["order_events"]) == (100, 200)
        assert logs[0].orders(open_only=True) == []
    finally:
        for log in logs:
            log.close()


def test_reopened_log_reads_back_everything_after_a_restart(tmp_path: Path) -> None:
    config = AuditConfig(url=_url(tmp_path))
    first = AuditLog(config)
    outcome = _accepted()
    first.record_submission(outcome, at=T0)
    filled = outcome.order.evolve(
        status=OrderStatus.FILLED, filled_quantity=10.0, average_fill_price=0.1 + 0.2
    )
    first.record_order_update(filled)
    first.record_fill(_fill())
    first.record_submission(_denied("c-9"))
    first.record_state_change("HALTED", reason="max drawdown 20.1% >= 20.0%", rule="max_drawdown")
    first.set_value("paper.last_bar", "2024-03-01T21:00:00+00:00")
    before = first.counts()
    first.close()
    with pytest.raises(AuditError, match="is closed"):
        first.orders()

    with AuditLog(config) as second:
        assert second.counts() == before
        assert second.orders() == [filled]
        assert second.fills() == [_fill()]
        assert second.state_changes()[-1]["state"] == "HALTED"
        assert second.get_value("paper.last_bar") == "2024-03-01T21:00:00+00:00"
        with pytest.raises(DuplicateOrderError):
            second.record_submission(outcome)


def test_paper_broker_restored_from_the_log_has_the_same_account(tmp_path: Path) -> None:
    config = AuditConfig(url=_url(tmp_path))
    stream = synthetic_bars(["AAA"], end="2024-02-15")

    async def trade(log: AuditLog) -> AccountSnapshot:
        broker = PaperBroker(stream, PaperBrokerConfig(speed=0, autostart=False))

        def listen(kind: str, payload: object) -> None:
            if kind == "order":
                log.record_order_update(payload)
            elif kind == "fill":
                log.record_fill(payload)

        broker.add_listener(listen)
        await broker.connect()
        await broker.run_steps(3)
        for number, side in enumerate(("buy", "buy", "sell")):
            request = OrderRequest(
                client_order_id=f"o{number}", symbol="AAA", side=side, quantity=10 + number
            )
            order = await broker.place_order(request)  # announces the order to `listen` first
            log.record_submission(SubmitOutcome(request=request, decision=APPROVED, order=order))
            await broker.run_steps(2)
        log.set_value("paper.last_bar", broker.now.isoformat())
        assert log.orders() == await broker.orders()
        assert log.fills() == await broker.fills()
        return broker.account_now()

    with AuditLog(config) as log:
        before = asyncio.run(trade(log))

    with AuditLog(config) as log:
        restored = PaperBroker(stream, PaperBrokerConfig(speed=0, autostart=False))
        restored.restore(
            log.orders(), log.fills(), datetime.fromisoformat(log.get_value("paper.last_bar"))
        )
        assert log.counts()["orders"] == log.counts()["risk_decisions"] == 3
    assert restored.account_now() == before


def test_unwritable_path_raises_audit_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file, not a folder")

    with pytest.raises(AuditError, match="not-a-directory") as caught:
        AuditLog(AuditConfig(url=f"sqlite:///{blocker}/audit.db"))
    assert "writable path" in str(caught.value)


def test_database_driver_error_masks_the_password() -> None:
    config = AuditConfig(url="postgresql://trader:s3cret-pw@127.0.0.1:1/audit")

    with pytest.raises(AuditError) as caught:
        AuditLog(config)  # no PostgreSQL driver here, or nothing listening on port 1
    assert "s3cret-pw" not in str(caught.value)
    assert "trader:***@127.0.0.1" in str(caught.value)


def test_config_repr_masks_the_password() -> None:
    config = AuditConfig(url="postgresql://user:secret@host/db")

    assert "secret" not in repr(config)
    assert "postgresql://user:***@host/db" in repr(config)
    assert config.resolved_url().password == "secret"


def test_config_refuses_in_memory_and_malformed_urls() -> None:
    with pytest.raises(ConfigError, match="in-memory"):
        AuditConfig(url="sqlite://")
    with pytest.raises(ConfigError, match="not a SQLAlchemy URL"):
        AuditConfig(url="not a url")
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        AuditConfig(sqlite_synchronous="OFF")
    with pytest.raises(ConfigError, match="busy_timeout"):
        AuditConfig(busy_timeout=-1)


def test_default_url_is_under_tradelab_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELAB_HOME", str(tmp_path / "home"))

    assert default_audit_url() == f"sqlite:///{tmp_path / 'home' / 'live' / 'audit.db'}"
    with AuditLog() as log:
        log.record_submission(_denied())
    assert (tmp_path / "home" / "live" / "audit.db").is_file()


def test_relative_sqlite_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    url = AuditConfig(url="sqlite:///data/audit.db").resolved_url()
    assert url.database == str(tmp_path / "data" / "audit.db")


def test_schema_compiles_for_postgresql() -> None:
    dialect = postgresql.dialect()
    ddl = "\n".join(str(CreateTable(table).compile(dialect=dialect)) for table in schema.TABLES)

    assert "DOUBLE PRECISION" in ddl
    assert "CONSTRAINT uq_fills_fill_id UNIQUE (fill_id)" in ddl
