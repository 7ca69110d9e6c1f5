"""Benchmark: night absence for one night over a 30,000-student campus (issue 7).

Builds door events (out in the morning, in at night, ~3% staying out, a few for several
nights), leave records and a calendar for the 15 nights up to the night checked, with numpy,
then times :func:`riskmodel.alerts.night_absence.night_absence` (which also looks back over
earlier nights for the absent students) and :func:`lost_contact` at the next morning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.bench import measure


def synthetic_campus(n: int, nights: int = 15, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Contract-shaped tables (already pseudonymous ids) of ``n`` resident students."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:016x}" for i in range(n)], dtype=object)
    bld = np.array([f"B{i:02d}" for i in rng.integers(0, max(1, n // 1200), n)], dtype=object)
    students = pd.DataFrame({"student_id": ids, "dorm_building": bld, "college": "C", "class_id": "K",
                             "counselor_id": "x", "econ_hardship": False})
    start = pd.Timestamp("2024-03-01")
    days = pd.date_range(start, periods=nights + 1)
    away = rng.random((n, len(days))) < 0.03
    away[: n // 200, -3:] = True  # a few away for three nights
    rows_sid, rows_ts, rows_dir = [], [], []
    for d, day in enumerate(days):
        out_t = day + pd.to_timedelta(rng.normal(8.5, 1.0, n), unit="h")
        in_t = day + pd.to_timedelta(rng.normal(21.5, 1.2, n), unit="h")
        back = ~away[:, d]
        rows_sid += [ids, ids[back]]
        rows_ts += [out_t.to_numpy(), in_t[back].to_numpy()]
        rows_dir += [np.full(n, "out", dtype=object), np.full(int(back.sum()), "in", dtype=object)]
    sid = np.concatenate(rows_sid)
    door = pd.DataFrame({"student_id": sid, "ts": np.concatenate(rows_ts),
                         "building": students.set_index("student_id")["dorm_building"].reindex(sid).to_numpy(),
                         "direction": np.concatenate(rows_dir)})
    leave_ids = rng.choice(ids, n // 100, replace=False)
    leave = pd.DataFrame({"student_id": leave_ids, "start_ts": days[-3], "end_ts": days[-1] + pd.Timedelta(days=1),
                          "kind": "home"})
    cal = pd.DataFrame({"date": days, "period": "teaching"})
    return {"students": students, "door_events": door, "leave_records": leave, "calendar": cal}


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    from riskmodel.alerts.config import LostContactConfig, NightAbsenceConfig
    from riskmodel.alerts.night_absence import lost_contact, night_absence

    n = 30_000 if scale == "full" else 3_000
    tables = synthetic_campus(n)
    night = tables["calendar"]["date"].iloc[-2]
    with measure() as m:
        alerts, gaps = night_absence(tables, night, NightAbsenceConfig())
    with measure() as m2:
        lost, _ = lost_contact(tables, night + pd.Timedelta(days=1, hours=8), LostContactConfig())
    return {"students": n, "door_events": len(tables["door_events"]), "night_absence_wall_s": m.wall_s,
            "night_absence_peak_rss_mb": m.peak_rss_mb, "alerts": len(alerts), "alerts_level3": int((alerts["level"] == 3).sum()),
            "data_gaps": len(gaps), "lost_contact_wall_s": m2.wall_s, "lost_contact_alerts": len(lost)}
