"""Behavioural anomaly (行为异常): sustained change against one's own baseline and one's peers.

1. :func:`daily_channels` lays every student on the full calendar (a day without records is
   an explicit row) with channels for routine (first activity, return hour, going out),
   meals (count, spending), social (share of meals eaten with someone), study (library),
   network (hours, night use) and a sleep proxy (last activity of the night).
2. :func:`detect` takes each channel relative to the campus median of the same day (so a
   change that everyone goes through, such as the start of exams, cancels out), scores it
   against the student's own rolling baseline (median and MAD of an earlier window) as a
   robust z-score, and runs a two-sided CUSUM per channel (alerts use each channel's direction
   of concern, :data:`CONCERN`). The multivariate score is a concern index: the z-scores
   signed so that the worrying direction is positive, averaged over channels and over the
   last ``multivariate_window`` days; it ranks students.
3. :func:`anomaly_alerts` lists, at an as-of date, students with a channel over the CUSUM
   threshold (or a high multivariate score), with which behaviours changed, since when and
   by how much, from days strictly before the as-of date.

Baselines beside it: PyOD's IsolationForest and ECOD on window features
(:func:`window_features`, :func:`pyod_scores`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.alerts.common import ALERT_COLUMNS, as_details, excluded_dates, require, table
from riskmodel.alerts.config import AnomalyConfig
from riskmodel.alerts.hidden_aid import meals

#: channel -> (en, zh, unit, smallest change that matters, in channel units)
CHANNELS: dict[str, tuple[str, str, str, float]] = {
    "first_activity_hour": ("first activity of the day", "每天首次活动时间", "h", 0.5),
    "return_hour": ("return to the dorm", "回寝时间", "h", 0.5),
    "door_outs": ("times going out", "出寝次数", "", 0.5),
    "meals": ("canteen meals", "食堂就餐次数", "", 0.5),
    "meal_spend": ("canteen spending", "食堂消费", "CNY", 3.0),
    "eat_together_share": ("meals eaten with others", "与他人同餐比例", "", 0.2),
    "library": ("library visits", "图书馆进馆次数", "", 0.3),
    "network_hours": ("network use", "上网时长", "h", 0.75),
    "night_network_hours": ("network use between 00:00 and 05:00", "凌晨0-5点上网时长", "h", 0.25),
    "last_activity_hour": ("last activity of the night", "夜间最后活动时间", "h", 0.5),
}


#: the direction of change that worries (low well-being: later and irregular nights, skipped
#: and cheaper meals, eating alone, fewer library visits, staying in or staying away)
CONCERN: dict[str, str] = {
    "first_activity_hour": "up", "return_hour": "up", "door_outs": "both", "meals": "down", "meal_spend": "down",
    "eat_together_share": "down", "library": "down", "network_hours": "both", "night_network_hours": "up",
    "last_activity_hour": "up",
}


def _hour(ts: pd.Series) -> pd.Series:
    return ts.dt.hour + ts.dt.minute / 60.0


def daily_channels(tables: Any, start: pd.Timestamp | str, end: pd.Timestamp | str,
                   together_seconds: float = 120.0) -> pd.DataFrame:
    """One row per student and date in ``[start, end)`` with the channels of :data:`CHANNELS`.

    A "day" runs from 05:00 to 05:00 (a return at 01:00 belongs to the day before, as hour
    25). Counts are 0 on days without records; times are NaN then.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    students = require(tables, "students", "anomaly")
    dates = pd.date_range(start, end - pd.Timedelta(days=1))
    grid = pd.MultiIndex.from_product([students["student_id"], dates], names=["student_id", "date"])
    out = pd.DataFrame(index=grid)
    shift = pd.Timedelta(hours=5)

    def day_of(ts: pd.Series) -> pd.Series:
        return (ts - shift).dt.normalize()

    def hours_of(ts: pd.Series) -> pd.Series:
        return (ts - day_of(ts)) / pd.Timedelta(hours=1)

    def put(name: str, s: pd.Series, fill: float | None) -> None:
        s = s.reindex(grid)
        out[name] = s.fillna(fill) if fill is not None else s

    lo, hi = start + shift, end + shift
    last_parts = []
    first_parts = []
    door = table(tables, "door_events")
    if door is not None and not door.empty:
        d = door.loc[(door["ts"] >= lo) & (door["ts"] < hi)]
        key = [d["student_id"], day_of(d["ts"]).rename("date")]
        h = hours_of(d["ts"])
        put("door_outs", (d["direction"] == "out").groupby(key).sum(), 0.0)
        ins = d["direction"] == "in"
        put("return_hour", h[ins].groupby([d.loc[ins, "student_id"], day_of(d.loc[ins, "ts"]).rename("date")]).max(),
            None)
        first_parts.append(h[~ins].groupby([d.loc[~ins, "student_id"], day_of(d.loc[~ins, "ts"]).rename("date")]).min())
        last_parts.append(h.groupby(key).max())
    card = table(tables, "card_transactions")
    if card is not None and not card.empty:
        c = card.loc[(card["ts"] >= lo) & (card["ts"] < hi)]
        m = meals(c)
        mk = [m["student_id"], day_of(m["ts"]).rename("date")]
        put("meals", m.groupby(mk).size(), 0.0)
        put("meal_spend", m["amount"].groupby(mk).sum(), 0.0)
        # eating together: another student's canteen swipe at the same merchant within seconds
        cc = c.loc[c["category"] == "canteen", ["student_id", "ts", "merchant_id"]].sort_values(["merchant_id", "ts"])
        same_prev = (cc["merchant_id"].eq(cc["merchant_id"].shift()) & cc["student_id"].ne(cc["student_id"].shift())
                     & ((cc["ts"] - cc["ts"].shift()).dt.total_seconds() <= together_seconds))
        same_next = (cc["merchant_id"].eq(cc["merchant_id"].shift(-1))
                     & cc["student_id"].ne(cc["student_id"].shift(-1))
                     & ((cc["ts"].shift(-1) - cc["ts"]).dt.total_seconds() <= together_seconds))
        tog = (same_prev | same_next).astype(float)
        put("eat_together_share", tog.groupby([cc["student_id"], day_of(cc["ts"]).rename("date")]).mean(), None)
        hc = hours_of(c["ts"])
        ck = [c["student_id"], day_of(c["ts"]).rename("date")]
        first_parts.append(hc.groupby(ck).min())
        last_parts.append(hc.groupby(ck).max())
    lib = table(tables, "library_events")
    if lib is not None and not lib.empty:
        b = lib.loc[(lib["ts"] >= lo) & (lib["ts"] < hi)]
        bk = [b["student_id"], day_of(b["ts"]).rename("date")]
        put("library", (b["kind"] == "entry").groupby(bk).sum(), 0.0)
        first_parts.append(hours_of(b["ts"]).groupby(bk).min())
        last_parts.append(hours_of(b["ts"]).groupby(bk).max())
    net = table(tables, "network_sessions")
    if net is not None and not net.empty:
        n = net.loc[(net["start_ts"] >= lo) & (net["start_ts"] < hi)]
        nk = [n["student_id"], day_of(n["start_ts"]).rename("date")]
        dur = (n["end_ts"] - n["start_ts"]).dt.total_seconds() / 3600
        put("network_hours", dur.clip(upper=24).groupby(nk).sum(), 0.0)
        day0 = day_of(n["start_ts"])
        w0, w1 = day0 + pd.Timedelta(hours=24), day0 + pd.Timedelta(hours=29)  # 00:00-05:00 next day
        ov = (np.minimum(n["end_ts"], w1) - np.maximum(n["start_ts"], w0)).dt.total_seconds().clip(lower=0) / 3600
        put("night_network_hours", ov.groupby(nk).sum(), 0.0)
        end_h = (n["end_ts"].clip(upper=day0 + pd.Timedelta(hours=29)) - day0) / pd.Timedelta(hours=1)
        last_parts.append(end_h.groupby(nk).max())
    if first_parts:
        put("first_activity_hour", pd.concat(first_parts, axis=1).min(axis=1), None)
    if last_parts:
        put("last_activity_hour", pd.concat(last_parts, axis=1).max(axis=1), None)
    for ch in CHANNELS:
        if ch not in out:
            out[ch] = np.nan
    return out[list(CHANNELS)].reset_index()


