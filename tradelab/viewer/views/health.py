"""Health: whether MLflow, the live trader and the Ray cluster answer, the cluster's nodes and
resources, and the data catalog with each dataset's quality score."""

from __future__ import annotations

import streamlit as st

from tradelab.viewer import _charts, _data, _services, _ui


def render(ctx: _ui.ViewerContext) -> None:
    store = _data.mlflow_status(ctx.uri)
    live = _services.live_snapshot(ctx.live_url, timeout=1.5)
    ray = _data.ray_status(ctx.ray_url, ctx.ray_token)

    cols = st.columns(3)
    with cols[0]:
        st.subheader("MLflow")
        if store.reachable:
            st.success(f"reachable · {store.studies} studies", icon=":material/check_circle:")
            latest = "none" if store.latest is None else f"{store.latest:%Y-%m-%d %H:%M} UTC"
            st.caption(f"`{store.uri}` · {store.experiments} experiment(s) · latest study {latest}")
        elif not store.exists:
            st.info(store.error, icon=":material/info:")
            st.caption(f"`{store.uri}`")
        else:
            st.warning(f"not available: {store.error}", icon=":material/warning:")
            st.caption(f"`{store.uri}`")
    with cols[1]:
        st.subheader("Live API")
        if live.reachable:
            health = live.get("health", {})
            st.success(
                f"reachable · trader {health.get('trader', '?')} · {health.get('state', '?')}",
                icon=":material/check_circle:",
            )
            st.caption(
                f"`{live.url}` · broker {health.get('broker', '?')} "
                f"{'connected' if health.get('connected') else 'disconnected'}"
            )
        else:
            st.info(
                "no live trader running (start one with `tradelab live start`)",
                icon=":material/info:",
            )
            st.caption(f"`{live.url}`: {live.error}")
    with cols[2]:
        st.subheader("Ray")
        if ray.reachable:
            alive = int((ray.nodes["state"] == "ALIVE").sum()) if not ray.nodes.empty else 0
            st.success(
                f"reachable · Ray {ray.version} · {alive} node(s) alive",
                icon=":material/check_circle:",
            )
            st.caption(f"dashboard `{ray.url}`")
        else:
            st.info("no Ray cluster answering", icon=":material/info:")
            st.caption(f"`{ray.url}`: {ray.error}")

    st.subheader("Ray cluster")
    if not ray.reachable:
        _ui.empty_state(
            f"The Ray dashboard at `{ray.url}` did not answer.",
            "A study or `tradelab live start` starts a local Ray while it runs; for a cluster, "
            "set `TRADELAB_RAY_DASHBOARD_URL` (and `RAY_AUTH_TOKEN` when it uses tokens).",
        )
    elif ray.nodes.empty:
        _ui.empty_state("The cluster reports no nodes yet.")
    else:
        st.dataframe(
            ray.nodes,
            hide_index=True,
            width="stretch",
            column_config={
                "memory_gib": st.column_config.NumberColumn("memory GiB", format="%.1f"),
                "object_store_gib": st.column_config.NumberColumn(
                    "object store GiB", format="%.1f"
                ),
            },
        )
        if not ray.resources.empty:
            st.plotly_chart(_charts.resource_bars(ray.resources))

    st.subheader("Data catalog")
    catalog = _data.catalog(ctx.home)
    if catalog.empty:
        _ui.empty_state(
            f"No market data in `{_services.disk_note(ctx.home)}`.",
            "Add some with `tradelab data generate --symbols AAA BBB --start 2015-01-01 "
            "--end 2024-12-31` (synthetic) or `tradelab data import FILE --symbol SYM`.",
        )
        return
    table = catalog.assign(
        first=catalog["first"].map(lambda t: f"{t:%Y-%m-%d}"),
        last=catalog["last"].map(lambda t: f"{t:%Y-%m-%d}"),
        updated=catalog["updated"].map(lambda t: f"{t:%Y-%m-%d %H:%M}"),
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "quality_score": st.column_config.ProgressColumn(
                "quality", min_value=0.0, max_value=1.0, format="%.3f"
            ),
            "rows": st.column_config.NumberColumn(format="%d"),
        },
    )
    scores = catalog["quality_score"].dropna()
    notes = [f"{len(catalog)} dataset(s)"]
    if len(scores):
        notes.append(f"lowest quality {scores.min():.3f}")
    if (catalog["source"] == "synthetic").any():
        notes.append("source 'synthetic' = generated demo data, not market history")
    st.caption(" · ".join(notes))


_ui.run_page(
    "Health",
    render,
    caption="Is everything the platform depends on answering?",
)
