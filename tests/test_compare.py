"""Field comparison: tolerances, differences as text, what is and is not compared."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from reconcile import frames as F
from reconcile.compare import FIELDS, compare_pairs
from reconcile.match import match_records
from reconcile.params import Tolerances
from tests.test_match import PARAMS, data, txn


def mismatches(awra_rows, qbo_rows, params=PARAMS, maps=(), broken=()):
    awra, qbo = data(awra_rows, qbo_rows, maps=maps, broken=broken)
    found = compare_pairs(match_records(awra, qbo, params), awra, qbo, params)
    F.check_frame(found, F.FINDINGS)
    return found


def test_field_table_names_real_columns():
    for field, (column, _) in FIELDS.items():
        assert field in F.MISMATCH_FIELDS
        assert column in F.TRANSACTIONS.columns


def test_amount_difference_is_awra_minus_qbo_as_decimal_text():
    found = mismatches(
        [txn("a1", "N", amount=1250, line_total_cents=1250)], [txn("q1", "N", amount=2500, line_total_cents=1250)]
    )
    row = found.set_index("field").loc["amount"]
    assert (row.awra_value, row.qbo_value, row.difference) == ("12.50", "25.00", "-12.50")
    assert row.category == "mismatch" and row.awra_id == "a1" and row.qbo_id == "q1"


def test_tolerance_is_symmetric_and_strict():
    rows_a = [txn("a1", "N1", amount=1000), txn("a2", "N2", amount=1000), txn("a3", "N3", amount=1000)]
    rows_q = [txn("q1", "N1", amount=1005), txn("q2", "N2", amount=995), txn("q3", "N3", amount=1006)]
    params = replace(PARAMS, tolerances=Tolerances(amount_cents=5))
    found = mismatches(rows_a, rows_q, params)
    assert found.loc[found["field"] == "amount", "awra_id"].tolist() == ["a3"]
    exact = mismatches(rows_a, rows_q)
    assert sorted(exact.loc[exact["field"] == "amount", "awra_id"]) == ["a1", "a2", "a3"]


def test_dates_in_days_with_tolerance():
    rows_a = [txn("a1", "N1", day="2026-03-10")]
    rows_q = [txn("q1", "N1", day="2026-03-08")]
    row = mismatches(rows_a, rows_q).iloc[0]
    assert (row.field, row.difference) == ("txn_date", "2")
    assert mismatches(rows_a, rows_q, replace(PARAMS, tolerances=Tolerances(date_days=2))).empty


def test_party_through_the_mapping():
    maps = [
        {"mapping_type": "customer", "awra_id": "p1", "qbo_id": "58"},
        {"mapping_type": "customer", "awra_id": "p2", "qbo_id": "59"},
    ]
    found = mismatches(
        [txn("a1", "N1", party="p1"), txn("a2", "N2", party="p2"), txn("a3", "N3", party="p3")],
        [txn("q1", "N1", party="58"), txn("q2", "N2", party="58"), txn("q3", "N3", party="77")],
        maps=maps,
    )
    # a1 agrees through the mapping; a3's party has no mapping: left to the mapping checks
    assert found[["awra_id", "field"]].values.tolist() == [["a2", "party"]]


def test_a_party_mapping_to_no_qbo_record_is_left_to_the_mapping_checks():
    # p2 maps to QBO 59, which QBO does not hold: mapping_broken says so, not a party finding per record
    maps = [
        {"mapping_type": "customer", "awra_id": "p1", "qbo_id": "58"},
        {"mapping_type": "customer", "awra_id": "p2", "qbo_id": "59"},
    ]
    rows_a = [txn("a1", "N1", party="p1"), txn("a2", "N2", party="p2")]
    rows_q = [txn("q1", "N1", party="60"), txn("q2", "N2", party="58")]
    found = mismatches(rows_a, rows_q, maps=maps, broken=("59",))
    assert found[["awra_id", "field"]].values.tolist() == [["a1", "party"]]


def test_currency_and_void_on_one_side():
    found = mismatches(
        [txn("a1", "N1", currency="USD"), txn("a2", "N2")],
        [txn("q1", "N1", currency="KES"), txn("q2", "N2", is_void=True, status="void")],
    )
    assert sorted(found[["awra_id", "field"]].values.tolist()) == [["a1", "currency"], ["a2", "status"]]
    status = found.set_index("field").loc["status"]
    assert (status.awra_value, status.qbo_value) == ("posted", "void")


def test_tax_and_line_total():
    found = mismatches(
        [txn("a1", "N1", tax_cents=160, line_total_cents=1000)],
        [txn("q1", "N1", tax_cents=140, line_total_cents=900)],
    )
    assert sorted(found["field"]) == ["line_total", "tax_amount"]


def test_bad_rows_and_other_statuses_are_not_compared():
    found = mismatches(
        [txn("a1", "N1", data_ok=False), txn("a2", "N2", status="approved", amount=5)],
        [txn("q1", "N1", amount=1), txn("q2", "N2", amount=5, is_void=True, status="void")],
    )
    assert found.empty


def test_out_of_window_twin_is_a_date_mismatch_even_within_tolerance():
    params = replace(PARAMS, tolerances=Tolerances(date_days=5))
    found = mismatches(
        [txn("a1", "N1", day="2026-03-31")], [txn("q1", "N1", day="2026-04-01", in_window=False)], params
    )
    row = found.iloc[0]
    assert (row.field, row.difference, row.match_method) == ("txn_date", "-1", "lookup_number")


def test_filter_difference_that_moves_totals_is_explained():
    # approved in AWRA (not the posted filter) but live in QBO: QBO counts it, AWRA does not
    found = mismatches([txn("a1", "N1", status="approved")], [txn("q1", "N1")])
    row = found.iloc[0]
    assert (row.field, row.awra_value, row.qbo_value) == ("status", "approved", "live")
    assert "only QBO counts it" in row.cause


def test_inputs_untouched_and_empty_pairs():
    awra, qbo = data([], [])
    found = compare_pairs(match_records(awra, qbo, PARAMS), awra, qbo, PARAMS)
    assert found.empty and list(found.columns[: len(F.FINDINGS.names)]) == F.FINDINGS.names
    awra, qbo = data([txn("a1", "N1")], [txn("q1", "N1", amount=1)])
    before = awra.transactions.copy()
    compare_pairs(match_records(awra, qbo, PARAMS), awra, qbo, PARAMS)
    pd.testing.assert_frame_equal(before, awra.transactions)
