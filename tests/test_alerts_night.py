"""Night absence and lost contact on hand-made campuses with planted cases and decoys."""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.alerts.config import LostContactConfig, NightAbsenceConfig
from riskmodel.alerts.night_absence import absent_runs, lost_contact, night_absence, night_statuses
from test_alerts_campus import load, pid, routine_campus, sid

START = pd.Timestamp("2024-03-04")
STOPPER, LEAVER, LATE = 1, 3, 5  # students 1, 3, 5 live in B2 (odd index); 0, 2, 4... in B1


def day(d: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=d)


def _plan(i: int, d: int, _day: pd.Timestamp) -> dict | None:
    if i == STOPPER and d >= 20:  # stops coming back from night 20 (still seen on campus by day)
        return {"in": None, "net": None}
    if i == LEAVER and 18 <= d <= 24:  # away on approved leave, no records at all
        return None
    if i == LATE and d == 21:  # back at 01:30: late, not absent
        return {"in": 25.5, "net": None}
    return {}


def _leave(frames: dict) -> dict:
    frames["leave_records"] = pd.DataFrame({
        "student_id": [sid(LEAVER)], "start_ts": [day(18) + pd.Timedelta(hours=7)],
        "end_ts": [day(25) + pd.Timedelta(hours=9)], "kind": ["home"]})
    return frames


@pytest.fixture(scope="module")
def campus():
    return load(_leave(routine_campus(n=8, days=28, plan=_plan)))


def test_planted_stopper_is_found_with_escalation_and_since(campus) -> None:
    alerts, gaps = night_absence(campus, day(22), NightAbsenceConfig(use_network_evidence=True))
    assert gaps.empty
    assert alerts["student_id"].tolist() == [pid(STOPPER)]
    row = alerts.iloc[0]
    assert row["nights"] == 3 and row["level"] == 3
    assert row["since"] == day(20).date().isoformat()
    assert "3 night(s)" in row["reason_en"] and "未归寝" in row["reason_zh"]
    first, _ = night_absence(campus, day(20), NightAbsenceConfig())
    assert first["level"].tolist() == [1]


def test_decoys_leave_and_late_return_are_not_flagged(campus) -> None:
    st = night_statuses(campus, [day(21)], NightAbsenceConfig())
    by = st.set_index("student_id")["status"]
    assert by[pid(LEAVER)] == "on_leave"
    assert by[pid(LATE)] == "late_return"
    assert by[pid(0)] == "home"
    alerts, _ = night_absence(campus, day(21), NightAbsenceConfig())
    assert set(alerts["student_id"]) == {pid(STOPPER)}


def test_vacation_nights_raise_nothing() -> None:
    frames = routine_campus(n=4, days=14, plan=lambda i, d, x: {"in": None, "net": None} if i == 1 else {},
                            periods=lambda x: "vacation")
    alerts, _ = night_absence(load(frames), day(10))
    assert alerts.empty


def test_dark_gate_is_a_data_gap_not_a_building_of_alerts() -> None:
    def plan(i: int, d: int, _x: pd.Timestamp) -> dict:
        if i % 2 == 1 and d == 12:  # B2's gate records nothing from the evening on
            return {"in": None}
        if i % 2 == 1 and d == 13:
            return {"out": 9.5}
        return {}

    camp = load(routine_campus(n=8, days=20, plan=plan))
    no_net = NightAbsenceConfig(use_network_evidence=False)
    alerts, gaps = night_absence(camp, day(12), no_net)
    assert alerts.empty
    assert gaps["building"].tolist() == ["B2"] and gaps["students_suppressed"].tolist() == [4]
    naive, _ = night_absence(camp, day(12), NightAbsenceConfig(use_network_evidence=False, suppress_outages=False))
    assert len(naive) == 4  # without the outage rule the whole building would be flagged
    nxt, gaps13 = night_absence(camp, day(13), no_net)
    assert nxt.empty and gaps13.empty


def test_network_session_at_home_overrides_a_missed_swipe() -> None:
    def plan(i: int, d: int, _x: pd.Timestamp) -> dict:
        if i == 2 and d == 6:  # online in the dorm until 00:30 but no swipe in
            return {"in": None, "net": (20.0, 24.5)}
        if i == 3 and d == 6:  # online in the dorm only early in the evening, then away
            return {"in": None, "net": (18.0, 20.0)}
        return {}

    frames = routine_campus(n=4, days=10, plan=plan)
    camp = load(frames)
    assert night_absence(camp, day(6), NightAbsenceConfig(use_network_evidence=True))[0]["student_id"].tolist() == [
        pid(3)]
    flagged, _ = night_absence(camp, day(6), NightAbsenceConfig(use_network_evidence=False))
    assert set(flagged["student_id"]) == {pid(2), pid(3)}


def test_absent_runs_counts_consecutive_nights_only() -> None:
    st = pd.DataFrame({"student_id": ["a"] * 5, "night": pd.date_range("2024-01-01", periods=5),
                       "status": ["absent", "absent", "home", "absent", "absent"]})
    assert absent_runs(st)["run"].tolist() == [1, 2, 0, 1, 2]


# ----------------------------------------------------------------------------- lost contact


def _silent_plan(i: int, d: int, _x: pd.Timestamp) -> dict | None:
    if i == 2 and d >= 20:
        return None  # vanishes
    if i == LEAVER and 18 <= d <= 24:
        return None  # on leave
    return {}


def test_lost_contact_finds_the_silent_student_with_last_place() -> None:
    camp = load(_leave(routine_campus(n=8, days=28, plan=_silent_plan)))
    alerts, gaps = lost_contact(camp, day(23), LostContactConfig())
    assert gaps.empty
    assert alerts["student_id"].tolist() == [pid(2)]
    row = alerts.iloc[0]
    assert row["level"] == 3
    assert row["since"].startswith(day(19).date().isoformat())
    assert row["hours_silent"] >= 48
    assert "network" in row["last_place"]  # the last thing on day 19 is the evening network session
    early, _ = lost_contact(camp, day(21), LostContactConfig())
    assert early.empty  # 24-30 hours is not yet lost contact


def test_lost_contact_not_during_vacation_and_counts_from_its_end() -> None:
    def period(x: pd.Timestamp) -> str:
        return "vacation" if x < day(10) else "teaching"

    frames = routine_campus(n=4, days=20, plan=lambda i, d, x: None if (i == 1 and 2 <= d < 13) else {},
                            periods=period)
    camp = load(frames)
    assert lost_contact(camp, day(8))[0].empty  # in vacation
    assert lost_contact(camp, day(11))[0].empty  # 24 h after the vacation ended
    late, _ = lost_contact(camp, day(12) + pd.Timedelta(hours=1))
    assert late["student_id"].tolist() == [pid(1)]
    assert 48 <= late.iloc[0]["hours_silent"] < 50


def test_only_records_before_as_of_are_used() -> None:
    camp = load(routine_campus(n=4, days=20, plan=lambda i, d, x: None if (i == 1 and 5 <= d < 12) else {}))
    a, _ = lost_contact(camp, day(9))
    assert a["student_id"].tolist() == [pid(1)]  # later records (day 12 on) do not hide it
