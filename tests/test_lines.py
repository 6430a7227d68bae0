"""Line-level comparison (``reconcile.lines``): consistent lines raise nothing, one planted difference
raises exactly its finding.

The QBO side is built as QBO payloads (subtotal and discount lines, reordered lines, LineNum
present or not, line Ids) and read through the real parser, so the shapes QBO produces are what
the comparison sees; the AWRA side is built as frames, as the AWRA reader gives them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import frames as F
from reconcile.lines import pair_lines, side_by_side
from reconcile.match import match_records
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo_parse import qbo_data_from_payloads
from reconcile.transactions import reconcile_transactions
from tests.scenario import build_scenario

ITEMS = {"i1": "11", "i2": "12", "i3": "13", "i4": "14"}
TAXES = {"t1": "5", "t2": "6"}
ACCOUNTS = {"ac1": "81", "ac2": "82", "ac3": "83", "ac4": "84"}
METHODS = {"pm1": "3", "pm2": "4"}
UNMAPPED_ITEM = ("i9", "19")  # AWRA item without a mapping row: its line's item is not compared
DISCOUNT_ACCOUNT = "89"
DAY = "2026-03-10"
PARAMS = RunParams(
    run_id="lines",
    company="c",
    company_name="C",
    date_from=date(2026, 3, 1),
    date_to=date(2026, 3, 31),
    now=datetime(2026, 4, 1, tzinfo=UTC),
)
#: Findings a planted line difference may also raise on its record's header (the sums move).
HEADER_CONSEQUENCES = {"amount", "line_total"}


@dataclass
class Company:
    """AWRA rows (as frame dicts) and QBO payloads (as dicts) of one consistent company."""

    awra_txns: list[dict[str, Any]] = field(default_factory=list)
    awra_lines: list[dict[str, Any]] = field(default_factory=list)
    qbo: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"Invoice": [], "Bill": [], "JournalEntry": [], "Payment": []}
    )

    def data(self) -> tuple[AwraData, QboData]:
        maps = [
            ("customer", "c1", "58"),
            ("vendor", "v1", "70"),
            *(("item", a, q) for a, q in ITEMS.items()),
            *(("tax_code", a, q) for a, q in TAXES.items()),
            *(("account", a, q) for a, q in ACCOUNTS.items()),
            *(("payment_method", a, q) for a, q in METHODS.items()),
        ]
        mappings = pd.DataFrame(maps, columns=["mapping_type", "awra_id", "qbo_id"])
        empty = AwraData.empty()
        awra = AwraData(
            transactions=F.conform(pd.DataFrame(self.awra_txns), F.TRANSACTIONS),
            lines=F.conform(pd.DataFrame(self.awra_lines), F.LINES),
            masters=empty.masters,
            mappings=F.conform(mappings, F.MAPPINGS),
            sync_log=empty.sync_log,
            sync_runs=empty.sync_runs,
            data_quality=empty.data_quality,
        ).check()
        # QBO holds every record the mappings name (a mapping to nothing is a broken mapping)
        refs: dict[str, list[dict[str, Any]]] = {
            "Customer": [{"Id": "58", "DisplayName": "Customer 58", "Active": True}],
            "Vendor": [{"Id": "70", "DisplayName": "Vendor 70", "Active": True}],
            "Item": [{"Id": q, "Name": f"Item {q}", "Active": True} for q in ITEMS.values()],
            "TaxCode": [{"Id": q, "Name": f"Tax {q}", "Active": True} for q in TAXES.values()],
            "Account": [{"Id": q, "Name": f"Account {q}", "Active": True} for q in ACCOUNTS.values()],
            "PaymentMethod": [{"Id": q, "Name": f"Method {q}", "Active": True} for q in METHODS.values()],
        }
        payloads = {entity: list(rows) for entity, rows in self.qbo.items()}
        for entity, rows in refs.items():
            have = {r["Id"] for r in payloads.setdefault(entity, [])}
            payloads[entity] += [r for r in rows if r["Id"] not in have]
        return awra, qbo_data_from_payloads(payloads)


def _header(entity: str, awra_id: str, qbo_id: str, party: str | None, amount: int) -> dict[str, Any]:
    return {
        "entity": entity,
        "id": awra_id,
        "number": f"{entity[:3].upper()}-{awra_id}",
        "txn_date": pd.Timestamp(DAY),
        "party_id": party,
        "currency": "KES",
        "amount_cents": amount,
        "tax_cents": 0 if entity in ("invoice", "bill") else None,
        "line_total_cents": amount,
        "status": "posted",
        "is_void": False,
        "qbo_link": qbo_id,
        "in_window": True,
        "data_ok": True,
    }


def _qbo_head(entity: str, qbo_id: str, number: str, amount: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": qbo_id, "TxnDate": DAY, "CurrencyRef": {"value": "KES"}}
    out["PaymentRefNum" if entity == "payment" else "DocNumber"] = number
    if amount is not None:
        out["TotalAmt"] = amount / 100
    if entity in ("invoice", "bill"):
        out["TxnTaxDetail"] = {"TotalTax": 0}
    return out


def _qbo_lines(rng: random.Random, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """QBO's lines in an order of its own, numbered by their new place (or not numbered at all)."""
    order = list(lines)
    rng.shuffle(order)
    numbered = rng.random() < 0.7
    for place, line in enumerate(order, start=1):
        if numbered:
            line["LineNum"] = place
    return order


