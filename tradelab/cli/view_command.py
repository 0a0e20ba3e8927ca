"""``tradelab view``: the results viewer (Streamlit, read-only) on 127.0.0.1."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import click

__all__ = ["view"]


@click.command()
@click.option("--port", type=int, default=8501, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data root to read (default: $TRADELAB_HOME or ./.tradelab).",
)
@click.option(
    "--live-url",
    default=None,
    help="The live trader's API (default: $TRADELAB_LIVE_URL or http://127.0.0.1:8000).",
)
def view(port: int, home: Path | None, live_url: str | None) -> None:
    """Open the results viewer: studies, trials, runs, comparisons, walk-forward, the live
    trader and the platform's health. Read-only; Ctrl-C stops it.

    Example: tradelab view --port 8501 --home ./.tradelab
    """
    from tradelab.paths import data_root
    from tradelab.viewer import ViewerConfig

    config = ViewerConfig(port=port, home=home, live_url=live_url)
    root = config.home or data_root()
    note = "" if root.is_dir() else " (does not exist yet: the pages will say what to create)"
    click.echo(f"tradelab viewer on {config.url}  (data root {root}{note}) — Ctrl-C stops it")
    process = subprocess.Popen(config.command(), env=config.environment())
    # `kill PID` stops Streamlit too, instead of leaving it serving without its parent
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:  # Streamlit got the same Ctrl-C: let it stop by itself
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
        code = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code > 0:  # < 0: Streamlit ended by a signal we forwarded — a normal stop
        raise click.exceptions.Exit(code)
