"""The thin Ray layer: market data in the object store, the optimizer, live trading.

The names below load on first use, so a Ray worker that only runs a trial (``cluster._trial``)
does not import the optimizer, walk-forward and diagnostics (and through them Tune's driver side
and MLflow) before its first backtest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cluster.config import OptimizeConfig
    from cluster.data_service import DataHandle, MarketDataService, fetch_arrays, get_data_service
    from cluster.diagnostics import diagnose
    from cluster.optimizer import StudyResult, optimize, pareto_front, resume, study_dir
    from cluster.runtime import NAMESPACE, ensure_ray
    from cluster.walkforward import WalkForwardConfig, walk_forward

_HOMES = {
    "OptimizeConfig": "cluster.config",
    "DataHandle": "cluster.data_service",
    "MarketDataService": "cluster.data_service",
    "fetch_arrays": "cluster.data_service",
    "get_data_service": "cluster.data_service",
    "diagnose": "cluster.diagnostics",
    "StudyResult": "cluster.optimizer",
    "optimize": "cluster.optimizer",
    "pareto_front": "cluster.optimizer",
    "resume": "cluster.optimizer",
    "study_dir": "cluster.optimizer",
    "NAMESPACE": "cluster.runtime",
    "ensure_ray": "cluster.runtime",
    "WalkForwardConfig": "cluster.walkforward",
    "walk_forward": "cluster.walkforward",
}

__all__ = [
    "NAMESPACE",
    "DataHandle",
    "MarketDataService",
    "OptimizeConfig",
    "StudyResult",
    "WalkForwardConfig",
    "diagnose",
    "ensure_ray",
    "fetch_arrays",
    "get_data_service",
    "optimize",
    "pareto_front",
    "resume",
    "study_dir",
    "walk_forward",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'cluster' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
