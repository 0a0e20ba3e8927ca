"""Request bodies of the LiveTrader API (pydantic; unknown fields are refused with 422)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class EntryBody(BaseModel):
    """The fields of one order (``POST /orders``, the entry of ``POST /orders/bracket``)."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str = Field(..., min_length=1, max_length=64)
    symbol: str = Field(..., min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    quantity: float = Field(..., gt=0, le=10_000_000, allow_inf_nan=False)
    order_type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"] = "market"
    limit_price: float | None = Field(None, gt=0, allow_inf_nan=False)
    stop_price: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="The stop; for a trailing_stop the first stop (default: last price ∓ trail)",
    )
    time_in_force: Literal["DAY", "GTC"] = "DAY"
    trail_amount: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="trailing_stop: distance in price units"
    )
    trail_percent: float | None = Field(
        None, gt=0, lt=100, allow_inf_nan=False,
        description="trailing_stop: distance in percent of the price (2.0 = 2%)",
    )


class OrderBody(EntryBody):
    """``POST /orders``: one order, optionally an exit of an earlier order or in an OCO group."""

    parent_id: str | None = Field(
        None, pattern=_ID,
        description="client_order_id of the entry this order exits: it works once that has "
                    "filled and is cancelled with it",
    )
    oco_group: str | None = Field(
        None, pattern=_ID,
        description="one-cancels-other group: a fill of one member reduces the others in "
                    "proportion (a complete fill cancels them)",
    )


class BracketBody(EntryBody):
    """``POST /orders/bracket``: the entry's fields plus its take-profit and stop-loss prices.

    The exits are the opposite side, the entry's quantity, GTC, one OCO group, children of the
    entry (ids ``<entry id>.tp`` and ``<entry id>.sl`` unless given).
    """

    take_profit: float = Field(..., gt=0, allow_inf_nan=False)
    stop_loss: float = Field(..., gt=0, allow_inf_nan=False)
    take_profit_id: str | None = Field(None, pattern=_ID)
    stop_loss_id: str | None = Field(None, pattern=_ID)

    def entry(self) -> dict[str, Any]:
        """The entry order's fields."""
        return self.model_dump(exclude={"take_profit", "stop_loss", "take_profit_id",
                                        "stop_loss_id"})


class ModifyBody(BaseModel):
    """``PUT /orders/{client_order_id}``: the fields to change."""

    model_config = ConfigDict(extra="forbid")

    quantity: float | None = Field(None, gt=0, le=10_000_000, allow_inf_nan=False)
    limit_price: float | None = Field(None, gt=0, allow_inf_nan=False)
    stop_price: float | None = Field(None, gt=0, allow_inf_nan=False)


class SymbolBody(BaseModel):
    """``POST /orders/cancel-all``: optionally one symbol only."""

    model_config = ConfigDict(extra="forbid")
    symbol: str | None = Field(None, min_length=1, max_length=20)


class CloseBody(BaseModel):
    """``POST /positions/{symbol}/close``: all of it, or ``quantity`` shares."""

    model_config = ConfigDict(extra="forbid")
    quantity: float | None = Field(None, gt=0, le=10_000_000, allow_inf_nan=False)


class LimitsBody(BaseModel):
    """``PUT /risk/limits``: the limits to change and why."""

    model_config = ConfigDict(extra="forbid")
    limits: dict[str, float | int | None] = Field(..., min_length=1)
    reason: str = Field(..., min_length=1, max_length=500)


class ReasonBody(BaseModel):
    """``POST /risk/halt``, ``/risk/resume``, ``/kill``."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("operator request", min_length=1, max_length=500)


class StrategyBody(BaseModel):
    """``POST /strategies/{name}/start``."""

    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] | None = None
    backfill: int | None = Field(
        250,
        ge=0,
        le=10_000,
        description="Bars of history the strategy warms up on (no orders during them)",
    )
