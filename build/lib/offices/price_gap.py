"""Price gaps: where care is taken decides what insurance pays back (Chan & O'Brien 2019).

"Urban hospitals are almost always more expensive than rural ones, and differences in
out-of-pocket expenses encourage migrants to seek healthcare outside the city where they
work" [Chan & O'Brien 2019: Away from the City]. In a Hangzhou hospital "most migrants could only
get 10% of their expenses reimbursed through their rural healthcare insurance" [Chan & O'Brien 2019:
Away from the City]; a Sichuan cook's hometown hospital paid 80% [Chan & O'Brien 2019: Away from the
City]. A worker who was not in danger "planned to wait until he returned to his hometown" for
surgery [Chan & O'Brien 2019: Away from the City]; a woman who "could not afford the 90% share of a
5,000 RMB bill" and did not want "to take time off from work to return to her home village" left
untreated [Chan & O'Brien 2019: Away from the City]; a cheaper, less reputable facility would likely
cost "more money later" [Chan & O'Brien 2019: Away from the City]. Without agreements, rural
insurance is "not accepted here" at all [Chan & O'Brien 2019: Away from the City]; Chengdu takes
Sichuan receipts but not those from other provinces [Chan & O'Brien 2019: Why Deflect]. Off-site
settlement (2017) lets patients settle "without having to return" home [Chan & O'Brien 2019:
Statistics].

How it works here. Each office where care can be taken has a bill and a rate at which the
household's rural insurance pays it back. At a city office the insurer may not accept the
receipts (``accepted``, by origin), unless off-site settlement works for this household
(``offsite_settlement``), in which case the home rate applies. Locals pay the city bill
less ``local_rate``; migrants without rural insurance pay it all. At the first counter the
household learns the bill and weighs every place on the list, the city's and its
fallbacks: what it pays now, what the care will cost later, the wages lost to the trip,
and the days before care, weighed by its urgency. It can also go untreated, which it
weighs at ``untreated_cost``. It takes the cheapest option it can afford: the city
serves it and bills it, or it walks out (refused on "price") and goes, in order of cost,
to the fallbacks it would rather use than go untreated. If none serves it, it goes
without care (``gave_up``, last reason "price").
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from maze.household import Household, Request
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Scenario
from maze.world import World
from offices import register

Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]


class PriceGapConfig(BaseModel):
    """``[mechanisms.price_gap]``: bills, reimbursement rates and the household's weights."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Services priced this way (the entry office and every fallback need a bill).
    services: tuple[str, ...] = Field(min_length=1)
    #: Full price of the care at each office (RMB); the office's own ``price`` (a room)
    #: is added on top and never reimbursed.
    bills: dict[str, Money]
    #: Share of the bill the household's rural insurance pays back at each office.
    rates: dict[str, Share] = Field(default_factory=dict)
    #: Probability that a city office accepts the rural insurance at all, by origin.
    accepted: dict[Literal["same", "other"], Share] = Field(
        default_factory=lambda: {"same": 1.0, "other": 1.0})
    #: Probability that off-site settlement works for an insured migrant in the city.
    offsite_settlement: Share = 0.0
    #: Rate paid through off-site settlement (None: the best home rate among the fallbacks).
    offsite_rate: Share | None = None
    #: Share of the city bill urban insurance pays back for locals.
    local_rate: Share = 0.0
    #: Expected cost later of care taken at an office (corrective work after a black clinic).
    later_costs: dict[str, Money] = Field(default_factory=dict)
    #: Days before care can be had at an office, besides travel (waiting to go home).
    wait_days: dict[str, Money] = Field(default_factory=dict)
    #: What a day without care costs at urgency 1 (RMB-equivalent).
    urgency_cost: Money = 0.0
    #: What going without care costs the household (RMB-equivalent; None: never worth it).
    untreated_cost: Money | None = None


class Option(NamedTuple):
    """One place to get care, as the household sees it."""

    office: str
    pays_now: float  # bill after reimbursement (the office's own price added by the engine)
    cost: float  # what the household weighs: money, later cost, wages, delay
    affordable: bool


