"""The planted problems: a few records of each CONTRACTS §4 category, each with its expected findings.

Each plant takes clean in-window records at random (``Ctx.take``), breaks them in one documented
way and records the findings the job must report (``Expect``). Records that carry several
findings list all of them. Everything else stays clean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from reconcile.demo._gen import QBO_ENTITY, Ctx, _invoice, journal_lines, round_tax
from reconcile.demo._model import Attempt, Doc, Expect, Line, Master, QDoc, QLine

DAILY = 12  # sync runs per day

MSG_610 = (
    "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
    "accounts, customers, items, vendors or employees."
)
MSG_6000_CLOSED = (
    "A business validation error has occurred while processing your request : Business Validation Error: "
    "The transaction date is prior to the closing date. Please check the transaction date."
)
MSG_6000_LINES = (
    "A business validation error has occurred while processing your request : Business Validation Error: "
    "You must select a product/service or an account for each split line with either an amount or a "
    "billable expense."
)
MSG_6140 = (
    "Duplicate Document Number Error : You must specify a different number. This number has already been "
    "used. DocNumber={number} is assigned to TxnType=Invoice with TxnId={qbo_id}"
)
MSG_2020 = (
    "Required param missing, need to supply the required value for the API : Required parameter "
    "DepositToAccountRef is missing in the request"
)
MSG_500 = "HTTP 500 Internal Server Error: the request timed out after 120 s; QuickBooks may have saved it"
MSG_503 = "HTTP 503 Service Unavailable: QuickBooks Online is temporarily unavailable"
MSG_3001 = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
MSG_3200 = "message=AuthenticationFailed; errorCode=003200; statusCode=401: token expired"


class Planter:
    """Records expectations and builds the planted records."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.n = 0
        self.controls: list[tuple[Doc, str]] = []

    # ---------------------------------------------------------------- bookkeeping
    def plant(self) -> str:
        """A new plant id."""
        self.n += 1
        return f"T{self.n:02d}"

    def expect(
        self,
        plant: str,
        doc: Doc | None,
        category: str,
        why: str,
        *,
        qdoc: QDoc | None = None,
        field: str | None = None,
        column: str | None = None,
        entity: str | None = None,
        line: int | str | None = None,
    ) -> None:
        """Record one expected finding (``line``: the line a line-level mismatch names)."""
        ent = entity or (doc.entity if doc is not None else "")
        shown = None if line is None else str(line)
        self.ctx.expects.append(
            Expect(plant, ent, category, why, doc=doc, qdoc=qdoc, field=field, line=shown, column=column)
        )

    def control(self, doc: Doc, why: str) -> None:
        """A record whose findings are exactly those listed for it (or none): a trap for false positives."""
        self.controls.append((doc, why))

    # ---------------------------------------------------------------- predicates
    def within(self, lo: int = 0, hi: int = 0) -> Callable[[Doc], bool]:
        """Predicate: txn_date in [date_from + lo, date_to - hi]."""
        a, b = self.ctx.date_from + timedelta(days=lo), self.ctx.date_to - timedelta(days=hi)
        return lambda d: a <= d.txn_date <= b

    # ---------------------------------------------------------------- history helpers
    def attempts(
        self, doc: Doc, specs: list[tuple[str, str | None, str | None]], *, start: int | None = None, step: int = DAILY
    ) -> list[Attempt]:
        """Attempts ``(status, code, message)`` one ``step`` of runs apart, retry_count 0, 1, 2..."""
        ctx = self.ctx
        r = ctx.run_after(doc.updated_at) if start is None else start
        out = []
        for k, (status, code, message) in enumerate(specs):
            out.append(Attempt(doc, min(r + k * step, len(ctx.runs) - 1), status, code, message, retry=k))
        doc.log = out
        return out

    def clone(self, q: QDoc) -> QDoc:
        """A second QBO record with the same content (a duplicate)."""
        lines = [replace(x) for x in q.lines]
        twin = replace(q, lines=lines, created_by=None, updated_by=None, updated_at=None, sync_token=0, id="", seq=0)
        return self.ctx.new_qdoc(twin)


def _kes(d: Doc) -> bool:
    return d.currency == "KES" and d.party is not None and d.party.currency == "KES"


def _has_tax(d: Doc, *codes: str) -> bool:
    return any(x.tax is not None and x.tax.code in codes for x in d.lines)


def _bad_date_text(date_from: date, date_to: date) -> tuple[str, int]:
    """An impossible ``YYYY-MM-DD`` that sorts inside the window as text, and its month."""
    d = date_from
    while d <= date_to:
        for day in (31, 30, 29, 0):
            text = f"{d.year:04d}-{d.month:02d}-{day:02d}"
            try:
                date.fromisoformat(text)
            except ValueError:
                if date_from.isoformat() <= text <= date_to.isoformat():
                    return text, d.month
        d = (d.replace(day=1) + timedelta(days=32)).replace(day=1)
    raise RuntimeError("demo: no impossible date sorts inside the window")  # pragma: no cover


# ============================================================================ invoices


