"""``tradelab data``: generate, import, download, check and list market data."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import click

from tradelab._tables import render_table
from tradelab.cli._options import MultiValueOption

__all__ = ["data"]


def _store():
    from tradelab.data import ParquetStore

    return ParquetStore()


@click.group()
def data() -> None:
    """Market data in the Parquet store under $TRADELAB_HOME."""


@data.command()
@click.option("--symbols", cls=MultiValueOption, required=True,
              help="Symbols to generate, e.g. --symbols AAA BBB CCC.")
@click.option("--start", required=True, help="First date, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last date, YYYY-MM-DD.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option("--bar-size", default="1d", show_default=True, help="1d, 1h, 30m, 15m, 5m, 1m.")
@click.option("--calendar", default=None, metavar="EXCHANGE",
              help="Follow an exchange calendar, e.g. XNYS: no bars on holidays, intraday bars "
                   "from each session's open to its close (13:00 on half days). Default: "
                   "Monday-Friday, 09:30-16:00 New York.")
def generate(symbols: tuple[str, ...], start: str, end: str, seed: int, bar_size: str,
             calendar: str | None) -> None:
    """Generate SYNTHETIC bars (seeded, regime-switching GBM) and store them.

    Example: tradelab data generate --symbols AAA BBB --start 2010-01-01 --end 2019-12-31 --seed 7
    """
    from tradelab.data import SyntheticConfig, check_quality, generate_bars

    # refuse bad settings (an unknown calendar …) before anything is shown or written
    SyntheticConfig(start=start, end=end, bar_size=bar_size, seed=seed, calendar=calendar)
    store = _store()
    rows = []
    with click.progressbar(symbols, label="generating", file=click.get_text_stream("stderr"),
                           show_pos=True) as bar:
        for symbol in bar:
            frame = generate_bars(symbol, start=start, end=end, bar_size=bar_size, seed=seed,
                                  calendar=calendar)
            quality = check_quality(frame, bar_size=bar_size, calendar=calendar)
            entry = store.write(symbol, frame, bar_size=bar_size, source="synthetic",
                                quality_score=quality.score)
            rows.append(_entry_row(entry))
    click.echo(render_table(_ENTRY_HEADERS, rows, align="llllrlr",
                            title="Stored (synthetic data):"))
    click.echo(f"store: {store.root}")


_ENTRY_HEADERS = ["symbol", "bar", "first", "last", "rows", "source", "quality"]


def _entry_row(entry) -> list:
    width = 10 if entry.bar_size.endswith(("d", "w")) else 16
    quality = f"{entry.quality_score:.3f}" if entry.quality_score is not None else "n/a"
    return [entry.symbol, entry.bar_size, str(entry.first)[:width], str(entry.last)[:width],
            int(entry.rows), entry.source, quality]


@data.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--symbol", required=True, help="Symbol to store the bars under.")
@click.option("--bar-size", default=None, help="Bar size (inferred from the data if omitted).")
@click.option("--tz", default="UTC", show_default=True,
              help="Time zone of timestamps that carry none (e.g. America/New_York).")
@click.option("--map", "column_map", multiple=True, metavar="COLUMN=NAME",
              help="Map a canonical column to the file's header, e.g. --map close=Last.")
@click.option("--repair", is_flag=True, help="Fix what can be fixed and list each change.")
def import_(file: Path, symbol: str, bar_size: str | None, tz: str,
            column_map: tuple[str, ...], repair: bool) -> None:
    """Import bars from a CSV (Yahoo, IB or mapped headers) or Parquet FILE.

    Bad data is refused with the file, the row and the problem, and nothing is written;
    --repair fixes what can be fixed and lists each change.
    """
    from tradelab.data import import_bars
    from tradelab.errors import ConfigError

    mapping = {}
    for item in column_map:
        if "=" not in item:
            raise ConfigError(f"--map {item!r} must look like COLUMN=NAME, e.g. close=Last.")
        key, _, value = item.partition("=")
        mapping[key.strip()] = value.strip()
    report = import_bars(file, symbol=symbol, store=_store(), bar_size=bar_size, repair=repair,
                         column_map=mapping or None, tz=tz)
    for change in report.changes:
        click.echo(f"repaired ({change.action}): {change.detail}")
    for issue in report.quality.warnings:
        click.echo(f"warning: {issue.message}")
    click.echo(render_table(_ENTRY_HEADERS, [_entry_row(report.entry)], align="llllrlr",
                            title=f"Imported {report.rows} bars from {file}:"))


@data.command()
@click.argument("symbol")
@click.option("--bar-size", default="1d", show_default=True)
@click.option("--limit", default=20, show_default=True, help="Issues to list at most.")
def check(symbol: str, bar_size: str, limit: int) -> None:
    """Run the quality checks on a stored SYMBOL and print the score and issues."""
    from tradelab.data import check_quality

    frame = _store().read(symbol, bar_size=bar_size)
    report = check_quality(frame, bar_size=bar_size)
    click.echo(f"{symbol.upper()} {bar_size}: {report.rows} bars, quality score "
               f"{report.score:.3f} ({len(report.errors)} errors, "
               f"{len(report.warnings)} warnings)")
    rows = [[i.kind, str(i.timestamp)[:19] if i.timestamp is not None else "", i.message]
            for i in list(report.issues)[:limit]]
    if rows:
        click.echo(render_table(["kind", "timestamp", "problem"], rows, align="lll"))
        if len(report.issues) > limit:
            click.echo(f"… and {len(report.issues) - limit} more")
    else:
        click.echo("no issues found")


@data.command(name="list")
def list_() -> None:
    """List the catalog: symbol, bar size, range, rows, source and quality score."""
    store = _store()
    entries = store.catalog()
    if not entries:
        click.echo(f"the store at {store.root} is empty; try: tradelab data generate "
                   "--symbols AAA BBB --start 2015-01-01 --end 2019-12-31")
        return
    click.echo(render_table(_ENTRY_HEADERS, [_entry_row(e) for e in entries], align="llllrlr"))
    if any(e.source == "synthetic" for e in entries):
        click.echo("(source 'synthetic' = generated demo data, not market history)")


# IB's whatToShow values offered by `data download` (tradelab.brokers.ib_history.WHAT_TO_SHOW;
# not imported here so that the CLI starts without ib_async)
_WHAT_TO_SHOW = ("TRADES", "ADJUSTED_LAST", "MIDPOINT", "BID", "ASK")
_DOWNLOAD_HEADERS = ["symbol", "bars added", "first", "last", "source", "status"]


@data.command()
@click.option("--source", type=click.Choice(["ib"]), default="ib", show_default=True,
              help="Where to download from. Only 'ib' (Interactive Brokers, through IB Gateway "
                   "or TWS) is supported for now.")
@click.option("--symbols", cls=MultiValueOption, required=True,
              help="Symbols to download, e.g. --symbols AAPL MSFT (BRK.B is sent as 'BRK B').")
@click.option("--start", required=True, help="First date, YYYY-MM-DD.")
@click.option("--end", default=None, help="Last date, YYYY-MM-DD (default: now).")
@click.option("--bar-size", default="1d", show_default=True,
              help="1d, 1h, 30m, 15m, 5m, 1m or 1w (IB '1 day', '1 hour', '5 mins' ...).")
@click.option("--host", default="127.0.0.1", show_default=True, help="IB Gateway / TWS host.")
@click.option("--port", type=int, default=4002, show_default=True,
              help="API port: IB Gateway 4002 paper, 4001 live; TWS 7497 paper, 7496 live.")
@click.option("--client-id", type=int, default=17, show_default=True,
              help="API client id; must differ from other clients of the same gateway (the live "
                   "trader uses 1).")
@click.option("--what", type=click.Choice(_WHAT_TO_SHOW, case_sensitive=False), default="TRADES",
              show_default=True,
              help="IB whatToShow: TRADES, ADJUSTED_LAST (split/dividend adjusted; 1d/1w only), "
                   "MIDPOINT, BID or ASK (volume 0 for the last three).")
@click.option("--rth/--no-rth", default=True, show_default=True,
              help="Regular trading hours only, or all hours.")
@click.option("--full", is_flag=True,
              help="Re-download the whole range and replace the stored bars (default: only "
                   "bars from the last stored one on, merged in).")
def download(source: str, symbols: tuple[str, ...], start: str, end: str | None, bar_size: str,
             host: str, port: int, client_id: int, what: str, rth: bool, full: bool) -> None:
    """Download historical bars from Interactive Brokers into the store.

    Requests are cut into chunks IB accepts and paced to IB's limits (60 per 10 minutes);
    a progress line per chunk goes to stderr. Stored symbols are updated incrementally. An
    interrupted download keeps its finished chunks under $TRADELAB_HOME/downloads and the
    same command continues it; the store is only written when a symbol is complete.

    Example: tradelab data download --source ib --symbols AAPL MSFT --start 2020-01-01
    --end 2024-12-31 --bar-size 1d --port 4002
    """
    from tradelab.brokers.ib_config import IBConfig
    from tradelab.brokers.ib_history import IBDownloadConfig, download_ib_history

    config = IBConfig(host=host, port=port, client_id=client_id)
    settings = IBDownloadConfig(bar_size=bar_size, what_to_show=what, use_rth=rth, full=full)
    store = _store()
    with _quiet_ib_async():
        results = download_ib_history(symbols, start=start, end=end, config=config,
                                      download=settings, store=store, progress=_show_progress)
    width = 10 if settings.bar_size.endswith(("d", "w")) else 16
    rows = [[r.symbol, r.bars_added, str(r.first)[:width] if r.first is not None else "-",
             str(r.last)[:width] if r.last is not None else "-", r.source or "-", str(r.status)]
            for r in results]
    hours = "regular hours" if rth else "all hours"
    click.echo(render_table(_DOWNLOAD_HEADERS, rows, align="lrllll",
                            title=f"Downloaded from Interactive Brokers ({settings.what_to_show}, "
                                  f"{hours}, {settings.bar_size}):"))
    click.echo(f"store: {store.root}")
    failed = [r for r in results if not r.ok]
    for result in results:
        if not result.ok:
            click.secho(f"{result.symbol}: {result.message}", fg="red", err=True)
        elif result.message:
            click.echo(f"{result.symbol}: {result.message}")
    if failed:
        names = ", ".join(r.symbol for r in failed)
        raise click.ClickException(f"{len(failed)} of {len(results)} symbol(s) not downloaded "
                                   f"({names}); the reasons are above. Finished symbols are "
                                   "stored; re-run the same command to retry the others.")


def _show_progress(progress) -> None:
    """One line per chunk (or note) on stderr: symbol, chunk k/n, bars so far, ETA."""
    if progress.note:
        line = f"{progress.symbol}: {progress.note}"
    else:
        eta = "?" if progress.eta is None else _duration(progress.eta)
        line = (f"{progress.symbol:<8} chunk {progress.chunk}/{progress.chunks}  "
                f"{progress.bars:,} bars  elapsed {_duration(progress.elapsed)}  ETA {eta}")
    click.echo(line, err=True)


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@contextlib.contextmanager
def _quiet_ib_async() -> Iterator[None]:
    """Keep ib_async's own log lines (e.g. "Error 200, reqId 5 ...") off the terminal while the
    download reports the same errors in its table; handlers on the logger itself still run."""
    logger = logging.getLogger("ib_async")
    handler, propagate = logging.NullHandler(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
