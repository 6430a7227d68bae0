"""A real US sandbox company, mirrored exactly into AWRA, reconciles with no finding at all.

QBO side: the Intuit sandbox payloads airbyte recorded (``fixtures/qbo-samples``, see INDEX.txt:
two invoices with ``TAX`` line tax codes and a subtotal line, a partial payment, a bill with
``NON`` lines, an opening-balance journal, and the reference records the subset holds), read by
the real parser. The few reference records those transactions name but the copied subset does
not hold (customer 3, vendor 46, items, accounts) are built from the references' own Id and name,
in QBO's shape. AWRA side: an SQLite database in the CONTRACTS §1 tables, read by the real
reader, holding the same records line for line, every master mapped with a *blank* cached
``qbo_name`` (NULL or empty), and a succeeded sync attempt per record. A US company's lines carry
the pseudo tax codes ``TAX`` / ``NON``: AWRA's tax codes map to them.

Then each real alarm is planted once on that clean company and must still be raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile.config import AwraSettings
from reconcile.model import AwraData, QboData, RunResult
from reconcile.params import RunParams
from reconcile.reconciliation import reconcile
from reconcile.sources.awra import read_awra
from reconcile.sources.awra_schema import awra_metadata
from reconcile.sources.qbo_parse import qbo_data_from_payloads
from reconcile.triage import DEFAULT_RULES_PATH, load_rules

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples" / "airbyte_expected_records_subset.jsonl"

#: airbyte stream -> QBO entity name
STREAMS = {
    "invoices": "Invoice",
    "payments": "Payment",
    "bills": "Bill",
    "journal_entries": "JournalEntry",
    "customers": "Customer",
    "items": "Item",
    "accounts": "Account",
    "payment_methods": "PaymentMethod",
    "tax_codes": "TaxCode",
    "tax_rates": "TaxRate",
}

PARAMS = RunParams(
    run_id="us-sandbox",
    company="sandbox",
    company_name="Sandbox Company US",
    date_from=date(2023, 2, 1),
    date_to=date(2023, 2, 28),
    status="posted",
    qbo_environment="sandbox",
    now=datetime(2023, 3, 1, 6, 0, tzinfo=UTC),
)
T0 = datetime(2023, 2, 19, 9, 0)


def sandbox_payloads() -> dict[str, list[dict[str, Any]]]:
    """The recorded sandbox entities by QBO entity name (airbyte's own cursor key removed)."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in STREAMS.values()}
    for text in SAMPLES.read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        if record["stream"] in STREAMS:
            data = {k: v for k, v in record["data"].items() if k != "airbyte_cursor"}
            out[STREAMS[record["stream"]]].append(data)
    return out


def _meta() -> dict[str, str]:
    return {"CreateTime": "2023-02-10T14:42:05-08:00", "LastUpdatedTime": "2023-02-10T14:42:05-08:00"}


#: Reference records the transactions name that the copied subset does not hold: (entity, Id,
#: name, extra fields). Account types are those of the sandbox's chart of accounts.
NAMED_ONLY = (
    ("Customer", "3", "Cool Cars", {}),
    ("Vendor", "46", "Norton Lumber and Building Materials", {}),
    ("Item", "1", "Services", {"Type": "Service"}),
    ("Item", "11", "Pump", {"Type": "Inventory"}),
    ("Item", "14", "Sod", {"Type": "Inventory"}),
    ("Item", "16", "Sprinkler Heads", {"Type": "Inventory"}),
    ("Item", "17", "Sprinkler Pipes", {"Type": "Inventory"}),
    ("Account", "4", "Undeposited Funds", {"AccountType": "Other Current Asset", "Classification": "Asset"}),
    ("Account", "33", "Accounts Payable (A/P)", {"AccountType": "Accounts Payable", "Classification": "Liability"}),
    ("Account", "34", "Opening Balance Equity", {"AccountType": "Equity", "Classification": "Equity"}),
    ("Account", "38", "Truck:Original Cost", {"AccountType": "Fixed Asset", "Classification": "Asset"}),
    ("Account", "79", "Sales of Product Income", {"AccountType": "Income", "Classification": "Revenue"}),
    ("Account", "80", "Cost of Goods Sold", {"AccountType": "Cost of Goods Sold", "Classification": "Expense"}),
    ("Account", "81", "Inventory Asset", {"AccountType": "Other Current Asset", "Classification": "Asset"}),
)


def qbo_payloads() -> dict[str, list[dict[str, Any]]]:
    """The sandbox payloads plus the named-only references, as a QBO snapshot would hold them."""
    payloads = sandbox_payloads()
    for entity, qbo_id, name, extra in NAMED_ONLY:
        key = "DisplayName" if entity in ("Customer", "Vendor") else "Name"
        payloads.setdefault(entity, []).append(
            {key: name, "Active": True, "Id": qbo_id, "SyncToken": "0", "MetaData": _meta(), **extra}
        )
    return payloads


# --------------------------------------------------------------------------- the AWRA mirror

#: AWRA master (table, id, code, name, extra columns, QBO Id it maps to).
MASTERS: tuple[tuple[str, str, str, str, dict[str, Any], str], ...] = (
    ("customers", "cu-cho", "C-17", "Mark Cho", {"email": "Mark@Cho.com"}, "17"),
    ("customers", "cu-ocean", "C-8", "0969 Ocean View Road", {}, "8"),
    ("customers", "cu-cool", "C-3", "Cool Cars", {}, "3"),
    ("vendors", "ve-norton", "V-46", "Norton Lumber", {}, "46"),
    ("accounts", "ac-ar", "1100", "Accounts Receivable", {"account_type": "receivable"}, "84"),
    ("accounts", "ac-undep", "1050", "Undeposited Funds", {"account_type": "asset"}, "4"),
    ("accounts", "ac-ap", "2000", "Accounts Payable", {"account_type": "payable"}, "33"),
    ("accounts", "ac-obe", "3000", "Opening Balance Equity", {"account_type": "equity"}, "34"),
    ("accounts", "ac-truck", "1500", "Truck cost", {"account_type": "asset"}, "38"),
    ("accounts", "ac-sales", "4000", "Product sales", {"account_type": "income"}, "79"),
    ("accounts", "ac-cogs", "5000", "Cost of goods sold", {"account_type": "expense"}, "80"),
    ("accounts", "ac-stock", "1300", "Inventory", {"account_type": "asset"}, "81"),
    (
        "items",
        "it-fountain",
        "ROCK",
        "Rock Fountain",
        {"item_type": "inventory", "income_account_id": "ac-sales", "expense_account_id": "ac-cogs"},
        "5",
    ),
    ("items", "it-services", "SVC", "Installation", {"item_type": "service"}, "1"),
    ("items", "it-pump", "PUMP", "Fountain Pump", {"item_type": "inventory"}, "11"),
    ("items", "it-sod", "SOD", "Sod", {"item_type": "inventory"}, "14"),
    ("items", "it-heads", "HEADS", "Sprinkler Heads", {"item_type": "inventory"}, "16"),
    ("items", "it-pipes", "PIPES", "Sprinkler Pipes", {"item_type": "inventory"}, "17"),
    ("tax_codes", "tx-taxable", "TAXABLE", "Taxable sales", {"rate_percent": Decimal("8")}, "TAX"),
    ("tax_codes", "tx-exempt", "EXEMPT", "Not taxable", {"rate_percent": Decimal("0")}, "NON"),
    ("tax_codes", "tx-ca", "CA", "California", {"rate_percent": Decimal("8")}, "2"),
    ("payment_methods", "pm-check", "CHECK", "Check", {"method_type": "bank"}, "2"),
    ("payment_methods", "pm-visa", "VISA", "Visa", {"method_type": "card"}, "3"),
)

MAPPING_TYPE = {
    "customers": "customer",
    "vendors": "vendor",
    "items": "item",
    "tax_codes": "tax_code",
    "accounts": "account",
    "payment_methods": "payment_method",
}


@dataclass(frozen=True)
class Mirror:
    """AWRA rows per table, mirroring the sandbox's records (change them to plant a difference)."""

    rows: dict[str, list[dict[str, Any]]]

    def awra_id(self, table: str, qbo_id: str) -> str:
        """The AWRA id of the master that maps to a QBO Id."""
        kind = MAPPING_TYPE[table]
        return next(
            m["awra_id"] for m in self.rows["qbo_mappings"] if m["mapping_type"] == kind and m["qbo_id"] == qbo_id
        )


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def mirror(payloads: dict[str, list[dict[str, Any]]]) -> Mirror:
    """AWRA rows holding what QBO holds, line for line, linked and synced."""
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in awra_metadata().tables}
    for n, (table, awra_id, code, name, extra, qbo_id) in enumerate(MASTERS):
        rows[table].append({"id": awra_id, "code": code, "name": name, "active": True, "updated_at": T0, **extra})
        rows["qbo_mappings"].append(
            {
                "mapping_type": MAPPING_TYPE[table],
                "awra_id": awra_id,
                "qbo_id": qbo_id,
                "qbo_name": None if n % 2 else "",  # blank cache, both ways AWRA leaves it
                "updated_at": T0,
                "updated_by": "setup",
            }
        )
    m = Mirror(rows)
    tax_of = {"TAX": "tx-taxable", "NON": "tx-exempt"}

    def head(entity: str, q: dict[str, Any], number: str) -> dict[str, Any]:
        return {
            "id": f"{entity}-{q['Id']}",
            "number": q.get("DocNumber") or number,
            "txn_date": date.fromisoformat(q["TxnDate"]),
            "currency": q["CurrencyRef"]["value"],
            "status": "posted",
            "branch": "HQ",
            "qbo_id": q["Id"],
            "updated_at": T0,
            "updated_by": "amina",
        }

    for q in payloads["Invoice"]:
        inv = head("inv", q, q["DocNumber"])
        inv.update(
            customer_id=m.awra_id("customers", q["CustomerRef"]["value"]),
            due_date=date.fromisoformat(q["DueDate"]),
            total_amount=_money(q["TotalAmt"]),
            tax_amount=_money(q["TxnTaxDetail"]["TotalTax"]),
        )
        rows["invoices"].append(inv)
        for line in q["Line"]:
            if line["DetailType"] != "SalesItemLineDetail":
                continue  # QBO's subtotal line is not a line of the document
            d = line["SalesItemLineDetail"]
            rows["invoice_lines"].append(
                {
                    "invoice_id": inv["id"],
                    "line_no": line["LineNum"],
                    "item_id": m.awra_id("items", d["ItemRef"]["value"]),
                    "description": line.get("Description"),
                    "quantity": Decimal(str(d["Qty"])),
                    "unit_price": _money(d["UnitPrice"]),
                    "amount": _money(line["Amount"]),
                    "tax_code_id": tax_of[d["TaxCodeRef"]["value"]],
                }
            )
    for q in payloads["Payment"]:
        pay = head("pay", q, f"PAY-{q['Id']}")
        pay.update(
            customer_id=m.awra_id("customers", q["CustomerRef"]["value"]),
            amount=_money(q["TotalAmt"]),
            deposit_account_id=m.awra_id("accounts", q["DepositToAccountRef"]["value"]),
        )
        rows["payments"].append(pay)
        for line in q["Line"]:
            for linked in line["LinkedTxn"]:
                rows["payment_applications"].append(
                    {"payment_id": pay["id"], "invoice_id": f"inv-{linked['TxnId']}", "amount": _money(line["Amount"])}
                )
    for q in payloads["Bill"]:
        bill = head("bill", q, f"BILL-{q['Id']}")
        bill.update(
            vendor_id=m.awra_id("vendors", q["VendorRef"]["value"]),
            due_date=date.fromisoformat(q["DueDate"]),
            total_amount=_money(q["TotalAmt"]),
            tax_amount=Decimal("0.00"),
        )
        rows["bills"].append(bill)
        for line in q["Line"]:
            d = line["ItemBasedExpenseLineDetail"]
            rows["bill_lines"].append(
                {
                    "bill_id": bill["id"],
                    "line_no": line["LineNum"],
                    "item_id": m.awra_id("items", d["ItemRef"]["value"]),
                    "description": line.get("Description"),
                    "amount": _money(line["Amount"]),
                    "tax_code_id": tax_of[d["TaxCodeRef"]["value"]],
                }
            )
    for q in payloads["JournalEntry"]:
        journal = head("je", q, f"JE-{q['Id']}")
        journal["memo"] = q.get("PrivateNote")
        rows["journals"].append(journal)
        for n, line in enumerate(q["Line"], start=1):
            d = line["JournalEntryLineDetail"]
            amount = _money(line["Amount"])
            rows["journal_lines"].append(
                {
                    "journal_id": journal["id"],
                    "line_no": n,
                    "account_id": m.awra_id("accounts", d["AccountRef"]["value"]),
                    "debit": amount if d["PostingType"] == "Debit" else None,
                    "credit": amount if d["PostingType"] == "Credit" else None,
                    "description": line.get("Description"),
                }
            )
    rows["sync_runs"].append(
        {"id": "sr-1", "connector": "qbo", "started_at": T0, "finished_at": T0, "status": "succeeded"}
    )
    for table, record_type in (
        ("invoices", "invoice"),
        ("payments", "payment"),
        ("bills", "bill"),
        ("journals", "journal"),
    ):
        for record in rows[table]:
            rows["sync_log"].append(
                {
                    "id": f"log-{record['id']}",
                    "sync_run_id": "sr-1",
                    "connector": "qbo",
                    "record_type": record_type,
                    "record_id": record["id"],
                    "record_number": record["number"],
                    "status": "succeeded",
                    "retry_count": 0,
                    "qbo_id": record["qbo_id"],
                    "attempted_at": T0,
                }
            )
    return m