def build_company(rng: random.Random) -> Company:
    """A random, fully consistent company: invoices, bills, journals and payments, several lines each."""
    c = Company()
    invoices: list[tuple[str, str, int]] = []
    for k in range(rng.randint(2, 4)):
        aid, qid = f"a{k}", str(100 + k)
        lines, q_lines = [], []
        for no in range(1, rng.randint(1, 4) + 1):
            item, q_item = rng.choice([*ITEMS.items(), UNMAPPED_ITEM]) if rng.random() < 0.9 else UNMAPPED_ITEM
            tax = rng.choice(list(TAXES))
            amount = rng.randint(100, 999_999)
            lines.append({"line_no": no, "item_id": item, "tax_code_id": tax, "amount_cents": amount})
            q_lines.append(
                {
                    "Id": str(200 + no),
                    "Amount": amount / 100,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": q_item}, "TaxCodeRef": {"value": TAXES[tax]}},
                }
            )
        if rng.random() < 0.4:  # a discount: a negative AWRA line, QBO's DiscountLineDetail
            cut = rng.randint(1, min(5000, sum(x["amount_cents"] for x in lines) - 1))
            lines.append({"line_no": len(lines) + 1, "amount_cents": -cut})
            q_lines.append(
                {
                    "Id": str(200 + len(lines)),
                    "Amount": cut / 100,
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {"PercentBased": False, "DiscountAccountRef": {"value": DISCOUNT_ACCOUNT}},
                }
            )
        total = sum(x["amount_cents"] for x in lines)
        c.awra_txns.append(_header("invoice", aid, qid, "c1", total))
        c.awra_lines += [{"entity": "invoice", "txn_id": aid, **x} for x in lines]
        payload = _qbo_head("invoice", qid, f"INV-{aid}", total)
        payload["CustomerRef"] = {"value": "58"}
        subtotal = {"Amount": total / 100, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        payload["Line"] = [*_qbo_lines(rng, q_lines), subtotal]
        c.qbo["Invoice"].append(payload)
        invoices.append((aid, qid, total))

    for k in range(rng.randint(1, 3)):
        aid, qid = f"b{k}", str(300 + k)
        lines, q_lines = [], []
        for no in range(1, rng.randint(1, 4) + 1):
            tax = rng.choice(list(TAXES))
            amount = rng.randint(100, 999_999)
            q_line: dict[str, Any] = {"Id": str(400 + no), "Amount": amount / 100}
            if rng.random() < 0.5:
                item = rng.choice(list(ITEMS))
                lines.append({"line_no": no, "item_id": item, "tax_code_id": tax, "amount_cents": amount})
                q_line["DetailType"] = "ItemBasedExpenseLineDetail"
                q_line["ItemBasedExpenseLineDetail"] = {
                    "ItemRef": {"value": ITEMS[item]},
                    "TaxCodeRef": {"value": TAXES[tax]},
                }
            else:
                account = rng.choice(list(ACCOUNTS))
                lines.append({"line_no": no, "account_id": account, "tax_code_id": tax, "amount_cents": amount})
                q_line["DetailType"] = "AccountBasedExpenseLineDetail"
                q_line["AccountBasedExpenseLineDetail"] = {
                    "AccountRef": {"value": ACCOUNTS[account]},
                    "TaxCodeRef": {"value": TAXES[tax]},
                }
            q_lines.append(q_line)
        total = sum(x["amount_cents"] for x in lines)
        c.awra_txns.append(_header("bill", aid, qid, "v1", total))
        c.awra_lines += [{"entity": "bill", "txn_id": aid, **x} for x in lines]
        payload = _qbo_head("bill", qid, f"BIL-{aid}", total)
        payload["VendorRef"] = {"value": "70"}
        payload["Line"] = _qbo_lines(rng, q_lines)
        c.qbo["Bill"].append(payload)

    for k in range(rng.randint(1, 3)):
        aid, qid = f"j{k}", str(500 + k)
        debits = [rng.randint(100, 999_999) for _ in range(rng.randint(1, 3))]
        postings = [*(("Debit", d) for d in debits), ("Credit", sum(debits))]
        lines, q_lines = [], []
        for no, (side, amount) in enumerate(postings, start=1):
            account = rng.choice(list(ACCOUNTS))
            column = "debit_cents" if side == "Debit" else "credit_cents"
            lines.append({"line_no": no, "account_id": account, column: amount})
            q_lines.append(
                {
                    "Id": str(600 + no),
                    "Amount": amount / 100,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": {"PostingType": side, "AccountRef": {"value": ACCOUNTS[account]}},
                }
            )
        c.awra_txns.append(_header("journal", aid, qid, None, sum(debits)))
        c.awra_lines += [{"entity": "journal", "txn_id": aid, **x} for x in lines]
        payload = _qbo_head("journal", qid, f"JOU-{aid}", None)
        payload["Line"] = _qbo_lines(rng, q_lines)
        c.qbo["JournalEntry"].append(payload)

    # payments: partial and multi-invoice, one also paying an invoice beyond the window (resolved by its link)
    targets = [*invoices, ("a-old", "900", 10_000)]
    for k in range(rng.randint(1, 3)):
        aid, qid = f"p{k}", str(700 + k)
        paid = rng.sample(targets, rng.randint(1, min(3, len(targets))))
        apps = [(inv, q_inv, rng.randint(1, total)) for inv, q_inv, total in paid]
        apps.sort()
        method, account = rng.choice(list(METHODS)), rng.choice(list(ACCOUNTS))
        total = sum(a for *_, a in apps)
        c.awra_txns.append(_header("payment", aid, qid, "c1", total))
        c.awra_lines.append(
            {"entity": "payment", "txn_id": aid, "line_no": 0, "payment_method_id": method, "account_id": account}
        )
        c.awra_lines += [
            {"entity": "payment", "txn_id": aid, "line_no": no, "ref_id": inv, "ref_link": q_inv, "amount_cents": a}
            for no, (inv, q_inv, a) in enumerate(apps, start=1)
        ]
        payload = _qbo_head("payment", qid, f"PAY-{aid}", total)
        payload["CustomerRef"] = {"value": "58"}
        payload["PaymentMethodRef"] = {"value": METHODS[method]}
        payload["DepositToAccountRef"] = {"value": ACCOUNTS[account]}
        q_apps = [{"Amount": a / 100, "LinkedTxn": [{"TxnId": q_inv, "TxnType": "Invoice"}]} for _, q_inv, a in apps]
        payload["Line"] = _qbo_lines(rng, q_apps)
        c.qbo["Payment"].append(payload)
    return c


# --------------------------------------------------------------------------------------------
# plants: one difference in QBO's copy, and the finding it must raise


@dataclass(frozen=True)
class Planted:
    entity: str
    awra_id: str
    field: str
    line: str | None


def _awra_no(c: Company, entity: str, payload: dict[str, Any], line: dict[str, Any]) -> str:
    """The AWRA line_no of a QBO line built from it (its Id is 200/400/600 + line_no)."""
    base = {"invoice": 200, "bill": 400, "journal": 600}[entity]
    return str(int(line["Id"]) - base)


def _awra_id(c: Company, entity: str, payload: dict[str, Any]) -> str:
    return next(t["id"] for t in c.awra_txns if t["entity"] == entity and t["qbo_link"] == payload["Id"])


def plant(c: Company, rng: random.Random, kind: str) -> Planted | None:
    """Change QBO's copy once; None when the company has no line of that kind."""
    if kind in ("item", "tax", "amount", "extra_qbo", "extra_awra"):
        entity = rng.choice(["invoice", "bill"])
        qbo_entity = {"invoice": "Invoice", "bill": "Bill"}[entity]
        candidates = [
            (p, ln)
            for p in c.qbo[qbo_entity]
            for ln in p["Line"]
            if ln.get("DetailType") in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail")
            or (kind != "item" and ln.get("DetailType") == "AccountBasedExpenseLineDetail")
        ]
        if kind == "item":
            candidates = [(p, ln) for p, ln in candidates if ln[ln["DetailType"]]["ItemRef"]["value"] in ITEMS.values()]
        if not candidates:
            return None
        payload, line = rng.choice(candidates)
        detail = line.get(line["DetailType"], {})
        no = _awra_no(c, entity, payload, line)
        if kind == "item":
            others = [v for v in ITEMS.values() if v != detail["ItemRef"]["value"]]
            detail["ItemRef"] = {"value": rng.choice(others)}
            return Planted(entity, _awra_id(c, entity, payload), "line_item", no)
        if kind == "tax":
            others = [v for v in TAXES.values() if v != detail["TaxCodeRef"]["value"]]
            detail["TaxCodeRef"] = {"value": rng.choice(others)}
            return Planted(entity, _awra_id(c, entity, payload), "line_tax_code", no)
        if kind == "amount":
            line["Amount"] = round(line["Amount"] + rng.choice([-1, 1]) * rng.randint(1, 50) / 100, 2)
            return Planted(entity, _awra_id(c, entity, payload), "line_amount", no)
        if kind == "extra_awra":
            payload["Line"].remove(line)
            return Planted(entity, _awra_id(c, entity, payload), "line_extra", no)
        extra = dict(line, Id="999", Amount=round(line["Amount"] + 7.77, 2))
        extra.pop("LineNum", None)
        payload["Line"].insert(rng.randint(0, len(payload["Line"])), extra)
        return Planted(entity, _awra_id(c, entity, payload), "line_extra", "999")
    if kind in ("account", "posting"):
        pool = [(p, ln, "journal") for p in c.qbo["JournalEntry"] for ln in p["Line"]]
        if kind == "account":
            pool += [
                (p, ln, "bill")
                for p in c.qbo["Bill"]
                for ln in p["Line"]
                if ln["DetailType"] == "AccountBasedExpenseLineDetail"
            ]
        payload, line, entity = rng.choice(pool)
        detail = line[line["DetailType"]]
        no = _awra_no(c, entity, payload, line)
        if kind == "posting":
            detail["PostingType"] = "Credit" if detail["PostingType"] == "Debit" else "Debit"
            return Planted(entity, _awra_id(c, entity, payload), "line_posting", no)
        others = [v for v in ACCOUNTS.values() if v != detail["AccountRef"]["value"]]
        detail["AccountRef"] = {"value": rng.choice(others)}
        return Planted(entity, _awra_id(c, entity, payload), "line_account", no)
    payment = rng.choice(c.qbo["Payment"])
    awra_id = _awra_id(c, "payment", payment)
    if kind == "deposit_account":
        others = [v for v in ACCOUNTS.values() if v != payment["DepositToAccountRef"]["value"]]
        payment["DepositToAccountRef"] = {"value": rng.choice(others)}
        return Planted("payment", awra_id, "deposit_account", None)
    if kind == "payment_method":
        others = [v for v in METHODS.values() if v != payment["PaymentMethodRef"]["value"]]
        payment["PaymentMethodRef"] = {"value": rng.choice(others)}
        return Planted("payment", awra_id, "payment_method", None)
    # application: one application moved to an invoice this payment does not pay
    applied = {ln["LinkedTxn"][0]["TxnId"] for ln in payment["Line"]}
    free = [p["Id"] for p in c.qbo["Invoice"] if p["Id"] not in applied]
    if not free:
        return None
    line = rng.choice(payment["Line"])
    moved_from = line["LinkedTxn"][0]["TxnId"]
    line["LinkedTxn"] = [{"TxnId": rng.choice(free), "TxnType": "Invoice"}]
    no = next(
        x["line_no"]
        for x in c.awra_lines
        if x["entity"] == "payment" and x["txn_id"] == awra_id and x.get("ref_link") == moved_from
    )
    return Planted("payment", awra_id, "application", str(no))


PLANT_KINDS = (
    "item",
    "account",
    "amount",
    "tax",
    "posting",
    "extra_qbo",
    "extra_awra",
    "application",
    "deposit_account",
    "payment_method",
)
LINE_LEVEL = (*F.LINE_MISMATCH_FIELDS, "deposit_account", "payment_method")


def _twins(c: Company, planted: Planted) -> list[str | None]:
    """The planted line and the AWRA lines identical to it: which of two equal lines QBO's
    changed copy pairs with cannot be told from their content, and either is a right answer."""
    mine = [x for x in c.awra_lines if x["entity"] == planted.entity and x["txn_id"] == planted.awra_id]
    target = next((x for x in mine if str(x["line_no"]) == planted.line), None)
    if target is None:
        return [planted.line]

    def content(x: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in x.items() if k != "line_no"}

    return [str(x["line_no"]) for x in mine if content(x) == content(target)]


def _reconcile(c: Company) -> Any:
    awra, qbo = c.data()
    return reconcile_transactions(awra, qbo, PARAMS)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_consistent_lines_in_any_order_raise_no_finding_at_all(rng: random.Random) -> None:
    result = _reconcile(build_company(rng))
    assert result.findings.empty, result.findings[["entity", "awra_id", "field", "line", "awra_value", "qbo_value"]]
    assert all(t.unexplained_cents == 0 for t in result.totals)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), kind=st.sampled_from(PLANT_KINDS))
