"""The immutable result of :func:`~tradelab.metrics.compute_metrics`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tradelab.errors import UnknownNameError

__all__ = ["MetricsReport"]


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class MetricsReport:
    """Every metric of one run, why some are undefined, and the per-regime breakdown.

    Attributes:
        values: ``name -> value`` for every metric in :data:`~tradelab.metrics.METRICS`, in
            registry order; NaN only where undefined.
        undefined: ``name -> reason`` for exactly the NaN values.
        regimes: ``label -> {"return", "sharpe", "fraction", "bars"}`` for the four regimes of
            :mod:`tradelab.metrics.regimes`.

    The mappings are read-only. A report pickles (for Ray workers) and compares by value.
    """

    values: Mapping[str, float]
    undefined: Mapping[str, str]
    regimes: Mapping[str, Mapping[str, float]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "undefined", MappingProxyType(dict(self.undefined)))
        object.__setattr__(
            self,
            "regimes",
            MappingProxyType(
                {label: MappingProxyType(dict(stats)) for label, stats in self.regimes.items()}
            ),
        )

    def __getitem__(self, name: str) -> float:
        """The value of metric ``name``.

        Raises:
            UnknownNameError: ``name`` is not a metric of this report.
        """
        try:
            return self.values[name]
        except KeyError:
            raise UnknownNameError("metric", name, self.values) from None

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricsReport):
            return NotImplemented
        return (
            _comparable(self.values) == _comparable(other.values)
            and dict(self.undefined) == dict(other.undefined)
            and {k: _comparable(v) for k, v in self.regimes.items()}
            == {k: _comparable(v) for k, v in other.regimes.items()}
        )

    __hash__ = None  # type: ignore[assignment]  # holds mutable-looking mappings; NaN != NaN

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                dict(self.values),
                dict(self.undefined),
                {label: dict(stats) for label, stats in self.regimes.items()},
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: every metric (NaN as ``None``), ``"undefined"`` and ``"regimes"``.

        Example:
            >>> import pandas as pd
            >>> from tradelab.metrics import compute_metrics
            >>> index = pd.date_range("2024-01-02", periods=3, freq="B", tz="UTC")
            >>> d = compute_metrics(pd.Series([0.01, -0.02, 0.03], index=index)).to_dict()
            >>> d["win_rate"], d["undefined"]["win_rate"]
            (None, 'no closed trades')
        """
        out: dict[str, Any] = {name: _json_float(value) for name, value in self.values.items()}
        out["undefined"] = dict(self.undefined)
        out["regimes"] = {
            label: {key: _json_float(value) for key, value in stats.items()}
            for label, stats in self.regimes.items()
        }
        return out


def _comparable(values: Mapping[str, float]) -> dict[str, float | None]:
    return {name: None if math.isnan(value) else value for name, value in values.items()}


def _rebuild(
    values: dict[str, float], undefined: dict[str, str], regimes: dict[str, dict[str, float]]
) -> MetricsReport:
    return MetricsReport(values=values, undefined=undefined, regimes=regimes)
