"""Journeys and summary against a plain pandas derivation, on logs a run never writes too.

maze.measures computes per-case reductions from case numbers (bincount, category codes)
for speed; these tests recompute the same measures the obvious way (a groupby per case,
a filtered frame per group) and ask for the same numbers, including on a log whose rows
are shuffled, whose case ids are sparse and where a case has two outcome rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import offices
from maze import measures
from maze.app import api
from maze.eventlog import OUTCOMES, VISIT_ACTIVITIES
from maze.scenario import Scenario
from maze.survival import kaplan_meier, median_survival, median_time, time_to_service
from maze.world import World


@pytest.fixture(scope="module")
def city() -> tuple[Scenario, pd.DataFrame, pd.DataFrame]:
    scenario = api.load(preset="beijing", overrides={"population.households": 600})
    raw = World(scenario, 5, offices.mechanisms(scenario)).run()
    return scenario, raw.events, raw.households


def _reference_journeys(ev: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    cases = ev.groupby("case_id", sort=True, observed=True)
    ref = pd.DataFrame({"household_id": cases["household_id"].first(),
                        "service": cases["service"].first().astype(str),
                        "start": cases["time"].min()})
    last = (ev[ev["activity"].isin(OUTCOMES)].drop_duplicates("case_id", keep="last")
            .set_index("case_id"))
    ref["end"] = last["time"]
    ref["outcome"] = last["outcome"].astype(str)
    ref["last_office"] = last["office"].astype(str)
    visits = ev[ev["activity"].isin(VISIT_ACTIVITIES)].copy()
    visits["office"] = visits["office"].astype(str)
    office = {o.name: o for o in scenario.offices}
    gov = visits[visits["office"].map(lambda o: office[o].government)]
    by = visits.groupby("case_id")
    ref["visits"] = by.size()
    ref["referrals"] = visits[visits["activity"].isin(["require", "refer"])].groupby(
        "case_id").size()
    ref["offices_seen"] = by["office"].nunique()
    ref["loops"] = ref["visits"] - ref["offices_seen"]
    ref["government_offices_seen"] = gov.groupby("case_id")["office"].nunique()
    for column, attribute in (("levels_seen", "level"), ("sectors_seen", "sector")):
        ref[column] = gov["office"].map(lambda o, a=attribute: getattr(office[o], a)).groupby(
            gov["case_id"]).nunique()
    ref["out_of_pocket"] = by["fee"].sum()
    ref["wage_lost"] = by["wage_lost"].sum()
    refused = (visits["activity"] == "refuse") & (visits["reason"] == "hukou")
    ref["explicit_refusal"] = refused.groupby(visits["case_id"]).any()
    ref["missed_deadline"] = (visits["reason"] == "deadline").groupby(visits["case_id"]).any()
    counts = ["visits", "referrals", "offices_seen", "loops", "government_offices_seen",
              "levels_seen", "sectors_seen"]
    ref[counts] = ref[counts].fillna(0).astype("int64")
    ref[["out_of_pocket", "wage_lost"]] = ref[["out_of_pocket", "wage_lost"]].fillna(0.0)
    flags = ["explicit_refusal", "missed_deadline"]
    ref[flags] = ref[flags].astype("boolean").fillna(False).astype(bool)
    return ref.reset_index()


def _distorted(ev: pd.DataFrame) -> pd.DataFrame:
    """Rows shuffled, case ids sparse and shifted, and one case ending twice."""
    twice = ev[ev["activity"] == "served"].iloc[[0]].assign(time=lambda d: d["time"] + 5.0)
    twice["outcome"] = pd.Categorical(["gave_up"], dtype=ev["outcome"].dtype)
    out = pd.concat([ev, twice], ignore_index=True).sample(frac=1.0, random_state=3)
    return out.assign(case_id=out["case_id"] * 1000 - 7).reset_index(drop=True)


@pytest.mark.parametrize("distort", [False, True], ids=["as_logged", "distorted"])
def test_journeys_match_a_groupby_per_case(city, distort: bool) -> None:
    scenario, ev, households = city
    if distort:
        ev = _distorted(ev)
    j = measures.journeys(ev, households, scenario)
    ref = _reference_journeys(ev, scenario)
    assert len(j) == len(ref) == ev["case_id"].nunique()
    assert j["visits"].sum() > len(j) and j["loops"].sum() > 0  # the city has paperwork
    assert j["wage_lost"].gt(0).any()
    for c in ref.columns:
        got = j[c].astype(str) if isinstance(j[c].dtype, pd.CategoricalDtype) else j[c]
        pd.testing.assert_series_equal(got, ref[c], check_exact=True, check_dtype=False,
                                       check_names=False, obj=c)


def test_summary_blocks_match_filtered_frames(city) -> None:
    scenario, ev, households = city
    j = measures.journeys(ev, households, scenario)
    # Some requests deterred, and some with no outcome at all (counted as tried).
    j["outcome"] = j["outcome"].where(j.index % 9 != 0, "deterred").where(j.index % 13 != 1)
    assert j["outcome"].eq("pending").any() and j["outcome"].isna().any()
    s = measures.summary(ev, j, households, scenario, 5)
    parts = {"all": (s, j)}
    parts |= {f"group {g}": (s["by_group"][g], j[j["group"] == g]) for g in s["by_group"]}
    parts |= {f"service {v}": (s["by_service"][v], j[j["service"] == v])
              for v in s["by_service"]}
    parts["migrants"] = (s["migrants"], j[j["hukou"] != "local"])
    assert len(s["by_group"]) > 1 and len(s["by_service"]) > 1
    for label, (block, part) in parts.items():
        _assert_block_is_the_frames(block, part, label)


def _assert_block_is_the_frames(block: dict, part: pd.DataFrame, label: object) -> None:
    """Every measure of ``block`` is what pandas gives on the frame ``part``, to the last
    bit (after the JSON rounding every block gets)."""
    tried = part[part["outcome"] != "deterred"]
    served = part.loc[part["outcome"] == "served", "days_to_outcome"]
    want = {f"{o}_share": (part["outcome"] == o).sum() / len(part) if len(part) else 0.0
            for o in OUTCOMES}
    want |= {"requests": len(part),
             **{f"mean_{c}": tried[c].mean() if len(tried) else None
                for c in measures._TRIED_MEANS},
             "mean_wage_lost": part["wage_lost"].mean() if len(part) else 0.0,
             "mean_out_of_pocket": part["out_of_pocket"].mean() if len(part) else 0.0,
             "explicit_refusal_share": part["explicit_refusal"].mean() if len(part) else 0.0,
             "missed_deadline_share": part["missed_deadline"].mean() if len(part) else 0.0,
             "city_cost_saved": part["city_cost_saved"].sum(),
             "median_days_to_service_among_served": served.median(),
             "median_days_to_service": median_time(kaplan_meier(*time_to_service(part)))
             if len(part) else None}
    assert set(want) <= set(block), label
    for key, value in want.items():
        expected = None if value is None or math.isnan(value) else round(float(value), 10)
        assert block[key] == expected, (label, key, block[key], expected)


@pytest.mark.parametrize("batch", [None, 0], ids=["together", "in_batches"])
def test_many_blocks_at_once_are_each_blocks_frame(city, batch, monkeypatch) -> None:
    """Blocks taken together (as for the years) are each their own frame's measures:
    parts of every size, empty ones, overlapping ones, a served request without days
    and ties in the days served."""
    scenario, ev, households = city
    j = measures.journeys(ev, households, scenario)
    j["outcome"] = j["outcome"].where(j.index % 9 != 0, "deterred").where(j.index % 13 != 1)
    served = np.flatnonzero((j["outcome"] == "served").to_numpy())
    j.loc[served[::5], "days_to_outcome"] = j.loc[served[0], "days_to_outcome"]  # ties
    if batch is not None:  # parts of more rows than the journeys: measured a batch at a time
        monkeypatch.setattr(measures, "_BATCH_ROWS", batch)
    rng = np.random.default_rng(11)
    n = len(j)
    parts = [np.sort(rng.choice(n, size=size, replace=False))
             for size in (0, 1, 2, 3, 10, 57, n // 3, n)]
    parts += [np.arange(0, n, 2), np.flatnonzero((j["outcome"] == "served").to_numpy())]
    with_nan = j.copy()
    with_nan.loc[served[3], "days_to_outcome"] = np.nan
    as_floats = j.astype({"visits": float, "loops": float})  # sums in NumPy's order
    # Counts whose sums pass 2**53: summed as floats, in NumPy's order, not exactly.
    huge = j.assign(visits=rng.integers(2**50, 2**51, size=len(j)))
    censored = j.copy()  # many still waiting, after as few days as those served
    censored.loc[served[1::3], "outcome"] = "pending"
    for frame in (j, with_nan, as_floats, censored, huge):
        columns = measures._columns(frame)
        blocks = measures._blocks(columns, [*parts, None])
        for i, (block, rows) in enumerate(zip(blocks, [*parts, None], strict=True)):
            part = frame if rows is None else frame.iloc[rows]
            _assert_block_is_the_frames(block, part, i)
            assert block == measures._block(columns, rows)


def test_the_years_blocks_are_each_years_frame() -> None:
    """by_year over a city of several years: everyone's and the migrants' block of each
    year are those of the year's requests."""
    scenario = api.load(preset="beijing_history", overrides={"population.households": 300})
    run = api.run(scenario, 1)
    j = run.journeys
    year = measures.request_years(j, scenario)
    assert len(run.summary["by_year"]) >= 3
    for y, block in run.summary["by_year"].items():
        part = j[year == int(y)]
        _assert_block_is_the_frames({k: v for k, v in block.items()
                                     if k not in ("migrants", "rule_changes")}, part, y)
        theirs = part[part["hukou"] != "local"]
        if len(theirs):
            _assert_block_is_the_frames(block["migrants"], theirs, (y, "migrants"))
        else:
            assert block["migrants"] is None


