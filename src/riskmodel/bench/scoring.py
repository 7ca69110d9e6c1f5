"""Benchmark of the scoring API (issue 6): a whole campus scored with reasons, one student explained.

Target: score all 30,000 students with reasons, from a data folder whose features are already
built, in under 30 s; explain one student in under 1 s; report the figure with feature building.

How (``full``): a campus of 30,000 students x 150 days is simulated (the simulator adds the
cohorts it needs, so the export holds somewhat more students), loaded and validated, and its
features are built at the as-of date and the four usual-value lookbacks (chunked, only the
days the windows read). That build is the "feature building" figure. A LightGBM is fitted on
the lookback rows with a teacher label (nights away, late nights, skipped breakfasts) only so
that it uses realistic features; its quality is not measured. Then the folder is scored with
the prebuilt features (the target), one flag is explained five times, and the folder is
scored again from raw events (loading, validation and feature building included).
``small`` = 1,000 students.
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

SCALES = {"full": (30_000, 150), "small": (1_000, 150)}
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


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    """Run the steps in the module doc in a temporary folder; return the figures."""
    from riskmodel.contracts import load_sources
    from riskmodel.features import FeatureConfig, build_features
    from riskmodel.scoping import AccessConfig, CallerEntry
    from riskmodel.scoring import Scorer, ScoringConfig
    from riskmodel.simulate import load_config, simulate_to_folder

    warnings.simplefilter("ignore")
    n, days = SCALES[scale]
    tmp = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    res: dict[str, Any] = {"simulated_students": n, "days": days, "load_average_at_start": os.getloadavg()[0]}
    try:
        campus = tmp / "campus"
        with measure() as m:
            simulate_to_folder(load_config(None, students=n, days=days, start=str(START.date()), seed=11), campus)
        res["simulate_wall_s"] = m.wall_s
        with measure() as m:
            sources = load_sources(campus, KEY)
        res["load_validate_all_tables_wall_s"] = m.wall_s
        res["load_validate_peak_rss_mb"] = m.peak_rss_mb
        res["students_in_export"] = int(len(sources.tables["students"]))
        end = START + pd.Timedelta(days=days)
        as_of = end - pd.Timedelta(days=(end.dayofweek % 7) or 7)  # the last Monday before the end
        res["as_of"] = str(as_of.date())
        cfg = ScoringConfig(capacity=0.01)
        dates = [as_of] + [as_of - pd.Timedelta(days=k) for k in cfg.usual_lookback_days]
        with measure() as m:
            feats = cast(pd.DataFrame, build_features(sources, pd.DatetimeIndex(dates), FeatureConfig()))
        res["build_features_5_dates_wall_s"] = m.wall_s
        res["build_features_peak_rss_mb"] = m.peak_rss_mb
        del sources
        names = [c for c in feats.columns if c not in ("student_id", "as_of")]
        res["n_features"] = len(names)
        model = _teacher_model(feats[feats["as_of"] < as_of].reset_index(drop=True), names)
        access = AccessConfig(callers={"center": CallerEntry(role="counselling_center")},
                              audit_log=str(tmp / "audit.jsonl"))
        scorer = Scorer(model, name="bench", version="0", config=cfg, access=access)

        # -- the target: the whole campus folder with prebuilt features -----------------------
        feats.to_parquet(tmp / "features.parquet", index=False)
        with measure() as m:
            prebuilt = pd.read_parquet(tmp / "features.parquet")
            out = scorer.score(campus, as_of, caller="center", key=KEY, features=prebuilt)
        res["score_folder_prebuilt_features_wall_s"] = m.wall_s
        res["score_folder_prebuilt_features_peak_rss_mb"] = m.peak_rss_mb
        res["scored_students"] = len(out)
        res["flagged"] = int((out["band"] == "flag").sum())
        res["known"] = int((out["band"] == "known").sum())
        res["with_reasons"] = int((out["reasons_en"] != "").sum())
        res["meets_score_target_30s"] = m.wall_s < 30.0
        with measure() as m:
            week = scorer.prepare(campus, as_of, key=KEY, features=prebuilt)
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
        res["explain_top_reason_en"] = one.reasons[0].text_en if one.reasons else ""
        del prebuilt, week

        # -- feature building from raw events included ----------------------------------------
        with measure() as m:
            built = scorer.score(campus, as_of, caller="center", key=KEY)
        res["score_folder_with_feature_building_wall_s"] = m.wall_s
        res["score_folder_with_feature_building_students"] = len(built)
        res["score_folder_with_feature_building_peak_rss_mb"] = m.peak_rss_mb
        a = built.set_index("student_id")["probability"]
        b = out.set_index("student_id")["probability"].reindex(a.index)
        diff = np.abs(a.to_numpy() - b.to_numpy())
        res["rebuilt_vs_first_build_prob_max_abs_diff"] = float(np.nanmax(diff))
        res["rebuilt_vs_first_build_rows_differing"] = int((diff > 1e-9).sum())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_average_at_end"] = os.getloadavg()[0]
    _ = out_dir
    return res
