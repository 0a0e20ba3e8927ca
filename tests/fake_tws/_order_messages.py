"""Encoders for order messages (gateway → client): openOrder, orderStatus, completedOrder,
execDetails, commissionReport and their end markers.

Mirrors ``ib_async/decoder.py`` (2.1.0) line by line at server versions 164–178; the
comments name each field in the decoder's order.
"""

from __future__ import annotations

from tests.fake_tws._messages import contract_block
from tests.fake_tws._state import FakeExecution, Instrument, OrderRecord, ib_time
from tests.fake_tws._wire import UNSET_DOUBLE, Field


def _price(value: float | None) -> Field:
    return None if value is None else float(value)


def open_order(
    order: OrderRecord,
    version: int,
    *,
    what_if: bool = False,
    margin: float | None = None,
    commission: float | None = None,
) -> list[Field]:
    """openOrder (5), mirroring ``Decoder.openOrder`` line by line (no version field)."""
    margin_text = "" if margin is None else repr(margin)
    fields: list[Field] = [
        5,
        order.order_id,
        *contract_block(order.instrument, order.exchange),
        order.action,
        float(order.quantity),
        order.order_type,
        _price(order.limit_price),
        _price(order.aux_price),
        order.tif,
        order.oca_group,
        order.account,
        "O",  # openClose
        0,  # origin
        order.order_ref,
        order.client_id,
        order.perm_id,
        order.outside_rth,
        False,  # hidden
        0.0,  # discretionaryAmt
        order.good_after_time,
        "",  # sharesAllocation (deprecated, skipped by the decoder)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < 177:
        fields.append("")  # faProfile
    fields += [
        "",  # modelCode
        order.good_till_date,
        "",  # rule80A
        None,  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        0,  # auctionStrategy
        None,  # startingPrice
        None,  # stockRefPrice
        None,  # delta
        None,  # stockRangeLower
        None,  # stockRangeUpper
        0,  # displaySize
        False,  # blockOrder
        False,  # sweepToFill
        False,  # allOrNone
        None,  # minQty
        order.oca_type,  # ocaType
        False,  # eTradeOnly
        False,  # firmQuoteOnly
        None,  # nbboPriceCap
        order.parent_id,
        0,  # triggerMethod
        None,  # volatility
        None,  # volatilityType
        "",  # deltaNeutralOrderType (empty: no delta-neutral block follows)
        None,  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        None,  # referencePriceType
        _price(order.trail_stop_price),  # trailStopPrice
        _price(order.trailing_percent),  # trailingPercent
        None,  # basisPoints
        None,  # basisPointsType
        "",  # comboLegsDescrip
        0,  # numLegs
        0,  # numOrderLegs
        0,  # smartComboRoutingParams count
        None,  # scaleInitLevelSize
        None,  # scaleSubsLevelSize
        None,  # scalePriceIncrement (empty → UNSET: no scale block follows)
        "",  # hedgeType (empty: no hedgeParam follows)
        False,  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy (empty: no algo params follow)
        False,  # solicited
        what_if,
        order.status,
        margin_text,  # initMarginBefore
        margin_text,  # maintMarginBefore
        margin_text,  # equityWithLoanBefore
        margin_text,  # initMarginChange
        margin_text,  # maintMarginChange
        margin_text,  # equityWithLoanChange
        margin_text,  # initMarginAfter
        margin_text,  # maintMarginAfter
        margin_text,  # equityWithLoanAfter
        commission,  # commission
        commission,  # minCommission
        commission,  # maxCommission
        "USD" if commission is not None else "",  # commissionCurrency
        "",  # warningText
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # numConditions
        "",  # adjustedOrderType
        None,  # triggerPrice
        _price(order.trail_stop_price),  # trailStopPrice (read again, same attribute)
        None,  # lmtPriceOffset
        None,  # adjustedStopPrice
        None,  # adjustedStopLimitPrice
        None,  # adjustedTrailingAmount
        0,  # adjustableTrailingUnit
        "",  # softDollarTier.name
        "",  # softDollarTier.val
        "",  # softDollarTier.displayName
        None,  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        False,  # discretionaryUpToLimitPrice
        False,  # usePriceMgmtAlgo
    ]
    if version >= 159:
        fields.append(None)  # duration
    if version >= 160:
        fields.append(None)  # postToAts
    if version >= 162:
        fields.append(False)  # autoCancelParent
    if version >= 170:
        fields += [None, None, None, None, None]  # minTradeQty … midOffsetAtHalf
    return fields


def order_status(order: OrderRecord) -> list[Field]:
    """orderStatus (3): wrap(skip=1), so no version field; 11 values after the id."""
    return [
        3,
        order.order_id,
        order.status,
        float(order.filled),
        float(order.remaining),
        float(order.avg_fill_price),
        order.perm_id,
        order.parent_id,
        float(order.last_fill_price),
        order.client_id,
        "",  # whyHeld
        0.0,  # mktCapPrice
    ]


def open_order_end() -> list[Field]:
    """openOrderEnd (53): wrap([]) with a version field."""
    return [53, 1]


def completed_order(order: OrderRecord, version: int) -> list[Field]:
    """completedOrder (101), mirroring ``Decoder.completedOrder`` (no orderId, no clientId)."""
    fields: list[Field] = [
        101,
        *contract_block(order.instrument, order.exchange),
        order.action,
        float(order.quantity),
        order.order_type,
        _price(order.limit_price),
        _price(order.aux_price),
        order.tif,
        order.oca_group,
        order.account,
        "O",  # openClose
        0,  # origin
        order.order_ref,
        order.perm_id,
        order.outside_rth,
        False,  # hidden
        0.0,  # discretionaryAmt
        order.good_after_time,
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < 177:
        fields.append("")  # faProfile
    fields += [
        "",  # modelCode
        order.good_till_date,
        "",  # rule80A
        None,  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        None,  # startingPrice
        None,  # stockRefPrice
        None,  # delta
        None,  # stockRangeLower
        None,  # stockRangeUpper
        0,  # displaySize
        False,  # sweepToFill
        False,  # allOrNone
        None,  # minQty
        order.oca_type,  # ocaType
        0,  # triggerMethod
        None,  # volatility
        None,  # volatilityType
        "",  # deltaNeutralOrderType
        None,  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        None,  # referencePriceType
        _price(order.trail_stop_price),  # trailStopPrice
        _price(order.trailing_percent),  # trailingPercent
        "",  # comboLegsDescrip
        0,  # numLegs
        0,  # numOrderLegs
        0,  # smartComboRoutingParams count
        None,  # scaleInitLevelSize
        None,  # scaleSubsLevelSize
        None,  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy
        False,  # solicited
        order.status,
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # numConditions
        _price(order.trail_stop_price),  # trailStopPrice
        None,  # lmtPriceOffset
        None,  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        "",  # autoCancelDate
        float(order.filled),  # filledQuantity
        0,  # refFuturesConId
        False,  # autoCancelParent
        "",  # shareholder
        False,  # imbalanceOnly
        False,  # routeMarketableToBbo
        0,  # parentPermId
        order.completed_time,
        order.completed_status,
    ]
    if version >= 170:
        fields += [None, None, None, None, None]  # minTradeQty … midOffsetAtHalf
    return fields


def completed_orders_end() -> list[Field]:
    """completedOrdersEnd (102): wrap([], skip=1), just the id."""
    return [102]


def exec_details(req_id: int, execution: FakeExecution, inst: Instrument, version: int) -> list:
    """execDetails (11), as ``Decoder.execDetails`` reads it (no version field)."""
    fields: list[Field] = [
        11,
        req_id,
        execution.order_id,
        *contract_block(inst, inst.primary_exchange),
        execution.exec_id,
        ib_time(execution.time),
        execution.account,
        inst.primary_exchange,
        execution.side,
        float(execution.shares),
        float(execution.price),
        execution.perm_id,
        execution.client_id,
        0,  # liquidation
        float(execution.cum_qty),
        float(execution.avg_price),
        execution.order_ref,
        "",  # evRule
        None,  # evMultiplier
        "",  # modelCode
        1,  # lastLiquidity (1 = added)
    ]
    if version >= 178:
        fields.append(False)  # pendingPriceRevision
    return fields


def exec_details_end(req_id: int) -> list[Field]:
    """execDetailsEnd (55): wrap([int]) with a version field."""
    return [55, 1, req_id]


def commission_report(execution: FakeExecution) -> list[Field]:
    """commissionReport (59): id, version and exactly six values."""
    realized = UNSET_DOUBLE if execution.realized_pnl is None else execution.realized_pnl
    return [59, 1, execution.exec_id, execution.commission, "USD", realized, UNSET_DOUBLE, 0]
