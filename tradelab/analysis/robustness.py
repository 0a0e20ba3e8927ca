"""Parameter robustness of a study's optimum: its neighbourhood, edges and sensitivities.

A good optimum sits on a plateau: the parameter sets around it score nearly as well. A sharp
peak surrounded by poor neighbours is likely fitted to noise. Three checks, from the study's
complete trials alone (no new backtests):

* **neighbourhood** — the objective of the best point's neighbours: in a grid study the grid
  points one step away in any parameter (Chebyshev distance 1 in steps); otherwise the ``k``
  nearest trials in the space scaled to [0, 1] per parameter (a categorical differs by 0 or 1).
  ``ratio`` is the neighbours' mean objective over the best objective.
* **edges** — a best value within one step (integers, stepped floats) or 2.5% of the range
  (continuous floats) of its search range's bound: the true optimum may lie outside the range.
* **sensitivity** per parameter — ``eta²`` (the correlation ratio: the share of the objective's
  variance explained by the parameter's value, in up to 10 quantile bins) and the Spearman rank
  correlation of the parameter with the objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError

__all__ = ["ParameterBounds", "ParameterSensitivity", "RobustnessReport", "parameter_robustness"]

_EDGE_FRACTION = 0.025
_BINS = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class ParameterBounds:
    """A searched parameter's range: ``kind`` is ``int``, ``float`` or ``choice``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple[Any, ...] = ()

    @classmethod
    def from_space(cls, space: Any) -> dict[str, ParameterBounds]:
        """Bounds of every parameter of a ``tradelab.strategy.ParameterSpace``."""
        from tradelab.strategy import Choice, FloatParam

        out = {}
        for name, spec in space.params.items():
            if isinstance(spec, Choice):
                out[name] = cls(name=name, kind="choice", values=tuple(spec.values))
            else:
                kind = "float" if isinstance(spec, FloatParam) else "int"
                out[name] = cls(
                    name=name,
                    kind=kind,
                    low=float(spec.low),
                    high=float(spec.high),
                    step=None if spec.step is None else float(spec.step),
                )
        return out

    def edge(self, value: Any) -> str | None:
        """``"low"`` / ``"high"`` when ``value`` is at that bound of the range, else None."""
        if self.kind == "choice" or self.low is None or self.high is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if self.high == self.low:
            return None
        margin = self.step if self.step else _EDGE_FRACTION * (self.high - self.low)
        if number - self.low < margin - 1e-12:
            return "low"
        if self.high - number < margin - 1e-12:
            return "high"
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ParameterSensitivity:
    """How the objective depends on one parameter, and where the best value lies."""

    name: str
    best: Any
    low: Any
    high: Any
    edge: str | None
    eta_squared: float
    spearman: float
    distinct: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RobustnessReport:
    """The best point's neighbourhood, edge flags and per-parameter sensitivity.

    Attributes:
        best_params, best_value: the optimum.
        method: ``grid`` (neighbours one grid step away) or ``nearest`` (k nearest trials).
        neighbours: ``(params, value, distance)`` of each neighbour, nearest first.
        neighbour_mean, neighbour_median, neighbour_min: of the neighbours' objective.
        ratio: neighbour_mean / best_value (near 1: a plateau; far below: a lone peak) —
            NaN when the best value is 0 or there are no neighbours.
        parameters: per-parameter sensitivity, most important (largest eta²) first.
        edges: messages for parameters whose best value is at the edge of the range.
        trials: complete trials used.
    """

    best_params: Mapping[str, Any]
    best_value: float
    mode: str
    method: str
    neighbours: tuple[tuple[Mapping[str, Any], float, float], ...]
    neighbour_mean: float
    neighbour_median: float
    neighbour_min: float
    ratio: float
    parameters: tuple[ParameterSensitivity, ...]
    edges: tuple[str, ...] = field(default=())
    trials: int = 0

    def to_dict(self) -> dict[str, Any]:
        def num(value: Any) -> Any:
            return None if isinstance(value, float) and not math.isfinite(value) else value

        return {
            "best_params": dict(self.best_params),
            "best_value": num(self.best_value),
            "mode": self.mode,
            "method": self.method,
            "trials": self.trials,
            "neighbours": [
                {"params": dict(p), "value": num(v), "distance": num(d)}
                for p, v, d in self.neighbours
            ],
            "neighbour_mean": num(self.neighbour_mean),
            "neighbour_median": num(self.neighbour_median),
            "neighbour_min": num(self.neighbour_min),
            "ratio": num(self.ratio),
            "parameters": [
                {
                    "name": p.name,
                    "best": p.best,
                    "low": p.low,
                    "high": p.high,
                    "edge": p.edge,
                    "eta_squared": num(p.eta_squared),
                    "spearman": num(p.spearman),
                    "distinct": p.distinct,
                }
                for p in self.parameters
            ],
            "edges": list(self.edges),
        }


