"""A household's journey through the maze: the SimPy process behind every request.

The household keeps a stack of errands. It starts with one: ask for the
service at its entry office. An office may serve it, ask for documents (each
becomes an errand at the issuing office, and may need others first), send it
to another office, tell it to come back later, or refuse. When the city path
fails or the household runs out of patience, days or money, it tries its
fallbacks (a private school, the hometown), then decides between going home
and giving up. Every counter visit and the outcome are written to the log.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from sys import intern
from typing import Any

import numpy as np

from maze.counter import LEFT
from maze.household import Household, Request
from maze.mechanism import SERVE, Verdict, Visit
from maze.world import Station, World, wait_until_open

#: The outcome that being served at an office of each role means.
ROLE_OUTCOME = {"city": "served", "alternative": "alternative", "sent_away": "sent_away"}

Process = Generator[Any, Any, Any]

# The clock is read as ``env._now`` on the paths every household takes (SimPy's ``now`` is a
# property over it: a Python call per read, eight times a request).


def arrivals(world: World) -> Process:
    """Start each household's requests at its arrival day."""
    env = world.env
    scenario = world.scenario
    services = list(scenario.services)
    rng = world.rng["population"]
    groups = world.column("group")
    arrival = world.column("arrival")
    n = len(arrival)
    # Which services each household asks for, drawn once, in service order.
    group_of = np.asarray(groups, dtype=object)
    wants: dict[str, list[bool]] = {}
    for s in services:
        u = rng.random(n)
        p = np.zeros(n)
        for g in scenario.population.groups:
            p[group_of == g.name] = g.needs.get(s, 1.0 if not g.needs else 0.0)
        wants[s] = (u < p).tolist()
    case_id = 0
    # Bound once: this loop runs once per household.
    cols, hukou, has_documents = world.columns, world.column("hukou"), bool(scenario.documents)
    wanted = [(s, wants[s], scenario.services[s].entry) for s in services]
    new_request, start = world.requests.append, env.process
    lives = world.lives
    for hid in range(n):
        t = arrival[hid]
        if t > env._now:
            yield env.timeout(t - env._now)
        if lives is not None:
            # A run over years: every household is followed, whatever it asks for now.
            hh = Household(hid, groups[hid], hukou[hid] == "local", cols)
            if has_documents:
                _initial_documents(world, hh)
            asked: set[str] = set()
            for s, child in lives.arrive(hh, [s for s, wants_s, _ in wanted if wants_s[hid]]):
                if s in asked:  # a second child's school request: numbered after arrivals'
                    req = world.new_request(hh, s, scenario.services[s].entry)
                else:
                    asked.add(s)
                    req = Request(case_id, hh, s, env.now, scenario.services[s].entry)
                    case_id += 1
                    new_request(req)
                lives.started(req, child)
                start(journey(world, req))
            continue
        hh = None
        for s, wants_s, entry in wanted:
            if not wants_s[hid]:
                continue
            if hh is None:
                hh = Household(hid, groups[hid], hukou[hid] == "local", cols)  # world.household
                if has_documents:
                    _initial_documents(world, hh)
            req = Request(case_id, hh, s, env._now, entry)
            case_id += 1
            new_request(req)
            start(journey(world, req))


def _initial_documents(world: World, hh: Any) -> None:
    held = frozenset(
        name for name, doc in world.scenario.documents.items()
        if (hh.local and doc.held_by_locals) or doc.held is True
        or (isinstance(doc.held, str) and hh.attr(doc.held)))
    # Households holding the same papers share one set.
    hh.documents = world.papers.setdefault(held, held)