def test_one_planted_line_difference_raises_exactly_its_finding(rng: random.Random, kind: str) -> None:
    c = build_company(rng)
    planted = plant(c, rng, kind)
    if planted is None:
        return
    result = _reconcile(c)
    f = result.findings
    line_level = f[f["field"].isin(LINE_LEVEL).fillna(False)]
    got = [
        (e, a, fl, None if pd.isna(ln) else ln)
        for e, a, fl, ln in zip(
            line_level["entity"], line_level["awra_id"], line_level["field"], line_level["line"], strict=True
        )
    ]
    assert got in [[(planted.entity, planted.awra_id, planted.field, line)] for line in _twins(c, planted)]
    others = f[~f["field"].isin(LINE_LEVEL).fillna(False)]
    assert set(others["category"]) <= {"mismatch"}
    assert set(others["field"]) <= HEADER_CONSEQUENCES
    assert set(others["awra_id"]) <= {planted.awra_id}
    assert (line_level["effect_cents"] == 0).all() and (line_level["currency"] == "KES").all()
    assert [t.unexplained_cents for t in result.totals] == [0, 0, 0, 0]


# --------------------------------------------------------------------------------------------
# examples


def test_clean_scenario_records_have_no_line_finding() -> None:
    awra, qbo, params = build_scenario()
    f = reconcile_transactions(awra, qbo, params).findings
    lines = f[f["field"].isin(LINE_LEVEL).fillna(False)]
    # the only line findings are the lines of records whose line totals were planted
    assert sorted(zip(lines["awra_id"], lines["line"], strict=True)) == [
        ("a-1002", "1"),
        ("a-1008", "1"),
        ("j-4002", "1"),
        ("j-4002", "2"),
    ]
    assert set(lines["field"]) == {"line_amount"}
    assert set(lines["currency"]) == {"USD"}


