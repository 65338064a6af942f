"""Declared referrals: a route's table and search over running sums pick what a walk over the
referrals would, for every draw."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from maze.mechanism import Visit
from maze.scenario import from_dict
from offices.referral import BUCKETS_PER_REFERRAL, DeclaredReferrals
from tests.conftest import queue_city


class _Draws:
    """A world that hands out the given draws, one per ``random()``."""

    def __init__(self, draws: list[float]):
        self.decisions = self
        self._draws = iter(draws)

    def random(self) -> float:
        return next(self._draws)


class _Named:
    def __init__(self, **kw: object):
        self.__dict__.update(kw)


def _walk(referrals, office: str, service: str, u: float):
    """The plain definition: the first matching referral whose running sum exceeds u."""
    acc = 0.0
    for r in referrals:
        if r.source == office and r.service in (None, service):
            acc += r.probability
            if u < acc:
                return r
    return None


def test_search_matches_the_walk_with_service_specific_referrals():
    data = queue_city()
    data["offices"] = [{"name": n, "service_time": {"dist": "constant", "value": 0.1}}
                       for n in ("a", "b", "c", "d")]
    data["services"] = {"s1": {"entry": "a"}, "s2": {"entry": "a"}}
    data["referrals"] = [
        {"from": "a", "to": "b", "probability": 0.2},
        {"from": "a", "to": "c", "probability": 0.3, "service": "s1"},
        {"from": "a", "to": "d", "probability": 0.0},
        {"from": "a", "to": "d", "probability": 0.1, "service": "s2", "reason": "documents"},
        {"from": "b", "to": "a", "probability": 1.0},
    ]
    sc = from_dict(data)
    mech = DeclaredReferrals(sc)
    # Draws on the edges of every interval, and random ones.
    draws = [0.0, 0.2, 0.5, 0.3, np.nextafter(0.2, 0), np.nextafter(0.5, 0), 0.99999]
    draws += list(np.random.default_rng(0).random(200))
    for office in ("a", "b", "c"):
        for service in ("s1", "s2"):
            world = _Draws(list(draws))
            for u in draws:
                v = Visit(world, None, _Named(service=service), _Named(name=office), None, False)
                verdict = mech.decide(v)
                if office == "c":  # no referral out of c: no draw either
                    assert verdict is None
                    continue
                r = _walk(sc.referrals, office, service, float(u))
                got = None if verdict is None else (verdict.target, verdict.reason)
                assert got == (None if r is None else (r.target, r.reason)), (office, service, u)
            # One draw per visit where the office has referrals, none where it has none.
            left = sum(1 for _ in world._draws)
            assert left == (len(draws) if office == "c" else 0)


def _edge_draws(referrals, office: str, service: str, rng: np.random.Generator) -> list[float]:
    """Random draws, and the draws at and beside every running sum and every edge of the
    route's buckets, where a table could go wrong."""
    sums = np.cumsum([r.probability for r in referrals
                      if r.source == office and r.service in (None, service)])
    buckets = BUCKETS_PER_REFERRAL * len(sums)
    edges = np.concatenate([sums, np.arange(buckets + 1) / max(buckets, 1)])
    draws = np.concatenate([rng.random(100), edges, np.nextafter(edges, 0),
                            np.nextafter(edges, 2), [np.nextafter(1.0, 0)]])
    return [float(u) for u in draws if 0 <= u < 1]


@pytest.mark.parametrize("listing", ["office by office", "shuffled"])
def test_dense_routes_pick_what_the_walk_picks_at_every_edge(listing):
    """A routing matrix (the table path), with zero probabilities, a full row and mixed
    reasons; listed office by office, and shuffled (the path that groups them first)."""
    rng = np.random.default_rng(7)
    names = [f"o{i}" for i in range(30)]
    data = queue_city()
    data["offices"] = [{"name": n, "service_time": {"dist": "constant", "value": 0.1}}
                       for n in names]
    data["services"] = {"ask": {"entry": "o0"}}
    referrals = []
    for i, src in enumerate(names):
        w = rng.random(len(names))
        w[i] = 0.0
        w[rng.random(len(names)) < 0.2] = 0.0  # some zero probabilities
        total = 1.0 if i == 1 else rng.uniform(0.3, 0.9)  # o1 always refers
        p = w / w.sum() * total
        for j, dst in enumerate(names):
            if j != i:
                referrals.append({"from": src, "to": dst, "probability": float(p[j]),
                                  "reason": "documents" if j % 3 == 0 else "none"})
    if listing == "shuffled":
        referrals = [referrals[i] for i in rng.permutation(len(referrals))]
    data["referrals"] = referrals
    sc = from_dict(data)
    # With the columns the check read the referrals from, and from the records alone.
    assert sc.referrals.columns is not None
    records = sc.model_copy(update={"referrals": tuple(sc.referrals)})
    assert not hasattr(records.referrals, "columns")
    for mech in (DeclaredReferrals(sc), DeclaredReferrals(records)):
        for office in names:
            for u in _edge_draws(sc.referrals, office, "ask", rng):
                v = Visit(_Draws([u]), None, _Named(service="ask"), _Named(name=office), None,
                          False)
                verdict = mech.decide(v)
                r = _walk(sc.referrals, office, "ask", u)
                got = None if verdict is None else (verdict.target, verdict.reason)
                assert got == (None if r is None else (r.target, r.reason)), (office, u)


def test_referrals_read_by_column_keep_their_columns_through_copies():
    """The columns a check kept are those of the records, after a pickle or a deep copy
    too (sweeps send scenarios to their workers pickled)."""
    data = queue_city()
    data["offices"] = [{"name": n} for n in ("a", "b", "c")]
    data["services"] = {"ask": {"entry": "a"}}
    data["referrals"] = [{"from": "a", "to": "b", "probability": 0.5, "reason": "documents"},
                         {"from": "b", "to": "c", "probability": 1}]
    sc = from_dict(data)
    for copy_of in (sc, pickle.loads(pickle.dumps(sc)), copy.deepcopy(sc)):
        assert copy_of == sc
        assert copy_of.referrals.columns == tuple(map(list, zip(*sc.referrals, strict=True)))