def plant_invoices(p: Planter) -> None:
    """Invoice plants (run before payments are generated, so no payment touches them)."""
    ctx = p.ctx
    ms = ctx.ms
    take = ctx.take
    early = p.within(0, 6)

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    ctx.unsync(d)
    p.expect(t, d, "missing_in_qbo", "posted invoice never sent to QBO: no sync_log row, no QBO twin")

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    d.party = ms.by_role("customer", "unmapped")
    d.branch = d.party.branch
    ctx.unsync(d)
    message = f"Customer mapping missing: {d.party.name} ({d.party.code}) has no QuickBooks customer"
    p.attempts(d, [("needs_attention", "AWRA-CUSTOMER-MAP", message)])
    p.expect(t, d, "missing_in_qbo", "customer has no QBO mapping (mapping_missing customer): sync needs attention")

    t = p.plant()
    d = take(
        "invoice",
        lambda x: _kes(x) and ctx.date_to - timedelta(days=25) <= x.txn_date <= ctx.date_to - timedelta(days=6),
    )
    pwani = ms.by_role("customer", "qbo_inactive")
    assert pwani.qref is not None
    since = d.txn_date - timedelta(days=2)
    pwani.qref.extra["inactive_since"] = since
    # made inactive in QBO two days before this invoice: its later invoices went to another customer
    stand_in = ms.customers[0]
    for other in ctx.docs["invoice"]:
        if other.party is pwani and other.txn_date >= since and other.qdoc is not None:
            other.party = stand_in
            other.qdoc.party = stand_in.qref
    d.party = pwani
    d.branch = d.party.branch
    ctx.unsync(d)
    p.attempts(d, [("failed", "610", MSG_610)] * 4)
    why = "4 failed attempts, same 610 error (QBO customer inactive), record and mappings unchanged since"
    p.expect(t, d, "retry_loop", why)
    p.expect(t, d, "missing_in_qbo", why)

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    ctx.unsync(d)
    log = p.attempts(d, [("failed", "6000", MSG_6000_LINES)] * 3)
    d.updated_at = ctx.runs[log[1].run] + timedelta(hours=3)
    p.expect(t, d, "missing_in_qbo", "3 failed attempts with one 6000 error, but the record was edited between")
    p.control(d, "NOT a retry_loop: the record changed (updated_at) after the first failure")

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    assert d.qdoc is not None
    d.qdoc.ghost = True  # created, then deleted in QBO by hand
    why = "sync_log: succeeded with QBO Id X, the record's qbo_id is X, but QBO has no X (deleted in QBO)"
    p.expect(t, d, "missing_in_qbo", why)
    p.expect(t, d, "sync_conflict", why + " (the message names X; qbo_id left empty: QBO has no such record)")

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    q = d.qdoc
    assert q is not None
    d.link = None
    a = d.log[0]
    a.status, a.code, a.message, a.qdoc = "failed", "500", MSG_500, None
    why = "latest sync failed (HTTP 500 timeout) but QBO did save it: paired by number"
    p.expect(t, d, "sync_conflict", why, qdoc=q)

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and early(x))
    q = d.qdoc
    assert q is not None
    d.link = None
    first = d.log[0]
    first.status, first.code, first.message, first.qdoc = "failed", "503", MSG_503, None
    log = p.attempts(d, [("failed", "6140", MSG_6140)] * 4, start=first.run + DAILY)
    for k, a in enumerate(log):
        a.msg_qdoc = q
        a.retry = k + 1
    d.log = [first, *log]
    why = "first attempt 503 but QBO saved it; then 4 failed attempts 6140 duplicate number naming the QBO TxnId"
    p.expect(t, d, "retry_loop", why, qdoc=q)
    p.expect(t, d, "sync_conflict", why + " (log failed, QBO has it: paired by number)", qdoc=q)

    for how in ("imported", "double_send"):
        t = p.plant()
        d = take("invoice", lambda x: _kes(x) and early(x))
        q = d.qdoc
        assert q is not None
        extra = p.clone(q)
        if how == "imported":
            extra.created_at = ctx.runs[d.log[0].run] + timedelta(days=2, hours=3)
            why = "QBO holds a second invoice with the same DocNumber (re-keyed by a spreadsheet import)"
        else:
            a = Attempt(d, d.log[0].run + 1, "succeeded", None, "Created Invoice {qbo_id}", qdoc=extra, retry=1)
            a.msg_qdoc = extra
            extra.created_by = a
            d.log.append(a)
            why = "synced twice (two succeeded attempts); the record's qbo_id keeps the first"
        p.expect(t, d, "duplicate_in_qbo", why + "; extra = the QBO record not linked (the higher Id)", qdoc=extra)

    t = p.plant()
    first_doc = take("invoice", lambda x: _kes(x) and early(x))
    extra_doc = Doc(
        "invoice",
        first_doc.txn_date,
        first_doc.party,
        first_doc.currency,
        [replace(x) for x in first_doc.lines],
        tax_cents=first_doc.tax_cents,
        amount_cents=first_doc.amount_cents,
        due_date=first_doc.due_date,
        branch=first_doc.branch,
        warehouse=first_doc.warehouse,
        updated_at=first_doc.updated_at + timedelta(days=1),
        updated_by=first_doc.updated_by,
        planted=True,
    )
    extra_doc.id = ctx.new_id("invoice")
    extra_doc.number = first_doc.number
    skip = p.attempts(
        extra_doc, [("skipped", "AWRA-DUP-NUMBER", "Skipped: number {number} is already in QuickBooks as {qbo_id}")]
    )
    skip[0].msg_qdoc = first_doc.qdoc
    ctx.docs["invoice"].append(extra_doc)
    why = "entered twice in AWRA (an import ran twice): same number, same content; extra = the higher AWRA id"
    p.expect(t, extra_doc, "duplicate_in_awra", why + " (not also missing_in_qbo)", qdoc=first_doc.qdoc)

    # --- mismatches
    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and _has_tax(x, "ZERO", "EXEMPT"))
    q = d.qdoc
    assert q is not None
    ql = next(x for x in q.lines if x.tax is not None and x.tax.extra["rate"].extra["RateValue"] == 0)
    ql.qty10 += 10
    ql.amount_cents += ql.unit_cents
    q.total_cents += ql.unit_cents
    why = "quantity raised by 1 on a zero-rated line in QBO: document and line totals both differ"
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_total")
    p.expect(t, d, "mismatch", why + " (that line's amount)", qdoc=q, field="line_amount", line=q.lines.index(ql) + 1)

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and _has_tax(x, "VAT16"))
    q = d.qdoc
    assert q is not None
    q.tax_cents += 1
    q.total_cents += 1
    why = "QBO rounded the tax one cent up: tax and document total differ by 0.01"
    p.expect(t, d, "mismatch", why, qdoc=q, field="tax_amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and _has_tax(x, "VAT16"))
    q = d.qdoc
    assert q is not None
    ql = next(x for x in q.lines if x.tax is not None and x.tax.name == "VAT 16%")
    ql.tax = ms.tax("ST8").qref
    delta = round_tax(ql.amount_cents, 16) - round_tax(ql.amount_cents, 6)
    q.tax_cents -= delta
    q.total_cents -= delta
    why = "a line's tax code changed to Service Tax in QBO: tax and document total differ"
    p.expect(t, d, "mismatch", why, qdoc=q, field="tax_amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")
    p.expect(
        t, d, "mismatch", why + " (that line's tax code)", qdoc=q, field="line_tax_code", line=q.lines.index(ql) + 1
    )

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and x.txn_date >= ctx.date_to - timedelta(days=5))
    d.txn_date = ctx.date_to + timedelta(days=4)
    d.due_date = d.txn_date + timedelta(days=30)
    d.updated_at = ctx.runs[d.log[0].run] + timedelta(days=1, hours=2)
    d.in_window = False
    why = "AWRA date moved past the window after the sync; the QBO twin stays inside (AWRA side looked up by link)"
    p.expect(t, d, "mismatch", why, qdoc=d.qdoc, field="txn_date")

    t = p.plant()
    kilimo = ms.by_role("customer", "qbo_twin")
    d = take("invoice", lambda x: x.party is kilimo)
    q = d.qdoc
    assert q is not None
    q.party = next(c for c in ms.qbo["Customer"] if c.name == "KILIMO  TRADERS")
    why = "QBO CustomerRef changed to the duplicate QBO customer 'KILIMO  TRADERS'"
    p.expect(t, d, "mismatch", why, qdoc=q, field="party")

    t = p.plant()
    d = take("invoice", _kes)
    q = d.qdoc
    assert q is not None and d.party is not None
    others = [
        c
        for c in ms.customers
        if c.qref is not None and c.qref.active and c.qref is not d.party.qref and c.currency == "KES"
    ]
    q.party = ctx.rng.choice(others).qref
    p.expect(t, d, "mismatch", "QBO CustomerRef is another customer than the mapped one", qdoc=q, field="party")

    for _ in range(2):
        t = p.plant()
        d = take("invoice", _kes)
        d.currency = "USD"
        why = "AWRA invoice in USD, the QBO twin in KES (the connector dropped the currency)"
        p.expect(t, d, "mismatch", why, qdoc=d.qdoc, field="currency")

    t = p.plant()
    d = take("invoice", _kes)
    q = d.qdoc
    assert q is not None
    q.voided = True
    q.updated_at = ctx.runs[d.log[0].run] + timedelta(days=2, hours=1)
    q.sync_token = 2
    why = "voided in QBO only (TotalAmt 0, note 'Voided'); AWRA still posted. Only status is reported"
    p.expect(t, d, "mismatch", why + " (the zero amounts follow from the void)", qdoc=q, field="status")

    t = p.plant()
    d = take("invoice", _kes)
    delivery = next(i for i in ms.items if i.name == "Delivery Charge")
    d.lines.append(
        Line(delivery.name, item=delivery, tax=delivery.tax, qty10=10, unit_cents=1500_00, amount_cents=1500_00)
    )
    d.updated_at = ctx.runs[d.log[-1].run] + timedelta(hours=5)
    why = "a line was added in AWRA after the sync without recomputing the header: only the line total differs"
    p.expect(t, d, "mismatch", why, qdoc=d.qdoc, field="line_total")
    p.expect(
        t, d, "mismatch", why + " (the added line is AWRA's only)", qdoc=d.qdoc, field="line_extra", line=len(d.lines)
    )

    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and p.within(0, 3)(x))
    q = d.qdoc
    assert q is not None
    d.link = None
    d.log = []
    q.created_by = None
    q.number = "1043"
    q.txn_date = d.txn_date + timedelta(days=1)
    q.created_at = ctx.business_time(d.txn_date + timedelta(days=2))
    why = (
        "never synced; an accountant keyed it by hand in QBO as DocNumber 1043, dated a day later: a probable "
        "match (same customer and amount, dates 1 day apart)"
    )
    p.expect(t, d, "mismatch", why, qdoc=q, field="txn_date")
    p.expect(
        t, d, "mismatch", why + "; the numbers differ (field 'number', beyond CONTRACTS' list)", qdoc=q, field="number"
    )

    t = p.plant()
    d = take("invoice", _kes)
    d.raw["total_amount"] = None
    p.expect(t, d, "data_quality", "total_amount is NULL (QBO twin fine, paired by link)", column="total_amount")

    t = p.plant()
    d = take("invoice", _kes)
    d.status = "closed"
    p.expect(t, d, "data_quality", "status 'closed' is not an AWRA status", column="status")

    t = p.plant()
    d = take("invoice", _kes)
    d.party_id = "1999"
    p.expect(t, d, "data_quality", "customer_id 1999 does not exist", column="customer_id")

    for status in ("draft", "draft", "submitted"):
        t = p.plant()
        d = take("invoice", _kes)
        d.status = status
        ctx.unsync(d)
        p.expect(t, d, "not_ready", f"{status} invoice in the window (informational)")

    for _ in range(3):
        d = take("invoice", _kes)
        q = d.qdoc
        assert q is not None
        d.status = "void"
        q.voided = True
        q.sync_token = 1
        r = d.log[0].run + DAILY
        d.updated_at = ctx.runs[r] - timedelta(minutes=40)
        a = Attempt(d, r, "succeeded", None, "Voided Invoice {qbo_id}", qdoc=q, retry=0)
        a.msg_qdoc = q
        q.updated_by = a
        d.log.append(a)
        p.control(d, "void on both sides: no finding (void is final, not 'not ready'; outside the posted filter)")

    for number in (None, "1042"):
        t = p.plant()
        q = _qbo_only_invoice(ctx)
        q.number = number
        why = "hand-keyed in QBO only" + (" (no DocNumber)" if q.number is None else " as DocNumber 1042")
        p.expect(t, None, "missing_in_awra", why, qdoc=q, entity="invoice")


