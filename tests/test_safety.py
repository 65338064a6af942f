"""maze never destroys what it did not write, and refuses bad input before it runs.

Each test reproduces one way a user could lose files or get a traceback (see
docs/explanation/safety.md) and checks the refusal: one line naming the file or key,
exit code 2, nothing simulated, nothing of the user's touched.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from maze import inputs, outputs, resources, storage
from maze import scenario as sc
from maze.app import api
from maze.app.cli import main
from maze.scenario import ScenarioError
from offices import presets

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def city(households: int = 30, **city_keys) -> dict:  # noqa: ANN003
    data = tomllib.loads(presets.text(presets.DEFAULT))
    data["population"]["households"] = households
    data["city"].update(city_keys)
    return data


def write_city(path: Path, data: dict) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def with_key(data: dict, dotted: str, value) -> dict:  # noqa: ANN001
    """``data`` with the value at a dotted key (list items by index) replaced."""
    node = data
    *path, last = dotted.split(".")
    for part in path:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return data


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory of our own, with a home folder beside it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return work


# -- what maze replaces ------------------------------------------------------------------------

def test_a_folder_maze_did_not_write_is_refused_and_kept(sandbox: Path, capsys) -> None:  # noqa: ANN001
    (sandbox / "mydocs" / "sub").mkdir(parents=True)
    (sandbox / "mydocs" / "sub" / "important.txt").write_text("keep")
    before = tree(sandbox)
    code = main(["run", "--households", "30", "--quiet", "--out", "mydocs"])
    one_line_error(capsys, code, "mydocs", "not written by maze")
    assert tree(sandbox) == before


@pytest.mark.parametrize("where", [".", "..", "/", "~", "cwd-abs", "parent-abs"])
def test_the_current_folder_its_parents_root_and_home_are_refused(
        sandbox: Path, capsys, where: str) -> None:  # noqa: ANN001
    target = {"~": str(Path.home()), "cwd-abs": str(sandbox),
              "parent-abs": str(sandbox.parent)}.get(where, where)
    (sandbox / "keep.txt").write_text("mine")
    code = main(["run", "--households", "30", "--quiet", "--out", target])
    one_line_error(capsys, code, "will not write its output over it")
    assert (sandbox / "keep.txt").read_text() == "mine"


def test_home_is_refused_even_when_empty(sandbox: Path, capsys) -> None:  # noqa: ANN001
    code = main(["run", "--households", "30", "--quiet", "--out", str(Path.home())])
    one_line_error(capsys, code, "home folder")


def test_a_file_a_link_or_a_file_on_the_way_is_refused(sandbox: Path, capsys) -> None:  # noqa: ANN001
    (sandbox / "notes.txt").write_text("mine")
    (sandbox / "real").mkdir()
    (sandbox / "link").symlink_to(sandbox / "real")
    for out, says in (("notes.txt", "not a folder"), ("link", "symbolic link"),
                      ("notes.txt/run", "is a file")):
        code = main(["run", "--households", "30", "--quiet", "--out", out])
        one_line_error(capsys, code, says)
    assert (sandbox / "notes.txt").read_text() == "mine" and (sandbox / "link").is_symlink()


def test_a_maze_folder_is_replaced_but_not_with_a_user_file_inside(sandbox: Path,
                                                                  capsys) -> None:  # noqa: ANN001
    assert main(["run", "--households", "30", "--quiet", "--out", "r"]) == 0
    marker = outputs.read_marker(sandbox / "r")
    assert marker["kind"] == "run" and "summary.json" in marker["files"]
    assert main(["run", "--households", "31", "--quiet", "--out", "r"]) == 0  # replaced
    assert json.loads((sandbox / "r" / "summary.json").read_text())["households"] == 31
    (sandbox / "r" / "my_notes.md").write_text("mine")
    code = main(["run", "--households", "32", "--quiet", "--out", "r"])
    one_line_error(capsys, code, "my_notes.md", "did not write")
    assert (sandbox / "r" / "my_notes.md").read_text() == "mine"
    # A file maze writes into a run folder (an export) is maze's and goes with the folder.
    (sandbox / "r" / "my_notes.md").unlink()
    assert main(["export", "r"]) == 0
    assert "events.xes" in outputs.read_marker(sandbox / "r")["exports"]
    assert main(["run", "--households", "33", "--quiet", "--out", "r"]) == 0
    capsys.readouterr()


def test_an_export_replaces_an_export_but_never_a_folder_s_own_table(sandbox: Path,
                                                                     capsys) -> None:  # noqa: ANN001
    assert main(["run", "--households", "30", "--quiet", "--out", "r"]) == 0
    summary = (sandbox / "r" / "summary.json").read_bytes()
    journeys = (sandbox / "r" / "journeys.parquet").read_bytes()
    for name in ("summary.json", "journeys.parquet", outputs.MARKER):
        code = main(["export", "r", "--format", "csv", "--out", f"r/{name}"])
        one_line_error(capsys, code, name, "will not replace")
    assert (sandbox / "r" / "summary.json").read_bytes() == summary
    assert (sandbox / "r" / "journeys.parquet").read_bytes() == journeys
    # its own earlier export, in the folder, it replaces
    assert main(["export", "r", "--format", "csv", "--out", "r/paths.csv"]) == 0
    assert main(["export", "r", "--format", "csv", "--out", "r/paths.csv"]) == 0
    # and into a sweep folder, a sweep's table is not an export either
    outputs.claim_folder(sandbox / "s", "sweep", ["runs.parquet"])
    (sandbox / "s" / "runs.parquet").write_bytes(b"table")
    code = main(["export", "r", "--out", "s/runs.parquet"])
    one_line_error(capsys, code, "runs.parquet", "will not replace")
    assert (sandbox / "s" / "runs.parquet").read_bytes() == b"table"
    # a folder that does not exist is not made for a single file
    code = main(["export", "r", "--out", "nowhere/at/all.xes"])
    one_line_error(capsys, code, "does not exist")
    assert not (sandbox / "nowhere").exists()


def test_a_sweep_folder_is_not_replaced_by_a_run_nor_a_run_by_a_sweep(
        sandbox: Path, capsys) -> None:  # noqa: ANN001
    outputs.claim_folder(sandbox / "s", "sweep")
    (sandbox / "s" / "runs.parquet").write_bytes(b"x")
    code = main(["run", "--households", "30", "--quiet", "--out", "s"])
    one_line_error(capsys, code, "sweep folder")


def test_names_from_files_stay_inside_runs_and_sweeps(sandbox: Path, capsys) -> None:  # noqa: ANN001
    victim = sandbox.parent / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    for name in ("../victim", str(victim), "..", ".", "a/../../victim", "\u202e..\x00/x"):
        path = write_city(sandbox / "c.toml", city(name=name))
        assert main(["run", str(path), "--quiet"]) == 0, capsys.readouterr().err
        made = [p for p in (sandbox / "runs").iterdir() if not p.name.startswith(".")]
        assert all(p.parent == sandbox / "runs" for p in made)
    assert (victim / "precious.txt").read_text() == "mine"
    assert sorted(os.listdir(sandbox.parent)) == ["home", "victim", "work"]


def test_an_experiment_name_stays_inside_sweeps(sandbox: Path, capsys) -> None:  # noqa: ANN001
    exp = sandbox / "e.toml"
    exp.write_text('name = "../../x"\nbase = "illustrative"\nhouseholds = 20\n')
    assert main(["sweep", str(exp), "--quiet"]) == 0, capsys.readouterr().err
    assert not (sandbox.parent.parent / "x").exists() and not (sandbox.parent / "x").exists()
    assert [p.name for p in (sandbox / "sweeps").iterdir()] == ["x"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_a_slug_is_one_safe_name(name: str) -> None:
    s = outputs.slug(name)
    assert 1 <= len(s) <= outputs.SLUG_LENGTH
    assert "/" not in s and "\\" not in s and "\x00" not in s and ".." not in s
    assert not s.startswith((".", "-"))
    assert all(c.isprintable() for c in s)
    assert (Path("runs") / s).parent == Path("runs")
    assert outputs.slug(s) == s  # stable


def test_sweep_out_an_existing_file_is_one_line(sandbox: Path, capsys) -> None:  # noqa: ANN001
    exp = sandbox / "e.toml"
    exp.write_text('base = "illustrative"\nhouseholds = 20\n')
    (sandbox / "taken").write_text("mine")
    code = main(["sweep", str(exp), "--quiet", "--out", "taken"])
    one_line_error(capsys, code, "taken")
    assert (sandbox / "taken").read_text() == "mine"
    (sandbox / "docs").mkdir()
    (sandbox / "docs" / "a.txt").write_text("mine")
    code = main(["sweep", str(exp), "--quiet", "--out", "docs"])
    one_line_error(capsys, code, "not written by maze")


def test_export_never_overwrites_a_file_maze_did_not_write(sandbox: Path, capsys) -> None:  # noqa: ANN001
    assert main(["run", "--households", "30", "--quiet", "--out", "r"]) == 0
    (sandbox / "log.csv").write_text("mine")
    code = main(["export", "r", "--format", "csv", "--out", "log.csv"])
    one_line_error(capsys, code, "log.csv", "not written by maze")
    assert (sandbox / "log.csv").read_text() == "mine"
    assert main(["export", "r", "--format", "csv", "--out", "new.csv"]) == 0
    assert main(["export", "r", "--format", "csv"]) == 0
    assert main(["export", "r", "--format", "csv"]) == 0  # maze's own: replaced
    capsys.readouterr()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_file_modes_follow_the_umask(sandbox: Path, umask: int, capsys) -> None:  # noqa: ANN001
    old = os.umask(umask)
    try:
        assert main(["run", "--households", "30", "--quiet", "--out", "r"]) == 0
        assert main(["export", "r"]) == 0
        assert main(["export", "r", "--format", "csv", "--out", "alone.csv"]) == 0
        exp = sandbox / "e.toml"
        exp.write_text('base = "illustrative"\nhouseholds = 20\n')
        from maze.app import sweep as sw

        sw.sweep(exp, sandbox / "s", executor="serial")
    finally:
        os.umask(old)
    capsys.readouterr()
    files = [p for p in (*(sandbox / "r").iterdir(), sandbox / "alone.csv",
                         *(sandbox / "s").rglob("*")) if p.is_file()]
    assert any(p.name == "runs.parquet" for p in files) and any(
        p.name == "events.xes" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p
    for p in [sandbox / "r", sandbox / "s", *(sandbox / "s" / "runs").iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o777 & ~umask, p


# -- the destination is checked before simulating ---------------------------------------------

def test_too_little_disk_is_refused_before_simulating(sandbox: Path, capsys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import shutil

    def no_run(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("simulated although the disk was full")

    full = shutil._ntuple_diskusage(10**9, 10**9, 1000)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: full)
    monkeypatch.setattr(api, "run", no_run)
    code = main(["run", "--households", "30", "--quiet", "--out", "r"])
    one_line_error(capsys, code, "not enough free disk space", "1.0 KB free")


def test_an_unwritable_folder_is_refused_before_simulating(sandbox: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    (sandbox / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if Path(p) == sandbox / "ro"
                        else real(p, m, **k))
    monkeypatch.setattr(api, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    code = main(["run", "--households", "30", "--quiet", "--out", "ro/r"])
    one_line_error(capsys, code, "permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_read_only_folder_for_real(sandbox: Path, capsys) -> None:  # noqa: ANN001
    (sandbox / "ro").mkdir()
    (sandbox / "ro").chmod(0o555)
    try:
        code = main(["run", "--households", "30", "--quiet", "--out", "ro/r"])
    finally:
        (sandbox / "ro").chmod(0o755)
    one_line_error(capsys, code, "permission denied")


@pytest.mark.parametrize("errno_", [errno.ENOSPC, errno.EACCES, errno.EBUSY, errno.EIO])
def test_a_failure_while_writing_is_one_line_and_keeps_the_previous_output(
        sandbox: Path, capsys, monkeypatch: pytest.MonkeyPatch, errno_: int) -> None:  # noqa: ANN001
    assert main(["run", "--households", "30", "--quiet", "--out", "r"]) == 0
    before = tree(sandbox / "r")

    def broken(df, path):  # noqa: ANN001, ANN202
        raise OSError(errno_, os.strerror(errno_), str(path))

    monkeypatch.setattr(storage, "write_parquet", broken)
    code = main(["run", "--households", "31", "--quiet", "--out", "r"])
    one_line_error(capsys, code, "previous output, if any, is unchanged")
    assert tree(sandbox / "r") == before
    assert [p.name for p in sandbox.iterdir()] == ["r"]  # no temporary left


def test_a_real_write_failure_from_the_kernel(tmp_path: Path) -> None:
    """A file-size limit makes the kernel refuse the write (EFBIG), as a full disk would."""
    out = tmp_path / "r"
    base = [sys.executable, "-m", "maze.app.cli", "run", "--households", "400", "--quiet",
            "--out", str(out)]
    assert subprocess.run(base, cwd=tmp_path, env=ENV, timeout=300).returncode == 0
    before = tree(out)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    r = subprocess.run([*base[:5], "500", *base[6:]], cwd=tmp_path, env=ENV, timeout=300,
                       capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "File too large" in r.stderr, r.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


# -- validation that matches the run -----------------------------------------------------------

NEGATIVE = [{"dist": "normal", "mean": 0.1, "sd": 5.0}, {"dist": "uniform", "low": -3, "high": 1},
            {"dist": "triangular", "low": -1, "mode": 0, "high": 1},
            {"dist": "constant", "value": -0.5}, {"dist": "normal", "mean": 1, "sd": 1, "low": -1}]


@pytest.mark.parametrize("dist", NEGATIVE)
@pytest.mark.parametrize("where", ["offices.0.service_time", "population.days_between_visits"])
def test_times_that_can_be_negative_are_refused(dist: dict, where: str) -> None:
    data = with_key(city(), where, dist)
    with pytest.raises(ScenarioError) as info:
        sc.from_dict(data, source="c.toml")
    shown = where.replace("offices.0.", "offices.public_school.")  # an office by its name
    assert str(info.value).startswith(f"c.toml: {shown}: ") and "negative" in str(info.value)


def test_a_normal_time_floored_at_zero_runs() -> None:
    data = city()
    data["offices"][0]["service_time"] = {"dist": "normal", "mean": 0.1, "sd": 5.0, "low": 0.0}
    api.run(sc.from_dict(data), 0)


def test_withdrawal_planning_days_cannot_be_negative() -> None:
    data = city()
    data["mechanisms"]["withdrawal"] = {"planning_days": {"dist": "uniform", "low": -5,
                                                          "high": 5}}
    with pytest.raises(ScenarioError) as info:
        api.load(path=None, overrides={"mechanisms.withdrawal": data["mechanisms"]["withdrawal"]})
    assert "mechanisms.withdrawal" in str(info.value) or "planning_days" in str(info.value)


@pytest.mark.parametrize(("where", "value", "says"), [
    ("offices.0.service_time", {"dist": "lognormal", "mean": 1e-200, "sd": 1.0}, "at least"),
    ("offices.0.service_time", {"dist": "gamma", "mean": 1e-200, "sd": 1.0}, "at least"),
    ("offices.0.service_time", {"dist": "gamma", "mean": 1.0, "sd": 1e-300}, "sd must be 0"),
    ("offices.0.service_time", {"dist": "exponential", "mean": 5e-324}, "mean of at least"),
    ("city.horizon", 5e-324, "greater than or equal to 0.01"),
    ("city.start_date", datetime.date(9999, 12, 31), "2150-12-31"),
    ("city.start_date", datetime.date(1, 1, 1), "1900-01-01"),
    ("population.households", "50", "without quotes"),
    ("population.households", True, "not true or false"),
    ("population.households", 50.5, "valid integer"),
    ("offices.0.clerks", True, "not true or false"),
    ("offices.0.price", "3", "without quotes"),
    ("population.households", 10**5000, "cannot be read"),
], ids=lambda v: type(v).__name__ if isinstance(v, int) and v > 10**9 else None)
def test_bad_values_are_refused_with_their_key(where: str, value, says: str) -> None:  # noqa: ANN001
    data = with_key(city(), where, value)
    with pytest.raises(ScenarioError) as info:
        sc.from_dict(data, source="c.toml")
    msg = str(info.value)
    assert says in msg and len(msg.splitlines()) == 1, msg
    if "cannot be read" not in says:
        shown = where.replace("offices.0.", "offices.public_school.")  # an office by its name
        assert msg.startswith(f"c.toml: {shown}"), msg


@pytest.mark.parametrize("weights", [{"primary": float("inf")}, {"primary": 1e308, "middle": 1e308},
                                     {"primary": 1e-300}, {"primary": float("nan")},
                                     {"primary": -1.0, "middle": 2.0}])
def test_bad_category_weights_are_refused(weights: dict) -> None:
    data = city()
    data["population"]["groups"][0]["attributes"]["education"] = weights
    with pytest.raises(ScenarioError) as info:
        sc.from_dict(data, source="c.toml")
    assert "population.groups.informal_worker.attributes" in str(info.value)
    assert "weights" in str(info.value)


def test_the_latest_date_and_longest_horizon_run_export_and_tell(sandbox: Path, capsys) -> None:  # noqa: ANN001
    path = write_city(sandbox / "late.toml", city(households=20, start_date=sc.MAX_START_DATE,
                                                   horizon=sc.MAX_HORIZON_DAYS))
    assert main(["run", str(path), "--quiet", "--out", "r", "--no-report"]) == 0
    assert main(["export", "r"]) == 0 and main(["export", "r", "--format", "csv"]) == 0
    assert main(["story", str(path), "--household", "0"]) == 0
    early = write_city(sandbox / "early.toml", city(households=20,
                                                    start_date=sc.MIN_START_DATE))
    assert main(["run", str(early), "--quiet", "--out", "e", "--no-report"]) == 0
    assert main(["export", "e"]) == 0
    capsys.readouterr()


def test_money_that_overflows_is_an_error_not_null(sandbox: Path, capsys) -> None:  # noqa: ANN001
    data = city()
    for svc in data["services"].values():
        svc["city_cost"] = 1e308
    path = write_city(sandbox / "rich.toml", data)
    code = main(["run", str(path), "--quiet", "--out", "r"])
    one_line_error(capsys, code, "overflows")
    assert not (sandbox / "r").exists()


# -- input files -------------------------------------------------------------------------------

def test_json_duplicate_keys_and_huge_integers(tmp_path: Path) -> None:
    good = json.dumps(city())
    dup = good.replace('"households": 30', '"households": 30, "households": 31')
    assert dup != good
    (tmp_path / "dup.json").write_text(dup)
    with pytest.raises(ScenarioError, match="households: the key appears twice"):
        sc.load(tmp_path / "dup.json")
    (tmp_path / "big.json").write_text(good.replace('"households": 30',
                                                    '"households": ' + "9" * 5000))
    with pytest.raises(ScenarioError, match="big.json: not valid JSON"):
        sc.load(tmp_path / "big.json")
    (tmp_path / "true.json").write_text(good.replace('"clerks": 2', '"clerks": true', 1))
    with pytest.raises(ScenarioError, match=r"offices\.public_school\.clerks"):
        sc.load(tmp_path / "true.json")


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000,
                                  "a = " + "{ b = " * 3000 + "1" + " }" * 3000,
                                  ".".join(["k"] * 3000) + " = 1"])
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, capsys, text: str) -> None:  # noqa: ANN001
    path = tmp_path / "deep.toml"
    path.write_text(text)
    code = main(["validate", str(path)])
    one_line_error(capsys, code, "deep.toml", "nested more than")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ScenarioError, match="nested more than"):
        sc.load(tmp_path / "deep.json")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = 'a = "' + "[" * 500 + '"\nb = \'' + "{" * 500 + "'\n# " + "[" * 500 + "\n"
    inputs.check_nesting(text, "x.toml")
    assert inputs.parse_toml(text, "x.toml")["a"] == "[" * 500


def test_devices_pipes_folders_and_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not a regular file"):
        sc.load("/dev/zero")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="not a regular file"):
        sc.load(fifo)  # does not wait for a writer
    with pytest.raises(ScenarioError, match="is a folder"):
        sc.load(tmp_path)
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(inputs.MAX_INPUT_BYTES + 1)
    with pytest.raises(ScenarioError, match="at most"):
        sc.load(big)


def test_the_api_says_what_it_wants() -> None:
    s = api.load(preset="illustrative", overrides={"population.households": 20})
    with pytest.raises(TypeError, match="a seed is an integer"):
        api.run(s, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a seed is an integer"):
        api.run(s, True)
    with pytest.raises(TypeError, match="a seed is an integer"):
        api.run(s, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="a seed is an integer from 0"):
        api.run(s, -1)
    with pytest.raises(TypeError, match="a scenario file is a str or Path"):
        api.load(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or Path, not int"):
        sc.load(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a maze Scenario"):
        api.run({"city": {}}, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a scenario is a mapping"):
        sc.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [["run", "--seed", "-1"], ["run", "--seed", "abc"],
                                  ["run", "--seed", str(2**63)], ["story", "--seed", "1e3"]])
def test_cli_seeds_are_checked_in_one_line(argv: list[str], capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as info:
        main(argv)
    one_line_error(capsys, info.value.code, "--seed")


# -- resource estimate -------------------------------------------------------------------------

def test_word_of_mouth_links_times_households_are_refused_with_the_estimate(
        sandbox: Path, capsys) -> None:  # noqa: ANN001
    data = city(households=60_000)
    data["mechanisms"]["word_of_mouth"] = {"services": ["school"], "links": 1000}
    # the table replaces the preset's: its declared ranges (links 2-8) go with it
    for key in [k for k in data.get("uncertainty", {}) if k.startswith("mechanisms.word_of")]:
        del data["uncertainty"][key]
    path = write_city(sandbox / "talk.toml", data)
    code = main(["run", str(path), "--quiet", "--out", "r", "--max-memory", "4G"])
    err = one_line_error(capsys, code, "word-of-mouth links", "memory limit of 4.0 GB",
                         "--max-memory")
    assert not (sandbox / "r").exists()
    s = sc.load(path)
    est = resources.estimate(s)
    migrants = sum(g.share for g in s.population.groups if g.hukou == "migrant")
    assert est.links == int(60_000 * migrants * 1000 / 2) and f"{est.links:,} word-of" in err
    # 27 million links at up to 150 bytes each (bench_memory.py measures 64 to 140)
    assert est.memory > 4e9
    with pytest.raises(ScenarioError, match="above the memory limit of 1.0 GB"):
        api.run(s, 0, max_memory="1G")
    assert resources.check(s, max_memory=est.memory + 1) == est  # the limit can be raised


def test_a_process_memory_limit_is_the_default_limit(tmp_path: Path) -> None:
    """Under a 3 GB address-space limit the city of 60,000 households x 1,000 links is
    refused at once (it used to die of MemoryError after filling the 3 GB)."""
    data = city(households=60_000)
    data["mechanisms"]["word_of_mouth"] = {"services": ["school"], "links": 1000}
    # the table replaces the preset's: its declared ranges (links 2-8) go with it
    for key in [k for k in data.get("uncertainty", {}) if k.startswith("mechanisms.word_of")]:
        del data["uncertainty"][key]
    path = write_city(tmp_path / "talk.toml", data)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", str(path), "--quiet",
                        "--out", str(tmp_path / "r")], cwd=tmp_path, env=ENV, timeout=120,
                       capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "memory limit of 2.6 GB" in r.stderr  # 80% of the 3 GiB the process may map


def test_the_limit_comes_from_the_flag_the_argument_or_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = api.load(preset="illustrative")
    monkeypatch.setenv(resources.ENV_LIMIT, "1M")
    with pytest.raises(ScenarioError, match="above the memory limit of 1.0 MB"):
        resources.check(s)
    resources.check(s, max_memory="100G")
    monkeypatch.setenv(resources.ENV_LIMIT, "lots")
    with pytest.raises(ScenarioError, match="MAZE_MAX_MEMORY: not a size"):
        resources.check(s)
    with pytest.raises(ScenarioError, match="--max-memory: not a size"):
        resources.check(s, max_memory="-3G")
    assert resources.parse_size("2.5G") == 2_500_000_000 and resources.parse_size(10) == 10


def test_a_sweep_counts_its_runs_at_once() -> None:
    s = api.load(preset="illustrative")
    est = resources.estimate(s)
    resources.check(s, max_memory=est.memory * 2, runs_at_once=2)
    with pytest.raises(ScenarioError, match="x 3 runs at once"):
        resources.check(s, max_memory=est.memory * 2, runs_at_once=3)


CALIBRATE = r"""
import json, sys
from maze.app import api
from maze import resources
over = {"population.households": int(sys.argv[2])}
if int(sys.argv[3]):
    over["mechanisms.word_of_mouth"] = {"services": ["school"], "links": int(sys.argv[3])}
