"""QBO read for one record's explanation: the transactions carrying given keys, not the window.

Two QBO finders for ``reconcile.explain_scope`` (the same answers as the window pull and the
look-ups of ``reconcile.sources.qbo``, for the records asked about):

* ``TargetedSnapshot`` reads a snapshot folder without building frames of it. One pass over each
  transaction file decodes, per record, only ``Id``, the number, ``TxnDate``, the party reference
  and ``TotalAmt`` (msgspec skips the other fields without building them), the file read in
  blocks so that it is never held whole; the few records a scope needs are then decoded in full
  from their block, exactly as ``reconcile.sources.snapshot`` decodes them (``Decimal`` numbers),
  and parsed by the one parser. Reference files are small and read whole.
* ``TargetedLive`` asks QBO: a record by ``Id IN`` / ``DocNumber IN`` (the look-up queries), a
  party's records of one amount within the window (``CustomerRef`` / ``VendorRef``, ``TotalAmt``
  within a cent either side, ``TxnDate`` in the window), every reference list and the
  Preferences — a handful of queries whatever the company's size. Each query is sent once; a
  look-up for keys already asked is answered from what they returned.

Both select the window's rows as ``SnapshotSource.pull`` does (parsed ``txn_date`` within the
window) and look-ups as ``SnapshotSource.lookup`` does (Id or number, any date, ``in_window``
False). A snapshot the index cannot read (not a JSON array of objects, odd reference shapes)
raises ``IndexUnavailable``: the caller then reads it the usual way, which reports the problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.config import CompanySettings
from reconcile.explain_scope import Keys
from reconcile.model import LookupRequest, QboData
from reconcile.params import RunParams
from reconcile.sources.qbo import REFERENCE_ENTITIES, lookup_queries, quote, reference_query
from reconcile.sources.qbo_parse import PREFERENCES, qbo_data_from_payloads

#: The reference naming a transaction's party, per entity (journals have none).
PARTY_FIELD: Mapping[str, str] = {"invoice": "CustomerRef", "payment": "CustomerRef", "bill": "VendorRef"}

#: Bytes read from a snapshot file at a time (the index never holds a file whole).
BLOCK_BYTES = 16 << 20


class IndexUnavailable(Exception):
    """The snapshot cannot be indexed (malformed): read it the usual way instead."""


# --------------------------------------------------------------------------- shared selection


def _window_mask(tx: pd.DataFrame, params: RunParams) -> np.ndarray:
    """Rows the window pull returns: of the run's entities, parsed ``txn_date`` within the window."""
    start, end = pd.Timestamp(params.date_from), pd.Timestamp(params.date_to)
    mask = tx["entity"].isin(params.entities) & (tx["txn_date"] >= start) & (tx["txn_date"] <= end)
    return mask.fillna(False).to_numpy(dtype=bool)


def _lookup_mask(tx: pd.DataFrame, request: LookupRequest) -> np.ndarray:
    """Rows a look-up returns: per entity, Id or number asked for (``SnapshotSource.lookup``)."""
    mask = np.zeros(len(tx), dtype=bool)
    for entity in F.ENTITIES:
        ids = {str(i) for i in request.qbo_ids.get(entity, ())}
        numbers = {str(n) for n in request.qbo_numbers.get(entity, ())}
        if not ids and not numbers:
            continue
        wanted = tx["id"].isin(ids).fillna(False) | tx["number"].isin(numbers).fillna(False)
        mask |= ((tx["entity"] == entity).fillna(False) & wanted).to_numpy(dtype=bool)
    return mask


