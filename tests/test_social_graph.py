"""The array small world is networkx's Watts-Strogatz graph, edge for edge and in order."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from maze.social_graph import Adjacency, watts_strogatz_edges


@pytest.mark.parametrize(("n", "k", "p"), [
    (1, 0, 0.5), (2, 1, 0.5), (3, 2, 1.0), (5, 4, 1.0), (6, 4, 0.9), (10, 2, 0.0),
    (10, 4, 0.3), (50, 6, 0.5), (200, 4, 0.1), (300, 8, 0.95), (1000, 4, 0.1),
])
@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_same_edges_in_the_same_order_as_networkx(n: int, k: int, p: float, seed: int) -> None:
    g = nx.watts_strogatz_graph(n, k, p, seed=seed)
    a, b = watts_strogatz_edges(n, k, p, seed)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [
        (min(x, y), max(x, y)) for x, y in g.edges]
    # What a story follows: each node's neighbours in the graph built from those edges
    # (as ``add_edges_from`` builds it), in the same order.
    order = np.random.default_rng(seed).permutation(n)
    net = nx.Graph()
    net.add_nodes_from(range(n))
    net.add_edges_from((int(order[x]), int(order[y])) for x, y in g.edges)
    adj = Adjacency(n, [(order[a], order[b])])
    for node in range(n):
        assert adj.neighbours(node) == list(net.neighbors(node))
        assert adj.degree(node) == net.degree(node)


def test_pools_and_a_repeated_link_keep_networkx_order() -> None:
    edges = [(np.array([0, 2, 0]), np.array([1, 3, 3])), (np.array([5, 4, 1]), np.array([4, 0, 0]))]
    net = nx.Graph()
    for a, b in edges:
        net.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
    adj = Adjacency(7, edges)
    for node in range(7):
        assert adj.neighbours(node) == (list(net.neighbors(node)) if node in net else [])