def _collides(ctx: Ctx, q: QDoc, entity: str) -> bool:
    for d in ctx.docs[entity]:
        if (
            d.amount_cents == q.total_cents
            and d.party is not None
            and d.party.qref is q.party
            and abs((d.txn_date - q.txn_date).days) <= 5
        ):
            return True
    return False


def _qbo_only_invoice(ctx: Ctx) -> QDoc:
    ms = ctx.ms
    customers = [c for c in ms.customers if c.qref is not None and c.qref.active and c.currency == "KES"]
    sellable = [i for i in ms.items if i.qref is not None]
    while True:
        doc = _invoice(ctx, ctx.day_in(ctx.date_from, ctx.date_to), ctx.rng.choice(customers), sellable)
        q = ctx.mirror(doc)
        q.created_at = ctx.business_time(doc.txn_date + timedelta(days=1))
        if not _collides(ctx, q, "invoice"):
            return q
        q.dropped = True


# ============================================================================ payments


def plant_payments(p: Planter) -> None:
    """Payment plants."""
    ctx = p.ctx
    ms = ctx.ms
    take = ctx.take
    early = p.within(0, 6)

    t = p.plant()
    d = take("payment", lambda x: _kes(x) and early(x))
    ctx.unsync(d)
    log = p.attempts(
        d, [("failed", "3001", MSG_3001), ("failed", "503", MSG_503), ("failed", "3200", MSG_3200)], step=1
    )
    log[2].run = min(log[1].run + DAILY, len(ctx.runs) - 1)
    p.expect(t, d, "missing_in_qbo", "3 failed attempts with three different errors (throttle, 503, token)")
    p.control(d, "NOT a retry_loop: the errors differ")

    t = p.plant()
    d = take("payment", lambda x: _kes(x) and early(x))
    d.method = next(m for m in ms.methods if m.extra["method_type"] == "mobile_money")
    d.deposit = ms.by_role("account", "unmapped")
    ctx.unsync(d)
    p.attempts(d, [("failed", "2020", MSG_2020)] * 4)
    why = "deposit account 1050 has no QBO mapping: 4 failed attempts with the same 2020 error, nothing changed"
    p.expect(t, d, "retry_loop", why)
    p.expect(t, d, "missing_in_qbo", why)

    t = p.plant()
    d = take("payment", lambda x: _kes(x) and early(x))
    q = d.qdoc
    assert q is not None
    d.link = None
    a = d.log[0]
    a.status, a.code, a.message, a.qdoc = "retrying", "3001", MSG_3001, None
    p.expect(t, d, "sync_conflict", "sync_log says retrying (throttled) but QBO has it: paired by number", qdoc=q)

    t = p.plant()
    d = take("payment", _kes)
    q = d.qdoc
    assert q is not None
    q.total_cents += 5000_00
    q.unapplied_cents += 5000_00
    why = "received amount raised by 5,000.00 in QBO, left unapplied: the applications still agree"
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")

    t = p.plant()
    d = take("payment", lambda x: _kes(x) and x.txn_date >= ctx.date_to - timedelta(days=3))
    q = d.qdoc
    assert q is not None
    q.txn_date = ctx.date_to + timedelta(days=3)
    why = "QBO date moved past the window (QBO side looked up by link)"
    p.expect(t, d, "mismatch", why, qdoc=q, field="txn_date")

    t = p.plant()
    d = take("payment", _kes)
    q = d.qdoc
    assert q is not None
    q.voided = True
    q.updated_at = ctx.runs[d.log[0].run] + timedelta(days=1, hours=4)
    q.sync_token = 2
    why = "voided in QBO only (TotalAmt 0, no lines, note 'Voided'); AWRA still posted. Only status is reported"
    p.expect(t, d, "mismatch", why, qdoc=q, field="status")

    t = p.plant()
    d = take("payment", lambda x: _kes(x) and x.lines[0].amount_cents >= 1000_00)
    q = d.qdoc
    assert q is not None
    cut = q.lines[0].amount_cents * 30 // 100
    q.lines[0].amount_cents -= cut
    q.unapplied_cents += cut
    why = "part of the payment unapplied in QBO: same total, applications differ"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_total")
    cut_invoice = d.lines[0].invoice
    assert cut_invoice is not None
    # AWRA numbers a payment's applications 1.. in invoice-id order
    line = sorted(x.invoice.id for x in d.lines if x.invoice is not None).index(cut_invoice.id) + 1
    p.expect(t, d, "mismatch", why + " (applied in another split)", qdoc=q, field="application", line=line)

    t = p.plant()
    a_doc = take("payment", _kes)
    b_doc = take("payment", _kes)
    first, extra = sorted((a_doc, b_doc), key=lambda x: int(x.id))
    extra.number = first.number
    assert extra.qdoc is not None
    extra.qdoc.number = first.number
    why = "two different AWRA payments carry one number (both synced); extra = the higher AWRA id"
    p.expect(t, extra, "duplicate_in_awra", why, qdoc=extra.qdoc)

    t = p.plant()
    d = take("payment", _kes)
    d.raw["amount"] = f"KES {d.amount_cents // 100:,}.{d.amount_cents % 100:02d}"
    p.expect(t, d, "data_quality", "amount is text that is not a number", column="amount")

    t = p.plant()
    d = take("payment", _kes)
    d.status = "draft"
    ctx.unsync(d)
    p.expect(t, d, "not_ready", "draft payment in the window (informational)")

    t = p.plant()
    customers = [c for c in ms.customers if c.qref is not None and c.qref.active and c.currency == "KES"]
    cash = ms.methods[0]
    while True:
        day = ctx.day_in(ctx.date_from, ctx.date_to)
        amount = ctx.rng.randrange(1_000_00, 90_000_00) // 100 * 100
        q = ctx.new_qdoc(
            QDoc(
                "Payment",
                None,
                day,
                ctx.rng.choice(customers).qref,
                "KES",
                [],
                total_cents=amount,
                unapplied_cents=amount,
                method=cash.qref,
                deposit=cash.account.qref if cash.account is not None else None,
                created_at=ctx.business_time(day),
            )
        )
        if not _collides(ctx, q, "payment"):
            break
        q.dropped = True
    p.expect(
        t,
        None,
        "missing_in_awra",
        "cash deposit keyed in QBO only, unapplied, no PaymentRefNum",
        qdoc=q,
        entity="payment",
    )


