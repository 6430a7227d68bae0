"""A randomly generated company whose AWRA and QBO books agree exactly (for property tests).

``generate(rng)`` builds one ``Company``: AWRA rows in the CONTRACTS §1 tables (as an AWRA
database holds them) and QBO payloads in the CONTRACTS §2 entities (as a QBO snapshot holds
them), for the window ``WINDOW``:

* masters of every type, each mapped to an active QBO record of the right kind, the cached
  ``qbo_name`` being the QBO name, blank (NULL or empty) or stale (an old name) at random; one
  active *idle* master per type that no transaction uses (mapping plants act on those, so a plant
  changes one master and nothing else);
* invoices with several lines (items, tax codes, line amounts, a tax total from the rates), some
  with a QBO subtotal line; partial and multi-invoice payments applied to the same invoices on
  both sides, with payment method and deposit account; bills with account-based and item-based
  lines; journals in balanced debit/credit pairs;
* two currencies: the home currency ``KES`` and ``USD``, with an exchange rate on every USD
  record (QBO ``ExchangeRate``/``HomeTotalAmt``; AWRA ``exchange_rate`` where its tables have the
  column) and the QBO ``Preferences`` naming the home currency;
* most records linked (AWRA ``qbo_id`` and a succeeded sync attempt), the rest paired by number.

``write_awra`` writes the AWRA rows into an SQLite database (only the columns its tables have),
so the real reader reads them; ``qbo_data`` parses the payloads with the real parser.
"""

from __future__ import annotations

import copy
import random
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from reconcile.config import AwraSettings
from reconcile.model import QboData
from reconcile.params import RunParams
from reconcile.sources.awra_schema import awra_metadata
from reconcile.sources.qbo_parse import qbo_data_from_payloads

WINDOW = (date(2026, 5, 1), date(2026, 5, 31))
HOME = "KES"
FOREIGN = "USD"
PARAMS = RunParams(
    run_id="consistent",
    company="consistent",
    company_name="Consistent Ltd",
    date_from=WINDOW[0],
    date_to=WINDOW[1],
    status="posted",
    now=datetime(2026, 6, 1, 6, 0, tzinfo=UTC),
)
T0 = datetime(2026, 4, 20, 8, 0)

#: AWRA master table -> (mapping type, QBO entity).
MASTER_TABLES: dict[str, tuple[str, str]] = {
    "customers": ("customer", "Customer"),
    "vendors": ("vendor", "Vendor"),
    "items": ("item", "Item"),
    "tax_codes": ("tax_code", "TaxCode"),
    "accounts": ("account", "Account"),
    "payment_methods": ("payment_method", "PaymentMethod"),
}
#: AWRA account type -> (QBO AccountType, Classification).
ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "income": ("Income", "Revenue"),
    "expense": ("Expense", "Expense"),
    "bank": ("Bank", "Asset"),
    "receivable": ("Accounts Receivable", "Asset"),
    "payable": ("Accounts Payable", "Liability"),
    "asset": ("Other Current Asset", "Asset"),
    "liability": ("Other Current Liability", "Liability"),
    "equity": ("Equity", "Equity"),
}
ITEM_TYPES = {"service": "Service", "inventory": "Inventory", "non_inventory": "NonInventory"}
METHOD_TYPES = {"cash": "NON_CREDIT_CARD", "card": "CREDIT_CARD", "mobile_money": "NON_CREDIT_CARD"}
WORDS = ("Amani", "Baraka", "Chui", "Dhahabu", "Elimu", "Faraja", "Giza", "Hodari", "Imara", "Jua", "Kilima")


def money(cents: int) -> Decimal:
    """Integer cents as a 2-decimal ``Decimal`` (how AWRA stores and QBO sends money)."""
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


