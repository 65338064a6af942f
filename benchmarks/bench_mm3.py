"""Benchmark: one M/M/3 queue through maze, through bare SimPy and through Ciw, side by side.

Arrivals are Poisson at 2.5 a day, three clerks each serve at rate 1.0 a day, and the
horizon is 20,000 days (about 50,000 customers). Each implementation is timed from a
validated model to its mean wait in queue, best of N runs, the implementations taking
turns so that a shared machine's load falls on all of them alike; CPU time (process
time) is printed beside wall time, since other work on the machine disturbs it less.
The mean waits (after a warm-up of a tenth of the horizon) are printed beside the
Erlang C value, so a fast but wrong model would show.

maze is timed three ways, so the overhead is visible:

* ``maze api``: ``maze.app.api.run``, what a user runs: the world with the domain's
  mechanism chain, then journeys and the summary derived from the event log;
* ``maze engine+mech``: the world with the mechanism chain, event log only;
* ``maze engine``: ``maze.world.simulate`` with no mechanisms, event log only.

maze's offices queue at a ``maze.counter.Counter`` (a FIFO pool of clerks on SimPy
events that schedules no event when a clerk is free or released), not at a
``simpy.Resource``. The textbook model keeps ``simpy.Resource``; a second bare model,
``SimPy + Counter``, is the textbook one with maze's counter, so that the ratio to it
shows what maze's own work costs, apart from the cheaper counter.

Run from the project root::

    python benchmarks/bench_mm3.py            # best of 3
    python benchmarks/bench_mm3.py --repeat 5
    python benchmarks/bench_mm3.py --processes   # and whole processes
    python benchmarks/bench_mm3.py --only-processes --no-bytecode-cache
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ciw
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import offices  # noqa: E402
from maze.app import api  # noqa: E402
from maze.counter import Counter  # noqa: E402
from maze.scenario import Scenario, from_dict  # noqa: E402
from maze.world import simulate  # noqa: E402
from tests.conftest import queue_city  # noqa: E402
from tests.theory import mmc_mean_wait  # noqa: E402

RATE = 2.5
SERVICE_RATE = 1.0
CLERKS = 3
HORIZON = 20_000.0
WARMUP = HORIZON / 10


def scenario() -> Scenario:
    return from_dict(queue_city(rate=RATE, mean_service=1.0 / SERVICE_RATE, clerks=CLERKS,
                                horizon=HORIZON))


def _maze_wait(events) -> float:
    served = events[(events["activity"] == "serve") & (events["start"] > WARMUP)]
    return float(served["wait"].mean())


def maze_api(sc: Scenario, seed: int) -> float:
    return _maze_wait(api.run(sc, seed).events)


def maze_engine_mechanisms(sc: Scenario, seed: int) -> float:
    return _maze_wait(simulate(sc, seed, offices.mechanisms(sc)).events)


def maze_engine(sc: Scenario, seed: int) -> float:
    return _maze_wait(simulate(sc, seed).events)


def _arrive_until_horizon(env: simpy.Environment, rng: random.Random,
                          customer: Callable[[simpy.Environment], Any]) -> None:
    """The textbook source: Poisson arrivals, one process per customer, run to the horizon."""
    def source(env: simpy.Environment) -> simpy.events.ProcessGenerator:
        while True:
            yield env.timeout(rng.expovariate(RATE))
            env.process(customer(env))

    env.process(source(env))
    env.run(until=HORIZON)


def bare_simpy(seed: int) -> float:
    """The textbook SimPy model: a source process, one process per customer, a Resource."""
    rng = random.Random(seed)
    env = simpy.Environment()
    counter = simpy.Resource(env, capacity=CLERKS)
    waits: list[float] = []

    def customer(env: simpy.Environment) -> simpy.events.ProcessGenerator:
        arrive = env.now
        with counter.request() as turn:
            yield turn
            if arrive > WARMUP:
                waits.append(env.now - arrive)
            yield env.timeout(rng.expovariate(SERVICE_RATE))

    _arrive_until_horizon(env, rng, customer)
    return sum(waits) / len(waits)


def bare_simpy_counter(seed: int) -> float:
    """The textbook model with maze's counter in place of simpy.Resource."""
    rng = random.Random(seed)
    env = simpy.Environment()
    counter = Counter(env, CLERKS)
    waits: list[float] = []

    def customer(env: simpy.Environment) -> simpy.events.ProcessGenerator:
        arrive = env.now
        turn = counter.seize()
        if turn is not None:
            yield turn
        if arrive > WARMUP:
            waits.append(env.now - arrive)
        yield env.timeout(rng.expovariate(SERVICE_RATE))
        counter.release()

    _arrive_until_horizon(env, rng, customer)
    return sum(waits) / len(waits)


