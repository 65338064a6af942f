"""Deterrence by word of mouth: failure stories spread and people stop trying (Chan & O'Brien 2019).

"As outsiders share these stories of frustrating encounters and missed opportunities,
and their experiences of being shut out of schools for one reason or another, others are
deterred from bringing their children to the city at all. A vegetable seller from Fujian
Province working in Beijing explained in 2017, 'I heard they couldn't go to school in
Beijing, so I didn't even consider bringing them here'" [Chan & O'Brien 2019: Away from the City].

How it works here. Migrant households are linked in a social graph drawn at the start
of the run from the mechanisms' random stream: a Watts-Strogatz small world (a ring of
``links`` neighbours, each link rewired with probability ``rewire``) or a random graph
with ``links`` neighbours on average, over all migrants or only within each group
(fellow villagers, co-workers). Nodes are shuffled so that neighbours are not simply
households that arrived on the same day. When a request ends in one of the ``stories``
outcomes (gave up, denied, sent away), each neighbour hears of it with probability
``reach``, ``delay_days`` later. A household that has heard ``n`` stories about a service
(or about any service, without ``same_service``) does not try at all with probability
``1 - (1 - deterrence) ** n``: its request ends as ``deterred``. ``services`` limits
the stories told and the requests deterred to some services (all by default). Requests
start at a household's arrival, so only households arriving after a story can be
deterred by it. Locals are not in the graph and are never deterred.

``heard_before`` gives each migrant household a story at the start with that
probability: the stories already going round. The texts give no deterrence share. The
factories' report that 72% of their workers do not live with their children [Fish 2017]
covers many reasons besides stories, and bounds such a prior from above.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from maze.household import Household, Request
from maze.mechanism import Mechanism
from maze.scenario import Scenario
from maze.social_graph import Adjacency, watts_strogatz_edges
from maze.world import World
from offices import register

Share = Annotated[float, Field(ge=0, le=1)]
Story = Literal["gave_up", "denied", "sent_away", "alternative", "pending"]


class WordOfMouthConfig(BaseModel):
    """``[mechanisms.word_of_mouth]``: who talks to whom, and what a story does."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Shape of the social graph.
    graph: Literal["watts_strogatz", "random"] = "watts_strogatz"
    #: Neighbours per household (on average for ``random``; even for ``watts_strogatz``).
    links: Annotated[int, Field(ge=0, le=1000)] = 4
    #: Probability each small-world link is rewired to a random household.
    rewire: Share = 0.1
    #: Link households only within their own group.
    within_group: bool = False
    #: Services whose failures are told and whose requests can be deterred (empty: all).
    services: tuple[str, ...] = ()
    #: Outcomes that make a failure story.
    stories: tuple[Story, ...] = ("gave_up", "denied", "sent_away")
    #: Probability that one story heard stops a household from trying.
    deterrence: Share = 0.3
    #: Probability that a neighbour hears a given story.
    reach: Share = 1.0
    #: Days for a story to reach the neighbours.
    delay_days: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    #: A story deters only requests for the same service.
    same_service: bool = True
    #: Probability a migrant household has heard one story before the run begins.
    heard_before: Share = 0.0


