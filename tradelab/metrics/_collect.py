"""A write-once collector of metric values and the reasons some of them are undefined."""

from __future__ import annotations

import math
from collections.abc import Iterable

NAN = float("nan")


class Collector:
    """Gathers ``name -> value`` and, for NaN values, ``name -> reason``."""

    __slots__ = ("reasons", "values")

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.reasons: dict[str, str] = {}

    def put(self, name: str, value: float, reason: str = "") -> None:
        """Store ``value``; a non-finite value is stored as NaN with ``reason``.

        ``reason`` is the documented cause used when ``value`` turns out NaN or infinite (e.g. a
        ratio whose denominator is 0); a generic one is used when none is given.
        """
        value = float(value)
        if math.isfinite(value):
            self.values[name] = value
        else:
            self.undefined(name, reason or "numerically undefined (overflow or division by zero)")

    def undefined(self, names: str | Iterable[str], reason: str) -> None:
        """Mark one or several metrics NaN because of ``reason``."""
        for name in (names,) if isinstance(names, str) else names:
            self.values[name] = NAN
            self.reasons[name] = reason
