"""Canonical frames: the documented schemas every stage reads and writes.

Sources turn AWRA rows and QBO payloads into these frames and check them with
``check_frame`` right after loading; the pure stages rely on the declared columns and
kinds and nothing else. A schema is data (column name -> ``Kind``), so tests can check
that every field named elsewhere (for example the field correspondence table) exists.

Conventions
-----------
* Ids, numbers, names and codes are strings (``pd.StringDtype``); missing is ``<NA>``.
* Money is integer cents in nullable ``Int64`` columns named ``*_cents``: exact and
  vectorized. ``<NA>`` means "not known" (never silently zero).
* Dates (``txn_date``) are tz-naive ``datetime64`` at midnight; timestamps
  (``updated_at``, ``attempted_at``) are tz-aware UTC ``datetime64``.
* Booleans are nullable ``boolean``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: The transaction entities the job reconciles, in report order.
ENTITIES: tuple[str, ...] = ("invoice", "payment", "bill", "journal")

#: AWRA master record types that are mapped to QBO reference entities.
MASTER_TYPES: tuple[str, ...] = ("customer", "vendor", "item", "tax_code", "account", "payment_method")

#: QBO reference entity types in ``REFERENCES`` (``tax_rate`` has no AWRA master of its own).
REFERENCE_TYPES: tuple[str, ...] = (*MASTER_TYPES, "tax_rate")

#: AWRA transaction statuses (CONTRACTS §1).
AWRA_STATUSES: tuple[str, ...] = ("draft", "submitted", "approved", "posted", "void")

#: AWRA sync_log statuses (CONTRACTS §1).
SYNC_STATUSES: tuple[str, ...] = ("pending", "succeeded", "failed", "skipped", "retrying", "needs_attention")

#: Finding categories (CONTRACTS §4), in report order.
CATEGORIES: tuple[str, ...] = (
    "missing_in_qbo",
    "missing_in_awra",
    "duplicate_in_qbo",
    "duplicate_in_awra",
    "mismatch",
    "sync_conflict",
    "not_ready",
    "mapping_missing",
    "mapping_broken",
    "mapping_duplicate",
    "mapping_mismatch",
    "retry_loop",
    "data_quality",
)

#: Header fields a ``mismatch`` finding can name (CONTRACTS §4): one finding per record and field.
HEADER_MISMATCH_FIELDS: tuple[str, ...] = (
    "amount",
    "tax_amount",
    "txn_date",
    "party",
    "currency",
    "status",
    "line_total",
    "exchange_rate",
    "deposit_account",
    "payment_method",
)

#: Line fields a ``mismatch`` finding can name (CONTRACTS §4): one finding per differing line and
#: field, the line named in the finding's ``line`` column.
LINE_MISMATCH_FIELDS: tuple[str, ...] = (
    "line_item",
    "line_account",
    "line_amount",
    "line_tax_code",
    "line_posting",
    "line_extra",
    "application",
)

#: Every field a ``mismatch`` finding can name.
MISMATCH_FIELDS: tuple[str, ...] = (*HEADER_MISMATCH_FIELDS, *LINE_MISMATCH_FIELDS)

#: The QBO side of the run's status filter: which QBO records an AWRA status filter selects.
#: QBO has no draft/approved/posted distinction: a transaction there is live or voided.
#: ``live`` = not voided, ``void`` = voided, ``none`` = no QBO record can pass.
QBO_SIDE_OF_STATUS: Mapping[str, str] = {
    "draft": "none",
    "submitted": "none",
    "approved": "live",
    "posted": "live",
    "void": "void",
}

#: QBO entity name for each transaction entity, and the field AWRA's number is sent as.
QBO_ENTITY: Mapping[str, str] = {
    "invoice": "Invoice",
    "payment": "Payment",
    "bill": "Bill",
    "journal": "JournalEntry",
}
QBO_NUMBER_FIELD: Mapping[str, str] = {
    "invoice": "DocNumber",
    "payment": "PaymentRefNum",
    "bill": "DocNumber",
    "journal": "DocNumber",
}
#: QBO entity name for each reference type.
QBO_REFERENCE_ENTITY: Mapping[str, str] = {
    "customer": "Customer",
    "vendor": "Vendor",
    "item": "Item",
    "tax_code": "TaxCode",
    "tax_rate": "TaxRate",
    "account": "Account",
    "payment_method": "PaymentMethod",
}
#: The party master type of each transaction entity (journals have none).
PARTY_TYPE: Mapping[str, str | None] = {
    "invoice": "customer",
    "payment": "customer",
    "bill": "vendor",
    "journal": None,
}


class Kind(StrEnum):
    """The kind of a column; ``check_frame`` verifies the dtype matches."""

    STRING = "string"
    CENTS = "cents"  # Int64 integer cents
    INT = "int"  # Int64
    BOOL = "bool"  # boolean
    DATE = "date"  # tz-naive datetime64, midnight
    TIMESTAMP = "timestamp"  # tz-aware UTC datetime64
    OBJECT = "object"  # anything (raw payloads)


@dataclass(frozen=True)
class Schema:
    """A named, ordered set of columns with their kinds."""

    name: str
    columns: Mapping[str, Kind]

    @property
    def names(self) -> list[str]:
        """Column names in declared order."""
        return list(self.columns)


def _schema(schema_name: str, /, **columns: Kind) -> Schema:
    return Schema(schema_name, dict(columns))


STR, CENTS, INT, BOOL = Kind.STRING, Kind.CENTS, Kind.INT, Kind.BOOL
DATE, TS, OBJ = Kind.DATE, Kind.TIMESTAMP, Kind.OBJECT

#: One row per transaction, on either side (AWRA or QBO): the same schema for both.
#:
#: * ``id``: AWRA id, or QBO ``Id``.
#: * ``number``: AWRA number, or QBO ``DocNumber`` (``PaymentRefNum`` for payments).
#: * ``party_id``: AWRA customer_id/vendor_id, or QBO CustomerRef/VendorRef value; ``party_name``
#:   the name as that side knows it (AWRA: the master record's name; QBO: the ref's name).
#: * ``amount_cents``: the document total (journal: sum of debits); ``tax_cents`` the tax total;
#:   ``line_total_cents`` the sum of lines without subtotal lines (payment: sum of applications).
#: * ``status``: AWRA status; on the QBO side ``posted`` or ``void`` (see ``is_void``).
#: * ``qbo_link``: AWRA's recorded QBO Id (the record's qbo_id); ``<NA>`` on the QBO side.
#: * ``in_window``: True for records read for the run's window, False for records fetched by the
#:   out-of-window look-up (by link or number).
#: * ``branch``, ``warehouse``, ``updated_by``, ``memo``: AWRA only (``<NA>`` on QBO's side).
#: * ``exchange_rate``: home-currency units per unit of ``currency``, as normalized decimal text
#:   (exact: ``"129.5"``, ``"1"``); QBO ``ExchangeRate``, AWRA's optional ``exchange_rate``
#:   column. ``<NA>`` when the side does not say (an AWRA table without the column, NULL).
#: * ``home_amount_cents``: the document total in the company's home currency as QBO states it
#:   (``HomeTotalAmt``, invoices and bills); ``<NA>`` elsewhere (AWRA has no such figure).
#: * ``deposit_account_id``: a payment's deposit account (AWRA ``deposit_account_id``, QBO
#:   ``DepositToAccountRef``); ``<NA>`` for other entities or when not set.
#: * ``data_ok``: False when the row has a data-quality problem (listed in the ``DATA_QUALITY``
#:   frame): such a row still takes part in pairing (by link and number) so its counterpart is
#:   not reported missing, but it is left out of comparison and totals.
TRANSACTIONS = _schema(
    "transactions",
    entity=STR,
    id=STR,
    number=STR,
    txn_date=DATE,
    due_date=DATE,
    party_id=STR,
    party_name=STR,
    currency=STR,
    amount_cents=CENTS,
    tax_cents=CENTS,
    line_total_cents=CENTS,
    status=STR,
    is_void=BOOL,
    qbo_link=STR,
    in_window=BOOL,
    data_ok=BOOL,
    branch=STR,
    warehouse=STR,
    memo=STR,
    updated_at=TS,
    updated_by=STR,
    exchange_rate=STR,
    home_amount_cents=CENTS,
    deposit_account_id=STR,
)

#: One row per document line (either side). Subtotal lines are not included.
#:
#: * invoice: ``item_id``, ``tax_code_id``, ``amount_cents`` (QBO: SalesItemLineDetail; a
#:   DiscountLineDetail line has a negative ``amount_cents``).
#: * bill: ``item_id`` or ``account_id``, ``tax_code_id``, ``amount_cents``.
#: * journal: ``account_id``, ``debit_cents``, ``credit_cents``.
#: * payment: one row per application, ``ref_id`` the invoice id it pays (AWRA invoice id, or QBO
#:   LinkedTxn TxnId), ``amount_cents`` the amount applied. Payments on both sides also carry
#:   ``payment_method_id`` / ``account_id`` (deposit account) on a line with ``line_no`` 0 and no
#:   amount (QBO: PaymentMethodRef / DepositToAccountRef), so mapping checks see every master a
#:   payment uses and the line comparison compares them.
#: * ``line_id``: QBO's own line ``Id`` (``<NA>`` on the AWRA side and where QBO gives none); a
#:   finding about a line only QBO has names it.
#: * ``ref_link``: AWRA payment applications only: the applied invoice's recorded QBO link (its
#:   ``qbo_id``), read whatever the invoice's date, so an application to an invoice outside the
#:   window still resolves to its QBO counterpart.
LINES = _schema(
    "lines",
    entity=STR,
    txn_id=STR,
    line_no=INT,
    item_id=STR,
    account_id=STR,
    tax_code_id=STR,
    payment_method_id=STR,
    ref_id=STR,
    description=STR,
    amount_cents=CENTS,
    debit_cents=CENTS,
    credit_cents=CENTS,
    line_id=STR,
    ref_link=STR,
)

#: AWRA master records, all six types in one frame. Type-specific columns are ``<NA>`` elsewhere.
#: ``rate_percent`` is the tax rate as normalized decimal text (e.g. ``"16"``, ``"7.125"``).
MASTERS = _schema(
    "masters",
    master_type=STR,
    id=STR,
    code=STR,
    name=STR,
    active=BOOL,
    updated_at=TS,
    email=STR,
    item_type=STR,
    income_account_id=STR,
    expense_account_id=STR,
    rate_percent=STR,
    account_type=STR,
    method_type=STR,
)

#: AWRA ``qbo_mappings``: one row per (mapping_type, awra_id).
MAPPINGS = _schema(
    "mappings",
    mapping_type=STR,
    awra_id=STR,
    qbo_id=STR,
    qbo_name=STR,
    updated_at=TS,
    updated_by=STR,
)

#: AWRA ``sync_log``: one row per attempt; the latest by ``attempted_at`` is the record's state.
SYNC_LOG = _schema(
    "sync_log",
    id=STR,
    sync_run_id=STR,
    connector=STR,
    record_type=STR,
    record_id=STR,
    record_number=STR,
    status=STR,
    error_code=STR,
    message=STR,
    retry_count=INT,
    qbo_id=STR,
    attempted_at=TS,
)

#: AWRA ``sync_runs``.
SYNC_RUNS = _schema(
    "sync_runs",
    id=STR,
    connector=STR,
    started_at=TS,
    finished_at=TS,
    status=STR,
    triggered_by=STR,
)

#: QBO reference entities, all types in one frame (``ref_type`` in ``REFERENCE_TYPES``).
#:
#: * ``qbo_type``: Account.AccountType, Item.Type, PaymentMethod.Type; ``classification``:
#:   Account.Classification.
#: * ``income_account_id`` / ``expense_account_id``: Item's IncomeAccountRef / ExpenseAccountRef.
#: * ``rate_percent``: TaxRate.RateValue; for a TaxCode, the sum of its sales TaxRates' values.
#: * ``tax_rate_ids``: for a TaxCode, its sales TaxRateRef values joined by ``,``.
REFERENCES = _schema(
    "references",
    ref_type=STR,
    id=STR,
    name=STR,
    active=BOOL,
    updated_at=TS,
    qbo_type=STR,
    classification=STR,
    income_account_id=STR,
    expense_account_id=STR,
    rate_percent=STR,
    tax_rate_ids=STR,
)

#: AWRA rows the reader could not take as given; they become ``data_quality`` findings.
#: ``table`` is the AWRA table, ``entity`` the record type (invoice, customer…), ``field`` the
#: column at fault, ``value`` its raw text, ``problem`` a plain-words description.
DATA_QUALITY = _schema(
    "data_quality",
    table=STR,
    entity=STR,
    awra_id=STR,
    awra_number=STR,
    field=STR,
    value=STR,
    problem=STR,
)

#: The findings frame (CONTRACTS §4 columns first, then ours).
#:
#: * ``effect_cents``: this finding's share of ``AWRA total - QBO total`` for its entity and its
#:   ``currency`` (the tie-out bridge); 0 for findings that do not move the totals.
#: * ``other_currency`` / ``other_effect_cents``: only on the finding carrying the money of a
#:   pair whose two sides are in different currencies: the QBO side's currency and its part of
#:   the effect (``-QBO amount``); ``effect_cents`` then holds the AWRA part alone, in
#:   ``currency``. Amounts in two currencies are never added. ``<NA>`` otherwise.
#: * ``amount_cents``: the record's document amount (AWRA side if known, else QBO), for sorting
#:   and "money at stake"; ``difference`` is the signed AWRA - QBO difference as decimal text
#:   for money fields, days for ``txn_date``.
#: * ``match_method``: how the pair was matched (link, sync_log, number, probable, lookup_link,
#:   lookup_number) where a pair exists.
#: * ``blocks_count`` / ``blocks_cents``: for mapping findings, the transactions in the window it
#:   blocks and their money. ``root_ref``: for a transaction whose cause is a mapping gap, the
#:   ``mapping_type:awra_id`` of that mapping finding.
#: * ``retry_safe``: whether retrying the sync can succeed now (triage); ``<NA>`` if not judged.
#: * ``line``: for a line-level finding, the line it names (the AWRA ``line_no``, or the QBO line
#:   Id for a line only QBO has); ``<NA>`` for record-level findings.
#: * ``currency``: the record's currency (AWRA's if known, else QBO's; a record stating none
#:   takes its counterpart's, else the home currency: ``reconcile.currencies``); the currency of
#:   ``amount_cents`` and ``effect_cents``. ``<NA>`` for master data.
#: * ``fingerprint``: a stable identity of the finding across runs (run history).
#: * ``history_status``: new, persisting or reopened against the previous completed run of the
#:   company; ``first_seen`` when the finding was first seen, ``age_days`` days since then
#:   (``reconcile.history.RunHistory.compare`` fills these; ``<NA>`` before it runs).
#: * ``ack_by`` / ``ack_note`` / ``ack_at`` / ``ack_until``: the acknowledgement (``qbo-recon ack``)
#:   in force for this finding, if any (``<NA>`` otherwise); an acknowledged finding is listed
#:   but does not need action. ``ack_lapsed``: when an earlier acknowledgement no longer holds,
#:   why, in plain words (the finding changed, it resolved and reopened, its date passed).
#: * ``cause_code``: the sync triage's cause code (``reconcile.triage.CAUSES``) when the triage
#:   decided the cause; ``cause`` then holds the same cause as a sentence.
FINDINGS = _schema(
    "findings",
    run_id=STR,
    entity=STR,
    category=STR,
    awra_id=STR,
    awra_number=STR,
    qbo_id=STR,
    party=STR,
    field=STR,
    awra_value=STR,
    qbo_value=STR,
    difference=STR,
    cause=STR,
    action=STR,
    sync_status=STR,
    retry_count=INT,
    message=STR,
    line=STR,
    currency=STR,
    fingerprint=STR,
    txn_date=DATE,
    amount_cents=CENTS,
    effect_cents=CENTS,
    match_method=STR,
    blocks_count=INT,
    blocks_cents=CENTS,
    root_ref=STR,
    retry_safe=BOOL,
    history_status=STR,
    first_seen=TS,
    age_days=INT,
    ack_by=STR,
    ack_note=STR,
    ack_at=TS,
    ack_until=DATE,
    ack_lapsed=STR,
    other_currency=STR,
    other_effect_cents=CENTS,
    cause_code=STR,
)

#: The account impact (``reconcile.accounts``): one row per QBO account and currency that the
#: window's lines post to, on either side.
#:
#: * ``account``: the QBO Account Id (AWRA lines reach it through the mappings; ``<NA>`` for AWRA
#:   lines whose account has no QBO mapping); ``name`` the QBO account's name (or AWRA's where
#:   QBO has no such account).
#: * ``awra_net_cents`` / ``qbo_net_cents``: debits minus credits posted to the account by the
#:   records counted in that side's totals: invoice lines credit their item's income account
#:   (negative), bill lines debit their account or their item's expense account (positive),
#:   journal lines debit minus credit, payments debit their deposit account (positive).
#: * ``difference_cents`` = AWRA net - QBO net; ``explained_cents`` the part that findings
#:   explain; ``unexplained_cents`` = difference - explained (0 once every difference has a
#:   finding).
#: * ``findings``: how many distinct findings explain it; ``explained_by``: those findings as
#:   ``category field entity number`` references, ``; ``-separated, largest share first.
ACCOUNTS = _schema(
    "accounts",
    account=STR,
    name=STR,
    currency=STR,
    awra_net_cents=CENTS,
    qbo_net_cents=CENTS,
    difference_cents=CENTS,
    explained_cents=CENTS,
    unexplained_cents=CENTS,
    findings=INT,
    explained_by=STR,
)

#: The findings.csv columns fixed by CONTRACTS §4 (the frame may hold more).
CONTRACT_FINDING_COLUMNS: tuple[str, ...] = (
    "run_id",
    "entity",
    "category",
    "awra_id",
    "awra_number",
    "qbo_id",
    "party",
    "field",
    "awra_value",
    "qbo_value",
    "difference",
    "cause",
    "action",
    "sync_status",
    "retry_count",
    "message",
    "line",
    "currency",
    "fingerprint",
)

ALL_SCHEMAS: tuple[Schema, ...] = (
    TRANSACTIONS,
    LINES,
    MASTERS,
    MAPPINGS,
    SYNC_LOG,
    SYNC_RUNS,
    REFERENCES,
    DATA_QUALITY,
    FINDINGS,
    ACCOUNTS,
)

# typed Any: pandas-stubs only accept literal dtype names, these are looked up at run time
_DTYPES: Mapping[Kind, Any] = {
    Kind.STRING: "string",
    Kind.CENTS: "Int64",
    Kind.INT: "Int64",
    Kind.BOOL: "boolean",
    Kind.DATE: "datetime64[ns]",
    Kind.TIMESTAMP: "datetime64[ns, UTC]",
    Kind.OBJECT: "object",
}


class SchemaError(AssertionError):
    """A frame does not follow its schema: a bug in the code that built it, not bad data."""


def dtype_of(kind: Kind) -> Any:
    """The pandas dtype used for a column of this kind."""
    return _DTYPES[kind]


def empty_frame(schema: Schema) -> pd.DataFrame:
    """A frame with the schema's columns and dtypes and no rows."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype_of(kind)) for name, kind in schema.columns.items()})


