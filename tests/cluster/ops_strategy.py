"""A test strategy for the cluster-operations tests (importable, so Ray workers can load it)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from strategies.sma_crossover import SmaCrossover
from tradelab.strategy import IntParam, ParameterSpace


class NodeMarkedStrategy(SmaCrossover):
    """SMA crossover that leaves a marker in ``$TRADELAB_MARKERS`` when a backtest starts
    (``start-<fast>-<slow>-<node id>-<uuid>``), sleeps ``pause`` seconds at the end, then leaves
    another when it finishes (``done-<fast>-<slow>-<node id>-<uuid>``): which node ran what,
    and how often each parameter set really ran."""

    name = "node_marked"
    params = (("pause", 1.5),)
    space = ParameterSpace({"fast": IntParam(5, 10), "slow": IntParam(20, 21)},
                           constraints=("fast < slow",))

    def _mark(self, stage: str) -> None:
        import ray

        node = ray.get_runtime_context().get_node_id()
        folder = Path(os.environ["TRADELAB_MARKERS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stage}-{self.p.fast}-{self.p.slow}-{node}-{uuid.uuid4().hex}").touch()

    def start(self) -> None:
        super().start()
        self._mark("start")

    def stop(self) -> None:
        super().stop()
        time.sleep(self.p.pause)
        self._mark("done")
