"""Request bodies of the LiveTrader API (pydantic; unknown fields are refused with 422)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OrderBody(BaseModel):
    """``POST /orders``."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str = Field(..., min_length=1, max_length=64)
    symbol: str = Field(..., min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    quantity: float = Field(..., gt=0, le=10_000_000, allow_inf_nan=False)
    order_type: Literal["market", "limit", "stop", "stop_limit"] = "market"
    limit_price: float | None = Field(None, gt=0, allow_inf_nan=False)
    stop_price: float | None = Field(None, gt=0, allow_inf_nan=False)
    time_in_force: Literal["DAY", "GTC"] = "DAY"


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
