"""Find what a person means by a reference: a record number, an id, a QBO Id, a party or a sync run.

``find_references`` answers ``qbo-recon explain REF`` with every AWRA thing REF could name, read
through the AWRA reader's read-only connection (``open_awra``) and with the deployment's table
and column renames. It only selects.

REF forms, tried together (a REF can match several; the caller lists them):

* ``qbo:517`` — a QBO Id: the AWRA transactions that recorded it (``qbo_id``) or whose sync log
  saw it; if none does, the bare QBO Id itself (a record only QBO holds).
* a record number (``INV-1003``) or an AWRA id, in invoices, payments, bills and journals;
* a customer or vendor by id, code or name (case-insensitive; exact first, else contains);
* a sync run id.

``kind:REF`` (``invoice:``, ``payment:``, ``bill:``, ``journal:``, ``customer:``, ``vendor:``,
``run:``) narrows REF to one kind when it names several things.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconcile import frames as F
from reconcile.config import AwraSettings
from reconcile.frames import ENTITIES
from reconcile.sources.awra import open_awra

#: AWRA header table of each transaction entity, and its party column.
_TXN_TABLES: dict[str, tuple[str, str | None]] = {
    "invoice": ("invoices", "customer_id"),
    "payment": ("payments", "customer_id"),
    "bill": ("bills", "vendor_id"),
    "journal": ("journals", None),
}
_PARTY_TABLES: dict[str, str] = {"customer": "customers", "vendor": "vendors"}
#: ``kind:REF`` prefixes that narrow an ambiguous REF to one kind (``qbo:`` is handled apart).
_PREFIXES: dict[str, str] = {
    **{e: e for e in ENTITIES},
    "customer": "customer",
    "vendor": "vendor",
    "run": "sync_run",
    "sync_run": "sync_run",
}


@dataclass(frozen=True)
class Reference:
    """One thing a REF can name.

    ``kind`` is a transaction entity (invoice, payment, bill, journal), ``customer``,
    ``vendor``, ``sync_run`` or ``qbo`` (a QBO Id no AWRA record knows; ``entity`` is empty).
    """

    kind: str
    key: str  # AWRA id, sync run id, or the QBO Id for kind "qbo"
    label: str  # number, code or name as a person knows it
    detail: str = ""  # one line of context (date, status, party)
    txn_date: date | None = None
    via: str = ""  # how REF matched: number, id, qbo_id, sync_log, code, name, name contains
    status: str = ""  # a transaction's AWRA status
    qbo_id: str = ""  # a transaction's recorded QBO Id
    date_text: str = ""  # a transaction's date as AWRA stores it, when that is not a valid date

    @property
    def window_day(self) -> date | None:
        """The day an explanation's window is centred on: the record's date, if it has one.

        A date that looks like ISO but names no day (``2026-09-31``) is read by the run in the
        window its text falls in, where it is reported as data quality; the nearest real day
        (2026-09-30) puts it in the explanation's window too.
        """
        if self.txn_date is not None:
            return self.txn_date
        return _nearest_day(self.date_text)

    @property
    def ref(self) -> str:
        """The REF that names exactly this candidate."""
        prefix = {"sync_run": "run", "qbo": "qbo"}.get(self.kind, self.kind)
        return f"{prefix}:{self.key}"

    def describe(self) -> str:
        """One line naming the candidate, for "did you mean" lists."""
        text = f"{self.ref}  {self.kind} {self.label}"
        if self.key and self.key != self.label:
            text += f" (id {self.key})"
        if self.detail:
            text += f" — {self.detail}"
        return text


def find_references(settings: AwraSettings, ref: str) -> list[Reference]:
    """Every AWRA record, party or sync run that ``ref`` names, best matches first, no duplicates."""
    text = ref.strip()
    if not text:
        return []
    kind, sep, rest = text.partition(":")
    wanted = _PREFIXES.get(kind.lower()) if sep else None
    if wanted is not None:
        return [r for r in find_references(settings, rest) if r.kind == wanted]
    with open_awra(settings) as conn:
        if text.lower().startswith("qbo:"):
            qbo_id = text[4:].strip()
            found = _by_qbo_id(conn, settings, qbo_id)
            return found or [Reference("qbo", qbo_id, f"qbo:{qbo_id}", "not recorded by AWRA", via="qbo_id")]
        found = [
            *_transactions_by(conn, settings, "number", text),
            *_transactions_by(conn, settings, "id", text),
            *_parties(conn, settings, text),
            *_sync_runs(conn, settings, text),
        ]
    return _unique(found)


def _unique(found: Iterable[Reference]) -> list[Reference]:
    seen: set[tuple[str, str]] = set()
    out: list[Reference] = []
    for item in found:
        if (item.kind, item.key) not in seen:
            seen.add((item.kind, item.key))
            out.append(item)
    return out


def _table(settings: AwraSettings, canonical: str, columns: Iterable[str]) -> sa.TableClause:
    return sa.table(
        settings.table_name(canonical),
        *(sa.column(settings.column_name(canonical, c)) for c in columns),
    )


def _col(table: sa.TableClause, settings: AwraSettings, canonical_table: str, name: str) -> Any:
    return table.c[settings.column_name(canonical_table, name)]


def _transactions_by(conn: Connection, settings: AwraSettings, column: str, value: str) -> list[Reference]:
    out: list[Reference] = []
    for entity in ENTITIES:
        rows = _txn_rows(conn, settings, entity, column, value)
        out.extend(_txn_reference(entity, row, column) for row in rows)
    return out


def _txn_rows(conn: Connection, settings: AwraSettings, entity: str, column: str, value: str) -> list[Any]:
    """Header rows of one entity whose ``column`` equals ``value`` (case-insensitive)."""
    name, party = _TXN_TABLES[entity]
    columns = ["id", "number", "txn_date", "status", "qbo_id", *([party] if party else [])]
    table = _table(settings, name, columns)
    picked = [_col(table, settings, name, c).label(c) for c in columns]
    key = sa.func.lower(sa.cast(_col(table, settings, name, column), sa.String))
    stmt = sa.select(*picked).where(key == value.lower())
    return list(conn.execute(stmt.limit(50)).mappings())


def _txn_reference(entity: str, row: Any, via: str) -> Reference:
    txn_date = _as_date(row.get("txn_date"))
    party_col = _TXN_TABLES[entity][1]
    bits = [f"dated {txn_date}" if txn_date else "no valid date", f"status {row.get('status')}"]
    if party_col and row.get(party_col) is not None:
        bits.append(f"{party_col.removesuffix('_id')} {row.get(party_col)}")
    return Reference(
        kind=entity,
        key=_text(row["id"]),
        label=_text(row.get("number")) or _text(row["id"]),
        detail=", ".join(bits),
        txn_date=txn_date,
        date_text="" if txn_date else _text(row.get("txn_date")),
        via=via,
        status=_text(row.get("status")),
        qbo_id=_text(row.get("qbo_id")),
    )


def _by_qbo_id(conn: Connection, settings: AwraSettings, qbo_id: str) -> list[Reference]:
    out: list[Reference] = []
    for entity in ENTITIES:
        rows = _txn_rows(conn, settings, entity, "qbo_id", qbo_id)
        out.extend(_txn_reference(entity, row, "qbo_id") for row in rows)
    log = _table(settings, "sync_log", ["record_type", "record_id", "qbo_id", "connector"])
    stmt = (
        sa.select(
            _col(log, settings, "sync_log", "record_type").label("record_type"),
            _col(log, settings, "sync_log", "record_id").label("record_id"),
        )
        .where(sa.cast(_col(log, settings, "sync_log", "qbo_id"), sa.String) == qbo_id)
        .where(_col(log, settings, "sync_log", "connector") == settings.connector)
        .distinct()
    )
    for row in conn.execute(stmt).mappings():
        entity = _text(row["record_type"])
        if entity in _TXN_TABLES:
            rows = _txn_rows(conn, settings, entity, "id", _text(row["record_id"]))
            out.extend(_txn_reference(entity, r, "sync_log") for r in rows)
    return _unique(out)


def _parties(conn: Connection, settings: AwraSettings, text: str) -> list[Reference]:
    exact: list[Reference] = []
    partial: list[Reference] = []
    needle = " ".join(text.lower().split())
    for kind, name in _PARTY_TABLES.items():
        table = _table(settings, name, ["id", "code", "name", "active"])
        cols = {c: _col(table, settings, name, c) for c in ("id", "code", "name", "active")}
        stmt = sa.select(*(c.label(k) for k, c in cols.items())).where(
            sa.or_(
                sa.func.lower(sa.cast(cols["id"], sa.String)) == needle,
                sa.func.lower(cols["code"]) == needle,
                sa.func.lower(cols["name"]).contains(needle, autoescape=True),
            )
        )
        for row in conn.execute(stmt.limit(50)).mappings():
            name_text = _text(row.get("name"))
            code = _text(row.get("code"))
            via = "id" if _text(row["id"]).lower() == needle else "code" if code.lower() == needle else "name"
            if via == "name" and " ".join(name_text.lower().split()) != needle:
                via = "name contains"
            ref = Reference(
                kind=kind,
                key=_text(row["id"]),
                label=code or _text(row["id"]),
                detail=name_text + ("" if row.get("active") in (1, True, None) else " (inactive)"),
                via=via,
            )
            (partial if via == "name contains" else exact).append(ref)
    return exact or partial


def _sync_runs(conn: Connection, settings: AwraSettings, text: str) -> list[Reference]:
    table = _table(settings, "sync_runs", ["id", "started_at", "status", "connector"])
    stmt = sa.select(
        _col(table, settings, "sync_runs", "id").label("id"),
        _col(table, settings, "sync_runs", "started_at").label("started_at"),
        _col(table, settings, "sync_runs", "status").label("status"),
    ).where(sa.cast(_col(table, settings, "sync_runs", "id"), sa.String) == text)
    return [
        Reference(
            kind="sync_run",
            key=_text(row["id"]),
            label=_text(row["id"]),
            detail=f"started {row.get('started_at')}, status {row.get('status')}",
            via="id",
        )
        for row in conn.execute(stmt).mappings()
    ]


def read_sync_run(settings: AwraSettings, run_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """One sync run's row and every sync_log attempt it made (``frames.SYNC_LOG``)."""
    run_cols = ["id", "connector", "started_at", "finished_at", "status", "triggered_by"]
    runs = _table(settings, "sync_runs", run_cols)
    log = _table(settings, "sync_log", F.SYNC_LOG.names)
    with open_awra(settings) as conn:
        run = (
            conn.execute(
                sa.select(*(_col(runs, settings, "sync_runs", c).label(c) for c in run_cols)).where(
                    sa.cast(_col(runs, settings, "sync_runs", "id"), sa.String) == run_id
                )
            )
            .mappings()
            .first()
        )
        rows = (
            conn.execute(
                sa.select(*(_col(log, settings, "sync_log", c).label(c) for c in F.SYNC_LOG.names)).where(
                    sa.cast(_col(log, settings, "sync_log", "sync_run_id"), sa.String) == run_id
                )
            )
            .mappings()
            .all()
        )
    frame = pd.DataFrame([dict(r) for r in rows], columns=F.SYNC_LOG.names)
    for column in ("id", "sync_run_id", "record_id", "error_code", "qbo_id"):
        frame[column] = frame[column].map(lambda v: None if v is None else _text(v))
    frame["retry_count"] = pd.to_numeric(frame["retry_count"], errors="coerce")
    frame["attempted_at"] = pd.to_datetime(frame["attempted_at"], errors="coerce", utc=True)
    return dict(run or {"id": run_id}), F.conform(frame, F.SYNC_LOG)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


_ISO_HEAD = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _nearest_day(text: str) -> date | None:
    """The real day nearest an ISO-looking text that names none (month and day clamped), else None."""
    found = _ISO_HEAD.match(text.strip())
    if not found:
        return None
    year, month, day = (int(g) for g in found.groups())
    if not 1 <= year <= 9999:
        return None
    month = min(max(month, 1), 12)
    return date(year, month, min(max(day, 1), calendar.monthrange(year, month)[1]))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
