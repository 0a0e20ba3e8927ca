"""``tradelab walkforward`` and ``tradelab report``: honest out-of-sample evidence on the cluster.

Registered by :func:`cluster.cli.register` (the domain core never imports Ray).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tradelab.cli._options import MultiValueOption

__all__ = ["report", "walkforward"]


@click.command()
@click.option("--strategy", required=True, help="Strategy name or module:Class path.")
@click.option(
    "--symbols",
    cls=MultiValueOption,
    required=True,
    help="Symbols, e.g. --symbols AAA BBB (one backtest each per trial).",
)
@click.option(
    "--train", default="3y", show_default=True, help="Train (in-sample) length: 3y, 18m, 26w, 90d …"
)
@click.option("--test", default="6m", show_default=True, help="Test (out-of-sample) length.")
@click.option("--step", default=None, help="How far each window moves (default: --test).")
@click.option(
    "--anchored", is_flag=True, help="Every window trains from the start of the data (expanding)."
)
@click.option(
    "--trials",
    type=int,
    default=50,
    show_default=True,
    help="Trials per window (grid: at most this many points; 0 = the whole grid).",
)
@click.option("--start", default=None, help="First date (default: all stored data).")
@click.option("--end", default=None, help="Last date.")
@click.option("--bar-size", default="1d", show_default=True)
@click.option("--metric", default="sharpe", show_default=True, help="In-sample objective.")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True)
@click.option(
    "--aggregate",
    type=click.Choice(["mean", "median", "mean_minus_std"]),
    default="mean",
    show_default=True,
    help="Across symbols.",
)
@click.option(
    "--search", type=click.Choice(["optuna", "random", "grid"]), default="optuna", show_default=True
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--min-trades",
    type=int,
    default=1,
    show_default=True,
    help="Fewer closed trades over a trial's backtests → the trial FAILED.",
)
@click.option(
    "--param", "fixed", multiple=True, metavar="NAME=VALUE", help="Hold a parameter fixed."
)
@click.option("--constraint", "constraints", multiple=True, help="Extra constraint, repeatable.")
@click.option(
    "--space-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="JSON/YAML overriding the strategy's search space.",
)
@click.option("--costs", default="ib-fixed", show_default=True)
@click.option("--cash", type=float, default=100_000.0, show_default=True)
@click.option("--concurrency", type=int, default=None, help="Trials at once (default: CPUs).")
@click.option("--address", default=None, help="Ray address: auto, ray://host:10001 …")
@click.option("--name", default=None, help="Analysis name (default: wfa-<strategy>-<time>).")
@click.option("--project", default="default", show_default=True)
@click.option("--asset-class", default="equity", show_default=True)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the HTML report here (default: results/walkforward/<name>/).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the result JSON here (default: next to the HTML report).",
)
def walkforward(**options: Any) -> None:
    """Walk-forward analysis: optimize each window in sample on Ray (windows in parallel), test
    the best parameters out of sample, stitch the OOS equity; per-window IS/OOS table,
    parameter drift, walk-forward efficiency and regimes; logged to MLflow.

    Example: tradelab walkforward --strategy sma_crossover --symbols AAA BBB --train 3y
    --test 6m --trials 50
    """
    from cluster.walkforward import WalkForwardConfig, walk_forward
    from tradelab.analysis import walkforward_report_html, walkforward_report_text, write_report
    from tradelab.backtest import write_json
    from tradelab.paths import results_dir
    from tradelab.strategy import parse_param_assignments

    config = WalkForwardConfig(
        strategy=options["strategy"],
        symbols=options["symbols"],
        train=options["train"],
        test=options["test"],
        step=options["step"],
        anchored=options["anchored"],
        trials=options["trials"],
        start=options["start"],
        end=options["end"],
        bar_size=options["bar_size"],
        metric=options["metric"],
        mode=options["mode"],
        aggregate=options["aggregate"],
        search=options["search"],
        seed=options["seed"],
        min_trades=options["min_trades"],
        fixed_params=parse_param_assignments(options["fixed"]),
        constraints=options["constraints"],
        space_file=options["space_file"],
        costs=options["costs"],
        cash=options["cash"],
        concurrency=options["concurrency"],
        name=options["name"],
        project=options["project"],
        asset_class=options["asset_class"],
    )
    result = walk_forward(config, address=options["address"])
    click.echo("")
    click.echo(walkforward_report_text(result))
    folder = results_dir() / "walkforward" / result.name
    html = write_report(
        options["html_path"] or folder / "report.html", walkforward_report_html(result)
    )
    out = write_json(options["json_path"] or folder / "result.json", result.to_dict())
    click.echo(
        f"\nreport: {html}\njson: {out}\nMLflow: {result.tracking_uri}  parent run "
        f"{result.tracking_run_id}  ({result.wall_s:.1f} s)"
    )


@click.command()
@click.argument("study")
@click.option(
    "--slices",
    type=int,
    default=16,
    show_default=True,
    help="CSCV slices (even; fewer are used when the study is short).",
)
@click.option(
    "--max-trials",
    type=int,
    default=200,
    show_default=True,
    help="At most this many parameter sets are re-run for the returns matrix.",
)
@click.option("--refresh", is_flag=True, help="Rebuild the cached returns matrix.")
@click.option("--address", default=None, help="Ray address: auto, ray://host:10001 …")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the HTML report here (default: results/reports/<study>.html).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the diagnostics as JSON.",
)
def report(
    study: str,
    slices: int,
    max_trials: int,
    refresh: bool,
    address: str | None,
    html_path: Path | None,
    json_path: Path | None,
) -> None:
    """Overfitting diagnostics of a finished study: PBO (CSCV), deflated and probabilistic
    Sharpe ratio, IS → OOS degradation, the optimum's robustness and regimes; prints the
    tables and writes an HTML report.

    The study's trials are re-run on Ray once to build the trials x days returns matrix
    (cached in the study directory).

    Example: tradelab report demo-sma_crossover-20261122-060432
    """
    from cluster.diagnostics import diagnose
    from tradelab.analysis import study_report_html, study_report_text, write_report
    from tradelab.backtest import write_json
    from tradelab.paths import results_dir

    diagnostics = diagnose(
        study, slices=slices, max_trials=max_trials, address=address, refresh=refresh
    )
    click.echo("")
    click.echo(study_report_text(diagnostics))
    html = write_report(
        html_path or results_dir() / "reports" / f"{study}.html", study_report_html(diagnostics)
    )
    click.echo(f"\nreport: {html}")
    if json_path:
        click.echo(f"json: {write_json(json_path, diagnostics.to_dict())}")
