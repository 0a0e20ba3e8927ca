"""The report's charts as PNG bytes (matplotlib's Agg canvas; no pyplot state is touched)."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradelab.analysis.pbo import PBOResult
    from tradelab.analysis.walkforward import WalkForwardResult

_ROOT_252 = math.sqrt(252)


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def pbo_chart(pbo: PBOResult) -> bytes:
    figure = _figure()
    left, right = figure.subplots(1, 2)
    left.hist(pbo.logits, bins=40, color="tab:blue", alpha=0.8)
    left.axvline(0.0, color="tab:red", linestyle="--")
    left.set_title("logit of the IS-best's OOS rank (left of 0 = overfit)", fontsize=9)
    right.scatter(pbo.is_performance * _ROOT_252, pbo.oos_performance * _ROOT_252, s=4, alpha=0.4)
    right.axhline(0.0, color="gray", linewidth=0.8)
    right.set_xlabel("IS Sharpe (annualized)")
    right.set_ylabel("OOS Sharpe (annualized)")
    right.set_title("IS → OOS of the IS-best, per split", fontsize=9)
    return _png(figure)


def equity_chart(result: WalkForwardResult) -> bytes | None:
    equity = result.oos_equity
    if equity.empty:
        return None
    figure = _figure()
    axes = figure.subplots()
    axes.plot(equity.index.tz_localize(None), equity.to_numpy(), color="tab:blue", linewidth=1.2)
    for w in result.windows[1:]:
        axes.axvline(w.window.test_start, color="gray", linewidth=0.6, linestyle=":")
    axes.set_title("stitched out-of-sample equity (dotted: window boundaries)", fontsize=9)
    axes.grid(alpha=0.3)
    return _png(figure)
