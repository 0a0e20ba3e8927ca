"""Pytest fixtures for tests that run the real ib_async client against ``FakeTWS``.

Import them into a conftest: ``from tests.fake_tws.fixtures import *  # noqa: F403``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fake_tws.guard import IBDecodeGuard
from tests.fake_tws.server import FakeTWS

__all__ = ["fake_tws", "fake_tws_factory", "ib_decode_guard"]


@pytest.fixture
def ib_decode_guard() -> Iterator[IBDecodeGuard]:
    """Fail the test when ib_async logs a message it could not decode."""
    guard = IBDecodeGuard().install()
    try:
        yield guard
    finally:
        guard.uninstall()
    if guard.problems:
        pytest.fail(
            "ib_async could not decode message(s) from the fake TWS:\n  "
            + "\n  ".join(guard.problems)
        )


@pytest.fixture
def fake_tws_factory(ib_decode_guard: IBDecodeGuard) -> Iterator[Callable[..., FakeTWS]]:
    """Start ``FakeTWS(**options)`` instances; stops them and fails the test if any could not
    read a client request."""
    started: list[FakeTWS] = []

    def make(**options: Any) -> FakeTWS:
        fake = FakeTWS(**options).start()
        started.append(fake)
        return fake

    yield make
    errors: list[str] = []
    for fake in started:
        errors += fake.protocol_errors
        fake.stop()
    if errors:
        pytest.fail("the fake TWS could not read client request(s):\n  " + "\n  ".join(errors))


@pytest.fixture
def fake_tws(fake_tws_factory: Callable[..., FakeTWS]) -> FakeTWS:
    """A running ``FakeTWS`` with the default symbols AAA, BBB, CCC at 100.0."""
    return fake_tws_factory()
