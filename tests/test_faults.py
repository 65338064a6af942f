"""A run killed at any moment leaves either the previous folder or the new one, whole.

Two kinds of test. The first kills a real ``maze run`` with SIGKILL while it simulates,
as soon as it starts writing, and while a table is half written. The second kills a
process writing a folder after each of its file-system steps in turn (every rename,
fsync, removal), so the moment between "old folder moved away" and "new folder moved
in" is hit for certain rather than by luck. After every kill the destination must be
exactly the previous folder or exactly the new one, and no other folder beside it may
look complete.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maze import outputs, storage

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def snapshot(folder: Path) -> dict[str, str]:
    """File name -> sha256 of its bytes, for every file in a folder."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def complete_lookalikes(parent: Path, dest: Path) -> list[Path]:
    """Visible folders beside ``dest`` that carry the completion marker."""
    return [p for p in parent.iterdir() if p.is_dir() and p != dest
            and not p.name.startswith(".") and storage.is_complete(p)]


# -- killing a real run ----------------------------------------------------------------------

def start_run(out: Path, households: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "maze.app.cli", "run", "--preset", "illustrative", "--households",
         str(households), "--seed", "4", "--out", str(out), "--quiet"],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)


def kill_when(proc: subprocess.Popen[bytes], ready, timeout: float = 240.0) -> bool:  # noqa: ANN001
    """SIGKILL the run as soon as ``ready()`` holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    raise AssertionError("the run neither finished nor reached the moment to kill it")


def partials(parent: Path, dest: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".{dest.name}.partial-")]


def test_sigkill_during_a_run_leaves_the_previous_folder_intact(tmp_path: Path) -> None:
    out = tmp_path / "city"
    first = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", "--preset", "illustrative",
                            "--households", "150", "--out", str(out), "--quiet"],
                           cwd=ROOT, env=ENV, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    assert {"summary.json", "events.parquet", "journeys.parquet"} <= set(before)

    def simulating() -> bool:
        return time.monotonic() - t0 > 1.5  # past the imports; may be writing already

    def writing() -> bool:
        return bool(partials(tmp_path, out))

    def half_table() -> bool:
        return any((p / "events.parquet").exists() for p in partials(tmp_path, out))

    kept = []
    for moment in (simulating, writing, half_table):
        t0 = time.monotonic()
        proc = start_run(out, households=6000)
        killed = kill_when(proc, moment)
        if not killed:
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        # Whole: the previous folder untouched, or (killed after the swap, or not killed at
        # all) the new one with every table readable.
        assert out.is_dir() and storage.is_complete(out), f"killed while {moment.__name__}"
        now = snapshot(out)
        if now == before:
            kept.append(moment.__name__)
        else:
            assert set(now) == set(before), f"killed while {moment.__name__}: {set(now)}"
            before = now
        for name in ("events.parquet", "journeys.parquet", "households.parquet"):
            pq.read_table(out / name)  # every table under the final name reads whole
        assert complete_lookalikes(tmp_path, out) == []
    # Polling catches the run while it writes, so at least one kill hit before the swap.
    assert "writing" in kept or "half_table" in kept, kept

    # The next run replaces the folder whole, leftovers of killed runs notwithstanding.
    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", "--preset", "illustrative",
                        "--households", "200", "--out", str(out), "--quiet"],
                       cwd=ROOT, env=ENV, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert snapshot(out) != before and storage.is_complete(out)


def test_sigkill_of_a_first_run_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    proc = start_run(out, households=4000)
    assert kill_when(proc, lambda: bool(partials(tmp_path, out)))
    assert not out.exists()
    assert complete_lookalikes(tmp_path, out) == []


# -- killing a writer after every file-system step -------------------------------------------

STEPS = {"rename", "replace", "rmtree", "fsync", "mkdir", "rmdir", "unlink", "mkdtemp",
         "chmod", "renameat2"}


def write_folder(dest: Path, kill_at: int) -> tuple[bool, int]:
    """Write a folder in a forked child that SIGKILLs itself after step ``kill_at``.

    Returns (killed, steps the writer took when it was not killed).
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count file-system steps, die at the chosen one
        try:
            os.close(read)
            count = 0

            def profile(frame, event, arg):  # noqa: ANN001, ANN202
                nonlocal count
                if (event == "c_return" and getattr(arg, "__name__", "") in STEPS) or (
                        event == "return" and frame.f_code.co_filename == storage.__file__):
                    count += 1
                    if count == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)

            sys.setprofile(profile)
            with storage.atomic_folder(dest) as tmp:
                (tmp / "a.txt").write_text("new a")
                (tmp / "b.txt").write_text("new b")
                storage.write_json({"version": "new"}, tmp / storage.MARKER)
            sys.setprofile(None)
            os.write(write, str(count).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    steps = os.read(read, 100)
    os.close(read)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, 0
    return False, int(steps)


def test_a_kill_after_any_step_leaves_the_old_or_the_new_folder_whole(tmp_path: Path) -> None:
    old = {"a.txt": "old a", "b.txt": "old b", storage.MARKER: '{"version": "old"}'}
    new = {"a.txt": "new a", "b.txt": "new b", storage.MARKER: '{\n  "version": "new"\n}\n'}
    outcomes = []
    kill_at = 1
    while True:
        case = tmp_path / f"k{kill_at}"
        dest = case / "out"
        dest.mkdir(parents=True)
        for name, text in old.items():
            (dest / name).write_text(text)
        outputs.write_marker(dest, "run", old)  # a folder maze wrote: it may be replaced
        killed, steps = write_folder(dest, kill_at)
        found = {p.name: p.read_text() for p in dest.iterdir()
                 if p.name != outputs.MARKER} if dest.is_dir() else None
        assert found is None or outputs.read_marker(dest) is not None
        assert found in (old, new), (
            f"killed after step {kill_at}: {dest} holds {found}; beside it: "
            f"{sorted(p.name for p in case.iterdir())}")
        assert complete_lookalikes(case, dest) == []
        outcomes.append("old" if found == old else "new")
        if not killed:  # the writer got to the end first
            assert steps < kill_at and found == new
            break
        kill_at += 1
        assert kill_at < 200, "the writer takes implausibly many steps"
    # Both sides of the switch were seen: early kills keep the old folder, late ones the new.
    assert outcomes[0] == "old" and outcomes[-1] == "new"
    assert outcomes == sorted(outcomes, key=["old", "new"].index)


@pytest.mark.parametrize("first", [True, False])
def test_a_killed_writer_never_leaves_a_half_folder_under_the_final_name(
        tmp_path: Path, first: bool) -> None:
    """Without a previous folder, the final name is absent or complete, never partial."""
    dest = tmp_path / "out"
    if not first:
        dest.mkdir()
        (dest / storage.MARKER).write_text("{}")
        outputs.write_marker(dest, "run", [storage.MARKER])
    for kill_at in (1, 2, 3, 5, 8):
        killed, _ = write_folder(dest, kill_at)
        if dest.exists():
            assert storage.is_complete(dest)
        if not killed:
            break


# -- determinism of sweeps ---------------------------------------------------------------------

def test_sweep_tables_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    """Serial, one worker process and three give byte-identical merged tables."""
    sw = pytest.importorskip("maze.app.sweep")
    path = tmp_path / "exp.toml"
    path.write_text('name = "workers"\nbase = "illustrative"\nreplications = 2\nseed = 5\n'
                    'households = 120\nby = ["group", "hukou"]\n'
                    '[grid]\n"offices.public_school.seats" = [30, 300, 3000]\n',
                    encoding="utf-8")
    tables = {}
    for label, executor, workers in (("serial", "serial", None), ("one", "processes", 1),
                                     ("three", "processes", 3)):
        result = sw.sweep(path, tmp_path / label, executor=executor, workers=workers)
        assert result.computed == 6
        tables[label] = {name: (tmp_path / label / name).read_bytes()
                         for name in ("runs.parquet", "groups.parquet")}
    assert tables["serial"] == tables["one"] == tables["three"]
    runs = pq.read_table(tmp_path / "three" / "runs.parquet").to_pandas()
    assert runs["served_share"].nunique() > 1  # the settings differ, so the rows do


# -- leftovers of killed writers ---------------------------------------------------------------

def test_the_next_writer_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    """A killed writer's temporary folder goes at the next write; a live one's stays."""
    dest = tmp_path / "city"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that is gone: its pid names a writer killed mid-run
    host = storage._host()
    killed = tmp_path / f".city.partial-{host}-{dead.pid}-abc"
    replaced = tmp_path / f".city.old-{host}-{dead.pid}"
    live = tmp_path / f".city.partial-{host}-{os.getppid()}-def"  # our parent: alive
    elsewhere = tmp_path / f".city.partial-another_machine-{dead.pid}-ghi"
    other_name = tmp_path / f".town.partial-{host}-{dead.pid}-jkl"
    for folder in (killed, replaced, live, elsewhere, other_name):
        folder.mkdir()
        (folder / "events.parquet").write_bytes(b"half")
    with storage.atomic_folder(dest) as tmp:
        storage.write_json({"ok": True}, tmp / storage.MARKER)
    assert not killed.exists() and not replaced.exists()
    assert live.exists() and elsewhere.exists() and other_name.exists()
    assert storage.is_complete(dest)
