"""Night absence (未归寝) and lost contact (失联) from door, card, library and network records.

Night absence, for the night of date ``N`` (the evening of N to the morning of N+1):

* only resident students (``dorm_building`` not null) are considered; nights whose calendar
  period is excluded (vacation by default) and students with a leave record overlapping the
  night are left out;
* the student's last swipe at their own building's gate before the cut-off (curfew plus
  grace, e.g. 24:00) decides where they were: ``out`` with no ``in`` swipe before the
  morning (06:00) means absent; a later ``in`` before the morning is a late return;
* being online in the student's own building after curfew (and after the last swipe out)
  counts as being home (a swipe the gate missed);
* a building whose gate recorded (almost) nothing in the night window is dark (an outage):
  its students' alerts are suppressed and the building is reported as a data gap, and so
  are students whose last swipe predates a dark night of their building;
* consecutive absent nights raise the level (1, 2, 3) and the alert says since when.

Lost contact, at an as-of time ``T``: no door, card, library or network activity for
``hours`` (48 by default; longer for off-campus students), where time in an excluded
calendar period or under a leave record does not count. It is always level 3, with the
last place and time seen.

Only records before the cut-off / as-of time are read (point-in-time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.alerts.common import (
    ALERT_COLUMNS,
    as_details,
    empty_alerts,
    excluded_dates,
    hours,
    require,
    table,
)
from riskmodel.alerts.config import LostContactConfig, NightAbsenceConfig

STATUSES = ("home", "late_return", "absent", "on_leave", "excluded_period", "gate_outage", "no_door_record")


# ----------------------------------------------------------------------------- gate outages


def gate_outages(tables: Any, nights: Iterable[pd.Timestamp], cfg: NightAbsenceConfig) -> pd.DataFrame:
    """Buildings whose gate recorded fewer than ``cfg.outage_min_events`` swipes in a night window.

    Returns DataFrame[building, night, events, residents] for every (resident building, night)
    that is dark. The night window is ``cfg.outage_window`` hours after midnight of the night.
    """
    students = require(tables, "students", "night absence")
    door = table(tables, "door_events")
    buildings = students["dorm_building"].dropna()
    residents = buildings.value_counts()
    nights = sorted({pd.Timestamp(n).normalize() for n in nights})
    rows = []
    if door is None or door.empty:
        door_ts = pd.Series(dtype="datetime64[ns]")
        door_b = pd.Series(dtype=object)
    else:
        door_ts, door_b = door["ts"], door["building"]
    lo, hi = cfg.outage_window
    ts = door_ts.to_numpy()
    for n in nights:
        start, end = n + hours(lo), n + hours(hi)
        mask = (ts >= start.to_datetime64()) & (ts < end.to_datetime64())
        counts = door_b[mask].value_counts()
        for b, nres in residents.items():
            ev = int(counts.get(b, 0))
            if ev < cfg.outage_min_events:
                rows.append({"building": b, "night": n, "events": ev, "residents": int(nres)})
    return pd.DataFrame(rows, columns=["building", "night", "events", "residents"])


# ----------------------------------------------------------------------------- per-night status


def _night_status(
    night: pd.Timestamp,
    residents: pd.DataFrame,
    door_own: pd.DataFrame,
    door_ts: np.ndarray,
    leave: pd.DataFrame | None,
    net_own: pd.DataFrame | None,
    dark: pd.DataFrame,
    excluded: set[pd.Timestamp],
    cfg: NightAbsenceConfig,
) -> pd.DataFrame:
    cutoff = night + hours(cfg.curfew_hour) + pd.Timedelta(minutes=cfg.grace_minutes)
    morning = night + hours(cfg.morning_hour)
    lb = cutoff - pd.Timedelta(days=cfg.lookback_days)
    out = residents[["student_id", "dorm_building"]].copy()
    out["night"] = night
    out["status"] = "home"
    # last swipe at the own gate before the cut-off (door_own is sorted by ts; ``code`` is the
    # resident's row number, so numpy assignment keeps the last swipe of each student)
    i0, i1 = np.searchsorted(door_ts, [lb.to_datetime64(), cutoff.to_datetime64()])
    codes = door_own["code"].to_numpy()
    is_in = door_own["direction"].to_numpy() == "in"
    n = len(out)
    last_in = np.zeros(n, dtype=np.int8) - 1
    last_in[codes[i0:i1]] = is_in[i0:i1]
    last_ts = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    last_ts[codes[i0:i1]] = door_ts[i0:i1]
    last_dir = np.where(last_in == 1, "in", "out").astype(object)
    last_dir[last_in < 0] = None
    out["last_dir"] = last_dir
    out["last_ts"] = last_ts
    j1 = np.searchsorted(door_ts, morning.to_datetime64())
    back = np.zeros(n, dtype=bool)
    back[codes[i1:j1][is_in[i1:j1]]] = True
    out["back_ts"] = np.where(back, 1.0, np.nan)
    is_out = out["last_dir"].eq("out")
    out.loc[out["last_dir"].isna(), "status"] = "no_door_record"
    out.loc[is_out & out["back_ts"].notna(), "status"] = "late_return"
    out.loc[is_out & out["back_ts"].isna(), "status"] = "absent"
    if net_own is not None and not net_own.empty and cfg.use_network_evidence:
        # online in the own building after curfew (and after the last swipe out): a missed swipe
        curfew = night + hours(cfg.curfew_hour)
        cand = out.loc[out["status"].eq("absent"), ["student_id", "last_ts"]]
        ns = net_own.loc[(net_own["start_ts"] < morning) & (net_own["end_ts"] > curfew)]
        j = cand.merge(ns, on="student_id")
        seen = set(j.loc[j["start_ts"] > j["last_ts"], "student_id"])
        out.loc[out["status"].eq("absent") & out["student_id"].isin(seen), "status"] = "home"
    # dark gates: the night itself, or a dark night after the last swipe
    if not dark.empty:
        dark_now = set(dark.loc[dark["night"] == night, "building"])
        prev = dark.loc[dark["night"] < night].groupby("building")["night"].max()
        last_dark_end = out["dorm_building"].map(prev) + hours(cfg.outage_window[1])
        stale = out["last_ts"].notna() & last_dark_end.notna() & (out["last_ts"] < last_dark_end)
        affected = out["dorm_building"].isin(dark_now) | stale
        out.loc[affected & out["status"].isin(["absent", "no_door_record"]), "status"] = "gate_outage"
    if leave is not None and not leave.empty:
        m = (leave["start_ts"] < morning) & (leave["end_ts"] > cutoff)
        out.loc[out["student_id"].isin(set(leave.loc[m, "student_id"])), "status"] = "on_leave"
    if night in excluded:
        out["status"] = "excluded_period"
    return out.drop(columns=["back_ts"])


def night_statuses(
    tables: Any, nights: Iterable[pd.Timestamp | str], cfg: NightAbsenceConfig,
    student_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Where each resident student was on each night, from records before the night's morning.

    Returns DataFrame[student_id, dorm_building, night, status, last_dir, last_ts] with
    ``status`` in :data:`STATUSES`. ``student_ids`` limits the students (default: all residents).
    """
    students = require(tables, "students", "night absence")
    nights = sorted({pd.Timestamp(n).normalize() for n in nights})
    residents = students.loc[students["dorm_building"].notna(), ["student_id", "dorm_building"]]
    if student_ids is not None:
        residents = residents[residents["student_id"].isin(set(student_ids))]
    residents = residents.reset_index(drop=True)
    door = table(tables, "door_events")
    if door is None:
        raise ValueError("night absence needs the source table 'door_events', which is not present")
    door_own = door.merge(residents, on="student_id")
    door_own = door_own.loc[door_own["building"] == door_own["dorm_building"], ["student_id", "ts", "direction"]]
    door_own = door_own.sort_values("ts", kind="stable").reset_index(drop=True)
    door_own["code"] = pd.Categorical(door_own["student_id"], categories=residents["student_id"]).codes
    door_ts = door_own["ts"].to_numpy()
    leave = table(tables, "leave_records")
    net = table(tables, "network_sessions")
    net_own = None
    if net is not None and not net.empty and nights:
        lo, hi = nights[0], nights[-1] + pd.Timedelta(days=2)
        net = net.loc[(net["end_ts"] >= lo) & (net["start_ts"] < hi) & net["building"].notna()]
        net_own = net.merge(residents, on="student_id")
        net_own = net_own.loc[net_own["building"] == net_own["dorm_building"], ["student_id", "start_ts", "end_ts"]]
    all_nights = pd.date_range(nights[0] - pd.Timedelta(days=cfg.lookback_days), nights[-1]) if nights else []
    dark = gate_outages(tables, all_nights, cfg) if cfg.suppress_outages else pd.DataFrame(
        columns=["building", "night", "events", "residents"])
    excluded = excluded_dates(tables, cfg.excluded_periods)
    frames = [_night_status(n, residents, door_own, door_ts, leave, net_own, dark, excluded, cfg) for n in nights]
    if not frames:
        return pd.DataFrame(columns=["student_id", "dorm_building", "night", "status", "last_dir", "last_ts"])
    return pd.concat(frames, ignore_index=True)


