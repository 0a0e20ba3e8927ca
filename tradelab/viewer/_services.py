"""The services the Live and Health pages look at: the live trader's API, the Ray dashboard, the
MLflow store and the data catalog. Every probe answers with a value (reachable or not, and why);
nothing here raises for a service that is down.

Plain functions without streamlit (``_data`` caches them). HTTP uses the standard library with a
short timeout: GETs only, the viewer never changes anything.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.viewer.launch import (
    DEFAULT_LIVE_URL,
    DEFAULT_RAY_DASHBOARD_URL,
    LIVE_URL_ENV,
    RAY_DASHBOARD_ENV,
    RAY_TOKEN_ENV,
)

__all__ = [
    "CATALOG_COLUMNS",
    "LIVE_ENDPOINTS",
    "LIVE_EXTRAS",
    "LiveSnapshot",
    "RayStatus",
    "ServiceError",
    "StoreStatus",
    "catalog_frame",
    "disk_note",
    "fetch_json",
    "finite_or_none",
    "live_snapshot",
    "live_url",
    "mlflow_status",
    "ray_dashboard_url",
    "ray_status",
]

LIVE_ENDPOINTS: tuple[str, ...] = (
    "health",
    "account",
    "positions",
    "orders",
    "fills",
    "risk",
    "strategies",
)
"""The live trader's read endpoints (``GET /<name>``; no token needed)."""
LIVE_EXTRAS: tuple[str, ...] = ("pnl", "alerts", "risk/drawdown")
"""Read endpoints of newer traders (daily P&L, the alert feed, drawdown against its limits):
used when they answer, silently left out when they do not."""
_GIB = 1024**3


class ServiceError(Exception):
    """A service did not answer usefully (the message says what happened, for the page)."""


def live_url() -> str:
    """The live trader's API base URL: ``$TRADELAB_LIVE_URL`` or ``http://127.0.0.1:8000``."""
    return (os.environ.get(LIVE_URL_ENV) or DEFAULT_LIVE_URL).rstrip("/")


def ray_dashboard_url() -> str:
    """The Ray dashboard: ``$TRADELAB_RAY_DASHBOARD_URL`` or ``http://127.0.0.1:8265``."""
    return (os.environ.get(RAY_DASHBOARD_ENV) or DEFAULT_RAY_DASHBOARD_URL).rstrip("/")


