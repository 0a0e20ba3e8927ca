"""Quality checks (one tiny hand-made frame per check), the score, and repair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.data import (
    IssueKind,
    check_quality,
    generate_bars,
    repair,
    to_canonical,
)

from .helpers import clean_daily, make_bars


def only(report, kind):
    found = [i for i in report.issues if i.kind == kind]
    assert found, f"no {kind} issue in {report.issues}"
    return found


def test_clean_bars_have_no_issues_and_score_one():
    report = check_quality(clean_daily(10))
    assert report.issues == ()
    assert report.score == 1.0
    assert report.ok and report.rows == 10


def test_nan_is_an_error_at_its_row_and_column():
    bars = clean_daily(4)
    bars.iloc[2, bars.columns.get_loc("close")] = np.nan
    report = check_quality(bars)
    [issue] = only(report, IssueKind.NAN)
    assert (issue.row, issue.column) == (2, "close")
    assert issue.timestamp == bars.index[2]
    assert issue.message == "row 2 (2024-01-03): close is missing (NaN)"
    assert not report.ok and issue in report.errors


def test_duplicate_timestamp_is_an_error_naming_the_first_occurrence():
    bars = make_bars(
        [
            ("2024-01-02", 100, 101, 99, 100, 10),
            ("2024-01-03", 100, 101, 99, 100, 10),
            ("2024-01-03", 100, 101, 99, 100, 10),
        ]
    )
    [issue] = only(check_quality(bars), IssueKind.DUPLICATE)
    assert issue.row == 2
    assert "duplicate timestamp 2024-01-03 (same as row 1)" in issue.message


def test_unsorted_timestamp_is_an_error_on_the_row_that_goes_back_in_time():
    bars = make_bars(
        [
            ("2024-01-02", 100, 101, 99, 100, 10),
            ("2024-01-04", 100, 101, 99, 100, 10),
            ("2024-01-03", 100, 101, 99, 100, 10),
        ]
    )
    report = check_quality(bars)
    [issue] = only(report, IssueKind.UNSORTED)
    assert issue.row == 2
    assert "2024-01-03 is earlier than the previous row's 2024-01-04" in issue.message
    assert not report.ok


@pytest.mark.parametrize(
    ("bar", "column", "text"),
    [
        ((100, 99, 98, 101, 10), "high", "high 99.0 < max(open, close) 101.0"),
        ((100, 102, 100.5, 101, 10), "low", "low 100.5 > min(open, close) 100.0"),
    ],
)
def test_ohlc_inconsistency_is_an_error_with_the_values_in_the_message(bar, column, text):
    bars = make_bars([("2024-01-02", 100, 101, 99, 100, 10), ("2024-01-03", *bar)])
    [issue] = only(check_quality(bars), IssueKind.OHLC)
    assert (issue.row, issue.column) == (1, column)
    assert issue.message == f"row 1 (2024-01-03): {text}"


def test_high_below_low_is_reported_as_its_own_ohlc_issue():
    bars = make_bars([("2024-01-02", 100, 99, 101, 100, 10)])
    messages = [i.message for i in only(check_quality(bars), IssueKind.OHLC)]
    assert "row 0 (2024-01-02): high 99.0 < low 101.0" in messages
    assert len(messages) == 3  # high < open/close, low > open/close, high < low


def test_non_positive_price_is_an_error_per_column():
    bars = make_bars([("2024-01-02", 100, 101, 99, 100, 10), ("2024-01-03", 0, 1, -1, 0.5, 10)])
    issues = only(check_quality(bars), IssueKind.NON_POSITIVE_PRICE)
    assert [(i.row, i.column, i.value) for i in issues] == [(1, "open", 0.0), (1, "low", -1.0)]


def test_negative_volume_is_an_error_and_zero_volume_only_a_warning():
    bars = make_bars(
        [
            ("2024-01-02", 100, 101, 99, 100, -5),
            ("2024-01-03", 100, 101, 99, 100, 0),
        ]
    )
    report = check_quality(bars)
    [negative] = only(report, IssueKind.NEGATIVE_VOLUME)
    [zero] = only(report, IssueKind.ZERO_VOLUME)
    assert (negative.row, negative.value) == (0, -5.0)
    assert zero.row == 1
    assert negative in report.errors and zero in report.warnings and zero not in report.errors


def test_zero_volume_alone_keeps_the_report_ok_but_lowers_the_score():
    bars = clean_daily(4)
    bars.iloc[1, 4] = 0.0
    report = check_quality(bars)
    assert report.ok
    assert report.score == pytest.approx(1 - 0.25 * 1 / 4)


def test_daily_single_missing_business_day_is_not_a_gap_but_two_are():
    holiday = make_bars(
        [
            ("2024-03-28", 100, 101, 99, 100, 10),  # Thursday; Good Friday missing
            ("2024-04-01", 100, 101, 99, 100, 10),
        ]
    )
    assert check_quality(holiday).issues == ()
    two_missing = make_bars(
        [
            ("2024-01-02", 100, 101, 99, 100, 10),  # Tuesday
            ("2024-01-05", 100, 101, 99, 100, 10),  # Friday: Wed + Thu missing
        ]
    )
    report = check_quality(two_missing)
    [gap] = only(report, IssueKind.GAP)
    assert (gap.row, gap.value) == (1, 2.0)
    assert "2 business days missing between 2024-01-02 and 2024-01-05" in gap.message
    assert report.ok and gap in report.warnings


def test_weekends_are_not_gaps_in_daily_bars():
    bars = make_bars([("2024-01-05", 100, 101, 99, 100, 10), ("2024-01-08", 100, 101, 99, 100, 10)])
    assert check_quality(bars).issues == ()


def test_intraday_missing_bar_within_a_session_is_a_gap_but_overnight_is_not():
    bars = make_bars(
        [
            ("2024-01-02 20:50", 100, 101, 99, 100, 10),
            ("2024-01-02 20:55", 100, 101, 99, 100, 10),  # 15:55 New York, last bar
            ("2024-01-03 14:30", 100, 101, 99, 100, 10),  # 09:30 next day
            ("2024-01-03 14:45", 100, 101, 99, 100, 10),  # 14:35 and 14:40 missing
        ]
    )
    [gap] = only(check_quality(bars, bar_size="5m"), IssueKind.GAP)
    assert (gap.row, gap.value) == (3, 2.0)
    assert "2 5m bar(s) missing between 09:30 and 09:45" in gap.message


def test_weekly_missing_week_is_a_gap():
    bars = make_bars([("2024-01-01", 100, 101, 99, 100, 10), ("2024-01-15", 100, 101, 99, 100, 10)])
    [gap] = only(check_quality(bars, bar_size="1w"), IssueKind.GAP)
    assert gap.value == 1.0


def test_source_name_makes_rows_one_based_and_prefixes_file_and_line():
    bars = clean_daily(5)
    bars.iloc[3, bars.columns.get_loc("high")] = 103.5  # open 103, close 104
    report = check_quality(bars, source_name="prices.csv", line_numbers=[2, 3, 4, 5, 6])
    [issue] = report.errors
    assert (issue.row, issue.line) == (4, 5)
    assert issue.message == "prices.csv line 5 (row 4): high 103.5 < max(open, close) 104.0"


def test_score_falls_with_the_share_of_dirty_rows():
    one_bad, two_bad = clean_daily(10), clean_daily(10)
    one_bad.iloc[0, 3] = np.nan
    two_bad.iloc[[0, 1], 3] = np.nan
    first, second = check_quality(one_bad).score, check_quality(two_bad).score
    assert first == pytest.approx(0.9)
    assert 0.0 <= second < first < 1.0


def test_several_problems_in_one_row_count_once_per_kind_in_the_score():
    bars = clean_daily(4)
    bars.iloc[0, :4] = np.nan
    assert check_quality(bars).score == pytest.approx(0.75)


def test_synthetic_bars_pass_every_check():
    bars = generate_bars("QQQ", start="2020-01-01", end="2021-12-31", seed=3)
    assert check_quality(bars).issues == ()
    intraday = generate_bars("QQQ", start="2024-03-01", end="2024-03-15", bar_size="5m", seed=3)
    assert check_quality(intraday, bar_size="5m").issues == ()


def test_report_summary_lists_at_most_the_limit_then_how_many_more():
    bars = clean_daily(15)
    bars["close"] = np.nan
    summary = check_quality(bars).summary(limit=10)
    assert summary.count("\n  - ") + 1 == 10
    assert summary.endswith("… and 5 more")


def test_repair_lists_each_change_and_returns_canonical_clean_bars():
    raw = make_bars(
        [
            ("2024-01-02", 100, 101, 99, 100, 10),  # 0 duplicate of row 5 (dropped, later wins)
            ("2024-01-03", 100, 101, 99, np.nan, 10),  # 1 NaN -> dropped
            ("2024-01-04", 100, 101, 99, 100, -3),  # 2 negative volume -> clipped
            ("2024-01-05", -1, 101, 99, 100, 10),  # 3 negative price -> dropped
            ("2024-01-08", 100, 99.5, 99, 100.5, 10),  # 4 high too low -> widened
            ("2024-01-02", 100, 101, 99, 100, 20),  # 5 duplicate, unsorted -> kept, moved
            ("2024-01-09", 100, 101, 100.2, 101, 10),  # 6 low too high -> widened
            ("2024-01-15", 100, 101, 99, 100, 10),  # 7 after a 3-business-day gap
        ]
    )
    fixed, changes = repair(raw)
    actions = [(c.action, c.row) for c in changes]
    assert actions == [
        ("drop_nan", 1),
        ("drop_non_positive", 3),
        ("sort", 5),
        ("drop_duplicate", 0),
        ("clip_volume", 2),
        ("widen_high", 4),
        ("widen_low", 6),
        ("unrepaired_gap", 7),
    ]
    assert "kept the later row 5" in changes[3].detail
    assert "high 99.5 raised to 100.5" in changes[5].detail
    assert not changes[-1].changed_data
    pd.testing.assert_frame_equal(fixed, to_canonical(fixed))
    assert list(fixed.index.strftime("%Y-%m-%d")) == [
        "2024-01-02",
        "2024-01-04",
        "2024-01-08",
        "2024-01-09",
        "2024-01-15",
    ]
    assert fixed.loc["2024-01-02", "volume"].item() == 20.0  # the later duplicate won
    assert fixed.loc["2024-01-04", "volume"].item() == 0.0
    after = check_quality(fixed)
    assert after.ok and [i.kind for i in after.issues] == [IssueKind.ZERO_VOLUME, IssueKind.GAP]


def test_repair_of_clean_bars_changes_nothing():
    bars = clean_daily(8)
    fixed, changes = repair(bars)
    assert changes == []
    pd.testing.assert_frame_equal(fixed, bars)


def test_repair_with_source_name_reports_file_rows_and_lines():
    bars = clean_daily(3)
    bars.iloc[1, 0] = np.nan
    _, [change] = repair(bars, source_name="x.csv", line_numbers=[2, 3, 5])
    assert (change.row, change.line) == (2, 3)
    assert change.detail.startswith("x.csv line 3 (row 2): dropped the row")


def test_gap_score_counts_missing_bars_and_a_missing_intraday_session_as_a_full_day():
    daily = make_bars(
        [("2024-01-02", 100, 101, 99, 100, 10), ("2024-01-05", 100, 101, 99, 100, 10)]
    )
    assert check_quality(daily).score == pytest.approx(1 - 0.5 * 2 / 4)
    intraday = make_bars(
        [
            ("2024-01-02 20:55", 100, 101, 99, 100, 10),  # Tuesday, last bar
            ("2024-01-05 14:30", 100, 101, 99, 100, 10),  # Friday: Wed + Thu sessions missing
        ]
    )
    [gap] = only(check_quality(intraday, bar_size="1h"), IssueKind.GAP)
    assert gap.value == 2.0  # business days, as in the message
    assert check_quality(intraday, bar_size="1h").score == pytest.approx(1 - 0.5 * 14 / 16)
