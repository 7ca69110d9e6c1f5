"""Hand-made tiny campuses for the alert tests (planted cases and decoys), and their checks.

``routine_campus`` writes an ordinary day for every student and day (out of the dorm in the
morning, meals, library, network in the evening, back in the dorm at night); ``plan``
overrides any (student, day) with other routine values or ``None`` (no record at all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.contracts import PseudonymKey, validate_tables

from campus_fixture import TEST_KEY

KEY = PseudonymKey(TEST_KEY)

DEFAULT_DAY: dict[str, Any] = {
    "out": 8.0, "in": 21.5, "meals": (7.5, 12.0, 18.0), "meal_price": 11.0, "library": 14.0,
    "net": (20.0, 23.0), "supermarket": 15.0, "gate": True,
}


def sid(i: int) -> str:
    return f"2024{i:06d}"


def routine_campus(
    n: int = 10,
    days: int = 28,
    start: str = "2024-03-04",
    plan: Callable[[int, int, pd.Timestamp], dict[str, Any] | None] | None = None,
    buildings: tuple[str, ...] = ("B1", "B2"),
    periods: Callable[[pd.Timestamp], str] | None = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Raw (un-pseudonymised) contract-v1 tables of a routine campus of ``n`` students."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days)
    students = pd.DataFrame({
        "student_id": [sid(i) for i in range(n)],
        "college": ["CS" if i % 2 == 0 else "Math" for i in range(n)],
        "major": ["SE" if i % 2 == 0 else "ST" for i in range(n)],
        "class_id": ["CS2024-1" if i % 2 == 0 else "MA2024-1" for i in range(n)],
        "degree_level": ["undergraduate"] * n,
        "enrollment_year": [2023] * n,
        "gender": ["F" if i % 3 == 0 else "M" for i in range(n)],
        "dorm_building": [buildings[i % len(buildings)] for i in range(n)],
        "dorm_room": [f"{buildings[i % len(buildings)]}-{100 + i // 4}" for i in range(n)],
        "counselor_id": ["T01" if i % 2 == 0 else "T02" for i in range(n)],
        "econ_hardship": [False] * n,
        "single_parent_or_orphan": [False] * n,
        "disability": [False] * n,
        "readmitted": [False] * n,
    })
    door, card, lib, net = [], [], [], []
    for i in range(n):
        s = sid(i)
        b = students.loc[i, "dorm_building"]
        for d, day in enumerate(dates):
            p = dict(DEFAULT_DAY)
            if plan is not None:
                over = plan(i, d, day)
                if over is None:
                    continue
                p.update(over)
            def at(h: float, day: pd.Timestamp = day) -> pd.Timestamp:
                return day + pd.Timedelta(hours=float(h) + rng.normal(0, 0.15))  # 0.15 h of jitter

            if p["gate"] and p["out"] is not None:
                door.append((s, at(p["out"]), b, "out"))
            if p["gate"] and p["in"] is not None:
                door.append((s, at(p["in"]), b, "in"))
            for k, h in enumerate(p["meals"]):
                price = float(p["meal_price"]) * (0.45 if k == 0 and len(p["meals"]) == 3 else 1.0)
                card.append((s, at(h), f"C0{k + 1}", "canteen", round(max(0.5, price * (1 + rng.normal(0, 0.1))), 2)))
            if p["supermarket"]:
                card.append((s, at(16.5), "SM1", "supermarket", float(p["supermarket"])))
            if p["library"] is not None:
                lib.append((s, at(p["library"]), "entry"))
            if p["net"] is not None:
                net.append((s, at(p["net"][0]), at(p["net"][1]), b, 1_000_000))
    ts = ["student_id", "ts"]
    cal_period = periods or (lambda day: "teaching")
    return {
        "students": students,
        "door_events": pd.DataFrame(door, columns=[*ts, "building", "direction"]),
        "card_transactions": pd.DataFrame(card, columns=[*ts, "merchant_id", "category", "amount"]),
        "library_events": pd.DataFrame(lib, columns=[*ts, "kind"]),
        "network_sessions": pd.DataFrame(net, columns=["student_id", "start_ts", "end_ts", "building", "bytes"]),
        "leave_records": pd.DataFrame(columns=["student_id", "start_ts", "end_ts", "kind"]).astype(
            {"start_ts": "datetime64[ns]", "end_ts": "datetime64[ns]"}),
        "calendar": pd.DataFrame({"date": pd.date_range(start, periods=days + 2),
                                  "period": [cal_period(x) for x in pd.date_range(start, periods=days + 2)]}),
    }


def load(frames: dict[str, pd.DataFrame]) -> Any:
    """Validate + pseudonymise hand-made frames with the test key."""
    return validate_tables(frames, KEY)


def pid(i: int) -> str:
    """Pseudonym of hand-made student ``i``."""
    return KEY.pseudonymise(sid(i))


def test_routine_campus_is_valid_and_complete() -> None:
    loaded = load(routine_campus(n=4, days=7))
    assert loaded.report.rows_quarantined == 0
    assert len(loaded["door_events"]) == 4 * 7 * 2
    assert set(loaded["students"]["student_id"]) == {pid(i) for i in range(4)}


def test_plan_none_removes_every_record_of_that_day() -> None:
    frames = routine_campus(n=2, days=5, plan=lambda i, d, day: None if (i == 1 and d == 2) else {})
    door = frames["door_events"]
    day2 = door["ts"].dt.normalize() == pd.Timestamp("2024-03-06")
    assert (door.loc[day2, "student_id"] == sid(1)).sum() == 0
    assert (door.loc[day2, "student_id"] == sid(0)).sum() == 2
