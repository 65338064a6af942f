"""Fuzzing the scenario loader: every file is either run or refused in one readable line.

Hypothesis starts from valid cities and breaks them: wrong types, missing and unknown
keys, huge numbers, NaN and infinities, negative times, empty graphs, unicode and
markup in names, cycles in document prerequisites, referrals to nowhere, unsafe
conditions and junk in mechanism tables. Each file goes through ``maze.app.api.load``
(the path the CLI takes). A refusal must be a ScenarioError whose message is one line
naming the file; an accepted scenario must run to its end (shrunk to a few households
and a short horizon) and write its tables. Any other exception, or a run that does not
finish within a time limit, is a bug.

The default run is short (about 200 examples per test). For a long run::

    MAZE_FUZZ=long pytest tests/test_fuzz_loader.py        # ~5,000 examples per test
"""

from __future__ import annotations

import atexit
import copy
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import offices
from maze import scenario as sc
from maze.app import api
from maze.population import ATTRIBUTES
from maze.scenario import ScenarioError
from offices import presets
from tests.conftest import paper_city, queue_city

ROOT = Path(__file__).resolve().parents[1]
LONG = os.environ.get("MAZE_FUZZ") == "long" or os.environ.get("HYPOTHESIS_PROFILE") == "long"

settings.register_profile(
    "maze-fuzz", max_examples=200, deadline=None, derandomize=False, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.register_profile("maze-fuzz-long", settings.get_profile("maze-fuzz"),
                          max_examples=5000)
FUZZ = settings.get_profile("maze-fuzz-long" if LONG else "maze-fuzz")

#: Seconds an accepted, shrunk scenario may take to run before it counts as a hang.
RUN_LIMIT = 30
#: A refusal longer than this is not "one readable line".
MAX_MESSAGE = 1500


# -- valid starting points -------------------------------------------------------------------

def _default_city() -> dict[str, Any]:
    data = tomllib.loads(presets.text(presets.DEFAULT))
    data["population"]["households"] = 30
    return data


def _looping_city() -> dict[str, Any]:
    """Offices that refer households round a loop, with documents and a deadline."""
    data = paper_city(households=20)
    data["referrals"] = [{"from": "school", "to": "street_office", "probability": 0.5},
                         {"from": "street_office", "to": "school", "probability": 0.5}]
    data["services"]["school"]["deadline"] = 40.0
    data["services"]["school"]["condition"] = "age < 45 and not criminal_record"
    return data


BASES: list[dict[str, Any]] = [paper_city(households=20), queue_city(rate=2.0, horizon=20.0),
                               _default_city(), _looping_city()]
for base in BASES:
    sc.from_dict(base)  # the starting points are valid; mutations make them otherwise

offices._load_all()
MECHANISMS = dict(sorted(offices.REGISTRY.items()))

NAMES = sorted({o["name"] for b in BASES for o in b["offices"]}
               | {s for b in BASES for s in b["services"]}
               | {d for b in BASES for d in b.get("documents", {})}
               | {g["name"] for b in BASES for g in b["population"]["groups"]})
KNOWN_KEYS = sorted({
    "name", "kind", "sector", "level", "clerks", "seats", "service_time", "calendar", "role",
    "price", "travel_days", "weekdays", "closures", "from", "to", "reason", "service",
    "probability", "issuer", "requires", "needs", "held", "held_by_locals", "fee", "entry",
    "documents", "min_years", "max_age", "deadline", "fallback", "city_cost", "condition",
    "process", "start", "end", "rate", "share", "hukou", "attributes", "households",
    "arrivals", "days_between_visits", "visit_cost_days", "groups", "horizon", "regime",
    "start_date", "dist", "mean", "sd", "low", "high", "mode", "value", "work", "insurance",
    *ATTRIBUTES})

# -- nasty values ------------------------------------------------------------------------------

NASTY_STRINGS = ["", " ", "<script>alert(1)</script>", "名字", "Ⅻ", "\u202eevil", "a" * 300,
                 "\x00", "\n", "line\nbreak", "../../etc/passwd", "../victim", "/tmp", "..",
                 "exponential", "poisson",
                 "migrant", "local", "deflect", "capacity", "NaN", "inf", "-1", "1e999",
                 "__import__('os').system('echo pwned')", "age < 45", "age <",
                 "occupation == 'informal'", "not contract", "age.real < 1", "x" * 2000]
NASTY_NUMBERS = [0, -1, 1, 2, 7, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 10**9, 10**12,
                 math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 1e-12, 0.5,
                 0.999999, 1.0000001, 36_500.0, 36_500.5, 1e9, 1e-200, 1e-9, 0.01, -3.0,
                 "50", True]

scalars = st.one_of(
    st.sampled_from(NASTY_NUMBERS),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(NAMES),
    st.text(max_size=20),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10)), inner,
                        max_size=4)),
    max_leaves=8)

