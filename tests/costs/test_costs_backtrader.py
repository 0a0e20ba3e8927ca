"""The Backtrader adapter, checked with real Cerebro runs on a few hand-made daily bars."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import backtrader as bt
import pandas as pd
import pytest

from tradelab.costs import cost_model, slipped_price, trade_cost
from tradelab.costs.backtrader import CostModelBroker, IBCommissionInfo, apply_costs
from tradelab.errors import BacktestError, ConfigError

FIXED = cost_model("ib-fixed")
CASH = 100_000.0
# Backtrader reports executed.price as (size * price) / size, which can differ from the fill
# price in the last bit (50.8 * 1.0005 comes back as 50.82539999999999): compare to 1e-9.
PRICE_TOLERANCE = 1e-9

# (open, high, low, close) per day; every order below is placed on day 1 and fills on day 2+.
BARS = [
    (50.0, 51.0, 49.0, 50.0),
    (50.0, 51.0, 49.5, 50.5),
    (51.0, 52.0, 50.5, 51.5),
    (52.0, 53.0, 51.5, 52.0),
    (52.0, 52.5, 51.0, 51.0),
]


@dataclass(frozen=True)
class Fill:
    side: str
    size: float
    price: float
    commission: float


class PlanStrategy(bt.Strategy):
    """Places the orders of ``plan``: ``{bar number: [(method, kwargs), ...]}``."""

    params = (("plan", None),)

    def __init__(self) -> None:
        self.fills: list[Fill] = []

    def next(self) -> None:
        for method, kwargs in (self.p.plan or {}).get(len(self), []):
            getattr(self, method)(**kwargs)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            side = "buy" if order.isbuy() else "sell"
            ex = order.executed
            self.fills.append(Fill(side, ex.size, ex.price, ex.comm))


def run(
    plan: dict[int, list[tuple[str, dict[str, object]]]],
    *,
    bars: list[tuple[float, float, float, float]] = BARS,
    config=FIXED,
    plain_broker_slippage: bool = False,
) -> tuple[list[Fill], float]:
    """Run ``plan`` over ``bars``; return the fills and the final cash."""
    frame = pd.DataFrame(
        bars,
        columns=["open", "high", "low", "close"],
        index=pd.date_range("2024-01-02", periods=len(bars), freq="B"),
    )
    frame["volume"] = 1_000_000.0
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(PlanStrategy, plan=plan)
    cerebro.broker.setcash(CASH)
    if plain_broker_slippage:  # Backtrader's own broker with the same slippage settings
        cerebro.broker.addcommissioninfo(IBCommissionInfo.from_config(config))
        cerebro.broker.set_slippage_perc(
            config.slippage_bps / 1e4, slip_open=True, slip_limit=False, slip_match=True
        )
    else:
        apply_costs(cerebro, config)
    strategy = cerebro.run()[0]
    return strategy.fills, cerebro.broker.getcash()


def test_round_trip_market_orders_pay_exact_ib_commission_sec_fee_and_slippage() -> None:
    fills, cash = run(
        {1: [("buy", {"size": 100})], 3: [("sell", {"size": 100})]},
    )
    buy, sell = fills
    # Buy fills at day 2's open +5 bps, sell at day 4's open -5 bps.
    assert buy.price == pytest.approx(
        slipped_price(50.0, side="buy", order_type="market", config=FIXED), abs=PRICE_TOLERANCE
    )
    assert buy.price == pytest.approx(50.025, abs=PRICE_TOLERANCE)
    assert sell.price == pytest.approx(
        slipped_price(52.0, side="sell", order_type="market", config=FIXED), abs=PRICE_TOLERANCE
    )
    assert sell.price == pytest.approx(51.974, abs=PRICE_TOLERANCE)
    # 100 shares: the $1.00 minimum; the sell adds 100 x 51.974 x 27.80 / 1e6 of SEC fee.
    assert buy.commission == 1.00
    assert sell.commission == pytest.approx(
        trade_cost(100, sell.price, side="sell", config=FIXED), abs=1e-9
    )
    assert sell.commission == pytest.approx(1.0 + 0.14448772, abs=1e-9)
    assert cash == pytest.approx(CASH - 5_002.5 - 1.0 + 5_197.4 - 1.14448772, abs=1e-6)


def test_large_market_buy_pays_per_share_commission() -> None:
    fills, _ = run({1: [("buy", {"size": 1_000})]})
    assert fills[0].commission == 5.00


def test_none_cost_model_fills_at_the_open_for_free() -> None:
    fills, cash = run(
        {1: [("buy", {"size": 100})], 3: [("sell", {"size": 100})]}, config=cost_model("none")
    )
    assert [(f.price, f.commission) for f in fills] == [(50.0, 0.0), (52.0, 0.0)]
    assert cash == CASH + 200.0


def test_limit_buy_filled_at_the_open_does_not_slip() -> None:
    fills, _ = run({1: [("buy", {"size": 100, "exectype": bt.Order.Limit, "price": 51.0})]})
    assert fills[0].price == 50.0


def test_limit_buy_filled_inside_the_bar_fills_at_the_limit() -> None:
    fills, _ = run({1: [("buy", {"size": 100, "exectype": bt.Order.Limit, "price": 49.8})]})
    assert fills[0].price == 49.8


def test_limit_sell_filled_at_the_open_does_not_slip() -> None:
    plan = {
        1: [("buy", {"size": 100})],
        2: [("sell", {"size": 100, "exectype": bt.Order.Limit, "price": 50.0})],
    }
    fills, _ = run(plan)
    assert fills[1].price == 51.0  # day 3 opens at 51, above the limit: filled at the open


def test_plain_backtrader_slips_limit_fills_at_the_open_which_cost_model_broker_avoids() -> None:
    # Documents the Backtrader quirk CostModelBroker exists for: slip_limit=False does not stop
    # slippage on a limit order filled at the open (only the cap at the limit price applies).
    fills, _ = run(
        {1: [("buy", {"size": 100, "exectype": bt.Order.Limit, "price": 51.0})]},
        plain_broker_slippage=True,
    )
    assert fills[0].price == pytest.approx(50.025, abs=PRICE_TOLERANCE)


def test_stop_buy_triggered_inside_the_bar_slips_from_the_trigger_price() -> None:
    fills, _ = run({1: [("buy", {"size": 100, "exectype": bt.Order.Stop, "price": 50.8})]})
    assert fills[0].price == pytest.approx(
        slipped_price(50.8, side="buy", order_type="stop", config=FIXED), abs=PRICE_TOLERANCE
    )
    assert fills[0].price == pytest.approx(50.8254, abs=PRICE_TOLERANCE)


def test_stop_limit_buy_triggered_inside_the_bar_does_not_slip() -> None:
    order = {"size": 100, "exectype": bt.Order.StopLimit, "price": 50.8, "plimit": 51.0}
    fills, _ = run({1: [("buy", order)]})
    assert fills[0].price == 50.8
    plain_fills, _ = run({1: [("buy", order)]}, plain_broker_slippage=True)
    assert plain_fills[0].price == pytest.approx(
        50.8254, abs=PRICE_TOLERANCE
    )  # plain Backtrader slips


def test_market_buy_slippage_is_capped_at_the_bar_high() -> None:
    # Day 2 opens at its high: 50 x 1.0005 is outside the bar, so slip_match fills at the high.
    bars = [(50.0, 51.0, 49.0, 50.0), (50.0, 50.0, 49.0, 49.5), (49.5, 50.0, 49.0, 49.5)]
    fills, _ = run({1: [("buy", {"size": 100})]}, bars=bars)
    assert fills[0].price == 50.0


def test_reversal_pays_the_minimum_on_both_legs_because_backtrader_splits_it() -> None:
    # Long 100, then sell 200 at day 3's open (51 -> 50.9745): Backtrader charges the closing
    # and the opening 100 shares separately, so the $1 minimum is paid twice (IB charges once).
    fills, _ = run({1: [("buy", {"size": 100})], 2: [("sell", {"size": 200})]})
    reversal = fills[1]
    assert reversal.size == -200
    expected = 2 * trade_cost(100, reversal.price, side="sell", config=FIXED)
    assert reversal.commission == pytest.approx(expected, abs=1e-9)
    assert reversal.commission > trade_cost(200, reversal.price, side="sell", config=FIXED)


def test_ib_commission_info_charges_sec_fee_only_on_negative_sizes() -> None:
    info = IBCommissionInfo.from_config(FIXED)
    assert info.getcommission(1_000, 50.0) == 5.00
    assert info.getcommission(-1_000, 50.0) == 6.39
    assert info.getcommission(10, 1.0) == 0.10  # the 1% cap beats the $1.00 minimum
    assert info.getcommission(0, 50.0) == 0.0


def test_ib_commission_info_invalid_params_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="per_share is out of range"):
        IBCommissionInfo(per_share=-0.01)
    with pytest.raises(ConfigError, match="sec_fee_per_million is out of range"):
        IBCommissionInfo(sec_fee_per_million=-1.0)


def test_apply_costs_on_cerebro_keeps_broker_settings_and_configures_slippage() -> None:
    cerebro = bt.Cerebro()
    cerebro.broker.setcash(25_000.0)
    cerebro.broker.set_coc(True)
    apply_costs(cerebro, cost_model("ib-pro"))
    broker = cerebro.broker
    assert isinstance(broker, CostModelBroker)
    assert broker.cerebro is cerebro
    assert (broker.getcash(), broker.p.coc) == (25_000.0, True)
    p = broker.p
    assert (p.slip_perc, p.slip_open, p.slip_limit, p.slip_match, p.slip_out) == (
        0.0005,
        True,
        False,
        True,
        False,
    )
    assert broker.getcommissioninfo(bt.feeds.PandasData(dataname=pd.DataFrame())).p.minimum == 0.35


def test_apply_costs_twice_reuses_the_cost_model_broker() -> None:
    cerebro = bt.Cerebro()
    apply_costs(cerebro, FIXED)
    first = cerebro.broker
    apply_costs(cerebro, cost_model("none"))
    assert cerebro.broker is first
    assert first.p.slip_perc == 0.0


def test_apply_costs_on_a_plain_back_broker_raises_backtest_error() -> None:
    with pytest.raises(BacktestError, match="Pass the Cerebro"):
        apply_costs(bt.brokers.BackBroker(), FIXED)


def test_apply_costs_rejects_a_non_cost_config() -> None:
    with pytest.raises(BacktestError, match="needs a CostConfig"):
        apply_costs(bt.Cerebro(), "ib-fixed")  # type: ignore[arg-type]


def test_cerebro_with_costs_survives_pickling_for_optstrategy_workers() -> None:
    cerebro = bt.Cerebro()
    apply_costs(cerebro, FIXED)
    copy = pickle.loads(pickle.dumps(cerebro))
    assert isinstance(copy.broker, CostModelBroker)
    assert copy.broker.comminfo[None].getcommission(-1_000, 50.0) == 6.39
