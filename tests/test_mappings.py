"""Mapping checks on small hand-built frames (one master per situation)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile import frames as F
from reconcile.mappings import blocked_transactions, check_mappings, isin_fast, master_usage, usage_stats
from reconcile.match import match_records
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

T0 = "2026-11-01T08:00:00Z"


def frame(schema: F.Schema, rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return F.empty_frame(schema)
    return F.conform(pd.DataFrame(rows), schema)


def master(master_type: str, mid: str, code: str, name: str | None, active: bool = True, **extra) -> dict:
    return {
        "master_type": master_type,
        "id": mid,
        "code": code,
        "name": name,
        "active": active,
        "updated_at": T0,
        **extra,
    }


def mapping(mapping_type: str, awra_id: str, qbo_id: str | None, qbo_name: str | None) -> dict:
    return {
        "mapping_type": mapping_type,
        "awra_id": awra_id,
        "qbo_id": qbo_id,
        "qbo_name": qbo_name,
        "updated_at": T0,
        "updated_by": "amina",
    }


def ref(ref_type: str, rid: str, name: str, active: bool = True, **extra) -> dict:
    return {"ref_type": ref_type, "id": rid, "name": name, "active": active, **extra}


def txn(entity: str, tid: str, party: str | None, cents: int, status: str = "posted", in_window: bool = True) -> dict:
    return {
        "entity": entity,
        "id": tid,
        "number": f"{entity[:3].upper()}-{tid}",
        "txn_date": "2026-11-03",
        "party_id": party,
        "amount_cents": cents,
        "status": status,
        "in_window": in_window,
        "data_ok": True,
        "updated_at": T0,
    }


def line(entity: str, txn_id: str, line_no: int, **ids) -> dict:
    return {"entity": entity, "txn_id": txn_id, "line_no": line_no, **ids}


PARAMS = RunParams(
    run_id="run-1",
    company="default",
    company_name="Default",
    date_from=date(2026, 11, 1),
    date_to=date(2026, 11, 7),
    status="posted",
    now=datetime(2026, 11, 8, 5, 30, tzinfo=UTC),
)


def build() -> tuple[AwraData, QboData]:
    masters = [
        master("customer", "c1", "C-001", "Acme"),  # fine
        master("customer", "c2", "C-002", "Beta"),  # no mapping, used by 2 posted + 1 draft invoice
        master("customer", "c3", "C-003", "Gamma", active=False),  # inactive, unused, unmapped: fine
        master("customer", "c4", "C-004", "Delta", active=False),  # inactive but used in window (draft)
        master("customer", "c5", "C-005", "Eps"),  # mapping with a blank cached name: sound
        master("customer", "c6", "C-006", "Zeta"),  # maps to a QBO id that does not exist
        master("customer", "c7", "C-007", "Eta"),  # maps to an inactive QBO customer
        master("customer", "c8", "C-008", "Acme Two"),  # maps to the same QBO customer as c1
        master("customer", "c9", "C-009", "Omega"),  # maps to a QBO customer whose name is duplicated
        master("vendor", "v1", "V-001", "Supplies Co"),  # no mapping, used by a bill
        master("tax_code", "t1", "VAT16", "VAT 16%", rate_percent="16"),
        master("tax_code", "t2", "VAT8", "VAT 8%", rate_percent="8"),
        master("account", "a1", "4000", "Sales", account_type="income"),
        master("account", "a2", "1200", "Receivables", account_type="receivable"),
        master("account", "a3", "5000", "Costs", account_type="expense"),
        master("account", "a4", "5100", "Purchases", account_type="expense"),
        master("item", "i1", "SVC", "Consulting", item_type="service", income_account_id="a1"),
        master("item", "i2", "BOX", "Boxes", item_type="inventory", expense_account_id="a4"),
        master("payment_method", "p1", "CARD", "Visa", method_type="card"),
        master("payment_method", "p2", "CASH", "Cash", method_type="cash"),
        master("payment_method", "p3", "BANK", "Transfer", method_type="bank"),
    ]
    mappings = [
        mapping("customer", "c1", "58", "Acme Ltd"),
        mapping("customer", "c5", "61", "  "),
        mapping("customer", "c6", "99", "Zeta Ltd"),
        mapping("customer", "c7", "60", "Eta Ltd"),
        mapping("customer", "c8", "58", "Acme Ltd"),
        mapping("customer", "c9", "71", "omega corp"),
        mapping("tax_code", "t1", "5", "VAT 16"),
        mapping("tax_code", "t2", "6", "VAT 8"),
        mapping("account", "a1", "79", "Sales"),
        mapping("account", "a2", "80", "AR"),
        mapping("account", "a3", "81", "Costs"),
        mapping("account", "a4", "83", "Purchases"),
        mapping("item", "i1", "12", "Consulting"),
        mapping("item", "i2", "13", "Boxes"),
        mapping("payment_method", "p1", "3", "Visa"),
        mapping("payment_method", "p2", "4", "Cash"),
        mapping("payment_method", "p3", "5", "Bank transfer"),
    ]
    references = [
        ref("customer", "58", "Acme Ltd"),
        ref("customer", "61", "Eps Ltd"),
        ref("customer", "60", "Eta Ltd", active=False),
        ref("customer", "70", "Omega  Corp"),
        ref("customer", "71", "omega corp"),
        ref("customer", "72", "OMEGACORP", active=False),  # inactive: not a duplicate
        ref("vendor", "70", "Omega Corp"),  # another type: not a duplicate
        ref("tax_code", "5", "VAT 16", rate_percent="16.00"),
        ref("tax_code", "6", "VAT 8", rate_percent="7.5"),
        ref("account", "79", "Sales", qbo_type="Income", classification="Revenue"),
        ref("account", "80", "Checking", qbo_type="Bank", classification="Asset"),
        ref("account", "81", "Costs", classification="Expense"),
        ref("account", "82", "Other sales", qbo_type="Income", classification="Revenue"),
        ref("account", "83", "Purchases", qbo_type="CostofGoodsSold", classification="Expense"),
        ref("item", "12", "Consulting", qbo_type="Service", income_account_id="82"),
        ref("item", "13", "Boxes", qbo_type="Inventory", income_account_id="79", expense_account_id="83"),
        ref("payment_method", "3", "Visa", qbo_type="NON_CREDIT_CARD"),
        ref("payment_method", "4", "Cash", qbo_type="CREDIT_CARD"),
        ref("payment_method", "5", "Bank transfer", qbo_type="NON_CREDIT_CARD"),
    ]
    transactions = [
        txn("invoice", "1", "c2", 10_000),
        txn("invoice", "2", "c2", 25_000),
        txn("invoice", "3", "c2", 99_900, status="draft"),  # in window, does not pass the filter
        txn("invoice", "4", "c2", 50_000, in_window=False),  # looked-up row outside the window
        txn("invoice", "5", "c4", 7_000, status="draft"),
        txn("invoice", "6", "c1", 12_345),
        txn("bill", "1", "v1", 4_000),
        txn("payment", "1", "c1", 12_345),
    ]
    lines = [
        line("invoice", "1", 1, item_id="i1", tax_code_id="t2"),
        line("invoice", "1", 2, item_id="i1", tax_code_id="t2"),  # same masters twice: counted once
        line("invoice", "2", 1, item_id="i1", tax_code_id="t1"),
        line("invoice", "6", 1, item_id="i1", tax_code_id="t2"),
        line("bill", "1", 1, item_id="i2", tax_code_id="t1"),
        line("payment", "1", 0, payment_method_id="p1", account_id="a2"),
        line("payment", "1", 1, ref_id="6", amount_cents=12_345),
    ]
    awra = AwraData(
        transactions=frame(F.TRANSACTIONS, transactions),
        lines=frame(F.LINES, lines),
        masters=frame(F.MASTERS, masters),
        mappings=frame(F.MAPPINGS, mappings),
        sync_log=F.empty_frame(F.SYNC_LOG),
        sync_runs=F.empty_frame(F.SYNC_RUNS),
        data_quality=F.empty_frame(F.DATA_QUALITY),
    ).check()
    qbo = QboData(
        transactions=F.empty_frame(F.TRANSACTIONS),
        lines=F.empty_frame(F.LINES),
        references=frame(F.REFERENCES, references),
    ).check()
    return awra, qbo


@pytest.fixture(scope="module")
def findings() -> pd.DataFrame:
    awra, qbo = build()
    return check_mappings(awra, qbo, PARAMS)


def rows(findings: pd.DataFrame, category: str, entity: str | None = None) -> pd.DataFrame:
    keep = findings["category"] == category
    if entity:
        keep &= findings["entity"] == entity
    return findings.loc[keep]


def one(findings: pd.DataFrame, category: str, awra_id: str, field: str | None = None) -> pd.Series:
    sel = findings.loc[(findings["category"] == category) & (findings["awra_id"] == awra_id)]
    if field is not None:
        sel = sel.loc[sel["field"] == field]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def test_output_follows_the_findings_schema_and_leaves_inputs_alone(findings):
    F.check_frame(findings, F.FINDINGS)
    assert set(findings["category"]) <= {"mapping_missing", "mapping_broken", "mapping_duplicate", "mapping_mismatch"}
    assert (findings["effect_cents"] == 0).all()
    assert (findings["run_id"] == "run-1").all()
    awra, qbo = build()
    before = (awra.masters.copy(), awra.mappings.copy(), awra.transactions.copy(), qbo.references.copy())
    check_mappings(awra, qbo, PARAMS)
    pd.testing.assert_frame_equal(awra.masters, before[0])
    pd.testing.assert_frame_equal(awra.mappings, before[1])
    pd.testing.assert_frame_equal(awra.transactions, before[2])
    pd.testing.assert_frame_equal(qbo.references, before[3])


def test_missing_mapping_of_used_and_active_records_with_blocks(findings):
    missing = rows(findings, "mapping_missing")
    assert set(missing["awra_id"]) == {"c2", "c4", "v1"}  # c3 is inactive and unused
    beta = one(findings, "mapping_missing", "c2")
    assert beta["entity"] == "customer"
    assert beta["awra_number"] == "C-002"
    assert beta["party"] == "Beta"
    # invoices 1 and 2 (posted, in window); not the draft 3 nor the out-of-window 4
    assert beta["blocks_count"] == 2
    assert beta["blocks_cents"] == 35_000
    assert "Map customer C-002 'Beta' to its QBO customer" in beta["action"]
    assert "2 transactions" in beta["message"] and "350.00" in beta["message"]
    delta = one(findings, "mapping_missing", "c4")  # inactive, used by a draft only
    assert delta["blocks_count"] == 0
    assert delta["blocks_cents"] == 0
    assert one(findings, "mapping_missing", "v1")["blocks_count"] == 1


def test_broken_mapping_absent_or_inactive(findings):
    broken = rows(findings, "mapping_broken")
    assert set(broken["awra_id"]) == {"c6", "c7"}
    zeta = one(findings, "mapping_broken", "c6")
    assert zeta["qbo_id"] == "99"
    assert zeta["qbo_value"] == "absent"
    eta = one(findings, "mapping_broken", "c7")
    assert eta["qbo_value"] == "inactive"
    assert "Reactivate QBO customer 60 'Eta Ltd'" in eta["action"]


def test_duplicate_mapping_two_awra_records_one_qbo_record(findings):
    dup = rows(findings, "mapping_duplicate", "customer")
    two_awra = dup.loc[dup["field"] == "qbo_id"]
    assert list(two_awra["awra_id"]) == ["c8"]  # one row per extra AWRA record; c1 is kept
    assert two_awra.iloc[0]["qbo_id"] == "58"
    assert "C-001" in two_awra.iloc[0]["message"]


def test_duplicate_names_in_qbo_ignoring_case_and_spacing(findings):
    dup = rows(findings, "mapping_duplicate", "customer")
    by_name = dup.loc[dup["field"] == "qbo_name"]
    assert len(by_name) == 1  # 70 and 71 (72 is inactive; vendor 70 is another type)
    row = by_name.iloc[0]
    assert row["qbo_id"] == "71"
    assert row["awra_id"] == "c9"  # the AWRA customer mapped to the duplicate
    assert "70, 71" in row["message"]
    assert rows(findings, "mapping_duplicate", "vendor").empty


def test_mismatches(findings):
    tax = one(findings, "mapping_mismatch", "t2", "rate_percent")
    assert (tax["awra_value"], tax["qbo_value"]) == ("8", "7.5")
    assert rows(findings, "mapping_mismatch", "tax_code")["awra_id"].tolist() == ["t2"]  # "16" == "16.00"
    # t2 is used by invoice 1 and 6 (posted): blocks both
    assert tax["blocks_count"] == 2
    assert tax["blocks_cents"] == 22_345
    account = one(findings, "mapping_mismatch", "a2", "account_type")
    assert (account["awra_value"], account["qbo_value"]) == ("receivable", "Bank")
    assert set(rows(findings, "mapping_mismatch", "account")["awra_id"]) == {"a2"}  # a3 by Classification, a4 ok
    item = one(findings, "mapping_mismatch", "i1", "income_account")
    assert (item["awra_value"], item["qbo_value"]) == ("79", "82")
    assert "wrong income category" in item["cause"]
    assert rows(findings, "mapping_mismatch", "item")["awra_id"].tolist() == ["i1"]
    methods = rows(findings, "mapping_mismatch", "payment_method")
    assert set(methods["awra_id"]) == {"p1", "p2"}  # card->non-card and cash->card; p3 fine
    assert one(findings, "mapping_mismatch", "p1")["blocks_count"] == 1


def test_a_broken_account_mapping_is_reported_once_not_again_on_the_items_posting_to_it():
    awra, qbo = build()
    maps = awra.mappings.copy()
    maps.loc[maps["awra_id"] == "a1", "qbo_id"] = "97"  # Sales mapped to no QBO account at all
    found = check_mappings(AwraData(**{**awra.__dict__, "mappings": maps}), qbo, PARAMS)
    assert found.loc[found["awra_id"] == "a1", "category"].tolist() == ["mapping_broken"]
    assert found.loc[(found["awra_id"] == "i1") & (found["field"] == "income_account")].empty
    # mapped to a real QBO account other than the item's: still the item's mismatch
    maps.loc[maps["awra_id"] == "a1", "qbo_id"] = "80"
    found = check_mappings(AwraData(**{**awra.__dict__, "mappings": maps}), qbo, PARAMS)
    item = found.loc[(found["awra_id"] == "i1") & (found["field"] == "income_account")]
    assert item[["awra_value", "qbo_value"]].values.tolist() == [["80", "82"]]


def test_usage_through_party_lines_and_item_accounts():
    awra, _ = build()
    usage = master_usage(awra, PARAMS)
    inv1 = usage.loc[(usage["entity"] == "invoice") & (usage["txn_id"] == "1")]
    assert set(zip(inv1["master_type"], inv1["master_id"], strict=True)) == {
        ("customer", "c2"),
        ("item", "i1"),
        ("tax_code", "t2"),
        ("account", "a1"),  # the item's income account
    }
    bill = usage.loc[usage["entity"] == "bill"]
    assert ("account", "a4") in set(zip(bill["master_type"], bill["master_id"], strict=True))  # expense account
    stats = usage_stats(awra, PARAMS).set_index(["master_type", "master_id"])
    assert stats.loc[("account", "a1"), "blocks_count"] == 3  # invoices 1, 2, 6
    assert stats.loc[("customer", "c4"), "used"]


def test_entity_filter_limits_blocks():
    awra, qbo = build()
    params = RunParams(**{**PARAMS.__dict__, "entities": ("bill",)})
    found = check_mappings(awra, qbo, params)
    beta = found.loc[(found["category"] == "mapping_missing") & (found["awra_id"] == "c2")]
    assert beta.iloc[0]["blocks_count"] == 0  # still reported (active) but blocks nothing in a bill-only run
    assert found.loc[(found["category"] == "mapping_missing") & (found["awra_id"] == "v1"), "blocks_count"].iloc[0] == 1


def test_empty_inputs_give_no_findings():
    found = check_mappings(AwraData.empty(), QboData.empty(), PARAMS)
    F.check_frame(found, F.FINDINGS)
    assert found.empty


def test_a_blank_cached_name_is_no_finding_when_the_qbo_id_is_sound(findings):
    # c5's mapping names active QBO customer 61 and caches no name: nothing to report
    assert findings.loc[findings["awra_id"] == "c5"].empty


def test_only_a_sound_qbo_id_makes_a_mapping_sound_whatever_its_cached_name():
    awra, qbo = build()
    names = [None, "", "  ", "Totally different", "Eps Ltd"]
    for cached in names:
        maps = awra.mappings.copy()
        maps.loc[maps["awra_id"] == "c5", "qbo_name"] = cached
        found = check_mappings(AwraData(**{**awra.__dict__, "mappings": maps}), qbo, PARAMS)
        assert found.loc[found["awra_id"] == "c5"].empty, cached
    # the same blank-named mapping pointing nowhere, or at an inactive record, is still reported
    for qbo_id, category in (("98", "mapping_broken"), ("60", "mapping_broken"), (None, "mapping_missing")):
        maps = awra.mappings.copy()
        maps.loc[maps["awra_id"] == "c5", ["qbo_id", "qbo_name"]] = [qbo_id, None]
        found = check_mappings(AwraData(**{**awra.__dict__, "mappings": maps}), qbo, PARAMS)
        assert found.loc[found["awra_id"] == "c5", "category"].tolist() == [category], qbo_id


def test_a_qbo_party_with_a_blank_display_name_is_a_mapping_mismatch():
    awra, qbo = build()
    refs = qbo.references.copy()
    refs.loc[(refs["ref_type"] == "customer") & (refs["id"] == "61"), "name"] = pd.NA
    found = check_mappings(awra, QboData(**{**qbo.__dict__, "references": refs}), PARAMS)
    row = one(found, "mapping_mismatch", "c5", "qbo_name")
    assert row["awra_value"] == "Eps" and pd.isna(row["qbo_value"])
    assert "display name is blank" in row["message"]
    assert len(found.loc[found["awra_id"] == "c5"]) == 1
    # an inactive nameless record is reported broken, not also nameless
    refs.loc[(refs["ref_type"] == "customer") & (refs["id"] == "61"), "active"] = False
    found = check_mappings(awra, QboData(**{**qbo.__dict__, "references": refs}), PARAMS)
    assert found.loc[found["awra_id"] == "c5", "category"].tolist() == ["mapping_broken"]


def _us_tax_company(codes: list[tuple[str, str, str | None]]) -> tuple[AwraData, QboData]:
    """Tax codes ``(awra_id, rate, qbo_id)`` used by one posted invoice each, mapped with blank names."""
    awra = AwraData(
        transactions=frame(F.TRANSACTIONS, [txn("invoice", str(i), None, 100) for i, _ in enumerate(codes)]),
        lines=frame(F.LINES, [line("invoice", str(i), 1, tax_code_id=code) for i, (code, _, _) in enumerate(codes)]),
        masters=frame(F.MASTERS, [master("tax_code", c, c.upper(), c, rate_percent=r) for c, r, _ in codes]),
        mappings=frame(F.MAPPINGS, [mapping("tax_code", c, q, None) for c, _, q in codes]),
        sync_log=F.empty_frame(F.SYNC_LOG),
        sync_runs=F.empty_frame(F.SYNC_RUNS),
        data_quality=F.empty_frame(F.DATA_QUALITY),
    ).check()
    return awra, QboData.empty()


def test_us_pseudo_tax_codes_tax_and_non_are_sound_mapping_targets():
    # QBO has no TaxCode entity at all here, as a US company's query for TaxCode never shows TAX/NON
    awra, qbo = _us_tax_company([("ca", "8", "TAX"), ("ny", "4", "TAX"), ("exempt", "0", "NON")])
    assert check_mappings(awra, qbo, PARAMS).empty  # two codes sending TAX are not duplicates


def test_us_pseudo_tax_codes_still_raise_real_alarms():
    awra, qbo = _us_tax_company([("vat", "16", "NON"), ("odd", "8", "tax"), ("none", "8", None)])
    found = check_mappings(awra, qbo, PARAMS)
    rate = one(found, "mapping_mismatch", "vat", "rate_percent")  # NON means 0 %
    assert (rate["awra_value"], rate["qbo_value"]) == ("16", "0")
    assert one(found, "mapping_broken", "odd")["qbo_value"] == "absent"  # Ids are case-sensitive
    assert one(found, "mapping_missing", "none")["field"] == "qbo_id"
    assert len(found) == 3
    # TAX is a tax code only: an item mapped to "TAX" is broken
    item = AwraData(
        **{
            **awra.__dict__,
            "masters": frame(F.MASTERS, [master("item", "i9", "X", "X")]),
            "mappings": frame(F.MAPPINGS, [mapping("item", "i9", "TAX", None)]),
        }
    )
    assert check_mappings(item, qbo, PARAMS)["category"].tolist() == ["mapping_broken"]


def _qbo_twin(tid: str, number: str, cents: int) -> dict:
    return {**txn("invoice", tid, "58", cents), "number": number, "qbo_link": None}


def _attempt(aid: str, record_id: str, status: str, minute: int) -> dict:
    return {
        "id": aid,
        "connector": "qbo",
        "record_type": "invoice",
        "record_id": record_id,
        "record_number": f"INV-{record_id}",
        "status": status,
        "retry_count": 0,
        "attempted_at": f"2026-11-05T08:{minute:02d}:00Z",
    }


def test_blocks_count_only_transactions_not_in_qbo_or_failing_to_sync():
    awra, qbo = build()
    # c2 is unmapped and used by posted invoices 1 and 2: invoice 1 is in QBO (by number) and
    # synced, invoice 2 is in QBO too but its latest sync attempt failed
    qbo = QboData(**{**qbo.__dict__, "transactions": frame(F.TRANSACTIONS, [_qbo_twin("901", "INV-1", 10_000)])})
    found = check_mappings(awra, qbo, PARAMS)
    beta = one(found, "mapping_missing", "c2")
    assert (beta["blocks_count"], beta["blocks_cents"]) == (1, 25_000)  # invoice 2 only (not in QBO)
    qbo2 = QboData(
        **{
            **qbo.__dict__,
            "transactions": frame(
                F.TRANSACTIONS, [_qbo_twin("901", "INV-1", 10_000), _qbo_twin("902", "INV-2", 25_000)]
            ),
        }
    )
    log = frame(
        F.SYNC_LOG,
        [_attempt("s1", "1", "succeeded", 1), _attempt("s2", "2", "succeeded", 1), _attempt("s3", "2", "failed", 2)],
    )
    awra2 = AwraData(**{**awra.__dict__, "sync_log": log})
    beta = one(check_mappings(awra2, qbo2, PARAMS), "mapping_missing", "c2")
    assert (beta["blocks_count"], beta["blocks_cents"]) == (1, 25_000)  # invoice 2: its sync fails
    both_synced = AwraData(**{**awra.__dict__, "sync_log": log.iloc[:2]})
    beta = one(check_mappings(both_synced, qbo2, PARAMS), "mapping_missing", "c2")
    assert (beta["blocks_count"], beta["blocks_cents"]) == (0, 0)  # still reported: it is used and active
    assert "blocks no transaction" in beta["message"]


def test_blocked_transactions_from_the_pairing_frame():
    awra, qbo = build()
    qbo = QboData(**{**qbo.__dict__, "transactions": frame(F.TRANSACTIONS, [_qbo_twin("901", "INV-1", 10_000)])})
    blocked = blocked_transactions(match_records(awra, qbo, PARAMS), awra)
    assert list(blocked.columns) == ["entity", "id"]
    pairs = set(zip(blocked["entity"], blocked["id"], strict=True))
    assert ("invoice", "1") not in pairs  # in QBO, no failing sync
    assert {("invoice", "2"), ("invoice", "6"), ("bill", "1"), ("payment", "1")} <= pairs


def test_blocked_money_is_never_added_across_currencies():
    awra, qbo = build()
    # beta's blocked invoices: both KES in build(); then one of them in USD
    one_currency = check_mappings(
        AwraData(**{**awra.__dict__, "transactions": awra.transactions.assign(currency="KES")}), qbo, PARAMS
    )
    beta = one(one_currency, "mapping_missing", "c2")
    assert (beta["blocks_cents"], beta["currency"]) == (35_000, "KES")
    assert "350.00 KES" in beta["message"]

    t = awra.transactions.assign(currency="KES")
    t.loc[(t["entity"] == "invoice") & (t["id"] == "2"), "currency"] = "USD"
    two = check_mappings(AwraData(**{**awra.__dict__, "transactions": t}), qbo, PARAMS)
    beta = one(two, "mapping_missing", "c2")
    assert beta["blocks_count"] == 2
    assert pd.isna(beta["blocks_cents"]) and pd.isna(beta["currency"])  # no single sum of two currencies
    assert "100.00 KES and 250.00 USD" in beta["message"]


_TEXTS = st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "a", "A", "b", "10", "é", "a\x1fb"])), max_size=12)


@given(
    series=_TEXTS,
    values=st.lists(st.one_of(st.none(), st.sampled_from(["", "a", "b", "10", "é", "zz"]), st.just(10)), max_size=6),
    series_dtype=st.sampled_from(["str", "string", "object"]),
    values_dtype=st.sampled_from(["str", "string", "object"]),
)
def test_isin_fast_is_isin_whatever_the_storage(series, values, series_dtype, values_dtype):
    # Arrow-held text is looked up in Arrow, the rest by hashing Python objects: the same answer
    column = pd.Series(series, dtype=series_dtype)
    if values_dtype != "object":
        values = [v if v is None else str(v) for v in values]
    wanted = pd.Series(values, dtype=values_dtype)
    expected = pd.Series(series, dtype=object).isin([v for v in values if v is not None]).to_numpy()
    assert isin_fast(column, wanted).tolist() == expected.tolist()
