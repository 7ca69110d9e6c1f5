"""`riskmodel validate`: planted faults are printed, quarantined, and exit codes are right."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from riskmodel.cli import app

from campus_fixture import RAW_IDS, TEST_KEY, tiny_campus, write_campus

runner = CliRunner()


def _env():
    return {"RISKMODEL_PSEUDONYM_KEY": TEST_KEY, "COLUMNS": "200"}


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "validate" in result.output


def test_validate_prints_every_planted_fault_and_quarantines_the_rows(tmp_path):
    campus = tiny_campus()
    campus["card_transactions"].loc[0, "amount"] = -2.0
    campus["card_transactions"].loc[2, "category"] = "karaoke"
    campus["door_events"].loc[1, "student_id"] = "5555555555"
    campus["network_sessions"].loc[0, "end_ts"] = pd.Timestamp("2024-03-04 19:00")
    write_campus(campus, tmp_path / "data", "csv")
    result = runner.invoke(app, ["validate", str(tmp_path / "data")], env=_env())
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ["amount: must_be_> 0", "category: allowed_values", "student_id: unknown_id",
                     "end_not_before_start"]:
        assert expected in out, out
    qdir = tmp_path / "data" / "_quarantine"
    card = pd.read_parquet(qdir / "card_transactions.parquet")
    assert sorted(card["source_row"]) == [0, 2]
    assert pd.read_parquet(qdir / "door_events.parquet")["source_row"].tolist() == [1]
    assert pd.read_parquet(qdir / "network_sessions.parquet")["source_row"].tolist() == [0]
    for raw in RAW_IDS + ["5555555555"]:
        assert raw not in out
    # the loader never reads its own quarantine folder back as tables
    again = runner.invoke(app, ["validate", str(tmp_path / "data"), "--quarantine", str(tmp_path / "q2")],
                          env=_env())
    assert again.exit_code == 0, again.output


def test_validate_exits_1_with_the_error_on_table_level_faults(tmp_path):
    campus = tiny_campus()
    campus["door_events"] = campus["door_events"].drop(columns=["building"])
    write_campus(campus, tmp_path)
    result = runner.invoke(app, ["validate", str(tmp_path)], env=_env())
    assert result.exit_code == 1
    assert "door_events.building: rule 'required_column'" in result.output


def test_validate_without_key_exits_1_and_says_how(tmp_path, monkeypatch):
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY_FILE", raising=False)
    write_campus(tiny_campus(), tmp_path)
    result = runner.invoke(app, ["validate", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "RISKMODEL_PSEUDONYM_KEY" in result.output


def test_keygen_writes_a_key_once(tmp_path):
    path = tmp_path / "secret" / "key"
    assert runner.invoke(app, ["keygen", str(path)]).exit_code == 0
    first = path.read_text()
    assert len(first.strip()) == 64
    runner.invoke(app, ["keygen", str(path)])
    assert path.read_text() == first