#: Values a careful author might write: mutations with these are often still valid.
plausible = st.one_of(st.integers(0, 50), st.floats(0, 100), st.sampled_from(NAMES),
                      st.booleans(), st.sampled_from(list(ATTRIBUTES)),
                      st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 30.0]))

distributions = st.one_of(
    st.fixed_dictionaries(
        {"dist": st.sampled_from(["constant", "exponential", "uniform", "normal", "lognormal",
                                  "gamma", "triangular", "poisson", "weibull", ""])},
        optional={p: st.one_of(st.sampled_from(NASTY_NUMBERS),
                               st.floats(-10, 10), st.sampled_from(NASTY_STRINGS))
                  for p in ("value", "mean", "sd", "low", "high", "mode")}),
    values)

condition_tokens = st.sampled_from(
    [*ATTRIBUTES, "and", "or", "not", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/",
     "(", ")", "0", "45", "7.5", "1e999", "'informal'", "'farmer'", "True", "__import__",
     "__class__", ".", "[", "]", ",", "lambda", ":", "**", "%", "if", "else", "in", "is",
     "'", '"', "os", "system", "x", "\n", " "])
_NUMBERS = [n for n, a in ATTRIBUTES.items() if a.kind == "number"]
_BOOLEANS = [n for n, a in ATTRIBUTES.items() if a.kind == "bool"]
_CATEGORIES = [n for n, a in ATTRIBUTES.items() if a.kind == "category"]
_atoms = st.one_of(
    st.tuples(st.sampled_from(_NUMBERS), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
              st.sampled_from(["0", "1", "7", "45", "0.5", "1000"])).map(" ".join),
    st.sampled_from(_BOOLEANS),
    st.sampled_from(_CATEGORIES).flatmap(lambda c: st.sampled_from(
        [f"{c} == {v!r}" for v in ATTRIBUTES[c].categories])))
#: Conditions that parse: rules a scenario author might write.
valid_conditions = st.recursive(_atoms, lambda e: st.one_of(
    st.tuples(e, st.sampled_from([" and ", " or "]), e).map("".join),
    e.map(lambda x: f"not ({x})")), max_leaves=6)
conditions = st.one_of(
    valid_conditions, valid_conditions,
    st.lists(condition_tokens, min_size=0, max_size=25).map(" ".join),
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=60))