# ============================================================================ bills


def plant_bills(p: Planter) -> None:
    """Bill plants."""
    ctx = p.ctx
    ms = ctx.ms
    take = ctx.take
    early = p.within(0, 6)

    t = p.plant()
    d = take("bill", lambda x: early(x) and x.party is not None and x.party.extra["kind"] == "goods")
    d.party = ms.by_role("vendor", "unmapped")
    ctx.unsync(d)
    message = f"Vendor mapping missing: {d.party.name} ({d.party.code}) has no QuickBooks vendor"
    p.attempts(d, [("needs_attention", "AWRA-VENDOR-MAP", message)])
    p.expect(t, d, "missing_in_qbo", "vendor has no QBO mapping (mapping_missing vendor): sync needs attention")

    t = p.plant()
    d = take("bill", p.within(0, 20))
    ctx.unsync(d)
    p.attempts(d, [("failed", "6000", MSG_6000_CLOSED)] * 4)
    why = "4 failed attempts, same 6000 closing-date error, nothing changed"
    p.expect(t, d, "retry_loop", why)
    p.expect(t, d, "missing_in_qbo", why)

    t = p.plant()
    d = take("bill", early)
    assert d.qdoc is not None
    d.qdoc.ghost = True
    d.link = None
    why = "record's qbo_id empty; sync_log says succeeded with QBO Id X; QBO has no X (deleted)"
    p.expect(t, d, "missing_in_qbo", why)
    p.expect(t, d, "sync_conflict", why + " (the message names X; qbo_id left empty: QBO has no such record)")

    t = p.plant()
    d = take("bill", early)
    assert d.qdoc is not None
    extra = p.clone(d.qdoc)
    a = Attempt(d, d.log[0].run + 1, "succeeded", None, "Created Bill {qbo_id}", qdoc=extra, retry=1)
    a.msg_qdoc = extra
    extra.created_by = a
    d.log.append(a)
    why = "synced twice (two succeeded attempts); the record's qbo_id keeps the first; extra = the higher QBO Id"
    p.expect(t, d, "duplicate_in_qbo", why, qdoc=extra)

    t = p.plant()
    d = take("bill", lambda x: x.party is not None and x.party.extra["kind"] == "account" and _has_tax(x, "EXEMPT"))
    q = d.qdoc
    assert q is not None
    q.lines[0].amount_cents += 1000_00
    q.total_cents += 1000_00
    why = "an exempt expense line raised by 1,000.00 in QBO: document and line totals differ"
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_total")
    p.expect(t, d, "mismatch", why + " (line 1's amount)", qdoc=q, field="line_amount", line=1)

    t = p.plant()
    d = take("bill", lambda x: _has_tax(x, "VAT16"))
    q = d.qdoc
    assert q is not None
    ql = next(x for x in q.lines if x.tax is not None and x.tax.name == "VAT 16%")
    ql.tax = ms.tax("EXEMPT").qref
    delta = round_tax(ql.amount_cents, 16)
    q.tax_cents -= delta
    q.total_cents -= delta
    why = "a line's tax code changed to Exempt in QBO: tax and document total differ"
    p.expect(t, d, "mismatch", why, qdoc=q, field="tax_amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")
    p.expect(
        t, d, "mismatch", why + " (that line's tax code)", qdoc=q, field="line_tax_code", line=q.lines.index(ql) + 1
    )

    t = p.plant()
    d = take("bill", lambda x: x.txn_date <= ctx.date_from + timedelta(days=4))
    q = d.qdoc
    assert q is not None
    q.txn_date = ctx.date_from - timedelta(days=4)
    p.expect(
        t, d, "mismatch", "QBO date moved before the window (QBO side looked up by link)", qdoc=q, field="txn_date"
    )

    t = p.plant()
    d = take("bill")
    q = d.qdoc
    assert q is not None and d.party is not None
    others = [v for v in ms.vendors if v.qref is not None and v.qref is not d.party.qref and v.role != "qbo_twin"]
    q.party = ctx.rng.choice(others).qref
    p.expect(t, d, "mismatch", "QBO VendorRef is another vendor than the mapped one", qdoc=q, field="party")

    t = p.plant()
    d = take("bill")
    d.currency = "USD"
    p.expect(t, d, "mismatch", "AWRA bill in USD, the QBO twin in KES", qdoc=d.qdoc, field="currency")

    t = p.plant()
    d = take("bill", lambda x: len(x.lines) >= 2)
    d.lines.pop()
    d.updated_at = ctx.runs[d.log[-1].run] + timedelta(hours=6)
    why = "a line was deleted in AWRA after the sync, header left as it was: only the line total differs"
    p.expect(t, d, "mismatch", why, qdoc=d.qdoc, field="line_total")
    # the QBO line left alone is named by its QBO line Id (its position: the demo numbers lines from 1)
    p.expect(t, d, "mismatch", why + " (QBO's line only)", qdoc=d.qdoc, field="line_extra", line=len(d.lines) + 1)

    t = p.plant()
    bad, month = _bad_date_text(ctx.date_from, ctx.date_to)
    d = take("bill", lambda x: x.txn_date.month == month)
    d.raw["txn_date"] = bad
    p.expect(t, d, "data_quality", f"txn_date '{bad}' is not a date", column="txn_date")

    t = p.plant()
    d = take("bill")
    d.status = "submitted"
    ctx.unsync(d)
    p.expect(t, d, "not_ready", "submitted bill in the window (informational)")

    t = p.plant()
    power = next(v for v in ms.vendors if v.name == "Kenya Power")
    vat = ms.tax("VAT16")
    while True:
        day = ctx.day_in(ctx.date_from, ctx.date_to)
        net = ctx.rng.randrange(10_000_00, 60_000_00) // 100 * 100
        tax = round_tax(net, 16)
        assert power.account is not None and power.account.qref is not None
        line = QLine("account", "Electricity - token top-up", power.account.qref, vat.qref, amount_cents=net)
        q = ctx.new_qdoc(
            QDoc(
                "Bill",
                "KPLC-88231",
                day,
                power.qref,
                "KES",
                [line],
                tax_cents=tax,
                total_cents=net + tax,
                due_date=day + timedelta(days=14),
                created_at=ctx.business_time(day),
            )
        )
        if not _collides(ctx, q, "bill"):
            break
        q.dropped = True
    p.expect(t, None, "missing_in_awra", "vendor bill keyed in QBO only (DocNumber KPLC-88231)", qdoc=q, entity="bill")


