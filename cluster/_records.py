"""Turning Tune results into tradelab ``TrialRecord`` values."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from cluster._trial import METRICS_KEY, PARTIAL, STATE, objective_keys

__all__ = ["append_journal", "read_journal", "trial_number", "trial_record"]

_JOURNAL_KEYS = ("state", "objective", "objective_partial", "backtests_done", "trades", "cpu_s",
                 "duration_s", "reason", "error", "where", "metrics_json")


def append_journal(path: str, trial_id: str, config: Mapping[str, Any],
                   result: Mapping[str, Any], *, number: int = 0) -> None:
    """Record a finished trial durably (one JSON line, flushed and fsynced) in the driver."""
    import os

    keep = {k: v for k, v in result.items()
            if k in _JOURNAL_KEYS or (isinstance(k, str) and k.startswith("objective."))}
    line = json.dumps({"trial_id": trial_id, "number": number, "params": dict(config),
                       "result": keep}, default=str)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_journal(path: str) -> list[dict[str, Any]]:
    """The journal's entries (a torn last line from a killed driver is skipped)."""
    from pathlib import Path

    entries = []
    file = Path(path)
    if not file.is_file():
        return entries
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def trial_number(trial_id: str, label: str = "") -> int:
    """A trial's creation index: from Tune's experiment tag (``"3_fast=11,slow=35"``) or trial
    directory (``run_trial_<id>_3_fast=…``), else the counter some trial ids end in."""
    label = label.split(f"{trial_id}_", 1)[-1] if trial_id and trial_id in label else label
    head = label.split("_", 1)[0]
    if head.isdigit():
        return int(head)
    tail = trial_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def trial_record(*, trial_id: str, config: Mapping[str, Any], result: Mapping[str, Any],
                 tune_error: str | None, metrics: Sequence[str], label: str = "") -> Any:
    """A ``TrialRecord`` from a trial's parameters and last result."""
    from tradelab.tracking import TrialRecord

    state = result.get(STATE)
    if tune_error:
        state, error = "ERROR", tune_error
    elif state is None:
        state, error = ("STOPPED", "stopped early by ASHA") if result else \
            ("ERROR", "the trial reported nothing")
    else:
        error = result.get("error") or result.get("reason")
        if state == "ERROR" and result.get("where"):
            error = f"{result['where']}: {error}"
    keys = objective_keys(metrics)
    values = {m: _finite(result.get(k)) for k, m in zip(keys, metrics, strict=True)}
    value = values[metrics[0]] if state == "COMPLETE" else None
    try:
        means = {k: float(v) for k, v in json.loads(result.get(METRICS_KEY) or "{}").items()
                 if _finite(v) is not None}
    except (TypeError, ValueError):
        means = {}
    if state != "COMPLETE":
        values = {m: None for m in metrics}
        if _finite(result.get(PARTIAL)) is not None:
            means.setdefault("objective_partial", float(result[PARTIAL]))
    params = {k: v for k, v in dict(config).items() if not str(k).startswith("__")}
    return TrialRecord(
        trial_id=trial_id, number=trial_number(trial_id, label), params=params, state=state,
        value=value, values=values if len(metrics) > 1 else {metrics[0]: value},
        metrics=means, backtests=int(result.get("backtests_done", 0) or 0), error=error,
        duration_s=float(result.get("duration_s", 0.0) or result.get("time_total_s", 0.0)
                         or 0.0),
        cpu_s=float(result.get("cpu_s", 0.0) or 0.0),
    )


