"""TWS socket framing: length-prefixed messages of NUL-terminated text fields.

Every message on the wire is a 4-byte big-endian length followed by that many bytes of
fields, each ending in ``\\0``. The client opens with the raw bytes ``API\\0`` and then one
length-prefixed version string such as ``v157..178``.
"""

from __future__ import annotations

import asyncio
import math
import struct
import sys
from collections.abc import Sequence

UNSET_DOUBLE = sys.float_info.max
"""IB's "no value" double, as ib_async (``util.UNSET_DOUBLE``) understands it."""
UNSET_INTEGER = 2**31 - 1
"""IB's "no value" integer (``util.UNSET_INTEGER``)."""
MAX_FRAME_BYTES = 16 * 1024 * 1024

Field = str | int | float | bool | None


class ProtocolError(Exception):
    """A client message the fake cannot read: wrong field count, bad number, bad framing."""


def format_field(value: Field) -> str:
    """Format one field the way TWS does: None → empty, bools → 1/0, numbers → text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "Infinite" if value == math.inf else repr(value)
    return str(value)


def encode_message(fields: Sequence[Field]) -> bytes:
    """Frame one message: length prefix, then each field followed by NUL."""
    payload = "".join(format_field(field) + "\0" for field in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def decode_fields(payload: bytes) -> list[str]:
    """Split a message payload into its text fields (the trailing NUL ends the last one)."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """Read one length-prefixed payload; raise ``asyncio.IncompleteReadError`` on EOF."""
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    return await reader.readexactly(size)


class FieldReader:
    """Reads the fields of one client message in order, failing loudly when they run out.

    Args:
        fields: The message fields, message id first.
        name: The request's name, used in error messages.
    """

    def __init__(self, fields: Sequence[str], name: str) -> None:
        self._fields = list(fields)
        self._position = 0
        self.name = name

    @property
    def remaining(self) -> int:
        """Number of fields not read yet."""
        return len(self._fields) - self._position

    def text(self) -> str:
        """The next field as text."""
        if self._position >= len(self._fields):
            raise ProtocolError(
                f"{self.name}: message ended after {len(self._fields)} fields, "
                f"field {self._position} expected; fields={self._fields!r}"
            )
        value = self._fields[self._position]
        self._position += 1
        return value

    def integer(self, default: int = 0) -> int:
        """The next field as an int (empty → ``default``)."""
        value = self.text()
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ProtocolError(
                f"{self.name}: field {self._position - 1} should be an integer, got {value!r}"
            ) from None

    def number(self, default: float | None = None) -> float | None:
        """The next field as a float (empty → ``default``; ``Infinite`` → inf)."""
        value = self.text()
        if value == "":
            return default
        if value == "Infinite":
            return math.inf
        try:
            return float(value)
        except ValueError:
            raise ProtocolError(
                f"{self.name}: field {self._position - 1} should be a number, got {value!r}"
            ) from None

    def flag(self) -> bool:
        """The next field as a bool (``1``/``0``, empty → False)."""
        return self.integer(0) != 0

    def skip(self, count: int) -> None:
        """Skip ``count`` fields (they must exist)."""
        for _ in range(count):
            self.text()

    def expect_end(self) -> None:
        """Fail if fields are left over: the fake and the client disagree on the layout."""
        if self.remaining:
            raise ProtocolError(
                f"{self.name}: {self.remaining} unexpected trailing field(s) "
                f"{self._fields[self._position :]!r}; fields={self._fields!r}"
            )
