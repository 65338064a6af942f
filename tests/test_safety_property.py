"""Property tests: whatever the user asks, maze never harms what it did not write.

1. Random sequences of commands (run, sweep, export, story) with random ``--out`` targets
   inside a sandbox tree holding the user's own files and folders, some commands killed
   with SIGKILL at a random moment. After every step: no file maze did not create was
   removed or changed, every folder maze marked as its output is whole, every refusal was
   one line with exit code 2, and nothing maze wrote left the sandbox.
2. Random scenarios built from the values that used to crash runs (distributions that can
   draw negative times, tiny and non-finite parameters, weights, dates, names that are
   paths): each is refused in one line naming the file, or runs, exports and tells a story,
   writing only under ``runs/<slug>``.

The CI run is small (a few sequences); ``MAZE_FUZZ=long`` runs many more.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import signal
import sys
import tempfile
import time
import tomllib
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maze import outputs, storage
from maze.app.cli import main
from offices import presets

LONG = os.environ.get("MAZE_FUZZ") == "long"
SEQUENCES = settings(max_examples=60 if LONG else 2, deadline=None, derandomize=not LONG,
                     suppress_health_check=list(HealthCheck))
CITIES = settings(max_examples=400 if LONG else 12, deadline=None, derandomize=not LONG,
                  suppress_health_check=list(HealthCheck))

#: The user's own things in the sandbox, made before any command.
USER_FILES = {"notes.txt": "my notes", "docs/sub/important.txt": "keep me",
              "docs/readme.md": "# mine", "data/table.csv": "a,b\n1,2\n",
              "runs_mine/summary.json": '{"not": "maze"}', "home/.bashrc": "# shell"}
USER_DIRS = ("empty", "docs/sub", "home")
TARGETS = ("out1", "out2", "nested/deep/out3", "docs", "docs/sub", "notes.txt", "empty",
           "runs_mine", "data", ".", "..", "home", "notes.txt/x", "ünï cödé", "out1",
           "out1/inner", "out2", "link")


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of each of the user's files (and '' for each of the user's folders)."""
    out = {}
    for rel in USER_FILES:
        p = root / rel
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "MISSING"
    for rel in USER_DIRS:
        out[rel + "/"] = "" if (root / rel).is_dir() else "MISSING"
    out["link->"] = os.readlink(root / "link") if (root / "link").is_symlink() else "MISSING"
    return out


def make_sandbox(root: Path) -> None:
    for rel, text in USER_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel in USER_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "link").symlink_to(root / "docs")
    (root / "exp.toml").write_text('name = "../../escape"\nbase = "illustrative"\nhouseholds = 15\n'
                                   '[grid]\n"population.visit_cost_days" = [0.5, 1.0]\n')


def run_cli(argv: list[str], kill_after: float | None) -> tuple[int, str]:
    """The CLI in this process, or in a forked child SIGKILLed after ``kill_after`` seconds.

    Returns (exit code, or -9 if killed; what it wrote on stderr).
    """
    if kill_after is None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
        return code, err.getvalue()
    errfile = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.dup2(errfile.fileno(), 2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            sys.stderr = os.fdopen(2, "w", closefd=False)  # not pytest's capture
            sys.stdout = os.fdopen(1, "w", closefd=False)
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except BaseException:
            code = 99
        sys.stderr.flush()
        os._exit(code)
    time.sleep(kill_after)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    errfile.seek(0)
    err = errfile.read().decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), err
    return os.WEXITSTATUS(status), err


def check_whole(root: Path) -> None:
    """Every folder marked as maze's output under ``root`` is whole."""
    for marker in root.rglob(outputs.MARKER):
        folder = marker.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue  # a temporary of a killed writer: hidden, removed by the next write
        data = outputs.read_marker(folder)
        assert data is not None, folder
        if data["kind"] == "run":
            assert storage.is_complete(folder), folder
            for name in ("events.parquet", "journeys.parquet", "households.parquet"):
                if (folder / name).exists():
                    pq.read_table(folder / name)
            json.loads((folder / storage.MARKER).read_text())
        elif data["kind"] == "sweep":
            for name in ("runs.parquet", "groups.parquet"):
                if (folder / name).exists():
                    pq.read_table(folder / name)
            for run in (folder / "runs").glob("[!.]*") if (folder / "runs").is_dir() else []:
                assert storage.is_complete(run), run


def command(data: st.DataObject, made: list[str]) -> list[str]:
    kind = data.draw(st.sampled_from(["run", "run", "run", "export", "export", "story",
                                      "sweep"]))
    target = data.draw(st.sampled_from(TARGETS + tuple(made)))
    if kind == "run":
        return ["run", "--households", str(data.draw(st.integers(10, 400))), "--quiet",
                "--no-report", "--seed", str(data.draw(st.integers(0, 3))), "--out", target]
    if kind == "export":
        fmt = data.draw(st.sampled_from(["xes", "csv"]))
        src = data.draw(st.sampled_from(tuple(made) or TARGETS))
        out = data.draw(st.sampled_from([None, "exported.csv", "notes.txt", "docs/readme.md",
                                         target]))
        return ["export", src, "--format", fmt, *(["--out", out] if out else [])]
    if kind == "story":
        return ["story", "--households", "40", "--household", "0"]
    return ["sweep", "exp.toml", "--quiet", "--out", target]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@SEQUENCES
