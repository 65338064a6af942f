"""Morris and Sobol through maze's own batch machinery, on a function whose answer is known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from maze import sensitivity as sa
from maze.batch.points import PointTask, run_points
from maze.uncertainty import Assumption

#: Planted: "strong" moves y by 10 across its range, "bent" by 4 (and bends it), "weak"
#: by 1, "inert" and "also_inert" not at all. Ranges differ in size and kind on purpose:
#: the design works in quantiles, so the ranking must not follow the units.
PLANTED = (
    Assumption("strong", 5.0, 0.0, 100.0, "uniform", "planted"),
    Assumption("bent", 2, 1, 9, "uniform", "planted", integer=True),
    Assumption("weak", 0.3, 0.1, 10.0, "loguniform", "planted"),
    Assumption("inert", 1.0, 0.0, 2.0, "triangular", "planted", mode=1.0),
    Assumption("also_inert", 0.5, 0.0, 1.0, "uniform", "planted"),
)


def planted(task: PointTask) -> dict[str, float]:
    """The test function, with seeded noise an order of magnitude below the weakest effect."""
    p = task.point
    rng = np.random.default_rng(task.seed)
    y = (10 * p["strong"] / 100 + 4 * ((p["bent"] - 1) / 8) ** 2
         + 1 * math.log(p["weak"] / 0.1) / math.log(100) + 0.01 * rng.standard_normal())
    return {"y": y, "calls": 1.0}


def _morris(tmp_path: Path | None, executor: str = "serial", trajectories: int = 20):
    design = sa.morris_design(PLANTED, trajectories, seed=7)
    table = run_points(sa.points(design, PLANTED), planted, None, "planted-v1",
                       replications=1, seed=3, out=tmp_path, executor=executor, workers=2,
                       streams=sa.streams(design))
    return design, table


def test_morris_ranks_the_planted_function(tmp_path: Path) -> None:
    design, table = _morris(tmp_path)
    res = sa.analyse_morris(design, sa.outputs(table, "y", len(design.unit)), "y")
    ranked = list(res["key"])
    assert ranked[:3] == ["strong", "bent", "weak"]
    mu = res.set_index("key")["mu_star"]
    assert mu["strong"] == pytest.approx(10.0, rel=0.15)
    for inert in ("inert", "also_inert"):
        assert mu[inert] < 0.001 and not res.set_index("key").loc[inert, "above_noise"]
    assert 0.001 < mu[sa.NOISE] < 0.1  # the planted noise, seen by the noise column
    above = res.set_index("key")["above_noise"]
    assert above["strong"] and above["bent"] and above["weak"]


def test_a_stored_batch_resumes_without_running_again(tmp_path: Path) -> None:
    design, first = _morris(tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == first["run"].nunique() > len(design.unit) / 2
    victim = runs[0]
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    seen: list[tuple[int, int]] = []
    again = run_points(sa.points(design, PLANTED), planted, None, "planted-v1", seed=3,
                       out=tmp_path, executor="serial", streams=sa.streams(design),
                       progress=lambda d, n: seen.append((d, n)))
    assert seen[0] == (len(runs) - 1, len(runs))  # one run was missing
    assert seen[-1] == (len(runs), len(runs))
    assert again.equals(first)


def test_local_processes_give_the_same_table_as_serial(tmp_path: Path) -> None:
    _, serial = _morris(None, "serial", trajectories=4)
    _, procs = _morris(tmp_path, "processes", trajectories=4)
    assert serial.equals(procs)


def test_sobol_indices_of_the_planted_function() -> None:
    design = sa.sobol_design(PLANTED, 512, seed=1)
    table = run_points(sa.points(design, PLANTED), planted, None, "planted-v1",
                       executor="serial")
    res = sa.analyse_sobol(design, sa.outputs(table, "y", len(design.unit)), "y").set_index(
        "key")
    assert list(res.index[:3]) == ["strong", "bent", "weak"]
    # Additive: total and first-order agree, and they sum to about one.
    assert res["ST"].sum() == pytest.approx(1.0, abs=0.1)
    assert res.loc["strong", "S1"] == pytest.approx(res.loc["strong", "ST"], abs=0.1)
    assert res.loc["inert", "ST"] < 0.01
    # N = 512 with intervals this narrow is readable; the same function at N = 8 is not.
    assert sa.sobol_caveats(res.reset_index().assign(measure="y"), 512) == []
    small = sa.sobol_design(PLANTED, 8, seed=1)
    stable = run_points(sa.points(small, PLANTED), planted, None, "planted-v1",
                        executor="serial")
    rough = sa.analyse_sobol(small, sa.outputs(stable, "y", len(small.unit)), "y")
    # Its bootstrap interval is no guard: ST of "strong" lands far below 0.84 with a
    # narrow interval; only the rule on N flags it.
    assert rough.set_index("key").loc["strong", "ST"] < 0.5
    assert any("N = 8 is too small" in n for n in sa.sobol_caveats(rough, 8))
    wide = rough.assign(ST_conf=[0.3, 0.0, 0.0, 0.0, 0.0])
    assert any("interval of ST reaches ±0.3" in n for n in sa.sobol_caveats(wide, 1024))


@pytest.mark.parametrize("option", ["--trajectories", "--levels"])
@pytest.mark.parametrize("value", ["0", "1"])
def test_morris_needs_two_trajectories_and_two_levels_and_says_so_once(
        option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from maze.app.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sensitivity", option, value])
    assert exc.value.code == 2
    assert f"argument {option}: must be at least 2" in capsys.readouterr().err


def test_a_small_morris_screening_says_its_ranks_are_unstable() -> None:
    assert sa.morris_caveats(sa.MORRIS_MIN_TRAJECTORIES) == []
    (note,) = sa.morris_caveats(4)
    assert "4 Morris trajectories" in note and "10 to 20" in note


def test_a_scaled_study_sets_the_drawn_values_then_scales_the_city(tmp_path: Path,
                                                                   capsys) -> None:
    """--scale: a point's values are in the full city's units (800 seats drawn, 400 run at
    0.5; the city as written has 600), every run is of the scaled copy, the setting is
    kept, and a factor that is not a positive number is refused before any folder is
    made."""
    from maze.app import api, outcomes
    from maze.app.cli import main

    city = api.load(preset="illustrative")
    study, _ = outcomes.study_for(city, ["migrant_served_share"], scale=0.5)
    at = study.at({"offices.public_school.seats": 800})
    assert city.office("public_school").seats == 600 and at.office("public_school").seats == 400
    assert at.population.households == round(city.population.households * 0.5)
    assert outcomes.study_for(city, ["migrant_served_share"])[0].key() != study.key()
    out = tmp_path / "study"
    assert main(["sensitivity", "illustrative", "--scale", "0.5", "--trajectories", "2",
                 "--keys", "offices.public_school.seats", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert json.loads((out / "study.json").read_text())["scale"] == 0.5
    for factor in ("0", "nan"):
        refused = tmp_path / f"refused-{factor}"
        assert main(["sensitivity", "illustrative", "--scale", factor, "--trajectories", "2",
                     "--out", str(refused)]) == 2
        assert "--scale" in capsys.readouterr().err and not refused.exists()


def test_the_page_says_the_households_a_scaled_study_ran() -> None:
    from maze.app.sensitivity_page import _households

    assert _households({"households": 2000}) == "2000 households"
    text = _households({"households": 2000, "scale": 0.1})
    assert "2000 households in the city as written" in text and "scale 0.1" in text
    assert "about 200 households" in text
