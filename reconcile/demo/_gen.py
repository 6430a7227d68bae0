"""Generate the demo's transactions and sync history, mirrored exactly into QBO (no I/O).

Everything derives from ``random.Random(seed)`` and the anchor date: no global random state and
no clock. The planted problems are applied afterwards by ``reconcile.demo._plant``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from reconcile.demo._masters import Masters
from reconcile.demo._model import Attempt, Doc, Expect, Line, Master, QDoc, QLine

RUN_EVERY = timedelta(hours=2)
USD_RATE = 130  # KES per USD, for USD price lists and the rate AWRA and QBO record on USD documents
USERS = ["grace.otieno", "peter.kamau", "amina.hassan", "john.mwangi", "faith.njeri"]
WAREHOUSES = {"Nairobi HQ": "NBO-WH1", "Mombasa": "MSA-WH1", "Kisumu": "KSM-WH1"}
ID_BASE = {"invoice": 100000, "payment": 200000, "bill": 300000, "journal": 400000}
NUMBER_PREFIX = {"invoice": "INV", "payment": "PAY", "bill": "BILL", "journal": "JV"}
QBO_ENTITY = {"invoice": "Invoice", "payment": "Payment", "bill": "Bill", "journal": "JournalEntry"}

#: Failures that a later attempt got past (clean records' history): (code, message).
TRANSIENT_FAILURES = [
    ("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429"),
    ("429", "HTTP 429 Too Many Requests: request rate limit for this company exceeded"),
    ("503", "HTTP 503 Service Unavailable: QuickBooks Online is temporarily unavailable"),
    ("500", "HTTP 500 Internal Server Error: An application error has occurred while processing your request"),
    (
        "5010",
        "Stale Object Error : You and another user were working on this at the same time. "
        "The other user finished before you did, so your work was not saved.",
    ),
    ("AWRA-TAX-MAP", "Tax code not mapped: a line uses a tax code with no QuickBooks tax code"),
    ("AWRA-CUSTOMER-MAP", "Customer mapping missing: the customer has no QuickBooks customer yet"),
    (
        "6240",
        "Duplicate Name Exists Error : The name supplied already exists. : Another customer, vendor or "
        "employee is already using this name. Please use a different name.",
    ),
    (
        "2500",
        "Invalid Reference Id : Invalid Reference Id : Something you're trying to use has been made "
        "inactive or deleted. Check the fields with accounts, customers, items or vendors.",
    ),
]
OUTAGE_FAILURES = [
    ("3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401: token expired"),
    ("3100", "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"),
    ("6190", "Invalid Company Status : Your QuickBooks subscription has ended. Please resubscribe to continue."),
]


def add_months(d: date, months: int) -> date:
    """``d`` plus whole months, the day clamped to the month's length."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(d)  # pragma: no cover


def round_tax(net_cents: int, rate_percent: int) -> int:
    """Tax on a net amount, half up, in cents."""
    value = net_cents * rate_percent
    return (value + 50) // 100 if value >= 0 else -((-value + 50) // 100)


def tax_of(lines: list[Line]) -> int:
    """Tax of an invoice or bill: per tax code, on the sum of its lines."""
    nets: dict[str, tuple[int, int]] = {}
    for line in lines:
        if line.tax is None:
            continue
        rate = int(line.tax.extra["rate_percent"])
        net, _ = nets.get(line.tax.id, (0, rate))
        nets[line.tax.id] = (net + line.amount_cents, rate)
    return sum(round_tax(net, rate) for net, rate in nets.values())


