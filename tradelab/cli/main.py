"""``tradelab``: data, backtests, strategies and the demo from the shell."""

from __future__ import annotations

import importlib
import sys

import click

from tradelab.errors import TradelabError

__all__ = ["cli", "main"]

_PLUGINS = ("cluster.cli",)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tradelab")
def cli() -> None:
    """tradelab: optimize Backtrader strategies on Ray, judge them honestly, trade them on IB.

    Data lives under $TRADELAB_HOME (default ./.tradelab); reports go to ./results.
    """


_registered = False


def _register() -> None:
    """Add the commands (once). Called when the CLI runs, not at import: the Ray layer's
    commands import this package, so registering them at import time would be circular."""
    global _registered
    if _registered:
        return
    _registered = True
    from tradelab.cli.backtest_command import backtest, strategies
    from tradelab.cli.data_commands import data
    from tradelab.cli.demo_command import demo
    from tradelab.cli.view_command import view

    cli.add_command(data)
    cli.add_command(backtest)
    cli.add_command(strategies)
    cli.add_command(demo)
    cli.add_command(view)
    # Commands that need Ray live in the cluster layer and register themselves when it is
    # installed (the domain core never imports it statically).
    for name in _PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(cli)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning tradelab errors into one clear line and exit code 2."""
    _register()
    try:
        result = cli.main(args=argv, prog_name="tradelab", standalone_mode=False)
    except TradelabError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    # Without standalone mode click returns ctx.exit(code)'s code instead of raising.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
