"""When a schedule runs: pure functions of its rule and a moment, nothing of Django.

A rule starts at a local date and time in an IANA zone and either runs once or repeats
every N minutes, hours, days, weeks or months, optionally only on the weekdays of a `days`
bitmap (bit 0 = Sunday ... bit 6 = Saturday, 127 = every day). `next_run(rule, after)` is the
first run strictly after a moment; every run is computed from the start, never from the run
before, so nothing drifts:

- minutes, hours: elapsed time from the start instant (every 2 hours stays 2 hours apart
  across a clock change); runs on a day `days` leaves out are skipped.
- days: every N calendar days at the start's local time; left-out weekdays are skipped.
- weeks: every N weeks (weeks begin on Sunday), on each weekday of `days` (without `days`,
  the start's weekday) at the start's local time, never before the start date.
- months: every N months on the start's day of the month at its local time; a month too short
  for that day runs on its last day, and the next month returns to the start's day (31 Jan,
  28 Feb, 31 Mar...). With `days`, a run on a left-out weekday moves to the next allowed day.

Clock changes: a local time that repeats (clocks go back) runs once, at its first instant; a
local time that does not exist (clocks go forward) runs at the first instant after the gap
(02:30 on the day clocks jump from 02:00 to 03:00 runs at 03:00).
"""

import calendar
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
FREQUENCIES = ("minutes", "hours", "days", "weeks", "months")
EVERY_DAY = 127
LAST_DAY = dt.date(9990, 12, 31)  # no run is computed past this: datetime ends at year 9999
_SEARCH_LIMIT = 1000  # candidates tried before a rule is declared never to run again


@dataclass(frozen=True, slots=True)
class Rule:
    start_date: dt.date
    start_time: dt.time
    timezone: str
    frequency: str | None = None  # None: runs once, at the start
    every: int | None = None
    days: int | None = None  # weekday bitmap; None: every day

    def __post_init__(self):
        if self.frequency is not None and self.frequency not in FREQUENCIES:
            raise ValueError(f"unknown frequency {self.frequency!r}")
        if self.frequency is not None and (self.every is None or self.every < 1):
            raise ValueError("a recurring rule needs every >= 1")
        if self.days is not None and not 1 <= self.days <= EVERY_DAY:
            raise ValueError("days must be 1..127")

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def weekday_bit(date: dt.date) -> int:
    """The bit of `date`'s weekday in a `days` bitmap: Sunday 1, Monday 2 ... Saturday 64."""
    return 1 << ((date.weekday() + 1) % 7)


def allowed(days: int | None, date: dt.date) -> bool:
    return days is None or bool(days & weekday_bit(date))


def to_instant(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a wall-clock time names in `zone`: a repeated time is its first instant,
    a skipped time the first instant after the gap (the moment the clock jumps)."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # In a gap, fold=0 reads the time with the offset before the jump (an instant after the
    # gap) and fold=1 with the offset after it (an instant before): the jump lies between.
    lo = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > dt.timedelta(seconds=1):  # zone transitions fall on whole seconds
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) > local:
            hi = mid
        else:
            lo = mid
    return hi


def start_instant(rule: Rule) -> dt.datetime:
    return to_instant(dt.datetime.combine(rule.start_date, rule.start_time), rule.zone)


def next_run(rule: Rule, after: dt.datetime) -> dt.datetime | None:
    """The first run of `rule` strictly after `after` (an aware datetime), in UTC; None when it
    never runs again (a one-off in the past, a rule whose weekdays it never lands on, or a run
    past LAST_DAY)."""
    after = after.astimezone(UTC)
    if rule.frequency is None:
        at = start_instant(rule)
        return at if at > after else None
    if rule.frequency in ("minutes", "hours"):
        return _next_elapsed(rule, after)
    for at in _calendar_runs(rule, after):
        if at > after:
            return at
    return None


def runs(rule: Rule, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` runs after `after` (fewer when the rule ends)."""
    out = []
    while len(out) < count and (at := next_run(rule, after)) is not None:
        out.append(at)
        after = at
    return out


def _next_elapsed(rule: Rule, after: dt.datetime) -> dt.datetime | None:
    step = dt.timedelta(minutes=rule.every) if rule.frequency == "minutes" else dt.timedelta(hours=rule.every)
    start = start_instant(rule)
    k = 0 if after < start else (after - start) // step + 1
    for _ in range(_SEARCH_LIMIT):
        try:
            at = start + k * step
        except OverflowError:
            return None
        local_date = at.astimezone(rule.zone).date()
        if local_date > LAST_DAY:
            return None
        if allowed(rule.days, local_date):
            return at
        # Not on this weekday: on to the first step of the next day.
        midnight = to_instant(dt.datetime.combine(local_date + dt.timedelta(days=1), dt.time()), rule.zone)
        k = max(k + 1, -((start - midnight) // step))
    return None


def _calendar_runs(rule: Rule, after: dt.datetime) -> Iterator[dt.datetime]:
    """Runs of a days/weeks/months rule in order, from the local day of `after` on (the caller
    skips those of that day not after it). Stops after _SEARCH_LIMIT dates."""
    zone = rule.zone
    # From the local date of `after`: a run on an earlier date is at an earlier wall time, so
    # (repeated times taken at their first instant, skipped ones at the jump) an earlier instant.
    from_date = max(after.astimezone(zone).date(), rule.start_date)
    dates = {"days": _day_dates, "weeks": _week_dates, "months": _month_dates}[rule.frequency](rule, from_date)
    for _, date in zip(range(_SEARCH_LIMIT), dates, strict=False):
        if date > LAST_DAY:
            return
        yield to_instant(dt.datetime.combine(date, rule.start_time), zone)


def _day_dates(rule: Rule, from_date: dt.date) -> Iterator[dt.date]:
    k = (from_date - rule.start_date).days // rule.every
    misses = 0
    while misses < 7:  # the weekdays of every-N-days repeat within 7 runs
        date = rule.start_date + dt.timedelta(days=k * rule.every)
        k += 1
        if date < from_date:
            continue
        if allowed(rule.days, date):
            misses = 0
            yield date
        else:
            misses += 1


def _week_dates(rule: Rule, from_date: dt.date) -> Iterator[dt.date]:
    days = rule.days if rule.days is not None else weekday_bit(rule.start_date)
    offsets = [i for i in range(7) if days & (1 << i)]  # 0 = Sunday
    first_week = rule.start_date - dt.timedelta(days=(rule.start_date.weekday() + 1) % 7)
    week = (from_date - first_week).days // 7 // rule.every * rule.every
    while True:
        sunday = first_week + dt.timedelta(weeks=week)
        for offset in offsets:
            date = sunday + dt.timedelta(days=offset)
            if date >= from_date and date >= rule.start_date:
                yield date
        week += rule.every


def _month_dates(rule: Rule, from_date: dt.date) -> Iterator[dt.date]:
    start = rule.start_date
    months = (from_date.year - start.year) * 12 + from_date.month - start.month
    k = max(0, months // rule.every - 1)  # one run early: a roll forward may cross a month end
    while True:
        index = start.month - 1 + k * rule.every
        year, month = start.year + index // 12, index % 12 + 1
        if year > LAST_DAY.year:
            return
        date = dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
        while not allowed(rule.days, date):
            date += dt.timedelta(days=1)
        if date >= from_date:
            yield date
        k += 1
