"""The report edge (riskmodel.reports.jobs) on the small simulated campus, with a stand-in
scorer of the Scorer's shape (the real Scorer is tested by the scoring suite)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from riskmodel.reports import jobs
from riskmodel.scoping import (
    AccessConfig,
    CallerEntry,
    ScopeError,
    read_audit_log,
    verify_audit_log,
)


class StandInScorer:
    """Scores every enrolled student in the caller's scope with a hash-based probability."""

    name, version, family = "crisis-warning", "7", "lightgbm"

    def __init__(self, access: AccessConfig):
        self._access = access

    def score(self, data, as_of, scope=None, capacity=None, *, caller=None, key=None, features=None):
        from riskmodel.scoping import Scope, allowed_students, authenticate, check_role

        who = authenticate(caller, None, self._access)
        check_role(who, "score")
        st = data.tables["students"]
        ids = allowed_students(st, who, Scope.parse(scope), self._access)
        st = st[st["student_id"].isin(ids)]
        t = pd.Timestamp(as_of)
        p = np.array([(hash((s, t.isoformat())) % 1000) / 1000 * 0.3 for s in st["student_id"]])
        k = max(1, len(st) // 20)
        order = np.argsort(-p, kind="stable")
        band = np.full(len(st), "none", dtype=object)
        band[order[:k]] = "flag"
        return pd.DataFrame({"student_id": st["student_id"].to_numpy(), "college": st["college"].to_numpy(),
                             "grade": st["enrollment_year"].to_numpy(), "class_id": st["class_id"].to_numpy(),
                             "probability": p, "rank": np.argsort(order) + 1, "band": band,
                             "reasons_zh": [["近14天最后归寝时间平均为 01:10（本人此前通常为 22:30）"]] * len(st),
                             "reasons_en": [["last return averaged 01:10 (usually 22:30)"]] * len(st),
                             "model_name": self.name, "model_version": self.version, "as_of": t})

    def explain(self, student, as_of, *, data, caller=None, scope=None, key=None):
        got = self.score(data, as_of, scope, caller=caller)
        if student not in set(got["student_id"]):
            raise ScopeError("no scored student with that id in your scope")
        return SimpleNamespace(families={"sleep_routine": 0.8, "diet": 0.2, "social": -0.1, "study": 0.4})


@pytest.fixture(scope="module")
def campus(sim_campus_dir, sim_key, tmp_path_factory):
    from riskmodel.contracts import load_sources

    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    access = AccessConfig(callers={"center": CallerEntry(role="counselling_center"),
                                   "dean": CallerEntry(role="college_leader", college="CS"),
                                   "aid": CallerEntry(role="aid_office")}, audit_log=str(audit))
    return load_sources(sim_campus_dir, key=sim_key), StandInScorer(access), audit


def test_weekly_page_for_one_college_is_scoped_and_audited(campus):
    loaded, scorer, audit = campus
    html = jobs.weekly_page(scorer, loaded, "2024-01-08", scope="college=CS", caller="dean", nights=2)
    st = loaded.tables["students"]
    others = set(st.loc[st["college"] != "CS", "student_id"])
    shown = set(re.findall(r'class="ids">([0-9a-f]{16})<', html))
    assert shown and not shown & others
    assert "近14天最后归寝时间" in html and "未归寝" in html and "学院 CS" in html
    assert "door_events" in html  # data-quality box
    log = read_audit_log(audit)
    assert any(r["what"] == "night_absence" and r["caller"] == "dean" and r["scope"] == "college=CS" for r in log)
    assert verify_audit_log(audit)
    assert not any(sid in audit.read_text() for sid in list(st["student_id"])[:50])


def test_weekly_page_refuses_a_scope_outside_the_caller(campus):
    loaded, scorer, _ = campus
    with pytest.raises(ScopeError):
        jobs.weekly_page(scorer, loaded, "2024-01-08", scope="school", caller="aid")


def test_monthly_and_student_pages(campus, tmp_path):
    loaded, scorer, _ = campus
    html = jobs.monthly_page(scorer, loaded, "2024-01", scope="school", caller="center", months=2, min_group_size=5)
    assert "心理危机风险月报" in html and "crisis-warning" in html and html.count('<img class="chart"') >= 2
    sid = loaded.tables["students"].query("college == 'CS'")["student_id"].iloc[0]
    page = jobs.student_page(scorer, loaded, sid, "2024-01-08", scope="college=CS", caller="dean", weeks=2,
                             nights=1, lang="en")
    assert f"One file per student · {sid}" in page and page.count('<img class="chart"') == 2
    p = jobs.write_page(page, tmp_path / "s.html")
    assert p.read_text(encoding="utf-8") == page
    other = loaded.tables["students"].query("college != 'CS'")["student_id"].iloc[0]
    with pytest.raises(ScopeError):
        jobs.student_page(scorer, loaded, other, "2024-01-08", scope="college=CS", caller="dean", weeks=1, nights=1)
