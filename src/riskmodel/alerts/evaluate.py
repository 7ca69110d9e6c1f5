"""Evaluate the alerts against the simulator's truth, and hidden aid on real card data.

Only this module reads ``truth/``. Truth ids are raw; they are pseudonymised with the same
key as the loaded tables before joining. ``write_results`` runs everything and writes the
markdown table in ``experiments/alerts_results.md``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from riskmodel.alerts.anomaly import daily_channels, detect, pyod_scores, window_features
from riskmodel.alerts.common import excluded_dates
from riskmodel.alerts.config import (
    AcademicConfig,
    AnomalyConfig,
    HiddenAidConfig,
    LostContactConfig,
    NightAbsenceConfig,
)
from riskmodel.alerts.hidden_aid import (
    hidden_aid,
)
from riskmodel.alerts.night_absence import lost_contact, night_statuses
from riskmodel.contracts import PseudonymKey, pseudonymise_series

UNEXPLAINED = ("unexplained", "risky_unexplained", "lost_contact", "home_unrecorded")


def read_truth(sim_dir: str | Path, name: str, key: PseudonymKey) -> pd.DataFrame:
    """A truth table with its student ids pseudonymised with ``key``."""
    t = pd.read_parquet(Path(sim_dir) / "truth" / f"{name}.parquet")
    if "student_id" in t:
        t["student_id"] = pseudonymise_series(t["student_id"], key)
    return t


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    y = np.asarray(y, dtype=bool)
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


# ----------------------------------------------------------------------------- night absence


def evaluate_night_absence(tables: Any, sim_dir: str | Path, key: PseudonymKey,
                           cfg: NightAbsenceConfig | None = None) -> dict[str, Any]:
    """Precision/recall of truly unexplained nights away; false alarms per 1,000 student-nights,
    with the outage rule on and off."""
    cfg = cfg or NightAbsenceConfig()
    cal = tables["calendar"]
    excl = excluded_dates(tables, cfg.excluded_periods)
    nights = [d for d in pd.to_datetime(cal["date"]).sort_values()[:-1] if d not in excl]
    truth = read_truth(sim_dir, "nights", key)
    pos = truth.loc[truth["reason"].isin(UNEXPLAINED) & ~truth["has_leave_record"], ["student_id", "night"]]
    pos = set(zip(pos["student_id"], pd.to_datetime(pos["night"]), strict=True))
    outages = read_truth(sim_dir, "gate_outages", key)
    dark = set(zip(outages["building"], pd.to_datetime(outages["night"]), strict=True))
    out: dict[str, Any] = {}
    variants = (("default (outage rule on)", cfg), ("outage rule off", replace(cfg, suppress_outages=False)),
                ("network evidence on", replace(cfg, use_network_evidence=True)))
    for label, c in variants:
        st = night_statuses(tables, nights, c)
        assessed = st.loc[~st["status"].isin(["excluded_period", "on_leave"])]
        flagged = assessed.loc[assessed["status"] == "absent"]
        f = set(zip(flagged["student_id"], flagged["night"], strict=True))
        a = set(zip(assessed["student_id"], assessed["night"], strict=True))
        tp = len(f & pos)
        on_dark = assessed.apply(lambda r: (r["dorm_building"], r["night"]) in dark, axis=1) if dark else (
            pd.Series(False, index=assessed.index))
        fl_dark = flagged.loc[on_dark.reindex(flagged.index, fill_value=False)]
        fa_dark = len(set(zip(fl_dark["student_id"], fl_dark["night"], strict=True)) - pos)
        out[label] = {
            "student_nights": len(a), "alerts": len(f), "true_unexplained": len(pos & a),
            "precision": tp / max(1, len(f)), "recall": tp / max(1, len(pos & a)),
            "false_alarms_per_1000": 1000 * (len(f) - tp) / max(1, len(a)),
            "false_alarms_on_dark_gate_nights": fa_dark,
            "suppressed_as_data_gap": int((st["status"] == "gate_outage").sum()),
        }
        if c is cfg:  # subgroups for the default configuration
            out[label]["by_gender"] = _night_by_group(assessed, f, pos, tables["students"], "gender")
            out[label]["by_degree"] = _night_by_group(assessed, f, pos, tables["students"], "degree_level")
    return out


def _night_by_group(assessed: pd.DataFrame, flagged: set, pos: set, students: pd.DataFrame, col: str
                    ) -> dict[str, dict[str, float]]:
    grp = assessed["student_id"].map(students.set_index("student_id")[col])
    res = {}
    for g in sorted(grp.dropna().unique()):
        a = assessed.loc[grp == g]
        keys = set(zip(a["student_id"], a["night"], strict=True))
        f, p = flagged & keys, pos & keys
        res[str(g)] = {"recall": len(f & p) / max(1, len(p)),
                       "false_alarms_per_1000": 1000 * len(f - p) / max(1, len(keys))}
    return res


def evaluate_lost_contact(tables: Any, sim_dir: str | Path, key: PseudonymKey,
                          cfg: LostContactConfig | None = None, every_hours: int = 24) -> dict[str, Any]:
    """Delay from a lost-contact episode's start to its first alert, and false alarms per
    1,000 student-days, running the check every ``every_hours`` hours."""
    cfg = cfg or LostContactConfig()
    cal = pd.to_datetime(tables["calendar"]["date"]).sort_values()
    eps = read_truth(sim_dir, "episodes", key)
    eps = eps.loc[eps["kind"] == "lost_contact"].reset_index(drop=True)
    times = pd.date_range(cal.iloc[0] + pd.Timedelta(days=3), cal.iloc[-1], freq=f"{every_hours}h")
    first: dict[int, pd.Timestamp] = {}
    false_alarms, checks = 0, 0
    n_students = len(tables["students"])
    for t in times:
        alerts, _ = lost_contact(tables, t, cfg)
        checks += 1
        for sid in alerts["student_id"]:
            hit = eps.index[(eps["student_id"] == sid) & (eps["onset"] <= t)
                            & (eps["end"] + pd.Timedelta(days=3) >= t)]
            if len(hit):
                for h in hit:
                    first.setdefault(int(h), t)
            else:
                false_alarms += 1
    delays = [(first[i] - eps.loc[i, "onset"]) / pd.Timedelta(hours=1) for i in first]
    student_days = n_students * checks * every_hours / 24
    return {"episodes": len(eps), "detected": len(first), "median_delay_hours": float(np.median(delays))
            if delays else float("nan"), "false_alarms_per_1000_student_days": 1000 * false_alarms / max(1, student_days),
            "check_every_hours": every_hours}


# ----------------------------------------------------------------------------- hidden aid


def evaluate_hidden_aid_sim(tables: Any, sim_dir: str | Path, key: PseudonymKey, as_of: pd.Timestamp,
                            cfg: HiddenAidConfig | None = None) -> dict[str, Any]:
    """Recall and precision of hidden hardship (hardship, not applied) among the top-K candidates,
    for the detector and both rules, by gender and college."""
    cfg = cfg or HiddenAidConfig()
    _, scores = hidden_aid(tables, as_of, cfg)
    hard = read_truth(sim_dir, "hardship", key).set_index("student_id")
    st = tables["students"].set_index("student_id")
    pool = scores.loc[~scores["on_roster"] & ~scores["registered_hardship"]
                      & (scores["meals_per_month"] >= cfg.candidate_min_meals_per_month)].copy()
    pool["hidden"] = pool["student_id"].map(hard["hardship"] & ~hard["applied_for_aid"]).fillna(False).astype(bool)
    k = max(1, int(round(0.05 * len(scores))))
    res: dict[str, Any] = {"scored": len(scores), "pool": len(pool), "hidden_in_pool": int(pool["hidden"].sum()),
                           "k": k}
    for name in ("pu_score", "threshold_rule", "peer_rule"):
        ranked = pool.sort_values(name, ascending=False, kind="stable")
        top = ranked.head(k)
        res[name] = {"recall_at_k": float(top["hidden"].sum() / max(1, pool["hidden"].sum())),
                     "precision_at_k": float(top["hidden"].mean()), "auroc_in_pool": _auc(pool["hidden"], pool[name])}
    top = pool.sort_values("pu_score", ascending=False).head(k)
    for col in ("gender", "college"):
        grp = pool["student_id"].map(st[col])
        tg = top["student_id"].map(st[col])
        res[f"by_{col}"] = {str(g): {"hidden": int(pool.loc[grp == g, "hidden"].sum()),
                                     "found": int(top.loc[tg == g, "hidden"].sum()),
                                     "candidates": int((tg == g).sum())} for g in sorted(grp.dropna().unique())}
    return res


def evaluate_hidden_aid_real(folder: str | Path | None = None, cfg: HiddenAidConfig | None = None,
                             folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Cross-validated AUROC and AP for "received aid" on the UESTC card data, spending alone.

    The export goes through the ``uestc_card`` import adapter and the contract loader
    (:func:`riskmodel.alerts.real_card.load_uestc_card`); features on the whole
    2013-09..2015-08 window; see :func:`riskmodel.alerts.real_card.cv_received_aid`.
    """
    from riskmodel.alerts.real_card import cv_received_aid, load_uestc_card

    card, labels = load_uestc_card(folder)
    return cv_received_aid(card, labels, cfg, folds, seed)


