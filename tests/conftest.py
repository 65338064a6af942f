"""Shared helpers: small scenarios built in code, so each test shows what it depends on."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def queue_city(rate: float = 2.0, mean_service: float = 1.0, clerks: int = 3,
               horizon: float = 2000.0) -> dict[str, Any]:
    """One always-open office, Poisson arrivals, exponential service: an M/M/c queue."""
    return {
        "city": {"name": "mmc", "horizon": horizon},
        "offices": [{"name": "counter", "clerks": clerks,
                     "service_time": {"dist": "exponential", "mean": mean_service}}],
        "services": {"ask": {"entry": "counter"}},
        "population": {
            "arrivals": {"process": "poisson", "rate": rate},
            "groups": [{"name": "all", "share": 1.0,
                        "attributes": {"patience_days": 1e9, "patience_visits": 1e9}}],
        },
    }


def paper_city(households: int = 300) -> dict[str, Any]:
    """A school that asks for a residence permit, which needs proof of address."""
    return {
        "city": {"name": "paper", "horizon": 200.0},
        "offices": [
            {"name": "school", "kind": "school", "sector": "education", "level": "district",
             "clerks": 2, "service_time": {"dist": "exponential", "mean": 0.02}},
            {"name": "street_office", "sector": "civil_affairs", "level": "district",
             "service_time": {"dist": "exponential", "mean": 0.02}},
            {"name": "police", "sector": "public_security", "level": "municipal",
             "service_time": {"dist": "exponential", "mean": 0.02}},
            {"name": "home", "kind": "hometown", "level": "hometown", "role": "sent_away",
             "government": False,
             "service_time": {"dist": "constant", "value": 0.01}},
        ],
        "documents": {
            "permit": {"issuer": "police", "requires": ["address"]},
            "address": {"issuer": "street_office", "needs": ["lease_own"]},
        },
        "services": {"school": {"entry": "school", "documents": ["permit"],
                                "fallback": ["home"]}},
        "population": {
            "households": households,
            "arrivals": {"start": 0.0, "end": 30.0},
            "days_between_visits": {"dist": "constant", "value": 1.0},
            "groups": [
                {"name": "with_lease", "share": 0.5, "attributes": {"lease_own": True}},
                {"name": "without_lease", "share": 0.5, "attributes": {"lease_own": False}},
            ],
        },
    }


def with_changes(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for dotted, value in changes.items():
        node = out
        *path, last = dotted.split("__")
        for p in path:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value
    return out


@pytest.fixture
def mmc() -> dict[str, Any]:
    return queue_city()


@pytest.fixture
def paper() -> dict[str, Any]:
    return paper_city()


def experiment_script(name: str) -> ModuleType:
    """``experiments/NAME.py`` imported as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module
