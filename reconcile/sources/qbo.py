"""The QBO side: one source interface, a snapshot source, the shared queries, one wiring function.

A ``QboSource`` gives the run the QBO records as canonical frames (``QboData``). Two
implementations share the parser (``reconcile.sources.qbo_parse``) and the query semantics
below, so they return the same frames for the same records:

* ``SnapshotSource``: a snapshot folder (``reconcile.sources.snapshot``), read once, filtered here
  the way the queries filter in QBO.
* ``LiveSource`` (``reconcile.sources.qbo_live``): python-quickbooks against QBO or the emulator,
  sending ``window_query`` / ``reference_query`` / ``lookup_queries`` with paging around them.

``open_qbo_source`` is the one place that chooses between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from reconcile import frames as F
from reconcile.config import CompanySettings
from reconcile.errors import ConfigError
from reconcile.model import LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo_parse import ENTITY_OF_QBO, PREFERENCES, REF_TYPE_OF_QBO, qbo_data_from_payloads
from reconcile.sources.snapshot import read_snapshot

#: QBO reference entities pulled with every run (inactive ones included).
REFERENCE_ENTITIES: tuple[str, ...] = tuple(F.QBO_REFERENCE_ENTITY[t] for t in F.REFERENCE_TYPES)
#: Values per ``IN (...)`` list in a look-up query.
LOOKUP_CHUNK = 100

NO_CREDENTIALS = (
    "qbo: no credentials: set QBO_CLIENT_ID, QBO_CLIENT_SECRET and QBO_REFRESH_TOKEN, or pass --qbo-snapshot DIR"
)


@runtime_checkable
class QboSource(Protocol):
    """Where the run's QBO records come from (live API or snapshot)."""

    @property
    def description(self) -> str:
        """For reports: ``"snapshot /path"`` or ``"QBO realm 123 (production)"``."""
        ...

    def pull(self, params: RunParams) -> QboData:
        """Transactions of ``params.entities`` with TxnDate in the window, voided ones included.

        ``in_window`` is True; the core applies ``frames.QBO_SIDE_OF_STATUS``. Also every
        reference entity, inactive records included, and the company's home currency from
        its Preferences (``QboData.home_currency``; ``None`` when QBO does not say).
        """
        ...

    def lookup(self, params: RunParams, request: LookupRequest) -> QboData:
        """Transactions of any date with a requested QBO Id or number.

        Per entity: Id in ``request.qbo_ids[entity]`` or number (DocNumber; Payment:
        PaymentRefNum) in ``request.qbo_numbers[entity]``. ``in_window`` is False;
        ``references`` is empty.
        """
        ...

    def payloads(self) -> dict[str, list[dict[str, Any]]]:
        """Every payload pulled or looked up so far, by QBO entity name (for a snapshot)."""
        ...


# --------------------------------------------------------------------------- queries


def _qbo_name(entity: str) -> str:
    if entity in ENTITY_OF_QBO or entity in REF_TYPE_OF_QBO:
        return entity
    if entity in F.QBO_ENTITY:
        return F.QBO_ENTITY[entity]
    if entity in F.QBO_REFERENCE_ENTITY:
        return F.QBO_REFERENCE_ENTITY[entity]
    raise ValueError(f"not a QBO entity: {entity!r}")


def _date_text(value: date | str) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"not a YYYY-MM-DD date: {value!r}")
    return text


def quote(value: str) -> str:
    """A QBO query string literal: single quotes, a quote inside escaped with a backslash.

    That is how python-quickbooks escapes ``'`` (QBO documents no other escape).
    """
    return "'" + str(value).replace("'", "\\'") + "'"


def window_query(entity: str, date_from: date | str, date_to: date | str) -> str:
    """The query for one transaction entity's records dated in the window (both ends included).

    ``entity`` is ``invoice``… or the QBO name (``Invoice``…). No ORDERBY/paging: the live
    client adds those.
    """
    name = _qbo_name(entity)
    if name not in ENTITY_OF_QBO:
        raise ValueError(f"not a transaction entity: {entity!r}")
    start, end = quote(_date_text(date_from)), quote(_date_text(date_to))
    return f"SELECT * FROM {name} WHERE TxnDate >= {start} AND TxnDate <= {end}"


def reference_query(entity: str) -> str:
    """The query for every record of a reference entity, inactive ones included.

    QBO returns only active list records unless asked for ``Active IN (true, false)``.
    """
    name = _qbo_name(entity)
    if name not in REF_TYPE_OF_QBO:
        raise ValueError(f"not a reference entity: {entity!r}")
    return f"SELECT * FROM {name} WHERE Active IN (true, false)"


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def lookup_queries(
    entity: str, ids: Iterable[str], numbers: Iterable[str], *, chunk_size: int = LOOKUP_CHUNK
) -> list[str]:
    """Queries finding a transaction entity's records by Id or number, whatever their date.

    One query per ``chunk_size`` values (sorted, de-duplicated, blanks dropped): ``Id IN (...)``
    and ``DocNumber IN (...)`` (Payment: ``PaymentRefNum``). Empty when there is nothing to find.
    """
    name = _qbo_name(entity)
    if name not in ENTITY_OF_QBO:
        raise ValueError(f"not a transaction entity: {entity!r}")
    number_field = F.QBO_NUMBER_FIELD[ENTITY_OF_QBO[name]]
    queries = []
    for field, values in (("Id", ids), (number_field, numbers)):
        wanted = sorted({str(v) for v in values if v is not None and str(v).strip()})
        for chunk in _chunks(wanted, chunk_size):
            queries.append(f"SELECT * FROM {name} WHERE {field} IN ({', '.join(quote(v) for v in chunk)})")
    return queries


