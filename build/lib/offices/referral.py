"""Declared referrals: an office sends a household on to another one, with a probability.

The edges of the referral graph that the scenario declares (``[[referrals]]``).
At a visit to the source office for the matching service, the household is sent
to one target, chosen with the declared probabilities; with the remaining
probability the office does its own job. This is Markovian routing, as in a
Jackson network, which is how the engine's queueing core is checked against theory.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from itertools import groupby

import numpy as np

from maze.collector import fewer_collections
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import Referral, Scenario

#: Buckets of a route's table per referral: about one draw in this many falls in a bucket
#: that holds the end of a referral's span, and searches the running sums.
BUCKETS_PER_REFERRAL = 8



class Route:
    """The referrals out of one office for one service, ready to draw from.

    A draw ``u`` picks the first referral whose running sum of probabilities (added in
    declared order, as a walk over the referrals would) exceeds ``u``, or none. The sums
    sit in one contiguous array (``sums``), each referral's verdict as a code (``codes``).
    A ``table`` of ``buckets + 1`` entries answers most draws with one look-up: entry
    ``int(u * buckets)`` holds the code that every draw of that bucket picks (computed
    with the same floating-point product), or the code that says "search" where a running
    sum splits the bucket. So a visit costs the same however many offices a route reaches.
    """

    __slots__ = ("sums", "codes", "table", "buckets")

    def __init__(self, sums: array, codes: array, table: array, buckets: int):
        self.sums, self.codes, self.table, self.buckets = sums, codes, table, buckets


def routes(chances: np.ndarray, codes: np.ndarray, lengths: Sequence[int], none: int,
           search: int) -> list[Route]:
    """The routes of consecutive runs of referrals (``lengths`` of them each), all at once:
    ``chances`` are their probabilities, ``codes`` their verdicts' codes; ``none`` is the
    code of no referral and ``search`` the code that says "search the sums"."""
    n = np.asarray(lengths, dtype=np.intp)
    start = np.cumsum(n) - n
    # Running sums route by route (np.cumsum adds in order, as a walk would); a routing
    # matrix's routes are all as long, the rows of one table.
    if len(set(lengths)) == 1:
        sums = np.cumsum(chances.reshape(len(lengths), lengths[0]), axis=1).ravel()
    else:
        sums = np.concatenate([np.cumsum(chances[a:a + k])
                               for a, k in zip(start.tolist(), lengths, strict=True)])
    buckets = BUCKETS_PER_REFERRAL * n
    m = np.repeat(buckets, n)  # each referral's route's buckets
    # The bucket of each running sum, and of the draw just below it: a sum in the bucket of
    # the draw below it splits that bucket between two answers.
    at = np.minimum((sums * m).astype(np.intp), m)
    below = (np.nextafter(sums, -1.0) * m).astype(np.intp)
    # A draw in an unsplit bucket j has passed exactly the sums whose bucket is <= j: the
    # route's table holds its first code up to the first sum's bucket, the second up to
    # the second's, and so on, then the code of no referral up to its end (buckets + 1
    # entries, as u * buckets can round up to buckets itself). All routes' tables are one
    # array, each route's codes followed by the code of no referral.
    size = buckets + 1
    first = np.cumsum(size) - size  # where each route's table starts
    where = np.repeat(first, n) + at
    ends = np.insert(where, start + n, first + size)
    kind = "H" if search < 1 << 16 else "I"
    coded = np.insert(codes, start + n, none).astype(kind)
    table = np.repeat(coded, np.diff(ends, prepend=0))
    table[where[below == at]] = search
    w = array(kind).itemsize
    sums_b, codes_b, table_b = sums.tobytes(), codes.astype(kind).tobytes(), table.tobytes()
    return [Route(array("d", sums_b[8 * a:8 * (a + k)]), array(kind, codes_b[w * a:w * (a + k)]),
                  array(kind, table_b[w * f:w * (f + b + 1)]), b)
            for a, k, f, b in zip(start.tolist(), lengths, first.tolist(), buckets.tolist(),
                                  strict=True)]


class DeclaredReferrals(Mechanism):
    name = "referrals"

    def __init__(self, scenario: Scenario):
        # A Route per (office, service), and the verdicts their codes stand for: one per
        # (reason, target), made when first needed, then None (no referral) and the code
        # that says "search", shared by all routes.
        self._routes: dict[tuple[str, str], Route] = {}
        self._verdicts: list[Verdict | None] = []
        self._search = 0
        referrals = scenario.referrals
        if not referrals:
            return
        codes = _Codes()
        services = list(scenario.services)
        # A routing matrix of 320 offices declares 102,080 referrals: they are read a column
        # at a time (the columns the scenario check read them from, where it kept them),
        # and the referrals of an office, listed together, are one run. (Each referral
        # lends zip an iterator: the collector is kept from walking them.)
        columns = getattr(referrals, "columns", None)
        if columns is None:
            with fewer_collections():
                columns = tuple(zip(*referrals, strict=True))
        sources, targets, reasons, named, chances = columns
        runs = [(source, len(tuple(run))) for source, run in groupby(sources)]
        if set(named) == {None} and len(runs) == len({source for source, _ in runs}):
            # Every referral is for every service, and listed office by office.
            reason = set(reasons)
            keyed = (map(codes.of(reason.pop()).__getitem__, targets) if len(reason) == 1
                     else map(codes.__getitem__, zip(reasons, targets, strict=True)))
            made = self._made(np.fromiter(chances, float, len(chances)),
                              np.fromiter(keyed, np.intp, len(targets)),
                              [n for _, n in runs], codes)
            for (source, _), route in zip(runs, made, strict=True):
                for service in services:
                    self._routes[source, service] = route
            return
        # Some referrals are for one service only, or an office's are not listed together.
        out_of: dict[str, list[Referral]] = {}
        for r in referrals:
            out_of.setdefault(r.source, []).append(r)
        keys, matches = [], []
        for source, edges in out_of.items():
            for service in services:
                keys.append((source, service))
                matches.append([r for r in edges if r.service is None or r.service == service])
        edges = [r for match in matches for r in match]
        made = self._made(np.array([r.probability for r in edges], dtype=float),
                          np.array([codes[r.reason, r.target] for r in edges], dtype=np.intp),
                          list(map(len, matches)), codes)
        self._routes.update(zip(keys, made, strict=True))

    def _made(self, chances: np.ndarray, coded: np.ndarray, lengths: list[int],
              codes: _Codes) -> list[Route]:
        none = len(codes.verdicts)
        self._verdicts = [*codes.verdicts, None]
        self._search = none + 1
        return routes(chances, coded, lengths, none, self._search)

    def idle(self) -> bool:
        return not self._routes

    def decide(self, v: Visit) -> Verdict | None:
        if v.fallback or v.document is not None:
            return None
        route = self._routes.get((v.station.name, v.request.service))
        if route is None:  # no referral out of this office
            return None
        # One draw per visit to an office with referrals, whether or not one matches the
        # service (the draws of the other decisions stay where they were).
        u = v.world.decisions.random()
        code = route.table[int(u * route.buckets)]
        if code == self._search:  # a bucket that a running sum splits: search the sums
            i = bisect_right(route.sums, u)  # the first referral whose sum exceeds u
            codes = route.codes
            return self._verdicts[codes[i]] if i < len(codes) else None
        return self._verdicts[code]


class _Codes(dict):
    """The code of each (reason, target) verdict, made on first use, and the verdicts."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[Verdict] = []

    def __missing__(self, key: tuple[str, str]) -> int:
        reason, target = key
        code = self[key] = len(self.verdicts)
        self.verdicts.append(Verdict("refer", reason, target=target))
        return code

    def of(self, reason: str) -> _OneReason:
        """The codes of ``reason``'s verdicts, by target."""
        return _OneReason(self, reason)


class _OneReason(dict):
    """The codes of one reason's verdicts, by target (made by, and kept in, ``_Codes``)."""

    def __init__(self, codes: _Codes, reason: str):
        super().__init__()
        self._codes, self._reason = codes, reason

    def __missing__(self, target: str) -> int:
        code = self[target] = self._codes[self._reason, target]
        return code
