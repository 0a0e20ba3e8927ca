"""Cost settings: commission schedules, the SEC fee rate and slippage, plus the named presets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from tradelab.costs._validation import check_keys, store_number
from tradelab.errors import ConfigError, UnknownNameError

__all__ = [
    "COMMISSION_PRESETS",
    "COST_MODELS",
    "CommissionConfig",
    "CostConfig",
    "cost_model",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class CommissionConfig:
    """A per-share commission schedule with a minimum and a cap, as Interactive Brokers charges.

    The commission of an order of ``n`` shares at ``p`` is
    ``min(max(minimum, per_share * n), maximum_pct * n * p)``: the minimum applies first and the cap
    wins over it (10 shares at $1 on IB fixed pay $0.10, not $1.00). An order of 0 shares pays 0.

    Attributes:
        per_share: Dollars per share, >= 0.
        minimum: Minimum dollars per order, >= 0.
        maximum_pct: Cap as a fraction of the trade value, in [0, 1] (``0.01`` is 1%); ``None``
            for no cap.

    Example:
        >>> CommissionConfig(per_share=0.005, minimum=1.0, maximum_pct=0.01).per_share
        0.005
    """

    per_share: float
    minimum: float = 0.0
    maximum_pct: float | None = None

    def __post_init__(self) -> None:
        store_number(
            self, "per_share", hint="Give dollars per share >= 0, e.g. 0.005 for IB fixed."
        )
        store_number(self, "minimum", hint="Give the minimum dollars per order >= 0, e.g. 1.0.")
        if self.maximum_pct is not None:
            store_number(
                self,
                "maximum_pct",
                maximum=1.0,
                hint="Give the cap as a fraction of trade value in [0, 1] (0.01 is 1%) or None.",
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CommissionConfig:
        """Build from a mapping (parsed YAML/JSON); unknown keys raise ConfigError.

        Example:
            >>> CommissionConfig.from_mapping({"per_share": 0.0035, "minimum": 0.35}).minimum
            0.35
        """
        check_keys("commission setting", data, _field_names(cls), required=("per_share",))
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class CostConfig:
    """Everything a fill costs beyond the quoted price: commission, SEC fee and slippage.

    Attributes:
        commission: The commission schedule.
        sec_fee_per_million: SEC Section 31 fee in dollars per million dollars of sale proceeds
            (charged on sells only), >= 0. The default, $27.80, is the rate the SEC set in May 2024;
            the SEC resets it every fiscal year.
        slippage_bps: Basis points a market (or triggered stop) order's fill moves against the
            trader, in [0, 10000). Limit and stop-limit orders do not slip.

    Example:
        >>> config = CostConfig(commission=CommissionConfig(per_share=0.005, minimum=1.0))
        >>> config.slippage_bps
        5.0
    """

    commission: CommissionConfig
    sec_fee_per_million: float = 27.80
    slippage_bps: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.commission, CommissionConfig):
            raise ConfigError(
                f"CostConfig.commission must be a CommissionConfig, got {self.commission!r}. "
                f"Build one, or use a preset from COMMISSION_PRESETS "
                f"({', '.join(COMMISSION_PRESETS)})."
            )
        store_number(
            self,
            "sec_fee_per_million",
            hint="Give dollars per million of sale proceeds >= 0, e.g. 27.80.",
        )
        store_number(
            self,
            "slippage_bps",
            maximum=9_999.0,
            hint="Give basis points in [0, 10000), e.g. 5.0 for 0.05%.",
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CostConfig:
        """Build from a mapping (parsed YAML/JSON); unknown keys raise ConfigError.

        ``commission`` may be a mapping of :class:`CommissionConfig` settings or the name of a
        preset in :data:`COMMISSION_PRESETS`.

        Example:
            >>> CostConfig.from_mapping({"commission": "ib-pro", "slippage_bps": 2}).slippage_bps
            2.0
        """
        check_keys("cost setting", data, _field_names(cls), required=("commission",))
        values = dict(data)
        commission = values.get("commission")
        if isinstance(commission, str):
            if commission not in COMMISSION_PRESETS:
                raise UnknownNameError("commission preset", commission, COMMISSION_PRESETS)
            values["commission"] = COMMISSION_PRESETS[commission]
        elif isinstance(commission, Mapping):
            values["commission"] = CommissionConfig.from_mapping(commission)
        return cls(**values)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


COMMISSION_PRESETS: Mapping[str, CommissionConfig] = MappingProxyType(
    {
        # IB Fixed (US stocks): $0.005/share, $1.00 minimum, at most 1% of trade value.
        "ib-fixed": CommissionConfig(per_share=0.005, minimum=1.0, maximum_pct=0.01),
        # IB Pro tiered, lowest-volume tier: $0.0035/share, $0.35 minimum, at most 1%.
        # Exchange, clearing and pass-through fees of the tiered plan are not modelled.
        "ib-pro": CommissionConfig(per_share=0.0035, minimum=0.35, maximum_pct=0.01),
        "none": CommissionConfig(per_share=0.0, minimum=0.0, maximum_pct=0.0),
    }
)
"""Commission schedules by name: ``ib-fixed``, ``ib-pro``, ``none``."""

COST_MODELS: Mapping[str, CostConfig] = MappingProxyType(
    {
        "ib-fixed": CostConfig(commission=COMMISSION_PRESETS["ib-fixed"]),
        "ib-pro": CostConfig(commission=COMMISSION_PRESETS["ib-pro"]),
        "none": CostConfig(
            commission=COMMISSION_PRESETS["none"], sec_fee_per_million=0.0, slippage_bps=0.0
        ),
    }
)
"""Complete cost models by name. ``none`` has no commission, no SEC fee and no slippage."""


def cost_model(name: str) -> CostConfig:
    """Return the cost model called ``name`` (a key of :data:`COST_MODELS`).

    Raises:
        UnknownNameError: No model has that name (the message suggests the closest).

    Example:
        >>> cost_model("ib-fixed").commission.minimum
        1.0
    """
    try:
        return COST_MODELS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("cost model", str(name), COST_MODELS) from None
