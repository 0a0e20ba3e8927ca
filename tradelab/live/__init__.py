"""Live trading: strategies from ``strategies/`` run unchanged on a broker's bar stream.

A :class:`StrategyRunner` runs one Backtrader strategy class in a live ``Cerebro`` fed by
:class:`LiveFeed` s, with a :class:`BridgeBroker` sending every order through the trader's
``submit`` (risk manager + audit log), which answers with a :class:`SubmitOutcome`. The
:class:`TradingEngine` is that one order path: validate, risk-check, log, then send.
"""

from __future__ import annotations

from tradelab.live.bridge import BridgeBroker, CancelFunction, SubmitFunction
from tradelab.live.engine import EngineConfig, MetricsSink, TradingEngine
from tradelab.live.feed import LiveBarQueue, LiveFeed
from tradelab.live.outcome import SubmitOutcome
from tradelab.live.runner import StrategyRunner, StrategyRunnerConfig

__all__ = [
    "BridgeBroker",
    "CancelFunction",
    "EngineConfig",
    "LiveBarQueue",
    "LiveFeed",
    "MetricsSink",
    "StrategyRunner",
    "StrategyRunnerConfig",
    "SubmitFunction",
    "SubmitOutcome",
    "TradingEngine",
]
