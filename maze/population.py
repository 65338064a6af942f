"""Households: the attributes the texts tie to outcomes, and how a population is drawn.

Every household attribute has a declared kind and a default, so a scenario only names
what differs for a group, and a typo in an attribute name is an error rather than a
silently ignored key. Attributes are drawn per group in vectorised blocks and kept as
columns; a household in the simulation reads its own row.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Union

from pydantic import StrictBool

from maze.distributions import Distribution

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from maze.scenario import Group, Scenario


@dataclass(frozen=True)
class AttributeSpec:
    kind: str  # "bool", "category" or "number"
    default: object
    doc: str
    categories: tuple[str, ...] = ()
    #: Kept only in runs over years (``[lives]``) or when a group declares it, so that a
    #: one-season population table keeps its columns.
    optional: bool = False
    #: The values a number attribute may take (None: no bound that side).
    low: float | None = None
    high: float | None = None
    #: Why ``high`` is where it is, when it is a limit of the model rather than of the
    #: quantity itself.
    limit: str = ""

    def range_text(self) -> str:
        """The declared range in words ("" if none): ``from 0 to 1``, ``at least 0``."""
        if self.low is not None and self.high is not None:
            text = f"from {self.low:g} to {self.high:g}"
        elif self.low is not None:
            text = f"at least {self.low:g}"
        elif self.high is not None:
            text = f"at most {self.high:g}"
        else:
            return ""
        return text + (f" ({self.limit})" if self.limit else "")


def _amount(default: float, doc: str) -> AttributeSpec:
    """A number attribute that is never negative (years, days, visits, a wage)."""
    return AttributeSpec("number", default, doc, low=0.0)


def _share(default: float, doc: str) -> AttributeSpec:
    """A number attribute from 0 to 1 (a probability, a standing in class)."""
    return AttributeSpec("number", default, doc, low=0.0, high=1.0)


def _per_year(default: float, doc: str) -> AttributeSpec:
    """Events a year, at most one a day: a run over years draws each as an event."""
    return AttributeSpec("number", default, doc, low=0.0, high=365.0,
                         limit="a sanity limit: one a day; a run over years draws each as an "
                         "event and keeps it in memory")


EDUCATION = ("none", "primary", "middle", "high_school", "university", "master", "doctorate")

ATTRIBUTES: dict[str, AttributeSpec] = {
    "origin": AttributeSpec("category", "other", "hometown in the same or another province",
                            ("same", "other")),
    "education": AttributeSpec("category", "middle", "highest degree", EDUCATION),
    "occupation": AttributeSpec(
        "category", "factory", "kind of work",
        ("factory", "construction", "informal", "professional", "other")),
    "school_stage": AttributeSpec("category", "primary", "stage of the eldest child",
                                  ("none", "preschool", "primary", "middle", "high")),
    "contract": AttributeSpec("bool", False, "holds a signed labour contract"),
    "lease_own": AttributeSpec("bool", False, "the lease is in the household's own name"),
    "residence_permit": AttributeSpec("bool", False, "holds a temporary residence permit"),
    "criminal_record": AttributeSpec("bool", False, "has a criminal record"),
    "rural_insurance": AttributeSpec("bool", True, "insured by the hometown's rural scheme"),
    "investor": AttributeSpec("bool", False, "owns a firm that qualifies for the investment route"),
    "years_work": _amount(0.0, "consecutive years of work in the city"),
    "years_insurance": _amount(0.0, "consecutive years of local social insurance"),
    "years_residence": _amount(0.0, "consecutive years of residence in the city"),
    "years_schooling": _amount(0.0, "child's consecutive years of school here"),
    "age": _amount(35.0, "age of the applying parent"),
    "savings": AttributeSpec("number", 10_000.0, "savings available for fees and lost wages (RMB)"),
    "daily_wage": _amount(109.0, "wage lost per day off work (RMB)"),
    "children": AttributeSpec("number", 1.0, "children of the household (a mean between two "
                              "whole numbers: a share of households has one more; runs over "
                              "years follow each)", low=0.0, high=30.0,
                              limit="a limit of the model: siblings are at least a year apart "
                              "and the school stages end by age 30"),
    "grades": _share(0.5, "child's standing in class, 0 (bottom) to 1 (top)"),
    "blood_donations": _amount(0.0, "blood donations counted for points"),
    "urgency": _share(0.5, "how urgent a health need is, 0 to 1"),
    "patience_days": _amount(120.0, "days a household keeps trying, in a line too"),
    "patience_visits": _amount(15.0, "visits a household makes before giving up"),
    "home_ties": _share(0.5, "probability of going home when the city fails"),
    "willingness": _share(1.0, "probability of trying at all"),
    "job_changes": _per_year(0.0, "job changes a year (each breaks a streak)"),
    "moves": _per_year(0.0, "moves of home a year (each restarts residence)"),
    "land_at_home": AttributeSpec("bool", False, "holds land (collective land rights) in the "
                                  "hometown", optional=True),
    "carer_at_home": AttributeSpec("bool", True, "someone in the hometown (grandparents) could "
                                   "look after a child left there", optional=True),
}

#: How a scenario declares one attribute for a group: a constant, a probability for a
#: yes/no attribute, category weights, or a distribution.
Attribute = Union[StrictBool, float, str, dict[str, float], Distribution]  # noqa: UP007


#: Category weights summing to less than this are refused (they would be read as zeros).
MIN_WEIGHT_SUM = 1e-9


def too_big(value: object) -> str | None:
    """``"a whole number of 401 digits"`` for an integer beyond any float (about 1.8e308),
    which a number key cannot hold; None for anything else."""
    if type(value) is not int or abs(value) <= sys.float_info.max:
        return None
    digits = int(abs(value).bit_length() * math.log10(2)) + 1  # str() refuses 4,300 digits
    return f"a whole number of about {digits} digits" if digits > 4000 else (
        f"a whole number of {len(str(abs(value)))} digits")


def too_big_message(value: object, bounds: Sequence[str] = ()) -> str | None:
    """What to say of a number key given an integer beyond any float (pydantic says "a valid
    number", or "a valid boolean" for a union): the bounds the key declares, if any."""
    huge = too_big(value)
    if huge is None:
        return None
    return f"{huge} is beyond the numbers maze reads; " + (
        f"the value must be {' and '.join(bounds)}" if bounds else
        f"a number here is at most {sys.float_info.max:.3g} in size")


def check_attribute(name: str, value: Attribute) -> str | None:
    """Return why ``value`` cannot describe attribute ``name``, or None if it can."""
    spec = ATTRIBUTES[name]
    huge = too_big(value)
    if spec.kind == "bool":
        if isinstance(value, bool):
            return None
        if isinstance(value, float | int) and 0 <= value <= 1:
            return None
        return ("a yes/no attribute takes true, false or a probability between 0 and 1"
                + (f", not {huge}" if huge else ""))
    if spec.kind == "category":
        if isinstance(value, str):
            return None if value in spec.categories else (
                f"{value!r} is not one of {', '.join(spec.categories)}")
        if isinstance(value, dict):
            bad = [k for k in value if k not in spec.categories]
            if bad:
                return f"{bad[0]!r} is not one of {', '.join(spec.categories)}"
            if any(isinstance(w, bool) or not isinstance(w, int | float)
                   for w in value.values()):
                return "category weights must be numbers"
            if any(not (0 <= w < math.inf) for w in value.values()):
                return "category weights must be finite and non-negative"
            if not MIN_WEIGHT_SUM <= sum(value.values()) < math.inf:
                return (f"category weights must sum to at least {MIN_WEIGHT_SUM:g} and to a "
                        "finite number")
            return None
        return f"a category attribute takes one of {', '.join(spec.categories)} or weights"
    if huge:
        return (f"a number attribute takes a number from -{sys.float_info.max:.3g} to "
                f"{sys.float_info.max:.3g} or a distribution, not {huge}")
    if isinstance(value, bool) or not isinstance(value, int | float | Distribution):
        return "a number attribute takes a number or a distribution"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return _out_of_range(spec, value)


def _out_of_range(spec: AttributeSpec, value: float | Distribution) -> str | None:
    """Why a number attribute's value, or a number its distribution declares (``value``,
    ``low``, ``mode``, ``high``, ``mean``), lies outside the attribute's range; or None."""
    if spec.low is None and spec.high is None:
        return None
    if isinstance(value, Distribution):
        named = [(p, getattr(value, p)) for p in ("value", "low", "mode", "high", "mean")
                 if getattr(value, p) is not None]
    else:
        named = [("", value)]
    for param, x in named:
        if (spec.low is not None and x < spec.low) or (spec.high is not None
                                                        and x > spec.high):
            what = f"its {param} {x:g}" if param else f"{x:g}"
            return f"{what} is outside the attribute's range: {spec.range_text()}"
    return None


class Texts(NamedTuple):
    """A column of texts as codes into its labels: drawn, joined and shuffled as integers,
    and made into strings once, by ``_strings``."""

    codes: np.ndarray
    labels: list[str]


class DrawnTexts(NamedTuple):
    """The text columns of one drawn households table, as the codes they were drawn as.

    They describe that table only (``households``, the very object): a copy, a reordering
    or another draw of the same length is another table, whose texts must be read from
    it (``measures.attach_groups`` checks the object).
    """

    households: pd.DataFrame
    columns: dict[str, Texts]


def _same_text(value: str, n: int) -> Texts:
    import numpy as np

    return Texts(np.zeros(n, dtype=np.intp), [value])


def _draw(name: str, value: Attribute, rng: np.random.Generator, n: int) -> np.ndarray | Texts:
    import numpy as np

    spec = ATTRIBUTES[name]
    if spec.kind == "bool":
        if isinstance(value, bool):
            return np.full(n, value)
        return rng.random(n) < float(value)
    if spec.kind == "category":
        if isinstance(value, str):
            return _same_text(value, n)
        cats = list(value)
        w = np.array([value[c] for c in cats], dtype=float)
        return Texts(rng.choice(len(cats), size=n, p=w / w.sum()), cats)
    if isinstance(value, Distribution):
        return value.sample(rng, n)
    return np.full(n, float(value))


def kept_attributes(scenario: Scenario) -> list[str]:
    """The attributes a run's population table holds: all but the optional ones nobody uses."""
    declared = {a for g in scenario.population.groups for a in g.attributes}
    return [name for name, spec in ATTRIBUTES.items()
            if not spec.optional or scenario.lives is not None or name in declared]


def group_columns(group: Group, rng: np.random.Generator, n: int,
                  names: list[str] | None = None) -> dict[str, np.ndarray | Texts]:
    """Draw every attribute (or those in ``names``) for ``n`` households of one group."""
    cols: dict[str, np.ndarray | Texts] = {}
    for name, spec in ATTRIBUTES.items():
        if names is not None and name not in names:
            continue
        value = group.attributes.get(name, spec.default)
        cols[name] = _draw(name, value, rng, n)
    return cols


def draw_population(scenario: Scenario, rng: np.random.Generator,
                    texts: dict[str, Texts] | None = None) -> pd.DataFrame:
    """One row per household: id, group, hukou, arrival day and every attribute.

    Group sizes are the shares times the population, rounded so they add up
    (largest remainders), so a group's size does not wander with the seed. ``texts``,
    if given, receives each text column as the codes it was drawn as (for tables that
    want those columns as categories, without hashing every row's text again).
    """
    import numpy as np  # here, not at the top: checking a scenario needs no NumPy

    pop = scenario.population
    arrivals = _arrival_days(scenario, rng)
    n = len(arrivals)
    shares = np.array([g.share for g in pop.groups])
    exact = shares * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    parts: dict[str, list[np.ndarray | Texts]] = {"group": [], "hukou": []}
    names = kept_attributes(scenario)
    for group, k in zip(pop.groups, counts, strict=True):
        parts["group"].append(_same_text(group.name, k))
        parts["hukou"].append(_same_text(group.hukou, k))
        for name, values in group_columns(group, rng, int(k), names).items():
            parts.setdefault(name, []).append(values)
    # Groups are interleaved in time: shuffle who arrives when. Each column is put
    # together and shuffled on its own and the table is built once: a table per group,
    # joined then shuffled, held several copies of the population at once.
    order = rng.permutation(n)
    columns: dict[str, object] = {"household_id": np.arange(n, dtype=np.int64),
                                  "arrival": arrivals}
    for name in parts:
        column = columns[name] = _joined(parts[name], order)
        if isinstance(column, Texts):
            if texts is not None:  # kept through the run: in the smallest type that holds them
                small = np.int8 if len(column.labels) <= 127 else np.int32
                texts[name] = Texts(column.codes.astype(small), column.labels)
            columns[name] = _strings(column.labels, column.codes)
        parts[name] = []
    import pandas as pd  # here, not at the top: checking a scenario needs no pandas

    return pd.DataFrame(columns)


def _joined(parts: list[np.ndarray | Texts], order: np.ndarray) -> np.ndarray | Texts:
    """The groups' parts of one column joined, in the order ``order`` gives."""
    import numpy as np

    if not isinstance(parts[0], Texts):
        return np.concatenate(parts)[order]
    code: dict[str, int] = {}
    codes = [np.array([code.setdefault(t, len(code)) for t in p.labels], dtype=np.intp)[p.codes]
             for p in parts]
    return Texts(np.concatenate(codes)[order], list(code))


def _strings(labels: list[str], codes: np.ndarray) -> object:
    """``labels[codes]`` as the column pandas makes of texts, its default string type: made
    from the codes in Arrow (a take), several times faster than from Python strings."""
    import numpy as np
    import pandas as pd

    texts = np.array(labels, dtype=object)
    dtype = pd.Series(texts[:1]).dtype
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return texts[codes]
    import pyarrow as pa

    return pd.array(pa.array(labels, type=pa.large_string()).take(pa.array(codes)),
                    dtype=dtype)


def _arrival_days(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    pop = scenario.population
    a = pop.arrivals
    horizon = scenario.city.horizon
    if a.yearly:
        return _month_day_arrival_days(scenario, rng)
    end = min(a.end if a.end is not None else horizon, horizon)
    if a.process == "poisson":
        # A Poisson process over [start, end): exponential gaps, stopped at the window end
        # (or at the declared number of households, whichever comes first).
        expected = int((end - a.start) * a.rate * 1.2 + 50)
        gaps = rng.exponential(1.0 / a.rate, expected)
        times = a.start + np.cumsum(gaps)
        while times[-1] < end:
            more = times[-1] + np.cumsum(rng.exponential(1.0 / a.rate, expected))
            times = np.concatenate([times, more])
        times = times[times < end]
        if pop.households is not None:
            times = times[: pop.households]
        return times
    if scenario.lives is not None:
        return _yearly_arrival_days(scenario, rng)
    if end <= a.start:
        return np.full(pop.households, a.start)
    return np.sort(rng.uniform(a.start, end, pop.households))


#: Days in a year of a run over years (``[lives]``).
YEAR_DAYS = 365.0


def _yearly_arrival_days(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """In-migration each year: the arrival window repeats every year, the first year
    bringing ``population.households`` and each later one ``lives.in_migration``."""
    import numpy as np

    pop, lives, horizon = scenario.population, scenario.lives, scenario.city.horizon
    a = pop.arrivals
    later = pop.households if lives.in_migration is None else lives.in_migration
    days = []
    year = 0
    while year * YEAR_DAYS + a.start < horizon:
        offset = year * YEAR_DAYS
        start = offset + a.start
        end = min(offset + (a.end if a.end is not None else YEAR_DAYS), horizon,
                  offset + YEAR_DAYS)
        n = pop.households if year == 0 else later
        days.append(np.full(n, start) if end <= start else np.sort(rng.uniform(start, end, n)))
        year += 1
    return np.concatenate(days) if days else np.zeros(0)


def _month_day_arrival_days(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Arrivals in a month-day window that comes back every year (``start = "06-01"``).

    Without ``[lives]`` the households are spread uniformly over that window of every
    year of the run; with it, as in ``_yearly_arrival_days``, the first window brings
    ``population.households`` and each later one ``lives.in_migration``.
    """
    import numpy as np

    from maze.calendar import yearly_windows  # the calendar module imports the scenario

    pop = scenario.population
    a = pop.arrivals
    windows = yearly_windows(a.start, a.end, scenario.city.start_date, scenario.city.horizon)
    if scenario.lives is not None:
        later = pop.households if scenario.lives.in_migration is None \
            else scenario.lives.in_migration
        return np.concatenate([np.sort(rng.uniform(start, end, pop.households if i == 0
                                                   else later))
                               for i, (start, end) in enumerate(windows)])
    lengths = np.array([end - start for start, end in windows])
    reach = np.concatenate(([0.0], np.cumsum(lengths)))
    u = np.sort(rng.uniform(0.0, reach[-1], pop.households))
    which = np.minimum(np.searchsorted(reach, u, side="right") - 1, len(windows) - 1)
    starts = np.array([start for start, _ in windows])
    return starts[which] + (u - reach[which])


def group_of(scenario: Scenario, name: str) -> Group:
    for g in scenario.population.groups:
        if g.name == name:
            return g
    raise KeyError(name)
