"""Commands of the ``tradelab`` CLI that need Ray: ``optimize`` and the ``demo`` study.

``tradelab.cli`` discovers this module at start-up (``register``), so the domain core never
imports Ray or this package statically.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from tradelab._tables import format_metric, render_table
from tradelab.cli._options import MultiValueOption

__all__ = ["demo", "optimize", "print_study", "register"]


def register(group: click.Group) -> None:
    """Add this module's commands to the ``tradelab`` group."""
    group.add_command(optimize)
    group.add_command(demo, name="demo")
    from cluster.live_cli import live

    group.add_command(live)
    from cluster.analysis_cli import report, walkforward

    group.add_command(walkforward)
    group.add_command(report)
    from cluster.cluster_cli import cluster, submit

    group.add_command(cluster)
    group.add_command(submit)


def print_study(result: Any, *, top: int = 10) -> None:
    """The top-N table, the counts, efficiency, and where the results are."""
    from tradelab.metrics import METRICS

    config = result.config
    metric = config.metric[0]
    unit = METRICS[metric].unit if metric in METRICS else "ratio"
    shown = [m for m in ("sharpe", "cagr", "max_drawdown", "win_rate", "num_trades")
             if m != metric]
    rows = []
    ranked = list(result.pareto) if result.pareto else result.top(len(result.trials))
    repeats: dict[str, int] = {}
    trials = []
    for trial in ranked:  # a parameter set the sampler suggested again is shown once, ×n
        key = repr(sorted(trial.params.items()))
        if key not in repeats:
            trials.append(trial)
        repeats[key] = repeats.get(key, 0) + 1
    for rank, trial in enumerate(trials[:top], 1):
        params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(trial.params.items()))
        times = repeats[repr(sorted(trial.params.items()))]
        if times > 1:
            params += f"  (×{times})"
        objective = " / ".join(format_metric(v, METRICS[m].unit if m in METRICS else "ratio")
                               for m, v in trial.values.items()) if result.pareto else \
            format_metric(trial.value, unit)
        rows.append([rank, trial.number, params, objective]
                    + [format_metric(trial.metrics.get(m), METRICS[m].unit) for m in shown])
    title = ("Pareto front" if result.pareto else f"Top {min(top, len(rows))} trials") + \
        f" — {config.strategy} on {', '.join(config.symbols)}" + \
        (f", {config.folds} folds" if config.folds > 1 else "") + \
        f" ({config.aggregate} {' & '.join(config.metric)} over "\
        f"{len(config.symbols) * config.folds} backtests per trial)"
    headers = ["#", "trial", "params", " / ".join(config.metric)] + [f"mean {m}" for m in shown]
    click.echo(render_table(headers, rows, align="rrll" + "r" * len(shown), title=title)
               if rows else "no trial completed")
    counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(result.counts.items()))
    click.echo(f"trials: {len(result.trials)} ({counts}); wall {result.wall_s:.1f} s; "
               f"backtest CPU {result.cpu_s:.1f} s on {result.cpus:g} CPUs → efficiency "
               f"{result.efficiency:.0%}" + (f"; stopped: {result.stopped_reason}"
                                              if result.stopped_reason else ""))
    for trial in [t for t in result.trials if t.state == "ERROR"][:3]:
        last = (trial.error or "").strip().splitlines()[-1:] or [""]
        click.echo(f"  trial {trial.number} ERROR: {last[0]}")
    click.echo(f"study: {result.study}  ({result.directory})")
    click.echo(f"MLflow: {result.tracking_uri}  parent run {result.tracking_run_id}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@click.command()
@click.option("--strategy", help="Strategy name or module:Class path.")
@click.option("--symbols", cls=MultiValueOption, help="Symbols, e.g. --symbols AAA BBB.")
@click.option("--start", default=None, help="First date (default: all stored data).")
@click.option("--end", default=None, help="Last date.")
@click.option("--bar-size", default="1d", show_default=True)
@click.option("--trials", type=int, default=50, show_default=True,
              help="Trials (grid: at most this many points; 0 = the whole grid).")
@click.option("--search", type=click.Choice(["optuna", "nsga2", "grid", "random"]),
              default="optuna", show_default=True,
              help="optuna = TPE; nsga2 = multi-objective; grid and random for comparison.")
@click.option("--metric", cls=MultiValueOption, default=("sharpe",), show_default=True,
              help="Objective metric(s); several → NSGA-II, e.g. --metric sharpe max_drawdown.")
@click.option("--mode", cls=MultiValueOption, default=("max",), show_default=True,
              help="max or min, one per metric.")
@click.option("--aggregate", type=click.Choice(["mean", "median", "mean_minus_std"]),
              default="mean", show_default=True, help="Across symbols and folds.")
@click.option("--folds", type=int, default=1, show_default=True, help="Time splits per symbol.")
@click.option("--min-trades", type=int, default=1, show_default=True,
              help="Fewer closed trades over a trial's backtests → the trial FAILED.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--concurrency", type=int, default=None, help="Trials at once (default: CPUs).")
@click.option("--address", default=None, help="Ray address: auto, ray://host:10001 …")
@click.option("--space-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON/YAML overriding the strategy's search space.")
@click.option("--constraint", "constraints", multiple=True, help="Extra constraint, repeatable.")
@click.option("--param", "fixed", multiple=True, metavar="NAME=VALUE",
              help="Hold a parameter fixed.")
@click.option("--warm-start", "warm_start", type=click.Path(exists=True, dir_okay=False),
              default=None, help="A study JSON (from --json) whose best params are tried first.")
@click.option("--costs", default="ib-fixed", show_default=True)
@click.option("--cash", type=float, default=100_000.0, show_default=True)
@click.option("--target", type=float, default=None, help="Stop once the best reaches this.")
@click.option("--patience", type=int, default=None,
              help="Stop after this many trials without improvement.")
@click.option("--no-early-stopping", is_flag=True, help="Disable ASHA.")
@click.option("--study", default=None, help="Study name (default: strategy-date-time).")
@click.option("--resume", "resume_study", default=None, metavar="STUDY",
              help="Continue an interrupted study (other options are taken from it).")
@click.option("--project", default="default", show_default=True)
@click.option("--asset-class", default="equity", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write the study result JSON here.")
@click.option("--top", type=int, default=10, show_default=True)
def optimize(**options: Any) -> None:
    """Optimize a strategy's parameters with Ray Tune + Optuna; trials logged to MLflow.

    A trial evaluates one parameter set over every (symbol, fold) backtest.

    Example: tradelab optimize --strategy sma_crossover --symbols AAA BBB --trials 100 --folds 3
    """
    from cluster import OptimizeConfig
    from cluster import optimize as run_study
    from cluster import resume as resume_study
    from tradelab.backtest import write_json
    from tradelab.errors import ConfigError
    from tradelab.strategy import parse_param_assignments

    if options["resume_study"]:
        click.echo(f"resuming study {options['resume_study']} …")
        result = resume_study(options["resume_study"], address=options["address"])
    else:
        if not options["strategy"] or not options["symbols"]:
            raise ConfigError("--strategy and --symbols are required (or --resume STUDY).")
        points = ()
        if options["warm_start"]:
            import json

            earlier = json.loads(Path(options["warm_start"]).read_text())
            if not earlier.get("best_params"):
                raise ConfigError(f"--warm-start {options['warm_start']} has no best_params.")
            points = (earlier["best_params"],)
        config = OptimizeConfig(
            strategy=options["strategy"], symbols=options["symbols"], start=options["start"],
            end=options["end"], bar_size=options["bar_size"], folds=options["folds"],
            metric=options["metric"], mode=options["mode"], aggregate=options["aggregate"],
            search=options["search"], trials=options["trials"],
            concurrency=options["concurrency"], space_file=options["space_file"],
            constraints=options["constraints"],
            fixed_params=parse_param_assignments(options["fixed"]),
            min_trades=options["min_trades"], costs=options["costs"], cash=options["cash"],
            seed=options["seed"], early_stopping=not options["no_early_stopping"],
            target=options["target"], patience=options["patience"], points_to_evaluate=points,
            study=options["study"], project=options["project"],
            asset_class=options["asset_class"],
        )
        click.echo(f"study: {config.strategy} × {len(config.symbols)} symbols × {config.folds} "
                   f"folds, {config.trials} trials ({config.search}) …")
        result = run_study(config, address=options["address"])
    print_study(result, top=options["top"])
    if options["json_path"]:
        write_json(options["json_path"], result.to_dict())
        click.echo(f"json: {options['json_path']}")


@click.command()
@click.option("--symbols", default="AAA,BBB,CCC,DDD,EEE,FFF,GGG,HHH", show_default=True,
              help="Comma-separated demo symbols.")
@click.option("--trials", type=int, default=100, show_default=True)
@click.option("--strategy", default="sma_crossover", show_default=True)
def demo(symbols: str, trials: int, strategy: str) -> None:
    """The main job: SYNTHETIC demo data, every strategy at defaults, then a ~100-trial study
    on local Ray logged to MLflow, with the top-10 table and where the results are."""
    from cluster import OptimizeConfig
    from cluster import optimize as run_study
    from tradelab.backtest import write_json
    from tradelab.cli.demo_command import baseline_table, ensure_demo_data
    from tradelab.data import ParquetStore
    from tradelab.paths import results_dir

    began = time.perf_counter()
    store = ParquetStore()
    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    made = ensure_demo_data(store, symbols=names)
    click.echo(f"demo data: {len(names)} SYNTHETIC symbols, 10 years daily, in {store.root} "
               f"({len(made)} generated now)")
    baseline_table(store, names)
    config = OptimizeConfig(strategy=strategy, symbols=names, trials=trials, folds=1,
                            metric=("sharpe",), mode=("max",), seed=7,
                            study=f"demo-{strategy}-{time.strftime('%Y%m%d-%H%M%S')}",
                            project="demo", asset_class="synthetic-equity")
    click.echo(f"\noptimizing {strategy}: {trials} trials × {len(names)} symbols on local Ray "
               "(TPE + ASHA) …")
    result = run_study(config)
    print_study(result)
    out = write_json(results_dir() / "demo" / f"{result.study}.json", result.to_dict())
    click.echo(f"json: {out}\nbrowse the runs: mlflow ui --backend-store-uri "
               f"{result.tracking_uri} --host 127.0.0.1   ({time.perf_counter() - began:.0f} s)")
