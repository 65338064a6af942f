"""Sweeps: the same table however the runs are spread, resumed after an interruption, twice.

Each test builds a small experiment on the default city (a few hundred households,
so a run takes a fraction of a second) and checks the merged tables, not a summary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from maze.app import api, cli
from maze.app import sweep as sw
from maze.scenario import ScenarioError

SEATS = "offices.public_school.seats"


def experiment_file(folder: Path, body: str = "", name: str = "exp.toml", *,
                    households: int = 200, replications: int = 2, seed: int = 11,
                    grid: str = f'"{SEATS}" = [60, 600]') -> Path:
    path = folder / name
    path.write_text(f"""name = "test sweep"
base = "illustrative"
replications = {replications}
seed = {seed}
households = {households}
by = ["group", "hukou", "contract+lease_own"]
{body}
[grid]
{grid}
""", encoding="utf-8")
    return path


def finished_runs(out: Path) -> dict[str, tuple[int, int]]:
    """Stored runs: id -> (inode, mtime) of its summary, to tell a rewrite from a skip."""
    found = {}
    for d in (out / "runs").iterdir():
        marker = d / "summary.json"
        if not d.name.startswith(".") and marker.is_file():
            st = marker.stat()
            found[d.name] = (st.st_ino, st.st_mtime_ns)
    return found


# -- the plan ----------------------------------------------------------------------------------
def test_seeds_are_spawned_and_stable_when_replications_grow():
    seeds = sw.replication_seeds(5, 4)
    expected = [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
                for c in np.random.SeedSequence(5).spawn(4)]
    assert seeds == expected
    assert len(set(seeds)) == 4
    assert sw.replication_seeds(5, 7)[:4] == seeds
    assert sw.replication_seeds(6, 4) != seeds


def test_plan_crosses_runs_with_grid_and_hashes_what_matters(tmp_path):
    path = experiment_file(tmp_path, """
