"""The report and the dashboard as a person uses them: in a real (headless) Chromium.

Playwright drives Debian's chromium (its own browser download cannot work
here). Screenshots are saved under each test's temporary folder. The last
tests check the dashboard's plumbing without a browser: scenario levers, and
mechanism controls built from the registry.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import offices
from maze import report
from maze.app import api
from maze.app import dashboard as dash_app
from maze.mechanism import Mechanism, Verdict, Visit
from maze.scenario import ScenarioError, from_dict
from tests.conftest import paper_city
from tests.test_report import evil_city

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser, width: int = 1300, height: int = 950):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: (page.errors.append("dialog: " + d.message), d.dismiss()))
    return page


# -- the offline report --------------------------------------------------------------------

@pytest.mark.browser
@needs_chromium
def test_report_draws_the_sankey_and_the_curves(browser, tmp_path: Path) -> None:
    run = api.run(api.load(overrides={"population.households": 400}), seed=3)
    path = tmp_path / "report.html"
    report.write_report(run.events, run.journeys, run.raw.graph, run.summary, path)
    page = _page(browser)
    page.goto(path.as_uri())
    page.wait_for_selector("#fig-reasons .main-svg", timeout=30_000)
    for key in ("sankey", "survival", "outcomes", "spread", "graph", "timeline", "reasons"):
        assert page.locator(f"#fig-{key} svg.main-svg").count() >= 1, key
    links = page.locator("#fig-sankey path.sankey-link")
    assert links.count() >= 5
    nodes = page.locator("#fig-sankey g.sankey-node")
    assert nodes.count() >= 5
    curves = page.locator("#fig-survival .scatterlayer path.js-line")
    assert curves.count() >= 2 * run.journeys["group"].nunique() - 1
    paths = [curves.nth(i).get_attribute("d") or "" for i in range(curves.count())]
    assert all(d.startswith("M") for d in paths)
    assert max(len(d) for d in paths) > 100  # a step curve, not only flat lines
    page.locator("#fig-sankey").screenshot(path=str(tmp_path / "sankey.png"))
    page.locator("#fig-survival").screenshot(path=str(tmp_path / "survival.png"))
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    # The group menu switches the Sankey to one group: fewer requests, other links.
    before = links.count()
    page.locator("#fig-sankey .updatemenu-header-group").click()
    page.locator("#fig-sankey .updatemenu-dropdown-button", has_text="group: local").click()
    page.wait_for_timeout(800)
    assert page.locator("#fig-sankey path.sankey-link").count() < before
    page.locator("#fig-sankey").screenshot(path=str(tmp_path / "sankey-local.png"))
    assert page.errors == []


@pytest.mark.browser
@needs_chromium
def test_hostile_names_run_no_script_in_the_browser(browser, tmp_path: Path) -> None:
    run = api.run(from_dict(evil_city()), seed=1)
    path = tmp_path / "report.html"
    report.write_report(run.events, run.journeys, run.raw.graph, run.summary, path)
    page = _page(browser)
    page.goto(path.as_uri())
    page.wait_for_selector("#fig-reasons .main-svg", timeout=30_000)
    assert page.evaluate("window.pwned") is None
    assert page.errors == []
    # The names are shown as text, as written in the scenario.
    assert "<b>city</b>" in page.title()
    labels = page.locator("#fig-sankey g.sankey-node text").all_text_contents()
    assert "</script><script>window.pwned=1</script>" in labels
    page.screenshot(path=str(tmp_path / "hostile.png"))


# -- the live app ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_dash(*args: str, wait: float = 90) -> Iterator[str]:
    """`maze dash ARGS` in a process of its own, until the caller is done; its URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "maze.app.cli", "dash", *args, "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"maze dash did not start: {out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    yield from serve_dash("--households", "400")


def _summary(page) -> str:  # noqa: ANN001
    return page.inner_text("#summary")


@pytest.mark.browser
@needs_chromium
def test_moving_a_lever_reruns_the_model_and_redraws(browser, dashboard: str,
                                                     tmp_path: Path) -> None:
    page = _page(browser, 1400, 1000)
    page.goto(dashboard)
    page.wait_for_selector("#fig-sankey path.sankey-link", timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "dash-deflect.png"))
    before = _summary(page)
    links_before = sorted(page.locator("#fig-sankey g.sankey-node text").all_text_contents())
    status = page.inner_text("#status")
    regime = api.load().city.regime
    assert f"({regime})" in status and "400 households" in status

    other = "provide" if regime != "provide" else "deny"
    page.get_by_label(other).check()
    page.wait_for_function("s => document.querySelector('#status').innerText.includes(s)",
                           arg=f"({other})", timeout=60_000)
    page.wait_for_selector("#running", state="hidden", timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / f"dash-{other}.png"))
    assert _summary(page) != before
    links_after = sorted(page.locator("#fig-sankey g.sankey-node text").all_text_contents())
    assert links_after != links_before  # other paths, other nodes

    # Fewer households: the status and the figures follow.
    page.fill("#households", "150")
    page.press("#households", "Enter")
    page.wait_for_function("s => document.querySelector('#status').innerText.includes(s)",
                           arg="150 households", timeout=60_000)

    page.wait_for_selector("#running", state="hidden", timeout=60_000)

    # Follow another household: the story changes, the run does not.
    story_before = page.inner_text("#story")
    status = page.inner_text("#status")
    page.click("#household")
    options = page.locator(".dash-dropdown-content [role=option]")
    assert options.count() >= 2
    chosen = options.nth(1).inner_text()
    hid = chosen.split("#", 1)[1].split(" ", 1)[0]
    assert not story_before.startswith(f"Household {hid} ")
    options.nth(1).click()
    page.wait_for_function("s => document.querySelector('#story').innerText.startsWith(s)",
                           arg=f"Household {hid} ", timeout=30_000)
    assert "Day " in page.inner_text("#story")
    assert page.inner_text("#status") == status
    page.screenshot(path=str(tmp_path / "dash-story.png"))
    assert page.errors == []


