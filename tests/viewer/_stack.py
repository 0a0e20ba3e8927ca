"""The driver the viewer tests run as a subprocess: one local Ray (pinned to 127.0.0.1, with its
dashboard on a given port), a real LiveTrader (the Serve deployment ``tradelab live start``
runs) trading sma_crossover on a paper broker, two real small studies and a real walk-forward
analysis logged to the MLflow store under ``$TRADELAB_HOME``.

    python -m tests.viewer._stack API_PORT DASHBOARD_PORT SECONDS

Prints ``STACK READY`` once everything is up, then serves until SIGTERM (stopping the trader
cleanly) or ``SECONDS`` have passed.
"""

from __future__ import annotations

import signal
import sys
import time

STUDIES = (
    # name, strategy, symbols, trials, seed, project, asset class, points tried first,
    # trials with logged artifacts
    (
        "viewer-sma",
        "sma_crossover",
        ("AAA", "BBB"),
        8,
        1,
        "viewer",
        "equity",
        ({"fast": 40, "slow": 30},),
        1,
    ),  # the first point breaks fast < slow: an INFEASIBLE trial
    ("viewer-donchian", "donchian_breakout", ("AAA",), 4, 2, "research", "synthetic-equity", (), 0),
)
TRADER = "viewer"
WALKFORWARD = "viewer-wfa"  # sma_crossover on AAA+BBB, train 1y, test 6m: 4 windows of 4 trials


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _mark(began: float, what: str) -> None:
    print(f"[{time.perf_counter() - began:5.1f} s] {what}", flush=True)


def main(api_port: int, dashboard_port: int, seconds: float) -> None:
    began = time.perf_counter()
    from ray import serve

    from cluster import (
        OptimizeConfig,
        WalkForwardConfig,
        ensure_ray,
        optimize,
        walk_forward,
    )
    from cluster.live import build_app

    signal.signal(signal.SIGTERM, _stop)
    ensure_ray(num_cpus=2, include_dashboard=True, dashboard_port=dashboard_port)
    _mark(began, "ray up")
    serve.start(http_options={"host": "127.0.0.1", "port": api_port})
    try:
        # started first: its strategy trades while the studies run
        serve.run(
            build_app(
                {
                    "name": TRADER,
                    "symbols": ["AAA", "BBB"],
                    "speed": 10.0,
                    "strategy": "sma_crossover",
                    "strategy_params": {"fast": 3, "slow": 8},
                }
            ),
            name=TRADER,
            route_prefix="/",
            blocking=False,
        )
        _mark(began, "live trader up")
        for name, strategy, symbols, trials, seed, project, asset_class, points, best_n in STUDIES:
            optimize(
                OptimizeConfig(
                    strategy=strategy,
                    symbols=symbols,
                    trials=trials,
                    seed=seed,
                    study=name,
                    project=project,
                    asset_class=asset_class,
                    points_to_evaluate=points,
                    best_n_artifacts=best_n,
                ),
                verbose=False,
            )
            _mark(began, f"study {name} done")
        walk_forward(
            WalkForwardConfig(
                strategy="sma_crossover",
                symbols=("AAA", "BBB"),
                train="1y",
                test="6m",
                trials=4,
                name=WALKFORWARD,
            ),
            verbose=False,
        )
        _mark(began, "walk-forward done")
        print("STACK READY", flush=True)
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(TRADER)
        serve.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