def _select(data: QboData, mask: np.ndarray, *, in_window: bool) -> QboData:
    """The rows under ``mask`` with their lines (``SnapshotSource._select``), ``in_window`` set."""
    tx = data.transactions[mask]
    tx = tx.assign(in_window=pd.array([in_window] * len(tx), dtype="boolean"))
    lines = data.lines
    keep = pd.Series(False, index=lines.index)
    for entity, ids in tx.groupby("entity", observed=True)["id"]:
        keep |= (lines["entity"] == entity).fillna(False) & lines["txn_id"].isin(set(ids.dropna()))
    raw: dict[str, dict[str, Mapping[str, Any]]] = {}
    for entity, ids in tx.groupby("entity", observed=True)["id"]:
        name = F.QBO_ENTITY[str(entity)]
        everything = data.raw.get(name, {})
        raw[name] = {i: everything[i] for i in ids.dropna() if i in everything}
    return QboData(
        transactions=tx.reset_index(drop=True),
        lines=lines[keep.to_numpy(dtype=bool)].reset_index(drop=True),
        references=F.empty_frame(F.REFERENCES),
        raw=raw,
    ).check()


def _split_window(payloads: Mapping[str, Sequence[Mapping[str, Any]]], params: RunParams) -> tuple[QboData, QboData]:
    """(the rows the window pull gives, the others as look-ups give them) of some payloads."""
    if not any(payloads.values()):
        return QboData.empty(), QboData.empty()
    data = qbo_data_from_payloads(payloads, in_window=True)
    inside = _window_mask(data.transactions, params)
    return _select(data, inside, in_window=True), _select(data, ~inside, in_window=False)


def _references(payloads: Mapping[str, Sequence[Mapping[str, Any]]]) -> QboData:
    data = qbo_data_from_payloads(payloads, in_window=True)
    return QboData(
        transactions=F.empty_frame(F.TRANSACTIONS),
        lines=F.empty_frame(F.LINES),
        references=data.references,
        raw={k: v for k, v in data.raw.items() if k in REFERENCE_ENTITIES or k == PREFERENCES},
        home_currency=data.home_currency,
    ).check()


def _cents_window(cents: int) -> tuple[Decimal, Decimal]:
    """A cent either side of an amount: any TotalAmt that parses to ``cents`` lies strictly within."""
    return Decimal(cents - 1) / 100, Decimal(cents + 1) / 100


# --------------------------------------------------------------------------- snapshot


class _Ref(msgspec.Struct):
    value: str | None = None


class _Slim(msgspec.Struct):
    """What the index keeps of a transaction; msgspec skips every other field.

    The types are QBO's; a record holding something else (a number for an Id…) makes the
    snapshot unindexable, and the usual read handles it.
    """

    Id: str | None = None
    DocNumber: str | None = None
    PaymentRefNum: str | None = None
    TxnDate: str | None = None
    CustomerRef: _Ref | None = None
    VendorRef: _Ref | None = None
    TotalAmt: float | None = None


_SLIM = msgspec.json.Decoder(list[_Slim])
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])
_SPACE = b" \t\r\n"
_OPEN, _CLOSE = ord("["), ord("]")


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class _Block:
    offset: int  # file offset of the block's first element
    length: int  # bytes up to the end of its last element
    count: int


def _decode_at(buf: bytearray, start: int, end: int) -> list[_Slim] | None:
    """``buf[start:end]`` (elements and commas) decoded as an array, in place; None if it is not.

    The bytes just before and after are set to ``[`` and ``]`` for the call and then restored,
    so the block is decoded where it lies, without a copy.
    """
    before, after = buf[start - 1], buf[end]
    buf[start - 1], buf[end] = _OPEN, _CLOSE
    try:
        with memoryview(buf) as view:
            return _SLIM.decode(view[start - 1 : end + 1])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    finally:
        buf[start - 1], buf[end] = before, after


