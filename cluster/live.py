"""LiveTrader: a Ray Serve deployment (FastAPI ingress) around the trading engine.

The Ray layer stays thin: the deployment builds a :class:`tradelab.live.TradingEngine` (broker,
risk manager, audit log) from a typed :class:`LiveTraderArgs` and maps HTTP to its methods.
Mutating endpoints need ``Authorization: Bearer $TRADELAB_API_TOKEN`` (compared in constant
time; read from the replica's environment, never from the args, so it never shows in Serve's
config or the dashboard).

Run it::

    TRADELAB_API_TOKEN=... tradelab live start --broker paper --symbols AAA BBB
    serve run cluster.live:build_app broker=paper   # the same app, from Serve's CLI
"""

import hmac
import logging
import os
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from ray import serve

from cluster._live_models import (
    BracketBody,
    CloseBody,
    LimitsBody,
    ModifyBody,
    OrderBody,
    ReasonBody,
    StrategyBody,
    SymbolBody,
)
from tradelab.errors import (
    BrokerError,
    ConfigError,
    DuplicateOrderError,
    OrderError,
    OrderNotFoundError,
    TradelabError,
)
from tradelab.live.desk import OrderConflictError

__all__ = ["API_TOKEN_ENV", "LiveTrader", "LiveTraderArgs", "build_app"]

API_TOKEN_ENV = "TRADELAB_API_TOKEN"
_log = logging.getLogger("tradelab.live")


class LiveTraderArgs(BaseModel):
    """Everything a LiveTrader replica is built from (validated; unknown keys refused).

    Secrets are not here: the API token and IB credentials come from the environment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("live", pattern=r"^[A-Za-z0-9_-]{1,40}$",
                      description="Name of this trader: its audit log is <home>/live/<name>/")
    home: str | None = Field(None, description="TRADELAB_HOME for the replica (absolute path)")
    broker: Literal["paper", "ib"] = "paper"
    symbols: list[str] = Field(default_factory=lambda: ["AAA", "BBB"], min_length=1)
    # paper broker
    data: Literal["synthetic", "store"] = "synthetic"
    bar_size: str = "1d"
    start: str | None = None
    end: str | None = None
    seed: int = 7
    speed: float = Field(1.0, ge=0, allow_inf_nan=False)
    cash: float = Field(100_000.0, gt=0, allow_inf_nan=False)
    costs: str = "ib-fixed"
    volume_participation: float | None = Field(0.1, gt=0, le=1)
    # IB
    ib_host: str = "127.0.0.1"
    ib_port: int = Field(4002, ge=1, le=65535)
    ib_client_id: int = 1
    ib_account: str | None = None
    # risk, audit, engine
    risk: dict[str, Any] = Field(default_factory=dict)
    audit_url: str | None = None
    price_band: float | None = Field(0.5, gt=0)
    # a strategy started with the trader
    strategy: str | None = None
    strategy_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.strip().upper() for s in value]

    def audit_location(self, home: Path) -> str:
        """The audit database URL: ``audit_url`` or SQLite under ``<home>/live/<name>/``."""
        return self.audit_url or f"sqlite:///{home / 'live' / self.name / 'audit.db'}"



app = FastAPI(
    title="tradelab live trader",
    version="1",
    description="Orders through the risk manager to the broker; every step audited first.",
)


@app.exception_handler(TradelabError)
async def _tradelab_error(request: Request, exc: TradelabError) -> JSONResponse:
    if isinstance(exc, DuplicateOrderError | OrderConflictError):
        status = 409
    elif isinstance(exc, OrderNotFoundError):
        status = 404
    elif isinstance(exc, OrderError | ConfigError):
        status = 422
    elif isinstance(exc, BrokerError):
        status = 503
    else:
        status = 500
    return JSONResponse(status_code=status, content={"detail": str(exc)})


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the input, which fails to encode for NaN/inf: name the field and
    # the problem, with the value as text.
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append({"field": where, "problem": error.get("msg", ""),
                         "value": repr(error.get("input"))[:200]})
    summary = "; ".join(f"{p['field'] or 'body'}: {p['problem']} (got {p['value']})"
                        for p in problems)
    return JSONResponse(status_code=422, content={"detail": summary, "errors": problems})


def _require_token(request: Request) -> None:
    expected = os.environ.get(API_TOKEN_ENV, "")
    if not expected:
        raise HTTPException(
            status_code=503,
            detail=f"mutating endpoints are disabled: no API token is set. Set {API_TOKEN_ENV} "
                   f"in the environment of the trader (e.g. export {API_TOKEN_ENV}=$(python -c "
                   f"'import secrets; print(secrets.token_urlsafe(32))')) and restart it.")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


_auth = [Depends(_require_token)]


class _RayMetrics:
    """The engine's counters and gauges as Ray metrics (shown on the Ray dashboard)."""

    def __init__(self, trader: str) -> None:
        from ray.util import metrics

        self._metrics = metrics
        self._trader = trader
        self._counters: dict[str, Any] = {}
        self._gauges: dict[str, Any] = {}

    def count(self, name: str, tags: dict[str, str]) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._metrics.Counter(
                f"tradelab_live_{name}", description=f"tradelab live trader: {name}",
                tag_keys=("trader", *sorted(tags)))
            self._counters[name] = counter
        counter.inc(1.0, tags={"trader": self._trader, **tags})

    def gauge(self, name: str, value: float, tags: dict[str, str]) -> None:
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = self._metrics.Gauge(
                f"tradelab_live_{name}", description=f"tradelab live trader: {name}",
                tag_keys=("trader", *sorted(tags)))
            self._gauges[name] = gauge
        gauge.set(value, tags={"trader": self._trader, **tags})


