"""The AWRA reader against real SQLite, PostgreSQL and MariaDB databases.

Every backend test runs three times (``db`` is parametrized); PostgreSQL and MariaDB get a
fresh schema/database from ``conftest.py`` and are dropped afterwards. The standard data set
(``build_standard``) is small and documented inline; bad-data tests add their own rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import frames as F
from reconcile.config import AwraSettings
from reconcile.errors import SourceError, UsageError
from reconcile.model import AwraData, LookupRequest
from reconcile.params import RunParams
from reconcile.sources.awra import CHUNK_SIZE, awra_label, lookup_awra, open_awra, read_awra
from reconcile.sources.awra_schema import awra_metadata

MARCH = RunParams(
    run_id="test-run",
    company="default",
    company_name="Test Co",
    date_from=date(2024, 3, 1),
    date_to=date(2024, 3, 31),
)


# --------------------------------------------------------------------------- databases


@dataclass
class AwraDb:
    """An AWRA database under test: the reader's URL and a writable engine to build it."""

    backend: str
    url: str
    engine: sa.Engine

    def settings(self, **overrides: Any) -> AwraSettings:
        return AwraSettings(url=self.url, **overrides)

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert raw values (untyped columns: the driver sees exactly these values)."""
        if not rows:
            return
        keys = list(dict.fromkeys(k for row in rows for k in row))
        clause = sa.table(table, *(sa.column(k) for k in keys))
        values = [{k: self._value(row.get(k), k) for k in keys} for row in rows]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(clause), values)

    def _value(self, value: Any, key: str) -> Any:
        if self.backend == "postgres" and key == "active" and value in (0, 1):
            return bool(value)  # a real boolean column
        if self.backend != "sqlite":
            return value
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    def execute(self, *statements: str) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))

    def scalar(self, statement: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(statement)).scalar()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AwraDb]:
    """An AWRA database with every table and no rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'awra.db'}"
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_schema_url")
    else:
        url = request.getfixturevalue("mariadb_database_url")
    engine = sa.create_engine(url)
    awra_metadata().create_all(engine)
    try:
        yield AwraDb(request.param, url, engine)
    finally:
        engine.dispose()


