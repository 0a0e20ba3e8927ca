"""Encoders for gateway → client messages, field by field as ``ib_async.decoder`` reads them.

Each function returns the field list of one message (message id first); order messages are
in ``_order_messages.py``. Layouts follow
``ib_async/decoder.py`` (2.1.0) at server versions 164–178: messages decoded by
``Decoder.wrap(name, types, skip=2)`` carry a version field after the id, ``skip=1``
ones do not, and hand-written decoders are mirrored line by line (see the comments).
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.fake_tws._state import Instrument
from tests.fake_tws._wire import Field

# --- incoming message ids (client → gateway), from ib_async/client.py ---------------------
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_CURRENT_TIME = 49
REQ_REAL_TIME_BARS = 50
CANCEL_REAL_TIME_BARS = 51
REQ_GLOBAL_CANCEL = 58
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99


def contract_block(inst: Instrument, exchange: str) -> list[Field]:
    """The common 11-field contract block: conId, symbol, secType, lastTradeDate, strike,
    right, multiplier, exchange, currency, localSymbol, tradingClass."""
    return [
        inst.con_id,
        inst.symbol,
        inst.sec_type,
        "",
        0.0,
        "",
        "",
        exchange,
        inst.currency,
        inst.symbol,
        inst.trading_class,
    ]


# --- session -------------------------------------------------------------------------------


def managed_accounts(accounts: Sequence[str]) -> list[Field]:
    """managedAccounts (15): id, version, comma-separated accounts (client snoops 3 fields)."""
    return [15, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> list[Field]:
    """nextValidId (9): id, version, orderId (client snoops exactly 3 fields)."""
    return [9, 1, order_id]


def error(req_id: int, code: int, message: str, version: int) -> list[Field]:
    """errorMsg (4): id, version, reqId, code, text, advancedOrderRejectJson (≥ 166)."""
    fields: list[Field] = [4, 2, req_id, code, message]
    if version >= 166:
        fields.append("")
    return fields


def current_time(epoch_seconds: int) -> list[Field]:
    """currentTime (49): wrap([int]) with a version field."""
    return [49, 1, epoch_seconds]


# --- contracts -----------------------------------------------------------------------------


def contract_details(req_id: int, inst: Instrument, exchange: str, version: int) -> list[Field]:
    """contractDetails (10), as ``Decoder.contractDetails`` reads it (no version field ≥ 164)."""
    if version < 164:
        raise ValueError("the fake encodes contractDetails for server versions >= 164 only")
    return [
        10,
        req_id,
        inst.symbol,
        inst.sec_type,
        "",  # lastTradeDateOrContractMonth[-lastTradeTime[-timeZone]]
        0.0,  # strike
        "",  # right
        exchange,
        inst.currency,
        inst.symbol,  # localSymbol
        inst.trading_class,  # marketName
        inst.trading_class,
        inst.con_id,
        0.01,  # minTick
        "",  # multiplier
        "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,DAY,GTC,LMT,LOC,MIT,MKT,MOC,STP,STPLMT,TRAIL",
        f"SMART,{inst.primary_exchange},ISLAND,ARCA,BATS",
        1,  # priceMagnifier
        0,  # underConId
        f"{inst.symbol} INC",  # longName
        inst.primary_exchange,
        "",  # contractMonth
        "Technology",  # industry
        "Software",  # category
        "Application Software",  # subcategory
        "US/Eastern",  # timeZoneId
        "",  # tradingHours
        "",  # liquidHours
        "",  # evRule
        "",  # evMultiplier
        0,  # numSecIds (no secId tag/value pairs follow)
        1,  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        "26,26,26,26,26",  # marketRuleIds
        "",  # realExpirationDate
        "COMMON",  # stockType
        1.0,  # minSize (≥ 164)
        1.0,  # sizeIncrement
        100.0,  # suggestedSizeIncrement
    ]


def contract_details_end(req_id: int) -> list[Field]:
    """contractDetailsEnd (52): wrap([int]) with a version field."""
    return [52, 1, req_id]


# --- positions and account -----------------------------------------------------------------


def position(account: str, inst: Instrument, quantity: float, avg_cost: float) -> list[Field]:
    """position (61): exactly 16 fields (the decoder unpacks without a rest)."""
    return [
        61,
        3,
        account,
        *contract_block(inst, inst.primary_exchange),
        float(quantity),
        float(avg_cost),
    ]


def position_end() -> list[Field]:
    """positionEnd (62): wrap([]) with a version field."""
    return [62, 1]


def account_value(tag: str, value: str, currency: str, account: str) -> list[Field]:
    """updateAccountValue (6): wrap([str]*4) with a version field."""
    return [6, 2, tag, value, currency, account]


def portfolio_value(
    inst: Instrument,
    quantity: float,
    market_price: float,
    avg_cost: float,
    realized_pnl: float,
    account: str,
) -> list[Field]:
    """updatePortfolio (7): exactly 20 fields; the contract block has primaryExchange
    where other messages have exchange."""
    return [
        7,
        8,
        inst.con_id,
        inst.symbol,
        inst.sec_type,
        "",
        0.0,
        "",
        "",
        inst.primary_exchange,
        inst.currency,
        inst.symbol,
        inst.trading_class,
        float(quantity),
        float(market_price),
        float(quantity * market_price),
        float(avg_cost),
        float(quantity * (market_price - avg_cost)),
        float(realized_pnl),
        account,
    ]


def account_time(hh_mm: str) -> list[Field]:
    """updateAccountTime (8): wrap([str]) with a version field."""
    return [8, 1, hh_mm]


def account_download_end(account: str) -> list[Field]:
    """accountDownloadEnd (54): wrap([str]) with a version field."""
    return [54, 1, account]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list:
    """accountSummary (63): wrap([int, str, str, str, str]) with a version field."""
    return [63, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list[Field]:
    """accountSummaryEnd (64): wrap([int]) with a version field."""
    return [64, 1, req_id]


def account_update_multi(
    req_id: int, account: str, model_code: str, tag: str, value: str, currency: str
) -> list[Field]:
    """accountUpdateMulti (73): wrap([int, str, str, str, str, str]) with a version field."""
    return [73, 1, req_id, account, model_code, tag, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    """accountUpdateMultiEnd (74): wrap([int]) with a version field."""
    return [74, 1, req_id]


# --- market data ---------------------------------------------------------------------------


def historical_data(req_id: int, start: str, end: str, rows: Sequence[tuple]) -> list[Field]:
    """historicalData (17): reqId, start, end, count, then 8 fields per bar (no version)."""
    fields: list[Field] = [17, req_id, start, end, len(rows)]
    for row in rows:
        fields.extend(row)
    return fields


def real_time_bar(
    req_id: int,
    epoch_seconds: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    wap: float,
    count: int,
) -> list[Field]:
    """realTimeBars (50): wrap([int, int, float×6, int]) with a version field."""
    return [50, 3, req_id, epoch_seconds, open_, high, low, close, volume, wap, count]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> list[Field]:
    """tickPrice (1): id, version, reqId, tickType, price, size, attrMask (exactly 7)."""
    return [1, 6, req_id, tick_type, float(price), float(size), 0]


def tick_snapshot_end(req_id: int) -> list[Field]:
    """tickSnapshotEnd (57): wrap([int]) with a version field."""
    return [57, 1, req_id]


def market_data_type(req_id: int, data_type: int) -> list[Field]:
    """marketDataType (58): wrap([int, int]) with a version field."""
    return [58, 1, req_id, data_type]
