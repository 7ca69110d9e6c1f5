"""Report renderers on small hand-made frames of the scoring / alerts shapes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.reports import (
    DataQuality,
    ModelCardInfo,
    MonthlyConfig,
    OutOfScopeError,
    ReportInputError,
    ReportScope,
    StudentConfig,
    WeeklyConfig,
    calibration_table,
    detect_gate_outages,
    monthly_counts,
    monthly_report,
    outcome_labels,
    own_baseline,
    render_model_card,
    student_file,
    weekly_changes,
    weekly_check,
    write_atomic,
)

COLLEGES = ("CS", "Math")
IMG = re.compile(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def roster(n: int = 40) -> pd.DataFrame:
    """n students: pseudonyms p000.., two colleges, two grades, one class per college x grade."""
    ids = [f"p{i:03d}" for i in range(n)]
    col = [COLLEGES[i % 2] for i in range(n)]
    grade = ["2022" if (i // 2) % 2 else "2023" for i in range(n)]
    return pd.DataFrame({"student_id": ids, "college": col, "grade": grade,
                         "class_id": [f"{c}{g}-1" for c, g in zip(col, grade, strict=True)]})


def scores(as_of: str, flagged: set[str], n: int = 40, seed: int = 0) -> pd.DataFrame:
    """One week's Scorer-shaped output; ``flagged`` ids get band flag and high probability."""
    r = roster(n)
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.05, n)
    is_flag = r["student_id"].isin(flagged).to_numpy()
    p[is_flag] = rng.uniform(0.2, 0.6, is_flag.sum())
    out = r.rename(columns={"class_id": "class"}).assign(
        probability=p, band=np.where(is_flag, "flag", "none"), as_of=pd.Timestamp(as_of),
        model_name="crisis-warning", model_version="3")
    out["rank"] = out["probability"].rank(ascending=False, method="first").astype(int)
    out["reasons_zh"] = [["近两周晚归次数比本人平时多 5 次", "在食堂独自就餐比例升高"] if f else [] for f in is_flag]
    out["reasons_en"] = [["5 more late returns than usual in two weeks", "eats alone more often"] if f else []
                         for f in is_flag]
    return out


def alerts() -> pd.DataFrame:
    return pd.DataFrame({
        "student_id": ["p000", "p001", "p002", "p004"],
        "kind": ["night_absence", "lost_contact", "anomaly", "academic"],
        "date": pd.to_datetime(["2024-03-09", "2024-03-10", "2024-03-08", "2024-03-05"]),
        "reasons_zh": ["3 月 9 日夜未归寝，无请假记录", "连续 3 天无任何刷卡记录", "作息与本人平时明显不同", "本学期不及格 2 门"],
        "reasons_en": ["away on the night of 9 March, no leave", "no record for 3 days", "routine unlike usual",
                       "failed 2 courses this term"],
    })


def history(weeks: int = 12, n: int = 40) -> pd.DataFrame:
    dates = pd.date_range("2024-01-07", periods=weeks, freq="7D")
    parts = [scores(str(d.date()), {f"p{(i + k) % n:03d}" for k in range(3)}, n, seed=i) for i, d in enumerate(dates)]
    return pd.concat(parts, ignore_index=True)


def decoded_images(html: str) -> list[bytes]:
    import base64

    return [base64.b64decode(m) for m in IMG.findall(html)]


def assert_self_contained(html: str) -> None:
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html), "external resource in report"
    imgs = decoded_images(html)
    assert imgs, "no embedded chart"
    assert all(b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) > 500 for b in imgs)


# ---------------------------------------------------------------- scope

def test_scope_needs_its_columns_and_restricts():
    r = roster()
    assert ReportScope().restrict(r).shape == r.shape
    cs = ReportScope("college", college="CS").restrict(r)
    assert set(cs["college"]) == {"CS"} and len(cs) == 20
    g = ReportScope("grade", college="CS", grade="2023").restrict(r)
    assert set(zip(g["college"], g["grade"], strict=True)) == {("CS", "2023")}
    with pytest.raises(ValueError, match="needs college"):
        ReportScope("college")
    with pytest.raises(ValueError, match="level must be one of"):
        ReportScope("dorm")
    with pytest.raises(ReportInputError, match="class_id"):
        ReportScope("class", class_id="x").mask(r.drop(columns="class_id"))


