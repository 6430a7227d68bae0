"""QBO payloads → canonical frames: real samples, exact money, lines, voids, times, references."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile import frames as F
from reconcile.sources import qbo_parse
from reconcile.sources.qbo_parse import (
    _timestamps,
    cents_array,
    exact_cents,
    parse_references,
    parse_transactions,
    qbo_data_from_payloads,
    resolve_tax_rates,
    split_repeated_ids,
)

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"
AIRBYTE_STREAMS = {
    "invoices": "Invoice",
    "payments": "Payment",
    "bills": "Bill",
    "journal_entries": "JournalEntry",
    "customers": "Customer",
    "accounts": "Account",
    "items": "Item",
    "payment_methods": "PaymentMethod",
    "tax_codes": "TaxCode",
    "tax_rates": "TaxRate",
    "sales_receipts": "SalesReceipt",
    "purchases": "Purchase",
}


def load_samples(*, decimals: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Every entity payload in the real samples, by QBO entity name."""

    def loads(text: str) -> Any:
        return json.loads(text, parse_float=Decimal) if decimals else json.loads(text)

    out: dict[str, list[dict[str, Any]]] = {}
    for line in (SAMPLES / "airbyte_expected_records_subset.jsonl").read_text().splitlines():
        record = loads(line)
        data = record["data"]
        data.pop("airbyte_cursor")  # added by Airbyte, not a QBO field
        out.setdefault(AIRBYTE_STREAMS[record["stream"]], []).append(data)
    for path in [*sorted(SAMPLES.glob("quickbooksgo_*.json")), SAMPLES / "exquickbooks_create_sales_receipt.json"]:
        wrapped = loads(path.read_text())
        for key, value in wrapped.items():
            if key != "time":
                out.setdefault(key, []).append(value)
    envelope = loads((SAMPLES / "exquickbooks_query_item_QueryResponse.json").read_text())
    for key, value in envelope["QueryResponse"].items():
        if isinstance(value, list):
            out.setdefault(key, []).extend(value)
    return out


def row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    found = frame[mask.fillna(False)]
    assert len(found) == 1, f"{where}: {len(found)} rows"
    return found.iloc[0]


def invoice(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "Id": "501",
        "DocNumber": "INV-501",
        "TxnDate": "2026-08-15",
        "DueDate": "2026-09-14",
        "CurrencyRef": {"value": "KES", "name": "Kenyan Shilling"},
        "CustomerRef": {"value": "17", "name": "Mark Cho"},
        "MetaData": {"CreateTime": "2026-08-15T09:00:00-08:00", "LastUpdatedTime": "2026-08-15T23:30:00-08:00"},
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": Decimal("100.00"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "5"}, "TaxCodeRef": {"value": "TAX"}},
            },
            {
                "Id": "2",
                "LineNum": 2,
                "Amount": Decimal("50.00"),
                "Description": "Pipes",
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "17"}, "TaxCodeRef": {"value": "NON"}},
            },
            {"Amount": Decimal("150.00"), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        ],
        "TxnTaxDetail": {"TotalTax": Decimal("16.00")},
        "TotalAmt": Decimal("166.00"),
    }
    payload.update(overrides)
    return payload


# --------------------------------------------------------------------------- real samples


def test_every_real_sample_parses_into_conforming_frames() -> None:
    payloads = load_samples()
    data = qbo_data_from_payloads(payloads)  # .check() inside: schemas hold
    tx, lines, refs = data.transactions, data.lines, data.references

    assert sorted(tx["entity"].value_counts().items()) == [("bill", 2), ("invoice", 2), ("journal", 2), ("payment", 1)]
    assert bool(tx["data_ok"].all())
    assert bool(tx["in_window"].all())
    assert set(tx["status"]) == {"posted"}

    taxed = row(tx, entity="invoice", id="119")
    assert (taxed["number"], taxed["party_id"], taxed["party_name"], taxed["currency"]) == (
        "1035",
        "17",
        "Mark Cho",
        "USD",
    )
    assert (taxed["amount_cents"], taxed["tax_cents"], taxed["line_total_cents"]) == (31428, 2328, 29100)
    assert taxed["txn_date"] == pd.Timestamp("2023-02-18") and taxed["due_date"] == pd.Timestamp("2023-03-20")
    assert taxed["updated_at"] == pd.Timestamp("2023-02-18T20:57:24", tz="UTC")  # -08:00 → UTC
    paid = row(tx, entity="invoice", id="12")
    assert (paid["amount_cents"], paid["tax_cents"], paid["line_total_cents"]) == (236952, 17552, 219400)
    assert list(lines.loc[lines["txn_id"] == "12", "item_id"]) == ["16", "17", "14", "1"]  # subtotal line left out

    payment = row(tx, entity="payment", id="120")
    assert payment["number"] is pd.NA and payment["tax_cents"] is pd.NA
    assert (payment["amount_cents"], payment["line_total_cents"]) == (167552, 167552)
    application = row(lines, entity="payment", txn_id="120", ref_id="12")
    assert (application["line_no"], application["amount_cents"]) == (1, 167552)
    own_refs = row(lines, entity="payment", txn_id="120", line_no=0)  # DepositToAccountRef on line 0
    assert (own_refs["account_id"], own_refs["payment_method_id"], own_refs["amount_cents"]) == ("4", pd.NA, pd.NA)

    bill = row(tx, entity="bill", id="25")
    assert (bill["party_id"], bill["amount_cents"], bill["tax_cents"], bill["line_total_cents"]) == (
        "46",
        10355,
        0,
        10355,
    )
    assert bill["updated_at"] == pd.Timestamp("2015-02-09T18:11:11", tz="UTC")
    assert row(lines, entity="bill", txn_id="25")["account_id"] == "64"
    assert list(lines.loc[lines["txn_id"] == "126", "item_id"]) == ["11", "5"]

    journal = row(tx, entity="journal", id="227")
    assert journal["party_id"] is pd.NA and journal["tax_cents"] is pd.NA
    assert (journal["amount_cents"], journal["line_total_cents"]) == (2554, 2554)
    jl = lines[lines["txn_id"] == "227"]
    assert list(jl["debit_cents"]) == [2554, 0] and list(jl["credit_cents"]) == [0, 2554]
    assert list(jl["account_id"]) == ["65", "44"]
    assert row(tx, entity="journal", id="6")["memo"] == "Opening Balance"

    assert row(refs, ref_type="vendor", id="30")["name"] == "Books by Bessie"
    account = row(refs, ref_type="account", id="94")
    assert (account["qbo_type"], account["classification"]) == ("Accounts Receivable", "Asset")
    item = row(refs, ref_type="item", id="19")
    assert (item["qbo_type"], item["income_account_id"], item["expense_account_id"]) == ("Inventory", "79", "80")
    assert row(refs, ref_type="payment_method", id="3")["qbo_type"] == "CREDIT_CARD"
    code = row(refs, ref_type="tax_code", id="2")
    assert (code["tax_rate_ids"], code["rate_percent"]) == ("3", "8")
    assert row(refs, ref_type="tax_rate", id="3")["rate_percent"] == "8"
    assert len(refs[refs["ref_type"] == "item"]) == 20  # 19 from the query envelope + 1 from airbyte

    # raw payloads kept for drill-down, other entities (SalesReceipt) kept raw only
    assert data.raw["Invoice"]["119"]["DocNumber"] == "1035"
    assert "SalesReceipt" in data.raw and not (tx["entity"] == "sales_receipt").any()


