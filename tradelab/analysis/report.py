"""Plain-text tables and a self-contained HTML report of study diagnostics and walk-forward runs.

Both renderings come from the same sections (title, table, notes), so the terminal and the HTML
file always show the same numbers. The HTML embeds its charts as PNG data URIs (matplotlib's Agg
canvas, no pyplot state) and needs no network or JavaScript.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelab._tables import format_metric, render_table
from tradelab.analysis._charts import equity_chart, pbo_chart

if TYPE_CHECKING:
    from tradelab.analysis.diagnostics import StudyDiagnostics
    from tradelab.analysis.walkforward import WalkForwardResult

__all__ = [
    "Section",
    "study_report_html",
    "study_report_text",
    "walkforward_report_html",
    "walkforward_report_text",
    "write_report",
]

_ROOT_252 = math.sqrt(252)


@dataclass(frozen=True, kw_only=True, slots=True)
class Section:
    """A titled table with notes under it (and, in HTML only, an optional chart)."""

    title: str
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    align: str | None = None
    notes: tuple[str, ...] = ()
    chart: Callable[[], bytes | None] | None = field(default=None, compare=False)


# ---- study diagnostics -----------------------------------------------------------------------


def study_sections(diag: StudyDiagnostics) -> list[Section]:
    """The report of a study's diagnostics as sections."""
    sections = [_pbo_section(diag), _sharpe_section(diag), *_robustness_sections(diag)]
    if len(diag.regimes):
        sections.append(
            _regime_section(
                diag.regimes, "Regimes — the best trial over the study's own period (in sample)"
            )
        )
    if diag.notes:
        sections.append(Section(title="Notes", notes=diag.notes))
    return sections


def _title(diag: StudyDiagnostics) -> str:
    return (
        f"Overfitting diagnostics — study {diag.study}: {diag.strategy} on "
        f"{', '.join(diag.symbols)} ({diag.mode} {diag.metric}, {diag.search}); "
        f"{diag.trials_total} trials, {diag.trials_complete} complete, "
        f"{diag.trials_in_matrix} parameter sets re-run over {diag.start} → {diag.end} "
        f"({diag.observations:,} days)"
    )


def _pbo_section(diag: StudyDiagnostics) -> Section:
    pbo = diag.pbo
    if pbo is None:
        return Section(
            title="Probability of backtest overfitting (CSCV)",
            notes=("not computed: fewer than 2 parameter sets or too few days.",),
        )
    verdict = "high" if pbo.pbo >= 0.5 else "moderate" if pbo.pbo >= 0.2 else "low"
    rows = (
        (
            "PBO",
            f"{pbo.pbo:.3f}",
            f"{verdict}: the IS-best ranked in the OOS bottom half in "
            f"{pbo.pbo:.0%} of {pbo.combinations:,} splits (0.5 = no better than a random pick)",
        ),
        ("IS Sharpe of the IS-best (mean)", _ratio(pbo.mean_is * _ROOT_252), "annualized"),
        (
            "OOS Sharpe of the IS-best (mean)",
            _ratio(pbo.mean_oos * _ROOT_252),
            f"annualized; IS → OOS degradation {_ratio((pbo.mean_oos - pbo.mean_is) * _ROOT_252)}",
        ),
        (
            "degradation slope",
            _ratio(pbo.degradation_slope),
            "OOS on IS Sharpe of the IS-best across splits (1 = carries over, <= 0 = none)",
        ),
        (
            "probability of OOS loss",
            f"{pbo.probability_of_loss:.1%}",
            "splits where the IS-best has a negative OOS Sharpe",
        ),
    )
    return Section(
        title=f"Probability of backtest overfitting (CSCV: {pbo.trials} trials x "
        f"{pbo.observations:,} days in {pbo.slices} slices)",
        headers=("statistic", "value", "reading"),
        rows=rows,
        align="lrl",
        chart=lambda: pbo_chart(pbo),
    )


def _sharpe_section(diag: StudyDiagnostics) -> Section:
    s = diag.significance
    params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(diag.best_params.items()))
    rows = (
        (
            "Sharpe ratio (annualized)",
            _ratio(s.sharpe_annualized),
            f"per day {_ratio(s.sharpe)}, T = {s.observations:,} days",
        ),
        ("PSR (SR > 0)", _prob(s.psr), "probability the true Sharpe ratio is positive"),
        ("trials N", f"{s.trials:,}", "distinct parameter sets tried"),
        ("V[SR_n] (annualized)", _ratio(s.sharpe_variance * 252), "variance of trial Sharpes"),
        (
            "SR0 (annualized)",
            _ratio(s.expected_max_sharpe_annualized),
            "expected best Sharpe of N trials by luck alone",
        ),
        ("DSR", _prob(s.dsr), "probability the Sharpe ratio beats SR0 (>= 0.95: significant)"),
        ("skew / kurtosis", f"{s.skew:.2f} / {s.kurtosis:.2f}", "of daily returns (normal: 0 / 3)"),
        ("MinTRL", _days(s.min_track_record), "days needed for 95% confidence that SR > 0"),
    )
    return Section(
        title=f"Sharpe significance of the best trial #{diag.best_number} ({params}; "
        f"objective {_ratio(diag.best_value)})",
        headers=("statistic", "value", "reading"),
        rows=rows,
        align="lrl",
        notes=("PSR: Bailey & López de Prado (2012); DSR: Bailey & López de Prado (2014).",),
    )


