"""MarketDataService: a detached, named Ray actor that loads market data once per cluster.

It reads a dataset from the Parquet store the first time it is asked for it, puts its columns in
the object store as numpy arrays, and hands out :class:`DataHandle` values (an ObjectRef plus the
row range asked for). Trials ``ray.get`` the ref — zero-copy, read-only views of shared memory on
every node — and slice the range, so they never read Parquet. Being detached, the actor outlives
the driver: the next ``ray job submit`` on the same cluster gets the data without a Parquet read.
Datasets beyond the memory budget are evicted least-recently-used first.

Example:
    >>> service = get_data_service()                      # doctest: +SKIP
    >>> handle = ray.get(service.get.remote("AAA", "1d"))  # doctest: +SKIP
    >>> arrays = fetch_arrays(handle)                     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray

from cluster.runtime import NAMESPACE
from tradelab.errors import ConfigError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DataHandle",
    "MarketDataService",
    "fetch_arrays",
    "get_data_service",
    "service_name",
]

DEFAULT_MEMORY_BUDGET = 2 * 1024**3  # bytes of arrays held before LRU eviction
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class DataHandle:
    """Where one symbol's bars are: the whole dataset's ref and the rows ``[begin, end)``."""

    symbol: str
    bar_size: str
    ref: ray.ObjectRef
    begin: int
    end: int
    nbytes: int

    @property
    def rows(self) -> int:
        return self.end - self.begin


def fetch_arrays(handle: DataHandle) -> dict[str, np.ndarray]:
    """The handle's rows as read-only numpy views of the object store (no copy)."""
    return handle_rows(handle, ray.get(handle.ref))


def handle_rows(handle: DataHandle, dataset: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The handle's rows of its dataset (the value of ``handle.ref``), as views."""
    window = slice(handle.begin, handle.end)
    return {name: dataset[name][window] for name in _COLUMNS}


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class MarketDataService:
    """Holds datasets in the object store; one per data root per cluster (see ``service_name``)."""

    def __init__(self, root: str, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        from tradelab.data import ParquetStore

        self._store = ParquetStore(root)
        self._root = str(self._store.root)
        self._budget = int(memory_budget)
        self._held: OrderedDict[tuple[str, str], tuple[ray.ObjectRef, np.ndarray, int]] = \
            OrderedDict()
        self._stats = {"loads": 0, "hits": 0, "evictions": 0, "load_seconds": 0.0}

    def root(self) -> str:
        return self._root

    def get(self, symbol: str, bar_size: str = "1d", start: str | None = None,
            end: str | None = None) -> DataHandle:
        """A handle on ``symbol``'s bars between ``start`` and ``end`` (inclusive dates)."""
        from tradelab.data import normalize_symbol

        key = (normalize_symbol(symbol), bar_size)
        if key in self._held:
            self._stats["hits"] += 1
            self._held.move_to_end(key)
        else:
            self._load(key)
        ref, stamps, nbytes = self._held[key]
        begin, stop = _window(stamps, start, end, key)
        return DataHandle(symbol=key[0], bar_size=bar_size, ref=ref, begin=begin, end=stop,
                          nbytes=nbytes)

    def get_many(self, symbols: list[str], bar_size: str = "1d", start: str | None = None,
                 end: str | None = None) -> list[DataHandle]:
        return [self.get(s, bar_size, start, end) for s in symbols]

    def _load(self, key: tuple[str, str]) -> None:
        began = time.perf_counter()
        arrays = self._store.read_arrays(key[0], bar_size=key[1])
        arrays = {name: np.ascontiguousarray(arrays[name]) for name in _COLUMNS}
        nbytes = int(sum(a.nbytes for a in arrays.values()))
        ref = ray.put(arrays)
        self._held[key] = (ref, np.array(arrays["timestamp"], copy=True), nbytes)
        self._stats["loads"] += 1
        self._stats["load_seconds"] += time.perf_counter() - began
        self._evict(keep=key)

    def _evict(self, keep: tuple[str, str]) -> None:
        while self._bytes() > self._budget and len(self._held) > 1:
            oldest = next(iter(self._held))
            if oldest == keep:
                break
            del self._held[oldest]  # borrowers keep the object alive until they let go
            self._stats["evictions"] += 1

    def _bytes(self) -> int:
        return sum(item[2] for item in self._held.values())

    def evict(self, symbol: str | None = None, bar_size: str | None = None) -> int:
        """Drop datasets (all, or one symbol / bar size); returns how many were dropped."""
        keys = [k for k in self._held
                if (symbol is None or k[0] == symbol.upper())
                and (bar_size is None or k[1] == bar_size)]
        for key in keys:
            del self._held[key]
        return len(keys)

    def stats(self) -> dict[str, Any]:
        """Loads (Parquet reads), hits, evictions, bytes held, budget and datasets held."""
        return {**self._stats, "bytes_held": self._bytes(), "memory_budget": self._budget,
                "datasets": [f"{s}/{b}" for s, b in self._held], "root": self._root}


def _window(stamps: np.ndarray, start: str | None, end: str | None,
            key: tuple[str, str]) -> tuple[int, int]:
    from tradelab.data import date_bound
    from tradelab.errors import DataNotFoundError

    lo, hi = date_bound(start, is_end=False), date_bound(end, is_end=True)
    begin = int(np.searchsorted(stamps, lo.value, side="left")) if lo is not None else 0
    stop = int(np.searchsorted(stamps, hi.value, side="right")) if hi is not None \
        else len(stamps)
    if stop <= begin:
        first = pd.Timestamp(int(stamps[0]), tz="UTC").date() if len(stamps) else None
        last = pd.Timestamp(int(stamps[-1]), tz="UTC").date() if len(stamps) else None
        raise DataNotFoundError(f"no {key[0]} {key[1]} bars between {start or 'the start'} and "
                                f"{end or 'the end'}; the data covers {first} to {last}.")
    return begin, stop


def service_name(root: str | Path) -> str:
    """The actor name for a data root (one service per root per cluster)."""
    digest = hashlib.sha1(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:10]
    return f"market-data-{digest}"


def get_data_service(root: str | Path | None = None, *,
                     memory_budget: int = DEFAULT_MEMORY_BUDGET) -> ray.actor.ActorHandle:
    """The cluster's MarketDataService for ``root`` (default: the data root), created if absent.

    Needs ``ray.init`` first (see :func:`cluster.runtime.ensure_ray`).
    """
    from tradelab.paths import data_root

    if not ray.is_initialized():
        raise ConfigError("Ray is not initialized; call cluster.ensure_ray() first.")
    resolved = Path(root).expanduser().resolve() if root is not None else data_root()
    return MarketDataService.options(
        name=service_name(resolved), namespace=NAMESPACE, lifetime="detached",
        get_if_exists=True,
        # On the head node: a worker node that dies must not take the datasets with it.
        resources={"node:__internal_head__": 0.001},
    ).remote(str(resolved), memory_budget)