def test_float_parsed_payloads_give_the_same_frames_as_decimal_ones() -> None:
    exact = qbo_data_from_payloads(load_samples(decimals=True))
    floats = qbo_data_from_payloads(load_samples(decimals=False))
    pd.testing.assert_frame_equal(exact.transactions, floats.transactions)
    pd.testing.assert_frame_equal(exact.lines, floats.lines)
    pd.testing.assert_frame_equal(exact.references, floats.references)


def test_qbo_entity_names_are_accepted_and_unknown_entities_refused() -> None:
    by_name, _ = parse_transactions("Invoice", [invoice()])
    assert list(by_name["entity"]) == ["invoice"]
    with pytest.raises(ValueError, match="not a transaction entity"):
        parse_transactions("SalesReceipt", [])
    with pytest.raises(ValueError, match="not a reference type"):
        parse_references("Employee", [])


def test_no_payloads_give_empty_conforming_frames() -> None:
    tx, lines = parse_transactions("payment", [])
    F.check_frame(tx, F.TRANSACTIONS)
    F.check_frame(lines, F.LINES)
    assert tx.empty and lines.empty
    data = qbo_data_from_payloads({})
    assert data.transactions.empty and data.references.empty


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (0.1 + 0.2, 30),  # 0.30000000000000004
        (1234567.89, 123456789),
        (Decimal("1234567.89"), 123456789),
        (5, 500),
        (-7, -700),
        ("12.34", 1234),
        (" 7.5 ", 750),
        (0.125, 13),  # half-up
        (-0.125, -13),  # half away from zero
        (1.005, 101),  # float arithmetic gives 100.49999999999999 → 100
        (2.675, 268),  # float arithmetic gives 267
        (0.005, 1),
        (Decimal("0.004"), 0),
        (Decimal("1E+2"), 10000),
        (1e15, 100000000000000000),
        (99999999999.99, 9999999999999),
        (Decimal("0.1000000000000000000001"), 10),
    ],
)
def test_amounts_become_exact_cents(value: Any, cents: int) -> None:
    assert exact_cents(value) == cents
    assert cents_array([value]).tolist() == [cents]


@pytest.mark.parametrize(
    "value", [None, True, False, "abc", "", float("nan"), float("inf"), Decimal("NaN"), {}, [1], 10**30, "1E+999999"]
)
def test_unusable_amounts_are_na_never_zero(value: Any) -> None:
    assert exact_cents(value) is None
    assert cents_array([value, 1]).tolist() == [pd.NA, 100]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=-1e13, max_value=1e13).map(lambda x: round(x, 2)),
            st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**12), max_value=10**12),
            st.integers(min_value=-(10**17), max_value=10**17),
            st.booleans(),
            st.none(),
        ),
        max_size=40,
    )
)
def test_bulk_cents_equal_exact_decimal_cents(values: list[Any]) -> None:
    expected = [pd.NA if (c := exact_cents(v)) is None else c for v in values]
    assert cents_array(values).tolist() == expected


def test_money_is_exact_across_many_float_amounts() -> None:
    amounts = [round(i * 0.01 + 0.005 * (i % 3 == 0), 3) for i in range(20000)]
    reference = [int((Decimal(repr(a)) * 100).to_integral_value(rounding="ROUND_HALF_UP")) for a in amounts]
    assert cents_array(amounts).tolist() == reference


