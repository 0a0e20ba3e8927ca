"""Backtrader adapter for :mod:`tradelab.costs`: IB commission info, a broker and ``apply_costs``.

This is the only module of :mod:`tradelab.costs` that imports Backtrader.

How the pieces map onto Backtrader 1.9.78.123:

* :class:`IBCommissionInfo` charges :func:`tradelab.costs.commission` on every execution and adds
  the SEC fee when the executed size is negative (a sell). Backtrader splits a reversal (long 100,
  sell 200) into a closing and an opening leg and asks for the commission of each, so a reversal
  pays the per-order minimum twice; IB charges it once.
* Slippage uses ``set_slippage_perc(bps / 1e4, slip_open=True, slip_limit=False, slip_match=True,
  slip_out=False)``. With these settings plain Backtrader still slips a *limit* order that fills
  at the open (it moves the open towards the limit price), and a stop-limit triggered inside the
  bar; ``slip_limit`` only matters when ``slip_match`` is off. :class:`CostModelBroker` removes
  slippage from every limit-style fill so the backtest agrees with
  :func:`tradelab.costs.slipped_price`: market and stop orders slip, limit and stop-limit do not.
* ``slip_match=True, slip_out=False`` caps a slipped price at the bar's high (buys) or low (sells):
  a market buy on a bar that opens at its high fills at the open, without slippage.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt

from tradelab.costs._formulas import AMOUNT_DECIMALS, commission_amount, sec_fee_amount
from tradelab.costs._validation import check_number
from tradelab.costs.config import CommissionConfig, CostConfig
from tradelab.errors import BacktestError

__all__ = ["CostModelBroker", "IBCommissionInfo", "apply_costs"]


class IBCommissionInfo(bt.CommInfoBase):
    """Stock-like Backtrader commission info charging IB commission plus the SEC fee on sells.

    Params:
        per_share: Dollars per share (default IB fixed: 0.005).
        minimum: Minimum dollars per execution (1.0).
        maximum_pct: Cap as a fraction of trade value (0.01), or ``None`` for no cap.
        sec_fee_per_million: SEC fee per million dollars of sale proceeds (27.80).

    Example:
        >>> from tradelab.costs import cost_model
        >>> info = IBCommissionInfo.from_config(cost_model("ib-fixed"))
        >>> info.getcommission(-1_000, 50.0)  # sell: $5.00 commission + $1.39 SEC fee
        6.39
    """

    params = (
        ("per_share", 0.005),
        ("minimum", 1.0),
        ("maximum_pct", 0.01),
        ("sec_fee_per_million", 27.80),
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_FIXED),
    )

    def __init__(self) -> None:
        super().__init__()
        # Validate the params the same way the pure functions' configs are validated.
        CommissionConfig(
            per_share=self.p.per_share, minimum=self.p.minimum, maximum_pct=self.p.maximum_pct
        )
        check_number(
            "IBCommissionInfo",
            "sec_fee_per_million",
            self.p.sec_fee_per_million,
            hint="Give dollars per million of sale proceeds as a number >= 0, e.g. 27.80.",
        )

    @classmethod
    def from_config(cls, config: CostConfig) -> IBCommissionInfo:
        """Commission info charging ``config``'s commission schedule and SEC fee."""
        return cls(
            per_share=config.commission.per_share,
            minimum=config.commission.minimum,
            maximum_pct=config.commission.maximum_pct,
            sec_fee_per_million=config.sec_fee_per_million,
        )

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        p = self.p
        fee = commission_amount(size, price, p.per_share, p.minimum, p.maximum_pct)
        if size < 0:  # Backtrader passes sells (closing a long or opening a short) as size < 0
            fee += sec_fee_amount(size * price, p.sec_fee_per_million)
        return round(fee, AMOUNT_DECIMALS)


