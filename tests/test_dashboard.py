"""The dashboard's checks without a browser: every control read on the server, views, wording."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import plotly
import pytest

from maze import measures
from maze.app import api
from maze.app import dashboard as dash_app
from maze.scenario import from_dict
from tests.conftest import paper_city


@pytest.fixture(scope="module")
def beijing():  # noqa: ANN201
    return api.load(overrides={"population.households": 300})


def _form(**changes: object) -> dash_app.Form:
    values = {"regime": "deflect", "households": "300", "seed": "0", "who": "migrants",
              "service": "all", **changes}
    return dash_app.Form(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"households": "-5"}, "households", "from 1 to 50,000, not -5"),
    ({"households": "3,000,000"}, "households", "not 3,000,000"),
    ({"households": "3000000"}, "households", "not 3,000,000"),
    ({"households": ""}, "households", "a whole number from 1 to 50,000"),
    ({"households": "1e9"}, "households", "not '1e9'"),
    ({"households": True}, "households", "not True"),
    ({"seed": "-1"}, "seed", "from 0 to 4,294,967,295, not -1"),
    ({"seed": "abc"}, "seed", "not 'abc'"),
    ({"seed": 2.5}, "seed", "not '2.5'"),
    ({"seed": None}, "seed", "a whole number"),
    ({"patience_days": "nan"}, "patience-days", "not 'nan'"),
    ({"patience_days": "-3"}, "patience-days", "from 0 to 3,650"),
    ({"patience_visits": "0"}, "patience-visits", "from 1 to 1,000"),
    ({"regime": "abolish"}, "regime", "one of provide, deny, deflect"),
    ({"who": "group:nobody"}, "view-who", "one of everyone"),
    ({"service": "dibao"}, "view-service", "one of all, school"),
    ({"docs": [({"service": "school"}, ["forged_paper"])]}, ("docs", "school"),
     "no 'forged_paper'"),
    ({"docs": [({"service": "school"}, "proof_of_address")]}, ("docs", "school"),
     "a list of names"),
    ({"ons": [({"mechanism": "referral_loop"}, ["on", "off"])]}, ("mech", "referral_loop"),
     "no 'off'"),
    ({"ons": [({"mechanism": "price_gap"}, ["on"])]}, ("mech", "price_gap"),
     "needs a [mechanisms.price_gap] table"),
    ({"params": [({"mechanism": "referral_loop", "field": "rounds"}, "-1")]},
     ("param", "referral_loop", "rounds"), "rounds: a whole number from 0"),
    ({"params": [({"mechanism": "referral_loop", "field": "rounds"}, "two")]},
     ("param", "referral_loop", "rounds"), "not 'two'"),
    ({"params": [({"mechanism": "referral_loop", "field": "service"}, "dibao")]},
     ("param", "referral_loop", "service"), "service: one of school"),
    ({"params": [({"mechanism": "nope", "field": "x"}, 1)]}, "form", "no setting 'nope'.'x'"),
    ({"docs": [({"service": "<script>"}, [])]}, "form", "no service '<script>'"),
])
def test_a_bad_value_is_refused_beside_its_control(beijing, changes, key, words) -> None:
    levers, view, errors = dash_app.read_form(beijing, _form(**changes))
    assert levers is None and view is None  # nothing runs
    assert key in errors, errors
    assert words in errors[key], errors[key]


def test_good_values_become_levers_and_a_view(beijing) -> None:
    levers, view, errors = dash_app.read_form(beijing, _form(
        households="2,000", seed="7", patience_days="30.5", patience_visits="4",
        who="group:informal_worker", service="school",
        docs=[({"service": "school"}, ["household_registration_booklet"])],
        ons=[({"mechanism": "referral_loop"}, ["on"]), ({"mechanism": "class_cap"}, [])],
        params=[({"mechanism": "referral_loop", "field": "rounds"}, "3"),
                ({"mechanism": "referral_loop", "field": "max_rounds"}, "")]))
    assert errors == {}
    assert (levers.households, levers.seed, levers.patience_days, levers.patience_visits) == (
        2000, 7, 30.5, 4.0)
    assert levers.documents == {"school": ["household_registration_booklet"]}
    assert levers.mechanisms_on == {"referral_loop": True, "class_cap": False}
    assert levers.parameters == {"referral_loop": {"rounds": 3, "max_rounds": None}}
    assert view == dash_app.View("group:informal_worker", "school")
    assert view.label() == "informal worker school requests"
    scenario = dash_app.configure(beijing, levers)
    assert scenario.mechanisms["referral_loop"]["rounds"] == 3
    assert "class_cap" not in scenario.mechanisms or \
        scenario.mechanisms["class_cap"].get("enabled") is False


def test_a_view_is_one_group_and_one_service(beijing) -> None:
    run = api.run(beijing, 0)
    j = run.journeys
    mine = dash_app.view_measures(j, dash_app.View("migrants", "school"))
    part = j[(j["hukou"] != "local") & (j["service"] == "school")]
    assert mine["requests"] == len(part) > 0
    assert mine["served_share"] == pytest.approx((part["outcome"] == "served").mean())
    assert mine["city_cost_saved"] == pytest.approx(part["city_cost_saved"].sum())
    # Migrants and locals apart add up to everyone.
    parts = [dash_app.view_measures(j, dash_app.View(w)) for w in ("migrants", "locals")]
    assert sum(p["requests"] for p in parts) == run.summary["requests"]
    assert parts[0]["city_cost_saved"] + parts[1]["city_cost_saved"] == pytest.approx(
        run.summary["city_cost_saved"])
    whole = dash_app.view_measures(j, dash_app.View())
    assert whole == measures.block(j) and whole["served_share"] == run.summary["served_share"]
    group = dash_app.in_view(j, dash_app.View("group:graduate", "health_insurance"))
    assert np.array_equal(group, ((j["group"] == "graduate")
                                  & (j["service"] == "health_insurance")).to_numpy())


def test_one_wording_for_a_median_that_is_not_reached() -> None:
    assert dash_app.fmt("median_days_to_service", None) == measures.NOT_REACHED == "not reached"
    assert dash_app.fmt("median_days_to_service", 12.4) == "12"
    assert dash_app.fmt("served_share", 0.0725) == "7.2%"
    assert dash_app.fmt("city_cost_saved", 8104200.0) == "8,104,200"


def test_the_page_as_it_opens_runs_the_scenario_as_written(beijing) -> None:
    """The controls' initial values, read back by the server, change nothing in the run."""
    levers, view, errors = dash_app.read_form(beijing, dash_app.initial_form(beijing, 0))
    assert errors == {} and view == dash_app.View("migrants")
    assert api.run(dash_app.configure(beijing, levers), 0).summary == api.run(beijing, 0).summary


