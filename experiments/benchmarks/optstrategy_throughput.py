"""Throughput on a parameter grid: tradelab's grid study vs Backtrader's own optstrategy.

Both evaluate the same SMA-crossover grid over 10 years of daily bars of ``--symbols`` symbols
with IB fixed costs: Backtrader's ``cerebro.optstrategy`` with ``maxcpus`` = the CPUs,
``optdatas=True, optreturn=True`` (its fastest set-up; each run holds every symbol) and
tradelab's ``optimize`` with ``search="grid"`` on local Ray (each trial runs one backtest per
symbol). Both process the same bars per parameter set. Prints wall time per parameter set,
bars per second and the ratio (target: tradelab >= 1.0x Backtrader).

    python experiments/benchmarks/optstrategy_throughput.py [--symbols 5] [--smoke-test]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def grid_points(smoke: bool) -> list[dict[str, int]]:
    fasts = range(5, 25, 5) if smoke else range(5, 55, 5)
    slows = range(60, 120, 20) if smoke else range(60, 220, 20)
    return [{"fast": f, "slow": s} for f in fasts for s in slows]


def backtrader_optstrategy(frames, points, cpus: int) -> float:
    import backtrader as bt

    from strategies.sma_crossover import SmaCrossover
    from tradelab.costs import cost_model
    from tradelab.costs.backtrader import IBCommissionInfo

    cerebro = bt.Cerebro(optdatas=True, optreturn=True, maxcpus=cpus)
    cerebro.broker.setcash(100_000.0)
    costs = cost_model("ib-fixed")
    cerebro.broker.addcommissioninfo(IBCommissionInfo.from_config(costs))
    cerebro.broker.set_slippage_perc(costs.slippage_bps / 1e4)
    for symbol, frame in frames.items():
        data = frame.copy()
        data.index = data.index.tz_convert(None)
        cerebro.adddata(bt.feeds.PandasData(dataname=data, name=symbol))
    fasts = sorted({p["fast"] for p in points})
    slows = sorted({p["slow"] for p in points})
    cerebro.optstrategy(SmaCrossover, fast=fasts, slow=slows)
    began = time.perf_counter()
    runs = cerebro.run()
    elapsed = time.perf_counter() - began
    assert len(runs) == len(points), (len(runs), len(points))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--smoke-test", action="store_true", help="a 4 x 3 grid")
    args = parser.parse_args(argv)
    os.environ["TRADELAB_HOME"] = tempfile.mkdtemp(prefix="tradelab-bench-")
    from cluster import OptimizeConfig, ensure_ray, optimize
    from tradelab.data import ParquetStore, generate_bars

    names = [f"S{i:02d}" for i in range(args.symbols)]
    frames = {s: generate_bars(s, start="2014-01-01", end="2023-12-31", seed=7) for s in names}
    for symbol, frame in frames.items():
        ParquetStore().write(symbol, frame, bar_size="1d", source="synthetic")
    bars = sum(len(f) for f in frames.values())
    points = grid_points(args.smoke_test)
    space = Path(os.environ["TRADELAB_HOME"]) / "grid.json"
    space.write_text(json.dumps({"params": {
        "fast": {"type": "int", "low": min(p["fast"] for p in points),
                 "high": max(p["fast"] for p in points), "step": 5},
        "slow": {"type": "int", "low": min(p["slow"] for p in points),
                 "high": max(p["slow"] for p in points), "step": 20}}}))
    cpus = int(ensure_ray(include_dashboard=False).get("CPU", 1))
    bt_wall = backtrader_optstrategy(frames, points, cpus)
    result = optimize(OptimizeConfig(strategy="sma_crossover", symbols=tuple(names), search="grid",
                                     trials=0, space_file=str(space), best_n_artifacts=0,
                                     study="throughput"), verbose=False)
    assert len(result.trials) == len(points), (len(result.trials), len(points))
    ours = result.wall_s / len(points)
    theirs = bt_wall / len(points)
    print(f"grid of {len(points)} SMA-crossover parameter sets × {len(names)} symbols × 10 years "
          f"daily ({bars:,} bars per set), {cpus} CPUs")
    print(f"  Backtrader optstrategy(maxcpus={cpus}, optdatas, optreturn): {theirs * 1000:.0f} "
          f"ms wall per set, {bars / theirs:,.0f} bars/s ({bt_wall:.1f} s)")
    print(f"  tradelab grid study on Ray (MLflow included): {ours * 1000:.0f} ms wall per set, "
          f"{bars / ours:,.0f} bars/s ({result.wall_s:.1f} s)")
    print(f"  ratio: {theirs / ours:.2f}x Backtrader's throughput (target >= 1.0x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
