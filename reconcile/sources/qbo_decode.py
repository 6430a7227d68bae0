"""Decoding QBO's JSON answers with msgspec: pages kept as sent, payloads with exact decimals.

A query page is about 1 MB of JSON for 1,000 invoices. Decoding it into Python dicts is the
costliest step of a pull (≈ 7.5 ms a page with the standard library and ``Decimal``, as
python-quickbooks does it, against ≈ 1 ms of transport) and it holds the GIL, so page threads
cannot overlap it. A pull therefore keeps each answer as its bytes and reads only what paging
needs, and the payloads are decoded once, after the transfer:

* :func:`read_page` checks an answer's shape and reads the ``Id`` of each of its records
  (≈ 0.7 ms a page: msgspec skips the other fields without building them);
* :meth:`RawRows.payloads` decodes the kept records (≈ 5 ms a page): JSON numbers with a
  fraction or exponent become ``Decimal`` built from their text, integers stay ``int`` — the
  same values as ``json.loads(text, parse_float=Decimal)`` (python-quickbooks with
  ``use_decimal=True``), so no amount ever passes through a float.

An answer that is not JSON, or whose ``QueryResponse`` is not QBO's shape, raises
:class:`UnreadableAnswer`; the client retries it like a dropped connection (an answer cut short
is the usual cause).

:func:`decode_invoices` reads a JSON array of Invoice payloads straight into typed records
(:class:`InvoiceRecord`) holding only what the parser reads, for the usual shapes (objects
where QBO has objects); the other fields are skipped without being built, so a snapshot's
invoices cost about half the decoding and none of the dicts. Every value the parser reads is
typed ``Any`` and decoded as in a payload (``Decimal`` for a number with a fraction), so the
parser sees the same values either way; a field absent where absence means something other
than null is ``UNSET``. Any other shape makes it return ``None``: the caller decodes payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType


class UnreadableAnswer(ValueError):
    """A QBO answer that is not the JSON shape expected of it."""


class _Identified(msgspec.Struct):
    """Only a record's ``Id``: msgspec skips everything else without building it."""

    Id: Any = None


class _IdEnvelope(msgspec.Struct):
    """``{"QueryResponse": {"<Entity>": [{"Id": …}, …], "startPosition": 1, …}, "time": …}``."""

    QueryResponse: dict[str, list[_Identified] | int] | None = None


class _LooseEnvelope(msgspec.Struct):
    """The same envelope without assuming the types of QueryResponse's values."""

    QueryResponse: dict[str, msgspec.Raw] | None = None


_ID_ENVELOPE = msgspec.json.Decoder(_IdEnvelope)
_LOOSE_ENVELOPE = msgspec.json.Decoder(_LooseEnvelope)
_ANY_LIST = msgspec.json.Decoder(list[Any])
_PAYLOAD = msgspec.json.Decoder(float_hook=Decimal)


# --------------------------------------------------------------------------- typed invoices


class RefRecord(Struct, gc=False):
    """A QBO reference (``{"value": …, "name": …}``)."""

    value: Any = None
    name: Any = None


class MetaRecord(Struct, gc=False):
    """``MetaData``: only its last update time is read."""

    LastUpdatedTime: Any = None


class TaxDetailRecord(Struct, gc=False):
    """``TxnTaxDetail``: only its total (absent: ``UNSET``, which means 0 on an invoice)."""

    TotalTax: Any | UnsetType = UNSET


class SalesDetailRecord(Struct, gc=False):
    """``SalesItemLineDetail``: the item and the tax code."""

    ItemRef: RefRecord | None = None
    TaxCodeRef: RefRecord | None = None


class InvoiceLineRecord(Struct, gc=False):
    """One ``Line`` of an invoice (absent ``Amount``: ``UNSET``, which means 0)."""

    Id: Any = None
    LineNum: Any = None
    Description: Any = None
    Amount: Any | UnsetType = UNSET
    DetailType: Any = None
    SalesItemLineDetail: SalesDetailRecord | None = None


class InvoiceRecord(Struct, gc=False):
    """What the parser reads of an Invoice payload (``TotalAmt``/``HomeTotalAmt`` absent: ``UNSET``)."""

    Id: Any = None
    DocNumber: Any = None
    TxnDate: Any = None
    DueDate: Any = None
    CustomerRef: RefRecord | None = None
    CurrencyRef: RefRecord | None = None
    TotalAmt: Any | UnsetType = UNSET
    TxnTaxDetail: TaxDetailRecord | None = None
    PrivateNote: Any = None
    MetaData: MetaRecord | None = None
    ExchangeRate: Any = None
    HomeTotalAmt: Any | UnsetType = UNSET
    DepositToAccountRef: Any = None
    Line: list[InvoiceLineRecord] | None = None


