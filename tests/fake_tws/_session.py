"""One client connection to the fake gateway, and the record of what clients sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.fake_tws._wire import Field, encode_message


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message a client sent to the fake.

    Attributes:
        msg_id: The request's message id (e.g. 3 = placeOrder, 20 = reqHistoricalData).
        fields: All fields as text, message id first.
        client_id: The sender's API client id (None before startApi).
        connection: Sequence number of the connection it came on (1 = first).
        time: ``time.monotonic()`` when it arrived, for pacing checks.
    """

    msg_id: int
    fields: tuple[str, ...]
    client_id: int | None
    connection: int
    time: float


@dataclass(eq=False)
class Session:
    """Server side of one API connection: its negotiated version and subscriptions."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int
    version: int = 0
    client_id: int | None = None
    closed: bool = False
    positions_subscribed: bool = False
    account_updates: bool = False
    realtime_bars: dict[int, str] = field(default_factory=dict)
    market_data: dict[int, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Handshake and startApi done."""
        return self.client_id is not None and not self.closed

    def send(self, fields: Sequence[Field]) -> None:
        """Write one framed message (dropped silently once the connection is closing)."""
        if self.closed or self.writer.is_closing():
            return
        self.writer.write(encode_message(fields))

    def abort(self) -> None:
        """Close abruptly (RST), as a crashed or restarting gateway would."""
        self.closed = True
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def close(self) -> None:
        """Close politely."""
        self.closed = True
        if not self.writer.is_closing():
            self.writer.close()
