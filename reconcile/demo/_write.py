"""Resolve the generated model (times, QBO Ids) and write it: AWRA SQLite, QBO snapshot, manifest."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from reconcile.demo._gen import USD_RATE, Ctx
from reconcile.demo._masters import CURRENCY_NAMES
from reconcile.demo._model import Attempt, Doc, Master, QDoc, QLine, QRef
from reconcile.sources.awra_schema import awra_metadata

NAIROBI = timezone(timedelta(hours=3))
ENTITY_ORDER = {"invoice": 0, "payment": 1, "bill": 2, "journal": 3}
QBO_FIRST_TXN_ID = 150


def Money(cents: int) -> str:
    """Integer cents as a JSON-number placeholder: ``dump_array`` writes it as ``1160.10``."""
    sign = "-" if cents < 0 else ""
    return f"@M:{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def dec(cents: int | None) -> Decimal | None:
    """Cents as an exact two-place Decimal."""
    return None if cents is None else Decimal(cents).scaleb(-2)


_MONEY_RE = re.compile(r'"@M:(-?\d+\.\d\d)"')


def dump_array(objs: list[dict[str, Any]]) -> str:
    """A JSON array, one object per line, money as 2-decimal numbers."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    body = ",\n".join(encode(o) for o in objs)
    return _MONEY_RE.sub(r"\1", "[\n" + body + "\n]\n" if objs else "[]\n")


def _cents(money: str) -> int:
    units, frac = money[3:].lstrip("-").split(".")
    value = int(units) * 100 + int(frac)
    return -value if money[3:].startswith("-") else value


def _ts(t: datetime) -> str:
    return t.astimezone(NAIROBI).isoformat(timespec="seconds")


def _ref(q: QRef | None) -> dict[str, str] | None:
    return None if q is None else {"value": q.id, "name": q.name}


# ============================================================================ resolve


def resolve(ctx: Ctx) -> list[Attempt]:
    """Fix attempt times, QBO Ids and messages; returns every attempt in sync_log order."""
    attempts: list[Attempt] = []
    for entity in ("invoice", "payment", "bill", "journal"):
        for doc in ctx.docs[entity]:
            attempts.extend(doc.log)
    attempts.sort(key=lambda a: (a.run, ENTITY_ORDER[a.doc.entity], int(a.doc.id), a.retry))
    pos: Counter[int] = Counter()
    for a in attempts:
        a.at = ctx.runs[a.run] + timedelta(seconds=3 + 2 * pos[a.run])
        pos[a.run] += 1
    live = [q for q in ctx.qdocs if not q.dropped]
    live.sort(key=lambda q: (q.create_time(), q.seq))
    for i, q in enumerate(live):
        q.id = str(QBO_FIRST_TXN_ID + i)
    for a in attempts:
        if a.message and "{" in a.message:
            qid = a.msg_qdoc.id if a.msg_qdoc is not None else ""
            a.message = a.message.replace("{qbo_id}", qid).replace("{number}", a.doc.number)
    return attempts


# ============================================================================ AWRA


