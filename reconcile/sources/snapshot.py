"""QBO snapshots (CONTRACTS §2): a folder with one ``<Entity>.json`` per QBO entity.

Each file holds a JSON array of entity objects exactly as QBO returns them inside
``QueryResponse``; a missing file means "QBO has none of that entity". Numbers are read as
``Decimal`` (no binary floats) and written back digit for digit, so a snapshot round trip is
exact. A snapshot is written whole or not at all: into a temporary folder beside the target,
then renamed into place, one element at a time (a million payloads are never held at once).

Two readers: ``read_snapshot`` gives every payload as a dict (the reference: its checks and
messages are the contract), ``open_snapshot`` gives a ``SnapshotFile`` per entity that finds
each record's byte span, decodes the records a chunk at a time for the parser (msgspec, numbers
as ``Decimal`` exactly as the reference gives them) and decodes one again when it is asked for,
so a run holds frames, not payload dicts (≈ 6 KB a parsed invoice). Any file the fast reader
cannot take goes through the reference, which raises the same one-line ``UsageError``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, overload

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import simplejson

from reconcile.errors import UsageError
from reconcile.sources.qbo_decode import decode_keys

#: File name pattern of a snapshot: ``<Entity>.json`` (``Invoice.json``, ``TaxCode.json``…).
SUFFIX = ".json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"QBO snapshot {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"QBO snapshot {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"QBO snapshot {path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except ValueError as exc:
        raise UsageError(f"QBO snapshot {path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise UsageError(f"QBO snapshot {path}: not a JSON array of {path.stem} objects (found {type(data).__name__})")
    for position, element in enumerate(data):
        if not isinstance(element, dict):
            raise UsageError(
                f"QBO snapshot {path}: element {position} is not a JSON object (found {type(element).__name__})"
            )
    return data


def _snapshot_files(folder: Path) -> list[Path]:
    """The ``<Entity>.json`` files of a snapshot folder, by name; ``UsageError`` for a bad folder."""
    if not folder.exists():
        raise UsageError(f"QBO snapshot {folder}: no such folder")
    if not folder.is_dir():
        raise UsageError(f"QBO snapshot {folder}: not a folder")
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix != SUFFIX or path.name.startswith("."):
            continue
        if not path.is_file():
            raise UsageError(f"QBO snapshot {path}: not a file")
        out.append(path)
    return out


def read_snapshot(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Entity name → payloads for every ``<Entity>.json`` in ``folder`` (numbers as ``Decimal``).

    Raises ``UsageError`` (one line, naming the folder or file) for a missing folder, a file that
    is not a JSON array, or an element that is not an object. Holds every payload: the snapshot
    source reads through ``open_snapshot`` instead, which does not.
    """
    return {path.stem: _read_file(path) for path in _snapshot_files(Path(folder))}


# --------------------------------------------------------------------------- reading without holding payloads

#: Records decoded at a time when a snapshot file is parsed (a few tens of MB of payload dicts).
CHUNK_RECORDS = 20_000

_RECORDS = msgspec.json.Decoder(list[msgspec.Raw])
_PAYLOAD = msgspec.json.Decoder(float_hook=Decimal)
_OPENING = re.compile(rb"[ \t\n\r]*\[[ \t\n\r]*")
_SEPARATOR = re.compile(rb"[ \t\n\r]*,[ \t\n\r]*")
_WHITESPACE_OR_COMMA = np.zeros(256, dtype=bool)
_WHITESPACE_OR_COMMA[list(b" \t\n\r,")] = True


class _Unreadable(ValueError):
    """A record the fast reader cannot decode (the reference reader then says why)."""