def parameter_robustness(
    trials: Sequence[tuple[Mapping[str, Any], float]],
    *,
    bounds: Mapping[str, ParameterBounds] | None = None,
    mode: str = "max",
    grid: bool = False,
    neighbours: int = 8,
) -> RobustnessReport:
    """Robustness of the best of ``trials`` (``(params, objective)`` of complete trials).

    Args:
        trials: the complete trials' parameters and objective values.
        bounds: the searched ranges (``ParameterBounds.from_space(space)``); without them the
            observed min/max stand in and no edge is flagged.
        mode: ``max`` or ``min`` (which objective is best).
        grid: the study was an exact grid: neighbours are the points one step away.
        neighbours: ``k`` for the nearest-trials neighbourhood.

    Raises:
        ConfigError: no trials, a bad mode, or parameters that differ between trials.

    Example:
        >>> trials = [({"n": n}, -(n - 5) ** 2) for n in range(1, 10)]
        >>> report = parameter_robustness(trials, neighbours=2)
        >>> report.best_params["n"], [p for p, _, _ in report.neighbours]
        (5, [{'n': 4}, {'n': 6}])
    """
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}.")
    rows = [(dict(p), float(v)) for p, v in trials if v is not None and math.isfinite(float(v))]
    if not rows:
        raise ConfigError("robustness needs at least one complete trial with a finite objective.")
    names = sorted(rows[0][0])
    if any(sorted(p) != names for p, _ in rows):
        raise ConfigError("every trial must have the same parameter names for robustness.")
    frame = pd.DataFrame([p for p, _ in rows], columns=names)
    values = np.array([v for _, v in rows])
    sign = 1.0 if mode == "max" else -1.0
    best_row = int(np.argmax(sign * values))
    best = rows[best_row][0]
    known = dict(bounds or {})
    spans = {name: known.get(name) or _observed(name, frame[name]) for name in names}
    coords = _coordinates(frame, spans)
    same = np.all(coords == coords[best_row], axis=1)
    if grid and all(spans[n].kind == "choice" or spans[n].step for n in names):
        method = "grid"
        steps = _step_distance(frame, spans, best)
        picked = np.flatnonzero((steps <= 1.0 + 1e-9) & ~same)
        distance = steps
    else:
        method = "nearest"
        distance = np.sqrt(((coords - coords[best_row]) ** 2).sum(axis=1))
        others = np.flatnonzero(~same)
        picked = others[np.argsort(distance[others], kind="stable")][:neighbours]
    picked = picked[np.argsort(distance[picked], kind="stable")]
    near = values[picked]
    best_value = values[best_row]
    mean = float(near.mean()) if near.size else math.nan
    parameters = tuple(
        sorted(
            (
                _sensitivity(name, frame[name], values, best[name], spans[name], known.get(name))
                for name in names
            ),
            key=lambda p: -(p.eta_squared if math.isfinite(p.eta_squared) else -1.0),
        )
    )
    edges = tuple(
        f"{p.name} = {p.best} is at the {p.edge} edge of its search range [{p.low}, {p.high}]: "
        "the optimum may lie outside it; widen the range and search again."
        for p in parameters
        if p.edge
    )
    return RobustnessReport(
        best_params=best,
        best_value=float(best_value),
        mode=mode,
        method=method,
        neighbours=tuple((rows[i][0], float(values[i]), float(distance[i])) for i in picked),
        neighbour_mean=mean,
        neighbour_median=float(np.median(near)) if near.size else math.nan,
        neighbour_min=float(near.min()) if near.size else math.nan,
        ratio=mean / float(best_value) if near.size and best_value != 0 else math.nan,
        parameters=parameters,
        edges=edges,
        trials=len(rows),
    )


