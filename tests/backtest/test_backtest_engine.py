from __future__ import annotations

import dataclasses
import json
import math

import backtrader as bt
import numpy as np
import pytest

from strategies.sma_crossover import SmaCrossover
from tradelab.backtest import run_backtest
from tradelab.costs import commission, cost_model
from tradelab.costs.backtrader import apply_costs
from tradelab.data import bars_to_arrays
from tradelab.errors import BacktestError, DataNotFoundError, ParameterError, UnknownNameError
from tradelab.risk import RiskConfig
from tradelab.strategy import list_strategies


def test_sma_crossover_run_produces_trades_and_a_consistent_equity_curve(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover", params={"fast": 10, "slow": 30},
                          symbol="AAA")
    assert result.symbols == ("AAA",)
    assert len(result.closed_trades) >= 5
    assert len(result.equity_values) == len(daily_bars)
    assert result.final_value == pytest.approx(result.equity_values[-1])
    pnl = sum(t.pnl for t in result.trades)
    assert result.final_value - result.cash == pytest.approx(pnl, abs=0.01)
    assert result.metrics["num_trades"] == len(result.closed_trades)
    assert result.equity.index.tz is not None


def test_result_is_immutable(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.cash = 1.0
    with pytest.raises(ValueError):
        result.equity_values[0] = 0.0
    with pytest.raises(TypeError):
        result.params["fast"] = 99


def test_numpy_feed_matches_a_default_cerebro_with_pandas_data(daily_bars):
    fast = run_backtest({"AAA": daily_bars}, SmaCrossover, params={"fast": 12, "slow": 40})
    cerebro = bt.Cerebro()
    cerebro.broker.setcash(100_000.0)
    apply_costs(cerebro, cost_model("ib-fixed"))
    frame = daily_bars.copy()
    frame.index = frame.index.tz_convert(None)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, name="AAA"))
    cerebro.addstrategy(SmaCrossover, fast=12, slow=40)
    cerebro.run()
    assert cerebro.broker.getvalue() == pytest.approx(fast.final_value, abs=1e-6)


def test_arrays_and_dataframe_inputs_give_the_same_result(daily_bars):
    a = run_backtest({"AAA": daily_bars}, "donchian_breakout")
    b = run_backtest({"AAA": bars_to_arrays(daily_bars)}, "donchian_breakout")
    assert a.final_value == b.final_value
    assert [t.pnl for t in a.trades] == [t.pnl for t in b.trades]


def test_trade_commissions_follow_the_ib_fixed_schedule(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover", costs="ib-fixed")
    trade = result.closed_trades[0]
    config = cost_model("ib-fixed")
    buy = commission(abs(trade.size), trade.entry_price, config.commission)
    assert trade.commission > buy  # the exit leg (commission + SEC fee) adds to the entry leg
    completed = [o for o in result.orders if o.status == "completed"]
    assert completed[0].commission == pytest.approx(
        commission(completed[0].filled_quantity, completed[0].fill_price, config.commission))


def test_no_costs_means_no_commission(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover", costs="none")
    assert all(t.commission == 0 for t in result.trades)
    assert result.metrics["commissions"] == 0


def test_orders_over_a_risk_limit_are_denied_recorded_and_never_filled(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover",
                          risk=RiskConfig(max_position_shares=10))
    denied = [o for o in result.orders if o.status == "denied"]
    assert denied and not result.trades
    assert "max_position_shares" in denied[0].reason or "10" in denied[0].reason
    assert all(o.status != "completed" for o in result.orders)
    assert any(not e.approved for e in result.risk_events)


def test_default_sizing_stays_inside_the_concentration_limit(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover")
    assert not [o for o in result.orders if o.status == "denied"]
    for trade in result.trades:
        assert abs(trade.size) * trade.entry_price <= 0.25 * result.cash * 2


@pytest.mark.parametrize("name", sorted(list_strategies()))
def test_every_library_strategy_runs_and_trades(name, universe):
    cls = list_strategies()[name]
    bars = universe if cls.min_symbols > 1 else {"AAA": universe["AAA"]}
    result = run_backtest(bars, name)
    assert result.trades, f"{name} made no trade in 5 years"
    assert math.isfinite(result.final_value) and result.final_value > 0
    assert json.dumps(result.to_dict(), default=str)


def test_multi_symbol_run_trades_several_symbols(universe):
    result = run_backtest(universe, "momentum_rotation", params={"lookback": 60, "top_n": 2})
    assert result.symbols == tuple(universe)
    assert len({t.symbol for t in result.trades}) >= 2
    assert len(result.benchmark_values) == len(result.equity_values)


def test_single_symbol_strategy_over_several_symbols_trades_each(universe):
    result = run_backtest(universe, "sma_crossover")
    assert {t.symbol for t in result.trades} == set(universe)


def test_date_range_selects_bars(daily_bars):
    result = run_backtest(daily_bars, "sma_crossover", start="2017-01-01", end="2017-12-31")
    stamps = result.equity.index
    assert stamps[0].year == 2017 and stamps[-1].year == 2017


def test_date_range_with_no_data_is_a_clear_error(daily_bars):
    with pytest.raises(DataNotFoundError, match="no bars for AAA between 2030-01-01.*covers"):
        run_backtest({"AAA": daily_bars}, "sma_crossover", start="2030-01-01")


@pytest.mark.parametrize("cash", [0, -5.0, float("nan")])
def test_zero_negative_or_nan_cash_is_refused(daily_bars, cash):
    with pytest.raises(BacktestError, match="cash must be a positive number"):
        run_backtest(daily_bars, "sma_crossover", cash=cash)


def test_invalid_params_are_refused_before_running(daily_bars):
    with pytest.raises(ParameterError):
        run_backtest(daily_bars, "sma_crossover", params={"fast": 50, "slow": 20})


def test_unknown_cost_model_suggests_the_closest(daily_bars):
    with pytest.raises(UnknownNameError, match="ib-fixed"):
        run_backtest(daily_bars, "sma_crossover", costs="ib-fixd")


def test_rotation_needs_two_symbols(daily_bars):
    with pytest.raises(BacktestError, match="at least 2 symbols"):
        run_backtest(daily_bars, "momentum_rotation")


def test_intraday_bars_run_and_report_daily_returns():
    from tradelab.data import generate_bars

    bars = generate_bars("III", start="2024-01-02", end="2024-02-28", bar_size="5m", seed=3)
    result = run_backtest(bars, "sma_crossover", bar_size="5m", params={"fast": 5, "slow": 20})
    assert len(result.equity_values) == len(bars)
    days = np.unique(bars.index.normalize())
    assert len(result.returns) == len(days)


def test_fewer_bars_than_the_warm_up_is_a_clear_error(daily_bars):
    with pytest.raises(BacktestError, match="could not run on 20 bars.*warm-up"):
        run_backtest(daily_bars.iloc[:20], "sma_crossover", params={"fast": 10, "slow": 30})