@dataclass
class Detection:
    """The detector's state over days: arrays of shape (students, days, channels)."""

    students: np.ndarray
    dates: pd.DatetimeIndex
    channels: list[str]
    z: np.ndarray
    cusum_up: np.ndarray
    cusum_down: np.ndarray
    start_up: np.ndarray  # day index where the current upward excursion began (-1: none)
    start_down: np.ndarray
    delta: np.ndarray  # peer-adjusted value minus own baseline median (channel units)
    baseline: np.ndarray  # own baseline median of the raw value (channel units, approx.)
    multivariate: np.ndarray  # (students, days)

    def concern(self, one_sided: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """CUSUM arrays (up, down) keeping only each channel's direction of concern."""
        if not one_sided:
            return self.cusum_up, self.cusum_down
        up_ok = np.array([CONCERN.get(c, "both") in ("up", "both") for c in self.channels])
        dn_ok = np.array([CONCERN.get(c, "both") in ("down", "both") for c in self.channels])
        return self.cusum_up * up_ok[None, None, :], self.cusum_down * dn_ok[None, None, :]

    def alert_mask(self, cfg: AnomalyConfig) -> np.ndarray:
        """(students, days): the alert rule of :func:`alerts_from_detection` on every day."""
        up, dn = self.concern(cfg.one_sided)
        n_over = ((up >= 1.0) | (dn >= 1.0)).sum(axis=2)
        return (n_over >= cfg.min_channels) | (self.multivariate >= cfg.multivariate_threshold)

    def score(self, one_sided: bool = True, top: int = 1) -> np.ndarray:
        """(students, days): mean of the ``top`` largest CUSUMs over channels (units of h)."""
        up, dn = self.concern(one_sided)
        both = np.maximum(up, dn)
        if top <= 1:
            return both.max(axis=2)
        return -np.sort(-both, axis=2)[:, :, :top].mean(axis=2)


def detect(daily: pd.DataFrame, cfg: AnomalyConfig, excluded: set[pd.Timestamp] | None = None) -> Detection:
    """Robust z-scores against own baseline after removing the day's campus median, then CUSUM.

    ``daily`` is the output of :func:`daily_channels`. Days in ``excluded`` (vacations) and
    days with a missing value neither update the CUSUM nor enter a baseline. The value at day
    ``d`` depends only on days up to ``d``.
    """
    excluded = excluded or set()
    chans = [c for c in CHANNELS if c in daily.columns and daily[c].notna().any()]
    students = np.sort(daily["student_id"].unique())
    dates = pd.DatetimeIndex(np.sort(daily["date"].unique()))
    d = daily.set_index(["student_id", "date"])[chans].reindex(
        pd.MultiIndex.from_product([students, dates], names=["student_id", "date"]))
    X = d.to_numpy(dtype=float).reshape(len(students), len(dates), len(chans))
    exc = np.array([t in excluded for t in dates])
    X[:, exc, :] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        peer_med = np.nanmedian(X, axis=0, keepdims=True)  # campus median of each day
        A = X - peer_med
        spread = np.nanmedian(np.abs(A - np.nanmedian(A, axis=(0, 1), keepdims=True)), axis=(0, 1)) * 1.4826
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    floor = np.maximum(cfg.mad_floor * spread, np.array([CHANNELS[c][3] for c in chans]))
    n_s, n_d, n_c = A.shape
    base_med = np.full_like(A, np.nan)
    base_mad = np.full_like(A, np.nan)
    w0, gap = cfg.baseline_days, cfg.baseline_gap_days
    for t in range(n_d):
        hi = t - gap
        lo = max(0, hi - w0)
        if hi - lo < cfg.min_baseline_days:
            continue
        win = A[:, lo:hi, :]
        ok = np.sum(np.isfinite(win), axis=1) >= cfg.min_baseline_days
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(win, axis=1)
            mad = np.nanmedian(np.abs(win - med[:, None, :]), axis=1) * 1.4826
        base_med[:, t, :] = np.where(ok, med, np.nan)
        base_mad[:, t, :] = np.where(ok, mad, np.nan)
    scale = np.maximum(np.nan_to_num(base_mad, nan=0.0), floor[None, None, :])
    delta = A - base_med
    z = np.clip(delta / scale, -cfg.z_clip, cfg.z_clip)
    z = np.where(np.isfinite(z), z, 0.0)
    up = np.zeros_like(z)
    down = np.zeros_like(z)
    s_up = np.full(z.shape, -1, dtype=np.int32)
    s_dn = np.full(z.shape, -1, dtype=np.int32)
    cu = np.zeros((n_s, n_c))
    cd = np.zeros((n_s, n_c))
    su = np.full((n_s, n_c), -1, dtype=np.int32)
    sd = np.full((n_s, n_c), -1, dtype=np.int32)
    for t in range(n_d):
        cu_new = np.maximum(0.0, cu + z[:, t, :] - cfg.cusum_k)
        cd_new = np.maximum(0.0, cd - z[:, t, :] - cfg.cusum_k)
        su = np.where(cu_new > 0, np.where(cu > 0, su, t), -1)
        sd = np.where(cd_new > 0, np.where(cd > 0, sd, t), -1)
        cu, cd = cu_new, cd_new
        up[:, t, :], down[:, t, :] = cu / cfg.cusum_h, cd / cfg.cusum_h
        s_up[:, t, :], s_dn[:, t, :] = su, sd
    # concern index: mean over the one-sided channels of z signed so that worrying is positive,
    # averaged over the last `multivariate_window` days
    sign = np.array([{"up": 1.0, "down": -1.0}.get(CONCERN.get(c, "both"), 0.0) for c in chans])
    daily_idx = (z * sign[None, None, :]).sum(axis=2) / max(1.0, float(np.abs(sign).sum()))
    multi = pd.DataFrame(daily_idx.T).rolling(cfg.multivariate_window, min_periods=1).mean().to_numpy().T
    return Detection(students=students, dates=dates, channels=chans, z=z, cusum_up=up, cusum_down=down,
                     start_up=s_up, start_down=s_dn, delta=delta, baseline=base_med + peer_med, multivariate=multi)


def alerts_from_detection(det: Detection, as_of: pd.Timestamp | str, cfg: AnomalyConfig) -> pd.DataFrame:
    """Alerts at ``as_of`` (state at the last day before it), with changed channels and since when."""
    as_of = pd.Timestamp(as_of).normalize()
    t = int(np.searchsorted(det.dates, as_of)) - 1
    if t < 0:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    rows = []
    up_c, dn_c = det.concern(cfg.one_sided)
    for i, s in enumerate(det.students):
        over = []
        for j, ch in enumerate(det.channels):
            for direction, arr, start in (("up", up_c, det.start_up), ("down", dn_c, det.start_down)):
                if arr[i, t, j] >= 1.0:
                    st = int(start[i, t, j])
                    chg = float(np.nanmean(det.delta[i, st:t + 1, j])) if st >= 0 else float("nan")
                    over.append((float(arr[i, t, j]), ch, direction, st, chg, float(det.baseline[i, t, j])))
        multi = float(det.multivariate[i, t])
        if len(over) < cfg.min_channels and multi < cfg.multivariate_threshold:
            continue
        over.sort(reverse=True)
        since_idx = min((o[3] for o in over if o[3] >= 0), default=max(0, t - cfg.multivariate_window + 1))
        since = det.dates[since_idx].date().isoformat()
        en, zh, det_d = [], [], {}
        for k, (strength, ch, direction, st, chg, base) in enumerate(over):
            e, z, unit, _ = CHANNELS[ch]
            d0 = det.dates[max(st, 0)].date().isoformat()
            word = "up" if direction == "up" else "down"
            if k < 4:  # the text names the four strongest; details keep them all
                en.append(f"{e} {word} by {abs(chg):.1f}{unit} since {d0} (usual {base:.1f}{unit})")
                zh.append(f"{z}自{d0}起{'增加' if direction == 'up' else '减少'}{abs(chg):.1f}{unit}"
                          f"(平时{base:.1f}{unit})")
            det_d[ch] = {"direction": direction, "change": round(chg, 2), "since": d0, "cusum": round(strength, 2)}
        if not over:
            en.append(f"several behaviours drift the worrying way at once (concern index {multi:.2f})")
            zh.append(f"多项行为同时朝不利方向偏离(综合指数{multi:.2f})")
        score = multi
        rows.append({"student_id": s, "alert": "anomaly", "as_of": as_of.date().isoformat(),
                     "level": 2 if (len(over) >= cfg.min_channels and multi >= cfg.multivariate_threshold) else 1, "since": since, "score": score,
                     "reason_en": "Sustained change against own usual behaviour and peers: " + "; ".join(en) + ".",
                     "reason_zh": "行为持续偏离本人平常和同伴:" + ";".join(zh) + "。",
                     "details": as_details({"channels": det_d, "multivariate": multi})})
    out = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    return out.sort_values("score", ascending=False).reset_index(drop=True)


def anomaly_alerts(tables: Any, as_of: pd.Timestamp | str, cfg: AnomalyConfig | None = None
                   ) -> tuple[pd.DataFrame, Detection]:
    """Behavioural-anomaly alerts at ``as_of`` from the ``cfg.history_days`` days before it.

    Returns ``(alerts, detection)``; alerts in the common shape with the changed channels,
    direction, since when and by how much in ``reason_en``/``reason_zh``/``details``.
    """
    cfg = cfg or AnomalyConfig()
    as_of = pd.Timestamp(as_of).normalize()
    daily = daily_channels(tables, as_of - pd.Timedelta(days=cfg.history_days), as_of)
    det = detect(daily, cfg, excluded_dates(tables, cfg.excluded_periods))
    return alerts_from_detection(det, as_of, cfg), det


# ----------------------------------------------------------------------------- baselines


def window_features(det: Detection, day_index: int, window: int = 14) -> pd.DataFrame:
    """Per student: mean peer-adjusted change against own baseline of each channel over the
    ``window`` days ending at ``day_index`` (the same inputs the CUSUM sees)."""
    lo = max(0, day_index - window + 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(det.z[:, lo:day_index + 1, :], axis=1)
    return pd.DataFrame(np.nan_to_num(m), index=pd.Index(det.students, name="student_id"), columns=det.channels)


def pyod_scores(features: pd.DataFrame, method: str = "iforest", seed: int = 0) -> pd.Series:
    """Outlier scores from PyOD (``iforest`` = IsolationForest, ``ecod`` = ECOD); higher = stranger."""
    if method == "iforest":
        from pyod.models.iforest import IForest

        model = IForest(random_state=seed, n_estimators=100)
    elif method == "ecod":
        from pyod.models.ecod import ECOD

        model = ECOD()
    else:
        raise ValueError(f"unknown PyOD method {method!r}; use 'iforest' or 'ecod'")
    model.fit(features.to_numpy(dtype=float))
    return pd.Series(model.decision_scores_, index=features.index, name=method)
