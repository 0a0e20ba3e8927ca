"""Pure cost functions: commission, SEC fee, slipped fill price and the total cost of a trade.

Rounding: amounts are **not** rounded to the cent. IB statements carry fractional cents and a
backtest should not lose sub-cent costs on every fill; amounts are only rounded to 8 decimal places
to remove binary floating-point noise, so ``100 * $0.0035`` is exactly ``0.35``. Prices from
:func:`slipped_price` are not rounded at all: they are computed with exactly the expression
Backtrader uses, so a backtest fill equals ``slipped_price`` of the bar's open.
"""

from __future__ import annotations

import math
from typing import Literal

from tradelab.costs._formulas import AMOUNT_DECIMALS, commission_amount, sec_fee_amount, slip
from tradelab.costs.config import CommissionConfig, CostConfig
from tradelab.errors import UnknownNameError

__all__ = [
    "ORDER_TYPES",
    "SIDES",
    "OrderType",
    "Side",
    "commission",
    "sec_fee",
    "slipped_price",
    "trade_cost",
]

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit"]

SIDES: tuple[str, ...] = ("buy", "sell")
"""The order sides cost functions accept."""

ORDER_TYPES: tuple[str, ...] = ("market", "limit", "stop", "stop_limit")
"""The order types :func:`slipped_price` accepts."""

_SLIPPING_ORDER_TYPES = frozenset({"market", "stop"})


def _check_price(price: float) -> None:
    if not (math.isfinite(price) and price >= 0):
        raise ValueError(f"price must be a finite number >= 0, got {price!r}")


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise UnknownNameError("order side", side, SIDES)


def commission(shares: float, price: float, config: CommissionConfig) -> float:
    """Commission of one order: ``min(max(minimum, per_share * |shares|), maximum_pct * value)``.

    The minimum applies first and the cap (a fraction of ``|shares| * price``) wins over it.
    Zero shares cost nothing. The sign of ``shares`` is ignored.

    Args:
        shares: Shares in the order (either sign).
        price: Fill price per share, >= 0.
        config: The commission schedule.

    Returns:
        Dollars, rounded to 8 decimal places (not to the cent).

    Example:
        >>> from tradelab.costs import COMMISSION_PRESETS
        >>> commission(1_000, 50.0, COMMISSION_PRESETS["ib-fixed"])
        5.0
        >>> commission(10, 1.0, COMMISSION_PRESETS["ib-fixed"])  # the 1% cap beats the $1 minimum
        0.1
    """
    _check_price(price)
    return commission_amount(shares, price, config.per_share, config.minimum, config.maximum_pct)


def sec_fee(proceeds: float, config: CostConfig) -> float:
    """SEC Section 31 fee on the proceeds of a **sale**: ``|proceeds| * rate / 1e6``.

    Buys pay no SEC fee; call this for sells only (:func:`trade_cost` does).

    Args:
        proceeds: Dollars received for the shares sold.
        config: Supplies ``sec_fee_per_million``.

    Returns:
        Dollars, rounded to 8 decimal places (not to the cent).

    Example:
        >>> from tradelab.costs import cost_model
        >>> sec_fee(1_000_000, cost_model("ib-fixed"))
        27.8
    """
    if not math.isfinite(proceeds):
        raise ValueError(f"proceeds must be a finite number, got {proceeds!r}")
    return sec_fee_amount(proceeds, config.sec_fee_per_million)


def slipped_price(
    price: float, *, side: Side | str, order_type: OrderType | str, config: CostConfig
) -> float:
    """The fill price after slippage: market and stop orders pay ``slippage_bps`` against you.

    A buy fills higher, a sell lower. A stop order becomes a market order when triggered, so it
    slips like one; limit and stop-limit orders fill at their price and do not slip.

    Args:
        price: Reference price (the bar's open for a market order, the trigger for a stop).
        side: ``"buy"`` or ``"sell"``.
        order_type: ``"market"``, ``"limit"``, ``"stop"`` or ``"stop_limit"``.
        config: Supplies ``slippage_bps``.

    Returns:
        ``price * (1 ± bps / 10_000)``, unrounded (the same expression as Backtrader's).

    Raises:
        UnknownNameError: ``side`` or ``order_type`` is not one of the names above.

    Example:
        >>> from tradelab.costs import cost_model
        >>> slipped_price(100.0, side="buy", order_type="market", config=cost_model("ib-fixed"))
        100.05
    """
    _check_price(price)
    _check_side(side)
    if order_type not in ORDER_TYPES:
        raise UnknownNameError("order type", order_type, ORDER_TYPES)
    if order_type not in _SLIPPING_ORDER_TYPES:
        return price
    return slip(price, config.slippage_bps, buy=side == "buy")


def trade_cost(shares: float, price: float, *, side: Side | str, config: CostConfig) -> float:
    """Commission plus, on a sell, the SEC fee: every dollar a fill costs beyond its price.

    Slippage is not included: it is already in the fill price (see :func:`slipped_price`).

    Args:
        shares: Shares traded (either sign; the sign is ignored, ``side`` decides).
        price: Fill price per share, >= 0.
        side: ``"buy"`` or ``"sell"``.
        config: The cost model.

    Returns:
        Dollars, rounded to 8 decimal places (not to the cent).

    Example:
        >>> from tradelab.costs import cost_model
        >>> trade_cost(1_000, 50.0, side="sell", config=cost_model("ib-fixed"))  # $5 + $1.39
        6.39
    """
    _check_price(price)
    _check_side(side)
    fee = commission(shares, price, config.commission)
    if side == "sell":
        fee += sec_fee(abs(shares) * price, config)
    return round(fee, AMOUNT_DECIMALS)
