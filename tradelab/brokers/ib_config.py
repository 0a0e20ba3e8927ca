"""IBConfig: how to reach IB Gateway / TWS, and the pacing IB imposes (no ib_async import)."""

from __future__ import annotations

from dataclasses import dataclass

from tradelab.errors import ConfigError

__all__ = ["IB_PORTS", "IBConfig"]

#: IB's default API ports.
IB_PORTS = {"gateway-live": 4001, "gateway-paper": 4002, "tws-live": 7496, "tws-paper": 7497}


@dataclass(frozen=True, kw_only=True, slots=True)
class IBConfig:
    """Connection and pacing settings of the IB broker and the IB historical download.

    Attributes:
        host: Gateway host; 127.0.0.1 unless the gateway runs elsewhere.
        port: API port: Gateway live 4001, paper 4002; TWS live 7496, paper 7497.
        client_id: API client id (each connection to one gateway needs its own).
        account: Account to trade (``None``: the first managed account).
        connect_timeout: Seconds one connection attempt may take.
        backoff_initial: First wait between connection attempts, seconds (then 2x, 4x, ...).
        backoff_max: Longest wait between attempts, seconds.
        max_attempts: Connection attempts before giving up (``None``: keep trying).
        health_interval: Seconds between health checks of a live connection.
        messages_per_second: Most API messages per second (IB's limit is 50).
        historical_requests: Most historical-data requests per ``historical_window`` seconds
            (IB's pacing rule: 60 per 10 minutes).
        historical_window: The pacing window, seconds.
        request_timeout: Seconds to wait for one answer (orders, history, contract details).

    Example:
        >>> IBConfig(port=IB_PORTS["tws-paper"]).port
        7497
    """

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account: str | None = None
    connect_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_attempts: int | None = None
    health_interval: float = 5.0
    messages_per_second: float = 50.0
    historical_requests: int = 60
    historical_window: float = 600.0
    request_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError(f"IBConfig.host must be a host name, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or \
                not 1 <= self.port <= 65535:
            raise ConfigError(f"IBConfig.port must be 1-65535, got {self.port!r}; IB's defaults "
                              f"are {', '.join(f'{k} {v}' for k, v in IB_PORTS.items())}")
        if isinstance(self.client_id, bool) or not isinstance(self.client_id, int) or \
                self.client_id < 0:
            raise ConfigError(f"IBConfig.client_id must be an integer >= 0, got "
                              f"{self.client_id!r}")
        for name in ("connect_timeout", "backoff_initial", "backoff_max", "health_interval",
                     "messages_per_second", "historical_window", "request_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"IBConfig.{name} must be > 0, got {value!r}")
        if self.backoff_max < self.backoff_initial:
            raise ConfigError(f"IBConfig.backoff_max ({self.backoff_max}) must be >= "
                              f"backoff_initial ({self.backoff_initial})")
        for name in ("max_attempts", "historical_requests"):
            value = getattr(self, name)
            if value is None and name == "max_attempts":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"IBConfig.{name} must be a whole number >= 1, got {value!r}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before connection attempt ``attempt`` (1-based; 0 before the first).

        Example:
            >>> [IBConfig(backoff_max=4).backoff(n) for n in range(1, 6)]
            [0.0, 1.0, 2.0, 4.0, 4.0]
        """
        if attempt <= 1:
            return 0.0
        return float(min(self.backoff_initial * 2 ** (attempt - 2), self.backoff_max))