def test_group_categories_from_the_drawn_codes_are_those_of_the_texts() -> None:
    """The population's own codes give the same event table as categorising its texts:
    the same categories (sorted, of the same type, only those on event rows) and rows."""
    scenario = api.load(preset="beijing", overrides={"population.households": 600})
    raw = World(scenario, 2, offices.mechanisms(scenario)).run()
    assert raw.texts.households is raw.households
    assert {"group", "hukou", "education", "origin"} <= set(raw.texts.columns)
    events = raw.events
    kept = events[events["household_id"] % 5 != 0]  # some households with no event row
    for ev in (events, kept):
        pd.testing.assert_frame_equal(measures.attach_groups(ev, raw.households, raw.texts),
                                      measures.attach_groups(ev, raw.households),
                                      check_exact=True, check_categorical=True)
    # Another table of the same length (reordered, or a copy): its own texts are read.
    for other in (raw.households.sample(frac=1.0, random_state=4), raw.households.copy()):
        pd.testing.assert_frame_equal(measures.attach_groups(events, other, raw.texts),
                                      measures.attach_groups(events, other),
                                      check_exact=True, check_categorical=True)


def test_group_categories_are_those_on_the_event_rows(city) -> None:
    scenario, ev, households = city
    silent = households["household_id"] % 4 == 0
    hh = households.assign(education=households["education"].where(~silent, "only_silent"))
    kept = ev[~ev["household_id"].isin(hh.loc[silent, "household_id"])]
    shuffled = hh.sample(frac=1.0, random_state=1)  # ids no longer their own positions
    for table in (hh, shuffled):
        out = measures.attach_groups(kept, table)
        for c in ("group", "hukou", "education"):
            rows = table.set_index("household_id").loc[kept["household_id"], c].to_numpy()
            assert out[c].astype(str).tolist() == rows.tolist()
            assert list(out[c].cat.categories) == sorted(set(rows)), c
        assert "only_silent" not in out["education"].cat.categories


