"""THE documented scenario: one small company that plants every transaction finding category.

Run window 2026-03-01 .. 2026-03-31, status filter ``posted`` (ready: approved, posted),
probable matches within 3 days, pending SLA 24 h, ``now`` 2026-04-01 06:00 UTC.

Each record below carries a comment saying what it plants. AWRA ids are text such as
``a-1002`` (invoice), ``p-2001`` (payment), ``b-3001`` (bill), ``j-4001`` (journal); QBO Ids
are numbers as text. Master data, mappings, QBO references and the sync log are built so that
the mapping/triage checks find their cases too (see ``MASTER_CASES``).

``build_scenario()`` returns ``(AwraData, QboData, RunParams)``; ``EXPECTED`` lists every
transaction finding as ``(entity, category, awra_id, qbo_id, field)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from reconcile import frames as F
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

WINDOW = (date(2026, 3, 1), date(2026, 3, 31))
NOW = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)


def _d(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _txn(
    entity: str,
    id: str,
    number: str | None,
    day: str,
    party: str | None,
    amount: int | None,
    *,
    tax: int | None = 0,
    line_total: int | None = None,
    status: str = "posted",
    currency: str = "USD",
    link: str | None = None,
    in_window: bool = True,
    data_ok: bool = True,
    void: bool | None = None,
    party_name: str | None = None,
) -> dict[str, Any]:
    return {
        "entity": entity,
        "id": id,
        "number": number,
        "txn_date": _d(day),
        "party_id": party,
        "party_name": party_name or (PARTY_NAMES.get(party) if party else None),
        "currency": currency,
        "amount_cents": amount,
        "tax_cents": tax,
        "line_total_cents": amount if line_total is None else line_total,
        "status": status,
        "is_void": (status == "void") if void is None else void,
        "qbo_link": link,
        "in_window": in_window,
        "data_ok": data_ok,
        "updated_at": _ts("2026-03-31T18:00:00"),
    }


PARTY_NAMES = {
    # AWRA masters
    "c-acme": "Acme Ltd",
    "c-beta": "Beta Stores",
    "c-gamma": "Gamma Traders",
    "c-delta": "Delta Foods",
    "c-echo": "Echo Ltd",
    "c-echo2": "Echo Limited",
    "c-fox": "Foxtrot Co",
    "v-supply": "Supplies Co",
    "v-power": "Power Utility",
    # QBO references
    "58": "Acme Ltd",
    "59": "Beta Stores",
    "61": "Delta Foods",
    "62": "Echo Ltd",
    "63": "Foxtrot Co",
    "70": "Supplies Co",
    "71": "Power Utility",
}

# fmt: off
AWRA_TXNS = [
    # invoice a-1001: synced, linked to QBO 101, identical on both sides -> no finding
    _txn("invoice", "a-1001", "INV-1001", "2026-03-02", "c-acme", 10000, tax=1600, link="101"),
    # a-1002: QBO 102 says 240.00 where AWRA says 250.00 (a line was edited in QBO) -> mismatch amount (+10.00)
    #         and mismatch line_total
    _txn("invoice", "a-1002", "INV-1002", "2026-03-03", "c-acme", 25000, link="102"),
    # a-1003: tax 16.00 in AWRA vs 14.00 in QBO (the tax code's rate differs) -> mismatch tax_amount
    _txn("invoice", "a-1003", "INV-1003", "2026-03-04", "c-acme", 11600, tax=1600, link="103"),
    # a-1004: dated the 10th in AWRA, the 12th in QBO (both in the window) -> mismatch txn_date
    _txn("invoice", "a-1004", "INV-1004", "2026-03-10", "c-acme", 5000, link="104"),
    # a-1005: AWRA party Beta (maps to QBO 59) but QBO 105 is on Acme (58) -> mismatch party
    _txn("invoice", "a-1005", "INV-1005", "2026-03-05", "c-beta", 7000, link="105"),
    # a-1006: USD in AWRA, KES in QBO -> mismatch currency
    _txn("invoice", "a-1006", "INV-1006", "2026-03-06", "c-acme", 8000, link="106"),
    # a-1007: posted in AWRA, voided in QBO -> mismatch status (+80.00)
    _txn("invoice", "a-1007", "INV-1007", "2026-03-07", "c-acme", 8000, link="107"),
    # a-1008: same total but the QBO lines add up to 90.00 -> mismatch line_total
    _txn("invoice", "a-1008", "INV-1008", "2026-03-08", "c-acme", 10000, link="108"),
    # a-1009: customer Gamma has no QBO mapping; the sync failed 3 times with the same error -> missing_in_qbo
    _txn("invoice", "a-1009", "INV-1009", "2026-03-09", "c-gamma", 4000),
    # a-1010: customer Foxtrot's sync failed before its mapping existed (mapping added since) -> missing_in_qbo
    _txn("invoice", "a-1010", "INV-1010", "2026-03-10", "c-fox", 3000),
    # (QBO 201 below has no AWRA record at all -> missing_in_awra)
    # a-1012: linked to QBO 112; QBO also holds 113 with the same DocNumber -> duplicate_in_qbo (113)
    _txn("invoice", "a-1012", "INV-1012", "2026-03-12", "c-acme", 6000, link="112"),
    # a-1013 and a-1013b carry the same number; a-1013 is linked to QBO 114 -> duplicate_in_awra (a-1013b)
    _txn("invoice", "a-1013", "INV-1013", "2026-03-13", "c-acme", 2000, link="114"),
    _txn("invoice", "a-1013b", "INV-1013", "2026-03-14", "c-acme", 2000),
    # a-1014: the sync log says succeeded as QBO 999, but QBO has no such record -> missing_in_qbo + sync_conflict
    _txn("invoice", "a-1014", "INV-1014", "2026-03-14", "c-acme", 1500, link="999"),
    # a-1015: the sync log says failed (timeout), but QBO 115 holds it -> sync_conflict "do not retry"
    _txn("invoice", "a-1015", "INV-1015", "2026-03-15", "c-acme", 1200),
    # a-1016: pending for 3 days (SLA 24 h), not in QBO -> missing_in_qbo + sync_conflict (stuck)
    _txn("invoice", "a-1016", "INV-1016", "2026-03-16", "c-acme", 900),
    # a-1018: still draft, not in QBO -> not_ready (informational)
    _txn("invoice", "a-1018", "INV-1018", "2026-03-18", "c-acme", 700, status="draft"),
    # a-1019: submitted in AWRA but already in QBO as 119 -> not_ready (-19.00: QBO counts it); 119 not missing
    _txn("invoice", "a-1019", "INV-1019", "2026-03-19", "c-acme", 1900, status="submitted"),
    # a-1020: total_amount is not a number (data_quality row); QBO 120 has it -> data_quality (-50.00)
    _txn("invoice", "a-1020", "INV-1020", "2026-03-20", "c-acme", None, data_ok=False, line_total=None),
    # a-1021: AWRA dated the 30th; QBO 121 was re-dated to April 2 (found by the look-up) -> mismatch txn_date
    _txn("invoice", "a-1021", "INV-1021", "2026-03-30", "c-acme", 4400, link="121"),
    # a-1022: looked up beyond the window (dated Feb 27) for QBO 122 dated Mar 2 -> mismatch txn_date (-33.00)
    _txn("invoice", "a-1022", "INV-1022", "2026-02-27", "c-acme", 3300, link="122", in_window=False),
    # a-1023: never synced; QBO 123 was keyed by hand (no DocNumber), same party/amount/date -> probable:
    #         mismatch number
    _txn("invoice", "a-1023", "INV-1023", "2026-03-23", "c-beta", 7500),
    # a-1024: no qbo_id recorded; the latest succeeded sync says QBO 124 (whose DocNumber was edited) -> paired
    #         by sync_log, no finding
    _txn("invoice", "a-1024", "INV-1024", "2026-03-24", "c-acme", 2400),
    # a-1025: customer Delta maps to an inactive QBO customer (61); the invoice itself agrees -> no finding
    _txn("invoice", "a-1025", "INV-1025", "2026-03-25", "c-delta", 2500, link="125"),
    # a-1026: customer Echo (one of two AWRA customers mapped to QBO 62) -> no finding
    _txn("invoice", "a-1026", "INV-1026", "2026-03-26", "c-echo", 2600, link="126"),
    # a-1027: voided in AWRA, still live in QBO 127 -> mismatch status (-27.00); void is final, not "not ready"
    _txn("invoice", "a-1027", "INV-1027", "2026-03-27", "c-acme", 2700, status="void", link="127"),
    # a-1028: approved (ready, but the run compares posted) and live in QBO 128 -> mismatch status (-28.00)
    _txn("invoice", "a-1028", "INV-1028", "2026-03-28", "c-acme", 2800, status="approved", link="128"),
    # a-1029 and a-1029b: two different invoices carry one number and both were synced (QBO 129, 131)
    #         -> duplicate_in_awra (a-1029b, the higher id, with its own QBO twin 131); effect 0
    _txn("invoice", "a-1029", "INV-1029", "2026-03-29", "c-acme", 2900, link="129"),
    _txn("invoice", "a-1029b", "INV-1029", "2026-03-29", "c-acme", 3100, link="131"),
    # payment p-2001: matched by PaymentRefNum, applied to a-1001 -> no finding
    _txn("payment", "p-2001", "P-2001", "2026-03-05", "c-acme", 10000, tax=None, link="2001"),
    # bill b-3001: matched -> no finding
    _txn("bill", "b-3001", "BILL-3001", "2026-03-03", "v-supply", 12000, link="3001"),
    # bill b-3002: never synced -> missing_in_qbo
    _txn("bill", "b-3002", "BILL-3002", "2026-03-04", "v-power", 5500),
    # journal j-4001: matched by number -> no finding
    _txn("journal", "j-4001", "JE-4001", "2026-03-31", None, 50000, tax=None),
    # journal j-4002: debits 600.00 in AWRA, 650.00 in QBO 402 -> mismatch amount (-50.00) and line_total
    _txn("journal", "j-4002", "JE-4002", "2026-03-31", None, 60000, tax=None, link="402"),
]

QBO_TXNS = [
    _txn("invoice", "101", "INV-1001", "2026-03-02", "58", 10000, tax=1600),
    _txn("invoice", "102", "INV-1002", "2026-03-03", "58", 24000),
    _txn("invoice", "103", "INV-1003", "2026-03-04", "58", 11600, tax=1400),
    _txn("invoice", "104", "INV-1004", "2026-03-12", "58", 5000),
    _txn("invoice", "105", "INV-1005", "2026-03-05", "58", 7000),
    _txn("invoice", "106", "INV-1006", "2026-03-06", "58", 8000, currency="KES"),
    _txn("invoice", "107", "INV-1007", "2026-03-07", "58", 8000, status="void"),
    _txn("invoice", "108", "INV-1008", "2026-03-08", "58", 10000, line_total=9000),
    # 201: keyed in QBO only -> missing_in_awra (-45.00)
    _txn("invoice", "201", "QB-ONLY-1", "2026-03-11", "58", 4500),
    _txn("invoice", "112", "INV-1012", "2026-03-12", "58", 6000),
    # 113: a second QBO invoice for INV-1012 -> duplicate_in_qbo (-60.00)
    _txn("invoice", "113", "INV-1012", "2026-03-12", "58", 6000),
    _txn("invoice", "114", "INV-1013", "2026-03-13", "58", 2000),
    _txn("invoice", "115", "INV-1015", "2026-03-15", "58", 1200),
    _txn("invoice", "119", "INV-1019", "2026-03-19", "58", 1900),
    _txn("invoice", "120", "INV-1020", "2026-03-20", "58", 5000),
    # 121: looked up by number beyond the window (dated April 2)
    _txn("invoice", "121", "INV-1021", "2026-04-02", "58", 4400, in_window=False),
    _txn("invoice", "122", "INV-1022", "2026-03-02", "58", 3300),
    # 123: keyed by hand, no DocNumber
    _txn("invoice", "123", None, "2026-03-23", "59", 7500),
    _txn("invoice", "124", "INV-1024-X", "2026-03-24", "58", 2400),
    _txn("invoice", "125", "INV-1025", "2026-03-25", "61", 2500),
    _txn("invoice", "126", "INV-1026", "2026-03-26", "62", 2600),
    _txn("invoice", "127", "INV-1027", "2026-03-27", "58", 2700),
    _txn("invoice", "128", "INV-1028", "2026-03-28", "58", 2800),
    _txn("invoice", "129", "INV-1029", "2026-03-29", "58", 2900),
    _txn("invoice", "131", "INV-1029", "2026-03-29", "58", 3100),
    # 130: voided in QBO, no AWRA record: outside the posted filter -> no finding
    _txn("invoice", "130", "QB-VOID-1", "2026-03-29", "58", 1300, status="void"),
    _txn("payment", "2001", "P-2001", "2026-03-05", "58", 10000, tax=None),
    _txn("bill", "3001", "BILL-3001", "2026-03-03", "70", 12000),
    _txn("journal", "401", "JE-4001", "2026-03-31", None, 50000, tax=None),
    _txn("journal", "402", "JE-4002", "2026-03-31", None, 65000, tax=None),
]
# fmt: on

#: Every transaction finding the scenario plants: (entity, category, awra_id, qbo_id, field).
EXPECTED: list[tuple[str, str, str | None, str | None, str | None]] = [
    ("invoice", "mismatch", "a-1002", "102", "amount"),
    ("invoice", "mismatch", "a-1002", "102", "line_total"),
    ("invoice", "mismatch", "a-1002", "102", "line_amount"),  # its one line: 250.00 vs 240.00
    ("invoice", "mismatch", "a-1003", "103", "tax_amount"),
    ("invoice", "mismatch", "a-1004", "104", "txn_date"),
    ("invoice", "mismatch", "a-1005", "105", "party"),
    ("invoice", "mismatch", "a-1006", "106", "currency"),
    ("invoice", "mismatch", "a-1007", "107", "status"),
    ("invoice", "mismatch", "a-1008", "108", "line_total"),
    ("invoice", "mismatch", "a-1008", "108", "line_amount"),
    ("invoice", "missing_in_qbo", "a-1009", None, None),
    ("invoice", "missing_in_qbo", "a-1010", None, None),
    ("invoice", "missing_in_awra", None, "201", None),
    ("invoice", "duplicate_in_qbo", "a-1012", "113", None),
    ("invoice", "duplicate_in_awra", "a-1013b", "114", None),
    ("invoice", "missing_in_qbo", "a-1014", None, None),
    ("invoice", "sync_conflict", "a-1014", None, None),
    ("invoice", "sync_conflict", "a-1015", "115", None),
    ("invoice", "missing_in_qbo", "a-1016", None, None),
    ("invoice", "sync_conflict", "a-1016", None, None),
    ("invoice", "not_ready", "a-1018", None, None),
    ("invoice", "not_ready", "a-1019", "119", None),
    ("invoice", "data_quality", "a-1020", None, "total_amount"),
    ("invoice", "mismatch", "a-1021", "121", "txn_date"),
    ("invoice", "mismatch", "a-1022", "122", "txn_date"),
    ("invoice", "mismatch", "a-1023", "123", "number"),
    ("invoice", "mismatch", "a-1027", "127", "status"),
    ("invoice", "mismatch", "a-1028", "128", "status"),
    ("invoice", "duplicate_in_awra", "a-1029b", "131", None),
    ("bill", "missing_in_qbo", "b-3002", None, None),
    ("journal", "mismatch", "j-4002", "402", "amount"),
    ("journal", "mismatch", "j-4002", "402", "line_total"),
    ("journal", "mismatch", "j-4002", "402", "line_amount"),  # line 1 (debit) ...
    ("journal", "mismatch", "j-4002", "402", "line_amount"),  # ... and line 2 (credit): 600.00 vs 650.00
]

#: Money effect (cents) of the findings that move the totals, keyed like ``EXPECTED``; every other
#: finding carries 0.
EXPECTED_EFFECTS: dict[tuple[str, str, str | None, str | None, str | None], int] = {
    ("invoice", "mismatch", "a-1002", "102", "amount"): 1000,
    # USD 80.00 in AWRA, KES 80.00 in QBO: +80.00 USD here, -80.00 KES as its other_effect
    ("invoice", "mismatch", "a-1006", "106", "currency"): 8000,
    ("invoice", "mismatch", "a-1007", "107", "status"): 8000,
    ("invoice", "missing_in_qbo", "a-1009", None, None): 4000,
    ("invoice", "missing_in_qbo", "a-1010", None, None): 3000,
    ("invoice", "missing_in_awra", None, "201", None): -4500,
    ("invoice", "duplicate_in_qbo", "a-1012", "113", None): -6000,
    ("invoice", "duplicate_in_awra", "a-1013b", "114", None): 2000,
    ("invoice", "missing_in_qbo", "a-1014", None, None): 1500,
    ("invoice", "missing_in_qbo", "a-1016", None, None): 900,
    ("invoice", "not_ready", "a-1019", "119", None): -1900,
    ("invoice", "data_quality", "a-1020", None, "total_amount"): -5000,
    ("invoice", "mismatch", "a-1021", "121", "txn_date"): 4400,
    ("invoice", "mismatch", "a-1022", "122", "txn_date"): -3300,
    ("invoice", "mismatch", "a-1027", "127", "status"): -2700,
    ("invoice", "mismatch", "a-1028", "128", "status"): -2800,
    ("bill", "missing_in_qbo", "b-3002", None, None): 5500,
    ("journal", "mismatch", "j-4002", "402", "amount"): -5000,
}

#: What the master data plants for the mapping/triage checks.
MASTER_CASES = {
    "customer_without_mapping": "c-gamma",  # used by a-1009
    "mapping_to_inactive_qbo_customer": ("c-delta", "61"),
    "two_awra_customers_one_qbo": (("c-echo", "c-echo2"), "62"),
    "tax_code_rate_differs": ("t-vat16", "5"),  # AWRA 16 %, QBO 14 %
    "failed_three_times_same_error": "a-1009",  # CUSTOMER_NOT_MAPPED x3
    "failed_mapping_now_exists": "a-1010",  # failed 2026-03-20, c-fox mapping added 2026-03-25
    "active_unused_item_without_mapping": "i-unused",
}


def _masters() -> pd.DataFrame:
    rows = [
        ("customer", "c-acme", "ACME", "Acme Ltd", True),
        ("customer", "c-beta", "BETA", "Beta Stores", True),
        ("customer", "c-gamma", "GAMMA", "Gamma Traders", True),  # no QBO mapping
        ("customer", "c-delta", "DELTA", "Delta Foods", True),  # mapped to inactive QBO 61
        ("customer", "c-echo", "ECHO", "Echo Ltd", True),  # mapped to QBO 62 ...
        ("customer", "c-echo2", "ECHO2", "Echo Limited", True),  # ... and so is this one
        ("customer", "c-fox", "FOX", "Foxtrot Co", True),  # mapping added after its failed sync
        ("vendor", "v-supply", "SUP", "Supplies Co", True),
        ("vendor", "v-power", "PWR", "Power Utility", True),
        ("item", "i-consult", "CONS", "Consulting", True),
        ("item", "i-unused", "UNUSED", "Unused Widget", True),  # active, no mapping, used by nothing
        ("tax_code", "t-vat16", "VAT16", "VAT 16%", True),  # QBO's code 5 is 14 %
        ("account", "ac-sales", "4000", "Sales", True),
        ("account", "ac-bank", "1000", "Bank", True),
        ("account", "ac-util", "6100", "Utilities", True),
        ("payment_method", "pm-mpesa", "MPESA", "M-Pesa", True),
    ]
    frame = pd.DataFrame(rows, columns=["master_type", "id", "code", "name", "active"])
    frame["updated_at"] = _ts("2026-02-01T00:00:00")
    frame["item_type"] = frame["master_type"].map({"item": "service"})
    frame["income_account_id"] = frame["master_type"].map({"item": "ac-sales"})
    frame["rate_percent"] = frame["id"].map({"t-vat16": "16"})
    frame["account_type"] = frame["id"].map({"ac-sales": "income", "ac-bank": "bank", "ac-util": "expense"})
    frame["method_type"] = frame["id"].map({"pm-mpesa": "mobile_money"})
    return F.conform(frame, F.MASTERS)


def _mappings() -> pd.DataFrame:
    rows = [
        ("customer", "c-acme", "58", "Acme Ltd", "2026-01-10"),
        ("customer", "c-beta", "59", "Beta Stores", "2026-01-10"),
        ("customer", "c-delta", "61", "Delta Foods", "2026-01-10"),
        ("customer", "c-echo", "62", "Echo Ltd", "2026-01-10"),
        ("customer", "c-echo2", "62", "Echo Ltd", "2026-02-10"),
        ("customer", "c-fox", "63", "Foxtrot Co", "2026-03-25"),
        ("vendor", "v-supply", "70", "Supplies Co", "2026-01-10"),
        ("vendor", "v-power", "71", "Power Utility", "2026-01-10"),
        ("item", "i-consult", "1", "Consulting", "2026-01-10"),
        ("tax_code", "t-vat16", "5", "VAT", "2026-01-10"),
        ("account", "ac-sales", "80", "Sales", "2026-01-10"),
        ("account", "ac-bank", "81", "Bank", "2026-01-10"),
        ("account", "ac-util", "82", "Utilities", "2026-01-10"),
        ("payment_method", "pm-mpesa", "3", "M-Pesa", "2026-01-10"),
    ]
    frame = pd.DataFrame(rows, columns=["mapping_type", "awra_id", "qbo_id", "qbo_name", "updated_at"])
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    frame["updated_by"] = "finance.admin"
    return F.conform(frame, F.MAPPINGS)


def _references() -> pd.DataFrame:
    rows = [
        ("customer", "58", "Acme Ltd", True, None, None, None, None),
        ("customer", "59", "Beta Stores", True, None, None, None, None),
        ("customer", "61", "Delta Foods", False, None, None, None, None),  # inactive
        ("customer", "62", "Echo Ltd", True, None, None, None, None),
        ("customer", "63", "Foxtrot Co", True, None, None, None, None),
        ("vendor", "70", "Supplies Co", True, None, None, None, None),
        ("vendor", "71", "Power Utility", True, None, None, None, None),
        ("item", "1", "Consulting", True, "Service", None, None, "80"),
        ("tax_code", "5", "VAT", True, None, None, "14", None),
        ("tax_rate", "7", "VAT 14", True, None, None, "14", None),
        ("account", "80", "Sales", True, "Income", "Revenue", None, None),
        ("account", "81", "Bank", True, "Bank", "Asset", None, None),
        ("account", "82", "Utilities", True, "Expense", "Expense", None, None),
        ("payment_method", "3", "M-Pesa", True, "NON_CREDIT_CARD", None, None, None),
    ]
    frame = pd.DataFrame(
        rows, columns=["ref_type", "id", "name", "active", "qbo_type", "classification", "rate_percent", "inc"]
    )
    frame["income_account_id"] = frame.pop("inc")
    frame["tax_rate_ids"] = frame["id"].map({"5": "7"})
    frame["updated_at"] = _ts("2026-02-01T00:00:00")
    return F.conform(frame, F.REFERENCES)


def _sync_log() -> pd.DataFrame:
    def row(n: int, rtype: str, rid: str, number: str | None, status: str, at: str, **kw: Any) -> dict[str, Any]:
        return {
            "id": f"s{n:03d}",
            "sync_run_id": kw.get("run", "r1"),
            "connector": "qbo",
            "record_type": rtype,
            "record_id": rid,
            "record_number": number,
            "status": status,
            "error_code": kw.get("code"),
            "message": kw.get("message"),
            "retry_count": kw.get("retries", 0),
            "qbo_id": kw.get("qbo"),
            "attempted_at": _ts(at),
        }

    not_mapped = {"code": "CUSTOMER_NOT_MAPPED", "message": "Customer Gamma Traders has no QBO mapping"}
    rows = [
        # synced records: one succeeded attempt each
        *[
            row(i, "invoice", f"a-{n}", f"INV-{n}", "succeeded", "2026-03-28T01:00:00", qbo=qbo)
            for i, (n, qbo) in enumerate(
                [(n, str(n - 900)) for n in (1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1012)] + [(1013, "114")],
                start=1,
            )
        ],
        # a-1009: failed three times with the same error, nothing fixed since
        row(20, "invoice", "a-1009", "INV-1009", "failed", "2026-03-10T01:00:00", retries=1, **not_mapped),
        row(21, "invoice", "a-1009", "INV-1009", "failed", "2026-03-11T01:00:00", retries=2, **not_mapped),
        row(22, "invoice", "a-1009", "INV-1009", "failed", "2026-03-12T01:00:00", retries=3, **not_mapped),
        # a-1010: failed on the missing mapping; the mapping was added on 2026-03-25
        row(
            23,
            "invoice",
            "a-1010",
            "INV-1010",
            "failed",
            "2026-03-20T01:00:00",
            retries=1,
            code="CUSTOMER_NOT_MAPPED",
            message="Customer Foxtrot Co has no QBO mapping",
        ),
        # a-1014: succeeded as QBO 999, which QBO does not have
        row(24, "invoice", "a-1014", "INV-1014", "succeeded", "2026-03-15T01:00:00", qbo="999"),
        # a-1015: failed on a timeout, but the invoice did reach QBO (115)
        row(
            25,
            "invoice",
            "a-1015",
            "INV-1015",
            "failed",
            "2026-03-16T01:00:00",
            retries=1,
            code="TIMEOUT",
            message="Read timed out",
        ),
        # a-1016: pending since 2026-03-29 (3 days before now, SLA 24 h)
        row(26, "invoice", "a-1016", "INV-1016", "pending", "2026-03-29T05:00:00"),
        # a-1024: no qbo_id in AWRA, but the succeeded attempt recorded QBO 124
        row(27, "invoice", "a-1024", "INV-1024", "failed", "2026-03-24T01:00:00", retries=1, code="TIMEOUT"),
        row(28, "invoice", "a-1024", "INV-1024", "succeeded", "2026-03-24T02:00:00", retries=2, qbo="124"),
        row(29, "payment", "p-2001", "P-2001", "succeeded", "2026-03-06T01:00:00", qbo="2001"),
        row(30, "bill", "b-3001", "BILL-3001", "succeeded", "2026-03-04T01:00:00", qbo="3001"),
        # another connector's row: ignored
        row(31, "bill", "b-3002", "BILL-3002", "succeeded", "2026-03-05T01:00:00", qbo="3002", run="x"),
    ]
    frame = pd.DataFrame(rows)
    frame.loc[frame["id"] == "s031", "connector"] = "other"
    return F.conform(frame, F.SYNC_LOG)


def _lines(txns: list[dict[str, Any]], side: str) -> pd.DataFrame:
    rows = []
    for t in txns:
        amount = t["line_total_cents"]
        if t["entity"] == "journal":
            account = "ac-bank" if side == "awra" else "81"
            other = "ac-sales" if side == "awra" else "80"
            rows.append(
                {"entity": "journal", "txn_id": t["id"], "line_no": 1, "account_id": account, "debit_cents": amount}
            )
            rows.append(
                {"entity": "journal", "txn_id": t["id"], "line_no": 2, "account_id": other, "credit_cents": amount}
            )
        elif t["entity"] == "payment":
            ref = "a-1001" if side == "awra" else "101"
            rows.append({"entity": "payment", "txn_id": t["id"], "line_no": 1, "ref_id": ref, "amount_cents": amount})
            # line 0: the payment's own refs (QBO: PaymentMethodRef / DepositToAccountRef)
            rows.append(
                {
                    "entity": "payment",
                    "txn_id": t["id"],
                    "line_no": 0,
                    "payment_method_id": "pm-mpesa" if side == "awra" else "3",
                    "account_id": "ac-bank" if side == "awra" else "81",
                }
            )
        elif t["entity"] == "bill":
            account = "ac-util" if side == "awra" else "82"
            tax = "t-vat16" if side == "awra" else "5"
            rows.append(
                {
                    "entity": "bill",
                    "txn_id": t["id"],
                    "line_no": 1,
                    "account_id": account,
                    "tax_code_id": tax,
                    "amount_cents": amount,
                }
            )
        else:
            item = "i-consult" if side == "awra" else "1"
            tax = "t-vat16" if side == "awra" else "5"
            rows.append(
                {
                    "entity": "invoice",
                    "txn_id": t["id"],
                    "line_no": 1,
                    "item_id": item,
                    "tax_code_id": tax,
                    "amount_cents": amount,
                }
            )
    return F.conform(pd.DataFrame(rows), F.LINES)


def _data_quality() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "table": "invoices",
                "entity": "invoice",
                "awra_id": "a-1020",
                "awra_number": "INV-1020",
                "field": "total_amount",
                "value": "12O.00",
                "problem": "total_amount is not a number",
            }
        ]
    )
    return F.conform(frame, F.DATA_QUALITY)


def _sync_runs() -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "id": "r1",
                "connector": "qbo",
                "started_at": _ts("2026-03-02T01:00:00"),
                "finished_at": _ts("2026-03-02T01:05:00"),
                "status": "completed",
                "triggered_by": "scheduler",
            },
        ]
    )
    return F.conform(frame, F.SYNC_RUNS)


def build_scenario() -> tuple[AwraData, QboData, RunParams]:
    """The scenario's AWRA and QBO data and its run parameters."""
    awra_txns = [dict(t) for t in AWRA_TXNS]
    qbo_txns = [dict(t) for t in QBO_TXNS]
    for t in qbo_txns:
        t["qbo_link"] = None
        t["is_void"] = t["status"] == "void"
        t["status"] = "void" if t["is_void"] else "posted"
    for t in awra_txns:
        t["branch"] = "NBO"
        t["updated_by"] = "clerk"
    awra = AwraData(
        transactions=F.conform(pd.DataFrame(awra_txns), F.TRANSACTIONS),
        lines=_lines(awra_txns, "awra"),
        masters=_masters(),
        mappings=_mappings(),
        sync_log=_sync_log(),
        sync_runs=_sync_runs(),
        data_quality=_data_quality(),
    ).check()
    qbo = QboData(
        transactions=F.conform(pd.DataFrame(qbo_txns), F.TRANSACTIONS),
        lines=_lines(qbo_txns, "qbo"),
        references=_references(),
    ).check()
    params = RunParams(
        run_id="scenario",
        company="demo",
        company_name="Demo Co",
        date_from=WINDOW[0],
        date_to=WINDOW[1],
        status="posted",
        now=NOW,
    )
    return awra, qbo, params
