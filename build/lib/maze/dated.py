"""Dated values: a scenario value written as the values it takes from dates.

In the spirit of OpenFisca's parameters, any value of a scenario may be written as a
table whose keys are ISO dates, each giving the value in force from that date::

    clerks = { "2010-01-01" = 2, "2014-09-01" = 4 }

The scenario layer reads such a table as a :class:`DatedSeries`, resolves every series
on each date on which one of them changes, and validates each resulting *version* of
the city as an ordinary scenario, so a bad value is refused with the file, the key and
the date. The engine then asks one question, :func:`in_force`: which version rules on
day ``t``. Nothing here knows what a value means.
"""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

#: A key of a dated table: an ISO date.
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Where a value sits in the scenario's nested tables: keys and list positions.
Path = tuple[str | int, ...]


class DatedError(ValueError):
    """A dated table that cannot be read; ``key`` names where it sits, date included."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class DatedSeries:
    """The values one scenario key takes from dates, earliest first."""

    dates: tuple[date, ...]
    values: tuple[Any, ...]

    def at(self, day: date) -> Any:
        """The value in force on ``day`` (the last one dated on or before it)."""
        i = bisect.bisect_right(self.dates, day) - 1
        if i < 0:
            raise KeyError(day)
        return self.values[i]

    def dated_on(self, day: date) -> date:
        """The date of the value in force on ``day``."""
        return self.dates[max(bisect.bisect_right(self.dates, day) - 1, 0)]

    def to_table(self) -> dict[str, Any]:
        return {d.isoformat(): v for d, v in zip(self.dates, self.values, strict=True)}


def is_dated(value: Any) -> bool:
    """Whether a scenario value is written as a dated table (every key an ISO date)."""
    return (isinstance(value, Mapping) and bool(value)
            and all(isinstance(k, str) and _ISO.match(k) for k in value))


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _series(value: Mapping[str, Any], path: Path) -> DatedSeries:
    items = []
    for key, v in value.items():
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise DatedError(f"{dotted(path)}.{key}", "not a calendar date") from None
        if is_dated(v):
            raise DatedError(f"{dotted(path)}.{key}", "a dated value cannot hold dated values")
        items.append((day, v))
    items.sort(key=lambda item: item[0])
    return DatedSeries(tuple(d for d, _ in items), tuple(v for _, v in items))


#: Types of values that cannot hold a dated table (skipped without a call: a routing
#: table of a few hundred offices has a hundred thousand of them).
_LEAVES = frozenset((str, int, float, bool, type(None)))


def find(data: Any, path: Path = ()) -> dict[Path, DatedSeries]:
    """Every dated table in nested scenario data, by where it sits."""
    out: dict[Path, DatedSeries] = {}

    def walk(node: Any, here: Path) -> None:
        if is_dated(node):
            out[here] = _series(node, here)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                if type(v) not in _LEAVES:  # a number or text holds no table
                    walk(v, (*here, k))
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                if type(v) not in _LEAVES:
                    walk(v, (*here, i))

    walk(data, path)
    return out


def change_dates(series: Mapping[Path, DatedSeries]) -> list[date]:
    """Every date on which some value changes, in order."""
    return sorted({d for s in series.values() for d in s.dates})


def resolve(data: Any, series: Mapping[Path, DatedSeries], day: date,
            first_if_none: bool = False) -> Any:
    """A copy of ``data`` with each dated table replaced by its value in force on ``day``.

    ``first_if_none``: a series with no value yet on ``day`` gives its first value (used
    to validate values dated before the others take effect); otherwise it is an error.
    """
    out = copy.deepcopy(data)
    for path, s in series.items():
        try:
            value = s.at(day)
        except KeyError:
            if not first_if_none:
                raise DatedError(dotted(path), f"no value in force on {day.isoformat()}; "
                                 f"the first is dated {s.dates[0].isoformat()}") from None
            value = s.values[0]
        _put(out, path, copy.deepcopy(value))
    return out


def restore(data: Any, series: Mapping[Path, DatedSeries]) -> Any:
    """Put the dated tables back where they sit (the inverse of :func:`resolve`)."""
    for path, s in series.items():
        _put(data, path, s.to_table())
    return data


def _put(data: Any, path: Path, value: Any) -> None:
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


@dataclass(frozen=True)
class Version:
    """The rules in force from one date: a whole scenario, valid on its own."""

    day: float          #: days from the scenario's start date
    since: date         #: the date from which this version is in force
    scenario: Any       #: a ``maze.scenario.Scenario`` without dated values


def in_force(versions: tuple[Version, ...] | list[Version], day: float) -> Version:
    """The version that rules on day ``day`` (the last one starting at or before it)."""
    lo = bisect.bisect_right([v.day for v in versions], day) - 1
    return versions[max(lo, 0)]


def paths_under(series: Mapping[Path, DatedSeries], key: str) -> Iterator[Path]:
    """The dated paths that ``key`` (dotted) falls within."""
    for path in series:
        d = dotted(path)
        if key == d or key.startswith(d + "."):
            yield path