def test_a_record_voided_on_one_side_gets_only_its_status_finding() -> None:
    c = build_company(random.Random(3))
    payload = c.qbo["Invoice"][0]
    payload["PrivateNote"] = "Voided"
    payload["TotalAmt"] = 0
    for line in payload["Line"]:
        line["Amount"] = 0
    f = _reconcile(c).findings
    assert list(f["field"]) == ["status"]


def test_unknown_mapping_skips_the_field_and_names_qbo_items() -> None:
    c = Company()
    c.awra_txns.append(_header("invoice", "a1", "101", "c1", 300))
    c.awra_lines += [
        {
            "entity": "invoice",
            "txn_id": "a1",
            "line_no": 1,
            "item_id": "i-nomap",
            "tax_code_id": "t1",
            "amount_cents": 100,
        },
        {"entity": "invoice", "txn_id": "a1", "line_no": 2, "item_id": "i1", "tax_code_id": "t1", "amount_cents": 200},
    ]
    payload = _qbo_head("invoice", "101", "INV-a1", 300)
    payload["CustomerRef"] = {"value": "58"}
    payload["Line"] = [
        {
            "Id": "1",
            "LineNum": 1,
            "Amount": 1.0,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "77"}, "TaxCodeRef": {"value": "5"}},
        },
        {
            "Id": "2",
            "LineNum": 2,
            "Amount": 2.0,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "12", "name": "Widgets"}, "TaxCodeRef": {"value": "5"}},
        },
    ]
    c.qbo["Invoice"].append(payload)
    c.qbo["Item"] = [{"Id": "12", "Name": "Widgets", "Active": True}]
    f = _reconcile(c).findings
    assert list(zip(f["field"], f["line"], f["qbo_value"], strict=True)) == [("line_item", "2", "Widgets (12)")]
    assert f.at[0, "awra_value"] == "i1 → QBO 11"


