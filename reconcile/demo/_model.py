"""The in-memory model the demo generator builds before writing (no I/O).

AWRA records (``Master``, ``Doc`` with ``Line``) and their QBO twins (``QRef``, ``QDoc`` with
``QLine``) are plain mutable objects that refer to each other: the generator first mirrors
every AWRA record into QBO exactly, then the planting step edits a few of them. QBO Ids and
timestamps are resolved only at the end (``Attempt.at``, ``QDoc.id``), so edits never have to
renumber anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

#: A placeholder timestamp for "not resolved yet".
UNSET = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(eq=False)
class QRef:
    """A QBO list record (Customer, Vendor, Item, Account, PaymentMethod, TaxCode, TaxRate)."""

    entity: str
    id: str
    name: str
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Master:
    """An AWRA master record and its ``qbo_mappings`` row (``map_id`` None: no mapping row)."""

    kind: str
    id: str
    code: str
    name: str
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    qref: QRef | None = None  # the QBO record transactions use for it
    map_id: str | None = None
    map_name: str | None = None
    map_by: str = "setup.wizard"
    # generation helpers (not written to AWRA as such)
    price_cents: int = 0
    tax: Master | None = None
    currency: str = "KES"
    role: str = ""
    weight: int = 1
    branch: str = "Nairobi HQ"
    account: Master | None = None


@dataclass(eq=False)
class Line:
    """A line of an AWRA document (invoice/bill line, journal line or payment application)."""

    description: str = ""
    item: Master | None = None
    account: Master | None = None
    tax: Master | None = None
    qty10: int = 10  # quantity in tenths
    unit_cents: int = 0
    amount_cents: int = 0
    debit_cents: int = 0
    credit_cents: int = 0
    invoice: Doc | None = None  # payment application: the invoice paid


@dataclass(eq=False)
class QLine:
    """A line of a QBO transaction (subtotal and tax lines are derived when writing)."""

    kind: str  # sales | item | account | je | pay
    description: str = ""
    ref: QRef | None = None  # ItemRef or AccountRef
    tax: QRef | None = None  # TaxCodeRef
    qty10: int = 10
    unit_cents: int = 0
    amount_cents: int = 0
    posting: str = ""  # Debit | Credit (journal lines)
    linked: QDoc | None = None  # payment line: the QBO invoice paid


@dataclass(eq=False)
class Attempt:
    """One sync_log row: an attempt to push an AWRA record to QBO."""

    doc: Doc
    run: int
    status: str
    code: str | None = None
    message: str | None = None  # may hold ``{qbo_id}`` / ``{number}``, filled when writing
    qdoc: QDoc | None = None  # the row's qbo_id
    msg_qdoc: QDoc | None = None  # the QBO record named in the message
    retry: int = 0
    at: datetime = UNSET


@dataclass(eq=False)
class QDoc:
    """A QBO transaction (Invoice, Payment, Bill, JournalEntry)."""

    entity: str
    number: str | None
    txn_date: date
    party: QRef | None
    currency: str
    lines: list[QLine]
    tax_cents: int = 0
    total_cents: int = 0
    due_date: date | None = None
    unapplied_cents: int = 0
    method: QRef | None = None
    deposit: QRef | None = None
    memo: str | None = None
    voided: bool = False
    exchange_rate: Decimal | None = None  # home units per unit of ``currency``; None: QBO's usual
    created_by: Attempt | None = None
    created_at: datetime = UNSET  # used when no attempt created it (keyed by hand)
    updated_by: Attempt | None = None
    updated_at: datetime | None = None
    sync_token: int = 0
    ghost: bool = False  # had an Id once, deleted since: never written
    dropped: bool = False  # never existed (the AWRA record was not synced after all)
    id: str = ""
    seq: int = 0

    def create_time(self) -> datetime:
        """When QBO created the record."""
        return self.created_by.at if self.created_by is not None else self.created_at

    def update_time(self) -> datetime:
        """When QBO last changed the record."""
        if self.updated_by is not None:
            return self.updated_by.at
        return self.updated_at or self.create_time()


@dataclass(eq=False)
class Doc:
    """An AWRA transaction (invoice, payment, bill or journal)."""

    entity: str
    txn_date: date
    party: Master | None
    currency: str
    lines: list[Line]
    tax_cents: int = 0
    amount_cents: int = 0
    status: str = "posted"
    due_date: date | None = None
    branch: str | None = None
    warehouse: str | None = None
    memo: str | None = None
    method: Master | None = None
    deposit: Master | None = None
    updated_at: datetime = UNSET
    updated_by: str = ""
    id: str = ""
    number: str = ""
    seq: int = 0
    link: QDoc | None = None  # the record's own qbo_id
    qdoc: QDoc | None = None  # its (first) QBO twin, if any
    log: list[Attempt] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # columns overwritten as-is (bad data)
    party_id: str | None = None  # overrides party.id when set (dangling reference)
    in_window: bool = True
    planted: bool = False
    exchange_rate: Decimal | None = None  # AWRA's recorded rate (home units per unit); None: unknown

    def line_total(self) -> int:
        """Sum of the lines (journal: debits) in cents."""
        if self.entity == "journal":
            return sum(x.debit_cents for x in self.lines)
        return sum(x.amount_cents for x in self.lines)


@dataclass
class Expect:
    """One expected finding of the manifest (resolved to ids when writing)."""

    plant: str
    entity: str
    category: str
    why: str
    doc: Doc | None = None
    qdoc: QDoc | None = None
    master: Master | None = None
    qbo_id: str | None = None  # a literal QBO id (mapping findings)
    field: str | None = None
    line: str | None = None  # line-level mismatch: the AWRA line_no, or the QBO line Id of a QBO-only line
    column: str | None = None  # data_quality: the AWRA column at fault
    also: tuple[str, ...] = ()  # other categories the same record carries
