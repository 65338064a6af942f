"""Calibration: ABC-SMC (pyabc) of ranged scenario parameters to published targets.

Only the targets marked ``calibrate`` enter the fit; the ``validate`` targets are never
seen while fitting and are reported apart, as the out-of-sample test. Each simulation runs
the scenario with the particle's values and a fresh seed, so the posterior carries seed
noise as well as parameter uncertainty.

Two methods. ``measurement-error`` (the default) reads each figure as the model's measure
plus a normal error with the figure's stated sd, and accepts a simulation with probability
``(likelihood / maximum) ** (1 / T)`` while the temperature ``T`` falls generation by
generation; at ``T = 1`` the particles are a sample of the exact posterior under that
error model (Wilkinson 2013; see :mod:`maze.app.measurement_error`). That is the declared
end point: the calibration has *converged* when its last generation ran at ``T = 1`` with
an effective sample size of at least ``LOW_ESS``. ``distance`` accepts a simulation whose
Euclidean distance in units of each figure's sd (``sqrt(sum(((model - figure) / sd)^2))``)
is below a falling epsilon; it declares no end point, so its runs are never called
converged.

The history lives in pyabc's SQLite database, so a stopped calibration continues from
its last generation. The results are written atomically into one folder:
``posterior.parquet``, ``fit.parquet`` (and ``fit.csv``), ``diagnostics.parquet``,
``calibrated.toml`` (the scenario with posterior medians, and where each came from),
``calibration.json`` and ``calibration.html``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maze import metric, outputs, storage
from maze import scenario as sc
from maze.scenario import Scenario
from maze.targets import Parameter, Target, TargetsFile

#: Distance given to a simulation whose measure is undefined (no rows matched).
UNDEFINED = 1e6

#: The ways of fitting: ABC under measurement error (with an end point) or a distance.
METHODS = ("measurement-error", "distance")

#: The declared end point of each method, as the summary and the page state it.
END_POINT = {
    "measurement-error": "the last generation ran at temperature 1 (the exact posterior "
                         "under each figure's stated normal error; Wilkinson 2013) with an "
                         "effective sample size of at least {ess}",
    "distance": "none declared: a falling epsilon has no point at which the posterior is "
                "reached, so the run is not called converged",
}


#: The signal that asked this process's calibration to stop, once one has.
_STOPPED: list[int] = []


def stop_requested(signum: int) -> None:
    """Remember that signal ``signum`` asked the calibration to stop: every simulation
    started from now on raises SystemExit. The signal's handler raises it at once too, but
    an exception raised while Python runs a finalizer (a weakref callback, ``__del__``,
    often during a collection) is printed and dropped, and the fit would go on."""
    _STOPPED.append(signum)


@dataclass
class Simulator:
    """One simulation for pyabc: the scenario with a particle's values, measured.

    A plain object (not a closure) so that Dask can ship it to other machines.
    """

    scenario: Scenario
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]
    source: str
    #: Run a copy of the city with every count times this (``maze.scale``): the particle's
    #: values are in the full city's units, and scaled with the rest.
    scale: float = 1.0

    def values(self, particle: Mapping[str, float]) -> dict[str, Any]:
        return {p.key: (int(round(particle[f"p{i}"])) if p.integer else float(particle[f"p{i}"]))
                for i, p in enumerate(self.parameters)}

    def __call__(self, particle: Mapping[str, float], seed: int | None = None) -> dict[str, float]:
        from maze.app import api

        if _STOPPED:  # a stop asked for, and its exception lost (see stop_requested)
            raise SystemExit(128 + _STOPPED[0])

        if seed is None:  # pyabc seeds each worker's NumPy generator; draw the run's seed there
            seed = int(np.random.randint(0, 2**31 - 1))
        scenario = sc.override(self.scenario, self.values(particle), source=self.source)
        if self.scale != 1:
            scenario = api.scaled(scenario, self.scale, check=False)
        run = api.run(scenario, seed)
        got = metric.evaluate_all([t.measure for t in self.targets], run)
        return {t.name: float(v) for t, v in zip(self.targets, got, strict=True)}

    def draw(self, task: tuple[Mapping[str, float], int]) -> dict[str, float]:
        """One posterior predictive run: ``(particle, seed)`` (a task for the executors)."""
        particle, seed = task
        return self(particle, seed=seed)


#: Fewest particles a generation may have, whatever the parameters (the 5% and 95%
#: quantiles of fewer are the extreme particles themselves).
MIN_POPULATION = 5

#: Below this effective sample size the summary warns that intervals rest on few particles.
LOW_ESS = 50


def minimum_population(parameters: Sequence[Parameter]) -> int:
    """The smallest population ABC-SMC can work with: more particles than parameters, so
    that the weighted covariance scaling the transition kernel has full rank."""
    return max(MIN_POPULATION, len(parameters) + 1)


def distance_for(targets: Sequence[Target]) -> Callable[[Mapping, Mapping], float]:
    """The ABC distance over ``targets``: Euclidean in units of each figure's sd."""
    scale = {t.name: t.sd for t in targets}

    def distance(x: Mapping[str, float], x0: Mapping[str, float]) -> float:
        total = 0.0
        for name, sd in scale.items():
            d = (x[name] - x0[name]) / sd
            if not math.isfinite(d):
                return UNDEFINED
            total += d * d
        return math.sqrt(total)
    return distance


