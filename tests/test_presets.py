"""The built-in cities: each one validates, runs, cites its sources and keeps its reasons."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from maze.app import api
from maze.scenario import REASONS
from offices import presets

CITIES = ("beijing", "shanghai", "guangzhou", "chengdu")


def test_the_four_cities_exist_and_the_default_is_one_of_them() -> None:
    assert set(CITIES) <= set(presets.names())
    assert presets.DEFAULT in CITIES


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_validates_and_runs_quickly(name: str) -> None:
    scenario = api.load(preset=name, overrides={"population.households": 150})
    run = api.run(scenario, seed=1)
    j, ev = run.journeys, run.events
    assert len(j) > 50
    assert j["outcome"].notna().all()
    # Every refusal and referral says why, in the model's vocabulary.
    said = ev[ev["activity"].isin(["refuse", "refer", "require"])]
    assert said["reason"].astype(str).isin(REASONS).all()
    # The regime key is honoured by every preset.
    assert run.summary["regime"] == "deflect"


@pytest.mark.parametrize("name", CITIES)
def test_cities_switch_on_mechanisms_and_cite_the_texts(name: str) -> None:
    text = presets.text(name)
    data = tomllib.loads(text)
    assert data["mechanisms"], "a city preset switches on at least one mechanism"
    assert data["city"]["description"] and presets.summary(name)
    assert re.search(r"\[Chan & O'Brien 2019: [A-Z]", text), \
        "figures cite Chan & O'Brien 2019 by section (docs/bibliography.md)"
    assert "ASSUMPTION" in text
    groups = {g["name"] for g in data["population"]["groups"]}
    assert {"informal_worker", "factory_worker", "construction_worker", "graduate",
            "local"} <= groups
    origins = [g["attributes"].get("origin") for g in data["population"]["groups"]
               if g.get("hukou", "migrant") == "migrant"]
    assert all(isinstance(o, dict) and set(o) == {"same", "other"} for o in origins)


def test_migrants_fare_worse_than_locals_in_every_city() -> None:
    for name in CITIES:
        run = api.run(api.load(preset=name, overrides={"population.households": 400}), seed=2)
        by = run.summary["by_group"]
        assert by["local"]["served_share"] > 0.9, name
        for group in ("informal_worker", "construction_worker"):
            assert by[group]["served_share"] < by["local"]["served_share"] - 0.5, (name, group)
        assert run.summary["explicit_refusal_share"] == 0.0, name   # deflection names no hukou


def test_presets_lists_one_line_each() -> None:
    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "presets"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == presets.names()
    for name in CITIES:
        line = next(line for line in lines if line.split()[0] == name)
        assert len(line.split()) > 3


def test_the_default_run_is_the_default_city() -> None:
    scenario = api.load(overrides={"population.households": 50})
    assert scenario.city.name == presets.DEFAULT
