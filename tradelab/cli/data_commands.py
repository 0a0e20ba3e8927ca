"""``tradelab data``: generate, import, check and list market data."""

from __future__ import annotations

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
def generate(symbols: tuple[str, ...], start: str, end: str, seed: int, bar_size: str) -> None:
    """Generate SYNTHETIC bars (seeded, regime-switching GBM) and store them.

    Example: tradelab data generate --symbols AAA BBB --start 2010-01-01 --end 2019-12-31 --seed 7
    """
    from tradelab.data import check_quality, generate_bars

    store = _store()
    rows = []
    with click.progressbar(symbols, label="generating", file=click.get_text_stream("stderr"),
                           show_pos=True) as bar:
        for symbol in bar:
            frame = generate_bars(symbol, start=start, end=end, bar_size=bar_size, seed=seed)
            quality = check_quality(frame, bar_size=bar_size)
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
