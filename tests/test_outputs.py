"""The results contract: columns, determinism and atomic folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from maze import storage
from maze.app import api

EVENT_COLUMNS = {"case_id", "household_id", "service", "time", "office", "activity", "reason",
                 "group", "hukou", "origin", "contract", "lease_own"}
JOURNEY_COLUMNS = {"outcome", "days_to_outcome", "visits", "referrals", "loops", "offices_seen",
                   "levels_seen", "sectors_seen", "out_of_pocket", "wage_lost",
                   "explicit_refusal", "group"}
SUMMARY_KEYS = {"households", "requests", "events", "served_share", "alternative_share",
                "gave_up_share", "sent_away_share", "denied_share", "deterred_share",
                "pending_share", "median_days_to_service", "mean_visits", "mean_offices_seen",
                "explicit_refusal_share", "city_cost_saved", "seed", "by_group"}


def _run_cli(out: Path, seed: int = 7, households: int = 300) -> None:
    r = subprocess.run([sys.executable, "-m", "maze.app.cli", "run", "--seed", str(seed),
                        "--households", str(households), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_run_writes_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run_cli(out)
    ev = pd.read_parquet(out / "events.parquet")
    j = pd.read_parquet(out / "journeys.parquet")
    s = json.loads((out / "summary.json").read_text())
    assert EVENT_COLUMNS <= set(ev.columns)
    assert JOURNEY_COLUMNS <= set(j.columns)
    assert SUMMARY_KEYS <= set(s)
    assert s["requests"] == len(j) == ev["case_id"].nunique()
    assert s["events"] == len(ev)
    shares = sum(s[f"{o}_share"] for o in ("served", "alternative", "sent_away", "gave_up",
                                             "denied", "deterred", "pending"))
    assert abs(shares - 1) < 1e-9
    html = (out / "report.html").read_text()
    assert "Sankey" in html or "sankey" in html
    assert "<script src=\"http" not in html  # plotly.js is inlined: the page opens offline


def test_same_seed_same_bytes_in_separate_processes(tmp_path: Path) -> None:
    _run_cli(tmp_path / "a")
    _run_cli(tmp_path / "b")
    for name in ("events.parquet", "journeys.parquet", "summary.json", "households.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_other_seed_other_tables(tmp_path: Path) -> None:
    _run_cli(tmp_path / "a", seed=1)
    _run_cli(tmp_path / "b", seed=2)
    a, b = (tmp_path / "a/events.parquet"), (tmp_path / "b/events.parquet")
    assert a.read_bytes() != b.read_bytes()


def test_failed_write_leaves_the_previous_folder_intact(tmp_path: Path) -> None:
    out = tmp_path / "run"
    scenario = api.load(overrides={"population.households": 100})
    api.write(api.run(scenario, 1), out, report=False)
    before = (out / "summary.json").read_bytes()
    try:
        with storage.atomic_folder(out) as tmp:
            (tmp / "events.parquet").write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    except RuntimeError:
        pass
    assert (out / "summary.json").read_bytes() == before
    assert not (out / "events.parquet").read_bytes() == b"half"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_journeys_are_derived_from_events() -> None:
    scenario = api.load(overrides={"population.households": 200})
    run = api.run(scenario, 4)
    ev, j = run.events, run.journeys
    visits = ev[ev["activity"].isin(["serve", "issue", "require", "refer", "refuse", "retry",
                                     "leave"])]
    counts = visits.groupby("case_id").size().reindex(j["case_id"], fill_value=0)
    assert (counts.to_numpy() == j["visits"].to_numpy()).all()
    ends = ev[ev["activity"].isin(["served", "alternative", "sent_away", "gave_up", "denied",
                                   "deterred", "pending"])]
    assert ends["case_id"].is_unique and len(ends) == len(j)


def test_parquet_reads_back_every_kind_of_column(tmp_path: Path) -> None:
    """Texts and categories dictionary-encoded, numbers plain: the same table comes back,
    types, categories, missing values and awkward names included."""
    import numpy as np
    import pyarrow.parquet as pq

    n = 5_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "case_id": np.arange(n, dtype=np.int64),
        "time": rng.exponential(size=n),
        "fee": np.where(rng.random(n) < 0.1, np.nan, 0.0),
        "flag": rng.random(n) < 0.5,
        "office": pd.Categorical(rng.choice(["school", "police", "street"], n),
                                 categories=["street", "school", "police", "unused"]),
        "group": pd.Series(rng.choice(["migrant", "local"], n)).where(rng.random(n) < 0.9),
        "a.b": rng.integers(0, 3, n),
    })
    path = tmp_path / "t.parquet"
    storage.write_parquet(df, path)
    back = pd.read_parquet(path)
    assert back.equals(df)
    assert (back.dtypes == df.dtypes).all()
    assert list(back["office"].cat.categories) == ["street", "school", "police", "unused"]
    meta = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings
                 for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in encodings["office"] and "RLE_DICTIONARY" in encodings["group"]
    assert "RLE_DICTIONARY" not in encodings["time"]
    assert meta.column(1).statistics.has_min_max  # "time": numbers keep their statistics
    storage.write_parquet(df, tmp_path / "again.parquet")
    assert (tmp_path / "again.parquet").read_bytes() == path.read_bytes()


def test_parquet_is_written_by_a_pyarrow_without_string_views(tmp_path: Path,
                                                              monkeypatch) -> None:
    """pyarrow before 16 has no string views (nor ``pa.types.is_string_view``); the
    project allows it, so writing must not ask for them."""
    import pyarrow as pa

    df = pd.DataFrame({"n": [1.5, 2.5], "t": ["a", "b"]})
    with monkeypatch.context() as older:  # pandas reads its strings with the function
        older.delattr(pa.types, "is_string_view", raising=False)
        storage.write_parquet(df, tmp_path / "t.parquet")
    assert pd.read_parquet(tmp_path / "t.parquet").equals(df)
