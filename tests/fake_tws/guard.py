"""Catch ib_async's swallowed decode errors so a wrong field layout fails a test at once.

ib_async logs and drops a message it cannot decode ("Error handling fields: ..."), and the
request waiting for that message then hangs until its timeout. ``IBDecodeGuard`` collects
those log records; tests check it (the pytest fixture does so at teardown) and can race an
awaitable against it with ``IBDecodeGuard.within`` to fail fast instead of timing out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

WATCHED_LOGGERS = ("ib_async.Decoder", "ib_async.wrapper", "ib_async.client")
PATTERNS = ("Error handling fields", "Error for ", "No order found")
"""Messages that mean the client could not decode or place a message from the fake."""


class _Subscribed:
    """An awaitable whose ``__await__`` already ran (so an event's slot is connected)."""

    def __init__(self, iterator: Generator[Any, None, Any]) -> None:
        self._iterator = iterator

    def __await__(self) -> Generator[Any, None, Any]:
        return self._iterator


class IBDecodeError(AssertionError):
    """ib_async could not decode a message the fake sent."""


class IBDecodeGuard(logging.Handler):
    """A logging handler on the ``ib_async`` logger that records decode failures.

    A record counts when it comes from ``ib_async.Decoder`` at ERROR or above, or when its
    text contains one of ``PATTERNS``.

    Example:
        >>> with IBDecodeGuard() as guard:  # doctest: +SKIP
        ...     bars = await guard.within(ib.reqHistoricalDataAsync(...), timeout=10)
        ...     guard.check()
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.problems: list[str] = []
        self._saved_levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        from_decoder = record.name == "ib_async.Decoder" and record.levelno >= logging.ERROR
        if from_decoder or any(pattern in text for pattern in PATTERNS):
            if record.exc_info and record.exc_info[1] is not None:
                text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            self.problems.append(f"{record.name}: {text}")

    def install(self) -> IBDecodeGuard:
        """Attach to the ``ib_async`` logger, making sure ERROR records are produced."""
        for name in WATCHED_LOGGERS:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > logging.ERROR:
                self._saved_levels[name] = logger.level
                logger.setLevel(logging.ERROR)
        logging.getLogger("ib_async").addHandler(self)
        return self

    def uninstall(self) -> None:
        """Detach and restore logger levels."""
        logging.getLogger("ib_async").removeHandler(self)
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()

    def __enter__(self) -> IBDecodeGuard:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def check(self) -> None:
        """Raise ``IBDecodeError`` listing every decode failure seen so far."""
        if self.problems:
            raise IBDecodeError(
                "ib_async could not decode message(s) from the fake TWS:\n  "
                + "\n  ".join(self.problems)
            )

    def clear(self) -> list[str]:
        """Forget (and return) the problems seen so far, for tests that provoke them."""
        problems, self.problems = self.problems, []
        return problems

    async def within(self, awaitable: Awaitable[T], timeout: float = 10.0) -> T:
        """Await ``awaitable``, failing at once on a decode error or after ``timeout``.

        An eventkit ``Event`` (e.g. ``trade.filledEvent``) is subscribed to right away, not
        when a wrapping task first runs: under uvloop the fake's reply can otherwise be
        handled in between and the emit missed (``asyncio.wait_for(event, ...)`` has that
        race).
        """
        if not (asyncio.iscoroutine(awaitable) or asyncio.isfuture(awaitable)):
            awaitable = _Subscribed(awaitable.__await__())
        task = asyncio.ensure_future(awaitable)
        deadline = time.monotonic() + timeout
        try:
            while not task.done():
                self.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from the fake TWS within {timeout}s")
                await asyncio.wait({task}, timeout=0.02)
            self.check()
            return task.result()
        finally:
            if not task.done():
                task.cancel()
