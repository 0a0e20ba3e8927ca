"""Builders shared by the tradelab.tracking tests: trial records and a direct MLflow reader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Run

from tradelab.tracking import TrialRecord

STATES = ("COMPLETE", "COMPLETE", "FAILED", "ERROR", "STOPPED", "INFEASIBLE")


def sqlite_uri(directory: Path) -> str:
    """An absolute SQLite tracking URI in ``directory``."""
    return f"sqlite:///{(directory / 'mlflow.db').as_posix()}"


def make_trial(
    number: int, state: str = "COMPLETE", *, prefix: str = "t", **extra: Any
) -> TrialRecord:
    """A trial whose numbers follow from ``number`` (sharpe = number / 10 for COMPLETE)."""
    sharpe = number / 10
    fields: dict[str, Any] = {
        "trial_id": f"{prefix}{number:04d}",
        "number": number,
        "params": {"fast": 5 + number, "slow": 40 + number, "sizing": "percent"},
        "state": state,
        "value": sharpe if state == "COMPLETE" else None,
        "metrics": {"sharpe": sharpe, "max_drawdown": -0.01 * number, "win_rate": math.nan},
        "backtests": 4,
        "duration_s": 2.5,
        "cpu_s": 2.0,
        "error": {"ERROR": "Traceback: ValueError: boom", "FAILED": "fewer than 5 trades"}.get(
            state
        ),
    }
    fields.update(extra)
    return TrialRecord(**fields)


def mixed_trials(count: int, *, prefix: str = "t") -> list[TrialRecord]:
    """``count`` trials cycling through every state (COMPLETE twice as often)."""
    return [make_trial(i, STATES[i % len(STATES)], prefix=prefix) for i in range(count)]


def children(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Run]:
    """Every child run of ``parent_id``, read straight from MLflow."""
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            f"tags.`mlflow.parentRunId` = '{parent_id}'",
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs
