"""Validate strategy parameters against the strategy's params and search space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradelab.errors import ParameterError, did_you_mean
from tradelab.strategy.space import ParameterSpace

__all__ = ["default_params", "parse_param_assignments", "space_of", "validate_params"]


def space_of(strategy: type) -> ParameterSpace:
    """The strategy's declared search space (empty when it declares none)."""
    space = getattr(strategy, "space", None)
    return space if isinstance(space, ParameterSpace) else ParameterSpace({})


def default_params(strategy: type) -> dict[str, Any]:
    """The strategy's backtrader params and their defaults."""
    return dict(strategy.params._getitems())


def validate_params(strategy: type, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``params`` coerced to their types, or raise :class:`ParameterError`.

    Checks unknown names (with a did-you-mean), types and valid minimums from the space, and the
    space's constraints evaluated on the full parameter set (defaults filled in).

    Example:
        >>> from tradelab.strategy import load_strategy
        >>> validate_params(load_strategy("sma_crossover"), {"fast": "10", "slow": 30})
        {'fast': 10, 'slow': 30}
    """
    params = dict(params or {})
    defaults = default_params(strategy)
    space = space_of(strategy)
    name = getattr(strategy, "name", strategy.__name__)
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if key not in defaults:
            raise ParameterError(
                f"strategy '{name}' has no parameter '{key}'.{did_you_mean(key, defaults)} "
                f"Parameters: {', '.join(defaults)}."
            )
        spec = space.params.get(key)
        if spec is not None:
            clean[key] = spec.validate(key, value)
        else:
            clean[key] = _coerce_like(key, value, defaults[key])
    full = {**defaults, **clean}
    failed = space.failed_constraints(full)
    if failed:
        shown = ", ".join(f"{k}={full[k]}" for k in sorted(space.params) if k in full)
        raise ParameterError(
            f"strategy '{name}' parameters break the constraint {failed[0]!r} ({shown})."
        )
    return clean


def _coerce_like(key: str, value: Any, default: Any) -> Any:
    if default is None or isinstance(value, type(default)) and not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if isinstance(default, int):
            number = float(value)
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"parameter '{key}' must be a {type(default).__name__}, got {value!r}."
        ) from None
    return value


def parse_param_assignments(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``["fast=10", "slow=30"]`` into ``{"fast": 10, "slow": 30}`` (numbers typed)."""
    result: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"parameter {item!r} must look like NAME=VALUE, e.g. fast=10.")
        key, _, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not key:
            raise ParameterError(f"parameter {item!r} has no name before '='.")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        result[key] = value
    return result


