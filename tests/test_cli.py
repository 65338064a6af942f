"""The command line as a terminal user meets it: version, closed pipes, narrow terminals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maze.app.cli import main

MAZE = [sys.executable, "-m", "maze.app.cli"]


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"maze {version('maze')}"


def test_a_closed_pipe_ends_quietly() -> None:
    """`maze presets | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    proc = subprocess.Popen([*MAZE, "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.parametrize("columns", [80, 100, 119])
def test_the_summary_table_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50"}
    out = subprocess.run([*MAZE, "run", "--households", "150", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= columns, "\n".join(lines)
    assert "…" not in out  # nothing cut short
    header = "\n".join(lines[:6])
    for word in ("served", "private", "sent", "away", "deterred", "pending", "median", "offices"):
        assert word in header
    assert "informal" in out and "worker" in out


def test_presets_line_up_their_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    """Names longer than the others (beijing_history) do not push their description out of
    the column."""
    from offices import presets

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == presets.names()
    starts = {len(line) - len(line.split(maxsplit=1)[1]) for line in lines}
    assert len(starts) == 1 and starts.pop() >= max(map(len, presets.names())) + 1


def test_the_default_measures_wrap_between_names(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The --measures default is listed with spaces, so help wraps it between names."""
    from maze.app import outcomes

    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["ablate", "--help"])
    text = capsys.readouterr().out
    default = text[text.index("(default: migrant"):].split(")")[0].removeprefix("(default:")
    assert default.replace(",", " ").split() == list(outcomes.DEFAULT)


@pytest.mark.parametrize("command", ["run", "story", "dash"])
def test_households_below_one_is_refused_naming_the_option(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The message names --households, the option typed, not the preset's
    population.households."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([command, "--households", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --households: must be at least 1" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_lighter_process_defaults_yield_to_the_environment() -> None:
    """One BLAS thread and no pydantic plugin search by default, unless the environment
    says otherwise; nothing changes once NumPy is loaded."""
    code = ("import os; from maze.app import cli; cli._lighter_process(); "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), "
            "os.environ.get('PYDANTIC_DISABLE_PLUGINS'))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "PYDANTIC_DISABLE_PLUGINS")}

    def run(extra: dict[str, str], prefix: str = "") -> list[str]:
        return subprocess.run([sys.executable, "-c", prefix + code], env={**env, **extra},
                              capture_output=True, text=True, check=True).stdout.split()

    assert run({}) == ["1", "__all__"]
    assert run({"OPENBLAS_NUM_THREADS": "2", "PYDANTIC_DISABLE_PLUGINS": "x"}) == ["2", "x"]
    assert run({}, prefix="import numpy; ") == ["None", "__all__"]


TARGETS = str(Path(__file__).resolve().parents[1] / "offices" / "targets" / "beijing.toml")


@pytest.mark.parametrize(("argv", "says"), [
    (["ablate", "beijing", "--seed", "-1"], "a seed is from 0 to 2**63-1"),
    (["sensitivity", "beijing", "--seed", "-1"], "a seed is from 0 to 2**63-1"),
    (["calibrate", TARGETS, "--seed", "-1"], "a seed is from 0 to 2**32-1"),
    (["calibrate", TARGETS, "--seed", str(2**32)], "a seed is from 0 to 2**32-1"),
])
def test_a_seed_out_of_range_is_refused_before_anything_runs(
        argv: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """NumPy refused these seeds with a traceback once the study had begun, leaving its
    folder (or the calibration's history file) behind."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", "out"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --seed: {says}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "says"), [
    (["run", "--households", "x"], "argument --households: not a whole number: 'x'"),
    (["run", "--seed", "1.5"], "argument --seed: not a whole number: '1.5'"),
    (["run", "--seed", str(2**63)], "argument --seed: a seed is from 0 to 2**63-1"),
    (["sweep", "e.toml", "--workers", "0"], "argument --workers: must be at least 1"),
    (["sensitivity", "beijing", "--levels", "1"], "argument --levels: must be at least 2"),
    (["calibrate", TARGETS, "--population", "y"], "argument --population: not a whole number: 'y'"),
    (["dash", "--port", "http"], "argument --port: not a port number: 'http'"),
    (["dash", "--port", "0"], "argument --port: a port is between 1 and 65535"),
    (["dash", "--port", "65536"], "argument --port: a port is between 1 and 65535"),
])
def test_a_whole_number_argument_is_refused_in_one_line(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_whole_number_arguments_are_one_check_that_cli_owns() -> None:
    """Seeds, counts and the port go through cli.whole_number, and cli.py imports no command
    module (the commands import cli, not the other way round)."""
    import ast

    from maze.app import cli
    from maze.app.commands import dash, sensitivity, sweep

    for parse in (cli.seed_argument, cli.seed_below(32), cli.positive, sensitivity._two_or_more,
                  dash._port):
        assert parse.__qualname__ == "whole_number.<locals>.number"
    assert sweep.positive is cli.positive
    assert cli.whole_number(-2, 2)("-2") == -2 and cli.whole_number(0)(" 7 ") == 7
    tree = ast.parse(Path(cli.__file__).read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and m.startswith("maze.app.commands.")], imported


@pytest.mark.parametrize("command", ["run", "story", "dash", "ablate", "sensitivity",
                                     "calibrate"])
def test_households_help_says_a_history_keeps_its_later_years(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--households sets a history's first year only (later years bring lives.in_migration):
    every command that takes it says so, so that nobody expects a small, quick history from
    it (maze ablate beijing_history --households 200 still runs 20,000 later arrivals)."""
    from maze.app.cli import HOUSEHOLDS_HELP

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert " ".join(HOUSEHOLDS_HELP.split()) in text


def test_run_names_the_files_it_wrote(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The last line lists the run folder's files: no report.html after --no-report (it
    was listed though not written), and every table, years.parquet included."""
    out = tmp_path / "r"
    assert main(["run", "--households", "150", "--no-report", "--out", str(out)]) == 0
    last = " ".join(capsys.readouterr().out.split()).rsplit("results in", 1)[1]
    assert "report.html" not in last
    for name in ("events.parquet", "journeys.parquet", "households.parquet", "years.parquet",
                 "summary.json"):
        assert name in last and (out / name).exists()
