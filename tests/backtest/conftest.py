from __future__ import annotations

import pytest

from tradelab.data import generate_bars


@pytest.fixture(scope="session")
def daily_bars():
    """Five years of synthetic daily bars for AAA (seeded)."""
    return generate_bars("AAA", start="2015-01-01", end="2019-12-31", seed=7)


@pytest.fixture(scope="session")
def universe():
    return {s: generate_bars(s, start="2015-01-01", end="2019-12-31", seed=7)
            for s in ("AAA", "BBB", "CCC", "DDD")}