@dataclass
class Ctx:
    """Generation state shared by the generator and the planting step."""

    rng: random.Random
    ms: Masters
    anchor: date
    date_from: date
    date_to: date
    scale: float
    t0: datetime
    runs: list[datetime] = field(default_factory=list)
    outages: dict[int, tuple[str, str]] = field(default_factory=dict)
    docs: dict[str, list[Doc]] = field(default_factory=dict)
    qdocs: list[QDoc] = field(default_factory=list)
    expects: list[Expect] = field(default_factory=list)
    pools: dict[str, list[Doc]] = field(default_factory=dict)
    next_seq: dict[str, int] = field(default_factory=dict)
    qseq: int = 0

    # ------------------------------------------------------------------ time
    def run_after(self, t: datetime) -> int:
        """The first sync run starting after ``t``."""
        k = math.ceil((t - self.t0) / RUN_EVERY)
        return min(max(k, 0), len(self.runs) - 1)

    def business_time(self, d: date) -> datetime:
        """A working-hours moment (08:00-17:00 Nairobi = 05:00-14:00 UTC) on ``d``."""
        return datetime.combine(d, time(5, 0), UTC) + timedelta(minutes=self.rng.randrange(0, 9 * 60))

    def day_in(self, start: date, end: date) -> date:
        """A random day in [start, end], Sundays moved to the Saturday before when possible."""
        d = start + timedelta(days=self.rng.randrange((end - start).days + 1))
        if d.weekday() == 6 and d - timedelta(days=1) >= start:
            d -= timedelta(days=1)
        return d

    # ------------------------------------------------------------------ QBO twins
    def new_qdoc(self, q: QDoc) -> QDoc:
        """Register a QBO transaction (its Id is assigned when writing, by creation time)."""
        self.qseq += 1
        q.seq = self.qseq
        self.qdocs.append(q)
        return q

    def mirror(self, doc: Doc) -> QDoc:
        """The exact QBO twin of an AWRA record (as the connector would create it)."""
        party = doc.party.qref if doc.party is not None else None
        lines: list[QLine] = []
        for x in doc.lines:
            if doc.entity == "invoice":
                assert x.item is not None and x.tax is not None
                lines.append(
                    QLine("sales", x.description, x.item.qref, x.tax.qref, x.qty10, x.unit_cents, x.amount_cents)
                )
            elif doc.entity == "bill":
                assert x.tax is not None
                if x.item is not None:
                    ql = QLine("item", x.description, x.item.qref, x.tax.qref, x.qty10, x.unit_cents, x.amount_cents)
                else:
                    assert x.account is not None
                    ql = QLine("account", x.description, x.account.qref, x.tax.qref, amount_cents=x.amount_cents)
                lines.append(ql)
            elif doc.entity == "journal":
                assert x.account is not None
                posting = "Debit" if x.debit_cents else "Credit"
                amount = x.debit_cents or x.credit_cents
                lines.append(QLine("je", x.description, x.account.qref, amount_cents=amount, posting=posting))
            else:
                assert x.invoice is not None
                lines.append(QLine("pay", amount_cents=x.amount_cents, linked=x.invoice.qdoc))
        q = QDoc(
            QBO_ENTITY[doc.entity],
            doc.number,
            doc.txn_date,
            party,
            doc.currency,
            lines,
            tax_cents=doc.tax_cents,
            total_cents=doc.amount_cents,
            due_date=doc.due_date,
            method=doc.method.qref if doc.method is not None else None,
            deposit=doc.deposit.qref if doc.deposit is not None else None,
            memo=doc.memo,
        )
        return self.new_qdoc(q)

    def synced(self, doc: Doc, run: int | None = None) -> Attempt:
        """Give ``doc`` a QBO twin created by one succeeded attempt; returns that attempt."""
        q = self.mirror(doc)
        r = self.run_after(doc.updated_at) if run is None else run
        a = Attempt(doc, r, "succeeded", message=f"Created {q.entity} {{qbo_id}}", qdoc=q, msg_qdoc=q)
        q.created_by = a
        doc.qdoc = q
        doc.link = q
        doc.log = [a]
        return a

    def unsync(self, doc: Doc) -> None:
        """Remove ``doc``'s QBO twin and sync history (it never reached QBO)."""
        if doc.qdoc is not None:
            doc.qdoc.dropped = True
        doc.qdoc = None
        doc.link = None
        doc.log = []

    # ------------------------------------------------------------------ pools
    def take(self, entity: str, pred: Callable[[Doc], bool] | None = None) -> Doc:
        """A random clean in-window record of ``entity`` (removed from the pool: planted)."""
        pool = self.pools[entity]
        ok = pred or (lambda _d: True)
        for _ in range(400):
            i = self.rng.randrange(len(pool))
            if ok(pool[i]):
                return self._pop(pool, i)
        hits = [i for i, d in enumerate(pool) if ok(d)]
        if not hits:
            raise RuntimeError(f"demo: no {entity} fits a planted problem; use a larger scale")
        return self._pop(pool, self.rng.choice(hits))

    @staticmethod
    def _pop(pool: list[Doc], i: int) -> Doc:
        doc = pool[i]
        pool[i] = pool[-1]
        pool.pop()
        doc.planted = True
        return doc

    def new_id(self, entity: str) -> str:
        """The next AWRA id of ``entity`` (higher than every id given so far)."""
        self.next_seq[entity] += 1
        return str(ID_BASE[entity] + self.next_seq[entity])


# ---------------------------------------------------------------------------- documents