@register("price_gap", PriceGapConfig)
class PriceGap(Mechanism):
    #: After eligibility and paperwork: the household learns the bill once it may be treated.
    order = 80

    def __init__(self, scenario: Scenario, config: PriceGapConfig):
        self.config = config
        self.scenario = scenario
        self.services = frozenset(config.services)
        self.home_rate: dict[str, float] = {}
        for name in config.services:
            svc = scenario.services[name]
            homes = [config.rates.get(o, 0.0) for o in svc.fallback
                     if scenario.office(o).role == "sent_away"]
            self.home_rate[name] = max(homes, default=0.0)
        #: case_id -> (accepted in the city, off-site settlement works), drawn once.
        self.insurance: dict[int, tuple[bool, bool]] = {}
        #: case_id -> the household's ranking of options, made at the first counter.
        self.choice: dict[int, list[Option]] = {}

    @staticmethod
    def check(scenario: Scenario, config: PriceGapConfig) -> tuple[str, str] | None:
        """Every priced service exists and every place on its list has a bill."""
        known = {o.name for o in scenario.offices}
        for i, name in enumerate(config.services):
            if name not in scenario.services:
                return f"services.{i}", f"unknown service {name!r}"
            svc = scenario.services[name]
            for office in (svc.entry, *svc.fallback):
                if office not in config.bills:
                    return "bills", f"no bill for office {office!r} (service {name!r})"
        for table in ("bills", "rates", "later_costs", "wait_days"):
            for office in getattr(config, table):
                if office not in known:
                    return f"{table}.{office}", f"office {office!r} does not exist"
        return None

    # -- what care costs this household ---------------------------------------------------
    def rate(self, world: World, req: Request, office: str) -> float:
        """Share of the bill paid back for this household at this office."""
        hh = req.household
        role = world.stations[office].role
        if hh.local:
            return self.config.local_rate if role == "city" else 0.0
        if not hh.attr("rural_insurance"):
            return 0.0
        rate = self.config.rates.get(office, 0.0)
        if role != "city":
            return rate
        accepted, offsite = self._insurance(world, req)
        if offsite:
            off = self.config.offsite_rate
            return self.home_rate[req.service] if off is None else off
        return rate if accepted else 0.0

    def _insurance(self, world: World, req: Request) -> tuple[bool, bool]:
        got = self.insurance.get(req.case_id)
        if got is None:
            rng = world.rng["mechanisms"]
            origin = req.household.attr("origin")
            accepted = bool(rng.random() < self.config.accepted.get(origin, 1.0))
            offsite = bool(rng.random() < self.config.offsite_settlement)
            got = self.insurance[req.case_id] = (accepted, offsite)
        return got

    def option(self, world: World, req: Request, office: str) -> Option:
        hh: Household = req.household
        cfg = self.config
        station = world.stations[office]
        pays = cfg.bills[office] * (1.0 - self.rate(world, req, office))
        money = pays + station.spec.price
        travel = station.spec.travel_days
        wages = hh.attr("daily_wage") * (world.scenario.population.visit_cost_days + travel)
        delay = travel + cfg.wait_days.get(office, 0.0)
        urgency = float(hh.attr("urgency"))
        cost = money + cfg.later_costs.get(office, 0.0) + wages + urgency * cfg.urgency_cost * delay
        affordable = req.spent + req.wage_lost + money <= hh.attr("savings")
        return Option(office, pays, cost, affordable)

    def rank(self, world: World, req: Request, offices: tuple[str, ...]) -> list[Option]:
        """Options worth more than going untreated, that the household can pay, cheapest first."""
        worst = self.config.untreated_cost
        untreated = math.inf if worst is None else worst
        opts = [self.option(world, req, o) for o in offices]
        keep = [o for o in opts if o.affordable and o.cost < untreated]
        return sorted(keep, key=lambda o: o.cost)

    def take_over(self, world: World, previous: Mechanism) -> None:
        """New rates or bills from a date: a patient already on its way keeps what its
        insurance was found to cover and the choice it made at the first counter."""
        if isinstance(previous, PriceGap):
            self.insurance, self.choice = previous.insurance, previous.choice

    # -- the hooks ------------------------------------------------------------------------
    def decide(self, v: Visit) -> Verdict | None:
        req = v.request
        if v.document is not None or req.service not in self.services:
            return None
        svc = v.world.scenario.services[req.service]
        office = v.station.name
        if v.fallback:
            if office not in self.config.bills:
                return None
            return Verdict("serve", fee=self.option(v.world, req, office).pays_now)
        if office != svc.entry:
            return None
        ranked = self.rank(v.world, req, (svc.entry, *svc.fallback))
        self.choice[req.case_id] = ranked
        if ranked and ranked[0].office == office:
            return Verdict("serve", fee=ranked[0].pays_now)
        return Verdict("refuse", "price")

    def fallbacks(self, world: World, request: Request,
                  offices: tuple[str, ...]) -> tuple[str, ...] | None:
        if request.service not in self.services:
            return None
        ranked = self.choice.pop(request.case_id, None)
        if ranked is None:  # turned away before learning the bill: weigh the fallbacks now
            ranked = self.rank(world, request, offices)
        return tuple(o.office for o in ranked if o.office in offices)

    def goes_home(self, world: World, request: Request) -> bool | None:
        # Going home is a place on the list (the hometown clinic), not a coin toss.
        return False if request.service in self.services else None

    def finished(self, world: World, request: Request) -> None:
        self.choice.pop(request.case_id, None)
        self.insurance.pop(request.case_id, None)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