def test_scope_from_any_accepts_objects_and_dicts():
    s = ReportScope.from_any({"level": "grade", "college": "CS", "grade": 2023})
    assert s == ReportScope("grade", college="CS", grade="2023")
    assert ReportScope.from_any(None).level == "school"


# ---------------------------------------------------------------- weekly

def test_weekly_check_lists_only_in_scope_flags_with_reasons_and_changes():
    now = scores("2024-03-11", {"p000", "p001", "p002", "p003"})
    prev = scores("2024-03-04", {"p000", "p005", "p007"})
    dq = DataQuality(sources_present=["students", "door_events"], sources_missing=["network_sessions"],
                     tables=pd.DataFrame({"table": ["door_events"], "rows_read": [100], "rows_quarantined": [3],
                                          "reasons": ["unknown student: 3"]}),
                     gate_outages=pd.DataFrame({"building": ["B7"], "night": [pd.Timestamp("2024-03-08")],
                                                "events": [0], "usual": [120.0]}))
    html = weekly_check(now, scope=ReportScope("college", college="CS"), previous=prev, alerts=alerts(),
                        quality=dq, generated_at=pd.Timestamp("2024-03-11 08:00"))
    assert "<title>心理危机风险周查</title>" in html
    # CS holds even-numbered students only
    assert "p000" in html and "p002" in html
    assert "p001" not in html and "p003" not in html and "p005" not in html and "p007" not in html
    assert "近两周晚归次数比本人平时多 5 次" in html and "eats alone" not in html
    assert "3 月 9 日夜未归寝" in html and "不及格 2 门" in html and "连续 3 天" not in html
    assert "B7" in html and "network_sessions" in html and "unknown student: 3" in html
    changes = re.search(r'<section id="changes">(.*?)</section>', html, re.S).group(1)
    assert "新增 1" in changes and "持续 1" in changes and "解除 0" in changes
    assert_self_contained(html)


def test_weekly_check_in_english():
    html = weekly_check(scores("2024-03-11", {"p000"}), cfg=WeeklyConfig(lang="en"))
    assert "<title>Weekly check of crisis risk</title>" in html
    assert "5 more late returns" in html and "近两周" not in html
    assert 'lang="en"' in html


def test_weekly_check_rejects_bad_input():
    with pytest.raises(ReportInputError, match="scores: missing column.*probability"):
        weekly_check(scores("2024-03-11", set()).drop(columns="probability"))
    two = pd.concat([scores("2024-03-11", set()), scores("2024-03-04", set())])
    with pytest.raises(ReportInputError, match="one as_of"):
        weekly_check(two)
    with pytest.raises(ValueError, match="lang"):
        weekly_check(scores("2024-03-11", set()), cfg=WeeklyConfig(lang="fr"))


def test_weekly_check_escapes_html_in_reasons():
    s = scores("2024-03-11", {"p000"})
    s.at[0, "reasons_zh"] = ["<script>alert(1)</script>"]
    html = weekly_check(s)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(0, 19)), st.sets(st.integers(0, 19)))
def test_weekly_changes_partition(now_ids, prev_ids):
    now = scores("2024-03-11", {f"p{i:03d}" for i in now_ids}, n=20)
    prev = scores("2024-03-04", {f"p{i:03d}" for i in prev_ids}, n=20)
    ch = weekly_changes(now, prev, ("flag",))
    assert set(ch["new"]) | set(ch["still"]) == {f"p{i:03d}" for i in now_ids}
    assert set(ch["still"]) | set(ch["cleared"]) == {f"p{i:03d}" for i in prev_ids}
    assert not set(ch["new"]) & set(ch["still"]) and not set(ch["cleared"]) & set(ch["new"])