def _qty10(rng: random.Random, item: Master) -> int:
    if item.extra["item_type"] == "service":
        return rng.choice([10, 10, 20, 20, 30, 40, 50, 80, 15, 25, 35])
    return rng.choice([10, 20, 30, 50, 100, 120, 150, 200, 250, 400])


def _invoice(ctx: Ctx, d: date, customer: Master, sellable: list[Master]) -> Doc:
    rng = ctx.rng
    n = rng.choices([1, 2, 3, 4], cum_weights=[35, 70, 90, 100])[0]
    lines: list[Line] = []
    for item in rng.sample(sellable, n):
        unit = item.price_cents if customer.currency == "KES" else round(item.price_cents / USD_RATE)
        qty10 = _qty10(rng, item)
        amount = qty10 * unit // 10
        lines.append(Line(item.name, item=item, tax=item.tax, qty10=qty10, unit_cents=unit, amount_cents=amount))
    goods = any(x.item is not None and x.item.extra["item_type"] == "inventory" for x in lines)
    doc = Doc(
        "invoice",
        d,
        customer,
        customer.currency,
        lines,
        due_date=d + timedelta(days=30),
        branch=customer.branch,
        warehouse=WAREHOUSES[customer.branch] if goods else None,
        updated_by=rng.choice(USERS),
        exchange_rate=_rate_of(customer.currency),
    )
    doc.tax_cents = tax_of(lines)
    doc.amount_cents = doc.line_total() + doc.tax_cents
    doc.updated_at = ctx.business_time(d)
    return doc


def _rate_of(currency: str) -> Decimal | None:
    """The exchange rate AWRA records on a document in ``currency`` (none for the home currency)."""
    return Decimal(USD_RATE) if currency == "USD" else None


def _bill(ctx: Ctx, d: date, vendor: Master, buyable: list[Master]) -> Doc:
    rng = ctx.rng
    lines: list[Line] = []
    assert vendor.tax is not None
    if vendor.extra["kind"] == "goods":
        for item in rng.sample(buyable, rng.choices([1, 2, 3], weights=[50, 35, 15])[0]):
            unit = item.price_cents * rng.choice([55, 60, 65, 70]) // 100 // 100 * 100
            qty10 = rng.choice([100, 200, 250, 500, 1000])
            lines.append(
                Line(
                    item.name,
                    item=item,
                    tax=item.tax,
                    qty10=qty10,
                    unit_cents=unit,
                    amount_cents=qty10 * unit // 10,
                )
            )
    else:
        for k in range(rng.choices([1, 2], weights=[75, 25])[0]):
            amount = rng.randrange(2_000_00, 250_000_00) // 100 * 100 + rng.choice([0, 0, 50, 25])
            what = f"{vendor.name} - {'service charge' if k else 'monthly invoice'}"
            lines.append(Line(what, account=vendor.account, tax=vendor.tax, amount_cents=amount))
    doc = Doc(
        "bill",
        d,
        vendor,
        "KES",
        lines,
        due_date=d + timedelta(days=30),
        branch="Nairobi HQ",
        warehouse="NBO-WH1" if vendor.extra["kind"] == "goods" else None,
        updated_by=rng.choice(USERS),
    )
    doc.tax_cents = tax_of(lines)
    doc.amount_cents = doc.line_total() + doc.tax_cents
    doc.updated_at = ctx.business_time(d)
    return doc


_JOURNALS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Monthly payroll accrual", [("6100", "D"), ("2200", "C")]),
    ("Depreciation of office equipment", [("6700", "D"), ("1510", "C")]),
    ("Bank charges for the period", [("6400", "D"), ("1010", "C")]),
    ("Transfer M-Pesa float to bank", [("1010", "D"), ("1030", "C")]),
    ("Loan repayment with interest", [("2300", "D"), ("6400", "D"), ("1010", "C")]),
    ("VAT settlement to KRA", [("2100", "D"), ("1010", "C")]),
    ("Release of prepaid insurance", [("6300", "D"), ("1400", "C")]),
    ("Cash banked", [("1010", "D"), ("1000", "C")]),
    ("Inventory count adjustment", [("5000", "D"), ("1300", "C")]),
    ("Accrued utilities and rent", [("6200", "D"), ("6000", "D"), ("2200", "C"), ("1010", "C")]),
]