def _plausible(annotation: Any, names: list[str], depth: int) -> st.SearchStrategy:
    """Values of the declared type of a config field, using the scenario's own names."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _plausible(args[0], names, depth)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_plausible(a, names, depth) for a in args if a is not type(None)])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return shaped(annotation, names, depth + 1) if depth < 3 else st.just({})
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(0, 5)
    if annotation is float:
        return st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.0, 30.0, 100.0])
    if annotation is str:
        return st.sampled_from(names)
    if origin is tuple and args:
        return st.lists(_plausible(args[0], names, depth), min_size=1, max_size=3, unique_by=str)
    if origin is dict and len(args) == 2:
        return st.dictionaries(_plausible(args[0], names, depth),
                               _plausible(args[1], names, depth), max_size=3)
    return values


@st.composite
def shaped(draw: st.DrawFn, model: type[BaseModel], names: list[str],
           depth: int = 0) -> dict[str, Any]:
    """A dict shaped like a config model: mostly the right keys and types, sometimes junk."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not draw(st.sampled_from([True] * 9 + [False]) if field.is_required()
                    else st.sampled_from([True, False, False])):
            continue
        out[name] = draw(_plausible(field.annotation, names, depth))
    junk = draw(st.sampled_from(["none"] * 6 + ["value", "key"]))
    if junk == "value" and out:
        out[draw(st.sampled_from(sorted(out)))] = draw(values)
    elif junk == "key":
        out[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return out


def _scenario_names(data: dict[str, Any]) -> list[str]:
    """Names a mechanism table may refer to: services, offices, documents, attributes."""
    found: list[str] = []
    for table in ("services", "documents"):
        if isinstance(data.get(table), dict):
            found += [str(k) for k in data[table]]
    found += [str(o.get("name")) for o in data.get("offices", []) if isinstance(o, dict)]
    return found or NAMES


# -- mutations ---------------------------------------------------------------------------------

def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into a nested dict/list, containers included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def set_value(draw: st.DrawFn, data: dict) -> None:
    path = draw(st.sampled_from([p for p in _paths(data) if p]))
    parent = _get(data, path[:-1])
    parent[path[-1]] = draw(st.one_of(plausible, values))


def delete_key(draw: st.DrawFn, data: dict) -> None:
    paths = [p for p in _paths(data) if p]
    path = draw(st.sampled_from(paths))
    del _get(data, path[:-1])[path[-1]]


def add_key(draw: st.DrawFn, data: dict) -> None:
    dicts = [p for p in _paths(data) if isinstance(_get(data, p), dict)]
    node = _get(data, draw(st.sampled_from(dicts)))
    key = draw(st.one_of(st.sampled_from(KNOWN_KEYS), st.sampled_from(NASTY_STRINGS[:12]),
                         st.text(min_size=1, max_size=12)))
    node[key] = draw(values)


def rename(draw: st.DrawFn, data: dict) -> None:
    """Give an office or group a duplicate, empty, huge, unicode or markup name."""
    table = draw(st.sampled_from([data.get("offices"), data["population"].get("groups")]))
    if isinstance(table, list) and table and isinstance(table[0], dict):
        i = draw(st.integers(0, len(table) - 1))
        table[i]["name"] = draw(st.one_of(st.sampled_from(NASTY_STRINGS), st.sampled_from(NAMES),
                                          st.text(max_size=30)))


def refer(draw: st.DrawFn, data: dict) -> None:
    """Referrals between existing offices, to nowhere, in loops, with odd probabilities."""
    names = [o.get("name") for o in data.get("offices", []) if isinstance(o, dict)] or ["x"]
    ends = st.one_of(st.sampled_from(names), st.sampled_from(names),
                     st.sampled_from(NASTY_STRINGS[:8]))
    edge = st.fixed_dictionaries(
        {"from": ends, "to": ends},
        optional={"probability": st.one_of(st.floats(0, 0.4), st.floats(0, 0.4),
                                           st.floats(0, 1), st.sampled_from(NASTY_NUMBERS)),
                  "reason": st.sampled_from([*sc.REASONS, "whim"]),
                  "service": st.sampled_from([*list(data.get("services", {})), "nope"])})
    data["referrals"] = draw(st.lists(edge, max_size=5))


def papers(draw: st.DrawFn, data: dict) -> None:
    """Documents that require each other (often in a cycle), issued by anyone or nobody."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "名", "<b>x</b>"]), min_size=1,
                          max_size=4, unique=True))
    offices_ = [o.get("name") for o in data.get("offices", []) if isinstance(o, dict)]
    docs = data.setdefault("documents", {})
    if not isinstance(docs, dict):
        return
    for n in names:
        doc: dict[str, Any] = {"requires": draw(st.lists(st.sampled_from(names), max_size=2))}
        if offices_ and draw(st.booleans()):
            doc["issuer"] = draw(st.sampled_from(offices_))
        if draw(st.booleans()):
            doc["needs"] = draw(st.lists(st.sampled_from(list(ATTRIBUTES)), max_size=2))
        if draw(st.sampled_from([True, False, False])):
            doc["condition"] = draw(conditions)
        docs[n] = doc
    services = data.get("services")
    if isinstance(services, dict) and services:
        svc = services[draw(st.sampled_from(list(services)))]
        if isinstance(svc, dict):
            svc["documents"] = draw(st.lists(st.sampled_from(names), max_size=3))


def condition(draw: st.DrawFn, data: dict) -> None:
    table = draw(st.sampled_from(["services", "documents"]))
    node = data.get(table)
    if isinstance(node, dict) and node:
        entry = node[draw(st.sampled_from(list(node)))]
        if isinstance(entry, dict):
            entry["condition"] = draw(conditions)


def mechanism(draw: st.DrawFn, data: dict) -> None:
    """A mechanism table: a known mechanism with plausible or junk keys, or an unknown one."""
    name = draw(st.sampled_from(list(MECHANISMS) * 4 + NASTY_STRINGS[:6]))
    if name in MECHANISMS and draw(st.integers(0, 3)):
        table = draw(shaped(MECHANISMS[name][0], _scenario_names(data)))
    else:
        table = draw(values)
    mech = data.setdefault("mechanisms", {})
    if isinstance(mech, dict):
        mech[name] = table


def timing(draw: st.DrawFn, data: dict) -> None:
    """Negative, reversed, huge or non-finite times and distributions."""
    num = st.one_of(st.sampled_from(NASTY_NUMBERS), st.floats(-100, 100))
    target = draw(st.sampled_from(["horizon", "service_time", "gap", "arrivals", "closures",
                                   "deadline", "travel", "attribute", "households", "clerks"]))
    offices_ = [o for o in data.get("offices", []) if isinstance(o, dict)]
    pop = data["population"]
    if target == "horizon":
        data.setdefault("city", {})["horizon"] = draw(num)
    elif target == "service_time" and offices_:
        draw(st.sampled_from(offices_))["service_time"] = draw(distributions)
    elif target == "gap":
        pop["days_between_visits"] = draw(distributions)
    elif target == "arrivals":
        pop["arrivals"] = draw(st.fixed_dictionaries(
            {}, optional={"process": st.sampled_from(["uniform", "poisson", "burst"]),
                          "start": num, "end": num, "rate": num}))
    elif target == "closures" and offices_:
        draw(st.sampled_from(offices_))["calendar"] = draw(st.fixed_dictionaries(
            {}, optional={"weekdays": st.lists(st.integers(-2, 9), max_size=8),
                          "closures": st.lists(st.lists(num, min_size=0, max_size=3),
                                               max_size=3)}))
    elif target == "deadline" and isinstance(data.get("services"), dict) and data["services"]:
        svc = data["services"][draw(st.sampled_from(list(data["services"])))]
        svc["deadline"] = draw(num)
    elif target == "travel" and offices_:
        draw(st.sampled_from(offices_))["travel_days"] = draw(num)
    elif target == "attribute" and pop.get("groups"):
        group = draw(st.sampled_from(pop["groups"]))
        if isinstance(group, dict):
            attrs = group.setdefault("attributes", {})
            attrs[draw(st.sampled_from(list(ATTRIBUTES)))] = draw(st.one_of(
                num, distributions, st.sampled_from(NASTY_STRINGS), st.booleans(), values))
    elif target == "households":
        pop["households"] = draw(st.one_of(st.sampled_from(NASTY_NUMBERS),
                                           st.integers(-10, 10**12)))
    elif target == "clerks" and offices_:
        office = draw(st.sampled_from(offices_))
        office[draw(st.sampled_from(["clerks", "seats"]))] = draw(
            st.one_of(st.sampled_from(NASTY_NUMBERS), st.integers(-5, 10**7)))


def empty(draw: st.DrawFn, data: dict) -> None:
    """An empty graph: no offices, no services, no groups, or no referrals at all."""
    target = draw(st.sampled_from(["offices", "services", "groups", "documents", "city"]))
    if target == "groups":
        data["population"]["groups"] = []
    else:
        data[target] = [] if target == "offices" else {}


MUTATIONS: list[Callable[[st.DrawFn, dict], None]] = [
    set_value, delete_key, add_key, rename, refer, papers, condition, mechanism, timing,
    timing, empty]


@st.composite
def broken_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    count = draw(st.sampled_from([1, 1, 1, 2, 3]))
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), min_size=count, max_size=count)):
        if not isinstance(data.get("population"), dict):
            data["population"] = {}
        try:
            mutate(draw, data)
        except (TypeError, KeyError, IndexError, AttributeError):
            pass  # an earlier mutation left no place for this one
    return data


# -- borderline but valid: the corners a run must survive -----------------------------------

def edge_number(draw: st.DrawFn, data: dict) -> None:
    """A number at the edge of its range: zero, tiny, one, or a thousand times larger."""
    leaves = [p for p in _paths(data) if p and type(_get(data, p)) in (int, float)]
    path = draw(st.sampled_from(leaves))
    old = _get(data, path)
    if isinstance(old, int):
        new: Any = draw(st.sampled_from([0, 1, old * 10, old + 1]))
    else:
        new = draw(st.sampled_from([0.0, 1e-9, 1.0, old * 1000.0, old / 1000.0]))
    _get(data, path[:-1])[path[-1]] = new


def rename_everywhere(draw: st.DrawFn, data: dict) -> None:
    """Rename an office, document, service or group everywhere it is mentioned."""
    old = draw(st.sampled_from(_scenario_names(data) + [
        g["name"] for g in data["population"]["groups"]]))
    new = draw(st.sampled_from(["<script>alert(1)</script>", "城市 办公室", "\u202eevil", "a b",
                                "Ω" * 150, "x'\"<>&", "0", "true"]))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {(new if k == old else k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return new if node == old and isinstance(node, str) else node

    renamed = walk(data)
    data.clear()
    data.update(renamed)


def corner_time(draw: st.DrawFn, data: dict) -> None:
    """Zero service times, zero gaps, closed calendars, far travel, a deadline on day 0."""
    offices_ = data["offices"]
    office = draw(st.sampled_from(offices_))
    what = draw(st.sampled_from(["zero_service", "zero_gap", "closed", "one_day", "travel",
                                 "deadline", "late_arrivals", "seats"]))
    if what == "zero_service":
        office["service_time"] = {"dist": "constant", "value": 0.0}
    elif what == "zero_gap":
        data["population"]["days_between_visits"] = {"dist": "constant", "value": 0.0}
    elif what == "closed":
        office["calendar"] = {"closures": [[0.0, 1e6]]}
    elif what == "one_day":
        office["calendar"] = {"weekdays": [draw(st.integers(0, 6))]}
    elif what == "travel":
        office["travel_days"] = draw(st.sampled_from([0.0, 30.0, 1e4]))
    elif what == "deadline":
        for svc in data["services"].values():
            svc["deadline"] = 0.0
    elif what == "late_arrivals":
        horizon = data.get("city", {}).get("horizon", 365.0)
        data["population"]["arrivals"] = {**data["population"].get("arrivals", {}),
                                          "start": horizon * 0.99}
        data["population"]["arrivals"].pop("end", None)
    else:
        office["seats"] = draw(st.sampled_from([0, 1]))


def corner_household(draw: st.DrawFn, data: dict) -> None:
    """Households with no patience, no money, no will, or endless patience."""
    group = draw(st.sampled_from(data["population"]["groups"]))
    name = draw(st.sampled_from(["patience_days", "patience_visits", "savings", "willingness",
                                 "home_ties", "daily_wage", "job_changes", "age",
                                 "years_insurance", "children"]))
    value = draw(st.sampled_from([0.0, 1.0, 1e9, 0.5]))
    if name in ("willingness", "home_ties"):
        value = min(value, 1.0)
    group.setdefault("attributes", {})[name] = value


def loop_for_sure(draw: st.DrawFn, data: dict) -> None:
    """Two offices that always send households to each other (the referral loop)."""
    names = [o["name"] for o in data["offices"]]
    if len(names) < 2:
        return
    a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    data["referrals"] = [{"from": a, "to": b, "probability": 1.0},
                         {"from": b, "to": a, "probability": 1.0}]


def good_condition(draw: st.DrawFn, data: dict) -> None:
    table = draw(st.sampled_from(["services", "documents"]))
    if data.get(table):
        data[table][draw(st.sampled_from(sorted(data[table])))]["condition"] = draw(
            valid_conditions)


def good_mechanism(draw: st.DrawFn, data: dict) -> None:
    name = draw(st.sampled_from(list(MECHANISMS)))
    data.setdefault("mechanisms", {})[name] = draw(
        shaped(MECHANISMS[name][0], _scenario_names(data)))


BORDERLINE: list[Callable[[st.DrawFn, dict], None]] = [
    edge_number, rename_everywhere, corner_time, corner_household, loop_for_sure,
    good_condition, good_mechanism, good_mechanism]


@st.composite
def borderline_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for mutate in draw(st.lists(st.sampled_from(BORDERLINE), min_size=1, max_size=4)):
        mutate(draw, data)
    return data


# -- the checks ------------------------------------------------------------------------------

class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: types.FrameType | None) -> None:
        raise Hang(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_readable(message: str, source: str) -> None:
    assert "\n" not in message and "\r" not in message, f"refusal spans lines: {message!r}"
    assert "Traceback" not in message, message
    assert message.startswith(f"{source}: "), f"refusal does not name the file: {message!r}"
    assert len(message) <= MAX_MESSAGE, f"refusal of {len(message)} characters"
    assert message.strip() != f"{source}:", "refusal says nothing"


def to_toml(data: dict[str, Any]) -> str | None:
    try:
        return tomli_w.dumps(data)
    except (TypeError, ValueError):
        return None  # not expressible in TOML (None, keys that are not strings)


WORKDIR = Path(tempfile.mkdtemp(prefix="maze-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)


def shrunk(scenario: sc.Scenario) -> sc.Scenario:
    """The same city with few households and a short horizon, so it runs in moments."""
    pop = scenario.population
    changes: dict[str, Any] = {
        "city.horizon": min(scenario.city.horizon, max(60.0, pop.arrivals.start + 60.0))}
    if pop.households is not None:
        changes["population.households"] = min(pop.households, 40)
    if pop.arrivals.rate is not None:
        changes["population.arrivals.rate"] = min(pop.arrivals.rate, 2.0)
    return sc.override(scenario, changes, source="shrunk")


def load_or_refuse(data: dict[str, Any]) -> sc.Scenario | None:
    """api.load on the file (or from_dict when TOML cannot express it); None if refused."""
    text = to_toml(data)
    if text is None:
        source = "<dict>"
        try:
            scenario = sc.from_dict(data, source=source)
            offices.configs(scenario, source)
            return scenario
        except ScenarioError as exc:
            assert_readable(str(exc), source)
            return None
    path = WORKDIR / "city.toml"
    path.write_text(text, encoding="utf-8")
    try:
        return api.load(path)
    except ScenarioError as exc:
        assert_readable(str(exc), str(path))
        return None


def runs(scenario: sc.Scenario) -> None:
    small = shrunk(scenario)
    with time_limit(RUN_LIMIT):
        result = api.run(small, seed=3)
    out = api.write(result, WORKDIR / "out", report=False)
    assert (out / "summary.json").is_file()
    assert result.summary["households"] == len(result.raw.households)


@FUZZ
@given(broken_scenarios())
def test_broken_scenarios_are_run_or_refused_in_one_line(data: dict[str, Any]) -> None:
    scenario = load_or_refuse(data)
    event("accepted" if scenario is not None else "refused")
    if scenario is not None:
        runs(scenario)


@FUZZ
@given(borderline_scenarios())
def test_borderline_scenarios_are_run_or_refused_in_one_line(data: dict[str, Any]) -> None:
    scenario = load_or_refuse(data)
    event("accepted" if scenario is not None else "refused")
    if scenario is not None:
        runs(scenario)


@FUZZ
@given(broken_scenarios(), st.data())
def test_mangled_toml_text_is_refused_in_one_line(data: dict[str, Any],
                                                  more: st.DataObject) -> None:
    """Text-level damage: truncation, stray bytes, duplicated lines, bad encodings."""
    text = to_toml(data) or tomli_w.dumps(BASES[0])
    how = more.draw(st.sampled_from(["truncate", "insert", "duplicate", "bytes"]))
    raw = text.encode("utf-8")
    if how == "truncate":
        raw = raw[: more.draw(st.integers(0, len(raw)))]
    elif how == "insert":
        at = more.draw(st.integers(0, len(raw)))
        raw = raw[:at] + more.draw(st.sampled_from(
            [b"=", b"[", b"]]", b"\"", b"\n[[offices]]\n", b"\x00", b"\xff\xfe", b"\n= 1\n",
             b"\nhorizon = 1e309\n", b"{", b"'''"])) + raw[at:]
    elif how == "duplicate":
        lines = raw.splitlines(keepends=True) or [b""]
        i = more.draw(st.integers(0, len(lines) - 1))
        raw = b"".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
    else:
        raw = more.draw(st.binary(max_size=200))
    path = WORKDIR / "mangled.toml"
    path.write_bytes(raw)
    try:
        scenario = api.load(path)
    except ScenarioError as exc:
        assert_readable(str(exc), str(path))
        return
    runs(scenario)


# -- a handful through the command line ------------------------------------------------------

def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "maze.app.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def assert_cli_refusal(r: subprocess.CompletedProcess[str], path: Path) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"maze: error: {path}: "), lines[0]
    assert "Traceback" not in r.stderr


@settings(FUZZ, max_examples=3 if not LONG else 60)
@given(broken_scenarios())
def test_cli_validate_exits_0_or_2_with_one_line(data: dict[str, Any]) -> None:
    text = to_toml(data)
    if text is None:
        return
    path = WORKDIR / "cli city.toml"
    path.write_text(text, encoding="utf-8")
    r = cli("validate", str(path))
    assert "Traceback" not in r.stderr + r.stdout
    if r.returncode == 0:
        assert "valid" in r.stdout
    else:
        assert_cli_refusal(r, path)


HAND_PICKED = {
    "empty.toml": "",
    "not_toml.toml": "this is = = not toml",
    "nan_horizon.toml": tomli_w.dumps({**BASES[0], "city": {"horizon": math.nan}}),
    "negative_time.toml": tomli_w.dumps({**BASES[0], "city": {"horizon": -5.0}}),
    "referral_to_nowhere.toml": tomli_w.dumps({**BASES[0],
                                               "referrals": [{"from": "school", "to": "mars"}]}),
    "billions.toml": tomli_w.dumps({**BASES[1], "population": {
        **BASES[1]["population"], "arrivals": {"process": "poisson", "rate": 1e7}}}),
    "script.toml": tomli_w.dumps({**BASES[0], "mechanisms": {"<script>": {}}}),
    "unsafe_rule.toml": tomli_w.dumps({**BASES[0], "services": {"school": {
        "entry": "school", "condition": "__import__('os').system('echo pwned')"}}}),
}


@pytest.mark.parametrize("name", sorted(HAND_PICKED))
def test_cli_run_refuses_bad_files_with_exit_2(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(HAND_PICKED[name], encoding="utf-8")
    r = cli("run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert_cli_refusal(r, path)
    assert "pwned" not in r.stdout + r.stderr
    assert not (tmp_path / "out").exists()


def test_cli_runs_an_odd_but_valid_city(tmp_path: Path) -> None:
    """Unicode and markup names, a loop, conditions: accepted, run, written."""
    data = copy.deepcopy(BASES[3])
    data["city"]["name"] = "城市 <b>"
    data["population"]["groups"][0]["name"] = "流动人口 <script>x</script>"
    path = tmp_path / "odd.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    r = cli("run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--households", "15")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "summary.json").is_file()
    assert (tmp_path / "out" / "report.html").is_file()
