from __future__ import annotations

import math

import pytest

from tradelab.analysis import ParameterBounds, parameter_robustness
from tradelab.errors import ConfigError
from tradelab.strategy import IntParam, ParameterSpace


def _grid(objective):
    return [
        ({"fast": f, "slow": s}, objective(f, s))
        for f in range(5, 55, 5)
        for s in range(20, 220, 20)
    ]


BOUNDS = ParameterBounds.from_space(
    ParameterSpace({"fast": IntParam(5, 50, step=5), "slow": IntParam(20, 200, step=20)})
)


def test_grid_neighbours_are_the_points_one_step_away():
    report = parameter_robustness(
        _grid(lambda f, s: -abs(f - 25) - abs(s - 100) / 4), bounds=BOUNDS, grid=True
    )
    assert report.method == "grid"
    assert report.best_params == {"fast": 25, "slow": 100}
    around = sorted((p["fast"], p["slow"]) for p, _, _ in report.neighbours)
    assert around == [(f, s) for f in (20, 25, 30) for s in (80, 100, 120) if (f, s) != (25, 100)]
    assert report.edges == ()


def test_a_lone_peak_scores_a_low_ratio_and_a_plateau_near_one():
    peak = parameter_robustness(
        _grid(lambda f, s: 2.0 if (f, s) == (25, 100) else 0.1), bounds=BOUNDS, grid=True
    )
    plateau = parameter_robustness(
        _grid(lambda f, s: 1.0 + (0.01 if (f, s) == (25, 100) else 0.0)), bounds=BOUNDS, grid=True
    )
    assert peak.ratio == pytest.approx(0.05)
    assert plateau.ratio == pytest.approx(1.0 / 1.01)


def test_an_optimum_on_the_edge_of_the_range_is_flagged():
    report = parameter_robustness(_grid(lambda f, s: f + s / 100), bounds=BOUNDS, grid=True)
    assert report.best_params == {"fast": 50, "slow": 200}
    assert len(report.edges) == 2
    assert any(
        "fast = 50 is at the high edge" in e and "widen the range" in e for e in report.edges
    )


def test_sensitivity_ranks_the_parameter_that_matters_first():
    report = parameter_robustness(
        _grid(lambda f, s: -((f - 25) ** 2) + 0.001 * s), bounds=BOUNDS, neighbours=4
    )
    assert report.method == "nearest" and len(report.neighbours) == 4
    first, second = report.parameters
    assert first.name == "fast" and first.eta_squared > 0.99
    assert second.name == "slow" and second.eta_squared < 0.01
    assert second.spearman > 0.0


def test_minimising_picks_the_lowest_and_bad_input_is_refused():
    report = parameter_robustness([({"a": 1}, 3.0), ({"a": 2}, 1.0), ({"a": 3}, 2.0)], mode="min")
    assert report.best_params == {"a": 2} and report.best_value == 1.0
    assert math.isnan(report.parameters[0].spearman) is False
    with pytest.raises(ConfigError, match="at least one complete trial"):
        parameter_robustness([({"a": 1}, float("nan"))])
    with pytest.raises(ConfigError, match="mode"):
        parameter_robustness([({"a": 1}, 1.0)], mode="best")