class CostModelBroker(bt.brokers.BackBroker):
    """Backtrader's ``BackBroker`` with slippage only on market-like fills.

    Market orders, stops and the market part of Backtrader's other order types slip as configured
    by ``set_slippage_perc``; fills Backtrader computes as *limit* fills (limit orders, triggered
    stop-limits) get their price unchanged, matching :func:`tradelab.costs.slipped_price`.
    Everything else is ``BackBroker``. :func:`apply_costs` installs it on a ``Cerebro``.
    """

    def next(self) -> None:
        """``BackBroker.next`` without the per-bar passes that are no-ops for stocks: credit
        interest when no commission info charges it (the stock pass converts a datetime per held
        position per bar only to add 0.0) and the futures cash adjustment when every commission
        info is stock-like. Same fills and values, faster."""
        if self._stock_flags is None:  # commission infos are final once the run has started
            self._stock_flags = (
                any(info.p.interest for info in self.comminfo.values()),
                all(info._stocklike for info in self.comminfo.values()),
            )
        charges_interest, all_stocklike = self._stock_flags
        if charges_interest:
            super().next()
            return
        while self._toactivate:
            self._toactivate.popleft().activate()
        if self.p.checksubmit:
            self.check_submitted()
        self._process_order_history()
        pending = self.pending
        pending.append(None)
        while True:
            order = pending.popleft()
            if order is None:
                break
            if order.expire():
                self.notify(order)
                self._ococheck(order)
                self._bracketize(order, cancel=True)
            elif not order.active():
                pending.append(order)
            else:
                self._try_exec(order)
                if order.alive():
                    pending.append(order)
                elif order.status == bt.Order.Completed:
                    self._bracketize(order)
        if not all_stocklike:  # futures-like infos settle cash every bar
            for data, pos in self.positions.items():
                if pos:
                    comminfo = self.getcommissioninfo(data)
                    self.cash += comminfo.cashadjust(pos.size, pos.adjbase, data.close[0])
                    pos.adjbase = data.close[0]
        self._get_value()

    def start(self) -> None:
        super().start()
        self._stock_flags: tuple[bool, bool] | None = None

    def _slip_up(
        self, pmax: float, price: float, doslip: bool = True, lim: bool = False
    ) -> float | None:
        if lim:
            return price
        return super()._slip_up(pmax, price, doslip=doslip, lim=lim)

    def _slip_down(
        self, pmin: float, price: float, doslip: bool = True, lim: bool = False
    ) -> float | None:
        if lim:
            return price
        return super()._slip_down(pmin, price, doslip=doslip, lim=lim)


def apply_costs(cerebro_or_broker: bt.Cerebro | CostModelBroker, config: CostConfig) -> None:
    """Make a Backtrader run charge ``config``'s commission, SEC fee and slippage.

    Given a ``Cerebro`` whose broker is a plain ``BackBroker``, the broker is replaced by a
    :class:`CostModelBroker` with the same settings (cash, cheat-on-open, ...) and commission
    infos, so call this after ``setcash`` or before it, but before ``run``. The commission info
    becomes the default for every data feed; feeds given their own commission info by name keep it.

    Args:
        cerebro_or_broker: A ``Cerebro`` (usual) or a :class:`CostModelBroker`.
        config: The cost model, e.g. ``cost_model("ib-fixed")``.

    Raises:
        BacktestError: The broker is neither a ``BackBroker`` on a ``Cerebro`` nor a
            :class:`CostModelBroker`.

    Example:
        >>> import backtrader as bt
        >>> from tradelab.costs import cost_model
        >>> cerebro = bt.Cerebro()
        >>> cerebro.broker.setcash(50_000)
        >>> apply_costs(cerebro, cost_model("ib-pro"))
        >>> type(cerebro.broker).__name__, cerebro.broker.getcash()
        ('CostModelBroker', 50000)
    """
    if not isinstance(config, CostConfig):
        raise BacktestError(
            f"apply_costs needs a CostConfig, got {config!r}. "
            f"Use tradelab.costs.cost_model('ib-fixed') or build a CostConfig."
        )
    broker = _cost_model_broker(cerebro_or_broker)
    broker.addcommissioninfo(IBCommissionInfo.from_config(config))
    broker.set_slippage_perc(
        config.slippage_bps / 10_000,
        slip_open=True,  # market orders fill at the next open: slip them
        slip_limit=False,  # only matters with slip_match=False; CostModelBroker skips limits
        slip_match=True,  # cap slippage at the bar's high/low instead of refusing to fill
        slip_out=False,  # never fill outside the bar's range
    )


def _cost_model_broker(target: Any) -> CostModelBroker:
    if isinstance(target, bt.Cerebro):
        broker = target.getbroker()
        if isinstance(broker, CostModelBroker):
            return broker
        if type(broker) is bt.brokers.BackBroker:
            replacement = CostModelBroker(**broker.params._getkwargs())
            replacement.comminfo = dict(broker.comminfo)
            target.setbroker(replacement)
            return replacement
        raise BacktestError(
            f"apply_costs cannot model costs on a {type(broker).__name__} broker: it needs "
            f"Backtrader's simulated BackBroker. Leave cerebro.broker at its default, or set a "
            f"tradelab.costs.backtrader.CostModelBroker."
        )
    if isinstance(target, CostModelBroker):
        return target
    raise BacktestError(
        f"apply_costs needs a Cerebro or a CostModelBroker, got {type(target).__name__}. "
        f"Pass the Cerebro: apply_costs(cerebro, config) installs a CostModelBroker on it."
    )
