"""Test strategies for the optimizer tests (importable, so Ray workers can load them)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from strategies.sma_crossover import SmaCrossover
from tradelab.strategy import IntParam, ParameterSpace


class BoomStrategy(SmaCrossover):
    """SMA crossover that raises when ``boom`` is 3 — a strategy bug in one trial."""

    name = "boom"
    params = (("boom", 1),)
    space = ParameterSpace({"boom": IntParam(1, 4), "fast": IntParam(5, 6),
                            "slow": IntParam(20, 21)}, constraints=("fast < slow",))

    def next(self) -> None:
        if self.p.boom == 3:
            raise RuntimeError("boom: strategy bug on purpose")
        super().next()


class SlowMarkedStrategy(SmaCrossover):
    """SMA crossover that sleeps ``pause`` seconds at the end, then leaves a marker file per
    finished backtest in ``$TRADELAB_MARKERS`` (to count how often each trial really ran)."""

    name = "slow_marked"
    params = (("pause", 1.0),)
    space = ParameterSpace({"fast": IntParam(5, 10), "slow": IntParam(20, 21)},
                           constraints=("fast < slow",))

    def stop(self) -> None:
        time.sleep(self.p.pause)
        folder = Path(os.environ["TRADELAB_MARKERS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.p.fast}-{self.p.slow}-{uuid.uuid4().hex}").touch()
