"""Findings assembly and the tie-out: totals per entity and currency, each finding's money effect, the bridge.

The totals (CONTRACTS §4) are computed straight from the transaction frames, per entity and per
currency (never added across currencies): AWRA total = Σ amount over in-window AWRA rows whose
status is the run's filter and whose data is usable (``data_ok``); QBO total = Σ amount over
in-window QBO rows on the filter's QBO side (``frames.QBO_SIDE_OF_STATUS``). A row's currency
is ``currencies``' rule: its own, else its counterpart's, else the home currency.

Effects follow one principle: for each pair or unpaired record, effect = (AWRA amount if the
AWRA row counts in the AWRA total, else 0) − (QBO amount if the QBO row counts in the QBO
total, else 0), carried by exactly one finding of that pair/record, the one that explains it
(``CARRIER_RANK``: lowest rank wins); all its other findings carry 0. The bridge is Σ effect per
category and currency, and ``unexplained = AWRA total − QBO total − Σ bridge`` must be 0 in
every currency. A pair whose two sides are in different currencies (a ``currency`` mismatch)
has its effect split: the AWRA amount in the AWRA currency (``effect_cents``, in the finding's
``currency``) and minus the QBO amount in the QBO currency (``other_effect_cents`` in
``other_currency``). When a compared pair's amounts differ within the amount tolerance no
finding is raised and the difference is shown on its own bridge line, ``within_tolerance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.currencies import UNKNOWN_CURRENCY, currency_codes, home_currency_of
from reconcile.match import (
    MATCH_METHODS,
    OUTCOMES,
    PAIR_OUTCOMES,
    PairingArrays,
    arrow_strings,
    arrow_take,
    bool_values,
    entity_codes,
    gather,
    in_filter_awra,
    int_values,
    label_codes,
    qbo_side,
    ready_awra,
    string_series,
    strings_from_codes,
    void_flags,
)
from reconcile.model import AwraData, CurrencyTotals, EntityTotals, QboData
from reconcile.params import RunParams

#: Bridge line for compared pairs whose amounts differ by no more than the tolerance.
WITHIN_TOLERANCE = "within_tolerance"

#: Which finding of a pair/record carries its money effect (lowest rank first). Ranks are set
#: by the stage that creates the finding in the internal column ``carrier_rank``.
CARRIER_RANK: Mapping[str, int] = {
    "data_quality": 0,  # a row left out of the totals for bad data
    "status": 1,  # void on one side only, or counted on one side only by the status filter
    "not_ready": 2,  # missing / duplicate / not ready (unpaired records) share this rank
    "txn_date_out_of_window": 3,
    "amount": 4,
    "currency": 5,  # same amount, another currency: the money moves between two currencies' totals
    "other_field": -1,  # tax, line_total, in-window date, party, number, exchange rate: never carry money
}

#: Internal columns findings carry between stages (dropped by ``frames.conform``).
ROW_COLUMNS: tuple[str, ...] = ("awra_row", "qbo_row", "match_row", "carrier_rank")


class RunArrays:
    """One run's per-row numpy arrays, each computed on first use and then kept.

    The transaction stages all read the same flags and codes (in window, usable, void, ready,
    in the totals, the pairing's rows and outcome codes); each is a pass over every row of a
    side (a million at scale), so ``reconcile_transactions`` builds one ``RunArrays`` and
    hands it to every stage instead of letting each stage derive them again. It lives only as
    long as the call: nothing is kept between runs. ``AWRA`` arrays are per row of
    ``awra.transactions``, ``QBO`` per row of ``qbo.transactions``, the others per ``MATCHES`` row.
    """

    def __init__(
        self,
        matches: pd.DataFrame,
        awra: AwraData,
        qbo: QboData,
        params: RunParams,
        pairing: PairingArrays | None = None,
    ) -> None:
        self.matches, self.awra, self.qbo, self.params = matches, awra, qbo, params
        if pairing is not None:
            # what pairing already derived (``match.pair_records``): stored where each cached
            # property keeps its value, so it is not derived a second time
            vars(self).update({f.name: getattr(pairing, f.name) for f in fields(pairing)})

    # the pairing (per MATCHES row; -1 for none)

    @cached_property
    def awra_row(self) -> np.ndarray:
        """``awra_row`` positions."""
        return self.matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)

    @cached_property
    def qbo_row(self) -> np.ndarray:
        """``qbo_row`` positions."""
        return self.matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)

    @cached_property
    def ref_row(self) -> np.ndarray:
        """``ref_row`` positions."""
        return self.matches["ref_row"].to_numpy(dtype=np.int64, na_value=-1)

    @cached_property
    def sync_row(self) -> np.ndarray:
        """``sync_row`` positions."""
        return self.matches["sync_row"].to_numpy(dtype=np.int64, na_value=-1)

    @cached_property
    def outcome(self) -> np.ndarray:
        """Index of ``outcome`` in ``match.OUTCOMES``."""
        return label_codes(self.matches["outcome"], OUTCOMES)

    @cached_property
    def method(self) -> np.ndarray:
        """Index of ``match_method`` in ``match.MATCH_METHODS`` (-1 for none)."""
        return label_codes(self.matches["match_method"], MATCH_METHODS)

    def with_outcome(self, outcomes: Sequence[str]) -> np.ndarray:
        """Mask of the rows whose outcome is one of ``outcomes``."""
        return np.isin(self.outcome, [OUTCOMES.index(o) for o in outcomes if o in OUTCOMES])

    @cached_property
    def is_pair(self) -> np.ndarray:
        """Rows that are pairs (``PAIR_OUTCOMES``)."""
        return self.with_outcome(PAIR_OUTCOMES)

    @cached_property
    def effects(self) -> np.ndarray:
        """Each row's share of AWRA total − QBO total (see ``row_effects``)."""
        left, right = self.effect_parts
        return (left - right).astype(np.int64)

    @cached_property
    def effect_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per ``MATCHES`` row: (AWRA amount counted, QBO amount counted); ``effects`` is their difference."""
        a_val = np.where(self.a_in_total, self.a_amount, 0)
        q_val = np.where(self.q_in_total, self.q_amount, 0)
        left = gather(a_val, self.awra_row, 0).astype(np.int64)
        right = gather(q_val, self.qbo_row, 0).astype(np.int64)
        return left, right

    # currencies (``reconcile.currencies``): codes into ``currency_names``

    @cached_property
    def _currencies(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        home = home_currency_of(self.qbo, self.params) or UNKNOWN_CURRENCY
        a, q, names = currency_codes(self.awra.transactions["currency"], self.qbo.transactions["currency"], (home,))
        a_eff, q_eff = a.copy(), q.copy()
        if "awra_row" in self.matches.columns and len(self.matches):
            # a record stating no currency takes its counterpart's
            both = self.is_pair & (self.awra_row >= 0) & (self.qbo_row >= 0)
            ar, qr = self.awra_row[both], self.qbo_row[both]
            take_q = a[ar] < 0
            a_eff[ar[take_q]] = q[qr[take_q]]
            take_a = q[qr] < 0
            q_eff[qr[take_a]] = a[ar[take_a]]
        fallback = names.index(home)
        a_eff[a_eff < 0] = fallback
        q_eff[q_eff < 0] = fallback
        return a_eff, q_eff, names

    @property
    def currency_names(self) -> tuple[str, ...]:
        """The currencies ``a_currency`` / ``q_currency`` code into."""
        return self._currencies[2]

    @property
    def a_currency(self) -> np.ndarray:
        """AWRA rows' currency code (never -1: unknown is ``UNKNOWN_CURRENCY``)."""
        return self._currencies[0]

    @property
    def q_currency(self) -> np.ndarray:
        """QBO rows' currency code (never -1)."""
        return self._currencies[1]

    # AWRA rows

    @cached_property
    def a_inwin(self) -> np.ndarray:
        """AWRA rows read for the window."""
        return bool_values(self.awra.transactions["in_window"], True)

    @cached_property
    def a_ok(self) -> np.ndarray:
        """AWRA rows with usable data."""
        return bool_values(self.awra.transactions["data_ok"], True)

    @cached_property
    def a_void(self) -> np.ndarray:
        """Voided AWRA rows."""
        return void_flags(self.awra.transactions)

    @cached_property
    def a_ready(self) -> np.ndarray:
        """AWRA rows whose status is ready to sync."""
        return ready_awra(self.awra.transactions, self.params)

    @cached_property
    def a_in_filter(self) -> np.ndarray:
        """AWRA rows whose status is the run's status filter."""
        return in_filter_awra(self.awra.transactions, self.params)

    @cached_property
    def a_in_total(self) -> np.ndarray:
        """AWRA rows counted in the AWRA total."""
        return self.a_inwin & self.a_in_filter & self.a_ok & (self.a_entity >= 0)

    @cached_property
    def a_entity(self) -> np.ndarray:
        """AWRA rows' entity code (``match.entity_codes`` for the run's entities)."""
        return entity_codes(self.awra.transactions["entity"], self.params.entities)

    @cached_property
    def a_amount(self) -> np.ndarray:
        """AWRA ``amount_cents`` (0 where missing)."""
        return int_values(self.awra.transactions["amount_cents"])[0]

    # QBO rows

    @cached_property
    def q_inwin(self) -> np.ndarray:
        """QBO rows read for the window."""
        return bool_values(self.qbo.transactions["in_window"], True)

    @cached_property
    def q_ok(self) -> np.ndarray:
        """QBO rows with usable data."""
        return bool_values(self.qbo.transactions["data_ok"], True)

    @cached_property
    def q_void(self) -> np.ndarray:
        """Voided QBO rows."""
        return void_flags(self.qbo.transactions)

    @cached_property
    def q_in_total(self) -> np.ndarray:
        """QBO rows counted in the QBO total (``qbo_in_total``, from the flags already derived)."""
        return self.q_inwin & qbo_side(self.qbo.transactions, self.params, self.q_void) & (self.q_entity >= 0)

    @cached_property
    def q_entity(self) -> np.ndarray:
        """QBO rows' entity code (``match.entity_codes`` for the run's entities)."""
        return entity_codes(self.qbo.transactions["entity"], self.params.entities)

    @cached_property
    def q_amount(self) -> np.ndarray:
        """QBO ``amount_cents`` (0 where missing)."""
        return int_values(self.qbo.transactions["amount_cents"])[0]


def awra_in_total(t: pd.DataFrame, params: RunParams) -> np.ndarray:
    """AWRA rows counted in the AWRA total: in window, status filter, usable data, entity run."""
    return (
        bool_values(t["in_window"], True)
        & in_filter_awra(t, params)
        & bool_values(t["data_ok"], True)
        & (entity_codes(t["entity"], params.entities) >= 0)
    )


def qbo_in_total(t: pd.DataFrame, params: RunParams) -> np.ndarray:
    """QBO rows counted in the QBO total: in window, on the filter's QBO side, entity run."""
    return bool_values(t["in_window"], True) & qbo_side(t, params) & (entity_codes(t["entity"], params.entities) >= 0)


def row_effects(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> np.ndarray:
    """Per ``MATCHES`` row, its share of AWRA total − QBO total (owned rows only; refs ignored)."""
    return RunArrays(matches, awra, qbo, params).effects


def assign_effects(
    findings: pd.DataFrame,
    matches: pd.DataFrame,
    effects: np.ndarray,
    tolerable: np.ndarray,
    arrays: RunArrays | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], int]]:
    """Put each ``MATCHES`` row's effect on its carrying finding; the rest carry 0.

    ``tolerable`` marks rows (compared pairs, both sides counted, one currency) whose amount
    difference is within tolerance: without a carrier their effect goes to the
    ``within_tolerance`` line. A carrier's ``currency`` is its record's (the AWRA side's, else
    the QBO side's); for a pair in two currencies the QBO part goes to ``other_currency`` /
    ``other_effect_cents``. ``arrays``: the run's ``RunArrays`` (they know the currencies;
    without them every row is taken to be in the finding's own currency). Returns the
    findings with ``effect_cents`` and that line's total per (entity, currency).
    """
    out = findings.copy()
    effect = np.zeros(len(out), dtype=np.int64)
    other = np.zeros(len(out), dtype=np.int64)
    split = np.zeros(len(out), dtype=bool)
    mrow = out["match_row"].to_numpy(dtype=np.int64, na_value=-1)
    rank = out["carrier_rank"].to_numpy(dtype=np.int64, na_value=-1)
    eligible = np.flatnonzero((mrow >= 0) & (rank >= 0))
    carried = np.zeros(len(matches), dtype=bool)
    row_currency = np.full(len(matches), -1, dtype=np.int64)
    if arrays is not None and len(matches):
        ar, qr = arrays.awra_row, arrays.qbo_row
        a_cur = gather(arrays.a_currency, ar, -1).astype(np.int64)
        q_cur = gather(arrays.q_currency, qr, -1).astype(np.int64)
        row_currency = np.where(ar >= 0, a_cur, q_cur)
        two = (ar >= 0) & (qr >= 0) & (a_cur != q_cur)
    else:
        two = np.zeros(len(matches), dtype=bool)
    if len(eligible):
        cand = pd.DataFrame(
            {
                "m": mrow[eligible],
                "rank": rank[eligible],
                "field": label_codes(out["field"], (*F.MISMATCH_FIELDS, "number"))[eligible],
                "pos": eligible,
            }
        ).sort_values(["m", "rank", "field", "pos"], kind="mergesort")
        first = cand.drop_duplicates("m")
        pos, m = first["pos"].to_numpy(), first["m"].to_numpy()
        effect[pos] = effects[m]
        carried[m] = True
        if arrays is not None and two[m].any():
            left, right = arrays.effect_parts
            split_rows = two[m]
            effect[pos[split_rows]] = left[m[split_rows]]
            other[pos[split_rows]] = -right[m[split_rows]]
            split[pos[split_rows]] = True
        if arrays is not None:
            known = row_currency[m] >= 0
            names = arrays.currency_names
            currency = np.array(out["currency"].astype(object).where(out["currency"].notna(), None), dtype=object)
            currency[pos[known]] = [names[c] for c in row_currency[m[known]]]
            out["currency"] = pd.array(currency, dtype="string")
    out["effect_cents"] = pd.array(effect, dtype="Int64")
    out["other_effect_cents"] = pd.arrays.IntegerArray(other, ~split)
    if split.any():
        names = arrays.currency_names if arrays is not None else ()
        q_cur_of = gather(arrays.q_currency, arrays.qbo_row, -1) if arrays is not None else np.zeros(0)
        other_currency = np.full(len(out), None, dtype=object)
        other_currency[split] = [names[int(c)] for c in q_cur_of[mrow[split]]]
        out["other_currency"] = pd.array(other_currency, dtype="string")
    loose = ~carried & tolerable & (effects != 0)
    tolerance: dict[tuple[str, str], int] = {}
    if loose.any():
        if arrays is not None:
            names_of = arrays.currency_names
            currency_of_row = np.array([names_of[c] if c >= 0 else UNKNOWN_CURRENCY for c in row_currency[loose]])
        else:
            currency_of_row = np.full(int(loose.sum()), UNKNOWN_CURRENCY)
        sums = pd.Series(effects[loose]).groupby([matches["entity"].to_numpy()[loose], currency_of_row]).sum()
        for key, v in sums.items():
            entity_key, currency_key = cast(tuple[str, str], key)
            tolerance[(str(entity_key), str(currency_key))] = int(v)
    return out, tolerance


