"""Private arithmetic behind :mod:`tradelab.costs`, on plain floats so hot paths skip validation.

Every amount is rounded to :data:`AMOUNT_DECIMALS` places (a millionth of a cent): this only
removes binary floating-point noise (``100 * 0.0035`` becomes exactly ``0.35``); it is *not*
rounding to the cent.
"""

from __future__ import annotations

AMOUNT_DECIMALS = 8


def commission_amount(
    quantity: float, price: float, per_share: float, minimum: float, maximum_pct: float | None
) -> float:
    """IB-style commission for ``quantity`` shares (sign ignored) at ``price``.

    ``max(minimum, per_share * shares)``, then capped at ``maximum_pct`` of the trade value: the cap
    wins over the minimum. No shares, no commission.
    """
    shares = abs(quantity)
    if shares == 0:
        return 0.0
    fee = max(minimum, per_share * shares)
    if maximum_pct is not None:
        fee = min(fee, maximum_pct * shares * abs(price))
    return round(fee, AMOUNT_DECIMALS)


def sec_fee_amount(proceeds: float, per_million: float) -> float:
    """SEC Section 31 fee on the proceeds of a sale: ``|proceeds| * per_million / 1e6``."""
    return round(abs(proceeds) * per_million / 1_000_000, AMOUNT_DECIMALS)


def slip(price: float, slippage_bps: float, *, buy: bool) -> float:
    """``price`` moved ``slippage_bps`` against the trader, as Backtrader's ``slip_perc`` does."""
    fraction = slippage_bps / 10_000
    return price * (1 + fraction) if buy else price * (1 - fraction)
