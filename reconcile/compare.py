"""Compare paired records field by field: ``mismatch`` findings with exact-cent tolerances.

A pair is compared when its AWRA row passes the run's status filter and both rows have usable
data (``data_ok``). Fields (``FIELDS``): amount, tax_amount, line_total (Int64 cents,
``abs(AWRA − QBO) > tolerance``), txn_date (days; a pair with one side looked up beyond the
window always differs), party (the AWRA party's QBO mapping vs the QBO party ref; skipped when
either is unknown: mapping gaps are the mapping checks' findings), currency, status (void on
one side only) and, for probable pairs, number (the QBO entry carries another number or none).

A pair that is not compared but moves the totals (say an AWRA record outside the status filter
whose QBO twin is live) still gets the one finding that explains the money: ``txn_date`` when a
side lies beyond the window, else ``status``.

Everything is vectorized over the pairs; text is built only for the rows that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.match import (
    MATCH_METHODS,
    bool_values,
    day_values,
    in_filter_awra,
    int_values,
    label_codes,
    ready_awra,
    void_flags,
)
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.tieout import (
    CARRIER_RANK,
    Raw,
    awra_in_total,
    cents_text,
    date_text,
    finish,
    new_findings,
    pair_rows,
    row_effects,
)

#: The AWRA ↔ QBO field correspondence: mismatch field → the ``TRANSACTIONS`` column compared
#: on both sides (the same schema on both), and how.
FIELDS: Mapping[str, tuple[str, str]] = {
    "amount": ("amount_cents", "cents"),
    "tax_amount": ("tax_cents", "cents"),
    "line_total": ("line_total_cents", "cents"),
    "txn_date": ("txn_date", "days"),
    "party": ("party_id", "mapped"),
    "currency": ("currency", "text"),
    "status": ("is_void", "void"),
}

_CAUSE = {
    "amount": "the document total differs",
    "tax_amount": "the tax total differs (check the tax code mapping and rate)",
    "line_total": "the lines add up differently (a line added, removed or changed on one side)",
    "txn_date": "the transaction date differs",
    "party": "the customer/vendor differs from the AWRA party's QBO mapping",
    "currency": "the currency differs",
    "status": "voided on one side only",
    "number": "probably keyed by hand in QBO: same party, amount and near date, but another number",
}
_ACTION = {
    "amount": "find which side is wrong; correct QBO (AWRA is the source of record) or correct AWRA and re-sync",
    "tax_amount": "check the tax code mapping and the QBO tax rate, then correct the QBO transaction",
    "line_total": "compare the lines and correct the side that is wrong",
    "txn_date": "correct the date on the wrong side so both fall in the same period",
    "party": "correct the customer/vendor on the QBO transaction, or fix the party mapping",
    "currency": "correct the currency on the wrong side",
    "status": "void it on the other side too, or reinstate it where voided by mistake",
    "number": "confirm it is the same transaction; record its QBO Id in AWRA instead of syncing (a sync "
    "would create a duplicate)",
}


def compared_pairs(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> np.ndarray:
    """Per ``MATCHES`` row: a pair whose AWRA row passes the status filter, both data usable."""
    rows = pair_rows(matches, ("matched", "probable", "out_of_window"))
    out = np.zeros(len(matches), dtype=bool)
    if len(rows) == 0:
        return out
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    a, q = awra.transactions, qbo.transactions
    ok = in_filter_awra(a, params)[ar] & bool_values(a["data_ok"], True)[ar] & bool_values(q["data_ok"], True)[qr]
    out[rows] = ok
    return out


def compare_pairs(pairs: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """Mismatch findings for the pairs in ``pairs`` (a ``match.MATCHES`` frame).

    Returns ``frames.FINDINGS`` rows (category ``mismatch``) plus the internal columns
    ``tieout.ROW_COLUMNS`` (``match_row`` is the position in ``pairs``), with ``effect_cents``
    not yet assigned (0). Inputs are not modified.
    """
    return finish(compare_parts(pairs, awra, qbo, params), pairs, awra, qbo, params)


def compare_parts(pairs: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> list[Raw]:
    """``compare_pairs`` as findings under construction (see ``tieout.finish``)."""
    a, q = awra.transactions, qbo.transactions
    rows = pair_rows(pairs, ("matched", "probable", "out_of_window"))
    if len(rows) == 0:
        return []
    tol = params.tolerances
    ar = pairs["awra_row"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    qr = pairs["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)[rows]
    compared = compared_pairs(pairs, awra, qbo, params)[rows]
    oow = ~(bool_values(a["in_window"], True)[ar] & bool_values(q["in_window"], True)[qr])
    method_code = label_codes(pairs["match_method"], MATCH_METHODS)[rows]
    method = np.array([*MATCH_METHODS, ""], dtype=object)[method_code]
    parts: list[Raw] = []
    words = _ForcedWords(awra, qbo, params)

    av_void, qv_void = void_flags(a)[ar], void_flags(q)[qr]
    void_differs = av_void != qv_void
    # voided on one side: only the status is reported (the zero amounts follow from the void)
    fields_compared = compared & ~void_differs

    def emit(field: str, mask: np.ndarray, rank: object, awra_value: _Lazy, qbo_value: _Lazy, diff: _Lazy) -> None:
        sel = np.flatnonzero(mask)
        if len(sel) == 0:
            return
        cause = np.full(len(sel), _CAUSE[field], dtype=object)
        action = np.full(len(sel), _ACTION[field], dtype=object)
        for i in np.flatnonzero(~compared[sel]):
            cause[i], action[i] = words(field, int(ar[sel[i]]), int(qr[sel[i]]), cause[i], action[i])
        parts.append(
            new_findings(
                len(sel),
                entity=pairs["entity"].iloc[rows[sel]],
                category="mismatch",
                field=field,
                awra_value=_at(awra_value, sel),
                qbo_value=_at(qbo_value, sel),
                difference=_at(diff, sel),
                cause=cause,
                action=action,
                match_method=np.where(method[sel] == "", None, method[sel]),
                effect_cents=0,
                awra_row=ar[sel],
                qbo_row=qr[sel],
                match_row=rows[sel],
                carrier_rank=np.broadcast_to(np.asarray(rank, dtype=np.int64), mask.shape)[sel],
            )
        )

    def lazy(values: pd.Series, at: np.ndarray) -> pd.Series:
        return values.take(at).reset_index(drop=True)

    # money fields
    for field, col, rank in (
        ("amount", "amount_cents", CARRIER_RANK["amount"]),
        ("tax_amount", "tax_cents", CARRIER_RANK["other_field"]),
        ("line_total", "line_total_cents", CARRIER_RANK["other_field"]),
    ):
        av, an = int_values(a[col])
        qv, qn = int_values(q[col])
        av, an, qv, qn = av[ar], an[ar], qv[qr], qn[qr]
        limit = {"amount": tol.amount_cents, "tax_amount": tol.tax_cents, "line_total": tol.line_total_cents}[field]
        both = ~an & ~qn
        differs = both & (np.abs(av - qv) > limit)
        if field == "amount":
            differs |= an != qn  # a known amount against an unknown one cannot tie out
        mask = fields_compared & differs
        emit(
            field,
            mask,
            rank,
            _money_at(a[col], ar),
            _money_at(q[col], qr),
            _money_diff(av, qv, ~both),
        )

    # dates
    ad, adn = day_values(a["txn_date"])
    qd, qdn = day_values(q["txn_date"])
    ad, adn, qd, qdn = ad[ar], adn[ar], qd[qr], qdn[qr]
    dboth = ~adn & ~qdn
    date_differs = (dboth & (np.abs(ad - qd) > tol.date_days)) | oow
    # party through the mapping
    party_differs = ~pairs["party_agrees"].fillna(True).to_numpy(dtype=bool)[rows]
    # currency
    cur_a, cur_q = _codes_pair(a["currency"], q["currency"])
    ca, cq = cur_a[ar], cur_q[qr]
    currency_differs = (ca >= 0) & (cq >= 0) & (ca != cq)
    # status: void on one side only
    number_differs = method == "probable"

    # not compared, but moving the totals: one explaining finding
    effects = row_effects(pairs, awra, qbo, params)[rows]
    a_ok = bool_values(a["data_ok"], True)[ar]
    q_ok = bool_values(q["data_ok"], True)[qr]
    a_not_ready = bool_values(a["in_window"], True)[ar] & ~ready_awra(a, params)[ar]
    forced = ~compared & (effects != 0) & a_ok & q_ok & ~a_not_ready
    forced_date = forced & oow
    forced_status = forced & ~oow

    emit(
        "txn_date",
        (fields_compared & date_differs) | forced_date,
        np.where(oow, CARRIER_RANK["txn_date_out_of_window"], CARRIER_RANK["other_field"]),
        _Lazy(lambda s: date_text(lazy(a["txn_date"], ar[s]))),
        _Lazy(lambda s: date_text(lazy(q["txn_date"], qr[s]))),
        _Lazy(lambda s: _days_text(ad[s] - qd[s], ~dboth[s])),
    )
    emit(
        "party",
        fields_compared & party_differs,
        CARRIER_RANK["other_field"],
        _Lazy(lambda s: _party_awra(awra, ar[s])),
        _Lazy(lambda s: _party_qbo(qbo, qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    emit(
        "currency",
        fields_compared & currency_differs,
        CARRIER_RANK["other_field"],
        _Lazy(lambda s: lazy(a["currency"], ar[s])),
        _Lazy(lambda s: lazy(q["currency"], qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    a_void_in_window = av_void & bool_values(a["in_window"], True)[ar]
    emit(
        "status",
        ((compared | a_void_in_window) & a_ok & q_ok & void_differs) | forced_status,
        CARRIER_RANK["status"],
        _Lazy(lambda s: lazy(a["status"], ar[s])),
        _Lazy(lambda s: pd.Series(np.where(qv_void[s], "void", "live")).astype("string")),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    emit(
        "number",
        fields_compared & number_differs,
        CARRIER_RANK["other_field"],
        _Lazy(lambda s: lazy(a["number"], ar[s])),
        _Lazy(lambda s: lazy(q["number"], qr[s])),
        _Lazy(lambda s: pd.Series(pd.array([None] * len(s), dtype="string"))),
    )
    return parts


class _Lazy:
    """A column of values computed only for the selected rows."""

    def __init__(self, fn: Callable[[np.ndarray], pd.Series]):
        self.fn = fn

    def __call__(self, sel: np.ndarray) -> pd.Series:
        return self.fn(sel)


def _money_at(values: pd.Series, rows: np.ndarray) -> _Lazy:
    """Money values of ``values`` at ``rows[sel]`` as decimal text, computed on demand."""
    return _Lazy(lambda sel: cents_text(values.take(rows[sel]).reset_index(drop=True)))


def _money_diff(left: np.ndarray, right: np.ndarray, missing: np.ndarray) -> _Lazy:
    """``left - right`` cents at the selected rows as decimal text (missing where either is)."""
    return _Lazy(lambda sel: cents_text(_diff_series(left[sel] - right[sel], missing[sel])))


def _at(value: _Lazy, sel: np.ndarray) -> pd.Series:
    return value(sel).reset_index(drop=True)


def _diff_series(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    return pd.Series(pd.arrays.IntegerArray(values.astype(np.int64), missing))


def _days_text(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    return pd.Series(
        pd.array([None if m else str(int(v)) for v, m in zip(values, missing, strict=True)], dtype="string")
    )


def _codes_pair(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    joined = pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], ignore_index=True)
    codes, _ = pd.factorize(joined)
    return codes[: len(left)].astype(np.int64), codes[len(left) :].astype(np.int64)


def _party_awra(awra: AwraData, rows: np.ndarray) -> pd.Series:
    """The AWRA party as ``<name> → QBO <mapped id>`` for AWRA rows."""
    t = awra.transactions.iloc[rows].reset_index(drop=True)
    kind = t["entity"].map(F.PARTY_TYPE).astype("string")
    maps = awra.mappings[["mapping_type", "awra_id", "qbo_id"]].drop_duplicates(["mapping_type", "awra_id"])
    merged = pd.DataFrame({"t": kind, "p": t["party_id"], "n": t["party_name"]}).merge(
        maps, how="left", left_on=["t", "p"], right_on=["mapping_type", "awra_id"]
    )
    text = [
        f"{n if isinstance(n, str) else p} → QBO {m}"
        for n, p, m in zip(
            merged["n"].astype(object), merged["p"].astype(object), merged["qbo_id"].astype(object), strict=True
        )
    ]
    return pd.Series(pd.array(text, dtype="string"))


def _party_qbo(qbo: QboData, rows: np.ndarray) -> pd.Series:
    """The QBO party as ``<name> (<id>)`` for QBO rows."""
    t = qbo.transactions.iloc[rows]
    text = [
        f"{n} ({p})" if isinstance(n, str) else str(p)
        for n, p in zip(t["party_name"].astype(object), t["party_id"].astype(object), strict=True)
    ]
    return pd.Series(pd.array(text, dtype="string"))


def _text(value: object) -> str:
    return "" if value is None or value is pd.NA else str(value)


class _ForcedWords:
    """Wording for pairs raised only because they move the totals (not compared)."""

    def __init__(self, awra: AwraData, qbo: QboData, params: RunParams):
        self.a_counts = awra_in_total(awra.transactions, params)
        self.a_void = void_flags(awra.transactions)
        self.q_void = void_flags(qbo.transactions)
        self.a_status = awra.transactions["status"]
        self.status = params.status

    def __call__(self, field: str, ar: int, qr: int, cause: str, action: str) -> tuple[str, str]:
        side = "AWRA" if self.a_counts[ar] else "QBO"
        other = "QBO" if side == "AWRA" else "AWRA"
        if field == "status" and self.a_void[ar] != self.q_void[qr]:
            return f"voided in {'AWRA' if self.a_void[ar] else 'QBO'} only", action
        if field == "txn_date":
            return f"the date differs: the {other} twin lies outside the run's window, so only {side} counts it", action
        q_state = "void" if self.q_void[qr] else "live"
        return (
            f"status differs for the run's filter ({self.status}): only {side} counts it "
            f"(AWRA {_text(self.a_status.iat[ar]) or 'unknown'}, QBO {q_state})",
            f"bring the status in line on both sides (the run compares {self.status} records)",
        )