if int(sys.argv[4]) > 1:
    over["city.horizon"] = 365.0 * int(sys.argv[4])
    over["lives"] = {"school": "school"}
s = api.load(preset=sys.argv[1], overrides=over)
api.run(s, 0)
print(json.dumps([resources.peak_memory(), resources.estimate(s).memory]))
"""


@pytest.mark.parametrize(("preset", "households", "links", "years"), [
    ("beijing", 6000, 0, 1), ("illustrative", 3000, 150, 1), ("illustrative", 1000, 0, 4)])
def test_the_estimate_is_above_the_measured_peak_but_not_far(preset: str, households: int,
                                                            links: int, years: int) -> None:
    r = subprocess.run([sys.executable, "-c", CALIBRATE, preset, str(households), str(links),
                        str(years)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    peak, est = json.loads(r.stdout.strip().splitlines()[-1])
    assert peak <= est <= 2.5 * peak, (peak, est)


# -- Ctrl-C --------------------------------------------------------------------------------------

def started(pid: int, timeout: float = 60.0) -> bool:
    """Whether maze's own code runs in process ``pid`` (its first import is mapped).

    A Ctrl-C before that point falls in Python's start-up (the ``site`` module), which
    Python reports itself; maze can only speak for the time its code runs.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "pydantic_core" in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            return False
        time.sleep(0.002)
    return False


