"""Paperwork added from a date: one more document for a service (Chan & O'Brien 2019).

"At least one parent must now provide physical proof of Beijing-issued social
insurance in order to enroll a child in public school" (Beijing, mid-2010s)
[Chan & O'Brien 2019: Within the City]; "some cities, such as Chengdu, may require up to seven
documents" [Chan & O'Brien 2019: Within the City]; "they always had these requirements. It's just
that it's being enforced more strictly now" [Chan & O'Brien 2019: Within the City].

The added documents are ordinary scenario documents (``[documents.NAME]``, with an
issuer, prerequisites and yes/no needs): this mechanism only makes the service's
entry office ask for them from ``from_day`` on, and the paperwork chain
(:mod:`offices.documents`) sends the household to their issuers. An addition may also
tell the issuer to certify only households with a streak (proof of local social
insurance needs local insurance years), refusing the others on ``documents``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import MinYears, Scenario
from offices import register
from offices.eligibility import unmet_rule


class Addition(BaseModel):
    """Documents a service's entry office starts asking for on a date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    documents: tuple[str, ...] = Field(min_length=1)
    from_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    until_day: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    #: Streaks the issuer checks before certifying these documents.
    min_years: MinYears = Field(default_factory=MinYears)
    #: Whether locals are asked too (they hold local papers unless the document says not).
    locals: bool = False


class ExtraDocumentsConfig(BaseModel):
    """``[mechanisms.extra_documents]``: a list of dated additions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    additions: tuple[Addition, ...] = Field(min_length=1)


@register("extra_documents", ExtraDocumentsConfig)
class ExtraDocuments(Mechanism):
    """The entry office asks for the added documents once the declared ones are in hand."""

    order = 52  # after the declared paperwork: "now bring this too"

    def __init__(self, scenario: Scenario, config: ExtraDocumentsConfig):
        self.config = config

    @staticmethod
    def check(scenario: Scenario, config: ExtraDocumentsConfig) -> tuple[str, str] | None:
        for i, a in enumerate(config.additions):
            if a.service not in scenario.services:
                return f"additions.{i}.service", f"unknown service {a.service!r}"
            for d in a.documents:
                if d not in scenario.documents:
                    return (f"additions.{i}.documents",
                            f"unknown document {d!r}; declare it under [documents.{d}]")
            if a.until_day is not None and a.until_day <= a.from_day:
                return f"additions.{i}.until_day", "must come after from_day"
        return None

    @staticmethod
    def _in_force(a: Addition, now: float) -> bool:
        return now >= a.from_day and (a.until_day is None or now < a.until_day)

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback:
            return None
        now = v.world.env.now
        service = v.request.service
        if v.document is not None:
            # At the issuer: certify only households with the streaks the addition names.
            for a in self.config.additions:
                if (a.service == service and v.document in a.documents
                        and self._in_force(a, now) and (a.locals or not v.household.local)
                        and unmet_rule(v.household, a.min_years, read=v.attr)):
                    return Verdict("refuse", "documents")
            return None
        if v.station.name != v.world.scenario.services[service].entry:
            return None
        held = v.household.documents
        missing: list[str] = []
        for a in self.config.additions:
            if (a.service != service or not self._in_force(a, now)
                    or (v.household.local and not a.locals)):
                continue
            missing += [d for d in a.documents if d not in held and d not in missing]
        return Verdict("require", "documents", documents=tuple(missing)) if missing else None

    def describe(self) -> dict:
        return {"name": self.name, **self.config.model_dump(mode="json")}