def _sampler(client: Any, workers: int | None) -> Any:
    """pyabc's sampler; the local ones stop a generation at its evaluation cap (the
    acceptance floor, the budget). pyabc's Dask sampler has no such cap: on a cluster the
    floor and the budget are checked between generations only."""
    import pyabc

    if client is not None:
        return pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
    if workers == 1:
        return pyabc.sampler.SingleCoreSampler(check_max_eval=True)
    return pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers, check_max_eval=True)


#: The default floor on a generation's acceptance rate (see ``Settings.min_acceptance``).
MIN_ACCEPTANCE = 0.01


@dataclass
class Settings:
    """How long and how wide to search."""

    population: int = 50
    generations: int = 5
    min_epsilon: float | None = None
    method: str = "measurement-error"
    #: Under measurement error: normalise acceptance by the likelihood's exact "maximum"
    #: or by the largest likelihood "found" so far (see ``measurement_error.acceptor``).
    normalise: str = "maximum"
    predictive: int = 40
    seed: int = 0
    workers: int | None = None
    scheduler: str | None = None
    max_simulations: int | None = None
    #: Fit a copy of the city with every count times this (see ``maze.scale``).
    scale: float = 1.0
    #: A generation whose share of simulations accepted falls below this is stopped and
    #: the calibration ends there (pyabc's ``min_acceptance_rate``): below 1% a generation
    #: costs over a hundred simulations a particle, the sign of figures out of the model's
    #: reach at that temperature or of too few particles.
    min_acceptance: float = MIN_ACCEPTANCE


class NoGeneration(Exception):
    """The first generation stopped before it had its particles (nothing to report)."""


def run_abc(tf: TargetsFile, scenario: Scenario, db: Path, settings: Settings,
            resume: bool = False) -> Any:
    """Run (or continue) ABC-SMC into the SQLite database ``db``; return its History."""
    import pyabc

    fit = tf.used("calibrate")
    sim = Simulator(scenario, tf.parameters, fit, tf.path, settings.scale)
    prior = pyabc.Distribution(**{f"p{i}": pyabc.RV("uniform", p.low, p.high - p.low)
                                  for i, p in enumerate(tf.parameters)})
    np.random.seed(settings.seed)
    client = None
    if settings.scheduler:
        from distributed import Client

        client = Client(settings.scheduler)
    try:
        sampler = _sampler(client, settings.workers)
        if settings.method == "measurement-error":
            from maze.app import measurement_error as me

            previous = _last_epsilon(db) if resume else None
            abc = pyabc.ABCSMC(sim, prior, me.kernel([t.name for t in fit],
                                                     [t.sd for t in fit]),
                               population_size=settings.population, sampler=sampler,
                               eps=me.Temperature(previous),
                               acceptor=me.acceptor(settings.normalise))
        else:
            abc = pyabc.ABCSMC(sim, prior, distance_for(fit),
                               population_size=settings.population, sampler=sampler)
        return _run(abc, fit, db, settings, resume)
    finally:
        if client is not None:
            client.close()


