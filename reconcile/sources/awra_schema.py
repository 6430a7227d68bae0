"""The AWRA tables as CONTRACTS §1 defines them, with their default names.

Transaction tables carry the optional ``exchange_rate`` column CONTRACTS §1 allows (home-currency
units per unit of the record's currency; NULL when AWRA does not know it).

Used to create AWRA databases for the demo data set and for tests; the job itself never
creates or writes AWRA tables (the reader only selects, and honours renames from config).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

MONEY = Numeric(18, 2)
#: an exchange rate: home-currency units per unit of the record's currency (optional, CONTRACTS §1)
RATE = Numeric(18, 8)


def awra_metadata() -> MetaData:
    """A fresh ``MetaData`` holding every AWRA table (CONTRACTS §1 default names)."""
    md = MetaData()

    def master(name: str, *extra: Column) -> Table:
        return Table(
            name,
            md,
            Column("id", String(64), primary_key=True),
            Column("code", String(64)),
            Column("name", String(255)),
            *extra,
            Column("active", Boolean),
            Column("updated_at", DateTime),
        )

    master("customers", Column("email", String(255)))
    master("vendors")
    master(
        "items",
        Column("item_type", String(32)),
        Column("income_account_id", String(64)),
        Column("expense_account_id", String(64)),
    )
    master("tax_codes", Column("rate_percent", Numeric(9, 4)))
    master("accounts", Column("account_type", String(32)))
    master("payment_methods", Column("method_type", String(32)))
    Table(
        "qbo_mappings",
        md,
        Column("mapping_type", String(32), primary_key=True),
        Column("awra_id", String(64), primary_key=True),
        Column("qbo_id", String(64)),
        Column("qbo_name", String(255)),
        Column("updated_at", DateTime),
        Column("updated_by", String(128)),
    )

    def document(name: str, party: str, *extra: Column) -> Table:
        return Table(
            name,
            md,
            Column("id", String(64), primary_key=True),
            Column("number", String(64)),
            Column(party, String(64)),
            Column("txn_date", Date),
            *extra,
            Column("status", String(32)),
            Column("branch", String(64)),
            Column("qbo_id", String(64)),
            Column("updated_at", DateTime),
            Column("updated_by", String(128)),
        )

    document(
        "invoices",
        "customer_id",
        Column("due_date", Date),
        Column("currency", String(3)),
        Column("total_amount", MONEY),
        Column("tax_amount", MONEY),
        Column("warehouse", String(64)),
        Column("exchange_rate", RATE),
    )
    Table(
        "invoice_lines",
        md,
        Column("invoice_id", String(64), primary_key=True),
        Column("line_no", Integer, primary_key=True),
        Column("item_id", String(64)),
        Column("description", Text),
        Column("quantity", Numeric(18, 4)),
        Column("unit_price", MONEY),
        Column("amount", MONEY),
        Column("tax_code_id", String(64)),
    )
    document(
        "payments",
        "customer_id",
        Column("currency", String(3)),
        Column("amount", MONEY),
        Column("payment_method_id", String(64)),
        Column("deposit_account_id", String(64)),
        Column("exchange_rate", RATE),
    )
    Table(
        "payment_applications",
        md,
        Column("payment_id", String(64), primary_key=True),
        Column("invoice_id", String(64), primary_key=True),
        Column("amount", MONEY),
    )
    document(
        "bills",
        "vendor_id",
        Column("due_date", Date),
        Column("currency", String(3)),
        Column("total_amount", MONEY),
        Column("tax_amount", MONEY),
        Column("warehouse", String(64)),
        Column("exchange_rate", RATE),
    )
    Table(
        "bill_lines",
        md,
        Column("bill_id", String(64), primary_key=True),
        Column("line_no", Integer, primary_key=True),
        Column("item_id", String(64)),
        Column("account_id", String(64)),
        Column("description", Text),
        Column("amount", MONEY),
        Column("tax_code_id", String(64)),
    )
    Table(
        "journals",
        md,
        Column("id", String(64), primary_key=True),
        Column("number", String(64)),
        Column("txn_date", Date),
        Column("currency", String(3)),
        Column("status", String(32)),
        Column("memo", Text),
        Column("branch", String(64)),
        Column("qbo_id", String(64)),
        Column("updated_at", DateTime),
        Column("updated_by", String(128)),
        Column("exchange_rate", RATE),
    )
    Table(
        "journal_lines",
        md,
        Column("journal_id", String(64), primary_key=True),
        Column("line_no", Integer, primary_key=True),
        Column("account_id", String(64)),
        Column("debit", MONEY),
        Column("credit", MONEY),
        Column("description", Text),
    )
    Table(
        "sync_runs",
        md,
        Column("id", String(64), primary_key=True),
        Column("connector", String(32)),
        Column("started_at", DateTime),
        Column("finished_at", DateTime),
        Column("status", String(32)),
        Column("triggered_by", String(128)),
    )
    Table(
        "sync_log",
        md,
        Column("id", String(64), primary_key=True),
        Column("sync_run_id", String(64)),
        Column("connector", String(32)),
        Column("record_type", String(32)),
        Column("record_id", String(64)),
        Column("record_number", String(64)),
        Column("status", String(32)),
        Column("error_code", String(32)),
        Column("message", Text),
        Column("retry_count", Integer),
        Column("qbo_id", String(64)),
        Column("attempted_at", DateTime),
    )
    return md
