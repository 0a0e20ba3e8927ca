"""Readers for the client → gateway requests whose layouts are more than a few fields.

Each reader mirrors the matching method of ``ib_async.client.Client`` at a given server
version and insists on consuming every field, so a layout disagreement between the fake and
the real client shows up as a ``ProtocolError`` instead of silently mis-read values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tests.fake_tws._wire import UNSET_DOUBLE, FieldReader, ProtocolError


@dataclass(frozen=True, slots=True)
class ContractFields:
    """The twelve contract fields ``Client.send`` writes for a ``Contract`` argument."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: float | None
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str


def read_contract(reader: FieldReader) -> ContractFields:
    """Read the 12 fields of a contract (conId … tradingClass)."""
    return ContractFields(
        con_id=reader.integer(),
        symbol=reader.text(),
        sec_type=reader.text(),
        last_trade_date=reader.text(),
        strike=reader.number(),
        right=reader.text(),
        multiplier=reader.text(),
        exchange=reader.text(),
        primary_exchange=reader.text(),
        currency=reader.text(),
        local_symbol=reader.text(),
        trading_class=reader.text(),
    )


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    """The parts of a placeOrder (msg 3) request the fake acts on."""

    order_id: int
    contract: ContractFields
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    oca_type: int
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    what_if: bool
    condition_count: int
    trail_stop_price: float | None = None
    trailing_percent: float | None = None


def _skip_tag_values(reader: FieldReader) -> None:
    count = reader.integer()
    reader.skip(2 * count)


def read_place_order(fields: list[str], version: int) -> PlaceOrderRequest:
    """Read a placeOrder request exactly as ``Client.placeOrder`` writes it at ``version``.

    Raises:
        ProtocolError: when fields are missing, left over, or an order has conditions
            (their layout depends on the condition classes; the fake does not support them).
    """
    reader = FieldReader(fields, "placeOrder")
    reader.skip(1)  # message id 3 (no version field)
    order_id = reader.integer()
    contract = read_contract(reader)
    reader.skip(2)  # secIdType, secId
    action = reader.text()
    quantity = reader.number(0.0) or 0.0
    order_type = reader.text()
    limit_price = reader.number()
    aux_price = reader.number()
    tif = reader.text()
    oca_group = reader.text()
    account = reader.text()
    reader.skip(2)  # openClose, origin
    order_ref = reader.text()
    transmit = reader.flag()
    parent_id = reader.integer()
    reader.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = reader.flag()
    reader.skip(1)  # hidden
    if contract.sec_type == "BAG":
        legs = reader.integer()
        reader.skip(8 * legs)
        order_legs = reader.integer()
        reader.skip(order_legs)
        _skip_tag_values(reader)  # smartComboRoutingParams
    reader.skip(2)  # "" (deprecated sharesAllocation), discretionaryAmt
    good_after_time = reader.text()
    good_till_date = reader.text()
    reader.skip(3)  # faGroup, faMethod, faPercentage
    if version < 177:
        reader.skip(1)  # faProfile
    # modelCode, shortSaleSlot, designatedLocation, exemptCode, ocaType, then rule80A …
    # volatilityType (17 fields), then deltaNeutralOrderType, deltaNeutralAuxPrice
    reader.skip(4)
    oca_type = reader.integer()
    reader.skip(17)
    delta_neutral_order_type = reader.text()
    reader.skip(1)
    if delta_neutral_order_type:
        reader.skip(8)
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
    # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    reader.skip(2)
    trail_stop_price = _set(reader.number())
    trailing_percent = _set(reader.number())
    reader.skip(2)
    scale_increment = reader.number(UNSET_DOUBLE)
    if scale_increment is not None and 0 < scale_increment < UNSET_DOUBLE:
        reader.skip(7)
    reader.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if reader.text():  # hedgeType
        reader.skip(1)  # hedgeParam
    reader.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if reader.flag():  # deltaNeutralContract present
        reader.skip(3)
    if reader.text():  # algoStrategy
        _skip_tag_values(reader)
    reader.skip(1)  # algoId
    what_if = reader.flag()
    reader.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in {"PEG BENCH", "PEGBENCH"}:
        reader.skip(5)
    condition_count = reader.integer()
    if condition_count:
        raise ProtocolError("placeOrder: orders with conditions are not supported by the fake")
    # adjustedOrderType … usePriceMgmtAlgo
    reader.skip(19)
    if version >= 158:
        reader.skip(1)  # duration
    if version >= 160:
        reader.skip(1)  # postToAts
    if version >= 162:
        reader.skip(1)  # autoCancelParent
    if version >= 166:
        reader.skip(1)  # advancedErrorOverride
    if version >= 169:
        reader.skip(1)  # manualOrderTime
    if version >= 170:
        if contract.exchange == "IBKRATS":
            reader.skip(1)  # minTradeQty
        if order_type in {"PEG BEST", "PEGBEST"}:
            reader.skip(1)  # minCompeteSize
            if reader.number() == math.inf:  # competeAgainstBestOffset
                reader.skip(2)
        elif order_type in {"PEG MID", "PEGMID"}:
            reader.skip(2)
    reader.expect_end()
    return PlaceOrderRequest(
        order_id=order_id,
        contract=contract,
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        aux_price=aux_price,
        tif=tif,
        oca_group=oca_group,
        oca_type=oca_type,
        account=account,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        outside_rth=outside_rth,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        what_if=what_if,
        condition_count=condition_count,
        trail_stop_price=trail_stop_price,
        trailing_percent=trailing_percent,
    )


def _set(value: float | None) -> float | None:
    """``None`` for IB's unset double."""
    return None if value is None or value >= UNSET_DOUBLE else value


@dataclass(frozen=True, slots=True)
class HistoricalDataRequest:
    """A reqHistoricalData (msg 20) request."""

    req_id: int
    contract: ContractFields
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def read_historical_data(fields: list[str]) -> HistoricalDataRequest:
    """Read a reqHistoricalData request as ``Client.reqHistoricalData`` writes it."""
    reader = FieldReader(fields, "reqHistoricalData")
    reader.skip(1)  # message id 20 (no version field)
    req_id = reader.integer()
    contract = read_contract(reader)
    reader.skip(1)  # includeExpired
    end = reader.text()
    bar_size = reader.text()
    duration = reader.text()
    use_rth = reader.flag()
    what_to_show = reader.text()
    format_date = reader.integer(1)
    if contract.sec_type == "BAG":
        legs = reader.integer()
        reader.skip(4 * legs)
    keep_up_to_date = reader.flag()
    reader.skip(1)  # chartOptions
    reader.expect_end()
    return HistoricalDataRequest(
        req_id=req_id,
        contract=contract,
        end=end,
        bar_size=bar_size,
        duration=duration,
        use_rth=use_rth,
        what_to_show=what_to_show,
        format_date=format_date,
        keep_up_to_date=keep_up_to_date,
    )


def read_market_data(fields: list[str]) -> tuple[int, ContractFields, bool]:
    """Read reqMktData (msg 1): returns (reqId, contract, snapshot)."""
    reader = FieldReader(fields, "reqMktData")
    reader.skip(2)  # message id 1, version 11
    req_id = reader.integer()
    contract = read_contract(reader)
    if contract.sec_type == "BAG":
        legs = reader.integer()
        reader.skip(4 * legs)
    if reader.flag():  # deltaNeutralContract
        reader.skip(3)
    reader.skip(1)  # genericTickList
    snapshot = reader.flag()
    reader.skip(2)  # regulatorySnapshot, mktDataOptions
    reader.expect_end()
    return req_id, contract, snapshot