def test_detect_gate_outages_finds_a_dark_night_and_reads_nothing_after_end():
    rng = np.random.default_rng(1)
    rows = []
    for day in pd.date_range("2024-03-01", "2024-03-14"):
        for b in ("B1", "B2"):
            if b == "B2" and day == pd.Timestamp("2024-03-08"):
                continue  # dark night
            for _ in range(30):
                rows.append((b, day + pd.Timedelta(hours=22) + pd.Timedelta(minutes=int(rng.integers(0, 200)))))
    door = pd.DataFrame(rows, columns=["building", "ts"]).assign(student_id="x", direction="in")
    out = detect_gate_outages(door, pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11"))
    assert list(zip(out["building"], out["night"], strict=True)) == [("B2", pd.Timestamp("2024-03-08"))]
    # a later dark night changes nothing before it
    later = door[~((door["building"] == "B1") & (door["ts"] >= "2024-03-12"))]
    pd.testing.assert_frame_equal(out, detect_gate_outages(later, pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11")))
    assert detect_gate_outages(None, pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11")).empty


def test_data_quality_from_validation_report(tmp_path):
    from riskmodel.contracts import validate_tables

    from campus_fixture import TEST_KEY, tiny_campus

    t = tiny_campus()
    t.pop("network_sessions")
    t["card_transactions"].loc[0, "amount"] = -1.0
    loaded = validate_tables(t, key=TEST_KEY)
    dq = DataQuality.from_report(loaded.report)
    assert "network_sessions" in dq.sources_missing and "students" in dq.sources_present
    card = dq.tables.set_index("table").loc["card_transactions"]
    assert card["rows_quarantined"] == 1 and card["rows_read"] == 4


# ---------------------------------------------------------------- monthly

def test_monthly_counts_suppress_small_groups():
    h = history()
    c = monthly_counts(h, "college", MonthlyConfig(min_group_size=21))
    assert c["suppressed"].all() and c["students_flagged"].isna().all()
    c = monthly_counts(h, "college", MonthlyConfig(min_group_size=20))
    assert not c["suppressed"].any()
    jan = h[pd.to_datetime(h["as_of"]).dt.month == 1]
    want = jan[(jan["band"] == "flag") & (jan["college"] == "CS")]["student_id"].nunique()
    got = c[(c["month"] == "2024-01") & (c["group"] == "CS")]["students_flagged"].item()
    assert got == want


def test_outcome_labels_window_is_after_as_of_within_horizon():
    s = pd.DataFrame({"student_id": ["a", "a", "b"], "as_of": pd.to_datetime(["2024-03-01", "2024-03-20", "2024-03-01"])})
    ev = pd.DataFrame({"student_id": ["a", "b"], "occurred_on": pd.to_datetime(["2024-03-29", "2024-03-01"])})
    assert outcome_labels(s, ev, 28).tolist() == [1, 1, 0]
    assert outcome_labels(s, ev, 27).tolist() == [0, 1, 0]


def test_calibration_table_bins_cover_every_row():
    s = pd.DataFrame({"probability": np.linspace(0, 1, 23)})
    t = calibration_table(s, pd.Series(np.r_[np.zeros(20), np.ones(3)]), 5)
    assert t["n"].sum() == 23 and len(t) == 5 and t["observed"].iloc[-1] > t["observed"].iloc[0]


def test_monthly_report_school_and_college():
    h = history()
    ev = pd.DataFrame({"student_id": ["p010", "p011"], "occurred_on": pd.to_datetime(["2024-03-01", "2024-03-12"])})
    html = monthly_report(h, month="2024-03", events=ev, cfg=MonthlyConfig(min_group_size=5))
    assert "<title>心理危机风险月报</title>" in html and "crisis-warning" in html
    assert html.count('<img class="chart"') == 3  # by college, by grade, calibration
    assert_self_contained(html)
    col = monthly_report(h, scope=ReportScope("college", college="Math"), month="2024-03", events=ev,
                         cfg=MonthlyConfig(min_group_size=5, lang="en"))
    assert "Monthly report" in col and col.count('<img class="chart"') == 2
    with pytest.raises(ReportInputError, match="college or the school"):
        monthly_report(h, scope=ReportScope("class", class_id="CS2023-1"))


def test_monthly_report_never_shows_a_small_group():
    h = history(n=12)
    html = monthly_report(h, month="2024-03", cfg=MonthlyConfig(min_group_size=10))
    trend = re.search(r'<section id="trend">(.*?)</section>', html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', trend)
    assert cells and all(c in ("&lt;10", "") for c in cells)


def test_monthly_report_reads_nothing_after_the_month():
    h = history()
    later = pd.concat([h, scores("2024-04-07", {f"p{i:03d}" for i in range(30)})])
    a = monthly_report(h, month="2024-03", generated_at=None)
    b = monthly_report(later, month="2024-03", generated_at=None)
    assert a == b


# ---------------------------------------------------------------- student

def daily(n_days: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    d = pd.date_range("2023-11-01", periods=n_days)
    late = rng.poisson(0.3, n_days).astype(float)
    late[-14:] += 3
    return pd.DataFrame({"student_id": "p000", "date": d, "late_return": late,
                         "meals": rng.poisson(2.5, n_days).astype(float),
                         "spend_cny": rng.normal(35, 5, n_days)})


def test_student_file_in_scope_shows_timeline_radar_and_history():
    hist = history()
    census = pd.DataFrame({"student_id": ["p000", "p000", "p002"],
                           "assessed_on": pd.to_datetime(["2023-09-20", "2024-09-20", "2023-09-20"]),
                           "instrument": ["UPI", "UPI", "UPI"], "total_score": [31.0, 40.0, 5.0],
                           "key_item_positive": [True, False, False], "screen_level": [2, 3, 0]})
    html = student_file("p000", as_of="2024-03-30", roster=roster(), scope=ReportScope("college", college="CS"),
                        daily=daily(), history=hist, alerts=alerts(), census=census,
                        channels={"late_return": "晚归", "meals": "就餐", "spend_cny": "消费"})
    assert "<title>一人一档 · p000</title>" in html
    assert html.count('<img class="chart"') == 2
    assert_self_contained(html)
    assert "3 月 9 日夜未归寝" in html and "作息与本人平时明显不同" not in html  # p002's alert stays out
    assert "2023-09-20" in html and "2024-09-20" not in html  # census after as_of is not shown
    assert "近两周晚归次数" in html


def test_student_file_outside_scope_refuses_without_detail():
    with pytest.raises(OutOfScopeError) as e:
        student_file("p001", as_of="2024-03-30", roster=roster(), scope=ReportScope("college", college="CS"))
    assert "p001" not in str(e.value)
    with pytest.raises(OutOfScopeError):
        student_file("nobody", as_of="2024-03-30", roster=roster())


def test_own_baseline_and_default_radar_point_at_the_changed_channel():
    from riskmodel.reports import baseline_radar

    d = daily()
    b = own_baseline(d, ["late_return", "meals"], pd.Timestamp("2023-11-01"), pd.Timestamp("2024-02-01"))
    assert set(b.columns) == {"q25", "median", "q75"} and (b["q25"] <= b["q75"]).all()
    r = baseline_radar(d, {"late_return": "late", "meals": "meals"}, d["date"].max() + pd.Timedelta(days=1),
                       StudentConfig())
    assert r["late"] > r["meals"] and r["late"] == 1.0


# ---------------------------------------------------------------- model card

def card_info() -> ModelCardInfo:
    ev = pd.DataFrame({"model": [0.78, 0.06, 0.004, 0.041, 0.35, 0.010],
                       "oracle": [0.86, 0.11, 0.004, 0.070, 0.52, 0.008],
                       "census screen": [0.62, 0.02, 0.004, 0.015, 0.12, float("nan")]},
                      index=["auroc", "auprc", "base_rate", "precision_at_capacity", "recall_at_capacity", "ece"])
    groups = pd.DataFrame({"group_column": ["gender"] * 4 + ["econ_hardship"] * 2,
                           "group": ["F", "F", "M", "M", "True", "True"],
                           "metric": ["auroc", "base_rate", "auroc", "base_rate", "auroc", "base_rate"],
                           "value": [0.79, 0.004, 0.77, 0.004, np.nan, np.nan],
                           "n_rows": [5000, 5000, 5200, 5200, 150, 150],
                           "suppressed": [False, False, False, False, True, True]})
    cal = pd.DataFrame({"predicted": [0.001, 0.004, 0.02], "observed": [0.001, 0.005, 0.018], "n": [5000, 5000, 200]})
    feats = pd.DataFrame({"name": ["door__late_return_count__14d", "card__meal_count__28d"],
                          "family": ["door", "card"], "description_zh": ["晚归次数", "就餐次数"],
                          "description_en": ["late returns", "meals"]})
    return ModelCardInfo(name="crisis-warning", version="3", model_family="lightgbm", evaluation=ev,
                         groups=groups, calibration=cal, features=feats, period_train=("2023-09-01", "2024-06-30"),
                         period_test=("2024-09-01", "2025-01-15"), n_students=2000,
                         data_description="simulated campus", run_id="abc123")


def test_model_card_markdown_and_html():
    md, html = render_model_card(card_info(), "en")
    for must in ("# Model card: crisis-warning v3", "Intended use", "never to be used for discipline",
                 "| auroc |", "oracle", "census screen", "Results by group", "too few to show",
                 "Calibration", "Known limitations", "as-of", "door__late_return_count__14d"):
        assert must.lower() in md.lower(), must
    assert "4.1%" not in md and "0.041" in md and "lift 10.2" in md  # PPV beside base rate
    assert "| 0.780 | 0.860 | 0.620 |" in md.replace("AUROC", "auroc")
    assert "<title>Model card · crisis-warning v3</title>" in html
    assert_self_contained(html)
    md_zh, html_zh = render_model_card(card_info())
    assert "预期用途" in md_zh and "处分" in md_zh and "模型卡" in html_zh
    with pytest.raises(ValueError, match="lang"):
        render_model_card(card_info(), "de")


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path):
    p = write_atomic(tmp_path / "sub" / "r.html", "一")
    write_atomic(p, "二")
    assert p.read_text(encoding="utf-8") == "二"
    assert [x.name for x in p.parent.iterdir()] == ["r.html"]


def test_scope_from_scoping_scope_and_text():
    from riskmodel.scoping import Scope

    assert ReportScope.from_any(Scope("college", "CS")) == ReportScope("college", college="CS")
    assert ReportScope.from_any(Scope("grade", "2023")).mask(roster()).sum() == 20
    assert ReportScope.from_any("class=CS2023-1") == ReportScope("class", class_id="CS2023-1")
    assert ReportScope.from_any("school") == ReportScope()
    with pytest.raises(ValueError, match="dorm_room"):
        ReportScope.from_any(Scope("dorm_room", "B1-101"))


def test_card_info_from_a_real_evaluation():
    from riskmodel.evaluate import EvalConfig, evaluate_scores
    from riskmodel.reports import card_info_from_evaluation

    rng = np.random.default_rng(0)
    n = 600
    scored = pd.DataFrame({"student_id": [f"s{i % 150}" for i in range(n)],
                           "as_of": pd.to_datetime("2024-03-04") + pd.to_timedelta(7 * (np.arange(n) // 150), "D"),
                           "label": (rng.random(n) < 0.05).astype(float)})
    scored["score"] = np.clip(0.03 + 0.3 * scored["label"] * rng.random(n) + 0.02 * rng.random(n), 0, 1)
    groups = pd.DataFrame({"student_id": [f"s{i}" for i in range(150)], "gender": ["F", "M"] * 75})
    cfg = EvalConfig(capacity=0.05, min_group_size=50, min_group_positives=2, group_columns=("gender",))
    model = evaluate_scores(scored, cfg, groups=groups)
    census = evaluate_scores(scored.assign(score=rng.random(n)), cfg, groups=groups)
    info = card_info_from_evaluation("crisis-warning", 4, "lightgbm", model, baselines={"census screen": census},
                                     features=[type("F", (), {"name": "door__x__7d", "family": "door"})()],
                                     n_students=150)
    assert list(info.evaluation.columns) == ["model", "census screen"]
    md, html = render_model_card(info, "en")
    assert "census screen" in md and "door__x__7d" in md and "| gender | F |" in md
    assert_self_contained(html)


def test_weekly_check_shows_one_line_per_student_and_kind():
    a = pd.concat([alerts(), pd.DataFrame({"student_id": ["p000"], "kind": ["night_absence"],
                                           "date": pd.to_datetime(["2024-03-10"]),
                                           "reasons_zh": ["3 月 9 日起连续 2 晚未归寝"], "reasons_en": ["2 nights"]})])
    html = weekly_check(scores("2024-03-11", {"p000"}), alerts=a)
    assert "连续 2 晚未归寝" in html and "3 月 9 日夜未归寝" not in html
