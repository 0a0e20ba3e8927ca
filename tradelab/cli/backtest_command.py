"""``tradelab backtest`` and ``tradelab strategies``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tradelab._tables import render_table
from tradelab.cli._options import MultiValueOption

__all__ = ["backtest", "load_bars", "strategies"]


def load_bars(symbols: tuple[str, ...], *, start: str | None, end: str | None, bar_size: str):
    """Read each symbol from the store; also say whether any of it is synthetic."""
    from tradelab.data import ParquetStore

    store = ParquetStore()
    bars = {}
    synthetic = []
    for symbol in symbols:
        bars[symbol.upper()] = store.read(symbol, bar_size=bar_size, start=start, end=end)
        entry = store.entry(symbol, bar_size=bar_size)
        if entry is not None and entry.source == "synthetic":
            synthetic.append(symbol.upper())
    notes = (f"SYNTHETIC data (generated, not market history): {', '.join(synthetic)}",) \
        if synthetic else ()
    return bars, notes


@click.command()
@click.option("--strategy", required=True, help="Strategy name or module:Class path.")
@click.option("--symbols", cls=MultiValueOption, required=True, help="One or more symbols.")
@click.option("--start", default=None, help="First date, YYYY-MM-DD (default: all data).")
@click.option("--end", default=None, help="Last date, YYYY-MM-DD (default: all data).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Strategy parameter; repeat: --param fast=10 --param slow=30.")
@click.option("--cash", type=float, default=100_000.0, show_default=True)
@click.option("--costs", default="ib-fixed", show_default=True,
              help="Cost model: ib-fixed, ib-pro or none.")
@click.option("--risk", "risk_items", multiple=True, metavar="KEY=VALUE",
              help="Risk limit override, e.g. --risk max_concentration=0.5.")
@click.option("--bar-size", default="1d", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the result JSON to this file.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None,
              help="Directory for result.json, trades.csv and report.txt (default results/…).")
def backtest(strategy: str, symbols: tuple[str, ...], start: str | None, end: str | None,
             params: tuple[str, ...], cash: float, costs: str, risk_items: tuple[str, ...],
             bar_size: str, json_path: Path | None, output_dir: Path | None) -> None:
    """Backtest a strategy on stored data; print metrics, write JSON, trades CSV and a report.

    Example: tradelab backtest --strategy sma_crossover --symbols AAA --param fast=10
    """
    from tradelab.backtest import render_report, run_backtest, write_json, write_outputs
    from tradelab.costs import cost_model
    from tradelab.paths import results_dir
    from tradelab.risk import RiskConfig
    from tradelab.strategy import load_strategy, parse_param_assignments, validate_params

    strategy_cls = load_strategy(strategy)
    parsed = validate_params(strategy_cls, parse_param_assignments(params))
    cost_model(costs)  # fail on an unknown model before reading any data
    risk = RiskConfig.from_mapping(parse_param_assignments(risk_items)) if risk_items else None
    if cash <= 0:
        from tradelab.errors import BacktestError

        raise BacktestError(f"--cash must be positive, got {cash:g}.")
    bars, notes = load_bars(symbols, start=start, end=end, bar_size=bar_size)
    result = run_backtest(bars, strategy_cls, params=parsed, cash=cash, costs=costs,
                          risk=risk, bar_size=bar_size, notes=notes)
    click.echo(render_report(result, metrics=_TABLE_METRICS))
    directory = output_dir or results_dir() / (
        f"backtest-{result.strategy}-{time.strftime('%Y%m%d-%H%M%S')}")
    paths = write_outputs(result, directory)
    if json_path is not None:
        write_json(json_path, result.to_dict())
        click.echo(f"json: {json_path}")
    click.echo(f"wrote {paths['json']}, {paths['trades']}, {paths['report']}")


_TABLE_METRICS = (
    "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "var_95", "win_rate", "profit_factor", "expectancy", "sqn",
    "num_trades", "exposure_time", "commissions", "alpha", "beta", "information_ratio",
)


@click.command()
def strategies() -> None:
    """List the strategy library: name, family, parameters and their search space."""
    from tradelab.strategy import default_params, list_strategies, space_of

    rows = []
    for name, cls in list_strategies().items():
        space = space_of(cls)
        own = {k: v for k, v in default_params(cls).items()
               if k not in {"sizing", "stake", "vol_target", "vol_lookback", "eod_flatten",
                            "eod_no_entry_minutes", "calendar"}}
        ranges = []
        for key, spec in space.params.items():
            low, high = getattr(spec, "low", None), getattr(spec, "high", None)
            ranges.append(f"{key}∈[{low},{high}]" if low is not None else key)
        constraints = "; ".join(space.constraint_texts())
        rows.append([name, getattr(cls, "family", ""),
                     ", ".join(f"{k}={v}" for k, v in own.items()),
                     " ".join(ranges) + (f"  ({constraints})" if constraints else "")])
    click.echo(render_table(["strategy", "family", "defaults", "search space"], rows,
                            align="llll"))