def _decode_record(text: bytes | memoryview) -> dict[str, Any]:
    """One record's payload, numbers as ``json.loads(..., parse_float=Decimal)`` gives them.

    msgspec first (fast); the standard library for what msgspec refuses but JSON allows (a lone
    surrogate escape, say); ``_Unreadable`` when neither takes it.
    """
    try:
        payload: dict[str, Any] = _PAYLOAD.decode(text)
        return payload
    except msgspec.DecodeError:
        pass
    try:
        payload = json.loads(bytes(text).decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _Unreadable(str(exc)) from None
    return payload


def _record_spans(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(start, end) byte offsets of each element of a JSON array of objects; ``None`` if it is not one.

    msgspec checks the array's structure and gives each element's length without building it
    (``msgspec.Raw``); the offsets follow from the lengths and the separators between elements,
    which are checked here (whitespace and one comma), so every span starts with ``{`` exactly
    where its element does. What this cannot take goes to the reference reader (``_read_file``).
    """
    try:
        records = _RECORDS.decode(data)
    except msgspec.DecodeError:  # not JSON, or not an array (ValidationError is a DecodeError)
        return None
    count = len(records)
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=count)
    del records
    opening = _OPENING.match(data)
    if opening is None:
        return None
    if not count:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = opening.end()
    starts = _uniform_starts(data, first, lengths)
    if starts is None:
        starts = _scanned_starts(data, first, lengths)
    ends = starts + lengths
    buffer = np.frombuffer(data, dtype=np.uint8)
    if not ((buffer[starts] == ord("{")).all() and (buffer[ends - 1] == ord("}")).all()):
        return None  # an element that is not an object
    return starts, ends


def _uniform_starts(data: bytes, first: int, lengths: np.ndarray) -> np.ndarray | None:
    """The elements' offsets when every separator is as long as the first one (the usual layout)."""
    if len(lengths) == 1:
        return np.array([first], dtype=np.int64)
    separator = _SEPARATOR.match(data, first + int(lengths[0]))
    if separator is None:
        return None
    gap = separator.end() - separator.start()
    starts = np.empty(len(lengths), dtype=np.int64)
    starts[0] = first
    np.cumsum(lengths[:-1] + gap, out=starts[1:])
    starts[1:] += first
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = starts[:-1] + lengths[:-1]
    between = buffer[ends[:, None] + np.arange(gap)]
    # each gap: whitespace and exactly one comma, followed by the next element's "{"
    if not _WHITESPACE_OR_COMMA[between].all() or not ((between == ord(",")).sum(axis=1) == 1).all():
        return None
    if not (buffer[starts] == ord("{")).all():
        return None
    return starts


def _scanned_starts(data: bytes, first: int, lengths: np.ndarray) -> np.ndarray:
    """The elements' offsets, separator by separator (for a file laid out unevenly)."""
    starts = [first]
    position = first
    match = _SEPARATOR.match
    for length in lengths[:-1].tolist():
        separator = match(data, position + length)
        position = separator.end() if separator is not None else position + length
        starts.append(position)
    return np.array(starts, dtype=np.int64)


class SnapshotFile:
    """One ``<Entity>.json`` of a snapshot: where each record lies, its records decoded on demand.

    Opening reads the file once to find each record's byte span and keeps only the spans (16
    bytes a record) and an open handle: ``chunks`` decodes the records a chunk at a time for the
    parser, ``payload`` decodes one record again when a writer or ``explain`` asks for it. The
    handle keeps reading the file that was opened even if the snapshot folder is replaced
    meanwhile (``write_snapshot`` swaps folders). A file the fast reader cannot take (not an
    array of objects, not UTF-8...) goes through the reference reader (``_read_file``): it raises
    the same one-line ``UsageError`` as ``read_snapshot``, or holds the payloads it decoded.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.stem
        self._keys: pa.Array | None = None
        self._index: tuple[pd.Index, np.ndarray] | None = None
        self._held: list[dict[str, Any]] | None = None
        self._handle: BinaryIO | None = None
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise UsageError(f"QBO snapshot {path}: cannot be read ({exc.strerror or exc})") from None
        try:
            data = handle.read()
            spans = _record_spans(data)
            del data
        except OSError as exc:
            handle.close()
            raise UsageError(f"QBO snapshot {path}: cannot be read ({exc.strerror or exc})") from None
        except BaseException:
            handle.close()
            raise
        if spans is None:
            handle.close()
            self._held = _read_file(self.path)  # raises the reason, unless only msgspec refused it
            self._starts = self._ends = np.zeros(len(self._held), dtype=np.int64)
            self._keys = _keys_of(self._held)
        else:
            self._handle = handle
            self._starts, self._ends = spans
            self._finalizer = weakref.finalize(self, handle.close)

    def __len__(self) -> int:
        return len(self._starts)

    def close(self) -> None:
        """Release the file (payloads can no longer be read)."""
        if self._handle is not None:
            self._finalizer()

    def _read(self, start: int, end: int) -> bytes:
        if self._handle is None or self._handle.closed:
            raise UsageError(f"QBO snapshot {self.path}: closed")
        data = os.pread(self._handle.fileno(), end - start, start)
        if len(data) != end - start:
            raise UsageError(f"QBO snapshot {self.path}: changed while the run read it")
        return data

    def _unreadable(self, position: int) -> UsageError:
        try:
            _read_file(self.path)  # the reference reader says where and why
        except UsageError as exc:
            return exc
        return UsageError(f"QBO snapshot {self.path}: element {position} cannot be read")

    def payload(self, position: int) -> dict[str, Any]:
        """The payload of the record at ``position`` (0-based, file order), decoded again."""
        if self._held is not None:
            return self._held[position]
        try:
            return _decode_record(self._read(int(self._starts[position]), int(self._ends[position])))
        except _Unreadable:
            raise self._unreadable(position) from None

    def chunks(self, size: int = CHUNK_RECORDS) -> Iterator[FileChunk]:
        """The records in file order, ``size`` at a time; records each one's key (``keys``) on the way."""
        keys: list[pa.Array] = []
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            chunk = FileChunk(self, start, stop)
            yield chunk
            keys.append(pa.array(chunk.keys(), type=pa.large_string()))
        if self._keys is None:
            self._keys = pa.concat_arrays(keys) if keys else pa.array([], type=pa.large_string())

    def _text(self, start: int, stop: int) -> bytearray | None:
        """Records ``start:stop`` as one JSON array, read from the file (``None`` when held)."""
        if self._held is not None:
            return None
        first, last = int(self._starts[start]), int(self._ends[stop - 1])
        text = bytearray(last - first + 2)
        text[0:1], text[-1:] = b"[", b"]"
        text[1:-1] = self._read(first, last)
        try:  # the reference reads the file as UTF-8 text; msgspec skips unread strings unchecked
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise self._unreadable(start) from None
        return text

    def _decode_chunk(self, text: bytearray | None, start: int, stop: int) -> list[dict[str, Any]]:
        if text is None:
            assert self._held is not None
            return self._held[start:stop]
        try:
            payloads: list[dict[str, Any]] = _PAYLOAD.decode(text)
            return payloads
        except msgspec.DecodeError:
            pass
        view, first = memoryview(text), int(self._starts[start]) - 1
        out = []
        for position in range(start, stop):  # record by record: the standard library where msgspec refuses
            at = int(self._starts[position]) - first
            try:
                out.append(_decode_record(view[at : at + int(self._ends[position] - self._starts[position])]))
            except _Unreadable:
                raise self._unreadable(position) from None
        return out

    def keys(self) -> pa.Array:
        """Each record's key in file order: ``str(payload["Id"])`` (``"None"`` without one)."""
        if self._keys is None:
            for _ in self.chunks():
                pass
        assert self._keys is not None
        return self._keys

    def _unique_keys(self) -> tuple[pd.Index, np.ndarray]:
        """(each distinct key once, the position of its first record), built once."""
        if self._index is None:
            every = pd.Index(pd.arrays.ArrowStringArray(self.keys()))
            firsts = np.flatnonzero(~every.duplicated(keep="first"))
            self._index = (every[firsts], firsts)
        return self._index

    def first_positions(self) -> np.ndarray:
        """The positions of the records whose key no earlier record has, in file order."""
        return self._unique_keys()[1]

    def positions_of(self, keys: Iterable[str]) -> np.ndarray:
        """The position of the first record with each key (``-1`` where none has it)."""
        unique, firsts = self._unique_keys()
        found = unique.get_indexer(pd.Index(list(keys), dtype=unique.dtype))
        out = np.full(len(found), -1, dtype=np.int64)
        hit = found >= 0
        out[hit] = firsts[found[hit]]
        return out


class FileChunk:
    """Records ``start:stop`` of a ``SnapshotFile``: their JSON text, decoded as the parser asks.

    The parser reads invoices of the usual shapes from ``text`` as typed records (see
    ``reconcile.sources.qbo_parse.EncodedChunk``); anything else asks for ``payloads``.
    """

    def __init__(self, file: SnapshotFile, start: int, stop: int):
        self.file, self.start, self.stop = file, start, stop
        self.text = file._text(start, stop)

    def payloads(self) -> list[dict[str, Any]]:
        """The records as payload dicts (numbers with a fraction as ``Decimal``)."""
        return self.file._decode_chunk(self.text, self.start, self.stop)

    def keys(self) -> list[str]:
        """``str(payload.get("Id"))`` of each record, read without building the payloads."""
        if self.text is not None:
            try:
                return decode_keys(self.text)
            except msgspec.DecodeError:
                pass
        return [str(p.get("Id")) for p in self.payloads()]


def _keys_of(payloads: Sequence[Mapping[str, Any]]) -> pa.Array:
    return pa.array([str(p.get("Id")) for p in payloads], type=pa.large_string())


def open_snapshot(folder: Path) -> dict[str, SnapshotFile]:
    """Entity name → ``SnapshotFile`` for every ``<Entity>.json`` in ``folder`` (see ``read_snapshot``)."""
    out: dict[str, SnapshotFile] = {}
    try:
        for path in _snapshot_files(Path(folder)):
            out[path.stem] = SnapshotFile(path)
    except BaseException:
        for opened in out.values():
            opened.close()
        raise
    return out


class SnapshotPayloads(Mapping[str, Mapping[str, Any]]):
    """``{Id: payload}`` for some records of one snapshot file, each decoded when it is asked for.

    What ``QboData.raw`` holds for a snapshot: the record positions (8 bytes each) instead of the
    payload dicts (several KB each). ``positions`` are distinct, in the order the records were
    served; a repeated Id stands for its first copy, as QBO's own answers would have it.
    """

    def __init__(self, file: SnapshotFile, positions: np.ndarray):
        self.file = file
        self.positions = np.asarray(positions, dtype=np.int64)
        self._chosen: np.ndarray | None = None

    def _position(self, key: object) -> int:
        if not isinstance(key, str):
            return -1
        position = int(self.file.positions_of([key])[0])
        if position < 0:
            return -1
        if self._chosen is None:
            self._chosen = np.zeros(len(self.file), dtype=bool)
            self._chosen[self.positions] = True
        return position if self._chosen[position] else -1

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        position = self._position(key)
        if position < 0:
            raise KeyError(key)
        return self.file.payload(position)

    def __contains__(self, key: object) -> bool:
        return self._position(key) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.file.keys().take(pa.array(self.positions)).to_pylist())

    def __len__(self) -> int:
        return len(self.positions)

    def payload_list(self) -> PayloadList:
        """The payloads as a sequence, in order, each decoded when it is read."""
        return PayloadList(self.file, self.positions)


class PayloadList(Sequence[dict[str, Any]]):
    """Payloads of one snapshot file at given positions, decoded one at a time as they are read.

    Lets ``write_snapshot`` save a million served records without holding their dicts at once.
    Equal to a list holding the same payloads.
    """

    def __init__(self, file: SnapshotFile, positions: np.ndarray):
        self.file = file
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self.file.payload(int(p)) for p in self.positions[index]]
        return self.file.payload(int(self.positions[index]))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position in self.positions.tolist():
            yield self.file.payload(position)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PayloadList({self.file.path.name}, {len(self)} records)"


def _check_entity_name(name: str) -> None:
    if not name or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"not a QBO entity name for a snapshot file: {name!r}")


