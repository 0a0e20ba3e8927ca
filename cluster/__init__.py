"""The thin Ray layer: market data in the object store, the optimizer, (later) live trading."""

from __future__ import annotations

from cluster.config import OptimizeConfig
from cluster.data_service import DataHandle, MarketDataService, fetch_arrays, get_data_service
from cluster.diagnostics import diagnose
from cluster.optimizer import StudyResult, optimize, pareto_front, resume, study_dir
from cluster.runtime import NAMESPACE, ensure_ray
from cluster.walkforward import WalkForwardConfig, walk_forward

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
