"""Every number a preset marks ASSUMPTION has a declared range; `maze assumptions` lists it."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

import offices
from maze import uncertainty as un
from maze.app import api, cli
from offices import presets

#: ASSUMPTION lines that are not numbers to vary, and why.
NOT_RANGED = {
    # which office issues a document: a structure of the city, not a quantity
    r"^offices\.community_health_center\.name$",
    # "every household holds this certificate": held = false would be no household, not a range
    r"^documents\.[a-z_]+\.held$",
    # standing in class is a percentile, uniform by definition; its bar (min_grades) is ranged
    r"\.attributes\.grades\.(low|high)$",
    # which attribute a document needs: a rule of the city, not a quantity
    r"^documents\.[a-z_]+\.needs$",
    # a uniform tenure starts at zero (new hires); its upper end is ranged
    r"\.attributes\.years_[a-z]+\.low$",
}


def _leaves(value: Any, key: str) -> list[str]:
    """The numbers inside a value as dotted keys (a distribution's mean or upper end)."""
    if isinstance(value, bool) or isinstance(value, list | str):
        return [key]
    if isinstance(value, int | float):
        return [key]
    if "dist" in value:
        return [f"{key}.mean"] if "mean" in value else [f"{key}.low", f"{key}.high"]
    return [k for name, v in value.items() for k in _leaves(v, f"{key}.{name}")]


def marked_keys(text: str) -> list[str]:
    """Dotted keys of the lines of a preset whose comment says ASSUMPTION."""
    data = tomllib.loads(text)
    out: list[str] = []
    counts: dict[str, int] = {}
    table = ""
    group = None
    for line in text.splitlines():
        s = line.strip()
        if m := re.match(r"^\[\[([^\]]+)\]\]", s):
            path = m.group(1)
            counts[path] = counts.get(path, -1) + 1
            i = counts[path]
            if path == "offices":
                table = f"offices.{data['offices'][i]['name']}"
            elif path == "population.groups":
                group = data["population"]["groups"][i]["name"]
                table = f"population.groups.{group}"
            else:
                table = f"{path}.{i}"
            continue
        if m := re.match(r"^\[([^\]]+)\]", s):
            table = m.group(1)
            if table == "population.groups.attributes":
                table = f"population.groups.{group}.attributes"
            continue
        m = re.match(r"^([A-Za-z_0-9]+)\s*=", s)
        if not m or "#" not in s or "ASSUMPTION" not in s[s.index("#"):]:
            continue
        if table == "uncertainty":
            continue
        key = f"{table}.{m.group(1)}"
        node: Any = data
        for part in key.split("."):
            node = ([x for x in node if x.get("name") == part] or [node[int(part)]])[0] \
                if isinstance(node, list) else node[part]
        out += _leaves(node, key)
    return out


@pytest.mark.parametrize("name", presets.names())
def test_maze_assumptions_lists_every_assumption_of_the_preset(name: str, capsys) -> None:
    assert cli.main(["assumptions", name, "--format", "json"]) == 0
    listed = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    marked = marked_keys(presets.text(name))
    assert marked, "the scanner found no ASSUMPTION in the preset"
    missing = [k for k in marked if k not in listed
               and not any(re.search(p, k) for p in NOT_RANGED)]
    assert missing == []
    for r in listed.values():
        assert r["why"].strip() and (r["values"] or r["low"] < r["high"])


@pytest.mark.parametrize("name", presets.names())
def test_every_declared_range_gives_a_valid_city_at_both_ends(name: str) -> None:
    scenario = api.load(preset=name)
    for a in un.declared(scenario):
        for u in (0.0, 1.0):
            offices.configs(un.apply(scenario, {a.key: a.at(u)}), f"preset {name}")


def test_the_scanner_sees_a_marked_line(tmp_path) -> None:
    """The test above cannot pass by finding nothing: a new marked number is caught."""
    text = presets.text("illustrative").replace("clerks = 2\n", "clerks = 2   # ASSUMPTION\n", 1)
    assert "offices.public_school.clerks" in marked_keys(text)


def test_assumptions_formats_and_errors(capsys) -> None:
    assert cli.main(["assumptions", "beijing", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "key,value,low,high,dist,integer,why,source"
    assert any(line.startswith("mechanisms.referral_loop.repeat_probability,0.4,0.1,0.7,")
               for line in lines)
    assert cli.main(["assumptions", "beijing"]) == 0
    assert "beijing: 49 declared assumptions" in capsys.readouterr().out
    assert cli.main(["assumptions", "atlantis"]) == 2
    assert "unknown preset" in capsys.readouterr().err