def test_lines_pair_by_content_when_qbo_reorders_and_by_position_when_content_differs() -> None:
    c = Company()
    c.awra_txns.append(_header("journal", "j1", "501", None, 300))
    c.awra_lines += [
        {"entity": "journal", "txn_id": "j1", "line_no": 1, "account_id": "ac1", "debit_cents": 100},
        {"entity": "journal", "txn_id": "j1", "line_no": 2, "account_id": "ac2", "debit_cents": 200},
        {"entity": "journal", "txn_id": "j1", "line_no": 3, "account_id": "ac3", "credit_cents": 300},
    ]

    def jl(no: int, side: str, account: str, amount: float) -> dict[str, Any]:
        return {
            "Id": str(no),
            "LineNum": no,
            "Amount": amount,
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": side, "AccountRef": {"value": account}},
        }

    payload = _qbo_head("journal", "501", "JOU-j1", None)
    # QBO: the credit first, the two debits swapped, and the 2.00 debit posted to account 84
    payload["Line"] = [jl(1, "Credit", "83", 3.0), jl(2, "Debit", "84", 2.0), jl(3, "Debit", "81", 1.0)]
    c.qbo["JournalEntry"].append(payload)
    awra, qbo = c.data()
    f = reconcile_transactions(awra, qbo, PARAMS).findings
    assert list(zip(f["field"], f["line"], f["awra_value"], f["qbo_value"], strict=True)) == [
        ("line_account", "2", "ac2 → QBO 82", "Account 84 (84)")
    ]
    matches = match_records(awra, qbo, PARAMS)
    pairs = pair_lines(
        "journal", pd.Series(["j1"], dtype="string"), pd.Series(["501"], dtype="string"), awra, qbo, PARAMS
    )
    a_no = awra.lines["line_no"].to_numpy()[pairs.awra_line]
    q_no = qbo.lines["line_no"].to_numpy()[pairs.qbo_line]
    assert sorted(zip(a_no.tolist(), q_no.tolist(), strict=True)) == [(1, 3), (2, 2), (3, 1)]
    rows = side_by_side("journal", "j1", "501", awra, qbo, PARAMS, matches)
    assert [(r["line"], r["differs"]) for r in rows] == [("1", []), ("2", ["line_account"]), ("3", [])]
    assert rows[1]["awra"] == "ac2 → QBO 82, debit, 2.00" and rows[1]["qbo"] == "Account 84 (84), debit, 2.00"


