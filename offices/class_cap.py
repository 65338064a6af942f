"""Dormant rules enforced: a class-size cap long ignored, suddenly applied (Chan & O'Brien 2019).

"Classrooms had long held 55 to 65 children when the additional students were mainly
registered urban residents" [Chan & O'Brien 2019: Away from the City]; in 2012 Beijing's education
bureaus "abruptly restricted class sizes to 30 students" and Chengdu's "shrunk classes to 45
students" [Chan & O'Brien 2019: Away from the City]: "We're strictly enforcing the limit of 45
students per class, so we now require parents' hukou registration ... because now there are too
many migrant students" [Chan & O'Brien 2019: Away from the City]. Before, "most schools happily
collected the additional tuition fees and crowded more desks into classrooms" [Chan & O'Brien 2019:
Away from the City]; some still admit migrants "if she paid extra for it" (Shanghai 2017) [Chan &
O'Brien 2019: Away from the City]. The stated reason is capacity: "said it was full, instead of
saying that they were not allowing my daughter to enroll" [Chan & O'Brien 2019: Away from the City].

The school has ``classes`` classes. Before ``from_day`` it seats ``held`` pupils a
class (the dormant rule); from ``from_day`` it seats ``cap`` a class, pupils already
seated keep their place, and locals are placed first: seats are kept for the locals
still expected, and a migrant is refused on ``capacity`` when only those are left. A
refused migrant may be offered a place for a fee (an extra desk); one who cannot pay
it is refused on ``price``.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maze.calendar import yearly_windows
from maze.household import Request
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import MAX_SEATS, Scenario
from maze.world import Station, World
from offices import register


class FeeRoute(BaseModel):
    """A place for a migrant who pays extra, beyond the cap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fee: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    #: Share of migrants refused for capacity to whom the route is offered.
    offered: Annotated[float, Field(ge=0, le=1)] = 1.0
    #: Extra desks the school will crowd in (no limit if absent).
    seats: Annotated[int, Field(ge=0, le=MAX_SEATS)] | None = None