def journal_lines(ctx: Ctx, spec: list[tuple[str, str]], memo: str) -> list[Line]:
    """Balanced journal lines for a template: the debits' total equals the credits' total."""
    rng = ctx.rng
    debits = [c for c, side in spec if side == "D"]
    credits = [c for c, side in spec if side == "C"]
    parts = [rng.randrange(5_000_00, 400_000_00) // 100 * 100 for _ in debits]
    total = sum(parts)
    credit_parts = [total] if len(credits) == 1 else [total // 2, total - total // 2]
    lines = [Line(memo, account=ctx.ms.account(c), debit_cents=v) for c, v in zip(debits, parts, strict=True)]
    lines += [Line(memo, account=ctx.ms.account(c), credit_cents=v) for c, v in zip(credits, credit_parts, strict=True)]
    return lines


def _journal(ctx: Ctx, d: date) -> Doc:
    memo, spec = ctx.rng.choice(_JOURNALS)
    lines = journal_lines(ctx, spec, memo)
    doc = Doc("journal", d, None, "KES", lines, memo=memo, branch="Nairobi HQ", updated_by=ctx.rng.choice(USERS[:2]))
    doc.amount_cents = doc.line_total()
    doc.updated_at = ctx.business_time(d)
    return doc


def _number(ctx: Ctx, entity: str, docs: list[Doc]) -> None:
    docs.sort(key=lambda d: (d.txn_date, d.updated_at))
    for i, d in enumerate(docs, start=1):
        d.seq = i
        d.id = str(ID_BASE[entity] + i)
        d.number = f"{NUMBER_PREFIX[entity]}-{i:06d}"
    ctx.next_seq[entity] = len(docs)


def _payments(ctx: Ctx, invoices: list[Doc], count: int, start: date, end: date) -> list[Doc]:
    """Payments in [start, end] applying to open clean invoices dated on or before them."""
    rng = ctx.rng
    invoices = sorted(invoices, key=lambda d: d.txn_date)
    dates = [d.txn_date for d in invoices]
    open_cents = {id(d): d.amount_cents for d in invoices}
    by_method = ctx.ms.methods
    out: list[Doc] = []
    tries = 0
    while len(out) < count and tries < count * 4:
        tries += 1
        day = ctx.day_in(start, end)
        hi = bisect.bisect_right(dates, day)
        lo = bisect.bisect_left(dates, day - timedelta(days=75))
        inv = None
        for _try in range(30):
            if hi <= lo:
                break
            cand = invoices[rng.randrange(lo, hi)]
            if open_cents[id(cand)] > 0:
                inv = cand
                break
        if inv is None:
            continue
        targets = [inv]
        if rng.random() < 0.1:
            for _try in range(10):
                other = invoices[rng.randrange(lo, hi)]
                if other is not inv and other.party is inv.party and open_cents[id(other)] > 0:
                    targets.append(other)
                    break
        lines: list[Line] = []
        for t in targets:
            left = open_cents[id(t)]
            amount = left if rng.random() < 0.85 else max(100, left * rng.randrange(30, 71) // 100)
            open_cents[id(t)] = left - amount
            lines.append(Line(invoice=t, amount_cents=amount))
        assert inv.party is not None
        method = by_method[2] if inv.currency == "USD" else rng.choices(by_method, cum_weights=[15, 30, 60, 100])[0]
        deposit = ctx.ms.account("1020") if inv.currency == "USD" else method.account
        doc = Doc(
            "payment",
            day,
            inv.party,
            inv.currency,
            lines,
            amount_cents=sum(x.amount_cents for x in lines),
            branch=inv.branch,
            method=method,
            deposit=deposit,
            updated_by=rng.choice(USERS),
            exchange_rate=_rate_of(inv.currency),
        )
        latest = max(t.updated_at for t in targets)
        doc.updated_at = max(ctx.business_time(day), latest + timedelta(hours=8))
        out.append(doc)
    return out


def generate(ctx: Ctx) -> None:
    """Build every AWRA transaction with its exact QBO twin and a sync history."""
    rng, ms = ctx.rng, ctx.ms
    scale = ctx.scale
    hist_from = ctx.date_from - timedelta(days=30)
    hist_to = ctx.date_from - timedelta(days=1)
    n = {
        "invoice": max(200, round(2000 * scale)),
        "payment": max(150, round(1500 * scale)),
        "bill": max(60, round(500 * scale)),
        "journal": max(24, round(100 * scale)),
    }
    hist = {k: max(3, round(v * 0.05)) for k, v in n.items()}

    customers = [c for c in ms.customers if c.role not in ("unmapped", "inactive")]
    cweights = list(itertools.accumulate(c.weight for c in customers))
    sellable = [i for i in ms.items if i.role not in ("unmapped", "broken")]
    buyable = [i for i in sellable if i.extra["item_type"] != "service"]
    vendors = [v for v in ms.vendors if v.role not in ("unmapped", "broken")]
    vweights = list(itertools.accumulate(3 if v.extra["kind"] == "goods" else 2 for v in vendors))

    def invoices_between(count: int, start: date, end: date) -> list[Doc]:
        out = []
        for _ in range(count):
            cust = rng.choices(customers, cum_weights=cweights)[0]
            out.append(_invoice(ctx, ctx.day_in(start, end), cust, sellable))
        return out

    inv_hist = invoices_between(hist["invoice"], hist_from, hist_to)
    inv_win = invoices_between(n["invoice"], ctx.date_from, ctx.date_to)
    bills = [
        _bill(ctx, ctx.day_in(hist_from, hist_to), rng.choices(vendors, cum_weights=vweights)[0], buyable)
        for _ in range(hist["bill"])
    ]
    bills += [
        _bill(ctx, ctx.day_in(ctx.date_from, ctx.date_to), rng.choices(vendors, cum_weights=vweights)[0], buyable)
        for _ in range(n["bill"])
    ]
    journals = [_journal(ctx, ctx.day_in(hist_from, hist_to)) for _ in range(hist["journal"])]
    journals += [_journal(ctx, ctx.day_in(ctx.date_from, ctx.date_to)) for _ in range(n["journal"])]

    invoices = inv_hist + inv_win
    _number(ctx, "invoice", invoices)
    _number(ctx, "bill", bills)
    _number(ctx, "journal", journals)
    for d in [*invoices, *bills, *journals]:
        d.in_window = ctx.date_from <= d.txn_date <= ctx.date_to
        ctx.synced(d)
    ctx.docs = {"invoice": invoices, "bill": bills, "journal": journals, "payment": []}
    ctx.pools = {e: [d for d in ctx.docs[e] if d.in_window] for e in ("invoice", "bill", "journal")}


def generate_payments(ctx: Ctx, payable: list[Doc]) -> None:
    """Payments (history and window) over the clean invoices; run after invoice plants."""
    scale = ctx.scale
    count = max(150, round(1500 * scale))
    hist_from = ctx.date_from - timedelta(days=30)
    hist = _payments(ctx, payable, max(3, round(count * 0.05)), hist_from, ctx.date_from - timedelta(days=1))
    win = _payments(ctx, payable, count, ctx.date_from, ctx.date_to)
    payments = hist + win
    _number(ctx, "payment", payments)
    for d in payments:
        d.in_window = ctx.date_from <= d.txn_date <= ctx.date_to
        ctx.synced(d)
    ctx.docs["payment"] = payments
    ctx.pools["payment"] = [d for d in payments if d.in_window]


def enrich_history(ctx: Ctx) -> None:
    """Give clean records a realistic sync history: outages, fixed failures, updates, log-only links.

    Only records never touched by a plant are changed, and each keeps exactly one QBO twin and a
    latest attempt that succeeded, so none of this is a finding.
    """
    rng = ctx.rng
    last = len(ctx.runs) - 1
    for entity in ("invoice", "payment", "bill", "journal"):
        for doc in ctx.docs[entity]:
            if doc.planted or doc.qdoc is None or len(doc.log) != 1:
                continue
            first = doc.log[0]
            q = doc.qdoc
            outage = ctx.outages.get(first.run)
            roll = rng.random()
            if outage is not None and first.run < last:
                code, message = outage
                doc.log = [Attempt(doc, first.run, "failed", code, message), first]
                first.run += 1
                first.retry = 1
            elif roll < 0.025 and first.run + 12 < last:
                code, message = rng.choice(TRANSIENT_FAILURES)
                fail = Attempt(doc, first.run, "failed", code, message)
                first.run += rng.randrange(1, 3)
                first.retry = 1
                doc.log = [fail, first]
            elif roll < 0.055 and first.run + 200 < last:
                upd_run = first.run + rng.randrange(12, 200)
                doc.updated_at = ctx.runs[upd_run] - timedelta(minutes=rng.randrange(5, 90))
                upd = Attempt(doc, upd_run, "succeeded", message=f"Updated {q.entity} {{qbo_id}}", qdoc=q, msg_qdoc=q)
                doc.log.append(upd)
                q.updated_by = upd
                q.sync_token = 1
            elif roll < 0.075:
                doc.link = None  # AWRA did not store the Id: the link comes from the sync log