def test_journal_lines_with_unknown_accounts_pair_by_side_not_by_position() -> None:
    c = Company()
    c.awra_txns.append(_header("journal", "j1", "501", None, 100))
    # accounts without a mapping: the lines can only be told apart by their side
    c.awra_lines += [
        {"entity": "journal", "txn_id": "j1", "line_no": 1, "account_id": "ac8", "debit_cents": 100},
        {"entity": "journal", "txn_id": "j1", "line_no": 2, "account_id": "ac9", "credit_cents": 100},
    ]
    payload = _qbo_head("journal", "501", "JOU-j1", None)
    payload["Line"] = [
        {
            "Id": str(no),
            "LineNum": no,
            "Amount": 1.0,
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": side, "AccountRef": {"value": account}},
        }
        for no, side, account in ((1, "Credit", "83"), (2, "Debit", "84"))  # QBO lists the credit first
    ]
    c.qbo["JournalEntry"].append(payload)
    assert _reconcile(c).findings.empty


def test_application_to_an_invoice_beyond_the_window_resolves_through_its_link() -> None:
    c = build_company(random.Random(11))
    awra, qbo = c.data()
    old = awra.lines[awra.lines["ref_id"] == "a-old"]
    assert (old["ref_link"] == "900").all()
    assert "a-old" not in set(awra.transactions["id"])
    assert reconcile_transactions(awra, qbo, PARAMS).findings.empty


