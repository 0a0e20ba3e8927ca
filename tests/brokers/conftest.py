"""Fixtures for broker tests: the wire-level fake TWS and the ib_async decode-error guard."""

from __future__ import annotations

from tests.fake_tws.fixtures import fake_tws, fake_tws_factory, ib_decode_guard

__all__ = ["fake_tws", "fake_tws_factory", "ib_decode_guard"]
