"""maze ablate and maze sensitivity on a real city, small enough for CI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from maze import scenario as sc
from maze.app import ablation, api, cli

GROUPS = ("informal_worker", "factory_worker", "construction_worker", "graduate", "local")


@pytest.fixture(scope="module")
def ablated(tmp_path_factory: pytest.TempPathFactory) -> ablation.Result:
    """Beijing at 300 households, plus a planted mechanism that cannot act: a clerk who says
    no to the vocational exam, which (here) nobody needs."""
    s = api.load(preset="beijing", overrides={
        "population.households": 300,
        "mechanisms.no_reason": {"rate": 1.0, "services": ["vocational_exam"]},
        **{f"population.groups.{g}.needs.vocational_exam": 0.0 for g in GROUPS}})
    return ablation.ablate(s, mechanisms=["documents", "no_reason", "eligibility"],
                           measures=["migrant_served_share", "migrant_school_served_share"],
                           replications=3, seed=1, executor="serial",
                           out=tmp_path_factory.mktemp("ablate"))


def test_paperwork_off_serves_more_migrants_beyond_seed_noise(ablated: ablation.Result) -> None:
    e = ablated.effects.set_index(["mechanism", "measure"])
    docs = e.loc[("documents", "migrant_school_served_share")]
    assert docs["switched_off"] > docs["as_written"]
    assert docs["seed_low"] > 0  # the interval over seeds excludes no effect


def test_a_mechanism_that_cannot_act_is_listed_with_its_reason(ablated: ablation.Result) -> None:
    inert = ablated.inert.set_index("mechanism")["reason"]
    assert "no_reason" in inert.index
    assert "no household needs vocational_exam" in inert["no_reason"]
    e = ablated.effects.set_index(["mechanism", "measure"])
    assert e.loc[("no_reason", "migrant_served_share"), "effect"] == 0.0
    assert "documents" not in inert.index


def test_switching_off_refuses_an_unknown_mechanism() -> None:
    s = api.load(preset="illustrative")
    with pytest.raises(sc.ScenarioError, match="no mechanism 'points'"):
        ablation.switch_off(s, "points")


def test_ablate_command_with_parameter_draws(tmp_path: Path, capsys) -> None:
    code = cli.main(["ablate", "beijing", "--households", "200", "--mechanisms",
                     "documents,referral_loop", "--measures", "migrant_served_share",
                     "--replications", "2", "--draws", "2", "--workers", "1",
                     "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "2 seeds, 2 parameter draws" in out
    effects = pd.read_parquet(tmp_path / "ablation.parquet")
    assert set(effects["mechanism"]) == {"documents", "referral_loop"}
    assert (effects["draws"] == 2).all() and effects["param_low"].notna().all()


def test_sensitivity_command_end_to_end(tmp_path: Path, capsys) -> None:
    keys = ("offices.street_office.clerks,mechanisms.referral_loop.repeat_probability,"
            "population.groups.informal_worker.attributes.lease_own")
    argv = ["sensitivity", "beijing", "--households", "150", "--keys", keys,
            "--measures", "migrant_served_share,saving_ratio", "--trajectories", "2",
            "--sobol", "2", "--sobol-n", "4", "--workers", "1", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "saving_ratio: Sobol indices" in printed and "ST" in printed
    assert "warning: Sobol base sample N = 4 is too small" in " ".join(printed.split())
    morris = pd.read_parquet(tmp_path / "morris.parquet")
    assert set(morris["measure"]) == {"migrant_served_share", "saving_ratio"}
    assert {"mu_star", "mu_star_conf", "sigma", "above_noise"} <= set(morris.columns)
    assert len(morris) == 2 * 4  # three assumptions and the noise column, per measure
    sobol = pd.read_parquet(tmp_path / "sobol.parquet")
    assert len(sobol) == 2 * 2
    assert "μ*" in (tmp_path / "sensitivity.html").read_text(encoding="utf-8")
    settings = json.loads((tmp_path / "study.json").read_text())
    first = (tmp_path / "morris.parquet").read_bytes()
    # Again: nothing is recomputed, and the tables are byte for byte the same.
    stored = sorted(p.name for p in (tmp_path / "morris" / "runs").iterdir())
    assert len(stored) == settings["morris_runs"]
    assert cli.main(argv) == 0
    assert (tmp_path / "morris.parquet").read_bytes() == first


def test_sensitivity_refuses_bad_requests_before_running(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["sensitivity", "beijing", "--sobol", "2", "--sobol-n", "6",
                  "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "must be a power of 2 (got 6)" in capsys.readouterr().err
    assert cli.main(["sensitivity", "beijing", "--keys", "population.households",
                     "--out", str(tmp_path)]) == 2
    assert "not a declared uncertain key" in capsys.readouterr().err
    assert cli.main(["sensitivity", "beijing", "--measures", "happiness",
                     "--out", str(tmp_path)]) == 2
    assert "unknown measure 'happiness'" in capsys.readouterr().err
    assert not (tmp_path / "morris").exists()


@pytest.mark.parametrize("argv, said", [
    (["sensitivity", "beijing", "--measures", "happiness"], "unknown measure 'happiness'"),
    (["sensitivity", "beijing", "--keys", "population.households"], "not a declared uncertain"),
    (["sensitivity", "beijing", "--sobol", "-1"], "--sobol: at least 0"),
    (["ablate", "beijing", "--measures", "happiness"], "unknown measure 'happiness'"),
    (["ablate", "beijing", "--mechanisms", "points"], "beijing has no mechanism 'points'"),
    (["ablate", "beijing", "--draws", "-1"], "--draws: at least 0 draws"),
])
def test_refused_options_create_no_folder(argv: list[str], said: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Refused input leaves nothing behind: neither the --out folder nor the default one."""
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--out", "study"]) == 2
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count(said) == 2 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_measures_declared_as_data_join_the_named_ones(tmp_path: Path) -> None:
    """A measures file (maze.metric tables) is checked before running and read per run; the
    school served share of migrants declared as data equals the named measure."""
    from maze.app import outcomes, sensitivity

    path = tmp_path / "measures.toml"
    path.write_text('[measures.school_migrants]\nmeasure = "served_share"\n'
                    'filters = { service = "school", hukou = "migrant" }\n'
                    '[measures.visits_over_two]\nexpression = "share(visits > 2)"\n'
                    'filters = { hukou = "migrant" }\n', encoding="utf-8")
    city = api.load(preset="beijing", overrides={"population.households": 120})
    specs = outcomes.load_specs(path, city)
    result = sensitivity.study(
        city, keys=["mechanisms.referral_loop.repeat_probability"],
        measures=["migrant_school_served_share"], specs=specs, trajectories=2,
        executor="serial")
    runs = result.runs
    assert list(result.morris["measure"].unique()) == [
        "school_migrants", "visits_over_two", "migrant_school_served_share"]
    pd.testing.assert_series_equal(runs["school_migrants"], runs["migrant_school_served_share"],
                                   check_names=False)
    assert runs["visits_over_two"].between(0, 1).all()
    path.write_text('[measures.x]\nmeasure = "served_share"\nfilters = { service = "opera" }\n',
                    encoding="utf-8")
    with pytest.raises(sc.ScenarioError, match="measures.x.filters.service"):
        outcomes.load_specs(path, city)