def _make_broker(args: LiveTraderArgs, home: Path) -> Any:
    if args.broker == "ib":
        from tradelab.brokers import IBBroker, IBConfig

        return IBBroker(IBConfig(host=args.ib_host, port=args.ib_port,
                                 client_id=args.ib_client_id, account=args.ib_account))
    from tradelab.brokers import PaperBroker, PaperBrokerConfig, replay_bars, synthetic_bars

    if args.data == "store":
        stream = replay_bars(args.symbols, bar_size=args.bar_size, start=args.start,
                             end=args.end, root=home)
    else:
        stream = synthetic_bars(args.symbols, start=args.start or "2024-01-02",
                                end=args.end or "2024-12-31", bar_size=args.bar_size,
                                seed=args.seed)
    return PaperBroker(stream, PaperBrokerConfig(
        cash=args.cash, costs=args.costs, volume_participation=args.volume_participation,
        speed=args.speed, autostart=False))


# Serve pickles the class when it is decorated: helpers it uses must be defined above.
@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0},
                  max_ongoing_requests=256, health_check_period_s=2,
                  graceful_shutdown_timeout_s=10)
@serve.ingress(app)
class LiveTrader:
    """One trader: broker + risk manager + audit log, behind HTTP. Built from LiveTraderArgs."""

    async def __init__(self, args: LiveTraderArgs) -> None:
        from tradelab.audit import AuditConfig, AuditLog
        from tradelab.live.engine import EngineConfig, TradingEngine
        from tradelab.paths import data_root
        from tradelab.risk import RiskConfig, RiskManager

        if args.home:
            os.environ["TRADELAB_HOME"] = args.home
        self.args = args
        home = data_root()
        self.broker = _make_broker(args, home)
        self.audit = AuditLog(AuditConfig(url=args.audit_location(home)))
        self.engine = TradingEngine(
            self.broker, risk=RiskManager(RiskConfig.from_mapping(args.risk)), audit=self.audit,
            config=EngineConfig(price_band=args.price_band), metrics=_RayMetrics(args.name))
        self.strategies: dict[str, Any] = {}
        self.replica = serve.get_replica_context().replica_id.to_full_id_str()
        self.restored = await self.engine.start()
        if args.strategy:  # before the stream starts: it sees every bar live
            await self._start_strategy(args.strategy, args.strategy_params, args.symbols, None)
        start_stream = getattr(self.broker, "start_stream", None)
        if callable(start_stream):
            start_stream()
        _log.info("live trader %s ready: broker %s, restored %s", args.name, args.broker,
                  self.restored)

    # -------------------------------------------------------------- reads
    @app.get("/health")
    async def health(self) -> dict[str, Any]:
        """Liveness and the essentials: broker connection, trading state, strategies."""
        return {
            "status": "ok" if self.broker.connected else "degraded",
            "trader": self.args.name,
            "broker": self.args.broker,
            "connected": self.broker.connected,
            "state": self.engine.risk.state.value,
            "strategies": {n: r.running for n, r in self.strategies.items()},
            "restored": self.restored,
            "replica": self.replica,
        }

    @app.get("/account")
    async def account(self) -> dict[str, Any]:
        """Cash, equity, P&L and positions."""
        return (await self.broker.account()).to_dict()

    @app.get("/positions")
    async def positions(self) -> dict[str, Any]:
        """Non-zero positions by symbol."""
        return {s: p.to_dict() for s, p in (await self.broker.positions()).items()}

    @app.get("/orders")
    async def orders(self, open_only: bool = False, status: str | None = None,
                     today: bool = False, limit: int = 500) -> list[dict[str, Any]]:
        """Orders from the audit log (newest last); ``status=Filled&today=true`` for the
        orders filled in today's session (the replay's day on the paper stream)."""
        orders = self.audit.orders(open_only=open_only)
        if status:
            orders = [o for o in orders if o.status.value.lower() == status.lower()]
        if today:
            day = self.engine.clock().date()
            filled = {f.client_order_id for f in self.audit.fills()
                      if f.timestamp.date() == day}
            orders = [o for o in orders if o.client_order_id in filled]
        return [o.to_dict() for o in orders[-max(limit, 1):]]

    @app.get("/fills")
    async def fills(self, limit: int = 500) -> list[dict[str, Any]]:
        """Fills from the audit log (newest last)."""
        return [f.to_dict() for f in self.audit.fills()[-max(limit, 1):]]

    @app.get("/risk")
    async def risk(self) -> dict[str, Any]:
        """Trading state, limits, equity marks, recent decisions."""
        view = self.engine.risk_view()
        view["recent_decisions"] = self.audit.decisions(limit=20)
        return view

    @app.get("/strategies")
    async def strategies_status(self) -> dict[str, Any]:
        """Every strategy started in this trader and its status."""
        return {name: runner.status() for name, runner in self.strategies.items()}

    # -------------------------------------------------------------- orders
    @app.post("/orders", dependencies=_auth, status_code=201)
    async def place_order(self, body: OrderBody) -> JSONResponse:
        """Risk-check and send an order: 201 when sent, 200 with the denial when the risk
        manager refuses, 409 for a used client_order_id, 422 for bad input."""
        from tradelab.brokers import OrderRequest

        request = OrderRequest(**body.model_dump())
        outcome = await self.engine.submit(request, source="api")
        return JSONResponse(status_code=201 if outcome.accepted else 200,
                            content=outcome.to_dict())

    @app.post("/orders/bracket", dependencies=_auth, status_code=201)
    async def place_bracket(self, body: BracketBody) -> JSONResponse:
        """An entry with its take-profit and stop-loss, one risk decision on the entry: 201
        with the three orders when sent, 200 with the denial (of all three) when the risk
        manager refuses the entry, 409 for a used id, 422 for bad input (e.g. a take-profit
        below a buy entry) — then nothing is sent."""
        from tradelab.brokers import OrderRequest

        outcomes = await self.engine.submit_bracket(
            OrderRequest(**body.entry()), body.take_profit, body.stop_loss, source="api",
            take_profit_id=body.take_profit_id, stop_loss_id=body.stop_loss_id)
        accepted = all(o.accepted for o in outcomes)
        content = {"accepted": accepted,
                   **dict(zip(("entry", "take_profit", "stop_loss"),
                              (o.to_dict() for o in outcomes), strict=True))}
        return JSONResponse(status_code=201 if accepted else 200, content=content)

    @app.delete("/orders/{client_order_id}", dependencies=_auth)
    async def cancel_order(self, client_order_id: str) -> dict[str, Any]:
        """Cancel an open order (404 if unknown)."""
        return (await self.engine.cancel(client_order_id)).to_dict()

    @app.put("/orders/{client_order_id}", dependencies=_auth)
    async def modify_order(self, client_order_id: str, body: ModifyBody) -> JSONResponse:
        """Change an open order's quantity or prices, risk-checked: 200 with the outcome
        (``accepted`` false and the denial when the risk manager refuses), 404 unknown id,
        409 when the order is already finished."""
        outcome = await self.engine.modify(client_order_id, **body.model_dump(),
                                           source="api")
        return JSONResponse(content=outcome.to_dict())

    @app.post("/orders/cancel-all", dependencies=_auth)
    async def cancel_all(self, body: SymbolBody | None = None) -> list[dict[str, Any]]:
        """Cancel every open order (of one symbol if given)."""
        symbol = body.symbol.upper() if body and body.symbol else None
        return [o.to_dict() for o in await self.engine.cancel_all(symbol)]

    @app.get("/orders/{client_order_id}")
    async def order_history(self, client_order_id: str) -> dict[str, Any]:
        """One order with its state changes, fills and risk decisions."""
        return self.engine.order_history(client_order_id)

    @app.post("/positions/close-all", dependencies=_auth)
    async def close_all(self) -> list[dict[str, Any]]:
        """Close every position with market orders (each risk-checked and audited)."""
        return [o.to_dict() for o in await self.engine.close_all(source="close")]

    @app.post("/positions/{symbol}/close", dependencies=_auth)
    async def close_position(self, symbol: str, body: CloseBody | None = None) -> JSONResponse:
        """Close a position, or part of it (404 if none)."""
        outcome = await self.engine.close_position(
            symbol.upper(), body.quantity if body else None, source="close")
        return JSONResponse(status_code=201 if outcome.accepted else 200,
                            content=outcome.to_dict())

    @app.get("/exposure")
    async def exposure(self) -> dict[str, Any]:
        """Gross/net exposure by symbol and in total."""
        return await self.engine.exposure()

    @app.get("/pnl")
    async def pnl(self) -> list[dict[str, Any]]:
        """Daily P&L history (equity, realized, day P&L, trades, win rate) from the audit log."""
        return self.engine.pnl_history()

    @app.get("/alerts")
    async def alerts(self, since: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        """The alert feed: limit usage >= 80%, HALT, disconnects, rejected orders, limit
        changes. Pass the last id seen as ``since``."""
        return self.engine.alerts(since, max(1, min(limit, 1000)))

    @app.get("/market/hours")
    async def market_hours(self) -> dict[str, Any]:
        """Today's session, whether open now, the next open, and whether hours are enforced."""
        return self.engine.market_hours()

    # -------------------------------------------------------------- risk controls
    @app.post("/risk/halt", dependencies=_auth)
    async def halt(self, body: ReasonBody) -> dict[str, Any]:
        """Deny every new order until resumed."""
        return self.engine.halt(body.reason)

    @app.post("/risk/resume", dependencies=_auth)
    async def resume(self, body: ReasonBody) -> dict[str, Any]:
        """Back to ACTIVE."""
        return self.engine.resume(body.reason)

    @app.post("/risk/reduce", dependencies=_auth)
    async def reduce(self, body: ReasonBody) -> dict[str, Any]:
        """Only orders that shrink positions."""
        return self.engine.reduce(body.reason)

    @app.get("/risk/limits")
    async def get_limits(self) -> dict[str, Any]:
        """The risk limits in force."""
        return self.engine.limits()

    @app.put("/risk/limits", dependencies=_auth)
    async def set_limits(self, body: LimitsBody, request: Request) -> dict[str, Any]:
        """Change limits at runtime (422 if out of range); audited with who (the
        ``X-Operator`` header), when, before, after and why."""
        operator = request.headers.get("x-operator", "api")[:100] or "api"
        return self.engine.set_limits(body.limits, operator=operator, reason=body.reason)

    @app.post("/risk/validate", dependencies=_auth)
    async def validate(self, body: OrderBody) -> dict[str, Any]:
        """A dry run of an order through the risk manager: the decision, nothing recorded."""
        from tradelab.brokers import OrderRequest

        decision = await self.engine.validate(OrderRequest(**body.model_dump()))
        return {"approved": decision.approved, "rule": decision.rule,
                "reason": decision.reason}

    @app.get("/risk/drawdown")
    async def drawdown(self) -> dict[str, Any]:
        """Equity against its peak and the day's open, with the limits."""
        return await self.engine.drawdown()

    @app.get("/risk/stress")
    async def stress(self, shocks: str | None = None) -> dict[str, Any]:
        """P&L of the book under -5/-10/-20% shocks per symbol and market-wide, and a
        volatility shock (``shocks=-0.05,-0.3`` for others)."""
        values = None
        if shocks:
            try:
                values = [float(x) for x in shocks.split(",")]
            except ValueError as exc:
                raise HTTPException(status_code=422, detail=f"shocks must be numbers separated "
                                    f"by commas, e.g. -0.05,-0.1; got {shocks!r}") from exc
        return await self.engine.stress(values)

    @app.post("/kill", dependencies=_auth)
    async def kill(self, body: ReasonBody | None = None) -> dict[str, Any]:
        """Emergency stop: stop strategies, cancel every order, flatten, HALT."""
        for runner in self.strategies.values():
            await runner.stop()
        return await self.engine.kill(body.reason if body else "kill switch")

    # -------------------------------------------------------------- strategies
    @app.post("/strategies/{name}/start", dependencies=_auth)
    async def start_strategy(self, name: str, body: StrategyBody) -> dict[str, Any]:
        """Run a strategy live on the broker's bar stream; its orders go through the engine."""
        return await self._start_strategy(name, body.params, body.symbols or self.args.symbols,
                                          body.backfill)

    @app.post("/strategies/{name}/stop", dependencies=_auth)
    async def stop_strategy(self, name: str) -> dict[str, Any]:
        """Stop a running strategy (its open orders and positions stay)."""
        runner = self.strategies.get(name)
        if runner is None:
            raise HTTPException(status_code=404, detail=f"no strategy {name!r} started; "
                                f"running: {sorted(self.strategies) or 'none'}")
        await runner.stop()
        return runner.status()

    async def _start_strategy(self, name: str, params: dict[str, Any], symbols: list[str],
                              backfill: int | None = None) -> dict[str, Any]:
        import asyncio

        from tradelab.data import parse_bar_size
        from tradelab.errors import StrategyError
        from tradelab.live import StrategyRunner, StrategyRunnerConfig

        current = self.strategies.get(name)
        if current is not None and current.running:
            raise HTTPException(status_code=409, detail=f"strategy {name!r} is running already; "
                                f"stop it first (POST /strategies/{name}/stop)")
        source = f"strategy:{name}"

        submit = self.engine.submitter(source)  # brackets go as one group

        seconds = parse_bar_size(self.args.bar_size).timedelta.total_seconds()
        try:
            runner = StrategyRunner(
                name, symbols=[s.upper() for s in symbols], broker=self.broker, submit=submit,
                cancel=self.engine.cancel, params=params, loop=asyncio.get_running_loop(),
                backfill=backfill, config=StrategyRunnerConfig(bar_seconds=seconds),
                on_denied=lambda record: self.engine.record_strategy_denial(record,
                                                                            source=source))
            await runner.start()
        except (StrategyError, ConfigError) as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        self.strategies[name] = runner
        return runner.status()

    async def check_health(self) -> None:
        """Serve's health check: the replica's loop answers (broker state is in /health)."""

    def __del__(self) -> None:
        """Replica shutdown: stop strategies and the stream before closing the audit log."""
        engine = getattr(self, "engine", None)
        if engine is None:
            return
        # Strategy threads are daemons and end with the replica process.
        engine.detach()
        self.audit.close()


def build_app(args: LiveTraderArgs | dict[str, Any]) -> Any:
    """The Serve application for ``args`` (``serve run cluster.live:build_app key=value``).

    Raises:
        ConfigError: An argument is invalid (the message names it).
    """
    if not isinstance(args, LiveTraderArgs):
        from pydantic import ValidationError

        try:
            args = LiveTraderArgs.model_validate(dict(args))
        except ValidationError as exc:
            raise ConfigError(f"invalid live trader arguments: {exc}") from exc
    if args.home is None:
        from tradelab.paths import data_root

        args = args.model_copy(update={"home": str(data_root())})
    return LiveTrader.options(name="LiveTrader").bind(args)