@pytest.fixture
def db(empty_db: AwraDb) -> AwraDb:
    """An AWRA database holding the standard data set."""
    build_standard(empty_db)
    return empty_db


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def build_standard(db: AwraDb) -> None:
    """A small company; the run window is March 2024.

    Invoices: 1 (Mar 5, posted, linked Q1), 2 (Mar 31, draft), 5 (Mar 1, void) are in the
    window; 3 (Feb 29, linked Q3), 4 (Apr 1), 7 (Jan, synced as Q7 per the sync log only) and
    8 (Jan, synced as Q8-old then re-synced as Q8-new) are not. Payment P1, bill B1 and journal
    J1 are in the window.
    """
    active = {"active": 1, "updated_at": ts("2024-01-01 08:00:00")}
    db.insert(
        "customers",
        [
            {"id": "C1", "code": "ALPHA", "name": "Alpha Traders", "email": "a@example.com", **active},
            {"id": "C2", "code": "BETA", "name": "Beta Stores", "email": None, **active},
            {"id": "C3", "code": "OLD", "name": "Old Co", "email": None, "active": 0, "updated_at": None},
        ],
    )
    db.insert("vendors", [{"id": "V1", "code": "KPLC", "name": "Kenya Power", **active}])
    db.insert(
        "accounts",
        [
            {"id": "A-INC", "code": "4000", "name": "Sales", "account_type": "income", **active},
            {"id": "A-BANK", "code": "1000", "name": "Bank", "account_type": "bank", **active},
            {"id": "A-EXP", "code": "6000", "name": "Expenses", "account_type": "expense", **active},
            {"id": "A-AR", "code": "1200", "name": "Receivables", "account_type": "receivable", **active},
        ],
    )
    db.insert(
        "items",
        [
            {
                "id": "I1",
                "code": "CONS",
                "name": "Consulting",
                "item_type": "service",
                "income_account_id": "A-INC",
                "expense_account_id": None,
                **active,
            },
            {
                "id": "I2",
                "code": "WID",
                "name": "Widget",
                "item_type": "inventory",
                "income_account_id": "A-INC",
                "expense_account_id": "A-EXP",
                **active,
            },
        ],
    )
    db.insert(
        "tax_codes",
        [
            {"id": "T16", "code": "VAT16", "name": "VAT 16%", "rate_percent": Decimal("16.0000"), **active},
            {"id": "T0", "code": "ZERO", "name": "Zero rated", "rate_percent": Decimal("0"), **active},
            {"id": "T7", "code": "T7", "name": "Odd rate", "rate_percent": Decimal("7.1250"), **active},
        ],
    )
    db.insert(
        "payment_methods",
        [
            {"id": "PM-CASH", "code": "CASH", "name": "Cash", "method_type": "cash", **active},
            {"id": "PM-MM", "code": "MPESA", "name": "M-Pesa", "method_type": "mobile_money", **active},
        ],
    )
    db.insert(
        "qbo_mappings",
        [
            {"mapping_type": "customer", "awra_id": "C1", "qbo_id": "58", "qbo_name": "Alpha Traders"},
            {"mapping_type": "item", "awra_id": "I1", "qbo_id": "3", "qbo_name": "Consulting"},
        ],
    )

    def invoice(id_: str, day: date, status: str, total: str, tax: str = "0.00", **extra: Any) -> dict[str, Any]:
        return {
            "id": id_,
            "number": f"INV-{id_}",
            "customer_id": "C1",
            "txn_date": day,
            "due_date": None,
            "currency": "KES",
            "total_amount": Decimal(total),
            "tax_amount": Decimal(tax),
            "status": status,
            "branch": "NBO",
            "warehouse": "W1",
            "qbo_id": None,
            "updated_at": ts("2024-03-06 09:00:00"),
            "updated_by": "amina",
            **extra,
        }

    db.insert(
        "invoices",
        [
            invoice("1", date(2024, 3, 5), "posted", "116.00", "16.00", qbo_id="Q1", due_date=date(2024, 4, 4)),
            invoice("2", date(2024, 3, 31), "draft", "50.00", customer_id="C2"),
            invoice("3", date(2024, 2, 29), "posted", "10.00", qbo_id="Q3"),
            invoice("4", date(2024, 4, 1), "posted", "20.00", customer_id="C2"),
            invoice("5", date(2024, 3, 1), "void", "5.00"),
            invoice("7", date(2024, 1, 15), "posted", "7.00"),
            invoice("8", date(2024, 1, 20), "posted", "8.00"),
        ],
    )

    def line(inv: str, no: int, item: str, amount: str, tax_code: str = "T0") -> dict[str, Any]:
        return {
            "invoice_id": inv,
            "line_no": no,
            "item_id": item,
            "description": f"line {no}",
            "quantity": Decimal(1),
            "unit_price": Decimal(amount),
            "amount": Decimal(amount),
            "tax_code_id": tax_code,
        }

    db.insert(
        "invoice_lines",
        [
            line("1", 1, "I1", "100.00", "T16"),
            line("2", 1, "I1", "30.00"),
            line("2", 2, "I2", "20.00"),
            line("3", 1, "I1", "10.00"),
            line("4", 1, "I1", "20.00"),
            line("5", 1, "I1", "5.00"),
            line("7", 1, "I1", "7.00"),
            line("8", 1, "I1", "8.00"),
        ],
    )
    db.insert(
        "payments",
        [
            {
                "id": "P1",
                "number": "PAY-1",
                "customer_id": "C1",
                "txn_date": date(2024, 3, 10),
                "currency": "KES",
                "amount": Decimal("116.00"),
                "payment_method_id": "PM-CASH",
                "deposit_account_id": "A-BANK",
                "status": "posted",
                "branch": "NBO",
                "qbo_id": None,
                "updated_at": None,
                "updated_by": "amina",
            }
        ],
    )
    db.insert(
        "payment_applications",
        [
            {"payment_id": "P1", "invoice_id": "3", "amount": Decimal("16.00")},
            {"payment_id": "P1", "invoice_id": "1", "amount": Decimal("100.00")},
        ],
    )
    db.insert(
        "bills",
        [
            {
                "id": "B1",
                "number": "BILL-1",
                "vendor_id": "V1",
                "txn_date": date(2024, 3, 15),
                "due_date": date(2024, 4, 15),
                "currency": "KES",
                "total_amount": Decimal("58.00"),
                "tax_amount": Decimal("8.00"),
                "status": "approved",
                "branch": "MSA",
                "warehouse": None,
                "qbo_id": None,
                "updated_at": None,
                "updated_by": None,
            }
        ],
    )
    db.insert(
        "bill_lines",
        [
            {
                "bill_id": "B1",
                "line_no": 1,
                "item_id": "I2",
                "account_id": None,
                "description": "widgets",
                "amount": Decimal("50.00"),
                "tax_code_id": "T16",
            }
        ],
    )
    db.insert(
        "journals",
        [
            {
                "id": "J1",
                "number": "JE-1",
                "txn_date": date(2024, 3, 20),
                "currency": "KES",
                "status": "posted",
                "memo": "Accrual",
                "branch": None,
                "qbo_id": None,
                "updated_at": None,
                "updated_by": None,
            }
        ],
    )
    db.insert(
        "journal_lines",
        [
            {"journal_id": "J1", "line_no": 1, "account_id": "A-EXP", "debit": Decimal("75.25"), "credit": None},
            {"journal_id": "J1", "line_no": 2, "account_id": "A-BANK", "debit": None, "credit": Decimal("75.25")},
        ],
    )
    db.insert(
        "sync_runs",
        [
            {"id": "R1", "connector": "qbo", "started_at": ts("2024-03-06 01:00:00"), "status": "succeeded"},
            {"id": "R2", "connector": "qbo", "started_at": ts("2024-01-16 01:00:00"), "status": "failed"},
            {"id": "R9", "connector": "qbo", "started_at": ts("2023-01-01 01:00:00"), "status": "succeeded"},
        ],
    )

    def log(id_: str, run: str, rtype: str, rid: str, status: str, when: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": id_,
            "sync_run_id": run,
            "connector": "qbo",
            "record_type": rtype,
            "record_id": rid,
            "record_number": None,
            "status": status,
            "error_code": None,
            "message": None,
            "retry_count": 0,
            "qbo_id": None,
            "attempted_at": ts(when),
            **extra,
        }

    db.insert(
        "sync_log",
        [
            log("L1", "R1", "invoice", "1", "succeeded", "2024-03-06 01:05:00", qbo_id="Q1"),
            log("L2", "R2", "invoice", "1", "failed", "2024-03-05 23:00:00", retry_count=1, error_code="6000"),
            log("L3", "R1", "customer", "C1", "succeeded", "2024-03-06 01:01:00", qbo_id="58"),
            log("L4", "R2", "invoice", "7", "succeeded", "2024-01-16 01:05:00", qbo_id="Q7"),
            log("L5", "R1", "invoice", "8", "succeeded", "2024-01-21 01:05:00", qbo_id="Q8-old"),
            log("L6", "R2", "invoice", "8", "succeeded", "2024-01-22 01:05:00", qbo_id="Q8-new"),
            log("L7", "R1", "invoice", "1", "succeeded", "2024-03-07 01:05:00", qbo_id="X1", connector="xero"),
            log("L9", "R9", "invoice", "4", "failed", "2024-04-02 01:05:00"),
            log("L10", "R1", "payment", "P1", "pending", "2024-03-11 01:05:00"),
        ],
    )


def by_id(frame: pd.DataFrame, entity: str) -> pd.DataFrame:
    return frame[frame["entity"] == entity].set_index("id")


# --------------------------------------------------------------------------- the window


def test_window_reads_every_status_within_the_dates(db: AwraDb) -> None:
    data = read_awra(db.settings(), MARCH)
    tx = data.transactions
    assert sorted(tx.loc[tx["entity"] == "invoice", "id"]) == ["1", "2", "5"]
    assert list(tx.loc[tx["entity"] != "invoice", "id"]) == ["P1", "B1", "J1"]
    invoices = by_id(tx, "invoice")
    assert invoices["status"].to_dict() == {"1": "posted", "2": "draft", "5": "void"}
    assert invoices["is_void"].to_dict() == {"1": False, "2": False, "5": True}
    assert tx["in_window"].all() and tx["data_ok"].all()
    assert data.data_quality.empty, data.data_quality.to_dict("records")