def settled(page, timeout: float = 120_000) -> int:  # noqa: ANN001
    """Wait until the newest request has been drawn; its number."""
    page.wait_for_function(
        "() => { const [d, a] = document.querySelector('#running').title.split('/');"
        " return d === a; }", timeout=timeout)
    return int(page.get_attribute("#running", "title").split("/")[0])


def asked_after(page, before: int, timeout: float = 120_000) -> None:  # noqa: ANN001
    """Wait until a request newer than ``before`` has been made and drawn."""
    page.wait_for_function(
        "n => { const [d, a] = document.querySelector('#running').title.split('/');"
        " return Number(a) > n && d === a; }", arg=before, timeout=timeout)


@pytest.mark.browser
@needs_chromium
def test_a_bad_value_shows_a_message_beside_its_box_and_runs_nothing(browser, dashboard: str,
                                                                    tmp_path: Path) -> None:
    page = _page(browser, 1400, 1000)
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "")
            if "_dash-update-component" in r.url and "drawn.data" in (r.post_data or "")
            else None)
    page.goto(dashboard)
    page.wait_for_selector("#fig-sankey path.sankey-link", timeout=60_000)
    summary = _summary(page)
    status = page.inner_text("#status")
    for box, typed, message in (
            ("households", "-5", "households: a whole number from 1 to 50,000, not -5"),
            ("households", "3000000", "not 3,000,000"),
            ("seed", "-1", "the seed: a whole number from 0 to 4,294,967,295, not -1"),
            ("seed", "abc", "the seed: a whole number, not 'abc'")):
        before = settled(page)
        page.fill(f"#{box}", typed)
        page.press(f"#{box}", "Enter")
        asked_after(page, before)
        assert message in page.inner_text(f"#{box}-error")
        assert page.inner_text("#status").startswith("Not run: fix the value marked in red")
        assert _summary(page) == summary  # nothing ran, nothing else was substituted
        page.fill(f"#{box}", "400" if box == "households" else "0")
        page.press(f"#{box}", "Enter")
        asked_after(page, before + 1)
        assert page.inner_text(f"#{box}-error") == ""
    page.screenshot(path=str(tmp_path / "dash-bad-value.png"))
    import re

    took = re.compile(r" in \d+\.\d s\.")
    assert took.sub(".", page.inner_text("#status")) == took.sub(".", status)

    # The same request, forged: values no control can send get a message, not an HTTP 500.
    import json

    genuine = json.loads(bodies[-1])
    for prop, value, words in (("seed", "abc", "not 'abc'"), ("households", 1e9, "50,000"),
                               ("households", [1], "a whole number"),
                               ("regime", "abolish", "one of provide, deny, deflect")):
        forged = json.loads(json.dumps(genuine))
        for item in forged["state"]:
            if isinstance(item, dict) and item.get("id") == prop:
                item["value"] = value
        r = page.request.post(dashboard + "_dash-update-component", data=forged)
        assert r.status == 200, (prop, value, r.status)
        answer = json.dumps(r.json())
        assert words in answer and "Not run" in answer, (prop, value, answer[:500])
        assert "fig-sankey" not in answer  # no figure redrawn
    forged = json.loads(json.dumps(genuine))
    for item in forged["state"]:
        if isinstance(item, list):
            for x in item:
                if isinstance(x.get("id"), dict) and x["id"].get("type") == "docs" \
                        and x.get("property") == "value":
                    x["value"] = ["<img src=x onerror=alert(1)>"]
    r = page.request.post(dashboard + "_dash-update-component", data=forged)
    assert r.status == 200 and "Not run" in r.text()
    assert page.errors == []


