"""Lives over years: households that stay, age, change jobs and move; children who grow
through the school stages; services renewed each year; families that leave.

The texts describe processes that only bite over years: "migrants tend to move around;
some go back to their home village for a time and others relocate from city to city",
so that "requiring them to have stayed in one city for a number of years in a row has
the same effect as excluding them" [Chan & O'Brien 2019: Within the City]; "when they
move from elementary to middle school, they must obtain another number and go to the
bottom of a new list" [Chan & O'Brien 2019: Away from the City]; "the majority of the
children of migrants return to their hometowns for high school" [Chuang 2020]. With
``[lives]`` in a scenario a run keeps every household from year to year:

- each year brings new households (``lives.in_migration``);
- a household's age grows one year per year; its streaks (``years_work``,
  ``years_insurance``, ``years_residence``, ``years_schooling``) grow one year per year
  and are broken by job changes and moves, drawn as events at the household's own
  ``job_changes`` and ``moves`` rates a year; a job change voids the papers an employer
  gave and a move those tied to the old address, and the new job comes with a labour
  contract, the new home with a lease in the family's name, as often as for its group;
- every child (``children`` gives how many; ``school_stage`` the eldest's stage on arrival,
  and each younger one is ``lives.sibling_gap`` years younger than the one before) ages
  one year per year, passes from primary to junior middle to senior high, and its family
  applies again for the ``lives.school`` service at each stage, one request per child;
- services in ``lives.renew`` are asked for again each year by those who hold them;
- families decide (bring the child or leave it in the hometown, send it back for the
  gaokao stage, try again after a refusal, go home): the rules for these decisions are
  mechanisms of the domain library (``offices``), consulted through the hooks of
  :class:`maze.mechanism.Mechanism`; without them, the defaults below apply.

Years are calendar years, as in ``years.parquet``: the lives' year turns on 1 January,
and a household asks each year on the month and day it first arrived. A school place is
asked for in the summer before the school year it is for, so the children table's
``year`` of a school year is the calendar year in which that school year starts (2012
for 2012-13), the year of its request in ``years.parquet``: the two tables join on
``year``. What a child did in each school year is kept as a row of the children table
(one row per child and school year; see :data:`CHILD_COLUMNS`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from maze.calendar import day_of, occurrences
from maze.household import Household, Request
from maze.population import ATTRIBUTES, YEAR_DAYS

if TYPE_CHECKING:
    from maze.mechanism import Mechanism
    from maze.world import World

#: What a child did in one school year.
#: ``city_public``: a place in a city public school; ``private``: a private (minban)
#: school in the city; ``left_behind``: in the hometown while its parents are in the
#: city; ``hometown_gaokao``: back in the hometown for the senior-high (gaokao) stage after
#: years in the city; ``out_of_school``: in the city with no school place;
#: ``returned_home``: the whole family left the city during the year; ``pending``: still
#: waiting for an answer when the run ended (censored).
CHILD_OUTCOMES = ("city_public", "private", "left_behind", "hometown_gaokao", "out_of_school",
                  "returned_home", "pending")
#: Columns of the children table (children.parquet): one row per child and school year.
CHILD_COLUMNS = ("child_id", "household_id", "birth_order", "group", "hukou", "year", "age",
                 "stage", "outcome", "case_id", "compulsory_in_city")
#: Columns of the life-events table (life_events.parquet): one row per event of a life.
LIFE_COLUMNS = ("household_id", "time", "event", "detail")
#: School stages a child applies for (``preschool`` is not school age).
SCHOOL_AGE = ("primary", "middle", "high")
#: Compulsory schooling: primary and junior middle.
COMPULSORY = ("primary", "middle")
#: Streak attributes kept up to date as time passes.
STREAKS = ("years_work", "years_insurance", "years_residence", "years_schooling")
#: Outcomes of a request that end the city's part in it (the household was not served).
FAILED = frozenset(("sent_away", "gave_up", "denied", "deterred"))
#: Attributes that describe one child rather than its household: a school request made for
#: a child is judged by that child's own values (see :meth:`Lives.attr`), while the
#: household's columns hold those of its eldest child still at school.
CHILD_ATTRIBUTES = frozenset(("school_stage", "years_schooling"))


class Streak:
    """A streak attribute read at the current time, as a column indexed by household id.

    Years since the streak last started, growing one year per year of simulated time
    while it runs, and broken (back to zero) by events drawn ahead for the whole run (job
    changes, moves). A streak that stops (insurance no longer paid) stays at zero until
    it starts again.
    """

    __slots__ = ("env", "base", "t0", "growing", "breaks")

    def __init__(self, env: Any, base: Sequence[float], t0: Sequence[float],
                 growing: Sequence[bool], breaks: dict[int, list[float]] | None = None):
        self.env = env
        self.base = [float(b) for b in base]
        self.t0 = [float(t) for t in t0]
        self.growing = list(growing)
        self.breaks = breaks or {}

    def _apply_breaks(self, hid: int, now: float) -> None:
        times = self.breaks.get(hid)
        if times:
            i = bisect_right(times, now)
            if i and times[i - 1] > self.t0[hid]:
                self.base[hid] = 0.0
                self.t0[hid] = times[i - 1]

    def __getitem__(self, hid: int) -> float:
        now = self.env.now
        self._apply_breaks(hid, now)
        if not self.growing[hid]:
            return self.base[hid]
        return self.base[hid] + max(0.0, now - self.t0[hid]) / YEAR_DAYS

    def __len__(self) -> int:
        return len(self.base)

    def start(self, hid: int, keep: bool = False) -> None:
        """The streak runs from now (from its current value if ``keep``, else from zero)."""
        value = self[hid] if keep else 0.0
        self.base[hid], self.t0[hid], self.growing[hid] = value, self.env.now, True

    def stop_at(self, hid: int) -> None:
        """The streak is broken and stays at zero until it starts again."""
        self._apply_breaks(hid, self.env.now)
        self.base[hid], self.t0[hid], self.growing[hid] = 0.0, self.env.now, False

    def broken_since(self, hid: int, since: float) -> bool:
        """Whether a drawn break fell in (``since``, now]."""
        times = self.breaks.get(hid)
        if not times:
            return False
        i = bisect_right(times, self.env.now)
        return bool(i) and times[i - 1] > since


@dataclass
class Child:
    """A child of a household, followed from year to year."""

    household: int
    age: int
    stage: str
    #: With its parents in the city (True) or in the hometown (False).
    in_city: bool
    #: The child's number in the children table (in the order children are first seen).
    id: int = 0
    #: 0 for the eldest, 1 for the next, ...
    order: int = 0
    ever_in_city: bool = False
    #: The office where it holds a school place ("" if none).
    enrolled: str = ""
    #: What it is doing this school year so far (one of CHILD_OUTCOMES).
    outcome: str = "out_of_school"
    #: The school request deciding this year (-1 if none).
    case: int = -1
    #: Whether compulsory schooling ended in a city school (None: not seen end there).
    compulsory_in_city: bool | None = None
    #: Each school-age year recorded so far: [(year, outcome)].
    history: list[tuple[int, str]] = field(default_factory=list)
    #: Still followed (False once past school age or gone with its family).
    followed: bool = True
    #: Its last school request (None before the first).
    last: Request | None = None
    #: Its consecutive years of school here up to ``schooling_since`` (or now, if None).
    schooled: float = 0.0
    #: When its present run of schooling here began (None: not at school here now).
    schooling_since: float | None = None

    def years_schooling(self, now: float) -> float:
        """Its consecutive years of school here at time ``now``."""
        if self.schooling_since is None:
            return self.schooled
        return self.schooled + max(0.0, now - self.schooling_since) / YEAR_DAYS


def stage_of(age: int, ages: dict[str, tuple[int, int]]) -> str:
    """The school stage of a child of ``age`` ("none" outside every stage)."""
    for stage, (first, last) in ages.items():
        if first <= age <= last:
            return stage
    return "none"


def _draw_breaks(rng: np.random.Generator, rate: Sequence[float], arrival: np.ndarray,
                 horizon: float) -> dict[int, list[float]]:
    """Event times of a Poisson process per household (``rate`` a year), arrival to horizon."""
    r = np.clip(np.asarray(rate, dtype=float), 0.0, None)
    span = np.maximum(horizon - arrival, 0.0)
    counts = rng.poisson(r * span / YEAR_DAYS) if len(r) else np.zeros(0, dtype=int)
    total = int(counts.sum())
    if not total:
        return {}
    owner = np.repeat(np.arange(len(r)), counts)
    times = arrival[owner] + rng.random(total) * span[owner]
    order = np.lexsort((times, owner))
    out: dict[int, list[float]] = {}
    for h, t in zip(owner[order].tolist(), times[order].tolist(), strict=True):
        out.setdefault(h, []).append(t)
    return out


class Lives:
    """The households of a run over years: their streaks, children, renewals and moves."""

    def __init__(self, world: World):
        self.world = world
        self.env = world.env
        scenario = world.scenario
        self.config = cfg = scenario.lives
        assert cfg is not None
        self.rng = world.rng["lives"]
        self.start: date = scenario.city.start_date
        self.cols = cols = world.columns
        cols.over_years = True  # type: ignore[attr-defined]
        hh = world.households
        n = len(hh)
        self.n = n
        self.arrival = hh["arrival"].to_numpy(dtype=float)
        horizon = world.horizon
        self.school = cfg.school
        self.renew = tuple(cfg.renew)
        self.insured_by = frozenset(cfg.insured_by if cfg.insured_by is not None else cfg.renew)
        self.ages = dict(cfg.stage_ages)
        # Streaks: drawn values at arrival, growing from then on.
        local = (hh["hukou"] == "local").to_numpy()
        contract = hh["contract"].to_numpy(dtype=bool)
        jobs = _draw_breaks(self.rng, hh["job_changes"].tolist(), self.arrival, horizon)
        moves = _draw_breaks(self.rng, hh["moves"].tolist(), self.arrival, horizon)
        arrival = self.arrival.tolist()
        always = [True] * n
        self.streak: dict[str, Streak] = {
            "years_work": Streak(self.env, hh["years_work"].tolist(), arrival, always, jobs),
            # Local social insurance is paid through an employer (a labour contract) or by
            # holding the city's insurance: without either the streak does not grow.
            "years_insurance": Streak(self.env, hh["years_insurance"].tolist(), arrival,
                                      (contract | local).tolist(), jobs),
            "years_residence": Streak(self.env, hh["years_residence"].tolist(), arrival,
                                      always, moves),
            # The child's years of school here grow while it holds a school place.
            "years_schooling": Streak(self.env, hh["years_schooling"].tolist(), arrival,
                                      [False] * n),
        }
        for name, column in self.streak.items():
            cols[name] = column
        #: Household id -> the child its ``school_stage`` and ``years_schooling`` describe:
        #: its eldest still at school (absent: no child followed).
        self.lead: dict[int, Child] = {}
        cols["years_schooling"] = _LeadSchooling(self)
        self.jobs, self.moves = jobs, moves
        self.age = cols["age"] = [float(a) for a in hh["age"].tolist()]
        self.stage_col = cols["school_stage"] = list(hh["school_stage"].tolist())
        self.local = local.tolist()
        self.households: dict[int, Household] = {}
        #: Household id -> its children, eldest first.
        self.children: dict[int, list[Child]] = {}
        #: School case -> the child it is for.
        self.child_of_case: dict[int, Child] = {}
        #: Open school case -> the stage its child was in when it was made.
        self.stage_of_case: dict[int, str] = {}
        #: Open case a mechanism opened for a child's place -> the office of that place.
        self.continuing: dict[int, str] = {}
        self.next_child = 0
        #: Household id -> the day it left the city (absent: still here).
        self.gone: dict[int, float] = {}
        #: Household id -> service -> its last request.
        self.last: dict[int, dict[str, Request]] = {}
        #: Household id -> failed requests so far (the family's failed access).
        self.failures: dict[int, int] = {}
        #: Household id -> the last time its papers were checked against job changes/moves.
        self.papers_checked: dict[int, float] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.events: list[tuple[int, float, str, str]] = []
        self.hooks: dict[str, list[Mechanism]] = {}
        self.groups = {g.name: g for g in scenario.population.groups}
        docs = scenario.documents
        self.job_papers = _papers_resting_on(docs, "contract")
        self.address_papers = _papers_resting_on(docs, "lease_own")

    # -- the hooks ------------------------------------------------------------------------
    def ask(self, hook: str, *args: Any) -> bool | None:
        """The first family rule with an answer for ``hook`` (None if none has one)."""
        for m in self.hooks.get(hook, ()):
            answer = getattr(m, hook)(self.world, *args)
            if answer is not None:
                return bool(answer)
        return None

    def log(self, hid: int, event: str, detail: str = "") -> None:
        self.events.append((hid, self.env.now, event, detail))

    def year(self, t: float | None = None) -> int:
        """The calendar year of time ``t`` (now if None)."""
        return calendar_year(self.start, self.env.now if t is None else t)

    def same_day(self, t: float, year: int) -> float:
        """Time ``t``'s month, day and hour of the day in calendar ``year`` (29 February
        is 28 February in a year without one)."""
        when = self.start + timedelta(days=math.floor(t))
        try:
            then = date(year, when.month, when.day)
        except ValueError:
            then = date(year, 2, 28)
        return day_of(then, self.start) + (t - math.floor(t))

    # -- arrival --------------------------------------------------------------------------
    def arrive(self, hh: Household, wanted: list[str]) -> list[tuple[str, Child | None]]:
        """A household arrives: its children (if any) are placed; returns the requests it
        makes now, as (service, child), in the scenario's order of services, one school
        request per school-age child in the city (eldest first)."""
        hid = hh.id
        self.households[hid] = hh
        self.papers_checked[hid] = self.env.now
        self.log(hid, "arrive")
        others: list[tuple[str, Child | None]] = [(s, None) for s in wanted if s != self.school]
        if self.school is None:
            return others
        stage = str(self.stage_col[hid])
        count = self._count(float(self.cols["children"][hid]))
        if stage not in self.ages or count < 1 or (hh.local and self.school not in wanted):
            return others  # no child of school age here to follow
        first, last = self.ages[stage]
        age = int(self.rng.integers(first, last + 1))
        kids: list[Child] = []
        low, high = self.config.sibling_gap
        # The household's drawn years of school here are its eldest child's; a younger
        # child has as many, but no more than its own years of school age.
        schooled = float(self.streak["years_schooling"][hid])
        school_from = self.ages["primary"][0]
        for k in range(count):
            if k:
                age = max(0, age - int(self.rng.integers(low, high + 1)))
                schooled = min(schooled, float(max(0, age - school_from)))
            kids.append(Child(hid, age, stage if not k else stage_of(age, self.ages),
                              in_city=True, id=self.next_child, order=k, schooled=schooled))
            self.next_child += 1
        self.children[hid] = kids
        self.lead[hid] = kids[0]
        asks: list[tuple[str, Child | None]] = []
        for child in kids:
            if not hh.local:
                brings = self.ask("brings_child", hh, child)
                child.in_city = (self.school in wanted) if brings is None else brings
            self.log(hid, "child", f"{child.stage}, age {child.age}, "
                     + ("in the city" if child.in_city else "left in the hometown"))
            child.ever_in_city = child.in_city
            child.outcome = "out_of_school" if child.in_city else "left_behind"
            child.followed = child.stage in SCHOOL_AGE or child.age < self.ages["primary"][0]
            if not child.in_city or child.stage not in SCHOOL_AGE:
                continue
            if child.stage == "high" and not hh.local and self.ask("back_for_gaokao", hh,
                                                                     child):
                self._send_back_for_gaokao(child)
                continue
            child.outcome = "pending"
            asks.append((self.school, child))
        order = list(self.world.scenario.services)
        return sorted(asks + others, key=lambda a: order.index(a[0]))

    def _count(self, value: float) -> int:
        """A household's number of children: a whole number, or a mean between two whole
        numbers (1.4: four households in ten have two)."""
        whole = math.floor(value)
        return int(whole) + (1 if value > whole and self.rng.random() < value - whole else 0)

    def started(self, req: Request, child: Child | None = None) -> None:
        """A request was made (for ``child``, a school request): the child's case is the
        one deciding its year."""
        if child is not None:
            self.child_of_case[req.case_id] = child
            self.stage_of_case[req.case_id] = child.stage
            child.case = req.case_id
            child.outcome = "pending"

    def attr(self, req: Request, name: str) -> Any:
        """Attribute ``name`` as request ``req`` is judged by it: for a school request made
        for one child, that child's own stage (the stage it asked for) and years of school
        here (:data:`CHILD_ATTRIBUTES`); otherwise the household's value."""
        if name in CHILD_ATTRIBUTES and req.service == self.school:
            child = self._child_of(req)
            if child is not None:
                if name == "school_stage":
                    return self.stage_of_case.get(req.case_id, child.stage)
                return child.years_schooling(self.env.now)
        return req.household.attr(name)

    def child_attr(self, child: Child, name: str) -> Any:
        """Attribute ``name`` for a family's decision about ``child``: its own stage and
        years of school here, its household's other values."""
        if name == "school_stage":
            return child.stage
        if name == "years_schooling":
            return child.years_schooling(self.env.now)
        return self.households[child.household].attr(name)

    def continues(self, req: Request, placed: Request) -> None:
        """``req`` is a case a mechanism opened, at the office where it was made, for the
        place ``placed`` won there (a closure's notice to the pupils of a closing school):
        it is for the same child, and it places that child only while the child still
        holds that place."""
        child = self.child_of_case.get(placed.case_id)
        if child is not None:
            self.child_of_case[req.case_id] = child
            self.continuing[req.case_id] = req.entry

    def _child_of(self, req: Request) -> Child | None:
        """The child a school request is for: the one it was made for, or, for a case a
        mechanism opened (a closure), the family's child placed where it began."""
        child = self.child_of_case.get(req.case_id)
        if child is None:
            child = next((c for c in self.children.get(req.household.id, ())
                          if c.followed and c.enrolled and c.enrolled == req.entry), None)
            if child is not None:
                self.child_of_case[req.case_id] = child
        return child

    # -- outcomes -------------------------------------------------------------------------
    def finished(self, req: Request) -> None:
        """A request ended: place the child, count failures, keep cover, see who leaves."""
        hid = req.household.id
        outcome = req.outcome
        self.stage_of_case.pop(req.case_id, None)
        if hid in self.gone:
            # A request still on its way when the family left the city: a seat it won is
            # given back at once, as nobody of the family is there to take it.
            if outcome in ("served", "alternative") and req.end_office:
                self.world.release_seat(req.end_office, req.household, req.case_id)
            return
        self.last.setdefault(hid, {})[req.service] = req
        if outcome in FAILED:
            self.failures[hid] = self.failures.get(hid, 0) + 1
        if req.service in self.insured_by and not self.local[hid]:
            ins = self.streak["years_insurance"]
            if outcome == "served" and not ins.growing[hid]:
                ins.start(hid)
            elif outcome != "served" and not bool(self.cols["contract"][hid]):
                ins.stop_at(hid)
        child = self._child_of(req) if req.service == self.school else None
        held = self.continuing.pop(req.case_id, None)
        if child is not None and held is not None and child.enrolled != held:
            child = None  # the child left that place (a new stage): this case is not its year
        if child is not None and child.followed:
            # The child's place is what its latest school case says (also a case a closure
            # opened for a child placed at a closing school).
            child.case = req.case_id
            child.last = req
            self._place(child, req)
        if outcome == "sent_away" and (not req.end_office or self.world.stations[
                req.end_office].role != "sent_away"):
            self.leave(hid, "went home")  # gave up on the city (or pushed out by a closure)

    def _place(self, child: Child, req: Request) -> None:
        outcome, office = req.outcome, req.end_office
        if outcome in ("served", "alternative"):
            child.enrolled = office
            child.outcome = "city_public" if outcome == "served" else "private"
            child.in_city = True
            # Its streak runs on from its current value (as the household's does).
            child.schooled = child.years_schooling(self.env.now)
            child.schooling_since = self.env.now
            if not child.order:
                self.streak["years_schooling"].start(child.household, keep=True)
        elif outcome == "sent_away" and office and self.world.stations[office].role == \
                "sent_away":
            # Placed in the hometown's school while the parents stay in the city.
            self._release(child)
            child.in_city = False
            child.outcome = self._in_hometown(child)
            self.log(child.household, "child_home", child.stage)
        elif outcome == "deterred":
            self._release(child)
            child.in_city = False  # never brought: "I didn't even consider bringing them"
            child.outcome = "left_behind"
        elif outcome in ("gave_up", "denied"):
            self._release(child)  # a holdout of a closed school has no place left
            child.outcome = "out_of_school"
        if child.outcome not in ("city_public", "private"):
            child.schooled, child.schooling_since = 0.0, None
            if not child.order:
                # The eldest's streak: the household's years of schooling here while it
                # has no child followed (see _LeadSchooling).
                self.streak["years_schooling"].stop_at(child.household)

    def _in_hometown(self, child: Child) -> str:
        return "hometown_gaokao" if child.stage == "high" and child.ever_in_city else \
            "left_behind"

    def _send_back_for_gaokao(self, child: Child) -> None:
        self._release(child)
        child.in_city = False
        child.outcome = "hometown_gaokao"
        self.log(child.household, "gaokao_home")

    def _release(self, child: Child) -> None:
        if child.enrolled:
            # The child no longer holds the place before mechanisms hear of it: a case they
            # end now for that place (a closure's) does not place the child there again.
            office, child.enrolled = child.enrolled, ""
            self.world.release_seat(office, self.households[child.household], child.case)

    def leave(self, hid: int, why: str, mid_year: bool = True) -> None:
        """The household leaves the city, with its child if the child was there.

        Leaving during a year gives the child's row of that year ``returned_home`` (a
        child left in the hometown keeps its outcome); leaving at the turn of a year
        adds no row. The child is followed no further.
        """
        if hid in self.gone:
            return
        self.gone[hid] = self.env.now
        self.log(hid, "leave_city", why)
        for child in self.children.get(hid, ()):
            if not child.followed:
                continue
            self._release(child)
            if child.stage in COMPULSORY and child.compulsory_in_city is None:
                child.compulsory_in_city = False
            if mid_year:
                if child.in_city:
                    child.outcome = "returned_home"
                self._record(child, self.year())
            child.followed = False

    # -- the turn of each year ---------------------------------------------------------------
    def years(self) -> Generator[Any, Any, None]:
        """SimPy process: on each 1 January, age everyone and plan its requests."""
        for turn in occurrences("01-01", self.start, self.world.horizon):
            if not 0.0 < turn < self.world.horizon:
                continue
            yield self.env.timeout(turn - self.env.now)
            plan = self.new_year(self.year())
            if plan:
                self.env.process(self._requests(plan))

    def new_year(self, year: int) -> list[tuple[float, int, int, int, str, str]]:
        """Close calendar year ``year - 1`` and plan ``year``: returns (day, household,
        service order, child order, service, why) of the requests to make, sorted."""
        plan: list[tuple[float, int, int, int, str, str]] = []
        now = self.env.now
        order = {s: i for i, s in enumerate(self.world.scenario.services)}
        for hid in sorted(self.households):
            if hid in self.gone:
                continue
            hh = self.households[hid]
            kids = self.children.get(hid, ())
            for child in kids:
                self._record(child, year - 1)
            self.age[hid] += 1.0
            leaves = self.ask("returns_home", hh)
            if leaves is None:
                leaves = self.world.chance(self.config.leave_rate) if not hh.local else False
            if leaves:
                self.leave(hid, "returned home", mid_year=False)
                continue
            day = max(now, self.same_day(self.arrival[hid], year))
            wants: list[tuple[str, str, int]] = []
            for child in kids:
                if child.followed:
                    wants += [(s, why, child.order) for s, why in self._child_year(hh, child)]
            lead = next((c for c in kids if c.followed and c.stage in SCHOOL_AGE), None)
            if kids:  # the household's school stage: its eldest child still at school
                self.lead[hid] = lead if lead is not None else kids[0]
                self.stage_col[hid] = self.lead[hid].stage
            last = self.last.get(hid, {})
            for service in self.world.scenario.services:
                if service == self.school:
                    continue
                req = last.get(service)
                if req is None:
                    continue
                if req.outcome == "served" and service in self.renew:
                    wants.append((service, "renew", 0))
                elif req.outcome in FAILED and self.ask("tries_again", req):
                    wants.append((service, "try_again", 0))
            plan += [(day, hid, order[s], k, s, why) for s, why, k in wants]
        plan.sort()
        return plan

    def _child_year(self, hh: Household, child: Child) -> list[tuple[str, str]]:
        """The child grows a year; returns [(school, why)] if its family asks for a place."""
        hid = child.household
        before = child.stage
        child.age += 1
        child.stage = stage_of(child.age, self.ages)
        if not child.enrolled:
            child.case = -1  # an enrolled child's year rests on the case that placed it
        if child.stage != before:
            self.log(hid, "child_stage", child.stage)
            self._release(child)  # a new stage is a new school
            child.case = -1
            if before == "middle" and child.compulsory_in_city is None:
                child.compulsory_in_city = bool(child.history) and child.history[-1][1] in (
                    "city_public", "private")
        if child.stage not in SCHOOL_AGE:
            # Past school age: no longer followed; too young for it: followed on.
            child.followed = child.age < self.ages["primary"][0]
            return []
        brought = False
        if not child.in_city:
            if child.outcome == "hometown_gaokao":
                return []  # back for the exam: stays to the end of the stage
            if not self.ask("brings_child", hh, child):
                child.outcome = self._in_hometown(child)
                return []
            child.in_city = child.ever_in_city = brought = True
            self.log(hid, "bring_child", child.stage)
        if child.stage != before and child.stage == "high" and not hh.local and self.ask(
                "back_for_gaokao", hh, child):
            self._send_back_for_gaokao(child)
            return []
        if child.stage != before or brought:
            child.outcome = "pending"
            return [(self.school, "new_stage" if child.stage != before else "brought")]
        if child.enrolled:
            return []  # keeps its place in the same school
        last = child.last
        if last is not None and last.outcome is None:
            child.outcome = "pending"  # still waiting for last year's answer
            return []
        if last is not None and self.ask("tries_again", last):
            child.outcome = "pending"
            return [(self.school, "try_again")]
        if last is None:
            child.outcome = "pending"  # in the city, never asked: its first application
            return [(self.school, "first")]
        child.outcome = "out_of_school"
        return []

    def _record(self, child: Child, year: int) -> None:
        if child.stage not in SCHOOL_AGE or not child.followed:
            return
        outcome = child.outcome
        child.history.append((year, outcome))
        hh = self.households[child.household]
        self.rows.append((child.id, child.household, child.order, hh.group,
                          "local" if hh.local else "migrant", year, child.age, child.stage,
                          outcome, child.case))

    def _requests(self, plan: list[tuple[float, int, int, int, str, str]]
                  ) -> Generator[Any, Any, None]:
        from maze.journey import journey

        env, world = self.env, self.world
        for day, hid, _, k, service, why in plan:
            if day > env.now:
                yield env.timeout(day - env.now)
            if hid in self.gone:
                continue
            hh = self.households[hid]
            if why in ("renew", "try_again"):
                self.log(hid, why, service)
            self._renew_papers(hh)
            req = world.new_request(hh, service, world.scenario.services[service].entry)
            self.started(req, self.children[hid][k] if service == self.school else None)
            env.process(journey(world, req))

    def _renew_papers(self, hh: Household) -> None:
        """Papers an employer gave lapse with a job change, those tied to an address with
        a move (the residence permit too): they must be fetched again."""
        hid = hh.id
        since = self.papers_checked.get(hid, self.env.now)
        self.papers_checked[hid] = self.env.now
        if hh.local or not hh.documents:
            return
        void: set[str] = set()
        if self.streak["years_work"].broken_since(hid, since):
            void |= self.job_papers
            self.log(hid, "job_change")
            self._redraw(hh, "contract")
        if self.streak["years_residence"].broken_since(hid, since):
            void |= self.address_papers
            self.log(hid, "move")
            self._redraw(hh, "lease_own")
        hh.documents -= void

    def _redraw(self, hh: Household, attribute: str) -> None:
        """A new job comes with a labour contract, a new home with a lease in the family's
        own name, as often as for its group (the group's declared probability)."""
        spec = ATTRIBUTES[attribute]
        value = self.groups[hh.group].attributes.get(attribute, spec.default)
        held = value if isinstance(value, bool) else bool(self.rng.random() < float(value))
        self.cols[attribute][hh.id] = held
        if attribute == "contract":
            ins = self.streak["years_insurance"]
            covered = any(r.outcome == "served" for s, r in self.last.get(hh.id, {}).items()
                          if s in self.insured_by)
            if held and not ins.growing[hh.id]:
                ins.start(hh.id)
            elif not held and not covered:
                ins.stop_at(hh.id)

    # -- the end ----------------------------------------------------------------------------
    def close(self) -> None:
        """The run ended: record the last year of every child still followed."""
        last_year = self.year(self.world.horizon - 1e-9)
        for hid in sorted(self.children):
            if hid not in self.gone:
                for child in self.children[hid]:
                    self._record(child, last_year)

    def children_table(self) -> pd.DataFrame:
        """One row per child and school year (see CHILD_COLUMNS)."""
        rows = sorted(self.rows, key=lambda r: (r[0], r[5]))
        done = {c.id: c.compulsory_in_city for kids in self.children.values() for c in kids}
        df = pd.DataFrame(rows, columns=list(CHILD_COLUMNS[:-1]))
        df = df.astype({"child_id": "int64", "household_id": "int64", "birth_order": "int64",
                        "year": "int64", "age": "int64", "case_id": "int64"})
        for c in ("group", "hukou", "stage"):
            df[c] = df[c].astype(str).astype("category")
        df["outcome"] = pd.Categorical(df["outcome"], categories=list(CHILD_OUTCOMES))
        df["compulsory_in_city"] = pd.array([done.get(h) for h in df["child_id"].tolist()],
                                            dtype="boolean")
        return df

    def events_table(self) -> pd.DataFrame:
        """The life events (arrivals, children's stages, renewals, leaving), in time order."""
        ev = sorted(self.events, key=lambda e: (e[1], e[0]))
        df = pd.DataFrame(ev, columns=list(LIFE_COLUMNS))
        df = df.astype({"household_id": "int64", "time": "float64"})
        df["event"] = df["event"].astype(str).astype("category")
        df["detail"] = df["detail"].astype(str)
        return df


class _LeadSchooling:
    """The household column ``years_schooling``: the years of school here of the child its
    ``school_stage`` describes (its eldest still at school), or, for a household with no
    child followed, its drawn value (a streak that stops when its eldest's place ends)."""

    __slots__ = ("lives",)

    def __init__(self, lives: Lives):
        self.lives = lives

    def __getitem__(self, hid: int) -> float:
        child = self.lives.lead.get(hid)
        if child is None:
            return self.lives.streak["years_schooling"][hid]
        return child.years_schooling(self.lives.env.now)

    def __len__(self) -> int:
        return self.lives.n


def _papers_resting_on(documents: Any, attribute: str) -> set[str]:
    """Documents that need ``attribute`` to be issued, and every document requiring them."""
    void = {name for name, d in documents.items() if attribute in d.needs}
    grew = True
    while grew:
        more = {name for name, d in documents.items() if void & set(d.requires)}
        grew = not more <= void
        void |= more
    return void


def calendar_year(start: date, t: float) -> int:
    """The calendar year of day ``t`` of a run that starts on ``start``."""
    return (start + timedelta(days=math.floor(t))).year
