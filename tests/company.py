"""A small, fully consistent two-currency company (KES home, some USD), as canonical frames.

Every master is mapped to an active QBO record of the right kind, every transaction is in QBO
with the same lines, accounts, rates and applications, so a run over it yields no finding at
all. Tests plant one difference at a time with the ``change_*`` helpers (they return new
bundles; nothing is modified in place).

Chart (AWRA id → QBO Id): accounts a-sales → 80 Sales, a-bank → 81 Bank, a-cogs → 82 Supplies,
a-export → 84 Export sales, a-bank-usd → 85 USD bank; items i-svc → 90 (income 80),
i-exp → 91 (income 84), i-sup → 92 (expense 82); customers c-1 → 58, c-2 → 59; vendor v-1 → 70.

Documents (AWRA id / QBO Id): INV-1 KES 1,500.00 (i-svc 1,000 + 500) a-inv1/101; INV-2 USD
200.00 at 129.5 KES (i-exp) a-inv2/102; BILL-1 KES 300.00 (a-cogs) b-1/201; JE-1 KES debit
a-bank 100 / credit a-sales 100, j-1/301; PAY-1 KES 1,500.00 to INV-1 into a-bank, p-1/401;
PAY-2 USD 200.00 to INV-2 into a-bank-usd, p-2/402.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from reconcile import frames as F
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

HOME = "KES"
NOW = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)

PARAMS = RunParams(
    run_id="two-currency",
    company="tc",
    company_name="Two Currency Ltd",
    date_from=date(2026, 3, 1),
    date_to=date(2026, 3, 31),
    now=NOW,
)

_ACCOUNTS = [
    # awra id, name, awra type, qbo id, qbo AccountType, Classification
    ("a-sales", "Sales", "income", "80", "Income", "Revenue"),
    ("a-bank", "Bank", "bank", "81", "Bank", "Asset"),
    ("a-cogs", "Supplies", "expense", "82", "Expense", "Expense"),
    ("a-export", "Export sales", "income", "84", "Income", "Revenue"),
    ("a-bank-usd", "USD bank", "bank", "85", "Bank", "Asset"),
]
_ITEMS = [
    # awra id, name, type, income, expense, qbo id, qbo income, qbo expense
    ("i-svc", "Consulting", "service", "a-sales", None, "90", "80", None),
    ("i-exp", "Export consulting", "service", "a-export", None, "91", "84", None),
    ("i-sup", "Supplies", "non_inventory", None, "a-cogs", "92", None, "82"),
]
_PARTIES = [
    ("customer", "c-1", "Kamau Stores", "58"),
    ("customer", "c-2", "Acme Inc", "59"),
    ("vendor", "v-1", "Power Co", "70"),
]


def _masters() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for kind, ident, name, _ in _PARTIES:
        rows.append({"master_type": kind, "id": ident, "code": ident.upper(), "name": name, "active": True})
    for ident, name, kind, *_ in _ACCOUNTS:
        rows.append(
            {"master_type": "account", "id": ident, "code": ident, "name": name, "active": True, "account_type": kind}
        )
    for ident, name, kind, income, expense, *_ in _ITEMS:
        rows.append(
            {
                "master_type": "item",
                "id": ident,
                "code": ident,
                "name": name,
                "active": True,
                "item_type": kind,
                "income_account_id": income,
                "expense_account_id": expense,
            }
        )
    return F.conform(pd.DataFrame(rows), F.MASTERS)


def _mappings() -> pd.DataFrame:
    rows = [(kind, ident, qbo, name) for kind, ident, name, qbo in _PARTIES]
    rows += [("account", a[0], a[3], a[1]) for a in _ACCOUNTS]
    rows += [("item", i[0], i[5], i[1]) for i in _ITEMS]
    frame = pd.DataFrame(rows, columns=["mapping_type", "awra_id", "qbo_id", "qbo_name"])
    return F.conform(frame.assign(updated_by="setup"), F.MAPPINGS)


def _references() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for kind, _, name, qbo in _PARTIES:
        rows.append({"ref_type": kind, "id": qbo, "name": name, "active": True})
    for _, name, _, qbo, qbo_type, classification in _ACCOUNTS:
        rows.append(
            {
                "ref_type": "account",
                "id": qbo,
                "name": name,
                "active": True,
                "qbo_type": qbo_type,
                "classification": classification,
            }
        )
    for _, name, kind, _, _, qbo, income, expense in _ITEMS:
        rows.append(
            {
                "ref_type": "item",
                "id": qbo,
                "name": name,
                "active": True,
                "qbo_type": {"service": "Service", "non_inventory": "NonInventory"}[kind],
                "income_account_id": income,
                "expense_account_id": expense,
            }
        )
    return F.conform(pd.DataFrame(rows), F.REFERENCES)


def _header(
    entity: str,
    awra_id: str,
    qbo_id: str,
    number: str,
    day: int,
    party: str | None,
    cents: int,
    currency: str,
    **extra: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {p[1]: (p[2], p[3]) for p in _PARTIES}
    common = {
        "entity": entity,
        "number": number,
        "txn_date": pd.Timestamp(2026, 3, day),
        "currency": currency,
        "amount_cents": cents,
        "tax_cents": 0 if entity in ("invoice", "bill") else None,
        "line_total_cents": cents,
        "status": "posted",
        "is_void": False,
        "in_window": True,
        "data_ok": True,
    }
    rate = extra.pop("rate", "1" if currency == HOME else None)
    deposit = extra.pop("deposit", None)
    awra = {
        **common,
        "id": awra_id,
        "party_id": party,
        "party_name": names[party][0] if party else None,
        "qbo_link": qbo_id,
        "exchange_rate": rate,
        "deposit_account_id": deposit,
        "updated_at": pd.Timestamp("2026-03-28", tz="UTC"),
    }
    qbo_deposit = next((a[3] for a in _ACCOUNTS if a[0] == deposit), None)
    qbo = {
        **common,
        "id": qbo_id,
        "party_id": names[party][1] if party else None,
        "party_name": names[party][0] if party else None,
        "exchange_rate": rate,
        "deposit_account_id": qbo_deposit,
        "home_amount_cents": extra.pop("home", None),
    }
    if entity == "journal":
        awra["tax_cents"] = qbo["tax_cents"] = None
    return awra, qbo


def _documents() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    headers = [
        _header("invoice", "a-inv1", "101", "INV-1", 3, "c-1", 150_000, HOME),
        _header("invoice", "a-inv2", "102", "INV-2", 4, "c-2", 20_000, "USD", rate="129.5", home=2_590_000),
        _header("bill", "b-1", "201", "BILL-1", 5, "v-1", 30_000, HOME),
        _header("journal", "j-1", "301", "JE-1", 6, None, 10_000, HOME),
        _header("payment", "p-1", "401", "PAY-1", 10, "c-1", 150_000, HOME, deposit="a-bank"),
        _header("payment", "p-2", "402", "PAY-2", 11, "c-2", 20_000, "USD", rate="129.5", deposit="a-bank-usd"),
    ]
    awra_lines = [
        ("invoice", "a-inv1", 1, {"item_id": "i-svc", "amount_cents": 100_000}),
        ("invoice", "a-inv1", 2, {"item_id": "i-svc", "amount_cents": 50_000}),
        ("invoice", "a-inv2", 1, {"item_id": "i-exp", "amount_cents": 20_000}),
        ("bill", "b-1", 1, {"account_id": "a-cogs", "amount_cents": 30_000}),
        ("journal", "j-1", 1, {"account_id": "a-bank", "debit_cents": 10_000, "credit_cents": 0}),
        ("journal", "j-1", 2, {"account_id": "a-sales", "debit_cents": 0, "credit_cents": 10_000}),
        ("payment", "p-1", 1, {"ref_id": "a-inv1", "amount_cents": 150_000}),
        ("payment", "p-2", 1, {"ref_id": "a-inv2", "amount_cents": 20_000}),
    ]
    qbo_lines = [
        ("invoice", "101", 1, {"item_id": "90", "amount_cents": 100_000}),
        ("invoice", "101", 2, {"item_id": "90", "amount_cents": 50_000}),
        ("invoice", "102", 1, {"item_id": "91", "amount_cents": 20_000}),
        ("bill", "201", 1, {"account_id": "82", "amount_cents": 30_000}),
        ("journal", "301", 1, {"account_id": "81", "debit_cents": 10_000, "credit_cents": 0}),
        ("journal", "301", 2, {"account_id": "80", "debit_cents": 0, "credit_cents": 10_000}),
        ("payment", "401", 1, {"ref_id": "101", "amount_cents": 150_000}),
        ("payment", "402", 1, {"ref_id": "102", "amount_cents": 20_000}),
    ]

    def lines(rows: list[tuple[str, str, int, dict[str, Any]]]) -> pd.DataFrame:
        frame = pd.DataFrame([{"entity": e, "txn_id": t, "line_no": n, **v} for e, t, n, v in rows])
        return F.conform(frame, F.LINES)

    awra_txns = F.conform(pd.DataFrame([a for a, _ in headers]), F.TRANSACTIONS)
    qbo_txns = F.conform(pd.DataFrame([q for _, q in headers]), F.TRANSACTIONS)
    return awra_txns, lines(awra_lines), qbo_txns, lines(qbo_lines)


def build_company() -> tuple[AwraData, QboData, RunParams]:
    """The consistent company: (AWRA, QBO, params); QBO states the home currency KES."""
    awra_txns, awra_lines, qbo_txns, qbo_lines = _documents()
    awra = replace(
        AwraData.empty(), transactions=awra_txns, lines=awra_lines, masters=_masters(), mappings=_mappings()
    ).check()
    qbo = QboData(transactions=qbo_txns, lines=qbo_lines, references=_references(), home_currency=HOME).check()
    return awra, qbo, PARAMS


def change_rows(frame: pd.DataFrame, where: Callable[[pd.DataFrame], pd.Series], **values: Any) -> pd.DataFrame:
    """A copy of ``frame`` with ``values`` set on the rows ``where`` selects (dtypes kept)."""
    out = frame.copy()
    mask = where(out).fillna(False).to_numpy(dtype=bool)
    assert mask.any(), "the change selects no row"
    for column, value in values.items():
        out.loc[mask, column] = value
    return out


def row_of(column: str, value: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A row selector: ``frame[column] == value``."""
    return lambda frame: frame[column] == value
