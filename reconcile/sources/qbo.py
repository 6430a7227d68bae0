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

import ctypes
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from reconcile import frames as F
from reconcile.config import CompanySettings
from reconcile.errors import ConfigError
from reconcile.model import LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo_parse import ENTITY_OF_QBO, PREFERENCES, REF_TYPE_OF_QBO, qbo_data_from_chunks
from reconcile.sources.snapshot import PayloadList, SnapshotPayloads, open_snapshot

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

    def payloads(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
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

    Memory: each file is decoded and parsed a chunk at a time (``SnapshotFile.chunks``), and
    only the frames are kept, with each record's byte span in its file: ``QboData.raw`` and
    ``payloads`` hand out views (``SnapshotPayloads``, ``PayloadList``) that decode a payload
    again from the file when it is read. Selecting the window or a look-up's records is array
    work on codes computed once here (no Python set or dict per record).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.description = f"snapshot {self.folder}"
        self._files = open_snapshot(self.folder)
        self._data = qbo_data_from_chunks({name: file.chunks() for name, file in self._files.items()})
        self._entity_codes, self._txn_codes, self._line_codes = _transaction_codes(self._data)
        self._served: dict[str, list[np.ndarray]] = {}
        _return_freed_memory()

    def close(self) -> None:
        """Release the snapshot files (served payloads can no longer be read)."""
        for file in self._files.values():
            file.close()

    def _select(self, mask: np.ndarray, *, in_window: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The transactions under ``mask`` and the lines of every (entity, Id) among them."""
        txns = self._data.transactions[mask]
        if not in_window:
            txns = txns.assign(in_window=pd.array(np.zeros(len(txns), dtype=bool), dtype="boolean"))
        chosen = np.zeros(int(self._txn_codes.max(initial=-1)) + 1, dtype=bool)
        codes = self._txn_codes[mask]
        chosen[codes[codes >= 0]] = True
        line_codes = self._line_codes
        keep = (line_codes >= 0) & chosen[np.maximum(line_codes, 0)] if len(chosen) else line_codes >= 0
        return txns.reset_index(drop=True), self._data.lines[keep].reset_index(drop=True)

    def _raw_for(self, txns: pd.DataFrame) -> dict[str, Mapping[str, Mapping[str, Any]]]:
        """``{QBO entity: {Id: payload}}`` for the selected transactions (the first copy of an Id)."""
        raw: dict[str, Mapping[str, Mapping[str, Any]]] = {}
        for entity, ids in txns.groupby("entity", observed=True)["id"]:
            name = F.QBO_ENTITY[str(entity)]
            file = self._files.get(name)
            if file is None:
                raw[name] = {}
                continue
            positions = file.positions_of(ids.dropna().tolist())
            raw[name] = SnapshotPayloads(file, pd.unique(positions[positions >= 0]))
        return raw

    def _every(self, name: str) -> Mapping[str, Mapping[str, Any]]:
        file = self._files.get(name)
        return {} if file is None else SnapshotPayloads(file, file.first_positions())

    def _remember(self, raw: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        for name, by_id in raw.items():
            served = self._served.setdefault(name, [])
            if isinstance(by_id, SnapshotPayloads):
                served.append(by_id.positions)

    def pull(self, params: RunParams) -> QboData:
        """The window's transactions of ``params.entities``, every reference record, the Preferences.

        The Preferences (the home currency) are there when the snapshot holds them.
        """
        tx = self._data.transactions
        start, end = pd.Timestamp(params.date_from), pd.Timestamp(params.date_to)
        wanted = [F.ENTITIES.index(e) for e in params.entities]
        in_dates = ((tx["txn_date"] >= start) & (tx["txn_date"] <= end)).fillna(False).to_numpy(dtype=bool)
        txns, lines = self._select(np.isin(self._entity_codes, wanted) & in_dates, in_window=True)
        raw = self._raw_for(txns)
        for entity in params.entities:
            raw.setdefault(F.QBO_ENTITY[entity], {})
        for name in REFERENCE_ENTITIES:
            raw[name] = self._every(name)
        if PREFERENCES in self._files:
            raw[PREFERENCES] = self._every(PREFERENCES)
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
        mask = np.zeros(len(tx), dtype=bool)
        for code, entity in enumerate(F.ENTITIES):
            ids = sorted({str(i) for i in request.qbo_ids.get(entity, ())})
            numbers = sorted({str(n) for n in request.qbo_numbers.get(entity, ())})
            if not ids and not numbers:
                continue
            by_id = tx["id"].isin(ids).fillna(False).to_numpy(dtype=bool)
            by_number = tx["number"].isin(numbers).fillna(False).to_numpy(dtype=bool)
            mask |= (self._entity_codes == code) & (by_id | by_number)
        txns, lines = self._select(mask, in_window=False)
        raw = self._raw_for(txns)
        self._remember(raw)
        return QboData(transactions=txns, lines=lines, references=F.empty_frame(F.REFERENCES), raw=raw).check()

    def payloads(self) -> dict[str, Sequence[Mapping[str, Any]]]:
        """Every payload served by ``pull`` and ``lookup`` so far, by QBO entity name.

        Each entity's payloads are a ``PayloadList`` (decoded from the file as they are read,
        so saving a large snapshot never holds them all), once each, in the order served.
        """
        out: dict[str, Sequence[Mapping[str, Any]]] = {}
        for name, served in self._served.items():
            file = self._files.get(name)
            if file is None or not served:
                out[name] = []
                continue
            out[name] = PayloadList(file, pd.unique(np.concatenate(served)))
        return out


def _return_freed_memory() -> None:
    """Hand the memory the parse freed back to the system before the run reads AWRA.

    The chunks' decoded records and intermediate columns are freed, but the allocators keep the
    pages for reuse (Arrow's pool and glibc's heap: ≈ 0.4 GB at 1M invoices), which would count
    in the run's peak while the AWRA read allocates elsewhere. Only a hint: without glibc
    (``malloc_trim``) nothing more is done.
    """
    pa.default_memory_pool().release_unused()
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _transaction_codes(data: QboData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per transaction its entity's position in ``F.ENTITIES``; per transaction and per line a code of its (entity, Id).

    Transactions with one (entity, Id) share a code (a repeated Id's copies among them); a line's
    code is its (entity, ``txn_id``)'s, ``-1`` when no transaction has it (or the Id is missing).
    Selecting the lines of chosen transactions is then an array look-up.
    """
    tx, lines = data.transactions, data.lines
    entities = pd.Index(F.ENTITIES)
    tx_entity = entities.get_indexer(pd.Index(tx["entity"]))
    id_codes, id_values = pd.factorize(tx["id"])
    count = len(F.ENTITIES)
    txn_codes = np.where((id_codes >= 0) & (tx_entity >= 0), id_codes * count + tx_entity, -1)
    line_ids = pd.Index(id_values).get_indexer(pd.Index(lines["txn_id"])) if len(id_values) else np.full(len(lines), -1)
    line_entity = entities.get_indexer(pd.Index(lines["entity"]))
    line_codes = np.where((line_ids >= 0) & (line_entity >= 0), line_ids * count + line_entity, -1)
    return tx_entity, txn_codes.astype(np.int64), line_codes.astype(np.int64)


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
