"""The simulated campus: contract validity, truth, determinism, config and CLI."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.contracts import load_sources, table_names
from riskmodel.simulate import SimConfig, load_config, simulate_to_folder
from riskmodel.simulate.absences import REASONS, paint
from riskmodel.simulate.calendar import EXAM, HOLIDAY, PERIODS, TEACHING, VACATION, build_calendar
from riskmodel.simulate.census import upi_screen_level
from riskmodel.simulate.config import DEFAULT_CONFIG_PATH, config_to_dict
from riskmodel.simulate.faults import PLANTED_REASONS
from riskmodel.simulate.population import build_population, chunk_bounds

TRUTH_FILES = ("oracle_risk", "wellbeing", "episodes", "crises", "nights", "hardship",
               "gate_outages", "population")


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_simulated_campus_validates_with_zero_quarantined(sim_campus_dir: Path, sim_key: str) -> None:
    loaded = load_sources(sim_campus_dir, key=sim_key)
    assert loaded.report.rows_quarantined == 0, loaded.report.to_frame().to_string()
    assert sorted(loaded.tables) == sorted(table_names())
    for name, frame in loaded.tables.items():
        assert len(frame) > 0, f"{name} is empty"
    students = pd.read_parquet(sim_campus_dir / "students.parquet")
    assert students["student_id"].str.fullmatch(r"\d{10,}").all()
    rooms = students.dropna(subset=["dorm_room"]).groupby("dorm_room").size()
    assert rooms.max() == 4


def test_truth_folder_is_apart_and_keyed_by_raw_ids(sim_campus_dir: Path, sim_key: str) -> None:
    truth = sim_campus_dir / "truth"
    for name in TRUTH_FILES:
        assert (truth / f"{name}.parquet").is_file(), name
    loaded = load_sources(sim_campus_dir, key=sim_key)
    assert not set(loaded.report.tables) & {f"truth/{t}" for t in TRUTH_FILES}
    raw_ids = set(pd.read_parquet(sim_campus_dir / "students.parquet")["student_id"])
    oracle = pd.read_parquet(truth / "oracle_risk.parquet")
    assert set(oracle["student_id"]) <= raw_ids
    assert (oracle["as_of"].dt.dayofweek == 0).all()
    assert oracle["oracle_risk"].between(0, 1).all()
    nights = pd.read_parquet(truth / "nights.parquet")
    assert set(nights["reason"]) <= set(REASONS) - {"in_dorm"}
    crises = pd.read_parquet(truth / "crises.parquet")
    recorded = pd.read_parquet(sim_campus_dir / "crisis_events.parquet")
    assert int(crises["recorded"].sum()) == len(recorded)
    wb = pd.read_parquet(truth / "wellbeing.parquet")
    assert {"student_id", "date", "wellbeing", "hazard"} <= set(wb.columns)
    assert (wb["hazard"] >= 0).all()


def test_no_dorm_network_on_nights_away_and_no_activity_while_lost(sim_campus_dir: Path) -> None:
    """On truly-away nights no session in the own dorm overlaps 23:00-06:00 (the night-absence
    window); during lost-contact episodes no door, card, library or network record at all."""
    truth = sim_campus_dir / "truth"
    nights = pd.read_parquet(truth / "nights.parquet")
    dorm = pd.read_parquet(sim_campus_dir / "students.parquet")[["student_id", "dorm_building"]]
    net = pd.read_parquet(sim_campus_dir / "network_sessions.parquet")
    j = nights.merge(dorm, on="student_id").merge(net, on="student_id")
    in_window = (j["start_ts"] < j["night"] + pd.Timedelta(hours=30)) & (
        j["end_ts"] > j["night"] + pd.Timedelta(hours=23))
    bad = j.loc[in_window & (j["building"] == j["dorm_building"])]
    assert len(nights) > 1000 and nights["reason"].nunique() >= 5
    assert bad.empty, bad.groupby("reason").size().to_dict()
    # the students still use the network by day elsewhere on campus before such nights
    day = j["start_ts"].dt.normalize() == j["night"]
    assert (day & j["building"].notna() & (j["building"] != j["dorm_building"])).sum() > 100
    eps = pd.read_parquet(truth / "episodes.parquet")
    eps = eps.loc[eps["kind"] == "lost_contact", ["student_id", "onset", "end"]]
    assert len(eps) > 0
    for name, col in (("door_events", "ts"), ("card_transactions", "ts"), ("library_events", "ts")):
        t = pd.read_parquet(sim_campus_dir / f"{name}.parquet").merge(eps, on="student_id")
        assert not ((t[col] >= t["onset"]) & (t[col] < t["end"])).any(), name
    t = net.merge(eps, on="student_id")
    assert not ((t["start_ts"] < t["end"]) & (t["end_ts"] > t["onset"])).any(), "network_sessions"


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    cfg = SimConfig(students=120, days=45, seed=3, chunk_students=40)
    simulate_to_folder(cfg, tmp_path / "a")
    simulate_to_folder(cfg, tmp_path / "b")
    simulate_to_folder(SimConfig(students=120, days=45, seed=4, chunk_students=40), tmp_path / "c")
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert a["card_transactions.parquet"] != c["card_transactions.parquet"]


def test_fault_switches_plant_the_named_quarantine_reasons(tmp_path: Path, sim_key: str) -> None:
    cfg = SimConfig(students=120, days=40, seed=5)
    cfg.faults.enabled = True
    simulate_to_folder(cfg, tmp_path)
    report = load_sources(tmp_path, key=sim_key).report
    for table, reasons in PLANTED_REASONS.items():
        got = " | ".join(report.tables[table].reasons)
        for r in reasons:
            assert r in got, f"{table}: planted fault {r!r} not quarantined ({got})"


def test_drop_sources_leaves_tables_out(tmp_path: Path) -> None:
    cfg = SimConfig(students=60, days=20, seed=1, drop_sources=["library_events", "census"])
    simulate_to_folder(cfg, tmp_path)
    assert not (tmp_path / "library_events.parquet").exists()
    assert not (tmp_path / "census.parquet").exists()
    assert (tmp_path / "door_events.parquet").exists()
    with pytest.raises(ValueError, match="students"):
        simulate_to_folder(SimConfig(students=10, days=5, drop_sources=["students"]), tmp_path / "x")


def test_second_year_brings_new_intake_building_and_prices(tmp_path: Path, sim_key: str) -> None:
    cfg = SimConfig(students=150, start="2023-09-01", days=400, seed=2)
    simulate_to_folder(cfg, tmp_path)
    loaded = load_sources(tmp_path, key=sim_key)
    assert loaded.report.rows_quarantined == 0
    stu = pd.read_parquet(tmp_path / "students.parquet")
    new = stu[stu["enrollment_year"] == 2024]
    assert len(new) > 0
    old_b = set(stu.loc[stu["enrollment_year"] < 2024, "dorm_building"].dropna())
    assert set(new["dorm_building"].dropna()).isdisjoint(old_b)
    card = pd.read_parquet(tmp_path / "card_transactions.parquet")
    can = card[card["category"] == "canteen"]
    m1 = can[(can["ts"] >= "2023-09-10") & (can["ts"] < "2023-10-01")]["amount"].mean()
    m2 = can[(can["ts"] >= "2024-09-10") & (can["ts"] < "2024-10-01")]["amount"].mean()
    assert m2 > m1


def test_calendar_periods() -> None:
    cal = build_calendar(date(2023, 9, 1), 365)
    p = {d: PERIODS[k] for d, k in zip(cal.dates, cal.period, strict=True)}
    assert p[date(2023, 10, 3)] == "holiday"
    assert p[date(2023, 10, 16)] == "teaching"
    assert p[date(2024, 2, 10)] == "vacation"  # Spring Festival 2024
    assert p[date(2024, 1, 15)] == "exam"
    assert p[date(2024, 8, 1)] == "vacation"
    assert {TEACHING, EXAM, HOLIDAY, VACATION} == set(np.unique(cal.period).tolist())
    names = [t.name for t in cal.terms]
    assert "2023-2024-1" in names and "2023-2024-2" in names


def test_chunks_hold_whole_classes_and_rooms() -> None:
    cfg = SimConfig(students=900, days=10, seed=9)
    pop = build_population(cfg, np.random.default_rng(0))
    bounds = chunk_bounds(pop, 200)
    assert bounds[0][0] == 0 and bounds[-1][1] == pop.n
    chunk_of = np.zeros(pop.n, int)
    for k, (a, b) in enumerate(bounds):
        chunk_of[a:b] = k
    for key in (pop.class_idx, pop.room[pop.room >= 0]):
        sel = chunk_of if key is pop.class_idx else chunk_of[pop.room >= 0]
        assert pd.DataFrame({"k": key, "c": sel}).groupby("k")["c"].nunique().max() == 1


def test_default_yaml_holds_every_knob_and_typos_fail(tmp_path: Path) -> None:
    import yaml

    on_disk = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert on_disk == config_to_dict(SimConfig())
    assert load_config(None, students=33).students == 33
    bad = tmp_path / "bad.yaml"
    bad.write_text("crisis:\n  hazard_betta: 2.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="hazard_betta"):
        load_config(bad)


def test_cli_simulate_prints_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from riskmodel.cli import app

    res = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--students", "40",
                                   "--days", "30", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "oracle_auroc" in res.output and "card_rows_per_student_teaching_day" in res.output
    assert (tmp_path / "c" / "students.parquet").exists()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 56), min_size=1, max_size=20), st.data())
def test_upi_levels_follow_upi_rules(totals: list[int], data: st.DataObject) -> None:
    key = np.array(data.draw(st.lists(st.booleans(), min_size=len(totals), max_size=len(totals))))
    total = np.array(totals, float)
    level = upi_screen_level(total, key)
    assert ((level >= 2) == ((total >= 25) | key)).all()
    assert ((level == 3) == key).all()
    assert ((level == 1) == (~key & (total >= 20) & (total < 25))).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 12), st.integers(0, 8)), max_size=12))
def test_paint_matches_a_plain_loop(intervals: list[tuple[int, int, int]]) -> None:
    shape = (4, 10)
    expect = np.zeros(shape, bool)
    for i, s, ln in intervals:
        expect[i, max(s, 0):max(min(s + ln, 10), 0)] = True
    arr = np.array(intervals, dtype=np.int64).reshape(-1, 3)
    got = paint(shape, arr[:, 0], arr[:, 1], arr[:, 1] + arr[:, 2])
    assert (got == expect).all()
