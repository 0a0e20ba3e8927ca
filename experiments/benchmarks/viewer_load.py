"""Viewer load time on a store with thousands of trials.

Logs one study of N trials (params, 50 metrics each, as the optimizer logs them) to a fresh
SQLite MLflow store through ``StudyTracker``, then renders the viewer's Study page (trials table,
history, fANOVA importances, heatmap, parallel coordinates, robustness) with Streamlit's
AppTest: cold (nothing cached: MLflow read page by page, importances computed) and warm (the
``st.cache_data`` answers). Baseline, measured in the same run: reading the same trials with
MLflow's default page size (100 runs a request), as a naive ``search_runs`` loop would.

    python experiments/benchmarks/viewer_load.py [--trials 2000] [--smoke-test] [--home DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

APP = Path(__file__).resolve().parents[2] / "tradelab" / "viewer" / "app.py"


def _fill(uri: str, trials: int) -> None:
    from tradelab.metrics import METRICS
    from tradelab.tracking import StudyTracker, TrackingConfig, TrialRecord

    tracker = StudyTracker(TrackingConfig(tracking_uri=uri))
    tracker.start_study(
        study="bench",
        strategy="sma_crossover",
        strategy_family="trend",
        settings={"metric": "sharpe", "mode": "max", "symbols": ["AAA"]},
    )
    records = []
    for i in range(trials):
        fast, slow = 5 + (i * 7) % 46, 20 + 5 * ((i * 13) % 37)
        value = math.sin(fast / 9.0) + math.cos(slow / 40.0) + (i % 11) / 100.0
        state = "COMPLETE" if fast < slow else "INFEASIBLE"
        metrics = {name: value * (1 + k / 100) for k, name in enumerate(METRICS)}
        records.append(
            TrialRecord(
                trial_id=f"t{i:05d}",
                number=i,
                params={"fast": fast, "slow": slow},
                state=state,
                value=value if state == "COMPLETE" else None,
                metrics=metrics if state == "COMPLETE" else {},
                backtests=8,
                duration_s=0.2,
                cpu_s=0.2,
            )
        )
    for start in range(0, trials, 500):
        tracker.log_trials(records[start : start + 500])
    tracker.finish_study(summary={"trials": trials})


def _render(study: str) -> tuple[float, int]:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=600)
    app.run()
    app.switch_page("views/study.py")
    app.query_params["study"] = study
    began = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - began
    if app.exception or app.error:
        raise RuntimeError(
            f"the Study page failed: {[e.value for e in app.exception]}"
            f" {[e.value for e in app.error]}"
        )
    return elapsed, len(app.dataframe[0].value)


def _best_of(times: int, read: Callable[[], int]) -> tuple[float, int]:
    best, count = math.inf, 0
    for _ in range(times):
        began = time.perf_counter()
        count = read()
        best = min(best, time.perf_counter() - began)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--smoke-test", action="store_true", help="200 trials")
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="reuse the store an earlier run left in this directory",
    )
    args = parser.parse_args()
    trials = 200 if args.smoke_test else args.trials
    home = args.home or Path(tempfile.mkdtemp(prefix="tradelab-viewer-bench-"))
    os.environ["TRADELAB_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    uri = f"sqlite:///{home / 'mlflow.db'}"

    if args.home is None or not (home / "mlflow.db").is_file():
        began = time.perf_counter()
        _fill(uri, trials)
        print(f"logged {trials:,} trials in {time.perf_counter() - began:.1f} s ({home})")

    import streamlit as st
    from mlflow import MlflowClient

    from tradelab.tracking import study_trials

    def viewer_read() -> int:
        return len(study_trials("bench", tracking_uri=uri))

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tradelab-studies").experiment_id

    def default_read() -> int:  # the baseline: MLflow's default page of 100 runs
        runs, token = 0, None
        while True:
            page = client.search_runs(
                [experiment], "tags.`tradelab.kind` = 'trial'", page_token=token
            )
            runs += len(page)
            token = page.token
            if not token:
                return runs

    paged, naive = _best_of(2, viewer_read), _best_of(2, default_read)
    assert paged[1] == naive[1]
    paged, naive = paged[0], naive[0]
    st.cache_data.clear()
    cold, rows = _render("bench")
    warm, _ = _render("bench")
    print(f"Study page, {rows:,} trials, AppTest on this machine (reads: best of 2):")
    print(f"  read trials, 1000 runs a request (viewer) : {paged:6.2f} s")
    print(
        f"  read trials, 100 runs a request (default) : {naive:6.2f} s  "
        f"(ratio {naive / paged:.2f}x)"
    )
    print(f"  page cold (read + importances + charts)   : {cold:6.2f} s")
    print(
        f"  page warm (st.cache_data)                 : {warm:6.2f} s  (ratio {cold / warm:.1f}x)"
    )


if __name__ == "__main__":
    main()
