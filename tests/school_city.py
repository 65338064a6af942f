"""A small city for the mechanism tests: one school, the paperwork behind it, two fallbacks.

Each mechanism test runs this city with the mechanism off and on, same seed, and
compares: the difference is the mechanism's effect in isolation.
"""

from __future__ import annotations

import copy
from typing import Any

from maze.app import api
from maze.scenario import from_dict


def school_city(households: int = 300, deadline: float | None = 90.0,
                groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Migrants who can get every document (lease, contract), and locals."""
    fast = {"dist": "exponential", "mean": 0.02}
    return {
        "city": {"name": "school_city", "horizon": 200.0},
        "offices": [
            {"name": "school", "kind": "school", "sector": "education", "level": "district",
             "clerks": 2, "service_time": fast},
            {"name": "street_office", "sector": "civil_affairs", "level": "district",
             "service_time": fast},
            {"name": "police", "sector": "public_security", "level": "municipal",
             "service_time": fast},
            {"name": "employer", "kind": "employer", "sector": "private", "level": "firm",
             "service_time": fast},
            {"name": "hr_bureau", "sector": "human_resources", "level": "municipal",
             "service_time": fast},
            {"name": "minban", "kind": "private_school", "level": "private",
             "role": "alternative", "service_time": fast},
            {"name": "home", "kind": "hometown", "level": "hometown", "role": "sent_away",
             "service_time": fast},
        ],
        "documents": {
            "booklet": {"issuer": "home", "held": True},
            "permit": {"issuer": "police", "requires": ["address"],
                       "held": "residence_permit"},
            "address": {"issuer": "street_office", "needs": ["lease_own"]},
            "employment": {"issuer": "employer", "needs": ["contract"]},
            "insurance_proof": {"issuer": "hr_bureau", "needs": ["contract"]},
        },
        "services": {"school": {
            "entry": "school", "documents": ["booklet", "permit", "employment"],
            "fallback": ["minban", "home"], "city_cost": 10000.0,
            **({"deadline": deadline} if deadline is not None else {})}},
        "population": {
            "households": households,
            "arrivals": {"start": 0.0, "end": 40.0},
            "days_between_visits": {"dist": "exponential", "mean": 2.0},
            "groups": groups if groups is not None else [
                {"name": "migrant", "share": 0.7,
                 "attributes": {"lease_own": True, "contract": True}},
                {"name": "local", "share": 0.3, "hukou": "local"},
            ],
        },
    }


def with_mechanism(data: dict[str, Any], name: str, table: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out.setdefault("mechanisms", {})[name] = table
    return out


def run(data: dict[str, Any], seed: int = 0) -> api.Run:
    return api.run(from_dict(data), seed=seed)


def served_share(run_: api.Run, group: str) -> float:
    j = run_.journeys
    part = j[j["group"] == group]
    return float((part["outcome"] == "served").mean())
