"""ABC under measurement error: the pyabc parts of ``maze calibrate --method
measurement-error``.

Each published figure is read as the model's measure plus a normal error with the
figure's stated sd. A simulation is accepted with probability
``(likelihood / its maximum) ** (1 / T)``; at temperature ``T = 1`` the accepted particles
are a sample of the exact posterior under that error model (Wilkinson 2013, "Approximate
Bayesian computation (ABC) gives exact results under the assumption of model error",
Statistical Applications in Genetics and Molecular Biology 12(2):129-141). So the run has a
declared end point: the first generation run at temperature 1.

Imported only when a calibration runs (pyabc is slow to import).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyabc

#: Log-likelihood of a simulation whose measure is undefined (no rows matched): never kept.
UNDEFINED_LOG = -1e6


@dataclass(frozen=True)
class LogLikelihood:
    """Sum of the normal log densities of each figure around the model's measure.

    A plain object (not a closure) so that Dask can ship it to other machines.
    """

    names: tuple[str, ...]
    sds: tuple[float, ...]

    @property
    def maximum(self) -> float:
        """The log-likelihood when every measure equals its figure."""
        return -0.5 * sum(math.log(2 * math.pi * sd * sd) for sd in self.sds)

    def __call__(self, x: Mapping[str, float], x_0: Mapping[str, float],
                 t: int | None = None, par: Any = None) -> float:
        total = self.maximum
        for name, sd in zip(self.names, self.sds, strict=True):
            z = (x[name] - x_0[name]) / sd
            if not math.isfinite(z):
                return UNDEFINED_LOG
            total -= 0.5 * z * z
        return total

    def distance(self, log_likelihood: float) -> float:
        """The same fit as a Euclidean distance in sds (what ``--method distance`` uses)."""
        return math.sqrt(max(0.0, 2.0 * (self.maximum - log_likelihood)))


def kernel(names: Sequence[str], sds: Sequence[float]) -> Any:
    """pyabc's stochastic kernel for the figures' errors, its maximum known exactly."""
    like = LogLikelihood(tuple(names), tuple(float(s) for s in sds))
    return pyabc.distance.FunctionKernel(like, ret_scale=pyabc.distance.SCALE_LOG,
                                         keys=list(names), pdf_max=like.maximum)


#: How the acceptance probability is normalised: by the likelihood's exact maximum, or by
#: the largest likelihood found so far.
NORMALISATIONS = ("maximum", "found")


def acceptor(normalise: str = "maximum") -> Any:
    """Accept with ``(likelihood / c) ** (1 / T)``.

    ``maximum``: ``c`` is the kernel's exact maximum (every measure on its figure), so no
    particle is ever over-weighted. ``found``: ``c`` is the largest likelihood found so
    far (pyabc's default); a particle above it is accepted and weighted up by the excess
    (rejection control importance sampling), so the result at T = 1 is the same
    posterior. It keeps the acceptance rate up where the model cannot reach some figure:
    a target always two sds away divides every acceptance probability by e**2 under
    ``maximum``, and not under ``found``.
    """
    norm = (pyabc.acceptor.pdf_norm_from_kernel if normalise == "maximum"
            else pyabc.acceptor.pdf_norm_max_found)
    return pyabc.StochasticAcceptor(pdf_norm_method=norm)


class Temperature(pyabc.Temperature):
    """pyabc's temperature schedule (an acceptance-rate rule and an exponential decay that
    reaches 1 at the last planned generation), made to continue a stored run.

    pyabc counts the planned generations from the run's first generation, where a resumed
    run starts later: here the count is made absolute, and the stored run's last
    temperature bounds the next one (the schedule never rises).
    """

    def __init__(self, previous: float | None = None) -> None:
        super().__init__()
        self.previous = previous

    def initialize(self, t: int, get_weighted_distances: Any, get_all_records: Any,
                   max_nr_populations: int, acceptor_config: dict) -> None:
        if self.previous is not None and t > 0:
            self.temperatures.setdefault(t - 1, float(self.previous))
        super().initialize(t, get_weighted_distances, get_all_records,
                           t + max_nr_populations, acceptor_config)


def reached_end(temperature: float) -> bool:
    """Whether a generation ran at temperature 1 (the posterior under the figures' errors)."""
    return bool(np.isclose(temperature, 1.0, rtol=0, atol=1e-9))