# --------------------------------------------------------------------------- snapshot source


class SnapshotSource:
    """A ``QboSource`` reading a snapshot folder (read and parsed once, at construction).

    ``pull`` keeps the transactions whose parsed TxnDate lies in the window (a record without a
    readable date cannot be placed in any window; ``lookup`` still finds it by Id or number).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.description = f"snapshot {self.folder}"
        self._payloads = read_snapshot(self.folder)
        self._data = qbo_data_from_payloads(self._payloads, in_window=True)
        self._served: dict[str, dict[str, Mapping[str, Any]]] = {}

    def _select(self, mask: pd.Series, *, in_window: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
        txns = self._data.transactions[mask.to_numpy(dtype=bool)]
        if not in_window:
            txns = txns.assign(in_window=pd.array([False] * len(txns), dtype="boolean"))
        lines = self._data.lines
        keep = pd.Series(False, index=lines.index)
        for entity, ids in txns.groupby("entity", observed=True)["id"]:
            keep |= (lines["entity"] == entity).fillna(False) & lines["txn_id"].isin(set(ids.dropna()))
        return txns.reset_index(drop=True), lines[keep.to_numpy(dtype=bool)].reset_index(drop=True)

    def _raw_for(self, txns: pd.DataFrame) -> dict[str, dict[str, Mapping[str, Any]]]:
        raw: dict[str, dict[str, Mapping[str, Any]]] = {}
        for entity, ids in txns.groupby("entity", observed=True)["id"]:
            name = F.QBO_ENTITY[str(entity)]
            everything = self._data.raw.get(name, {})
            raw[name] = {i: everything[i] for i in ids.dropna() if i in everything}
        return raw

    def _remember(self, raw: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        for name, by_id in raw.items():
            self._served.setdefault(name, {}).update(by_id)

    def pull(self, params: RunParams) -> QboData:
        """The window's transactions of ``params.entities``, every reference record, the Preferences.

        The Preferences (the home currency) are there when the snapshot holds them.
        """
        tx = self._data.transactions
        start, end = pd.Timestamp(params.date_from), pd.Timestamp(params.date_to)
        mask = tx["entity"].isin(params.entities) & (tx["txn_date"] >= start) & (tx["txn_date"] <= end)
        txns, lines = self._select(mask.fillna(False), in_window=True)
        raw = self._raw_for(txns)
        for entity in params.entities:
            raw.setdefault(F.QBO_ENTITY[entity], {})
        for name in REFERENCE_ENTITIES:
            raw[name] = dict(self._data.raw.get(name, {}))
        if PREFERENCES in self._data.raw:
            raw[PREFERENCES] = dict(self._data.raw[PREFERENCES])
        self._remember(raw)
        return QboData(
            transactions=txns,
            lines=lines,
            references=self._data.references.copy(),
            raw=raw,
            home_currency=self._data.home_currency,
        ).check()

    def lookup(self, params: RunParams, request: LookupRequest) -> QboData:
        """Transactions of any date matching the request's QBO ids or numbers (``in_window`` False)."""
        tx = self._data.transactions
        mask = pd.Series(False, index=tx.index)
        for entity in F.ENTITIES:
            ids = {str(i) for i in request.qbo_ids.get(entity, ())}
            numbers = {str(n) for n in request.qbo_numbers.get(entity, ())}
            if not ids and not numbers:
                continue
            wanted = tx["id"].isin(ids).fillna(False) | tx["number"].isin(numbers).fillna(False)
            mask |= (tx["entity"] == entity).fillna(False) & wanted
        txns, lines = self._select(mask, in_window=False)
        raw = self._raw_for(txns)
        self._remember(raw)
        return QboData(transactions=txns, lines=lines, references=F.empty_frame(F.REFERENCES), raw=raw).check()

    def payloads(self) -> dict[str, list[dict[str, Any]]]:
        """Every payload served by ``pull`` and ``lookup`` so far, by QBO entity name."""
        return {name: [dict(p) for p in by_id.values()] for name, by_id in self._served.items()}


# --------------------------------------------------------------------------- wiring


def has_credentials(company: CompanySettings) -> bool:
    """True when the company can reach QBO: client id and secret, and a refresh token or token store."""
    qbo = company.qbo
    return bool(qbo.client_id) and bool(qbo.client_secret) and (bool(qbo.refresh_token) or qbo.token_store.is_file())


def open_qbo_source(company: CompanySettings, *, snapshot_dir: Path | None) -> QboSource:
    """The QBO source for a run: the snapshot folder when given, else the live API.

    Without a snapshot and without credentials: ``ConfigError`` (exit 2) saying what to set.
    """
    if snapshot_dir is not None:
        return SnapshotSource(Path(snapshot_dir))
    if not has_credentials(company):
        raise ConfigError([NO_CREDENTIALS])
    # imported here: only live runs need python-quickbooks and the HTTP client
    from reconcile.sources.qbo_live import LiveSource

    source: QboSource = LiveSource(company)
    return source


__all__ = [
    "LOOKUP_CHUNK",
    "NO_CREDENTIALS",
    "REFERENCE_ENTITIES",
    "QboSource",
    "SnapshotSource",
    "has_credentials",
    "lookup_queries",
    "open_qbo_source",
    "quote",
    "reference_query",
    "window_query",
]
