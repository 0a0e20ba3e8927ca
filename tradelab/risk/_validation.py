"""Private checks for the risk records and config: finite numbers in range, known keys."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from tradelab.errors import ConfigError, UnknownNameError


def config_number(
    instance: object,
    name: str,
    *,
    maximum: float | None = None,
    optional: bool = False,
    hint: str,
) -> None:
    """Check that ``instance.name`` is a finite number > 0 (and <= ``maximum``); store a float.

    ``None`` passes when ``optional``. Raises ConfigError saying the setting, the value received
    and ``hint`` (what to do). Meant for ``__post_init__`` of frozen dataclasses.
    """
    value = getattr(instance, name)
    owner = type(instance).__name__
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{owner}.{name} must be a number, got {value!r} ({type(value).__name__}). {hint}"
        )
    number = float(value)
    if not math.isfinite(number) or number <= 0 or (maximum is not None and number > maximum):
        bounds = f"in (0, {maximum:g}]" if maximum is not None else "a finite number > 0"
        raise ConfigError(f"{owner}.{name} must be {bounds}, got {value!r}. {hint}")
    object.__setattr__(instance, name, number)


def config_count(instance: object, name: str, *, hint: str) -> None:
    """Check that ``instance.name`` is ``None`` or a whole number >= 1."""
    value = getattr(instance, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{type(instance).__name__}.{name} must be a whole number >= 1 or None, "
            f"got {value!r}. {hint}"
        )


def check_keys(kind: str, data: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise ConfigError unless ``data`` is a mapping whose keys are all in ``known``.

    An unknown key raises :class:`UnknownNameError`, whose message suggests the closest key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{kind}s must be a mapping of names to values, got {data!r}.")
    known = tuple(known)
    for key in data:
        if key not in known:
            raise UnknownNameError(kind, str(key), known)


def finite(owner: str, name: str, value: object, *, positive: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real number (and > 0 when ``positive``).

    Used for domain records (orders, positions, snapshots): a bad value there is a bug in the
    caller, not a configuration mistake.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (positive and value <= 0)
    ):
        wanted = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{owner}.{name} must be {wanted}, got {value!r}")