# ----------------------------------------------------------------------------- anomaly, academic


def evaluate_anomaly(tables: Any, sim_dir: str | Path, key: PseudonymKey, cfg: AnomalyConfig | None = None
                     ) -> dict[str, Any]:
    """Low-well-being onsets: student-week AUROC, recall within 14 days, median delay, false
    alarms per 1,000 student-weeks; PyOD IsolationForest and ECOD beside it."""
    cfg = cfg or AnomalyConfig()
    cal = pd.to_datetime(tables["calendar"]["date"]).sort_values()
    daily = daily_channels(tables, cal.iloc[0], cal.iloc[-1] + pd.Timedelta(days=1))
    det = detect(daily, cfg, excluded_dates(tables, cfg.excluded_periods))
    score = det.multivariate  # the concern index ranks; the alert rule decides
    alert = det.alert_mask(cfg)
    cusum = det.score()
    eps = read_truth(sim_dir, "episodes", key)
    eps = eps.loc[eps["kind"] == "low_wellbeing"]
    sidx = {s: i for i, s in enumerate(det.students)}
    first_day = cfg.baseline_days + cfg.baseline_gap_days
    weeks = [t for t in range(first_day, len(det.dates)) if det.dates[t].dayofweek == 6]
    rows = []
    iso, ecod = [], []
    for t in weeks:
        wf = window_features(det, t, 7)
        iso.append(pyod_scores(wf, "iforest").to_numpy())
        ecod.append(pyod_scores(wf, "ecod").to_numpy())
        rows.append(pd.DataFrame({"student_id": det.students, "t": t, "date": det.dates[t],
                                  "score": score[:, t], "cusum": cusum[:, t], "alert": alert[:, t]}))
    sw = pd.concat(rows, ignore_index=True)
    sw["iforest"], sw["ecod"] = np.concatenate(iso), np.concatenate(ecod)
    sw["label"] = 0
    sw["near"] = False
    for e in eps.itertuples():
        m = sw["student_id"].eq(e.student_id)
        sw.loc[m & (sw["date"] >= e.onset) & (sw["date"] < e.onset + pd.Timedelta(days=28)), "label"] = 1
        sw.loc[m & (sw["date"] >= e.onset - pd.Timedelta(days=14)) & (sw["date"] <= e.end + pd.Timedelta(days=28)),
               "near"] = True
    use = sw.loc[(sw["label"] == 1) | ~sw["near"]]
    found, delays = 0, []
    n_eps = 0
    for e in eps.itertuples():
        if e.student_id not in sidx:
            continue
        t0 = int(np.searchsorted(det.dates, e.onset))
        if t0 < first_day or t0 >= len(det.dates):
            continue
        n_eps += 1
        a = alert[sidx[e.student_id], t0:min(len(det.dates), t0 + 15)]
        a_all = alert[sidx[e.student_id], t0:]
        if a.any():
            found += 1
        if a_all.any():
            delays.append(int(np.argmax(a_all)))
    neg = use.loc[use["label"] == 0]
    gender = neg["student_id"].map(tables["students"].set_index("student_id")["gender"])
    by_gender = {str(g): 1000 * float(neg.loc[gender == g, "alert"].mean()) for g in sorted(gender.dropna().unique())}
    return {"false_alarms_per_1000_by_gender": by_gender, "student_weeks": len(use), "positive_weeks": int(use["label"].sum()), "episodes": n_eps,
            "auroc_concern_index": _auc(use["label"], use["score"]),
            "auroc_max_channel_cusum": _auc(use["label"], use["cusum"]), "auroc_iforest": _auc(use["label"], use["iforest"]),
            "auroc_ecod": _auc(use["label"], use["ecod"]), "recall_within_14d": found / max(1, n_eps),
            "median_delay_days": float(np.median(delays)) if delays else float("nan"),
            "alerts_per_1000_student_weeks": 1000 * float(use["alert"].mean()),
            "false_alarms_per_1000_student_weeks": 1000 * float(neg["alert"].mean()) if len(neg) else float("nan")}