[[runs]]
tags = { paperwork = "five documents" }
[[runs]]
tags = { paperwork = "booklet only" }
"services.school.documents" = ["household_registration_booklet"]
""", grid=f'"{SEATS}" = [60, 600]\n"mechanisms.class_cap.cap" = [30, 45]', replications=3)
    path.write_text(path.read_text().replace(
        'by = [', '"set"."mechanisms.class_cap" = { office = "public_school", cap = 45, '
                  'held = 65, classes = 10 }\nby = ['))
    exp = sw.load_experiment(path)
    assert exp.parameters == (SEATS, "mechanisms.class_cap.cap", "services.school.documents")
    assert exp.tags == ("paperwork",) and exp.x == "paperwork"
    assert len(exp.points) == 2 * 2 * 2
    plan = exp.plan()
    assert len(plan) == 24 and len({p.run_id for p in plan}) == 24
    first = exp.points[0].scenario
    assert first.office("public_school").seats == 60 and first.population.households == 200
    assert first.mechanisms["class_cap"]["cap"] == 30
    assert exp.points[-1].scenario.services["school"].documents == (
        "household_registration_booklet",)
    # the id follows the scenario content and the seed, nothing else
    a = sw.run_id(first, {SEATS: 60}, {}, 1)
    assert a == sw.run_id(first, {SEATS: 60}, {}, 1)
    assert a != sw.run_id(first, {SEATS: 60}, {}, 2)
    assert a != sw.run_id(exp.points[1].scenario, {SEATS: 60}, {}, 1)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(("grid", "key"), [
    (f'"{SEATS}z" = [1, 2]', "grid.offices.public_school.seatsz"),
    ('"offices.no_such_office.seats" = [1]', "grid.offices.no_such_office.seats"),
    (f'"{SEATS}" = [10, -5]', f"grid.{SEATS}"),
    ('"mechanisms.class_cap.capp" = [30]', "grid.mechanisms.class_cap.capp"),
    (f'"{SEATS}" = []', f"grid.{SEATS}"),
])
def test_bad_override_is_refused_with_one_line_and_exit_2(tmp_path, capsys, grid, key):
    path = experiment_file(tmp_path, grid=grid)
    out = tmp_path / "out"
    code = cli.main(["sweep", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"maze: error: {path}: {key}")
    assert not out.exists()  # refused before anything ran


def test_bad_experiment_keys_are_refused(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('base = "illustrative"\nreplicatons = 3\n')
    with pytest.raises(ScenarioError, match=r"e\.toml: replicatons: unknown key"):
        sw.load_experiment(path)
    path.write_text('base = "nowhere.toml"\n')
    with pytest.raises(ScenarioError, match=r"base: scenario file .* not found"):
        sw.load_experiment(path)
    path.write_text('base = "illustrative"\nby = ["shoe_size"]\n')
    with pytest.raises(ScenarioError, match=r"by\.0: cannot group by 'shoe_size'"):
        sw.load_experiment(path)
    path.write_text('base = "illustrative"\n[[runs]]\n"population.households" = 10\n'
                    '[[runs]]\n"population.groups.0.share" = 0.9\n')
    with pytest.raises(ScenarioError, match=r"runs\.1\.population\.groups\.0\.share: "
                                            r"population.groups: group shares must sum to 1"):
        sw.load_experiment(path)


def test_base_scenario_file_is_relative_to_the_experiment(tmp_path):
    from offices import presets

    (tmp_path / "cities").mkdir()
    shutil.copy(presets.path("illustrative"), tmp_path / "cities" / "mine.toml")
    path = tmp_path / "e.toml"
    path.write_text('base = "cities/mine.toml"\nhouseholds = 50\n')
    exp = sw.load_experiment(path)
    assert exp.base == "cities/mine.toml"
    assert exp.points[0].scenario.population.households == 50


# -- the same table --------------------------------------------------------------------------
def test_same_experiment_gives_the_same_table_twice(tmp_path):
    path = experiment_file(tmp_path)
    a = sw.sweep(path, tmp_path / "a", executor="serial")
    b = sw.sweep(path, tmp_path / "b", executor="serial")
    memory = sw.sweep(path, None, executor="serial")
    assert a.computed == 4 and a.reused == 0
    assert_frame_equal(a.runs, b.runs)
    assert_frame_equal(a.groups, b.groups)
    assert_frame_equal(a.runs, memory.runs)
    assert_frame_equal(a.groups, memory.groups)
    for name in ("runs.parquet", "groups.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the table is what the stored runs say, one row per run, in plan order
    runs = a.runs
    assert list(runs[SEATS]) == [60, 60, 600, 600]
    assert list(runs["replication"]) == [0, 1, 0, 1]
    assert list(runs["seed"]) == sw.replication_seeds(11, 2) * 2
    for row in runs.itertuples():
        stored = json.loads((tmp_path / "a" / "runs" / row.run / "summary.json").read_text())
        assert stored["seed"] == row.seed and stored["served_share"] == row.served_share
    assert runs["seed"].nunique() == 2 and runs["served_share"].between(0, 1).all()
    # groups: each grouping splits every run's requests completely
    g = a.groups
    assert set(g["by"]) == {"group", "hukou", "contract+lease_own"}
    totals = g.groupby(["run", "by"])["requests"].sum().unstack()
    for by in totals.columns:
        assert (totals[by].to_numpy() == runs.set_index("run").loc[totals.index,
                                                                    "requests"]).all()
    assert set(g.loc[g["by"] == "contract+lease_own", "group"]) <= {
        "contract & lease_own", "contract & no lease_own", "no contract & lease_own",
        "no contract & no lease_own"}
    assert set(g.loc[g["by"] == "hukou", "group"]) == {"local", "migrant"}


def test_local_dask_cluster_gives_the_same_table_as_local_processes(tmp_path):
    from distributed import Client, LocalCluster

    path = experiment_file(tmp_path)
    local = sw.sweep(path, tmp_path / "local", executor="processes", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        dask = sw.sweep(path, tmp_path / "dask", executor=client)
    assert local.computed == dask.computed == 4
    assert_frame_equal(local.runs, dask.runs)
    assert_frame_equal(local.groups, dask.groups)
    assert (sorted(p.name for p in (tmp_path / "local" / "runs").iterdir())
            == sorted(p.name for p in (tmp_path / "dask" / "runs").iterdir()))


# -- resuming ------------------------------------------------------------------------------------
def test_resume_recomputes_no_finished_run_and_redoes_a_half_written_one(tmp_path):
    small = experiment_file(tmp_path, replications=2, name="small.toml")
    out = tmp_path / "out"
    first = sw.sweep(small, out, executor="serial")
    assert first.computed == 4
    before = finished_runs(out)
    # a crash in the middle of writing: one folder without its summary, one partial folder
    broken = sorted(before)[0]
    (out / "runs" / broken / "summary.json").unlink()
    (out / "runs" / ".x.partial-123").mkdir()
    (out / "runs" / ".x.partial-123" / "summary.json").write_text("{}")
    # the same experiment with more replications: the first two seeds are kept
    big = experiment_file(tmp_path, replications=3, name="big.toml")
    seen = []
    resumed = sw.sweep(big, out, executor="serial", progress=lambda d, n: seen.append((d, n)))
    assert resumed.reused == 3 and resumed.computed == 3
    assert seen[0] == (3, 6) and seen[-1] == (6, 6)
    after = finished_runs(out)
    for run, stamp in before.items():
        if run != broken:
            assert after[run] == stamp, f"run {run} was recomputed"
    assert broken in after and len(after) == 6
    fresh = sw.sweep(big, tmp_path / "fresh", executor="serial")
    assert_frame_equal(resumed.runs, fresh.runs)
    assert_frame_equal(resumed.groups, fresh.groups)


def _direct_children(pid: int) -> list[int]:
    """The children of a process, from /proc (Linux)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_interrupted_command_resumes_without_losing_or_redoing_runs(tmp_path, how):
    path = experiment_file(tmp_path, households=1500, replications=4,
                           grid=f'"{SEATS}" = [60, 300, 600]')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "maze.app.cli", "sweep", str(path), "--out", str(out),
           "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "runs").is_dir() and len(finished_runs(out)) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep finished before it could be interrupted"
    if how == "kill":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if how == "ctrl-c":
        assert proc.returncode == 130 and "Traceback" not in err
        assert "interrupted" in err
    at_stop = finished_runs(out)
    assert 2 <= len(at_stop) < 12
    assert not (out / "runs.parquet").exists()
    resumed = sw.sweep(path, out, executor="serial")
    assert resumed.reused == len(at_stop) and resumed.computed == 12 - len(at_stop)
    after = finished_runs(out)
    assert all(after[run] == stamp for run, stamp in at_stop.items())
    assert len(after) == 12 and len(resumed.runs) == 12
    # a run stored by the interrupted process is whole: it matches the same run made now
    exp = sw.load_experiment(path)
    spec = next(s for s in exp.plan() if s.run_id in at_stop)
    again = api.run(exp.points[spec.point].scenario, spec.seed)
    stored = json.loads((out / "runs" / spec.run_id / "summary.json").read_text())
    assert stored == json.loads(json.dumps(again.summary))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_a_killed_worker_process_is_replaced_and_the_sweep_completes(tmp_path):
    import threading

    path = experiment_file(tmp_path, households=2000, replications=4,
                           grid=f'"{SEATS}" = [60, 600]')
    out = tmp_path / "out"
    killed = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            if (out / "runs").is_dir() and finished_runs(out):
                servers = [p for p in _direct_children(os.getpid())
                           if "forkserver" in Path(f"/proc/{p}/cmdline").read_text()]
                workers = [w for s in servers for w in _direct_children(s)]
                if workers:
                    os.kill(workers[-1], signal.SIGKILL)
                    killed.append(workers[-1])
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        result = sw.sweep(path, out, executor="processes", workers=2)
    finally:
        stop.set()
        t.join()
    assert killed, "no worker was running when a run had finished"
    assert result.restarts == 1  # the pool noticed and was replaced
    assert len(result.runs) == 8 and len(finished_runs(out)) == 8
    fresh = sw.sweep(path, None, executor="serial")
    assert_frame_equal(result.runs, fresh.runs)