def test_transaction_fields_are_exact_and_complete(db: AwraDb) -> None:
    tx = read_awra(db.settings(), MARCH).transactions.set_index("id")
    inv = tx.loc["1"]
    assert (inv["amount_cents"], inv["tax_cents"], inv["line_total_cents"]) == (11600, 1600, 10000)
    assert (inv["party_id"], inv["party_name"], inv["qbo_link"], inv["number"]) == (
        "C1",
        "Alpha Traders",
        "Q1",
        "INV-1",
    )
    assert inv["txn_date"] == pd.Timestamp("2024-03-05") and inv["due_date"] == pd.Timestamp("2024-04-04")
    assert (inv["currency"], inv["branch"], inv["warehouse"], inv["updated_by"]) == ("KES", "NBO", "W1", "amina")
    assert inv["updated_at"] == pd.Timestamp("2024-03-06 09:00:00", tz="UTC")
    assert tx.loc["2", "party_name"] == "Beta Stores"
    pay = tx.loc["P1"]
    assert (pay["amount_cents"], pay["line_total_cents"]) == (11600, 11600)
    assert pd.isna(pay["tax_cents"]) and pd.isna(pay["due_date"])
    bill = tx.loc["B1"]
    assert (bill["amount_cents"], bill["tax_cents"], bill["line_total_cents"]) == (5800, 800, 5000)
    assert (bill["party_id"], bill["party_name"]) == ("V1", "Kenya Power")
    journal = tx.loc["J1"]
    assert (journal["amount_cents"], journal["line_total_cents"], journal["memo"]) == (7525, 7525, "Accrual")
    assert pd.isna(journal["party_id"]) and pd.isna(journal["tax_cents"])


def test_lines_include_payment_masters_and_applications(db: AwraDb) -> None:
    lines = read_awra(db.settings(), MARCH).lines
    pay = lines[lines["entity"] == "payment"]
    head = pay[pay["line_no"] == 0].iloc[0]
    assert (head["txn_id"], head["payment_method_id"], head["account_id"]) == ("P1", "PM-CASH", "A-BANK")
    assert pd.isna(head["amount_cents"])
    apps = pay[pay["line_no"] > 0]
    assert list(zip(apps["line_no"], apps["ref_id"], apps["amount_cents"], strict=True)) == [
        (1, "1", 10000),
        (2, "3", 1600),
    ]
    # each applied invoice's QBO link, also for invoice 3, dated before the window and not read
    assert apps["ref_link"].tolist() == ["Q1", "Q3"]
    journal = lines[lines["entity"] == "journal"]
    assert journal["debit_cents"].tolist() == [7525, pd.NA]
    assert journal["credit_cents"].tolist() == [pd.NA, 7525]
    assert journal["account_id"].tolist() == ["A-EXP", "A-BANK"]
    invoice_lines = lines[lines["entity"] == "invoice"]
    assert sorted(invoice_lines["txn_id"].unique()) == ["1", "2", "5"]  # only the window's
    first = invoice_lines[invoice_lines["txn_id"] == "1"].iloc[0]
    assert (first["item_id"], first["tax_code_id"], first["amount_cents"]) == ("I1", "T16", 10000)
    bill = lines[lines["entity"] == "bill"].iloc[0]
    assert (bill["item_id"], bill["tax_code_id"], bill["amount_cents"]) == ("I2", "T16", 5000)


def test_masters_mappings_sync_log_and_runs(db: AwraDb) -> None:
    data = read_awra(db.settings(), MARCH)
    masters = data.masters
    assert masters.groupby("master_type").size().to_dict() == {
        "account": 4,
        "customer": 3,
        "item": 2,
        "payment_method": 2,
        "tax_code": 3,
        "vendor": 1,
    }
    customers = masters[masters["master_type"] == "customer"].set_index("id")
    assert customers["active"].to_dict() == {"C1": True, "C2": True, "C3": False}
    assert customers.loc["C1", "email"] == "a@example.com"
    rates = masters[masters["master_type"] == "tax_code"].set_index("id")["rate_percent"].to_dict()
    assert rates == {"T0": "0", "T16": "16", "T7": "7.125"}
    items = masters[masters["master_type"] == "item"].set_index("id")
    assert items.loc["I2", "expense_account_id"] == "A-EXP" and items.loc["I2", "item_type"] == "inventory"
    assert set(zip(data.mappings["mapping_type"], data.mappings["awra_id"], strict=True)) == {
        ("customer", "C1"),
        ("item", "I1"),
    }
    # every attempt of the records read, master rows, nothing of another connector or record
    assert sorted(data.sync_log["id"]) == ["L1", "L10", "L2", "L3"]
    attempts = data.sync_log[data.sync_log["record_id"] == "1"]
    assert attempts["status"].tolist() == ["failed", "succeeded"]  # ordered by attempted_at
    assert attempts["retry_count"].tolist() == [1, 0]
    assert data.sync_log.set_index("id").loc["L2", "attempted_at"] == pd.Timestamp("2024-03-05 23:00", tz="UTC")
    assert sorted(data.sync_runs["id"]) == ["R1", "R2"]


def test_entities_limit_what_is_read(db: AwraDb) -> None:
    params = RunParams(**{**MARCH.__dict__, "entities": ("bill",)})
    data = read_awra(db.settings(), params)
    assert data.transactions["entity"].unique().tolist() == ["bill"]
    assert data.lines["entity"].unique().tolist() == ["bill"]
    assert sorted(data.sync_log["record_type"].unique()) == ["customer"]


def test_tables_of_entities_not_read_may_be_missing(empty_db: AwraDb) -> None:
    empty_db.execute("DROP TABLE journal_lines", "DROP TABLE journals")
    params = RunParams(**{**MARCH.__dict__, "entities": ("invoice",)})
    assert read_awra(empty_db.settings(), params).transactions.empty


# --------------------------------------------------------------------------- exact money


