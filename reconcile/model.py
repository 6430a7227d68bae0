"""The values that flow between stages: source data bundles and the run's results.

All are frozen; frames inside them are never modified in place by anyone (stages build new
frames). Writers (reports, history, email) only read a ``RunResult``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.params import RunParams


@dataclass(frozen=True)
class AwraData:
    """What the AWRA reader loaded, as canonical frames (see ``reconcile.frames``)."""

    transactions: pd.DataFrame  # F.TRANSACTIONS (in window, all statuses; plus looked-up rows)
    lines: pd.DataFrame  # F.LINES
    masters: pd.DataFrame  # F.MASTERS (all master records, active or not)
    mappings: pd.DataFrame  # F.MAPPINGS
    sync_log: pd.DataFrame  # F.SYNC_LOG (attempts for the records read, and for master records)
    sync_runs: pd.DataFrame  # F.SYNC_RUNS
    data_quality: pd.DataFrame  # F.DATA_QUALITY

    def check(self) -> AwraData:
        """Verify every frame against its schema; returns self for chaining."""
        F.check_frame(self.transactions, F.TRANSACTIONS)
        F.check_frame(self.lines, F.LINES)
        F.check_frame(self.masters, F.MASTERS)
        F.check_frame(self.mappings, F.MAPPINGS)
        F.check_frame(self.sync_log, F.SYNC_LOG)
        F.check_frame(self.sync_runs, F.SYNC_RUNS)
        F.check_frame(self.data_quality, F.DATA_QUALITY)
        return self

    def extended(self, more: AwraData) -> AwraData:
        """The union of this bundle and ``more`` (e.g. looked-up rows), without duplicating any row."""
        return AwraData(
            transactions=_union(self.transactions, more.transactions, F.TRANSACTIONS, ["entity", "id"]),
            lines=_union(self.lines, more.lines, F.LINES, ["entity", "txn_id", "line_no", "ref_id"]),
            masters=_union(self.masters, more.masters, F.MASTERS, ["master_type", "id"]),
            mappings=_union(self.mappings, more.mappings, F.MAPPINGS, ["mapping_type", "awra_id"]),
            sync_log=_union(self.sync_log, more.sync_log, F.SYNC_LOG, ["id"]),
            sync_runs=_union(self.sync_runs, more.sync_runs, F.SYNC_RUNS, ["id"]),
            data_quality=_union(self.data_quality, more.data_quality, F.DATA_QUALITY, None),
        )

    @classmethod
    def empty(cls) -> AwraData:
        """An AWRA bundle with no rows (a starting point for tests)."""
        return cls(
            transactions=F.empty_frame(F.TRANSACTIONS),
            lines=F.empty_frame(F.LINES),
            masters=F.empty_frame(F.MASTERS),
            mappings=F.empty_frame(F.MAPPINGS),
            sync_log=F.empty_frame(F.SYNC_LOG),
            sync_runs=F.empty_frame(F.SYNC_RUNS),
            data_quality=F.empty_frame(F.DATA_QUALITY),
        )


@dataclass(frozen=True)
class QboData:
    """What the QBO source pulled, as canonical frames plus the raw payloads.

    ``raw`` maps a QBO entity name (``Invoice``, ``Customer``…) to ``{Id: payload}``, the
    entity objects exactly as QBO returned them (for drill-down and snapshots).
    ``home_currency``: the company's home currency from QBO's Preferences
    (``CurrencyPrefs.HomeCurrency``), ``None`` when QBO did not say.
    """

    transactions: pd.DataFrame  # F.TRANSACTIONS (in window + looked-up rows, in_window False)
    lines: pd.DataFrame  # F.LINES
    references: pd.DataFrame  # F.REFERENCES (active and inactive)
    raw: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    home_currency: str | None = None

    def check(self) -> QboData:
        """Verify every frame against its schema; returns self for chaining."""
        F.check_frame(self.transactions, F.TRANSACTIONS)
        F.check_frame(self.lines, F.LINES)
        F.check_frame(self.references, F.REFERENCES)
        return self

    def extended(self, more: QboData) -> QboData:
        """The union of this bundle and ``more`` (e.g. looked-up rows), without duplicating any row.

        ``raw``: per entity, ``more``'s payloads over this bundle's (as ``dict.update`` would
        merge them), without reading a payload: a snapshot's are decoded only when asked for.
        """
        raw: dict[str, Mapping[str, Mapping[str, Any]]] = dict(self.raw)
        for entity, payloads in more.raw.items():
            raw[entity] = _merged(raw[entity], payloads) if entity in raw else payloads
        return QboData(
            transactions=_union(self.transactions, more.transactions, F.TRANSACTIONS, ["entity", "id"]),
            lines=_union(self.lines, more.lines, F.LINES, ["entity", "txn_id", "line_no", "ref_id"]),
            references=_union(self.references, more.references, F.REFERENCES, ["ref_type", "id"]),
            raw=raw,
            home_currency=self.home_currency or more.home_currency,
        )

    @classmethod
    def empty(cls) -> QboData:
        """A QBO bundle with no rows."""
        return cls(
            transactions=F.empty_frame(F.TRANSACTIONS),
            lines=F.empty_frame(F.LINES),
            references=F.empty_frame(F.REFERENCES),
        )


class _MergedPayloads(Mapping[str, Mapping[str, Any]]):
    """``{**earlier, **later}`` as a view: no payload is read until it is asked for."""

    def __init__(self, earlier: Mapping[str, Mapping[str, Any]], later: Mapping[str, Mapping[str, Any]]):
        self.earlier, self.later = earlier, later

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        return self.later[key] if key in self.later else self.earlier[key]

    def __contains__(self, key: object) -> bool:
        return key in self.later or key in self.earlier

    def __iter__(self) -> Iterator[str]:
        yield from self.earlier
        yield from (key for key in self.later if key not in self.earlier)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _merged(
    earlier: Mapping[str, Mapping[str, Any]], later: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Mapping[str, Any]]:
    if isinstance(earlier, dict) and isinstance(later, dict):
        return {**earlier, **later}
    return _MergedPayloads(earlier, later)


def _union(first: pd.DataFrame, second: pd.DataFrame, schema: F.Schema, key: list[str] | None) -> pd.DataFrame:
    """Rows of both frames; rows of ``second`` whose key is already in ``first`` are dropped.

    Keys compare as text, a missing value as "". Only the rows of ``first`` whose text columns
    of the key each hold a value found in ``second`` can match, so the key tuples are built for
    those rows alone (``second`` is usually a few look-ups against a whole window).
    """
    if not len(second):
        return first
    if not len(first):
        return F.conform(second, schema)
    if key is not None:
        candidates = np.ones(len(first), dtype=bool)
        for column in key:
            if schema.columns[column] is F.Kind.STRING:
                values = second[column].astype("string").fillna("").unique()
                candidates &= first[column].astype("string").fillna("").isin(values).to_numpy(dtype=bool)
        seen = pd.MultiIndex.from_frame(first.loc[candidates, key].astype("string").fillna(""))
        incoming = pd.MultiIndex.from_frame(second[key].astype("string").fillna(""))
        second = second[~incoming.isin(seen)]
    return F.concat_frames([first, second], schema)


@dataclass(frozen=True)
class LookupRequest:
    """Records to fetch beyond the window so a changed date is not reported as missing.

    Per entity: ``qbo_ids`` / ``qbo_numbers`` to look up in QBO (for AWRA records whose
    counterpart is not in QBO's window), and ``awra_links`` (QBO Ids) / ``awra_numbers`` to look up
    in AWRA (for QBO records whose counterpart is not in AWRA's window).
    """

    qbo_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    qbo_numbers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    awra_links: Mapping[str, frozenset[str]] = field(default_factory=dict)
    awra_numbers: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """True when nothing needs looking up."""
        return not any(
            any(values.values()) for values in (self.qbo_ids, self.qbo_numbers, self.awra_links, self.awra_numbers)
        )

    def merged(self, other: LookupRequest | None) -> LookupRequest:
        """Both requests in one: the union of every key set."""
        if other is None:
            return self

        def union(a: Mapping[str, frozenset[str]], b: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
            return {k: frozenset(a.get(k, frozenset())) | frozenset(b.get(k, frozenset())) for k in {*a, *b}}

        return LookupRequest(
            qbo_ids=union(self.qbo_ids, other.qbo_ids),
            qbo_numbers=union(self.qbo_numbers, other.qbo_numbers),
            awra_links=union(self.awra_links, other.awra_links),
            awra_numbers=union(self.awra_numbers, other.awra_numbers),
        )


@dataclass(frozen=True)
class CurrencyTotals:
    """One entity's counts, totals and tie-out bridge in one currency.

    ``bridge`` maps a category (or ``within_tolerance``) to the sum of the effects its findings
    carry in this currency; ``unexplained_cents = awra_total - qbo_total - sum(bridge)`` and
    must be 0.
    """

    currency: str
    awra_count: int
    qbo_count: int
    awra_total_cents: int
    qbo_total_cents: int
    bridge: Mapping[str, int]
    unexplained_cents: int

    @property
    def difference_cents(self) -> int:
        """AWRA total − QBO total."""
        return self.awra_total_cents - self.qbo_total_cents


@dataclass(frozen=True)
class EntityTotals:
    """One entity's side-by-side counts and, per currency, its totals and tie-out bridge.

    Counts (records, findings per category) are over every currency; money is only ever per
    currency (``currencies``, sorted by code). The money properties (``awra_total_cents``,
    ``qbo_total_cents``, ``bridge``, ``unexplained_cents``) give the one currency's figures
    when the entity has a single currency (0 and empty when it has none) and ``None`` when
    it has several: amounts in different currencies are never added.
    """

    entity: str
    awra_count: int
    qbo_count: int
    category_counts: Mapping[str, int]
    currencies: tuple[CurrencyTotals, ...] = ()

    @property
    def single(self) -> CurrencyTotals | None:
        """The entity's only currency, or an empty one when it has none; ``None`` with several."""
        if len(self.currencies) > 1:
            return None
        if self.currencies:
            return self.currencies[0]
        return CurrencyTotals("", 0, 0, 0, 0, {}, 0)

    @property
    def awra_total_cents(self) -> int | None:
        """The AWRA total when the entity has one currency (else ``None``)."""
        one = self.single
        return None if one is None else one.awra_total_cents

    @property
    def qbo_total_cents(self) -> int | None:
        """The QBO total when the entity has one currency (else ``None``)."""
        one = self.single
        return None if one is None else one.qbo_total_cents

    @property
    def bridge(self) -> Mapping[str, int] | None:
        """The bridge when the entity has one currency (else ``None``)."""
        one = self.single
        return None if one is None else one.bridge

    @property
    def unexplained_cents(self) -> int | None:
        """The unexplained amount when the entity has one currency (else ``None``)."""
        one = self.single
        return None if one is None else one.unexplained_cents

    @property
    def ties_out(self) -> bool:
        """True when every currency's unexplained amount is 0."""
        return all(c.unexplained_cents == 0 for c in self.currencies)


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced; writers only read it.

    * ``findings``: one frame, schema ``F.FINDINGS``.
    * ``totals``: per entity, in ``params.entities`` order (money per currency inside).
    * ``accounts``: the account impact, schema ``F.ACCOUNTS`` (largest differences first).
    * ``home_currency``: the company's home currency (QBO's Preferences, else the config), or
      ``None`` when unknown.
    * ``triage``: per failed/retrying/needs_attention/skipped record: cause, action, retry verdict.
    * ``safe_to_retry``: failed records whose cause is fixed now and that are not in QBO.
    * ``escalations``: escalation packets (JSON-ready dicts) for ``escalations.json``.
    * ``history``: counts new / persisting / resolved / reopened (and aging) once run history exists.
    * ``sources``: where the data came from (AWRA URL without password, QBO snapshot or realm).
    """

    params: RunParams
    findings: pd.DataFrame
    totals: tuple[EntityTotals, ...]
    triage: pd.DataFrame = field(default_factory=pd.DataFrame)
    safe_to_retry: pd.DataFrame = field(default_factory=pd.DataFrame)
    escalations: tuple[Mapping[str, Any], ...] = ()
    history: Mapping[str, Any] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    accounts: pd.DataFrame = field(default_factory=lambda: F.empty_frame(F.ACCOUNTS))
    home_currency: str | None = None