def conform(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """A new frame with exactly the schema's columns, in order, cast to the declared dtypes.

    Columns absent from ``frame`` are added as all-missing. Use it at the edge where a source
    builds a frame; it never drops a declared column's values silently (casting raises).
    """
    n = len(frame)
    out: dict[str, pd.Series] = {}
    for name, kind in schema.columns.items():
        if name in frame.columns:
            out[name] = _cast(frame[name], kind)
        else:
            out[name] = pd.Series(_all_missing(kind, n), index=frame.index)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _all_missing(kind: Kind, n: int) -> Any:
    """A column of ``n`` missing values of ``kind``, built from arrays (no list of ``None``)."""
    if kind is Kind.STRING:
        return pd.array(pa.nulls(n, pa.large_string()), dtype=dtype_of(kind))
    if kind in (Kind.CENTS, Kind.INT):
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    if kind is Kind.BOOL:
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    if kind in (Kind.DATE, Kind.TIMESTAMP):
        naive = pd.array(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
        return naive.tz_localize("UTC") if kind is Kind.TIMESTAMP else naive
    return np.full(n, None, dtype=object)


def _cast(series: pd.Series, kind: Kind) -> pd.Series:
    if _matches(series, kind):
        return series
    if kind is Kind.TIMESTAMP:
        return pd.to_datetime(series, utc=True).astype(dtype_of(kind))
    if kind is Kind.DATE:
        return pd.to_datetime(series).astype(dtype_of(kind))
    return series.astype(dtype_of(kind))


def _matches(series: pd.Series, kind: Kind) -> bool:
    dtype = series.dtype
    if kind is Kind.STRING:
        return isinstance(dtype, pd.StringDtype)
    if kind in (Kind.CENTS, Kind.INT):
        return isinstance(dtype, pd.Int64Dtype)
    if kind is Kind.BOOL:
        return isinstance(dtype, pd.BooleanDtype)
    if kind is Kind.DATE:
        return pd.api.types.is_datetime64_dtype(dtype) and getattr(dtype, "tz", None) is None
    if kind is Kind.TIMESTAMP:
        return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"
    return True


def check_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Return ``frame`` unchanged if it has every schema column with the right kind.

    Raises ``SchemaError`` naming every missing column and every wrong dtype. Extra columns
    are allowed (a stage may carry more), declared ones are not optional.
    """
    problems: list[str] = []
    for name, kind in schema.columns.items():
        if name not in frame.columns:
            problems.append(f"missing column {name!r}")
        elif not _matches(frame[name], kind):
            problems.append(f"column {name!r} is {frame[name].dtype}, expected {kind.value}")
    if problems:
        raise SchemaError(f"{schema.name} frame: " + "; ".join(problems))
    return frame


def concat_frames(frames: Iterable[pd.DataFrame], schema: Schema) -> pd.DataFrame:
    """Concatenate frames of one schema, keeping the declared dtypes (also for zero frames)."""
    parts = [conform(f, schema) for f in frames if len(f)]
    if not parts:
        return empty_frame(schema)
    return conform(pd.concat(parts, ignore_index=True), schema)