def _robustness_sections(diag: StudyDiagnostics) -> list[Section]:
    r = diag.robustness
    how = (
        "grid points one step away"
        if r.method == "grid"
        else f"the {len(r.neighbours)} nearest trials"
    )
    rows = [
        (
            "best",
            ", ".join(f"{k}={_short(v)}" for k, v in sorted(r.best_params.items())),
            _ratio(r.best_value),
            "",
        )
    ]
    for params, value, distance in r.neighbours:
        rows.append(
            (
                "neighbour",
                ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items())),
                _ratio(value),
                f"{distance:.3f}",
            )
        )
    notes = [
        f"neighbours: mean {_ratio(r.neighbour_mean)}, median {_ratio(r.neighbour_median)}, "
        f"worst {_ratio(r.neighbour_min)}; mean / best = {_ratio(r.ratio)} "
        "(near 1: a plateau; far below 1: a lone peak)"
    ]
    neighbourhood = Section(
        title=f"Robustness — the optimum and {how}",
        headers=("", "params", diag.metric, "distance"),
        rows=tuple(rows),
        align="llrr",
        notes=tuple(notes),
    )
    sens = tuple(
        (
            p.name,
            _short(p.best),
            f"[{_short(p.low)}, {_short(p.high)}]",
            p.edge or "",
            _ratio(p.eta_squared),
            _ratio(p.spearman),
            p.distinct,
        )
        for p in r.parameters
    )
    sensitivity = Section(
        title="Per-parameter sensitivity (eta² = share of the objective's variance explained)",
        headers=("parameter", "best", "range", "edge", "eta²", "spearman", "values"),
        rows=sens,
        align="lrllrrr",
        notes=r.edges or ("no optimum on the edge of its search range.",),
    )
    return [neighbourhood, sensitivity]


def study_report_text(diag: StudyDiagnostics) -> str:
    """The diagnostics as plain-text tables (what ``tradelab report`` prints)."""
    return _text(_title(diag), study_sections(diag))


def study_report_html(diag: StudyDiagnostics) -> str:
    """The diagnostics as a self-contained HTML page."""
    return _html(_title(diag), study_sections(diag))


# ---- walk-forward ----------------------------------------------------------------------------


def walkforward_sections(result: WalkForwardResult) -> list[Section]:
    """The report of a walk-forward analysis as sections."""
    s = result.summary
    rows = []
    for w in result.windows:
        params = (
            ", ".join(f"{k}={_short(v)}" for k, v in sorted(w.best_params.items()))
            or "(none: in cash)"
        )
        rows.append(
            (
                w.window.index,
                f"{w.window.train_start} → {w.window.train_end}",
                f"{w.window.test_start} → {w.window.test_end}",
                params,
                _ratio(w.is_metrics.get("sharpe")),
                _ratio(w.oos_metrics.get("sharpe")),
                _pct(w.is_metrics.get("cagr")),
                _pct(w.oos_metrics.get("cagr")),
                _pct(w.oos_metrics.get("max_drawdown")),
                format_metric(w.oos_metrics.get("num_trades"), "count"),
                _ratio(w.wfe),
                f"{w.complete}/{w.trials}",
            )
        )
    windows = Section(
        title="Windows — optimized in sample (IS), tested out of sample (OOS)",
        headers=(
            "#",
            "train",
            "test",
            "best params",
            "IS sharpe",
            "OOS sharpe",
            "IS CAGR",
            "OOS CAGR",
            "OOS max DD",
            "OOS trades",
            "WFE",
            "complete",
        ),
        rows=tuple(rows),
        align="rlllrrrrrrrr",
        notes=tuple(f"window {w.window.index}: {w.note}" for w in result.windows if w.note),
    )
    drift_rows = tuple(
        (
            row["parameter"],
            " → ".join("·" if v is None else _short(v) for v in row["values"]),
            _short(row["min"]),
            _short(row["max"]),
            _ratio(row["std"]),
            int(row["changes"]),
            _pct(row["range_used"]),
        )
        for row in result.drift.to_dict(orient="records")
    )
    drift = Section(
        title="Parameter drift across windows",
        headers=("parameter", "chosen per window", "min", "max", "std", "changes", "range used"),
        rows=drift_rows,
        align="llrrrrr",
        notes=(
            "range used = (max - min) / width of the search range; a small, "
            "stable choice suggests a real effect, a wandering one noise.",
        ),
    )
    summary = Section(
        title="Out-of-sample summary (stitched test periods)",
        headers=("statistic", "value"),
        align="lr",
        rows=(
            ("walk-forward efficiency", _ratio(s.get("wfe"))),
            ("OOS Sharpe", _ratio(s.get("oos_sharpe"))),
            ("OOS CAGR", _pct(s.get("oos_cagr"))),
            ("OOS max drawdown", _pct(s.get("oos_max_drawdown"))),
            ("OOS total return", _pct(s.get("oos_total_return"))),
            ("OOS PSR (SR > 0)", _prob(s.get("oos_psr"))),
            ("IS Sharpe (mean of windows)", _ratio(s.get("is_sharpe"))),
            ("IS CAGR (mean of windows)", _pct(s.get("is_cagr"))),
            ("windows", f"{int(s.get('windows', 0))}"),
        ),
        notes=(
            "WFE = annualized OOS return / annualized IS return (OOS CAGR of the stitched "
            "test periods over the mean IS CAGR); about 0.5 or more is usually deemed "
            "robust; n/a when the IS CAGR is not positive.",
        ),
        chart=lambda: equity_chart(result),
    )
    sections = [summary, windows, drift]
    if len(result.regimes):
        sections.append(_regime_section(result.regimes, "Regimes — the stitched OOS returns"))
    if result.notes:
        sections.append(Section(title="Notes", notes=result.notes))
    return sections


