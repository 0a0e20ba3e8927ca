"""``tradelab live``: start the Serve trader, and talk to it over its HTTP API.

``start`` runs the LiveTrader deployment (on a local Ray pinned to 127.0.0.1, or a cluster given
by ``--address``); every other command is a client of its API on 127.0.0.1 (``--port``), with the
bearer token from ``TRADELAB_API_TOKEN`` for the commands that change something.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import click

from tradelab._tables import format_number, render_table
from tradelab.cli._options import MultiValueOption

__all__ = ["live"]

TOKEN_ENV = "TRADELAB_API_TOKEN"
_TOKEN_HELP = (f"set {TOKEN_ENV} first, e.g.\n  export {TOKEN_ENV}=$(python -c 'import secrets; "
               f"print(secrets.token_urlsafe(32))')")


def _api(ctx: click.Context, method: str, path: str, body: Any = None) -> Any:
    """Call the trader's API; HTTP errors become one clear line and exit code 1."""
    host, port = ctx.obj["host"], ctx.obj["port"]
    url = f"http://{host}:{port}{path}"
    headers = {"Content-Type": "application/json"}
    if ctx.obj.get("operator"):
        headers["X-Operator"] = ctx.obj["operator"]
    if method != "GET":
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise click.ClickException(f"{method} {path} needs the API token: {_TOKEN_HELP}")
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=ctx.obj["timeout"]) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", "")
        except (ValueError, AttributeError):
            detail = exc.reason
        raise click.ClickException(f"{method} {path} → HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise click.ClickException(
            f"no live trader answers at http://{host}:{port} ({getattr(exc, 'reason', exc)}); "
            f"start one with `tradelab live start`, or pass --port") from exc


@click.group()
@click.option("--host", default="127.0.0.1", show_default=True, help="The trader's API host.")
@click.option("--port", type=int, default=8000, show_default=True, help="The trader's API port.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for an answer.")
@click.pass_context
def live(ctx: click.Context, host: str, port: int, timeout: float) -> None:
    """Paper and live trading: a Ray Serve trader behind a risk manager, with an audit log."""
    ctx.ensure_object(dict)
    ctx.obj.update(host=host, port=port, timeout=timeout)


@live.command()
@click.option("--broker", type=click.Choice(["paper", "ib"]), default="paper", show_default=True)
@click.option("--name", default="live", show_default=True, help="Trader name (audit log dir).")
@click.option("--symbols", cls=MultiValueOption, default=("AAA", "BBB"), show_default=True,
              help="Symbols to stream and trade, e.g. --symbols AAA BBB.")
@click.option("--data", type=click.Choice(["synthetic", "store"]), default="synthetic",
              show_default=True, help="Paper stream: seeded synthetic bars or stored bars.")