def _timestamp_text(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"


#: How SQLAlchemy's SQLite types store Python values (dates and timestamps as text).
_SQL_VALUE: dict[type, Callable[[Any], object]] = {
    datetime: _timestamp_text,
    date: date.isoformat,
    Decimal: str,
    bool: int,
}


def _master_rows(ms: list[Master], setup: datetime, *cols: str) -> list[dict[str, Any]]:
    rows = []
    for m in ms:
        row: dict[str, Any] = {"id": m.id, "code": m.code, "name": m.name, "active": m.active, "updated_at": setup}
        for c in cols:
            value = m.extra.get(c)
            row[c] = Decimal(str(value)) if c == "rate_percent" else value
        rows.append(row)
    return rows


def _link(doc: Doc) -> str | None:
    return doc.link.id if doc.link is not None else None


def _party_id(doc: Doc) -> str | None:
    return doc.party_id or (doc.party.id if doc.party is not None else None)


def _fast_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def write_awra(ctx: Ctx, path: Path, attempts: list[Attempt]) -> dict[str, int]:
    """Create the AWRA SQLite database; returns the row count per table."""
    ms = ctx.ms
    setup = ctx.t0 - timedelta(days=20)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows["customers"] = _master_rows(ms.customers, setup, "email")
    rows["vendors"] = _master_rows(ms.vendors, setup)
    rows["items"] = _master_rows(ms.items, setup, "item_type", "income_account_id", "expense_account_id")
    rows["tax_codes"] = _master_rows(ms.tax_codes, setup, "rate_percent")
    rows["accounts"] = _master_rows(ms.accounts, setup, "account_type")
    rows["payment_methods"] = _master_rows(ms.methods, setup, "method_type")
    for m in ms.all():
        if m.map_id is not None:
            rows["qbo_mappings"].append(
                {
                    "mapping_type": m.kind,
                    "awra_id": m.id,
                    "qbo_id": m.map_id,
                    "qbo_name": m.map_name,
                    "updated_at": setup + timedelta(hours=1),
                    "updated_by": m.map_by,
                }
            )
    for doc in ctx.docs["invoice"]:
        rows["invoices"].append(
            {
                "id": doc.id,
                "number": doc.number,
                "customer_id": _party_id(doc),
                "txn_date": doc.txn_date,
                "due_date": doc.due_date,
                "currency": doc.currency,
                "exchange_rate": doc.exchange_rate,
                "total_amount": dec(doc.amount_cents),
                "tax_amount": dec(doc.tax_cents),
                "status": doc.status,
                "branch": doc.branch,
                "warehouse": doc.warehouse,
                "qbo_id": _link(doc),
                "updated_at": doc.updated_at,
                "updated_by": doc.updated_by,
            }
        )
        for n, x in enumerate(doc.lines, start=1):
            rows["invoice_lines"].append(
                {
                    "invoice_id": doc.id,
                    "line_no": n,
                    "item_id": x.item.id if x.item else None,
                    "description": x.description,
                    "quantity": Decimal(x.qty10).scaleb(-1),
                    "unit_price": dec(x.unit_cents),
                    "amount": dec(x.amount_cents),
                    "tax_code_id": x.tax.id if x.tax else None,
                }
            )
    for doc in ctx.docs["payment"]:
        rows["payments"].append(
            {
                "id": doc.id,
                "number": doc.number,
                "customer_id": _party_id(doc),
                "txn_date": doc.txn_date,
                "currency": doc.currency,
                "exchange_rate": doc.exchange_rate,
                "amount": dec(doc.amount_cents),
                "payment_method_id": doc.method.id if doc.method else None,
                "deposit_account_id": doc.deposit.id if doc.deposit else None,
                "status": doc.status,
                "branch": doc.branch,
                "qbo_id": _link(doc),
                "updated_at": doc.updated_at,
                "updated_by": doc.updated_by,
            }
        )
        for x in doc.lines:
            assert x.invoice is not None
            rows["payment_applications"].append(
                {"payment_id": doc.id, "invoice_id": x.invoice.id, "amount": dec(x.amount_cents)}
            )
    for doc in ctx.docs["bill"]:
        rows["bills"].append(
            {
                "id": doc.id,
                "number": doc.number,
                "vendor_id": _party_id(doc),
                "txn_date": doc.txn_date,
                "due_date": doc.due_date,
                "currency": doc.currency,
                "exchange_rate": doc.exchange_rate,
                "total_amount": dec(doc.amount_cents),
                "tax_amount": dec(doc.tax_cents),
                "status": doc.status,
                "branch": doc.branch,
                "warehouse": doc.warehouse,
                "qbo_id": _link(doc),
                "updated_at": doc.updated_at,
                "updated_by": doc.updated_by,
            }
        )
        for n, x in enumerate(doc.lines, start=1):
            rows["bill_lines"].append(
                {
                    "bill_id": doc.id,
                    "line_no": n,
                    "item_id": x.item.id if x.item else None,
                    "account_id": x.account.id if x.account else None,
                    "description": x.description,
                    "amount": dec(x.amount_cents),
                    "tax_code_id": x.tax.id if x.tax else None,
                }
            )
    for doc in ctx.docs["journal"]:
        rows["journals"].append(
            {
                "id": doc.id,
                "number": doc.number,
                "txn_date": doc.txn_date,
                "currency": doc.currency,
                "exchange_rate": doc.exchange_rate,
                "status": doc.status,
                "memo": doc.memo,
                "branch": doc.branch,
                "qbo_id": _link(doc),
                "updated_at": doc.updated_at,
                "updated_by": doc.updated_by,
            }
        )
        for n, x in enumerate(doc.lines, start=1):
            rows["journal_lines"].append(
                {
                    "journal_id": doc.id,
                    "line_no": n,
                    "account_id": x.account.id if x.account else None,
                    "debit": dec(x.debit_cents),
                    "credit": dec(x.credit_cents),
                    "description": x.description,
                }
            )
    by_run: dict[int, list[Attempt]] = defaultdict(list)
    for i, a in enumerate(attempts, start=1):
        by_run[a.run].append(a)
        rows["sync_log"].append(
            {
                "id": str(i),
                "sync_run_id": str(a.run + 1),
                "connector": "qbo",
                "record_type": a.doc.entity,
                "record_id": a.doc.id,
                "record_number": a.doc.number,
                "status": a.status,
                "error_code": a.code,
                "message": a.message,
                "retry_count": a.retry,
                "qbo_id": a.qdoc.id if a.qdoc is not None else None,
                "attempted_at": a.at,
            }
        )
    for k, start in enumerate(ctx.runs):
        done = by_run.get(k, [])
        bad = [a for a in done if a.status in ("failed", "retrying", "needs_attention")]
        status = "failed" if done and len(bad) == len(done) else "completed_with_errors" if bad else "succeeded"
        finished = (done[-1].at if done else start) + timedelta(seconds=4)
        rows["sync_runs"].append(
            {
                "id": str(k + 1),
                "connector": "qbo",
                "started_at": start,
                "finished_at": finished,
                "status": status,
                "triggered_by": "scheduler",
            }
        )

    md = awra_metadata()
    engine = create_engine(f"sqlite:///{path}")
    # a scratch file renamed into place afterwards: no journal on disk, no fsync
    event.listen(engine, "connect", _fast_pragmas)
    try:
        md.create_all(engine)
        with engine.begin() as conn:
            for name, table in md.tables.items():
                if rows.get(name):
                    columns = [c.name for c in table.columns]
                    sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                    conv = _SQL_VALUE.get
                    data = [
                        tuple(v if (f := conv(type(v))) is None else f(v) for v in map(r.get, columns))
                        for r in rows[name]
                    ]
                    conn.exec_driver_sql(sql, data)
            for entity, table_name in (("invoice", "invoices"), ("payment", "payments"), ("bill", "bills")):
                for doc in ctx.docs[entity]:
                    for column, value in doc.raw.items():
                        conn.execute(
                            text(f"UPDATE {table_name} SET {column} = :v WHERE id = :id"), {"v": value, "id": doc.id}
                        )
    finally:
        engine.dispose()
    return {name: len(rows.get(name, [])) for name in md.tables}


# ============================================================================ QBO


def _meta(q: QDoc) -> dict[str, str]:
    return {"CreateTime": _ts(q.create_time()), "LastUpdatedTime": _ts(q.update_time())}


def _currency(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES[code]}


def _head(q: QDoc) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": q.id,
        "SyncToken": str(q.sync_token),
        "domain": "QBO",
        "sparse": False,
        "MetaData": _meta(q),
    }
    if q.number is not None and q.entity != "Payment":
        out["DocNumber"] = q.number
    out["TxnDate"] = q.txn_date.isoformat()
    out["CurrencyRef"] = _currency(q.currency)
    out["ExchangeRate"] = _rate(q)
    if q.voided:
        out["PrivateNote"] = "Voided"
    elif q.memo and q.entity == "JournalEntry":
        out["PrivateNote"] = q.memo
    return out