def _last_epsilon(db: Path) -> float | None:
    """The epsilon (or temperature) of the last generation stored in ``db``, if any."""
    import pyabc

    if not db.exists():
        return None
    pops = pyabc.History(f"sqlite:///{db.resolve()}").get_all_populations()
    pops = pops[pops["t"] >= 0]
    return float(pops["epsilon"].iloc[-1]) if len(pops) else None


def _run(abc: Any, fit: Sequence[Target], db: Path, settings: Settings, resume: bool) -> Any:
    url = f"sqlite:///{db.resolve()}"
    observed = {t.name: t.value for t in fit}
    if resume and db.exists():
        abc.load(url, 1)
        done = abc.history.max_t + 1
        left = settings.generations - done
    else:
        if db.exists():
            db.unlink()
        abc.new(url, observed)
        left = settings.generations
    # Under measurement error the run stops at its end point, temperature 1 (a resumed run
    # already there adds one more generation at 1, refining the same posterior).
    floor = 1.0 if settings.method == "measurement-error" else (settings.min_epsilon or 0.0)
    limits: dict[str, Any] = {"max_nr_populations": left, "minimum_epsilon": floor,
                              "min_acceptance_rate": settings.min_acceptance}
    if left > 0:
        if settings.max_simulations:
            # pyabc checks the total only between generations; a generation is capped by
            # the budget left now through its acceptance floor (population / budget).
            spent = int(abc.history.total_nr_simulations) if resume else 0
            budget = max(settings.max_simulations - spent, 1)
            limits["max_total_nr_simulations"] = settings.max_simulations
            limits["min_acceptance_rate"] = max(settings.min_acceptance,
                                                settings.population / budget)
        abc.run(**limits)
    if abc.history.max_t < 0:
        raise NoGeneration(
            "no generation finished: fewer than "
            f"{limits['min_acceptance_rate']:.2%} of the first generation's simulations "
            "were accepted (or the budget ran out first); try more households, "
            "--normalise found, a wider prior, or a larger --max-simulations")
    return abc.history


def posterior(history: Any, parameters: Sequence[Parameter]) -> pd.DataFrame:
    """The last generation's particles, named by their scenario keys, with weights."""
    df, w = history.get_distribution(m=0, t=history.max_t)
    out = pd.DataFrame({p.key: df[f"p{i}"].to_numpy(dtype=float)
                        for i, p in enumerate(parameters)})
    out["weight"] = np.asarray(w, dtype=float) / float(np.sum(w))
    out["generation"] = int(history.max_t)
    return out


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``x`` weighted by ``w`` (inverse of the weighted CDF)."""
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, x))


def diagnostics(history: Any, fit: Sequence[Target] | None = None,
                method: str = "distance") -> pd.DataFrame:
    """Per generation: epsilon (or, under measurement error, the temperature),
    simulations, acceptance rate, effective sample size, and the weighted median distance
    of the accepted particles in sds of the figures (from their log-likelihood under
    measurement error, which pyabc stores in place of a distance)."""
    from pyabc.weighted_statistics import effective_sample_size

    like = None
    if method == "measurement-error":
        from maze.app.measurement_error import LogLikelihood

        like = LogLikelihood(tuple(t.name for t in fit or ()),
                             tuple(t.sd for t in fit or ()))
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0].reset_index(drop=True)
    rows = []
    for _, row in pops.iterrows():
        t = int(row["t"])
        _, w = history.get_distribution(m=0, t=t)
        d = history.get_weighted_distances(t=t)
        dist = d["distance"].to_numpy(dtype=float)
        if like is not None:
            dist = np.array([like.distance(v) for v in dist])
        accepted = len(w)
        rows.append({"generation": t,
                     ("temperature" if like is not None else "epsilon"): float(row["epsilon"]),
                     "simulations": int(row["samples"]), "accepted": accepted,
                     "acceptance_rate": accepted / max(int(row["samples"]), 1),
                     "effective_sample_size": float(effective_sample_size(np.asarray(w))),
                     "median_distance": weighted_quantile(dist, d["w"].to_numpy(), 0.5)})
    return pd.DataFrame(rows)


def converged(diag: pd.DataFrame, method: str) -> bool:
    """Whether the run reached its method's declared end point (see ``END_POINT``)."""
    if method != "measurement-error" or diag.empty:
        return False
    from maze.app.measurement_error import reached_end

    last = diag.iloc[-1]
    return reached_end(float(last["temperature"])) and \
        float(last["effective_sample_size"]) >= LOW_ESS