@pytest.mark.browser
@needs_chromium
def test_a_newer_request_supersedes_an_older_one(browser, dashboard: str) -> None:
    """Quick changes: the page never shows an older result while it says nothing is running."""
    page = _page(browser, 1400, 1000)
    page.goto(dashboard)
    page.wait_for_selector("#fig-sankey path.sankey-link", timeout=60_000)
    before = settled(page)
    # Every 20 ms, the browser notes the indicator and the status line.
    page.evaluate("""() => { window.seen = []; window.watch = setInterval(() => {
        const r = document.querySelector('#running');
        window.seen.push([r.title, getComputedStyle(r).display,
                          document.querySelector('#status').innerText]); }, 20); }""")
    for seed in ("11", "12", "13", "14"):  # four new runs, each superseding the last
        page.fill("#seed", seed)
        page.press("#seed", "Enter")
        page.wait_for_timeout(80)
    asked_after(page, before + 3)
    page.wait_for_timeout(300)
    seen = page.evaluate("() => { clearInterval(window.watch); return window.seen; }")
    assert "seed 14:" in page.inner_text("#status")
    busy = [s for s in seen if s[1] != "none"]
    assert busy, ("the indicator never showed", sorted({(s[0], s[1]) for s in seen}))
    for title, display, status in seen:
        drawn, asked = (int(x) for x in title.split("/"))
        if display == "none":  # off: the newest request asked so far is the one shown
            assert drawn == asked, (title, status)
            assert asked == before or f"seed {10 + asked - before}:" in status or \
                status.startswith("Not run"), (title, status)
        else:
            assert drawn < asked
    assert page.errors == []


@pytest.mark.browser
@needs_chromium
def test_a_new_mechanism_is_a_working_control(browser, stamp: str, tmp_path: Path) -> None:
    """Registered after the app was written, switched on from the page, it changes the run."""
    from werkzeug.serving import make_server

    app = dash_app.create_app(from_dict(paper_city(120)), seed=0)
    server = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = _page(browser, 1400, 1000)
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.wait_for_selector("#fig-sankey path.sankey-link", timeout=60_000)
        served = page.inner_text("#summary-everyone-served_share")
        assert served != "0.0%"
        page.get_by_label("test stamp").check()  # office is required and not set yet
        page.wait_for_function("() => document.querySelector('#status').innerText"
                               ".includes('mechanisms.test_stamp.office')", timeout=30_000)
        page.locator('[data-mechanism="test_stamp"] summary').click()
        page.locator('[data-mechanism="test_stamp"] button.dash-dropdown').first.click()
        page.locator(".dash-dropdown-content [role=option]", has_text="school").first.click()
        page.wait_for_function("() => document.querySelector('#status').innerText"
                               ".startsWith('Ran ')", timeout=60_000)
        page.wait_for_selector("#running", state="hidden", timeout=60_000)
        # The stamp refuses everyone at the school, saying nothing: nobody is served.
        assert page.inner_text("#summary-everyone-served_share") == "0.0%"
        title = page.locator("#fig-reasons .gtitle").text_content() or ""
        assert "0 of" in title
        page.screenshot(path=str(tmp_path / "dash-stamp.png"))
        assert page.errors == []
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.browser
@needs_chromium
def test_the_year_slider_shows_another_year(browser, tmp_path: Path) -> None:
    """A city history: the page opens on its last year; a click on 2010 shows 2010's
    requests, paths and outcomes (the private school, demolished later, among them)."""
    from werkzeug.serving import make_server

    s = api.load(preset="beijing_history", overrides={"population.households": 200,
                                                      "lives.in_migration": 200})
    app = dash_app.create_app(s, seed=0)
    server = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = _page(browser, 1400, 1000)
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.wait_for_selector("#fig-year-sankey path.sankey-link", timeout=60_000)
        assert page.inner_text("#year-line").startswith("2020: ")
        assert page.locator("#years-section").is_visible()
        thumb = page.locator("#year [role=slider]")
        assert thumb.get_attribute("aria-valuenow") == "2020"
        thumb.focus()
        page.keyboard.press("Home")  # to the first year
        page.wait_for_function("() => document.querySelector('#year-line').innerText"
                               ".startsWith('2010: ')", timeout=60_000)
        page.wait_for_function("() => [...document.querySelectorAll('#fig-year-outcomes "
                               ".legendtext')].some(e => e.textContent === 'alternative')",
                               timeout=60_000)
        page.locator("#years-section").screenshot(path=str(tmp_path / "dash-year.png"))
        assert page.errors == []
    finally:
        server.shutdown()
        thread.join(timeout=10)