def evaluate_academic(tables: Any, sim_dir: str | Path, key: PseudonymKey, drop: float = 0.5,
                      cfg: AcademicConfig | None = None) -> dict[str, Any]:
    """How often a first failure is followed by a well-being drop (28-day mean after minus
    before below ``-drop``), against students without a failure at the same dates."""
    g = tables["grades"]
    wb = read_truth(sim_dir, "wellbeing", key)
    wb["date"] = pd.to_datetime(wb["date"])
    piv = wb.pivot(index="date", columns="student_id", values="wellbeing")
    from riskmodel.alerts.academic import academic_alerts

    fails = g.loc[~g["passed"].astype(bool)]
    ever_failed_by = fails.groupby("student_id")["published_on"].min()
    # first failures as the alert finds them (the day after publication)
    parts = []
    for day in sorted(ever_failed_by.unique()):
        a = academic_alerts(tables, day + pd.Timedelta(days=1), replace(cfg or AcademicConfig(), recent_days=1))
        ids = a.loc[a["signals"].str.contains("first_failure"), "student_id"]
        parts.append(pd.Series(day, index=ids.to_numpy()))
    first = pd.concat(parts) if parts else pd.Series(dtype="datetime64[ns]")
    out: dict[str, float] = {"first_failures": 0, "followed_by_drop": 0, "baseline_n": 0, "baseline_drop": 0}
    for day in sorted(first.unique()):
        before = piv.loc[(piv.index >= day - pd.Timedelta(days=28)) & (piv.index < day)].mean()
        after = piv.loc[(piv.index >= day) & (piv.index < day + pd.Timedelta(days=28))].mean()
        if after.isna().all() or before.isna().all():
            continue
        change = (after - before).dropna()
        firsts = set(first.index[first == day]) & set(change.index)
        clean = [s for s in change.index if s not in ever_failed_by.index or ever_failed_by[s] > day + pd.Timedelta(
            days=28)]
        out["first_failures"] += len(firsts)
        out["followed_by_drop"] += int((change[list(firsts)] < -drop).sum())
        out["baseline_n"] += len(clean)
        out["baseline_drop"] += int((change[clean] < -drop).sum())
    out["p_drop_after_first_failure"] = out["followed_by_drop"] / max(1, out["first_failures"])
    out["p_drop_without_failure"] = out["baseline_drop"] / max(1, out["baseline_n"])
    return out