def test_median_survival_is_the_tables_median() -> None:
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 200):
        d = np.round(rng.exponential(5.0, n), 1)
        served = rng.random(n) < 0.6
        d[~served & (rng.random(n) < 0.5)] = np.inf
        assert median_survival(d, served) == median_time(kaplan_meier(d, served))


def test_city_cost_saved_counts_each_unserved_need_once() -> None:
    """A family displaced by Beijing's school closure asks again: one saving, not two."""
    from maze.app import api

    scenario = api.load(preset="beijing", overrides={"population.households": 600})
    j = api.run(scenario, 2).journeys
    assert j.duplicated(["household_id", "service"]).any()  # some asked again
    cost = {name: s.city_cost for name, s in scenario.services.items()}
    needs = j.groupby(["household_id", "service"], observed=True).agg(
        hukou=("hukou", "first"), served=("outcome", lambda o: (o == "served").any()))
    unserved = needs[(needs["hukou"] != "local") & ~needs["served"]]
    expected = sum(cost[s] for s in unserved.index.get_level_values("service"))
    assert j["city_cost_saved"].sum() == pytest.approx(expected)
    per_request = j[(j["hukou"] != "local") & (j["outcome"] != "served")]
    assert j["city_cost_saved"].sum() < sum(cost[s] for s in per_request["service"])