def test_line_only_qbo_has_is_named_by_its_qbo_line_id() -> None:
    c = Company()
    c.awra_txns.append(_header("bill", "b1", "301", "v1", 100))
    c.awra_lines.append(
        {"entity": "bill", "txn_id": "b1", "line_no": 1, "account_id": "ac1", "tax_code_id": "t1", "amount_cents": 100}
    )
    payload = _qbo_head("bill", "301", "BIL-b1", 100)
    payload["VendorRef"] = {"value": "70"}

    def bl(line_id: str, amount: float) -> dict[str, Any]:
        return {
            "Id": line_id,
            "Amount": amount,
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "81"}, "TaxCodeRef": {"value": "5"}},
        }

    payload["Line"] = [bl("1", 1.0), bl("17", 0.5)]
    c.qbo["Bill"].append(payload)
    f = _reconcile(c).findings
    extra = f[f["field"] == "line_extra"]
    assert list(zip(extra["line"], extra["awra_value"].isna(), extra["difference"], strict=True)) == [
        ("17", True, "-0.50")
    ]
    assert set(f["field"]) == {"line_extra", "line_total"}


@pytest.mark.parametrize("entity", ["invoice", "bill", "journal", "payment"])
def test_no_lines_on_either_side_is_no_finding(entity: str) -> None:
    awra = AwraData.empty()
    qbo = QboData.empty()
    assert (
        pair_lines(entity, pd.Series([], dtype="string"), pd.Series([], dtype="string"), awra, qbo, PARAMS).pair.size
        == 0
    )
    assert np.array_equal(
        pair_lines(entity, pd.Series(["x"], dtype="string"), pd.Series(["y"], dtype="string"), awra, qbo, PARAMS).pair,
        np.zeros(0, dtype=np.int64),
    )


def test_an_application_resolves_through_the_runs_invoice_pairing_before_the_recorded_link() -> None:
    c = build_company(random.Random(5))
    applied = [x for x in c.awra_lines if x["entity"] == "payment" and x.get("ref_id", "a-old") != "a-old"]
    assert applied
    for app in applied:
        app["ref_link"] = "stale-link"  # the invoice pairs by number in this run: its pair decides
    for txn in c.awra_txns:
        if txn["entity"] == "invoice":
            txn["qbo_link"] = None
    assert _reconcile(c).findings.empty
    # a run of payments alone pairs no invoice: the stale links are all it has, and they are wrong
    awra, qbo = c.data()
    alone = reconcile_transactions(awra, qbo, replace(PARAMS, entities=("payment",))).findings
    assert set(alone["field"]) == {"application"} and len(alone) >= len(applied)


def test_a_bill_line_of_the_other_kind_in_qbo_is_one_account_finding() -> None:
    c = Company()
    c.awra_txns.append(_header("bill", "b1", "301", "v1", 100))
    c.awra_lines.append(
        {"entity": "bill", "txn_id": "b1", "line_no": 1, "account_id": "ac1", "tax_code_id": "t1", "amount_cents": 100}
    )
    payload = _qbo_head("bill", "301", "BIL-b1", 100)
    payload["VendorRef"] = {"value": "70"}
    payload["Line"] = [
        {
            "Id": "1",
            "Amount": 1.0,
            "DetailType": "ItemBasedExpenseLineDetail",
            "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "12"}, "TaxCodeRef": {"value": "5"}},
        }
    ]
    c.qbo["Bill"].append(payload)
    f = _reconcile(c).findings
    assert list(zip(f["field"], f["line"], f["awra_value"], f["qbo_value"], strict=True)) == [
        ("line_account", "1", "ac1 → QBO 81", "no account (item Item 12 (12))")
    ]