def _wfa_title(result: WalkForwardResult) -> str:
    st = result.settings
    scheme = "anchored" if st.get("anchored") else "rolling"
    return (
        f"Walk-forward analysis {result.name}: {result.strategy} on "
        f"{', '.join(result.symbols)} — {scheme}, train {st.get('train')}, test "
        f"{st.get('test')}, step {st.get('step')}, {st.get('trials')} trials per window"
    )


def walkforward_report_text(result: WalkForwardResult) -> str:
    """The walk-forward analysis as plain-text tables."""
    return _text(_wfa_title(result), walkforward_sections(result))


def walkforward_report_html(result: WalkForwardResult) -> str:
    """The walk-forward analysis as a self-contained HTML page."""
    return _html(_wfa_title(result), walkforward_sections(result))


# ---- shared ------------------------------------------------------------------------------------


def _regime_section(regimes: Any, title: str) -> Section:
    rows = tuple(
        (
            r["regime"],
            r["bars"],
            _pct(r["fraction"]),
            _pct(r["return"]),
            _pct(r["annual_return"]),
            _ratio(r["sharpe"]),
        )
        for r in regimes.to_dict(orient="records")
    )
    return Section(
        title=title,
        headers=("regime", "days", "fraction", "return", "annualized", "sharpe"),
        rows=rows,
        align="lrrrrr",
        notes=(
            "regimes of the equal-weight benchmark of the symbols, each day "
            "classified from the days before it (no look-ahead).",
        ),
    )


def write_report(path: str | Path, page: str) -> Path:
    """Write an HTML page (creating the directory); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def _text(title: str, sections: Sequence[Section]) -> str:
    parts = [title]
    for section in sections:
        block = (
            [render_table(section.headers, section.rows, align=section.align, title=section.title)]
            if section.headers
            else [section.title]
        )
        block.extend(f"  {note}" for note in section.notes)
        parts.append("\n".join(block))
    return "\n\n".join(parts)


def _html(title: str, sections: Sequence[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.headers:
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in section.headers)
            align = section.align or "l" * len(section.headers)
            rows = "".join(
                "<tr>"
                + "".join(
                    f"<td class='{'num' if a == 'r' else 'txt'}'>{html.escape(_cell(c))}</td>"
                    for c, a in zip(row, align, strict=False)
                )
                + "</tr>"
                for row in section.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        body.extend(f"<p class='note'>{html.escape(note)}</p>" for note in section.notes)
        image = _chart(section)
        if image:
            data = base64.b64encode(image).decode("ascii")
            body.append(
                f"<img alt='{html.escape(section.title)}' src='data:image/png;base64,{data}'>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}"
        "p.note{color:#555;margin:.2em 0}img{max-width:100%}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


def _chart(section: Section) -> bytes | None:
    if section.chart is None:
        return None
    try:
        return section.chart()
    except Exception:  # noqa: BLE001 - a chart is never worth a failed report
        return None


def _cell(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else format_metric(value, "count")
        if isinstance(value, int)
        else str(value)
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ratio(value: Any) -> str:
    return f"{value:.3f}" if _finite(value) else "n/a"


def _pct(value: Any) -> str:
    return f"{value:.2%}" if _finite(value) else "n/a"


def _prob(value: Any) -> str:
    return f"{value:.4f}" if _finite(value) else "n/a"


def _days(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "never (SR <= 0)"
    return f"{math.ceil(value):,}" if _finite(value) else "n/a"


def _short(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)