def _rate_value(q: QDoc) -> Decimal:
    """QBO's exchange rate on a transaction: home (KES) units per unit of its currency."""
    if q.exchange_rate is not None:
        return q.exchange_rate
    return Decimal(1 if q.currency == "KES" else USD_RATE)


def _rate(q: QDoc) -> int | str:
    """The rate as written: a whole number as such, else with two decimals (as money is)."""
    rate = _rate_value(q)
    if rate == rate.to_integral_value():
        return int(rate)
    cents = rate * 100
    assert cents == cents.to_integral_value(), f"demo rates have at most two decimals: {rate}"
    return Money(int(cents))


def _home_total(q: QDoc, total_cents: int) -> dict[str, Any]:
    """``HomeTotalAmt`` (invoices and bills in a foreign currency): the total at QBO's rate."""
    if q.currency == "KES":
        return {}
    home = (Decimal(total_cents) * _rate_value(q)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return {"HomeTotalAmt": Money(int(home))}


def _tax_detail(q: QDoc, lines: list[QLine], awra_rate: dict[str, int]) -> dict[str, Any]:
    if q.voided:
        return {"TotalTax": Money(0), "TaxLine": []}
    groups: dict[str, tuple[QRef, int]] = {}
    for x in lines:
        if x.tax is not None:
            ref, net = groups.get(x.tax.id, (x.tax, 0))
            groups[x.tax.id] = (ref, net + x.amount_cents)
    tax_lines: list[dict[str, Any]] = []
    shares: list[int] = []
    for ref, net in groups.values():
        rate = awra_rate.get(ref.id, 0)
        if rate == 0:
            continue
        shares.append((net * rate + 50) // 100)
        tax_lines.append(
            {
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": ref.extra["rate"].id},
                    "PercentBased": True,
                    "TaxPercent": ref.extra["rate"].extra["RateValue"],
                    "NetAmountTaxable": Money(net),
                },
            }
        )
    if shares:
        shares[-1] += q.tax_cents - sum(shares)
    for tl, share in zip(tax_lines, shares, strict=True):
        tl["Amount"] = Money(share)
    return {"TotalTax": Money(q.tax_cents), "TaxLine": [{"Amount": tl.pop("Amount"), **tl} for tl in tax_lines]}


def _sales_line(n: int, x: QLine, voided: bool) -> dict[str, Any]:
    assert x.ref is not None and x.tax is not None
    qty = 0 if voided else (x.qty10 // 10 if x.qty10 % 10 == 0 else x.qty10 / 10)
    return {
        "Id": str(n),
        "LineNum": n,
        "Description": x.description,
        "Amount": Money(0 if voided else x.amount_cents),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": _ref(x.ref),
            "UnitPrice": Money(x.unit_cents),
            "Qty": qty,
            "TaxCodeRef": {"value": x.tax.id},
        },
    }


def _invoice_json(
    q: QDoc, awra_rate: dict[str, int], paid: dict[int, list[QDoc]], email: dict[str, str]
) -> dict[str, Any]:
    out = _head(q)
    payments = [] if q.voided else paid.get(id(q), [])
    out["LinkedTxn"] = [{"TxnId": p.id, "TxnType": "Payment"} for p in payments]
    lines = [_sales_line(n, x, q.voided) for n, x in enumerate(q.lines, start=1)]
    subtotal = 0 if q.voided else sum(x.amount_cents for x in q.lines)
    lines.append({"Amount": Money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    out["Line"] = lines
    out["TxnTaxDetail"] = _tax_detail(q, q.lines, awra_rate)
    out["CustomerRef"] = _ref(q.party)
    out["SalesTermRef"] = {"value": "3", "name": "Net 30"}
    if q.due_date is not None:
        out["DueDate"] = q.due_date.isoformat()
    total = 0 if q.voided else q.total_cents
    applied = sum(sum(x.amount_cents for x in p.lines if x.linked is q) for p in payments)
    out["TotalAmt"] = Money(total)
    out.update(_home_total(q, total))
    out["Balance"] = Money(max(total - applied, 0))
    out["GlobalTaxCalculation"] = "TaxExcluded"
    out["ApplyTaxAfterDiscount"] = False
    out["PrintStatus"] = "NotSet"
    out["EmailStatus"] = "EmailSent"
    if q.party is not None and q.party.id in email:
        out["BillEmail"] = {"Address": email[q.party.id]}
    return out


def _payment_json(q: QDoc) -> dict[str, Any]:
    out = _head(q)
    out["CustomerRef"] = _ref(q.party)
    if q.deposit is not None:
        out["DepositToAccountRef"] = _ref(q.deposit)
    if q.method is not None:
        out["PaymentMethodRef"] = _ref(q.method)
    if q.number is not None:
        out["PaymentRefNum"] = q.number
    out["TotalAmt"] = Money(0 if q.voided else q.total_cents)
    out["UnappliedAmt"] = Money(0 if q.voided else q.unapplied_cents)
    out["ProcessPayment"] = False
    out["Line"] = (
        []
        if q.voided
        else [
            {"Amount": Money(x.amount_cents), "LinkedTxn": [{"TxnId": x.linked.id, "TxnType": "Invoice"}]}
            for x in q.lines
            if x.linked is not None
        ]
    )
    return out


def _bill_json(q: QDoc, awra_rate: dict[str, int], ap: QRef | None) -> dict[str, Any]:
    out = _head(q)
    lines = []
    for n, x in enumerate(q.lines, start=1):
        assert x.ref is not None and x.tax is not None
        line: dict[str, Any] = {
            "Id": str(n),
            "LineNum": n,
            "Description": x.description,
            "Amount": Money(x.amount_cents),
        }
        if x.kind == "item":
            line["DetailType"] = "ItemBasedExpenseLineDetail"
            line["ItemBasedExpenseLineDetail"] = {
                "BillableStatus": "NotBillable",
                "ItemRef": _ref(x.ref),
                "UnitPrice": Money(x.unit_cents),
                "Qty": x.qty10 // 10 if x.qty10 % 10 == 0 else x.qty10 / 10,
                "TaxCodeRef": {"value": x.tax.id},
            }
        else:
            line["DetailType"] = "AccountBasedExpenseLineDetail"
            line["AccountBasedExpenseLineDetail"] = {
                "AccountRef": _ref(x.ref),
                "BillableStatus": "NotBillable",
                "TaxCodeRef": {"value": x.tax.id},
            }
        lines.append(line)
    out["Line"] = lines
    out["TxnTaxDetail"] = _tax_detail(q, q.lines, awra_rate)
    out["VendorRef"] = _ref(q.party)
    out["APAccountRef"] = _ref(ap)
    if q.due_date is not None:
        out["DueDate"] = q.due_date.isoformat()
    out["TotalAmt"] = Money(q.total_cents)
    out.update(_home_total(q, q.total_cents))
    out["Balance"] = Money(q.total_cents)
    out["GlobalTaxCalculation"] = "TaxExcluded"
    return out


def _journal_json(q: QDoc) -> dict[str, Any]:
    out = _head(q)
    out["Adjustment"] = False
    out["Line"] = [
        {
            "Id": str(n),
            "Description": x.description,
            "Amount": Money(x.amount_cents),
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": x.posting, "AccountRef": _ref(x.ref)},
        }
        for n, x in enumerate(q.lines)
    ]
    out["TxnTaxDetail"] = {}
    return out


def _list_meta(ctx: Ctx, i: int, q: QRef) -> dict[str, str]:
    created = ctx.t0 - timedelta(days=40) + timedelta(minutes=7 * i)
    since = q.extra.get("inactive_since", ctx.date_from + timedelta(days=9))
    updated = created if q.active else datetime.combine(since, time(9, 30), NAIROBI)
    return {"CreateTime": _ts(created), "LastUpdatedTime": _ts(updated)}


def _list_head(ctx: Ctx, i: int, q: QRef) -> dict[str, Any]:
    return {
        "Id": q.id,
        "SyncToken": "0" if q.active else "1",
        "domain": "QBO",
        "sparse": False,
        "MetaData": _list_meta(ctx, i, q),
        "Active": q.active,
    }


def qbo_payloads(ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    """Every QBO entity as QBO returns it, keyed by entity name."""
    ms = ctx.ms
    live = [q for q in ctx.qdocs if not q.dropped and not q.ghost]
    live.sort(key=lambda q: int(q.id))
    awra_rate = {t.qref.id: int(t.extra["rate_percent"]) for t in ms.tax_codes if t.qref is not None}
    paid: dict[int, list[QDoc]] = defaultdict(list)
    for q in live:
        if q.entity == "Payment" and not q.voided:
            for x in q.lines:
                if x.linked is not None and (not paid[id(x.linked)] or paid[id(x.linked)][-1] is not q):
                    paid[id(x.linked)].append(q)
    email = {c.qref.id: str(c.extra["email"]) for c in ms.customers if c.qref is not None}
    ap = ms.account("2000").qref
    out: dict[str, list[dict[str, Any]]] = {"Invoice": [], "Payment": [], "Bill": [], "JournalEntry": []}
    balances: Counter[str] = Counter()
    for q in live:
        if q.entity == "Invoice":
            body = _invoice_json(q, awra_rate, paid, email)
            balances[q.party.id if q.party else ""] += _cents(body["Balance"])
        elif q.entity == "Payment":
            body = _payment_json(q)
        elif q.entity == "Bill":
            body = _bill_json(q, awra_rate, ap)
            balances[q.party.id if q.party else ""] += q.total_cents
        else:
            body = _journal_json(q)
        out[q.entity].append(body)

    refs = ms.qbo
    customers = []
    for i, c in enumerate(refs["Customer"]):
        body = _list_head(ctx, i, c)
        body.update(
            {
                "DisplayName": c.name,
                "FullyQualifiedName": c.name,
                "CompanyName": c.name,
                "PrintOnCheckName": c.name,
                "Taxable": True,
                "Job": False,
                "BillWithParent": False,
                "Balance": Money(balances[c.id]),
                "BalanceWithJobs": Money(balances[c.id]),
                "CurrencyRef": _currency(c.extra["currency"]),
                "PreferredDeliveryMethod": "Email",
            }
        )
        if c.id in email:
            body["PrimaryEmailAddr"] = {"Address": email[c.id]}
        customers.append(body)
    vendors = []
    for i, v in enumerate(refs["Vendor"]):
        body = _list_head(ctx, 60 + i, v)
        body.update(
            {
                "DisplayName": v.name,
                "PrintOnCheckName": v.name,
                "CompanyName": v.name,
                "Vendor1099": False,
                "Balance": Money(balances[v.id]),
                "CurrencyRef": _currency("KES"),
            }
        )
        vendors.append(body)
    items = []
    for i, it in enumerate(refs["Item"]):
        xi = it.extra
        body = _list_head(ctx, 100 + i, it)
        body.update(
            {
                "Name": it.name,
                "FullyQualifiedName": it.name,
                "Type": xi["Type"],
                "Taxable": xi["tax"] is not None and xi["tax"].extra["taxable"],
                "UnitPrice": Money(xi["price"]),
                "IncomeAccountRef": _ref(xi["income"]),
                "ExpenseAccountRef": _ref(xi["expense"]),
                "PurchaseCost": Money(xi["price"] * 65 // 100),
                "TrackQtyOnHand": xi["Type"] == "Inventory",
                "SalesTaxCodeRef": {"value": xi["tax"].id},
                "PurchaseTaxCodeRef": {"value": xi["tax"].id},
            }
        )
        if xi["asset"] is not None:
            body["AssetAccountRef"] = _ref(xi["asset"])
            body["QtyOnHand"] = 500
            body["InvStartDate"] = (ctx.t0 - timedelta(days=40)).date().isoformat()
        items.append(body)
    accounts = []
    for i, a in enumerate(refs["Account"]):
        body = _list_head(ctx, 140 + i, a)
        body.update(
            {
                "Name": a.name,
                "FullyQualifiedName": a.name,
                "SubAccount": False,
                "Classification": a.extra["Classification"],
                "AccountType": a.extra["AccountType"],
                "AccountSubType": a.extra["AccountSubType"],
                "CurrentBalance": Money(0),
                "CurrentBalanceWithSubAccounts": Money(0),
                "CurrencyRef": _currency(a.extra["currency"]),
            }
        )
        if a.extra["AcctNum"]:
            body["AcctNum"] = a.extra["AcctNum"]
        accounts.append(body)
    methods = []
    for i, m in enumerate(refs["PaymentMethod"]):
        body = _list_head(ctx, 190 + i, m)
        body.update({"Name": m.name, "Type": m.extra["Type"]})
        methods.append(body)
    codes = []
    rates = []
    for i, tc in enumerate(refs["TaxCode"]):
        r = tc.extra["rate"]
        detail = {
            "TaxRateDetail": [
                {"TaxRateRef": {"value": r.id, "name": r.name}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
            ]
        }
        body = _list_head(ctx, 200 + i, tc)
        body.update(
            {
                "Name": tc.name,
                "Description": tc.name,
                "Taxable": tc.extra["taxable"],
                "TaxGroup": True,
                "SalesTaxRateList": detail,
                "PurchaseTaxRateList": detail,
            }
        )
        codes.append(body)
    for i, r in enumerate(refs["TaxRate"]):
        body = _list_head(ctx, 210 + i, r)
        body.update(
            {
                "Name": r.name,
                "Description": r.name,
                "RateValue": r.extra["RateValue"],
                "AgencyRef": {"value": "1"},
                "SpecialTaxType": r.extra["SpecialTaxType"],
                "DisplayType": "ReadOnly",
            }
        )
        rates.append(body)
    out.update(
        {
            "Customer": customers,
            "Vendor": vendors,
            "Item": items,
            "Account": accounts,
            "PaymentMethod": methods,
            "TaxCode": codes,
            "TaxRate": rates,
            # the company's home currency, as QBO's Preferences say it (multi-currency on: USD customers)
            "Preferences": [
                {
                    "Id": "1",
                    "SyncToken": "0",
                    "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "KES"}},
                }
            ],
        }
    )
    return out


def write_snapshot(payloads: dict[str, list[dict[str, Any]]], folder: Path) -> dict[str, int]:
    """One ``<Entity>.json`` array per entity; returns the record count per entity."""
    folder.mkdir(parents=True, exist_ok=True)
    for entity, objs in payloads.items():
        (folder / f"{entity}.json").write_text(dump_array(objs), encoding="utf-8")
    return {entity: len(objs) for entity, objs in payloads.items()}
