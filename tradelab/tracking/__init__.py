"""MLflow tracking of optimization studies: logging (one parent run per study, one child run per
trial) and queries that answer as pandas DataFrames.

The embedded default is an MLflow SQLite store at ``<data_root>/mlflow.db`` with artifacts in
``<data_root>/mlartifacts``; ``$MLFLOW_TRACKING_URI`` (an MLflow server on PostgreSQL in
production) wins. Only this package imports mlflow, and only when a store is opened.

Example:
    >>> from tradelab.tracking import StudyTracker, TrialRecord, study_trials
    >>> tracker = StudyTracker()                       # doctest: +SKIP
    >>> tracker.start_study(study="sma-1", strategy="sma_crossover", strategy_family="trend",
    ...                     settings={"metric": "sharpe", "mode": "max"})  # doctest: +SKIP
    >>> tracker.log_trials([TrialRecord(trial_id="t0", number=0, params={"fast": 10},
    ...                     state="COMPLETE", value=0.9, backtests=4)])   # doctest: +SKIP
    >>> tracker.finish_study(summary={"best_value": 0.9})                 # doctest: +SKIP
    >>> study_trials("sma-1")                                             # doctest: +SKIP
"""

from __future__ import annotations

from tradelab.tracking.config import DEFAULT_EXPERIMENT, TrackingConfig, embedded_tracking_uri
from tradelab.tracking.export import EXPORT_SUFFIXES, export_frame
from tradelab.tracking.queries import (
    COMPARE_COLUMNS,
    STUDY_COLUMNS,
    TRIAL_COLUMNS,
    compare_strategies,
    list_studies,
    study_trials,
)
from tradelab.tracking.records import RESERVED_METRICS, TRIAL_STATES, TrialRecord, best_trials
from tradelab.tracking.tracker import STUDY_STATUSES, StudyTracker
from tradelab.tracking.walkforward import (
    WalkForwardTracker,
    walkforward_detail,
    walkforward_runs,
)

__all__ = [
    "COMPARE_COLUMNS",
    "DEFAULT_EXPERIMENT",
    "EXPORT_SUFFIXES",
    "RESERVED_METRICS",
    "STUDY_COLUMNS",
    "STUDY_STATUSES",
    "TRIAL_COLUMNS",
    "TRIAL_STATES",
    "StudyTracker",
    "TrackingConfig",
    "TrialRecord",
    "WalkForwardTracker",
    "best_trials",
    "compare_strategies",
    "embedded_tracking_uri",
    "export_frame",
    "list_studies",
    "study_trials",
    "walkforward_detail",
    "walkforward_runs",
]