# --------------------------------------------------------------------------- lines and totals


def test_subtotal_lines_are_excluded_and_discount_lines_subtract() -> None:
    payload = invoice()
    payload["Line"].append(
        {
            "Amount": Decimal("15.00"),
            "DetailType": "DiscountLineDetail",
            "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10, "DiscountAccountRef": {"value": "86"}},
        }
    )
    payload["TotalAmt"] = Decimal("151.00")
    tx, lines = parse_transactions("invoice", [payload])
    assert (tx.at[0, "amount_cents"], tx.at[0, "tax_cents"], tx.at[0, "line_total_cents"]) == (15100, 1600, 13500)
    assert list(lines["amount_cents"]) == [10000, 5000, -1500]
    assert list(lines["line_no"]) == [1, 2, 4]
    assert list(lines["item_id"].fillna("-")) == ["5", "17", "-"]
    assert list(lines["tax_code_id"].fillna("-")) == ["TAX", "NON", "-"]
    assert lines.at[2, "account_id"] == "86"
    assert lines.at[1, "description"] == "Pipes"


def test_group_lines_count_once() -> None:
    component = {
        "Amount": Decimal("30.00"),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "9"}},
    }
    with_amount = invoice(
        Line=[
            {
                "Amount": Decimal("60.00"),
                "DetailType": "GroupLineDetail",
                "GroupLineDetail": {"GroupItemRef": {"value": "40"}, "Line": [component, component]},
            }
        ],
        TotalAmt=Decimal("60.00"),
    )
    without_amount = invoice(
        Id="502",
        Line=[
            {
                "DetailType": "GroupLineDetail",
                "GroupLineDetail": {"GroupItemRef": {"value": "40"}, "Line": [component, component]},
            }
        ],
        TotalAmt=Decimal("60.00"),
    )
    tx, lines = parse_transactions("invoice", [with_amount, without_amount])
    assert list(tx["line_total_cents"]) == [6000, 6000]
    assert list(lines.loc[lines["txn_id"] == "501", "item_id"]) == ["40"]
    assert list(lines.loc[lines["txn_id"] == "502", "item_id"]) == ["9", "9"]


def test_journal_entry_totals_are_the_sum_of_debits() -> None:
    def line(amount: str, posting: str, account: str) -> dict[str, Any]:
        return {
            "Amount": Decimal(amount),
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}},
        }

    good = {
        "Id": "900",
        "DocNumber": "JE-1",
        "TxnDate": "2026-08-31",
        "Line": [line("100.10", "Debit", "1"), line("50.20", "Debit", "2"), line("150.30", "Credit", "3")],
        "TxnTaxDetail": {},
    }
    bad = {**good, "Id": "901", "Line": [line("10", "Debit", "1"), line("10", "Sideways", "2")]}
    tx, lines = parse_transactions("journal", [good, bad])
    assert (tx.at[0, "amount_cents"], tx.at[0, "line_total_cents"]) == (15030, 15030)
    assert tx.at[0, "tax_cents"] is pd.NA and tx.at[0, "party_id"] is pd.NA
    assert bool(tx.at[0, "data_ok"])
    first = lines[lines["txn_id"] == "900"]
    assert list(first["debit_cents"]) == [10010, 5020, 0]
    assert list(first["credit_cents"]) == [0, 0, 15030]
    assert first["amount_cents"].isna().all()
    # an unreadable posting type makes the total unknown, not a smaller number
    assert tx.at[1, "amount_cents"] is pd.NA and not bool(tx.at[1, "data_ok"])


def test_payment_lines_are_its_applications_to_invoices() -> None:
    payment = {
        "Id": "77",
        "PaymentRefNum": "MPESA-QX12",
        "TxnDate": "2026-09-01",
        "CustomerRef": {"value": "3", "name": "Cool Cars"},
        "CurrencyRef": {"value": "KES"},
        "TotalAmt": 90.0,
        "UnappliedAmt": 0,
        "Line": [
            {"Amount": 60.0, "LinkedTxn": [{"TxnId": "12", "TxnType": "Invoice"}]},
            {"Amount": 40.0, "LinkedTxn": [{"TxnId": "13", "TxnType": "Invoice"}]},
            {"Amount": 10.0, "LinkedTxn": [{"TxnId": "44", "TxnType": "CreditMemo"}]},
        ],
    }
    tx, lines = parse_transactions("payment", [payment])
    assert tx.at[0, "number"] == "MPESA-QX12"
    assert (tx.at[0, "amount_cents"], tx.at[0, "line_total_cents"]) == (9000, 10000)
    assert tx.at[0, "tax_cents"] is pd.NA
    applications = lines[lines["line_no"] > 0]
    assert list(applications["ref_id"]) == ["12", "13"] and list(applications["amount_cents"]) == [6000, 4000]
    assert list(lines["line_no"]) == [0, 1, 2]  # line 0: the payment's own refs (none here)
    assert lines.at[0, "account_id"] is pd.NA and lines.at[0, "ref_id"] is pd.NA