def _observed(name: str, column: pd.Series) -> ParameterBounds:
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all() and not column.map(lambda v: isinstance(v, bool)).any():
        return ParameterBounds(
            name=name, kind="float", low=float(numeric.min()), high=float(numeric.max())
        )
    return ParameterBounds(name=name, kind="choice", values=tuple(dict.fromkeys(column)))


def _coordinates(frame: pd.DataFrame, spans: Mapping[str, ParameterBounds]) -> np.ndarray:
    """Each parameter scaled to [0, 1]; a categorical as its index / (count - 1)."""
    columns = []
    for name in frame.columns:
        span = spans[name]
        if span.kind == "choice":
            order = {str(v): i for i, v in enumerate(span.values)}
            scale = max(len(order) - 1, 1)
            columns.append(frame[name].map(lambda v, o=order, s=scale: o.get(str(v), 0) / s))
        else:
            width = (span.high - span.low) or 1.0
            columns.append((pd.to_numeric(frame[name]) - span.low) / width)
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


def _step_distance(
    frame: pd.DataFrame, spans: Mapping[str, ParameterBounds], best: Mapping[str, Any]
) -> np.ndarray:
    """Chebyshev distance from ``best`` in grid steps (a different categorical = 1 step)."""
    distance = np.zeros(len(frame))
    for name in frame.columns:
        span = spans[name]
        if span.kind == "choice":
            part = (frame[name].astype(str) != str(best[name])).to_numpy(dtype=float)
        else:
            part = np.abs(
                pd.to_numeric(frame[name]).to_numpy(dtype=float) - float(best[name])
            ) / float(span.step)
        distance = np.maximum(distance, part)
    return distance


def _sensitivity(
    name: str,
    column: pd.Series,
    values: np.ndarray,
    best: Any,
    span: ParameterBounds,
    known: ParameterBounds | None,
) -> ParameterSensitivity:
    if span.kind == "choice":
        groups = column.astype(str)
        spearman = math.nan
        low, high = (span.values[0], span.values[-1]) if span.values else (None, None)
    else:
        numeric = pd.to_numeric(column).astype(float)
        groups = (
            numeric
            if numeric.nunique() <= _BINS
            else pd.qcut(numeric, _BINS, duplicates="drop").astype(str)
        )
        spearman = _spearman(numeric.to_numpy(), values)
        low, high = _number(span.low), _number(span.high)
    return ParameterSensitivity(
        name=name,
        best=best,
        low=low,
        high=high,
        edge=known.edge(best) if known is not None else None,
        eta_squared=_eta_squared(groups, values),
        spearman=spearman,
        distinct=int(column.astype(str).nunique()),
    )


def _eta_squared(groups: pd.Series, values: np.ndarray) -> float:
    total = float(((values - values.mean()) ** 2).sum())
    if values.size < 2 or total == 0.0:
        return math.nan
    frame = pd.DataFrame({"g": np.asarray(groups), "v": values})
    stats = frame.groupby("g", observed=True)["v"].agg(["mean", "count"])
    between = float((stats["count"] * (stats["mean"] - values.mean()) ** 2).sum())
    return between / total


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def _number(value: float | None) -> Any:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value
