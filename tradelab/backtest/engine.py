"""``run_backtest``: one strategy over one or many symbols, fast, with costs and risk."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from tradelab.backtest._recorder import RecordingBroker, order_records, trade_records
from tradelab.backtest.context import CONTEXT_ATTRIBUTE, RunContext
from tradelab.backtest.feed import NumpyFeed, timeframe_for
from tradelab.backtest.result import BacktestResult
from tradelab.backtest.timeframes import add_timeframes, parse_timeframes
from tradelab.costs import CostConfig, cost_model
from tradelab.costs.backtrader import apply_costs
from tradelab.data import bars_to_arrays, date_bound, parse_bar_size
from tradelab.errors import BacktestError, ConfigError, DataError, DataNotFoundError
from tradelab.metrics import compute_metrics
from tradelab.risk import RiskConfig, RiskManager
from tradelab.strategy import load_strategy, strategy_name, validate_params

__all__ = ["run_backtest"]

Arrays = Mapping[str, np.ndarray]
BarsInput = pd.DataFrame | Arrays | Mapping[str, pd.DataFrame] | Mapping[str, Arrays]
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def run_backtest(
    bars: BarsInput,
    strategy: str | type[bt.Strategy],
    *,
    params: Mapping[str, Any] | None = None,
    cash: float = 100_000.0,
    costs: str | CostConfig = "ib-fixed",
    risk: RiskConfig | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    symbol: str | None = None,
    bar_size: str = "1d",
    periods_per_year: int = 252,
    metrics: bool = True,
    notes: tuple[str, ...] = (),
    resample: Iterable[str] = (),
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` and return an immutable :class:`BacktestResult`.

    Args:
        bars: one symbol's canonical bars (a DataFrame, or a dict of numpy arrays as produced by
            ``tradelab.data.bars_to_arrays``), or ``{symbol: bars}`` for several symbols.
        strategy: a strategy name (``"sma_crossover"``), a ``"module:Class"`` path, or a class.
        params: strategy parameters; validated (unknown names, types, constraints) first.
        cash: starting cash, > 0.
        costs: a cost model name (``ib-fixed``, ``ib-pro``, ``none``) or a ``CostConfig``.
        risk: risk limits checked before every order (default ``RiskConfig()``).
        start, end: optional inclusive date range applied to every symbol.
        symbol: the name of a single symbol passed without a dict (default ``ASSET``).
        bar_size: the bars' size, for labels and intraday handling.
        periods_per_year: annualization of daily returns.
        metrics: compute the metrics report (turn off only for raw speed measurements).
        notes: lines carried into the result and its report (e.g. "synthetic data").
        resample: extra higher timeframes (``("1h", "1d")``) to add for every symbol, resampled
            by Backtrader from its bars, besides those the strategy declares (its
            ``timeframes``, always added). The strategy's ``self.datas`` holds the base feeds
            (``"AAA"``, ``"BBB"``), then each symbol's resampled feeds, shortest first
            (``"AAA@1h"``, ``"AAA@1d"``, ``"BBB@1h"`` …); see :mod:`tradelab.backtest.timeframes`.
            Extra timeframes do not hold back the strategy's warm-up, so a strategy that does
            not read them gives the same result with or without them. Resampling runs Backtrader
            bar by bar (no preload), about 3× slower.

    Example:
        >>> from tradelab.data import generate_bars
        >>> bars = generate_bars("AAA", start="2015-01-01", end="2019-12-31", seed=7)
        >>> result = run_backtest(bars, "sma_crossover", params={"fast": 10, "slow": 30})
        >>> result.final_value > 0
        True
    """
    if not isinstance(cash, int | float) or isinstance(cash, bool) or not math.isfinite(cash) \
            or cash <= 0:
        raise BacktestError(f"cash must be a positive number, got {cash!r}.")
    strategy_cls = load_strategy(strategy)
    clean_params = validate_params(strategy_cls, params)
    full_params = {**dict(strategy_cls.params._getitems()), **clean_params}
    cost_config = cost_model(costs) if isinstance(costs, str) else costs
    cost_label = costs if isinstance(costs, str) else "custom"
    datasets = _normalize(bars, symbol=symbol, start=start, end=end)
    minimum = int(getattr(strategy_cls, "min_symbols", 1))
    if len(datasets) < minimum:
        raise BacktestError(f"strategy '{strategy_name(strategy_cls)}' needs at least {minimum} "
                            f"symbols; got {len(datasets)}: {', '.join(datasets)}.")

    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, maxcpus=1,
                         tradehistory=True, quicknotify=False)
    broker = RecordingBroker()
    broker.setcash(float(cash))
    apply_costs(broker, cost_config)
    cerebro.setbroker(broker)
    context = RunContext(risk=RiskManager(risk or RiskConfig()))
    setattr(cerebro, CONTEXT_ATTRIBUTE, context)
    seconds = _bar_seconds(next(iter(datasets.values()))["timestamp"])
    timeframe, compression = timeframe_for(seconds)
    declared, extra = _timeframes(strategy_cls, full_params, resample, seconds)
    feeds = {}
    for name, arrays in datasets.items():
        feeds[name] = NumpyFeed(arrays=arrays, name=name, timeframe=timeframe,
                                compression=compression)
        cerebro.adddata(feeds[name])
    higher = sorted([(size, True) for size in declared] + [(size, False) for size in extra],
                    key=lambda item: parse_bar_size(item[0]).timedelta)
    for name, feed in feeds.items():  # after every base feed: self.datas[:n] are the symbols
        for size, holds in higher:
            add_timeframes(cerebro, feed, [size], symbol=name, holds_warmup=holds)
    cerebro.addstrategy(strategy_cls, **clean_params)

    began = time.perf_counter()
    try:
        strat = cerebro.run()[0]
    except IndexError as exc:
        # Backtrader's vectorized indicators index past the end when a feed is shorter than
        # their warm-up period; say so instead of surfacing its array error.
        shortest = min(len(a["timestamp"]) for a in datasets.values())
        raise BacktestError(
            f"strategy '{strategy_name(strategy_cls)}' with {clean_params or 'default params'} "
            f"could not run on {shortest} bars: its indicators need a longer warm-up than the "
            f"data has (Backtrader: IndexError: {exc}). Use a longer date range or shorter "
            "periods.") from exc
    run_time = time.perf_counter() - began

    clock = np.asarray(strat.lines.datetime.array[: len(broker.values)], dtype=np.float64)
    # Backtrader's float day numbers hold a time to ~10 µs: round to the millisecond
    timestamps = np.rint((clock - 719163.0) * 86_400e3).astype(np.int64) * 1_000_000
    equity = np.asarray(broker.values, dtype=np.float64)
    if declared or extra:
        # one step per base time stamp, then Backtrader's last step, which delivers only the
        # final resampled bars: not a bar of the run
        steps = len(functools.reduce(np.union1d, (a["timestamp"] for a in datasets.values())))
        timestamps, equity = timestamps[:steps], equity[:steps]
    trades = tuple(trade_records(strat))
    orders = tuple(sorted(order_records(broker) + list(context.denied_orders),
                          key=lambda o: (o.created, o.ref)))
    first = next(iter(datasets.values()))
    benchmark = _benchmark_values(first, timestamps)
    result = BacktestResult(
        strategy=strategy_name(strategy_cls),
        params=full_params,
        symbols=tuple(datasets),
        bar_size=bar_size,
        cash=float(cash),
        costs=str(cost_label),
        timestamps=timestamps,
        equity_values=equity,
        trades=trades,
        orders=orders,
        risk_events=tuple(context.risk.events),
        metrics=_empty_report(),
        bars=int(sum(len(a["timestamp"]) for a in datasets.values())),
        run_time=run_time,
        benchmark_values=benchmark,
        notes=tuple(notes),
    )
    if not metrics:
        return result
    return _with_metrics(result, periods_per_year=periods_per_year)