def test_payment_own_refs_sit_on_line_0_and_lines_keep_their_qbo_id() -> None:
    first = {
        "Id": "78",
        "TxnDate": "2026-09-01",
        "TotalAmt": 50.0,
        "DepositToAccountRef": {"value": "35", "name": "Checking"},
        "PaymentMethodRef": {"value": "2", "name": "Check"},
        "Line": [{"Id": "7", "Amount": 50.0, "LinkedTxn": [{"TxnId": "12", "TxnType": "Invoice"}]}],
    }
    second = {"Id": "79", "TxnDate": "2026-09-02", "TotalAmt": 5.0, "DepositToAccountRef": "not a ref", "Line": []}
    tx, lines = parse_transactions("payment", [first, second])
    assert list(zip(lines["txn_id"], lines["line_no"], strict=True)) == [("78", 0), ("78", 1), ("79", 0)]
    assert (lines.at[0, "account_id"], lines.at[0, "payment_method_id"]) == ("35", "2")
    assert lines.at[1, "line_id"] == "7" and lines.at[2, "account_id"] is pd.NA
    assert tx["line_total_cents"].tolist() == [5000, 0]  # line 0 adds nothing


def test_line_total_is_the_sum_of_lines_for_invoices_bills_and_payments() -> None:
    data = qbo_data_from_payloads(load_samples())
    tx = data.transactions[data.transactions["entity"] != "journal"]
    sums = data.lines.groupby(["entity", "txn_id"])["amount_cents"].sum()
    for _, record in tx.iterrows():
        assert sums.get((record["entity"], record["id"]), 0) == record["line_total_cents"]


# --------------------------------------------------------------------------- header fields


def test_missing_tax_on_an_invoice_or_bill_means_zero() -> None:
    no_detail = invoice()
    del no_detail["TxnTaxDetail"]
    empty_detail = invoice(Id="502", TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}})
    tx, _ = parse_transactions("invoice", [no_detail, empty_detail])
    assert list(tx["tax_cents"]) == [0, 0]
    bill_tx, _ = parse_transactions("bill", [{"Id": "1", "TxnDate": "2026-08-01", "TotalAmt": 5}])
    assert bill_tx.at[0, "tax_cents"] == 0


@pytest.mark.parametrize(
    ("note", "total", "void"),
    [
        ("Voided", 0, True),
        ("voided - customer cancelled", Decimal("0.00"), True),
        ("  VOIDED", 0, True),
        ("Voided", Decimal("166.00"), False),  # a note alone does not void a live document
        (None, 0, False),
        ("Avoided a late fee", 0, False),
    ],
)
def test_voided_transactions_are_detected(note: str | None, total: Any, void: bool) -> None:
    payload = invoice(TotalAmt=total)
    if note is not None:
        payload["PrivateNote"] = note
    tx, _ = parse_transactions("invoice", [payload])
    assert bool(tx.at[0, "is_void"]) is void
    assert tx.at[0, "status"] == ("void" if void else "posted")
    assert bool(tx.at[0, "data_ok"])


def test_last_updated_time_is_converted_to_utc() -> None:
    texts = [
        "2026-08-15T23:30:00-08:00",
        "2026-08-15T10:00:00+03:00",
        "2024-02-29T00:00:00+00:00",
        "2026-08-15T23:30:00.250-08:00",  # not QBO's usual shape: the general parser takes it
        "2026-08-15T23:30:00Z",
        "2026-02-30T10:00:00-08:00",  # not a real date
        "yesterday",
        None,
    ]
    got = list(_timestamps(texts))
    assert got[:5] == [
        pd.Timestamp("2026-08-16T07:30:00", tz="UTC"),
        pd.Timestamp("2026-08-15T07:00:00", tz="UTC"),
        pd.Timestamp("2024-02-29T00:00:00", tz="UTC"),
        pd.Timestamp("2026-08-16T07:30:00.250", tz="UTC"),
        pd.Timestamp("2026-08-15T23:30:00", tz="UTC"),
    ]
    assert all(v is pd.NaT for v in got[5:])
    tx, _ = parse_transactions("invoice", [invoice()])
    assert tx.at[0, "updated_at"] == pd.Timestamp("2026-08-16T07:30:00", tz="UTC")
    assert str(tx["updated_at"].dtype) == "datetime64[ns, UTC]"


def test_bad_or_missing_required_fields_flag_the_row_not_the_run() -> None:
    no_total = invoice(Id="1")
    del no_total["TotalAmt"]
    bad_date = invoice(Id="2", TxnDate="2026-02-30")
    text_total = invoice(Id="3", TotalAmt="not a number")
    no_number = invoice(Id="4")
    del no_number["DocNumber"]
    odd_shape = invoice(Id="5", CustomerRef="17")  # a ref that is not an object
    tx, lines = parse_transactions("invoice", [no_total, bad_date, text_total, no_number, odd_shape, "junk"])  # type: ignore[list-item]
    assert list(tx["id"].fillna("-")) == ["1", "2", "3", "4", "5", "-"]
    assert list(tx["data_ok"]) == [False, False, False, True, False, False]
    assert tx.at[0, "amount_cents"] is pd.NA and tx.at[2, "amount_cents"] is pd.NA
    assert tx.at[1, "txn_date"] is pd.NaT
    assert tx.at[3, "number"] is pd.NA
    assert set(lines["txn_id"]) == {"1", "2", "3", "4"}  # the malformed payloads contribute no lines


def test_in_window_flag_is_set_as_asked() -> None:
    tx, _ = parse_transactions("invoice", [invoice()], in_window=False)
    assert list(tx["in_window"]) == [False]


# --------------------------------------------------------------------------- references


