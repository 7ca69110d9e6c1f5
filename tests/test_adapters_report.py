"""The real-data results table (experiments/real_uestc.md) is written by one function, by stage."""

from __future__ import annotations

import json

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