def _reference_years(j: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """years.parquet the obvious way: a groupby on the texts, one block per cell."""
    frame = pd.DataFrame({"year": measures.request_years(j, scenario),
                          "group": j["group"].astype(str).to_numpy(),
                          "service": j["service"].astype(str).to_numpy()})
    hukou = {g.name: g.hukou for g in scenario.population.groups}
    rows = []
    for (year, group, service), at in frame.groupby(["year", "group", "service"],
                                                     sort=True).indices.items():
        block = measures.block(j, np.sort(at))
        rows.append({"year": int(year), "group": group, "hukou": hukou.get(group, ""),
                     "service": service, **{k: block[k] for k in measures.YEAR_MEASURES}})
    out = pd.DataFrame(rows, columns=["year", "group", "hukou", "service",
                                      *measures.YEAR_MEASURES])
    return out.astype({"year": "int64", "requests": "int64"})


def test_years_match_a_groupby_on_the_texts(city) -> None:
    """Several groups and services: the cells found on ranked codes are the groupby's."""
    scenario, ev, households = city
    j = measures.journeys(ev, households, scenario)
    s = measures.summary(ev, j, households, scenario, 5)
    want = _reference_years(j, scenario)
    assert want["group"].nunique() > 1 and want["service"].nunique() > 1
    assert measures.years(j, scenario).equals(want)
    assert measures.years(j, scenario, s["by_year"]).equals(want)


@pytest.mark.parametrize("years", [[2031, 2029, 2030, 2029, 2031], [-3, 2, -3, 0, 2], [], [7]])
def test_year_cells_are_the_groupbys_cells_whatever_the_years(years: list[int]) -> None:
    """Calendar years, years before 0 and no rows: the same cells, in the same order."""
    n = len(years)
    j = pd.DataFrame({"group": pd.Series(["b", "a", "b", "a", "a"][:n], dtype="string"),
                      "service": pd.Series(["x", "x", "y", "y", "x"][:n], dtype="string")})
    year_of = np.array(years, dtype=np.int64)
    frame = pd.DataFrame({"year": year_of, "group": j["group"].astype(str).to_numpy(),
                          "service": j["service"].astype(str).to_numpy()})
    want = [(key, np.sort(at)) for key, at in
            frame.groupby(["year", "group", "service"], sort=True).indices.items()]
    got = measures._year_cells(j, year_of)
    assert [k for k, _ in got] == [(int(y), g, s) for (y, g, s), _ in want]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, want, strict=True))


def test_one_group_and_service_over_years_reuses_the_summary_blocks() -> None:
    """A queue over 5 years: each year's cell is the whole year, taken from by_year."""
    from maze.scenario import from_dict
    from tests.conftest import queue_city

    scenario = from_dict(queue_city(rate=2.0, horizon=1800.0))
    run = api.run(scenario, 3)
    j = run.journeys
    want = _reference_years(j, scenario)
    assert len(want) >= 5
    assert measures.years(j, scenario).equals(want)
    assert measures.years(j, scenario, run.summary["by_year"]).equals(want)
    whole = measures.block(j)
    for part in ("by_group", "by_service"):
        (block,) = run.summary[part].values()
        assert block == whole


def test_the_median_of_a_block_is_numpys_to_the_last_bit() -> None:
    """The measures take the median among those served by a sort, not np.median: the same
    float for odd and even counts, ties, and values of very different sizes."""
    from maze.measures import _middle

    def _median(x: np.ndarray) -> float:
        return _middle(np.sort(x))

    rng = np.random.default_rng(7)
    for n in [*range(1, 40), 100, 101, 1000, 1001]:
        for scale in (1e-9, 1.0, 1e9):
            x = rng.exponential(scale, size=n)
            x[rng.random(n) < 0.3] = x[0]  # ties
            assert _median(x) == float(np.median(x))
            assert type(_median(x)) is float


@pytest.mark.parametrize("values", [
    pd.Series(["b", "a", None, "b", "c", "a"], dtype="str"),  # texts, one missing
    pd.Series(["b", "a", "b"], dtype=object),
    pd.Series(pd.Categorical(["y", "x", None, "y"], categories=["z", "y", "x", "w"])),
    pd.Series([], dtype="str"),
])
def test_partition_is_the_groupbys_groups(values: pd.Series) -> None:
    """Groups in groupby's order (texts sorted, categories present in their own order),
    each with its rows ascending; a missing key in no group."""
    j = pd.DataFrame({"key": values})
    want = [(key, np.sort(rows)) for key, rows in
            j.groupby("key", sort=True, observed=True).indices.items()]
    got = measures._partition(j, "key")
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, want, strict=True))