# ============================================================================ journals


def plant_journals(p: Planter) -> None:
    """Journal plants."""
    ctx = p.ctx
    ms = ctx.ms
    take = ctx.take

    t = p.plant()
    d = take("journal", p.within(0, 6))
    d.memo = "Transfer to Airtel Money float"
    d.lines = journal_lines(ctx, [("1050", "D"), ("1010", "C")], d.memo)
    d.amount_cents = d.line_total()
    ctx.unsync(d)
    acct = ms.by_role("account", "unmapped")
    message = f"Account mapping missing: {acct.code} {acct.name} has no QuickBooks account"
    p.attempts(d, [("needs_attention", "AWRA-ACCOUNT-MAP", message)])
    p.expect(t, d, "missing_in_qbo", "account 1050 has no QBO mapping (mapping_missing account): needs attention")

    t = p.plant()
    d = take("journal", p.within(0, 6))
    q = d.qdoc
    assert q is not None
    d.link = None
    a = d.log[0]
    a.status, a.code, a.message, a.qdoc = "pending", None, "Queued; the run stopped before recording the result", None
    p.expect(t, d, "sync_conflict", "sync_log still says pending but QBO has it: paired by number", qdoc=q)

    t = p.plant()
    d = take("journal", p.within(6, 6))
    q = d.qdoc
    assert q is not None
    q.txn_date = d.txn_date + timedelta(days=5) if d.txn_date.day < 20 else d.txn_date - timedelta(days=5)
    p.expect(t, d, "mismatch", "QBO date 5 days off, inside the window", qdoc=q, field="txn_date")

    t = p.plant()
    d = take("journal")
    d.status = "void"
    d.updated_at = ctx.runs[d.log[-1].run] + timedelta(days=2)
    why = "voided in AWRA after the sync, still live in QBO (the void was never sent)"
    p.expect(t, d, "mismatch", why, qdoc=d.qdoc, field="status")

    t = p.plant()
    a_doc = take("journal")
    b_doc = take("journal")
    first, extra = sorted((a_doc, b_doc), key=lambda x: int(x.id))
    extra.number = first.number
    assert extra.qdoc is not None
    extra.qdoc.number = first.number
    why = "two different AWRA journals carry one number (both synced); extra = the higher AWRA id"
    p.expect(t, extra, "duplicate_in_awra", why, qdoc=extra.qdoc)

    t = p.plant()
    d = take("journal")
    d.status = "draft"
    ctx.unsync(d)
    p.expect(t, d, "not_ready", "draft journal in the window (informational)")

    t = p.plant()
    day = ctx.day_in(ctx.date_from, ctx.date_to)
    amount = ctx.rng.randrange(1_000_00, 9_000_00)
    charges, bank = ms.account("6400").qref, ms.account("1010").qref
    lines = [
        QLine("je", "Bank reconciliation adjustment", charges, amount_cents=amount, posting="Debit"),
        QLine("je", "Bank reconciliation adjustment", bank, amount_cents=amount, posting="Credit"),
    ]
    q = ctx.new_qdoc(
        QDoc(
            QBO_ENTITY["journal"],
            None,
            day,
            None,
            "KES",
            lines,
            total_cents=amount,
            memo="Bank reconciliation adjustment",
            created_at=ctx.business_time(day),
        )
    )
    p.expect(t, None, "missing_in_awra", "journal entry keyed in QBO only (no DocNumber)", qdoc=q, entity="journal")


