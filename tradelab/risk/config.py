"""RiskConfig: the limits a :class:`tradelab.risk.RiskManager` enforces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from tradelab.risk._validation import check_keys, config_count, config_number

__all__ = ["RiskConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskConfig:
    """Position, exposure and loss limits. Every fraction is of equity; ``None`` disables a limit.

    Limits are inclusive: a position at exactly ``max_concentration`` is allowed, one above it is
    not. Loss limits trigger when reached: a day's loss of exactly ``daily_loss_limit`` halts.

    Attributes:
        max_position_shares: Most shares (absolute) in any one position, or ``None``.
        max_position_value: Most dollars (absolute) in any one position, or ``None``.
        max_concentration: Largest position as a fraction of equity, in (0, 1].
        max_gross_leverage: Largest gross exposure (sum of absolute position values) as a multiple
            of equity, > 0 (1.0 is a cash account; 2.0 is Reg T overnight margin).
        max_open_positions: Most symbols held at once, or ``None``.
        daily_loss_limit: Loss from the start-of-day equity that halts trading, in (0, 1].
        max_drawdown: Loss from the peak equity that halts trading until ``resume()``, in (0, 1].
        max_order_value: Most dollars (quantity x reference price) in one order that opens or
            grows a position, or ``None``. A fat-finger guard for live trading.
        max_orders_per_minute: Most approved orders in any 60-second window, or ``None``. A
            runaway-algorithm guard for live trading (orders that shrink a position are counted
            but never denied by it).

    Example:
        >>> RiskConfig(max_concentration=0.10, max_open_positions=20).max_concentration
        0.1
    """

    max_position_shares: float | None = None
    max_position_value: float | None = None
    max_concentration: float = 0.25
    max_gross_leverage: float = 1.0
    max_open_positions: int | None = None
    daily_loss_limit: float = 0.02
    max_drawdown: float = 0.20
    max_order_value: float | None = None
    max_orders_per_minute: int | None = None

    def __post_init__(self) -> None:
        config_number(
            self,
            "max_position_shares",
            optional=True,
            hint="Give a number of shares > 0, e.g. 10000, or None for no limit.",
        )
        config_number(
            self,
            "max_position_value",
            optional=True,
            hint="Give dollars > 0, e.g. 250000, or None for no limit.",
        )
        config_number(
            self,
            "max_concentration",
            maximum=1.0,
            hint="Give a fraction of equity, e.g. 0.25 for 25%.",
        )
        config_number(
            self,
            "max_gross_leverage",
            hint="Give a multiple of equity > 0, e.g. 1.0 for no leverage.",
        )
        config_count(self, "max_open_positions", hint="Give e.g. 20, or None for no limit.")
        config_number(
            self,
            "daily_loss_limit",
            maximum=1.0,
            hint="Give a fraction of start-of-day equity, e.g. 0.02 for 2%.",
        )
        config_number(
            self,
            "max_drawdown",
            maximum=1.0,
            hint="Give a fraction of peak equity, e.g. 0.20 for 20%.",
        )
        config_number(
            self,
            "max_order_value",
            optional=True,
            hint="Give dollars > 0, e.g. 50000, or None for no limit.",
        )
        config_count(self, "max_orders_per_minute", hint="Give e.g. 60, or None for no limit.")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskConfig:
        """Build from a mapping (parsed YAML/JSON); unknown keys raise ConfigError.

        Raises:
            UnknownNameError: A key is not a setting (the message suggests the closest one).
            ConfigError: A value is invalid.

        Example:
            >>> RiskConfig.from_mapping({"max_drawdown": 0.1}).max_drawdown
            0.1
        """
        check_keys("risk setting", data, tuple(f.name for f in fields(cls)))
        return cls(**data)
