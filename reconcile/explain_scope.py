"""The few records one record's explanation depends on, found by keys instead of reading the window.

``qbo-recon explain`` reconciles the days around one record (``probable_match_days`` either
side) and shows what the run would say about it. Reading that whole window is the cost of a
nightly run (a million-invoice company: ~230,000 invoices, ~230 API pages), yet pairing only
ever puts side by side rows that share a key:

* the QBO Id: a QBO record's ``id``, an AWRA record's ``qbo_link`` or the QBO Id of a succeeded
  sync attempt (pairing uses the latest one; every succeeded one is a superset);
* the number (AWRA ``number``, QBO DocNumber / PaymentRefNum), which also decides duplicates;
* for rows in the window, the party and amount: the QBO party (an AWRA record's party through
  its mappings) and ``amount_cents``, on which probable matches are made.

``gather_scope`` starts from the record's keys, asks two finders (AWRA, QBO) for every row
carrying a key, takes the keys of what came back, and repeats until no new key appears: the
result holds every row connected to the record, so pairing it gives the record the outcome the
whole window gives it (pairing is decided per group of rows sharing keys; see
``reconcile.match``). Rows beyond the window take part only as the full run takes them: by
``plan_lookups`` over the in-window rows found (every row that could ask for one shares a key
with it, so is among them) plus the explanation's own look-up (``also``), answered by the
finders exactly as ``read_sources`` answers it.

What this does not reproduce: the number of transactions a mapping gap blocks in the window
(``mapping_*`` findings say it in their message) needs the whole window. ``depends_on_window``
tells when a record uses a master whose mapping findings could say such a count, so that the
caller reads the window as before.

Pure: the finders do the I/O (``reconcile.sources.awra_targeted``,
``reconcile.sources.qbo_targeted``, or frames in tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pandas as pd

from reconcile import frames as F
from reconcile.match import plan_lookups
from reconcile.model import AwraData, LookupRequest, QboData
from reconcile.params import RunParams

#: ``entity -> keys`` (per kind of key).
KeySets = Mapping[str, frozenset[str]]
AmountKeySets = Mapping[str, frozenset[tuple[str, int]]]

#: Rounds of key expansion after which the scope is given up on (the caller reads the window).
MAX_ROUNDS = 12


@dataclass(frozen=True)
class Keys:
    """Keys to find rows by, per entity.

    ``awra_ids``: AWRA record ids; ``qbo_ids``: QBO Ids (QBO records with that Id, AWRA records
    linked to it by ``qbo_id`` or a succeeded sync); ``numbers``: AWRA number / QBO DocNumber or
    PaymentRefNum; ``party_amounts``: (QBO party Id, amount in cents) of records in the window
    (QBO records of that party, AWRA records whose party maps to it).
    """

    awra_ids: KeySets = field(default_factory=dict)
    qbo_ids: KeySets = field(default_factory=dict)
    numbers: KeySets = field(default_factory=dict)
    party_amounts: AmountKeySets = field(default_factory=dict)

    def _parts(self) -> tuple[Mapping[str, frozenset[Any]], ...]:
        return (self.awra_ids, self.qbo_ids, self.numbers, self.party_amounts)

    def is_empty(self) -> bool:
        """True when there is nothing to find."""
        return not any(any(v) for part in self._parts() for v in part.values())

    def minus(self, other: Keys) -> Keys:
        """The keys of this set that ``other`` does not hold."""

        def diff(
            a: Mapping[str, frozenset[object]], b: Mapping[str, frozenset[object]]
        ) -> dict[str, frozenset[object]]:
            return {
                e: frozenset(v) - b.get(e, frozenset()) for e, v in a.items() if frozenset(v) - b.get(e, frozenset())
            }

        parts = [diff(a, b) for a, b in zip(self._parts(), other._parts(), strict=True)]
        return Keys(*parts)  # type: ignore[arg-type]

    def union(self, other: Keys) -> Keys:
        """Every key of both sets."""

        def join(
            a: Mapping[str, frozenset[object]], b: Mapping[str, frozenset[object]]
        ) -> dict[str, frozenset[object]]:
            return {e: frozenset(a.get(e, frozenset())) | frozenset(b.get(e, frozenset())) for e in {*a, *b}}

        parts = [join(a, b) for a, b in zip(self._parts(), other._parts(), strict=True)]
        return Keys(*parts)  # type: ignore[arg-type]


class AwraFinder(Protocol):
    """Where the AWRA rows of a scope come from."""

    def base(self) -> AwraData:
        """Masters, mappings, the masters' sync log and data-quality rows; no transactions."""
        ...

    def find(self, keys: Keys) -> tuple[AwraData, AwraData]:
        """Records carrying any key: (those ``read_awra`` reads for the window, the others).

        The first part is exactly what ``read_awra`` returns for those records (``in_window``
        True, lines, sync log, data quality); the second holds the others (``in_window``
        False), whose keys matter. Party-amount keys only select records in the window. A
        record already returned is not returned again.
        """
        ...

    def lookup(self, request: LookupRequest) -> AwraData:
        """What ``lookup_awra`` returns for ``request``."""
        ...