def test_large_decimals_stay_exact(empty_db: AwraDb) -> None:
    if empty_db.backend == "sqlite":
        pytest.skip("SQLite's NUMERIC affinity stores this as a REAL; see test_sqlite_money_storage_classes")
    build_standard(empty_db)
    empty_db.execute("UPDATE invoices SET total_amount = 99999999999999.99, tax_amount = -0.01 WHERE id = '1'")
    tx = read_awra(empty_db.settings(), MARCH).transactions.set_index("id")
    assert tx.loc["1", "amount_cents"] == 9_999_999_999_999_999
    assert tx.loc["1", "tax_cents"] == -1


def test_sqlite_money_storage_classes(tmp_path: Path) -> None:
    """REAL, INTEGER and TEXT money in SQLite all become exact cents (ROUND_HALF_UP)."""
    path = tmp_path / "awra.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    awra_metadata().create_all(engine)
    db = AwraDb("sqlite", f"sqlite:///{path}", engine)
    build_standard(db)
    # money columns without affinity keep whatever storage class was written
    db.execute(
        "DROP TABLE invoices",
        "CREATE TABLE invoices (id TEXT PRIMARY KEY, number, customer_id, txn_date, due_date, currency,"
        " total_amount, tax_amount, status, branch, warehouse, qbo_id, updated_at, updated_by)",
    )
    rows = [
        ("m1", "9999999999999999.99", 0.1 + 0.2),  # TEXT beyond float precision; REAL 0.30000000000000004
        ("m2", 12, "1234.565"),  # INTEGER; TEXT with a half cent -> up
        ("m3", 1.005, "-0.005"),  # REAL whose binary value is below 1.005; negative half cent
        ("m4", " 42.10 ", "1e3"),  # padded TEXT; exponent
        ("m5", 2.675, 0),  # classic float rounding trap
    ]
    db.insert(
        "invoices",
        [
            {
                "id": i,
                "number": i,
                "customer_id": "C1",
                "txn_date": "2024-03-02",
                "status": "posted",
                "total_amount": t,
                "tax_amount": x,
            }
            for i, t, x in rows
        ],
    )
    with sqlite3.connect(path) as raw:
        kinds = dict(raw.execute("SELECT id, typeof(total_amount) || '/' || typeof(tax_amount) FROM invoices"))
    assert kinds == {
        "m1": "text/real",
        "m2": "integer/text",
        "m3": "real/text",
        "m4": "text/text",
        "m5": "real/integer",
    }
    data = read_awra(db.settings(), RunParams(**{**MARCH.__dict__, "entities": ("invoice",)}))
    tx = data.transactions.set_index("id")
    assert tx.loc["m1", ["amount_cents", "tax_cents"]].tolist() == [999_999_999_999_999_999, 30]
    assert tx.loc["m2", ["amount_cents", "tax_cents"]].tolist() == [1200, 123457]
    assert tx.loc["m3", ["amount_cents", "tax_cents"]].tolist() == [101, -1]
    assert tx.loc["m4", ["amount_cents", "tax_cents"]].tolist() == [4210, 100000]
    assert tx.loc["m5", ["amount_cents", "tax_cents"]].tolist() == [268, 0]
    assert data.data_quality.empty
    engine.dispose()


# --------------------------------------------------------------------------- bad data


def add_bad_rows(db: AwraDb) -> dict[tuple[str, str], str]:
    """Rows any backend can hold; returns {(awra_id, field): words the problem must contain}."""
    base = {"currency": "KES", "tax_amount": Decimal("0"), "status": "posted", "customer_id": "C1"}
    day = date(2024, 3, 12)
    db.insert(
        "invoices",
        [
            {"id": "b-null-total", "number": "BAD-1", "txn_date": day, **base, "total_amount": None},
            {
                "id": "b-status",
                "number": "BAD-2",
                "txn_date": day,
                **{**base, "status": "pending_review"},
                "total_amount": Decimal(1),
            },
            {
                "id": "b-cust",
                "number": "BAD-3",
                "txn_date": day,
                **{**base, "customer_id": "C404"},
                "total_amount": Decimal(1),
            },
            {
                "id": "b-nocust",
                "number": "BAD-4",
                "txn_date": day,
                **{**base, "customer_id": None},
                "total_amount": Decimal(1),
            },
            {"id": "b-lines", "number": "BAD-5", "txn_date": day, **base, "total_amount": Decimal(1)},
            {"id": "b-nodate", "number": "BAD-6", "txn_date": None, **base, "total_amount": Decimal(1)},
            {
                "id": "b-tax",
                "number": "BAD-7",
                "txn_date": day,
                **{**base, "tax_amount": None},
                "total_amount": Decimal(1),
            },
        ],
    )
    db.insert(
        "invoice_lines",
        [
            {"invoice_id": "b-lines", "line_no": 1, "item_id": "I404", "amount": Decimal(1), "tax_code_id": "T404"},
            {"invoice_id": "b-lines", "line_no": 2, "item_id": "I1", "amount": None, "tax_code_id": None},
        ],
    )
    pay = {"currency": "KES", "status": "posted", "customer_id": "C1", "txn_date": day}
    db.insert(
        "payments",
        [
            {
                "id": "b-pay",
                "number": "BADP-1",
                **pay,
                "amount": Decimal(5),
                "payment_method_id": "PM404",
                "deposit_account_id": "A404",
            },
            {
                "id": "b-pay-null",
                "number": "BADP-2",
                **pay,
                "amount": None,
                "payment_method_id": None,
                "deposit_account_id": None,
            },
        ],
    )
    db.insert(
        "payment_applications",
        [
            {"payment_id": "b-pay", "invoice_id": "404", "amount": Decimal(5)},
            {"payment_id": "b-pay-null", "invoice_id": "1", "amount": None},
        ],
    )
    db.insert(
        "bills",
        [
            {
                "id": "b-bill",
                "number": "BADB-1",
                "vendor_id": "V404",
                "txn_date": day,
                "currency": "KES",
                "total_amount": Decimal(3),
                "tax_amount": Decimal(0),
                "status": "posted",
            },
        ],
    )
    db.insert(
        "bill_lines",
        [
            {"bill_id": "b-bill", "line_no": 1, "item_id": None, "account_id": "A404", "amount": Decimal(1)},
            {"bill_id": "b-bill", "line_no": 2, "item_id": None, "account_id": None, "amount": Decimal(2)},
        ],
    )
    db.insert("journals", [{"id": "b-je", "number": "BADJ-1", "txn_date": day, "currency": "KES", "status": "posted"}])
    db.insert(
        "journal_lines",
        [
            {"journal_id": "b-je", "line_no": 1, "account_id": "A404", "debit": Decimal(4), "credit": None},
            {"journal_id": "b-je", "line_no": 2, "account_id": None, "debit": None, "credit": Decimal(4)},
            {"journal_id": "b-je", "line_no": 3, "account_id": "A-BANK", "debit": None, "credit": None},
        ],
    )
    db.insert(
        "customers",
        [
            {"id": "C-noname", "code": "NN", "name": None, "active": 1},
            {"id": "C-blank", "code": "BL", "name": "   ", "active": 1},
        ],
    )
    db.insert("vendors", [{"id": "V-noflag", "code": "NF", "name": "No flag", "active": None}])
    db.insert("tax_codes", [{"id": "T-norate", "code": "NR", "name": "No rate", "rate_percent": None, "active": 1}])
    db.insert(
        "items",
        [
            {
                "id": "I-dangling",
                "code": "ID",
                "name": "Lost",
                "item_type": "service",
                "income_account_id": "A404",
                "active": 1,
            }
        ],
    )
    db.insert("accounts", [{"id": "A-odd", "code": "9", "name": "Odd", "account_type": "weird", "active": 1}])
    return {
        ("b-null-total", "total_amount"): "total amount is empty",
        ("b-status", "status"): "'pending_review' is not an AWRA status",
        ("b-cust", "customer_id"): "customer 'C404' does not exist in customers",
        ("b-nocust", "customer_id"): "customer is empty",
        ("b-lines", "item_id"): "line 1: item 'I404' does not exist in items",
        ("b-lines", "tax_code_id"): "line 1: tax code 'T404' does not exist in tax_codes",
        ("b-lines", "amount"): "line 2: amount is empty",
        ("b-nodate", "txn_date"): "transaction date is empty",
        ("b-tax", "tax_amount"): "tax amount is empty",
        ("b-pay", "payment_method_id"): "payment method 'PM404' does not exist in payment_methods",
        ("b-pay", "deposit_account_id"): "account 'A404' does not exist in accounts",
        ("b-pay", "invoice_id"): "applied to invoice '404', which does not exist in invoices",
        ("b-pay-null", "amount"): "amount is empty",
        ("b-bill", "vendor_id"): "vendor 'V404' does not exist in vendors",
        ("b-bill", "account_id"): "line 1: account 'A404' does not exist in accounts",
        ("b-bill", "item_id"): "line 2: names neither an item nor an account",
        ("b-je", "account_id"): "account 'A404' does not exist",
        ("b-je", "debit"): "line 3: has neither a debit nor a credit",
        ("C-noname", "name"): "name is empty",
        ("C-blank", "name"): "name is empty",
        ("V-noflag", "active"): "active flag is empty",
        ("T-norate", "rate_percent"): "tax rate is empty",
        ("I-dangling", "income_account_id"): "income account 'A404' does not exist in accounts",
        ("A-odd", "account_type"): "account type 'weird' is not one of",
    }