class ClassCapConfig(BaseModel):
    """``[mechanisms.class_cap]``: the school, the sizes before and after, the date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Counts that scale with the city (``maze.scale``): the class sizes, not the number
    #: of classes, so that a small copy keeps its classes whole.
    SCALED: ClassVar[tuple[str, ...]] = ("held", "cap", "reserve_for_locals", "fee_route.seats")

    enabled: bool = True
    office: str
    #: Pupils per class once the cap is enforced (Beijing 30, Chengdu 45).
    cap: Annotated[int, Field(ge=1, le=1000)]
    #: Pupils per class while the rule sleeps (55-65); if absent, the office's seats
    #: divided by ``classes`` (or unchanged if ``classes`` is absent).
    held: Annotated[int, Field(ge=1, le=1000)] | None = None
    #: Number of classes; if absent, the office's seats divided by ``held``.
    classes: Annotated[int, Field(ge=1, le=MAX_SEATS)] | None = None
    from_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: Keep seats for locals once the cap is enforced.
    locals_first: bool = True
    #: Seats kept for locals; if absent, expected local demand plus two standard deviations.
    reserve_for_locals: Annotated[int, Field(ge=0, le=MAX_SEATS)] | None = None
    fee_route: FeeRoute | None = None

    @model_validator(mode="after")
    def _sizes(self) -> ClassCapConfig:
        if self.held is not None and self.held < self.cap:
            raise ValueError("held (the dormant class size) is smaller than the cap")
        return self


@register("class_cap", ClassCapConfig)
class ClassCap(Mechanism):
    """Manages the seats of one school: the dormant size, the enforced cap, locals first."""

    order = 70  # capacity is decided last, once everything else is in order

    def __init__(self, scenario: Scenario, config: ClassCapConfig):
        self.config = config
        office = scenario.office(config.office)
        held, classes = config.held, config.classes
        if classes is None:
            classes = max(1, office.seats // held)  # check() guarantees both exist
        if held is None:
            held = (office.seats // classes) if office.seats is not None else None
        self.classes = classes
        self.before = None if held is None else classes * held
        self.after = classes * config.cap
        self.services = {n for n, s in scenario.services.items() if s.entry == config.office}
        self.reserve = (config.reserve_for_locals if config.reserve_for_locals is not None
                        else _expected_local_demand(scenario, self.services, config.office))
        self.enforced = False
        #: Replaced by a version of the rules with other sizes, or switched off.
        self.retired = False
        self.locals_seated = 0
        self.fee_seats_used = 0
        self.station: Station | None = None

    @staticmethod
    def check(scenario: Scenario, config: ClassCapConfig) -> tuple[str, str] | None:
        names = {o.name for o in scenario.offices}
        if config.office not in names:
            return "office", f"office {config.office!r} does not exist"
        seats = scenario.office(config.office).seats
        if config.classes is None and (config.held is None or seats is None):
            return "classes", ("give the number of classes, or held with an office that "
                               "declares seats")
        return None

    def install(self, world: World) -> None:
        self.station = world.stations[self.config.office]
        if self.before is not None:
            self.station.seats_left = self.before
        world.env.process(self._enforce(world))

    def _enforce(self, world: World):  # noqa: ANN202 - a SimPy process
        yield world.env.timeout(max(0.0, self.config.from_day - world.env.now))
        if self.retired:
            return
        self.enforced = True
        st = self.station
        st.seats_left = max(0, self.after - (st.served - st.served_before_intake))

    def take_over(self, world: World, previous: Mechanism) -> None:
        """New sizes from a date (a cap cut from 60 to 30): pupils seated keep their place,
        and the seats left are what the new sizes leave."""
        if not isinstance(previous, ClassCap) or previous.config.office != self.config.office:
            self.install(world)
            return
        previous.retired = True
        self.station = st = world.stations[self.config.office]
        self.locals_seated, self.fee_seats_used = previous.locals_seated, previous.fee_seats_used
        seated = st.served - st.served_before_intake
        if world.env.now >= self.config.from_day:
            self.enforced = True
            st.seats_left = max(0, self.after - seated)
        else:
            if self.before is not None:
                st.seats_left = max(0, self.before - seated)
            world.env.process(self._enforce(world))

    def retire(self, world: World) -> None:
        self.retired = True

    def new_intake(self, world: World, station: Station) -> None:
        """A new school year: every class is empty again, at the size in force."""
        if self.retired or station is not self.station:
            return
        self.locals_seated = self.fee_seats_used = 0
        size = self.after if self.enforced else self.before
        if size is not None:
            station.seats_left = size

    def _locals_still_expected(self) -> int:
        if not self.config.locals_first:
            return 0
        return max(0, self.reserve - self.locals_seated)

    def decide(self, v: Visit) -> Verdict | None:
        if (v.fallback or v.document is not None or not self.enforced or self.retired
                or v.station.name != self.config.office or v.household.local
                or v.request.service not in self.services):
            return None
        st = v.station
        free = math.inf if st.seats_left is None else st.seats_left
        if free - self._locals_still_expected() > 0:
            return None
        route = self.config.fee_route
        if route is None or not v.world.chance(route.offered):
            return Verdict("refuse", "capacity")
        if route.seats is not None and self.fee_seats_used >= route.seats:
            return Verdict("refuse", "capacity")
        req, hh = v.request, v.household
        if req.spent + req.wage_lost + route.fee + st.spec.price > hh.attr("savings"):
            return Verdict("refuse", "price")
        # An extra desk crowded into a class: the seat the household takes next.
        self.fee_seats_used += 1
        if st.seats_left is not None:
            st.seats_left += 1
        return Verdict("serve", fee=route.fee)

    def finished(self, world: World, request: Request) -> None:
        if (request.household.local and request.outcome == "served"
                and request.last_office == self.config.office):
            self.locals_seated += 1

    def describe(self) -> dict:
        return {"name": self.name, "classes": self.classes, "seats_before": self.before,
                "seats_after": self.after, "reserve_for_locals": self.reserve,
                **self.config.model_dump(mode="json")}


def _expected_local_demand(scenario: Scenario, services: set[str],
                           office: str | None = None) -> int:
    """Expected local requests for these services, plus two standard deviations: in one
    intake when the office's seats are a yearly intake (the households spread over the
    years they arrive in), else over the run."""
    n = scenario.population.households
    if n is None:
        return 0
    if office is not None and scenario.office(office).intake is not None:
        arrivals, city = scenario.population.arrivals, scenario.city
        years = (len(yearly_windows(arrivals.start, arrivals.end, city.start_date,
                                    city.horizon))
                 if arrivals.yearly else max(1.0, city.horizon / 365.25))
        n = n / years
    mean = var = 0.0
    for g in scenario.population.groups:
        if g.hukou != "local":
            continue
        size = g.share * n
        for s in services:
            p = g.needs.get(s, 1.0 if not g.needs else 0.0)
            mean += size * p
            var += size * p * (1 - p)
    return math.ceil(mean + 2 * math.sqrt(var))
