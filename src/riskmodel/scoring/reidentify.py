"""The explicit re-identification step: pseudonymous scores back to campus student numbers.

Needs the pseudonymisation key, the raw roster (the ``student_id`` column of the raw
``students`` export) and a caller whose registered role may re-identify. Every call is
audited (never with an id). Not in :mod:`riskmodel.scoping` (owned by the alerts side):
the roles allowed here are :data:`REIDENTIFY_ROLES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from riskmodel.scoping import AccessConfig, Caller, Scope, ScopeError, audit, authenticate

#: Roles that may turn a pseudonym into a student number: the people who reach out.
REIDENTIFY_ROLES = frozenset({"counselor", "counselling_center"})


def reidentify_scores(scores: pd.DataFrame, raw_ids: Iterable[str], key: Any, *, caller: Caller | str,
                      access: AccessConfig) -> pd.DataFrame:
    """A copy of ``scores`` with a ``raw_student_id`` column (None where no roster match).

    Raises :class:`~riskmodel.scoping.ScopeError` (after auditing the denial) unless the
    caller's registered role is in :data:`REIDENTIFY_ROLES`.
    """
    from riskmodel.contracts import reidentify

    who = authenticate(caller.name if isinstance(caller, Caller) else str(caller),
                       caller.role if isinstance(caller, Caller) else None, access)
    as_of = str(scores["as_of"].iloc[0]) if "as_of" in scores and len(scores) else "-"
    if who.role not in REIDENTIFY_ROLES:
        msg = (f"re-identification is restricted to role(s) {', '.join(sorted(REIDENTIFY_ROLES))}; caller "
               f"{who.name!r} has role {who.role!r}")
        audit(access.audit_log, caller=who, scope=Scope.school(), as_of=as_of, what="reidentify", rows=0,
              outcome=f"denied: {msg}")
        raise ScopeError(msg)
    mapping = reidentify(scores["student_id"].astype(str).tolist(), raw_ids, key)
    out = scores.copy()
    out.insert(1, "raw_student_id", out["student_id"].astype(str).map(mapping))
    audit(access.audit_log, caller=who, scope=Scope.school(), as_of=as_of, what="reidentify",
          rows=int(out["raw_student_id"].notna().sum()))
    return out
