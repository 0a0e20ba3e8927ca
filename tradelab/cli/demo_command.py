"""``tradelab demo``: the main job on embedded defaults."""

from __future__ import annotations

import time

import click

from tradelab._tables import render_table

__all__ = ["DEMO_SYMBOLS", "baseline_table", "demo", "ensure_demo_data"]

DEMO_SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
DEMO_START, DEMO_END, DEMO_SEED = "2014-01-01", "2023-12-31", 7


def ensure_demo_data(store, *, symbols=DEMO_SYMBOLS, start=DEMO_START, end=DEMO_END,
                     seed=DEMO_SEED) -> list[str]:
    """Generate the synthetic demo universe into ``store`` where it is missing."""
    from tradelab.data import check_quality, generate_bars

    made = []
    for symbol in symbols:
        if store.exists(symbol, bar_size="1d"):
            continue
        frame = generate_bars(symbol, start=start, end=end, bar_size="1d", seed=seed)
        store.write(symbol, frame, bar_size="1d", source="synthetic",
                    quality_score=check_quality(frame, bar_size="1d").score)
        made.append(symbol)
    return made


def baseline_table(store, names: tuple[str, ...]) -> list[dict]:
    """Run every library strategy at its defaults on ``names`` and print a summary table.

    Single-symbol strategies run on each symbol; momentum_rotation runs on all of them.
    """
    from tradelab.backtest import run_backtest
    from tradelab.strategy import list_strategies

    bars = {s: store.read(s, bar_size="1d") for s in names}
    jobs = []
    for name, cls in list_strategies().items():
        if getattr(cls, "min_symbols", 1) > 1:
            jobs.append((name, cls, names))
        else:
            jobs.extend((name, cls, (s,)) for s in names)
    results: dict[str, list] = {}
    with click.progressbar(jobs, label="baseline backtests", show_pos=True,
                           file=click.get_text_stream("stderr")) as bar:
        for name, cls, group in bar:
            results.setdefault(name, []).append(run_backtest({s: bars[s] for s in group}, cls))
    rows, summary = [], []
    for name, runs in results.items():
        sharpes = [r.metrics["sharpe"] for r in runs]
        best = max(runs, key=lambda r: r.metrics["sharpe"])
        row = {
            "strategy": name,
            "runs": len(runs),
            "mean_sharpe": sum(sharpes) / len(sharpes),
            "mean_cagr": sum(r.metrics["cagr"] for r in runs) / len(runs),
            "worst_max_drawdown": min(r.metrics["max_drawdown"] for r in runs),
            "trades": sum(int(r.metrics["num_trades"]) for r in runs),
            "best": f"{','.join(best.symbols) if len(best.symbols) < 3 else 'all'} "
                    f"({best.metrics['sharpe']:.2f})",
        }
        summary.append(row)
        rows.append([row["strategy"], row["runs"], f"{row['mean_sharpe']:.3f}",
                     f"{row['mean_cagr']:.2%}", f"{row['worst_max_drawdown']:.1%}",
                     row["trades"], row["best"]])
    click.echo(render_table(
        ["strategy", "runs", "mean sharpe", "mean CAGR", "worst max DD", "trades",
         "best (sharpe)"], rows, align="lrrrrrl",
        title="Default parameters, IB fixed costs, SYNTHETIC data"))
    return summary


@click.command()
@click.option("--symbols", default=",".join(DEMO_SYMBOLS), show_default=True,
              help="Comma-separated demo symbols.")
def demo(symbols: str) -> None:
    """Generate the SYNTHETIC demo universe (8 symbols, 10 years daily) and run every strategy
    at its defaults (the Ray layer replaces this with the optimization demo when installed)."""
    from tradelab.backtest import write_json
    from tradelab.data import ParquetStore
    from tradelab.paths import results_dir

    began = time.perf_counter()
    store = ParquetStore()
    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    made = ensure_demo_data(store, symbols=names)
    click.echo(f"demo data: {len(names)} SYNTHETIC symbols {DEMO_START} → {DEMO_END} in "
               f"{store.root} ({len(made)} generated now)")
    summary = baseline_table(store, names)
    out = write_json(results_dir() / "demo" / "summary.json", {"strategies": summary,
                     "symbols": list(names), "data": "synthetic"})
    click.echo(f"summary: {out}   ({time.perf_counter() - began:.1f} s)")
