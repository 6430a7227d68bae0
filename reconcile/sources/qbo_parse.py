"""Turn QBO entity payloads into the canonical frames: the hot path of the QBO source.

Input: entity objects exactly as QBO returns them inside ``QueryResponse`` (dicts parsed with
``json.loads(..., parse_float=decimal.Decimal)`` or with plain floats: both are handled, as are
ints and numeric strings). Output: ``reconcile.frames`` TRANSACTIONS / LINES / REFERENCES rows.
Both the live source and the snapshot source call these functions, so the two agree exactly.

How QBO fields map
------------------
* ``id`` = ``Id``; ``number`` = ``DocNumber`` (Payment: ``PaymentRefNum``), absent or blank → NA.
* ``txn_date`` / ``due_date`` = ``TxnDate`` / ``DueDate`` (``YYYY-MM-DD``; anything else → NaT).
* ``party_id`` / ``party_name`` = ``CustomerRef`` (invoice, payment) or ``VendorRef`` (bill)
  ``value`` / ``name``; journals have no party (NA).
* ``currency`` = ``CurrencyRef.value``; ``exchange_rate`` = ``ExchangeRate`` as normalized
  decimal text (exact; absent or not a number → NA); ``home_amount_cents`` = ``HomeTotalAmt``
  (invoices and bills of a multi-currency company; absent → NA).
* ``deposit_account_id`` = a payment's ``DepositToAccountRef.value``.
* The company's home currency (``QboData.home_currency``) = ``CurrencyPrefs.HomeCurrency.value``
  of the ``Preferences`` object, when one is given (``home_currency_of_preferences``).
* ``amount_cents`` = ``TotalAmt``; a JournalEntry has none: the sum of its Debit lines.
* ``tax_cents`` = ``TxnTaxDetail.TotalTax``. QBO omits properties without a value, so on an
  invoice or bill a missing ``TotalTax`` (or ``TxnTaxDetail``) means 0; on a payment or journal
  it means "no tax figure" (NA).
* ``line_total_cents`` = sum of the lines kept in LINES (``SubTotalLineDetail`` lines are left
  out: they repeat the lines above them; ``DiscountLineDetail`` lines subtract). Payment: the sum
  of its applications to invoices (lines whose ``LinkedTxn`` has ``TxnType`` Invoice); lines that
  apply credit memos or journals are not applications to an invoice and are not counted.
  Journal: the sum of its Debit lines. So for every entity but journal, ``line_total_cents`` is
  the sum of the transaction's LINES ``amount_cents``.
* ``is_void``: QBO keeps a voided transaction with ``TotalAmt`` 0 and ``PrivateNote`` "Voided"
  (any case; QBO may append the old memo, "Voided - …"). A row is void when its note starts
  with "voided" *and* its amount is 0, so a user's note alone cannot void a live document;
  ``status`` is then ``void``, else ``posted``.
* ``memo`` = ``PrivateNote``; ``updated_at`` = ``MetaData.LastUpdatedTime`` converted to UTC
  (QBO writes the company's offset, e.g. ``-08:00``); ``qbo_link``, ``branch``, ``warehouse``,
  ``updated_by`` are NA.
* ``data_ok`` is False when ``Id`` is missing, ``TxnDate`` is missing or not a real date, or the
  amount (``TotalAmt``; a journal's lines) is missing or not a number. Such rows are kept (they
  pair by id and number) with the bad field NA. A line whose amount is not a number (or a
  journal line whose PostingType is neither Debit nor Credit) makes ``line_total_cents`` NA.
  A payload whose shape is not QBO's (say a ref that is not an object) becomes a row with only
  its ``Id`` and ``data_ok`` False; it never stops the parse.

LINES: invoice ``SalesItemLineDetail`` → ``item_id`` / ``tax_code_id``; ``DiscountLineDetail``
→ negative ``amount_cents`` (``account_id`` = DiscountAccountRef); ``GroupLineDetail`` → one
row for the group (``item_id`` = GroupItemRef), or its component lines if the group carries no
``Amount``; other detail types (DescriptionOnly) a row with their amount (absent → 0). Bill
``AccountBasedExpenseLineDetail`` → ``account_id``, ``ItemBasedExpenseLineDetail`` →
``item_id``, both with ``tax_code_id``. Journal ``JournalEntryLineDetail`` → ``account_id`` and
``debit_cents`` / ``credit_cents`` by PostingType (the other side 0; ``amount_cents`` NA).
Payment → one row per application, ``ref_id`` = the invoice's ``TxnId``, after a line 0 holding
the payment's ``PaymentMethodRef`` (``payment_method_id``) and ``DepositToAccountRef``
(``account_id``), as the AWRA reader gives a payment's own refs. ``line_no`` is QBO's
``LineNum`` where given, else the line's 1-based position in ``Line``; ``line_id`` is the
line's own ``Id`` (what a finding names for a line only QBO has).

Money is exact
--------------
Every amount becomes integer cents as ``Decimal(str(x)) * 100`` would give it; an amount with
more than 2 decimals is rounded half-up (``ROUND_HALF_UP``: half away from zero), e.g. 0.125 →
13 cents. Non-numbers, NaN, infinities, booleans and amounts beyond int64 cents become NA.
Conversion is done in bulk (see ``cents_array``): a vectorized path whose result is checked to
equal the exact decimal result, with ``exact_cents`` (pure ``Decimal``) for every value the
check does not cover.

Speed
-----
No Python object per entity beyond the dicts already there: one pass over the payloads appends
to column lists, then money, dates, timestamps and flags are converted per column (numpy,
Arrow-backed strings). Lines of the usual shapes are read by short readers that store only the
fields varying per line (see "common line shapes" below); any other transaction goes through the
general readers, which define the semantics. (Column-wise comprehensions over the payloads were
measured slower than this one row-wise pass: each extra pass over 100,000 payloads re-touches
objects that are no longer in the CPU caches.) The cyclic garbage collector is paused while a parse runs (see
``_cyclic_gc_paused``): the parse creates no cycles, and full collections walking every payload
object would otherwise cost about a quarter of the time. ``bench/bench_qbo_parse.py`` measures it.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
from msgspec import UNSET

from reconcile import frames as F
from reconcile.model import QboData
from reconcile.sources.qbo_decode import InvoiceRecord, decode_invoices

#: Our transaction entity for each QBO transaction entity name (``Invoice`` → ``invoice``).
ENTITY_OF_QBO: Mapping[str, str] = {qbo: entity for entity, qbo in F.QBO_ENTITY.items()}
#: Our reference type for each QBO reference entity name (``TaxCode`` → ``tax_code``).
REF_TYPE_OF_QBO: Mapping[str, str] = {qbo: ref for ref, qbo in F.QBO_REFERENCE_ENTITY.items()}
#: The QBO entity holding the company settings (one object): the home currency comes from it.
PREFERENCES = "Preferences"

_NAN = math.nan  # "absent" in the raw money lists (keeps them numeric for the bulk path)
_INT64_MAX = 2**63 - 1
#: Below this magnitude a double's spacing is at most 2**-13, so the bulk check is exact.
_FAST_LIMIT = 1e12
_PARTY_REF: Mapping[str, str | None] = {
    "invoice": "CustomerRef",
    "payment": "CustomerRef",
    "bill": "VendorRef",
    "journal": None,
}
# Line kinds in the collected line tuples.
_ADD, _SUBTRACT, _DEBIT, _CREDIT, _BAD = 1, -1, 1, 2, 0
_STRING = F.dtype_of(F.Kind.STRING)
#: Build string columns straight from Arrow when the frames' string dtype is Arrow-backed.
_ARROW_STRINGS = getattr(pd.api.types.pandas_dtype(_STRING), "storage", "") == "pyarrow"
_MIN_TS = pd.Timestamp("1678-01-01")
_MAX_TS = pd.Timestamp("2261-12-31")


# --------------------------------------------------------------------------- garbage collector

_GC_LOCK = threading.Lock()
_gc_state = {"depth": 0, "was_enabled": False}


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parse runs (re-entrant, thread-safe).

    A parse allocates only acyclic data (lists, arrays, frames), which reference counting frees
    as usual; but its allocations would trigger full collections that walk every payload object
    (millions for 100,000 invoices), a quarter of the parse time. The previous state is restored
    when the outermost parse ends.
    """
    with _GC_LOCK:
        if _gc_state["depth"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_state["depth"] -= 1
            if _gc_state["depth"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


# --------------------------------------------------------------------------- money


def exact_cents(value: Any) -> int | None:
    """Integer cents of one amount, exactly; ``None`` when it is not a usable number.

    A float counts as its shortest text (``Decimal(repr(x))``), a ``Decimal`` or numeric string
    as written, an int as whole units. More than 2 decimals round half-up (away from zero).
    """
    kind = type(value)
    if kind is bool or value is None:
        return None
    if kind is int:
        cents = value * 100
        return cents if -_INT64_MAX <= cents <= _INT64_MAX else None
    number: Decimal
    if kind is float:
        if not math.isfinite(value):
            return None
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    elif isinstance(value, int):  # an int subclass other than bool
        return exact_cents(int(value))
    else:
        return None
    if not number.is_finite() or number.adjusted() > 18:
        return None
    cents = int(number.scaleb(2).to_integral_value(rounding=ROUND_HALF_UP))
    return cents if -_INT64_MAX <= cents <= _INT64_MAX else None


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return _NAN


def _cents_numpy(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(int64 cents, NA mask) for a column of raw amounts; see ``cents_array``."""
    n = len(values)
    try:
        floats = np.fromiter(values, dtype=np.float64, count=n)
    except (TypeError, ValueError, OverflowError):
        floats = np.fromiter((_as_float(v) for v in values), dtype=np.float64, count=n)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = np.rint(floats * 100.0)
        fast = (np.abs(floats) < _FAST_LIMIT) & (rounded / 100.0 == floats)
    cents = np.where(fast, rounded, 0.0).astype(np.int64)
    mask = ~fast
    # np.fromiter reads True/False as 1.0/0.0: those are not amounts.
    for i in np.flatnonzero(fast & ((floats == 0.0) | (floats == 1.0))).tolist():
        if type(values[i]) is bool:
            mask[i] = True
    for i in np.flatnonzero(~fast).tolist():
        value = values[i]
        if value is _NAN:  # "absent" (a whole column of it when no record has the field): stays NA
            continue
        exact = exact_cents(value)
        if exact is not None:
            cents[i] = exact
            mask[i] = False
    cents[mask] = 0
    return cents, mask


def cents_array(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A nullable ``Int64`` array of integer cents, one per raw amount (NA where unusable).

    Equal, value for value, to ``exact_cents``. Bulk path: with ``x = float(v)`` (correctly
    rounded) and ``c = rint(100 * x)``, when ``|x| < 1e12`` and ``c / 100 == x`` in binary, both
    the decimal ``c/100`` and ``v`` round to ``x``, so they differ by at most one unit in the last
    place of ``x`` (≤ 2**-13); ``100 * v`` is then within 0.013 of the integer ``c``, so rounding
    ``100 * v`` half-up gives exactly ``c``. Every other value goes through ``exact_cents``.
    """
    cents, mask = _cents_numpy(values)
    return pd.arrays.IntegerArray(cents, mask)


def _rate_text(value: Any) -> str | None:
    """A rate as normalized decimal text ("16", "7.5"), or None if it is not a number."""
    if type(value) is bool or value is None:
        return None
    try:
        number = Decimal(repr(value)) if type(value) is float else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return _decimal_text(number)


def _rate_texts(values: Sequence[Any]) -> list[str | None]:
    """``_rate_text`` of each value, each distinct value converted once (most are absent or 1)."""
    seen: dict[Any, str | None] = {}
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        try:
            key = (type(value), value)
            text = seen[key] if key in seen else seen.setdefault(key, _rate_text(value))
        except TypeError:  # unhashable: not a rate
            text = None
        out.append(text)
    return out


def _decimal_text(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


# --------------------------------------------------------------------------- collecting


def _ref_value(ref: Any) -> Any:
    return ref.get("value") if ref else None


class _Columns:
    """Column lists filled by one pass over the payloads (appends only: no per-row objects).

    Appending existing objects to lists allocates nothing the cyclic garbage collector tracks,
    so a pass over 100,000 payloads does not trigger full collections over the payloads.
    """

    def __init__(self) -> None:
        # transaction columns
        self.ids: list[Any] = []
        self.numbers: list[Any] = []
        self.txn_dates: list[Any] = []
        self.due_dates: list[Any] = []
        self.party_ids: list[Any] = []
        self.party_names: list[Any] = []
        self.currencies: list[Any] = []
        self.totals: list[Any] = []
        self.taxes: list[Any] = []
        self.notes: list[Any] = []
        self.updated: list[Any] = []
        self.rates: list[Any] = []
        self.home_totals: list[Any] = []
        self.deposits: list[Any] = []
        # line columns
        self.l_index: list[int] = []
        self.l_no: list[Any] = []
        self.l_item: list[Any] = []
        self.l_account: list[Any] = []
        self.l_tax: list[Any] = []
        self.l_ref: list[Any] = []
        self.l_desc: list[Any] = []
        self.l_amount: list[Any] = []
        self.l_kind: list[int] = []
        self.l_id: list[Any] = []

    def line_lists(self) -> tuple[list[Any], ...]:
        return (
            self.l_index,
            self.l_no,
            self.l_item,
            self.l_account,
            self.l_tax,
            self.l_ref,
            self.l_desc,
            self.l_amount,
            self.l_kind,
            self.l_id,
        )

    def drop_lines_from(self, start: int) -> None:
        for column in self.line_lists():
            del column[start:]

    def line_appenders(self) -> _Appenders:
        return tuple(column.append for column in self.line_lists())  # type: ignore[return-value]


_Append = Callable[[Any], None]
_Appenders = tuple[_Append, _Append, _Append, _Append, _Append, _Append, _Append, _Append, _Append, _Append]


def _invoice_lines(index: int, lines: Sequence[Any], appenders: _Appenders) -> None:
    a_index, a_no, a_item, a_account, a_tax, a_ref, a_desc, a_amount, a_kind, a_id = appenders
    position = 0
    for ln in lines:
        position += 1
        kind = ln.get("DetailType")
        if kind == "SalesItemLineDetail":  # the usual line: the short way
            detail = ln.get("SalesItemLineDetail")
            if detail:
                number = ln.get("LineNum")
                ref = detail.get("ItemRef")
                ref2 = detail.get("TaxCodeRef")
                a_index(index)
                a_no(number if type(number) is int else position)
                a_item(ref.get("value") if ref else None)
                a_account(None)
                a_tax(ref2.get("value") if ref2 else None)
                a_ref(None)
                a_desc(ln.get("Description"))
                a_amount(ln.get("Amount", 0))
                a_kind(_ADD)
                a_id(ln.get("Id"))
                continue
        elif kind == "SubTotalLineDetail":
            continue
        detail = ln.get(kind) if type(kind) is str else None
        number = ln.get("LineNum")
        line_no = number if type(number) is int else position
        if kind == "GroupLineDetail" and "Amount" not in ln and detail:
            # a bundle without its own amount: its component lines stand in for it
            sub_position = 0
            for sub in detail.get("Line") or ():
                sub_position += 1
                sub_kind = sub.get("DetailType")
                if sub_kind == "SubTotalLineDetail":
                    continue
                sub_detail = sub.get(sub_kind) if type(sub_kind) is str else None
                sub_number = sub.get("LineNum")
                a_index(index)
                a_no(sub_number if type(sub_number) is int else line_no * 1000 + sub_position)
                a_item(_ref_value(sub_detail.get("ItemRef")) if sub_detail else None)
                a_account(None)
                a_tax(_ref_value(sub_detail.get("TaxCodeRef")) if sub_detail else None)
                a_ref(None)
                a_desc(sub.get("Description"))
                a_amount(sub.get("Amount", 0))
                a_kind(_ADD)
                a_id(sub.get("Id"))
            continue
        item = account = tax = None
        if detail:
            ref = detail.get("GroupItemRef" if kind == "GroupLineDetail" else "ItemRef")
            item = ref.get("value") if ref else None
            ref = detail.get("DiscountAccountRef")
            account = ref.get("value") if ref else None
            ref = detail.get("TaxCodeRef")
            tax = ref.get("value") if ref else None
        sign = _SUBTRACT if kind == "DiscountLineDetail" else _ADD
        a_index(index)
        a_no(line_no)
        a_item(item)
        a_account(account)
        a_tax(tax)
        a_ref(None)
        a_desc(ln.get("Description"))
        a_amount(ln.get("Amount", 0))
        a_kind(sign)
        a_id(ln.get("Id"))


def _bill_lines(index: int, lines: Sequence[Any], appenders: _Appenders) -> None:
    a_index, a_no, a_item, a_account, a_tax, a_ref, a_desc, a_amount, a_kind, a_id = appenders
    position = 0
    for ln in lines:
        position += 1
        kind = ln.get("DetailType")
        if kind == "SubTotalLineDetail":
            continue
        detail = ln.get(kind) if type(kind) is str else None
        number = ln.get("LineNum")
        item = account = tax = None
        if detail:  # AccountBasedExpenseLineDetail has an AccountRef, ItemBasedExpenseLineDetail an ItemRef
            item = _ref_value(detail.get("ItemRef"))
            account = _ref_value(detail.get("AccountRef"))
            tax = _ref_value(detail.get("TaxCodeRef"))
        a_index(index)
        a_no(number if type(number) is int else position)
        a_item(item)
        a_account(account)
        a_tax(tax)
        a_ref(None)
        a_desc(ln.get("Description"))
        a_amount(ln.get("Amount", 0))
        a_kind(_ADD)
        a_id(ln.get("Id"))


def _journal_lines(index: int, lines: Sequence[Any], appenders: _Appenders) -> None:
    a_index, a_no, a_item, a_account, a_tax, a_ref, a_desc, a_amount, a_kind, a_id = appenders
    position = 0
    for ln in lines:
        position += 1
        if ln.get("DetailType") != "JournalEntryLineDetail":
            continue  # description-only lines post nothing
        detail = ln.get("JournalEntryLineDetail") or {}
        posting = detail.get("PostingType")
        number = ln.get("LineNum")
        a_index(index)
        a_no(number if type(number) is int else position)
        a_item(None)
        a_account(_ref_value(detail.get("AccountRef")))
        a_tax(_ref_value(detail.get("TaxCodeRef")))
        a_ref(None)
        a_desc(ln.get("Description"))
        a_amount(ln.get("Amount", 0))
        a_kind(_DEBIT if posting == "Debit" else _CREDIT if posting == "Credit" else _BAD)
        a_id(ln.get("Id"))


def _payment_lines(index: int, lines: Sequence[Any], appenders: _Appenders) -> None:
    a_index, a_no, a_item, a_account, a_tax, a_ref, a_desc, a_amount, a_kind, a_id = appenders
    for position, ln in enumerate(lines, start=1):
        for linked in ln.get("LinkedTxn") or ():
            if linked.get("TxnType") == "Invoice":
                number = ln.get("LineNum")
                a_index(index)
                a_no(number if type(number) is int else position)
                a_item(None)
                a_account(None)
                a_tax(None)
                a_ref(linked.get("TxnId"))
                a_desc(ln.get("Description"))
                a_amount(ln.get("Amount", 0))
                a_kind(_ADD)
                a_id(ln.get("Id"))
                break


_LINE_READERS = {
    "invoice": _invoice_lines,
    "bill": _bill_lines,
    "journal": _journal_lines,
    "payment": _payment_lines,
}


# --------------------------------------------------------------------------- common line shapes
#
# Nearly every transaction has only the usual kinds of lines (an invoice: sales lines and a
# subtotal). For those, a "common" reader stores only the line fields that vary from line to line
# (no transaction index: it follows from one count per transaction); the fields that are the same
# for every such line (``_COMMON_CONSTANTS``) are filled in bulk. Any other shape (an unusual line
# kind, a detail that is not an object, any AttributeError/TypeError) makes the common reader give
# up on that transaction, whose lines the general reader above then reads: the general readers stay
# the reference, and a common reader must store exactly the rows they would, or return False.

#: The line fields, in ``_Columns.line_lists`` order (after the transaction index).
_LINE_FIELDS = ("no", "item", "account", "tax", "ref", "desc", "amount", "kind", "id")

#: For each entity, the line fields that are the same on every line its common reader accepts.
_COMMON_CONSTANTS: Mapping[str, Mapping[str, Any]] = {
    "invoice": {"account": None, "ref": None, "kind": _ADD},
    "bill": {"ref": None, "kind": _ADD},
    "journal": {"item": None, "ref": None},
    "payment": {"item": None, "account": None, "tax": None, "kind": _ADD},
}
_BILL_EXPENSE_KINDS = ("AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail")


def _common_invoice_lines(lines: list[Any], appenders: Sequence[_Append]) -> bool:
    """Sales lines with an object detail, and subtotal lines (left out); False at any other line."""
    a_no, a_item, a_tax, a_desc, a_amount, a_id = appenders
    for position, ln in enumerate(lines, start=1):
        kind = ln.get("DetailType")
        if kind == "SalesItemLineDetail":
            detail = ln.get("SalesItemLineDetail")
            if type(detail) is not dict:
                return False
            number = ln.get("LineNum")
            item = detail.get("ItemRef")
            tax = detail.get("TaxCodeRef")
            a_no(number if type(number) is int else position)
            a_item(item.get("value") if item else None)
            a_tax(tax.get("value") if tax else None)
            a_desc(ln.get("Description"))
            a_amount(ln.get("Amount", 0))
            a_id(ln.get("Id"))
        elif kind != "SubTotalLineDetail":
            return False
    return True


def _common_bill_lines(lines: list[Any], appenders: Sequence[_Append]) -> bool:
    """Expense lines (account- or item-based) with an object detail, and subtotal lines."""
    a_no, a_item, a_account, a_tax, a_desc, a_amount, a_id = appenders
    for position, ln in enumerate(lines, start=1):
        kind = ln.get("DetailType")
        if type(kind) is str and kind in _BILL_EXPENSE_KINDS:
            detail = ln.get(kind)
            if type(detail) is not dict:
                return False
            number = ln.get("LineNum")
            item = detail.get("ItemRef")
            account = detail.get("AccountRef")
            tax = detail.get("TaxCodeRef")
            a_no(number if type(number) is int else position)
            a_item(item.get("value") if item else None)
            a_account(account.get("value") if account else None)
            a_tax(tax.get("value") if tax else None)
            a_desc(ln.get("Description"))
            a_amount(ln.get("Amount", 0))
            a_id(ln.get("Id"))
        elif kind != "SubTotalLineDetail":
            return False
    return True


def _common_journal_lines(lines: list[Any], appenders: Sequence[_Append]) -> bool:
    """Journal lines with an object detail (description-only lines post nothing)."""
    a_no, a_account, a_tax, a_desc, a_amount, a_kind, a_id = appenders
    position = 0
    for ln in lines:
        position += 1
        if ln.get("DetailType") != "JournalEntryLineDetail":
            continue
        detail = ln.get("JournalEntryLineDetail")
        if type(detail) is not dict:
            return False
        posting = detail.get("PostingType")
        number = ln.get("LineNum")
        account = detail.get("AccountRef")
        tax = detail.get("TaxCodeRef")
        a_no(number if type(number) is int else position)
        a_account(account.get("value") if account else None)
        a_tax(tax.get("value") if tax else None)
        a_desc(ln.get("Description"))
        a_amount(ln.get("Amount", 0))
        a_kind(_DEBIT if posting == "Debit" else _CREDIT if posting == "Credit" else _BAD)
        a_id(ln.get("Id"))
    return True


def _common_payment_lines(lines: list[Any], appenders: Sequence[_Append]) -> bool:
    """Payment lines whose links are a list of objects; one row per application to an invoice."""
    a_no, a_ref, a_desc, a_amount, a_id = appenders
    position = 0
    for ln in lines:
        position += 1
        links = ln.get("LinkedTxn")
        if type(links) is not list:
            if links:
                return False
            continue
        for linked in links:
            if linked.get("TxnType") == "Invoice":
                number = ln.get("LineNum")
                a_no(number if type(number) is int else position)
                a_ref(linked.get("TxnId"))
                a_desc(ln.get("Description"))
                a_amount(ln.get("Amount", 0))
                a_id(ln.get("Id"))
                break
    return True


_COMMON_LINE_READERS: Mapping[str, Callable[[list[Any], Sequence[_Append]], bool]] = {
    "invoice": _common_invoice_lines,
    "bill": _common_bill_lines,
    "journal": _common_journal_lines,
    "payment": _common_payment_lines,
}


class _CommonLines:
    """Line columns filled by the common readers: one count per transaction, the varying fields."""

    def __init__(self, entity: str) -> None:
        self.constants = _COMMON_CONSTANTS[entity]
        self.stored = tuple(name for name in _LINE_FIELDS if name not in self.constants)
        self.columns: dict[str, list[Any]] = {name: [] for name in self.stored}
        self.counts: list[int] = []  # rows stored per transaction (0 where the general reader read)

    def appenders(self) -> tuple[_Append, ...]:
        return tuple(self.columns[name].append for name in self.stored)

    def drop_from(self, start: int) -> None:
        for column in self.columns.values():
            del column[start:]


def _collect(entity: str, payloads: Sequence[Mapping[str, Any]]) -> tuple[_Columns, _CommonLines]:
    """One pass over the payloads filling the transaction and line columns.

    Each transaction's lines go either to the common-shape columns (``_CommonLines``) or, when
    the common reader gives up, to the general ones in ``_Columns``; ``_line_columns`` merges them.
    """
    number_key = F.QBO_NUMBER_FIELD[entity]
    party_key = _PARTY_REF[entity] or "\0no party"
    tax_default: Any = 0 if entity in ("invoice", "bill") else _NAN
    read_lines = _LINE_READERS[entity]
    read_common = _COMMON_LINE_READERS[entity]
    c = _Columns()
    appenders = c.line_appenders()
    common = _CommonLines(entity)
    common_appenders = common.appenders()
    common_rows = common.columns["no"]  # every common reader stores line numbers: its length counts rows
    a_count = common.counts.append
    a_id, a_number, a_date, a_due = c.ids.append, c.numbers.append, c.txn_dates.append, c.due_dates.append
    a_pid, a_pname, a_cur = c.party_ids.append, c.party_names.append, c.currencies.append
    a_total, a_tax, a_note, a_upd = c.totals.append, c.taxes.append, c.notes.append, c.updated.append
    a_rate, a_home, a_deposit = c.rates.append, c.home_totals.append, c.deposits.append
    for index, payload in enumerate(payloads):
        start = len(c.l_index)
        common_start = len(common_rows)
        try:
            get = payload.get
            party = get(party_key)
            currency = get("CurrencyRef")
            tax_detail = get("TxnTaxDetail")
            meta = get("MetaData")
            party_id = party.get("value") if party else None
            party_name = party.get("name") if party else None
            currency_id = currency.get("value") if currency else None
            tax = tax_detail.get("TotalTax", tax_default) if tax_detail else tax_default
            updated = meta.get("LastUpdatedTime") if meta else None
            lines = get("Line") or ()
            is_common = False
            if type(lines) is list:  # (anything else, even a one-shot iterator, is the general reader's)
                try:
                    is_common = read_common(lines, common_appenders)
                except (AttributeError, TypeError):
                    is_common = False  # an odd shape: the general reader decides what it means
            if not is_common:
                common.drop_from(common_start)
                read_lines(index, lines, appenders)
        except (AttributeError, TypeError):
            # A payload whose shape is not QBO's: keep its Id (if any), flag the row, drop its lines.
            c.drop_lines_from(start)
            common.drop_from(common_start)
            a_count(0)
            a_id(payload.get("Id") if isinstance(payload, Mapping) else None)
            for append in (a_number, a_date, a_due, a_pid, a_pname, a_cur, a_note, a_upd, a_rate, a_deposit):
                append(None)
            a_home(_NAN)
            a_total(_NAN)
            a_tax(_NAN)
            continue
        a_count(len(common_rows) - common_start)
        a_id(get("Id"))
        a_number(get(number_key) or None)
        a_date(get("TxnDate"))
        a_due(get("DueDate"))
        a_pid(party_id)
        a_pname(party_name)
        a_cur(currency_id)
        a_total(get("TotalAmt", _NAN))
        a_tax(tax)
        a_note(get("PrivateNote"))
        a_upd(updated)
        a_rate(get("ExchangeRate"))
        a_home(get("HomeTotalAmt", _NAN))
        deposit = get("DepositToAccountRef")
        a_deposit(deposit.get("value") if isinstance(deposit, Mapping) else None)
    return c, common


def _collect_invoice_records(records: Sequence[InvoiceRecord]) -> tuple[_Columns, _CommonLines] | None:
    """``_collect`` for typed invoice records whose lines all have the common invoice shape, else None.

    Reads the same fields with the same defaults as ``_collect`` and ``_common_invoice_lines``
    (a typed record holds exactly what a payload's ``get`` would return: the decoder let through
    only objects where those call ``get``), so it fills the same columns; a record with another
    kind of line, or a sales line without its detail object, is the general readers' and makes
    the whole chunk go through ``_collect``.
    """
    c = _Columns()
    common = _CommonLines("invoice")
    a_no, a_item, a_line_tax, a_desc, a_amount, a_line_id = common.appenders()
    a_count = common.counts.append
    a_id, a_number, a_date, a_due = c.ids.append, c.numbers.append, c.txn_dates.append, c.due_dates.append
    a_pid, a_pname, a_cur = c.party_ids.append, c.party_names.append, c.currencies.append
    a_total, a_tax, a_note, a_upd = c.totals.append, c.taxes.append, c.notes.append, c.updated.append
    a_rate, a_home, a_deposit = c.rates.append, c.home_totals.append, c.deposits.append
    for record in records:
        count = 0
        for position, line in enumerate(record.Line or (), start=1):
            kind = line.DetailType
            if kind == "SalesItemLineDetail":
                detail = line.SalesItemLineDetail
                if detail is None:
                    return None
                number, item, tax = line.LineNum, detail.ItemRef, detail.TaxCodeRef
                amount = line.Amount
                a_no(number if type(number) is int else position)
                a_item(None if item is None else item.value)
                a_line_tax(None if tax is None else tax.value)
                a_desc(line.Description)
                a_amount(0 if amount is UNSET else amount)
                a_line_id(line.Id)
                count += 1
            elif kind != "SubTotalLineDetail":
                return None
        a_count(count)
        party, currency, tax_detail, meta = record.CustomerRef, record.CurrencyRef, record.TxnTaxDetail, record.MetaData
        total, home, deposit = record.TotalAmt, record.HomeTotalAmt, record.DepositToAccountRef
        total_tax = UNSET if tax_detail is None else tax_detail.TotalTax
        a_id(record.Id)
        a_number(record.DocNumber or None)
        a_date(record.TxnDate)
        a_due(record.DueDate)
        a_pid(None if party is None else party.value)
        a_pname(None if party is None else party.name)
        a_cur(None if currency is None else currency.value)
        a_total(_NAN if total is UNSET else total)
        a_tax(0 if total_tax is UNSET else total_tax)  # an invoice without a tax total has none
        a_note(record.PrivateNote)
        a_upd(None if meta is None else meta.LastUpdatedTime)
        a_rate(record.ExchangeRate)
        a_home(_NAN if home is UNSET else home)
        a_deposit(deposit.get("value") if isinstance(deposit, Mapping) else None)
    return c, common


def parse_invoice_records(
    records: Sequence[InvoiceRecord], *, in_window: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """``parse_transactions("invoice", payloads)`` for the same invoices decoded as typed records.

    ``None`` when a record's lines are not all of the common invoice shape (sales lines with
    their detail, subtotals): the caller then parses the payloads.
    """
    with _cyclic_gc_paused():
        collected = _collect_invoice_records(records)
        if collected is None:
            return None
        return _transaction_frames("invoice", *collected, (), in_window=in_window)


class _Lines(NamedTuple):
    """The LINES columns as collected, in LINES order (by transaction, then position)."""

    txn_index: np.ndarray  # the transaction's position in the payloads
    no: list[Any]
    item: list[Any]
    account: list[Any]
    tax: list[Any]
    ref: list[Any]
    desc: list[Any]
    amount: list[Any]
    kind: np.ndarray
    id: list[Any]


def _line_columns(c: _Columns, common: _CommonLines) -> _Lines:
    """The common readers' rows and the general readers' rows as one set of line columns.

    Each transaction's rows all come from one of the two, each in transaction order, so a stable
    sort by transaction puts every row where the general readers alone would have put it.
    """
    counts = np.array(common.counts, dtype=np.intp)
    common_index = np.repeat(np.arange(len(counts), dtype=np.intp), counts)
    m = len(common_index)
    columns: dict[str, Any] = {
        name: common.columns[name] if name in common.columns else [common.constants[name]] * m for name in _LINE_FIELDS
    }
    kind = common.constants.get("kind")
    columns["kind"] = np.array(columns["kind"], dtype=np.int64) if kind is None else np.full(m, kind, dtype=np.int64)
    if not c.l_index:  # the usual case: every transaction had the common shape
        return _Lines(txn_index=common_index, **columns)
    general = dict(zip(("index", *_LINE_FIELDS), c.line_lists(), strict=True))
    index = np.concatenate([common_index, np.array(general["index"], dtype=np.intp)])
    order = np.argsort(index, kind="stable")
    positions = order.tolist()
    merged: dict[str, Any] = {}
    for name in _LINE_FIELDS:
        if name == "kind":
            continue
        both = columns[name] + general[name]
        merged[name] = [both[i] for i in positions]
    merged["kind"] = np.concatenate([columns["kind"], np.array(general["kind"], dtype=np.int64)])[order]
    return _Lines(txn_index=index[order], **merged)


# --------------------------------------------------------------------------- columns


def _strings(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A string-dtype array; anything not a str (or None) is turned into its text."""
    values = values if isinstance(values, list) else list(values)
    if _ARROW_STRINGS:
        try:
            return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass  # non-str values: pandas turns them into text
    return pd.array(values, dtype=_STRING)


def _all_missing(kind: F.Kind, count: int) -> Any:
    """An all-NA column of a kind, built directly (``conform`` would go element by element)."""
    if kind is F.Kind.STRING and _ARROW_STRINGS:
        return pd.arrays.ArrowStringArray(pa.nulls(count, type=pa.large_string()))
    if kind in (F.Kind.CENTS, F.Kind.INT):
        return pd.arrays.IntegerArray(np.zeros(count, dtype=np.int64), np.ones(count, dtype=bool))
    if kind is F.Kind.BOOL:
        return pd.arrays.BooleanArray(np.zeros(count, dtype=bool), np.ones(count, dtype=bool))
    return pd.array([None] * count, dtype=F.dtype_of(kind))


def _frame(columns: dict[str, Any], schema: F.Schema, count: int) -> pd.DataFrame:
    """A frame of ``schema`` from the columns built, the others all-NA, checked by ``conform``."""
    for name, kind in schema.columns.items():
        if name not in columns:
            columns[name] = _all_missing(kind, count)
    return F.conform(pd.DataFrame(columns), schema)


def _only_text(values: Sequence[Any]) -> list[str | None]:
    return [v if type(v) is str else None for v in values]


def _dates(values: Sequence[Any]) -> pd.DatetimeIndex:
    """``YYYY-MM-DD`` texts as midnight dates (NaT for anything else); parses each distinct text once."""
    try:
        codes, uniques = pd.factorize(np.fromiter(values, dtype=object, count=len(values)))
    except TypeError:  # an unhashable value (a list or object where a date belongs)
        codes, uniques = pd.factorize(np.fromiter(_only_text(values), dtype=object, count=len(values)))
    distinct: Any = pd.Index(_only_text(list(uniques)), dtype=object)
    parsed = pd.to_datetime(distinct, format="%Y-%m-%d", errors="coerce")
    parsed = parsed.where((parsed >= _MIN_TS) & (parsed <= _MAX_TS)).as_unit("ns")
    if not len(parsed):
        return pd.DatetimeIndex(np.full(len(codes), np.datetime64("NaT", "ns")))
    taken = parsed.take(np.where(codes < 0, 0, codes))
    return taken.where(codes >= 0)


def _fixed_width_bytes(texts: list[str | None], width: int) -> tuple[np.ndarray, np.ndarray]:
    """(which texts are exactly ``width`` bytes of UTF-8, their bytes as a ``(k, width)`` matrix).

    Read from one Arrow buffer: far cheaper than a numpy unicode array of Python strings. A
    text with a non-ASCII character has bytes >= 128, so it never passes the digit and separator
    checks the callers make: those see the same texts as a check on ``len(text)`` would.
    """
    array = pa.array(texts, type=pa.large_string())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=len(texts) + 1)
    rows = np.diff(offsets) == width  # a missing text has length 0
    if data_buffer is None or not rows.any():
        return rows, np.zeros((0, width), dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    return rows, data[offsets[:-1][rows, None] + np.arange(width)]


def _layout_fits(matrix: np.ndarray, layout: str) -> np.ndarray:
    """Rows of a byte matrix that have a digit wherever ``layout`` has "0" and its other characters elsewhere."""
    fits = np.ones(len(matrix), dtype=bool)
    for position, char in enumerate(layout):
        column = matrix[:, position]
        fits &= (column >= 48) & (column <= 57) if char == "0" else column == ord(char)
    return fits


def _number_at(matrix: np.ndarray, start: int, width: int) -> np.ndarray:
    """The decimal number written in columns ``start:start + width`` of a digit matrix."""
    out = np.zeros(len(matrix), dtype=np.int64)
    for position in range(start, start + width):
        out = out * 10 + (matrix[:, position].astype(np.int64) - 48)
    return out


def _real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which (year, month, day) are calendar dates inside the frames' date range (1678–2261)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month - 1, 0, 11)]
    month_days = month_days + ((month == 2) & leap)
    return (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days) & (year >= 1678) & (year <= 2261)


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` of real (year, month, day) triples."""
    months = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1).astype("timedelta64[M]")
    return months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")


def _timestamps(values: Sequence[Any]) -> pd.DatetimeIndex:
    """ISO 8601 timestamps with an offset (naive ones taken as UTC) as UTC; NaT if unreadable.

    QBO's shape (``YYYY-MM-DDTHH:MM:SS±HH:MM``) is parsed vectorized from the text bytes (the
    local time minus the offset); any other text goes through
    ``pandas.to_datetime(format="ISO8601")``.
    """
    texts = _only_text(values)
    out = np.full(len(texts), np.datetime64("NaT", "s"))
    rows, matrix = _fixed_width_bytes(texts, 25)
    fits = _layout_fits(matrix[:, :19], "0000-00-00T00:00:00") & _layout_fits(matrix[:, 20:], "00:00")
    fits &= (matrix[:, 19] == ord("+")) | (matrix[:, 19] == ord("-"))
    year, month, day = _number_at(matrix, 0, 4), _number_at(matrix, 5, 2), _number_at(matrix, 8, 2)
    hour, minute, second = _number_at(matrix, 11, 2), _number_at(matrix, 14, 2), _number_at(matrix, 17, 2)
    offset = _number_at(matrix, 20, 2) * 3600 + _number_at(matrix, 23, 2) * 60
    fits &= _real_dates(year, month, day)
    fits &= (hour <= 23) & (minute <= 59) & (second <= 59) & (offset <= 18 * 3600)
    if fits.any():
        sign = np.where(matrix[fits, 19] == ord("-"), 1, -1)
        seconds = hour[fits] * 3600 + minute[fits] * 60 + second[fits] + sign * offset[fits]
        local_days = _days(year[fits], month[fits], day[fits])
        out[np.flatnonzero(rows)[fits]] = local_days.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    others = [i for i in np.flatnonzero(~rows).tolist() if texts[i] is not None]
    others += np.flatnonzero(rows)[~fits].tolist()
    result = pd.DatetimeIndex(out.astype("datetime64[ns]")).tz_localize("UTC")
    if not others:
        return result
    slow = pd.to_datetime(
        pd.Index([texts[i] for i in others], dtype=object), format="ISO8601", utc=True, errors="coerce"
    )
    in_range = (slow >= _MIN_TS.tz_localize("UTC")) & (slow <= _MAX_TS.tz_localize("UTC"))
    slow = pd.DatetimeIndex(slow.where(in_range)).as_unit("ns")
    values_ns = result.asi8.copy()
    values_ns[others] = slow.asi8
    return pd.DatetimeIndex(values_ns.view("datetime64[ns]")).tz_localize("UTC")


def _voided(notes: Sequence[Any]) -> np.ndarray:
    out = np.zeros(len(notes), dtype=bool)
    noted = [i for i, note in enumerate(notes) if note is not None]  # most documents carry no note
    out[noted] = [type(notes[i]) is str and notes[i].lstrip()[:6].lower() == "voided" for i in noted]
    return out


def _constant_strings(value: str, count: int) -> pd.api.extensions.ExtensionArray:
    if _ARROW_STRINGS:
        return pd.arrays.ArrowStringArray(pa.repeat(pa.scalar(value, type=pa.large_string()), count))
    return _strings([value] * count)


def parse_transactions(
    entity: str, payloads: Sequence[Mapping[str, Any]], *, in_window: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(TRANSACTIONS, LINES) frames for QBO payloads of one transaction entity.

    ``entity`` is one of ``frames.ENTITIES`` (``invoice``…) or its QBO name (``Invoice``…);
    ``in_window`` fills the column of that name. Field mapping and money rules: module docstring.
    """
    entity = ENTITY_OF_QBO.get(entity, entity)
    if entity not in F.ENTITIES:
        raise ValueError(f"not a transaction entity: {entity!r} (one of {', '.join(F.ENTITIES)})")
    with _cyclic_gc_paused():
        return _parse_transactions(entity, payloads, in_window=in_window)


def _parse_transactions(
    entity: str, payloads: Sequence[Mapping[str, Any]], *, in_window: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    c, common = _collect(entity, payloads)
    return _transaction_frames(entity, c, common, payloads, in_window=in_window)


def _transaction_frames(
    entity: str, c: _Columns, common: _CommonLines, payloads: Sequence[Mapping[str, Any]], *, in_window: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames from the collected columns (``payloads``: only a payment's header refs are read from them)."""
    lines = _line_columns(c, common)
    n, m = len(c.ids), len(lines.txn_index)

    # Lines: cents, then per-transaction sums (exact int64 sums, NA if any line is unusable).
    line_cents, line_na = _cents_numpy(lines.amount)
    index, kind = lines.txn_index, lines.kind
    line_na |= kind == _BAD
    # journal: the sum of debits; others: lines signed (discounts subtract)
    counted = np.where(kind == _DEBIT, line_cents, 0) if entity == "journal" else line_cents * kind
    counted[line_na] = 0
    line_total = np.zeros(n, dtype=np.int64)
    np.add.at(line_total, index, counted)
    line_total_na = np.zeros(n, dtype=bool)
    line_total_na[index[line_na]] = True

    if entity == "journal":
        amount, amount_na = line_total, line_total_na.copy()
    else:
        amount, amount_na = _cents_numpy(c.totals)
    tax, tax_na = _cents_numpy(c.taxes)
    home, home_na = _cents_numpy(c.home_totals)

    txn_date = _dates(c.txn_dates)
    ids = _strings(c.ids)
    id_ok = ~np.asarray(pd.isna(ids) | (ids == ""), dtype=bool) if n else np.zeros(0, dtype=bool)
    data_ok = id_ok & ~amount_na & ~np.asarray(txn_date.isna())
    is_void = _voided(c.notes) & ~amount_na & (amount == 0)
    no_mask = np.zeros(n, dtype=bool)
    status = np.array(["posted", "void"], dtype=object)[is_void.astype(np.intp)]

    transactions = _frame(
        {
            "entity": _constant_strings(entity, n),
            "id": ids,
            "number": _strings(c.numbers),
            "txn_date": txn_date,
            "due_date": _dates(c.due_dates),
            "party_id": _strings(c.party_ids),
            "party_name": _strings(c.party_names),
            "currency": _strings(c.currencies),
            "amount_cents": pd.arrays.IntegerArray(amount, amount_na),
            "tax_cents": pd.arrays.IntegerArray(tax, tax_na),
            "line_total_cents": pd.arrays.IntegerArray(line_total, line_total_na),
            "status": _strings(status.tolist()),
            "is_void": pd.arrays.BooleanArray(is_void, no_mask),
            "in_window": pd.arrays.BooleanArray(np.full(n, in_window), no_mask.copy()),
            "data_ok": pd.arrays.BooleanArray(data_ok, no_mask.copy()),
            "memo": _strings(c.notes),
            "updated_at": _timestamps(c.updated),
            "exchange_rate": _strings(_rate_texts(c.rates)),
            "home_amount_cents": pd.arrays.IntegerArray(home, home_na),
            "deposit_account_id": _strings(_only_text(c.deposits)),
        },
        F.TRANSACTIONS,
        n,
    )

    if entity == "journal":
        debit = np.where((kind == _DEBIT) & ~line_na, line_cents, 0)
        credit = np.where((kind == _CREDIT) & ~line_na, line_cents, 0)
        amounts: dict[str, Any] = {
            "debit_cents": pd.arrays.IntegerArray(debit, line_na.copy()),
            "credit_cents": pd.arrays.IntegerArray(credit, line_na.copy()),
        }
    else:
        signed = np.where(line_na, 0, line_cents * kind)
        amounts = {"amount_cents": pd.arrays.IntegerArray(signed, line_na.copy())}
    line_no = np.array(lines.no, dtype=np.int64)  # the readers keep ints only (LineNum or position)
    line_frame = _frame(
        {
            "entity": _constant_strings(entity, m),
            "txn_id": ids.take(index),
            "line_no": pd.arrays.IntegerArray(line_no, np.zeros(m, dtype=bool)),
            "item_id": _strings(lines.item),
            "account_id": _strings(lines.account),
            "tax_code_id": _strings(lines.tax),
            "ref_id": _strings(lines.ref),
            "description": _strings(lines.desc),
            "line_id": _strings(lines.id),
            **amounts,
        },
        F.LINES,
        m,
    )
    if entity == "payment":
        line_frame = _with_payment_header_lines(payloads, ids, line_frame, index)
    return transactions, line_frame


def _header_ref(payload: Any, key: str) -> Any:
    """``payload[key].value``, or None when absent or not of QBO's shape."""
    try:
        ref = payload.get(key)
        return ref.get("value") if ref else None
    except (AttributeError, TypeError):
        return None


def _with_payment_header_lines(
    payloads: Sequence[Mapping[str, Any]], ids: Any, applications: pd.DataFrame, owners: np.ndarray
) -> pd.DataFrame:
    """A payment's own refs on a line 0 before its applications, as the AWRA reader gives them.

    ``payment_method_id`` = PaymentMethodRef, ``account_id`` = DepositToAccountRef (no amount):
    the line comparison reads both sides' line 0 for the ``payment_method`` and
    ``deposit_account`` fields. One line 0 per payment, refs absent or not.
    """
    n = len(payloads)
    header = _frame(
        {
            "entity": _constant_strings("payment", n),
            "txn_id": ids,
            "line_no": pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)),
            "payment_method_id": _strings([_header_ref(p, "PaymentMethodRef") for p in payloads]),
            "account_id": _strings([_header_ref(p, "DepositToAccountRef") for p in payloads]),
        },
        F.LINES,
        n,
    )
    # by payment, line 0 first (the order the parse gives every entity's lines)
    owner = np.concatenate([np.arange(n), owners])
    both = F.concat_frames([header, applications], F.LINES)
    return both.take(np.argsort(owner, kind="stable")).reset_index(drop=True)


# --------------------------------------------------------------------------- references


def _tax_rate_ids(payload: Mapping[str, Any]) -> list[Any]:
    rate_list = payload.get("SalesTaxRateList") or {}
    details = rate_list.get("TaxRateDetail") or []
    if isinstance(details, Mapping):
        details = [details]
    return [_ref_value(d.get("TaxRateRef")) for d in details if isinstance(d, Mapping)]


def _reference_row(ref_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    meta = payload.get("MetaData") or {}
    active = payload.get("Active")
    row: dict[str, Any] = {
        "id": payload.get("Id"),
        "name": payload.get("Name"),
        "active": active if type(active) is bool else None,
        "updated_at": meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None,
    }
    if ref_type in ("customer", "vendor"):
        row["name"] = payload.get("DisplayName") or payload.get("Name")
    elif ref_type == "item":
        row["qbo_type"] = payload.get("Type")
        row["income_account_id"] = _ref_value(payload.get("IncomeAccountRef"))
        row["expense_account_id"] = _ref_value(payload.get("ExpenseAccountRef"))
    elif ref_type == "account":
        row["qbo_type"] = payload.get("AccountType")
        row["classification"] = payload.get("Classification")
    elif ref_type == "payment_method":
        row["qbo_type"] = payload.get("Type")
    elif ref_type == "tax_rate":
        row["rate_percent"] = _rate_text(payload.get("RateValue"))
    elif ref_type == "tax_code":
        rate_ids = _tax_rate_ids(payload)
        row["tax_rate_ids"] = ",".join(str(r) for r in rate_ids if r is not None) if rate_ids else None
        # No sales rates: a non-taxable code is 0 %; a taxable one is not known from the code alone.
        if not rate_ids and payload.get("Taxable") is False:
            row["rate_percent"] = "0"
    return row


def parse_references(ref_type: str, payloads: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """REFERENCES rows for QBO payloads of one reference entity.

    ``ref_type`` is one of ``frames.REFERENCE_TYPES`` (``customer``…) or its QBO name
    (``Customer``…). Names: Customer/Vendor ``DisplayName``, the others ``Name``. A TaxCode's
    ``rate_percent`` needs its TaxRates: see ``resolve_tax_rates``.
    """
    ref_type = REF_TYPE_OF_QBO.get(ref_type, ref_type)
    if ref_type not in F.REFERENCE_TYPES:
        raise ValueError(f"not a reference type: {ref_type!r} (one of {', '.join(F.REFERENCE_TYPES)})")
    records = []
    for payload in payloads:
        try:
            records.append(_reference_row(ref_type, payload))
        except (AttributeError, TypeError):
            ident = payload.get("Id") if isinstance(payload, Mapping) else None
            records.append({"id": ident})
    out: dict[str, Any] = {"ref_type": _strings([ref_type] * len(records))}
    for name, kind in F.REFERENCES.columns.items():
        if name == "ref_type":
            continue
        values = [record.get(name) for record in records]
        if kind is F.Kind.STRING:
            out[name] = _strings([None if v is None else str(v) for v in values])
        elif kind is F.Kind.BOOL:
            out[name] = pd.array(values, dtype="boolean")
        elif kind is F.Kind.TIMESTAMP:
            out[name] = _timestamps(values)
    return F.conform(pd.DataFrame(out), F.REFERENCES)


def resolve_tax_rates(references: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``references`` with each TaxCode's ``rate_percent`` = the sum of its TaxRates.

    The rates are the ``tax_rate`` rows named by the code's ``tax_rate_ids``; if any of them is
    absent or has no rate, the code's rate stays NA. Codes without ``tax_rate_ids`` keep what
    they had (``"0"`` for a non-taxable code, else NA).
    """
    out = references.copy()
    is_rate = (out["ref_type"] == "tax_rate").fillna(False).to_numpy(dtype=bool)
    rates = {
        str(i): r
        for i, r in zip(out.loc[is_rate, "id"], out.loc[is_rate, "rate_percent"], strict=True)
        if i is not pd.NA
    }
    is_code = (out["ref_type"] == "tax_code").fillna(False).to_numpy(dtype=bool)
    resolved = out["rate_percent"].astype(object).tolist()
    for position in np.flatnonzero(is_code).tolist():
        ids_text = out["tax_rate_ids"].iat[position]
        if ids_text is pd.NA or not ids_text:
            continue
        total = Decimal(0)
        for rate_id in str(ids_text).split(","):
            rate = rates.get(rate_id)
            if rate is None or rate is pd.NA:
                total = Decimal("NaN")
                break
            total += Decimal(str(rate))
        resolved[position] = _decimal_text(total) if total.is_finite() else None
    out["rate_percent"] = _strings([None if v is pd.NA else v for v in resolved])
    return out


# --------------------------------------------------------------------------- bundle


def home_currency_of_preferences(preferences: Sequence[Mapping[str, Any]]) -> str | None:
    """``CurrencyPrefs.HomeCurrency.value`` of QBO's Preferences object (the first one given).

    ``None`` when there is none or it does not say (a blank or odd shape is not a currency).
    """
    for payload in preferences:
        prefs = payload.get("CurrencyPrefs") if isinstance(payload, Mapping) else None
        home = prefs.get("HomeCurrency") if isinstance(prefs, Mapping) else None
        value = home.get("value") if isinstance(home, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value.strip().upper()
        return None
    return None


def split_repeated_ids(
    payloads: Sequence[Mapping[str, Any]], seen: set[str] | None = None
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The payloads with each ``Id`` once (its first copy), and the later copies of a repeated ``Id``.

    QBO never returns two records of one entity with the same Id, but a hand-merged or damaged
    snapshot can hold them; counting both would count the record twice. Payloads without an Id
    (or not objects) are kept in the first list: the parser flags them itself. ``seen``: the Ids
    of earlier chunks of the same entity (updated), so a copy in a later chunk counts as repeated.
    """
    seen = set() if seen is None else seen
    first: list[Mapping[str, Any]] = []
    repeats: list[Mapping[str, Any]] = []
    for payload in payloads:
        key = payload.get("Id") if isinstance(payload, Mapping) else None
        if key is None or str(key).strip() == "":
            first.append(payload)
            continue
        if str(key) in seen:
            repeats.append(payload)
        else:
            seen.add(str(key))
            first.append(payload)
    return first, repeats


def _repeated_rows(entity: str, repeats: Sequence[Mapping[str, Any]], *, in_window: bool) -> pd.DataFrame:
    """TRANSACTIONS rows for the later copies of a repeated Id: ``data_ok`` False, lines dropped.

    The core lists such a row as ``data_quality`` and leaves it out of comparison and totals, so
    only the first copy of the Id takes part; its lines are not kept, else they would be
    compared twice against the AWRA record's lines.
    """
    rows, _ = parse_transactions(entity, repeats, in_window=in_window)
    return rows.assign(data_ok=pd.array([False] * len(rows), dtype="boolean"))


@runtime_checkable
class EncodedChunk(Protocol):
    """Some consecutive payloads of one entity as a JSON array (``text``), decoded on request.

    A snapshot file gives its records this way: invoices of the usual shapes are read from
    ``text`` as typed records (``decode_invoices``), never as payload dicts.
    """

    @property
    def text(self) -> bytes | bytearray | None:
        """The JSON array of the chunk's payloads (``None``: only ``payloads`` can tell)."""
        ...

    def payloads(self) -> Sequence[Mapping[str, Any]]:
        """The chunk's payloads as dicts (numbers with a fraction as ``Decimal``)."""
        ...

    def keys(self) -> list[str]:
        """``str(payload.get("Id"))`` for each payload."""
        ...


Chunk = Sequence[Mapping[str, Any]] | EncodedChunk


def _payloads_of(chunk: Chunk) -> Sequence[Mapping[str, Any]]:
    return chunk.payloads() if isinstance(chunk, EncodedChunk) else chunk


def _typed_invoices(chunk: Chunk, seen: set[str], *, in_window: bool) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """An encoded chunk of invoices parsed from typed records, or None (then its payloads are).

    None as well when an Id in it is repeated (in the chunk or an earlier one): repeats are
    rare and ``split_repeated_ids`` on the payloads handles them. ``seen`` is updated only
    when the chunk is parsed here.
    """
    if not isinstance(chunk, EncodedChunk) or chunk.text is None:
        return None
    records = decode_invoices(chunk.text)
    if records is None:
        return None
    keys = [str(r.Id) for r in records if r.Id is not None and str(r.Id).strip() != ""]
    if len(set(keys)) != len(keys) or not seen.isdisjoint(keys):
        return None
    frames = parse_invoice_records(records, in_window=in_window)
    if frames is not None:
        seen.update(keys)
    return frames


def qbo_data_from_chunks(chunks_by_entity: Mapping[str, Iterable[Chunk]], *, in_window: bool = True) -> QboData:
    """A ``QboData`` (``raw`` left empty) from payloads keyed by QBO entity name, a chunk at a time.

    The same frames as ``qbo_data_from_payloads`` given each entity's chunks joined into one list
    (rows in the same order), but only one chunk's payloads need exist at a time: a snapshot
    source decodes a file chunk by chunk and drops each chunk once parsed. A chunk is a list of
    payloads or an ``EncodedChunk``; encoded invoices are read as typed records when they have the
    usual shapes. Entities that are neither transactions, references nor ``Preferences`` are not
    read at all.
    """
    transactions: list[pd.DataFrame] = []
    lines: list[pd.DataFrame] = []
    references: list[pd.DataFrame] = []
    home_currency: str | None = None
    with _cyclic_gc_paused():
        for qbo_entity, chunks in chunks_by_entity.items():
            if qbo_entity in ENTITY_OF_QBO:
                entity = ENTITY_OF_QBO[qbo_entity]
                seen: set[str] = set()
                repeated = []
                for chunk in chunks:
                    typed = _typed_invoices(chunk, seen, in_window=in_window) if entity == "invoice" else None
                    if typed is not None:
                        transactions.append(typed[0])
                        lines.append(typed[1])
                        continue
                    first, repeats = split_repeated_ids(_payloads_of(chunk), seen)
                    txns, txn_lines = parse_transactions(entity, first, in_window=in_window)
                    transactions.append(txns)
                    lines.append(txn_lines)
                    if repeats:
                        repeated.append(_repeated_rows(entity, repeats, in_window=in_window))
                transactions.extend(repeated)  # after the entity's first copies, as in one list
            elif qbo_entity in REF_TYPE_OF_QBO:
                ref_type = REF_TYPE_OF_QBO[qbo_entity]
                references.extend(parse_references(ref_type, _payloads_of(chunk)) for chunk in chunks)
            elif qbo_entity == PREFERENCES:
                for chunk in chunks:
                    payloads = _payloads_of(chunk)
                    if payloads:  # the first Preferences object decides (``home_currency_of_preferences``)
                        home_currency = home_currency_of_preferences(payloads)
                        break
        return QboData(
            transactions=_contiguous(F.concat_frames(transactions, F.TRANSACTIONS)),
            lines=_contiguous(F.concat_frames(lines, F.LINES)),
            references=resolve_tax_rates(F.concat_frames(references, F.REFERENCES)),
            home_currency=home_currency,
        ).check()


def _contiguous(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow-backed column in one chunk (a new frame; the caller's is untouched).

    Concatenating a file's chunks leaves an Arrow column in as many pieces; taking a few rows
    from such a column joins the pieces first, each time (measured: 15x slower per ``take`` with
    50 pieces), which the later stages do per record.
    """
    pieces = {}
    for name in frame.columns:
        array = frame[name].array
        chunked = array.__arrow_array__() if hasattr(array, "__arrow_array__") else None
        if isinstance(chunked, pa.ChunkedArray) and chunked.num_chunks > 1:
            pieces[name] = type(array)(chunked.combine_chunks())
    return frame.assign(**pieces) if pieces else frame


def qbo_data_from_payloads(
    payloads_by_entity: Mapping[str, Sequence[Mapping[str, Any]]], *, in_window: bool = True
) -> QboData:
    """A ``QboData`` from payloads keyed by QBO entity name (``Invoice``, ``Customer``…).

    Transaction entities go to ``transactions``/``lines`` (with ``in_window``), reference
    entities to ``references`` (TaxCode rates resolved), ``Preferences`` gives
    ``home_currency``; other names are kept in ``raw`` only.
    ``raw`` is ``{entity: {Id: payload}}`` for every entity given. A transaction Id given more
    than once (a hand-merged snapshot; QBO never does it): the first copy is parsed as usual and
    ``raw`` keeps it; each later copy is a row with ``data_ok`` False and no lines
    (``split_repeated_ids``), which the core reports as ``data_quality``.
    """
    raw: dict[str, dict[str, Mapping[str, Any]]] = {}
    for qbo_entity, payloads in payloads_by_entity.items():
        by_id: dict[str, Mapping[str, Any]] = {}
        for p in payloads:
            if isinstance(p, Mapping):
                by_id.setdefault(str(p.get("Id")), p)
        raw[qbo_entity] = by_id
    data = qbo_data_from_chunks(
        {name: [payloads] for name, payloads in payloads_by_entity.items()}, in_window=in_window
    )
    return dataclasses.replace(data, raw=raw)


__all__ = [
    "ENTITY_OF_QBO",
    "PREFERENCES",
    "REF_TYPE_OF_QBO",
    "EncodedChunk",
    "cents_array",
    "exact_cents",
    "home_currency_of_preferences",
    "parse_invoice_records",
    "parse_references",
    "parse_transactions",
    "qbo_data_from_chunks",
    "qbo_data_from_payloads",
    "resolve_tax_rates",
    "split_repeated_ids",
]
