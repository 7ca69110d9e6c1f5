"""A hand-written campus for the feature tests: three students, two weeks (2024-03-04 .. 03-17).

Every value the tests expect is computed by hand from the records below (see the comments in
``tests/test_features_hand.py``). A and B share room R1 and class K1; C lives off campus in
class K2. B has no door record at all (a lost card at the gate); C has no door data either.
"""

from __future__ import annotations

import pandas as pd

IDS = {"A": "2023000001", "B": "2023000002", "C": "2022000003"}
KEY = "features-test-key-0123456789"
DAYS = pd.date_range("2024-03-04", "2024-03-17", freq="D")
AS_OF = pd.Timestamp("2024-03-18")
WEEKDAYS = [d for d in DAYS if d.weekday() < 5]


def _t(day: pd.Timestamp, hhmm: str) -> pd.Timestamp:
    h, m = hhmm.split(":")[:2]
    s = int(hhmm.split(":")[2]) if hhmm.count(":") == 2 else 0
    return day + pd.Timedelta(hours=int(h), minutes=int(m), seconds=s)


def hand_campus() -> dict[str, pd.DataFrame]:
    """Raw (not yet pseudonymised) contract-v1 tables."""
    A, B, C = IDS["A"], IDS["B"], IDS["C"]
    students = pd.DataFrame({
        "student_id": [A, B, C], "college": ["CS", "CS", "Math"], "major": ["SE", "SE", "Stat"],
        "class_id": ["K1", "K1", "K2"], "degree_level": ["undergraduate"] * 3, "enrollment_year": [2023, 2023, 2022],
        "gender": ["F", "F", "M"], "dorm_building": ["B1", "B1", None], "dorm_room": ["R1", "R1", None],
        "counselor_id": ["T1", "T1", "T2"], "econ_hardship": [False, True, False],
        "single_parent_or_orphan": [False] * 3, "disability": [False] * 3, "readmitted": [False] * 3,
    })
    door = []
    for d in DAYS:  # A: out 08:00, in 22:00; 03-10 back at 01:00 on 03-11; away the night of 03-14
        door.append((A, _t(d, "08:00"), "out"))
        if d == pd.Timestamp("2024-03-10"):
            door.append((A, _t(d + pd.Timedelta(days=1), "01:00"), "in"))
        elif d != pd.Timestamp("2024-03-14"):
            door.append((A, _t(d, "22:00"), "in"))
    door_df = pd.DataFrame(door, columns=["student_id", "ts", "direction"]).assign(building="B1")
    card = []
    for d in DAYS:
        if d in WEEKDAYS:
            card.append((A, _t(d, "07:30"), "C01", "canteen", 4.0))
        card.append((A, _t(d, "12:00"), "C02", "canteen", 10.0))
        card.append((B, _t(d, "12:01"), "C02", "canteen", 12.0))
        card.append((B, _t(d, "18:00"), "C03", "canteen", 11.0))
        card.append((C, _t(d, "12:00:30"), "C02", "canteen", 9.0))
    card.append((C, _t(pd.Timestamp("2024-03-06"), "15:00"), "SM1", "supermarket", 20.0))
    card_df = pd.DataFrame(card, columns=["student_id", "ts", "merchant_id", "category", "amount"])
    library = pd.DataFrame({"student_id": [C, C], "ts": [_t(pd.Timestamp("2024-03-06"), "09:00"),
                                                         _t(pd.Timestamp("2024-03-13"), "09:00")],
                            "kind": ["entry", "entry"]})
    network = pd.DataFrame({"student_id": [A], "start_ts": [_t(pd.Timestamp("2024-03-12"), "23:30")],
                            "end_ts": [_t(pd.Timestamp("2024-03-13"), "01:30")], "building": ["B1"],
                            "bytes": [10_000]})
    grades = pd.DataFrame({
        "student_id": [A, A, A, A, C],
        "term": ["2023-2024-1", "2023-2024-1", "2023-2024-2", "2023-2024-2", "2023-2024-1"],
        "course_id": ["M1", "P1", "M2", "X1", "S1"],
        "credits": [4.0, 2.0, 4.0, 3.0, 3.0], "score": [85.0, 70.0, 50.0, 90.0, 55.0],
        "passed": [True, True, False, True, False],
        "published_on": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-03-12", "2024-03-18", "2024-03-01"]),
    })
    census = pd.DataFrame({
        "student_id": [A, A], "assessed_on": pd.to_datetime(["2024-03-05", "2024-03-18"]),
        "instrument": ["UPI", "UPI"], "total_score": [30.0, 10.0], "key_item_positive": [True, False],
        "screen_level": [2, 0]})
    leave = pd.DataFrame({"student_id": [B, A], "start_ts": [_t(pd.Timestamp("2024-03-14"), "09:00"),
                                                            _t(pd.Timestamp("2024-03-18"), "10:00")],
                          "end_ts": [_t(pd.Timestamp("2024-03-16"), "18:00"), _t(pd.Timestamp("2024-03-19"), "10:00")],
                          "kind": ["home", "sick"]})
    cal_days = pd.date_range("2024-03-01", "2024-03-18", freq="D")
    period = ["teaching"] * 15 + ["holiday", "holiday", "exam"]
    calendar = pd.DataFrame({"date": cal_days, "period": period})
    return {"students": students, "door_events": door_df, "card_transactions": card_df,
            "library_events": library, "network_sessions": network, "grades": grades, "census": census,
            "leave_records": leave, "calendar": calendar}


def loaded_hand_campus():  # type: ignore[no-untyped-def]
    """The hand campus validated and pseudonymised, plus raw-name -> pseudonym."""
    from riskmodel.contracts import PseudonymKey, validate_tables

    loaded = validate_tables(hand_campus(), KEY)
    assert loaded.report.rows_quarantined == 0, loaded.report.to_frame()
    key = PseudonymKey(KEY)
    return loaded, {name: key.pseudonymise(raw) for name, raw in IDS.items()}
