"""Contract v1: every table, every rule, table-level errors, accounting, privacy."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from riskmodel.contracts import (
    ContractError,
    PseudonymKey,
    PseudonymKeyError,
    build_schema,
    find_source_files,
    load_contracts,
    load_sources,
    validate_tables,
    write_quarantine,
)

from campus_fixture import RAW_IDS, TEST_KEY, tiny_campus, write_campus

CONTRACTS = load_contracts()
OUT_OF_PERIOD = pd.Timestamp("2030-01-01 12:00")
UNKNOWN_ID = "9999999999"


def _quarantine_reasons(loaded, table: str) -> list[str]:
    return loaded.quarantine[table]["reason"].tolist()


def _assert_balanced(loaded) -> None:
    for rep in loaded.report.tables.values():
        assert rep.rows_accepted + rep.rows_quarantined == rep.rows_read, rep


# ----------------------------------------------------------------------------- valid data


def test_every_contract_file_is_a_table_of_the_design():
    assert set(CONTRACTS) == {
        "students", "door_events", "card_transactions", "library_events", "network_sessions",
        "grades", "census", "leave_records", "aid_roster", "calendar", "crisis_events",
    }
    assert CONTRACTS["students"].required
    assert not any(c.required for n, c in CONTRACTS.items() if n != "students")


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_valid_small_table_passes(table):
    campus = tiny_campus()
    loaded = validate_tables(campus, TEST_KEY)
    rep = loaded.report.tables[table]
    assert rep.present
    assert rep.rows_read == len(campus[table]) > 0
    assert rep.rows_quarantined == 0
    assert list(loaded.tables[table].columns) == CONTRACTS[table].column_names


def test_optional_tables_may_be_absent_and_report_says_which():
    campus = {"students": tiny_campus()["students"]}
    loaded = validate_tables(campus, TEST_KEY)
    assert loaded.report.sources_present == ["students"]
    assert "door_events" in loaded.report.sources_missing
    assert "door_events" not in loaded


def test_pandera_schema_is_built_from_the_yaml():
    schema = build_schema(CONTRACTS["card_transactions"])
    assert set(schema.columns) == set(CONTRACTS["card_transactions"].column_names)


# ----------------------------------------------------------------------------- row rules


def _rule_cases():
    """One planted fault per contract rule, derived from the YAML files themselves."""
    cases = []
    for table, contract in CONTRACTS.items():
        for col in contract.columns:
            if not col.nullable:
                cases.append((table, col.name, "null", "not_nullable"))
            if col.allowed is not None:
                cases.append((table, col.name, "allowed", "allowed_values"))
            if col.min is not None:
                cases.append((table, col.name, "min", "must_be_>"))
            if col.max is not None:
                cases.append((table, col.name, "max", "must_be_<="))
            if col.pattern is not None:
                cases.append((table, col.name, "pattern", "pattern"))
            if col.references is not None:
                cases.append((table, col.name, "reference", "unknown_id"))
            if col.in_period:
                cases.append((table, col.name, "period", "outside_data_period"))
        if contract.keys:
            cases.append((table, None, "duplicate", "duplicate_key"))
        for rule in contract.row_rules:
            cases.append((table, rule.name, "row_rule", rule.name))
    return cases


def _plant(campus: dict[str, pd.DataFrame], table: str, column: str | None, kind: str) -> None:
    df = campus[table].copy()
    col = CONTRACTS[table].column(column) if column and kind != "row_rule" else None
    if kind == "null":
        df[column] = df[column].astype(object)
        df.loc[0, column] = None
    elif kind == "allowed":
        df[column] = df[column].astype(object)
        df.loc[0, column] = 77 if col.type == "int" else "not-an-allowed-value"
    elif kind == "min":
        df[column] = df[column].astype(float)
        df.loc[0, column] = col.min - 1 if not col.min_exclusive else col.min
    elif kind == "max":
        df[column] = df[column].astype(float)
        df.loc[0, column] = col.max + 1
    elif kind == "pattern":
        df.loc[0, column] = "bad format"
    elif kind == "reference":
        df.loc[0, column] = UNKNOWN_ID
    elif kind == "period":
        df.loc[0, column] = OUT_OF_PERIOD
        for _other in CONTRACTS[table].row_rules:  # keep cross-column rules satisfied
            if "end_ts" in df:
                df.loc[0, "end_ts"] = OUT_OF_PERIOD + pd.Timedelta(hours=1)
    elif kind == "duplicate":
        df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    elif kind == "row_rule":
        df.loc[0, "end_ts"] = df.loc[0, "start_ts"] - pd.Timedelta(hours=1)
    campus[table] = df


@pytest.mark.parametrize("table,column,kind,rule", _rule_cases(),
                         ids=lambda v: str(v) if v is not None else "-")
def test_each_rule_quarantines_with_a_reason_naming_it(table, column, kind, rule):
    campus = tiny_campus()
    _plant(campus, table, column, kind)
    loaded = validate_tables(campus, TEST_KEY)
    _assert_balanced(loaded)
    reasons = _quarantine_reasons(loaded, table)
    assert reasons, f"no row quarantined for {table}.{column} {kind}"
    assert any(rule in r for r in reasons), reasons
    if column and kind != "duplicate" and kind != "row_rule":
        assert any(f"{column}: " in r for r in reasons), reasons
    # the planted row is the one that went to quarantine
    assert 0 in set(loaded.quarantine[table]["source_row"]) or kind == "duplicate"


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_unparseable_value_is_quarantined_or_table_level(table):
    contract = CONTRACTS[table]
    typed = [c for c in contract.columns if c.type != "str"]
    if not typed:
        pytest.fail(f"{table} has no typed column")  # every contract-v1 table has one
    col = typed[0]
    campus = tiny_campus()
    df = campus[table].copy()
    df[col.name] = df[col.name].astype(object)
    df.loc[0, col.name] = "??garbage??"
    campus[table] = df
    if len(df) > 1 or df[col.name].notna().sum() > 1:
        loaded = validate_tables(campus, TEST_KEY)
        assert any(f"{col.name}: unparseable {col.type}" in r for r in _quarantine_reasons(loaded, table))
        _assert_balanced(loaded)
    else:
        with pytest.raises(ContractError, match=rf"{table}\.{col.name}: rule 'type {col.type}'"):
            validate_tables(campus, TEST_KEY)


def test_unknown_student_in_events_is_quarantined_not_leaked():
    campus = tiny_campus()
    campus["door_events"].loc[0, "student_id"] = UNKNOWN_ID
    loaded = validate_tables(campus, TEST_KEY)
    q = loaded.quarantine["door_events"]
    assert len(q) == 1 and "unknown_id" in q["reason"].iloc[0]
    assert UNKNOWN_ID not in q.to_string()  # quarantine holds pseudonyms only


# ----------------------------------------------------------------------------- table-level


def test_missing_required_column_raises_naming_table_column_rule():
    campus = tiny_campus()
    campus["card_transactions"] = campus["card_transactions"].drop(columns=["amount"])
    campus["door_events"] = campus["door_events"].drop(columns=["direction"])
    with pytest.raises(ContractError) as exc:
        validate_tables(campus, TEST_KEY)
    msg = str(exc.value)
    assert "card_transactions.amount: rule 'required_column'" in msg
    assert "door_events.direction: rule 'required_column'" in msg  # all faults at once
    assert len(exc.value.faults) == 2


def test_column_that_cannot_be_coerced_raises_with_example_rows():
    campus = tiny_campus()
    campus["card_transactions"]["amount"] = ["a", "b", "c", "d"]
    with pytest.raises(ContractError, match=r"card_transactions\.amount: rule 'type float'.*rows 0, 1, 2, 3"):
        validate_tables(campus, TEST_KEY)


def test_sensitive_values_never_appear_in_table_level_errors():
    campus = tiny_campus()
    campus["students"]["gender"] = ["secretvalue1"] * 3  # row faults, not table-level
    campus["census"]["total_score"] = ["secret-score"] * 2
    with pytest.raises(ContractError) as exc:
        validate_tables(campus, TEST_KEY)
    assert "secret-score" not in str(exc.value)
    assert "census.total_score" in str(exc.value)


def test_students_table_is_required(tmp_path):
    campus = tiny_campus()
    del campus["students"]
    with pytest.raises(ContractError, match="students: rule 'required_table'"):
        validate_tables(campus, TEST_KEY)
    write_campus(campus, tmp_path)
    with pytest.raises(ContractError, match="required_table"):
        load_sources(tmp_path, key=TEST_KEY)


def test_unknown_table_file_raises(tmp_path):
    write_campus(tiny_campus(), tmp_path)
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "dining_hall.csv", index=False)
    with pytest.raises(ContractError, match="dining_hall: rule 'known_table'"):
        load_sources(tmp_path, key=TEST_KEY)


def test_quarantine_folder_and_subfolders_are_never_read_as_tables(tmp_path):
    write_campus(tiny_campus(), tmp_path)
    (tmp_path / "_quarantine").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "_quarantine" / "door_events.parquet")
    (tmp_path / "truth").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "truth" / "wellbeing.parquet")
    assert set(find_source_files(tmp_path)) == set(CONTRACTS)


# ----------------------------------------------------------------------------- formats, time zones


def test_csv_and_parquet_give_identical_results(tmp_path):
    campus = tiny_campus()
    campus["card_transactions"].loc[1, "amount"] = -1.0  # same quarantine on both paths
    write_campus(campus, tmp_path / "pq", "parquet")
    write_campus(campus, tmp_path / "csv", "csv")
    a = load_sources(tmp_path / "pq", key=TEST_KEY)
    b = load_sources(tmp_path / "csv", key=TEST_KEY)
    for table in CONTRACTS:
        pd.testing.assert_frame_equal(a.tables[table], b.tables[table], check_dtype=True)
        pd.testing.assert_frame_equal(a.quarantine[table], b.quarantine[table], check_dtype=False)
    assert a.report.to_frame().equals(b.report.to_frame())


def test_timezone_aware_timestamps_are_converted_to_shanghai_local_time(tmp_path):
    campus = tiny_campus()
    utc = pd.to_datetime(["2024-03-04 00:00", "2024-03-04 14:30", "2024-03-04 00:30", "2024-03-04 17:20"]).tz_localize("UTC")
    campus["door_events"]["ts"] = utc
    loaded = validate_tables(campus, TEST_KEY)
    got = loaded.tables["door_events"]["ts"]
    assert got.dt.tz is None
    assert got.iloc[0] == pd.Timestamp("2024-03-04 08:00")
    assert got.iloc[1] == pd.Timestamp("2024-03-04 22:30")
    # and as text with offsets, in a CSV
    campus["door_events"]["ts"] = ["2024-03-04T00:00:00Z", "2024-03-04 22:30:00+08:00",
                                   "2024-03-04 08:30", "2024-03-04T17:20:00+00:00"]
    write_campus(campus, tmp_path, "csv")
    loaded = load_sources(tmp_path, key=TEST_KEY)
    assert loaded.tables["door_events"]["ts"].tolist() == list(
        pd.to_datetime(["2024-03-04 08:00", "2024-03-04 22:30", "2024-03-04 08:30", "2024-03-05 01:20"]))


# ----------------------------------------------------------------------------- pseudonyms


def test_ids_are_pseudonymised_consistently_across_tables():
    loaded = validate_tables(tiny_campus(), TEST_KEY)
    students = set(loaded.tables["students"]["student_id"])
    assert not students & set(RAW_IDS)
    for table in CONTRACTS:
        if "student_id" in loaded.tables[table]:
            assert set(loaded.tables[table]["student_id"]) <= students
    assert not set(loaded.tables["students"]["counselor_id"]) & {"T001", "T002"}


def test_pseudonyms_stable_for_a_key_differ_across_keys_and_reidentify_round_trips():
    from riskmodel.contracts import reidentify

    k1, k2 = PseudonymKey(TEST_KEY), PseudonymKey("another-key-abcdefghijklmnop")
    assert k1.pseudonymise("2023010101") == PseudonymKey(TEST_KEY).pseudonymise("2023010101")
    assert k1.pseudonymise("2023010101") != k2.pseudonymise("2023010101")
    assert k1.pseudonymise("2023010101") != k1.pseudonymise("2023010102")
    pseudo = [k1.pseudonymise(r) for r in RAW_IDS] + ["ffffffffffffffff"]
    back = reidentify(pseudo, RAW_IDS, TEST_KEY)
    assert [back[p] for p in pseudo] == RAW_IDS + [None]
    assert reidentify(pseudo[:1], RAW_IDS, k2)[pseudo[0]] is None  # wrong key, no match
    assert TEST_KEY not in repr(k1)


def test_missing_key_fails_and_says_how_to_provide_one(tmp_path, monkeypatch):
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY_FILE", raising=False)
    write_campus(tiny_campus(), tmp_path)
    with pytest.raises(PseudonymKeyError, match="RISKMODEL_PSEUDONYM_KEY"):
        load_sources(tmp_path)
    keyfile = tmp_path / "k" / "key"
    keyfile.parent.mkdir()
    keyfile.write_text(TEST_KEY)
    loaded = load_sources(tmp_path, key_file=keyfile)
    assert loaded.report.key_fingerprint == PseudonymKey(TEST_KEY).fingerprint
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", TEST_KEY)
    assert load_sources(tmp_path).tables["students"].equals(loaded.tables["students"])
    with pytest.raises(PseudonymKeyError, match="shorter"):
        PseudonymKey("short")


def test_quarantine_is_written_one_parquet_per_table(tmp_path):
    campus = tiny_campus()
    campus["card_transactions"].loc[0, "amount"] = 0.0
    loaded = validate_tables(campus, TEST_KEY)
    written = write_quarantine(loaded, tmp_path / "q")
    assert [p.name for p in written] == ["card_transactions.parquet"]
    q = pd.read_parquet(written[0])
    assert q["reason"].tolist() == ["amount: must_be_> 0"]
    assert q["source_row"].tolist() == [0]


def test_period_can_be_given_explicitly():
    campus = tiny_campus()
    loaded = validate_tables(campus, TEST_KEY, period_start="2024-03-04", period_end="2024-03-04")
    card = loaded.report.tables["card_transactions"]
    assert card.reasons == {"ts: outside_data_period": 1}  # the 2024-03-05 purchase
    assert np.all(loaded.tables["card_transactions"]["ts"] < pd.Timestamp("2024-03-05"))


def test_loader_logs_counts_never_ids(caplog):
    campus = tiny_campus()
    campus["door_events"].loc[0, "student_id"] = UNKNOWN_ID
    with caplog.at_level(logging.DEBUG, logger="riskmodel"):
        validate_tables(campus, TEST_KEY)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "door_events" in text
    for raw in RAW_IDS + [UNKNOWN_ID]:
        assert raw not in text
