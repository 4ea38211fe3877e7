"""The recurrence rules (schedules.recurrence): properties over random zones, starts,
frequencies and weekday bitmaps, and the calendar cases a user would check by hand."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.recurrence import UTC, Rule, allowed, next_run, runs, start_instant, to_instant

# Zones with clock changes both ways, half-hour and 30-minute DST, the southern hemisphere,
# and none at all.
ZONES = [
    "UTC", "America/New_York", "Europe/Paris", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe",
    "Asia/Kolkata", "America/Santiago", "America/St_Johns", "Europe/Dublin", "Pacific/Chatham", "Asia/Tehran",
]  # fmt: skip


@st.composite
def rules(draw):
    frequency = draw(st.sampled_from([None, "minutes", "hours", "days", "weeks", "months"]))
    every = None
    if frequency is not None:
        every = draw(st.integers(1, {"minutes": 600, "hours": 72}.get(frequency, 12)))
    days = draw(st.none() | st.integers(1, 127)) if frequency else None
    return Rule(
        start_date=draw(st.dates(dt.date(2016, 1, 1), dt.date(2034, 12, 31))),
        start_time=dt.time(draw(st.integers(0, 23)), draw(st.integers(0, 59))),
        timezone=draw(st.sampled_from(ZONES) | st.timezone_keys()),
        frequency=frequency,
        every=every,
        days=days,
    )


moments = st.datetimes(dt.datetime(2015, 6, 1), dt.datetime(2036, 6, 1), timezones=st.just(UTC))


def local(at: dt.datetime, rule: Rule) -> dt.datetime:
    return at.astimezone(ZoneInfo(rule.timezone)).replace(tzinfo=None)


def exists(wall: dt.datetime, zone: str) -> bool:
    return to_instant(wall, ZoneInfo(zone)).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(rules(), moments)
def test_next_run_is_in_the_future_on_an_allowed_day_at_the_start_time(rule, after):
    at = next_run(rule, after)
    if at is None:
        return
    assert at > after
    assert at.tzinfo is not None and at.utcoffset() == dt.timedelta(0)
    wall = local(at, rule)
    if rule.frequency in (None, "days", "weeks", "months"):
        intended = dt.datetime.combine(wall.date(), rule.start_time)
        if exists(intended, rule.timezone):
            assert wall.time() == rule.start_time
        else:  # clocks jumped over the start time: the first instant after the gap
            assert wall > intended
            assert local(at - dt.timedelta(seconds=1), rule) < intended
            wall = intended
    if rule.frequency in ("minutes", "hours"):
        unit = dt.timedelta(minutes=1) if rule.frequency == "minutes" else dt.timedelta(hours=1)
        assert (at - start_instant(rule)) % (unit * rule.every) == dt.timedelta(0)
        assert at >= start_instant(rule)
    assert allowed(rule.days, wall.date())
    if rule.frequency == "months" and rule.days is None:
        assert wall.day == min(rule.start_date.day, _month_length(wall.date()))


@PROPERTY
@given(rules(), moments)
def test_runs_strictly_increase_and_none_is_skipped(rule, after):
    found = runs(rule, after, 6)
    assert found == sorted(set(found))
    for earlier, later in zip([after, *found], found, strict=False):
        # Nothing between two runs: asking from anywhere in between gives the later one.
        assert next_run(rule, earlier + (later - earlier) / 2) == later
        assert next_run(rule, later - dt.timedelta(microseconds=1)) == later


@PROPERTY
@given(rules(), moments)
def test_no_run_before_the_start(rule, after):
    at = next_run(rule, after)
    if at is not None:
        assert local(at, rule).date() >= rule.start_date


def _month_length(date: dt.date) -> int:
    following = date.replace(day=28) + dt.timedelta(days=4)
    return (following - dt.timedelta(days=following.day)).day


def walls(rule: Rule, after: dt.datetime, count: int) -> list[str]:
    return [local(at, rule).strftime("%a %Y-%m-%d %H:%M") for at in runs(rule, after, count)]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_a_one_off_runs_once_at_its_start():
    rule = Rule(dt.date(2027, 1, 10), dt.time(9, 30), "Europe/Paris")
    assert runs(rule, utc(2027, 1, 1), 3) == [utc(2027, 1, 10, 8, 30)]
    assert next_run(rule, utc(2027, 1, 10, 8, 30)) is None


def test_nine_local_stays_nine_local_across_both_clock_changes():
    rule = Rule(dt.date(2027, 3, 12), dt.time(9, 0), "America/New_York", "days", 1)
    assert [at.hour for at in runs(rule, utc(2027, 3, 12), 4)] == [14, 14, 13, 13]  # EST, then EDT from the 14th
    assert walls(rule, utc(2027, 11, 6), 3) == [
        "Sat 2027-11-06 09:00", "Sun 2027-11-07 09:00", "Mon 2027-11-08 09:00",
    ]  # fmt: skip


def test_a_start_time_the_clocks_skip_runs_when_they_jump():
    # 14 March 2027: New York goes from 02:00 EST straight to 03:00 EDT.
    rule = Rule(dt.date(2027, 3, 13), dt.time(2, 30), "America/New_York", "days", 1)
    assert walls(rule, utc(2027, 3, 13), 3) == [
        "Sat 2027-03-13 02:30", "Sun 2027-03-14 03:00", "Mon 2027-03-15 02:30",
    ]  # fmt: skip
    assert runs(rule, utc(2027, 3, 14), 1) == [utc(2027, 3, 14, 7, 0)]  # the jump itself


def test_a_start_time_that_repeats_runs_once():
    # 7 November 2027: New York's 01:00-02:00 happens twice; the first (EDT) one runs.
    rule = Rule(dt.date(2027, 11, 6), dt.time(1, 30), "America/New_York", "days", 1)
    found = runs(rule, utc(2027, 11, 6), 3)
    assert found[1] == utc(2027, 11, 7, 5, 30)  # 01:30 EDT, not also 01:30 EST an hour later
    assert found[2] - found[1] == dt.timedelta(hours=25)


def test_hourly_runs_are_an_hour_apart_through_a_clock_change():
    rule = Rule(dt.date(2027, 11, 7), dt.time(0, 0), "America/New_York", "hours", 1)
    found = runs(rule, utc(2027, 11, 7, 4), 4)
    assert [b - a for a, b in itertools.pairwise(found)] == [dt.timedelta(hours=1)] * 3
    assert [local(at, rule).strftime("%H:%M") for at in found] == ["01:00", "01:00", "02:00", "03:00"]


def test_the_31st_runs_on_the_last_day_of_shorter_months_and_comes_back():
    rule = Rule(dt.date(2027, 1, 31), dt.time(8, 0), "UTC", "months", 1)
    assert [at.date().isoformat() for at in runs(rule, utc(2027, 1, 1), 5)] == [
        "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31",
    ]  # fmt: skip
    leap = Rule(dt.date(2027, 11, 30), dt.time(8, 0), "UTC", "months", 3)
    assert [at.date().isoformat() for at in runs(leap, utc(2027, 1, 1), 3)] == [
        "2027-11-30", "2028-02-29", "2028-05-30",
    ]  # fmt: skip


def test_weekly_on_chosen_weekdays_every_other_week():
    # Tuesday 1 December 2026; Monday (2), Wednesday (8) and Friday (32), every 2 weeks.
    rule = Rule(dt.date(2026, 12, 1), dt.time(9, 0), "UTC", "weeks", 2, days=2 | 8 | 32)
    assert walls(rule, utc(2026, 11, 1), 5) == [
        "Wed 2026-12-02 09:00", "Fri 2026-12-04 09:00", "Mon 2026-12-14 09:00",
        "Wed 2026-12-16 09:00", "Fri 2026-12-18 09:00",
    ]  # fmt: skip


def test_weekly_without_days_runs_on_the_start_weekday():
    rule = Rule(dt.date(2026, 12, 1), dt.time(9, 0), "UTC", "weeks", 1)
    assert walls(rule, utc(2026, 12, 1, 10), 2) == ["Tue 2026-12-08 09:00", "Tue 2026-12-15 09:00"]


def test_daily_on_weekdays_only_skips_the_weekend():
    rule = Rule(dt.date(2026, 12, 4), dt.time(7, 0), "Europe/Paris", "days", 1, days=2 | 4 | 8 | 16 | 32)
    assert walls(rule, utc(2026, 12, 1), 3) == [
        "Fri 2026-12-04 07:00", "Mon 2026-12-07 07:00", "Tue 2026-12-08 07:00",
    ]  # fmt: skip


def test_every_quarter_hour_on_sundays_only():
    rule = Rule(dt.date(2026, 12, 1), dt.time(9, 0), "UTC", "minutes", 15, days=1)
    assert walls(rule, utc(2026, 12, 1), 2) == ["Sun 2026-12-06 00:00", "Sun 2026-12-06 00:15"]
    assert walls(rule, utc(2026, 12, 6, 23, 50), 1) == ["Sun 2026-12-13 00:00"]


def test_monthly_with_days_moves_to_the_next_allowed_weekday():
    # 1 May 2027 is a Saturday: a weekdays-only monthly run on the 1st goes out on Monday the 3rd.
    rule = Rule(dt.date(2027, 4, 1), dt.time(9, 0), "UTC", "months", 1, days=62)
    assert walls(rule, utc(2027, 4, 2), 2) == ["Mon 2027-05-03 09:00", "Tue 2027-06-01 09:00"]


def test_a_rule_that_never_lands_on_its_weekdays_never_runs():
    # Every 7 days from a Tuesday, Sundays only: no run, ever.
    assert next_run(Rule(dt.date(2026, 12, 1), dt.time(9, 0), "UTC", "days", 7, days=1), utc(2026, 1, 1)) is None


def test_missed_runs_are_not_replayed():
    rule = Rule(dt.date(2026, 12, 1), dt.time(0, 0), "UTC", "minutes", 5)
    assert next_run(rule, utc(2027, 6, 1, 12, 2, 30)) == utc(2027, 6, 1, 12, 5)


@pytest.mark.parametrize("kwargs", [{"frequency": "fortnights", "every": 1}, {"frequency": "days"}, {"days": 0}])
def test_malformed_rules_are_refused(kwargs):
    with pytest.raises(ValueError):
        Rule(dt.date(2026, 12, 1), dt.time(9, 0), "UTC", **kwargs)