class _Keyed(Struct, gc=False):
    Id: Any = None


_INVOICES = msgspec.json.Decoder(list[InvoiceRecord], float_hook=Decimal)
_KEYS = msgspec.json.Decoder(list[_Keyed], float_hook=Decimal)


def decode_invoices(text: bytes | bytearray | memoryview) -> list[InvoiceRecord] | None:
    """A JSON array of Invoice payloads as typed records; ``None`` if one of them has another shape."""
    try:
        records: list[InvoiceRecord] = _INVOICES.decode(text)
    except msgspec.DecodeError:  # a ValidationError (another shape) or not JSON: payloads decide
        return None
    return records


def decode_keys(text: bytes | bytearray | memoryview) -> list[str]:
    """``str(payload.get("Id"))`` of each payload of a JSON array of objects (numbers as ``Decimal``)."""
    return [str(record.Id) for record in _KEYS.decode(text)]


@dataclass(frozen=True)
class RawPage:
    """One query answer as QBO sent it, with the ``Id`` of each of its records.

    ``key`` is the QueryResponse member holding the records ("" when there are none, as past
    the last page); ``ids`` has one entry per record (``None``: no usable Id).
    """

    body: bytes
    key: str
    ids: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)

    def payloads(self) -> list[Any]:
        """The page's records as payloads (dicts with ``Decimal`` amounts)."""
        if not self.key:
            return []
        records: list[Any] = _PAYLOAD.decode(self.body)["QueryResponse"][self.key]
        return records


def read_page(body: bytes, entity: str) -> RawPage:
    """Check one query answer and read its records' ids.

    ``QueryResponse`` must be present; the records are the list under the entity's name, or the
    first list in it if the name differs (QBO spells a few names its own way).
    """
    try:
        response = _ID_ENVELOPE.decode(body).QueryResponse
    except msgspec.ValidationError:
        return _read_page_loosely(body, entity)
    except msgspec.DecodeError as exc:
        raise UnreadableAnswer(f"not JSON ({exc})") from None
    if response is None:
        raise UnreadableAnswer("no QueryResponse in the answer")
    key = (
        entity
        if isinstance(response.get(entity), list)
        else next((k for k, v in response.items() if isinstance(v, list)), "")
    )
    records = response.get(key, [])
    return RawPage(body, key, [_id_text(r.Id) for r in records] if isinstance(records, list) else [])


def _read_page_loosely(body: bytes, entity: str) -> RawPage:
    """``read_page`` for an answer whose QueryResponse holds other types than QBO's usual ones."""
    try:
        response = _LOOSE_ENVELOPE.decode(body).QueryResponse
    except msgspec.DecodeError as exc:  # QueryResponse is not an object
        raise UnreadableAnswer(f"QueryResponse is not QBO's ({exc})") from None
    if response is None:
        raise UnreadableAnswer("no QueryResponse in the answer")
    keys = [entity] if entity in response else []
    for key in keys + [k for k in response if k != entity]:
        try:
            records = _ANY_LIST.decode(response[key])
        except msgspec.ValidationError:
            continue
        return RawPage(body, key, [_id_text(r.get("Id")) if isinstance(r, dict) else None for r in records])
    return RawPage(body, "", [])


def _id_text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return str(value)


class RawRows:
    """The rows of one query as QBO sent them: its pages, and which rows of each page are kept."""

    def __init__(self) -> None:
        self._parts: list[tuple[RawPage, list[int] | None]] = []
        self._count = 0

    def add(self, page: RawPage, keep: list[int] | None = None) -> None:
        """Keep the rows of ``page`` at the positions ``keep`` (all of them when ``None``)."""
        self._parts.append((page, keep))
        self._count += len(page) if keep is None else len(keep)

    def __len__(self) -> int:
        return self._count

    def ids(self) -> list[str | None]:
        """The kept rows' ids, in order."""
        out: list[str | None] = []
        for page, keep in self._parts:
            out.extend(page.ids if keep is None else (page.ids[i] for i in keep))
        return out

    def payloads(self) -> list[Any]:
        """The kept rows as payloads, in order (dicts with ``Decimal`` amounts)."""
        rows: list[Any] = []
        for page, keep in self._parts:
            records = page.payloads()
            rows.extend(records if keep is None else (records[i] for i in keep))
        return rows


__all__ = [
    "InvoiceLineRecord",
    "InvoiceRecord",
    "RawPage",
    "RawRows",
    "UnreadableAnswer",
    "decode_invoices",
    "decode_keys",
    "read_page",
]
