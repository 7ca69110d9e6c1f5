"""Deviation from peers: a feature minus the mean of the same feature among the student's
classmates (same ``class_id``) or roommates (same ``dorm_room``), the student excluded."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from riskmodel.features.registry import FeatureSpec

GROUP_COLUMN = {"vs_class": "class_id", "vs_room": "dorm_room"}


def peer_columns(feats: ir.Table, students: ir.Table, specs: Sequence[FeatureSpec]) -> ir.Table:
    """(student_id, as_of_day, <peer features>) from a table holding the base features.

    NaN when the student's own value is NaN, the student has no class/room, or no peer has
    a value.
    """
    t = feats.left_join(students.select("student_id", "class_id", "dorm_room"), "student_id")
    drop = [c for c in t.columns if c.endswith("_right")]
    if drop:
        t = t.drop(*drop)
    cols = {}
    for s in specs:
        grp = t[GROUP_COLUMN[s.aggregate]]
        x = t[s.inputs[0]]
        w = ibis.window(group_by=[grp, t.as_of_day])
        cnt = ibis.ifelse(x.notnull(), 1, 0).sum().over(w)
        loo = (x.sum().over(w) - x) / (cnt - 1)
        ok = x.notnull() & grp.notnull() & (cnt >= 2)
        cols[s.name] = ibis.ifelse(ok, x - loo, ibis.null("float64")).cast("float64")
    return t.select("student_id", "as_of_day", **cols)