def assert_findings(data: AwraData, expected: Mapping[tuple[str, str], str]) -> None:
    dq = data.data_quality
    found: dict[tuple[str, str], list[str]] = {}
    for row in dq.itertuples():
        found.setdefault((row.awra_id, row.field), []).append(row.problem)
    assert set(found) == set(expected), {"extra": set(found) - set(expected), "missing": set(expected) - set(found)}
    for key, words in expected.items():
        assert any(words in p for p in found[key]), (key, found[key])
    assert dq["table"].notna().all() and dq["entity"].notna().all() and dq["problem"].notna().all()


def test_bad_rows_become_data_quality_rows(db: AwraDb) -> None:
    expected = add_bad_rows(db)
    data = read_awra(db.settings(), MARCH)
    assert_findings(data, expected)
    tx = data.transactions.set_index("id")
    bad_tx = {key[0] for key in expected if key[0].startswith("b-")}
    assert bad_tx <= set(tx.index)  # kept for pairing ...
    assert not tx.loc[sorted(bad_tx), "data_ok"].any()  # ... but left out of comparison
    assert tx.drop(index=sorted(bad_tx))["data_ok"].all()
    assert pd.isna(tx.loc["b-nodate", "txn_date"]) and tx.loc["b-nodate", "in_window"]
    assert pd.isna(tx.loc["b-null-total", "amount_cents"])
    assert pd.isna(tx.loc["b-lines", "line_total_cents"])  # a line without amount: total unknown
    assert pd.isna(tx.loc["b-je", "amount_cents"])
    assert tx.loc["b-status", "status"] == "pending_review" and not tx.loc["b-status", "is_void"]
    dq = data.data_quality
    row = dq[(dq["awra_id"] == "b-cust") & (dq["field"] == "customer_id")].iloc[0]
    assert (row["table"], row["entity"], row["awra_number"], row["value"]) == ("invoices", "invoice", "BAD-3", "C404")
    row = dq[dq["awra_id"] == "C-noname"].iloc[0]
    assert (row["table"], row["entity"], row["awra_number"], row["field"]) == ("customers", "customer", "NN", "name")