def with_ciw(seed: int) -> float:
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=RATE)],
        service_distributions=[ciw.dists.Exponential(rate=SERVICE_RATE)],
        number_of_servers=[CLERKS],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(HORIZON)
    waits = [r.waiting_time for r in sim.get_all_records()
             if r.record_type == "service" and r.arrival_date > WARMUP]
    return sum(waits) / len(waits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation (best of)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", action="store_true",
                        help="also time whole processes: maze run --no-report against a "
                             "bare SimPy script, and importing maze.scenario")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="time the whole processes with Python's bytecode cache off, "
                             "so that every start compiles maze's sources")
    parser.add_argument("--only-processes", action="store_true",
                        help="time the whole processes only")
    args = parser.parse_args(argv)
    if args.only_processes:
        whole_processes(args.repeat, args.seed, cache=not args.no_bytecode_cache)
        return 0

    sc = scenario()
    runs: dict[str, Callable[[int], float]] = {
        "maze api": lambda s: maze_api(sc, s),
        "maze engine+mech": lambda s: maze_engine_mechanisms(sc, s),
        "maze engine": lambda s: maze_engine(sc, s),
        "bare SimPy": bare_simpy,
        "SimPy + Counter": bare_simpy_counter,
        "Ciw": with_ciw,
    }
    best = {name: math.inf for name in runs}
    cpu = {name: math.inf for name in runs}
    wait: dict[str, float] = {}
    load_before = os.getloadavg()
    for _ in range(args.repeat):
        for name, fn in runs.items():  # take turns: load falls on every implementation
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            wait[name] = fn(args.seed)
            best[name] = min(best[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    load_after = os.getloadavg()

    theory = mmc_mean_wait(RATE, SERVICE_RATE, CLERKS)
    print(f"M/M/{CLERKS}: arrival rate {RATE}/day, service rate {SERVICE_RATE}/day per clerk, "
          f"horizon {HORIZON:,.0f} days, seed {args.seed}, best of {args.repeat}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"on {os.cpu_count()} cores")
    print(f"{'implementation':<18} {'wall s':>8} {'CPU s':>8} {'mean wait':>10}")
    for name in runs:
        print(f"{name:<18} {best[name]:8.3f} {cpu[name]:8.3f} {wait[name]:10.4f}")
    print(f"{'Erlang C':<18} {'':>8} {'':>8} {theory:10.4f}")
    refs = ("bare SimPy", "SimPy + Counter", "Ciw")
    print(f"\n{'ratio (wall; CPU)':<18}" + "".join(f" {'/ ' + r:>17}" for r in refs))
    for name in ("maze api", "maze engine+mech", "maze engine"):
        print(f"{name:<18}" + "".join(
            f"     {best[name] / best[r]:5.2f}; {cpu[name] / cpu[r]:5.2f}" for r in refs))
    for label, t in (("wall", best), ("CPU", cpu)):
        ok = t["maze api"] <= 1.25 * t["bare SimPy"] and t["maze api"] < t["Ciw"]
        print(f"target in {label} time (maze api <= 1.25x bare SimPy and faster than Ciw): "
              f"{'met' if ok else 'NOT met'}")
    if args.processes:
        whole_processes(args.repeat, args.seed, cache=not args.no_bytecode_cache)
    return 0


#: The textbook model as a script of its own: what a user of bare SimPy would run.
BARE_SCRIPT = f"""
import random
import simpy

RATE, SERVICE_RATE, CLERKS, HORIZON, WARMUP = {RATE}, {SERVICE_RATE}, {CLERKS}, {HORIZON}, {WARMUP}
rng = random.Random(SEED)
env = simpy.Environment()
counter = simpy.Resource(env, capacity=CLERKS)
waits = []

def customer(env):
    arrive = env.now
    with counter.request() as turn:
        yield turn
        if arrive > WARMUP:
            waits.append(env.now - arrive)
        yield env.timeout(rng.expovariate(SERVICE_RATE))

def source(env):
    while True:
        yield env.timeout(rng.expovariate(RATE))
        env.process(customer(env))

env.process(source(env))
env.run(until=HORIZON)
print(sum(waits) / len(waits))
"""

#: The same queue as a scenario file for ``maze run``.
SCENARIO_TOML = f"""
[city]
name = "mmc"
horizon = {HORIZON}

[[offices]]
name = "counter"
clerks = {CLERKS}
service_time = {{ dist = "exponential", mean = {1.0 / SERVICE_RATE} }}

[services.ask]
entry = "counter"

[population.arrivals]
process = "poisson"
rate = {RATE}

[[population.groups]]
name = "all"
share = 1.0
attributes = {{ patience_days = 1e9, patience_visits = 1e9 }}
"""


#: What ``maze run FILE --no-report`` does, a step at a time, printing each step's CPU
#: seconds (run in a child process of its own, so the imports are the process's first).
PHASES_SCRIPT = """
import sys, time
steps, last = [], time.process_time()
def step(name):
    global last
    now = time.process_time(); steps.append((name, now - last)); last = now
from maze.app import cli
cli._lighter_process()  # as `maze` does first
cli._import_models()
from maze.app import api
step("import NumPy, pandas, pyarrow, pydantic, maze")
from maze import measures, scenario
sc = scenario.load(sys.argv[1])
step("read and check the file")
from maze.world import World
import offices
world = World(sc, 0, offices.mechanisms)
step("draw the population, build the world")
raw = world.run()
del world
step("simulate, build the event table")
j = measures.journeys(raw.events, raw.households, sc)
result = api.Run(raw, measures.attach_groups(raw.events, raw.households, raw.texts), j,
                 measures.summary(raw.events, j, raw.households, sc, 0))
step("journeys and summary")
api.write(result, sys.argv[2], report=False)
step("write the tables (Parquet), summary and scenario")
for name, t in steps:
    print(f"{name}\t{t:.4f}")
"""


def _process(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a child process run to its end."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_processes(repeat: int, seed: int, cache: bool = True) -> None:
    """Whole processes, started from a shell's point of view: ``maze run --no-report``
    (import, check the file, simulate, write the Parquet tables) against the bare SimPy
    script (import SimPy, simulate, print the mean wait), and the interpreter importing
    ``maze.scenario`` against the interpreter alone.

    The children keep Python's bytecode cache, as Python does by default (in a temporary
    folder, so the source tree is left alone), and one untimed round fills it first. An
    environment that sets ``PYTHONDONTWRITEBYTECODE`` would have every start compile
    maze's sources again; ``--no-bytecode-cache`` times that instead.
    """
    import subprocess
    import tempfile

    maze = str(Path(sys.executable).with_name("maze"))
    with tempfile.TemporaryDirectory() as tmp:
        scenario_file, bare_file = Path(tmp) / "mm3.toml", Path(tmp) / "bare.py"
        scenario_file.write_text(SCENARIO_TOML)
        bare_file.write_text(BARE_SCRIPT.replace("SEED", str(seed)))
        runs = {
            "maze run --no-report": lambda i: [
                maze, "run", str(scenario_file), "--seed", str(seed), "--no-report",
                "--quiet", "--out", str(Path(tmp) / f"out{i}")],
            "bare SimPy script": lambda i: [sys.executable, str(bare_file)],
            "import maze.scenario": lambda i: [sys.executable, "-c", "import maze.scenario"],
            "python alone": lambda i: [sys.executable, "-c", "pass"],
        }
        env = dict(os.environ)
        if cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        wall = {name: math.inf for name in runs}
        cpu = {name: math.inf for name in runs}
        for i in range(-1 if cache else 0, repeat):  # round -1 fills the bytecode cache
            for name, cmd in runs.items():
                w, c = _process(cmd(i), env)
                if i >= 0:
                    wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)
        phases: dict[str, float] = {}
        phases_file = Path(tmp) / "phases.py"
        phases_file.write_text(PHASES_SCRIPT)
        for i in range(repeat):
            text = subprocess.run([sys.executable, str(phases_file), str(scenario_file),
                                   str(Path(tmp) / f"phases{i}")], check=True, env=env,
                                  capture_output=True, text=True).stdout
            for line in text.splitlines():
                name, t = line.split("\t")
                phases[name] = min(phases.get(name, math.inf), float(t))
    kept = "on (Python's default)" if cache else "off"
    print(f"\nwhole processes, best of {repeat}, bytecode cache {kept}; load average (1 min) "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'process':<22} {'wall s':>8} {'CPU s':>8}")
    for name in runs:
        print(f"{name:<22} {wall[name]:8.3f} {cpu[name]:8.3f}")
    ratio_w = wall["maze run --no-report"] / wall["bare SimPy script"]
    ratio_c = cpu["maze run --no-report"] / cpu["bare SimPy script"]
    print(f"maze run --no-report / bare SimPy script: {ratio_w:.2f} (wall), {ratio_c:.2f} (CPU); "
          f"target <= 2.5: {'met' if max(ratio_w, ratio_c) <= 2.5 else 'NOT met'}")
    print(f"\nmaze run --no-report, step by step (CPU s, best of {repeat}, in a process of "
          "its own):")
    for name, t in phases.items():
        print(f"  {name:<50} {t:6.3f}")
    print(f"import maze.scenario beyond the interpreter: "
          f"{wall['import maze.scenario'] - wall['python alone']:.3f} s (wall), "
          f"{cpu['import maze.scenario'] - cpu['python alone']:.3f} s (CPU)")


if __name__ == "__main__":
    raise SystemExit(main())
