"""Click helpers: an option that takes several values after one flag (``--symbols AAA BBB``)."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["MultiValueOption"]


class MultiValueOption(click.Option):
    """``--symbols AAA BBB CCC`` (values up to the next option); commas also split values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", False)
        super().__init__(*args, **kwargs)
        self._previous_process = None
        self._eater = None

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        def eat(value: Any, state: Any) -> None:
            values = [value]
            while state.rargs and not state.rargs[0].startswith("-"):
                values.append(state.rargs.pop(0))
            self._previous_process(tuple(values), state)

        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option:
                self._eater = option
                self._previous_process = option.process
                option.process = eat
                break

    def type_cast_value(self, ctx: click.Context, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            value = (value,)
        items: list[str] = []
        for part in value:
            items.extend(p for p in str(part).replace(",", " ").split() if p)
        return tuple(items)