def predictive(tf: TargetsFile, scenario: Scenario, post: pd.DataFrame, draws: int,
               seed: int, workers: int | None = 1, scheduler: str | None = None,
               scale: float = 1.0) -> pd.DataFrame:
    """Every target (calibrate and validate) at ``draws`` particles resampled by weight,
    run on the fit's executor (local processes, or the Dask cluster at ``scheduler``).
    Each draw's particle and seed are fixed before any runs, so the table does not depend
    on where or in which order they ran."""
    from maze.batch.execute import execute

    rng = np.random.default_rng(seed)
    sim = Simulator(scenario, tf.parameters, tf.targets, tf.path, scale)
    picks = rng.choice(len(post), size=draws, p=post["weight"].to_numpy())
    tasks = []
    for k, i in enumerate(picks):
        particle = {f"p{j}": float(post.iloc[i][p.key]) for j, p in enumerate(tf.parameters)}
        tasks.append((str(k), (particle, int(rng.integers(0, 2**31 - 1)))))
    got: dict[int, dict[str, float]] = {}
    executor = "dask" if scheduler else ("serial" if workers == 1 else "processes")
    failed, _ = execute(tasks, sim.draw, lambda key, row: got.__setitem__(int(key), row),
                        executor=executor, workers=workers, scheduler=scheduler,
                        preload=("maze.app.api",))
    if failed:
        key, message = failed[0]
        raise RuntimeError(f"{len(failed)} of {draws} posterior predictive runs failed "
                           f"(draw {key}: {message})")
    return pd.DataFrame([got[k] | {"draw": k} for k in range(draws)])