# ============================================================================ lines and currencies


def _sound(m: Master | None) -> bool:
    """A master with a plain role and an active QBO twin: a safe stand-in in a plant."""
    return m is not None and not m.role and m.qref is not None and m.qref.active


def plant_lines(p: Planter) -> None:
    """Line-level plants (one per line field), payment deposit/method, and foreign-currency plants.

    Each changes one thing in QBO so that the header (totals, tax, dates, party) still agrees:
    only the line-level field is different. Run last: payments exist by then.
    """
    ctx = p.ctx
    ms = ctx.ms
    take = ctx.take

    # line_item: another item with the same tax code, same quantity and amount
    t = p.plant()

    def twin_item(x: Line) -> Master | None:
        if x.item is None:
            return None
        same = [i for i in ms.items if _sound(i) and i is not x.item and i.tax is x.item.tax]
        return same[0] if same else None

    d = take("invoice", lambda x: _kes(x) and any(twin_item(y) for y in x.lines))
    q = d.qdoc
    assert q is not None
    n, x = next((k, y) for k, y in enumerate(d.lines) if twin_item(y))
    other = twin_item(x)
    assert other is not None
    q.lines[n].ref = other.qref
    why = f"line {n + 1} carries another item in QBO ({other.name}), same amount and tax: only that line differs"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_item", line=n + 1)

    # line_tax_code: zero-rated -> exempt (both 0 %): tax and totals unchanged
    t = p.plant()
    d = take("invoice", lambda x: _kes(x) and _has_tax(x, "ZERO"))
    q = d.qdoc
    assert q is not None
    n = next(k for k, y in enumerate(d.lines) if y.tax is not None and y.tax.code == "ZERO")
    q.lines[n].tax = ms.tax("EXEMPT").qref
    why = f"line {n + 1} is exempt in QBO, zero-rated in AWRA (both 0 %): tax and totals agree, the tax code does not"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_tax_code", line=n + 1)

    # line_amount: part of one line's amount moved to another line with the same tax code
    t = p.plant()

    def same_tax_pair(x: Doc) -> tuple[int, int] | None:
        for a in range(len(x.lines)):
            for b in range(a + 1, len(x.lines)):
                if x.lines[a].tax is x.lines[b].tax and x.lines[a].amount_cents > 100_00:
                    return a, b
        return None

    d = take("invoice", lambda x: _kes(x) and same_tax_pair(x) is not None)
    q = d.qdoc
    assert q is not None
    pair = same_tax_pair(d)
    assert pair is not None
    a, b = pair
    shift = q.lines[a].amount_cents // 10
    q.lines[a].amount_cents -= shift
    q.lines[b].amount_cents += shift
    moved = f"{shift // 100:,}.{shift % 100:02d}"
    why = f"{moved} moved from line {a + 1} to line {b + 1} in QBO (same tax code): totals agree"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_amount", line=a + 1)
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_amount", line=b + 1)

    # line_account: an account-based bill line coded to another expense account in QBO
    t = p.plant()
    d = take("bill", lambda x: x.party is not None and x.party.extra["kind"] == "account")
    q = d.qdoc
    assert q is not None and d.lines[0].account is not None
    used = d.lines[0].account
    other = next(
        a
        for a in ms.accounts
        if _sound(a) and a.extra["account_type"] == "expense" and a is not used and a.code != "5000"
    )
    q.lines[0].ref = other.qref
    why = f"line 1 coded to {other.code} {other.name} in QBO, {used.code} {used.name} in AWRA: same amount"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_account", line=1)

    # line_posting: a two-line journal with debit and credit swapped in QBO (same totals)
    t = p.plant()
    d = take("journal", lambda x: len(x.lines) == 2)
    q = d.qdoc
    assert q is not None
    for ql in q.lines:
        ql.posting = "Credit" if ql.posting == "Debit" else "Debit"
    why = "debit and credit swapped in QBO: same amounts, both lines post to the other side"
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_posting", line=1)
    p.expect(t, d, "mismatch", why, qdoc=q, field="line_posting", line=2)

    # application: a payment applied in QBO to another open invoice of the same customer
    t = p.plant()

    def other_invoice(x: Doc) -> Doc | None:
        if len(x.lines) != 1 or x.lines[0].invoice is None:
            return None
        mine = x.lines[0].invoice
        for inv in ctx.docs["invoice"]:
            q2 = inv.qdoc
            if (
                inv is not mine
                and inv.party is x.party
                and inv.currency == x.currency
                and inv.in_window
                and not inv.planted
                and q2 is not None
                and not (q2.voided or q2.ghost or q2.dropped)
            ):
                return inv
        return None

    d = take("payment", lambda x: _kes(x) and other_invoice(x) is not None)
    q = d.qdoc
    target = other_invoice(d)
    assert q is not None and target is not None
    q.lines[0].linked = target.qdoc
    paid = d.lines[0].invoice
    assert paid is not None
    why = f"applied in QBO to {target.number} instead of {paid.number}: same amount, same customer"
    p.expect(t, d, "mismatch", why, qdoc=q, field="application", line=1)

    # deposit_account: received into another bank account in QBO
    t = p.plant()
    d = take("payment", lambda x: _kes(x) and x.deposit is not None and x.deposit.code == "1000")
    q = d.qdoc
    assert q is not None
    q.deposit = ms.account("1010").qref
    why = "deposited to 1010 Equity Bank KES in QBO, to 1000 Cash on Hand in AWRA"
    p.expect(t, d, "mismatch", why, qdoc=q, field="deposit_account")

    # payment_method: another payment method in QBO
    t = p.plant()
    d = take("payment", lambda x: _kes(x) and x.method is not None and x.method.code == "BANK")
    q = d.qdoc
    assert q is not None
    cash = next(m for m in ms.methods if m.code == "CASH")
    q.method = cash.qref
    why = "Bank Transfer in AWRA, Cash in QBO (the deposit account agrees)"
    p.expect(t, d, "mismatch", why, qdoc=q, field="payment_method")

    # the second currency: USD records agree but for these two
    t = p.plant()
    d = take("invoice", lambda x: x.currency == "USD" and x.exchange_rate is not None)
    q = d.qdoc
    assert q is not None
    q.exchange_rate = Decimal("131.25")
    why = "USD invoice converted in QBO at 131.25 KES per USD, in AWRA at 130: amounts in USD agree"
    p.expect(t, d, "mismatch", why, qdoc=q, field="exchange_rate")

    t = p.plant()
    d = take("invoice", lambda x: x.currency == "USD" and _has_tax(x, "VAT16"))
    q = d.qdoc
    assert q is not None
    q.tax_cents += 1
    q.total_cents += 1
    why = "USD invoice: QBO rounded the tax one cent up; tax and total differ by USD 0.01"
    p.expect(t, d, "mismatch", why, qdoc=q, field="tax_amount")
    p.expect(t, d, "mismatch", why, qdoc=q, field="amount")
