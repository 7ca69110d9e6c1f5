"""``simulate_to_folder``: the chunked pipeline that writes the campus and its truth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from riskmodel.contracts import table_names
from riskmodel.simulate.absences import REASONS, VAC, DayStates, simulate_whereabouts
from riskmodel.simulate.calendar import PERIODS, Calendar, build_calendar, calendar_pressure
from riskmodel.simulate.census import aid_roster, simulate_census
from riskmodel.simulate.config import SimConfig
from riskmodel.simulate.events import Events, simulate_events
from riskmodel.simulate.faults import plant_faults
from riskmodel.simulate.population import (
    Population,
    build_population,
    building_names,
    chunk_bounds,
    students_frame,
    truth_population_frame,
)
from riskmodel.simulate.summary import SimSummary, SummaryAccumulator, summarise
from riskmodel.simulate.wellbeing import (
    ORACLE_HORIZON,
    Latent,
    oracle_risk,
    pressure_matrix,
    record_prob_per_day,
    simulate_latent,
)
from riskmodel.simulate.writer import (
    TableWriters,
    contract_schema,
    date_array,
    ids_array,
    str_array,
    ts_array,
)

log = logging.getLogger(__name__)
TRUTH_DIR = "truth"
EXCLUDE_AFTER_CRISIS_DAYS = 180
_T = pa.timestamp("ns")


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def _sort_dedupe(df: pd.DataFrame, by: list[str], keys: list[str]) -> pd.DataFrame:
    if df.empty:
        return df
    df = df.sort_values(by, kind="stable")
    return df.drop_duplicates(keys).reset_index(drop=True)


def _gate_outages(cfg: SimConfig, n_buildings: int, days: int) -> set[tuple[int, int]]:
    rng = _rng(cfg.seed, 2)
    hit = rng.random((n_buildings, days)) < cfg.routine.gate_outage_per_building_year / 365.0
    b, d = np.nonzero(hit)
    return set(zip(b.tolist(), d.tolist(), strict=True))


def _day_epoch(cal: Calendar, d: np.ndarray) -> np.ndarray:
    return (cal.epoch_s[0] // 86400) + d.astype(np.int64)


def _write_contract_chunk(w: TableWriters, cfg: SimConfig, pop: Population, cal: Calendar, lat: Latent,
                          st: DayStates, ev: Events, census: pd.DataFrame, frames_for_faults: dict) -> None:
    ids = pop.student_id
    lo, hi = cal.epoch_s[0], cal.epoch_s[0] + cal.n * 86400
    drop = set(cfg.drop_sources)
    bnames = np.array(building_names(max(pop.n_buildings, 1)) + [None], dtype=object)

    def emit(name: str, cols: dict[str, pa.Array]) -> None:
        if name in drop:
            return
        w.write(name, cols, contract_schema(name))
        if cfg.faults.enabled:
            frames_for_faults[name] = cols

    door = ev.door
    if len(door):
        door = door[(door["ts_s"] >= lo) & (door["ts_s"] < hi)]
        door = _sort_dedupe(door, ["local_idx", "ts_s", "direction"], ["local_idx", "ts_s", "direction"])
        emit("door_events", {"student_id": ids_array(door["local_idx"].to_numpy(), ids),
                             "ts": ts_array(door["ts_s"].to_numpy()),
                             "building": str_array(bnames[door["building"].to_numpy()]),
                             "direction": str_array(door["direction"].to_numpy())})
    card = ev.card
    if len(card):
        card = card[(card["ts_s"] >= lo) & (card["ts_s"] < hi)]
        card = _sort_dedupe(card, ["local_idx", "ts_s", "merchant_id"],
                            ["local_idx", "ts_s", "merchant_id", "amount"])
        emit("card_transactions", {"student_id": ids_array(card["local_idx"].to_numpy(), ids),
                                   "ts": ts_array(card["ts_s"].to_numpy()),
                                   "merchant_id": str_array(card["merchant_id"].to_numpy()),
                                   "category": str_array(card["category"].to_numpy()),
                                   "amount": pa.array(card["amount"].to_numpy(np.float64))})
    lib = ev.library
    if len(lib):
        lib = lib[(lib["ts_s"] >= lo) & (lib["ts_s"] < hi)]
        lib = _sort_dedupe(lib, ["local_idx", "ts_s", "kind"], ["local_idx", "ts_s", "kind"])
        emit("library_events", {"student_id": ids_array(lib["local_idx"].to_numpy(), ids),
                                "ts": ts_array(lib["ts_s"].to_numpy()), "kind": str_array(lib["kind"].to_numpy())})
    net = ev.network
    if len(net):
        net = net[(net["start_s"] >= lo) & (net["start_s"] < hi)]
        net = _sort_dedupe(net, ["local_idx", "start_s"], ["local_idx", "start_s"])
        b = net["b"].to_numpy()
        names = np.where(b >= 200, "LIB", np.where(b >= 100, np.char.add("TEACH-0", (b - 99).astype(str)), ""))
        dorm = (b >= 0) & (b < 100)
        bn = np.where(dorm, bnames[np.clip(b, 0, len(bnames) - 2)], names).astype(object)
        bn[b < 0] = None
        byt = net["bytes"].to_numpy()
        emit("network_sessions", {"student_id": ids_array(net["local_idx"].to_numpy(), ids),
                                  "start_ts": ts_array(net["start_s"].to_numpy()),
                                  "end_ts": ts_array(net["end_s"].to_numpy()),
                                  "building": str_array(bn),
                                  "bytes": pa.array(byt, pa.int64(), mask=byt < 0)})
    g = lat.grades
    g = g[g["day"] < cal.n] if len(g) else g
    if len(g):
        g = g.sort_values(["local_idx", "term", "course_k"], kind="stable")
        li = g["local_idx"].to_numpy()
        course = np.char.add(np.char.add("C", pop.major[li].astype(str)), "-")
        course = np.char.add(np.char.add(course, g["term"].to_numpy().astype(str)),
                             np.char.add("-", g["course_k"].to_numpy().astype(str)))
        score = g["score"].to_numpy(np.float64)
        emit("grades", {"student_id": ids_array(li, ids), "term": str_array(g["term"].to_numpy()),
                        "course_id": str_array(course.astype(object)),
                        "credits": pa.array(g["credits"].to_numpy(np.float64)),
                        "score": pa.array(score, pa.float64(), mask=np.isnan(score)),
                        "passed": pa.array(g["passed"].to_numpy(bool)),
                        "published_on": date_array(_day_epoch(cal, g["day"].to_numpy()))})
    if len(census):
        emit("census", {"student_id": ids_array(census["local_idx"].to_numpy(), ids),
                        "assessed_on": date_array(_day_epoch(cal, census["day"].to_numpy())),
                        "instrument": str_array(np.full(len(census), "UPI", object)),
                        "total_score": pa.array(census["total"].to_numpy(np.float64)),
                        "key_item_positive": pa.array(census["key"].to_numpy(bool)),
                        "screen_level": pa.array(census["level"].to_numpy(np.int64))})
    lv = st.leave
    if len(lv):
        lv = _sort_dedupe(lv, ["local_idx", "start_s", "kind"], ["local_idx", "start_s", "kind"])
        emit("leave_records", {"student_id": ids_array(lv["local_idx"].to_numpy(np.int64), ids),
                               "start_ts": ts_array(lv["start_s"].to_numpy(np.int64)),
                               "end_ts": ts_array(np.maximum(lv["end_s"].to_numpy(np.int64),
                                                             lv["start_s"].to_numpy(np.int64))),
                               "kind": str_array(lv["kind"].to_numpy())})
    cr = lat.crises
    cr = cr[cr["recorded"]] if len(cr) else cr
    if len(cr):
        cr = _sort_dedupe(cr, ["local_idx", "day"], ["local_idx", "day", "category"])
        emit("crisis_events", {"student_id": ids_array(cr["local_idx"].to_numpy(), ids),
                               "occurred_on": date_array(_day_epoch(cal, cr["day"].to_numpy())),
                               "level": pa.array(cr["level"].to_numpy(np.int64)),
                               "category": str_array(cr["category"].to_numpy())})


def _low_wellbeing_episodes(z: np.ndarray, enter: float = -1.2, leave: float = -0.8) -> pd.DataFrame:
    """Episodes of low (lagged) well-being with hysteresis: onset when z < enter, end when z > leave."""
    n, days = z.shape
    inside = np.zeros(n, bool)
    onset = np.zeros(n, np.int64)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for t in range(days):
        start = ~inside & (z[:, t] < enter)
        stop = inside & (z[:, t] > leave)
        if stop.any():
            idx = np.flatnonzero(stop)
            rows.append((idx, onset[idx].copy(), np.full(idx.size, t)))
        onset[start] = t
        inside = (inside | start) & ~stop
    if inside.any():
        idx = np.flatnonzero(inside)
        rows.append((idx, onset[idx].copy(), np.full(idx.size, days)))
    if not rows:
        return pd.DataFrame({"local_idx": np.array([], int), "onset": np.array([], int),
                             "end": np.array([], int), "kind": np.array([], object)})
    return pd.DataFrame({"local_idx": np.concatenate([r[0] for r in rows]),
                         "onset": np.concatenate([r[1] for r in rows]),
                         "end": np.concatenate([r[2] for r in rows]), "kind": "low_wellbeing"})


def _ts_days(cal: Calendar, d: np.ndarray) -> pa.Array:
    return ts_array(cal.epoch_s[0] + d.astype(np.int64) * 86400)


def _write_truth_chunk(w: TableWriters, pop: Population, cal: Calendar, lat: Latent, st: DayStates,
                       oracle: np.ndarray, mondays: np.ndarray) -> None:
    ids = pop.student_id
    n, days = pop.n, cal.n
    i, d = np.nonzero(st.active)
    w.write(f"{TRUTH_DIR}/wellbeing", {
        "student_id": ids_array(i, ids), "date": _ts_days(cal, d),
        "wellbeing": pa.array(lat.w[i, d]), "hazard": pa.array(lat.hazard[i, d])},
        pa.schema([("student_id", pa.string()), ("date", _T), ("wellbeing", pa.float32()),
                   ("hazard", pa.float32())]))
    act_m = st.active[:, mondays] if mondays.size else np.zeros((n, 0), bool)
    oi, oj = np.nonzero(act_m)
    w.write(f"{TRUTH_DIR}/oracle_risk", {
        "student_id": ids_array(oi, ids), "as_of": _ts_days(cal, mondays[oj]),
        "oracle_risk": pa.array(oracle[oi, oj])},
        pa.schema([("student_id", pa.string()), ("as_of", _T), ("oracle_risk", pa.float64())]))
    ep = pd.concat([_low_wellbeing_episodes(lat.z), st.episodes,
                    lat.shocks.assign(onset=lat.shocks["day"], end=lat.shocks["day"] + 1,
                                      kind="shock_" + lat.shocks["kind"].astype(str))[
                        ["local_idx", "onset", "end", "kind"]]], ignore_index=True)
    ep = ep.sort_values(["local_idx", "onset", "kind"], kind="stable")
    w.write(f"{TRUTH_DIR}/episodes", {
        "student_id": ids_array(ep["local_idx"].to_numpy(np.int64), ids),
        "onset": _ts_days(cal, ep["onset"].to_numpy(np.int64)),
        "end": _ts_days(cal, np.minimum(ep["end"].to_numpy(np.int64), days)),
        "kind": str_array(ep["kind"].to_numpy().astype(object))},
        pa.schema([("student_id", pa.string()), ("onset", _T), ("end", _T), ("kind", pa.string())]))
    cr = lat.crises.sort_values(["local_idx", "day"], kind="stable")
    w.write(f"{TRUTH_DIR}/crises", {
        "student_id": ids_array(cr["local_idx"].to_numpy(np.int64), ids),
        "occurred_on": _ts_days(cal, cr["day"].to_numpy(np.int64)),
        "level": pa.array(cr["level"].to_numpy(np.int64)), "category": str_array(cr["category"].to_numpy()),
        "recorded": pa.array(cr["recorded"].to_numpy(bool))},
        pa.schema([("student_id", pa.string()), ("occurred_on", _T), ("level", pa.int64()),
                   ("category", pa.string()), ("recorded", pa.bool_())]))
    away = (st.reason > 0) & st.active & pop.resident[:, None]
    ni, nd = np.nonzero(away)
    w.write(f"{TRUTH_DIR}/nights", {
        "student_id": ids_array(ni, ids), "night": _ts_days(cal, nd),
        "reason": str_array(np.array(REASONS, object)[st.reason[ni, nd]]),
        "has_leave_record": pa.array(st.has_leave[ni, nd])},
        pa.schema([("student_id", pa.string()), ("night", _T), ("reason", pa.string()),
                   ("has_leave_record", pa.bool_())]))


def _window_sum(x: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(np.nan_to_num(x), axis=1)], axis=1)
    return c[:, ends] - c[:, np.maximum(ends - width, 0)]


def _accumulate(acc: SummaryAccumulator, cfg: SimConfig, pop: Population, cal: Calendar, lat: Latent,
                st: DayStates, ev: Events, census: pd.DataFrame, oracle: np.ndarray, mondays: np.ndarray) -> None:
    days = cal.n
    card = ev.card
    card_ok = card[(card["day"] >= 0) & (card["day"] < days)] if len(card) else card
    d = card_ok["day"].to_numpy() if len(card_ok) else np.array([], int)
    amt = card_ok["amount"].to_numpy() if len(card_ok) else np.array([])
    is_can = (card_ok["category"] == "canteen").to_numpy() if len(card_ok) else np.array([], bool)
    acc.add_day_arrays(np.bincount(d, minlength=days), np.bincount(d, weights=amt, minlength=days),
                       np.bincount(d[is_can], weights=amt[is_can], minlength=days), st.active.sum(axis=0))
    if len(card_ok):
        meal = card_ok["meal"].to_numpy()
        for m in range(3):
            acc.meal_price_sum[m] += amt[meal == m].sum()
            acc.meal_count[m] += int((meal == m).sum())
    acc.together += float(ev.channels["meals_together"].sum())
    acc.offcard_monthly_sum += float(pop.offcard_monthly.sum())
    acc.student_years += float(st.active.sum()) / 365.0
    cr = lat.crises
    ay = cal.academic_year[cr["day"].to_numpy()] if len(cr) else np.array([], int)
    if len(cr):
        c = cr.assign(ay=ay)
        acc.crisis_students["true_1+"] += len(c[["local_idx", "ay"]].drop_duplicates())
        rec = c[c["recorded"]]
        acc.crisis_students["1+"] += len(rec[["local_idx", "ay"]].drop_duplicates())
        acc.crisis_students["3"] += len(rec[rec["level"] == 3][["local_idx", "ay"]].drop_duplicates())
        acc.crises_true += len(c)
        acc.crises_recorded += int(c["recorded"].sum())
    acc.census_n += len(census)
    acc.census_class1 += int((census["level"] >= 2).sum()) if len(census) else 0
    res = pop.resident[:, None] & st.active & cal.on_term[None, :]
    away_nonvac = (st.reason > 0) & (st.reason != VAC)
    acc.nights_away_term += float((away_nonvac & res).sum())
    acc.resident_term_nights += float(res.sum())
    acc.lost_contact_episodes += int((st.episodes["kind"] == "lost_contact").sum()) if len(st.episodes) else 0
    # scoring on eligible student-Mondays
    ok_m = mondays[mondays + ORACLE_HORIZON <= days]
    if ok_m.size == 0:
        return
    rec = lat.crises[lat.crises["recorded"]] if len(lat.crises) else lat.crises
    rec_mask = np.zeros((pop.n, days), bool)
    if len(rec):
        rec_mask[rec["local_idx"].to_numpy(), rec["day"].to_numpy()] = True
    label = _window_sum(rec_mask.astype(float), ok_m + ORACLE_HORIZON, ORACLE_HORIZON) > 0
    past = _window_sum(rec_mask.astype(float), ok_m, EXCLUDE_AFTER_CRISIS_DAYS) > 0
    elig = st.active[:, ok_m] & ~past
    col = np.searchsorted(mondays, ok_m)
    feats = {
        "nights_away_14d": _window_sum((away_nonvac & pop.resident[:, None]).astype(float), ok_m, 14),
        "late_night_minutes_14d": _window_sum(ev.channels["late_night_minutes"], ok_m, 14),
        "canteen_meals_14d": _window_sum(ev.channels["canteen_meals"], ok_m, 14),
        "meals_together_14d": _window_sum(ev.channels["meals_together"], ok_m, 14),
        "library_visits_14d": _window_sum(ev.channels["library_visits"], ok_m, 14),
    }
    rh = ev.channels["return_hour"]
    cnt = _window_sum(np.isfinite(rh).astype(float), ok_m, 14)
    with np.errstate(invalid="ignore", divide="ignore"):
        feats["return_hour_14d"] = np.where(cnt > 0, _window_sum(rh, ok_m, 14) / cnt, np.nan)
    model_x = _model_features(pop, cal, lat, st, ev, census, away_nonvac, ok_m)
    acc.add_scores(label=label[elig], oracle=oracle[:, col][elig],
                   monday=np.broadcast_to(ok_m[None, :], elig.shape)[elig],
                   **{k: v[elig] for k, v in feats.items()})
    acc.add_scores(model_x=model_x[elig])


def _model_features(pop: Population, cal: Calendar, lat: Latent, st: DayStates, ev: Events,
                    census: pd.DataFrame, away_nonvac: np.ndarray, mondays: np.ndarray) -> np.ndarray:
    """Observable 28-day rates and their deviation from the student's own earlier 84 days.

    For the behaviour-model check of :class:`SimSummary` only: per daily channel, the rate per
    day on campus over [t-28, t) and over the baseline [t-112, t-28), and their difference;
    plus the latest census total and the failed courses published in the last 180 days.
    Returns (n, len(mondays), n_features) float32.
    """
    present = (st.active & ~st.offsite).astype(float)
    door_quiet = (st.stay_in & pop.resident[:, None]).astype(float)
    rh = ev.channels["return_hour"]
    daily = {
        "away": (away_nonvac & pop.resident[:, None]).astype(float),
        "late": ev.channels["late_night_minutes"], "meals": ev.channels["canteen_meals"],
        "together": ev.channels["meals_together"], "library": ev.channels["library_visits"],
        "stay_in": door_quiet, "return_sum": np.nan_to_num(rh), "return_n": np.isfinite(rh).astype(float),
    }
    p28 = np.maximum(_window_sum(present, mondays, 28), 1.0)
    pb = np.maximum(_window_sum(present, np.maximum(mondays - 28, 0), 84), 1.0)
    cols = []
    for name, x in daily.items():
        if name == "return_n":
            continue
        if name == "return_sum":
            n28 = np.maximum(_window_sum(daily["return_n"], mondays, 28), 1.0)
            nb = np.maximum(_window_sum(daily["return_n"], np.maximum(mondays - 28, 0), 84), 1.0)
            r28 = _window_sum(x, mondays, 28) / n28
            rb = _window_sum(x, np.maximum(mondays - 28, 0), 84) / nb
        else:
            r28 = _window_sum(x, mondays, 28) / p28
            rb = _window_sum(x, np.maximum(mondays - 28, 0), 84) / pb
        cols += [r28, rb, r28 - rb]
    n, days = pop.n, cal.n
    upi = np.full((n, days), np.nan)
    if len(census):
        upi[census["local_idx"].to_numpy(), census["day"].to_numpy()] = census["total"].to_numpy()
    upi = pd.DataFrame(upi).ffill(axis=1).to_numpy()
    prev = np.maximum(mondays - 1, 0)
    cols.append(np.nan_to_num(upi[:, prev], nan=-1.0))
    fails = np.zeros((n, days))
    g = lat.grades
    if len(g):
        bad = g[~g["passed"].astype(bool) & (g["day"] < days)]
        np.add.at(fails, (bad["local_idx"].to_numpy(np.int64), bad["day"].to_numpy(np.int64)), 1.0)
    cols.append(_window_sum(fails, mondays, 180))
    return np.stack(cols, axis=-1).astype(np.float32)


def simulate_to_folder(cfg: SimConfig, out_dir: Path) -> SimSummary:
    """Simulate the campus of ``cfg`` and write it to ``out_dir``.

    Writes the eleven contract-v1 tables as ``out_dir/<table>.parquet`` (raw student numbers;
    tables in ``cfg.drop_sources`` are left out) and the hidden ground truth under
    ``out_dir/truth/`` (keyed by raw student number). Same config and seed -> identical bytes.
    Returns the realism and difficulty figures.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "students" in cfg.drop_sources:
        raise ValueError("drop_sources cannot drop 'students': it is the one required table")
    cal = build_calendar(cfg.start_date, cfg.days)
    cal_ext = build_calendar(cfg.start_date, cfg.days + ORACLE_HORIZON)
    wc = cfg.wellbeing
    pressure_ext = calendar_pressure(cal_ext, wc.exam_pressure, wc.vacation_relief)
    rec_ext = record_prob_per_day(cal_ext.period, cfg)
    pop = build_population(cfg, _rng(cfg.seed, 0))
    outages = _gate_outages(cfg, pop.n_buildings, cal.n)
    mondays = np.flatnonzero(cal.weekday == 0)
    w = TableWriters(out_dir)
    acc = SummaryAccumulator(days=cal.n, period=cal.period)
    fault_frames: dict[str, dict[str, pa.Array]] = {}
    try:
        stu = students_frame(pop, cfg, pop.applied_for_aid)
        w.write("students", {c: pa.array(stu[c].to_numpy(), contract_schema("students").field(c).type)
                             for c in stu.columns}, contract_schema("students"))
        if "calendar" not in cfg.drop_sources:
            w.write("calendar", {"date": date_array(_day_epoch(cal, np.arange(cal.n))),
                                 "period": str_array(np.array(PERIODS, object)[cal.period])},
                    contract_schema("calendar"))
        aid = aid_roster(pop, cal)
        if "aid_roster" not in cfg.drop_sources:
            w.write("aid_roster", {"student_id": ids_array(aid["idx"].to_numpy(np.int64), pop.student_id),
                                   "academic_year": str_array(aid["academic_year"].to_numpy()),
                                   "level": pa.array(aid["level"].to_numpy(np.int64))},
                    contract_schema("aid_roster"))
        for k, (a, b) in enumerate(chunk_bounds(pop, cfg.chunk_students)):
            log.info("chunk %d: students %d..%d", k, a, b)
            rng = _rng(cfg.seed, 1, k)
            sub = pop.take(np.arange(a, b))
            lat = simulate_latent(sub, cal, pressure_ext, cfg, rng)
            st = simulate_whereabouts(sub, cal, lat, cfg, rng)
            ev = simulate_events(sub, cal, lat, st, cfg, outages, rng)
            census = simulate_census(sub, cal, lat, st.active & ~st.offsite, rng)
            a_ext = pressure_matrix(sub, pressure_ext)
            oracle = oracle_risk(sub, lat, a_ext, rec_ext, mondays, cfg)
            _write_contract_chunk(w, cfg, sub, cal, lat, st, ev, census, fault_frames)
            _write_truth_chunk(w, sub, cal, lat, st, oracle, mondays)
            lunch_dinner = int(((ev.card["meal"] >= 1).sum()) if len(ev.card) else 0)
            acc.lunch_dinner += lunch_dinner
            _accumulate(acc, cfg, sub, cal, lat, st, ev, census, oracle, mondays)
        if cfg.faults.enabled:
            for name, cols in plant_faults(fault_frames, cfg, cal, _rng(cfg.seed, 3)).items():
                w.write(name, cols, contract_schema(name))
        truth_static(w, pop, cal, outages)
        for name in table_names():
            if name not in cfg.drop_sources:
                w.ensure(name, contract_schema(name))
    finally:
        w.close()
    acc.rows = {k: v for k, v in w.rows.items()}
    return summarise(acc, pop.n, pop.hardship, pop.applied_for_aid)


