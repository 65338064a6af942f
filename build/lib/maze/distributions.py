"""Probability distributions for service times, gaps between visits and household attributes.

Declared as data in scenario files (``{dist = "exponential", mean = 0.02}``) and sampled
from numpy Generators in buffered blocks: a SimPy model draws one number per event, and
drawing them one at a time from numpy costs more than the rest of the event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import numpy as np

#: Smallest mean or spread accepted: below it a draw divides by zero or underflows.
MIN_SCALE = 1e-9

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, le=1e12)]
Real = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]

_NEEDS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "exponential": ("mean",),
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("mean", "sd"),
    "gamma": ("mean", "sd"),
    "triangular": ("low", "mode", "high"),
    "poisson": ("mean",),
}


class Distribution(BaseModel):
    """One declared distribution. Normal draws are floored at ``low`` when given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist: Literal["constant", "exponential", "uniform", "normal", "lognormal", "gamma",
                  "triangular", "poisson"]
    value: Real | None = None
    mean: Real | None = None
    sd: Annotated[float, Field(ge=0, allow_inf_nan=False, le=1e12)] | None = None
    low: Real | None = None
    high: Real | None = None
    mode: Real | None = None

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        needed = _NEEDS[self.dist]
        missing = [p for p in needed if getattr(self, p) is None]
        if missing:
            raise ValueError(f"a {self.dist} distribution needs {', '.join(missing)}")
        extra = [
            p for p in ("value", "mean", "sd", "low", "high", "mode")
            if getattr(self, p) is not None and p not in needed and not (
                p == "low" and self.dist == "normal")
        ]
        if extra:
            raise ValueError(f"a {self.dist} distribution takes no {', '.join(extra)}")
        if self.dist in ("exponential", "lognormal", "gamma") and self.mean < MIN_SCALE:
            raise ValueError(f"a {self.dist} distribution needs a mean of at least {MIN_SCALE:g}")
        if self.sd is not None and 0 < self.sd < MIN_SCALE:
            raise ValueError(f"sd must be 0 or at least {MIN_SCALE:g}")
        if self.dist == "poisson" and self.mean < 0:
            raise ValueError("a poisson distribution needs a mean of at least 0")
        if self.dist in ("uniform", "triangular") and not self.low <= self.high:
            raise ValueError("low must not exceed high")
        if self.dist == "triangular" and not self.low <= self.mode <= self.high:
            raise ValueError("mode must lie between low and high")
        return self

    @property
    def nonnegative(self) -> bool:
        """Whether every draw is >= 0 (a normal only when floored at ``low >= 0``)."""
        d = self.dist
        if d == "constant":
            return self.value >= 0
        if d in ("uniform", "triangular"):
            return self.low >= 0
        if d == "normal":
            return self.low is not None and self.low >= 0
        return True

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values."""
        import numpy as np  # here, not at the top: checking a scenario needs no NumPy

        d = self.dist
        if d == "constant":
            return np.full(size, float(self.value))
        if d == "exponential":
            return rng.exponential(self.mean, size)
        if d == "uniform":
            return rng.uniform(self.low, self.high, size)
        if d == "normal":
            x = rng.normal(self.mean, self.sd, size)
            return np.maximum(x, self.low) if self.low is not None else x
        if d == "lognormal":
            # Parameterised by the mean and sd of the variable itself, as people state them.
            var = self.sd**2
            sigma2 = math.log1p(var / self.mean**2)
            mu = math.log(self.mean) - sigma2 / 2
            return rng.lognormal(mu, math.sqrt(sigma2), size)
        if d == "gamma":
            if self.sd == 0:
                return np.full(size, float(self.mean))
            shape = (self.mean / self.sd) ** 2
            return rng.gamma(shape, self.mean / shape, size)
        if d == "triangular":
            if self.low == self.high:
                return np.full(size, float(self.low))
            return rng.triangular(self.low, self.mode, self.high, size)
        return rng.poisson(self.mean, size).astype(float)

    @property
    def expected(self) -> float:
        """The mean of the distribution (before any floor)."""
        if self.dist == "constant":
            return float(self.value)
        if self.dist in ("uniform",):
            return (self.low + self.high) / 2
        if self.dist == "triangular":
            return (self.low + self.mode + self.high) / 3
        return float(self.mean)


def _nonnegative(d: Distribution) -> Distribution:
    if not d.nonnegative:
        if d.dist == "normal":
            raise ValueError("a time cannot be negative: a normal distribution of days needs "
                             "low >= 0 (draws below it are raised to it)")
        raise ValueError(f"a time cannot be negative, and this {d.dist} distribution can "
                         "draw values below 0")
    return d


#: A distribution of durations or delays (days): every draw is >= 0, checked when declared.
Duration = Annotated[Distribution, AfterValidator(_nonnegative)]


def constant(value: float) -> Distribution:
    return Distribution(dist="constant", value=value)


class Sampler:
    """Draws from one distribution in blocks, handing out one value per call.

    A block is drawn from the generator at once (which numbers a sampler gets depends only
    on when its blocks are drawn: the first at the first call, the next when the block is
    used up), but turned into Python floats a slice at a time. ``draw`` hands out the next
    value from C (an iterator's ``__next__``), without a Python call per value: the
    simulation calls it at every counter visit.
    """

    __slots__ = ("_dist", "_rng", "_block", "draw")

    #: Values turned into Python floats at a time.
    SLICE = 256

    def __init__(self, dist: Distribution, rng: np.random.Generator, block: int = 4096):
        if block < 1:
            raise ValueError(f"a sampler draws blocks of at least one value, not {block}")
        self._dist = dist
        self._rng = rng
        self._block = block
        self.draw: Callable[[], float]
        if dist.dist == "constant":
            self.draw = repeat(float(dist.value)).__next__
        else:
            self.draw = chain.from_iterable(self._slices()).__next__

    def __call__(self) -> float:
        return self.draw()

    def _slices(self) -> Iterator[list[float]]:
        """Each block, drawn when the one before is used up, as lists of SLICE floats."""
        while True:
            array = self._dist.sample(self._rng, self._block)
            for start in range(0, self._block, self.SLICE):
                yield array[start:start + self.SLICE].tolist()


class Samplers(dict):
    """One sampler per distribution, all drawing from one generator: the offices that
    declare the same service time take their draws in turn from one sampler.

    The draws are independent and alike whichever office takes them, so sharing changes
    which draw goes to which visit, not how service times are distributed. With a sampler
    per office, a city of 320 offices drew 1.3 million values for 60,000 visits and each
    visit read its office's own block, rarely still in the processor's cache.
    """

    def __init__(self, rng: np.random.Generator):
        super().__init__()
        self.rng = rng

    def __missing__(self, dist: Distribution) -> Sampler:
        sampler = self[dist] = Sampler(dist, self.rng)
        return sampler
