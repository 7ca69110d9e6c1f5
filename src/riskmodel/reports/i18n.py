"""Labels of the reports in Chinese (default) and English.

``text(key, lang)`` returns the label; ``LANGS`` lists the languages. Every label lives here
once, so a template never holds a sentence in one language only.
"""

from __future__ import annotations

LANGS = ("zh", "en")

_T: dict[str, tuple[str, str]] = {
    # titles
    "weekly_title": ("心理危机风险周查", "Weekly check of crisis risk"),
    "monthly_title": ("心理危机风险月报", "Monthly report of crisis risk"),
    "student_title": ("一人一档", "One file per student"),
    "model_card_title": ("模型卡", "Model card"),
    # common
    "scope": ("范围", "Scope"),
    "as_of": ("截至日期", "As of"),
    "generated": ("生成时间", "Generated"),
    "model": ("模型", "Model"),
    "version": ("版本", "Version"),
    "school": ("全校", "whole school"),
    "college": ("学院", "College"),
    "grade": ("年级", "Grade"),
    "class": ("班级", "Class"),
    "student": ("学生（化名编号）", "Student (pseudonym)"),
    "probability": ("风险概率", "Probability"),
    "rank": ("排名", "Rank"),
    "band": ("级别", "Band"),
    "reasons": ("原因", "Reasons"),
    "date": ("日期", "Date"),
    "kind": ("类型", "Kind"),
    "count": ("人数", "Count"),
    "none_rows": ("无", "None"),
    "band_flag": ("关注", "flag"),
    "band_watch": ("留意", "watch"),
    "band_none": ("—", "none"),
    "band_known": ("已在心理中心关注", "known to the counselling center"),
    "principle": (
        "本报告中的预警是请受过培训的老师主动关心、提供支持的提示，不是结论，"
        "不得用于处分、评优、招生或任何自动处理。学生编号为化名，如需还原须经正式的再识别流程。",
        "A flag here is an invitation for a trained person to reach out and support. It is not a "
        "verdict and must never be used for discipline, awards, admission or any automatic action. "
        "Student ids are pseudonyms; re-identification needs the formal re-identification step.",
    ),
    # weekly
    "flagged_this_week": ("本周关注名单", "Flagged this week"),
    "changes": ("与上周相比", "Changes since last week"),
    "new": ("新增", "New"),
    "still": ("持续", "Still flagged"),
    "cleared": ("解除", "Cleared"),
    "alerts_night": ("未归寝与失联预警", "Night-absence and lost-contact alerts"),
    "alerts_anomaly": ("行为异常预警", "Behavioural-anomaly alerts"),
    "alerts_academic": ("学业预警", "Academic alerts"),
    "alert_night_absence": ("未归寝", "night absence"),
    "alert_lost_contact": ("失联", "lost contact"),
    "alert_anomaly": ("行为异常", "behavioural anomaly"),
    "alert_academic": ("学业预警", "academic warning"),
    "data_quality": ("数据质量", "Data quality"),
    "sources_present": ("已有数据源", "Sources present"),
    "sources_missing": ("缺失数据源（相应特征未使用）", "Sources missing (their features left out)"),
    "rows_read": ("读取行数", "Rows read"),
    "rows_quarantined": ("隔离行数", "Rows quarantined"),
    "table": ("数据表", "Table"),
    "gate_outages": ("门禁疑似断线（楼栋·夜）", "Suspected gate outages (building nights)"),
    "building": ("楼栋", "Building"),
    "night": ("夜间", "Night"),
    "events": ("记录数", "Events"),
    "usual": ("平时", "Usual"),
    "chart_weekly_bands": ("各班级关注人数", "Flagged students by class"),
    # monthly
    "trend": ("每月关注人数趋势", "Flags per month"),
    "trend_by_college": ("按学院", "By college"),
    "trend_by_grade": ("按年级", "By grade"),
    "month": ("月份", "Month"),
    "flags": ("关注人次", "Flags"),
    "students_flagged": ("被关注学生数", "Students flagged"),
    "students": ("学生数", "Students"),
    "suppressed_note": (
        "少于 {n} 名学生的组不单独显示（记为“<{n}”），以免识别到个人。",
        "Groups of fewer than {n} students are not shown on their own (shown as “<{n}”), so that "
        "no one can be singled out.",
    ),
    "calibration": ("上月预警的校准", "Calibration of last month's flags"),
    "calibration_note": (
        "上月每次评分后 {h} 天内是否发生记录在案的危机事件，与预测概率对比。",
        "Whether a recorded crisis followed within {h} days of each of last month's scores, "
        "against the predicted probability.",
    ),
    "predicted": ("预测平均概率", "Mean predicted"),
    "observed": ("实际发生率", "Observed rate"),
    "ppv": ("关注名单中实际发生比例", "Share of flagged who had a crisis (PPV)"),
    "base_rate": ("全体发生率（基准）", "Base rate of all scored"),
    "n_scored": ("评分人次", "Scores"),
    "n_flags": ("关注人次", "Flags"),
    "n_events": ("事件数", "Events"),
    "horizon_incomplete": (
        "注意：部分评分的观察期尚未结束，实际发生率可能偏低。",
        "Note: some scores' outcome window has not ended yet; observed rates may be low.",
    ),
    "no_calibration": ("上月无评分或无结果数据。", "No scores or no outcomes for last month."),
    "model_in_use": ("在用模型", "Model in use"),
    # student
    "timeline": ("日常行为时间线（与本人基线对比）", "Daily behaviour against the student's own baseline"),
    "baseline_note": (
        "灰色带为本人截至前 {d} 天的常态范围（中位数与四分位距）。",
        "The grey band is the student's own usual range over the {d} days before (median and "
        "interquartile range).",
    ),
    "census_history": ("心理普查记录", "Census history"),
    "instrument": ("量表", "Instrument"),
    "total_score": ("总分", "Total score"),
    "screen_level": ("筛查等级", "Screen level"),
    "key_item": ("关键题阳性", "Key item positive"),
    "past_flags": ("历次预警", "Past flags"),
    "past_alerts": ("历次提醒", "Past alerts"),
    "radar": ("风险雷达", "Risk radar"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "profile": ("基本信息", "Profile"),
    "not_in_scope": ("该学生不在您的权限范围内。", "This student is outside your scope."),
}


def text(key: str, lang: str = "zh", **fmt: object) -> str:
    """The label ``key`` in ``lang`` ("zh" or "en"), formatted with ``fmt``.

    Raises ``ValueError`` for an unknown language and ``KeyError`` naming an unknown key.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    try:
        zh, en = _T[key]
    except KeyError:
        raise KeyError(f"reports.i18n: no label {key!r}") from None
    s = zh if lang == "zh" else en
    return s.format(**fmt) if fmt else s


def translator(lang: str):  # type: ignore[no-untyped-def]
    """A one-argument ``t(key, **fmt)`` bound to ``lang`` (for templates)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return lambda key, **fmt: text(key, lang, **fmt)
