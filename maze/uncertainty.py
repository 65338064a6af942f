"""Declared uncertainty: the plausible values of the numbers a scenario assumes.

A scenario file may carry a top-level ``[uncertainty]`` table keyed by the dotted paths
that overrides accept::

    [uncertainty]
    "offices.street_office.clerks" = { range = [1, 4], why = "no source gives staffing" }
    "mechanisms.referral_loop.repeat_probability" = { range = [0.1, 0.7], why = "..." }
    "mechanisms.class_cap.locals_first" = { values = [true, false], why = "..." }

``dist`` is ``"uniform"`` (the default), ``"loguniform"`` or ``"triangular"`` (with
``mode``); ``source`` cites a published value whose range is the uncertainty the source
states. :func:`declared` checks each key against the scenario (the key exists, its value
is a number inside the range, a whole number stays whole) and returns the assumptions;
:func:`sample` maps points of the unit cube to values and :func:`apply` sets a point as
overrides, so sensitivity analysis and calibration draw from the same declarations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maze import scenario as sc
from maze.population import ATTRIBUTES
from maze.scenario import Scenario, ScenarioError


@dataclass(frozen=True)
class Assumption:
    """One declared uncertain number (or a choice among alternatives) of a scenario."""

    key: str
    value: Any
    low: float | None
    high: float | None
    dist: str
    why: str
    integer: bool = False
    mode: float | None = None
    source: str | None = None
    #: Discrete alternatives (``values = [...]``); then ``low``/``high`` are None.
    values: tuple[Any, ...] | None = None

    @property
    def numeric(self) -> bool:
        return self.values is None

    def at(self, u: float) -> Any:
        """The value at quantile ``u`` in [0, 1] of the declared distribution."""
        u = min(max(float(u), 0.0), 1.0)
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.dist == "loguniform":
            x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        elif self.dist == "triangular":
            c = (float(self.mode) - lo) / (hi - lo)  # type: ignore[arg-type]
            x = (lo + math.sqrt(u * (hi - lo) * (float(self.mode) - lo)) if u < c  # type: ignore[arg-type]
                 else hi - math.sqrt((1 - u) * (hi - lo) * (hi - float(self.mode))))  # type: ignore[arg-type]
        else:
            x = lo + u * (hi - lo)
        if self.integer:
            return int(min(max(math.floor(x + 0.5), lo), hi))
        return x

    def describe_range(self) -> str:
        """The range as a reader sees it: ``1 – 4``, ``0.1 – 0.7 (loguniform)``, ``true | false``.
        """
        if self.values is not None:
            return " | ".join(show(v) for v in self.values)
        text = f"{show(self.low, self.integer)} – {show(self.high, self.integer)}"
        if self.dist == "triangular":
            return f"{text} (triangular, mode {show(self.mode)})"
        return text if self.dist == "uniform" else f"{text} ({self.dist})"


def show(v: Any, integer: bool = False) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and (integer or v.is_integer()):
        return str(int(v))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else str(v)


def declared(scenario: Scenario, source: str = "<scenario>",
             keys: Sequence[str] | None = None) -> list[Assumption]:
    """The scenario's declared assumptions, each checked against its value; ``keys``
    keeps these (in that order), refusing a key that is not declared."""
    out = []
    for key, u in scenario.uncertainty.items():
        where = f"uncertainty.{key}"
        try:
            value = sc.get_dotted(scenario, key, source)
        except ScenarioError as exc:
            raise ScenarioError(f"{_bare(exc)} (at {exc.key})", source=source,
                                key=where) from None
        if u.values is not None:
            if value not in u.values:
                raise ScenarioError(f"the scenario's value {show(value)} is not among the "
                                    "values", source=source, key=where)
            out.append(Assumption(key, value, None, None, "choice", u.why, source=u.source,
                                  values=tuple(u.values)))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"the scenario's value here is {show(value)}, not a number; "
                                "declare alternatives with values = [...]", source=source,
                                key=where)
        low, high = u.range  # type: ignore[misc]
        integer = isinstance(value, int)
        if integer and not (float(low).is_integer() and float(high).is_integer()):
            raise ScenarioError(f"the value {value} is a whole number, so the range is too",
                                source=source, key=where)
        if not low <= value <= high:
            raise ScenarioError(f"the scenario's value {show(value)} is outside the range "
                                f"[{show(low)}, {show(high)}]", source=source, key=where)
        beyond = _beyond_attribute(key, low, high)
        if beyond:
            raise ScenarioError(beyond, source=source, key=where)
        out.append(Assumption(key, value, low, high, u.dist, u.why, integer, u.mode, u.source))
    if keys is None:
        return out
    by_key = {a.key: a for a in out}
    for k in keys:
        if k not in by_key:
            raise ScenarioError("not a declared uncertain key (see maze assumptions)",
                                source=source, key=k)
    return [by_key[k] for k in keys]


def check_ends(scenario: Scenario, assumptions: Sequence[Assumption],
               source: str = "<scenario>") -> None:
    """Refuse a study whose assumptions reach values the scenario cannot take: each end of
    each range (and each listed alternative), set alone, must make a scenario that passes
    the check, so that no point of the study fails part-way through its runs. (A point
    that combines several ends is checked only when a run sets it.)"""
    for a in assumptions:
        ends = a.values if a.values is not None else (a.low, a.high)
        for end in ends:
            if end == a.value:
                continue
            value = int(end) if a.integer else end
            try:
                apply(scenario, {a.key: value}, source=source)
            except ScenarioError as exc:
                raise ScenarioError(f"at {show(value)} the scenario cannot run: "
                                    f"{_bare(exc)}", source=source,
                                    key=f"uncertainty.{a.key}") from None


def _beyond_attribute(key: str, low: float, high: float) -> str | None:
    """Why a range declared for a household attribute (``...attributes.grades``) or a
    number of its distribution (``...attributes.age.mean``) reaches outside the values the
    attribute takes, or None: every point drawn from it must be a scenario that runs."""
    parts = key.split(".")
    at = len(parts) - 2 if parts[-2:-1] == ["attributes"] else len(parts) - 3
    if at < 0 or parts[at] != "attributes" or parts[at + 1] not in ATTRIBUTES or (
            at == len(parts) - 3 and parts[-1] not in ("value", "low", "mode", "high", "mean")):
        return None  # not an attribute, or its distribution's spread (sd)
    spec = ATTRIBUTES[parts[at + 1]]
    if (spec.low is not None and low < spec.low) or (spec.high is not None and high > spec.high):
        return (f"the range [{show(low)}, {show(high)}] reaches outside the values the "
                f"attribute takes: {spec.range_text()}")
    return None


def _bare(exc: ScenarioError) -> str:
    msg = str(exc)
    for part in (exc.source, exc.key):
        if part:
            msg = msg.removeprefix(f"{part}: ")
    return msg


def sample(assumptions: Sequence[Assumption], unit: np.ndarray) -> list[dict[str, Any]]:
    """Points (key -> value) from rows of ``unit``, one column per assumption in [0, 1]."""
    unit = np.atleast_2d(np.asarray(unit, dtype=float))
    if unit.shape[1] != len(assumptions):
        raise ValueError(f"{unit.shape[1]} columns for {len(assumptions)} assumptions")
    return [{a.key: a.at(u) for a, u in zip(assumptions, row, strict=True)} for row in unit]


def draw(assumptions: Sequence[Assumption], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` points drawn from the declared distributions (Latin hypercube, reproducible)."""
    from scipy.stats import qmc

    if not assumptions:
        return [{} for _ in range(n)]
    unit = qmc.LatinHypercube(d=len(assumptions), seed=np.random.default_rng(seed)).random(n)
    return sample(assumptions, unit)


def apply(scenario: Scenario, point: Mapping[str, Any], source: str = "<uncertainty>"
          ) -> Scenario:
    """The scenario with a point's values set (as overrides, validated)."""
    return sc.override(scenario, dict(point), source=source)
