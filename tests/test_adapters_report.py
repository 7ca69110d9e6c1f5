"""The real-data results table (experiments/real_uestc.md) is written by one function, by stage."""

from __future__ import annotations

import json

import pandas as pd

from riskmodel.bench.import_uestc import STAGES, find_uestc_dir, update_real_uestc


def test_stages_merge_and_render_with_their_commands(tmp_path):
    md = update_real_uestc("import", {"card rows read": 6_099_204, "wall time (s)": 30.4,
                                      "dropped by reason": {"top-up": 99_678}},
                           command="cmd-import", experiments_dir=tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "| card rows read | 6,099,204 |" in text and "`cmd-import`" in text
    assert "top-up: 99,678" in text
    assert text.count("Not measured yet.") == len(STAGES) - 1
    update_real_uestc("hidden_aid", {"AUROC (5-fold CV)": 0.8123}, command="cmd-aid", experiments_dir=tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "| card rows read | 6,099,204 |" in text  # the earlier stage is kept
    assert "| AUROC (5-fold CV) | 0.812 |" in text and "`cmd-aid`" in text
    assert text.count("Not measured yet.") == len(STAGES) - 2
    stages = json.loads((tmp_path / "real_uestc.json").read_text(encoding="utf-8"))
    assert set(stages) == {"import", "hidden_aid"}
    # a stage the table does not list yet is still rendered
    update_real_uestc("sequence_model", {"rows": 1}, command="cmd-seq", experiments_dir=tmp_path)
    assert "## sequence_model" in md.read_text(encoding="utf-8")


def test_shared_dir_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("RISKMODEL_SHARED_DIR", str(tmp_path))
    assert find_uestc_dir() == tmp_path / "datasets" / "uestc-card"
    monkeypatch.delenv("RISKMODEL_SHARED_DIR")
    assert find_uestc_dir().parts[-3:] == ("shared", "datasets", "uestc-card")


# ----------------------------------------------------------------------------- real_uestc bench


def _card_only_import(folder):
    """A folder shaped like the UESTC import: students with v1.1 unknowns, card and aid roster only."""
    from campus_fixture import tiny_campus, write_campus

    t = tiny_campus()
    st = t["students"].copy()
    for c in ("major", "class_id", "dorm_building", "dorm_room", "gender"):
        st[c] = "unknown"
    st["degree_level"] = "unknown"
    st["enrollment_year"] = pd.array([pd.NA] * len(st), dtype="Int64")
    st["counselor_id"] = None
    for c in ("econ_hardship", "single_parent_or_orphan", "disability", "readmitted"):
        st[c] = pd.array([pd.NA] * len(st), dtype="boolean")
    write_campus({"students": st, "card_transactions": t["card_transactions"], "aid_roster": t["aid_roster"]},
                 folder)
    return t


def test_feature_stage_builds_card_features_on_an_import_with_unknown_attributes(tmp_path):
    from riskmodel.bench.real_uestc import feature_stage

    from campus_fixture import TEST_KEY

    t = _card_only_import(tmp_path / "import")
    (tmp_path / "work").mkdir()
    fig, tables = feature_stage(tmp_path / "import", TEST_KEY, tmp_path / "work", tmp_path)
    n = len(t["students"])
    assert fig["students"] == n and fig["card rows (after import, loaded)"] == len(t["card_transactions"])
    days = (t["card_transactions"]["ts"].max().normalize() - t["card_transactions"]["ts"].min().normalize()).days + 1
    assert fig["daily rows (students x days)"] == n * days
    assert fig["feature rows (students x as-of dates)"] == n * fig["as-of dates (weekly)"] > 0
    assert fig["features computed"] > 0 and fig["daily channels"] > 0
    assert fig["feature build CPU time (s, this process, all threads)"] > 0
    for absent in ("door_events", "library_events", "network_sessions"):
        assert absent in fig["sources left out (MissingSourceWarning)"]
    assert "not available" in fig["simulated benchmark (bench_features.json)"]
    assert set(tables) == {"students", "card_transactions", "aid_roster"}
    assert not set(tables["students"]["student_id"]) & set(t["students"]["student_id"])  # pseudonymised


def test_speed_is_compared_with_the_simulated_benchmark_when_it_exists(tmp_path):
    from riskmodel.bench.real_uestc import simulated_reference, speed_vs_simulated

    assert simulated_reference(tmp_path) is None
    assert "not available" in next(iter(speed_vs_simulated(1000.0, 500.0, None).values()))
    (tmp_path / "bench_features.json").write_text(json.dumps(
        {"scale": "full", "students": 30000, "days": 365, "events_per_s": 4000.0, "daily_rows_per_s": 250.0,
         "wall_s": 1.0, "peak_rss_mb": 1.0, "recorded_at": "t"}), encoding="utf-8")
    ref = simulated_reference(tmp_path)
    out = speed_vs_simulated(1000.0, 500.0, ref)
    assert out["real card rows per s / simulated events per s"] == 0.25
    assert out["real / simulated daily rows per s"] == 2.0
    assert "30,000 students x 365 days" in out["simulated benchmark: events per s / daily rows per s"]


def test_run_records_every_stage_at_full_scale_only(tmp_path, monkeypatch):
    import riskmodel.bench.real_uestc as ru

    calls = []
    monkeypatch.setattr(ru, "run_import", lambda out, scale: calls.append(("import", scale)) or {"rows": 1})
    monkeypatch.setattr(ru, "import_dir", lambda scale="full": tmp_path / f"imp_{scale}")
    monkeypatch.setattr(ru, "feature_stage", lambda folder, key, work, exp: (
        calls.append(("features", folder.name)) or ({"feature rows": 7}, {"students": None})))
    monkeypatch.setattr(ru, "hidden_aid_stage", lambda tables: {"figures": {"AUROC": 0.8}, "raw": {"auroc": 0.8}})
    res = ru.run(tmp_path, "small")
    assert calls == [("import", "small"), ("features", "imp_small")]
    assert res["features"] == {"feature rows": 7} and res["hidden_aid"] == {"auroc": 0.8}
    assert not (tmp_path / "real_uestc.json").exists()  # small records nothing
    ru.run(tmp_path, "full")
    stages = json.loads((tmp_path / "real_uestc.json").read_text(encoding="utf-8"))
    assert set(stages) == {"features", "hidden_aid"} and stages["features"]["command"] == ru.COMMAND
