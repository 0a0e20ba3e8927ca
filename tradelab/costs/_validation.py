"""Private checks shared by the cost configs: numbers that must be finite and in range."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from tradelab.errors import ConfigError, UnknownNameError


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    hint: str,
) -> float:
    """Return ``value`` as a float, or raise ConfigError if it is not a finite number in range.

    ``minimum`` and ``maximum`` are inclusive. ``hint`` says what to do instead.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{owner}.{name} must be a number, got {value!r} ({type(value).__name__}). {hint}"
        )
    number = float(value)
    if not math.isfinite(number) or number < minimum or (maximum is not None and number > maximum):
        raise ConfigError(f"{owner}.{name} is out of range: got {value!r}. {hint}")
    return number


def check_keys(
    kind: str, data: Mapping[str, Any], known: Iterable[str], required: Iterable[str] = ()
) -> None:
    """Raise ConfigError for a key of ``data`` not in ``known`` or a ``required`` key missing.

    Unknown keys raise :class:`UnknownNameError`, whose message suggests the closest known key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{kind}s must be a mapping of names to values, got {data!r}.")
    known = tuple(known)
    for key in data:
        if key not in known:
            raise UnknownNameError(kind, str(key), known)
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(
            f"missing {kind} {', '.join(repr(key) for key in missing)}: got only "
            f"{', '.join(repr(key) for key in data) or 'nothing'}. Add it."
        )


def store_number(
    instance: object,
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    hint: str,
) -> None:
    """Check ``instance.name`` with :func:`check_number` and store it back as a float.

    Meant for ``__post_init__`` of frozen dataclasses (it bypasses the frozen ``__setattr__``).
    """
    value = check_number(
        type(instance).__name__,
        name,
        getattr(instance, name),
        minimum=minimum,
        maximum=maximum,
        hint=hint,
    )
    object.__setattr__(instance, name, value)
