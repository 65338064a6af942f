"""The small interface through which the engine meets the domain.

The engine queues households at offices and keeps the books; what an office
*says* at the counter is decided by mechanisms, supplied from outside the
engine (the ``offices`` library). Each mechanism may deter a household before
it tries, give a verdict at a visit, choose among fallbacks, and hear how a
request ended. The first mechanism with a verdict wins; with none, the
office does its job (serves, or issues the document asked for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    from maze.household import Household, Request
    from maze.lives import Child
    from maze.world import Station, World

#: What an office can do with a household at the counter.
ACTIONS = ("serve", "issue", "require", "refer", "refuse", "retry")


class Verdict(NamedTuple):
    """What an office did with a household at one visit, and why."""

    action: str
    reason: str = "none"
    #: The office a referral sends the household to.
    target: str | None = None
    #: Documents required (``require``) or issued (``issue``).
    documents: tuple[str, ...] = ()
    #: Money the household pays at this step (RMB).
    fee: float = 0.0
    #: Days before the household may try again (``retry``: waiting lists, next opening).
    delay: float = 0.0


SERVE = Verdict("serve")


class Visit(NamedTuple):
    """One household at one counter: what mechanisms see when they decide."""

    world: World
    household: Household
    request: Request
    station: Station
    #: The document sought here, or None when the household seeks the service itself.
    document: str | None
    #: True when the household is trying a fallback (private school, hometown).
    fallback: bool

    def attr(self, name: str) -> Any:
        """Attribute ``name`` as this request is judged by it: a school request made for one
        child reads that child's own ``school_stage`` and ``years_schooling``, every other
        value is the household's (:meth:`maze.world.World.attr`)."""
        return self.world.attr(self.request, name)


class Mechanism:
    """Base class: a switchable piece of office behaviour. Override what you need."""

    name: ClassVar[str] = "mechanism"
    #: What kind of rule it is: "deflection" (the city's, in one season or many) or
    #: "family" (a household's decision over the years, which needs ``[lives]``).
    kind: ClassVar[str] = "deflection"

    def install(self, world: World) -> None:
        """Called once when the world is built: start processes, precompute tables."""

    #: Attributes holding what the mechanism remembers of households and requests (counts,
    #: decisions, draws): the default ``take_over`` carries them over from the previous
    #: rules' instance, so a dated change of a setting does not make it forget.
    carried: ClassVar[tuple[str, ...]] = ()

    def take_over(self, world: World, previous: Mechanism) -> None:
        """Called instead of ``install`` when the rules in force change on a date and this
        mechanism, configured as the new rules say, replaces ``previous`` (the same kind,
        configured as before). By default it installs afresh and keeps what ``previous``
        remembered in its :attr:`carried` attributes; override for more."""
        self.install(world)
        if isinstance(previous, type(self)):
            for name in self.carried:
                setattr(self, name, getattr(previous, name))

    def retire(self, world: World) -> None:
        """Called when the rules in force no longer include this mechanism (switched off
        or replaced on a date): stop what it runs."""

    def new_intake(self, world: World, station: Station) -> None:
        """Called when an office with a yearly intake has just freed all its seats."""

    def idle(self) -> bool:
        """True when, once installed, this mechanism has nothing to say in this world (the
        scenario declares nothing of its kind): the engine then never consults it."""
        return False

    def deters(self, world: World, household: Household, request: Request) -> bool:
        """True if the household never tries (it ends as ``deterred``)."""
        return False

    def decide(self, visit: Visit) -> Verdict | None:
        """A verdict for this visit, or None to leave it to the next mechanism."""
        return None

    def fallbacks(self, world: World, request: Request,
                  offices: tuple[str, ...]) -> tuple[str, ...] | None:
        """The fallbacks this household tries, in order (``()`` for none), or None to
        leave the scenario's order. The first mechanism with an answer wins."""
        return None

    def goes_home(self, world: World, request: Request) -> bool | None:
        """Whether a household that found nothing goes home (``sent_away``) rather than
        giving up, or None to leave it to chance (the ``home_ties`` attribute)."""
        return None

    def finished(self, world: World, request: Request) -> None:
        """Called when a request reaches its outcome."""

    def seat_released(self, world: World, household: Household, office: str,
                      case: int = -1) -> None:
        """Called when ``household`` gives up the seat it held at ``office`` (runs over
        years: a pupil moving on to a new stage, a child sent to the hometown, a family
        leaving the city); ``case`` is the request that won the seat, or that carries it on
        (-1 if not known): of two children with a seat at one school, the one leaving."""

    # -- family decisions over years (runs with ``[lives]``) ------------------------------
    def brings_child(self, world: World, household: Household, child: Child) -> bool | None:
        """Whether the family brings its child to the city (True) or leaves it in the
        hometown (False), at arrival and each year after; None leaves it to the next rule
        (by default the household's need for the school service decides, once)."""
        return None

    def back_for_gaokao(self, world: World, household: Household, child: Child) -> bool | None:
        """Whether a child in the city reaching the senior-high (gaokao) stage goes back
        to the hometown; None leaves it to the next rule (by default it stays)."""
        return None

    def tries_again(self, world: World, request: Request) -> bool | None:
        """Whether a household whose request failed asks again next year; None leaves it
        to the next rule (by default it does not)."""
        return None

    def returns_home(self, world: World, household: Household) -> bool | None:
        """Whether the family leaves the city for its hometown at the turn of a year; None
        leaves it to the scenario's ``lives.leave_rate``."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}