def test_tax_codes_take_the_sum_of_their_sales_tax_rates() -> None:
    rates = [
        {"Id": "3", "Name": "State", "RateValue": Decimal("10"), "Active": True},
        {"Id": "4", "Name": "County", "RateValue": 6.5, "Active": False},
        {"Id": "5", "Name": "Odd", "RateValue": "7.50", "Active": True},
    ]

    def code(ident: str, rate_ids: list[str], **extra: Any) -> dict[str, Any]:
        details = [{"TaxRateRef": {"value": r}} for r in rate_ids]
        return {
            "Id": ident,
            "Name": f"Code {ident}",
            "Active": True,
            "SalesTaxRateList": {"TaxRateDetail": details},
            **extra,
        }

    codes = [
        code("10", ["3", "4"]),
        code("11", ["3", "99"]),  # a rate that does not exist → unknown
        code("12", [], Taxable=False),
        code("13", [], Taxable=True),
        code("14", ["5"]),
    ]
    references = pd.concat([parse_references("tax_code", codes), parse_references("TaxRate", rates)], ignore_index=True)
    before = references.copy()
    resolved = resolve_tax_rates(references)
    pd.testing.assert_frame_equal(references, before)  # the input is not changed
    F.check_frame(resolved, F.REFERENCES)
    by_id = dict(zip(resolved["id"], resolved["rate_percent"], strict=True))
    assert by_id["10"] == "16.5" and by_id["14"] == "7.5" and by_id["12"] == "0"
    assert by_id["11"] is pd.NA and by_id["13"] is pd.NA
    assert by_id["3"] == "10" and by_id["4"] == "6.5"
    assert row(resolved, id="10")["tax_rate_ids"] == "3,4"
    assert list(resolved.loc[resolved["ref_type"] == "tax_rate", "active"]) == [True, False, True]


def test_reference_names_types_and_activity() -> None:
    customers = parse_references(
        "customer",
        [
            {
                "Id": "1",
                "DisplayName": "Acme Ltd",
                "Active": True,
                "MetaData": {"LastUpdatedTime": "2026-01-01T00:00:00-08:00"},
            },
            {"Id": "2", "DisplayName": "Old Co", "Active": False},
        ],
    )
    assert list(customers["name"]) == ["Acme Ltd", "Old Co"]
    assert list(customers["active"]) == [True, False]
    assert customers.at[0, "updated_at"] == pd.Timestamp("2026-01-01T08:00:00", tz="UTC")
    methods = parse_references("payment_method", [{"Id": "7", "Name": "M-Pesa", "Type": "NON_CREDIT_CARD"}])
    assert (methods.at[0, "name"], methods.at[0, "qbo_type"], methods.at[0, "active"]) == (
        "M-Pesa",
        "NON_CREDIT_CARD",
        pd.NA,
    )


def test_parsing_restores_the_garbage_collector_state() -> None:
    import gc

    assert gc.isenabled()
    parse_transactions("invoice", [invoice()])
    assert gc.isenabled()
    gc.disable()
    try:
        qbo_data_from_payloads({"Invoice": [invoice()]})
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        parse_transactions("nope", [])
    assert gc.isenabled()


def test_odd_values_in_date_fields_are_not_dates() -> None:
    odd = [invoice(Id="1", TxnDate=["2026-08-15"]), invoice(Id="2", TxnDate=20260815), invoice(Id="3", DueDate={})]
    tx, _ = parse_transactions("invoice", odd)
    assert list(tx["txn_date"].isna()) == [True, True, False]
    assert list(tx["data_ok"]) == [False, False, True]
    assert tx.at[2, "due_date"] is pd.NaT


# --------------------------------------------------------------------------- common-shape fast path
#
# parse_transactions reads the lines of common-shape transactions with short readers and hands
# every other transaction to the general readers (the reference). With the short readers switched
# off, everything goes the general way: the frames must be the same either way.


@contextmanager
def general_readers_only() -> Iterator[None]:
    def never(lines: Any, appenders: Any) -> bool:
        return False

    with patch.dict(qbo_parse._COMMON_LINE_READERS, dict.fromkeys(qbo_parse._COMMON_LINE_READERS, never)):
        yield


def assert_same_as_general(entity: str, payloads: list[Any]) -> None:
    fast_tx, fast_lines = parse_transactions(entity, payloads)
    with general_readers_only():
        general_tx, general_lines = parse_transactions(entity, payloads)
    pd.testing.assert_frame_equal(fast_tx, general_tx)
    pd.testing.assert_frame_equal(fast_lines, general_lines)


def read_by_general_reader(entity: str, payload: Any) -> bool:
    """Whether the general reader read the transaction's lines (the common reader gave up on them)."""
    calls = []
    general = qbo_parse._LINE_READERS[entity]

    def spy(index: int, lines: Any, appenders: Any) -> None:
        calls.append(index)
        general(index, lines, appenders)

    with patch.dict(qbo_parse._LINE_READERS, {entity: spy}):
        parse_transactions(entity, [payload])
    return bool(calls)


LINE_KINDS = [
    "SalesItemLineDetail",
    "SubTotalLineDetail",
    "DiscountLineDetail",
    "GroupLineDetail",
    "DescriptionOnly",
    "AccountBasedExpenseLineDetail",
    "ItemBasedExpenseLineDetail",
    "JournalEntryLineDetail",
]
ODD_VALUES: list[Any] = [None, True, False, 0, 3, "", "x", {}, [], [1]]
odd_value = st.sampled_from(ODD_VALUES)
amount = st.one_of(
    st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False),
    st.floats(-1000, 1000).map(lambda x: round(x, 2)),
    st.integers(-1000, 1000),
    odd_value,
)


