from __future__ import annotations

import pandas as pd
import pytest

from tradelab.data import generate_bars

HALF_DAYS = ("2024-07-03", "2024-11-29", "2024-12-24")


@pytest.fixture(scope="session")
def five_minute_bars() -> pd.DataFrame:
    """Seven months of 5-minute SYNTHETIC bars on NYSE sessions (three half days)."""
    return generate_bars(
        "AAA", start="2024-06-01", end="2024-12-31", bar_size="5m", seed=3, calendar="XNYS"
    )