def write_awra(path: Path, m: Mirror) -> AwraSettings:
    """Create the AWRA SQLite database holding ``m``; settings to read it."""
    engine = sa.create_engine(f"sqlite:///{path}")
    md = awra_metadata()
    md.create_all(engine)
    with engine.begin() as conn:
        for name, table in md.tables.items():
            if m.rows.get(name):
                # executemany needs every column in every row: absent ones are NULL
                full = [{c.name: row.get(c.name) for c in table.columns} for row in m.rows[name]]
                conn.execute(table.insert(), full)
    engine.dispose()
    return AwraSettings(url=f"sqlite:///{path}")


def run(tmp_path: Path, m: Mirror, payloads: dict[str, list[dict[str, Any]]]) -> tuple[RunResult, AwraData, QboData]:
    """Read both sides with the real readers and reconcile them."""
    awra = read_awra(write_awra(tmp_path / "awra.db", m), PARAMS)
    qbo = qbo_data_from_payloads(payloads)
    return reconcile(awra, qbo, PARAMS, load_rules(DEFAULT_RULES_PATH)), awra, qbo


def shown(findings: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Findings as short tuples, for readable assertion messages."""
    cols = ["entity", "category", "awra_id", "qbo_id", "field", "message"]
    return [tuple(r) for r in findings[cols].astype(object).itertuples(index=False)]


# --------------------------------------------------------------------------- tests


def test_the_mirror_holds_every_sandbox_line_and_blank_cached_names() -> None:
    payloads = qbo_payloads()
    m = mirror(payloads)
    sales_lines = sum(
        1 for q in payloads["Invoice"] for line in q["Line"] if line["DetailType"] == "SalesItemLineDetail"
    )
    assert len(m.rows["invoice_lines"]) == sales_lines == 6
    assert len(m.rows["bill_lines"]) == 2 and len(m.rows["journal_lines"]) == 2
    assert {line["tax_code_id"] for line in m.rows["invoice_lines"]} == {"tx-taxable"}
    assert all(not row["qbo_name"] for row in m.rows["qbo_mappings"])
    qbo = qbo_data_from_payloads(payloads)
    assert not set(qbo.references.loc[qbo.references["ref_type"] == "tax_code", "id"]) & {"TAX", "NON"}


def test_a_mirrored_us_sandbox_company_yields_no_finding_at_all(tmp_path: Path) -> None:
    payloads = qbo_payloads()
    result, awra, _ = run(tmp_path, mirror(payloads), payloads)
    assert awra.data_quality.empty
    assert result.findings.empty, shown(result.findings)
    for totals in result.totals:
        assert totals.unexplained_cents == 0
        assert totals.awra_count == totals.qbo_count
        assert totals.awra_total_cents == totals.qbo_total_cents


Plant = Callable[[Mirror, dict[str, list[dict[str, Any]]]], None]


def _unmap(kind: str, awra_id: str) -> Plant:
    def plant(m: Mirror, _q: dict[str, list[dict[str, Any]]]) -> None:
        m.rows["qbo_mappings"][:] = [
            r for r in m.rows["qbo_mappings"] if not (r["mapping_type"] == kind and r["awra_id"] == awra_id)
        ]

    return plant


def _remap(kind: str, awra_id: str, qbo_id: str) -> Plant:
    def plant(m: Mirror, _q: dict[str, list[dict[str, Any]]]) -> None:
        for r in m.rows["qbo_mappings"]:
            if r["mapping_type"] == kind and r["awra_id"] == awra_id:
                r["qbo_id"] = qbo_id

    return plant


def _deactivate(entity: str, qbo_id: str) -> Plant:
    def plant(_m: Mirror, q: dict[str, list[dict[str, Any]]]) -> None:
        next(p for p in q[entity] if p["Id"] == qbo_id)["Active"] = False

    return plant


def _blank_display_name(_m: Mirror, q: dict[str, list[dict[str, Any]]]) -> None:
    next(p for p in q["Customer"] if p["Id"] == "17")["DisplayName"] = ""


def _rate(m: Mirror, _q: dict[str, list[dict[str, Any]]]) -> None:
    next(r for r in m.rows["tax_codes"] if r["id"] == "tx-exempt")["rate_percent"] = Decimal("7.25")


#: A real alarm per row: (plant, category, entity, AWRA id, field, blocked transactions).
ALARMS = (
    (_unmap("customer", "cu-cool"), "mapping_missing", "customer", "cu-cool", "qbo_id", 0),
    (_remap("item", "it-sod", "999"), "mapping_broken", "item", "it-sod", "qbo_id", 0),
    (_deactivate("Item", "11"), "mapping_broken", "item", "it-pump", "qbo_id", 0),
    (_remap("tax_code", "tx-taxable", "NONE"), "mapping_broken", "tax_code", "tx-taxable", "qbo_id", 0),
    # the extra of the two is the one whose code sorts last (C-17 after C-8)
    (_remap("customer", "cu-ocean", "17"), "mapping_duplicate", "customer", "cu-cho", "qbo_id", 0),
    (_rate, "mapping_mismatch", "tax_code", "tx-exempt", "rate_percent", 0),
    (_blank_display_name, "mapping_mismatch", "customer", "cu-cho", "qbo_name", 0),
)


@pytest.mark.parametrize("plant, category, entity, awra_id, field, blocks", ALARMS)
def test_each_real_mapping_alarm_is_still_raised(
    tmp_path: Path, plant: Plant, category: str, entity: str, awra_id: str, field: str, blocks: int
) -> None:
    payloads = qbo_payloads()
    m = mirror(payloads)
    plant(m, payloads)
    result, _, _ = run(tmp_path, m, payloads)
    found = result.findings
    assert len(found) == 1, shown(found)
    row = found.iloc[0]
    assert (row["category"], row["entity"], row["awra_id"], row["field"]) == (category, entity, awra_id, field)
    # every transaction is in QBO and synced: the gap blocks none of them
    assert row["blocks_count"] == blocks


def test_a_mapping_gap_blocks_the_transactions_that_are_not_in_qbo(tmp_path: Path) -> None:
    payloads = qbo_payloads()
    m = mirror(payloads)
    _unmap("customer", "cu-cool")(m, payloads)
    # QBO has lost invoice 1004 (Cool Cars): it is missing there, and the unmapped customer blocks it
    payloads["Invoice"] = [q for q in payloads["Invoice"] if q["Id"] != "12"]
    payloads["Payment"] = []
    m.rows["payments"].clear()
    m.rows["payment_applications"].clear()
    m.rows["sync_log"][:] = [r for r in m.rows["sync_log"] if r["record_type"] != "payment"]
    result, _, _ = run(tmp_path, m, payloads)
    found = result.findings
    gap = found.loc[found["category"] == "mapping_missing"]
    assert gap["awra_id"].tolist() == ["cu-cool"]
    assert (gap.iloc[0]["blocks_count"], gap.iloc[0]["blocks_cents"]) == (1, 236_952)
    assert set(found["category"]) == {"mapping_missing", "missing_in_qbo", "sync_conflict"}