def one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws (drawn explicitly: nested ``one_of`` skews toward its first branches)."""
    return draw(st.integers(0, n - 1)) == 0


@st.composite
def ref(draw: st.DrawFn) -> Any:
    return draw(odd_value) if one_in(draw, 5) else {"value": draw(st.sampled_from(["1", "42", "TAX"]))}


@st.composite
def detail(draw: st.DrawFn, kind: Any) -> Any:
    """A line's detail object: the refs of every kind (each may be missing or odd), a posting type."""
    if one_in(draw, 6):
        return draw(odd_value)
    out = {key: draw(ref()) for key in ("ItemRef", "TaxCodeRef", "AccountRef", "DiscountAccountRef", "GroupItemRef")}
    out = {key: value for key, value in out.items() if not one_in(draw, 4)}
    out["PostingType"] = draw(st.sampled_from(["Debit", "Credit", "Sideways", *ODD_VALUES]))
    if kind == "GroupLineDetail":
        out["Line"] = draw(st.lists(line("invoice"), max_size=3))
    return out


@st.composite
def line(draw: st.DrawFn, entity: str) -> Any:
    """A line of ``entity``: of its usual shape four times in five, else of any kind or shape."""
    odd = one_in(draw, 5)
    if odd and one_in(draw, 4):
        return draw(odd_value)  # not a line at all
    out: dict[str, Any] = {"Amount": draw(amount)}
    if not one_in(draw, 3):
        out["LineNum"] = draw(st.sampled_from([1, 2, 3, 7, *ODD_VALUES, "2", 2.0]))
    if not one_in(draw, 3):
        out["Description"] = draw(st.sampled_from(["Pipes", "", None, 5]))
    if entity == "payment":
        links = [
            {"TxnId": "12", "TxnType": draw(st.sampled_from(["Invoice", "CreditMemo"]))}
            for _ in range(draw(st.integers(0, 2)))
        ]
        out["LinkedTxn"] = draw(st.sampled_from([*ODD_VALUES, {"TxnType": "Invoice"}, ["Invoice"]])) if odd else links
        return out
    kinds = COMMON_KINDS[entity] if not odd else [*LINE_KINDS, None, 5]
    kind = draw(st.sampled_from(kinds))
    out["DetailType"] = kind
    if not (odd and one_in(draw, 3)):  # sometimes the detail is missing
        out[kind if isinstance(kind, str) else "SalesItemLineDetail"] = draw(detail(kind))
    return out


COMMON_KINDS = {
    "invoice": ["SalesItemLineDetail", "SalesItemLineDetail", "SubTotalLineDetail"],
    "bill": ["AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail", "SubTotalLineDetail"],
    "journal": ["JournalEntryLineDetail", "JournalEntryLineDetail", "DescriptionOnly"],
}


@st.composite
def transaction(draw: st.DrawFn, entity: str) -> Any:
    """A payload of ``entity``: mostly QBO's usual shapes, with odd lines, fields and payloads mixed in."""
    if one_in(draw, 12):
        return draw(odd_value)  # not a payload at all
    lines: Any = draw(st.lists(line(entity), max_size=5)) if not one_in(draw, 10) else draw(odd_value)
    payload: dict[str, Any] = {"Id": draw(st.sampled_from(["1", "2", "3"])), "TxnDate": "2026-08-15", "Line": lines}
    payload["TotalAmt"] = draw(amount)
    usual = {
        "DocNumber": "D-1",
        "PaymentRefNum": "P-1",
        "CustomerRef": {"value": "7", "name": "Ann"},
        "VendorRef": {"value": "8", "name": "Bo"},
        "CurrencyRef": {"value": "KES"},
        "TxnTaxDetail": {"TotalTax": draw(amount)},
        "MetaData": {"LastUpdatedTime": "2026-08-15T23:30:00-08:00"},
        "PrivateNote": "Voided",
    }
    for key, value in usual.items():
        if not one_in(draw, 4):
            payload[key] = draw(odd_value) if one_in(draw, 8) else value
    return payload


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_fast_path_gives_the_general_paths_frames(data: st.DataObject) -> None:
    for entity in F.ENTITIES:
        payloads = data.draw(st.lists(transaction(entity), max_size=8), label=entity)
        assert_same_as_general(entity, payloads)


def test_common_invoices_are_read_on_the_fast_path() -> None:
    plain = invoice()
    assert not read_by_general_reader("invoice", plain)
    no_line_number = invoice()
    del no_line_number["Line"][0]["LineNum"]
    no_line_number["Line"][1]["LineNum"] = "2"  # not an int: the position stands in, on the fast path too
    assert not read_by_general_reader("invoice", no_line_number)
    _, lines = parse_transactions("invoice", [no_line_number])
    assert list(lines["line_no"]) == [1, 2]
    assert_same_as_general("invoice", [plain, no_line_number])


def with_line(line: Any, **overrides: Any) -> dict[str, Any]:
    payload = invoice(**overrides)
    payload["Line"] = [*payload["Line"][:2], line, payload["Line"][2]]
    return payload


