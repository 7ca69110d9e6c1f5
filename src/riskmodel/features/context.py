"""Calendar context (the planned academic calendar) and leave records.

The calendar is a plan published in advance, so the period of the as-of day itself is
known at t. Leave records count when their ``start_ts`` is before t.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from riskmodel.features.asof import DAY_S, daily_row_known, record_known

VACATION = ("vacation", "holiday")
VACATION_WINDOW = 28
LEAVE_WINDOW = 14


def calendar_expr(calendar: ir.Table, as_of: ir.Table) -> ir.Table:
    """(as_of_day, context__* calendar features), one row per as-of day."""
    cal = calendar.select("period", day=calendar.date.epoch_seconds().cast("int64") // DAY_S)
    today = as_of.left_join(cal, as_of.as_of_day == cal.day)
    now = today.select(
        "as_of_day",
        context__is_teaching__asof=ibis.ifelse(today.period.isnull(), ibis.null("float64"),
                                               ibis.ifelse(today.period == "teaching", 1.0, 0.0)),
        context__is_exam__asof=ibis.ifelse(today.period.isnull(), ibis.null("float64"),
                                           ibis.ifelse(today.period == "exam", 1.0, 0.0)),
        context__is_vacation__asof=ibis.ifelse(today.period.isnull(), ibis.null("float64"),
                                               ibis.ifelse(today.period.isin(VACATION), 1.0, 0.0)),
    )
    past = as_of.join(cal, daily_row_known(cal.day, as_of.as_of_day)
                      & (cal.day >= as_of.as_of_day - VACATION_WINDOW))
    vac = past.group_by("as_of_day").aggregate(
        context__vacation_days__28d=ibis.ifelse(past.period.isin(VACATION), 1.0, 0.0).sum())
    out = now.left_join(vac, "as_of_day")
    drop = [c for c in out.columns if c.endswith("_right")]
    return out.drop(*drop) if drop else out


def leave_expr(leave: ir.Table, as_of: ir.Table) -> ir.Table:
    """(student_id, as_of_day, context__leave_days__14d) for students with a leave record before t."""
    lv = leave.select("student_id", s=leave.start_ts.epoch_seconds().cast("int64"),
                      e=leave.end_ts.epoch_seconds().cast("int64"))
    lv = lv.mutate(sday=lv.s // DAY_S, eday=(lv.e + DAY_S - 1) // DAY_S)
    j = lv.join(as_of, record_known(lv.s, as_of.as_of_day * DAY_S))
    first = ibis.greatest(j.sday, j.as_of_day - LEAVE_WINDOW)
    last = ibis.least(j.eday, j.as_of_day)
    j = j.mutate(nd=ibis.greatest(last - first, 0))
    agg = j.group_by(["student_id", "as_of_day"]).aggregate(days=j.nd.sum())
    return agg.select("student_id", "as_of_day",
                      context__leave_days__14d=ibis.least(agg.days, LEAVE_WINDOW).cast("float64"))
