"""Synthetic bars: determinism, OHLC consistency, calendars, regimes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelab.data import (
    BAR_COLUMNS,
    REGIMES,
    SyntheticConfig,
    bar_timestamps,
    check_quality,
    generate_bars,
    generate_regimes,
    generate_universe,
    to_canonical,
)
from tradelab.errors import ConfigError

TEN_YEARS = {"start": "2015-01-01", "end": "2024-12-31"}


def test_same_inputs_give_an_identical_frame():
    first = generate_bars("AAPL", **TEN_YEARS, seed=42)
    second = generate_bars("AAPL", **TEN_YEARS, seed=42)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_different_symbols_with_the_same_seed_differ():
    a = generate_bars("AAPL", **TEN_YEARS, seed=42)
    b = generate_bars("MSFT", **TEN_YEARS, seed=42)
    assert a.index.equals(b.index)
    assert not np.allclose(a["close"].to_numpy(), b["close"].to_numpy())


def test_different_seeds_differ_and_symbol_case_does_not_matter():
    base = generate_bars("spy", start="2024-01-01", end="2024-06-30", seed=1)
    upper = generate_bars("SPY", start="2024-01-01", end="2024-06-30", seed=1)
    other = generate_bars("SPY", start="2024-01-01", end="2024-06-30", seed=2)
    pd.testing.assert_frame_equal(base, upper)
    assert not base["close"].equals(other["close"])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    bar_size=st.sampled_from(["1d", "1w", "1h", "5m"]),
    high_volatility=st.floats(min_value=0.2, max_value=1.5),
)
def test_ohlc_is_consistent_and_positive_for_any_seed(seed, bar_size, high_volatility):
    config = SyntheticConfig(high_volatility=high_volatility, mean_regime_bars=5)
    bars = generate_bars(
        "PROP", start="2024-01-01", end="2024-03-31", bar_size=bar_size, seed=seed, config=config
    )
    o, h, low, c, v = (bars[k].to_numpy() for k in BAR_COLUMNS)
    assert (h >= np.maximum(o, c)).all()
    assert (low <= np.minimum(o, c)).all()
    assert (low > 0).all()
    assert (v >= 1).all() and (v == np.round(v)).all()
    assert not bars.isna().any().any()
    pd.testing.assert_frame_equal(bars, to_canonical(bars))
    assert check_quality(bars, bar_size=bar_size).ok


def test_daily_bars_fall_on_business_days_at_midnight_utc():
    bars = generate_bars("X", start="2024-01-01", end="2024-01-31", seed=0)
    assert len(bars) == 23
    assert (bars.index.day_of_week < 5).all()
    assert (bars.index == bars.index.normalize()).all()
    assert str(bars.index.tz) == "UTC"


def test_intraday_bars_cover_the_new_york_session_on_both_sides_of_dst():
    bars = generate_bars("X", start="2024-03-08", end="2024-03-11", bar_size="5m", seed=0)
    local = bars.index.tz_convert("America/New_York")
    assert len(bars) == 2 * 78  # Friday and Monday, 09:30..15:55
    assert set(local.strftime("%H:%M")) == {
        f"{m // 60:02d}:{m % 60:02d}" for m in range(570, 960, 5)
    }
    opens = bars.index[local.strftime("%H:%M") == "09:30"]
    assert [t.strftime("%H:%M") for t in opens] == ["14:30", "13:30"]  # EST, then EDT


def test_hourly_bars_start_at_the_open_and_stop_before_the_close():
    stamps = bar_timestamps(start="2024-01-02", end="2024-01-02", bar_size="1h")
    local = stamps.tz_convert("America/New_York").strftime("%H:%M")
    assert list(local) == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]


def test_weekly_bars_are_labelled_by_their_monday():
    bars = generate_bars("X", start="2024-01-01", end="2024-03-31", bar_size="1w", seed=0)
    assert (bars.index.day_of_week == 0).all()
    assert len(bars) == 13


def test_regimes_align_with_bars_and_all_four_occur_over_ten_years():
    regimes = generate_regimes("AAPL", **TEN_YEARS, seed=42)
    bars = generate_bars("AAPL", **TEN_YEARS, seed=42)
    assert regimes.index.equals(bars.index)
    assert regimes.name == "regime"
    assert list(regimes.cat.categories) == list(REGIMES)
    assert set(regimes.unique()) == set(REGIMES)


def test_high_volatility_regimes_have_higher_realised_volatility():
    config = SyntheticConfig(low_volatility=0.10, high_volatility=0.40)
    bars = generate_bars("VOL", **TEN_YEARS, seed=5, config=config)
    regimes = generate_regimes("VOL", **TEN_YEARS, seed=5, config=config)
    returns = np.log(bars["close"]).diff().to_numpy()[1:]
    turbulent = regimes.astype(str).str.endswith("high_vol").to_numpy()[1:]
    low, high = returns[~turbulent].std() * np.sqrt(252), returns[turbulent].std() * np.sqrt(252)
    assert 0.07 < low < 0.15 and 0.30 < high < 0.55


def test_regime_drifts_follow_the_configured_signs():
    config = SyntheticConfig(
        bull_drift=0.5, bear_drift=-0.5, low_volatility=0.05, high_volatility=0.06
    )
    bars = generate_bars("DRIFT", **TEN_YEARS, seed=9, config=config)
    regimes = generate_regimes("DRIFT", **TEN_YEARS, seed=9, config=config)
    returns = np.log(bars["close"]).diff().to_numpy()[1:]
    bull = regimes.astype(str).str.startswith("bull").to_numpy()[1:]
    assert returns[bull].mean() > 0 > returns[~bull].mean()


def test_universe_matches_single_symbol_generation():
    universe = generate_universe(
        ["AAA", "BBB", "CCC"], start="2024-01-01", end="2024-12-31", seed=11
    )
    assert list(universe) == ["AAA", "BBB", "CCC"]
    pd.testing.assert_frame_equal(
        universe["BBB"], generate_bars("BBB", start="2024-01-01", end="2024-12-31", seed=11)
    )
    assert not universe["AAA"]["close"].equals(universe["CCC"]["close"])


def test_universe_with_duplicate_symbols_is_refused():
    with pytest.raises(ConfigError, match="appears twice"):
        generate_universe(["AAA", "aaa"], start="2024-01-01", end="2024-02-01", seed=1)


def test_config_start_price_and_volume_base_are_used():
    config = SyntheticConfig(start_price=50.0, volume_base=10_000.0)
    bars = generate_bars("X", start="2024-01-01", end="2024-12-31", seed=3, config=config)
    assert 45 < bars["open"].iloc[0] < 55
    assert 5_000 < bars["volume"].median() < 30_000


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"start": "2024-02-01", "end": "2024-01-01"}, "is after end"),
        ({"high_volatility": -0.1}, "high_volatility must be a positive number"),
        ({"bull_probability": 1.5}, "bull_probability must be between 0 and 1"),
        ({"mean_regime_bars": 0.5}, "mean_regime_bars must be >= 1"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"bar_size": "2d"}, "unknown bar size '2d'"),
    ],
)
def test_invalid_config_raises_config_error_naming_the_setting(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SyntheticConfig(**kwargs)


def test_range_without_business_days_raises_config_error():
    with pytest.raises(ConfigError, match="no 1d bars"):
        generate_bars("X", start="2024-01-06", end="2024-01-07", seed=1)  # a weekend


def test_config_from_dict_round_trips_and_rejects_unknown_keys_with_suggestion():
    config = SyntheticConfig(start="2020-01-01", end="2020-12-31", seed=4, bull_drift=0.1)
    assert SyntheticConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown synthetic setting 'bull_drfit'.*'bull_drift'"):
        SyntheticConfig.from_dict({"bull_drfit": 0.1})
