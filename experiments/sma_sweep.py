"""SMA crossover sweep: one Ray Tune + Optuna (TPE) study over several symbols and time folds.

Shows the core loop of tradelab: market data loaded once into the object store by the
MarketDataService, trials that each evaluate one (fast, slow) pair over every (symbol, fold)
backtest with ASHA stopping poor ones early, every trial logged to MLflow, and the top-10 table.

Runs locally (a Ray instance on 127.0.0.1) or on a cluster:

    python experiments/sma_sweep.py --smoke-test
    ray job submit --working-dir . -- python experiments/sma_sweep.py --smoke-test

Demo data is SYNTHETIC (generated into the store where a symbol is missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # under `ray job submit`

from cluster import OptimizeConfig, optimize  # noqa: E402
from cluster.cli import print_study  # noqa: E402
from experiments._common import ensure_synthetic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", nargs="+", default=["AAA", "BBB", "CCC", "DDD", "EEE"])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--metric", default="sharpe")
    parser.add_argument("--aggregate", default="mean_minus_std",
                        choices=["mean", "median", "mean_minus_std"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--address", default=None, help="Ray address (default: local or "
                        "$RAY_ADDRESS under ray job submit)")
    parser.add_argument("--smoke-test", action="store_true",
                        help="2 symbols, 8 trials, 2 folds: a quick end-to-end check")
    args = parser.parse_args(argv)
    symbols = tuple(args.symbols[:2]) if args.smoke_test else tuple(args.symbols)
    trials, folds = (8, 2) if args.smoke_test else (args.trials, args.folds)
    ensure_synthetic(symbols)
    config = OptimizeConfig(strategy="sma_crossover", symbols=symbols, trials=trials,
                            folds=folds, metric=(args.metric,), aggregate=args.aggregate,
                            seed=args.seed, project="experiments", best_n_artifacts=1)
    result = optimize(config, address=args.address)
    print_study(result)
    return 0 if result.best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