SALES_DETAIL = {"ItemRef": {"value": "9"}}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            with_line({"Amount": 5, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {}}), id="discount"
        ),
        pytest.param(
            with_line({"DetailType": "GroupLineDetail", "GroupLineDetail": {"Line": [invoice()["Line"][0]]}}),
            id="group-without-amount",
        ),
        pytest.param(with_line({"Amount": 5, "DetailType": "DescriptionOnly"}), id="description-only"),
        pytest.param(with_line({"Amount": 5, "DetailType": "SalesItemLineDetail"}), id="missing-detail"),
        pytest.param(
            with_line({"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": "9"}), id="odd-detail"
        ),
        pytest.param(
            with_line({"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": "9"}}),
            id="ref-not-an-object",
        ),
        pytest.param(with_line("not a line"), id="line-not-an-object"),
        pytest.param(with_line({"Amount": 5, "DetailType": ["SalesItemLineDetail"]}), id="odd-detail-type"),
        pytest.param(invoice(Line=tuple(invoice()["Line"])), id="lines-not-a-list"),
        pytest.param(invoice(Line={"DetailType": "SalesItemLineDetail"}), id="lines-an-object"),
    ],
)
def test_transactions_of_other_shapes_take_the_general_path(payload: Any) -> None:
    assert read_by_general_reader("invoice", payload)
    # between common transactions, so the merge keeps every line in its place
    assert_same_as_general("invoice", [invoice(Id="1"), payload, invoice(Id="3"), payload])


@pytest.mark.parametrize(
    ("entity", "payload"),
    [
        ("bill", {"Id": "1", "Line": [{"DetailType": "AccountBasedExpenseLineDetail", "Amount": 5}]}),
        ("bill", {"Id": "1", "Line": [{"DetailType": "AccountBasedExpenseLineDetail", "Amount": 5}, 7]}),
        ("journal", {"Id": "1", "Line": [{"DetailType": "JournalEntryLineDetail", "Amount": 5}]}),
        ("journal", {"Id": "1", "Line": [{"DetailType": "JournalEntryLineDetail", "JournalEntryLineDetail": []}]}),
        ("payment", {"Id": "1", "Line": [{"Amount": 5, "LinkedTxn": {"TxnType": "Invoice"}}]}),
        ("payment", {"Id": "1", "Line": [{"Amount": 5, "LinkedTxn": ["Invoice"]}]}),
    ],
)
def test_other_entities_fall_back_on_odd_lines(entity: str, payload: dict[str, Any]) -> None:
    assert read_by_general_reader(entity, payload)
    common = {"Id": "2", "Line": [{"Amount": 1, "LinkedTxn": [{"TxnId": "9", "TxnType": "Invoice"}]}]}
    if entity != "payment":
        kind = COMMON_KINDS[entity][0]
        common = {"Id": "2", "Line": [{"DetailType": kind, kind: {"AccountRef": {"value": "4"}}, "Amount": 1}]}
    assert not read_by_general_reader(entity, common)
    assert_same_as_general(entity, [common, payload, common])


def test_payloads_not_of_qbos_shape_are_flagged_alike_on_both_paths() -> None:
    payloads = [invoice(Id="1"), invoice(Id="2", CustomerRef="17"), "junk", invoice(Id="4", MetaData=[1])]
    assert_same_as_general("invoice", payloads)
    tx, lines = parse_transactions("invoice", payloads)
    assert list(tx["data_ok"]) == [True, False, False, False]
    assert set(lines["txn_id"]) == {"1"}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(
                "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{:02d}:{:02d}".format,
                st.integers(1600, 2300),
                st.integers(0, 13),
                st.integers(0, 32),
                st.integers(0, 25),
                st.integers(0, 61),
                st.integers(0, 61),
                st.sampled_from("+-"),
                st.integers(0, 19),
                st.integers(0, 59),
            ),
            st.text(max_size=26),
            st.none(),
        ),
        max_size=20,
    )
)
def test_vectorized_timestamps_equal_pandas(texts: list[str | None]) -> None:
    expected = pd.to_datetime(pd.Index(texts, dtype=object), format="ISO8601", utc=True, errors="coerce")
    low, high = pd.Timestamp("1678-01-01", tz="UTC"), pd.Timestamp("2261-12-31", tz="UTC")
    expected = pd.DatetimeIndex(expected.where((expected >= low) & (expected <= high))).as_unit("ns")
    assert list(_timestamps(texts)) == list(expected)


# --------------------------------------------------------------------------- currencies


def test_exchange_rate_home_total_and_deposit_account_are_read_exactly() -> None:
    invoice = {
        "Id": "7",
        "TxnDate": "2026-03-04",
        "TotalAmt": Decimal("200.00"),
        "CurrencyRef": {"value": "USD"},
        "ExchangeRate": Decimal("129.50"),
        "HomeTotalAmt": Decimal("25900.00"),
        "Line": [],
    }
    floats = {**invoice, "Id": "8", "ExchangeRate": 0.0077, "HomeTotalAmt": 1.54}
    plain = {"Id": "9", "TxnDate": "2026-03-04", "TotalAmt": 5, "Line": [], "ExchangeRate": "odd"}
    txns, _ = parse_transactions("invoice", [invoice, floats, plain])
    assert list(txns["exchange_rate"].astype(object)) == ["129.5", "0.0077", pd.NA]
    assert list(txns["home_amount_cents"].astype(object)) == [2_590_000, 154, pd.NA]
    payment = {
        "Id": "20",
        "TxnDate": "2026-03-05",
        "TotalAmt": 5,
        "DepositToAccountRef": {"value": "35", "name": "Bank"},
        "Line": [],
    }
    payments, _ = parse_transactions("payment", [payment, {**payment, "Id": "21", "DepositToAccountRef": None}])
    assert list(payments["deposit_account_id"].astype(object)) == ["35", pd.NA]