def fit_table(tf: TargetsFile, pred: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Observed figure against the posterior predictive interval, target by target.

    ``predictive_*`` are quantiles of the maze measure over the posterior predictive runs.
    ``figure_q05``/``figure_q95`` bound the 90% interval for the published figure: each
    run's measure plus the figure's own error (normal, its sd), so that ``covered``
    (the figure inside that interval) allows for both. ``z`` is (predictive median -
    figure) / figure's sd.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for t in tf.targets:
        x = pred[t.name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if len(x):
            q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
            noisy = (x[:, None] + rng.normal(0.0, t.sd, size=(len(x), 200))).ravel()
            f05, f95 = np.quantile(noisy, [0.05, 0.95])
        else:
            q05 = q50 = q95 = f05 = f95 = math.nan
        rows.append({"target": t.name, "use": t.use, "year": t.year, "observed": t.value,
                     "sd": t.sd, "predictive_q05": float(q05),
                     "predictive_median": float(q50), "predictive_q95": float(q95),
                     "figure_q05": float(f05), "figure_q95": float(f95),
                     "z": float((q50 - t.value) / t.sd),
                     "covered": bool(f05 <= t.value <= f95),
                     "measure": t.measure.label,
                     "filters": json.dumps({k: list(v) for k, v in t.measure.filters.items()}),
                     "citation": _cite(t.citation)})
    return pd.DataFrame(rows)


def _cite(c: Mapping[str, Any]) -> str:
    parts = [f"{c['author']} ({c['year']}). {c['title']}."]
    for k in ("journal", "publisher"):
        if c.get(k):
            parts.append(f"{c[k]}.")
    parts.append(f"{c['where']}.")
    return " ".join(parts)


def calibrated_values(tf: TargetsFile, post: pd.DataFrame) -> list[dict[str, Any]]:
    """Each parameter's posterior median and 90% interval, and the prior it came from."""
    w = post["weight"].to_numpy()
    out = []
    for p in tf.parameters:
        x = post[p.key].to_numpy()
        med, lo, hi = (weighted_quantile(x, w, q) for q in (0.5, 0.05, 0.95))
        value: float | int = int(round(med)) if p.integer else round(med, 4)
        out.append({"key": p.key, "value": value, "median": med, "q05": lo, "q95": hi,
                    "prior_low": p.low, "prior_high": p.high, "why": p.why})
    return out


def calibrated_scenario(scenario: Scenario, values: Sequence[Mapping[str, Any]],
                        tf: TargetsFile, when: date) -> tuple[Scenario, str]:
    """The scenario with posterior medians, its sources naming where each came from,
    and its TOML text (a comment header says the same).

    A calibrated value's declared uncertainty becomes its posterior 90% interval (what is
    now known of it), so the file runs and a later study draws from the posterior's range;
    where that interval is a point (too few distinct particles), the prior's range.
    """
    import tomli_w

    notes = [f"calibrated {when.isoformat()} by maze calibrate to {tf.path}: {v['key']} = "
             f"{v['value']} (posterior median; 90% interval {v['q05']:.4g} to {v['q95']:.4g}; "
             f"prior {v['prior_low']:g} to {v['prior_high']:g})" for v in values]
    changes: dict[str, Any] = {v["key"]: v["value"] for v in values}
    changes["city.sources"] = [*scenario.city.sources, *notes]
    # A name of its own, so that its runs (runs/<name>-<seed>/) never replace the
    # original city's.
    changes["city.name"] = f"{scenario.city.name}-calibrated"
    uncertainty = {k: u.model_dump(mode="json", exclude_none=True)
                   for k, u in scenario.uncertainty.items()}
    for v in values:
        uncertainty[v["key"]] = posterior_range(v, tf.path, when)
    out = sc.override(scenario, changes, source=tf.path)
    data = out.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["uncertainty"] = uncertainty
    data = {k: x for k, x in data.items() if x not in ([], {})}  # no stray empty tables
    out = sc.from_dict(data, source=tf.path)
    header = "".join(f"# {n}\n" for n in notes)
    text = (f"# The {scenario.city.name} scenario calibrated to the targets of {tf.path}.\n"
            + header
            + "# Every other value is the scenario's own, as it was given (see the preset or\n"
              "# file it came from for the sources and ASSUMPTION notes of each).\n\n"
            + tomli_w.dumps(data))
    return out, text


def posterior_range(v: Mapping[str, Any], targets: str, when: date) -> dict[str, Any]:
    """The ``[uncertainty]`` entry of a calibrated value: its posterior 90% interval
    (whole numbers outward for a whole-number key), holding the value written."""
    value = v["value"]
    integer = isinstance(value, int)
    low, high = min(v["q05"], value), max(v["q95"], value)
    if integer:
        low, high = float(math.floor(low)), float(math.ceil(high))
    if high > low:
        return {"range": [low, high], "why": f"posterior 90% interval of maze calibrate to "
                                             f"{targets} ({when.isoformat()})"}
    return {"range": [float(v["prior_low"]), float(v["prior_high"])],
            "why": f"the prior of maze calibrate to {targets} ({when.isoformat()}); the "
                   "posterior's 90% interval is a single value (too few distinct particles)"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def page(tf: TargetsFile, post: pd.DataFrame, fit: pd.DataFrame, diag: pd.DataFrame,
         values: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """A self-contained HTML page: posterior marginals, distance by generation, the fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    n = len(tf.parameters)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.6), squeeze=False)
    for ax, p in zip(axes[0], tf.parameters, strict=True):
        ax.hist(post[p.key], bins=15, range=(p.low, p.high), weights=post["weight"],
                color="#4c72b0")
        ax.set_title(p.key.split(".")[-1] + "\n" + ".".join(p.key.split(".")[-3:-1]), fontsize=8)
        ax.set_xlim(p.low, p.high)
    fig.suptitle("Posterior (last generation; x-axis spans the prior range)", fontsize=9)
    images.append(_png(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    if "temperature" in diag:
        ax.plot(diag["generation"], diag["temperature"], "o-", label="temperature")
        ax.set_yscale("log")
    else:
        ax.plot(diag["generation"], diag["epsilon"], "o-", label="epsilon")
    ax.plot(diag["generation"], diag["median_distance"], "s--", label="median distance")
    ax.set_xlabel("generation")
    ax.set_ylabel("distance (sds of the figures)")
    ax.legend(fontsize=8)
    images.append(_png(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(fit)))
    for i, r in enumerate(fit.itertuples()):
        colour = "#4c72b0" if r.use == "calibrate" else "#dd8452"
        ax.plot([r.predictive_q05, r.predictive_q95], [i, i], color=colour, lw=6, alpha=0.6)
        ax.plot([r.figure_q05, r.figure_q95], [i, i], color=colour, lw=1.5)
        ax.plot(r.observed, i, "kx")
    ax.set_yticks(range(len(fit)), [f"{r.target} ({r.use})" for r in fit.itertuples()],
                  fontsize=8)
    ax.set_xlabel("thick: measure, posterior predictive 90%; thin: the same with the "
                  "figure's sd; x: published figure")
    images.append(_png(fig))
    plt.close(fig)

    def table(df: pd.DataFrame) -> str:
        return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)

    shown = ["target", "use", "year", "observed", "sd", "predictive_q05", "predictive_median",
             "predictive_q95", "figure_q05", "figure_q95", "z", "covered"]
    verdict = ("Converged" if summary["converged"] else "Not converged")
    body = [f"<h1>Calibration of {html.escape(tf.city)} to {html.escape(tf.path)}</h1>",
            f"<p><b>{verdict}</b> (method {html.escape(summary['method'])}; end point: "
            f"{html.escape(summary['end_point'])}). Last generation: "
            f"{summary['schedule']} {summary[summary['schedule']]:.4g}, acceptance rate "
            f"{summary['acceptance_rate']:.3g}, effective sample size "
            f"{summary['effective_sample_size']:.1f} of {summary['population_size']}.</p>",
            "<h2>Fit to the calibrate targets</h2>", table(fit[fit["use"] == "calibrate"][shown]),
            "<h2>Out-of-sample test: validate targets (never used in fitting)</h2>",
            table(fit[fit["use"] == "validate"][shown]),
            f'<img src="data:image/png;base64,{images[2]}" alt="fit">',
            "<h2>Calibrated values</h2>", table(pd.DataFrame(values)),
            f'<img src="data:image/png;base64,{images[0]}" alt="posterior">',
            "<h2>Diagnostics by generation</h2>", table(diag),
            f'<img src="data:image/png;base64,{images[1]}" alt="distance">',
            "<h2>Sources</h2><ul>",
            *(f"<li>{html.escape(c)}</li>" for c in dict.fromkeys(fit["citation"])), "</ul>"]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>maze calibrate</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
            "table{border-collapse:collapse;font-size:0.85em}td,th{padding:2px 8px}"
            "</style></head><body>" + "\n".join(body) + "</body></html>\n")


def calibrate(tf: TargetsFile, scenario: Scenario, out: Path, settings: Settings,
              db: Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Fit, predict, and write the output folder atomically; return the summary."""
    if not tf.parameters:
        raise sc.ScenarioError("no [[parameters]] to calibrate", source=tf.path,
                               key="parameters")
    least = minimum_population(tf.parameters)
    if settings.population < least:
        raise sc.ScenarioError(
            f"{settings.population} particles are too few for ABC-SMC with "
            f"{len(tf.parameters)} parameter(s): at least {least} (more particles than "
            "parameters; 100 or more for a posterior to read)", source="--population")
    outputs.check_folder(out, "calibration")  # refused now, not after the fit
    db = db or out.with_name(out.name + ".abc.db")
    db.parent.mkdir(parents=True, exist_ok=True)
    clock = Clock(db.with_name(db.name + ".seconds.json"), resume and db.exists())
    made = {"targets_file": str(Path(tf.path).resolve()), "scenario": scenario.city.name,
            "households": scenario.population.households, "seed": settings.seed,
            "population": settings.population, "method": settings.method,
            "scale": settings.scale, "normalise": settings.normalise}
    for what, was in clock.settings.items():
        if what in made and made[what] != was:
            raise sc.ScenarioError(
                f"the stored calibration was made with {what} {was!r}, not {made[what]!r}: "
                "resume with the same settings, or start a new one under another --out",
                source=str(db), key="--resume")
    clock.settings = made
    clock.save()  # before the fit: a session killed during it still names its settings
    try:
        history = run_abc(tf, scenario, db, settings, resume=resume)
    finally:
        clock.save()
    post = posterior(history, tf.parameters)
    diag = diagnostics(history, tf.used("calibrate"), settings.method)
    pred = predictive(tf, scenario, post, settings.predictive, settings.seed,
                      workers=settings.workers, scheduler=settings.scheduler,
                      scale=settings.scale)
    fit = fit_table(tf, pred, settings.seed)
    values = calibrated_values(tf, post)
    _, toml_text = calibrated_scenario(scenario, values, tf, date.today())
    summary = {"targets_file": tf.path, "city": tf.city, "scenario": scenario.city.name,
               "households": scenario.population.households, "scale": settings.scale,
               "seed": settings.seed, "population_size": settings.population,
               "generations": int(history.max_t) + 1,
               "simulations": int(history.total_nr_simulations),
               "predictive_draws": settings.predictive, "method": settings.method,
               "normalise": settings.normalise,
               **end_point(diag, settings.method), "calibrated": values,
               "calibrate_targets_covered": int(fit.loc[fit["use"] == "calibrate",
                                                        "covered"].sum()),
               "validate_targets_covered": int(fit.loc[fit["use"] == "validate",
                                                       "covered"].sum()),
               "validate_targets": int((fit["use"] == "validate").sum()),
               "calibrate_targets": int((fit["use"] == "calibrate").sum())}
    with storage.atomic_folder(out, kind="calibration") as tmp:
        storage.write_parquet(post, tmp / "posterior.parquet")
        storage.write_parquet(fit, tmp / "fit.parquet")
        fit.to_csv(tmp / "fit.csv", index=False)
        storage.write_parquet(diag, tmp / "diagnostics.parquet")
        storage.write_parquet(pred, tmp / "predictive.parquet")
        (tmp / "calibrated.toml").write_text(toml_text, encoding="utf-8")
        (tmp / "calibration.html").write_text(page(tf, post, fit, diag, values, summary),
                                              encoding="utf-8")
        shutil.copyfile(db, tmp / "history.db")
        storage.write_json(summary, tmp / "calibration.json")
    clock.stop()
    clock.save()
    # Times are for the caller, not calibration.json (whose bytes depend only on the
    # city, the targets, the settings and the history).
    return summary | {"seconds": clock.total, "seconds_session": clock.session,
                      "sessions": clock.sessions}


def end_point(diag: pd.DataFrame, method: str) -> dict[str, Any]:
    """The declared end point, whether the run reached it, and the last generation's
    diagnostics that say so."""
    last = diag.iloc[-1]
    schedule = "temperature" if method == "measurement-error" else "epsilon"
    return {"end_point": END_POINT[method].format(ess=LOW_ESS),
            "converged": converged(diag, method),
            "schedule": schedule, schedule: float(last[schedule]),
            "acceptance_rate": float(last["acceptance_rate"]),
            "effective_sample_size": float(last["effective_sample_size"])}


class Clock:
    """Wall time of a calibration over all its sessions (a resumed one adds to the time
    stored beside its history database; a new one starts from zero)."""

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path = path
        self.started = time.perf_counter()
        self.stopped: float | None = None
        before: dict[str, Any] = {}
        if resumed and path.exists():
            try:
                before = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # an unreadable record: count this session only
                before = {}
        self.before = float(before.get("seconds", 0.0))
        self.sessions = int(before.get("sessions", 0)) + 1
        #: What the stored history was made with (a resumed session must match it).
        settings = before.get("settings")
        self.settings: dict[str, Any] = settings if isinstance(settings, dict) else {}

    @property
    def session(self) -> float:
        return (self.stopped or time.perf_counter()) - self.started

    def stop(self) -> None:
        """End the session: the time saved and the time returned are then the same."""
        self.stopped = time.perf_counter()

    @property
    def total(self) -> float:
        return self.before + self.session

    def save(self) -> None:
        storage.atomic_file(self.path, lambda p: storage.write_json(
            {"seconds": round(self.total, 3), "sessions": self.sessions,
             "settings": self.settings}, p))
