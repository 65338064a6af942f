"""Service withdrawal: a migrant school or clinic closed after a notice period (Chan & O'Brien
2019).

"In Shanghai's Fengtai District, for example, local officials put up barriers around
four migrant schools and posted signs saying that demolition would begin in one year"
[Chan & O'Brien 2019: Away from the City]; there was no public school nearby [Chan & O'Brien 2019:
Away from the City], and "A large majority of migrant families in that part of Fengtai decided it
would be best to make plans to relocate as soon as possible" [Chan & O'Brien 2019: Away from the
City], fearing that if they waited the full year they would be "forced to move without having found
new jobs, housing, or schools" [Chan & O'Brien 2019: Away from the City]. Elsewhere officials "cut
off water, gas, and electricity" to push out holdouts [Chan & O'Brien 2019: Away from the City].
(Chan & O'Brien place Fengtai in Shanghai; it is a Beijing district and the interviews were in
Beijing: see docs/figures.md, section 10.)

How it works here. From the notice day the closed offices take nobody new (unless
``admits_after_notice``) and from the closure day they take nobody at all: either way
the household is refused on "closure". At the notice, each household enrolled there
decides once: leave the city early (with probability ``leave``), move its child to
another alternative (``move``), or hold out. Leavers and movers act after a planning
delay, and no later than the closure. When utilities are cut, each holdout leaves with
probability ``utilities_push``. At the closure the remaining holdouts are forced out:
they try the other alternatives, then go home (``home_ties``) or stay without the
service (``gave_up``).

The place the household had stays its outcome for the case that found it. The notice
opens a new case for each household placed there (same household, same service): it
starts with a refusal on "closure" at the closed office and ends where the household
ends (``sent_away``, another ``alternative``, ``gave_up``), or ``pending`` if the horizon
comes first. In a run over years a pupil may leave the school before it closes: with
its family leaving the city, the case ends ``sent_away``; moving on to the next school
stage (or sent to the hometown's school), it ends ``alternative`` at the closing school
on that day, as the place lasted as long as the child had it, and the child's own new
request decides its next year. Each case keeps one outcome. Households placed after the notice (with
``admits_after_notice``) get theirs when the utilities are cut or at the closure.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maze.distributions import Distribution, Duration, Sampler
from maze.household import Household, Request
from maze.journey import ROLE_OUTCOME, finish, visit
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Scenario
from maze.world import World
from offices import register

Days = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1)]


class WithdrawalConfig(BaseModel):
    """``[mechanisms.withdrawal]``: what closes, when, and how households respond."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: The offices closed (private migrant schools, clinics).
    offices: tuple[str, ...] = Field(min_length=1)
    #: Day the notice goes up (barriers and a sign).
    notice: Days = 0.0
    #: Days from the notice to the closure (Fengtai: one year) [Chan & O'Brien 2019: Away from the
    #: City].
    notice_days: Days = 365.0
    #: Probability an enrolled household decides at the notice to relocate early.
    leave: Probability = 0.0
    #: Probability it decides instead to move its child to another alternative.
    move: Probability = 0.0
    #: Where movers and forced-out holdouts look (other private schools, clinics).
    alternatives: tuple[str, ...] = ()
    #: Days a leaver or mover takes to find a new place, from the notice.
    planning_days: Duration = Field(
        default_factory=lambda: Distribution(dist="exponential", mean=60.0))
    #: Days before the closure that water, gas and electricity are cut (None: never).
    utilities_cut: Days | None = None
    #: Probability a holdout leaves when the utilities are cut.
    utilities_push: Probability = 0.0
    #: Whether the offices keep enrolling new households during the notice period.
    admits_after_notice: bool = False

    @model_validator(mode="after")
    def _shares(self) -> WithdrawalConfig:
        if self.leave + self.move > 1 + 1e-9:
            raise ValueError(f"leave + move must be at most 1, they are {self.leave + self.move:g}")
        if set(self.offices) & set(self.alternatives):
            raise ValueError("an office cannot be both closed and an alternative")
        return self

    @property
    def closure(self) -> float:
        return self.notice + self.notice_days