def journey(world: World, req: Request) -> Process:
    """One request, from the first counter to its outcome."""
    env = world.env
    hh = req.household
    stations = world.stations

    # The request's own row in the event log is written from ``req`` when the table is
    # built (``EventLog.to_frame``), as is its outcome row.
    cols, hid = world.columns, hh.id  # hh.attr(name) without a call per attribute
    willing = cols["willingness"][hid]
    if (willing < 1.0 and not world.chance(willing)) or (world.deterrers and any(
            m.deters(world, hh, req) for m in world.deterrers)):
        finish(world, req, "deterred", "")
        return

    patience_days = cols["patience_days"][hid]
    # In the city's lines too (a patience past the horizon never runs out there).
    patience_ends = req.start + patience_days
    if patience_ends >= world.horizon:
        patience_ends = math.inf
    patience_visits = cols["patience_visits"][hid]
    savings = cols["savings"][hid]
    errands: list[tuple[str, str | None]] = [(req.entry, None)]
    held_meanwhile = False
    while errands:
        if req.visits and not held_meanwhile:
            yield env.timeout(world.gap())
        # Whether to go on is decided on the day of the next visit, after the days between
        # visits have passed (deciding before them sent households whose patience ran out
        # on the way to a counter anyway).
        if (req.visits >= patience_visits or env._now - req.start >= patience_days
                or req.spent + req.wage_lost > savings):
            break
        office, document = errands[-1]
        held_meanwhile = document is not None and document in hh.documents
        if held_meanwhile:
            # Obtained meanwhile for another request of the household: no trip for a
            # paper in hand; the next errand is done the same day.
            errands.pop()
            continue
        station = stations[office]
        verdict = yield from visit(world, req, station, document, False, patience_ends)
        action = verdict.action
        if action == "serve":
            finish(world, req, ROLE_OUTCOME[station.role], office)
            return
        if action == "issue":
            held = hh.documents.union(verdict.documents or (document,))
            hh.documents = world.papers.setdefault(held, held)  # shared, as on arrival
            errands.pop()
        elif action == "require":
            missing = [d for d in verdict.documents if d not in hh.documents]
            unobtainable = False
            for d in reversed(missing):
                issuer = world.scenario.documents[d].issuer  # the rules in force now
                if issuer is None:
                    unobtainable = True
                    continue
                # Already on the list further down (a service that asks for a paper and
                # for its prerequisite): it is needed now, so it moves to the top.
                # Leaving it below would send the household back to the same counter
                # for ever.
                errands[:] = [e for e in errands if e[1] != d]
                errands.append((issuer, d))
            if unobtainable or not missing:
                # Nowhere in the city issues it (or the office asks for what is held):
                # the path is closed, whatever the office calls it.
                break
        elif action == "refer":
            errands[-1] = (verdict.target, document)
        elif action == "retry":
            yield env.timeout(verdict.delay)
        else:  # refused, or left the line when patience ran out
            break
    yield from fallback(world, req)


def visit(world: World, req: Request, station: Station, document: str | None,
          is_fallback: bool, patience_ends: float = math.inf) -> Process:
    """Queue at a counter, be seen, and get a verdict. Returns the verdict.

    ``patience_ends``: when the household gives up waiting, in the line or for the office
    to open (the wait recorded includes those days); ``inf`` when it waits whatever it
    takes (fallbacks are tried once the city path has ended, whatever patience is left).
    """
    env = world.env
    travel = station.travel_days
    if travel:
        yield env.timeout(travel)
    arrive = env._now
    if station.calendar is not None:
        closed_for = wait_until_open(station, arrive)
        if closed_for == math.inf:
            verdict = Verdict("refuse", "closure")
            _record(world, req, station, document, verdict, arrive, 0.0, travel)
            return verdict
        if closed_for:
            if arrive + closed_for > patience_ends:
                yield env.timeout(max(patience_ends - arrive, 0.0))
                _record(world, req, station, document, LEFT_LINE, arrive, env.now - arrive,
                        travel)
                return LEFT_LINE
            yield env.timeout(closed_for)
    counter = station.counter
    turn = counter.seize(patience_ends)
    if turn is not None and (yield turn) is LEFT:
        _record(world, req, station, document, LEFT_LINE, arrive, env.now - arrive, travel)
        return LEFT_LINE
    if station.calendar is not None and not station.calendar.is_open(env.now):
        # A clerk is free for the household, but the office is shut until it opens.
        closed_for = wait_until_open(station, env.now)
        if env.now + closed_for > patience_ends:
            yield env.timeout(max(patience_ends - env.now, 0.0))
            counter.release()
            _record(world, req, station, document, LEFT_LINE, arrive, env.now - arrive, travel)
            return LEFT_LINE
        yield env.timeout(closed_for)
    begin = env._now
    service = station.service_time()
    yield env.timeout(service)
    counter.release()
    station.busy_time += service
    wait = begin - arrive
    station.queue_time += wait
    verdict = None
    if world.deciders:
        # tuple.__new__ builds the same Visit as Visit(...) without NamedTuple's
        # Python-level __new__: this runs at every counter visit.
        verdict = decide(world, _new_visit(Visit, (world, req.household, req, station,
                                                   document, is_fallback)))
    if verdict is None:  # no mechanism had a say: the office does its job
        verdict = SERVE if document is None else _issue(world, document)
    if verdict.action == "serve":
        if station.seats_left is None and not verdict.fee and not station.price:
            station.served += 1  # no seat to take and nothing to pay: _take_seat's answer
        else:
            verdict = _take_seat(station, req, verdict, req.household.attr("savings"))
    _record(world, req, station, document, verdict, arrive, wait, travel)
    return verdict