class QboFinder(Protocol):
    """Where the QBO rows of a scope come from."""

    def base(self) -> QboData:
        """Every reference record and the home currency; no transactions."""
        ...

    def find(self, keys: Keys) -> tuple[QboData, QboData]:
        """Transactions carrying any key: (those the window pull returns, the others)."""
        ...

    def lookup(self, request: LookupRequest) -> QboData:
        """What the QBO source's ``lookup`` returns for ``request``."""
        ...


# --------------------------------------------------------------------------- keys


def _frozen(groups: Iterable[tuple[str, Any]]) -> dict[str, frozenset[Any]]:
    out: dict[str, set[Any]] = {}
    for entity, value in groups:
        if value is None or value is pd.NA or (isinstance(value, str) and not value):
            continue
        out.setdefault(str(entity), set()).add(value)
    return {e: frozenset(v) for e, v in out.items()}


def _present(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in values]


def awra_keys(awra: AwraData, params: RunParams) -> Keys:
    """The keys of AWRA's transaction rows (of ``params.entities``)."""
    tx = awra.transactions[awra.transactions["entity"].isin(params.entities).fillna(False).to_numpy(dtype=bool)]
    entities = [str(e) for e in tx["entity"]]
    ids = [str(i) for i in _present(tx["id"]) if i is not None]
    log = awra.sync_log
    ok = log[
        (log["status"] == "succeeded").fillna(False).to_numpy(dtype=bool)
        & (log["connector"] == params.connector).fillna(False).to_numpy(dtype=bool)
    ]
    wanted = set(zip(entities, [None if pd.isna(i) else str(i) for i in tx["id"]], strict=True))
    synced = [
        (str(t), q)
        for t, r, q in zip(ok["record_type"], ok["record_id"], _present(ok["qbo_id"]), strict=True)
        if (str(t), None if pd.isna(r) else str(r)) in wanted
    ]
    links = list(zip(entities, _present(tx["qbo_link"]), strict=True)) + synced
    return Keys(
        awra_ids=_frozen(zip(entities, _present(tx["id"]), strict=True)) if ids else {},
        qbo_ids=_frozen((e, str(v)) for e, v in links if v is not None),
        numbers=_frozen((e, str(v)) for e, v in zip(entities, _present(tx["number"]), strict=True) if v is not None),
        party_amounts=_frozen(_awra_party_amounts(awra, tx)),
    )


def _awra_party_amounts(awra: AwraData, tx: pd.DataFrame) -> list[tuple[str, tuple[str, int]]]:
    """(entity, (QBO party, cents)) of AWRA rows in the window, through every mapping of the party."""
    maps = awra.mappings
    mapped: dict[tuple[str, str], set[str]] = {}
    for t, a, q in zip(maps["mapping_type"], maps["awra_id"], _present(maps["qbo_id"]), strict=True):
        if q is not None and not pd.isna(t) and not pd.isna(a):
            mapped.setdefault((str(t), str(a)), set()).add(str(q))
    out = []
    for e, party, cents, inwin in zip(
        tx["entity"], _present(tx["party_id"]), _present(tx["amount_cents"]), _present(tx["in_window"]), strict=True
    ):
        party_type = F.PARTY_TYPE.get(str(e))
        if party_type is None or party is None or cents is None or inwin is None or not bool(inwin):
            continue
        for qbo_party in mapped.get((party_type, str(party)), ()):
            out.append((str(e), (qbo_party, int(cents))))  # type: ignore[call-overload]
    return out


def qbo_keys(qbo: QboData, params: RunParams) -> Keys:
    """The keys of QBO's transaction rows (of ``params.entities``)."""
    tx = qbo.transactions[qbo.transactions["entity"].isin(params.entities).fillna(False).to_numpy(dtype=bool)]
    entities = [str(e) for e in tx["entity"]]
    amounts = [
        (e, (str(p), int(c)))  # type: ignore[call-overload]
        for e, p, c, w in zip(
            entities, _present(tx["party_id"]), _present(tx["amount_cents"]), tx["in_window"], strict=True
        )
        if p is not None and c is not None and w is not None and bool(w) and F.PARTY_TYPE.get(e)
    ]
    return Keys(
        qbo_ids=_frozen((e, str(v)) for e, v in zip(entities, _present(tx["id"]), strict=True) if v is not None),
        numbers=_frozen((e, str(v)) for e, v in zip(entities, _present(tx["number"]), strict=True) if v is not None),
        party_amounts=_frozen(amounts),
    )