def fetch_json(url: str, *, timeout: float = 2.0, token: str | None = None) -> Any:
    """``GET url`` and decode its JSON body.

    Raises:
        ServiceError: nothing answers, an HTTP error status, or a body that is not JSON.
    """
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace").strip()
        raise ServiceError(f"HTTP {exc.code} from {url}: {detail or exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceError(f"nothing answered at {url} ({reason})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise ServiceError(f"{url} did not answer with JSON") from None


# ---- live trader ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveSnapshot:
    """What the live trader's read endpoints said at one moment.

    ``reachable`` is False (with ``error``) when ``/health`` did not answer; an endpoint that
    failed after that is missing from ``data`` and named in ``problems``.
    """

    url: str
    reachable: bool
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    taken_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    def get(self, endpoint: str, default: Any = None) -> Any:
        return self.data.get(endpoint, default)


def live_snapshot(url: str, *, timeout: float = 2.0) -> LiveSnapshot:
    """Read every endpoint of :data:`LIVE_ENDPOINTS` from the trader at ``url``."""
    base = url.rstrip("/")
    try:
        health = fetch_json(f"{base}/health", timeout=timeout)
    except ServiceError as exc:
        return LiveSnapshot(url=base, reachable=False, error=str(exc))
    if not isinstance(health, dict) or "state" not in health:
        return LiveSnapshot(
            url=base,
            reachable=False,
            error=f"{base}/health answered, but not like a tradelab live trader: {health!r:.200}",
        )
    data: dict[str, Any] = {"health": health}
    problems: dict[str, str] = {}
    for endpoint in (*LIVE_ENDPOINTS[1:], *LIVE_EXTRAS):
        try:
            data[endpoint] = fetch_json(f"{base}/{endpoint}", timeout=timeout)
        except ServiceError as exc:
            if endpoint in LIVE_ENDPOINTS:
                problems[endpoint] = str(exc)
    return LiveSnapshot(url=base, reachable=True, data=data, problems=problems)


# ---- Ray ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RayStatus:
    """The Ray cluster as its dashboard reports it.

    Attributes:
        url: The dashboard.
        reachable: Whether it answered.
        error: Why not (with what to do).
        version: Ray's version.
        nodes: One row per node: ``node``, ``ip``, ``head``, ``state``, ``cpus``, ``gpus``,
            ``memory_gib``, ``object_store_gib``.
        resources: One row per resource: ``resource``, ``used``, ``total``.
    """

    url: str
    reachable: bool
    error: str = ""
    version: str = ""
    nodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    resources: pd.DataFrame = field(default_factory=pd.DataFrame)


def ray_status(url: str, *, token: str | None = None, timeout: float = 3.0) -> RayStatus:
    """Nodes and resources from the Ray dashboard at ``url`` (``token``: Ray's auth token, for
    clusters with token authentication; default ``$RAY_AUTH_TOKEN``)."""
    base = url.rstrip("/")
    token = os.environ.get(RAY_TOKEN_ENV) if token is None else token
    try:
        version = fetch_json(f"{base}/api/version", timeout=timeout, token=token)
        listing = fetch_json(f"{base}/api/v0/nodes", timeout=timeout, token=token)
        status = fetch_json(f"{base}/api/cluster_status", timeout=timeout, token=token)
    except ServiceError as exc:
        text = str(exc)
        if "HTTP 401" in text or "HTTP 403" in text:
            text += (
                f". This Ray cluster uses token authentication: start the viewer with "
                f"{RAY_TOKEN_ENV} set (export {RAY_TOKEN_ENV}=$(ray get-auth-token))."
            )
        return RayStatus(url=base, reachable=False, error=text)
    try:
        node_rows = listing["data"]["result"]["result"]
        usage = status["data"]["clusterStatus"]["loadMetricsReport"]["usage"] or {}
    except (KeyError, TypeError):
        return RayStatus(
            url=base,
            reachable=False,
            error=f"{base} answered, but not like a Ray dashboard (no node list).",
        )
    nodes = pd.DataFrame(
        [
            {
                "node": str(row.get("node_id", ""))[:12],
                "ip": row.get("node_ip"),
                "head": bool(row.get("is_head_node")),
                "state": row.get("state"),
                "cpus": (row.get("resources_total") or {}).get("CPU", 0.0),
                "gpus": (row.get("resources_total") or {}).get("GPU", 0.0),
                "memory_gib": (row.get("resources_total") or {}).get("memory", 0.0) / _GIB,
                "object_store_gib": (row.get("resources_total") or {}).get(
                    "object_store_memory", 0.0
                )
                / _GIB,
            }
            for row in node_rows
        ],
        columns=["node", "ip", "head", "state", "cpus", "gpus", "memory_gib", "object_store_gib"],
    )
    resources = []
    for name, pair in sorted(usage.items()):
        if name.startswith("node:") or not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        used, total = float(pair[0]), float(pair[1])
        if name in ("memory", "objectStoreMemory", "object_store_memory"):
            name, used, total = f"{name} (GiB)", used / _GIB, total / _GIB
        resources.append({"resource": name, "used": used, "total": total})
    return RayStatus(
        url=base,
        reachable=True,
        version=str(version.get("ray_version", "")) if isinstance(version, dict) else "",
        nodes=nodes,
        resources=pd.DataFrame(resources, columns=["resource", "used", "total"]),
    )


# ---- MLflow ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreStatus:
    """Whether the MLflow store answers, and what it holds."""

    uri: str
    reachable: bool
    exists: bool = True
    error: str = ""
    experiments: int = 0
    studies: int = 0
    latest: pd.Timestamp | None = None


def mlflow_status(uri: str) -> StoreStatus:
    """Open the store at ``uri`` (never creating one) and count what it holds."""
    from tradelab.errors import TradelabError
    from tradelab.viewer._tracking import masked_uri, store_exists, studies

    shown = masked_uri(uri)
    if not store_exists(uri):
        return StoreStatus(
            uri=shown,
            reachable=False,
            exists=False,
            error="no tracking store yet (the first study creates it)",
        )
    try:
        from tradelab.tracking import _store

        with _store.store_errors("list experiments", uri):
            client = _store.mlflow_client(uri)
            experiments = len(client.search_experiments())
        frame = studies(uri)
    except TradelabError as exc:
        return StoreStatus(uri=shown, reachable=False, error=str(exc))
    latest = frame["start_time"].max() if len(frame) else None
    return StoreStatus(
        uri=shown,
        reachable=True,
        experiments=experiments,
        studies=len(frame),
        latest=None if latest is None or pd.isna(latest) else latest,
    )


# ---- data catalog ---------------------------------------------------------------------------

CATALOG_COLUMNS: tuple[str, ...] = (
    "symbol",
    "bar_size",
    "first",
    "last",
    "rows",
    "source",
    "quality_score",
    "updated",
)


def catalog_frame(home: str) -> pd.DataFrame:
    """The data store's catalog (columns :data:`CATALOG_COLUMNS`). Read-only: when
    ``catalog.json`` is missing it is described from the Parquet files, not rebuilt."""
    from tradelab.data import ParquetStore
    from tradelab.data.catalog import entry_from_file

    store = ParquetStore(home)
    if store.catalog_path.is_file():
        entries = store.catalog()
    else:
        entries = [entry_from_file(p) for p in sorted(store.root.glob("bars/*/*.parquet"))]
    frame = pd.DataFrame(
        [{name: getattr(entry, name) for name in CATALOG_COLUMNS} for entry in entries],
        columns=list(CATALOG_COLUMNS),
    )
    frame["quality_score"] = pd.to_numeric(frame["quality_score"], errors="coerce")
    return frame


def disk_note(home: str) -> str:
    """A line about the data root (whether it exists) for empty states."""
    path = Path(home)
    return f"{path}" if path.is_dir() else f"{path} (does not exist yet)"


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or ``None`` for missing and non-finite values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
