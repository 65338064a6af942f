"""Global sensitivity analysis over declared ranges: Morris screening, then Sobol indices.

The design works on the unit cube, one axis per assumption, and each unit coordinate is
mapped through its assumption's declared distribution (:meth:`Assumption.at`): an
elementary effect is then "the change in the measure when this assumption moves across a
fixed fraction of its plausible range", comparable across assumptions of any unit. An
extra parameter, ``(seed noise)``, rides along in every Morris design: it changes only
which seeds a point runs with (:func:`streams`), so its mu* is what seed noise alone
makes of an elementary effect, and an assumption whose interval does not clear it is not
shown to matter.

What one run computes is any function of a :class:`~maze.batch.points.PointTask`, so the
same code screens the simulator and a planted test function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maze.uncertainty import Assumption

#: The inert parameter of every Morris design; its mu* measures seed noise.
NOISE = "(seed noise)"


@dataclass(frozen=True)
class Design:
    """A sample of the unit cube and the assumptions its columns stand for."""

    method: str
    names: tuple[str, ...]
    unit: np.ndarray
    levels: int = 4

    @property
    def problem(self) -> dict:
        return {"num_vars": len(self.names), "names": list(self.names),
                "bounds": [[0.0, 1.0]] * len(self.names)}


def morris_design(assumptions: Sequence[Assumption], trajectories: int, levels: int = 4,
                  seed: int = 0, noise: bool = True) -> Design:
    """``trajectories`` Morris trajectories (k + 1 points each) over the unit cube."""
    from SALib.sample import morris

    names = tuple(a.key for a in assumptions) + ((NOISE,) if noise else ())
    d = Design("morris", names, np.empty((0, len(names))), levels)
    unit = morris.sample(d.problem, trajectories, num_levels=levels, seed=seed)
    return Design("morris", names, unit, levels)


def sobol_design(assumptions: Sequence[Assumption], n: int, seed: int = 0) -> Design:
    """Saltelli's scheme for first-order and total indices: ``n * (k + 2)`` points."""
    from SALib.sample import sobol

    names = tuple(a.key for a in assumptions)
    d = Design("sobol", names, np.empty((0, len(names))))
    unit = sobol.sample(d.problem, n, calc_second_order=False, scramble=True, seed=seed)
    return Design("sobol", names, unit)


def points(design: Design, assumptions: Sequence[Assumption]) -> list[dict]:
    """The design's rows as values of the assumptions (the noise column is dropped)."""
    by_key = {a.key: a for a in assumptions}
    return [{k: by_key[k].at(u) for k, u in zip(design.names, row, strict=True) if k in by_key}
            for row in design.unit]


def streams(design: Design) -> list[int] | None:
    """The seed stream of each design point: the level of the noise column (None without it).

    Moving the noise coordinate changes only the seeds, so its elementary effects are
    seed noise measured on the same scale as the assumptions' effects.
    """
    if NOISE not in design.names:
        return None
    col = design.unit[:, design.names.index(NOISE)]
    return [int(round(u * (design.levels - 1))) for u in col]