def _timeframes(
    strategy_cls: type, params: Mapping[str, Any], resample: Iterable[str], seconds: float
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(declared timeframes longer than the base bars, extra ones from ``resample``)."""
    hook = getattr(strategy_cls, "timeframes_for", None)
    wanted = hook(params) if callable(hook) else getattr(strategy_cls, "timeframes", ())
    try:
        # a declared timeframe no longer than the bars is the bars themselves: nothing to add
        longer = [t for t in wanted if parse_bar_size(t).timedelta.total_seconds() > seconds]
        declared = parse_timeframes(longer, base_seconds=seconds)
        extra = parse_timeframes(resample, base_seconds=seconds)
    except ConfigError as exc:
        raise BacktestError(f"cannot resample: {exc}") from exc
    names = {s.text for s in declared}
    return (tuple(s.text for s in declared),
            tuple(s.text for s in extra if s.text not in names))


def _with_metrics(result: BacktestResult, *, periods_per_year: int) -> BacktestResult:
    returns = result.returns
    bench = None
    if result.benchmark_values is not None and len(result.benchmark_values):
        series = pd.Series(result.benchmark_values, index=result.equity.index)
        if len(returns) != len(series):
            series = series.groupby(series.index.normalize()).last()
        bench = series.pct_change().fillna(0.0)
        bench.index = returns.index
    closed = result.closed_trades
    report = compute_metrics(
        returns,
        equity=result.daily_equity,
        initial_value=result.cash,
        trades=closed,
        benchmark_returns=bench,
        exposure=_exposure(result),
        commissions=float(sum(t.commission for t in result.trades)),
        periods_per_year=periods_per_year,
    )
    return _replace(result, metrics=report)


def _replace(result: BacktestResult, **changes: Any) -> BacktestResult:
    fields = {name: getattr(result, name) for name in result.__dataclass_fields__}
    fields.update(changes)
    return BacktestResult(**fields)


def _exposure(result: BacktestResult) -> float:
    """Fraction of bars during which at least one position was held."""
    stamps = result.timestamps
    if not len(stamps):
        return 0.0
    held = np.zeros(len(stamps), dtype=bool)
    for trade in result.trades:
        begin = np.searchsorted(stamps, pd.Timestamp(trade.entry_time).value, side="left")
        if trade.exit_time is None:
            finish = len(stamps)
        else:
            finish = np.searchsorted(stamps, pd.Timestamp(trade.exit_time).value, side="left")
        held[begin:finish] = True
    return float(held.mean())


def _benchmark_values(arrays: Arrays, timestamps: np.ndarray) -> np.ndarray | None:
    """Buy-and-hold of the first symbol: its close, aligned to the run's clock."""
    if not len(timestamps):
        return None
    stamps = np.asarray(arrays["timestamp"], dtype=np.int64)
    where = np.searchsorted(stamps, timestamps, side="right") - 1
    where = np.clip(where, 0, len(stamps) - 1)
    return np.asarray(arrays["close"], dtype=np.float64)[where]


def _empty_report() -> Any:
    from tradelab.metrics import MetricsReport

    return MetricsReport(values={}, undefined={}, regimes={})


def _bar_seconds(timestamps: np.ndarray) -> float:
    if len(timestamps) < 2:
        return 86_400.0
    return float(np.median(np.diff(np.asarray(timestamps, dtype=np.int64)))) / 1e9


def _normalize(
    bars: BarsInput,
    *,
    symbol: str | None,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
) -> dict[str, dict[str, np.ndarray]]:
    """Turn every accepted input form into ``{symbol: arrays}``, range-filtered, validated."""
    if isinstance(bars, pd.DataFrame) or (isinstance(bars, Mapping) and "timestamp" in bars):
        named: Mapping[str, Any] = {symbol or str(getattr(bars, "attrs", {}).get("symbol")
                                                  or "ASSET"): bars}
    elif isinstance(bars, Mapping):
        named = bars
    else:
        raise BacktestError(f"bars must be a DataFrame, a dict of arrays, or a dict of them "
                            f"by symbol; got {type(bars).__name__}.")
    if not named:
        raise BacktestError("no bars given: pass at least one symbol's bars.")
    lo = _to_ns(start, is_end=False)
    hi = _to_ns(end, is_end=True)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, item in named.items():
        arrays = bars_to_arrays(item) if isinstance(item, pd.DataFrame) else dict(item)
        missing = [c for c in _COLUMNS if c not in arrays]
        if missing:
            raise DataError(f"bars for {name} lack column(s) {', '.join(missing)}; "
                            f"expected {', '.join(_COLUMNS)}.")
        stamps = np.asarray(arrays["timestamp"], dtype=np.int64)
        keep = slice(int(np.searchsorted(stamps, lo, side="left")) if lo is not None else 0,
                     int(np.searchsorted(stamps, hi, side="right")) if hi is not None
                     else len(stamps))
        sliced = {c: np.asarray(arrays[c])[keep] for c in _COLUMNS}
        if not len(sliced["timestamp"]):
            have = (f"{pd.Timestamp(int(stamps[0]), tz='UTC').date()} to "
                    f"{pd.Timestamp(int(stamps[-1]), tz='UTC').date()}") if len(stamps) else "none"
            raise DataNotFoundError(f"no bars for {name} between {start or 'the start'} and "
                                    f"{end or 'the end'}; the data covers {have}.")
        out[str(name)] = sliced
    return out


def _to_ns(value: str | pd.Timestamp | None, *, is_end: bool) -> int | None:
    stamp = date_bound(value, is_end=is_end)
    return None if stamp is None else int(stamp.value)