# -- the app's plumbing, without a browser ----------------------------------------------------

class _StampConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    office: str
    rate: float = 0.5
    per: str = "visit"


class _Stamp(Mechanism):
    """Test mechanism: refuses everyone at one office, saying nothing."""

    def __init__(self, scenario, config: _StampConfig) -> None:  # noqa: ANN001
        self.office = config.office

    def decide(self, v: Visit) -> Verdict | None:
        if v.station.name == self.office and not v.fallback:
            return Verdict("refuse", "none")
        return None


@pytest.fixture
def stamp() -> Iterator[str]:
    offices._load_all()
    offices.REGISTRY["test_stamp"] = (_StampConfig, _Stamp)
    try:
        yield "test_stamp"
    finally:
        offices.REGISTRY.pop("test_stamp", None)


def test_a_newly_registered_mechanism_gets_controls(stamp: str) -> None:
    scenario = from_dict(paper_city(60))
    found = {m.name: m for m in dash_app.mechanism_controls(scenario)}
    assert stamp in found
    controls = {c.name: c for c in found[stamp].controls}
    assert controls["office"].kind == "choice"
    assert controls["office"].choices == ("school", "street_office", "police", "home")
    assert controls["rate"].kind == "float" and controls["rate"].default == 0.5
    layout = dash_app.controls_panel(scenario, 0)
    assert "test stamp" in str(layout)


def test_levers_change_the_scenario_and_the_run(stamp: str) -> None:
    base = from_dict(paper_city(80))
    off = dash_app.configure(base, dash_app.Levers("deflect", 80, 0))
    on = dash_app.configure(base, dash_app.Levers(
        "deflect", 80, 0, mechanisms_on={stamp: True},
        parameters={stamp: {"office": "school", "rate": None}}))
    assert stamp not in off.mechanisms
    assert on.mechanisms[stamp] == {"office": "school", "enabled": True}
    refusals = api.run(on, 0).events
    assert ((refusals["office"] == "school") & (refusals["activity"] == "refuse")
            & (refusals["reason"] == "none")).any()
    later = dash_app.configure(on, dash_app.Levers("deflect", 80, 0,
                                                   mechanisms_on={stamp: False}))
    assert later.mechanisms[stamp]["enabled"] is False

    fewer = dash_app.configure(base, dash_app.Levers(
        "provide", 30, 0, patience_days=10.0, documents={"school": []}))
    assert fewer.city.regime == "provide" and fewer.population.households == 30
    assert fewer.services["school"].documents == ()
    assert all(g.attributes["patience_days"] == 10.0 for g in fewer.population.groups)


def test_bad_levers_are_refused_with_the_key(stamp: str) -> None:
    base = from_dict(paper_city(80))
    with pytest.raises(ScenarioError, match=r"mechanisms\.test_stamp\.office"):
        dash_app.configure(base, dash_app.Levers("deflect", 80, 0,
                                                 mechanisms_on={stamp: True}))
    with pytest.raises(ScenarioError, match="population.households"):
        dash_app.configure(base, dash_app.Levers("deflect", 0, 0))