def analyse_morris(design: Design, y: np.ndarray, measure: str, level: float = 0.95,
                   resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """mu, mu*, its bootstrap interval and sigma of each parameter, ranked by mu*."""
    from SALib.analyze import morris

    y = np.asarray(y, dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"{measure}: {int(np.isnan(y).sum())} of {len(y)} runs have no value; "
                         "Morris needs a value at every point")
    res = morris.analyze(design.problem, design.unit, y, num_resamples=resamples,
                         conf_level=level, num_levels=design.levels, seed=seed)
    df = pd.DataFrame({"measure": measure, "key": list(design.names),
                       "mu": np.asarray(res["mu"], float),
                       "mu_star": np.asarray(res["mu_star"], float),
                       "mu_star_conf": np.asarray(res["mu_star_conf"], float),
                       "sigma": np.asarray(res["sigma"], float)})
    noise = df.loc[df["key"] == NOISE, "mu_star"]
    floor = float(noise.iloc[0]) if len(noise) else 0.0
    df["above_noise"] = (df["mu_star"] - df["mu_star_conf"] > floor) & (df["key"] != NOISE)
    df = df.sort_values(["mu_star", "key"], ascending=[False, True], kind="stable")
    df["rank"] = np.arange(1, len(df) + 1)
    return df.reset_index(drop=True)


def analyse_sobol(design: Design, y: np.ndarray, measure: str, level: float = 0.95,
                  resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """First-order (S1) and total (ST) indices with bootstrap half-widths, ranked by ST."""
    from SALib.analyze import sobol

    y = np.asarray(y, dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"{measure}: {int(np.isnan(y).sum())} of {len(y)} runs have no value")
    res = sobol.analyze(design.problem, y, calc_second_order=False, num_resamples=resamples,
                        conf_level=level, seed=seed)
    df = pd.DataFrame({"measure": measure, "key": list(design.names),
                       "S1": res["S1"], "S1_conf": res["S1_conf"],
                       "ST": res["ST"], "ST_conf": res["ST_conf"]})
    df = df.sort_values(["ST", "key"], ascending=[False, True], kind="stable")
    df["rank"] = np.arange(1, len(df) + 1)
    return df.reset_index(drop=True)


#: Saltelli base samples below this give Sobol indices whose bootstrap intervals are
#: about as wide as the indices themselves: studies of estimator convergence use N of
#: several hundred to thousands (Saltelli et al. 2010, "Variance based sensitivity analysis
#: of model output", Computer Physics Communications 181(2): 259-270).
SOBOL_MIN_N = 256

#: A 95% half-width on ST wider than this says the index is not yet estimated.
SOBOL_WIDE = 0.1


#: Morris screenings use 10 to 20 trajectories; with fewer, the ranks below the first few
#: change from one design to the next (Saltelli et al. 2008, *Global Sensitivity Analysis:
#: The Primer*, Wiley, ch. 3; Campolongo, Cariboni & Saltelli 2007, "An effective
#: screening design for sensitivity analysis of large models", Environmental Modelling &
#: Software 22(10): 1509-1518).
MORRIS_MIN_TRAJECTORIES = 10


def morris_caveats(trajectories: int) -> list[str]:
    """A plain warning when a Morris screening is too small to rank beyond its leaders."""
    if trajectories >= MORRIS_MIN_TRAJECTORIES:
        return []
    return [f"{trajectories} Morris trajectories rank only the strongest assumptions: below "
            f"{MORRIS_MIN_TRAJECTORIES} the order after the first few changes with the design "
            f"(use {MORRIS_MIN_TRAJECTORIES} to 20 for ranks to report)"]


def sobol_caveats(sobol: pd.DataFrame, n: int) -> list[str]:
    """Plain warnings when Sobol indices are too uncertain to read: a base sample below
    :data:`SOBOL_MIN_N`, or total-index intervals wider than :data:`SOBOL_WIDE`.

    The rule on N stands on its own: at small N the bootstrap intervals can be narrow
    around wrong values (an additive test function at N = 8 gives ST = 0.04 +- 0.05 for
    an index of 0.84)."""
    notes = []
    if n < SOBOL_MIN_N:
        notes.append(f"Sobol base sample N = {n} is too small for the indices to mean "
                     f"anything (use N of {SOBOL_MIN_N} or more, a power of 2): read them "
                     "as a smoke test, not as results")
    if len(sobol):
        widest = sobol.loc[sobol["ST_conf"].idxmax()]
        if not np.isfinite(widest["ST_conf"]) or widest["ST_conf"] > SOBOL_WIDE:
            notes.append(f"the 95% interval of ST reaches ±{widest['ST_conf']:.2g} "
                         f"({widest['measure']}, {widest['key']}): the indices are not "
                         "estimated to better than that")
    return notes


def outputs(table: pd.DataFrame, measure: str, n: int) -> np.ndarray:
    """One value per design point: the mean over its replications, in design order."""
    means = table.groupby("point", sort=True)[measure].mean()
    return means.reindex(range(n)).to_numpy(dtype=float)
