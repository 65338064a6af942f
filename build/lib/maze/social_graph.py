"""Social graphs as arrays: who hears whose stories, for a million households.

A networkx graph keeps a dict per node and per edge, about 400 bytes a household (twice
that while it is built). The same graph as a compressed adjacency (CSR: an offset per
household and one int32 per link end) takes under 40. ``watts_strogatz_edges`` draws
exactly the graph ``networkx.watts_strogatz_graph(n, k, p, seed)`` draws, from the same
``random.Random(seed)`` draws, without building it, and lists its edges in the order
networkx's ``graph.edges`` does, so a run's stories reach the same neighbours in the same
order as before.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np


def watts_strogatz_edges(n: int, k: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``(a, b)`` of ``networkx.watts_strogatz_graph(n, k, p, seed)``, ``a < b``,
    in the order of that graph's ``edges`` (by ``a``, then as added to ``a``'s links).

    Requires ``0 <= k < n`` (as the caller's ``min(links, n - 1)``).
    """
    half = k // 2
    if n <= 0 or half == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = random.Random(seed)
    rand, below = rng.random, rng._randbelow  # ``choice(range(n))`` is ``_randbelow(n)``
    # Ring edge (u, u + j mod n) is edge number (j - 1) * n + u, added in that order;
    # rewired edges follow, numbered as they are added.
    ring_alive = bytearray(b"\x01") * (half * n)
    degree = [2 * half] * n
    added: dict[int, set[int]] = {}  # node -> nodes it gained a rewired edge to
    new_u: list[int] = []
    new_w: list[int] = []

    def has_edge(u: int, w: int) -> bool:
        d = (w - u) % n
        if 1 <= d <= half and ring_alive[(d - 1) * n + u]:
            return True
        if 1 <= n - d <= half and ring_alive[(n - d - 1) * n + w]:
            return True
        extra = added.get(u)
        return extra is not None and w in extra

    for j in range(1, half + 1):
        for u in range(n):
            if rand() < p:
                w = below(n)
                while w == u or has_edge(u, w):
                    w = below(n)
                    if degree[u] >= n - 1:
                        break
                else:
                    # The ring edge (u, v) is still there: only its own turn removes it,
                    # and a rewired edge is never one already present.
                    ring_alive[(j - 1) * n + u] = 0
                    degree[(u + j) % n] -= 1
                    degree[w] += 1
                    added.setdefault(u, set()).add(w)
                    added.setdefault(w, set()).add(u)
                    new_u.append(u)
                    new_w.append(w)
    alive = np.frombuffer(bytes(ring_alive), dtype=np.uint8).astype(bool)
    ring = np.flatnonzero(alive)
    ring_u = ring % n
    ring_v = (ring_u + ring // n + 1) % n
    u = np.concatenate((ring_u, np.array(new_u, dtype=np.int64)))
    v = np.concatenate((ring_v, np.array(new_w, dtype=np.int64)))
    added_at = np.concatenate((ring, half * n + np.arange(len(new_u))))
    a, b = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((added_at, a))
    return a[order], b[order]


class Adjacency:
    """An undirected graph over household ids ``0 .. n - 1`` as a CSR adjacency.

    Built from edge lists in the order networkx's ``add_edges_from`` would receive them:
    each household's neighbours are kept in the order its links were first added.
    """

    __slots__ = ("indptr", "indices")

    def __init__(self, n: int, edges: Sequence[tuple[np.ndarray, np.ndarray]]):
        a = np.concatenate([e[0] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
        b = np.concatenate([e[1] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
        # A link appearing twice (the same pair added again) keeps its first place.
        pair = np.minimum(a, b) * n + np.maximum(a, b)
        _, first = np.unique(pair, return_index=True)
        first.sort()
        a, b = a[first], b[first]
        when = np.concatenate((first, first))
        src = np.concatenate((a, b))
        dst = np.concatenate((b, a))
        order = np.lexsort((when, src))
        self.indices = dst[order].astype(np.int32 if n < 2**31 else np.int64)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=self.indptr[1:])

    def neighbours(self, node: int) -> list[int]:
        """The node's neighbours, in the order their links were added."""
        return self.indices[self.indptr[node]:self.indptr[node + 1]].tolist()

    def degree(self, node: int) -> int:
        return int(self.indptr[node + 1] - self.indptr[node])
