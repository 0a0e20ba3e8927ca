"""Request pacing for the IB API: at most ``count`` messages in any ``window`` seconds.

IB disconnects a client that sends more than 50 messages a second, and answers historical-data
requests beyond 60 per 10 minutes with a pacing violation. :class:`RequestPacer` keeps a sliding
log of send times, so *no* window of the given length ever holds more than ``count`` sends (a
plain token bucket would allow a full burst plus a refill inside one window). Messages are also
spread evenly (``spread``): IB counts them when they *arrive*, and a burst delayed on the way
could land in the same second as the next one. No ``ib_async`` import here.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["JITTER_MARGIN", "RequestPacer", "message_pacer"]

#: Added to every window: IB counts messages when they arrive, and network jitter can bring two
#: sends that were a full window apart closer together on the way.
JITTER_MARGIN = 0.05


class RequestPacer:
    """An async sliding-window limiter: :meth:`acquire` waits until a send is allowed.

    Waiters are served first come, first served.

    Args:
        count: Most sends in any window.
        window: The window, seconds (``JITTER_MARGIN`` is added).
        spread: Also keep ``window / count`` seconds between sends (no bursts).
        clock: Monotonic clock, seconds.

    Example:
        >>> import asyncio
        >>> pacer = RequestPacer(2, 0.05)
        >>> async def three():
        ...     for _ in range(3):
        ...         await pacer.acquire()
        ...     return pacer.sent
        >>> asyncio.run(three())
        3
    """

    def __init__(
        self,
        count: int,
        window: float,
        *,
        spread: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1 or not window > 0:
            raise ValueError(f"a pacer needs count >= 1 and window > 0, got {count}, {window}")
        self.count = int(count)
        self.window = float(window) + JITTER_MARGIN
        self.interval = self.window / self.count if spread else 0.0
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock: asyncio.Lock | None = None
        self.sent = 0

    async def acquire(self, messages: int = 1) -> None:
        """Wait until ``messages`` more sends are allowed, and count them as sent."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for _ in range(messages):
                await self._acquire_one()

    async def _acquire_one(self) -> None:
        while True:
            now = self._clock()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            wait = self._times[0] + self.window - now if len(self._times) >= self.count else 0.0
            if self.interval and self._times:
                wait = max(wait, self._times[-1] + self.interval - now)
            if wait <= 0:
                self._times.append(now)
                self.sent += 1
                return
            await asyncio.sleep(wait)


def message_pacer(messages_per_second: float) -> RequestPacer:
    """The evenly spread pacer for ``messages_per_second`` (below 1: one per ``1/rate`` s).

    Example:
        >>> message_pacer(50).count, message_pacer(0.5).count
        (50, 1)
    """
    if messages_per_second >= 1:
        return RequestPacer(math.floor(messages_per_second), 1.0, spread=True)
    return RequestPacer(1, 1.0 / messages_per_second, spread=True)
