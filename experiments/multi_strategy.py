"""Multi-strategy campaign: 4 strategies × 5 symbols, one study each, compared on one metric.

Each study spreads its trials over every CPU of the cluster (the market data is loaded once by
the MarketDataService and shared by all four studies); the studies run one after another, are
logged to MLflow under the project ``campaign``, and the script ends with a comparison of the
best parameter set of each strategy, read back through the tracking query API.

    python experiments/multi_strategy.py --smoke-test
    ray job submit --working-dir . -- python experiments/multi_strategy.py --smoke-test

Demo data is SYNTHETIC (generated into the store where a symbol is missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # under `ray job submit`

from cluster import OptimizeConfig, optimize  # noqa: E402
from experiments._common import ensure_synthetic  # noqa: E402
from tradelab._tables import render_table  # noqa: E402

STRATEGIES = ("sma_crossover", "macd_trend", "donchian_breakout", "rsi_mean_reversion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", nargs="+", default=["AAA", "BBB", "CCC", "DDD", "EEE"])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--metric", default="sharpe")
    parser.add_argument("--address", default=None)
    parser.add_argument("--smoke-test", action="store_true",
                        help="2 symbols, 4 trials per strategy, 1 fold")
    args = parser.parse_args(argv)
    symbols = tuple(args.symbols[:2]) if args.smoke_test else tuple(args.symbols)
    trials, folds = (4, 1) if args.smoke_test else (args.trials, args.folds)
    ensure_synthetic(symbols)
    campaign = f"campaign-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = []
    for strategy in args.strategies:
        print(f"\n== {strategy}: {trials} trials × {len(symbols)} symbols × {folds} folds")
        result = optimize(OptimizeConfig(
            strategy=strategy, symbols=symbols, trials=trials, folds=folds,
            metric=(args.metric,), project="campaign", study=f"{campaign}-{strategy}",
            best_n_artifacts=1), address=args.address, verbose=not args.smoke_test)
        best = result.best
        rows.append([strategy, f"{best.value:.3f}" if best else "n/a",
                     ", ".join(f"{k}={v}" for k, v in sorted(best.params.items())) if best
                     else "", len(result.trials), f"{result.efficiency:.0%}",
                     f"{result.wall_s:.0f} s"])
    rows.sort(key=lambda r: float(r[1]) if r[1] != "n/a" else float("-inf"), reverse=True)
    print()
    print(render_table(["strategy", f"best {args.metric}", "best params", "trials",
                        "efficiency", "wall"], rows, align="lrlrrr",
                       title=f"Campaign {campaign} on {', '.join(symbols)} (SYNTHETIC data)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