def _blocks(path: Path, block_bytes: int) -> Iterator[tuple[_Block, list[_Slim]]]:
    """The file's elements, decoded slim, a block of whole elements at a time.

    A block ends at a ``}`` followed by a comma and the next ``{``; whether that ``}`` closes a
    top-level element (not a nested one, nor text inside a string) is settled by decoding the
    block as an array: only a true end decodes. The separator found first is tried first after.
    """
    with path.open("rb") as fh:
        buf = bytearray(fh.read(block_bytes))
        lead = len(buf) - len(buf.lstrip(_SPACE))
        if buf[lead : lead + 1] != b"[":
            raise IndexUnavailable(f"{path}: not a JSON array")
        base, pos, eof, sep = 0, lead + 1, False, b""
        while True:
            while pos < len(buf) and buf[pos] in _SPACE:
                pos += 1
            if not eof:
                more = fh.read(block_bytes)
                eof = not more
                del buf[: pos - 1]  # one byte is kept before the next element: room for "["
                base, pos = base + pos - 1, 1
                buf += more
            if eof:
                end = len(buf.rstrip(_SPACE))
                if end == 0 or buf[end - 1] != _CLOSE or end - 1 < pos:
                    raise IndexUnavailable(f"{path}: not a JSON array")
                inner = len(buf[: end - 1].rstrip(_SPACE))
                if inner > pos:
                    rows = _decode_at(buf, pos, inner)
                    if rows is None:
                        raise IndexUnavailable(f"{path}: not a JSON array of {path.stem} objects")
                    yield _Block(base + pos, inner - pos, len(rows)), rows
                return
            cut = _cut(buf, pos, sep)
            if cut is None:
                continue  # no whole element yet: read on
            end, nxt, rows = cut
            sep = bytes(buf[end - 1 : nxt + 1])
            yield _Block(base + pos, end - pos, len(rows)), rows
            pos = nxt


def _cut(buf: bytearray, pos: int, sep: bytes) -> tuple[int, int, list[_Slim]] | None:
    """(end of the last whole element, start of the next, the elements) of ``buf[pos:]``."""
    tries = 0
    if sep:
        at = buf.rfind(sep, pos)
        while at > pos and tries < 8:
            tries += 1
            rows = _decode_at(buf, pos, at + 1)
            if rows is not None:
                return at + 1, at + len(sep) - 1, rows
            at = buf.rfind(sep, pos, at)
    at = buf.rfind(b"}", pos)
    while at > pos and tries < 64:
        nxt = _next_element(buf, at + 1)
        if nxt is not None:
            tries += 1
            rows = _decode_at(buf, pos, at + 1)
            if rows is not None:
                return at + 1, nxt, rows
        at = buf.rfind(b"}", pos, at)
    return None


def _next_element(buf: bytearray, i: int) -> int | None:
    """Where the next element starts if ``buf[i:]`` is blanks, a comma, blanks and ``{``."""
    n = len(buf)
    while i < n and buf[i] in _SPACE:
        i += 1
    if i >= n or buf[i] != ord(","):
        return None
    i += 1
    while i < n and buf[i] in _SPACE:
        i += 1
    return i if i < n and buf[i] == ord("{") else None


