"""RiskManager: every rule at its limit, trading states, loss halts and the event log."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelab.errors import ConfigError
from tradelab.risk import (
    OrderIntent,
    PortfolioSnapshot,
    Position,
    RiskConfig,
    RiskDecision,
    RiskManager,
    TradingState,
)

EQUITY = 100_000.0
# Limits loose enough that only the rule under test can deny.
LOOSE = {"max_concentration": 1.0, "max_gross_leverage": 10.0}


def snapshot(
    equity: float = EQUITY,
    *,
    timestamp: datetime | None = None,
    **holdings: tuple[float, float],
) -> PortfolioSnapshot:
    """A portfolio with ``SYMBOL=(quantity, price)`` holdings; cash makes up the equity."""
    positions = {s: Position(symbol=s, quantity=q, price=p) for s, (q, p) in holdings.items()}
    cash = equity - sum(p.value for p in positions.values())
    return PortfolioSnapshot(equity=equity, cash=cash, positions=positions, timestamp=timestamp)


def buy(symbol: str, quantity: float, price: float = 100.0) -> OrderIntent:
    return OrderIntent(symbol=symbol, side="buy", quantity=quantity, price=price)


def sell(symbol: str, quantity: float, price: float = 100.0) -> OrderIntent:
    return OrderIntent(symbol=symbol, side="sell", quantity=quantity, price=price)


def approved(manager: RiskManager, order: OrderIntent, portfolio: PortfolioSnapshot) -> bool:
    return manager.check(order, portfolio).approved


# --- each limit: approved just under, denied just over ---------------------------------------


def test_max_position_shares_approves_at_limit_and_denies_one_share_over() -> None:
    manager = RiskManager(RiskConfig(max_position_shares=1_000, **LOOSE))
    portfolio = snapshot(AAA=(600, 10.0))
    assert approved(manager, buy("AAA", 400, 10.0), portfolio)
    decision = manager.check(buy("AAA", 401, 10.0), portfolio)
    assert decision == RiskDecision(
        approved=False,
        reason="position AAA would be 1,001 shares, above max_position_shares 1,000",
        rule="max_position_shares",
    )


def test_max_position_shares_applies_to_short_positions() -> None:
    manager = RiskManager(RiskConfig(max_position_shares=1_000, **LOOSE))
    assert approved(manager, sell("AAA", 1_000, 10.0), snapshot())
    decision = manager.check(sell("AAA", 1_001, 10.0), snapshot())
    assert decision.rule == "max_position_shares"


def test_max_position_value_approves_just_under_and_denies_just_over() -> None:
    manager = RiskManager(RiskConfig(max_position_value=50_000, **LOOSE))
    assert approved(manager, buy("AAA", 499), snapshot())
    decision = manager.check(buy("AAA", 501), snapshot())
    assert not decision
    assert decision.rule == "max_position_value"
    assert decision.reason == (
        "position AAA would be worth 50,100.00, above max_position_value 50,000.00"
    )


def test_max_concentration_approves_just_under_and_denies_just_over() -> None:
    manager = RiskManager(RiskConfig(max_concentration=0.25))
    assert approved(manager, buy("AAA", 249), snapshot())
    decision = manager.check(buy("AAA", 251), snapshot())
    assert decision.rule == "max_concentration"
    assert decision.reason == "position AAA would be 25.1% of equity, above max_concentration 25.0%"


def test_max_concentration_counts_the_existing_position_valued_at_the_order_price() -> None:
    manager = RiskManager(RiskConfig(max_concentration=0.25))
    portfolio = snapshot(AAA=(200, 90.0))  # marked at 90, the order's price is 120
    assert approved(manager, buy("AAA", 8, 120.0), portfolio)  # 208 x 120 = 24.96%
    decision = manager.check(buy("AAA", 60, 120.0), portfolio)  # 260 x 120 = 31.2%
    assert decision.reason == "position AAA would be 31.2% of equity, above max_concentration 25.0%"


def test_max_gross_leverage_approves_just_under_and_denies_just_over() -> None:
    manager = RiskManager(RiskConfig(max_concentration=1.0, max_gross_leverage=1.0))
    portfolio = snapshot(BBB=(-700, 100.0))  # a short counts with its absolute value
    assert approved(manager, buy("AAA", 290), portfolio)  # 99,000 gross
    decision = manager.check(buy("AAA", 310), portfolio)  # 101,000 gross
    assert decision.rule == "max_gross_leverage"
    assert decision.reason == (
        "gross exposure would be 101,000.00 = 1.01x equity, above max_gross_leverage 1.00x"
    )


def test_max_open_positions_denies_a_new_symbol_over_the_limit() -> None:
    manager = RiskManager(RiskConfig(max_open_positions=2, **LOOSE))
    assert approved(manager, buy("BBB", 10), snapshot(AAA=(10, 100.0)))
    decision = manager.check(buy("CCC", 10), snapshot(AAA=(10, 100.0), BBB=(-10, 100.0)))
    assert decision.rule == "max_open_positions"
    assert decision.reason == "opening CCC would make 3 open positions, above max_open_positions 2"


def test_max_open_positions_at_limit_still_approves_adding_to_a_held_symbol() -> None:
    manager = RiskManager(RiskConfig(max_open_positions=2, **LOOSE))
    assert approved(manager, buy("AAA", 10), snapshot(AAA=(10, 100.0), BBB=(10, 100.0)))


def test_max_open_positions_ignores_flat_positions() -> None:
    manager = RiskManager(RiskConfig(max_open_positions=1, **LOOSE))
    assert approved(manager, buy("CCC", 10), snapshot(AAA=(0, 100.0)))


def test_first_failing_rule_in_documented_order_is_reported() -> None:
    config = RiskConfig(max_position_shares=100, max_position_value=1_000, max_concentration=0.01)
    decision = RiskManager(config).check(buy("AAA", 1_000), snapshot())
    assert decision.rule == "max_position_shares"


def test_non_positive_equity_denies_opening_but_approves_reducing() -> None:
    manager = RiskManager()
    broke = snapshot(-5_000.0, AAA=(100, 10.0))
    decision = manager.check(buy("BBB", 1, 10.0), broke)
    assert decision.rule == "equity"
    assert decision.reason == (
        "equity is -5,000.00, not positive: orders that open or grow a position are denied"
    )
    assert approved(manager, sell("AAA", 100, 10.0), broke)


def test_approval_has_empty_rule_and_reason_with_the_numbers() -> None:
    decision = RiskManager().check(buy("AAA", 100), snapshot())
    assert decision == RiskDecision(
        approved=True,
        reason="buy 100 AAA is within limits: position 100 shares, 10.0% of equity; "
        "gross exposure 0.10x equity",
        rule="",
    )
    assert bool(decision) is True


# --- reducing orders --------------------------------------------------------------------------


def test_reducing_order_is_approved_even_when_the_position_breaches_every_limit() -> None:
    config = RiskConfig(
        max_position_shares=10, max_position_value=100, max_concentration=0.01, max_open_positions=1
    )
    portfolio = snapshot(AAA=(900, 100.0), BBB=(-500, 100.0))  # 1.4x gross, 90% concentration
    decision = RiskManager(config).check(sell("AAA", 100), portfolio)
    assert decision == RiskDecision(
        approved=True, reason="sell 100 AAA reduces the position from 900 to 800 shares", rule=""
    )
    assert approved(RiskManager(config), buy("BBB", 500), portfolio)  # cover the whole short


def test_flip_beyond_flat_is_checked_as_a_new_position_for_the_excess() -> None:
    manager = RiskManager(RiskConfig(max_concentration=0.25))
    portfolio = snapshot(AAA=(100, 100.0))
    assert approved(manager, sell("AAA", 300), portfolio)  # ends short 200 = 20%
    decision = manager.check(sell("AAA", 400), portfolio)  # ends short 300 = 30%
    assert decision.rule == "max_concentration"
    assert decision.reason == "position AAA would be 30.0% of equity, above max_concentration 25.0%"


# --- trading states ---------------------------------------------------------------------------


def test_reducing_state_approves_only_orders_that_shrink_a_position() -> None:
    manager = RiskManager()
    manager.reduce("unwinding before the close")
    portfolio = snapshot(AAA=(100, 100.0), BBB=(-100, 100.0))
    assert approved(manager, sell("AAA", 100), portfolio)
    assert approved(manager, buy("BBB", 40), portfolio)
    cases = {
        "open a new position": buy("CCC", 1),
        "grow the position": buy("AAA", 1),
        "flip the position": sell("AAA", 101),
    }
    for change, order in cases.items():
        decision = manager.check(order, portfolio)
        assert decision.rule == "reducing"
        assert f"would {change}" in decision.reason
    assert manager.check(buy("CCC", 1), portfolio).reason == (
        "trading is REDUCING: only orders that shrink an existing position are approved, "
        "and buy 1 CCC would open a new position (0 to 1 shares)"
    )


def test_halted_state_denies_every_order_including_reductions() -> None:
    manager = RiskManager()
    manager.halt("broker disconnected")
    portfolio = snapshot(AAA=(100, 100.0))
    for order in (buy("BBB", 1), sell("AAA", 1)):
        decision = manager.check(order, portfolio)
        assert decision == RiskDecision(
            approved=False,
            reason="trading is HALTED (broker disconnected); every order is denied until resume()",
            rule="halted",
        )


def test_resume_after_manual_halt_returns_to_active_and_approves_orders() -> None:
    manager = RiskManager()
    manager.halt("lunch")
    manager.resume("back")
    assert manager.state is TradingState.ACTIVE
    assert manager.halt_rule == ""
    assert approved(manager, buy("AAA", 1), snapshot())


def test_manual_state_change_without_reason_raises_value_error() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        RiskManager().halt("  ")


def test_trading_state_values_are_plain_strings() -> None:
    assert [s.value for s in TradingState] == ["ACTIVE", "REDUCING", "HALTED"]
    assert TradingState.HALTED == "HALTED"


# --- automatic halts, new days, resume --------------------------------------------------------


def test_update_below_daily_loss_limit_stays_active() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.02))
    manager.start_day(snapshot(100_000.0))
    assert manager.update(snapshot(98_100.0)) is TradingState.ACTIVE  # 1.9% down


def test_update_at_daily_loss_limit_halts_and_records_why() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.02))
    manager.start_day(snapshot(100_000.0))
    when = datetime(2024, 3, 1, 15, 30)
    assert manager.update(snapshot(98_000.0, timestamp=when)) is TradingState.HALTED
    assert manager.halt_rule == "daily_loss_limit"
    event = manager.events[-1]
    assert (event.kind, event.rule, event.state, event.timestamp) == (
        "state_change",
        "daily_loss_limit",
        "HALTED",
        when,
    )
    assert event.reason == (
        "day's loss 2.0% from start-of-day equity 100,000.00 to 98,000.00 reached "
        "daily_loss_limit 2.0%"
    )
    assert manager.check(buy("AAA", 1), snapshot(98_000.0)).rule == "halted"


def test_first_update_without_start_day_sets_the_start_of_day_equity() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.02))
    manager.update(snapshot(100_000.0))
    assert manager.start_of_day_equity == 100_000.0
    assert manager.update(snapshot(97_900.0)) is TradingState.HALTED


def test_update_at_max_drawdown_from_peak_halts() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=1.0, max_drawdown=0.20))
    manager.update(snapshot(100_000.0))
    manager.update(snapshot(120_000.0))
    assert manager.update(snapshot(96_100.0)) is TradingState.ACTIVE  # 19.9% below 120k
    assert manager.update(snapshot(95_900.0)) is TradingState.HALTED  # 20.1%
    assert manager.halt_rule == "max_drawdown"
    assert manager.peak_equity == 120_000.0
    assert manager.events[-1].reason == (
        "drawdown 20.1% from peak equity 120,000.00 to 95,900.00 reached max_drawdown 20.0%"
    )


def test_start_day_lifts_a_daily_loss_halt() -> None:
    manager = RiskManager()
    manager.start_day(snapshot(100_000.0))
    manager.update(snapshot(97_000.0))
    manager.start_day(snapshot(97_000.0))
    assert manager.state is TradingState.ACTIVE
    reset, lifted = manager.events[-2:]
    assert (reset.kind, lifted.kind, lifted.rule, lifted.state) == (
        "daily_reset",
        "state_change",
        "daily_loss_limit",
        "ACTIVE",
    )
    assert manager.start_of_day_equity == 97_000.0


def test_start_day_after_daily_loss_halt_returns_to_reducing_if_it_was_reducing() -> None:
    manager = RiskManager()
    manager.start_day(snapshot(100_000.0))
    manager.reduce("risk review")
    manager.update(snapshot(97_000.0))
    assert manager.state is TradingState.HALTED
    manager.start_day(snapshot(97_000.0))
    assert manager.state is TradingState.REDUCING


def test_start_day_does_not_lift_a_drawdown_halt() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=1.0, max_drawdown=0.10))
    manager.start_day(snapshot(100_000.0))
    manager.update(snapshot(89_000.0))
    manager.start_day(snapshot(89_000.0))
    manager.start_day(snapshot(95_000.0))
    assert (manager.state, manager.halt_rule) == (TradingState.HALTED, "max_drawdown")


def test_daily_loss_halt_becomes_a_drawdown_halt_when_drawdown_is_reached() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.02, max_drawdown=0.10))
    manager.start_day(snapshot(100_000.0))
    manager.update(snapshot(97_000.0))
    assert manager.halt_rule == "daily_loss_limit"
    manager.update(snapshot(89_000.0))
    assert manager.halt_rule == "max_drawdown"
    manager.start_day(snapshot(89_000.0))
    assert manager.state is TradingState.HALTED


def test_start_day_does_not_lift_a_manual_halt() -> None:
    manager = RiskManager()
    manager.halt("news pending")
    manager.start_day(snapshot(100_000.0))
    assert (manager.state, manager.halt_rule) == (TradingState.HALTED, "manual")


def test_resume_after_drawdown_halt_rebases_peak_so_limit_applies_afresh() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=1.0, max_drawdown=0.10))
    manager.update(snapshot(100_000.0))
    manager.update(snapshot(89_000.0))
    manager.resume("reviewed the losses")
    assert manager.peak_equity == 89_000.0
    assert "peak equity re-based to 89,000.00" in manager.events[-1].reason
    assert manager.update(snapshot(89_000.0)) is TradingState.ACTIVE
    assert manager.update(snapshot(80_200.0)) is TradingState.ACTIVE  # 9.9% below 89k
    assert manager.update(snapshot(80_000.0)) is TradingState.HALTED  # 10.1%


def test_manual_halt_and_resume_do_not_loosen_loss_limits() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.05, max_drawdown=0.10))
    manager.start_day(snapshot(100_000.0))
    manager.update(snapshot(96_000.0))
    manager.halt("check")
    manager.resume("fine")
    assert (manager.peak_equity, manager.start_of_day_equity) == (100_000.0, 100_000.0)
    assert manager.update(snapshot(95_000.0)) is TradingState.HALTED


def test_reduce_after_drawdown_halt_allows_unwinding_at_the_next_update() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=1.0, max_drawdown=0.10))
    manager.update(snapshot(100_000.0))
    manager.update(snapshot(85_000.0, AAA=(100, 100.0)))
    manager.reduce("unwind")
    assert manager.update(snapshot(85_000.0, AAA=(100, 100.0))) is TradingState.REDUCING
    assert approved(manager, sell("AAA", 100), snapshot(85_000.0, AAA=(100, 100.0)))


# --- the event log -----------------------------------------------------------------------------


def test_every_check_is_recorded_as_an_order_check_event() -> None:
    manager = RiskManager(RiskConfig(max_concentration=0.25))
    when = datetime(2024, 1, 2, 10, 0)
    portfolio = snapshot(timestamp=when)
    manager.check(buy("AAA", 100), portfolio)
    manager.check(buy("AAA", 300), portfolio)
    manager.check(sell("BBB", 5), portfolio)
    events = manager.events
    assert isinstance(events, tuple)
    assert [(e.kind, e.symbol, e.side, e.quantity, e.approved, e.rule) for e in events] == [
        ("order_check", "AAA", "buy", 100, True, ""),
        ("order_check", "AAA", "buy", 300, False, "max_concentration"),
        ("order_check", "BBB", "sell", 5, True, ""),
    ]
    assert all(e.timestamp == when and e.state == "ACTIVE" for e in events)


def test_event_to_dict_is_json_serialisable() -> None:
    manager = RiskManager()
    manager.check(buy("AAA", 1), snapshot(timestamp=datetime(2024, 1, 2, 10, 0)))
    manager.halt("manual stop")
    first, second = (json.loads(json.dumps(e.to_dict())) for e in manager.events)
    assert first["timestamp"] == "2024-01-02T10:00:00"
    assert second == {
        "timestamp": None,
        "kind": "state_change",
        "symbol": "",
        "side": "",
        "quantity": 0.0,
        "approved": True,
        "rule": "manual",
        "reason": "manual stop",
        "state": "HALTED",
    }


def test_events_view_cannot_change_the_log() -> None:
    manager = RiskManager()
    manager.check(buy("AAA", 1), snapshot())
    view = manager.events
    manager.check(buy("AAA", 1), snapshot())
    assert len(view) == 1 and len(manager.events) == 2


# --- inputs ---------------------------------------------------------------------------------


def test_manager_with_a_non_config_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="needs a RiskConfig"):
        RiskManager({"max_drawdown": 0.1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": 0}, "quantity must be a finite number > 0"),
        ({"quantity": -5}, "quantity must be a finite number > 0"),
        ({"price": float("nan")}, "price must be a finite number > 0"),
        ({"side": "short"}, "side must be 'buy' or 'sell'"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
    ],
)
def test_invalid_order_intent_raises_value_error(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"symbol": "AAA", "side": "buy", "quantity": 1, "price": 1.0}
    with pytest.raises(ValueError, match=message):
        OrderIntent(**(values | fields))  # type: ignore[arg-type]


def test_snapshot_with_key_not_matching_the_symbol_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"positions\['AAA'\] must be a Position with symbol"):
        PortfolioSnapshot(
            equity=1.0, cash=1.0, positions={"AAA": Position(symbol="BBB", quantity=1, price=1)}
        )


def test_snapshot_positions_are_a_read_only_copy() -> None:
    positions = {"AAA": Position(symbol="AAA", quantity=1, price=1.0)}
    portfolio = PortfolioSnapshot(equity=1.0, cash=0.0, positions=positions)
    positions.clear()
    assert list(portfolio.positions) == ["AAA"]
    with pytest.raises(TypeError):
        portfolio.positions["BBB"] = Position(symbol="BBB", quantity=1, price=1.0)  # type: ignore[index]


# --- property: no limit is ever breached by an approved order ---------------------------------

PRICES = {"AAA": 10.0, "BBB": 25.0, "CCC": 50.0, "DDD": 100.0}

configs = st.builds(
    RiskConfig,
    max_position_shares=st.none() | st.integers(100, 10_000),
    max_position_value=st.none() | st.integers(5_000, 100_000),
    max_concentration=st.floats(0.05, 1.0),
    max_gross_leverage=st.floats(0.2, 2.0),
    max_open_positions=st.none() | st.integers(1, 4),
)
# Order sizes as a fraction of equity, so that orders often land near the limits.
orders = st.tuples(
    st.sampled_from(sorted(PRICES)), st.sampled_from(["buy", "sell"]), st.floats(0.001, 0.6)
)
# Mostly orders; now and then the state switches to REDUCING or back to ACTIVE.
actions = st.one_of(*[orders] * 19, st.sampled_from(["reduce", "resume"]))


@settings(max_examples=400, deadline=None)
@given(config=configs, steps=st.lists(actions, min_size=10, max_size=40))
def test_property_approved_orders_never_breach_a_limit(
    config: RiskConfig, steps: list[object]
) -> None:
    manager = RiskManager(config)
    holdings: dict[str, float] = {}
    cash = EQUITY
    for step in steps:
        if step == "reduce":
            manager.reduce("property test")
            continue
        if step == "resume":
            manager.resume("property test")
            continue
        symbol, side, fraction = step  # type: ignore[misc]
        price = PRICES[symbol]
        quantity = max(1, round(fraction * EQUITY / price))
        positions = {
            s: Position(symbol=s, quantity=q, price=PRICES[s]) for s, q in holdings.items()
        }
        portfolio = PortfolioSnapshot(equity=EQUITY, cash=cash, positions=positions)
        before = holdings.get(symbol, 0.0)
        decision = manager.check(
            OrderIntent(symbol=symbol, side=side, quantity=quantity, price=price), portfolio
        )
        if not decision:
            continue
        delta = quantity if side == "buy" else -quantity
        holdings[symbol] = before + delta
        cash -= delta * price  # fixed prices, no costs: equity stays EQUITY
        if manager.state is TradingState.REDUCING:
            assert abs(holdings[symbol]) < abs(before)
            assert holdings[symbol] * before >= 0  # never flips
        assert_within_limits(config, holdings)


def assert_within_limits(config: RiskConfig, holdings: dict[str, float]) -> None:
    tolerance = 1e-9
    gross = 0.0
    for symbol, quantity in holdings.items():
        value = abs(quantity) * PRICES[symbol]
        gross += value
        if config.max_position_shares is not None:
            assert abs(quantity) <= config.max_position_shares
        if config.max_position_value is not None:
            assert value <= config.max_position_value + tolerance
        assert value / EQUITY <= config.max_concentration + tolerance
    assert gross / EQUITY <= config.max_gross_leverage + tolerance
    if config.max_open_positions is not None:
        assert sum(1 for q in holdings.values() if q != 0) <= config.max_open_positions


def test_mark_halts_on_drawdown_like_update_and_stamps_the_event_from_the_clock():
    from datetime import UTC, datetime

    stamp = datetime(2024, 3, 1, tzinfo=UTC)
    fast = RiskManager(RiskConfig(max_drawdown=0.1, daily_loss_limit=0.5))
    assert fast.mark(100.0, new_day=True) is TradingState.ACTIVE
    assert fast.mark(95.0, new_day=True) is TradingState.ACTIVE
    assert fast.mark(89.0, new_day=True, clock=lambda: stamp) is TradingState.HALTED
    event = fast.events[-1]
    assert event.kind == "state_change" and event.rule == "max_drawdown"
    assert event.timestamp == stamp
    assert not any(e.kind == "daily_reset" for e in fast.events)


def test_mark_lifts_a_daily_loss_halt_on_the_next_day_only():
    fast = RiskManager(RiskConfig(max_drawdown=0.5, daily_loss_limit=0.02))
    fast.mark(100.0, new_day=True)
    assert fast.mark(97.0) is TradingState.HALTED
    assert fast.mark(97.5) is TradingState.HALTED
    assert fast.mark(97.5, new_day=True) is TradingState.ACTIVE


# --- live-trading limits: order notional, submit rate, restore ---------------------------


def test_max_order_value_denies_an_order_worth_more_and_names_the_numbers() -> None:
    manager = RiskManager(RiskConfig(max_order_value=10_000.0, max_concentration=1.0))
    portfolio = snapshot()
    assert approved(manager, buy("AAA", 100, 100.0), portfolio)
    decision = manager.check(buy("AAA", 101, 100.0), portfolio)
    assert (decision.approved, decision.rule) == (False, "max_order_value")
    assert "10,100.00" in decision.reason and "10,000.00" in decision.reason


def test_max_order_value_never_blocks_an_order_that_shrinks_a_position() -> None:
    manager = RiskManager(RiskConfig(max_order_value=1_000.0, max_concentration=1.0))
    portfolio = snapshot(AAA=(500, 100.0))
    assert approved(manager, sell("AAA", 500, 100.0), portfolio)


def test_max_orders_per_minute_denies_the_order_over_the_limit_until_the_window_passes() -> None:
    manager = RiskManager(RiskConfig(max_orders_per_minute=3, max_concentration=1.0))
    portfolio = snapshot()
    for second in (0.0, 10.0, 20.0):
        assert manager.check(buy("AAA", 1), portfolio, now=second).approved
    denied = manager.check(buy("AAA", 1), portfolio, now=30.0)
    assert (denied.approved, denied.rule) == (False, "max_orders_per_minute")
    assert manager.check(buy("AAA", 1), portfolio, now=60.5).approved  # the first one aged out


def test_denied_orders_do_not_count_toward_the_order_rate() -> None:
    manager = RiskManager(RiskConfig(max_orders_per_minute=1, max_order_value=50.0))
    portfolio = snapshot()
    for second in range(5):
        assert not manager.check(buy("AAA", 10), portfolio, now=float(second)).approved
    assert manager.check(buy("AAA", 0.1), portfolio, now=5.0).approved


def test_a_halt_survives_state_snapshot_and_restore_into_a_new_manager() -> None:
    manager = RiskManager(RiskConfig())
    manager.update(snapshot(equity=100_000.0))
    manager.halt("operator pressed halt")
    fresh = RiskManager(RiskConfig())
    fresh.restore(json.loads(json.dumps(manager.state_snapshot())))
    assert fresh.state is TradingState.HALTED
    assert fresh.halt_rule == "manual"
    assert fresh.peak_equity == 100_000.0
    assert not fresh.check(buy("AAA", 1), snapshot()).approved


def test_restore_from_a_malformed_snapshot_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot restore the risk manager"):
        RiskManager().restore({"state": "PANIC"})


def test_drain_events_returns_each_event_once() -> None:
    manager = RiskManager(RiskConfig())
    manager.check(buy("AAA", 1), snapshot())
    assert len(manager.drain_events()) == 1
    assert manager.drain_events() == []


def test_mark_opens_a_new_day_at_the_previous_close_so_a_daily_bar_loss_halts() -> None:
    manager = RiskManager(RiskConfig(daily_loss_limit=0.02, max_drawdown=0.5))
    manager.mark(100_000.0, new_day=True)
    assert manager.mark(97_500.0, new_day=True) is TradingState.HALTED  # -2.5% close to close
    assert manager.halt_rule == "daily_loss_limit"
    assert manager.mark(97_600.0, new_day=True) is TradingState.ACTIVE  # the next day lifts it


def test_evaluate_is_a_dry_run_that_records_and_counts_nothing() -> None:
    manager = RiskManager(RiskConfig(max_orders_per_minute=1, max_concentration=1.0))
    portfolio = snapshot()
    assert manager.evaluate(buy("AAA", 1), portfolio, now=0.0).approved
    assert manager.evaluate(buy("AAA", 1), portfolio, now=1.0).approved
    assert manager.events == ()
    assert manager.check(buy("AAA", 1), portfolio, now=2.0).approved  # the first real one


def test_reconfigure_applies_new_limits_to_the_next_check() -> None:
    manager = RiskManager(RiskConfig(max_position_shares=100))
    assert manager.check(buy("AAA", 100, 10.0), snapshot()).approved
    manager.reconfigure(RiskConfig(max_position_shares=50))
    assert manager.check(buy("AAA", 100, 10.0), snapshot()).rule == "max_position_shares"
    with pytest.raises(ConfigError):
        manager.reconfigure({"max_position_shares": 5})  # type: ignore[arg-type]