def test_ablate_claims_its_folder_and_refuses_one_maze_did_not_write(tmp_path: Path,
                                                                     capsys) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    argv = ["ablate", "illustrative", "--households", "60", "--mechanisms", "documents",
            "--measures", "migrant_served_share", "--replications", "1", "--workers", "1",
            "--quiet"]
    assert cli.main([*argv, "--out", str(mine)]) == 2
    assert "notes" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]
    assert (mine / "keep.txt").read_text() == "mine"
    out = tmp_path / "ablation"
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert cli.main([*argv, "--out", str(out)]) == 0  # its own folder: run again
    assert (out / "ablation.parquet").is_file() and (out / ".maze-output.json").is_file()


def test_a_scaled_ablation_runs_every_variant_as_the_scaled_copy(tmp_path: Path) -> None:
    """--scale: switching a mechanism off and scaling the city give the same city in either
    order, the runs are of the copy, and ablation.json keeps the factor."""
    from maze.app import outcomes

    city = api.load(preset="beijing", overrides={"population.households": 400})
    study, _ = outcomes.study_for(city, ["migrant_served_share"], scale=0.5)
    off = ablation.switch_off(study.at({}), "documents")
    assert off == api.scaled(ablation.switch_off(city, "documents"), 0.5, check=False)
    assert off.population.households == 200
    code = cli.main(["ablate", "beijing", "--households", "400", "--scale", "0.5",
                     "--mechanisms", "documents", "--measures", "migrant_served_share",
                     "--replications", "1", "--workers", "1", "--quiet", "--out",
                     str(tmp_path)])
    assert code == 0
    assert json.loads((tmp_path / "ablation.json").read_text())["scale"] == 0.5
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(runs) == 2  # the city as written and documents off, one seed each
