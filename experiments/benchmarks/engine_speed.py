"""Engine speed: tradelab's fast Backtrader path vs a default ``bt.Cerebro()`` + ``PandasData``.

Runs the same SMA crossover strategy class (fast=10, slow=30, IB fixed costs, the default risk
limits) over 10 years of daily synthetic bars both ways, checks that the trades and the final
value are identical, and prints bars/second for each and the ratio. The target is >= 2.5x.

    python experiments/benchmarks/engine_speed.py [--repeats 7] [--years 10] [--smoke-test]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import backtrader as bt

from strategies.sma_crossover import SmaCrossover
from tradelab.backtest import run_backtest
from tradelab.costs import cost_model
from tradelab.costs.backtrader import IBCommissionInfo
from tradelab.data import generate_bars

PARAMS = {"fast": 10, "slow": 30}
CASH = 100_000.0


class _Trades(bt.Analyzer):
    """Closed trades of the baseline run (called once per trade, not per bar)."""

    def start(self) -> None:
        self.closed = []

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.closed.append((round(trade.dtopen, 6), round(trade.dtclose, 6),
                                round(trade.price, 6), round(trade.pnl, 6),
                                round(trade.pnlcomm, 6)))


def baseline(frame) -> tuple[float, float, list]:
    """A default Cerebro (standard observers, stock BackBroker) fed by PandasData, charged the
    same IB commission and 5 bps slippage (the strategy sends market orders only, so the stock
    broker's slippage rules give the same fills as tradelab's)."""
    began = time.perf_counter()
    cerebro = bt.Cerebro()
    cerebro.broker.setcash(CASH)
    costs = cost_model("ib-fixed")
    cerebro.broker.addcommissioninfo(IBCommissionInfo.from_config(costs))
    cerebro.broker.set_slippage_perc(costs.slippage_bps / 1e4)
    data = frame.copy()
    data.index = data.index.tz_convert(None)
    cerebro.adddata(bt.feeds.PandasData(dataname=data, name="AAA"))
    cerebro.addstrategy(SmaCrossover, **PARAMS)
    cerebro.addanalyzer(_Trades, _name="trades")
    strat = cerebro.run()[0]
    elapsed = time.perf_counter() - began
    return elapsed, cerebro.broker.getvalue(), strat.analyzers.trades.closed


def fast(frame) -> tuple[float, float, list]:
    """tradelab's run_backtest, metrics included."""
    began = time.perf_counter()
    result = run_backtest({"AAA": frame}, SmaCrossover, params=PARAMS, cash=CASH,
                          costs="ib-fixed")
    elapsed = time.perf_counter() - began
    trades = [(round(bt.date2num(t.entry_time.replace(tzinfo=None)), 6),
               round(bt.date2num(t.exit_time.replace(tzinfo=None)), 6),
               round(t.entry_price, 6), round(t.pnl_gross, 6), round(t.pnl, 6))
              for t in result.closed_trades]
    return elapsed, result.final_value, trades


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--smoke-test", action="store_true", help="2 repeats, 2 years")
    args = parser.parse_args(argv)
    repeats, years = (2, 2) if args.smoke_test else (args.repeats, args.years)
    frame = generate_bars("AAA", start="2014-01-01", end=f"{2013 + years}-12-31", seed=7)
    bars = len(frame)
    baseline(frame), fast(frame)  # warm up imports and caches
    base_times, fast_times = [], []
    for _ in range(repeats):
        t, base_value, base_trades = baseline(frame)
        base_times.append(t)
        t, fast_value, fast_trades = fast(frame)
        fast_times.append(t)
    identical = base_trades == fast_trades and abs(base_value - fast_value) < 1e-6
    # best of N (timeit's convention: the least-disturbed run), median shown beside it
    base_rate = bars / min(base_times)
    fast_rate = bars / min(fast_times)
    median_ratio = statistics.median(base_times) / statistics.median(fast_times)
    print(f"SMA crossover {PARAMS}, {bars:,} daily bars ({years} years, synthetic), "
          f"best of {repeats} interleaved runs")
    print(f"  default Cerebro + PandasData : {base_rate:>9,.0f} bars/s "
          f"({min(base_times) * 1000:.1f} ms/run; "
          f"median {statistics.median(base_times) * 1000:.1f})")
    print(f"  tradelab run_backtest        : {fast_rate:>9,.0f} bars/s "
          f"({min(fast_times) * 1000:.1f} ms/run; "
          f"median {statistics.median(fast_times) * 1000:.1f}; metrics included)")
    print(f"  ratio                        : {fast_rate / base_rate:.2f}x best, "
          f"{median_ratio:.2f}x median (target >= 2.5x)")
    print(f"  identical trades and final value: {identical} "
          f"({len(fast_trades)} trades, final value {fast_value:,.2f})")
    if not identical:
        print(f"  baseline: {len(base_trades)} trades, final value {base_value:,.2f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
