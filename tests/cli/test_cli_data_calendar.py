"""`tradelab data generate --calendar`: synthetic intraday bars on exchange sessions."""

from __future__ import annotations

from tradelab.data import ParquetStore


def test_generate_with_a_calendar_stores_sessions_without_holidays_and_short_half_days(run_cli):
    out = run_cli(
        "data",
        "generate",
        "--symbols",
        "AAA",
        "--start",
        "2024-07-01",
        "--end",
        "2024-07-05",
        "--bar-size",
        "5m",
        "--calendar",
        "XNYS",
    ).stdout
    assert "Stored (synthetic data):" in out and "1.000" in out  # no false gap on the holiday
    bars = ParquetStore(run_cli.home).read("AAA", bar_size="5m")
    local = bars.index.tz_convert("America/New_York")
    last = {d: t for d, t in zip(local.strftime("%Y-%m-%d"), local.strftime("%H:%M"), strict=True)}
    assert last == {
        "2024-07-01": "15:55",
        "2024-07-02": "15:55",
        "2024-07-03": "12:55",
        "2024-07-05": "15:55",
    }  # Independence Day: no session


def test_generate_with_an_unknown_calendar_is_a_one_line_error(run_cli):
    proc = run_cli(
        "data",
        "generate",
        "--symbols",
        "AAA",
        "--start",
        "2024-07-01",
        "--end",
        "2024-07-05",
        "--calendar",
        "XNYZ",
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown exchange calendar 'XNYZ'. Did you mean")
