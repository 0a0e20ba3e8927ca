"""Driver-side Tune callbacks: console progress and MLflow logging as trials finish."""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from typing import Any

from ray.tune import Callback

from cluster._records import append_journal, trial_number, trial_record
from cluster._trial import OBJECTIVE, STATE

__all__ = ["ProgressCallback", "TrackingCallback"]

logger = logging.getLogger(__name__)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressCallback(Callback):
    """One line per finished trial: done/total, best so far, failures, elapsed, ETA."""

    def __init__(self, *, total: int, metric: str, mode: str, stream: Any = None) -> None:
        self.total, self.metric, self.mode = total, metric, mode
        self._stream = stream
        self._reset()

    def _reset(self) -> None:
        self._began = time.monotonic()
        self._done = 0
        self._bad = 0
        self._best: tuple[float, str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"total": self.total, "metric": self.metric, "mode": self.mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stream = None
        self._reset()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count(trial, trial.last_result or {})

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._bad += 1
        self._count(trial, {})

    def _count(self, trial: Any, result: dict) -> None:
        try:
            self._line(trial, result)
        except Exception:  # noqa: BLE001 - progress output must never fail a trial
            logger.warning("progress line failed", exc_info=True)

    def _line(self, trial: Any, result: dict) -> None:
        self._done += 1
        state = result.get("state")
        value = result.get(OBJECTIVE)
        if state == "COMPLETE" and value is not None and math.isfinite(value):
            sign = 1.0 if self.mode == "max" else -1.0
            if self._best is None or sign * value > sign * self._best[0]:
                self._best = (value, str(trial_number(trial.trial_id,
                                                      getattr(trial, "experiment_tag", ""))))
        elif state in ("FAILED", "ERROR", "INFEASIBLE"):
            self._bad += 1
        elapsed = time.monotonic() - self._began
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self._done) / rate if rate > 0 else math.inf
        best = f"{self._best[0]:.4f} (trial {int(self._best[1])})" if self._best else "n/a"
        stream = self._stream or sys.stdout
        print(f"[{self._done:>4}/{self.total}] best {self.metric} {best} | not complete "
              f"{self._bad} | elapsed {_clock(elapsed)} | ETA {_clock(eta)}", file=stream,
              flush=True)


# Live trackers by study, registered by the optimizer for the duration of a fit. Tune pickles
# its callbacks with the experiment (for resume); a tracker holds an open MLflow client, so the
# callback finds it here by study name instead of carrying it.
ACTIVE_TRACKERS: dict[str, Any] = {}
# Each trial's parameters by study, as Tune started it: an errored trial's Result can come back
# without its config (a node lost mid-trial), and its record must still say what it ran.
TRIAL_CONFIGS: dict[str, dict[str, dict[str, Any]]] = {}


class TrackingCallback(Callback):
    """Journals each finished trial, and logs trials to MLflow in batches from a background
    thread, so the Tune controller never waits on the tracking store to start the next trial
    (idempotent: a resumed study adds none twice)."""

    def __init__(self, *, study: str, metrics: tuple[str, ...], journal: str, batch: int = 5,
                 every_s: float = 2.0) -> None:
        self.study, self.metrics, self.journal = study, metrics, journal
        self.batch, self.every_s = batch, every_s
        self._start()

    def _start(self) -> None:
        self._pending: list = []
        self._last = time.monotonic()
        self._queue: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"study": self.study, "metrics": self.metrics, "journal": self.journal,
                "batch": self.batch, "every_s": self.every_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        TRIAL_CONFIGS.setdefault(self.study, {})[trial.trial_id] = dict(trial.config or {})

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(trial)

    def _add(self, trial: Any) -> None:
        result = trial.last_result or {}
        if result.get(STATE) and not result.get("resumed_from_journal"):
            append_journal(self.journal, trial.trial_id, trial.config, result,
                           number=trial_number(trial.trial_id,
                                               getattr(trial, "experiment_tag", "")))
        try:
            self._pending.append(trial_record(
                trial_id=trial.trial_id, config=trial.config, result=result,
                tune_error=_tune_error(trial), metrics=self.metrics,
                label=getattr(trial, "experiment_tag", "")))
        except Exception:  # noqa: BLE001 - the study goes on; the end of the run logs again
            logger.warning("a trial record could not be built; logged at the end",
                           exc_info=True)
        if len(self._pending) >= self.batch or time.monotonic() - self._last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Hand the pending records to the writer thread."""
        if self._pending:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="mlflow-writer",
                                                daemon=True)
                self._writer.start()
            self._queue.put(self._pending)
            self._pending = []
        self._last = time.monotonic()

    def _write(self) -> None:
        try:  # Linux: lowest priority for this thread only, so trials keep the CPUs
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                tracker = ACTIVE_TRACKERS.get(self.study)
                if tracker is not None:
                    tracker.log_trials(batch)
            except Exception:  # noqa: BLE001 - logged again (idempotently) when the study ends
                logger.warning("logging trials to MLflow failed; retried at the end",
                               exc_info=True)
            finally:
                self._queue.task_done()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.flush()
        self.close()

    def close(self) -> None:
        """Wait until every handed-over batch is written."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None


def _tune_error(trial: Any) -> str | None:
    if getattr(trial, "status", "") != "ERROR":
        return None
    return str(getattr(trial, "error_file", None) or "the trial's worker failed")
