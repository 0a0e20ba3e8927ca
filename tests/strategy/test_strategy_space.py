from __future__ import annotations

import json

import pytest

from tradelab.errors import ConfigError, ParameterError, StrategyError, UnknownNameError
from tradelab.strategy import (
    Choice,
    FloatParam,
    IntParam,
    ParameterSpace,
    list_strategies,
    load_space_file,
    load_strategy,
    parse_param_assignments,
    validate_params,
)

LIBRARY = {"sma_crossover", "rsi_mean_reversion", "macd_trend", "bollinger_reversion",
           "donchian_breakout", "momentum_rotation"}


def test_library_lists_the_six_strategies_each_with_a_space_and_family():
    found = list_strategies()
    assert LIBRARY <= set(found)
    for name in LIBRARY:
        cls = found[name]
        assert cls.family in {"trend", "mean_reversion", "breakout", "momentum"}
        assert len(cls.space) >= 2
        for key in cls.space.params:
            assert key in dict(cls.params._getitems()), (name, key)


def test_unknown_strategy_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'sma_crossover'"):
        load_strategy("sma_crosover")


def test_strategy_loads_by_module_path():
    cls = load_strategy("strategies.donchian_breakout:DonchianBreakout")
    assert cls.name == "donchian_breakout"


def test_module_path_to_a_missing_class_is_a_clear_error():
    with pytest.raises(StrategyError, match="no backtrader Strategy named 'Nope'"):
        load_strategy("strategies.sma_crossover:Nope")


def test_fast_not_below_slow_breaks_the_constraint():
    cls = load_strategy("sma_crossover")
    with pytest.raises(ParameterError, match="'fast < slow'.*fast=30, slow=30"):
        validate_params(cls, {"fast": 30, "slow": 30})


def test_negative_period_is_refused_with_the_minimum():
    with pytest.raises(ParameterError, match="'fast' must be >= 1, got -5"):
        validate_params(load_strategy("sma_crossover"), {"fast": -5})


def test_unknown_parameter_suggests_the_closest():
    with pytest.raises(ParameterError, match="no parameter 'flast'.*Did you mean 'fast'"):
        validate_params(load_strategy("sma_crossover"), {"flast": 3})


def test_parameters_from_text_are_coerced_to_their_types():
    clean = validate_params(load_strategy("rsi_mean_reversion"),
                            parse_param_assignments(["period=7", "lower=25", "upper=60.5"]))
    assert clean == {"period": 7, "lower": 25.0, "upper": 60.5}
    assert isinstance(clean["lower"], float)


def test_non_integer_period_is_refused():
    with pytest.raises(ParameterError, match="must be an integer"):
        validate_params(load_strategy("sma_crossover"), {"fast": 2.5})


def test_assignment_without_equals_sign_is_refused():
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_param_assignments(["fast10"])


def test_constraint_with_a_function_call_is_refused():
    with pytest.raises(ConfigError, match="only names, numbers"):
        ParameterSpace({"a": IntParam(1, 3)}, constraints=("__import__('os') == a",))


def test_constraint_naming_an_unknown_parameter_is_refused():
    with pytest.raises(ConfigError, match="unknown parameter 'slwo'.*Did you mean 'slow'"):
        ParameterSpace({"fast": IntParam(1, 3), "slow": IntParam(2, 9)},
                       constraints=("fast < slwo",))


def test_grid_contains_only_points_that_satisfy_the_constraints():
    space = ParameterSpace({"fast": IntParam(1, 4), "slow": IntParam(2, 5)},
                           constraints=("fast < slow", "slow - fast >= 2"))
    grid = space.grid()
    assert grid and all(p["fast"] + 2 <= p["slow"] for p in grid)
    assert len(grid) == sum(1 for f in range(1, 5) for s in range(2, 6) if s - f >= 2)


def test_float_and_choice_grids():
    assert FloatParam(0.5, 1.0, step=0.25).grid() == [0.5, 0.75, 1.0]
    assert Choice(("a", "b")).grid() == ["a", "b"]
    assert len(FloatParam(1.0, 100.0, log=True).grid(3)) == 3


def test_invalid_specs_are_refused():
    with pytest.raises(ConfigError):
        IntParam(10, 5)
    with pytest.raises(ConfigError):
        FloatParam(0.0, 1.0, log=True)


def test_space_file_overrides_the_declared_space(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"params": {"fast": {"type": "int", "low": 3, "high": 8}},
                                "constraints": ["slow >= 3 * fast"]}))
    declared = load_strategy("sma_crossover").space
    merged = declared.override(load_space_file(path))
    assert merged.params["fast"] == IntParam(3, 8)
    assert merged.params["slow"] == declared.params["slow"]
    assert merged.constraint_texts() == ["fast < slow", "slow >= 3 * fast"]


def test_yaml_space_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("params:\n  fast: {type: int, low: 3, hihg: 8}\n")
    with pytest.raises(ConfigError, match="unknown key 'hihg'.*Did you mean 'high'"):
        load_space_file(path)