def absent_runs(statuses: pd.DataFrame) -> pd.DataFrame:
    """Add ``run``: consecutive absent nights ending at each row's night (0 when not absent)."""
    s = statuses.sort_values(["student_id", "night"]).reset_index(drop=True)
    absent = s["status"].eq("absent")
    gap = s["night"].diff().dt.days.ne(1) | s["student_id"].ne(s["student_id"].shift())
    block = (~absent | gap).cumsum()
    s["run"] = absent.groupby(block).cumsum().astype(int)
    s.loc[~absent, "run"] = 0
    return s


def _level(run: pd.Series, cfg: NightAbsenceConfig) -> pd.Series:
    l2, l3 = cfg.escalation
    return pd.Series(np.where(run >= l3, 3, np.where(run >= l2, 2, 1)), index=run.index)


def night_absence(tables: Any, night: pd.Timestamp | str, cfg: NightAbsenceConfig | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alerts for one night, and the data gaps (dark gates) of that night.

    Returns ``(alerts, gaps)``: alerts in the common shape (one row per absent student,
    ``since`` = first night of the current run, ``level`` from the run length) with extra
    columns ``nights`` and ``dorm_building``; gaps = DataFrame[building, night, events,
    residents, students_suppressed]. The ``cfg.max_consecutive_nights`` nights up to
    ``night`` are assessed in one pass to count the run.
    """
    cfg = cfg or NightAbsenceConfig()
    night = pd.Timestamp(night).normalize()
    span = pd.date_range(night - pd.Timedelta(days=cfg.max_consecutive_nights - 1), night)
    runs = absent_runs(night_statuses(tables, span, cfg))  # one pass over the door table
    st = runs.loc[runs["night"] == night]
    absent = st.loc[st["status"] == "absent"].copy()
    gaps = gate_outages(tables, [night], cfg)
    sup = st.loc[st["status"] == "gate_outage"].groupby("dorm_building").size()
    gaps["students_suppressed"] = gaps["building"].map(sup).fillna(0).astype(int)
    if absent.empty:
        return empty_alerts(["nights", "dorm_building"]), gaps
    cutoff = cfg.curfew_hour + cfg.grace_minutes / 60
    absent["since"] = absent["night"] - pd.to_timedelta(absent["run"] - 1, unit="D")
    rows = []
    for r in absent.itertuples(index=False):
        last = "no swipe" if pd.isna(r.last_ts) else pd.Timestamp(r.last_ts).strftime("%Y-%m-%d %H:%M")
        since = r.since.date().isoformat()
        en = (f"Not back in dorm building {r.dorm_building} by {int(cutoff) % 24:02d}:{int(cutoff % 1 * 60):02d} "
              f"and not back by morning; {r.run} night(s) in a row since {since}; last swipe out {last}; "
              "no leave record.")
        zh = (f"{since}起连续{r.run}晚未归寝(宿舍楼{r.dorm_building}),最后一次出门刷卡{last},无请假记录。")
        rows.append({
            "student_id": r.student_id, "alert": "night_absence", "as_of": night.date().isoformat(),
            "level": None, "since": since, "score": float(r.run), "reason_en": en, "reason_zh": zh,
            "details": as_details({"nights": int(r.run), "last_swipe_out": last, "building": r.dorm_building}),
            "nights": int(r.run), "dorm_building": r.dorm_building,
        })
    out = pd.DataFrame(rows)
    out["level"] = _level(out["nights"], cfg).astype(int)
    return out.sort_values(["level", "nights"], ascending=False).reset_index(drop=True), gaps


# ----------------------------------------------------------------------------- lost contact

_SOURCES = {
    "door_events": ("ts", "door"),
    "card_transactions": ("ts", "card"),
    "library_events": ("ts", "library"),
    "network_sessions": ("start_ts", "network"),
}


def last_seen(tables: Any, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """Each student's last activity strictly before ``as_of`` on any channel, and where.

    Returns DataFrame[student_id, last_seen, last_source, last_place] (students never
    seen are absent). Network sessions count up to their end (capped at ``as_of``).
    """
    as_of = pd.Timestamp(as_of)
    parts = []
    for name, (col, label) in _SOURCES.items():
        t = table(tables, name)
        if t is None or t.empty:
            continue
        t = t.loc[t[col] < as_of]
        if t.empty:
            continue
        if name == "network_sessions":
            when = t["end_ts"].clip(upper=as_of)
            place = "network, " + t["building"].fillna("off-dorm").astype(str)
        elif name == "door_events":
            when = t["ts"]
            place = "dorm gate " + t["building"].astype(str) + " (" + t["direction"].astype(str) + ")"
        elif name == "card_transactions":
            when = t["ts"]
            place = "card " + t["category"].astype(str) + " at " + t["merchant_id"].astype(str)
        else:
            when = t["ts"]
            place = pd.Series("library " + t["kind"].astype(str), index=t.index)
        f = pd.DataFrame({"student_id": t["student_id"].to_numpy(), "last_seen": when.to_numpy(),
                          "last_source": label, "last_place": place.to_numpy()})
        idx = f.groupby("student_id")["last_seen"].idxmax()
        parts.append(f.loc[idx])
    if not parts:
        return pd.DataFrame(columns=["student_id", "last_seen", "last_source", "last_place"])
    allp = pd.concat(parts, ignore_index=True)
    idx = allp.groupby("student_id")["last_seen"].idxmax()
    return allp.loc[idx].reset_index(drop=True)


def _excused_until(tables: Any, ids: pd.Series, since: pd.Series, as_of: pd.Timestamp,
                   cfg: LostContactConfig) -> tuple[pd.Series, pd.Series]:
    """Latest end of an excused interval (excluded day or leave) between ``since`` and ``as_of``.

    Returns (excused_until, excused_now): the time from which silence counts, and whether
    the student is excused at ``as_of`` itself.
    """
    until = since.copy()
    now = pd.Series(False, index=ids.index)
    excl = sorted(excluded_dates(tables, cfg.excluded_periods))
    if excl:
        days = pd.DatetimeIndex(excl)
        before = days[days < as_of]
        if len(before):
            last_end = min(before.max() + pd.Timedelta(days=1), as_of)
            until = until.clip(lower=last_end)
        if as_of.normalize() in set(days):
            now[:] = True
    leave = table(tables, "leave_records")
    if leave is not None and not leave.empty:
        lv = leave.loc[(leave["start_ts"] < as_of) & leave["student_id"].isin(set(ids))]
        if not lv.empty:
            on_now = set(lv.loc[lv["end_ts"] >= as_of, "student_id"])
            now |= ids.isin(on_now)
            last_end = lv.groupby("student_id")["end_ts"].max().clip(upper=as_of)
            le = ids.map(last_end)
            until = pd.concat([until, le], axis=1).max(axis=1)
    return until, now


def source_gaps(tables: Any, as_of: pd.Timestamp | str, cfg: LostContactConfig) -> pd.DataFrame:
    """Sources whose volume in the last ``cfg.hours`` fell below ``cfg.source_gap_share`` of usual.

    Usual = the mean volume per window of the same length over the 28 days before. Returns
    DataFrame[source, recent_events, usual_events].
    """
    as_of = pd.Timestamp(as_of)
    w = hours(cfg.hours)
    rows = []
    for name, (col, label) in _SOURCES.items():
        t = table(tables, name)
        if t is None or t.empty:
            continue
        ts = t[col]
        recent = int(((ts >= as_of - w) & (ts < as_of)).sum())
        hist = int(((ts >= as_of - w - pd.Timedelta(days=28)) & (ts < as_of - w)).sum())
        usual = hist / (pd.Timedelta(days=28) / w)
        if usual > 0 and recent < cfg.source_gap_share * usual:
            rows.append({"source": label, "recent_events": recent, "usual_events": round(usual, 1)})
    return pd.DataFrame(rows, columns=["source", "recent_events", "usual_events"])


def lost_contact(tables: Any, as_of: pd.Timestamp | str, cfg: LostContactConfig | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Students with no activity for ``cfg.hours`` (off campus: ``cfg.hours_off_campus``) before ``as_of``.

    Silence counts from the later of the last activity and the end of the latest excused
    interval (excluded calendar day or leave record); students excused at ``as_of`` and
    silences longer than ``cfg.max_gap_days`` (unused cards) are left out. When at least
    half of the present sources are in a data gap, no alert is raised. Returns ``(alerts,
    gaps)``; alerts have level 3, ``since`` = last seen, extra columns ``hours_silent``,
    ``last_seen`` and ``last_place``.
    """
    cfg = cfg or LostContactConfig()
    as_of = pd.Timestamp(as_of)
    students = require(tables, "students", "lost contact")
    gaps = source_gaps(tables, as_of, cfg)
    present = 0
    for name in _SOURCES:
        t = table(tables, name)
        present += int(t is not None and not t.empty)
    extra = ["hours_silent", "last_seen", "last_place"]
    if present == 0 or len(gaps) * 2 >= present:
        return empty_alerts(extra), gaps
    seen = last_seen(tables, as_of)
    seen = seen.merge(students[["student_id", "dorm_building"]], on="student_id", how="inner")
    until, now = _excused_until(tables, seen["student_id"], seen["last_seen"], as_of, cfg)
    silent_h = (as_of - until).dt.total_seconds() / 3600
    raw_h = (as_of - seen["last_seen"]).dt.total_seconds() / 3600
    limit = np.where(seen["dorm_building"].isna(), cfg.hours_off_campus, cfg.hours)
    flag = (silent_h >= limit) & ~now & (raw_h <= cfg.max_gap_days * 24)
    hit = seen.loc[flag].assign(hours_silent=silent_h[flag].round(1))
    if hit.empty:
        return empty_alerts(extra), gaps
    rows = []
    for r in hit.itertuples(index=False):
        ls = pd.Timestamp(r.last_seen).strftime("%Y-%m-%d %H:%M")
        rows.append({
            "student_id": r.student_id, "alert": "lost_contact", "as_of": as_of.isoformat(), "level": 3,
            "since": ls, "score": float(r.hours_silent),
            "reason_en": (f"No door, card, library or network activity for {r.hours_silent:.0f} hours "
                          f"(outside vacation and leave); last seen {ls} at {r.last_place}."),
            "reason_zh": f"已{r.hours_silent:.0f}小时无门禁、消费、图书馆或上网记录(不含假期和请假);最后出现:{ls},{r.last_place}。",
            "details": as_details({"hours_silent": float(r.hours_silent), "last_seen": ls, "last_place": r.last_place}),
            "hours_silent": float(r.hours_silent), "last_seen": ls, "last_place": r.last_place,
        })
    out = pd.DataFrame(rows)[[*ALERT_COLUMNS, *extra]]
    return out.sort_values("hours_silent", ascending=False).reset_index(drop=True), gaps