@register("word_of_mouth", WordOfMouthConfig)
class WordOfMouth(Mechanism):
    def __init__(self, scenario: Scenario, config: WordOfMouthConfig):
        self.config = config
        self.services = config.services or tuple(scenario.services)
        #: Migrant households' links (locals have none), set at install.
        self.network = Adjacency(0, [])
        #: Stories told about each topic (a service, or one topic for all without
        #: ``same_service``): how many have reached each household, at ``household *
        #: topics + topic``, and those still on their way (day they arrive, that index),
        #: a heap ordered by the day they arrive (a dated change of the delay can make a
        #: later story arrive first).
        self.pooled = not config.same_service
        self.topics = ("",) if self.pooled else self.services
        self.heard = array("i")
        self.on_the_way: list[tuple[float, int]] = []

    def install(self, world: World) -> None:
        cfg = self.config
        rng = world.rng["mechanisms"]
        hukou = np.asarray(world.column("hukou"), dtype=object)
        groups = np.asarray(world.column("group"), dtype=object)
        migrants = np.flatnonzero(hukou != "local")
        pools = ([migrants[groups[migrants] == g] for g in dict.fromkeys(groups.tolist())]
                 if cfg.within_group else [migrants])
        edges = []
        for pool in pools:
            order = pool[rng.permutation(len(pool))]
            a, b = self._draw(len(order), int(rng.integers(2**32)))
            edges.append((order[a], order[b]))
        self.network = Adjacency(len(hukou), edges)
        self.heard = array("i", bytes(4 * len(hukou) * len(self.topics)))
        self.on_the_way.clear()
        if cfg.heard_before > 0:
            told = rng.random(len(migrants)) < cfg.heard_before
            topic = rng.integers(len(self.services), size=len(migrants))
            for h, yes, s in zip(migrants.tolist(), told.tolist(), topic.tolist(), strict=True):
                if yes:
                    self.heard[self._at(h, self.services[s])] += 1

    def take_over(self, world: World, previous: Mechanism) -> None:
        """A new deterrence, reach or delay from a date: people keep the ties they have
        (the network is not drawn again) and the stories they have heard or will hear,
        for every topic the new rules still count."""
        if not isinstance(previous, WordOfMouth):
            self.install(world)
            return
        self.network = previous.network
        n = len(world.column("hukou"))
        if previous.topics == self.topics:
            self.heard = previous.heard
            self.on_the_way = previous.on_the_way
            return
        self.heard = array("i", bytes(4 * n * len(self.topics)))
        old = len(previous.topics)
        # Into one pooled topic everything counts; between services, only the services
        # the new rules still count, each to itself.
        where = {i: 0 if self.pooled else self.topics.index(t)
                 for i, t in enumerate(previous.topics) if self.pooled or t in self.topics}
        for idx, count in enumerate(previous.heard):
            h, i = divmod(idx, old)
            if count and i in where:
                self.heard[h * len(self.topics) + where[i]] += count
        for when, idx in previous.on_the_way:
            h, i = divmod(idx, old)
            if i in where:
                self.on_the_way.append((when, h * len(self.topics) + where[i]))
        heapq.heapify(self.on_the_way)

    @staticmethod
    def check(scenario: Scenario, config: WordOfMouthConfig) -> tuple[str, str] | None:
        """Name the first service the table refers to that the scenario lacks."""
        for i, name in enumerate(config.services):
            if name not in scenario.services:
                return f"services.{i}", f"unknown service {name!r}"
        return None

    def _draw(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The edges of one pool's graph over ``0 .. n - 1``, in networkx's edge order."""
        k = min(self.config.links, n - 1) if n > 1 else 0
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.config.graph == "random":
            import networkx as nx

            g = nx.gnm_random_graph(n, n * k // 2, seed=seed)
            e = np.array(list(g.edges), dtype=np.int64).reshape(-1, 2)
            return e[:, 0], e[:, 1]
        return watts_strogatz_edges(n, k, self.config.rewire, seed)

    def _at(self, household: int, service: str) -> int:
        """Where the count of stories about ``service`` heard by ``household`` is kept."""
        topics = self.topics
        return household * len(topics) + (0 if self.pooled else topics.index(service))

    def _arrive(self, now: float) -> None:
        """Count the stories on their way that have reached their hearers by ``now``."""
        on_the_way, heard = self.on_the_way, self.heard
        while on_the_way and on_the_way[0][0] <= now:
            heard[heapq.heappop(on_the_way)[1]] += 1

    def stories_heard(self, household: Household, service: str, now: float) -> int:
        """Stories about ``service`` that have reached the household by ``now`` (the
        simulation's current time)."""
        self._arrive(now)
        if not self.pooled and service not in self.topics:
            return 0
        return self.heard[self._at(household.id, service)]

    def deters(self, world: World, household: Household, request: Request) -> bool:
        if household.local or request.service not in self.services:
            return False
        n = self.stories_heard(household, request.service, world.env.now)
        if n == 0:
            return False
        p_try = (1.0 - self.config.deterrence) ** n
        return bool(world.rng["mechanisms"].random() >= p_try)

    def finished(self, world: World, request: Request) -> None:
        hid = request.household.id
        if request.outcome not in self.config.stories or request.service not in self.services:
            return
        neighbours = self.network.neighbours(hid)
        if not neighbours:  # a local, or a migrant nobody talks to
            return
        cfg = self.config
        now = world.env.now
        when = now + cfg.delay_days
        service = request.service
        self._arrive(now)
        hears = (np.ones(len(neighbours), dtype=bool) if cfg.reach >= 1.0
                 else world.rng["mechanisms"].random(len(neighbours)) < cfg.reach)
        for nb, yes in zip(neighbours, hears.tolist(), strict=True):
            if not yes:
                continue
            if when <= now:
                self.heard[self._at(nb, service)] += 1
            else:
                heapq.heappush(self.on_the_way, (when, self._at(nb, service)))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}
