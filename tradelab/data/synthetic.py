"""Synthetic bars: seeded geometric Brownian motion with Markov regime switching.

Demo data in tradelab is synthetic, and says so wherever it is shown (the store records its source
as ``"synthetic"``).

The model, per bar of length ``dt`` years (1/252 for daily bars, 5/252 weekly, and
``minutes / 390 / 252`` intraday):

* **Regimes.** Four regimes, :data:`REGIMES`: bull or bear drift crossed with low or high
  volatility. Regimes are drawn at random times, a geometric number of bars apart with mean
  ``mean_regime_bars``; each draw picks bull with ``bull_probability``, then high volatility with
  ``bull_high_volatility_probability`` or ``bear_high_volatility_probability`` (bear markets are
  more often turbulent). A draw may repeat the current regime, so these probabilities are exactly
  the long-run shares of time, and a regime drawn often lasts longer on average
  (``mean_regime_bars / (1 - its probability)``). With the defaults every regime has a share of at
  least 12.5 %, so ten years of daily bars almost always show all four.
* **Prices.** ``log close`` follows GBM: ``r = (mu - sigma**2 / 2) dt + sigma sqrt(dt) Z``. The
  open is the previous close moved by a small gap (0.2 × the bar's standard deviation); high and
  low extend ``max/min(open, close)`` by half-normal wicks (0.5 × the standard deviation).
  Prices are rounded to 4 decimals and never fall below 0.0001, so ``high >= max(open, close)``,
  ``low <= min(open, close)`` and all prices > 0 always hold.
* **Volume.** ``volume_base`` shares per session day, spread over the intraday bars with a
  U-shape, higher in high-volatility regimes and on large moves, lognormal noise; whole numbers
  >= 1 (stored as float64).
* **Calendar.** Without an exchange calendar (``calendar=None``, the default): daily bars on
  Monday–Friday (no holidays), stamped at midnight UTC of the session date; weekly bars on the
  Mondays in range; intraday bars every ``bar_size`` from 09:30 to 16:00 America/New_York (the
  last bar starts before 16:00) on business days, converted to UTC. With an exchange calendar
  (``calendar="XNYS"``, from :mod:`tradelab.calendar`): the exchange's real sessions only — no
  bars on holidays — daily bars on session dates, weekly bars on the Mondays of weeks that have a
  session, and intraday bars every ``bar_size`` from each session's open to its close (the last
  bar starts before the close: 12:55 for 5-minute bars on a 13:00 half day). On a half day the
  intraday volume U-shape is squeezed into the shorter session, so the day trades fewer shares.

Each symbol draws from its own random stream, seeded by ``(seed, zlib.crc32(SYMBOL))`` — stable
across processes and Python versions, and case-insensitive in the symbol.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradelab.data.bars import BAR_COLUMNS, BarSize, parse_bar_size
from tradelab.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from tradelab.calendar import Session

__all__ = [
    "REGIMES",
    "SyntheticConfig",
    "bar_timestamps",
    "generate_bars",
    "generate_regimes",
    "generate_universe",
]

DateLike = str | date | datetime | pd.Timestamp

REGIMES: tuple[str, ...] = ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol")
"""Regime labels; code ``k`` is bear when ``k >= 2`` and high volatility when ``k`` is odd."""

_SESSION_TZ = "America/New_York"
_SESSION_OPEN_MINUTE = 9 * 60 + 30
_SESSION_CLOSE_MINUTE = 16 * 60
_TRADING_DAYS = 252.0
_GAP_SCALE = 0.2
_WICK_SCALE = 0.5
_PRICE_FLOOR = 1e-4


def _to_day(value: DateLike, *, name: str) -> pd.Timestamp:
    """A date-like value as a naive midnight Timestamp (zoned values are taken in UTC)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{name} must be a date such as '2024-01-31'; got {value!r} ({exc})."
        ) from exc
    if stamp is pd.NaT:
        raise ConfigError(f"{name} must be a date such as '2024-01-31'; got {value!r}.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()


@dataclass(frozen=True, kw_only=True, slots=True)
class SyntheticConfig:
    """Settings of the synthetic market (see the module docstring for the model).

    Attributes:
        start: First session date (inclusive).
        end: Last session date (inclusive).
        bar_size: ``"1d"``, ``"1w"`` or an intraday size such as ``"5m"``.
        seed: Non-negative integer seed; each symbol derives its own stream from it.
        start_price: Price before the first bar.
        bull_drift: Annual drift in bull regimes (0.15 = +15 %/year).
        bear_drift: Annual drift in bear regimes.
        low_volatility: Annual volatility in calm regimes (0.12 = 12 %).
        high_volatility: Annual volatility in turbulent regimes.
        bull_probability: Chance that a regime draw is bull (= long-run share of bull time).
        bull_high_volatility_probability: Chance that a bull draw is high-volatility.
        bear_high_volatility_probability: Chance that a bear draw is high-volatility.
        mean_regime_bars: Mean number of bars between regime draws (>= 1).
        volume_base: Mean shares traded per session day in a calm regime.
        calendar: An exchange calendar (``"XNYS"``, see :mod:`tradelab.calendar`) whose sessions
            the bars follow — no holidays, intraday bars from open to close, half days end
            early — or ``None`` (default) for the plain Monday–Friday 09:30–16:00 New York grid.
            The same seed gives different bars with and without a calendar.
    """

    start: DateLike = "2015-01-01"
    end: DateLike = "2024-12-31"
    bar_size: str = "1d"
    seed: int = 0
    start_price: float = 100.0
    bull_drift: float = 0.15
    bear_drift: float = -0.20
    low_volatility: float = 0.12
    high_volatility: float = 0.35
    bull_probability: float = 0.75
    bull_high_volatility_probability: float = 0.2
    bear_high_volatility_probability: float = 0.5
    mean_regime_bars: float = 63.0
    volume_base: float = 1_000_000.0
    calendar: str | None = None

    def __post_init__(self) -> None:
        start, end = _to_day(self.start, name="start"), _to_day(self.end, name="end")
        if start > end:
            raise ConfigError(
                f"start {start.date()} is after end {end.date()}; swap them or widen the range."
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "bar_size", parse_bar_size(self.bar_size).text)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ConfigError(f"seed must be a non-negative integer; got {self.seed!r}.")
        if self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer; got {self.seed}.")
        object.__setattr__(self, "seed", int(self.seed))
        positive = ("start_price", "low_volatility", "high_volatility", "volume_base")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number; got {value!r}.")
        for name in ("bull_drift", "bear_drift"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ConfigError(
                    f"{name} must be a finite number (0.15 = +15 %/year); got {value!r}."
                )
        for name in (
            "bull_probability",
            "bull_high_volatility_probability",
            "bear_high_volatility_probability",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name} must be between 0 and 1; got {value!r}.")
        if not (isinstance(self.mean_regime_bars, int | float) and self.mean_regime_bars >= 1):
            raise ConfigError(
                f"mean_regime_bars must be >= 1 (a regime lasts at least one bar); "
                f"got {self.mean_regime_bars!r}."
            )
        if self.calendar is not None:
            object.__setattr__(self, "calendar", _check_calendar(self.calendar))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticConfig:
        """Build a config from a mapping (e.g. loaded from YAML or JSON).

        Raises:
            UnknownNameError: for a key that is not a setting (with a "did you mean").
            ConfigError: for an invalid value.

        Example:
            >>> SyntheticConfig.from_dict({"seed": 3, "bull_drift": 0.1}).bull_drift
            0.1
        """
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise UnknownNameError("synthetic setting", str(key), known)
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (dates as ISO strings); :meth:`from_dict` inverts it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["start"], out["end"] = self.start.date().isoformat(), self.end.date().isoformat()
        return out


def _check_calendar(name: object) -> str:
    """An exchange calendar name, validated (unknown names get a "did you mean")."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"calendar must be an exchange calendar name such as 'XNYS', or None; got {name!r}."
        )
    from tradelab.calendar import market_calendar

    return market_calendar(name.strip()).exchange


def _sessions(first: pd.Timestamp, last: pd.Timestamp, calendar: str) -> list[Session]:
    from tradelab.calendar import market_calendar

    return market_calendar(calendar).sessions(first, last)


def _session_grid(
    sessions: list[Session], size: BarSize
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Intraday bar starts from each session's open to its close, with each bar's position in its
    session and its session's bar count."""
    step = int(size.timedelta.total_seconds()) * 10**9
    opens = np.array([pd.Timestamp(s.open).value for s in sessions], dtype=np.int64)
    closes = np.array([pd.Timestamp(s.close).value for s in sessions], dtype=np.int64)
    counts = np.maximum(-((opens - closes) // step), 0)  # ceil((close - open) / step)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    position = np.arange(int(counts.sum()), dtype=np.int64) - starts
    stamps = np.repeat(opens, counts) + position * step
    index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ns", utc=True), name="timestamp")
    return index.as_unit("ns"), position, np.repeat(counts, counts)


def _calendar_timestamps(
    first: pd.Timestamp, last: pd.Timestamp, size: BarSize, calendar: str
) -> pd.DatetimeIndex:
    sessions = _sessions(first, last, calendar)
    if size.is_intraday:
        return _session_grid(sessions, size)[0]
    days = pd.DatetimeIndex([pd.Timestamp(s.day) for s in sessions])
    if size.text == "1w":
        days = (days - pd.to_timedelta(days.dayofweek, unit="D")).unique()
    return pd.DatetimeIndex(days.tz_localize("UTC").as_unit("ns"), name="timestamp", freq=None)


def bar_timestamps(
    *,
    start: DateLike,
    end: DateLike,
    bar_size: str | BarSize = "1d",
    calendar: str | None = None,
) -> pd.DatetimeIndex:
    """The bar timestamps of the synthetic calendar (see the module docstring).

    Args:
        start: First session date (inclusive).
        end: Last session date (inclusive).
        bar_size: The bar size.
        calendar: An exchange calendar such as ``"XNYS"`` (real sessions, holidays and half
            days), or ``None`` for the plain Monday–Friday grid.

    Example:
        >>> len(bar_timestamps(start="2024-01-01", end="2024-01-05", bar_size="1h"))
        35
        >>> len(bar_timestamps(start="2024-01-01", end="2024-01-05", bar_size="1h",
        ...                    calendar="XNYS"))  # New Year's Day is a holiday
        28
    """
    size = parse_bar_size(bar_size)
    first, last = _to_day(start, name="start"), _to_day(end, name="end")
    if calendar is not None:
        return _calendar_timestamps(first, last, size, _check_calendar(calendar))
    if size.text == "1w":
        naive = pd.date_range(first, last, freq="W-MON")
    else:
        days = pd.bdate_range(first, last)
        if not size.is_intraday:
            naive = days
        else:
            step = int(size.minutes)
            offsets = np.arange(_SESSION_OPEN_MINUTE, _SESSION_CLOSE_MINUTE, step)
            grid = days.to_numpy().astype("datetime64[m]")[:, None] + offsets.astype(
                "timedelta64[m]"
            )
            local = pd.DatetimeIndex(grid.ravel()).tz_localize(_SESSION_TZ)
            return pd.DatetimeIndex(
                local.tz_convert("UTC").as_unit("ns"), name="timestamp", freq=None
            )
    return pd.DatetimeIndex(naive.tz_localize("UTC").as_unit("ns"), name="timestamp", freq=None)


def _symbol_rng(symbol: str, seed: int) -> np.random.Generator:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ConfigError(f"symbol must be a non-empty string; got {symbol!r}.")
    key = zlib.crc32(symbol.strip().upper().encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def _regime_path(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """Regime code per bar (indexes into REGIMES)."""
    p_draw = 1.0 / float(config.mean_regime_bars)
    bull = config.bull_probability
    bull_high = config.bull_high_volatility_probability
    bear_high = config.bear_high_volatility_probability
    weights = np.array(
        [
            bull * (1 - bull_high),
            bull * bull_high,
            (1 - bull) * (1 - bear_high),
            (1 - bull) * bear_high,
        ]
    )
    durations = rng.geometric(p_draw, size=int(n * p_draw * 1.5) + 8)
    while durations.sum() < n:
        durations = np.concatenate([durations, rng.geometric(p_draw, size=len(durations))])
    count = int(np.searchsorted(np.cumsum(durations), n)) + 1
    durations = durations[:count]
    cumulative = np.cumsum(weights) / weights.sum()
    codes = np.minimum(np.searchsorted(cumulative, rng.random(count), side="right"), 3)
    return np.repeat(codes.astype(np.int8), durations)[:n]


def _years_per_bar(size: BarSize) -> float:
    if size.text == "1w":
        return 5.0 / _TRADING_DAYS
    if not size.is_intraday:
        return 1.0 / _TRADING_DAYS
    return size.minutes / (_SESSION_CLOSE_MINUTE - _SESSION_OPEN_MINUTE) / _TRADING_DAYS


def _volume_shape(size: BarSize, n: int) -> tuple[np.ndarray, float]:
    """(relative intraday volume per bar, bars per session day)."""
    if size.text == "1w":
        return np.ones(n), 0.2
    if not size.is_intraday:
        return np.ones(n), 1.0
    slots = len(np.arange(_SESSION_OPEN_MINUTE, _SESSION_CLOSE_MINUTE, int(size.minutes)))
    x = (np.arange(slots) + 0.5) / slots
    shape = 1.0 + 1.5 * (2.0 * x - 1.0) ** 2
    shape /= shape.mean()
    return np.tile(shape, n // slots + 1)[:n], float(slots)


def _session_volume_shape(size: BarSize, position: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The U-shape of :func:`_volume_shape` fitted to each bar's own session length (the same
    values on a full session, squeezed into a half day)."""
    slots = len(np.arange(_SESSION_OPEN_MINUTE, _SESSION_CLOSE_MINUTE, int(size.minutes)))
    x_full = (np.arange(slots) + 0.5) / slots
    norm = (1.0 + 1.5 * (2.0 * x_full - 1.0) ** 2).mean()
    x = (position + 0.5) / np.maximum(count, 1)
    return (1.0 + 1.5 * (2.0 * x - 1.0) ** 2) / norm


def _simulate(symbol: str, config: SyntheticConfig) -> tuple[pd.DataFrame, pd.Series]:
    size = parse_bar_size(config.bar_size)
    session_shape: np.ndarray | None = None
    if config.calendar is not None and size.is_intraday:
        sessions = _sessions(config.start, config.end, config.calendar)
        index, position, count = _session_grid(sessions, size)
        session_shape = _session_volume_shape(size, position, count)
    else:
        index = bar_timestamps(
            start=config.start, end=config.end, bar_size=size, calendar=config.calendar
        )
    n = len(index)
    if n == 0:
        what = f"no {config.calendar} session" if config.calendar is not None else "no business day"
        raise ConfigError(
            f"no {size.text} bars between {config.start.date()} and {config.end.date()} "
            f"({what} in range); widen the range."
        )
    rng = _symbol_rng(symbol, config.seed)
    codes = _regime_path(rng, n, config)
    bear, turbulent = codes >= 2, (codes % 2) == 1
    mu = np.where(bear, config.bear_drift, config.bull_drift)
    sigma = np.where(turbulent, config.high_volatility, config.low_volatility)
    dt = _years_per_bar(size)
    sd = sigma * math.sqrt(dt)
    shocks = rng.standard_normal((5, n))

    log_start = math.log(config.start_price)
    log_close = log_start + np.cumsum((mu - 0.5 * sigma**2) * dt + sd * shocks[0])
    log_prev = np.concatenate(([log_start], log_close[:-1]))
    log_open = log_prev + _GAP_SCALE * sd * shocks[1]
    top = np.maximum(log_open, log_close) + _WICK_SCALE * sd * np.abs(shocks[2])
    bottom = np.minimum(log_open, log_close) - _WICK_SCALE * sd * np.abs(shocks[3])

    def price(log_values: np.ndarray) -> np.ndarray:
        # rounding and flooring are monotone, so the OHLC ordering survives them
        return np.maximum(np.round(np.exp(log_values), 4), _PRICE_FLOOR)

    shape, bars_per_day = _volume_shape(size, n)
    if session_shape is not None:
        shape = session_shape
    activity = np.sqrt(sigma / config.low_volatility) * (1.0 + 0.5 * np.abs(shocks[0]))
    noise = np.exp(0.25 * shocks[4] - 0.03125)
    volume = np.maximum(np.rint(config.volume_base / bars_per_day * shape * activity * noise), 1.0)

    bars = pd.DataFrame(
        {
            "open": price(log_open),
            "high": price(top),
            "low": price(bottom),
            "close": price(log_close),
            "volume": volume.astype(np.float64),
        },
        index=index,
        columns=list(BAR_COLUMNS),
    )
    regimes = pd.Series(
        pd.Categorical.from_codes(codes, categories=list(REGIMES)), index=index, name="regime"
    )
    return bars, regimes


def _config(
    config: SyntheticConfig | None,
    *,
    start: DateLike,
    end: DateLike,
    bar_size: str | BarSize,
    seed: int,
    calendar: str | None = None,
) -> SyntheticConfig:
    if config is not None and not isinstance(config, SyntheticConfig):
        raise ConfigError(f"config must be a SyntheticConfig; got {type(config).__name__}.")
    base = config or SyntheticConfig()
    changes: dict[str, Any] = {"calendar": calendar} if calendar is not None else {}
    return replace(
        base, start=start, end=end, bar_size=parse_bar_size(bar_size).text, seed=seed, **changes
    )


def generate_bars(
    symbol: str,
    *,
    start: DateLike,
    end: DateLike,
    bar_size: str | BarSize = "1d",
    seed: int,
    config: SyntheticConfig | None = None,
    calendar: str | None = None,
) -> pd.DataFrame:
    """Generate canonical synthetic bars for one symbol.

    Args:
        symbol: The symbol; it selects the random stream, so symbols differ for one seed.
        start: First session date (inclusive).
        end: Last session date (inclusive).
        bar_size: ``"1d"``, ``"1w"`` or an intraday size such as ``"5m"``.
        seed: Non-negative integer seed.
        config: Model parameters. Its ``start``, ``end``, ``bar_size`` and ``seed`` are replaced
            by the arguments above.
        calendar: An exchange calendar such as ``"XNYS"``: bars only in its sessions (no
            holidays; intraday bars from the open to the close, 13:00 on half days). ``None``
            keeps the config's (by default the plain Monday–Friday grid).

    Returns:
        Canonical bars; the same arguments always give an identical frame.

    Raises:
        ConfigError: for an invalid argument or an empty calendar.

    Example:
        >>> bars = generate_bars("DEMO", start="2024-01-01", end="2024-12-31", seed=7)
        >>> len(bars), list(bars.columns)
        (262, ['open', 'high', 'low', 'close', 'volume'])
        >>> len(generate_bars("DEMO", start="2024-01-01", end="2024-12-31", seed=7,
        ...                   calendar="XNYS"))  # NYSE sessions: holidays left out
        252
    """
    cfg = _config(config, start=start, end=end, bar_size=bar_size, seed=seed, calendar=calendar)
    return _simulate(symbol, cfg)[0]


def generate_regimes(
    symbol: str,
    *,
    start: DateLike,
    end: DateLike,
    bar_size: str | BarSize = "1d",
    seed: int,
    config: SyntheticConfig | None = None,
    calendar: str | None = None,
) -> pd.Series:
    """The true regime of every bar that :func:`generate_bars` makes for the same arguments.

    Returns:
        A categorical Series named ``regime`` with the bars' index and categories
        :data:`REGIMES` (``"bull_low_vol"``, ``"bull_high_vol"``, ``"bear_low_vol"``,
        ``"bear_high_vol"``).

    Example:
        >>> regimes = generate_regimes("DEMO", start="2024-01-01", end="2024-12-31", seed=7)
        >>> set(regimes.unique()) <= set(REGIMES)
        True
    """
    cfg = _config(config, start=start, end=end, bar_size=bar_size, seed=seed, calendar=calendar)
    return _simulate(symbol, cfg)[1]


def generate_universe(
    symbols: Iterable[str],
    *,
    start: DateLike,
    end: DateLike,
    bar_size: str | BarSize = "1d",
    seed: int,
    config: SyntheticConfig | None = None,
    calendar: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Generate bars for several symbols (one independent stream each).

    Args:
        symbols: The symbols; duplicates (ignoring case) are refused.
        start: First session date (inclusive).
        end: Last session date (inclusive).
        bar_size: The bar size.
        seed: Non-negative integer seed shared by all symbols.
        config: Model parameters, as for :func:`generate_bars`.
        calendar: An exchange calendar, as for :func:`generate_bars`.

    Returns:
        ``{symbol: bars}`` in the order given.

    Example:
        >>> universe = generate_universe(["AAA", "BBB"], start="2024-01-01", end="2024-06-30",
        ...                              seed=3)
        >>> sorted(universe)
        ['AAA', 'BBB']
    """
    if isinstance(symbols, str):
        raise ConfigError(f"symbols must be a list of symbols, not the string {symbols!r}.")
    names = list(symbols)
    seen: dict[str, str] = {}
    for name in names:
        _symbol_rng(name, 0)  # validates the symbol
        key = name.strip().upper()
        if key in seen:
            raise ConfigError(
                f"symbol {name!r} appears twice (as {seen[key]!r}); symbols are case-insensitive. "
                "Give each symbol once."
            )
        seen[key] = name
    cfg = _config(config, start=start, end=end, bar_size=bar_size, seed=seed, calendar=calendar)
    return {name: _simulate(name, cfg)[0] for name in names}