# -- the command and its page -------------------------------------------------------------
def test_command_writes_tables_and_an_escaped_offline_page(tmp_path, capsys):
    from offices import presets

    city = tmp_path / "city.toml"
    city.write_text(presets.text("illustrative").replace(
        'name = "illustrative"', 'name = "<script>alert(1)</script>"', 1))
    path = tmp_path / "e.toml"
    path.write_text('name = "<b>caps</b>"\nbase = "city.toml"\nhouseholds = 150\n'
                    'replications = 2\n[[runs]]\ntags = { label = "<img src=x>" }\n'
                    f'"{SEATS}" = 50\n[[runs]]\ntags = {{ label = "b" }}\n"{SEATS}" = 500\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    runs, groups = sw.read_tables(out)
    assert len(runs) == 4 and list(runs["label"]) == ["<img src=x>"] * 2 + ["b"] * 2
    assert (runs["scenario"] == "<script>alert(1)</script>").all()
    page = (out / "sweep.html").read_text()
    assert "<script>alert(1)" not in page and "<img src=x>" not in page
    assert "&lt;img src=x&gt;" in page and "&lt;b&gt;caps" in page
    assert '<script src="http' not in page and page.count("plotly.js v") >= 1
    assert "served in the city" in page
    exp = json.loads((out / "experiment.json").read_text())
    assert exp["lever"] == "label" and exp["replications"] == 2
    # a second run of the command computes nothing and rewrites the same table
    before = (out / "runs.parquet").read_bytes()
    assert cli.main(["sweep", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 computed, 4 already stored" in printed
    assert (out / "runs.parquet").read_bytes() == before


def test_confidence_bands_follow_the_t_distribution():
    df = pd.DataFrame({"x": [1, 1, 1, 2, 2, 2], "m": [1.0, 2.0, 3.0, 5.0, 5.0, np.nan]})
    b = sw.bands(df, "x", "m").set_index("x")
    assert (b["measure"] == "m").all()
    assert b.loc[1, "n"] == 3 and b.loc[1, "mean"] == pytest.approx(2.0)
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert b.loc[1, "low"] == pytest.approx(2.0 - half)
    assert b.loc[1, "high"] == pytest.approx(2.0 + half)
    assert b.loc[2, "n"] == 2 and b.loc[2, "low"] == pytest.approx(5.0)


def test_kept_tables_are_stored_and_read_back_with_the_run_parameters(tmp_path):
    path = experiment_file(tmp_path, households=100, replications=1)
    out = tmp_path / "out"
    plain = sw.sweep(path, out, executor="serial")
    with pytest.raises(ValueError, match="keep"):
        sw.stored(plain, "journeys")
    stamps = finished_runs(out)
    path.write_text(path.read_text().replace("by = [", 'keep = ["journeys"]\nby = ['))
    kept = sw.sweep(path, out, executor="serial")
    assert kept.computed == 2  # stored without journeys: not what this experiment asks
    assert all(finished_runs(out)[r] != s for r, s in stamps.items())
    j = sw.stored(kept, "journeys")
    assert set(j[SEATS]) == {60, 600} and (j["seed"] == kept.runs["seed"].iloc[0]).all()
    counts = j.groupby("run").size()
    assert (counts == kept.runs.set_index("run").loc[counts.index, "requests"]).all()
    assert_frame_equal(kept.runs, plain.runs)
    path.write_text(path.read_text().replace('keep = ["journeys"]', 'keep = ["tapes"]'))
    with pytest.raises(ScenarioError, match=r"keep\.0"):
        sw.load_experiment(path)


def test_a_run_that_raises_is_reported_and_the_others_are_kept(tmp_path, monkeypatch):
    path = experiment_file(tmp_path, households=100)
    out = tmp_path / "out"
    bad = sw.load_experiment(path).plan()[1].run_id
    real = sw.compute

    def flaky(task):  # noqa: ANN001, ANN202
        if task.run_id == bad:
            raise RuntimeError("simulated bug")
        return real(task)

    monkeypatch.setattr(sw, "compute", flaky)
    with pytest.raises(sw.SweepError, match=rf"1 of 4 runs failed .*{bad}.*simulated bug"):
        sw.sweep(path, out, executor="serial")
    assert set(finished_runs(out)) == {s.run_id for s in sw.load_experiment(path).plan()} - {bad}
    assert not (out / "runs.parquet").exists()
    monkeypatch.setattr(sw, "compute", real)
    done = sw.sweep(path, out, executor="serial")
    assert done.computed == 1 and done.reused == 3 and len(done.runs) == 4


def test_the_ten_million_experiment_is_ten_districts_scaled_as_the_city_benchmark() -> None:
    """experiments/ten_million.toml: ten replications of a million households, each office
    scaled as benchmarks/bench_city.py scales them (clerks and seats x households/2,000)."""
    path = Path(__file__).resolve().parents[1] / "experiments" / "ten_million.toml"
    exp = sw.load_experiment(path)
    assert exp.replications == 10 and len(exp.points) == 1
    city = exp.points[0].scenario
    assert city.population.households == 1_000_000
    base = api.load(preset="beijing")
    factor = 1_000_000 / base.population.households
    for office in base.offices:
        scaled = city.office(office.name)
        assert scaled.clerks == max(1, round(office.clerks * factor)), office.name
        if office.seats is not None:
            assert scaled.seats == max(1, round(office.seats * factor)), office.name


def test_the_summary_is_readable_in_80_columns(tmp_path, capsys, monkeypatch):
    """Every header word whole, every line within the terminal, long keys spelled out, and
    measures that do not fit beside the settings in a second table (nothing cut: '…')."""
    grid = (f'"{SEATS}" = [60, 600]\n"population.days_between_visits.mean" = [1.0, 3.0]\n'
            '"population.visit_cost_days" = [0.5, 1.0]')
    path = experiment_file(tmp_path, grid=grid, households=60, replications=1)
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert max(len(x) for x in lines) <= 80 and "…" not in printed
    words = {w for line in lines for w in line.replace("┃", " ").split()}
    assert {"served", "alternative", "sent", "away", "gave", "up", "median", "days", "(served)",
            "visits"} <= words
    for key in (SEATS, "population.days_between_visits.mean", "population.visit_cost_days"):
        assert any(line.endswith(f" = {key}") for line in lines), key
    assert "test sweep: means over 1 replication(s)" in printed

    from io import StringIO

    from rich.console import Console

    from maze.app.commands.sweep import summary_lines

    result = sw.sweep(path, tmp_path / "out", executor="serial")
    narrow = Console(file=StringIO(), width=40)
    for line in summary_lines(result, 40):
        narrow.print(line)
    text = narrow.file.getvalue()
    assert max(len(x) for x in text.splitlines()) <= 40 and "…" not in text
    assert "(1 of " in text and "(2 of " in text  # the measures split over tables
    assert text.count("alternative") >= 2 and "visits" in text


def test_a_summary_without_runs_says_so(tmp_path) -> None:
    """summary_lines is public: a result with no rows gets one line, not a TypeError from
    sizing the columns of an empty table."""
    import pandas as pd

    from maze.app.commands.sweep import SUMMARY, summary_lines
    from maze.batch.tables import SweepResult

    exp = sw.load_experiment(experiment_file(tmp_path, grid='"population.households" = [60]'))
    columns = [*exp.tags, *exp.parameters, *(c for c, _, _ in SUMMARY)]
    runs = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    result = SweepResult(runs=runs, groups=pd.DataFrame(), experiment=exp)
    assert summary_lines(result, 80) == ["test sweep: no runs, so no means to show"]


@pytest.mark.parametrize(("limit", "says"), [("abc", "--max-memory: not a size: 'abc'"),
                                             ("1K", "above the memory limit of 1.0 KB")])
def test_a_refused_memory_limit_creates_no_folder(tmp_path, capsys, limit, says):
    """The folder is checked before the runs but created only once the memory check
    passes; the refusal is one line on stderr (no blank line from the progress bar)."""
    path = experiment_file(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--max-memory", limit]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maze: error: ") and says in err and err.count("\n") == 1
    assert not out.exists()


def test_the_summary_shows_runs_by_their_tags_in_the_experiments_order(tmp_path, capsys,
                                                                       monkeypatch):
    """[[runs]] labelled by a tag: one row per tag value in the file's order, the values
    the tag stands for left to runs.parquet; a run that leaves a key as the base city has
    it shows '(base)', not 'nan'."""
    docs = '"services.school.documents"'
    body = ('lever = "papers"\n'
            f'[[runs]]\ntags = {{ papers = "none" }}\n{docs} = []\n'
            '[[runs]]\ntags = { papers = "as written" }\n'
            f'[[runs]]\ntags = {{ papers = "two" }}\n{docs} = ["household_registration_booklet",'
            ' "hometown_residence_proof"]\n')
    path = experiment_file(tmp_path, body, households=60, replications=1, grid="")
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    rows = [line.split("│")[1].strip() for line in printed.splitlines()
            if line.startswith("│")]
    assert rows == ["none", "as written", "two"]
    assert "household_registration_booklet" not in printed and "nan" not in printed
    assert "each papers sets services.school.documents (runs.parquet)" in printed
    untagged = experiment_file(tmp_path, body.replace("tags = { papers = ", "# ")
                               .replace('lever = "papers"\n', ""), name="untagged.toml",
                               households=60, replications=1, grid="")
    assert cli.main(["sweep", str(untagged), "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "(base)" in printed and "nan" not in printed
    # crossed with a grid, the key a tag sets is still left out, the grid's key kept
    crossed = experiment_file(tmp_path, body, name="crossed.toml", households=60,
                              replications=1)
    assert cli.main(["sweep", str(crossed), "--out", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "household_registration_booklet" not in printed and f"A = {SEATS}" in printed
    assert len([line for line in printed.splitlines() if "│ 600 " in line]) == 3


def test_an_experiment_can_run_a_scaled_copy_of_a_history(tmp_path: Path) -> None:
    """`scale` makes a history affordable to sweep (households alone sets its first year
    only): every count of each setting, after the overrides, is times the factor, so an
    override stays in the full city's units."""
    path = tmp_path / "h.toml"
    path.write_text('base = "beijing_history"\nscale = 0.1\n'
                    '[set]\n"offices.public_school.seats" = 2000\n'
                    '[grid]\n"mechanisms.class_cap.enabled" = [false, true]\n',
                    encoding="utf-8")
    exp = sw.load_experiment(path)
    full = api.load(preset="beijing_history")
    assert len(exp.points) == 2
    for point in exp.points:
        s = point.scenario
        assert s.population.households == round(full.population.households * 0.1)
        assert s.lives.in_migration == round(full.lives.in_migration * 0.1)
        assert {o.name: o.seats for o in s.offices}["public_school"] == 200


@pytest.mark.parametrize("scale,says", [
    ("0.013", "scale: mechanisms.class_cap.held: 60 x 0.013"),
    ("0", "scale: Input should be greater than 0"),
])
def test_a_scale_that_changes_the_city_is_refused_naming_the_file(
        tmp_path: Path, scale: str, says: str) -> None:
    path = tmp_path / "h.toml"
    path.write_text(f'base = "beijing_history"\nscale = {scale}\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        sw.load_experiment(path)
    assert str(exc.value).startswith(f"{path}: {says}")


def test_a_folder_named_offices_where_the_command_runs_is_not_imported(tmp_path: Path) -> None:
    """The local workers' server is started with the working folder first on its import
    path (Python 3.11's forkserver): a user's folder called `offices` (or `maze`) there was
    imported in place of the package, and every run of the sweep failed."""
    command = Path(sys.executable).with_name("maze")
    if not command.exists():
        pytest.skip("the maze command is not installed beside this Python")
    (tmp_path / "offices").mkdir()
    (tmp_path / "maze").mkdir()
    path = experiment_file(tmp_path, households=30, replications=1)
    r = subprocess.run([str(command), "sweep", str(path), "--out", str(tmp_path / "out"),
                        "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 2
