"""The IB broker's connection life cycle: connect with backoff, health checks, reconnects, and
IB's connectivity notices (1100 / 2110 lost, 1101 / 1102 restored).

:class:`IBConnection` owns the ib_async socket and the connection state; the broker gives it
three callbacks: ``sync`` (reconcile and restart bar streams; runs before trading resumes),
``went_down`` (forget what died with the socket) and ``announce`` (the ``"connection"``
event).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from ib_async import IB

from tradelab.brokers._ib_pacing import RequestPacer
from tradelab.brokers.ib_config import IBConfig
from tradelab.errors import BrokerError

__all__ = [
    "ConnectionState",
    "IBConnection",
    "IBConnectionAttempt",
    "event_handler",
    "mask_account",
]

_log = logging.getLogger("tradelab.brokers.ib")

ConnectionState = Literal["disconnected", "connecting", "reconciling", "connected", "lost"]
_LOST = frozenset({1100, 2110})  # connectivity between TWS and IB's servers lost
_RESTORED = frozenset({1101, 1102})  # restored (1101: market data subscriptions lost)
_DATA_LOST = 1101


#: Logged (with the traceback) when one of our ib_async event handlers fails.
HANDLER_FAILED = "IB broker: handling an ib_async event failed"


def event_handler(method: Callable[..., None]) -> Callable[..., None]:
    """Log a failing ib_async event handler: eventkit would swallow its exception silently."""

    @functools.wraps(method)
    def handle(*args: Any) -> None:
        try:
            method(*args)
        except Exception:
            _log.exception("%s (%s)", HANDLER_FAILED, method.__qualname__)

    return handle


def mask_account(account: str) -> str:
    """An account code safe for logs and API answers: the first two and last three characters.

    Example:
        >>> mask_account("DU1234567")
        'DU…567'
    """
    return f"{account[:2]}…{account[-3:]}" if len(account) > 5 else "…"


@dataclass(frozen=True, slots=True)
class IBConnectionAttempt:
    """One attempt to connect to IB.

    Attributes:
        number: 1-based number within its connect or reconnect run (the backoff before it is
            ``IBConfig.backoff(number)``).
        started: ``time.monotonic()`` when the attempt began (after its backoff).
        error: Why it failed, ``""`` if it succeeded.
    """

    number: int
    started: float
    error: str = ""


class IBConnection:
    """Keeps one ib_async client connected to IB, reconciled, and checked.

    Args:
        ib: The client.
        config: Host, port, client id, account, timeouts, backoff.
        pacer: The message pacer (health checks wait on it).
        sync: ``sync(fetch, restart_streams)``: reconcile with IB (``fetch``: ask IB again,
            else use what ib_async loaded on connect) and (re)start the bar streams.
        went_down: Called when the socket is gone.
        announce: ``announce(connected, reason)``; the broker emits it once per change.
    """

    def __init__(
        self,
        ib: IB,
        config: IBConfig,
        pacer: RequestPacer,
        *,
        sync: Callable[[bool, bool], Awaitable[None]],
        went_down: Callable[[], None],
        announce: Callable[[bool, str], None],
    ) -> None:
        self._ib = ib
        self._config = config
        self._pacer = pacer
        self._sync = sync
        self._went_down = went_down
        self._announce = announce
        self.state: ConnectionState = "disconnected"
        self.account = ""
        self.attempts: deque[IBConnectionAttempt] = deque(maxlen=200)
        self._closing = False
        self._establishing = False
        self._drop_reason = ""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error

    # ------------------------------------------------------------------ state
    @property
    def live(self) -> bool:
        """Whether the socket is up (ib_async's cached views are current)."""
        return self.state in ("connected", "lost", "reconciling") and self._ib.isConnected()

    def describe(self) -> str:
        """The state in words, for error messages."""
        if self.state == "disconnected":
            task = self._tasks.get("reconnect")
            if task is not None and not task.done():
                return "not connected to IB (reconnecting)"
            return "not connected to IB; call connect() first"
        if self.state == "reconciling":
            return "reconciling orders, executions and positions with IB after a reconnect"
        if self.state == "lost":
            return "cut off: IB reports lost connectivity to its servers (error 1100/2110)"
        return f"{self.state} to IB"

    def require_ready(self, action: str) -> None:
        """Raise :class:`BrokerError` unless orders can be sent now."""
        if self.state != "connected":
            raise BrokerError(
                f"cannot {action}: the broker is {self.describe()}. Orders are "
                "accepted again once the connection is restored and reconciled"
            )

    def require_socket(self, action: str) -> None:
        """Raise :class:`BrokerError` unless requests can be sent now."""
        if not self.live:
            raise BrokerError(f"cannot {action}: the broker is {self.describe()}")

    def _spawn(self, name: str, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._tasks.get(name)
        if task is not None and not task.done():
            coroutine.close()
            return
        self._tasks[name] = asyncio.get_running_loop().create_task(
            coroutine, name=f"ib-broker-{name}"
        )

    # ------------------------------------------------------------------ connect, disconnect
    async def connect(self) -> None:
        """Connect with retries (or join a reconnect in progress), then check health."""
        if self.state == "connected":
            return
        self._closing = False
        task = self._tasks.get("reconnect")
        if task is not None and not task.done():
            await asyncio.shield(task)
        if self.state != "connected":
            await self._connect_with_retries("connected")
        self._spawn("health", self._health_loop())

    async def disconnect(self) -> None:
        """Stop reconnecting and health checks, and close the socket."""
        self._closing = True
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._ib.client.isConnected():
            self._ib.disconnect()
        self.state = "disconnected"
        self._went_down()
        self._announce(False, "disconnected")

    async def _connect_with_retries(self, reason: str) -> None:
        config = self._config
        error = ""
        attempt = 0
        while True:
            attempt += 1
            if config.max_attempts is not None and attempt > config.max_attempts:
                raise BrokerError(
                    f"could not connect to IB at {config.host}:{config.port} (client id "
                    f"{config.client_id}) in {config.max_attempts} attempt(s); last error: "
                    f"{error}. Check that TWS / IB Gateway runs with the API enabled on that "
                    "port and that no other client uses this client id"
                )
            delay = config.backoff(attempt)
            if delay:
                await asyncio.sleep(delay)
            if self._closing:
                raise BrokerError("disconnect() was called while connecting to IB")
            started = time.monotonic()
            try:
                await self._establish()
            except BrokerError:
                raise
            except Exception as exc:  # refused, timed out, dropped while reconciling
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                self.attempts.append(IBConnectionAttempt(attempt, started, error))
                _log.warning(
                    "IB connection attempt %d to %s:%d failed (%s); next in %.1f s",
                    attempt,
                    config.host,
                    config.port,
                    error,
                    config.backoff(attempt + 1),
                )
                continue
            self.attempts.append(IBConnectionAttempt(attempt, started))
            _log.info(
                "connected to IB at %s:%d as client %d, account %s",
                config.host,
                config.port,
                config.client_id,
                mask_account(self.account),
            )
            self._announce(True, reason)
            return

    async def _establish(self) -> None:
        """One attempt: connect, check the account, reconcile, restart the bar streams."""
        config = self._config
        ib = self._ib
        self._establishing = True
        try:
            if ib.client.isConnected():
                ib.disconnect()
            self.state = "connecting"
            self._went_down()
            await ib.connectAsync(
                config.host,
                config.port,
                clientId=config.client_id,
                timeout=config.connect_timeout,
                account=config.account or "",
                raiseSyncErrors=True,
            )
            accounts = ib.managedAccounts()
            if config.account and config.account not in accounts:
                raise BrokerError(
                    f"IB account {mask_account(config.account)} is not managed by this gateway "
                    f"(it manages {', '.join(map(mask_account, accounts)) or 'none'}); fix "
                    "IBConfig.account"
                )
            self.account = config.account or (accounts[0] if accounts else "")
            self.state = "reconciling"
            await self._sync(False, False)
            if not ib.isConnected():
                raise ConnectionError("the connection closed while reconciling")
            self.state = "connected"
        except BaseException:
            if ib.client.isConnected():
                ib.disconnect()
            self.state = "disconnected"
            self._went_down()
            raise
        finally:
            self._establishing = False

    # ------------------------------------------------------------------ faults
    def drop(self, reason: str) -> None:
        """Close the socket on purpose; the disconnect handler then reconnects."""
        if self._ib.client.isConnected():
            self._drop_reason = reason
            self._ib.disconnect()

    @event_handler
    def _on_disconnected(self) -> None:
        if self._closing or self._establishing:
            return
        reason, self._drop_reason = self._drop_reason or "the connection to IB closed", ""
        _log.warning("IB connection lost (%s); reconnecting", reason)
        self.state = "disconnected"
        self._went_down()
        self._announce(False, reason)
        self._spawn("reconnect", self._reconnect(reason))

    async def _reconnect(self, reason: str) -> None:
        try:
            await self._connect_with_retries(f"reconnected after: {reason}")
        except BrokerError as exc:
            _log.error("gave up reconnecting to IB: %s", exc)

    @event_handler
    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code in _LOST and self.state == "connected":
            _log.warning("IB error %d: %s; orders are refused until it is restored", code, message)
            self.state = "lost"
            self._announce(False, f"IB error {code}: {message}")
        elif code in _RESTORED and self.state in ("connected", "lost"):
            self._spawn("restore", self._restore(code, message))

    async def _restore(self, code: int, message: str) -> None:
        """After error 1101/1102: reconcile (and restart streams on 1101), then resume."""
        self.state = "reconciling"
        self._announce(False, f"IB error {code}: {message}; reconciling")
        try:
            await self._sync(True, code == _DATA_LOST)
        except Exception as exc:
            _log.warning("reconciling after IB error %d failed (%s); reconnecting", code, exc)
            self.drop(f"reconciling after IB error {code} failed: {exc}")
            return
        if self.state == "reconciling":
            self.state = "connected"
            self._announce(True, f"IB error {code}: {message}; reconciled")

    async def _health_loop(self) -> None:
        timeout = self._config.request_timeout
        while not self._closing:
            await asyncio.sleep(self._config.health_interval)
            if self.state not in ("connected", "lost") or self._establishing:
                continue
            try:
                await self._pacer.acquire()
                await asyncio.wait_for(self._ib.reqCurrentTimeAsync(), timeout)
            except Exception as exc:
                if self.state in ("connected", "lost"):
                    _log.warning("IB health check failed (%s: %s)", type(exc).__name__, exc)
                    self.drop(f"health check: no answer to reqCurrentTime within {timeout} s")
