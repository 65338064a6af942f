"""The world: one SimPy environment, the offices as resources, the referral graph, the households.

Built from a validated scenario, a seed and a list of mechanisms; run to the
horizon; it leaves behind an event log and the population table. Random
numbers come from independent streams spawned from the seed, one per use, so
that switching a mechanism on does not shift the draws of the population.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import simpy

from maze import heap
from maze.calendar import OpeningCalendar, occurrences
from maze.collector import fewer_collections
from maze.counter import Counter
from maze.dated import Version
from maze.distributions import Sampler, Samplers
from maze.eventlog import EventLog
from maze.household import Household, Request, Requests
from maze.mechanism import Mechanism
from maze.population import ATTRIBUTES, YEAR_DAYS, DrawnTexts, draw_population
from maze.scenario import Office, Scenario

if TYPE_CHECKING:
    import networkx as nx

#: Named random streams; adding a stream at the end keeps the others unchanged.
STREAMS = ("population", "service", "gaps", "decisions", "mechanisms", "lives")
#: The family decisions a run over years asks the mechanisms (see maze.mechanism).
FAMILY_HOOKS = ("brings_child", "back_for_gaokao", "tries_again", "returns_home")


class Station:
    """An office at work: its clerks (a counter on SimPy events), its calendar, its seats."""

    __slots__ = ("name", "spec", "counter", "calendar", "service_time", "seats_left",
                 "served", "kind", "sector", "level", "role", "busy_time", "queue_time",
                 "price", "travel_days", "served_before_intake")

    def __init__(self, env: simpy.Environment, spec: Office, scenario: Scenario,
                 samplers: Samplers):
        self.name = spec.name
        self.spec = spec
        self.counter = Counter(env, spec.clerks)
        self.calendar = _calendar(spec, scenario)
        # Shared with the offices that declare the same service time (see Samplers).
        self.service_time = samplers[spec.service_time].draw
        self.seats_left = spec.seats
        self.served = 0
        #: Households served before the current yearly intake began (see ``Office.intake``).
        self.served_before_intake = 0
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

    def change(self, spec: Office, scenario: Scenario, samplers: Samplers) -> None:
        """The rules in force changed on this day: the office as it is declared now.

        Clerks hired or let go change the counter's capacity at once; seats added or
        removed change the seats left by as many.
        """
        old, self.spec = self.spec, spec
        if spec.clerks != old.clerks:
            self.counter.resize(spec.clerks)
        if spec.seats != old.seats:
            if spec.seats is None:
                self.seats_left = None
            elif self.seats_left is None or old.seats is None:
                self.seats_left = max(0, spec.seats - (self.served - self.served_before_intake))
            else:
                self.seats_left = max(0, self.seats_left + spec.seats - old.seats)
        if spec.service_time != old.service_time:
            self.service_time = samplers[spec.service_time].draw
        if spec.calendar != old.calendar:
            self.calendar = _calendar(spec, scenario)
        self.kind, self.sector, self.level, self.role = (spec.kind, spec.sector, spec.level,
                                                         spec.role)
        self.price, self.travel_days = spec.price, spec.travel_days


def _calendar(spec: Office, scenario: Scenario) -> OpeningCalendar | None:
    if spec.calendar.always_open:
        return None
    return OpeningCalendar(spec.calendar, scenario.city.start_date, scenario.city.horizon)


class _Columns(dict):
    """Population columns, each made on first use (a run reads only a few attributes) in a
    form fast to index one row at a time: numbers as typed arrays (8 bytes a household,
    read back as Python numbers), yes/no values and texts as lists sharing one object per
    distinct value."""

    def __init__(self, households: pd.DataFrame):
        super().__init__()
        self._households = households

    def __missing__(self, name: str) -> Sequence:
        if name not in self._households.columns and name in ATTRIBUTES:
            # An optional attribute nobody declared (kept out of the table): its default.
            values = self[name] = [ATTRIBUTES[name].default] * len(self._households)
            return values
        column = self._households[name]
        kind = column.dtype.kind
        if kind in "fiu":
            # Copied as bytes: array(code, ndarray) would go through a NumPy scalar per row
            # (3 ms for 50,000 households, against 0.1 ms).
            values = array("d" if kind == "f" else "q")
            values.frombytes(column.to_numpy(dtype=np.float64 if kind == "f" else np.int64)
                             .tobytes())
        elif kind == "b":
            values = column.tolist()
        else:
            codes, uniques = pd.factorize(column)
            if (codes < 0).any():  # a missing value: no sharing
                values = column.tolist()
            else:
                values = np.asarray(uniques.tolist(), dtype=object)[codes].tolist()
        self[name] = values
        return values


class RunResult:
    """What one run leaves behind: the raw tables, before any measure is taken.

    The event table is built when first asked for, from the event log the run leaves:
    a caller that lets the world go first (``api.run``) never holds the world's
    requests and processes, the log and the table all at once.
    """

    def __init__(self, scenario: Scenario, seed: int, events: pd.DataFrame | EventLog,
                 households: pd.DataFrame, children: pd.DataFrame | None = None,
                 life_events: pd.DataFrame | None = None,
                 texts: DrawnTexts | None = None):
        self.scenario = scenario
        self.seed = seed
        self._events = events
        self.households = households
        #: Runs over years (``[lives]``): one row per child and school year, and the events
        #: of the households' lives (arrivals, stages, renewals, leaving). None otherwise.
        self.children = children
        self.life_events = life_events
        #: The text columns of ``households`` as the population drew them (codes into
        #: labels): categories made from them need no hashing of every household's text
        #: (``measures.attach_groups``). None if not at hand.
        self.texts = texts

    @property
    def events(self) -> pd.DataFrame:
        """The event log as a table (see ``maze.eventlog``), built on first use."""
        if isinstance(self._events, EventLog):
            log, self._events = self._events, None
            events = log.to_frame(release=True)
            del log
            versions = self.scenario.versions
            if len(versions) > 1:
                events["rules_from"] = rules_from(versions, events["time"].to_numpy())
            self._events = events
        return self._events

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The referral graph of the rules in force at the start, built when first asked
        for (by the report): a run does not need it (nor networkx), and a dense routing
        matrix has K^2 edges."""
        from maze.graph import referral_graph

        return referral_graph(self.scenario.versions[0].scenario)


