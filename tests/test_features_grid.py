"""The daily table's in-memory spine (DuckDB fast path) against the ibis spine of joins and windows.

Both must give the same table on any campus: same rows (every roster student, every day),
same observed flags, same carried door state, same channels. A wrong position would move one
student's day onto another student or another day, which no aggregate test would notice.
"""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmodel.features import daily_grid
from riskmodel.features.asof import day_index
from riskmodel.features.backends import connect, register_frames
from riskmodel.features.config import FeatureConfig
from riskmodel.features.daily import card_shared, daily_expr
from riskmodel.features.daily_grid import carried_grid, grid_spine, observed_grid
from riskmodel.features.registry import CHANNELS_BY_NAME

START = pd.Timestamp("2024-03-01")
SOURCES = ("door_events", "card_transactions", "library_events", "network_sessions")


def _campus(seed: int, n_students: int, n_days: int, sources: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Random events for ``n_students`` roster students (the last one has none) and one
    student not on the roster, from 3 days before START to 2 days after the period."""
    rng = np.random.default_rng(seed)
    ids = [f"S{k:02d}" for k in range(n_students)]
    rooms = ["R1", "R1", None, "R2", "R2", None]
    students = pd.DataFrame({"student_id": ids, "class_id": [f"K{k % 2}" for k in range(n_students)],
                             "dorm_room": [rooms[k % len(rooms)] for k in range(n_students)]})
    actors = ids[:-1] + ["X99"] if n_students > 1 else ["X99"]

    def times(n: int) -> pd.Series:
        secs = rng.integers(-3 * 86400, (n_days + 2) * 86400, n)
        return START + pd.to_timedelta(secs, unit="s")

    def who(n: int) -> list[str]:
        return list(rng.choice(actors, n))

    n = 12 * n_days
    tables = {"students": students}
    if "door_events" in sources:
        tables["door_events"] = pd.DataFrame({"student_id": who(n), "ts": times(n),
                                              "direction": rng.choice(["in", "out"], n)})
    if "card_transactions" in sources:
        tables["card_transactions"] = pd.DataFrame({
            "student_id": who(n), "ts": times(n), "merchant_id": rng.choice(["M1", "M2", "M3"], n),
            "category": rng.choice(["canteen", "supermarket", "bathhouse", "other"], n),
            "amount": rng.integers(1, 400, n) / 10})
    if "library_events" in sources:
        tables["library_events"] = pd.DataFrame({"student_id": who(n // 3), "ts": times(n // 3),
                                                 "kind": rng.choice(["entry", "exit"], n // 3)})
    if "network_sessions" in sources:
        s = times(n // 2)
        tables["network_sessions"] = pd.DataFrame({
            "student_id": who(n // 2), "start_ts": s,
            "end_ts": s + pd.to_timedelta(rng.integers(0, 30 * 3600, n // 2), unit="s")})
    return tables


def _daily(con, tables, first: int, last: int, cfg: FeatureConfig,  # type: ignore[no-untyped-def]
           channels: frozenset[str] | None = None, in_memory: bool = False) -> pd.DataFrame:
    expr, _ = daily_expr(tables, first, last, cfg, con, channels=channels, in_memory=in_memory)
    return con.execute(expr.order_by(["student_id", "day"])).reset_index(drop=True)


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n_students=st.integers(1, 6), n_days=st.integers(2, 40),
       trim=st.integers(0, 5), sources=st.sets(st.sampled_from(SOURCES), min_size=1).map(tuple),
       lookback=st.integers(1, 10),
       channels=st.none() | st.frozensets(st.sampled_from(sorted(CHANNELS_BY_NAME)), min_size=1),
       in_memory=st.booleans())
def test_grid_spine_equals_joined_spine(seed: int, n_students: int, n_days: int, trim: int,
                                        sources: tuple[str, ...], lookback: int,
                                        channels: frozenset[str] | None, in_memory: bool) -> None:
    """Every channel (or a subset, as the benchmark asks) of the numpy spine, with the
    channel formulas in numpy (``in_memory``) or as the DuckDB projection, against the ibis
    joins, windows and projection."""
    cfg = FeatureConfig(threads=1, observed_lookback_days=lookback)
    con = connect(cfg)
    tables = register_frames(con, _campus(seed, n_students, n_days, tuple(sorted(sources))))
    first = int(day_index(pd.DatetimeIndex([START]))[0]) + min(trim, n_days - 1)  # late start: seeded door state
    last = first + max(n_days - 1 - trim, 0)
    grid = _daily(con, tables, first, last, replace(cfg, threads=2), channels, in_memory)  # kernels on threads
    joined = _daily(con, tables, first, last, replace(cfg, numpy_kernels=False), channels)
    assert len(grid) == n_students * (last - first + 1)
    assert list(grid.columns) == list(joined.columns)
    # spending sums may differ in the last bits (numpy and DuckDB sum in other orders)
    pd.testing.assert_frame_equal(grid, joined, check_exact=False, rtol=1e-12, atol=1e-9)


def test_repeated_roster_ids_use_the_joined_spine() -> None:
    """A repeated id would be one grid row but two spine rows: the grid refuses it."""
    con = connect(FeatureConfig(threads=1))
    raw = _campus(3, 3, 5, SOURCES)
    raw["students"] = pd.concat([raw["students"], raw["students"].iloc[[0]]], ignore_index=True)
    tables = register_frames(con, raw)
    first = int(day_index(pd.DatetimeIndex([START]))[0])
    assert grid_spine(con, tables["students"], [], [], None, first, first + 4, 28) is None
    got = _daily(con, tables, first, first + 4, FeatureConfig(threads=1))
    assert len(got) == 4 * 5  # the joined spine's rows, one per roster row and day


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), shape=st.tuples(st.integers(1, 5), st.integers(1, 30)), lookback=st.integers(1, 35))
def test_observed_grid_is_an_event_in_the_lookback(seed: int, shape: tuple[int, int], lookback: int) -> None:
    has = np.random.default_rng(seed).random(shape) < 0.2
    want = np.array([[has[s, max(0, d - lookback + 1):d + 1].any() for d in range(shape[1])]
                     for s in range(shape[0])])
    np.testing.assert_array_equal(observed_grid(has, lookback), want)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), shape=st.tuples(st.integers(1, 5), st.integers(1, 30)))
def test_carried_grid_is_the_latest_earlier_night(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    night = rng.random(shape) < 0.3
    state = rng.integers(0, 2, shape).astype(float)
    seed_state = rng.choice([0.0, 1.0, np.nan], shape[0])
    value, known = carried_grid(night, state, seed_state)
    for s in range(shape[0]):
        for d in range(shape[1]):
            earlier = [k for k in range(d) if night[s, k]]
            want = state[s, earlier[-1]] if earlier else seed_state[s]
            assert known[s, d] == (not np.isnan(want))
            if known[s, d]:
                assert value[s, d] == want


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n_swipes=st.integers(0, 120), spread_s=st.integers(0, 900),
       packed=st.booleans())
def test_shared_meals_grid_equals_windows(seed: int, n_swipes: int, spread_s: int, packed: bool) -> None:
    """Crowded canteens: swipes bunched within ``spread_s`` seconds of a few meal times, many in
    the same second, students without a room or class, and a student not on the roster; the
    peers sorted as one packed key, or by an argsort (the key for campuses too large to pack)."""
    rng = np.random.default_rng(seed)
    raw = _campus(seed, 6, 3, ("card_transactions",))
    raw["students"]["class_id"] = ["K1", "K1", None, "K2", "K2", "K1"]
    at = rng.choice([7 * 3600, 12 * 3600, 18 * 3600, 3 * 3600], n_swipes) + rng.integers(0, spread_s + 1, n_swipes)
    day = rng.integers(0, 3, n_swipes)
    cfg = FeatureConfig(threads=1)
    # and one planted lunch of roommates and classmates S00 and S01 on day 0, ``gap`` apart
    gap = min(spread_s, cfg.coswipe_seconds)
    raw["card_transactions"] = pd.DataFrame({
        "student_id": [*rng.choice(["S00", "S01", "S02", "S03", "S04", "S05", "X99"], n_swipes), "S00", "S01"],
        "ts": START + pd.to_timedelta(np.append(day * 86400 + at, [12 * 3600, 12 * 3600 + gap]), unit="s"),
        "merchant_id": [*rng.choice(["M1", "M2"], n_swipes), "M1", "M1"],
        "category": [*rng.choice(["canteen", "canteen", "canteen", "supermarket"], n_swipes), "canteen", "canteen"],
        "amount": np.append(rng.integers(1, 4, n_swipes).astype(float), [2.0, 2.0])})
    con = connect(cfg)
    t = register_frames(con, raw)

    def shared(c: FeatureConfig) -> pd.DataFrame:
        out = card_shared(t["card_transactions"], t["students"], c, con)
        return con.execute(out.order_by(["student_id", "day"])).reset_index(drop=True)

    with mock.patch.object(daily_grid, "PACKED_KEY_BITS", 63 if packed else 0):
        fast = shared(replace(cfg, threads=2))  # peer groups on worker threads
    pd.testing.assert_frame_equal(fast, shared(replace(cfg, numpy_kernels=False)), check_dtype=False)
    day0 = fast[fast["day"] == fast["day"].min()].set_index("student_id")["card_meals_accompanied"]
    assert day0["S00"] >= 1 and day0["S01"] >= 1  # the planted lunch is shared


def test_door_state_unknown_until_a_night_is_seen() -> None:
    """A student whose first door event is a morning exit is observed that day, but where
    they slept is unknown: ``door_away_night`` is NULL (not "away") on both spines until a
    night's state is seen, then follows the latest night's state."""
    day0 = START + pd.Timedelta(days=1)
    raw = {"students": pd.DataFrame({"student_id": ["S00"], "class_id": ["K0"], "dorm_room": ["R1"]}),
           "door_events": pd.DataFrame({
               "student_id": ["S00"] * 3,
               "ts": [day0 + pd.Timedelta(hours=10), day0 + pd.Timedelta(hours=20),
                      day0 + pd.Timedelta(days=1, hours=9)],
               "direction": ["out", "in", "out"]})}
    cfg = FeatureConfig(threads=1, observed_lookback_days=7)
    con = connect(cfg)
    tables = register_frames(con, raw)
    first = int(day_index(pd.DatetimeIndex([START]))[0])
    grid = _daily(con, tables, first, first + 3, cfg, in_memory=True)
    pd.testing.assert_frame_equal(grid, _daily(con, tables, first, first + 3, cfg))
    joined = _daily(con, tables, first, first + 3, replace(cfg, numpy_kernels=False))
    pd.testing.assert_frame_equal(grid, joined)
    away = grid.set_index("day")["door_away_night"]
    assert np.isnan(away[first])  # nothing seen: not observed
    assert np.isnan(away[first + 1])  # observed (the exit), but no night seen yet
    assert away[first + 2] == 0.0  # back in at 20:00: slept in
    assert away[first + 3] == 1.0  # out at 09:00 the next morning and not seen back