def test_an_older_request_is_superseded_by_a_newer_one() -> None:
    latest = dash_app.Latest(size=2)
    latest.ask("a", 1)
    assert not latest.superseded("a", 1)
    latest.ask("a", 3)
    latest.ask("a", 2)  # arrives late
    assert latest.superseded("a", 1) and latest.superseded("a", 2)
    assert not latest.superseded("a", 3)
    assert not latest.superseded("b", 1)  # another page counts on its own
    latest.ask("b", 1)
    latest.ask("c", 1)
    assert not latest.superseded("a", 1)  # forgotten beyond `size` pages: never blocks


def test_the_summary_shows_migrants_locals_and_the_view() -> None:
    run = api.run(from_dict(paper_city(80)), 0)
    table = str(dash_app._summary(run.journeys, dash_app.View("migrants", "school")))
    for cell in ("summary-view-served_share", "summary-migrants-city_cost_saved",
                 "summary-locals-requests", "summary-everyone-explicit_refusal_share",
                 "summary-view-median_days_to_service"):
        assert f"'{cell}'" in table, cell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dash_listens_beyond_this_machine_only_when_asked_and_warns() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "maze.app.cli", "dash", "--households", "60",
                             "--host", "0.0.0.0", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
            if "maze dash:" in line:
                break
        assert "on http://<this machine's address>:" in line
        page = ""
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "_dash-config" in page  # the dashboard answers
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "warning: listening on 0.0.0.0" in err and "no password" in err
    # served by a production server: no development-server banner or warning
    assert "development server" not in err + out and "Serving Flask app" not in err + out


def test_dash_refuses_a_host_that_is_not_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    from maze.app.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["dash", "--host", "everyone"])
    assert exc.value.code == 2
    assert "not an IP address: 'everyone'" in capsys.readouterr().err


# -- the year axis ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def history():  # noqa: ANN201
    s = api.load(preset="beijing_history", overrides={"population.households": 300,
                                                      "lives.in_migration": 300})
    return s, api.run(s, 0)


def test_a_run_over_years_gets_a_year_slider_and_one_season_none(history, beijing) -> None:
    _, run = history
    first, last, marks, chosen, style = dash_app.years_axis(run)
    assert (first, last, chosen) == (2010, 2020, 2020) and style == {}
    assert list(marks) == list(range(2010, 2021))
    assert dash_app.years_axis(run, 2013)[3] == 2013  # the year chosen stays
    assert dash_app.years_axis(run, 1999)[3] == 2020
    one = api.run(beijing, 0)
    assert dash_app.years_axis(one)[4] == {"display": "none"}


def test_the_year_view_shows_that_years_requests_only(history) -> None:
    s, run = history
    y = measures.years(run.journeys, s)
    view = dash_app.View("migrants", "school")
    for year in (2010, 2013):
        _, outcomes, line = dash_app.year_view(run, view, year)
        cell = y[(y["year"] == year) & (y["hukou"] == "migrant") & (y["service"] == "school")]
        assert line.startswith(f"{year}: {int(cell['requests'].sum()):,} migrant school")
        shown = {t.name for t in outcomes.data}
        # The private school takes migrant pupils in 2010 and is demolished by 2013.
        assert ("alternative" in shown) == (year == 2010)
    _, _, none = dash_app.year_view(run, dash_app.View("locals", "hukou_transfer"), 2012)
    assert none == "No local hukou transfer requests made in 2012."


def test_the_page_of_a_history_has_the_year_section(history) -> None:
    s, _ = history
    app = dash_app.create_app(s, 0)
    page = json.dumps(app.layout(), cls=plotly.utils.PlotlyJSONEncoder)
    assert '"id": "year"' in page and '"id": "years-section"' in page
    outputs = {k for k in app.callback_map}
    assert any("fig-year-sankey.figure" in k for k in outputs)
    assert any("year.value" in k for k in outputs)


def test_family_decisions_are_offered_apart_and_only_in_a_city_over_years() -> None:
    from maze.app import api
    from maze.app import dashboard as dash_app

    one = [m for m in dash_app.shown_mechanisms(api.load(preset="beijing"))]
    assert one and all(m.kind == "deflection" for m in one)
    assert all(not m.doc.startswith("[mechanisms.") for m in dash_app.mechanism_controls(
        api.load(preset="beijing")))
    years = dash_app.shown_mechanisms(api.load(preset="beijing_history"))
    family = {m.name for m in years if m.kind == "family"}
    assert family == {"bring_child", "gaokao", "return_home", "try_again"}
    page = str(dash_app.controls_panel(api.load(preset="beijing_history"), 0))
    assert "Family decisions over the years" in page
    assert "Family decisions" not in str(dash_app.controls_panel(api.load(preset="beijing"), 0))
