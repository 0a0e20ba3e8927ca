"""Find strategies by name (``sma_crossover``) or by path (``mypkg.module:MyStrategy``).

Names resolve to modules of the ``strategies`` package by convention, imported on demand, so the
domain core never imports ``strategies`` statically (dependencies point one way).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any

import backtrader as bt

from tradelab.errors import StrategyError, UnknownNameError

__all__ = ["list_strategies", "load_strategy", "strategy_name"]

STRATEGY_PACKAGE = "strategies"
_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def strategy_name(cls: type) -> str:
    """The registry name of a strategy class (its ``name`` attribute, else the class name)."""
    return str(getattr(cls, "name", "") or cls.__name__)


def _strategies_in(module: Any) -> list[type[bt.Strategy]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, bt.Strategy)
        and obj.__module__ == module.__name__
        and getattr(obj, "name", None)
        and not inspect.isabstract(obj)
        and not getattr(obj, "abstract", False)
    ]


def list_strategies() -> dict[str, type[bt.Strategy]]:
    """Every strategy of the ``strategies`` package, by name, sorted."""
    try:
        package = importlib.import_module(STRATEGY_PACKAGE)
    except ImportError:
        return {}
    found: dict[str, type[bt.Strategy]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{STRATEGY_PACKAGE}.{info.name}")
        for cls in _strategies_in(module):
            found[strategy_name(cls)] = cls
    return dict(sorted(found.items()))


def load_strategy(ref: str | type[bt.Strategy]) -> type[bt.Strategy]:
    """Return the strategy class for a name, a ``module:Class`` path, or a class.

    Example:
        >>> load_strategy("sma_crossover").__name__
        'SmaCrossover'

    Raises:
        UnknownNameError: no strategy of that name (with a did-you-mean suggestion).
        StrategyError: the path cannot be imported or does not name a ``bt.Strategy``.
    """
    if isinstance(ref, type):
        if not issubclass(ref, bt.Strategy):
            raise StrategyError(f"{ref!r} is not a backtrader Strategy subclass.")
        return ref
    text = str(ref).strip()
    if _PATH.match(text):
        module_name, class_name = text.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise StrategyError(f"cannot import module '{module_name}' for strategy "
                                f"'{text}': {exc}") from None
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, bt.Strategy)):
            raise StrategyError(
                f"'{text}': module '{module_name}' has no backtrader Strategy named "
                f"'{class_name}'."
            )
        if cls.__module__ == "__main__":
            raise StrategyError(
                f"strategy '{text}' is defined in __main__; move it into an importable module "
                "(a class pickled from __main__ loses its params on Ray workers)."
            )
        return cls
    known = list_strategies()
    if text in known:
        return known[text]
    raise UnknownNameError("strategy", text, known)
