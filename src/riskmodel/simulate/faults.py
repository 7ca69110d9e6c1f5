"""Fault switches: plant bad rows so that ``riskmodel validate`` has something to quarantine.

With ``faults.enabled`` the simulator appends, per fault, ``rows_per_fault`` rows derived from
real rows of the last chunk: negative card amounts, an unknown card category, exact
duplicates, events of unknown student ids, network sessions and leave records that end
before they start, and card rows timestamped before the data period.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskmodel.simulate.calendar import Calendar
from riskmodel.simulate.config import SimConfig

#: the quarantine reasons these faults produce (as the contracts loader names them)
PLANTED_REASONS = {
    "card_transactions": ("amount: must_be_> 0", "category: allowed_values", "duplicate_key",
                          "student_id: unknown_id", "ts: outside_data_period"),
    "network_sessions": ("end_not_before_start",),
    "leave_records": ("end_not_before_start",),
    "door_events": ("student_id: unknown_id",),
}


def _take(cols: dict[str, pa.Array], k: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    n = len(next(iter(cols.values())))
    idx = pa.array(np.sort(rng.choice(n, size=min(k, n), replace=False)))
    return {c: a.take(idx) for c, a in cols.items()}


def _concat(parts: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
    return {c: pa.concat_arrays([p[c] for p in parts]) for c in parts[0]}


def plant_faults(frames: dict[str, dict[str, pa.Array]], cfg: SimConfig, cal: Calendar,
                 rng: np.random.Generator) -> dict[str, dict[str, pa.Array]]:
    """Bad rows to append, per table (only for tables that were written)."""
    k = cfg.faults.rows_per_fault
    out: dict[str, dict[str, pa.Array]] = {}
    unknown = pa.array([f"99990000{j:02d}" for j in range(k)], pa.string())
    card = frames.get("card_transactions")
    if card is not None and len(card["amount"]):
        neg = _take(card, k, rng)
        neg["amount"] = pc.negate(neg["amount"])
        cat = _take(card, k, rng)
        cat["category"] = pa.array(["gift_shop"] * len(cat["category"]), pa.string())
        dup = _take(card, k, rng)
        unk = _take(card, k, rng)
        unk["student_id"] = unknown[: len(unk["student_id"])]
        early = _take(card, k, rng)
        early["ts"] = pc.subtract(early["ts"], pa.scalar(400 * 86400 * 10**9, pa.duration("ns")))
        out["card_transactions"] = _concat([neg, cat, dup, unk, early])
    net = frames.get("network_sessions")
    if net is not None and len(net["start_ts"]):
        bad = _take(net, k, rng)
        bad["end_ts"] = pc.subtract(bad["start_ts"], pa.scalar(3600 * 10**9, pa.duration("ns")))
        out["network_sessions"] = bad
    leave = frames.get("leave_records")
    if leave is not None and len(leave["start_ts"]):
        bad = _take(leave, k, rng)
        bad["end_ts"] = pc.subtract(bad["start_ts"], pa.scalar(86400 * 10**9, pa.duration("ns")))
        out["leave_records"] = bad
    door = frames.get("door_events")
    if door is not None and len(door["ts"]):
        unk = _take(door, k, rng)
        unk["student_id"] = unknown[: len(unk["student_id"])]
        out["door_events"] = unk
    _ = cal
    return out
