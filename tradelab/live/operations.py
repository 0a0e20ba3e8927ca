"""What a trading desk looks at: exposure, limit usage, stress scenarios, and alerts.

Pure functions over an :class:`~tradelab.brokers.AccountSnapshot` and a
:class:`~tradelab.risk.RiskConfig`; the engine calls them and the API serves the results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradelab.brokers.records import AccountSnapshot, Bar
from tradelab.risk import RiskConfig

__all__ = ["ALERT_THRESHOLD", "SHOCKS", "AlertMonitor", "LimitUsage", "exposure",
           "limit_usage", "stress_test"]

#: Limit usage at or above this fraction raises a warning alert.
ALERT_THRESHOLD = 0.80
#: Price shocks of the stress test, per symbol and market-wide.
SHOCKS = (-0.05, -0.10, -0.20)
_Z99 = 2.3263478740408408  # one-sided 99% normal quantile


def exposure(account: AccountSnapshot) -> dict[str, Any]:
    """Gross and net exposure by symbol and in total, in dollars and as a share of equity.

    Example:
        >>> from tradelab.brokers import AccountSnapshot, BrokerPosition
        >>> book = AccountSnapshot(account_id="A", cash=50_000.0, equity=100_000.0, positions={
        ...     "AAA": BrokerPosition(symbol="AAA", quantity=500, average_cost=90.0,
        ...                           market_price=100.0)})
        >>> exposure(book)["total"]["gross_pct"]
        0.5
    """
    equity = account.equity
    rows = {}
    for symbol, position in sorted(account.positions.items()):
        value = position.market_value
        rows[symbol] = {"quantity": position.quantity, "price": position.market_price,
                        "value": value, "pct_of_equity": value / equity if equity else math.nan,
                        "unrealized_pnl": position.unrealized_pnl}
    gross = sum(abs(r["value"]) for r in rows.values())
    net = sum(r["value"] for r in rows.values())
    longs = sum(r["value"] for r in rows.values() if r["value"] > 0)
    return {
        "equity": equity,
        "by_symbol": rows,
        "total": {"gross": gross, "net": net, "long": longs, "short": longs - net,
                  "gross_pct": gross / equity if equity else math.nan,
                  "net_pct": net / equity if equity else math.nan,
                  "positions": len(rows)},
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitUsage:
    """How much of one limit is used: ``usage`` = current / limit (1.0 = at the limit)."""

    limit: str
    key: str  # the symbol for per-position limits, "" for account-wide ones
    current: float
    maximum: float

    @property
    def usage(self) -> float:
        """``current / maximum``."""
        return self.current / self.maximum if self.maximum else math.inf

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {"limit": self.limit, "key": self.key, "current": self.current,
                "maximum": self.maximum, "usage": self.usage}


def limit_usage(account: AccountSnapshot, config: RiskConfig, *, peak_equity: float | None,
                start_of_day_equity: float | None) -> list[LimitUsage]:
    """Usage of every active limit that the account's state measures."""
    equity = account.equity
    usages = []
    for symbol, position in account.positions.items():
        value = abs(position.market_value)
        if equity > 0:
            usages.append(LimitUsage(limit="max_concentration", key=symbol,
                                     current=value / equity, maximum=config.max_concentration))
        if config.max_position_shares is not None:
            usages.append(LimitUsage(limit="max_position_shares", key=symbol,
                                     current=abs(position.quantity),
                                     maximum=config.max_position_shares))
        if config.max_position_value is not None:
            usages.append(LimitUsage(limit="max_position_value", key=symbol, current=value,
                                     maximum=config.max_position_value))
    if equity > 0:
        gross = sum(abs(p.market_value) for p in account.positions.values())
        usages.append(LimitUsage(limit="max_gross_leverage", key="", current=gross / equity,
                                 maximum=config.max_gross_leverage))
    if config.max_open_positions is not None:
        held = sum(1 for p in account.positions.values() if p.quantity)
        usages.append(LimitUsage(limit="max_open_positions", key="", current=float(held),
                                 maximum=float(config.max_open_positions)))
    if start_of_day_equity:
        loss = max(0.0, (start_of_day_equity - equity) / start_of_day_equity)
        usages.append(LimitUsage(limit="daily_loss_limit", key="", current=loss,
                                 maximum=config.daily_loss_limit))
    if peak_equity:
        drawdown = max(0.0, (peak_equity - equity) / peak_equity)
        usages.append(LimitUsage(limit="max_drawdown", key="", current=drawdown,
                                 maximum=config.max_drawdown))
    return usages


def stress_test(account: AccountSnapshot, history: Mapping[str, Sequence[Bar]], *,
                shocks: Sequence[float] = SHOCKS, vol_multiplier: float = 2.0,
                lookback: int = 20) -> dict[str, Any]:
    """P&L of the current book under price and volatility shocks.

    Per-symbol scenarios move one symbol's price by each shock; market-wide ones move every
    symbol at once (longs and shorts alike: P&L = position value × shock, exact for stocks).
    The volatility shock is the one-day 99% value at risk from each symbol's last ``lookback``
    daily returns (positions assumed perfectly correlated, the conservative case), at today's
    volatility and at ``vol_multiplier`` times it.
    """
    positions = {s: p for s, p in account.positions.items() if p.quantity}
    per_symbol = {
        symbol: {f"{shock:+.0%}": round(p.market_value * shock, 2) for shock in shocks}
        for symbol, p in sorted(positions.items())
    }
    market = {f"{shock:+.0%}": round(sum(p.market_value * shock for p in positions.values()), 2)
              for shock in shocks}
    var_today = 0.0
    sigmas = {}
    for symbol, position in positions.items():
        closes = [bar.close for bar in history.get(symbol, ())][-(lookback + 1):]
        returns = [b / a - 1.0 for a, b in zip(closes, closes[1:], strict=False) if a > 0]
        if len(returns) >= 2:
            mean = sum(returns) / len(returns)
            sigma = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        else:
            sigma = math.nan
        sigmas[symbol] = sigma
        if math.isfinite(sigma):
            var_today += abs(position.market_value) * sigma * _Z99
    return {
        "equity": account.equity,
        "per_symbol": per_symbol,
        "market_wide": market,
        "volatility": {
            "daily_sigma": sigmas,
            "var_99_1d": round(-var_today, 2),
            f"var_99_1d_vol_x{vol_multiplier:g}": round(-var_today * vol_multiplier, 2),
        },
    }


class AlertMonitor:
    """Raises an alert once when a condition starts, and again only after it has cleared.

    Example:
        >>> monitor = AlertMonitor()
        >>> monitor.update("limit", "max_concentration:AAA", active=True)
        True
        >>> monitor.update("limit", "max_concentration:AAA", active=True)
        False
    """

    def __init__(self) -> None:
        self._active: set[tuple[str, str]] = set()

    def update(self, kind: str, key: str, *, active: bool) -> bool:
        """Whether to raise an alert now for (kind, key) being ``active``."""
        marker = (kind, key)
        if not active:
            self._active.discard(marker)
            return False
        if marker in self._active:
            return False
        self._active.add(marker)
        return True