def truth_static(w: TableWriters, pop: Population, cal: Calendar, outages: set[tuple[int, int]]) -> None:
    """Per-student truth tables written once: hardship, population traits, gate outages."""
    w.write(f"{TRUTH_DIR}/hardship", {
        "student_id": pa.array(pop.student_id, pa.string()),
        "family_income": pa.array(pop.family_income), "hardship": pa.array(pop.hardship),
        "applied_for_aid": pa.array(pop.applied_for_aid)},
        pa.schema([("student_id", pa.string()), ("family_income", pa.float64()), ("hardship", pa.bool_()),
                   ("applied_for_aid", pa.bool_())]))
    tp = truth_population_frame(pop)
    w.write(f"{TRUTH_DIR}/population", {c: pa.array(tp[c].to_numpy()) for c in tp.columns},
            pa.Schema.from_pandas(tp, preserve_index=False).remove_metadata())
    ob = sorted(outages)
    names = np.array(building_names(max(pop.n_buildings, 1)), dtype=object)
    w.write(f"{TRUTH_DIR}/gate_outages", {
        "building": str_array(names[np.array([b for b, _ in ob], dtype=np.int64)] if ob else np.array([], object)),
        "night": ts_array(cal.epoch_s[0] + np.array([d for _, d in ob], dtype=np.int64) * 86400) if ob
        else pa.array([], _T)},
        pa.schema([("building", pa.string()), ("night", _T)]))
