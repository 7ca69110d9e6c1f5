"""Benchmark of the scoring API (issue 6): a whole campus scored with reasons, one student explained.

Target: score all 30,000 students with reasons, from a data folder whose features are already
built, in under 30 s; explain one student in under 1 s; report the figure with feature building.

How (``full``): a campus of 3,000 students x 150 days is simulated, loaded and featurised (at
the as-of date and the four usual-value lookbacks) -- those figures are the "feature building
included" part, at 3,000 students. The export is then scaled to 30,000 students by tiling: each
simulated student appears 10 times under fresh raw ids (so fresh pseudonyms), with the same
features. The scaled folder holds tiled ``students``, ``calendar`` and ``crisis_events`` (what
scoring from prebuilt features reads; the event exports are copied beside them untiled and
are not read) and the prebuilt features Parquet. A full simulation +
validation + feature build of 30,000 students needed more than 15 GB here and was stopped, so
it is not part of this benchmark (see ``bench_features`` / ``bench_simulate`` for those
stages at scale). ``small`` = 1,000 students, tiled 3 times.

The LightGBM is fitted on the lookback rows with a teacher label (nights away, late nights,
skipped breakfasts) only so that it uses realistic features; its quality is not measured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from riskmodel.bench import measure

SCALES = {"full": (3_000, 150, 10), "small": (1_000, 150, 3)}
START = pd.Timestamp("2023-09-01")
KEY = "bench-scoring-key-0123456789abcdef"


def _teacher_model(feats: pd.DataFrame, names: list[str]):  # type: ignore[no-untyped-def]
    from riskmodel.models import LGBMCrisisModel

    rng = np.random.default_rng(0)
    g = feats.fillna({"door__away_night_sum__14d": 0, "network__late_min_mean__14d": 0,
                      "card__breakfast_sum__14d": 7})
    z = (-5.0 + 0.35 * g["door__away_night_sum__14d"] + 0.02 * g["network__late_min_mean__14d"]
         - 0.1 * (g["card__breakfast_sum__14d"] - 7))
    y = (rng.random(len(g)) < 1 / (1 + np.exp(-z.to_numpy()))).astype(int)
    cut = rng.random(len(g)) < 0.75
    m = LGBMCrisisModel(n_estimators=100, learning_rate=0.1, min_child_samples=50, early_stopping_rounds=20,
                        num_threads=2)
    return m.fit(feats.loc[cut, names], y[cut], feats.loc[~cut, names], y[~cut])


def _tile(campus: Path, feats: pd.DataFrame, times: int, out: Path) -> pd.DataFrame:
    """Write ``students``/``calendar``/``crisis_events`` tiled ``times`` under fresh raw ids to
    ``out``; return the features tiled the same way (pseudonyms of the fresh ids)."""
    from riskmodel.contracts import find_source_files, read_table_file, resolve_key

    key = resolve_key(KEY)
    files = find_source_files(campus)
    raw = {t: read_table_file(files[t]) for t in ("students", "calendar", "crisis_events") if t in files}
    raw_ids = raw["students"]["student_id"].astype(str)
    pseudo = pd.Series(raw_ids.to_numpy(), index=[key.pseudonymise(r) for r in raw_ids])
    out.mkdir(parents=True)
    parts, st, ce = [], [], []
    for r in range(times):
        fresh = {raw: f"{raw}{r:02d}" for raw in raw_ids}
        s = raw["students"].copy()
        s["student_id"] = s["student_id"].astype(str).map(fresh)
        st.append(s)
        if "crisis_events" in raw:
            c = raw["crisis_events"].copy()
            c["student_id"] = c["student_id"].astype(str).map(fresh)
            ce.append(c)
        f = feats.copy()
        f["student_id"] = [key.pseudonymise(fresh[pseudo[p]]) for p in f["student_id"].astype(str)]
        parts.append(f)
    for t, path in files.items():  # the event exports exist beside them (scoring prebuilt features
        if t not in raw:  # does not read them; they are copied only so the folder is complete)
            shutil.copy(path, out / path.name)
    pd.concat(st, ignore_index=True).to_parquet(out / "students.parquet", index=False)
    raw["calendar"].to_parquet(out / "calendar.parquet", index=False)
    if ce:
        pd.concat(ce, ignore_index=True).to_parquet(out / "crisis_events.parquet", index=False)
    return pd.concat(parts, ignore_index=True)


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    """Run the steps in the module doc in a temporary folder; return the figures."""
    from riskmodel.contracts import load_sources
    from riskmodel.features import FeatureConfig, build_features
    from riskmodel.scoping import AccessConfig, CallerEntry
    from riskmodel.scoring import Scorer, ScoringConfig
    from riskmodel.simulate import load_config, simulate_to_folder

    warnings.simplefilter("ignore")
    n, days, times = SCALES[scale]
    tmp = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    res: dict[str, Any] = {"simulated_students": n, "days": days, "scored_campus_students": n * times,
                           "load_average_at_start": os.getloadavg()[0]}
    try:
        campus = tmp / "campus"
        with measure() as m:
            simulate_to_folder(load_config(None, students=n, days=days, start=str(START.date()), seed=11), campus)
        res["simulate_wall_s"] = m.wall_s
        with measure() as m:
            sources = load_sources(campus, KEY)
        res["load_validate_all_tables_wall_s"] = m.wall_s
        end = START + pd.Timedelta(days=days)
        as_of = end - pd.Timedelta(days=(end.dayofweek % 7) or 7)  # the last Monday before the end
        res["as_of"] = str(as_of.date())
        cfg = ScoringConfig(capacity=0.01)
        dates = [as_of] + [as_of - pd.Timedelta(days=k) for k in cfg.usual_lookback_days]
        with measure() as m:
            feats = cast(pd.DataFrame, build_features(sources, pd.DatetimeIndex(dates), FeatureConfig()))
        res["build_features_5_dates_wall_s"] = m.wall_s
        res["build_features_peak_rss_mb"] = m.peak_rss_mb
        names = [c for c in feats.columns if c not in ("student_id", "as_of")]
        res["n_features"] = len(names)
        model = _teacher_model(feats[feats["as_of"] < as_of].reset_index(drop=True), names)
        access = AccessConfig(callers={"center": CallerEntry(role="counselling_center")},
                              audit_log=str(tmp / "audit.jsonl"))
        scorer = Scorer(model, name="bench", version="0", config=cfg, access=access)

        # -- the target: a 30,000-student folder with prebuilt features ----------------------
        scaled = tmp / "scaled"
        tiled = _tile(campus, feats, times, scaled)
        tiled.to_parquet(tmp / "features.parquet", index=False)
        del tiled
        with measure() as m:
            prebuilt = pd.read_parquet(tmp / "features.parquet")
            out = scorer.score(scaled, as_of, caller="center", key=KEY, features=prebuilt)
        res["score_folder_prebuilt_features_wall_s"] = m.wall_s
        res["score_folder_prebuilt_features_peak_rss_mb"] = m.peak_rss_mb
        res["scored_students"] = len(out)
        res["flagged"] = int((out["band"] == "flag").sum())
        res["known"] = int((out["band"] == "known").sum())
        res["with_reasons"] = int((out["reasons_en"] != "").sum())
        res["meets_score_target_30s"] = m.wall_s < 30.0
        with measure() as m:
            week = scorer.prepare(scaled, as_of, key=KEY, features=prebuilt)
        res["prepare_prebuilt_wall_s"] = m.wall_s
        with measure() as m:
            scorer.score(week, as_of, caller="center")
        res["score_prepared_inputs_wall_s"] = m.wall_s
        top = out.loc[out["band"] == "flag", "student_id"].iloc[0]
        times_s = []
        for _ in range(5):
            with measure() as m:
                one = scorer.explain(top, as_of, data=week, caller="center")
            times_s.append(m.wall_s)
        res["explain_one_wall_s_median"] = float(np.median(times_s))
        res["explain_one_wall_s_max"] = float(np.max(times_s))
        res["meets_explain_target_1s"] = float(np.median(times_s)) < 1.0
        res["explain_top_reason_family"] = one.reasons[0].family if one.reasons else ""
        del prebuilt, week

        # -- feature building from raw events included (the simulated campus itself) ----------
        with measure() as m:
            built = scorer.score(campus, as_of, caller="center", key=KEY)
        res["score_folder_with_feature_building_wall_s"] = m.wall_s
        res["score_folder_with_feature_building_students"] = len(built)
        res["score_folder_with_feature_building_peak_rss_mb"] = m.peak_rss_mb
        base = scorer.score(sources, as_of, caller="center", features=feats)
        diff = np.abs(built.set_index("student_id").loc[base["student_id"], "probability"].to_numpy()
                      - base["probability"].to_numpy())
        res["rebuilt_vs_first_build_prob_max_abs_diff"] = float(diff.max())
        res["rebuilt_vs_first_build_rows_differing"] = int((diff > 1e-9).sum())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_average_at_end"] = os.getloadavg()[0]
    _ = out_dir
    return res
