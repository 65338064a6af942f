"""Queueing-theory references the engine is checked against (textbook formulas)."""

from __future__ import annotations

import math

import numpy as np


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = lambda/mu)."""
    rho = offered / servers
    if rho >= 1:
        return 1.0
    terms = sum(offered**k / math.factorial(k) for k in range(servers))
    top = offered**servers / math.factorial(servers) / (1 - rho)
    return top / (terms + top)


def mmc_mean_wait(rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue Wq of an M/M/c queue."""
    a = rate / service_rate
    return erlang_c(servers, a) / (servers * service_rate - rate)


def jackson_throughputs(external: np.ndarray, routing: np.ndarray) -> np.ndarray:
    """Traffic equations of an open Jackson network: lambda = gamma + P^T lambda."""
    n = len(external)
    return np.linalg.solve(np.eye(n) - routing.T, external)


def jackson_node_waits(external: np.ndarray, routing: np.ndarray, service_rates: np.ndarray,
                       servers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-node throughput and mean queueing wait (each node an independent M/M/c)."""
    lam = jackson_throughputs(external, routing)
    waits = np.array([mmc_mean_wait(lam[i], service_rates[i], int(servers[i]))
                      for i in range(len(lam))])
    return lam, waits
