"""Live: the running trader's positions, orders, fills, risk state and P&L, read from its Serve
API (``$TRADELAB_LIVE_URL``, GETs only) and refreshed every few seconds. There are no order
buttons: the kill switch belongs to the CLI (``tradelab live kill``) and the API."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tradelab.viewer import _charts, _services, _ui

REFRESH_SECONDS = 5
_SAMPLES = 720  # equity points kept for the sparkline (an hour at 5 s)


def render(ctx: _ui.ViewerContext) -> None:
    top = st.columns([3, 1])
    top[0].caption(
        f"Trader API `{ctx.live_url}` (set `TRADELAB_LIVE_URL` to watch another). Read-only: "
        "halt, resume and kill with `tradelab live halt|resume|kill`."
    )
    auto = top[1].toggle(f"Refresh every {REFRESH_SECONDS} s", value=True, key="live_auto")

    @st.fragment(run_every=REFRESH_SECONDS if auto else None)
    def panel() -> None:
        _ui.guarded("Live", lambda: _panel(ctx.live_url))

    panel()


def _panel(url: str) -> None:
    snapshot = _services.live_snapshot(url, timeout=2.0)
    if not snapshot.reachable:
        _ui.empty_state(
            f"No live trader running at `{url}`.",
            "Start one with `tradelab live start` (paper broker on synthetic bars by default), "
            "or point the viewer at yours with `TRADELAB_LIVE_URL`.",
        )
        st.caption(f"Last try {snapshot.taken_at:%H:%M:%S} UTC: {snapshot.error}")
        return
    health = snapshot.get("health", {})
    account = snapshot.get("account") or {}
    positions = snapshot.get("positions") or {}
    risk = snapshot.get("risk") or {}
    for endpoint, problem in snapshot.problems.items():
        st.warning(f"/{endpoint} did not answer: {problem}")

    state = str(health.get("state", "?"))
    message = f"Trader **{health.get('trader', '?')}** · broker {health.get('broker', '?')} " + (
        "connected" if health.get("connected") else "**disconnected**"
    )
    reason = risk.get("halt_reason") or ""
    if state == "ACTIVE":
        st.success(f"{message} · trading state **ACTIVE**", icon=":material/check_circle:")
    elif state == "REDUCING":
        st.warning(f"{message} · trading state **REDUCING** {reason}", icon=":material/warning:")
    else:
        st.error(f"{message} · trading state **{state}** {reason}", icon=":material/block:")

    unrealized = sum(float(p.get("unrealized_pnl") or 0.0) for p in positions.values())
    cols = st.columns(3)
    cols[0].metric("Equity", _money(account.get("equity")))
    cols[1].metric("Cash", _money(account.get("cash")))
    cols[2].metric("Gross exposure", _money(account.get("gross_exposure")))
    cols = st.columns(3)
    cols[0].metric("Realized P&L", _money(account.get("realized_pnl")))
    cols[1].metric("Unrealized P&L", _money(unrealized))
    cols[2].metric("Commissions", _money(account.get("commissions")))
    st.caption(
        f"Read at {snapshot.taken_at:%H:%M:%S} UTC; account as of "
        f"{account.get('timestamp', '?')} (the broker's clock)."
    )

    tabs = st.tabs(["P&L", "Positions", "Orders", "Fills", "Risk", "Alerts", "Strategies"])
    with tabs[0]:
        _pnl(snapshot, url, account.get("equity"))
    with tabs[1]:
        if positions:
            st.dataframe(pd.DataFrame(list(positions.values())), hide_index=True, width="stretch")
        else:
            _ui.empty_state("No open positions.")
    with tabs[2]:
        orders = pd.DataFrame(snapshot.get("orders") or [])
        if orders.empty:
            _ui.empty_state("No orders yet.")
        else:
            open_only = st.toggle("Open orders only", value=False, key="live_open_only")
            if open_only and "remaining" in orders:
                orders = orders[orders["remaining"] > 0]
            st.dataframe(orders.iloc[::-1], hide_index=True, width="stretch")
            st.caption(f"{len(orders)} orders, newest first.")
    with tabs[3]:
        fills = pd.DataFrame(snapshot.get("fills") or [])
        if fills.empty:
            _ui.empty_state("No fills yet.")
        else:
            st.dataframe(fills.iloc[::-1], hide_index=True, width="stretch")
            st.caption(f"{len(fills)} fills, newest first.")
    with tabs[4]:
        _risk(risk, snapshot.get("risk/drawdown") or {})
    with tabs[5]:
        _alerts(snapshot.get("alerts"))
    with tabs[6]:
        strategies = snapshot.get("strategies") or {}
        if not strategies:
            _ui.empty_state("No strategy running in this trader.")
        else:
            rows = [
                {key: value for key, value in status.items() if not isinstance(value, dict)}
                | {"params": ", ".join(f"{k}={v}" for k, v in (status.get("params") or {}).items())}
                for status in strategies.values()
            ]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _pnl(snapshot: _services.LiveSnapshot, url: str, equity: object) -> None:
    """Daily equity and P&L from ``GET /pnl``; without it, the equity read at each refresh."""
    days = pd.DataFrame(snapshot.get("pnl") or [])
    if not days.empty and {"day", "equity", "day_pnl"} <= set(days.columns):
        st.plotly_chart(_charts.live_pnl(days))
        st.caption(f"{len(days)} trading day(s) from the trader's audit log.")
        return
    _equity_sparkline(url, snapshot.taken_at, equity)


def _alerts(alerts: object) -> None:
    frame = pd.DataFrame(alerts or [])
    if frame.empty:
        _ui.empty_state("No alerts.")
        return
    shown = [c for c in ("recorded_at", "level", "kind", "message") if c in frame]
    st.dataframe(frame[shown].iloc[::-1], hide_index=True, width="stretch")
    st.caption(f"{len(frame)} alert(s), newest first (limits at 80% of use, HALT, disconnects …).")


def _risk(risk: dict, drawdown: dict) -> None:
    if not risk:
        _ui.empty_state("The trader did not report its risk state.")
        return
    cols = st.columns(4)
    cols[0].metric("State", risk.get("state", "?"))
    cols[1].metric("Peak equity", _money(risk.get("peak_equity")))
    cols[2].metric("Start-of-day equity", _money(risk.get("start_of_day_equity")))
    cols[3].metric("Halt rule", risk.get("halt_rule") or "none")
    if drawdown:
        cols = st.columns(2)
        cols[0].metric(
            "Drawdown from peak",
            _ui.format_value(drawdown.get("drawdown"), "fraction"),
            help=f"HALT at {_ui.format_value(drawdown.get('max_drawdown'), 'fraction')}",
        )
        day_loss = _services.finite_or_none(drawdown.get("day_loss"))
        cols[1].metric(
            "Today",
            _ui.format_value(None if day_loss is None else -day_loss, "fraction"),
            help="equity against the day's open; HALT when the day's loss reaches "
            f"{_ui.format_value(drawdown.get('daily_loss_limit'), 'fraction')}",
        )
    limits = risk.get("limits") or {}
    st.dataframe(
        pd.DataFrame(
            [{"limit": k, "value": "none" if v is None else str(v)} for k, v in limits.items()]
        ),
        hide_index=True,
        width="stretch",
    )
    decisions = pd.DataFrame(risk.get("recent_decisions") or [])
    if not decisions.empty:
        st.caption("Recent risk decisions, newest first")
        shown = [
            c
            for c in (
                "recorded_at",
                "source",
                "symbol",
                "side",
                "quantity",
                "approved",
                "rule",
                "reason",
            )
            if c in decisions
        ]
        st.dataframe(decisions[shown].iloc[::-1], hide_index=True, width="stretch")


def _equity_sparkline(url: str, taken_at: pd.Timestamp, equity: object) -> None:
    """Equity as read at each refresh of this browser session (a trader without ``/pnl``)."""
    value = _services.finite_or_none(equity)
    key = f"live_equity:{url}"
    samples = st.session_state.setdefault(key, [])
    if value is not None:
        samples.append((taken_at, value))
        del samples[:-_SAMPLES]
    if len(samples) >= 2:
        frame = pd.DataFrame(samples, columns=["time", "equity"]).set_index("time")
        st.line_chart(frame, height=140)


def _money(value: object) -> str:
    number = _services.finite_or_none(value)
    return "n/a" if number is None else f"{number:,.2f}"


_ui.run_page("Live", render, caption="The live trader, as its API reports it.")
