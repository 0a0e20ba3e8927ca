"""Where tradelab keeps its files: the data root (``$TRADELAB_HOME``, default ``./.tradelab``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "results_dir"]


def data_root() -> Path:
    """The data root: ``$TRADELAB_HOME`` if set, else ``./.tradelab`` (resolved, not created)."""
    return Path(os.environ.get("TRADELAB_HOME", ".tradelab")).expanduser().resolve()


def results_dir() -> Path:
    """Where commands write reports: ``$TRADELAB_RESULTS`` if set, else ``./results``."""
    return Path(os.environ.get("TRADELAB_RESULTS", "results")).expanduser().resolve()
