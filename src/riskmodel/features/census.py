"""Census features: the latest psychological census assessed before the as-of date."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from riskmodel.features.asof import DAY_S, record_known


def census_expr(census: ir.Table, as_of: ir.Table) -> ir.Table:
    """(student_id, as_of_day, census__* features); no row when no census before t.

    Several assessments on the latest day: the highest screen level, then the highest score.
    """
    c = census.select("student_id", "instrument", "total_score", "key_item_positive", "screen_level",
                      aday=census.assessed_on.epoch_seconds().cast("int64") // DAY_S)
    j = c.join(as_of, record_known(c.aday, as_of.as_of_day))
    w = ibis.window(group_by=[j.student_id, j.as_of_day],
                    order_by=[ibis.desc(j.aday), ibis.desc(j.screen_level), ibis.desc(j.total_score), j.instrument])
    j = j.mutate(rn=ibis.row_number().over(w))
    j = j.filter(j.rn == 0)
    return j.select(
        "student_id", "as_of_day",
        census__total_score__latest=j.total_score.cast("float64"),
        census__key_item__latest=ibis.ifelse(j.key_item_positive, 1.0, 0.0),
        census__screen_level__latest=j.screen_level.cast("float64"),
        census__days_since__latest=(j.as_of_day - j.aday).cast("float64"),
    )
