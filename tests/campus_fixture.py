"""A tiny, valid, hand-written campus (three students, two weeks) for contract tests."""

from __future__ import annotations

import pandas as pd

RAW_IDS = ["2023010101", "2023010102", "2022020201"]
TEST_KEY = "test-key-0123456789abcdef"


def tiny_campus() -> dict[str, pd.DataFrame]:
    """All eleven contract-v1 tables, valid, with raw (not yet pseudonymised) ids."""
    s1, s2, s3 = RAW_IDS
    students = pd.DataFrame(
        {
            "student_id": RAW_IDS,
            "college": ["CS", "CS", "Math"],
            "major": ["Software", "Software", "Statistics"],
            "class_id": ["CS2023-1", "CS2023-1", "MA2022-2"],
            "degree_level": ["undergraduate", "undergraduate", "master"],
            "enrollment_year": [2023, 2023, 2022],
            "gender": ["F", "M", "F"],
            "dorm_building": ["B1", "B2", None],
            "dorm_room": ["B1-101", "B2-202", None],
            "counselor_id": ["T001", "T001", "T002"],
            "econ_hardship": [False, True, False],
            "single_parent_or_orphan": [False, False, True],
            "disability": [False, False, False],
            "readmitted": [False, False, False],
        }
    )
    ts = pd.to_datetime
    door = pd.DataFrame(
        {
            "student_id": [s1, s1, s2, s2],
            "ts": ts(["2024-03-04 07:50", "2024-03-04 22:10", "2024-03-04 08:30", "2024-03-05 01:20"]),
            "building": ["B1", "B1", "B2", "B2"],
            "direction": ["out", "in", "out", "in"],
        }
    )
    card = pd.DataFrame(
        {
            "student_id": [s1, s1, s2, s3],
            "ts": ts(["2024-03-04 07:30", "2024-03-04 12:05", "2024-03-04 12:06", "2024-03-05 18:00"]),
            "merchant_id": ["C01", "C02", "C02", "SM1"],
            "category": ["canteen", "canteen", "canteen", "supermarket"],
            "amount": [4.5, 12.0, 11.5, 23.8],
        }
    )
    library = pd.DataFrame(
        {"student_id": [s1, s3], "ts": ts(["2024-03-04 14:00", "2024-03-06 09:00"]), "kind": ["entry", "entry"]}
    )
    network = pd.DataFrame(
        {
            "student_id": [s1, s2],
            "start_ts": ts(["2024-03-04 20:00", "2024-03-05 00:30"]),
            "end_ts": ts(["2024-03-04 23:00", "2024-03-05 03:00"]),
            "building": ["B1", None],
            "bytes": [1_000_000, None],
        }
    )
    grades = pd.DataFrame(
        {
            "student_id": [s1, s2],
            "term": ["2023-2024-1", "2023-2024-1"],
            "course_id": ["MATH101", "MATH101"],
            "credits": [4.0, 4.0],
            "score": [85.0, 52.0],
            "passed": [True, False],
            "published_on": ts(["2024-03-01", "2024-03-01"]),
        }
    )
    census = pd.DataFrame(
        {
            "student_id": [s1, s2],
            "assessed_on": ts(["2024-03-02", "2024-03-02"]),
            "instrument": ["UPI", "UPI"],
            "total_score": [12.0, 28.0],
            "key_item_positive": [False, True],
            "screen_level": [0, 2],
        }
    )
    leave = pd.DataFrame(
        {
            "student_id": [s2],
            "start_ts": ts(["2024-03-08 12:00"]),
            "end_ts": ts(["2024-03-10 18:00"]),
            "kind": ["home"],
        }
    )
    aid = pd.DataFrame({"student_id": [s2], "academic_year": ["2023-2024"], "level": [2]})
    calendar = pd.DataFrame(
        {"date": pd.date_range("2024-03-01", "2024-03-14"), "period": ["teaching"] * 14}
    )
    crisis = pd.DataFrame(
        {"student_id": [s2], "occurred_on": ts(["2024-03-12"]), "level": [1], "category": ["severe_episode"]}
    )
    return {
        "students": students,
        "door_events": door,
        "card_transactions": card,
        "library_events": library,
        "network_sessions": network,
        "grades": grades,
        "census": census,
        "leave_records": leave,
        "aid_roster": aid,
        "calendar": calendar,
        "crisis_events": crisis,
    }


def write_campus(tables: dict[str, pd.DataFrame], folder, fmt: str = "parquet") -> None:
    """Write tables as an information-center export (one file per table)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