#: What a world is given to decide at the counters: a chain of mechanisms for the whole
#: run, or a function that makes the chain for the rules in force (one per version).
Chain = Sequence[Mechanism] | Callable[[Scenario], Sequence[Mechanism]]


class World:
    """Everything that exists during one run."""

    def __init__(self, scenario: Scenario, seed: int, mechanisms: Chain = ()):
        #: The scenario as declared (dated values and all); ``scenario`` is the version of
        #: it in force now.
        self.declared = scenario
        self.versions: tuple[Version, ...] = scenario.versions
        self.version = self.versions[0]
        scenario = self.version.scenario
        self.scenario = scenario
        self._chain = mechanisms if callable(mechanisms) else None
        if self._chain is not None:
            mechanisms = self._chain(scenario)
        elif len(self.versions) > 1:
            raise ValueError("a scenario with dated values needs a chain of mechanisms per "
                             "version: pass the function that makes one")
        self.seed = int(seed)
        streams = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(STREAMS, streams,
                                                                      strict=True)}
        self.env = simpy.Environment()
        self.log = EventLog()
        #: The offices' service times, a sampler per distribution (see Samplers).
        self.service_times = Samplers(self.rng["service"])
        self.stations = {o.name: Station(self.env, o, scenario, self.service_times)
                         for o in scenario.offices}
        self.gap = Sampler(scenario.population.days_between_visits, self.rng["gaps"]).draw
        if (scenario.population.households or 0) >= heap.GIVE_BACK_FROM:
            heap.map_big_blocks()
        texts: dict[str, Any] = {}
        self.households = draw_population(scenario, self.rng["population"], texts)
        #: The households' text columns as drawn: codes into labels (see RunResult.texts).
        self.texts = DrawnTexts(self.households, texts)
        self._cols = _Columns(self.households)
        #: The population columns by attribute name (lists, one value per household id):
        #: what ``Household.attr`` reads, for the household process's hot path.
        self.columns = self._cols
        self.visit_cost_days = scenario.population.visit_cost_days
        self.mechanisms = list(mechanisms)
        #: Every request, in the order made (finished ones kept as rows: see ``Requests``).
        self.requests = Requests(self._cols)
        #: Each distinct set of papers households hold, shared between them.
        self.papers: dict[frozenset[str], frozenset[str]] = {}
        #: Case ids for requests made after arrival (renewals, new stages, reopened
        #: cases), after every case id the arrivals can use.
        self.next_case = len(self.households) * len(scenario.services)
        self.horizon = scenario.city.horizon
        self.decisions = self.rng["decisions"]
        self.lives = None
        # Lives and mechanisms make many long-lived objects at once (streaks, children,
        # social graphs): collections while they are made would walk them all, for no
        # cyclic garbage.
        with fewer_collections():
            if scenario.lives is not None:
                from maze.lives import Lives

                self.lives = Lives(self)
            for m in self.mechanisms:
                m.install(self)
        if len(self.households) >= heap.GIVE_BACK_FROM:
            heap.give_back()  # what drawing the population and installing mechanisms freed
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
        self._hooks()
        # Started first, so that on a change day the new rules are in force before any
        # counter decides.
        if len(self.versions) > 1:
            self.env.process(self._rule_changes())
        for station in self.stations.values():
            if station.spec.intake is not None:
                self.env.process(self._intakes(station))
        self.env.process(arrivals(self))
        if self.lives is not None:
            self.env.process(self.lives.years())
        # Through the tables of a run over years too: their rows (a tuple per child and
        # year) are made in one burst, after the run's own objects, and a collection
        # then walks them all (a second of a six-second history at 22,000 households).
        with fewer_collections():
            for i in range(1, steps + 1):
                # The last step ends on the horizon itself: horizon * steps / steps can be a
                # unit in the last place above it, and what falls on the horizon would run.
                until = self.horizon * i / steps if i < steps else self.horizon
                if until > self.env.now:  # a horizon of a few ulps makes early steps 0
                    self.env.run(until=until)
                if progress is not None:
                    progress(i / steps)
            self._close_pending()
            children = life_events = None
            if self.lives is not None:
                self.lives.close()
                children = self.lives.children_table()
                life_events = self.lives.events_table()
        # The requests' own rows are taken now; the table is built when first asked for.
        if len(self.households) >= heap.GIVE_BACK_FROM:
            heap.give_back()  # what the households' processes freed
        self.log.add_requests(self.requests)
        return RunResult(self.declared, self.seed, self.log, self.households, children,
                         life_events, self.texts)

    def _hooks(self) -> None:
        """Which mechanisms are asked what, on the hot path (those with something to say)."""
        working = [m for m in self.mechanisms if not m.idle()]
        self.deterrers = _overriding(working, "deters")
        self.deciders = _overriding(working, "decide")
        self.finishers = _overriding(working, "finished")
        self.fallback_choosers = _overriding(working, "fallbacks")
        self.home_deciders = _overriding(working, "goes_home")
        self.releasers = _overriding(working, "seat_released")
        if self.lives is not None:
            self.lives.hooks = {h: _overriding(working, h) for h in FAMILY_HOOKS}

    def _rule_changes(self):  # noqa: ANN202 - a SimPy process
        """On each date a dated value changes, the rules in force change."""
        for version in self.versions[1:]:
            yield self.env.timeout(version.day - self.env.now)
            self.change_rules(version)

    def change_rules(self, version: Version) -> None:
        """Put ``version`` in force now: offices as declared in it, its mechanisms.

        A mechanism whose configuration did not change stays as it is, with what it
        remembers (seats taken, lists, stories heard); one whose configuration changed
        takes over from its predecessor (``Mechanism.take_over``); one new is installed.
        """
        self.version, self.scenario = version, version.scenario
        for spec in version.scenario.offices:
            self.stations[spec.name].change(spec, version.scenario, self.service_times)
        if self._chain is None:
            return
        old = self.mechanisms
        chain = []
        for m in self._chain(version.scenario):
            same = [p for p in old if type(p) is type(m)]
            config = getattr(m, "config", None)
            kept = next((p for p in same if config is not None
                         and getattr(p, "config", None) == config), None)
            if kept is not None:
                chain.append(kept)
                continue
            if same:
                m.take_over(self, same[0])
            else:
                m.install(self)
            chain.append(m)
        for p in old:
            if all(p is not m for m in chain):
                p.retire(self)
        self.mechanisms = chain
        self._hooks()

    def _intakes(self, station: Station):  # noqa: ANN202 - a SimPy process
        """Every year on the office's intake day, its seats are all free again."""
        start, horizon = self.scenario.city.start_date, self.horizon
        for day in occurrences(station.spec.intake, start, horizon):
            if 0 < day < horizon:
                yield self.env.timeout(day - self.env.now)
                station.served_before_intake = station.served
                station.seats_left = station.spec.seats
                for m in self.mechanisms:
                    m.new_intake(self, station)

    def _close_pending(self) -> None:
        for req in self.requests.open():
            if req.outcome is None:
                req.outcome = "pending"
                req.end = self.horizon
                req.end_office = req.last_office
            self.requests.finished(req)

    # -- helpers for the household process and mechanisms ----------------------------------
    def household(self, hid: int) -> Household:
        return Household(hid, self._cols["group"][hid], self._cols["hukou"][hid] == "local",
                         self._cols)

    def column(self, name: str) -> Sequence:
        return self._cols[name]

    def attr(self, request: Request, name: str) -> Any:
        """Attribute ``name`` as ``request`` is judged by it: in a run over years a school
        request made for one child reads that child's own stage and years of school here
        (``maze.lives.CHILD_ATTRIBUTES``); every other value is the household's."""
        if self.lives is not None:
            return self.lives.attr(request, name)
        return request.household.attr(name)

    def new_request(self, household: Household, service: str, entry: str) -> Request:
        """A request made now, after arrival (a renewal, a new school stage, a case a
        closure reopens), numbered after every case the arrivals can open."""
        req = Request(self.next_case, household, service, self.env.now, entry)
        self.next_case += 1
        self.requests.append(req)
        return req

    def release_seat(self, office: str, household: Household | None = None,
                     case: int = -1) -> None:
        """A household gives up the seat it held (a pupil moving on, a family leaving),
        won by request ``case`` (-1 if not known); the mechanisms that remember who sits
        where hear of it."""
        station = self.stations[office]
        if station.seats_left is not None:
            station.seats_left += 1
        if household is not None:
            for m in self.releasers:
                m.seat_released(self, household, office, case)

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


def rules_from(versions: Sequence[Version], time: np.ndarray) -> pd.Categorical:
    """For each time, the date from which the rules in force then applied (ISO text)."""
    days = np.array([v.day for v in versions])
    labels = [v.since.isoformat() for v in versions]
    at = np.maximum(np.searchsorted(days, time, side="right") - 1, 0)
    return pd.Categorical.from_codes(at, categories=labels)


def _overriding(mechanisms: Sequence[Mechanism], hook: str) -> list[Mechanism]:
    """The mechanisms whose class overrides ``hook`` of the base class."""
    base = getattr(Mechanism, hook)
    return [m for m in mechanisms if getattr(type(m), hook, base) is not base]


def simulate(scenario: Scenario, seed: int = 0, mechanisms: Chain = (),
             progress: Callable[[float], None] | None = None) -> RunResult:
    """Build a world for (scenario, seed) and run it to the horizon."""
    return World(scenario, seed, mechanisms).run(progress)


def wait_until_open(station: Station, now: float) -> float:
    """Days until the station next opens (0 if open now, ``inf`` if never)."""
    if station.calendar is None:
        return 0.0
    t = station.calendar.next_open(now)
    return t - now if math.isfinite(t) else math.inf
