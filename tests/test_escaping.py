"""Names from scenario files reach HTML pages as text, never as markup or script.

Each name below is a small attack: a script element, an event-handler attribute, a
``</script>`` that would end plotly's data block early, a ``</title>`` breakout. The
same city is written twice, once with plain names and once with the attacks; the
attacked page must contain exactly the same elements as the plain one (no element,
attribute or script was injected) and none of the attacks verbatim.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from maze.app import api
from maze.scenario import from_dict
from tests.conftest import paper_city
from tests.html_page import parse

#: plain name -> attack, for every kind of name a scenario file holds.
ATTACKS = {
    "paper": "</title><script>maze_xss(1)</script>",                      # city
    "school": "<script>maze_xss(2)</script>",                             # office, entry
    "police": "</script><script>maze_xss(3)</script>",                    # office, issuer
    "street_office": "<img src=x onerror=maze_xss(4)>",                   # office
    "home": "\"><svg onload=maze_xss(5)>",                                # fallback office
    "with_lease": "' onmouseover='maze_xss(6)' x='",                      # group
    "without_lease": "<iframe src=\"javascript:maze_xss(7)\"></iframe>",  # group
    "permit": "<b onclick=maze_xss(8)>permit</b>",                        # document
    "svc": "<script src=//evil.example/x.js></script>",                   # service
}


def named(names: dict[str, str]) -> dict[str, Any]:
    """The paper city with every name replaced through ``names`` (keys and values alike)."""
    data = paper_city(households=60)
    data["services"] = {"svc": data["services"]["school"]}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {names.get(k, k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    return walk(copy.deepcopy(data))


def assert_no_live_markup(attacked: str, plain: str) -> None:
    for attack in ATTACKS.values():
        assert attack not in attacked, f"{attack!r} reached the page verbatim"
    got, want = parse(attacked), parse(plain)
    assert got.counts == want.counts, f"elements differ: {got.counts - want.counts} injected"
    assert [h for h in got.handlers if "maze_xss" in h[2]] == []
    assert len(got.scripts) == len(want.scripts)
    for body in got.scripts:
        assert not body.strip().startswith("maze_xss"), "an injected script body"
    assert "evil.example/x.js\"></script>" not in attacked


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    out = tmp_path_factory.mktemp("escaping")
    pages = []
    for label, names in (("plain", {}), ("attacked", ATTACKS)):
        result = api.run(from_dict(named(names)), seed=5)
        folder = api.write(result, out / label)
        pages.append((folder / "report.html").read_text(encoding="utf-8"))
    return pages[1], pages[0], out / "attacked"


def test_the_attacks_are_valid_names_and_reach_the_run(reports: tuple[str, str, Path]) -> None:
    _, _, folder = reports
    scenario = json.loads((folder / "scenario.json").read_text(encoding="utf-8"))
    assert scenario["city"]["name"] == ATTACKS["paper"]
    assert ATTACKS["school"] in {o["name"] for o in scenario["offices"]}
    assert ATTACKS["svc"] in scenario["services"]


def test_report_has_no_live_script_from_names(reports: tuple[str, str, Path]) -> None:
    attacked, plain, _ = reports
    assert_no_live_markup(attacked, plain)


def test_report_still_shows_the_names_as_text(reports: tuple[str, str, Path]) -> None:
    attacked, _, _ = reports
    # The checks above are not vacuous: the city and group names are on the page, escaped.
    assert "<title>maze: &lt;/title&gt;&lt;script&gt;maze_xss(1)&lt;/script&gt;" in attacked
    assert "maze_xss(6)" in attacked and "maze_xss(7)" in attacked


def test_sweep_page_has_no_live_script_from_names(tmp_path: Path) -> None:
    import tomli_w

    sw = pytest.importorskip("maze.app.sweep")
    pages = []
    for label, names in (("plain", {}), ("attacked", ATTACKS)):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "city.toml").write_text(tomli_w.dumps(named(names)), encoding="utf-8")
        tag = names.get("with_lease", "with_lease")
        (folder / "exp.toml").write_text(tomli_w.dumps({
            "name": names.get("paper", "paper"), "base": "city.toml", "households": 40,
            "replications": 2, "by": ["group", "hukou"],
            "runs": [{"tags": {"label": tag}}, {"tags": {"label": "b"}}]}), encoding="utf-8")
        sw.sweep(folder / "exp.toml", folder / "out", executor="serial")
        pages.append((folder / "out" / "sweep.html").read_text(encoding="utf-8"))
    assert_no_live_markup(pages[1], pages[0])
    assert "maze_xss(1)" in pages[1] and "maze_xss(6)" in pages[1]  # the names are shown