def test_bad_values_only_a_loose_schema_can_hold(empty_db: AwraDb) -> None:
    """SQLite and MariaDB accept values PostgreSQL's types refuse."""
    if empty_db.backend == "postgres":
        pytest.skip("PostgreSQL's column types refuse these values")
    build_standard(empty_db)
    empty_db.insert("vendors", [{"id": "V-flag", "code": "F", "name": "Flag", "active": 7}])
    expected = {("V-flag", "active"): "active flag '7' is not 0 or 1"}
    if empty_db.backend == "sqlite":
        day = "2024-03-12"
        rows = [
            ("s-text", day, "abc", "total amount 'abc' is not a number", "total_amount"),
            ("s-nan", day, "NaN", "total amount 'NaN' is not a number", "total_amount"),
            ("s-word-date", "tomorrow", "1", "transaction date 'tomorrow' is not a valid date", "txn_date"),
            ("s-bad-day", "2024-03-32", "1", "transaction date '2024-03-32' is not a valid date", "txn_date"),
            ("s-dmy", "31/03/2024", "1", "transaction date '31/03/2024' is not a valid date", "txn_date"),
            ("s-int-date", 20240305, "1", "transaction date '20240305' is not a valid date", "txn_date"),
        ]
        empty_db.insert(
            "invoices",
            [
                {
                    "id": i,
                    "number": i,
                    "customer_id": "C1",
                    "txn_date": d,
                    "status": "posted",
                    "total_amount": t,
                    "tax_amount": 0,
                }
                for i, d, t, _, _ in rows
            ],
        )
        empty_db.insert("invoice_lines", [{"invoice_id": "s-text", "line_no": 1, "item_id": "I1", "amount": "1,00"}])
        empty_db.insert(
            "journal_lines", [{"journal_id": "J1", "line_no": 3, "account_id": "A-EXP", "debit": "x", "credit": None}]
        )
        empty_db.insert(
            "tax_codes", [{"id": "T-word", "code": "W", "name": "Word", "rate_percent": "sixteen", "active": "maybe"}]
        )
        expected |= {(i, field): words for i, _, _, words, field in rows}
        expected |= {
            ("s-text", "amount"): "line 1: amount '1,00' is not a number",
            ("J1", "debit"): "line 3: debit 'x' is not a number",
            ("T-word", "rate_percent"): "tax rate 'sixteen' is not a number",
            ("T-word", "active"): "active flag 'maybe' is not 0 or 1",
        }
        # a SQLite date with a time part still belongs to its day
        empty_db.insert(
            "invoices",
            [
                {
                    "id": "s-time",
                    "number": "T",
                    "customer_id": "C1",
                    "txn_date": "2024-03-31 18:30:00",
                    "status": "posted",
                    "total_amount": 1,
                    "tax_amount": 0,
                }
            ],
        )
    data = read_awra(empty_db.settings(), MARCH)
    assert_findings(data, expected)
    tx = data.transactions.set_index("id")
    if empty_db.backend == "sqlite":
        assert pd.isna(tx.loc["s-word-date", "txn_date"]) and pd.isna(tx.loc["s-int-date", "txn_date"])
        assert not tx.loc[["s-text", "s-word-date", "s-dmy", "J1"], "data_ok"].any()
        assert tx.loc["s-time", "txn_date"] == pd.Timestamp("2024-03-31") and tx.loc["s-time", "data_ok"]
        assert pd.isna(tx.loc["J1", "amount_cents"])
        masters = data.masters.set_index("id")
        assert pd.isna(masters.loc["T-word", "rate_percent"]) and pd.isna(masters.loc["T-word", "active"])


def test_integer_ids_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "awra.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    awra_metadata().create_all(engine)
    db = AwraDb("sqlite", f"sqlite:///{path}", engine)
    db.execute(
        "DROP TABLE customers",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, code, name, email, active, updated_at)",
        "DROP TABLE invoice_lines",
        "CREATE TABLE invoice_lines (invoice_id INTEGER, line_no REAL, item_id, description, amount, tax_code_id)",
        "DROP TABLE invoices",
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, number, customer_id REAL, txn_date, due_date, currency,"
        " total_amount, tax_amount, status, branch, warehouse, qbo_id INTEGER, updated_at, updated_by)",
    )
    db.insert("customers", [{"id": 12, "code": 7, "name": "Twelve", "active": 1}])
    db.insert(
        "invoices",
        [
            {
                "id": 3,
                "number": 1001,
                "customer_id": 12.0,
                "txn_date": "2024-03-03",
                "status": "posted",
                "total_amount": 1,
                "tax_amount": 0,
                "qbo_id": 99,
            }
        ],
    )
    db.insert("invoice_lines", [{"invoice_id": 3, "line_no": 1.0, "amount": 1}])
    data = read_awra(db.settings(), MARCH)
    row = data.transactions.iloc[0]
    assert (row["id"], row["number"], row["party_id"], row["party_name"], row["qbo_link"]) == (
        "3",
        "1001",
        "12",
        "Twelve",
        "99",
    )
    assert data.masters.iloc[0]["id"] == "12" and data.masters.iloc[0]["code"] == "7"
    assert data.lines.iloc[0]["txn_id"] == "3" and data.lines.iloc[0]["line_no"] == 1
    assert data.data_quality.empty
    engine.dispose()


# --------------------------------------------------------------------------- renames


def test_renamed_tables_and_columns_from_config(db: AwraDb) -> None:
    db.execute(
        "ALTER TABLE invoices RENAME TO inv_header",
        "ALTER TABLE inv_header RENAME COLUMN total_amount TO grand_total",
        "ALTER TABLE invoice_lines RENAME COLUMN invoice_id TO inv_ref",
        "ALTER TABLE customers RENAME COLUMN name TO cust_name",
        "ALTER TABLE sync_log RENAME COLUMN record_id TO rec_id",
    )
    settings = db.settings(
        tables={"invoices": "inv_header"},
        columns={
            "invoices": {"total_amount": "grand_total"},
            "invoice_lines": {"invoice_id": "inv_ref"},
            "customers": {"name": "cust_name"},
            "sync_log": {"record_id": "rec_id"},
        },
    )
    data = read_awra(settings, MARCH)
    tx = data.transactions.set_index("id")
    assert sorted(tx.index[tx["entity"] == "invoice"]) == ["1", "2", "5"]
    assert tx.loc["1", "amount_cents"] == 11600 and tx.loc["1", "line_total_cents"] == 10000
    assert tx.loc["1", "party_name"] == "Alpha Traders"
    assert sorted(data.sync_log["id"]) == ["L1", "L10", "L2", "L3"]
    assert tx["data_ok"].all()
    found = lookup_awra(settings, MARCH, LookupRequest(awra_links={"invoice": frozenset({"Q3"})}))
    assert found.transactions["id"].tolist() == ["3"]
    with pytest.raises(UsageError, match="missing tables: invoices"):
        read_awra(db.settings(), MARCH)  # without the renames


# --------------------------------------------------------------------------- look-ups