class _FileIndex:
    """One transaction file's slim columns and where each record lies."""

    def __init__(self, path: Path, entity: str, block_bytes: int = BLOCK_BYTES):
        self.path = path
        number_field = F.QBO_NUMBER_FIELD[entity]
        party_field = PARTY_FIELD.get(entity)
        self.blocks: list[_Block] = []
        ids: list[pa.Array] = []
        numbers: list[pa.Array] = []
        dates: list[pa.Array] = []
        parties: list[pa.Array] = []
        amounts: list[np.ndarray] = []
        for block, rows in _blocks(path, block_bytes):
            self.blocks.append(block)
            ids.append(pa.array([r.Id for r in rows], type=pa.string()))
            numbers.append(pa.array([getattr(r, number_field) or None for r in rows], type=pa.string()))
            dates.append(pa.array([r.TxnDate for r in rows], type=pa.string()))
            if party_field is not None:
                refs = [getattr(r, party_field) for r in rows]
                parties.append(pa.array([x.value if x is not None else None for x in refs], type=pa.string()))
            amounts.append(np.array([r.TotalAmt for r in rows], dtype=np.float64))  # None -> nan
        self.ids = pa.chunked_array(ids, type=pa.string())
        self.numbers = pa.chunked_array(numbers, type=pa.string())
        self.dates = pa.chunked_array(dates, type=pa.string())
        self.parties = pa.chunked_array(parties, type=pa.string()) if parties else None
        self.amounts = np.concatenate(amounts) if amounts else np.zeros(0)
        self.starts = np.cumsum([0, *(b.count for b in self.blocks)])

    def _in(self, column: pa.ChunkedArray, values: Sequence[str]) -> np.ndarray:
        if not values or len(column) == 0:
            return np.zeros(len(column), dtype=bool)
        found = pc.is_in(column, value_set=pa.array(sorted(values), type=pa.string()))
        return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)

    def matching(self, ids: Sequence[str], numbers: Sequence[str]) -> np.ndarray:
        """Positions of the records with one of the Ids or numbers."""
        return np.flatnonzero(self._in(self.ids, ids) | self._in(self.numbers, numbers))

    def of_party(self, wanted: Sequence[tuple[str, int]], window: tuple[date, date]) -> np.ndarray:
        """Positions of the records of a wanted (party, amount) dated within the window (a superset)."""
        if not wanted or self.parties is None:
            return np.zeros(0, dtype=np.int64)
        low, high = window[0].isoformat(), (window[1].isoformat() + "\uffff")
        day = self.dates
        placed = pc.and_(pc.greater_equal(day, low), pc.less_equal(day, high))
        placed_np = np.asarray(pc.fill_null(placed, False).to_numpy(zero_copy_only=False), dtype=bool)
        mask = np.zeros(len(self.ids), dtype=bool)
        by_party: dict[str, list[int]] = {}
        for party, cents in wanted:
            by_party.setdefault(str(party), []).append(int(cents))
        of_party = self._in(self.parties, list(by_party))
        rows = np.flatnonzero(of_party & placed_np)
        if len(rows):
            party_text = self.parties.take(pa.array(rows)).to_pylist()
            for row, party in zip(rows.tolist(), party_text, strict=True):
                value = self.amounts[row] * 100
                if any(abs(value - c) < 1.5 for c in by_party.get(str(party), ())):
                    mask[row] = True
        return np.flatnonzero(mask)

    def payloads(self, positions: np.ndarray) -> list[dict[str, Any]]:
        """The records at ``positions`` decoded in full, in file order (numbers as ``Decimal``)."""
        out: list[dict[str, Any]] = []
        positions = np.unique(positions)
        block_of = np.searchsorted(self.starts, positions, side="right") - 1
        with self.path.open("rb") as fh:
            for b in np.unique(block_of):
                block = self.blocks[int(b)]
                fh.seek(block.offset)
                raws = _RAWS.decode(b"[" + fh.read(block.length) + b"]")
                for p in positions[block_of == b]:
                    text = bytes(raws[int(p - self.starts[b])])
                    out.append(json.loads(text, parse_float=Decimal, parse_constant=_reject_constant))
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class TargetedSnapshot:
    """Snapshot records by key (see ``reconcile.explain_scope.QboFinder``)."""

    def __init__(self, folder: Path, params: RunParams, *, block_bytes: int = BLOCK_BYTES):
        self.folder = Path(folder)
        self.params = params
        self.block_bytes = block_bytes
        self._indexes: dict[str, _FileIndex | None] = {}
        self._base: QboData | None = None

    @property
    def description(self) -> str:
        """For progress lines: ``snapshot /path``."""
        return f"snapshot {self.folder}"

    def with_params(self, params: RunParams) -> TargetedSnapshot:
        """The same snapshot (its indexes, read once) for another window."""
        other = TargetedSnapshot(self.folder, params, block_bytes=self.block_bytes)
        other._indexes, other._base = self._indexes, self._base
        return other

    def close(self) -> None:
        """Nothing to release (files are opened per read)."""

    def _index(self, entity: str) -> _FileIndex | None:
        if entity not in self._indexes:
            path = self.folder / f"{F.QBO_ENTITY[entity]}.json"
            self._indexes[entity] = _FileIndex(path, entity, self.block_bytes) if path.is_file() else None
        return self._indexes[entity]

    def base(self) -> QboData:
        """Every reference record and the Preferences, read whole (small files)."""
        if self._base is None:
            from reconcile.sources.snapshot import _read_file

            payloads = {}
            for name in (*REFERENCE_ENTITIES, PREFERENCES):
                path = self.folder / f"{name}.json"
                if path.is_file():
                    payloads[name] = _read_file(path)
            self._base = _references(payloads)
        return self._base

    def find(self, keys: Keys) -> tuple[QboData, QboData]:
        """(the window pull's rows, the others) among the records carrying a key."""
        payloads: dict[str, list[dict[str, Any]]] = {}
        window = (self.params.date_from, self.params.date_to)
        for entity in [e for e in F.ENTITIES if e in self.params.entities]:
            index = self._index(entity)
            if index is None:
                continue
            hits = np.concatenate(
                [
                    index.matching(sorted(keys.qbo_ids.get(entity, ())), sorted(keys.numbers.get(entity, ()))),
                    index.of_party(sorted(keys.party_amounts.get(entity, ())), window),
                ]
            )
            if len(hits):
                payloads[F.QBO_ENTITY[entity]] = index.payloads(hits)
        return _split_window(payloads, self.params)

    def lookup(self, request: LookupRequest) -> QboData:
        """What ``SnapshotSource.lookup`` returns for ``request``."""
        payloads: dict[str, list[dict[str, Any]]] = {}
        for entity in F.ENTITIES:
            ids = sorted(str(i) for i in request.qbo_ids.get(entity, ()))
            numbers = sorted(str(n) for n in request.qbo_numbers.get(entity, ()))
            if not ids and not numbers:
                continue
            index = self._index(entity)
            if index is None:
                continue
            hits = index.matching(ids, numbers)
            if len(hits):
                payloads[F.QBO_ENTITY[entity]] = index.payloads(hits)
        if not payloads:
            return QboData.empty()
        data = qbo_data_from_payloads(payloads, in_window=False)
        return _select(data, _lookup_mask(data.transactions, request), in_window=False)


