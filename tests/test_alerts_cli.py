"""`riskmodel alerts ...` on a hand-made campus: scoped output, audit line, refusal for the wrong role."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.scoping import read_audit_log
from test_alerts_campus import TEST_KEY, pid, routine_campus

from campus_fixture import write_campus


def test_alert_commands_write_scoped_reasoned_output_and_audit(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", TEST_KEY)
    frames = routine_campus(n=6, days=12, plan=lambda i, d, x: {"in": None, "net": None} if i in (1, 2) and d >= 9
                            else {})
    write_campus(frames, tmp_path / "campus")
    access = tmp_path / "access.yaml"
    log = tmp_path / "audit.jsonl"
    access.write_text(f"audit_log: {log}\ncallers:\n  dean: {{role: college_leader, college: Math}}\n"
                      "  aid: {role: aid_office}\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "night.csv"
    res = runner.invoke(app, ["alerts", "night-absence", "--data", str(tmp_path / "campus"), "--as-of", "2024-03-14",
                              "--caller", "dean", "--role", "college_leader", "--out", str(out),
                              "--access", str(access)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert got["student_id"].tolist() == [pid(1)]  # student 2 (CS) is outside the Math dean's scope
    assert got["reason_en"].str.contains("night").all() and (got["college"] == "Math").all()
    refused = runner.invoke(app, ["alerts", "hidden-aid", "--data", str(tmp_path / "campus"), "--as-of", "2024-03-14",
                                  "--caller", "dean", "--out", str(tmp_path / "aid.csv"), "--access", str(access)])
    assert refused.exit_code == 1 and not (tmp_path / "aid.csv").exists()
    recs = read_audit_log(log)
    assert [(r["what"], r["rows"], r["outcome"][:6]) for r in recs] == [("night_absence", 1, "ok"),
                                                                        ("hidden_aid", 0, "denied")]
    assert pid(1) not in log.read_text()
