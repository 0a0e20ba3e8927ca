"""Cluster efficiency of a study: Σ in-trial backtest CPU ÷ (wall × CPUs), target >= 85%.

Runs tradelab's optimizer — 200 trials × 5 symbols × 10 years of daily bars on the local
Ray's CPUs (ASHA off, so every trial runs all 5 backtests) — and, as the baseline in the same
run, plain Ray Tune with Tune's defaults and one backtest per trial (the naive set-up), then prints
both efficiencies and the ratio.

    python experiments/benchmarks/cluster_efficiency.py [--trials 200] [--smoke-test]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")


def _baseline(trials: int, cpus: int) -> float:
    """Plain Tune defaults: one backtest per trial, data loaded inside the trial."""
    from ray import tune

    def one_backtest(config: dict) -> None:
        from tradelab.backtest import run_backtest
        from tradelab.data import ParquetStore

        bars = ParquetStore().read(SYMBOLS[config["i"] % len(SYMBOLS)])
        began = time.process_time()
        result = run_backtest(bars, "sma_crossover",
                              params={"fast": config["fast"], "slow": config["slow"]})
        tune.report({"sharpe": result.metrics["sharpe"], "cpu_s": time.process_time() - began})

    env = dict(os.environ)
    os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)  # Tune's defaults
    try:
        began = time.perf_counter()
        grid = tune.Tuner(
            one_backtest,
            param_space={"fast": tune.randint(5, 30), "slow": tune.randint(40, 200),
                         "i": tune.randint(0, 100)},
            tune_config=tune.TuneConfig(num_samples=trials, metric="sharpe", mode="max"),
            run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0),
        ).fit()
        wall = time.perf_counter() - began
    finally:
        os.environ.clear()
        os.environ.update(env)
    cpu = sum(r.metrics.get("cpu_s", 0.0) for r in grid)
    return cpu / (wall * cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--baseline-trials", type=int, default=40)
    parser.add_argument("--smoke-test", action="store_true", help="12 trials, 2 years")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="tradelab-bench-")
    os.environ["TRADELAB_HOME"] = home
    years = 2 if args.smoke_test else 10
    trials = 12 if args.smoke_test else args.trials
    from cluster import OptimizeConfig, ensure_ray, optimize
    from tradelab.data import ParquetStore, generate_bars

    store = ParquetStore()
    for symbol in SYMBOLS:
        store.write(symbol, generate_bars(symbol, start="2014-01-01",
                                          end=f"{2013 + years}-12-31", seed=7),
                    bar_size="1d", source="synthetic")
    resources = ensure_ray(include_dashboard=False)
    cpus = int(resources.get("CPU", 1))
    result = optimize(OptimizeConfig(strategy="sma_crossover", symbols=SYMBOLS, trials=trials,
                                     early_stopping=False, seed=1, best_n_artifacts=0,
                                     study="efficiency"), verbose=False)
    baseline = _baseline(4 if args.smoke_test else args.baseline_trials, cpus)
    per_trial = result.wall_s / len(result.trials)
    print(f"tradelab study: {len(result.trials)} trials × {len(SYMBOLS)} symbols × {years} years "
          f"daily on {cpus} CPUs")
    print(f"  wall {result.wall_s:.1f} s ({per_trial * 1000:.0f} ms/trial), backtest CPU "
          f"{result.cpu_s:.1f} s → efficiency {result.efficiency:.1%} (target >= 85%)")
    print(f"  baseline (plain Tune defaults, 1 backtest/trial): efficiency {baseline:.1%}")
    print(f"  ratio: {result.efficiency / baseline:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