def write_snapshot(folder: Path, payloads_by_entity: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write one ``<Entity>.json`` per entity into ``folder``, atomically.

    The files go to a temporary folder beside ``folder`` that is then renamed into place, so
    readers see the old snapshot or the new one, never a mix. An existing ``folder`` is replaced
    only if it holds nothing but snapshot files (``*.json``); otherwise ``UsageError``. Decimals
    are written as JSON numbers exactly as they are (``Decimal("0.10")`` → ``0.10``).
    """
    folder = Path(folder)
    for name in payloads_by_entity:
        _check_entity_name(name)
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"QBO snapshot {folder}: exists and is not a folder")
        strangers = [p.name for p in folder.iterdir() if p.suffix != SUFFIX or not p.is_file()]
        if strangers:
            raise UsageError(
                f"QBO snapshot {folder}: exists and holds other files ({', '.join(sorted(strangers)[:3])}); "
                "choose an empty or new folder"
            )
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise UsageError(f"QBO snapshot {folder}: cannot create it ({exc.strerror or exc})") from None
    try:
        for name, payloads in payloads_by_entity.items():
            path = staging / f"{name}{SUFFIX}"
            with path.open("w", encoding="utf-8") as fh:
                _dump_array(payloads, fh)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(staging, 0o755)
        _swap_into_place(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"QBO snapshot {folder}: cannot be written ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _dump_array(payloads: Iterable[Mapping[str, Any]], fh: Any) -> None:
    """Write ``payloads`` as one JSON array, element by element (never all held at once).

    The text is what ``simplejson.dump(list(payloads), fh, indent=1)`` writes, then a newline:
    each element dumped with ``indent=1`` and shifted one level in (a JSON text holds no raw
    newline inside a string, so every newline of an element's text is a line break).
    """
    fh.write("[")
    first = True
    for payload in payloads:
        text = simplejson.dumps(payload, use_decimal=True, ensure_ascii=False, allow_nan=False, indent=1)
        fh.write("\n " if first else ",\n ")
        fh.write(text.replace("\n", "\n "))
        first = False
    fh.write("]\n" if first else "\n]\n")


def _swap_into_place(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing ``folder`` is moved aside first, then removed."""
    if not folder.exists():
        os.rename(staging, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    os.rmdir(old)
    os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except OSError:
        os.rename(old, folder)  # put the previous snapshot back
        raise
    shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "CHUNK_RECORDS",
    "SUFFIX",
    "FileChunk",
    "PayloadList",
    "SnapshotFile",
    "SnapshotPayloads",
    "open_snapshot",
    "read_snapshot",
    "write_snapshot",
]
