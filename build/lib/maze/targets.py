"""Targets files: published figures, the maze measure each corresponds to, and the
parameters a calibration may move.

A targets file (``offices/targets/<city>.toml``, format in docs/reference/targets.md)
lists for each target the published figure, its uncertainty (an ``sd``, or a 95%
``interval`` turned into one), how that uncertainty was derived, the year, the
population covered, the measure (:mod:`maze.metric`), whether it is fitted
(``use = "calibrate"``) or kept apart as an out-of-sample test (``"validate"``), and a
citation. Its ``[[parameters]]`` name dotted scenario keys with a prior range.

Everything is checked against the scenario before any simulation runs, and a bad file
is refused with one message naming the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maze import metric
from maze import scenario as sc
from maze.scenario import Scenario, ScenarioError, readable_key

USES = ("calibrate", "validate")
CITATION_REQUIRED = ("author", "year", "title", "where")
CITATION_FIELDS = (*CITATION_REQUIRED, "publisher", "journal", "url", "via")
TARGET_FIELDS = ("name", "value", "sd", "interval", "uncertainty", "year", "population", "use",
                 "measure", "expression", "table", "filters", "citation")
PARAMETER_FIELDS = ("key", "low", "high", "why", "integer")
#: A 95% interval spans this many standard deviations of a normal distribution.
Z95 = 2 * 1.959963984540054


@dataclass(frozen=True)
class Target:
    """One published figure and the maze measure that corresponds to it."""

    name: str
    value: float
    sd: float
    uncertainty: str
    year: int
    population: str
    use: str
    measure: metric.Spec
    citation: Mapping[str, Any]


@dataclass(frozen=True)
class Parameter:
    """A scenario value a calibration moves, with its uniform prior range."""

    key: str
    low: float
    high: float
    why: str = ""
    integer: bool = False


@dataclass(frozen=True)
class TargetsFile:
    """A checked targets file: where it is, which preset it fits, targets and parameters."""

    path: str
    city: str
    preset: str | None
    targets: tuple[Target, ...]
    parameters: tuple[Parameter, ...]

    def used(self, use: str) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.use == use)


def read(path: str | Path) -> dict[str, Any]:
    """The raw TOML of a targets file, or one ScenarioError naming the file."""
    from maze import inputs

    return inputs.read_toml(path)  # a regular file, bounded in size and nesting


def _number(value: Any, fail: Any, key: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"must be a finite number, not {value!r}", key)
    if positive and value <= 0:
        raise fail(f"must be above 0, not {value!r}", key)
    return float(value)


def _text(value: Any, fail: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail("must be non-empty text", key)
    return value


def check(data: Mapping[str, Any], scenario: Scenario, source: str) -> TargetsFile:
    """Check a parsed targets file against ``scenario``; refuse it with file and key (a
    target by its name, a parameter by its number and its key: ``readable_key``)."""
    try:
        return _check(data, scenario, source)
    except ScenarioError as exc:
        if exc.source != source or not exc.key:
            raise
        key, note = readable_key(exc.key, data)
        raise ScenarioError(exc.message + note, source=source, key=key) from None


def _check(data: Mapping[str, Any], scenario: Scenario, source: str) -> TargetsFile:
    def fail(message: str, key: str | None = None) -> ScenarioError:
        return ScenarioError(message, source=source, key=key)

    unknown = sorted(set(data) - {"city", "preset", "description", "targets", "parameters"})
    if unknown:
        raise fail("unknown key; known: city, preset, description, targets, parameters",
                   unknown[0])
    city = _text(data.get("city"), fail, "city")
    preset = data.get("preset")
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise fail("a targets file lists at least one [[targets]]", "targets")
    targets = []
    names: set[str] = set()
    for i, t in enumerate(raw_targets):
        key = f"targets.{i}"
        _known_table(t, TARGET_FIELDS, "a target is a table", key, fail)
        name = _text(t.get("name"), fail, f"{key}.name")
        if name in names:
            raise fail(f"a second target named {name!r}", f"{key}.name")
        names.add(name)
        value = _number(t.get("value"), fail, f"{key}.value")
        if ("sd" in t) == ("interval" in t):
            raise fail("give the figure's uncertainty as `sd` or as a 95% `interval`, one "
                       "of them", key)
        if "sd" in t:
            sd = _number(t["sd"], fail, f"{key}.sd", positive=True)
        else:
            iv = t["interval"]
            if not (isinstance(iv, list) and len(iv) == 2):
                raise fail("an interval is [low, high]", f"{key}.interval")
            lo = _number(iv[0], fail, f"{key}.interval")
            hi = _number(iv[1], fail, f"{key}.interval")
            if not lo <= value <= hi or hi <= lo:
                raise fail(f"the interval [{lo}, {hi}] must contain the value {value}",
                           f"{key}.interval")
            sd = (hi - lo) / Z95
        use = t.get("use")
        if use not in USES:
            raise fail(f"use is 'calibrate' or 'validate', not {use!r}", f"{key}.use")
        year = t.get("year")
        if isinstance(year, bool) or not isinstance(year, int):
            raise fail("the year the figure describes, as an integer", f"{key}.year")
        citation = t.get("citation")
        if not isinstance(citation, Mapping):
            raise fail("every target needs a [targets.citation] table", f"{key}.citation")
        for field in CITATION_REQUIRED:
            if field == "year":
                if isinstance(citation.get("year"), bool) or not isinstance(
                        citation.get("year"), int):
                    raise fail("the year of publication, as an integer", f"{key}.citation.year")
            else:
                _text(citation.get(field), fail, f"{key}.citation.{field}")
        bad = sorted(set(citation) - set(CITATION_FIELDS))
        if bad:
            raise fail(f"unknown key; known: {', '.join(CITATION_FIELDS)}",
                       f"{key}.citation.{bad[0]}")
        measured = {k: t[k] for k in ("measure", "expression", "table", "filters") if k in t}
        measured = _in_its_year(measured, year, scenario, fail, f"{key}.year")
        measure = metric.spec(measured, scenario, source=source, key=key)
        targets.append(Target(name, value, sd, _text(t.get("uncertainty"), fail,
                                                     f"{key}.uncertainty"),
                              year, _text(t.get("population"), fail, f"{key}.population"),
                              use, measure, dict(citation)))
    if not any(t.use == "calibrate" for t in targets):
        raise fail("no target has use = \"calibrate\": nothing to fit", "targets")
    parameters = _parameters(data.get("parameters", []), scenario, source, fail)
    return TargetsFile(source, city, preset if isinstance(preset, str) else None,
                       tuple(targets), parameters)


def is_history(scenario: Scenario) -> bool:
    """A run over dated calendar years (``city.end_date``), not one season."""
    return scenario.city.end_date is not None


def _in_its_year(measured: dict[str, Any], year: int, scenario: Scenario, fail: Any,
                 key: str) -> dict[str, Any]:
    """In a history, a figure for a year is compared with that year's requests: its
    ``year`` becomes a ``year`` filter unless the target gives one. A one-season city
    keeps all its requests (its year is the season's; the figure's year is a label)."""
    filters = measured.get("filters", {})
    if not is_history(scenario) or not isinstance(filters, Mapping) or "year" in filters:
        return measured
    years = metric.run_years(scenario)
    if year not in years:
        raise fail(f"the figure's year {year} is outside this history ({years.start} to "
                   f"{years.stop - 1}): in a history a target is compared with the requests "
                   "of its year", key)
    return measured | {"filters": {**filters, "year": year}}


def _declared(scenario: Scenario) -> dict[str, Any]:
    """Declared uncertainty ranges (maze.uncertainty) by key, where that module exists."""
    try:
        from maze import uncertainty  # type: ignore[attr-defined]
    except ImportError:
        return {}
    try:
        return {a.key: a for a in uncertainty.declared(scenario)}
    except Exception:  # noqa: BLE001 - no declared ranges is the same as none
        return {}


def _known_table(t: Any, fields: Sequence[str], what: str, key: str, fail: Any) -> None:
    """Refuse an item of a [[list]] that is not a table, or names a key outside ``fields``."""
    if not isinstance(t, Mapping):
        raise fail(what, key)
    bad = sorted(set(t) - set(fields))
    if bad:
        raise fail(f"unknown key; known: {', '.join(fields)}", f"{key}.{bad[0]}")


def _parameters(raw: Any, scenario: Scenario, source: str, fail: Any) -> tuple[Parameter, ...]:
    if not isinstance(raw, list):
        raise fail("parameters are a list of [[parameters]] tables", "parameters")
    declared = _declared(scenario)
    out: list[Parameter] = []
    for i, p in enumerate(raw):
        key = f"parameters.{i}"
        _known_table(p, PARAMETER_FIELDS, "a parameter is a table with key, low and high", key,
                     fail)
        dotted = _text(p.get("key"), fail, f"{key}.key")
        if any(q.key == dotted for q in out):
            raise fail(f"{dotted!r} is listed twice", f"{key}.key")
        prior = declared.get(dotted)
        if "low" in p or "high" in p or prior is None:
            if "low" not in p or "high" not in p:
                raise fail(f"no declared range for {dotted!r}: give low and high", key)
            low = _number(p["low"], fail, f"{key}.low")
            high = _number(p["high"], fail, f"{key}.high")
            why = str(p.get("why", ""))
        else:
            low, high = float(prior.low), float(prior.high)
            why = str(p.get("why", getattr(prior, "why", "")))
        if not low < high:
            raise fail(f"low {low:g} must be below high {high:g}", key)
        integer = bool(p.get("integer", getattr(prior, "integer", False)))
        for probe in (low, high):  # both ends must make a valid scenario
            value = round(probe) if integer else probe
            try:
                sc.override(scenario, {dotted: value}, source=source)
            except ScenarioError as exc:
                raise fail(f"setting {dotted} = {value:g} gives an invalid scenario "
                           f"({exc})", f"{key}.key") from None
        out.append(Parameter(dotted, low, high, why, integer))
    return tuple(out)


def load(path: str | Path, scenario: Scenario) -> TargetsFile:
    """Read and check a targets file against ``scenario``."""
    return check(read(path), scenario, str(path))
