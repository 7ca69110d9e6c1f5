"""Academic features from grades, each grade counted from its ``published_on`` date."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from riskmodel.features.asof import DAY_S, record_known
from riskmodel.features.config import FeatureConfig

FIRST_FAILURE_DAYS = 28


def academic_expr(grades: ir.Table, as_of: ir.Table, cfg: FeatureConfig) -> ir.Table:
    """(student_id, as_of_day, academic__* features) for students with grades published before t.

    Students without any grade published before t get no row (their features stay NaN).
    """
    g = grades.select("student_id", "term", "credits", "score", "passed",
                      pday=grades.published_on.epoch_seconds().cast("int64") // DAY_S)
    failed = ~g.passed
    scored = g.score.notnull()
    per = g.group_by(["student_id", "term", "pday"]).aggregate(
        nfail=ibis.ifelse(failed, 1, 0).sum(),
        cpass=g.credits.sum(where=g.passed),
        cs=(g.credits * g.score).sum(where=scored),
        c=g.credits.sum(where=scored),
        firstfail=g.pday.min(where=failed),
    )
    j = per.join(as_of, record_known(per.pday, as_of.as_of_day))
    terms = j.group_by(["student_id", "as_of_day", "term"]).aggregate(
        nfail=j.nfail.sum(), cpass=j.cpass.sum(), cs=j.cs.sum(), c=j.c.sum(), firstfail=j.firstfail.min())
    latest = terms.term.max().over(ibis.window(group_by=[terms.student_id, terms.as_of_day]))
    terms = terms.mutate(is_latest=terms.term == latest)
    agg = terms.group_by(["student_id", "as_of_day"]).aggregate(
        failed=terms.nfail.sum(),
        earned=terms.cpass.sum(),
        nterms=terms.count(),
        lat_cs=terms.cs.sum(where=terms.is_latest), lat_c=terms.c.sum(where=terms.is_latest),
        old_cs=terms.cs.sum(where=~terms.is_latest), old_c=terms.c.sum(where=~terms.is_latest),
        firstfail=terms.firstfail.min(),
    )
    null = ibis.null("float64")
    latest_mean = ibis.ifelse(agg.lat_c > 0, agg.lat_cs / agg.lat_c, null)
    old_mean = ibis.ifelse(agg.old_c > 0, agg.old_cs / agg.old_c, null)
    first_recent = agg.firstfail.notnull() & (agg.firstfail >= agg.as_of_day - FIRST_FAILURE_DAYS)
    return agg.select(
        "student_id", "as_of_day",
        academic__failed_courses__all=agg.failed.cast("float64"),
        academic__first_failure__28d=ibis.ifelse(first_recent, 1.0, 0.0),
        academic__credits_behind__all=(cfg.credits_per_term * agg.nterms - agg.earned.fill_null(0.0)).cast("float64"),
        academic__score_mean__latest=latest_mean,
        academic__score_change__latest=latest_mean - old_mean,
    )
