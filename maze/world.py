"""The world: one SimPy environment, the offices as resources, the referral graph, the households.

Built from a validated scenario, a seed and a list of mechanisms; run to the
horizon; it leaves behind an event log and the population table. Random
numbers come from independent streams spawned from the seed, one per use, so
that switching a mechanism on does not shift the draws of the population.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import simpy

from maze.calendar import OpeningCalendar
from maze.counter import Counter
from maze.distributions import Sampler
from maze.eventlog import EventLog
from maze.graph import referral_graph
from maze.household import Household, Request
from maze.mechanism import Mechanism
from maze.population import ATTRIBUTES, YEAR_DAYS, draw_population
from maze.scenario import Office, Scenario

#: Named random streams; adding a stream at the end keeps the others unchanged.
STREAMS = ("population", "service", "gaps", "decisions", "mechanisms", "lives")
#: The family decisions a run over years asks the mechanisms (see maze.mechanism).
FAMILY_HOOKS = ("brings_child", "back_for_gaokao", "tries_again", "returns_home")


class Station:
    """An office at work: its clerks (a counter on SimPy events), its calendar, its seats."""

    __slots__ = ("name", "spec", "counter", "calendar", "service_time", "seats_left",
                 "served", "kind", "sector", "level", "role", "busy_time", "queue_time",
                 "price", "travel_days")

    def __init__(self, env: simpy.Environment, spec: Office, scenario: Scenario,
                 rng: np.random.Generator):
        self.name = spec.name
        self.spec = spec
        self.counter = Counter(env, spec.clerks)
        self.calendar = (None if spec.calendar.always_open
                         else OpeningCalendar(spec.calendar, scenario.city.start_date))
        self.service_time = Sampler(spec.service_time, rng)
        self.seats_left = spec.seats
        self.served = 0
        self.kind = spec.kind
        self.sector = spec.sector
        self.level = spec.level
        self.role = spec.role
        self.price = spec.price
        self.travel_days = spec.travel_days
        self.busy_time = 0.0
        self.queue_time = 0.0

    def is_open(self, t: float) -> bool:
        return self.calendar is None or self.calendar.is_open(t)


class _Columns(dict):
    """Population columns as Python lists (fast to index one row at a time), each made on
    first use: a run reads only a few of the attributes."""

    def __init__(self, households: pd.DataFrame):
        super().__init__()
        self._households = households

    def __missing__(self, name: str) -> list:
        if name not in self._households.columns and name in ATTRIBUTES:
            # An optional attribute nobody declared (kept out of the table): its default.
            values = self[name] = [ATTRIBUTES[name].default] * len(self._households)
            return values
        values = self[name] = self._households[name].tolist()
        return values


@dataclass
class RunResult:
    """What one run leaves behind: the raw tables, before any measure is taken."""

    scenario: Scenario
    seed: int
    events: pd.DataFrame
    households: pd.DataFrame
    graph: nx.DiGraph
    #: Runs over years (``[lives]``): one row per child and school year, and the events
    #: of the households' lives (arrivals, stages, renewals, leaving). None otherwise.
    children: pd.DataFrame | None = None
    life_events: pd.DataFrame | None = None


class World:
    """Everything that exists during one run."""

    def __init__(self, scenario: Scenario, seed: int, mechanisms: Sequence[Mechanism] = ()):
        self.scenario = scenario
        self.seed = int(seed)
        streams = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(STREAMS, streams,
                                                                      strict=True)}
        self.env = simpy.Environment()
        self.log = EventLog()
        self.graph = referral_graph(scenario)
        self.stations = {o.name: Station(self.env, o, scenario, self.rng["service"])
                         for o in scenario.offices}
        self.gap = Sampler(scenario.population.days_between_visits, self.rng["gaps"])
        self.households = draw_population(scenario, self.rng["population"])
        self._cols = _Columns(self.households)
        #: The population columns by attribute name (lists, one value per household id):
        #: what ``Household.attr`` reads, for the household process's hot path.
        self.columns = self._cols
        self.visit_cost_days = scenario.population.visit_cost_days
        self.mechanisms = list(mechanisms)
        self.requests: list[Request] = []
        #: Case ids for requests made after arrival (renewals, new stages, reopened
        #: cases), after every case id the arrivals can use.
        self.next_case = len(self.households) * len(scenario.services)
        self.horizon = scenario.city.horizon
        self.decisions = self.rng["decisions"]
        self.lives = None
        if scenario.lives is not None:
            from maze.lives import Lives

            self.lives = Lives(self)
        for m in self.mechanisms:
            m.install(self)
        self.deterrers: list[Mechanism] = []
        self.deciders: list[Mechanism] = []
        self.finishers: list[Mechanism] = []
        self.fallback_choosers: list[Mechanism] = []
        self.home_deciders: list[Mechanism] = []

    # -- running -------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None = None, steps: int = 50) -> RunResult:
        """Run to the horizon; ``progress`` is called with the fraction of time done."""
        from maze.journey import arrivals  # the household process lives beside the world

        # Only mechanisms that have something to say and override a hook are asked on the
        # hot path.
        working = [m for m in self.mechanisms if not m.idle()]
        self.deterrers = _overriding(working, "deters")
        self.deciders = _overriding(working, "decide")
        self.finishers = _overriding(working, "finished")
        self.fallback_choosers = _overriding(working, "fallbacks")
        self.home_deciders = _overriding(working, "goes_home")
        self.env.process(arrivals(self))
        if self.lives is not None:
            self.lives.hooks = {h: _overriding(working, h) for h in FAMILY_HOOKS}
            self.env.process(self.lives.years())
        with _fewer_collections():
            for i in range(1, steps + 1):
                # The last step ends on the horizon itself: horizon * steps / steps can be a
                # unit in the last place above it, and what falls on the horizon would run.
                self.env.run(until=self.horizon * i / steps if i < steps else self.horizon)
                if progress is not None:
                    progress(i / steps)
        self._close_pending()
        children = life_events = None
        if self.lives is not None:
            self.lives.close()
            children, life_events = self.lives.children_table(), self.lives.events_table()
        return RunResult(self.scenario, self.seed, self.log.to_frame(self.requests),
                         self.households, self.graph, children, life_events)

    def _close_pending(self) -> None:
        for req in self.requests:
            if req.outcome is None:
                req.outcome = "pending"
                req.end = self.horizon
                req.end_office = req.offices[-1] if req.offices else ""

    # -- helpers for the household process and mechanisms ----------------------------------
    def household(self, hid: int) -> Household:
        return Household(hid, self._cols["group"][hid], self._cols["hukou"][hid] == "local",
                         self._cols)

    def column(self, name: str) -> list:
        return self._cols[name]

    def new_request(self, household: Household, service: str, entry: str) -> Request:
        """A request made now, after arrival (a renewal, a new school stage, a case a
        closure reopens), numbered after every case the arrivals can open."""
        req = Request(self.next_case, household, service, self.env.now, entry)
        self.next_case += 1
        self.requests.append(req)
        return req

    def release_seat(self, office: str) -> None:
        """A household gives up the seat it held (a pupil moving on, a family leaving)."""
        station = self.stations[office]
        if station.seats_left is not None:
            station.seats_left += 1

    def day_of_year(self, t: float) -> float:
        """Day ``t`` on the yearly calendar of deadlines: ``t`` itself in a one-season run,
        the day within its year in a run over years (a school year starts every year)."""
        return t if self.lives is None else t - YEAR_DAYS * math.floor(t / YEAR_DAYS)

    def chance(self, p: float) -> bool:
        """A yes/no draw on the decisions stream."""
        return p >= 1.0 or (p > 0.0 and self.decisions.random() < p)

    @property
    def now(self) -> float:
        return self.env.now


def _overriding(mechanisms: Sequence[Mechanism], hook: str) -> list[Mechanism]:
    """The mechanisms whose class overrides ``hook`` of the base class."""
    base = getattr(Mechanism, hook)
    return [m for m in mechanisms if getattr(type(m), hook, base) is not base]


@contextmanager
def _fewer_collections(gen0: int = 1_000_000) -> Iterator[None]:
    """Run the cycle collector far less often while the simulation runs.

    Every request leaves a few live objects behind (the request, its household, their
    lists), and each collection of the youngest generation walks all of them: with the
    default threshold (700) that cost a quarter of the run time at 20,000 households, and
    still 6% of an M/M/3 run at 50,000. A run makes almost no cyclic garbage (33 objects
    for 50,000 requests in an M/M/3 queue, about one per household in the Beijing
    preset, measured with the collector off), and reference counting frees everything
    else at once. The threshold stays finite so that a mechanism that does make cycles
    still has them collected.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], gen0), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def simulate(scenario: Scenario, seed: int = 0, mechanisms: Sequence[Mechanism] = (),
             progress: Callable[[float], None] | None = None) -> RunResult:
    """Build a world for (scenario, seed) and run it to the horizon."""
    return World(scenario, seed, mechanisms).run(progress)


def wait_until_open(station: Station, now: float) -> float:
    """Days until the station next opens (0 if open now, ``inf`` if never)."""
    if station.calendar is None:
        return 0.0
    t = station.calendar.next_open(now)
    return t - now if math.isfinite(t) else math.inf