def test_lookup_by_link_sync_log_and_number(db: AwraDb) -> None:
    request = LookupRequest(
        awra_links={"invoice": frozenset({"Q3", "Q7", "Q8-new", "Q8-old", "Q1", "nothing"})},
        awra_numbers={"invoice": frozenset({"INV-4", "INV-2"}), "payment": frozenset({"PAY-404"})},
    )
    data = lookup_awra(db.settings(), MARCH, request)
    tx = data.transactions
    # Q3: the record's qbo_id; Q7 / Q8-new: the latest succeeded sync; INV-4: the number.
    # Q8-old is not the latest succeeded sync of 8; Q1 and INV-2 are in the window already.
    assert sorted(tx["id"]) == ["3", "4", "7", "8"]
    assert not tx["in_window"].any() and tx["data_ok"].all()
    assert tx.set_index("id").loc["3", "qbo_link"] == "Q3"
    assert sorted(data.lines["txn_id"]) == ["3", "4", "7", "8"]
    assert sorted(data.sync_log["id"]) == ["L4", "L5", "L6", "L9"]
    assert data.masters.empty and data.mappings.empty and data.sync_runs.empty and data.data_quality.empty


def test_lookup_chunks_long_lists_and_other_entities(db: AwraDb) -> None:
    many = frozenset({f"none-{i}" for i in range(CHUNK_SIZE * 2 + 7)} | {"Q3"})
    numbers = frozenset({f"x-{i}" for i in range(CHUNK_SIZE + 1)} | {"PAY-1"})
    params = RunParams(**{**MARCH.__dict__, "entities": ("invoice",)})  # payments not read by the run
    data = lookup_awra(
        db.settings(), params, LookupRequest(awra_links={"invoice": many}, awra_numbers={"payment": numbers})
    )
    assert sorted(zip(data.transactions["entity"], data.transactions["id"], strict=True)) == [
        ("invoice", "3"),
        ("payment", "P1"),
    ]
    payment_lines = data.lines[data.lines["entity"] == "payment"]
    assert sorted(payment_lines["line_no"]) == [0, 1, 2]


def test_empty_lookup_reads_nothing(tmp_path: Path) -> None:
    settings = AwraSettings(url=f"sqlite:///{tmp_path / 'absent.db'}")
    data = lookup_awra(settings, MARCH, LookupRequest())
    assert data.transactions.empty


def test_lookup_reports_bad_data_of_what_it_returns(db: AwraDb) -> None:
    db.execute("UPDATE invoices SET customer_id = 'C404' WHERE id = '3'")
    data = lookup_awra(db.settings(), MARCH, LookupRequest(awra_links={"invoice": frozenset({"Q3"})}))
    assert data.transactions["data_ok"].tolist() == [False]
    assert data.data_quality[["awra_id", "field"]].values.tolist() == [["3", "customer_id"]]


# --------------------------------------------------------------------------- read-only


def test_the_reader_connection_cannot_write(db: AwraDb) -> None:
    with pytest.raises((SourceError, sa.exc.DBAPIError)), open_awra(db.settings()) as conn:
        conn.execute(sa.text("DELETE FROM invoices"))
    with pytest.raises((SourceError, sa.exc.DBAPIError)), open_awra(db.settings()) as conn:
        conn.execute(sa.text("CREATE TABLE intruder (id INTEGER)"))
    with pytest.raises((SourceError, sa.exc.DBAPIError)), open_awra(db.settings()) as conn:
        conn.commit()  # even a new transaction on this connection is read-only
        conn.execute(sa.text("UPDATE invoices SET status = 'void'"))
    assert db.scalar("SELECT COUNT(*) FROM invoices") == 7
    assert db.scalar("SELECT COUNT(*) FROM invoices WHERE status = 'void'") == 1
    assert "intruder" not in sa.inspect(db.engine).get_table_names()


def test_the_reader_only_reads(db: AwraDb) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        read_awra(db.settings(), MARCH)
        lookup_awra(db.settings(), MARCH, LookupRequest(awra_numbers={"invoice": frozenset({"INV-4"})}))
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert statements
    verbs = {re.split(r"\s+", s.strip(), maxsplit=1)[0].upper() for s in statements}
    assert verbs <= {"SELECT", "PRAGMA", "BEGIN", "SET", "START", "SHOW", "WITH"}, verbs
    assert not [s for s in statements if re.match(r"\s*SET\b", s, re.I) and "TRANSACTION" not in s.upper()]


# --------------------------------------------------------------------------- errors