# ----------------------------------------------------------------------------- report


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(d: dict[str, Any]) -> list[str]:
    lines = ["| figure | value |", "|---|---|"]
    for k, v in d.items():
        lines.append(f"| {k} | {json.dumps(v, ensure_ascii=False, default=_fmt) if isinstance(v, dict) else _fmt(v)} |")
    return lines


def write_results(out: str | Path, sim_dir: str | Path | None = None, key_file: str | Path | None = None,
                  real: bool = True, students: int = 300, days: int = 200) -> Path:
    """Run every evaluation and write a markdown report to ``out``.

    Without ``sim_dir`` a campus of ``students`` x ``days`` is simulated into a temporary
    folder with a throw-away key.
    """
    from riskmodel.contracts import load_sources, resolve_key

    sections: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if sim_dir is None:
            from riskmodel.simulate import SimConfig, simulate_to_folder

            sim_dir = Path(tmp) / "campus"
            simulate_to_folder(SimConfig(students=students, start="2023-09-01", days=days, seed=11), sim_dir)
            key = PseudonymKey("evaluation-throwaway-key-" + "0" * 8)
            how = f"simulated campus, {students} students x {days} days, seed 11"
        else:
            key = resolve_key(key_file=key_file)
            how = f"simulated campus in {Path(sim_dir).name}"
        tables = load_sources(sim_dir, key).tables
        last = pd.to_datetime(tables["calendar"]["date"]).max()
        sections["Night absence (simulated)"] = {k: v for k, v in evaluate_night_absence(tables, sim_dir, key).items()}
        sections["Lost contact (simulated)"] = evaluate_lost_contact(tables, sim_dir, key)
        sections["Hidden aid (simulated)"] = evaluate_hidden_aid_sim(tables, sim_dir, key, last,
                                                                     HiddenAidConfig(window_days=120))
        sections["Behavioural anomaly (simulated, default operating point)"] = evaluate_anomaly(tables, sim_dir, key)
        sections["Behavioural anomaly (simulated, sensitive: concern index 0.8, CUSUM h 6)"] = evaluate_anomaly(
            tables, sim_dir, key, AnomalyConfig(multivariate_threshold=0.8, cusum_h=6.0))
        sections["Academic warning (simulated)"] = evaluate_academic(tables, sim_dir, key)
    if real:
        try:
            sections["Hidden aid (real UESTC card data, 5-fold CV)"] = evaluate_hidden_aid_real()
        except FileNotFoundError as exc:
            sections["Hidden aid (real UESTC card data)"] = {"skipped": str(exc)}
    lines = ["# Alerts: evaluation", "",
             "Generated by `riskmodel alerts evaluate` (riskmodel.alerts.evaluate.write_results); "
             f"{how}. Do not edit by hand.", ""]
    for title, d in sections.items():
        lines += [f"## {title}", "", *_table(d), ""]
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (p.with_suffix(".json")).write_text(json.dumps(sections, indent=2, default=_fmt, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return p