@given(st.data())
def test_random_commands_never_harm_what_maze_did_not_write(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp)
        root = outside / "sandbox"
        root.mkdir()
        make_sandbox(root)
        before = fingerprint(root)
        exp_before = (root / "exp.toml").read_bytes()
        cwd, home = os.getcwd(), os.environ.get("HOME")
        os.chdir(root)
        os.environ["HOME"] = str(root / "home")
        made: list[str] = []
        try:
            for _ in range(data.draw(st.integers(2, 8 if LONG else 3))):
                argv = command(data, made)
                kill = data.draw(st.one_of(st.none(), st.floats(0.0, 2.0)))
                code, err = run_cli(argv, kill)
                assert "Traceback" not in err, (argv, err)
                if code == 2:
                    assert len(err.strip().splitlines()) == 1, (argv, err)
                else:
                    assert code in (0, -signal.SIGKILL), (argv, code, err)
                if code == 0 and argv[0] in ("run", "sweep"):
                    made.append(argv[-1])
                assert fingerprint(root) == before, argv
                assert (root / "exp.toml").read_bytes() == exp_before
                check_whole(root)
                assert sorted(p.name for p in outside.iterdir()) == ["sandbox"], argv
        finally:
            os.chdir(cwd)
            if home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = home


# -- scenarios built from the values that used to crash ---------------------------------------

def _dist() -> st.SearchStrategy[dict]:
    tiny = st.sampled_from([5e-324, 1e-200, 1e-12, 1e-9, 0.0, -0.0])
    num = st.one_of(st.floats(-50, 50, allow_nan=False), tiny,
                    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308]))
    return st.one_of(
        st.fixed_dictionaries({"dist": st.just("normal"), "mean": num, "sd": num},
                              optional={"low": num}),
        st.fixed_dictionaries({"dist": st.sampled_from(["uniform"]), "low": num, "high": num}),
        st.fixed_dictionaries({"dist": st.just("triangular"), "low": num, "mode": num,
                               "high": num}),
        st.fixed_dictionaries({"dist": st.just("constant"), "value": num}),
        st.fixed_dictionaries({"dist": st.sampled_from(["exponential", "poisson"]),
                               "mean": num}),
        st.fixed_dictionaries({"dist": st.sampled_from(["lognormal", "gamma"]), "mean": num,
                               "sd": num}))


WEIGHTS = st.dictionaries(st.sampled_from(["primary", "middle", "high_school"]),
                          st.one_of(st.floats(allow_nan=True), st.sampled_from([1e308, 5e-324])),
                          min_size=1, max_size=3)
DATES = st.one_of(st.dates(), st.sampled_from([date(9999, 12, 31), date(1, 1, 1),
                                               date(2150, 12, 31), date(1900, 1, 1)]))
NAMES = st.one_of(st.text(max_size=30), st.sampled_from(
    ["../victim", "/etc", "..", ".", "a/../../b", "~", "-rf", "\u202e", "名字", "x" * 300]))
HORIZONS = st.one_of(st.floats(0, 40_000), st.sampled_from([5e-324, 0.01, 36_500.0]))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@CITIES
@given(service_time=_dist(), gaps=_dist(), weights=WEIGHTS, start=DATES, name=NAMES,
       horizon=HORIZONS)
def test_generated_cities_are_refused_in_one_line_or_run_whole(
        service_time: dict, gaps: dict, weights: dict, start: date, name: str,
        horizon: float) -> None:
    data = tomllib.loads(presets.text(presets.DEFAULT))
    data["population"]["households"] = 15
    data["city"].update(name=name, start_date=start, horizon=min(horizon, 400.0)
                        if horizon == horizon else horizon)
    data["offices"][0]["service_time"] = service_time
    data["population"]["days_between_visits"] = gaps
    data["population"]["groups"][0]["attributes"]["education"] = weights
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sandbox"
        root.mkdir()
        path = root / "city.toml"
        try:
            path.write_text(tomli_w.dumps(data), encoding="utf-8")
        except (ValueError, TypeError):  # TOML cannot hold NaN keys and the like
            return
        cwd = os.getcwd()
        os.chdir(root)
        try:
            code, err = run_cli(["run", str(path), "--quiet", "--no-report"], None)
            assert "Traceback" not in err
            if code == 2:
                assert len(err.strip().splitlines()) == 1 and "city.toml" in err, err
                return
            assert code == 0, err
            runs = [p for p in (root / "runs").iterdir() if not p.name.startswith(".")]
            assert len(runs) == 1 and runs[0].parent == root / "runs"
            assert storage.is_complete(runs[0])
            for argv in (["export", str(runs[0])], ["export", str(runs[0]), "--format", "csv"],
                         ["story", str(path), "--household", "0"]):
                code, err = run_cli(argv, None)
                assert code == 0, (argv, err)
            assert sorted(p.name for p in root.iterdir()) == ["city.toml", "runs"]
        finally:
            os.chdir(cwd)


def test_the_sandbox_helpers_see_a_change() -> None:
    """The property above could fail: a changed user file changes the fingerprint."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_sandbox(root)
        before = fingerprint(root)
        (root / "docs/sub/important.txt").write_text("changed")
        assert fingerprint(root) != before
        (root / "docs/sub/important.txt").unlink()
        assert fingerprint(root)["docs/sub/important.txt"] == "MISSING"
        run = root / "r"
        run.mkdir()
        outputs.write_marker(run, "run", ["summary.json"])
        with pytest.raises(AssertionError):
            check_whole(root)  # marked as a run, but not complete