def test_missing_tables_and_columns_are_all_named(empty_db: AwraDb) -> None:
    empty_db.execute(
        "DROP TABLE bill_lines",
        "DROP TABLE sync_runs",
        "ALTER TABLE invoices RENAME COLUMN qbo_id TO qbo_ref",
    )
    settings = empty_db.settings(columns={"customers": {"email": "mail"}})
    with pytest.raises(UsageError) as caught:
        read_awra(settings, MARCH)
    text = caught.value.one_line()
    for part in ("bill_lines", "sync_runs", "invoices.qbo_id", "customers.mail (customers.email)"):
        assert part in text, text
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_missing_sqlite_file_is_a_usage_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "awra.db"
    with pytest.raises(UsageError, match="no such database file") as caught:
        read_awra(AwraSettings(url=f"sqlite:///{path}"), MARCH)
    assert caught.value.exit_code == 2
    assert not path.exists() and not path.parent.exists()
    plain = tmp_path / "awra.db"
    with pytest.raises(UsageError):
        read_awra(AwraSettings(url=f"sqlite:///{plain}"), MARCH)
    assert not plain.exists()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "not a valid SQLAlchemy URL"),
        ("nosuchdb://host/db", "no database driver"),
        ("sqlite://", "in-memory"),
        ("postgresql+psycopg://u@h:notaport/db", "not a valid SQLAlchemy URL"),
    ],
)
def test_unusable_urls_are_usage_errors(url: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        read_awra(AwraSettings(url=url), MARCH)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(UsageError, match="not an SQLite database file"):
        read_awra(AwraSettings(url=f"sqlite:///{path}"), MARCH)
    with pytest.raises(UsageError, match="no such database file"):
        read_awra(AwraSettings(url=f"sqlite:///{tmp_path}"), MARCH)


@pytest.mark.postgres
def test_unreachable_postgres_is_a_retriable_source_error() -> None:
    settings = AwraSettings(url="postgresql+psycopg://postgres:Sup3rSecret@127.0.0.1:1/test")
    with pytest.raises(SourceError) as caught:
        read_awra(settings, MARCH)
    error = caught.value
    assert error.exit_code == 3 and error.retriable and error.source == "AWRA"
    assert "Sup3rSecret" not in str(error) and "127.0.0.1" in str(error)
    assert "Sup3rSecret" not in awra_label(settings)


@pytest.mark.postgres
def test_missing_postgres_database_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_awra(AwraSettings(url="postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db_here"), MARCH)


@pytest.mark.mariadb
def test_refused_mariadb_login_is_a_retriable_source_error() -> None:
    settings = AwraSettings(url="mysql+pymysql://no_such_user:Sup3rSecret@127.0.0.1:3306/test")
    with pytest.raises(SourceError) as caught:
        read_awra(settings, MARCH)
    assert caught.value.retriable and caught.value.exit_code == 3
    assert "Sup3rSecret" not in str(caught.value) and "Access denied" in str(caught.value)


def test_frames_follow_their_schemas(db: AwraDb) -> None:
    data = read_awra(db.settings(), MARCH)
    for frame, schema in (
        (data.transactions, F.TRANSACTIONS),
        (data.lines, F.LINES),
        (data.masters, F.MASTERS),
        (data.mappings, F.MAPPINGS),
        (data.sync_log, F.SYNC_LOG),
        (data.sync_runs, F.SYNC_RUNS),
        (data.data_quality, F.DATA_QUALITY),
    ):
        assert list(frame.columns) == schema.names


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        pytest.param("sqlite"),
    ],
)
def test_date_columns_declared_as_text_follow_their_type(backend: str, request: pytest.FixtureRequest, tmp_path: Path):
    """A legacy schema keeps txn_date as text: the window is still the right one, bad text is reported."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'awra.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url" if backend == "postgres" else "mariadb_database_url")
    engine = sa.create_engine(url)
    metadata = awra_metadata()
    metadata.tables["invoices"].c["txn_date"].type = sa.String(40)  # as the legacy schema declares it
    metadata.create_all(engine)
    db = AwraDb(backend, url, engine)
    try:
        rows = [
            ("in-first", "2024-03-01"),
            ("in-last-with-time", "2024-03-31 23:59:00"),
            ("before", "2024-02-29"),
            ("after", "2024-04-01"),
            ("word", "tomorrow"),
            ("dmy", "31/03/2024"),
            ("impossible", "2024-03-32"),
        ]
        db.insert("customers", [{"id": "C1", "code": "C1", "name": "Customer One", "active": 1}])
        db.insert(
            "invoices",
            [
                {
                    "id": i,
                    "number": i,
                    "customer_id": "C1",
                    "txn_date": d,
                    "currency": "USD",
                    "status": "posted",
                    "total_amount": 1,
                    "tax_amount": 0,
                }
                for i, d in rows
            ],
        )
        data = read_awra(db.settings(), MARCH)
    finally:
        engine.dispose()
    tx = data.transactions.set_index("id")
    assert set(tx.index) == {"in-first", "in-last-with-time", "word", "dmy", "impossible"}
    assert tx.loc["in-first", "txn_date"] == pd.Timestamp("2024-03-01")
    assert tx.loc["in-last-with-time", "txn_date"] == pd.Timestamp("2024-03-31")
    assert tx.loc[["in-first", "in-last-with-time"], "data_ok"].all()
    assert not tx.loc[["word", "dmy", "impossible"], "data_ok"].any()
    bad_dates = data.data_quality[data.data_quality["field"] == "txn_date"]
    assert set(bad_dates["awra_id"]) == {"word", "dmy", "impossible"}


# --------------------------------------------------------------------------- exchange rates


def _txn(data: AwraData, entity: str, ident: str) -> pd.Series:
    t = data.transactions
    return t[((t["entity"] == entity) & (t["id"] == ident)).fillna(False).to_numpy(dtype=bool)].iloc[0]


def test_exchange_rates_and_the_deposit_account_are_read(db: AwraDb) -> None:
    db.execute(
        "UPDATE invoices SET exchange_rate = 129.5 WHERE id = '1'",
        "UPDATE payments SET exchange_rate = 0.0077 WHERE id = 'P1'",
    )
    data = read_awra(db.settings(), MARCH)
    assert _txn(data, "invoice", "1")["exchange_rate"] == "129.5"
    assert _txn(data, "payment", "P1")["exchange_rate"] == "0.0077"
    assert pd.isna(_txn(data, "invoice", "2")["exchange_rate"])  # NULL: unknown
    assert _txn(data, "payment", "P1")["deposit_account_id"] == "A-BANK"
    assert (data.data_quality["field"] != "exchange_rate").all()


def test_a_bad_exchange_rate_is_listed_and_leaves_only_the_rate_unknown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'awra.db'}"
    engine = sa.create_engine(url)
    awra_metadata().create_all(engine)
    db = AwraDb("sqlite", url, engine)
    build_standard(db)
    db.execute(
        "UPDATE invoices SET exchange_rate = 'lots' WHERE id = '1'",
        "UPDATE bills SET exchange_rate = -2 WHERE id = 'B1'",
    )
    data = read_awra(db.settings(), MARCH)
    rates = data.data_quality[data.data_quality["field"] == "exchange_rate"]
    assert sorted(zip(rates["awra_id"], rates["value"], strict=True)) == [("1", "lots"), ("B1", "-2")]
    assert all("not a positive number" in p for p in rates["problem"])
    for entity, ident in (("invoice", "1"), ("bill", "B1")):
        row = _txn(data, entity, ident)
        assert pd.isna(row["exchange_rate"]) and bool(row["data_ok"])
    engine.dispose()


def test_a_database_without_exchange_rate_columns_reads_them_as_unknown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'awra.db'}"
    engine = sa.create_engine(url)
    awra_metadata().create_all(engine)
    db = AwraDb("sqlite", url, engine)
    build_standard(db)
    db.execute(*(f"ALTER TABLE {t} DROP COLUMN exchange_rate" for t in ("invoices", "payments", "bills", "journals")))
    data = read_awra(db.settings(), MARCH)
    assert data.transactions["exchange_rate"].isna().all() and len(data.transactions)
    engine.dispose()
