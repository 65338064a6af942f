"""Planning a batch: settings crossed with seeds, each run named by a hash of what it does.

Replication ``r`` always gets the seed spawned ``r``-th from
``numpy.random.SeedSequence(seed)``, so every setting sees the same seeds (common random
numbers make the settings comparable) and adding replications later keeps the runs
already made. A run's id hashes its parameters, seed, scenario content and the
simulator's code, so a stored run is reused only by the same request and the same code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from maze.scenario import Scenario

#: Bump when the content of a stored run changes meaning; old runs are then recomputed.
FORMAT = 1


@dataclass(frozen=True)
class Point:
    """One setting of the levers: its varying overrides, its tags, and the scenario it makes."""

    overrides: dict[str, Any]
    tags: dict[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: every setting already checked against the scenario model.

    ``code`` is the fingerprint of the simulator that will run it (part of every run id).
    """

    name: str
    source: str
    base: str
    points: tuple[Point, ...]
    replications: int
    seed: int
    by: tuple[str, ...] = ("group", "hukou")
    lever: str | None = None
    keep: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    code: str = ""

    @property
    def seeds(self) -> list[int]:
        return replication_seeds(self.seed, self.replications)

    @property
    def x(self) -> str | None:
        """The lever drawn on the x axis of the sweep figures."""
        if self.lever:
            return self.lever
        return (self.tags or self.parameters or (None,))[0]

    def plan(self) -> list[RunSpec]:
        """Every run, in table order: settings in experiment order, then replications."""
        return [RunSpec(run_id(p.scenario, p.overrides, p.tags, s, self.code), i, r, s)
                for i, p in enumerate(self.points) for r, s in enumerate(self.seeds)]


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    point: int
    replication: int
    seed: int


def replication_seeds(base_seed: int, replications: int) -> list[int]:
    """One independent seed per replication, spawned from the base seed.

    Child ``r`` of a SeedSequence depends only on ``(base_seed, r)``, so asking for
    more replications later keeps the seeds (and stored runs) of the first ones.
    """
    children = np.random.SeedSequence(int(base_seed)).spawn(int(replications))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def run_id(scenario: Scenario, overrides: Mapping[str, Any], tags: Mapping[str, Any],
           seed: int, code: str) -> str:
    """The name of a run's folder: a hash of what it was asked to do, and by which code."""
    payload = {
        "format": FORMAT,
        "code": code,
        "scenario": scenario.model_dump(mode="json", by_alias=True),
        "parameters": dict(overrides),
        "tags": dict(tags),
        "seed": int(seed),
    }
    # Not sorted: the scenario's order of services and mechanisms changes its results, so
    # two scenarios that differ only in that order are different runs.
    text = json.dumps(payload, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def code_fingerprint(*packages: ModuleType) -> str:
    """A hash of the source of these packages: stored runs are only reused by the code
    that made them, so an edit to a rule never mixes old and new results."""
    h = hashlib.sha256()
    for package in packages:
        root = Path(package.__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root.parent).as_posix().encode("utf-8") + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