# --------------------------------------------------------------------------- the scope


class ScopeTooWide(Exception):
    """The keys kept growing for ``MAX_ROUNDS`` rounds: read the window instead."""


def gather_scope(
    awra_finder: AwraFinder,
    qbo_finder: QboFinder,
    params: RunParams,
    seed: Keys,
    also: LookupRequest,
) -> tuple[AwraData, QboData]:
    """Both sides as ``read_sources`` gives them, restricted to the rows connected to ``seed``.

    Rows in the window come from ``find`` rounds until no new key appears; rows beyond it from
    ``lookup`` of what ``plan_lookups`` asks for those rows, plus ``also``.
    """
    awra_window, awra_beyond = AwraData.empty(), AwraData.empty()
    qbo_window, qbo_beyond = QboData.empty(), QboData.empty()
    asked = Keys()
    keys = seed
    for _ in range(MAX_ROUNDS):
        new = keys.minus(asked)
        if new.is_empty():
            break
        aw_in, aw_out = awra_finder.find(new)
        q_in, q_out = qbo_finder.find(new)
        awra_window, awra_beyond = awra_window.extended(aw_in), awra_beyond.extended(aw_out)
        qbo_window, qbo_beyond = qbo_window.extended(q_in), qbo_beyond.extended(q_out)
        asked = asked.union(new)
        found = [
            awra_keys(_with_mappings(awra_window, awra_finder), params),
            awra_keys(_with_mappings(awra_beyond, awra_finder), params),
            qbo_keys(qbo_window, params),
            qbo_keys(qbo_beyond, params),
        ]
        for more in found:
            keys = keys.union(more)
    else:
        if not keys.minus(asked).is_empty():
            raise ScopeTooWide(f"the record's keys still grew after {MAX_ROUNDS} rounds")
    awra = awra_finder.base().extended(awra_window)
    qbo = qbo_finder.base().extended(qbo_window)
    lookups = plan_lookups(awra, qbo, params).merged(also)
    if not lookups.is_empty():
        awra = awra.extended(awra_finder.lookup(lookups))
        qbo = qbo.extended(qbo_finder.lookup(lookups))
    return awra, qbo


def _with_mappings(data: AwraData, finder: AwraFinder) -> AwraData:
    """``data`` with the finder's masters and mappings (a party's QBO Id is read through them)."""
    base = finder.base()
    return replace(data, masters=base.masters, mappings=base.mappings)


def depends_on_window(explanation: Mapping[str, object], awra: AwraData) -> bool:
    """Whether the explanation's mapping section could differ from the whole window's.

    A mapping finding says how many transactions in the window the gap blocks, which only the
    whole window can count. Whether a master has a mapping finding at all is the same in the
    scope, except where other transactions of the window decide it (a master counts when it
    is active or used; two AWRA records mapping to one QBO record). So: True when a master the
    record uses has a mapping finding in the scope, is inactive, or shares its QBO record with
    another AWRA record of its type.
    """
    masters = explanation.get("mappings") or []
    if not isinstance(masters, list) or not masters:
        return False
    m = awra.masters
    inactive = {
        (str(t), str(i))
        for t, i, a in zip(m["master_type"], m["id"], m["active"], strict=True)
        if not pd.isna(a) and not bool(a)
    }
    maps = awra.mappings
    targets: dict[tuple[str, str], int] = {}
    for t, q in zip(maps["mapping_type"], _present(maps["qbo_id"]), strict=True):
        if q is not None and str(q).strip():
            key = (str(t), str(q).strip())
            targets[key] = targets.get(key, 0) + 1
    for master in masters:
        kind, ident, qbo_id = str(master["type"]), str(master["awra_id"]), master.get("qbo_id")
        if master.get("findings") or master.get("state") not in ("ok", "unknown AWRA record"):
            return True
        if (kind, ident) in inactive:
            return True
        if qbo_id and targets.get((kind, str(qbo_id).strip()), 0) > 1:
            return True
    return False


__all__ = [
    "MAX_ROUNDS",
    "AwraFinder",
    "Keys",
    "QboFinder",
    "ScopeTooWide",
    "awra_keys",
    "depends_on_window",
    "gather_scope",
    "qbo_keys",
]
