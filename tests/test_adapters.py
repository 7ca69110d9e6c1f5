"""Adapters: each shipped layout round-trips a hand-made export; malformed exports fail clearly;
rows are accounted for; the output loads as contract v1; layouts are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adapter_samples as S
from riskmodel.adapters import (
    SUMMARY_FILE,
    AdapterError,
    ImportOptions,
    LayoutError,
    academic_year,
    import_export,
    load_layout,
    parse_layout,
    read_period,
    shipped_layouts,
)
from riskmodel.adapters.layout import LAYOUTS_DIR
from riskmodel.contracts import PseudonymKey, load_sources

from campus_fixture import TEST_KEY

KEY = PseudonymKey(TEST_KEY)
RAW_SAMPLE_IDS = sorted({r[0] for r in S.YKT_ROWS} | {r[0] for r in S.DOOR_ROWS} | {"8", "10", "19", "22"})


def _import(layout: str, src: Path, out: Path, **opts) -> object:
    return import_export(layout, src, out, TEST_KEY, options=ImportOptions(**opts))


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _assert_no_raw_ids(text: str, ids: list[str]) -> None:
    for raw in ids:
        if len(raw) >= 4:  # short ids like "8" occur in any number
            assert raw not in text, f"raw id {raw} leaked"


def _quarantine(out: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(out / "_quarantine" / f"{table}.parquet")


# ----------------------------------------------------------------------------- round trips


def test_shipped_layouts_parse():
    assert shipped_layouts() == ["door_access_cn", "uestc_card", "ykt_jyrz"]
    for name in shipped_layouts():
        lay = load_layout(name)
        assert lay.name == name and "students" in lay.tables


def test_ykt_gbk_sample_round_trips(tmp_path):
    S.write_ykt(tmp_path / "src")
    summary = _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    card = pd.read_parquet(tmp_path / "out" / "card_transactions.parquet")
    pd.testing.assert_frame_equal(_sorted(card), _sorted(S.EXPECTED_YKT_CARD), check_dtype=False)
    t = summary.tables["card_transactions"]
    assert t.rows_read == len(S.YKT_ROWS)
    assert t.dropped == S.EXPECTED_YKT_DROPPED
    assert t.quarantined == S.EXPECTED_YKT_QUARANTINED
    assert t.rows_read == t.rows_written + t.rows_dropped + t.rows_quarantined
    students = pd.read_parquet(tmp_path / "out" / "students.parquet")
    assert sorted(students["student_id"]) == S.EXPECTED_YKT_STUDENTS  # leading zero kept
    assert (students[["college", "major", "class_id", "degree_level", "gender", "dorm_building"]] == "unknown").all().all()
    assert students[["enrollment_year", "counselor_id", "econ_hardship", "disability"]].isna().all().all()
    # the name column of the export was never read
    for path in (tmp_path / "out").rglob("*.parquet"):
        assert "张三" not in pd.read_parquet(path).to_string()


def test_door_utf16_sample_round_trips(tmp_path):
    S.write_door(tmp_path / "src")
    summary = _import("door_access_cn", tmp_path / "src", tmp_path / "out")
    door = pd.read_parquet(tmp_path / "out" / "door_events.parquet")
    pd.testing.assert_frame_equal(_sorted(door), _sorted(S.EXPECTED_DOOR), check_dtype=False)
    t = summary.tables["door_events"]
    assert t.dropped == S.EXPECTED_DOOR_DROPPED
    assert t.quarantined == S.EXPECTED_DOOR_QUARANTINED
    assert t.balanced
    q = _quarantine(tmp_path / "out", "door_events")
    assert q["source_file"].tolist() == [S.DOOR_FILE] and q["source_row"].tolist() == [7]


def test_door_layout_also_reads_utf8_with_bom(tmp_path):
    S.write_door(tmp_path / "src", encoding="utf-8-sig")
    summary = _import("door_access_cn", tmp_path / "src", tmp_path / "out")
    assert summary.tables["door_events"].rows_written == len(S.EXPECTED_DOOR)


def test_ykt_reads_gb18030_and_several_files_in_name_order(tmp_path):
    S.write_ykt(tmp_path / "src", S.YKT_ROWS[:6], encoding="gb18030", name="YKT_JYRZ_1.csv")
    S.write_ykt(tmp_path / "src", S.YKT_ROWS[6:], name="YKT_JYRZ_2.csv")
    summary = _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    assert summary.sources["jyrz"]["files"] == ["YKT_JYRZ_1.csv", "YKT_JYRZ_2.csv"]
    assert summary.tables["card_transactions"].rows_written == len(S.EXPECTED_YKT_CARD)
    q = _quarantine(tmp_path / "out", "card_transactions")
    bad_time = q[q["reason"].str.startswith("ts:")]
    assert bad_time[["source_file", "source_row"]].values.tolist() == [["YKT_JYRZ_2.csv", 3]]


def test_uestc_shaped_sample_round_trips(tmp_path):
    S.write_uestc(tmp_path / "src")
    summary = _import("uestc_card", tmp_path / "src", tmp_path / "out")
    out = tmp_path / "out"
    card = pd.read_parquet(out / "card_transactions.parquet")
    pd.testing.assert_frame_equal(_sorted(card), _sorted(S.EXPECTED_UESTC_CARD), check_dtype=False)
    t = summary.tables["card_transactions"]
    assert {k: v for k, v in t.dropped.items() if v} == {
        "top-up (卡充值)": 1,
        "card administration (open/close/lose/replace/freeze/update)": 1,
        "no transaction type (debit of unknown purpose; no place or mode)": 1,
        "refund (negative amount; the balance rises)": 1,
    }
    assert t.quarantined == S.EXPECTED_UESTC_QUARANTINED
    students = pd.read_parquet(out / "students.parquet").set_index("student_id")
    assert sorted(students.index) == ["10", "19", "22", "8"]
    assert students["college"].to_dict() == {"8": "6", "10": "3", "19": "unknown", "22": "8"}
    assert set(students["degree_level"]) == {"undergraduate"}
    aid = pd.read_parquet(out / "aid_roster.parquet")
    assert aid.sort_values("student_id").values.tolist() == [["10", "2014-2015", 2], ["19", "2014-2015", 3]]
    assert summary.tables["aid_roster"].dropped == {"no grant (subsidy 0)": 2}
    assert (summary.period_start, summary.period_end) == ("2013-09-01", "2015-08-31")


@pytest.mark.parametrize("writer,layout", [(S.write_ykt, "ykt_jyrz"), (S.write_door, "door_access_cn"),
                                           (S.write_uestc, "uestc_card")])
def test_output_loads_as_contract_v1_with_nothing_left_to_quarantine(tmp_path, writer, layout):
    writer(tmp_path / "src")
    summary = _import(layout, tmp_path / "src", tmp_path / "out", out_format="csv")
    period = read_period(tmp_path / "out")
    loaded = load_sources(tmp_path / "out", key=TEST_KEY, period_start=period.start, period_end=period.end)
    assert loaded.report.rows_quarantined == 0
    for table, t in summary.tables.items():
        assert len(loaded.tables[table]) == t.rows_written
    ids = set(loaded.tables["students"]["student_id"])
    assert not ids & set(RAW_SAMPLE_IDS)  # pseudonymised at load
    # quarantine and summary hold pseudonyms and counts, never raw ids
    text = (tmp_path / "out" / SUMMARY_FILE).read_text(encoding="utf-8")
    for q in (tmp_path / "out" / "_quarantine").glob("*.parquet"):
        text += pd.read_parquet(q).to_string()
    _assert_no_raw_ids(text, RAW_SAMPLE_IDS)


def test_summary_file_accounts_for_every_row(tmp_path):
    S.write_ykt(tmp_path / "src")
    _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    d = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text(encoding="utf-8"))
    for t in d["tables"].values():
        assert t["rows_read"] == t["rows_written"] + sum(t["dropped"].values()) + sum(t["quarantined"].values())
    assert d["sources"]["jyrz"]["rows_read"] == len(S.YKT_ROWS)


def test_out_folder_with_an_earlier_import_needs_overwrite(tmp_path):
    S.write_door(tmp_path / "src")
    _import("door_access_cn", tmp_path / "src", tmp_path / "out")
    with pytest.raises(FileExistsError, match="overwrite"):
        _import("door_access_cn", tmp_path / "src", tmp_path / "out")
    summary = _import("door_access_cn", tmp_path / "src", tmp_path / "out", overwrite=True)
    assert summary.balanced


def test_limit_rows_reads_a_slice(tmp_path):
    S.write_ykt(tmp_path / "src")
    summary = _import("ykt_jyrz", tmp_path / "src", tmp_path / "out", limit_rows=4)
    assert summary.tables["card_transactions"].rows_read == 4


# ----------------------------------------------------------------------------- malformed exports


def test_wrong_encoding_names_file_line_column_and_bytes(tmp_path):
    path = S.write_ykt(tmp_path / "src")
    data = path.read_bytes()
    bad = "北区超市".encode("gbk")
    path.write_bytes(data.replace(bad, b"\xff" + bad[1:], 1))  # one corrupt byte in the place column
    with pytest.raises(AdapterError) as err:
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    msg = str(err.value)
    assert S.YKT_FILE in msg and "'jydd'" in msg and "ff" in msg and "line 5" in msg and "gbk" in msg
    assert err.value.rule == "encoding" and err.value.column == "jydd"


def test_utf16_file_given_to_a_gbk_layout_fails_with_the_encoding(tmp_path):
    S.write_ykt(tmp_path / "src", encoding="utf-16")
    with pytest.raises(AdapterError, match=rf"file {S.YKT_FILE}.*encoding: cannot be decoded as gbk or gb18030"):
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")


def test_missing_column_names_file_and_column(tmp_path):
    S.write_ykt(tmp_path / "src", frame=S.ykt_frame().drop(columns=["jyje"]))
    with pytest.raises(AdapterError) as err:
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    assert err.value.file == S.YKT_FILE and err.value.column == "jyje" and err.value.rule == "missing column"
    assert "jyje" in str(err.value) and S.YKT_FILE in str(err.value)


def test_unmapped_place_names_file_column_value_and_row(tmp_path):
    rows = [list(r) for r in S.YKT_ROWS]
    rows[3][6] = "体育馆"
    S.write_ykt(tmp_path / "src", rows)
    with pytest.raises(AdapterError) as err:
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    e = err.value
    assert (e.file, e.column, e.value, e.rule, e.rows) == (S.YKT_FILE, "jydd", "体育馆", "unmapped code", (4,))
    assert "card_transactions.category" in str(e)
    _assert_no_raw_ids(str(e), RAW_SAMPLE_IDS)


def test_unknown_transaction_type_stops_the_import(tmp_path):
    rows = [list(r) for r in S.YKT_ROWS]
    rows[5][2] = "转账"
    S.write_ykt(tmp_path / "src", rows)
    with pytest.raises(AdapterError, match=r"column 'jylx', value '转账': unknown code") as err:
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")
    assert err.value.rows == (6,)
    assert not (tmp_path / "out" / "card_transactions.parquet").exists()


def test_unmapped_direction_code_in_door_log(tmp_path):
    rows = [list(r) for r in S.DOOR_ROWS]
    rows[1][4] = "2"
    S.write_door(tmp_path / "src", rows)
    with pytest.raises(AdapterError, match=rf"file {S.DOOR_FILE}, column '进出方向', value '2': unmapped code"):
        _import("door_access_cn", tmp_path / "src", tmp_path / "out")


def test_gate_name_without_a_building_is_an_error_not_a_guess(tmp_path):
    rows = [list(r) for r in S.DOOR_ROWS]
    rows[0][3] = "东门岗亭"
    S.write_door(tmp_path / "src", rows)
    with pytest.raises(AdapterError, match=r"column '进出地点', value '东门岗亭': no match for `extract`"):
        _import("door_access_cn", tmp_path / "src", tmp_path / "out")


def test_a_time_format_no_row_matches_is_a_table_level_error(tmp_path):
    rows = [[*r[:2], r[2].replace("/", "-"), *r[3:]] for r in S.DOOR_ROWS]
    S.write_door(tmp_path / "src", rows)
    with pytest.raises(AdapterError, match=r"column '进出时间', value '2024-3-4 7:50:02': time format"):
        _import("door_access_cn", tmp_path / "src", tmp_path / "out")


def test_missing_export_file_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(AdapterError, match=r"YKT_JYRZ\*\.csv.*no file"):
        _import("ykt_jyrz", tmp_path / "src", tmp_path / "out")


def test_sensitive_column_values_are_not_shown(tmp_path):
    """A layout mapping gender codes: an unmapped gender code is reported by row, not value."""
    lay = yaml.safe_load((LAYOUTS_DIR / "door_access_cn.yaml").read_text(encoding="utf-8"))
    lay["sources"]["door"]["columns"].append("姓名")
    lay["tables"]["students"]["lookup"] = {"source": "door", "key": "学号"}
    lay["tables"]["students"]["unknown"].remove("gender")
    lay["tables"]["students"]["columns"]["gender"] = {"from": "姓名", "map": {"张三": "M", "李四": "F"}}
    with pytest.raises(AdapterError) as err:
        S.write_door(tmp_path / "src")
        import_export(parse_layout(lay), tmp_path / "src", tmp_path / "out", TEST_KEY)
    assert err.value.value is None and "王五" not in str(err.value) and "value hidden" in str(err.value)
    assert err.value.rows


# ----------------------------------------------------------------------------- layouts are checked


def _door_layout() -> dict:
    return yaml.safe_load((LAYOUTS_DIR / "door_access_cn.yaml").read_text(encoding="utf-8"))


def test_layout_must_map_every_contract_column():
    lay = _door_layout()
    lay["tables"]["students"]["unknown"].remove("major")
    with pytest.raises(LayoutError, match=r"no mapping for contract column\(s\) \['major'\]"):
        parse_layout(lay)


def test_only_columns_whose_contract_declares_an_unknown_may_be_unknown():
    lay = _door_layout()
    lay["tables"]["door_events"]["unknown"] = ["building"]
    lay["tables"]["door_events"]["columns"].pop("building")
    with pytest.raises(LayoutError, match=r"door_events.building declares no unknown value"):
        parse_layout(lay)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["tables"]["door_events"]["drop"][0].pop("reason"), "needs a `reason`"),
    (lambda d: d["tables"]["door_events"].update({"from": "nosuch"}), "source 'nosuch' is not declared"),
    (lambda d: d["tables"]["door_events"]["columns"].update({"colour": "x"}), r"\['colour'\] are not in contract"),
    (lambda d: d["sources"]["door"].update({"encoding": "klingon"}), "unknown encoding"),
    (lambda d: d["sources"]["door"].update({"sheet": 1}), r"unknown key\(s\) \['sheet'\]"),
    (lambda d: d["tables"].pop("students"), "must build `students`"),
    (lambda d: d["tables"]["door_events"]["columns"]["building"].update({"extract": "no group"}), "capture group"),
])
def test_malformed_layouts_are_rejected_with_the_place_named(mutate, match):
    lay = _door_layout()
    mutate(lay)
    with pytest.raises(LayoutError, match=match):
        parse_layout(lay)


def test_unknown_layout_name_lists_the_shipped_ones():
    with pytest.raises(LayoutError, match="uestc_card"):
        load_layout("no_such_layout")


@pytest.mark.parametrize("day,expected", [("2015-08-31", "2014-2015"), ("2015-09-01", "2015-2016"),
                                          ("2014-01-15", "2013-2014")])
def test_academic_year(day, expected):
    assert academic_year(pd.Timestamp(day)) == expected


# ----------------------------------------------------------------------------- property: accounting


_txn = st.tuples(
    st.sampled_from(["2023010101", "2023010102", "0099"]),
    st.sampled_from(["消费", "消费", "充值", "圈存", "补助", "冲正", "退款"]),
    st.one_of(st.floats(-300, 300, allow_nan=False).map(lambda x: f"{x:.2f}"), st.just("abc")),
    st.sampled_from(["20240304", "20240305", "2024031"]),
    st.sampled_from(["73015", "120000", "235959"]),
    st.sampled_from(["第一食堂", "北区超市", "浴室", "图书馆"]),
    st.sampled_from(["SH001", "SH002"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_txn, min_size=1, max_size=30))
def test_rows_read_equal_written_plus_dropped_plus_quarantined(tmp_path_factory, txns):
    tmp = tmp_path_factory.mktemp("prop")
    rows = [[xh, "某某", jylx, jyje, jyrq, jysj, jydd, shdm, "商户", "T1", "0"]
            for xh, jylx, jyje, jyrq, jysj, jydd, shdm in txns]
    S.write_ykt(tmp / "src", rows)
    kept = [r for r in rows if r[2] == "消费" and not (_num(r[3]) is not None and _num(r[3]) >= 0)]
    if kept and all(len(r[4]) != 8 for r in kept):  # no date reads: a table-level fault, not quarantine
        with pytest.raises(AdapterError, match="time format"):
            _import("ykt_jyrz", tmp / "src", tmp / "out")
        return
    summary = _import("ykt_jyrz", tmp / "src", tmp / "out")
    t = summary.tables["card_transactions"]
    assert t.rows_read == len(rows) == t.rows_written + t.rows_dropped + t.rows_quarantined
    card = pd.read_parquet(tmp / "out" / "card_transactions.parquet")
    assert len(card) == t.rows_written
    assert (card["amount"] > 0).all()
    # every debit of a purchase with a readable date and amount is written or a duplicate
    debits = sum(1 for r in rows if r[2] == "消费" and _num(r[3]) is not None and _num(r[3]) < 0
                 and len(r[4]) == 8)
    assert t.rows_written + t.quarantined.get("(row): duplicate_key", 0) == debits


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- CLI


def test_cli_import_prints_the_accounting_and_exits_nonzero_on_a_bad_export(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", TEST_KEY)
    S.write_ykt(tmp_path / "src")
    runner = CliRunner()
    res = runner.invoke(app, ["import", "ykt_jyrz", str(tmp_path / "src"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "card_transactions" in res.output and "top-up (充值): 2" in res.output
    assert (tmp_path / "out" / "card_transactions.parquet").exists()
    _assert_no_raw_ids(res.output, RAW_SAMPLE_IDS)

    S.write_ykt(tmp_path / "bad", frame=S.ykt_frame().drop(columns=["jydd"]))
    res = runner.invoke(app, ["import", "ykt_jyrz", str(tmp_path / "bad"), "--out", str(tmp_path / "out2")])
    assert res.exit_code == 1
    assert "jydd" in res.output and S.YKT_FILE in res.output


# ----------------------------------------------------------------------------- real data (slice)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_uestc_slice_imports_and_balances(tmp_path):
    from riskmodel.bench.import_uestc import find_uestc_dir

    src = find_uestc_dir()
    if not (src / "card.parquet").is_file():
        pytest.skip(f"real UESTC card data not found at {src} (set RISKMODEL_SHARED_DIR to the shared folder)")
    summary = _import("uestc_card", src, tmp_path / "out", limit_rows=200_000)
    assert summary.balanced
    card = summary.tables["card_transactions"]
    assert card.rows_read == 200_000
    assert card.dropped["top-up (卡充值)"] > 0 and card.dropped["refund (negative amount; the balance rises)"] > 0
    assert card.rows_quarantined < 0.01 * card.rows_read
    written = pd.read_parquet(tmp_path / "out" / "card_transactions.parquet")
    assert (written["amount"] > 0).all()
    assert set(written["category"]) <= {"canteen", "supermarket", "bathhouse", "laundry", "print", "medical",
                                        "transport", "other"}
    assert written["ts"].between("2013-09-01", "2015-09-01").all()
    aid = pd.read_parquet(tmp_path / "out" / "aid_roster.parquet")
    assert len(aid) == 384 + 221 + 175  # every non-zero grant of subsidy.csv (README counts)
    assert np.array_equal(np.sort(aid["level"].unique()), [1, 2, 3])


# ----------------------------------------------------------------------------- contract v1.1


def test_contract_v11_accepts_declared_unknowns_and_still_refuses_other_values():
    from riskmodel.contracts import validate_tables

    from campus_fixture import tiny_campus

    campus = {"students": tiny_campus()["students"].astype(object)}
    st_ = campus["students"]
    st_.loc[0, ["gender", "degree_level", "major"]] = "unknown"
    st_.loc[0, ["enrollment_year", "counselor_id", "econ_hardship", "readmitted"]] = None
    st_.loc[1, "gender"] = "X"  # not allowed, not the declared unknown
    loaded = validate_tables(campus, TEST_KEY)
    assert len(loaded.tables["students"]) == 2
    assert loaded.quarantine["students"]["reason"].tolist() == ["gender: allowed_values ['F', 'M', 'unknown']"]
    s = loaded.tables["students"]
    assert s["econ_hardship"].isna().sum() == 1 and str(s["econ_hardship"].dtype) == "boolean"


def test_undeclared_encoding_is_named_with_the_one_that_fits(tmp_path):
    S.write_door(tmp_path / "src", encoding="gbk")
    with pytest.raises(AdapterError, match=r"header \(line 1\).*read as gb18030 with the declared columns") as err:
        _import("door_access_cn", tmp_path / "src", tmp_path / "out")
    assert err.value.file == S.DOOR_FILE and err.value.rule == "encoding"
