"""Human-readable reports and result files of a backtest."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from tradelab._tables import format_metric, format_number, render_table
from tradelab.backtest.result import BacktestResult
from tradelab.metrics import METRICS

__all__ = ["KEY_METRICS", "render_report", "write_json", "write_outputs"]

KEY_METRICS = (
    "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "win_rate", "profit_factor", "expectancy", "num_trades",
    "exposure_time", "commissions", "alpha", "beta",
)


def _fmt(value: Any) -> str:
    return format_number(value)


def render_report(result: BacktestResult, *, metrics: tuple[str, ...] | None = None) -> str:
    """A plain-text report: the run, every metric with its title, regimes, trades, risk."""
    data = result.to_dict()
    lines = [
        f"Backtest: {result.strategy}  params: "
        + ", ".join(f"{k}={v}" for k, v in sorted(result.params.items())),
        f"Symbols: {', '.join(result.symbols)}  bars: {result.bar_size}  "
        f"{(data['start'] or '')[:10]} → {(data['end'] or '')[:10]}",
        f"Cash: {result.cash:,.2f}  final value: {result.final_value:,.2f}  costs: {result.costs}"
        f"  run: {result.run_time:.3f} s ({result.bars_per_second:,.0f} bars/s)",
        "",
    ]
    values = result.metrics.values
    undefined = result.metrics.undefined
    names = metrics or tuple(values)
    rows = []
    for name in names:
        info = METRICS.get(name)
        value = values.get(name, math.nan)
        note = undefined.get(name, "")
        shown = format_metric(value, info.unit) if info else _fmt(value)
        rows.append([name, info.title if info else name, shown, note])
    lines.append(render_table(["metric", "title", "value", "note"], rows, align="llrl"))
    if result.metrics.regimes:
        lines.append("")
        regime_rows = [[label, format_metric(stats.get("fraction"), "fraction"),
                        format_metric(stats.get("return"), "fraction"),
                        format_metric(stats.get("sharpe"), "ratio")]
                       for label, stats in result.metrics.regimes.items()]
        lines.append(render_table(["regime", "fraction", "return", "sharpe"], regime_rows,
                                  align="lrrr", title="Regimes (from the benchmark)"))
    denied = [o for o in result.orders if o.status == "denied"]
    lines += ["", f"Trades: {len(result.closed_trades)} closed, "
              f"{len(result.trades) - len(result.closed_trades)} open; "
              f"orders: {len(result.orders)}; denied by risk: {len(denied)}"]
    for order in denied[:5]:
        lines.append(f"  denied {order.side} {order.quantity:g} {order.symbol} at "
                     f"{order.created:%Y-%m-%d}: {order.reason}")
    if len(denied) > 5:
        lines.append(f"  … and {len(denied) - 5} more")
    lines.extend(f"Note: {note}" for note in result.notes)
    return "\n".join(lines) + "\n"


def write_json(path: Path, payload: Any) -> Path:
    """Write JSON atomically (temp file + rename); NaN becomes null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(payload), indent=2, default=str)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_outputs(result: BacktestResult, directory: Path) -> dict[str, Path]:
    """Write ``result.json``, ``trades.csv`` and ``report.txt`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = write_json(directory / "result.json", result.to_dict())
    trades_path = directory / "trades.csv"
    tmp = trades_path.with_suffix(".csv.tmp")
    result.trades_frame().to_csv(tmp, index=False)
    os.replace(tmp, trades_path)
    report_path = directory / "report.txt"
    tmp = report_path.with_suffix(".txt.tmp")
    tmp.write_text(render_report(result))
    os.replace(tmp, report_path)
    return {"json": json_path, "trades": trades_path, "report": report_path}