@register("withdrawal", WithdrawalConfig)
class Withdrawal(Mechanism):
    #: Before everything else: a demolished school says nothing else.
    order = 5

    def __init__(self, scenario: Scenario, config: WithdrawalConfig):
        self.config = config
        self.offices = frozenset(config.offices)
        #: Households served at a closed office and still there, in enrolment order.
        self.enrolled: dict[int, Request] = {}
        #: The closed office each of them was enrolled at.
        self.where: dict[int, str] = {}
        #: Placed case -> the case the closure opened for the same household and service.
        self.reopened: dict[int, Request] = {}
        #: The cases the closure opened (never a new pupil, whatever their outcome).
        self.notices: set[int] = set()
        #: Whether the notice has been given, the utilities cut and the offices closed
        #: (each happens once, whatever rules replace these), and whether newer rules
        #: replaced these.
        self.noticed = self.cut = self.closed = False
        self.retired = False

    @staticmethod
    def check(scenario: Scenario, config: WithdrawalConfig) -> tuple[str, str] | None:
        """Name the first office the table refers to that the scenario lacks."""
        known = {o.name for o in scenario.offices}
        for field in ("offices", "alternatives"):
            for i, name in enumerate(getattr(config, field)):
                if name not in known:
                    return f"{field}.{i}", f"office {name!r} does not exist"
        return None

    def install(self, world: World) -> None:
        world.env.process(self._notice(world))
        world.env.process(self._closure(world))
        if self.config.utilities_cut is not None:
            world.env.process(self._utilities(world))

    def take_over(self, world: World, previous: Mechanism) -> None:
        """New dates or shares from a date (a closure postponed, a shorter notice): the
        pupils placed, the cases the notice opened and the families' plans to leave stay;
        what has not happened yet (notice, cut utilities, closure) happens on the days the
        new rules give, counted from the start of the run, as before."""
        if not isinstance(previous, Withdrawal):
            self.install(world)
            return
        previous.retired = True
        # Pupils of an office the new rules no longer close are no longer this closure's.
        self.enrolled = {c: r for c, r in previous.enrolled.items()
                         if previous.where[c] in self.offices}
        self.where, self.reopened = previous.where, previous.reopened
        self.notices = previous.notices
        self.noticed, self.cut, self.closed = previous.noticed, previous.cut, previous.closed
        if not self.noticed:
            world.env.process(self._notice(world))
        if not self.closed:
            world.env.process(self._closure(world))
        if self.config.utilities_cut is not None and not self.cut:
            world.env.process(self._utilities(world))

    def retire(self, world: World) -> None:
        self.retired = True

    def decide(self, v: Visit) -> Verdict | None:
        if v.station.name not in self.offices:
            return None
        cfg = self.config
        shut_from = cfg.closure if cfg.admits_after_notice else cfg.notice
        if v.world.env.now >= shut_from:
            return Verdict("refuse", "closure")
        return None

    def finished(self, world: World, request: Request) -> None:
        gone = world.lives is not None and request.household.id in world.lives.gone
        if request.case_id in self.notices:
            return  # the closure's own case: the place it carried on was already counted
        if (request.outcome in ("served", "alternative") and request.last_office in self.offices
                and world.env.now < self.config.closure and not gone):
            self.enrolled[request.case_id] = request
            self.where[request.case_id] = request.last_office

    def seat_released(self, world: World, household: Household, office: str,
                      case: int = -1) -> None:
        """A pupil who gave up its place here (moved on, sent home, its family gone) is no
        longer the closure's to push out: no case is opened for it. A closure case already
        opened ends ``sent_away`` if the family left the city, and ``alternative`` here if
        the child left the place while its family stays (it had the place as long as it
        needed it; its own new request decides its next year). Only the pupil whose place
        this was (``case``: the request that won it or the closure's case carrying it on)
        leaves the closure's hands, not a brother or sister still at the school."""
        if office not in self.offices:
            return
        lives = world.lives
        gone = lives is not None and household.id in lives.gone
        for cid in [c for c, r in self.enrolled.items()
                    if r.household.id == household.id and self.where[c] == office
                    and (case < 0 or case == c or case == getattr(self.reopened.get(c),
                                                                    "case_id", -1))]:
            del self.enrolled[cid]
            req = self.reopened.get(cid)
            if req is not None and req.outcome is None and lives is not None:
                finish(world, req, "sent_away" if gone else "alternative", office)

    # -- the processes --------------------------------------------------------------------
    def _reopen(self, world: World, placed: Request) -> Request:
        """The household's new case: told at the closed office that the place will end."""
        office = self.where[placed.case_id]
        req = world.new_request(placed.household, placed.service, office)
        self.notices.add(req.case_id)
        if world.lives is not None:
            world.lives.continues(req, placed)
        now = world.env.now
        world.log.add(req.case_id, now, office, "refuse", reason="closure")
        req.visits += 1
        req.last_office = office
        req.last_reason = "closure"
        return req

    def _notice(self, world: World) -> Generator[Any, Any, None]:
        env = world.env
        yield env.timeout(max(0.0, self.config.notice - env.now))
        if self.retired:
            return
        self.noticed = True
        rng = world.rng["mechanisms"]
        plan = Sampler(self.config.planning_days, rng)
        for cid, placed in list(self.enrolled.items()):
            self.reopened[cid] = req = self._reopen(world, placed)
            u = rng.random()
            if u < self.config.leave:
                env.process(self._depart(world, cid, req, plan(), look=False))
            elif u < self.config.leave + self.config.move:
                env.process(self._depart(world, cid, req, plan(), look=True))

    def _depart(self, world: World, cid: int, req: Request, after: float,
                look: bool) -> Generator[Any, Any, None]:
        env = world.env
        yield env.timeout(max(0.0, min(after, self.config.closure - env.now)))
        if self.enrolled.pop(cid, None) is None:
            return  # already gone (utilities, closure)
        if look:
            yield from self._relocate(world, cid, req)
        else:
            finish(world, req, "sent_away", self.where[cid])

    def _utilities(self, world: World) -> Generator[Any, Any, None]:
        env = world.env
        cut = max(self.config.notice, self.config.closure - self.config.utilities_cut)
        yield env.timeout(max(0.0, cut - env.now))
        if self.retired:
            return
        self.cut = True
        rng = world.rng["mechanisms"]
        for cid, placed in list(self.enrolled.items()):
            if rng.random() < self.config.utilities_push:
                if self.enrolled.pop(cid, None) is None:
                    continue  # a brother or sister's family left with the one before
                req = self.reopened.get(cid) or self._reopen(world, placed)
                finish(world, req, "sent_away", self.where[cid])

    def _closure(self, world: World) -> Generator[Any, Any, None]:
        env = world.env
        yield env.timeout(max(0.0, self.config.closure - env.now))
        if self.retired:
            return
        self.closed = True
        holdouts = list(self.enrolled.items())
        self.enrolled.clear()
        for cid, placed in holdouts:
            req = self.reopened.get(cid) or self._reopen(world, placed)
            env.process(self._relocate(world, cid, req))

    def _relocate(self, world: World, cid: int, req: Request) -> Generator[Any, Any, None]:
        """Look for a place at the alternatives; failing that, go home or go without."""
        for office in self.config.alternatives:
            station = world.stations[office]
            verdict = yield from visit(world, req, station, None, True)
            if verdict.action == "serve":
                finish(world, req, ROLE_OUTCOME[station.role], office)
                return
        home = world.chance(req.household.attr("home_ties"))
        finish(world, req, "sent_away" if home else "gave_up", self.where[cid])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
