"""The ``tradelab`` command line."""

from __future__ import annotations

from tradelab.cli.main import cli, main

__all__ = ["cli", "main"]