def entity_totals(
    findings: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    tolerance_cents: Mapping[tuple[str, str], int] | None = None,
    arrays: RunArrays | None = None,
) -> tuple[EntityTotals, ...]:
    """Per entity (``params.entities`` order): counts, and per currency the totals and the bridge.

    Totals come from the transaction frames alone; the bridge from the findings'
    ``effect_cents`` (in their ``currency``) and ``other_effect_cents`` (in their
    ``other_currency``), plus ``within_tolerance`` per (entity, currency); so each currency's
    ``unexplained_cents`` is a real check. Call it again after other stages add findings (they
    carry effect 0) to refresh the counts. ``arrays``: the run's ``RunArrays`` (their pairing
    gives a record without a currency its counterpart's); without them a ``RunArrays`` with no
    pairing does.
    """
    run = arrays or RunArrays(pd.DataFrame(), awra, qbo, params)
    a_in, q_in, a_amt, q_amt = run.a_in_total, run.q_in_total, run.a_amount, run.q_amount
    a_ent, q_ent = run.a_entity, run.q_entity
    names = run.currency_names
    counts = findings.groupby(["entity", "category"]).size() if len(findings) else pd.Series(dtype="int64")
    bridge = _bridge_by_currency(findings)
    for (entity, currency), cents in (tolerance_cents or {}).items():
        if cents:
            key = (entity, currency, WITHIN_TOLERANCE)
            bridge[key] = bridge.get(key, 0) + int(cents)
    result = []
    for entity in params.entities:
        code = F.ENTITIES.index(entity)
        am, qm = a_in & (a_ent == code), q_in & (q_ent == code)
        a_cur, q_cur = run.a_currency[am], run.q_currency[qm]
        present = {names[c] for c in np.unique(a_cur)} | {names[c] for c in np.unique(q_cur)}
        present |= {key[1] for key, v in bridge.items() if key[0] == entity and v}
        category_counts = {c: 0 for c in F.CATEGORIES}
        for count_key, n in counts.items():
            pair = cast(tuple[str, str], count_key)
            if pair[0] == entity:
                category_counts[pair[1]] = int(n)
        currencies = []
        for currency in sorted(present):
            c = names.index(currency) if currency in names else -1
            a_rows, q_rows = a_cur == c, q_cur == c
            awra_total, qbo_total = _exact_sum(a_amt[am][a_rows]), _exact_sum(q_amt[qm][q_rows])
            lines = {cat: 0 for cat in F.CATEGORIES}
            for key, v in bridge.items():
                if key[0] == entity and key[1] == currency:
                    lines[key[2]] = lines.get(key[2], 0) + int(v)
            currencies.append(
                CurrencyTotals(
                    currency=currency,
                    awra_count=int(a_rows.sum()) if c >= 0 else 0,
                    qbo_count=int(q_rows.sum()) if c >= 0 else 0,
                    awra_total_cents=awra_total if c >= 0 else 0,
                    qbo_total_cents=qbo_total if c >= 0 else 0,
                    bridge=lines,
                    unexplained_cents=(awra_total - qbo_total if c >= 0 else 0) - sum(lines.values()),
                )
            )
        result.append(
            EntityTotals(
                entity=entity,
                awra_count=int(am.sum()),
                qbo_count=int(qm.sum()),
                category_counts=category_counts,
                currencies=tuple(currencies),
            )
        )
    return tuple(result)


