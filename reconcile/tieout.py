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

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.match import (
    PAIR_OUTCOMES,
    bool_values,
    entity_codes,
    gather,
    in_filter_awra,
    int_values,
    qbo_side,
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
    "other_field": 5,
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
    return (
        bool_values(t["in_window"], True)
        & qbo_side(t, params)
        & (entity_codes(t["entity"], params.entities) >= 0)
    )


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
                "field": out["field"].iloc[eligible].fillna("").to_numpy(dtype=object),
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
    a_ent, q_ent = a["entity"].to_numpy(dtype=object), q["entity"].to_numpy(dtype=object)
    counts = findings.groupby(["entity", "category"]).size() if len(findings) else pd.Series(dtype="int64")
    effects = (
        findings.assign(e=findings["effect_cents"].fillna(0)).groupby(["entity", "category"])["e"].sum()
        if len(findings)
        else pd.Series(dtype="int64")
    )
    tolerance_cents = tolerance_cents or {}
    result = []
    for entity in params.entities:
        am, qm = a_in & (a_ent == entity), q_in & (q_ent == entity)
        awra_total, qbo_total = int(a_amt[am].sum()), int(q_amt[qm].sum())
        category_counts = {c: 0 for c in F.CATEGORIES}
        bridge = {c: 0 for c in F.CATEGORIES}
        if entity in counts.index.get_level_values(0):
            for cat, n in counts.loc[entity].items():
                category_counts[str(cat)] = int(n)
            for cat, e in effects.loc[entity].items():
                bridge[str(cat)] = int(e)
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
    out = [None if pd.isna(v) else f"{'-' if v < 0 else ''}{abs(int(v)) // 100}.{abs(int(v)) % 100:02d}" for v in values]
    return pd.Series(pd.array(out, dtype="string"), index=values.index)


def date_text(values: pd.Series) -> pd.Series:
    """Dates as ``YYYY-MM-DD`` text; missing stays missing."""
    return values.dt.strftime("%Y-%m-%d").astype("string")


def new_findings(n: int, **columns: object) -> pd.DataFrame:
    """A findings frame of ``n`` rows (``FINDINGS`` + ``ROW_COLUMNS``) from arrays or scalars.

    ``ROW_COLUMNS`` are given as integer arrays with -1 for "none".
    """
    data: dict[str, object] = {}
    for key, value in columns.items():
        if key in ROW_COLUMNS:
            continue
        if isinstance(value, pd.Series):
            data[key] = value.reset_index(drop=True)
        elif isinstance(value, np.ndarray):
            data[key] = value
        else:
            data[key] = np.full(n, value, dtype=object)
    out = F.conform(pd.DataFrame(data, index=pd.RangeIndex(n)), F.FINDINGS)
    for col in ROW_COLUMNS:
        raw = columns.get(col)
        values = np.full(n, -1, dtype=np.int64) if raw is None else np.asarray(raw, dtype=np.int64)
        out[col] = pd.arrays.IntegerArray(values, values < 0)
    return out


def decorate(findings: pd.DataFrame, matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
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
        has = rows >= 0
        if not has.any():
            return pd.Series(pd.array([None] * len(rows), dtype=frame[col].dtype), index=out.index)
        vals = frame[col].reset_index(drop=True).take(np.where(has, rows, 0)).reset_index(drop=True)
        vals.index = out.index
        return vals.mask(pd.Series(~has, index=out.index))

    def fill(col: str, *values: pd.Series) -> None:
        cur = out[col]
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
    out["run_id"] = pd.array([params.run_id] * len(out), dtype="string")
    return out


def pair_rows(matches: pd.DataFrame, outcomes: tuple[str, ...] = PAIR_OUTCOMES) -> np.ndarray:
    """Positions of ``MATCHES`` rows whose outcome is one of ``outcomes``."""
    return np.flatnonzero(matches["outcome"].isin(list(outcomes)).to_numpy(dtype=bool))
