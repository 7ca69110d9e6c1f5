"""Scope, callers, role checks and the append-only audit log."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from riskmodel.scoping import (
    AccessConfig,
    CallerEntry,
    Scope,
    ScopeError,
    access_config_from_dict,
    allowed_students,
    audit,
    authenticate,
    check_role,
    read_audit_log,
    restrict,
    scoped_call,
    verify_audit_log,
)
from test_alerts_campus import KEY, load, pid, routine_campus

ACCESS = access_config_from_dict({"callers": {
    "ms-wang": {"role": "counselor", "counselor_id": "T01"},
    "dean-math": {"role": "college_leader", "college": "Math"},
    "center": {"role": "counselling_center"},
    "aid": {"role": "aid_office"},
}})


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    return load(routine_campus(n=8, days=1))["students"]


def test_counselor_sees_only_the_classes_of_their_students(students) -> None:
    wang = authenticate("ms-wang", "counselor", ACCESS)
    ids = allowed_students(students, wang, Scope.school(), ACCESS, KEY)
    assert set(ids) == {pid(i) for i in range(0, 8, 2)}  # counselor T01 has the even (CS) students
    with pytest.raises(ScopeError, match="may not see college=Math"):
        allowed_students(students, wang, Scope.parse("college=Math"), ACCESS, KEY)
    room = students.loc[students["student_id"] == pid(0), "dorm_room"].iloc[0]
    assert set(allowed_students(students, wang, Scope("dorm_room", room), ACCESS, KEY)) == {pid(0), pid(2)}


def test_caller_say_so_is_not_enough() -> None:
    with pytest.raises(ScopeError, match="registered with role 'counselor'"):
        authenticate("ms-wang", "admin", ACCESS)
    with pytest.raises(ScopeError, match="not in the access registry"):
        authenticate("intruder", "admin", ACCESS)


def test_hidden_aid_only_for_the_aid_office() -> None:
    check_role(authenticate("aid", None, ACCESS), "hidden_aid")
    for who in ("center", "dean-math", "ms-wang"):
        with pytest.raises(ScopeError, match="aid_office"):
            check_role(authenticate(who, None, ACCESS), "hidden_aid")
    with pytest.raises(ScopeError, match="restricted"):
        check_role(authenticate("aid", None, ACCESS), "night_absence")


def test_scope_parse_and_errors() -> None:
    assert Scope.parse("college=CS") == Scope("college", "CS")
    assert str(Scope.parse(None)) == "school"
    with pytest.raises(ValueError, match="LEVEL=VALUE"):
        Scope.parse("CS")
    with pytest.raises(ValueError, match="not one of"):
        Scope("faculty", "x")
    with pytest.raises(ValueError, match="counselor_id"):
        CallerEntry(role="counselor")


def test_scoped_call_restricts_and_audits_without_ids(students, tmp_path) -> None:
    frame = pd.DataFrame({"student_id": students["student_id"], "score": range(len(students))})
    log = tmp_path / "audit.jsonl"
    dean = authenticate("dean-math", None, ACCESS)
    out = scoped_call(frame, students, dean, Scope.school(), what="night_absence", as_of="2024-03-05",
                      audit_path=log, key=KEY)
    assert set(out["student_id"]) == {pid(i) for i in range(1, 8, 2)}
    with pytest.raises(ScopeError):
        scoped_call(frame, students, dean, Scope.school(), what="hidden_aid", as_of="2024-03-05", audit_path=log)
    recs = read_audit_log(log)
    assert [r["rows"] for r in recs] == [4, 0]
    assert recs[0]["caller"] == "dean-math" and recs[0]["scope"] == "school" and recs[1]["outcome"].startswith("denied")
    text = log.read_text()
    assert not any(s in text for s in students["student_id"])
    assert verify_audit_log(log)


def test_audit_log_is_append_only_and_tamper_evident(tmp_path) -> None:
    log = tmp_path / "a.jsonl"
    c = authenticate("center", None, ACCESS)
    for i in range(3):
        audit(log, caller=c, scope=Scope.school(), as_of="2024-01-01", what="anomaly", rows=i)
    assert [r["rows"] for r in read_audit_log(log)] == [0, 1, 2]
    assert verify_audit_log(log)
    lines = log.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["rows"] = 99
    lines[1] = json.dumps(edited, sort_keys=True, ensure_ascii=False)
    log.write_text("\n".join(lines) + "\n")
    assert not verify_audit_log(log)


@settings(max_examples=30, deadline=None)
@given(hs.lists(hs.sampled_from(["CS", "Math", "Bio"]), min_size=1, max_size=12), hs.sampled_from(["CS", "Math", "Bio"]))
def test_restrict_never_returns_rows_outside_the_scope(colleges, college) -> None:
    n = len(colleges)
    students = pd.DataFrame({"student_id": [f"s{i}" for i in range(n)], "college": colleges,
                             "class_id": [f"c{i % 3}" for i in range(n)], "enrollment_year": 2023,
                             "dorm_room": None, "counselor_id": "x"})
    frame = pd.DataFrame({"student_id": [f"s{i}" for i in range(n)] * 2})
    center = authenticate("center", None, ACCESS)
    out = restrict(frame, students, center, Scope("college", college))
    allowed = {f"s{i}" for i, c in enumerate(colleges) if c == college}
    assert set(out["student_id"]) == allowed and len(out) == 2 * len(allowed)
    assert isinstance(ACCESS, AccessConfig)