_new_visit = tuple.__new__

#: The household queued until its patience ran out and left the line unseen: no clerk
#: had time for it, so the reason is capacity.
LEFT_LINE = Verdict("leave", "capacity")


def decide(world: World, v: Visit) -> Verdict | None:
    """The first mechanism's verdict, or None when none has a say."""
    for m in world.deciders:
        verdict = m.decide(v)
        if verdict is not None:
            return verdict
    return None


def _issue(world: World, document: str) -> Verdict:
    """An issuing office's plain job: hand over the paper, for its fee."""
    return Verdict("issue", documents=(document,), fee=world.scenario.documents[document].fee)


def _take_seat(station: Station, req: Request, verdict: Verdict, savings: float) -> Verdict:
    """Serving needs a free seat and, where there is a price, the money to pay it."""
    if station.seats_left is not None and station.seats_left <= 0:
        return Verdict("refuse", "capacity")
    fee = verdict.fee + station.price
    if fee and req.spent + req.wage_lost + fee > savings:
        return Verdict("refuse", "price")
    if station.seats_left is not None:
        station.seats_left -= 1
    station.served += 1
    return verdict._replace(fee=fee) if fee != verdict.fee else verdict


def _record(world: World, req: Request, station: Station, document: str | None,
            verdict: Verdict, arrive: float, wait: float, travel: float) -> None:
    hid = req.household.id
    wage = world.columns["daily_wage"][hid] * (world.visit_cost_days + travel)
    req.visits += 1
    req.last_office = station.name
    action, reason, fee = verdict.action, verdict.reason, verdict.fee
    req.spent += fee
    req.wage_lost += wage
    if action == "serve":
        reason = ""
    elif action == "refuse" or action == "require" or action == "refer" or action == "leave":
        req.last_reason = reason
        if reason == "hukou":
            req.explicit = True
    docs = document or ""
    if verdict.documents and (action == "require" or action == "issue"):
        docs = intern("+".join(verdict.documents))  # one string object for all such rows
    # EventLog.add's row, written here: a call less at every counter visit.
    log = world.log
    held = log.held
    held.extend((req.case_id, world.env._now, arrive, wait, fee, wage, station.name, action,
                 reason, verdict.target or "", docs))
    if len(held) >= log.held_max:
        log.fill()


def fallback(world: World, req: Request) -> Process:
    """The city path failed: try the fallbacks, then go home or give up."""
    env = world.env
    hh = req.household
    spec = world.scenario.services[req.service]
    offices = spec.fallback
    for m in world.fallback_choosers:
        chosen = m.fallbacks(world, req, offices)
        if chosen is not None:
            offices = chosen
            break
    for office in offices:
        station = world.stations[office]
        yield env.timeout(world.gap())
        verdict = yield from visit(world, req, station, None, True)
        if verdict.action == "serve":
            finish(world, req, ROLE_OUTCOME[station.role], office)
            return
    home = next((h for m in world.home_deciders if (h := m.goes_home(world, req)) is not None),
                None)
    if home is None:
        home = world.chance(hh.attr("home_ties"))
    if home:
        finish(world, req, "sent_away", "")
    else:
        finish(world, req, "denied" if req.explicit else "gave_up",
                req.last_office)


def finish(world: World, req: Request, outcome: str, office: str) -> None:
    """End a request with its outcome (the final row of its case), then tell mechanisms."""
    req.outcome = outcome
    req.end = world.env._now
    req.end_office = office
    for m in world.finishers:
        m.finished(world, req)
    if world.lives is not None:
        world.lives.finished(req)
    world.requests.finished(req)  # kept as a row from now on
