"""Findings assembly and the tie-out: totals per entity, each finding's money effect, the bridge.

The totals (CONTRACTS §4) are computed straight from the transaction frames, independently of
the pairing: AWRA total = Σ amount over in-window AWRA rows whose status is the run's filter and
whose data is usable (``data_ok``); QBO total = Σ amount over in-window QBO rows on the filter's
QBO side (``frames.QBO_SIDE_OF_STATUS``).

Effects follow one principle: for each pair or unpaired record, effect = (AWRA amount if the
AWRA row counts in the AWRA total, else 0) − (QBO amount if the QBO row counts in the QBO
total, else 0), carried by exactly one finding of that pair/record, the one that explains it
(``CARRIER_RANK``: lowest rank wins); all its other findings carry 0. The bridge is Σ effect per
category, and ``unexplained = AWRA total − QBO total − Σ bridge`` must be 0. When a compared
pair's amounts differ within the amount tolerance no finding is raised and the difference is
shown on its own bridge line, ``within_tolerance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.match import (
    PAIR_OUTCOMES,
    arrow_strings,
    arrow_take,
    bool_values,
    entity_codes,
    gather,
    in_filter_awra,
    int_values,
    label_codes,
    qbo_side,
    string_series,
)
from reconcile.model import AwraData, EntityTotals, QboData
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
    "other_field": -1,  # tax, line_total, in-window date, party, currency, number: never carry money
}

#: Internal columns findings carry between stages (dropped by ``frames.conform``).
ROW_COLUMNS: tuple[str, ...] = ("awra_row", "qbo_row", "match_row", "carrier_rank")


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
    a_amt, _ = int_values(awra.transactions["amount_cents"])
    q_amt, _ = int_values(qbo.transactions["amount_cents"])
    a_val = np.where(awra_in_total(awra.transactions, params), a_amt, 0)
    q_val = np.where(qbo_in_total(qbo.transactions, params), q_amt, 0)
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    left = gather(a_val, ar, 0).astype(np.int64)
    right = gather(q_val, qr, 0).astype(np.int64)
    return (left - right).astype(np.int64)


def assign_effects(
    findings: pd.DataFrame, matches: pd.DataFrame, effects: np.ndarray, tolerable: np.ndarray
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Put each ``MATCHES`` row's effect on its carrying finding; the rest carry 0.

    ``tolerable`` marks rows (compared pairs, both sides counted) whose amount difference is
    within tolerance: without a carrier their effect goes to the ``within_tolerance`` line.
    Returns the findings with ``effect_cents`` and that line's total per entity.
    """
    out = findings.copy()
    effect = np.zeros(len(out), dtype=np.int64)
    mrow = out["match_row"].to_numpy(dtype=np.int64, na_value=-1)
    rank = out["carrier_rank"].to_numpy(dtype=np.int64, na_value=-1)
    eligible = np.flatnonzero((mrow >= 0) & (rank >= 0))
    carried = np.zeros(len(matches), dtype=bool)
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
        effect[first["pos"].to_numpy()] = effects[first["m"].to_numpy()]
        carried[first["m"].to_numpy()] = True
    out["effect_cents"] = pd.array(effect, dtype="Int64")
    loose = ~carried & tolerable & (effects != 0)
    tolerance: dict[str, int] = {}
    if loose.any():
        sums = pd.Series(effects[loose]).groupby(matches["entity"].to_numpy()[loose]).sum()
        tolerance = {str(k): int(v) for k, v in sums.items()}
    return out, tolerance