# --------------------------------------------------------------------------- live


class TargetedLive:
    """QBO records by key, asked of the API (see ``reconcile.explain_scope.QboFinder``)."""

    def __init__(self, company: CompanySettings, params: RunParams, *, client: Any = None):
        from reconcile.sources.qbo_auth import OAuthClient
        from reconcile.sources.qbo_client import QboClient

        if client is None:
            client = QboClient(company.qbo, OAuthClient(company.qbo, company=company.key), company=company.key)
        self.client = client
        self.company = company
        self.params = params
        self._answers: dict[str, list[dict[str, Any]]] = {}
        #: per entity: the Ids and numbers asked for (any date), and every record they returned
        self._asked_ids: dict[str, set[str]] = {}
        self._asked_numbers: dict[str, set[str]] = {}
        self._seen: dict[str, dict[str, dict[str, Any]]] = {}
        self._base: QboData | None = None

    @property
    def description(self) -> str:
        """For progress lines: ``QBO realm <id> (<environment>)``."""
        return f"QBO realm {self.company.qbo.realm_id} ({self.company.qbo.environment})"

    def with_params(self, params: RunParams) -> TargetedLive:
        """The same connection and answers so far, for another window."""
        other = TargetedLive(self.company, params, client=self.client)
        other._answers, other._asked_ids, other._asked_numbers = self._answers, self._asked_ids, self._asked_numbers
        other._seen, other._base = self._seen, self._base
        return other

    @property
    def queries_sent(self) -> int:
        """Queries sent to QBO so far (each is sent once)."""
        return len(self._answers)

    def _query(self, sql: str) -> list[dict[str, Any]]:
        if sql not in self._answers:
            self._answers[sql] = list(self.client.query_all(sql))
        return self._answers[sql]

    def base(self) -> QboData:
        """Every reference list (active and inactive records) and the Preferences, in parallel."""
        if self._base is None:
            from reconcile.sources.qbo_live import PREFERENCES_QUERY

            queries = {name: reference_query(name) for name in REFERENCE_ENTITIES}
            workers = max(1, min(len(queries), self.company.qbo.max_in_flight))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qbo-ref") as pool:
                futures = {name: pool.submit(self.client.query_all, sql) for name, sql in queries.items()}
                payloads: dict[str, list[dict[str, Any]]] = {n: list(f.result()) for n, f in futures.items()}
            payloads[PREFERENCES] = list(self.client.query_once(PREFERENCES_QUERY))
            self._base = _references(payloads)
        return self._base

    def _by_keys(self, entity: str, ids: Sequence[str], numbers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records with one of the Ids or numbers, any date; asked of QBO only for new keys."""
        asked_ids = self._asked_ids.setdefault(entity, set())
        asked_numbers = self._asked_numbers.setdefault(entity, set())
        seen = self._seen.setdefault(entity, {})
        for sql in lookup_queries(entity, set(ids) - asked_ids, set(numbers) - asked_numbers):
            for row in self._query(sql):
                seen.setdefault(str(row.get("Id")), row)
        asked_ids.update(ids)
        asked_numbers.update(numbers)
        number_field = F.QBO_NUMBER_FIELD[entity]
        wanted_ids, wanted_numbers = set(ids), set(numbers)
        return {
            key: row for key, row in seen.items() if key in wanted_ids or _text(row.get(number_field)) in wanted_numbers
        }

    def _of_party(self, entity: str, wanted: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        field = PARTY_FIELD.get(entity)
        out: dict[str, dict[str, Any]] = {}
        if field is None:
            return out
        start, end = quote(self.params.date_from.isoformat()), quote(self.params.date_to.isoformat())
        for party, cents in sorted(wanted):
            low, high = _cents_window(int(cents))
            sql = (
                f"SELECT * FROM {F.QBO_ENTITY[entity]} WHERE {field} = {quote(str(party))} "
                f"AND TotalAmt > {quote(str(low))} AND TotalAmt < {quote(str(high))} "
                f"AND TxnDate >= {start} AND TxnDate <= {end}"
            )
            for row in self._query(sql):
                out.setdefault(str(row.get("Id")), row)
        return out

    def find(self, keys: Keys) -> tuple[QboData, QboData]:
        """(the window pull's rows, the others) among the records carrying a key."""
        payloads: dict[str, list[dict[str, Any]]] = {}
        for entity in [e for e in F.ENTITIES if e in self.params.entities]:
            rows = self._by_keys(entity, sorted(keys.qbo_ids.get(entity, ())), sorted(keys.numbers.get(entity, ())))
            for key, row in self._of_party(entity, sorted(keys.party_amounts.get(entity, ()))).items():
                rows.setdefault(key, row)
            if rows:
                payloads[F.QBO_ENTITY[entity]] = list(rows.values())
        return _split_window(payloads, self.params)

    def lookup(self, request: LookupRequest) -> QboData:
        """What ``LiveSource.lookup`` returns for ``request`` (Id or number, any date)."""
        payloads: dict[str, list[dict[str, Any]]] = {}
        for entity in F.ENTITIES:
            ids = sorted(str(i) for i in request.qbo_ids.get(entity, ()))
            numbers = sorted(str(n) for n in request.qbo_numbers.get(entity, ()))
            if not ids and not numbers:
                continue
            rows = self._by_keys(entity, ids, numbers)
            payloads[F.QBO_ENTITY[entity]] = list(rows.values())
        if not any(payloads.values()):
            return QboData.empty()
        return qbo_data_from_payloads(payloads, in_window=False)

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()


# --------------------------------------------------------------------------- wiring


def open_qbo_finder(
    company: CompanySettings, *, snapshot_dir: Path | None, params: RunParams
) -> TargetedSnapshot | TargetedLive:
    """The snapshot folder's finder when given, else the live API's (``open_qbo_source``'s choice).

    Without a snapshot and without credentials: ``ConfigError`` (exit 2), as a run says it.
    """
    if snapshot_dir is not None:
        from reconcile.sources.snapshot import read_snapshot

        folder = Path(snapshot_dir)
        if not folder.is_dir():
            read_snapshot(folder)  # raises the one-line UsageError a run gives
        return TargetedSnapshot(folder, params)
    from reconcile.errors import ConfigError
    from reconcile.sources.qbo import NO_CREDENTIALS, has_credentials

    if not has_credentials(company):
        raise ConfigError([NO_CREDENTIALS])
    return TargetedLive(company, params)


__all__ = ["BLOCK_BYTES", "PARTY_FIELD", "IndexUnavailable", "TargetedLive", "TargetedSnapshot", "open_qbo_finder"]
