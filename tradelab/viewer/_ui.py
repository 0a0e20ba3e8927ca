"""What every page shares: the page frame that turns any failure into a friendly message (never
a traceback), the viewer's context (which store, which data root, which services), selections
kept in the URL's query parameters, empty states and metric formatting."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from tradelab._tables import format_metric
from tradelab.errors import TradelabError
from tradelab.paths import data_root
from tradelab.viewer import _services, _tracking
from tradelab.viewer.launch import RAY_TOKEN_ENV

try:  # st.rerun / st.stop / st.switch_page raise these; they must pass through a page.
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException
except ImportError:  # pragma: no cover - a Streamlit that moved it

    class ScriptControlException(Exception):  # type: ignore[no-redef]
        """Placeholder: nothing is raised as this type."""


__all__ = [
    "ViewerContext",
    "choose",
    "context",
    "empty_state",
    "format_value",
    "guarded",
    "metric_title",
    "metric_unit",
    "metrics_table",
    "run_page",
]

_log = logging.getLogger("tradelab.viewer")
T = TypeVar("T")

PAGE_FILES = {
    "studies": "views/studies.py",
    "study": "views/study.py",
    "run": "views/run.py",
    "compare": "views/compare.py",
    "walkforward": "views/walkforward.py",
    "live": "views/live.py",
    "health": "views/health.py",
}
"""Page scripts relative to ``app.py`` (for ``st.page_link``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ViewerContext:
    """What the viewer reads, resolved from the environment at each rerun."""

    home: str
    uri: str
    live_url: str
    ray_url: str
    ray_token: str | None

    @property
    def shown_uri(self) -> str:
        return _tracking.masked_uri(self.uri)


def context() -> ViewerContext:
    """The data root, tracking URI and service URLs from the environment."""
    return ViewerContext(
        home=str(data_root()),
        uri=_tracking.resolved_uri(),
        live_url=_services.live_url(),
        ray_url=_services.ray_dashboard_url(),
        ray_token=os.environ.get(RAY_TOKEN_ENV) or None,
    )


def run_page(title: str, render: Callable[[ViewerContext], None], *, caption: str = "") -> None:
    """Show ``title`` and run ``render`` with the viewer's context, through :func:`guarded`."""
    st.title(title)
    if caption:
        st.caption(caption)
    guarded(title, lambda: render(context()))


def guarded(where: str, body: Callable[[], None]) -> None:
    """Run ``body``; a failure becomes a message on the page, never a traceback.

    A :class:`TradelabError` is shown as it is (its message says what to do); anything else
    is logged with its traceback to the viewer's console and shown as one line. Streamlit's
    own control flow (``st.rerun``, ``st.stop``, page switches) passes through.
    """
    try:
        body()
    except ScriptControlException:
        raise
    except TradelabError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:
        _log.exception("the %s page failed", where)
        st.error(
            f"This part of the {where} page could not be shown: {type(exc).__name__}: "
            f"{str(exc)[:400]}. The details are in the viewer's console.",
            icon=":material/error:",
        )


def empty_state(message: str, hint: str = "") -> None:
    """A friendly note for something that does not exist yet (with how to create it)."""
    st.info(message + (f"\n\n{hint}" if hint else ""), icon=":material/info:")


def choose(
    label: str,
    options: Sequence[T],
    *,
    key: str,
    format_func: Callable[[T], str] = str,
    default: T | None = None,
) -> T | None:
    """A selectbox whose choice lives in the URL (``?<key>=<value>``), so links and reloads
    keep it. Returns ``None`` when there is nothing to choose."""
    if not options:
        return None
    wanted = st.query_params.get(key)
    values = [str(option) for option in options]
    if wanted in values:
        index = values.index(wanted)
    elif default is not None and str(default) in values:
        index = values.index(str(default))
    else:
        index = 0
    chosen = st.selectbox(label, options, index=index, format_func=format_func, key=f"pick_{key}")
    if chosen is not None and st.query_params.get(key) != str(chosen):
        st.query_params[key] = str(chosen)
    return chosen


def metric_unit(name: str) -> str:
    from tradelab.metrics import METRICS

    info = METRICS.get(name)
    return info.unit if info else "ratio"


def metric_title(name: str) -> str:
    from tradelab.metrics import METRICS

    info = METRICS.get(name)
    return info.title if info else name


def format_value(value: Any, unit: str = "ratio") -> str:
    """A number in its unit (percentages, money, counts); ``n/a`` for missing or NaN."""
    if value is None or isinstance(value, str):
        return "n/a" if value is None else value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "n/a"
    return format_metric(number, unit)


def metrics_table(
    columns: Mapping[str, Mapping[str, float]], *, notes: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Metrics as rows (registry order, then the rest), one formatted column per mapping in
    ``columns`` (e.g. ``{"trial mean": {...}, "AAA": {...}}``) and an optional ``note``."""
    from tradelab.metrics import METRICS

    names = [n for n in METRICS if any(n in values for values in columns.values())]
    names += sorted({n for values in columns.values() for n in values} - set(names))
    rows = []
    for name in names:
        row = {"metric": metric_title(name), "name": name}
        for label, values in columns.items():
            row[label] = format_value(values.get(name), metric_unit(name))
        if notes is not None:
            row["note"] = notes.get(name, "")
        rows.append(row)
    return pd.DataFrame(rows)


def duration_text(seconds: Any) -> str:
    """``1h 02m``, ``3m 05s`` or ``12.3 s``."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(value):
        return "n/a"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def sidebar(ctx: ViewerContext) -> None:
    """Where the data comes from, and a button that drops every cached answer."""
    with st.sidebar:
        st.caption(
            f"**Data root** `{ctx.home}`  \n**MLflow** `{ctx.shown_uri}`  \n"
            f"**Live API** `{ctx.live_url}`  \n**Ray dashboard** `{ctx.ray_url}`"
        )
        st.caption("Read-only: the viewer never changes a study, the data or a trader.")
        if st.button("Reload data", icon=":material/refresh:", help="Forget cached answers"):
            st.cache_data.clear()
