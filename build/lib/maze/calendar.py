"""Opening calendars and recurring dates: the days an office works, on one day-numbered clock.

Day 0 is the scenario's start date. An office works on its weekdays and not
during its closures; a household that arrives when it is shut waits until it
opens again (the hours lost this way are real time in the maze). A date written
as a month-day (``"09-01"``) comes back every year of a run; a date is once; a
number is a day offset, as it always was.
"""

from __future__ import annotations

import bisect
import math
from datetime import date, timedelta
from typing import Any

from maze.scenario import Calendar

#: Years of recurring dates laid out beyond the horizon, so that a request near the end
#: of a run still has a next deadline to be judged against.
_YEARS_AFTER = 1


def day_of(when: date, start: date) -> float:
    """Days from ``start`` to ``when`` (negative before it)."""
    return float((when - start).days)


def occurrences(when: Any, start: date, horizon: float) -> list[float]:
    """The days a scenario date falls on: one for a number or a date, one a year (from the
    year before the start to a year after the horizon) for a month-day."""
    if isinstance(when, int | float):
        return [float(when)]
    if isinstance(when, date):
        return [day_of(when, start)]
    month, day = (int(p) for p in when.split("-"))
    last = start + timedelta(days=math.ceil(horizon))
    out = []
    for year in range(start.year - 1, last.year + 1 + _YEARS_AFTER):
        try:
            out.append(day_of(date(year, month, day), start))
        except ValueError:  # 29 February in a year without one
            continue
    return out


def closure_ranges(closures: Any, start: date, horizon: float) -> tuple[tuple[float, float], ...]:
    """Closures as [start, end) day ranges, each yearly one laid out on every year."""
    out: list[tuple[float, float]] = []
    for a, b in closures:
        if isinstance(a, str):  # month-days: every year; a range may wrap the new year
            for begin in occurrences(a, start, horizon):
                first = start + timedelta(days=begin)
                month, day = (int(p) for p in b.split("-"))
                year = first.year if (month, day) > (first.month, first.day) else first.year + 1
                try:
                    end = day_of(date(year, month, day), start)
                except ValueError:  # ends on 29 February of a year without one
                    end = day_of(date(year, 3, 1), start)
                out.append((begin, end))
        elif isinstance(a, date):
            out.append((day_of(a, start), day_of(b, start)))
        else:
            out.append((float(a), float(b)))
    return tuple(sorted(r for r in out if r[1] > 0))


def yearly_windows(start: str, end: str, first: date, horizon: float
                   ) -> list[tuple[float, float]]:
    """The [start, end) day ranges a yearly month-day window covers within [0, horizon)."""
    out = []
    for begin, stop in closure_ranges(((start, end),), first, horizon):
        begin, stop = max(begin, 0.0), min(stop, horizon)
        if stop > begin:
            out.append((begin, stop))
    return out


class OpeningCalendar:
    """Answers "is it open now?" and "when does it next open?" for one office."""

    __slots__ = ("weekdays", "closures", "start_weekday", "_starts", "_span")

    def __init__(self, calendar: Calendar, start_date: date, horizon: float = 366.0):
        self.weekdays = frozenset(calendar.weekdays)
        self.closures = closure_ranges(calendar.closures, start_date, horizon)
        self._starts = [start for start, _ in self.closures]
        self._span = max((stop - start for start, stop in self.closures), default=0.0)
        self.start_weekday = start_date.weekday()

    def _closed(self, t: float) -> float | None:
        """The end of a closure ``t`` falls in, or None."""
        # Closures are sorted by start and may overlap: look back over those begun, as far
        # as the longest closure reaches.
        end = None
        for i in range(bisect.bisect_right(self._starts, t) - 1, -1, -1):
            start, stop = self.closures[i]
            if start < t - self._span:
                break
            if t < stop:
                end = stop if end is None else max(end, stop)
        return end

    def is_open(self, t: float) -> bool:
        if (self.start_weekday + math.floor(t)) % 7 not in self.weekdays:
            return False
        return self._closed(t) is None

    def next_open(self, t: float) -> float:
        """The earliest time at or after ``t`` when the office works (``inf`` if never)."""
        for _ in range(10_000):
            moved = False
            end = self._closed(t)
            if end is not None:
                t = end
                moved = True
            if (self.start_weekday + math.floor(t)) % 7 not in self.weekdays:
                t = math.floor(t) + 1.0
                moved = True
            if not moved:
                return t
        return math.inf


class YearlyDeadline:
    """A service's deadline: once (a day or date), or every year (a month-day).

    A request is judged against the first deadline on or after the day it was made: a
    household that comes after this year's school start is judged against next year's.
    With ``opens``, applications for a year open on that month-day before its deadline,
    and a household that comes earlier is told when to come back.
    """

    __slots__ = ("days", "opens", "once")

    def __init__(self, deadline: Any, opens: str | None, start: date, horizon: float):
        self.once = not isinstance(deadline, str)
        self.days = occurrences(deadline, start, horizon)
        self.opens = occurrences(opens, start, horizon) if opens else []

    def due(self, requested: float) -> float:
        """The deadline a request made on day ``requested`` must meet (inf if none)."""
        if self.once:
            return self.days[0]
        i = bisect.bisect_left(self.days, requested)
        return self.days[i] if i < len(self.days) else math.inf

    def too_late(self, requested: float, now: float) -> bool:
        return now > self.due(requested)

    def come_back_in(self, requested: float, now: float) -> float:
        """Days until applications open for the request's year (0 if they are open)."""
        if not self.opens:
            return 0.0
        due = self.due(requested)
        i = bisect.bisect_right(self.opens, due) - 1
        return max(self.opens[i] - now, 0.0) if i >= 0 else 0.0