def _exact_sum(cents: np.ndarray) -> int:
    """The sum of int64 cents as a Python int."""
    return int(cents.sum())


def _bridge_by_currency(findings: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Σ effect per (entity, currency, category).

    ``effect_cents`` counts in ``currency``, ``other_effect_cents`` in ``other_currency``.
    """
    out: dict[tuple[str, str, str], int] = {}
    if not len(findings):
        return out
    parts = [
        (findings["currency"], findings["effect_cents"]),
        (findings["other_currency"], findings["other_effect_cents"]),
    ]
    for currency, effect in parts:
        cents = effect.fillna(0).to_numpy(dtype=np.int64)
        moving = cents != 0
        if not moving.any():
            continue
        frame = pd.DataFrame(
            {
                "entity": findings["entity"].to_numpy()[moving],
                "currency": currency.astype("string").fillna(UNKNOWN_CURRENCY).to_numpy()[moving],
                "category": findings["category"].to_numpy()[moving],
                "e": cents[moving],
            }
        )
        for key, v in frame.groupby(["entity", "currency", "category"])["e"].sum().items():
            entity_key, currency_key, category_key = cast(tuple[str, str, str], key)
            k = (str(entity_key), str(currency_key), str(category_key))
            out[k] = out.get(k, 0) + int(v)
    return out


# --------------------------------------------------------------------------------------------
# findings assembly


def cents_text(values: pd.Series) -> pd.Series:
    """Integer cents as decimal text (``1250`` → ``"12.50"``); ``<NA>`` stays missing."""
    cents = pa.array(values.to_numpy(dtype=np.int64, na_value=0))
    missing = values.isna().to_numpy(dtype=bool)
    absolute = pc.abs(cents)
    units = pc.cast(pc.divide(absolute, 100), pa.string())
    hundredths = pc.utf8_lpad(
        pc.cast(pc.subtract(absolute, pc.multiply(pc.divide(absolute, 100), 100)), pa.string()), 2, "0"
    )
    sign = pc.if_else(pc.less(cents, 0), "-", "")
    text = pc.binary_join_element_wise(sign, units, ".", hundredths, "")
    text = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
    out = pd.Series(pd.array(text, dtype="string"))
    out.index = values.index
    return out


def date_text(values: pd.Series) -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text; missing stays missing."""
    return values.dt.strftime("%Y-%m-%d").astype("string")


#: Findings under construction: column name → numpy array (``"_n"`` → row count). Built by
#: ``new_findings``, turned into one ``FINDINGS`` frame by ``finish`` (one conform, one decorate).
Raw = dict[str, Any]


_STRING_COLUMNS = frozenset(name for name, kind in F.FINDINGS.columns.items() if kind is F.Kind.STRING)


def new_findings(n: int, **columns: object) -> Raw:
    """Findings under construction: ``n`` rows from arrays, Series or scalars.

    ``ROW_COLUMNS`` are integer arrays (or a scalar) with -1 for "none"; text columns are kept
    as Arrow arrays (or scalars) so that ``finish`` builds them without Python objects.
    """
    out: Raw = {"_n": n}
    for key, value in columns.items():
        if key in ROW_COLUMNS:
            out[key] = np.broadcast_to(np.asarray(-1 if value is None else value, dtype=np.int64), (n,)).copy()
        elif key in _STRING_COLUMNS:
            if isinstance(value, pd.Series):
                out[key] = arrow_strings(value).combine_chunks().cast(pa.large_string())
            elif isinstance(value, np.ndarray):
                out[key] = pa.array(value.astype(object), type=pa.large_string(), from_pandas=True)
            elif value is None:
                out[key] = pa.nulls(n, pa.large_string())
            else:
                out[key] = pa.repeat(pa.scalar(str(value), pa.large_string()), n)
        elif isinstance(value, int | np.integer) and not isinstance(value, bool):
            out[key] = np.full(n, value, dtype=np.int64)  # kept numeric: no object column to cast
        elif isinstance(value, pd.Series):
            out[key] = np.array([None if v is pd.NA else v for v in value.astype(object)], dtype=object)
        elif isinstance(value, np.ndarray):
            out[key] = value.astype(object)
        else:
            out[key] = np.full(n, value, dtype=object)
    return out


def _large(values: pa.Array) -> pa.Array:
    """A text array as ``large_string`` (a no-op for those ``new_findings`` builds)."""
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def finish(
    parts: list[Raw],
    matches: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    arrays: RunArrays | None = None,
) -> pd.DataFrame:
    """One ``FINDINGS`` frame (plus ``ROW_COLUMNS`` as Int64) from findings under construction.

    ``arrays``: the run's ``RunArrays`` when the caller has them (else built here).
    """
    parts = [p for p in parts if p["_n"]]
    n = sum(p["_n"] for p in parts)
    names = list(dict.fromkeys(k for p in parts for k in p if k != "_n"))
    columns: dict[str, object] = {}
    for name in names:
        if name in _STRING_COLUMNS:
            # large_string throughout: pandas' own storage, so no cast of every column at the end
            chunks = [_large(p[name]) if name in p else pa.nulls(p["_n"], pa.large_string()) for p in parts]
            columns[name] = string_series(pa.chunked_array(chunks, type=pa.large_string()))
        elif name not in ROW_COLUMNS:
            columns[name] = np.concatenate([p.get(name, np.full(p["_n"], None, dtype=object)) for p in parts])
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    out = F.conform(frame, F.FINDINGS)
    for col in ROW_COLUMNS:
        chunks = [p.get(col, np.full(p["_n"], -1, dtype=np.int64)) for p in parts]
        values = np.concatenate([*chunks, np.zeros(0, dtype=np.int64)]).astype(np.int64)
        out[col] = pd.arrays.IntegerArray(values, values < 0)
    return decorate(out, matches, awra, qbo, params, arrays)


def decorate(
    findings: pd.DataFrame,
    matches: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    arrays: RunArrays | None = None,
) -> pd.DataFrame:
    """Fill what a finding shows about its record(s) from ``awra_row`` / ``qbo_row``.

    Only missing values are filled: ids and number, ``party`` (AWRA party's name, else QBO's),
    ``txn_date`` and ``amount_cents`` (AWRA's, else QBO's), ``currency`` (the record's currency
    by ``reconcile.currencies``' rule, AWRA side first), ``sync_status``, ``retry_count`` and
    ``message`` from the AWRA record's latest sync attempt, and ``run_id``.
    """
    out = findings.copy()
    if len(out) == 0:
        return out
    a, q, sl = awra.transactions, qbo.transactions, awra.sync_log
    ar = out["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = out["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)

    def fill(col: str, *sources: tuple[pd.Series, np.ndarray]) -> None:
        # each source (a column and the rows to read it at, -1 none) fills what is still
        # missing, and is read only at those rows
        cur = out[col]
        if isinstance(cur.dtype, pd.StringDtype):
            text = arrow_strings(cur).combine_chunks()
            for values, rows in sources:
                need = text.is_null().to_numpy(zero_copy_only=False) & (rows >= 0)
                if need.any():
                    found = arrow_take(values, rows[need]).combine_chunks().cast(text.type)
                    text = pc.replace_with_mask(text, pa.array(need), found)
            out[col] = string_series(text).set_axis(out.index)
            return
        is_date = pd.api.types.is_datetime64_dtype(cur.dtype)
        numbers, missing = (column.copy() for column in _number_values(cur, is_date))  # written below
        for values, rows in sources:
            need = missing & (rows >= 0)
            if need.any():
                found, found_missing = _number_values(values, is_date)
                numbers[need] = found[rows[need]]
                missing[need] = found_missing[rows[need]]
        if is_date:
            dates = np.where(missing, np.iinfo(np.int64).min, numbers).view("datetime64[ns]")
            out[col] = pd.Series(dates, index=out.index).astype(cur.dtype)
        else:
            out[col] = pd.Series(pd.arrays.IntegerArray(numbers, missing), index=out.index).astype(cur.dtype)

    fill("awra_id", (a["id"], ar))
    fill("awra_number", (a["number"], ar))
    fill("qbo_id", (q["id"], qr))
    fill("party", (a["party_name"], ar), (q["party_name"], qr))
    fill("txn_date", (a["txn_date"], ar), (q["txn_date"], qr))
    fill("amount_cents", (a["amount_cents"], ar), (q["amount_cents"], qr))
    run = arrays or RunArrays(matches, awra, qbo, params)
    _fill_currency(out, run, ar, qr)
    # latest sync attempt of the AWRA record
    sync_of_row = np.full(len(a), -1, dtype=np.int64)
    mr, sr = run.awra_row, run.sync_row
    sync_of_row[mr[mr >= 0]] = sr[mr >= 0]
    srow = gather(sync_of_row, ar, -1).astype(np.int64)
    fill("sync_status", (sl["status"], srow))
    fill("retry_count", (sl["retry_count"], srow))
    fill("message", (sl["message"], srow))
    run_id = pa.repeat(pa.scalar(params.run_id, pa.large_string()), len(out))
    out["run_id"] = string_series(run_id).set_axis(out.index)
    return out


def _fill_currency(out: pd.DataFrame, run: RunArrays, ar: np.ndarray, qr: np.ndarray) -> None:
    """Fill the missing ``currency`` of findings on a record: the AWRA row's, else the QBO row's."""
    need = out["currency"].isna().to_numpy(dtype=bool) & ((ar >= 0) | (qr >= 0))
    if not need.any():
        return
    codes = np.where(ar >= 0, gather(run.a_currency, ar, -1), gather(run.q_currency, qr, -1)).astype(np.int64)
    filled = strings_from_codes(np.where(need, codes, -1), run.currency_names)
    out["currency"] = out["currency"].fillna(filled.set_axis(out.index))


def _number_values(values: pd.Series, is_date: bool) -> tuple[np.ndarray, np.ndarray]:
    """An integer or date column as (int64 values, missing mask); dates as nanoseconds."""
    missing = values.isna().to_numpy(dtype=bool)
    if is_date:
        return values.to_numpy(dtype="datetime64[ns]").view(np.int64), missing
    return values.to_numpy(dtype=np.int64, na_value=0), missing


def pair_rows(matches: pd.DataFrame, outcomes: tuple[str, ...] = PAIR_OUTCOMES) -> np.ndarray:
    """Positions of ``MATCHES`` rows whose outcome is one of ``outcomes``."""
    return np.flatnonzero(label_codes(matches["outcome"], tuple(dict.fromkeys(outcomes))) >= 0)