def entity_totals(
    findings: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    tolerance_cents: Mapping[str, int] | None = None,
) -> tuple[EntityTotals, ...]:
    """Per entity (``params.entities`` order): counts, totals, counts per category, the bridge.

    Totals come from the transaction frames alone; the bridge from the findings'
    ``effect_cents`` (plus ``within_tolerance``); so ``unexplained_cents`` is a real check.
    Call it again after other stages add findings (they carry effect 0) to refresh the counts.
    """
    a, q = awra.transactions, qbo.transactions
    a_in, q_in = awra_in_total(a, params), qbo_in_total(q, params)
    a_amt, _ = int_values(a["amount_cents"])
    q_amt, _ = int_values(q["amount_cents"])
    a_ent, q_ent = entity_codes(a["entity"], params.entities), entity_codes(q["entity"], params.entities)
    counts = findings.groupby(["entity", "category"]).size() if len(findings) else pd.Series(dtype="int64")
    effects = (
        findings.assign(e=findings["effect_cents"].fillna(0)).groupby(["entity", "category"])["e"].sum()
        if len(findings)
        else pd.Series(dtype="int64")
    )
    tolerance_cents = tolerance_cents or {}
    result = []
    for entity in params.entities:
        code = F.ENTITIES.index(entity)
        am, qm = a_in & (a_ent == code), q_in & (q_ent == code)
        awra_total, qbo_total = int(a_amt[am].sum()), int(q_amt[qm].sum())
        category_counts = {c: 0 for c in F.CATEGORIES}
        bridge = {c: 0 for c in F.CATEGORIES}
        for key, n in counts.items():
            pair: tuple[str, str] = tuple(key)  # type: ignore[arg-type,assignment]
            if pair[0] == entity:
                category_counts[pair[1]] = int(n)
        for key, e in effects.items():
            pair = tuple(key)  # type: ignore[arg-type,assignment]
            if pair[0] == entity:
                bridge[pair[1]] = int(e)
        tol = int(tolerance_cents.get(entity, 0))
        if tol:
            bridge[WITHIN_TOLERANCE] = tol
        result.append(
            EntityTotals(
                entity=entity,
                awra_count=int(am.sum()),
                qbo_count=int(qm.sum()),
                awra_total_cents=awra_total,
                qbo_total_cents=qbo_total,
                category_counts=category_counts,
                bridge=bridge,
                unexplained_cents=awra_total - qbo_total - sum(bridge.values()),
            )
        )
    return tuple(result)


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


def finish(parts: list[Raw], matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """One ``FINDINGS`` frame (plus ``ROW_COLUMNS`` as Int64) from findings under construction."""
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
    return decorate(out, matches, awra, qbo, params)


def decorate(
    findings: pd.DataFrame, matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams
) -> pd.DataFrame:
    """Fill what a finding shows about its record(s) from ``awra_row`` / ``qbo_row``.

    Only missing values are filled: ids and number, ``party`` (AWRA party's name, else QBO's),
    ``txn_date`` and ``amount_cents`` (AWRA's, else QBO's), ``sync_status``, ``retry_count``
    and ``message`` from the AWRA record's latest sync attempt, and ``run_id``.
    """
    out = findings.copy()
    if len(out) == 0:
        return out
    a, q, sl = awra.transactions, qbo.transactions, awra.sync_log
    ar = out["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = out["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)

    def take(frame: pd.DataFrame, col: str, rows: np.ndarray) -> pd.Series:
        if isinstance(frame[col].dtype, pd.StringDtype):
            return string_series(arrow_take(frame[col], rows)).set_axis(out.index)
        has = rows >= 0
        if not has.any():
            return pd.Series([None] * len(rows), index=out.index, dtype=object).astype(frame[col].dtype)
        vals = frame[col].take(np.where(has, rows, 0)).reset_index(drop=True)
        vals.index = out.index
        return vals.mask(pd.Series(~has, index=out.index))

    def fill(col: str, *values: pd.Series) -> None:
        cur = out[col]
        if isinstance(cur.dtype, pd.StringDtype):
            merged = pc.coalesce(arrow_strings(cur), *(arrow_strings(v) for v in values))
            out[col] = string_series(merged).set_axis(out.index)
            return
        for v in values:
            cur = cur.fillna(v.astype(cur.dtype))
        out[col] = cur

    fill("awra_id", take(a, "id", ar))
    fill("awra_number", take(a, "number", ar))
    fill("qbo_id", take(q, "id", qr))
    fill("party", take(a, "party_name", ar), take(q, "party_name", qr))
    fill("txn_date", take(a, "txn_date", ar), take(q, "txn_date", qr))
    fill("amount_cents", take(a, "amount_cents", ar), take(q, "amount_cents", qr))
    # latest sync attempt of the AWRA record
    sync_of_row = np.full(len(a), -1, dtype=np.int64)
    mr = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    sr = matches["sync_row"].to_numpy(dtype=np.int64, na_value=-1)
    sync_of_row[mr[mr >= 0]] = sr[mr >= 0]
    srow = gather(sync_of_row, ar, -1).astype(np.int64)
    fill("sync_status", take(sl, "status", srow))
    fill("retry_count", take(sl, "retry_count", srow))
    fill("message", take(sl, "message", srow))
    run_id = pa.repeat(pa.scalar(params.run_id, pa.large_string()), len(out))
    out["run_id"] = string_series(run_id).set_axis(out.index)
    return out


def pair_rows(matches: pd.DataFrame, outcomes: tuple[str, ...] = PAIR_OUTCOMES) -> np.ndarray:
    """Positions of ``MATCHES`` rows whose outcome is one of ``outcomes``."""
    return np.flatnonzero(label_codes(matches["outcome"], tuple(dict.fromkeys(outcomes))) >= 0)