def _run_as_module(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess:
    """Run ``source`` as module ``name`` with ``python -m`` (the path on which Python ends a
    process by SIGINT after an interrupt), maze importable."""
    (tmp_path / f"{name}.py").write_text(source)
    return subprocess.run([sys.executable, "-m", name], cwd=tmp_path,
                          env={**ENV, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
                          capture_output=True, text=True, timeout=120)


def test_ctrl_c_inside_code_made_from_a_string_still_exits_130(tmp_path: Path) -> None:
    """A Ctrl-C that lands while a library runs code it compiled from a string (a
    dataclass's methods, a namedtuple) makes ``python -m`` end by SIGINT after maze's
    exit(130), unless maze clears that mark; here the Ctrl-C is put exactly there."""
    proc = _run_as_module(tmp_path, "ctrl_c_in_exec",
                          "import sys\n"
                          "from maze.app import cli\n"
                          "def command(args):\n"
                          "    exec('raise KeyboardInterrupt')\n"
                          "cli.COMMANDS['presets'] = command\n"
                          "sys.exit(cli.main(['presets']))\n")
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "maze: interrupted; nothing partial was left behind"


def test_ctrl_c_after_the_command_finished_is_ignored(tmp_path: Path) -> None:
    """A Ctrl-C while a finished command's process shuts down changes nothing: no
    traceback, and the command's own status (Python's finalization would otherwise end the
    process by the signal, with no message). The signal is sent from an exit handler."""
    proc = _run_as_module(tmp_path, "ctrl_c_at_exit",
                          "import atexit, os, signal, sys\n"
                          "from maze.app import cli\n"
                          "atexit.register(os.kill, os.getpid(), signal.SIGINT)\n"
                          "sys.argv = ['maze', 'presets']\n"
                          "cli.run()\n")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stderr == "" and "beijing" in proc.stdout


@pytest.mark.parametrize("after", [0.0, 0.3, 1.0, 2.5])
def test_ctrl_c_at_any_moment_of_a_run_is_one_line_and_130(tmp_path: Path, after: float) -> None:
    import time

    proc = subprocess.Popen([sys.executable, "-m", "maze.app.cli", "run", "--households", "3000",
                             "--quiet", "--out", str(tmp_path / "r")], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert started(proc.pid)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    if proc.returncode == 0:  # finished before the signal
        return
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip() == "maze: interrupted; nothing partial was left behind", err
    assert not (tmp_path / "r").exists() or storage.is_complete(tmp_path / "r")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- sweeps: no orphans, no temporaries, Ctrl-C ------------------------------------------------

BIG_SWEEP = ('base = "illustrative"\nhouseholds = 3000\nreplications = 4\n'
             '[grid]\n"population.visit_cost_days" = [0.5, 1.0]\n')


TAG = "MAZE_TEST_SWEEP"
_tags: dict[int, str] = {}


def session_processes(sid: int) -> list[str]:
    """The processes still alive that the sweep ``sid`` started (itself and its helpers).

    Found by a tag in their environment, which the forkserver, its workers and the
    resource tracker all inherit: a killed sweep's orphans change parent, and a sandbox
    may not show process sessions to ``ps``.
    """
    tag = f"{TAG}={_tags[sid]}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if tag not in (d / "environ").read_bytes().split(b"\0"):
                continue
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            args = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if state != "Z":
            found.append(f"{d.name} {state} {args}")
    return found


def start_sweep(tmp_path: Path) -> subprocess.Popen[str]:
    """A sweep in a session of its own, tagged so that its helpers can be found."""
    (tmp_path / "big.toml").write_text(BIG_SWEEP)
    tag = f"{os.getpid()}-{len(_tags)}-{tmp_path.name}"
    proc = subprocess.Popen([sys.executable, "-m", "maze.app.cli", "sweep", "big.toml",
                             "--quiet", "--out", "s"], cwd=tmp_path, env={**ENV, TAG: tag},
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    _tags[proc.pid] = tag
    return proc


def wait_gone(sid: int, seconds: float = 15.0) -> list[str]:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = session_processes(sid)
        if not left:
            return []
        time.sleep(0.2)
    return session_processes(sid)


def test_kill_9_of_a_sweep_leaves_no_forkserver_workers_or_tracker(tmp_path: Path) -> None:
    import time

    proc = start_sweep(tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until its workers run
            helpers = [p for p in session_processes(proc.pid) if "forkserver" in p]
            if len(helpers) >= 2:
                break
            time.sleep(0.1)
            if proc.poll() is not None:
                break
        assert len(helpers) >= 2, (proc.poll(), session_processes(proc.pid),
                                   proc.stderr.read() if proc.poll() is not None else "")
        os.kill(proc.pid, signal.SIGKILL)  # the sweep alone, as the OOM killer would
        proc.wait()
        left = wait_gone(proc.pid)
        assert left == [], left
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("after", [0.0, 0.5, 1.0, 2.0, 4.0])
def test_ctrl_c_at_any_moment_of_a_sweep_is_one_line_and_130(tmp_path: Path,
                                                             after: float) -> None:
    import time

    proc = start_sweep(tmp_path)
    try:
        assert started(proc.pid)
        time.sleep(after)
        os.killpg(proc.pid, signal.SIGINT)  # a terminal sends it to the whole group
        _, err = proc.communicate(timeout=120)
        lines = [x for x in err.strip().splitlines()
                 if "resource_tracker" not in x and "warnings.warn" not in x]
        assert "Traceback" not in err, err
        if proc.returncode == 0:
            return
        assert proc.returncode == 130, (proc.returncode, err)
        assert lines == ["maze: interrupted; nothing partial was left behind"], err
        assert wait_gone(proc.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_temporaries_of_a_killed_sweep_are_removed_by_the_next(tmp_path: Path) -> None:
    from maze.app import sweep as sw

    exp = tmp_path / "e.toml"
    exp.write_text('base = "illustrative"\nhouseholds = 20\n')
    out = tmp_path / "s"
    sw.sweep(exp, out, executor="serial")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = storage._host()
    killed = [out / f".{n}.partial-{host}-{dead.pid}-x1" for n in
              ("sweep.html", "runs.parquet", "groups.parquet", "experiment.json")]
    live = out / f".sweep.html.partial-{host}-{os.getpid()}-x2"
    for p in (*killed, live):
        p.write_text("half")
    sw.sweep(exp, out, executor="serial")
    assert not any(p.exists() for p in killed)
    assert live.exists()  # a live writer's (here: ours) stays


def test_a_sweep_is_refused_when_its_runs_side_by_side_need_too_much(tmp_path: Path) -> None:
    from maze.app import sweep as sw

    exp = tmp_path / "e.toml"
    exp.write_text('base = "illustrative"\nhouseholds = 2000\n'
                   '[grid]\n"population.visit_cost_days" = [0.5, 1.0, 2.0]\n')
    one = resources.estimate(api.load(preset="illustrative",
                                      overrides={"population.households": 2000})).memory
    with pytest.raises(ScenarioError, match="x 2 runs at once"):
        sw.sweep(exp, tmp_path / "s", executor="processes", workers=2,
                 max_memory=int(one * 1.5))
    assert not (tmp_path / "s" / "runs").exists()  # nothing ran