def test_the_home_currency_is_read_from_the_preferences() -> None:
    prefs = {"CurrencyPrefs": {"HomeCurrency": {"value": "kes "}}}
    assert qbo_parse.home_currency_of_preferences([prefs]) == "KES"
    assert qbo_parse.home_currency_of_preferences([]) is None
    assert qbo_parse.home_currency_of_preferences([{"CurrencyPrefs": {"HomeCurrency": {"value": ""}}}]) is None
    assert qbo_parse.home_currency_of_preferences([{"CurrencyPrefs": "odd"}]) is None
    data = qbo_parse.qbo_data_from_payloads({"Preferences": [prefs], "Invoice": []})
    assert data.home_currency == "KES"
    assert qbo_parse.qbo_data_from_payloads({"Invoice": []}).home_currency is None


# --------------------------------------------------------------------------- repeated Ids


def test_a_repeated_id_keeps_its_first_copy_and_flags_the_later_ones() -> None:
    first = invoice()
    changed = invoice(TotalAmt=Decimal("999.00"))
    other = invoice(Id="502", DocNumber="INV-502")
    data = qbo_data_from_payloads({"Invoice": [first, other, dict(first), changed]})
    tx = data.transactions
    assert tx["id"].tolist() == ["501", "502", "501", "501"]
    assert tx["data_ok"].tolist() == [True, True, False, False]
    assert tx["amount_cents"].tolist() == [16600, 16600, 16600, 99900]
    # the lines of the Id are there once (the first copy's), not once per copy
    assert sorted(data.lines.loc[data.lines["txn_id"] == "501", "line_no"].tolist()) == [1, 2]
    assert data.raw["Invoice"]["501"] is first


def test_payloads_without_repeated_ids_are_all_kept_as_they_are() -> None:
    payloads = [invoice(), invoice(Id="502"), invoice(Id=None), invoice(Id="")]
    first, repeats = split_repeated_ids(payloads)
    assert first == payloads and repeats == []
    data = qbo_data_from_payloads({"Invoice": payloads[:2]})
    assert data.transactions["data_ok"].tolist() == [True, True]


# --------------------------------------------------------------------------- typed invoice records


def frames_from_typed_records(payloads: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The invoices as a snapshot file holds them, read as typed records (None: not their shape)."""
    import simplejson

    from reconcile.sources.qbo_decode import decode_invoices

    records = decode_invoices(simplejson.dumps(payloads, use_decimal=True).encode("utf-8"))
    return None if records is None else qbo_parse.parse_invoice_records(records)


def frames_from_payloads(payloads: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same invoices decoded as payload dicts, the reference way."""
    import simplejson

    text = simplejson.dumps(payloads, use_decimal=True)
    return parse_transactions("invoice", json.loads(text, parse_float=Decimal))


@settings(max_examples=200, deadline=None)
@given(st.lists(transaction("invoice"), max_size=6))
def test_typed_invoice_records_give_the_payloads_frames(payloads: list[Any]) -> None:
    typed = frames_from_typed_records(payloads)
    if typed is None:
        return  # another shape: the payloads are parsed instead
    expected = frames_from_payloads(payloads)
    pd.testing.assert_frame_equal(typed[0], expected[0])
    pd.testing.assert_frame_equal(typed[1], expected[1])


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param([invoice()], id="usual"),
        pytest.param([invoice(TxnTaxDetail={}, TotalAmt=None, Line=None, DocNumber="")], id="absent-and-null"),
        pytest.param([invoice(TxnTaxDetail={"TotalTax": None}, CustomerRef={}, MetaData=None)], id="empty-refs"),
        pytest.param([invoice(PrivateNote="Voided", TotalAmt=0, ExchangeRate=Decimal("1.50"))], id="void-rate"),
        pytest.param([invoice(Id=7, TxnDate="2026-02-30"), invoice(Id=None)], id="odd-ids-dates"),
        pytest.param([invoice(HomeTotalAmt=Decimal("10.005"), DepositToAccountRef={"value": "35"})], id="home"),
        pytest.param([], id="none"),
    ],
)
def test_usual_invoices_are_read_as_typed_records_with_the_same_frames(payloads: list[Any]) -> None:
    typed = frames_from_typed_records(payloads)
    assert typed is not None
    expected = frames_from_payloads(payloads)
    pd.testing.assert_frame_equal(typed[0], expected[0])
    pd.testing.assert_frame_equal(typed[1], expected[1])


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            with_line({"Amount": 5, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {}}), id="discount"
        ),
        pytest.param(with_line({"Amount": 5, "DetailType": "SalesItemLineDetail"}), id="missing-detail"),
        pytest.param(invoice(CustomerRef="17"), id="odd-ref"),
        pytest.param(invoice(Line=[5]), id="odd-line"),
    ],
)
def test_other_shapes_are_left_to_the_payload_parser(payload: Any) -> None:
    assert frames_from_typed_records([payload]) is None
