"""RiskConfig validation and loading from mappings."""

from __future__ import annotations

import dataclasses

import pytest

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.risk import RiskConfig


def test_defaults_are_the_documented_limits() -> None:
    config = RiskConfig()
    assert config == RiskConfig(
        max_position_shares=None,
        max_position_value=None,
        max_concentration=0.25,
        max_gross_leverage=1.0,
        max_open_positions=None,
        daily_loss_limit=0.02,
        max_drawdown=0.20,
    )


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RiskConfig().max_drawdown = 0.5  # type: ignore[misc]


def test_integer_limits_are_stored_as_floats() -> None:
    config = RiskConfig(max_position_shares=1_000, max_gross_leverage=2, max_concentration=1)
    assert (config.max_position_shares, config.max_gross_leverage) == (1_000.0, 2.0)
    assert isinstance(config.max_concentration, float)


def test_fraction_of_exactly_one_and_leverage_above_one_are_valid() -> None:
    config = RiskConfig(max_concentration=1.0, daily_loss_limit=1.0, max_gross_leverage=4.0)
    assert config.max_gross_leverage == 4.0


@pytest.mark.parametrize("name", ["max_concentration", "daily_loss_limit", "max_drawdown"])
@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, 25.0, float("nan"), float("inf")])
def test_fraction_outside_zero_to_one_raises_config_error(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"RiskConfig\.{name} must be in \(0, 1\], got"):
        RiskConfig(**{name: value})


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf")])
def test_leverage_not_positive_and_finite_raises_config_error(value: float) -> None:
    with pytest.raises(ConfigError, match="max_gross_leverage must be a finite number > 0"):
        RiskConfig(max_gross_leverage=value)


@pytest.mark.parametrize("name", ["max_position_shares", "max_position_value"])
@pytest.mark.parametrize("value", [0, -100.0])
def test_position_size_limit_not_positive_raises_config_error(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a finite number > 0, got {value}"):
        RiskConfig(**{name: value})


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "5"])
def test_max_open_positions_not_a_positive_whole_number_raises_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="max_open_positions must be a whole number >= 1"):
        RiskConfig(max_open_positions=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0.25", True, None])
def test_fraction_that_is_not_a_number_raises_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="max_concentration must be a number"):
        RiskConfig(max_concentration=value)  # type: ignore[arg-type]


def test_config_error_message_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"got 1\.5\. Give a fraction of equity, e\.g\. 0\.25"):
        RiskConfig(max_concentration=1.5)


def test_from_mapping_builds_config_with_none_for_disabled_limits() -> None:
    config = RiskConfig.from_mapping(
        {"max_concentration": 0.1, "max_open_positions": 20, "max_position_value": None}
    )
    assert config == RiskConfig(max_concentration=0.1, max_open_positions=20)


def test_from_mapping_unknown_key_raises_with_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as caught:
        RiskConfig.from_mapping({"max_concentraton": 0.1})
    message = str(caught.value)
    assert "unknown risk setting 'max_concentraton'" in message
    assert "Did you mean 'max_concentration'?" in message
    assert isinstance(caught.value, ConfigError)


def test_from_mapping_invalid_value_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="max_drawdown must be in"):
        RiskConfig.from_mapping({"max_drawdown": 0})


def test_from_mapping_non_mapping_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        RiskConfig.from_mapping([("max_drawdown", 0.1)])  # type: ignore[arg-type]