def tax_cents(net_cents: int, rate: Decimal) -> int:
    """The tax on a net amount at ``rate`` percent, rounded half up to the cent."""
    return int((Decimal(net_cents) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def home_cents(cents: int, rate: Decimal) -> int:
    """An amount in the home currency at ``rate`` (home units per foreign unit), to the cent."""
    return int((Decimal(cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class Company:
    """One generated company: AWRA rows per table, QBO payloads per entity, and what is where.

    ``qbo_id``: ``(table, awra id) -> QBO Id`` for every master; ``idle``: per AWRA master table,
    the id of the active master no transaction uses; ``used``: per table, the ids transactions use.
    """

    awra: dict[str, list[dict[str, Any]]]
    qbo: dict[str, list[dict[str, Any]]]
    qbo_id: dict[tuple[str, str], str]
    idle: dict[str, str]
    used: dict[str, list[str]]
    rates: dict[str, Decimal] = field(default_factory=dict)

    def copy(self) -> Company:
        """A deep copy, to plant a difference in."""
        return copy.deepcopy(self)

    def row(self, table: str, awra_id: str) -> dict[str, Any]:
        """The AWRA row of ``table`` with this id."""
        return next(r for r in self.awra[table] if r["id"] == awra_id)

    def payload(self, entity: str, qbo_id: str) -> dict[str, Any]:
        """The QBO payload of ``entity`` with this Id."""
        return next(p for p in self.qbo[entity] if p["Id"] == qbo_id)

    def mapping(self, table: str, awra_id: str) -> dict[str, Any]:
        """The ``qbo_mappings`` row of a master."""
        kind = MASTER_TABLES[table][0]
        return next(r for r in self.awra["qbo_mappings"] if r["mapping_type"] == kind and r["awra_id"] == awra_id)

    def twin(self, table: str, awra_id: str) -> str:
        """The QBO Id of an AWRA transaction (its ``qbo_id`` or the Id recorded at generation)."""
        return self.qbo_id[(table, awra_id)]


class _Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.awra: dict[str, list[dict[str, Any]]] = {t: [] for t in awra_metadata().tables}
        self.qbo: dict[str, list[dict[str, Any]]] = {}
        self.qbo_id: dict[tuple[str, str], str] = {}
        self.idle: dict[str, str] = {}
        self.used: dict[str, list[str]] = {t: [] for t in MASTER_TABLES}
        self.rates: dict[str, Decimal] = {}
        self.next_id = rng.randrange(10, 500)
        self.names: set[str] = set()

    def new_qbo_id(self) -> str:
        self.next_id += self.rng.randrange(1, 4)
        return str(self.next_id)

    def name(self, prefix: str) -> str:
        while True:
            text = f"{prefix} {self.rng.choice(WORDS)} {self.rng.randrange(10, 99)}"
            if text.lower() not in self.names:
                self.names.add(text.lower())
                return text

    # ------------------------------------------------------------------ masters

    def master(self, table: str, awra_id: str, code: str, extra: dict[str, Any], qbo_extra: dict[str, Any]) -> str:
        kind, entity = MASTER_TABLES[table]
        name = self.name(kind.replace("_", " ").title())
        qid = self.new_qbo_id()
        self.awra[table].append({"id": awra_id, "code": code, "name": name, "active": 1, "updated_at": T0, **extra})
        cached = self.rng.choice((name, None, "", f"{name} (old)"))
        self.awra["qbo_mappings"].append(
            {"mapping_type": kind, "awra_id": awra_id, "qbo_id": qid, "qbo_name": cached, "updated_at": T0}
        )
        label = "DisplayName" if entity in ("Customer", "Vendor") else "Name"
        meta = {"CreateTime": "2026-04-01T08:00:00-07:00", "LastUpdatedTime": "2026-04-01T08:00:00-07:00"}
        payload = {"Id": qid, label: name, "Active": True, "SyncToken": "0", "MetaData": meta, **qbo_extra}
        self.qbo.setdefault(entity, []).append(payload)
        self.qbo_id[(table, awra_id)] = qid
        return qid

    def account(self, awra_id: str, code: str, account_type: str) -> str:
        qbo_type, classification = ACCOUNT_TYPES[account_type]
        return self.master(
            "accounts",
            awra_id,
            code,
            {"account_type": account_type},
            {"AccountType": qbo_type, "Classification": classification},
        )

    def tax_code(self, awra_id: str, code: str, rate: Decimal) -> None:
        extra: dict[str, Any] = {"Taxable": rate > 0}
        if rate > 0:
            rate_id = self.new_qbo_id()
            self.qbo.setdefault("TaxRate", []).append(
                {"Id": rate_id, "Name": f"{code} rate", "Active": True, "RateValue": rate}
            )
            extra["SalesTaxRateList"] = {"TaxRateDetail": [{"TaxRateRef": {"value": rate_id}}]}
        self.master("tax_codes", awra_id, code, {"rate_percent": rate}, extra)
        self.rates[awra_id] = rate

    def item(self, awra_id: str, code: str, income: str | None, expense: str | None) -> None:
        item_type = self.rng.choice(list(ITEM_TYPES))
        extra: dict[str, Any] = {"Type": ITEM_TYPES[item_type]}
        if income:
            extra["IncomeAccountRef"] = {"value": self.qbo_id[("accounts", income)]}
        if expense:
            extra["ExpenseAccountRef"] = {"value": self.qbo_id[("accounts", expense)]}
        self.master(
            "items",
            awra_id,
            code,
            {"item_type": item_type, "income_account_id": income, "expense_account_id": expense},
            extra,
        )

    def masters(self) -> None:
        rng = self.rng
        for n, account_type in enumerate(("income", "income", "expense", "expense", "bank", "bank")):
            self.account(f"ac-{account_type}-{n}", f"{n + 4000}", account_type)
        for n, account_type in enumerate(("receivable", "payable", "equity", "liability")):
            self.account(f"ac-{account_type}", f"{n + 1000}", account_type)
        self.account("ac-idle", "9999", rng.choice(("asset", "liability")))
        self.idle["accounts"] = "ac-idle"
        for code, rate in (("VAT16", Decimal(16)), ("VAT8", Decimal(8)), ("ZERO", Decimal(0))):
            self.tax_code(f"tx-{code.lower()}", code, rate)
        self.tax_code("tx-idle", "ZZ-IDLE", Decimal("2.5"))
        self.idle["tax_codes"] = "tx-idle"
        incomes = ["ac-income-0", "ac-income-1"]
        expenses = ["ac-expense-2", "ac-expense-3"]
        for n in range(rng.randrange(2, 5)):
            self.item(f"it-{n}", f"IT-{n:02d}", rng.choice(incomes), rng.choice([*expenses, None]))
        self.item("it-idle", "ZZ-IDLE", incomes[0], expenses[0])
        self.idle["items"] = "it-idle"
        for n in range(rng.randrange(2, 5)):
            self.master("customers", f"cu-{n}", f"C-{n:02d}", {"email": f"c{n}@example.com"}, {})
        self.master("customers", "cu-idle", "C-99", {}, {})
        self.idle["customers"] = "cu-idle"
        for n in range(rng.randrange(1, 4)):
            self.master("vendors", f"ve-{n}", f"V-{n:02d}", {}, {})
        self.master("vendors", "ve-idle", "V-99", {}, {})
        self.idle["vendors"] = "ve-idle"
        for n, method in enumerate(METHOD_TYPES):
            self.master(
                "payment_methods", f"pm-{n}", f"PM-{n}", {"method_type": method}, {"Type": METHOD_TYPES[method]}
            )
        self.master("payment_methods", "pm-idle", "PM-9", {"method_type": "bank"}, {"Type": "NON_CREDIT_CARD"})
        self.idle["payment_methods"] = "pm-idle"

    def active(self, table: str, prefix: str) -> list[str]:
        return [r["id"] for r in self.awra[table] if r["id"].startswith(prefix) and r["id"] != self.idle.get(table)]

    def use(self, table: str, awra_id: str) -> str:
        if awra_id not in self.used[table]:
            self.used[table].append(awra_id)
        return awra_id

    # ------------------------------------------------------------------ transactions

    def day(self) -> date:
        # away from the window's edges, so a plant can move a date a day either way
        return WINDOW[0] + timedelta(days=self.rng.randrange(2, 28))

    def currency(self) -> tuple[str, Decimal | None]:
        if self.rng.random() < 0.35:
            return FOREIGN, Decimal(self.rng.choice(("129.50", "130.25", "128.75")))
        return HOME, None

    def header(
        self, table: str, entity: str, awra_id: str, number: str, when: date, currency: str, rate: Decimal | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        qid = self.new_qbo_id()
        linked = self.rng.random() < 0.7
        row: dict[str, Any] = {
            "id": awra_id,
            "number": number,
            "txn_date": when,
            "currency": currency,
            "exchange_rate": rate,
            "status": "posted",
            "branch": "HQ",
            "qbo_id": qid if linked else None,
            "updated_at": T0 + timedelta(days=20),
            "updated_by": "amina",
        }
        payload: dict[str, Any] = {
            "Id": qid,
            "SyncToken": "0",
            "TxnDate": when.isoformat(),
            "CurrencyRef": {"value": currency},
            "MetaData": {"CreateTime": "2026-05-20T08:00:00-07:00", "LastUpdatedTime": "2026-05-20T08:00:00-07:00"},
        }
        if rate is not None:
            payload["ExchangeRate"] = rate
        self.qbo_id[(table, awra_id)] = qid
        self.qbo.setdefault(entity, []).append(payload)
        self.awra[table].append(row)
        if linked:
            self.awra["sync_log"].append(
                {
                    "id": f"log-{awra_id}",
                    "sync_run_id": "sr-1",
                    "connector": "qbo",
                    "record_type": table.rstrip("s"),
                    "record_id": awra_id,
                    "record_number": number,
                    "status": "succeeded",
                    "retry_count": 0,
                    "qbo_id": qid,
                    "attempted_at": T0 + timedelta(days=20, minutes=len(self.awra["sync_log"])),
                }
            )
        return row, payload

    def invoices(self) -> list[dict[str, Any]]:
        rng = self.rng
        customers = self.active("customers", "cu-")
        items = self.active("items", "it-")
        codes = ["tx-vat16", "tx-vat8", "tx-zero"]
        made = []
        for n in range(rng.randrange(3, 7)):
            # the second invoice is always in the foreign currency, so both currencies are there
            currency, rate = self.currency() if n != 1 else (FOREIGN, Decimal("129.50"))
            # the first two invoices go to two customers, so a party can be swapped for another;
            # the third shares the first's customer and currency, so a payment can go astray
            customer = self.use("customers", customers[n] if n < 2 else rng.choice(customers))
            if n == 2:
                customer, currency, rate = made[0]["customer_id"], made[0]["currency"], made[0]["exchange_rate"]
            when = self.day()
            row, payload = self.header("invoices", "Invoice", f"inv-{n}", f"INV-{1000 + n}", when, currency, rate)
            net, tax, lines = 0, 0, []
            for line_no in range(1, rng.randrange(3 if n == 0 else 2, 5)):
                item, code = self.use("items", rng.choice(items)), self.use("tax_codes", rng.choice(codes))
                amount = rng.randrange(100, 500_000)
                net += amount
                tax += tax_cents(amount, self.rates[code])
                self.awra["invoice_lines"].append(
                    {
                        "invoice_id": row["id"],
                        "line_no": line_no,
                        "item_id": item,
                        "description": f"line {line_no}",
                        "quantity": Decimal(1),
                        "unit_price": money(amount),
                        "amount": money(amount),
                        "tax_code_id": code,
                    }
                )
                lines.append(
                    {
                        "Id": str(line_no),
                        "LineNum": line_no,
                        "Description": f"line {line_no}",
                        "Amount": money(amount),
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": self.qbo_id[("items", item)]},
                            "TaxCodeRef": {"value": self.qbo_id[("tax_codes", code)]},
                            "Qty": 1,
                            "UnitPrice": money(amount),
                        },
                    }
                )
            if rng.random() < 0.5:  # QBO adds a subtotal line: not a line of the document
                lines.append({"Amount": money(net), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
            row.update(
                customer_id=customer,
                due_date=when + timedelta(days=30),
                total_amount=money(net + tax),
                tax_amount=money(tax),
                warehouse="W1",
            )
            payload.update(
                DocNumber=row["number"],
                CustomerRef={"value": self.qbo_id[("customers", customer)]},
                DueDate=(when + timedelta(days=30)).isoformat(),
                Line=lines,
                TxnTaxDetail={"TotalTax": money(tax)},
                TotalAmt=money(net + tax),
            )
            if rate is not None:
                payload["HomeTotalAmt"] = money(home_cents(net + tax, rate))
            made.append(row)
        return made

    def payments(self, invoices: list[dict[str, Any]]) -> None:
        rng = self.rng
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for inv in invoices:
            groups.setdefault((inv["customer_id"], inv["currency"]), []).append(inv)
        open_cents = {inv["id"]: int(inv["total_amount"] * 100) for inv in invoices}
        methods = self.active("payment_methods", "pm-")
        banks = ["ac-bank-4", "ac-bank-5"]
        n = 0
        for (customer, currency), group in sorted(groups.items()):
            if invoices[0] not in group and rng.random() < 0.2:
                continue
            # one payment per group: partial on one invoice, or spread over several (never all
            # of a group of two or more, so each such payment leaves an invoice it could pay)
            chosen = rng.sample(group, rng.randrange(1, max(2, len(group))))
            applied = []
            for inv in chosen:
                whole = open_cents[inv["id"]]
                part = whole if rng.random() < 0.5 else rng.randrange(1, whole)
                open_cents[inv["id"]] -= part
                applied.append((inv, part))
            rate = next((inv["exchange_rate"] for inv in chosen), None)
            method, bank = self.use("payment_methods", rng.choice(methods)), self.use("accounts", rng.choice(banks))
            total = sum(part for _, part in applied)
            row, payload = self.header("payments", "Payment", f"pay-{n}", f"PAY-{2000 + n}", self.day(), currency, rate)
            row.update(customer_id=customer, amount=money(total), payment_method_id=method, deposit_account_id=bank)
            payload.update(
                PaymentRefNum=row["number"],
                CustomerRef={"value": self.qbo_id[("customers", customer)]},
                TotalAmt=money(total),
                UnappliedAmt=Decimal("0.00"),
                PaymentMethodRef={"value": self.qbo_id[("payment_methods", method)]},
                DepositToAccountRef={"value": self.qbo_id[("accounts", bank)]},
                Line=[
                    {
                        "Amount": money(part),
                        "LinkedTxn": [{"TxnId": self.qbo_id[("invoices", inv["id"])], "TxnType": "Invoice"}],
                    }
                    for inv, part in applied
                ],
            )
            for inv, part in applied:
                self.awra["payment_applications"].append(
                    {"payment_id": row["id"], "invoice_id": inv["id"], "amount": money(part)}
                )
            n += 1

    def bills(self) -> None:
        rng = self.rng
        vendors = self.active("vendors", "ve-")
        expenses = ["ac-expense-2", "ac-expense-3"]
        items = [i for i in self.active("items", "it-") if self.row_of("items", i)["expense_account_id"]]
        for n in range(rng.randrange(1, 4)):
            currency, rate = self.currency()
            vendor = self.use("vendors", rng.choice(vendors))
            when = self.day()
            row, payload = self.header("bills", "Bill", f"bill-{n}", f"BILL-{3000 + n}", when, currency, rate)
            net, tax, lines = 0, 0, []
            for line_no in range(1, rng.randrange(2, 4)):
                code = self.use("tax_codes", rng.choice(["tx-vat16", "tx-zero"]))
                amount = rng.randrange(100, 300_000)
                net += amount
                tax += tax_cents(amount, self.rates[code])
                # the first line of every bill is account-based, so a bill always has one
                by_item = line_no > 1 and items and rng.random() < 0.5
                item = self.use("items", rng.choice(items)) if by_item else None
                account = None if by_item else self.use("accounts", rng.choice(expenses))
                self.awra["bill_lines"].append(
                    {
                        "bill_id": row["id"],
                        "line_no": line_no,
                        "item_id": item,
                        "account_id": account,
                        "description": f"line {line_no}",
                        "amount": money(amount),
                        "tax_code_id": code,
                    }
                )
                tax_ref = {"value": self.qbo_id[("tax_codes", code)]}
                if item is not None:
                    detail = {
                        "DetailType": "ItemBasedExpenseLineDetail",
                        "ItemBasedExpenseLineDetail": {
                            "ItemRef": {"value": self.qbo_id[("items", item)]},
                            "TaxCodeRef": tax_ref,
                        },
                    }
                else:
                    assert account is not None
                    detail = {
                        "DetailType": "AccountBasedExpenseLineDetail",
                        "AccountBasedExpenseLineDetail": {
                            "AccountRef": {"value": self.qbo_id[("accounts", account)]},
                            "TaxCodeRef": tax_ref,
                        },
                    }
                lines.append(
                    {
                        "Id": str(line_no),
                        "LineNum": line_no,
                        "Description": f"line {line_no}",
                        "Amount": money(amount),
                        **detail,
                    }
                )
            row.update(
                vendor_id=vendor,
                due_date=when + timedelta(days=30),
                total_amount=money(net + tax),
                tax_amount=money(tax),
                warehouse="W1",
            )
            payload.update(
                DocNumber=row["number"],
                VendorRef={"value": self.qbo_id[("vendors", vendor)]},
                DueDate=(when + timedelta(days=30)).isoformat(),
                Line=lines,
                TxnTaxDetail={"TotalTax": money(tax)},
                TotalAmt=money(net + tax),
            )

    def row_of(self, table: str, awra_id: str) -> dict[str, Any]:
        return next(r for r in self.awra[table] if r["id"] == awra_id)

    def journals(self) -> None:
        rng = self.rng
        accounts = [
            a for a in self.active("accounts", "ac-") if not a.startswith(("ac-bank", "ac-receivable", "ac-payable"))
        ]
        for n in range(rng.randrange(1, 3)):
            row, payload = self.header("journals", "JournalEntry", f"je-{n}", f"JE-{4000 + n}", self.day(), HOME, None)
            row["memo"] = "adjustment"
            lines = []
            for pair in range(rng.randrange(1, 3)):
                amount = rng.randrange(100, 200_000)
                debit, credit = rng.sample(accounts, 2)
                for side, account in (("Debit", debit), ("Credit", credit)):
                    line_no = len(lines) + 1
                    self.use("accounts", account)
                    self.awra["journal_lines"].append(
                        {
                            "journal_id": row["id"],
                            "line_no": line_no,
                            "account_id": account,
                            "debit": money(amount) if side == "Debit" else None,
                            "credit": money(amount) if side == "Credit" else None,
                            "description": f"pair {pair}",
                        }
                    )
                    lines.append(
                        {
                            "Id": str(line_no - 1),
                            "Description": f"pair {pair}",
                            "Amount": money(amount),
                            "DetailType": "JournalEntryLineDetail",
                            "JournalEntryLineDetail": {
                                "PostingType": side,
                                "AccountRef": {"value": self.qbo_id[("accounts", account)]},
                            },
                        }
                    )
            payload.update(DocNumber=row["number"], Line=lines, PrivateNote="adjustment")


def generate(rng: random.Random) -> Company:
    """A consistent company drawn from ``rng`` (see the module docstring)."""
    b = _Builder(rng)
    b.masters()
    invoices = b.invoices()
    b.payments(invoices)
    b.bills()
    b.journals()
    b.awra["sync_runs"].append(
        {"id": "sr-1", "connector": "qbo", "started_at": T0, "finished_at": T0, "status": "succeeded"}
    )
    b.qbo["Preferences"] = [
        {"Id": "1", "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": HOME}}}
    ]
    return Company(b.awra, b.qbo, b.qbo_id, b.idle, b.used, b.rates)


# --------------------------------------------------------------------------- writing and reading


_TEMPLATES: dict[str, Path] = {}


def _template(folder: Path) -> Path:
    """An empty AWRA database with every table, created once per process and copied per example."""
    key = str(folder)
    if key not in _TEMPLATES:
        path = folder / "awra-template.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        awra_metadata().create_all(engine)
        engine.dispose()
        _TEMPLATES[key] = path
    return _TEMPLATES[key]


def _sql_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_awra(company: Company, folder: Path, name: str) -> AwraSettings:
    """The company's AWRA rows in an SQLite database (only the columns its tables have)."""
    path = folder / f"{name}.db"
    shutil.copyfile(_template(folder), path)
    tables = awra_metadata().tables
    with sqlite3.connect(path) as conn:
        for table_name, rows in company.awra.items():
            if not rows:
                continue
            columns = [c.name for c in tables[table_name].columns]
            marks = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})",
                [[_sql_value(r.get(c)) for c in columns] for r in rows],
            )
    conn.close()
    return AwraSettings(url=f"sqlite:///{path}")


def qbo_data(company: Company) -> QboData:
    """The company's QBO payloads through the real parser."""
    return qbo_data_from_payloads(company.qbo)