@click.option("--start", "start_date", default=None, help="First bar of the paper stream.")
@click.option("--end", "end_date", default=None, help="Last bar of the paper stream.")
@click.option("--bar-size", default="1d", show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Paper stream: bars per second (0 = as fast as the strategy keeps up).")
@click.option("--cash", type=float, default=100_000.0, show_default=True)
@click.option("--strategy", default=None, help="Start this strategy with the trader.")
@click.option("--param", "params", multiple=True, help="Strategy parameter NAME=VALUE.")
@click.option("--risk", "risk_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="YAML/JSON of risk limits (RiskConfig fields).")
@click.option("--ib-port", type=int, default=4002, show_default=True,
              help="IB Gateway port (live 4001, paper 4002; TWS 7496/7497).")
@click.option("--ib-client-id", type=int, default=1, show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: local Ray).")
@click.option("--detach", is_flag=True, help="Return once serving (needs a running cluster).")
@click.option("--for", "duration", type=float, default=None,
              help="Serve this many seconds, then stop (default: until Ctrl-C).")
@click.option("--status-every", type=float, default=5.0, show_default=True,
              help="Seconds between status lines.")
@click.pass_context
def start(ctx: click.Context, broker: str, name: str, symbols: tuple[str, ...], data: str,
          start_date: str | None, end_date: str | None, bar_size: str, speed: float,
          cash: float, strategy: str | None, params: tuple[str, ...], risk_file: str | None,
          ib_port: int, ib_client_id: int, address: str | None, detach: bool,
          duration: float | None, status_every: float) -> None:
    """Start the trader: Serve on 127.0.0.1:PORT, the broker, the risk manager, the audit log."""
    from ray import serve

    from cluster.live import build_app
    from cluster.runtime import ensure_ray
    from tradelab.strategy import parse_param_assignments

    host, port = ctx.obj["host"], ctx.obj["port"]
    if not os.environ.get(TOKEN_ENV):
        click.secho(f"warning: {TOKEN_ENV} is not set — the trader will refuse every order, "
                    f"halt and kill request until it is. To enable them, {_TOKEN_HELP}",
                    fg="yellow", err=True)
    risk: dict[str, Any] = {}
    if risk_file:
        import yaml

        with open(risk_file, encoding="utf-8") as handle:
            risk = yaml.safe_load(handle) or {}
    args = {
        "name": name, "broker": broker, "symbols": list(symbols), "data": data,
        "start": start_date, "end": end_date, "bar_size": bar_size, "speed": speed,
        "cash": cash, "strategy": strategy,
        "strategy_params": parse_param_assignments(list(params)), "risk": risk,
        "ib_port": ib_port, "ib_client_id": ib_client_id,
    }
    if detach and not address:
        raise click.UsageError("--detach needs --address of a running Ray cluster; a local Ray "
                               "would stop with this command")
    application = build_app(args)
    ensure_ray(address)
    serve.start(http_options={"host": host, "port": port})
    click.echo(f"starting live trader {name!r} ({broker}) on http://{host}:{port} …")
    serve.run(application, name=name, route_prefix="/", blocking=False)
    health = _api(ctx, "GET", "/health")
    click.echo(render_table(
        ("endpoint", "what"),
        [("GET  /health /account /positions /orders /fills /risk", "read (no token)"),
         ("POST /orders, DELETE /orders/{id}", "trade (bearer token)"),
         ("POST /risk/halt /risk/resume /kill", "controls (bearer token)"),
         ("POST /strategies/{name}/start|stop", "live strategies (bearer token)"),
         (f"http://{host}:{port}/docs", "OpenAPI docs")],
        title=f"trader {name}: broker {health['broker']}, state {health['state']}, "
              f"restored {health['restored']}"))
    if detach:
        return
    deadline = None if duration is None else time.monotonic() + duration
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops it as cleanly as Ctrl-C
    try:
        while deadline is None or time.monotonic() < deadline:
            _status_line(ctx)
            time.sleep(status_every if deadline is None else
                       max(0.0, min(status_every, deadline - time.monotonic())))
    except KeyboardInterrupt:
        click.echo("stopping …")
    finally:
        serve.delete(name)
        click.echo(f"live trader {name!r} stopped; the audit log keeps every order and fill")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _status_line(ctx: click.Context) -> None:
    try:
        account = _api(ctx, "GET", "/account")
        health = _api(ctx, "GET", "/health")
    except click.ClickException as exc:
        click.echo(f"{time.strftime('%H:%M:%S')}  {exc.message}")
        return
    positions = account["positions"]
    click.echo(
        f"{time.strftime('%H:%M:%S')}  bar {account['timestamp'][:19]}  equity "
        f"{account['equity']:,.2f}  cash {account['cash']:,.2f}  positions {len(positions)}  "
        f"state {health['state']}  broker {'up' if health['connected'] else 'DOWN'}")


@live.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Health, account and risk state."""
    health = _api(ctx, "GET", "/health")
    account = _api(ctx, "GET", "/account")
    risk = _api(ctx, "GET", "/risk")
    connection = "connected" if health["connected"] else "DISCONNECTED"
    why = f" — {risk['halt_reason']}" if risk["halt_reason"] else ""
    rows = [
        ("trader", health["trader"]), ("broker", f"{health['broker']} ({connection})"),
        ("trading state", risk["state"] + why),
        ("equity", f"{account['equity']:,.2f}"), ("cash", f"{account['cash']:,.2f}"),
        ("realized P&L", f"{account['realized_pnl']:,.2f}"),
        ("gross exposure", f"{account['gross_exposure']:,.2f}"),
        ("strategies", ", ".join(f"{n} ({'running' if r else 'stopped'})"
                                 for n, r in health["strategies"].items()) or "none"),
    ]
    click.echo(render_table(("", ""), rows, align="ll"))


@live.command()
@click.option("--all", "show_all", is_flag=True, help="Include finished orders.")
@click.option("--filled-today", is_flag=True, help="Only orders filled in today's session.")
@click.option("--cancel-all", is_flag=True, help="Cancel every open order (see --symbol).")
@click.option("--symbol", default=None, help="With --cancel-all: only this symbol's orders.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def orders(ctx: click.Context, show_all: bool, filled_today: bool, cancel_all: bool,
           symbol: str | None, limit: int) -> None:
    """Open orders (or all with --all); --cancel-all cancels them."""
    if cancel_all:
        body = {"symbol": symbol.upper()} if symbol else None
        cancelled = _api(ctx, "POST", "/orders/cancel-all", body)
        click.echo(f"cancelled {len(cancelled)} orders"
                   + (f": {', '.join(o['client_order_id'] for o in cancelled)}"
                      if cancelled else ""))
        return
    query = f"open_only={'false' if show_all or filled_today else 'true'}&limit={limit}"
    if filled_today:
        query += "&status=Filled&today=true"
    rows = _api(ctx, "GET", f"/orders?{query}")
    click.echo(render_table(
        ("id", "symbol", "side", "qty", "type", "limit", "stop", "tif", "status", "filled",
         "avg price"),
        [(o["client_order_id"], o["symbol"], o["side"], o["quantity"], o["order_type"],
          o["limit_price"], o["stop_price"], o["time_in_force"], o["status"],
          o["filled_quantity"], o["average_fill_price"]) for o in rows],
        title=f"{len(rows)} {_orders_title(show_all, filled_today)}"))


def _orders_title(show_all: bool, filled_today: bool) -> str:
    if filled_today:
        return "orders filled today"
    return "orders" if show_all else "open orders"


@live.command()
@click.pass_context
def positions(ctx: click.Context) -> None:
    """Positions with average cost, mark and unrealized P&L."""
    rows = _api(ctx, "GET", "/positions")
    click.echo(render_table(
        ("symbol", "qty", "avg cost", "price", "value", "unrealized P&L"),
        [(s, p["quantity"], p["average_cost"], p["market_price"], p["market_value"],
          p["unrealized_pnl"]) for s, p in sorted(rows.items())],
        title=f"{len(rows)} positions"))


def _reason_command(name: str, path: str, summary: str) -> click.Command:
    @click.option("--reason", default="operator request", show_default=True)
    @click.pass_context
    def command(ctx: click.Context, reason: str) -> None:
        result = _api(ctx, "POST", path, {"reason": reason})
        state = result.get("state", "?")
        click.echo(f"trading state: {state}" + (f" — {result['halt_reason']}"
                                                if result.get("halt_reason") else ""))

    command.__doc__ = summary
    return click.command(name)(command)


live.add_command(_reason_command("halt", "/risk/halt", "Deny every new order until resume."))
live.add_command(_reason_command("resume", "/risk/resume", "Back to ACTIVE trading."))


@live.command()
@click.option("--reason", default="kill switch", show_default=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def kill(ctx: click.Context, reason: str, yes: bool) -> None:
    """Emergency stop: stop strategies, cancel every order, flatten every position, HALT."""
    if not yes:
        click.confirm("Cancel every order, flatten every position and halt trading?", abort=True)
    result = _api(ctx, "POST", "/kill", {"reason": reason})
    click.echo(render_table(
        ("", ""),
        [("state", result["state"]), ("cancelled orders", len(result["cancelled"])),
         ("flattening orders", len(result["flatten_orders"])),
         ("still open", ", ".join(result["open_orders"]) or "none"),
         ("positions left", ", ".join(f"{s} {format_number(q)}"
                                      for s, q in result["positions"].items()) or "none (flat)")],
        align="ll", title="kill switch"))


@live.command()
@click.option("--strategy", default=None, help="Stop only this strategy (the trader goes on).")
@click.option("--name", default="live", show_default=True, help="Trader to shut down.")
@click.option("--address", default="auto", show_default=True, help="Ray cluster address.")
@click.pass_context
def stop(ctx: click.Context, strategy: str | None, name: str, address: str) -> None:
    """Stop a strategy, or shut the trader down (orders and positions stay at the broker)."""
    if strategy:
        result = _api(ctx, "POST", f"/strategies/{strategy}/stop")
        click.echo(f"strategy {strategy}: {'running' if result['running'] else 'stopped'}")
        return
    for running in _api(ctx, "GET", "/strategies"):
        _api(ctx, "POST", f"/strategies/{running}/stop")
    from ray import serve

    from cluster.runtime import ensure_ray

    ensure_ray(address)
    serve.delete(name)
    click.echo(f"live trader {name!r} shut down; open orders and positions stay at the broker")


@live.command()
@click.argument("client_order_id")
@click.option("--qty", "quantity", type=float, default=None, help="New total quantity.")
@click.option("--limit-price", type=float, default=None)
@click.option("--stop-price", type=float, default=None)
@click.pass_context
def modify(ctx: click.Context, client_order_id: str, quantity: float | None,
           limit_price: float | None, stop_price: float | None) -> None:
    """Change an open order's quantity or prices (risk-checked)."""
    body = {k: v for k, v in (("quantity", quantity), ("limit_price", limit_price),
                              ("stop_price", stop_price)) if v is not None}
    if not body:
        raise click.UsageError("give --qty, --limit-price or --stop-price")
    result = _api(ctx, "PUT", f"/orders/{client_order_id}", body)
    verdict = "modified" if result["accepted"] else "refused"
    click.echo(f"{client_order_id}: {verdict} — {result['risk']['reason']}")


@live.command()
@click.argument("symbol")
@click.option("--qty", "quantity", type=float, default=None, help="Shares to close (default all).")
@click.pass_context
def close(ctx: click.Context, symbol: str, quantity: float | None) -> None:
    """Close a position (or --qty shares of it) with a market order."""
    result = _api(ctx, "POST", f"/positions/{symbol.upper()}/close",
                  {"quantity": quantity} if quantity else None)
    request = result["request"]
    state = "sent" if result["accepted"] else f"refused — {result['risk']['reason']}"
    click.echo(f"{request['side']} {request['quantity']:g} {request['symbol']}: {state}")


@live.command(name="close-all")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def close_all(ctx: click.Context, yes: bool) -> None:
    """Close every position with market orders (trading stays ACTIVE; see also kill)."""
    if not yes:
        click.confirm("Close every position?", abort=True)
    results = _api(ctx, "POST", "/positions/close-all")
    click.echo(render_table(
        ("symbol", "side", "qty", "sent", "reason"),
        [(r["request"]["symbol"], r["request"]["side"], r["request"]["quantity"],
          r["accepted"], r["risk"]["reason"][:60]) for r in results],
        title=f"{len(results)} closing orders"))


@live.command()
@click.option("--set", "changes", multiple=True, metavar="KEY=VALUE",
              help="Change a limit, e.g. --set max_position_shares=500 (none → show).")
@click.option("--reason", default=None, help="Why (required with --set; audited).")
@click.option("--operator", default=None, help="Who (default: $USER); audited.")
@click.pass_context
def limits(ctx: click.Context, changes: tuple[str, ...], reason: str | None,
           operator: str | None) -> None:
    """Show the risk limits, or change them at runtime (audited)."""
    from tradelab.strategy import parse_param_assignments

    if changes:
        if not reason:
            raise click.UsageError("--set needs --reason (it goes to the audit log)")
        values = {k: (None if str(v).lower() == "none" else v)
                  for k, v in parse_param_assignments(list(changes)).items()}
        ctx.obj["operator"] = operator or os.environ.get("USER", "cli")
        current = _api(ctx, "PUT", "/risk/limits", {"limits": values, "reason": reason})
    else:
        current = _api(ctx, "GET", "/risk/limits")
    click.echo(render_table(("limit", "value"), [(k, "none" if v is None else v)
                                                 for k, v in current.items()],
                            align="lr", title="risk limits"))


@live.command()
@click.option("--shocks", default=None, help="Comma-separated price shocks, e.g. -0.05,-0.3.")
@click.pass_context
def stress(ctx: click.Context, shocks: str | None) -> None:
    """P&L of the current book under price and volatility shocks."""
    result = _api(ctx, "GET", "/risk/stress" + (f"?shocks={shocks}" if shocks else ""))
    scenarios = list(result["market_wide"])
    rows = [(symbol, *[values[s] for s in scenarios])
            for symbol, values in result["per_symbol"].items()]
    rows.append(("market-wide", *[result["market_wide"][s] for s in scenarios]))
    click.echo(render_table(("symbol", *scenarios), rows,
                            title=f"stress P&L (equity {result['equity']:,.2f})"))
    for name, value in result["volatility"].items():
        if name != "daily_sigma":
            click.echo(f"{name}: {value:,.2f}")


@live.command()
@click.option("--since", type=int, default=0, help="Only alerts after this id.")
@click.pass_context
def alerts(ctx: click.Context, since: int) -> None:
    """The alert feed: limit usage >= 80%, HALT, disconnects, rejected orders."""
    rows = _api(ctx, "GET", f"/alerts?since={since}")
    click.echo(render_table(
        ("id", "time", "level", "kind", "message"),
        [(a["id"], a["recorded_at"][:19], a["level"], a["kind"], a["message"][:90])
         for a in rows], title=f"{len(rows)} alerts"))


@live.command()
@click.pass_context
def hours(ctx: click.Context) -> None:
    """Today's session, whether the market is open, the next open."""
    result = _api(ctx, "GET", "/market/hours")
    session = result["session"]
    click.echo(f"{result['exchange']} at {result['now'][:16]} UTC: "
               f"{'OPEN' if result['is_open'] else 'closed'}"
               + (f"; session {session['open'][11:16]}–{session['close'][11:16]} UTC"
                  + (" (early close)" if session["early_close"] else "") if session else
                  "; no session today")
               + f"; next open {result['next_open'][:16]} UTC"
               + ("" if result["enforced"] else " (hours not enforced on this stream)"))
